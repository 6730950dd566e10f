import type { Address } from "viem"
import type { ConfigReader } from "../config.js"

/** Finding the Safes that registered this keeper from the module's events. */
export type DiscoverySettings = {
  /** First block to read the module's events from (its deployment block is a good choice). */
  fromBlock: bigint
  /** Blocks per `eth_getLogs` request (hosted RPCs refuse wide ranges). */
  logWindow: number
  /** Blocks of logs kept to undo a reorg (the module's events are re-read from there when the chain moves back). */
  reorgDepth: number
}

/** The fleet mode on BullMQ + Redis: every process with the same `redisUrl` and `prefix` shares the work. */
export type FleetQueueSettings = {
  /** Redis server, e.g. `redis://127.0.0.1:6379` (run it with `appendonly yes` so intents survive a restart). */
  redisUrl: string
  /** Key and queue prefix; keepers of different keys or chains on one Redis need different prefixes. */
  prefix: string
  /** How long a worker holds a Safe without renewing it, ms (a dead worker's Safes are taken over after this). */
  leaseMs: number
  /** Jobs each process runs at once (scans and Safe steps). */
  workerConcurrency: number
}

/** How the fleet reads and solves; the embedded default and the queue mode share these. */
export type FleetSettings = {
  /** Safes per `eth_call` (the lens's `readSafes`). */
  batchSize: number
  /** `eth_call`s in flight at once. */
  readConcurrency: number
  /**
   * Safes read further and solved at once (embedded mode; the queue mode's is `queue.workerConcurrency`). A step gives
   * its slot back once its Safe is checked (solved), so sends never hold up the checks of a block.
   */
  stepConcurrency: number
  /** Operations being prepared and sent to the bundler at once, per process (both modes). */
  sendConcurrency: number
  /** An unchanged, in-band Safe is still solved every this many blocks (live volatility, slow drifts). */
  refreshEveryBlocks: number
  /** Gas limit of each batched `eth_call`; the node's default cap when undefined. */
  callGas: bigint | undefined
  /**
   * After a new head, never poll before this share of the block time has passed (0..0.95); the head poller waits longer
   * when it predicts the next head later (learned arrival offset and jitter, see `HeadPoller`).
   */
  headWaitShare: number
  /** BullMQ + Redis; undefined runs everything in this process with nothing to install. */
  queue: FleetQueueSettings | undefined
}

/** A JSON POST on every alert and rebalance. */
export type WebhookSettings = {
  url: string
  /** Which keeper events are posted. */
  events: WebhookEventType[]
  /** Attempts per notification before it is dropped (logged). */
  maxAttempts: number
  /** First retry delay, ms; doubled each attempt up to 60 s. */
  backoffMs: number
  /** Per-request timeout, ms. */
  timeoutMs: number
  /** Environment variable with an HMAC-SHA256 secret: the body is signed in `x-levpilot-signature: sha256=<hex>`. */
  secret: string | undefined
}

export type WebhookEventType = "alert" | "sent" | "included"
export const webhookEventTypes: readonly WebhookEventType[] = ["alert", "sent", "included"]

export const defaultFleetSettings: FleetSettings = {
  batchSize: 200,
  readConcurrency: 4,
  stepConcurrency: 32,
  sendConcurrency: 32,
  refreshEveryBlocks: 50,
  callGas: undefined,
  headWaitShare: 0.8,
  queue: undefined,
}

type Obj = Record<string, unknown>

/**
 * Reads the fleet fields of a keeper configuration (`discovery`, `allowlist`, `fleet`, `webhook`); each error names
 * its JSON path.
 *
 * @returns The settings with defaults filled in.
 */
export function parseFleetFields(r: ConfigReader, o: Obj, env: NodeJS.ProcessEnv) {
  const positiveInt = (n: number) => Number.isInteger(n) && n >= 1

  let discovery: DiscoverySettings | undefined
  if (o.discovery !== undefined) {
    const d = r.obj(o.discovery, "discovery")
    r.known(d, "discovery", ["fromBlock", "logWindow", "reorgDepth"])
    const from = d.fromBlock
    if (!((typeof from === "number" && Number.isInteger(from) && from >= 0) || (typeof from === "string" && /^\d+$/.test(from))))
      r.fail("discovery.fromBlock", "must be a block number (the module's deployment block is a good choice)")
    discovery = {
      fromBlock: BigInt(from as number | string),
      logWindow: r.number(d, "logWindow", "discovery.logWindow", 2_000, (n) => positiveInt(n) && n <= 100_000, "an integer from 1 to 100000 blocks"),
      reorgDepth: r.number(d, "reorgDepth", "discovery.reorgDepth", 64, (n) => Number.isInteger(n) && n >= 0 && n <= 10_000, "an integer from 0 to 10000 blocks"),
    }
  }

  let allowlist: Address[] | undefined
  if (o.allowlist !== undefined) {
    if (!Array.isArray(o.allowlist)) r.fail("allowlist", "must be an array of Safe addresses")
    allowlist = (o.allowlist as unknown[]).map((a, i) => r.address(a, `allowlist[${i}]`))
  }

  let fleet = defaultFleetSettings
  if (o.fleet !== undefined) {
    const f = r.obj(o.fleet, "fleet")
    r.known(f, "fleet", ["batchSize", "readConcurrency", "stepConcurrency", "sendConcurrency", "refreshEveryBlocks", "callGas", "headWaitShare", "queue"])
    const b = defaultFleetSettings
    let queue: FleetQueueSettings | undefined
    if (f.queue !== undefined) {
      const q = r.obj(f.queue, "fleet.queue")
      r.known(q, "fleet.queue", ["redisUrl", "prefix", "leaseMs", "workerConcurrency"])
      if (typeof q.redisUrl !== "string" || !/^rediss?:\/\/\S+$/.test(q.redisUrl)) r.fail("fleet.queue.redisUrl", "must be a redis:// or rediss:// URL")
      if (q.prefix !== undefined && (typeof q.prefix !== "string" || !/^[A-Za-z0-9_.-]{1,64}$/.test(q.prefix)))
        r.fail("fleet.queue.prefix", "must be 1 to 64 letters, digits, '_', '.' or '-'")
      queue = {
        redisUrl: q.redisUrl as string,
        prefix: (q.prefix as string | undefined) ?? "levpilot",
        leaseMs: r.number(q, "leaseMs", "fleet.queue.leaseMs", 30_000, (n) => Number.isInteger(n) && n >= 500, "an integer of at least 500 ms"),
        workerConcurrency: r.number(q, "workerConcurrency", "fleet.queue.workerConcurrency", 32, (n) => positiveInt(n) && n <= 1_000, "an integer from 1 to 1000"),
      }
    }
    const gas = f.callGas
    if (gas !== undefined && !((typeof gas === "number" && Number.isInteger(gas) && gas > 0) || (typeof gas === "string" && /^[1-9]\d*$/.test(gas))))
      r.fail("fleet.callGas", "must be a positive integer")
    fleet = {
      batchSize: r.number(f, "batchSize", "fleet.batchSize", b.batchSize, (n) => positiveInt(n) && n <= 5_000, "an integer from 1 to 5000"),
      readConcurrency: r.number(f, "readConcurrency", "fleet.readConcurrency", b.readConcurrency, (n) => positiveInt(n) && n <= 64, "an integer from 1 to 64"),
      stepConcurrency: r.number(f, "stepConcurrency", "fleet.stepConcurrency", b.stepConcurrency, (n) => positiveInt(n) && n <= 1_000, "an integer from 1 to 1000"),
      sendConcurrency: r.number(f, "sendConcurrency", "fleet.sendConcurrency", b.sendConcurrency, (n) => positiveInt(n) && n <= 1_000, "an integer from 1 to 1000"),
      refreshEveryBlocks: r.number(f, "refreshEveryBlocks", "fleet.refreshEveryBlocks", b.refreshEveryBlocks, positiveInt, "a positive integer"),
      callGas: gas === undefined ? undefined : BigInt(gas as number | string),
      headWaitShare: r.number(f, "headWaitShare", "fleet.headWaitShare", b.headWaitShare, (n) => n >= 0 && n <= 0.95, "a number from 0 to 0.95"),
      queue,
    }
  }

  let webhook: WebhookSettings | undefined
  if (o.webhook !== undefined) {
    const w = r.obj(o.webhook, "webhook")
    r.known(w, "webhook", ["url", "events", "maxAttempts", "backoffMs", "timeoutMs", "secretEnv"])
    const url = r.url(w, "url", "webhook.url") as string
    // Node's fetch refuses a URL with userinfo (nothing would ever be delivered), and it is a secret (review rr16 F3).
    const parsed = URL.canParse(url) ? new URL(url) : undefined
    if (parsed && (parsed.username !== "" || parsed.password !== ""))
      r.fail("webhook.url", "must not carry a user name or password (user:password@host): fetch refuses such a URL; authenticate with a path or query token, or secretEnv (HMAC)")
    let events: WebhookEventType[] = ["alert", "included"]
    if (w.events !== undefined) {
      if (!Array.isArray(w.events) || w.events.length === 0) r.fail("webhook.events", `must be a non-empty array of ${webhookEventTypes.join(", ")}`)
      events = (w.events as unknown[]).map((e, i) => {
        if (!webhookEventTypes.includes(e as WebhookEventType)) r.fail(`webhook.events[${i}]`, `must be one of ${webhookEventTypes.join(", ")}`)
        return e as WebhookEventType
      })
    }
    let secret: string | undefined
    if (w.secretEnv !== undefined) {
      if (typeof w.secretEnv !== "string" || w.secretEnv === "") r.fail("webhook.secretEnv", "must name an environment variable")
      secret = env[w.secretEnv as string]
      if (!secret) r.fail("webhook.secretEnv", `names ${w.secretEnv as string}, which is not set`)
    }
    webhook = {
      url,
      events,
      maxAttempts: r.number(w, "maxAttempts", "webhook.maxAttempts", 6, (n) => positiveInt(n) && n <= 50, "an integer from 1 to 50"),
      backoffMs: r.number(w, "backoffMs", "webhook.backoffMs", 500, (n) => n > 0, "a positive number of ms"),
      timeoutMs: r.number(w, "timeoutMs", "webhook.timeoutMs", 5_000, (n) => n > 0, "a positive number of ms"),
      secret,
    }
  }
  return { discovery, allowlist, fleet, webhook }
}
