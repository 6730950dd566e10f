import { describe, expect, it } from "vitest"
import { subAccountStateOf, type SubAccountView } from "./getSubAccountState.js"

// Review rr17 (issue 17, after fx17 F2). `toState` decides "is the frame this reserve at its value?" without the
// reserve's balance by `|frame collateral value - (equity + debt)| <= 2` loan base units. That slack is sized for a
// 6-decimal loan token (Aave's base currency has 8 decimals). With an 18-decimal loan token (WETH, DAI) the adapter's
// own roundings (getUserAccountData's per-reserve floor to 1e-8 USD, the frame collateral floored to one collateral
// unit, equity floored and debt ceiled in wei) are millions of wei apart, so a ONE-collateral Aave account (WBTC
// collateral, WETH debt) whose `collateralHeld` was not read (getSubAccountState's batch read failed, or a caller of
// subAccountStateOf without the figures) shows "no liquidation price" (`liquidationPriceKnown` false, status "-"),
// while the type's doc says a one-collateral Aave account keeps the frame's formula. Fixed: the slack takes one
// collateral unit's value and 1e-9 of the account's value besides the 2 loan units.

// AaveV3Adapter.marketState arithmetic for a Safe holding 1.23456789 WBTC only (LT 7,800 both in the frame and for
// Aave) and owing 20 WETH: WBTC 60,123.45678901 USD, WETH 3,012.3456789 USD (Aave oracle, 8 decimals).
const P_WBTC = 6_012_345_678_901n
const P_WETH = 301_234_567_890n
const BAL = 123_456_789n
const DEBT_WEI = 20n * 10n ** 18n
const totalBase = (BAL * P_WBTC) / 10n ** 8n
const debtBase = (DEBT_WEI * P_WETH) / 10n ** 18n
const frameCollateral = (totalBase * 7_800n * 10n ** 8n) / (7_800n * P_WBTC) // one collateral reserve: total x threshold
const ceilDebt = (debtBase * 10n ** 18n + P_WETH - 1n) / P_WETH
const debt = ceilDebt > DEBT_WEI ? ceilDebt : DEBT_WEI
const equity = ((totalBase - debtBase) * 10n ** 18n) / P_WETH
const price = (P_WBTC * 10n ** 18n * 10n ** 36n) / (P_WETH * 10n ** 8n)
const health = ((((totalBase * 7_800n + 5_000n) / 10_000n) * 10n ** 18n) + debtBase / 2n) / debtBase

const view = {
  subAccount: "0x00000000000000000000000000000000000000000000000000000000000000a2",
  policy: { adapter: "0x00000000000000000000000000000000000000ae", minHealth: 12n * 10n ** 17n, targetHealth: 14n * 10n ** 17n, maxHealth: 17n * 10n ** 17n, pools: [] },
  usage: {},
  stateOk: true,
  stateError: "0x",
  state: { loanToken: "0x00000000000000000000000000000000000000e1", collateralToken: "0x00000000000000000000000000000000000000b7", collateral: frameCollateral, debt, price, lltv: 78n * 10n ** 16n, health, equity, repayable: DEBT_WEI },
} as unknown as SubAccountView

describe("a one-collateral Aave account with an 18-decimal loan token, its reserve balance unread", () => {
  it("fixture: one collateral (frame = the balance within a unit), Aave's health = the frame's", () => {
    expect(BAL - frameCollateral <= 1n).toBe(true)
    const frameHealth = (((frameCollateral * price) / 10n ** 36n) * 78n * 10n ** 16n) / debt
    expect(Number(frameHealth) / Number(health)).toBeCloseTo(1, 6)
  })

  it("keeps the frame's liquidation price (the type's doc: a one-collateral Aave account as before; review rr17 R3, fixed)", () => {
    const s = subAccountStateOf(view)
    expect(s.liquidationPriceKnown).toBe(true)
    // The frame formula: WBTC liquidates the account at debt / (collateral x 0.78), wei per sat x 1e36, rounded up.
    const expected = (debt * 10n ** 36n * 10n ** 18n + frameCollateral * 78n * 10n ** 16n - 1n) / (frameCollateral * 78n * 10n ** 16n)
    expect(Number(s.liquidationPrice) / Number(expected)).toBeCloseTo(1, 6)
  })

  it("the fixture's gap is beyond the old 2-unit slack (the roundings of an 18-decimal loan)", () => {
    const frameValue = (frameCollateral * price) / 10n ** 36n
    const gap = frameValue > equity + debt ? frameValue - (equity + debt) : equity + debt - frameValue
    expect(gap > 2n).toBe(true)
  })

  it("a second collateral worth 1e-4 of the account at another threshold still gives no liquidation price without its balance", () => {
    // The frame ~1.06e-4 above the account's value, as a second collateral at a higher threshold makes it: beyond the slack.
    const bigger = { ...view, state: { ...view.state, collateral: frameCollateral + (frameCollateral * 8_300n) / (7_800n * 10_000n) } } as unknown as SubAccountView
    const s = subAccountStateOf(bigger)
    expect([s.liquidationPriceKnown, s.liquidationPrice]).toEqual([false, 0n])
  })
})
