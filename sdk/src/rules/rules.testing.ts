/**
 * Test-only helpers shared by the rule book's random tests (not exported from the package).
 *
 * `rng(seed)`: a deterministic xorshift32 generator of floats in [0, 1), so a failing case is named by its seed and
 * index and re-runs identically.
 */
export function rng(seed: number): () => number {
  let x = seed >>> 0
  return () => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x / 2 ** 32
  }
}
