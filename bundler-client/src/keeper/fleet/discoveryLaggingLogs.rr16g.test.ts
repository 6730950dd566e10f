import { pino } from "pino"
import { type Address, type Hex, type PublicClient, RpcRequestError, getAddress } from "viem"
import { describe, expect, test } from "vitest"
import type { KeeperConfig } from "../config.js"
import { KeeperMetrics } from "../metrics.js"
import { SafeSource } from "./source.js"

// Review rr16g G2: discovery behind a load-balanced RPC (round-robin) with one backend LAG blocks behind. Such a
// backend answers `eth_getLogs(from, to)` for blocks above its own head with no logs and no error (geth-like nodes and
// most providers clamp the range to their head). A Safe that adds the key at block 200: the issue wants it picked up
// within a block and kept.

const MODULE = "0x00000000000000000000000000000000000000d1" as Address
const EP = "0x0000000071727De22E5E9d8BAf0edAc6f37da032" as Address
const KEEPER = "0x00000000000000000000000000000000000000a1" as Address
const OLD = getAddress("0x0000000000000000000000000000000000005afe")
const NEW = getAddress("0x000000000000000000000000000000000000c0de")
const SUB = `0x${"b9".repeat(32)}` as Hex
const ADDED_AT = 200n
const LAG = 10n

const log = (safe: Address, block: bigint, eventName: string, logIndex: number, args: Record<string, unknown>) => ({
  address: MODULE,
  eventName,
  args: { safe, ...args },
  blockNumber: block,
  blockHash: `0x${block.toString(16).padStart(64, "0")}` as Hex,
  logIndex,
})
const chainLogs = [
  log(OLD, 5n, "KeeperAdded", 0, { keeper: KEEPER, validAfter: 0, validUntil: 2 ** 40 }),
  log(OLD, 5n, "PolicySet", 1, { subAccount: SUB }),
  log(NEW, ADDED_AT, "KeeperAdded", 0, { keeper: KEEPER, validAfter: 0, validUntil: 2 ** 40 }),
  log(NEW, ADDED_AT, "PolicySet", 1, { subAccount: SUB }),
]

async function run(lag: bigint, pick: (call: number) => boolean, refuse = false) {
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
        return chainLogs.filter((l) => l.blockNumber === n)
      }
      if (refuse && toBlock > backendHead) throw new RpcRequestError({ body: {}, url: "rpc", error: { code: -32602, message: "invalid block range params" } })
      const to = toBlock < backendHead ? toBlock : backendHead
      return chainLogs.filter((l) => l.blockNumber >= fromBlock && l.blockNumber <= to)
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
  const source = new SafeSource({
    config: { discovery: { fromBlock: 0n, logWindow: 500, reorgDepth: 64 }, deployment: { leverageModule: MODULE, entryPoint: EP }, allowlist: undefined, safes: [] } as unknown as KeeperConfig,
    client,
    keeper: KEEPER,
    logger: pino({ level: "silent" }),
    metrics,
  })
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

const lcgPick = (seed: number) => () => ((seed = (Math.imul(seed, 1_664_525) + 1_013_904_223) >>> 0), seed / 2 ** 32 < 0.5)

describe("rr16g G2: discovery behind a round-robin RPC with one backend 10 blocks behind (answers no logs above its head)", () => {
  test("held (control): a backend 1 block behind, requests alternating: picked up at the block it registered, never dropped", async () => {
    const r = await run(1n, (c) => c % 2 === 1)
    expect(r.firstListed! - ADDED_AT).toBeLessThanOrEqual(1n)
    expect(r.missingAfterListed).toEqual([])
    expect(r.oldMissing).toBe(0)
  })
  // Still fails after f16k (residual, SECURITY.md row 121): a clamped answer is an empty range to the keeper; with strict
  // alternation the head's own read always reaches the lagging backend. Listed 10 heads late, never dropped.
  test.skip("rr16g G2 FAILS TODAY: each head's own eth_getLogs reaches the lagging backend: a Safe that adds the key at block 200 is listed at 210 (10 heads late, each a discovery 'reorg')", async () => {
    const r = await run(LAG, (c) => c % 2 === 1)
    console.log("rr16g G2 alternating", JSON.stringify({ firstListed: String(r.firstListed), missingAfterListed: r.missingAfterListed.map(String) }))
    // Today: firstListed 210.
    expect(r.firstListed! - ADDED_AT).toBeLessThanOrEqual(1n)
  })
  test("rr16g G2 (was FAILS TODAY, fixed f16k): backends picked at random: the Safe is listed at 200, then dropped from the fleet at heads 202-208 (a re-read from the lagging backend loses its unconfirmed logs)", async () => {
    const pick = lcgPick(7)
    const r = await run(LAG, () => pick())
    console.log("rr16g G2 random", JSON.stringify({ firstListed: String(r.firstListed), missingAfterListed: r.missingAfterListed.map(String) }))
    // Today: listed at 200, missing at 202, 203, 204, 205, 206, 207, 208.
    expect(r.missingAfterListed).toEqual([])
  })
  test("rr16g G2 (was FAILS TODAY, fixed f16k): the lagging backend refuses a range past its head (-32602, what current geth, Nethermind, Besu, Erigon and reth answer): discovery fails 109 of 111 heads at ~69 eth_getLogs per head", async () => {
    const r = await run(LAG, (c) => c % 2 === 1, true)
    const shrunk = r.metrics.render().split("\n").find((l) => l.startsWith("levpilot_discovery_window_shrunk_total"))
    console.log("rr16g G2 refuse", JSON.stringify({ firstListed: String(r.firstListed), missingAfterListed: r.missingAfterListed.map(String), failed: r.failed, callsPerHead: r.calls / 111 }), shrunk)
    // Today: 109 heads with discoveryFailed, 68.6 eth_getLogs per head, 160 window halvings, listed at 201 then missing at 202-204.
    expect(r.failed).toBeLessThanOrEqual(5)
    expect(r.calls / 111).toBeLessThanOrEqual(3)
    expect(r.missingAfterListed).toEqual([])
  })
  test("rr16g G2 (was FAILS TODAY, fixed f16k): a backend 1 block behind that refuses a range past its head, requests spread at random: discovery fails 35 of 111 heads at 20 eth_getLogs per head", async () => {
    const r = await run(1n, lcgPick(7), true)
    console.log("rr16g G2 lag 1 refuse random", JSON.stringify({ firstListed: String(r.firstListed), failed: r.failed, callsPerHead: r.calls / 111 }))
    // Today: 35 heads with discoveryFailed, 20.1 eth_getLogs per head.
    expect(r.failed).toBeLessThanOrEqual(5)
    expect(r.calls / 111).toBeLessThanOrEqual(3)
  })
})
