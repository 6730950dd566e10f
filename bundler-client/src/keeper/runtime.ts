import type { ToKeeperAccountReturnType } from "@levpilot/sdk/accounts"
import type { KeeperSafeConfig } from "./config.js"
import type { SentPlan } from "./shortfall.js"
import type { VenueName } from "./venue.js"
import type { TrendEstimator } from "../risk/trend.js"
import { BandRulePaper } from "../solver/bandShadow.js"
import type { LiveVolatility, VolatilityEstimate } from "./volatility.js"
import type { ClampRuleRefusedError } from "./errors.js"

/** The keeper's in-memory state of one Safe (what is not on chain and not in the state file). */
export type SafeRuntime = {
  config: KeeperSafeConfig
  account: ToKeeperAccountReturnType | undefined
  busy: boolean
  failures: number
  backoffUntil: number
  triggerBlock: bigint | undefined
  triggerAt: number
  /** Live volatility per sub-account id (lower case). */
  volatility: Map<string, LiveVolatility>
  /**
   * The oracle price's recent trend per sub-account id (lower case), the backtester's autopilot's `TrendEstimator` fed
   * the same way (one oracle price a minute): `risk.trend`, from which `withInclusionMargin` sets `inclusionDrift`.
   * Not persisted: after a restart it reads 0 until it has two samples.
   */
  trend: Map<string, TrendEstimator>
  /**
   * Issue 13: the band rule on paper (`BandRulePaper`, stop 51): a copy of the Safe's portfolio the threshold solver
   * rebalances on the keeper's reads within the policy's caps and bounds; its health per sub-account is each boost's
   * landing floor and the in-band rescue's gate (`SubAccountInput.boostFloorHealth`, set by `VolatilityFeed` in autopilot
   * mode). In memory: after a restart it starts again as a copy of the Safe then (the autopilot boosts no lower than
   * where it is, and may rescue in band below the target at once: conservative).
   */
  bandPaper: BandRulePaper
  /** Last estimate logged per sub-account, to log only meaningful changes. */
  loggedSigma: Map<string, VolatilityEstimate>
  /** Sub-accounts (lower case) whose state could not be read at the last block (alerted once per outage). */
  unreadable: Set<string>
  /** Reads planned around at the last step (`PortfolioSnapshot.degraded`, keyed read|subAccount|detail), logged once each. */
  degraded: Set<string>
  /** Venue of each sub-account (lower-case id) at the last read, for the labels of metrics and logs. */
  venues: Map<string, VenueName>
  /**
   * What the ERC-20 paymaster would pre-charge this Safe's last prepared keeper operation, base units of its token
   * (`PaymasterTokenChargeError`), and the block it was learned in: kept out of what the plans of that block may spend of
   * that token. Not carried to a later block: the charge follows the fees (gas limits x maxFeePerGas), so a gas spike's
   * charge kept for good would shrink every later rescue.
   */
  paymasterTokenCharge?: { charge: bigint; block: bigint } | undefined
  /**
   * The operation in flight (its nonce, and the block it was first sent in) whose replacement the Safe's fee caps block:
   * `replacement-blocked` is alerted once per operation, not at every resend.
   */
  replacementBlocked?: string | undefined
  /**
   * Sub-accounts (lower case) below their band with no feasible rescue at the last step, and the binding reason: a
   * `no-rescue` event when one enters (not every block while it lasts), the gauge `levpilot_rescue_infeasible` every step;
   * `label` and `venue` are the gauge's labels, so it is set back to 0 when the sub-account leaves the snapshot.
   */
  noRescue?: Map<string, { binding: string; label: string; venue: string }> | undefined
  /** Sub-accounts (lower-case id) whose boost the last step skipped for the venue's LTV room (gauge `levpilot_boost_ltv_bound`). */
  ltvBound?: Map<string, { label: string; venue: string }> | undefined
  /** The Safe's Aave dust collateral at the last step that read it (sorted lower-case reserve assets, comma-joined; "" none). */
  aaveDust?: string | undefined
  /**
   * The operation (its nonce, and the block it was first sent in) last priced at the Safe's caps because the market was
   * above them: `gas-cap-below-market` is alerted once per operation, not at every resend of it while a spike lasts.
   */
  gasCapAlerted?: string | undefined
  /**
   * The current run of sends the SDK refused with NoTrigger (see NO_TRIGGER_ALERT_BLOCKS): its first block, its last
   * block so far (the run's end; review rr11zb B2), and whether it was alerted (`send-failed` once per run, review rr13s S3).
   */
  noTrigger?: { since: bigint; last: bigint; alerted: boolean } | undefined
  /**
   * A write of the Safe's records to the state file failed (the in-flight record or the alone table: one run for both,
   * `state-write-failed` alerted once per run; reviews rr11zb B1, rr11zd D2): the journal generation of the run's last
   * failed write (`StateWriteError.generation`; Infinity when not known). Ended by a successful write of the record, or
   * by a snapshot serialized after that failure (`StateWriteError.landed` above it, seen at the next failure; rr11zd D3).
   */
  stateWriteFailing?: number | undefined
  /**
   * The in-flight record's last write failed in a shared store (`StoreUnavailableError`: Redis unreachable):
   * `state-store-unavailable` alerted once per run (review rr11zd D1); `last` is the run's last failing block. Ended by a
   * successful write of the record, or by a step that ran after `last` without the failure ({@link noteStepRan}: the
   * Safe back in band writes nothing; review rr11ze E6). Per process (not in the fleet's shared runtime: the outage is
   * also what keeps it from being saved).
   */
  storeUnavailable?: { last: bigint } | undefined
  /** The last block at which the Safe's step ran (not backed off, not busy): see {@link noteStepRan}. */
  lastStepBlock?: bigint | undefined
  /**
   * The current run of send attempts refused with an arithmetic panic (see ARITHMETIC_PANIC_ALERT_ATTEMPTS): attempts
   * counted (one per block), the first and the last block. Per process like `noTrigger`: in fleet mode a Safe whose
   * steps alternate between workers counts on each.
   */
  arithmeticPanic?: { attempts: number; since: bigint; last: bigint } | undefined
  /** The current run of send attempts refused with a failed validation read (see READ_FAILED_ALERT_ATTEMPTS). */
  readFailed?: { attempts: number; last: bigint } | undefined
  /** The last plan clamped to nothing (`nothing-to-send` alerted once until a plan survives the clamp again). */
  clampedAway?: boolean | undefined
  /** The rule that refused the last clamped plan with no repair (`ClampRuleRefusedError`): alerted once per rule until a plan survives. */
  clampRefused?: string | undefined
  /**
   * The current runs of the rule book's refusals of clamped plans, by lower-case sub-account id or `*` for a plan-wide
   * refusal, whatever the rule (see RULE_REFUSAL_REALERT_BLOCKS; review rr11g G3): the run's first block, the block of
   * its last alert and the rule of its last step.
   */
  ruleRefused?: Map<string, { since: bigint; alerted: bigint | undefined; rule?: string | undefined }> | undefined
  /**
   * The sub-accounts (`id|refusal`) left out of the last step's plan because its simulation failed on them: alerted once
   * per outage (a key already here is only logged), cleared when a step's plan no longer fails on them.
   */
  refused?: Set<string> | undefined
  /**
   * Due sub-accounts (lower case, below their band) whose plan was ranked but not reached (a more urgent loan asset's
   * plan was sent first) in the last steps in a row (review rr11n N4): the first such step (`since`, undefined once
   * reached again) and the block of the last `nothing-to-send` alert (stage `unreached`). From UNREACHED_TURN_BLOCKS
   * steps in a row, its plan goes first at the next step.
   */
  unreached?: Map<string, { since: bigint | undefined; alerted: bigint | undefined }> | undefined
  /**
   * The Safe's recent failures judged by repetition (one memory, {@link RecentFailure}, read and written through
   * {@link recentFailure} / {@link rememberFailure}), by slot (what a size-dependent refusal taught is `aloneFacts`):
   * - `unnamed` (UNNAMED_FAILURE): the last plan of several sub-accounts that failed with an error naming none of them
   *   (not of the loss class, not `notThePlansFailure`); key: its sub-accounts (lower case, sorted, comma-joined). Such a
   *   failure is isolated only when the same plan failed so within UNNAMED_REPEAT_BLOCKS (a single garbage or -32603
   *   answer of a bundler or proxy, followed by a sane one for the first probe, blamed a sub-account:
   *   test/keeper.adversarial.test.ts "garbage from the RPC and the bundler").
   * Carried in the fleet's shared runtime (`SHARED_ALERT_STATE`), so a failure on one worker followed by the same on the
   * next is a repeat too.
   */
  recentFailures?: Map<string, RecentFailure> | undefined
  /**
   * What the step knows of each due sub-account's plan ALONE: ONE table ({@link AloneTable}), by lower-case sub-account
   * id, learned from the size-dependent refusals of the Safe's plans (the Safe's gas-field caps `gas-cap`, the prefund
   * AA21 / self-pay budget `gas`, a sponsor's cap `paymaster`, Alto's ambiguous HTTP 500 `ambiguous`; reviews rr11x,
   * rr11y) and from the plan-wide refusals of its plan alone by the chain's simulation or the rule book (`chain-rule`,
   * `isolateRefusals`, issue 11 item 9; reviews rr11m M4/M5, rr11n N3/N5). Refused-alone entries are left out of the plans
   * (`chain-rule` up front, the others by the narrowing after a refusal) and named in the step's alert; accepted entries
   * make an ambiguous answer the plans' size; one window (ALONE_FACT_BLOCKS, {@link aloneFactLeftOut}) and one forget rule
   * ({@link aloneFactForgotten}). Carried in the fleet's shared runtime (a second worker does not price again what the
   * first learned) and, for a single-process keeper, in the state file (`KeeperStateStore.aloneFacts`).
   */
  aloneFacts?: AloneTable | undefined
  /**
   * The runs of this Safe's operations included but reverted (review rr11n N4), by lower-case sub-account of the reverted
   * plans (`*`: a record without them; review rr11p P3): how many, the block of the last `reverted` alert (the first of a
   * run, then at most once per REVERTED_REALERT_BLOCKS) and of the last revert; ended by a successful inclusion of that
   * sub-account, pruned when not continued within REVERTED_REALERT_BLOCKS.
   */
  reverted?: Map<string, { count: number; alerted: bigint; last: bigint }> | undefined
  /**
   * The used nonce (decimal) whose UserOperationEvent the node refused to serve (`LogReadError`) at `count` steps in a
   * row; at INCLUSION_LOG_READ_FAILURES the record is cleared with one alert (review rr11q Q4).
   */
  inclusionLogFailures?: { nonce: string; count: number } | undefined
  /**
   * Sub-accounts (lower case) whose oracle the chain's simulation refused at send in the last steps in a row
   * (`ORACLE_REFUSAL_ALERT_BLOCKS`): how many steps, whether `feed-broken` was alerted, and the gauge's labels.
   */
  oracleRefused?: Map<string, { steps: number; alerted: boolean; label: string; venue: string }> | undefined
  lastSeen?: { block: bigint; timestamp: number } | undefined
  /**
   * The plans handed to the sender whose operations may still be included, by the block they were quoted at (decimal:
   * the sender's `PendingOperation.sentBlock` of that send), each with its sub-accounts, its swap rescues by action index
   * and its quote block and timestamp in seconds, for the tracker to read the fate of the operation it reports
   * (`noteInclusion`: the plan whose key is the included record's `sentBlock`). A send that throws sent nothing and is
   * removed; all are cleared by an inclusion (one operation in flight per Safe). At most `SENT_PLANS_KEPT`; not persisted.
   */
  sentPlans?: Map<string, SentPlan> | undefined
  /**
   * Sub-accounts (lower case) whose last swap rescue failed short of its fixed repayment (issue 13 rr13 F6), each with
   * the fall, seconds, its next plan is sized for (`withInclusionMargin`'s `fallSeconds`, never below the live window)
   * until one of its plans lands. At most one entry per sub-account of the Safe (pruned to the snapshot's).
   */
  shortfallFallSeconds?: Map<string, number> | undefined
  /**
   * Sub-accounts (lower case) whose last sale failed with the module's `SaleExceedsRepayment` (the sale's on-chain
   * minimum at the inclusion oracle above its fixed repayment: the price held or rose where the plan was sized for a
   * fall): planned at the read price (no falling `inclusionDrift`, `withoutFallDrift`) until one of their plans lands
   * or a shortfall is noted for them (stop 52, the backtester's `saleHeld`; shortfall.ts `noteSaleHeld`). At most one
   * entry per sub-account of the Safe (pruned to the snapshot's); not persisted.
   */
  saleHeld?: Set<string> | undefined
  /**
   * Issue 13, stop 64 (review rv64b B1): sub-accounts (lower case) of this Safe's landed plans, each with the block of the
   * snapshot its plan was made at, to be judged at the next read (`VolatilityFeed.withBandShadow`): set by
   * `noteInclusion` on success.
   */
  landed?: Map<string, bigint> | undefined
  /**
   * Each sub-account's venue health at its latest reads (lower case id -> [block, health], the last
   * `READ_HEALTH_KEPT`), for {@link landed}'s judgement: the health at the plan's snapshot.
   */
  readHealth?: Map<string, [bigint, number][]> | undefined
  /**
   * Sub-accounts (lower case) owed the rest of a rescue that landed short of the target (the solver's
   * `rescueLandedShort`): their boost floor is at least the target (`owedRescueFloor`) until a read finds them at or
   * above it. Not persisted: after a restart the band rule's gate applies again.
   */
  rescueOwed?: Set<string> | undefined
  blockSeconds?: number | undefined
}

/**
 * One remembered failure of a Safe (`SafeRuntime.recentFailures`): what identifies it (a plan's sub-accounts, an answer's
 * text, the state it was found in, by slot) and the block it was seen (first or last, by slot).
 */
export type RecentFailure = { key: string; block: bigint }

/** `SafeRuntime.recentFailures` slot: the last unnamed failure of a plan of several (UNNAMED_REPEAT_BLOCKS). */
export const UNNAMED_FAILURE = "unnamed"
/**
 * Blocks an entry of the alone table ({@link AloneFact}) is planned from after it was learned (`AloneFact.block`), the
 * one window of the table ({@link aloneFactLeftOut}): a refused-alone entry is left out of the plans, then rejoins them
 * (tried again with the others, its donors included); an accepted entry makes an ambiguous answer the plans' size as
 * long. An entry is dropped earlier by {@link aloneFactForgotten} (its sub-account back in its band, unread or gone;
 * refused for the gas prefund / budget / sponsor when the Safe's most urgent `health / minHealth` fell below the one it
 * was learned at: review rr11v V3), the moment a plan built from it is refused (an accepted entry: the plans' size was
 * wrong, or the bundler is down), or when its sub-account is sent. A refused re-test alone of a `chain-rule` entry does
 * not extend it (review rr11n N5). Units: blocks.
 */
export const ALONE_FACT_BLOCKS = 3n

/**
 * One entry of the alone table (`SafeRuntime.aloneFacts`): what the plan of ONE sub-account did, or (`derived`) what the
 * refusals of plans holding it prove of it, at block `block` (learned; `seen`: the last block it was named or tried;
 * for `chain-rule`, the last block its plan alone was tested: the re-tests' rotation).
 * - `refused`: its plan alone was refused for `cause` (`gas-cap`, `gas`, `paymaster`, `ambiguous`, `chain-rule`) with
 *   `reason` (the refusal's words); for `gas-cap`, `field` (callGasLimit, verificationGasLimit, preVerificationGas),
 *   `estimate` (gas, of its plan alone: the bundler's, or when `derived` a lower bound from two plans' estimates, their
 *   difference) and `cap` (gas); a `derived` one carries `alone` once its plan alone was estimated without being sent
 *   (the SDK's `estimateRebalance`, in the step that derived it: reviews rr11x X2, rr11y Y3): `fits` false with that
 *   plan's own `estimate` (gas) above the cap on the same field, or `fits` true (`estimate`: its signed limit on that
 *   field, when read). An `ambiguous` refusal alone is written only when another plan was accepted in the same
 *   step (else it may be the bundler's outage: review rr11y Y4). A `chain-rule` refusal (the chain's simulation or the
 *   rule book refused its plan alone plan-wide) carries its refusal run's `key` (the id, or `*|id` for the rule book's)
 *   and `error` (the {@link ClampRuleRefusedError} its run alerts; after the fleet's shared runtime or a restart, rebuilt
 *   from its rule, args, stage and detail), and `owed` when it was remembered again at its rejoin behind an accepted
 *   subset without a test alone: re-tested alone first at the next step (review rr11o O6).
 * - `accepted`: a plan holding it (of `size` sub-accounts) was accepted after the refusal `cause` (`answer`: the
 *   ambiguous answer's text), so that answer is the plans' size while the entry lasts.
 * - `unconfirmed`: its plan alone was answered the ambiguous 500 in a step where no plan was accepted (its own, or the
 *   bundler's outage): never left out of a plan; only tried after the others in the one-probe rotation (no size
 *   conclusion) and tried alone FIRST under a conclusion (confirmed, or sent).
 * `ratio`: the Safe's most urgent `health / minHealth` when learned (review rr11v V3).
 */
export type AloneFact = {
  verdict: "refused" | "accepted" | "unconfirmed"
  block: bigint
  seen: bigint
  cause: "gas-cap" | "gas" | "paymaster" | "ambiguous" | "chain-rule"
  reason: string
  answer?: string | undefined
  field?: string | undefined
  estimate?: bigint | undefined
  cap?: bigint | undefined
  derived?: true | undefined
  alone?: { fits: boolean; estimate?: bigint | undefined } | undefined
  size?: number | undefined
  ratio?: number | undefined
  key?: string | undefined
  error?: ClampRuleRefusedError | undefined
  owed?: true | undefined
}

/**
 * The alone table of a Safe: its entries by lower-case sub-account id, and `outage`, the last block a plan built from
 * the table (its size no larger than one accepted after the same ambiguous answer) was answered alike: the bundler's
 * outage, so for ALONE_FACT_BLOCKS blocks an ambiguous answer alone is written as nothing (review rr11y Y4, rr11x X3).
 */
export type AloneTable = { facts: Map<string, AloneFact>; outage?: bigint | undefined }

/**
 * Whether a refused-alone entry is left out of the plans at `block` (its window, ALONE_FACT_BLOCKS): a `chain-rule`
 * entry is left out of every plan UP FRONT, in the ALONE_FACT_BLOCKS blocks `learned .. learned + ALONE_FACT_BLOCKS - 1`,
 * and rejoins at `learned + ALONE_FACT_BLOCKS` (reviews rr11m M4, rr11n N3/N5); a size entry (`gas-cap`, `gas`,
 * `paymaster`, `ambiguous`) only from the plans a narrowing builds after the full plan was refused again, so its window
 * starts with the plan sent after it was learned: `learned .. learned + ALONE_FACT_BLOCKS` (reviews rr11x, rr11y).
 *
 * @returns true while the entry is refused and within its window.
 */
export function aloneFactLeftOut(f: AloneFact, block: bigint): boolean {
  return f.verdict === "refused" && block >= f.block && block - f.block < ALONE_FACT_BLOCKS + (f.cause === "chain-rule" ? 0n : 1n)
}

/**
 * The one forget rule of the alone table: why entry `f` is dropped at `block`, else undefined. `band`: its sub-account's
 * band now (undefined: gone from the Safe); `broken`: its read failed; `lowest`: the Safe's most urgent
 * `health / minHealth` now.
 * - `gone`: not accepted, and its sub-account is back in its band, unread or gone (an accepted entry is the Safe's: the
 *   answer is the plans' size, and outlives its sub-account's rescue);
 * - `expired`: learned after `block` (a reorg), a `chain-rule` entry out of its window ({@link aloneFactLeftOut}: it
 *   rejoins the plans), another refused entry neither named nor tried for ALONE_FACT_BLOCKS blocks (`seen`), an accepted
 *   or unconfirmed one learned more than ALONE_FACT_BLOCKS blocks ago;
 * - `state`: refused for the gas prefund / budget / a cap at a higher most-urgent ratio than `lowest` (review rr11v V3).
 *
 * @returns `gone`, `expired`, `state`, or undefined (kept).
 */
export function aloneFactForgotten(f: AloneFact, { block, band, broken, lowest }: { block: bigint; band: string | undefined; broken: boolean; lowest: number }): "gone" | "expired" | "state" | undefined {
  if (f.verdict !== "accepted" && (band === undefined || band === "inside" || broken)) return "gone"
  if (block < f.block) return "expired"
  if (f.cause === "chain-rule") return aloneFactLeftOut(f, block) ? undefined : "expired"
  if (f.verdict === "refused" ? block - f.seen > ALONE_FACT_BLOCKS : block - f.block > ALONE_FACT_BLOCKS) return "expired"
  if (f.verdict === "refused" && f.cause !== "ambiguous" && f.ratio !== undefined && lowest < f.ratio) return "state"
  return undefined
}

/**
 * The alone table read back from the state file after a restart, at the first step's `block`: its entries older than
 * their window dropped by the one forget rule ({@link aloneFactForgotten}, `expired`; the band, reads and ratio are
 * judged by the step's own prune), and `outage` when older than ALONE_FACT_BLOCKS.
 *
 * @returns The table, or undefined when nothing is left.
 */
export function restoreAloneTable(t: AloneTable | undefined, block: bigint): AloneTable | undefined {
  if (t === undefined || !(t.facts instanceof Map)) return undefined
  for (const [id, f] of t.facts) if (aloneFactForgotten(f, { block, band: "below", broken: false, lowest: Number.POSITIVE_INFINITY }) !== undefined) t.facts.delete(id)
  const outage = t.outage !== undefined && block >= t.outage && block - t.outage <= ALONE_FACT_BLOCKS ? t.outage : undefined
  return t.facts.size === 0 && outage === undefined ? undefined : { facts: t.facts, outage }
}

/**
 * The failure remembered in `slot` when it was seen at most `within` blocks before `block` (and not after it), else
 * undefined; an older (or later) one is dropped from the memory.
 *
 * @returns The remembered failure (`key`, `block`), or undefined.
 */
export function recentFailure(rt: SafeRuntime, slot: string, block: bigint, within: bigint): RecentFailure | undefined {
  const seen = rt.recentFailures?.get(slot)
  if (seen === undefined) return undefined
  if (block < seen.block || block - seen.block > within) {
    rt.recentFailures?.delete(slot)
    return undefined
  }
  return seen
}

/** Remembers `key` in `slot` as seen at `block` (replacing what the slot held); with `key` undefined, empties the slot. */
export function rememberFailure(rt: SafeRuntime, slot: string, key: string | undefined, block: bigint): void {
  if (key === undefined) rt.recentFailures?.delete(slot)
  else (rt.recentFailures ??= new Map()).set(slot, { key, block })
}

export function newSafeRuntime(config: KeeperSafeConfig): SafeRuntime {
  return { config, account: undefined, busy: false, failures: 0, backoffUntil: 0, triggerBlock: undefined, triggerAt: 0, volatility: new Map(), trend: new Map(), bandPaper: new BandRulePaper(), loggedSigma: new Map(), unreadable: new Set(), degraded: new Set(), venues: new Map() }
}

/**
 * Exponential backoff after a failure: `min(retry.maxMs, retry.baseMs x 2^(failures-1))`.
 *
 * @returns The delay in milliseconds (the Safe is skipped until `now + delay`).
 */
export function backoff(rt: SafeRuntime, retry: { baseMs: number; maxMs: number }, now: number): number {
  rt.failures += 1
  const delay = Math.min(retry.maxMs, retry.baseMs * 2 ** (rt.failures - 1))
  rt.backoffUntil = now + delay
  return delay
}
