import { type Logger, pino } from "pino"
import type { Address, Chain } from "viem"
import { privateKeyToAccount } from "viem/accounts"
import { BlockLoop } from "./blockLoop.js"
import { type Clock, systemClock } from "./clock.js"
import { type KeeperClients, connectKeeperClients } from "./clients.js"
import type { KeeperConfig } from "./config.js"
import { type KeeperEvent, KeeperEvents, alertKinds } from "./events.js"
import { InclusionTracker } from "./inclusion.js"
import { KeeperMetrics, serveMetrics } from "./metrics.js"
import { type SafeRuntime, newSafeRuntime } from "./runtime.js"
import { SafeStep } from "./safeStep.js"
import { RebalanceSender } from "./sender.js"
import { KeeperStateStore, type PendingOperation, StateSnapshots, reportStateFileOpened } from "./stateFile.js"
import type { VolatilityEstimate } from "./volatility.js"
import { VolatilityFeed } from "./volatilityFeed.js"
import { WebhookNotifier } from "./webhook.js"

export type { KeeperEvent } from "./events.js"
export { INCLUSION_MARGIN, withInclusionMargin } from "./inclusionMargin.js"
export { describePlan, keeperCosts } from "./safeStep.js"

export type KeeperOptions = {
  logger?: Logger | undefined
  metrics?: KeeperMetrics | undefined
  onEvent?: ((event: KeeperEvent) => void) | undefined
  /** Print plans without sending (`levpilot keeper --dry-run`). */
  dryRun?: boolean | undefined
  /** Chain of the RPC; read with `eth_chainId` when omitted. */
  chain?: Chain | undefined
  /** Time and waiting (default: the system clock). */
  clock?: Clock | undefined
  /** Where the operation in flight is persisted (default: `config.stateFile`). */
  store?: KeeperStateStore | undefined
  /** Connections to the RPC, bundler and paymaster (default: from `config`, see `connectKeeperClients`). */
  clients?: KeeperClients | undefined
}

/**
 * The keeper daemon: on every new block it reads each Safe's sub-accounts, pools and balances from the chain,
 * runs the solver (every plan passes `checkPlanAgainstPolicy`), and sends the plan as a keeper UserOperation through
 * the bundler, sponsored by the ERC-7677 paymaster (self-paid only when allowed), then tracks inclusion on chain.
 *
 * Its parts, each in its own file with its collaborators injected: {@link BlockLoop} (new heads, reorgs),
 * {@link SafeStep} (one Safe, one block), {@link VolatilityFeed} (live sigma, inclusion margin),
 * {@link RebalanceSender} (the SDK's `sendRebalance`, paymaster fallback, replacements) and {@link InclusionTracker}.
 *
 * Safety: one EntryPoint nonce sequence per Safe (the SDK's keeper nonce key) and at most one operation in flight per
 * Safe; a replacement reuses the in-flight nonce, so at most one of them can execute. The in-flight operation is
 * persisted (intent first, hash after) to `stateFile`; after a restart the keeper reconciles it with the chain's
 * nonce and `UserOperationEvent` logs before sending anything new.
 */
export class Keeper {
  readonly metrics: KeeperMetrics
  readonly logger: Logger
  private readonly store: KeeperStateStore
  private readonly clock: Clock
  private readonly events: KeeperEvents
  private readonly safes: Map<Address, SafeRuntime>
  private readonly keeperKey
  private parts: { loop: BlockLoop; step: SafeStep; clients: KeeperClients } | undefined
  /** The state file's snapshot, once per block (review rr11za A2); never in a dry run. */
  private readonly snapshots: StateSnapshots
  private metricsServer: { url: string; stop: () => Promise<void> } | undefined
  private readonly inflight = new Set<Promise<void>>()
  private readonly webhook: WebhookNotifier | undefined

  constructor(
    readonly config: KeeperConfig,
    private readonly options: KeeperOptions = {},
  ) {
    this.logger = options.logger ?? pino({ level: config.logLevel, base: { service: "levpilot-keeper" } })
    this.metrics = options.metrics ?? new KeeperMetrics()
    // A dry run reads the production state file and never writes it (review rr11zc C3: its tracker's clear went into
    // production's journal and, replayed after production's restart, dropped production's newer in-flight record).
    this.store = options.store ?? new KeeperStateStore(config.stateFile, { readOnly: options.dryRun === true })
    this.clock = options.clock ?? systemClock
    this.keeperKey = privateKeyToAccount(config.keeperPrivateKey)
    const webhook = config.webhook
      ? new WebhookNotifier({ settings: config.webhook, keeper: this.keeperKey.address, chainId: () => this.parts?.clients.publicClient.chain?.id, logger: this.logger, metrics: this.metrics, clock: this.clock })
      : undefined
    this.webhook = webhook
    const onEvent = webhook ? (event: KeeperEvent) => (options.onEvent?.(event), webhook.notify(event)) : options.onEvent
    this.events = new KeeperEvents({ logger: this.logger, metrics: this.metrics, onEvent })
    this.snapshots = new StateSnapshots({ store: options.dryRun ? {} : this.store, safe: config.deployment.leverageModule, events: this.events, logger: this.logger })
    this.safes = new Map(config.safes.map((s) => [s.address, newSafeRuntime(s)]))
    // Counters start at zero so a scrape before the first event already shows every series.
    for (const safe of this.safes.keys()) {
      for (const result of ["success", "reverted"]) this.metrics.inc("levpilot_rebalances_total", "Keeper operations included, by outcome.", { safe, result }, 0)
      for (const kind of alertKinds) this.metrics.inc("levpilot_failures_total", "Keeper failures by kind.", { safe, kind }, 0)
    }
    this.metrics.declare("levpilot_reaction_latency_blocks", "Blocks from the first out-of-band observation to inclusion.", "summary")
    this.metrics.declare("levpilot_reaction_latency_ms", "Milliseconds from the first out-of-band observation to inclusion seen.", "summary")
  }

  /** URL of the Prometheus endpoint, when serving. */
  get metricsUrl(): string | undefined {
    return this.metricsServer?.url
  }

  private get started(): { loop: BlockLoop; step: SafeStep; clients: KeeperClients } {
    if (!this.parts) throw new TypeError("Keeper.init() was not called")
    return this.parts
  }

  /** Connects to the RPC and bundler and starts the metrics endpoint; `start()` calls it. */
  async init(): Promise<void> {
    if (this.parts) return
    const { config, logger, metrics, store, clock, events } = this
    const clients = this.options.clients ?? (await connectKeeperClients(config, this.options.chain))
    // The persisted records belong to one nonce sequence: this chain, EntryPoint, module and keeper key.
    const chainId = clients.publicClient.chain?.id ?? (await clients.publicClient.getChainId())
    store.bind({ chainId, entryPoint: config.deployment.entryPoint, module: config.deployment.leverageModule, keeper: this.keeperKey.address })
    reportStateFileOpened(store, { logger, events, module: config.deployment.leverageModule })
    const shared = { config, clients, store, metrics, logger, events, clock, snapshots: this.snapshots }
    const tracker = new InclusionTracker({ ...shared, publicClient: clients.publicClient })
    const sender = new RebalanceSender({ ...shared, keeper: this.keeperKey })
    const step = new SafeStep({ ...shared, tracker, sender, volatility: new VolatilityFeed({ logger, metrics }), dryRun: this.options.dryRun ?? false })
    const loop = new BlockLoop({ publicClient: clients.publicClient, clock, metrics, logger, events, pollIntervalMs: config.pollIntervalMs })
    this.parts = { loop, step, clients }
    if (config.metricsPort !== undefined && !this.metricsServer) this.metricsServer = await serveMetrics(metrics, { port: config.metricsPort, host: config.metricsHost })
    logger.info(
      { chainId: clients.publicClient.chain?.id, keeper: this.keeperKey.address, safes: [...this.safes.keys()], metrics: this.metricsServer?.url, dryRun: this.options.dryRun ?? false },
      "keeper started",
    )
  }

  /** Starts watching blocks; resolves once the first poll is scheduled. */
  async start(): Promise<void> {
    await this.init()
    this.started.loop.start((block) => {
      // The changes of the blocks before (already in the journal) in one snapshot of the state file.
      const f = this.snapshots.flush(block).finally(() => this.inflight.delete(f))
      this.inflight.add(f)
      for (const safe of this.safes.keys()) {
        // One Safe's unexpected failure is logged, never an unhandled rejection (Node 20 would exit: review rr11za A3).
        const p = this.processSafe(safe, block)
          .catch((error: unknown) => this.logger.error({ safe, block: Number(block), error: error instanceof Error ? error.message : String(error) }, "a Safe's step failed"))
          .finally(() => this.inflight.delete(p))
        this.inflight.add(p)
      }
    })
  }

  /** Stops polling, waits for the Safes being processed, closes the metrics endpoint. */
  async stop(): Promise<void> {
    await this.parts?.loop.stop()
    await Promise.allSettled([...this.inflight])
    if (this.parts) await this.snapshots.flush(this.parts.loop.lastBlock)
    this.store.close()
    await this.webhook?.flush(5_000)
    await this.metricsServer?.stop()
    this.metricsServer = undefined
    this.logger.info("keeper stopped")
  }

  /**
   * One block's work for one Safe: reconcile the operation in flight, else read, solve and send. Never runs twice at
   * once for the same Safe.
   *
   * @returns When the Safe's work for this block is done.
   */
  async processSafe(safe: Address, block: bigint): Promise<void> {
    const rt = this.safes.get(safe)
    if (rt) await this.started.step.run(rt, block)
  }

  /** One pass over every Safe at the latest block (`--once`, tests). */
  async runOnce(): Promise<void> {
    const { loop, clients } = this.started
    const block = await clients.publicClient.getBlockNumber({ cacheTime: 0 })
    loop.lastBlock = block
    await Promise.all([...this.safes.keys()].map((safe) => this.processSafe(safe, block)))
    await this.snapshots.flush(block)
  }

  /**
   * Follows the operations in flight after {@link runOnce} (`--once`): on every new block each Safe with a pending
   * operation is tracked (and resubmitted when due) until none is left or `timeoutMs` has passed.
   *
   * @returns The Safes whose operation is still pending at the timeout (empty when everything landed).
   */
  async settle(timeoutMs: number): Promise<Address[]> {
    const { loop } = this.started
    const until = this.clock.now() + timeoutMs
    let last = loop.lastBlock
    for (;;) {
      const pending = [...this.safes.keys()].filter((safe) => this.store.pending(safe) !== undefined)
      if (pending.length === 0 || this.clock.now() >= until) return pending
      await this.clock.sleep(this.config.pollIntervalMs)
      const block = await loop.head()
      if (block === undefined || block === last) continue
      last = block
      loop.lastBlock = block
      await Promise.all(pending.map((safe) => this.processSafe(safe, block)))
      await this.snapshots.flush(block)
    }
  }

  /** The persisted in-flight operation of a Safe (tests, status). */
  pending(safe: Address): PendingOperation | undefined {
    return this.parts ? this.store.pending(safe) : undefined
  }

  /** The volatility each sub-account of a Safe is solved with now (tests, status). */
  volatility(safe: Address): Record<string, VolatilityEstimate> {
    const out: Record<string, VolatilityEstimate> = {}
    for (const [id, v] of this.safes.get(safe)?.volatility ?? []) out[id] = v.estimate()
    return out
  }
}
