import { describe, expect, test } from "vitest"
import { type RulePolicy, type RuleSubAccount, collateralValue, healthOf, landingZone } from "./planRules.js"
import { LLTV, POOL, checkWithPool, h, refusalOf, rulePolicy, usage, wethSubAccount } from "./rules.testing.js"

// Issue 13's in-band rescue (`Policy.rescueBelowTarget`, RebalanceLib `_trigger` and `landingZone`): with the flag a
// sub-account inside its band below targetHealth is due, for a landing in [max(target, before + (target - min) / 2),
// target + (max - target) / 2]; without it (or at / above the target) the band alone triggers. The SDK half of
// modules/test/differential/RulesDifferential.t.sol's in-band cases, with exact error arguments.

/** Band [1.2, 1.4, 1.7] ({@link rulePolicy}), the USDC pool allowed, `over` on top. */
const policy = (over: Partial<RulePolicy> = {}) => rulePolicy({ pools: [POOL], ...over })
/** 10 WETH at 3,000 USD at health `health` under `p` (sub-account 1). */
const weth = (health: number, p: RulePolicy): RuleSubAccount => wethSubAccount(1, 10n * 10n ** 18n, 3000n, health, p)
/** The USDC repayment (base units) that lands `s` at `health` (one base unit short of the exact debt). */
const repayTo = (s: RuleSubAccount, health: number) => s.state.debt - (collateralValue(s.state.collateral, s.state.price) * LLTV) / h(health)
/** `s`'s health before (the rule book's own figure: the debt is rounded, so a hair off the drawn health). */
const before = (s: RuleSubAccount) => healthOf(s.state.collateral, s.state.debt, s.state.price, s.state.lltv)
/** |a - b| (WAD). */
const gap = (a: bigint, b: bigint) => (a > b ? a - b : b - a)
/** `s`'s health after repaying `x` (the rule book's own figure). */
const after = (s: RuleSubAccount, x: bigint) => healthOf(s.state.collateral, s.state.debt - x, s.state.price, s.state.lltv)
/** WithdrawFromPool(x) + Repay(x) landing `s` at `health`, judged; also the repayment. */
const rescue = (s: RuleSubAccount, health: number) => {
  const amount = repayTo(s, health)
  const verdict = checkWithPool(s, [
    { kind: "WithdrawFromPool", subAccount: 0, pool: POOL, amount },
    { kind: "Repay", subAccount: 0, amount },
  ])
  return { verdict: refusalOf(verdict), amount }
}

describe("landingZone: the in-band branch (min <= before < target)", () => {
  test("half the lower band higher (stop 64: no longer at least the target; continuous with the zone below the band at min), up to half the upper band above the target", () => {
    // Band [1.2, 1.4, 1.7]: lower width 0.2, upper 0.3.
    expect(landingZone(h(1.2), h(1.2), h(1.4), h(1.7))).toEqual([h(1.3), h(1.55)])
    expect(landingZone(h(1.2) - 1n, h(1.2), h(1.4), h(1.7))).toEqual([h(1.3) - 1n, h(1.55)])
    expect(landingZone(h(1.25), h(1.2), h(1.4), h(1.7))).toEqual([h(1.35), h(1.55)])
    expect(landingZone(h(1.35), h(1.2), h(1.4), h(1.7))).toEqual([h(1.45), h(1.55)])
    expect(landingZone(h(1.4) - 1n, h(1.2), h(1.4), h(1.7))).toEqual([h(1.5) - 1n, h(1.55)])
  })

  test("empty (low > high) close under the target when the lower band is wider than the upper", () => {
    // Band [1.1, 1.5, 1.6]: from 1.45, low 1.45 + 0.2 = 1.65 > high 1.5 + 0.05 = 1.55.
    expect(landingZone(h(1.45), h(1.1), h(1.5), h(1.6))).toEqual([h(1.65), h(1.55)])
  })

  test("below the band and from the target up: unchanged", () => {
    expect(landingZone(h(1.1), h(1.2), h(1.4), h(1.7))).toEqual([h(1.2), h(1.55)])
    expect(landingZone(h(1.4), h(1.2), h(1.4), h(1.7))).toEqual([h(1.3), h(1.25)])
    expect(landingZone(h(1.8), h(1.2), h(1.4), h(1.7))).toEqual([h(1.3), h(1.65)])
  })
})

describe("due: rescueBelowTarget", () => {
  test("in band below the target: NoTrigger without the flag (false or omitted), accepted with it", () => {
    expect(rescue(weth(1.25, policy()), 1.45).verdict).toEqual(["NoTrigger"])
    expect(rescue(weth(1.25, policy({ rescueBelowTarget: false })), 1.45).verdict).toEqual(["NoTrigger"])
    expect(rescue(weth(1.25, policy({ rescueBelowTarget: true })), 1.45).verdict).toEqual(["accepted"])
  })

  test("at or above the target (inside the band) the flag triggers nothing: NoTrigger", () => {
    expect(rescue(weth(1.45, policy({ rescueBelowTarget: true })), 1.5).verdict).toEqual(["NoTrigger"])
    expect(rescue(weth(1.6, policy({ rescueBelowTarget: true })), 1.65).verdict).toEqual(["NoTrigger"])
  })

  test("landing short of half the lower band up, or past half the upper band: HealthOutsideLandingZone(id, health, low, high); under the target but past the half band: accepted (stop 64)", () => {
    const s = weth(1.25, policy({ rescueBelowTarget: true }))
    const short = rescue(s, 1.34)
    expect(short.verdict).toEqual(["HealthOutsideLandingZone", s.id, after(s, short.amount), before(s) + h(0.1), h(1.55)])
    const over = rescue(s, 1.6)
    expect(over.verdict).toEqual(["HealthOutsideLandingZone", s.id, after(s, over.amount), before(s) + h(0.1), h(1.55)])
    expect(rescue(s, 1.37).verdict).toEqual(["accepted"])
    // Close under the target the low edge is before + (target - min) / 2: from 1.35, 1.44 is short of 1.45.
    const near = weth(1.35, policy({ rescueBelowTarget: true }))
    const halfway = rescue(near, 1.44)
    expect(gap(before(near), h(1.35))).toBeLessThan(10n ** 9n)
    expect(halfway.verdict).toEqual(["HealthOutsideLandingZone", near.id, after(near, halfway.amount), before(near) + h(0.1), h(1.55)])
    expect(rescue(near, 1.5).verdict).toEqual(["accepted"])
  })

  test("the empty zone: nothing lands (HealthOutsideLandingZone with low > high)", () => {
    const s = weth(1.45, policy({ rescueBelowTarget: true, minHealth: h(1.1), targetHealth: h(1.5), maxHealth: h(1.6) }))
    const landed = rescue(s, 1.56)
    // low = before + (1.5 - 1.1) / 2 (about 1.65) > high = 1.5 + (1.6 - 1.5) / 2 = 1.55.
    expect(gap(before(s), h(1.45))).toBeLessThan(10n ** 9n)
    expect(landed.verdict).toEqual(["HealthOutsideLandingZone", s.id, after(s, landed.amount), before(s) + h(0.2), h(1.55)])
  })

  test("the cooldown still applies (CooldownActive(id, readyAt)); the epoch's rebalance count too", () => {
    const p = policy({ rescueBelowTarget: true, cooldown: 3_600 })
    const cooling = { ...weth(1.25, p), usage: { ...usage, lastRebalance: 1_700_000_000 - 60 } }
    expect(rescue(cooling, 1.45).verdict).toEqual(["CooldownActive", cooling.id, 1_700_000_000n - 60n + 3_600n])
    const epoch = Number(1_700_000_000n / 86_400n)
    const counted = { ...weth(1.25, policy({ rescueBelowTarget: true, maxRebalancesPerEpoch: 2 })), usage: { ...usage, epoch, rebalances: 2 } }
    expect(rescue(counted, 1.45).verdict).toEqual(["EpochRebalanceCapExceeded", counted.id, 3n, 2n])
  })
})
