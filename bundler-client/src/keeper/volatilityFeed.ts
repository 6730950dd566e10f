import type { Logger } from "pino"
import type { KeeperMetrics } from "./metrics.js"
import { TrendEstimator } from "../risk/trend.js"
import type { SolverInput } from "../solver/types.js"
import { owedRescueFloor, rescueLandedShort, venueHealthOf } from "../solver/state.js"
import { withInclusionMargin, withoutFallDrift } from "./inclusionMargin.js"
import type { PortfolioSnapshot } from "./portfolio.js"
import type { SafeRuntime } from "./runtime.js"
import { saleHeldOf, shortfallFallSecondsOf } from "./shortfall.js"
import { LiveVolatility, type VolatilityEstimate, applyRisk } from "./volatility.js"

/**
 * Feeds every sub-account's oracle price into its live volatility estimate and gives the solver the estimate instead of
 * the configured sigma (which is the prior, and the floor until `risk.volatility.minSamples` updates were seen), and
 * into its trend ({@link TrendEstimator}, as the backtester's autopilot has it: `risk.trend`); in autopilot mode the band
 * is then narrowed by the inclusion margin and a falling trend becomes the `inclusionDrift` the solver plans at
 * ({@link withInclusionMargin}), so the keeper solves with the inputs the backtested autopilot solved with. A
 * sub-account whose last swap rescue failed short of its repayment (`rt.shortfallFallSeconds`, shortfall.ts) has its
 * fall taken over the delay that rescue really took (`fallSeconds`, seconds) until one of its plans lands; one whose last
 * sale failed with `SaleExceedsRepayment` (the price held where the plan was sized for a fall: `rt.saleHeld`) is
 * planned at the read price (its falling `inclusionDrift` dropped, {@link withoutFallDrift}) until one of its plans
 * lands or a shortfall is noted for it. In autopilot mode the band rule on paper (`rt.bandPaper`, issue 13) is fed the
 * same read and its health becomes each sub-account's boost floor and in-band rescue gate ({@link withBandShadow}).
 */
export class VolatilityFeed {
  constructor(private readonly deps: { logger: Logger; metrics: KeeperMetrics }) {}

  /**
   * @returns The snapshot with `input.subAccounts[].risk.sigma` replaced (and the band narrowed in autopilot mode).
   */
  apply(rt: SafeRuntime, snapshot: PortfolioSnapshot): PortfolioSnapshot {
    const { logger, metrics } = this.deps
    const safe = rt.config.address
    const { sigma: prior, volatility: settings } = rt.config.risk
    const estimates = new Map<string, VolatilityEstimate>()
    const trends = new Map<string, number>()
    const rebounds = new Map<string, number>()
    const gaps = new Map<string, boolean>()
    const latestGaps = new Map<string, boolean>()
    const noises = new Map<string, boolean>()
    for (const sub of snapshot.input.subAccounts) {
      const id = sub.state.id
      let trend = rt.trend.get(id)
      if (!trend) {
        trend = new TrendEstimator()
        rt.trend.set(id, trend)
      }
      trend.observe(snapshot.timestamp, sub.state.price)
      trends.set(id, trend.drift())
      let estimator = rt.volatility.get(id)
      if (!estimator) {
        estimator = new LiveVolatility(prior, settings)
        rt.volatility.set(id, estimator)
      }
      const sampled = estimator.observe(snapshot.timestamp, sub.state.price)
      const estimate = estimator.estimate()
      estimates.set(id, estimate)
      // A rebound in progress (the latest minute an upward jump against the estimate), as the backtester's autopilot has it.
      rebounds.set(id, trend.rebound(estimate.sigma))
      // A gap (the latest step a fall beyond the trend by more than a jump, from the first block that reads it): the
      // fall is then not planned (issue 13 x53). Judged against the configured sigma (the prior), not the live EWMA,
      // which takes in the gap at the block that reads it (lambda 0.94 per update) and would hide it; the backtester
      // judges it against its slow EWMA, and both are far under the smallest jump (2 %) in a minute outside a crash.
      const read = { t: snapshot.timestamp, price: sub.state.price }
      gaps.set(id, trend.gapped(prior, undefined, undefined, read))
      // The latest step itself a gap (the gap's own minute): the rescue aimed for a rebound (issue 13 stop 55).
      latestGaps.set(id, trend.gapped(prior, undefined, undefined, read, 1))
      // Noise that dominates the trend (one price a minute over 15 minutes, as the backtester's): a sale at the read price.
      noises.set(id, trend.noisy())
      const labels = { safe, sub_account: id, venue: rt.venues.get(id.toLowerCase()) ?? "unknown" }
      metrics.set("levpilot_sigma", "Annualised volatility the solver uses per sub-account (live EWMA estimate, prior or floor).", labels, estimate.sigma)
      metrics.set("levpilot_sigma_ewma", "Raw EWMA volatility estimate per sub-account (annualised).", labels, estimate.ewma)
      metrics.set("levpilot_sigma_samples", "Oracle updates observed per sub-account.", labels, estimate.samples)
      if (!sampled) continue
      const last = rt.loggedSigma.get(id)
      const moved = !last || last.source !== estimate.source || Math.abs(estimate.sigma / last.sigma - 1) > 0.25
      logger[moved ? "info" : "debug"](
        { safe, subAccount: id, sigma: Number(estimate.sigma.toPrecision(4)), ewma: Number(estimate.ewma.toPrecision(4)), samples: estimate.samples, source: estimate.source, prior, price: sub.state.price },
        "volatility estimate",
      )
      if (moved) rt.loggedSigma.set(id, estimate)
    }
    const input = applyRisk(snapshot.input, (id) => ({ sigma: estimates.get(id)?.sigma, trend: trends.get(id), rebound: rebounds.get(id), gap: gaps.get(id), gapLatest: latestGaps.get(id), noisy: noises.get(id) }))
    // Seconds per block, from consecutive observations (12 s until known).
    if (rt.lastSeen && snapshot.blockNumber > rt.lastSeen.block && snapshot.timestamp > rt.lastSeen.timestamp)
      rt.blockSeconds = (snapshot.timestamp - rt.lastSeen.timestamp) / Number(snapshot.blockNumber - rt.lastSeen.block)
    rt.lastSeen = { block: snapshot.blockNumber, timestamp: snapshot.timestamp }
    if (input.mode === "threshold") return { ...snapshot, input }
    const blockSeconds = rt.blockSeconds ?? 12
    const live = withInclusionMargin(withBandShadow(rt, input, snapshot.blockNumber), blockSeconds)
    // A sub-account whose last swap rescue failed short of its repayment: its fall over the delay that rescue really
    // took (issue 13 rr13 F6), until one of its plans lands; every other sub-account keeps the live window.
    const ids = input.subAccounts.map((s) => s.state.id)
    const falls = shortfallFallSecondsOf(rt, ids)
    // A sub-account whose last sale failed because the price held (`SaleExceedsRepayment`, stop 52): at the read price.
    const held = saleHeldOf(rt, ids)
    if (falls.size === 0 && held.size === 0) return { ...snapshot, input: live }
    const subAccounts = live.subAccounts.map((x, i) => {
      const fall = falls.get(x.state.id.toLowerCase())
      const sub = input.subAccounts[i]
      const floor = x.boostFloorHealth === undefined ? {} : { boostFloorHealth: x.boostFloorHealth }
      const margined = fall === undefined || sub === undefined ? x : { ...(withInclusionMargin({ ...input, subAccounts: [sub] }, blockSeconds, undefined, fall).subAccounts[0] ?? x), ...floor }
      return held.has(x.state.id.toLowerCase()) ? withoutFallDrift(margined) : margined
    })
    return { ...snapshot, input: { ...live, subAccounts } }
  }
}

/**
 * Issue 13: `input` with each sub-account's `boostFloorHealth` set to the band rule's health after observing this read
 * (`rt.bandPaper`, {@link BandRulePaper}: a copy of the Safe taken at the first read, rebalanced by the threshold solver
 * within the policy's caps and bounds; interest ignored, so it reads a little high: a conservative floor; a read at the
 * same time as the last changes nothing). A sub-account without debt has none (dropped, so a reopened position is
 * copied anew). In memory only: after a restart the copy is taken again.
 * Stop 64 (review rv64b B1): a sub-account a landed plan of ours left owed the rest of its rescue (`rt.landed`, noted by
 * `noteInclusion`; judged with the solver's `rescueLandedShort` against its health at the read of the plan's snapshot,
 * `rt.readHealth`) has a floor of at least its target (`owedRescueFloor`) until a read finds it at or above the target
 * (`rt.rescueOwed`), so its in-band rescue is not gated by the band rule's health.
 *
 * @param rt - The Safe's runtime (its `bandPaper` observes the read; `landed`, `readHealth`, `rescueOwed` are updated).
 * @param input - The solver input read now (oracle prices, policies, swap curves, costs).
 * @param block - The read's block number; without it no landed plan is judged and no health is recorded.
 * @returns The input with `boostFloorHealth` on each sub-account with debt.
 */
export function withBandShadow(rt: Pick<SafeRuntime, "bandPaper" | "landed" | "readHealth" | "rescueOwed">, input: SolverInput, block?: bigint): SolverInput {
  const band = rt.bandPaper.observe(input)
  const owed = (rt.rescueOwed ??= new Set())
  const read = (rt.readHealth ??= new Map())
  const ids = new Set<string>()
  const out = {
    ...input,
    subAccounts: input.subAccounts.map((sub) => {
      const id = sub.state.id.toLowerCase()
      ids.add(id)
      const health = sub.state.debt > 0 ? venueHealthOf(sub.state) : Number.POSITIVE_INFINITY
      // Stop 64 (review rv64b B1): a plan of ours landed since and left it owed the rest of its rescue: judged against
      // its health at the read of the plan's snapshot (the latest read at or before that block).
      const quoteBlock = rt.landed?.get(id)
      const history: [bigint, number][] = read.get(id) ?? []
      if (quoteBlock !== undefined && block !== undefined && block > quoteBlock) {
        rt.landed?.delete(id)
        const before = history.filter(([b]) => b <= quoteBlock).at(-1)?.[1]
        if (before !== undefined && rescueLandedShort(sub.policy, before, health)) owed.add(id)
        else owed.delete(id)
      }
      if (!(health < sub.policy.targetHealth)) owed.delete(id)
      if (block !== undefined) read.set(id, [...history.filter(([b]) => b < block), [block, health] as [bigint, number]].slice(-READ_HEALTH_KEPT))
      const shadow = sub.state.debt > 0 ? band.get(id) : undefined
      const floor = owed.has(id) ? owedRescueFloor(shadow, sub.policy.targetHealth) : shadow
      return floor === undefined ? sub : { ...sub, boostFloorHealth: floor }
    }),
  }
  // Bounded by the Safe's sub-accounts (a policy removed is dropped).
  for (const id of [...read.keys()]) if (!ids.has(id)) read.delete(id)
  for (const id of [...owed]) if (!ids.has(id)) owed.delete(id)
  for (const id of [...(rt.landed?.keys() ?? [])]) if (!ids.has(id)) rt.landed?.delete(id)
  return out
}

/** Reads of each sub-account's health kept for judging a landed plan against its snapshot (`SafeRuntime.readHealth`). */
const READ_HEALTH_KEPT = 16
