import type { Hex } from "viem"
import { describe, expect, test, vi } from "vitest"
import { checkRebalanceRules } from "@levpilot/sdk/rules"
import { assertPlanShape, getSwapMinAmountOut, toPlanStruct } from "@levpilot/sdk/utils"
import { REPAY_PLUS_SALE_MINIMUMS } from "@levpilot/sdk/constants"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { swapPlanTake, swapRepayMargin } from "../solver/swapDeleverage.js"
import { settleSwapPlan, toSaleMinimumRepayment } from "./portfolio.js"
import { clampPlanToChainBounds } from "./chainBounds.js"
import { LLTV, SWAP_ADAPTER, policy as policyOf } from "./testing.js"
import { parseKeeperConfig } from "./config.js"
import { describeChainPlan } from "./safeStep.js"

// Issue 13, the keeper's side of the module's sale-minimum repayment mode (`swap.repayment: "sale-minimum"`): the
// settlement writes the repayment out as own funds + the sales' minimums, the clamp bounds that, and
// `toSaleMinimumRepayment` turns the opener into the mode (amount = own funds). A pool that fell after the quote by more
// than the fixed take's window: the fixed take is refused (the sale pays less than it), the mode lands.

let quote: (amountIn: bigint) => bigint = () => 0n
vi.mock("../swap/uniswapQuote.js", async (importOriginal) => {
  const real = await importOriginal<Record<string, unknown>>()
  return { ...real, quoteExactInput: async (_c: unknown, p: { amountIn: bigint }) => ({ amountOut: quote(p.amountIn) }) }
})

const SUB = `0x${"01".repeat(32)}` as Hex
const COLL = "0x00000000000000000000000000000000000000c1"
const LOAN = "0x00000000000000000000000000000000000000a1"
const ZERO = "0x0000000000000000000000000000000000000000"
const ROUTE = `0x${"0".repeat(61)}1f4` as Hex
const SLIP = 50
const E36 = 10n ** 36n
const priceOf = (usd: number) => BigInt(Math.round(usd * 1e6)) * 10n ** 18n
const value = (amount: bigint, price: bigint) => (amount * price) / E36

function rescue(sold: bigint, repaid: bigint): ChainPlan {
  return {
    subAccounts: [SUB],
    actions: [
      { kind: "RepayWithCallback", subAccount: 0, pool: ZERO, amount: repaid },
      { kind: "WithdrawCollateral", subAccount: 0, pool: ZERO, amount: sold },
      { kind: "SellCollateral", subAccount: 0, pool: ZERO, amount: sold, route: ROUTE },
      { kind: "EndCallback", subAccount: 0, pool: ZERO, amount: 0n },
    ],
  } as unknown as ChainPlan
}

describe("settleSwapPlan + toSaleMinimumRepayment (swap.repayment: sale-minimum)", () => {
  const oracle = priceOf(3000)
  const sold = 10n * 10n ** 18n
  const expectedOut = (value(sold, oracle) * 9_990n) / 10_000n
  const top = (expectedOut * BigInt(Math.round((1 - swapRepayMargin(SLIP)) * 1e6))) / 1_000_000n
  const minimum = getSwapMinAmountOut({ sell: true, amountIn: sold, price: oracle, maxSlippageBps: SLIP }).minAmountOut
  const own = 1_500n * 10n ** 6n // idle loan token the plan brings besides the sale
  const bounds = {
    balances: { [LOAN]: own },
    maxWithdraw: {},
    poolAsset: {},
    subAccounts: { [SUB]: { debt: 120_000n * 10n ** 6n, collateral: 50n * 10n ** 18n, loanToken: LOAN, collateralToken: COLL, price: oracle, maxSlippageBps: SLIP, due: true } },
  }
  // The solver's opener: own funds + the take (fixed), or + the minimum with its own funds recorded (`brought`, under
  // saleMinimumRepayment).
  const settle = (repayment?: "sale-minimum", ownFunds = own) =>
    settleSwapPlan({} as never, rescue(sold, ownFunds + (repayment === undefined ? swapPlanTake(minimum, top) : minimum)), {
      quoter: LOAN,
      tokens: [{ collateral: COLL, loan: LOAN, maxSlippageBps: SLIP }],
      expectedOut: [undefined, undefined, expectedOut, undefined],
      minAmountOut: [undefined, undefined, minimum, undefined],
      repayment,
      brought: repayment === undefined ? undefined : [ownFunds, undefined, undefined, undefined],
    })
  /** The rule book at inclusion: the oracle at `price`, the pool paying `paid` for the sale. */
  const verdict = (p: ChainPlan, paid: bigint, price = oracle) => {
    const r = checkRebalanceRules({
      plan: { subAccounts: p.subAccounts, actions: toPlanStruct(p).actions.map((a, k) => ({ ...a, kind: (p.actions[k] as ChainPlan["actions"][number]).kind })) },
      subAccounts: [
        {
          id: SUB,
          policy: { ...policyOf([]), maxSlippageBps: SLIP, maxLossBps: 100, maxEpochLossBps: 400 },
          state: { loanToken: LOAN, collateralToken: COLL, collateral: 50n * 10n ** 18n, debt: 120_000n * 10n ** 6n, price, lltv: LLTV },
          usage: { epoch: 0, lastRebalance: 0, rebalances: 0, lossPpb: 0, gasUsed: 0, amountMoved: 0n },
        },
      ],
      pools: [],
      balances: { [LOAN]: own },
      swapAdapter: SWAP_ADAPTER,
      timestamp: 1_700_000_000n,
      gasUsed: 500_000n,
      outcome: { swapOutputs: { 2: paid } },
    })
    return r.ok || ["HealthOutOfBand", "HealthOutsideLandingZone"].includes(r.error.name) ? "ok" : r.error.name
  }

  test("settled to own funds + the minimum, clamped unchanged, sent in the mode with amount = own funds", async () => {
    quote = (x) => (value(x, oracle) * 9_990n) / 10_000n
    const result = await settle("sale-minimum")
    expect([...result.saleMinimum]).toEqual([SUB.toLowerCase()])
    expect(result.plan.actions[0]?.amount).toBe(own + minimum)
    const clamped = clampPlanToChainBounds(result.plan, bounds as never, result.funding).plan as ChainPlan
    expect(clamped.actions.map((a) => a.amount)).toEqual(result.plan.actions.map((a) => a.amount))
    const sent = toSaleMinimumRepayment(clamped, result.saleMinimum, [undefined, undefined, minimum, undefined])
    expect(sent.actions[0]).toMatchObject({ kind: "RepayWithCallback", amount: own, repayment: "sale-minimum" })
    expect(() => assertPlanShape(sent)).not.toThrow()
    expect(BigInt(toPlanStruct(sent).actions[0]?.pool as string)).toBe(REPAY_PLUS_SALE_MINIMUMS)
    // The dry run's log line of the operation names the mode and the own funds (not the written-out repayment).
    expect(describeChainPlan(sent)[0]).toBe(`RepayWithCallback ${own} + the block's sale minimums at inclusion -> ${SUB.slice(0, 10)}…`)
    expect(describeChainPlan(clamped)[0]).toBe(`RepayWithCallback ${own + minimum} -> ${SUB.slice(0, 10)}…`)
    // Without the option: the fixed take, nothing turned.
    const fixed = await settle()
    expect(fixed.saleMinimum.size).toBe(0)
    expect(fixed.plan.actions[0]?.amount).toBeGreaterThan(own + minimum)
    expect(toSaleMinimumRepayment(fixed.plan, fixed.saleMinimum, [undefined, undefined, minimum, undefined])).toBe(fixed.plan)
  })

  test("the pool falls past the fixed take's window before inclusion: the fixed take is refused, the mode lands", async () => {
    quote = (x) => (value(x, oracle) * 9_990n) / 10_000n
    const mode = await settle("sale-minimum")
    const sent = toSaleMinimumRepayment(mode.plan, mode.saleMinimum, [undefined, undefined, minimum, undefined])
    const fixed = (await settle()).plan
    const take = (fixed.actions[0]?.amount as bigint) - own
    // The sale now pays just above its minimum, below the fixed take.
    const paid = minimum + (take - minimum) / 3n
    expect(paid).toBeLessThan(take)
    expect(verdict(fixed, paid)).toBe("ActionFailed")
    expect(verdict(sent, paid)).toBe("ok")
  })

  test("a pure sale (no own funds), the oracle up 15 bp before inclusion: the fixed take and the written-out minimum are refused, the mode lands", async () => {
    quote = (x) => (value(x, oracle) * 9_990n) / 10_000n
    const mode = await settle("sale-minimum", 0n)
    expect(mode.plan.actions[0]?.amount).toBe(minimum)
    const sent = toSaleMinimumRepayment(mode.plan, mode.saleMinimum, [undefined, undefined, minimum, undefined])
    const risen = (oracle * 10_015n) / 10_000n
    const paid = (value(sold, risen) * 9_990n) / 10_000n
    expect(sent.actions[0]).toMatchObject({ amount: 0n, repayment: "sale-minimum" })
    expect(verdict((await settle(undefined, 0n)).plan, paid, risen)).toBe("SaleExceedsRepayment")
    expect(verdict(mode.plan, paid, risen)).toBe("SaleExceedsRepayment") // written out: own + the minimum at the quote
    expect(verdict(sent, paid, risen)).toBe("ok")
  })

  test("an opener without a known minimum, or repaying less than its sales' minimum, stays written out", () => {
    const plan = rescue(sold, minimum - 1n)
    const subs = new Set([SUB.toLowerCase()])
    expect(toSaleMinimumRepayment(plan, subs, [undefined, undefined, minimum, undefined])).toBe(plan)
    expect(toSaleMinimumRepayment(rescue(sold, minimum + 5n), subs, [undefined, undefined, undefined, undefined]).actions[0]).not.toHaveProperty("repayment")
    expect(toSaleMinimumRepayment(rescue(sold, minimum + 5n), subs, [undefined, undefined, minimum, undefined]).actions[0]).toMatchObject({ amount: 5n, repayment: "sale-minimum" })
  })

  test("keeper config: swap.repayment takes amount or sale-minimum, else names the field", () => {
    const valid = {
      rpcUrl: "http://127.0.0.1:8545",
      bundlerUrl: "http://127.0.0.1:4337",
      keeperPrivateKey: `0x${"11".repeat(32)}`,
      deployment: { leverageModule: "0x00000000000000000000000000000000000000a1", morphoBlueAdapter: "0x00000000000000000000000000000000000000a2" },
      safes: ["0x00000000000000000000000000000000000000b1"],
    }
    const swap = { quoter: "0x00000000000000000000000000000000000000a3", fee: 500 }
    // The parsed configuration names the repayment it runs with (the default, "sale-minimum" since stop 61, written out).
    expect(parseKeeperConfig({ ...valid, swap }).swap?.repayment).toBe("sale-minimum")
    expect(parseKeeperConfig({ ...valid, swap: { ...swap, repayment: "amount" } }).swap?.repayment).toBe("amount")
    expect(parseKeeperConfig({ ...valid, swap: { ...swap, repayment: "sale-minimum" } }).swap?.repayment).toBe("sale-minimum")
    for (const bad of ["minimum", 1, null])
      expect(() => parseKeeperConfig({ ...valid, swap: { ...swap, repayment: bad } })).toThrow(expect.objectContaining({ field: "swap.repayment" }))
  })
})
