import { BaseError, type Hex } from "viem"
import { ActionFailedError, HealthOutsideLandingZoneError, PoolNotUsedError, SaleExceedsRepaymentError, decodeModuleError, decodeVenueRevert } from "@levpilot/sdk/errors"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { landingZoneSide } from "../solver/policyRules.js"
import { INCLUSION_MARGIN } from "./inclusionMargin.js"
import type { SafeRuntime } from "./runtime.js"
import type { PendingOperation } from "./stateFile.js"

// Issue 13 rr13 F6, live keeper: a swap rescue (a RepayWithCallback block that sells collateral) prices its sale at the
// quote and repays a fixed amount; when the price falls on past the live inclusion window before it is included, the
// sale pays less than the repayment Morpho (or Aave's flash router) pulls back, and the whole operation reverts with
// `ActionFailed(<the callback's index>, <the pull's revert>)`. Until one of its plans lands, that sub-account's next
// plan is sized for the fall over the delay the failed one really took (`withInclusionMargin`'s `fallSeconds`), as the
// backtester's autopilot does (engine.ts `shortfallReverted`).
// The other side of a sale's window (stop 52): when a sale fails with the module's `SaleExceedsRepayment` (its on-chain
// minimum at the inclusion oracle above its fixed repayment: the price held or rose where the plan was sized for a
// fall), that sub-account is planned at the read price (`rt.saleHeld`, `withoutFallDrift`) until one of its plans lands,
// as the backtester's `saleHeld`. Each side clears the other: the latest failure says where the next plan is sized.
// In the sale-minimum repayment mode (the default since stop 61) `SaleExceedsRepayment` no longer tells that the price
// held: the repayment follows the price, and the same move lands the rescue over its landing zone's top
// (`HealthOutsideLandingZone` with the health above the zone's top). A mode rescue refused so is noted held too, as the
// backtester's engine does (`saleZoneSide`; review rv61 M1). A fixed take whose callback also repays loan token withdrawn
// from a pool (Aave's, or any with `repayment: "amount"`) shows the same move as `PoolNotUsed` naming its sub-account
// (its minimum rose into the part the pool pays): noted held too, as the engine's `fixedTakeSaleHeld` (stop 63).

/** What the keeper keeps of the plan it last handed to the sender, to read the fate of its operation. */
export type SentPlan = {
  /** Every sub-account (lower case) of the plan: one landing clears their shortfall. */
  subAccounts: string[]
  /** The plan's swap rescues: the index of each RepayWithCallback whose callback sells collateral -> its sub-account (lower case). */
  rescues: Map<number, string>
  /** The sub-accounts (lower case) of those rescues sent in the sale-minimum repayment mode ({@link modeRescuesOf}). */
  modeRescues?: Set<string> | undefined
  /** Block of the snapshot the plan (and its swap quotes) was made at. */
  quoteBlock: bigint
  /** Timestamp of that block, seconds (Unix). */
  quoteTimestamp: number
}

/**
 * The swap rescues of `plan`: each `RepayWithCallback` whose callback block (up to its `EndCallback`) holds a
 * `SellCollateral`, by action index, with its sub-account (lower case). Any plan shape: the keeper's (SDK `Plan`) and
 * the solver's (the backtester's `fixedTakeSaleHeld`).
 */
export function swapRescuesOf(plan: { subAccounts: readonly string[]; actions: readonly { kind: string; subAccount: number }[] }): Map<number, string> {
  const out = new Map<number, string>()
  plan.actions.forEach((a, i) => {
    if (a.kind !== "RepayWithCallback") return
    for (let k = i + 1; k < plan.actions.length && plan.actions[k]?.kind !== "EndCallback"; k++)
      if (plan.actions[k]?.kind === "SellCollateral") {
        const id = plan.subAccounts[a.subAccount]
        if (id !== undefined) out.set(i, id.toLowerCase())
        return
      }
  })
  return out
}

/**
 * The sub-accounts (lower case) of `plan`'s swap rescues ({@link swapRescuesOf}) sent in the module's sale-minimum
 * repayment mode (`repayment: "sale-minimum"` on the opener).
 */
export function modeRescuesOf(plan: ChainPlan): Set<string> {
  const out = new Set<string>()
  for (const [i, id] of swapRescuesOf(plan)) {
    const a = plan.actions[i]
    if (a !== undefined && "repayment" in a && a.repayment === "sale-minimum") out.add(id)
  }
  return out
}

/**
 * The sub-accounts (lower case) of `plan`'s swap rescues ({@link swapRescuesOf}) sent with a fixed repayment (not in the
 * sale-minimum mode: Aave's flash premium keeps the fixed take, as does `repayment: "amount"`).
 */
export function fixedTakeRescuesOf(sent: Pick<SentPlan, "rescues" | "modeRescues">): Set<string> {
  const out = new Set<string>()
  for (const id of sent.rescues.values()) if (sent.modeRescues?.has(id) !== true) out.add(id)
  return out
}

/**
 * The sub-account a module revert names when it is `PoolNotUsed(bytes32 subAccount, address pool)`.
 *
 * @param data - Revert data of the module.
 * @returns The sub-account id (lower case), or undefined for any other revert.
 */
export function poolNotUsedSubAccountOf(data: Hex): string | undefined {
  const decoded = decodeModuleError(data)
  if (decoded?.errorName !== "PoolNotUsed") return undefined
  const id = decoded.args[0]
  return typeof id === "string" ? id.toLowerCase() : undefined
}

/**
 * The sub-accounts (lower case) of `fixedTake` (a plan's fixed-take swap rescues, {@link fixedTakeRescuesOf}) a failed
 * send reports as `PoolNotUsed`: the SDK's `PoolNotUsedError` anywhere in the cause chain, or the module's revert data
 * in the chain's messages ({@link poolNotUsedSubAccountOf}). A fixed-take sale prefunded from a pool meets it, not
 * `SaleExceedsRepayment`, when its price held or rose: its minimum at the inclusion oracle rose into the part the pool
 * pays (the inflow rule counts a withdrawal as used only up to the repayment less the sales' minimum). Others are ignored.
 */
export function poolUnusedHeldSubAccountsOf(error: unknown, fixedTake: ReadonlySet<string>): string[] {
  return subAccountsNamedIn(error, fixedTake, (e) => (e instanceof PoolNotUsedError ? e.subAccount : undefined), poolNotUsedSubAccountOf)
}

/**
 * The sub-account a module revert names when it is `HealthOutsideLandingZone(bytes32 subAccount, uint256 health,
 * uint256 low, uint256 high)` with `health` above `high` (the plan lands it over its zone's top).
 *
 * @param data - Revert data of the module.
 * @returns The sub-account id (lower case), or undefined for any other revert (or a landing under the floor).
 */
export function overTopSubAccountOf(data: Hex): string | undefined {
  const decoded = decodeModuleError(data)
  if (decoded?.errorName !== "HealthOutsideLandingZone") return undefined
  const id = decoded.args[0]
  return typeof id === "string" && landingZoneSide(decoded.args) === "over" ? id.toLowerCase() : undefined
}

/**
 * The sub-accounts (lower case) of `ids` a failed send reports landing over their zone's top: the SDK's
 * `HealthOutsideLandingZoneError` with `health > high` anywhere in the cause chain, or the module's revert data in the
 * chain's messages ({@link overTopSubAccountOf}). Others are ignored.
 */
export function overTopSubAccountsOf(error: unknown, ids: ReadonlySet<string>): string[] {
  return subAccountsNamedIn(error, ids, (e) => (e instanceof HealthOutsideLandingZoneError && landingZoneSide([e.subAccount, e.health, e.low, e.high]) === "over" ? e.subAccount : undefined), overTopSubAccountOf)
}

/**
 * The sub-accounts (lower case) of `listed` a failed send names, anywhere in its cause chain: by an SDK error
 * (`fromError`) or by the module's revert data in an error's messages (`fromData`, e.g. a bundler's simulation).
 */
function subAccountsNamedIn(error: unknown, listed: ReadonlySet<string>, fromError: (e: unknown) => string | undefined, fromData: (data: Hex) => string | undefined): string[] {
  const ids = new Set<string>()
  for (const e of causeChainOf(error))
    for (const id of [fromError(e)?.toLowerCase(), ...hexDataIn(e).map(fromData)]) if (id !== undefined && listed.has(id)) ids.add(id)
  return [...ids]
}

/**
 * The callback index of a module revert that is a repayment left short (the module's `ActionFailed(index, reason)`
 * whose `reason` is the venue's own pull failing, e.g. Morpho's `Error("transferFrom reverted")` or a token's
 * `ERC20InsufficientBalance`): not a venue refusal (`decodeVenueRevert`) and not a module error raised inside the
 * callback (a sale's `SlippageExceeded`, a nested `ActionFailed` of the router's own minimum), which are other failures.
 *
 * @param data - Revert data of the module (`UserOperationRevertReason.revertReason`, or found in a simulation's error).
 * @returns The action index, or undefined.
 */
export function shortRepaymentIndexOf(data: Hex): number | undefined {
  const decoded = decodeModuleError(data)
  if (decoded?.errorName !== "ActionFailed") return undefined
  const reason = decoded.args[1] as Hex
  if (typeof reason !== "string" || decodeVenueRevert(reason) !== undefined) return undefined
  const inner = reason.length >= 10 ? decodeModuleError(reason) : undefined
  if (inner !== undefined && inner.errorName !== "Error") return undefined
  return Number(decoded.args[0])
}

/**
 * The sub-accounts (lower case) of `rescues` whose swap rescue a failed send reports short of its repayment: the SDK's
 * `ActionFailedError` at a rescue's callback index (the rule book's `inside the callback: needs X of <loan> but the Safe
 * holds Y`, or the chain's revert with the index kept), or the module's `ActionFailed` revert data in the error chain's
 * messages (a bundler's simulation, which the SDK names by the inner `Error(string)` only).
 */
export function shortfallSubAccountsOf(error: unknown, rescues: ReadonlyMap<number, string>): string[] {
  const ids = new Set<string>()
  if (rescues.size === 0) return []
  for (const e of causeChainOf(error)) {
    if (e instanceof ActionFailedError && (e.detail === undefined || e.detail.startsWith("inside the callback: needs "))) {
      const id = rescues.get(e.index)
      if (id !== undefined) ids.add(id)
    }
    for (const data of hexDataIn(e)) {
      const index = shortRepaymentIndexOf(data)
      const id = index === undefined ? undefined : rescues.get(index)
      if (id !== undefined) ids.add(id)
    }
  }
  return [...ids]
}

/** `error` and its `cause`s, outermost first (at most 32: a cyclic chain ends). */
function* causeChainOf(error: unknown): Generator<unknown> {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 32; e = (e as { cause?: unknown }).cause, depth++) yield e
}

/** The hex words (`0x` and at least 8 hex digits) of one error's own messages: revert data a node or bundler gives as text. */
function hexDataIn(e: unknown): Hex[] {
  const text = e instanceof BaseError ? `${e.details ?? ""} ${e.shortMessage} ${e.metaMessages?.join(" ") ?? ""}` : e instanceof Error ? e.message : ""
  return (text.match(/0x[0-9a-fA-F]{8,}/g) ?? []) as Hex[]
}

/**
 * The sub-account a module revert names when it is `SaleExceedsRepayment(bytes32 subAccount, uint256 minOut, uint256
 * repaid)` (a sub-account's sales bring at least `minOut` of the loan token, base units, at the oracle of execution, but
 * the plan lowers its debt by only `repaid`): the module's bytes32 id, which is the plan's `subAccounts[]` entry.
 *
 * @param data - Revert data of the module (`UserOperationRevertReason.revertReason`, or found in a simulation's error).
 * @returns The sub-account id (bytes32 hex, lower case), or undefined for any other revert or undecodable data.
 */
export function saleHeldSubAccountOf(data: Hex): string | undefined {
  const decoded = decodeModuleError(data)
  if (decoded?.errorName !== "SaleExceedsRepayment") return undefined
  const id = decoded.args[0]
  return typeof id === "string" ? id.toLowerCase() : undefined
}

/**
 * The sub-accounts (lower case) of `subAccounts` (a plan's ids) a failed send reports as `SaleExceedsRepayment`: the
 * SDK's `SaleExceedsRepaymentError` (its validation's rule book, or a revert the SDK decoded) anywhere in the cause
 * chain, or the module's revert data in the chain's messages (a bundler's simulation), {@link saleHeldSubAccountOf}.
 * An id outside the plan is ignored.
 */
export function saleHeldSubAccountsOf(error: unknown, subAccounts: readonly string[]): string[] {
  const listed = new Set(subAccounts.map((id) => id.toLowerCase()))
  return subAccountsNamedIn(error, listed, (e) => (e instanceof SaleExceedsRepaymentError && typeof e.subAccount === "string" ? e.subAccount : undefined), saleHeldSubAccountOf)
}

/** How many plans handed to the sender `rt.sentPlans` keeps (the latest; one operation is in flight at a time). */
export const SENT_PLANS_KEPT = 8

/** The live inclusion window, seconds: `INCLUSION_MARGIN.blocks` blocks of `rt.blockSeconds` (12 s until measured). */
export function liveWindowSeconds(rt: Pick<SafeRuntime, "blockSeconds">): number {
  return INCLUSION_MARGIN.blocks * (rt.blockSeconds ?? 12)
}

/**
 * Records that the swap rescues of `ids` failed short of their repayment after `delaySeconds` (from the quote's block
 * to the failure): their next plans are sized for the fall over `max(delaySeconds, live window)` seconds (never less
 * than the live window) until one of their plans lands. Kept per sub-account in `rt.shortfallFallSeconds` (one entry
 * per sub-account of the Safe, the latest delay).
 */
export function noteShortfall(rt: SafeRuntime, ids: readonly string[], delaySeconds: number): void {
  if (ids.length === 0) return
  const seconds = Math.max(liveWindowSeconds(rt), Number.isFinite(delaySeconds) ? delaySeconds : 0)
  const map = (rt.shortfallFallSeconds ??= new Map())
  for (const id of ids) {
    map.set(id.toLowerCase(), seconds)
    rt.saleHeld?.delete(id.toLowerCase())
  }
}

/**
 * Records that a sale of each of `ids` failed with `SaleExceedsRepayment` (the price held or rose where the plan was
 * sized for a fall): until one of its plans lands (or a shortfall is noted for it, {@link noteShortfall}), its next
 * plans are made at the read price (`rt.saleHeld`; VolatilityFeed drops its falling `inclusionDrift`,
 * `withoutFallDrift`), and its `rt.shortfallFallSeconds` entry is cleared (the other side of the window).
 */
export function noteSaleHeld(rt: SafeRuntime, ids: readonly string[]): void {
  if (ids.length === 0) return
  const held = (rt.saleHeld ??= new Set())
  for (const id of ids) {
    held.add(id.toLowerCase())
    rt.shortfallFallSeconds?.delete(id.toLowerCase())
  }
}

/**
 * Before handing `plan` to the sender: remembers it for the inclusion tracker (`rt.sentPlans`, keyed by the quote's
 * block: the sender's record of the operation carries it as `sentBlock`), and forgets it when the send throws (nothing
 * went out; an operation still in flight keeps its own plan; one that went out before a later throw, such as a fenced
 * store write, is then read as unknown, never charged to another plan). When the send throws
 * with a swap rescue refused short of its repayment (the SDK's validation or the bundler's simulation, at `nowSeconds`),
 * that sub-account's next plan is sized for the fall over the time already lost since the quote plus its own live
 * window (it failed before inclusion, which was still at least that window away); when it throws with a sale of one of
 * the plan's sub-accounts refused as `SaleExceedsRepayment`, or with a sale-minimum mode rescue refused over its zone's
 * top ({@link overTopSubAccountsOf}), or with a fixed-take sale's prefund refused as `PoolNotUsed`
 * ({@link poolUnusedHeldSubAccountsOf}), that sub-account is noted held ({@link noteSaleHeld}). The error is rethrown.
 *
 * @param quote - The snapshot the plan was made at: its block and timestamp (seconds).
 * @param nowSeconds - The keeper's clock, seconds (Unix).
 * @returns What `send` returns (the sender's `SendOutcome`).
 */
export async function sendNotingShortfall<T>(rt: SafeRuntime, plan: ChainPlan, quote: { block: bigint; timestamp: number }, nowSeconds: () => number, send: () => Promise<T>): Promise<T> {
  const sent: SentPlan = { subAccounts: plan.subAccounts.map((id) => id.toLowerCase()), rescues: swapRescuesOf(plan), modeRescues: modeRescuesOf(plan), quoteBlock: quote.block, quoteTimestamp: quote.timestamp }
  const plans = (rt.sentPlans ??= new Map())
  const key = quote.block.toString()
  plans.delete(key)
  plans.set(key, sent)
  for (const old of plans.keys()) if (plans.size > SENT_PLANS_KEPT) plans.delete(old)
  try {
    return await send()
  } catch (error) {
    // Nothing of this plan went out (a send that reaches the bundler without a usable answer returns): an operation
    // sent earlier and still in flight keeps its own plan (k52: it was charged to this one).
    if (plans.get(key) === sent) plans.delete(key)
    const ids = shortfallSubAccountsOf(error, sent.rescues)
    noteShortfall(rt, ids, Math.max(0, nowSeconds() - quote.timestamp) + liveWindowSeconds(rt))
    noteSaleHeld(rt, saleHeldSubAccountsOf(error, sent.subAccounts))
    // A mode rescue refused over its zone's top: the price held or rose (rv61 M1).
    noteSaleHeld(rt, overTopSubAccountsOf(error, sent.modeRescues ?? new Set()))
    // A prefunded fixed take refused with PoolNotUsed: the same (issue 13, stop 63).
    noteSaleHeld(rt, poolUnusedHeldSubAccountsOf(error, fixedTakeRescuesOf(sent)))
    throw error
  }
}

/**
 * The plan an included operation carried, of those `rt.sentPlans` keeps: the record's latest send (at its `sentBlock`)
 * when the event's hash is that send's; when it is not (a replaced operation that was mined anyway, helper bk53) or
 * the latest send's hash is unknown (an unusable bundler answer), the one plan sent at this nonce, from the record's
 * `firstSentBlock` on, that can be it; none when more than one can (nothing is charged rather than the wrong plan).
 */
function sentPlanOf(rt: SafeRuntime, record: Pick<PendingOperation, "sentBlock" | "firstSentBlock" | "userOpHash">, includedHash: Hex | undefined): SentPlan | undefined {
  const plans = rt.sentPlans
  if (plans === undefined) return undefined
  const latest = record.userOpHash !== undefined && includedHash !== undefined && record.userOpHash.toLowerCase() === includedHash.toLowerCase()
  if (latest) return plans.get(record.sentBlock)
  const first = BigInt(record.firstSentBlock ?? record.sentBlock)
  const last = BigInt(record.sentBlock)
  // The latest send is a candidate only when its own hash is unknown (it may be the one that landed).
  const candidates = [...plans.entries()].filter(([key]) => BigInt(key) >= first && (BigInt(key) < last || (BigInt(key) === last && record.userOpHash === undefined)))
  return candidates.length === 1 ? (candidates[0] as [string, SentPlan])[1] : undefined
}

/**
 * The tracker's report of an included operation, charged to the plan sent with it ({@link sentPlanOf}; none known,
 * nothing noted), and every remembered plan is forgotten (their operations shared its nonce):
 * landed (`success`), every sub-account of its plan is cleared
 * (of `rt.shortfallFallSeconds` and `rt.saleHeld`); reverted with a swap rescue's repayment left short (`revertData`,
 * {@link shortRepaymentIndexOf}), that sub-account's next plan is sized for the fall over the delay the operation took,
 * `(includedBlock - quoteBlock) x rt.blockSeconds` seconds (blocks of the measured block time, 12 s until measured);
 * reverted with `SaleExceedsRepayment` naming a sub-account of the plan ({@link saleHeldSubAccountOf}), that
 * sub-account is noted held ({@link noteSaleHeld}), as is a sale-minimum mode rescue reverted over its zone's top
 * ({@link overTopSubAccountOf}) and a fixed-take rescue whose prefund reverted as `PoolNotUsed` ({@link poolNotUsedSubAccountOf}). Nothing is known of an operation sent before a restart
 * (`rt.sentPlans` is not persisted).
 *
 * @param includedBlock - Block the operation was included in.
 * @param revertData - The module's revert data (`UserOperationRevertReason.revertReason`), when it reverted.
 * @param record - The tracker's record of the operation at that nonce (its latest send's `sentBlock` and hash, its
 *   first send's block).
 * @param includedHash - The included UserOperationEvent's `userOpHash`.
 */
export function noteInclusion(rt: SafeRuntime, success: boolean, includedBlock: bigint, revertData: Hex | undefined, record: Pick<PendingOperation, "sentBlock" | "firstSentBlock" | "userOpHash">, includedHash: Hex | undefined): void {
  const sent = sentPlanOf(rt, record, includedHash)
  rt.sentPlans?.clear()
  if (sent === undefined) return
  if (success) {
    const landed = (rt.landed ??= new Map())
    for (const id of sent.subAccounts) {
      rt.shortfallFallSeconds?.delete(id)
      rt.saleHeld?.delete(id)
      landed.set(id, sent.quoteBlock)
    }
    return
  }
  const index = revertData === undefined ? undefined : shortRepaymentIndexOf(revertData)
  const id = index === undefined ? undefined : sent.rescues.get(index)
  const blocks = includedBlock > sent.quoteBlock ? Number(includedBlock - sent.quoteBlock) : 0
  if (id !== undefined) noteShortfall(rt, [id], blocks * (rt.blockSeconds ?? 12))
  const held = revertData === undefined ? undefined : saleHeldSubAccountOf(revertData)
  if (held !== undefined && sent.subAccounts.includes(held)) noteSaleHeld(rt, [held])
  // A mode rescue that landed over its zone's top at inclusion: the price held or rose (rv61 M1).
  const overTop = revertData === undefined ? undefined : overTopSubAccountOf(revertData)
  if (overTop !== undefined && sent.modeRescues?.has(overTop) === true) noteSaleHeld(rt, [overTop])
  // A prefunded fixed take that reverted with PoolNotUsed at inclusion: the same (issue 13, stop 63).
  const unused = revertData === undefined ? undefined : poolNotUsedSubAccountOf(revertData)
  if (unused !== undefined && fixedTakeRescuesOf(sent).has(unused)) noteSaleHeld(rt, [unused])
}

/**
 * The fall, seconds, each sub-account's next plan is sized for (`withInclusionMargin`'s `fallSeconds`): those of
 * `rt.shortfallFallSeconds` still in `ids` (lower case; the others, a policy removed, are dropped so the map stays
 * bounded by the Safe's sub-accounts).
 */
export function shortfallFallSecondsOf(rt: SafeRuntime, ids: readonly string[]): ReadonlyMap<string, number> {
  const map = rt.shortfallFallSeconds
  if (map === undefined || map.size === 0) return new Map()
  const listed = new Set(ids.map((id) => id.toLowerCase()))
  for (const id of [...map.keys()]) if (!listed.has(id)) map.delete(id)
  return map
}

/**
 * The sub-accounts (lower case) planned at the read price after a sale held ({@link noteSaleHeld}): those of
 * `rt.saleHeld` still in `ids` (the others, a policy removed, are dropped so the set stays bounded by the Safe's
 * sub-accounts).
 */
export function saleHeldOf(rt: SafeRuntime, ids: readonly string[]): ReadonlySet<string> {
  const held = rt.saleHeld
  if (held === undefined || held.size === 0) return new Set()
  const listed = new Set(ids.map((id) => id.toLowerCase()))
  for (const id of [...held]) if (!listed.has(id)) held.delete(id)
  return held
}
