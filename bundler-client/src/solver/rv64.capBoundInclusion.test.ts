import { describe, expect, test } from "vitest"
import { checkPlanAgainstPolicy } from "./policyRules.js"
import { solve } from "./solver.js"
import { curveSwapFill, fillSwapActions, repayAtSaleMinimum } from "./swapDeleverage.js"
import { ROUTE_500, makePolicy, oneSubAccountInput } from "./testing.js"
import type { Plan, SolverInput, SubAccountState, SwapCurve } from "./types.js"

// Review rv64: the stop-64 cap-bound sale (capsOnRepayment) judged by the rule book at an inclusion oracle moved by
// -0.5 .. +0.5 % from the read (pool following the oracle), on Morpho (sale-minimum and fixed take) and Aave (premium).
const PRICE = 2548.4
const LLTV = 0.915
const CURVE: SwapCurve = { route: ROUTE_500, points: [{ amountIn: 1, shortfallBps: 5.5 }, { amountIn: 30, shortfallBps: 8 }, { amountIn: 300, shortfallBps: 40 }] }

function world(o: { mode: boolean; premium?: number; cap: number; h0: number; collateral: number; slip?: number }): SolverInput {
  return oneSubAccountInput(
    {
      state: { id: `0x${"e2".padStart(64, "0")}`, loanAsset: "USDC", collateralAsset: "ETH", loanDecimals: 6, collateralDecimals: 18, collateral: o.collateral, debt: (o.collateral * PRICE * LLTV) / o.h0, lltv: LLTV, price: PRICE, ...(o.premium === undefined ? {} : { flashPremiumBps: o.premium }) },
      policy: makePolicy({ minHealth: 1.05, targetHealth: 1.12, maxHealth: 1.25, boostAllowed: false, maxSlippageBps: o.slip ?? 100, maxLossBps: 100, pools: [], maxAmountPerRebalance: o.cap, maxAmountPerEpoch: 4 * o.cap }),
      epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
      risk: { sigma: 0.6 },
      swap: CURVE,
    },
    { saleMinimumRepayment: o.mode },
  )
}

function judgeAt(input: SolverInput, plan: Plan, shift: number, mode: boolean) {
  const subs: SubAccountState[] = input.subAccounts.map((s) => ({ ...s.state, price: s.state.price * (1 + shift) }))
  const policies = Object.fromEntries(input.subAccounts.map((s) => [s.state.id, s.policy]))
  const epochs = Object.fromEntries(input.subAccounts.map((s) => [s.state.id, s.epoch]))
  const slip = (id: string) => policies[id]?.maxSlippageBps ?? 0
  const sent = mode ? repayAtSaleMinimum(plan, subs, slip) : plan
  const filled = fillSwapActions(sent, subs, slip, (a, s) => curveSwapFill(CURVE, a, s.price))
  if ("reason" in filled) return [filled.reason]
  const check = checkPlanAgainstPolicy({ plan: filled.plan, pre: { subAccounts: subs, pools: input.pools, idle: input.idle }, policies, epochs, now: input.now })
  return check.violations.map((v) => v.message)
}

describe("rv64: cap-bound sale at an inclusion oracle moved +-0.5 %", () => {
  // Measured by review rv64 and left out of the assertions: the fixed take (Morpho) and Aave (5 bps premium, which
  // keeps the fixed take) fail at +-0.25 % by the fixed take's own window (ActionFailed on a fall, SaleExceedsRepayment
  // on a rise), as before stop 64; the sale-minimum repayment fails first at +-0.55 % (AmountCapExceeded 150,070.87 >
  // 150,000 above, the landing zone below).
  const venues = [{ name: "morpho sale-minimum", mode: true, premium: undefined }]
  for (const v of venues)
    for (const slip of [30, 100])
      for (const cap of [150_000, 60_000])
        for (const h0 of [1.01, 1.03, 1.0384, 1.045])
          test(`${v.name} slip ${slip} cap ${cap} h0 ${h0}`, () => {
            const input = world({ mode: v.mode, premium: v.premium, cap, h0, collateral: 205.57, slip })
            const { plan, outcomes } = solve(input)
            const capBound = /cap-bound/.test(outcomes[0]?.reason ?? "")
            if (plan === undefined) {
              // No plan: the solver says the caps fall short of the zone (a cap-bound step gaining too little here).
              expect(outcomes[0]?.reason).toMatch(/no valid plan/)
              return
            }
            const res: string[] = []
            let bad = 0
            for (const shift of [-0.005, -0.0025, 0, 0.0025, 0.005]) {
              const vs = judgeAt(input, plan, shift, v.mode)
              // Sale-minimum on Morpho: every inclusion oracle within +-0.5 % lands (NoTrigger: the rise lifted it above the band).
              if (vs.some((x) => !/NoTrigger/.test(x))) bad++
              res.push(`${(shift * 100).toFixed(2)}%: ${vs.length === 0 ? "ok" : vs.join(" | ").slice(0, 160)}`)
            }
            expect(bad, `capBound=${capBound}\n${res.join("\n")}`).toBe(0)
          })
})
