import type { Address } from "viem"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { FleetKeeper } from "../bundler-client/src/keeper/fleet/fleetKeeper"
import type { KeeperEvent } from "../bundler-client/src/keeper/events"
import { type FleetEnv, fleetHealth, startFleetEnv } from "./fleetEnv"
import { waitFor } from "./keeperProbes"

let f: FleetEnv
let calm: Address[]
let edge: Address[]

beforeAll(async () => {
  f = await startFleetEnv()
  calm = await f.createSafes([fleetHealth.calm, fleetHealth.calm, fleetHealth.calm, fleetHealth.calm])
  edge = await f.createSafes([fleetHealth.edge, fleetHealth.edge])
})

afterAll(async () => {
  await f?.stop()
})

const countRequests = (rpcUrl: string) => {
  let n = 0
  const original = globalThis.fetch
  globalThis.fetch = (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url
    if (url.startsWith(rpcUrl)) n += 1
    return original(input, init)
  }
  return { count: () => n, restore: () => (globalThis.fetch = original) }
}

describe("fleet keeper, embedded", () => {
  test("reads every Safe of the fleet in one eth_call, solves only what changed, and rebalances the Safes a shock puts out of band", async () => {
    const events: KeeperEvent[] = []
    const keeper = new FleetKeeper(f.fleetConfig({ fleet: { batchSize: 200, refreshEveryBlocks: 1_000_000 } }), { chain: f.env.devnet.chain, onEvent: (e) => events.push(e) })
    await keeper.init()
    const all = [f.env.managed.address, ...calm, ...edge]

    const requests = countRequests(f.env.devnet.rpcUrl)
    let first
    try {
      first = await keeper.runBlock()
    } finally {
      requests.restore()
    }
    expect(first.safes).toBe(all.length)
    expect(new Set(events.filter((e) => e.type === "observed").map((e) => e.type === "observed" && e.safe))).toEqual(new Set(all))
    // One head poll, one eth_getLogs (discovery, in windows of 50 blocks from block 0) per window, one lens call.
    const windows = Math.ceil(Number(first.block + 1n) / 50)
    expect(first.requests).toBe(1 + windows + 1)
    expect(requests.count()).toBe(first.requests)

    // A new block where nothing moved (the oracle is written with the same price): nobody is solved again.
    await f.shock(1)
    events.length = 0
    const second = await keeper.runBlock()
    expect(second.steps).toBe(0)
    expect(events.filter((e) => e.type === "observed")).toEqual([])

    const shockBlock = await f.shock(0.9)
    events.length = 0
    const third = await keeper.runBlock()
    expect(third.block).toBeGreaterThanOrEqual(shockBlock)
    const observed = events.filter((e): e is Extract<KeeperEvent, { type: "observed" }> => e.type === "observed")
    expect(new Set(observed.map((e) => e.safe))).toEqual(new Set(all))
    const out = observed.filter((e) => e.snapshot.chain.some((s) => s.band !== "inside")).map((e) => e.safe)
    expect(new Set(out)).toEqual(new Set(edge))
    await keeper.idle()
    const sent = events.filter((e) => e.type === "sent").map((e) => e.type === "sent" && e.safe)
    expect(new Set(sent)).toEqual(new Set(edge))
    for (let i = 0; (await keeper.pendingSafes()).length > 0; i++) {
      expect(i, "blocks until every rebalance is included").toBeLessThan(20)
      await f.shock(1)
      await keeper.runBlock()
      await keeper.idle()
    }
    const included = events.filter((e): e is Extract<KeeperEvent, { type: "included" }> => e.type === "included")
    expect(new Set(included.map((e) => e.safe))).toEqual(new Set(edge))
    expect(included.every((e) => e.success)).toBe(true)
    await keeper.stop()
  })
})
