import { Redis } from "ioredis"
import { pino } from "pino"
import { type Address, type Hex, getAddress } from "viem"
import { privateKeyToAccount } from "viem/accounts"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { forkingNode } from "../bundler-client/src/keeper/fleet/blockReads.testing"
import { RedisFleetStore } from "../bundler-client/src/keeper/fleet/redisStore"
import { stateOf } from "../bundler-client/src/keeper/fleet/scan.testing"
import { FleetStep } from "../bundler-client/src/keeper/fleet/step"
import { type KeeperEvent, KeeperEvents } from "../bundler-client/src/keeper/events"
import { KeeperMetrics } from "../bundler-client/src/keeper/metrics"
import type { PendingOperation } from "../bundler-client/src/keeper/stateFile"
import { SAFE, STEP_RISK } from "../bundler-client/src/keeper/testing"
import { type RedisServer, startRedisServer } from "./redisServer"

// Review rr16d D3 (alert floods, scale-out): the keeper's alert de-duplication lives in the per-process SafeRuntime
// (`rt.reverted` runs, REVERTED_REALERT_BLOCKS = 50, review rr11p P3; likewise `noRescue`, `ruleRefused`,
// `gasCapAlerted`, `clampRefused`, `arithmeticPanic`, `readFailed`, `aaveDust`, `replacementBlocked`), and the fleet's
// shared runtime in Redis (`sharedRuntimeOf`: failures, backoff, trigger, volatility, lastSeen, unreadable) carries none
// of it. In queue mode a Safe's steps land on whichever worker takes the job, so each worker keeps its own run: a
// reverting plan whose inclusions are tracked on W workers alerts `reverted` (a webhook to the owner) up to W times per
// 50 blocks instead of once; and a run ended on one worker (a success) is still open on the others, so the next run's
// first revert, tracked there, is NOT alerted (a lost alert; the `included` notification with success false still goes out).
// One process (the
// embedded keeper, or every step on one worker) alerts once. Real Redis (started by the test), two FleetSteps = two
// workers, each with its own RedisFleetStore connection on one prefix.

const NONCE = (5n << 64n) | 3n
const recordOf = (nonce: bigint, block: bigint): PendingOperation => ({
  userOpHash: `0x${nonce.toString(16).padStart(64, "0")}`, nonce: nonce.toString(), sentBlock: block.toString(), firstSentBlock: block.toString(), sentAt: 0,
  maxFeePerGas: "1", maxPriorityFeePerGas: "1", sponsored: true, attempts: 1, triggerBlock: block.toString(), triggerAt: 0,
})
const revertedEvent = (nonce: bigint, block: bigint, success = false) => ({
  blockNumber: block, transactionHash: `0x${"cd".repeat(32)}` as Hex,
  args: { userOpHash: recordOf(nonce, block).userOpHash as Hex, sender: getAddress(SAFE), paymaster: undefined, nonce, success, actualGasCost: 1n, actualGasUsed: 1n },
})

let redis: RedisServer
const connections: Redis[] = []
beforeAll(async () => {
  redis = await startRedisServer()
})
afterAll(async () => {
  for (const c of connections) c.disconnect()
  await redis?.stop()
})

/** Inclusions of one Safe's operations (one per entry: which worker tracks it, its block, its success), in order. */
async function inclusions(prefix: string, plan: readonly (readonly [0 | 1, bigint, boolean])[]) {
  const events: KeeperEvent[] = []
  const logger = pino({ level: "silent" })
  const clock = { t: 1_700_000_000_000, now() { return this.t } }
  const config = {
    deployment: { entryPoint: "0x0000000071727De22E5E9d8BAf0edAc6f37da032", leverageModule: "0x00000000000000000000000000000000000000d1", adapters: {} },
    resubmitAfterBlocks: 4, stallAfterBlocks: 12, logWindowBlocks: 2_000, fleet: { sendConcurrency: 1 }, safes: [], risk: STEP_RISK,
    costs: { gasPriceGwei: 1, nativePrice: 3000 }, retry: { baseMs: 1_000, maxMs: 60_000 },
  }
  const worker = () => {
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null })
    connections.push(connection)
    const store = new RedisFleetStore(connection, { prefix, leaseMs: 10_000 })
    store.bind({ chainId: 1, entryPoint: config.deployment.entryPoint as Address, module: config.deployment.leverageModule as Address, keeper: "0x00000000000000000000000000000000000000a1" })
    const metrics = new KeeperMetrics()
    const step = new FleetStep({
      config: config as never, clients: { publicClient: forkingNode(10_000n).client } as never, store, keeper: privateKeyToAccount(`0x${"11".repeat(32)}`),
      metrics, logger, events: new KeeperEvents({ logger, metrics, onEvent: (e) => events.push(e) }), clock: clock as never, dryRun: false,
    })
    return { store, step }
  }
  const first = worker()
  const workers = plan.some(([i]) => i === 1) ? [first, worker()] : [first]
  for (const [k, [i, block, success]] of plan.entries()) {
    const w = workers[i] as ReturnType<typeof worker>
    const nonce = NONCE + BigInt(k)
    // The operation in flight, written as the sending worker does (under the Safe's lease).
    expect(await w.store.acquire(SAFE as Address)).toBe(true)
    await w.store.setPending(SAFE as Address, recordOf(nonce, block - 1n))
    await w.store.release(SAFE as Address)
    // Past any backoff the re-plan after `included` leaves (this fake node refuses the fresh read: a send-failed alert).
    clock.t += 600_000
    const state = { ...stateOf(SAFE as Address), keeperNonce: nonce + 1n }
    await w.step.run({ safe: SAFE as Address, block, hash: undefined, timestamp: 1_000n, state: state as never, userOps: [revertedEvent(nonce, block, success)] as never })
  }
  return { included: events.filter((e) => e.type === "included"), reverted: events.filter((e) => e.type === "alert" && e.kind === "reverted") }
}

/** Two reverted inclusions 2 blocks apart, on one worker or on two. */
const twoRevertedInclusions = (prefix: string, sameWorker: boolean) => inclusions(prefix, [[0, 101n, false], [sameWorker ? 0 : 1, 103n, false]])
/** A revert, a success, a revert again (a new run), the success tracked on the other worker when `split`. */
const revertSuccessRevert = (prefix: string, split: boolean) => inclusions(prefix, [[0, 101n, false], [split ? 1 : 0, 120n, true], [0, 140n, false]])

describe("rr16d D3: alert de-duplication is per worker process in queue mode", () => {
  test("one worker (as the embedded keeper): two reverted inclusions 2 blocks apart alert `reverted` once", async () => {
    const { included, reverted } = await twoRevertedInclusions("rr16d-one", true)
    expect(included).toHaveLength(2)
    expect(reverted).toHaveLength(1)
  })

  test("fixed (was: twice, each worker's own run): the same two inclusions tracked on two workers alert `reverted` once (the run in the shared runtime)", async () => {
    const { included, reverted } = await twoRevertedInclusions("rr16d-two", false)
    expect(included).toHaveLength(2)
    expect(reverted).toHaveLength(1)
  })

  test("one worker: revert, success, revert again (a new run) alert `reverted` twice", async () => {
    expect((await revertSuccessRevert("rr16d-one-b", false)).reverted).toHaveLength(2)
  })

  test("fixed (was: 1, the new run's revert not alerted): the success tracked on the other worker ends the run for both: revert, success, revert alert twice", async () => {
    const { included, reverted } = await revertSuccessRevert("rr16d-two-b", true)
    expect(included).toHaveLength(3)
    expect(reverted).toHaveLength(2)
  })

  test("rr16d D3 (was FAILS TODAY): a revert after a success tracked on another worker is alerted (a new run), as one process does", async () => {
    expect((await revertSuccessRevert("rr16d-fixed-b", true)).reverted).toHaveLength(2)
  })

  test("rr16d D3 (was FAILS TODAY): a fleet of two workers alerts a reverting Safe's run once per REVERTED_REALERT_BLOCKS, as one process does", async () => {
    const { reverted } = await twoRevertedInclusions("rr16d-fixed", false)
    expect(reverted).toHaveLength(1)
  })
})
