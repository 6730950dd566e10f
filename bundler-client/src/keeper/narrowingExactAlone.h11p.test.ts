import { expect, test } from "vitest"
import { REFUSAL_SIMULATIONS_PER_STEP } from "./safeStep.js"
import { capErr, runNarrowing as run } from "./narrowing.testing.js"

// h11p (issue 11, reviews rr11x X2 / rr11y Y3): a derived cap refusal (a lower bound on a sub-account's part, from two
// plans' estimates) is followed by an estimate-only probe of its plan alone (`RebalanceSender.estimate`, the SDK's
// `estimateRebalance`), so the alert of that block carries its own estimate. Harness: narrowing.testing.ts (its sender
// records estimate-only probes in `estimated`, never in `sent` or `landed`).
const heavyAt = (heavy: string, heavyGas: bigint, cap: bigint) => (ids: string[]) => {
  const gas = ids.reduce((sum, id) => sum + (id === heavy ? heavyGas : 200_000n), 0n)
  return gas > cap ? capErr(gas, cap) : undefined
}
const id = (x: string) => `0x${x.repeat(32)}`
const perBlock = (xs: readonly string[], b: number) => xs.filter((s) => s.startsWith(`${b} `)).length

test("h11p: X2's exact probe of 08 alone is estimated, not sent: the sends and landings are f11zf's, 08's own 2,400,000 alerted at 100", async () => {
  const r = await run(8, 3, heavyAt("08", 2_400_000n, 1_500_000n))
  expect(r.sent).toEqual(["100 01,02,03,04,05,06,07,08", "100 01,02,03,04,05,06,07", "101 08", "102 08"])
  expect(r.landed).toEqual(["100 01,02,03,04,05,06,07"])
  expect(r.estimated).toEqual(["100 08"])
  const at100 = r.fullMessages.filter((m) => m.startsWith("100 "))
  expect(at100).toHaveLength(1)
  expect(at100[0]).toContain(`callGasLimit 2400000 is above the Safe's cap of 1500000 for the plan of ${id("08")} alone (estimated without sending)`)
  expect(at100[0]).toContain(`the plan of ${id("08")} alone does not fit`)
}, 60_000)

test("h11p: the exact probes count against REFUSAL_SIMULATIONS_PER_STEP: sends + estimates never above it; a spent budget keeps the lower bound", async () => {
  const three = (ids: string[]) => {
    const g = ids.reduce((s, x) => s + (["02", "05", "07"].includes(x) ? 1_600_000n : 200_000n), 0n)
    return g > 1_500_000n ? capErr(g, 1_500_000n) : undefined
  }
  const runs = [
    await run(8, 3, heavyAt("08", 2_400_000n, 1_500_000n)),
    await run(12, 3, heavyAt("0c", 2_400_000n, 1_500_000n)),
    await run(8, 3, heavyAt("04", 2_400_000n, 1_500_000n)),
    await run(8, 3, three),
    await run(4, 3, () => capErr(600_000n, 500_000n, "verificationGasLimit")),
  ]
  for (const r of runs) for (const b of [100, 101, 102]) expect(perBlock(r.sent, b) + perBlock(r.estimated, b)).toBeLessThanOrEqual(REFUSAL_SIMULATIONS_PER_STEP)
  // Y2's 6 sends at 100 leave room for 04's probe; X4's 4 sends leave room for the 3 others' (flat: each refused at 600,000).
  expect(runs[2]?.estimated).toEqual(["100 04"])
  expect(runs[4]?.estimated).toEqual(["100 02", "100 03", "100 04"])
  // Three heavy: the narrowing's 8 sends at 100 spend the budget: no probe, 05 and 07 named with their lower bound.
  const t = runs[3] as (typeof runs)[number]
  expect(perBlock(t.sent, 100)).toBe(REFUSAL_SIMULATIONS_PER_STEP)
  expect(t.estimated.filter((s) => s.startsWith("100 "))).toEqual([])
  for (const x of ["05", "07"]) expect(t.fullMessages.some((m) => m.startsWith("100 ") && m.includes(`for the plan of ${id(x)} with the others (its part: the difference of two plans' estimates, a lower bound; its plan alone not tried)`)), x).toBe(true)
}, 60_000)

test("h11p: a superadditive pair (rr11z Z3): 08's plan alone estimated without sending fits: named with its part only, never 'alone', landings unchanged", async () => {
  const pair = (ids: string[]) => {
    const g = ids.reduce((s) => s + 100_000n, 0n) + (ids.includes("07") && ids.includes("08") ? 2_000_000n : 0n)
    return g > 1_000_000n ? capErr(g, 1_000_000n) : undefined
  }
  const r = await run(8, 4, pair)
  expect(r.landed).toEqual(["100 01,02,03,04,05,06,07", "101 08"])
  expect(r.estimated).toEqual(["100 08"])
  expect(r.fullMessages.some((m) => m.startsWith("100 ") && m.includes(`at least 1800000 is above the Safe's cap of 1000000 for the plan of ${id("08")} with the others (its part: the difference of two plans' estimates, a lower bound; its plan alone, estimated without sending, fits the cap)`))).toBe(true)
  expect(r.fullMessages.filter((m) => m.includes(`${id("08")} alone`))).toEqual([])
}, 60_000)
