import { type Address, BaseError, type Hex } from "viem"
import { gasFields } from "../constants/module.js"

type Cause = { cause?: Error | undefined }

export type InvalidKeeperErrorType = InvalidKeeperError & { name: "InvalidKeeperError" }
/** The keeper address cannot be registered or revoked (module error `InvalidKeeper`). */
export class InvalidKeeperError extends BaseError {
  keeper: Address
  constructor({ keeper, reason, cause }: { keeper: Address; reason?: string | undefined } & Cause) {
    super(`Keeper ${keeper} cannot be used here.`, {
      cause,
      metaMessages: [
        ...(reason ? [reason] : []),
        "This could arise when:",
        "- the keeper is the zero address, the Safe or the module;",
        "- revoking a key that is not registered (or already revoked).",
      ],
      name: "InvalidKeeperError",
    })
    this.keeper = keeper
  }
}

export type InvalidValidityErrorType = InvalidValidityError & { name: "InvalidValidityError" }
/** validUntil is zero or not after validAfter (module error `InvalidValidity`). */
export class InvalidValidityError extends BaseError {
  constructor({ validAfter, validUntil, cause }: { validAfter: number; validUntil: number } & Cause) {
    super(`The keeper validity window [${validAfter}, ${validUntil}] is empty.`, {
      cause,
      metaMessages: ["validUntil must be non-zero and later than validAfter (unix seconds)."],
      name: "InvalidValidityError",
    })
  }
}

export type KeeperNotAuthorizedErrorType = KeeperNotAuthorizedError & { name: "KeeperNotAuthorizedError" }
/** The keeper key is not registered, revoked, not yet valid or expired at execution (module error `KeeperNotAuthorized`). */
export class KeeperNotAuthorizedError extends BaseError {
  keeper: Address
  constructor({ keeper, reason, cause }: { keeper: Address; reason?: string | undefined } & Cause) {
    super(`Keeper ${keeper} is not authorized for this Safe.`, {
      cause,
      metaMessages: [
        ...(reason ? [reason] : []),
        "This could arise when:",
        "- the Safe never called addKeeper for this key, or revoked it;",
        "- the key's validity window has not started yet or has ended.",
      ],
      name: "KeeperNotAuthorizedError",
    })
    this.keeper = keeper
  }
}

export type KeeperKeyExpiredErrorType = KeeperKeyExpiredError & { name: "KeeperKeyExpiredError" }
/** The keeper key's validUntil is in the past (the bundler reports AA22 for such an operation). */
export class KeeperKeyExpiredError extends BaseError {
  keeper: Address
  validUntil: number | undefined
  constructor({ keeper, validUntil, now, cause }: { keeper: Address; validUntil?: number | undefined; now?: number | undefined } & Cause) {
    super(`Keeper key ${keeper} has expired${validUntil === undefined ? "" : ` (valid until ${new Date(validUntil * 1000).toISOString()})`}.`, {
      cause,
      metaMessages: [
        ...(now !== undefined ? [`Chain time: ${new Date(now * 1000).toISOString()}`] : []),
        "The Safe's owners must register the key again (addKeeper) with a later validUntil.",
      ],
      name: "KeeperKeyExpiredError",
    })
    this.keeper = keeper
    this.validUntil = validUntil
  }
}

export type KeeperSignatureRejectedErrorType = KeeperSignatureRejectedError & { name: "KeeperSignatureRejectedError" }
/** Validation returned SIG_VALIDATION_FAILED for a keeper operation (bundler code AA24). */
export class KeeperSignatureRejectedError extends BaseError {
  constructor({ cause }: Cause = {}) {
    super("The module rejected the keeper signature (AA24).", {
      cause,
      metaMessages: [
        "This could arise when:",
        "- the signing key is not the keeper named in executeRebalance;",
        "- the key is not registered or was revoked;",
        "- the operation was changed after signing (gas fields, paymaster data).",
      ],
      name: "KeeperSignatureRejectedError",
    })
  }
}

export type AutomationPausedErrorType = AutomationPausedError & { name: "AutomationPausedError" }
/** The Safe paused its automation lane (module error `AutomationPaused`). */
export class AutomationPausedError extends BaseError {
  safe: Address
  constructor({ safe, cause }: { safe: Address } & Cause) {
    super(`Automation is paused for Safe ${safe}.`, {
      cause,
      metaMessages: ["The Safe's owners can resume it with `unpauseAutomation`."],
      name: "AutomationPausedError",
    })
    this.safe = safe
  }
}

export { gasFields }
export type GasField = (typeof gasFields)[number]

export type GasFieldAboveCapErrorType = GasFieldAboveCapError & { name: "GasFieldAboveCapError" }
/** A gas field of a keeper operation is above the Safe's cap (module error `GasFieldAboveCap`). */
export class GasFieldAboveCapError extends BaseError {
  field: GasField
  value: bigint
  cap: bigint
  constructor({ field, value, cap, cause }: { field: GasField | number; value: bigint; cap: bigint } & Cause) {
    const name = typeof field === "number" ? (gasFields[field] ?? "verificationGasLimit") : field
    super(`${name} ${value} is above the Safe's cap of ${cap}.`, {
      cause,
      metaMessages: [
        "This could arise when:",
        "- the Safe never called setAutomationConfig (every cap is zero until then);",
        "- the bundler's estimate or gas price rose above the caps: raise them or retry later.",
      ],
      name: "GasFieldAboveCapError",
    })
    this.field = name
    this.value = value
    this.cap = cap
  }
}

export type PaymasterNotAllowedErrorType = PaymasterNotAllowedError & { name: "PaymasterNotAllowedError" }
/** The Safe requires a specific paymaster for keeper operations (module error `PaymasterNotAllowed`). */
export class PaymasterNotAllowedError extends BaseError {
  constructor({ paymaster, required, cause }: { paymaster: Address; required: Address } & Cause) {
    super(`Keeper operations of this Safe must use paymaster ${required}, not ${paymaster}.`, {
      cause,
      metaMessages: ["Pass a `paymaster` client for the required paymaster to the keeper's SmartAccountClient."],
      name: "PaymasterNotAllowedError",
    })
  }
}

export type KeeperCallNotAllowedErrorType = KeeperCallNotAllowedError & { name: "KeeperCallNotAllowedError" }
/** A keeper account was asked to do something other than `executeRebalance`. */
export class KeeperCallNotAllowedError extends BaseError {
  constructor({ reason, data }: { reason: string; data?: Hex | undefined }) {
    super("A keeper account can only send executeRebalance.", {
      metaMessages: [reason, ...(data ? [`Data: ${data.slice(0, 74)}${data.length > 74 ? "..." : ""}`] : []), "Use `sendRebalance` with a plan."],
      name: "KeeperCallNotAllowedError",
    })
  }
}

export type EstimationOverrideErrorType = EstimationOverrideError & { name: "EstimationOverrideError" }
/** The gas-estimation state override of keeper operations does not match the module's storage layout. */
export class EstimationOverrideError extends BaseError {
  constructor({ module }: { module: Address }) {
    super(`Cannot raise the automation caps of module ${module} for gas estimation.`, {
      metaMessages: [
        "This could arise when:",
        "- the module's storage layout changed (AutomationConfig or ModuleStorage): update `automationMappingSlot`;",
        "- the node does not support eth_call state overrides.",
        "Pass explicit gas fields, or `estimationOverride: false` to estimate against the real caps.",
      ],
      name: "EstimationOverrideError",
    })
  }
}

export type SelfPayBudgetExceededErrorType = SelfPayBudgetExceededError & { name: "SelfPayBudgetExceededError" }
/** An unsponsored keeper operation would cost the Safe more than its self-pay budget (module error `SelfPayBudgetExceeded`). */
export class SelfPayBudgetExceededError extends BaseError {
  costWei: bigint
  constructor({ spentWei, costWei, budgetWei, cause }: { spentWei: bigint; costWei: bigint; budgetWei: bigint } & Cause) {
    super(`A keeper operation costing up to ${costWei} wei exceeds the Safe's self-pay budget (${spentWei} of ${budgetWei} wei spent this epoch).`, {
      cause,
      metaMessages: [
        "The module charges every keeper operation not sponsored by a listed paymaster (setSponsor) at its maximum cost",
        "(all gas limits, the paymaster's included, x maxFeePerGas), an ERC-20 paymaster included.",
        "This could arise when:",
        "- the Safe never called setSelfPayBudget: keeper operations must then be sponsored by a listed paymaster;",
        "- this epoch's budget is used up, or the gas price is high.",
      ],
      name: "SelfPayBudgetExceededError",
    })
    this.costWei = costWei
  }
}

export type InvalidRebalanceOverrideErrorType = InvalidRebalanceOverrideError & { name: "InvalidRebalanceOverrideError" }
/** A nonce, fee or gas override given to `sendRebalance` is not a non-negative bigint. */
export class InvalidRebalanceOverrideError extends BaseError {
  field: string
  constructor({ field, value }: { field: string; value: unknown }) {
    super(`${field} must be a non-negative bigint; got ${typeof value === "bigint" ? `${value}n` : JSON.stringify(value) ?? String(value)}.`, {
      metaMessages: ["This could arise when:", "- a number or string was passed where viem expects a bigint (write 1_000_000n);", "- a fee was computed by subtraction and went negative."],
      name: "InvalidRebalanceOverrideError",
    })
    this.field = field
  }
}

export type KeeperNonceKeyInvalidErrorType = KeeperNonceKeyInvalidError & { name: "KeeperNonceKeyInvalidError" }
/** A keeper operation is not on its keeper's own nonce key (module error `KeeperNonceKeyInvalid`). */
export class KeeperNonceKeyInvalidError extends BaseError {
  nonceKey: bigint
  expected: bigint
  constructor({ nonceKey, expected, cause }: { nonceKey: bigint; expected: bigint } & Cause) {
    super(`Keeper operations must use nonce key ${expected}, not ${nonceKey}.`, {
      cause,
      metaMessages: [
        "Read the key from the module's keeperNonceKey(safe, keeper): it changes with every registration of the key and every key generation (getKeeperNonceKey).",
        "This could arise when:",
        "- the operation uses key 0 or another owner key (keeper operations may never consume an owner's sequence);",
        "- the owner called revokeAllKeepers since the operation was signed (a new key generation).",
      ],
      name: "KeeperNonceKeyInvalidError",
    })
    this.nonceKey = nonceKey
    this.expected = expected
  }
}

export type ValidityWindowSpansEpochsErrorType = ValidityWindowSpansEpochsError & { name: "ValidityWindowSpansEpochsError" }
/** An unsponsored keeper operation's validity window is not inside one self-pay epoch (module error `ValidityWindowSpansEpochs`). */
export class ValidityWindowSpansEpochsError extends BaseError {
  constructor({ validAfter, validUntil, epochLength, cause }: { validAfter: number; validUntil: number; epochLength: number } & Cause) {
    super(`The validity window [${validAfter}, ${validUntil}] does not lie inside one ${epochLength}-second self-pay epoch.`, {
      cause,
      metaMessages: [
        "Validation reads no clock: the signed window (narrowed to the key's) picks the epoch the operation is charged to.",
        "Sign validAfter >= the epoch start and validUntil < the next epoch start (toKeeperAccount does by default).",
      ],
      name: "ValidityWindowSpansEpochsError",
    })
  }
}

export type SelfPayEpochPassedErrorType = SelfPayEpochPassedError & { name: "SelfPayEpochPassedError" }
/** An unsponsored keeper operation was signed for a self-pay epoch that has passed (module error `SelfPayEpochPassed`). */
export class SelfPayEpochPassedError extends BaseError {
  constructor({ epoch, currentEpoch, cause }: { epoch: bigint; currentEpoch: bigint } & Cause) {
    super(`The operation's window lies in self-pay epoch ${epoch}; the Safe is in epoch ${currentEpoch}.`, {
      cause,
      metaMessages: ["Sign the operation again with a window in the current epoch."],
      name: "SelfPayEpochPassedError",
    })
  }
}

export type SelfPayEpochEndingErrorType = SelfPayEpochEndingError & { name: "SelfPayEpochEndingError" }
/**
 * A self-paid keeper operation was to be signed in the last seconds of its self-pay epoch (`toKeeperAccount`'s
 * `epochEndMarginSeconds`): its window must end with the epoch, so a bundler would refuse it as expiring too soon or
 * drop it before inclusion. Not a failure of the plan: sign it again from `retryAt` (unix seconds, the next epoch's
 * start), when it gets the new epoch's window.
 */
export class SelfPayEpochEndingError extends BaseError {
  safe: Address
  /** The last second of the current epoch (unix seconds). */
  epochEnd: number
  /** The next epoch's first second (unix seconds). */
  retryAt: number
  constructor({ safe, epochEnd, now, marginSeconds, cause }: { safe: Address; epochEnd: number; now: number; marginSeconds: number } & Cause) {
    super(`Safe ${safe}'s self-pay epoch ends in ${Math.max(epochEnd + 1 - now, 0)} s (at ${new Date((epochEnd + 1) * 1000).toISOString()}); a self-paid operation is not signed in its last ${marginSeconds} s.`, {
      cause,
      metaMessages: [
        "The module charges a self-paid operation to the epoch that holds its whole validity window, so the window ends with the epoch.",
        "Sign it again once the next epoch has started, or send it through a sponsoring paymaster (its window is not pinned).",
      ],
      name: "SelfPayEpochEndingError",
    })
    this.safe = safe
    this.epochEnd = epochEnd
    this.retryAt = epochEnd + 1
  }
}

export type SelfPayEpochTooShortErrorType = SelfPayEpochTooShortError & { name: "SelfPayEpochTooShortError" }
/**
 * The Safe's self-pay epoch (`epochLength`, seconds) is no longer than `toKeeperAccount`'s `epochEndMarginSeconds`: a
 * self-paid keeper operation's window must end with its epoch, so at any time it ends within the margin and the
 * operation can never be signed (waiting for the next epoch would not help, unlike {@link SelfPayEpochEndingError}).
 * The owner must set a longer epoch (`setSelfPayBudget`), or the keeper must be sponsored.
 */
export class SelfPayEpochTooShortError extends BaseError {
  safe: Address
  epochLength: number
  marginSeconds: number
  constructor({ safe, epochLength, marginSeconds }: { safe: Address; epochLength: number; marginSeconds: number }) {
    super(`Safe ${safe}'s self-pay epoch is ${epochLength} s, no longer than the ${marginSeconds} s signing margin: a self-paid keeper operation can never be signed.`, {
      metaMessages: [
        "A self-paid operation's validity window ends with its self-pay epoch, and is not signed in the epoch's last epochEndMarginSeconds.",
        "Set a longer epoch with setSelfPayBudget (well above the margin plus a block time), or pay through a sponsoring paymaster.",
      ],
      name: "SelfPayEpochTooShortError",
    })
    this.safe = safe
    this.epochLength = epochLength
    this.marginSeconds = marginSeconds
  }
}

export type InvalidKeeperAccountParameterErrorType = InvalidKeeperAccountParameterError & { name: "InvalidKeeperAccountParameterError" }
/** A `toKeeperAccount` parameter is out of its range (`field` names it). */
export class InvalidKeeperAccountParameterError extends BaseError {
  field: string
  constructor({ field, reason }: { field: string; reason: string }) {
    super(`toKeeperAccount: ${field} ${reason}.`, { name: "InvalidKeeperAccountParameterError" })
    this.field = field
  }
}
