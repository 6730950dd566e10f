import type { Logger } from "pino"
import { type AbiEvent, type Address, type DecodeEventLogReturnType, type Hex, type Log, type PublicClient, getAddress, isAddressEqual } from "viem"
import { leverageModuleAbi } from "@levpilot/sdk/abis"
import { type UserOperationEventLog, userOperationEvent } from "../inclusionLookup.js"
import { shortMessage } from "../events.js"
import type { KeeperMetrics } from "../metrics.js"
import type { DiscoverySettings } from "./config.js"
import { LogWindow, isRangePastHead } from "../logWindow.js"

/** What the module's events say about one Safe, as far as this keeper is concerned. */
export type SafeRegistration = {
  /** This keeper's key on the Safe, `undefined` when never added or revoked. Times are unix seconds. */
  key: { validAfter: number; validUntil: number } | undefined
  /** Whether this keeper's key was ever added to the Safe (`KeeperAdded`), revoked since or not. */
  keyAdded: boolean
  paused: boolean
  /** Sub-accounts with a policy. */
  subAccounts: Set<Hex>
}

type ModuleEvent = DecodeEventLogReturnType<typeof leverageModuleAbi>
type ModuleEventName = ModuleEvent["eventName"]
type ArgsOf<name extends ModuleEventName> = Extract<ModuleEvent, { eventName: name }>["args"]

/** The registration of `safe`, created on first use. */
type Entry = (safe: Address) => SafeRegistration

/**
 * How each module event changes what discovery knows. The module's events are read from `fromBlock` in bounded windows
 * and folded through these rules in chain order; only the events named here are requested.
 *
 * A new lifecycle event is one entry (its ABI comes with `node sdk/scripts/gen-abis.mjs`), as `KeepersReset` was.
 * Discovery only narrows which Safes are read: whether the key is active, in its window and the Safe unpaused is
 * checked again on every block from the chain itself (`getSafeStates`) before anything is sent.
 */
export const discoveryRules: { [name in ModuleEventName]?: (entry: Entry, args: ArgsOf<name>, keeper: Address) => void } = {
  KeeperAdded: (entry, a, keeper) => {
    if (!isAddressEqual(a.keeper, keeper)) return
    const r = entry(a.safe)
    r.key = { validAfter: a.validAfter, validUntil: a.validUntil }
    r.keyAdded = true
  },
  KeeperRevoked: (entry, a, keeper) => {
    if (isAddressEqual(a.keeper, keeper)) entry(a.safe).key = undefined
  },
  KeepersReset: (entry, a) => {
    // A new key generation: every key of the Safe, this keeper's included, is void until added again.
    entry(a.safe).key = undefined
  },
  PolicySet: (entry, a) => {
    entry(a.safe).subAccounts.add(a.subAccount)
  },
  PolicyRemoved: (entry, a) => {
    entry(a.safe).subAccounts.delete(a.subAccount)
  },
  AutomationPausedSet: (entry, a) => {
    entry(a.safe).paused = a.paused
  },
  AutomationConfigured: (entry, a) => {
    entry(a.safe).paused = a.config.paused
  },
}

const ruleEvents: AbiEvent[] = Object.keys(discoveryRules).map((name) => {
  const item = leverageModuleAbi.find((x) => x.type === "event" && x.name === name)
  if (!item) throw new TypeError(`discoveryRules names ${name}, which is not an event of the module's ABI (regenerate sdk/src/abis)`)
  return item as AbiEvent
})

type Registry = Map<Address, SafeRegistration>
type DecodedLog = Log<bigint, number, false, AbiEvent, true>

const clone = (registry: Registry): Registry =>
  new Map([...registry].map(([safe, r]) => [safe, { key: r.key && { ...r.key }, keyAdded: r.keyAdded, paused: r.paused, subAccounts: new Set(r.subAccounts) }]))

/**
 * What a discovery state was read for: the module whose events were folded, the keeper key they were folded for, the
 * EntryPoint (its `UserOperationEvent`s) and the chain (`chainId`, when known). Addresses checksummed.
 */
export type DiscoveryScope = { chainId?: number | undefined; entryPoint: Address; module: Address; keeper: Address }

/**
 * A saved discovery state (leader hand-over in the fleet): the registry up to `block`, read for `scope` (review rr16
 * F1: a checkpoint of another module, key or chain is not restored; one written before the scope was recorded has none
 * and is not restored either).
 */
export type DiscoveryCheckpoint = {
  block: string
  scope?: DiscoveryScope | undefined
  /**
   * The `discovery.fromBlock` it was read from (review rr16b D1): a checkpoint read from a higher block than this
   * discovery's (the operator lowered `fromBlock` to find a Safe registered earlier) is not restored; one without it
   * (written before f16d) is not restored either.
   */
  fromBlock?: string | undefined
  safes: [Address, { key: SafeRegistration["key"]; keyAdded?: boolean | undefined; paused: boolean; subAccounts: Hex[] }][]
}

/** Blocks already seen that each head's `eth_getLogs` (module events and `UserOperationEvent`s) reads again. */
export const REREAD_OVERLAP_BLOCKS = 4

/**
 * The farthest below the head that {@link SafeDiscovery.sync} backs a range's end off when the node refuses it as past
 * its head (review rr16h H1): the end goes to head-1, head-2, head-4 ... head-64 (at most 7 refused reads per head),
 * and once a backed-off end was read, bisects back up toward the lowest refused end (review rr16i A1: at most
 * log2(backoff) more reads), so a `getLogs` backend always k blocks behind the head followed has every block below its
 * own head read at this head (a Safe is listed k heads after it registered, not at the next power of two of k).
 */
export const PAST_HEAD_MAX_BACKOFF_BLOCKS = 64n

/**
 * Reads per head of the first block discovery has not read, when every end above it was refused as past the node's
 * head and nothing new was read at that head (review bk54): behind a load balancer each read may reach another backend,
 * and one refusal says only that the backend answering is behind. Past-head refusals of blocks already read count
 * against the same budget. A node that serves none of it costs PAST_HEAD_PROBE_READS - 1 more reads per head.
 */
export const PAST_HEAD_PROBE_READS = 3

/**
 * Heads in a row at which discovery did not advance while behind the head (every read refused as past the node's head,
 * or a stale answer), after which {@link DiscoverySync.stalled} is set and the source raises the `discovery-stalled`
 * alert (review rr16h H1: the stall was silent).
 */
export const DISCOVERY_STALL_HEADS = 8

/** Discovery made no progress for {@link DISCOVERY_STALL_HEADS} heads while behind the head (review rr16h H1). */
export class DiscoveryNotAdvancingError extends Error {
  override name = "DiscoveryNotAdvancingError"
  constructor(
    readonly heads: number,
    readonly discoveryBlock: bigint,
    readonly head: bigint,
  ) {
    super(`Safe discovery has not advanced for ${heads} heads: it is at block ${discoveryBlock}, the head is ${head} (the eth_getLogs backend refuses or lags every range; new Safes are not listed).`)
  }
}

/** What one {@link SafeDiscovery.sync} learned. */
export type DiscoverySync = {
  /** The block discovery is now current at. */
  block: bigint
  /** Whether a reorg was detected (logs re-read from the last confirmed block). */
  reorg: boolean
  /** `UserOperationEvent`s of the EntryPoint in the blocks just read (only once caught up, see `sync`). */
  userOps: UserOperationEventLog[]
  /** `eth_getLogs` requests made. */
  requests: number
  /**
   * Heads in a row (this one included) at which discovery did not advance while behind the head; 0 when it advanced
   * or is current. At {@link DISCOVERY_STALL_HEADS} or more the source alerts (review rr16h H1).
   */
  stalledHeads: number
}

/** The checkpoint last written to the shared store: its block and the discovery's {@link SafeDiscovery.resets} then. */
export type CheckpointMark = { block: bigint; resets: number }

/**
 * Whether the queue leader writes `checkpoint` to the shared store: every 100 confirmed blocks, and at once after a
 * discovery reset (review rr16c S2: otherwise Redis kept the old chain's checkpoint, and a new leader restored it).
 *
 * @param checkpoint - `SafeDiscovery.checkpoint()` (undefined without discovery).
 * @param resets - `SafeDiscovery.resets` now.
 * @param last - The mark of the last write (`{ block: 0n, resets: 0 }` before any).
 * @returns The new mark when a write is due (the caller writes, then keeps it), else undefined.
 */
export function checkpointDue(checkpoint: DiscoveryCheckpoint | undefined, resets: number, last: CheckpointMark): CheckpointMark | undefined {
  if (!checkpoint) return undefined
  const block = BigInt(checkpoint.block)
  if (resets !== last.resets || block >= last.block + 100n) return { block, resets }
  return undefined
}

/**
 * Finds the Safes that registered this keeper's key from the module's events (`discoveryRules`), from
 * `settings.fromBlock`, in windows of `settings.logWindow` blocks, and keeps that current as new blocks arrive: one
 * `eth_getLogs` per new head (module events and, once caught up, the EntryPoint's `UserOperationEvent`s in the same
 * request). A window the node or the client refuses (too many results, a response over viem's 10 MB limit, a timeout,
 * a range too wide) is halved and read again, down to one block, and the smaller window is kept for the next reads:
 * thousands of Safes registered in a few blocks still catch up. The last `reorgDepth` blocks of logs are kept apart
 * (unconfirmed) and re-checked at every head: the head's request re-reads the last {@link REREAD_OVERLAP_BLOCKS}
 * blocks already seen, and one more module-only `eth_getLogs` re-reads the unconfirmed blocks below them (review rr16
 * F2: 60 blocks with the default reorgDepth 64; one request per head while logWindow >= 60). When their logs differ
 * (or the head moved back) the unconfirmed blocks are re-read from the last confirmed state. A reorg that changed no
 * module log needs no re-read; one deeper than `reorgDepth` is not seen.
 */
export class SafeDiscovery {
  private confirmed: Registry = new Map()
  private live: Registry = new Map()
  /** Logs after `confirmedBlock`, in chain order. */
  private recent: DecodedLog[] = []
  private confirmedBlock: bigint
  /** Times {@link sync} started again from fromBlock (head below the confirmed block). */
  private resetCount = 0
  private syncedBlock: bigint
  /** Heads in a row at which {@link sync} did not advance while behind the head (review rr16h H1). */
  private stalledHeads = 0
  /** Blocks per `eth_getLogs`: `settings.logWindow`, halved while the node refuses a window. */
  private readonly window: LogWindow

  constructor(
    private readonly deps: {
      client: PublicClient
      module: Address
      entryPoint: Address
      keeper: Address
      /** The chain the node serves, when known (recorded in {@link checkpoint}s and checked by {@link restore}). */
      chainId?: number | undefined
      settings: DiscoverySettings
      allowlist?: readonly Address[] | undefined
      logger: Logger
      metrics: KeeperMetrics
    },
  ) {
    this.confirmedBlock = deps.settings.fromBlock - 1n
    this.syncedBlock = this.confirmedBlock
    this.window = new LogWindow(deps.settings.logWindow)
  }

  /** Blocks per `eth_getLogs` now (`logWindow`, or less after a window was refused). */
  get logWindow(): number {
    return this.window.size
  }

  /** Times {@link sync} started again from `fromBlock` (a head below the confirmed block; see {@link checkpointDue}). */
  get resets(): number {
    return this.resetCount
  }

  /** The block discovery is current at (`fromBlock - 1` before the first sync). */
  get block(): bigint {
    return this.syncedBlock
  }

  /** What the events say about `safe`, when it ever emitted one. */
  registration(safe: Address): SafeRegistration | undefined {
    return this.live.get(getAddress(safe))
  }

  /**
   * The Safes to serve at `timestamp`: this keeper's key registered and inside its window, not paused, with at least
   * one policy, and in the allowlist when there is one.
   *
   * @returns Checksummed addresses, in first-seen order.
   */
  served(timestamp: number): Address[] {
    const allow = this.deps.allowlist && new Set(this.deps.allowlist.map((a) => getAddress(a)))
    const out: Address[] = []
    for (const [safe, r] of this.live)
      if (r.key && r.key.validAfter <= timestamp && timestamp < r.key.validUntil && !r.paused && r.subAccounts.size > 0 && (!allow || allow.has(safe))) out.push(safe)
    return out
  }

  /**
   * Reads the module's events up to `head` (bounded windows) and folds them in.
   *
   * @returns {@link DiscoverySync}
   */
  async sync(head: bigint): Promise<DiscoverySync> {
    const { settings } = this.deps
    let requests = 0
    let reorg = false
    // A head below the confirmed block (the chain is shorter than what discovery confirmed: a devnet reset on the same
    // chain id and prefix, a restored checkpoint of another chain's history, a reorg deeper than reorgDepth): nothing
    // held can be trusted; start again from fromBlock (review rr16b D2). Only when something at or past fromBlock was
    // confirmed: a head below fromBlock - 1 before that has nothing to reset and is not counted (review rr16c S3).
    if (head < this.confirmedBlock && this.confirmedBlock >= settings.fromBlock) {
      this.deps.logger.warn(
        { head: Number(head), confirmed: Number(this.confirmedBlock), fromBlock: Number(settings.fromBlock) },
        `discovery: the chain head ${head} is below the confirmed block ${this.confirmedBlock} (chain reset or a reorg deeper than reorgDepth); discovery reads again from fromBlock ${settings.fromBlock}`,
      )
      this.resetCount += 1
      this.deps.metrics.inc("levpilot_discovery_resets_total", "Times discovery started again from fromBlock because the head was below its confirmed block.")
      this.confirmed = new Map()
      this.live = new Map()
      this.recent = []
      this.confirmedBlock = settings.fromBlock - 1n
      this.syncedBlock = this.confirmedBlock
    }
    if (head < this.syncedBlock) reorg = true
    const overlap = BigInt(Math.min(REREAD_OVERLAP_BLOCKS, settings.reorgDepth))
    // The unconfirmed blocks below the overlap (up to reorgDepth - overlap of them): their module logs are read again
    // and compared (review rr16 F2: a reorg deeper than the overlap whose changed logs lay below it went unseen).
    if (!reorg && this.syncedBlock - overlap > this.confirmedBlock) {
      const check = await this.recheck(this.confirmedBlock + 1n, this.syncedBlock - overlap)
      requests += check.requests
      if (check.changed) {
        reorg = true
        this.deps.logger.warn({ from: Number(this.confirmedBlock + 1n), synced: Number(this.syncedBlock) }, "discovery: logs of unconfirmed blocks changed (reorg below the overlap); re-reading from the last confirmed block")
      }
    }
    let from = this.syncedBlock + 1n - (reorg ? 0n : overlap)
    if (from <= this.confirmedBlock) from = this.confirmedBlock + 1n
    if (reorg) from = this.rollback()
    const userOps: UserOperationEventLog[] = []
    const before = this.syncedBlock
    // The highest block this head's reads reach: lowered on a refusal naming a block past the node's head (rr16h H1).
    let end = head
    let backoff = 0n
    // The highest range end read (at an earlier head or this one): served by a backend, so a refusal of an end at or
    // below it is a backend behind it (review bk54).
    let served = this.syncedBlock
    // The lowest range end above `served` refused as past the node's head at this head, and whether a read succeeded
    // after it (the backed-off end then bisects toward it: review rr16i A1).
    let refusedEnd: bigint | undefined
    let bisecting = false
    // Reads of the first unread block left after a refusal by another backend (review bk54).
    let probes = PAST_HEAD_PROBE_READS - 1
    while (from <= end) {
      const to = from + BigInt(this.window.size) - 1n < end ? from + BigInt(this.window.size) - 1n : end
      // Near the head, the EntryPoint's UserOperationEvents come in the same request (inclusion tracking).
      const withUserOps = head - from < 16n
      let logs: DecodedLog[]
      requests += 1
      try {
        logs = await this.getLogs(from, to, withUserOps)
      } catch (error) {
        // Review rr16g G2: a refusal naming a block past the node's head is a backend behind the head followed, not a
        // window too wide: never halved. Review rr16h H1: the range's end backs off (head-1, head-2, head-4 ... down to
        // head-PAST_HEAD_MAX_BACKOFF_BLOCKS) so the blocks the backend has are read; only what was read advances
        // syncedBlock, the rest is read at the next head.
        // Review rr16i A1: once a backed-off end was read, the gap up to the lowest refused end is bisected (a backend 5
        // blocks behind read to head-5, not head-8: a Safe was listed at the next power of two of the lag, 33 behind: 64
        // heads late); at most log2(backoff) more reads per head.
        // Review bk54: behind a load balancer each read may go to another backend, so a refusal says the backend that
        // answered is behind, not that no backend serves the range: a refusal of an end at or below one already read
        // (`served`) is not remembered, and when no new block is left to try (the first unread one refused) that
        // block is read again, up to PAST_HEAD_PROBE_READS times per head, before the head is given up.
        if (isRangePastHead(error)) {
          this.deps.metrics.inc("levpilot_discovery_past_head_total", "eth_getLogs refusals of a range past the node's head (a backend behind; its end backed off, not halved).")
          let lower: bigint | undefined
          if (to > served) {
            if (refusedEnd === undefined || to < refusedEnd) refusedEnd = to
            if (bisecting) lower = served + (to - served) / 2n
            else {
              backoff = backoff === 0n ? 1n : backoff * 2n
              lower = head - backoff < to - 1n ? head - backoff : to - 1n
              // Below the first unread block: that block is read (then bisected up), not the whole head given up (a
              // backend 9 behind, read to head-9, refused head-8 and stopped at head-16, below the next head's start).
              if (lower <= served) lower = served + 1n
            }
            if (backoff > PAST_HEAD_MAX_BACKOFF_BLOCKS) {
              this.deps.logger.debug({ from: Number(from), to: Number(to), err: shortMessage(error) }, "discovery: the node is behind this head; the rest is read at the next head")
              break
            }
            if (lower <= served || lower >= refusedEnd) lower = undefined
          }
          if (lower !== undefined) {
            end = lower
            continue
          }
          // No new block left to try (the first unread one refused) or blocks already read refused, and nothing read
          // past them at this head: the same range is read again (another backend may serve it); else the rest waits.
          if (served > before || probes <= 0) {
            this.deps.logger.debug({ from: Number(from), to: Number(to), err: shortMessage(error) }, "discovery: the node is behind this head; the rest is read at the next head")
            break
          }
          probes -= 1
          continue
        }
        if (!this.window.shrink(from, to, error)) throw error
        this.deps.metrics.inc("levpilot_discovery_window_shrunk_total", "Times an eth_getLogs window was refused and halved.")
        this.deps.logger.warn({ from: Number(from), to: Number(to), window: this.window.size, err: shortMessage(error) }, "discovery: log window refused; halving it")
        continue
      }
      this.window.grow()
      const moduleLogs = logs.filter((l) => isAddressEqual(l.address, this.deps.module))
      if (!reorg && from <= this.syncedBlock && !this.sameAsRecent(moduleLogs, from, to)) {
        // Review rr16g G2: fewer logs than already read for these blocks, from a backend that answers only up to its own
        // (lower) head: nothing is dropped until a read pinned to the missing logs' blocks proves them gone.
        const stale = await this.staleAnswer(moduleLogs, from, to < this.syncedBlock ? to : this.syncedBlock)
        requests += stale.requests
        if (stale.stale) {
          this.deps.metrics.inc("levpilot_discovery_stale_reads_total", "eth_getLogs answers that lacked logs already read whose blocks still hold them (a backend behind; ignored).")
          this.deps.logger.debug({ from: Number(from), to: Number(to) }, "discovery: a re-read lacks logs its blocks still hold (a backend behind); read again at the next head")
          break
        }
        reorg = true
        this.deps.logger.warn({ from: Number(from), synced: Number(this.syncedBlock) }, "discovery: logs of blocks already read changed (reorg); re-reading from the last confirmed block")
        from = this.rollback()
        continue
      }
      for (const log of moduleLogs) {
        if (log.blockNumber <= this.syncedBlock) continue
        this.recent.push(log)
        this.apply(this.live, log)
      }
      if (withUserOps) for (const log of logs) if (!isAddressEqual(log.address, this.deps.module)) userOps.push(log as unknown as UserOperationEventLog)
      if (to > this.syncedBlock) this.syncedBlock = to
      if (to > served) served = to
      // A refused end now read was another backend's refusal: forgotten (review bk54).
      if (refusedEnd !== undefined && refusedEnd <= to) refusedEnd = undefined
      from = to + 1n
      if (refusedEnd !== undefined && to === end && refusedEnd - to > 1n) {
        bisecting = true
        end = to + (refusedEnd - to) / 2n
      }
    }
    if (head < this.syncedBlock) this.syncedBlock = head
    this.confirm(head - BigInt(settings.reorgDepth))
    if (reorg) this.deps.metrics.inc("levpilot_discovery_reorgs_total", "Reorgs discovery detected and re-read.")
    this.deps.metrics.set("levpilot_discovery_block", "Block the Safe discovery is current at.", {}, Number(this.syncedBlock))
    // Review rr16h H1: a discovery that never advances is reported, not silent.
    this.stalledHeads = reorg || this.syncedBlock > before || this.syncedBlock >= head ? 0 : this.stalledHeads + 1
    this.deps.metrics.set("levpilot_discovery_stalled_heads", "Heads in a row at which the Safe discovery did not advance while behind the head.", {}, this.stalledHeads)
    return { block: this.syncedBlock, reorg, userOps, requests, stalledHeads: this.stalledHeads }
  }

  /** What this discovery reads: its chain, EntryPoint, module and keeper key. */
  get scope(): DiscoveryScope {
    const { chainId, entryPoint, module, keeper } = this.deps
    return { chainId, entryPoint: getAddress(entryPoint), module: getAddress(module), keeper: getAddress(keeper) }
  }

  /**
   * Reads the module logs of `[from, to]` (blocks already synced) again, in windows, and compares them with the ones
   * held. A refused window is halved as in {@link sync}.
   *
   * @returns Whether they differ (a reorg), and the requests made.
   */
  private async recheck(from: bigint, to: bigint): Promise<{ changed: boolean; requests: number }> {
    let requests = 0
    while (from <= to) {
      const end = from + BigInt(this.window.size) - 1n < to ? from + BigInt(this.window.size) - 1n : to
      requests += 1
      let logs: DecodedLog[]
      try {
        logs = await this.getLogs(from, end, false)
      } catch (error) {
        // Review rr16g G2: a backend behind the head: this check is made again at the next head (nothing is changed,
        // nothing halved; a re-read here would spend a request per head on the check of older blocks).
        if (isRangePastHead(error)) {
          this.deps.metrics.inc("levpilot_discovery_past_head_total", "eth_getLogs refusals of a range past the node's head (a backend behind; read again, not halved).")
          return { changed: false, requests }
        }
        if (!this.window.shrink(from, end, error)) throw error
        this.deps.metrics.inc("levpilot_discovery_window_shrunk_total", "Times an eth_getLogs window was refused and halved.")
        continue
      }
      this.window.grow()
      const moduleLogs = logs.filter((l) => isAddressEqual(l.address, this.deps.module))
      if (!this.sameAsRecent(moduleLogs, from, end)) {
        // Review rr16g G2: a re-read lacking logs whose blocks still hold them is a backend behind, not a reorg.
        const stale = await this.staleAnswer(moduleLogs, from, end)
        requests += stale.requests
        return { changed: !stale.stale, requests }
      }
      from = end + 1n
    }
    return { changed: false, requests }
  }

  /** The confirmed registry, for a new leader to start from (the recent blocks are read again), with its {@link scope}. */
  checkpoint(): DiscoveryCheckpoint {
    return {
      block: this.confirmedBlock.toString(),
      scope: this.scope,
      fromBlock: this.deps.settings.fromBlock.toString(),
      safes: [...this.confirmed].map(([safe, r]) => [safe, { key: r.key, keyAdded: r.keyAdded, paused: r.paused, subAccounts: [...r.subAccounts] }]),
    }
  }

  /**
   * The field in which `checkpoint`'s scope differs from this discovery's (`scope` when it has none: written before
   * checkpoints were scoped), or undefined when it was read for this chain, EntryPoint, module and keeper key. A chain
   * id unknown on either side is not compared.
   */
  scopeMismatch(checkpoint: DiscoveryCheckpoint): "scope" | "chainId" | "entryPoint" | "module" | "keeper" | undefined {
    const theirs = checkpoint.scope
    if (!theirs) return "scope"
    const ours = this.scope
    if (ours.chainId !== undefined && theirs.chainId !== undefined && ours.chainId !== theirs.chainId) return "chainId"
    for (const field of ["entryPoint", "module", "keeper"] as const) if (!isAddressEqual(ours[field], theirs[field])) return field
    return undefined
  }

  /**
   * Starts from a {@link checkpoint} instead of `fromBlock`, when it was read for this discovery's scope
   * ({@link scopeMismatch}). A checkpoint of another scope (a redeployed module, a rotated key, another chain on the
   * same Redis prefix) is not restored: discovery starts from `fromBlock` (logged at warn with the field that differs),
   * so no Safe registered with this module and key before the checkpoint's block is skipped (review rr16 F1). Nor is
   * one read from a `fromBlock` above this discovery's, or with none recorded (logged with field `fromBlock`, review
   * rr16b D1). A restored checkpoint ahead of the chain's head (a chain reset) is dropped by the next {@link sync}
   * (rr16b D2).
   *
   * @returns True when restored, false when ignored.
   */
  restore(checkpoint: DiscoveryCheckpoint): boolean {
    const field = this.scopeMismatch(checkpoint)
    const { fromBlock } = this.deps.settings
    if (!field && (checkpoint.fromBlock === undefined || BigInt(checkpoint.fromBlock) > fromBlock)) {
      this.deps.logger.warn(
        { field: "fromBlock", checkpointFromBlock: checkpoint.fromBlock ?? null, fromBlock: Number(fromBlock), checkpointBlock: checkpoint.block },
        `discovery checkpoint not restored: its fromBlock ${checkpoint.fromBlock === undefined ? "is not recorded" : `${checkpoint.fromBlock} is above discovery.fromBlock ${fromBlock}`}; discovery reads from fromBlock ${fromBlock}`,
      )
      return false
    }
    if (field) {
      this.deps.logger.warn(
        { field, checkpoint: checkpoint.scope ?? null, ours: this.scope, checkpointBlock: checkpoint.block, fromBlock: Number(this.deps.settings.fromBlock) },
        `discovery checkpoint not restored: its ${field === "scope" ? "scope is not recorded" : `${field} differs`}; discovery reads from fromBlock ${this.deps.settings.fromBlock}`,
      )
      return false
    }
    this.confirmed = new Map(checkpoint.safes.map(([safe, r]) => [safe, { key: r.key, keyAdded: r.keyAdded ?? r.key !== undefined, paused: r.paused, subAccounts: new Set(r.subAccounts) }]))
    this.confirmedBlock = BigInt(checkpoint.block)
    this.syncedBlock = this.confirmedBlock
    this.recent = []
    this.live = clone(this.confirmed)
    return true
  }

  private async getLogs(fromBlock: bigint, toBlock: bigint, withUserOps: boolean): Promise<DecodedLog[]> {
    const { client, module, entryPoint } = this.deps
    return (await client.getLogs({
      address: withUserOps ? [module, entryPoint] : module,
      events: withUserOps ? [...ruleEvents, userOperationEvent] : ruleEvents,
      fromBlock,
      toBlock,
      strict: true,
    })) as DecodedLog[]
  }

  private apply(registry: Registry, log: DecodedLog): void {
    const rule = discoveryRules[log.eventName as ModuleEventName] as ((entry: Entry, args: unknown, keeper: Address) => void) | undefined
    const entry: Entry = (safe) => {
      const key = getAddress(safe)
      let r = registry.get(key)
      if (!r) {
        r = { key: undefined, keyAdded: false, paused: false, subAccounts: new Set() }
        registry.set(key, r)
      }
      return r
    }
    rule?.(entry, log.args, this.deps.keeper)
  }

  /**
   * Review rr16g G2: whether a re-read of `from..to` that differs from the logs held is only missing some of them (none
   * new or changed) and each missing log's block is proven to still hold it: its logs read pinned to its hash
   * (`eth_getLogs` by `blockHash`, EIP-234) include it and the block is still the chain's at its number
   * (`eth_getBlockByNumber`, a node keeps logs of blocks off the chain). A pinned read the node refuses (it lacks the
   * block: a backend behind) proves nothing either way, so the logs held stay (a Safe listed stays listed until its
   * removal is proven). A block replaced at its number is a reorg (not stale).
   *
   * @returns Whether the re-read is a stale answer to ignore, and the requests made.
   */
  private async staleAnswer(fresh: DecodedLog[], from: bigint, to: bigint): Promise<{ stale: boolean; requests: number }> {
    const id = (l: DecodedLog) => `${l.blockHash}:${l.logIndex}`
    const upTo = to < this.syncedBlock ? to : this.syncedBlock
    const known = this.recent.filter((l) => l.blockNumber >= from && l.blockNumber <= upTo)
    const knownIds = new Set(known.map(id))
    const inRange = fresh.filter((l) => l.blockNumber <= upTo)
    if (inRange.some((l) => !knownIds.has(id(l)))) return { stale: false, requests: 0 }
    const freshIds = new Set(inRange.map(id))
    const blocks = new Map<Hex, bigint>()
    for (const l of known) if (!freshIds.has(id(l))) blocks.set(l.blockHash as Hex, l.blockNumber)
    if (blocks.size === 0) return { stale: false, requests: 0 }
    let requests = 0
    for (const [blockHash, number] of blocks) {
      try {
        requests += 1
        const pinned = (await this.deps.client.getLogs({ address: this.deps.module, events: ruleEvents, blockHash, strict: true })) as DecodedLog[]
        const held = new Set(pinned.map(id))
        if (known.some((l) => l.blockHash === blockHash && !held.has(id(l)))) return { stale: false, requests }
      } catch {
        // The node lacks the block (a backend behind, or a node that drops blocks off the chain): the number decides.
      }
      try {
        requests += 1
        const block = await this.deps.client.getBlock({ blockNumber: number })
        // Another block at that number: the logs held were another fork's (a reorg, proven).
        if (block.hash !== blockHash) return { stale: false, requests }
      } catch {
        // The node lacks that number (a backend behind): no proof of a removal.
      }
    }
    return { stale: true, requests }
  }

  /** Whether the module logs just read for blocks `from..to` (`syncedBlock` by default) are the ones read before. */
  private sameAsRecent(logs: DecodedLog[], from: bigint, to: bigint = this.syncedBlock): boolean {
    const id = (l: DecodedLog) => `${l.blockHash}:${l.logIndex}`
    const fresh = logs.filter((l) => l.blockNumber <= to && l.blockNumber <= this.syncedBlock).map(id)
    const known = this.recent.filter((l) => l.blockNumber >= from && l.blockNumber <= to).map(id)
    return fresh.length === known.length && fresh.every((x, i) => x === known[i])
  }

  /** Forgets the unconfirmed logs; @returns the first block to read again. */
  private rollback(): bigint {
    this.recent = []
    this.live = clone(this.confirmed)
    this.syncedBlock = this.confirmedBlock
    return this.confirmedBlock + 1n
  }

  /** Folds the recent logs up to `block` into the confirmed registry. */
  private confirm(block: bigint): void {
    if (block <= this.confirmedBlock) return
    const upTo = block < this.syncedBlock ? block : this.syncedBlock
    let n = 0
    while (n < this.recent.length && (this.recent[n] as DecodedLog).blockNumber <= upTo) this.apply(this.confirmed, this.recent[n++] as DecodedLog)
    this.recent.splice(0, n)
    this.confirmedBlock = upTo
  }
}
