import { Rng } from "../risk/rng.js"
import { SECONDS_PER_YEAR } from "../risk/firstPassage.js"
import type { JumpParameters } from "../risk/firstPassage.js"
import type { PricePaths } from "./csv.js"

/** Shapes of generated paths. */
export type ScenarioKind = "gbm" | "jumps" | "regime" | "crash30" | "crash45"

/** All scenario kinds, in the order the suite cycles through them. */
export const SCENARIO_KINDS: readonly ScenarioKind[] = ["gbm", "jumps", "regime", "crash30", "crash45"]

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
}

/**
 * Generate one price path: GBM, GBM with Merton jumps, a volatility regime shift (base volatility,
 * then `regimeMultiplier` x for `regimeSeconds`, then back), or a crash (-30 % / -45 % within
 * `crashSeconds`, linear in log-price, starting at a random time in the middle third, followed by the
 * high-volatility regime). Reproducible for a seed.
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
    const highVol = (params.kind === "regime" || crashDrop > 0) && t > regimeStart && t <= regimeEnd
    const sigma = params.sigma * (highVol ? params.regimeMultiplier : 1)
    x += (params.drift - 0.5 * sigma * sigma - compensator) * dtYears + sigma * Math.sqrt(dtYears) * rng.normal()
    if (crashDrop > 0 && t > eventStart && t <= crashEnd) x += crashPerStep
    while (nextJump <= k) {
      x += params.jumps.meanLog + params.jumps.sigmaLog * rng.normal()
      nextJump += -Math.log(rng.uniform()) / lambdaDt
    }
    prices[k] = Math.exp(x)
  }
  return { timestamps, assets: [params.asset], prices: { [params.asset]: prices } }
}

/** One path of the standard scenario set. */
export type ScenarioSpec = { index: number; kind: ScenarioKind; seed: number }

/**
 * The standard scenario set: path i has kind `SCENARIO_KINDS[i % 5]` and seed `baseSeed + i`, so
 * 1,000 paths are 200 each of GBM, jumps, regime shift, -30 % crash and -45 % crash.
 *
 * @param count - Number of paths.
 * @param baseSeed - Seed of path 0.
 * @returns The specs.
 */
export function scenarioSet(count: number, baseSeed: number): ScenarioSpec[] {
  return Array.from({ length: count }, (_, i) => ({ index: i, kind: SCENARIO_KINDS[i % SCENARIO_KINDS.length] as ScenarioKind, seed: baseSeed + i }))
}
