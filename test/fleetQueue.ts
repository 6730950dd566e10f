import { createHmac } from "node:crypto"
import { type IncomingHttpHeaders, createServer } from "node:http"
import type { Logger } from "pino"
import { type Address, getAddress } from "viem"
import { entryPoint07Abi } from "viem/account-abstraction"
import type { KeeperEvent } from "../bundler-client/src/keeper/events"
import { FleetNode } from "../bundler-client/src/keeper/fleet/queueNode"
import { type FleetEnv, startFleetEnv } from "./fleetEnv"
import { afterAll, beforeAll } from "vitest"
import { keeperNonceKeyOf, startRpcProxy } from "./keeperProbes"
import { type RedisServer, startRedisServer } from "./redisServer"

/** A posted webhook notification as the receiver saw it. */
export type Received = { id: string; headers: IncomingHttpHeaders; body: Record<string, unknown>; raw: string; status: number }

/**
 * A real webhook receiver (node:http on 127.0.0.1): the first `failFirst` attempts of every notification id are
 * answered 503, later ones 200 (so every delivery shows a retry).
 */
export async function startWebhookReceiver(options: { failFirst?: number } = {}) {
  const failFirst = options.failFirst ?? 1
  const attempts = new Map<string, number>()
  const received: Received[] = []
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const raw = Buffer.concat(chunks).toString()
    const id = String(req.headers["x-levpilot-delivery"] ?? "")
    const n = (attempts.get(id) ?? 0) + 1
    attempts.set(id, n)
    const status = n <= failFirst ? 503 : 200
    let body: Record<string, unknown> = {}
    try {
      body = JSON.parse(raw) as Record<string, unknown>
    } catch {}
    received.push({ id, headers: req.headers, body, raw, status })
    res.writeHead(status, { "content-type": "text/plain" })
    res.end(status === 200 ? "ok" : "try again")
  })
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done))
  const { port } = server.address() as import("node:net").AddressInfo
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    /** Notifications answered 200, by id. */
    delivered: () => received.filter((r) => r.status === 200),
    attempts,
    verify: (r: Received, secret: string) => r.headers["x-levpilot-signature"] === `sha256=${createHmac("sha256", secret).update(r.raw).digest("hex")}`,
    stop: () =>
      new Promise<void>((done) => {
        server.closeAllConnections()
        server.close(() => done())
      }),
  }
}

let prefixes = 0

/** A fleet configuration on Redis for the Safes of `allowlist` only (each call: its own key prefix). */
export function queueConfigJson(f: FleetEnv, redisUrl: string, allowlist: readonly Address[], overrides: Record<string, unknown> = {}) {
  const { fleet, ...rest } = overrides as { fleet?: Record<string, unknown> }
  return {
    allowlist,
    resubmitAfterBlocks: 1_000,
    fleet: {
      batchSize: 4,
      refreshEveryBlocks: 1_000_000,
      queue: { redisUrl, prefix: `t${process.pid}-${++prefixes}`, leaseMs: 1_500, workerConcurrency: 8 },
      ...fleet,
    },
    ...rest,
  }
}

/** Starts a fleet node of `config` collecting its events (observed ones included). */
export async function startNode(f: FleetEnv, config: ReturnType<FleetEnv["fleetConfig"]>, options: { lead?: boolean; logger?: Logger } = {}) {
  const events: KeeperEvent[] = []
  const node = new FleetNode(config, { chain: f.env.devnet.chain, onEvent: (e) => events.push(e), lead: options.lead, logger: options.logger })
  await node.start()
  return { node, events }
}

/** Keeper-lane UserOperationEvents of `safe` since `fromBlock`. */
export async function keeperOpsOf(f: FleetEnv, safe: Address, fromBlock: bigint) {
  const logs = await f.env.publicClient.getContractEvents({
    address: f.env.devnet.addresses.entryPoint,
    abi: entryPoint07Abi,
    eventName: "UserOperationEvent",
    args: { sender: safe },
    fromBlock,
    toBlock: "latest",
  })
  const key = await keeperNonceKeyOf(f.env, safe)
  return logs.filter((e) => (e.args.nonce ?? 0n) >> 64n === key)
}

/** The Safes of `events` of `type` (checksummed). */
export const safesOf = (events: readonly KeeperEvent[], type: KeeperEvent["type"]) =>
  events.filter((e) => e.type === type).map((e) => getAddress((e as { safe: Address }).safe))

/** Alto's debug mode switch (manual: operations wait in its mempool until set back to auto). */
export async function bundlingMode(f: FleetEnv, mode: "manual" | "auto") {
  const r = await fetch(f.env.devnet.bundlerUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "debug_bundler_setBundlingMode", params: [mode] }),
  })
  const json = (await r.json()) as { error?: { message: string } }
  if (json.error) throw new Error(`debug_bundler_setBundlingMode: ${json.error.message}`)
}

/**
 * A real HTTP hop in front of Alto ({@link startRpcProxy}) that forwards every JSON-RPC request, records the
 * UserOperation requests by sender, and holds `eth_sendUserOperation` for the sender given to `hold` until `release`
 * (the keeper is then between its decision and its send).
 */
export async function startBundlerGate(target: string) {
  const proxy = await startRpcProxy(target)
  const requests: { method: string; sender: string | undefined; at: number }[] = []
  let holding: string | undefined
  let held: { sender: string; release: () => void } | undefined
  proxy.state.intercept = async (request, forward) => {
    const method = request.method ?? ""
    const sender = (request.params?.[0] as { sender?: string } | undefined)?.sender?.toLowerCase()
    requests.push({ method, sender, at: Date.now() })
    if (method !== "eth_sendUserOperation" || sender === undefined || sender !== holding) return undefined
    holding = undefined
    await new Promise<void>((release) => {
      held = { sender, release }
    })
    return { body: await forward() }
  }
  return {
    url: proxy.url,
    /** UserOperation requests (any method with a sender) for `safe` from `since` (ms) on. */
    requestsFor: (safe: Address, since = 0) => requests.filter((r) => r.sender === safe.toLowerCase() && r.at >= since),
    /** Holds the next `eth_sendUserOperation` of `safe`. */
    hold: (safe: Address) => {
      holding = safe.toLowerCase()
    },
    /** Whether a send of `safe` is being held. */
    isHeld: (safe: Address) => held?.sender === safe.toLowerCase(),
    /** Forwards the held send. */
    release: () => {
      held?.release()
      held = undefined
    },
    stop: () => {
      held?.release()
      return proxy.stop()
    },
  }
}

/**
 * A real Redis server and a fleet devnet with 1-second blocks (`startFleetEnv`), started before the calling file's tests
 * (handed to `ready`) and stopped after them.
 */
export function fleetWithRedis(ready: (f: FleetEnv, redis: RedisServer) => void): void {
  let f: FleetEnv | undefined
  let redis: RedisServer | undefined
  beforeAll(async () => {
    redis = await startRedisServer()
    f = await startFleetEnv({ blockTime: 1 })
    ready(f, redis)
  })
  afterAll(async () => {
    await f?.stop()
    await redis?.stop()
  })
}
