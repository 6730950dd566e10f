import { type Account, type Address, type Chain, type Client, type Hex, type Transport } from "viem"
import { readContract } from "viem/actions"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import type { LeverageDeployments } from "../constants/deployments.js"
import { AccountNotFoundError, type UnknownChainErrorType } from "../errors/deployments.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"
import { getDefaultSafe, getReadClient } from "../utils/reader.js"
import type { StopLoss } from "./setStopLoss.js"

export type GetStopLossParameters = {
  /** The Safe; the client's smart account by default. */
  safe?: Address | undefined
  subAccount: Hex
  deployments?: LeverageDeployments | undefined
  /** Block to read at (pin reads of one decision to one block). */
  blockNumber?: bigint | undefined
}

/** The stop-loss (both zero: none). */
export type GetStopLossReturnType = StopLoss

export type GetStopLossErrorType = UnknownChainErrorType | Error

/**
 * Reads a sub-account's stop-loss (`LeverageModule.getStopLoss`).
 *
 * @param client - Any client of the chain.
 * @param parameters - {@link GetStopLossParameters}
 * @returns {@link GetStopLossReturnType}
 * @example
 * const { stopPrice, exitHealth } = await getStopLoss(publicClient, { safe, subAccount, deployments })
 */
export async function getStopLoss(client: Client<Transport, Chain | undefined, Account | undefined>, parameters: GetStopLossParameters): Promise<GetStopLossReturnType> {
  const reader = getReadClient(client)
  const safe = getDefaultSafe(client, parameters.safe)
  if (!safe) throw new AccountNotFoundError()
  const { deployment } = await resolveLeverageDeployment(reader, parameters.deployments)
  const stop = await readContract(reader, {
    address: deployment.leverageModule,
    abi: leverageModuleAbi,
    functionName: "getStopLoss",
    args: [safe, parameters.subAccount],
    ...(parameters.blockNumber !== undefined ? { blockNumber: parameters.blockNumber } : {}),
  })
  return { stopPrice: stop.stopPrice, exitHealth: stop.exitHealth }
}
