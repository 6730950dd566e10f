import { describe, expect, test } from "vitest"
import { MIN_BAND_GAP } from "../constants/module.js"
import { type RuleSubAccount, checkRebalanceRules, collateralValue } from "./planRules.js"
import { LLTV, POOL, USDC, WETH, h, refusalOf, rulePolicy, usage, wethSubAccountOwing } from "./rules.testing.js"

// Review rv66 of 4a070c74 (cap-bound in-band rescue): the rule book's side of
// modules/test/attacks/Rv66CapBoundInBandMismatch.t.sol. A (10 WETH / 18,000 USDC at 2,616.279 USD: health 1.25,
// `rescueBelowTarget`, boosts allowed, cap 1,000) is due in band; the keeper withdraws 0.48 WETH from A (honest move
// for ~1.19: gap / lltv ~1,256 >= 990) and supplies it to B (not due). The module refuses HealthOutOfBand(A, ~1.19, 1.2,
// 1.7) (its exemption needs before < minHealth); the rule book's `capBound` was true by the in-band branch and its
// HealthOutOfBand exemption was `!capBound` alone, so it named HealthOutsideLandingZone(A, ~1.19, before + 0.01, 1.55).
// Fixed: the exemption needs before < minHealth in the rule book too.

const USD = 10n ** 6n
const PRICE_USD = 2_616_279_069_767_441_800_000n // 2,616.2790697674418 USD, 1e18-scaled (the forge test's PRICE)
const P = PRICE_USD * 10n ** 6n // 1e36-scaled USDC base units per WETH wei
const W = 48n * 10n ** 16n

function sub(n: number, collateral: bigint, debt: bigint, over: Parameters<typeof rulePolicy>[0]): RuleSubAccount {
  const s = wethSubAccountOwing(n, [POOL], collateral, debt, 1n, LLTV, over)
  return { ...s, state: { ...s.state, price: P }, usage }
}

describe("rv66: a due in-band sub-account pushed below minHealth by a cap-sized move", () => {
  test("the rule book names HealthOutOfBand, as the module does (was HealthOutsideLandingZone)", () => {
    const a = sub(1, 10n * 10n ** 18n, 18_000n * USD, { maxAmountPerRebalance: 1_000n * USD, rescueBelowTarget: true, boostAllowed: true })
    const b = sub(2, 50n * 10n ** 18n, 90_000n * USD, {})
    const before = (collateralValue(a.state.collateral, P) * LLTV) / a.state.debt
    const after = (collateralValue(a.state.collateral - W, P) * LLTV) / a.state.debt
    expect(before > h(1.2) && before < h(1.4)).toBe(true)
    expect(after < h(1.2)).toBe(true)
    const result = checkRebalanceRules({
      plan: {
        subAccounts: [a.id, b.id],
        actions: [
          { kind: "WithdrawCollateral", subAccount: 0, amount: W },
          { kind: "SupplyCollateral", subAccount: 1, amount: W },
        ],
      },
      subAccounts: [a, b],
      pools: [{ address: POOL, asset: USDC, totalAssets: 10n ** 24n, totalSupply: 10n ** 24n, shares: 10n ** 20n, feeBps: 0n }],
      balances: { [USDC]: 0n, [WETH]: 0n },
      swapAdapter: "0x0000000000000000000000000000000000000000",
      timestamp: 1_700_000_000n,
      gasUsed: 300_000n,
    })
    // The module (forge test): HealthOutOfBand(A, after, 1.2, 1.7); the rule book the same (before the fix:
    // HealthOutsideLandingZone(A, after, before + MIN_BAND_GAP, 1.55)).
    expect(refusalOf(result)).toEqual(["HealthOutOfBand", a.id, after, h(1.2), h(1.7)])
  })
})
