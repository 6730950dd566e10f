import type { Hex } from "viem"
import { expect, test } from "vitest"
import { newSafeRuntime } from "./runtime.js"
import { SAFE, STEP_RISK, USDC, refusingSender, stepHarness, stepSafeState, stepSnapshotAt, stepSub } from "./testing.js"

// Review rr11p P1 (f11s's rr11o O6 fix: a rejoined culprit left behind an accepted subset is `owed` a test alone, run
// FIRST at the next step, before any plan): the owed test runs outside the plan loop's error handling. When C's plan
// alone fails in a way `simulate` rethrows (here a bundler error on the send of [C]: not a loss-class refusal, names no
// sub-account), the whole step throws before I's plan is tried, and `owed` is not cleared (only a `refused` verdict
// clears it), so the next step throws the same way until C's memory expires (REFUSED_ALONE_MEMORY_BLOCKS after the
// rejoin). Then C rejoins, [C, I] is refused, [I] is sent, C is owed again: I (an accepted, due rescue) is sent 1 block
// in 3. Each thrown step alerts `send-failed` (no alert says I is held back). At f11r (before the owed test) I was sent
// in every block (C re-tested alone only in a step sending nothing else).
// Fixture: rr11o O6's: C (USDC 1.01) and I (USDC 1.02), both below their band; the simulation refuses [C] at block 100
// and any plan listing both; from 101 a send of [C] alone fails with a generic bundler error; I stays due after each send.
const C = `0x${"c1".repeat(32)}` as Hex
const I = `0x${"b1".repeat(32)}` as Hex
const c = C.toLowerCase()
const i = I.toLowerCase()

async function run(n: number) {
  const both = (ids: string[]) => ids.includes(c) && ids.includes(i)
  const base = refusingSender(
    (plan, b) => {
      const ids = plan.subAccounts.map((x) => x.toLowerCase())
      return both(ids) || (b === 100n && ids.length === 1 && ids[0] === c)
    },
    { rescued: (id) => id !== i },
  )
  const sender = {
    send: async (rt: unknown, b: bigint, plan: Parameters<typeof base.sender.send>[2]) => {
      const ids = plan.subAccounts.map((x) => x.toLowerCase())
      if (b > 100n && ids.length === 1 && ids[0] === c) {
        base.sent.push(`${b} c1`)
        throw new Error("bundler: eth_sendUserOperation internal error (-32603)")
      }
      return base.sender.send(rt, b, plan)
    },
  }
  const { step, events } = stepHarness(undefined, { sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  for (let k = 0; k < n; k++) {
    rt.backoffUntil = 0
    await step.run(rt, 100n + BigInt(k), { snapshot: stepSnapshotAt(stepSafeState(base.present([stepSub(C, USDC, 1.01, "below"), stepSub(I, USDC, 1.02, "below")])), k) })
  }
  const alerts = events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}${e.message.includes(C) ? " C" : ""}${e.message.includes(I) ? " I" : ""}`] : []))
  const iLanded = base.landed.filter((s) => s.split(" ")[1] === "b1").map((s) => Number(s.split(" ")[0]))
  return { sent: base.sent, iLanded, alerts }
}

test("rr11p P1 observed today: the owed test of C alone throws before I's plan is tried; I (accepted, due) is sent 1 block in 3", async () => {
  const { iLanded, alerts, sent } = await run(30)
  // 100-103: as rr11o O6 (C found at 100; rejoins at 103, left behind [I], owed). From 104 the owed test of [C] throws
  // (the step ends before I's plan), again at 105 (owed not cleared), C rejoins at 106, [I] is sent, C owed again, ...
  expect(iLanded).toEqual([100, 101, 102, 103, 106, 109, 112, 115, 118, 121, 124, 127])
  expect(sent.filter((s) => s.endsWith(" c1")).map((s) => Number(s.split(" ")[0]))).toEqual([100, 104, 105, 107, 108, 110, 111, 113, 114, 116, 117, 119, 120, 122, 123, 125, 126, 128, 129])
  // 18 `send-failed` alerts in 30 blocks, none naming C or I; nothing says I is held back.
  expect(alerts.filter((a) => a.endsWith("send-failed"))).toHaveLength(18)
  expect(alerts.filter((a) => a.includes(" I"))).toEqual([])
}, 60_000)

test.skip("rr11p P1 FAILS TODAY: I, accepted and due, is sent in (nearly) every block while C's test alone fails", async () => {
  const { iLanded } = await run(30)
  expect(iLanded.length).toBeGreaterThanOrEqual(27)
}, 60_000)
