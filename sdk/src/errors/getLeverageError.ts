import { type Address, BaseError, type Hex, decodeErrorResult, hexToString, isHex, parseAbi, trim } from "viem"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import { actionKinds } from "../types/leverage.js"
import {
  AutomationPausedError,
  GasFieldAboveCapError,
  InvalidKeeperError,
  InvalidValidityError,
  KeeperKeyExpiredError,
  KeeperNonceKeyInvalidError,
  KeeperNotAuthorizedError,
  KeeperSignatureRejectedError,
  PaymasterNotAllowedError,
  SelfPayBudgetExceededError,
  SelfPayEpochPassedError,
  ValidityWindowSpansEpochsError,
} from "./keeper.js"
import { LeverageModuleRevertedError } from "./module.js"
import { VenueRefusedError, decodeVenueRevert } from "./venue.js"
import { UserOperationInFlightError, getTransportFailure } from "./bundler.js"
import { firstInCauseChain, someInCauseChain } from "./causeChain.js"
import { PaymasterRefusedError, PaymasterUnavailableError, PaymasterValidationFailedError } from "./paymaster.js"
import {
  ActionFailedError,
  ActionNotAllowedError,
  CallbackRefusedError,
  SlippageExceededError,
  SwapNotUsedError,
  SaleExceedsRepaymentError,
  PurchaseExceedsSupplyError,
  SwapRoundTripError,
  AmountCapExceededError,
  CooldownActiveError,
  DuplicateSubAccountError,
  EpochCapExceededError,
  EpochLossBudgetExceededError,
  HealthCrossedTargetError,
  NotDueMoveExceedsDistanceError,
  NotDueGrowthError,
  HealthDecreasedError,
  HealthFurtherFromTargetError,
  HealthOutOfBandError,
  HealthOutsideLandingZoneError,
  MalformedPlanError,
  MixedLoanTokensError,
  NoTriggerError,
  OracleAnswerOutOfBoundsError,
  OracleCheckFailedError,
  PoolNotAllowedError,
  PoolNotUsedError,
  IdleInflowError,
  DepositNotFundedError,
  PoolRoundTripError,
  PoolUnhealthyError,
  SubAccountUnchangedError,
  ValueLossExceededError,
} from "./plan.js"
import {
  DuplicatePoolError,
  InvalidAdapterError,
  InvalidHealthBandError,
  InvalidPolicyParameterError,
  InvalidPoolError,
  InvalidStopLossError,
  InvalidSponsorError,
  MinHealthBelowLiquidationIncentiveError,
  TargetHealthBelowBorrowReachError,
  NotCalledBySafeError,
  PolicyStoreFailedError,
  PoolAssetMismatchError,
  TooManyPoolsError,
  UnknownMarketError,
  UnknownSubAccountError,
  VenueAccountTakenError,
} from "./policy.js"

/** A decoded module revert: the error name and its arguments. */
export type DecodedModuleError = { errorName: string; args: readonly unknown[] }

/**
 * Decodes revert data of the leverage module into its custom error name and arguments.
 *
 * @param data - Revert data (selector and arguments).
 * @returns The decoded error, or `undefined` when the data is not one of the module's errors.
 */
export function decodeModuleError(data: Hex): DecodedModuleError | undefined {
  try {
    const { errorName, args } = decodeErrorResult({ abi: leverageModuleAbi, data })
    return { errorName, args: (args ?? []) as readonly unknown[] }
  } catch {
    return undefined
  }
}

const a = (args: readonly unknown[], i: number) => args[i] as never
const bytes32Text = (value: Hex) => {
  try {
    return hexToString(trim(value, { dir: "right" }))
  } catch {
    return value
  }
}

/**
 * Builds the SDK's named error for a decoded module error.
 *
 * @returns The named error (or {@link LeverageModuleRevertedError} for errors without a dedicated class).
 */
export function toModuleError({ errorName, args }: DecodedModuleError, cause?: Error): BaseError {
  switch (errorName) {
    case "InvalidAdapter":
      return new InvalidAdapterError({ adapter: a(args, 0), cause })
    case "UnknownMarket":
      return new UnknownMarketError({ adapter: a(args, 0), market: a(args, 1), cause })
    case "InvalidHealthBand":
      return new InvalidHealthBandError({ minHealth: a(args, 0), targetHealth: a(args, 1), maxHealth: a(args, 2), cause })
    case "InvalidPolicyParameter":
      return new InvalidPolicyParameterError({ parameter: bytes32Text(a(args, 0)), cause })
    case "InvalidStopLoss": {
      const field = bytes32Text(a(args, 0))
      const known = ["stopPrice", "maxRebalancesPerEpoch", "maxAmountPerEpoch", "maxGasPerEpoch"] as const
      return new InvalidStopLossError({ field: known.find((k) => k === field) ?? "exitHealth", cause })
    }
    case "TooManyPools":
      return new TooManyPoolsError({ count: a(args, 0), max: a(args, 1), cause })
    case "InvalidPool":
      return new InvalidPoolError({ pool: a(args, 0), cause })
    case "DuplicatePool":
      return new DuplicatePoolError({ pool: a(args, 0), cause })
    case "PoolAssetMismatch":
      return new PoolAssetMismatchError({ pool: a(args, 0), asset: a(args, 1), cause })
    case "UnknownSubAccount":
      return new UnknownSubAccountError({ subAccount: a(args, 0), cause })
    case "VenueAccountTaken":
      return new VenueAccountTakenError({ subAccount: a(args, 0), existing: a(args, 1), cause })
    case "NotCalledBySafe":
      return new NotCalledBySafeError({ caller: a(args, 0), cause })
    case "PolicyStoreFailed":
      return new PolicyStoreFailedError({ cause })
    case "InvalidKeeper":
      return new InvalidKeeperError({ keeper: a(args, 0), cause })
    case "InvalidValidity":
      return new InvalidValidityError({ validAfter: a(args, 0), validUntil: a(args, 1), cause })
    case "AutomationPaused":
      return new AutomationPausedError({ safe: a(args, 0), cause })
    case "GasFieldAboveCap":
      return new GasFieldAboveCapError({ field: a(args, 0), value: a(args, 1), cap: a(args, 2), cause })
    case "PaymasterNotAllowed":
      return new PaymasterNotAllowedError({ paymaster: a(args, 0), required: a(args, 1), cause })
    case "SelfPayBudgetExceeded":
      return new SelfPayBudgetExceededError({ spentWei: a(args, 0), costWei: a(args, 1), budgetWei: a(args, 2), cause })
    case "MalformedPlan":
      return new MalformedPlanError({ reason: a(args, 0), cause })
    case "KeeperNotAuthorized":
      return new KeeperNotAuthorizedError({ keeper: a(args, 0), cause })
    case "DuplicateSubAccount":
      return new DuplicateSubAccountError({ subAccount: a(args, 0), cause })
    case "MixedLoanTokens":
      return new MixedLoanTokensError({ expected: a(args, 0), actual: a(args, 1), cause })
    case "NoTrigger":
      return new NoTriggerError({ cause })
    case "CooldownActive":
      return new CooldownActiveError({ subAccount: a(args, 0), readyAt: a(args, 1), cause })
    case "PoolNotAllowed":
      return new PoolNotAllowedError({ subAccount: a(args, 0), pool: a(args, 1), cause })
    case "ActionNotAllowed":
      return new ActionNotAllowedError({ index: Number(a(args, 0)), kind: actionKinds[Number(args[1])] ?? Number(args[1]), cause })
    case "ActionFailed": {
      // A module error raised inside a venue callback (a swap's SlippageExceeded, a refused re-entry) comes back wrapped
      // in the callback action's ActionFailed: name the inner error.
      // The venue refused the action (an Aave adapter or flash-router error, Aave's Error("29")): name it. First: viem
      // decodes Error(string) with the module's ABI too.
      const venue = decodeVenueRevert(a(args, 1))
      if (venue) return new VenueRefusedError({ ...venue, index: Number(a(args, 0)), cause })
      const inner = decodeModuleError(a(args, 1))
      if (inner) return toModuleError(inner, cause)
      return new ActionFailedError({ index: Number(a(args, 0)), reason: a(args, 1), cause })
    }
    case "SlippageExceeded":
      return new SlippageExceededError({ index: Number(a(args, 0)), tokenOut: a(args, 1), received: a(args, 2), minAmountOut: a(args, 3), cause })
    case "CallbackOutsideRebalance":
    case "CallbackFromUntouchedVenue":
    case "UnexpectedCallback":
    case "CallbackNotReceived":
    case "RebalanceActive":
      return new CallbackRefusedError({ refusal: errorName, detail: String(args[0]), cause })
    case "SwapNotUsed":
      return new SwapNotUsedError({ subAccount: a(args, 0), cause })
    case "SaleExceedsRepayment":
      return new SaleExceedsRepaymentError({ subAccount: a(args, 0), minOut: a(args, 1), repaid: a(args, 2), cause })
    case "PurchaseExceedsSupply":
      return new PurchaseExceedsSupplyError({ subAccount: a(args, 0), minOut: a(args, 1), supplied: a(args, 2), cause })
    case "SwapRoundTrip":
      return new SwapRoundTripError({ collateralToken: a(args, 0), cause })
    case "HealthOutOfBand":
      return new HealthOutOfBandError({ subAccount: a(args, 0), health: a(args, 1), minHealth: a(args, 2), maxHealth: a(args, 3), cause })
    case "HealthFurtherFromTarget":
      return new HealthFurtherFromTargetError({ subAccount: a(args, 0), healthBefore: a(args, 1), healthAfter: a(args, 2), cause })
    case "HealthDecreased":
      return new HealthDecreasedError({ subAccount: a(args, 0), healthBefore: a(args, 1), healthAfter: a(args, 2), cause })
    case "AmountCapExceeded":
      return new AmountCapExceededError({ subAccount: a(args, 0), amount: a(args, 1), cap: a(args, 2), cause })
    case "EpochAmountCapExceeded":
      return new EpochCapExceededError({ subAccount: a(args, 0), cap: "amount", value: a(args, 1), limit: a(args, 2), cause })
    case "EpochRebalanceCapExceeded":
      return new EpochCapExceededError({ subAccount: a(args, 0), cap: "rebalances", value: a(args, 1), limit: a(args, 2), cause })
    case "EpochGasCapExceeded":
      return new EpochCapExceededError({ subAccount: a(args, 0), cap: "gas", value: a(args, 1), limit: a(args, 2), cause })
    case "ValueLossExceeded":
      return new ValueLossExceededError({ loss: a(args, 0), moved: a(args, 1), maxLossBps: a(args, 2), cause })
    case "EpochLossBudgetExceeded":
      return new EpochLossBudgetExceededError({ subAccount: a(args, 0), lossPpb: a(args, 1), budgetPpb: a(args, 2), cause })
    case "SubAccountUnchanged":
      return new SubAccountUnchangedError({ subAccount: a(args, 0), cause })
    case "PoolNotUsed":
      return new PoolNotUsedError({ subAccount: a(args, 0), pool: a(args, 1), cause })
    case "IdleInflow":
      return new IdleInflowError({ token: a(args, 0), received: a(args, 1), used: a(args, 2), cause })
    case "DepositNotFunded":
      return new DepositNotFundedError({ token: a(args, 0), deposited: a(args, 1), received: a(args, 2), cause })
    case "PoolRoundTrip":
      return new PoolRoundTripError({ pool: a(args, 0), cause })
    case "HealthOutsideLandingZone":
      return new HealthOutsideLandingZoneError({ subAccount: a(args, 0), health: a(args, 1), low: a(args, 2), high: a(args, 3), cause })
    case "HealthCrossedTarget":
      return new HealthCrossedTargetError({ subAccount: a(args, 0), healthBefore: a(args, 1), healthAfter: a(args, 2), targetHealth: a(args, 3), cause })
    case "NotDueMoveExceedsDistance":
      return new NotDueMoveExceedsDistanceError({ subAccount: a(args, 0), moved: a(args, 1), bound: a(args, 2), cause })
    case "NotDueGrowth":
      return new NotDueGrowthError({ subAccount: a(args, 0), cause })
    case "OracleAnswerOutOfBounds":
      return new OracleAnswerOutOfBoundsError({ subAccount: a(args, 0), answer: a(args, 1), minAnswer: a(args, 2), maxAnswer: a(args, 3), cause })
    case "MinHealthBelowLiquidationIncentive":
      return new MinHealthBelowLiquidationIncentiveError({ minHealth: a(args, 0), liquidationIncentiveFactor: a(args, 1), cause })
    case "TargetHealthBelowBorrowReach":
      return new TargetHealthBelowBorrowReachError({ targetHealth: a(args, 0), minBorrowHealth: a(args, 1), cause })
    case "InvalidSponsor":
      return new InvalidSponsorError({ paymaster: a(args, 0), cause })
    case "KeeperNonceKeyInvalid":
      return new KeeperNonceKeyInvalidError({ nonceKey: a(args, 0), expected: a(args, 1), cause })
    case "ValidityWindowSpansEpochs":
      return new ValidityWindowSpansEpochsError({ validAfter: a(args, 0), validUntil: a(args, 1), epochLength: a(args, 2), cause })
    case "SelfPayEpochPassed":
      return new SelfPayEpochPassedError({ epoch: a(args, 0), currentEpoch: a(args, 1), cause })
    case "OraclePriceZero":
    case "OracleStale":
    case "OracleDecimals":
    case "OracleDeviation":
      return new OracleCheckFailedError({ check: errorName, subAccount: a(args, 0), details: args.slice(1).map(String).join(", "), cause })
    case "PoolUnhealthy":
      return new PoolUnhealthyError({ pool: a(args, 0), cause })
    default:
      return new LeverageModuleRevertedError({ errorName, args, cause })
  }
}

const hexPattern = /0x[0-9a-fA-F]{8,}/g

function candidates(error: BaseError): Hex[] {
  const found: Hex[] = []
  firstInCauseChain(error, (inner) => {
    const data = (inner as { data?: unknown }).data
    if (typeof data === "string" && isHex(data)) found.push(data)
    else if (data && typeof data === "object" && "data" in data && typeof data.data === "string" && isHex(data.data)) found.push(data.data)
    const text = [(inner as BaseError).details, (inner as BaseError).shortMessage, (inner as Error).message].filter(
      (part): part is string => typeof part === "string",
    )
    for (const part of text) for (const match of part.match(hexPattern) ?? []) found.push(match as Hex)
    return false
  })
  return found
}

/** Reverts an ERC-20 paymaster's validation commonly bubbles up (OpenZeppelin 5 tokens and SafeERC20). */
const paymasterRevertAbi = parseAbi([
  "error ERC20InsufficientAllowance(address spender, uint256 allowance, uint256 needed)",
  "error ERC20InsufficientBalance(address sender, uint256 balance, uint256 needed)",
  "error SafeERC20FailedOperation(address token)",
])

/**
 * Readable text of a paymaster's revert data: `Error(string)` as its message, a known ERC-20 error with its named
 * arguments (`ERC20InsufficientAllowance(spender: 0x…, allowance: 0, needed: 3055062)`).
 *
 * @returns The text, or `undefined` when the data is none of these.
 */
export function decodePaymasterRevert(data: Hex): string | undefined {
  try {
    const { errorName, args, abiItem } = decodeErrorResult({ abi: paymasterRevertAbi, data })
    const values = (args ?? []) as readonly unknown[]
    // viem also decodes `Error(string)` (revert strings such as "TPM: postOpGasLimit too low") with any ABI.
    if ((errorName as string) === "Error") return String(values[0])
    const inputs = "inputs" in abiItem ? abiItem.inputs : []
    return `${errorName}(${values.map((value, i) => `${inputs[i]?.name ?? i}: ${String(value)}`).join(", ")})`
  } catch {
    return undefined
  }
}

/** Bundler answers (Alto, geth-style mempools) for an operation whose sender and nonce are already taken. */
const alreadyInFlight = /\bAA25\b|already being processed|already present in mempool|already known|replacement (transaction )?underpriced/i

export type GetLeverageErrorParameters = {
  /** The keeper of a keeper operation, for AA22 / AA24 messages. */
  keeper?: Address | undefined
}

/**
 * Turns an error thrown while preparing or sending a UserOperation (or a contract call) into the SDK's named error:
 * module custom errors (validation revert AA23 or execution revert) become their named class, an ERC-7677 refusal
 * becomes {@link PaymasterRefusedError} (a paymaster that did not answer at all, {@link PaymasterUnavailableError}), a
 * paymaster validation revert (AA33, e.g. an ERC-20 paymaster without
 * allowance) becomes {@link PaymasterValidationFailedError} with the decoded reason, and AA22 / AA24 on a keeper
 * operation become {@link KeeperKeyExpiredError} / {@link KeeperSignatureRejectedError}, a venue's refusal (an Aave
 * adapter or flash-router error, an Aave pool `Error(string)` code, inside `ActionFailed` or raised by the module's
 * read of the sub-account) becomes {@link VenueRefusedError}, and a bundler refusing a
 * sender and nonce it already has (AA25) becomes {@link UserOperationInFlightError}. Anything else is returned
 * unchanged.
 *
 * @param error - The caught error.
 * @returns The named error with the original as `cause`, or the original error.
 * @example
 * try {
 *   await sendRebalance(keeperClient, { plan })
 * } catch (error) {
 *   throw getLeverageError(error)
 * }
 */
export function getLeverageError(error: unknown, { keeper }: GetLeverageErrorParameters = {}): Error {
  if (!(error instanceof BaseError)) return error as Error
  if (isLeverageError(error)) return error
  const found = candidates(error)
  for (const data of found) {
    const decoded = decodeModuleError(data)
    if (decoded) return toModuleError(decoded, error)
  }
  // An adapter error raised outside an action (the module reading the sub-account: EModeMismatch, ReservePaused).
  for (const data of found) {
    const venue = decodeVenueRevert(data)
    if (venue && venue.source !== "venue") return new VenueRefusedError({ ...venue, cause: error })
  }
  const paymasterReverted = firstInCauseChain(
    error,
    (inner) => (inner as Error).name === "PaymasterFunctionRevertedError" || /\bAA33\b/.test((inner as Error).message ?? ""),
  )
  if (paymasterReverted) {
    const reason = candidates(error).map(decodePaymasterRevert).find((text) => text !== undefined)
    return new PaymasterValidationFailedError({ reason: reason ?? (paymasterReverted as BaseError).details ?? (paymasterReverted as Error).message, cause: error })
  }
  const paymasterFailure = firstInCauseChain(error, (inner) => /pm_getPaymaster(Stub)?Data/.test((inner as Error).message ?? ""))
  if (paymasterFailure instanceof BaseError) {
    // No JSON-RPC answer (timeout, 5xx, connection refused): the service said nothing about this operation.
    const unanswered = getTransportFailure(paymasterFailure)
    if (unanswered) return new PaymasterUnavailableError({ url: unanswered.url, cause: error })
    const rpc = firstInCauseChain(paymasterFailure, (inner) => typeof (inner as { code?: unknown }).code === "number") as BaseError | undefined
    return new PaymasterRefusedError({ reason: rpc?.details ?? paymasterFailure.details ?? paymasterFailure.shortMessage, cause: error })
  }
  const textOf = (inner: unknown) => [(inner as BaseError).details, (inner as Error).message].join(" ")
  if (someInCauseChain(error, (inner) => (inner as Error).name === "InvalidAccountNonceError" || alreadyInFlight.test(textOf(inner))))
    return new UserOperationInFlightError({ cause: error })
  if (keeper) {
    if (someInCauseChain(error, (inner) => (inner as Error).name === "SignatureCheckFailedError")) return new KeeperSignatureRejectedError({ cause: error })
    if (someInCauseChain(error, (inner) => (inner as Error).name === "UserOperationExpiredError" || /AA22/.test((inner as Error).message ?? "")))
      return new KeeperKeyExpiredError({ keeper, cause: error })
  }
  return error
}

const leverageErrorNames = new Set([
  "InvalidAdapterError", "UnknownMarketError", "InvalidHealthBandError", "InvalidPolicyParameterError", "InvalidStopLossError", "TooManyPoolsError",
  "InvalidPoolError", "DuplicatePoolError", "PoolAssetMismatchError", "UnknownSubAccountError", "VenueAccountTakenError", "NotCalledBySafeError", "PolicyStoreFailedError",
  "InvalidKeeperError", "InvalidValidityError", "KeeperNotAuthorizedError", "KeeperKeyExpiredError", "KeeperSignatureRejectedError",
  "AutomationPausedError", "GasFieldAboveCapError", "PaymasterNotAllowedError", "KeeperCallNotAllowedError", "MalformedPlanError",
  "DuplicateSubAccountError", "MixedLoanTokensError", "NoTriggerError", "CooldownActiveError", "PoolNotAllowedError",
  "ActionNotAllowedError", "ActionFailedError", "HealthOutOfBandError", "HealthFurtherFromTargetError", "HealthDecreasedError",
  "AmountCapExceededError", "EpochCapExceededError", "ValueLossExceededError", "OracleCheckFailedError", "PoolUnhealthyError",
  "EpochLossBudgetExceededError", "SubAccountUnchangedError", "PoolNotUsedError", "IdleInflowError", "DepositNotFundedError", "PoolRoundTripError", "SaleExceedsRepaymentError", "PurchaseExceedsSupplyError",
  "HealthOutsideLandingZoneError", "HealthCrossedTargetError", "NotDueMoveExceedsDistanceError", "NotDueGrowthError", "OracleAnswerOutOfBoundsError",
  "MinHealthBelowLiquidationIncentiveError", "TargetHealthBelowBorrowReachError", "MissingPriceFeedError", "InvalidSponsorError", "KeeperNonceKeyInvalidError",
  "ValidityWindowSpansEpochsError", "SelfPayEpochPassedError",
  "PaymasterRefusedError", "PaymasterUnavailableError", "PaymasterValidationFailedError", "InvalidPaymasterError", "InvalidPaymasterTokenError", "LeverageModuleRevertedError", "SelfPayBudgetExceededError", "EstimationOverrideError", "UnknownChainError", "ModuleNotInstalledError",
  "BundlerUnavailableError", "UserOperationInFlightError", "PendingOperationFailedError", "UnconfirmedUserOperationError",
  "VenueRefusedError",
])

/**
 * Whether `error` is one of the SDK's named errors.
 *
 * @returns `true` for SDK errors.
 */
export function isLeverageError(error: unknown): boolean {
  return error instanceof BaseError && leverageErrorNames.has(error.name)
}
