import type { UserOperationFees } from "./clients.js"

/**
 * The bundler's same-nonce replacement rule, in percent: a UserOperation replaces one of the same sender and nonce only
 * if BOTH `maxFeePerGas` and `maxPriorityFeePerGas` are at least this much higher (ERC-7562's mempool rule; Alto
 * 0.0.20 `mempool.add`: `>= scaleBigIntByPercent(old, 110n)`, i.e. `old x 110n / 100n` rounded down, on both fields).
 */
export const REPLACEMENT_BUMP_PERCENT = 10

/**
 * The least each fee of a replacement of `previous` must be for the bundler to take it: `previous x (100 + rule) / 100`,
 * rounded down as Alto computes it (a fee exactly there replaces; 0 stays 0). Wei per gas.
 *
 * @param previous - The fees of the operation in the bundler's mempool at that sender and nonce.
 * @param rule - The bundler's replacement rule in percent ({@link REPLACEMENT_BUMP_PERCENT}).
 */
export function replacementMinimum(previous: UserOperationFees, rule = REPLACEMENT_BUMP_PERCENT): UserOperationFees {
  return { maxFeePerGas: (previous.maxFeePerGas * BigInt(100 + rule)) / 100n, maxPriorityFeePerGas: (previous.maxPriorityFeePerGas * BigInt(100 + rule)) / 100n }
}

/** The Safe's on-chain fee caps (`AutomationConfig.maxFeePerGas` / `maxPriorityFeePerGas`), in wei per gas. */
export type FeeCaps = UserOperationFees

/** How the keeper prices one send. */
export type FeeDecision = {
  /** Never above the caps; `maxPriorityFeePerGas <= maxFeePerGas`. */
  fees: UserOperationFees
  /** The market's fees (bundler's "fast" estimate) were above a cap, so a field was lowered to it. */
  capped: boolean
  /**
   * A replacement: whether both fields clear the bundler's rule over the previous ones. False when the previous
   * operation was already priced at (or near) the caps: the resend then goes out at the caps anyway; the bundler
   * accepts it only if it dropped the earlier one (else it answers AA25 and the keeper keeps tracking that one).
   */
  replaces: boolean
  /** Why a replacement does not clear the rule (both numbers), when it does not. */
  reason?: string | undefined
  /** A replacement that does not clear the rule: the least fees the bundler takes ({@link replacementMinimum}). */
  need?: UserOperationFees | undefined
}

/** Parts per million in one percent. */
const PPM_PER_PERCENT = 10_000
/** One million: the ppm scale. */
const PPM = 1_000_000n

/**
 * A percent as a whole number of parts per million of the value (`percent x 10,000`), rounded UP to the next ppm so a
 * bump is never less than the percent configured: exact for every percent with at most 4 decimals (`feeBumpPercent`
 * 12.5 -> 125,000 ppm, 33.3333 -> 333,333), a float's last-digit error (10.01 x 10,000 = 100,099.99999999999) read as
 * the decimal it prints as (a millionth of a ppm of tolerance), a finer percent rounded up (33.33335 -> 333,334).
 *
 * @param percent - A finite percent >= 0.
 * @returns ppm (bigint).
 * @throws RangeError for a negative or non-finite percent.
 * @example percentToPpm(12.5) // 125_000n
 */
export function percentToPpm(percent: number): bigint {
  if (!Number.isFinite(percent) || percent < 0) throw new RangeError(`percent must be a finite number >= 0, got ${percent}`)
  const ppm = percent * PPM_PER_PERCENT
  const nearest = Math.round(ppm)
  return BigInt(Math.abs(ppm - nearest) <= 1e-6 * Math.max(1, nearest) ? nearest : Math.ceil(ppm))
}

/**
 * `value x (1,000,000 + ppm) / 1,000,000`, rounded up: a fee raised by `ppm` parts per million, in exact integers.
 *
 * @param value - Wei per gas (>= 0).
 * @param ppm - The raise, parts per million ({@link percentToPpm}).
 * @returns Wei per gas; 0 stays 0.
 * @example scaleUpPpm(101n, 100_000n) // 112n (111.1 rounded up)
 */
export function scaleUpPpm(value: bigint, ppm: bigint): bigint {
  return (value * (PPM + ppm) + PPM - 1n) / PPM
}

const min = (a: bigint, b: bigint) => (a < b ? a : b)
const max = (a: bigint, b: bigint) => (a > b ? a : b)

/**
 * The fees of a keeper UserOperation: the market's, clipped to the Safe's caps (the module rejects a signed operation
 * above them in validation, `GasFieldAboveCap`), with `maxPriorityFeePerGas <= maxFeePerGas`.
 *
 * A replacement of `previous` (same nonce) takes `max(market, previous x (100 + bumpPercent)%)` per field (rounded up),
 * clipped to the caps; `replaces` tells whether both fields clear the bundler's replacement rule exactly as the bundler
 * computes it ({@link replacementMinimum}: rounded down, so fees at a cap a fraction of a wei below the rounded-up bump
 * still replace), else it goes out at the caps flagged `replaces: false`
 * (see {@link FeeDecision}). A stuck deleverage (`urgent`) is repriced straight to
 * the caps, the most the Safe allows, so it lands in a spike as early as the Safe permits.
 *
 * @param parameters.market - The bundler's current fees (wei per gas).
 * @param parameters.caps - The Safe's caps (wei per gas).
 * @param parameters.previous - Fees of the in-flight operation being replaced, when resending at its nonce.
 * @param parameters.bumpPercent - The keeper's own bump for a replacement (`feeBumpPercent`, >= the rule).
 * @param parameters.urgent - The plan restores health below the band: reprice to the caps.
 * @returns {@link FeeDecision}
 */
export function priceUserOperation(parameters: {
  market: UserOperationFees
  caps: FeeCaps
  previous?: UserOperationFees | undefined
  bumpPercent: number
  urgent?: boolean | undefined
  replacementBumpPercent?: number | undefined
}): FeeDecision {
  const { market, caps, previous, urgent = false } = parameters
  const rule = parameters.replacementBumpPercent ?? REPLACEMENT_BUMP_PERCENT
  // The keeper's bump, at least the bundler's rule, as exact ppm.
  const bump = percentToPpm(Math.max(parameters.bumpPercent, rule))
  const capped = market.maxFeePerGas > caps.maxFeePerGas || market.maxPriorityFeePerGas > caps.maxPriorityFeePerGas
  let wantFee = market.maxFeePerGas
  let wantTip = market.maxPriorityFeePerGas
  if (previous) {
    wantFee = urgent ? caps.maxFeePerGas : max(wantFee, scaleUpPpm(previous.maxFeePerGas, bump))
    wantTip = urgent ? caps.maxPriorityFeePerGas : max(wantTip, scaleUpPpm(previous.maxPriorityFeePerGas, bump))
  }
  const maxFeePerGas = min(wantFee, caps.maxFeePerGas)
  const maxPriorityFeePerGas = min(min(wantTip, caps.maxPriorityFeePerGas), maxFeePerGas)
  const fees = { maxFeePerGas, maxPriorityFeePerGas }
  if (!previous) return { fees, capped, replaces: false }
  const need = replacementMinimum(previous, rule)
  const { maxFeePerGas: needFee, maxPriorityFeePerGas: needTip } = need
  if (maxFeePerGas >= needFee && maxPriorityFeePerGas >= needTip) return { fees, capped, replaces: true }
  // Cannot outbid it within the caps: go out at the caps, the most the Safe allows.
  return {
    fees: { maxFeePerGas: caps.maxFeePerGas, maxPriorityFeePerGas: min(caps.maxPriorityFeePerGas, caps.maxFeePerGas) },
    // Only the market above a cap is `capped` (the gas-cap-below-market alert); a bump past the caps is `replaces: false`.
    capped,
    replaces: false,
    need,
    reason:
      `a replacement needs maxFeePerGas >= ${needFee} and maxPriorityFeePerGas >= ${needTip} (+${rule}%), ` +
      `the Safe's caps allow ${caps.maxFeePerGas} and ${caps.maxPriorityFeePerGas}`,
  }
}

/** The bundler's lowest valid gas price for one fee field, read from its refusal of an operation priced below it. */
export type BundlerFeeMinimum = { field: "maxFeePerGas" | "maxPriorityFeePerGas"; minimum: bigint }

const MINIMUM_PATTERN = /\b(maxFeePerGas|maxPriorityFeePerGas) must be at least (\d+)/

/**
 * The minimum a bundler named when it refused an operation's fees (Alto 0.0.20 `preMempoolChecks`: "maxFeePerGas must be
 * at least <lowest> (current maxFeePerGas: <sent>) - use pimlico_getUserOperationGasPrice ..."), anywhere in `error`'s
 * chain (message, viem's `details`). Happens when the keeper priced from the node's estimate (the bundler's gas price
 * endpoint did not answer) and that estimate is below the bundler's lowest valid prices.
 *
 * @returns The field and its minimum (wei per gas), or `undefined` when the error is not such a refusal.
 */
export function bundlerFeeMinimumOf(error: unknown): BundlerFeeMinimum | undefined {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 16; e = (e as { cause?: unknown }).cause, depth++) {
    const texts = [(e as { details?: unknown }).details, (e as { message?: unknown }).message].filter((t): t is string => typeof t === "string")
    for (const text of texts) {
      const m = MINIMUM_PATTERN.exec(text)
      if (m) return { field: m[1] as BundlerFeeMinimum["field"], minimum: BigInt(m[2] as string) }
    }
  }
  return undefined
}

/**
 * `fees` raised to the bundler's named `minimum` on its field (a tip raised above the max fee raises the max fee with
 * it, EIP-1559: tip <= max fee), or `undefined` when that needs a fee above the Safe's caps (the module would refuse the
 * signature): the caps are then below the bundler's minimum, the `gas-cap-below-market` case.
 *
 * @param fees - The fees the bundler refused (wei per gas).
 * @param minimum - What the bundler named ({@link bundlerFeeMinimumOf}).
 * @param caps - The Safe's caps (wei per gas).
 */
export function raiseToBundlerMinimum(fees: UserOperationFees, minimum: BundlerFeeMinimum, caps: FeeCaps): UserOperationFees | undefined {
  const next = { ...fees }
  next[minimum.field] = max(next[minimum.field], minimum.minimum)
  next.maxFeePerGas = max(next.maxFeePerGas, next.maxPriorityFeePerGas)
  if (next.maxFeePerGas > caps.maxFeePerGas || next.maxPriorityFeePerGas > caps.maxPriorityFeePerGas) return undefined
  return next
}
