import type { Address, Hex, PublicClient } from "viem"
import { entryPoint07Abi } from "viem/account-abstraction"
import { LogReadError, LogSearchIncompleteError, LogWindow } from "./logWindow.js"

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
  /**
   * The `UserOperationEvent` of `safe` at `nonce` from `fromBlock` up to the head, or undefined when none is there.
   * `atLeast`: the block where the nonce was seen used; undefined is only returned once the search covered it (a head
   * read below it, a lagging replica, is an incomplete search; review rr11e L1).
   * May throw `LogSearchIncompleteError` (a bounded search that did not reach the head, or a head below `atLeast`) or
   * `LogReadError`.
   */
  findEvent(safe: Address, nonce: bigint, fromBlock: bigint, atLeast?: bigint | undefined): Promise<UserOperationEventLog | undefined>
  /** The Safe's EntryPoint nonce now on `nonceKey` (the in-flight operation's: `nonce >> 64`). */
  chainNonce(safe: Address, nonceKey: bigint): Promise<bigint>
}

export const userOperationEvent = (() => {
  const event = entryPoint07Abi.find((x) => x.type === "event" && x.name === "UserOperationEvent")
  if (!event || event.type !== "event") throw new TypeError("EntryPoint ABI without UserOperationEvent")
  return event as Extract<(typeof entryPoint07Abi)[number], { name: "UserOperationEvent" }>
})()

/**
 * The chain lookup of one Safe at a time: the Safe's `UserOperationEvent`s searched forwards from `fromBlock` (the
 * record's first send: an operation lands after it was sent) up to the head, in windows of `windowBlocks` (hosted RPCs
 * refuse wide `eth_getLogs` ranges), at most `maxWindows` windows read per search, and `EntryPoint.getNonce(safe,
 * nonceKey)`. A window the node refuses is halved and read again ({@link LogWindow}, the same rule as fleet discovery),
 * down to one block; the smaller window is kept for the lookup's next searches. Forwards, the first window almost always
 * holds the event, however far behind the head the caller runs (before, the search went backwards from the head and
 * missed an operation that landed more than `maxWindows` windows before it: cleared with no `included` event, issue 16).
 *
 * @returns The {@link InclusionLookup}.
 * @throws {LogReadError} from `findEvent` when the node refuses even a one-block window or cannot be reached (with the
 *   node's reason; the keeper alerts it as `rpc-error`).
 * @throws {LogSearchIncompleteError} from `findEvent` when `maxWindows` windows did not reach the head, or the head read
 *   is below `atLeast` (the block where the nonce was seen used: a lagging replica, review rr11e L1), with no match in
 *   `fromBlock`..`searchedTo` (the tracker searches on from there at its next step).
 */
export function chainInclusionLookup(
  client: PublicClient,
  entryPoint: Address,
  { windowBlocks = 2_000, maxWindows = 25 }: { windowBlocks?: number | undefined; maxWindows?: number | undefined } = {},
): InclusionLookup {
  const window = new LogWindow(windowBlocks)
  return {
    async findEvent(safe, nonce, fromBlock, atLeast) {
      const head = await client.getBlockNumber({ cacheTime: 0 })
      // A node behind the record (a load-balanced RPC answering from a lagging replica): nothing searched, not "no event".
      if (head < fromBlock) throw new LogSearchIncompleteError({ fromBlock, searchedTo: fromBlock - 1n, head })
      let from = fromBlock
      for (let read = 0; from <= head; ) {
        if (read >= maxWindows) throw new LogSearchIncompleteError({ fromBlock, searchedTo: from - 1n, head })
        const to = from + BigInt(window.size) - 1n < head ? from + BigInt(window.size) - 1n : head
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
        from = to + 1n
      }
      // Searched to a head below the block the nonce was seen used at: the event may be above it, not "no event".
      if (atLeast !== undefined && head < atLeast) throw new LogSearchIncompleteError({ fromBlock, searchedTo: head, head })
      return undefined
    },
    chainNonce: (safe, nonceKey) => client.readContract({ address: entryPoint, abi: entryPoint07Abi, functionName: "getNonce", args: [safe, nonceKey] }),
  }
}

function getEvents(client: PublicClient, entryPoint: Address, safe: Address, fromBlock: bigint, toBlock: bigint) {
  return client.getLogs({ address: entryPoint, event: userOperationEvent, args: { sender: safe }, fromBlock, toBlock })
}
