import { createHash, randomUUID } from "node:crypto"
import { type Job, Queue, UnrecoverableError, Worker } from "bullmq"
import { Redis, type RedisOptions } from "ioredis"
import { type Logger, pino } from "pino"
import type { Address, Chain, Hex } from "viem"
import { privateKeyToAccount } from "viem/accounts"
import { type Clock, systemClock } from "../clock.js"
import { type KeeperClients, connectKeeperClients } from "../clients.js"
import type { KeeperConfig } from "../config.js"
import { BlockNotCanonicalError, findInCauseChain } from "../errors.js"
import { type KeeperEvent, KeeperEvents, shortMessage } from "../events.js"
import type { UserOperationEventLog } from "../inclusionLookup.js"
import { KeeperMetrics, serveMetrics } from "../metrics.js"
import { type WebhookDeliveryError, type WebhookPayload, postWebhook, webhookPayload } from "../webhook.js"
import { fromJob, toJob } from "./codec.js"
import type { FleetQueueSettings } from "./config.js"
import { type CheckpointMark, type DiscoveryCheckpoint, checkpointDue } from "./discovery.js"
import { type Head, HeadPoller } from "./head.js"
import { BlockStateUnavailableError } from "./blockReads.js"
import { RedisHealth } from "./redisHealth.js"
import { FLEET_STORE_REDIS_OPTIONS, RedisFleetStore, fleetKeys } from "./redisStore.js"
import { type ReadLimit, readChunk, readLimit, triage } from "./scan.js"
import { SafeSource, userOpsBySender } from "./source.js"
import { FleetStep, type StepItem } from "./step.js"

/** Extends `KEYS[1]` while it holds `ARGV[1]`, or takes it when free. @returns 1 when this node leads. */
const LEAD = `
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`

/**
 * Counts `ARGV[1]` Safes of a block as `ARGV[3]` (`checked`, or `failed` when their scan job failed for good);
 * @returns the head's `seenAt` when that was the last one.
 */
/**
 * Sets `<prefix>:head` (KEYS[1]) to ARGV[1] when it is higher than the value held, or when ARGV[2] is "1" (the poller
 * proved a reorg or a reset, {@link Head.moved}). Review rr16g G1: a new leader's first answer from a lagging backend
 * (or any stale head) must not move the fleet's head back, where `FleetStep.newerStep` would ignore the newer marks.
 */
export const SET_HEAD = `
local held = redis.call('GET', KEYS[1])
if ARGV[2] == '1' or not held or tonumber(ARGV[1]) > tonumber(held) then
  redis.call('SET', KEYS[1], ARGV[1])
  if KEYS[2] then
    if ARGV[3] and ARGV[3] ~= '' then redis.call('SET', KEYS[2], ARGV[3]) else redis.call('DEL', KEYS[2]) end
  end
  return 1
end
return 0
`

/**
 * A stored head this far above the new leader's first head, whose block the node does not have, is another chain's (a
 * devnet reset), not a backend behind (review rr16h H3; a lag that deep is `FAR_BEHIND_BLOCKS` in head.ts).
 */
export const STORED_HEAD_RESET_GAP = 64n

/**
 * Review rr16h H3: whether `<prefix>:head` (and its hash, `<prefix>:head:hash`) was written on another chain than the
 * one `client` follows, checked at a leader's first head: the stored number is above `head`, and the node's block at
 * that number has another hash (a reset or a deep reorg), or the node has no block there and the stored number is more
 * than {@link STORED_HEAD_RESET_GAP} blocks above `head` (a devnet restarted on the same Redis prefix). One
 * `eth_getBlockByNumber`. A node that cannot answer otherwise (a timeout, a rate limit: review rr16i D1) leaves the head
 * as it is (a backend behind must not lower it, review rr16g G1). Residual: a node on the same chain more than
 * {@link STORED_HEAD_RESET_GAP} blocks behind that answers "not found" reads as a reset (its scans are stale anyway).
 */
export async function storedHeadOffChain(
  redis: Pick<Redis, "mget">,
  keys: { head: string; headHash: string },
  client: { getBlock(args: { blockNumber: bigint }): Promise<{ hash: Hex | null }> },
  head: Head,
): Promise<boolean> {
  const [held, heldHash] = await redis.mget(keys.head, keys.headHash)
  if (held == null) return false
  const stored = BigInt(held)
  if (stored <= head.number) return false
  try {
    const block = await client.getBlock({ blockNumber: stored })
    return heldHash != null && block.hash !== null && block.hash.toLowerCase() !== heldHash.toLowerCase()
  } catch (error) {
    // Only the node's answer that it has no such block is evidence (viem's BlockNotFoundError: a null block); a timeout,
    // a rate limit or any other failure leaves the head as it is (review rr16i D1: a getBlock timeout on a new leader's
    // first head 65+ blocks under the stored one lowered the fleet's head).
    return blockMissing(error) && stored - head.number > STORED_HEAD_RESET_GAP
  }
}

/** Whether `error` is a node's answer that the block asked for does not exist (viem `BlockNotFoundError` or its text). */
const blockMissing = (error: unknown): boolean =>
  error instanceof Error && (error.name === "BlockNotFoundError" || /(could not|cannot|can't) be found|\bnot found\b|unknown block|does not exist/i.test(error.message))

/** `SET_HEAD` arguments for `head` (with its hash, review rr16h H3); `moved` also when the stored head is off-chain. */
export const setHeadArgs = (keys: { head: string; headHash: string }, head: Head, moved = head.moved ?? false) =>
  [SET_HEAD, 2, keys.head, keys.headHash, head.number.toString(), moved ? "1" : "0", head.hash ?? ""] as const

const CHECKED = `
redis.call('HINCRBY', KEYS[1], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[1], 'lastAt', ARGV[2])
local c = tonumber(redis.call('HGET', KEYS[1], 'checked') or '0') + tonumber(redis.call('HGET', KEYS[1], 'failed') or '0')
local s = tonumber(redis.call('HGET', KEYS[1], 'safes') or '-1')
if c == s then redis.call('HSET', KEYS[1], 'doneAt', ARGV[2]) return redis.call('HGET', KEYS[1], 'seenAt') end
return false`

/** `hash`: the head's block hash (review rr16c S1): the scan's and the steps' reads are pinned to it. Absent in a job queued by an older version (reads by number). */
type ScanJob = { block: string; hash?: Hex | undefined; timestamp: string; safes: Address[]; userOps: unknown }
type StepJob = { block: string; hash?: Hex | undefined; timestamp: string; safe: Address; state: unknown; userOps: unknown }
type NotifyJob = { id: string; body: string }

/**
 * A job id's part naming the block's hash (its first 4 bytes): a block replaced at the same number (a reorg) gets its
 * own scan and step jobs instead of being deduplicated against the lost block's by BullMQ (review rr16c S1, f16f).
 */
const blockTag = (hash: Hex | undefined): string => (hash ? `-${hash.slice(2, 10)}` : "")

export type FleetNodeOptions = {
  logger?: Logger | undefined
  metrics?: KeeperMetrics | undefined
  onEvent?: ((event: KeeperEvent) => void) | undefined
  dryRun?: boolean | undefined
  chain?: Chain | undefined
  clock?: Clock | undefined
  clients?: KeeperClients | undefined
  /** Take part in the leader election (default true); a node that never leads only runs jobs. */
  lead?: boolean | undefined
}

/**
 * The Redis prefix of a `--dry-run` fleet node: `<prefix>-dry-run`. Its queues, leader, leases, in-flight records and
 * discovery checkpoint live there, apart from the production fleet's (`<prefix>`), so a dry run never takes the
 * fleet's jobs nor leads it; a dry-run leader (no `--worker-only`) reads and solves every Safe itself.
 */
export const dryRunPrefix = (prefix: string) => `${prefix}-dry-run`

/**
 * What the fleet recorded about one block (`<prefix>:block:<n>` in Redis): when the leader saw it (ms), the Safes to
 * read, how many were checked and how many were not because their scan job failed for good (transport errors after
 * its retries), the last count's time and `doneAt`, once `checked + failed == safes`.
 */
export type FleetBlockStats = { block: bigint; seenAt: number; safes: number; checked: number; failed: number; lastAt: number | undefined; doneAt: number | undefined }

/**
 * One process of the keeper fleet on BullMQ + Redis (`fleet.queue`); start as many as needed, on any machines, with
 * the same configuration. Each new head becomes per-block work items:
 *
 * 1. a leader (one node at a time, a Redis key held for `leaseMs` and renewed) follows the head, brings discovery up
 *    to date and adds one `scan` job per `fleet.batchSize` Safes (job id `block-hash4-chunk`, so a second leader adds
 *    nothing; BullMQ job ids cannot contain `:`); a head that comes while scan jobs of an earlier one still wait is
 *    skipped (`levpilot_fleet_heads_skipped_total`), so an overloaded fleet reads each Safe at the newest head it can;
 * 2. a `scan` job reads its Safes in one `eth_call` at that block and adds a `step` job for each Safe that changed,
 *    is out of band, has an operation in flight or is due for a refresh (with the Safe's read and its
 *    `UserOperationEvent`s in the job);
 * 3. a `step` job takes the Safe's lease and runs the keeper's step (track, solve, send) with the in-flight intent and
 *    nonce in Redis, fenced by the lease ({@link RedisFleetStore}); a Safe held by another step is skipped, and a step
 *    is dropped as superseded only when a newer step of the same Safe was queued (the late-plan rule: a fleet that
 *    falls blocks behind the head still runs and sends each Safe's newest plan, see {@link FleetStep}).
 *
 * A node can die at any moment: its leadership and leases expire after `leaseMs`, its active jobs are moved back by
 * BullMQ's stalled-job check (`lockDuration` = `leaseMs`), and whoever takes a Safe over finds the intent (nonce,
 * hash) in Redis and tracks it by nonce before anything new is sent, so a Safe never gets a second operation.
 * Notifications are `notify` jobs retried with exponential backoff.
 */
export class FleetNode {
  readonly metrics: KeeperMetrics
  readonly logger: Logger
  readonly id = randomUUID()
  private readonly clock: Clock
  private readonly events: KeeperEvents
  private readonly keeperKey
  private readonly settings: FleetQueueSettings
  private readonly keys
  private parts:
    | {
        clients: KeeperClients
        redis: Redis
        /** The store's own fail-fast connection (FLEET_STORE_REDIS_OPTIONS). */
        storeRedis: Redis
        store: RedisFleetStore
        step: FleetStep
        source: SafeSource
        head: HeadPoller
        queues: { scan: Queue; step: Queue; notify: Queue }
        workers: Worker[]
      }
    | undefined
  private leading = false
  /** Set when this node becomes leader: its first head checks the stored head's chain ({@link storedHeadOffChain}). */
  private firstHead = false
  private leaderTimer: NodeJS.Timeout | undefined
  /** The leader election under way (at most one; {@link stop} waits for it). */
  private electing: Promise<void> | undefined
  private metricsServer: { url: string; stop: () => Promise<void> } | undefined
  private readonly unchecked = new Map<string, () => void>()
  /** Steps still running after their job ended (their Safe checked, the send going on). */
  private readonly background = new Set<Promise<unknown>>()
  private lastCheckpoint: CheckpointMark = { block: 0n, resets: 0 }
  /** How many Safes one lens call takes on this node's RPC (learned, see {@link ReadLimit}). */
  private readonly readLimit = readLimit()

  constructor(
    readonly config: KeeperConfig,
    private readonly options: FleetNodeOptions = {},
  ) {
    if (!config.fleet.queue) throw new TypeError("FleetNode needs fleet.queue in the configuration")
    // A dry-run node works in its own namespace (review rr16 F6): on the production prefix it took its share of the
    // fleet's step jobs, solved them and sent nothing, so the Safes it drew were not rescued at that block.
    this.settings = options.dryRun ? { ...config.fleet.queue, prefix: dryRunPrefix(config.fleet.queue.prefix) } : config.fleet.queue
    this.keys = fleetKeys(this.settings.prefix)
    this.logger = options.logger ?? pino({ level: config.logLevel, base: { service: "levpilot-keeper" } })
    this.metrics = options.metrics ?? new KeeperMetrics()
    this.clock = options.clock ?? systemClock
    this.keeperKey = privateKeyToAccount(config.keeperPrivateKey)
    this.events = new KeeperEvents({
      logger: this.logger,
      metrics: this.metrics,
      onEvent: (event) => {
        if (event.type === "observed") this.unchecked.get(`${event.safe}:${event.block}`)?.()
        options.onEvent?.(event)
        this.notify(event)
      },
    })
  }

  private get started() {
    if (!this.parts) throw new TypeError("FleetNode.start() was not called")
    return this.parts
  }

  /** Whether this node is the leader now. */
  get isLeader(): boolean {
    return this.leading
  }

  /** The shared store (tests). */
  get store(): RedisFleetStore {
    return this.started.store
  }

  /** Connects, starts the workers and the leader election. */
  async start(): Promise<void> {
    if (this.parts) return
    const { config, logger, metrics, clock, events, settings } = this
    const clients = this.options.clients ?? (await connectKeeperClients(config, this.options.chain))
    // Every connection retries a server it cannot reach (ioredis' backoff); one rate-limited line says so.
    const health = new RedisHealth({ url: settings.redisUrl, logger, metrics })
    const connect = (options: RedisOptions = { maxRetriesPerRequest: null, lazyConnect: false }) => {
      const redis = new Redis(settings.redisUrl, options)
      redis.on("error", (error) => health.error(error) || logger.warn({ err: error.message }, "redis connection error"))
      redis.on("ready", () => health.ready())
      return redis
    }
    const redis = connect()
    // The store has its own fail-fast connection (review rr16c K1, FLEET_STORE_REDIS_OPTIONS): on BullMQ's, a step taken
    // during an outage waited for Redis with no outcome and no alert.
    const storeRedis = connect({ ...FLEET_STORE_REDIS_OPTIONS })
    const store = new RedisFleetStore(storeRedis, { prefix: settings.prefix, leaseMs: settings.leaseMs })
    // The records belong to one nonce sequence: this chain, EntryPoint, module and keeper key.
    const chainId = clients.publicClient.chain?.id ?? (await clients.publicClient.getChainId())
    store.bind({ chainId, entryPoint: config.deployment.entryPoint, module: config.deployment.leverageModule, keeper: this.keeperKey.address })
    const head = async () => {
      const h = await storeRedis.get(this.keys.head)
      return h === null ? undefined : BigInt(h)
    }
    const step = new FleetStep({ config, clients, store, keeper: this.keeperKey, metrics, logger, events, clock, dryRun: this.options.dryRun ?? false, head })
    const source = new SafeSource({ config, client: clients.publicClient, keeper: this.keeperKey.address, chainId, logger, metrics, events })
    const poller = new HeadPoller({ client: clients.publicClient, clock, metrics, logger, events, pollIntervalMs: config.pollIntervalMs, waitShare: config.fleet.headWaitShare })
    const queueOptions = { connection: redis, prefix: settings.prefix }
    const queues = {
      scan: new Queue<ScanJob>("scan", { ...queueOptions, defaultJobOptions: { removeOnComplete: true, removeOnFail: 1_000, attempts: 2 } }),
      step: new Queue<StepJob>("step", { ...queueOptions, defaultJobOptions: { removeOnComplete: true, removeOnFail: 1_000, attempts: 1 } }),
      notify: new Queue<NotifyJob>("notify", { ...queueOptions, defaultJobOptions: { removeOnComplete: true, removeOnFail: 10_000 } }),
    }
    const workerOptions = { prefix: settings.prefix, lockDuration: settings.leaseMs, stalledInterval: settings.leaseMs, maxStalledCount: 1 }
    const workers = [
      new Worker<ScanJob>("scan", (job) => this.scan(job), { ...workerOptions, connection: connect(), concurrency: config.fleet.readConcurrency }),
      new Worker<StepJob>("step", (job) => this.step(job), { ...workerOptions, connection: connect(), concurrency: settings.workerConcurrency }),
      new Worker<NotifyJob>("notify", (job) => this.deliver(job), { ...workerOptions, connection: connect(), concurrency: 8 }),
    ]
    for (const q of Object.values(queues)) q.on("error", (error) => health.error(error) || logger.warn({ queue: q.name, err: error.message }, "queue error"))
    // BullMQ's connections stay answerable after close (f16j: an unhandled rejection "Connection is closed" / ECONNREFUSED
    // when a node stopped while a connection was still connecting; see keepErrorsHandled).
    const closedError = (error: Error) => logger.debug({ err: error.message }, "redis connection error after close")
    for (const q of Object.values(queues)) keepErrorsHandled(q["connection"], closedError)
    for (const w of workers) {
      keepErrorsHandled(w["connection"], closedError)
      keepErrorsHandled(w["blockingConnection"], closedError)
    }
    for (const w of workers) {
      w.on("error", (error) => health.error(error) || logger.warn({ queue: w.name, err: error.message }, "queue worker error"))
      w.on("failed", (job, error) => logger.warn({ queue: w.name, job: job?.id, err: error.message }, "job failed"))
    }
    this.parts = { clients, redis, storeRedis, store, step, source, head: poller, queues, workers }
    if (config.metricsPort !== undefined && !this.metricsServer) this.metricsServer = await serveMetrics(metrics, { port: config.metricsPort, host: config.metricsHost })
    if (this.options.lead ?? true) {
      await this.elect()
      this.leaderTimer = setInterval(() => {
        // One election at a time, and stop() waits for the one under way (it could otherwise start the head poller, or
        // use the connections, after stop).
        if (this.electing) return
        this.electing = this.elect()
          .catch((error) => this.logger.warn({ err: shortMessage(error) }, "leader election failed"))
          .finally(() => (this.electing = undefined))
      }, Math.max(100, Math.floor(settings.leaseMs / 3)))
    }
    logger.info({ node: this.id, keeper: this.keeperKey.address, prefix: settings.prefix, chainId: clients.publicClient.chain?.id, mode: "bullmq" }, "fleet node started")
  }

  /** Stops leading and working (jobs in progress finish), closes connections. Leases it holds are released. */
  async stop(): Promise<void> {
    if (!this.parts) return
    const { head, workers, queues, redis, storeRedis, store } = this.parts
    clearInterval(this.leaderTimer)
    this.leaderTimer = undefined
    await this.electing
    await head.stop()
    if (this.leading) await redis.eval(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`, 1, this.keys.leader, this.id).catch(() => 0)
    this.leading = false
    await Promise.allSettled(workers.map((w) => w.close()))
    // Steps whose job ended once their Safe was checked may still be sending: the send holding a slot finishes, the
    // queued ones are not started.
    this.started.step.stop()
    await Promise.allSettled([...this.background])
    store.dropLeases()
    await Promise.allSettled(Object.values(queues).map((q) => q.close()))
    await Promise.allSettled(workers.map((w) => w.disconnect()))
    redis.disconnect()
    storeRedis.disconnect()
    await this.metricsServer?.stop()
    this.metricsServer = undefined
    this.parts = undefined
    this.logger.info({ node: this.id }, "fleet node stopped")
  }

  /** What the fleet recorded about `block` (any node can read it). */
  async blockStats(block: bigint): Promise<FleetBlockStats | undefined> {
    const h = await this.started.redis.hgetall(this.keys.block(block))
    if (!h.seenAt) return undefined
    const n = (x: string | undefined) => (x === undefined ? undefined : Number(x))
    return { block, seenAt: Number(h.seenAt), safes: Number(h.safes ?? 0), checked: Number(h.checked ?? 0), failed: Number(h.failed ?? 0), lastAt: n(h.lastAt), doneAt: n(h.doneAt) }
  }

  /** The fleet's leader (node id) and the last head it recorded, as Redis holds them now (any node can read it). */
  async leaderStatus(): Promise<{ leader: string | undefined; head: bigint | undefined }> {
    const [leader, head] = await this.started.redis.mget(this.keys.leader, this.keys.head)
    return { leader: leader ?? undefined, head: head ? BigInt(head) : undefined }
  }

  /* LEADER */

  private async elect(): Promise<void> {
    const { redis, head } = this.started
    let leads = false
    try {
      leads = (await redis.eval(LEAD, 1, this.keys.leader, this.id, this.settings.leaseMs)) === 1
    } catch (error) {
      this.logger.warn({ err: shortMessage(error) }, "leader election: redis unavailable")
      return
    }
    if (leads && !this.leading) {
      this.leading = true
      this.firstHead = true
      this.metrics.set("levpilot_fleet_leader", "1 while this node leads the fleet (follows the head, runs discovery).", {}, 1)
      // The checkpoint of this scope (chain, EntryPoint, module, keeper key: RedisFleetStore.bind); one of another
      // scope is not restored (SafeDiscovery.restore), discovery then reads from fromBlock.
      const raw = await redis.get(this.started.store.discoveryKey).catch(() => null)
      const restored = raw ? this.started.source.restore(JSON.parse(raw) as DiscoveryCheckpoint) : false
      this.logger.info({ node: this.id, discoveryFrom: restored && raw ? (JSON.parse(raw) as DiscoveryCheckpoint).block : undefined }, "fleet leader")
      head.start((h) => this.lead(h))
    } else if (!leads && this.leading) {
      this.leading = false
      this.metrics.set("levpilot_fleet_leader", "1 while this node leads the fleet (follows the head, runs discovery).", {}, 0)
      this.logger.warn({ node: this.id }, "fleet leadership lost")
      await head.stop()
    }
  }

  /** One head: discovery, block stats, scan jobs. */
  private async lead(head: Head): Promise<void> {
    if (!this.leading) return
    const { redis, store, source, queues, clients } = this.started
    // Review rr16h H3: a leader's first head checks that `<prefix>:head` was written on this chain (a devnet reset on
    // the same prefix left the old chain's height there); off-chain, this head replaces it as if it had moved back.
    let moved = head.moved ?? false
    if (this.firstHead) {
      this.firstHead = false
      if (!moved && (await storedHeadOffChain(redis, this.keys, clients.publicClient, head).catch(() => false))) {
        moved = true
        this.metrics.inc("levpilot_fleet_head_resets_total", "Times a new leader found <prefix>:head written on another chain (a reset) and lowered it.", {})
        this.logger.warn({ block: Number(head.number) }, "fleet head: the stored head is not on this chain (a reset); replaced by this head")
      }
    }
    // The fleet behind the head: scan jobs of an earlier head still wait for a worker. This head is not queued (its
    // Safes are read at the first head after those are taken; discovery then covers the skipped blocks' logs), so the
    // backlog stays one head deep instead of growing by a head every block with each Safe read ever later.
    const waiting = await queues.scan.getWaitingCount()
    if (waiting > 0) {
      await redis.eval(...setHeadArgs(this.keys, head, moved))
      this.metrics.inc("levpilot_fleet_heads_skipped_total", "Heads not queued for scanning because an earlier head's scan jobs were still waiting (the fleet behind the head).", {})
      this.logger.debug({ block: Number(head.number), waiting }, "head skipped: the previous head's scan jobs still wait")
      return
    }
    const { safes, userOps } = await source.at(head, await store.pendingSafes())
    const opsOf = userOpsBySender(userOps)
    const key = this.keys.block(head.number)
    await redis
      .multi()
      .eval(...setHeadArgs(this.keys, head, moved))
      .hset(key, { seenAt: head.seenAt, safes: safes.length, timestamp: head.timestamp.toString() })
      .pexpire(key, 3_600_000)
      .exec()
    const batch = this.config.fleet.batchSize
    const jobs = []
    for (let i = 0; i < safes.length; i += batch) {
      const chunk = safes.slice(i, i + batch)
      const ops = chunk.flatMap((s) => opsOf.get(s.toLowerCase()) ?? [])
      jobs.push({ name: "scan", data: { block: head.number.toString(), hash: head.hash, timestamp: head.timestamp.toString(), safes: chunk, userOps: toJob(ops) }, opts: { jobId: `${head.number}${blockTag(head.hash)}-${i / batch}` } })
    }
    await queues.scan.addBulk(jobs)
    // Every 100 confirmed blocks, and at once after a discovery reset (review rr16c S2).
    const checkpoint = source.checkpoint()
    const mark = checkpointDue(checkpoint, source.resets(), this.lastCheckpoint)
    if (checkpoint && mark) {
      await redis.set(store.discoveryKey, JSON.stringify(checkpoint))
      this.lastCheckpoint = mark
    }
  }

  /* WORKERS */

  private async scan(job: Job<ScanJob>): Promise<void> {
    const block = BigInt(job.data.block)
    try {
      await this.scanChunk(job, block)
    } catch (error) {
      // The head's block was lost to a reorg (review rr16c S1): not retried, its Safes are read at the next head.
      const lost = findInCauseChain(error, BlockNotCanonicalError)
      if (lost) {
        this.logger.warn({ block: Number(block), hash: lost.hash, canonical: lost.canonical, safes: job.data.safes.length }, "scan skipped: its block is no longer on the node's chain (reorg); these Safes are read at the next head")
        await this.checked(block, job.data.safes.length, "failed")
        return
      }
      // Review rr16f F1: the node has the block but not its state (pruned: a stale head, a job that waited past the
      // node's state window): not retried at this block (the state does not come back), nothing blamed on the Safes.
      if (findInCauseChain(error, BlockStateUnavailableError)) {
        this.logger.warn({ block: Number(block), safes: job.data.safes.length }, "scan skipped: the node has no state for its block (pruned or not synced); these Safes are read at the next head")
        this.metrics.inc("levpilot_fleet_blocks_state_unavailable_total", "Block passes or scan jobs skipped because the node had no state for the block.")
        await this.checked(block, job.data.safes.length, "failed")
        return
      }
      // The last attempt: the block is finished without these Safes (counted as failed), not left waiting.
      if (job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) {
        this.logger.error({ block: Number(block), safes: job.data.safes.length, err: shortMessage(error) }, "scan failed; these Safes are not checked this block")
        await this.checked(block, job.data.safes.length, "failed")
      }
      throw error
    }
  }

  private async scanChunk(job: Job<ScanJob>, block: bigint): Promise<void> {
    const { store, queues, step } = this.started
    // Pinned to the head's hash (review rr16c S1): the lens snapshot the steps get is of that block, or refused.
    const chunk = await readChunk(step.blockReads.at({ number: block, hash: job.data.hash }), {
      safes: job.data.safes,
      block,
      keeper: this.keeperKey.address,
      deployment: this.config.deployment,
      gas: this.config.fleet.callGas,
      limit: this.readLimit,
    })
    this.metrics.inc("levpilot_fleet_read_calls_total", "Batched eth_calls of the lens (readSafes).", {}, chunk.calls)
    const { steps, skipped } = await triage(chunk, { store, events: this.events, refreshEveryBlocks: this.config.fleet.refreshEveryBlocks })
    const opsOf = userOpsBySender(fromJob<UserOperationEventLog[]>(job.data.userOps))
    if (steps.length > 0) {
      await queues.step.addBulk(
        steps.map((s) => ({
          name: s.reason,
          data: { block: job.data.block, hash: job.data.hash, timestamp: chunk.timestamp.toString(), safe: s.safe, state: toJob(s.state), userOps: toJob(opsOf.get(s.safe.toLowerCase()) ?? []) },
          opts: { jobId: `${job.data.block}${blockTag(job.data.hash)}-${s.safe}` },
        })),
      )
      // Once queued, these steps supersede the Safes' older ones still queued or waiting for a send slot.
      await store.markSteps(steps.map((s) => [s.safe, block] as const))
    }
    if (skipped > 0) await this.checked(block, skipped)
  }

  private async step(job: Job<StepJob>): Promise<void> {
    const { step } = this.started
    const block = BigInt(job.data.block)
    const key = `${job.data.safe}:${block}`
    let counted = false
    const count = () => {
      if (counted) return
      counted = true
      // Fire and forget: a Redis connection closed by stop() (or lost) must not surface as an unhandled rejection.
      this.checked(block, 1).catch((error) => this.logger.debug({ block: Number(block), err: shortMessage(error) }, "block checked count not recorded"))
    }
    let checkedNow = () => {}
    const checked = new Promise<void>((resolve) => (checkedNow = resolve))
    this.unchecked.set(key, () => (count(), checkedNow()))
    const done = () => {
      this.unchecked.delete(key)
      count()
    }
    const item: StepItem = {
      safe: job.data.safe,
      block,
      hash: job.data.hash,
      timestamp: BigInt(job.data.timestamp),
      state: fromJob(job.data.state),
      userOps: fromJob(job.data.userOps),
    }
    const run = step
      .run(item)
      .then((outcome) => void this.metrics.inc("levpilot_fleet_steps_total", "Safe steps run, by outcome.", { outcome }))
      .finally(done)
    // The job (and its worker slot) ends once the Safe is checked (solved): the rest of the step, its send, goes on in
    // this process under `fleet.sendConcurrency`, holding the Safe's lease, so no other check of the block waits for it.
    // A node that dies then is one that dies mid-send: the lease expires and the intent is already in the store.
    let jobEnded = false
    this.background.add(run)
    void run
      // Before the job ended, its failure is the job's (BullMQ's "job failed" log); after, it is logged here.
      .catch((error) => jobEnded && this.logger.error({ safe: job.data.safe, block: Number(block), err: shortMessage(error) }, "fleet step failed after its Safe was checked"))
      .finally(() => this.background.delete(run))
    await Promise.race([run, checked])
    jobEnded = true
  }

  private async checked(block: bigint, n: number, as: "checked" | "failed" = "checked"): Promise<void> {
    const seenAt = (await this.started.redis.eval(CHECKED, 1, this.keys.block(block), n, this.clock.now(), as).catch(() => null)) as string | null
    if (seenAt === null) return
    const stats = await this.blockStats(block)
    const ms = this.clock.now() - Number(seenAt)
    this.metrics.observe("levpilot_fleet_scan_ms", "Milliseconds from a new head to the last Safe checked.", ms)
    this.logger.info({ block: Number(block), safes: stats?.safes, ms }, "block checked")
    this.events.emit({ type: "scanned", block, safes: stats?.safes ?? 0, steps: 0, requests: 0, ms })
  }

  /* NOTIFICATIONS */

  private notify(event: KeeperEvent): void {
    const webhook = this.config.webhook
    if (!webhook || !this.parts) return
    const payload = webhookPayload(event, { events: webhook.events, keeper: this.keeperKey.address, chainId: this.parts.clients.publicClient.chain?.id, now: this.clock.now() })
    if (!payload) return
    this.parts.queues.notify
      .add("notify", { id: payload.id, body: JSON.stringify(payload) }, { jobId: notifyJobId(payload), attempts: webhook.maxAttempts, backoff: { type: "exponential", delay: webhook.backoffMs } })
      .catch((error) => this.logger.error({ id: payload.id, err: shortMessage(error) }, "webhook notification not queued"))
  }

  private async deliver(job: Job<NotifyJob>): Promise<void> {
    const webhook = this.config.webhook
    if (!webhook) return
    try {
      await postWebhook(webhook, job.data.id, job.data.body)
      this.metrics.inc("levpilot_webhook_deliveries_total", "Webhook notifications delivered.", {})
    } catch (error) {
      const e = error as WebhookDeliveryError
      if (job.attemptsMade + 1 >= webhook.maxAttempts || !e.retryable) this.metrics.inc("levpilot_webhook_failures_total", "Webhook notifications dropped after their last attempt.", {})
      if (!e.retryable) throw new UnrecoverableError(e.shortMessage)
      throw error
    }
  }
}

/**
 * Keeps `onError` listening to `connection`'s `error` events for good, even after BullMQ's close removed every listener
 * (f16j). BullMQ (5.81) creates each connection with `this.initializing.catch((err) => this.emit("error", err))` and
 * its `close()` ends with `removeAllListeners()`: a connection closed while still connecting (a node stopped while Redis
 * was down, or right after it came back: the worker's blocking connection connecting or checking the server's version)
 * rejects `initializing` after that, `emit("error")` with no listener throws, and the `.catch` promise became an
 * unhandled rejection ("Connection is closed.", "connect ECONNREFUSED"), reproduced by test/fleet.stopRace.f16j.test.ts.
 */
export function keepErrorsHandled(connection: { on(event: "error", listener: (error: Error) => void): unknown; removeAllListeners(event?: string | symbol): unknown }, onError: (error: Error) => void): void {
  connection.on("error", onError)
  const removeAll = connection.removeAllListeners.bind(connection)
  connection.removeAllListeners = (event?: string | symbol) => {
    const out = removeAll(event)
    if (event === undefined || event === "error") connection.on("error", onError)
    return out
  }
}

/**
 * The BullMQ job id of a webhook notification (review rr16g, observation): the payload's id (`alert:<safe>:<block>:<kind>`,
 * `sent|included:<safe>:<block>:<userOpHash>`) names one alert kind per Safe and block, so a second alert of the same kind
 * for the same Safe at the same block (two sub-accounts' `feed-broken`) took the first one's id and BullMQ dropped it,
 * where the embedded notifier posts both. The id adds the first 8 bytes of the SHA-256 of the event's own fields
 * (message, reason, sub-account...; not the post time `at`), so distinct alerts are distinct jobs and the same event
 * queued twice (two workers, a retried step) is still one notification.
 *
 * @returns The job id (no `:`, which BullMQ reserves).
 */
export function notifyJobId(payload: WebhookPayload): string {
  const { at: _at, ...event } = payload
  const digest = createHash("sha256").update(JSON.stringify(Object.fromEntries(Object.entries(event).sort(([a], [b]) => (a < b ? -1 : 1))))).digest("hex").slice(0, 16)
  return `${payload.id}:${digest}`.replaceAll(":", "_")
}
