import { spawnSync } from "node:child_process"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { Writable } from "node:stream"
import { type Logger, pino } from "pino"
import { type Address, type Hex, type PublicClient, isAddressEqual, zeroAddress } from "viem"
import { checkRebalanceRules, collateralValue, minAmountOut, stopStateOf } from "@levpilot/sdk/rules"
import type { AaveSubAccountLimits } from "./aaveLimits.js"
import { KeeperEvents, type KeeperEvent } from "./events.js"
import { InclusionTracker } from "./inclusion.js"
import { type InclusionLookup, type UserOperationEventLog, chainInclusionLookup } from "./inclusionLookup.js"
import { KeeperMetrics } from "./metrics.js"
import { SafeStep, keeperCosts } from "./safeStep.js"
import { clampPlanToChainBounds } from "./chainBounds.js"
import { FleetStep, type StepItem, batchInclusionLookup } from "./fleet/step.js"
import { MemoryFleetStore } from "./fleet/store.js"
import type { PendingStore } from "./store.js"
import { KeeperStateStore, type StateFileLock, lockPath } from "./stateFile.js"
import { portfolioOf } from "./portfolio.js"
import { type SafeRuntime, newSafeRuntime } from "./runtime.js"
import { RebalanceSender } from "./sender.js"
import type { PendingOperation } from "./stateFile.js"
import { defaultVolatilitySettings } from "./volatility.js"
import { VolatilityFeed } from "./volatilityFeed.js"
import { WAD } from "@levpilot/sdk/constants"
import { ValueLossExceededError } from "@levpilot/sdk/errors"
import type { RulePolicy } from "@levpilot/sdk/rules"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"

// The clamp tests' shared fixture (chainBounds.{flows,aave,flash,settle,property}.test.ts): placeholder addresses, one
// route, the policy every case is judged under. Test-only (excluded from the package build).

/** The loan token every sub-account of a fixture shares. */
export const LOAN: Address = "0x00000000000000000000000000000000000000b1"
export const ADAPTER: Address = "0x00000000000000000000000000000000000000ad"
export const SWAP_ADAPTER: Address = "0x00000000000000000000000000000000000000a5"
/** An encoded Uniswap v3 route of fee tier 500 (the last 3 bytes). */
export const ROUTE = `0x${"0".repeat(61)}1f4` as const
export const ZERO: Address = "0x0000000000000000000000000000000000000000"
/** An ERC-4626 pool holding the loan token. */
export const POOL: Address = "0x00000000000000000000000000000000000000f1"
/** The policy's `maxSlippageBps`. */
export const SLIP = 50
/** LLTV 0.8 (WAD). */
export const LLTV = (8n * WAD) / 10n
/** A health factor as WAD, to 6 decimals (`h(1.3)` = 1.3e18). */
export const h = (x: number) => BigInt(Math.round(x * 1e6)) * 10n ** 12n

/**
 * The rule-book policy of every clamp fixture: band [1.1, 1.5], target 1.3, maxLossBps and maxEpochLossBps 300,
 * `SLIP` slippage, boost allowed, no amount caps, no cooldown.
 *
 * @param pools - The allowed ERC-4626 pools.
 */
/**
 * The sub-accounts (lower case) the Safe's alone table holds refused alone by the chain or the rule book (its
 * `chain-rule` entries: the remembered culprits left out of the plans up front), in the table's order.
 */
export function chainRuleRefused(rt: SafeRuntime): string[] {
  return [...(rt.aloneFacts?.facts ?? [])].flatMap(([id, f]) => (f.cause === "chain-rule" ? [id] : []))
}

export function policy(pools: readonly Address[]): RulePolicy {
  return {
    adapter: ADAPTER, minHealth: h(1.1), cooldown: 0, market: `0x${"00".repeat(32)}`, priceFeed: ZERO, targetHealth: h(1.3), epochLength: 86_400,
    maxHealth: h(1.5), maxGasPerEpoch: 10n ** 12n, maxOracleAge: 3_600, maxLossBps: 300, maxEpochLossBps: 300, maxRebalancesPerEpoch: 100,
    maxOracleDeviationBps: 100, boostAllowed: true, maxSlippageBps: SLIP, maxAmountPerRebalance: 2n ** 200n, maxAmountPerEpoch: 2n ** 200n,
    minFeedAnswer: 0n, maxFeedAnswer: 0n, pools,
  }
}

/**
 * A flash deleverage block on sub-account index `subAccount`: repay `repaid` inside the callback, withdraw `sold`
 * collateral, sell it on `ROUTE`, end the callback (the sale's output settles the repayment).
 *
 * @param subAccount - The plan's sub-account index.
 * @param repaid - Loan token repaid, base units.
 * @param sold - Collateral withdrawn and sold, base units.
 */
export function flashSale(subAccount: number, repaid: bigint, sold: bigint): ChainPlan["actions"] {
  return [
    { kind: "RepayWithCallback", subAccount, amount: repaid },
    { kind: "WithdrawCollateral", subAccount, amount: sold },
    { kind: "SellCollateral", subAccount, route: ROUTE, amount: sold },
    { kind: "EndCallback", subAccount, amount: 0n },
  ]
}

/**
 * A clamp fixture's sub-account: its id, collateral token, amounts (base units), whether it is due, its allowed pools
 * (none when unset), its price (1e36 scale; `PRICE` when unset) and (Aave) its maxRepayable.
 */
export type ClampSub = { id: Hex; coll: Address; collateral: bigint; debt: bigint; due: boolean; pools?: Address[] | undefined; price?: bigint; repayableDebt?: bigint | undefined }

/**
 * Clamp fixture sub-account number `n` (id and collateral token derived from it) holding `collateral` (base units, 18
 * decimals, at `PRICE`) with the debt for `health`; due when outside the band [1.1, 1.5].
 */
export function clampSub(n: number, collateral: bigint, health: number, pools: Address[] = []): ClampSub {
  const debt = (collateralValue(collateral, PRICE) * LLTV) / h(health)
  return { id: `0x${n.toString(16).padStart(2, "0").repeat(32)}`, coll: `0x${"c".repeat(38)}${n.toString(16).padStart(2, "0")}`, collateral, debt, due: health < 1.1 || health > 1.5, pools }
}

/**
 * The SDK rule book's result on `p` for the clamp fixtures: each listed sub-account under `policy(pools)` with fresh
 * epoch usage, the Safe's `balances`, its shares of each ERC-4626 pool (1:1 assets, loan token) and the swaps' outputs.
 *
 * @param swapOutputs - What the swap at each action index pays (base units).
 */
export function clampRules(p: ChainPlan, subs: readonly ClampSub[], balances: Record<string, bigint>, poolShares: Record<string, bigint>, swapOutputs: Record<number, bigint>) {
  const listed = p.subAccounts.map((id) => subs.find((x) => x.id === id) as ClampSub)
  return checkRebalanceRules({
    plan: p,
    subAccounts: listed.map((s) => ({
      id: s.id,
      policy: policy(s.pools ?? []),
      state: { loanToken: LOAN, collateralToken: s.coll, collateral: s.collateral, debt: s.debt, price: s.price ?? PRICE, lltv: LLTV, ...(s.repayableDebt === undefined ? {} : { repayableDebt: s.repayableDebt }) },
      usage: { epoch: 0, lastRebalance: 0, rebalances: 0, lossPpb: 0, gasUsed: 0, amountMoved: 0n },
    })),
    pools: Object.entries(poolShares).map(([pool, shares]) => ({ address: pool as Address, asset: LOAN, totalAssets: 10n ** 40n, totalSupply: 10n ** 40n, shares })),
    balances,
    swapAdapter: SWAP_ADAPTER,
    timestamp: 1_700_000_000n,
    gasUsed: 500_000n,
    outcome: { swapOutputs },
  })
}

/** What a sale of `x` collateral brings in the clamp fixtures: its on-chain minimum at `PRICE` plus 40 bps (loan token, base units). */
export const saleOut = (x: bigint) => (minAmountOut(BigInt(SLIP), PRICE, true, x) * 10_040n) / 10_000n

/**
 * `clampRules`' verdict on `p` ("ok" or "<error> <args>") at `PRICE`: each sale pays `saleOut`, each buy its on-chain
 * minimum. A due sub-account left outside its band is fine (a partial rescue).
 */
export function clampVerdict(p: ChainPlan, subs: ClampSub[], balances: Record<string, bigint>, poolShares: Record<string, bigint> = {}): string {
  const out: Record<number, bigint> = {}
  p.actions.forEach((a, k) => {
    if (a.kind === "SellCollateral") out[k] = saleOut(a.amount)
    if (a.kind === "BuyCollateral") out[k] = minAmountOut(BigInt(SLIP), PRICE, false, a.amount)
  })
  const r = clampRules(p, subs, balances, poolShares, out)
  if (r.ok || (["HealthOutOfBand", "HealthOutsideLandingZone"].includes(r.error.name) && subs.some((s) => s.due && s.id === r.error.args[0]))) return "ok"
  return `${r.error.name} ${r.error.args.join(" ")}`
}

/** Sub-account id: the byte `b` (two hex digits) 32 times. */
export const subId = (b: string) => `0x${b.repeat(32)}` as Hex
/** Sub-account id `n` (0-255): the byte `n` 32 times (`subIdOf(1)` = 0x0101…01). */
export const subIdOf = (n: number) => subId(n.toString(16).padStart(2, "0"))

/** The plan `out` as `Kind[0xab]=amount ...` (sub-accounts by their id's first byte), for a failing clamp case's message. */
export const showPlan = (out: ChainPlan | undefined) => out?.actions.map((a) => `${a.kind}[${out.subAccounts[a.subAccount]?.slice(0, 4)}]=${a.amount}`).join(" ")

/** The amount of the first Repay of sub-account `id` in `out` (loan base units), undefined when there is none. */
export const repayOf = (out: ChainPlan | undefined, id: Hex) => out?.actions.find((a) => a.kind === "Repay" && out.subAccounts[a.subAccount] === id)?.amount

/**
 * A due sub-account's clamp bounds on {@link LOAN}: `debt` (loan base units), 100,000 units (6 decimals) of
 * `collateralToken` at price 1e36 (1 collateral unit = 1 loan unit), `SLIP` slippage; `extra` adds or replaces fields.
 */
export const unitPriceBounds = (debt: bigint, collateralToken: string, extra: object = {}) => ({ debt, collateral: 100_000_000000n, loanToken: LOAN, collateralToken, price: 10n ** 36n, maxSlippageBps: SLIP, due: true, ...extra })

/**
 * The review rr11b B2 shape, reduced (6-decimal loan token, no swap): donor 0x02 (not due, its market lends
 * `borrowable`) borrows 10,000 for the due 0x01, which repays `repaid` (the borrow plus the idle part when folded); the
 * due 0x03 repays 8,000 from the Safe's balance `idle`. Returns the clamped plan.
 */
export function clampDonorCut({ repaid, idle, borrowable }: { repaid: bigint; idle: bigint; borrowable: bigint }): ChainPlan | undefined {
  return clampPlanToChainBounds(
    {
      subAccounts: [subId("01"), subId("02"), subId("03")],
      actions: [
        { kind: "Borrow", subAccount: 1, amount: 10_000_000000n },
        { kind: "Repay", subAccount: 0, amount: repaid },
        { kind: "Repay", subAccount: 2, amount: 8_000_000000n },
      ],
    },
    {
      balances: { [LOAN]: idle },
      maxWithdraw: {},
      poolAsset: {},
      subAccounts: {
        [subId("01")]: unitPriceBounds(70_000_000000n, "0xcccccccccccccccccccccccccccccccccccccc01"),
        [subId("02")]: { ...unitPriceBounds(10_000_000000n, "0xcccccccccccccccccccccccccccccccccccccc02", { borrowable }), due: false },
        [subId("03")]: unitPriceBounds(70_000_000000n, "0xcccccccccccccccccccccccccccccccccccccc03"),
      },
    },
  ).plan
}

/** A plan's actions as `Kind=amount` strings. */
export const amounts = (p: ChainPlan | undefined) => p?.actions.map((a) => `${a.kind}=${a.amount}`)

// The keeper-step fixture (urgentFirst.test.ts, degradedReads.test.ts): a dry-run SafeStep over a Safe state built
// from sub-accounts on one or two loan assets, with placeholder addresses.

/** The keeper's risk settings of a step fixture (autopilot). */
export const STEP_RISK = { tolerance: 0.01, horizon: 86_400, sigma: 0.8, mode: "autopilot" as const, volatility: defaultVolatilitySettings }
export const SAFE = "0x0000000000000000000000000000000000005afe"
/** The step fixture's module address (`config.deployment.leverageModule`): keeper-wide alerts are raised on it. */
export const STEP_MODULE: Address = "0x00000000000000000000000000000000000000aa"
export const USDC = "0x00000000000000000000000000000000000000b1"
export const DAI = "0x00000000000000000000000000000000000000b2"
export const WETH = "0x00000000000000000000000000000000000000c1"
export const WBTC = "0x00000000000000000000000000000000000000c2"
export const PARK = "0x00000000000000000000000000000000000000f1"
export const PRICE = 3_000n * 10n ** 36n

/** A Morpho-like sub-account of the step fixture at `health` (WETH collateral at 3,000), its policy band [1.1, 1.5]. */
export function stepSub(id: Hex, loanToken: string, health: number, band: "below" | "above" | "inside", pools: string[] = []) {
  const collateral = 100n * 10n ** 18n
  const debt = (collateralValue(collateral, PRICE) * LLTV) / h(health)
  return {
    subAccount: id, loanToken, collateralToken: WETH, collateral, debt, lltv: LLTV, price: PRICE, band,
    policy: {
      adapter: ADAPTER, priceFeed: "0x0000000000000000000000000000000000000000", minHealth: h(1.1), targetHealth: h(1.3), maxHealth: h(1.5), maxAmountPerRebalance: 2n ** 200n, maxAmountPerEpoch: 2n ** 200n,
      epochLength: 86_400, maxRebalancesPerEpoch: 100, maxGasPerEpoch: 10n ** 12n, cooldown: 0, maxLossBps: 300, maxEpochLossBps: 300, boostAllowed: true, maxSlippageBps: 0,
      maxOracleAge: 3_600, maxOracleDeviationBps: 100, minFeedAnswer: 0n, maxFeedAnswer: 0n, pools, market: `0x${"00".repeat(32)}`,
    },
    epochUsage: { lastRebalance: 0, epoch: 0, lossPpb: 0, amountMoved: 0n, rebalances: 0, gasUsed: 0 },
  }
}

/** A Morpho-like sub-account of the fleet fixtures (LOAN debt, WETH collateral at 3,000) at `health`, its policy band
 * [1.1, `maxHealth`] and its market id taken from `id` (fleet liquidity reads key on it). */
export function fleetSub(id: Hex, health: number, band: "below" | "above" | "inside", maxHealth = 1.5) {
  const collateral = 100n * 10n ** 18n
  const debt = (collateralValue(collateral, PRICE) * LLTV) / h(health)
  return {
    subAccount: id, loanToken: LOAN, collateralToken: WETH, collateral, debt, lltv: LLTV, price: PRICE, band,
    policy: {
      adapter: ADAPTER, priceFeed: "0x0000000000000000000000000000000000000000", minHealth: h(1.1), targetHealth: h(1.3), maxHealth: h(maxHealth), maxAmountPerRebalance: 2n ** 200n, maxAmountPerEpoch: 2n ** 200n,
      epochLength: 86_400, maxRebalancesPerEpoch: 100, maxGasPerEpoch: 10n ** 12n, cooldown: 0, maxLossBps: 300, maxEpochLossBps: 300, boostAllowed: true, maxSlippageBps: 0,
      maxOracleAge: 3_600, maxOracleDeviationBps: 100, minFeedAnswer: 0n, maxFeedAnswer: 0n, pools: [], market: `0x${id.slice(2, 66)}`,
    },
    epochUsage: { lastRebalance: 0, epoch: 0, lossPpb: 0, amountMoved: 0n, rebalances: 0, gasUsed: 0 },
  }
}

/** Runs a dry-run step fixture over `subs` for `n` blocks (100, 101, ..., 12 s apart, gas 1 gwei at 3,000): its events,
 * metrics, the sub-accounts of each plan (lowercase) and the kind of each alert. */
export async function runStepBlocks(subs: ReturnType<typeof stepSub>[], n: number) {
  const state = stepSafeState(subs)
  const { step, events, metrics } = stepHarness()
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  for (let b = 0; b < n; b++) {
    const snapshot = portfolioOf(state as never, { blockNumber: 100n + BigInt(b), timestamp: 1_700_000_000n + 12n * BigInt(b), risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
    await step.run(rt, 100n + BigInt(b), { snapshot })
  }
  const plans = events.flatMap((e) => (e.type === "plan" ? [e.plan.subAccounts.map((x) => x.toLowerCase())] : []))
  const alerts = events.flatMap((e) => (e.type === "alert" ? [e.kind] : []))
  return { events, metrics, plans, alerts }
}

/** A dry-run SafeStep with its collected events; `logger` silent unless given; with `sender`, a sending step (not a dry run) over that sender. */
export function stepHarness(
  logger: Logger = pino({ level: "silent" }, new Writable({ write: (_c, _e, done) => done() })),
  {
    sender,
    paymasterToken,
    store,
    tracker,
    publicClient,
    aave,
    snapshots,
  }: {
    sender?: unknown
    /** When given, the config names a token paymaster (`paymasterContext.token`). */
    paymasterToken?: Hex
    /** The pending store (none pending by default). */
    store?: { pending: (safe: Address) => unknown; setPending: (safe: Address, pending: PendingOperation | undefined) => unknown }
    /** The inclusion tracker (`track`), none by default. */
    tracker?: unknown
    /** The public client (`readContract` for the EntryPoint's `getNonce`), none by default. */
    publicClient?: unknown
    /** The deployment's adapter `ADAPTER` is the Aave v3 one (sub-accounts are `aave-v3`), not Morpho Blue's. */
    aave?: boolean
    /** The keeper's state-file runs (`StateSnapshots`; the step's own by default). */
    snapshots?: unknown
  } = {},
) {
  const metrics = new KeeperMetrics()
  const events: KeeperEvent[] = []
  const keeperEvents = new KeeperEvents({ logger, metrics, onEvent: (e) => events.push(e) })
  const config = {
    deployment: { adapters: aave ? { morphoBlue: "0x00000000000000000000000000000000000000ae", aaveV3: ADAPTER } : { morphoBlue: ADAPTER }, entryPoint: "0x0000000071727De22E5E9d8BAf0edAc6f37da032", leverageModule: STEP_MODULE },
    swap: undefined,
    retry: { initialMs: 1, maxMs: 1 },
    paymasterContext: paymasterToken ? { token: paymasterToken } : undefined,
    costs: { gasPriceGwei: 1, nativePrice: 3000 },
  }
  const step = new SafeStep({
    config: config as never,
    clients: { publicClient: publicClient ?? {}, sponsoredBundler: paymasterToken ? {} : undefined } as never,
    store: (store ?? { pending: () => undefined, setPending: () => undefined }) as never,
    metrics,
    logger,
    events: keeperEvents,
    clock: { now: () => 1_700_000_000_000 } as never,
    tracker: (tracker ?? {}) as never,
    sender: (sender ?? {}) as never,
    volatility: new VolatilityFeed({ logger, metrics }),
    dryRun: sender === undefined,
    snapshots: snapshots as never,
  })
  return { step, events, metrics }
}

/** The step fixture's snapshot of `state` (lens shape) at block 100 + `k` (12 s apart from unix 1,700,000,000; gas 1
 * gwei, native token at 3,000). */
export function stepSnapshotAt(state: ReturnType<typeof stepSafeState>, k: number) {
  return portfolioOf(state as never, { blockNumber: 100n + BigInt(k), timestamp: 1_700_000_000n + 12n * BigInt(k), risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
}

/**
 * The refusal-isolation fixtures' sender (a sending step's `send`): records each plan it is given in `sent` as
 * `"<block> <ids>"` (each sub-account's first id byte, in plan order). A plan for which `refused(plan, block)` holds is
 * refused plan-wide with a loss-class `ValueLossExceededError` (`loss` and `moved` in loan-token WAD, 300 bps); any
 * other is recorded in `landed` the same way and its sub-accounts for which `rescued(id)` holds (lowercase; all by
 * default) join `gone`, the fixture's "back in band from the next block" set (`present` filters them out). A plan for
 * which `thrown(plan, block)` returns an error (a bundler's, a non-loss revert) is recorded in `sent` and fails with it,
 * before the refusal check. An estimate-only probe (`estimate`, as `RebalanceSender.estimate`) is recorded in
 * `estimated` only (at the block of the last send: a narrowing probes after the refused plan's send) and answered as a
 * send would be (`thrown`, then `refused`), else with an empty operation.
 */
export function refusingSender(
  refused: (plan: ChainPlan, block: bigint) => boolean,
  {
    loss = 2_000n * WAD,
    moved = 50_000n * WAD,
    rescued = () => true,
    thrown = () => undefined,
  }: { loss?: bigint; moved?: bigint; rescued?: (id: string) => boolean; thrown?: (plan: ChainPlan, block: bigint) => Error | undefined } = {},
) {
  const gone = new Set<string>()
  const sent: string[] = []
  const landed: string[] = []
  // Estimate-only probes (`RebalanceSender.estimate`): never sent, never landed; `thrown` and `refused` answer them as a send.
  const estimated: string[] = []
  let block = 0n
  const sender = {
    estimate: async (_rt: unknown, plan: ChainPlan) => {
      estimated.push(`${block} ${plan.subAccounts.map((id) => id.slice(2, 4)).join(",")}`)
      const error = thrown(plan, block)
      if (error) throw error
      if (refused(plan, block)) throw new ValueLossExceededError({ loss, moved, maxLossBps: 300n })
      return { userOperation: {}, bundlerEstimate: undefined }
    },
    send: async (_rt: unknown, b: bigint, plan: ChainPlan) => {
      block = b
      const ids = plan.subAccounts.map((id) => id.slice(2, 4)).join(",")
      sent.push(`${b} ${ids}`)
      const error = thrown(plan, b)
      if (error) throw error
      if (refused(plan, b)) throw new ValueLossExceededError({ loss, moved, maxLossBps: 300n })
      landed.push(`${b} ${ids}`)
      for (const id of plan.subAccounts) if (rescued(id.toLowerCase())) gone.add(id.toLowerCase())
    },
  }
  const present = <T extends { subAccount: string }>(subs: T[]) => subs.filter((s) => !gone.has(s.subAccount.toLowerCase()))
  return { sender, sent, landed, gone, present, estimated }
}

/**
 * The refusal-isolation pair fixture (reviews rr11o-rr11q): runs `n` steps (blocks 100, 101, ...; the backoff cleared
 * before each) of one Safe holding `c` (USDC, health 1.01, the most urgent) and `i` (USDC, health 1.02), both below
 * their band, less those `present` drops (e.g. `refusingSender`'s rescued ones), through `sender`. Returns the step's
 * events and its alerts as `"<block> <kind>[ C][ I]"` (which of the two ids the alert's message names).
 */
export async function runPairSteps(
  c: Hex,
  i: Hex,
  n: number,
  { sender, present = (subs) => subs }: { sender: unknown; present?: (subs: ReturnType<typeof stepSub>[]) => ReturnType<typeof stepSub>[] },
) {
  const { step, events } = stepHarness(undefined, { sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  for (let k = 0; k < n; k++) {
    rt.backoffUntil = 0
    await step.run(rt, 100n + BigInt(k), { snapshot: stepSnapshotAt(stepSafeState(present([stepSub(c, USDC, 1.01, "below"), stepSub(i, USDC, 1.02, "below")])), k) })
  }
  const alerts = events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}${e.message.includes(c) ? " C" : ""}${e.message.includes(i) ? " I" : ""}`] : []))
  return { events, alerts }
}

/**
 * The probe-failure fixture (reviews rr11q Q1, rr11r R1) on {@link runPairSteps}: `c` and `i` due, every plan holding
 * both refused plan-wide (loss class), `i`'s operations landing without effect (it stays due), and at block 100 only
 * the probe of `c` alone throwing `error()`; from 101 `c` alone is accepted. Runs `n` steps.
 *
 * @returns The sends and landings (`"<block> <id>"`), the alerts as runPairSteps gives them, and the block `c` first
 * landed in (undefined: never).
 */
export async function probeFailsOnceRun(c: Hex, i: Hex, n: number, error: () => Error) {
  const lc = c.toLowerCase()
  const li = i.toLowerCase()
  const base = refusingSender(
    (plan) => {
      const ids = plan.subAccounts.map((x) => x.toLowerCase())
      return ids.includes(lc) && ids.includes(li)
    },
    {
      rescued: (id) => id !== li,
      thrown: (plan, block) => (block === 100n && plan.subAccounts.length === 1 && plan.subAccounts[0]?.toLowerCase() === lc ? error() : undefined),
    },
  )
  const { alerts } = await runPairSteps(c, i, n, base)
  // refusingSender records a plan by its ids' first bytes: `c` alone is " <its first byte>".
  const cLanded = base.landed.find((s) => s.endsWith(` ${lc.slice(2, 4)}`))
  return { sent: base.sent, landed: base.landed, alerts, cLanded: cLanded === undefined ? undefined : Number(cLanded.split(" ")[0]) }
}

/** The step fixtures' persisted in-flight operation at `nonce` (EntryPoint nonce: key << 64 | sequence): first sent,
 * sponsored, at block 90 with 1-wei fees, one attempt. */
export function pendingSentAt90(nonce: bigint): PendingOperation {
  return { userOpHash: `0x${"ab".repeat(32)}`, nonce: nonce.toString(), sentBlock: "90", firstSentBlock: "90", sentAt: 0, maxFeePerGas: "1", maxPriorityFeePerGas: "1", sponsored: true, attempts: 1, triggerBlock: "90", triggerAt: 0 }
}

/** A Safe state (lens shape) holding `subAccounts`, idle USDC and DAI, and the empty USDC pool `PARK`. */
export function stepSafeState(subAccounts: ReturnType<typeof stepSub>[]) {
  return {
    safe: SAFE,
    tokens: [
      { token: USDC, decimals: 18, balance: 10n ** 24n },
      { token: DAI, decimals: 18, balance: 10n ** 24n },
      { token: WETH, decimals: 18, balance: 0n },
    ],
    pools: [{ pool: PARK, asset: USDC, assets: 0n, maxWithdraw: 0n }],
    unreadable: [],
    subAccounts,
  }
}

/**
 * A RebalanceSender over placeholder clients (sponsored bundler configured, no self-pay) for tests that mock the SDK's
 * `sendRebalance`: `setPending` is the store's write, `nonces` the chain nonces `getNonce` answers in turn (then the last).
 */
export function senderHarness({
  setPending,
  nonces,
  caps = { maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 10n ** 9n },
  market = () => ({ maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 10n ** 9n }),
  head,
}: {
  setPending: (safe: Address, pending: PendingOperation | undefined) => Promise<void>
  nonces: bigint[]
  /** The Safe's fee caps the module answers (wei per gas). */
  caps?: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }
  /** The bundler's fees at each send (wei per gas). */
  market?: () => { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }
  /** The block number the node's calls run under, at each probe (none: the client has no `request`). */
  head?: () => bigint
}) {
  const logger = pino({ level: "silent" }, new Writable({ write: (_c, _e, done) => done() }))
  const metrics = new KeeperMetrics()
  const events: KeeperEvent[] = []
  const keeperEvents = new KeeperEvents({ logger, metrics, onEvent: (e) => events.push(e) })
  const rt = newSafeRuntime({ address: SAFE } as never)
  const last = nonces.at(-1)
  rt.account = { getNonce: async () => (nonces.length > 1 ? nonces.shift() : last) } as never
  const sender = new RebalanceSender({
    config: { deployment: { leverageModule: "0x00000000000000000000000000000000000000aa" }, feeBumpPercent: 20, allowSelfPay: false, paymasterContext: undefined, retry: { baseMs: 1, maxMs: 1 } } as never,
    clients: {
      publicClient: {
        readContract: async () => caps,
        // The block number calls run under (callBlockNumber's eth_call probe).
        ...(head ? { request: async ({ method }: { method: string }) => (method === "eth_call" ? `0x${head().toString(16).padStart(64, "0")}` : undefined) } : {}),
      },
      estimateFees: async () => market(),
      sponsoredBundler: {},
      bundler: {},
      deployments: {},
    } as never,
    keeper: {} as never,
    store: { pending: () => undefined, setPending },
    metrics,
    logger,
    events: keeperEvents,
    clock: { now: () => 0 } as never,
  })
  return { sender, rt, events, metrics, keeperEvents, logger }
}

// The Aave `portfolioOf` fixture (chainBounds.aave.test.ts, aaveCollateralHeld.test.ts): one Aave sub-account of 100
// collateral (18 decimals, at `PRICE`) at health 1.05, below its band, with 1e24 loan and 1e22 collateral token idle.

/** The fixture's Aave sub-account: id, collateral token, collateral and debt (base units). */
export const AAVE_SUB = (() => {
  const collateral = 100n * 10n ** 18n
  return { id: `0x${"a7".repeat(32)}` as Hex, coll: "0x00000000000000000000000000000000000000c7" as Address, collateral, debt: (collateralValue(collateral, PRICE) * LLTV) / h(1.05) }
})()

/** A reserve's limits with nothing binding (1e30 borrowable, withdrawable, flashable; no cap, no repay limit). */
export const OPEN_AAVE_RESERVE = { borrowable: 10n ** 30n, suppliable: undefined, withdrawable: 10n ** 30n, repayable: undefined, flashable: 10n ** 30n }

/** The keeper's snapshot (`portfolioOf`, the fleet path) of the fixture's Safe with `limits` read for `AAVE_SUB`. */
export function aaveSnapshotOf(limits: AaveSubAccountLimits) {
  const { id, coll, collateral, debt } = AAVE_SUB
  const state = {
    safe: SAFE,
    tokens: [{ token: LOAN, decimals: 18, balance: 10n ** 24n }, { token: coll, decimals: 18, balance: 10n ** 22n }],
    pools: [],
    unreadable: [],
    subAccounts: [
      {
        subAccount: id, loanToken: LOAN, collateralToken: coll, collateral, debt, lltv: LLTV, price: PRICE, band: "below",
        policy: { adapter: ADAPTER, minHealth: h(1.1), targetHealth: h(1.3), maxHealth: h(1.5), maxAmountPerRebalance: 2n ** 200n, maxAmountPerEpoch: 2n ** 200n, epochLength: 86_400, maxRebalancesPerEpoch: 100, maxGasPerEpoch: 10n ** 12n, cooldown: 0, maxLossBps: 300, maxEpochLossBps: 300, boostAllowed: true, maxSlippageBps: 0, pools: [], market: `0x${"00".repeat(32)}` },
        epochUsage: { lastRebalance: 0, epoch: 0, lossPpb: 0, amountMoved: 0n, rebalances: 0, gasUsed: 0 },
      },
    ],
  }
  return portfolioOf(state as never, { blockNumber: 1n, timestamp: 1_700_000_000n, risk: { tolerance: 0.01, horizon: 3600, sigma: 0.5, mode: "autopilot" } as never, costs: {} as never, aaveLimits: { [id]: limits } })
}

/**
 * A {@link FleetStep} on a store in memory whose chain answers only the module's fee caps (`getAutomationConfig`:
 * maxFeePerGas 100 gwei, priority 1 gwei); every other read fails, as the fleet tests want (sends are mocked). `config`
 * is merged over a fleet keeper config with no Safes, no swap, no self-pay, `costs` at 1 gwei.
 */
export function fleetStepHarness(options: {
  config: Record<string, unknown>
  metrics: KeeperMetrics
  logger: Logger
  events: KeeperEvents
  timestamp: bigint
}): { step: FleetStep; store: MemoryFleetStore } {
  const file = new KeeperStateStore(undefined)
  file.bind({ chainId: 31_337, entryPoint: "0x0000000071727De22E5E9d8BAf0edAc6f37da032", module: "0x00000000000000000000000000000000000000aa", keeper: "0x00000000000000000000000000000000000000ee" })
  const store = new MemoryFleetStore(file)
  const config = {
    swap: undefined,
    risk: STEP_RISK,
    safes: [],
    fleet: { sendConcurrency: 1 },
    retry: { initialMs: 1, maxMs: 1 },
    feeBumpPercent: 20,
    allowSelfPay: false,
    paymasterPriceMarginBps: 0,
    logWindowBlocks: 1_000,
    ...options.config,
  }
  const step = new FleetStep({
    config: config as never,
    clients: {
      publicClient: {
        readContract: async ({ functionName }: { functionName: string }) => {
          if (functionName === "getAutomationConfig") return { maxFeePerGas: 10n ** 11n, maxPriorityFeePerGas: 10n ** 9n }
          throw new Error(`no ${functionName} in this test`)
        },
        multicall: async () => {
          throw new Error("no multicall in this test")
        },
        chain: { id: 31_337 },
      },
      estimateFees: async () => ({ maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 10n ** 9n }),
      sponsoredBundler: {},
      bundler: {},
      deployments: {},
    } as never,
    store,
    keeper: {} as never,
    metrics: options.metrics,
    logger: options.logger,
    events: options.events,
    clock: { now: () => Number(options.timestamp) * 1_000 } as never,
    dryRun: false,
  })
  return { step, store }
}

// The fleet inclusion tests' shared harness (fleet/inclusionLate.test.ts, fleet/inclusionHeadLag.rr11e.test.ts): one
// Safe's pending record, a node answering `eth_getLogs` by range and sender, and the tracker judging it at a fleet step.

/** The EntryPoint v0.7 address the inclusion harness searches logs of. */
export const INCLUSION_ENTRY_POINT: Address = "0x0000000071727De22E5E9d8BAf0edAc6f37da032"
/** The pending operation's nonce: key 7, sequence 3 (key << 64 | sequence). */
export const INCLUSION_NONCE = (7n << 64n) | 3n
/** The pending operation's userOpHash. */
export const INCLUSION_HASH = `0x${"ab".repeat(32)}` as Hex

/** A node at `head` holding `events` (each at its block), answering `eth_getLogs` by range and sender; `asked` lists the ranges read. */
export function inclusionNode(head: bigint, events: UserOperationEventLog[]) {
  const asked: [bigint, bigint][] = []
  const client = {
    getBlockNumber: async () => head,
    getLogs: async ({ fromBlock, toBlock, args }: { fromBlock: bigint; toBlock: bigint; args: { sender: Address } }) => {
      asked.push([fromBlock, toBlock])
      return events.filter((e) => e.blockNumber !== null && e.blockNumber >= fromBlock && e.blockNumber <= toBlock && e.args.sender !== undefined && isAddressEqual(e.args.sender, args.sender))
    },
    getTransactionReceipt: async () => ({ logs: [] }),
  } as unknown as PublicClient
  return { client, asked }
}

/** The Safe's UserOperationEvent (nonce {@link INCLUSION_NONCE}) landed at `block`, `success` or reverted. */
export const landedUserOp = (block: bigint, success = true): UserOperationEventLog => ({
  blockNumber: block,
  transactionHash: `0x${"cd".repeat(32)}`,
  args: { userOpHash: INCLUSION_HASH, sender: SAFE, paymaster: ZERO, nonce: INCLUSION_NONCE, success, actualGasCost: 1n, actualGasUsed: 2n },
})

/** A pending record of nonce {@link INCLUSION_NONCE}, first sent at `firstSentBlock`, last (re)sent at `sentBlock` (2 attempts). */
export const resentRecord = (firstSentBlock: bigint, sentBlock: bigint): PendingOperation => ({
  userOpHash: undefined,
  nonce: INCLUSION_NONCE.toString(),
  sentBlock: sentBlock.toString(),
  firstSentBlock: firstSentBlock.toString(),
  sentAt: 0,
  maxFeePerGas: "1",
  maxPriorityFeePerGas: "1",
  sponsored: true,
  attempts: 2,
  triggerBlock: firstSentBlock.toString(),
  triggerAt: 0,
})

/**
 * An {@link InclusionTracker} of the unit tests: resubmit after 10 blocks, stall after 30, log windows of 1,000 blocks, a
 * stub client (no receipt logs), a silent logger and a fixed clock; its events go to `onEvent`; `lookup` replaces the
 * chain's (nonce and UserOperationEvent reads).
 */
export function testTracker({ store, lookup, onEvent }: { store: PendingStore; lookup?: InclusionLookup | undefined; onEvent?: ((e: KeeperEvent) => void) | undefined }) {
  const logger = pino({ level: "silent" }, new Writable({ write: (_c, _e, done) => done() }))
  const metrics = new KeeperMetrics()
  const events = new KeeperEvents({ logger, metrics, onEvent })
  const tracker = new InclusionTracker({
    config: { deployment: { entryPoint: INCLUSION_ENTRY_POINT } as never, resubmitAfterBlocks: 10, stallAfterBlocks: 30, logWindowBlocks: 1_000 },
    publicClient: { getTransactionReceipt: async () => ({ logs: [] }) } as never,
    store,
    metrics,
    logger,
    events,
    clock: { now: () => 1_700_000_000_000 } as never,
    lookup,
  })
  return { tracker, metrics, events, logger }
}

/**
 * Runs an {@link InclusionTracker} alone (resubmit after 10 blocks, stall after 30; no logs read) over `n` inclusions,
 * one per block from 100: inclusion k's record is `record(k, block)`, found landed at its block (reverted when
 * `reverts(k)`) with the nonce used. Each track must answer `included`.
 *
 * @returns The blocks of the `reverted` alerts, and the Safe's runtime (its `reverted` runs).
 */
export async function trackLandedRecords(n: number, record: (k: number, block: bigint) => PendingOperation, reverts: (k: number) => boolean) {
  const events: KeeperEvent[] = []
  let pending: PendingOperation | undefined
  const store = { pending: async () => pending, setPending: async (_s: Address, p: PendingOperation | undefined) => void (pending = p) }
  const { tracker } = testTracker({ store, onEvent: (e) => events.push(e) })
  const rt = newSafeRuntime({ address: SAFE } as never)
  for (let k = 0; k < n; k++) {
    const b = 100n + BigInt(k)
    pending = record(k, b)
    const lookup = { findEvent: async () => landedUserOp(b, !reverts(k)), chainNonce: async () => INCLUSION_NONCE + 1n } as unknown as InclusionLookup
    const answer = await tracker.track(rt, pending, b + 1n, lookup)
    if (answer !== "included") throw new Error(`inclusion ${k}: tracked ${answer}, not included`)
  }
  return { alerted: events.flatMap((e) => (e.type === "alert" && e.kind === "reverted" ? [Number(e.block)] : [])), rt }
}

/** The `included` events among `events`. */
export const includedEvents = (events: KeeperEvent[]) => events.filter((e) => e.type === "included")

/**
 * An {@link InclusionTracker} (resubmit after 10 blocks, stall after 30) holding `record`, on an {@link inclusionNode} at
 * `head` with `events`, searching in windows of `windowBlocks` (2,000 by default; at most 25 windows a step). Returns
 * `step(block, userOps?)` (one fleet step at `block`: the lens read there shows the nonce used, with the block's own
 * UserOperationEvents of the Safe), the keeper events, the ranges read, and the record now pending.
 */
export function fleetInclusionHarness(record: PendingOperation, { head, events: chain, windowBlocks = 2_000 }: { head: bigint; events: UserOperationEventLog[]; windowBlocks?: number }) {
  const logger = pino({ level: "silent" }, new Writable({ write: (_c, _e, done) => done() }))
  const metrics = new KeeperMetrics()
  const events: KeeperEvent[] = []
  const keeperEvents = new KeeperEvents({ logger, metrics, onEvent: (e) => events.push(e) })
  let pending: PendingOperation | undefined = record
  const store = { pending: async () => pending, setPending: async (_safe: Address, p: PendingOperation | undefined) => void (pending = p) }
  const { client, asked } = inclusionNode(head, chain)
  const tracker = new InclusionTracker({
    config: { deployment: { entryPoint: INCLUSION_ENTRY_POINT } as never, resubmitAfterBlocks: 10, stallAfterBlocks: 30, logWindowBlocks: windowBlocks },
    publicClient: client,
    store,
    metrics,
    logger,
    events: keeperEvents,
    clock: { now: () => 1_700_000_000_000 } as never,
  })
  const chainLookup = chainInclusionLookup(client, INCLUSION_ENTRY_POINT, { windowBlocks, maxWindows: 25 })
  const step = async (block: bigint, userOps: UserOperationEventLog[] = []) => {
    const item: StepItem = { safe: SAFE, block, timestamp: 0n, state: { keeperNonce: INCLUSION_NONCE + 1n } as never, userOps }
    const current = pending
    if (!current) throw new Error("no record")
    return tracker.track(newSafeRuntime({ address: SAFE } as never), current, block, batchInclusionLookup(item, chainLookup))
  }
  return { step, events, asked, pending: () => pending }
}

/**
 * A logger that keeps every line it writes (parsed JSON), metrics, and the keeper events it raises: the parts a test of
 * one step function (`clampForSend`) hands it and then reads back.
 *
 * @returns `lines` (the logger's lines), `logger`, `metrics`, `events` (each event raised) and `keeperEvents` (the
 *   KeeperEvents that raise into them).
 */
export function recordingKeeperParts() {
  const lines: Record<string, unknown>[] = []
  const logger = pino({ level: "info" }, new Writable({ write: (chunk, _, done) => (lines.push(JSON.parse(String(chunk))), done()) }))
  const metrics = new KeeperMetrics()
  const events: KeeperEvent[] = []
  return { lines, logger, metrics, events, keeperEvents: new KeeperEvents({ logger, metrics, onEvent: (e) => events.push(e) }) }
}

// The keeper judge's tests (ruleJudge.test.ts, ruleJudgeExitFee.rr11f, clampRepairGreedy.rr11f): one Morpho sub-account
// shape, 1 collateral at 3,000 (1e36 scale, 18/18 decimals), 2,000 debt, lltv 0.86: health 1.29, below the band
// [1.4, 1.6, 2.0] of `judgePolicy`.
export const JUDGE_COLLATERAL: Address = "0x00000000000000000000000000000000000000c1"
/** A lens policy for the judge's tests: band [1.4, 1.6, 2.0], `maxLossBps` (default 100), the given market and pools. */
export const judgePolicy = (market: Hex, pools: readonly string[], maxLossBps = 100) => ({
  adapter: "0x0000000000000000000000000000000000000001" as Address,
  market,
  priceFeed: "0x00000000000000000000000000000000000000f1" as Address,
  minHealth: (14n * WAD) / 10n,
  targetHealth: (16n * WAD) / 10n,
  maxHealth: 2n * WAD,
  cooldown: 0,
  epochLength: 86_400,
  maxGasPerEpoch: 10n ** 9n,
  maxOracleAge: 3_600,
  maxLossBps,
  maxEpochLossBps: 1_000,
  maxRebalancesPerEpoch: 10,
  maxOracleDeviationBps: 0,
  boostAllowed: false,
  maxSlippageBps: 0,
  maxAmountPerRebalance: 10n ** 30n,
  maxAmountPerEpoch: 10n ** 30n,
  minFeedAnswer: 0n,
  maxFeedAnswer: 0n,
  pools: [...pools],
})
/** The judge tests' market state: health 1.29 under `judgePolicy`'s band. */
export const judgeState = { loanToken: LOAN, collateralToken: JUDGE_COLLATERAL, collateral: WAD, debt: 2_000n * WAD, price: 3_000n * 10n ** 36n, lltv: (86n * WAD) / 100n }
/** Epoch usage with nothing used. */
export const unusedEpoch = { epoch: 0, lastRebalance: 0, rebalances: 0, lossPpb: 0, gasUsed: 0, amountMoved: 0n }
/** The rule book on a judge test's one sub-account (`id`, `policy` with no price feed, market `state`, epoch `usage`) and
 * one pool (`poolAddress`, its totals `pool`) with the given pool fee `feeBps` (basis points), over the plan `p`. */
export const judgeRuleBook =
  (f: { id: Hex; policy: object; state: object; usage: object; poolAddress: string; pool: object; balances: Record<string, bigint> }) => (p: ChainPlan, feeBps: bigint) =>
    checkRebalanceRules({
      plan: { subAccounts: p.subAccounts, actions: p.actions.map((a) => ({ kind: a.kind, subAccount: a.subAccount, pool: a.pool, amount: a.amount })) },
      subAccounts: [{ id: f.id, policy: { ...f.policy, priceFeed: zeroAddress } as never, state: f.state as never, usage: f.usage as never }],
      pools: [{ address: f.poolAddress, ...f.pool, feeBps } as never],
      balances: f.balances,
      swapAdapter: zeroAddress,
      timestamp: 1_700_000_000n,
      gasUsed: 0n,
    })

/**
 * Stop-loss boundary cases through the keeper's own snapshot (`portfolioOf` with the stop read): over 6/18, 18/18, 6/8
 * and 8/18 loan/collateral decimals, seeded stop prices of 100-60,100 loan per collateral at the venue's 1e36 scale (a
 * multiple of 100, so the re-arm bound `stop x 10,100 / 10,000` is exact), the sub-account's price at the re-arm bound,
 * the stop price, and one unit either side of each. Each case: the decimals, the stop and price (1e36-scaled), the chain's
 * verdict (`stopStateOf`: 0 armed, 1 held, else engaged), the snapshot's solver input and the sub-account's
 * `maxOracleDeviationBps` (reviews rr11zb B4, rr11zc C5).
 */
export function* stopBoundaryCases(n: number, seed: number) {
  let x = seed
  const rnd = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648)
  const id = `0x${"a1".repeat(32)}` as Hex
  const exitHealth = 2n * 10n ** 18n
  for (let i = 0; i < n; i++) {
    const [ld, cd] = [[6, 18], [18, 18], [6, 8], [8, 18]][i % 4] as [number, number]
    const human = 100 + rnd() * 60_000
    const stop = ((BigInt(Math.floor(human * 1e6)) * 10n ** BigInt(30 + ld - cd + 6)) / 10n ** 6n / 100n) * 100n
    const rearm = (stop * 10_100n) / 10_000n
    for (const price of [rearm - 1n, rearm, rearm + 1n, stop - 1n, stop, stop + 1n]) {
      const sub = { ...stepSub(id, USDC, 1.6, "above"), price }
      const state = stepSafeState([sub])
      state.tokens = [
        { token: USDC, decimals: ld, balance: 0n },
        { token: WETH, decimals: cd, balance: 0n },
      ]
      const snapshot = portfolioOf(state as never, { blockNumber: 100n, timestamp: 1_700_000_000n, risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never), stops: { [id.toLowerCase()]: { stopPrice: stop, exitHealth } } })
      const input = snapshot.input.subAccounts[0]
      if (input === undefined) throw new Error("the snapshot has no sub-account")
      const maxOracleDeviationBps = sub.policy.maxOracleDeviationBps
      yield { ld, cd, stop, price, exitHealth, maxOracleDeviationBps, chain: stopStateOf({ stopPrice: stop, exitHealth }, price, maxOracleDeviationBps), snapshot, input }
    }
  }
}

let reapedPid: number | undefined

/** The pid of a process of this host that has exited and been reaped (`process.kill(pid, 0)` answers ESRCH). */
export function deadPid(): number {
  if (reapedPid === undefined) {
    const { pid, status } = spawnSync(process.execPath, ["-e", ""])
    if (status !== 0 || pid === undefined) throw new Error(`deadPid: the child process failed (status ${String(status)})`)
    reapedPid = pid
  }
  return reapedPid
}

/**
 * Makes the state file's lock (`<path>.lock`, when present) what a keeper killed with SIGKILL leaves: its content names
 * a pid that no longer runs, so the next writing store takes it over (a restart within one test process, whose own
 * pid is alive). The killed store is not used afterwards.
 */
export function killWriter(path: string): void {
  const lock = lockPath(path)
  if (!existsSync(lock)) return
  const held = JSON.parse(readFileSync(lock, "utf8")) as StateFileLock
  writeFileSync(lock, `${JSON.stringify({ ...held, pid: deadPid() } satisfies StateFileLock)}\n`)
}
