import { describe, expect, it } from "vitest"
import { subAccountStateOf, type SubAccountView } from "./getSubAccountState.js"

// Review rr17b, held-out check of the rr17 R3 fix on figures from the real Aave v3 Pool
// (modules/test/integration/Rr17bAaveEMode18.t.sol: an e-mode wstETH/WETH account, wstETH only, WETH debt; its
// equity + debt is 3,209,877 wei off the frame's value). Without the reserve's balance the status keeps the frame's
// liquidation price (one collateral). Passes today (held).
const collateral = 100_000_000_000_120_879_120n
const debt = 82_098_765_432_109_876_543n
const price = 910_000_000_000_000_000_000_000_000_000_000_000n
const lltv = 95n * 10n ** 16n
const view = {
  subAccount: "0x00000000000000000000000000000000000000000000000000000000000000a3",
  policy: { adapter: "0x00000000000000000000000000000000000000ae", minHealth: 11n * 10n ** 17n, targetHealth: 12n * 10n ** 17n, maxHealth: 14n * 10n ** 17n, pools: [] },
  usage: {},
  stateOk: true,
  stateError: "0x",
  state: { loanToken: "0x00000000000000000000000000000000000000e1", collateralToken: "0x00000000000000000000000000000000000000d1", collateral, debt, price, lltv, health: 1_053_000_000_001_157_305n, equity: 8_901_234_568_003_333_333n, repayable: debt },
} as unknown as SubAccountView

describe("status of a one-collateral e-mode wstETH/WETH Aave account, balance unread (rr17b, R3 held-out)", () => {
  it("keeps the frame's liquidation price", () => {
    const s = subAccountStateOf(view)
    expect(s.liquidationPriceKnown).toBe(true)
    const expected = (debt * 10n ** 36n * 10n ** 18n + collateral * lltv - 1n) / (collateral * lltv)
    expect(Number(s.liquidationPrice) / Number(expected)).toBeCloseTo(1, 6)
  })
})
