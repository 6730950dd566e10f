import { BaseError, HttpRequestError } from "viem"
import { expect, test } from "vitest"

// Review rr11x (break-it of f11zc / f11zd / the SDK's cycle-safe cause walk, main 6ce062a). Harness: narrowing.testing.ts.
import { type Health, type Thrown, aa21, capErr, maxRetries, runNarrowing as run, show, url } from "./narrowing.testing.js"

// ---- X1 (Medium): the keeper's own classifiers still walk with viem's BaseError.walk ----
// f11zc moved the SDK's classifiers (getTransportFailure, getLeverageError) and the keeper's `firstInCauseChain` to the
// cycle-safe walk, but `failingSubAccountOf` and `planWideRefusalOf` (safeStep.ts) still call `error.walk`, which recurses
// without end on a cyclic chain. The step's `failureOf` calls them first, so a cyclic refusal never reaches the gas-cap /
// ambiguous / transport classification. Fixture: 4 due, every plan of 3+ refused by the call-gas cap (a plan of 2 fits),
// the refusal's chain cyclic (its cause is the wrapper around it). Measured on 6ce062a: the plan of 4 sent each block,
// never narrowed: 0 landed in 4 blocks, alert `send-failed: Maximum call stack size exceeded` each block (names no cap).
// Same for a cyclic HTTP 503: `send-failed: Maximum call stack size exceeded` (not `rpc-error`), 3 of 3 blocks.
const cyclicCap = (ids: string[]) => {
  const inner = capErr(400_000n * BigInt(ids.length), 1_000_000n)
  const outer = new BaseError("estimate failed", { cause: inner })
  ;(inner as { cause?: unknown }).cause = outer
  return outer
}
const cyclic503 = () => {
  const inner = new HttpRequestError({ url, status: 503 })
  const outer = new BaseError("outer", { cause: inner })
  ;(inner as { cause?: unknown }).cause = outer
  return outer
}
// Fixed on f11ze (cycle-safe `firstInCauseChain` in both classifiers): was 0 landed and `Maximum call stack size exceeded`.
test("rr11x X1 fixed: a cyclic cause chain no longer overflows the keeper's classifiers (narrowed, no stack overflow alert)", async () => {
  const r = await run(4, 4, (ids) => (ids.length > 2 ? cyclicCap(ids) : undefined))
  show("X1 cyclic cap", r)
  expect(r.landed).toEqual(["100 01,02", "101 03,04"])
  expect(r.messages.some((m) => m.includes("Maximum call stack size exceeded"))).toBe(false)
}, 60_000)
test("rr11x X1 FAILS TODAY (0 landed in 4 blocks): a cyclic cap refusal is narrowed like an acyclic one: 01,02 land at 100", async () => {
  const r = await run(4, 4, (ids) => (ids.length > 2 ? cyclicCap(ids) : undefined))
  expect(r.landedAt("01")).toBe(100)
  expect(r.landedAt("04")).toBeLessThanOrEqual(101)
}, 60_000)
test("rr11x X1-b FAILS TODAY (send-failed 'Maximum call stack size exceeded' x3): a cyclic HTTP 503 is alerted as the node's (rpc-error)", async () => {
  const r = await run(2, 3, () => cyclic503())
  expect(r.alerts).toEqual(["100 rpc-error", "101 rpc-error", "102 rpc-error"])
}, 60_000)

// ---- X2 (High by the brief's rule: silent below band): fittingSize assumes gas proportional to the plan's size ----
// `fittingSize` = floor(size x cap / estimate). When one LESS urgent sub-account is heavy (a swap deleverage, or one the
// cap can never take), the proportional share is far below what the others need, the first probe (most urgent first) is
// accepted, and the step ends with one op of 1. Fixture: 8 due, 01-07 200,000 call gas each, 08 2,400,000 (alone above
// the 1,500,000 cap); 01-07 together need 1,400,000 and fit. Measured on 6ce062a: landed 100 01,02,03 | 101 04,05 | 102
// 06 | 103 07 (4 blocks where 1 does; 3 sends 7 landings); 08 is never probed alone until 104: no alert at 100-103 although
// it is below band and can never fit (the operator's fix, raising the cap, is announced 4 blocks late). Smaller shape: 4
// due, 04 1,000,000, cap 700,000: 01 | 02 | 03 one a block, 04's first alert at 103.
const heavyLast = (heavy: string, heavyGas: bigint, cap: bigint) => (ids: string[]) => {
  const gas = ids.reduce((sum, id) => sum + (id === heavy ? heavyGas : 200_000n), 0n)
  return gas > cap ? capErr(gas, cap) : undefined
}
// f11ze: the plan without its least urgent is probed first (was: landed 100 01,02,03 | 101 04,05 | 102 06 | 103 07, 08
// first alerted at 104).
// f11zf: 08 is named at 100 with its part's lower bound (3,800,000 - 1,500,000, the plan without it accepted), its own
// estimate alone at 101 (was: first alerted at 101 after f11ze, 104 before).
test("rr11x X2 after f11zf: 01-07 land at 100; 08 named at 100 (a lower bound), its own estimate from 101", async () => {
  const r = await run(8, 6, heavyLast("08", 2_400_000n, 1_500_000n))
  show("X2 heavy last", r)
  expect(r.landed).toEqual(["100 01,02,03,04,05,06,07"])
  expect(r.perBlock(100, 2)).toEqual([2, 1])
  expect(r.fullMessages.filter((m) => Number(m.split(" ")[0]) <= 100)).toEqual([expect.stringContaining(`callGasLimit at least 2300000 is above the Safe's cap of 1500000 for the plan of 0x${"08".repeat(32)} with the others (its part`)]) // f11zg (rr11z Z3): a derived bound is not worded "alone"
  expect(r.messages.some((m) => m.startsWith("101 ") && m.includes("2400000 is above the Safe's cap of 1500000"))).toBe(true)
}, 60_000)
test("rr11x X2 FAILS TODAY (01-07 over 4 blocks, 08 alerted first at 104): the 7 that fit land in the first block", async () => {
  const r = await run(8, 6, heavyLast("08", 2_400_000n, 1_500_000n))
  expect(r.landed[0]).toBe("100 01,02,03,04,05,06,07")
}, 60_000)
// Was still open after f11zf: 08 was named at 100 with a lower bound (2,300,000), its own estimate (2,400,000) at 101: the
// plan of 08 alone could only be estimated by sending it. Fixed h11p: right after the derived bound, its plan alone is
// estimated without sending (the SDK's `estimateRebalance`, within the step's simulation budget): the alert at 100 leads
// with 2,400,000; sends and landings unchanged.
test("rr11x X2 was STILL OPEN after f11zf, fixed h11p (08 named at 100 with a lower bound; its own estimate at 101): 08's own estimate is alerted in the first block", async () => {
  const r = await run(8, 6, heavyLast("08", 2_400_000n, 1_500_000n))
  expect(r.messages.some((m) => m.startsWith("100 ") && m.includes("2400000 is above the Safe's cap of 1500000"))).toBe(true)
}, 60_000)
test("rr11x X2-b FAILS TODAY (01 | 02 | 03 one a block): 4 due, the least urgent alone above the cap: the other three land together at 100", async () => {
  const r = await run(4, 4, heavyLast("04", 1_000_000n, 700_000n))
  expect(r.landed[0]).toBe("100 01,02,03")
}, 60_000)

// ---- X3 (Low): the ambiguous probe rotation survives an outage ----
// 100: plans of 2+ answered Alto's "Max retries reached", 01 alone accepted (a size conclusion). 101-104: every send
// answered in the same words (outage); 105+: the bundler back, plans of 2+ still answered so. Measured on 6ce062a: sends
// per block 2 4 4 4 2 2 3 3 2 1 (bounded, as f11zc states), rpc-error at 101-104; but the rotation run (`ambiguous-probed`)
// probed 02 alone at 104, so at 105 the probe alone is 03: landed 100 01 | 105 03 | 106 02 | 107 04 ... (the most urgent
// waits one block behind a less urgent one).
const outageAfterConclusion = (ids: string[], b: bigint) => (b >= 101n && b <= 104n ? maxRetries() : ids.length > 1 ? maxRetries() : undefined)
// f11zf: at 101 the narrowing finds the outage (a second plan of one answered like the first, plans of one having been
// accepted after the same answer): the conclusion is dropped and nothing is written; 102-104 one probe alone, written as
// nothing (the table's `outage` is recent); at 105 the rotation starts from the most urgent, 02 (was 03 at 105, 02 at 106).
test("rr11x X3 fixed (f11zf): after the outage the most urgent left (02) lands first, at 105; sends 2 5 2 2 2 2 3 3 2 1", async () => {
  const r = await run(6, 10, outageAfterConclusion)
  show("X3 outage after conclusion", r)
  expect(r.landed).toEqual(["100 01", "105 02", "106 03", "107 04", "108 05", "109 06"])
  expect(r.perBlock(100, 10)).toEqual([2, 5, 2, 2, 2, 2, 3, 3, 2, 1])
}, 60_000)
test("rr11x X3 (was FAILS TODAY, fixed f11zf; 02 at 106, 03 at 105): the most urgent left lands first once the bundler is back", async () => {
  const r = await run(6, 10, outageAfterConclusion)
  expect(r.landedAt("02")).toBe(105)
}, 60_000)

// ---- X4 (Low): a verificationGasLimit cap that no plan fits costs a full narrowing every block ----
// Verification gas barely grows with the plan; with the cap below even a plan of one, every block spends the whole
// REFUSAL_SIMULATIONS_PER_STEP (8 sends a block to the bundler) before alerting. Alert is right (field, both numbers,
// "even a plan of one"). Measured on 6ce062a: 4 due, 8 sends in each of 3 blocks, 0 landed (correct: nothing fits).
// f11zf: the plan without its least urgent estimates the same (its part is 0: the field does not grow), the most urgent
// alone too: no plan of one fits; all are written refused alone, so the next blocks send only the plan (was 8, 7, 8).
// f11zg (review rr11z Z1: one equal pair is no proof, a coarse estimate reads alike): the equal pair sizes a plan of 2
// from the refused estimate, refused as high, then the plan of one proves it: 4, 1, 1 (one probe more in the first block;
// the later blocks unchanged).
test("rr11x X4 fixed (f11zf, f11zg): verificationGasLimit above the cap for every plan: 4, 1, 1 sends (was 8, 7, 8; 3, 1, 1 before rr11z Z1), alert names the field", async () => {
  const r = await run(4, 3, () => capErr(600_000n, 500_000n, "verificationGasLimit"))
  console.log("X4 sends per block", r.perBlock(100, 3).join(" "))
  expect(r.perBlock(100, 3)).toEqual([4, 1, 1])
  expect(r.messages.every((m) => m.includes("verificationGasLimit 600000 is above the Safe's cap of 500000"))).toBe(true)
}, 60_000)

// ---- Held-out inputs that held (kept as passing tests) ----
test("rr11x held: 12 due (module split 8 + 4), the cap fits 3: 3 land a block, all by 103, no alert", async () => {
  const r = await run(12, 6, (ids) => (ids.length > 3 ? capErr(400_000n * BigInt(ids.length), 1_400_000n) : undefined))
  expect(r.landed).toEqual(["100 01,02,03", "101 04,05,06", "102 07,08,09", "103 0a,0b,0c"])
  expect(r.alerts).toEqual([])
}, 60_000)
test("rr11x held: mixed venue (01-04 swap 560k, 05-08 Aave 100k, cap 1.2M) and a non-monotone estimate land with no alert", async () => {
  const g = (ids: string[]) => ids.reduce((s, id) => s + (Number(id) <= 4 ? 560_000n : 100_000n), 0n)
  const r = await run(8, 5, (ids) => (g(ids) > 1_200_000n ? capErr(g(ids), 1_200_000n) : undefined))
  expect(r.landed).toEqual(["100 01,02", "101 03,04", "102 05,06,07,08"])
  const g2 = (ids: string[]) => 250_000n * BigInt(ids.length) + (ids.length <= 4 ? 600_000n : 0n)
  const r2 = await run(8, 4, (ids) => (g2(ids) > 1_500_000n ? capErr(g2(ids), 1_500_000n) : undefined))
  expect(r2.landed).toEqual(["100 01,02,03,04,05,06", "101 07,08"])
  expect([...r.alerts, ...r2.alerts]).toEqual([])
}, 60_000)
test("rr11x held: Alto's 500 for plans of 6+ and the call-gas cap for 3+ in the same plans: all 8 land by 104, no alert", async () => {
  const r = await run(8, 6, (ids) => (ids.length >= 6 ? maxRetries() : ids.length > 2 ? capErr(400_000n * BigInt(ids.length), 900_000n) : undefined))
  expect(r.landed).toEqual(["100 01", "101 02,03", "102 04,05", "103 06,07", "104 08"])
  expect(r.alerts).toEqual([])
}, 60_000)
test("rr11x held: falling market, the most urgent too big alone (cap and AA21): the others land every block, it is alerted every block", async () => {
  const fall: Health = (j, k) => 1.05 + j * 0.001 - 0.003 * k
  const gasOf = (ids: string[]) => ids.reduce((s, id) => s + (id === "01" ? 1_000_000n : 200_000n), 0n)
  const r = await run(8, 4, (ids) => (gasOf(ids) > 700_000n ? capErr(gasOf(ids), 700_000n) : undefined), fall)
  expect(r.landed).toEqual(["100 02,03,04", "101 05,06,07", "102 08"])
  expect(r.alerts).toEqual(["100 send-failed", "101 send-failed", "102 send-failed", "103 send-failed"])
  const r2 = await run(8, 4, (ids) => (ids.includes("01") || ids.length > 3 ? aa21() : undefined), fall)
  expect(r2.landed).toEqual(["100 02,03", "101 04,05,06", "102 07,08"])
}, 60_000)
test("rr11x held: two fleet workers sharing recentFailures, the second one block behind: same landing block as one worker", async () => {
  const steps = [100, 101, 100, 102, 101, 103, 102, 104, 103, 105].map((b, k) => ({ block: BigInt(b), worker: k === 0 || k === 1 ? 0 : k % 2 === 1 ? 0 : 1 }))
  const t: Thrown = (ids) => (ids.length > 2 ? maxRetries() : undefined)
  const single = await run(8, 6, t)
  const fleet = await run(8, 0, t, undefined, steps)
  show("fleet lag", fleet)
  expect(single.landedAt("08")).toBe(104)
  expect(fleet.landedAt("08")).toBe(104)
  expect(fleet.alerts).toEqual([])
}, 60_000)
test("rr11x held: a 31-wrapper chain is classified; a 40-wrapper chain (past MAX_CAUSE_DEPTH) costs one block", async () => {
  const deep = (ids: string[], n: number) => {
    let e: Error = capErr(400_000n * BigInt(ids.length), 900_000n)
    for (let i = 0; i < n; i++) e = new BaseError(`wrap ${i}`, { cause: e })
    return e
  }
  expect((await run(4, 3, (ids) => (ids.length > 2 ? deep(ids, 31) : undefined))).landed).toEqual(["100 01,02", "101 03,04"])
  expect((await run(4, 3, (ids) => (ids.length > 2 ? deep(ids, 40) : undefined))).landed).toEqual(["101 01,02", "102 03,04"])
}, 60_000)

// ---- X5 (High): one sub-account answered the ambiguous 500 even ALONE starves the others under a size conclusion ----
// Alto's "Max retries reached when calling binarySearchCallGas" for every plan holding 01 (the most urgent; e.g. a swap
// deleverage the binary search cannot bound) and for every plan of 4+; plans of up to 3 without 01 fit. 100: the plan is
// answered, the probe alone is 01 (rotation): answered alike, rpc-error. 101: 02 alone accepted: a size conclusion. 102-104:
// the conclusion's narrowing (AMBIGUOUS_NARROW_PROBES = 3) halves most urgent first (01,03,04,05 -> 01,03 -> 01): every
// probe holds 01, the budget is spent, nothing sent, rpc-error; by design (rr11v V4) 01 is not remembered as too big alone,
// so the same three probes repeat each block. 105: the conclusion lapsed, the rotation probes 01 alone again; 106: 03 alone
// accepted; 107-109 as 102-104. Measured on 6ce062a (stable and falling market alike): 8 due, landed 101 02 | 106 03 only
// (2 of 7 rescuable in 10 blocks, where 7 land in 3), sends per block 2 2 4 4 4 2 2 4 4 4, alerts `rpc-error: HTTP
// request failed.` at 100, 102-105, 107-109 (the operator is sent to the node; 01 is never named). 6 due with every plan
// of 2+ answered so: the same 2 landings in 10 blocks.
const ambiguousHeavyFirst = (ids: string[]) => (ids.includes("01") || ids.length > 3 ? maxRetries() : undefined)
// Fixed on f11ze (01, probed alone just before the conclusion, probed alone first under it, then remembered while it
// holds; was: landed 101 02 | 106 03 only, sends 2 2 4 4 4 2 2 4 4 4, rpc-error at 100, 102-105, 107-109, 01 never named).
test("rr11x X5 fixed: the most urgent answered Alto's 500 alone: the others land 3 at a time by 103, 01 named at 102 and 103", async () => {
  const r = await run(8, 10, ambiguousHeavyFirst, (j, k) => 1.05 + j * 0.001 - 0.003 * k)
  show("X5", r)
  expect(r.landed).toEqual(["101 02", "102 03,04,05", "103 06,07,08"])
  expect(r.perBlock(100, 4)).toEqual([2, 2, 4, 2])
  expect(r.messages.filter((m) => m.startsWith("102 ") || m.startsWith("103 ")).every((m) => m.includes("send-failed") && m.includes(`0x${"01".repeat(32)} alone`))).toBe(true)
}, 60_000)
test("rr11x X5 FAILS TODAY (02 at 101, 03 at 106, 04-08 never): the 7 others land within 4 blocks, 3 at a time", async () => {
  const r = await run(8, 10, ambiguousHeavyFirst, (j, k) => 1.05 + j * 0.001 - 0.003 * k)
  for (const id of ["02", "03", "04", "05", "06", "07", "08"]) expect(r.landedAt(id), id).toBeLessThanOrEqual(103)
}, 60_000)
