import type { Client } from "viem"
import { getChainId } from "viem/actions"
import { type LeverageDeployment, type LeverageDeployments, leverageDeployments } from "../constants/deployments.js"
import { UnknownChainError } from "../errors/deployments.js"

export type GetLeverageDeploymentParameters = {
  chainId: number
  /** Extra or replacement deployments, checked before the canonical map. */
  deployments?: LeverageDeployments | undefined
}

/**
 * The addresses for `chainId`: from `deployments` first, then from the canonical {@link leverageDeployments}.
 *
 * @param parameters - {@link GetLeverageDeploymentParameters}
 * @returns The chain's {@link LeverageDeployment}.
 * @throws {UnknownChainError} when neither map has the chain.
 * @example
 * const deployment = getLeverageDeployment({ chainId: 31337, deployments: { 31337: devnetDeployment } })
 */
export function getLeverageDeployment({ chainId, deployments }: GetLeverageDeploymentParameters): LeverageDeployment {
  const deployment = deployments?.[chainId] ?? leverageDeployments[chainId]
  if (!deployment) throw new UnknownChainError({ chainId })
  return deployment
}

/**
 * The deployment for the client's chain (`client.chain.id`, or `eth_chainId` when the client has no chain).
 *
 * @returns The chain id and its {@link LeverageDeployment}.
 */
export async function resolveLeverageDeployment(
  client: Client,
  deployments?: LeverageDeployments | undefined,
): Promise<{ chainId: number; deployment: LeverageDeployment }> {
  const chainId = client.chain?.id ?? (await getChainId(client))
  return { chainId, deployment: getLeverageDeployment({ chainId, deployments }) }
}
