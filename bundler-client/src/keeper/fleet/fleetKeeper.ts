import { type Logger, pino } from "pino"
import type { Address, Chain } from "viem"
import { privateKeyToAccount } from "viem/accounts"
import { type Clock, systemClock } from "../clock.js"
import { type KeeperClients, connectKeeperClients } from "../clients.js"
import type { KeeperConfig } from "../config.js"
import { BlockNotCanonicalError, findInCauseChain } from "../errors.js"
import { type KeeperEvent, KeeperEvents } from "../events.js"
import { KeeperMetrics, serveMetrics } from "../metrics.js"
import { KeeperStateStore, StateSnapshots, reportStateFileOpened } from "../stateFile.js"
import { WebhookNotifier } from "../webhook.js"
import { BlockStateUnavailableError } from "./blockReads.js"
import { type Head, HeadPoller } from "./head.js"
import { limiter } from "./limit.js"
import { type ReadLimit, readInChunks, readLimit, triage } from "./scan.js"
import { SafeSource, userOpsBySender } from "./source.js"
import { FleetStep } from "./step.js"
import { type FleetStore, MemoryFleetStore, dryRunFleetStore } from "./store.js"

export type FleetKeeperOptions = {
  logger?: Logger | undefined
  metrics?: KeeperMetrics | undefined
  onEvent?: ((event: KeeperEvent) => void) | undefined
  /** Solve and log plans without sending. */
  dryRun?: boolean | undefined
  chain?: Chain | undefined
  clock?: Clock | undefined
  clients?: KeeperClients | undefined
  /** Where in-flight operations and scan state live (default: `config.stateFile` + memory). */
  store?: FleetStore | undefined
}

/** One block's pass, as {@link FleetKeeper.runBlock} reports it. */
export type BlockPass = {
  block: bigint
  /** Safes read. */
  safes: number
  /** Safes that got a step (solved, or their operation tracked). */
  steps: number
  /** JSON-RPC requests of the pass: the head poll(s) since the last pass, discovery logs, batched reads. */
  requests: number
  /** From the head seen to the last Safe checked, ms. */
  ms: number
}

/**
 * The keeper for many Safes in one process, nothing to install (the fleet's embedded default). On every new head:
 * discovery brings the set of Safes up to date (one `eth_getLogs`), the Safes are read `fleet.batchSize` per
 * `eth_call` (`fleet.readConcurrency` in flight), and only the Safes whose state or prices changed, that are out of
 * band, that have an operation in flight or whose periodic refresh is due get a step (solve, send, track; at most
 * `fleet.stepConcurrency` solving at once, `fleet.sendConcurrency` sending). A block's pass ends when every Safe is
 * checked; a step's send does not hold its solving slot, and sends continue in the background
 * and a Safe with a step running is skipped by the next block. Same parts as the queue mode ({@link FleetStep},
 * {@link SafeSource}, `triage`), with the state file and memory as the store.
 */
export class FleetKeeper {
  readonly metrics: KeeperMetrics
  readonly logger: Logger
  readonly store: FleetStore
  private readonly clock: Clock
  private readonly events: KeeperEvents
  private readonly keeperKey
  private readonly webhook: WebhookNotifier | undefined
  /** Resolvers of the Safes of a pass not yet checked, by `safe:block`. */
  private readonly unchecked = new Map<string, () => void>()
  /** How many Safes one lens call takes on this RPC (learned, see {@link ReadLimit}). */
  private readonly readLimit = readLimit()
  private parts: { clients: KeeperClients; source: SafeSource; step: FleetStep; head: HeadPoller } | undefined
  private metricsServer: { url: string; stop: () => Promise<void> } | undefined
  private readonly inflight = new Set<Promise<unknown>>()
  private readonly runStep
  /** A file-backed store's snapshot, once per pass (review rr11za A2; the Redis store has none). */
  private readonly snapshots: StateSnapshots
  /** The state file store when this keeper opened it (not when `options.store` is given). */
  private readonly file: KeeperStateStore | undefined
  /** The latest head a pass ran at (a newer-step record ahead of it is ignored, see {@link FleetStep}). */
  private latestHead: bigint | undefined

  constructor(
    readonly config: KeeperConfig,
    private readonly options: FleetKeeperOptions = {},
  ) {
    this.logger = options.logger ?? pino({ level: config.logLevel, base: { service: "levpilot-keeper" } })
    this.metrics = options.metrics ?? new KeeperMetrics()
    this.clock = options.clock ?? systemClock
    // A dry run reads the state file but never writes it (review rr16b P1; FleetStep keeps its writes in memory too),
    // and takes no lock: it runs beside the production keeper. A writer takes `<stateFile>.lock` here and is refused
    // (StateFileLockedError) when another keeper holds it (review rr11zc C4).
    if (!options.store) this.file = new KeeperStateStore(config.stateFile, { readOnly: options.dryRun === true })
    const fileStore = () => new MemoryFleetStore(this.file as KeeperStateStore)
    this.store = options.store ?? (options.dryRun ? dryRunFleetStore(fileStore()) : fileStore())
    this.keeperKey = privateKeyToAccount(config.keeperPrivateKey)
    this.webhook = config.webhook
      ? new WebhookNotifier({ settings: config.webhook, keeper: this.keeperKey.address, chainId: () => this.parts?.clients.publicClient.chain?.id, logger: this.logger, metrics: this.metrics, clock: this.clock })
      : undefined
    this.events = new KeeperEvents({
      logger: this.logger,
      metrics: this.metrics,
      onEvent: (event) => {
        if (event.type === "observed") this.unchecked.get(`${event.safe}:${event.block}`)?.()
        options.onEvent?.(event)
        this.webhook?.notify(event)
      },
    })
    this.runStep = limiter(config.fleet.stepConcurrency)
    this.snapshots = new StateSnapshots({ store: this.store, safe: config.deployment.leverageModule, events: this.events, logger: this.logger })
  }

  /** URL of the Prometheus endpoint, when serving. */
  get metricsUrl(): string | undefined {
    return this.metricsServer?.url
  }

  private get started() {
    if (!this.parts) throw new TypeError("FleetKeeper.init() was not called")
    return this.parts
  }

  /** The discovery, when configured (tests, status). */
  get discovery() {
    return this.started.source.discovery
  }

  /** Connects to the RPC and bundler and starts the metrics endpoint; `start()` calls it. */
  async init(): Promise<void> {
    if (this.parts) return
    const { config, logger, metrics, store, clock, events } = this
    const clients = this.options.clients ?? (await connectKeeperClients(config, this.options.chain))
    // The persisted records belong to one nonce sequence: this chain, EntryPoint, module and keeper key.
    const chainId = clients.publicClient.chain?.id ?? (await clients.publicClient.getChainId())
    store.bind?.({ chainId, entryPoint: config.deployment.entryPoint, module: config.deployment.leverageModule, keeper: this.keeperKey.address })
    if (this.file) reportStateFileOpened(this.file, { logger, events, module: config.deployment.leverageModule })
    const source = new SafeSource({ config, client: clients.publicClient, keeper: this.keeperKey.address, logger, metrics, events })
    const step = new FleetStep({ config, clients, store, keeper: this.keeperKey, metrics, logger, events, clock, dryRun: this.options.dryRun ?? false, head: async () => this.latestHead, snapshots: this.snapshots })
    const head = new HeadPoller({ client: clients.publicClient, clock, metrics, logger, events, pollIntervalMs: config.pollIntervalMs, waitShare: config.fleet.headWaitShare })
    this.parts = { clients, source, step, head }
    if (config.metricsPort !== undefined && !this.metricsServer) this.metricsServer = await serveMetrics(metrics, { port: config.metricsPort, host: config.metricsHost })
    metrics.declare("levpilot_fleet_scan_ms", "Milliseconds from a new head to the last Safe checked.", "summary")
    logger.info(
      { chainId: clients.publicClient.chain?.id, keeper: this.keeperKey.address, discovery: config.discovery ? Number(config.discovery.fromBlock) : false, safes: config.safes.length, mode: "embedded" },
      "fleet keeper started",
    )
  }

  /** Follows the chain head; resolves once polling is scheduled. */
  async start(): Promise<void> {
    await this.init()
    const { head, step } = this.started
    step.resume()
    let polls = 0
    head.start(async (h) => {
      const pass = await this.runBlock(h, head.requests - polls)
      polls = head.requests
      this.logger.debug({ block: Number(pass.block), safes: pass.safes, steps: pass.steps, requests: pass.requests, ms: pass.ms }, "block checked")
    })
  }

  /** Stops following the head, waits for the steps in flight, flushes notifications, closes the metrics endpoint. */
  async stop(): Promise<void> {
    await this.parts?.head.stop()
    this.parts?.step.stop()
    await Promise.allSettled([...this.inflight])
    await this.snapshots.flush(this.latestHead ?? 0n)
    this.store.close?.()
    await this.webhook?.flush(5_000)
    await this.metricsServer?.stop()
    this.metricsServer = undefined
    this.logger.info("fleet keeper stopped")
  }

  /** Waits until no step is running (tests, `--once`). */
  async idle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight])
    await this.snapshots.flush(this.latestHead ?? 0n)
  }

  /**
   * One pass at `head` (the latest block when omitted): discovery, batched reads, triage, steps. Resolves when every
   * Safe was checked; sends started by the steps may still be running (see {@link idle}).
   *
   * @param headRequests - Head polls made for this pass (counted into `requests`).
   * @returns {@link BlockPass}
   */
  async runBlock(head?: Head | undefined, headRequests = 0): Promise<BlockPass> {
    await this.init()
    const { clients, source, step } = this.started
    const { config, store, events } = this
    let polled = 0
    if (!head) {
      const h = await this.started.head.poll()
      if (!h) throw new TypeError("could not read the chain head")
      head = h
      polled = 1
    }
    const at = head
    if (this.latestHead === undefined || at.number > this.latestHead) this.latestHead = at.number
    // The changes of the passes before (already in the journal) in one snapshot of the state file.
    const flushed = this.snapshots.flush(at.number).finally(() => this.inflight.delete(flushed))
    this.inflight.add(flushed)
    const { safes, userOps, requests } = await source.at(at, await store.pendingSafes())
    const opsOf = userOpsBySender(userOps)
    let steps = 0
    const checks: Promise<unknown>[] = []
    // Pinned to the head's hash (review rr16c S1): the lens snapshot the steps get is of that block, or refused (the
    // block lost to a reorg: a warn, its Safes are read at the next head).
    const reads = await readInChunks(step.blockReads.at({ number: at.number, hash: at.hash }), {
      safes,
      block: at.number,
      keeper: this.keeperKey.address,
      deployment: config.deployment,
      settings: config.fleet,
      limit: this.readLimit,
      onChunk: async (chunk) => {
        const triaged = await triage(chunk, { store, events, refreshEveryBlocks: config.fleet.refreshEveryBlocks })
        steps += triaged.steps.length
        // The late-plan rule, as in the queue mode: these steps supersede the Safes' older plans still waiting to send.
        await store.markSteps(triaged.steps.map((t) => [t.safe, chunk.blockNumber] as const))
        for (const t of triaged.steps) {
          const item = { safe: t.safe, block: chunk.blockNumber, hash: at.hash, timestamp: chunk.timestamp, state: t.state, userOps: opsOf.get(t.safe.toLowerCase()) ?? [] }
          const key = `${t.safe}:${chunk.blockNumber}`
          // Checked once solved (the "observed" event) or once the step ends without solving (tracking, busy). A
          // checked step gives its slot back: its send (bounded by `fleet.sendConcurrency`) holds up no other check.
          let release: (() => void) | undefined
          checks.push(new Promise<void>((resolve) => this.unchecked.set(key, () => (resolve(), release?.()))))
          const run = this.runStep((free) => ((release = free), step.run(item)))
          this.inflight.add(run)
          run
            .catch((error) => this.logger.error({ safe: t.safe, err: String(error) }, "fleet step failed"))
            .finally(() => {
              this.inflight.delete(run)
              this.unchecked.get(key)?.()
              this.unchecked.delete(key)
            })
        }
      },
    }).catch((error: unknown) => {
      // Review rr16f F1: the node has the block but not its state (pruned: a pass at a stale head): the block's refusal,
      // nothing blamed on its Safes; they are read at the next head.
      const pruned = findInCauseChain(error, BlockStateUnavailableError)
      if (pruned) {
        this.logger.warn({ block: Number(at.number), hash: at.hash }, "pass skipped: the node has no state for its block (pruned or not synced); the Safes are read at the next head")
        this.metrics.inc("levpilot_fleet_blocks_state_unavailable_total", "Block passes or scan jobs skipped because the node had no state for the block.")
        return 0
      }
      const lost = findInCauseChain(error, BlockNotCanonicalError)
      if (!lost) throw error
      this.logger.warn({ block: Number(at.number), hash: at.hash, canonical: lost.canonical }, "pass skipped: its block is no longer on the node's chain (reorg); the Safes are read at the next head")
      return 0
    })
    await Promise.all(checks)
    const ms = this.clock.now() - at.seenAt
    const pass: BlockPass = { block: at.number, safes: safes.length, steps, requests: headRequests + polled + requests + reads, ms }
    this.metrics.observe("levpilot_fleet_scan_ms", "Milliseconds from a new head to the last Safe checked.", ms)
    this.metrics.set("levpilot_fleet_requests_per_block", "JSON-RPC requests of the last block's pass (head, discovery, reads).", {}, pass.requests)
    events.emit({ type: "scanned", block: pass.block, safes: pass.safes, steps: pass.steps, requests: pass.requests, ms })
    return pass
  }

  /** The Safes with an operation in flight. */
  pendingSafes(): Promise<Address[]> {
    return this.store.pendingSafes()
  }
}
