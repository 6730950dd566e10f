import type { Hex } from "viem"
import { expect, test } from "vitest"
import { newSafeRuntime } from "./runtime.js"
import { SAFE, STEP_RISK, USDC, refusingSender, stepHarness, stepSafeState, stepSnapshotAt, stepSub } from "./testing.js"

// Review rr11o O6 (f11r's 3-block rejoin, rr11n N3/N5's fix): a rejoined culprit left behind an accepted subset of the
// others is "remembered again from this block under its run" WITHOUT its plan alone being simulated again; it is
// re-tested alone only in a step that sends nothing else. When another rescue (I, same loan asset) is sent in every
// block and stays due (its operation included without effect, as in rr11n N4), and the joint plan [C, I] is refused
// (a non-monotone pair: rr11l L4's class) while C alone is accepted from block 101 (its refusal alone at block 100 was a
// transient), C rejoins at 103, 106, ...: each time [C, I] is refused, [I] sent, C remembered again. C is never
// re-tested alone and never sent: 30 blocks, 0 sends of C, one alert (100: "its plan alone" refused, stale from 101).
// A regression: at f11q (572e07b) C rejoined at its 25-block expiry, was isolated most urgent first and sent at 125.
// Fixture: C (USDC 1.01) and I (USDC 1.02), both below their band (idle-funded); the simulation refuses [C] at block 100
// and any plan listing both; I stays due after each send.
const C = `0x${"c1".repeat(32)}` as Hex
const I = `0x${"b1".repeat(32)}` as Hex
const c = C.toLowerCase()
const i = I.toLowerCase()

async function run(n: number, iStaysDue = true) {
  const both = (ids: string[]) => ids.includes(c) && ids.includes(i)
  const { sender, sent, landed, present } = refusingSender(
    (plan, b) => {
      const ids = plan.subAccounts.map((x) => x.toLowerCase())
      return both(ids) || (b === 100n && ids.length === 1 && ids[0] === c)
    },
    { rescued: (id) => !(iStaysDue && id === i) },
  )
  const { step, events } = stepHarness(undefined, { sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  for (let k = 0; k < n; k++) {
    rt.backoffUntil = 0
    await step.run(rt, 100n + BigInt(k), { snapshot: stepSnapshotAt(stepSafeState(present([stepSub(C, USDC, 1.01, "below"), stepSub(I, USDC, 1.02, "below")])), k) })
  }
  const alerts = events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}${e.message.includes(C) ? " C" : ""}`] : []))
  return { sent, landed, alerts, cLanded: landed.filter((s) => s.split(" ")[1] === "c1") }
}

test("rr11o O6 control: when I lands (back in band), C is re-tested alone and sent at block 101", async () => {
  const { cLanded } = await run(4, false)
  expect(cLanded).toEqual(["101 c1"])
})

test("rr11o O6 fixed (f11s): I sent and due in every block; C, left behind [I] at its rejoin (103) without a test alone, is owed one and sent alone at 104", async () => {
  const { sent, cLanded, alerts } = await run(30)
  expect(cLanded).toEqual(["104 c1"])
  // [C, I] refused at 100 and at the rejoin (103: [I] sent, C remembered again but owed a test alone); at 104 C's test
  // alone comes first: accepted, sent (that block's operation). C simulated alone at 100 (the transient) and 104.
  expect(sent.filter((s) => s.endsWith(" c1"))).toEqual(["100 c1", "104 c1"])
  expect(sent.filter((s) => s.endsWith(" c1,b1") || s.endsWith(" b1,c1")).map((s) => Number(s.split(" ")[0]))).toEqual([100, 103])
  expect(alerts).toEqual(["100 nothing-to-send C"])
}, 60_000)

test("rr11o O6 FAILS TODAY: C, accepted alone from block 101, is sent within ALONE_FACT_BLOCKS + 2 blocks", async () => {
  const { cLanded } = await run(8)
  expect(cLanded.length).toBeGreaterThan(0)
}, 60_000)
