import { describe, expect, test } from "vitest"
import {
  SAFE,
  INCLUSION_NONCE as NONCE,
  fleetInclusionHarness as harness,
  includedEvents as included,
  landedUserOp as landed,
  resentRecord as record,
} from "../testing.js"

// Issue 16 (bench:fleet, 1,000 Safes x 4 worker processes, load 33): one operation landed a block before (or while) its
// Safe was resubmitted; the chain counted 100/100 rebalances, the keeper's events 99/100. The tracker's search for the
// event of a used nonce started at the record's latest send (`sentBlock`, the resend's) and went backwards from the head
// for at most 25 windows: an operation that landed before the resend, or further back than 25 windows from a head the
// fleet reached late, was never found, and the record was cleared as "included" with no `included` event.

describe("fleet inclusion: an operation that landed before the tracker's step is reported included (issue 16)", () => {
  test("landed between its first send and a resend (the resend's intent kept): included, with the block and success flag", async () => {
    // First sent at 100, resent at 110 (the answer unusable: the intent, sentBlock 110, kept), landed at 105; the
    // fleet's step at 112 holds only block 112's events.
    const h = harness(record(100n, 110n), { head: 112n, events: [landed(105n, false)] })
    expect(await h.step(112n)).toBe("included")
    const found = included(h.events)
    expect(found).toHaveLength(1)
    expect(found[0]).toMatchObject({ type: "included", block: 105n, success: false, safe: SAFE })
    expect(h.pending()).toBeUndefined()
  })

  test("the fleet reaches the Safe 300 blocks late with a 4-block log window: searched from the first send, found", async () => {
    const h = harness(record(100n, 100n), { head: 400n, events: [landed(103n)], windowBlocks: 4 })
    expect(await h.step(400n)).toBe("included")
    expect(included(h.events)).toMatchObject([{ block: 103n, success: true }])
    // From the first send forwards: the first window holds it.
    expect(h.asked).toEqual([[100n, 103n]])
  })

  test("an event past the searched windows: the record is kept (waiting) and the next steps search on from there, bounded per step", async () => {
    const h = harness(record(100n, 100n), { head: 400n, events: [landed(250n)], windowBlocks: 4 })
    const verdicts: string[] = []
    for (let block = 400n; h.pending() !== undefined && block < 410n; block++) {
      verdicts.push(await h.step(block))
      // Each step reads at most 25 windows.
      expect(h.asked.length).toBeLessThanOrEqual(25)
      h.asked.length = 0
    }
    // Today: backwards from the head, 25 windows reach block 301 only: cleared as included with no event.
    expect(verdicts).toEqual(["waiting", "included"])
    expect(included(h.events)).toMatchObject([{ block: 250n, success: true }])
  })

  test("a node whose head is behind the record's first send: nothing searched, the record kept (not cleared without an event)", async () => {
    const h = harness(record(100n, 100n), { head: 99n, events: [] })
    expect(await h.step(101n)).toBe("waiting")
    expect(h.pending()).toMatchObject({ nonce: NONCE.toString(), searchFromBlock: "100" })
    expect(included(h.events)).toEqual([])
  })

  test("the block's own events still answer first (no eth_getLogs)", async () => {
    const h = harness(record(100n, 100n), { head: 101n, events: [] })
    expect(await h.step(101n, [landed(101n)])).toBe("included")
    expect(h.asked).toEqual([])
    expect(included(h.events)).toMatchObject([{ block: 101n }])
  })
})
