import type { Address } from "viem"
import { describe, expect, test } from "vitest"
import { SAFE } from "../testing.js"
import { IN_FLIGHT_NONCE, fleetStepOf, inFlightRecord, stateOf, stepConfigOf, stepFixture } from "./scan.testing.js"

// Review rr16b (issue 16, f16c's F5 fix). E1 (Low, noise): the fix drops an unused in-flight operation with one
// `key-revoked` alert only when the lens says "key revoked". An operation in flight when the key EXPIRES (validUntil
// passed: the operation can no longer validate either, its nonce stays unused) keeps the old rr16 F5 behaviour: the
// Safe stays in the read set and the owner gets a `stalled` alert every stallAfterBlocks blocks for ever.
// (Same harness as revokedInFlight.rr16.test.ts.)

const NONCE = IN_FLIGHT_NONCE
const record = inFlightRecord

async function expiredRun(last = 220n) {
  const { events, logger, metrics, store } = await stepFixture(record)
  const config = stepConfigOf()
  const step = fleetStepOf({ config, publicClient: { getBlockNumber: async () => last, getLogs: async () => [] }, store, metrics, logger, events, dryRun: false })
  // The key expired at t = 500 (the steps are at t = 1000); the keeper-lane nonce still the record's.
  const expired = { ...stateOf(SAFE as Address), keeperKey: { active: true, validAfter: 0, validUntil: 500, keyGeneration: 5, ttl: 0 }, keeperNonce: NONCE }
  for (let block = 101n; block <= last; block++) await step.run({ safe: SAFE as Address, block, timestamp: 1_000n, state: expired as never, userOps: [] })
  const kinds = events.filter((e) => e.type === "alert").map((e) => (e as { kind: string }).kind)
  return { store, stalled: kinds.filter((k) => k === "stalled").length, ended: kinds.filter((k) => k === "key-revoked").length }
}

describe("rr16b E1: an operation in flight when the key expires is never ended (F5's fix covers revocation only)", () => {
  test("fixed (f16d): the record is dropped at the first step with one key-revoked alert (reason expired), no stalled alert", async () => {
    const { store, stalled, ended } = await expiredRun()
    expect(await store.pendingSafes()).toEqual([])
    expect(stalled).toBe(0)
    expect(ended).toBe(1)
  })

  test("was FAILS TODAY: an expired key's unused operation ends with one alert, as a revoked key's does", async () => {
    const { store, stalled } = await expiredRun()
    expect(await store.pendingSafes()).toEqual([])
    expect(stalled).toBeLessThanOrEqual(1)
  })
})
