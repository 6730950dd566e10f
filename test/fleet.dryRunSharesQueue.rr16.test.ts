import { Queue } from "bullmq"
import { Redis } from "ioredis"
import { pino } from "pino"
import type { Address } from "viem"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { toJob } from "../bundler-client/src/keeper/fleet/codec"
import { stateOf } from "../bundler-client/src/keeper/fleet/scan.testing"
import { FleetNode, dryRunPrefix } from "../bundler-client/src/keeper/fleet/queueNode"
import { SAFE, STEP_RISK } from "../bundler-client/src/keeper/testing"
import { waitFor } from "./keeperProbes"
import { type RedisServer, startRedisServer } from "./redisServer"

// Review rr16 (issue 16, scale-out). F6: `levpilot keeper --mode fleet --dry-run` (documented in the CLI's usage line)
// starts a node on the SAME queue as the production fleet (the configuration's `fleet.queue` prefix): it takes its
// share of the `step` jobs (and may lead). A step it takes is solved and printed, never sent; the job is done, so no
// production node runs it at that block. An operator who previews a configuration with --dry-run against the fleet's
// Redis delays every out-of-band Safe whose step it wins (one block each time, at random; with 1 dry-run node in N,
// a share 1/N of the rescues of each block). Nothing marks a dry-run node apart (prefix, queue, refusal to join).
// The test: a production step job queued on the fleet's prefix is consumed by a dry-run worker-only node.
// Fixed (f16c): a dry-run node uses the prefix `<prefix>-dry-run` (dryRunPrefix) for everything.

let redis: RedisServer
const clients: Redis[] = []
beforeAll(async () => {
  redis = await startRedisServer()
})
afterAll(async () => {
  for (const c of clients) c.disconnect()
  await redis?.stop()
})

const configOf = (redisUrl: string, prefix: string) =>
  ({
    keeperPrivateKey: `0x${"11".repeat(32)}`,
    logLevel: "silent",
    deployment: { entryPoint: "0x0000000071727De22E5E9d8BAf0edAc6f37da032", leverageModule: "0x00000000000000000000000000000000000000d1", adapters: {} },
    safes: [],
    risk: STEP_RISK,
    pollIntervalMs: 250,
    resubmitAfterBlocks: 4,
    stallAfterBlocks: 12,
    logWindowBlocks: 2_000,
    fleet: { batchSize: 200, readConcurrency: 1, stepConcurrency: 1, sendConcurrency: 1, refreshEveryBlocks: 50, callGas: undefined, headWaitShare: 0.8, queue: { redisUrl, prefix, leaseMs: 2_000, workerConcurrency: 1 } },
  }) as never

describe("rr16 F6 (fixed): a --dry-run fleet node works on its own namespace, never on the production queue", () => {
  test("fixed (was: the dry-run node took the production step job): a dry-run worker-only node works on <prefix>-dry-run and runs the step jobs queued there", async () => {
    const prefix = "prod"
    const node = new FleetNode(configOf(redis.url, prefix), {
      dryRun: true,
      lead: false,
      logger: pino({ level: "silent" }),
      clients: { publicClient: { chain: { id: 1 } } } as never,
    })
    await node.start()
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null })
    clients.push(connection)
    const steps = new Queue("step", { connection, prefix: dryRunPrefix(prefix) })
    try {
      expect(dryRunPrefix(prefix)).toBe("prod-dry-run")
      // A step job in the dry-run namespace (what a dry-run leader's scan adds; here the key reads inactive, so the step ends at once).
      const state = { ...stateOf(SAFE as Address), keeperKey: { active: false, validAfter: 0, validUntil: 2 ** 40, keyGeneration: 0, ttl: 0 } }
      await steps.add("out-of-band", { block: "100", timestamp: "1000", safe: SAFE, state: toJob(state), userOps: [] }, { jobId: `100-${SAFE}` })
      await waitFor("the dry-run node took the dry-run step", async () => (node.metrics.render().includes('levpilot_fleet_steps_total{outcome="tracked-only"} 1') ? true : undefined), 20_000)
      expect(await steps.getWaitingCount()).toBe(0)
    } finally {
      await steps.close()
      await node.stop()
    }
  })
  test("a dry-run node never takes the production fleet's step jobs (refuses the prefix, or works on its own)", async () => {
    const prefix = "prod2"
    const node = new FleetNode(configOf(redis.url, prefix), { dryRun: true, lead: false, logger: pino({ level: "silent" }), clients: { publicClient: { chain: { id: 1 } } } as never })
    await node.start().catch(() => undefined)
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null })
    clients.push(connection)
    const steps = new Queue("step", { connection, prefix })
    try {
      const state = { ...stateOf(SAFE as Address), keeperKey: { active: false, validAfter: 0, validUntil: 2 ** 40, keyGeneration: 0, ttl: 0 } }
      await steps.add("out-of-band", { block: "100", timestamp: "1000", safe: SAFE, state: toJob(state), userOps: [] }, { jobId: `100-${SAFE}` })
      await new Promise((r) => setTimeout(r, 3_000))
      expect(await steps.getWaitingCount()).toBe(1)
    } finally {
      await steps.close()
      await node.stop()
    }
  })
})
