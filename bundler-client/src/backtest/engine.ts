import { EwmaVolatility } from "../risk/volatility"
import type { PricePaths } from "../prices/csv"
import { checkPlanAgainstPolicy } from "../solver/policyRules"
import { liquidationIncentiveFactor, solve } from "../solver/solver"
import { applyPlan, healthOf, recordRebalance } from "../solver/state"
import type { EpochState, Plan, Policy, PortfolioState, SubAccountState } from "../solver/types"
import { BacktestConfigError } from "./config"
import type { BacktestConfig, StrategyName } from "./config"

/** Metrics of one strategy on one price path. */
export type StrategyResult = {
  /** Strategy. */
  strategy: StrategyName
  /** Number of liquidations. */
  liquidations: number
  /** Liquidation penalty paid (seized collateral value - repaid debt), loan units. */
  liquidationLoss: number
  /** Mean over time and sub-accounts of effective leverage at the market price. */
  timeAveragedLeverage: number
  /** Lowest health seen at the oracle price (what liquidation uses), including just before a liquidation. */
  minHealth: number
  /** Rebalances executed. */
  rebalances: number
  /** Plans the module rejected at execution time (state moved during keeper latency). */
  rejectedRebalances: number
  /** Execution gas used. */
  gasUsed: number
  /** Gas cost in loan units. */
  gasCost: number
  /** Net value at the start (sub-account equity + pools + idle), market prices. */
  initialEquity: number
  /** Net value at the end minus gas cost, market prices. */
  finalEquity: number
}

type Pending = { plan: Plan; executeAt: number }

/**
 * Replay one set of price paths through a strategy using the same solver and the same policy rules
 * (`checkPlanAgainstPolicy`) as the module, with oracle heartbeat/deviation updates, keeper polling
 * and latency, gas per rebalance, pool slippage, and Morpho liquidation (full close at the oracle
 * price as soon as health < 1, seizing debt x incentive factor of collateral).
 *
 * @param paths - Price paths (one column per collateral asset, loan-asset numeraire).
 * @param config - Scenario configuration.
 * @param strategy - `static`, `threshold` or `autopilot`.
 * @returns The strategy's metrics.
 * @throws {BacktestConfigError} When a sub-account's asset is not a column of the price paths.
 */
export function runBacktest(paths: PricePaths, config: BacktestConfig, strategy: StrategyName): StrategyResult {
  const ts = paths.timestamps
  const n = ts.length
  const assets = [...new Set(config.subAccounts.map((s) => s.asset))]
  for (const a of assets) if (paths.prices[a] === undefined) throw new BacktestConfigError(`sub-account asset "${a}" is not a column of the price file (${paths.assets.join(", ")})`)
  const series = (a: string): Float64Array => paths.prices[a] as Float64Array
  const oracle: Record<string, { price: number; updated: number }> = {}
  const fast: Record<string, EwmaVolatility> = {}
  const slow: Record<string, EwmaVolatility> = {}
  for (const a of assets) {
    oracle[a] = { price: series(a)[0] as number, updated: ts[0] as number }
    fast[a] = new EwmaVolatility(config.risk.fastLambda, config.risk.initialSigma)
    slow[a] = new EwmaVolatility(config.risk.slowLambda, config.risk.initialSigma)
  }
  const policies: Record<string, Policy> = {}
  const epochs: Record<string, EpochState> = {}
  let subs: SubAccountState[] = config.subAccounts.map((s) => {
    const policy = { ...config.policy, ...s.policy }
    policies[s.id] = policy
    epochs[s.id] = { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 }
    const price = series(s.asset)[0] as number
    const h = s.initialHealth ?? policy.targetHealth
    const value = s.equity / (1 - s.lltv / h)
    return {
      id: s.id,
      loanAsset: config.loanAsset,
      collateralAsset: s.asset,
      loanDecimals: config.loanDecimals,
      collateralDecimals: config.collateralDecimals,
      collateral: value / price,
      debt: value - s.equity,
      lltv: s.lltv,
      price,
    }
  })
  let pools = config.pools.map((p) => ({ ...p }))
  let idle = { ...config.idle }
  const marketValue = (k: number): number => {
    let v = idle[config.loanAsset] ?? 0
    for (const s of subs) v += s.collateral * (series(s.collateralAsset)[k] as number) - s.debt
    for (const p of pools) v += p.balance * (p.asset === config.loanAsset ? 1 : (series(p.asset)[k] as number))
    for (const [asset, amount] of Object.entries(idle)) if (asset !== config.loanAsset) v += amount * (series(asset)[k] as number)
    return v
  }
  const result: StrategyResult = {
    strategy,
    liquidations: 0,
    liquidationLoss: 0,
    timeAveragedLeverage: 0,
    minHealth: Number.POSITIVE_INFINITY,
    rebalances: 0,
    rejectedRebalances: 0,
    gasUsed: 0,
    gasCost: 0,
    initialEquity: marketValue(0),
    finalEquity: 0,
  }
  const deviation = config.oracle.deviationBps / 10_000
  const latency = config.keeper.latencyBlocks * config.keeper.blockSeconds
  let pending: Pending | undefined
  let nextPoll = ts[0] as number
  let leverageSum = 0
  let leverageCount = 0

  for (let k = 0; k < n; k++) {
    const t = ts[k] as number
    for (const a of assets) {
      const p = series(a)[k] as number
      if (k > 0) {
        const r = Math.log(p / (series(a)[k - 1] as number))
        const dt = t - (ts[k - 1] as number)
        ;(fast[a] as EwmaVolatility).update(r, dt)
        ;(slow[a] as EwmaVolatility).update(r, dt)
      }
      const o = oracle[a] as { price: number; updated: number }
      if (t - o.updated >= config.oracle.heartbeatSeconds || Math.abs(p / o.price - 1) >= deviation) {
        o.price = p
        o.updated = t
      }
    }
    subs = subs.map((s) => ({ ...s, price: (oracle[s.collateralAsset] as { price: number }).price }))

    for (const s of subs) {
      if (!(s.debt > 0)) continue
      const h = healthOf(s)
      if (h < result.minHealth) result.minHealth = h
      if (h >= 1) continue
      const lif = liquidationIncentiveFactor(s.lltv)
      const wanted = (s.debt * lif) / s.price
      const seized = Math.min(wanted, s.collateral)
      const repaid = seized === wanted ? s.debt : (seized * s.price) / lif
      result.liquidations++
      result.liquidationLoss += seized * s.price - repaid
      s.collateral -= seized
      s.debt = 0
    }

    if (pending !== undefined && t >= pending.executeAt) {
      const pre: PortfolioState = { subAccounts: subs, pools, idle }
      const check = checkPlanAgainstPolicy({ plan: pending.plan, pre, policies, epochs, now: t })
      if (check.ok) {
        const post = applyPlan(pre, pending.plan)
        subs = post.subAccounts
        pools = post.pools
        idle = post.idle
        for (const id of pending.plan.subAccounts) {
          const policy = policies[id] as Policy
          epochs[id] = recordRebalance(epochs[id] as EpochState, policy.epochLength, t, check.amountMoved[id] ?? 0, pending.plan.gas, Math.ceil(check.lossPpb[id] ?? 0))
        }
        result.rebalances++
        result.gasUsed += pending.plan.gas
        result.gasCost += pending.plan.gas * config.costs.gasPrice
      } else {
        result.rejectedRebalances++
        result.gasUsed += config.costs.baseGas
        result.gasCost += config.costs.baseGas * config.costs.gasPrice
      }
      pending = undefined
    }

    if (strategy !== "static" && pending === undefined && t >= nextPoll) {
      nextPoll = t + config.keeper.pollSeconds
      const triggered = subs.some((s) => {
        const p = policies[s.id] as Policy
        const h = healthOf(s)
        return h < p.minHealth || (p.boostAllowed && h > p.maxHealth)
      })
      if (triggered) {
        const solved = solve({
          now: t,
          subAccounts: subs.map((s) => ({
            state: s,
            policy: policies[s.id] as Policy,
            epoch: epochs[s.id] as EpochState,
            risk: {
              sigma: Math.max((fast[s.collateralAsset] as EwmaVolatility).sigma(), (slow[s.collateralAsset] as EwmaVolatility).sigma()),
              drift: config.risk.drift,
              jumps: config.risk.jumps ?? undefined,
            },
          })),
          pools,
          idle,
          costs: config.costs,
          mode: strategy === "threshold" ? "threshold" : "autopilot",
        })
        if (solved.plan !== undefined) pending = { plan: solved.plan, executeAt: t + latency }
      }
    }

    for (const s of subs) {
      const h = healthOf(s)
      if (h < result.minHealth) result.minHealth = h
      const value = s.collateral * (series(s.collateralAsset)[k] as number)
      const equity = value - s.debt
      leverageSum += equity > 0 ? Math.min(value / equity, 100) : 100
      leverageCount++
    }
  }
  result.timeAveragedLeverage = leverageCount > 0 ? leverageSum / leverageCount : 0
  result.finalEquity = marketValue(n - 1) - result.gasCost
  return result
}
