import { type Address, getAddress } from "viem"
import { SafeReadError } from "@levpilot/sdk/errors"
import { privateKeyToAccount } from "viem/accounts"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { FleetKeeper } from "../bundler-client/src/keeper/fleet/fleetKeeper"
import { fingerprint, readChunk, readLimit } from "../bundler-client/src/keeper/fleet/scan"
import { SafeDiscovery } from "../bundler-client/src/keeper/fleet/discovery"
import { KeeperMetrics } from "../bundler-client/src/keeper/metrics"
import { createPublicClient, http } from "viem"
import { pino } from "pino"
import type { KeeperEvent } from "../bundler-client/src/keeper/events"
import { type FleetEnv, fleetHealth, startFleetEnv } from "./fleetEnv"
import { startWebhookReceiver } from "./fleetQueue"
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
  test("a log window whose answer is too large is halved until it fits (the bench's stall: 4,600 Safes' events over viem's 10 MB limit), and the smaller window is kept", async () => {
    const head = await f.env.publicClient.getBlockNumber({ cacheTime: 0 })
    const discovery = (maxResponseBodySize?: number) => {
      const client = createPublicClient({ chain: f.env.devnet.chain, transport: http(f.env.devnet.rpcUrl, maxResponseBodySize ? { maxResponseBodySize } : {}) })
      const metrics = new KeeperMetrics()
      const keeper = privateKeyToAccount(f.env.keys.keeper).address
      const settings = { fromBlock: 0n, logWindow: 100_000, reorgDepth: 4 }
      const d = new SafeDiscovery({ client, module: f.env.deployment.leverageModule, entryPoint: f.env.deployment.entryPoint, keeper, settings, logger: pino({ level: "silent" }), metrics })
      return { d, metrics }
    }
    const wide = discovery()
    const one = await wide.d.sync(head)
    expect(one.requests).toBe(1)
    const all = wide.d.served(Number((await f.env.publicClient.getBlock({ blockNumber: head })).timestamp))
    expect(all.length).toBe(7)

    // The same events through a client that takes less than the whole answer but more than any one block's logs.
    const raw = (await (
      await fetch(f.env.devnet.rpcUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_getLogs", params: [{ address: f.env.deployment.leverageModule, fromBlock: "0x0", toBlock: `0x${head.toString(16)}` }] }),
      })
    ).json()) as { result: { blockNumber: string }[] }
    const byBlock = new Map<string, number>()
    for (const log of raw.result) byBlock.set(log.blockNumber, (byBlock.get(log.blockNumber) ?? 0) + JSON.stringify(log).length)
    const limit = Math.ceil(1.1 * Math.max(...byBlock.values())) + 500
    expect(limit).toBeLessThan(JSON.stringify(raw).length)
    const narrow = discovery(limit)
    const sync = await narrow.d.sync(head)
    expect(sync.block).toBe(head)
    expect(sync.requests).toBeGreaterThan(2)
    expect(narrow.d.logWindow).toBeLessThan(Number(head))
    expect(narrow.d.served(Number((await f.env.publicClient.getBlock({ blockNumber: head })).timestamp))).toEqual(all)
    expect(narrow.metrics.render()).toMatch(/levpilot_discovery_window_shrunk_total [1-9]/)
  })

  test("a batch too large for the node's eth_call gas cap is split in halves (the limit learned), a Safe too large alone reads as a SafeReadError: the block is never left unread", async () => {
    const all = [f.env.managed.address, ...calm, ...edge]
    const keeper = privateKeyToAccount(f.env.keys.keeper).address
    const client = f.env.publicClient
    const block = await client.getBlockNumber({ cacheTime: 0 })
    const read = { block, keeper, deployment: f.env.deployment }
    const whole = await readChunk(client, { ...read, safes: all })
    expect(whole.calls).toBe(1)
    expect(whole.states.every((s) => !s.error)).toBe(true)

    // About 100k-140k gas per Safe: 400k takes two or three Safes, not seven (the bench's 250 Safes over anvil's 30M).
    const limit = readLimit()
    const split = await readChunk(client, { ...read, safes: all, gas: 400_000n, limit })
    expect(split.calls).toBeGreaterThan(1)
    expect(limit.size).toBeLessThan(all.length)
    expect(split.blockNumber).toBe(block)
    expect(split.states.map(fingerprint)).toEqual(whole.states.map(fingerprint))
    // The next block splits up front: no failed call.
    const again = await readChunk(client, { ...read, safes: all, gas: 400_000n, limit })
    expect(again.calls).toBe(Math.ceil(all.length / limit.size))
    expect(again.states.map(fingerprint)).toEqual(whole.states.map(fingerprint))

    // Nothing fits: every Safe is reported unreadable (triage alerts it), none is lost, the block's time still known.
    const none = await readChunk(client, { ...read, safes: all, gas: 30_000n })
    expect(none.states.map((s) => s.safe)).toEqual(all)
    expect(none.states.every((s) => s.error instanceof SafeReadError)).toBe(true)
    expect(none.timestamp).toBe(whole.timestamp)
    // A bisection tree over 7 Safes: 7 leaves and 6 inner calls, then the block header.
    expect(none.calls).toBe(2 * all.length - 1 + 1)
  })

  test("reads every Safe of the fleet in one eth_call, solves only what changed, rebalances the Safes a shock puts out of band, and posts every send and inclusion to the webhook (retried)", async () => {
    const events: KeeperEvent[] = []
    const hook = await startWebhookReceiver({ failFirst: 1 })
    const webhook = { url: hook.url, events: ["sent", "included"], backoffMs: 100, maxAttempts: 5 }
    const keeper = new FleetKeeper(f.fleetConfig({ webhook, fleet: { batchSize: 200, refreshEveryBlocks: 1_000_000 } }), { chain: f.env.devnet.chain, onEvent: (e) => events.push(e) })
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
    // stop() waits for the webhook's deliveries in flight.
    await keeper.stop()
    await hook.stop()
    const posted = (type: string) => hook.delivered().filter((r) => r.body.type === type)
    expect(new Set(posted("sent").map((r) => getAddress(r.body.safe as string)))).toEqual(new Set(edge))
    expect(posted("included").map((r) => [getAddress(r.body.safe as string), r.body.success]).sort()).toEqual(edge.map((s) => [s, true]).sort())
    // Each notification was answered 503 once, then posted again and taken: one delivery each.
    for (const r of hook.delivered()) expect(hook.attempts.get(r.id), r.id).toBe(2)
    expect(hook.delivered().length).toBe(new Set(hook.delivered().map((r) => r.id)).size)
  })

  test("one sub-account's oracle reverts: the Safe is still solved with its other sub-accounts, the broken one alerted (feed-broken) and exposed in metrics", async () => {
    const safe = f.env.managed.address
    const brokenId = f.env.managed.subAccounts.WBTC
    const okId = f.env.managed.subAccounts.WETH
    const oracle = f.env.markets.WBTC.oracle as Address
    const rpc = async (method: string, params: unknown[]) => {
      const r = await fetch(f.env.devnet.rpcUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) })
      return ((await r.json()) as { result: unknown }).result
    }
    const code = (await rpc("eth_getCode", [oracle, "latest"])) as string
    const events: KeeperEvent[] = []
    const keeper = new FleetKeeper(f.fleetConfig({ fleet: { batchSize: 200, refreshEveryBlocks: 1_000_000 } }), { chain: f.env.devnet.chain, onEvent: (e) => events.push(e) })
    await keeper.init()
    try {
      await rpc("anvil_setCode", [oracle, "0x60006000fd"]) // PUSH1 0 PUSH1 0 REVERT
      await rpc("anvil_mine", ["0x1"])
      await keeper.runBlock()
      await keeper.idle()
      const observed = events.filter((e): e is Extract<KeeperEvent, { type: "observed" }> => e.type === "observed" && e.safe === safe)
      expect(observed).toHaveLength(1)
      expect(observed[0]?.snapshot.chain.map((s) => s.subAccount)).toEqual([okId])
      expect(observed[0]?.snapshot.unreadable.map((e) => e.subAccount)).toEqual([brokenId])
      const alerts = events.filter((e): e is Extract<KeeperEvent, { type: "alert" }> => e.type === "alert" && e.safe === safe)
      expect(alerts.map((a) => a.kind)).toEqual(["feed-broken"])
      expect(alerts[0]?.message).toContain(brokenId)
      expect(keeper.metrics.value("levpilot_subaccount_unreadable", { safe, sub_account: brokenId, venue: "morpho-blue" })).toBe(1)
      expect(keeper.metrics.value("levpilot_subaccount_unreadable", { safe, sub_account: okId, venue: "morpho-blue" })).toBe(0)
    } finally {
      await rpc("anvil_setCode", [oracle, code])
      await keeper.stop()
    }
  })
})
