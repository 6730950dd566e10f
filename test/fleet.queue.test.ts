import { spawn } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { Redis } from "ioredis"
import { type Address, getAddress } from "viem"
import { privateKeyToAccount } from "viem/accounts"
import { describe, expect, test } from "vitest"
import { connectKeeperClients } from "../bundler-client/src/keeper/clients"
import type { KeeperEvent } from "../bundler-client/src/keeper/events"
import { KeeperEvents } from "../bundler-client/src/keeper/events"
import { RedisFleetStore, fleetKeys } from "../bundler-client/src/keeper/fleet/redisStore"
import { readChunk } from "../bundler-client/src/keeper/fleet/scan"
import { FleetStep } from "../bundler-client/src/keeper/fleet/step"
import { KeeperMetrics } from "../bundler-client/src/keeper/metrics"
import { StoreFencedError } from "../bundler-client/src/keeper/store"
import { systemClock } from "../bundler-client/src/keeper/clock"
import { pino } from "pino"
import { type FleetEnv, fleetHealth } from "./fleetEnv"
import { bundlingMode, fleetWithRedis, keeperOpsOf, queueConfigJson, safesOf, startNode, startWebhookReceiver } from "./fleetQueue"
import { waitFor } from "./keeperProbes"
import type { RedisServer } from "./redisServer"

let f: FleetEnv
let redis: RedisServer
const dir = mkdtempSync(join(tmpdir(), "levpilot-fleet-"))

fleetWithRedis((env, server) => {
  f = env
  redis = server
})

const sameSet = (a: readonly Address[], b: readonly Address[]) => expect(new Set(a.map((x) => getAddress(x)))).toEqual(new Set(b.map((x) => getAddress(x))))

/** Every Safe in `safes` has exactly one keeper operation on chain since `from`, and it succeeded. */
const oneOpEach = async (safes: readonly Address[], from: bigint) => {
  for (const safe of safes) {
    const ops = await keeperOpsOf(f, safe, from)
    expect(ops.length, `keeper operations of ${safe}`).toBe(1)
    expect(ops[0]?.args.success).toBe(true)
  }
}

/** The pending intents in Redis under `prefix` (every scope's hash: `<prefix>:pending:<chain>:<entryPoint>:<module>:<keeper>`), by Safe (lower case). */
const pendingIn = async (prefix: string) => {
  const client = new Redis(redis.url)
  try {
    const hashes = await client.keys(`${fleetKeys(prefix).pending}:*`)
    return Object.assign({}, ...(await Promise.all(hashes.map((h) => client.hgetall(h))))) as Record<string, string>
  } finally {
    client.disconnect()
  }
}

describe("fleet mode on BullMQ + a real Redis server", () => {
  test("two nodes share the fleet: every Safe checked each block, each out-of-band Safe rebalanced once, every alert and rebalance posted to the webhook (JSON, signed, retried)", async () => {
    const calm = await f.createSafes([fleetHealth.calm, fleetHealth.calm, fleetHealth.calm])
    const edge = await f.createSafes([fleetHealth.edge, fleetHealth.edge, fleetHealth.edge])
    const hook = await startWebhookReceiver({ failFirst: 1 })
    process.env.LEVPILOT_TEST_WEBHOOK_SECRET = "test-secret"
    const json = queueConfigJson(f, redis.url, [...calm, ...edge], {
      webhook: { url: hook.url, events: ["alert", "included"], backoffMs: 100, maxAttempts: 5, secretEnv: "LEVPILOT_TEST_WEBHOOK_SECRET" },
      retry: { baseMs: 200, maxMs: 1_000 },
    })
    const config = f.fleetConfig(json)
    const a = await startNode(f, config)
    const b = await startNode(f, config)
    try {
      expect(a.node.isLeader).toBe(true)
      expect(b.node.isLeader).toBe(false)
      const all = () => [...a.events, ...b.events]
      // The first head: every Safe is new, so every Safe gets a step (solved), on one node or the other.
      await waitFor("every Safe observed", () => new Set(safesOf(all(), "observed")).size === 6 || undefined, 40_000)
      sameSet([...new Set(safesOf(all(), "observed"))], [...calm, ...edge])

      // The paymaster refuses: each out-of-band Safe raises an alert, posted to the webhook; nothing is sent.
      f.env.paymaster.setSponsoring(false)
      const from = await f.shock(0.9)
      try {
        await waitFor("an alert posted per out-of-band Safe", () => new Set(hook.delivered().filter((r) => r.body.type === "alert").map((r) => getAddress(r.body.safe as string))).size === edge.length || undefined, 40_000)
      } finally {
        f.env.paymaster.setSponsoring(true)
      }
      const alerts = hook.delivered().filter((r) => r.body.type === "alert")
      sameSet([...new Set(alerts.map((r) => r.body.safe as Address))], edge)
      expect(alerts.every((r) => r.body.kind === "paymaster-refused")).toBe(true)
      expect(safesOf(all(), "sent")).toEqual([])

      // Sponsoring again: each out-of-band Safe rebalanced once (one node sends it), its inclusion posted.
      await waitFor("every out-of-band Safe included", () => new Set(safesOf(all(), "included")).size === edge.length || undefined, 60_000)
      sameSet(safesOf(all(), "included"), edge)
      expect(safesOf(all(), "sent").sort()).toEqual([...edge].sort())
      await oneOpEach(edge, from)
      for (const safe of calm) expect(await keeperOpsOf(f, safe, from)).toEqual([])
      await waitFor("every inclusion posted", () => hook.delivered().filter((r) => r.body.type === "included").length === edge.length || undefined, 20_000)
      for (const r of hook.delivered()) {
        expect(r.headers["content-type"]).toBe("application/json")
        expect(hook.verify(r, "test-secret")).toBe(true)
        expect(r.body.keeper).toBe(privateKeyToAccount(f.env.keys.keeper).address)
        expect(r.body.chainId).toBe(f.env.devnet.chain.id)
        // First attempt answered 503, delivered on the retry with the same id and body.
        expect(hook.attempts.get(r.id)).toBe(2)
        expect(hook.received.filter((x) => x.id === r.id).map((x) => x.raw)).toEqual([r.raw, r.raw])
      }
      const included = hook.delivered().filter((r) => r.body.type === "included")
      sameSet(included.map((r) => r.body.safe as Address), edge)
      expect(included.every((r) => r.body.success === true && /^0x[0-9a-f]{64}$/.test(r.body.userOpHash as string))).toBe(true)

      // Both nodes ran steps: the work is shared.
      expect(a.events.some((e) => e.type === "observed")).toBe(true)
      expect(b.events.some((e) => e.type === "observed")).toBe(true)
    } finally {
      await Promise.all([a.node.stop(), b.node.stop()])
      await hook.stop()
    }
  })

  test("two workers racing for one Safe: one step runs, the other finds it busy, one operation; a stale worker's writes are fenced", async () => {
    const [safe] = (await f.createSafes([fleetHealth.edge * 0.9])) as [Address]
    const json = queueConfigJson(f, redis.url, [safe])
    const config = f.fleetConfig(json)
    const prefix = (json.fleet.queue as { prefix: string }).prefix
    const clients = await connectKeeperClients(config, f.env.devnet.chain)
    const keeper = privateKeyToAccount(f.env.keys.keeper)
    const logger = pino({ level: "silent" })
    const events: KeeperEvent[] = []
    const connections = [new Redis(redis.url), new Redis(redis.url)]
    const worker = (redisClient: Redis) => {
      const metrics = new KeeperMetrics()
      const store = new RedisFleetStore(redisClient, { prefix, leaseMs: 5_000 })
      const keeperEvents = new KeeperEvents({ logger, metrics, onEvent: (e) => events.push(e) })
      return { store, step: new FleetStep({ config, clients, store, keeper, metrics, logger, events: keeperEvents, clock: systemClock, dryRun: false }) }
    }
    const [w1, w2] = connections.map(worker) as [ReturnType<typeof worker>, ReturnType<typeof worker>]
    try {
      await bundlingMode(f, "manual")
      const block = await f.env.publicClient.getBlockNumber({ cacheTime: 0 })
      const chunk = await readChunk(clients.publicClient, { safes: [safe], block, keeper: keeper.address, deployment: config.deployment })
      const item = { safe, block, timestamp: chunk.timestamp, state: chunk.states[0] as NonNullable<(typeof chunk.states)[0]>, userOps: [] }
      const outcomes = await Promise.all([w1.step.run(item), w2.step.run(item)])
      expect(outcomes.sort()).toEqual(["busy", "done"])
      expect(safesOf(events, "sent")).toEqual([safe])
      const pending = await w1.store.pending(safe)
      expect(pending?.userOpHash).toMatch(/^0x[0-9a-f]{64}$/)

      // The next block, both again: whoever runs it finds the intent in Redis and tracks it; nothing new is sent.
      const next = await waitFor("a new block", async () => {
        const n = await f.env.publicClient.getBlockNumber({ cacheTime: 0 })
        return n > block ? n : undefined
      })
      const again = await readChunk(clients.publicClient, { safes: [safe], block: next, keeper: keeper.address, deployment: config.deployment })
      const item2 = { ...item, block: next, timestamp: again.timestamp, state: again.states[0] as NonNullable<(typeof again.states)[0]> }
      expect((await Promise.all([w1.step.run(item2), w2.step.run(item2)])).sort()).toEqual(["busy", "done"])
      expect(safesOf(events, "sent")).toEqual([safe])

      // Fencing: worker 1 holds the lease, which then expires (a stall); worker 2 takes the Safe over. Worker 1's
      // late writes are refused and worker 2's intent stays.
      expect(await w1.store.acquire(safe)).toBe(true)
      expect(await w2.store.acquire(safe)).toBe(false)
      await connections[0]?.del(fleetKeys(prefix).lease(safe))
      expect(await w2.store.acquire(safe)).toBe(true)
      await expect(w1.store.setPending(safe, undefined)).rejects.toBeInstanceOf(StoreFencedError)
      await expect(w1.store.saveRuntime(safe, { failures: 9, backoffUntil: 0, triggerBlock: undefined, triggerAt: 0, volatility: {}, lastSeen: undefined, blockSeconds: undefined })).rejects.toThrow(
        /no longer holds the lease on Safe/,
      )
      expect((await w2.store.pending(safe))?.userOpHash).toBe(pending?.userOpHash)
      await w2.store.setPending(safe, pending)
      await w1.store.release(safe)
      expect(await connections[1]?.exists(fleetKeys(prefix).lease(safe))).toBe(1)
      await w2.store.release(safe)

      await bundlingMode(f, "auto")
      await waitFor("the one operation included", async () => ((await keeperOpsOf(f, safe, block)).length === 1 ? true : undefined), 40_000)
      await oneOpEach([safe], block)
    } finally {
      await bundlingMode(f, "auto")
      for (const c of connections) c.disconnect()
    }
  })

  test("the Redis server killed and restarted with operations in flight: the intents survive, each is tracked to its inclusion, nothing is sent twice", async () => {
    const edge = await f.createSafes([fleetHealth.edge, fleetHealth.edge])
    const json = queueConfigJson(f, redis.url, edge)
    const prefix = (json.fleet.queue as { prefix: string }).prefix
    const config = f.fleetConfig(json)
    const a = await startNode(f, config)
    try {
      await waitFor("both Safes observed", () => new Set(safesOf(a.events, "observed")).size === 2 || undefined, 40_000)
      await bundlingMode(f, "manual")
      const from = await f.shock(0.9)
      await waitFor("both sent", () => new Set(safesOf(a.events, "sent")).size === 2 || undefined, 40_000)
      const before = await pendingIn(prefix)
      expect(Object.keys(before).length).toBe(2)

      await redis.restart(1_000)
      const after = await pendingIn(prefix)
      expect(after).toEqual(before)
      await bundlingMode(f, "auto")
      await waitFor("both included after the restart", () => new Set(safesOf(a.events, "included")).size === 2 || undefined, 60_000)
      expect(safesOf(a.events, "sent").sort()).toEqual([...edge].sort())
      await oneOpEach(edge, from)
      expect(await pendingIn(prefix)).toEqual({})
      // The fleet keeps working after the restart: a new block's pass checks both Safes.
      const stats = await waitFor("a block checked after the restart", async () => {
        const head = await f.env.publicClient.getBlockNumber({ cacheTime: 0 })
        const s = await a.node.blockStats(head - 1n)
        return s?.doneAt !== undefined ? s : undefined
      })
      expect(stats.safes).toBe(2)
    } finally {
      await bundlingMode(f, "auto")
      await a.node.stop()
    }
  })

  test("a worker process killed between send and inclusion: another node takes the Safes over and tracks the same operations to inclusion, never a second one", async () => {
    const edge = await f.createSafes([fleetHealth.edge, fleetHealth.edge])
    const json = queueConfigJson(f, redis.url, edge)
    const prefix = (json.fleet.queue as { prefix: string }).prefix
    const configPath = join(dir, "fleet.json")
    writeFileSync(configPath, JSON.stringify(f.fleetConfigJson({ ...json, logLevel: "info" })))
    const child = spawn(process.execPath, [resolve(import.meta.dirname, "../bundler-client/bin/levpilot.mjs"), "keeper", "--config", configPath, "--mode", "fleet"], {
      stdio: ["ignore", "pipe", "pipe"],
    })
    let logs = ""
    child.stdout.on("data", (c: Buffer) => {
      logs += c.toString()
    })
    child.stderr.on("data", (c: Buffer) => {
      logs += c.toString()
    })
    const exited = new Promise((done) => child.once("exit", done))
    let survivor: Awaited<ReturnType<typeof startNode>> | undefined
    try {
      await waitFor("the worker process to lead", () => logs.includes('"msg":"fleet leader"') || undefined, 60_000)
      await bundlingMode(f, "manual")
      const from = await f.shock(0.9)
      await waitFor("both sent by the worker process", () => (logs.match(/"msg":"rebalance sent"/g)?.length ?? 0) >= 2 || undefined, 60_000)
      const inFlight = await pendingIn(prefix)
      expect(Object.keys(inFlight).length).toBe(2)
      child.kill("SIGKILL")
      await exited
      expect(await keeperOpsOf(f, edge[0] as Address, from)).toEqual([])

      survivor = await startNode(f, f.fleetConfig(json))
      await waitFor("the survivor leads (the dead leader's key expired)", () => survivor?.node.isLeader || undefined, 20_000)
      await bundlingMode(f, "auto")
      await waitFor("both included", () => new Set(safesOf(survivor?.events ?? [], "included")).size === 2 || undefined, 60_000)
      expect(safesOf(survivor.events, "sent")).toEqual([])
      const hashes = Object.values(inFlight).map((p) => (JSON.parse(p) as { userOpHash: string }).userOpHash)
      expect(survivor.events.filter((e) => e.type === "included").map((e) => e.type === "included" && e.userOpHash).sort()).toEqual(hashes.sort())
      await oneOpEach(edge, from)
    } finally {
      await bundlingMode(f, "auto")
      if (child.exitCode === null) child.kill("SIGKILL")
      await survivor?.node.stop()
    }
  })
})
