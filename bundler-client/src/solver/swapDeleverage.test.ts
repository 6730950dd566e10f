import { describe, expect, test } from "vitest"
import { checkPlanAgainstPolicy } from "./policyRules.js"
import { solve } from "./solver.js"
import { applyPlan, healthOf } from "./state.js"
import { curveShortfallBps, maxSizeWithinSlippage, SWAP_REPAY_MARGIN, swapTakeShare } from "./swapDeleverage.js"
import { makePolicy, oneSubAccountInput } from "./testing.js"
import type { Plan, SolverInput, SubAccountInput, SwapCurve } from "./types.js"

const ROUTE = `0x${"0".repeat(61)}1f4`
const POOL = `0x${"5".repeat(40)}`

/** The devnet's WETH/USDC 0.05% pool after an 11% crash (its concentrated ranges left behind): measured by forge. */
const curve: SwapCurve = {
  route: ROUTE,
  points: [
    { amountIn: 0.1, shortfallBps: 5.2 },
    { amountIn: 2, shortfallBps: 8 },
    { amountIn: 6, shortfallBps: 15 },
    { amountIn: 20, shortfallBps: 42 },
    { amountIn: 60, shortfallBps: 130 },
  ],
}

/** 10 WETH against 18,000 USDC at health 1.02, no idle USDC, no pool: the "no idle funds" trader. */
function noBuffer(overrides: Partial<SubAccountInput> = {}, input: Partial<SolverInput> = {}): SolverInput {
  const price = (1.02 * 18_000) / (10 * 0.86)
  return oneSubAccountInput(
    {
      state: { id: `0x${"a".repeat(64)}`, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 10, debt: 18_000, lltv: 0.86, price },
      policy: makePolicy({ minHealth: 1.2, targetHealth: 1.4, maxHealth: 1.7, boostAllowed: false, maxSlippageBps: 50, maxEpochLossBps: 400, pools: [POOL] }),
      epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
      risk: { sigma: 0.8 },
      swap: curve,
      ...overrides,
    },
    input,
  )
}

describe("swap cost curve", () => {
  test("interpolates between quoted sizes and extrapolates the last slope", () => {
    expect(curveShortfallBps(curve, 0.01)).toBe(5.2)
    expect(curveShortfallBps(curve, 4)).toBeCloseTo(11.5, 9)
    expect(curveShortfallBps(curve, 100)).toBeCloseTo(130 + (88 / 40) * 40, 9)
  })

  test("finds the largest size within a bound, none when the fee alone exceeds it", () => {
    expect(maxSizeWithinSlippage(curve, 15)).toBe(6)
    expect(maxSizeWithinSlippage(curve, 28.5)).toBeCloseTo(13, 9)
    expect(maxSizeWithinSlippage(curve, 5)).toBe(0)
  })
})

describe("swap deleverage in the solver", () => {
  test("with no buffer, sells collateral inside the repay callback and lands in the zone", () => {
    const input = noBuffer()
    const { plan, outcomes } = solve(input)
    expect(plan?.actions.map((a) => a.kind)).toEqual(["RepayWithCallback", "WithdrawCollateral", "SellCollateral", "EndCallback"])
    const [repay, withdraw, sell] = plan?.actions ?? []
    expect(withdraw?.amount).toBe(sell?.amount)
    expect(sell?.route).toBe(ROUTE)
    // Repays the module's minimum output at the plan's price (maxSlippageBps 50 below the oracle value), not the expected
    // output: the sale still pays for it if the price falls before inclusion; the Safe never needs idle funds.
    const price = input.subAccounts[0]!.state.price
    expect(repay?.amount).toBeCloseTo((sell?.amount as number) * price * (1 - 50 / 10_000), 6)
    expect(repay?.amount).toBeLessThan(sell?.expectedOut as number)
    const o = outcomes[0]
    expect(o?.role).toBe("target")
    expect(o?.healthAfter).toBeGreaterThanOrEqual(1.2)
    expect(o?.healthAfter).toBeLessThanOrEqual(1.55)
    expect(o?.reason).toMatch(/swap deleverage/)
    const s = input.subAccounts[0] as SubAccountInput
    const check = checkPlanAgainstPolicy({ plan: plan!, pre: { subAccounts: [s.state], pools: [], idle: {} }, policies: { [s.state.id]: s.policy }, epochs: { [s.state.id]: s.epoch }, now: input.now })
    expect(check.violations).toEqual([])
    // The loss is the swap's shortfall, within maxSlippageBps of what was sold.
    expect(check.netValueBefore - check.netValueAfter).toBeLessThanOrEqual((sell!.amount * s.state.price * 50) / 10_000)
  })

  test("prefers a cheap buffer to a swap (buffer moves first)", () => {
    const input = noBuffer({}, { pools: [{ address: POOL, asset: "USDC", decimals: 6, balance: 50_000, withdrawable: 50_000 }] })
    const { plan } = solve(input)
    expect(plan?.actions.map((a) => a.kind)).toEqual(["WithdrawFromPool", "Repay"])
  })

  test("takes the swap when the buffer's exit fee costs more than the swap", () => {
    const input = noBuffer({}, { pools: [{ address: POOL, asset: "USDC", decimals: 6, balance: 50_000, withdrawable: 50_000, slippageBps: 40 }] })
    const s = input.subAccounts[0] as SubAccountInput
    s.policy = { ...s.policy, maxLossBps: 100 }
    const { plan, outcomes } = solve(input)
    expect(plan?.actions.map((a) => a.kind)).toContain("SellCollateral")
    expect(outcomes[0]?.reason).toMatch(/cheaper than buffers/)
  })

  test("never proposes a swap beyond the bound: a shallow pool caps the unwind below the landing zone", () => {
    const shallow: SwapCurve = { route: ROUTE, points: [{ amountIn: 0.1, shortfallBps: 5 }, { amountIn: 1, shortfallBps: 40 }, { amountIn: 6, shortfallBps: 300 }] }
    const { plan, outcomes } = solve(noBuffer({ swap: shallow }))
    expect(plan).toBeUndefined()
    expect(outcomes[0]?.reason).toMatch(/swap deleverage: a swap capped by maxSlippageBps reaches only health/)
  })

  test("no swap without maxSlippageBps or without a quoted curve", () => {
    const base = noBuffer()
    const s = base.subAccounts[0] as SubAccountInput
    expect(solve(noBuffer({ policy: { ...s.policy, maxSlippageBps: 0 } })).plan).toBeUndefined()
    expect(solve(noBuffer({ swap: undefined })).plan).toBeUndefined()
  })

  test("sizes the sale from the curve: the expected health is the target within the solver's margin", () => {
    const input = noBuffer()
    const s = input.subAccounts[0] as SubAccountInput
    const { plan } = solve(input)
    const [repay, withdraw] = plan?.actions ?? []
    const after = { ...s.state, collateral: s.state.collateral - (withdraw?.amount ?? 0), debt: s.state.debt - (repay?.amount ?? 0) }
    expect(healthOf(after)).toBeCloseTo(1.4, 1)
  })
})

describe("the venue's take from a swap (swapTakeShare): a price move before inclusion does not revert the plan", () => {
  test("is the module's minimum output at the plan's price, never above the expected output less the keeper's margin, lowered by the inclusion margin", () => {
    expect(swapTakeShare(0.0006, 100)).toBeCloseTo(0.99, 12)
    // A bound tighter than the swap's own shortfall: the expected output less SWAP_REPAY_MARGIN.
    expect(swapTakeShare(0.0006, 3)).toBeCloseTo((1 - 0.0006) * (1 - SWAP_REPAY_MARGIN), 12)
    expect(swapTakeShare(0.0006, 100, 0.02)).toBeCloseTo(0.99 * Math.exp(-0.02), 12)
    expect(swapTakeShare(0.0006, 100, -1)).toBeCloseTo(0.99, 12)
  })

  test("a rescue planned at one price still executes after the price falls within the slippage headroom; repaying the expected output less 2 bp it would revert", () => {
    const input = noBuffer()
    const plan = solve(input).plan!
    const s = input.subAccounts[0]!.state
    const sell = plan.actions[2]!
    const shortfall = 1 - (sell.expectedOut as number) / (sell.amount * s.price)
    // Headroom: maxSlippageBps (50) less the sale's own shortfall; the pool fills the sale `fall` below the plan's quote.
    const fall = (0.005 - shortfall) * 0.8
    expect(fall).toBeGreaterThan(0.001)
    const filled = (p: Plan, f: number): Plan => ({ ...p, actions: p.actions.map((a, i) => (i === 2 ? { ...a, expectedOut: (sell.expectedOut as number) * (1 - f) } : a)) })
    const pre = { subAccounts: [s], pools: [], idle: {} }
    const after = applyPlan(pre, filled(plan, fall))
    expect(after.subAccounts[0]!.debt).toBeCloseTo(s.debt - plan.actions[0]!.amount, 6)
    expect(after.idle.USDC).toBeGreaterThan(0)
    // Sized as before (the expected output less SWAP_REPAY_MARGIN), the same fill does not cover the repayment.
    const tight: Plan = { ...plan, actions: plan.actions.map((a, i) => (i === 0 ? { ...a, amount: (sell.expectedOut as number) * (1 - SWAP_REPAY_MARGIN) } : a)) }
    expect(() => applyPlan(pre, filled(tight, fall))).toThrow(/needs .* USDC but the Safe holds/)
    // Past the headroom it reverts too (the next poll re-plans at the new price), unless the keeper's inclusion margin
    // (landingMargin) widened the headroom.
    expect(() => applyPlan(pre, filled(plan, 0.01))).toThrow(/needs .* USDC but the Safe holds/)
    const wide = solve(noBuffer({ landingMargin: 0.012 })).plan!
    expect(wide.actions[0]!.amount / (wide.actions[2]!.amount * s.price)).toBeCloseTo(0.995 * Math.exp(-0.012), 9)
    const wideSell = wide.actions[2]!
    expect(() => applyPlan(pre, { ...wide, actions: wide.actions.map((a, i) => (i === 2 ? { ...a, expectedOut: (wideSell.expectedOut as number) * 0.99 } : a)) })).not.toThrow()
  })
})
