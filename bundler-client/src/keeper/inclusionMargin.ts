import { SECONDS_PER_YEAR } from "../risk/firstPassage.js"
import { healthOf } from "../solver/state.js"
import type { SolverInput } from "../solver/types.js"

/** Blocks between the solve and the plan's execution the band margin allows for, and its width in standard deviations. */
export const INCLUSION_MARGIN = { blocks: 2, deviations: 2, maxShareOfBand: 0.25 }

/**
 * Autopilot aims at its risk health clipped into the band, often at a band edge; if the price moves before the
 * operation is included, the module rejects a plan that now lands just outside (HealthOutOfBand). So the keeper
 * solves against a band narrowed, on the edges the plan aims at, by the price move expected until inclusion:
 * `m = deviations x sigma x sqrt(blocks x blockSeconds / year)` in log-health (at most `maxShareOfBand` of the band's
 * log-width). A band edge is only moved towards the current health, so which sub-accounts are triggered (rule 1)
 * does not change.
 *
 * @returns The input with narrowed `minHealth` / `maxHealth`; the on-chain policy is unchanged.
 */
export function withInclusionMargin(input: SolverInput, blockSeconds: number): SolverInput {
  return {
    ...input,
    subAccounts: input.subAccounts.map((sub) => {
      const { minHealth, maxHealth } = sub.policy
      const h = healthOf(sub.state)
      const m = Math.min(
        INCLUSION_MARGIN.deviations * sub.risk.sigma * Math.sqrt((INCLUSION_MARGIN.blocks * blockSeconds) / SECONDS_PER_YEAR),
        INCLUSION_MARGIN.maxShareOfBand * Math.log(maxHealth / minHealth),
      )
      if (!(m > 0) || !Number.isFinite(h)) return sub
      const target = sub.policy.targetHealth
      const max = Math.max(target, h > maxHealth ? maxHealth * Math.exp(-m) : Math.max(h, maxHealth * Math.exp(-m)))
      const min = Math.min(target, h < minHealth ? minHealth * Math.exp(m) : Math.min(h, minHealth * Math.exp(m)))
      if (!(min < max)) return sub
      return { ...sub, policy: { ...sub.policy, minHealth: min, maxHealth: max } }
    }),
  }
}
