import type { Hex } from "viem"
import { describe, expect, test } from "vitest"
import type { AaveBorrowRefusal } from "./aaveLimits.js"
import { USDC } from "./aaveMockChain.testing.js"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import { OPEN_AAVE_RESERVE, SAFE, STEP_RISK, aaveSnapshotOf, stepHarness, stepSafeState, stepSub } from "./testing.js"

// r17f, item 3 of the rr17c follow-up: `readAaveLimits` names the Aave rule that bounds a sub-account's borrows below
// its reserve's room (`borrowRefusal`: isolation mode, its debt ceiling, siloed borrowing, another e-mode category, the
// L2 price oracle sentinel; SECURITY row 63), and the solver bounds boosts and donor borrows to it, but nothing told an
// operator why an Aave sub-account's boosts stopped. The gauge `levpilot_aave_borrow_refusal{safe, sub_account, reason}`
// does: 1 for the binding reason, 0 for the others, set whenever the step read the Aave limits.

const STEP_SUB = `0x${"e5".repeat(32)}` as Hex
const REASONS = ["isolation-not-borrowable", "isolation-ceiling", "siloed", "emode", "sentinel"] as const

describe("levpilot_aave_borrow_refusal: why Aave refuses the sub-account's borrows", () => {
  test("portfolioOf carries each Aave sub-account's borrow refusal from its limits (none: undefined; limits unread: no record)", () => {
    const base = { debt: OPEN_AAVE_RESERVE, collateral: OPEN_AAVE_RESERVE, repayableDebt: undefined }
    const refused = aaveSnapshotOf({ ...base, borrowRefusal: { bound: 0n, reason: "emode" } })
    const id = refused.input.subAccounts[0]?.state.id as string
    expect(refused.aaveBorrowRefusals).toEqual({ [id]: "emode" })
    expect(aaveSnapshotOf(base).aaveBorrowRefusals).toEqual({ [id]: undefined })
  })

  test("the step sets 1 for the binding reason and 0 for the others; cleared to 0; unchanged when the limits were not read", async () => {
    const { step, metrics } = stepHarness(undefined, { aave: true })
    const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
    const snapshotAt = (block: bigint, refusals: Record<string, AaveBorrowRefusal | undefined> | undefined) => {
      const snapshot = portfolioOf(stepSafeState([stepSub(STEP_SUB, USDC, 1.3, "inside")]) as never, { blockNumber: block, timestamp: 1_700_000_000n, risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
      return { ...snapshot, aaveBorrowRefusals: refusals }
    }
    const gauges = () => Object.fromEntries(REASONS.map((reason) => [reason, metrics.value("levpilot_aave_borrow_refusal", { safe: SAFE, sub_account: STEP_SUB, reason })]))
    await step.run(rt, 100n, { snapshot: snapshotAt(100n, { [STEP_SUB.toLowerCase()]: "isolation-ceiling" }) })
    expect(gauges()).toEqual({ "isolation-not-borrowable": 0, "isolation-ceiling": 1, siloed: 0, emode: 0, sentinel: 0 })
    await step.run(rt, 101n, { snapshot: snapshotAt(101n, { [STEP_SUB.toLowerCase()]: "sentinel" }) })
    expect(gauges()).toEqual({ "isolation-not-borrowable": 0, "isolation-ceiling": 0, siloed: 0, emode: 0, sentinel: 1 })
    await step.run(rt, 102n, { snapshot: snapshotAt(102n, undefined) }) // not read this block: no change
    expect(gauges().sentinel).toBe(1)
    await step.run(rt, 103n, { snapshot: snapshotAt(103n, { [STEP_SUB.toLowerCase()]: undefined }) })
    expect(Object.values(gauges())).toEqual([0, 0, 0, 0, 0])
  })
})
