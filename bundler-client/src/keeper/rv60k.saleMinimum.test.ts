import { describe, expect, test, vi } from "vitest"
import { getSwapMinAmountOut } from "@levpilot/sdk/utils"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { solve } from "../solver/solver.js"
import { CRASH_CURVE, makePolicy, oneSubAccountInput } from "../solver/testing.js"
import type { SolverInput, SubAccountInput } from "../solver/types.js"
import { planFundingOf, settleSwapPlan, toChainPlan, toSaleMinimumRepayment } from "./portfolio.js"
import { clampPlanToChainBounds } from "./chainBounds.js"

// Review rv60k. The sale-minimum settlement computes the plan's own funds as `a.amount - block.take`, block.take being
// the FIXED take (swapPlanTake: minimum + 0.2 (top - minimum)). Under `saleMinimumRepayment: true` the solver writes
// the opener as prefunded + the sales' MINIMUM (sizeSwapDeleverage's repayAtMinimum), not prefunded + the take, so the
// own funds come out short by 0.2 (top - minimum) per sale, and the mode repays that much less than the solver planned.

let quote: (amountIn: bigint) => bigint = () => 0n
vi.mock("../swap/uniswapQuote.js", async (importOriginal) => {
  const real = await importOriginal<Record<string, unknown>>()
  return { ...real, quoteExactInput: async (_c: unknown, p: { amountIn: bigint }) => ({ amountOut: quote(p.amountIn) }) }
})

const POOL = `0x${"5".repeat(40)}`
const ID = `0x${"a".repeat(64)}`
const COLL = "0x00000000000000000000000000000000000000c1"
const LOAN = "0x00000000000000000000000000000000000000b1"
const price = (1.02 * 18_000) / (10 * 0.86)

function input(idle: number, maxSlippageBps: number): SolverInput {
  const sub: SubAccountInput = {
    state: { id: ID, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 10, debt: 18_000, lltv: 0.86, price },
    policy: makePolicy({ minHealth: 1.2, targetHealth: 1.4, maxHealth: 1.7, boostAllowed: false, maxSlippageBps, maxEpochLossBps: 400, pools: [POOL] }),
    epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
    risk: { sigma: 0.8 },
    swap: CRASH_CURVE,
  } as SubAccountInput
  return oneSubAccountInput(sub, { idle: { USDC: idle }, saleMinimumRepayment: true })
}

describe("rv60k: sale-minimum settlement of the solver's own plan", () => {
  // drift: the settlement's minimum at the price expected at inclusion (swapMinimumsAtInclusion) while the solver sized the
  // sale at the read price (a `saleAtRead` sub-account in a noisy fall, solveAimed's first step): exp(-0.005).
  for (const [idle, bps, drift] of [[1_500, 50, 1], [1_500, 100, 1], [20, 100, 1], [0, 100, Math.exp(-0.005)]] as const)
    test(`idle ${idle} USDC, maxSlippageBps ${bps}, settlement price factor ${drift.toFixed(4)}: the mode repays the solver's own funds + the minimum`, async () => {
      const { plan } = solve(input(idle, bps))
      expect(plan, "the solver plans a swap rescue").toBeDefined()
      const chain = toChainPlan(plan!)
      const opener = chain.actions.findIndex((a) => a.kind === "RepayWithCallback")
      expect(opener).toBeGreaterThanOrEqual(0)
      const priceWad = BigInt(Math.round(price * drift * 1e6)) * 10n ** 18n // 1e36-scaled, 6 - 18 decimals
      const minAmountOut = chain.actions.map((a) =>
        a.kind === "SellCollateral" ? getSwapMinAmountOut({ sell: true, amountIn: a.amount, price: priceWad, maxSlippageBps: bps }).minAmountOut : undefined,
      )
      const expectedOut = plan!.actions.map((a) => (a.expectedOut === undefined ? undefined : BigInt(Math.floor(a.expectedOut * 1e6))))
      // The pool pays exactly what the solver expected.
      const sales = chain.actions.filter((a) => a.kind === "SellCollateral")
      quote = (x) => expectedOut[chain.actions.findIndex((a) => a.kind === "SellCollateral" && a.amount === x)] ?? 0n
      const minimums = minAmountOut.reduce<bigint>((s, m) => s + (m ?? 0n), 0n)
      const solverOwn = BigInt(Math.round(idle * 1e6)) // what the solver's opener brings beyond the sales at their minimum
      const settled = await settleSwapPlan({} as never, chain, {
        quoter: LOAN,
        tokens: [{ collateral: COLL, loan: LOAN, maxSlippageBps: bps }],
        expectedOut,
        minAmountOut,
        repayment: "sale-minimum",
        funding: planFundingOf(plan!),
      })
      // The clamp to the chain's bounds as safeStep runs it (the Safe holds exactly the idle the solver planned).
      const bounds = {
        balances: { [LOAN]: BigInt(Math.round(idle * 1e6)) },
        maxWithdraw: {},
        poolAsset: {},
        subAccounts: { [ID]: { debt: 18_000n * 10n ** 6n, collateral: 10n * 10n ** 18n, loanToken: LOAN, collateralToken: COLL, price: priceWad, maxSlippageBps: bps, due: true } },
      }
      const clamped = (clampPlanToChainBounds(settled.plan, bounds as never, settled.funding).plan ?? settled.plan) as ChainPlan
      expect(settled.saleMinimum.size).toBe(1)
      const sent = toSaleMinimumRepayment(clamped, settled.saleMinimum, minAmountOut)
      const own = sent.actions[opener]!.amount
      console.log(`idle ${idle} bps ${bps} factor ${drift}: sales ${sales.length}, solver opener ${Number(chain.actions[opener]!.amount) / 1e6}, minimums ${Number(minimums) / 1e6}, solver's own part ${Number(solverOwn) / 1e6}, sent own part ${Number(own) / 1e6}`)
      // Expected: the own part the solver planned (idle), to within a few USDC cents of float noise.
      expect(Number(own) / 1e6).toBeCloseTo(Number(solverOwn) / 1e6, 1)
    })
})
