import { type Hex, getAddress } from "viem"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { type DemoEnv, startDemoEnv } from "../bundler-client/src/devnet/env"
import { demoKeeperConfig } from "../bundler-client/src/devnet/keeperConfig"
import { PriceDriver } from "../bundler-client/src/devnet/scenario"
import { Keeper, type KeeperEvent } from "../bundler-client/src/keeper/keeper"
import { collectKeeperEvents, demoProbes, priceShocks, startRpcProxy, waitFor, rpc } from "./keeperProbes"

/**
 * Keeper weaknesses fixed on the devnet (anvil + Alto + paymaster): an "already being processed" (AA25) answer to a
 * resend is tracked, not a failure; an unusable answer to the first send keeps the in-flight intent and the chain
 * decides; a reorg that lowers the block height does not stall the block loop.
 */

let env: DemoEnv
let driver: PriceDriver
const { waitBlocks, healths, keeperOps, keeperNonce } = demoProbes(() => env)

const { shock } = priceShocks(() => driver)

const bundling = (mode: "manual" | "auto") => rpc(env.devnet.bundlerUrl, "debug_bundler_setBundlingMode", [mode])

beforeAll(async () => {
  env = await startDemoEnv({ blockTime: 1, twin: false })
  driver = new PriceDriver(env)
})

afterAll(async () => {
  await env?.stop()
})

describe("keeper recovery", () => {
  test("an AA25 'already being processed' answer to a resend is tracked as in flight, not counted as a failure", async () => {
    const bundler = await startRpcProxy(env.devnet.bundlerUrl)
    const { events, onEvent } = collectKeeperEvents()
    const safe = env.managed.address
    await bundling("manual")
    let sends = 0
    bundler.state.intercept = (request) => {
      if (request.method !== "eth_sendUserOperation") return undefined
      sends += 1
      if (sends === 1) return undefined // the first send reaches Alto (held: manual bundling)
      return {
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: request.id ?? null,
          error: { code: -32602, message: "UserOperation failed validation with reason: AA25 invalid account nonce: Another UserOperation with same sender and nonce is already being processed" },
        }),
      }
    }
    const keeper = new Keeper(demoKeeperConfig(env, { bundlerUrl: bundler.url, resubmitAfterBlocks: 2 }), { chain: env.devnet.chain, onEvent })
    const nonceBefore = await keeperNonce()
    await keeper.start()
    try {
      const from = await shock(0.8)
      const sent = await waitFor("the first send", () => events.find((e): e is Extract<KeeperEvent, { type: "sent" }> => e.type === "sent"), 30_000)
      await waitFor("a resend answered with AA25", () => events.find((e) => e.type === "tracking" && e.reason === "already-in-flight"), 30_000)
      // Not a failure: no alert, no failure counted, the original operation still tracked.
      expect(events.filter((e) => e.type === "alert")).toEqual([])
      expect(keeper.metrics.value("levpilot_failures_total", { safe, kind: "send-failed" })).toBe(0)
      expect(keeper.metrics.value("levpilot_already_in_flight_total", { safe })).toBeGreaterThanOrEqual(1)
      expect(keeper.pending(safe)?.userOpHash).toBe(sent.userOpHash)
      expect(keeper.pending(safe)?.nonce).toBe(sent.nonce.toString())
      expect(await keeperOps(from)).toEqual([])
      await bundling("auto")
      const included = await waitFor("inclusion of the original operation", () => events.find((e): e is Extract<KeeperEvent, { type: "included" }> => e.type === "included"), 40_000)
      expect(included.success).toBe(true)
      expect(included.known).toBe(true)
      expect(included.userOpHash).toBe(sent.userOpHash)
      await waitBlocks(2)
      const ops = await keeperOps(from)
      expect(ops).toHaveLength(1)
      expect(await keeperNonce()).toBe(nonceBefore + 1n)
      expect(keeper.pending(safe)).toBeUndefined()
      expect(events.filter((e) => e.type === "alert")).toEqual([])
      expect(keeper.metrics.value("levpilot_rebalances_total", { safe, result: "success" })).toBe(1)
      expect(Math.min(...(await healths()))).toBeGreaterThanOrEqual(env.settings.band.min)
    } finally {
      await keeper.stop()
      await bundler.stop()
      await bundling("auto")
    }
  })

  test("a garbled answer to the first send keeps the in-flight intent; the chain decides (landed: tracked; lost: same nonce resubmitted)", async () => {
    const bundler = await startRpcProxy(env.devnet.bundlerUrl)
    const safe = env.managed.address
    try {
      // (a) The send reaches Alto, the answer is not JSON: the op lands and the keeper finds it by its nonce.
      {
        const { events, onEvent } = collectKeeperEvents()
        await bundling("manual")
        let garbled = 0
        bundler.state.intercept = async (request, forward) => {
          if (request.method !== "eth_sendUserOperation" || garbled > 0) return undefined
          garbled += 1
          await forward()
          return { body: "<html><body>502 Bad Gateway</body></html>" }
        }
        const keeper = new Keeper(demoKeeperConfig(env, { bundlerUrl: bundler.url, resubmitAfterBlocks: 50 }), { chain: env.devnet.chain, onEvent })
        const nonceBefore = await keeperNonce()
        await keeper.start()
        try {
          const from = await shock(0.8)
          const tracking = await waitFor("the garbled answer", () => events.find((e): e is Extract<KeeperEvent, { type: "tracking" }> => e.type === "tracking"), 30_000)
          expect(tracking.reason).toBe("ambiguous-answer")
          expect(tracking.nonce).toBe(nonceBefore)
          const pending = keeper.pending(safe)
          expect(pending?.nonce).toBe(nonceBefore.toString())
          expect(pending?.userOpHash).toBeUndefined()
          await waitBlocks(2)
          // Still tracked, nothing else sent meanwhile.
          expect(keeper.pending(safe)?.nonce).toBe(nonceBefore.toString())
          expect(events.filter((e) => e.type === "sent")).toEqual([])
          await bundling("auto")
          const included = await waitFor("inclusion", () => events.find((e): e is Extract<KeeperEvent, { type: "included" }> => e.type === "included"), 40_000)
          expect(included.success).toBe(true)
          await waitBlocks(2)
          const ops = await keeperOps(from)
          expect(ops).toHaveLength(1)
          expect(included.userOpHash).toBe(ops[0]?.args.userOpHash as Hex)
          expect(await keeperNonce()).toBe(nonceBefore + 1n)
          expect(keeper.pending(safe)).toBeUndefined()
          expect(events.filter((e) => e.type === "sent")).toEqual([])
          expect(Math.min(...(await healths()))).toBeGreaterThanOrEqual(env.settings.band.min)
        } finally {
          await keeper.stop()
          await bundling("auto")
        }
      }
      // (b) The answer is wrong-shaped and the op never reached Alto: the intent stays and the same nonce is resubmitted.
      {
        const { events, onEvent } = collectKeeperEvents()
        let faked = 0
        bundler.state.intercept = (request) => {
          if (request.method !== "eth_sendUserOperation" || faked > 0) return undefined
          faked += 1
          return { body: JSON.stringify({ jsonrpc: "2.0", id: request.id ?? null, result: { accepted: true } }) }
        }
        const keeper = new Keeper(demoKeeperConfig(env, { bundlerUrl: bundler.url, resubmitAfterBlocks: 2 }), { chain: env.devnet.chain, onEvent })
        const nonceBefore = await keeperNonce()
        await keeper.start()
        try {
          const from = await shock(0.8)
          const tracking = await waitFor("the wrong-shaped answer", () => events.find((e): e is Extract<KeeperEvent, { type: "tracking" }> => e.type === "tracking"), 30_000)
          expect(tracking.reason).toBe("ambiguous-answer")
          expect(keeper.pending(safe)?.nonce).toBe(nonceBefore.toString())
          const included = await waitFor("inclusion after the resubmission", () => events.find((e): e is Extract<KeeperEvent, { type: "included" }> => e.type === "included"), 40_000)
          expect(included.success).toBe(true)
          const sent = events.filter((e): e is Extract<KeeperEvent, { type: "sent" }> => e.type === "sent")
          expect(sent).toHaveLength(1)
          expect(sent[0]?.nonce).toBe(nonceBefore)
          expect(sent[0]?.attempt).toBe(2)
          expect(events.some((e) => e.type === "resubmit")).toBe(true)
          await waitBlocks(2)
          expect(await keeperOps(from)).toHaveLength(1)
          expect(await keeperNonce()).toBe(nonceBefore + 1n)
        } finally {
          await keeper.stop()
        }
      }
    } finally {
      await bundler.stop()
    }
  })

  test("a reorg that lowers the block height: the keeper continues from the new head instead of waiting for the old height", async () => {
    const { events, onEvent } = collectKeeperEvents()
    const keeper = new Keeper(demoKeeperConfig(env), { chain: env.devnet.chain, onEvent })
    await keeper.start()
    try {
      await waitBlocks(1)
      const snapshot = (await rpc(env.devnet.rpcUrl, "evm_snapshot", [])) as Hex
      const forkHeight = await env.publicClient.getBlockNumber({ cacheTime: 0 })
      await rpc(env.devnet.rpcUrl, "anvil_mine", ["0x28"])
      const high = await env.publicClient.getBlockNumber({ cacheTime: 0 })
      expect(high).toBeGreaterThanOrEqual(forkHeight + 40n)
      await waitFor("the keeper at the high block", () => keeper.metrics.value("levpilot_block_number") >= Number(high) || undefined)
      expect(await rpc(env.devnet.rpcUrl, "evm_revert", [snapshot])).toBe(true)
      const from = await shock(0.8)
      expect(from).toBeLessThan(high - 30n)
      const included = await waitFor("a rebalance on the new, lower chain", () => events.find((e): e is Extract<KeeperEvent, { type: "included" }> => e.type === "included"), 20_000)
      expect(included.success).toBe(true)
      expect(included.block).toBeLessThan(high)
      const reorg = events.find((e): e is Extract<KeeperEvent, { type: "reorg" }> => e.type === "reorg")
      expect(reorg?.from).toBeGreaterThanOrEqual(high)
      expect(reorg?.to).toBeLessThan(high)
      expect(keeper.metrics.value("levpilot_reorgs_total")).toBeGreaterThanOrEqual(1)
      expect(await keeperOps(from)).toHaveLength(1)
      expect(getAddress((await keeperOps(from))[0]?.args.paymaster as string)).toBe(env.devnet.addresses.verifyingPaymaster)
      expect(Math.min(...(await healths()))).toBeGreaterThanOrEqual(env.settings.band.min)
    } finally {
      await keeper.stop()
    }
  })
})
