import type { Hex } from "viem"
import { expect, test } from "vitest"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { newSafeRuntime } from "./runtime.js"
import { SAFE, STEP_RISK, USDC, stepHarness, stepSafeState, stepSnapshotAt, stepSub } from "./testing.js"

// Review rr11o O4 (rr11n N4's class through the other door; f11r's unreached turn does not cover it): 9 due sub-accounts
// on ONE loan asset. The solver's plan lists the 8 most urgent (MAX_SUB_ACCOUNTS) and leaves the 9th "for the next"
// operation (issue 11 item 10). When the 8 stay due after each send (their operation included without effect, as in
// rr11n N4: reverting on chain), the next operation is the same 8 again: the 9th is never planned, so it is never
// ranked, never "unreached" (f11r's turn only counts sub-accounts of a ranked plan), never alerted. Observed: 20 blocks,
// 20 sends of a0..a7, 0 sends and 0 events about a8 (no alert, no no-rescue: its reason is not "no valid plan").
// Fixture: a0..a8 on USDC, below their band at health 1.010..1.050 (idle-funded); every simulation accepts; the fixture
// keeps all due.
const id = (i: number) => `0x${`a${i}`.repeat(32)}` as Hex

async function run(n: number) {
  const sent: string[] = []
  const sender = { send: async (_rt: unknown, b: bigint, plan: ChainPlan) => void sent.push(`${b} ${plan.subAccounts.map((x) => x.slice(2, 4)).join(",")}`) }
  const { step, events } = stepHarness(undefined, { sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  const state = stepSafeState(Array.from({ length: 9 }, (_, i) => stepSub(id(i), USDC, 1.01 + 0.005 * i, "below")))
  for (let b = 0; b < n; b++) {
    rt.backoffUntil = 0
    await step.run(rt, 100n + BigInt(b), { snapshot: stepSnapshotAt(state, b) })
  }
  const aboutA8 = events.flatMap((e) =>
    e.type === "alert" && e.message.toLowerCase().includes(id(8)) ? [`${e.block} ${e.kind}`] : e.type === "no-rescue" && e.subAccount.toLowerCase() === id(8) ? [`${e.block} no-rescue`] : [],
  )
  return { sent, aboutA8, alerts: events.filter((e) => e.type === "alert").length }
}

test("rr11o O4 fixed (f11s): the 9th due sub-account, left out by the module's limits, counts as unreached: alerted at 102, its turn plans and sends it every 4th block", async () => {
  const { sent, aboutA8, alerts } = await run(20)
  const eight = "a0,a1,a2,a3,a4,a5,a6,a7"
  expect(sent).toEqual(Array.from({ length: 20 }, (_, k) => `${100 + k} ${k % 4 === 3 ? "a8" : eight}`))
  expect(aboutA8).toEqual(["102 nothing-to-send"])
  expect(alerts).toBe(1)
}, 60_000)

test("rr11o O4 FAILS TODAY: a due sub-account left out by the module's limits is sent or alerted within 5 blocks", async () => {
  const { sent, aboutA8 } = await run(5)
  expect(sent.some((s) => s.includes("a8")) || aboutA8.length > 0).toBe(true)
}, 60_000)
