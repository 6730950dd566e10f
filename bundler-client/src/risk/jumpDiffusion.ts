import { Rng } from "./rng.js"
import { RiskInputError } from "./errors.js"
import type { JumpParameters } from "./firstPassage.js"

/** Parameters of a Merton jump-diffusion first-passage Monte Carlo. */
export type MonteCarloParameters = {
  /** Number of simulated paths. */
  paths: number
  /** Number of time steps over the horizon. */
  steps: number
  /** Horizon in years. */
  horizonYears: number
  /** Annualised diffusion volatility. */
  sigma: number
  /** Annualised drift of the price (the jump compensator keeps E[S_T] = S_0 e^{mu T}). */
  drift?: number | undefined
  /** Optional compound-Poisson jumps in the log-price. */
  jumps?: JumpParameters | undefined
  /** Log-distance to the barrier, d = ln(S_0 / L) = ln(health). */
  logDistance: number
  /** Seed of the xoshiro128** generator. */
  seed: number
  /**
   * Brownian-bridge crossing correction between grid points, which turns the discretely monitored
   * simulation into an unbiased estimate of the continuously monitored probability. Default true.
   */
  bridge?: boolean | undefined
}

/** Result of {@link simulateFirstPassage}. */
export type MonteCarloResult = {
  /** Estimated probability of touching the barrier within the horizon. */
  probability: number
  /** Standard error of the estimate, sqrt(p (1 - p) / paths). */
  standardError: number
  /** Per path: step index (1-based) of the first passage, or 0 if the barrier was never touched. */
  hitStep: Int32Array
  /** Per path: terminal log-return ln(S_T / S_0) (the value at the hit when the path stopped early). */
  terminalLogReturn: Float64Array
}

/**
 * Monte Carlo of the first passage of a Merton jump-diffusion log-price below `-logDistance`
 * within the horizon, on typed arrays, reproducible for a given seed.
 *
 * @param params - Paths, steps, horizon, dynamics, barrier and seed.
 * @returns The probability, its standard error and per-path hit steps and terminal log-returns.
 * @example simulateFirstPassage({ paths: 100_000, steps: 96, horizonYears: 1 / 365, sigma: 0.8, logDistance: 0.05, seed: 1 })
 */
export function simulateFirstPassage(params: MonteCarloParameters): MonteCarloResult {
  const { paths, steps, horizonYears, sigma, logDistance, seed } = params
  if (!(Number.isInteger(paths) && paths > 0)) throw new RiskInputError("paths", `must be a positive integer, got ${paths}`)
  if (!(Number.isInteger(steps) && steps > 0)) throw new RiskInputError("steps", `must be a positive integer, got ${steps}`)
  if (!(horizonYears > 0)) throw new RiskInputError("horizonYears", `must be > 0, got ${horizonYears}`)
  if (!(sigma >= 0)) throw new RiskInputError("sigma", `must be >= 0, got ${sigma}`)
  const rng = new Rng(seed)
  const dt = horizonYears / steps
  const jumps = params.jumps
  const lambdaDt = jumps === undefined ? 0 : jumps.intensity * dt
  const compensator = jumps === undefined ? 0 : jumps.intensity * Math.expm1(jumps.meanLog + 0.5 * jumps.sigmaLog * jumps.sigmaLog)
  const mu = (params.drift ?? 0) - 0.5 * sigma * sigma - compensator
  const driftStep = mu * dt
  const volStep = sigma * Math.sqrt(dt)
  const bridge = (params.bridge ?? true) && sigma > 0
  const bridgeScale = bridge ? -2 / (sigma * sigma * dt) : 0
  const barrier = -logDistance
  const hitStep = new Int32Array(paths)
  const terminal = new Float64Array(paths)
  let hits = 0
  for (let p = 0; p < paths; p++) {
    let x = 0
    let hit = 0
    let nextJump = lambdaDt > 0 ? -Math.log(rng.uniform()) / lambdaDt : Number.POSITIVE_INFINITY
    if (barrier >= 0) hit = 1
    else {
      for (let k = 1; k <= steps; k++) {
        let next = x + driftStep + volStep * rng.normal()
        if (next <= barrier) {
          x = next
          hit = k
          break
        }
        if (bridge) {
          const exponent = bridgeScale * (x - barrier) * (next - barrier)
          if (exponent > -30 && rng.uniform() < Math.exp(exponent)) {
            x = barrier
            hit = k
            break
          }
        }
        if (nextJump <= k && jumps !== undefined) {
          while (nextJump <= k) {
            next += jumps.meanLog + jumps.sigmaLog * rng.normal()
            nextJump += -Math.log(rng.uniform()) / lambdaDt
          }
          if (next <= barrier) {
            x = next
            hit = k
            break
          }
        }
        x = next
      }
    }
    hitStep[p] = hit
    terminal[p] = x
    if (hit > 0) hits++
  }
  const probability = hits / paths
  return { probability, standardError: Math.sqrt((probability * (1 - probability)) / paths), hitStep, terminalLogReturn: terminal }
}
