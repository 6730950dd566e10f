import { type Address, getAddress } from "viem"
import { leverageModuleAbi } from "@levpilot/sdk/abis"
import { privateKeyToAccount } from "viem/accounts"
import type { KeeperEvent } from "../bundler-client/src/keeper/events"
import { describe, expect, test } from "vitest"
import { type FleetEnv, fleetHealth } from "./fleetEnv"
import { fleetWithRedis, keeperOpsOf, queueConfigJson, safesOf, startBundlerGate, startNode } from "./fleetQueue"
import { captureLogs, waitFor } from "./keeperProbes"
import type { RedisServer } from "./redisServer"

let f: FleetEnv
let redis: RedisServer

fleetWithRedis((env, server) => {
  f = env
  redis = server
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

  test("a key revoked after the Safe went out of band, while the keeper's send is held, stops work: no operation for it then or after, the other out-of-band Safe rebalanced", async () => {
    const [revoked, kept] = (await f.createSafes([fleetHealth.edge, fleetHealth.edge])) as [Address, Address]
    const gate = await startBundlerGate(f.env.devnet.bundlerUrl)
    const { node, events } = await startNode(f, f.fleetConfig(queueConfigJson(f, redis.url, [revoked, kept], { bundlerUrl: gate.url })))
    try {
      await waitFor("both Safes observed", () => (observedAt(events, revoked).length > 0 && observedAt(events, kept).length > 0) || undefined, 40_000)
      gate.hold(revoked)
      const from = await f.shock(0.9)
      // The keeper solved, validated, estimated and signed the revoked Safe's operation; its send waits at the gate.
      await waitFor("the revoked Safe's send held", () => gate.isHeld(revoked) || undefined, 60_000)
      const revokedAt = await f.asSafe(revoked, f.moduleCall("revokeKeeper", [f.keeper]))
      const released = Date.now()
      gate.release()
      await waitFor("the kept Safe rebalanced", () => safesOf(events, "included").includes(getAddress(kept)) || undefined, 60_000)
      const until = (await f.env.publicClient.getBlockNumber({ cacheTime: 0 })) + 4n
      await waitFor("4 more blocks", async () => (await f.env.publicClient.getBlockNumber({ cacheTime: 0 })) >= until || undefined, 30_000)
      expect(await keeperOpsOf(f, revoked, from)).toEqual([])
      expect(safesOf(events, "sent")).toEqual([getAddress(kept)])
      expect((await keeperOpsOf(f, kept, from)).length).toBe(1)
      // Nothing tried again for the revoked Safe after the held send (no estimate, no send), and it is no longer read.
      expect(gate.requestsFor(revoked, released + 1).map((r) => r.method)).toEqual([])
      expect(observedAt(events, revoked).every((b) => b <= revokedAt)).toBe(true)
      expect(node.metrics.value("levpilot_fleet_safes")).toBe(1)
    } finally {
      await node.stop()
      await gate.stop()
    }
  })

  test("automation paused, the policy removed and the key expired mid-run stop work for those Safes; an allowlisted Safe that never added the key is reported once", async () => {
    const now = Number((await f.env.publicClient.getBlock()).timestamp)
    const [paused, removed, control] = (await f.createSafes([fleetHealth.edge, fleetHealth.edge, fleetHealth.edge])) as [Address, Address, Address]
    const [expiring] = (await f.createSafes([fleetHealth.edge], { validUntil: now + 25 })) as [Address]
    // A valid address that no Safe behind this keeper has (a typo that passes the checksum: all lower case).
    const typo = "0x000000000000000000000000000000000000dead" as Address
    const { lines, logger } = captureLogs()
    const { node, events } = await startNode(f, f.fleetConfig(queueConfigJson(f, redis.url, [paused, removed, control, expiring, typo])), { logger })
    try {
      await waitFor("every Safe observed", () => [paused, removed, control, expiring].every((s) => observedAt(events, s).length > 0) || undefined, 40_000)
      const unregistered = lines.filter((l) => l.msg.includes("never added this keeper's key"))
      expect(unregistered.map((l) => [l.safe, l.field])).toEqual([[getAddress(typo), "allowlist[4]"]])
      expect(node.metrics.value("levpilot_allowlist_unregistered_safes")).toBe(1)
      const [policy] = await f.env.publicClient.getContractEvents({ address: f.env.deployment.leverageModule, abi: leverageModuleAbi, eventName: "PolicySet", args: { safe: removed }, fromBlock: 0n })
      const pausedAt = await f.asSafe(paused, f.moduleCall("setPaused", [true]))
      const removedAt = await f.asSafe(removed, f.moduleCall("removePolicy", [policy?.args.subAccount]))
      await waitFor("the expiring key expired", async () => Number((await f.env.publicClient.getBlock({ blockTag: "latest" })).timestamp) > now + 26 || undefined, 60_000)
      const from = await f.shock(0.9)
      await waitFor("the control Safe rebalanced", () => safesOf(events, "included").includes(getAddress(control)) || undefined, 60_000)
      const until = (await f.env.publicClient.getBlockNumber({ cacheTime: 0 })) + 4n
      await waitFor("4 more blocks", async () => (await f.env.publicClient.getBlockNumber({ cacheTime: 0 })) >= until || undefined, 30_000)
      expect(safesOf(events, "sent")).toEqual([getAddress(control)])
      for (const safe of [paused, removed, expiring]) expect(await keeperOpsOf(f, safe, from), safe).toEqual([])
      // Nothing attempted for them either: no alert (a refused send would raise one).
      expect(events.filter((e) => e.type === "alert").map((e) => (e as { safe: Address }).safe)).toEqual([])
      expect(observedAt(events, paused).every((b) => b <= pausedAt)).toBe(true)
      expect(observedAt(events, removed).every((b) => b <= removedAt)).toBe(true)
      expect(observedAt(events, expiring).every((b) => b < from)).toBe(true)
      expect(node.metrics.value("levpilot_fleet_safes")).toBe(1)
      // Reported once, not at every head.
      expect(lines.filter((l) => l.msg.includes("never added this keeper's key")).length).toBe(1)
    } finally {
      await node.stop()
    }
  })
})
