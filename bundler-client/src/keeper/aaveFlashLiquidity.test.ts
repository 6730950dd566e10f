import type { Hex } from "viem"
import { describe, expect, test } from "vitest"
import { collateralValue, minAmountOut } from "@levpilot/sdk/rules"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { solve } from "../solver/solver.js"
import { CRASH_CURVE, makePolicy, oneSubAccountInput } from "../solver/testing.js"
import type { SubAccountState } from "../solver/types.js"
import type { AaveSubAccountLimits } from "./aaveLimits.js"
import { type ChainBounds, clampPlanToChainBounds } from "./chainBounds.js"
import { portfolioOf } from "./portfolio.js"
import { ADAPTER, LLTV, LOAN, SLIP, flashSale, h } from "./testing.js"

// Held-out cases of review rev11s, written against its own flash-liquidity fix and run here against the one that
// landed (i17-flashliq: `flashable` in the solver's state and the clamp's bounds, binding `flashLiquidity`).
// Review rev11s (issue 11 item 8, "borrow beyond liquidity ... size borrows to what the market can lend"; item 1,
// "clamped to the on-chain bound it came from ... market liquidity"). An Aave v3 swap rescue is a flash loan: the
// adapter's AaveFlashLoanRouter flash-borrows the RepayWithCallback amount of the DEBT asset from the pool and reverts
// `FlashLiquidityShort(asset, amount, available)` when the debt reserve's free liquidity (its aToken's balance of the
// asset) is below it. In a crash the debt reserve is exactly the one drained (utilisation at 100 %). Neither the solver
// (sizeSwapDeleverage: collateral, withdrawable collateral, repayable debt, caps) nor the clamp (RepayWithCallback held
// to `repayable` only) knew that liquidity: the plan reverts in every block (`venue-refused` each time) instead of a
// flash rescue sized to the liquidity (the rest by other sources or the next operation).

const PREMIUM_BPS = 5
const AAVE_LLTV = 0.83
const AAVE_PRICE = (1.1 * 18_000) / (10 * AAVE_LLTV)

describe("an Aave flash rescue against a drained debt reserve", () => {
  test("solver: the callback's repayment is sized to the debt reserve's free liquidity (1,000 USDC), not above it", () => {
    const state: SubAccountState = {
      id: `0x${"b".repeat(64)}`, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 10, debt: 18_000, lltv: AAVE_LLTV,
      price: AAVE_PRICE, liquidationIncentive: 1.05, liquidationCloseFactor: 0.5, flashPremiumBps: PREMIUM_BPS,
    }
    const flashable = 1_000
    const input = oneSubAccountInput({
      state: { ...state, flashable } as SubAccountState,
      policy: makePolicy({ minHealth: 1.2, targetHealth: 1.4, maxHealth: 1.7, boostAllowed: false, maxSlippageBps: 50, maxEpochLossBps: 400, pools: [] }),
      epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
      risk: { sigma: 0.8 },
      swap: CRASH_CURVE,
    })
    const { plan, outcomes } = solve(input)
    const flash = plan?.actions.find((a) => a.kind === "RepayWithCallback")
    // Either no flash block, or one the pool can lend; none: the reason names the flash liquidity (a partial rescue that
    // leaves the sub-account below its landing zone is one the module refuses).
    if (flash) expect(flash.amount).toBeLessThanOrEqual(flashable)
    else expect(outcomes[0]?.reason ?? "").toMatch(/flash liquidity/)
  })

  test("clamp: a flash sale whose repayment is above the debt reserve's liquidity is held to it (binding 'flashLiquidity')", () => {
    const id = `0x${"09".repeat(32)}` as Hex
    const coll = `0x${"c".repeat(38)}09` as Hex
    const PRICE = 3_000n * 10n ** 36n
    const collateral = 100n * 10n ** 18n
    const debt = (collateralValue(collateral, PRICE) * LLTV) / h(1.05)
    const x = 10n * 10n ** 18n
    const paid = minAmountOut(BigInt(SLIP), PRICE, true, x)
    const liquidity = 20_000n * 10n ** 18n + 7n
    const bounds = {
      balances: {},
      maxWithdraw: {},
      poolAsset: {},
      subAccounts: { [id]: { debt, collateral, loanToken: LOAN, collateralToken: coll, price: PRICE, maxSlippageBps: SLIP, due: true, flashable: { loan: liquidity, collateral: 10n ** 30n } } },
    } as ChainBounds
    const { plan: out, binding } = clampPlanToChainBounds({ subAccounts: [id], actions: flashSale(0, paid, x) } as ChainPlan, bounds, { swapPaid: [undefined, undefined, paid, undefined] })
    expect(paid).toBeGreaterThan(liquidity)
    const repay = out?.actions.find((a) => a.kind === "RepayWithCallback")
    if (repay) expect(repay.amount).toBeLessThanOrEqual(liquidity)
    expect(binding.some((b) => b.bound === "flashLiquidity")).toBe(true)
  })

  test("portfolioOf: the debt reserve's free liquidity reaches the solver (human units) and the clamp (base units)", () => {
    const SAFE = "0x0000000000000000000000000000000000005afe"
    const COLL = "0x00000000000000000000000000000000000000c7"
    const ID = `0x${"a7".repeat(32)}` as Hex
    const PRICE = 3_000n * 10n ** 36n
    const collateral = 100n * 10n ** 18n
    const debt = (collateralValue(collateral, PRICE) * LLTV) / h(1.05)
    const debtLiquidity = 1_234n * 10n ** 18n + 5n
    const limits: AaveSubAccountLimits = {
      debt: { borrowable: debtLiquidity, suppliable: undefined, withdrawable: debtLiquidity, repayable: undefined, flashable: debtLiquidity },
      collateral: { borrowable: 0n, suppliable: undefined, withdrawable: 10n ** 30n, repayable: undefined, flashable: 10n ** 30n },
      repayableDebt: debt,
      flashPremiumBps: 5n,
    }
    const state = {
      safe: SAFE,
      tokens: [{ token: LOAN, decimals: 18, balance: 0n }, { token: COLL, decimals: 18, balance: 0n }],
      pools: [],
      unreadable: [],
      subAccounts: [
        {
          subAccount: ID, loanToken: LOAN, collateralToken: COLL, collateral, debt, lltv: LLTV, price: PRICE, band: "below",
          policy: { adapter: ADAPTER, minHealth: h(1.1), targetHealth: h(1.3), maxHealth: h(1.5), maxAmountPerRebalance: 2n ** 200n, maxAmountPerEpoch: 2n ** 200n, epochLength: 86_400, maxRebalancesPerEpoch: 100, maxGasPerEpoch: 10n ** 12n, cooldown: 0, maxLossBps: 300, maxEpochLossBps: 300, boostAllowed: false, maxSlippageBps: 50, pools: [], market: `0x${"00".repeat(32)}` },
          epochUsage: { lastRebalance: 0, epoch: 0, lossPpb: 0, amountMoved: 0n, rebalances: 0, gasUsed: 0 },
        },
      ],
    }
    const snapshot = portfolioOf(state as never, { blockNumber: 1n, timestamp: 1_700_000_000n, risk: { tolerance: 0.01, horizon: 3600, sigma: 0.5, mode: "autopilot" } as never, costs: {} as never, aaveLimits: { [ID]: limits } })
    expect((snapshot.input.subAccounts[0]?.state as { flashable?: number }).flashable).toBe(Number(debtLiquidity) / 1e18)
    expect(snapshot.bounds.subAccounts[ID]?.flashable?.loan).toBe(debtLiquidity)
  })
})
