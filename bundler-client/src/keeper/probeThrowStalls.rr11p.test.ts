import type { Hex } from "viem"
import { expect, test } from "vitest"
import { refusingSender, runPairSteps } from "./testing.js"

// Review rr11p P6 (the isolation's probes, issue 11 item 9; found while breaking f11s's owed test, P1): an isolation
// probe whose plan fails with an error `simulate` rethrows (not a loss-class refusal, naming no sub-account: a bundler
// error, a swap quote read, a non-loss plan-wide revert) ends the whole step. C (USDC 1.01, most urgent) and I (USDC
// 1.02) are due; [C, I] is refused plan-wide (loss class), so it is isolated most urgent first; the probe [C] fails
// with a generic bundler error and the step throws before [I] (accepted alone) is probed. C is never blamed (it is not
// `refused`), never remembered, so the same happens at every block: 20 blocks, 0 operations landed, I (accepted alone)
// never probed, 20 `send-failed` alerts, none naming C or I. rr11o O1 made a thrown TURN count as reached; a thrown
// PROBE still stalls its plan's other sub-accounts for good. (With f11s's P1 fixture plus a rescue of another asset at
// C's expiry, C loses its memory without a re-isolation and this is what follows.)
const C = `0x${"c1".repeat(32)}` as Hex
const I = `0x${"b1".repeat(32)}` as Hex
const c = C.toLowerCase()
const i = I.toLowerCase()

async function run(n: number) {
  const base = refusingSender(
    (plan) => {
      const ids = plan.subAccounts.map((x) => x.toLowerCase())
      return ids.includes(c) && ids.includes(i)
    },
    { thrown: (plan) => (plan.subAccounts.length === 1 && plan.subAccounts[0]?.toLowerCase() === c ? new Error("bundler: eth_sendUserOperation internal error (-32603)") : undefined) },
  )
  const { alerts } = await runPairSteps(C, I, n, base)
  return { sent: base.sent, landed: base.landed, alerts }
}

test("rr11p P6 fixed: a thrown probe of C alone is C's refusal alone (blamed, alerted naming C), and I (accepted alone) is sent in the same block", async () => {
  const { sent, landed, alerts } = await run(20)
  expect(landed).toEqual(["100 b1"])
  expect(sent.slice(0, 3)).toEqual(["100 c1,b1", "100 c1", "100 b1"])
  // C, remembered: re-tested alone at 101 and 102 (nothing else to send; blamed again, no step thrown); from its rejoin
  // at 103 its lone plan (not a probe) fails in the plan loop, as a lone failing plan did before (out of P6's scope).
  expect(sent.slice(3)).toEqual(Array.from({ length: 19 }, (_, k) => `${101 + k} c1`))
  expect(alerts[0]).toBe("100 nothing-to-send C")
  // The step's alert names the failing plan's sub-account (review rr11p P6 residual; f11t: it named neither C nor I).
  expect(alerts.slice(1)).toEqual(Array.from({ length: 17 }, (_, k) => `${103 + k} send-failed C`))
}, 60_000)

test("rr11p P6 (was FAILS TODAY): I, accepted alone, lands within 3 blocks while C's plan alone fails with a bundler error", async () => {
  const { landed } = await run(3)
  expect(landed.some((s) => s.endsWith(" b1"))).toBe(true)
}, 60_000)
