import { type Address, isAddressEqual, zeroAddress } from "viem"
import type { UserOperation } from "viem/account-abstraction"
import { AutomationPausedError, GasFieldAboveCapError, PaymasterNotAllowedError, SelfPayBudgetExceededError } from "../errors/keeper.js"
import type { AutomationConfig, SelfPayBudget } from "../types/leverage.js"

/**
 * The module's validation checks of a keeper operation that depend only on the Safe's automation settings, in the
 * module's order: pause flag, each gas field against its cap (a zero cap forbids any non-zero value), the self-pay
 * budget of an operation without a paymaster (maximum cost = (verification + call + preVerification gas) x maxFeePerGas),
 * required paymaster.
 *
 * @throws {AutomationPausedError} {@link GasFieldAboveCapError} {@link SelfPayBudgetExceededError} {@link PaymasterNotAllowedError}
 */
export function assertWithinAutomationConfig({
  safe,
  userOperation,
  config,
  selfPay,
}: {
  safe: Address
  /** The Safe's self-pay budget; checked for operations without a paymaster when given. */
  selfPay?: SelfPayBudget | undefined
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
  if (paymaster === zeroAddress && selfPay) {
    const cost = (userOperation.verificationGasLimit + userOperation.callGasLimit + userOperation.preVerificationGas) * userOperation.maxFeePerGas
    if (selfPay.spentWei + cost > selfPay.maxWeiPerEpoch)
      throw new SelfPayBudgetExceededError({ spentWei: selfPay.spentWei, costWei: cost, budgetWei: selfPay.maxWeiPerEpoch })
  }
  if (config.requiredPaymaster !== zeroAddress && !isAddressEqual(paymaster, config.requiredPaymaster))
    throw new PaymasterNotAllowedError({ paymaster, required: config.requiredPaymaster })
}
