import { type Account, type Address, type Chain, type Client, type Hex, type Transport, zeroAddress } from "viem"
import { readContract } from "viem/actions"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import type { LeverageDeployments } from "../constants/deployments.js"
import { AccountNotFoundError, type UnknownChainErrorType } from "../errors/deployments.js"
import type { Policy } from "../types/leverage.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"
import { getDefaultSafe, getReadClient } from "../utils/reader.js"

export type GetPolicyParameters = {
  /** The Safe; the client's smart account by default. */
  safe?: Address | undefined
  subAccount: Hex
  deployments?: LeverageDeployments | undefined
}

/** The policy, or `undefined` when the Safe has none for the sub-account. */
export type GetPolicyReturnType = Policy | undefined

export type GetPolicyErrorType = UnknownChainErrorType | Error

/**
 * Reads a sub-account's policy.
 *
 * @param client - Any client of the chain (a SmartAccountClient reads through its account's public client).
 * @param parameters - {@link GetPolicyParameters}
 * @returns The policy, or `undefined`. {@link GetPolicyReturnType}
 * @example
 * const policy = await getPolicy(publicClient, { safe, subAccount, deployments })
 */
export async function getPolicy(client: Client<Transport, Chain | undefined, Account | undefined>, parameters: GetPolicyParameters): Promise<GetPolicyReturnType> {
  const reader = getReadClient(client)
  const safe = getDefaultSafe(client, parameters.safe)
  if (!safe) throw new AccountNotFoundError()
  const { deployment } = await resolveLeverageDeployment(reader, parameters.deployments)
  const policy = await readContract(reader, {
    address: deployment.leverageModule,
    abi: leverageModuleAbi,
    functionName: "getPolicy",
    args: [safe, parameters.subAccount],
  })
  return policy.adapter === zeroAddress ? undefined : policy
}
