import { expect, test } from "vitest"

// Review rr11y (break-it of f11ze's narrowing fixes X5 / X2 / X1, main 49cf12b). Harness: narrowing.testing.ts.
// Fixed f11zf: the narrowing plans from ONE alone table (`SafeRuntime.aloneFacts`); each test keeps the numbers measured
// on 49cf12b in its comment and asserts the ones measured after.
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
// f11zf: 100, 101 answered alone (unconfirmed: no plan accepted), 102 03 accepted (the answer is the plans' size); 103
// 01 and 02 tried alone first, answered, the rest 04-08 -> 04,05,06 accepted: 01 and 02 written refused alone, named.
test("rr11y Y1 fixed (f11zf): 01 and 02 answered alone: 03 at 102, 04-06 at 103, 07-08 at 104 (was 102 03 | 108 04), both named", async () => {
  const r = await run(8, 10, twoAlone("01", "02"), fall)
  show("Y1", r)
  expect(r.landed).toEqual(["102 03", "103 04,05,06", "104 07,08"])
  expect(r.perBlock(100, 5)).toEqual([2, 2, 2, 5, 2])
  for (const id of ["01", "02"]) expect(r.messages.some((m) => m.startsWith("103 ") && m.includes(alone(id))), id).toBe(true)
  const r2 = await run(8, 10, twoAlone("01", "03"), fall)
  expect(r2.landed).toEqual(["101 02", "103 04,05,06", "104 07,08"])
}, 60_000)
test("rr11y Y1 (was FAILS TODAY, fixed f11zf; 03 at 102, 04 at 108, 05-08 never; 02 never named): 03-08 land by 105 and 02 is named", async () => {
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
// f11zf: the least urgent is left out of each probe while its part (the difference of two plans' estimates) is below
// the average: 08, 07, 06, 05 are light; 01-03 + 05-08 is accepted at 100 and 04's part (at least 3,800,000 - 1,500,000)
// names it at 100; its own estimate alone (2,400,000) from 101 (its plan alone is then the whole plan).
test("rr11y Y2 fixed (f11zf): heavy 04 in the middle: the 7 others at 100 (was 01,02 | 03 | 05-08), 04 named from 100 (was 102)", async () => {
  const r = await run(8, 6, heavyAt("04", 2_400_000n, 1_500_000n))
  show("Y2", r)
  expect(r.landed).toEqual(["100 01,02,03,05,06,07,08"])
  expect(r.perBlock(100, 3)).toEqual([6, 1, 1])
  expect(r.alerts[0]).toBe("100 send-failed")
  // h11p: the alert leads with 04's own estimate alone (read without sending); the lower bound follows it, past the
  // 220 characters `messages` keeps: read in the whole message (`fullMessages`).
  expect(r.fullMessages[0]).toContain("callGasLimit at least 2300000 is above the Safe's cap of 1500000 for the plan of 0x040404")
  expect(r.fullMessages[0]).toContain(`callGasLimit 2400000 is above the Safe's cap of 1500000 for the plan of 0x${"04".repeat(32)} alone (estimated without sending)`)
  expect(r.messages.some((m) => m.startsWith("101 ") && m.includes("2400000 is above the Safe's cap of 1500000"))).toBe(true)
  const r2 = await run(10, 6, heavyAt("05", 2_400_000n, 1_500_000n))
  expect(r2.landed).toEqual(["100 01,02,03,04,06,07,08", "101 09,0a"])
  expect(r2.alerts[0]).toBe("100 send-failed")
}, 60_000)
test("rr11y Y2 (was FAILS TODAY, fixed f11zf; 05-08 at 102, 04 first alerted at 102): the 7 that fit land by 101 and 04 is alerted by 101", async () => {
  const r = await run(8, 6, heavyAt("04", 2_400_000n, 1_500_000n))
  for (const id of ["01", "02", "03", "05", "06", "07", "08"]) expect(r.landedAt(id), id).toBeLessThanOrEqual(101)
  expect(Number(r.alerts[0]?.split(" ")[0])).toBeLessThanOrEqual(101)
}, 60_000)

// ---- Y3 (High by the brief's rule; X2's late alert compounded by the module split) ----
// 12 due (module split 8 + 4), 0c at 2,400,000 (never fits), the others 200,000, cap 1,500,000. Measured on 49cf12b:
// landed 100 01-07 | 101 08,09,0a,0b (the landings are right), but 0c (below band) is first alerted at 102: silent 2 blocks.
// f11zf: 0c is named at 101 (the first block it is in a plan: the module split puts it in the second operation) with
// its part's lower bound (3,200,000 - 1,500,000), its own estimate at 102. Was still open (the exact estimate at 101
// needed its plan alone estimated without being sent); fixed h11p: estimated without sending at 101 (the SDK's
// `estimateRebalance`), the alert at 101 leads with 2,400,000, the lower bound after it; landings unchanged.
test("rr11y Y3 fixed (f11zf): 12 due, 0c never fits: 0c named at 101 (was 102) with a lower bound, landings unchanged", async () => {
  const r = await run(12, 6, heavyAt("0c", 2_400_000n, 1_500_000n))
  show("Y3", r)
  expect(r.landed).toEqual(["100 01,02,03,04,05,06,07", "101 08,09,0a,0b"])
  expect(r.alerts[0]).toBe("101 send-failed")
  // h11p: the lower bound follows 0c's own estimate alone (read without sending) in the same alert: see Y2.
  expect(r.fullMessages[0]).toContain("callGasLimit at least 1700000 is above the Safe's cap of 1500000 for the plan of 0x0c0c0c")
  expect(r.messages.some((m) => m.startsWith("102 ") && m.includes("2400000 is above the Safe's cap of 1500000"))).toBe(true)
}, 60_000)
test("rr11y Y3 was STILL OPEN after f11zf, fixed h11p (named at 101 with a lower bound, the exact 2,400,000 at 102): 0c's own estimate is alerted by 101", async () => {
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
// f11zf: an ambiguous answer alone is written refused only when another plan was accepted in the same step; 01 stays
// `unconfirmed` (tried alone first under the conclusion), so at 103 it is tried alone first and lands. Plans of 2+ are
// answered throughout, so one lands per block after.
test("rr11y Y4 fixed (f11zf): after a 1-block outage on the suspect probe, 01 lands at 103 (was 105), one a block after", async () => {
  const r = await run(8, 10, outageOnSuspect, fall)
  show("Y4", r)
  expect(r.landed).toEqual(["101 02", "103 01", "104 03", "105 04", "106 05", "107 06", "108 07", "109 08"])
  expect(r.alerts).toEqual(["100 rpc-error", "102 rpc-error"])
  expect([...(r.rts[0]?.aloneFacts?.facts.values() ?? [])].filter((f) => f.verdict === "refused")).toEqual([])
}, 60_000)
test("rr11y Y4 (was FAILS TODAY, fixed f11zf; 01 at 105, 0 landed at 103 and 104): 01 lands at 103, once the bundler is back", async () => {
  const r = await run(8, 10, outageOnSuspect, fall)
  expect(r.landedAt("01")).toBe(103)
}, 60_000)

// ---- Y5 (Medium): once the others landed, the sub-account answered alone is alerted as the node's ----
// X5's input (01 and plans of 4+ answered Alto's 500) with an outage at 103-104: the others land 101 02 | 102 03,04,05 |
// 105 06,07,08 (recovery at once, fine). From 106, 01 alone is the plan: it is refused each block and alerted
// `rpc-error: HTTP request failed.` at 106-109, not named (it was named at 102 and 105).
const x5Outage = (ids: string[], b: bigint) => (b >= 103n && b <= 104n ? maxRetries() : ids.includes("01") || ids.length > 3 ? maxRetries() : undefined)
test("rr11y Y5 fixed (f11zf): 01 left alone is named send-failed at 106-109 (was rpc-error), the others' landings unchanged", async () => {
  const r = await run(8, 10, x5Outage, fall)
  show("Y5", r)
  expect(r.landed).toEqual(["101 02", "102 03,04,05", "105 06,07,08"])
  expect(r.alerts.slice(-4)).toEqual(["106 send-failed", "107 send-failed", "108 send-failed", "109 send-failed"])
}, 60_000)
test("rr11y Y5 (was FAILS TODAY, fixed f11zf; rpc-error at 106-109): 01, the only one left and answered alone, is named at 106-109", async () => {
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
// f11zf (first fit by urgency, Y2's rule): was 3 + 3 + 2 over 3 blocks (04 at 101); now 7 at 100 and 04 at 101.
test("rr11y held: a heavy 04 that fits alone (1,000,000, cap 1,500,000): first fit by urgency lands 7 then 04, no alert", async () => {
  const r = await run(8, 6, heavyAt("04", 1_000_000n, 1_500_000n))
  expect(r.landed).toEqual(["100 01,02,03,05,06,07,08", "101 04"])
  expect(r.alerts).toEqual([])
}, 60_000)

// ---- Held-out inputs of f11zf (the class: per-sub-account facts alone) ----
// Three heavy interleaved (02, 05, 07 at 1,600,000 each, above the 1,500,000 cap alone; the others 200,000): the five
// that fit land in the first block, each heavy is named by 101, then one send a block.
test("f11zf held: three heavy sub-accounts interleaved: the 5 others land at 100, the 3 heavy named by 101", async () => {
  const three = (ids: string[]) => {
    const g = ids.reduce((s, id) => s + (["02", "05", "07"].includes(id) ? 1_600_000n : 200_000n), 0n)
    return g > 1_500_000n ? capErr(g, 1_500_000n) : undefined
  }
  const r = await run(8, 4, three)
  expect(r.landed).toEqual(["100 01,03,04,06,08"])
  for (const id of ["02", "05", "07"]) expect(r.fullMessages.some((m) => Number(m.split(" ")[0]) <= 101 && (m.includes(`for the plan of 0x${id.repeat(32)} alone`) || m.includes(`for the plan of 0x${id.repeat(32)} with the others (its part`))), id).toBe(true) // f11zg (rr11z Z3): a derived bound is worded "with the others"
  expect(r.perBlock(100, 4)).toEqual([8, 2, 1, 1])
}, 60_000)
// The table going stale when gas changes: 04 at 2,400,000 at 100 only, 200,000 after (cap 700,000: 3 fit). At 100 the
// light ones' parts pack 01,02,03 first (04 unresolved, nothing written of it); from 101 04 is planned like the others
// (the whole plan holding it is always tried first, and no entry holds it out), so it lands at 101 in urgency order.
test("f11zf held: gas that changes (04 heavy at 100 only): 04 is not held out after, landing 3 a block by urgency", async () => {
  const stale = (ids: string[], b: bigint) => {
    const g = ids.reduce((s, id) => s + (id === "04" && b <= 100n ? 2_400_000n : 200_000n), 0n)
    return g > 700_000n ? capErr(g, 700_000n) : undefined
  }
  const r = await run(8, 6, stale)
  expect(r.landed).toEqual(["100 01,02,03", "101 04,05,06", "102 07,08"])
  expect(r.alerts.filter((a) => !a.startsWith("100 "))).toEqual([])
}, 60_000)
