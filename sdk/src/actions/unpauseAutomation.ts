import { type Chain, type Client, type Transport, encodeFunctionData } from "viem"
import type { SmartAccount } from "viem/account-abstraction"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import type { LeverageDeployments } from "../constants/deployments.js"
import type { UnknownChainErrorType } from "../errors/deployments.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"
import { type OwnerLaneParameters, type OwnerLaneReturnType, getOwnerContext, sendOwnerCalls } from "../utils/ownerLane.js"

export type UnpauseAutomationParameters<
  account extends SmartAccount | undefined = SmartAccount | undefined,
  accountOverride extends SmartAccount | undefined = SmartAccount | undefined,
> = OwnerLaneParameters<account, accountOverride> & { deployments?: LeverageDeployments | undefined }

export type UnpauseAutomationReturnType = OwnerLaneReturnType

export type UnpauseAutomationErrorType = UnknownChainErrorType | Error

/**
 * Resumes the automation lane after `pauseAutomation`.
 *
 * @param client - A SmartAccountClient of the Safe, or any client with `protocolKit`.
 * @param parameters - {@link UnpauseAutomationParameters}
 * @returns What was sent. {@link UnpauseAutomationReturnType}
 * @example
 * await unpauseAutomation(safeClient, { deployments })
 */
export async function unpauseAutomation<account extends SmartAccount | undefined, accountOverride extends SmartAccount | undefined = undefined>(
  client: Client<Transport, Chain | undefined, account>,
  parameters: UnpauseAutomationParameters<account, accountOverride>,
): Promise<UnpauseAutomationReturnType> {
  const { safe, reader } = await getOwnerContext(client, parameters as OwnerLaneParameters)
  await resolveLeverageDeployment(reader, parameters.deployments)
  const data = encodeFunctionData({ abi: leverageModuleAbi, functionName: "setPaused", args: [false] })
  return sendOwnerCalls(client as Client<Transport, Chain | undefined, SmartAccount | undefined>, {
    ...(parameters as OwnerLaneParameters),
    calls: [{ to: safe, data }],
  })
}
