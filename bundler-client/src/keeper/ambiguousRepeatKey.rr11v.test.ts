import { type Hex, HttpRequestError, RpcRequestError } from "viem"
import { expect, test } from "vitest"
import { type SafeRuntime, newSafeRuntime } from "./runtime.js"
import { SAFE, STEP_RISK, USDC, refusingSender, stepHarness, stepSafeState, stepSnapshotAt, stepSub, subIdOf } from "./testing.js"

// Review rr11v (break-it of f11zb: `SafeRuntime.ambiguousFailure` / `tooBigAlone`). Fixture: `due` USDC sub-accounts
// (ids 01, 02, ...), health per (index, step) (below 1.1: "below", else "inside"), through `refusingSender` whose
// `thrown` sees each plan's first id bytes and the block. Each test prints what it measured.
// Fixed f11zc; since f11zf the memory is the alone table (`SafeRuntime.aloneFacts`): an ambiguous answer to a plan of
// several makes one probe (AMBIGUOUS_PROBES_PER_STEP, in rotation) until one is accepted, after which the same answer is
// the Safe's plans' size for ALONE_FACT_BLOCKS (narrowed at once, AMBIGUOUS_NARROW_PROBES plans of several).
const aa21 = () => new RpcRequestError({ url: "https://bundler.example/rpc", body: { method: "eth_estimateUserOperationGas" }, error: { code: -32500, message: "UserOperation reverted during simulation with reason: AA21 didn't pay prefund" } })
const alto500 = (message: string) => () => new HttpRequestError({ url: "https://bundler.example/rpc", status: 500, body: { method: "eth_estimateUserOperationGas" }, details: JSON.stringify({ message }) })
const maxRetries = alto500("Max retries reached when calling binarySearchCallGas")
const nodeDown = alto500("Unknown error, could not parse simulate validation result.")

/** The sub-accounts the alone table holds refused alone (`SafeRuntime.aloneFacts`, verdict `refused`). */
const tooBigAloneOf = (rt: SafeRuntime) => [...(rt.aloneFacts?.facts ?? new Map()).entries()].filter(([, f]) => f.verdict === "refused").map(([id]) => id)

async function run(due: number, blocks: number, thrown: (ids: string[], block: bigint) => Error | undefined, health = (j: number, _k: number) => 1.01 + j * 0.001) {
  const ids: Hex[] = Array.from({ length: due }, (_, k) => subIdOf(k + 1))
  const base = refusingSender(() => false, { thrown: (plan, b) => thrown(plan.subAccounts.map((x) => x.slice(2, 4)), b) })
  const { step, events } = stepHarness(undefined, { sender: base.sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  for (let k = 0; k < blocks; k++) {
    rt.backoffUntil = 0
    const subs = base.present(ids.map((id, j) => stepSub(id, USDC, health(j, k), health(j, k) < 1.1 ? "below" : "inside")))
    await step.run(rt, 100n + BigInt(k), { snapshot: stepSnapshotAt(stepSafeState(subs), k) })
  }
  const alerts = events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}`] : []))
  const landedAt = (id: string) => r0(base.landed.find((s) => s.split(" ")[1]?.split(",").includes(id)))
  const r0 = (s: string | undefined) => (s === undefined ? undefined : Number(s.split(" ")[0]))
  return { ...base, alerts, rt, landedAt }
}

// V1 (Medium): the repeat key is the EXACT live set. Alto's deterministic "Max retries reached" for every plan of 2+,
// each sub-account alone fits, 6 due, stable. 100: first sighting (rpc-error); 101: repeat, narrowed to 01 alone, sent;
// 102: the plan is now {02..06}, a new key: a "first sighting" again (rpc-error, no probe); 103: narrowed, 02 sent; ...
// The judgement "this answer is the plan's size" is thrown away each time a subset lands. Measured: landed
// "101 01 | 103 02 | 105 03 | 107 04 | 109 05 | 110 06", rpc-error at 100, 102, 104, 106, 108 (the operator is sent to the
// node). 2 blocks per sub-account: 8 due (one module-size plan) take 15 blocks.
test("rr11v V1 (was FAILS TODAY, fixed f11zc): 6 due, every plan of 2+ answered Alto's deterministic 500, each alone fits: all land within 6 blocks", async () => {
  const r = await run(6, 12, (ids) => (ids.length > 1 ? maxRetries() : undefined))
  console.log("V1 landed", r.landed.join(" | "), "||", r.alerts.join(" | "))
  expect(r.landedAt("06")).toBeLessThanOrEqual(105)
}, 60_000)

// V2 (Medium): a crash in which one more sub-account becomes due each block (the usual shape of a market-wide fall): the
// plan's set, hence the key, differs at every step, so the same deterministic answer is never a "repeat" while the set
// grows. Fixture: 01, 02 due at 100, one more each block up to 06 at 104; every plan of 2+ answered "Max retries
// reached", each alone fits. Measured: nothing sent that lands at 100-104 (rpc-error each block), 01 lands at 105, 02 at
// 107: the most urgent waits 5 blocks although it fit alone from block 100.
test("rr11v V2 (was FAILS TODAY, fixed f11zc): due set growing by one a block, plans of 2+ answered Alto's deterministic 500: the most urgent lands within 2 blocks", async () => {
  const r = await run(6, 8, (ids) => (ids.length > 1 ? maxRetries() : undefined), (j, k) => (j <= k + 1 ? 1.01 + j * 0.001 : 1.3))
  console.log("V2 landed", r.landed.join(" | "), "||", r.alerts.join(" | "))
  expect(r.landedAt("01")).toBeLessThanOrEqual(101)
  // f11zc: probed alone at the first sighting (AMBIGUOUS_PROBES_PER_STEP), 01 lands at 100.
  expect(r.landedAt("01")).toBe(100)
}, 60_000)

// V3 (Low): tooBigAlone is kept for ALONE_FACT_BLOCKS whatever changes. 33 due; at 100 every plan holding 01
// (the most urgent, health 1.01 falling 0.002 a block) is refused AA21 (prefund short); from 101 the prefund is topped up
// and 01 fits alone or with up to 3 others. At 101-103 the plan without 01 is probed first and accepted, so 01 is never
// probed and waits behind 24 less urgent ones. Measured: 01 lands at 104 (announced at 100: "after the others for 3
// blocks"; no later alert names it). Bounded (no starvation: the first block is kept, not renewed).
test("rr11v V3 (was FAILS TODAY, fixed f11zc): the most urgent, too big only at 100, lands by 102 once it fits", async () => {
  const r = await run(33, 5, (ids, b) => (ids.includes("01") && (b === 100n || ids.length > 4) ? aa21() : undefined), (j, k) => (j === 0 ? 1.01 - 0.002 * k : 1.02 + j * 0.001))
  console.log("V3 landed", r.landed.join(" | "))
  expect(r.landedAt("01")).toBeLessThanOrEqual(102)
  // f11zc: the memory of 01 is forgotten at 101 (its health fell), so it is in the first probe and lands at 101.
  expect(r.landedAt("01")).toBe(101)
}, 60_000)

// V4 (Low): a real 5-block outage answered Alto's "could not parse simulate validation result." (the same text each
// block). Alerts are right (rpc-error at 100-104, nothing blamed, all land at 105), but from 101 every block is taken as
// a repeat and narrowed: 7-8 sends per block to a bundler that is down (34 sends in 6 blocks where 6 would do), and every sub-account is
// written into tooBigAlone as "too big alone" (01-03 at 101, 04 at 102), so a real size refusal right after the outage
// would be probed in the wrong order for 3 blocks.
test("rr11v V4 (was FAILS TODAY, fixed f11zc): a 5-block outage with one 500 text: at most 2 sends a block, no size memory written", async () => {
  const r = await run(4, 7, (_ids, b) => (b <= 104n ? nodeDown() : undefined))
  console.log("V4 sent", r.sent.length, "||", r.alerts.join(" | "), "|| mem", tooBigAloneOf(r.rt).length)
  expect(r.alerts.filter((a) => Number(a.split(" ")[0]) <= 104).every((a) => a.endsWith("rpc-error"))).toBe(true)
  expect(Math.max(...[100, 101, 102, 103, 104].map((b) => r.sent.filter((s) => s.startsWith(`${b} `)).length))).toBeLessThanOrEqual(2)
  expect(tooBigAloneOf(r.rt)).toEqual([])
}, 60_000)

// f11zc (the cap's other side): a size conclusion at 100 (plans of 2+ answered "Max retries reached", 01 alone accepted),
// then from 101 every send answered in the same words (an outage that reads alike). While the conclusion lasts (3 blocks)
// each block narrows with at most AMBIGUOUS_NARROW_PROBES probes; after it lapses, one probe alone: 2 sends. Nothing is
// remembered as too big alone.
test("f11zc: an outage in the words of a fresh size conclusion costs at most 1 + AMBIGUOUS_NARROW_PROBES sends a block, then 2", async () => {
  const { AMBIGUOUS_NARROW_PROBES } = await import("./stepIsolation.js")
  const { ALONE_FACT_BLOCKS: AMBIGUOUS_SIZE_MEMORY_BLOCKS } = await import("./runtime.js")
  const r = await run(6, 8, (ids, b) => (b > 100n || ids.length > 1 ? maxRetries() : undefined))
  const perBlock = [...Array(8).keys()].map((k) => r.sent.filter((s) => s.startsWith(`${100 + k} `)).length)
  console.log("cap sent per block 100..107", perBlock.join(" "), "||", r.landed.join(" | "))
  expect(r.landed).toEqual(["100 01"])
  const lapse = 100 + Number(AMBIGUOUS_SIZE_MEMORY_BLOCKS)
  for (let b = 101; b <= 107; b++) expect(perBlock[b - 100], String(b)).toBeLessThanOrEqual(b <= lapse ? 1 + AMBIGUOUS_NARROW_PROBES : 2)
  expect(perBlock.slice(lapse + 1 - 100)).toEqual(Array(8 - (lapse + 1 - 100)).fill(2))
  expect(tooBigAloneOf(r.rt)).toEqual([])
}, 60_000)
