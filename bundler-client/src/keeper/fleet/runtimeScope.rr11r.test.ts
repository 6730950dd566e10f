import type { Address, Hex } from "viem"
import { expect, test } from "vitest"
import { newSafeRuntime } from "../runtime.js"
import { SAFE, STEP_RISK, USDC, stepHarness, stepSafeState, stepSnapshotAt, stepSub } from "../testing.js"
import { RedisFleetStore } from "./redisStore.js"
import { applySharedRuntime, sharedRuntimeOf } from "./store.js"

// Review rr11r R5 (issue 11 item 9a "state is bound to chain, EntryPoint, module and keeper key"; fleet mode).
// RedisFleetStore.bind scopes the in-flight records and the discovery checkpoint, and its docstring says a node of
// another scope on the same Redis and prefix ("another chain, a redeployed module, a rotated key") costs "one extra
// solve, never a skipped Safe" through the shared per-prefix runtimes. But `<prefix>:rt` (sharedRuntimeOf) carried
// `failures` and `backoffUntil`, keyed by Safe address only (before the fix), and SafeStep.run returns silently while
// `now < rt.backoffUntil`. Safe addresses are the same on every chain (CREATE2), so the backoff one scope's node sets
// after a failure (send-failed / rpc-error on chain A) skips the same address's due steps on chain B: no send, no alert.
const scopeA = { chainId: 1, entryPoint: "0x0000000071727De22E5E9d8BAf0edAc6f37da032", module: "0x00000000000000000000000000000000000000aa", keeper: "0x00000000000000000000000000000000000000cc" } as const
const scopeB = { ...scopeA, chainId: 8453 }

function recordingRedis() {
  const keys: string[] = []
  return { keys, redis: { hget: async (key: string) => (keys.push(key), null) } }
}

test("rr11r R5 fixed: two scopes bound on one prefix read their own runtime and newest-step keys; a runtime saved in scope A is not loaded in scope B, so chain A's backoff cannot silence chain B's due Safe", async () => {
  const a = recordingRedis()
  const b = recordingRedis()
  const storeA = new RedisFleetStore(a.redis as never, { prefix: "levpilot", leaseMs: 10_000 })
  const storeB = new RedisFleetStore(b.redis as never, { prefix: "levpilot", leaseMs: 10_000 })
  storeA.bind(scopeA as never)
  storeB.bind(scopeB as never)
  await storeA.loadRuntime(SAFE as Address)
  await storeB.loadRuntime(SAFE as Address)
  await storeA.newestStep(SAFE as Address)
  await storeB.newestStep(SAFE as Address)
  const key = (s: typeof scopeA | typeof scopeB) => `${s.chainId}:${s.entryPoint}:${s.module}:${s.keeper}`.toLowerCase()
  expect(a.keys.map((k) => k.toLowerCase())).toEqual([`levpilot:rt:${key(scopeA)}`, `levpilot:newest-step:${key(scopeA)}`])
  expect(b.keys.map((k) => k.toLowerCase())).toEqual([`levpilot:rt:${key(scopeB)}`, `levpilot:newest-step:${key(scopeB)}`])

  // One Redis (a map of hashes) shared by both scopes: A saves a runtime backing off; B loads none and its step sends.
  const hashes = new Map<string, Map<string, string>>()
  const redis = {
    hget: async (k: string, f: string) => hashes.get(k)?.get(f) ?? null,
    get: async () => "token",
    // FENCED_HSET (2 keys: the lease, the hash) writes; the lease scripts (1 key) only answer.
    eval: async (_script: string, n: number, _lease: string, k: string, _token: string, f: string, v: string) => {
      if (n !== 2) return 1
      const h = hashes.get(k) ?? new Map<string, string>()
      if (v === "") h.delete(f)
      else h.set(f, v)
      hashes.set(k, h)
      return 1
    },
    set: async () => "OK",
  }
  const sharedA = new RedisFleetStore(redis as never, { prefix: "levpilot", leaseMs: 10_000 })
  const sharedB = new RedisFleetStore(redis as never, { prefix: "levpilot", leaseMs: 10_000 })
  sharedA.bind(scopeA as never)
  sharedB.bind(scopeB as never)
  const onA = newSafeRuntime({ address: SAFE as Address, risk: STEP_RISK })
  onA.failures = 3
  onA.backoffUntil = 1_700_000_000_000 + 8_000
  await sharedA.acquire(SAFE as Address)
  await sharedA.saveRuntime(SAFE as Address, sharedRuntimeOf(onA))
  await sharedA.release(SAFE as Address)
  expect((await sharedA.loadRuntime(SAFE as Address))?.backoffUntil).toBe(onA.backoffUntil)
  const loadedOnB = await sharedB.loadRuntime(SAFE as Address)
  expect(loadedOnB).toBeUndefined()
  const sent: string[] = []
  const { step, events } = stepHarness(undefined, { sender: { send: async (_rt: unknown, blk: bigint) => void sent.push(String(blk)) } })
  const onB = newSafeRuntime({ address: SAFE as Address, risk: STEP_RISK })
  if (loadedOnB) applySharedRuntime(onB, loadedOnB)
  await step.run(onB, 100n, { snapshot: stepSnapshotAt(stepSafeState([stepSub(`0x${"e1".repeat(32)}` as Hex, USDC, 1.01, "below")]), 0) })
  expect(sent).toEqual(["100"])
  expect(events.filter((e) => e.type === "alert")).toEqual([])
}, 60_000)

test("rr11r R5 FAILS TODAY: the fleet's shared runtime is bound to the scope like the in-flight records (another scope's backoff never skips this scope's Safe)", async () => {
  const a = recordingRedis()
  const b = recordingRedis()
  const storeA = new RedisFleetStore(a.redis as never, { prefix: "levpilot", leaseMs: 10_000 })
  const storeB = new RedisFleetStore(b.redis as never, { prefix: "levpilot", leaseMs: 10_000 })
  storeA.bind(scopeA as never)
  storeB.bind(scopeB as never)
  await storeA.loadRuntime(SAFE as Address)
  await storeB.loadRuntime(SAFE as Address)
  expect(b.keys).not.toEqual(a.keys)
}, 60_000)
