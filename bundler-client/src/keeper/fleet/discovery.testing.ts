import { pino } from "pino"
import { type Address, type Hex, type PublicClient, RpcRequestError, getAddress } from "viem"
import type { KeeperConfig } from "../config.js"
import { KeeperMetrics } from "../metrics.js"
import { SafeSource } from "./source.js"

// The discovery tests' load-balanced RPC (rr16g G2, rr16h H1/H2): one chain (hash = number) with a Safe (OLD) that
// registered the keeper at block 5 and one (NEW) at ADDED_AT; each request goes to the backend at the head or to one
// `lag` blocks behind (`pick(call)`); a backend refuses a range past its head with `refusal` (refuse) or clamps it
// silently. `runLaggingLogs` follows heads 150..260 through SafeSource.at and reports when NEW was first listed, the
// heads it went missing after that, the heads OLD was missing, the requests made and the heads whose discovery failed.
// Test-only.

export const MODULE = "0x00000000000000000000000000000000000000d1" as Address
export const EP = "0x0000000071727De22E5E9d8BAf0edAc6f37da032" as Address
export const KEEPER = "0x00000000000000000000000000000000000000a1" as Address
export const OLD = getAddress("0x0000000000000000000000000000000000005afe")
export const NEW = getAddress("0x000000000000000000000000000000000000c0de")
export const SUB = `0x${"b9".repeat(32)}` as Hex
export const ADDED_AT = 200n
export const LAG = 10n

/** The test chain's block hash at `n` (its number, 32 bytes). */
export const hashOf = (n: bigint) => `0x${n.toString(16).padStart(64, "0")}` as Hex

/** A decoded module log of `safe` at `block` (its hash {@link hashOf}). */
export const moduleLog = (safe: Address, block: bigint, eventName: string, logIndex: number, args: Record<string, unknown>) => ({
  address: MODULE,
  eventName,
  args: { safe, ...args },
  blockNumber: block,
  blockHash: hashOf(block),
  logIndex,
})
/** OLD registered at block 5, NEW at {@link ADDED_AT} (the key added, a policy set). */
export const CHAIN_LOGS = [
  moduleLog(OLD, 5n, "KeeperAdded", 0, { keeper: KEEPER, validAfter: 0, validUntil: 2 ** 40 }),
  moduleLog(OLD, 5n, "PolicySet", 1, { subAccount: SUB }),
  moduleLog(NEW, ADDED_AT, "KeeperAdded", 0, { keeper: KEEPER, validAfter: 0, validUntil: 2 ** 40 }),
  moduleLog(NEW, ADDED_AT, "PolicySet", 1, { subAccount: SUB }),
]

/**
 * The discovery tests' SafeSource: discovery from block 0 in 500-block windows, reorg depth 64, MODULE / EP / KEEPER,
 * over `client` (a test double of the RPC).
 */
export function discoverySource(client: PublicClient, metrics: KeeperMetrics): SafeSource {
  return new SafeSource({
    config: { discovery: { fromBlock: 0n, logWindow: 500, reorgDepth: 64 }, deployment: { leverageModule: MODULE, entryPoint: EP }, allowlist: undefined, safes: [] } as unknown as KeeperConfig,
    client,
    keeper: KEEPER,
    logger: pino({ level: "silent" }),
    metrics,
  })
}

export async function runLaggingLogs(lag: bigint, pick: (call: number) => boolean, refuse = false, refusal = { code: -32602, message: "invalid block range params" }) {
  let head = 0n
  let rr = 0
  let calls = 0
  const client = {
    getLogs: async ({ fromBlock, toBlock, blockHash }: { fromBlock: bigint; toBlock: bigint; blockHash?: Hex }) => {
      calls += 1
      const backendHead = pick(rr++) ? head : head - lag
      // f16k: a read pinned to a block hash (EIP-234) is refused by a backend that lacks the block.
      if (blockHash !== undefined) {
        const n = BigInt(blockHash)
        if (n > backendHead) throw new RpcRequestError({ body: {}, url: "rpc", error: { code: -32000, message: "unknown block" } })
        return CHAIN_LOGS.filter((l) => l.blockNumber === n)
      }
      if (refuse && toBlock > backendHead) throw new RpcRequestError({ body: {}, url: "rpc", error: refusal })
      const to = toBlock < backendHead ? toBlock : backendHead
      return CHAIN_LOGS.filter((l) => l.blockNumber >= fromBlock && l.blockNumber <= to)
    },
    // f16k: the block at a number (one chain: hash = number), or none above the backend's head.
    getBlock: async ({ blockNumber }: { blockNumber: bigint }) => {
      calls += 1
      const backendHead = pick(rr++) ? head : head - lag
      if (blockNumber > backendHead) throw new Error(`Block at number "${blockNumber}" could not be found.`)
      return { number: blockNumber, hash: `0x${blockNumber.toString(16).padStart(64, "0")}` as Hex }
    },
  } as unknown as PublicClient
  const metrics = new KeeperMetrics()
  const source = discoverySource(client, metrics)
  const listedAt: bigint[] = []
  const missingAfterListed: bigint[] = []
  let oldMissing = 0
  let failed = 0
  for (head = 150n; head <= 260n; head++) {
    const { safes, discoveryFailed } = await source.at({ number: head, hash: `0x${head.toString(16).padStart(64, "0")}`, timestamp: 1_000n + head * 12n, seenAt: 0 } as never, [])
    if (discoveryFailed) failed += 1
    if (safes.includes(NEW)) listedAt.push(head)
    else if (listedAt.length > 0) missingAfterListed.push(head)
    if (!safes.includes(OLD)) oldMissing += 1
  }
  return { firstListed: listedAt[0], missingAfterListed, oldMissing, calls, failed, metrics }
}

export const lcgPick = (seed: number) => () => ((seed = (Math.imul(seed, 1_664_525) + 1_013_904_223) >>> 0), seed / 2 ** 32 < 0.5)
