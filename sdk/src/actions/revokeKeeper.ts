import { type Address, type Chain, type Client, type Transport, encodeFunctionData } from "viem"
import type { SmartAccount } from "viem/account-abstraction"
import { readContract } from "viem/actions"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import type { LeverageDeployments } from "../constants/deployments.js"
import type { UnknownChainErrorType } from "../errors/deployments.js"
import { InvalidKeeperError, type InvalidKeeperErrorType } from "../errors/keeper.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"
import { type OwnerLaneParameters, type OwnerLaneReturnType, getOwnerContext, sendOwnerCalls } from "../utils/ownerLane.js"

export type RevokeKeeperParameters<
  account extends SmartAccount | undefined = SmartAccount | undefined,
  accountOverride extends SmartAccount | undefined = SmartAccount | undefined,
> = OwnerLaneParameters<account, accountOverride> & {
  keeper: Address
  deployments?: LeverageDeployments | undefined
}

export type RevokeKeeperReturnType = OwnerLaneReturnType

export type RevokeKeeperErrorType = UnknownChainErrorType | InvalidKeeperErrorType | Error

/**
 * Revokes a keeper session key; its queued operations then fail validation (AA24) and execution.
 *
 * @param client - A SmartAccountClient of the Safe, or any client with `protocolKit`.
 * @param parameters - {@link RevokeKeeperParameters}
 * @returns What was sent. {@link RevokeKeeperReturnType}
 * @example
 * await revokeKeeper(safeClient, { keeper: keeperKey.address, deployments })
 */
export async function revokeKeeper<account extends SmartAccount | undefined, accountOverride extends SmartAccount | undefined = undefined>(
  client: Client<Transport, Chain | undefined, account>,
  parameters: RevokeKeeperParameters<account, accountOverride>,
): Promise<RevokeKeeperReturnType> {
  const { keeper } = parameters
  const { safe, reader } = await getOwnerContext(client, parameters as OwnerLaneParameters)
  const { deployment } = await resolveLeverageDeployment(reader, parameters.deployments)
  const key = await readContract(reader, { address: deployment.leverageModule, abi: leverageModuleAbi, functionName: "getKeeper", args: [safe, keeper] })
  if (!key.active) throw new InvalidKeeperError({ keeper, reason: "The key is not registered for this Safe." })
  const data = encodeFunctionData({ abi: leverageModuleAbi, functionName: "revokeKeeper", args: [keeper] })
  return sendOwnerCalls(client as Client<Transport, Chain | undefined, SmartAccount | undefined>, {
    ...(parameters as OwnerLaneParameters),
    calls: [{ to: safe, data }],
  })
}
