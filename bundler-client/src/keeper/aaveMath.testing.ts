/**
 * Aave v3 math for the keeper's Aave property tests (aaveCapAccrual, aaveTreasuryAccrual): WadRayMath / PercentageMath
 * rounding (half up), MathUtils' interest formulas and a reserve configuration bitmap, plus a seeded generator so a
 * failing case names its index. Test-only: not exported by the package.
 */

export const RAY = 10n ** 27n
export const YEAR = 365n * 86_400n
/** WadRayMath.rayMul (half up). */
export const rayMul = (a: bigint, b: bigint) => (a * b + RAY / 2n) / RAY
/** WadRayMath.rayDiv (half up). */
export const rayDiv = (a: bigint, b: bigint) => (a * RAY + b / 2n) / b
/** PercentageMath.percentMul, bps (half up). */
export const percentMul = (v: bigint, p: bigint) => (v * p + 5_000n) / 10_000n

/** Aave v3 MathUtils.calculateCompoundedInterest (3-term binomial approximation), RAY; `rate` per year, RAY. */
export function compounded(rate: bigint, seconds: bigint): bigint {
  if (seconds === 0n) return RAY
  const expMinusOne = seconds - 1n
  const expMinusTwo = seconds > 2n ? seconds - 2n : 0n
  const basePowerTwo = rayMul(rate, rate) / (YEAR * YEAR)
  const basePowerThree = rayMul(basePowerTwo, rate) / YEAR
  const second = (seconds * expMinusOne * basePowerTwo) / 2n
  const third = (seconds * expMinusOne * expMinusTwo * basePowerThree) / 6n
  return RAY + (rate * seconds) / YEAR + second + third
}
/** Aave v3 MathUtils.calculateLinearInterest, RAY. */
export const linear = (rate: bigint, seconds: bigint) => RAY + (rate * seconds) / YEAR

/**
 * A reserve configuration bitmap (ReserveConfiguration.sol): LTV 83%, threshold 80.5%, bonus 105%, active, borrowing
 * on, with `decimals`, the caps in whole tokens and the reserve factor in bps.
 */
export function reserveConfiguration({ decimals, borrowCap = 0n, supplyCap = 0n, reserveFactor = 0n }: { decimals: number; borrowCap?: bigint; supplyCap?: bigint; reserveFactor?: bigint }): bigint {
  let c = 8300n | (8050n << 16n) | (10_500n << 32n)
  c |= BigInt(decimals) << 48n
  c |= 1n << 56n // active
  c |= 1n << 58n // borrowing enabled
  c |= reserveFactor << 64n
  c |= borrowCap << 80n
  c |= supplyCap << 116n
  return c
}

/** A deterministic generator (mulberry32) in [0, 1), so a failure names its case. */
export function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}
/** A random bigint in [lo, hi] from `r`. */
export const between = (r: () => number, lo: bigint, hi: bigint) => lo + (BigInt(Math.floor(r() * 2 ** 52)) * (hi - lo)) / 2n ** 52n
