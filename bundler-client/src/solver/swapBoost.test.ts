import { describe, expect, test } from "vitest"
import { solve } from "./solver.js"
import { applyPlan, healthOf } from "./state.js"
import { ONE_PASS_MIN_HEALTH, swapBuySpan } from "./swapBoost.js"
import { SWAP_CURVE_FRACTIONS, swapPlanMargin } from "./swapDeleverage.js"
import { BUY_CURVE, ROUTE_500, TEST_COSTS, checkInputPlan, makePolicy, oneSubAccountInput, randomSolverInput } from "./testing.js"
import type { Plan, SolverInput, SubAccountInput, SwapCurve } from "./types.js"

const ROUTE = ROUTE_500
const curve = BUY_CURVE

/** 10 WETH at 3,000 against debt that puts health at `health`, no idle funds, no pool: a calm market above the band. */
function above(health = 2, overrides: Partial<SubAccountInput> = {}, input: Partial<SolverInput> = {}, id = "a"): SolverInput {
  return oneSubAccountInput(
    {
      state: { id: `0x${id.repeat(64)}`, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 10, debt: (10 * 3000 * 0.86) / health, lltv: 0.86, price: 3000 },
      policy: makePolicy({ minHealth: 1.25, targetHealth: 1.45, maxHealth: 1.8, boostAllowed: true, maxSlippageBps: 50, maxEpochLossBps: 400 }),
      epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
      risk: { sigma: 0.5 },
      swapBuy: curve,
      ...overrides,
    },
    input,
  )
}

const kinds = (plan: Plan | undefined) => plan?.actions.map((a) => a.kind)
/** A purchase's shortfall against its oracle value (bps): what it buys short of `amount / price`. */
const shortfallOf = (buy: Plan["actions"][number], price: number) => (1 - (buy.expectedOut as number) / (buy.amount / price)) * 10_000

/** A USDC pool a buffer boost can park its borrow in. */
const PARK = { address: "0x00000000000000000000000000000000000000aa", asset: "USDC", decimals: 6, balance: 0, withdrawable: 0 }

describe("swap boost in the solver", () => {
  test("above the band in a calm market: borrow, buy collateral, supply, in one pass, landing at the target", () => {
    const input = above(2)
    const { plan, outcomes } = solve(input)
    expect(kinds(plan)).toEqual(["Borrow", "BuyCollateral", "SupplyCollateral"])
    const [borrow, buy, supply] = plan?.actions ?? []
    expect(buy?.amount).toBe(borrow?.amount)
    expect(buy?.route).toBe(ROUTE)
    // Supplies the expected purchase less the plan margin (swapPlanMargin): never more than the swap delivers, never
    // less than its on-chain minimum at the plan's price (maxSlippageBps 50 below the oracle value; IdleInflow).
    expect(supply?.amount).toBeCloseTo((buy?.expectedOut as number) * (1 - swapPlanMargin(50, shortfallOf(buy!, 3000))), 9)
    expect(supply?.amount).toBeLessThan(buy?.expectedOut as number)
    expect(supply?.amount).toBeGreaterThanOrEqual(((borrow?.amount as number) / 3000) * (1 - 50 / 10_000))
    const o = outcomes[0]
    expect(o?.role).toBe("target")
    expect(o?.healthAfter).toBeCloseTo(1.45, 2)
    expect(o?.reason).toMatch(/swap boost \(one-pass\)/)
    const result = checkInputPlan(input, plan as Plan)
    expect(result.violations).toEqual([])
    // Exposure rose: the collateral grew by what was bought; the loss is the swap's fee + impact, within maxSlippageBps.
    const post = applyPlan({ subAccounts: [input.subAccounts[0]!.state], pools: [], idle: {} }, plan as Plan)
    expect(post.subAccounts[0]?.collateral).toBeGreaterThan(10 + (borrow!.amount / 3000) * 0.99)
    expect(post.idle.WETH).toBeCloseTo((buy?.expectedOut as number) - (supply?.amount as number), 9)
    const lost = result.netValueBefore - result.netValueAfter
    expect(lost).toBeGreaterThan((borrow!.amount * 5) / 10_000)
    expect(lost).toBeLessThan((borrow!.amount * 50) / 10_000)
  })

  test("a boost whose borrow alone would breach health 1.02 is flash-looped through the supply callback", () => {
    const input = above(2)
    const s = input.subAccounts[0] as SubAccountInput
    s.policy = { ...s.policy, minHealth: 1.05, targetHealth: 1.1, maxHealth: 1.8 }
    const { plan, outcomes } = solve(input)
    expect(kinds(plan)).toEqual(["SupplyCollateralWithCallback", "Borrow", "BuyCollateral", "EndCallback"])
    const borrowed = plan!.actions[1]!.amount
    expect(healthOf({ ...s.state, debt: s.state.debt + borrowed })).toBeLessThan(ONE_PASS_MIN_HEALTH)
    expect(outcomes[0]?.healthAfter).toBeCloseTo(1.1, 2)
    expect(checkInputPlan(input, plan as Plan).violations).toEqual([])
  })

  test("a shallow pool caps the purchase short of the landing zone: no swap boost, the buffer boost instead (or nothing)", () => {
    const shallow: SwapCurve = { route: ROUTE, points: [{ amountIn: 100, shortfallBps: 5 }, { amountIn: 2_000, shortfallBps: 40 }, { amountIn: 20_000, shortfallBps: 300 }] }
    const { plan, outcomes } = solve(above(2, { swapBuy: shallow }))
    // No pool to park a bare borrow in: the module would refuse it (IdleInflow), so there is no plan.
    expect(plan).toBeUndefined()
    expect(outcomes[0]?.reason).toMatch(/swap boost: a swap boost capped by maxSlippageBps reaches health .* outside/)
    expect(outcomes[0]?.reason).toMatch(/IdleInflow/)
    const withPool = above(2, { swapBuy: shallow, policy: { ...(above(2).subAccounts[0] as SubAccountInput).policy, pools: [PARK.address] } }, { pools: [PARK] })
    const parked = solve(withPool)
    expect(kinds(parked.plan)).toEqual(["Borrow", "DepositToPool"])
    expect(checkInputPlan(withPool, parked.plan as Plan).violations).toEqual([])
  })

  test("the per-rebalance amount cap counts the borrow and the supplied collateral", () => {
    const input = above(2)
    const s = input.subAccounts[0] as SubAccountInput
    s.policy = { ...s.policy, maxAmountPerRebalance: 4_000 }
    const { plan } = solve(input)
    // Stop 65: what the cap allows lands above the band (the borrow alone would reach the zone within 4,000; counting
    // the supplied collateral too, it cannot), so it goes as a cap-bound boost (SECURITY.md row 154): its counted move,
    // the borrow plus the supplied collateral's value, within the cap and at least 99 % of it.
    expect(kinds(plan)).toEqual(["Borrow", "BuyCollateral", "SupplyCollateral"])
    const [borrow, , supply] = (plan as Plan).actions
    const moved = (borrow?.amount as number) + (supply?.amount as number) * 3000
    expect(moved).toBeLessThanOrEqual(4_000)
    expect(moved).toBeGreaterThanOrEqual(0.99 * 4_000)
    expect(healthOf(applyPlan({ subAccounts: [s.state], pools: [], idle: {} }, plan as Plan).subAccounts[0] as SubAccountInput["state"])).toBeGreaterThan(1.8)
    expect(checkInputPlan(input, plan as Plan).violations).toEqual([])
  })

  test("no swap boost without a buying curve, without maxSlippageBps, or without boostAllowed", () => {
    const base = above(2).subAccounts[0] as SubAccountInput
    const parking = { pools: [PARK] }
    const withPool = { ...base.policy, pools: [PARK.address] }
    expect(kinds(solve(above(2, { swapBuy: undefined, policy: withPool }, parking)).plan)).toEqual(["Borrow", "DepositToPool"])
    expect(kinds(solve(above(2, { policy: { ...withPool, maxSlippageBps: 0 } }, parking)).plan)).toEqual(["Borrow", "DepositToPool"])
    expect(solve(above(2, { policy: { ...withPool, boostAllowed: false } }, parking)).plan).toBeUndefined()
  })

  test("rescues first: with a sub-account below its band, nothing is bought", () => {
    const input = above(2)
    const low = above(1.1, { swapBuy: undefined, swap: { route: ROUTE, points: [{ amountIn: 0.1, shortfallBps: 5.2 }, { amountIn: 20, shortfallBps: 12 }] } }, {}, "b").subAccounts[0] as SubAccountInput
    input.subAccounts.push(low)
    const { plan } = solve(input)
    expect(kinds(plan)).toEqual(["RepayWithCallback", "WithdrawCollateral", "SellCollateral", "EndCallback"])
  })

  test("two sub-accounts above the band are boosted by swaps in one plan", () => {
    const input = above(2)
    input.subAccounts.push(above(1.95, {}, {}, "b").subAccounts[0] as SubAccountInput)
    const { plan, outcomes } = solve(input)
    expect(plan?.subAccounts.length).toBe(2)
    expect(plan?.actions.filter((a) => a.kind === "BuyCollateral").length).toBe(2)
    expect(outcomes.every((o) => o.healthAfter > 1.25 && o.healthAfter < 1.8)).toBe(true)
    expect(checkInputPlan(input, plan as Plan).violations).toEqual([])
  })

  test("autopilot skips a swap boost whose fee, impact and gas exceed the value of the exposure it adds", () => {
    const expensive: SwapCurve = { route: ROUTE, points: [{ amountIn: 100, shortfallBps: 40 }, { amountIn: 1_000_000, shortfallBps: 44 }] }
    const input = above(2, { swapBuy: expensive }, { mode: "autopilot", costs: { ...TEST_COSTS, boostEdgeBps: 20 } })
    const { outcomes } = solve(input)
    expect(outcomes[0]?.reason).toMatch(/swap boost skipped: exposure value .* < cost/)
  })

  test("every plan on random portfolios with swap curves (boosts and deleverages) passes the rule check", () => {
    for (let seed = 1; seed <= 300; seed++) {
      const input = randomSolverInput(seed, 1 + (seed % 4), seed % 3)
      for (const s of input.subAccounts) {
        s.policy = { ...s.policy, maxSlippageBps: 30 + (seed % 5) * 20 }
        const scale = s.state.collateral * s.state.price
        s.swapBuy = { route: ROUTE, points: [0.01, 0.1, 0.5, 1].map((f, k) => ({ amountIn: scale * f, shortfallBps: 5 + k * k * 6 })) }
        s.swap = { route: ROUTE, points: [0.01, 0.1, 0.5, 1].map((f, k) => ({ amountIn: s.state.collateral * f, shortfallBps: 5 + k * k * 8 })) }
      }
      const { plan } = solve(input)
      if (plan === undefined) continue
      expect(checkInputPlan(input, plan).violations, `seed ${seed}`).toEqual([])
    }
  })

  test("re-levers a debt-free remnant (after a liquidation) to the target in one operation: the buying curve spans the borrow to minHealth", () => {
    // 5 WETH at 3,000 and no debt: health is infinite, far above the band [1.15, 1.7]; the target 1.4 needs a borrow of
    // about 1.45 x the collateral's value.
    const state = { id: `0x${"c".repeat(64)}`, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 5, debt: 0, lltv: 0.86, price: 3000 }
    const quoted = (whole: number): SwapCurve => ({ route: ROUTE, points: SWAP_CURVE_FRACTIONS.map((f) => ({ amountIn: whole * f, shortfallBps: 5 + (whole * f) / 100_000 })) })
    const remnant = (swapBuy: SwapCurve) =>
      oneSubAccountInput({
        state,
        policy: makePolicy({ boostAllowed: true, maxSlippageBps: 50, maxEpochLossBps: 400 }),
        epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
        risk: { sigma: 0.5 },
        swapBuy,
      })
    // Quoted only up to the collateral's value (15,000), the boost is capped there and would end at health 1.72, above
    // the band: no swap boost.
    const short = solve(remnant(quoted(15_000)))
    expect(short.outcomes[0]?.reason).toMatch(/capped by the buying curve's largest quote reaches health 1\.7\d\d, outside/)
    expect(short.plan?.actions.some((a) => a.kind === "BuyCollateral") ?? false).toBe(false)
    // Quoted over swapBuySpan (the borrow to minHealth 1.15, 2.97 x the value), it lands at the target.
    const span = swapBuySpan(state, 1.15)
    expect(span).toBeCloseTo((15_000 * 0.86) / (1.15 - 0.86), 6)
    const { plan, outcomes } = solve(remnant(quoted(span)))
    expect(kinds(plan)).toEqual(["SupplyCollateralWithCallback", "Borrow", "BuyCollateral", "EndCallback"])
    expect(outcomes[0]?.healthAfter).toBeCloseTo(1.4, 2)
    expect(plan!.actions[1]!.amount).toBeGreaterThan(15_000 * 1.4)
    // A position already levered needs less than its collateral's value: the span never drops below that value.
    expect(swapBuySpan({ ...state, debt: 10_000 }, 1.15)).toBe(15_000)
  })
})
