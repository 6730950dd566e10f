import type { Address, Hex, PublicClient } from "viem"
import { entryPoint07Abi } from "viem/account-abstraction"

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
 * `windowBlocks` (hosted RPCs refuse wide `eth_getLogs` ranges) down to `fromBlock`, at most `maxWindows` windows, and
 * `EntryPoint.getNonce(safe, nonceKey)`.
 *
 * @returns The {@link InclusionLookup}.
 */
export function chainInclusionLookup(
  client: PublicClient,
  entryPoint: Address,
  { windowBlocks = 2_000, maxWindows = 25 }: { windowBlocks?: number | undefined; maxWindows?: number | undefined } = {},
): InclusionLookup {
  return {
    async findEvent(safe, nonce, fromBlock) {
      const window = BigInt(windowBlocks)
      let to = await client.getBlockNumber({ cacheTime: 0 })
      for (let i = 0; i < maxWindows && to >= fromBlock; i++) {
        const from = to - window + 1n > fromBlock ? to - window + 1n : fromBlock
        const logs = await client.getLogs({ address: entryPoint, event: userOperationEvent, args: { sender: safe }, fromBlock: from, toBlock: to })
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
