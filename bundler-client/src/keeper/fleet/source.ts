import type { Logger } from "pino"
import { type Address, type PublicClient, getAddress } from "viem"
import type { KeeperConfig } from "../config.js"
import type { UserOperationEventLog } from "../inclusionLookup.js"
import type { KeeperMetrics } from "../metrics.js"
import { type DiscoveryCheckpoint, SafeDiscovery } from "./discovery.js"
import type { Head } from "./head.js"

/** The Safes to read at one head, and the block's `UserOperationEvent`s. */
export type HeadSafes = { safes: Address[]; userOps: UserOperationEventLog[]; requests: number }

/**
 * Which Safes the fleet reads at each head: the discovered ones (`discovery`, see {@link SafeDiscovery}) or the
 * configured `safes`, always with every Safe that has an operation in flight (its inclusion is tracked even after its
 * key was revoked), restricted to `allowlist` when set.
 */
export class SafeSource {
  readonly discovery: SafeDiscovery | undefined
  private readonly configured: Address[]
  /** Allowlisted Safes already reported as never registered (each is logged once). */
  private readonly reported = new Set<Address>()
  /** Allowlisted Safes not yet seen with this keeper's key (undefined before the first check). */
  private unregistered: Address[] | undefined

  constructor(
    private readonly deps: { config: KeeperConfig; client: PublicClient; keeper: Address; logger: Logger; metrics: KeeperMetrics },
  ) {
    const { config, client, keeper, logger, metrics } = deps
    this.discovery = config.discovery
      ? new SafeDiscovery({ client, module: config.deployment.leverageModule, entryPoint: config.deployment.entryPoint, keeper, settings: config.discovery, allowlist: config.allowlist, logger, metrics })
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
    if (this.discovery) {
      const sync = await this.discovery.sync(head.number)
      userOps = sync.userOps
      requests = sync.requests
      served = this.discovery.served(Number(head.timestamp))
      this.checkAllowlist()
    }
    const safes = [...new Set([...served, ...pending.map((s) => getAddress(s))])]
    this.deps.metrics.set("levpilot_fleet_safes", "Safes the fleet reads each block (served and with an operation in flight).", {}, safes.length)
    return { safes, userOps, requests }
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

  restore(checkpoint: DiscoveryCheckpoint): void {
    this.discovery?.restore(checkpoint)
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
