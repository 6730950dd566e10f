import { describe, expect, it } from "vitest"
import { subAccountStateOf, type SubAccountView } from "./getSubAccountState.js"

// Review brk17c (issue 17), F2: the SDK reported an Aave sub-account's collateral value, LTV, leverage, liquidation
// price and distance to liquidation from the adapter's MARKET FRAME (`getSubAccountMetrics(state)`: collateral x price),
// but on Aave that frame is the account's threshold-weighted collateral re-expressed in the market collateral at ITS
// threshold (docs/aave.md: "`collateral x price - debt` is not the account's equity"), not a value. The state below is
// `AaveV3Adapter.marketState(wbtcUsdc, safe)` read on the real Aave v3 Pool (AaveTestBase.openAaveAccount(50 WETH,
// 0.1 WBTC, 87,600 USDC), WETH 3,000, WBTC 60,000: getUserAccountData total collateral 156,000 USD, debt 87,600 USD,
// average LT 82.80 %, health 1.4745). The owner is shown collateral 165,615 USDC (true 156,000), LTV 52.9 % (Aave's
// 56.15 %), leverage 2.12x (true 156,000 / 68,400 = 2.28x, the adapter's own `equity` says so), and a WBTC liquidation
// price of 40,687 USDC, 32 % below the price, though no WBTC price liquidates this account (WBTC at 0: health 1.42).
// Fixed: the account's figures (equity + debt), the liquidation price of this collateral alone (liquidationPriceKnown).


const view = {
  subAccount: "0x00000000000000000000000000000000000000000000000000000000000000a1",
  policy: { adapter: "0x00000000000000000000000000000000000000ae", minHealth: 12n * 10n ** 17n, targetHealth: 14n * 10n ** 17n, maxHealth: 17n * 10n ** 17n, pools: [] },
  usage: {},
  stateOk: true,
  stateError: "0x",
  state: {
    loanToken: "0x03A6a84cD762D9707A21605b548aaaB891562aAb", // USDC
    collateralToken: "0x15cF58144EF33af1e14b5208015d11F9143E27b9", // WBTC
    collateral: 276_025_641n, // 2.76025641 WBTC: the frame
    debt: 87_600_000_000n,
    price: 600n * 10n ** 36n, // 1 sat = 600 USDC base units, x 1e36
    lltv: 78n * 10n ** 16n,
    health: 1_474_520_547_945_205_479n,
    equity: 68_400_000_000n, // the account's net value (getUserAccountData), the adapter's own figure
    repayable: 87_600_000_000n,
  },
} as unknown as SubAccountView

describe("SDK risk metrics of a multi-collateral Aave sub-account", () => {
  it("fixture: health is Aave's, equity the account's", () => {
    const s = subAccountStateOf(view)
    expect(s.health).toBe(1_474_520_547_945_205_479n)
    expect(s.equity).toBe(68_400_000_000n)
  })

  // Before the fix: collateralValue 165,615.38 USDC, leverage 2.1231x, ltv 0.5289 (the frame's), liquidation price 40,687 USDC/WBTC.
  it("leverage and LTV are the account's (collateral value = equity + debt), not the frame's", () => {
    const s = subAccountStateOf(view)
    const value = (s.equity as bigint) + s.debt // 156,000 USDC: getUserAccountData's total collateral
    expect(s.collateralValue).toBe(value)
    expect(s.leverage).toBe((value * 10n ** 18n) / (s.equity as bigint)) // 2.2807x
    expect(s.ltv).toBe((s.debt * 10n ** 18n) / value) // 0.5615
  })

  const aave = { totalCollateralBase: 156_000n * 10n ** 8n, totalDebtBase: 87_600n * 10n ** 8n, availableBorrowsBase: 0n, currentLiquidationThreshold: 8_280n, ltv: 7_700n, healthFactor: 1_474_520_547_945_205_479n }

  it("no WBTC price liquidates the account (its WETH covers the debt): no liquidation price, known or not", () => {
    // Without the reserve balance: the frame is not this reserve at its value, so no price is claimed.
    const unread = subAccountStateOf(view)
    expect([unread.liquidationPriceKnown, unread.liquidationPrice, unread.distanceToLiquidation]).toEqual([false, 0n, 10n ** 18n])
    // With it (0.1 WBTC held): WETH alone weighs 150,000 x 0.83 = 124,500 > 87,600 USDC of debt.
    const s = subAccountStateOf(view, { ...aave, collateralHeld: 10_000_000n })
    expect([s.liquidationPriceKnown, s.liquidationPrice, s.distanceToLiquidation]).toEqual([false, 0n, 10n ** 18n])
    expect(s.aaveAccount?.totalCollateralBase).toBe(156_000n * 10n ** 8n)
  })

  it("a liquidation price of this collateral with the others at their prices, when one exists", () => {
    // The same account owing 130,000 USDC: WETH weighs 124,500, so WBTC liquidates the account at
    // (130,000 - 124,500) / (0.1 x 0.78) = 70,512.82 USDC per WBTC (705.13 USDC base units per sat).
    const debt = 130_000_000_000n
    const owing = { ...view, state: { ...view.state, debt, equity: 156_000_000_000n - debt } } as unknown as SubAccountView
    const s = subAccountStateOf(owing, { ...aave, collateralHeld: 10_000_000n })
    expect(s.liquidationPriceKnown).toBe(true)
    expect(Number(s.liquidationPrice) / 1e36).toBeCloseTo((130_000 - 124_500) / (0.1 * 0.78) / 1e8 * 1e6, 3)
    // Morpho-like (the frame is the reserve at its value): the frame's formula, unchanged.
    const single = { ...view, state: { ...view.state, equity: (276_025_641n * 600n) - 87_600_000_000n } } as unknown as SubAccountView
    const m = subAccountStateOf(single)
    expect(m.liquidationPriceKnown).toBe(true)
    expect(m.liquidationPrice).toBe((87_600_000_000n * 10n ** 36n * 10n ** 18n + 276_025_641n * 78n * 10n ** 16n - 1n) / (276_025_641n * 78n * 10n ** 16n))
  })
})
