import { type Address, type Chain, type Client, type Transport, encodeFunctionData, zeroAddress } from "viem"
import type { SmartAccount } from "viem/account-abstraction"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import type { LeverageDeployments } from "../constants/deployments.js"
import type { UnknownChainErrorType } from "../errors/deployments.js"
import type { AutomationConfig } from "../types/leverage.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"
import { type OwnerLaneParameters, type OwnerLaneReturnType, getOwnerContext, sendOwnerCalls } from "../utils/ownerLane.js"

/**
 * Automation settings; `paused` defaults to false and `requiredPaymaster` to none (any or no paymaster). The key
 * generation is not set here (the module keeps its own; only `revokeAllKeepers` advances it).
 */
export type AutomationConfigInput = Omit<AutomationConfig, "paused" | "requiredPaymaster" | "keyGeneration"> & {
  paused?: boolean | undefined
  requiredPaymaster?: Address | undefined
}

export type SetAutomationConfigParameters<
  account extends SmartAccount | undefined = SmartAccount | undefined,
  accountOverride extends SmartAccount | undefined = SmartAccount | undefined,
> = OwnerLaneParameters<account, accountOverride> & {
  /** Caps on every gas field of keeper operations (a zero cap forbids any non-zero value). */
  config: AutomationConfigInput
  deployments?: LeverageDeployments | undefined
}

export type SetAutomationConfigReturnType = OwnerLaneReturnType & { config: AutomationConfig }

export type SetAutomationConfigErrorType = UnknownChainErrorType | Error

/**
 * Sets the automation lane's gas caps, required paymaster and pause flag. A Safe must call this with non-zero caps
 * before any keeper operation can pass validation.
 *
 * @param client - A SmartAccountClient of the Safe, or any client with `protocolKit`.
 * @param parameters - {@link SetAutomationConfigParameters}
 * @returns What was sent. {@link SetAutomationConfigReturnType}
 * @example
 * await setAutomationConfig(safeClient, { config: defaultAutomationConfig, deployments })
 */
export async function setAutomationConfig<account extends SmartAccount | undefined, accountOverride extends SmartAccount | undefined = undefined>(
  client: Client<Transport, Chain | undefined, account>,
  parameters: SetAutomationConfigParameters<account, accountOverride>,
): Promise<SetAutomationConfigReturnType> {
  const { safe, reader } = await getOwnerContext(client, parameters as OwnerLaneParameters)
  await resolveLeverageDeployment(reader, parameters.deployments)
  const config: AutomationConfig = {
    ...parameters.config,
    paused: parameters.config.paused ?? false,
    requiredPaymaster: parameters.config.requiredPaymaster ?? zeroAddress,
    keyGeneration: 0,
  }
  const data = encodeFunctionData({ abi: leverageModuleAbi, functionName: "setAutomationConfig", args: [config] })
  const sent = await sendOwnerCalls(client as Client<Transport, Chain | undefined, SmartAccount | undefined>, {
    ...(parameters as OwnerLaneParameters),
    calls: [{ to: safe, data }],
  })
  return { ...sent, config }
}

/** Caps that fit keeper operations estimated by common bundlers, with or without a paymaster, up to 100 gwei. */
export const defaultAutomationConfig: AutomationConfigInput = {
  maxVerificationGasLimit: 1_000_000,
  maxCallGasLimit: 5_000_000,
  maxPreVerificationGas: 500_000,
  maxPaymasterVerificationGasLimit: 500_000,
  maxPaymasterPostOpGasLimit: 200_000,
  maxFeePerGas: 100_000_000_000n,
  maxPriorityFeePerGas: 10_000_000_000n,
}
