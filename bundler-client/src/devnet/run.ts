import type { Address } from "viem"
import { Keeper, type KeeperEvent, type KeeperOptions } from "../keeper/keeper.js"
import { type DemoAsset, type DemoEnv, type DemoSafe, demoAssets } from "./env.js"
import { demoKeeperConfig } from "./keeperConfig.js"
import { type Liquidation, Liquidator, readMorphoPosition } from "./liquidator.js"
import { readMarketRate } from "./rates.js"
import { type DemoScenario, PriceDriver } from "./scenario.js"

const WAD = 1e18

/** One sub-account at one step. */
export type PositionSample = { health: number; leverage: number; collateral: number; debt: number; liquidated: boolean }

/** One market at one step: the AdaptiveCurveIrm's borrow APR (0.04 = 4%) and utilisation (0..1), interest accrued. */
export type MarketSample = { borrowApr: number; utilization: number }

/** One step of a demo run: prices set, then every position read after the keeper and liquidator had their turn. */
export type StepSample = {
  step: number
  block: number
  timeMs: number
  prices: Record<DemoAsset, number>
  positions: Record<DemoSafe["label"], Record<DemoAsset, PositionSample>>
  markets: Record<DemoAsset, MarketSample>
}

/** A rebalance as the table and the report show it. */
export type RebalanceRecord = {
  block: number
  step: number
  userOpHash: string
  success: boolean
  /** The decoded revert of a reverted rebalance, e.g. "NoTrigger()" when the price recovered before inclusion. */
  revert?: string | undefined
  gasUsed: number
  paymaster: string | undefined
  latencyBlocks: number
  latencyMs: number
  actions: string[]
}

export type DemoRun = {
  scenario: string
  steps: StepSample[]
  rebalances: RebalanceRecord[]
  liquidations: (Liquidation & { label: DemoSafe["label"]; step: number })[]
  alerts: Extract<KeeperEvent, { type: "alert" }>[]
  events: KeeperEvent[]
  /** Keeper operations sent (including resubmissions). */
  sent: number
  durationMs: number
  metricsText: string
}

export type RunDemoParameters = {
  env: DemoEnv
  scenario: DemoScenario
  /** Keeper configuration overrides (raw JSON fields). */
  keeperConfig?: Record<string, unknown> | undefined
  keeperOptions?: Omit<KeeperOptions, "onEvent" | "chain"> | undefined
  /** Called after every step (the live table). */
  onStep?: ((sample: StepSample, run: DemoRun) => void) | undefined
  onEvent?: ((event: KeeperEvent) => void) | undefined
  /** Called before step `i` is sent; fault tests stop and restart services (or the keeper) here. */
  beforeStep?: ((i: number, run: DemoRun, context: RunContext) => Promise<void>) | undefined
  /** Extra blocks to wait after the last step so the last operations can land. Default 3. */
  settleBlocks?: number | undefined
  /** Stop early (Ctrl-C). */
  signal?: AbortSignal | undefined
  /** Start the keeper (default true); fault tests may start their own with `context.newKeeper`. */
  startKeeper?: boolean | undefined
}

/** Handles fault tests get in `beforeStep`. */
export type RunContext = {
  /** A new keeper on this demo with the run's event recording (not started). */
  newKeeper: (overrides?: Record<string, unknown>) => Keeper
  /** The keeper the run started (undefined with `startKeeper: false`). */
  keeper: Keeper | undefined
}

/** Rejects as soon as `signal` aborts, so Ctrl-C does not wait on requests to processes already stopped. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error("aborted"))
    if (signal.aborted) return onAbort()
    signal.addEventListener("abort", onAbort, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort))
  })
}

async function samplePosition(env: DemoEnv, safe: DemoSafe, asset: DemoAsset): Promise<PositionSample> {
  const market = env.markets[asset]
  const p = await readMorphoPosition(env.publicClient, env.stack.morpho, market, safe.address)
  const collateralDecimals = asset === "WETH" ? 18 : 8
  const collateral = Number(p.collateral) / 10 ** collateralDecimals
  const debt = Number(p.debt) / 1e6
  const value = (Number(p.collateral) * Number(p.price)) / 1e36 / 1e6
  const health = p.debt === 0n ? Number.POSITIVE_INFINITY : Number(p.health) / WAD
  const leverage = value > 0 && value > debt ? value / (value - debt) : p.collateral === 0n ? 0 : Number.POSITIVE_INFINITY
  return { health, leverage, collateral, debt, liquidated: false }
}

/**
 * Replays a scenario on a demo environment: per step, the price driver sets the oracles (one block), the liquidator
 * scans both Safes, and every position is sampled; the keeper runs alongside on its own block loop, managing only
 * the managed Safe. Returns the time series and what the keeper and liquidator did.
 *
 * @returns The run record (for the summary, the report and the tests).
 */
export async function runDemo(parameters: RunDemoParameters): Promise<DemoRun> {
  const { env, scenario, onStep, beforeStep, settleBlocks = 3, signal } = parameters
  const started = Date.now()
  const run: DemoRun = { scenario: scenario.name, steps: [], rebalances: [], liquidations: [], alerts: [], events: [], sent: 0, durationMs: 0, metricsText: "" }
  let step = 0
  const sentPlans = new Map<string, string[]>()
  const onEvent = (event: KeeperEvent) => {
    if (event.type !== "observed") run.events.push(event)
    if (event.type === "sent") {
      run.sent += 1
      sentPlans.set(event.userOpHash, event.plan.actions.map((a) => `${a.kind} ${a.amount}`))
    }
    if (event.type === "alert") run.alerts.push(event)
    if (event.type === "included")
      run.rebalances.push({
        block: Number(event.block),
        step,
        userOpHash: event.userOpHash,
        success: event.success,
        gasUsed: Number(event.actualGasUsed),
        paymaster: event.paymaster,
        latencyBlocks: event.latencyBlocks,
        latencyMs: event.latencyMs,
        actions: sentPlans.get(event.userOpHash) ?? [],
        ...(event.revert ? { revert: event.revert } : {}),
      })
    parameters.onEvent?.(event)
  }
  const newKeeper = (overrides: Record<string, unknown> = {}) =>
    new Keeper(demoKeeperConfig(env, { ...parameters.keeperConfig, ...overrides }), { ...parameters.keeperOptions, chain: env.devnet.chain, onEvent })
  const keeper = parameters.startKeeper === false ? undefined : newKeeper()
  await keeper?.start()
  const context: RunContext = { newKeeper, keeper }
  const liquidator = new Liquidator(env, [env.managed.address, env.twin.address])
  const driver = new PriceDriver(env)
  const labelOf = (borrower: Address) => (borrower === env.managed.address ? "managed" : "twin") as DemoSafe["label"]
  const liquidated = new Set<string>()
  const sample = async (block: bigint, prices: Record<DemoAsset, number>) => {
    for (const l of await liquidator.scan()) {
      run.liquidations.push({ ...l, label: labelOf(l.borrower), step })
      liquidated.add(`${labelOf(l.borrower)}:${l.market}`)
    }
    const positions = {} as StepSample["positions"]
    for (const safe of [env.managed, env.twin]) {
      positions[safe.label] = {} as Record<DemoAsset, PositionSample>
      for (const asset of demoAssets) {
        const p = await samplePosition(env, safe, asset)
        p.liquidated = liquidated.has(`${safe.label}:${env.markets[asset].id}`)
        positions[safe.label][asset] = p
      }
    }
    const markets = {} as Record<DemoAsset, MarketSample>
    for (const asset of demoAssets) {
      const { borrowApr, utilization } = await readMarketRate(env.publicClient, env.stack.morpho, env.markets[asset])
      markets[asset] = { borrowApr, utilization }
    }
    const s: StepSample = { step, block: Number(block), timeMs: Date.now() - started, prices, positions, markets }
    run.steps.push(s)
    onStep?.(s, run)
  }
  try {
    for (const [i, prices] of scenario.steps.entries()) {
      if (signal?.aborted) break
      step = i
      try {
        await abortable(
          (async () => {
            await beforeStep?.(i, run, context)
            const block = await driver.set(prices)
            await sample(block, prices)
          })(),
          signal,
        )
      } catch (error) {
        if (signal?.aborted) break
        throw error
      }
    }
    const last = scenario.steps.at(-1)
    if (last && !signal?.aborted)
      await abortable(
        (async () => {
          const target = (await env.publicClient.getBlockNumber()) + BigInt(settleBlocks)
          while ((await env.publicClient.getBlockNumber()) < target) await new Promise((r) => setTimeout(r, 100))
          step = scenario.steps.length
          await sample(await env.publicClient.getBlockNumber(), last)
        })(),
        signal,
      ).catch((error: unknown) => {
        if (!signal?.aborted) throw error
      })
  } finally {
    await abortable(keeper?.stop() ?? Promise.resolve(), signal).catch(() => undefined)
    run.metricsText = keeper?.metrics.render() ?? ""
    run.durationMs = Date.now() - started
  }
  return run
}
