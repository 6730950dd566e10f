import { type Address, getAddress } from "viem"
import { describe, expect, test } from "vitest"
import { SAFE } from "../testing.js"
import { FleetStep } from "./step.js"
import { IN_FLIGHT_NONCE, fleetStepOf, inFlightRecord, stateOf, stepConfigOf, stepFixture } from "./scan.testing.js"

// Review rr16 (issue 16: "revoked or expired keys stop work for that Safe at once"). F5 (Low, noise): an operation
// accepted by the bundler just before its Safe's owner revoked the keeper's key can no longer validate (the bundler
// drops it at its re-simulation), so its nonce is never used. FleetStep's tracked-only branch keeps tracking the record
// (right: a key added back could make it valid again), but nothing ever ends it: the Safe stays in `pendingSafes()` and
// is read and stepped every block for good, and the tracker raises a `stalled` alert (a webhook to the owner who just
// revoked the keeper) every `stallAfterBlocks` blocks, for ever.
// Fixed (f16c): FleetStep drops a record whose key is revoked and nonce unused, with one `key-revoked` alert.

const NONCE = IN_FLIGHT_NONCE
const record = inFlightRecord

/** Runs the revoked Safe's step at blocks 101..220; its outcomes, the store and the events. */
async function revokedRun(chainNonce = NONCE, last = 220n) {
  const { events, logger, metrics, store } = await stepFixture(record)
  const config = stepConfigOf()
  const step = fleetStepOf({ config, publicClient: { getBlockNumber: async () => last, getLogs: async () => [] }, store, metrics, logger, events, dryRun: false })
  // The lens after the revoke: key inactive, the keeper-lane nonce still the record's (never used).
  const revoked = { ...stateOf(SAFE as Address), keeperKey: { active: false, validAfter: 0, validUntil: 2 ** 40, keyGeneration: 5, ttl: 0 }, keeperNonce: chainNonce }
  const outcomes = new Set<string>()
  for (let block = 101n; block <= last; block++) outcomes.add(await step.run({ safe: SAFE as Address, block, timestamp: 1_000n, state: revoked as never, userOps: [] }))
  return { outcomes, store, events, stalled: events.filter((e) => e.type === "alert" && e.kind === "stalled"), revoked: events.filter((e) => e.type === "alert" && e.kind === "key-revoked") }
}

describe("rr16 F5 (fixed): an operation in flight when the key is revoked ends with one key-revoked alert", () => {
  test("fixed (was: the record kept for good and 'stalled' alerted 10 times in 120 blocks): one key-revoked alert, the record dropped, the Safe out of the read set, no stalled alert", async () => {
    const { outcomes, store, stalled, revoked } = await revokedRun()
    expect([...outcomes]).toEqual(["tracked-only"])
    expect(await store.pendingSafes()).toEqual([])
    expect(stalled.length).toBe(0)
    expect(revoked).toHaveLength(1)
    expect(revoked[0]).toMatchObject({ safe: getAddress(SAFE), block: 101n })
    expect((revoked[0] as { message: string }).message).toMatch(/revoked with its operation \(nonce \d+\) in flight and unused at block 101/)
  })

  test("a Safe whose key is revoked with an operation in flight alerts 'stalled' at most once (the record may stay)", async () => {
    const { stalled } = await revokedRun()
    expect(stalled.length).toBeLessThanOrEqual(1)
  })

  test("a revoked key whose operation's nonce was used (it landed before the revoke) is tracked, not dropped", async () => {
    const { outcomes, revoked, store } = await revokedRun(NONCE + 1n, 101n)
    expect(revoked).toHaveLength(0)
    // The tracker handles the landed nonce (it ends the record: the chain's nonce is past it), not the revoke rule.
    expect([...outcomes]).toEqual(["tracked-only"])
    expect(await store.pendingSafes()).toEqual([])
  })
})
