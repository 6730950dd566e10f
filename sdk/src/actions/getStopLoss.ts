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
 * The module's `getStopLoss(safe, subAccount)` call (a multicall entry; its result is a {@link StopLoss}: `stopPrice`
 * 1e36-scaled venue price units, `exitHealth` WAD, both zero: no stop). The one read of a stop: `getStopLoss`, the
 * SDK's `validateRebalance` and the keeper's snapshots (single Safe and fleet, review rr13s S3) all build it here.
 *
 * @param module - The LeverageModule's address.
 * @param safe - The Safe.
 * @param subAccount - The sub-account id.
 * @returns The contract call.
 */
export function stopLossCall(module: Address, safe: Address, subAccount: Hex) {
  return { address: module, abi: leverageModuleAbi, functionName: "getStopLoss", args: [safe, subAccount] } as const
}

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
    ...stopLossCall(deployment.leverageModule, safe, parameters.subAccount),
    ...(parameters.blockNumber !== undefined ? { blockNumber: parameters.blockNumber } : {}),
  })
  return { stopPrice: stop.stopPrice, exitHealth: stop.exitHealth }
}
