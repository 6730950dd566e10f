import {
  GasFieldAboveCapError,
  PaymasterRefusedError,
  PaymasterTokenChargeError,
  PaymasterUnavailableError,
  PaymasterValidationFailedError,
  PendingOperationFailedError,
  ReadFailedError,
  SelfPayBudgetExceededError,
  UnconfirmedUserOperationError,
  UserOperationInFlightError,
  firstInCauseChain,
  getTransportFailure,
  someInCauseChain,
} from "@levpilot/sdk/errors"
import { BaseError, HttpRequestError } from "viem"
import { LogReadError } from "./logWindow.js"

/** The cause-chain walk lives in the SDK (one walk, cycle-safe); re-exported for the keeper's modules and tests. */
export { MAX_CAUSE_DEPTH, firstInCauseChain, someInCauseChain } from "@levpilot/sdk/errors"
import { ALONE_FACT_BLOCKS } from "./runtime.js"
import { StateFileLockedError } from "./stateFile.js"
import { StoreFencedError, StoreUnavailableError } from "./store.js"

/**
 * The first error of class `type` in `error`'s cause chain, `error` itself first ({@link firstInCauseChain}: viem's and
 * plain `Error` causes), or undefined. One walk for the keeper's checks of what a failure carries (the sender's
 * paymaster / in-flight / deferral checks, the step's venue refusal).
 *
 * @example findInCauseChain(error, VenueRefusedError)?.errorName // "RESERVE_PAUSED"
 */
export function findInCauseChain<T extends Error>(error: unknown, type: abstract new (...args: never[]) => T): T | undefined {
  return firstInCauseChain(error, (e) => e instanceof type) as T | undefined
}

/** JSON-RPC error code of a rate limit ("limit exceeded", EIP-1474; viem's `LimitExceededRpcError`). */
export const RATE_LIMIT_RPC_CODE = -32005

/**
 * Whether `error` is the node's (or the bundler's endpoint's) failure, not the plan's: a transport failure
 * (`getTransportFailure`: HTTP 5xx without a JSON-RPC error body, no status, a timeout; an HTTP error reply whose body is
 * a JSON-RPC error is judged by its status and body, {@link isTransientAnswer}, reviews rr11s S2 / rr11t T2), a transient answer viem itself retries anywhere in the cause
 * chain ({@link isTransientAnswer}: HTTP 403 / 408 / 429, JSON-RPC -32005 / -32007 / 429 / -1; review rr11r R1), a read that failed in its multicall (`ReadFailedError` in the cause chain), or an `eth_getLogs` the node
 * refused (`LogReadError`). One classification for `run`'s `rpc-error` alert and the isolation's blame (review rr11q
 * Q1: a one-sub-account probe failing this way was blamed on the sub-account): such a failure ends the step as the
 * node's, with no blame and nothing remembered.
 */
export function isNodeFailure(error: unknown): boolean {
  if (findInCauseChain(error, LogReadError) !== undefined || findInCauseChain(error, ReadFailedError) !== undefined) return true
  // An HTTP error reply carrying a JSON-RPC error body is judged by its status and that body (reviews rr11s S2, rr11t T2).
  const answered = firstInCauseChain(error, (e) => e instanceof HttpRequestError && jsonRpcErrorBodyOf(e) !== undefined)
  if (answered !== undefined) return isTransientAnswer(answered)
  if (getTransportFailure(error) !== undefined) return true
  return someInCauseChain(error, isTransientAnswer)
}

/**
 * What a failure that belongs to the whole Safe, not to any plan or sub-account, is about (review rr11q Q1's residual):
 * `paymaster` (the sponsoring paymaster refused: ERC-7677 `PaymasterRefusedError`, its validation AA33
 * `PaymasterValidationFailedError`, any AA3x such as AA31 "paymaster deposit too low", or self-pay not allowed after
 * it), `paymaster-unavailable` (it did not answer), `gas` (the Safe cannot pay its own gas: AA21 "didn't pay prefund",
 * "insufficient funds for gas", its self-pay budget), `nonce` (AA25 / an invalid account nonce, another pending
 * operation's AA25 at estimation, the keeper's nonce not the chain's), `fee` (the bundler's fee floor above the fee the
 * Safe's caps allow, worded with no AA code: Alto's "maxFeePerGas must be at least X (current maxFeePerGas: Y)", a
 * "replacement underpriced", a gas price or priority fee "too low"; review rr11s S3: it was blamed on each sub-account),
 * `gas-cap` (a gas limit of the operation above the Safe's own per-operation cap, `GasFieldAboveCapError` for
 * callGasLimit, verificationGasLimit, preVerificationGas or the paymaster's two gas limits: the module refuses it in
 * validation, `GasFieldAboveCap`; review rr11w W1: it was isolated as an unnamed failure and no rescue landed),
 * `bundler-search` (only in an alert naming a sub-account whose plan alone the bundler answered with its ambiguous 500,
 * Alto's "Max retries reached" of its gas search, twice: the bundler's answer, not the Safe's gas; review rr11z Z4; never
 * returned by {@link safeWideFailureOf}).
 */
export type SafeWideCause = "paymaster" | "paymaster-unavailable" | "gas" | "gas-cap" | "nonce" | "fee" | "bundler-search"

/** The bundler's (EntryPoint's) codes and texts of each Safe-wide cause, matched in any message of the cause chain. */
const SAFE_WIDE_TEXT: readonly [SafeWideCause, RegExp][] = [
  ["paymaster", /\bAA3\d\b/],
  ["gas", /\bAA21\b|didn't pay prefund|insufficient funds for gas/i],
  ["nonce", /\bAA25\b|invalid account nonce/i],
  // The bundler's fee floor (Alto preMempoolChecks, Skandha / Voltaire / Rundler wordings): no AA code, the same for any
  // plan of the Safe at this fee (issue 11 item 4: the sender alerts gas-cap-below-market with both numbers).
  ["fee", /\b(maxFeePerGas|maxPriorityFeePerGas|max fee per gas|max priority fee per gas|priority fee|gas price|fee)\b[^.]{0,40}\b(must be at least|too low|below (the )?(minimum|required|base fee))|\bunderpriced\b/i],
]

/**
 * Whether `error` is a failure of the whole Safe ({@link SafeWideCause}): the same for any plan of the Safe, so no
 * sub-account may be blamed for it (an isolation probe of one sub-account would otherwise remember it as refused alone
 * while the cause is the Safe's paymaster, gas or nonce).
 *
 * @returns The cause and the failure's first line, or undefined.
 */
export function safeWideFailureOf(error: unknown): { cause: SafeWideCause; reason: string } | undefined {
  const first = (e: unknown) => (e instanceof BaseError ? e.shortMessage : e instanceof Error ? (e.message.split("\n")[0] ?? "") : String(e))
  // The paymaster's pre-charge leaving the plan short is the plan's (it spends the token): `run` plans again without it.
  if (findInCauseChain(error, PaymasterTokenChargeError) !== undefined) return undefined
  const unanswered = findInCauseChain(error, PaymasterUnavailableError)
  if (unanswered) return { cause: "paymaster-unavailable", reason: first(unanswered) }
  const named: [SafeWideCause, Error | undefined][] = [
    ["paymaster", findInCauseChain(error, PaymasterRefusedError) ?? findInCauseChain(error, PaymasterValidationFailedError) ?? findInCauseChain(error, SelfPayNotAllowedError)],
    ["gas", findInCauseChain(error, SelfPayBudgetExceededError)],
    ["gas-cap", gasLimitAboveCapOf(error)],
    ["nonce", findInCauseChain(error, PendingOperationFailedError) ?? findInCauseChain(error, UserOperationInFlightError) ?? findInCauseChain(error, NonceMismatchError)],
  ]
  for (const [cause, found] of named) if (found !== undefined) return { cause, reason: `${first(found)}${found instanceof PaymasterRefusedError || found instanceof PaymasterValidationFailedError ? ` (${found.reason})` : ""}` }
  const text = (e: unknown) => (e instanceof BaseError ? `${e.shortMessage} ${e.details ?? ""}` : e instanceof Error ? e.message : undefined)
  for (const [cause, pattern] of SAFE_WIDE_TEXT) {
    const found = text(firstInCauseChain(error, (e) => pattern.test(text(e) ?? "")))
    if (found !== undefined) return { cause, reason: found.trim().slice(0, 300) }
  }
  return undefined
}

/** The gas LIMIT fields of `GasFieldAboveCapError` (not the fee fields): a Safe-wide `gas-cap` failure. */
const GAS_LIMIT_FIELDS: ReadonlySet<string> = new Set(["callGasLimit", "verificationGasLimit", "preVerificationGas", "paymasterVerificationGasLimit", "paymasterPostOpGasLimit"])
/** The fields whose need grows with the plan (each sub-account's actions, its calldata): a smaller plan may fit. */
const SIZE_GAS_FIELDS: ReadonlySet<string> = new Set(["callGasLimit", "verificationGasLimit", "preVerificationGas"])

/**
 * The first `GasFieldAboveCapError` of `error`'s cause chain naming a gas LIMIT field (callGasLimit,
 * verificationGasLimit, preVerificationGas, paymasterVerificationGasLimit, paymasterPostOpGasLimit; gas units), or
 * undefined (a fee field above its cap is the fee's, not the plan's size).
 */
export function gasLimitAboveCapOf(error: unknown): GasFieldAboveCapError | undefined {
  const found = findInCauseChain(error, GasFieldAboveCapError)
  return found !== undefined && GAS_LIMIT_FIELDS.has(found.field) ? found : undefined
}

/**
 * How many of a refused plan's `size` sub-accounts may fit the Safe's cap named by a `gas-cap` failure of a field that
 * grows with the plan (`SIZE_GAS_FIELDS`), assuming gas grows in proportion: floor(size x cap / value), at least 1 and
 * at most size - 1; undefined for any other failure (the caller halves). Exact integers (gas units).
 *
 * @example fittingSize(new GasFieldAboveCapError({ field: "callGasLimit", value: 3_200_000n, cap: 1_400_000n }), 8) // 3
 */
export function fittingSize(error: unknown, size: number): number | undefined {
  const found = gasLimitAboveCapOf(error)
  if (found === undefined || !SIZE_GAS_FIELDS.has(found.field) || found.value <= 0n || size < 2) return undefined
  const fit = Number((BigInt(size) * found.cap) / found.value)
  return Math.min(size - 1, Math.max(1, fit))
}

/**
 * Whether a Safe-wide failure ({@link safeWideFailureOf}) may depend on the plan's size, so that a smaller plan of the
 * same Safe may fit (review rr11s S1): `gas` (the prefund AA21 and the self-pay budget's charge are both
 * (sum of the operation's gas limits) x maxFeePerGas, and a plan of k sub-accounts has about k times the gas of a plan
 * of one) and `paymaster` (an ERC-7677 sponsor's per-operation gas or cost cap, AA31 a deposit below the operation's
 * maximum cost, an ERC-20 paymaster's allowance below its charge), except self-pay not allowed. A sponsor refusing the
 * Safe outright cannot be told from its cap by its wording, so it is found by the narrowing itself: its plan of one is
 * refused alike and alerted as before. `gas-cap` for callGasLimit, verificationGasLimit and preVerificationGas (the
 * Safe's per-operation caps; each sub-account adds actions and calldata; review rr11w W1), not the paymaster's two gas
 * limits (the paymaster's own, not the plan's). `nonce`, `paymaster-unavailable` and `fee` do not depend on the plan.
 */
export function isSizeDependentSafeWide(error: unknown): boolean {
  if (isNodeFailure(error)) return false
  const wide = safeWideFailureOf(error)
  if (wide === undefined) return false
  if (wide.cause === "gas") return true
  if (wide.cause === "gas-cap") return SIZE_GAS_FIELDS.has(gasLimitAboveCapOf(error)?.field ?? "")
  return wide.cause === "paymaster" && findInCauseChain(error, SelfPayNotAllowedError) === undefined
}

/**
 * The store's failure that ends a step with nothing sent and blames no plan, found in `error`'s cause chain: the shared
 * store could not run the write of the in-flight record (`StoreUnavailableError`: `state-store-unavailable`, once per
 * run of the Safe) or another keeper holds the state file (`StateFileLockedError`: `state-file-locked`, once per run of
 * the keeper); undefined for any other failure.
 */
export function storeHaltOf(error: unknown): { kind: "state-store-unavailable"; error: StoreUnavailableError } | { kind: "state-file-locked"; error: StateFileLockedError } | undefined {
  const unavailable = findInCauseChain(error, StoreUnavailableError)
  if (unavailable) return { kind: "state-store-unavailable", error: unavailable }
  const locked = findInCauseChain(error, StateFileLockedError)
  return locked ? { kind: "state-file-locked", error: locked } : undefined
}

/**
 * Why a failed step is not its plan's fault (nor any of its sub-accounts'), or undefined when it may be: `fenced` (this
 * worker's store write was fenced, `StoreFencedError`: it lost the Safe's lease), `store` (the store could not write
 * the in-flight record, `StoreUnavailableError`: the fleet's Redis unreachable, review rr11zd D1; or refused it,
 * `StateFileLockedError`: another keeper holds the state file, review rr11zf F3), `paymaster-charge` (a token
 * paymaster's pre-charge left the plan short, `PaymasterTokenChargeError`: `run` plans again with it kept aside), `node`
 * ({@link isNodeFailure}), `safe-wide` ({@link safeWideFailureOf}), `unusable-answer` ({@link isUnusableAnswer}),
 * `unconfirmed` (an `UnconfirmedUserOperationError`: the send's answer was unusable, the operation may be in flight). The one guard of the step's refusal isolation (a
 * probe, a re-test alone, a turn plan's fall-through, a plan of several sub-accounts isolated for an unnamed failure):
 * such a failure ends the step before any sub-account is blamed, and `run` alerts it as the node's (`rpc-error`), the
 * Safe's (`paymaster-refused`, `paymaster-unavailable`, `send-failed` naming the cause), the store's
 * (`state-store-unavailable` once per run of the Safe, `state-file-locked` once per run of the keeper) or not at all
 * (fenced).
 */
export function notThePlansFailure(error: unknown): "fenced" | "store" | "unconfirmed" | "paymaster-charge" | "node" | "safe-wide" | "unusable-answer" | undefined {
  if (findInCauseChain(error, StoreFencedError) !== undefined) return "fenced"
  if (storeHaltOf(error) !== undefined) return "store"
  // The send reached the bundler and its answer was unusable: the operation may be in its mempool (tracked by nonce).
  // Never a reason to probe or send another plan (test/keeper.adversarial.test.ts: the isolation of this "unnamed"
  // failure sent a second operation beside the one that landed).
  if (findInCauseChain(error, UnconfirmedUserOperationError) !== undefined) return "unconfirmed"
  if (findInCauseChain(error, PaymasterTokenChargeError) !== undefined) return "paymaster-charge"
  if (isNodeFailure(error)) return "node"
  if (safeWideFailureOf(error) !== undefined) return "safe-wide"
  if (isUnusableAnswer(error)) return "unusable-answer"
  return undefined
}

/**
 * Whether a JavaScript `TypeError`, `SyntaxError` or `RangeError` is in `error`'s cause chain: an answer of the node or
 * the bundler that could not be used (a result of the wrong shape or not hex, e.g. "Cannot mix BigInt and other types",
 * a truncated body), not a refusal of the plan by the chain's simulation. Such a failure blames no sub-account (it is
 * `notThePlansFailure`): test/keeper.adversarial.test.ts "garbage from the RPC and the bundler" saw the isolation of
 * an unnamed failure (f11w) blame one sub-account for a garbage answer, and two operations land where one rescues both.
 */
export function isUnusableAnswer(error: unknown): boolean {
  return someInCauseChain(error, (e) => e instanceof TypeError || e instanceof SyntaxError || e instanceof RangeError)
}

export type SafeWideFailureErrorType = SafeWideFailureError & { name: "SafeWideFailureError" }
/**
 * A plan's send failed for a reason of the whole Safe ({@link safeWideFailureOf}: its paymaster, its gas prefund, its
 * nonce), not for any of its sub-accounts: nothing was sent and no sub-account is blamed or left out; the keeper
 * alerts and plans again after its backoff.
 */
export class SafeWideFailureError extends BaseError {
  /** The Safe-wide cause. */
  safeWide: SafeWideCause
  /** The failure's own words (the paymaster's reason, the bundler's AA code and text): the alert's `reason`. */
  reason: string
  constructor({ safe, cause, reason, subAccounts, error }: { safe: string; cause: SafeWideCause; reason: string; subAccounts?: readonly string[] | undefined; error: unknown }) {
    const what = { paymaster: "the paymaster refused", "paymaster-unavailable": "the paymaster did not answer", gas: "the Safe cannot pay its gas", "gas-cap": "a gas limit is above the Safe's own cap (raise it with setAutomationConfig)", nonce: "the Safe's keeper nonce was refused", fee: "the bundler's fee floor is above the Safe's fee caps", "bundler-search": "the bundler's search failed" }[cause]
    super(`Safe-wide failure, not any sub-account's: ${what}: ${reason}; nothing was sent and no sub-account is blamed.`, {
      cause: error instanceof Error ? error : undefined,
      metaMessages: [`Safe: ${safe}`, `Cause: ${cause}`, ...(subAccounts !== undefined ? [`Plan's sub-accounts: ${subAccounts.join(", ")}`] : []), "The keeper plans again after its backoff."],
      name: "SafeWideFailureError",
    })
    this.safeWide = cause
    this.reason = reason
  }
}

export type KeeperConfigErrorType = KeeperConfigError & { name: "KeeperConfigError" }
/** The keeper configuration is missing a field or has a wrong value; `field` is its JSON path (e.g. `safes[0].address`). */
export class KeeperConfigError extends BaseError {
  field: string
  constructor({ field, reason, source }: { field: string; reason: string; source?: string | undefined }) {
    super(`Invalid keeper configuration: "${field}" ${reason}`, {
      metaMessages: [...(source ? [`File: ${source}`] : []), `Field: ${field}`, "See `levpilot keeper --help` for every field."],
      name: "KeeperConfigError",
    })
    this.field = field
  }
}

export type RpcUnreachableErrorType = RpcUnreachableError & { name: "RpcUnreachableError" }
/**
 * The node at the configuration's `rpcUrl` did not answer `eth_chainId` when the keeper or `levpilot status` started
 * (not running, a wrong URL or port, or not a JSON-RPC endpoint). `origin` is the URL's scheme, host and port only:
 * a hosted RPC's API key, usually in the path, is not repeated; the cause keeps viem's error.
 */
export class RpcUnreachableError extends BaseError {
  origin: string
  constructor({ url, cause }: { url: string; cause?: Error | undefined }) {
    let origin = "(not a URL)"
    try {
      origin = new URL(url).origin
    } catch {}
    super(`The node at "rpcUrl" (${origin}) did not answer eth_chainId: is it running, and are the URL and port right?`, {
      cause,
      metaMessages: ["Field: rpcUrl", "Nothing was read or sent."],
      name: "RpcUnreachableError",
    })
    this.origin = origin
  }
}

export type SelfPayNotAllowedErrorType = SelfPayNotAllowedError & { name: "SelfPayNotAllowedError" }
/** The paymaster refused and the keeper may not fall back to the Safe paying its own gas. */
export class SelfPayNotAllowedError extends BaseError {
  constructor({ safe, reason, cause }: { safe: string; reason: string; cause?: Error | undefined }) {
    // A paymaster that did not answer is not a refusal (the alert's kind is paymaster-unavailable): the message says so.
    const unanswered = someInCauseChain(cause, (e) => e instanceof Error && e.name === "PaymasterUnavailableError")
    super(`The paymaster ${unanswered ? "did not answer" : "refused"} and self-pay is not allowed for this Safe.`, {
      cause,
      metaMessages: [`Safe: ${safe}`, `Why self-pay is off: ${reason}`, "Nothing was sent; the keeper alerts and retries on the next block."],
      name: "SelfPayNotAllowedError",
    })
  }
}

export type DemoUnavailableErrorType = DemoUnavailableError & { name: "DemoUnavailableError" }
/** `levpilot start` ran from an installed package: the devnet demo needs the repository. */
export class DemoUnavailableError extends BaseError {
  constructor({ cause }: { cause?: Error | undefined } = {}) {
    super("levpilot start runs the local devnet demo, which needs the leverage-autopilot repository.", {
      cause,
      metaMessages: [
        "The devnet (anvil, Alto, the forge-built LeverageModule, Morpho Blue, paymasters) is the repository's private",
        "@levpilot/devnet workspace and is not part of the published levpilot package. Clone the repository, then:",
        "  npm ci && npm start",
        "The installed package runs `keeper`, `status` and `backtest` against any chain.",
      ],
      name: "DemoUnavailableError",
    })
  }
}

export type GasCapBelowMarketErrorType = GasCapBelowMarketError & { name: "GasCapBelowMarketError" }
/** The bundler's fees are above the Safe's on-chain fee caps (`AutomationConfig`); the keeper sends at the caps. */
export class GasCapBelowMarketError extends BaseError {
  market: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }
  caps: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }
  constructor({ safe, market, caps, message }: { safe: string; market: GasCapBelowMarketError["market"]; caps: GasCapBelowMarketError["caps"]; message: string }) {
    super(message, {
      metaMessages: [
        `Safe: ${safe}`,
        `Market: maxFeePerGas ${market.maxFeePerGas} wei, maxPriorityFeePerGas ${market.maxPriorityFeePerGas} wei`,
        `Safe's caps: maxFeePerGas ${caps.maxFeePerGas} wei, maxPriorityFeePerGas ${caps.maxPriorityFeePerGas} wei`,
      ],
      name: "GasCapBelowMarketError",
    })
    this.market = market
    this.caps = caps
  }
}

export type ReplacementBlockedByCapsErrorType = ReplacementBlockedByCapsError & { name: "ReplacementBlockedByCapsError" }
/**
 * A same-nonce replacement of the keeper's operation in flight cannot clear the bundler's replacement rule (both fees
 * +10%, `replacementMinimum`) within the Safe's fee caps: the operation already sent is priced at (or near) the caps.
 * The keeper resends at the caps (taken only if the bundler dropped the first); the stuck operation lands only when
 * fees fall to it, or once the caps are raised (`setAutomationConfig`).
 */
export class ReplacementBlockedByCapsError extends BaseError {
  nonce: bigint
  previous: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }
  need: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }
  caps: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }
  constructor({ safe, nonce, previous, need, caps }: { safe: string; nonce: bigint; previous: ReplacementBlockedByCapsError["previous"]; need: ReplacementBlockedByCapsError["need"]; caps: ReplacementBlockedByCapsError["caps"] }) {
    const short = [
      need.maxFeePerGas > caps.maxFeePerGas ? `maxFeePerGas >= ${need.maxFeePerGas} wei > cap ${caps.maxFeePerGas} wei` : undefined,
      need.maxPriorityFeePerGas > caps.maxPriorityFeePerGas || need.maxPriorityFeePerGas > caps.maxFeePerGas ? `maxPriorityFeePerGas >= ${need.maxPriorityFeePerGas} wei > cap ${caps.maxPriorityFeePerGas < caps.maxFeePerGas ? caps.maxPriorityFeePerGas : caps.maxFeePerGas} wei` : undefined,
    ].filter((x) => x !== undefined)
    super(`The operation in flight at nonce ${nonce} cannot be replaced within the Safe's fee caps: the bundler needs ${short.join(" and ")}; it waits for fees to fall to it (raise the caps with setAutomationConfig).`, {
      metaMessages: [
        `Safe: ${safe}`,
        `Nonce: ${nonce}`,
        `In flight: maxFeePerGas ${previous.maxFeePerGas} wei, maxPriorityFeePerGas ${previous.maxPriorityFeePerGas} wei`,
        `Replacement needs: maxFeePerGas ${need.maxFeePerGas} wei, maxPriorityFeePerGas ${need.maxPriorityFeePerGas} wei`,
        `Safe's caps: maxFeePerGas ${caps.maxFeePerGas} wei, maxPriorityFeePerGas ${caps.maxPriorityFeePerGas} wei`,
      ],
      name: "ReplacementBlockedByCapsError",
    })
    this.nonce = nonce
    this.previous = previous
    this.need = need
    this.caps = caps
  }
}

export type NonceMismatchErrorType = NonceMismatchError & { name: "NonceMismatchError" }
/** The keeper's operation uses a nonce other than the chain's (EntryPoint `getNonce` on the keeper nonce key). */
export class NonceMismatchError extends BaseError {
  nonce: bigint
  chainNonce: bigint
  constructor({ safe, nonce, chainNonce, cause }: { safe: string; nonce: bigint; chainNonce: bigint; cause?: Error | undefined }) {
    super(`The keeper's nonce ${nonce} is not the chain's ${chainNonce}${chainNonce > nonce ? " (already used)" : " (ahead of the chain)"}.`, {
      cause,
      metaMessages: [`Safe: ${safe}`, `Operation nonce: ${nonce}`, `EntryPoint nonce: ${chainNonce}`, "The keeper drops its record and continues from the chain's nonce."],
      name: "NonceMismatchError",
    })
    this.nonce = nonce
    this.chainNonce = chainNonce
  }
}

export type InclusionEventUnreadableErrorType = InclusionEventUnreadableError & { name: "InclusionEventUnreadableError" }
/**
 * The operation at `nonce` landed (the chain's nonce is past it) but the node refused to serve its `UserOperationEvent`
 * (`eth_getLogs`) at `failures` steps in a row (a node pruning old receipts, a provider serving recent logs only; review
 * rr11q Q4): its success flag is unknown. The keeper clears the record (the nonce slot is free) and manages the Safe
 * again; check the outcome on an archive node or an explorer.
 */
export class InclusionEventUnreadableError extends BaseError {
  nonce: bigint
  chainNonce: bigint
  failures: number
  constructor({ safe, nonce, chainNonce, failures, cause }: { safe: string; nonce: bigint; chainNonce: bigint; failures: number; cause: Error }) {
    const reason = cause instanceof BaseError ? cause.shortMessage : cause.message.split("\n")[0]
    super(`The operation at nonce ${nonce} landed (the chain's nonce is ${chainNonce}) but its UserOperationEvent could not be read at ${failures} steps in a row: ${reason}`, {
      cause,
      metaMessages: [`Safe: ${safe}`, `Operation nonce: ${nonce}`, "Its outcome (success or revert) is unknown: check it on an archive node or an explorer.", "The keeper clears its record and manages the Safe again."],
      name: "InclusionEventUnreadableError",
    })
    this.nonce = nonce
    this.chainNonce = chainNonce
    this.failures = failures
  }
}

export type OperationStalledErrorType = OperationStalledError & { name: "OperationStalledError" }
/** The operation in flight has not landed for `blocks` blocks while the chain's nonce stayed put. */
export class OperationStalledError extends BaseError {
  constructor({ safe, nonce, blocks, attempts }: { safe: string; nonce: bigint; blocks: bigint; attempts: number }) {
    super(`The operation at nonce ${nonce} has not landed after ${blocks} blocks and ${attempts} sends.`, {
      metaMessages: [
        `Safe: ${safe}`,
        "The bundler keeps answering that an operation at this nonce is in flight, or drops it. The keeper keeps",
        "resubmitting (fees bumped up to the Safe's caps); check the bundler's mempool and the Safe's caps.",
      ],
      name: "OperationStalledError",
    })
  }
}

export type OperationRevertedErrorType = OperationRevertedError & { name: "OperationRevertedError" }
/**
 * The Safe's operation was included but reverted on chain (its gas paid, nothing done): `count` reverted inclusions in a
 * row, `revert` the decoded reason when known. Raised on the first of a run, then at most once per
 * REVERTED_REALERT_BLOCKS while the run lasts (review rr11n N4: a swap rescue reverting at every inclusion was a warn line
 * and a counter only).
 */
export class OperationRevertedError extends BaseError {
  count: number
  constructor({ safe, nonce, block, count, revert }: { safe: string; nonce: bigint; block: bigint; count: number; revert?: string | undefined }) {
    super(`The operation at nonce ${nonce} was included at block ${block} but reverted${revert ? ` (${revert})` : ""}; ${count} reverted inclusion${count === 1 ? "" : "s"} in a row.`, {
      metaMessages: [`Safe: ${safe}`, "The keeper plans again from fresh reads; a rescue that keeps reverting is not protecting its sub-account."],
      name: "OperationRevertedError",
    })
    this.count = count
  }
}

export type SubAccountUnreadableErrorType = SubAccountUnreadableError & { name: "SubAccountUnreadableError" }
/**
 * One sub-account cannot be planned for: its state could not be read (its oracle or venue reverted), or its oracle fails
 * the module's `check` (OracleStale, OraclePriceZero, ...: every plan listing it would revert); the others are still
 * managed.
 */
export class SubAccountUnreadableError extends BaseError {
  constructor({ safe, subAccount, venue, check, cause }: { safe: string; subAccount: string; venue?: string | undefined; check?: string | undefined; cause?: Error | undefined }) {
    const why = check ? `cannot be planned for: its oracle fails the module's ${check} check` : "cannot be read (its price feed or venue reverted)"
    super(`Sub-account ${subAccount}${venue ? ` (${venue})` : ""} ${why}; managing the Safe's other sub-accounts.`, {
      cause,
      metaMessages: [`Safe: ${safe}`, `Sub-account: ${subAccount}`, ...(venue ? [`Venue: ${venue}`] : []), ...(check ? [`Check: ${check}`] : [])],
      name: "SubAccountUnreadableError",
    })
  }
}

export type NothingToSendErrorType = NothingToSendError & { name: "NothingToSendError" }
/** One `Bound: ...` line per bound that cut the plan (the `binding` of `clampPlanToChainBounds`), for metaMessages. */
function boundLines(binding: NothingToSendError["binding"]): string[] {
  return binding.map((b) => `Bound: ${b.bound} cuts action ${b.index} (${b.kind}${b.pool ? ` ${b.pool}` : ""}) of sub-account ${b.subAccount} from ${b.asked} to ${b.allowed}`)
}

/**
 * The solver's plan keeps nothing material once its amounts are clamped to the chain's bounds (a borrow the market
 * cannot lend, a pool with nothing to withdraw, ...): nothing is sent. `binding` lists the bounds that cut it.
 */
export class NothingToSendError extends BaseError {
  binding: readonly { bound: string; index: number; kind: string; subAccount: string; pool?: string | undefined; asked: bigint; allowed: bigint }[]
  constructor({ safe, binding }: { safe: string; binding: NothingToSendError["binding"] }) {
    const first = binding[0]
    super(`Nothing to send after clamping to chain bounds${first ? `: ${first.bound} of sub-account ${first.subAccount} allows ${first.allowed} where the plan asks ${first.asked}` : ""}.`, {
      metaMessages: [
        `Safe: ${safe}`,
        ...boundLines(binding),
        "Nothing was sent; the keeper plans again at the next block.",
      ],
      name: "NothingToSendError",
    })
    this.binding = binding
  }
}

export type ClampRuleRefusedErrorType = ClampRuleRefusedError & { name: "ClampRuleRefusedError" }
/**
 * The plan clamped to the chain's bounds is one the rule book refuses (the SDK's `checkRebalanceRules`, the module's
 * rules, on the state the bounds were read from) and no repair passes (review rr11e E1: `clampPlanToChainBounds` with a
 * judge): nothing is sent, the keeper plans again at the next block. `rule` is the module error's name (e.g.
 * `ValueLossExceeded`, `HealthOutsideLandingZone`), `args` its arguments (base units, WAD health, bps).
 */
export class ClampRuleRefusedError extends BaseError {
  /** The Safe whose plan was refused. */
  safe: string
  rule: string
  args: readonly unknown[]
  /** The plan's sub-account (lower case) the refusal names, if any: the keeper plans again without it (review rr11f F3). */
  subAccount: string | undefined
  /**
   * `judge`: the rule book refused (default); `simulation`: the chain's simulation refused plan-wide (naming no
   * sub-account: a loss-class error such as `ValueLossExceeded`) a plan of this sub-account ALONE, found by
   * `isolateRefusals` (issue 11 item 9; reviews rr11j J1, rr11k K1/K2, rr11l); `undecided`: the simulation refused
   * plan-wide every plan listing it that was tried, and whether its own plan is refused could not be decided in this step
   * (`detail`: the step's simulation budget spent, or no plan without the sub-accounts left out, e.g. its donor).
   */
  stage: "judge" | "simulation" | "undecided"
  /** Why an `undecided` sub-account could not be isolated. */
  detail: string | undefined
  constructor({ safe, rule, args, binding, subAccount, stage = "judge", detail }: { safe: string; rule: string; args: readonly unknown[]; binding: NothingToSendError["binding"]; subAccount?: string | undefined; stage?: "judge" | "simulation" | "undecided" | undefined; detail?: string | undefined }) {
    super(
      stage === "simulation"
        ? `Nothing to send for ${subAccount}: the chain's simulation refuses its plan alone plan-wide with ${rule}(${args.map(String).join(", ")}) in this block; it is left out and the others planned without it, for at most ${ALONE_FACT_BLOCKS} blocks (re-tested alone when nothing else is sent), then planned with the others again.`
        : stage === "undecided"
          ? `Nothing to send for ${subAccount} in this block: the chain's simulation refuses plan-wide with ${rule}(${args.map(String).join(", ")}) every plan listing it that was tried, and its own plan could not be isolated (${detail ?? "undecided"}).`
          : `Nothing to send: after clamping to chain bounds the rule book refuses the plan with ${rule}(${args.map(String).join(", ")}) and no repair passes.`,
      {
        metaMessages: [`Safe: ${safe}`, ...boundLines(binding), "Nothing was sent; the keeper plans again at the next block from fresh reads."],
        name: "ClampRuleRefusedError",
      },
    )
    this.safe = safe
    this.detail = detail
    this.stage = stage
    this.rule = rule
    this.args = args
    this.subAccount = subAccount
  }
}

export type SubAccountRefusedErrorType = SubAccountRefusedError & { name: "SubAccountRefusedError" }
/**
 * One sub-account of the Safe was left out because of what its venue or the module said about it: its read was refused
 * by its venue (`stage: "read"`, e.g. the Aave adapter's `EModeMismatch` after the owners switched e-mode), or the
 * simulation of a plan failed on its action (`stage: "plan"`, the revert naming the action's index), or the simulation refused plan-wide its
 * plan alone (`stage: "simulation"`, `isolateRefusals`), or every plan listing it tried and its own could not be isolated
 * (`stage: "undecided"`, `detail` says why; `judge`: the rule book refused it after the clamp), or it is due and its plan
 * was ranked but not reached for several steps in a row (`stage: "unreached"`: a more urgent plan sent first); the keeper plans the
 * Safe's other sub-accounts without it. `refusal`: the venue's or the module's error name (`EModeMismatch`,
 * `RESERVE_PAUSED`, `ActionFailed`).
 */
export class SubAccountRefusedError extends BaseError {
  subAccount: string
  refusal: string
  constructor({ safe, subAccount, venue, stage, refusal, detail, cause }: { safe: string; subAccount: string; venue?: string | undefined; stage: "read" | "plan" | "judge" | "simulation" | "undecided" | "unreached"; refusal: string; detail?: string | undefined; cause?: Error | undefined }) {
    const what =
      stage === "unreached"
        ? `is due but its plan was not reached (${detail ?? "a more urgent plan was sent first"}); its plan goes first at the next step`
        : stage === "read"
        ? "was refused by its venue when read"
        : stage === "judge"
          ? "is refused by the rule book after the clamp, with no repair"
          : stage === "simulation"
            ? `is left out: the chain's simulation refuses plan-wide its plan alone in this block (left out for at most ${ALONE_FACT_BLOCKS} blocks, re-tested alone when nothing else is sent, then planned with the others again)`
            : stage === "undecided"
              ? `is left out of this block: the chain's simulation refuses plan-wide every plan listing it that was tried, and its own plan could not be isolated (${detail ?? "undecided"})`
              : "made the plan's simulation fail"
    super(`Sub-account ${subAccount}${venue ? ` (${venue})` : ""} ${what}: ${refusal}; ${stage === "read" ? "managing" : "planning again for"} the Safe's other sub-accounts without it.`, {
      cause,
      metaMessages: [`Safe: ${safe}`, `Sub-account: ${subAccount}`, ...(venue ? [`Venue: ${venue}`] : []), `Refusal: ${refusal}`],
      name: "SubAccountRefusedError",
    })
    this.subAccount = subAccount
    this.refusal = refusal
  }
}

/**
 * A plan's attempt failed with an error naming none of its sub-accounts (a bundler error, a swap quote read, a module
 * revert outside the loss class): the `send-failed` / `venue-refused` alert names the plan's sub-accounts (review rr11p
 * P6 residual: the alert named neither), the cause is the failure. `fellThrough`: the plan had the turn and the next
 * ranked plan was tried in the same step (review rr11p P2); else the step ended on it.
 */
export class PlanSendFailedError extends BaseError {
  subAccounts: readonly string[]
  constructor({ safe, subAccounts, fellThrough, cause }: { safe: string; subAccounts: readonly string[]; fellThrough: boolean; cause: unknown }) {
    const why = cause instanceof BaseError ? cause.shortMessage : cause instanceof Error ? (cause.message.split("\n")[0] ?? "") : String(cause)
    super(`The plan of sub-account${subAccounts.length === 1 ? "" : "s"} ${subAccounts.join(", ")} failed: ${why}${fellThrough ? "; the next ranked plan was tried in this block" : ""}`, {
      cause: cause instanceof Error ? cause : undefined,
      metaMessages: [`Safe: ${safe}`, `Sub-accounts: ${subAccounts.join(", ")}`],
      name: "PlanSendFailedError",
    })
    this.subAccounts = subAccounts
  }
}

export type AaveDustCollateralErrorType = AaveDustCollateralError & { name: "AaveDustCollateralError" }
/**
 * The Safe's Aave account uses as collateral reserves outside its sub-accounts' collateral assets, each worth less than
 * the dust threshold (e.g. 1 wei of an aToken anyone sent it: Aave v3.0.2 enables it as collateral on receipt). Every
 * keeper operation walks each one (Aave's `getUserAccountData`, the adapter's `_weightedCollateral`): about
 * `extraGasPerOperation` more gas, paid by the Safe. The keeper cannot switch them off; the owner can
 * (`buildAaveDustCollateralDisable` of @levpilot/sdk/utils: `Pool.setUserUseReserveAsCollateral(asset, false)` each).
 */
export class AaveDustCollateralError extends BaseError {
  reserves: readonly { asset: string; reserveId: number; balance: bigint; valueBase: bigint }[]
  extraGasPerOperation: bigint
  constructor({ safe, reserves, extraGasPerOperation }: { safe: string; reserves: AaveDustCollateralError["reserves"]; extraGasPerOperation: bigint }) {
    super(`Aave account of Safe ${safe} uses ${reserves.length} dust reserve(s) as collateral (${reserves.map((r) => r.asset).join(", ")}): about ${extraGasPerOperation} more gas per operation until the owner switches them off.`, {
      metaMessages: [
        `Safe: ${safe}`,
        ...reserves.map((r) => `Reserve ${r.asset} (id ${r.reserveId}): aToken balance ${r.balance}, value ${r.valueBase} (Aave base currency units)`),
        "Fix (owner): buildAaveDustCollateralDisable (@levpilot/sdk/utils) builds Pool.setUserUseReserveAsCollateral(asset, false) per reserve, sent from the Safe.",
      ],
      name: "AaveDustCollateralError",
    })
    this.reserves = reserves
    this.extraGasPerOperation = extraGasPerOperation
  }
}

export type KeyRevokedInFlightErrorType = KeyRevokedInFlightError & { name: "KeyRevokedInFlightError" }
/**
 * The Safe's owner revoked this keeper's key (or the key expired, review rr16b E1) while an operation of it (`nonce`,
 * unused at `block`) was in flight: it can never validate, so the keeper stops tracking it (review rr16 F5). Raised
 * once, as the `key-revoked` alert (both reasons).
 */
export class KeyRevokedInFlightError extends BaseError {
  safe: string
  nonce: bigint
  /** `revoked` (the owner revoked the key) or `expired` (its validUntil passed; review rr16b E1). */
  reason: "revoked" | "expired"
  constructor({ safe, nonce, block, reason = "revoked" }: { safe: string; nonce: bigint; block: bigint; reason?: "revoked" | "expired" | undefined }) {
    super(`The keeper's key on Safe ${safe} ${reason === "expired" ? "expired (validUntil passed)" : "was revoked"} with its operation (nonce ${nonce}) in flight and unused at block ${block}: it can no longer validate, so it is no longer tracked.`, {
      metaMessages: ["A key added back (or renewed) makes the Safe served again; its next operation takes the chain's nonce."],
      name: "KeyRevokedInFlightError",
    })
    this.safe = safe
    this.nonce = nonce
    this.reason = reason
  }
}

export type BlockNotCanonicalErrorType = BlockNotCanonicalError & { name: "BlockNotCanonicalError" }
/**
 * A read pinned to a block's hash (EIP-1898, `requireCanonical`) was refused and the node's block at that number has
 * another hash: the block was lost to a reorg (a node without the block yet is {@link BlockNotImportedError}). Work of that
 * block (a fleet scan or step) is skipped; the Safes are read again at the next head.
 */
export class BlockNotCanonicalError extends BaseError {
  number: bigint
  hash: `0x${string}`
  canonical: `0x${string}` | undefined
  constructor({ number, hash, canonical, cause }: { number: bigint; hash: `0x${string}`; canonical: `0x${string}` | undefined; cause?: Error | undefined }) {
    super(`Block ${number} (${hash}) is no longer on the node's chain.`, {
      cause,
      metaMessages: [`Block: ${number}`, `Hash: ${hash}`, `Node's block at that number: ${canonical ?? "none"}`, "Its work is skipped; the Safes are read again at the next head."],
      name: "BlockNotCanonicalError",
    })
    this.number = number
    this.hash = hash
    this.canonical = canonical
  }
}

export type BlockNotImportedErrorType = BlockNotImportedError & { name: "BlockNotImportedError" }
/**
 * A read pinned to a block's hash was refused and the node has no block at that number yet, even after waiting
 * (`waitedMs` in all, milliseconds): it is behind the head the fleet saw (a load-balanced RPC whose backends are a
 * block apart; review rr16d D2). Not a reorg: nothing is marked lost, and the read may be made again (a scan job's
 * retry, the next step).
 */
export class BlockNotImportedError extends BaseError {
  number: bigint
  hash: `0x${string}`
  waitedMs: number
  constructor({ number, hash, waitedMs, cause }: { number: bigint; hash: `0x${string}`; waitedMs: number; cause?: Error | undefined }) {
    super(`Block ${number} (${hash}) is not on the node yet.`, {
      cause,
      metaMessages: [`Block: ${number}`, `Hash: ${hash}`, `Waited: ${waitedMs} ms`, "The node is behind the head the fleet saw; the read may be made again."],
      name: "BlockNotImportedError",
    })
    this.number = number
    this.hash = hash
    this.waitedMs = waitedMs
  }
}

export type RescueInfeasibleErrorType = RescueInfeasibleError & { name: "RescueInfeasibleError" }
/**
 * A sub-account is below its band and no plan can rescue it (review rr11r R3: it was a `no-rescue` event and a gauge
 * only, 0 alerts, nothing the webhook posts): `binding` names what binds (`RescueBinding` of events.ts: `policyCap` for
 * its own policy's cooldown or epoch cap, `funds`, `flashLiquidity`, `lossLimit`, `slippage`, `caps`), `reason` is the
 * solver's line with its numbers, `health` and `minHealth` are WAD-free decimals as the solver saw them (health factor,
 * e.g. 1.01 against 1.1). Nothing is sent for it; the owners can act (raise the cap with `setPolicy`, add collateral or
 * funds). Raised as the `rescue-infeasible` alert once per run (again when the binding changes).
 */
export class RescueInfeasibleError extends BaseError {
  subAccount: string
  binding: string
  reason: string
  health: number
  minHealth: number | undefined
  constructor({ safe, subAccount, venue, binding, reason, health, minHealth }: { safe: string; subAccount: string; venue?: string | undefined; binding: string; reason: string; health: number; minHealth?: number | undefined }) {
    super(`Sub-account ${subAccount}${venue ? ` (${venue})` : ""} is below its band (health ${health.toFixed(4)}${minHealth !== undefined ? ` < minHealth ${minHealth}` : ""}) and no plan can rescue it: ${binding} binds (${reason}); nothing is sent for it.`, {
      metaMessages: [
        `Safe: ${safe}`,
        `Sub-account: ${subAccount}`,
        ...(venue ? [`Venue: ${venue}`] : []),
        `Binding: ${binding}`,
        `Solver: ${reason}`,
        binding === "policyCap" ? "The owners can raise the cap or shorten the cooldown (setPolicy), or add collateral." : "The owners can add collateral or idle funds, or widen the policy (setPolicy).",
      ],
      name: "RescueInfeasibleError",
    })
    this.subAccount = subAccount
    this.binding = binding
    this.reason = reason
    this.health = health
    this.minHealth = minHealth
  }
}

/**
 * The JSON-RPC error object of an HTTP error reply, when its `details` is one (a JSON object with a string `message`),
 * else undefined (review rr11s S2).
 */
function jsonRpcErrorBodyOf(error: HttpRequestError): { code: number | undefined; message: string } | undefined {
  const details = error.details?.trim()
  if (details === undefined || !details.startsWith("{")) return undefined
  try {
    const parsed = JSON.parse(details) as unknown
    if (parsed === null || typeof parsed !== "object") return undefined
    const { message, code } = parsed as { message?: unknown; code?: unknown }
    if (typeof message !== "string") return undefined
    return { code: typeof code === "number" ? code : undefined, message }
  } catch {
    return undefined
  }
}

/** HTTP statuses of an answer with no JSON-RPC body that viem's http transport retries as transient (`shouldRetry`). */
const TRANSIENT_HTTP_STATUSES: ReadonlySet<number> = new Set([403, 408, 429, 500, 502, 503, 504])
/**
 * JSON-RPC error codes viem retries as transient (`shouldRetry`): -1 (viem's `UnknownRpcError`, a transport's own
 * non-JSON-RPC failure), -32005 (EIP-1474 limit exceeded), 429 (a rate limit in an HTTP 200 body, e.g. Alchemy in batch
 * mode) and -32007 (QuickNode's request-rate limit).
 */
const TRANSIENT_RPC_CODES: ReadonlySet<number> = new Set([-1, RATE_LIMIT_RPC_CODE, 429, -32007])

/**
 * HTTP statuses that are never the plan's, whatever the JSON-RPC error body of the reply (review rr11t T2): 408 (request
 * timeout), 429 (too many requests), 502 / 503 / 504 (bad gateway, service unavailable, gateway timeout). A bundler
 * refuses a plan with 200 (a JSON-RPC error) or, for Alto's non-`RpcError` failures, with 500.
 */
const NEVER_THE_PLANS_HTTP_STATUSES: ReadonlySet<number> = new Set([408, 429, 502, 503, 504])

/**
 * JSON-RPC error codes a bundler answers for a deterministic refusal of the operation (ERC-7769 `eth_sendUserOperation` /
 * `eth_estimateUserOperationGas` error codes, as Alto's `ValidationErrors` numbers them): -32500 rejected by the
 * EntryPoint's or the account's validation, -32501 by the paymaster's, -32502 a banned opcode, -32503 out of its time
 * range, -32504 an entity banned or throttled, -32505 a stake too low, -32506 an unsupported aggregator, -32507 an invalid
 * signature, -32508 the paymaster's deposit too low, -32521 the execution reverted; and -32602 invalid params (JSON-RPC 2.0).
 */
const DETERMINISTIC_VALIDATION_CODES: ReadonlySet<number> = new Set([-32500, -32501, -32502, -32503, -32504, -32505, -32506, -32507, -32508, -32521, -32602])

/**
 * The texts of a deterministic validation answer with no such code (Alto's HTTP 500 for a failure that is not its
 * `RpcError`): an EntryPoint AA code (AA1x-AA5x), a simulation revert, or Alto's undecodable simulation result
 * (Alto's server.js answers every non-`RpcError` with HTTP 500 and no code, its `RpcError`s with 200 and a code). Not
 * Alto's "Unknown error, could not parse simulate validation result." (rpc/estimation/utils `decodeSimulateHandleOpError`):
 * it is also what Alto answers when ITS node fails (review rr11u U4), so it is ambiguous ({@link isAmbiguousAnswer}).
 */
const DETERMINISTIC_VALIDATION_TEXT = /\bAA[1-5]\d\b|execution reverted|reverted (during|in) simulation|UserOperation reverted|invalid (params|signature|user operation version)/i

/**
 * The texts of an HTTP 5xx JSON-RPC body with no code that are known to be the bundler's own upstream failing (review
 * rr11t T2): Alto's "Error in performBinarySearch" and a relayed viem "HTTP request failed". The node's, always.
 */
const OUTAGE_TEXT = /Error in performBinarySearch|HTTP request failed|timed? ?out|service unavailable|bad gateway|ECONNREFUSED|ECONNRESET|fetch failed/i

/**
 * The HTTP 5xx answer (status 500, 501, 505+; not 502 / 503 / 504) whose JSON-RPC body has NO code and whose words are
 * neither a known deterministic validation answer nor a known outage text (review rr11u U3 / U4): e.g. Alto's "Max
 * retries reached when calling binarySearchCallGas" (deterministic for a plan too big) and "Unknown error, could not
 * parse simulate validation result." (an undecodable revert, or its node's outage). Its words cannot tell the plan's from
 * the bundler's, so the step judges it by probing (`SafeStep`, the alone table `SafeRuntime.aloneFacts`; reviews rr11v,
 * rr11y): for a plan of several with no size conclusion, ONE probe (AMBIGUOUS_PROBES_PER_STEP, a sub-account alone in
 * rotation); accepted, it is sent and the answer is taken as the plans' size for the Safe (ALONE_FACT_BLOCKS: the same
 * answer to any plan of several is narrowed, AMBIGUOUS_NARROW_PROBES, no blame); answered alike (or a plan of one), the step is
 * alerted as the node's (`rpc-error`). Such an answer is never blamed on a sub-account by an isolation probe, nor
 * remembered as too big alone. Returns the answer's status and message (the size conclusion's key), or undefined.
 */
export function isAmbiguousAnswer(error: unknown): string | undefined {
  const answered = firstInCauseChain(error, (e) => e instanceof HttpRequestError && jsonRpcErrorBodyOf(e) !== undefined) as HttpRequestError | undefined
  if (answered === undefined || answered.status === undefined || answered.status < 500 || NEVER_THE_PLANS_HTTP_STATUSES.has(answered.status)) return undefined
  const body = jsonRpcErrorBodyOf(answered)
  if (body === undefined || body.code !== undefined) return undefined
  if (isDeterministicValidationAnswer(body) || OUTAGE_TEXT.test(body.message)) return undefined
  return `${answered.status} ${body.message}`
}

/** Whether a JSON-RPC error body is a known deterministic answer to the operation (code or text; review rr11t T2). */
function isDeterministicValidationAnswer(body: { code: number | undefined; message: string }): boolean {
  if (body.code !== undefined && DETERMINISTIC_VALIDATION_CODES.has(body.code)) return true
  return DETERMINISTIC_VALIDATION_TEXT.test(body.message)
}

/**
 * Whether `error` itself (not its causes) is an answer that viem 2.57's own request layer retries as transient
 * (`shouldRetry` in viem/_esm/utils/buildRequest.js; internal, not exported, so its rule is followed here): an HTTP
 * 403, 408, 429 or 5xx with no JSON-RPC body, or a JSON-RPC error with code -1, -32005, 429 or -32007 (review rr11r R1:
 * such an answer in a one-sub-account probe was blamed on the sub-account). Two departures, both toward "the plan's":
 * -32603 (internal error) is left out, because bundlers also answer it for a plan's own revert (review rr11q Q2); HTTP
 * 413 (request too large) is left out, because a plan's size makes it the same at every retry. An `HttpRequestError`
 * (viem's http transport puts the reply's JSON-RPC `error` object `{ message, code? }` in `details`) is judged: HTTP 408
 * / 429 / 502 / 503 / 504 transient whatever the body (review rr11t T2-b: providers throttle with -32000 / -32603 / no
 * code); a body with a transient code transient; a 5xx (Alto's 500 for any failure that is not its `RpcError`) with a
 * body the plan's only when it is a known deterministic validation answer (`isDeterministicValidationAnswer`: ERC-7769
 * codes, an AA code, a simulation revert; review rr11s S2), transient with a code or a known outage text (review rr11t
 * T2: Alto's "Error in performBinarySearch" and a relayed "HTTP request failed" wrap its own node's outage), and neither
 * when it has no code and words listed neither way ({@link isAmbiguousAnswer}: judged by repetition by the step, review
 * rr11u U3 / U4); any other status with a body the plan's (a bundler may refuse a plan with any status); a 403 / 408 /
 * 429 / 5xx with no body transient.
 *
 * @example isTransientAnswer(new HttpRequestError({ url, status: 408 })) // true
 */
export function isTransientAnswer(error: unknown): boolean {
  if (error instanceof HttpRequestError) {
    // A JSON-RPC error body (viem puts the reply's `error` object in `details`) is the bundler's answer, judged by its
    // code like any JSON-RPC error (review rr11s S2: Alto answers HTTP 500 for an estimation failure it cannot decode,
    // the same every block for the same operation).
    // A throttling or gateway status is the endpoint's whatever its body says (review rr11t T2-b: providers answer a rate
    // limit or an outage with -32000 / -32603 / no code).
    if (error.status !== undefined && NEVER_THE_PLANS_HTTP_STATUSES.has(error.status)) return true
    const body = jsonRpcErrorBodyOf(error)
    if (body !== undefined) {
      if (body.code !== undefined && TRANSIENT_RPC_CODES.has(body.code)) return true
      // An HTTP 5xx with a JSON-RPC body is the plan's only when it is a known deterministic validation answer (review
      // rr11t T2: Alto answers its own node's outage with HTTP 500 and a body of no code as well).
      // An ambiguous one (no code, words listed neither way: `isAmbiguousAnswer`, review rr11u U3 / U4) is not the
      // node's by its words: the step judges it by repetition.
      if (error.status !== undefined && error.status >= 500) return !isDeterministicValidationAnswer(body) && (body.code !== undefined || OUTAGE_TEXT.test(body.message))
      return false
    }
    return error.status !== undefined && TRANSIENT_HTTP_STATUSES.has(error.status)
  }
  const code = (error as { code?: unknown } | null)?.code
  return error instanceof Error && typeof code === "number" && TRANSIENT_RPC_CODES.has(code)
}
