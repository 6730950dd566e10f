import { describe, expect, test } from "vitest"
import type { PendingOperation } from "../stateFile.js"
import {
  SAFE,
  fleetInclusionHarness as harness,
  includedEvents as included,
  landedUserOp as landed,
  resentRecord as record,
} from "../testing.js"

// Review rr11e (issue 11 item 7, "check the nonce first; read logs in bounded windows"): the harness of
// inclusionLate.test.ts (issue 16), shared (fleetInclusionHarness in ../testing.ts). The tracker learns the nonce is used at the step's block (the fleet's lens read,
// or getNonce at latest), then searches UserOperationEvents from the first send up to `getBlockNumber()`: a load-balanced
// RPC answering that from a lagging replica (the case the code already guards when the head is behind the FIRST send)
// ends the search below the block the operation landed in, and the record is cleared "included" with no included
// event: a landed operation, reverted or not, is never reported (no levpilot_rebalances_total, no revert alert).
//
// Issue 16 (bench:fleet, 1,000 Safes x 4 worker processes, load 33): one operation landed a block before (or while) its
// Safe was resubmitted; the chain counted 100/100 rebalances, the keeper's events 99/100. The tracker's search for the
// event of a used nonce started at the record's latest send (`sentBlock`, the resend's) and went backwards from the head
// for at most 25 windows: an operation that landed before the resend, or further back than 25 windows from a head the
// fleet reached late, was never found, and the record was cleared as "included" with no `included` event.

describe("rr11e: the event search's head behind the block where the nonce was seen used", () => {
  // Before f11e: one search of 100..108, verdict "included", record cleared, no included event (the revert never reported).
  test("was FAILS TODAY (rr11e L1), fixed: the record is kept until the search reaches the block the nonce was seen used at, then reported included (reverted)", async () => {
    const h = harness(record(100n, 100n), { head: 108n, events: [landed(110n, false)] })
    expect(await h.step(112n)).toBe("waiting")
    expect(h.pending()).toBeDefined()
    expect(included(h.events)).toEqual([])
    // Searched 100..108 only; the next step searches on from 109.
    expect(h.asked).toEqual([[100n, 108n]])
    expect(h.pending()?.searchFromBlock).toBe("109")
  })

  test("fixed (rr11e L1): once the replica's head reaches the landing block, the next step reports it included (reverted) from where it stopped", async () => {
    const events = [landed(110n, false)]
    const lagging = harness(record(100n, 100n), { head: 108n, events })
    expect(await lagging.step(112n)).toBe("waiting")
    const caughtUp = harness(lagging.pending() as PendingOperation, { head: 113n, events })
    expect(await caughtUp.step(113n)).toBe("included")
    expect(caughtUp.asked).toEqual([[109n, 113n]])
    expect(included(caughtUp.events)).toMatchObject([{ block: 110n, success: false }])
    expect(caughtUp.pending()).toBeUndefined()
  })

  test("held: a window boundary exactly at the landing block (windows of 4 from 100: 100-103, 104-107, 108-111), found in the third window", async () => {
    for (const at of [103n, 104n, 107n, 108n, 111n]) {
      const h = harness(record(100n, 100n), { head: 111n, events: [landed(at)], windowBlocks: 4 })
      expect(await h.step(111n)).toBe("included")
      expect(included(h.events)).toMatchObject([{ block: at }])
      // Consecutive windows, no gap and no overlap, never wider than 4 blocks.
      for (const [k, [from, to]] of h.asked.entries()) {
        expect(to - from + 1n).toBeLessThanOrEqual(4n)
        expect(from).toBe(100n + 4n * BigInt(k))
      }
    }
  })
})
