import type { Address, Hex } from "viem"
import { describe, expect, it } from "vitest"
import { type RulePolicy, type RuleSubAccount, checkRebalanceRules } from "./planRules.js"

// Review rr17b B1, rule book vs the module on the real Aave v3. The figures are what
// modules/test/integration/Rr17bAaveEMode18.t.sol logs on the real Pool (AaveV3Adapter.marketState of an e-mode
// wstETH/WETH account holding only wstETH, owing 82.098765432109876543 WETH, wstETH at 2,730 USD, WETH at 3,000 USD):
// equity + debt exceeds the frame collateral's value by 3,209,877 wei (Aave floors the WETH debt to 1e-8 USD), beyond
// the rule book's slack. A rescue repaying 6 WETH from idle WETH lands Aave's factor at 1.136023685919474845; the
// policy's minHealth is 5e-5 below that (1.135966884735178871). The module ACCEPTS the plan (forge test
// test_ModuleAcceptsRescueLandingHalfABpAboveMinHealth); the rule book (validateRebalance, the solver's
// checkPlanAgainstPolicy) read the average as 9,499 and refused it (HealthOutOfBand at Aave's factor x (1 - 1/9,500));
// fixed (fx17c): aaveFrameHealthRange's rounding allowance covers the base-currency floors.

const WETH: Address = "0x00000000000000000000000000000000000000c1"
const WSTETH: Address = "0x00000000000000000000000000000000000000d1"
const MIN = 1_135_966_884_735_178_871n
const AAVE_AFTER = 1_136_023_685_919_474_845n
const policy: RulePolicy = {
  adapter: "0x00000000000000000000000000000000000000ad", market: `0x${"00".repeat(32)}`, priceFeed: "0x0000000000000000000000000000000000000000",
  minHealth: MIN, targetHealth: MIN + 10n ** 17n, maxHealth: MIN + 4n * 10n ** 17n, maxAmountPerRebalance: 10n ** 30n, maxAmountPerEpoch: 10n ** 30n, epochLength: 86_400,
  maxRebalancesPerEpoch: 10, maxGasPerEpoch: 10n ** 12n, cooldown: 0, maxLossBps: 50, maxEpochLossBps: 100, boostAllowed: false, maxSlippageBps: 0,
  maxOracleAge: 0, maxOracleDeviationBps: 100, minFeedAnswer: 0n, maxFeedAnswer: 0n, pools: [],
}
const aave: RuleSubAccount = {
  id: `0x${"02".repeat(32)}` as Hex,
  policy,
  state: {
    loanToken: WETH,
    collateralToken: WSTETH,
    collateral: 100_000_000_000_120_879_120n,
    debt: 82_098_765_432_109_876_543n,
    price: 910_000_000_000_000_000_000_000_000_000_000_000n,
    lltv: 95n * 10n ** 16n,
    health: 1_053_000_000_001_157_305n,
    equity: 8_901_234_568_003_333_333n,
    thresholdFloored: true,
  },
  usage: { epoch: 0, lastRebalance: 0, rebalances: 0, lossPpb: 0, gasUsed: 0, amountMoved: 0n },
}
const judge = () =>
  checkRebalanceRules({
    plan: { subAccounts: [aave.id], actions: [{ kind: "Repay", subAccount: 0, amount: 6n * 10n ** 18n }] },
    subAccounts: [aave],
    pools: [],
    balances: { [WETH]: 6n * 10n ** 18n },
    swapAdapter: "0x0000000000000000000000000000000000000000",
    timestamp: 1_700_000_000n,
    gasUsed: 400_000n,
  })

describe("rule book vs the module: an e-mode wstETH/WETH rescue landing Aave's factor 5e-5 above minHealth (rr17b B1)", () => {
  it("rr17b B1 (fixed): accepted, as the module accepts it on the real Pool, with Aave's factor after", () => {
    const r = judge()
    expect(r.ok, r.ok ? "" : `${r.error.name} ${r.error.args.join(",")}`).toBe(true)
    if (!r.ok) return
    const after = r.subAccounts.find((x) => x.id === aave.id)?.healthAfter as bigint
    expect(Math.abs(Number(after - AAVE_AFTER)) / Number(AAVE_AFTER)).toBeLessThan(1e-9)
  })
})
