import type { Hex } from "viem"
import { describe, expect, test, vi } from "vitest"
import { collateralValue, flashPremium, maxFlashedFor, minAmountOut } from "@levpilot/sdk/rules"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { swapPlanTake, swapRepayMargin } from "../solver/swapDeleverage.js"
import { settleSwapPlan } from "./portfolio.js"
import { LOAN, SLIP, ZERO, flashSale } from "./testing.js"

// Issue 17: on an Aave sub-account the adapter's flash-loan router pulls a callback opener's amount X plus the pool's
// premium percentMul(X, FLASHLOAN_PREMIUM_TOTAL) from the Safe; the keeper's settlement sizes X so that the sale's
// quote less the margin pays both. QuoterV2's answer is set here; the rest runs for real.

let quote: (amountIn: bigint) => bigint = (x) => x
vi.mock("../swap/uniswapQuote.js", async (importOriginal) => {
  const real = await importOriginal<Record<string, unknown>>()
  return { ...real, quoteExactInput: async (_c: unknown, p: { amountIn: bigint }) => ({ amountOut: quote(p.amountIn) }) }
})

const COLL = "0x00000000000000000000000000000000000000c1"
const ID = `0x${"02".repeat(32)}` as Hex
const PREMIUM = 5n
const price = (2_400n * 10n ** 6n * 10n ** 36n) / 10n ** 18n // 6-decimal loan, 18-decimal collateral
const x = 4n * 10n ** 18n
const value = collateralValue(x, price)
const less = (y: bigint) => (y * (1_000_000n - BigInt(Math.round(swapRepayMargin(SLIP) * 1e6)))) / 1_000_000n
const m = minAmountOut(BigInt(SLIP), price, true, x)

const block = (repay: bigint): ChainPlan => ({ subAccounts: [ID], actions: flashSale(0, repay, x) })
const settle = (plan: ChainPlan, premium: bigint | undefined, expected: bigint | undefined) =>
  settleSwapPlan({} as never, plan, {
    quoter: ZERO,
    tokens: [{ collateral: COLL, loan: LOAN, maxSlippageBps: SLIP, flashPremiumBps: premium }],
    expectedOut: [undefined, undefined, expected, undefined],
    minAmountOut: [undefined, undefined, m, undefined],
  })

describe("settleSwapPlan on an Aave callback block: the opener plus its flash premium fits the quote", () => {
  test("maxFlashedFor is the largest X with X + percentMul(X, bps) within the pull", () => {
    for (const pull of [0n, 1n, 1_000n, 10_005n, 9_551_998_658n, 123_456_789_012_345n]) {
      const y = maxFlashedFor(pull, PREMIUM)
      expect(y + flashPremium(y, PREMIUM)).toBeLessThanOrEqual(pull)
      if (pull > 0n) expect(y + 1n + flashPremium(y + 1n, PREMIUM)).toBeGreaterThan(pull)
    }
    expect(maxFlashedFor(10_005n, PREMIUM)).toBe(10_000n)
    expect(maxFlashedFor(777n, 0n)).toBe(777n)
  })

  test("no planned output: the opener is the quote less the margin less the premium on it; without the premium it would be short", async () => {
    quote = (y) => (collateralValue(y, price) * 9_990n) / 10_000n
    const paid = less(quote(x))
    const { plan } = await settle(block(paid), PREMIUM, undefined)
    const X = plan.actions[0]?.amount as bigint
    expect(X).toBe(maxFlashedFor(paid, PREMIUM))
    expect(X + flashPremium(X, PREMIUM)).toBeLessThanOrEqual(paid)
    expect(X).toBeGreaterThanOrEqual(m)
    // Settled as on Morpho (no premium known), the router's pull exceeds what the sale brings by about the premium.
    const { plan: blind } = await settle(block(paid), undefined, undefined)
    const Y = blind.actions[0]?.amount as bigint
    expect(Y).toBe(paid)
    expect(Y + flashPremium(Y, PREMIUM) - paid).toBe(flashPremium(Y, PREMIUM))
    expect(flashPremium(Y, PREMIUM)).toBeGreaterThan(4_000_000n) // ~4.79 USDC short: transferFrom reverts
  })

  test("planned at the solver's take, then the pool falls 15 bp: the opener falls so that it and its premium fit the new quote, never below the sale's minimum", async () => {
    const expected = (value * 9_990n) / 10_000n
    const planned = swapPlanTake(m, maxFlashedFor(less(expected), PREMIUM))
    expect(planned + flashPremium(planned, PREMIUM)).toBeLessThanOrEqual(less(expected))
    for (const dropBps of [0n, 15n, 30n]) {
      quote = (y) => (collateralValue(y, price) * (9_990n - dropBps)) / 10_000n
      const { plan, funding } = await settle(block(planned), PREMIUM, expected)
      const X = plan.actions[0]?.amount as bigint
      expect(X + flashPremium(X, PREMIUM), `drop ${dropBps} bp`).toBeLessThanOrEqual(less(quote(x)))
      expect(X).toBeGreaterThanOrEqual(m)
      expect(X).toBeLessThanOrEqual(planned)
      // No own funds in the block: the sale pays all of the opener.
      expect(funding.swapPaid?.[2]).toBe(X)
    }
  })
})
