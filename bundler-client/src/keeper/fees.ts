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

/**
 * `value x (100 + percent) / 100`, rounded up, exact for any finite `percent` the configuration accepts (`feeBumpPercent`
 * may be fractional, e.g. 12.5): the percent is read as the decimal it prints as, never through `BigInt(112.5)`.
 */
const scale = (value: bigint, percent: number) => {
  const [mantissa = "0", exponent = "0"] = String(percent).toLowerCase().split("e")
  const [int = "0", frac = ""] = mantissa.split(".")
  let num = BigInt(`${int}${frac}`)
  let den = 10n ** BigInt(frac.length)
  const e = Number(exponent)
  if (e >= 0) num *= 10n ** BigInt(e)
  else den *= 10n ** BigInt(-e)
  const total = 100n * den + num // (100 + percent) x den
  return (value * total + 100n * den - 1n) / (100n * den)
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
  const bump = Math.max(parameters.bumpPercent, rule)
  const capped = market.maxFeePerGas > caps.maxFeePerGas || market.maxPriorityFeePerGas > caps.maxPriorityFeePerGas
  let wantFee = market.maxFeePerGas
  let wantTip = market.maxPriorityFeePerGas
  if (previous) {
    wantFee = urgent ? caps.maxFeePerGas : max(wantFee, scale(previous.maxFeePerGas, bump))
    wantTip = urgent ? caps.maxPriorityFeePerGas : max(wantTip, scale(previous.maxPriorityFeePerGas, bump))
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
