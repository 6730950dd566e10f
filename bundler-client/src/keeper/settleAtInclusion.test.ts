import type { Hex } from "viem"
import { describe, expect, test, vi } from "vitest"
import { checkRebalanceRules } from "@levpilot/sdk/rules"
import { getSwapMinAmountOut } from "@levpilot/sdk/utils"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { swapPlanTake, swapRepayMargin } from "../solver/swapDeleverage.js"
import type { PortfolioSnapshot } from "./portfolio.js"
import { settleSwapPlan } from "./portfolio.js"
import { clampPlanToChainBounds } from "./chainBounds.js"
import { swapMinimumsAtInclusion } from "./safeStep.js"
import { LLTV, SWAP_ADAPTER, policy as policyOf } from "./testing.js"

// Issue 13 (c): the keeper settles a swap rescue against each sale's on-chain minimum output. The solver planned the
// rescue at the price it expects at inclusion (inclusionDrift < 0, a falling market); the minimum must be taken at that
// price too, or the settlement cannot lower the repayment to what the sale now quotes.

let quote: (amountIn: bigint) => bigint = () => 0n
vi.mock("../swap/uniswapQuote.js", async (importOriginal) => {
  const real = await importOriginal<Record<string, unknown>>()
  return { ...real, quoteExactInput: async (_c: unknown, p: { amountIn: bigint }) => ({ amountOut: quote(p.amountIn) }) }
})

const SUB = `0x${"01".repeat(32)}` as Hex
const COLL = "0x00000000000000000000000000000000000000c1"
const LOAN = "0x00000000000000000000000000000000000000a1"
const ROUTE = `0x${"0".repeat(61)}1f4` as Hex
const SLIP = 100
const E36 = 10n ** 36n
/** The oracle's price of one 18-decimal collateral unit in 6-decimal loan units, 1e36 scale. */
const priceOf = (usd: number) => BigInt(Math.round(usd * 1e6)) * 10n ** 18n
const value = (amount: bigint, price: bigint) => (amount * price) / E36

describe("settleSwapPlan with the minimums at the price expected at inclusion", () => {
  test("a rescue planned for a 1 % fall, quoted after a deeper one: the repayment comes down to what the sale pays", async () => {
    const oracle = priceOf(3000)
    const drift = -0.01
    const expected = (oracle * BigInt(Math.round(Math.exp(drift) * 1e12))) / 10n ** 12n
    const sold = 10n * 10n ** 18n
    // The solver's plan at the expected price: the sale's expected output (10 bp shortfall) and its take (swapPlanTake).
    const expectedOut = (value(sold, expected) * 9_990n) / 10_000n
    const top = (expectedOut * BigInt(Math.round((1 - swapRepayMargin(SLIP)) * 1e6))) / 1_000_000n
    const minAtExpected = getSwapMinAmountOut({ sell: true, amountIn: sold, price: expected, maxSlippageBps: SLIP }).minAmountOut
    const repaid = swapPlanTake(minAtExpected, top)
    const plan: ChainPlan = {
      subAccounts: [SUB],
      actions: [
        { kind: "RepayWithCallback", subAccount: 0, pool: "0x0000000000000000000000000000000000000000", amount: repaid },
        { kind: "WithdrawCollateral", subAccount: 0, pool: "0x0000000000000000000000000000000000000000", amount: sold },
        { kind: "SellCollateral", subAccount: 0, pool: "0x0000000000000000000000000000000000000000", amount: sold, route: ROUTE },
        { kind: "EndCallback", subAccount: 0, pool: "0x0000000000000000000000000000000000000000", amount: 0n },
      ],
    } as unknown as ChainPlan
    // The pool has already fallen 1.75 % (the oracle lags it): the sale quotes below the planned repayment.
    quote = (x) => (value(x, priceOf(3000 * 0.9825)) * 9_990n) / 10_000n
    const quoted = quote(sold)
    expect(quoted).toBeLessThan(repaid)
    const snapshot = {
      chain: [{ subAccount: SUB, price: oracle, policy: { maxSlippageBps: SLIP } }],
      input: { subAccounts: [{ state: { id: SUB }, inclusionDrift: drift }] },
    } as unknown as PortfolioSnapshot
    const settle = (minAmountOut: (bigint | undefined)[]) =>
      settleSwapPlan({} as never, plan, { quoter: LOAN, tokens: [{ collateral: COLL, loan: LOAN, maxSlippageBps: SLIP }], expectedOut: [undefined, undefined, expectedOut, undefined], minAmountOut })
    const minimums = swapMinimumsAtInclusion(plan, snapshot)
    expect(minimums[2]).toBe(minAtExpected)
    const result = await settle(minimums)
    const settled = result.plan.actions[0]?.amount as bigint
    // The clamp to the chain's bounds (read at the quote's oracle) sends it as settled: nothing cut, nothing dropped.
    const bounds = {
      balances: {},
      maxWithdraw: {},
      poolAsset: {},
      subAccounts: { [SUB]: { debt: 100_000n * 10n ** 6n, collateral: 50n * 10n ** 18n, loanToken: LOAN, collateralToken: COLL, price: oracle, maxSlippageBps: SLIP, due: true } },
    }
    const clamped = clampPlanToChainBounds(result.plan, bounds as never, result.funding).plan
    expect(clamped?.actions.map((a) => a.amount)).toEqual(result.plan.actions.map((a) => a.amount))
    // The rule book at inclusion, the oracle at the expected price and the router paying the quote: the settled plan
    // passes its swap and repayment checks, the one held at the quote-time minimum does not.
    const atInclusion = (p: ChainPlan) => {
      const r = checkRebalanceRules({
        plan: p,
        subAccounts: [
          {
            id: SUB,
            policy: { ...policyOf([]), maxSlippageBps: SLIP },
            state: { loanToken: LOAN, collateralToken: COLL, collateral: 50n * 10n ** 18n, debt: 113_000n * 10n ** 6n, price: expected, lltv: LLTV },
            usage: { epoch: 0, lastRebalance: 0, rebalances: 0, lossPpb: 0, gasUsed: 0, amountMoved: 0n },
          },
        ],
        pools: [],
        balances: {},
        swapAdapter: SWAP_ADAPTER,
        timestamp: 1_700_000_000n,
        gasUsed: 500_000n,
        outcome: { swapOutputs: { 2: quoted } },
      })
      return r.ok || ["HealthOutOfBand", "HealthOutsideLandingZone"].includes(r.error.name) ? "ok" : r.error.name
    }
    expect(atInclusion(clamped as ChainPlan)).toBe("ok")
    // Lowered to what the sale quotes (less the margin), never below its minimum at the expected price.
    expect(settled).toBeLessThanOrEqual(quoted)
    expect(settled).toBeGreaterThanOrEqual(minAtExpected)
    // With the minimum at the quote's oracle price (before the fix) the repayment stays above the quote: ActionFailed.
    const atQuote = getSwapMinAmountOut({ sell: true, amountIn: sold, price: oracle, maxSlippageBps: SLIP }).minAmountOut
    const held = (await settle([undefined, undefined, atQuote, undefined])).plan.actions[0]?.amount as bigint
    expect(held).toBeGreaterThan(quoted)
    expect(atInclusion({ ...plan, actions: plan.actions.map((a, k) => (k === 0 ? ({ ...a, amount: held } as typeof a) : a)) })).not.toBe("ok")
    // No drift: the minimum is the chain oracle's, as before.
    const calm = { ...snapshot, input: { subAccounts: [{ state: { id: SUB } }] } } as unknown as PortfolioSnapshot
    expect(swapMinimumsAtInclusion(plan, calm)[2]).toBe(atQuote)
  })
})
