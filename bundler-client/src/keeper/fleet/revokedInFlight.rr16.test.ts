import { pino } from "pino"
import { type Address, getAddress } from "viem"
import { describe, expect, test } from "vitest"
import type { KeeperEvent } from "../events.js"
import { KeeperMetrics } from "../metrics.js"
import { KeeperStateStore, type PendingOperation } from "../stateFile.js"
import { SAFE, STEP_RISK } from "../testing.js"
import { FleetStep } from "./step.js"
import { MemoryFleetStore } from "./store.js"
import { fleetStepOf, stateOf } from "./scan.testing.js"

// Review rr16 (issue 16: "revoked or expired keys stop work for that Safe at once"). F5 (Low, noise): an operation
// accepted by the bundler just before its Safe's owner revoked the keeper's key can no longer validate (the bundler
// drops it at its re-simulation), so its nonce is never used. FleetStep's tracked-only branch keeps tracking the record
// (right: a key added back could make it valid again), but nothing ever ends it: the Safe stays in `pendingSafes()` and
// is read and stepped every block for good, and the tracker raises a `stalled` alert (a webhook to the owner who just
// revoked the keeper) every `stallAfterBlocks` blocks, for ever.
// Fixed (f16c): FleetStep drops a record whose key is revoked and nonce unused, with one `key-revoked` alert.

const NONCE = (5n << 64n) | 3n
const record: PendingOperation = {
  userOpHash: `0x${"ab".repeat(32)}`, nonce: NONCE.toString(), sentBlock: "100", firstSentBlock: "100", sentAt: 0, maxFeePerGas: "1", maxPriorityFeePerGas: "1",
  sponsored: true, attempts: 1, triggerBlock: "100", triggerAt: 0,
}

/** Runs the revoked Safe's step at blocks 101..220; its outcomes, the store and the events. */
async function revokedRun(chainNonce = NONCE, last = 220n) {
  const events: KeeperEvent[] = []
  const logger = pino({ level: "silent" })
  const metrics = new KeeperMetrics()
  const store = new MemoryFleetStore(new KeeperStateStore(undefined))
  store.bind({ chainId: 1, entryPoint: "0x0000000071727De22E5E9d8BAf0edAc6f37da032", module: "0x00000000000000000000000000000000000000d1", keeper: "0x00000000000000000000000000000000000000a1" })
  await store.setPending(SAFE, record)
  const config = {
    deployment: { entryPoint: "0x0000000071727De22E5E9d8BAf0edAc6f37da032", adapters: {} },
    resubmitAfterBlocks: 4,
    stallAfterBlocks: 12,
    logWindowBlocks: 2_000,
    fleet: { sendConcurrency: 1 },
    safes: [],
    risk: STEP_RISK,
  }
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
