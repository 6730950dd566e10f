import type { Logger } from "pino"
import { type Address, BaseError, type PublicClient, getAddress } from "viem"
import type { KeeperConfig } from "../config.js"
import { DISCOVERY_ALERT_AFTER_HEADS, type KeeperEvents, shortMessage } from "../events.js"
import { LogReadError, isUnreachable } from "../logWindow.js"
import type { UserOperationEventLog } from "../inclusionLookup.js"
import type { KeeperMetrics } from "../metrics.js"
import { DISCOVERY_STALL_HEADS, type DiscoveryCheckpoint, DiscoveryNotAdvancingError, SafeDiscovery } from "./discovery.js"
import type { Head } from "./head.js"

/**
 * The Safes to read at one head, and the block's `UserOperationEvent`s. `discoveryFailed`: discovery could not read
 * the module's logs at this head (the Safes it knew before are listed; it reads from where it stopped next head).
 */
export type HeadSafes = { safes: Address[]; userOps: UserOperationEventLog[]; requests: number; discoveryFailed?: boolean | undefined }

/**
 * Which Safes the fleet reads at each head: the discovered ones (`discovery`, see {@link SafeDiscovery}) or the
 * configured `safes`, always with every Safe that has an operation in flight (its inclusion is tracked even after its
 * key was revoked), restricted to `allowlist` when set.
 *
 * A failed discovery read (review rr16 F4: HTTP 429 after the transport's retries, a connection reset, a range the node
 * refuses even at one block) does not stop the reads: the Safes discovery knew at its last block and the pending ones
 * are listed at that head, and discovery reads on from where it stopped at the next head (its window halved on each
 * refusal, down to one block). The outage raises one `discovery-stalled` alert (`events`; the webhook posts it) after
 * {@link DISCOVERY_ALERT_AFTER_HEADS} failed heads in a row, or at once when the node refuses a one-block range (that
 * does not pass by itself); not again until discovery has advanced once.
 */
export class SafeSource {
  readonly discovery: SafeDiscovery | undefined
  private readonly configured: Address[]
  /** Allowlisted Safes already reported as never registered (each is logged once). */
  private readonly reported = new Set<Address>()
  /** Allowlisted Safes not yet seen with this keeper's key (undefined before the first check). */
  private unregistered: Address[] | undefined
  /** Heads in a row whose discovery read failed, and whether this outage was alerted. */
  private outage = { heads: 0, alerted: false, since: 0n }

  constructor(
    private readonly deps: {
      config: KeeperConfig
      client: PublicClient
      keeper: Address
      logger: Logger
      metrics: KeeperMetrics
      /** The chain id, when known (else the client's chain): discovery checkpoints are bound to it. */
      chainId?: number | undefined
      /** Where the `discovery-stalled` alert goes (logged only when omitted). */
      events?: KeeperEvents | undefined
    },
  ) {
    const { config, client, keeper, logger, metrics } = deps
    this.discovery = config.discovery
      ? new SafeDiscovery({ client, module: config.deployment.leverageModule, entryPoint: config.deployment.entryPoint, keeper, chainId: deps.chainId ?? client.chain?.id, settings: config.discovery, allowlist: config.allowlist, logger, metrics })
      : undefined
    const allow = config.allowlist && new Set(config.allowlist.map((a) => getAddress(a)))
    this.configured = config.safes.map((s) => getAddress(s.address)).filter((s) => !allow || allow.has(s))
  }

  /**
   * Brings discovery up to `head` and lists the Safes to read.
   *
   * @param pending - Safes with an operation in flight.
   * @returns {@link HeadSafes}
   */
  async at(head: Head, pending: readonly Address[]): Promise<HeadSafes> {
    let userOps: UserOperationEventLog[] = []
    let requests = 0
    let served = this.configured
    let discoveryFailed = false
    if (this.discovery) {
      try {
        const sync = await this.discovery.sync(head.number)
        userOps = sync.userOps
        requests = sync.requests
        // Review rr16h H1: no progress for DISCOVERY_STALL_HEADS heads is a failure (alerted), not a silent stop.
        if (sync.stalledHeads >= DISCOVERY_STALL_HEADS) {
          discoveryFailed = true
          this.failed(head.number, new DiscoveryNotAdvancingError(sync.stalledHeads, sync.block, head.number))
        } else this.recovered(head.number)
        this.checkAllowlist()
      } catch (error) {
        discoveryFailed = true
        this.failed(head.number, error)
      }
      served = this.discovery.served(Number(head.timestamp))
    }
    const safes = [...new Set([...served, ...pending.map((s) => getAddress(s))])]
    this.deps.metrics.set("levpilot_fleet_safes", "Safes the fleet reads each block (served and with an operation in flight).", {}, safes.length)
    return { safes, userOps, requests, discoveryFailed }
  }

  /** A head whose discovery read failed: counted, logged, alerted once per outage (see the class). */
  private failed(block: bigint, error: unknown): void {
    const { logger, metrics, events, config } = this.deps
    if (this.outage.heads === 0) this.outage.since = block
    this.outage.heads += 1
    metrics.inc("levpilot_discovery_failed_heads_total", "Heads at which the Safe discovery's eth_getLogs failed (the known Safes were read).")
    metrics.set("levpilot_discovery_failing_heads", "Heads in a row at which the Safe discovery's eth_getLogs failed (0 once it advanced).", {}, this.outage.heads)
    const at = this.discovery?.block ?? 0n
    logger.warn({ block: Number(block), discoveryBlock: Number(at), heads: this.outage.heads, err: shortMessage(error) }, "discovery: eth_getLogs failed; reading the Safes known so far, discovery retries at the next head")
    const stuck = !isUnreachable(error)
    if (this.outage.alerted || (!stuck && this.outage.heads < DISCOVERY_ALERT_AFTER_HEADS)) return
    this.outage.alerted = true
    const cause = error instanceof Error ? error : new Error(String(error))
    const alert = stuck
      ? new LogReadError({ fromBlock: at + 1n, toBlock: at + 1n, cause })
      : new DiscoveryStalledError({ heads: this.outage.heads, discoveryBlock: at, cause })
    if (events) events.alert(config.deployment.leverageModule, block, "discovery-stalled", alert)
    else logger.error({ alert: true, kind: "discovery-stalled", block: Number(block), err: shortMessage(alert) }, `ALERT discovery-stalled: ${shortMessage(alert)}`)
  }

  /** Discovery advanced: an outage ends (logged when it was long enough to be alerted). */
  private recovered(block: bigint): void {
    if (this.outage.heads === 0) return
    if (this.outage.alerted) this.deps.logger.warn({ block: Number(block), since: Number(this.outage.since), heads: this.outage.heads }, "discovery advanced again after its outage")
    this.outage = { heads: 0, alerted: false, since: 0n }
    this.deps.metrics.set("levpilot_discovery_failing_heads", "Heads in a row at which the Safe discovery's eth_getLogs failed (0 once it advanced).", {}, 0)
  }

  /**
   * The allowlisted Safes that never added this keeper's key (no `KeeperAdded` since `discovery.fromBlock`), once
   * discovery is current: a typo in the allowlist reads as a Safe that is never served. Each is logged once (warn), and
   * the gauge `levpilot_allowlist_unregistered_safes` counts them at every head.
   *
   * @returns The Safes, checksummed.
   */
  unregisteredAllowlisted(): Address[] {
    const { discovery } = this
    if (!discovery || !this.deps.config.allowlist) return []
    // Once found, a Safe stays found (the key was added at some block): only the others are looked up each head.
    this.unregistered = (this.unregistered ?? this.deps.config.allowlist.map((a) => getAddress(a))).filter((a) => !discovery.registration(a)?.keyAdded)
    return this.unregistered
  }

  private checkAllowlist(): void {
    const { config, keeper, logger, metrics } = this.deps
    if (!config.allowlist || !config.discovery) return
    const missing = this.unregisteredAllowlisted()
    metrics.set("levpilot_allowlist_unregistered_safes", "Allowlisted Safes that never added this keeper's key (discovery is current): a typo, or a key not added yet.", {}, missing.length)
    for (const safe of missing) {
      if (this.reported.has(safe)) continue
      this.reported.add(safe)
      const index = config.allowlist.findIndex((a) => getAddress(a) === safe)
      logger.warn(
        { safe, field: `allowlist[${index}]`, keeper, fromBlock: Number(config.discovery.fromBlock), block: Number(this.discovery?.block) },
        `allowlisted Safe ${safe} (allowlist[${index}]) never added this keeper's key since block ${config.discovery.fromBlock}: a typo in the allowlist, or its owner has not added the key yet; it is not served until it does`,
      )
    }
  }

  checkpoint(): DiscoveryCheckpoint | undefined {
    return this.discovery?.checkpoint()
  }

  /** {@link SafeDiscovery.resets} (0 without discovery). */
  resets(): number {
    return this.discovery?.resets ?? 0
  }

  /** See {@link SafeDiscovery.restore}. @returns True when restored. */
  restore(checkpoint: DiscoveryCheckpoint): boolean {
    return this.discovery?.restore(checkpoint) ?? false
  }
}

export type DiscoveryStalledErrorType = DiscoveryStalledError & { name: "DiscoveryStalledError" }
/** The Safe discovery's `eth_getLogs` failed at `heads` heads in a row; it is current at `discoveryBlock`. */
export class DiscoveryStalledError extends BaseError {
  heads: number
  discoveryBlock: bigint
  constructor({ heads, discoveryBlock, cause }: { heads: number; discoveryBlock: bigint; cause: Error }) {
    super(`The Safe discovery could not read the module's logs at ${heads} heads in a row; it is current at block ${discoveryBlock}.`, {
      cause,
      metaMessages: ["The known Safes and those with an operation in flight are still read; a Safe registering meanwhile is served once discovery advances."],
      name: "DiscoveryStalledError",
    })
    this.heads = heads
    this.discoveryBlock = discoveryBlock
  }
}

/** @returns The events of `userOps` grouped by sender (lower case). */
export function userOpsBySender(userOps: readonly UserOperationEventLog[]): Map<string, UserOperationEventLog[]> {
  const out = new Map<string, UserOperationEventLog[]>()
  for (const log of userOps) {
    const sender = log.args.sender?.toLowerCase()
    if (!sender) continue
    const list = out.get(sender) ?? []
    list.push(log)
    out.set(sender, list)
  }
  return out
}
