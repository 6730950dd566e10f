import type { Chain, Client, ContractFunctionParameters, Transport } from "viem"
import { multicall } from "viem/actions"
import type { LeverageDeployment } from "../constants/deployments.js"
import { ReadFailedError } from "../errors/read.js"

/** One read of {@link readMany}: its result, or the error it failed with. */
export type ReadResult = { status: "success"; result: unknown; error?: undefined } | { status: "failure"; result?: undefined; error: Error }

/**
 * One `eth_call` for many reads: Multicall3 at the deployment's (or chain's) address, or viem's deployless
 * multicall when the chain has none (anvil, fresh devnets). Failures are returned per call, never thrown.
 *
 * @param blockNumber - Block to read at (all reads see one state); the latest by default.
 * @returns One {@link ReadResult} per contract call, in order.
 */
export async function readMany(
  client: Client<Transport, Chain | undefined>,
  deployment: Pick<LeverageDeployment, "multicall3">,
  contracts: readonly ContractFunctionParameters[],
  blockNumber?: bigint | undefined,
): Promise<ReadResult[]> {
  if (contracts.length === 0) return []
  const multicallAddress = deployment.multicall3 ?? client.chain?.contracts?.multicall3?.address
  const results = await multicall(client, {
    contracts,
    allowFailure: true,
    ...(blockNumber !== undefined ? { blockNumber } : {}),
    ...(multicallAddress ? { multicallAddress } : { deployless: true }),
  })
  return results as ReadResult[]
}

/**
 * The result of a successful read, typed by the caller; `undefined` for a failed read.
 *
 * @returns The result or `undefined`.
 */
export function resultOf<type>(read: ReadResult | undefined): type | undefined {
  return read?.status === "success" ? (read.result as type) : undefined
}

/**
 * The result of a read whose value is needed, typed by the caller: a failed (or missing) entry throws
 * {@link ReadFailedError} naming the contract and function, with the entry's error as its cause, instead of being used
 * as a value.
 *
 * @param call - The call the entry answers (its `address` and `functionName` name the failure).
 * @returns The result.
 * @throws {@link ReadFailedError} when the read failed.
 */
export function requireResult<type>(read: ReadResult | undefined, call: Pick<ContractFunctionParameters, "address" | "functionName">): type {
  if (read?.status === "success") return read.result as type
  throw new ReadFailedError({ address: call.address, functionName: call.functionName, cause: read?.error })
}
