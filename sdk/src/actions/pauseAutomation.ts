import { type Chain, type Client, type Transport, encodeFunctionData } from "viem"
import type { SmartAccount } from "viem/account-abstraction"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import type { LeverageDeployments } from "../constants/deployments.js"
import type { UnknownChainErrorType } from "../errors/deployments.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"
import { type OwnerLaneParameters, type OwnerLaneReturnType, getOwnerContext, sendOwnerCalls } from "../utils/ownerLane.js"

export type PauseAutomationParameters<
  account extends SmartAccount | undefined = SmartAccount | undefined,
  accountOverride extends SmartAccount | undefined = SmartAccount | undefined,
> = OwnerLaneParameters<account, accountOverride> & { deployments?: LeverageDeployments | undefined }

export type PauseAutomationReturnType = OwnerLaneReturnType

export type PauseAutomationErrorType = UnknownChainErrorType | Error

/**
 * Pauses the automation lane: keeper operations fail validation (AutomationPaused) until unpaused. The owner lane is unaffected.
 *
 * @param client - A SmartAccountClient of the Safe, or any client with `protocolKit`.
 * @param parameters - {@link PauseAutomationParameters}
 * @returns What was sent. {@link PauseAutomationReturnType}
 * @example
 * await pauseAutomation(safeClient, { deployments })
 */
export async function pauseAutomation<account extends SmartAccount | undefined, accountOverride extends SmartAccount | undefined = undefined>(
  client: Client<Transport, Chain | undefined, account>,
  parameters: PauseAutomationParameters<account, accountOverride>,
): Promise<PauseAutomationReturnType> {
  const { safe, reader } = await getOwnerContext(client, parameters as OwnerLaneParameters)
  await resolveLeverageDeployment(reader, parameters.deployments)
  const data = encodeFunctionData({ abi: leverageModuleAbi, functionName: "setPaused", args: [true] })
  return sendOwnerCalls(client as Client<Transport, Chain | undefined, SmartAccount | undefined>, {
    ...(parameters as OwnerLaneParameters),
    calls: [{ to: safe, data }],
  })
}
