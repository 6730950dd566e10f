import type { Hex } from "viem"
import { describe, expect, it } from "vitest"
import { stepReason } from "./fleet/scan.js"
import { portfolioOf } from "./portfolio.js"
import { inBandRescueDue, mayAct } from "./rescueDue.js"
import { keeperCosts } from "./safeStep.js"
import { STEP_RISK, USDC, h, runStepBlocks, stepSafeState, stepSub } from "./testing.js"

/*
 * Issue 13, helper t50: the live keeper acts on the module's in-band rescue (policy `rescueBelowTarget`): the policy it
 * hands the solver carries the flag, and a sub-account inside its band below the target is actionable (fleet step
 * reason, feed judging, chain bounds' `due`). The step fixture's band is [1.1, 1.5], target 1.3; autopilot mode.
 */
const SUB = `0x${"b5".repeat(32)}` as Hex

const flagged = (health: number, flag: boolean) => {
  const s = stepSub(SUB, USDC, health, "inside", [])
  // `health` as the lens reads it (WAD): the in-band trigger compares it with the target exactly.
  return { ...s, health: h(health), policy: { ...s.policy, rescueBelowTarget: flag } }
}

describe("t50: the keeper's in-band rescue", () => {
  it("inBandRescueDue / mayAct: flag on, inside the band below the target only", () => {
    const read = (health: number, flag: boolean, band: "below" | "inside" | "above" = "inside") => ({ band, health: h(health), policy: { targetHealth: h(1.3), rescueBelowTarget: flag } })
    expect(inBandRescueDue(read(1.2, true))).toBe(true)
    expect(inBandRescueDue(read(1.2, false))).toBe(false)
    expect(inBandRescueDue(read(1.3, true))).toBe(false)
    expect(inBandRescueDue(read(1.4, true))).toBe(false)
    expect(mayAct(read(1.2, true))).toBe(true)
    expect(mayAct(read(1.2, false))).toBe(false)
    expect(mayAct(read(1.05, false, "below"))).toBe(true)
  })

  it("the solver's policy from the chain's carries the flag (portfolioOf), and the chain bounds mark the sub-account due", () => {
    for (const flag of [true, false]) {
      const snapshot = portfolioOf(stepSafeState([flagged(1.2, flag)]) as never, { blockNumber: 100n, timestamp: 1_700_000_000n, risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
      expect(snapshot.input.subAccounts[0]?.policy.rescueBelowTarget === true).toBe(flag)
      expect(snapshot.bounds.subAccounts[SUB.toLowerCase()]?.due).toBe(flag)
    }
  })

  it("a dry-run step over 3 blocks plans the in-band rescue with the flag (health 1.2 in [1.1, 1.5], target 1.3), nothing without it", async () => {
    const on = await runStepBlocks([flagged(1.2, true) as never], 3)
    expect(on.plans.length).toBeGreaterThan(0)
    expect(on.plans[0]).toEqual([SUB.toLowerCase()])
    const off = await runStepBlocks([flagged(1.2, false) as never], 3)
    expect(off.plans).toEqual([])
  })

  it("the fleet steps a calm Safe whose sub-account is due in band (step reason out-of-band)", () => {
    const state = (flag: boolean) => ({ safe: `0x${"5a".repeat(20)}`, subAccounts: [flagged(1.2, flag)], unreadable: [], paused: false, keeperKey: { active: true, validAfter: 0, validUntil: 2 ** 40 } }) as never
    const p = { block: 101n, timestamp: 1_700_000_000n, pending: false, previous: "x", current: "x", refreshEveryBlocks: 1_000_000 }
    expect(stepReason(state(true), p)).toBe("out-of-band")
    expect(stepReason(state(false), p)).toBeUndefined()
  })
})
