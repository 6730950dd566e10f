import type { PricePaths } from "../prices/csv.js"

/**
 * Test-only price-path builders shared by the backtest reviews' tests (left out of the build by tsconfig.build.json).
 */

/** One asset "ETH" sampled each minute from `t0` (unix seconds): `ps[i]` at `t0 + 60 i`. */
export const minutePath = (ps: number[], t0: number): PricePaths => ({ timestamps: Float64Array.from(ps.map((_, i) => t0 + 60 * i)), assets: ["ETH"], prices: { ETH: Float64Array.from(ps) } })

/** A seeded LCG (numerical recipes constants), uniform in [0, 1). */
export const lcg = (seed: number) => {
  let s = seed >>> 0
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

/** `n` calm prices from `p0`: each step multiplied by exp(vol x (u - 0.5)), u uniform from `r`. */
export const calm = (n: number, p0: number, r: () => number, vol = 0.0004) => {
  const out = [p0]
  for (let i = 1; i < n; i++) out.push((out[i - 1] as number) * Math.exp(vol * (r() - 0.5)))
  return out
}

/** `n` points on the straight line from `from` (excluded) to `to` (included). */
export const lin = (from: number, to: number, n: number) => Array.from({ length: n }, (_, i) => from + ((to - from) * (i + 1)) / n)

/**
 * Review rr13w W3's correlated-pair depeg that does not recover, seeded (`seed`): 24 h at 1.0 (tiny noise), a depeg of
 * `drop` (fraction) over `m` minutes, then 1 h choppy, 4 h and 5 h calm at the low; one-minute steps from `t0` (unix s).
 */
export function depegHold(drop: number, m: number, seed: number, t0: number): PricePaths {
  const r = lcg(seed)
  const pre = calm(24 * 60, 1.0, r, 0.00002)
  const low = (pre.at(-1) as number) * (1 - drop)
  const tail = calm(240, low, r, 0.0005)
  return minutePath([...pre, ...lin(pre.at(-1) as number, low, m), ...calm(60, low, r, 0.001), ...tail, ...calm(300, tail.at(-1) as number, r, 0.00002)], t0)
}
