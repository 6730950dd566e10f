const SQRT1_2 = Math.SQRT1_2

function chebyshevExponent(z: number, t: number): number {
  return (
    -z * z -
    1.26551223 +
    t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
  )
}

/**
 * Complementary error function (Chebyshev fit, fractional error below 1.2e-7 everywhere).
 *
 * @param x - Any real number.
 * @returns erfc(x).
 * @example erfc(0) // 1
 */
export function erfc(x: number): number {
  const z = Math.abs(x)
  const t = 1 / (1 + 0.5 * z)
  const r = t * Math.exp(chebyshevExponent(z, t))
  return x >= 0 ? r : 2 - r
}

/**
 * Natural log of erfc(x) for x >= 0, accurate far in the tail where erfc underflows.
 *
 * @param x - A non-negative real number (negative inputs fall back to log(erfc(x))).
 * @returns log(erfc(x)).
 */
export function logErfc(x: number): number {
  if (x < 0) return Math.log(erfc(x))
  const t = 1 / (1 + 0.5 * x)
  return Math.log(t) + chebyshevExponent(x, t)
}

/**
 * Standard normal cumulative distribution function.
 *
 * @param x - Quantile.
 * @returns P(Z <= x) for Z ~ N(0, 1).
 * @example normalCdf(0) // 0.5
 */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x * SQRT1_2)
}

/**
 * Natural log of the standard normal CDF, finite for very negative x.
 *
 * @param x - Quantile.
 * @returns log(P(Z <= x)).
 */
export function logNormalCdf(x: number): number {
  if (x > -1) return Math.log(normalCdf(x))
  return Math.log(0.5) + logErfc(-x * SQRT1_2)
}
