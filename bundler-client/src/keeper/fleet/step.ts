import type { Logger } from "pino"
import { type Address, type Hex, type LocalAccount, getAddress, isAddressEqual } from "viem"
import type { SafeState } from "@levpilot/sdk/actions"
import type { Clock } from "../clock.js"
import type { KeeperClients } from "../clients.js"
import type { KeeperConfig, KeeperSafeConfig } from "../config.js"
import { type BlockNotCanonicalError, KeyRevokedInFlightError, storeHaltOf } from "../errors.js"
import type { KeeperEvents } from "../events.js"
import { InclusionTracker, MAX_LOG_WINDOWS } from "../inclusion.js"
import { type InclusionLookup, type UserOperationEventLog, chainInclusionLookup } from "../inclusionLookup.js"
import type { KeeperMetrics } from "../metrics.js"
import { type DegradedRead, portfolioOf, readAaveLimitsBounded, readBorrowableBounded, readPoolTotals, readStopLosses } from "../portfolio.js"
import { type SafeRuntime, newSafeRuntime } from "../runtime.js"
import { SafeStep, keeperCosts } from "../safeStep.js"
import { sharedBlockReads } from "./blockReads.js"
import { type AdaptiveLimiter, adaptiveLimiter } from "./limit.js"
import { RebalanceSender } from "../sender.js"
import { VolatilityFeed } from "../volatilityFeed.js"
import { notAuthorized } from "./scan.js"
import { writePendingRecord } from "../store.js"
import type { StateSnapshots } from "../stateFile.js"
import { type FleetStore, applySharedRuntime, dryRunFleetStore, sharedRuntimeOf } from "./store.js"
import { mayAct } from "../rescueDue.js"

const SEND_SLOTS_HELP = "This worker's send slots: fleet.sendConcurrency, halved when the bundler or paymaster does not answer in time, grown back by one per window of accepted sends."

/**
 * One Safe's work for one block: what the batched read found, and the block's `UserOperationEvent`s of this Safe.
 * `hash`: the block's hash from the head poll (the batched read was pinned to it); the step's reads at `block` are
 * pinned to it too ({@link sharedBlockReads}). Undefined (a job queued by a version that did not carry it): the step's
 * reads are by number and not shared.
 */
export type StepItem = { safe: Address; block: bigint; hash?: Hex | undefined; timestamp: bigint; state: SafeState; userOps: UserOperationEventLog[] }

/**
 * What a step did. `reorged`: its block was no longer on the node's chain; nothing was solved, and an operation in
 * flight was not tracked on the block's data (see {@link FleetStep.run}).
 */
export type StepOutcome = "done" | "busy" | "tracked-only" | "superseded" | "reorged" | "store-halted"

/**
 * The inclusion lookup of one step from the block's batch: the Safe's keeper-lane nonce from the lens and its
 * `UserOperationEvent`s from the block's logs. When the event is not in the block's logs (it landed in an earlier
 * block: between a first send and a resend, or while the fleet ran behind the head), the Safe's log history is read by
 * `fallback` from the record's first send (`fromBlock`), in bounded windows. The block's logs never decide that there
 * is no event (issue 16: an operation that landed a block before the step must still end in an `included` event).
 *
 * @returns The {@link InclusionLookup}.
 */
export function batchInclusionLookup(item: StepItem, fallback: InclusionLookup): InclusionLookup {
  const { state } = item
  if (state.error) return fallback
  return {
    async findEvent(safe, nonce, fromBlock, atLeast) {
      const hit = item.userOps.find((l) => l.args.sender !== undefined && isAddressEqual(l.args.sender, safe) && l.args.nonce === nonce)
      if (hit) return hit
      return fallback.findEvent(safe, nonce, fromBlock, atLeast)
    },
    // The lens reads the nonce on the key of the Safe's current generation; an operation of an older one asks the chain.
    chainNonce: async (safe, nonceKey) => (state.keeperNonce >> 64n === nonceKey ? state.keeperNonce : fallback.chainNonce(safe, nonceKey)),
  }
}

/**
 * Runs one {@link StepItem} under the Safe's lease: loads the runtime the last worker left, builds the solver's
 * snapshot from the batched read, and runs the keeper's {@link SafeStep} (track the operation in flight, else solve
 * and send). When the chain says the key is revoked, expired or not yet valid, or automation is paused, an operation
 * in flight is still tracked to its end but nothing is sent or resubmitted.
 */
export class FleetStep {
  private readonly step: SafeStep
  private readonly tracker: InclusionTracker
  private readonly runtimes = new Map<Address, SafeRuntime>()
  private readonly overrides: Map<Address, KeeperSafeConfig>
  /**
   * The steps' reads at their block (Aave limits, Morpho liquidity, pool totals and fees, the oracle check), shared by the steps of this
   * process at the same block: after a price shock every out-of-band Safe of a market read the same market, one
   * `eth_call` each, before it could be solved (see {@link sharedBlockReads}). Pinned to the block's hash (review rr16c
   * S1); the fleet's batched lens reads (scan) use it too, so a step's snapshot and reads are of one block.
   */
  readonly blockReads
  /** The chain's event search, made once: its log window, halved when the node refuses one, is kept. */
  private chainLookup: InclusionLookup | undefined

  constructor(
    private readonly deps: {
      config: KeeperConfig
      clients: KeeperClients
      store: FleetStore
      keeper: LocalAccount
      metrics: KeeperMetrics
      logger: Logger
      events: KeeperEvents
      clock: Clock
      dryRun: boolean
      /**
       * The fleet's latest head (the queue's shared head, the embedded keeper's last pass), undefined when unknown: a
       * newer-step record ahead of it is not from this chain's history (a devnet reset on the same Redis prefix) and
       * supersedes nothing.
       */
      head?: (() => Promise<bigint | undefined>) | undefined
      /** The keeper's state-file runs (a refused lock: `state-file-locked`, see `SafeStep`); the step's own when omitted. */
      snapshots?: Pick<StateSnapshots, "lockRefused"> | undefined
    },
  ) {
    // A dry run never writes in-flight records to the store (review rr16b P1: the embedded store rewrites the
    // production state file): its writes stay in this process's memory.
    if (deps.dryRun) {
      deps = { ...deps, store: dryRunFleetStore(deps.store) }
      this.deps = deps
    }
    const { logger, metrics } = deps
    this.blockReads = sharedBlockReads(deps.clients.publicClient)
    this.tracker = new InclusionTracker({ ...deps, publicClient: deps.clients.publicClient })
    // Sends are bounded on their own (`fleet.sendConcurrency`): a step gives its slot back once its Safe is checked.
    // A send may then wait for its slot behind a slow bundler for blocks (its Safe's lease held, every later step of
    // the Safe "busy"): a plan that a newer step of the same Safe superseded meanwhile (a newer read found the Safe due
    // again) is dropped here, and that Safe is planned again on a fresh read. A plan that is merely late (the head moved
    // on, the fleet behind it, no newer step of the Safe queued) is sent: the module and the bundler's simulation check
    // it against the chain as it is then, and dropping it would leave an overloaded fleet sending nothing at all.
    // The slots follow what the bundler and paymaster keep up with (adaptiveLimiter): bench:fleet 1,000 x 4 had 72-83
    // requests outstanding at Alto at the shock (4 workers x 32 sends) and its estimations timed out
    // (`bundler-unavailable`). A send the services did not answer in time halves this worker's slots (once per
    // congestion), each window of accepted sends gives one back, up to `fleet.sendConcurrency`.
    const sender = new RebalanceSender(deps)
    this.sendSlots = adaptiveLimiter(deps.config.fleet.sendConcurrency)
    const slots = this.sendSlots
    const send = sender.send.bind(sender)
    sender.send = (rt, block, ...rest) =>
      slots.run(async () => {
        // Stopping: a send not started yet is not started (nothing of it is stored; the lease is released and the
        // next holder plans the Safe afresh). The one holding the slot finishes.
        if (this.stopping) {
          logger.info({ safe: rt.config.address, block: Number(block) }, "keeper stopping; queued send not started")
          return
        }
        const newer = await this.newerStep(rt.config.address, block)
        if (newer !== undefined) {
          metrics.inc("levpilot_fleet_sends_superseded_total", "Plans not sent because a newer step of the same Safe was queued while they waited for a send slot (planned again on that fresher read).", {})
          logger.info({ safe: rt.config.address, block: Number(block), newer: Number(newer) }, "plan superseded by a newer step of the Safe while waiting for a send slot; not sent, planned again on a fresh read")
          return
        }
        const epoch = slots.epoch()
        const outcome = await send(rt, block, ...rest)
        if (outcome === "overloaded") {
          slots.overloaded(epoch)
          metrics.set("levpilot_fleet_send_slots", SEND_SLOTS_HELP, {}, slots.limit())
        } else if (outcome === "sent") {
          slots.succeeded()
          metrics.set("levpilot_fleet_send_slots", SEND_SLOTS_HELP, {}, slots.limit())
        }
        return outcome
      })
    // The step's reads before it solves (the oracle check's feeds and decimals) are pinned and shared too (`run` passes
    // them with the snapshot); its other reads are at `latest` and go to the node as before.
    this.step = new SafeStep({ ...deps, tracker: this.tracker, sender, volatility: new VolatilityFeed({ logger, metrics }) })
    this.overrides = new Map(deps.config.safes.map((s) => [getAddress(s.address), s]))
  }

  private stopping = false
  /** This worker's send slots (see the constructor). */
  readonly sendSlots: AdaptiveLimiter

  /**
   * The late-plan rule: an item of `block` is superseded only by a newer step of the same Safe (queued or done,
   * {@link FleetStore.markSteps}), never by the head's age alone.
   *
   * @returns The newer step's block, or undefined when none supersedes `block`.
   */
  private async newerStep(safe: Address, block: bigint): Promise<bigint | undefined> {
    const newest = await this.deps.store.newestStep(safe).catch(() => undefined)
    if (newest === undefined || newest <= block) return undefined
    const head = await this.deps.head?.().catch(() => undefined)
    return head !== undefined && newest > head ? undefined : newest
  }

  /** Starts no more sends (those waiting for a send slot are dropped); steps and sends under way go on. */
  stop(): void {
    this.stopping = true
  }

  /** Sends again after {@link stop} (a keeper started again). */
  resume(): void {
    this.stopping = false
  }

  /** This process's runtime of a Safe (configured risk settings, or the defaults for a discovered Safe). */
  runtime(safe: Address): SafeRuntime {
    const address = getAddress(safe)
    let rt = this.runtimes.get(address)
    if (!rt) {
      rt = newSafeRuntime(this.overrides.get(address) ?? { address, risk: this.deps.config.risk })
      this.runtimes.set(address, rt)
    }
    return rt
  }

  /** A step whose block was lost to a reorg: nothing decided from it; the Safe is read again at the next head. */
  private reorged(safe: Address, item: StepItem, lost: BlockNotCanonicalError): "reorged" {
    this.deps.logger.warn({ safe, block: Number(item.block), hash: item.hash, canonical: lost.canonical }, "step skipped: its block is no longer on the node's chain (reorg); the Safe is read again at the next head")
    this.deps.metrics.inc("levpilot_fleet_steps_reorged_total", "Safe steps not solved because their block was lost to a reorg (read again at the next head).")
    return "reorged"
  }

  /**
   * A step ended by the store's failure ({@link storeHaltOf}: Redis could not take the lease, read or write the Safe's
   * records, or the state file is held by another keeper): reported as the SafeStep reports its own
   * (`SafeStep.reportStoreHalt`: a warn line, one alert per run of failures), no plan blamed, nothing sent.
   *
   * @returns `store-halted`.
   * @throws `error` as it is when it is not the store's failure.
   */
  private halted(safe: Address, item: StepItem, error: unknown): "store-halted" {
    const halt = storeHaltOf(error)
    if (!halt) throw error
    this.step.reportStoreHalt(this.runtime(safe), item.block, halt)
    return "store-halted"
  }

  /**
   * Runs the step unless another step holds the Safe or a newer step of the Safe was queued (the late-plan rule: a
   * step however old is run while it is the Safe's newest; see {@link newerStep}).
   *
   * @returns `busy` when the Safe was held elsewhere, `superseded` when a newer step of it exists, `tracked-only` when
   *   the keeper may not act for it now, `store-halted` when the store could not take its lease, read or write its
   *   records (reported by `SafeStep.reportStoreHalt`; nothing sent).
   */
  async run(item: StepItem): Promise<StepOutcome> {
    const { store, config, logger, clients, metrics } = this.deps
    const safe = getAddress(item.safe)
    if ((await this.newerStep(safe, item.block)) !== undefined) {
      metrics.inc("levpilot_fleet_steps_superseded_total", "Safe steps not run because a newer step of the same Safe was queued.")
      return "superseded"
    }
    // Taken before the try: its `finally` releases the lease, which a busy Safe's step must leave to the step holding it.
    let acquired: boolean
    try {
      acquired = await store.acquire(safe)
    } catch (error) {
      // Redis could not run the lease's SET (`StoreUnavailableError`): no lease held, nothing read or sent.
      return this.halted(safe, item, error)
    }
    if (!acquired) return "busy"
    try {
      const rt = this.runtime(safe)
      const shared = await store.loadRuntime(safe)
      if (shared) applySharedRuntime(rt, shared)
      // f16j: the shared runtime as loaded (encoded as it is saved); saved at the end only when the step changed it, or
      // when the store holds none yet (a paused Safe tracked every block wrote its whole runtime every block and worker).
      const loaded = shared ? JSON.stringify(sharedRuntimeOf(rt)) : undefined
      const save = async () => {
        const next = sharedRuntimeOf(rt)
        if (loaded !== undefined && JSON.stringify(next) === loaded) return
        await store.saveRuntime(safe, next).catch((error) => logger.debug({ safe, err: String(error) }, "runtime not saved"))
      }
      this.chainLookup ??= chainInclusionLookup(clients.publicClient, config.deployment.entryPoint, { windowBlocks: config.logWindowBlocks, maxWindows: MAX_LOG_WINDOWS })
      const lookup = batchInclusionLookup(item, this.chainLookup)
      const { state } = item
      // The step's reads at its block, pinned to the block's hash (review rr16c S1): a block lost to a reorg is refused
      // by the node, never answered from another fork's state or from answers kept for another block of that number.
      const reads = this.blockReads.at({ number: item.block, hash: item.hash })
      // An operation in flight is tracked (and a revoked key's record dropped) on the job's data alone: the lens's
      // nonce and key, the block's UserOperationEvents. Trusted only once the block is proven still on the node's chain
      // (review rr16d D1: a lost block's inclusion was reported `included`, its revoke alerted `key-revoked`): one shared
      // block check per block and process. A node without the block yet throws (BlockNotImportedError): tracked next block.
      if (item.hash !== undefined && (await store.pending(safe))) {
        const lost = await reads.canonical()
        if (lost) return this.reorged(safe, item, lost)
      }
      // A Safe read failed as a whole (module, EntryPoint); one sub-account's adapter reverting is not a Safe error:
      // its other sub-accounts are managed, the broken one alerted (`feed-broken`) and exposed in metrics by the step.
      const why = state.error ? "unreadable" : notAuthorized(state, item.timestamp)
      if (state.error || why) {
        const pending = await store.pending(safe)
        // Revoked or expired with the operation's nonce unused: it can never validate; one alert, the record dropped
        // (rr16 F5; an expired key, rr16b E1, takes the same path: its validity window is final for that operation).
        // So is an operation of a key registered again since (paused, or the new registration not valid yet: review
        // rr16d D4): every registration has a fresh salt in the nonce key, the lens reads the current key's nonce.
        const nonceKey = pending ? BigInt(pending.nonce) >> 64n : undefined
        const replaced = !state.error && nonceKey !== undefined && state.keeperNonce >> 64n !== nonceKey
        if (pending && nonceKey !== undefined && (why === "key revoked" || why === "key expired" || replaced) && (await lookup.chainNonce(safe, nonceKey)) === BigInt(pending.nonce)) {
          await writePendingRecord({ store, events: this.deps.events, logger: this.deps.logger }, rt, item.block, undefined)
          this.deps.events.alert(safe, item.block, "key-revoked", new KeyRevokedInFlightError({ safe, nonce: BigInt(pending.nonce), block: item.block, reason: why === "key expired" ? "expired" : "revoked" }))
          return "tracked-only"
        }
        if (pending) {
          // Paused, or the key not valid yet (review rr16d D4): the owner's choice, and it may end (an unpause resubmits at
          // the same nonce), so the record is kept and tracked (the chain ends it: inclusion, or another nonce), but the
          // owner gets at most one `stalled` alert for it, not one every stallAfterBlocks for the whole pause.
          const stallAlertOnce = why === "paused" || why === "key not yet valid"
          const verdict = await this.tracker.track(rt, pending, item.block, lookup, { stallAlertOnce })
          if (verdict === "resubmit") logger.warn({ safe, nonce: pending.nonce, why }, "operation in flight not resubmitted: the keeper may not act for this Safe now")
          // What the tracking alerted (a reverted run, log-read failures) follows the Safe to the next worker (rr16d D3).
          await save()
        }
        return "tracked-only"
      }
      // Aave sub-accounts' reserve limits and repayable debt, read only when a plan may follow (a sub-account out of
      // band; the module refuses any other plan), so a calm fleet costs no more reads; unknown if the read fails.
      const planMayFollow = state.subAccounts.some(mayAct)
      // A block the node no longer serves (a step in a backlog): bound at `latest`, or no Aave borrow, recorded degraded
      // (`aave-limits`, review rr11g G2; it was swallowed, and a donor borrowed past the reserve).
      const degraded: DegradedRead[] = []
      const aaveLimits = planMayFollow ? await readAaveLimitsBounded(reads, config.deployment, state.subAccounts, safe, item.block, degraded, { dustThresholdBase: config.aaveDustThresholdBase }) : undefined
      // Morpho markets' free liquidity (the lens does not read it; at the lens's block): a borrow sized past it reverts in every block.
      // A block the node no longer serves (a step in a backlog): bound at `latest`, or no borrow, recorded degraded (rr11f F4).
      const borrowable = planMayFollow ? await readBorrowableBounded(reads, config.deployment, state.subAccounts, item.block, degraded) : undefined
      // The pools' totals at the lens's block, for the send clamp's rule-book judge (review rr11e E1); unknown if the read fails.
      const poolTotals = planMayFollow && state.pools.length > 0 ? await readPoolTotals(reads, config.deployment, state.pools, item.block).catch(() => undefined) : undefined
      // The owner's stops at the lens's block (review rr13s S3: the lens carries none; while one holds the module refuses
      // every boost): applied to the solver, the bounds and the judge as on the single-Safe path; unknown if the read fails.
      const stops = planMayFollow ? await readStopLosses(reads, config.deployment, safe, state.subAccounts, item.block).catch(() => undefined) : undefined
      // The bounded reads fall back to `latest` when the pinned read fails: not for a lost block (that would solve the old
      // fork's lens snapshot on the new fork's reads). Skipped; the Safe is read again at the next head.
      const lost = reads.lost()
      if (lost) return this.reorged(safe, item, lost)
      const snapshot = portfolioOf(state, { blockNumber: item.block, timestamp: item.timestamp, risk: rt.config.risk, costs: keeperCosts(config), aaveLimits, borrowable, poolTotals, stops, degraded, aaveAdapter: config.deployment.adapters.aaveV3 })
      await this.step.run(rt, item.block, { snapshot, lookup, reads })
      await save()
      return "done"
    } catch (error) {
      // The store could not read or write the Safe's records outside the SafeStep (the shared runtime or the in-flight
      // record read at the start, a paused or revoked Safe's record written while tracking it: the fleet's Redis
      // unreachable) or refused them (the embedded fleet's state file held by another keeper): nothing was sent. Reported
      // as the SafeStep reports its own (`state-store-unavailable` on the Safe / `state-file-locked` on the keeper, once
      // per run), not logged as a failed step.
      return this.halted(safe, item, error)
    } finally {
      // Redis unreachable: the lease is not deleted, and expires after `leaseMs` (the store stopped renewing it).
      await store.release(safe).catch((error) => logger.warn({ safe, err: String(error) }, "the Safe's lease was not released; it expires after its lease time"))
    }
  }
}
