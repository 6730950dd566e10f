/**
 * Held-out path shapes of the stress scan (bench/heldout-scan.ts, helper hs49): the generator's GBM diffusion spliced
 * across volatility levels, times seeded log-price events (wicks, gaps, grinds, rallies). One-minute steps from 3,000.
 */
import { DEFAULT_PATH, generatePath } from "../src/prices/generator.js"
import type { PricePaths } from "../src/prices/csv.js"
import { Rng } from "../src/risk/rng.js"

const MIN = 60
const HOUR = 3600
const BASE_SIGMA = DEFAULT_PATH.sigma

/** A log-price event: its offset at `t` seconds from the path start. */
type Event = (t: number) => number

/** A drop of `depth` over `drop` s from `start`, back to `1 - residual` of the level before it over `recover` s (residual = depth: no recovery). */
export function shock(start: number, depth: number, drop: number, recover: number, residual: number): Event {
  const bottom = Math.log(1 - depth)
  const rest = Math.log(1 - residual)
  return (t) => {
    if (t <= start) return 0
    if (t <= start + drop) return (bottom * (t - start)) / drop
    if (recover <= 0) return rest
    const back = t - start - drop
    return back < recover ? bottom + ((rest - bottom) * back) / recover : rest
  }
}

/** A linear move in log-price of `ln(1 + change)` over `seconds` from `start` (a grind or a rally), held after. */
export function ramp(start: number, seconds: number, change: number): Event {
  const total = Math.log(1 + change)
  return (t) => (t <= start ? 0 : t >= start + seconds ? total : (total * (t - start)) / seconds)
}

/**
 * A path of `hours` at one-minute steps from 3,000: the generator's GBM diffusion with volatility `BASE_SIGMA x calm x
 * level(t)` (each level's increments come from its own generated GBM path, seeded from `seed`), times exp(sum of events).
 */
export function buildPath(seed: number, hours: number, calm: number, events: Event[], level: (t: number) => number = () => 1): PricePaths {
  const points = Math.round((hours * HOUR) / MIN) + 1
  const byLevel = new Map<number, Float64Array>()
  const diffusion = (m: number): Float64Array => {
    let p = byLevel.get(m)
    if (p === undefined) {
      const g = generatePath({ ...DEFAULT_PATH, points, kind: "gbm", seed: seed * 31 + Math.round(m * 1000), sigma: BASE_SIGMA * calm * m })
      p = g.prices.ETH as Float64Array
      byLevel.set(m, p)
    }
    return p
  }
  const timestamps = new Float64Array(points)
  const prices = new Float64Array(points)
  let x = Math.log(DEFAULT_PATH.initialPrice)
  for (let k = 0; k < points; k++) {
    const t = k * MIN
    timestamps[k] = DEFAULT_PATH.start + t
    if (k > 0) {
      const d = diffusion(level(t))
      x += Math.log((d[k] as number) / (d[k - 1] as number))
    }
    prices[k] = Math.exp(x + events.reduce((s, e) => s + e(t), 0))
  }
  return { timestamps, assets: ["ETH"], prices: { ETH: prices } }
}

const between = (r: Rng, lo: number, hi: number) => lo + (hi - lo) * r.uniform()
const oneOf = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r.uniform() * xs.length) % xs.length] as T
const wick = (start: number, depth: number, recover = 5 * MIN) => shock(start, depth, MIN, recover, 0.003)

/**
 * `count` events, the first at `first` (seconds), each made by `make(t)` (its depth, a fraction, for the label), the next
 * `spacing()` seconds later; calls them in that order (make, then spacing), so a seeded generator drawn from both gives
 * the same path as before.
 * @returns The events and their labels ("depth%@minute", space-separated).
 */
function series(count: number, first: number, make: (t: number) => { event: Event; depth: number }, spacing: () => number): { events: Event[]; labels: string } {
  const events: Event[] = []
  const labels: string[] = []
  let t = first
  for (let j = 0; j < count; j++) {
    const { event, depth } = make(t)
    events.push(event)
    labels.push(`${(depth * 100).toFixed(1)}%@${t / MIN}`)
    t += spacing()
  }
  return { events, labels: labels.join(" ") }
}

/** A held-out shape: `build(seed, i)` returns the path and a one-line description (`i`: index within the shape). */
export type Shape = { name: string; what: string; paths: (seeds: number) => number; build: (seed: number, i: number) => { path: PricePaths; detail: string } }

const ISSUE_RECOVERY = [1, 5, 15, 60] as const
const ISSUE_DEPTHS = [0.2, 0.22, 0.24, 0.25, 0.26, 0.27, 0.28, 0.29] as const

export const SHAPES: Shape[] = [
  {
    name: "doubleWick",
    what: "calm (x0.5-1.5), a 15-25 % one-minute wick at 8-16 h back in 5 min, a second 12-25 % wick 10/30/60/120 min later; 30 h",
    paths: (n) => n,
    build: (seed, i) => {
      const r = new Rng(seed)
      const calm = between(r, 0.5, 1.5)
      const t1 = Math.round(between(r, 8, 16) * 60) * MIN
      const gap = ([10, 30, 60, 120][i % 4] as number) * MIN
      const [d1, d2] = [between(r, 0.15, 0.25), between(r, 0.12, 0.25)]
      return { path: buildPath(seed, 30, calm, [wick(t1, d1), wick(t1 + gap, d2)]), detail: `calm ${calm.toFixed(2)} wick ${(d1 * 100).toFixed(1)}% at ${t1 / MIN} min, ${(d2 * 100).toFixed(1)}% ${gap / MIN} min later` }
    },
  },
  {
    name: "tripleWick",
    what: "calm, three 10-20 % one-minute wicks 15-60 min apart (each back in 2-10 min); 30 h",
    paths: (n) => n,
    build: (seed) => {
      const r = new Rng(seed)
      const calm = between(r, 0.5, 1.5)
      const first = Math.round(between(r, 8, 16) * 60) * MIN
      const { events, labels } = series(3, first, (t) => {
        const d = between(r, 0.1, 0.2)
        return { event: wick(t, d, Math.round(between(r, 2, 10)) * MIN), depth: d }
      }, () => Math.round(between(r, 15, 60)) * MIN)
      return { path: buildPath(seed, 30, calm, events), detail: `calm ${calm.toFixed(2)} wicks ${labels}` }
    },
  },
  {
    name: "wickInRegime",
    what: "12 h at 60 %, then 12 h at 150 %: a 15-28 % wick 3-9 h into the volatile regime, back in 5 min; 36 h",
    paths: (n) => n,
    build: (seed) => {
      const r = new Rng(seed)
      const t = 12 * HOUR + Math.round(between(r, 3, 9) * 60) * MIN
      const d = between(r, 0.15, 0.28)
      return { path: buildPath(seed, 36, 1, [wick(t, d)], (s) => (s > 12 * HOUR && s <= 24 * HOUR ? 2.5 : 1)), detail: `wick ${(d * 100).toFixed(1)}% at ${t / MIN} min` }
    },
  },
  {
    name: "wickAfterSwitch",
    what: "12 h calm (x0.5), then volatility x2.5-x4 of the calm level: a 15-28 % wick 5-60 min after the switch, back in 5 min; 30 h",
    paths: (n) => n,
    build: (seed) => {
      const r = new Rng(seed)
      const mult = oneOf(r, [2.5, 4] as const)
      const t = 12 * HOUR + Math.round(between(r, 5, 60)) * MIN
      const d = between(r, 0.15, 0.28)
      return { path: buildPath(seed, 30, 0.5, [wick(t, d)], (s) => (s > 12 * HOUR ? mult : 1)), detail: `x${mult} at 720 min, wick ${(d * 100).toFixed(1)}% at ${t / MIN} min` }
    },
  },
  {
    name: "staircase",
    what: "calm, 4-7 one-minute gaps of 8-15 % each, 2-6 h apart, no recovery; 48 h",
    paths: (n) => n,
    build: (seed) => {
      const r = new Rng(seed)
      const calm = between(r, 0.5, 1.5)
      const steps = 4 + Math.floor(r.uniform() * 4)
      const first = Math.round(between(r, 6, 10) * 60) * MIN
      const { events, labels } = series(steps, first, (t) => {
        const d = between(r, 0.08, 0.15)
        return { event: shock(t, d, MIN, 0, d), depth: d }
      }, () => Math.round(between(r, 2, 6) * 60) * MIN)
      return { path: buildPath(seed, 48, calm, events), detail: `calm ${calm.toFixed(2)} gaps ${labels}` }
    },
  },
  {
    name: "grindThenWick",
    what: "calm, a linear grind down 20-40 % over 12-24 h, then a 15-25 % one-minute wick 0-120 min after its end, back in 5 min; 40 h",
    paths: (n) => n,
    build: (seed) => {
      const r = new Rng(seed)
      const calm = between(r, 0.5, 1.5)
      const g = between(r, 0.2, 0.4)
      const len = Math.round(between(r, 12, 24)) * HOUR
      const t = 4 * HOUR + len + Math.round(between(r, 0, 120)) * MIN
      const d = between(r, 0.15, 0.25)
      return { path: buildPath(seed, 40, calm, [ramp(4 * HOUR, len, -g), wick(t, d)]), detail: `grind ${(g * 100).toFixed(1)}% over ${len / HOUR} h, wick ${(d * 100).toFixed(1)}% at ${t / MIN} min` }
    },
  },
  {
    name: "gapUpThenCrash",
    what: "calm, a 10-20 % gap up (one minute, or a 30 min rally), held 1-8 h (boost after a rally), then a 25-35 % one-minute drop: half back in 30 min, half held; 30 h",
    paths: (n) => n,
    build: (seed, i) => {
      const r = new Rng(seed)
      const calm = between(r, 0.5, 1.5)
      const up = between(r, 0.1, 0.2)
      const upSeconds = oneOf(r, [MIN, 30 * MIN] as const)
      const tUp = Math.round(between(r, 6, 10) * 60) * MIN
      const tDown = tUp + upSeconds + Math.round(between(r, 1, 8) * 60) * MIN
      const d = between(r, 0.25, 0.35)
      const recover = i % 2 === 0
      return {
        path: buildPath(seed, 30, calm, [ramp(tUp, upSeconds, up), shock(tDown, d, MIN, recover ? 30 * MIN : 0, recover ? 0.003 : d)]),
        detail: `up ${(up * 100).toFixed(1)}% over ${upSeconds / MIN} min at ${tUp / MIN}, drop ${(d * 100).toFixed(1)}% at ${tDown / MIN} ${recover ? "recovers" : "holds"}`,
      }
    },
  },
  {
    name: "earlyWick",
    what: "a 15-28 % one-minute wick at minute 1-30 (no calm history), back in 5 min, calm after; 12 h",
    paths: (n) => n,
    build: (seed) => {
      const r = new Rng(seed)
      const calm = between(r, 0.5, 1.5)
      const t = Math.round(between(r, 1, 30)) * MIN
      const d = between(r, 0.15, 0.28)
      return { path: buildPath(seed, 12, calm, [wick(t, d)]), detail: `calm ${calm.toFixed(2)} wick ${(d * 100).toFixed(1)}% at ${t / MIN} min` }
    },
  },
  {
    name: "lateWick",
    what: "calm 12 h, a 20-29 % drop 1-10 min before the end (the path ends at or near the bottom: metrics near liquidation); 12 h",
    paths: (n) => n,
    build: (seed) => {
      const r = new Rng(seed)
      const calm = between(r, 0.5, 1.5)
      const t = 12 * HOUR - Math.round(between(r, 1, 10)) * MIN
      const d = between(r, 0.2, 0.29)
      return { path: buildPath(seed, 12, calm, [shock(t, d, MIN, 0, d)]), detail: `calm ${calm.toFixed(2)} drop ${(d * 100).toFixed(1)}% at ${t / MIN} min (end 720)` }
    },
  },
  {
    name: "issueShape",
    what: "issue 13's input: 6 h calm at 3,000 (x0.5-1.5), a one-minute drop of 20-29 % (grid), back to 2,990 in 1/5/15/60 min (grid), calm; 12 h",
    paths: () => ISSUE_DEPTHS.length * ISSUE_RECOVERY.length,
    build: (seed, i) => {
      const r = new Rng(seed + i)
      const calm = between(r, 0.5, 1.5)
      const d = ISSUE_DEPTHS[i % ISSUE_DEPTHS.length] as number
      const rec = (ISSUE_RECOVERY[Math.floor(i / ISSUE_DEPTHS.length) % ISSUE_RECOVERY.length] as number) * MIN
      return { path: buildPath(seed + i, 12, calm, [shock(6 * HOUR, d, MIN, rec, 1 - 2990 / 3000)]), detail: `calm ${calm.toFixed(2)} drop ${(d * 100).toFixed(0)}% back in ${rec / MIN} min` }
    },
  },
]

