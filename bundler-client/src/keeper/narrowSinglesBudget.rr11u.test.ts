import { expect, test } from "vitest"
import { aa21, runNarrowing } from "./narrowing.testing.js"
import { subIdOf } from "./testing.js"

// Review rr11u U1 / U2 (break-it of f11za's `narrow`, rr11t T1's fix). The narrowing's probes are the most urgent prefixes
// (ceil(n/2), ..., 1) and then each other sub-account alone, all within the plan's share of REFUSAL_SIMULATIONS_PER_STEP
// (8, less the refused plan's own). Every prefix holds the most urgent sub-account, so when that one is too big alone the
// prefixes are wasted probes, and only share - (log2 n + 1) singles are left. Fixture: `due` USDC sub-accounts below their
// band (health 1.01, 1.011, ...: id 01 the most urgent), every plan holding one of the `big` most urgent refused AA21
// (a flash-loan swap deleverage's gas over the Safe's prefund), every other plan accepted (repays from idle).
async function run(due: number, big: number, blocks: number) {
  const bigIds = new Set(Array.from({ length: big }, (_, k) => subIdOf(k + 1).slice(2, 4).toLowerCase()))
  const r = await runNarrowing(due, blocks, (ids) => (ids.some((x) => bigIds.has(x.toLowerCase())) ? aa21() : undefined))
  expect(r.thrownByStep).toEqual([])
  return { ...r, alerts: r.messages }
}

// U1 (Medium): 8 due in one plan, the 5 most urgent too big alone, 3 fit (together or alone). Probes: 3 prefixes (all
// holding 01) + singles 02..05 = the share of 7: 06, 07, 08 are never tried, at any block (the order is the same every
// step, and no one is "left behind" since nothing was accepted). The alert says "even a plan of one sub-account does not
// fit", naming 01..05 only.
test("rr11u U1: 5 of 8 too big alone, the 3 least urgent fit: one of them lands within 5 blocks", async () => {
  const r = await run(8, 5, 5)
  console.log("U1 sent", r.sent.join(" | "), "|| landed", r.landed.join(" | "), "||", r.alerts.join(" || "))
  expect(r.landed.length).toBeGreaterThan(0)
}, 120_000)

// U2-b (Medium): 16 due sharing USDC = 2 module-size plans ranked, the 2 most urgent too big alone, the 14 others fit
// (8 per operation). The first plan's share is ceil(7/2) = 4: prefixes 4, 2, 1 (all holding 01) and one single (02, then
// 03): one sub-account lands per block and the second plan is "not reached" (nothing-to-send) every block. Measured:
// landed "100 03 | 101 04 | 102 05 | 103 06 | 104 07": 14 blocks for 14 that fit in 2 operations.
test("rr11u U2-b: 16 due (2 plans), the 2 most urgent too big: at least 8 of the 14 that fit land within 3 blocks", async () => {
  const r = await run(16, 2, 3)
  console.log("U2-b sent", r.sent.join(" | "), "|| landed", r.landed.join(" | "))
  const landedIds = new Set(r.landed.flatMap((s) => s.split(" ")[1]?.split(",") ?? []))
  expect(landedIds.size).toBeGreaterThanOrEqual(8)
}, 120_000)

// U2 (Medium): 8 due, only 01 too big alone; the 7 others fit together. The narrowing never tries a plan of several
// without 01 (every prefix holds it; the others are tried alone only): one sub-account lands per block, the 7th after 7
// blocks (one operation would have held all 7). Measured: landed "100 02 | 101 03 | ... | 106 08", 5 sends per block.
test("rr11u U2: 8 due, only the most urgent too big: the 7 that fit land within 2 blocks", async () => {
  const r = await run(8, 1, 8)
  console.log("U2 sent", r.sent.join(" | "), "|| landed", r.landed.join(" | "))
  const landedIds = new Set(r.landed.filter((s) => Number(s.split(" ")[0]) <= 101).flatMap((s) => s.split(" ")[1]?.split(",") ?? []))
  expect(landedIds.size).toBe(7)
}, 120_000)
