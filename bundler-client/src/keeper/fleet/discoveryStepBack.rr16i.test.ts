import { type Hex, type PublicClient, RpcRequestError } from "viem"
import { describe, expect, test } from "vitest"
import { isRangePastHead } from "../logWindow.js"
import { KeeperMetrics } from "../metrics.js"
import { STORED_HEAD_RESET_GAP, storedHeadOffChain } from "./queueNode.js"
import type { Head } from "./head.js"
import { ADDED_AT, CHAIN_LOGS, KEEPER, NEW, OLD, discoverySource, hashOf, moduleLog } from "./discovery.testing.js"

// Review rr16i: attacks on the f16l fix of rr16h H1/H2/H3 (harness from discoveryPastHead.rr16h.test.ts).

const REVOKED_AT = 230n
const chainLogs = [...CHAIN_LOGS, moduleLog(NEW, REVOKED_AT, "KeeperRevoked", 0, { keeper: KEEPER })]

/** A backend: how far behind the followed head, and whether it refuses a range past its head or clamps it silently. */
type Backend = { lag: bigint; refuse: boolean }

async function run(backends: Backend[], refusal = { code: -32602, message: "invalid block range params" }) {
  let head = 0n
  let rr = 0
  let calls = 0
  const client = {
    getLogs: async ({ fromBlock, toBlock, blockHash }: { fromBlock: bigint; toBlock: bigint; blockHash?: Hex }) => {
      calls += 1
      const b = backends[rr++ % backends.length]!
      const backendHead = head - b.lag
      if (blockHash !== undefined) {
        const n = BigInt(blockHash)
        if (n > backendHead) throw new RpcRequestError({ body: {}, url: "rpc", error: { code: -32000, message: "unknown block" } })
        return chainLogs.filter((l) => l.blockNumber === n)
      }
      if (b.refuse && toBlock > backendHead) throw new RpcRequestError({ body: {}, url: "rpc", error: refusal })
      const to = toBlock < backendHead ? toBlock : backendHead
      return chainLogs.filter((l) => l.blockNumber >= fromBlock && l.blockNumber <= to)
    },
    getBlock: async ({ blockNumber }: { blockNumber: bigint }) => {
      calls += 1
      const b = backends[rr++ % backends.length]!
      if (blockNumber > head - b.lag) throw new Error(`Block at number "${blockNumber}" could not be found.`)
      return { number: blockNumber, hash: hashOf(blockNumber) }
    },
  } as unknown as PublicClient
  const metrics = new KeeperMetrics()
  const source = discoverySource(client, metrics)
  const listed: bigint[] = []
  let oldMissing = 0
  let failed = 0
  for (head = 150n; head <= 300n; head++) {
    const { safes, discoveryFailed } = await source.at({ number: head, hash: hashOf(head), timestamp: 1_000n + head * 12n, seenAt: 0 } as never, [])
    if (discoveryFailed) failed += 1
    if (safes.includes(NEW)) listed.push(head)
    if (!safes.includes(OLD)) oldMissing += 1
  }
  const firstListed = listed[0]
  const droppedAt = listed.length ? listed[listed.length - 1]! + 1n : undefined
  // Heads NEW was listed while its key was not (the chain check in scan.ts notAuthorized still stops a send there).
  const listedRevoked = listed.filter((h) => h >= REVOKED_AT).length
  return { firstListed, droppedAt, listedRevoked, listedGaps: listed.length > 0 ? Number(listed[listed.length - 1]! - listed[0]!) + 1 - listed.length : 0, oldMissing, failed, callsPerHead: calls / 151 }
}

const delay = (r: { firstListed?: bigint }) => (r.firstListed === undefined ? Infinity : Number(r.firstListed - ADDED_AT))

describe("rr16i (a): the step-back loop with a refusing getLogs backend LAG blocks behind", () => {
  for (const lag of [1n, 2n, 3n, 4n])
    test(`control: lag ${lag}: NEW listed within lag+1 heads, never unlisted before its revocation, OLD always listed, no failed head, bounded requests`, async () => {
      const r = await run([{ lag, refuse: true }])
      console.log("rr16i a", lag, JSON.stringify({ ...r, firstListed: String(r.firstListed), droppedAt: String(r.droppedAt) }))
      expect(r.oldMissing).toBe(0)
      expect(r.failed).toBe(0)
      expect(r.listedGaps).toBe(0)
      expect(delay(r)).toBeLessThanOrEqual(Number(lag) + 1)
      expect(Number(r.droppedAt! - REVOKED_AT)).toBeLessThanOrEqual(Number(lag) + 1)
      expect(r.callsPerHead).toBeLessThanOrEqual(8)
    })
  // The end backed off head-1, -2, -4, -8 ...: the first power of two at or above the lag. A backend 5 blocks behind
  // listed a Safe 8 heads late, 9 behind: 16, 17 behind: 32, 33 behind: 64 (the blocks it has were not read). Fixed in
  // stop 54: once a backed-off end is read, the gap up to the lowest refused end is bisected.
  for (const lag of [5n, 6n, 9n, 17n, 33n, 60n])
    test(`rr16i A1 (Low, was FAILS TODAY; fixed stop 54): lag ${lag}: NEW listed and its revocation seen within lag+1 heads, not at the next power of two, never unlisted between, no failed head, at most 2 x log2(lag) + 4 requests per head`, async () => {
      const r = await run([{ lag, refuse: true }])
      console.log("rr16i A1", lag, JSON.stringify({ ...r, firstListed: String(r.firstListed), droppedAt: String(r.droppedAt) }))
      expect(r.oldMissing).toBe(0)
      expect(r.failed).toBe(0)
      expect(r.listedGaps).toBe(0)
      expect(delay(r)).toBeLessThanOrEqual(Number(lag) + 1)
      expect(Number(r.droppedAt! - REVOKED_AT)).toBeLessThanOrEqual(Number(lag) + 1)
      expect(r.callsPerHead).toBeLessThanOrEqual(2 * Math.log2(Number(lag)) + 4)
    })
  test("control: the overshoot of A1 is bounded by the power of two (lag 33: 64 heads) and alerts nothing", async () => {
    const r = await run([{ lag: 33n, refuse: true }])
    expect(r.failed).toBe(0)
    expect(r.oldMissing).toBe(0)
    expect(delay(r)).toBeLessThanOrEqual(64)
  })
  test("control: round-robin of a fresh backend and a refusing one 3 behind, and of a refusing one and a silent clamp 3 behind: nothing missed, no gaps", async () => {
    for (const backends of [
      [{ lag: 0n, refuse: true }, { lag: 3n, refuse: true }],
      [{ lag: 1n, refuse: true }, { lag: 3n, refuse: false }],
      [{ lag: 2n, refuse: true }, { lag: 2n, refuse: true }, { lag: 5n, refuse: false }],
    ]) {
      const r = await run(backends)
      console.log("rr16i a mixed", JSON.stringify({ backends: backends.map((b) => `${b.lag}${b.refuse ? "r" : "c"}`), ...r, firstListed: String(r.firstListed), droppedAt: String(r.droppedAt) }))
      expect(r.oldMissing).toBe(0)
      expect(r.listedGaps).toBe(0)
      expect(delay(r)).toBeLessThanOrEqual(6)
      expect(Number(r.droppedAt! - REVOKED_AT)).toBeLessThanOrEqual(8)
    }
  })
})

describe("rr16i (c): provider too-wide texts against the widened past-head wordings", () => {
  // Real or near-real too-wide texts (providers' docs/issues); none may read as past-head (never halved: discovery stalls).
  const tooWide = [
    "query returned more than 10000 results",
    "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and no limit on the response size, or you can request any block range with a cap of 10K logs in the response.",
    "eth_getLogs is limited to a 10,000 range",
    "exceed maximum block range: 5000",
    "Block range limit exceeded.",
    "requested too many blocks from 0 to 100000, maximum is set to 2048",
    "block range is too wide",
    "block range too large",
    "ranges over 10000 blocks are not supported on freetier",
    "Query timeout exceeded. Consider reducing your block range.",
    "query exceeds max results 20000, retry with the range 1-2",
    "You cannot query logs for more than 10000 blocks at once.",
    "eth_getLogs and eth_newFilter are limited to a 800 blocks range",
    "Maximum allowed number of requested blocks is 1000",
    "block range greater than 2000 is not supported",
    "requested block range 0x1-0x5000 is greater than the current limit of 1000 blocks",
    "your block range is bigger than your plan: block 0x9000 is newer than the last block your tier can query",
  ]
  for (const message of tooWide)
    test(`control: too wide, not past head: "${message}"`, () => {
      expect(isRangePastHead(new RpcRequestError({ body: {}, url: "rpc", error: { code: -32005, message } }))).toBe(false)
    })
  // Too-wide texts without any TOO_WIDE word, speaking of the "current"/"latest" plan or block, were read as past-head,
  // the window never halved and the end stepped back one block per refusal (lower = to - 1 below the head): discovery
  // that is catching up stopped advancing, discovery-stalled after 8 heads (alerted, not silent). Fixed in stop 54: a
  // provider's quota words ("plan", "tier") are a window too wide.
  for (const message of ["block range greater than the current plan allows", "block range greater than the latest block your tier can query"])
    test(`rr16i C1 (Low, was FAILS TODAY, contrived text; fixed stop 54): "${message}" is a window too wide, not past-head`, () => {
      expect(isRangePastHead(new RpcRequestError({ body: {}, url: "rpc", error: { code: -32005, message } }))).toBe(false)
    })
})

describe("rr16i (d): storedHeadOffChain on a new leader's first head", () => {
  const head = (n: bigint): Head => ({ number: n, hash: hashOf(n), timestamp: n, seenAt: 0 }) as Head
  const keys = { head: "p:head", headHash: "p:head:hash" }
  const redis = (held: bigint | undefined, hash?: Hex) => ({ mget: async () => [held?.toString() ?? null, hash ?? null] }) as never
  test("control: a transient RPC failure or a backend a few blocks behind leaves the stored head (no downward reset)", async () => {
    for (const err of [new Error("timeout"), new Error("HTTP 429"), new Error('Block at number "103" could not be found.')])
      expect(await storedHeadOffChain(redis(103n, hashOf(103n)), keys, { getBlock: async () => Promise.reject(err) }, head(100n))).toBe(false)
    // Same chain, the node has the block: same hash.
    expect(await storedHeadOffChain(redis(103n, hashOf(103n)), keys, { getBlock: async ({ blockNumber }) => ({ hash: hashOf(blockNumber) }) }, head(100n))).toBe(false)
    // No hash stored (an older leader): never lowered.
    expect(await storedHeadOffChain(redis(103n), keys, { getBlock: async () => ({ hash: hashOf(1n) }) }, head(100n))).toBe(false)
  })
  test("control: a failing Redis rejects (queueNode.lead catches it as false): the leader is not stopped", async () => {
    const bad = { mget: async () => Promise.reject(new Error("READONLY")) } as never
    await expect(storedHeadOffChain(bad, keys, { getBlock: async () => ({ hash: null }) }, head(100n)).catch(() => false)).resolves.toBe(false)
  })
  // A new leader whose node is a syncing/lagging backend more than STORED_HEAD_RESET_GAP behind on the SAME chain (or a
  // timeout on that one getBlock) is read as a devnet reset: <prefix>:head goes down by > 64 blocks (FleetStep.newerStep
  // then treats newer queued steps above it as another chain's). Such a leader's scans are stale anyway (pre-existing:
  // no leader-side far-behind guard on a fresh HeadPoller).
  // Fixed in stop 54 for a failure that is not the node's "no such block" (a timeout, a rate limit); a node on the same
  // chain 65+ blocks behind that answers "not found" still reads as a reset (residual, documented on storedHeadOffChain).
  test("rr16i D1 (Low, was FAILS TODAY; fixed stop 54 for failures): the leader's getBlock times out or is rate-limited 65+ blocks under the stored head: not off-chain; a node's 'could not be found' there still is (a reset)", async () => {
    const behind = head(1_000n)
    const stored = behind.number + STORED_HEAD_RESET_GAP + 1n
    for (const err of [new Error("timeout"), new Error("HTTP request failed. Status: 429"), new Error("fetch failed")])
      expect(await storedHeadOffChain(redis(stored, hashOf(stored)), keys, { getBlock: async () => Promise.reject(err) }, behind)).toBe(false)
    expect(await storedHeadOffChain(redis(stored, hashOf(stored)), keys, { getBlock: async () => Promise.reject(new Error(`Block at number "${stored}" could not be found.`)) }, behind)).toBe(true)
  })
})
