import type { Logger } from "pino"
import { type Address, BaseError, type Hex, type PublicClient, zeroAddress } from "viem"
import { AAVE_DUST_GAS_PER_RESERVE, getSwapMinAmountOut } from "@levpilot/sdk/utils"
import { LeverageModuleRevertedError, OracleAnswerOutOfBoundsError, OracleCheckFailedError, VenueRefusedError, decodeVenueRevert } from "@levpilot/sdk/errors"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import type { EstimateRebalanceReturnType } from "@levpilot/sdk/actions"
import { entryPoint07Abi } from "viem/account-abstraction"
import { inclusionPriceFactor, solveByLoanAsset } from "../solver/solver.js"
import { stopExitResult } from "../solver/stopExit.js"
import { toBaseUnits, venueHealthOf } from "../solver/state.js"
import { DEFAULT_GAS_PER_ACTION, type Plan, type SolverInput, type SolverResult } from "../solver/types.js"
import type { AaveBorrowRefusal } from "./aaveLimits.js"
import type { Clock } from "./clock.js"
import type { KeeperClients } from "./clients.js"
import type { KeeperConfig } from "./config.js"
import { type KeeperEvents, LEFT_FOR_NEXT, rescueBindingOf, rescueInfeasibleReason, shortMessage } from "./events.js"
import { AaveDustCollateralError, BlockNotCanonicalError, ClampRuleRefusedError, NothingToSendError, PlanSendFailedError, SafeWideFailureError, SubAccountRefusedError, SubAccountUnreadableError, findInCauseChain, firstInCauseChain, gasLimitAboveCapOf, type SafeWideCause, isAmbiguousAnswer, isNodeFailure, fittingSize, isSizeDependentSafeWide, notThePlansFailure, safeWideFailureOf, storeHaltOf } from "./errors.js"
import type { InclusionTracker } from "./inclusion.js"
import type { InclusionLookup } from "./inclusionLookup.js"
import type { KeeperMetrics } from "./metrics.js"
import { paymasterChargeOf, paymasterTokenOf, reservePaymasterCharge } from "./paymasterCharge.js"
import { type ChainBounds, type PlanFunding, type RuleJudge, clampPlanToChainBounds, namedSubAccount } from "./chainBounds.js"
import type { RuleViolation } from "@levpilot/sdk/rules"
import { snapshotRuleJudge } from "./ruleJudge.js"
import { type IsolationVerdict, isolateRefusals } from "./refusalIsolation.js"
import { AMBIGUOUS_NARROW_PROBES, AMBIGUOUS_PROBES_PER_STEP, ProvisionalBlame, REFUSAL_SIMULATIONS_PER_STEP, StepIsolation, StepTurns, UNREACHED_TURN_BLOCKS } from "./stepIsolation.js"
import { type PortfolioSnapshot, excludeFailingOracles, planFundingOf, readPortfolio, settleSwapPlan, toChainPlan, toSaleMinimumRepayment } from "./portfolio.js"
import { ALONE_FACT_BLOCKS, type AloneFact, type AloneTable, type SafeRuntime, UNNAMED_FAILURE, aloneFactForgotten, aloneFactLeftOut, backoff, recentFailure, rememberFailure, restoreAloneTable } from "./runtime.js"
import { decodeShared, encodeShared } from "./fleet/store.js"
import { noteStepRan, type RebalanceSender } from "./sender.js"
import { sendNotingShortfall } from "./shortfall.js"
import { type PendingOperation, StateSnapshots } from "./stateFile.js"
import { type PendingStore, StateWriteError, StoreFencedError, failureRun, stateWriteFailed, writePendingRecord } from "./store.js"
import type { VolatilityFeed } from "./volatilityFeed.js"
import { RescueInfeasibleError } from "./errors.js"
import { type VenueName, venueOf } from "./venue.js"
import { mayAct } from "./rescueDue.js"

/**
 * The solver's cost model the keeper uses: the configured gas price and native token price.
 *
 * @returns The cost model.
 */
export function keeperCosts(config: Pick<KeeperConfig, "costs">): SolverInput["costs"] {
  return { gasPrice: config.costs.gasPriceGwei * 1e-9 * config.costs.nativePrice, gasPerAction: DEFAULT_GAS_PER_ACTION, baseGas: 150_000, boostEdgeBps: 20 }
}

/**
 * How urgent a solver result's plan is: the lowest `health / minHealth` of its sub-accounts below their band (below 1),
 * `Number.MAX_VALUE` for a plan with none (a boost), `Infinity` for no plan (ranks last).
 */
function urgencyOf(result: SolverResult, input: SolverInput): number {
  if (!result.plan) return Number.POSITIVE_INFINITY
  let most = Number.MAX_VALUE
  for (const o of result.outcomes) {
    const minHealth = input.subAccounts.find((s) => s.state.id === o.id)?.policy.minHealth
    if (minHealth !== undefined && result.plan.subAccounts.includes(o.id) && o.healthBefore < minHealth) most = Math.min(most, o.healthBefore / minHealth)
  }
  return most
}

/**
 * One plan attempt of a step: the plan handed to the sender, the solver's results, and the rule book's refusals after
 * the clamp that named no sub-account (each such plan gave way to the next loan asset's).
 */
type StepAttempt = {
  plan?: ChainPlan | undefined
  results?: readonly SolverResult[] | undefined
  /** Plan-wide refusals by the rule book after the clamp, with the refused plan's sub-accounts (lower case; rr11i H1-a). */
  refusals?: { error: ClampRuleRefusedError; subAccounts: string[] }[] | undefined
  /**
   * The paid-out refusal of the plan handed to the sender when the clamp deferred it to the chain (`feeUndecided`,
   * review rr11h H3 / rr11i H3-a): a plan-wide refusal of its simulation leaves out its fee-pool sub-accounts.
   */
  feeUndecided?: RuleViolation | undefined
  /** The sub-accounts (lower case) of each plan ranked for sending, most urgent first (review rr11h H1). */
  ranked?: string[][] | undefined
  /** The sub-accounts (lower case) whose plan the rule book judged after the clamp in this attempt (review rr11h H1). */
  judged?: Set<string> | undefined
  /**
   * Due sub-accounts (lower case, below their band) the solver left for the next operation by the module's structural
   * limits (MAX_SUB_ACCOUNTS / MAX_ACTIONS) or by the plan-wide loss room its more urgent peers used (events.ts
   * LEFT_FOR_NEXT), in no plan: counted as unreached for the turn (review rr11o O4).
   */
  overLimit?: string[] | undefined
  /**
   * Due sub-accounts (lower case) the clamp's rule-book repair left out of a plan sent in this attempt, with the rule
   * that refused the unrepaired plan: in the rule-refusal runs (stage `judge`; review rr11o O5).
   */
  repairDropped?: { id: string; error: ClampRuleRefusedError }[] | undefined
  /**
   * Plans with the turn whose attempt failed with an error the step would rethrow, after which the next ranked plan was
   * tried in the same step (review rr11p P2): alerted naming their sub-accounts.
   */
  fellThrough?: { subAccounts: readonly string[]; error: unknown }[] | undefined
  /**
   * An estimate-only attempt (`planAndSend`'s `estimateOnly`): the operation its plan would be sent as, estimated and
   * signed by the SDK's `estimateRebalance`, never sent (gas, wei per gas).
   */
  estimated?: EstimateRebalanceReturnType | undefined
}

/**
 * Blocks between two alerts for the same refusal by the rule book after the clamp (review rr11f F3): the first step
 * refused alerts `nothing-to-send`, and again every this many blocks while the same sub-account (or, plan-wide, the
 * Safe's plan) keeps being refused, under whichever rule (review rr11g G3) (50 blocks: 10 minutes at 12 s). The gauge
 * `levpilot_rule_refused_blocks` counts the blocks in a row meanwhile.
 */
export const RULE_REFUSAL_REALERT_BLOCKS = 50n


const RULE_REFUSED_HELP =
  "Blocks in a row in which the rule book refused a clamped plan of the Safe with no repair (a refused sub-account left out, or a plan-wide refusal): 0 when no plan is refused."

export { REFUSAL_SIMULATIONS_PER_STEP, UNREACHED_TURN_BLOCKS } from "./stepIsolation.js"

/** Plans per block when a token paymaster's pre-charge leaves the plan short (`PaymasterTokenChargeError`). */
const PAYMASTER_CHARGE_ATTEMPTS = 3

/**
 * One line per action, human units.
 *
 * @returns e.g. `["WithdrawFromPool 1200.5 0xabc… -> sub 0", "Repay 1200.5 -> sub 0"]`.
 */
export function describePlan(plan: Plan): string[] {
  return plan.actions.map((a) => `${a.kind} ${Number(a.amount.toPrecision(8))}${a.pool ? ` ${a.pool.slice(0, 10)}…` : ""} -> ${(plan.subAccounts[a.subAccount] ?? "").slice(0, 10)}…`)
}

/**
 * One line per action of the plan as it would be sent (base units; a `RepayWithCallback` in the sale-minimum repayment
 * mode reads "<amount> + the block's sale minimums at inclusion", since the module adds them then; a swap names its
 * route word, a pool action its pool), for the dry run's log.
 *
 * @param plan - The plan after settlement, clamp and the sale-minimum conversion (base units).
 * @returns e.g. `["RepayWithCallback 8120000 + the block's sale minimums at inclusion -> 0x1234abcd…", ...]`.
 */
export function describeChainPlan(plan: ChainPlan): string[] {
  return plan.actions.map((a) => {
    const mode = "repayment" in a && a.repayment === "sale-minimum" ? " + the block's sale minimums at inclusion" : ""
    const word = "route" in a ? ` route ${a.route.slice(0, 10)}…` : a.kind.endsWith("Pool") && a.pool !== undefined ? ` ${a.pool.slice(0, 10)}…` : ""
    return `${a.kind} ${a.amount}${mode}${word} -> ${(plan.subAccounts[a.subAccount] ?? "").slice(0, 10)}…`
  })
}

/**
 * A plan clamped to the chain's bounds before it is sent ({@link clampPlanToChainBounds}), and, with `judge` (the rule
 * book on the snapshot's state, {@link snapshotRuleJudge}), judged again and repaired when the clamp made it one the
 * module refuses (review rr11e E1). When nothing material is left, nothing is sent: a warning names the binding bounds
 * every time, and a `nothing-to-send` alert ({@link NothingToSendError}) is raised once until a plan survives the clamp
 * again. When the rule book refuses every repair, nothing is sent either: a warning and a `nothing-to-send` alert
 * ({@link ClampRuleRefusedError}) name the rule, once per rule until a plan survives. A repair is logged (warn). A plan
 * the rule book cannot decide (refused `ValueLossExceeded` only if its pools pay their fees out, review rr11h H3) for
 * which no repair passes is returned for the chain's simulation to decide (`onFeeUndecided` is told; logged, warn).
 *
 * @param plan - The plan, base units.
 * @param bounds - The chain's bounds at the plan's block.
 * @param context.funding - The plan's funding split, when its swaps were settled (`settleSwapPlan`).
 * @param context.judge - The rule book on the state `bounds` were read from (optional).
 * @param context.probe - An estimate-only probe (`planAndSend`'s `estimateOnly`): judged alike, but nothing is alerted and the
 *   Safe's nothing-to-send alert state (`rt.clampedAway`, `rt.clampRefused`) is neither read nor changed.
 * @returns The plan to send, or undefined: send nothing.
 */
export function clampForSend(
  plan: ChainPlan,
  bounds: ChainBounds,
  {
    rt,
    block,
    logger,
    events,
    funding,
    judge,
    onRefused,
    onFeeUndecided,
    probe = false,
  }: {
    rt: SafeRuntime
    block: bigint
    logger: Logger
    events: KeeperEvents
    funding?: PlanFunding | undefined
    judge?: RuleJudge | undefined
    onRefused?: ((error: ClampRuleRefusedError) => void) | undefined
    onFeeUndecided?: ((paidOut: RuleViolation) => void) | undefined
    probe?: boolean | undefined
  },
): ChainPlan | undefined {
  const safe = rt.config.address
  const { plan: clamped, binding, refusal, repaired, feeUndecided } = clampPlanToChainBounds(plan, bounds, funding, { judge })
  if (feeUndecided) {
    logger.warn(
      { safe, block: Number(block), refusal: feeUndecided.name, args: feeUndecided.args.map(String) },
      `the rule book refuses the clamped plan ${feeUndecided.name} only if its pools pay their fees out, and no repair passes; the chain's simulation decides`,
    )
    onFeeUndecided?.(feeUndecided)
  }
  if (repaired)
    logger.warn(
      { safe, block: Number(block), refusal: repaired.refusal.name, dropped: repaired.dropped, scaled: repaired.scaled.map((x) => ({ index: x.index, from: x.from.toString(), to: x.to.toString() })) },
      `the clamped plan was refused ${repaired.refusal.name} by the rule book; repaired before sending`,
    )
  if (clamped) {
    if (probe) return clamped
    rt.clampedAway = false
    rt.clampRefused = undefined
    return clamped
  }
  if (refusal) {
    const error = new ClampRuleRefusedError({ safe, rule: refusal.name, args: refusal.args, binding, subAccount: namedSubAccount(refusal, plan) })
    logger.warn({ safe, block: Number(block), rule: refusal.name, subAccount: error.subAccount, binding: error.metaMessages?.filter((m) => m.startsWith("Bound:")) }, error.shortMessage)
    // The step's own handling (review rr11f F3): it leaves the named sub-account out, tries the next plan, and alerts.
    if (onRefused) return void onRefused(error)
    if (probe) return undefined
    if (rt.clampRefused !== refusal.name) events.alert(safe, block, "nothing-to-send", error)
    rt.clampRefused = refusal.name
    return undefined
  }
  const error = new NothingToSendError({ safe, binding })
  logger.warn({ safe, block: Number(block), binding: error.metaMessages?.filter((m) => m.startsWith("Bound:")) }, error.shortMessage)
  if (probe) return undefined
  if (!rt.clampedAway) events.alert(safe, block, "nothing-to-send", error)
  rt.clampedAway = true
  return undefined
}

/**
 * The module's minimum output of each swap of `plan` (per action index; undefined for other actions): the policy's
 * `maxSlippageBps` below the swap's oracle value at the price the solver planned the sub-account at, the chain's oracle
 * price moved by its `inclusionDrift` ({@link inclusionPriceFactor}, as `atInclusion` moves it). The module computes the
 * minimum from the oracle at inclusion; in a falling market the solver sized the repayment at the expected price, so a
 * minimum at the quote's price (above the planned repayment) would keep the settlement from lowering the repayment to
 * what the sale now quotes (`settleSwapPlan` never lowers it below the minimums), and the rescue would revert.
 *
 * @returns Base units of each swap's output token.
 */
export function swapMinimumsAtInclusion(plan: ChainPlan, snapshot: Pick<PortfolioSnapshot, "chain" | "input">): (bigint | undefined)[] {
  return plan.actions.map((a) => {
    const id = plan.subAccounts[a.subAccount]?.toLowerCase()
    const s = snapshot.chain.find((c) => c.subAccount.toLowerCase() === id)
    if ((a.kind !== "SellCollateral" && a.kind !== "BuyCollateral") || s === undefined) return undefined
    const sub = snapshot.input.subAccounts.find((x) => x.state.id.toLowerCase() === id)
    const factor = sub === undefined ? 1 : inclusionPriceFactor(sub)
    const price = factor === 1 ? s.price : (s.price * BigInt(Math.round(factor * 1e12))) / 10n ** 12n
    return getSwapMinAmountOut({ sell: a.kind === "SellCollateral", amountIn: a.amount, price, maxSlippageBps: s.policy.maxSlippageBps }).minAmountOut
  })
}

/**
 * One block's work for one Safe: reconcile the operation in flight (tracker), else read the Safe from the chain, feed
 * the volatility estimate, solve, and send the plan (sender) or print it (dry run). Failures are alerted and back off.
 */
/** Keeps the largest paymaster pre-charge seen in `block` aside for the Safe's next plan in that block. */
function keepCharge(rt: SafeRuntime, charge: bigint, block: bigint): void {
  const kept = rt.paymasterTokenCharge
  if (!kept || kept.block !== block || charge > kept.charge) rt.paymasterTokenCharge = { charge, block }
}

/** The SDK's {@link VenueRefusedError} in `error`'s chain, if any. */
function findVenueRefusal(error: unknown): VenueRefusedError | undefined {
  return findInCauseChain(error, VenueRefusedError)
}

/**
 * Steps in a row in which the chain's simulation refuses one sub-account's oracle (module errors `OracleStale`,
 * `OraclePriceZero`, `OracleDecimals`, `OracleDeviation`, `OracleAnswerOutOfBounds` at send) before the keeper alerts
 * `feed-broken` for it. Each refusal already leaves the sub-account out of that step's plan; one refusal alone can be the
 * read race between the keeper's node and the bundler's (FEED_READ_AHEAD_SECONDS), a feed stamped ahead of the chain
 * at every block (forged, or a skewed clock, within that tolerance) is refused at every step.
 */
export const ORACLE_REFUSAL_ALERT_BLOCKS = 3n

/** Help text of the gauge `levpilot_rescue_infeasible`. */
const RESCUE_INFEASIBLE_HELP =
  "1 while a sub-account is below its band and no plan can rescue it (funds, swap lane, the reserve's flash liquidity and caps reach no landing zone, or its policy's cooldown or epoch caps block it); nothing is sent for it."

/** Help text of the gauge `levpilot_boost_ltv_bound`. */
const BOOST_LTV_BOUND_HELP =
  "1 while a sub-account is above its band and its boost is skipped because the venue's LTV room (Aave availableBorrowsBase) allows no landing inside the band; nothing is sent for it."

/** Help text of the gauge `levpilot_aave_borrow_refusal`. */
const AAVE_BORROW_REFUSAL_HELP =
  "1 while Aave's validateBorrow bounds the sub-account's borrows (boosts, donor borrows) below its reserve's room for this reason (isolation-not-borrowable, isolation-ceiling, siloed, emode, sentinel), as the keeper's Aave limits read it; else 0."

/** Every reason `levpilot_aave_borrow_refusal` reports (one series each; a type error when the union grows). */
const AAVE_BORROW_REFUSAL_REASONS = Object.keys({
  "isolation-not-borrowable": true,
  "isolation-ceiling": true,
  siloed: true,
  emode: true,
  sentinel: true,
} satisfies Record<AaveBorrowRefusal, true>) as AaveBorrowRefusal[]

/** Help text of the gauge `levpilot_subaccount_unreadable`. */
const AAVE_DUST_HELP =
  "Dust collateral reserves of the Safe's Aave account (used as collateral, outside its sub-accounts' collateral assets, worth less than aaveDustThresholdBase): each costs every operation ~38k gas until the owner switches it off."

const UNREADABLE_HELP =
  "1 while a sub-account cannot be planned for: its state cannot be read (oracle or venue reverts) or its oracle fails the module's oracle checks (stale, zero, out of bounds, or refused by the chain's simulation at send)."

/**
 * The oracle check the chain's simulation of `plan` refused for one of its sub-accounts.
 *
 * @returns The lower-case id and the module's check (`OracleStale`, `OraclePriceZero`, `OracleDecimals`,
 * `OracleDeviation`, `OracleAnswerOutOfBounds`), or undefined when `error` is no oracle refusal of a sub-account `plan` lists.
 */
export function oracleRefusalOf(error: unknown, plan: ChainPlan): { id: string; check: string } | undefined {
  const found = findInCauseChain(error, OracleCheckFailedError) ?? findInCauseChain(error, OracleAnswerOutOfBoundsError)
  if (!found) return undefined
  const id = found.subAccount.toLowerCase()
  if (!plan.subAccounts.some((s) => s.toLowerCase() === id)) return undefined
  return { id, check: found instanceof OracleCheckFailedError ? found.check : "OracleAnswerOutOfBounds" }
}

/**
 * The sub-account of `plan` a failed send names: the action index of a venue's refusal, `ActionFailed`,
 * `ActionNotAllowed` or `SlippageExceeded` (the plan's action -> its sub-account), else a module error's `subAccount`
 * when the plan lists it, else, for a venue adapter's refusal raised outside any action (no index: the Aave adapter's
 * `ReservePaused` / `ReserveFrozen` from its `encode`, which the module calls before the venue and does not wrap), the
 * plan's only sub-account on that venue (`venues`: lower-case id -> venue name; Aave: one account per Safe and pool).
 * `refusal`: the error's name (the venue's own for a venue refusal).
 *
 * @returns The lower-case id and the refusal's name, or undefined when the error names no sub-account of the plan.
 */
export function failingSubAccountOf(error: unknown, plan: ChainPlan, venues?: ReadonlyMap<string, string>): { id: string; refusal: string } | undefined {
  if (!(error instanceof BaseError)) return undefined
  let found: { id: string; refusal: string } | undefined
  // Cycle-safe walk (review rr11x X1): viem's `BaseError.walk` recurses without end on a cyclic cause chain.
  firstInCauseChain(error, (e) => {
    const named = e as { name?: unknown; index?: unknown; subAccount?: unknown; errorName?: unknown }
    const refusal = e instanceof VenueRefusedError ? e.errorName : String(named.name ?? "").replace(/Error$/, "")
    if (typeof named.index === "number" && (e instanceof VenueRefusedError || ["ActionFailedError", "ActionNotAllowedError", "SlippageExceededError"].includes(String(named.name)))) {
      const action = plan.actions[named.index]
      const id = action === undefined ? undefined : plan.subAccounts[action.subAccount]
      if (id !== undefined) found = { id: id.toLowerCase(), refusal }
    } else if (typeof named.subAccount === "string" && plan.subAccounts.some((id) => id.toLowerCase() === (named.subAccount as string).toLowerCase()))
      found = { id: (named.subAccount as string).toLowerCase(), refusal }
    else if (e instanceof VenueRefusedError && e.index === undefined && venues !== undefined) {
      const on = plan.subAccounts.filter((id) => venues.get(id.toLowerCase()) === e.venue)
      if (on.length === 1) found = { id: (on[0] as string).toLowerCase(), refusal }
    }
    return found !== undefined
  })
  return found
}

/** Module errors that refuse a plan as a whole (no sub-account named): what a deferred fee-undecided plan may meet. */
const PLAN_WIDE_REFUSALS = new Set(["ValueLossExceeded", "EpochLossBudgetExceeded", "IdleInflow", "DepositNotFunded", "PoolRoundTrip", "PoolUnhealthy"])

/**
 * The module's plan-wide refusal in a failed send's cause chain (review rr11i H3-a): a named SDK error of
 * {@link PLAN_WIDE_REFUSALS} (`ValueLossExceededError`: `loss`, `moved`), or a module revert the SDK could not name
 * (`LeverageModuleRevertedError`, a panic aside).
 *
 * @returns The module error's name and arguments, or undefined (a transport failure, a bundler's or paymaster's answer,
 *   a refusal naming a sub-account).
 */
export function planWideRefusalOf(error: unknown): { name: string; args: readonly unknown[] } | undefined {
  if (!(error instanceof BaseError)) return undefined
  let found: { name: string; args: readonly unknown[] } | undefined
  firstInCauseChain(error, (e) => {
    const name = String((e as { name?: unknown }).name ?? "").replace(/Error$/, "")
    if (PLAN_WIDE_REFUSALS.has(name)) {
      const x = e as { loss?: unknown; moved?: unknown }
      found = { name, args: x.loss !== undefined ? [x.loss, x.moved] : [] }
    } else if (e instanceof LeverageModuleRevertedError && e.errorName !== "Panic") found = { name: e.errorName, args: e.args }
    return found !== undefined
  })
  return found
}

/**
 * Plan-wide refusals of the loss class (review rr11j J2): what the SDK's fee-lenient `validateRebalance` lets through as
 * `feeUndecided` (a pool fee booked as kept) and the simulation then refuses when the vault pays it out, and the losses
 * the keeper's judge never judges (a swap's slippage, an Aave flash premium: review rr11k K1). Any of these, naming no
 * sub-account, has its cause isolated among the plan's sub-accounts (`isolateRefusals`), judged or not.
 */
const LOSS_REFUSALS = new Set(["ValueLossExceeded", "EpochLossBudgetExceeded"])

/** What {@link SafeStep}'s `reportUnreached` is told of one step. */
type UnreachedReport = {
  snapshot: PortfolioSnapshot
  /** Lower-case ids of due sub-accounts whose plan was ranked but not reached in this step. */
  carried: ReadonlySet<string>
  /** Lower-case ids whose plan was reached (judged) in this step: their run's clock stops. */
  judged: ReadonlySet<string>
  venues: Map<string, VenueName>
  /** Left for the next operation by the module's structural limits (MAX_SUB_ACCOUNTS / MAX_ACTIONS). */
  overLimit?: ReadonlySet<string> | undefined
  /** Left behind an accepted subset of their own plan by the isolation. */
  leftBehind?: ReadonlySet<string> | undefined
  /** Whether this step sent a plan (default true). */
  sent?: boolean | undefined
}

/**
 * The sub-accounts a narrowing found too big alone, each with its refusal's words (review rr11t T1), for the step's alert.
 */
function tooBigText(tooBig: readonly { id: string; reason: string }[]): string {
  return tooBig.length === 0 ? "none tried alone" : `tried alone and refused: ${tooBig.map((x) => `${x.id} [${x.reason}]`).join("; ")}`
}

/**
 * The `unreached` alert's detail: why a due sub-account's plan was not reached in each of the last `steps` steps
 * (`over-limit`: the module's limits; `left-behind`: behind an accepted subset; `sent`: a more urgent plan sent first;
 * `failed`: no plan sent, another plan's failure ended the step).
 */
function unreachedDetail(steps: bigint, why: "over-limit" | "left-behind" | "sent" | "failed"): string {
  switch (why) {
    case "over-limit":
      return `left for the next operation by the module's limits for one operation (MAX_SUB_ACCOUNTS / MAX_ACTIONS, or the plan's loss room), more urgent or longer-waiting ones sent first, in each of the last ${steps} steps while it stayed due`
    case "left-behind":
      return `left behind an accepted subset of its own plan (the whole plan refused plan-wide) in each of the last ${steps} steps while it stayed due; its plan's isolation tries it first at the next step`
    case "sent":
      return `a more urgent plan was sent first in each of the last ${steps} steps while it stayed due`
    case "failed":
      return `not reached in each of the last ${steps} steps while it stayed due; in this one no plan was sent: another plan's attempt failed and ended the step before its plan was tried`
  }
}

/**
 * Blocks within which a plan's second failure with an error naming none of its sub-accounts counts as a repeat (the
 * previous step, or the one before after a backoff): only then are its sub-accounts isolated (`SafeRuntime.recentFailures` slot `unnamed`).
 */
export const UNNAMED_REPEAT_BLOCKS = 2n

export class SafeStep {
  /** The runtimes whose alone table was read back from the store (`PendingStore.aloneFacts`), once per process. */
  private readonly restored = new WeakSet<SafeRuntime>()
  /** Where a refused state-file lock is reported (the keeper's `state-file-locked` run). */
  private readonly snapshots: Pick<StateSnapshots, "lockRefused">

  constructor(
    private readonly deps: {
      config: KeeperConfig
      clients: KeeperClients
      store: PendingStore
      metrics: KeeperMetrics
      logger: Logger
      events: KeeperEvents
      clock: Clock
      tracker: InclusionTracker
      sender: RebalanceSender
      volatility: VolatilityFeed
      dryRun: boolean
      /**
       * The keeper's state-file runs (`StateSnapshots`: a lock refused to a Safe's write opens the keeper's
       * `state-file-locked` run, its snapshot ends it); a run of this step's own when omitted (tests).
       */
      snapshots?: Pick<StateSnapshots, "lockRefused"> | undefined
    },
  ) {
    this.snapshots = deps.snapshots ?? new StateSnapshots({ store: {}, safe: deps.config.deployment.leverageModule, events: deps.events, logger: deps.logger })
  }

  /**
   * Runs the step unless the Safe is already being processed or backing off.
   *
   * @param read - What was read already for this block (the fleet's batched reads): the Safe's snapshot, and where
   * the inclusion tracker finds events and nonces. Read from the chain for this Safe alone when omitted. `reads`: the
   * client of the snapshot's block reads (the oracle check), the fleet's reads pinned to the block's hash (a block lost
   * to a reorg throws {@link BlockNotCanonicalError}: the step ends with a warn, no alert); `clients.publicClient` when omitted.
   * @returns When the Safe's work for this block is done.
   */
  async run(rt: SafeRuntime, block: bigint, read: { snapshot?: PortfolioSnapshot; lookup?: InclusionLookup; reads?: PublicClient | undefined } = {}): Promise<void> {
    if (rt.busy) return
    rt.busy = true
    const safe = rt.config.address
    // One isolation budget and one set of culprits per step, whatever the retries (review rr11l L4).
    const isolation = new StepIsolation()
    try {
      this.restoreAloneFacts(rt, block)
      if (this.deps.clock.now() < rt.backoffUntil) return
      noteStepRan(rt, block)
      let replace: PendingOperation | undefined
      let snapshot = read.snapshot
      const pending = await this.deps.store.pending(safe)
      if (pending) {
        const verdict = await this.deps.tracker.track(rt, pending, block, read.lookup)
        // Dropped: the record was ahead of the chain; solve and send afresh at the chain's nonce in this same block.
        if (verdict === "resubmit") replace = await this.deps.store.pending(safe)
        // Included (landed or reverted): plan again in this same block, on a fresh read (a batched snapshot may predate
        // the inclusion). Waiting for the next block would send the next attempt a block late every time: a swap rescue
        // reverted by a price step inside its inclusion window would land with the step after, and revert again.
        // Unknown (the nonce used, its event never seen): the slot is free alike.
        else if (verdict === "included" || verdict === "unknown") snapshot = undefined
        else if (verdict !== "dropped") return
      }
      // A token paymaster pre-charges its maximum before the plan runs: when the plan needed that part of the balance
      // (PaymasterTokenChargeError, nothing sent), plan again in this block keeping the charge aside. A new plan's
      // operation may be charged a few gas units more (its calldata prices its pre-verification gas), so up to
      // PAYMASTER_CHARGE_ATTEMPTS, each keeping the largest charge seen aside. A charge learned in an earlier block is
      // dropped: it was priced at that block's fees.
      if (rt.paymasterTokenCharge && rt.paymasterTokenCharge.block !== block) rt.paymasterTokenCharge = undefined
      for (let attempt = 1; ; attempt++) {
        try {
          await this.solveAndSend(rt, block, replace, attempt === 1 ? snapshot : undefined, isolation, read.reads)
          break
        } catch (error) {
          const charge = paymasterChargeOf(error)
          if (charge === undefined || attempt >= PAYMASTER_CHARGE_ATTEMPTS) throw error
          keepCharge(rt, charge, block)
          this.deps.logger.info({ safe, charge: charge.toString(), attempt }, "the token paymaster's pre-charge leaves the plan short; planning again with it kept aside")
        }
      }
    } catch (error) {
      const charge = paymasterChargeOf(error)
      if (charge !== undefined) keepCharge(rt, charge, block)
      if (error instanceof StoreFencedError) {
        this.deps.logger.warn({ safe, block: Number(block) }, error.shortMessage)
        return
      }
      // The store could not write the in-flight record (the fleet's Redis unreachable) or refused it (another keeper holds
      // the state file): nothing was sent, and it is not the plan's failure (review rr11zd D1): no plan alert, no backoff
      // (tried again at the next block), alerted once per run (`reportStoreHalt`).
      const halt = storeHaltOf(error)
      if (halt) return this.reportStoreHalt(rt, block, halt)
      // The snapshot's block was lost to a reorg (a fleet step's pinned reads, review rr16c S1): not the plan's failure.
      const lost = findInCauseChain(error, BlockNotCanonicalError)
      if (lost) {
        this.deps.logger.warn({ safe, block: Number(block), hash: lost.hash, canonical: lost.canonical }, "step skipped: its block is no longer on the node's chain (reorg); the Safe is read again at the next head")
        return
      }
      // A venue's refusal of the plan (an Aave adapter / router error, an Aave pool code) is its own alert kind.
      // The node's failure (`isNodeFailure`: transport, rate limit, a failed multicall read, a refused eth_getLogs), not
      // the plan's: rpc-error, retried.
      // A failure of the whole Safe (`safeWideFailureOf`: its paymaster, its gas prefund, its nonce) blames no sub-account:
      // alerted naming the cause (`paymaster-refused` / `paymaster-unavailable` for the paymaster's), not the plan's.
      // An ambiguous HTTP 5xx (`isAmbiguousAnswer`, review rr11u U3 / U4) reaching here was not found to be the plan's: a
      // first sighting, or the same answer for each narrowed subset too: the bundler's.
      // One the alone table holds refused alone for the same answer is named instead (review rr11y Y5).
      const namedAlone = isolation.tooBigAlone.length > 0 && isAmbiguousAnswer(error) !== undefined && !isNodeFailure(error)
      const node = !namedAlone && (isNodeFailure(error) || isAmbiguousAnswer(error) !== undefined)
      const wide = node ? undefined : safeWideFailureOf(error)
      const kind = node ? "rpc-error" : wide?.cause === "paymaster" ? "paymaster-refused" : wide?.cause === "paymaster-unavailable" ? "paymaster-unavailable" : wide === undefined && findVenueRefusal(error) ? "venue-refused" : "send-failed"
      // A plan's failure names the plan's sub-accounts (review rr11p P6 residual: the alert named none of them).
      const failed = node ? undefined : isolation.failedPlan
      this.deps.events.alert(
        safe,
        block,
        kind,
        wide !== undefined
          ? new SafeWideFailureError({ safe, cause: wide.cause, reason: isolation.narrowedToOne ? `${wide.reason}; even a plan of one sub-account does not fit (${tooBigText(isolation.tooBigAlone)})` : wide.reason, subAccounts: failed, error })
          : failed === undefined
            ? error
            : new PlanSendFailedError({ safe, subAccounts: failed, fellThrough: false, cause: namedAlone ? Object.assign(new Error(`${isolation.tooBigAlone.map((x) => x.reason).join("; ")}; even a plan of one sub-account is refused`), { cause: error }) : error }),
      )
      backoff(rt, this.deps.config.retry, this.deps.clock.now())
    } finally {
      // Released first: a state file that cannot be written (disk full, read-only) must not stop the Safe for good
      // (review rr11za A3: busy stayed true and the step's promise rejected).
      rt.busy = false
      this.persistAloneFacts(rt, block)
    }
  }

  /**
   * After a restart (the first step of `rt` in this process), the Safe's alone table read back from the store's state
   * file (`PendingStore.aloneFacts`; absent for the fleet, which carries it in its shared runtime), its entries older than
   * their window at `block` dropped (`restoreAloneTable`): a sub-account learned refused alone at block N is still left
   * out at N + 1 without a new probe, and forgotten when its window ends, as without the restart. A table already in
   * `rt` (the fleet's) is kept; an unreadable record is ignored (logged).
   */
  private restoreAloneFacts(rt: SafeRuntime, block: bigint): void {
    if (this.restored.has(rt)) return
    this.restored.add(rt)
    const saved = this.deps.store.aloneFacts?.(rt.config.address)
    if (saved === undefined || rt.aloneFacts !== undefined) return
    try {
      rt.aloneFacts = restoreAloneTable(decodeShared(saved) as AloneTable, block)
      if (rt.aloneFacts !== undefined) this.deps.logger.info({ safe: rt.config.address, block: Number(block), entries: [...rt.aloneFacts.facts.keys()] }, "alone table restored from the state file")
    } catch (error) {
      this.deps.logger.warn({ safe: rt.config.address, error: error instanceof Error ? error.message : String(error) }, "the state file's alone table is unreadable; ignored")
    }
  }

  /**
   * Persists the Safe's alone table after each step (`PendingStore.setAloneFacts`, the state file; written only when it
   * changed), never in a dry run (the production state file is not rewritten by a `--dry-run` keeper). A failed write
   * ({@link StateWriteError}) is alerted `state-write-failed` once per run of the Safe's failing writes
   * ({@link stateWriteFailed}).
   */
  private persistAloneFacts(rt: SafeRuntime, block: bigint): void {
    if (this.deps.dryRun || this.deps.store.setAloneFacts === undefined) return
    const t = rt.aloneFacts
    try {
      this.deps.store.setAloneFacts(rt.config.address, t === undefined || (t.facts.size === 0 && t.outage === undefined) ? undefined : encodeShared(t))
    } catch (error) {
      // The table is a memory of refusals, not funds: the Safe goes on being managed; the operator is told once per run
      // of failing writes of the Safe, the run shared with the in-flight record's (review rr11zd D2).
      if (error instanceof StateWriteError) return stateWriteFailed(this.deps, rt, block, error, "the alone table")
      const halt = storeHaltOf(error)
      if (halt) return this.reportStoreHalt(rt, block, halt)
      this.deps.events.alert(rt.config.address, block, "state-write-failed", error instanceof Error ? error : new Error(String(error)))
    }
  }

  /**
   * A step ended by its store ({@link storeHaltOf}): a warn line, and the alert once per run of failures
   * ({@link failureRun}): `state-store-unavailable` on the Safe (its run `SafeRuntime.storeUnavailable`, ended by a
   * successful write of its record, writePendingRecord, or a later step without the failure, noteStepRan);
   * `state-file-locked` on the keeper (`StateSnapshots.lockRefused`, ended by the next snapshot written: review rr11zf
   * F3). The keeper keeps stepping while another holds the state file: the store refuses every write, so nothing is sent.
   * Public for the fleet's step (`FleetStep.run`), whose own reads and writes before and around this step (the shared
   * runtime, the in-flight record of a paused or revoked Safe it only tracks) end the same way.
   */
  reportStoreHalt(rt: SafeRuntime, block: bigint, halt: NonNullable<ReturnType<typeof storeHaltOf>>): void {
    const safe = rt.config.address
    this.deps.logger.warn({ safe, block: Number(block), kind: halt.kind, err: shortMessage(halt.error) }, "the store could not read or write the Safe's record; nothing sent, trying again at the next block")
    if (halt.kind === "state-file-locked") this.snapshots.lockRefused(block, halt.error)
    else rt.storeUnavailable = failureRun(rt.storeUnavailable, block, () => this.deps.events.alert(safe, block, halt.kind, halt.error))
  }

  /**
   * Reads the snapshot planned around (an Aave sub-account's reserve limits, a swap quote: `PortfolioSnapshot.degraded`)
   * are not silent: one warn line when each appears (not every block while it lasts), and the gauge
   * `levpilot_read_degraded{safe, read}` counts them at every step (0 once they read again).
   */
  private reportDegraded(rt: SafeRuntime, snapshot: PortfolioSnapshot): void {
    const { logger, metrics } = this.deps
    const safe = rt.config.address
    const degraded = snapshot.degraded ?? []
    const seen = new Set<string>()
    for (const d of degraded) {
      const key = `${d.read}|${d.subAccount ?? ""}|${d.detail ?? ""}`
      seen.add(key)
      if (!rt.degraded.has(key))
        logger.warn(
          { safe, read: d.read, subAccount: d.subAccount, detail: d.detail, err: d.message },
          d.read === "aave-limits"
            ? "Aave reserve limits could not be read: planning without them"
            : d.read === "borrowable"
              ? `Morpho's free liquidity could not be read at the snapshot's block: ${d.detail === "latest" ? "bound by the latest block's" : "no borrow planned"}`
              : `swap quote failed for ${d.subAccount}${d.detail ? ` (${d.detail})` : ""}: no swap lane for it this block`,
        )
    }
    for (const read of ["aave-limits", "swap-curve", "borrowable"] as const)
      metrics.set("levpilot_read_degraded", "Reads that failed at the last step and were planned around: an Aave sub-account's reserve limits (planned without them), a swap quote (no swap lane for that sub-account, side and fee), Morpho's free liquidity at the snapshot's block (bound at latest, or no borrow).", { safe, read }, degraded.filter((d) => d.read === read).length)
    rt.degraded = seen
  }

  /**
   * Dust collateral on the Safe's Aave account (`PortfolioSnapshot.aaveDust`: reserves outside its sub-accounts'
   * collateral assets worth less than the threshold, e.g. 1 wei of an aToken anyone sent): the gauge
   * `levpilot_aave_dust_collateral_reserves{safe, sub_account}` on every Aave sub-account (their count; 0 when none),
   * and one `aave-dust-collateral` alert naming the reserves and the extra gas per operation
   * (`AAVE_DUST_GAS_PER_RESERVE` each) when the set changes to a non-empty one (not every block while it lasts); an
   * info line when it clears. A snapshot that did not read it (the fleet reads Aave limits only when a plan may follow,
   * or the read failed) changes nothing.
   */
  private reportAaveDust(rt: SafeRuntime, block: bigint, snapshot: PortfolioSnapshot, venues: ReadonlyMap<string, string>): void {
    const dust = snapshot.aaveDust
    if (dust === undefined) return
    const { logger, metrics, events } = this.deps
    const safe = rt.config.address
    for (const s of snapshot.chain)
      if (venues.get(s.subAccount.toLowerCase()) === "aave-v3") metrics.set("levpilot_aave_dust_collateral_reserves", AAVE_DUST_HELP, { safe, sub_account: s.subAccount }, dust.length)
    const key = dust.map((r) => r.asset.toLowerCase()).sort().join(",")
    const previous = rt.aaveDust ?? ""
    rt.aaveDust = key
    if (key === previous) return
    if (key === "") {
      logger.info({ safe, block: Number(block) }, "Aave dust collateral cleared")
      return
    }
    events.alert(safe, block, "aave-dust-collateral", new AaveDustCollateralError({ safe, reserves: dust, extraGasPerOperation: AAVE_DUST_GAS_PER_RESERVE * BigInt(dust.length) }))
  }

  /**
   * Why Aave refuses an Aave sub-account's borrows (`PortfolioSnapshot.aaveBorrowRefusals`, from `readAaveLimits`'
   * `borrowRefusal`): the gauge `levpilot_aave_borrow_refusal{safe, sub_account, reason}`, 1 for the binding reason and
   * 0 for every other, on each Aave sub-account the limits were read for; a snapshot that read no limits changes nothing.
   */
  private reportAaveBorrowRefusal(rt: SafeRuntime, snapshot: PortfolioSnapshot, venues: ReadonlyMap<string, string>): void {
    const refusals = snapshot.aaveBorrowRefusals
    if (refusals === undefined) return
    const safe = rt.config.address
    for (const s of snapshot.chain) {
      const id = s.subAccount.toLowerCase()
      if (venues.get(id) !== "aave-v3" || !(id in refusals)) continue
      for (const reason of AAVE_BORROW_REFUSAL_REASONS)
        this.deps.metrics.set("levpilot_aave_borrow_refusal", AAVE_BORROW_REFUSAL_HELP, { safe, sub_account: s.subAccount, reason }, refusals[id] === reason ? 1 : 0)
    }
  }

  /**
   * Below-band sub-accounts with no feasible rescue: the solver found no plan listing them for any loan asset and says
   * so (`no valid plan`: funds, swap lane, flash liquidity and caps reach no landing zone), or their own policy blocks
   * every rebalance now (cooling down, an epoch cap reached: {@link POLICY_BLOCKED}, binding `policyCap`). Nothing is sent for them, so
   * the keeper retries nothing that cannot land; one `no-rescue` event, `rescue-infeasible` alert (review rr11r R3) and warn line when a sub-account becomes so (again
   * only after it was rescued or left the band), and the gauge `levpilot_rescue_infeasible{safe, sub_account, venue}` at
   * every step (1 while it lasts, 0 otherwise, and 0 once a flagged sub-account leaves the snapshot: policy removed or
   * left out as unreadable) Called once per step on the last plan attempt's results (after a re-plan without a
   * refused sub-account, a due one left without a rescue by it is reported).
   */
  private reportNoRescue(rt: SafeRuntime, block: bigint, snapshot: PortfolioSnapshot, results: readonly SolverResult[], venues: ReadonlyMap<string, string>): void {
    const { logger, metrics, events } = this.deps
    const safe = rt.config.address
    const previous = rt.noRescue ?? new Map<string, { binding: string; label: string; venue: string }>()
    const now = new Map<string, { binding: string; label: string; venue: string }>()
    const ltvBoundNow = new Map<string, { label: string; venue: string }>()
    for (const s of snapshot.chain) {
      const id = s.subAccount.toLowerCase()
      const venue = venues.get(id) ?? "unknown"
      const outcome = results.flatMap((r) => r.outcomes).find((o) => o.id.toLowerCase() === id)
      const planned = results.some((r) => r.plan?.subAccounts.some((x) => x.toLowerCase() === id))
      // Also one its own policy blocks (cooldown, an epoch cap: binding `policyCap`; review rr11p P4: 0 events, gauge 0).
      const infeasible = s.band === "below" && !planned && outcome !== undefined && rescueInfeasibleReason(outcome.reason)
      metrics.set("levpilot_rescue_infeasible", RESCUE_INFEASIBLE_HELP, { safe, sub_account: s.subAccount, venue }, infeasible ? 1 : 0)
      // A boost Aave would refuse above the account's LTV ("36") is skipped, not sent and refused every block: say so.
      const ltvBound = s.band === "above" && !planned && outcome !== undefined && /LTV room/.test(outcome.reason)
      metrics.set("levpilot_boost_ltv_bound", BOOST_LTV_BOUND_HELP, { safe, sub_account: s.subAccount, venue }, ltvBound ? 1 : 0)
      if (ltvBound && outcome !== undefined && !rt.ltvBound?.has(id))
        logger.info({ safe, block: Number(block), subAccount: s.subAccount, venue, reason: outcome.reason }, `boost skipped for ${s.subAccount} (${venue}): the venue's LTV room allows no landing in the band`)
      if (ltvBound) ltvBoundNow.set(id, { label: s.subAccount, venue })
      if (!infeasible || outcome === undefined) continue
      const binding = rescueBindingOf(outcome.reason)
      now.set(id, { binding, label: s.subAccount, venue })
      if (previous.get(id)?.binding === binding) continue
      logger.warn({ safe, block: Number(block), subAccount: s.subAccount, venue, binding, reason: outcome.reason }, `no feasible rescue for ${s.subAccount} (${venue}): ${binding}; nothing sent for it`)
      events.emit({ type: "no-rescue", safe, block, subAccount: s.subAccount, venue, binding, reason: outcome.reason })
      // Also an alert (review rr11r R3: an event only, 0 alerts, nothing the webhook posts, failures_total 0).
      const minHealth = snapshot.input.subAccounts.find((x) => x.state.id.toLowerCase() === id)?.policy.minHealth
      events.alert(safe, block, "rescue-infeasible", new RescueInfeasibleError({ safe, subAccount: s.subAccount, venue, binding, reason: outcome.reason, health: outcome.healthBefore, minHealth }))
    }
    // One flagged at the last step and no longer in the snapshot (its policy removed, or left out as unreadable): its
    // gauge goes back to 0 (else it would read 1 forever); if it comes back still stuck, that is a new episode.
    const listed = new Set(snapshot.chain.map((s) => s.subAccount.toLowerCase()))
    for (const [id, { label, venue }] of previous)
      if (!listed.has(id)) metrics.set("levpilot_rescue_infeasible", RESCUE_INFEASIBLE_HELP, { safe, sub_account: label, venue }, 0)
    for (const [id, { label, venue }] of rt.ltvBound ?? [])
      if (!listed.has(id)) metrics.set("levpilot_boost_ltv_bound", BOOST_LTV_BOUND_HELP, { safe, sub_account: label, venue }, 0)
    rt.noRescue = now
    rt.ltvBound = ltvBoundNow
  }

  /**
   * When an ERC-20 paymaster is paid in a token the Safe's plans spend (`paymasterContext.token`), keeps its exact
   * pre-charge out of what the solver and the clamp may use: the paymaster pulls it in validation, before the plan runs,
   * so a plan spending the whole balance would revert in every block. The charge is the one of this Safe's last
   * prepared operation in this block (`rt.paymasterTokenCharge`, none before the first): the SDK's `sendRebalance` computes the
   * prepared operation's exact charge (`paymasterToken`) and refuses a plan that needs it, and the keeper then plans
   * again with it kept aside (`run`).
   */
  private reservePaymasterToken(rt: SafeRuntime, snapshot: PortfolioSnapshot): void {
    reservePaymasterCharge(snapshot, paymasterTokenOf(this.deps), rt.paymasterTokenCharge?.charge ?? 0n)
  }

  private async solveAndSend(rt: SafeRuntime, block: bigint, replace: PendingOperation | undefined, read: PortfolioSnapshot | undefined, isolation: StepIsolation, reads?: PublicClient | undefined): Promise<void> {
    const { config, clients, store, metrics, logger, events, clock } = this.deps
    const safe = rt.config.address
    isolation.failedPlan = undefined
    isolation.narrowedToOne = undefined
    isolation.tooBigAlone = []
    const read0 = read ?? (await readPortfolio(clients.publicClient, { safe, deployment: config.deployment, risk: rt.config.risk, costs: keeperCosts(config), swap: config.swap, aaveDustThresholdBase: config.aaveDustThresholdBase }))
    // A sub-account whose oracle fails the module's oracle checks (stale, zero, out of bounds) is left out like one
    // whose oracle reverts: every plan listing it would revert. The fleet's batched read (one eth_call for every Safe)
    // gets the feeds judged only when a plan may follow (a sub-account out of band): a calm fleet costs no more reads.
    const judge = read === undefined || read0.chain.some(mayAct)
    // The given snapshot's feeds at its block through the caller's pinned reads (the fleet's); a fresh read's through ours.
    const raw = judge ? await excludeFailingOracles((read && reads) || clients.publicClient, read0, config.deployment) : read0
    // Every per-sub-account series, log line and alert names the venue (morpho-blue, aave-v3) the policy's adapter is.
    const venues = new Map(raw.chain.map((s) => [s.subAccount.toLowerCase(), venueOf(config.deployment, s.policy.adapter)]))
    for (const [id, venue] of venues) rt.venues.set(id, venue)
    // Issue 13, stop 61: under `swap.repayment: "sale-minimum"` the band rule on paper (`rt.bandPaper`, fed this read by
    // the volatility feed) plans and lands its sales in that mode too, as the Safe's own do (BandRulePaper reads the flag).
    const modeRead = config.swap !== undefined && config.swap.repayment !== "amount" ? { ...raw, input: { ...raw.input, saleMinimumRepayment: true } } : raw
    const snapshot = this.deps.volatility.apply(rt, modeRead)
    for (const s of snapshot.chain) {
      const labels = { safe, sub_account: s.subAccount, venue: venues.get(s.subAccount.toLowerCase()) as string }
      metrics.set("levpilot_health", "Health of each sub-account, by venue (Morpho Blue: collateral value x LLTV / debt; Aave v3: its health factor).", labels, s.debt === 0n ? Number.POSITIVE_INFINITY : Number(s.health) / 1e18)
      metrics.set("levpilot_leverage", "Effective leverage of each sub-account.", labels, Number(s.leverage) / 1e18)
    }
    this.reservePaymasterToken(rt, snapshot)
    // A sub-account whose oracle or venue reverts is left out (the others are still solved): a gauge per sub-account
    // and one `feed-broken` alert when it breaks; the gauge goes back to 0 when it reads again.
    const broken = new Set(snapshot.unreadable.map((e) => e.subAccount.toLowerCase()))
    // Feeds not judged this time (a calm Safe in fleet mode): a sub-account last seen failing stays so until judged again.
    if (!judge) for (const id of rt.unreadable) if (snapshot.chain.some((s) => s.subAccount.toLowerCase() === id)) broken.add(id)
    for (const s of snapshot.chain)
      if (!broken.has(s.subAccount.toLowerCase()) && !rt.oracleRefused?.get(s.subAccount.toLowerCase())?.alerted) metrics.set("levpilot_subaccount_unreadable", UNREADABLE_HELP, { safe, sub_account: s.subAccount, venue: venues.get(s.subAccount.toLowerCase()) as string }, 0)
    for (const e of snapshot.unreadable) {
      const venue = venueOf(config.deployment, e.adapter)
      metrics.set("levpilot_subaccount_unreadable", UNREADABLE_HELP, { safe, sub_account: e.subAccount, venue }, 1)
      if (!rt.unreadable.has(e.subAccount.toLowerCase())) {
        // A venue's own refusal (the Aave adapter's EModeMismatch after the owners switched e-mode, a paused reserve) is
        // not a broken feed: its own alert kind, naming the venue's error.
        const refusal = "revertData" in e ? decodeVenueRevert(e.revertData as Hex) : undefined
        if (refusal) events.alert(safe, block, "venue-refused", new SubAccountRefusedError({ safe, subAccount: e.subAccount, venue, stage: "read", refusal: refusal.errorName, cause: new VenueRefusedError({ ...refusal, cause: e }) }))
        else events.alert(safe, block, "feed-broken", new SubAccountUnreadableError({ safe, subAccount: e.subAccount, venue, check: "check" in e ? e.check : undefined, cause: e }))
      }
    }
    rt.unreadable = broken
    this.reportDegraded(rt, snapshot)
    this.reportAaveDust(rt, block, snapshot, venues)
    this.reportAaveBorrowRefusal(rt, snapshot, venues)
    // Out of band, or (issue 13) due for an in-band rescue: a plan may follow.
    const outOfBand = snapshot.chain.some(mayAct)
    if (!outOfBand) rt.triggerBlock = undefined
    else if (rt.triggerBlock === undefined) {
      rt.triggerBlock = snapshot.blockNumber
      rt.triggerAt = clock.now()
    }
    // A plan over several sub-accounts whose simulation fails on one sub-account's action (the revert names its index:
    // ActionFailed, ActionNotAllowed, a venue's refusal) is planned again in this block without that sub-account, with an
    // alert naming it (`venue-refused` for a venue's refusal, else `send-failed`), instead of sending nothing for all.
    // Never for a replacement (its nonce's fate is the tracker's) nor for a plan of one sub-account (nothing is left),
    // except an oracle refusal, which is the chain's verdict on the feed, not on the plan (below).
    // Sub-accounts found refused alone earlier in this step (before a token paymaster's retry) stay out, their runs kept.
    const excluded = new Set<string>(isolation.culprits)
    const refusedNow = new Set<string>()
    const oracleRefusedNow = new Set<string>()
    // The rule book's refusals after the clamp in this step (by sub-account, or `*|ids` naming none: the refused plan's).
    const ruleRefusedNow = new Map<string, ClampRuleRefusedError>(isolation.runs)
    // The plans ranked and the sub-accounts judged over this step's attempts: a run of refusals is carried over a step
    // that never reached its sub-account's plan (review rr11h H1), not ended by it.
    const rankedNow: string[][] = []
    // Due sub-accounts left out by the module's structural limits in this step (review rr11o O4).
    const overLimitNow = new Set<string>()
    const judgedNow = new Set<string>()
    // Due sub-accounts left behind an accepted subset of their plan by the isolation in this step (review rr11p P5).
    const leftBehindNow = new Set<string>()
    // Whether this step sent a plan (the `unreached` alert's reason: review rr11p P2).
    let sentNow = false
    // no-rescue is reported once per step, on the last plan attempt's results: a due sub-account left without a rescue
    // once a refused donor is excluded is reported (the first attempt listed it with the donor).
    let solved: readonly SolverResult[] | undefined
    // Whether the step ended normally (not thrown): only then are the sub-accounts refused alone at earlier steps pruned.
    let finished = false
    // Most urgent first: the lowest `health / minHealth` before the plan, as the solver saw it (as `urgencyOf` ranks).
    const mostUrgentFirst = (ids: string[], results: readonly SolverResult[] | undefined) => {
      const ratio = (id: string) => {
        const before = results?.flatMap((r) => r.outcomes).find((o) => o.id.toLowerCase() === id)?.healthBefore
        const minHealth = snapshot.input.subAccounts.find((x) => x.state.id.toLowerCase() === id)?.policy.minHealth
        return before === undefined || !minHealth ? Number.POSITIVE_INFINITY : before / minHealth
      }
      return [...ids].sort((a, b) => ratio(a) - ratio(b))
    }
    // Where the step's blame goes: its own collections, or, while a plan's unnamed failure is isolated, a provisional
    // record committed only when a subset of the plan is accepted and sent (`ProvisionalBlame`).
    let provisional: ProvisionalBlame | undefined
    const to = () => provisional ?? { excluded, culprits: isolation.culprits, stepRuns: ruleRefusedNow, runs: isolation.runs }
    // One plan attempt's bookkeeping: its results (for no-rescue; not an isolation's, which solve a subset only), its
    // plan-wide refusals by the rule book (`*|ids` runs, review rr11i H1-a), the plans ranked and the sub-accounts judged.
    const note = (attempt: StepAttempt, results: boolean) => {
      if (results) solved = attempt.results ?? solved
      for (const { error, subAccounts } of attempt.refusals ?? []) to().stepRuns.set(`*|${[...subAccounts].sort().join(",")}`, error)
      rankedNow.push(...(attempt.ranked ?? []))
      for (const id of attempt.judged ?? []) judgedNow.add(id)
      for (const { id, error } of attempt.repairDropped ?? []) to().stepRuns.set(id, error)
      // Left out by the module's limits: unreached like a ranked plan not judged (review rr11o O4).
      for (const id of attempt.overLimit ?? []) {
        rankedNow.push([id])
        overLimitNow.add(id)
      }
      // A turn plan that failed and gave way to the next ranked plan (review rr11p P2): alerted naming its sub-accounts.
      for (const { subAccounts, error } of attempt.fellThrough ?? [])
        events.alert(safe, block, findVenueRefusal(error) ? "venue-refused" : "send-failed", new PlanSendFailedError({ safe, subAccounts, fellThrough: true, cause: error }))
    }
    // The rule book refused a clamped plan naming one of its sub-accounts, and no repair passed (nothing was sent): it is
    // left out and the rest planned again in this block, the other loan assets' plans included (rr11f F3).
    const leaveOutJudged = (error: ClampRuleRefusedError & { subAccount: string }) => {
      const id = error.subAccount.toLowerCase()
      to().excluded.add(id)
      to().stepRuns.set(id, error)
      logger.warn({ safe, block: Number(block), subAccount: id, venue: venues.get(id) ?? "unknown", rule: error.rule }, "the rule book refuses the clamped plan because of one sub-account; planning again without it in this block")
    }
    // The chain's simulation named one sub-account of the plan (its action's revert, its venue, its oracle): left out and
    // the rest planned again in this block, alerted once per outage (`venue-refused`, `send-failed`, or `feed-broken`).
    const leaveOut = (failing: { id: string; refusal: string }, oracle: { id: string; check: string } | undefined, sent: ChainPlan | undefined, error: unknown) => {
      to().excluded.add(failing.id)
      const venue = venues.get(failing.id) ?? "unknown"
      if (oracle) {
        oracleRefusedNow.add(oracle.id)
        this.noteOracleRefusal(rt, block, { ...oracle, label: sent?.subAccounts.find((id) => id.toLowerCase() === oracle.id) ?? oracle.id }, venue, error as Error)
        return
      }
      const refused = findVenueRefusal(error)
      // One alert per outage: a sub-account left out for the same refusal at the last step is only logged.
      const key = `${failing.id}|${failing.refusal}`
      refusedNow.add(key)
      if (!rt.refused?.has(key)) events.alert(safe, block, refused ? "venue-refused" : "send-failed", new SubAccountRefusedError({ safe, subAccount: failing.id, venue, stage: "plan", refusal: failing.refusal, cause: error as Error }))
      logger.warn({ safe, block: Number(block), subAccount: failing.id, venue, refusal: failing.refusal }, "plan refused because of one sub-account; planning again without it in this block")
    }
    // What a failed send of `plan` says (`error`): the sub-account to leave out (its oracle refused, or the one the
    // failure names, `failingSubAccountOf`, for plans of at least `minNamed` sub-accounts and not a replacement), or,
    // when `planWide`, a plan-wide refusal to isolate (loss-class, or any of a plan the rule book deferred); neither:
    // the caller rethrows.
    const failureOf = (error: unknown, plan: ChainPlan, attempt: StepAttempt, { minNamed, planWide }: { minNamed: number; planWide: boolean }) => {
      const oracle = oracleRefusalOf(error, plan)
      const failing = oracle ? { id: oracle.id, refusal: oracle.check } : replace !== undefined || plan.subAccounts.length < minNamed ? undefined : failingSubAccountOf(error, plan, venues)
      if (failing !== undefined || !planWide) return { failing, oracle }
      const refusal = planWideRefusalOf(error)
      return { planWide: refusal !== undefined && (attempt.feeUndecided !== undefined || LOSS_REFUSALS.has(refusal.name)) ? refusal : undefined }
    }
    // A sub-account whose plan ALONE was refused plan-wide (by the chain's simulation, or by the rule book: `judged`, its
    // `*|id` run already started): left out for the rest of the step (the paymaster's retries too) and remembered
    // (a `chain-rule` entry of the alone table `rt.aloneFacts`: left out of the next steps' plans up front, re-tested
    // alone in rotation); its run alerts
    // `nothing-to-send` (stage `simulation`) once per RULE_REFUSAL_REALERT_BLOCKS.
    const blame = (id: string, refusal: { name: string; args: readonly unknown[] }, judged?: ClampRuleRefusedError) => {
      if (isolation.culprits.has(id) || provisional?.culprits.has(id)) return
      const into = to()
      into.excluded.add(id)
      into.culprits.add(id)
      const key = judged !== undefined ? `*|${id}` : id
      const error = judged ?? new ClampRuleRefusedError({ safe, rule: refusal.name, args: refusal.args, binding: [], subAccount: id, stage: "simulation" })
      into.stepRuns.set(key, error)
      into.runs.set(key, error)
      const before = rt.aloneFacts?.facts.get(id)
      const entry: AloneFact = { verdict: "refused", cause: "chain-rule", block: before?.cause === "chain-rule" ? before.block : block, seen: block, reason: error.shortMessage, key, error }
      ;(provisional?.memory ?? aloneTable().facts).set(id, entry)
    }
    // A remembered culprit no longer blamed (sent, no plan alone, or named by the simulation): forgotten, its run ended
    // unless this step continues it under the same key for another reason.
    const forget = (id: string) => isolation.forget(rt.aloneFacts, id, ruleRefusedNow)
    // Simulates (and, accepted, sends) the plan of `subset` only (another loan asset's plan is not a verdict on this
    // one): a pure probe, the in-flight record never touched when it has no plan (review rr11m M2). Accepted: only the
    // plan's own sub-accounts count as sent (review rr11m M1). A refused subset of one is that sub-account's own refusal.
    const all = snapshot.input.subAccounts.map((x) => x.state.id.toLowerCase())
    const simulate = async (subset: string[], refusal: { name: string; args: readonly unknown[] }): Promise<IsolationVerdict> => {
      const keep = new Set(subset)
      const attempt: StepAttempt = {}
      try {
        await this.planAndSend(rt, block, replace, snapshot, venues, outOfBand, new Set([...excluded, ...(provisional?.excluded ?? []), ...all].filter((id) => !keep.has(id))), attempt, true)
        if (attempt.plan !== undefined) {
          const sent = attempt.plan.subAccounts.map((id) => id.toLowerCase())
          for (const id of sent) forget(id)
          return { kind: "accepted", sent }
        }
        const judged = attempt.refusals?.[0]?.error
        if (judged !== undefined) {
          if (subset.length === 1) blame(subset[0] as string, refusal, judged)
          return { kind: "refused" }
        }
        return { kind: "empty" }
      } catch (error) {
        if (error instanceof ClampRuleRefusedError && error.subAccount !== undefined) {
          leaveOutJudged(error as ClampRuleRefusedError & { subAccount: string })
          return { kind: "named", id: error.subAccount.toLowerCase() }
        }
        const p = attempt.plan
        // Not the plan's failure (`notThePlansFailure`: the node's, a lost lease, the token paymaster's pre-charge, or the
        // whole Safe's paymaster, gas or nonce) ends the step before anyone is blamed (review rr11q Q1, Q1-b, and its
        // Safe-wide residual: a probe of ONE sub-account failing this way blamed and remembered it).
        if (notThePlansFailure(error) !== undefined) throw error
        // An ambiguous HTTP 5xx (review rr11u U3 / U4): never blamed on a probe's sub-account (an outage reads alike).
        if (isAmbiguousAnswer(error) !== undefined) throw error
        const { failing, oracle, planWide } = p === undefined ? {} : failureOf(error, p, attempt, { minNamed: 1, planWide: true })
        if (failing !== undefined) {
          leaveOut(failing, oracle, p, error)
          return { kind: "named", id: failing.id }
        }
        if (planWide === undefined) {
          // A failure the step would rethrow (a bundler error, a swap quote read, a non-loss plan-wide revert) of the
          // plan of ONE sub-account: its own refusal alone, blamed (alerted naming it and the error) and left out, so the
          // probes of the others go on (review rr11p P6: rethrown, it stalled the plan's accepted sub-accounts for good).
          // The node's failure (rethrown above) and a failure of several are still rethrown.
          if (subset.length !== 1) throw error
          const name = error instanceof Error ? error.name : "Error"
          const message = error instanceof Error ? error.message.split("\n")[0] ?? "" : String(error)
          logger.warn({ safe, block: Number(block), subAccount: subset[0], error: message }, "the plan of one sub-account alone failed in its isolation probe; blamed and left out")
          blame(subset[0] as string, { name, args: [message] })
          return { kind: "refused" }
        }
        if (subset.length === 1) blame(subset[0] as string, planWide)
        return { kind: "refused" }
      } finally {
        note(attempt, false)
      }
    }
    // Alerted once per run, naming why, when out of its band (a donor in its band has no rescue of its own at stake).
    const undecided = (id: string, refusal: { name: string; args: readonly unknown[] }, why: "budget" | "sent" | "no-plan" | undefined) => {
      const band = snapshot.chain.find((c) => c.subAccount.toLowerCase() === id)?.band
      if (band === "inside") return
      const detail =
        why === "sent"
          ? band === "below"
            ? `a plan of other sub-accounts without it was accepted and sent first; while it is left behind, its plan's isolation tries it first after ${UNREACHED_TURN_BLOCKS} steps`
            : "a plan of other sub-accounts without it was accepted and sent first; tried again at the next block"
          : why === "no-plan"
            ? "no plan without the sub-accounts left out, e.g. its donor"
            : `its plan's share of the step's ${REFUSAL_SIMULATIONS_PER_STEP} simulations are spent; tried again at the next block`
      to().stepRuns.set(id, new ClampRuleRefusedError({ safe, rule: refusal.name, args: refusal.args, binding: [], subAccount: id, stage: "undecided", detail }))
    }
    // A plan the chain's simulation refused plan-wide with a loss-class error (or any plan-wide error of a plan deferred
    // to it by the rule book): its sub-accounts are isolated by halving (`isolateRefusals`, issue 11 item 9; reviews rr11j
    // J1/J2, rr11k K1/K2, rr11l L1-L4, rr11m), within its share of REFUSAL_SIMULATIONS_PER_STEP (`StepIsolation.share`:
    // the plans ranked after it get theirs). Only a sub-account whose plan alone is refused is blamed; an accepted subset
    // is sent (the step ends: true); the sub-accounts left undecided wait for the next operation when a subset was sent,
    // else they are left out of the block, each one out of its band with a `nothing-to-send` alert (stage `undecided`)
    // saying why (never dropped silently: review rr11l L2).
    const isolate = async (sent: ChainPlan, refusal: { name: string; args: readonly unknown[] }, attempt: StepAttempt): Promise<boolean> => {
      isolation.spent += 1 // the refused plan's own simulation
      // Most urgent first, except the culprits whose memory expired in this step (`rejoined`), last: the others are not
      // held behind them (review rr11m M3's class); they are found again only when the rest is refused too.
      const urgentFirst = mostUrgentFirst(
        sent.subAccounts.map((id) => id.toLowerCase()).filter((id) => !excluded.has(id)),
        attempt.results,
      )
      // A due sub-account with the turn (left behind an accepted subset of its plan for UNREACHED_TURN_BLOCKS steps, review
      // rr11p P5) first, the longest waiting first: else the same most urgent subset is accepted and sent every block.
      const ids = [...new StepTurns(rt.unreached, block).first(urgentFirst.filter((id) => !rejoined.has(id))), ...urgentFirst.filter((id) => rejoined.has(id))]
      const ranked = attempt.ranked ?? []
      const at = ranked.findIndex((plan) => plan.includes(ids[0] as string))
      const budget = isolation.share(at < 0 ? 1 : ranked.length - at)
      const probe = (subset: string[]) => {
        isolation.spent += 1
        return simulate(subset, refusal)
      }
      const out = await isolateRefusals({ ids, budget, simulate: probe, whole: { kind: "refused" } })
      // A plan of one sub-account refused: its own refusal, decided with no further simulation.
      for (const id of out.culprits) blame(id, refusal)
      logger.warn(
        { safe, block: Number(block), rule: refusal.name, ids, sent: out.send, culprits: out.culprits, named: out.named, untried: out.untried, why: out.why, simulations: out.simulations, spent: isolation.spent },
        "the chain's simulation refused a plan plan-wide; isolated its sub-accounts by halving",
      )
      for (const id of out.untried) {
        if (out.send === undefined) to().excluded.add(id)
        const before = rejoined.get(id)
        // A rejoined culprit left behind an accepted subset of the others: remembered again from this block under its
        // run (not re-isolated at every block: review rr11m M5), but its plan alone was not simulated in this step, so it
        // is `owed` a test alone, made FIRST at the next step even when that step sends another plan (review rr11o O6:
        // re-tested only in a step sending nothing else, it was never sent while another rescue of its asset was sent
        // every block).
        if (before !== undefined && out.why === "sent" && before.key !== undefined && before.error !== undefined) {
          aloneTable().facts.set(id, { ...before, block, seen: block, owed: true })
          const error = ruleRefusedNow.get(before.key) ?? before.error
          ruleRefusedNow.set(before.key, error)
          isolation.runs.set(before.key, error)
          continue
        }
        // A due sub-account left behind an accepted subset (not a rejoined culprit): unreached, not judged (review rr11p
        // P5: its plan judged, it never got the turn nor a test alone, and was never sent while the subset's stayed due).
        // Its `unreached` run gives it the turn (first in its plan's isolation) after UNREACHED_TURN_BLOCKS steps.
        // Alerted (stage `undecided`) in the first block it is left behind, then at most once per
        // RULE_REFUSAL_REALERT_BLOCKS through its `unreached` run, which outlives the blocks it is sent in between.
        if (out.why === "sent" && snapshot.chain.find((x) => x.subAccount.toLowerCase() === id)?.band === "below") {
          leftBehindNow.add(id)
          const runs = (rt.unreached ??= new Map())
          const run = runs.get(id)
          if (run?.alerted !== undefined && block - run.alerted < RULE_REFUSAL_REALERT_BLOCKS) continue
          runs.set(id, { since: run?.since, alerted: block })
        }
        undecided(id, refusal, out.why)
      }
      return out.send !== undefined
    }
    // The Safe's most urgent `health / minHealth` (the venue's health, as the solver reads it): an alone-table entry refused
    // found at a higher one is stale (review rr11v V3).
    const healthRatio = (id: string) => {
      const x = snapshot.input.subAccounts.find((y) => y.state.id.toLowerCase() === id)
      return x === undefined || !x.policy.minHealth ? Number.POSITIVE_INFINITY : venueHealthOf(x.state) / x.policy.minHealth
    }
    const lowestRatio = () => Math.min(Number.POSITIVE_INFINITY, ...all.map(healthRatio))
    // ---- The alone table (`SafeRuntime.aloneFacts`, reviews rr11x, rr11y): what each due sub-account's plan ALONE is
    // known to do, learned from size-dependent refusals; the narrowing below plans from it. ----
    // The table, created on first use; pruned once per step by the one forget rule (`aloneFactForgotten`, where the
    // remembered culprits are read, below).
    const aloneTable = (): AloneTable => (rt.aloneFacts ??= { facts: new Map<string, AloneFact>() })
    // A refused-alone entry still in its window (`aloneFactLeftOut`): left out of the plans built.
    const refusedAlone = (t: AloneTable, id: string) => {
      const f = t.facts.get(id)
      return f !== undefined && aloneFactLeftOut(f, block) ? f : undefined
    }
    // The words naming one refused alone in the step's alert: the field, its estimate and the cap when known.
    const aloneWords = (id: string, f: AloneFact) => {
      if (f.cause === "ambiguous") return `the bundler answered the plan of ${id} alone "${f.answer ?? f.reason}" (block ${f.block}, while another plan was accepted)`
      if (f.field === undefined || f.estimate === undefined || f.cap === undefined) return f.reason
      if (!f.derived) return `${f.field} ${f.estimate} is above the Safe's cap of ${f.cap} for the plan of ${id} alone`
      // A difference of two plans' estimates: its part with the others, not its plan alone (review rr11z Z3: a
      // superadditive pair made the operator raise the cap for a plan of one that fits).
      const part = `${f.field} at least ${f.estimate} is above the Safe's cap of ${f.cap} for the plan of ${id} with the others (its part: the difference of two plans' estimates, a lower bound`
      // Its plan alone estimated without sending (`exactAlone`): its own number first (reviews rr11x X2, rr11y Y3).
      if (f.alone?.fits === false && f.alone.estimate !== undefined)
        return `${f.field} ${f.alone.estimate} is above the Safe's cap of ${f.cap} for the plan of ${id} alone (estimated without sending); ${part})`
      if (f.alone?.fits === true) return `${part}; its plan alone, estimated without sending, fits the cap${f.alone.estimate !== undefined ? ` (${f.field} ${f.alone.estimate})` : ""})`
      return `${part}; its plan alone not tried)`
    }
    // A plan of several sub-accounts refused Safe-wide for a cause that grows with its size (`isSizeDependentSafeWide`:
    // the prefund AA21 and the self-pay budget charge (sum of gas limits) x maxFeePerGas, a sponsor may cap one
    // operation's gas, the Safe's own gas-field caps), or answered Alto's ambiguous 500 (`answer`, `isAmbiguousAnswer`):
    // narrowed from the alone table, most urgent first (the turn order of `isolate`), each probe within the plan's share
    // of REFUSAL_SIMULATIONS_PER_STEP. No sub-account is blamed: the size is the cause (review rr11s S1). The sub-accounts
    // refused alone in the table are left out of every plan built and named in the alert of the block they are learned
    // in and of each block they are left out (reviews rr11x X2, rr11y Y3 / Y5). Accepted: sent (true). A probe naming or
    // refusing a sub-account for its own reason: the step plans again without it (false). Nothing accepted: the Safe's
    // failure (rethrown, `run` alerts naming the cause and the ones refused alone).
    // - gas-cap (the estimate and the cap in gas): the refused plan's estimate E and the cap C. The least urgent of the
    //   unresolved set U is left out of the next probe (L, the known light ones, kept in): refused, its own part
    //   e = E(L+U) - E(probe) is exact; above C it is refused alone (a lower bound: its plan alone adds the operation's
    //   shared part), lighter than U's average (the weight is more urgent: review rr11y Y2) it joins L, else (gas even)
    //   the most urgent prefix of U that C fits by the average (`fittingSize`) is probed, halved while refused. So a
    //   heavy sub-account anywhere in the order does not hold back the ones after it, and one proven too big alone is named
    //   in the first block; its own estimate alone is read in that block without sending (`exactAlone`, the SDK's
    //   `estimateRebalance`, within the budget once the narrowing probes nothing more; reviews rr11x X2, rr11y Y3), else
    //   when its plan alone is sent (review rr11x X4: a cap no plan fits costs one probe a block while the table holds).
    // - gas / paymaster (no numbers): the plan without the ones refused alone first, then its most urgent half, quarter,
    //   ...; one refused alone is written in the table and the rest probed.
    // - ambiguous: with no accepted entry for the same answer in the table (no size conclusion), ONE probe
    //   (AMBIGUOUS_PROBES_PER_STEP): the plan without the ones refused alone, else one sub-account alone in rotation (the
    //   most urgent with no entry); accepted, it is sent and written `accepted` (the answer is the plans' size).
    //   Answered alike alone, it is written `unconfirmed` (never left out; unless the table's `outage` is recent). Under
    //   a conclusion: the `unconfirmed` ones are tried alone first, then the others (without those refused alone) in
    //   plans halved while answered (at most AMBIGUOUS_NARROW_PROBES); the ones answered alone in a step that accepted a
    //   plan are written `refused`; a plan no larger than one accepted after the same answer answered alike is the
    //   bundler's outage: the conclusion and the unconfirmed entries are dropped, `outage` set, nothing written (review
    //   rr11y Y4), and the step ends as the node's.
    const narrow = async (sent: ChainPlan, attempt: StepAttempt, error: unknown, answer?: string): Promise<boolean> => {
      isolation.spent += 1 // the refused plan's own simulation
      const t = aloneTable()
      const live = sent.subAccounts.map((id) => id.toLowerCase()).filter((id) => !excluded.has(id))
      const ids = [...new StepTurns(rt.unreached, block).first(mostUrgentFirst(live, attempt.results))]
      const ranked = attempt.ranked ?? []
      const at = ranked.findIndex((plan) => plan.includes(ids[0] as string))
      let budget = isolation.share(at < 0 ? 1 : ranked.length - at)
      const wide = safeWideFailureOf(error)
      const cap = answer === undefined ? gasLimitAboveCapOf(error) : undefined
      const cause: AloneFact["cause"] = answer !== undefined ? "ambiguous" : wide?.cause === "gas-cap" ? "gas-cap" : wide?.cause === "paymaster" ? "paymaster" : "gas"
      const lowest = lowestRatio()
      // A derived entry (a lower bound on its part from two plans' estimates) refuted by this refused plan's own
      // estimate, which holds it: the plan's estimate is below the bound (review rr11z Z2: a transient part kept the most
      // urgent out for ALONE_FACT_BLOCKS blocks, named with the refuted number). Dropped: planned again, most urgent first.
      if (cap !== undefined)
        for (const id of ids) {
          const f = t.facts.get(id)
          if (f?.verdict === "refused" && f.derived === true && f.field === cap.field && f.estimate !== undefined && cap.value < f.estimate) {
            logger.info({ safe, block: Number(block), subAccount: id, bound: f.estimate.toString(), estimate: cap.value.toString() }, "a derived refused-alone bound refuted by a refused plan's estimate that holds it; dropped")
            t.facts.delete(id)
          }
        }
      // Refused alone in the table: left out of the plans built, named.
      const leftOut = ids.filter((id) => refusedAlone(t, id) !== undefined && t.facts.get(id)?.cause !== "chain-rule")
      for (const id of leftOut) (t.facts.get(id) as AloneFact).seen = block
      const accepted = answer === undefined ? [] : [...t.facts.values()].filter((f) => f.verdict === "accepted" && f.cause === "ambiguous" && f.answer === answer)
      const sized = accepted.length > 0
      const fitSize = Math.max(0, ...accepted.map((f) => f.size ?? 0))
      // Learned in this step: refused alone (written at once for a numbered / gas cause; for the ambiguous answer only
      // once a plan is accepted in this step), and proven too big alone from two plans' estimates.
      const refusedNow: { id: string; fact: AloneFact }[] = []
      const answeredAlone: string[] = []
      let last = error
      const refusal = { name: wide?.cause ?? (answer !== undefined ? "ambiguous" : "safe-wide"), args: [wide?.reason ?? answer ?? ""] }
      const learnRefused = (id: string, fact: Omit<AloneFact, "verdict" | "block" | "seen" | "ratio">) => {
        const f: AloneFact = { verdict: "refused", block, seen: block, ratio: lowest, ...fact }
        if (fact.cause !== "ambiguous") t.facts.set(id, f)
        refusedNow.push({ id, fact: f })
      }
      // Named in the alert: the ones the table left out and the ones learned refused alone in this step.
      // `derived`: only its part with the others is known to be above the cap (not its plan alone's own estimate).
      const partOnly = (f: AloneFact) => f.derived === true && f.alone?.fits !== false
      const named = () => [
        ...leftOut.filter((id) => !refusedNow.some((x) => x.id === id)).map((id) => ({ id, reason: aloneWords(id, t.facts.get(id) as AloneFact), cause: (t.facts.get(id) as AloneFact).cause, derived: partOnly(t.facts.get(id) as AloneFact) })),
        ...refusedNow.map(({ id, fact }) => ({ id, reason: aloneWords(id, fact), cause: fact.cause, derived: partOnly(fact) })),
      ]
      // The exact estimate of each plan alone whose part this step derived as above the cap (a lower bound), read without
      // sending (`planAndSend`'s `estimateOnly`: the SDK's `estimateRebalance`, the same build, headroom and caps check as
      // a send; reviews rr11x X2, rr11y Y3), before the step's alert names it. Each probe counts against the plan's share
      // of REFUSAL_SIMULATIONS_PER_STEP; made only when the narrowing probes nothing more (a plan was accepted and sent, or
      // it fails), so it never takes a probe the narrowing needs and changes no plan sent. Its refusal on the same field
      // gives `alone` its own estimate; accepted, `alone.fits`; any other failure (the node's, another field's) leaves the
      // lower bound as it is (logged).
      const exactAlone = async () => {
        if (cap === undefined) return
        for (const { id, fact } of refusedNow) {
          if (budget <= 0) return
          if (fact.cause !== "gas-cap" || fact.derived !== true || fact.alone !== undefined || fact.field === undefined) continue
          budget -= 1
          isolation.spent += 1
          const attempt: StepAttempt = {}
          try {
            await this.planAndSend(rt, block, replace, snapshot, venues, outOfBand, new Set([...excluded, ...(provisional?.excluded ?? []), ...all].filter((x) => x !== id)), attempt, true, undefined, true)
            if (attempt.estimated === undefined) continue
            const signed = (attempt.estimated.userOperation as Record<string, unknown> | undefined)?.[fact.field]
            fact.alone = { fits: true, estimate: typeof signed === "bigint" ? signed : undefined }
          } catch (error) {
            const g = gasLimitAboveCapOf(error)
            if (g !== undefined && g.field === fact.field) fact.alone = { fits: false, estimate: g.value }
            else logger.info({ safe, block: Number(block), subAccount: id, err: error instanceof Error ? error.message.split("\n")[0] : String(error) }, "the estimate-only probe of a plan alone failed; its derived lower bound stands")
            continue
          }
        }
      }
      // The alert's cause for one named: its own entry's (review rr11z Z4: an ambiguous answer alone was called "the Safe
      // cannot pay its gas", the default for a step with no Safe-wide cause).
      // (A `chain-rule` entry is left out up front and never narrowed: not named here.)
      const causeOf = (c: AloneFact["cause"]): SafeWideCause => (c === "ambiguous" ? "bundler-search" : c === "chain-rule" ? (wide?.cause ?? "gas") : c)
      const onAccepted = async (v: IsolationVerdict & { kind: "accepted" }, subset: readonly string[]) => {
        await exactAlone()
        const sentIds = (v.sent ?? subset).map((x) => x.toLowerCase())
        for (const id of sentIds) t.facts.delete(id)
        if (answer !== undefined) {
          for (const id of sentIds) t.facts.set(id, { verdict: "accepted", block, seen: block, cause: "ambiguous", reason: answer, answer, size: sentIds.length })
          // Answered alone in a step that accepted another plan: its own answer, not an outage's (review rr11y Y1), once
          // answered alike a second time (it was `unconfirmed`: answered alone at an earlier step, or tried alone first in
          // this one); a first answer is written `unconfirmed` (tried alone first at the next step, never left out): one
          // flaky 500 does not leave the most urgent out for ALONE_FACT_BLOCKS blocks (review rr11z Z5).
          for (const id of answeredAlone)
            if (t.facts.get(id)?.verdict === "unconfirmed") learnRefused(id, { cause: "ambiguous", reason: answer, answer })
            else t.facts.set(id, { verdict: "unconfirmed", block, seen: block, cause: "ambiguous", reason: answer, answer })
          for (const { id, fact } of refusedNow) if (fact.cause === "ambiguous") t.facts.set(id, fact)
        }
        // The due ones left behind get their turn as in `isolate` (unreached runs), not judged nor blamed.
        for (const id of ids.filter((x) => !sentIds.includes(x) && !leftOut.includes(x) && !refusedNow.some((b) => b.id === x) && snapshot.chain.find((c) => c.subAccount.toLowerCase() === x)?.band === "below")) {
          leftBehindNow.add(id)
          const runs = (rt.unreached ??= new Map())
          const run = runs.get(id)
          if (run?.alerted !== undefined && block - run.alerted < RULE_REFUSAL_REALERT_BLOCKS) continue
          runs.set(id, { since: run?.since, alerted: block })
        }
        // The ones refused alone: not blamed, but named with their numbers in the block they are learned and each block
        // they are left out: the operator's fix is the Safe's cap / prefund / budget or the sponsor's (review rr11t T1).
        for (const big of named()) {
          logger.warn({ safe, block: Number(block), subAccount: big.id, cause, reason: big.reason, sent: sentIds }, "a sub-account's plan alone does not fit the Safe's gas caps / prefund / budget, the sponsor's cap or the bundler's search; another plan was sent")
          events.alert(
            safe,
            block,
            wide?.cause === "paymaster" ? "paymaster-refused" : "send-failed",
            new SafeWideFailureError({
              safe,
              cause: causeOf(big.cause),
              reason: `${big.reason}; ${big.derived ? `${big.id} does not fit with the others` : `the plan of ${big.id} alone does not fit`}, the plan of ${sentIds.join(", ")} was sent instead; ${big.id} is left out of the plans for up to ${ALONE_FACT_BLOCKS} blocks, then tried again`,
              subAccounts: [big.id],
              error: last,
            }),
          )
        }
        return true
      }
      // One probe: its verdict, or the size refusal it got (`refused`, with the error), or a rethrow.
      const probe = async (subset: string[]): Promise<{ v: IsolationVerdict; refused?: undefined } | { v?: undefined; refused: unknown }> => {
        budget -= 1
        isolation.spent += 1
        try {
          const v = await simulate(subset, refusal)
          logger.warn({ safe, block: Number(block), cause, ids, tried: subset, verdict: v.kind, spent: isolation.spent }, "a plan was refused for its size; narrowed it from the alone table, most urgent first")
          return { v }
        } catch (again) {
          if (!isSizeDependentSafeWide(again) && isAmbiguousAnswer(again) === undefined) throw again
          last = again
          return { refused: again }
        }
      }
      const fail = () => {
        const n = named()
        if (n.length > 0) {
          isolation.failedPlan = n.map((x) => x.id)
          isolation.narrowedToOne = true
          isolation.tooBigAlone = n
        } else isolation.failedPlan = sent.subAccounts
        return last
      }
      let candidates = ids.filter((id) => !leftOut.includes(id))
      if (answer !== undefined) {
        if (!sized) {
          // No size conclusion: ONE probe (an outage costs the plan and this probe).
          isolation.ambiguousProbes += 1
          const fresh = (id: string) => t.facts.get(id) === undefined
          let subset: string[]
          if (leftOut.length > 0 && candidates.length > 0) subset = candidates
          else {
            // The rotation: the most urgent with no entry; all tried: restart from the most urgent (review rr11x X3).
            const next = candidates.find(fresh)
            if (next === undefined) for (const id of candidates) if (t.facts.get(id)?.verdict === "unconfirmed") t.facts.delete(id)
            subset = [next ?? (candidates[0] as string)]
          }
          if (subset.length === 0 || subset[0] === undefined) throw fail()
          const r = await probe(subset)
          if (r.v?.kind === "accepted") return onAccepted(r.v, subset)
          if (r.v !== undefined) return r.v.kind === "named" ? false : (() => { throw fail() })()
          if (subset.length === 1 && isAmbiguousAnswer(r.refused) !== undefined && t.outage === undefined)
            t.facts.set(subset[0] as string, { verdict: "unconfirmed", block, seen: block, cause: "ambiguous", reason: answer, answer })
          throw fail()
        }
        // Under a conclusion: the unconfirmed ones alone first (confirmed refused, or sent).
        for (const id of candidates.filter((x) => t.facts.get(x)?.verdict === "unconfirmed")) {
          if (budget <= 0) break
          const r = await probe([id])
          if (r.v?.kind === "accepted") return onAccepted(r.v, [id])
          if (r.v !== undefined) return r.v.kind === "named" ? false : (() => { throw fail() })()
          if (isAmbiguousAnswer(r.refused) === undefined) continue
          answeredAlone.push(id)
          candidates = candidates.filter((x) => x !== id)
        }
        let probes = AMBIGUOUS_NARROW_PROBES
        let subset = candidates.length !== live.length ? candidates : candidates.slice(0, Math.ceil(candidates.length / 2))
        while (subset.length > 0 && budget > 0 && probes > 0) {
          probes -= 1
          const r = await probe(subset)
          if (r.v?.kind === "accepted") return onAccepted(r.v, subset)
          if (r.v?.kind === "named") return false
          if (r.v?.kind === "refused") throw fail()
          if (r.v?.kind === "empty") {
            candidates = candidates.filter((x) => !(subset.length === 1 && x === subset[0]))
            subset = subset.length === 1 ? candidates : subset.slice(0, Math.ceil(subset.length / 2))
            continue
          }
          // Fresh (not unconfirmed) plans of one answered alike in this step: the second one is the outage's sign when
          // plans of one were accepted after the same answer (two sub-accounts answered alone: review rr11y Y1).
          const freshSingles = subset.length === 1 ? answeredAlone.filter((x) => t.facts.get(x)?.verdict !== "unconfirmed").length + 1 : 0
          if (isAmbiguousAnswer(r.refused) !== undefined && subset.length <= fitSize && (subset.length >= 2 || freshSingles >= 2)) {
            // A plan no larger than one accepted after the same answer, answered alike: the bundler's outage. The
            // conclusion and the unconfirmed entries are dropped; nothing is written (review rr11y Y4).
            for (const [id, f] of t.facts) if (f.verdict === "unconfirmed" || (f.verdict === "accepted" && f.answer === answer)) t.facts.delete(id)
            t.outage = block
            answeredAlone.length = 0
            logger.warn({ safe, block: Number(block), tried: subset, fitSize }, "a plan as small as one accepted after the same ambiguous answer was answered alike: the bundler's outage; its size conclusion dropped")
            throw fail()
          }
          if (subset.length === 1) {
            answeredAlone.push(subset[0] as string)
            candidates = candidates.filter((x) => x !== subset[0])
            // The first fresh one: the next alone (an outage answers it alike), else the rest.
            subset = freshSingles === 1 && fitSize <= 1 ? candidates.slice(0, 1) : candidates
          } else subset = subset.slice(0, Math.ceil(subset.length / 2))
        }
        // Nothing accepted: the ones answered alone are tried alone first at the next step (unless an outage is recent).
        if (t.outage === undefined) for (const id of answeredAlone) t.facts.set(id, { verdict: "unconfirmed", block, seen: block, cause: "ambiguous", reason: answer, answer })
        throw fail()
      }
      // gas-cap: plan from the estimates (see above); gas / paymaster: halving from the plan without the ones refused alone.
      const estimateOf = (e: unknown) => {
        const g = gasLimitAboveCapOf(e)
        return g !== undefined && cap !== undefined && g.field === cap.field ? g.value : undefined
      }
      let L: string[] = []
      let EL = 0n
      let U = [...candidates]
      let EU: bigint | undefined = cap !== undefined && candidates.length === live.length ? cap.value : undefined
      let prefix: number | undefined
      // Two plans one sub-account apart estimated alike (a part measured 0 or below): `flat`, the bigger one's estimate.
      // One equal pair is no proof the field does not grow (a coarse or padded estimate: review rr11z Z1): the next plan
      // is sized from the refused estimate (`fittingSize`); refused as high again, the most urgent alone (`flatAlone`);
      // only a plan of ONE refused as high proves it (verificationGasLimit, review rr11x X4): no plan of one fits.
      let flat: bigint | undefined
      let flatAlone = false
      // The parts (gas) resolved exactly in this step, and the plan packed from them (first fit by urgency) in use.
      const parts = new Map<string, bigint>()
      let pack: string[] | undefined
      const order = (xs: readonly string[]) => ids.filter((id) => xs.includes(id))
      // First fit by urgency: each candidate in turn when its part (resolved, else the unresolved set's average) still fits.
      // `typical`: the part assumed for the unresolved (default their average).
      const packed = (limit: bigint, typical?: bigint): string[] => {
        const out: string[] = []
        let sum = 0n
        for (const id of candidates) {
          const part = parts.get(id) ?? (U.includes(id) && EU !== undefined && U.length > 0 ? (typical ?? EU / BigInt(U.length)) : undefined)
          if (part === undefined || sum + part > limit) continue
          out.push(id)
          sum += part
        }
        return out
      }
      const restart = () => {
        L = []
        EL = 0n
        U = [...candidates]
        EU = undefined
        prefix = undefined
        pack = undefined
        parts.clear()
      }
      for (;;) {
        if (budget <= 0 || candidates.length === 0) {
          await exactAlone()
          throw fail()
        }
        let subset: string[]
        let left: string | undefined
        if (flatAlone) subset = [candidates[0] as string]
        else if (cap === undefined || EU === undefined) subset = prefix !== undefined ? U.slice(0, prefix) : candidates.length !== live.length ? U : U.slice(0, Math.ceil(U.length / 2))
        else if (pack !== undefined) subset = pack
        else if (EL + EU <= cap.cap || U.length === 0) subset = [...parts.keys()].every((id) => L.includes(id) || !candidates.includes(id)) ? order([...L, ...U]) : packed(cap.cap)
        else if (prefix !== undefined) subset = order([...L, ...U.slice(0, prefix)])
        else if (EU <= cap.cap) subset = pack = packed(cap.cap) // the unresolved fit together: first fit by urgency
        else if (U.length === 1) {
          // With L it does not fit; its part EU (exact) above the cap: its plan alone is tried (refused for sure under
          // additive gas) for its own estimate when the budget allows, else written refused alone with the lower bound.
          const x = U[0] as string
          if (EU > cap.cap && budget > 1) subset = [x]
          else {
            if (EU > cap.cap) {
              learnRefused(x, { cause: "gas-cap", reason: "", field: cap.field, estimate: EU, cap: cap.cap, derived: true })
              candidates = candidates.filter((id) => id !== x)
            }
            U = []
            EU = 0n
            continue
          }
        } else {
          left = U.at(-1) as string
          subset = order([...L, ...U.slice(0, -1)])
        }
        if (subset.length === 0) {
          await exactAlone()
          throw fail()
        }
        const r = await probe(subset)
        if (r.v?.kind === "accepted") {
          // The one left out when the rest was accepted: its part is at least E(L+U) - cap; above the cap, it is refused
          // alone (a lower bound), named in this block (review rr11x X2).
          if (left !== undefined && cap !== undefined && EU !== undefined && EL + EU - cap.cap > cap.cap)
            learnRefused(left, { cause: "gas-cap", reason: "", field: cap.field, estimate: EL + EU - cap.cap, cap: cap.cap, derived: true })
          return onAccepted(r.v, subset)
        }
        if (r.v?.kind === "named" || r.v?.kind === "refused") return false
        if (r.v?.kind === "empty") {
          if (subset.length === 1) {
            candidates = candidates.filter((id) => id !== subset[0])
            restart()
          } else {
            prefix = Math.max(1, Math.ceil(subset.length / 2))
            L = []
            EL = 0n
            EU = undefined
          }
          flat = undefined
          flatAlone = false
          continue
        }
        const E = estimateOf(r.refused)
        if (subset.length === 1) {
          // Refused alone: its own estimate (gas-cap) or words, in the table.
          const id = subset[0] as string
          const g = gasLimitAboveCapOf(r.refused)
          learnRefused(id, { cause, reason: safeWideFailureOf(r.refused)?.reason ?? "", field: g?.field, estimate: g?.value, cap: g?.cap })
          candidates = candidates.filter((x) => x !== id)
          if (flat !== undefined && E !== undefined && E >= flat && cap !== undefined) {
            // No growth from one to many: no plan of one fits; each is refused alone at that estimate (review rr11x X4).
            for (const x of candidates) learnRefused(x, { cause: "gas-cap", reason: "", field: cap.field, estimate: E, cap: cap.cap, derived: true })
            candidates = []
          }
          flat = undefined
          flatAlone = false
          if (cap !== undefined && E !== undefined && EU !== undefined && (U.includes(id) || L.includes(id))) {
            // Its own estimate off the unresolved sum (the shared part counted in it: a refusal corrects the rest).
            if (U.includes(id)) EU = EU > E ? EU - E : 0n
            else EL -= parts.get(id) ?? 0n
            U = U.filter((x) => x !== id)
            L = L.filter((x) => x !== id)
            parts.delete(id)
            pack = undefined
            prefix = undefined
          } else restart()
          continue
        }
        if (pack !== undefined && cap !== undefined) {
          // The packed plan refused: its most urgent part that its estimate fits (`fittingSize`), else its half.
          const n = pack.length
          pack = pack.slice(0, Math.max(1, Math.min(Math.max(1, n - 1), fittingSize(r.refused, n) ?? Math.ceil(n / 2))))
          continue
        }
        if (cap === undefined || E === undefined || EU === undefined || (left === undefined && L.length + U.length === subset.length)) {
          if (cap !== undefined && E !== undefined && subset.length === L.length + U.length) {
            // The whole remaining set refused: its estimate is EU.
            EU = E - EL
            prefix = undefined
            continue
          }
          // No numbers: halved (or sized by the cap's numbers, `fittingSize`).
          const n = subset.length - L.length
          prefix = Math.max(1, Math.min(Math.max(1, n - 1), fittingSize(r.refused, n) ?? Math.ceil(n / 2)))
          continue
        }
        if (left === undefined) {
          // A prefix refused as high as the bigger plan estimated alike (`flat`): the most urgent alone next.
          if (flat !== undefined && E >= flat) {
            flatAlone = true
            continue
          }
          // A prefix refused: its estimate sizes the next.
          const n = subset.length - L.length
          prefix = Math.max(1, Math.min(Math.max(1, n - 1), fittingSize(r.refused, n) ?? Math.ceil(n / 2)))
          continue
        }
        const ex = EL + EU - E
        const rest = E - EL
        U = U.slice(0, -1)
        if (ex <= 0n) {
          // Its part measured 0 or below (a coarse estimate, or a plan that lowers the gas: review rr11z Z1): not read as
          // "flat" nor as a lighter part; the next plan is sized from the refused estimate, never below what it fits.
          flat = E
          EU = rest
          const n = U.length
          prefix = Math.max(1, Math.min(Math.max(1, n - 1), fittingSize(r.refused, n) ?? Math.ceil(n / 2)))
          continue
        }
        EU = rest
        if (ex > cap.cap) {
          learnRefused(left, { cause: "gas-cap", reason: "", field: cap.field, estimate: ex, cap: cap.cap, derived: true })
          candidates = candidates.filter((id) => id !== left)
        } else if (ex * BigInt(U.length + 1) < EU + ex) {
          // Lighter than the average: the weight is more urgent (review rr11y Y2); it goes with the probes while they
          // have room (else it waits for the packed plan) and the search goes on in the more urgent ones.
          parts.set(left, ex)
          if (EL + ex <= cap.cap) {
            L = [...L, left]
            EL += ex
          } else {
            // The probes have no room left: the unresolved are packed by urgency at the light ones' part; a refused pack
            // is narrowed to the sub-account (or the part) that does not fit (a heavy most urgent: review rr11x held).
            const typical = [...parts.values()].reduce((m, x) => (x < m ? x : m), ex)
            pack = packed(cap.cap, typical)
            if (pack.length === 0) pack = [candidates[0] as string]
          }
        } else {
          // Gas about even: first fit by urgency from the parts resolved and the average of the rest.
          parts.set(left, ex)
          pack = packed(cap.cap)
          if (pack.length === 0) pack = [candidates[0] as string]
        }
      }
    }
    // The alone table pruned by its one forget rule (`aloneFactForgotten`), once per step: an entry back in its band,
    // unread or gone is forgotten (a `chain-rule` one's run ends), one out of its window too (a `chain-rule` one rejoins
    // the plans with its donors, whatever its re-tests said, and is isolated afresh if they are refused: reviews rr11m M4,
    // rr11n N3/N5). The `chain-rule` entries still in their window (remembered culprits) are left out of this step's
    // plans up front, their runs continued (review rr11m M5: re-isolating them every block spent the budget of the others).
    const remembered: string[] = []
    // The `chain-rule` entries whose window ended in this step, still out of their band: back in the plans (isolated
    // last, below).
    const rejoined = new Map<string, AloneFact & { key: string; error: ClampRuleRefusedError }>()
    if (rt.aloneFacts !== undefined) {
      const t = rt.aloneFacts
      if (t.outage !== undefined && (block < t.outage || block - t.outage > ALONE_FACT_BLOCKS)) t.outage = undefined
      const lowest = lowestRatio()
      for (const [id, f] of t.facts) {
        const band = snapshot.chain.find((c) => c.subAccount.toLowerCase() === id)?.band
        const why = aloneFactForgotten(f, { block, band, broken: broken.has(id), lowest })
        const run = f.cause === "chain-rule" && f.key !== undefined && f.error !== undefined ? { ...f, key: f.key, error: f.error } : undefined
        if (why !== undefined) {
          t.facts.delete(id)
          if (why === "expired" && run !== undefined) rejoined.set(id, run)
          continue
        }
        if (run === undefined || isolation.culprits.has(id)) continue
        excluded.add(id)
        remembered.push(id)
        const error = ruleRefusedNow.get(run.key) ?? run.error
        ruleRefusedNow.set(run.key, error)
        isolation.runs.set(run.key, error)
      }
    }
    // In a step that sent nothing else: one remembered culprit re-tested alone (REMEMBERED_RETESTS_PER_STEP, outside the
    // isolation's budget), the one tested longest ago first, then the most urgent. Accepted: sent, its blame forgotten
    // (true). Refused: blamed again (its run goes on). No plan alone, or named: forgotten (it rejoins the plans).
    const retest = async (owedOnly = false): Promise<boolean> => {
      const facts = rt.aloneFacts?.facts
      if (this.deps.dryRun || !isolation.canRetest() || facts === undefined) return false
      // Most urgent first: the lowest health before (the venue's, as the solver reads it) over minHealth.
      const candidates = remembered.filter((id) => facts.get(id)?.cause === "chain-rule" && !isolation.culprits.has(id) && (!owedOnly || facts.get(id)?.owed === true)).sort((a, b) => healthRatio(a) - healthRatio(b))
      const id = StepIsolation.nextRetest(facts, candidates)
      if (id === undefined) return false
      isolation.retests += 1
      const entry = facts.get(id) as AloneFact
      const refusal = { name: entry.error?.rule ?? entry.reason, args: entry.error?.args ?? [] }
      let v: IsolationVerdict
      try {
        v = await simulate([id], refusal)
      } catch (error) {
        // Not this sub-account's test (`notThePlansFailure`): the step ends as the node's failure (rpc-error), the
        // Safe's (its paymaster, gas or nonce), or quietly (fenced), its entry untouched (review rr11q Q1, Q1-b). The token
        // paymaster's pre-charge left the plan short (nothing simulated of the plan itself): `run`'s retry, with the
        // charge kept aside, re-tests, so it is not counted (review rr11n N1: every block's re-test was used up by it).
        const why = notThePlansFailure(error) ?? (isAmbiguousAnswer(error) !== undefined ? "node" : undefined)
        if (why !== undefined) {
          if (why === "paymaster-charge") isolation.retests -= 1
          throw error
        }
        // Any other failure (`simulate` blames the sub-account for it) counts as its test:
        // `owed` cleared. The owed test alone runs before the step's plans: its failure does not end the step, which
        // plans and sends the others (review rr11p P1: rethrown, the accepted due rescue was sent 1 block in 3).
        const again = facts.get(id)
        if (again?.cause === "chain-rule") {
          again.seen = block
          again.owed = undefined
        }
        if (!owedOnly) throw error
        logger.warn({ safe, block: Number(block), subAccount: id, error: error instanceof Error ? error.message.split("\n")[0] : String(error) }, "the owed test alone of a remembered culprit failed; planning the others")
        return false
      }
      logger.info({ safe, block: Number(block), subAccount: id, verdict: v.kind, found: Number(entry.block) }, "re-tested alone a sub-account remembered as refused alone")
      if (v.kind === "accepted") return true
      if (v.kind === "refused") {
        // Blamed again by `simulate` (its run goes on); a judged refusal without a named culprit keeps the entry too. Only
        // the rotation's clock moves: the entry still leaves its window ALONE_FACT_BLOCKS after it was first found.
        const again = facts.get(id)
        if (again?.cause === "chain-rule") {
          again.seen = block
          again.owed = undefined
        }
        return false
      }
      forget(id)
      if (v.kind === "empty") undecided(id, refusal, "no-plan")
      return false
    }
    // A turn plan's failure the step would otherwise rethrow (nothing sent, no sub-account named, not a loss-class
    // refusal, not the transport nor a token paymaster's pre-charge): the next ranked plan is tried (review rr11p P2).
    const fallThrough = (error: unknown, plan: ChainPlan, attempt: StepAttempt) => {
      if (error instanceof ClampRuleRefusedError || notThePlansFailure(error) !== undefined || isAmbiguousAnswer(error) !== undefined) return false
      const { failing, planWide } = failureOf(error, plan, attempt, { minNamed: 2, planWide: true })
      return failing === undefined && planWide === undefined
    }
    // The step sent its operation (a plan, an accepted probe or re-test) and ends normally.
    const sentAndDone = () => {
      sentNow = true
      finished = true
      rt.refused = refusedNow
    }
    try {
      // A rejoined culprit left behind an accepted subset at the last step (`owed`): tested alone first; accepted, it is
      // this step's operation (review rr11o O6).
      if (await retest(true)) return sentAndDone()
      for (;;) {
        const attempt: StepAttempt = {}
        try {
          // After an isolation in this step, with remembered culprits left out, or with any due sub-account left out
          // (its oracle or action refused by the simulation, the rule book naming it), sub-accounts are still due: the
          // in-flight record is kept (reviews rr11m M2, rr11n N2).
          const leftOutDue = [...excluded].some((id) => (snapshot.chain.find((c) => c.subAccount.toLowerCase() === id)?.band ?? "inside") !== "inside")
          await this.planAndSend(rt, block, replace, snapshot, venues, outOfBand, excluded, attempt, isolation.spent > 0 || remembered.length > 0 || leftOutDue, fallThrough)
          // Nothing sent (no plan left): a remembered culprit re-tested alone.
          if (attempt.plan === undefined) sentNow = await retest()
          else sentNow = true
          finished = true
          rt.refused = refusedNow
          return
        } catch (error) {
          if (error instanceof ClampRuleRefusedError && error.subAccount !== undefined && !excluded.has(error.subAccount.toLowerCase())) {
            leaveOutJudged(error as ClampRuleRefusedError & { subAccount: string })
            continue
          }
          const sent = attempt.plan
          // A token paymaster's pre-charge leaving the plan short is not one sub-account's failure (`run` plans again).
          const charged = paymasterChargeOf(error) !== undefined
          // The chain's simulation refused a sub-account's oracle (a feed the snapshot took for the read race, or one
          // that broke since): left out and the rest planned again, also when it was the plan's only sub-account, and
          // also for a replacement (the same nonce resent without it; a clean clone's worst-minute run alerted
          // send-failed for a feed stamped ahead when its plan was a replacement of a stuck operation).
          // A plan-wide refusal of the loss class (ValueLossExceeded, EpochLossBudgetExceeded: naming no sub-account), or
          // any plan-wide refusal of a plan the rule book deferred to the chain (review rr11h H3): its cause is isolated
          // among the plan's sub-accounts (`isolate`), not guessed (review rr11k K1: blaming the fee pools) nor rethrown
          // (review rr11i H3-a / rr11j J2: a rethrow backed the Safe off and stalled every other rescue).
          const { failing, oracle, planWide } = sent === undefined ? {} : failureOf(error, sent, attempt, { minNamed: charged ? Number.POSITIVE_INFINITY : 2, planWide: !charged })
          if (planWide !== undefined && sent !== undefined) {
            if (await isolate(sent, planWide, attempt)) return sentAndDone()
            continue
          }
          // An ambiguous HTTP 5xx (`isAmbiguousAnswer`: no code, words listed neither way; reviews rr11u U3 / U4, rr11v,
          // rr11x, rr11y) to a plan of several: narrowed from the alone table (`narrow`: one probe without a size
          // conclusion, AMBIGUOUS_PROBES_PER_STEP; under one, the unconfirmed alone first, then halving). A plan of one:
          // the node's (`run` alerts rpc-error), unless the table holds its plan alone refused so (named: review rr11y Y5).
          const ambiguous = failing === undefined && sent !== undefined && !charged ? isAmbiguousAnswer(error) : undefined
          if (ambiguous !== undefined && sent !== undefined) {
            const live = sent.subAccounts.map((id) => id.toLowerCase()).filter((id) => !excluded.has(id))
            const t = aloneTable()
            const sized = [...t.facts.values()].some((f) => f.verdict === "accepted" && f.answer === ambiguous)
            if (live.length < 2) {
              const id = live[0]
              const f = id === undefined ? undefined : t.facts.get(id)
              if (id !== undefined && f?.verdict === "refused" && f.cause === "ambiguous") {
                f.seen = block
                isolation.failedPlan = [id]
                isolation.narrowedToOne = true
                isolation.tooBigAlone = [{ id, reason: `${aloneWords(id, f)}; answered alike again alone at block ${block} (its own, or the bundler's outage)` }]
              }
              throw error
            }
            if (!sized && isolation.ambiguousProbes >= AMBIGUOUS_PROBES_PER_STEP) throw error
            logger.warn(
              { safe, block: Number(block), subAccounts: live, answer: ambiguous, sized },
              sized ? "an ambiguous HTTP 5xx found to be the plans' size at a recent step answered this plan: narrowed from the alone table" : "an ambiguous HTTP 5xx answered a plan of several: one probe from the alone table",
            )
            if (await narrow(sent, attempt, error, ambiguous)) return sentAndDone()
            continue
          }
          // A Safe-wide failure that grows with the plan's size (`isSizeDependentSafeWide`: AA21 prefund, the self-pay
          // budget, a paymaster's per-operation cap) of a plan of several sub-accounts: narrowed, most urgent first, with
          // no blame (`narrow`; review rr11s S1: the same big plan was refused every block and no rescue landed).
          if (failing === undefined && sent !== undefined && !charged && sent.subAccounts.filter((id) => !excluded.has(id.toLowerCase())).length > 1 && isSizeDependentSafeWide(error)) {
            if (await narrow(sent, attempt, error)) return sentAndDone()
            continue
          }
          // A plan of several sub-accounts failing with an error naming none of them, not of the loss class and not
          // `notThePlansFailure` (a bundler's generic estimation error from one sub-account's action, an adapter's empty
          // revert, a swap quote read at send): its cause is isolated among its sub-accounts as for a loss-class refusal,
          // within the same budget (review rr11q Q2: rethrown, the same plan failed every block and an accepted rescue
          // beside a broken sub-account was never sent). A probe of ONE sub-account failing so blames it (`simulate`).
          // Only when the same plan failed so at the previous step too (`SafeRuntime.recentFailures` slot `unnamed`): a one-off answer is
          // the bundler's, and the step ends as before (send-failed naming the plan).
          const unnamedKey = sent?.subAccounts.map((id) => id.toLowerCase()).sort().join(",")
          const unnamed = failing === undefined && sent !== undefined && sent.subAccounts.filter((id) => !excluded.has(id.toLowerCase())).length > 1 && notThePlansFailure(error) === undefined
          const repeated = unnamed && recentFailure(rt, UNNAMED_FAILURE, block, UNNAMED_REPEAT_BLOCKS)?.key === unnamedKey
          if (unnamed && unnamedKey !== undefined) rememberFailure(rt, UNNAMED_FAILURE, unnamedKey, block)
          if (repeated) {
            const name = error instanceof Error ? error.name : "Error"
            const message = error instanceof Error ? (error instanceof BaseError ? error.shortMessage : (error.message.split("\n")[0] ?? "")) : String(error)
            logger.warn({ safe, block: Number(block), subAccounts: sent.subAccounts, error: message }, "a plan of several sub-accounts failed naming none of them; isolating its sub-accounts")
            // Its blame is provisional: committed only when a subset is accepted and sent. A probe ending the step (the
            // node's failure, the Safe's) or no subset accepted leaves nothing blamed.
            const found = new ProvisionalBlame()
            provisional = found
            let accepted: boolean
            try {
              accepted = await isolate(sent, { name, args: [message] }, attempt)
            } finally {
              provisional = undefined
            }
            if (accepted) {
              found.commit({ excluded, stepRuns: ruleRefusedNow, isolation, rt })
              return sentAndDone()
            }
            // No subset accepted: the same unnamed failure with each sub-account alone is no sub-account's (a bundler or
            // proxy answering garbage or -32603 to every request; test/keeper.adversarial.test.ts "garbage from the RPC
            // and the bundler": blamed one by one, they were then rescued in two operations, and before the second in
            // one that left the other below its band). Nothing was blamed, remembered or alerted as refused alone, and the
            // step ends with the plan's failure as before the isolation (send-failed naming the plan); a culprit is only
            // one whose plan failed while another subset of the same plan was accepted.
            throw error
          }
          if (failing === undefined || excluded.has(failing.id)) {
            if (sent !== undefined && !charged) isolation.failedPlan = sent.subAccounts
            throw error
          }
          leaveOut(failing, oracle, sent, error)
        } finally {
          note(attempt, true)
        }
      }
    } finally {
      // Sub-accounts refused alone at earlier steps whose run this step did not continue (sent, or no longer planned).
      if (finished && rt.aloneFacts !== undefined) for (const [id, f] of rt.aloneFacts.facts) if (f.cause === "chain-rule" && (f.key === undefined || !ruleRefusedNow.has(f.key))) rt.aloneFacts.facts.delete(id)
      if (solved !== undefined) this.reportNoRescue(rt, block, snapshot, solved, venues)
      // Not judged this step although planned (a more urgent plan was sent first, or the step ended before it): carried.
      // A plan-wide run (`*|ids`) is carried only when one of its own sub-accounts is so (review rr11i H1-a: carried
      // whenever ANY plan was unreached, it never ended).
      const unreached = rankedNow.filter((ids) => ids.every((id) => !judgedNow.has(id)))
      const carried = new Set([...unreached.flat().filter((id) => !judgedNow.has(id)), ...leftBehindNow])
      for (const id of leftBehindNow) judgedNow.delete(id)
      // Also after a thrown step (review rr11o O1): a turn spent on a plan that failed (action, bundler, quote) counts as
      // reached (its sub-accounts were judged), so the failing plan does not keep the turn and the most urgent goes first.
      this.reportUnreached(rt, block, { snapshot, carried, judged: judgedNow, venues, overLimit: overLimitNow, leftBehind: leftBehindNow, sent: sentNow })
      this.reportRuleRefusals(rt, block, ruleRefusedNow, carried, venues)
      // A run of oracle refusals ends at a step whose plans no longer hit it: its gauge back to 0.
      for (const [id, run] of rt.oracleRefused ?? [])
        if (!oracleRefusedNow.has(id)) {
          rt.oracleRefused?.delete(id)
          if (run.alerted) metrics.set("levpilot_subaccount_unreadable", UNREADABLE_HELP, { safe, sub_account: run.label, venue: run.venue }, 0)
        }
    }
  }

  /**
   * Due sub-accounts (below their band) whose plan this step ranked but did not reach (`carried`; review rr11n N4): the
   * run of such steps in a row (`rt.unreached`), ended when reached (`judged`) and dropped when no longer planned; from
   * UNREACHED_TURN_BLOCKS steps, a `nothing-to-send` alert (stage `unreached`, at most once per
   * RULE_REFUSAL_REALERT_BLOCKS), and `planAndSend` ranks its plan first at the next step.
   */
  private reportUnreached(rt: SafeRuntime, block: bigint, { snapshot, carried, judged, venues, overLimit = new Set(), leftBehind = new Set(), sent = true }: UnreachedReport): void {
    const safe = rt.config.address
    const runs = (rt.unreached ??= new Map())
    for (const [id, run] of [...runs]) {
      if (judged.has(id)) run.since = undefined
      else if (!carried.has(id)) runs.delete(id)
    }
    for (const id of carried) {
      if (snapshot.chain.find((c) => c.subAccount.toLowerCase() === id)?.band !== "below") {
        runs.delete(id)
        continue
      }
      const run = runs.get(id) ?? { since: undefined, alerted: undefined }
      run.since ??= block
      runs.set(id, run)
      if (block - run.since + 1n < UNREACHED_TURN_BLOCKS) continue
      if (run.alerted !== undefined && block - run.alerted < RULE_REFUSAL_REALERT_BLOCKS) continue
      run.alerted = block
      const detail = unreachedDetail(block - run.since + 1n, overLimit.has(id) ? "over-limit" : leftBehind.has(id) ? "left-behind" : sent ? "sent" : "failed")
      this.deps.events.alert(safe, block, "nothing-to-send", new SubAccountRefusedError({ safe, subAccount: id, venue: venues.get(id), stage: "unreached", refusal: "NotReached", detail }))
    }
  }

  /**
   * The rule book's refusals of clamped plans in this step (review rr11f F3), keyed by the sub-account left out (lower
   * case) or `*|ids` (a plan-wide refusal: that plan not sent; `ids` its sorted lower-case sub-accounts, review rr11i
   * H1-a), whatever the rule (review rr11g G3: a run keyed by rule
   * restarted at each change of rule, alerting every block and gauging 1): a `nothing-to-send` alert the first step of
   * a run and again at most once per RULE_REFUSAL_REALERT_BLOCKS blocks while it lasts, naming the rule of that step (a
   * sub-account's as {@link SubAccountRefusedError}, stage `judge`); a change of rule between alerts is logged. The
   * gauge `levpilot_rule_refused_blocks` is the longest run, in blocks in a row (0 when none). A run ends at a step
   * without a refusal for its key that did not carry it over: a step judges only the plans it reaches (the most urgent
   * loan asset's first, and it returns once one is sent), so a key whose plan was ranked but not judged (`carried`:
   * its sub-account; a `*|ids` key when one of its `ids` is) keeps its run (review rr11h H1: a run ended at each of
   * another asset's sends alerted every other block and flapped the gauge). A sub-account the step's solve no longer
   * plans for (back in its band) is not carried: its run ends.
   *
   * @param carried - Lower-case sub-account ids planned but not judged in this step.
   */
  private reportRuleRefusals(rt: SafeRuntime, block: bigint, now: ReadonlyMap<string, ClampRuleRefusedError>, carried: ReadonlySet<string>, venues: Map<string, VenueName>): void {
    const { metrics, events, logger } = this.deps
    const safe = rt.config.address
    const runs = (rt.ruleRefused ??= new Map())
    let longest = 0n
    const isCarried = (key: string) => (key.startsWith("*|") ? key.slice(2).split(",").some((id) => carried.has(id)) : carried.has(key))
    // A plan-wide run follows its plan through a change of membership (review rr11j J3: a member flapping in and out of
    // its band restarted the run, one alert per block and the gauge stuck at 1): a new `*|ids` key takes over the oldest
    // run of a `*|ids'` key this step did not refuse that shares a sub-account with it (the others sharing one end).
    for (const key of now.keys()) {
      if (!key.startsWith("*|") || runs.has(key)) continue
      const ids = new Set(key.slice(2).split(","))
      const prior = [...runs].filter(([k]) => k.startsWith("*|") && !now.has(k) && k.slice(2).split(",").some((id: string) => ids.has(id))).sort(([, a], [, b]) => (a.since < b.since ? -1 : a.since > b.since ? 1 : 0))
      for (const [k] of prior) runs.delete(k)
      if (prior[0] !== undefined) runs.set(key, prior[0][1])
    }
    for (const [key, run] of [...runs]) {
      if (now.has(key)) continue
      if (!isCarried(key)) runs.delete(key)
      else if (block - run.since + 1n > longest) longest = block - run.since + 1n
    }
    for (const [key, error] of now) {
      const run = runs.get(key) ?? { since: block, alerted: undefined, rule: error.rule }
      runs.set(key, run)
      if (run.alerted === undefined || block - run.alerted >= RULE_REFUSAL_REALERT_BLOCKS) {
        run.alerted = block
        const id = error.subAccount
        events.alert(safe, block, "nothing-to-send", id === undefined ? error : new SubAccountRefusedError({ safe, subAccount: id, venue: venues.get(id), stage: error.stage, refusal: error.rule, detail: error.detail, cause: error }))
      } else if (run.rule !== error.rule) {
        logger.info({ safe, block: Number(block), subAccount: key, rule: error.rule, was: run.rule, since: Number(run.since) }, "rule book refusal continues under another rule (alerted at most once per RULE_REFUSAL_REALERT_BLOCKS)")
      }
      run.rule = error.rule
      if (block - run.since + 1n > longest) longest = block - run.since + 1n
    }
    metrics.set("levpilot_rule_refused_blocks", RULE_REFUSED_HELP, { safe }, Number(longest))
  }

  /**
   * Counts one more step in a row whose simulation refused sub-account `oracle.id`'s oracle; at
   * ORACLE_REFUSAL_ALERT_BLOCKS, one `feed-broken` alert naming the check and the gauge `levpilot_subaccount_unreadable`
   * at 1 until a step's plans no longer hit it.
   */
  private noteOracleRefusal(rt: SafeRuntime, block: bigint, oracle: { id: string; check: string; label: string }, venue: string, error: Error): void {
    const { metrics, logger, events } = this.deps
    const safe = rt.config.address
    const runs = (rt.oracleRefused ??= new Map())
    const run = runs.get(oracle.id) ?? { steps: 0, alerted: false, label: oracle.label, venue }
    run.steps += 1
    runs.set(oracle.id, run)
    logger.warn({ safe, block: Number(block), subAccount: oracle.id, venue, check: oracle.check, steps: run.steps }, "the chain's simulation refused the sub-account's oracle; planning again without it in this block")
    if (!run.alerted && BigInt(run.steps) >= ORACLE_REFUSAL_ALERT_BLOCKS) {
      run.alerted = true
      events.alert(safe, block, "feed-broken", new SubAccountUnreadableError({ safe, subAccount: oracle.id, venue, check: oracle.check, cause: error }))
    }
    if (run.alerted) metrics.set("levpilot_subaccount_unreadable", UNREADABLE_HELP, { safe, sub_account: run.label, venue }, 1)
  }

  /**
   * Solves `snapshot` without the sub-accounts in `excluded` (lower-case ids), clamps the plan and sends it (or prints it
   * in a dry run); `attempt.plan` is the plan handed to the sender, so a failure can be traced to one of its sub-accounts.
   * With no plan for a replacement, its in-flight record is cleared when the chain's nonce is still unused, unless
   * `keepPending` (an isolation probe, or a plan with due sub-accounts left out: reviews rr11m M2, rr11n N2). A plan with
   * the turn, not the most urgent nor the last ranked, whose send fails with an error `fallThrough` accepts (one the step
   * would rethrow) gives way to the next ranked plan in this call (`attempt.fellThrough`; review rr11p P2).
   * `estimateOnly` (a narrowing's exact probe of one sub-account's plan alone, reviews rr11x X2 / rr11y Y3): the plan is
   * built and clamped alike, then only estimated (`RebalanceSender.estimate`, the SDK's `estimateRebalance`: the same
   * build, headroom and caps check as a send), never sent nor remembered (`rt.sentPlans`), no `observed` event; the
   * operation is `attempt.estimated`, and the SDK's refusal (e.g. `GasFieldAboveCapError`) is thrown.
   */
  private async planAndSend(
    rt: SafeRuntime,
    block: bigint,
    replace: PendingOperation | undefined,
    snapshot: PortfolioSnapshot,
    venues: Map<string, VenueName>,
    outOfBand: boolean,
    excluded: ReadonlySet<string>,
    attempt: StepAttempt,
    keepPending = false,
    fallThrough?: (error: unknown, plan: ChainPlan, attempt: StepAttempt) => boolean,
    estimateOnly = false,
  ): Promise<void> {
    const { config, clients, store, logger, events } = this.deps
    const safe = rt.config.address
    const unexcluded = excluded.size === 0 ? snapshot.input : { ...snapshot.input, subAccounts: snapshot.input.subAccounts.filter((s) => !excluded.has(s.state.id.toLowerCase())) }
    // Issue 13: with `swap.repayment: "sale-minimum"` (the default since stop 61) the solver sizes Morpho swap rescues on
    // the repayment at the sales' minimum.
    const saleMinimumRepayment = config.swap !== undefined && config.swap.repayment !== "amount"
    const input = saleMinimumRepayment ? { ...unexcluded, saleMinimumRepayment: true } : unexcluded
    // One plan per loan asset, one operation at a time: the most urgent goes first (a rescue before a boost; of two
    // rescues, the sub-account lowest against its minHealth), whatever the order of the policies.
    let result: SolverResult | undefined
    const byAsset = input.subAccounts.length > 0 ? solveByLoanAsset(input) : new Map<string, SolverResult>()
    // A due sub-account left out by the module's structural limits (no plan of its own, "left for the next" operation)
    // is unreached (review rr11o O4: while the 8 most urgent stayed due, the 9th was never planned nor alerted); at its
    // turn, its asset is planned again without its due sub-accounts that have no turn, so it is planned.
    const belowNow = new Set(snapshot.chain.filter((c) => c.band === "below").map((c) => c.subAccount.toLowerCase()))
    const turns = new StepTurns(rt.unreached, block)
    const hasTurn = (id: string) => turns.has(id)
    for (const [asset, r] of [...byAsset]) {
      const planned = new Set((r.plan?.subAccounts ?? []).map((id) => id.toLowerCase()))
      const left = r.outcomes
        .map((o) => o.id.toLowerCase())
        .filter((id, i) => LEFT_FOR_NEXT.test(r.outcomes[i]?.reason ?? "") && belowNow.has(id) && !planned.has(id))
      if (left.length === 0) continue
      ;(attempt.overLimit ??= []).push(...left)
      if (!left.some(hasTurn)) continue
      // Review rr11r R2/R4: solved again without every due sub-account of the plan OR left over the limit that has no turn
      // (not only the planned ones: with 3 chunks the re-solve took the next 8 by urgency, never the turn holders), and,
      // while a turn holder left over the limit waited longer than one planned, without the planned ones that waited less
      // (longest first). A due one with no plan of its own (no rescue) stays in, so its no-rescue report holds.
      const due = [...planned, ...left].filter((id) => belowNow.has(id))
      const drop = new Set(due.filter((id) => !hasTurn(id)))
      let chosen: SolverResult | undefined
      for (;;) {
        const again = solveByLoanAsset({ ...input, subAccounts: input.subAccounts.filter((x) => !drop.has(x.state.id.toLowerCase())) }).get(asset)
        if (again?.plan === undefined) break
        chosen = again
        const inPlan = again.plan.subAccounts.map((id) => id.toLowerCase())
        const waiting = again.outcomes.filter((o) => LEFT_FOR_NEXT.test(o.reason) && hasTurn(o.id)).map((o) => turns.since(o.id) as bigint)
        const oldest = waiting.reduce<bigint | undefined>((m, s) => (m === undefined || s < m ? s : m), undefined)
        const newer = oldest === undefined ? [] : inPlan.filter((id) => hasTurn(id) && (turns.since(id) as bigint) > oldest)
        if (newer.length === 0) break
        for (const id of newer) drop.add(id)
      }
      if (chosen?.plan === undefined) continue
      byAsset.set(asset, chosen)
      // The due sub-accounts the turn's plan leaves out are unreached (carried): their runs and last alert block are kept.
      const inChosen = new Set(chosen.plan.subAccounts.map((id) => id.toLowerCase()))
      ;(attempt.overLimit ??= []).push(...due.filter((id) => !inChosen.has(id) && !left.includes(id)))
    }
    // Issue 13 (docs/stop-loss-exit.md Phase B): a loan asset the solver plans nothing for (no rescue, no boost: boosts
    // stop while a stop holds) gets the owner's stop exit when one is due (`stopExitResult`: engaged, health at least
    // minHealth and under exitHealth - 0.1, the cooldown and the exits' half of the epoch's count left), sent like any plan.
    for (const [asset, r] of [...byAsset]) {
      if (r.plan !== undefined) continue
      const exit = stopExitResult({ ...input, subAccounts: input.subAccounts.filter((x) => x.state.loanAsset === asset) })
      if (exit?.plan !== undefined) byAsset.set(asset, { ...r, plan: exit.plan })
    }
    const results = [...byAsset.values()]
    for (const r of results) if (!result?.plan || (r.plan && urgencyOf(r, input) < urgencyOf(result, input))) result = r
    if (!estimateOnly) events.emit({ type: "observed", safe, block, snapshot, result })
    // no-rescue is reported by the caller on the last attempt's results (a re-plan without a refused sub-account included).
    attempt.results = results
    const plan = result?.plan
    if (!plan) {
      // `keepPending`: an isolation's probe (a pure simulation of a subset: review rr11m M2) or a plan with sub-accounts
      // left out by the isolation, still due: no plan here says nothing of the operation in flight, its record is kept.
      if (replace && !keepPending) {
        // Asked of the chain now (the step's read may predate it): a nonce already used means the operation landed
        // after the read; its record is kept so the tracker reports the inclusion (issue 16). Unknown (the read
        // failed): kept, the tracker decides at the next step.
        const nonce = BigInt(replace.nonce)
        const chainNonce = await clients.publicClient
          .readContract({ address: config.deployment.entryPoint, abi: entryPoint07Abi, functionName: "getNonce", args: [safe, nonce >> 64n] })
          .catch(() => undefined)
        if (chainNonce !== undefined && chainNonce <= nonce) {
          logger.info({ safe, nonce: replace.nonce }, "operation in flight no longer needed; its nonce stays the guard")
          await writePendingRecord(this.deps, rt, block, undefined)
        } else logger.info({ safe, nonce: replace.nonce, chainNonce: chainNonce?.toString() }, "nothing to resubmit; the operation's nonce is used on chain (or unknown): kept for the tracker to report its inclusion")
      }
      if (outOfBand) logger.debug({ safe, reasons: result?.outcomes.map((o) => ({ subAccount: o.id, venue: venues.get(o.id.toLowerCase()) ?? "unknown", reason: o.reason })) }, "out of band, no plan")
      return
    }
    // The most urgent plan first; a plan the rule book refuses after the clamp (no repair) gives way to the next one.
    // A due sub-account's plan not reached in the last UNREACHED_TURN_BLOCKS steps goes first (review rr11n N4).
    // Turns go by how long the plan waited (its oldest `since`: longest wait first, review rr11o O2: ranked by urgency,
    // the least urgent of 5 due assets never got one), then by urgency; a plan without a turn: `block` (after all turns).
    const waitedSince = (r: SolverResult) => turns.waited((r.plan as Plan).subAccounts)
    const ranked = results
      .filter((r) => r.plan !== undefined)
      .sort((a, b) => {
        const wa = waitedSince(a)
        const wb = waitedSince(b)
        return wa < wb ? -1 : wa > wb ? 1 : urgencyOf(a, input) - urgencyOf(b, input)
      })
    attempt.ranked = ranked.map((r) => (r.plan as Plan).subAccounts.map((id) => id.toLowerCase()))
    const judged = (attempt.judged ??= new Set())
    // The most urgent plan (ranked first in a step without a turn): a failure of its own ends the step as before.
    const mostUrgent = ranked.reduce<SolverResult | undefined>((m, r) => (m === undefined || urgencyOf(r, input) < urgencyOf(m, input) ? r : m), undefined)
    for (const candidate of ranked) {
      const plan = candidate.plan as Plan
      let chainPlan = toChainPlan(plan)
      // What the solver knows of its funding: which repayment each donor's borrow pays, each spend's idle part.
      let funding: PlanFunding | undefined = planFundingOf(plan)
      let saleMinimum: Set<string> = new Set()
      if (config.swap !== undefined && chainPlan.actions.some((a) => a.kind === "SellCollateral" || a.kind === "BuyCollateral")) {
        const tokens = chainPlan.subAccounts.map((id) => {
          const s = snapshot.chain.find((c) => c.subAccount.toLowerCase() === id.toLowerCase())
          // An Aave sub-account's callback blocks pay the pool's flash premium on top (read with its reserve limits).
          const flashPremiumBps = snapshot.input.subAccounts.find((x) => x.state.id.toLowerCase() === id.toLowerCase())?.state.flashPremiumBps
          return { collateral: s?.collateralToken ?? zeroAddress, loan: s?.loanToken ?? zeroAddress, maxSlippageBps: s?.policy.maxSlippageBps, flashPremiumBps }
        })
        // The solver's expected swap outputs, in base units of each swap's output token.
        const expectedOut = plan.actions.map((a) => {
          const out = tokens[a.subAccount]
          if (a.expectedOut === undefined || out === undefined) return undefined
          const token = (a.kind === "SellCollateral" ? out.loan : out.collateral).toLowerCase()
          return toBaseUnits(a.expectedOut, snapshot.decimals[token] ?? 18)
        })
        const minAmountOut = swapMinimumsAtInclusion(chainPlan, snapshot)
        // The solver's own funds of each callback opener (recorded under the sale-minimum repayment), base units.
        const brought = plan.actions.map((a) => {
          const loan = tokens[a.subAccount]?.loan
          return a.brought === undefined || loan === undefined ? undefined : toBaseUnits(a.brought, snapshot.decimals[loan.toLowerCase()] ?? 18)
        })
        ;({ plan: chainPlan, funding, saleMinimum } = await settleSwapPlan(clients.publicClient, chainPlan, { quoter: config.swap.quoter, tokens, expectedOut, minAmountOut, funding, repayment: saleMinimumRepayment ? "sale-minimum" : "amount", brought }))
      }
      // Exact integers, each clamped to the on-chain bound it came from (the solver's amounts are floats); in swap and
      // callback plans (settled exactly above, with what each swap pays: the rest of a spend is the Safe's own funds, its
      // idle part held to the balance) a source's cut comes off what it funds. Nothing material left: nothing sent.
      // Judged again with the rule book on the snapshot's state (the SDK's own rules before sending): a cut that breaks a
      // rule is repaired, or nothing is sent with an alert naming the rule (review rr11e E1).
      const judge = snapshotRuleJudge(snapshot, snapshot.bounds, { aaveAdapter: config.deployment.adapters.aaveV3 })
      for (const id of plan.subAccounts) judged.add(id.toLowerCase())
      let refused: ClampRuleRefusedError | undefined
      let feeUndecided: RuleViolation | undefined
      // An estimate-only probe neither alerts nor moves the Safe's nothing-to-send alert state (`probe`): only sends do.
      const clamped = clampForSend(chainPlan, snapshot.bounds, { rt, block, logger, events, funding, judge, onRefused: (e) => void (refused = e), onFeeUndecided: (e) => void (feeUndecided = e), probe: estimateOnly })
      if (!clamped) {
        // A refusal naming one of the plan's sub-accounts: `solveAndSend` leaves it out and plans again in this block (as
        // for a simulation failing on it); one naming none: the next loan asset's plan (review rr11f F3).
        if (refused?.subAccount !== undefined) throw refused
        if (refused !== undefined) {
          ;(attempt.refusals ??= []).push({ error: refused, subAccounts: plan.subAccounts.map((id) => id.toLowerCase()) })
          continue
        }
        return
      }
      // A due sub-account the repair left out of the plan (the unrepaired plan refused by the rule book): a rule refusal
      // of it (stage `judge`), not "unreached" (review rr11o O5: its turn's plan was sent without it, alerted with the
      // wrong reason, the refusal gauge back to 0).
      const kept = new Set(clamped.subAccounts.map((id) => id.toLowerCase()))
      const dropped = chainPlan.subAccounts.map((id) => id.toLowerCase()).filter((id) => !kept.has(id) && snapshot.chain.some((c) => c.subAccount.toLowerCase() === id && c.band === "below"))
      if (dropped.length > 0) {
        const verdict = judge(chainPlan)
        if (verdict !== undefined && !verdict.ok)
          for (const id of dropped)
            (attempt.repairDropped ??= []).push({ id, error: new ClampRuleRefusedError({ safe, rule: verdict.error.name, args: verdict.error.args, binding: [], subAccount: id, stage: "judge", detail: "left out of its plan by the rule book's repair" }) })
      }
      // Issue 13: the clamped repayment, written out, becomes the module's sale-minimum mode (the module adds the sales'
      // minimums at the oracle at inclusion; `toSaleMinimumRepayment`).
      chainPlan = toSaleMinimumRepayment(clamped, saleMinimum, swapMinimumsAtInclusion(clamped, snapshot))
      if (this.deps.dryRun) {
        // The solver's plan (loan units) and the operation's as it would be sent (base units, the sale-minimum mode named).
        logger.info({ safe, block: Number(block), plan: describePlan(plan), sends: describeChainPlan(chainPlan), venues: plan.subAccounts.map((id) => venues.get(id.toLowerCase()) ?? "unknown") }, "dry run: plan not sent")
        events.emit({ type: "plan", safe, block, plan: chainPlan, dryRun: true })
        return
      }
      const below = new Set(snapshot.chain.filter((s) => s.band === "below").map((s) => s.subAccount.toLowerCase()))
      const urgent = chainPlan.subAccounts.some((id) => below.has(id.toLowerCase()))
      attempt.plan = chainPlan
      attempt.feeUndecided = feeUndecided
      // The snapshot's Aave collateral reads go with the plan: the SDK's validation at the same block reads them no more.
      // Remembered for the tracker; a swap rescue refused short of its repayment is noted for the next plan (rr13 F6).
      const quote = { block: snapshot.blockNumber, timestamp: snapshot.timestamp }
      if (estimateOnly) {
        attempt.estimated = await this.deps.sender.estimate(rt, chainPlan, replace, urgent, snapshot.aaveCollateral)
        return
      }
      try {
        await sendNotingShortfall(rt, chainPlan, quote, () => this.deps.clock.now() / 1_000, () => this.deps.sender.send(rt, snapshot.blockNumber, chainPlan, replace, plan, urgent, snapshot.aaveCollateral))
      } catch (error) {
        // A plan with the turn (not the most urgent) whose attempt failed in a way the step would rethrow (`fallThrough`:
        // nothing was sent, no sub-account named, not the loss class): its turn is spent (judged), and the next ranked
        // plan is tried in this same step (still at most one operation; review rr11p P2: a thrown turn ended the step, and
        // 3 unsendable plans cost the most urgent, sendable rescue 3 blocks in 4).
        if (candidate === mostUrgent || waitedSince(candidate) >= block || candidate === ranked.at(-1) || fallThrough?.(error, chainPlan, attempt) !== true) throw error
        ;(attempt.fellThrough ??= []).push({ subAccounts: chainPlan.subAccounts, error })
        attempt.plan = undefined
        attempt.feeUndecided = undefined
        logger.warn({ safe, block: Number(block), subAccounts: chainPlan.subAccounts, err: error instanceof Error ? error.message.split("\n")[0] : String(error) }, "a plan with the turn failed; trying the next ranked plan in this block")
        continue
      }
      return
    }
  }
}
