import type { Hex } from "viem"
import { describe, expect, test } from "vitest"
import { type RulePolicy, type RuleSubAccount, aaveHealthFactor, checkRebalanceRules } from "./planRules.js"
import { USDC, WETH, h, rulePolicy, usage } from "./rules.testing.js"

// Review rr17 (issue 17, after fx17 F1), rule book vs module on an UPPER edge. aaveFrameHealthAfter keeps an account's
// average threshold exactly only when it equals the MARKET's threshold (`distance(weighted0, total0 x lltvBps) <=
// slack`); any other average that is a whole bps (an account whose collaterals all share one threshold other than the
// market collateral's: e.g. only WBTC, LT 7,800, under a WETH/USDC policy, LT 8,300; or a plan that takes the market
// collateral to 0 next to one other reserve) falls in the "within rounding of a whole bps" window and is taken 1 bps
// LOWER (7,799) than Aave's own floor (7,800). The rule book's health after is then 1/7,800 = 1.28e-4 below Aave's
// factor, i.e. 1.28e-4 LENIENT on every upper edge (landing-zone top, maxHealth, the target of a not-due one): a plan
// landing Aave's factor in (edge, edge x 1.000128] passes validateRebalance and the module refuses it
// (HealthOutsideLandingZone with Aave's factor). The keeper's solver aims the frame (= Aave's factor here) under the
// edge, so it takes a later cut (the clamp cutting a repayment's source, an inclusion resize) or interest to land in the
// window; the SDK's own check does not catch it there.
// (Note the solver's venueHealthOf has the same 1 bps under-read on this account: e.g. it reads 1.099909 for Aave's
// 1.100050 and flags it below a 1.1 band; the solver's own NoTrigger check then drops the plan.)

const policy = (over: Partial<RulePolicy> = {}) => rulePolicy({ boostAllowed: true, ...over })
const PRICE = 3_000n * 10n ** 24n // USDC base units per WETH wei, x 1e36

// The Safe's Aave account: 2 WBTC (60,000 USD, LT 7,800) only, under the WETH/USDC market id (WETH LT 8,300), owing USDC.
// getUserAccountData in base currency (8 decimals): USDC at 1 USD, so 1 USDC unit = 100 base units.
const TOTAL_BASE = 2n * 60_000n * 10n ** 8n
const aaveAfter = (debtBase: bigint) => aaveHealthFactor({ totalCollateral: TOTAL_BASE, weightedCollateral: TOTAL_BASE * 7_800n, totalDebt: debtBase })
const DEBT_BASE = (TOTAL_BASE * 7_800n * 10n) / (10_000n * 11n) // Aave's factor 1.1: below the band [1.2, 1.7]
const aave: RuleSubAccount = {
  id: `0x${"02".repeat(32)}` as Hex,
  policy: policy(),
  state: {
    loanToken: USDC,
    collateralToken: WETH,
    // AaveV3Adapter._collateral: weighted (one reserve: total x its threshold) over the market's threshold and price, in wei.
    collateral: (TOTAL_BASE * 7_800n * 10n ** 18n) / (8_300n * 3_000n * 10n ** 8n),
    debt: DEBT_BASE / 100n,
    price: PRICE,
    lltv: 83n * 10n ** 16n,
    health: aaveAfter(DEBT_BASE),
    equity: (TOTAL_BASE - DEBT_BASE) / 100n,
    thresholdFloored: true,
  },
  usage,
}
// A Morpho donor above its target, which borrows what the Aave account repays.
const morpho: RuleSubAccount = {
  id: `0x${"01".repeat(32)}` as Hex,
  policy: policy(),
  state: { loanToken: USDC, collateralToken: WETH, collateral: 200n * 10n ** 18n, debt: 322_500_000_000n, price: PRICE, lltv: 86n * 10n ** 16n },
  usage,
}
// Aave due below its band: landing zone [max(1.2, 1.1 + 0.1), 1.4 + 0.15] = [1.2, 1.55].
const TOP = h(1.55)
/** The repayment (USDC units) that takes Aave's factor to `health` (WAD). */
const repayTo = (health: bigint) => DEBT_BASE / 100n - (TOTAL_BASE * 7_800n * 10n ** 18n) / (10_000n * health) / 100n
const judge = (amount: bigint) =>
  checkRebalanceRules({
    plan: { subAccounts: [morpho.id, aave.id], actions: [{ kind: "Borrow", subAccount: 0, amount }, { kind: "Repay", subAccount: 1, amount }] },
    subAccounts: [morpho, aave],
    pools: [],
    balances: {},
    swapAdapter: "0x0000000000000000000000000000000000000000",
    timestamp: 1_700_000_000n,
    gasUsed: 400_000n,
  })

describe("rule book vs Aave's factor at the landing-zone top, an account whose average is a whole bps not the market's", () => {
  const inside = repayTo((TOP * 99_990n) / 100_000n) // Aave's factor 1.55 x (1 - 1e-4): inside the zone
  const over = repayTo((TOP * 100_005n) / 100_000n) // Aave's factor 1.55 x (1 + 5e-5): past the zone's top

  test("fixture: Aave's factor before is 1.1 (due), after `inside` below the top and after `over` above it", () => {
    expect(Number(aave.state.health) / 1e18).toBeCloseTo(1.1, 9)
    expect(aaveAfter((aave.state.debt - inside) * 100n) < TOP).toBe(true)
    expect(aaveAfter((aave.state.debt - over) * 100n) > TOP).toBe(true)
  })

  test("control: the plan landing inside the zone is accepted", () => {
    const r = judge(inside)
    expect(r.ok, r.ok ? "" : `${r.error.name} ${r.error.args.join(",")}`).toBe(true)
  })

  test("the plan landing Aave's factor past the zone's top is refused (HealthOutsideLandingZone), as the module refuses it (review rr17 R2, fixed)", () => {
    const r = judge(over)
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect([r.error.name, r.error.args[0]]).toEqual(["HealthOutsideLandingZone", aave.id])
  })

  test("the rule book's health after is Aave's factor (the average kept at 7,800), not 1 bps of threshold below it", () => {
    const r = judge(inside)
    expect(r.ok).toBe(true)
    if (!r.ok) return
    const after = r.subAccounts.find((x) => x.id === aave.id)?.healthAfter as bigint
    const exact = aaveAfter((aave.state.debt - inside) * 100n)
    expect(Math.abs(Number(exact - after)) / Number(exact)).toBeLessThan(1e-9)
  })

  test("without Aave's factor before (`health` omitted) the ambiguous average is still taken 1 bps low (the conservative side)", () => {
    const { health: _health, ...state } = aave.state
    const r = checkRebalanceRules({
      plan: { subAccounts: [morpho.id, aave.id], actions: [{ kind: "Borrow", subAccount: 0, amount: inside }, { kind: "Repay", subAccount: 1, amount: inside }] },
      subAccounts: [morpho, { ...aave, state }],
      pools: [],
      balances: {},
      swapAdapter: "0x0000000000000000000000000000000000000000",
      timestamp: 1_700_000_000n,
      gasUsed: 400_000n,
    })
    expect(r.ok).toBe(true)
    if (!r.ok) return
    const after = r.subAccounts.find((x) => x.id === aave.id)?.healthAfter as bigint
    const exact = aaveAfter((aave.state.debt - inside) * 100n)
    expect(Number(exact - after) / Number(exact)).toBeCloseTo(1 / 7_800, 5)
  })
})
