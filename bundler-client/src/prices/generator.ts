import { Rng } from "../risk/rng.js"
import { SECONDS_PER_YEAR } from "../risk/firstPassage.js"
import type { JumpParameters } from "../risk/firstPassage.js"
import type { PricePaths } from "./csv.js"

/** Shapes of generated paths. */
export type ScenarioKind = "gbm" | "jumps" | "regime" | "crash30" | "crash45" | "flashWick" | "slowGrind" | "whipsaw" | "depeg" | "gapRecover" | "gapHold"

/** All scenario kinds, in the order the suite cycles through them. */
export const SCENARIO_KINDS: readonly ScenarioKind[] = ["gbm", "jumps", "regime", "crash30", "crash45", "flashWick", "slowGrind", "whipsaw", "depeg", "gapRecover", "gapHold"]

/** A drop and a recovery ("flashWick", "depeg"): depth drawn in [minDepth, maxDepth], linear in log-price. */
export type ShockParameters = {
  /** Shallowest and deepest drop (fractions). */
  minDepth: number
  maxDepth: number
  /** Seconds the drop takes (60: within one minute). */
  dropSeconds: number
  /** Seconds from the bottom back to `1 - residual` of the level before the drop. */
  recoverySeconds: number
  /** Part of the drop not recovered (fraction of the price, 0.003: 3,000 -> 2,991). */
  residual: number
}

/** Parameters of one generated path (one asset). */
export type PathParameters = {
  /** Shape. */
  kind: ScenarioKind
  /** Generator seed. */
  seed: number
  /** Number of prices (steps + 1). */
  points: number
  /** Seconds between prices. */
  stepSeconds: number
  /** First timestamp (unix seconds). */
  start: number
  /** Asset column name. */
  asset: string
  /** First price. */
  initialPrice: number
  /** Base annualised volatility. */
  sigma: number
  /** Annualised drift. */
  drift: number
  /** Jumps (used by "jumps"; crash shapes add none). */
  jumps: JumpParameters
  /** Volatility multiplier during the high-volatility regime ("regime", and after a crash). */
  regimeMultiplier: number
  /** Length of the high-volatility regime in seconds. */
  regimeSeconds: number
  /** Crash shape: total log-drop is ln(1 - drop) over `crashSeconds`, linear in log-price. */
  crashSeconds: number
  /** "flashWick": the wick; the calm volatility is `sigma` x a factor drawn in [0.5, 1.5]. */
  wick: ShockParameters
  /** "depeg" (a correlated pair such as wstETH/ETH): the depeg, with `regimeMultiplier` x volatility until it has recovered. */
  depeg: ShockParameters
  /**
   * "gapRecover" / "gapHold" (review rr13t T3): a gap of one of `depths` (drawn uniformly) within `dropSeconds`; for
   * "gapRecover" back to `1 - residual` of the level before it over `recoverySeconds`, for "gapHold" no recovery (the
   * price stays at the bottom plus the diffusion). The calm volatility is `sigma` x a factor drawn in [0.5, 1.5], as
   * for "flashWick".
   */
  gap: { depths: readonly number[]; dropSeconds: number; recoverySeconds: number; residual: number }
  /** "slowGrind": a fall drawn in [minFall, maxFall] in `steps` equal log-steps, each over `stepSeconds`, evenly spread. */
  grind: { minFall: number; maxFall: number; steps: number; stepSeconds: number }
  /** "whipsaw": log-price swings of +-ln(1 + amplitude) with a period drawn in [minPeriodSeconds, maxPeriodSeconds]. */
  whipsaw: { amplitude: number; minPeriodSeconds: number; maxPeriodSeconds: number }
}

/** Defaults: ETH-like 3,000 USD, 60 % volatility, 3 days at one-minute steps. */
export const DEFAULT_PATH: Omit<PathParameters, "kind" | "seed"> = {
  points: 3 * 1440 + 1,
  stepSeconds: 60,
  start: 1_700_000_000,
  asset: "ETH",
  initialPrice: 3000,
  sigma: 0.6,
  drift: 0,
  jumps: { intensity: 50, meanLog: -0.04, sigmaLog: 0.04 },
  regimeMultiplier: 2.5,
  regimeSeconds: 12 * 3600,
  crashSeconds: 3600,
  wick: { minDepth: 0.15, maxDepth: 0.3, dropSeconds: 60, recoverySeconds: 300, residual: 0.003 },
  depeg: { minDepth: 0.03, maxDepth: 0.1, dropSeconds: 1800, recoverySeconds: 86_400, residual: 0.01 },
  gap: { depths: [0.28, 0.3, 0.32], dropSeconds: 60, recoverySeconds: 1800, residual: 0.003 },
  grind: { minFall: 0.4, maxFall: 0.7, steps: 8, stepSeconds: 1800 },
  whipsaw: { amplitude: 0.12, minPeriodSeconds: 6 * 3600, maxPeriodSeconds: 12 * 3600 },
}

/**
 * {@link DEFAULT_PATH}'s span (three days) at another sampling: `stepSeconds` and the prices that cover the same span,
 * `floor(span / stepSeconds) + 1` (`backtest:suite --step-seconds`, prices coarser than one a minute).
 *
 * @param stepSeconds - Seconds between prices (> 0).
 * @returns The `stepSeconds` and `points` overrides for {@link generatePath}.
 */
export function pathAtStep(stepSeconds: number): { stepSeconds: number; points: number } {
  return { stepSeconds, points: Math.floor(((DEFAULT_PATH.points - 1) * DEFAULT_PATH.stepSeconds) / stepSeconds) + 1 }
}

/** Log-price offset of a drop to ln(1 - depth) over `drop` seconds from `start`, then back to ln(1 - residual) over `recovery` seconds. */
function shockOffset(t: number, start: number, depth: number, shock: ShockParameters): number {
  const bottom = Math.log(1 - depth)
  const rest = Math.log(1 - shock.residual)
  if (t <= start) return 0
  if (t <= start + shock.dropSeconds) return (bottom * (t - start)) / shock.dropSeconds
  const back = t - start - shock.dropSeconds
  if (back < shock.recoverySeconds) return bottom + ((rest - bottom) * back) / shock.recoverySeconds
  return rest
}

/**
 * Generate one price path: GBM, GBM with Merton jumps, a volatility regime shift (base volatility,
 * then `regimeMultiplier` x for `regimeSeconds`, then back), a crash (-30 % / -45 % within
 * `crashSeconds`, linear in log-price, starting at a random time in the middle third, followed by the
 * high-volatility regime), a flash wick (calm, a drop of 15-30 % within one minute, back within five
 * minutes, calm), a slow grind (-40 % to -70 % in steps over the path), a whipsaw (+-12 % swings), a
 * depeg of a correlated pair (-3 % to -10 % in 30 minutes, recovering over a day, at higher volatility), or a gap of
 * 28, 30 or 32 % within one minute in calm, recovering within 30 minutes ("gapRecover") or not at all ("gapHold").
 * Event times, depths and periods are drawn from the seed. Reproducible for a seed.
 *
 * @param params - Shape, seed and dynamics.
 * @returns A single-asset {@link PricePaths}.
 * @example generatePath({ ...DEFAULT_PATH, kind: "crash30", seed: 1 })
 */
export function generatePath(params: PathParameters): PricePaths {
  const rng = new Rng(params.seed)
  const n = params.points
  const dtYears = params.stepSeconds / SECONDS_PER_YEAR
  const timestamps = new Float64Array(n)
  const prices = new Float64Array(n)
  const span = (n - 1) * params.stepSeconds
  const eventStart = span / 3 + (rng.uniform() * span) / 3
  const crashDrop = params.kind === "crash30" ? 0.3 : params.kind === "crash45" ? 0.45 : 0
  const crashEnd = eventStart + params.crashSeconds
  const regimeStart = crashDrop > 0 ? crashEnd : eventStart
  const regimeEnd = regimeStart + params.regimeSeconds
  const crashPerStep = crashDrop > 0 ? (Math.log(1 - crashDrop) * params.stepSeconds) / params.crashSeconds : 0
  const gapped = params.kind === "gapRecover" || params.kind === "gapHold"
  const gapDepth = gapped ? (params.gap.depths[Math.min(params.gap.depths.length - 1, Math.floor(rng.uniform() * params.gap.depths.length))] as number) : 0
  if (gapped && !(gapDepth > 0 && gapDepth < 1)) throw new RangeError(`gap.depths: each depth must be in (0, 1), got ${gapDepth}`)
  const gapShock: ShockParameters = { minDepth: gapDepth, maxDepth: gapDepth, dropSeconds: params.gap.dropSeconds, recoverySeconds: params.gap.recoverySeconds, residual: params.kind === "gapHold" ? gapDepth : params.gap.residual }
  const shock = params.kind === "flashWick" ? params.wick : params.kind === "depeg" ? params.depeg : gapped ? gapShock : undefined
  const shockDepth = shock === undefined ? 0 : gapped ? gapDepth : shock.minDepth + (shock.maxDepth - shock.minDepth) * rng.uniform()
  const shockEnd = shock === undefined ? 0 : eventStart + shock.dropSeconds + shock.recoverySeconds
  const calmFactor = params.kind === "flashWick" || gapped ? 0.5 + rng.uniform() : 1
  const fall = params.kind === "slowGrind" ? params.grind.minFall + (params.grind.maxFall - params.grind.minFall) * rng.uniform() : 0
  const period = params.kind === "whipsaw" ? params.whipsaw.minPeriodSeconds + (params.whipsaw.maxPeriodSeconds - params.whipsaw.minPeriodSeconds) * rng.uniform() : 1
  const phase = params.kind === "whipsaw" ? 2 * Math.PI * rng.uniform() : 0
  const offset = (t: number): number => {
    switch (params.kind) {
      case "flashWick":
      case "depeg":
        return shockOffset(t, eventStart, shockDepth, shock as ShockParameters)
      case "gapRecover":
      case "gapHold":
        // The gap starts on a step, so a one-minute gap is one step's move.
        return shockOffset(t, Math.floor(eventStart / params.stepSeconds) * params.stepSeconds, shockDepth, shock as ShockParameters)
      case "slowGrind": {
        const { steps, stepSeconds } = params.grind
        let o = 0
        for (let j = 0; j < steps; j++) {
          const start = (span * (j + 0.5)) / steps - stepSeconds / 2
          o += (Math.log(1 - fall) / steps) * Math.min(1, Math.max(0, (t - start) / stepSeconds))
        }
        return o
      }
      case "whipsaw":
        return Math.log(1 + params.whipsaw.amplitude) * (Math.sin((2 * Math.PI * t) / period + phase) - Math.sin(phase))
      default:
        return 0
    }
  }
  const jumpsOn = params.kind === "jumps"
  const lambdaDt = jumpsOn ? params.jumps.intensity * dtYears : 0
  const compensator = jumpsOn ? params.jumps.intensity * Math.expm1(params.jumps.meanLog + 0.5 * params.jumps.sigmaLog ** 2) : 0
  let nextJump = lambdaDt > 0 ? -Math.log(rng.uniform()) / lambdaDt : Number.POSITIVE_INFINITY
  let x = Math.log(params.initialPrice)
  timestamps[0] = params.start
  prices[0] = params.initialPrice
  for (let k = 1; k < n; k++) {
    const t = k * params.stepSeconds
    timestamps[k] = params.start + t
    const highVol = ((params.kind === "regime" || crashDrop > 0) && t > regimeStart && t <= regimeEnd) || (params.kind === "depeg" && t > eventStart && t <= shockEnd)
    const sigma = params.sigma * calmFactor * (highVol ? params.regimeMultiplier : 1)
    x += (params.drift - 0.5 * sigma * sigma - compensator) * dtYears + sigma * Math.sqrt(dtYears) * rng.normal()
    if (crashDrop > 0 && t > eventStart && t <= crashEnd) x += crashPerStep
    while (nextJump <= k) {
      x += params.jumps.meanLog + params.jumps.sigmaLog * rng.normal()
      nextJump += -Math.log(rng.uniform()) / lambdaDt
    }
    prices[k] = Math.exp(x + offset(t))
  }
  return { timestamps, assets: [params.asset], prices: { [params.asset]: prices } }
}

/** One path of the standard scenario set. */
export type ScenarioSpec = { index: number; kind: ScenarioKind; seed: number }

/**
 * The standard scenario set: path i has kind `SCENARIO_KINDS[i % 11]` and seed `baseSeed + i`, so
 * 1,100 paths are 100 each of GBM, jumps, regime shift, -30 % crash, -45 % crash, flash wick, slow grind,
 * whipsaw, depeg, gap and recover, and gap and hold.
 *
 * @param count - Number of paths.
 * @param baseSeed - Seed of path 0.
 * @param kinds - Kinds to cycle through; default all ({@link SCENARIO_KINDS}).
 * @returns The specs.
 */
export function scenarioSet(count: number, baseSeed: number, kinds: readonly ScenarioKind[] = SCENARIO_KINDS): ScenarioSpec[] {
  return Array.from({ length: count }, (_, i) => ({ index: i, kind: kinds[i % kinds.length] as ScenarioKind, seed: baseSeed + i }))
}
