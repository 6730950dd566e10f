import type { Hex } from "viem"
import { expect, test } from "vitest"
import { newSafeRuntime } from "./runtime.js"
import { UNREACHED_TURN_BLOCKS } from "./safeStep.js"
import { SAFE, STEP_RISK, USDC, refusingSender, stepHarness, stepSafeState, stepSnapshotAt, stepSub } from "./testing.js"

// Review rr11p P5 (f11s's unreached turn and owed test, under rr11n N4's premise they were built for: operations
// included without effect, e.g. reverting on chain, so the sent sub-accounts stay due). C (USDC 1.01) and I (USDC 1.02)
// share a loan asset; their joint plan [C, I] is refused plan-wide (a non-monotone pair, rr11l L4's class) and each
// alone is accepted. Every step: [C, I] refused, isolated most urgent first, [C] accepted and sent, I `untried` behind
// it (why "sent"). I is not a rejoined culprit, so f11s's `owed` test does not cover it; its plan WAS judged, so it is
// never "unreached" and never gets the turn. Observed over 30 blocks: C sent 30 times, I (accepted alone, due) 0
// times; one alert naming I (100, stage `undecided`: "a plan of other sub-accounts without it was accepted and sent
// first; tried again at the next block", which never happens), the next only at 150. rr11k left "a held one waits" open
// on the ground that a landed rescue moves the tried one into its band; N4's premise (and f11s's turn doc: "operations
// reverting on chain") is exactly the case where it does not.
// Fixed (f11u): a due sub-account left behind an accepted subset counts as unreached (not judged); with the turn it goes
// first in its plan's isolation: I sent at 103, 107, ... (every UNREACHED_TURN_BLOCKS + 1 blocks; was never).
const C = `0x${"c1".repeat(32)}` as Hex
const I = `0x${"b1".repeat(32)}` as Hex
const c = C.toLowerCase()
const i = I.toLowerCase()

async function run(n: number) {
  const { sender, sent, landed } = refusingSender(
    (plan) => {
      const ids = plan.subAccounts.map((x) => x.toLowerCase())
      return ids.includes(c) && ids.includes(i)
    },
    { rescued: () => false },
  )
  const { step, events } = stepHarness(undefined, { sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  for (let k = 0; k < n; k++) {
    rt.backoffUntil = 0
    await step.run(rt, 100n + BigInt(k), { snapshot: stepSnapshotAt(stepSafeState([stepSub(C, USDC, 1.01, "below"), stepSub(I, USDC, 1.02, "below")]), k) })
  }
  const aboutI = events.flatMap((e) => (e.type === "alert" && e.message.includes(I) ? [`${e.block} ${e.kind}${e.message.includes("tried again at the next block") ? " tried-again-next-block" : ""}`] : []))
  return { sent, landed, aboutI }
}

test("rr11p P5 fixed: I, left behind [C] (accepted) with [C, I] refused, is unreached: it gets the turn and is sent every UNREACHED_TURN_BLOCKS + 1 blocks", async () => {
  const { landed, aboutI } = await run(30)
  // C (most urgent) in the blocks between; I first in its plan's isolation once it waited UNREACHED_TURN_BLOCKS steps.
  const expected = Array.from({ length: 30 }, (_, k) => `${100 + k} ${k % 4 === 3 ? "b1" : "c1"}`)
  expect(landed).toEqual(expected)
  // One alert in the first block it is left behind (its text no longer promises a try at the next block), not one per
  // run of blocks between its sends.
  expect(aboutI).toEqual(["100 nothing-to-send"])
}, 60_000)

test("rr11p P5 (was FAILS TODAY): a due rescue accepted alone is sent within UNREACHED_TURN_BLOCKS + 1 blocks", async () => {
  const { landed } = await run(Number(UNREACHED_TURN_BLOCKS) + 1)
  expect(landed.some((s) => s.endsWith(" b1"))).toBe(true)
  // And within every UNREACHED_TURN_BLOCKS + 1 blocks after, while it stays due (the bound, asserted).
  const { landed: long } = await run(40)
  const at = long.filter((s) => s.endsWith(" b1")).map((s) => Number(s.split(" ")[0]))
  for (const [j, b] of [99, ...at].entries()) expect((at[j] ?? 140) - b).toBeLessThanOrEqual(Number(UNREACHED_TURN_BLOCKS) + 1)
}, 60_000)
