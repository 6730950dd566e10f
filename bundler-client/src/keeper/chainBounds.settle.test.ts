import type { Address, Hex } from "viem"
import { describe, expect, test, vi } from "vitest"
import { checkRebalanceRules, collateralValue, minAmountOut } from "@levpilot/sdk/rules"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { swapPlanTake, swapRepayMargin } from "../solver/swapDeleverage.js"
import { clampPlanToChainBounds } from "./chainBounds.js"
import { settleSwapPlan, swapShares } from "./portfolio.js"
import { LLTV, LOAN, SLIP, SWAP_ADAPTER, ZERO, h, policy as policyOf } from "./testing.js"

// Issue 11 item 1 (review 4, B1): a callback block's sales share its settled repayment; the clamp's cut of one sale's
// input must never take the repayment below the sum of the sales' on-chain minimums (the module's SaleExceedsRepayment).
// The keeper's settlement runs for real with QuoterV2's answer set per route fee; the SDK rule book judges.

const quotes = new Map<number, (amountIn: bigint) => bigint>()
vi.mock("../swap/uniswapQuote.js", async (importOriginal) => {
  const real = await importOriginal<Record<string, unknown>>()
  return {
    ...real,
    quoteExactInput: async (_c: unknown, p: { route: { fee: number }; amountIn: bigint }) => ({ amountOut: (quotes.get(p.route.fee) as (x: bigint) => bigint)(p.amountIn) }),
  }
})

const COLL = "0x00000000000000000000000000000000000000c1"
const R500 = `0x${"0".repeat(61)}1f4` as const
const R3000 = `0x${"0".repeat(61)}bb8` as const
const ID = `0x${"01".repeat(32)}` as Hex
const policy = policyOf([])

describe("swapShares", () => {
  test("each sale gets at least its minimum whenever the repayment covers the minimums, and the shares sum to it", () => {
    let seed = 7
    const rand = (n: bigint) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
      return (BigInt(seed) * n) / BigInt(2 ** 31)
    }
    for (let i = 0; i < 2_000; i++) {
      const sales = Array.from({ length: 1 + Number(rand(4n)) }, () => {
        const minimum = rand(10n ** 20n)
        return { minimum, quote: minimum + rand(10n ** 18n) - (i % 7 === 0 ? rand(10n ** 18n) : 0n) }
      })
      const minimums = sales.reduce((s, x) => s + x.minimum, 0n)
      const paid = i % 5 === 0 ? rand(minimums + 1n) : minimums + rand(10n ** 19n)
      const shares = swapShares(sales, paid)
      expect(shares.reduce((s, x) => s + x, 0n)).toBe(paid)
      if (paid >= minimums) shares.forEach((share, n) => expect(share).toBeGreaterThanOrEqual((sales[n] as { minimum: bigint }).minimum))
      else shares.forEach((share) => expect(share).toBeGreaterThanOrEqual(0n))
    }
  })
})

describe("settleSwapPlan + clampPlanToChainBounds: a callback block split over two routes", () => {
  for (const [first, second] of [[500, 3000], [3000, 500]] as const)
    for (const cutTenths of [1n, 4n, 9n])
      test(`routes ${first} then ${second}, the first sale's input cut by ${cutTenths}0%: no sale's share below its minimum, the clamped plan passes`, async () => {
        const price = 3_000n * 10n ** 6n * 10n ** 36n / 10n ** 18n // 6-decimal loan, 18-decimal collateral
        const collateral = 100n * 10n ** 18n
        const debt = (collateralValue(collateral, price) * LLTV) / h(1.05)
        const value = (x: bigint) => collateralValue(x, price)
        // Route 500: 10 bp under the oracle; route 3000: 45 bp (inside the policy's 50).
        quotes.set(500, (x) => (value(x) * 9_990n) / 10_000n)
        quotes.set(3000, (x) => (value(x) * 9_955n) / 10_000n)
        const margin = 1_000_000n - BigInt(Math.round(swapRepayMargin(SLIP) * 1e6))
        const less = (x: bigint) => (x * margin) / 1_000_000n
        const x = 5n * 10n ** 18n
        const m = minAmountOut(BigInt(SLIP), price, true, x)
        const quote = (fee: number) => (quotes.get(fee) as (y: bigint) => bigint)(x)
        const [e1, e2] = [quote(first), quote(second)]
        const route = (fee: number) => (fee === 500 ? R500 : R3000)
        const given: ChainPlan = {
          subAccounts: [ID],
          actions: [
            { kind: "RepayWithCallback", subAccount: 0, amount: swapPlanTake(m, less(e1)) + swapPlanTake(m, less(e2)) },
            { kind: "WithdrawCollateral", subAccount: 0, amount: 2n * x },
            { kind: "SellCollateral", subAccount: 0, route: route(first), amount: x },
            { kind: "SellCollateral", subAccount: 0, route: route(second), amount: x },
            { kind: "EndCallback", subAccount: 0, amount: 0n },
          ],
        }
        const { plan, funding } = await settleSwapPlan({} as never, given, {
          quoter: ZERO,
          tokens: [{ collateral: COLL, loan: LOAN, maxSlippageBps: SLIP }],
          expectedOut: [undefined, undefined, e1, e2, undefined],
          minAmountOut: [undefined, undefined, m, m, undefined],
        })
        const share = funding.swapPaid as bigint[]
        expect(share[2]).toBeGreaterThanOrEqual(m)
        expect(share[3]).toBeGreaterThanOrEqual(m)
        expect((share[2] as bigint) + (share[3] as bigint)).toBe(plan.actions[0]?.amount)
        const bounds = {
          balances: {},
          maxWithdraw: {},
          poolAsset: {},
          subAccounts: { [ID]: { debt, collateral: 2n * x - (x * cutTenths) / 10n, loanToken: LOAN, collateralToken: COLL, price, maxSlippageBps: SLIP, due: true } },
        }
        const { plan: out } = clampPlanToChainBounds(plan, bounds, funding)
        const actions = (out as ChainPlan).actions
        expect(actions[2]?.amount).toBe(x - (x * cutTenths) / 10n)
        // The router pays its quotes; SaleExceedsRepayment is checked before the position's collateral.
        const outputs: Record<number, bigint> = {}
        actions.forEach((a, k) => {
          if (a.kind === "SellCollateral") outputs[k] = (quotes.get(a.route === R500 ? 500 : 3000) as (y: bigint) => bigint)(a.amount)
        })
        const minimums = actions.reduce((s, a) => (a.kind === "SellCollateral" ? s + minAmountOut(BigInt(SLIP), price, true, a.amount) : s), 0n)
        expect(actions[0]?.amount).toBeGreaterThanOrEqual(minimums)
        const r = checkRebalanceRules({
          plan: out as ChainPlan,
          subAccounts: [{ id: ID, policy, state: { loanToken: LOAN, collateralToken: COLL, collateral, debt, price, lltv: LLTV }, usage: { epoch: 0, lastRebalance: 0, rebalances: 0, lossPpb: 0, gasUsed: 0, amountMoved: 0n } }],
          pools: [],
          balances: {},
          swapAdapter: SWAP_ADAPTER,
          timestamp: 1_700_000_000n,
          gasUsed: 500_000n,
          outcome: { swapOutputs: outputs },
        })
        const verdict = r.ok || ["HealthOutOfBand", "HealthOutsideLandingZone"].includes(r.error.name) ? "ok" : `${r.error.name} ${r.error.args.join(" ")}`
        expect(verdict).toBe("ok")
      })
})

// N1 (review 4): with no idle, pool or donor funds, the solver's float repayment less the keeper's integer takes is
// float noise; counted as an idle top-up it was cut by a `balance` binding with the Safe holding none of the loan token.
test("a flash sale without own funds, solver float repayment: float noise is not an idle top-up (no cut, no binding)", async () => {
  const rows: string[] = []
  for (const [ld, cd, usd] of [[18, 18, 1n], [6, 18, 3_000n], [8, 8, 1n], [18, 8, 60_000n]] as [number, number, bigint][]) {
    const price = usd === 1n ? (12n * 10n ** 35n * 10n ** BigInt(ld)) / 10n ** BigInt(cd) : (usd * 10n ** BigInt(ld) * 10n ** 36n) / 10n ** BigInt(cd)
    const collateral = 100n * 10n ** BigInt(cd)
    const debt = (collateralValue(collateral, price) * LLTV) / h(1.05)
    for (const xs of [10, 7.3, 3.14159, 12.5, 0.77, 41.05]) {
      const x = BigInt(Math.round(xs * 1e6)) * 10n ** BigInt(cd - 6)
      const P = (Number(price) / 1e36) * 10 ** (cd - ld)
      const expectedH = (Number(x) / 10 ** cd) * P * (1 - 12 / 10_000)
      // The solver (floats): the take between the minimum and the expected output less the margin.
      const takeH = swapPlanTake((Number(x) / 10 ** cd) * P * (1 - SLIP / 10_000), expectedH * (1 - swapRepayMargin(SLIP)))
      const R = BigInt(Math.floor(takeH * 10 ** ld))
      quotes.set(500, (a) => (collateralValue(a, price) * 9_988n) / 10_000n)
      const given: ChainPlan = {
        subAccounts: [ID],
        actions: [
          { kind: "RepayWithCallback", subAccount: 0, amount: R },
          { kind: "WithdrawCollateral", subAccount: 0, amount: x },
          { kind: "SellCollateral", subAccount: 0, route: R500, amount: x },
          { kind: "EndCallback", subAccount: 0, amount: 0n },
        ],
      }
      const { plan, funding } = await settleSwapPlan({} as never, given, {
        quoter: ZERO,
        tokens: [{ collateral: COLL, loan: LOAN, maxSlippageBps: SLIP }],
        expectedOut: [undefined, undefined, BigInt(Math.floor(expectedH * 10 ** ld)), undefined],
        minAmountOut: [undefined, undefined, minAmountOut(BigInt(SLIP), price, true, x), undefined],
      })
      const bounds = { balances: {}, maxWithdraw: {}, poolAsset: {}, subAccounts: { [ID]: { debt, collateral, loanToken: LOAN, collateralToken: COLL, price, maxSlippageBps: SLIP, due: true } } }
      const { plan: out, binding } = clampPlanToChainBounds(plan, bounds, funding)
      rows.push(`${ld}/${cd} x=${xs}: repay ${plan.actions[0]?.amount} swapPaid ${funding.swapPaid?.[2]} clamped ${out?.actions[0]?.amount} binding=${binding.map((b) => b.bound)}`)
      expect(out?.actions[0]?.amount, rows[rows.length - 1]).toBe(plan.actions[0]?.amount)
      expect(binding).toEqual([])
      // A real top-up (a part in 10^9, 1,000 wei at least) the Safe does not hold is still held to the balance.
      const topUp = R / 10n ** 9n > 1_000n ? R / 10n ** 9n : 1_000n
      const more = { ...given, actions: given.actions.map((a, k) => (k === 0 ? { ...a, amount: R + topUp } : a)) as ChainPlan["actions"] }
      const settled = await settleSwapPlan({} as never, more, {
        quoter: ZERO,
        tokens: [{ collateral: COLL, loan: LOAN, maxSlippageBps: SLIP }],
        expectedOut: [undefined, undefined, BigInt(Math.floor(expectedH * 10 ** ld)), undefined],
        minAmountOut: [undefined, undefined, minAmountOut(BigInt(SLIP), price, true, x), undefined],
      })
      expect(clampPlanToChainBounds(settled.plan, bounds, settled.funding).binding.map((b) => b.bound)).toEqual(["balance"])
    }
  }
})
