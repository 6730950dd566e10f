import type { Hex } from "viem"
import { expect, test } from "vitest"
import { refusingSender, runPairSteps } from "./testing.js"

// Review rr11q Q2 (issue 11 items 6/9, the class f11t fixed only for probes): a plan of SEVERAL sub-accounts whose
// send fails with an error naming no sub-account and not of the loss class (the bundler's estimation answering a
// generic error because of ONE sub-account's action: an undecodable venue revert, an adapter's empty revert) is
// rethrown by the plan loop: `send-failed` naming no sub-account, backoff, and the same plan next block. f11t turns
// such a failure into a refusal only for a probe of ONE sub-account, and only after a loss-class refusal started an
// isolation; the plan loop never isolates it. Fixture: C (USDC 1.01, broken: any plan holding C fails with a bundler
// error) and I (USDC 1.02, accepted alone), both due.
const C = `0x${"c1".repeat(32)}` as Hex
const I = `0x${"b1".repeat(32)}` as Hex
const c = C.toLowerCase()

async function run(n: number) {
  const base = refusingSender(() => false, {
    thrown: (plan) => (plan.subAccounts.some((x) => x.toLowerCase() === c) ? new Error("bundler: eth_estimateUserOperationGas internal error (-32603): execution reverted") : undefined),
  })
  const { alerts } = await runPairSteps(C, I, n, base)
  return { sent: base.sent, landed: base.landed, alerts }
}

test("rr11q Q2 fixed: [C, I] failing with a generic bundler error at two steps in a row is isolated at the second: C's probe alone fails (blamed, alerted naming C), I's is accepted and lands at block 101 (was: 0 operations in 20 blocks, 20 send-failed); one operation per step", async () => {
  const { sent, landed, alerts } = await run(20)
  // Block 100: the plan fails once: the bundler's one-off answer as far as the step can tell (UNNAMED_REPEAT_BLOCKS;
  // test/keeper.adversarial.test.ts's garbage answers), send-failed naming the plan, no probe.
  expect(sent.filter((x) => x.startsWith("100 "))).toEqual(["100 c1,b1"])
  expect(alerts[0]).toBe("100 send-failed C I")
  // Block 101: the same plan fails again: the probes [C] (blamed) and [I] (accepted: the step's one operation).
  expect(sent.filter((x) => x.startsWith("101 "))).toEqual(["101 c1,b1", "101 c1", "101 b1"])
  expect(landed).toEqual(["101 b1"])
  for (let b = 100; b < 120; b++) expect(landed.filter((x) => x.startsWith(`${b} `)).length).toBeLessThanOrEqual(1)
  // The failing sub-account is named: one nothing-to-send for C at 101 (its plan alone refused), never I alone.
  expect(alerts[1]).toBe("101 nothing-to-send C")
  expect(alerts.filter((a) => a.endsWith(" I") && !a.endsWith(" C I"))).toEqual([])
  // C alone keeps failing: re-tested alone while remembered (102, 103), then its lone plan each block, alerted naming C.
  expect(sent.filter((x) => !x.startsWith("100 ") && !x.startsWith("101 "))).toEqual(Array.from({ length: 18 }, (_, k) => `${102 + k} c1`))
  expect(alerts.slice(2)).toEqual(Array.from({ length: 16 }, (_, k) => `${104 + k} send-failed C`))
}, 60_000)

test("rr11q Q2 (was FAILS TODAY): I (accepted alone) lands within 3 blocks while every plan holding C fails with a bundler error", async () => {
  const { landed } = await run(3)
  expect(landed.some((s) => s.endsWith(" b1"))).toBe(true)
}, 60_000)
