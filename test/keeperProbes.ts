import { Writable } from "node:stream"
import { pino } from "pino"
import { type Address, erc4626Abi } from "viem"
import { entryPoint07Abi } from "viem/account-abstraction"
import { leverageModuleAbi } from "@levpilot/sdk/abis"
import { privateKeyToAccount } from "viem/accounts"
import { type DemoAsset, type DemoEnv, demoAssets } from "../bundler-client/src/devnet/env"
import { readMorphoPosition } from "../bundler-client/src/devnet/liquidator"
import type { PriceDriver } from "../bundler-client/src/devnet/scenario"
import type { KeeperEvent } from "../bundler-client/src/keeper/keeper"

/** The nonce key of the demo keeper's operations for `safe` (the managed Safe by default), read from the module. */
export function keeperNonceKeyOf(env: DemoEnv, safe: Address = env.managed.address): Promise<bigint> {
  return env.publicClient.readContract({
    address: env.deployment.leverageModule,
    abi: leverageModuleAbi,
    functionName: "keeperNonceKey",
    args: [safe, privateKeyToAccount(env.keys.keeper).address],
  })
}

/**
 * One raw JSON-RPC request to `url` (anvil's `anvil_*` / `evm_*` methods, Alto's `debug_bundler_*`), outside viem so
 * a test can call what no viem action wraps.
 *
 * @returns The answer's `result`.
 * @throws Error "<method>: <message>" when the answer carries a JSON-RPC error.
 */
export async function rpc(url: string, method: string, params: unknown[]): Promise<unknown> {
  const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) })
  const json = (await r.json()) as { result?: unknown; error?: { message: string } }
  if (json.error) throw new Error(`${method}: ${json.error.message}`)
  return json.result
}

/** Polls `check` every 100 ms until it returns a value other than undefined / false. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    const value = await check()
    if (value !== undefined && value !== false) return value
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/**
 * Chain-side probes the keeper tests share: blocks, health per sub-account, the managed Safe's net value and its keeper
 * UserOperations. `getEnv` is read at call time (the devnet starts in `beforeAll`).
 */
export function demoProbes(getEnv: () => DemoEnv) {
  const waitBlocks = async (n: number) => {
    const env = getEnv()
    const target = (await env.publicClient.getBlockNumber({ cacheTime: 0 })) + BigInt(n)
    await waitFor(`block ${target}`, async () => (await env.publicClient.getBlockNumber({ cacheTime: 0 })) >= target || undefined)
  }

  /** Each demo market's health of `safe` (default the managed Safe), at `blockNumber` (default latest). */
  const healths = async (safe?: Address, blockNumber?: bigint): Promise<number[]> => {
    const env = getEnv()
    const out: number[] = []
    for (const asset of demoAssets)
      out.push(Number((await readMorphoPosition(env.publicClient, env.stack.morpho, env.markets[asset], safe ?? env.managed.address, blockNumber)).health) / 1e18)
    return out
  }

  /** The managed Safe's net value in USDC at the current oracle prices: Morpho positions plus pool shares. */
  const netValue = async (): Promise<number> => {
    const env = getEnv()
    let value = 0
    for (const asset of demoAssets) {
      const p = await readMorphoPosition(env.publicClient, env.stack.morpho, env.markets[asset], env.managed.address)
      value += (Number(p.collateral) * Number(p.price)) / 1e36 / 1e6 - Number(p.debt) / 1e6
    }
    const shares = await env.publicClient.readContract({ address: env.stack.vaults.usdc, abi: erc4626Abi, functionName: "balanceOf", args: [env.managed.address] })
    const assets = await env.publicClient.readContract({ address: env.stack.vaults.usdc, abi: erc4626Abi, functionName: "convertToAssets", args: [shares] })
    return value + Number(assets) / 1e6
  }

  /** UserOperationEvents of the managed Safe on the keeper nonce key since `fromBlock`. */
  const keeperOps = async (fromBlock: bigint) => {
    const env = getEnv()
    const events = await env.publicClient.getContractEvents({
      address: env.devnet.addresses.entryPoint,
      abi: entryPoint07Abi,
      eventName: "UserOperationEvent",
      args: { sender: env.managed.address },
      fromBlock,
      toBlock: "latest",
    })
    const key = await keeperNonceKeyOf(env)
    return events.filter((e) => (e.args.nonce ?? 0n) >> 64n === key)
  }

  /** The EntryPoint nonce of the managed Safe on the keeper nonce key. */
  const keeperNonce = async (): Promise<bigint> => {
    const env = getEnv()
    return env.publicClient.readContract({ address: env.devnet.addresses.entryPoint, abi: entryPoint07Abi, functionName: "getNonce", args: [env.managed.address, await keeperNonceKeyOf(env)] })
  }

  /**
   * Waits until the managed Safe's keeper nonce has not moved for `quietBlocks` blocks, so an operation a stopped keeper
   * sent before it stopped (still in the bundler's mempool) lands before the next test counts operations from its own
   * starting block. Throws after `timeoutMs` if the nonce keeps moving.
   */
  const quiesce = async (quietBlocks = 4, timeoutMs = 60_000) => {
    const env = getEnv()
    let nonce = await keeperNonce()
    let since = await env.publicClient.getBlockNumber({ cacheTime: 0 })
    await waitFor(
      `the keeper nonce quiet for ${quietBlocks} blocks`,
      async () => {
        const [now, block] = await Promise.all([keeperNonce(), env.publicClient.getBlockNumber({ cacheTime: 0 })])
        if (now !== nonce) {
          nonce = now
          since = block
          return undefined
        }
        return block - since >= BigInt(quietBlocks) || undefined
      },
      timeoutMs,
    )
  }

  return { waitBlocks, healths, netValue, keeperOps, keeperNonce, quiesce }
}

/**
 * Price shocks from the demo's start prices (WETH 3000, WBTC 60000): `shock(0.8)` multiplies both oracle prices by 0.8
 * and resolves with the block the update landed in. `getDriver` is read at call time.
 */
export function priceShocks(getDriver: () => PriceDriver) {
  let prices: Record<DemoAsset, number> = { WETH: 3000, WBTC: 60000 }
  return {
    shock: (factor: number): Promise<bigint> => {
      prices = { WETH: prices.WETH * factor, WBTC: prices.WBTC * factor }
      return getDriver().set(prices)
    },
  }
}

/** Collects a keeper's events except the per-block "observed" ones; pass `onEvent` to the Keeper. */
export function collectKeeperEvents() {
  const events: KeeperEvent[] = []
  return { events, onEvent: (e: KeeperEvent) => e.type !== "observed" && events.push(e) }
}

/** A JSON-RPC request as a proxy sees it. */
export type ProxiedRequest = { jsonrpc?: string; id?: unknown; method?: string; params?: unknown[] }
/** What a proxy answers instead of the upstream (HTTP 200 unless `status`); undefined forwards the call unchanged. */
export type ProxyIntercept = (request: ProxiedRequest, forward: () => Promise<string>) => Promise<{ body: string; status?: number } | undefined> | { body: string; status?: number } | undefined

/**
 * A loopback JSON-RPC proxy (node:http, 127.0.0.1, random port) in front of `target`: `state.intercept` may answer a
 * call itself (errors, garbage) or forward it and alter the answer; batches are forwarded as they are.
 */
export async function startRpcProxy(target: string) {
  const { createServer } = await import("node:http")
  const state = { intercept: undefined as ProxyIntercept | undefined, intercepted: 0 }
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks).toString()
    let request: ProxiedRequest | ProxiedRequest[] | undefined
    try {
      request = JSON.parse(body) as ProxiedRequest | ProxiedRequest[]
    } catch {}
    const forward = async () => (await fetch(target, { method: "POST", headers: { "content-type": "application/json" }, body })).text()
    try {
      const single = request && !Array.isArray(request) ? request : undefined
      const reply = single && state.intercept ? await state.intercept(single, forward) : undefined
      if (reply) state.intercepted += 1
      res.writeHead(reply?.status ?? 200, { "content-type": "application/json" })
      res.end(reply ? reply.body : await forward())
    } catch {
      if (!res.headersSent) res.writeHead(502)
      res.end()
    }
  })
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done))
  const { port } = server.address() as import("node:net").AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    state,
    stop: () =>
      new Promise<void>((done) => {
        server.closeAllConnections()
        server.close(() => done())
      }),
  }
}

/** A debug-level pino logger whose JSON lines are parsed into `lines` (tests assert what was logged, and how often). */
export function captureLogs() {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split("\n")) if (line.trim()) lines.push(JSON.parse(line))
      done()
    },
  })
  return { lines, logger: pino({ level: "debug" }, stream) }
}
