import { type Chain, type Client, type Hex, type Transport, encodeFunctionData, zeroAddress } from "viem"
import type { SmartAccount } from "viem/account-abstraction"
import { readContract } from "viem/actions"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import type { LeverageDeployments } from "../constants/deployments.js"
import type { UnknownChainErrorType } from "../errors/deployments.js"
import { UnknownSubAccountError, type UnknownSubAccountErrorType } from "../errors/policy.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"
import { type OwnerLaneParameters, type OwnerLaneReturnType, getOwnerContext, sendOwnerCalls } from "../utils/ownerLane.js"

export type RemovePolicyParameters<
  account extends SmartAccount | undefined = SmartAccount | undefined,
  accountOverride extends SmartAccount | undefined = SmartAccount | undefined,
> = OwnerLaneParameters<account, accountOverride> & {
  subAccount: Hex
  deployments?: LeverageDeployments | undefined
}

export type RemovePolicyReturnType = OwnerLaneReturnType

export type RemovePolicyErrorType = UnknownChainErrorType | UnknownSubAccountErrorType | Error

/**
 * Removes a sub-account's policy (and its epoch usage); keepers can no longer touch it.
 *
 * @param client - A SmartAccountClient of the Safe, or any client with `protocolKit`.
 * @param parameters - {@link RemovePolicyParameters}
 * @returns What was sent. {@link RemovePolicyReturnType}
 * @example
 * await removePolicy(safeClient, { subAccount, deployments })
 */
export async function removePolicy<account extends SmartAccount | undefined, accountOverride extends SmartAccount | undefined = undefined>(
  client: Client<Transport, Chain | undefined, account>,
  parameters: RemovePolicyParameters<account, accountOverride>,
): Promise<RemovePolicyReturnType> {
  const { subAccount } = parameters
  const { safe, reader } = await getOwnerContext(client, parameters as OwnerLaneParameters)
  const { deployment } = await resolveLeverageDeployment(reader, parameters.deployments)
  const policy = await readContract(reader, { address: deployment.leverageModule, abi: leverageModuleAbi, functionName: "getPolicy", args: [safe, subAccount] })
  if (policy.adapter === zeroAddress) throw new UnknownSubAccountError({ subAccount })
  const data = encodeFunctionData({ abi: leverageModuleAbi, functionName: "removePolicy", args: [subAccount] })
  return sendOwnerCalls(client as Client<Transport, Chain | undefined, SmartAccount | undefined>, {
    ...(parameters as OwnerLaneParameters),
    calls: [{ to: safe, data }],
  })
}
