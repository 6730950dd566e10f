import { type Address, type Chain, type Client, type Hex, HttpRequestError, RpcRequestError, type Transport, createClient, custom } from "viem"
import { call } from "viem/actions"
import { describe, expect, test, vi } from "vitest"
import { sharedBlockReads } from "./blockReads.js"
import { readChunk, readLimit, triage } from "./scan.js"
import { lcg } from "./head.testing.js"
import { safesOf, stateOf } from "./scan.testing.js"

// Review rr16e E2. rr16d D2's premise: a load-balanced RPC whose backends are a block apart. f16h's fix handles a
// request sequence where the pinned read AND the block check both land on the lagging backend (by-hash refused,
// by-number null). Behind a real balancer the block check is another request, and it often lands on the backend that
// HAS the block: the check answers "canonical" and `sharedBlockReads` throws the read's own error ("header not found")
// as if the call itself had failed. readChunk then splits the chunk (and shrinks the batch size) and reports the Safes
// whose single read landed on the lagging backend as unreadable: a `read-failed` alert each time a Safe's read flips from
// good to bad, no step for it at that block. Expected: a refusal of the block (not of the call) while the node's chain
// has the block is read again (or thrown as the retryable BlockNotImportedError), never a Safe-level read failure.

vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({ ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()), getSafeStates: vi.fn() }))
const { getSafeStates } = await import("@levpilot/sdk/actions")

const TO = "0x00000000000000000000000000000000000000aa"
const HASH = `0x${"12".repeat(32)}` as Hex

/** Two backends behind one URL, each request to one of them at random (seeded); backend B never has block 101. */
function balancedNode(seed: number) {
  const rand = lcg(seed)
  const log: string[] = []
  const client = createClient({
    chain: { id: 31337 } as Chain,
    transport: custom(
      {
        async request({ method }) {
          const lagging = rand() < 0.5
          log.push(`${method}@${lagging ? "B" : "A"}`)
          if (method === "eth_getBlockByNumber") return lagging ? null : { number: "0x65", hash: HASH }
          if (method !== "eth_call") throw new Error(`unexpected ${method}`)
          if (lagging) throw new RpcRequestError({ body: {}, url: "balanced", error: { code: -32000, message: "header not found" } })
          return `0x${"07".padStart(64, "0")}`
        },
      },
      { retryCount: 0 },
    ),
  }) as Client<Transport, Chain | undefined>
  return { client, log }
}

describe("rr16e E2: a load-balanced RPC with one backend a block behind (it never catches up)", () => {
  test("rr16e E2 fixed (f16i): a pinned read refused as header not found while the block check finds the block is read again: 0 unreadable, 0 alerts, batch size kept (was 5, 2, size 1)", async () => {
    // The lens read: one eth_call of the chunk's Safes at the block (through the pinned client readChunk is given).
    vi.mocked(getSafeStates).mockImplementation(async (client, p) => {
      await call(client as never, { to: TO, data: "0x01", blockNumber: p.blockNumber })
      return { blockNumber: 101n, timestamp: 1_000n, safes: p.safes.map((safe) => stateOf(safe)) } as never
    })
    const safes = safesOf(8)
    let unreadable = 0
    let retryable = 0
    const alerts: unknown[] = []
    const limit = readLimit()
    const fingerprints = new Map<string, string>()
    const store = {
      scanState: async (s: readonly Address[]) => ({ pending: s.map(() => false), fingerprints: s.map((a) => fingerprints.get(a)) }),
      setFingerprints: async (f: readonly [Address, string][]) => void f.forEach(([a, fp]) => fingerprints.set(a, fp)),
    }
    const events = { alert: (...a: unknown[]) => void alerts.push(a) }
    for (let block = 0; block < 10; block++) {
      const node = balancedNode(block + 1)
      // A fresh block-reads per round (no shared answers across rounds), the retry waits shortened.
      const reads = sharedBlockReads(node.client, { notImportedRetryMs: [1, 1, 1] })
      const chunk = await readChunk(reads.at({ number: 101n, hash: HASH }), { safes, block: 101n, keeper: safes[0] as Address, deployment: {} as never, limit }).catch(() => undefined)
      if (chunk === undefined) {
        retryable += 1
        continue
      }
      unreadable += chunk.states.filter((s) => s.error).length
      await triage(chunk as never, { store: store as never, events: events as never, refreshEveryBlocks: 10 })
    }
    console.log(JSON.stringify({ unreadable, retryable, alerts: alerts.length, limitSize: limit.size }))
    // Every Safe is healthy: each round either reads them all or retries the block (BlockNotImportedError), never a
    // Safe-level failure, no alert, the batch size untouched.
    expect(unreadable).toBe(0)
    expect(alerts).toEqual([])
    expect(limit.size).toBe(readLimit().size)
  })

  // Review rr16e E3: ReadLimit.size halves at every failed lens call that is not "unreachable" (an HTTP 502/503 from a
  // hosted RPC's gateway, a JSON-RPC -32005 rate limit or -32603, a timeout: all transient) and never grows back (the
  // log window has GROW_AFTER_READS; the read limit has no such path; only a dataless-revert culprit resets it). Eight
  // transient errors over a keeper's life leave it reading one Safe per eth_call: 5,000 eth_calls per block at 5,000
  // Safes (target: 50), for the process's life.
  test("rr16e E3 fixed (f16i): eight transient HTTP 503s (one per block) do not shrink the batch: one eth_call per chunk after them (was 250, size 1)", async () => {
    const safes = safesOf(250)
    let failNext = false
    let calls = 0
    vi.mocked(getSafeStates).mockImplementation(async (_client, p) => {
      calls += 1
      if (failNext) {
        failNext = false
        throw new HttpRequestError({ url: "https://rpc.example", status: 503, details: "Service Unavailable" })
      }
      return { blockNumber: 101n, timestamp: 1_000n, safes: p.safes.map((safe) => stateOf(safe)) } as never
    })
    const limit = readLimit()
    const client = { chain: { id: 31337 }, request: async () => { throw new Error("unexpected") } }
    for (let block = 0; block < 8; block++) {
      failNext = true
      await readChunk(client as never, { safes, block: 101n, keeper: safes[0] as Address, deployment: {} as never, limit })
    }
    // A day of healthy blocks afterwards.
    let last = 0
    for (let block = 0; block < 100; block++) {
      calls = 0
      await readChunk(client as never, { safes, block: 101n, keeper: safes[0] as Address, deployment: {} as never, limit })
      last = calls
    }
    console.log(JSON.stringify({ limitSize: limit.size, callsPerChunkAfter100HealthyBlocks: last }))
    // The node takes 250 Safes per call (it did before and after each 503): back to one call per chunk.
    expect(last).toBe(1)
  })

  /** A node whose eth_call fails (as out of gas, not transient) above `cap` Safes, `failFirst` times at any size first. */
  const gasCapped = (cap: number, failFirst: number) => {
    let fails = failFirst
    const calls = { n: 0 }
    vi.mocked(getSafeStates).mockImplementation(async (_client, p) => {
      calls.n += 1
      if (fails > 0 || p.safes.length > cap) {
        fails = Math.max(0, fails - 1)
        throw new RpcRequestError({ body: {}, url: "node", error: { code: -32000, message: "out of gas" } })
      }
      return { blockNumber: 101n, timestamp: 1_000n, safes: p.safes.map((safe) => stateOf(safe)) } as never
    })
    return calls
  }
  const client = { chain: { id: 31337 }, request: async () => { throw new Error("unexpected") } }

  test("f16i E3: a batch halved by size-like failures grows back to unbounded within 100 healthy blocks (was: 4 Safes per call for good)", async () => {
    const safes = safesOf(256)
    const calls = gasCapped(Number.POSITIVE_INFINITY, 6)
    const limit = readLimit()
    await readChunk(client as never, { safes, block: 101n, keeper: safes[0] as Address, deployment: {} as never, limit })
    const shrunk = limit.size
    // The smallest size that failed (8) is retried after RETRY_REFUSED_AFTER_READS (64) chunks, then it doubles every GROW_AFTER_READS (4).
    for (let block = 0; block < 100; block++) await readChunk(client as never, { safes, block: 101n, keeper: safes[0] as Address, deployment: {} as never, limit })
    calls.n = 0
    await readChunk(client as never, { safes, block: 101n, keeper: safes[0] as Address, deployment: {} as never, limit })
    console.log(JSON.stringify({ shrunk, after100: limit.size, calls: calls.n }))
    expect(shrunk).toBeLessThan(16)
    expect(limit.size).toBe(Number.POSITIVE_INFINITY)
    expect(calls.n).toBe(1)
  })

  test("f16i E3: a node with a real gas cap (100 Safes) keeps the batch under it, probing the refused size rarely", async () => {
    const safes = safesOf(250)
    const calls = gasCapped(100, 0)
    const limit = readLimit()
    for (let block = 0; block < 200; block++) await readChunk(client as never, { safes, block: 101n, keeper: safes[0] as Address, deployment: {} as never, limit })
    const perChunk = calls.n / 200
    console.log(JSON.stringify({ size: limit.size, perChunk }))
    expect(limit.size).toBeLessThanOrEqual(100)
    // 4 calls of <= 63 Safes, plus about one failed probe of the doubled size every RETRY_REFUSED_AFTER_READS blocks.
    expect(perChunk).toBeLessThan(4.2)
  })
})
