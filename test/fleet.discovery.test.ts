import { type Address, getAddress } from "viem"
import { privateKeyToAccount } from "viem/accounts"
import type { KeeperEvent } from "../bundler-client/src/keeper/events"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { type FleetEnv, fleetHealth, startFleetEnv } from "./fleetEnv"
import { keeperOpsOf, queueConfigJson, safesOf, startNode } from "./fleetQueue"
import { waitFor } from "./keeperProbes"
import { type RedisServer, startRedisServer } from "./redisServer"

let f: FleetEnv
let redis: RedisServer

beforeAll(async () => {
  redis = await startRedisServer()
  f = await startFleetEnv({ blockTime: 1 })
})

afterAll(async () => {
  await f?.stop()
  await redis?.stop()
})

const observedAt = (events: readonly KeeperEvent[], safe: Address) =>
  events.filter((e) => e.type === "observed" && getAddress(e.safe) === getAddress(safe)).map((e) => (e as { block: bigint }).block)

describe("fleet discovery (module events, BullMQ + a real Redis server)", () => {
  test("a Safe that adds the keeper's key mid-run is picked up within a block; a Safe registering another key is never read", async () => {
    const other = privateKeyToAccount("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d").address
    const [late, stranger] = (await f.createSafes([fleetHealth.calm, fleetHealth.calm], { keeper: other })) as [Address, Address]
    const [control] = (await f.createSafes([fleetHealth.calm])) as [Address]
    const { node, events } = await startNode(f, f.fleetConfig(queueConfigJson(f, redis.url, [late, stranger, control])))
    try {
      await waitFor("the registered Safe observed", () => observedAt(events, control).length > 0 || undefined, 40_000)
      expect(observedAt(events, late)).toEqual([])
      const validUntil = Number((await f.env.publicClient.getBlock()).timestamp) + 86_400
      const added = await f.asSafe(late, f.moduleCall("addKeeper", [f.keeper, 0, validUntil]))
      const seen = await waitFor("the Safe that added the key observed", () => observedAt(events, late)[0], 30_000)
      // Read at the block of its KeeperAdded event or the next one.
      expect(seen).toBeGreaterThanOrEqual(added)
      expect(seen).toBeLessThanOrEqual(added + 1n)
      expect(node.metrics.value("levpilot_fleet_safes")).toBe(2)
      expect(observedAt(events, stranger)).toEqual([])
    } finally {
      await node.stop()
    }
  })

  test("a revoked key stops work before the next send: the Safe is not sent for after the block of its KeeperRevoked, while the other out-of-band Safe is rebalanced", async () => {
    const [revoked, kept] = (await f.createSafes([fleetHealth.edge, fleetHealth.edge])) as [Address, Address]
    const { node, events } = await startNode(f, f.fleetConfig(queueConfigJson(f, redis.url, [revoked, kept])))
    try {
      await waitFor("both Safes observed", () => (observedAt(events, revoked).length > 0 && observedAt(events, kept).length > 0) || undefined, 40_000)
      const revokedAt = await f.asSafe(revoked, f.moduleCall("revokeKeeper", [f.keeper]))
      const from = await f.shock(0.9)
      expect(from).toBeGreaterThan(revokedAt)
      await waitFor("the kept Safe rebalanced", () => safesOf(events, "included").includes(getAddress(kept)) || undefined, 60_000)
      // A few more blocks for the revoked one to (not) be sent.
      const until = (await f.env.publicClient.getBlockNumber({ cacheTime: 0 })) + 3n
      await waitFor("3 more blocks", async () => (await f.env.publicClient.getBlockNumber({ cacheTime: 0 })) >= until || undefined)
      expect(safesOf(events, "sent")).toEqual([getAddress(kept)])
      expect(await keeperOpsOf(f, revoked, revokedAt)).toEqual([])
      expect((await keeperOpsOf(f, kept, from)).length).toBe(1)
      // Not read at all after its revocation (discovery dropped it), except possibly the block of the revocation itself.
      expect(observedAt(events, revoked).every((b) => b <= revokedAt)).toBe(true)
    } finally {
      await node.stop()
    }
  })
})
