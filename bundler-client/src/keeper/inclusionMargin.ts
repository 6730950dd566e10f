import { SECONDS_PER_YEAR } from "../risk/firstPassage.js"
import { SWAP_PLAN_TAKE_BIAS } from "../solver/swapDeleverage.js"
import type { SolverInput } from "../solver/types.js"

/** Blocks between the solve and the plan's execution the band margin allows for, and its width in standard deviations. */
export const INCLUSION_MARGIN = { blocks: 2, deviations: 2, maxShareOfBand: 0.25 }

/**
 * Autopilot aims at its risk health clipped into the module's limits (rule 3: a triggered sub-account's landing zone,
 * a source's target), often at one of their edges; if the price moves before the operation is included, the module
 * rejects a plan that now lands just outside (`HealthOutsideLandingZone`, `HealthCrossedTarget`). So the keeper gives
 * the solver a landing margin for the price move expected until inclusion:
 * `m = deviations x sigma x sqrt(blocks x blockSeconds / year)` in log-health (at most `maxShareOfBand` of the band's
 * log-width). The policy is unchanged, so which sub-accounts are triggered (rule 1) does not change either.
 * With a falling `risk.trend` (annualised, `TrendEstimator`) it also sets `inclusionDrift = trend x blocks x
 * blockSeconds / year + SWAP_PLAN_TAKE_BIAS x maxSlippageBps` when below 0 (same cap): the fall expected until inclusion
 * beyond what a swap's take already allows for, at which the solver then plans (`atInclusion`). A rising trend (a wick's
 * rebound) the same way, `trend x blocks x blockSeconds / year - SWAP_PLAN_TAKE_BIAS x maxSlippageBps` when above 0:
 * the solver plans a boost's purchase at it (only above the band; a rescue is never sized for a rise); the rising rate is
 * the larger of `risk.trend` and `risk.rebound` (the latest step when it is an upward jump). The rise is
 * taken over `riseSeconds`, by default the same `blocks x blockSeconds`: a caller whose operations execute later than
 * that (the backtester, which fills an operation at the next step of its price path, 60 s on one-minute paths) passes
 * the delay its purchase really executes after. Only the rise: a boost planned for a rise that stops before inclusion
 * reverts at the cost of its gas, while the landing margin and the fall a rescue is planned for keep the live inclusion
 * window (tuned in round 2 of issue 13: planning a rescue for more fall refuses the stop-loss exits of a stepped collapse).
 * In the minute after a gap and the next (`risk.gap`, `TrendEstimator.gapped`: one of the latest two steps a fall beyond
 * the trend by more than a jump) the falling trend is not planned for: the median still reads the fall before the gap while the price, after a
 * gap, may hold, and a sale sized for that fall then reverts (`SaleExceedsRepayment`) and the re-plan lands a minute
 * late (issue 13 x53: x52's grid, -2 %/min, -12 % held 2 minutes, -20 %: liquidated where threshold's sale, sized at
 * the read price at the gap's poll, landed). The second minute because the gap may go on one more minute and then
 * hold: the re-plan after the first sale's shortfall, sized for the fall, reverted as the price held (bk54, stop 55).
 * A steady fall, however steep, is no gap and keeps its drift.
 * In the gap's own minute (`risk.gapLatest`: the latest step is the gap), when the gap ends a fall the trend reads (its fall over the window beyond the take's tolerance, the
 * drift the gap rule leaves out), the margin under a triggered sub-account's landing zone top is also the cap
 * (`landingMarginTop`, when larger than `m`; the margin over its floor stays `m`): the price often takes back a share of it before
 * inclusion, and a rescue aimed `m` under the top then lands over it (`HealthOutsideLandingZone`); its re-plan comes a
 * poll later, after the next gap (issue 13 w54, bk53's wick: -13 %, +4.5 % a minute later, -15 %: liquidated where
 * threshold's rescue, aimed at its target, landed). With the cap (0.098 on the default band, a 10 % rebound) the
 * rescue is aimed at about the target (the solver never aims under it). Not after a gap out of calm: there the high
 * aim is what survives the next gap (staircases of gaps hours apart lost it, w54). Not while `risk.noisy` (a rebound
 * there is a draw of the noise; a minute far outside the noise is not noisy: `TrendEstimator.noisy`). Where the two
 * margins together would empty the zone, the solver aims a rescue at its geometric centre (`centredAim` in
 * `assessSubAccount`, he62 / he63; before, at its floor: `underTop`, stop 55).
 *
 * @param input - The solver input.
 * @param blockSeconds - Seconds per block of the chain the operation is included on.
 * @param riseSeconds - Seconds of a rising trend the boost's purchase is planned for (default `blocks x blockSeconds`).
 * @param fallSeconds - Seconds of a falling trend a rescue is planned for (default `blocks x blockSeconds`, the live
 *   window). A keeper whose last swap rescue of a sub-account reverted short of its fixed repayment (the sale paid less:
 *   the fall ran on past the window before inclusion) passes the delay that operation really took from quote to
 *   inclusion (issue 13 rr13 F6); the default keeps the live window so a stepped collapse's exits are not refused.
 * @param marginSeconds - Seconds of price move the landing margin `m` is taken over (default `blocks x blockSeconds`, the
 *   live window). The backtester passes the delay an operation really takes to fill for a sub-account whose last sale,
 *   under the sale-minimum repayment, landed over its zone's top (issue 13, stop 61), as its `landingMarginTop`.
 * @returns The input with each sub-account's `landingMargin` (log-health; and `inclusionDrift`, log price; and after a
 *   gap `landingMarginTop`, log-health); the on-chain policy is unchanged.
 */
export function withInclusionMargin(input: SolverInput, blockSeconds: number, riseSeconds?: number, fallSeconds?: number, marginSeconds?: number): SolverInput {
  return {
    ...input,
    subAccounts: input.subAccounts.map((sub) => {
      const { minHealth, maxHealth } = sub.policy
      const cap = INCLUSION_MARGIN.maxShareOfBand * Math.log(maxHealth / minHealth)
      const years = (marginSeconds ?? INCLUSION_MARGIN.blocks * blockSeconds) / SECONDS_PER_YEAR
      const m = Math.min(INCLUSION_MARGIN.deviations * sub.risk.sigma * Math.sqrt(years), cap)
      // A take already survives an oracle that has not moved by inclusion up to SWAP_PLAN_TAKE_BIAS of the slippage
      // bound above its minimum; only the expected fall beyond that is planned for (a slower fall stays as quoted, so a
      // plan is not refused when the oracle, which moves in deviation steps, has not updated by inclusion).
      const tolerance = SWAP_PLAN_TAKE_BIAS * ((sub.policy.maxSlippageBps ?? 0) / 10_000)
      // In the two minutes after a gap (`risk.gap`) the trend, a median, still reads the fall before it: the rescue is sized
      // for the price holding (issue 13 x53: sized for that fall, it reverted with SaleExceedsRepayment as the price held).
      const trend = (sub.risk.gap === true ? Math.max(0, sub.risk.trend ?? 0) : (sub.risk.trend ?? 0)) * ((fallSeconds ?? INCLUSION_MARGIN.blocks * blockSeconds) / SECONDS_PER_YEAR)
      // A rise (a wick's rebound) the same way, for a boost's purchase: its fixed supply then is what it buys after the
      // rise (atInclusion applies it only above the band; a rescue is never sized for a rise).
      // A rebound in progress (`risk.rebound`, the latest step when it is an upward jump) is read a minute or two before
      // the median of five minutes turns positive (issue 13 round 5).
      const rise = Math.max(sub.risk.trend ?? 0, sub.risk.rebound ?? 0) * ((riseSeconds ?? INCLUSION_MARGIN.blocks * blockSeconds) / SECONDS_PER_YEAR)
      const drift = trend < 0 ? Math.max(-cap, Math.min(0, trend + tolerance)) : Math.min(cap, Math.max(0, rise - tolerance))
      const margined = m > 0 && Number.isFinite(m) ? { ...sub, landingMargin: m } : sub
      // After a gap the next minute often takes back a share of it (a wick's rebound): a rescue aimed a 2-sigma move
      // under the zone's top lands over it (HealthOutsideLandingZone) and its re-plan comes a poll later, after the next
      // gap (issue 13, helper bk53). Its top margin is the most a margin may be (`maxShareOfBand` of the band).
      // Only a gap that ends a fall the trend reads (the fall it would plan for without the gap rule, beyond a take's
      // tolerance): after a gap out of calm (gap staircases, a collapse in gaps hours apart) the high aim is what
      // survives the next gap, and aiming at the target there lost more than it saved (w54: rr13w W2, hs49).
      const fallBefore = (sub.risk.trend ?? 0) * ((fallSeconds ?? INCLUSION_MARGIN.blocks * blockSeconds) / SECONDS_PER_YEAR) + tolerance < 0
      // Only in the minute after the gap (`risk.gapLatest`; `risk.gap` when not given), not the next, where the rescue is
      // sized for the price holding but aimed as high as ever (issue 13 stop 55: applied for both minutes, fuzz seed
      // 1259's exit landed at 1.41 instead of 1.48 and its min health fell 1.097 -> 1.041; gap-then-fall grid 38 -> 40).
      // Not in a noisy fall (`risk.noisy`): a minute's rebound there is a draw of the noise, and the sale is sized at the
      // read price (`saleAtRead`); aiming at the target there left it short of the next dip (issue 13 stop 55: bk53's
      // noisy-fall grid, buffered 17 -> 15 of 480 autopilot-only liquidations with TrendEstimator.noisy's outlier rule).
      const out = (sub.risk.gapLatest ?? sub.risk.gap) === true && sub.risk.noisy !== true && fallBefore && cap > (margined.landingMargin ?? 0) && Number.isFinite(cap) ? { ...margined, landingMarginTop: cap } : margined
      if (!(drift !== 0 && Number.isFinite(drift))) return out
      // In a noisy fall (`risk.noisy`) a sale is sized at the read price (`saleAtRead`, solveAimed), other plans for the fall.
      return drift < 0 && sub.risk.noisy === true ? { ...out, inclusionDrift: drift, saleAtRead: true } : { ...out, inclusionDrift: drift }
    }),
  }
}

/**
 * `sub` planned at the read price when its margin expects a fall: its `inclusionDrift` dropped when below 0 (a rise, and
 * the landing margin, kept). For a sub-account whose last sale reverted with `SaleExceedsRepayment` (the sale's
 * on-chain minimum at the inclusion oracle above its fixed repayment: the price held or rose where the plan was sized
 * for a fall), until one of its plans lands: the other side of a sale's window from rr13 F6's shortfall, which widens
 * the fall instead (stop 52; the backtester's `saleHeld`, the keeper's `rt.saleHeld`).
 *
 * @param sub - A sub-account's solver input, after {@link withInclusionMargin}.
 * @returns The same object when its drift is not a fall, else a copy without it.
 */
export function withoutFallDrift<T extends { inclusionDrift?: number | undefined }>(sub: T): T {
  if (!(sub.inclusionDrift !== undefined && sub.inclusionDrift < 0)) return sub
  const { inclusionDrift: _drift, ...rest } = sub
  return rest as T
}
