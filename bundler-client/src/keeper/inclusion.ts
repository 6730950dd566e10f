import type { Logger } from "pino"
import { type Address, type Hex, type PublicClient, isAddressEqual, isHex, parseEventLogs, zeroAddress } from "viem"
import { entryPoint07Abi } from "viem/account-abstraction"
import { decodeModuleError } from "@levpilot/sdk/errors"
import type { Clock } from "./clock.js"
import type { KeeperConfig } from "./config.js"
import { InclusionEventUnreadableError, NonceMismatchError, OperationRevertedError, OperationStalledError, findInCauseChain } from "./errors.js"
import type { KeeperEvents } from "./events.js"
import { type InclusionLookup, chainInclusionLookup } from "./inclusionLookup.js"
import { LogReadError, LogSearchIncompleteError } from "./logWindow.js"
import type { KeeperMetrics } from "./metrics.js"
import type { SafeRuntime } from "./runtime.js"
import { noteInclusion } from "./shortfall.js"
import type { PendingOperation } from "./stateFile.js"
import { type PendingStore, writePendingRecord } from "./store.js"

/**
 * Blocks between two `reverted` alerts of one run of reverted inclusions (the first of a run always alerts; runs are per
 * sub-account, continued by any reverting plan listing it: review rr11p P3); also how long a run not continued is kept.
 */
export const REVERTED_REALERT_BLOCKS = 50n

/**
 * What the chain says about the operation in flight: included (its nonce is used and its `UserOperationEvent` was read:
 * success or revert reported), unknown (its nonce is used but its event was never seen: the node refused its logs at
 * INCLUSION_LOG_READ_FAILURES steps in a row, or no event from the first send to the head; the record is cleared, the
 * outcome unreported), waiting, due for resubmission, or dropped (the record's nonce is ahead of the chain's: it can
 * never land, the keeper starts over at the chain's nonce). Included and unknown both free the nonce slot.
 */
export type InclusionVerdict = "included" | "unknown" | "waiting" | "resubmit" | "dropped"

/**
 * A revert's data as text, with the reasons nested in it decoded: the module's errors, Solidity's `Error(string)` and
 * `Panic(uint256)` (viem adds both to the ABI), e.g. `ActionFailed(0, Error(transferFrom reverted))` for a swap rescue
 * whose sale paid less than the repayment Morpho then pulled, or `ActionFailed(0, ActionFailed(2, Error(Too little
 * received)))` for a sale the router refused. Undecodable data is `unknown error 0x<selector>`; at most 4 levels.
 *
 * @param data - Revert data (`UserOperationRevertReason.revertReason`).
 * @param depth - Nesting level already decoded (0 for the caller).
 * @returns The description.
 */
export function describeRevert(data: Hex, depth = 0): string {
  const decoded = decodeModuleError(data)
  if (!decoded) return `unknown error ${data.slice(0, 10)}`
  const nested = (x: unknown) => depth < 4 && typeof x === "string" && isHex(x) && x.length >= 10 && decodeModuleError(x) !== undefined
  return `${decoded.errorName}(${decoded.args.map((x) => (nested(x) ? describeRevert(x as Hex, depth + 1) : String(x))).join(", ")})`
}

/**
 * Steps in a row at which the event search of a USED nonce may fail with `LogReadError` (the node refused `eth_getLogs`
 * even at one block, or could not be reached) before the record is cleared with one `rpc-error` alert naming the nonce
 * (`InclusionEventUnreadableError`; review rr11q Q4: a node pruning old receipts refuses those blocks for good, and the
 * record blocked the Safe forever). The earlier failures are logged, not alerted: the chain's nonce already says the slot
 * is free, only the event's success flag is missing.
 */
export const INCLUSION_LOG_READ_FAILURES = 3

/** Windows searched per `track` call for the event of a used nonce; the next call searches on from where it stopped. */
export const MAX_LOG_WINDOWS = 25

/**
 * Follows the operation in flight of each Safe on chain. The EntryPoint nonce on the keeper's key decides first (one
 * `eth_call`, whatever the age of the record): equal to the record's, the operation has not landed (waiting, resubmit
 * after `resubmitAfterBlocks`, a `stalled` alert every `stallAfterBlocks`); above it, the nonce is used and its
 * `UserOperationEvent` (matched by sender and nonce, so a replacement or an operation sent before a restart counts) is
 * searched forwards from the nonce's first send in windows of `logWindowBlocks`, at most {@link MAX_LOG_WINDOWS} per
 * step (the next step goes on where one stopped), and reported as an `included` event with its success flag; below it, the record is ahead of the chain (a reorg
 * dropped an earlier operation, or the record came from elsewhere) and is dropped with a `nonce-mismatch` alert.
 */
export class InclusionTracker {
  constructor(
    private readonly deps: {
      config: Pick<KeeperConfig, "deployment" | "resubmitAfterBlocks" | "stallAfterBlocks" | "logWindowBlocks">
      publicClient: PublicClient
      store: PendingStore
      metrics: KeeperMetrics
      logger: Logger
      events: KeeperEvents
      clock: Clock
      /** Where events and nonces come from; one `eth_getLogs` and one `getNonce` per Safe by default. */
      lookup?: InclusionLookup | undefined
    },
  ) {}

  /** Made once: its log window, halved when the node refuses one, is kept across searches. */
  private chainLookup: InclusionLookup | undefined

  private get lookup(): InclusionLookup {
    if (this.deps.lookup) return this.deps.lookup
    this.chainLookup ??= chainInclusionLookup(this.deps.publicClient, this.deps.config.deployment.entryPoint, { windowBlocks: this.deps.config.logWindowBlocks, maxWindows: MAX_LOG_WINDOWS })
    return this.chainLookup
  }

  /**
   * Checks the chain for the in-flight operation. Clears the state file's entry once included or dropped.
   *
   * @param lookup - This call's source of events and nonces (the fleet's per-block batch); the tracker's own otherwise.
   * @param options - `stallAlertOnce`: the operation cannot validate now for a reason the owner chose (automation
   *   paused, the key not valid yet; review rr16d D4): at most one `stalled` alert for the record (none if it was alerted
   *   before), not one every `stallAfterBlocks`.
   * @returns The verdict.
   */
  async track(rt: SafeRuntime, pending: PendingOperation, block: bigint, lookup: InclusionLookup = this.lookup, options: { stallAlertOnce?: boolean | undefined } = {}): Promise<InclusionVerdict> {
    const { config, metrics, logger, events } = this.deps
    const safe = rt.config.address
    const nonce = BigInt(pending.nonce)
    if (BigInt(pending.sentBlock) > block) {
      // The block it was sent at is no longer on the chain (reorg): count the waiting time from the new head.
      pending = { ...pending, sentBlock: block.toString(), firstSentBlock: block.toString(), searchFromBlock: undefined }
      await writePendingRecord(this.deps, rt, block, pending)
    }
    // The record's own nonce key (keeper address and key generation): the upper 192 bits of the nonce.
    const chainNonce = await lookup.chainNonce(safe, nonce >> 64n)
    if (chainNonce < nonce) {
      events.alert(safe, block, "nonce-mismatch", new NonceMismatchError({ safe, nonce, chainNonce }))
      await writePendingRecord(this.deps, rt, block, undefined)
      return "dropped"
    }
    if (chainNonce === nonce) {
      const first = BigInt(pending.firstSentBlock ?? pending.sentBlock)
      const age = block >= first ? block - first : 0n
      metrics.set("levpilot_inflight_age_blocks", "Blocks the operation in flight has waited at the chain's nonce.", { safe }, Number(age))
      const lastAlert = pending.stallAlertedBlock !== undefined ? BigInt(pending.stallAlertedBlock) : undefined
      const stall = BigInt(config.stallAfterBlocks)
      if (age >= stall && (lastAlert === undefined || (!options.stallAlertOnce && (lastAlert > block || block - lastAlert >= stall)))) {
        events.alert(safe, block, "stalled", new OperationStalledError({ safe, nonce, blocks: age, attempts: pending.attempts }))
        pending = { ...pending, stallAlertedBlock: block.toString() }
        await writePendingRecord(this.deps, rt, block, pending)
      }
      const waitFrom = pending.waitFromBlock !== undefined && BigInt(pending.waitFromBlock) <= block ? BigInt(pending.waitFromBlock) : BigInt(pending.sentBlock)
      if (block - waitFrom >= BigInt(config.resubmitAfterBlocks)) {
        const reason = `not included after ${block - waitFrom} blocks`
        metrics.inc("levpilot_resubmissions_total", "Operations resubmitted (dropped or underpriced).", { safe })
        logger.warn({ safe, userOpHash: pending.userOpHash, nonce: pending.nonce, attempts: pending.attempts }, `operation ${reason}; resubmitting with the same nonce`)
        events.emit({ type: "resubmit", safe, block, userOpHash: pending.userOpHash, reason })
        return "resubmit"
      }
      return "waiting"
    }
    metrics.set("levpilot_inflight_age_blocks", "Blocks the operation in flight has waited at the chain's nonce.", { safe }, 0)
    // The nonce is used: its event is searched from the nonce's FIRST send (a resend's record may be newer than the
    // operation that landed), forwards in bounded windows, going on at the next step where this one stopped. Never from
    // the step's own block only: an operation that landed before the step (or before a resend) still ends in `included`.
    const first = BigInt(pending.firstSentBlock ?? pending.sentBlock)
    const start = first < BigInt(pending.sentBlock) ? first : BigInt(pending.sentBlock)
    const from = pending.searchFromBlock !== undefined && BigInt(pending.searchFromBlock) > start ? BigInt(pending.searchFromBlock) : start
    let log: Awaited<ReturnType<InclusionLookup["findEvent"]>>
    try {
      // Not concluded before the search covered `block`, where the nonce was seen used (review rr11e L1: a lagging head).
      log = await lookup.findEvent(safe, nonce, from, block)
      rt.inclusionLogFailures = undefined
    } catch (error) {
      const incomplete = findInCauseChain(error, LogSearchIncompleteError)
      const unread = incomplete ? undefined : findInCauseChain(error, LogReadError)
      if (unread) {
        const previous = rt.inclusionLogFailures?.nonce === pending.nonce ? rt.inclusionLogFailures.count : 0
        const failures = previous + 1
        if (failures < INCLUSION_LOG_READ_FAILURES) {
          rt.inclusionLogFailures = { nonce: pending.nonce, count: failures }
          logger.warn({ safe, nonce: pending.nonce, fromBlock: Number(from), failures, error: unread.shortMessage }, "nonce used; the node refused the logs of its UserOperationEvent; reading again at the next step")
          return "waiting"
        }
        rt.inclusionLogFailures = undefined
        events.alert(safe, block, "rpc-error", new InclusionEventUnreadableError({ safe, nonce, chainNonce, failures, cause: unread }))
        await writePendingRecord(this.deps, rt, block, undefined)
        rt.triggerBlock = undefined
        // The nonce is used but its event was never read: the outcome is unknown (not `included`: nothing was seen).
        return "unknown"
      }
      if (!incomplete) throw error
      rt.inclusionLogFailures = undefined
      logger.info({ safe, nonce: pending.nonce, fromBlock: Number(from), searchedTo: Number(incomplete.searchedTo), head: Number(incomplete.head) }, "nonce used; its UserOperationEvent is not in the blocks searched so far; searching on at the next step")
      await writePendingRecord(this.deps, rt, block, { ...pending, searchFromBlock: (incomplete.searchedTo + 1n).toString() })
      return "waiting"
    }
    if (!log) {
      // Searched from the first send to the head: the event is older than the record (a reorg moved the record's
      // blocks to the new head). The outcome is unknown; cleared with a warning.
      logger.warn({ safe, nonce: pending.nonce, fromBlock: Number(from) }, "nonce used; no UserOperationEvent at it from the record's first send to the head; clearing without an included event")
      await writePendingRecord(this.deps, rt, block, undefined)
      rt.triggerBlock = undefined
      return "unknown"
    }
    const { clock } = this.deps
    const args = log.args
    const included = log.blockNumber ?? block
    const triggerBlock = rt.triggerBlock ?? BigInt(pending.triggerBlock)
    const latencyBlocks = Number(included - triggerBlock)
    const latencyMs = clock.now() - (rt.triggerBlock !== undefined ? rt.triggerAt : pending.triggerAt)
    const success = args.success === true
    const paymaster = args.paymaster && !isAddressEqual(args.paymaster, zeroAddress) ? args.paymaster : undefined
    const known = pending.userOpHash !== undefined && args.userOpHash === pending.userOpHash
    metrics.inc("levpilot_rebalances_total", "Keeper operations included, by outcome.", { safe, result: success ? "success" : "reverted" })
    if (success) {
      metrics.observe("levpilot_reaction_latency_blocks", "Blocks from the first out-of-band observation to inclusion.", latencyBlocks)
      metrics.observe("levpilot_reaction_latency_ms", "Milliseconds from the first out-of-band observation to inclusion seen.", latencyMs)
    }
    const revert = success ? undefined : await this.revertReason(log.transactionHash, args.userOpHash as Hex)
    logger[success ? "info" : "warn"](
      { safe, userOpHash: args.userOpHash, block: Number(included), success, gasUsed: String(args.actualGasUsed), paymaster, latencyBlocks, latencyMs, known, ...(revert ? { revert } : {}) },
      success ? "rebalance included" : `rebalance included but reverted${revert ? `: ${revert.error}` : ""}`,
    )
    // A reverted inclusion alerts `reverted` (the first of a run, then once per REVERTED_REALERT_BLOCKS; review rr11n N4).
    // Runs are kept per sub-account of the plan (`*` for a record without them): a revert continues the run of each of
    // its ids, and alerts only when none of them was alerted within REVERTED_REALERT_BLOCKS (an id new to the runs takes
    // over the plan's latest alert), so a reverting plan whose membership changes (one more sub-account due each block
    // in a crash) is one run (review rr11p P3: keyed by the exact membership, it alerted every block). A success ends the
    // runs of its sub-accounts (all of them when unknown), not another plan's (review rr11o O3). Runs not continued within
    // REVERTED_REALERT_BLOCKS are pruned (review rr11p P3: kept for the process's life).
    const ids = pending.subAccounts
    const keys = ids === undefined || ids.length === 0 ? ["*"] : ids.map((id) => id.toLowerCase())
    const runs = (rt.reverted ??= new Map<string, { count: number; alerted: bigint; last: bigint }>())
    for (const [key, run] of [...runs]) if (run.last > included || included - run.last >= REVERTED_REALERT_BLOCKS) runs.delete(key)
    if (success) {
      for (const key of [...runs.keys()]) if (ids === undefined || key === "*" || keys.includes(key)) runs.delete(key)
    } else {
      const own = keys.map((key) => runs.get(key))
      const count = Math.max(0, ...own.map((run) => run?.count ?? 0)) + 1
      const recent = own.reduce<bigint | undefined>((latest, run) => (run === undefined || run.alerted > included || (latest !== undefined && latest >= run.alerted) ? latest : run.alerted), undefined)
      const alert = recent === undefined || included - recent >= REVERTED_REALERT_BLOCKS
      for (const key of keys) runs.set(key, { count, alerted: alert ? included : (recent as bigint), last: included })
      if (alert) events.alert(safe, included, "reverted", new OperationRevertedError({ safe, nonce, block: included, count, revert: revert?.error }))
    }
    // A swap rescue reverted short of its repayment: its sub-account's next plan is sized for the delay it took (rr13 F6).
    noteInclusion(rt, success, included, revert?.data, pending, args.userOpHash as Hex | undefined)
    await writePendingRecord(this.deps, rt, block, undefined)
    rt.triggerBlock = undefined
    rt.failures = 0
    events.emit({
      type: "included",
      safe,
      block: included,
      userOpHash: args.userOpHash as Hex,
      success,
      actualGasUsed: args.actualGasUsed ?? 0n,
      actualGasCost: args.actualGasCost ?? 0n,
      paymaster,
      latencyBlocks,
      latencyMs,
      known,
      ...(revert ? { revert: revert.error } : {}),
    })
    return "included"
  }

  /**
   * Why an included operation reverted: the EntryPoint's `UserOperationRevertReason` in the same transaction, decoded
   * into the module's error when it is one. No event (and no data) usually means the call ran out of gas.
   */
  private async revertReason(transactionHash: Hex | null, userOpHash: Hex): Promise<{ error: string; data: Hex } | undefined> {
    if (!transactionHash) return undefined
    try {
      const receipt = await this.deps.publicClient.getTransactionReceipt({ hash: transactionHash })
      const [event] = parseEventLogs({ abi: entryPoint07Abi, eventName: "UserOperationRevertReason", logs: receipt.logs }).filter(
        (l) => l.args.userOpHash === userOpHash,
      )
      const data = (event?.args.revertReason ?? "0x") as Hex
      if (data === "0x") return { error: "no revert data (out of gas?)", data }
      return { error: describeRevert(data), data }
    } catch {
      return undefined
    }
  }
}
