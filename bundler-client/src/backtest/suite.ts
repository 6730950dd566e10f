import { DEFAULT_PATH, generatePath, scenarioSet } from "../prices/generator.js"
import type { PathParameters, ScenarioKind, ScenarioSpec } from "../prices/generator.js"
import type { PricePaths } from "../prices/csv.js"
import { runBacktest } from "./engine.js"
import type { StrategyResult } from "./engine.js"
import type { BacktestConfig, StrategyName } from "./config.js"

/**
 * Aggregate of one strategy over several paths: counts, losses, rebalances and gas are sums;
 * `timeAveragedLeverage`, `initialEquity` and `finalEquity` are means per path; `minHealth` is the minimum.
 */
export type StrategyTotals = StrategyResult & {
  /** Paths aggregated. */
  paths: number
}

/**
 * Fold per-path results into totals (sums, means for leverage and equity, minimum for health).
 *
 * @param strategy - Strategy name.
 * @param results - Per-path results of that strategy.
 * @returns The totals.
 */
export function aggregate(strategy: StrategyName, results: readonly StrategyResult[]): StrategyTotals {
  const t: StrategyTotals = { strategy, paths: results.length, liquidations: 0, liquidationLoss: 0, timeAveragedLeverage: 0, minHealth: Number.POSITIVE_INFINITY, rebalances: 0, rejectedRebalances: 0, gasUsed: 0, gasCost: 0, initialEquity: 0, finalEquity: 0 }
  for (const r of results) {
    t.initialEquity += r.initialEquity
    t.liquidations += r.liquidations
    t.liquidationLoss += r.liquidationLoss
    t.timeAveragedLeverage += r.timeAveragedLeverage
    t.minHealth = Math.min(t.minHealth, r.minHealth)
    t.rebalances += r.rebalances
    t.rejectedRebalances += r.rejectedRebalances
    t.gasUsed += r.gasUsed
    t.gasCost += r.gasCost
    t.finalEquity += r.finalEquity
  }
  if (results.length > 0) {
    t.timeAveragedLeverage /= results.length
    t.initialEquity /= results.length
    t.finalEquity /= results.length
  }
  return t
}

/** Result of {@link runSuite}. */
export type SuiteResult = {
  /** Number of paths and the base seed. */
  count: number
  baseSeed: number
  /** Path parameters shared by every generated path. */
  path: Omit<PathParameters, "kind" | "seed">
  /** Totals per strategy. */
  totals: StrategyTotals[]
  /** Totals per scenario kind and strategy. */
  byKind: Partial<Record<ScenarioKind, StrategyTotals[]>>
  /** The acceptance comparison (autopilot vs threshold), when both ran. */
  comparison?: { lossAtMostThreshold: boolean; leverageRatio: number; leverageAtLeast15PercentHigher: boolean } | undefined
  /** Wall-clock milliseconds. */
  elapsedMs: number
}

/**
 * Run the standard generated scenario set (see `scenarioSet`) through every configured strategy.
 *
 * @param params - Path count, base seed, configuration, optional path overrides and a progress callback.
 * @returns Totals overall and per scenario kind.
 * @example runSuite({ count: 1000, baseSeed: 1000, config: resolveBacktestConfig() })
 */
export function runSuite(params: {
  count: number
  baseSeed: number
  config: BacktestConfig
  path?: Partial<Omit<PathParameters, "kind" | "seed">> | undefined
  onProgress?: ((done: number, total: number) => void) | undefined
}): SuiteResult {
  const started = performance.now()
  const path = { ...DEFAULT_PATH, ...params.path }
  const assets = [...new Set(params.config.subAccounts.map((s) => s.asset))]
  const perStrategy = new Map<StrategyName, StrategyResult[]>()
  const perKind = new Map<ScenarioKind, Map<StrategyName, StrategyResult[]>>()
  const specs: ScenarioSpec[] = scenarioSet(params.count, params.baseSeed)
  for (const spec of specs) {
    const generated = assets.map((asset, k) => generatePath({ ...path, asset, kind: spec.kind, seed: spec.seed + k * 1_000_003 }))
    const paths: PricePaths = {
      timestamps: (generated[0] as PricePaths).timestamps,
      assets,
      prices: Object.assign({}, ...generated.map((g) => g.prices)) as Record<string, Float64Array>,
    }
    for (const strategy of params.config.strategies) {
      const r = runBacktest(paths, params.config, strategy)
      const list = perStrategy.get(strategy) ?? []
      list.push(r)
      perStrategy.set(strategy, list)
      const kindMap = perKind.get(spec.kind) ?? new Map<StrategyName, StrategyResult[]>()
      const kl = kindMap.get(strategy) ?? []
      kl.push(r)
      kindMap.set(strategy, kl)
      perKind.set(spec.kind, kindMap)
    }
    params.onProgress?.(spec.index + 1, specs.length)
  }
  const totals = params.config.strategies.map((s) => aggregate(s, perStrategy.get(s) ?? []))
  const byKind: Partial<Record<ScenarioKind, StrategyTotals[]>> = {}
  for (const [kind, m] of perKind) byKind[kind] = params.config.strategies.map((s) => aggregate(s, m.get(s) ?? []))
  const auto = totals.find((t) => t.strategy === "autopilot")
  const threshold = totals.find((t) => t.strategy === "threshold")
  const comparison =
    auto !== undefined && threshold !== undefined
      ? {
          lossAtMostThreshold: auto.liquidationLoss <= threshold.liquidationLoss,
          leverageRatio: auto.timeAveragedLeverage / threshold.timeAveragedLeverage,
          leverageAtLeast15PercentHigher: auto.timeAveragedLeverage >= 1.15 * threshold.timeAveragedLeverage,
        }
      : undefined
  return { count: params.count, baseSeed: params.baseSeed, path, totals, byKind, comparison, elapsedMs: performance.now() - started }
}
