import { describe, expect, test } from "vitest"
import { solve } from "./solver.js"
import { applyPlan, healthOf } from "./state.js"
import { planStopExit } from "./stopExit.js"
import { ROUTE_500, TEST_COSTS, checkInputPlan, makePolicy, oneSubAccountInput } from "./testing.js"
import type { Plan, SolverInput, SwapCurve } from "./types.js"

// Review rr13w W3 (status, branch w3): the review's fix ("a cap-bound sale: sell at the cap, then repay from the pool
// only what the module's landing rule needs") cannot be sent on W3's position. The module's cap-bound rule
// (RebalanceLib `_capBound`, rule book `capBoundHonest`, rr13w W1) takes a step that sells when twice its sale is at
// least 99 % of the cap, and the step must still gain MIN_BAND_GAP (0.01) and move at most the cap. On a correlated pair
// at LLTV 0.945 and health ~1.01, a sale repaid 1:1 gains only (health - lltv) / debt per unit sold: +0.0063 for the
// least such sale (74,250 of a 150,000 cap); a pool repayment lifting it to +0.01 takes the move to ~151,300 > 150,000.
// So neither the solver's sale-alone cap-bound candidate (w1r) nor a cap-bound mix exists there; the tripped guard's
// step is w23's exit (engine `capBoundExit`: the sale at the cap with the least pool top-up to the landing zone's floor).

const POOL = `0x${"5".repeat(40)}`
const LLTV = 0.945
const PRICE = 0.908
const UNITS = 1_000_000
/** Health of the W3 depeg's position at minute 1463 (seed 51), when the tripped guard first acts. */
const H0 = 1.0113
const DEBT = (UNITS * PRICE * LLTV) / H0
const CAP = 150_000
/** A deep correlated-pair pool: ~8 bps for the sizes here (the backtest's 5 bps fee plus impact). */
const DEEP: SwapCurve = { route: ROUTE_500, points: [{ amountIn: 10_000, shortfallBps: 6 }, { amountIn: 100_000, shortfallBps: 8 }, { amountIn: 1_000_000, shortfallBps: 40 }] }

/** W3's position (the buffered trader's pair: band 1.02 / 1.05 / 1.1, default caps, swaps at up to 100 bps), a USDC pool holding `pool`. */
function world(pool: number): SolverInput {
  return oneSubAccountInput(
    {
      state: { id: `0x${"e".repeat(64)}`, loanAsset: "USDC", collateralAsset: "ETH", loanDecimals: 6, collateralDecimals: 18, collateral: UNITS, debt: DEBT, lltv: LLTV, price: PRICE },
      policy: makePolicy({ minHealth: 1.02, targetHealth: 1.05, maxHealth: 1.1, boostAllowed: false, maxSlippageBps: 100, maxLossBps: 100, maxEpochLossBps: 400, pools: [POOL], maxAmountPerRebalance: CAP, maxAmountPerEpoch: 4 * CAP, cooldown: 300 }),
      epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
      risk: { sigma: 0.05 },
      swap: DEEP,
    },
    { pools: [{ address: POOL, asset: "USDC", decimals: 6, balance: pool, withdrawable: pool }] },
  )
}

const after = (input: SolverInput, plan: Plan) => healthOf(applyPlan({ subAccounts: input.subAccounts.map((s) => s.state), pools: input.pools, idle: input.idle }, plan).subAccounts[0] as NonNullable<SolverInput["subAccounts"][number]["state"]>)
const soldValue = (plan: Plan) => plan.actions.filter((a) => a.kind === "SellCollateral").reduce((sum, a) => sum + a.amount * PRICE, 0)
/** The sale of the W3 position sized at `capLeft` of counted move, with `prefund` from the pool (planStopExit, rule check left to the test). */
const sale = (input: SolverInput, capLeft: number, prefund = 0): Plan =>
  planStopExit({
    input: input.subAccounts[0] as SolverInput["subAccounts"][number],
    allowed: { min: 0, max: 1.075 },
    capLeft,
    costs: TEST_COSTS,
    accepts: () => true,
    ...(prefund > 0 ? { prefund: { pool: POOL, decimals: 6, amount: prefund } } : {}),
  }) as Plan

describe("rr13w W3 (w3): no cap-bound sale exists on a correlated pair at LLTV 0.945, health ~1.01, at the default 150,000 cap", () => {
  test("with no pool the solver plans nothing: its cap-bound candidates, the sale alone included, do not gain MIN_BAND_GAP", () => {
    const input = world(0)
    const { plan, outcomes } = solve(input)
    expect(plan).toBeUndefined()
    expect(outcomes[0]?.reason).toMatch(/funds and caps reach only 1\.01/)
  })

  test("the sale at the cap alone is cap-bound by move (2 x sold >= 0.99 x cap) but gains ~+0.006 < 0.01: refused HealthOutsideLandingZone", () => {
    const input = world(0)
    const plan = sale(input, CAP)
    expect(2 * soldValue(plan)).toBeGreaterThanOrEqual(0.99 * CAP)
    const gain = after(input, plan) - H0
    expect(gain).toBeGreaterThan(0.005)
    expect(gain).toBeLessThan(0.008)
    expect(checkInputPlan(input, plan).violations.map((v) => v.error?.name)).toContain("HealthOutsideLandingZone")
  })

  test("the least cap-bound sale (74,250) with the pool repayment that lifts it to before + 0.01 moves more than the cap: AmountCapExceeded", () => {
    const input = world(100_000)
    // The pool top-up R lifting a 74,250 sale to H0 + 0.01 (about 2,800): sized with the sale's own repayment.
    const probe = sale(input, 0.99 * CAP)
    const sold = soldValue(probe)
    expect(2 * sold).toBeGreaterThanOrEqual(0.99 * CAP - 1)
    const repaid = (probe.actions.find((a) => a.kind === "RepayWithCallback") as Plan["actions"][number]).amount
    // (+10: the float sizing lands a few 1e-7 of health short of the edge otherwise)
    const r = DEBT - repaid - ((UNITS * PRICE - sold) * LLTV) / (H0 + 0.01) + 10
    expect(r).toBeGreaterThan(2_000)
    const plan = sale(input, 0.99 * CAP + r, r)
    expect(soldValue(plan)).toBeCloseTo(sold, -1)
    expect(after(input, plan)).toBeGreaterThanOrEqual(H0 + 0.01)
    // it lands at the cap-bound edge; only the amount cap refuses it (moved ~151,300 > 150,000)
    expect(checkInputPlan(input, plan).violations.map((v) => v.error?.name)).toEqual(["AmountCapExceeded"])
    // the same step within the cap (the sale shrunk by the top-up, w23's shape) falls short of the edge
    const within = sale(input, CAP, r)
    expect(after(input, within)).toBeLessThan(H0 + 0.01)
    expect(checkInputPlan(input, within).violations.map((v) => v.error?.name)).toContain("HealthOutsideLandingZone")
  })
})
