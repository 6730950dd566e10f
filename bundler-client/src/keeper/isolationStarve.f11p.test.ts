import type { Hex } from "viem"
import { expect, test } from "vitest"
import { newSafeRuntime } from "./runtime.js"
import { SAFE, STEP_RISK, USDC, refusingSender, stepHarness, stepSafeState, stepSnapshotAt, stepSub } from "./testing.js"

// Review rr11l L1 (break-it of f11o's K1): the K1 probes start over in every step, most urgent first, under the per-step
// bound of 4. When the sub-accounts whose plans alone the simulation refuses (a swap's slippage, a flash premium) are the
// most urgent ones, the bound is spent on them every block and the less urgent sub-accounts, whose plan the simulation
// accepts, are left out "at the bound" with an alert blaming "a plan with its fee-pool action" (they have none): never
// sent, in every block, forever, although one more simulation (the innocent ones together) would rescue them.
// Fixture: five USDC sub-accounts, all idle-funded (no pool, no swap: the keeper's judge passes them); X1 (1.01),
// X2 (1.02), X3 (1.03) stand for plans the module refuses ValueLossExceeded (the sender is the simulation: any plan
// listing one is refused); I1 (1.04), I2 (1.05) are plain idle rescues the simulation accepts.
const X1 = `0x${"a1".repeat(32)}` as Hex
const X2 = `0x${"a2".repeat(32)}` as Hex
const X3 = `0x${"a3".repeat(32)}` as Hex
const I1 = `0x${"b1".repeat(32)}` as Hex
const I2 = `0x${"b2".repeat(32)}` as Hex
const CULPRITS = [X1, X2, X3]

async function blocks(n: number, culprits: Hex[] = CULPRITS, land = false) {
  const { sender, sent, landed, present } = refusingSender((plan) => plan.subAccounts.some((id) => culprits.includes(id.toLowerCase() as Hex)), { rescued: () => land })
  const { step, events } = stepHarness(undefined, { sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  const backedOff: boolean[] = []
  for (let k = 0; k < n; k++) {
    const subs = [stepSub(X1, USDC, 1.01, "below"), stepSub(X2, USDC, 1.02, "below"), stepSub(X3, USDC, 1.03, "below"), stepSub(I1, USDC, 1.04, "below"), stepSub(I2, USDC, 1.05, "below")]
    // `land`: a sub-account whose plan was accepted is rescued (back in its band) from the next block on.
    const state = stepSafeState(present(subs))
    const snapshot = stepSnapshotAt(state, k)
    rt.backoffUntil = 0
    await step.run(rt, 100n + BigInt(k), { snapshot })
    backedOff.push(rt.backoffUntil !== 0)
  }
  const who = (m: string) => [X1, X2, X3, I1, I2].find((id) => m.includes(id))?.slice(2, 4) ?? "?"
  const alerts = events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind} ${who(e.message)}`] : []))
  const i1Alert = events.flatMap((e) => (e.type === "alert" && e.message.includes(I1) ? [e.message] : []))[0]
  return { sent, landed, alerts, backedOff, i1Alert }
}

// Ported from review rr11l L1/L3 (written against the reverted f11o); the step now isolates a loss-class plan-wide
// refusal by halving (refusalIsolation.ts) under one budget per step (REFUSAL_SIMULATIONS_PER_STEP), remembering the
// sub-accounts refused alone for the next block's order. On main (f11n) these plans have no fee pool: [X1..I2] was
// rethrown at once, send-failed + backoff in every block, nobody sent.

// Control: nothing refused, the five sent together in one simulation.
test("f11p L1 control: nothing refused: all five in one simulation", async () => {
  const control = await blocks(1, [])
  expect(control.sent).toEqual(["100 a1,a2,a3,b1,b2"])
})

// rr11l L1: three refused-alone sub-accounts more urgent than I1 and I2: I1 and I2 are rescued within 3 blocks, never
// blamed for a fee-pool action, never blamed as refused alone; no backoff.
test("f11p L1: I1 and I2 (accepted) are sent within 3 blocks; only X1..X3 blamed as refused alone; no backoff", async () => {
  const { landed, alerts, backedOff, i1Alert, sent } = await blocks(3)
  expect(landed.some((s) => s.includes("b1") && s.includes("b2"))).toBe(true)
  expect(landed.every((s) => !/a[123]/.test(s))).toBe(true)
  expect(i1Alert ?? "").not.toContain("fee-pool action")
  expect(i1Alert ?? "").not.toContain("refuses plan-wide its plan alone")
  expect(alerts.filter((a) => / a[123]$/.test(a))).toHaveLength(3)
  expect(backedOff).toEqual([false, false, false])
  // At most REFUSAL_SIMULATIONS_PER_STEP (8) simulations per block: this fixture's (one plan, and a plan sent in every
  // block, so no re-test of a remembered culprit); the general bound adds the re-tests and the further plans (f11q).
  for (const b of [100, 101, 102]) expect(sent.filter((s) => s.startsWith(`${b} `)).length).toBeLessThanOrEqual(8)
})

// rr11l L3: one culprit (X1, the most urgent) among five: the four others are rescued together in block 100.
test("f11p L3: the four accepted sub-accounts are rescued in one operation in block 100", async () => {
  const { landed, sent } = await blocks(4, [X1], true)
  expect(landed).toEqual(["100 a2,a3,b1,b2"])
  // Halving: the urgent three, then without X3 / with only X1, X2, then without X2 / X1 alone (refused: blamed), then the
  // rest together: 7 simulations.
  expect(sent.filter((s) => s.startsWith("100 "))).toEqual(["100 a1,a2,a3,b1,b2", "100 a1,a2,a3", "100 a1,a2,b1,b2", "100 a1,a2", "100 a1,a3,b1,b2", "100 a1", "100 a2,a3,b1,b2"])
  // Then X1 alone, every block (the others landed).
  expect(sent.filter((s) => !s.startsWith("100 "))).toEqual(["101 a1", "102 a1", "103 a1"])
})
