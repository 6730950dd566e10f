import { expect, test } from "vitest"

// Review rr11y (break-it of f11ze's narrowing fixes X5 / X2 / X1, main 49cf12b). Harness: narrowing.testing.ts.
import { type Health, capErr, maxRetries, runNarrowing as run, show } from "./narrowing.testing.js"
const heavyAt = (heavy: string, heavyGas: bigint, cap: bigint) => (ids: string[]) => {
  const gas = ids.reduce((sum, id) => sum + (id === heavy ? heavyGas : 200_000n), 0n)
  return gas > cap ? capErr(gas, cap) : undefined
}
const fall: Health = (j, k) => 1.05 + j * 0.001 - 0.003 * k
const alone = (id: string) => `0x${id.repeat(32)} alone`

// ---- Y1 (High): TWO sub-accounts answered Alto's 500 alone: f11ze's suspect slot probes only the first ----
// 8 due, falling market; every plan holding 01 or 02, and every plan of 4+, answered "Max retries reached"; plans of up to
// 3 of 03-08 fit. 100: 01 alone (rotation) answered; 101: 02 alone answered; 102: 03 alone accepted: a size conclusion,
// suspects "01,02". 103: 01 probed alone (confirmed in ambiguous-alone), then 02,04-08 -> 02,04,05: budget spent. 104-105:
// 02,04-08 -> 02,04,05 -> 02,04: nothing. 02 is never probed alone under the conclusion (the suspect slot is cleared after
// its first use), never named. Measured on 49cf12b: landed 102 03 | 108 04 only (2 of 6 rescuable in 10 blocks), sends per
// block 2 2 2 4 4 4 2 2 2 4, alerts only `rpc-error: HTTP request failed.` (100, 101, 103-107, 109). Same with 01 and 03
// answered alone: landed 101 02 | 107 04 only.
const twoAlone = (a: string, b: string) => (ids: string[]) => (ids.includes(a) || ids.includes(b) || ids.length > 3 ? maxRetries() : undefined)
test("rr11y Y1 observed today: 01 and 02 answered alone: 2 of 6 land in 10 blocks, only rpc-error alerts", async () => {
  const r = await run(8, 10, twoAlone("01", "02"), fall)
  show("Y1", r)
  expect(r.landed).toEqual(["102 03", "108 04"])
  expect(r.perBlock(100, 10)).toEqual([2, 2, 2, 4, 4, 4, 2, 2, 2, 4])
  expect(r.alerts.every((a) => a.endsWith(" rpc-error"))).toBe(true)
  const r2 = await run(8, 10, twoAlone("01", "03"), fall)
  expect(r2.landed).toEqual(["101 02", "107 04"])
}, 60_000)
test("rr11y Y1 FAILS TODAY (03 at 102, 04 at 108, 05-08 never; 02 never named): 03-08 land by 105 and 02 is named", async () => {
  const r = await run(8, 10, twoAlone("01", "02"), fall)
  for (const id of ["03", "04", "05", "06", "07", "08"]) expect(r.landedAt(id), id).toBeLessThanOrEqual(105)
  expect(r.messages.some((m) => m.includes(alone("02")))).toBe(true)
}, 60_000)

// ---- Y2 (High by the brief's rule): a heavy sub-account in the MIDDLE of the urgency order (X2's fix drops the last) ----
// 8 due, 04 at 2,400,000 call gas (never fits alone), the others 200,000, cap 1,500,000 (01-03 + 05-08 = 1,400,000 fit).
// f11ze probes the plan without its LEAST urgent (08) first, which still holds 04, then the proportional share. Measured on
// 49cf12b: landed 100 01,02 | 101 03 | 102 05,06,07,08; sends per block 3 4 5; 04's cap first alerted at 102: 05-08 below
// band with no op and no alert at 100 and 101. Same with 10 due (module split), 05 heavy: 100 01,02 | 101 03,04 | 102
// 06-0a, first alert 102.
test("rr11y Y2 observed today: heavy 04 in the middle: 01,02 | 03 | 05-08 over 3 blocks, first alert at 102", async () => {
  const r = await run(8, 6, heavyAt("04", 2_400_000n, 1_500_000n))
  show("Y2", r)
  expect(r.landed).toEqual(["100 01,02", "101 03", "102 05,06,07,08"])
  expect(r.perBlock(100, 3)).toEqual([3, 4, 5])
  expect(r.alerts[0]).toBe("102 send-failed")
  const r2 = await run(10, 6, heavyAt("05", 2_400_000n, 1_500_000n))
  expect(r2.landed).toEqual(["100 01,02", "101 03,04", "102 06,07,08,09,0a"])
  expect(r2.alerts[0]).toBe("102 send-failed")
}, 60_000)
test("rr11y Y2 FAILS TODAY (05-08 at 102, 04 first alerted at 102): the 7 that fit land by 101 and 04 is alerted by 101", async () => {
  const r = await run(8, 6, heavyAt("04", 2_400_000n, 1_500_000n))
  for (const id of ["01", "02", "03", "05", "06", "07", "08"]) expect(r.landedAt(id), id).toBeLessThanOrEqual(101)
  expect(Number(r.alerts[0]?.split(" ")[0])).toBeLessThanOrEqual(101)
}, 60_000)

// ---- Y3 (High by the brief's rule; X2's late alert compounded by the module split) ----
// 12 due (module split 8 + 4), 0c at 2,400,000 (never fits), the others 200,000, cap 1,500,000. Measured on 49cf12b:
// landed 100 01-07 | 101 08,09,0a,0b (the landings are right), but 0c (below band) is first alerted at 102: silent 2 blocks.
test("rr11y Y3 observed today: 12 due, 0c never fits: 0c first alerted at 102", async () => {
  const r = await run(12, 6, heavyAt("0c", 2_400_000n, 1_500_000n))
  show("Y3", r)
  expect(r.landed).toEqual(["100 01,02,03,04,05,06,07", "101 08,09,0a,0b"])
  expect(r.alerts[0]).toBe("102 send-failed")
}, 60_000)
test("rr11y Y3 FAILS TODAY (first alert at 102): 0c's cap is alerted by 101", async () => {
  const r = await run(12, 6, heavyAt("0c", 2_400_000n, 1_500_000n))
  expect(r.messages.some((m) => Number(m.split(" ")[0]) <= 101 && m.includes("2400000 is above the Safe's cap of 1500000"))).toBe(true)
}, 60_000)

// ---- Y4 (High): an outage in the same words on the suspect's probe writes a HEALTHY most urgent into ambiguous-alone ----
// 8 due; every plan of 2+ answered "Max retries reached" (a size conclusion of 1); all 5xx at 100 and 102 only (outage).
// 100: 01 alone answered (outage): suspect; 101: 02 alone accepted: conclusion, suspect 01. 102: 01 probed alone, the
// outage answers: written to ambiguous-alone (runtime.ts says it is "never read when no plan of the Safe was accepted
// after the answer"; it is read). 103-104 (bundler back): 01 probed last, the 3 narrow probes 03-08 -> 03,04,05 -> 03,04
// never reach a plan of one: nothing sent, `rpc-error` (the node is fine). Measured on 49cf12b: landed 101 02 | 105 01 |
// 106 03 | 107 04 | 108 05 | 109 06; 0 landed at 102-104; alerts rpc-error 100, 102, 103, 104. Without the memory, 103's
// narrowing (01..08 -> 01,03,04,05 -> 01,03 -> 01) sends 01 at 103.
const outageOnSuspect = (ids: string[], b: bigint) => (b === 100n || b === 102n ? maxRetries() : ids.length > 1 ? maxRetries() : undefined)
test("rr11y Y4 observed today: after a 1-block outage on the suspect probe, 01 (healthy) lands at 105, nothing at 103-104", async () => {
  const r = await run(8, 10, outageOnSuspect, fall)
  show("Y4", r)
  expect(r.landed).toEqual(["101 02", "105 01", "106 03", "107 04", "108 05", "109 06"])
  expect(r.alerts).toEqual(["100 rpc-error", "102 rpc-error", "103 rpc-error", "104 rpc-error"])
}, 60_000)
test("rr11y Y4 FAILS TODAY (01 at 105, 0 landed at 103 and 104): 01 lands at 103, once the bundler is back", async () => {
  const r = await run(8, 10, outageOnSuspect, fall)
  expect(r.landedAt("01")).toBe(103)
}, 60_000)

// ---- Y5 (Medium): once the others landed, the sub-account answered alone is alerted as the node's ----
// X5's input (01 and plans of 4+ answered Alto's 500) with an outage at 103-104: the others land 101 02 | 102 03,04,05 |
// 105 06,07,08 (recovery at once, fine). From 106, 01 alone is the plan: it is refused each block and alerted
// `rpc-error: HTTP request failed.` at 106-109, not named (it was named at 102 and 105).
const x5Outage = (ids: string[], b: bigint) => (b >= 103n && b <= 104n ? maxRetries() : ids.includes("01") || ids.length > 3 ? maxRetries() : undefined)
test("rr11y Y5 observed today: 01 left alone is alerted rpc-error at 106-109", async () => {
  const r = await run(8, 10, x5Outage, fall)
  show("Y5", r)
  expect(r.landed).toEqual(["101 02", "102 03,04,05", "105 06,07,08"])
  expect(r.alerts.slice(-4)).toEqual(["106 rpc-error", "107 rpc-error", "108 rpc-error", "109 rpc-error"])
}, 60_000)
test("rr11y Y5 FAILS TODAY (rpc-error at 106-109): 01, the only one left and answered alone, is named at 106-109", async () => {
  const r = await run(8, 10, x5Outage, fall)
  for (const b of [106, 107, 108, 109]) expect(r.messages.some((m) => m.startsWith(`${b} `) && m.includes(alone("01"))), String(b)).toBe(true)
}, 60_000)

// ---- Held-out inputs that held ----
test("rr11y held: the suspect fit again while the conclusion holds: not starved (1 block late at most), named while refused", async () => {
  const r = await run(8, 10, (ids, b) => ((ids.includes("01") && b < 102n) || ids.length > 3 ? maxRetries() : undefined), fall)
  expect(r.landed).toEqual(["101 02", "102 01", "103 03,04,05", "104 06,07,08"])
  const r2 = await run(8, 10, (ids, b) => ((ids.includes("01") && b < 103n) || ids.length > 3 ? maxRetries() : undefined), fall)
  expect(r2.landed).toEqual(["101 02", "102 03,04,05", "103 06,07,08", "104 01"])
  expect(r2.perBlock(100, 5)).toEqual([2, 2, 4, 2, 1])
  expect(r2.messages.filter((m) => m.includes(alone("01"))).map((m) => m.split(" ")[0])).toEqual(["102", "103"])
}, 60_000)
test("rr11y held: a heavy 04 that fits alone (1,000,000, cap 1,500,000): urgency prefixes land 3 + 3 + 2, no alert", async () => {
  const r = await run(8, 6, heavyAt("04", 1_000_000n, 1_500_000n))
  expect(r.landed).toEqual(["100 01,02,03", "101 04,05,06", "102 07,08"])
  expect(r.alerts).toEqual([])
}, 60_000)
