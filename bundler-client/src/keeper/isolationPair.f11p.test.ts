import type { Hex } from "viem"
import { expect, test } from "vitest"
import { newSafeRuntime } from "./runtime.js"
import { SAFE, STEP_RISK, USDC, refusingSender, stepHarness, stepSafeState, stepSnapshotAt, stepSub } from "./testing.js"

// f11p (refusalIsolation in the keeper step): a NON-monotone refusal. A (1.01) and B (1.03), idle-funded USDC rescues,
// share one epoch loss budget: the simulation refuses any plan listing both (EpochLossBudgetExceeded stands for it as
// ValueLossExceeded here), and accepts each alone. Neither may be blamed as refused alone. A (more urgent) is sent at
// block 100 and B waits for the next operation with an alert saying why (stage undecided); once A has landed (back in
// its band), B is sent at block 101.
const A = `0x${"a1".repeat(32)}` as Hex
const B = `0x${"b1".repeat(32)}` as Hex
const WAD = 10n ** 18n

async function blocks(n: number) {
  const { sender, sent, landed, present } = refusingSender((plan) => plan.subAccounts.length > 1, { loss: 600n * WAD, moved: 20_000n * WAD })
  const { step, events } = stepHarness(undefined, { sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  const backedOff: boolean[] = []
  for (let k = 0; k < n; k++) {
    const subs = present([stepSub(A, USDC, 1.01, "below"), stepSub(B, USDC, 1.03, "below")])
    const snapshot = stepSnapshotAt(stepSafeState(subs), k)
    rt.backoffUntil = 0
    await step.run(rt, 100n + BigInt(k), { snapshot })
    backedOff.push(rt.backoffUntil !== 0)
  }
  const messages = events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind} ${e.message}`] : []))
  return { sent, landed, messages, backedOff }
}

test("f11p: a pair refused together but each accepted alone: nobody blamed, A sent at 100, B at 101 (alerted once as undecided)", async () => {
  const { sent, landed, messages, backedOff } = await blocks(3)
  expect(sent).toEqual(["100 a1,b1", "100 a1", "101 b1"])
  expect(landed).toEqual(["100 a1", "101 b1"])
  expect(messages.filter((m) => m.includes("its plan alone"))).toEqual([])
  expect(messages).toHaveLength(1)
  expect(messages[0]).toContain(`100 nothing-to-send Sub-account ${B}`)
  expect(messages[0]).toContain("a plan of other sub-accounts without it was accepted and sent first")
  expect(backedOff).toEqual([false, false, false])
})
