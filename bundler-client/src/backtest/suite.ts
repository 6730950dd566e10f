import { DEFAULT_PATH, generatePath, scenarioSet } from "../prices/generator.js"
import type { PathParameters, ScenarioKind, ScenarioSpec } from "../prices/generator.js"
import type { PricePaths } from "../prices/csv.js"
import { runBacktest } from "./engine.js"
import type { CarryResult, StrategyResult } from "./engine.js"
import { resolveBacktestConfig } from "./config.js"
import type { BacktestConfig, StrategyName } from "./config.js"

/**
 * Aggregate of one strategy over several paths: counts, losses, rebalances, gas and carry are sums; equity, P&L,
 * exposure, span and mean leverage are means per path, APY the mean over the paths that have one (null if none); median leverage is the median of the per-path medians, p95 the 95th
 * percentile of the per-path p95s; `minHealth` is the minimum.
 */
export type StrategyTotals = StrategyResult & {
  /** Paths aggregated. */
  paths: number
  /** Paths with at least one liquidation. */
  liquidatedPaths: number
}

function pick(sorted: number[], q: number): number {
  return sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1)))] as number)
}

/**
 * Fold per-path results into totals.
 *
 * @param strategy - Strategy name.
 * @param results - Per-path results of that strategy.
 * @returns The totals ({@link StrategyTotals}).
 */
export function aggregate(strategy: StrategyName, results: readonly StrategyResult[]): StrategyTotals {
  const carry: CarryResult = { interest: 0, poolYield: 0, collateralYield: 0, swapFees: 0, swapImpact: 0, serviceFees: 0, automationFees: 0, poolFees: 0 }
  const t: StrategyTotals = {
    strategy,
    paths: results.length,
    liquidatedPaths: 0,
    liquidations: 0,
    liquidationLoss: 0,
    liquidationLossLikeForLike: 0,
    liquidationPenalty: 0,
    leverage: { mean: 0, median: 0, p95: 0 },
    exposure: 0,
    minHealth: Number.POSITIVE_INFINITY,
    rebalances: 0,
    swaps: 0,
    rejectedRebalances: 0,
    stopLossTrips: 0,
    gasUsed: 0,
    gasCost: 0,
    carry,
    initialEquity: 0,
    finalEquity: 0,
    netPnl: 0,
    apy: null,
    spanSeconds: 0,
  }
  let apySum = 0
  let apyPaths = 0
  for (const r of results) {
    t.liquidations += r.liquidations
    if (r.liquidations > 0) t.liquidatedPaths++
    t.liquidationLoss += r.liquidationLoss
    t.liquidationLossLikeForLike += r.liquidationLossLikeForLike
    t.liquidationPenalty += r.liquidationPenalty
    t.leverage.mean += r.leverage.mean
    t.exposure += r.exposure
    t.minHealth = Math.min(t.minHealth, r.minHealth)
    t.rebalances += r.rebalances
    t.swaps += r.swaps
    t.rejectedRebalances += r.rejectedRebalances
    t.stopLossTrips += r.stopLossTrips
    t.gasUsed += r.gasUsed
    t.gasCost += r.gasCost
    for (const k of Object.keys(carry) as (keyof CarryResult)[]) carry[k] += r.carry[k]
    t.initialEquity += r.initialEquity
    t.finalEquity += r.finalEquity
    t.netPnl += r.netPnl
    t.spanSeconds += r.spanSeconds
    if (r.apy !== null) {
      apySum += r.apy
      apyPaths++
    }
  }
  const n = results.length
  if (n > 0) {
    t.leverage.mean /= n
    t.exposure /= n
    t.initialEquity /= n
    t.finalEquity /= n
    t.netPnl /= n
    t.spanSeconds /= n
    // The mean over the paths that have an APY (each at least a day long); null when none has.
    t.apy = apyPaths > 0 ? apySum / apyPaths : null
    t.leverage.median = pick(results.map((r) => r.leverage.median).sort((a, b) => a - b), 0.5)
    t.leverage.p95 = pick(results.map((r) => r.leverage.p95).sort((a, b) => a - b), 0.95)
  }
  return t
}

/**
 * Per-family changes to the path and the configuration. Every family but `depeg` is ETH/USDC (LLTV 0.86, 60 %
 * volatility); `depeg` is a correlated pair (a yield-bearing stablecoin against USDC: price 1, 3 % volatility, LLTV
 * 0.915, 8 % collateral yield, band 1.02 / 1.05 / 1.09 (tail drop from the target: 4.8 %), caps 600,000 per rebalance and
 * 3,000,000 per epoch (the position is about 8x), 1 bp pool and 1 bp DFS service fee, the
 * stablecoin-pair rate).
 */
export const FAMILIES: Record<ScenarioKind, { path?: Partial<PathParameters>; config?: (config: BacktestConfig) => BacktestConfig }> = {
  gbm: {},
  jumps: {},
  regime: {},
  crash30: {},
  crash45: {},
  flashWick: {},
  slowGrind: {},
  whipsaw: {},
  gapRecover: {},
  gapHold: {},
  depeg: {
    path: { initialPrice: 1, sigma: 0.03, jumps: { intensity: 0, meanLog: 0, sigmaLog: 0 } },
    config: (c) =>
      resolveBacktestConfig(
        {
          subAccounts: c.subAccounts.map((s) => ({ ...s, lltv: 0.915, initialHealth: s.initialHealth !== undefined && s.initialHealth > c.policy.maxHealth ? 1.15 : undefined })),
          policy: { minHealth: 1.02, targetHealth: 1.05, maxHealth: 1.09, maxAmountPerRebalance: 600_000, maxAmountPerEpoch: 3_000_000 },
          risk: { initialSigma: 0.03, jumps: { intensity: 10, meanLog: -0.01, sigmaLog: 0.01 }, tail: { minJump: 0.003 } },
          carry: { collateralApy: 0.08 },
          swap: { feeBps: 1 },
          dfs: { serviceFeeBps: 1 },
        },
        c,
      ),
  },
}

/** Scorecard comparisons of the autopilot against the baselines (the targets). */
export type SuiteComparison = {
  /** Per family: autopilot's summed liquidation loss (`liquidationLoss`, the rerun without liquidations) <= dfs-style's. */
  lossAtMostDfs: Partial<Record<ScenarioKind, boolean>>
  /** Every family meets `lossAtMostDfs`. */
  lossAtMostDfsEveryFamily: boolean
  /** The same with `liquidationLossLikeForLike` (the seized collateral's missed recovery), per family and on every family. */
  likeForLikeLossAtMostDfs: Partial<Record<ScenarioKind, boolean>>
  likeForLikeLossAtMostDfsEveryFamily: boolean
  /** Mean net P&L per path over all families: autopilot >= dfs-style. */
  netPnlAtLeastDfs: boolean
  /** Paths where the autopilot was liquidated and threshold was not (target: 0), per family. */
  autopilotOnlyLiquidations: Partial<Record<ScenarioKind, number>>
}

/** Result of {@link runSuite}. */
export type SuiteResult = {
  /** Number of paths and the base seed. */
  count: number
  baseSeed: number
  /** Path parameters shared by every generated path (families override some, see {@link FAMILIES}). */
  path: Omit<PathParameters, "kind" | "seed">
  /** Totals per strategy. */
  totals: StrategyTotals[]
  /** Totals per scenario family and strategy. */
  byKind: Partial<Record<ScenarioKind, StrategyTotals[]>>
  /** The scorecard's targets, when autopilot, threshold and dfs-style all ran. */
  comparison?: SuiteComparison | undefined
  /** Wall-clock milliseconds. */
  elapsedMs: number
}

/** One generated path's results, one per strategy, as {@link runSuitePaths} returns them. */
export type PathResults = { index: number; kind: ScenarioKind; seed: number; results: StrategyResult[] }

/** Parameters of {@link runSuite} and {@link runSuitePaths}. */
export type RunSuiteParameters = {
  count: number
  baseSeed: number
  config: BacktestConfig
  path?: Partial<Omit<PathParameters, "kind" | "seed">> | undefined
  /** Families to cycle through; default all ({@link SCENARIO_KINDS}). */
  kinds?: readonly ScenarioKind[] | undefined
  /** Run only the paths whose index satisfies this (a worker's share); default all. */
  select?: ((index: number) => boolean) | undefined
  onProgress?: ((done: number, total: number) => void) | undefined
}

/**
 * Run generated paths (one family per kind with {@link FAMILIES}' changes) through every configured strategy and
 * return the per-path results; {@link summarizeSuite} folds them. Split with `select` to run on several threads.
 *
 * @param params - Path count, base seed, configuration, path overrides, families, selection and progress callback.
 * @returns One entry per path run.
 */
export function runSuitePaths(params: RunSuiteParameters): PathResults[] {
  const path = { ...DEFAULT_PATH, ...params.path }
  const specs: ScenarioSpec[] = scenarioSet(params.count, params.baseSeed, params.kinds).filter((s) => params.select?.(s.index) ?? true)
  const configs = new Map<ScenarioKind, BacktestConfig>()
  const out: PathResults[] = []
  for (const [done, spec] of specs.entries()) {
    const family = FAMILIES[spec.kind]
    let config = configs.get(spec.kind)
    if (config === undefined) {
      config = family.config?.(params.config) ?? params.config
      configs.set(spec.kind, config)
    }
    const assets = [...new Set(config.subAccounts.map((s) => s.asset))]
    const generated = assets.map((asset, k) => generatePath({ ...path, ...family.path, asset, kind: spec.kind, seed: spec.seed + k * 1_000_003 }))
    const paths: PricePaths = {
      timestamps: (generated[0] as PricePaths).timestamps,
      assets,
      prices: Object.assign({}, ...generated.map((g) => g.prices)) as Record<string, Float64Array>,
    }
    const run = config
    out.push({ index: spec.index, kind: spec.kind, seed: spec.seed, results: params.config.strategies.map((strategy) => runBacktest(paths, run, strategy)) })
    params.onProgress?.(done + 1, specs.length)
  }
  return out
}

/**
 * Fold per-path results into totals overall and per family, and the scorecard comparisons.
 *
 * @param params - The parameters the paths were run with.
 * @param paths - Per-path results (from one or several {@link runSuitePaths} calls).
 * @param elapsedMs - Wall-clock time to report.
 * @returns The suite result.
 */
export function summarizeSuite(params: RunSuiteParameters, paths: readonly PathResults[], elapsedMs: number): SuiteResult {
  const strategies = params.config.strategies
  const ordered = [...paths].sort((a, b) => a.index - b.index)
  const of = <T extends { strategy: StrategyName }>(rows: readonly T[], s: StrategyName): T | undefined => rows.find((r) => r.strategy === s)
  const byStrategy = (list: readonly PathResults[]) => strategies.map((s) => aggregate(s, list.map((p) => of(p.results, s) as StrategyResult)))
  const totals = byStrategy(ordered)
  const byKind: Partial<Record<ScenarioKind, StrategyTotals[]>> = {}
  for (const kind of new Set(ordered.map((p) => p.kind))) byKind[kind] = byStrategy(ordered.filter((p) => p.kind === kind))
  let comparison: SuiteComparison | undefined
  if (strategies.includes("autopilot") && strategies.includes("dfs-style") && strategies.includes("threshold")) {
    const lossAtMostDfs: Partial<Record<ScenarioKind, boolean>> = {}
    const likeForLikeLossAtMostDfs: Partial<Record<ScenarioKind, boolean>> = {}
    const autopilotOnlyLiquidations: Partial<Record<ScenarioKind, number>> = {}
    for (const [kind, rows] of Object.entries(byKind) as [ScenarioKind, StrategyTotals[]][]) {
      const [autopilot, dfs] = [of(rows, "autopilot") as StrategyTotals, of(rows, "dfs-style") as StrategyTotals]
      lossAtMostDfs[kind] = autopilot.liquidationLoss <= dfs.liquidationLoss + 1e-9
      likeForLikeLossAtMostDfs[kind] = autopilot.liquidationLossLikeForLike <= dfs.liquidationLossLikeForLike + 1e-9
      autopilotOnlyLiquidations[kind] = ordered.filter((p) => p.kind === kind && (of(p.results, "autopilot") as StrategyResult).liquidations > 0 && (of(p.results, "threshold") as StrategyResult).liquidations === 0).length
    }
    comparison = {
      lossAtMostDfs,
      lossAtMostDfsEveryFamily: Object.values(lossAtMostDfs).every(Boolean),
      likeForLikeLossAtMostDfs,
      likeForLikeLossAtMostDfsEveryFamily: Object.values(likeForLikeLossAtMostDfs).every(Boolean),
      netPnlAtLeastDfs: (of(totals, "autopilot") as StrategyTotals).netPnl >= (of(totals, "dfs-style") as StrategyTotals).netPnl,
      autopilotOnlyLiquidations,
    }
  }
  return { count: params.count, baseSeed: params.baseSeed, path: { ...DEFAULT_PATH, ...params.path }, totals, byKind, comparison, elapsedMs }
}

/**
 * Run the standard generated scenario set (see `scenarioSet`, one family per kind with {@link FAMILIES}' changes)
 * through every configured strategy, on this thread.
 *
 * @param params - Path count, base seed, configuration, optional path overrides, families and a progress callback.
 * @returns Totals overall and per family, and the scorecard comparisons.
 * @example runSuite({ count: 1100, baseSeed: 1000, config: resolveBacktestConfig() })
 */
export function runSuite(params: RunSuiteParameters): SuiteResult {
  const started = performance.now()
  return summarizeSuite(params, runSuitePaths(params), performance.now() - started)
}
