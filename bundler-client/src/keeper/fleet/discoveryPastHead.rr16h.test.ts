import { describe, expect, test } from "vitest"
import { DISCOVERY_STALL_HEADS } from "./discovery.js"
import { ADDED_AT, LAG, NEW, OLD, runLaggingLogs as run } from "./discovery.testing.js"

// Review rr16h (harness copied from discoveryLaggingLogs.rr16g.test.ts). Review rr16g G2: discovery behind a load-balanced RPC (round-robin) with one backend LAG blocks behind. Such a
// backend answers `eth_getLogs(from, to)` for blocks above its own head with no logs and no error (geth-like nodes and
// most providers clamp the range to their head). A Safe that adds the key at block 200: the issue wants it picked up
// within a block and kept.

describe("rr16h H1: eth_getLogs served by a backend always behind the head the keeper follows (a log/archive tier, method-routed RPC)", () => {
  // The keeper's head poll is answered by the fastest node; every eth_getLogs by one 1 block behind it (an Erigon
  // archive node behind eRPC/dshackle method routing, a provider's log tier). Each head's read [synced-3, head] reaches
  // past that backend's head: refused, read again once, refused, `break`. No window below the head is read.
  test("rr16h H1 (fixed f16l; failed before: no Safe listed, no failure reported): the getLogs backend is always 1 block behind and refuses past its head: the range end backs off to head-1, every Safe is listed", async () => {
    const r = await run(1n, () => false, true)
    const pastHead = r.metrics.render().split("\n").find((l) => l.startsWith("levpilot_discovery_past_head_total"))
    console.log("rr16h H1", JSON.stringify({ firstListed: String(r.firstListed), oldMissing: r.oldMissing, failed: r.failed, callsPerHead: r.calls / 111 }), pastHead)
    // Today: firstListed undefined (NEW never listed), OLD (registered at block 5) missing at all 111 heads, 0 heads
    // with discoveryFailed, 2 eth_getLogs per head, levpilot_discovery_past_head_total 222.
    expect(r.oldMissing).toBe(0)
    expect(r.firstListed! - ADDED_AT).toBeLessThanOrEqual(2n)
  })
  test("f16l: a getLogs backend 100 blocks behind (beyond PAST_HEAD_MAX_BACKOFF_BLOCKS): no progress is reported as failed heads after DISCOVERY_STALL_HEADS, not silent", async () => {
    const r = await run(100n, () => false, true)
    const stalled = r.metrics.render().split("\n").find((l) => l.startsWith("levpilot_discovery_stalled_heads"))
    expect(r.firstListed).toBeUndefined()
    // Heads 150..157 stall (the 8th fails), then every head fails: 111 - 7.
    expect(r.failed).toBe(111 - (DISCOVERY_STALL_HEADS - 1))
    expect(stalled).toBe("levpilot_discovery_stalled_heads 111")
  })
  test("control: the same backend refusing with a clamp instead (no error): listed at most 1 block late", async () => {
    const r = await run(1n, () => false, false)
    expect(r.oldMissing).toBe(0)
    expect(r.firstListed! - ADDED_AT).toBeLessThanOrEqual(1n)
  })
})

describe("rr16h H2: past-head refusal texts isRangePastHead does not know (the G2 failure comes back)", () => {
  // OpenEthereum's EIP-234 text (kept by forks and seen from load-balanced providers: 0x-mesh#284/#781) and a
  // "from block is greater than latest block" text, both seen by indexers retrying a lagging backend.
  for (const message of ["One of the blocks specified in filter (fromBlock, toBlock or blockHash) cannot be found.", "from block is greater than latest block"])
    test(`rr16h H2 (fixed f16l): a backend 10 blocks behind, requests alternating, refusing with "${message}": discovery fails most heads, halving every head`, async () => {
      const r = await run(LAG, (c) => c % 2 === 1, true, { code: -32000, message })
      console.log("rr16h H2", JSON.stringify({ message, firstListed: String(r.firstListed), failed: r.failed, callsPerHead: r.calls / 111, missingAfterListed: r.missingAfterListed.map(String) }))
      expect(r.failed).toBeLessThanOrEqual(5)
      expect(r.calls / 111).toBeLessThanOrEqual(3)
    })
})
