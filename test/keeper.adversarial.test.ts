import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http"
import { mkdtempSync } from "node:fs"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Hex, keccak256, toHex } from "viem"
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest"
import { leverageModuleAbi } from "@levpilot/sdk/abis"
import { type DemoEnv, startDemoEnv } from "../bundler-client/src/devnet/env"
import { demoKeeperConfig } from "../bundler-client/src/devnet/keeperConfig"
import { PriceDriver } from "../bundler-client/src/devnet/scenario"
import { Keeper, type KeeperEvent } from "../bundler-client/src/keeper/keeper"
import { collectKeeperEvents, demoProbes, priceShocks, waitFor } from "./keeperProbes"

/**
 * Adversarial keeper tests on the devnet (anvil + Alto + paymaster, real contracts): garbage JSON-RPC answers from the
 * RPC and the bundler, a bundler that lies about sending and inclusion, and a chain reorganisation that removes an
 * included rebalance. Each ends with exactly one execution on chain and the Safe's net value kept.
 */

let env: DemoEnv
let driver: PriceDriver
const dir = mkdtempSync(join(tmpdir(), "levpilot-adversarial-"))

const { waitBlocks, healths, netValue, keeperOps, keeperNonce, quiesce } = demoProbes(() => env)

async function rebalancedEvents(fromBlock: bigint) {
  return env.publicClient.getContractEvents({ address: env.stack.leverageModule, abi: leverageModuleAbi, eventName: "Rebalanced", fromBlock, toBlock: "latest" })
}

const { shock } = priceShocks(() => driver)

const anvilRpc = async (method: string, params: unknown[]): Promise<unknown> => {
  const r = await fetch(env.devnet.rpcUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) })
  const json = (await r.json()) as { result?: unknown; error?: { message: string } }
  if (json.error) throw new Error(`${method}: ${json.error.message}`)
  return json.result
}

type RpcRequest = { jsonrpc?: string; id?: unknown; method?: string; params?: unknown[] }
/** What the proxy answers instead of the upstream: a body (HTTP 200 unless `status`), or a body cut off mid-way. */
type Reply = { body: string; status?: number; truncate?: boolean }
type Intercept = (request: RpcRequest, forward: () => Promise<string>) => Promise<Reply | undefined> | Reply | undefined

/**
 * A loopback JSON-RPC proxy (node:http, 127.0.0.1, random port) in front of `target`. `intercept` may answer a call
 * itself (garbage, lies); otherwise the call is forwarded unchanged.
 */
async function startProxy(target: string) {
  const counts = new Map<string, number>()
  const state = { intercept: undefined as Intercept | undefined, intercepted: 0 }
  const server: Server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks).toString()
    let request: RpcRequest | RpcRequest[] | undefined
    try {
      request = JSON.parse(body) as RpcRequest | RpcRequest[]
    } catch {}
    const forward = async () => (await fetch(target, { method: "POST", headers: { "content-type": "application/json" }, body })).text()
    try {
      const single = request && !Array.isArray(request) ? request : undefined
      if (single?.method) counts.set(single.method, (counts.get(single.method) ?? 0) + 1)
      const reply = single && state.intercept ? await state.intercept(single, forward) : undefined
      if (!reply) {
        const text = await forward()
        res.writeHead(200, { "content-type": "application/json" })
        res.end(text)
        return
      }
      state.intercepted += 1
      if (reply.truncate) {
        const cut = reply.body.slice(0, Math.max(1, Math.floor(reply.body.length / 2)))
        res.writeHead(200, { "content-type": "application/json", "content-length": String(Buffer.byteLength(reply.body)) })
        res.write(cut)
        setTimeout(() => res.destroy(), 5)
        return
      }
      res.writeHead(reply.status ?? 200, { "content-type": "application/json" })
      res.end(reply.body)
    } catch {
      if (!res.headersSent) res.writeHead(502)
      res.end()
    }
  })
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    state,
    count: (method: string) => counts.get(method) ?? 0,
    stop: () =>
      new Promise<void>((done) => {
        server.closeAllConnections()
        server.close(() => done())
      }),
  }
}

/** Five kinds of garbage, in turn: invalid JSON, an object result, a JSON-RPC error, a truncated body, a non-hex string. */
function garbage(): Intercept {
  let n = 0
  return (request) => {
    const id = JSON.stringify(request.id ?? null)
    const kind = n++ % 5
    if (kind === 0) return { body: `{"jsonrpc":"2.0","id":${id},"result":"0x<html>bad gateway` }
    if (kind === 1) return { body: `{"jsonrpc":"2.0","id":${id},"result":{"unexpected":[1,2,3]}}` }
    if (kind === 2) return { body: `{"jsonrpc":"2.0","id":${id},"error":{"code":-32603,"message":"proxy: internal garbage"}}` }
    if (kind === 3) return { body: `{"jsonrpc":"2.0","id":${id},"result":"0x${"ab".repeat(64)}"}`, truncate: true }
    return { body: `{"jsonrpc":"2.0","id":${id},"result":"not-a-hex-value"}` }
  }
}

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

describe("keeper under adversarial conditions", () => {
  test("garbage from the RPC and the bundler, then recovery: no crash, no double send, exactly one rebalance", async () => {
    const rpc = await startProxy(env.devnet.rpcUrl)
    const bundler = await startProxy(env.devnet.bundlerUrl)
    const { events, onEvent } = collectKeeperEvents()
    const nonceBefore = await keeperNonce()
    rpc.state.intercept = garbage()
    bundler.state.intercept = garbage()
    const keeper = new Keeper(demoKeeperConfig(env, { rpcUrl: rpc.url, bundlerUrl: bundler.url, stateFile: join(dir, "garbage.json") }), { chain: env.devnet.chain, onEvent })
    await keeper.start()
    try {
      const from = await shock(0.8)
      const before = await netValue()
      expect(Math.min(...(await healths()))).toBeLessThan(env.settings.band.min)
      // Phase 1: every RPC answer is garbage (the bundler is never reached).
      await waitFor("25 garbage RPC answers", () => rpc.state.intercepted >= 25 || undefined)
      expect(await keeperOps(from)).toEqual([])
      // Phase 2: the RPC is sane, every bundler answer is garbage.
      rpc.state.intercept = undefined
      await waitFor("8 garbage bundler answers", () => bundler.state.intercepted >= 8 || undefined)
      expect(await keeperOps(from)).toEqual([])
      // Phase 3: the bundler forwards eth_sendUserOperation to Alto but the answer is cut off: the op is in Alto's
      // mempool while the keeper saw a failure.
      const sendsBefore = bundler.count("eth_sendUserOperation")
      let garbledSends = 0
      bundler.state.intercept = async (request, forward) => {
        if (request.method !== "eth_sendUserOperation" || garbledSends > 0) return undefined
        garbledSends += 1
        const upstream = await forward()
        return { body: upstream, truncate: true }
      }
      await waitFor("a forwarded eth_sendUserOperation with a truncated answer", () => garbledSends > 0 || undefined)
      // Recovery: everything sane from now on.
      await waitFor("the rebalance on chain", async () => ((await keeperOps(from)).length > 0 ? true : undefined))
      await waitBlocks(4)
      const ops = await keeperOps(from)
      expect(ops).toHaveLength(1)
      expect(ops[0]?.args.success).toBe(true)
      expect(await rebalancedEvents(from)).toHaveLength(1)
      expect(await keeperNonce()).toBe(nonceBefore + 1n)
      expect(Math.min(...(await healths()))).toBeGreaterThanOrEqual(env.settings.band.min)
      expect(await netValue()).toBeGreaterThan(before * 0.995)
      // The keeper kept running: it alerted on the garbage and its later sends (if any) reused the same nonce.
      expect(events.some((e) => e.type === "alert")).toBe(true)
      for (const e of events) if (e.type === "sent") expect(e.nonce).toBe(nonceBefore)
      expect(bundler.count("eth_sendUserOperation")).toBeGreaterThan(sendsBefore)
    } finally {
      await keeper.stop()
      await rpc.stop()
      await bundler.stop()
    }
  })

  test("a bundler that lies (fake hash without forwarding, fake success receipts): nothing recorded until the real op lands once", async () => {
    const bundler = await startProxy(env.devnet.bundlerUrl)
    const { events, onEvent } = collectKeeperEvents()
    const nonceBefore = await keeperNonce()
    const fakeHashes: Hex[] = []
    let lying = true
    bundler.state.intercept = (request) => {
      const id = JSON.stringify(request.id ?? null)
      if (lying && request.method === "eth_sendUserOperation") {
        const hash = keccak256(toHex(`fake-${fakeHashes.length}-${Date.now()}`))
        fakeHashes.push(hash)
        return { body: JSON.stringify({ jsonrpc: "2.0", id: request.id ?? null, result: hash }) }
      }
      if (lying && request.method === "eth_getUserOperationReceipt") {
        const hash = (request.params?.[0] ?? "0x") as Hex
        const receipt = {
          userOpHash: hash,
          entryPoint: env.devnet.addresses.entryPoint,
          sender: env.managed.address,
          nonce: toHex(nonceBefore),
          paymaster: env.devnet.addresses.verifyingPaymaster,
          actualGasUsed: "0x1",
          actualGasCost: "0x1",
          success: true,
          logs: [],
          receipt: { transactionHash: hash, blockNumber: "0x1", blockHash: hash, status: "0x1", logs: [], gasUsed: "0x1", cumulativeGasUsed: "0x1", from: env.managed.address, to: env.devnet.addresses.entryPoint, transactionIndex: "0x0", effectiveGasPrice: "0x1", logsBloom: `0x${"00".repeat(256)}`, type: "0x2", contractAddress: null },
        }
        return { body: `{"jsonrpc":"2.0","id":${id},"result":${JSON.stringify(receipt)}}` }
      }
      return undefined
    }
    const keeper = new Keeper(demoKeeperConfig(env, { bundlerUrl: bundler.url, stateFile: join(dir, "liar.json"), resubmitAfterBlocks: 2 }), { chain: env.devnet.chain, onEvent })
    await keeper.start()
    try {
      const from = await shock(0.8)
      const before = await netValue()
      await waitFor("two lied sends (the first and a resubmission)", () => fakeHashes.length >= 2 || undefined, 30_000)
      // While the bundler lies, nothing happened on chain and the keeper recorded nothing as included.
      expect(await keeperOps(from)).toEqual([])
      expect(await keeperNonce()).toBe(nonceBefore)
      expect(events.filter((e) => e.type === "included")).toEqual([])
      expect(keeper.metrics.value("levpilot_rebalances_total", { safe: env.managed.address, result: "success" }) ?? 0).toBe(0)
      expect(fakeHashes).toContain(keeper.pending(env.managed.address)?.userOpHash)
      expect(events.some((e) => e.type === "resubmit")).toBe(true)
      lying = false
      const included = await waitFor("the real inclusion", () => events.find((e) => e.type === "included"), 40_000)
      await waitBlocks(2)
      const ops = await keeperOps(from)
      expect(ops).toHaveLength(1)
      expect(ops[0]?.args.success).toBe(true)
      expect(await rebalancedEvents(from)).toHaveLength(1)
      expect(await keeperNonce()).toBe(nonceBefore + 1n)
      const sent = events.filter((e): e is Extract<KeeperEvent, { type: "sent" }> => e.type === "sent")
      for (const s of sent) expect(s.nonce).toBe(nonceBefore)
      const real = sent.at(-1)
      expect(fakeHashes).not.toContain(real?.userOpHash)
      expect(included.type === "included" && included.success && included.known).toBe(true)
      expect(included.type === "included" && included.userOpHash).toBe(ops[0]?.args.userOpHash)
      expect(ops[0]?.args.userOpHash).toBe(real?.userOpHash)
      expect(events.filter((e) => e.type === "included")).toHaveLength(1)
      expect(keeper.pending(env.managed.address)).toBeUndefined()
      expect(Math.min(...(await healths()))).toBeGreaterThanOrEqual(env.settings.band.min)
      expect(await netValue()).toBeGreaterThan(before * 0.995)
    } finally {
      await keeper.stop()
      await bundler.stop()
    }
  })

  test("a reorg (evm_snapshot / evm_revert) removes the included rebalance: the keeper re-reads the chain and it executes exactly once", async () => {
    const { events, onEvent } = collectKeeperEvents()
    const nonceBefore = await keeperNonce()
    const from = await shock(0.8)
    const before = await netValue()
    // State at the oracle update's block, before any rebalance.
    const snapshot = (await anvilRpc("evm_snapshot", [])) as Hex
    const keeper = new Keeper(demoKeeperConfig(env, { stateFile: join(dir, "reorg.json"), resubmitAfterBlocks: 3, }), { chain: env.devnet.chain, onEvent })
    await keeper.start()
    try {
      const first = await waitFor("the first inclusion", () => events.find((e) => e.type === "included"), 30_000)
      expect(first.type === "included" && first.success).toBe(true)
      expect(await keeperOps(from)).toHaveLength(1)
      expect(await keeperNonce()).toBe(nonceBefore + 1n)
      expect(await anvilRpc("evm_revert", [snapshot])).toBe(true)
      // The op is gone: the nonce is back and the Safe is out of band again.
      expect(await keeperNonce()).toBe(nonceBefore)
      expect(await keeperOps(from)).toEqual([])
      expect(Math.min(...(await healths()))).toBeLessThan(env.settings.band.min)
      // Either the keeper re-solves and resends the same nonce (its pending op was cleared at the first inclusion),
      // or Alto, which still tracks the reverted bundle, lands the original op again and rejects the keeper's resend
      // (AA25, same sender and nonce already being processed). Both must end with exactly one execution.
      const reorgedAt = Date.now()
      await waitFor("the rebalance back on chain after the reorg", async () => ((await keeperNonce()) > nonceBefore ? true : undefined), 45_000)
      const relandMs = Date.now() - reorgedAt
      console.log(`reorg: op back on chain after ${relandMs} ms; keeper events: ${events.map((e) => (e.type === "alert" ? `alert:${e.kind}` : e.type)).join(",")}`)
      await waitBlocks(2)
      const ops = await keeperOps(from)
      expect(ops).toHaveLength(1)
      expect(ops[0]?.args.success).toBe(true)
      expect(ops[0]?.args.nonce).toBe(nonceBefore)
      expect(await rebalancedEvents(from)).toHaveLength(1)
      expect(await keeperNonce()).toBe(nonceBefore + 1n)
      for (const e of events) if (e.type === "sent") expect(e.nonce).toBe(nonceBefore)
      expect(Math.min(...(await healths()))).toBeGreaterThanOrEqual(env.settings.band.min)
      expect(await netValue()).toBeGreaterThan(before * 0.995)
    } finally {
      await keeper.stop()
    }
  })
})
