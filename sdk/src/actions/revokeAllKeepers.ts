import { type Chain, type Client, type Transport, encodeFunctionData } from "viem"
import type { SmartAccount } from "viem/account-abstraction"
import { readContract } from "viem/actions"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import type { LeverageDeployments } from "../constants/deployments.js"
import type { UnknownChainErrorType } from "../errors/deployments.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"
import { type OwnerLaneParameters, type OwnerLaneReturnType, getOwnerContext, sendOwnerCalls } from "../utils/ownerLane.js"

export type RevokeAllKeepersParameters<
  account extends SmartAccount | undefined = SmartAccount | undefined,
  accountOverride extends SmartAccount | undefined = SmartAccount | undefined,
> = OwnerLaneParameters<account, accountOverride> & {
  deployments?: LeverageDeployments | undefined
}

export type RevokeAllKeepersReturnType = OwnerLaneReturnType & {
  /** The key generation after the call: keys and keeper operations of older generations never validate again. */
  keyGeneration: number
}

export type RevokeAllKeepersErrorType = UnknownChainErrorType | Error

/**
 * The kill switch: revokes every keeper key of the Safe in one O(1) call (`revokeAllKeepers`, a new key generation).
 * Keys added before never validate again, even after a re-install or a re-registration of the same address, and keeper
 * operations signed before can never execute (their nonce key embeds the old generation). Keepers added afterwards
 * work normally.
 *
 * @param client - A SmartAccountClient of the Safe, or any client with `protocolKit`.
 * @param parameters - {@link RevokeAllKeepersParameters}
 * @returns What was sent and the new key generation. {@link RevokeAllKeepersReturnType}
 * @example
 * const { keyGeneration } = await revokeAllKeepers(safeClient, { deployments })
 */
export async function revokeAllKeepers<account extends SmartAccount | undefined, accountOverride extends SmartAccount | undefined = undefined>(
  client: Client<Transport, Chain | undefined, account>,
  parameters: RevokeAllKeepersParameters<account, accountOverride>,
): Promise<RevokeAllKeepersReturnType> {
  const { safe, reader } = await getOwnerContext(client, parameters as OwnerLaneParameters)
  const { deployment } = await resolveLeverageDeployment(reader, parameters.deployments)
  const { keyGeneration } = await readContract(reader, {
    address: deployment.leverageModule,
    abi: leverageModuleAbi,
    functionName: "getAutomationConfig",
    args: [safe],
  })
  const data = encodeFunctionData({ abi: leverageModuleAbi, functionName: "revokeAllKeepers" })
  const sent = await sendOwnerCalls(client as Client<Transport, Chain | undefined, SmartAccount | undefined>, {
    ...(parameters as OwnerLaneParameters),
    calls: [{ to: safe, data }],
  })
  return { ...sent, keyGeneration: keyGeneration + 1 }
}
