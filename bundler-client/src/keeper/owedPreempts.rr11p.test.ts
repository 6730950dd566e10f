import type { Hex } from "viem"
import { expect, test } from "vitest"
import { refusingSender, runPairSteps } from "./testing.js"

// Review rr11p P1 (f11s's rr11o O6 fix: a rejoined culprit left behind an accepted subset is `owed` a test alone, run
// FIRST at the next step, before any plan): the owed test runs outside the plan loop's error handling. When C's plan
// alone fails in a way `simulate` rethrows (here a bundler error on the send of [C]: not a loss-class refusal, names no
// sub-account), the whole step throws before I's plan is tried, and `owed` is not cleared (only a `refused` verdict
// clears it), so the next step throws the same way until C's memory expires (ALONE_FACT_BLOCKS after the
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
    {
      rescued: (id) => id !== i,
      thrown: (plan, b) => (b > 100n && plan.subAccounts.length === 1 && plan.subAccounts[0]?.toLowerCase() === c ? new Error("bundler: eth_sendUserOperation internal error (-32603)") : undefined),
    },
  )
  const { alerts } = await runPairSteps(C, I, n, base)
  const iLanded = base.landed.filter((s) => s.split(" ")[1] === "b1").map((s) => Number(s.split(" ")[0]))
  return { sent: base.sent, iLanded, alerts }
}

test("rr11p P1 fixed: the owed test of C alone fails (bundler error), owed is cleared, C blamed, and I's plan is sent in the same block", async () => {
  const { iLanded, alerts, sent } = await run(30)
  // I (accepted, due) lands in every block; C is tried alone at 100 (found), then once after each rejoin (103, 106, ...:
  // left behind [I], owed) at the next block (104, 107, ...), where its failure is its own refusal alone, not the step's.
  expect(iLanded).toEqual(Array.from({ length: 30 }, (_, k) => 100 + k))
  expect(sent.filter((s) => s.endsWith(" c1")).map((s) => Number(s.split(" ")[0]))).toEqual([100, 104, 107, 110, 113, 116, 119, 122, 125, 128])
  // No step throws; C's run is alerted (naming C), once per RULE_REFUSAL_REALERT_BLOCKS.
  expect(alerts.filter((a) => a.endsWith("send-failed"))).toEqual([])
  expect(alerts).toEqual(["100 nothing-to-send C"])
}, 60_000)

test("rr11p P1 (was FAILS TODAY): I, accepted and due, is sent in (nearly) every block while C's test alone fails", async () => {
  const { iLanded } = await run(30)
  expect(iLanded.length).toBeGreaterThanOrEqual(27)
}, 60_000)
