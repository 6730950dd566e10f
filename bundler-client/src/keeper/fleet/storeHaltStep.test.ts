import { Redis } from "ioredis"
import { type Address, getAddress } from "viem"
import { describe, expect, test, vi } from "vitest"
import { StateFileLockedError } from "../stateFile.js"
import { StoreUnavailableError } from "../store.js"
import { SAFE } from "../testing.js"
import { redisFleetSteps } from "./redisStep.testing.js"
import { RedisFleetStore } from "./redisStore.js"
import { IN_FLIGHT_NONCE, fleetStepOf, inFlightRecord, stateOf, stepConfigOf, stepFixture } from "./scan.testing.js"
import type { MemoryFleetStore } from "./store.js"

// Whole-diff review of issue 11 (stop 43), two leftovers:
// 1. The fleet's Redis store threw ioredis' own error when it could not READ a Safe's records (its writes were already
//    StoreUnavailableError): a read of the in-flight record failing inside the SafeStep was taken for the plan's failure
//    (`send-failed` alert naming the Redis error, and a backoff). Now `pending` / `loadRuntime` throw
//    StoreUnavailableError (access "read"): `state-store-unavailable`, once per run, nothing sent, no backoff.
// 2. The fleet step's own store work outside the SafeStep (the shared runtime read, the tracked-only path of a paused or
//    revoked Safe writing its record) that failed or was refused (the embedded fleet's state file held by another
//    keeper) ended as "fleet step failed" (an error log only, the lease release failing over it). Now the step returns
//    `store-halted` and reports it as the SafeStep does (`state-file-locked` on the keeper / `state-store-unavailable`).

vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({
  ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()),
  sendRebalance: vi.fn(),
  estimateRebalance: vi.fn(),
  checkSubAccountOracles: vi.fn(async () => ({ failing: [] })),
}))

describe("a Redis read of the in-flight record that fails inside the SafeStep", () => {
  test("is state-store-unavailable (not send-failed), nothing sent at that block, no backoff: the next block sends", async () => {
    const r = await redisFleetSteps(async () => 1, [{ block: 100n, band: "below" }, { block: 101n, band: "below" }], async (block) => {
      if (block === 100n) throw new Error("Connection is closed.")
      return null
    })
    expect(r.alerts).toEqual(["100 state-store-unavailable"])
    expect(r.messages[0]).toMatch(/could not read the in-flight record of Safe 0x[0-9a-fA-F]{40} \(Connection is closed\.\); nothing was sent/)
    expect(r.plans).toEqual(["101 a1,b1"])
    expect(r.sends).toBe(1)
    expect(r.rt.backoffUntil).toBe(0)
  })

  test("Redis down for three blocks: one alert for the run, nothing sent", async () => {
    const r = await redisFleetSteps(async () => 1, [100n, 101n, 102n].map((block) => ({ block, band: "below" as const })), async () => {
      throw new Error("Connection is closed.")
    })
    expect(r.alerts).toEqual(["100 state-store-unavailable"])
    expect(r.sends).toBe(0)
    expect(r.plans).toEqual([])
  })
})

/** A revoked Safe's fleet steps at blocks 101..103 with an operation in flight whose nonce is unused; `fault` breaks the store. */
async function revokedSteps(fault: "locked" | "write-unavailable" | "read-unavailable") {
  const { events, logger, metrics, store } = await stepFixture(inFlightRecord)
  const locked = new StateFileLockedError({ path: "/var/lib/levpilot/state.json", holder: { pid: 4242, host: "other-host", since: "2026-12-04T00:00:00.000Z" } as never })
  if (fault === "read-unavailable") {
    store.pending = (safe: Address) => {
      throw new StoreUnavailableError({ safe, cause: new Error("Connection is closed."), access: "read" })
    }
  }
  else store.setPending = async (safe: Address) => Promise.reject(fault === "locked" ? locked : new StoreUnavailableError({ safe, cause: new Error("Connection is closed.") }))
  const step = fleetStepOf({ config: stepConfigOf(), publicClient: { getBlockNumber: async () => 103n, getLogs: async () => [] }, store, metrics, logger, events, dryRun: false })
  const revoked = { ...stateOf(SAFE as Address), keeperKey: { active: false, validAfter: 0, validUntil: 2 ** 40, keyGeneration: 5, ttl: 0 }, keeperNonce: IN_FLIGHT_NONCE }
  const outcomes: string[] = []
  for (let block = 101n; block <= 103n; block++) outcomes.push(await step.run({ safe: SAFE as Address, block, timestamp: 1_000n, state: revoked as never, userOps: [] }))
  const alerts = events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}`] : []))
  return { outcomes, alerts, events, store }
}

describe("the fleet step's own store work outside the SafeStep", () => {
  test("a revoked Safe's record write refused by the state file's lock: store-halted, one state-file-locked alert on the keeper, no key-revoked alert", async () => {
    const r = await revokedSteps("locked")
    expect(r.outcomes).toEqual(["store-halted", "store-halted", "store-halted"])
    expect(r.alerts).toEqual(["101 state-file-locked"])
    const alert = r.events.find((e) => e.type === "alert") as { safe: string; message: string }
    expect(alert.message).toMatch(/\/var\/lib\/levpilot\/state\.json/)
    expect(alert.message).toMatch(/process 4242 on host other-host/)
  })

  test("a revoked Safe's record write Redis could not run: store-halted, one state-store-unavailable alert on the Safe", async () => {
    const r = await revokedSteps("write-unavailable")
    expect(r.outcomes).toEqual(["store-halted", "store-halted", "store-halted"])
    expect(r.alerts).toEqual(["101 state-store-unavailable"])
    expect((r.events.find((e) => e.type === "alert") as { safe: string }).safe).toBe(getAddress(SAFE))
  })

  test("the in-flight record's read failing before the SafeStep: store-halted, one state-store-unavailable alert", async () => {
    const r = await revokedSteps("read-unavailable")
    expect(r.outcomes).toEqual(["store-halted", "store-halted", "store-halted"])
    expect(r.alerts).toEqual(["101 state-store-unavailable"])
  })
})

// Review leftover (lo16): the lease's own write. `RedisFleetStore.acquire` let ioredis' error through when Redis could not
// run its `SET ... NX` (before any lease is held), and `FleetStep.run` awaited it outside its store-halt handling: the
// step ended as the fleet keeper's bare "fleet step failed" error log, with no alert. Now the store throws
// StoreUnavailableError (access "write", "the lease") and the step reports it like its other store failures:
// `store-halted`, `state-store-unavailable` once per run, no blame, no backoff, nothing sent.

/** FleetSteps of SAFE (lens state `state`) at `blocks` on `store`; the outcome of each (or what it threw), the alerts. */
async function leaseSteps(store: MemoryFleetStore | RedisFleetStore, blocks: readonly bigint[], state: object = stateOf(SAFE as Address)) {
  const { events, logger, metrics } = await stepFixture()
  const step = fleetStepOf({ config: stepConfigOf(), publicClient: { getBlockNumber: async () => blocks.at(-1), getLogs: async () => [] }, store: store as MemoryFleetStore, metrics, logger, events, dryRun: false })
  const outcomes: string[] = []
  for (const block of blocks) outcomes.push(await step.run({ safe: SAFE as Address, block, timestamp: 1_000n, state: state as never, userOps: [] }).catch((e: unknown) => `threw ${(e as Error).message.split("\n")[0]}`))
  const alerts = events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}`] : []))
  const messages = events.flatMap((e) => (e.type === "alert" ? [String((e as { message?: unknown }).message ?? "")] : []))
  return { outcomes, alerts, messages, events, step }
}

describe("the Safe's lease that Redis could not take (store.acquire throws)", () => {
  test("a store whose acquire throws StoreUnavailableError for three blocks: store-halted each, one state-store-unavailable alert, no release, no backoff; the next block steps", async () => {
    const { store } = await stepFixture()
    let down = true
    const acquire = store.acquire.bind(store)
    store.acquire = async (safe: Address) => {
      if (down) throw new StoreUnavailableError({ safe, cause: new Error("Connection is closed."), what: "the lease" })
      return await acquire(safe)
    }
    const release = vi.spyOn(store, "release")
    const paused = { ...stateOf(SAFE as Address), paused: true }
    const r = await leaseSteps(store, [101n, 102n, 103n], paused)
    expect(r.outcomes).toEqual(["store-halted", "store-halted", "store-halted"])
    expect(r.alerts).toEqual(["101 state-store-unavailable"])
    expect(r.messages[0]).toMatch(/could not write the lease of Safe 0x[0-9a-fA-F]{40} \(Connection is closed\.\); nothing was sent/)
    expect((r.events.find((e) => e.type === "alert") as { safe: string }).safe).toBe(getAddress(SAFE))
    expect(r.events.filter((e) => e.type === "observed")).toEqual([])
    expect(release).not.toHaveBeenCalled()
    const rt = r.step.runtime(SAFE as Address)
    expect(rt.backoffUntil).toBe(0)
    expect(rt.failures).toBe(0)
    expect(rt.storeUnavailable).toBeDefined()

    down = false
    const after = await r.step.run({ safe: SAFE as Address, block: 104n, timestamp: 1_000n, state: paused as never, userOps: [] })
    expect(after).toBe("tracked-only")
    expect(release).toHaveBeenCalledTimes(1)
  })

  test("control: an acquire failing with anything but the store's failure is not swallowed (the step throws it)", async () => {
    const { store } = await stepFixture()
    store.acquire = async () => {
      throw new Error("not a store failure")
    }
    const r = await leaseSteps(store, [101n])
    expect(r.outcomes).toEqual(["threw not a store failure"])
    expect(r.alerts).toEqual([])
  })

  test("the real RedisFleetStore on a closed ioredis connection: StoreUnavailableError from acquire; the step is store-halted, one alert for two blocks", async () => {
    const redis = new Redis({ lazyConnect: true, port: 9 })
    redis.disconnect()
    const store = new RedisFleetStore(redis, { prefix: "levpilot", leaseMs: 10_000 })
    const thrown = await store.acquire(SAFE as Address).catch((e: unknown) => e)
    expect(thrown).toBeInstanceOf(StoreUnavailableError)
    expect((thrown as StoreUnavailableError).access).toBe("write")
    expect((thrown as Error).message).toMatch(/could not write the lease of Safe .* \(Connection is closed\.\)/)
    const r = await leaseSteps(store, [101n, 102n])
    expect(r.outcomes).toEqual(["store-halted", "store-halted"])
    expect(r.alerts).toEqual(["101 state-store-unavailable"])
    expect(r.events.filter((e) => e.type === "observed")).toEqual([])
  })
})
