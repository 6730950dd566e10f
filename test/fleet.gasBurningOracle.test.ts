import { type Address, getAddress } from "viem"
import { privateKeyToAccount } from "viem/accounts"
import { describe, expect, test } from "vitest"
import type { KeeperEvent } from "../bundler-client/src/keeper/events"
import { readChunk } from "../bundler-client/src/keeper/fleet/scan"
import { type FleetEnv, fleetHealth } from "./fleetEnv"
import { fleetWithRedis, queueConfigJson, safesOf, startNode } from "./fleetQueue"
import { waitFor } from "./keeperProbes"
import type { RedisServer } from "./redisServer"

let f: FleetEnv
let redis: RedisServer

fleetWithRedis((env, server) => {
  f = env
  redis = server
})

/** JUMPDEST PUSH1 0 JUMP: an oracle whose `price()` loops until it has burnt all the gas it was given. */
const gasBurner = "0x5b600056"

const rpc = async (method: string, params: unknown[]) => {
  const r = await fetch(f.env.devnet.rpcUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) })
  return ((await r.json()) as { result: unknown }).result
}

/**
 * Issue 11 item 6 in fleet mode: one Safe whose sub-account's oracle burns all the gas it is given (not a revert: the
 * lens's `try marketState` hands it 63/64 of what the Safe's read has, and it takes all of it). The Safes read after it
 * in the same batched `eth_call` must still be read, and the fleet on Redis must keep serving them, with the broken
 * sub-account reported (feed-broken alert, `levpilot_subaccount_unreadable` gauge).
 */
describe("fleet: a gas-burning oracle in one Safe's lens read", () => {
  test("does not blind the Safes read after it in the same batched call, nor stall the fleet: the others are observed and rescued, the broken sub-account alerted and in the gauge", async () => {
    const managed = getAddress(f.env.managed.address)
    const brokenId = f.env.managed.subAccounts.WBTC
    const okId = f.env.managed.subAccounts.WETH
    const oracle = f.env.markets.WBTC.oracle as Address
    const t0 = Date.now()
    const calm: Address[] = []
    for (let i = 0; i < 4; i++) calm.push(...(await f.createSafes(Array.from({ length: 10 }, () => fleetHealth.calm))))
    console.info(`created ${calm.length} Safes in ${Date.now() - t0} ms`)
    const edge = await f.createSafes([fleetHealth.edge, fleetHealth.edge])
    const others = [...calm, ...edge].map((a) => getAddress(a))
    const code = (await rpc("eth_getCode", [oracle, "latest"])) as string
    await rpc("anvil_setCode", [oracle, gasBurner])
    await rpc("anvil_mine", ["0x1"])
    console.info(`oracle burns gas; starting the node at ${Date.now() - t0} ms`)
    const { node, events } = await startNode(f, f.fleetConfig(queueConfigJson(f, redis.url, [managed, ...others], { fleet: { batchSize: 64 } })))
    try {
      // One batched read, the burner's Safe first: every Safe after it is read, not reported as a failed read.
      const block = await f.env.publicClient.getBlockNumber({ cacheTime: 0 })
      const keeper = privateKeyToAccount(f.env.keys.keeper).address
      console.info(`node started at ${Date.now() - t0} ms`)
      const chunk = await readChunk(f.env.publicClient, { safes: [managed, ...others], block, keeper, deployment: f.env.deployment })
      console.info(`setup ${Date.now() - t0} ms; batched read of ${chunk.states.length} Safes: ${chunk.calls} eth_call(s), ${chunk.states.filter((s) => s.error).length} failed`)
      expect(chunk.states.filter((s) => s.error).map((s) => s.safe)).toEqual([])
      const first = chunk.states[0]
      expect(first?.error).toBeUndefined()
      if (first && !first.error) {
        expect(first.subAccounts.map((s) => s.subAccount)).toEqual([okId])
        expect(first.unreadable.map((s) => s.subAccount)).toEqual([brokenId])
      }

      // The fleet on Redis: every Safe is observed, the broken sub-account alerted once and in the gauge.
      await waitFor("every Safe observed", () => new Set(safesOf(events, "observed")).size === others.length + 1 || undefined, 60_000)
      const observed = events.filter((e): e is Extract<KeeperEvent, { type: "observed" }> => e.type === "observed" && getAddress(e.safe) === managed)
      expect(observed[0]?.snapshot.unreadable.map((e) => e.subAccount)).toEqual([brokenId])
      await waitFor("the feed-broken alert", () => events.some((e) => e.type === "alert" && e.kind === "feed-broken") || undefined, 30_000)
      const alerts = events.filter((e): e is Extract<KeeperEvent, { type: "alert" }> => e.type === "alert")
      expect(alerts.map((a) => [getAddress(a.safe), a.kind])).toEqual([[managed, "feed-broken"]])
      expect(alerts[0]?.message).toContain(brokenId)
      expect(node.metrics.value("levpilot_subaccount_unreadable", { safe: managed, sub_account: brokenId, venue: "morpho-blue" })).toBe(1)

      // Later blocks: the one Safe does not shrink the batched reads of the whole fleet. Its first block splits the
      // batch until the Safes after the burner fit; after that the other Safes are read in one call per block again.
      const reads = () => node.metrics.value("levpilot_fleet_read_calls_total")
      const blocks = async (n: number) => {
        const to = (await f.env.publicClient.getBlockNumber({ cacheTime: 0 })) + BigInt(n)
        await waitFor(`block ${to}`, async () => (await f.env.publicClient.getBlockNumber({ cacheTime: 0 })) >= to || undefined, 30_000)
      }
      await blocks(2)
      const [calls0, block0] = [reads(), await f.env.publicClient.getBlockNumber({ cacheTime: 0 })]
      await blocks(5)
      const perBlock = (reads() - calls0) / Number((await f.env.publicClient.getBlockNumber({ cacheTime: 0 })) - block0)
      console.info(`lens eth_calls per block with the burner: ${perBlock.toFixed(2)}`)
      // One call for the 42 others (batchSize 64), one for the burner's Safe alone, a part of a call for a block's edge.
      expect(perBlock).toBeLessThanOrEqual(2.5)

      // While the oracle still burns gas, a price drop: the edge Safes are rescued in the following blocks.
      // WETH only: the WBTC oracle has no setPrice while it burns gas.
      await f.driver.set({ WETH: 2700 })
      await waitFor(
        "both edge Safes' rescues included",
        () => new Set(events.filter((e) => e.type === "included" && e.success).map((e) => getAddress((e as { safe: Address }).safe))).size >= 2 || undefined,
        90_000,
      )
      const rescued = new Set(events.filter((e) => e.type === "included" && e.success).map((e) => getAddress((e as { safe: Address }).safe)))
      for (const s of edge) expect(rescued.has(getAddress(s)), s).toBe(true)
      expect(events.filter((e) => e.type === "alert" && e.kind !== "feed-broken").map((e) => (e as { kind: string }).kind)).toEqual([])
    } finally {
      await node.stop()
      await rpc("anvil_setCode", [oracle, code])
    }
  }, 300_000)
})
