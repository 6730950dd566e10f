import { type Chain, type Client, type Transport, createClient, custom } from "viem"

// The shared-read reorg tests' node (blockReads reorg reviews rr16b, rr16c). Test-only.

/** The contract every read of the reorg fixtures calls. */
export const TO = "0x00000000000000000000000000000000000000aa"

/**
 * A node answering only `eth_call`, with two forks: a read at a block >= `forkAt` answers 1 (fork A) until `reorg()`
 * is called, 2 (fork B) after; lower blocks always 1. `calls` lists each request's block tag, in order.
 */
export function forkingNode(forkAt: bigint) {
  let fork = "a"
  const calls: string[] = []
  const client = createClient({
    transport: custom({
      async request({ method, params }) {
        if (method !== "eth_call") throw new Error(`unexpected ${method}`)
        const [, block] = params as [unknown, string]
        calls.push(block)
        const onFork = BigInt(block) >= forkAt ? fork : "a"
        return `0x${(onFork === "a" ? 1n : 2n).toString(16).padStart(64, "0")}`
      },
    }, { retryCount: 0 }),
  }) as Client<Transport, Chain | undefined>
  return { client, calls, reorg: () => void (fork = "b") }
}
