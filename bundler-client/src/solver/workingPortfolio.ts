import { liquidationProbability, SECONDS_PER_YEAR } from "../risk/firstPassage.js"
import { policyRiskHealth, policyTailFloorHealth } from "../risk/tail.js"
import { SolverInputError } from "./errors.js"
import { toBaseUnits as ruleBaseUnits } from "./policyRules.js"
import { effectiveEpoch, healthOf, inBandTrigger, landingZone, netValue, stopEngaged, thresholdFloorGap, toBaseUnits, venueHealthOf } from "./state.js"
import type { ActionKind, EpochState, Policy, PortfolioState, SolverInput, SwapCurve, YieldPool } from "./types.js"

/** Distance (in health units) the solver keeps from every band edge so integer rounding on chain cannot cross it. */
export const HEALTH_MARGIN = 1e-6
const CAP_SLACK = 1 - 1e-9

/**
 * The zone the solver aims an in-band rescue at: the module's in-band landing zone ({@link landingZone}) with its low
 * edge at least the target. The module accepts a landing from before + (target - min) / 2 (stop 64: continuous with the
 * zone below the band, so a gap at inclusion that leaves the health just above minHealth does not refuse a rescue sized
 * from below it); the solver still ends an in-band rescue at the target or above, one operation per fall.
 */
function inBandAimZone(p: Policy, h0: number): [number, number] {
  const [zl, zh] = landingZone(p, h0)
  return [Math.max(p.targetHealth, zl), zh]
}

/**
 * A deleverage aims at the health whose liquidation probability is this fraction of the tolerance
 * (boosts aim at the tolerance itself): the gap is a hysteresis band that stops the solver from
 * paying gas every block to nudge a position back over the same edge.
 */
export const DEFAULT_DELEVERAGE_TOLERANCE_FACTOR = 0.5

/**
 * One action the plan under construction takes, on sub-account index `sub`, in human units; a swap also carries its
 * route and expected output, and an amount that must equal others to the base unit (a withdrawal a swap sells) its
 * exact base units.
 */
export type Move = {
  kind: ActionKind
  sub: number
  pool: string | undefined
  asset: string
  decimals: number
  amount: number
  route?: string | undefined
  expectedOut?: number | undefined
  amountBase?: bigint | undefined
  /** A source taken for another sub-account's spend: that spend's move (see `PlanAction.paysFor`). */
  paysFor?: Move | undefined
  /** A spend: the part the idle balance pays, base units (see `PlanAction.idle`); undefined: not known. */
  idleBase?: bigint | undefined
  /** A `RepayWithCallback`: the part of its repayment its block's sales do not pay (see `PlanAction.brought`). */
  brought?: number | undefined
}

/** What a swap move carries beyond its amount (see {@link Move}). */
export type SwapMoveFields = Pick<Move, "route" | "expectedOut" | "amountBase" | "idleBase" | "brought">

/** What the solver decided about one sub-account before building anything: trigger, blocks, caps and the health to aim for. */
export type Account = {
  index: number
  epoch: EpochState
  h0: number
  /** Below its band (health < minHealth): a rescue, cap-bound when the caps fall short. */
  low: boolean
  high: boolean
  /**
   * Autopilot mode, policy `rescueBelowTarget` (issue 13): inside its band below the target, due for an in-band rescue
   * landing in the module's in-band zone (never cap-bound: that is for a sub-account below its band only). False in
   * threshold mode, without the flag, and when that zone (less the margins) is empty: then nothing lands, as on chain.
   */
  inBand: boolean
  blocked: string | undefined
  /**
   * A boost's landing floor (`SubAccountInput.boostFloorHealth`, the band rule's health) above its zone's top: no boost
   * lands (the boost step says so once the caps and the venue's room are checked, so a boost no cap or LTV room allows
   * is reported as that first).
   */
  floorBlocked?: string | undefined
  capTotal: number
  /** Set by the deleverage step when its rescue is cap-bound (`SubAccountOutcome.capBound`). */
  capBound?: boolean
  riskHealth: number
  tailFloor: number
  lo: number
  hi: number
  desired: number
  horizonYears: number
}

/**
 * Whether sub-accounts `i` and `k` share one venue LTV room: the same sub-account, or both with an LTV bound
 * (`ltvBorrowable`) on the same `ltvAccount` (one Aave account).
 */
export function sharesLtvRoom(subs: SolverInput["subAccounts"], i: number, k: number): boolean {
  if (i === k) return true
  const si = subs[i]?.state
  const sk = subs[k]?.state
  const account = si?.ltvAccount?.toLowerCase()
  return account !== undefined && si?.ltvBorrowable !== undefined && sk?.ltvBorrowable !== undefined && sk.ltvAccount?.toLowerCase() === account
}

/**
 * The venue's LTV room of sub-account `i` (loan-token units) once the sub-accounts sharing it ({@link sharesLtvRoom})
 * hold `collateral[k]` and owe `debt[k]`: `ltvBorrowable` (the room before the plan) plus `collateralLtv` x the value
 * of the collateral moved in (less a withdrawal's at full value, no gain), less 1 bps of the collateral's value when it
 * moved (what Aave's average LTV, a floor division, can lose), less the net borrows. Infinite without an LTV bound;
 * never negative. Used by the plan under construction ({@link WorkingPortfolio.ltvLeft}) and by the swap boosts
 * sized after it (solver.ts `withSwapBoost`).
 */
export function ltvRoomOf(subs: SolverInput["subAccounts"], i: number, collateral: ArrayLike<number>, debt: ArrayLike<number>): number {
  const s = subs[i]?.state
  if (s?.ltvBorrowable === undefined) return Number.POSITIVE_INFINITY
  let room = s.ltvBorrowable
  for (let k = 0; k < subs.length; k++) {
    if (!sharesLtvRoom(subs, i, k)) continue
    const sk = (subs[k] as SolverInput["subAccounts"][number]).state
    const moved = (collateral[k] as number) - sk.collateral
    const gain = moved === 0 ? 0 : (sk.collateralLtv ?? 0) * moved * sk.price - 1e-4 * Math.max(sk.collateral, collateral[k] as number) * sk.price
    room += Math.min(gain, moved > 0 ? Number.POSITIVE_INFINITY : 0) - ((debt[k] as number) - sk.debt)
  }
  return Math.max(0, room)
}

/** Sub-accounts (by index) the policy check made the solver leave out, as targets or as sources, with the reason. */
export type Exclusions = { targets: Map<number, string>; sources: Map<number, string> }

type Role = "target" | "source" | "none"

/** A copy of the working state, to undo a target's moves when its plan turns out invalid or not worth its cost. */
export type Checkpoint = {
  c: Float64Array
  d: Float64Array
  roles: Role[]
  reasons: string[]
  pools: YieldPool[]
  idle: Record<string, number>
  reserved: Record<string, number>
  moves: number
  loss: number
  touched: Set<string>
}

/**
 * Width of the aim {@link underTop} leaves when the top margin would empty it (health): 10 x {@link HEALTH_MARGIN}, so a
 * funding aimed `HEALTH_MARGIN` under the aim's top still lands at or over its floor.
 */
export const UNDER_TOP_WIDTH = 10 * HEALTH_MARGIN

/**
 * The top of a triggered sub-account's aim under its landing zone's top `zoneTop`: `max(zoneTop / growTop, target) -
 * HEALTH_MARGIN` (under it by `landingMarginTop`, after a gap) unless that is under the aim's floor `lo` while the landing
 * margin alone (`max(zoneTop / grow, target) - HEALTH_MARGIN`) leaves room: then `lo` + {@link UNDER_TOP_WIDTH} (within
 * that room). Since he63 a rescue's aim there is {@link centredAim}'s (whatever the repayment mode); this floor aim is
 * left for a boost and decides whether an in-band rescue's zone has room at all. The top margin never empties a zone the landing margin leaves room in (issue 13 stop 55, bk54's wick at the end of a noisy fall: an in-band rescue's
 * zone [target, zone top] is narrower than the two margins, so the margined solve planned nothing and the unmargined
 * fallback aimed at the zone's top, where the rebound lifted it over, HealthOutsideLandingZone; aimed at the floor, the
 * target x e^landingMargin, it lands). Not `lo` itself: the fundings aim `HEALTH_MARGIN` under the aim's top, so a zone
 * [lo, lo] is out of reach of every price-independent funding and the rescue became a sale (issue 13 stop 56, bk55's
 * noisy fall with a 3.7-scale outlier minute: "buffers could not (they reach 1.442)" against a 1.4415 zone; the sale,
 * sized for the price holding, reverted short a minute later and the next gap liquidated the autopilot where
 * threshold's pool rescue landed).
 *
 * @param lo - The aim's floor (health).
 * @param zoneTop - The landing zone's top (health).
 * @param target - The policy's target health.
 * @param grow - e^landingMargin (>= 1).
 * @param growTop - e^max(landingMargin, landingMarginTop) (>= grow).
 * @returns The aim's top (health).
 */
function underTop(lo: number, zoneTop: number, target: number, grow: number, growTop: number): number {
  const hiTop = Math.max(zoneTop / growTop, target) - HEALTH_MARGIN
  const top = Math.max(zoneTop / grow, target) - HEALTH_MARGIN
  return hiTop < lo && lo <= top ? Math.min(lo + UNDER_TOP_WIDTH, top) : hiTop
}

/**
 * Step 1, per sub-account: is it below or above its band (or, autopilot mode with policy `rescueBelowTarget`, inside it
 * below the target: an in-band rescue, issue 13), is it blocked (cooldown, epoch caps), how much may move, and which
 * health to aim for: the risk health (or the target in threshold mode) clipped into rule 3's interval (a triggered
 * sub-account's landing zone, at least half way from the breached edge to the target, an in-band rescue's at least the
 * target; any other sub-account only toward its target), shrunk by {@link HEALTH_MARGIN} and the landing margin (under a
 * triggered sub-account's zone top by `landingMarginTop` when larger: after a gap), then
 * paced towards the top of that interval as the epoch's rebalances run out.
 *
 * @returns The sub-account's {@link Account}.
 */
export function assessSubAccount(input: SolverInput, index: number): Account {
  const s = input.subAccounts[index] as SolverInput["subAccounts"][number]
  const mode = input.mode ?? "autopilot"
  const hysteresis = input.deleverageToleranceFactor ?? DEFAULT_DELEVERAGE_TOLERANCE_FACTOR
  const { costs, now } = input
  const p = s.policy
  const epoch = effectiveEpoch(s.epoch, p.epochLength, now)
  // The module's health before (Aave: its floored factor, below the frame; review brk17c F1) decides the trigger and the
  // landing zone; the moves are sized in the frame, so a lower edge is aimed at edge x up (Aave's factor is at least the
  // frame's x (1 - gap)) and an upper edge at the edge (Aave's factor never exceeds the frame's).
  const hf0 = healthOf(s.state)
  const h0 = venueHealthOf(s.state)
  const up = 1 / (1 - thresholdFloorGap(s.state))
  const low = h0 < p.minHealth
  const high = p.boostAllowed && h0 > p.maxHealth
  const grow = Math.exp(Math.max(0, s.landingMargin ?? 0))
  // Under a triggered sub-account's zone top: the larger top margin after a gap (`landingMarginTop`, a rebound).
  const growTop = Math.max(grow, Math.exp(Math.max(0, s.landingMarginTop ?? 0)))
  const t = p.targetHealth
  // Issue 13, the in-band rescue (module `_trigger` with rescueBelowTarget): autopilot mode only, and only when the
  // in-band landing zone has room once the landing margins are taken (it is empty close under the target when the lower
  // band is wider than the upper one: the module lands nothing there, the keeper waits for a lower health).
  let inBand = false
  let inBandZone: [number, number] = [0, 0]
  // Only below the band rule's health when it is known (`boostFloorHealth`, the shadow): the autopilot rescues in band
  // where a band-rule position would be higher, not on every dip under the target (helper bk50: a 12 % swing rescued in
  // band on each dip and boosted back on each return spent the epoch's counts, and a no-idle trader lost 45,000 in
  // round trips where threshold, inside its band, did nothing).
  // At or below it: a position no safer than the band rule's (the band rule run on the path: equal until the autopilot
  // first acts otherwise) is rescued in band, then rests above it (its boosts land over it by the landing margin).
  const underShadow = s.boostFloorHealth === undefined || h0 <= s.boostFloorHealth
  if (mode === "autopilot" && inBandTrigger(p, h0) && underShadow) {
    const [zl, zh] = inBandAimZone(p, h0)
    const zlo = zl * grow * up + HEALTH_MARGIN
    inBandZone = [zlo, underTop(zlo, zh, t, grow, growTop)]
    inBand = inBandZone[0] <= inBandZone[1]
  }
  const rescue = low || inBand
  let blocked: string | undefined
  // Module (review rr13t T1): a rescue from below minHealth while the on-chain stop is engaged is exempt from the cooldown.
  const rescueUnderStop = low && p.exitHealth !== undefined && stopEngaged({ state: s.state, policy: p })
  if (!rescueUnderStop && s.epoch.lastRebalance !== undefined && now < s.epoch.lastRebalance + p.cooldown) blocked = `cooling down (${now - s.epoch.lastRebalance} s of ${p.cooldown} s)`
  // Module: only a due sub-account spends a rebalance, so a capped one can still give (toward its target).
  else if ((rescue || high) && epoch.rebalancesInEpoch + 1 > p.maxRebalancesPerEpoch) blocked = `epoch rebalance cap ${p.maxRebalancesPerEpoch} reached`
  else if (epoch.gasInEpoch + costs.baseGas > p.maxGasPerEpoch) blocked = "epoch gas cap reached"
  const capTotal = Math.max(0, Math.min(p.maxAmountPerRebalance, p.maxAmountPerEpoch - epoch.amountInEpoch)) * CAP_SLACK
  if (!blocked && capTotal <= 0) blocked = "epoch amount cap reached"
  const horizonYears = p.horizon / SECONDS_PER_YEAR
  const tailFloor = mode === "threshold" ? 0 : policyTailFloorHealth(s.risk, p)
  const riskHealth = mode === "threshold" ? p.targetHealth : policyRiskHealth(rescue ? p.tolerance * hysteresis : p.tolerance, s.risk, horizonYears, p)
  // Rule 3: a triggered sub-account lands in its landing zone; any other only moves toward its target, not past it.
  // `landingMargin` keeps the aim that far inside those limits, for the price move until inclusion. An in-band rescue's
  // zone starts at or above the target (its lower edge is not capped at the target as a below-band one's is).
  const [zoneLow, zoneHigh] = low || high ? landingZone(p, h0) : [p.minHealth, p.maxHealth]
  let lo = inBand ? inBandZone[0] : low || high ? Math.min(zoneLow * grow, t) * up + HEALTH_MARGIN : h0 >= t ? Math.min(t * grow * up, hf0) + HEALTH_MARGIN : h0 * up
  let hi = inBand ? inBandZone[1] : low || high ? underTop(lo, zoneHigh, t, grow, growTop) : h0 >= t ? h0 : Math.max(t / grow, h0 * up) - HEALTH_MARGIN
  if (!p.boostAllowed) lo = Math.max(lo, h0 * up)
  if (!Number.isFinite(hi)) hi = p.maxHealth - HEALTH_MARGIN
  // Issue 13 (helper he62; he63: whatever the repayment mode and venue): a rescue whose landing margins meet aims at its
  // zone's centre.
  if (low || inBand) {
    const [zl, zh] = inBand ? inBandAimZone(p, h0) : [zoneLow, zoneHigh]
    const centred = centredAim({ zl, zh, t, up, inBand, m: s.landingMargin ?? 0, mTop: s.landingMarginTop ?? 0 })
    if (centred !== undefined) [lo, hi] = centred
  }
  // Issue 13 (helper s50): a boost lands at or above the band rule's health on the same prices (`boostFloorHealth`,
  // the keeper's `BandRuleShadow`) by the landing margin; none when the zone's top is under that floor.
  const floor = s.boostFloorHealth
  let floorBlocked: string | undefined
  if (high && floor !== undefined && floor > 0 && Number.isFinite(floor)) {
    const floorLo = floor * grow * up + HEALTH_MARGIN
    if (floorLo > hi) floorBlocked = `boost floor ${floorLo.toFixed(4)} (band rule's health ${floor.toFixed(4)}) above the landing zone's top ${hi.toFixed(4)}`
    lo = Math.max(lo, Math.min(floorLo, hi))
  }
  // An in-band rescue's zone starts at the target, where the risk health often is (the tail floor): aimed a margin above
  // its lower edge, so the funding's rounding does not leave it under (a below-band zone's edge is below the target).
  const clipped = Math.min(Math.max(riskHealth * up, inBand ? lo + HEALTH_MARGIN : lo), hi)
  const budgetUsed = mode === "autopilot" && rescue ? rescuePace(epoch.rebalancesInEpoch, p, now) : 0
  const desired = clipped + budgetUsed * Math.max(0, hi - clipped)
  return { index, epoch, h0, low, high, inBand, blocked, floorBlocked, capTotal, riskHealth, tailFloor, lo, hi, desired, horizonYears }
}

/**
 * The aim [lo, hi] (health) of a rescue whose landing margins meet (issue 13, helper he62; he63: whatever the repayment
 * mode and venue): the landing zone's geometric centre `sqrt(zl x up x zh)`, {@link UNDER_TOP_WIDTH} wide. They meet when the zone
 * [zl, zh] less the margin over its floor (`m`, log-health; capped at the target `t` below the band, as
 * {@link assessSubAccount}'s floor) and under its top (the larger of `m` and `mTop`; never under the target, as
 * {@link underTop}) is empty: the gap rule's top margin (`landingMarginTop`, 0.098 on the default band) against an
 * in-band zone [1.4, 1.55], or a 2-sigma margin after a gap. Before, such a rescue was aimed at the margined floor
 * ({@link underTop}, zl x e^m): the backtester fills it 60 s after the decision (the margin covers the live 24 s), and a
 * fall of 2-3 % in that minute landed it under the floor (`HealthOutsideLandingZone`), where the next minute's gap
 * liquidated it and threshold's wider below-band rescue landed (bk58's chains 1076 and 1621 buffered, 1076 no-idle).
 * Measured (bk58's chains 1-2,600): autopilot-only buffered 4 -> 2 (913 and 2134 left), no-idle 2 -> 1 (1938 left),
 * liquidated paths 206 -> 204 and 109 -> 109, final equity +82,140 and +37,562; the one-minute suites unchanged
 * (no-idle +5 per path). Its cost: bk54's buffered wick class (skipped, FAILS TODAY) 3 -> 5 of 135 paths, two wicks
 * taking back 60 % of a -10 % gap the next minute, where the centred aim lands over the top and the floor's did not.
 *
 * he62 took it under the sale-minimum repayment only (on a venue without a flash premium), which the backtester and the
 * keeper set only with swaps enabled (review rv62 M2); helper he63 measured it without (the rescues it decides are pool
 * rescues as often as sales: 1076 and 1621 above were pool rescues). bk58's chains 1-2,600 with `swap.enabled: false`:
 * buffered autopilot-only 3 -> 0 (1076, 1621, 2167), liquidated paths 190 -> 186, none newly liquidated, rejected
 * operations 365 -> 288, final equity +13,609 (no-idle: no pool to rescue from, unchanged); with the fixed take
 * (`swap.repayment: "amount"`) buffered 12 -> 10 (1076, 1621; none new), 193 -> 189, -22,823 of final equity (-0.01 %),
 * no-idle 10 -> 10 (the same ten), 283 -> 282, +9,877; the default unchanged (on Morpho Blue the mode already took
 * it: 204 / 2 and 109 / 1 as before); the swap-less one-minute suite (buffered, 1,100 paths) identical but depeg's carry (pool fees +4, gas +3).
 * Its cost is he62's, now also without the mode: bk54's buffered wick class swaps off 2 -> 4 of 135, fixed take 3 -> 5
 * (the same two wicks, seeds 1 and 2 at +-3 %, -10 %, 60 % taken back, -20 %); bk53's wick grid (450 paths) unchanged.
 *
 * Not the elasticity of a sale's landing health under the mode (e = 1 + sold part of the repayment / debt after) in the
 * margins, though that is the mechanism's scale (hb61): measured in the margins (e x m on both sides, the centre where
 * they meet: buffered autopilot-only 2 but liquidated paths 206 -> 242; no-idle 2 -> 4, 109 -> 130, -534,058 of final
 * equity), on the floor only, or only to decide when the margins meet (buffered 1, 209, -84,171; no-idle 2, 113), it
 * did worse: the zone's log-width, 0.10, is about a 5 % price window at e = 1, and at e = 1.5-2 a 3 % one, so any aim
 * is a draw against one-minute moves of 3-7 %; wider margins only moved which side missed (no-idle 204: over the top
 * twice as the price rebounded, then under the floor).
 *
 * @returns The centred aim, or undefined when the margins leave room (the aim is as before) or there are none.
 */
export function centredAim(a: { zl: number; zh: number; t: number; up: number; inBand: boolean; m: number; mTop: number }): [number, number] | undefined {
  const { zl, zh, t, up, inBand } = a
  const m = Math.max(0, a.m)
  const mTop = Math.max(m, a.mTop)
  if (!(mTop > 0) || !Number.isFinite(mTop)) return undefined
  const lo = (inBand ? zl * Math.exp(m) : Math.min(zl * Math.exp(m), t)) * up + HEALTH_MARGIN
  const hi = Math.max(zh * Math.exp(-mTop), t) - HEALTH_MARGIN
  if (lo <= hi) return undefined
  const centre = Math.sqrt(zl * up * zh)
  return [centre - UNDER_TOP_WIDTH / 2, centre + UNDER_TOP_WIDTH / 2]
}

/**
 * Every sub-account of `input` assessed ({@link assessSubAccount}), in input order. Pure: the same input gives equal
 * accounts.
 */
export function assessAll(input: SolverInput): readonly Account[] {
  return input.subAccounts.map((_, i) => assessSubAccount(input, i))
}

/**
 * How far (0..1) a rescue's goal moves from the risk health toward the top of its landing zone, so a fall that spends
 * the epoch's rebalances fast does not run out of them near liquidation: by the epoch's rebalances this one would bring
 * it to at the epoch's pace so far, `projected = used x epochLength / elapsed + 1` (`used`: rebalances already in the
 * epoch; `elapsed`: seconds since the aligned epoch began, at least the cooldown, at least 1), the share
 * `clamp(2 x projected / maxRebalancesPerEpoch - 1, 0, 1)`: 0 while the pace projects at most half of
 * `maxRebalancesPerEpoch`, 1 at the whole of it (and always for the epoch's last rebalance: projected >= used + 1).
 * Before (counted from the first rebalance: `(used + 1) / maxRebalancesPerEpoch`, review rr13u U2) the second rescue
 * of a slow bleed already landed 8.6 % of the way up (1.416 against threshold's 1.400); its next trigger then came one
 * oracle step or more after threshold's, and a wick in that lag caught it at the band's floor while threshold had just
 * re-landed at the target.
 *
 * @param used - Rebalances already charged in the current epoch ({@link effectiveEpoch}).
 * @param p - The sub-account's policy (`maxRebalancesPerEpoch`, `epochLength`, `cooldown`).
 * @param now - Unix seconds of the decision.
 * @returns The share in [0, 1].
 */
export function rescuePace(used: number, p: Pick<Policy, "maxRebalancesPerEpoch" | "epochLength" | "cooldown">, now: number): number {
  const elapsed = Math.max(1, p.cooldown, now - Math.floor(now / p.epochLength) * p.epochLength)
  const projected = (used * p.epochLength) / Math.min(elapsed, p.epochLength) + 1
  return Math.min(1, Math.max(0, (2 * projected) / p.maxRebalancesPerEpoch - 1))
}

/**
 * The portfolio as the plan under construction leaves it: collateral and debt per sub-account (their net change is what
 * the amount caps charge), pools, idle balances, slippage paid, the moves so far and each sub-account's role. Every move goes through
 * {@link WorkingPortfolio.push}, which applies it as the module would; a target's moves can be undone with a checkpoint.
 */
export class WorkingPortfolio {
  readonly subs: SolverInput["subAccounts"]
  readonly n: number
  readonly collateral: Float64Array
  readonly debt: Float64Array
  readonly roles: Role[]
  readonly reasons: string[]
  readonly pools: YieldPool[]
  readonly idle: Record<string, number>
  /** Idle balances the plan must not spend (a swap's drift margin), by asset. */
  readonly reserved: Record<string, number> = {}
  readonly moves: Move[] = []
  readonly touchedPools = new Set<string>()
  readonly accounts: Account[]
  /** Whether no two sub-accounts of the input share an id (`lossState` lists them by id). */
  readonly uniqueIds: boolean
  slippageLoss = 0
  /**
   * Index of the first move whose plain `Repay`s are still to be folded into the target's one repayment (emitted after
   * every withdrawal and borrow of that target: `fund` in planSteps.ts); undefined outside a deleverage's funding.
   * {@link ltvLeft} credits no such repayment to the LTV room.
   */
  pendingRepaysFrom: number | undefined = undefined

  /**
   * @param assessed - Every sub-account's {@link assessSubAccount} of `input`, in input order: computed here when not
   * given. One solve builds a working portfolio per rule-book attempt and per "fits alone" trial (10-40 for 50
   * sub-accounts) from the same input; it assesses once ({@link assessAll}) and hands the result to each, which works on
   * its own copies (the steps change `capTotal` and `capBound`).
   */
  constructor(
    readonly input: SolverInput,
    readonly loanAsset: string,
    readonly exclusions: Exclusions,
    readonly assessed: readonly Account[] = assessAll(input),
  ) {
    this.subs = input.subAccounts
    this.n = this.subs.length
    this.collateral = new Float64Array(this.subs.map((s) => s.state.collateral))
    this.debt = new Float64Array(this.subs.map((s) => s.state.debt))
    this.roles = new Array(this.n).fill("none")
    this.reasons = new Array(this.n).fill("")
    this.pools = input.pools.map((p) => ({ ...p }))
    this.idle = { ...input.idle }
    this.accounts = assessed.map((a) => ({ ...a }))
    this.uniqueIds = new Set(this.subs.map((s) => s.state.id)).size === this.n
  }

  get mode(): NonNullable<SolverInput["mode"]> {
    return this.input.mode ?? "autopilot"
  }

  sub(i: number): SolverInput["subAccounts"][number] {
    return this.subs[i] as SolverInput["subAccounts"][number]
  }

  account(i: number): Account {
    return this.accounts[i] as Account
  }

  /** Health of sub-account `i` in the working state. */
  health(i: number): number {
    const s = this.sub(i).state
    const d = this.debt[i] as number
    return d > 0 ? ((this.collateral[i] as number) * s.price * s.lltv) / d : Number.POSITIVE_INFINITY
  }

  /**
   * Net change of sub-account `i`'s position so far, as the module charges it to the amount caps: |collateral change|
   * valued at the pre-trade price + |debt change| (loan units). Pool actions and round trips cost nothing.
   */
  netMoved(i: number): number {
    const s = this.sub(i).state
    return Math.abs((this.collateral[i] as number) - s.collateral) * s.price + Math.abs((this.debt[i] as number) - s.debt)
  }

  /** Net change sub-account `i`'s position may still make in this plan (per-rebalance and epoch caps). */
  capLeft(i: number): number {
    return this.account(i).capTotal - this.netMoved(i)
  }

  /**
   * What sub-account `i` can still borrow at this point of the plan: its market's `borrowable` and its venue's LTV room
   * at this point ({@link ltvLeft}), net of this plan's borrows and repays.
   */
  borrowLeft(i: number): number {
    return Math.min(this.liquidityLeft(i), this.ltvLeft(i))
  }

  /** What sub-account `i`'s market can still lend in this plan (its `borrowable`, net of this plan's borrows and repays). */
  liquidityLeft(i: number): number {
    const s = this.sub(i).state
    if (s.borrowable === undefined) return Number.POSITIVE_INFINITY
    return Math.max(0, s.borrowable - ((this.debt[i] as number) - s.debt))
  }

  /**
   * The venue's LTV room of sub-account `i` at this point of the plan IN THE ORDER THE PLAN EMITS IT (Aave's
   * validateBorrow counts the collateral held and the debt owed at the borrow): {@link ltvRoomOf} over the working
   * collateral and debt, less the plain repayments not yet emitted (those from {@link pendingRepaysFrom} on: `fund`
   * folds a target's idle-, pool- and donor-funded repayments into ONE Repay after all its withdrawals and borrows, so at
   * a donor's borrow Aave has been repaid none of them; review rr11 R4). Infinite without an LTV bound.
   */
  ltvLeft(i: number): number {
    const s = this.sub(i).state
    if (s.ltvBorrowable === undefined) return Number.POSITIVE_INFINITY
    let pending = 0
    if (this.pendingRepaysFrom !== undefined)
      for (let k = this.pendingRepaysFrom; k < this.moves.length; k++) {
        const m = this.moves[k] as Move
        if (m.kind === "Repay" && sharesLtvRoom(this.subs, i, m.sub)) pending += m.amount
      }
    return Math.max(0, ltvRoomOf(this.subs, i, this.collateral, this.debt) - pending)
  }

  /** Whether the venue's LTV room, not its market's liquidity, is what bounds sub-account `i`'s next borrow. */
  ltvBinds(i: number): boolean {
    return this.ltvLeft(i) < this.liquidityLeft(i)
  }

  /** Collateral sub-account `i`'s venue still accepts in this plan (its `suppliable`, net of this plan's supplies and withdrawals). */
  supplyLeft(i: number): number {
    const s = this.sub(i).state
    if (s.suppliable === undefined) return Number.POSITIVE_INFINITY
    return Math.max(0, s.suppliable - ((this.collateral[i] as number) - s.collateral))
  }

  /**
   * Collateral sub-account `i`'s venue still lets go in this plan: its `withdrawable` and the Safe's own balance of the
   * asset (`collateralHeld`, an Aave account with several collateral reserves), net of this plan's withdrawals and supplies.
   */
  withdrawLeft(i: number): number {
    const s = this.sub(i).state
    const net = s.collateral - (this.collateral[i] as number)
    const venue = s.withdrawable === undefined ? Number.POSITIVE_INFINITY : Math.max(0, s.withdrawable - net)
    const held = s.collateralHeld === undefined ? Number.POSITIVE_INFINITY : Math.max(0, s.collateralHeld - net)
    return Math.min(venue, held)
  }

  /**
   * Debt (loan-token units) sub-account `i`'s venue still takes as repayment in this plan: min(`debt`, `repayableDebt`,
   * `repayable`) net of this plan's repayments (Aave v3: the account-wide `debt` overstates what a repayment of this
   * reserve clears, `repayableDebt`, and the rule book counts a repayment only up to it). Every repayment route (idle,
   * pools, donors, the swap's callback) is capped by it.
   */
  repayLeft(i: number): number {
    const s = this.sub(i).state
    const repaid = s.debt - (this.debt[i] as number)
    const bound = Math.min(s.repayable ?? Number.POSITIVE_INFINITY, s.repayableDebt ?? Number.POSITIVE_INFINITY)
    // The float room carries the rounding of `debt - repaid` (a few ulps of the debt: 1.8e-12 at 8,854, i.e. 1.8e6 wei
    // at 18 decimals, review rr11 R5); the exact room in base units decides, and what is left below the floats'
    // resolution is no room (no dust source is created for it).
    const exact = this.repayRoomBase(i)
    const room = Number(exact) / 10 ** s.loanDecimals
    if (room <= 4 * Number.EPSILON * s.debt) return 0
    return Math.max(0, Math.min(this.debt[i] as number, bound - repaid, room))
  }

  /**
   * What sub-account `i`'s repayments may still add in this plan, loan-token base units: the rule book's bound
   * (min(`debt`, `repayableDebt`, `repayable`), each converted as `toRuleInput` converts it: policyRules'
   * `toBaseUnits`, the decimal the float prints as, not the plan's floor(x x 10^d)) less the
   * base amounts of this plan's repayments of `i` so far (`amountBase`, else `toBaseUnits(amount)`). The rule book
   * counts a repayment only up to that bound (the rest is not spent: PoolNotUsed / IdleInflow for the sources that
   * funded it), so every repayment's base amount is held to it ({@link repayBase}).
   *
   * @returns A base amount, never negative.
   */
  repayRoomBase(i: number): bigint {
    const s = this.sub(i).state
    let bound = ruleBaseUnits(s.debt, s.loanDecimals)
    for (const cap of [s.repayableDebt, s.repayable]) {
      if (cap === undefined) continue
      const base = ruleBaseUnits(cap, s.loanDecimals)
      if (base < bound) bound = base
    }
    for (const m of this.moves) {
      if (m.sub !== i || (m.kind !== "Repay" && m.kind !== "RepayWithCallback")) continue
      bound -= m.amountBase ?? toBaseUnits(m.amount, m.decimals)
    }
    return bound > 0n ? bound : 0n
  }

  /**
   * The base amount of a repayment of `amount` (loan-token units) on sub-account `i` at this point of the plan, and of
   * the source that funds it: `toBaseUnits(amount)`, held to `atMost` (a pool's exact bound) and to
   * {@link repayRoomBase}, so the sum of a repayment's sources never exceeds the rule book's bound.
   */
  repayBase(i: number, amount: number, atMost?: bigint): bigint {
    let base = toBaseUnits(amount, this.sub(i).state.loanDecimals)
    if (atMost !== undefined && atMost < base) base = atMost
    const room = this.repayRoomBase(i)
    return room < base ? room : base
  }

  /**
   * The largest withdrawal from `pool` the exact rule book accepts at this point of the plan (issue 11 item 1): the
   * largest base amount `a` whose gross, `a` plus the exit fee rounded up (ceil(a x feeBps / 10,000), feeBps the
   * pool's `slippageBps` rounded as `toRuleInput` does, RebalanceLib's `mulDivUp`), fits in the Safe's position
   * (floor of min(`balance`, `withdrawable`) of the input, base units) net of the gross of this plan's earlier
   * withdrawals from it. Sizing a withdrawal at `withdrawable / (1 + slip)` in floats can ask a wei more (ActionFailed).
   *
   * @returns `base`: that amount in base units of the pool's asset; `amount`: the same in human units (rounded down, so
   *   `toBaseUnits(amount)` never exceeds `base` by more than the float's error; encode `base` itself).
   */
  poolWithdrawBound(pool: YieldPool): { base: bigint; amount: number } {
    const original = this.input.pools.find((p) => p.address === pool.address) ?? pool
    const feeBps = BigInt(Math.round(original.slippageBps ?? 0))
    const gross = (a: bigint): bigint => a + (a * feeBps + 9_999n) / 10_000n
    let held = toBaseUnits(Math.min(original.balance, original.withdrawable), original.decimals)
    for (const m of this.moves) {
      if (m.kind !== "WithdrawFromPool" || m.pool !== pool.address) continue
      held -= gross(m.amountBase ?? toBaseUnits(m.amount, m.decimals))
    }
    if (held <= 0n) return { base: 0n, amount: 0 }
    let base = (held * 10_000n) / (10_000n + feeBps)
    while (base > 0n && gross(base) > held) base--
    return { base, amount: Number(base) / 10 ** original.decimals }
  }

  slipOf(pool: YieldPool): number {
    return (pool.slippageBps ?? 0) / 10_000
  }

  /** Sub-accounts in the order the plan touches them (moves first, then roles, then `extra`): the module's valuation order. */
  touchedOrder(extra: readonly number[]): number[] {
    const order: number[] = []
    const seen = new Uint8Array(this.n)
    const add = (i: number) => {
      if (seen[i] === 1) return
      seen[i] = 1
      order.push(i)
    }
    for (const m of this.moves) add(m.sub)
    for (let i = 0; i < this.n; i++) if (this.roles[i] !== "none") add(i)
    for (const i of extra) add(i)
    return order
  }

  /** The loan-asset price of `asset` as the module values it: the oracle of the first touched sub-account using it. */
  valuationPrice(asset: string, sub: number): number {
    if (asset === this.loanAsset) return 1
    for (const k of this.touchedOrder([sub])) {
      const st = this.sub(k).state
      if (st.collateralAsset === asset) return st.price
    }
    return this.priceOfAsset(asset)
  }

  priceOfAsset(asset: string): number {
    if (asset === this.loanAsset) return 1
    for (const s of this.subs) if (s.state.collateralAsset === asset) return s.state.price
    throw new SolverInputError(`no price for asset ${asset}`)
  }

  /**
   * Loss limits (rules 5 and 6): the plan's loss (net value drop, slippage here) must stay within the smallest
   * maxLossBps of what the due positions move, and within every touched sub-account's remaining epoch budget
   * (maxEpochLossBps of its equity, minus what the epoch already lost), if it also touched `extraSubs` and `extraPool`.
   * Rates keep 0.1 % of each limit back for rounding.
   */
  lossState(extraSubs: readonly number[], extraPool: string | undefined): { rate: number; moved: number; loss: number; epochRoom: number } {
    const { input, loanAsset } = this
    const ids: string[] = []
    let bps = Number.POSITIVE_INFINITY
    let epochRoom = Number.POSITIVE_INFINITY
    let into = 0
    let out = 0
    const order = this.touchedOrder(extraSubs)
    for (const i of order) {
      const s = this.sub(i)
      ids.push(s.state.id)
      bps = Math.min(bps, s.policy.maxLossBps)
      const equity = s.state.equity ?? s.state.collateral * s.state.price - s.state.debt
      const remaining = (s.policy.maxEpochLossBps ?? 10_000) / 10_000 - (this.account(i).epoch.lossPpbInEpoch ?? 0) / 1e9
      epochRoom = Math.min(epochRoom, equity > 0 ? Math.max(0, remaining) * equity : 0)
      // The module's allowance counts only due sub-accounts' moves (RebalanceLib._settle); the solver's due moves stay
      // inside their landing zones, so inside each one's cap (HealthLib.maxMoveToHealth).
      const account = this.account(i)
      if (!account.low && !account.high && !account.inBand) continue
      const dc = ((this.collateral[i] as number) - s.state.collateral) * s.state.price
      const dd = (this.debt[i] as number) - s.state.debt
      if (dc > 0) into += dc
      else out -= dc
      if (dd < 0) into -= dd
      else out += dd
    }
    const poolSet = new Set(this.touchedPools)
    if (extraPool !== undefined) poolSet.add(extraPool)
    const pools = [...poolSet]
    // `netValue` reads only the sub-accounts whose id is touched (`ids`), each found by id (the first in list order), so
    // both states list only those: the same values in the same order as the whole list, without a copy of every
    // sub-account per call (the plan benchmark, 50 sub-accounts x 20 pools, makes 700 of these calls per solve). With
    // unique ids (`uniqueIds`) the touched ones are listed in touched order; else in input order, so a repeated id still
    // finds the input's first.
    const listed = this.uniqueIds ? order : this.inputOrder(new Set(ids))
    const preSubs: PortfolioState["subAccounts"] = []
    const workSubs: PortfolioState["subAccounts"] = []
    for (const k of listed) {
      const state = this.sub(k).state
      preSubs.push(state)
      workSubs.push({ ...state, collateral: this.collateral[k] as number, debt: this.debt[k] as number })
    }
    const pre: PortfolioState = { subAccounts: preSubs, pools: input.pools, idle: input.idle }
    const work: PortfolioState = { subAccounts: workSubs, pools: this.pools, idle: this.idle }
    const valueBefore = netValue(pre, loanAsset, ids, pools)
    const drop = valueBefore - netValue(work, loanAsset, ids, pools)
    // Float noise of an exactly value-preserving plan is no loss (the module compares integers).
    const loss = drop > Math.abs(valueBefore) * 1e-12 ? drop : 0
    return { rate: Number.isFinite(bps) ? (bps / 10_000) * 0.999 : Number.POSITIVE_INFINITY, moved: Math.max(into, out), loss, epochRoom: epochRoom * 0.999 }
  }

  /** Indices (input order) of the sub-accounts whose id is in `ids`. */
  private inputOrder(ids: ReadonlySet<string>): number[] {
    const listed: number[] = []
    for (let k = 0; k < this.n; k++) if (ids.has(this.sub(k).state.id)) listed.push(k)
    return listed
  }

  /** Net value the plan may still lose under both loss limits (negative: over) if it also touched `extraSubs` and `extraPool`. */
  lossBudget(extraSubs: readonly number[], extraPool: string | undefined): number {
    const { rate, moved, loss, epochRoom } = this.lossState(extraSubs, extraPool)
    return Math.min(rate * moved - loss, epochRoom - loss)
  }

  /**
   * Most loan value a pool action with slippage `slip` may carry: `movesPosition` when the same value then goes into a
   * position (withdraw then repay or supply), which raises the per-rebalance allowance by `rate` per unit.
   */
  slipRoom(slip: number, movesPosition: boolean, extraSubs: readonly number[], extraPool: string): number {
    if (slip <= 0) return Number.POSITIVE_INFINITY
    const { rate, moved, loss, epochRoom } = this.lossState(extraSubs, extraPool)
    const perRebalance = movesPosition ? (slip <= rate ? Number.POSITIVE_INFINITY : (rate * moved - loss) / (slip - rate)) : (rate * moved - loss) / slip
    // Kept a millionth inside the room, so float rounding of the loss cannot put a plan sized to the limit just over it.
    return Math.max(0, Math.min(perRebalance, (epochRoom - loss) / slip)) * (1 - 1e-6)
  }

  /**
   * Appends a move and applies it to the working state (balances, caps, pools with their slippage, a swap's fee and
   * impact). A callback block's repayment (`RepayWithCallback`) applies at once, as the venue collects it at the block's
   * end; `EndCallback` changes nothing.
   */
  push(kind: ActionKind, sub: number, amount: number, pool?: YieldPool, swap?: SwapMoveFields): Move {
    const { idle, debt, collateral } = this
    const s = this.sub(sub).state
    const onCollateral = kind === "SupplyCollateral" || kind === "WithdrawCollateral" || kind === "SellCollateral"
    const asset = pool !== undefined ? pool.asset : onCollateral ? s.collateralAsset : s.loanAsset
    const decimals = pool !== undefined ? pool.decimals : onCollateral ? s.collateralDecimals : s.loanDecimals
    const move: Move = { kind, sub, pool: pool?.address, asset, decimals, amount, ...swap }
    this.moves.push(move)
    const assetValue = onCollateral ? s.price : this.valuationPrice(asset, sub)
    switch (kind) {
      case "SellCollateral": {
        const out = swap?.expectedOut ?? amount * s.price
        idle[asset] = (idle[asset] ?? 0) - amount
        idle[s.loanAsset] = (idle[s.loanAsset] ?? 0) + out
        this.slippageLoss += amount * this.valuationPrice(asset, sub) - out
        break
      }
      case "RepayWithCallback":
      case "Repay": {
        debt[sub] = Math.max(0, (debt[sub] as number) - amount)
        // A flash-funded callback (Aave) pulls the repayment plus the premium on it: value that leaves the Safe.
        const premium = kind === "RepayWithCallback" ? (amount * (s.flashPremiumBps ?? 0)) / 10_000 : 0
        idle[asset] = (idle[asset] ?? 0) - amount - premium
        this.slippageLoss += premium * assetValue
        break
      }
      case "Borrow":
        debt[sub] = (debt[sub] as number) + amount
        idle[asset] = (idle[asset] ?? 0) + amount
        break
      case "SupplyCollateral":
        collateral[sub] = (collateral[sub] as number) + amount
        idle[asset] = (idle[asset] ?? 0) - amount
        break
      case "SupplyCollateralWithCallback": {
        // The supply plus the flash premium on it (Aave; 0 on Morpho), in the collateral token.
        const premium = (amount * (s.flashPremiumBps ?? 0)) / 10_000
        collateral[sub] = (collateral[sub] as number) + amount
        idle[s.collateralAsset] = (idle[s.collateralAsset] ?? 0) - amount - premium
        this.slippageLoss += premium * s.price
        break
      }
      case "WithdrawCollateral":
        collateral[sub] = (collateral[sub] as number) - amount
        idle[asset] = (idle[asset] ?? 0) + amount
        break
      case "WithdrawFromPool":
      case "DepositToPool": {
        const p = pool as YieldPool
        const slip = this.slipOf(p)
        this.touchedPools.add(p.address)
        this.slippageLoss += amount * slip * assetValue
        if (kind === "WithdrawFromPool") {
          p.balance -= amount * (1 + slip)
          p.withdrawable -= amount * (1 + slip)
          idle[asset] = (idle[asset] ?? 0) + amount
        } else {
          p.balance += amount * (1 - slip)
          p.withdrawable += amount * (1 - slip)
          idle[asset] = (idle[asset] ?? 0) - amount
        }
        break
      }
    }
    return move
  }

  /**
   * Takes back this plan's plain repayments of sub-account `sub` from move `from` on (their loan token returns to the
   * idle balance, their debt is restored; the caps follow the net change), so a callback block can carry them in its own repayment.
   *
   * @returns The loan token taken back, and its base units: the sum of each repayment's own (each equals the source
   *   that funded it, floored alike), not the float sum floored once, which can ask a unit more per source than they
   *   bring (ActionFailed) or, at 18 decimals, leave some of it idle (IdleInflow); `idleBase` the sum of their idle
   *   parts (base units; undefined when one of them has none known); `moves` the repayments taken back (the sources
   *   taken for them are pointed at the repayment that carries them: {@link carryFolded}).
   */
  foldRepays(sub: number, from: number): { amount: number; amountBase: bigint; idleBase: bigint | undefined; moves: Move[] } {
    let amount = 0
    let amountBase = 0n
    let idleBase: bigint | undefined = 0n
    const moves: Move[] = []
    for (let k = this.moves.length - 1; k >= from; k--) {
      const m = this.moves[k] as Move
      if (m.kind !== "Repay" || m.sub !== sub) continue
      this.moves.splice(k, 1)
      this.debt[sub] = (this.debt[sub] as number) + m.amount
      this.idle[m.asset] = (this.idle[m.asset] ?? 0) + m.amount
      amount += m.amount
      amountBase += m.amountBase ?? toBaseUnits(m.amount, m.decimals)
      idleBase = idleBase === undefined || m.idleBase === undefined ? undefined : idleBase + m.idleBase
      moves.push(m)
    }
    return { amount, amountBase, idleBase, moves }
  }

  /**
   * Points every source from move `from` on that was taken for one of the `folded` repayments ({@link foldRepays}) at
   * `into`, the repayment that now carries them (the target's one folded `Repay` or its callback's `RepayWithCallback`),
   * so the plan says which spend each donor's borrow pays (`PlanAction.paysFor`).
   */
  carryFolded(folded: readonly Move[], into: Move, from: number): void {
    for (let k = from; k < this.moves.length; k++) {
      const m = this.moves[k] as Move
      if (m.paysFor !== undefined && folded.includes(m.paysFor)) m.paysFor = into
    }
  }

  /** What the plan may still spend of its idle `asset`: the idle balance less what is reserved. */
  spendable(asset: string): number {
    return Math.max(0, (this.idle[asset] ?? 0) - (this.reserved[asset] ?? 0))
  }

  /** Keeps `amount` of idle `asset` out of what later moves of this plan may spend. */
  reserve(asset: string, amount: number): void {
    if (amount > 0) this.reserved[asset] = (this.reserved[asset] ?? 0) + amount
  }

  /** Selling routes of sub-account `i` for a swap deleverage: its `swap` curve, then its `swapRoutes`. */
  sellCurves(i: number): SwapCurve[] {
    const s = this.sub(i)
    return s.swap === undefined ? [] : [s.swap, ...(s.swapRoutes ?? [])]
  }

  /**
   * `probe`'s answer on the working state with a `Borrow` of `amount` by sub-account `sub` appended, which is then taken
   * back exactly (its debt, the idle loan token, the move list: all a `Borrow` changes). The same as
   * {@link checkpoint}, `push("Borrow", ...)`, `probe()`, {@link restore}, without copying the whole state per probe
   * (a boost's bisection probes up to 41 times). `probe` must not change the working state.
   */
  withBorrow<T>(sub: number, amount: number, probe: () => T): T {
    const asset = this.sub(sub).state.loanAsset
    const debt = this.debt[sub] as number
    const had = Object.hasOwn(this.idle, asset)
    const idle = this.idle[asset]
    const moves = this.moves.length
    this.push("Borrow", sub, amount)
    try {
      return probe()
    } finally {
      this.debt[sub] = debt
      if (had) this.idle[asset] = idle as number
      else delete this.idle[asset]
      this.moves.length = moves
    }
  }

  checkpoint(): Checkpoint {
    return {
      c: this.collateral.slice(),
      d: this.debt.slice(),
      roles: this.roles.slice(),
      reasons: this.reasons.slice(),
      pools: this.pools.map((p) => ({ ...p })),
      idle: { ...this.idle },
      reserved: { ...this.reserved },
      moves: this.moves.length,
      loss: this.slippageLoss,
      touched: new Set(this.touchedPools),
    }
  }

  restore(s: Checkpoint): void {
    this.collateral.set(s.c)
    this.debt.set(s.d)
    s.roles.forEach((r, i) => (this.roles[i] = r))
    s.reasons.forEach((r, i) => (this.reasons[i] = r))
    s.pools.forEach((p, i) => Object.assign(this.pools[i] as YieldPool, p))
    for (const k of Object.keys(this.idle)) delete this.idle[k]
    Object.assign(this.idle, s.idle)
    for (const k of Object.keys(this.reserved)) delete this.reserved[k]
    Object.assign(this.reserved, s.reserved)
    this.moves.length = s.moves
    this.slippageLoss = s.loss
    this.touchedPools.clear()
    for (const a of s.touched) this.touchedPools.add(a)
  }

  /** Gas of the moves from index `from` on. */
  gasOf(from: number): number {
    let g = 0
    for (let k = from; k < this.moves.length; k++) g += this.input.costs.gasPerAction[(this.moves[k] as Move).kind]
    return g
  }

  /** Liquidation probability of sub-account `i` at health `h` within its policy horizon. */
  probability(i: number, h: number): number {
    return liquidationProbability(h, this.sub(i).risk, this.account(i).horizonYears)
  }

  /** Whether sub-account `j` may fund `target` (in band, boosts allowed, not blocked, excluded or a target itself). */
  canSource(j: number, target: number): boolean {
    const a = this.account(j)
    const p = this.sub(j).policy
    return j !== target && !this.exclusions.sources.has(j) && this.roles[j] !== "target" && a.blocked === undefined && p.boostAllowed && !a.low && !a.high && !a.inBand
  }

  /** The lowest health a source may be taken down to: its risk health clipped into its allowed interval. */
  sourceFloor(j: number): number {
    const a = this.account(j)
    return Math.max(a.lo, Math.min(a.riskHealth, a.hi))
  }
}
