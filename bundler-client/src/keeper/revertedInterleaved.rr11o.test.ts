import { expect, test } from "vitest"
import { resentRecord, trackLandedRecords } from "./testing.js"

// Review rr11o O3 (Low, f11r's `reverted` alert, rr11n N4): the run of reverted inclusions is per Safe and any successful
// inclusion ends it, so a rescue that reverts at every inclusion alerts again after each success of ANOTHER plan of the
// Safe. f11r's own unreached turn makes exactly that pattern: rr11n N4's fixture (I's rescue reverting, C's rescue
// landing at its turn, one block in 4) gives I's runs of 3 reverts broken by C's success, so one `reverted` alert every
// 4 blocks (12 in 48 blocks) instead of the first of the run then once per REVERTED_REALERT_BLOCKS (50).
// Fixture: the tracker alone, one record per block; inclusion k reverts unless k % 4 === 3 (C's turn).
async function run(n: number, keyed = true) {
  // f11s: the records carry their plan's sub-accounts (the sender's, review rr11o O3): I's rescue reverts, C's lands.
  const { alerted } = await trackLandedRecords(n, (k, b) => (keyed ? { ...resentRecord(b, b), subAccounts: [k % 4 === 3 ? "c" : "i"] } : resentRecord(b, b)), (k) => k % 4 !== 3)
  return alerted
}

test("rr11o O3 fixed (f11s): runs keyed by the plan's sub-accounts: I's reverts alert once in 48 blocks; records without sub-accounts keep the per-Safe run", async () => {
  expect(await run(48)).toEqual([100])
  // An older record (no sub-accounts): any success ends the run, as before (one alert every 4 blocks here).
  expect(await run(48, false)).toEqual(Array.from({ length: 12 }, (_, j) => 100 + 4 * j))
}, 60_000)

test("rr11o O3 FAILS TODAY: reverted inclusions alert at most twice per REVERTED_REALERT_BLOCKS (50) while they keep coming", async () => {
  const alerted = await run(48)
  expect(alerted.length).toBeLessThanOrEqual(2)
})
