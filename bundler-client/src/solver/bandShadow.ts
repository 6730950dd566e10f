/**
 * Issue 13's rule, the boost side (helper s50): "on any path where threshold (the band rule) is not liquidated, the
 * autopilot is not either". The autopilot rests higher than the band rule after its in-band rescues, so a rise can take
 * it above `maxHealth` while a band-rule position on the same prices, lower, stays inside the band; a boost then lands
 * the autopilot below that position's health and a crash right after liquidates only the autopilot. A stateless rule
 * cannot see the band rule's health (it depends on the path), so the keeper and the backtester keep this shadow per
 * sub-account and pass it to the solver as the boost floor (`SubAccountInput.boostFloorHealth`).
 *
 * The shadow is the health a band-rule position would hold: it starts at the first health observed (at least the
 * target), moves with the
 * collateral's price (at fixed collateral and debt, health is proportional to the collateral price; a caller may fold
 * interest into the factor, collateral index / debt index, as the backtester does), and is reset to `targetHealth`
 * whenever it is observed below `minHealth`, or (with `boostAllowed`) above `maxHealth`: where the band rule would be
 * rescued or boosted back to its target. It ignores what can stop the band rule's own rebalance (cooldown, caps, a
 * landing short of the target): the band rule it models always lands at the target when due.
 */
export type BandShadowPolicy = { minHealth: number; targetHealth: number; maxHealth: number; boostAllowed: boolean }

/** One sub-account's band-rule shadow (see the module docstring). Not thread-safe; one instance per sub-account. */
export class BandRuleShadow {
  private base: { health: number; factor: number } | undefined
  private last: number | undefined

  /**
   * Observe the sub-account at one poll.
   *
   * @param factor - Anything proportional to the health of a position at fixed collateral and debt: the collateral's
   *   oracle price (loan units per collateral unit), optionally x collateral index / debt index. Must be finite and > 0;
   *   otherwise the observation is ignored and the last shadow is returned.
   * @param health - The sub-account's own health now (used only at the first observation, as the shadow's start).
   * @param policy - Its band (`minHealth` < `targetHealth` < `maxHealth`) and whether boosts are allowed.
   * @returns The shadow's health after this observation (health units, at `factor`), or undefined before any valid
   *   observation.
   */
  observe(factor: number, health: number, policy: BandShadowPolicy): number | undefined {
    if (!(factor > 0) || !Number.isFinite(factor)) return this.last
    if (this.base === undefined) {
      if (!(health > 0)) return undefined
      // Its start: the health observed, at least the target (the band rule's history is unknown: a keeper restarted on
      // a position below its target, or a trader starting there, assumes the band rule rests at its target, the higher
      // floor, so an in-band rescue is not withheld and a boost is not lowered; issue 13, helper bk50's gate).
      this.base = { health: Math.max(health, policy.targetHealth), factor }
    }
    const h = this.base.health * (factor / this.base.factor)
    if (h < policy.minHealth || (policy.boostAllowed && h > policy.maxHealth)) this.base = { health: policy.targetHealth, factor }
    this.last = this.health(factor)
    return this.last
  }

  /**
   * The shadow's health at `factor` without observing (no reset); undefined before any observation.
   */
  health(factor: number): number | undefined {
    return this.base === undefined ? undefined : this.base.health * (factor / this.base.factor)
  }
}
