import type { Address } from "viem"
import { describe, expect, test } from "vitest"
import { SAFE } from "../testing.js"
import { IN_FLIGHT_NONCE, fleetStepOf, inFlightRecord, stateOf, stepConfigOf, stepFixture } from "./scan.testing.js"

// Review rr16d D4 (alert flood; rr16 F5's class, not covered by its fix): an operation in flight when the Safe's owner
// PAUSES automation (or re-registers the key with a validAfter in the future: "key not yet valid") can no longer
// validate (LeverageModule._validateKeeperOp: `if (config.paused) revert AutomationPaused(safe)`): the bundler drops it
// at its re-simulation and its nonce stays unused. f16c/f16d end such a record (one `key-revoked` alert) only for
// "key revoked" and "key expired"; for "paused" FleetStep's tracked-only branch keeps tracking it, and the tracker
// alerts `stalled` (a webhook to the owner who just paused the keeper) every `stallAfterBlocks` blocks for the whole
// pause: 10 in 120 blocks, 600 in a day's pause on L1. Keeping the record is right (an unpause may resubmit it at the
// same nonce); alerting an owner every 12 blocks that the operation they paused is stalled is not. Harness as
// revokedInFlight.rr16.test.ts (rr16 F5).

const NONCE = IN_FLIGHT_NONCE
const record = inFlightRecord

/** Steps the Safe at blocks 101..220 with the lens saying `why` (paused, or the key not valid yet) and the nonce unused. */
async function blockedRun(why: "paused" | "not yet valid" | "re-registered") {
  const { events, logger, metrics, store } = await stepFixture(record)
  const config = stepConfigOf()
  // The chain's nonce of the operation's own key (read for an operation of an older key): unused.
  const step = fleetStepOf({ config, publicClient: { getBlockNumber: async () => 220n, getLogs: async () => [], readContract: async () => NONCE }, store, metrics, logger, events, dryRun: false })
  const base = stateOf(SAFE as Address)
  // "re-registered": the key added again with a future validAfter: a fresh salt, so the lens reads another nonce key's nonce.
  const state =
    why === "paused"
      ? { ...base, paused: true, keeperNonce: NONCE }
      : { ...base, keeperKey: { ...base.keeperKey, validAfter: 2 ** 39 }, keeperNonce: why === "re-registered" ? (7n << 64n) | 0n : NONCE }
  const outcomes = new Set<string>()
  for (let block = 101n; block <= 220n; block++) outcomes.add(await step.run({ safe: SAFE as Address, block, timestamp: 1_000n, state: state as never, userOps: [] }))
  return { outcomes, store, stalled: events.filter((e) => e.type === "alert" && e.kind === "stalled"), alerts: events.filter((e) => e.type === "alert") }
}

describe("rr16d D4: an operation in flight while automation is paused alerts `stalled` every stallAfterBlocks", () => {
  test("fixed (was: 10 `stalled` alerts in 120 blocks): paused with the operation's nonce unused: one `stalled` alert, the record kept (an unpause may resubmit it)", async () => {
    const { outcomes, store, stalled, alerts } = await blockedRun("paused")
    expect([...outcomes]).toEqual(["tracked-only"])
    expect(stalled).toHaveLength(1)
    expect(alerts).toHaveLength(1)
    expect(await store.pendingSafes()).toHaveLength(1)
  })

  test("fixed (was: the same 10): the key's validAfter in the future (same registration): one `stalled` alert, the record kept", async () => {
    const { stalled, store } = await blockedRun("not yet valid")
    expect(stalled).toHaveLength(1)
    expect(await store.pendingSafes()).toHaveLength(1)
  })

  test("the key registered again (a new nonce key, validAfter in the future): the operation can never validate: one `key-revoked` alert, the record dropped", async () => {
    const { alerts, store } = await blockedRun("re-registered")
    expect(alerts.map((a) => (a.type === "alert" ? a.kind : a.type))).toEqual(["key-revoked"])
    expect(await store.pendingSafes()).toHaveLength(0)
  })

  test("rr16d D4 (was FAILS TODAY): an owner who paused automation gets at most one alert about the operation in flight", async () => {
    const { stalled } = await blockedRun("paused")
    expect(stalled.length).toBeLessThanOrEqual(1)
  })
})
