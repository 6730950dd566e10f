import type { Logger } from "pino"
import { type Address, BaseError, type Hex } from "viem"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import type { SolverResult } from "../solver/types.js"
import type { KeeperMetrics } from "./metrics.js"
import type { PortfolioSnapshot } from "./portfolio.js"

/** What the keeper did, for the live table, tests and benchmarks (the logs carry the same). */
export type KeeperEvent =
  | { type: "observed"; safe: Address; block: bigint; snapshot: PortfolioSnapshot; result: SolverResult | undefined }
  | { type: "plan"; safe: Address; block: bigint; plan: ChainPlan; dryRun: boolean }
  | { type: "sent"; safe: Address; block: bigint; userOpHash: Hex; nonce: bigint; sponsored: boolean; attempt: number; plan: ChainPlan }
  | {
      type: "included"
      safe: Address
      block: bigint
      userOpHash: Hex
      success: boolean
      actualGasUsed: bigint
      actualGasCost: bigint
      paymaster: Address | undefined
      latencyBlocks: number
      latencyMs: number
      /** Whether this keeper sent the included operation (false: an earlier instance's or unknown hash). */
      known: boolean
      /** Why a reverted operation reverted (the module's error, decoded), when known. */
      revert?: string | undefined
    }
  | { type: "resubmit"; safe: Address; block: bigint; userOpHash: Hex | undefined; reason: string }
  /**
   * The bundler answered a send with "this sender and nonce is already being processed" (AA25) or the answer was
   * unusable after the request reached it: the operation may be in flight, so the keeper keeps tracking its nonce.
   * `nonce-used`: a resend answered AA25 while the chain's nonce is already past it (the operation landed; issue 16):
   * no alert, the record kept, and the tracker emits `included` for it at the next step.
   */
  | { type: "tracking"; safe: Address; block: bigint; nonce: bigint; reason: "already-in-flight" | "ambiguous-answer" | "nonce-used"; message: string }
  /**
   * Nothing was sent this block, by design, and the plan is made again on a later block: `self-pay-epoch-ending`, a
   * self-paid operation in the last seconds of the Safe's self-pay epoch (`retryAt`: the next epoch's start, unix s).
   */
  | { type: "deferred"; safe: Address; block: bigint; reason: "self-pay-epoch-ending"; retryAt: number; message: string }
  /**
   * A sub-account is below its band and no plan can rescue it (the solver's funds, swap lane and caps reach no landing
   * zone; e.g. its Aave debt reserve has no free liquidity to flash, or flash loans are disabled there): nothing is sent
   * for it, so no operation that cannot land is retried. Emitted once when it becomes so (again after it was rescued or
   * left the band); `binding` names what binds ({@link RescueBinding}), `reason` is the solver's. The gauge
   * `levpilot_rescue_infeasible{safe, sub_account, venue}` is 1 while it lasts.
   */
  | { type: "no-rescue"; safe: Address; block: bigint; subAccount: Hex; venue: string; binding: RescueBinding; reason: string }
  /** The chain head moved back (reorg); the keeper continues from the new head. */
  | { type: "reorg"; from: bigint; to: bigint }
  /** `reason`: what the failing part said (the paymaster's refusal reason, the bundler's or node's error text), when known. */
  | { type: "alert"; safe: Address; block: bigint; kind: AlertKind; message: string; reason?: string | undefined }
  /**
   * Fleet mode: every Safe of a block was checked (read, and solved when its state or prices changed) `ms` after the
   * head was seen; `requests` JSON-RPC requests for the block's discovery and reads (sends not included).
   */
  | { type: "scanned"; block: bigint; safes: number; steps: number; requests: number; ms: number }

/**
 * - `paymaster-refused`: the paymaster answered with a refusal; `paymaster-unavailable`: it did not answer (timeout, 5xx, down).
 * - `gas-cap-below-market`: the bundler's fees exceed the Safe's `maxFeePerGas` / `maxPriorityFeePerGas` caps.
 *   Once per operation (nonce), not at every resend of it while a spike lasts.
 * - `replacement-blocked`: a resend of the operation in flight cannot clear the bundler's same-nonce replacement rule
 *   (both fees +10%) within the Safe's caps (`ReplacementBlockedByCapsError`); once per operation.
 * - `nonce-mismatch`: the bundler refused a nonce that is not the chain's, or the record was ahead of the chain.
 * - `stalled`: the operation in flight has not landed within `stallAfterBlocks` while the chain's nonce stayed put.
 * - `read-failed`: a fleet read of a Safe failed (fleet mode).
 * - `feed-broken`: a sub-account's state cannot be read (its oracle or venue reverts), or its oracle fails one of the
 *   module's oracle checks (OracleStale, OraclePriceZero, ...; the message names it); the others are managed.
 * - `nothing-to-send`: the solver's plan keeps nothing material once clamped to the chain's bounds (the message names the
 *   binding bound: a market's free liquidity, a pool's `maxWithdraw`, ...); nothing is sent.
 * - `venue-refused`: a venue refused a sub-account's read or a plan's action (`VenueRefusedError` of the SDK: an Aave
 *   adapter error such as `EModeMismatch` or `ReservePaused`, a flash-router error such as `FlashLiquidityShort`, an Aave
 *   pool code such as "29" RESERVE_PAUSED); the message names the sub-account and the venue's error. A plan over several
 *   sub-accounts refused because of one of them is planned again without it in the same block.
 * - `aave-dust-collateral`: the Safe's Aave account uses as collateral reserves outside its sub-accounts' collateral
 *   assets, each worth less than `aaveDustThresholdBase` (anyone can send 1 wei of an aToken); every operation pays
 *   about `AAVE_DUST_GAS_PER_RESERVE` gas per reserve until the owner switches them off (`AaveDustCollateralError` names
 *   them; the SDK's `buildAaveDustCollateralDisable` builds the fix). Raised once per change of the set, not every block.
 * - `discovery-stalled` (fleet-wide; `safe` is the module's address): the Safe discovery's `eth_getLogs` failed at
 *   {@link DISCOVERY_ALERT_AFTER_HEADS} heads in a row (rate limit, connection reset), or the node refused a range even
 *   at one block; the known Safes and those with an operation in flight are still read at every head, but a Safe that
 *   registers meanwhile is not served until discovery advances. Once per outage (logged again when it ends).
 * - `key-revoked`: the Safe's owner revoked this keeper's key while an operation of it was in flight and unused (its
 *   nonce is still the chain's): it can never validate, so the keeper stops tracking it (the record is dropped, the
 *   Safe leaves the read set). Once per record.
 * - `reverted`: the Safe's operation was included but reverted on chain (`OperationRevertedError`: the nonce, the block,
 *   the decoded reason, the count in a row); the first of a run of reverted inclusions, then at most once per
 *   `REVERTED_REALERT_BLOCKS` (review rr11n N4).
 * - `rescue-infeasible`: a sub-account is below its band and no plan can rescue it (`RescueInfeasibleError`: the
 *   binding reason, e.g. `policyCap` for an epoch cap spent, the solver's numbers, health and minHealth); nothing is sent
 *   for it. Once per run (again when the binding changes), with the `no-rescue` event (review rr11r R3: event only).
 * - `state-write-failed`: the state file could not be written (ENOSPC, EROFS, EACCES...): a Safe's in-flight record or
 *   alone table (the Safe goes on being managed; once per run of the Safe's failing writes, both records in one run:
 *   `stateWriteFailed`), or the per-block snapshot (keeper-wide; `safe` is the module's address; once per run of
 *   failed snapshots; nothing is lost, the journal keeps every change: `StateSnapshots`).
 * - `state-store-unavailable`: the store of the in-flight record could not be written for another reason than a full
 *   local disk or a lost lease (`StoreUnavailableError`: the fleet's Redis unreachable, failing over, OOM / READONLY):
 *   whether the worker still holds the Safe's lease is unknown, so nothing is sent; not the plan's failure (no
 *   sub-account blamed, no backoff); tried again at the next block. Once per run per Safe (again after a write succeeds).
 * - `state-file-locked` (keeper-wide; `safe` is the module's address): another keeper holds the state file's lock
 *   (`StateFileLockedError`, review rr11zf F3: it was reported as `state-store-unavailable`, blaming Redis), met by a
 *   Safe's write (the in-flight record, the alone table) or by the per-block snapshot. Nothing is written and nothing
 *   sent while it lasts (the message names the state file, the lock, its holder, and what to do: stop the other keeper,
 *   or delete the lock if no keeper uses the file); not the plan's failure (no sub-account blamed, no backoff); the
 *   keeper goes on reading and tracking. Once per run per keeper, ended by the first snapshot written after it
 *   (`StateSnapshots`).
 * - `state-file-unreadable` (at start; `safe` is the module's address, block 0): the state file's snapshot exists but
 *   cannot be read (cut to nothing by a power loss, edited by hand, EACCES): the keeper read `<stateFile>.prev` and the
 *   journal after it instead (nothing lost), or nothing when there is none (the message says which); the unreadable
 *   file is kept aside as `<stateFile>.unreadable.<ms>` (review rr11zd D4).
 */
export type AlertKind =
  | "bundler-unavailable"
  | "paymaster-refused"
  | "paymaster-unavailable"
  | "send-failed"
  | "rpc-error"
  | "read-failed"
  | "gas-cap-below-market"
  | "replacement-blocked"
  | "nonce-mismatch"
  | "stalled"
  | "feed-broken"
  | "nothing-to-send"
  | "venue-refused"
  | "aave-dust-collateral"
  | "discovery-stalled"
  | "key-revoked"
  | "reverted"
  | "rescue-infeasible"
  | "state-write-failed"
  | "state-store-unavailable"
  | "state-file-locked"
  | "state-file-unreadable"

export const alertKinds: readonly AlertKind[] = [
  "bundler-unavailable",
  "paymaster-refused",
  "paymaster-unavailable",
  "send-failed",
  "rpc-error",
  "read-failed",
  "gas-cap-below-market",
  "replacement-blocked",
  "nonce-mismatch",
  "stalled",
  "feed-broken",
  "nothing-to-send",
  "venue-refused",
  "aave-dust-collateral",
  "discovery-stalled",
  "key-revoked",
  "reverted",
  "rescue-infeasible",
  "state-write-failed",
  "state-store-unavailable",
  "state-file-locked",
  "state-file-unreadable",
]

/** Consecutive heads whose discovery read failed (unreachable node) before a `discovery-stalled` alert. */
export const DISCOVERY_ALERT_AFTER_HEADS = 3

/**
 * What leaves a below-band sub-account without a rescue (from the solver's reason): `flashLiquidity` (the reserve's free
 * liquidity, `flashable`, 0 when paused, inactive or flash loans are disabled, is too small for the flash a rescue
 * needs), `lossLimit` (maxLossBps / the epoch loss budget), `slippage` (no swap within maxSlippageBps), `caps` (amount
 * caps, rebalance count, cooldown: a module rule refuses it), `funds` (idle funds, pools and donors reach too little),
 * `policyCap` (the sub-account's own policy blocks every rebalance now, before any plan: cooling down, or its epoch's
 * rebalance / gas / amount cap reached, which the module refuses as `CooldownActive` / `EpochRebalanceCapExceeded` /
 * `EpochGasCapExceeded` / `EpochAmountCapExceeded`; the owners can raise the cap with `setPolicy` or add collateral;
 * review rr11p P4: it was silent).
 */
export type RescueBinding = "flashLiquidity" | "lossLimit" | "slippage" | "caps" | "funds" | "policyCap"

/**
 * A solver outcome's reason for a below-band sub-account its policy blocks up front (`assessSubAccount`'s `blocked`:
 * "below band (...) but cooling down (...)" / "but epoch rebalance cap N reached" / "but epoch gas cap reached" / "but
 * epoch amount cap reached"): no plan lists it, whatever the funds.
 */
export const POLICY_BLOCKED = /\bbut (cooling down|epoch (rebalance|gas|amount) cap\b.*reached)/

/**
 * A solver outcome's reason for a below-band target left for the next operation, not infeasible: over the module's
 * structural limits for one operation (MAX_SUB_ACCOUNTS / MAX_ACTIONS, issue 11 item 10), or refused only by the
 * plan-wide loss room its more urgent peers of the same plan used while it fits an operation alone (planSteps'
 * `LOSS_ROOM_LEFT`). The step counts such a target as unreached and gives it its turn; no `rescue-infeasible`.
 */
export const LEFT_FOR_NEXT =
  /over the module's limits for one operation \(MAX_SUB_ACCOUNTS \/ MAX_ACTIONS\); left for the next\)|loss room \(.*\) is used by the more urgent rescues of this operation; left for the next operation/

/**
 * Whether a below-band sub-account's solver outcome reason says no rescue is feasible: no plan reaches its landing zone
 * ("no valid plan") or its own policy blocks every rebalance now ({@link POLICY_BLOCKED}); never one left for the next
 * operation ({@link LEFT_FOR_NEXT}). The `rescue-infeasible` alert's criterion (with: not in any plan).
 */
export function rescueInfeasibleReason(reason: string): boolean {
  return !LEFT_FOR_NEXT.test(reason) && (/no valid plan/.test(reason) || POLICY_BLOCKED.test(reason))
}

/**
 * Names the binding reason of a solver outcome's reason text ({@link RescueBinding}).
 *
 * @returns The binding reason.
 * @example rescueBindingOf("below band ... (no sale left under the reserve's flash liquidity); no valid plan ...") // "flashLiquidity"
 */
export function rescueBindingOf(reason: string): RescueBinding {
  if (POLICY_BLOCKED.test(reason)) return "policyCap"
  if (/flash liquidity/.test(reason)) return "flashLiquidity"
  if (/loss limit|loss budget|maxLossBps/.test(reason)) return "lossLimit"
  if (/loses more than|fits the routes. slippage/.test(reason)) return "slippage"
  if (/module would reject/.test(reason)) return "caps"
  return "funds"
}

/** The error's one-line message (viem's `shortMessage` when it has one). */
export const shortMessage = (error: unknown) => (error instanceof BaseError ? error.shortMessage : error instanceof Error ? error.message : String(error))

/** The error's underlying reason: a `reason` field (e.g. `PaymasterRefusedError`), else viem's `details`, when it differs from the short message. */
export const reasonOf = (error: unknown): string | undefined => {
  if (!(error instanceof BaseError)) return undefined
  const own = (error as { reason?: unknown }).reason
  const reason = typeof own === "string" ? own : error.details
  return reason && reason !== error.shortMessage ? reason : undefined
}

/** Emits {@link KeeperEvent}s to the listener and raises alerts: a metric, an error log line and an `alert` event. */
export class KeeperEvents {
  constructor(
    private readonly deps: { logger: Logger; metrics: KeeperMetrics; onEvent?: ((event: KeeperEvent) => void) | undefined },
  ) {}

  emit(event: KeeperEvent): void {
    this.deps.onEvent?.(event)
  }

  alert(safe: Address, block: bigint, kind: AlertKind, error: unknown): void {
    const message = shortMessage(error)
    this.deps.logger.debug({ safe, kind, details: error instanceof BaseError ? error.details : undefined, full: error instanceof Error ? error.message : String(error) }, "alert details")
    this.deps.metrics.inc("levpilot_failures_total", "Keeper failures by kind.", { safe, kind })
    this.deps.logger.error({ alert: true, safe, kind, block: Number(block), err: message }, `ALERT ${kind}: ${message}`)
    this.emit({ type: "alert", safe, block, kind, message, reason: reasonOf(error) })
  }
}
