import { type Chain, type Client, type Hex, type Transport, RpcRequestError, createClient, custom } from "viem"

// The shared-read reorg tests' node (blockReads reorg reviews rr16b, rr16c). Test-only.

/** The contract every read of the reorg fixtures calls. */
export const TO = "0x00000000000000000000000000000000000000aa"

/** The hash of block `n` on fork `fork` (blocks below the fork point are fork "a" on both). */
export const hashOf = (fork: "a" | "b", n: bigint): Hex => `0x${(fork === "a" ? "aa" : "bb").repeat(4)}${n.toString(16).padStart(56, "0")}`

/**
 * A node with two forks: a read at a block >= `forkAt` answers 1 (fork A) until `reorg()` is called, 2 (fork B) after;
 * lower blocks always 1. Blocks are known by number (the current fork's) and by hash (EIP-1898 `{ blockHash }`): a
 * hash of the fork not current is refused like anvil does (-32001 "Resource not found"). `eth_getBlockByNumber`
 * answers the current fork's hash. `calls` lists each `eth_call`'s block (hex number, or `hash:<blockHash>`), in order;
 * `blocks` the `eth_getBlockByNumber` requests.
 */
export function forkingNode(forkAt: bigint) {
  let fork: "a" | "b" = "a"
  const calls: string[] = []
  const blocks: string[] = []
  const forkAtNumber = (n: bigint) => (n >= forkAt ? fork : "a")
  const client = createClient({
    transport: custom(
      {
        async request({ method, params }) {
          if (method === "eth_getBlockByNumber") {
            const [tag] = params as [Hex]
            blocks.push(tag)
            return { number: tag, hash: hashOf(forkAtNumber(BigInt(tag)), BigInt(tag)) }
          }
          if (method !== "eth_call") throw new Error(`unexpected ${method}`)
          const [, block] = params as [unknown, string | { blockHash: Hex }]
          let onFork: "a" | "b"
          if (typeof block === "string") {
            calls.push(block)
            onFork = forkAtNumber(BigInt(block))
          } else {
            calls.push(`hash:${block.blockHash}`)
            const n = BigInt(`0x${block.blockHash.slice(10)}`)
            if (block.blockHash !== hashOf(forkAtNumber(n), n)) throw new RpcRequestError({ body: {}, url: "forking-node", error: { code: -32001, message: "Resource not found" } })
            onFork = forkAtNumber(n)
          }
          return `0x${(onFork === "a" ? 1n : 2n).toString(16).padStart(64, "0")}`
        },
      },
      { retryCount: 0 },
    ),
  }) as Client<Transport, Chain | undefined>
  return { client, calls, blocks, reorg: () => void (fork = "b"), hash: (n: bigint) => hashOf(forkAtNumber(n), n) }
}
