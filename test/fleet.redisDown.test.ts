import { getFreePort } from "@levpilot/devnet"
import { foundry } from "viem/chains"
import { afterEach, describe, expect, test } from "vitest"
import { FleetNode } from "../bundler-client/src/keeper/fleet/queueNode"
import { KeeperMetrics } from "../bundler-client/src/keeper/metrics"
import { captureLogs, waitFor } from "./keeperProbes"
import { type RedisServer, redisOnlyFleetConfig, startRedisServer } from "./redisServer"

let redis: RedisServer | undefined
let node: FleetNode | undefined
let port = 0

afterEach(async () => {
  // A node stops cleanly only with its Redis reachable (BullMQ closes its queues through it).
  if (node && !redis) redis = await startRedisServer({ port })
  await node?.stop()
  await redis?.stop()
  node = undefined
  redis = undefined
})

describe("fleet node and an unreachable Redis server", () => {
  test("logs one clear error naming the Redis URL (not one line per retry), keeps retrying, and works once Redis is up", async () => {
    port = await getFreePort()
    const url = `redis://127.0.0.1:${port}`
    const config = redisOnlyFleetConfig(url, "redis-down", { logLevel: "debug" })
    const { lines, logger } = captureLogs()
    const metrics = new KeeperMetrics()
    // A worker-only node: start() returns without Redis (a leader would wait for its first election).
    node = new FleetNode(config, { chain: foundry, logger, metrics, lead: false })
    await node.start()
    // Four connections (queues, three workers and their blocking duplicates) retry many times a second.
    await new Promise((r) => setTimeout(r, 3_000))
    const errors = lines.filter((l) => l.level >= 40)
    expect(errors.map((l) => l.msg)).toEqual([`cannot reach Redis at ${url}: retrying`])
    expect(errors[0]?.redis).toBe(url)
    expect(metrics.render()).toMatch(/^levpilot_redis_up 0$/m)

    redis = await startRedisServer({ port })
    await waitFor("the reconnection line", () => lines.some((l) => l.msg === `Redis at ${url} is reachable again`) || undefined)
    expect(metrics.render()).toMatch(/^levpilot_redis_up 1$/m)
    // The node works on that server: it reads what Redis holds (no leader yet, no head).
    expect(await node.leaderStatus()).toEqual({ leader: undefined, head: undefined })
    expect(lines.filter((l) => l.level >= 40 && /redis/i.test(l.msg)).length).toBe(1)
  })
})
