import type { Hex } from "viem"
import { describe, expect, test } from "vitest"
import { type RuleSubAccount, checkRebalanceRules } from "./planRules.js"
import { USDC, WETH, rulePolicy, usage } from "./rules.testing.js"

// Review brk17c (issue 17), finding F1 at the SDK: the rule book (validateRebalance, the solver's check) derived an Aave
// sub-account's health after a plan from the frame fields. Since SECURITY row 64 the frame is the EXACT
// threshold-weighted collateral and Aave floors its average threshold, so the frame health is ABOVE Aave's by up to 1
// bps of collateral / debt; the rule book now computes Aave's factor after the plan (`thresholdFloored`,
// aaveFrameHealthAfter). The states below are `marketState` on the real Pool
// (modules/test/integration/Brk17cAaveFrameDonor.t.sol: Aave 40 WETH + 0.40005 WBTC at WETH 2,400, health 1.5; Morpho
// 20 WETH / 36,000 USDC, due) and the plan is that test's: Borrow 4,690.723686 USDC on Aave, repay Morpho. The module
// refuses it on the real Pool with HealthCrossedTarget(aave, 1.5, 1.399891168105953984, 1.4); the rule book accepted it
// (frame healthAfter 1.400060). The control (a borrow sized to frame 1.4 x (1 + 2e-4)) lands on chain and here.

const PRICE = 2_400n * 10n ** 24n // USDC base units per WETH wei, x 1e36
const morpho: RuleSubAccount = {
  id: `0x${"01".repeat(32)}` as Hex,
  policy: rulePolicy(),
  state: { loanToken: USDC, collateralToken: WETH, collateral: 20n * 10n ** 18n, debt: 36_000_000_000n, price: PRICE, lltv: 86n * 10n ** 16n },
  usage,
}
const aave: RuleSubAccount = {
  id: `0x${"02".repeat(32)}` as Hex,
  policy: rulePolicy({ boostAllowed: true }),
  // The adapter's frame and Aave's own factor, as read on the real Pool.
  state: { loanToken: USDC, collateralToken: WETH, collateral: 49_398_765_060_240_963_855n, debt: 65_593_639_800n, price: PRICE, lltv: 83n * 10n ** 16n, health: 1_500_000_000_000_000_000n, equity: 54_409_360_200n, thresholdFloored: true },
  usage,
}
const judge = (amount: bigint, floored = true) =>
  checkRebalanceRules({
    plan: { subAccounts: [aave.id, morpho.id], actions: [{ kind: "Borrow", subAccount: 0, amount }, { kind: "Repay", subAccount: 1, amount }] },
    subAccounts: [{ ...aave, state: { ...aave.state, thresholdFloored: floored } }, morpho],
    pools: [],
    balances: {},
    swapAdapter: "0x0000000000000000000000000000000000000000",
    timestamp: 1_700_000_000n,
    gasUsed: 400_000n,
  })
// Borrow sizes of the forge test: frame 1.4 x (1 + 4.3e-5) (refused on chain) and frame 1.4 x (1 + 2e-4) (lands).
const REFUSED = 4_690_723_686n
// Frame debt for health 1.4 x (1 + 2e-4): collateral x price x lltv / h - debt.
const LANDS = (((49_398_765_060_240_963_855n * PRICE) / 10n ** 36n) * 83n * 10n ** 16n) / ((14n * 10n ** 17n * 10_002n) / 10_000n) - 65_593_639_800n

describe("the rule book judges an Aave sub-account by Aave's floored factor after the plan", () => {
  test("the plan the module refuses on the real Pool is refused (HealthCrossedTarget on the Aave donor, at Aave's 1.399891)", () => {
    const r = judge(REFUSED)
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect([r.error.name, r.error.args[0]]).toEqual(["HealthCrossedTarget", aave.id])
    // Aave's factor after on the real Pool: 1.399891168105953984 (the forge test's revert data).
    const after = r.error.args[2] as bigint
    expect(after < 14n * 10n ** 17n).toBe(true)
    expect(Number(after) / 1e18).toBeCloseTo(1.399891168, 8)
  })

  test("the frame alone (no thresholdFloored: Morpho's arithmetic) accepts it: the gap is the floor's", () => {
    expect(judge(REFUSED, false).ok).toBe(true)
  })

  test("the control that lands on the real Pool is accepted, Aave's factor after at or above the target", () => {
    const r = judge(LANDS)
    expect(r.ok, r.ok ? "" : `${r.error.name} ${r.error.args.join(",")}`).toBe(true)
    if (!r.ok) return
    const donor = r.subAccounts.find((x) => x.id === aave.id)
    expect((donor?.healthAfter as bigint) >= 14n * 10n ** 17n).toBe(true)
  })
})
