import { type Address, isAddressEqual, zeroAddress } from "viem"
import type { UserOperation } from "viem/account-abstraction"
import { AutomationPausedError, GasFieldAboveCapError, PaymasterNotAllowedError } from "../errors/keeper.js"
import type { AutomationConfig } from "../types/leverage.js"

/**
 * The module's validation checks of a keeper operation that depend only on the Safe's automation settings, in the
 * module's order: pause flag, each gas field against its cap (a zero cap forbids any non-zero value), required paymaster.
 *
 * @throws {AutomationPausedError} {@link GasFieldAboveCapError} {@link PaymasterNotAllowedError}
 */
export function assertWithinAutomationConfig({
  safe,
  userOperation,
  config,
}: {
  safe: Address
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
}
