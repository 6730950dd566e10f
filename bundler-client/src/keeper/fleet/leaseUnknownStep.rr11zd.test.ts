import { expect, test, vi } from "vitest"
import { redisFleetSteps } from "./redisStep.testing.js"

// Review rr11zd D1 (rr11zc C2's fix, store.ts writePendingRecord: "any other store failure stops the caller"). On the
// fleet's Redis store the in-flight record's write is the lease check. When that check cannot run (ioredis rejects with
// a plain `Error("Connection is closed.")`, or MaxRetriesPerRequestError, or a ReplyError OOM / READONLY), the C2 fix
// rethrows it from the sender: nothing is sent (held). But the caller is SafeStep, whose one guard of the refusal
// isolation (`notThePlansFailure`, errors.ts) and whose alert classification (`run`'s catch) know StoreFencedError and not
// a store failure of any other class: a Redis outage is taken for the PLAN's failure. Real SafeStep + real
// RebalanceSender + real InclusionTracker + real RedisFleetStore over a Redis stub (lease taken, every script rejecting
// "Connection is closed."), two sub-accounts below band. Measured: `send-failed` naming the plan's sub-accounts at every
// block, backoff; at the second block the "unnamed failure" isolation (one plan per sub-account: 3 lease-checked
// attempts); Redis back in the middle of that isolation: a1 sent ALONE and b1 (below its band) left behind with a
// `nothing-to-send` alert saying "the chain's simulation refuses plan-wide every plan listing it".
// Fixed: writePendingRecord throws any store failure other than a full disk or a refused lease as StoreUnavailableError
// (store.ts), which `notThePlansFailure` answers "store" (no isolation, no blame) and SafeStep.run alerts
// `state-store-unavailable` once per run (ended by a successful write), with no backoff: tried again at the next block.

vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({
  ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()),
  sendRebalance: vi.fn(),
  estimateRebalance: vi.fn(),
  checkSubAccountOracles: vi.fn(async () => ({ failing: [] })),
}))

/** SafeSteps at `blocks` (X and I below band) on the Redis store whose lease scripts answer `evalAnswer` (redisFleetSteps). */
const fleetStep = (evalAnswer: () => Promise<unknown>, blocks: bigint[] = [100n]) => redisFleetSteps(evalAnswer, blocks.map((block) => ({ block })))

test("rr11zd D1 (held, reference): the lease check answers 'not yours' (StoreFencedError) in a step: one plan tried, nothing sent, nobody blamed, no alert", async () => {
  const r = await fleetStep(async () => 0)
  console.log(`rr11zd D1 fenced: plans ${JSON.stringify(r.plans)} sends ${r.sends} estimates ${r.estimates} alerts ${JSON.stringify(r.alerts)} refused ${JSON.stringify(r.refused)}`)
  expect(r.sends).toBe(0)
  expect(r.plans).toEqual(["100 a1,b1"])
  expect(r.refused).toEqual([])
  expect(r.alerts).toEqual([])
})

test("rr11zd D1 (was: send-failed 'The plan of sub-accounts a1, b1 failed: Connection is closed.', backoff): the lease check cannot run (Redis connection closed) in a step: nothing sent, the plan tried once, no sub-account blamed or left out", async () => {
  const r = await fleetStep(async () => {
    throw new Error("Connection is closed.")
  })
  console.log(`rr11zd D1 unreachable: plans ${JSON.stringify(r.plans)} sends ${r.sends} estimates ${r.estimates} alerts ${JSON.stringify(r.alerts)} refused ${JSON.stringify(r.refused)} backoffUntil ${r.rt.backoffUntil}`)
  expect(r.sends).toBe(0)
  // A store outage is nobody's plan: no narrowing (one plan per sub-account), no sub-account learned refused.
  expect(r.plans).toEqual(["100 a1,b1"])
  expect(r.refused).toEqual([])
  // Its own alert, naming the store's error; no plan alert, no backoff (tried again at the next block).
  expect(r.alerts).toEqual(["100 state-store-unavailable"])
  expect(r.messages[0]).toMatch(/could not write the in-flight record of Safe .*Connection is closed\./)
  expect(r.rt.backoffUntil).toBe(0)
  expect(r.rt.storeUnavailable).toEqual({ last: 100n })
})

test("rr11zd D1b (was: plans 100 a1,b1 / 101 a1,b1 / 101 a1 / 101 b1, send-failed at 100 and 101): Redis unreachable for two blocks (100, 101): the repeated 'unnamed' failure is not isolated among the plan's sub-accounts, none blamed", async () => {
  const r = await fleetStep(async () => {
    throw new Error("Connection is closed.")
  }, [100n, 101n])
  console.log(`rr11zd D1b unreachable x2: plans ${JSON.stringify(r.plans)} sends ${r.sends} estimates ${r.estimates} alerts ${JSON.stringify(r.alerts)} refused ${JSON.stringify(r.refused)}`)
  expect(r.sends).toBe(0)
  expect(r.plans).toEqual(["100 a1,b1", "101 a1,b1"])
  expect(r.refused).toEqual([])
  // Once per run of the outage.
  expect(r.alerts).toEqual(["100 state-store-unavailable"])
})

test("rr11zd D1c (was: a1 sent alone at 101, b1 alerted nothing-to-send 'the chain's simulation refuses plan-wide every plan listing it'): Redis back after blocks 100-101: the whole plan is sent at 102, no sub-account split off or alerted for the store's outage, and the alert run is ended", async () => {
  let calls = 0
  const r = await fleetStep(async () => {
    calls++
    // Block 100: the intent's check and the sender's clear (2 scripts); block 101: the same for the full plan; then back.
    if (calls <= 4) throw new Error("Connection is closed.")
    return 1
  }, [100n, 101n, 102n])
  console.log(`rr11zd D1c flapping: plans ${JSON.stringify(r.plans)} sends ${r.sends} alerts ${JSON.stringify(r.alerts)} refused ${JSON.stringify(r.refused)} messages ${JSON.stringify(r.messages)}`)
  expect(r.refused).toEqual([])
  expect(r.alerts.filter((a) => a.endsWith("nothing-to-send"))).toEqual([])
  // No plan leaving b1 (below its band) behind for a failure that was Redis's, not its plan's.
  expect(r.plans.filter((p) => !p.includes("b1"))).toEqual([])
  expect(r.plans).toEqual(["100 a1,b1", "101 a1,b1", "102 a1,b1"])
  expect(r.sends).toBe(1)
  expect(r.alerts).toEqual(["100 state-store-unavailable"])
  // The intent's write succeeded at 102: the run ended (the next outage is alerted again).
  expect(r.rt.storeUnavailable).toBeUndefined()
})
