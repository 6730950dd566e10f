import { readFileSync } from "node:fs"
import { describe, expect, test } from "vitest"
import { checkPlanAgainstPolicy } from "./policyRules.js"
import { solve } from "./solver.js"
import { applyPlan, healthOf } from "./state.js"
import { curveShortfallBps, maxSizeWithinSlippage, splitSale, SWAP_PLAN_TAKE_BIAS, SWAP_REPAY_MARGIN, swapPlanMargin, swapPlanTake, swapRepayMargin } from "./swapDeleverage.js"
import { CRASH_CURVE, MEDIUM_CURVE, ROUTE_500, SHALLOW_CURVE, checkInputPlan, makePolicy, oneSubAccountInput, randomSolverInput } from "./testing.js"
import type { Plan, SolverInput, SubAccountInput } from "./types.js"

const ROUTE = ROUTE_500
const POOL = `0x${"5".repeat(40)}`

const curve = CRASH_CURVE

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

/** A thin 0.05% pool (40 bps already at 1 WETH) and a deeper 0.3% pool of the same pair. */
const shallow = SHALLOW_CURVE
const medium = MEDIUM_CURVE
const ROUTE_MEDIUM = MEDIUM_CURVE.route

const kinds = (plan: Plan | undefined) => plan?.actions.map((a) => a.kind)
/** A sale's shortfall against its oracle value (bps) at the noBuffer price. */
const PRICE = (1.02 * 18_000) / (10 * 0.86)
const shortfallOf = (sell: Plan["actions"][number] | undefined) => (1 - (sell?.expectedOut as number) / ((sell?.amount as number) * PRICE)) * 10_000
/** What the plan repays from a sale: its expected output less swapPlanMargin at its own shortfall. */
const takeOf = (sell: Plan["actions"][number] | undefined) => (sell?.expectedOut as number) * (1 - swapPlanMargin(50, shortfallOf(sell)))
const sold = (plan: Plan | undefined) => (plan?.actions ?? []).filter((a) => a.kind === "SellCollateral").reduce((sum, a) => sum + a.amount, 0)

/**
 * Nothing a swap plan receives stays idle (the lead's on-chain rule on inflows): per callback block the collateral
 * withdrawn equals, to the base unit, what the block sells; per loan token, borrows plus every sale's on-chain minimum
 * output are at most what the plan repays (each repayment counted up to the debt it can clear) plus its pool deposits.
 */
function assertNothingReceivedStaysIdle(input: SolverInput, plan: Plan): void {
  let open = -1
  let withdrawn = 0n
  let sales = 0n
  for (const a of plan.actions) {
    if (a.kind === "RepayWithCallback") [open, withdrawn, sales] = [a.subAccount, 0n, 0n]
    else if (a.kind === "WithdrawCollateral" && open === a.subAccount) withdrawn += a.amountBase
    else if (a.kind === "SellCollateral") sales += a.amountBase
    else if (a.kind === "EndCallback") {
      expect(sales, "collateral withdrawn in the block and sold").toBe(withdrawn)
      open = -1
    }
  }
  const sub = (k: number) => input.subAccounts.find((s) => s.state.id === plan.subAccounts[k]) as SubAccountInput
  let received = 0
  let spent = 0
  const repaid = new Map<number, number>()
  for (const a of plan.actions) {
    if (a.kind === "Borrow") received += a.amount
    if (a.kind === "SellCollateral") received += a.amount * sub(a.subAccount).state.price * (1 - (sub(a.subAccount).policy.maxSlippageBps ?? 0) / 10_000)
    if (a.kind === "Repay" || a.kind === "RepayWithCallback") repaid.set(a.subAccount, (repaid.get(a.subAccount) ?? 0) + a.amount)
    if (a.kind === "DepositToPool" && a.asset === plan.loanAsset) spent += a.amount
  }
  for (const [k, amount] of repaid) spent += Math.min(amount, sub(k).state.debt)
  expect(received, "loan token received (borrows, sales at their minimum) is spent").toBeLessThanOrEqual(spent * (1 + 1e-12))
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
    // Repays the expected output less the drift margin: the Safe never needs idle funds.
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

  test("never proposes a swap beyond the bound: a shallow pool alone caps the unwind below the landing zone, and says why nothing is sent", () => {
    const { plan, outcomes } = solve(noBuffer({ swap: shallow }))
    expect(plan).toBeUndefined()
    // Capped at 45 bps (90% of 50) the pool takes 1.096 WETH, which lifts health only to 1.043; the module refuses any
    // landing below 1.2, so neither a partial rescue nor one spread over operations can be sent.
    expect(outcomes[0]?.reason).toMatch(/reach only 1\.04\d < 1\.200 \(swap deleverage selling 1\.096 WETH.*capped by maxSlippageBps\)/)
    expect(outcomes[0]?.reason).toMatch(/HealthOutsideLandingZone.*cannot be sent partially or split over operations/)
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

describe("a swap deleverage next to the Safe's own funds (idle first, swap only the remainder)", () => {
  test("1,500 idle USDC are repaid in the same callback and the sale shrinks by more than their worth", () => {
    const none = solve(noBuffer())
    const input = noBuffer({}, { idle: { USDC: 1_500 } })
    const { plan, outcomes } = solve(input)
    // One callback block: the idle USDC ride in its repayment (no separate Repay, no second venue call).
    expect(kinds(plan)).toEqual(["RepayWithCallback", "WithdrawCollateral", "SellCollateral", "EndCallback"])
    const [repay, , sell] = plan?.actions ?? []
    expect(repay?.amount).toBeCloseTo(1_500 + takeOf(sell), 6)
    const price = (input.subAccounts[0] as SubAccountInput).state.price
    // Repaying 1,500 USDC also spares the collateral that would have been sold to repay them at health 1.4.
    expect(sold(none.plan) - sold(plan)).toBeGreaterThan(1_500 / price)
    expect(outcomes[0]?.healthAfter).toBeCloseTo(none.outcomes[0]?.healthAfter as number, 2)
    expect(outcomes[0]?.reason).toMatch(/from idle, a swap; swap deleverage selling/)
    expect(checkInputPlan(input, plan!).violations).toEqual([])
    assertNothingReceivedStaysIdle(input, plan!)
  })

  test("a pool too small for the rescue is withdrawn into the callback's repayment and the swap covers the rest", () => {
    const input = noBuffer({}, { pools: [{ address: POOL, asset: "USDC", decimals: 6, balance: 3_000, withdrawable: 3_000 }] })
    const { plan } = solve(input)
    expect(kinds(plan)).toEqual(["WithdrawFromPool", "RepayWithCallback", "WithdrawCollateral", "SellCollateral", "EndCallback"])
    const [withdraw, repay, , sell] = plan?.actions ?? []
    expect(withdraw?.amount).toBeCloseTo(3_000, 6)
    expect(repay?.amount).toBeCloseTo(3_000 + takeOf(sell), 6)
    expect(sold(plan)).toBeLessThan(sold(solve(noBuffer()).plan))
    expect(checkInputPlan(input, plan!).violations).toEqual([])
    assertNothingReceivedStaysIdle(input, plan!)
  })

  test("a donor's borrow repays the target inside the callback, the swap sells only what is left", () => {
    const input = noBuffer()
    const target = input.subAccounts[0] as SubAccountInput
    target.policy = { ...target.policy, boostAllowed: true }
    const donor: SubAccountInput = {
      ...target,
      // In band at 1.65: it may lend down to its target, 1.4 (about 2,000 USDC), not enough for the rescue.
      state: { ...target.state, id: `0x${"d".repeat(64)}`, collateral: 10, debt: (10 * target.state.price * 0.86) / 1.65 },
      policy: { ...target.policy },
      swap: undefined,
    }
    input.subAccounts.push(donor)
    const { plan } = solve(input)
    expect(kinds(plan)).toEqual(["Borrow", "RepayWithCallback", "WithdrawCollateral", "SellCollateral", "EndCallback"])
    expect(plan?.subAccounts).toEqual([donor.state.id, target.state.id])
    // The donor's repay was folded into the callback's: the borrow names that repayment (the send clamp's paysFor).
    expect(plan?.actions[0]?.paysFor).toBe(1)
    expect(checkInputPlan(input, plan!).violations).toEqual([])
    assertNothingReceivedStaysIdle(input, plan!)
  })
})

describe("two swap rescues in one plan", () => {
  test("the second callback's repayment never counts on the first sale's drift margin (on chain it may be smaller)", () => {
    const input = noBuffer()
    const first = input.subAccounts[0] as SubAccountInput
    input.subAccounts.push({ ...first, state: { ...first.state, id: `0x${"b".repeat(64)}`, collateral: 8, debt: 14_000 } })
    const { plan } = solve(input)
    expect(kinds(plan)).toEqual([...Array(2)].flatMap(() => ["RepayWithCallback", "WithdrawCollateral", "SellCollateral", "EndCallback"]))
    for (const k of [0, 4]) {
      const repay = plan?.actions[k]
      const sell = plan?.actions[k + 2]
      // No idle funds: each repayment is its own sale's expected output less the margin, nothing more.
      expect(repay?.amount).toBeCloseTo(takeOf(sell), 6)
    }
    expect(checkInputPlan(input, plan!).violations).toEqual([])
  })
})

describe("a thin pool: the swap is capped at the slippage bound, then combined or split", () => {
  test("capped at maxSlippageBps, the thin pool's sale lands in the zone only with the idle funds, and the plan says so", () => {
    // Alone, neither reaches 1.2: the capped sale lifts health to 1.043, the 2,500 idle USDC to 1.185.
    expect(solve(noBuffer({ swap: shallow })).plan).toBeUndefined()
    expect(solve(noBuffer({ swap: undefined }, { idle: { USDC: 2_500 } })).plan).toBeUndefined()
    const input = noBuffer({ swap: shallow }, { idle: { USDC: 2_500 } })
    const { plan, outcomes } = solve(input)
    expect(kinds(plan)).toEqual(["RepayWithCallback", "WithdrawCollateral", "SellCollateral", "EndCallback"])
    expect(sold(plan)).toBeCloseTo(maxSizeWithinSlippage(shallow, 45), 9)
    expect(outcomes[0]?.healthAfter).toBeGreaterThanOrEqual(1.2)
    expect(outcomes[0]?.healthAfter).toBeLessThan(1.4)
    expect(outcomes[0]?.reason).toMatch(/capped by maxSlippageBps/)
    expect(checkInputPlan(input, plan!).violations).toEqual([])
    assertNothingReceivedStaysIdle(input, plan!)
  })

  test("splits the sale across the thin 0.05% pool and a deeper 0.3% pool, every part within the bound, reaching the goal", () => {
    const input = noBuffer({ swap: shallow, swapRoutes: [medium] })
    const { plan, outcomes } = solve(input)
    expect(kinds(plan)).toEqual(["RepayWithCallback", "WithdrawCollateral", "SellCollateral", "SellCollateral", "EndCallback"])
    const sells = (plan?.actions ?? []).filter((a) => a.kind === "SellCollateral")
    expect(sells.map((a) => a.route)).toEqual([ROUTE, ROUTE_MEDIUM])
    const price = (input.subAccounts[0] as SubAccountInput).state.price
    for (const a of sells) expect(1 - (a.expectedOut as number) / (a.amount * price)).toBeLessThanOrEqual(45 / 10_000 + 1e-12)
    // The thin pool takes the slice where it is cheaper than the 0.3% fee, the deep one the rest.
    expect(sells[0]?.amount).toBeGreaterThan(0.3)
    expect(sells[0]?.amount).toBeLessThan(1.1)
    expect(outcomes[0]?.healthAfter).toBeCloseTo(1.4, 2)
    expect(outcomes[0]?.reason).toMatch(/a swap split over 2 pools/)
    expect(checkInputPlan(input, plan!).violations).toEqual([])
    assertNothingReceivedStaysIdle(input, plan!)
  })

  test("keeps one route when a second would save less than its gas", () => {
    const { plan } = solve(noBuffer({ swapRoutes: [medium] }))
    expect(kinds(plan)).toEqual(["RepayWithCallback", "WithdrawCollateral", "SellCollateral", "EndCallback"])
    expect(plan?.actions[2]?.route).toBe(ROUTE)
    // With a pricier second pool and a split worth less than one swap's gas, one route.
    const split = splitSale([curve, medium], [60, 60], 6, 1)
    expect(split?.parts).toEqual([6, 0])
  })

  test("splitSale: the cheapest allocation equalises marginal costs, and none beyond the routes' caps", () => {
    const split = splitSale([shallow, medium], [maxSizeWithinSlippage(shallow, 45), maxSizeWithinSlippage(medium, 45)], 6, 0)
    expect(split?.parts.reduce((a, b) => a + b, 0)).toBeCloseTo(6, 9)
    const single = 6 * curveShortfallBps(medium, 6) / 10_000
    expect(split?.loss).toBeLessThan(single)
    expect(splitSale([shallow, medium], [1, 1], 6, 0)).toBeUndefined()
  })
})

describe("swap plans on random portfolios", () => {
  test("every swap deleverage passes the rule book, sells exactly what it withdraws and leaves nothing it receives idle", () => {
    let swaps = 0
    for (let seed = 1; seed <= 800; seed++) {
      const input = randomSolverInput(seed, 3, 2)
      for (const s of input.subAccounts) {
        s.policy = { ...s.policy, maxSlippageBps: 50, maxLossBps: Math.max(s.policy.maxLossBps, 50) }
        s.swap = curve
        if (seed % 2 === 0) s.swapRoutes = [shallow, medium]
      }
      const { plan } = solve(input)
      if (plan === undefined || !plan.actions.some((a) => a.kind === "SellCollateral")) continue
      swaps++
      expect(checkInputPlan(input, plan).violations, `seed ${seed}`).toEqual([])
      assertNothingReceivedStaysIdle(input, plan)
    }
    expect(swaps).toBeGreaterThan(20)
  })
})

describe("the venue's take from a swap (swapPlanMargin): between the on-chain minimum and the expected output", () => {
  test("is the minimum plus SWAP_PLAN_TAKE_BIAS of the way to the expected output less the repay margin, never below the minimum", () => {
    expect(SWAP_PLAN_TAKE_BIAS).toBeGreaterThan(0)
    expect(SWAP_PLAN_TAKE_BIAS).toBeLessThanOrEqual(1)
    for (const [b, s] of [[100, 6], [50, 45], [10, 9], [3, 2.7], [300, 0]] as const) {
      const take = (1 - s / 10_000) * (1 - swapPlanMargin(b, s))
      const floor = 1 - b / 10_000
      const top = (1 - s / 10_000) * (1 - swapRepayMargin(b))
      expect(take, `${b} bps, ${s} bps`).toBeCloseTo(floor + SWAP_PLAN_TAKE_BIAS * (top - floor), 12)
      expect(take, `${b} bps, ${s} bps`).toBeGreaterThanOrEqual(floor)
      expect(take, `${b} bps, ${s} bps`).toBeLessThan(1 - s / 10_000)
    }
  })

  test("a rescue planned at one price still executes after the price falls by most of the headroom; repaid as the expected output less 10 % of the bound it would revert", () => {
    const input = noBuffer()
    const plan = solve(input).plan!
    const s = input.subAccounts[0]!.state
    const sell = plan.actions[2]!
    const shortfall = shortfallOf(sell) / 10_000
    // Headroom against a fall: (1 - k) of maxSlippageBps (50) less the sale's shortfall; the pool fills `fall` below the quote.
    const fall = (1 - SWAP_PLAN_TAKE_BIAS) * (0.005 - shortfall) * 0.9
    expect(fall).toBeGreaterThan(0.001)
    const filled = (p: Plan, f: number): Plan => ({ ...p, actions: p.actions.map((a, i) => (i === 2 ? { ...a, expectedOut: (sell.expectedOut as number) * (1 - f) } : a)) })
    const pre = { subAccounts: [s], pools: [], idle: {} }
    const after = applyPlan(pre, filled(plan, fall))
    expect(after.subAccounts[0]!.debt).toBeCloseTo(s.debt - plan.actions[0]!.amount, 6)
    expect(after.idle.USDC).toBeGreaterThan(0)
    // Repaid as the expected output less 10 % of maxSlippageBps (5 bp), the same fill does not cover the repayment.
    const tight: Plan = { ...plan, actions: plan.actions.map((a, i) => (i === 0 ? { ...a, amount: (sell.expectedOut as number) * (1 - 0.0005) } : a)) }
    expect(() => applyPlan(pre, filled(tight, fall))).toThrow(/needs .* USDC but the Safe holds/)
    // Past the on-chain minimum it reverts whatever the take (the swap itself would: SlippageExceeded).
    expect(() => applyPlan(pre, filled(plan, 0.01))).toThrow(/needs .* USDC but the Safe holds/)
    // And the take is never below the sale's on-chain minimum at the plan's price (IdleInflow).
    expect(plan.actions[0]!.amount).toBeGreaterThanOrEqual(sell.amount * s.price * (1 - 50 / 10_000))
  })

  test("swapPlanTake, the one take rule: base units and floats agree; a sale's take absorbs a pool drop of r + (1 - b) of the slack and an oracle rise of b of it", () => {
    const b = SWAP_PLAN_TAKE_BIAS
    for (const [bound, shortfall] of [[50, 14.5], [100, 14.5], [50, 5], [30, 20], [1_000, 300]] as const) {
      // A sale worth 1,000,000 USDC at the oracle, in base units (6 decimals).
      const value = 1_000_000_000_000n
      const minimum = (value * BigInt(10_000 - bound)) / 10_000n
      const expected = (value * BigInt(Math.round((10_000 - shortfall) * 100))) / 1_000_000n
      const r = swapRepayMargin(bound)
      const top = (expected * BigInt(Math.round((1 - r) * 1e6))) / 1_000_000n
      const take = swapPlanTake(minimum, top)
      expect(Number(take), `${bound}/${shortfall}`).toBeCloseTo(swapPlanTake(Number(minimum), Number(top)), -1)
      expect(take).toBeGreaterThan(minimum)
      expect(take).toBeLessThan(top)
      const slack = Number(top - minimum)
      // Pool drop tolerated, (E - X) / E, and oracle rise tolerated, (X - m) / m.
      expect(Number(expected - take) / Number(expected), `${bound}/${shortfall}`).toBeCloseTo(r + ((1 - b) * slack) / Number(expected), 9)
      expect(Number(take - minimum) / Number(minimum), `${bound}/${shortfall}`).toBeCloseTo((b * slack) / Number(minimum), 9)
      // The float margin the solver plans with is the same take, as a share of the expected output.
      expect(1 - swapPlanMargin(bound, shortfall)).toBeCloseTo(Number(take) / Number(expected), 6)
    }
    // A top at or below the minimum (a swap past its bound) is taken whole: never raised to the minimum.
    expect(swapPlanTake(1_000n, 990n)).toBe(990n)
    expect(swapPlanTake(1_000, 990)).toBe(990)
  })

  test("the forge test of the inclusion window (SwapInclusionWindow.t.sol) plans with these constants", () => {
    const sol = readFileSync(new URL("../../../modules/test/integration/SwapInclusionWindow.t.sol", import.meta.url), "utf8")
    expect(Number(/TAKE_BIAS_PPM = ([\d_]+);/.exec(sol)?.[1]?.replaceAll("_", "")) / 1e6).toBe(SWAP_PLAN_TAKE_BIAS)
    expect(Number(/REPAY_MARGIN_PPM = ([\d_]+);/.exec(sol)?.[1]?.replaceAll("_", "")) / 1e6).toBe(SWAP_REPAY_MARGIN)
  })
})
