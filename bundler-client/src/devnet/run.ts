import { type Address, erc20Abi, erc4626Abi, formatUnits } from "viem"
import { Keeper, type KeeperEvent, type KeeperOptions } from "../keeper/keeper.js"
import { aaveV3AdapterAbi } from "@levpilot/devnet/aave"
import { type DemoAsset, type DemoEnv, type DemoPosition, type DemoPositionKey, type DemoSafe, demoAssets } from "./env.js"
import { demoKeeperConfig } from "./keeperConfig.js"
import { type Liquidation, Liquidator, readMorphoPosition } from "./liquidator.js"
import { readMarketRate } from "./rates.js"
import { type DemoScenario, PriceDriver } from "./scenario.js"

const WAD = 1e18

/**
 * One sub-account at one step. Health is the venue's own: Morpho Blue's collateral value x LLTV / debt, Aave's health
 * factor from `getUserAccountData` (the same number the module reads through the Aave adapter).
 */
export type PositionSample = { health: number; leverage: number; collateral: number; debt: number; liquidated: boolean }

/** One market at one step: the AdaptiveCurveIrm's borrow APR (0.04 = 4%) and utilisation (0..1), interest accrued. */
export type MarketSample = { borrowApr: number; utilization: number }

/**
 * A Safe's whole net value at one step in USDC, at the step's oracle prices: its Morpho positions (collateral value
 * minus debt), the assets behind its vault shares and its idle tokens. Amounts are in token units.
 */
export type NetValueSample = {
  /** Sum over its positions of collateral x price - debt. */
  positions: number
  /** Per vault (by share symbol, e.g. "yUSDC"): assets behind the Safe's shares (`convertToAssets`), their token and their USDC value. */
  pools: Record<string, { asset: string; amount: number; value: number }>
  /** Idle balances by token symbol (token units). */
  idle: Record<string, number>
  /** positions + pools + idle, USDC. */
  total: number
}

/** One step of a demo run: prices set, then every position read after the keeper and liquidator had their turn. */
export type StepSample = {
  step: number
  block: number
  timeMs: number
  prices: Record<DemoAsset, number>
  /** Per Safe, per demo sub-account ({@link DemoEnv.positions}: the Morpho markets by asset, and `Aave`). */
  positions: Record<DemoSafe["label"], Partial<Record<DemoPositionKey, PositionSample>>>
  markets: Record<DemoAsset, MarketSample>
  netValue: Record<DemoSafe["label"], NetValueSample>
}

/** A liquidation as the summary and report show it: the market's name and the amounts in token units. */
export type LiquidationRecord = Liquidation & {
  label: DemoSafe["label"]
  step: number
  /** The sub-account's name with its venue, e.g. "Morpho Blue WETH/USDC" or "Aave v3 WETH/USDC". */
  marketName: string
  venue: DemoPosition["venue"]
  /** Seized collateral, repaid debt and bad debt in token units, with their symbols. */
  seized: string
  repaid: string
  badDebtText: string
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
  /** The demo's sub-accounts (names, venues); the Morpho markets alone when undefined. */
  positions?: DemoPosition[] | undefined
  steps: StepSample[]
  rebalances: RebalanceRecord[]
  liquidations: LiquidationRecord[]
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

/** The demo's tokens: symbol, address, decimals. */
function demoTokens(env: DemoEnv): { symbol: string; address: Address; decimals: number }[] {
  return [
    { symbol: "USDC", address: env.stack.tokens.usdc, decimals: 6 },
    { symbol: "WETH", address: env.stack.tokens.weth, decimals: 18 },
    { symbol: "WBTC", address: env.stack.tokens.wbtc, decimals: 8 },
  ]
}

/** A token amount with thousands separators and its symbol, e.g. "1,234.56 USDC" or "5.1234 WETH". */
export function tokenAmount(amount: number, symbol: string): string {
  const digits = symbol === "USDC" ? 2 : 4
  return `${amount.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })} ${symbol}`
}

/**
 * Reads a Safe's whole net value: positions (from `positions`), vault shares and idle token balances, valued at the
 * step's prices.
 *
 * @returns {@link NetValueSample}
 */
export async function sampleNetValue(env: DemoEnv, safe: Address, positions: Partial<Record<DemoPositionKey, PositionSample>>, prices: Record<DemoAsset, number>): Promise<NetValueSample> {
  const tokens = demoTokens(env)
  const priceOf = (symbol: string): number => (symbol === "USDC" ? 1 : prices[symbol as DemoAsset])
  let positionsValue = 0
  for (const { key, asset } of env.positions) {
    const p = positions[key]
    if (p) positionsValue += p.collateral * prices[asset] - p.debt
  }
  const balances = await Promise.all(tokens.map((t) => env.publicClient.readContract({ address: t.address, abi: erc20Abi, functionName: "balanceOf", args: [safe] })))
  const idle: Record<string, number> = {}
  tokens.forEach((t, i) => (idle[t.symbol] = Number(formatUnits(balances[i] as bigint, t.decimals))))
  const vaults = [
    { symbol: "yUSDC", address: env.stack.vaults.usdc, asset: tokens[0] as (typeof tokens)[number] },
    { symbol: "yWETH", address: env.stack.vaults.weth, asset: tokens[1] as (typeof tokens)[number] },
  ]
  const pools: NetValueSample["pools"] = {}
  for (const v of vaults) {
    const shares = await env.publicClient.readContract({ address: v.address, abi: erc4626Abi, functionName: "balanceOf", args: [safe] })
    const assets = shares === 0n ? 0n : await env.publicClient.readContract({ address: v.address, abi: erc4626Abi, functionName: "convertToAssets", args: [shares] })
    const amount = Number(formatUnits(assets, v.asset.decimals))
    pools[v.symbol] = { asset: v.asset.symbol, amount, value: amount * priceOf(v.asset.symbol) }
  }
  const total = positionsValue + Object.values(pools).reduce((a, p) => a + p.value, 0) + Object.entries(idle).reduce((a, [symbol, amount]) => a + amount * priceOf(symbol), 0)
  return { positions: positionsValue, pools, idle, total }
}

async function samplePosition(env: DemoEnv, safe: DemoSafe, position: DemoPosition): Promise<PositionSample> {
  if (position.venue === "aave-v3") return sampleAavePosition(env, safe)
  const asset = position.asset
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
 * The Safe's Aave account in the WETH/USDC frame of the Aave adapter (`marketState`: collateral, debt, price), with
 * Aave's own health factor (`health` = `getUserAccountData().healthFactor`). Read through the view-only adapter, which
 * works for any account, so the unmanaged twin is read the same way.
 */
async function sampleAavePosition(env: DemoEnv, safe: DemoSafe): Promise<PositionSample> {
  const aave = env.aave as NonNullable<DemoEnv["aave"]>
  const market = aave.markets.wethUsdc
  const [state, health] = await Promise.all([
    env.publicClient.readContract({ address: aave.adapter, abi: aaveV3AdapterAbi, functionName: "marketState", args: [market, safe.address] }),
    env.publicClient.readContract({ address: aave.adapter, abi: aaveV3AdapterAbi, functionName: "health", args: [market, safe.address] }),
  ])
  const collateral = Number(state.collateral) / 1e18
  const debt = Number(state.debt) / 1e6
  const value = (Number(state.collateral) * Number(state.price)) / 1e36 / 1e6
  const leverage = value > 0 && value > debt ? value / (value - debt) : state.collateral === 0n ? 0 : Number.POSITIVE_INFINITY
  return { health: state.debt === 0n ? Number.POSITIVE_INFINITY : Number(health) / WAD, leverage, collateral, debt, liquidated: false }
}

/** The demo sub-account a sub-account id names (the ids are the same for both Safes). */
export function positionOf(env: DemoEnv, subAccount: string | undefined): DemoPosition | undefined {
  return env.positions.find((p) => env.managed.subAccounts[p.key]?.toLowerCase() === subAccount?.toLowerCase())
}

/**
 * "Repay 1,234.56 USDC on WETH/USDC": a plan action (base units on chain) in token units with its symbol and the market
 * it touches. Loan-side actions are in USDC, collateral actions in the market's collateral, pool actions in the
 * vault's asset.
 */
export function describeAction(env: DemoEnv, subAccount: string | undefined, action: { kind: string; pool?: string | undefined; amount: bigint }): string {
  const position = positionOf(env, subAccount)
  const market = position?.asset
  const tokens = demoTokens(env)
  const symbol =
    action.kind === "SupplyCollateral" || action.kind === "WithdrawCollateral" || action.kind === "SellCollateral" || action.kind === "SupplyCollateralWithCallback"
      ? (market ?? "WETH")
      : action.pool !== undefined && action.pool.toLowerCase() === env.stack.vaults.weth.toLowerCase()
        ? "WETH"
        : "USDC"
  const token = tokens.find((t) => t.symbol === symbol) as (typeof tokens)[number]
  return `${action.kind} ${tokenAmount(Number(formatUnits(action.amount, token.decimals)), symbol)}${position ? ` on ${position.name}` : ""}`
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
  const run: DemoRun = { scenario: scenario.name, positions: env.positions, steps: [], rebalances: [], liquidations: [], alerts: [], events: [], sent: 0, durationMs: 0, metricsText: "" }
  let step = 0
  const sentPlans = new Map<string, string[]>()
  const onEvent = (event: KeeperEvent) => {
    if (event.type !== "observed") run.events.push(event)
    if (event.type === "sent") {
      run.sent += 1
      sentPlans.set(event.userOpHash, event.plan.actions.map((a) => describeAction(env, event.plan.subAccounts[a.subAccount], a)))
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
      const position =
        env.aave && l.market === env.aave.markets.wethUsdc
          ? env.positions.find((p) => p.venue === "aave-v3")
          : env.positions.find((p) => p.venue === "morpho-blue" && env.markets[p.asset].id === l.market)
      const asset = position?.asset ?? demoAssets[0]
      const decimals = asset === "WETH" ? 18 : 8
      run.liquidations.push({
        ...l,
        label: labelOf(l.borrower),
        step,
        marketName: position?.name ?? `${asset}/USDC`,
        venue: position?.venue ?? "morpho-blue",
        seized: tokenAmount(Number(formatUnits(l.seizedCollateral, decimals)), asset),
        repaid: tokenAmount(Number(formatUnits(l.repaidDebt, 6)), "USDC"),
        badDebtText: tokenAmount(Number(formatUnits(l.badDebt, 6)), "USDC"),
      })
      liquidated.add(`${labelOf(l.borrower)}:${position?.key ?? asset}`)
    }
    const positions = {} as StepSample["positions"]
    for (const safe of [env.managed, env.twin]) {
      positions[safe.label] = {}
      for (const position of env.positions) {
        const p = await samplePosition(env, safe, position)
        p.liquidated = liquidated.has(`${safe.label}:${position.key}`)
        positions[safe.label][position.key] = p
      }
    }
    const markets = {} as Record<DemoAsset, MarketSample>
    for (const asset of demoAssets) {
      const { borrowApr, utilization } = await readMarketRate(env.publicClient, env.stack.morpho, env.markets[asset])
      markets[asset] = { borrowApr, utilization }
    }
    const netValue = {} as StepSample["netValue"]
    for (const safe of [env.managed, env.twin]) netValue[safe.label] = await sampleNetValue(env, safe.address, positions[safe.label], prices)
    const s: StepSample = { step, block: Number(block), timeMs: Date.now() - started, prices, positions, markets, netValue }
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
