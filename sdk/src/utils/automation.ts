import { type Address, isAddressEqual, zeroAddress } from "viem"
import type { UserOperation } from "viem/account-abstraction"
import { AutomationPausedError, GasFieldAboveCapError, PaymasterNotAllowedError, SelfPayBudgetExceededError } from "../errors/keeper.js"
import type { AutomationConfig, SelfPayBudget } from "../types/leverage.js"

/**
 * The module's validation checks of a keeper operation that depend only on the Safe's automation settings, in the
 * module's order: pause flag, each gas field against its cap (a zero cap forbids any non-zero value), required
 * paymaster, and the self-pay budget of an operation not sponsored by a listed paymaster (maximum cost = every gas
 * limit, the paymaster's included, x maxFeePerGas; charged to the epoch of `validAfter`, which starts from zero when it
 * is newer than the budget's).
 *
 * @throws {AutomationPausedError} {@link GasFieldAboveCapError} {@link PaymasterNotAllowedError} {@link SelfPayBudgetExceededError}
 */
export function assertWithinAutomationConfig({
  safe,
  userOperation,
  config,
  selfPay,
  sponsored = false,
  validAfter,
}: {
  safe: Address
  /** The Safe's self-pay budget; checked for unsponsored operations when given. */
  selfPay?: SelfPayBudget | undefined
  /** The operation's paymaster is one the Safe listed with `setSponsor`. */
  sponsored?: boolean | undefined
  /** The signed validAfter (picks the budget epoch); the budget's stored epoch when omitted. */
  validAfter?: number | undefined
  userOperation: Pick<
    UserOperation<"0.7">,
    "verificationGasLimit" | "callGasLimit" | "preVerificationGas" | "maxFeePerGas" | "maxPriorityFeePerGas" | "paymaster" | "paymasterVerificationGasLimit" | "paymasterPostOpGasLimit"
  >
  config: AutomationConfig
}): void {
  if (config.paused) throw new AutomationPausedError({ safe })
  const fields = [
    ["verificationGasLimit", userOperation.verificationGasLimit, BigInt(config.maxVerificationGasLimit)],
    ["callGasLimit", userOperation.callGasLimit, BigInt(config.maxCallGasLimit)],
    ["preVerificationGas", userOperation.preVerificationGas, BigInt(config.maxPreVerificationGas)],
    ["maxFeePerGas", userOperation.maxFeePerGas, config.maxFeePerGas],
    ["maxPriorityFeePerGas", userOperation.maxPriorityFeePerGas, config.maxPriorityFeePerGas],
  ] as const
  for (const [field, value, cap] of fields) if (value > cap) throw new GasFieldAboveCapError({ field, value, cap })
  const paymaster = userOperation.paymaster ?? zeroAddress
  if (paymaster !== zeroAddress) {
    const verification = userOperation.paymasterVerificationGasLimit ?? 0n
    const postOp = userOperation.paymasterPostOpGasLimit ?? 0n
    if (verification > BigInt(config.maxPaymasterVerificationGasLimit))
      throw new GasFieldAboveCapError({ field: "paymasterVerificationGasLimit", value: verification, cap: BigInt(config.maxPaymasterVerificationGasLimit) })
    if (postOp > BigInt(config.maxPaymasterPostOpGasLimit))
      throw new GasFieldAboveCapError({ field: "paymasterPostOpGasLimit", value: postOp, cap: BigInt(config.maxPaymasterPostOpGasLimit) })
  }
  if (config.requiredPaymaster !== zeroAddress && !isAddressEqual(paymaster, config.requiredPaymaster))
    throw new PaymasterNotAllowedError({ paymaster, required: config.requiredPaymaster })
  if ((paymaster === zeroAddress || !sponsored) && selfPay) {
    const gas =
      userOperation.verificationGasLimit +
      userOperation.callGasLimit +
      userOperation.preVerificationGas +
      (paymaster === zeroAddress ? 0n : (userOperation.paymasterVerificationGasLimit ?? 0n) + (userOperation.paymasterPostOpGasLimit ?? 0n))
    const cost = gas * userOperation.maxFeePerGas
    const epoch = validAfter !== undefined && selfPay.epochLength > 0 ? Math.floor(validAfter / selfPay.epochLength) : selfPay.epoch
    const spent = epoch > selfPay.epoch ? 0n : selfPay.spentWei
    if (spent + cost > selfPay.maxWeiPerEpoch) throw new SelfPayBudgetExceededError({ spentWei: spent, costWei: cost, budgetWei: selfPay.maxWeiPerEpoch })
  }
}
