import { waitForReceipt } from "@levpilot/devnet"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Address, type Hex, encodeFunctionData, getAddress, hexToBigInt, parseAbi } from "viem"
import { privateKeyToAccount } from "viem/accounts"
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest"
import { leverageModuleAbi } from "@levpilot/sdk/abis"
import { type DemoEnv, startDemoEnv } from "../bundler-client/src/devnet/env"
import { demoKeeperConfig } from "../bundler-client/src/devnet/keeperConfig"
import { PriceDriver } from "../bundler-client/src/devnet/scenario"
import { connectKeeperClients } from "../bundler-client/src/keeper/clients"
import { Keeper, type KeeperEvent } from "../bundler-client/src/keeper/keeper"
import { type KeeperState, KeeperStateStore, type PendingOperation, scopeKey } from "../bundler-client/src/keeper/stateFile"
import { collectKeeperEvents, demoProbes, startRpcProxy, waitFor, rpc } from "./keeperProbes"

/**
 * The keeper in the worst minute, on the devnet (anvil + Alto + verifying paymaster): a gas spike above the Safe's
 * fee caps, a restart with an intent older than the RPC's log range, a state file from another chain and one ahead of
 * the chain's nonce, a bundler answering AA25 to every send, and one sub-account's oracle reverting.
 */

let env: DemoEnv
let driver: PriceDriver
const { waitBlocks, keeperOps, keeperNonce, quiesce } = demoProbes(() => env)
const dir = mkdtempSync(join(tmpdir(), "levpilot-worst-"))
// Each test moves prices down 20% (a deleverage) or up 30% (a boost); the sequence keeps the positions in range.
let prices = { WETH: 3000, WBTC: 60000 }
const move = (direction: "down" | "up") => {
  const f = direction === "down" ? 0.8 : 1.3
  prices = { WETH: prices.WETH * f, WBTC: prices.WBTC * f }
  return driver.set(prices)
}
const included = (events: KeeperEvent[], from = 0n) =>
  events.find((e): e is Extract<KeeperEvent, { type: "included" }> => e.type === "included" && e.block >= from)
/** The devnet's SimOracle doubles as the policies' Chainlink-style feed: its answer and update time can be set. */
const simFeedAbi = parseAbi(["function setFeed(int256 answer, uint256 updatedAt, uint8 feedDecimals)", "function feedAnswer() view returns (int256)", "function decimals() view returns (uint8)"])
const alerts = (events: KeeperEvent[], kind: string) => events.filter((e): e is Extract<KeeperEvent, { type: "alert" }> => e.type === "alert" && e.kind === kind)


/** The devnet feed at `oracle`: its answer now, and a setter of its answer and update time (sent by anvil's first account). */
async function simFeedOf(oracle: Address) {
  const [answer, decimals] = await Promise.all([
    env.publicClient.readContract({ address: oracle, abi: simFeedAbi, functionName: "feedAnswer" }),
    env.publicClient.readContract({ address: oracle, abi: simFeedAbi, functionName: "decimals" }),
  ])
  const [from] = (await rpc(env.devnet.rpcUrl, "eth_accounts", [])) as Address[]
  const setFeed = async (feedAnswer: bigint, updatedAt: bigint) => {
    const data = encodeFunctionData({ abi: simFeedAbi, functionName: "setFeed", args: [feedAnswer, updatedAt, decimals] })
    const hash = (await rpc(env.devnet.rpcUrl, "eth_sendTransaction", [{ from, to: oracle, data }])) as Hex
    await waitForReceipt(env.publicClient, { hash })
  }
  return { answer, setFeed }
}

const scope = () => ({
  chainId: env.devnet.chain.id,
  entryPoint: env.deployment.entryPoint,
  module: env.deployment.leverageModule,
  keeper: privateKeyToAccount(env.keys.keeper).address,
})
const record = (nonce: bigint, sentBlock: bigint): PendingOperation => ({
  userOpHash: undefined,
  nonce: nonce.toString(),
  sentBlock: sentBlock.toString(),
  sentAt: 0,
  maxFeePerGas: "1000000000",
  maxPriorityFeePerGas: "1000000",
  sponsored: true,
  attempts: 1,
  triggerBlock: sentBlock.toString(),
  triggerAt: 0,
})

beforeAll(async () => {
  env = await startDemoEnv({ blockTime: 1, twin: false })
  driver = new PriceDriver(env)
})

// An operation a test's keeper sent before it stopped lands before the next test counts operations from its own block.
afterEach(async () => {
  if (env) await quiesce()
})

afterAll(async () => {
  await env?.stop()
})

describe("keeper in the worst minute", () => {
  test("gas spike: fees are capped at the Safe's maxFeePerGas, the op lands, and an alert carries the market and the cap", async () => {
    const safe = env.managed.address
    const config = demoKeeperConfig(env)
    const automation = await env.publicClient.readContract({ address: env.deployment.leverageModule, abi: leverageModuleAbi, functionName: "getAutomationConfig", args: [safe] })
    const cap = { maxFeePerGas: BigInt(automation.maxFeePerGas), maxPriorityFeePerGas: BigInt(automation.maxPriorityFeePerGas) }
    const clients = await connectKeeperClients(config, env.devnet.chain)
    const spike = { maxFeePerGas: cap.maxFeePerGas * 40n, maxPriorityFeePerGas: cap.maxPriorityFeePerGas * 40n }
    clients.estimateFees = async () => spike
    const { events, onEvent: collect } = collectKeeperEvents()
    let sentWith: PendingOperation | undefined
    const keeper: Keeper = new Keeper(config, {
      chain: env.devnet.chain,
      clients,
      onEvent: (e) => {
        if (e.type === "sent") sentWith = keeper.pending(safe)
        collect(e)
      },
    })
    await keeper.start()
    try {
      const from = await move("down")
      const done = await waitFor("inclusion in the spike", () => included(events, from), 40_000)
      expect(done.success).toBe(true)
      expect(BigInt(sentWith?.maxFeePerGas ?? 0)).toBe(cap.maxFeePerGas)
      expect(BigInt(sentWith?.maxPriorityFeePerGas ?? 0)).toBe(cap.maxPriorityFeePerGas)
      const alert = alerts(events, "gas-cap-below-market")[0]
      expect(alert?.message).toContain(`${spike.maxFeePerGas}`)
      expect(alert?.message).toContain(`${cap.maxFeePerGas}`)
      expect(keeper.metrics.value("levpilot_failures_total", { safe, kind: "send-failed" })).toBe(0)
      expect(await keeperOps(from)).toHaveLength(1)
    } finally {
      await keeper.stop()
    }
  })

  test("a stuck operation already at the caps: the keeper cannot outbid it, alerts replacement-blocked once, keeps it, and it lands", async () => {
    const safe = env.managed.address
    const config = demoKeeperConfig(env, { resubmitAfterBlocks: 2, stallAfterBlocks: 1_000 })
    const automation = await env.publicClient.readContract({ address: env.deployment.leverageModule, abi: leverageModuleAbi, functionName: "getAutomationConfig", args: [safe] })
    const cap = { maxFeePerGas: BigInt(automation.maxFeePerGas), maxPriorityFeePerGas: BigInt(automation.maxPriorityFeePerGas) }
    const clients = await connectKeeperClients(config, env.devnet.chain)
    // A lasting spike: every send goes out at the caps, so a resend of the stuck operation cannot clear Alto's
    // same-nonce rule (both fees >= old x 110 / 100) within them.
    clients.estimateFees = async () => ({ maxFeePerGas: cap.maxFeePerGas * 40n, maxPriorityFeePerGas: cap.maxPriorityFeePerGas * 40n })
    const { events, onEvent } = collectKeeperEvents()
    const keeper = new Keeper(config, { chain: env.devnet.chain, clients, onEvent })
    // The real Alto holds the operation in its mempool until bundled by hand (the spike's stuck operation).
    await rpc(env.devnet.bundlerUrl, "debug_bundler_setBundlingMode", ["manual"])
    await keeper.start()
    try {
      const nonce = await keeperNonce()
      const from = await move("down")
      const blocked = await waitFor("the replacement-blocked alert", () => alerts(events, "replacement-blocked")[0], 40_000)
      expect(blocked.message).toContain(`nonce ${nonce}`)
      expect(blocked.message).toContain(`${(cap.maxFeePerGas * 110n) / 100n} wei > cap ${cap.maxFeePerGas} wei`)
      // More resends of the same operation in the lasting spike: still one alert, one operation in Alto's mempool at the caps.
      const inFlight = () => events.filter((e) => e.type === "tracking" && e.reason === "already-in-flight").length
      const resends = inFlight()
      await waitFor("two more resends refused as already in flight", () => (inFlight() >= resends + 2 ? true : undefined), 40_000)
      expect(alerts(events, "replacement-blocked")).toHaveLength(1)
      const mempool = (await rpc(env.devnet.bundlerUrl, "debug_bundler_dumpMempool", [env.deployment.entryPoint])) as { sender: string; nonce: string; maxFeePerGas: string; maxPriorityFeePerGas: string }[]
      const ours = mempool.filter((op) => getAddress(op.sender) === getAddress(safe))
      expect(ours.map((op) => [BigInt(op.nonce), BigInt(op.maxFeePerGas), BigInt(op.maxPriorityFeePerGas)])).toEqual([[nonce, cap.maxFeePerGas, cap.maxPriorityFeePerGas]])
      expect(keeper.metrics.value("levpilot_failures_total", { safe, kind: "send-failed" })).toBe(0)
      // The bundler bundles again: the operation the keeper kept tracking lands, once.
      await rpc(env.devnet.bundlerUrl, "debug_bundler_setBundlingMode", ["auto"])
      const done = await waitFor("inclusion of the kept operation", () => included(events, from), 40_000)
      expect(done.success).toBe(true)
      expect(await keeperOps(from)).toHaveLength(1)
      expect(await keeperNonce()).toBe(nonce + 1n)
    } finally {
      await rpc(env.devnet.bundlerUrl, "debug_bundler_setBundlingMode", ["auto"])
      await keeper.stop()
    }
  })

  test("restart with an intent older than the RPC's log range: the nonce decides, logs are read in bounded windows", async () => {
    const safe = env.managed.address
    const used = (await keeperNonce()) - 1n // the operation of the previous test: landed
    expect(used).toBeGreaterThanOrEqual(0n)
    const sentBlock = (await env.publicClient.getBlockNumber({ cacheTime: 0 })) - 5n
    await rpc(env.devnet.rpcUrl, "anvil_mine", ["0x5dc"]) // 1,500 blocks
    // Mining moved the clock past the feeds' maxOracleAge: refresh them at the same prices, so a feed check the keeper
    // makes before the price move below (the solver may plan in band) does not raise a stale-feed alert.
    await driver.set(prices)
    const stateFile = join(dir, "old-intent.json")
    const state: KeeperState = { version: 2, scopes: { [scopeKey(scope())]: { safes: { [safe.toLowerCase()]: { pending: { ...record(used, sentBlock), userOpHash: undefined } } } } } }
    writeFileSync(stateFile, JSON.stringify(state))
    // A hosted RPC (scaled down tenfold to keep anvil fast): eth_getLogs over more than 1,000 blocks (or up to "latest"
    // from far back) is refused.
    const node = await startRpcProxy(env.devnet.rpcUrl)
    const logs = limitLogRange(node, 1_000n)
    const { events, onEvent } = collectKeeperEvents()
    const keeper = new Keeper(demoKeeperConfig(env, { rpcUrl: node.url, stateFile, logWindowBlocks: 200 }), { chain: env.devnet.chain, onEvent })
    await keeper.start()
    try {
      await waitFor("the old record cleared", () => (keeper.pending(safe) === undefined ? true : undefined), 30_000)
      const from = await move("down")
      const done = await waitFor("a rebalance after the restart", () => included(events, from), 40_000)
      expect(done.success).toBe(true)
      expect(alerts(events, "rpc-error")).toEqual([])
      expect(logs.widestSpan).toBeLessThanOrEqual(200n)
      expect(await keeperOps(from)).toHaveLength(1)
      expect(keeper.pending(safe)).toBeUndefined()
    } finally {
      await keeper.stop()
      await node.stop()
    }
  })

  test("restart with the default log window (2,000 blocks) against an RPC limited to 1,000: the window halves, the record clears, no alert", async () => {
    const safe = env.managed.address
    const used = (await keeperNonce()) - 1n // the operation of the previous test: landed
    const sentBlock = (await env.publicClient.getBlockNumber({ cacheTime: 0 })) - 5n
    await rpc(env.devnet.rpcUrl, "anvil_mine", ["0x5dc"]) // 1,500 blocks
    // Mining moved the clock past the feeds' maxOracleAge: refresh them at the same prices, so a feed check the keeper
    // makes before the price move below (the solver may plan in band) does not raise a stale-feed alert.
    await driver.set(prices)
    const stateFile = join(dir, "old-intent-default-window.json")
    const state: KeeperState = { version: 2, scopes: { [scopeKey(scope())]: { safes: { [safe.toLowerCase()]: { pending: record(used, sentBlock) } } } } }
    writeFileSync(stateFile, JSON.stringify(state))
    const node = await startRpcProxy(env.devnet.rpcUrl)
    const logs = limitLogRange(node, 1_000n)
    const config = demoKeeperConfig(env, { rpcUrl: node.url, stateFile })
    expect(config.logWindowBlocks).toBe(2_000)
    const { events, onEvent } = collectKeeperEvents()
    const keeper = new Keeper(config, { chain: env.devnet.chain, onEvent })
    await keeper.start()
    try {
      await waitFor("the old record cleared", () => (keeper.pending(safe) === undefined ? true : undefined), 30_000)
      const from = await move("down")
      const done = await waitFor("a rebalance after the restart", () => included(events, from), 40_000)
      expect(done.success).toBe(true)
      // One refusal (the whole ~1,500 blocks since the record), then half of that: the halved window is kept.
      expect(logs.refused).toBe(1)
      expect(logs.widestServed).toBeGreaterThan(0n)
      expect(logs.widestServed).toBeLessThanOrEqual(1_000n)
      expect(events.filter((e) => e.type === "alert")).toEqual([])
      expect(await keeperOps(from)).toHaveLength(1)
    } finally {
      await keeper.stop()
      await node.stop()
    }
  })

  test("state from the same Safe on another chain is ignored; a record ahead of the chain's nonce is dropped with an alert and the keeper sends at the chain's nonce", async () => {
    const safe = env.managed.address
    const chainNonce = await keeperNonce()
    const head = await env.publicClient.getBlockNumber({ cacheTime: 0 })
    const stateFile = join(dir, "foreign.json")
    const foreign = scopeKey({ ...scope(), chainId: 1 })
    const state: KeeperState = {
      version: 2,
      scopes: {
        // Same Safe address, another chain: a nonce far ahead and a recent block, which would block this chain.
        [foreign]: { safes: { [safe.toLowerCase()]: { pending: record(chainNonce + 7n, head) } } },
        // This chain: the operation before this one was dropped by a reorg and the bundler's mempool was cleared.
        [scopeKey(scope())]: { safes: { [safe.toLowerCase()]: { pending: record(chainNonce + 1n, head) } } },
      },
    }
    writeFileSync(stateFile, JSON.stringify(state))
    const { events, onEvent } = collectKeeperEvents()
    const keeper = new Keeper(demoKeeperConfig(env, { stateFile, resubmitAfterBlocks: 50 }), { chain: env.devnet.chain, onEvent })
    await keeper.start()
    try {
      const from = await move("up")
      const done = await waitFor("a rebalance at the chain's nonce", () => included(events, from), 40_000)
      expect(done.success).toBe(true)
      const mismatch = alerts(events, "nonce-mismatch")
      expect(mismatch.length).toBeGreaterThanOrEqual(1)
      expect(mismatch[0]?.message).toContain(`${chainNonce}`)
      const sent = events.filter((e): e is Extract<KeeperEvent, { type: "sent" }> => e.type === "sent")
      expect(sent[0]?.nonce).toBe(chainNonce)
      // Within a bounded number of blocks of the move (resubmitAfterBlocks is 50: no waiting on the stale record).
      expect(done.block - from).toBeLessThanOrEqual(15n)
      expect(await keeperNonce()).toBe(chainNonce + 1n)
      const after = KeeperStateStore.read(stateFile) as KeeperState
      expect(after.scopes[foreign]?.safes[safe.toLowerCase()]?.pending?.nonce).toBe((chainNonce + 7n).toString())
      expect(await keeperOps(from)).toHaveLength(1)
    } finally {
      await keeper.stop()
    }
  })

  test("a bundler answering AA25 to every send: the keeper alerts 'stalled' within stallAfterBlocks instead of waiting silently", async () => {
    const safe = env.managed.address
    const bundler = await startRpcProxy(env.devnet.bundlerUrl)
    bundler.state.intercept = (request) =>
      request.method !== "eth_sendUserOperation"
        ? undefined
        : {
            body: JSON.stringify({
              jsonrpc: "2.0",
              id: request.id ?? null,
              error: { code: -32602, message: "UserOperation failed validation with reason: AA25 invalid account nonce: Another UserOperation with same sender and nonce is already being processed" },
            }),
          }
    const { events, onEvent } = collectKeeperEvents()
    const keeper = new Keeper(demoKeeperConfig(env, { bundlerUrl: bundler.url, resubmitAfterBlocks: 2, stallAfterBlocks: 4 }), { chain: env.devnet.chain, onEvent })
    await keeper.start()
    try {
      const from = await move("up")
      const stalled = await waitFor("the stall alert", () => alerts(events, "stalled")[0], 40_000)
      expect(stalled.block - from).toBeLessThanOrEqual(15n)
      expect(keeper.metrics.value("levpilot_failures_total", { safe, kind: "stalled" })).toBeGreaterThanOrEqual(1)
      expect(keeper.metrics.value("levpilot_inflight_age_blocks", { safe })).toBeGreaterThanOrEqual(4)
      expect(events.some((e) => e.type === "tracking" && e.reason === "already-in-flight")).toBe(true)
      expect(await keeperOps(from)).toEqual([])
    } finally {
      await keeper.stop()
      await bundler.stop()
    }
    // The real bundler again: the same keeper state converges (the record is at the chain's nonce: resubmitted).
    const { events: after, onEvent: onAfter } = collectKeeperEvents()
    const again = new Keeper(demoKeeperConfig(env, { resubmitAfterBlocks: 2 }), { chain: env.devnet.chain, onEvent: onAfter })
    await again.start()
    try {
      const done = await waitFor("inclusion with the real bundler", () => included(after), 40_000)
      expect(done.success).toBe(true)
    } finally {
      await again.stop()
    }
  })

  // A feed that answers but fails the module's oracle checks does not revert the read: every plan listing the
  // sub-account reverts on chain, so the keeper must leave it out exactly like one whose oracle reverts.
  for (const [fault, check] of [
    ["stale", "OracleStale"],
    ["zero", "OraclePriceZero"],
  ] as const)
    test(`one sub-account's feed is ${fault} (no revert): it is left out with a feed-broken alert naming ${check}, the other is still rescued`, async () => {
      const safe = env.managed.address
      const oracle = env.markets.WETH.oracle as Address
      const brokenId = env.managed.subAccounts.WETH
      const okId = env.managed.subAccounts.WBTC
      const { answer, setFeed } = await simFeedOf(oracle)
      const { events, onEvent } = collectKeeperEvents()
      const keeper = new Keeper(demoKeeperConfig(env), { chain: env.devnet.chain, onEvent })
      try {
        const from = await move("down") // both prices move; then WETH's feed goes stale or answers 0
        const now = (await env.publicClient.getBlock({ blockTag: "latest" })).timestamp
        const fresh = await env.publicClient.readContract({ address: oracle, abi: simFeedAbi, functionName: "feedAnswer" })
        if (fault === "stale") await setFeed(fresh, now - 10_000n)
        else await setFeed(0n, now)
        await keeper.start()
        const done = await waitFor("a rebalance of the sub-account with a healthy feed", () => included(events, from), 45_000)
        expect(done.success).toBe(true)
        const plans = events.filter((e): e is Extract<KeeperEvent, { type: "sent" }> => e.type === "sent").map((e) => e.plan.subAccounts)
        expect(plans[0]).toEqual([okId])
        expect(alerts(events, "send-failed")).toEqual([])
        const broken = alerts(events, "feed-broken")
        expect(broken).toHaveLength(1)
        expect(broken[0]?.message).toContain(brokenId)
        expect(broken[0]?.message).toContain(`fails the module's ${check} check`)
        expect(keeper.metrics.value("levpilot_subaccount_unreadable", { safe, sub_account: brokenId, venue: "morpho-blue" })).toBe(1)
        expect(keeper.metrics.value("levpilot_subaccount_unreadable", { safe, sub_account: okId, venue: "morpho-blue" })).toBe(0)
        // The keeper keeps running, and no operation lists the sub-account whose feed fails.
        const ops = await keeperOps(from)
        const sentSince = events.filter((e): e is Extract<KeeperEvent, { type: "sent" }> => e.type === "sent").map((e) => e.plan.subAccounts)
        expect(sentSince.every((subAccounts) => !subAccounts.includes(brokenId)), JSON.stringify(sentSince)).toBe(true)
        expect(ops).toHaveLength(1)
        // The feed recovers: the gauge returns to 0.
        await setFeed(fresh, (await env.publicClient.getBlock({ blockTag: "latest" })).timestamp)
        await waitFor("the feed passing again", () => (keeper.metrics.value("levpilot_subaccount_unreadable", { safe, sub_account: brokenId, venue: "morpho-blue" }) === 0 ? true : undefined), 20_000)
      } finally {
        await keeper.stop()
        await setFeed(answer, (await env.publicClient.getBlock({ blockTag: "latest" })).timestamp)
      }
    })

  test("one sub-account's feed stamped a few seconds ahead of the chain at every block (inside the read-race tolerance): the chain's simulation refuses it, it is left out, feed-broken once it repeats, the other is rescued", async () => {
    const safe = env.managed.address
    const oracle = env.markets.WETH.oracle as Address
    const brokenId = env.managed.subAccounts.WETH
    const okId = env.managed.subAccounts.WBTC
    const { answer, setFeed } = await simFeedOf(oracle)
    const { events, onEvent } = collectKeeperEvents()
    const keeper = new Keeper(demoKeeperConfig(env), { chain: env.devnet.chain, onEvent })
    // A forged or skewed feed: at every block its answer is stamped 6 s after the chain's head (FEED_READ_AHEAD_SECONDS
    // is 12 s, so the keeper's read cannot tell it from the node's read race).
    let forging = true
    let forger: Promise<void> = Promise.resolve()
    let fresh = answer
    try {
      const from = await move("down") // both prices move; then WETH's feed is stamped ahead
      fresh = await env.publicClient.readContract({ address: oracle, abi: simFeedAbi, functionName: "feedAnswer" })
      const stamp = async () => setFeed(fresh, (await env.publicClient.getBlock({ blockTag: "latest" })).timestamp + 6n)
      await stamp()
      forger = (async () => {
        while (forging) await stamp().catch(() => undefined)
      })()
      await keeper.start()
      const broken = await waitFor("the feed-broken alert", () => alerts(events, "feed-broken")[0], 60_000).catch((e: unknown) => {
        // What the keeper did instead, for the failure's message.
        console.log("events:", JSON.stringify(events.map((x) => [x.type, "block" in x ? String(x.block) : "", "kind" in x ? x.kind : "", "message" in x ? String(x.message).slice(0, 300) : ""])))
        throw e
      })
      expect(broken.message).toContain(brokenId)
      expect(broken.message).toContain("fails the module's OracleStale check")
      const done = await waitFor("a rebalance of the sub-account with a healthy feed", () => included(events, from), 45_000)
      expect(done.success).toBe(true)
      const sent = events.filter((e): e is Extract<KeeperEvent, { type: "sent" }> => e.type === "sent").map((e) => e.plan.subAccounts)
      expect(sent.length).toBeGreaterThan(0)
      expect(sent.every((subAccounts) => !subAccounts.includes(brokenId)), JSON.stringify(sent)).toBe(true)
      expect(alerts(events, "feed-broken")).toHaveLength(1)
      // The oracle refusal never surfaces as a failed send (a loaded machine can add an unrelated one, e.g. a bundler
      // answer that timed out: those name neither the broken sub-account nor an oracle check).
      const oracleSendFailures = alerts(events, "send-failed").filter((a) => a.message.includes(brokenId) || /Oracle(Stale|PriceZero|Decimals|Deviation|AnswerOutOfBounds)/.test(a.message))
      expect(oracleSendFailures).toEqual([])
      expect(keeper.metrics.value("levpilot_subaccount_unreadable", { safe, sub_account: brokenId, venue: "morpho-blue" })).toBe(1)
      expect(keeper.metrics.value("levpilot_subaccount_unreadable", { safe, sub_account: okId, venue: "morpho-blue" })).toBe(0)
      // The feed stamped honestly again: WETH is planned and rescued, the gauge back to 0.
      forging = false
      await forger
      await setFeed(fresh, (await env.publicClient.getBlock({ blockTag: "latest" })).timestamp)
      await waitFor("the feed passing again", () => (keeper.metrics.value("levpilot_subaccount_unreadable", { safe, sub_account: brokenId, venue: "morpho-blue" }) === 0 ? true : undefined), 30_000)
    } finally {
      forging = false
      await forger
      await keeper.stop()
      await setFeed(answer, (await env.publicClient.getBlock({ blockTag: "latest" })).timestamp)
    }
  })

  test("one sub-account's oracle reverts: the Safe's other sub-account is still managed, with an alert and a metric", async () => {
    const safe = env.managed.address
    const oracle = env.markets.WETH.oracle as Address
    const code = (await rpc(env.devnet.rpcUrl, "eth_getCode", [oracle, "latest"])) as Hex
    const brokenId = env.managed.subAccounts.WETH
    const okId = env.managed.subAccounts.WBTC
    const { events, onEvent } = collectKeeperEvents()
    const keeper = new Keeper(demoKeeperConfig(env), { chain: env.devnet.chain, onEvent })
    try {
      const from = await move("down") // both prices move; then WETH's feed breaks
      await rpc(env.devnet.rpcUrl, "anvil_setCode", [oracle, "0x60006000fd"]) // PUSH1 0 PUSH1 0 REVERT
      await keeper.start()
      const done = await waitFor("a rebalance of the readable sub-account", () => included(events, from), 40_000)
      expect(done.success).toBe(true)
      const plans = events.filter((e): e is Extract<KeeperEvent, { type: "sent" }> => e.type === "sent").map((e) => e.plan.subAccounts)
      expect(plans[0]).toEqual([okId])
      const broken = alerts(events, "feed-broken")
      expect(broken).toHaveLength(1)
      expect(broken[0]?.message).toContain(brokenId)
      expect(keeper.metrics.value("levpilot_subaccount_unreadable", { safe, sub_account: brokenId, venue: "morpho-blue" })).toBe(1)
      expect(keeper.metrics.value("levpilot_subaccount_unreadable", { safe, sub_account: okId, venue: "morpho-blue" })).toBe(0)
      expect(await keeperOps(from)).toHaveLength(1)
      // The feed comes back: the gauge returns to 0.
      await rpc(env.devnet.rpcUrl, "anvil_setCode", [oracle, code])
      await waitFor("the feed readable again", () => (keeper.metrics.value("levpilot_subaccount_unreadable", { safe, sub_account: brokenId, venue: "morpho-blue" }) === 0 ? true : undefined), 20_000)
      expect(getAddress(oracle)).toBe(getAddress(env.markets.WETH.oracle))
    } finally {
      await keeper.stop()
      await rpc(env.devnet.rpcUrl, "anvil_setCode", [oracle, code])
    }
  })
})

/**
 * Makes `node` (an {@link startRpcProxy}) refuse `eth_getLogs` over more than `maxBlocks` blocks, as hosted RPCs do
 * (a toBlock of "latest" counts from far back), and records what was asked: the widest span (toBlock - fromBlock), the
 * widest range served (blocks, inclusive) and the refusals.
 */
function limitLogRange(node: Awaited<ReturnType<typeof startRpcProxy>>, maxBlocks: bigint) {
  const logs = { widestSpan: 0n, widestServed: 0n, refused: 0 }
  let head = 0n
  node.state.intercept = async (request, forward) => {
    if (request.method === "eth_blockNumber") {
      const body = await forward()
      head = hexToBigInt((JSON.parse(body) as { result: Hex }).result)
      return { body }
    }
    if (request.method !== "eth_getLogs") return undefined
    const filter = (request.params?.[0] ?? {}) as { fromBlock?: string; toBlock?: string }
    const fromBlock = filter.fromBlock?.startsWith("0x") ? hexToBigInt(filter.fromBlock as Hex) : 0n
    const toBlock = filter.toBlock?.startsWith("0x") ? hexToBigInt(filter.toBlock as Hex) : head + 1_000_000n
    if (toBlock - fromBlock > logs.widestSpan) logs.widestSpan = toBlock - fromBlock
    if (toBlock - fromBlock + 1n > maxBlocks) {
      logs.refused++
      return { body: JSON.stringify({ jsonrpc: "2.0", id: request.id ?? null, error: { code: -32600, message: `eth_getLogs is limited to a ${maxBlocks.toLocaleString("en-US")} block range` } }) }
    }
    if (toBlock - fromBlock + 1n > logs.widestServed) logs.widestServed = toBlock - fromBlock + 1n
    return undefined
  }
  return logs
}
