import { describe, expect, test } from "vitest"
import { solve } from "./solver.js"
import { planSwapBoost } from "./swapBoost.js"
import { CRASH_CURVE, TEST_COSTS, makePolicy, oneSubAccountInput } from "./testing.js"
import type { Plan, SolverInput, SubAccountState, SwapCurve } from "./types.js"

// Issue 17 (review: a flash sized above the reserve's free liquidity). On Aave the swap deleverage's repayment and a
// flash-looped boost's supply are flash-borrowed through the adapter's router, which reverts FlashLiquidityShort above
// the reserve's free liquidity (the pool refuses any flash of a paused reserve or one with flash loans disabled). The
// solver sizes them to `flashable`; when the smaller flash leaves the account below its band, idle funds and pools
// (plain repays) make up the rest, and when nothing can, no plan (the reason names the flash liquidity).

const PREMIUM_BPS = 5
const LLTV = 0.83
const PRICE = (1.1 * 18_000) / (10 * LLTV)
const POOL = "0x00000000000000000000000000000000000000f1"

/** 10 WETH against 18,000 USDC on Aave at health 1.1 (band [1.2, 1.7], target 1.4), flash premium 5 bps. */
function aave(flashable: number | undefined, extra: { idle?: number; pool?: number } = {}): SolverInput {
  const state: SubAccountState = {
    id: `0x${"b".repeat(64)}`, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 10, debt: 18_000, lltv: LLTV, price: PRICE,
    liquidationIncentive: 1.05, liquidationCloseFactor: 0.5, flashPremiumBps: PREMIUM_BPS, ...(flashable === undefined ? {} : { flashable }),
  }
  return oneSubAccountInput(
    {
      state,
      policy: makePolicy({ minHealth: 1.2, targetHealth: 1.4, maxHealth: 1.7, boostAllowed: false, maxSlippageBps: 50, maxEpochLossBps: 400, pools: extra.pool ? [POOL] : [] }),
      epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
      risk: { sigma: 0.8 },
      swap: CRASH_CURVE,
    },
    {
      idle: extra.idle ? { USDC: extra.idle } : {},
      pools: extra.pool ? [{ address: POOL, asset: "USDC", decimals: 6, balance: extra.pool, withdrawable: extra.pool }] : [],
    },
  )
}
/** A buying curve (amountIn in USDC): 5 bps small, 20 bps at 100,000 USDC. */
const BUY: SwapCurve = { route: `0x${"0".repeat(61)}1f4`, points: [{ amountIn: 100, shortfallBps: 5 }, { amountIn: 100_000, shortfallBps: 20 }] }
const flashOf = (plan: Plan | undefined) => plan?.actions.find((a) => a.kind === "RepayWithCallback")
const repaidPlain = (plan: Plan | undefined) => (plan?.actions ?? []).filter((a) => a.kind === "Repay").reduce((sum, a) => sum + a.amount, 0)

describe("the Aave swap lane holds its flash to the reserve's free liquidity (flashable)", () => {
  test("unlimited, the flash-funded repayment takes the account to its target (about 9,470 USDC): the baseline", () => {
    const { plan, outcomes } = solve(aave(undefined))
    expect(flashOf(plan)?.amount).toBeGreaterThan(9_000)
    expect(outcomes[0]?.healthAfter).toBeGreaterThan(1.39)
  })

  test("a reserve with 6,000 USDC free: the flash is sized to it (base units too) and still lands the account inside its band", () => {
    const { plan, outcomes } = solve(aave(6_000))
    const flash = flashOf(plan)
    expect(flash?.amount).toBeLessThanOrEqual(6_000)
    expect(flash?.amountBase).toBeLessThanOrEqual(6_000_000_000n)
    expect(flash?.amount).toBeGreaterThan(5_990)
    expect(outcomes[0]?.healthAfter).toBeGreaterThanOrEqual(1.2)
    expect(outcomes[0]?.healthAfter).toBeLessThan(1.39)
    expect(outcomes[0]?.reason).toMatch(/capped by the reserve's flash liquidity/)
  })

  test("a reserve with 2,000 USDC free and a 1,200 USDC pool (neither reaches the band alone): the pool is repaid plainly and the smaller flash covers the rest", () => {
    const input = aave(2_000, { pool: 1_200 })
    const { plan, outcomes } = solve(input)
    expect(flashOf(plan)?.amount).toBeLessThanOrEqual(2_000)
    expect(flashOf(plan)?.amount).toBeGreaterThan(1_990)
    expect(plan?.actions.some((a) => a.kind === "WithdrawFromPool")).toBe(true)
    expect(repaidPlain(plan)).toBeGreaterThan(1_190)
    expect(outcomes[0]?.healthAfter).toBeGreaterThanOrEqual(1.2)
    // The pool alone reaches about 1.18.
    expect(solve(aave(0, { pool: 1_200 })).plan).toBeUndefined()
    // Without the pool the same reserve leaves no rescue: 2,000 USDC reach only about health 1.14.
    const alone = solve(aave(2_000))
    expect(alone.plan).toBeUndefined()
    expect(alone.outcomes[0]?.reason).toMatch(/flash liquidity/)
  })

  test("flash loans disabled or the reserve paused (flashable 0): no swap lane; idle USDC alone rescues, or nothing does and the reason says why", () => {
    const idle = solve(aave(0, { idle: 6_000 }))
    expect(flashOf(idle.plan)).toBeUndefined()
    expect(idle.plan?.actions.map((a) => a.kind)).toEqual(["Repay"])
    expect(idle.outcomes[0]?.healthAfter).toBeGreaterThanOrEqual(1.2)
    const none = solve(aave(0))
    expect(none.plan).toBeUndefined()
    expect(none.outcomes[0]?.reason).toMatch(/no sale left under the reserve's flash liquidity/)
  })

  test("a flash-looped boost's supply is held to the collateral reserve's flashable", () => {
    const s: SubAccountState = { id: `0x${"c".repeat(64)}`, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 10, debt: 4_000, lltv: LLTV, price: 3_000, flashPremiumBps: PREMIUM_BPS }
    const policy = makePolicy({ minHealth: 1.2, targetHealth: 1.25, maxHealth: 1.7, boostAllowed: true, maxSlippageBps: 50, maxEpochLossBps: 400, pools: [] })
    const base = { state: s, policy, epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 }, curve: BUY, costs: TEST_COSTS, goal: 1.25, low: 1.2, high: 1.7, capLeft: Number.POSITIVE_INFINITY }
    const open = planSwapBoost(base)
    if ("reason" in open) throw new Error(open.reason)
    expect(open.shape).toBe("flash-looped")
    expect(open.supplied).toBeGreaterThan(2)
    const held = planSwapBoost({ ...base, state: { ...s, flashableCollateral: 1 } })
    if (!("reason" in held)) {
      expect(held.shape === "one-pass" || held.supplied <= 1).toBe(true)
      expect(held.plan.actions.find((a) => a.kind === "SupplyCollateralWithCallback")?.amount ?? 0).toBeLessThanOrEqual(1)
    } else expect(held.reason).toMatch(/flash liquidity/)
  })
})
