import type { Hex } from "viem"
import { expect, test } from "vitest"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { newSafeRuntime } from "./runtime.js"
import { SAFE, STEP_RISK, stepHarness, stepSafeState, stepSnapshotAt, stepSub } from "./testing.js"

// Review rr11o O2 (f11r's unreached turn, rr11n N4's fix): the plans whose sub-account has the turn (unreached in
// UNREACHED_TURN_BLOCKS steps in a row) are ranked among themselves by urgency, not by how long they waited; and the
// most urgent plan, pre-empted by the turns, earns a turn itself. With 5 loan assets due at once and each staying due
// after its send (operations included without effect, as in rr11n N4), the four most urgent take every block of the
// 4-block cycle and the least urgent (E) has the turn from block 103 on but is never first: 0 sends in 40 blocks, one
// `nothing-to-send` (stage `unreached`) alert at 102 and none again before 152. SECURITY row 91 / UNREACHED_TURN_BLOCKS'
// doc say "every due rescue is still reached within UNREACHED_TURN_BLOCKS + 1 blocks".
// Fixture: a0..a4 below their band at health 1.01..1.05, each on its own loan asset (idle-funded); every simulation accepts.
const token = (i: number) => `0x00000000000000000000000000000000000000d${i}`
const id = (i: number) => `0x${`a${i}`.repeat(32)}` as Hex

async function run(k: number, n: number) {
  const sent: string[] = []
  const sender = { send: async (_rt: unknown, b: bigint, plan: ChainPlan) => void sent.push(`${b} ${plan.subAccounts.map((x) => x.slice(2, 4)).join(",")}`) }
  const { step, events } = stepHarness(undefined, { sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  const state = stepSafeState(Array.from({ length: k }, (_, i) => stepSub(id(i), token(i), 1.01 + 0.01 * i, "below")))
  for (let i = 0; i < k; i++) state.tokens.push({ token: token(i), decimals: 18, balance: 10n ** 24n })
  for (let b = 0; b < n; b++) {
    rt.backoffUntil = 0
    await step.run(rt, 100n + BigInt(b), { snapshot: stepSnapshotAt(state, b) })
  }
  const about = (i: number) => events.flatMap((e) => (e.type === "alert" && e.message.includes(id(i)) ? [`${e.block} ${e.kind}`] : []))
  const sends = (i: number) => sent.filter((s) => s.endsWith(` a${i}`)).length
  return { sent, about, sends }
}

test("rr11o O2 fixed (f11s): with 5 due loan assets, turns go oldest wait first: a round robin from 103, each rescue sent every 5 blocks", async () => {
  const { sent, about, sends } = await run(5, 40)
  expect(sent.length).toBe(40)
  // a0 (most urgent) at 100-102; then a1..a4 (waiting since 100) at 103-106, a0 (since 103) at 107, and so on.
  expect(sent.slice(3).map((s) => s.split(" ")[1])).toEqual(Array.from({ length: 37 }, (_, j) => `a${(j % 5) + 1 === 5 ? 0 : (j % 5) + 1}`))
  for (let i = 0; i < 5; i++) expect(sends(i)).toBeGreaterThanOrEqual(7)
  expect(about(4)).toEqual(["102 nothing-to-send"])
  // Control: with 4 due loan assets, each is sent (1 block in 4 after the first cycle).
  const four = await run(4, 40)
  for (let i = 0; i < 4; i++) expect(four.sends(i)).toBeGreaterThanOrEqual(9)
}, 120_000)

test("rr11o O2 FAILS TODAY: every due rescue is reached within UNREACHED_TURN_BLOCKS + 1 blocks, 5 loan assets due", async () => {
  const { sends } = await run(5, 40)
  for (let i = 0; i < 5; i++) expect(sends(i)).toBeGreaterThanOrEqual(5)
}, 120_000)
