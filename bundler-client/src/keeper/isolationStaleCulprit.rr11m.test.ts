import type { Hex } from "viem"
import { expect, test } from "vitest"
import { newSafeRuntime } from "./runtime.js"
import { SAFE, STEP_RISK, USDC, chainRuleRefused, refusingSender, stepHarness, stepSafeState, stepSnapshotAt, stepSub } from "./testing.js"

// Review rr11m M4 (break-it of f11p's remembered culprits, `chain-rule` entries of `SafeRuntime.aloneFacts`): a sub-account found refused alone
// is "isolated [itself] once [the remembered ones] are all that is left ..., so none stays blamed once its plan alone is
// accepted again" (runtime.ts). But while the refused plan holds one sub-account NOT remembered, only those are
// isolated (`fresh`), and the remembered one is left out untried. A donor in its band is never remembered (it has no
// plan alone: `empty`, `no-plan`) and is in the plan every block the solver funds the rescue from it: the rescue found
// refused alone ONCE is never tried alone again, and never sent, for as long as the solver picks that donor; its alert
// (at the first block only, then every RULE_REFUSAL_REALERT_BLOCKS = 50) says its plan alone is refused, which stopped
// being true.
// Fixture: C (USDC 1.02, below, 1/10 the size: 3,000 idle USDC rescue it alone) and F (USDC 1.45, inside, 3x the size);
// the solver's plan is [F, C] (C funded from idle and F's borrow). The simulation refuses any plan listing F (its leg
// loses value) and, at block 100 only, C's plan alone (a transient: that block's price step, a swap quote, a premium).
const C = `0x${"c1".repeat(32)}` as Hex
const F = `0x${"f0".repeat(32)}` as Hex
const WAD = 10n ** 18n
const scale = (s: ReturnType<typeof stepSub>, num: bigint, den: bigint) => ({ ...s, collateral: (s.collateral * num) / den, debt: (s.debt * num) / den })

async function blocks(n: number, transient = true) {
  const { sender, sent, landed, present } = refusingSender((plan, b) => plan.subAccounts.some((id) => id.toLowerCase() === F) || (transient && b === 100n), { loss: 200n * WAD, moved: 3_000n * WAD, rescued: (id) => id === C })
  const { step, events } = stepHarness(undefined, { sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  for (let k = 0; k < n; k++) {
    const subs = present([scale(stepSub(C, USDC, 1.02, "below"), 1n, 10n), scale(stepSub(F, USDC, 1.45, "inside"), 3n, 1n)])
    const state = stepSafeState(subs)
    const held = { ...state, tokens: state.tokens.map((t) => (t.token === USDC ? { ...t, balance: 3_000n * WAD } : t)) }
    const snapshot = stepSnapshotAt(held, k)
    rt.backoffUntil = 0
    await step.run(rt, 100n + BigInt(k), { snapshot })
  }
  const alerts = events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind} ${e.message.includes(C) ? "C" : "?"}${e.message.includes("its plan alone") ? " alone" : ""}`] : []))
  return { sent, landed, alerts, remembered: chainRuleRefused(rt) }
}

// Control: C alone is accepted whenever tried (no transient at block 100): sent alone at block 100.
test("rr11m M4 control: without the block-100 transient, C is sent alone at block 100", async () => {
  const { landed } = await blocks(1, false)
  expect(landed).toEqual(["100 c1"])
})

// Fixed (f11q; "observed today" was: from block 101 only [F, C] simulated each block, C never sent, stale blame): C,
// remembered, is left out of the plans up front; F alone has no plan, so the step re-tests C alone at block 101:
// accepted, sent, its blame forgotten. One alert (block 100).
test("rr11m M4 fixed: C, refused alone once, is re-tested alone at the next block and sent; its blame forgotten", async () => {
  const { sent, landed, alerts, remembered } = await blocks(8)
  expect(sent).toEqual(["100 f0,c1", "100 c1", "101 c1"])
  expect(landed).toEqual(["101 c1"])
  expect(remembered).toEqual([])
  expect(alerts).toEqual(["100 nothing-to-send C alone"])
})

test("rr11m M4 (was FAILS TODAY): C (accepted alone from block 101) is sent within two blocks", async () => {
  const { landed } = await blocks(8)
  expect(landed[0]).toMatch(/^10[12] c1$/)
})
