import { expect, test } from "vitest"
import { clampDonorCut, repayOf, showPlan, subId } from "./testing.js"

// Review rr11b B2 in the solver's own shape: a target's donor borrow comes right before its ONE folded Repay (idle part
// plus the borrow, so no amount matches the borrow), and a later due target is repaid from the idle balance. 0x02's
// market lends nothing: the folded repay loses the borrow's part only, the later idle-funded rescue is kept whole.
for (const borrowable of [0n, 4_000_000000n])
  test(`folded donor repay (donor lends ${borrowable}): the cut falls on its recipient, the later idle-funded due rescue is kept`, () => {
    const out = clampDonorCut({ repaid: 15_000_000000n, idle: 13_000_000000n, borrowable })
    expect(repayOf(out, subId("03")), showPlan(out)).toBe(8_000_000000n)
    expect(repayOf(out, subId("01")), showPlan(out)).toBe(5_000_000000n + borrowable)
  })
