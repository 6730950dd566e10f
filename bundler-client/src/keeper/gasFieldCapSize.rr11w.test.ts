import { GasFieldAboveCapError } from "@levpilot/sdk/errors"
import type { Hex } from "viem"
import { expect, test } from "vitest"
import { newSafeRuntime } from "./runtime.js"
import { SAFE, STEP_RISK, USDC, refusingSender, stepHarness, stepSafeState, stepSnapshotAt, stepSub, subIdOf } from "./testing.js"

// Review rr11w W1 (issue 11 items 10 and 5; rr11s S1's class, another cause). The Safe's `maxCallGasLimit`
// (AutomationConfig, enforced by the module in validation: `GasFieldAboveCap`; checked before signing by the SDK's
// `assertWithinAutomationConfig`, which throws `GasFieldAboveCapError`) is a per-operation limit that grows with the plan:
// a swap deleverage is up to ~600,000 gas (README, SwapGasBench), so 8 of them padded by 10 % exceed the default cap of
// 5,000,000 (`defaultAutomationConfig`), and an owner may set a lower one. The error is not classed size-dependent
// (`isSizeDependentSafeWide` knows AA21, the self-pay budget and paymaster caps only), so the plan is not narrowed: it
// goes to the unnamed-failure isolation, whose first half is refused alike, and the step ends. Fixture: `due` USDC
// sub-accounts below their band (01 most urgent), each rescue 400,000 call gas, the cap fits `fit` of them.
const perSub = 400_000n

async function run(due: number, fit: number, blocks: number) {
  const cap = perSub * BigInt(fit) + perSub / 2n
  const ids: Hex[] = Array.from({ length: due }, (_, k) => subIdOf(k + 1))
  const base = refusingSender(() => false, {
    thrown: (plan) => (plan.subAccounts.length > fit ? new GasFieldAboveCapError({ field: "callGasLimit", value: perSub * BigInt(plan.subAccounts.length), cap }) : undefined),
  })
  const { step, events } = stepHarness(undefined, { sender: base.sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  for (let k = 0; k < blocks; k++) {
    rt.backoffUntil = 0
    const subs = base.present(ids.map((id, j) => stepSub(id, USDC, 1.01 + j * 0.001, "below")))
    await step.run(rt, 100n + BigInt(k), { snapshot: stepSnapshotAt(stepSafeState(subs), k) })
  }
  const alerts = events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}: ${e.message.slice(0, 120)}`] : []))
  return { ...base, alerts }
}

// Observed today (passes): 8 due, the cap fits 3. Every block sends the plan of 8, then its first half (01-04), both
// refused GasFieldAboveCap; nothing lands in 6 blocks; `send-failed` every block (naming the cap, not the fix).
test("rr11w W1 observed today: 8 due, the call-gas cap fits 3: 0 rescues in 6 blocks, send-failed every block", async () => {
  const r = await run(8, 3, 6)
  console.log("W1 sent", r.sent.join(" | "), "|| landed", r.landed.join(" | "), "||", r.alerts.join(" || "))
  expect(r.landed).toEqual([])
  expect(r.sent.filter((s) => s.startsWith("105 "))).toEqual(["105 01,02,03,04,05,06,07,08", "105 01,02,03,04"])
  expect(r.alerts.filter((a) => / send-failed: /.test(a))).toHaveLength(6)
}, 120_000)

// FAILS TODAY (measured: landed [] in 6 blocks; also 6 due / fit 2: landed []). Issue 11 item 10: "respect every
// structural limit of the module (most urgent first, the rest in the next operation)". Fix direction: class
// GasFieldAboveCap (callGasLimit / verificationGasLimit / preVerificationGas) as size-dependent (narrow, no blame), or
// better, size the plan to the Safe's gas caps before sending (the rule check knowing the caps).
test.skip("rr11w W1 FAILS TODAY: 8 due, the call-gas cap fits 3: the 3 most urgent land within 2 blocks, all 8 within 4", async () => {
  const r = await run(8, 3, 6)
  const landedBy = (b: number) => new Set(r.landed.filter((s) => Number(s.split(" ")[0]) <= b).flatMap((s) => s.split(" ")[1]?.split(",") ?? []))
  expect([...landedBy(101)]).toEqual(expect.arrayContaining(["01", "02", "03"]))
  expect(landedBy(103).size).toBe(8)
}, 120_000)

test.skip("rr11w W1-b FAILS TODAY: 6 due, the call-gas cap fits 2: a rescue lands within 2 blocks", async () => {
  const r = await run(6, 2, 6)
  expect(r.landed.filter((s) => Number(s.split(" ")[0]) <= 101).length).toBeGreaterThan(0)
}, 120_000)
