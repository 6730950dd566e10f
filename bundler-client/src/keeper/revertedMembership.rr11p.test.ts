import { expect, test } from "vitest"
import { REVERTED_REALERT_BLOCKS } from "./inclusion.js"
import { resentRecord, trackLandedRecords } from "./testing.js"

// Review rr11p P3 (Low, f11s's rr11o O3 fix: `reverted` runs keyed by the plan's EXACT sorted sub-account list): in a
// cascade the due set changes from block to block (one more sub-account due each block, as in a market-wide crash), so
// every reverted inclusion has a new key and starts a new run: one `reverted` alert per block (8 in 8 blocks; per Safe,
// before f11s: 1). And a run is deleted only by a success sharing a sub-account: runs of plans that never land again
// (their sub-accounts back in band by the market, or rescued by a plan of other membership that reverted... ) are kept
// for the process's life (here 8 entries after 8 blocks, none ended).
// Fixture: the tracker alone, one record per block; the record of block k lists a..(a+k) and reverts.
const ids = ["a", "b", "c", "d", "e", "f", "g", "h"]
async function run(n: number) {
  const { alerted, rt } = await trackLandedRecords(n, (k, b) => ({ ...resentRecord(b, b), subAccounts: k < 8 ? ids.slice(0, k + 1) : ["z"] }), () => true)
  return { alerted, runs: [...(rt.reverted?.keys() ?? [])] }
}

// Fixed (f11u): one run per sub-account, continued by any reverting plan listing it; a run not continued within
// REVERTED_REALERT_BLOCKS is pruned.
test("rr11p P3 fixed: a reverting plan whose membership grows by one each block is one run: 1 alert in 8 blocks, one run per sub-account", async () => {
  const { alerted, runs } = await run(8)
  expect(alerted).toEqual([100])
  expect(runs.sort()).toEqual(ids)
}, 60_000)

test("rr11p P3 (was FAILS TODAY): reverted inclusions of overlapping plans alert at most twice per REVERTED_REALERT_BLOCKS", async () => {
  const { alerted } = await run(8)
  expect(alerted.length).toBeLessThanOrEqual(2)
})

test("rr11p P3: runs not continued within REVERTED_REALERT_BLOCKS are pruned; a disjoint plan's run alerts on its own", async () => {
  // Blocks 100-107: a..h; from 108 the plan of z alone reverts (a run of its own: alerted at 108, again at 158).
  const { alerted, runs } = await run(60)
  expect(alerted).toEqual([100, 108, 108 + Number(REVERTED_REALERT_BLOCKS)])
  expect(runs).toEqual(["z"])
}, 60_000)
