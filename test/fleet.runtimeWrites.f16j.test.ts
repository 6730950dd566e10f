import { Redis } from "ioredis"
import { pino } from "pino"
import type { Address } from "viem"
import { privateKeyToAccount } from "viem/accounts"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { forkingNode } from "../bundler-client/src/keeper/fleet/blockReads.testing"
import { RedisFleetStore } from "../bundler-client/src/keeper/fleet/redisStore"
import { stateOf } from "../bundler-client/src/keeper/fleet/scan.testing"
import { FleetStep } from "../bundler-client/src/keeper/fleet/step"
import type { SharedRuntime } from "../bundler-client/src/keeper/fleet/store"
import { type KeeperEvent, KeeperEvents } from "../bundler-client/src/keeper/events"
import { KeeperMetrics } from "../bundler-client/src/keeper/metrics"
import type { PendingOperation } from "../bundler-client/src/keeper/stateFile"
import { SAFE, STEP_RISK } from "../bundler-client/src/keeper/testing"
import { type RedisServer, startRedisServer } from "./redisServer"

// f16j: the shared runtime (f16h: with the alert memory, review rr16d D3) was written to Redis at the end of every step,
// changed or not: a paused Safe with an operation in flight, tracked every block, cost one fenced HSET of its whole
// runtime per block and worker. Real Redis (started by the test); the store's writes counted by a wrapper.

let redis: RedisServer
const connections: Redis[] = []
beforeAll(async () => {
  redis = await startRedisServer()
})
afterAll(async () => {
  for (const c of connections) c.disconnect()
  await redis?.stop()
})

class CountingStore extends RedisFleetStore {
  writes = 0
  override async saveRuntime(safe: Address, runtime: SharedRuntime): Promise<void> {
    this.writes += 1
    await super.saveRuntime(safe, runtime)
  }
}

const NONCE = (5n << 64n) | 3n
const record: PendingOperation = {
  userOpHash: `0x${"ab".repeat(32)}`, nonce: NONCE.toString(), sentBlock: "100", firstSentBlock: "100", sentAt: 0,
  maxFeePerGas: "1", maxPriorityFeePerGas: "1", sponsored: true, attempts: 1, triggerBlock: "100", triggerAt: 0,
}

describe("f16j: the shared runtime is written only when it changed", () => {
  test("a paused Safe with its operation in flight, tracked at blocks 101-103 with nothing new: at most one runtime write (was 3)", async () => {
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null })
    connections.push(connection)
    const store = new CountingStore(connection, { prefix: "f16j-writes", leaseMs: 10_000 })
    const config = {
      deployment: { entryPoint: "0x0000000071727De22E5E9d8BAf0edAc6f37da032", leverageModule: "0x00000000000000000000000000000000000000d1", adapters: {} },
      resubmitAfterBlocks: 40, stallAfterBlocks: 120, logWindowBlocks: 2_000, fleet: { sendConcurrency: 1 }, safes: [], risk: STEP_RISK,
      costs: { gasPriceGwei: 1, nativePrice: 3000 }, retry: { baseMs: 1_000, maxMs: 60_000 },
    }
    store.bind({ chainId: 1, entryPoint: config.deployment.entryPoint as Address, module: config.deployment.leverageModule as Address, keeper: "0x00000000000000000000000000000000000000a1" })
    const events: KeeperEvent[] = []
    const logger = pino({ level: "silent" })
    const metrics = new KeeperMetrics()
    const step = new FleetStep({
      config: config as never, clients: { publicClient: forkingNode(10_000n).client } as never, store, keeper: privateKeyToAccount(`0x${"11".repeat(32)}`),
      metrics, logger, events: new KeeperEvents({ logger, metrics, onEvent: (e) => events.push(e) }), clock: { now: () => 1_700_000_000_000 } as never, dryRun: false,
    })
    expect(await store.acquire(SAFE as Address)).toBe(true)
    await store.setPending(SAFE as Address, record)
    await store.release(SAFE as Address)
    const state = { ...stateOf(SAFE as Address), paused: true, keeperNonce: NONCE }
    const outcomes = []
    for (const block of [101n, 102n, 103n]) outcomes.push(await step.run({ safe: SAFE as Address, block, hash: undefined, timestamp: 1_000n, state: state as never, userOps: [] }))
    expect(outcomes).toEqual(["tracked-only", "tracked-only", "tracked-only"])
    expect(await store.pending(SAFE as Address)).toEqual(record)
    console.log("f16j runtime writes", store.writes)
    expect(store.writes).toBeLessThanOrEqual(1)
    // What was written is the runtime: a second worker loading it gets the same.
    expect(await store.loadRuntime(SAFE as Address)).toBeDefined()
  })
})
