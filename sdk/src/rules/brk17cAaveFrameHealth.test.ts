import type { Address, Hex } from "viem"
import { describe, expect, test } from "vitest"
import { type RulePolicy, type RuleSubAccount, checkRebalanceRules } from "./planRules.js"

// Break-it review brk17c (issue 17), finding F1 at the SDK: the rule book (validateRebalance, the solver's check)
// derives an Aave sub-account's health after a plan from the frame fields; `RuleMarketState.health` documents that this
// "never exceeds [Aave's factor] and is below by unit rounding only (~1e-13 relative)". Since SECURITY row 64 the frame
// is the EXACT threshold-weighted collateral and Aave floors its average threshold, so the frame health is ABOVE Aave's
// by up to 1 bps of collateral / debt. The states below are `marketState` on the real Pool
// (modules/test/integration/Brk17cAaveFrameDonor.t.sol: Aave 40 WETH + 0.40005 WBTC at WETH 2,400, health 1.5; Morpho
// 20 WETH / 36,000 USDC, due) and the plan is that test's: Borrow 4,690.723686 USDC on Aave, repay Morpho. The module
// refuses it on the real Pool with HealthCrossedTarget(aave, 1.5, 1.399891168105953984, 1.4); the rule book accepts it.

const USDC: Address = "0x00000000000000000000000000000000000000b1"
const WETH: Address = "0x00000000000000000000000000000000000000c1"
const h = (x: number) => BigInt(Math.round(x * 1e6)) * 10n ** 12n
const policy = (over: Partial<RulePolicy> = {}): RulePolicy => ({
  adapter: "0x00000000000000000000000000000000000000ad", market: `0x${"00".repeat(32)}`, priceFeed: "0x0000000000000000000000000000000000000000",
  minHealth: h(1.2), targetHealth: h(1.4), maxHealth: h(1.7), maxAmountPerRebalance: 10n ** 30n, maxAmountPerEpoch: 10n ** 30n, epochLength: 86_400,
  maxRebalancesPerEpoch: 10, maxGasPerEpoch: 10n ** 12n, cooldown: 0, maxLossBps: 50, maxEpochLossBps: 100, boostAllowed: false, maxSlippageBps: 0,
  maxOracleAge: 3_600, maxOracleDeviationBps: 100, minFeedAnswer: 0n, maxFeedAnswer: 0n, pools: [], ...over,
})
const usage = { epoch: 0, lastRebalance: 0, rebalances: 0, lossPpb: 0, gasUsed: 0, amountMoved: 0n }
const PRICE = 2_400n * 10n ** 24n // USDC base units per WETH wei, x 1e36
const morpho: RuleSubAccount = {
  id: `0x${"01".repeat(32)}` as Hex,
  policy: policy(),
  state: { loanToken: USDC, collateralToken: WETH, collateral: 20n * 10n ** 18n, debt: 36_000_000_000n, price: PRICE, lltv: 86n * 10n ** 16n },
  usage,
}
const aave: RuleSubAccount = {
  id: `0x${"02".repeat(32)}` as Hex,
  policy: policy({ boostAllowed: true }),
  // The adapter's frame and Aave's own factor, as read on the real Pool.
  state: { loanToken: USDC, collateralToken: WETH, collateral: 49_398_765_060_240_963_855n, debt: 65_593_639_800n, price: PRICE, lltv: 83n * 10n ** 16n, health: 1_500_000_000_000_000_000n, equity: 54_409_360_200n },
  usage,
}
const judge = () =>
  checkRebalanceRules({
    plan: { subAccounts: [aave.id, morpho.id], actions: [{ kind: "Borrow", subAccount: 0, amount: 4_690_723_686n }, { kind: "Repay", subAccount: 1, amount: 4_690_723_686n }] },
    subAccounts: [aave, morpho],
    pools: [],
    balances: {},
    swapAdapter: "0x0000000000000000000000000000000000000000",
    timestamp: 1_700_000_000n,
    gasUsed: 400_000n,
  })

describe("brk17c: the rule book judges an Aave donor by its frame health, above Aave's factor", () => {
  // FAILS TODAY: ok, the Aave donor's healthAfter 1.400060200006233858 (Morpho's 1.318459); the module: HealthCrossedTarget at 1.399891.
  test.skip("FAILS TODAY: the plan the module refuses on the real Pool is refused (HealthCrossedTarget on the Aave donor)", () => {
    const r = judge()
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect([r.error.name, r.error.args[0]]).toEqual(["HealthCrossedTarget", aave.id])
  })
})
