import { pino } from "pino"
import type { Address } from "viem"
import { describe, expect, test } from "vitest"
import type { KeeperEvent } from "../events.js"
import { KeeperMetrics } from "../metrics.js"
import { KeeperStateStore, type PendingOperation } from "../stateFile.js"
import { SAFE, STEP_RISK } from "../testing.js"
import { MemoryFleetStore } from "./store.js"
import { fleetStepOf, stateOf } from "./scan.testing.js"

// Review rr16b (issue 16, f16c's F5 fix). E1 (Low, noise): the fix drops an unused in-flight operation with one
// `key-revoked` alert only when the lens says "key revoked". An operation in flight when the key EXPIRES (validUntil
// passed: the operation can no longer validate either, its nonce stays unused) keeps the old rr16 F5 behaviour: the
// Safe stays in the read set and the owner gets a `stalled` alert every stallAfterBlocks blocks for ever.
// (Same harness as revokedInFlight.rr16.test.ts.)

const NONCE = (5n << 64n) | 3n
const record: PendingOperation = {
  userOpHash: `0x${"ab".repeat(32)}`, nonce: NONCE.toString(), sentBlock: "100", firstSentBlock: "100", sentAt: 0, maxFeePerGas: "1", maxPriorityFeePerGas: "1",
  sponsored: true, attempts: 1, triggerBlock: "100", triggerAt: 0,
}

async function expiredRun(last = 220n) {
  const events: KeeperEvent[] = []
  const logger = pino({ level: "silent" })
  const metrics = new KeeperMetrics()
  const store = new MemoryFleetStore(new KeeperStateStore(undefined))
  store.bind({ chainId: 1, entryPoint: "0x0000000071727De22E5E9d8BAf0edAc6f37da032", module: "0x00000000000000000000000000000000000000d1", keeper: "0x00000000000000000000000000000000000000a1" })
  await store.setPending(SAFE, record)
  const config = { deployment: { entryPoint: "0x0000000071727De22E5E9d8BAf0edAc6f37da032", adapters: {} }, resubmitAfterBlocks: 4, stallAfterBlocks: 12, logWindowBlocks: 2_000, fleet: { sendConcurrency: 1 }, safes: [], risk: STEP_RISK }
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
