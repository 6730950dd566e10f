import { describe, expect, test } from "vitest"
import { flashPremium } from "@levpilot/sdk/rules"
import { checkPlanAgainstPolicy } from "./policyRules.js"
import { solve } from "./solver.js"
import { swapPlanMargin, swapRepayMargin } from "./swapDeleverage.js"
import { CRASH_CURVE, ROUTE_500, makePolicy, oneSubAccountInput } from "./testing.js"
import type { Plan, SolverInput, SubAccountInput, SubAccountState, SwapCurve } from "./types.js"

const PREMIUM_BPS = 5
const LLTV = 0.83
const PRICE = (1.1 * 18_000) / (10 * LLTV)

/** 10 WETH against 18,000 USDC on Aave at health 1.1, no idle USDC, no pool; flash premium 5 bps (`premium` 0: planned as if it had none, as on Morpho). */
function aaveNoBuffer(overrides: Partial<SubAccountInput> = {}, premium = PREMIUM_BPS): SolverInput {
  const state: SubAccountState = { id: `0x${"b".repeat(64)}`, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 10, debt: 18_000, lltv: LLTV, price: PRICE, liquidationIncentive: 1.05, liquidationCloseFactor: 0.5 }
  return oneSubAccountInput({
    state: premium === 0 ? state : { ...state, flashPremiumBps: premium },
    policy: makePolicy({ minHealth: 1.2, targetHealth: 1.4, maxHealth: 1.7, boostAllowed: false, maxSlippageBps: 50, maxEpochLossBps: 400, pools: [] }),
    epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
    risk: { sigma: 0.8 },
    swap: CRASH_CURVE,
    ...overrides,
  })
}

/** The rule book's verdict on `plan` for the Aave sub-account as the chain has it (premium 5 bps). */
function checkOnAave(input: SolverInput, plan: Plan) {
  const s = input.subAccounts[0] as SubAccountInput
  const state = { ...s.state, flashPremiumBps: PREMIUM_BPS }
  return checkPlanAgainstPolicy({ plan, pre: { subAccounts: [state], pools: [], idle: {} }, policies: { [s.state.id]: s.policy }, epochs: { [s.state.id]: s.epoch }, now: input.now })
}

const blockOf = (plan: Plan | undefined) => {
  const [repay, withdraw, sell] = plan?.actions ?? []
  return { repaid: repay?.amount as number, sold: withdraw?.amount as number, out: sell?.expectedOut as number, kinds: plan?.actions.map((a) => a.kind) }
}

describe("swap deleverage on an Aave sub-account: the flash premium", () => {
  test("no idle funds: the sale pays the repayment plus the 5 bp premium; the loss is the swap's shortfall plus the premium, within the bounds", () => {
    const input = aaveNoBuffer()
    const { plan, outcomes } = solve(input)
    const b = blockOf(plan)
    expect(b.kinds).toEqual(["RepayWithCallback", "WithdrawCollateral", "SellCollateral", "EndCallback"])
    const premium = (b.repaid * PREMIUM_BPS) / 10_000
    // What the router pulls, the repayment and its premium, is within the sale's expected output less the drift margin,
    // and the repayment is at least the sale's on-chain minimum (SaleExceedsRepayment).
    expect(b.repaid + premium).toBeLessThanOrEqual(b.out * (1 - swapRepayMargin(50)))
    expect(b.repaid).toBeGreaterThanOrEqual(b.sold * PRICE * (1 - 50 / 10_000))
    expect(outcomes[0]?.healthAfter).toBeGreaterThanOrEqual(1.2)
    expect(outcomes[0]?.reason).toMatch(/flash premium \d+\.\d+ USDC \(5 bps\)/)
    const check = checkOnAave(input, plan as Plan)
    expect(check.violations).toEqual([])
    // Net value lost: the sale's shortfall against its oracle value plus the premium (the sale's surplus stays idle).
    const loss = check.netValueBefore - check.netValueAfter
    expect(loss).toBeCloseTo(b.sold * PRICE - b.out + premium, 6)
    expect(loss).toBeGreaterThan(b.sold * PRICE - b.out + premium * 0.99)
  })

  test("the repayment is the sale's take with the premium (swapPlanMargin with premiumBps), below Morpho's for the same sale", () => {
    const shortfall = (1 - 0.99903) * 10_000
    expect(swapPlanMargin(50, shortfall, PREMIUM_BPS)).toBeGreaterThan(swapPlanMargin(50, shortfall))
    // On the top (E' / (1 + p)) the bias gives 20 % of the premium back: the take falls by 0.2 x 5 bp of the output.
    expect((swapPlanMargin(50, shortfall, PREMIUM_BPS) - swapPlanMargin(50, shortfall)) * 10_000).toBeCloseTo(0.2 * 5 * (1 - 2e-4), 1)
  })

  /** A thin 0.05% pool: every sale loses about 44.7 bps, inside maxSlippageBps 50 but not with the 5 bp premium on top. */
  const thin: SwapCurve = { route: ROUTE_500, points: [{ amountIn: 0.05, shortfallBps: 44.5 }, { amountIn: 20, shortfallBps: 44.9 }] }

  test("near the slippage bound a plan sized without the premium is short: the router's pull exceeds the sale's output (ActionFailed); the premium-aware solver sends none and says why", () => {
    const blind = solve(aaveNoBuffer({ swap: thin }, 0))
    const b = blockOf(blind.plan)
    expect(b.kinds).toEqual(["RepayWithCallback", "WithdrawCollateral", "SellCollateral", "EndCallback"])
    // Sized as on Morpho: the repayment plus its premium is more than the sale returns.
    expect(b.repaid + (b.repaid * PREMIUM_BPS) / 10_000).toBeGreaterThan(b.out)
    const refused = checkOnAave(aaveNoBuffer({ swap: thin }), blind.plan as Plan)
    expect(refused.violations.map((v) => v.error?.name)).toEqual(["ActionFailed"])
    // No repayment X fits: X >= the sale's minimum (oracle value less 50 bp) and X (1 + 5 bp) <= its output (44.7 bp
    // under the oracle, less the drift margin) cannot both hold. The solver sizes sales within (50 - 5) x 90 % = 40.5 bp.
    const aware = solve(aaveNoBuffer({ swap: thin }))
    expect(aware.plan).toBeUndefined()
    expect(aware.outcomes[0]?.reason).toMatch(/even the smallest quoted swap loses more than 40\.5 bps/)
  })

  test("with a tight maxLossBps a plan sized without the premium loses more than the policy allows (ValueLossExceeded), the premium-aware solver never sends one", () => {
    const tight = (premium: number, maxLossBps: number) => {
      const input = aaveNoBuffer({}, premium)
      const s = input.subAccounts[0] as SubAccountInput
      s.policy = { ...s.policy, maxLossBps }
      return input
    }
    // The sale loses 11.5 bp: within 16 bp on Morpho, 16.5 bp with the premium.
    const blind = solve(tight(0, 16))
    expect(blind.plan).toBeDefined()
    const refused = checkOnAave(tight(PREMIUM_BPS, 16), blind.plan as Plan)
    expect(refused.violations.map((v) => v.error?.name)).toEqual(["ValueLossExceeded"])
    const aware = solve(tight(PREMIUM_BPS, 16))
    expect(aware.plan).toBeUndefined()
    expect(aware.outcomes[0]?.reason).toMatch(/ValueLossExceeded/)
    // With room for both (20 bp) it plans, and the plan passes with the premium charged.
    const roomy = solve(tight(PREMIUM_BPS, 20))
    expect(roomy.plan).toBeDefined()
    expect(checkOnAave(tight(PREMIUM_BPS, 20), roomy.plan as Plan).violations).toEqual([])
  })

  test("flashPremium is Aave's percentMul: half up", () => {
    expect(flashPremium(10_000n, 5n)).toBe(5n)
    expect(flashPremium(1_000n, 5n)).toBe(1n)
    expect(flashPremium(999n, 5n)).toBe(0n)
    expect(flashPremium(18_000_000_000n, 5n)).toBe(9_000_000n)
  })
})

describe("the sale-minimum repayment (SolverInput.saleMinimumRepayment) on Aave: the fixed take, as the keeper sends it", () => {
  test("an Aave rescue is the same plan with and without the flag; the same account without a premium (Morpho) is sized on the minimum and records what it brings", () => {
    const aave = aaveNoBuffer()
    const fixed = solve(aave).plan as Plan
    const flagged = solve({ ...aave, saleMinimumRepayment: true }).plan as Plan
    expect(blockOf(flagged)).toEqual(blockOf(fixed))
    expect(flagged.actions[0]).not.toHaveProperty("brought")
    const morpho = aaveNoBuffer({}, 0)
    const morphoFixed = blockOf(solve(morpho).plan)
    const morphoPlan = solve({ ...morpho, saleMinimumRepayment: true }).plan as Plan
    // On the minimum the same goal needs a larger sale (the minimum is below the take), and the opener records its own funds.
    expect(blockOf(morphoPlan).sold).toBeGreaterThan(morphoFixed.sold)
    expect(morphoPlan.actions[0]?.brought).toBe(0)
  })
})
