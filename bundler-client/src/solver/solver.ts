import { MAX_ACTIONS, MAX_SUB_ACCOUNTS, MIN_BAND_GAP as MIN_BAND_GAP_WAD, MIN_REARM_BPS as MIN_REARM_BPS_BIG } from "@levpilot/sdk/constants"
import { SolverInputError } from "./errors.js"
import { boost, deleverage, finishPlan } from "./planSteps.js"
import { checkPlanAgainstPolicy } from "./policyRules.js"
import { inBandTrigger, venueHealthOf } from "./state.js"
import type { EpochState, Policy, PortfolioState, SolverInput, SolverResult } from "./types.js"
import { type Account, type Checkpoint, type Exclusions, WorkingPortfolio, assessAll, assessSubAccount, ltvRoomOf } from "./workingPortfolio.js"
import { type SwapBoostCandidate, planSwapBoost } from "./swapBoost.js"
import { leverageOf } from "./state.js"
import { SECONDS_PER_YEAR, liquidationProbability } from "../risk/firstPassage.js"
import { DEFAULT_REACTION_SECONDS } from "../risk/tail.js"

export { DEFAULT_DELEVERAGE_TOLERANCE_FACTOR, HEALTH_MARGIN } from "./workingPortfolio.js"
export { AAVE_CLOSE_FACTOR_HF_THRESHOLD, AAVE_DEFAULT_CLOSE_FACTOR, liquidationIncentiveFactor, liquidationLoss } from "./liquidation.js"

/** The module's smallest gap between the target and each band edge (ConstantsLib.MIN_BAND_GAP, 0.01 in health). */
export const MIN_BAND_GAP = Number(MIN_BAND_GAP_WAD) / 1e18

/**
 * Problems with a sub-account's epoch record (empty when valid): every counter a finite number >= 0 (`amountInEpoch`
 * loan units, `rebalancesInEpoch`, `gasInEpoch`, and when given `lossPpbInEpoch` ppb, `lastRebalance` unix seconds,
 * `epoch`). The chain's counters are integers; a NaN or infinite one (a broken read) would reach the rule book's
 * integer conversion only when a plan lists the sub-account (review rv48 S1), so it is refused up front, named.
 */
export function validateEpoch(epoch: EpochState): string[] {
  const problems: string[] = []
  const fields: [string, number | undefined, boolean][] = [
    ["amountInEpoch", epoch.amountInEpoch, true],
    ["rebalancesInEpoch", epoch.rebalancesInEpoch, true],
    ["gasInEpoch", epoch.gasInEpoch, true],
    ["lossPpbInEpoch", epoch.lossPpbInEpoch, false],
    ["lastRebalance", epoch.lastRebalance, false],
    ["epoch", epoch.epoch, false],
  ]
  for (const [name, value, required] of fields) {
    if (value === undefined && !required) continue
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) problems.push(`${name} ${String(value)} must be a finite number >= 0`)
  }
  return problems
}

/**
 * Check a policy's static validity (docs/policy-rules.md "Valid policy", numeric part).
 *
 * @param policy - Policy in human units.
 * @returns A list of problems (empty when valid).
 */
export function validatePolicy(policy: Policy): string[] {
  const problems: string[] = []
  if (!(policy.minHealth >= 1)) problems.push(`minHealth ${policy.minHealth} must be >= 1`)
  if (!(policy.minHealth + MIN_BAND_GAP <= policy.targetHealth && policy.targetHealth + MIN_BAND_GAP <= policy.maxHealth))
    problems.push(`need minHealth + ${MIN_BAND_GAP} <= targetHealth <= maxHealth - ${MIN_BAND_GAP}`)
  if (policy.pools.length > 8) problems.push(`at most 8 pools, got ${policy.pools.length}`)
  if (new Set(policy.pools).size !== policy.pools.length) problems.push("pools must be unique")
  if (!(policy.maxLossBps >= 0 && policy.maxLossBps <= 10_000)) problems.push("maxLossBps must be in [0, 10000]")
  if (policy.maxEpochLossBps !== undefined && !(policy.maxEpochLossBps >= 0 && policy.maxEpochLossBps <= 10_000))
    problems.push("maxEpochLossBps must be in [0, 10000]")
  if (!(policy.epochLength > 0)) problems.push("epochLength must be > 0")
  if (!(policy.tolerance > 0 && policy.tolerance < 1)) problems.push("tolerance must be in (0, 1)")
  if (!(policy.horizon > 0)) problems.push("horizon must be > 0 seconds")
  if (policy.tailDrop !== undefined && !(policy.tailDrop >= 0 && policy.tailDrop < 1)) problems.push(`tailDrop must be in [0, 1), got ${policy.tailDrop}`)
  if (policy.stopLoss !== undefined && !(policy.stopLoss > 0 && policy.stopLoss < 1)) problems.push(`stopLoss must be in (0, 1), got ${policy.stopLoss}`)
  if (policy.stopLossConfirmSeconds !== undefined && !(policy.stopLossConfirmSeconds >= 0 && Number.isFinite(policy.stopLossConfirmSeconds)))
    problems.push(`stopLossConfirmSeconds must be a finite number of seconds >= 0, got ${policy.stopLossConfirmSeconds}`)
  if (policy.stopPrice !== undefined || policy.exitHealth !== undefined) {
    if (!((policy.stopPrice ?? 0) > 0)) problems.push(`stopPrice must be > 0 with exitHealth, got ${policy.stopPrice}`)
    const exit = policy.exitHealth ?? 0
    // 1e-9: a stop read from the chain at exactly maxHealth + MIN_BAND_GAP (WAD) is not refused by float rounding.
    if (!(exit >= policy.maxHealth + 0.01 - 1e-9 && exit <= 10)) problems.push(`exitHealth must be in [maxHealth + 0.01, 10], got ${policy.exitHealth}`)
  }
  return problems
}

/** The stop's narrowest re-arm hysteresis, bps above `stopPrice` (ConstantsLib.MIN_REARM_BPS, review rr13s S2). */
export const MIN_REARM_BPS = Number(MIN_REARM_BPS_BIG)

/**
 * Whether `sub`'s on-chain stop-loss holds at its state's price: RebalanceLib `_trigger` (the rule book's
 * `stopStateOf`) engaged at `price <= stopPrice`, held up to the re-arm price `stopPrice x (1 + max(maxOracleDeviationBps,
 * MIN_REARM_BPS) / 10,000)`. While it holds the module refuses every boost (a plan that only boosts: `NoTrigger`;
 * a borrow or a health decrease of a sub-account: `ActionNotAllowed` / `HealthDecreased`), as if `boostAllowed` were
 * false. False without a stop (`stopPrice` undefined). Prices in the sub-account's units (loan per collateral).
 * `policy.stopJudged`, when judged at this price, is the answer: the keeper's exact judgement on the chain's integers
 * (review rr11zb B4).
 *
 * @param sub - The sub-account's state (`price`) and policy (`stopPrice`, `maxOracleDeviationBps`, `stopJudged`).
 * @returns True while the stop holds.
 */
export function stopHolds(sub: { state: { price: number }; policy: Pick<Policy, "stopPrice" | "maxOracleDeviationBps" | "stopJudged"> }): boolean {
  const { stopPrice, maxOracleDeviationBps, stopJudged } = sub.policy
  // The caller's exact verdict on the chain's integers at this price when it has one (the keeper; review rr11zb B4).
  if (stopJudged !== undefined && stopJudged.price === sub.state.price) return stopJudged.state !== "armed"
  return stopPrice !== undefined && sub.state.price * 10_000 <= stopPrice * (10_000 + Math.max(maxOracleDeviationBps ?? 0, MIN_REARM_BPS))
}

/**
 * The input as the module lets it be planned: each sub-account whose stop holds ({@link stopHolds}, at the price read,
 * which the send's validation judges too) with `boostAllowed` false, so the solver neither boosts it above its band nor
 * borrows against it as a donor (review rr13s S3: the live keeper planned such a boost at every block and the SDK
 * refused it with NoTrigger at every block). {@link solve} plans on it; the backtester and the keeper alike.
 *
 * @param input - The solver input.
 * @returns The same input when no stop holds, else a copy with those policies masked.
 */
export function withStopHeld(input: SolverInput): SolverInput {
  return withBoostsMasked(input, stopHolds)
}

/** `input` with `boostAllowed` off for each sub-account that allows boosts and meets `masked`; the same object when none does. */
function withBoostsMasked(input: SolverInput, masked: (s: SolverInput["subAccounts"][number]) => boolean): SolverInput {
  const hit = (s: SolverInput["subAccounts"][number]) => s.policy.boostAllowed && masked(s)
  if (!input.subAccounts.some(hit)) return input
  return { ...input, subAccounts: input.subAccounts.map((s) => (hit(s) ? { ...s, policy: { ...s.policy, boostAllowed: false } } : s)) }
}

/**
 * Propose a rebalance plan: per triggered sub-account, the lowest health whose liquidation
 * probability within the policy horizon is at most the tolerance, clipped into its landing zone
 * (rule 3: at least half way from the breached edge to the target); funded by the cheapest sources
 * first (idle balances, then allowed pools, then over-collateralised sub-accounts, which only move
 * toward their own target) and, where a policy allows swaps, a swap deleverage for the rest (sold
 * inside the venue's repay callback, split across pools, capped by maxSlippageBps; chosen against
 * the buffers by total cost: gas, pool slippage, fee and impact); swap boosts above the band; moving
 * the least value, within caps, cooldowns and the loss limits (per rebalance and per epoch), skipping
 * moves whose benefit is below their cost. Every plan returned passes {@link checkPlanAgainstPolicy}.
 *
 * @param input - Sub-accounts (one loan asset), pools, idle balances, costs and mode.
 * @returns The plan (undefined when there is nothing worth doing) and an outcome per sub-account.
 * @throws {SolverInputError} On mixed loan assets or an invalid policy.
 * @example
 * const { plan, outcomes } = solve({ now, subAccounts, pools, idle: {}, costs })
 */
export function solve(input: SolverInput): SolverResult {
  // No boost while a stop holds (the module's rule), judged at the price read, before the inclusion drift.
  const expected = atInclusion(withStopHeld(input))
  return withSwapBoost(expected, solveWithBuffers(expected))
}

/**
 * The solver's plan for an input that carries the keeper's inclusion margins (`inclusionDrift`, `landingMargin`: the
 * keeper's `withInclusionMargin`), falling back step by step to the module's own landing zone: when the input plans
 * nothing, the same input planned at the read price (without `inclusionDrift`, the landing margin kept; rescues and
 * boosts), then without either ({@link withoutInclusionMargin}: the plan a band rule would send) for rescues only (a
 * sub-account above its band is planned there with `boostAllowed` off: neither boosted nor given from); the first that
 * plans anything. Why (issue 13): a margin can empty the zone one operation's caps reach. After a gap the volatility
 * reads tens of times its calm value and the landing margin lifts a rescue's floor past the caps (review rr13t T3: the
 * position sat just above health 1 for hours, where threshold was rescued). After a rise the boost planned at the price
 * expected at inclusion needs more than the amount cap to reach the zone, or meets the band rule's health moved up by
 * the same rise above the zone's top (helper bk51: the autopilot boosted a poll after threshold, its cooldown ended a
 * poll later and a gap in that poll liquidated it); at the read price it boosts with threshold. Why a boost never goes
 * unmargined (helper b53, after bk52's cut-and-gap scan): its landing margin is also its margin over the band rule's
 * health (`boostFloorHealth x e^landingMargin`); without it the boost lands at the band rule's health itself or at the
 * zone's top while the margined autopilot would wait, more leverage sooner than the band rule's, and the later capped
 * rescues from the larger debt ended under threshold's (five no-idle paths liquidated where threshold was not; the
 * bk51 paths stay fixed by the read-price step alone). A rescue needs no such margin: the band rule's is unmargined too.
 * A fallback plan may revert if the price moves on before inclusion (the cost of its gas); a margined plan, when one
 * exists, always goes first. Without margins it is {@link solve}. The backtester and the keeper alike
 * ({@link solveByLoanAsset}).
 *
 * First, when a sub-account is marked `saleAtRead` with a falling `inclusionDrift` (a noisy fall: `risk.noisy`), the
 * same steps with those sub-accounts planned at the read price; that result is taken when its plan sells collateral (a
 * swap deleverage), else the input is planned as given (a pool rescue keeps the fall). Why (issue 13, helper g54): with
 * +-3 % of noise a minute around a fall of -2 %/min the next minute's move is a draw of the noise; a sale's window (its
 * fixed repayment between its minimum at the inclusion oracle and its output, about `maxSlippageBps` wide) sized for the
 * trend lands no more often than one at the read price, and the re-plans after each revert (the widened fall after a
 * short one, the read price after `SaleExceedsRepayment`) drew other minutes than the band rule's sale, at the read
 * price, which landed (bk53's noisy-fall grid: 18 of 480 no-idle paths liquidated where threshold was not, 10 after).
 *
 * @param input - The solver input (one loan asset), margins set or not.
 * @returns The first result with a plan (margined; at the read price; unmargined without boosts), else the margined one.
 * @throws {SolverInputError} As {@link solve}.
 */
export function solveAimed(input: SolverInput): SolverResult {
  // A noisy fall (issue 13, helper g54): a sale is planned at the read price; any other plan for the fall.
  const read = withSalesAtRead(input)
  if (read !== input) {
    const sale = solveAimedAsGiven(read)
    if (sale.plan?.actions.some((a) => a.kind === "SellCollateral") === true) return sale
  }
  return solveAimedAsGiven(input)
}

/**
 * `input` as a sale of it is sized (issue 13, helper g54): each sub-account marked `saleAtRead` without its falling
 * `inclusionDrift` (planned at the read price; its landing margin and a rise kept), the others unchanged. The same object
 * when none is. For {@link solveAimed}'s first step and the stop exits (`stopExitResult`, the backtester's), which are sales.
 */
export function withSalesAtRead(input: SolverInput): SolverInput {
  const atRead = (s: SolverInput["subAccounts"][number]): boolean => s.saleAtRead === true && s.inclusionDrift !== undefined && s.inclusionDrift < 0
  if (!input.subAccounts.some(atRead)) return input
  return { ...input, subAccounts: input.subAccounts.map((s) => (atRead(s) ? { ...s, inclusionDrift: undefined } : s)) }
}

/** {@link solveAimed} without its `saleAtRead` step: every sub-account planned at its own `inclusionDrift`. */
function solveAimedAsGiven(input: SolverInput): SolverResult {
  const aimed = solve(input)
  if (aimed.plan !== undefined) return aimed
  const drifted = input.subAccounts.some((s) => s.inclusionDrift !== undefined)
  if (drifted) {
    const atRead = solve(withoutInclusionMargin(input, "drift"))
    if (atRead.plan !== undefined) return atRead
  }
  if (!input.subAccounts.some((s) => s.landingMargin !== undefined || s.landingMarginTop !== undefined)) return aimed
  // Unmargined: rescues only (a boost keeps its landing margin over the band rule's health).
  const plain = solve(withoutBoosts(withoutInclusionMargin(input)))
  return plain.plan !== undefined ? plain : aimed
}

/**
 * `input` with every sub-account above its band (health > maxHealth at its read price) planned as if its policy allowed
 * no boost: it is neither boosted nor given from (it keeps at least its health); the others unchanged.
 */
function withoutBoosts(input: SolverInput): SolverInput {
  return withBoostsMasked(input, (s) => venueHealthOf(s.state) > s.policy.maxHealth)
}

/**
 * `input` without the keeper's inclusion margins: each sub-account's `inclusionDrift` dropped (planned at the read
 * price) and, unless `only` is "drift", its `landingMargin` and `landingMarginTop` too (aimed anywhere in the module's landing zone); the boost
 * floor and everything else kept.
 */
export function withoutInclusionMargin(input: SolverInput, only?: "drift"): SolverInput {
  return {
    ...input,
    subAccounts: input.subAccounts.map(({ landingMargin, landingMarginTop, inclusionDrift: _d, ...s }) =>
      only === "drift" ? { ...s, ...(landingMargin !== undefined ? { landingMargin } : {}), ...(landingMarginTop !== undefined ? { landingMarginTop } : {}) } : s,
    ),
  }
}

/**
 * The input as the solver plans it: each sub-account with an `inclusionDrift` at the oracle price it expects at
 * inclusion, `state.price x e^inclusionDrift` (its swap curves are in bps of the oracle value and stay as quoted): a
 * drift below 0 for any sub-account, above 0 only for one above its band (a boost). The module checks a plan against
 * the oracle at inclusion (triggers, landing zone, a swap's minimum output), so in a falling market a rescue sized at
 * the quote's price repays more than its sale then pays (`ActionFailed`) at every attempt, and in a rising one (a wick's
 * rebound) a swap boost supplies more than its purchase then buys; sized at the expected price each lands while the
 * move goes on, and reverts (at the cost of its gas) if the price stops before inclusion. A rescue is never sized for a
 * rise. Other sub-accounts are returned unchanged. On an Aave account (`thresholdFloored`) with `collateralHeld` only the
 * market's collateral reserve moves: the frame becomes `held + (collateral - held) / f` at price x f and `equity` gains
 * `held x price x (f - 1)`, the adapter's frame at that price with the account's other reserves at their read value;
 * without `collateralHeld` every reserve moves with it.
 *
 * @param input - The solver input.
 * @returns The same input, prices moved by each sub-account's `inclusionDrift`.
 */
export function atInclusion(input: SolverInput): SolverInput {
  if (!input.subAccounts.some((s) => inclusionPriceFactor(s) !== 1)) return input
  return {
    ...input,
    subAccounts: input.subAccounts.map((s) => {
      const f = inclusionPriceFactor(s)
      if (f === 1) return s
      // Only the market's collateral reserve moves (its price is the one drifting). An Aave frame's `collateral` is every
      // reserve of the account re-expressed at this market's threshold and price: with the Safe's balance of this reserve
      // (`collateralHeld`) the other reserves keep their value, so the frame at the moved price is what the adapter would
      // report there, held + (collateral - held) / f (review rr17g: moving the whole frame asked more than needed).
      // Without it (a read failed) the whole frame moves, as every reserve falling with this one (conservative).
      const held = s.state.thresholdFloored && s.state.collateralHeld !== undefined ? Math.min(Math.max(s.state.collateralHeld, 0), s.state.collateral) : s.state.collateral
      const collateral = held + (s.state.collateral - held) / f
      // The adapter's equity moves with the moving reserve's value.
      const equity = s.state.equity === undefined ? {} : { equity: s.state.equity + held * s.state.price * (f - 1) }
      // The health read (`health`, Aave's factor at the read price) no longer holds: its reconstruction at the moved
      // price (`venueHealthOf` without it, never above Aave's factor by the floor), so the solver's trigger and its rule
      // check's health before stay one figure.
      // Aave's base-currency figures (`aaveBase`) are the read price's too: dropped (the rule book rebuilds from the frame).
      const state = { ...s.state, collateral, price: s.state.price * f, ...equity, health: undefined, aaveBase: undefined }
      // The boost floor (the band rule's health) moves with the price as the position's own health does.
      const floor = s.boostFloorHealth === undefined ? {} : { boostFloorHealth: s.boostFloorHealth * f }
      return { ...s, ...floor, state: s.state.health === undefined ? state : { ...state, health: venueHealthOf(state) } }
    }),
  }
}

/**
 * The factor {@link atInclusion} moves a sub-account's oracle price by: `e^inclusionDrift` for a finite drift below 0,
 * or above 0 when the sub-account is above its band (health > maxHealth); else 1. The keeper computes the swaps'
 * on-chain minimum outputs it settles a plan against at the same price.
 *
 * @returns The factor (> 0).
 */
export function inclusionPriceFactor(s: Pick<SolverInput["subAccounts"][number], "inclusionDrift" | "state" | "policy">): number {
  const d = s.inclusionDrift ?? 0
  if (!Number.isFinite(d) || d === 0) return 1
  return d < 0 || venueHealthOf(s.state) > s.policy.maxHealth ? Math.exp(d) : 1
}

/**
 * {@link solve} without swap boosts: deleverages funded by idle balances, pools, over-collateralised sub-accounts and,
 * for the rest, swap deleverages (`deleverage` in planSteps.ts); buffer boosts.
 */
function solveWithBuffers(input: SolverInput): SolverResult {
  const first = input.subAccounts[0]
  if (first === undefined) return { plan: undefined, outcomes: [], cost: 0 }
  const loanAsset = first.state.loanAsset
  for (const s of input.subAccounts) {
    if (s.state.loanAsset !== loanAsset) throw new SolverInputError(`sub-accounts mix loan assets ${loanAsset} and ${s.state.loanAsset}; solve each loan asset separately`)
    const problems = validatePolicy(s.policy)
    if (problems.length > 0) throw new SolverInputError(`policy of ${s.state.id}: ${problems.join("; ")}`)
    const counters = validateEpoch(s.epoch)
    if (counters.length > 0) throw new SolverInputError(`epoch of ${s.state.id}: ${counters.join("; ")}`)
  }
  const { pre, policies, epochs } = ruleBookInputs(input)
  // How urgent a target is (lower: more): below the band comes first, then (autopilot, rescueBelowTarget) an in-band
  // rescue below the target, then above the band; below, the lowest health relative to minHealth first; in band, relative
  // to the target; above, the highest.
  const inBandMode = (input.mode ?? "autopilot") === "autopilot"
  const urgency = (i: number) => {
    const s = input.subAccounts[i] as SolverInput["subAccounts"][number]
    const h = venueHealthOf(s.state)
    if (h < s.policy.minHealth) return h / s.policy.minHealth
    if (inBandMode && inBandTrigger(s.policy, h)) return 1 + h / s.policy.targetHealth
    return 2 + s.policy.maxHealth / h
  }
  const assessed = assessAll(input)
  const context: SearchContext = { input, loanAsset, pre, policies, epochs, urgency, attempts: 3 * input.subAccounts.length + 2, assessed }
  const found = searchPlan(context, { targets: new Map(), sources: new Map() }, 0, false)
  if (found !== undefined) return found
  const fallback = solveOnce(input, loanAsset, { targets: new Map(input.subAccounts.map((_, i) => [i, "no plan passes the policy rules"])), sources: new Map() }, assessed).result
  return { ...fallback, plan: undefined }
}

/** What {@link searchPlan} searches with: the solver's input and the rule book's view of it, fixed for one solve. */
type SearchContext = {
  input: SolverInput
  loanAsset: string
  pre: PortfolioState
  policies: Record<string, Policy>
  epochs: Record<string, EpochState>
  /** How urgent a target is (lower: more). */
  urgency: (i: number) => number
  /** Rule-book rounds at most (each leaves out at least one sub-account). */
  attempts: number
  /** Every sub-account of `input` assessed once ({@link assessAll}); each attempt's working portfolio copies it. */
  assessed: readonly Account[]
}

/** A target's reason when the module's structural limits leave it for the next operation (events.ts LEFT_FOR_NEXT). */
const OVER_LIMIT_LEFT = "over the module's limits for one operation (MAX_SUB_ACCOUNTS / MAX_ACTIONS); left for the next"

/** Targets the plan rescues (in the plan, not left out): how two splits over the structural limit are compared. */
function rescued(r: SolverResult | undefined): number {
  return r?.plan === undefined ? -1 : r.outcomes.filter((o) => o.role === "target" && r.plan?.subAccounts.includes(o.id) === true).length
}

/** The least urgent target not yet left out (its index), or undefined. */
function leastUrgentTarget(outcomes: SolverResult["outcomes"], exclusions: Exclusions, urgency: (i: number) => number): number | undefined {
  return outcomes
    .map((o, i) => (o.role === "target" && !exclusions.targets.has(i) ? i : -1))
    .filter((i) => i >= 0)
    .sort((a, b) => urgency(b) - urgency(a))[0]
}

/**
 * Solves, checks the plan against the rule book, leaves out what it refuses (or, over the module's structural limits, the
 * least urgent target or the smallest donor) and solves again, from round `from` up to `context.attempts`. The first
 * split over the structural limits (`branched` false) searches on both ways and keeps the one that rescues more targets.
 *
 * @returns The first plan the rule book accepts (or a result with no plan), or undefined when the rounds run out.
 */
function searchPlan(context: SearchContext, exclusions: Exclusions, from: number, branched: boolean): SolverResult | undefined {
  const { input, loanAsset, pre, policies, epochs, urgency, attempts, assessed } = context
  // The last attempt and the boost target its exclusions have gained since (one left out over the structural limits or
  // for a violation of the whole plan): the next attempt resumes it (`resumeWithout`) instead of solving from scratch.
  let last: { attempt: Attempt; without: number } | undefined
  for (let attempt = from; attempt <= attempts; attempt++) {
    const solved = (last === undefined ? undefined : resumeWithout(last.attempt, last.without)) ?? solveOnce(input, loanAsset, exclusions, assessed)
    last = undefined
    const result = solved.result
    if (result.plan === undefined) return result
    const check = checkPlanAgainstPolicy({ plan: result.plan, pre, policies, epochs, now: input.now })
    if (check.ok) return result
    const roles = new Map(result.outcomes.map((o, i) => [o.id, { role: o.role, index: i }]))
    let excluded = false
    for (const v of check.violations) {
      const r = v.subAccountId === undefined ? undefined : roles.get(v.subAccountId)
      if (r === undefined) continue
      if (r.role === "source") exclusions.sources.set(r.index, v.message)
      else exclusions.targets.set(r.index, v.message)
      excluded = true
    }
    if (!excluded && (result.plan.subAccounts.length > Number(MAX_SUB_ACCOUNTS) || result.plan.actions.length > Number(MAX_ACTIONS))) {
      // Over the module's structural limits: leave out the least urgent target (it goes in the next operation).
      const least = leastUrgentTarget(result.outcomes, exclusions, urgency)
      if (least === undefined) break
      // A rescue is not given up for a donor: while the least urgent target is below its band, leave out the source
      // that brings the least (its loan value moved) instead, so a target funded by many small donors is planned with
      // fewer, larger ones (or reports that they do not reach its landing zone).
      const plan = result.plan
      const given = (i: number) => {
        const at = plan.subAccounts.indexOf(input.subAccounts[i]?.state.id as string)
        const price = input.subAccounts[i]?.state.price ?? 0
        return plan.actions.filter((a) => a.subAccount === at).reduce((t, a) => t + (a.asset === loanAsset ? a.amount : a.amount * price), 0)
      }
      const smallest = result.outcomes
        .map((o, i) => (o.role === "source" && !exclusions.sources.has(i) ? i : -1))
        .filter((i) => i >= 0)
        .sort((a, b) => given(a) - given(b))[0]
      // Only while the plan's targets alone fit one operation: with MAX_SUB_ACCOUNTS targets or more, no source left
      // out can make it fit, and leaving out the last donor strands every rescue (review rr11za A1: 8+ targets below
      // their band, one in-band donor, no idle: nothing was sent).
      const targets = result.outcomes.filter((o, i) => o.role === "target" && !exclusions.targets.has(i)).length
      if (smallest !== undefined && urgency(least) < 1 && targets < Number(MAX_SUB_ACCOUNTS)) {
        const withoutSource = copyExclusions(exclusions)
        withoutSource.sources.set(smallest, "over the module's limits for one operation (MAX_SUB_ACCOUNTS / MAX_ACTIONS); larger sources fund the rescue")
        if (branched) {
          exclusions = withoutSource
          continue
        }
        // The first split over the limit: leaving out the smallest donor can leave the rest short of funds for several
        // targets, where leaving out the least urgent target rescues more now (review rr11zb B3: 7 targets and two
        // donors of 8 and 8.08 WETH: 4 rescued and 3 reported infeasible, against 6 rescued and the 7th left for the
        // next operation). Both splits are searched on; the one that rescues more targets is kept (the donor's on a tie).
        const withoutTarget = copyExclusions(exclusions)
        withoutTarget.targets.set(least, OVER_LIMIT_LEFT)
        const bySource = searchPlan(context, withoutSource, attempt + 1, true)
        const byTarget = searchPlan(context, withoutTarget, attempt + 1, true)
        return rescued(byTarget) > rescued(bySource) ? byTarget : bySource
      }
      exclusions.targets.set(least, OVER_LIMIT_LEFT)
      last = { attempt: solved, without: least }
      continue
    }
    if (!excluded) {
      // A violation of the plan as a whole (PoolRoundTrip: a rescue's pool withdrawal and a boost's deposit into the
      // same pool): leave out the least urgent target, never a rescue for a boost, whatever the policies' order.
      const leastUrgent = leastUrgentTarget(result.outcomes, exclusions, urgency)
      if (leastUrgent === undefined) break
      exclusions.targets.set(leastUrgent, check.violations.map((v) => v.message).join("; "))
      last = { attempt: solved, without: leastUrgent }
    }
  }
  return undefined
}

/** The pre-plan portfolio and the per-sub-account policies and epoch usage {@link checkPlanAgainstPolicy} reads. */
function ruleBookInputs(input: SolverInput): { pre: PortfolioState; policies: Record<string, Policy>; epochs: Record<string, EpochState> } {
  const pre: PortfolioState = { subAccounts: input.subAccounts.map((s) => s.state), pools: input.pools, idle: input.idle }
  const policies: Record<string, Policy> = {}
  const epochs: Record<string, EpochState> = {}
  for (const s of input.subAccounts) {
    policies[s.state.id] = s.policy
    epochs[s.state.id] = s.epoch
  }
  return { pre, policies, epochs }
}

/**
 * Swap boost (issue 12) for sub-accounts above their band whose policy allows boosts and swaps and whose input carries a
 * buying curve (`swapBuy`): borrow, buy collateral, supply ({@link planSwapBoost}), so exposure rises, not only debt.
 * A buffer boost (borrow, park the loan token in a pool or keep it idle) lowers health as far but adds no exposure; a
 * swap boost replaces it wherever one lands in the zone, unless (autopilot) its gas, fee and impact exceed the value of
 * the exposure it adds (bought value x `boostEdgeBps`). Rescues come first: nothing changes while the plan has a
 * sub-account below its band. All swap boosts of one solve share one plan (one UserOperation) with the buffer boosts
 * of the other sub-accounts; a sub-account the rule check refuses is left out.
 */
function withSwapBoost(input: SolverInput, result: SolverResult): SolverResult {
  const low = (i: number) => {
    const o = result.outcomes[i]
    const p = input.subAccounts[i]?.policy
    // A rescue: below the band, or (autopilot, rescueBelowTarget) an in-band one below the target (issue 13).
    return o !== undefined && p !== undefined && (o.healthBefore < p.minHealth || (o.triggered && o.healthBefore < p.targetHealth))
  }
  if (result.plan !== undefined && result.outcomes.some((o, i) => o.role !== "none" && low(i))) return result
  const { pre, policies, epochs } = ruleBookInputs(input)
  const outcomes = result.outcomes.slice()
  const chosen = new Map<number, SwapBoostCandidate>()
  for (const [i, sub] of input.subAccounts.entries()) {
    const o = outcomes[i]
    if (sub.swapBuy === undefined || !sub.policy.boostAllowed || !((sub.policy.maxSlippageBps ?? 0) > 0) || o === undefined || !(o.healthBefore > sub.policy.maxHealth)) continue
    const a = assessSubAccount(input, i)
    if (a.blocked !== undefined) continue
    if (a.floorBlocked !== undefined) {
      outcomes[i] = { ...o, reason: `${o.reason}; swap boost: ${a.floorBlocked}` }
      continue
    }
    // One Aave account's LTV room is shared by its sub-accounts (review rr11 R3): the boost borrows against what the
    // buffer plan's other sub-accounts and the swap boosts chosen before it (emitted before it) leave of it.
    const state = sub.state.ltvBorrowable === undefined ? sub.state : { ...sub.state, ltvBorrowable: sharedLtvRoomLeft(input, i, result.plan, chosen) }
    const candidate = planSwapBoost({ state, policy: sub.policy, epoch: a.epoch, curve: sub.swapBuy, costs: input.costs, goal: a.desired, low: a.lo, high: a.hi, capLeft: a.capTotal })
    if ("reason" in candidate) {
      outcomes[i] = { ...o, reason: `${o.reason}; swap boost: ${candidate.reason}` }
      continue
    }
    const exposure = candidate.supplied * sub.state.price
    const recovery = reboundValue(sub)
    const benefit = exposure * (input.costs.boostEdgeBps / 10_000 + recovery)
    if ((input.mode ?? "autopilot") === "autopilot" && benefit < candidate.cost) {
      outcomes[i] = { ...o, reason: `${o.reason}; swap boost skipped: exposure value ${benefit.toFixed(2)} < cost ${candidate.cost.toFixed(2)}` }
      continue
    }
    chosen.set(i, candidate)
  }
  for (let attempt = 0; chosen.size > 0 && attempt <= 2 * input.subAccounts.length; attempt++) {
    const ids = [...chosen.keys()].map((i) => input.subAccounts[i]?.state.id as string)
    const kept = result.plan === undefined ? [] : result.plan.actions.filter((a) => !ids.includes(result.plan?.subAccounts[a.subAccount] as string))
    const subAccounts: string[] = []
    const indexOf = (id: string) => (subAccounts.includes(id) ? subAccounts.indexOf(id) : subAccounts.push(id) - 1)
    // A kept source's `paysFor` follows its spend to its new index (dropped with a replaced sub-account: none).
    const keptAt = (k: number | undefined) => {
      const spend = k === undefined ? undefined : result.plan?.actions[k]
      return spend === undefined || !kept.includes(spend) ? undefined : kept.indexOf(spend)
    }
    const actions = kept.map((a) => {
      const { paysFor, ...rest } = a
      const to = keptAt(paysFor)
      return { ...rest, subAccount: indexOf(result.plan?.subAccounts[a.subAccount] as string), ...(to !== undefined ? { paysFor: to } : {}) }
    })
    for (const c of chosen.values()) for (const a of c.plan.actions) actions.push({ ...a, subAccount: indexOf(c.plan.subAccounts[0] as string) })
    const gas = input.costs.baseGas + actions.reduce((g, a) => g + input.costs.gasPerAction[a.kind], 0)
    const plan = { loanAsset: result.plan?.loanAsset ?? (input.subAccounts[0]?.state.loanAsset as string), subAccounts, actions, gas }
    if (subAccounts.length > Number(MAX_SUB_ACCOUNTS) || actions.length > Number(MAX_ACTIONS)) {
      // Over the module's structural limits for one operation: the least urgent swap boost (the lowest health against
      // its maxHealth) waits for the next operation, the others go now (not every boost refused as MalformedPlan).
      const ratio = (i: number) => (outcomes[i]?.healthBefore ?? 0) / (input.subAccounts[i]?.policy.maxHealth ?? 1)
      const least = [...chosen.keys()].sort((a, b) => ratio(a) - ratio(b))[0] as number
      const o = outcomes[least] as SolverResult["outcomes"][number]
      outcomes[least] = { ...o, reason: `${o.reason}; swap boost left for the next operation: over the module's limits for one operation (MAX_SUB_ACCOUNTS / MAX_ACTIONS)` }
      chosen.delete(least)
      continue
    }
    const check = checkPlanAgainstPolicy({ plan, pre, policies, epochs, now: input.now })
    if (!check.ok) {
      const refused = [...chosen.keys()].filter((i) => check.violations.some((v) => v.subAccountId === input.subAccounts[i]?.state.id))
      for (const i of refused.length > 0 ? refused : [...chosen.keys()]) {
        const o = outcomes[i] as SolverResult["outcomes"][number]
        outcomes[i] = { ...o, reason: `${o.reason}; swap boost refused: ${check.violations.map((v) => v.message).join("; ")}` }
        chosen.delete(i)
      }
      continue
    }
    let cost = gas * input.costs.gasPrice
    for (const [i, c] of chosen) {
      const sub = input.subAccounts[i] as SolverInput["subAccounts"][number]
      const o = outcomes[i] as SolverResult["outcomes"][number]
      cost += c.cost - c.plan.gas * input.costs.gasPrice
      outcomes[i] = swapOutcome(
        sub,
        o,
        { collateral: c.supplied, debt: c.borrowed, healthAfter: c.healthAfter },
        `above band: swap boost (${c.shape}) ${o.healthBefore.toFixed(3)} -> ${c.healthAfter.toFixed(3)}, borrowing ${c.borrowed.toPrecision(6)} ` +
          `${sub.state.loanAsset} for ${c.bought.toPrecision(6)} ${sub.state.collateralAsset} (fee + impact ${c.shortfallBps.toFixed(2)} bps, cost ${c.cost.toFixed(2)})`,
      )
    }
    return { plan, outcomes, cost: cost + (kept.length > 0 ? Math.max(0, result.cost - result.plan!.gas * input.costs.gasPrice) : 0) }
  }
  return { ...result, outcomes }
}

/**
 * The LTV room (loan units) sub-account `i`'s swap boost borrows against ({@link ltvRoomOf}): its account's room before
 * the plan, after the actions of the buffer plan `plan` on the OTHER sub-accounts (all of them, even of one that a
 * swap boost replaces: its buffer boost returns to the plan if that swap boost is refused, so later boosts are sized
 * as if it stayed) and the swap boosts `chosen` so far (borrowed, supplied), which the plan emits before this one.
 *
 * @returns Loan units, never negative; the sub-account's own `ltvBorrowable` when it shares its room with none.
 */
function sharedLtvRoomLeft(input: SolverInput, i: number, plan: SolverResult["plan"], chosen: ReadonlyMap<number, SwapBoostCandidate>): number {
  const subs = input.subAccounts
  const collateral = subs.map((s) => s.state.collateral)
  const debt = subs.map((s) => s.state.debt)
  for (const a of plan?.actions ?? []) {
    const k = subs.findIndex((s) => s.state.id === plan?.subAccounts[a.subAccount])
    if (k < 0 || k === i) continue
    if (a.kind === "Borrow") debt[k] = (debt[k] as number) + a.amount
    else if (a.kind === "Repay" || a.kind === "RepayWithCallback") debt[k] = Math.max(0, (debt[k] as number) - a.amount)
    else if (a.kind === "SupplyCollateral" || a.kind === "SupplyCollateralWithCallback") collateral[k] = (collateral[k] as number) + a.amount
    else if (a.kind === "WithdrawCollateral") collateral[k] = (collateral[k] as number) - a.amount
  }
  for (const [k, c] of chosen) {
    debt[k] = (debt[k] as number) + c.borrowed
    collateral[k] = (collateral[k] as number) + c.supplied
  }
  return ltvRoomOf(subs, i, collateral, debt)
}

/**
 * What a boost is worth beyond its edge while the price is rebounding, as a fraction of the exposure it buys: the rise
 * the trend (`risk.trend`, the median of five minutes of oracle returns: one wick step is not a trend; or `risk.rebound`,
 * the latest step when it is an upward jump, whichever is larger) carries it over
 * one keeper reaction (`risk.tail.reactionSeconds`, poll plus inclusion), `e^(trend x reaction) - 1`; skipping the boost
 * waits at least that long, and the position stays out of the exposure its policy asks for. Counted only when the rise
 * is one the solver plans the purchase for (`inclusionDrift` > 0: beyond what a swap's take tolerates, not noise);
 * 0 otherwise. A rescue, the tail floor and the landing zone do not change.
 *
 * @returns A fraction (>= 0).
 */
function reboundValue(sub: SolverInput["subAccounts"][number]): number {
  const trend = Math.max(sub.risk.trend ?? 0, sub.risk.rebound ?? 0)
  if (!((sub.inclusionDrift ?? 0) > 0) || !(trend > 0) || !Number.isFinite(trend)) return 0
  const reaction = sub.risk.tail?.reactionSeconds ?? DEFAULT_REACTION_SECONDS
  return Math.expm1((trend * reaction) / SECONDS_PER_YEAR)
}

/**
 * The outcome of a sub-account a swap plan targets: its position moved by `change` (collateral and debt in token
 * units, signed), the health it lands at, and the leverage and liquidation probability there.
 */
function swapOutcome(
  sub: SolverInput["subAccounts"][number],
  o: SolverResult["outcomes"][number],
  change: { collateral: number; debt: number; healthAfter: number },
  reason: string,
): SolverResult["outcomes"][number] {
  const after = { ...sub.state, collateral: sub.state.collateral + change.collateral, debt: sub.state.debt + change.debt }
  return {
    ...o,
    role: "target",
    healthAfter: change.healthAfter,
    leverageAfter: leverageOf(after),
    liquidationProbabilityAfter: liquidationProbability(change.healthAfter, sub.risk, sub.policy.horizon / SECONDS_PER_YEAR),
    reason,
  }
}

/**
 * One attempt at a plan, in named steps: assess every sub-account (trigger, blocks, caps, goal health), deleverage the
 * ones below their band (lowest health first), boost the ones above it (not next to a swap rescue), then build the
 * outcomes and the plan.
 *
 * @returns The attempt's result; {@link solve} checks its plan against the policy rules and retries with exclusions.
 * @internal Exported for solveSpeed.test.ts (a resumed attempt against a fresh one).
 */
export function solveOnce(input: SolverInput, loanAsset: string, exclusions: Exclusions, assessed: readonly Account[]): Attempt {
  const work = new WorkingPortfolio(input, loanAsset, exclusions, assessed)
  for (const a of work.accounts.filter((x) => x.low || x.inBand).sort((x, y) => x.h0 - y.h0)) deleverage(work, a)
  // A swap rescue goes alone with the other rescues: boosts wait for the next operation (gas, and nothing that could
  // make the rescue revert rides along).
  const swapRescue = work.moves.some((m) => m.kind === "RepayWithCallback")
  return boostAndFinish(work, swapRescue, new Map(), 0)
}

/**
 * One attempt's result and what {@link resumeWithout} needs to redo it without one more boost target: its working
 * portfolio and the working state just before each boost it ran (by sub-account index).
 */
export type Attempt = { result: SolverResult; work: WorkingPortfolio; swapRescue: boolean; beforeBoost: Map<number, Checkpoint> }

/** {@link solveOnce}'s boost step from the `from`-th sub-account above its band on, then the plan. */
function boostAndFinish(work: WorkingPortfolio, swapRescue: boolean, beforeBoost: Map<number, Checkpoint>, from: number): Attempt {
  const highs = work.accounts.filter((x) => x.high)
  for (let k = from; k < highs.length; k++) {
    const a = highs[k] as Account
    if (!swapRescue) {
      beforeBoost.set(a.index, work.checkpoint())
      boost(work, a)
    } else if (work.roles[a.index] === "none") work.reasons[a.index] = `above band (health ${a.h0.toFixed(3)}); waits while a swap rescue runs in this operation`
  }
  return { result: finishPlan(work), work, swapRescue, beforeBoost }
}

/**
 * `attempt` solved again after its exclusions gained boost target `target` (an index its boost step made a target):
 * the same result as {@link solveOnce} with those exclusions, from the state just before that boost. Nothing before it
 * reads that exclusion: the deleverage step begins only targets below their band, a sub-account above its band is never a
 * donor (`canSource`), and the earlier boosts began other targets. Undefined when the attempt ran no boost of `target`
 * (then the caller solves from scratch). The plan benchmark (50 sub-accounts x 20 pools) leaves out one boost per round
 * while a plan lists more than MAX_SUB_ACCOUNTS: about 13 rounds a solve.
 * @internal Exported for solveSpeed.test.ts.
 */
export function resumeWithout(attempt: Attempt, target: number): Attempt | undefined {
  const snap = attempt.beforeBoost.get(target)
  if (snap === undefined || attempt.swapRescue || !attempt.work.exclusions.targets.has(target)) return undefined
  const from = attempt.work.accounts.filter((x) => x.high).findIndex((a) => a.index === target)
  attempt.work.restore(snap)
  return boostAndFinish(attempt.work, attempt.swapRescue, attempt.beforeBoost, from)
}

/**
 * Solve each loan asset's sub-accounts separately: a plan may touch only one loan asset, so a Safe
 * with markets on several loan assets gets one {@link solve} result (and at most one plan) per asset.
 *
 * @param input - Sub-accounts on any loan assets, pools, idle balances, costs and mode.
 * @returns One result per loan asset, in order of first appearance.
 * @example for (const [asset, { plan }] of solveByLoanAsset(input)) if (plan) submit(plan)
 */
export function solveByLoanAsset(input: SolverInput): Map<string, SolverResult> {
  const groups = new Map<string, SolverInput["subAccounts"]>()
  for (const s of input.subAccounts) groups.set(s.state.loanAsset, [...(groups.get(s.state.loanAsset) ?? []), s])
  const results = new Map<string, SolverResult>()
  for (const [asset, subAccounts] of groups) results.set(asset, solveAimed({ ...input, subAccounts }))
  return results
}

/** An independent copy of the solver's exclusions (one branch of a split over the module's structural limits). */
function copyExclusions(e: Exclusions): Exclusions {
  return { targets: new Map(e.targets), sources: new Map(e.sources) }
}
