import type { Address, Hex, PublicClient } from "viem"
import { entryPoint07Abi } from "viem/account-abstraction"
import { LogReadError, LogWindow } from "./logWindow.js"

/** The fields of an EntryPoint v0.7 `UserOperationEvent` the keeper reads. */
export type UserOperationEventLog = {
  blockNumber: bigint | null
  transactionHash: Hex | null
  args: {
    userOpHash?: Hex | undefined
    sender?: Address | undefined
    paymaster?: Address | undefined
    nonce?: bigint | undefined
    success?: boolean | undefined
    actualGasCost?: bigint | undefined
    actualGasUsed?: bigint | undefined
  }
}

/** How the inclusion tracker learns what the chain did with an operation in flight. */
export type InclusionLookup = {
  /** The `UserOperationEvent` of `safe` at `nonce` from `fromBlock` on, or undefined. */
  findEvent(safe: Address, nonce: bigint, fromBlock: bigint): Promise<UserOperationEventLog | undefined>
  /** The Safe's EntryPoint nonce now on `nonceKey` (the in-flight operation's: `nonce >> 64`). */
  chainNonce(safe: Address, nonceKey: bigint): Promise<bigint>
}

export const userOperationEvent = (() => {
  const event = entryPoint07Abi.find((x) => x.type === "event" && x.name === "UserOperationEvent")
  if (!event || event.type !== "event") throw new TypeError("EntryPoint ABI without UserOperationEvent")
  return event as Extract<(typeof entryPoint07Abi)[number], { name: "UserOperationEvent" }>
})()

/**
 * The chain lookup of one Safe at a time: the Safe's `UserOperationEvent`s searched from the head backwards in windows of
 * `windowBlocks` (hosted RPCs refuse wide `eth_getLogs` ranges) down to `fromBlock`, at most `maxWindows` windows read,
 * and `EntryPoint.getNonce(safe, nonceKey)`. A window the node refuses is halved and read again ({@link LogWindow}, the
 * same rule as fleet discovery), down to one block; the smaller window is kept for the lookup's next searches.
 *
 * @returns The {@link InclusionLookup}.
 * @throws {LogReadError} from `findEvent` when the node refuses even a one-block window or cannot be reached (with the
 *   node's reason; the keeper alerts it as `rpc-error`).
 */
export function chainInclusionLookup(
  client: PublicClient,
  entryPoint: Address,
  { windowBlocks = 2_000, maxWindows = 25 }: { windowBlocks?: number | undefined; maxWindows?: number | undefined } = {},
): InclusionLookup {
  const window = new LogWindow(windowBlocks)
  return {
    async findEvent(safe, nonce, fromBlock) {
      let to = await client.getBlockNumber({ cacheTime: 0 })
      for (let read = 0; read < maxWindows && to >= fromBlock; ) {
        const from = to - BigInt(window.size) + 1n > fromBlock ? to - BigInt(window.size) + 1n : fromBlock
        let logs: Awaited<ReturnType<typeof getEvents>>
        try {
          logs = await getEvents(client, entryPoint, safe, from, to)
        } catch (error) {
          if (window.shrink(from, to, error)) continue
          throw new LogReadError({ fromBlock: from, toBlock: to, cause: error as Error })
        }
        read++
        window.grow()
        const log = logs.find((l) => l.args.nonce === nonce)
        if (log) return log
        if (from === 0n) break
        to = from - 1n
      }
      return undefined
    },
    chainNonce: (safe, nonceKey) => client.readContract({ address: entryPoint, abi: entryPoint07Abi, functionName: "getNonce", args: [safe, nonceKey] }),
  }
}

function getEvents(client: PublicClient, entryPoint: Address, safe: Address, fromBlock: bigint, toBlock: bigint) {
  return client.getLogs({ address: entryPoint, event: userOperationEvent, args: { sender: safe }, fromBlock, toBlock })
}
