import { type Address, BaseError, type Hex } from "viem"
import { malformedPlanReasons } from "../constants/module.js"
import type { ActionKind } from "../types/leverage.js"
import { formatWad } from "../utils/format.js"

type Cause = { cause?: Error | undefined }

export { malformedPlanReasons }

export type MalformedPlanErrorType = MalformedPlanError & { name: "MalformedPlanError" }
/** The plan is not a canonical, well-formed encoding (module error `MalformedPlan(reason)`). */
export class MalformedPlanError extends BaseError {
  reason: number
  constructor({ reason, cause }: { reason: number } & Cause) {
    super(`The plan is malformed: ${malformedPlanReasons[reason as keyof typeof malformedPlanReasons] ?? `reason ${reason}`}.`, {
      cause,
      metaMessages: ["Plans carry 1 to 8 unique sub-accounts and 1 to 32 actions whose indices point into that list."],
      name: "MalformedPlanError",
    })
    this.reason = reason
  }
}

export type DuplicateSubAccountErrorType = DuplicateSubAccountError & { name: "DuplicateSubAccountError" }
/** A sub-account appears twice in a plan (module error `DuplicateSubAccount`). */
export class DuplicateSubAccountError extends BaseError {
  constructor({ subAccount, cause }: { subAccount: Hex } & Cause) {
    super(`Sub-account ${subAccount} appears twice in the plan.`, { cause, name: "DuplicateSubAccountError" })
  }
}

export type MixedLoanTokensErrorType = MixedLoanTokensError & { name: "MixedLoanTokensError" }
/** The plan's sub-accounts do not share one loan token (module error `MixedLoanTokens`). */
export class MixedLoanTokensError extends BaseError {
  constructor({ expected, actual, cause }: { expected: Address; actual: Address } & Cause) {
    super(`All sub-accounts of a plan must share one loan token: ${expected} and ${actual} differ.`, { cause, name: "MixedLoanTokensError" })
  }
}

export type NoTriggerErrorType = NoTriggerError & { name: "NoTriggerError" }
/**
 * No touched sub-account is due, so the module refuses to churn (module error `NoTrigger`): each is inside its band (at
 * or above its targetHealth when its policy sets `rescueBelowTarget`).
 */
export class NoTriggerError extends BaseError {
  constructor({ cause }: Cause = {}) {
    super("No touched sub-account is outside its health band, so there is nothing to rebalance.", {
      cause,
      metaMessages: ["A plan must touch a sub-account with health < minHealth, or < targetHealth with rescueBelowTarget (an in-band rescue, landing in [health + (targetHealth - minHealth) / 2, targetHealth + (maxHealth - targetHealth) / 2]), or > maxHealth when boostAllowed and no stop-loss holds (price above the re-arm price), or < exitHealth while its stop-loss is engaged (price <= stopPrice)."],
      name: "NoTriggerError",
    })
  }
}

export type CooldownActiveErrorType = CooldownActiveError & { name: "CooldownActiveError" }
/** The sub-account was rebalanced less than `cooldown` seconds ago (module error `CooldownActive`). */
export class CooldownActiveError extends BaseError {
  readyAt: bigint
  constructor({ subAccount, readyAt, cause }: { subAccount: Hex; readyAt: bigint } & Cause) {
    super(`Sub-account ${subAccount} is cooling down until ${new Date(Number(readyAt) * 1000).toISOString()}.`, { cause, name: "CooldownActiveError" })
    this.readyAt = readyAt
  }
}

export type PoolNotAllowedErrorType = PoolNotAllowedError & { name: "PoolNotAllowedError" }
/** A pool action names a pool outside the sub-account's policy (module error `PoolNotAllowed`). */
export class PoolNotAllowedError extends BaseError {
  subAccount: Hex
  pool: Address
  constructor({ subAccount, pool, cause }: { subAccount: Hex; pool: Address } & Cause) {
    super(`Pool ${pool} is not in the policy of sub-account ${subAccount}.`, {
      cause,
      metaMessages: ["This could arise when:", "- the action's subAccount index points at another sub-account;", "- the owners have not added the pool to the policy."],
      name: "PoolNotAllowedError",
    })
    this.subAccount = subAccount
    this.pool = pool
  }
}

export type ActionNotAllowedErrorType = ActionNotAllowedError & { name: "ActionNotAllowedError" }
/** An action is not allowed: zero amount, a pool on a venue action, or boosting without `boostAllowed` (module error `ActionNotAllowed`). */
export class ActionNotAllowedError extends BaseError {
  index: number
  kind: ActionKind | number
  constructor({ index, kind, reason, cause }: { index: number; kind: ActionKind | number; reason?: string | undefined } & Cause) {
    super(`Action ${index} (${kind}) is not allowed.`, {
      cause,
      metaMessages: [
        ...(reason ? [reason] : []),
        "This could arise when:",
        "- the amount is zero;",
        "- a venue action carries a pool address;",
        "- Borrow or WithdrawCollateral on a policy without boostAllowed.",
      ],
      name: "ActionNotAllowedError",
    })
    this.index = index
    this.kind = kind
  }
}

export type ActionFailedErrorType = ActionFailedError & { name: "ActionFailedError" }
/**
 * A venue or pool call of the plan reverted (module error `ActionFailed(index, reason)`); refused before sending by
 * `validateRebalance` (the SDK's rule book), `reason` is empty and `detail` says why the call would fail.
 */
export class ActionFailedError extends BaseError {
  index: number
  reason: Hex
  detail: string | undefined
  constructor({ index, reason, detail, cause }: { index: number; reason: Hex; detail?: string | undefined } & Cause) {
    super(`Action ${index} of the plan ${detail === undefined ? "reverted" : "would revert"}.`, {
      cause,
      metaMessages: [
        ...(detail === undefined ? [`Revert data: ${reason}`] : [`Why: ${detail}`]),
        "This could arise when:",
        "- the Safe lacks the tokens or pool shares the action moves;",
        "- the venue refused (insufficient liquidity or collateral).",
      ],
      name: "ActionFailedError",
    })
    this.index = index
    this.reason = reason
    this.detail = detail
  }
}

export type HealthOutOfBandErrorType = HealthOutOfBandError & { name: "HealthOutOfBandError" }
/** After the plan, a sub-account's health is outside [minHealth, maxHealth] (module error `HealthOutOfBand`). */
export class HealthOutOfBandError extends BaseError {
  health: bigint
  constructor({ subAccount, health, minHealth, maxHealth, cause }: { subAccount: Hex; health: bigint; minHealth: bigint; maxHealth: bigint } & Cause) {
    super(`The plan leaves sub-account ${subAccount} at health ${formatWad(health)}, outside [${formatWad(minHealth)}, ${formatWad(maxHealth)}].`, {
      cause,
      name: "HealthOutOfBandError",
    })
    this.health = health
  }
}

export type HealthFurtherFromTargetErrorType = HealthFurtherFromTargetError & { name: "HealthFurtherFromTargetError" }
/** The plan moves a sub-account's health further from its target (module error `HealthFurtherFromTarget`). */
export class HealthFurtherFromTargetError extends BaseError {
  constructor({ subAccount, healthBefore, healthAfter, cause }: { subAccount: Hex; healthBefore: bigint; healthAfter: bigint } & Cause) {
    super(`The plan moves sub-account ${subAccount} from health ${formatWad(healthBefore)} to ${formatWad(healthAfter)}, further from its target.`, {
      cause,
      name: "HealthFurtherFromTargetError",
    })
  }
}

export type HealthDecreasedErrorType = HealthDecreasedError & { name: "HealthDecreasedError" }
/** Without boostAllowed, the plan lowers a sub-account's health (module error `HealthDecreased`). */
export class HealthDecreasedError extends BaseError {
  constructor({ subAccount, healthBefore, healthAfter, cause }: { subAccount: Hex; healthBefore: bigint; healthAfter: bigint } & Cause) {
    super(`The plan lowers sub-account ${subAccount}'s health from ${formatWad(healthBefore)} to ${formatWad(healthAfter)} without boostAllowed.`, {
      cause,
      name: "HealthDecreasedError",
    })
  }
}

export type AmountCapExceededErrorType = AmountCapExceededError & { name: "AmountCapExceededError" }
/** The plan moves more than maxAmountPerRebalance for a sub-account (module error `AmountCapExceeded`). */
export class AmountCapExceededError extends BaseError {
  constructor({ subAccount, amount, cap, cause }: { subAccount: Hex; amount: bigint; cap: bigint } & Cause) {
    super(`The plan moves ${amount} for sub-account ${subAccount}; the per-rebalance cap is ${cap}.`, { cause, name: "AmountCapExceededError" })
  }
}

export type EpochCapExceededErrorType = EpochCapExceededError & { name: "EpochCapExceededError" }
/** An epoch cap (amount, rebalances or gas) would be exceeded (module errors `Epoch*CapExceeded`). */
export class EpochCapExceededError extends BaseError {
  cap: "amount" | "rebalances" | "gas"
  constructor({ subAccount, cap, value, limit, cause }: { subAccount: Hex; cap: "amount" | "rebalances" | "gas"; value: bigint; limit: bigint } & Cause) {
    super(`Sub-account ${subAccount} would reach ${value} ${cap} in this epoch; the cap is ${limit}.`, {
      cause,
      metaMessages: ["Wait for the next aligned epoch (block.timestamp / epochLength) or raise the policy's caps."],
      name: "EpochCapExceededError",
    })
    this.cap = cap
  }
}

export type ValueLossExceededErrorType = ValueLossExceededError & { name: "ValueLossExceededError" }
/** The plan loses more than maxLossBps of what its positions moved (module error `ValueLossExceeded`). */
export class ValueLossExceededError extends BaseError {
  loss: bigint
  moved: bigint
  constructor({ loss, moved, maxLossBps, cause }: { loss: bigint; moved: bigint; maxLossBps: bigint } & Cause) {
    super(`The plan loses ${loss} (loan units) while its positions move ${moved}: more than ${maxLossBps} bps.`, {
      cause,
      metaMessages: [
        "Moved = the larger of the value that goes into positions (collateral added, debt repaid) and out of them",
        "(collateral removed, debt taken), at the pre-trade prices; pool and idle shuffles do not count.",
      ],
      name: "ValueLossExceededError",
    })
    this.loss = loss
    this.moved = moved
  }
}

export type EpochLossBudgetExceededErrorType = EpochLossBudgetExceededError & { name: "EpochLossBudgetExceededError" }
/**
 * The epoch's cumulative loss would exceed the policy's `maxEpochLossBps` of a sub-account's equity (module error
 * `EpochLossBudgetExceeded`; also raised before sending by `validateRebalance`, from the epoch's recorded loss plus the
 * plan's estimated loss, with `spentPpb` and `planPpb` set). Amounts are parts per billion of the sub-account's equity
 * (1 bps = 100,000 ppb).
 */
export class EpochLossBudgetExceededError extends BaseError {
  field = "maxEpochLossBps" as const
  subAccount: Hex
  lossPpb: bigint
  budgetPpb: bigint
  /** Pre-check only: what the epoch has already lost, and the plan's estimate. */
  spentPpb: bigint | undefined
  planPpb: bigint | undefined
  constructor({
    subAccount,
    lossPpb,
    budgetPpb,
    spentPpb,
    planPpb,
    cause,
  }: { subAccount: Hex; lossPpb: bigint; budgetPpb: bigint; spentPpb?: bigint | undefined; planPpb?: bigint | undefined } & Cause) {
    super(`Sub-account ${subAccount} would lose ${Number(lossPpb) / 1e5} bps of its equity this epoch; its maxEpochLossBps is ${Number(budgetPpb) / 1e5} bps.`, {
      cause,
      metaMessages: [
        ...(spentPpb !== undefined && planPpb !== undefined
          ? [`Already lost this epoch: ${Number(spentPpb) / 1e5} bps; this plan (its swaps' fee and impact at their current quotes): ${Number(planPpb) / 1e5} bps.`]
          : []),
        "Each rebalance is charged its loss over the equity of every sub-account it changes; the next aligned epoch starts from zero.",
      ],
      name: "EpochLossBudgetExceededError",
    })
    this.subAccount = subAccount
    this.lossPpb = lossPpb
    this.budgetPpb = budgetPpb
    this.spentPpb = spentPpb
    this.planPpb = planPpb
  }
}

export type SubAccountUnchangedErrorType = SubAccountUnchangedError & { name: "SubAccountUnchangedError" }
/** The plan lists a sub-account whose position it does not change (module error `SubAccountUnchanged`). */
export class SubAccountUnchangedError extends BaseError {
  constructor({ subAccount, cause }: { subAccount: Hex } & Cause) {
    super(`The plan lists sub-account ${subAccount} but leaves its position unchanged.`, {
      cause,
      metaMessages: ["List only the sub-accounts the plan supplies, withdraws, borrows or repays on; usage is charged only to those."],
      name: "SubAccountUnchangedError",
    })
  }
}

export type PoolNotUsedErrorType = PoolNotUsedError & { name: "PoolNotUsedError" }
/**
 * A pool withdrawal the plan does not use (module error `PoolNotUsed`, RebalanceLib `_checkInflowsUsed`): with it the
 * plan's withdrawals from pools of the asset sum above what its other steps pay out of the Safe's wallet net of what
 * they bring in (repayments up to the debt, supplies and swap inputs, less borrows, collateral withdrawals and swap
 * outputs at their on-chain minimum). `subAccount` and `pool` are the withdrawal's that crosses that bound (plan order).
 * For a sale whose callback repays a fixed amount with a pool's help, it also means the sale's minimum (at the oracle
 * of inclusion) rose into the part the pool pays: the price rose over the one the plan was sized at.
 */
export class PoolNotUsedError extends BaseError {
  readonly subAccount: Hex
  readonly pool: Address
  constructor({ subAccount, pool, cause }: { subAccount: Hex; pool: Address } & Cause) {
    super(`The plan withdraws from pool ${pool} for sub-account ${subAccount} more than it uses.`, {
      cause,
      metaMessages: ["Withdraw from pools only what the plan's repayments, supplies and swap inputs spend beyond what its borrows, withdrawals and swap minimums bring in."],
      name: "PoolNotUsedError",
    })
    this.subAccount = subAccount
    this.pool = pool
  }
}

export type IdleInflowErrorType = IdleInflowError & { name: "IdleInflowError" }
/**
 * The plan brings more of `token` into the Safe's wallet (borrows, collateral withdrawals, swap outputs at their
 * on-chain minimum; `received`, base units) than it repays (up to the debt), supplies, swaps or deposits into pools
 * (`used`, base units): the rest would stay idle (module error `IdleInflow`).
 */
export class IdleInflowError extends BaseError {
  readonly token: Address
  readonly received: bigint
  readonly used: bigint
  constructor({ token, received, used, cause }: { token: Address; received: bigint; used: bigint } & Cause) {
    super(`The plan brings ${received} base units of ${token} into the Safe but uses only ${used} of them.`, {
      cause,
      metaMessages: [
        "Every borrow, collateral withdrawal and swap output must be repaid, supplied, swapped or deposited into an allowed pool by the same plan.",
        `Left idle: ${received - used} base units of ${token}.`,
      ],
      name: "IdleInflowError",
    })
    this.token = token
    this.received = received
    this.used = used
  }
}

export type DepositNotFundedErrorType = DepositNotFundedError & { name: "DepositNotFundedError" }
/**
 * The plan deposits `deposited` of `token` (base units, all its deposits into pools of it) but brings in only `received`
 * of it that a deposit may park (base units: its borrows and the collateral withdrawals of sub-accounts that are not
 * due; a due one's withdrawals and swap outputs fund only its own spends): a deposit parks only what the same plan
 * brought in, never the Safe's idle reserve (module error `DepositNotFunded`).
 */
export class DepositNotFundedError extends BaseError {
  readonly token: Address
  readonly deposited: bigint
  readonly received: bigint
  constructor({ token, deposited, received, cause }: { token: Address; deposited: bigint; received: bigint } & Cause) {
    super(`The plan deposits ${deposited} base units of ${token} into pools but brings in only ${received} of them.`, {
      cause,
      metaMessages: [
        "A plan may deposit into pools only what its own borrows and the collateral withdrawals of sub-accounts that are not due bring in; the Safe's idle reserve stays in the wallet for the next rescue.",
        `Unfunded: ${deposited - received} base units of ${token}.`,
      ],
      name: "DepositNotFundedError",
    })
    this.token = token
    this.deposited = deposited
    this.received = received
  }
}

export type PoolRoundTripErrorType = PoolRoundTripError & { name: "PoolRoundTripError" }
/** The plan both withdraws from and deposits into one pool (module error `PoolRoundTrip`). */
export class PoolRoundTripError extends BaseError {
  constructor({ pool, cause }: { pool: Address } & Cause) {
    super(`The plan both withdraws from and deposits into pool ${pool}.`, {
      cause,
      metaMessages: ["Net the two into one action."],
      name: "PoolRoundTripError",
    })
  }
}

export type HealthOutsideLandingZoneErrorType = HealthOutsideLandingZoneError & { name: "HealthOutsideLandingZoneError" }
/** A triggered sub-account does not land near its target (module error `HealthOutsideLandingZone`). */
export class HealthOutsideLandingZoneError extends BaseError {
  /** The sub-account (bytes32 id). */
  readonly subAccount: Hex
  /** Its health after the plan, WAD. */
  readonly health: bigint
  /** The zone's floor, WAD. */
  readonly low: bigint
  /** The zone's top, WAD. */
  readonly high: bigint
  constructor({ subAccount, health, low, high, cause }: { subAccount: Hex; health: bigint; low: bigint; high: bigint } & Cause) {
    super(`The plan lands triggered sub-account ${subAccount} at health ${formatWad(health)}, outside its landing zone [${formatWad(low)}, ${formatWad(high)}].`, {
      cause,
      metaMessages: [
        "A sub-account outside its band must move at least half the distance between the breached edge and its target",
        "(below the band: to at least max(minHealth, health before + (target - minHealth) / 2)), and end no further",
        "past the target than half way to the other edge, so a new trigger needs a real move.",
      ],
      name: "HealthOutsideLandingZoneError",
    })
    this.subAccount = subAccount
    this.health = health
    this.low = low
    this.high = high
  }
}

export type HealthCrossedTargetErrorType = HealthCrossedTargetError & { name: "HealthCrossedTargetError" }
/** A sub-account that was not due is moved past its target (module error `HealthCrossedTarget`). */
export class HealthCrossedTargetError extends BaseError {
  constructor({ subAccount, healthBefore, healthAfter, targetHealth, cause }: { subAccount: Hex; healthBefore: bigint; healthAfter: bigint; targetHealth: bigint } & Cause) {
    super(`The plan moves sub-account ${subAccount} from health ${formatWad(healthBefore)} to ${formatWad(healthAfter)}, past its target ${formatWad(targetHealth)}.`, {
      cause,
      metaMessages: ["A sub-account inside its band may only move toward its target, never past it."],
      name: "HealthCrossedTargetError",
    })
  }
}

export type NotDueMoveExceedsDistanceErrorType = NotDueMoveExceedsDistanceError & { name: "NotDueMoveExceedsDistanceError" }
/**
 * A sub-account that was not due has its position changed by more than its distance to its target (module error
 * `NotDueMoveExceedsDistance`). `moved` and `bound` are loan base units at the pre-trade price: `moved` =
 * |collateral change| x price + |debt change|; `bound` = ceil(|targetHealth x debt - collateral value x LLTV| / LLTV).
 */
export class NotDueMoveExceedsDistanceError extends BaseError {
  constructor({ subAccount, moved, bound, cause }: { subAccount: Hex; moved: bigint; bound: bigint } & Cause) {
    super(`The plan changes sub-account ${subAccount}, which is not due, by ${moved} (loan base units), more than its distance to its target (${bound}).`, {
      cause,
      metaMessages: [
        "A sub-account inside its band may change only by up to the collateral value change that would take it to its target:",
        "a health-neutral shrink or growth would otherwise raise the loss allowance and spend its amount caps.",
      ],
      name: "NotDueMoveExceedsDistanceError",
    })
  }
}

export type NotDueGrowthErrorType = NotDueGrowthError & { name: "NotDueGrowthError" }
/** A sub-account that was not due grows: its collateral and its debt both go up (module error `NotDueGrowth`). */
export class NotDueGrowthError extends BaseError {
  constructor({ subAccount, cause }: { subAccount: Hex } & Cause) {
    super(`The plan grows sub-account ${subAccount}, which is not due (its collateral and its debt both go up).`, {
      cause,
      metaMessages: [
        "A sub-account inside its band only gives (a donor's borrow or collateral) or takes (a repayment):",
        "growth at constant health is charged nothing and would outgrow the per-rebalance cap its own rescue needs.",
      ],
      name: "NotDueGrowthError",
    })
  }
}

export type OracleAnswerOutOfBoundsErrorType = OracleAnswerOutOfBoundsError & { name: "OracleAnswerOutOfBoundsError" }
/** The second feed's answer sits at or beyond a configured bound (module error `OracleAnswerOutOfBounds`). */
export class OracleAnswerOutOfBoundsError extends BaseError {
  /** The sub-account whose feed is out of bounds. */
  subAccount: Hex
  constructor({ subAccount, answer, minAnswer, maxAnswer, cause }: { subAccount: Hex; answer: bigint; minAnswer: bigint; maxAnswer: bigint } & Cause) {
    super(`The feed of sub-account ${subAccount} answers ${answer}, not strictly inside (${minAnswer}, ${maxAnswer === 0n ? "no ceiling" : maxAnswer}).`, {
      cause,
      metaMessages: ["A Chainlink aggregator clamps its answer to [minAnswer, maxAnswer]: at a bound the price may be pinned there; nothing was moved."],
      name: "OracleAnswerOutOfBoundsError",
    })
    this.subAccount = subAccount
  }
}

export type OracleCheckFailedErrorType = OracleCheckFailedError & { name: "OracleCheckFailedError" }
/** An oracle sanity check failed (module errors `OraclePriceZero`, `OracleStale`, `OracleDecimals`, `OracleDeviation`). */
export class OracleCheckFailedError extends BaseError {
  check: "OraclePriceZero" | "OracleStale" | "OracleDecimals" | "OracleDeviation"
  /** The sub-account whose oracle failed the check. */
  subAccount: Hex
  constructor({ check, subAccount, details, cause }: { check: OracleCheckFailedError["check"]; subAccount: Hex; details?: string | undefined } & Cause) {
    super(`The oracle of sub-account ${subAccount} failed the ${check} check.`, {
      cause,
      metaMessages: [...(details ? [details] : []), "The keeper must wait for a fresh, consistent price; nothing was moved."],
      name: "OracleCheckFailedError",
    })
    this.check = check
    this.subAccount = subAccount
  }
}

export type PoolUnhealthyErrorType = PoolUnhealthyError & { name: "PoolUnhealthyError" }
/** A pool has too little supply or a zero share price (module error `PoolUnhealthy`). */
export class PoolUnhealthyError extends BaseError {
  constructor({ pool, cause }: { pool: Address } & Cause) {
    super(`Pool ${pool} failed the ERC-4626 sanity check (supply or share price).`, { cause, name: "PoolUnhealthyError" })
  }
}

export type SlippageExceededErrorType = SlippageExceededError & { name: "SlippageExceededError" }
/**
 * A swap delivered less than its on-chain minimum (module error `SlippageExceeded`): the input's oracle value at the
 * plan's pre-trade price less the policy's `maxSlippageBps`. Amounts are `tokenOut` base units.
 */
export class SlippageExceededError extends BaseError {
  index: number
  received: bigint
  minAmountOut: bigint
  constructor({ index, tokenOut, received, minAmountOut, cause }: { index: number; tokenOut: Address; received: bigint; minAmountOut: bigint } & Cause) {
    super(`Swap action ${index} delivered ${received} of ${tokenOut} to the Safe, below its minimum ${minAmountOut}.`, {
      cause,
      metaMessages: [
        "This could arise when:",
        "- the pool moved against the swap (a sandwich, or a crash faster than the arbitrageurs) beyond maxSlippageBps;",
        "- the swap is too large for the pool's depth: split or cap it (the solver sizes it from QuoterV2);",
        "- the router paid someone else (a hostile router): the module measures the Safe's own balance.",
      ],
      name: "SlippageExceededError",
    })
    this.index = index
    this.received = received
    this.minAmountOut = minAmountOut
  }
}

export type SwapQuoteBelowMinimumErrorType = SwapQuoteBelowMinimumError & { name: "SwapQuoteBelowMinimumError" }
/**
 * Refused before sending (`validateRebalance`): the pool's current quote for a swap action (QuoterV2 by eth_call) is
 * below the minimum output the module will require, so the operation would revert with `SlippageExceeded` (or the
 * router's `Too little received`). The minimum is computed as the module computes it: the input's value at the oracle
 * price, `fair = amountIn x price / 1e36` (a sale) or `amountIn x 1e36 / price` (a purchase), rounded down, times
 * `(10,000 - maxSlippageBps) / 10,000` rounded up. Amounts are base units (`amountIn` of `tokenIn`, the rest of
 * `tokenOut`); `price` is the oracle's 1e36-scaled loan-per-collateral base-unit price.
 */
export class SwapQuoteBelowMinimumError extends BaseError {
  index: number
  tokenIn: Address
  tokenOut: Address
  amountIn: bigint
  quoted: bigint
  minAmountOut: bigint
  fairAmountOut: bigint
  maxSlippageBps: number
  constructor({
    index,
    kind,
    tokenIn,
    tokenOut,
    amountIn,
    quoted,
    minAmountOut,
    fairAmountOut,
    maxSlippageBps,
    price,
    cause,
  }: { index: number; kind: ActionKind; tokenIn: Address; tokenOut: Address; amountIn: bigint; quoted: bigint; minAmountOut: bigint; fairAmountOut: bigint; maxSlippageBps: number; price: bigint } & Cause) {
    const shortfall = fairAmountOut > 0n ? Number(((fairAmountOut - quoted) * 1_000_000n) / fairAmountOut) / 100 : Number.POSITIVE_INFINITY
    super(`Swap action ${index} (${kind}) of ${amountIn} ${tokenIn} is quoted at ${quoted} ${tokenOut}, below the module's minimum ${minAmountOut}.`, {
      cause,
      metaMessages: [
        `Oracle value ${fairAmountOut} ${tokenOut} (price ${price}), maxSlippageBps ${maxSlippageBps}; the quote falls ${shortfall.toFixed(2)} bps short.`,
        "This could arise when:",
        "- the swap is too large for the pool's depth (fee + price impact beyond maxSlippageBps): cap or split it;",
        "- the pool has moved away from the oracle price (a crash faster than the arbitrageurs, a manipulated pool);",
        "- the route names a thin fee tier.",
      ],
      name: "SwapQuoteBelowMinimumError",
    })
    this.index = index
    this.tokenIn = tokenIn
    this.tokenOut = tokenOut
    this.amountIn = amountIn
    this.quoted = quoted
    this.minAmountOut = minAmountOut
    this.fairAmountOut = fairAmountOut
    this.maxSlippageBps = maxSlippageBps
  }
}

export type SwapRouteRefusedErrorType = SwapRouteRefusedError & { name: "SwapRouteRefusedError" }
/**
 * Refused before sending (`validateRebalance`): the module's swap adapter does not accept a swap action's route word
 * (`routePools(tokenIn, tokenOut, route)` reverts), or no pool on it can quote the swap. `field` names the part of the
 * route at fault: `route.fee` (a fee tier not allowed at deployment, or no pool at that tier: `FeeTierNotAllowed`,
 * `PoolNotFound`), `route.hub` (`UnknownHub`, `HubNotAllowed`), `route` (reserved bits set: `MalformedRoute`; or the
 * quoter cannot quote it). `reason` is the adapter's error with its arguments.
 */
export class SwapRouteRefusedError extends BaseError {
  index: number
  route: Hex
  field: "route" | "route.fee" | "route.hub"
  reason: string
  constructor({ index, kind, route, field, reason, cause }: { index: number; kind: ActionKind; route: Hex; field: "route" | "route.fee" | "route.hub"; reason: string } & Cause) {
    super(`Swap action ${index} (${kind}) names a route the module's swap adapter refuses: "${field}" (${reason}).`, {
      cause,
      metaMessages: [
        `Route word: ${route}.`,
        "This could arise when:",
        "- the fee tier is not one of the adapter's feeTiers() (fixed at deployment), or the factory has no pool at it;",
        "- the hub position is not in the adapter's hubs(), or the hub is the swap's own input or output token;",
        "- the route word has bits set above bit 55 (it must come from encodeRoute).",
      ],
      name: "SwapRouteRefusedError",
    })
    this.index = index
    this.route = route
    this.field = field
    this.reason = reason
  }
}

/** Which guard refused a venue callback (the module error's name). */
export type CallbackRefusal =
  | "CallbackOutsideRebalance"
  | "CallbackFromUntouchedVenue"
  | "UnexpectedCallback"
  | "CallbackNotReceived"
  | "RebalanceActive"

export type CallbackRefusedErrorType = CallbackRefusedError & { name: "CallbackRefusedError" }
/**
 * The module refused a venue callback or a nested rebalance (module errors `CallbackOutsideRebalance(safe)`,
 * `CallbackFromUntouchedVenue(caller)`, `UnexpectedCallback(selector)`, `CallbackNotReceived(index)`,
 * `RebalanceActive(safe)`): callbacks are accepted only while an executeRebalance of the same Safe runs, from the venue
 * its callback action just called, with the data it armed, once; no second rebalance, and no owner control that changes
 * the policy or the stop (setPolicy, removePolicy, setStopLoss: review rr15p F1), runs while one of the Safe runs.
 */
export class CallbackRefusedError extends BaseError {
  refusal: CallbackRefusal
  detail: string
  constructor({ refusal, detail, cause }: { refusal: CallbackRefusal; detail: string } & Cause) {
    const messages: Record<CallbackRefusal, string> = {
      CallbackOutsideRebalance: `A venue callback reached the module for ${detail} while no rebalance of that Safe was running.`,
      CallbackFromUntouchedVenue: `A callback came from ${detail}, not the venue the plan's callback action called.`,
      UnexpectedCallback: `The venue called back with ${detail} or other data than the plan armed, or twice.`,
      CallbackNotReceived: `Callback action ${detail} returned without the venue calling back.`,
      RebalanceActive: `A rebalance, or an owner control (setPolicy, removePolicy, setStopLoss) of Safe ${detail}, ran while a rebalance of ${detail} was running; try it again once that rebalance has ended.`,
    }
    super(messages[refusal], { cause, metaMessages: [`Module error: ${refusal}.`], name: "CallbackRefusedError" })
    this.refusal = refusal
    this.detail = detail
  }
}

export type SwapNotUsedErrorType = SwapNotUsedError & { name: "SwapNotUsedError" }
/** A swap of a sub-account the plan has no venue action on (module error `SwapNotUsed`). */
export class SwapNotUsedError extends BaseError {
  constructor({ subAccount, cause }: { subAccount: Hex } & Cause) {
    super(`The plan swaps tokens of sub-account ${subAccount} but changes no position of it.`, {
      cause,
      metaMessages: ["A swap must serve a repay, supply or borrow of the same sub-account."],
      name: "SwapNotUsedError",
    })
  }
}

export type SaleExceedsRepaymentErrorType = SaleExceedsRepaymentError & { name: "SaleExceedsRepaymentError" }
/**
 * A sub-account's collateral sales must bring at least `minOut` of the loan token (the sum of their on-chain minimum
 * outputs, base units) but the plan lowers its debt by only `repaid` (base units): the rest of the sale would be parked
 * or idle, not serve the sub-account's own debt (module error `SaleExceedsRepayment`).
 */
export class SaleExceedsRepaymentError extends BaseError {
  readonly subAccount: Hex
  readonly minOut: bigint
  readonly repaid: bigint
  constructor({ subAccount, minOut, repaid, cause }: { subAccount: Hex; minOut: bigint; repaid: bigint } & Cause) {
    super(`The plan sells collateral of sub-account ${subAccount} for at least ${minOut} but repays only ${repaid} of its debt.`, {
      cause,
      metaMessages: ["A sale serves its own sub-account's debt: repay at least the sale's minimum output, or sell less."],
      name: "SaleExceedsRepaymentError",
    })
    this.subAccount = subAccount
    this.minOut = minOut
    this.repaid = repaid
  }
}

export type PurchaseExceedsSupplyErrorType = PurchaseExceedsSupplyError & { name: "PurchaseExceedsSupplyError" }
/**
 * A sub-account's collateral purchases must bring at least `minOut` of its collateral token (the sum of their on-chain
 * minimum outputs, base units) but the plan adds only `supplied` (base units) to its collateral (module error
 * `PurchaseExceedsSupply`).
 */
export class PurchaseExceedsSupplyError extends BaseError {
  readonly subAccount: Hex
  readonly minOut: bigint
  readonly supplied: bigint
  constructor({ subAccount, minOut, supplied, cause }: { subAccount: Hex; minOut: bigint; supplied: bigint } & Cause) {
    super(`The plan buys collateral of sub-account ${subAccount} for at least ${minOut} but supplies only ${supplied} to it.`, {
      cause,
      metaMessages: ["A purchase serves its own sub-account's collateral: supply at least the purchase's minimum output, or buy less."],
      name: "PurchaseExceedsSupplyError",
    })
    this.subAccount = subAccount
    this.minOut = minOut
    this.supplied = supplied
  }
}

export type SwapRoundTripErrorType = SwapRoundTripError & { name: "SwapRoundTripError" }
/** The plan both sells and buys one collateral token (module error `SwapRoundTrip`). */
export class SwapRoundTripError extends BaseError {
  constructor({ collateralToken, cause }: { collateralToken: Address } & Cause) {
    super(`The plan both sells and buys ${collateralToken}.`, {
      cause,
      metaMessages: ["A round trip only pays the pool's fee twice; net the two swaps."],
      name: "SwapRoundTripError",
    })
  }
}
