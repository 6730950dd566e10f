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

/**
 * Helper bk50b's random-segment fuzz path `seed` (issue 13's break-it reviews): 6 h of noisy calm at 3,000, then 3-27
 * random segments: a gap of -30 % .. +20 % held 1-240 minutes (55 %), a linear move of as much over 10-720 minutes
 * (25 %), or 30-600 minutes of calm (20 %). One-minute steps from `t0` (unix seconds).
 *
 * @param seed - Path seed (the fuzz's `seed`).
 * @param t0 - Unix seconds of the first step.
 * @returns An ETH price path.
 */
export function fuzzPath(seed: number, t0: number): PricePaths {
  const last = (a: number[]) => a.at(-1) as number
  const r = lcg(seed * 7919)
  r()
  r()
  let p = calm(360, 3000, r)
  const nseg = 3 + Math.floor(r() * 25)
  for (let i = 0; i < nseg; i++) {
    const u = r()
    if (u < 0.55) {
      const x = (r() - 0.6) * 0.5
      const m = [1, 2, 3, 5, 8, 15, 30, 60, 240][Math.floor(r() * 9)] as number
      p = [...p, ...calm(m, last(p) * (1 + x), r)]
    } else if (u < 0.8) {
      const x = (r() - 0.6) * 0.5
      const m = [10, 60, 240, 720][Math.floor(r() * 4)] as number
      p = [...p, ...lin(last(p), last(p) * (1 + x), m)]
    } else {
      const m = [30, 120, 600][Math.floor(r() * 3)] as number
      p = [...p, ...calm(m, last(p), r, 0.002)]
    }
  }
  return minutePath(p, t0)
}

/**
 * A random chain `seed`: 6 h calm at 3,000, then 1-4 segments: a fall of 0.3-2.8 %/min with noise (a ratio 0-1.6 of
 * the rate, 30 % of them upward-skewed) for 5-44 minutes (70 %), 1-30 minutes calm (15 %), or a gap of -3 to -15 %
 * spread over 1-3 minutes (15 %); then (75 %) a gap of -5 to -25 % held 4 h, else 4 h calm. One-minute steps from `t0`
 * (unix seconds). Helper bk58's generator (stop 58): issue13.bk58.test.ts and bundler-client/README.md measure the
 * rule on it.
 *
 * @param seed - Path seed.
 * @param t0 - Unix seconds of the first step.
 * @returns An ETH price path.
 */
export function chainPath(seed: number, t0: number): PricePaths {
  const last = (a: number[]) => a.at(-1) as number
  const r = lcg(seed * 104729 + 17)
  r()
  let p = calm(360, 3000, r)
  const nseg = 1 + Math.floor(r() * 4)
  for (let j = 0; j < nseg; j++) {
    const u = r()
    if (u < 0.7) {
      const rate = 0.003 + r() * 0.025
      const vr = r() * 1.6
      const n = 5 + Math.floor(r() * 40)
      const skew = r() < 0.3
      for (let i = 0; i < n; i++) {
        const w = r()
        const z = skew ? (w > 0.8 ? 3 * w : -w) : (w - 0.5) * 2
        p.push(last(p) * Math.exp(-rate + vr * rate * z))
      }
    } else if (u < 0.85) p = [...p, ...calm(1 + Math.floor(r() * 30), last(p), r)]
    else {
      const m = 1 + Math.floor(r() * 3)
      const G = -(0.03 + r() * 0.12)
      for (let i = 0; i < m; i++) p.push(last(p) * Math.exp(Math.log(1 + G) / m))
    }
  }
  const g = r() < 0.75 ? -(0.05 + r() * 0.2) : 0
  p = [...p, ...calm(240, last(p) * (1 + g), r)]
  return minutePath(p, t0)
}

/**
 * Helper bk53's noisy fall (issue 13): 6 h calm at 3,000 (lcg 100 + seed), then 30 minutes each x exp(-rate + v x
 * (2u - 1)) (u uniform from the same lcg), then a gap `g2` held 4 h. One-minute steps from `t0`.
 */
export function noisyFall(seed: number, rate: number, v: number, g2: number, t0: number): PricePaths {
  const r = lcg(100 + seed)
  const p = calm(360, 3000, r)
  for (let i = 0; i < 30; i++) p.push((p.at(-1) as number) * Math.exp(-rate + v * (r() - 0.5) * 2))
  return minutePath([...p, ...calm(240, (p.at(-1) as number) * (1 + g2), r)], t0)
}

/**
 * Helper x52's gap grid (seed 7): 6 h calm at 3,000, a linear fall of `rate` per minute for `n` minutes, a one-minute
 * gap `g1` held `k` minutes (noise), then a gap `g2` held 4 h; one-minute steps from `t0`.
 */
export function gapGrid(rate: number, n: number, g1: number, k: number, g2: number, t0: number): PricePaths {
  const r = lcg(7)
  let p = calm(360, 3000, r)
  const a = p.at(-1) as number
  p = [...p, ...lin(a, a * (1 - rate * n), n)]
  p = [...p, ...calm(k, (p.at(-1) as number) * (1 + g1), r)]
  p = [...p, ...calm(240, (p.at(-1) as number) * (1 + g2), r)]
  return minutePath(p, t0)
}
