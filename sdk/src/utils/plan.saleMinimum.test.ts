import type { Hex } from "viem"
import { describe, expect, test } from "vitest"
import { REPAY_PLUS_SALE_MINIMUMS } from "../constants/module.js"
import { ActionNotAllowedError } from "../errors/plan.js"
import type { Plan } from "../types/leverage.js"
import { assertPlanShape, saleMinimumRepaymentWord, toPlanStruct } from "./plan.js"

// The SDK side of the sale-minimum repayment mode (issue 13): `repayment: "sale-minimum"` on a RepayWithCallback is the
// ABI word REPAY_PLUS_SALE_MINIMUMS in `pool`; its amount may be 0 when its block sells collateral of its sub-account.

const ID = `0x${"01".repeat(32)}` as Hex
const ROUTE = `0x${"00".repeat(31)}f4` as Hex

function deleverage(amount: bigint, repayment?: "amount" | "sale-minimum", sellSub = 0): Plan {
  return {
    subAccounts: sellSub === 0 ? [ID] : [ID, `0x${"02".repeat(32)}` as Hex],
    actions: [
      { kind: "RepayWithCallback", subAccount: 0, amount, ...(repayment === undefined ? {} : { repayment }) },
      { kind: "WithdrawCollateral", subAccount: 0, amount: 10n ** 18n },
      { kind: "SellCollateral", subAccount: sellSub, route: ROUTE, amount: 10n ** 18n },
      { kind: "EndCallback", subAccount: 0, amount: 0n },
    ],
  }
}

describe("the sale-minimum repayment mode in the plan encoding", () => {
  test("the word is REPAY_PLUS_SALE_MINIMUMS as an address, carried in pool; other actions unchanged", () => {
    expect(BigInt(saleMinimumRepaymentWord)).toBe(REPAY_PLUS_SALE_MINIMUMS)
    const struct = toPlanStruct(deleverage(5n, "sale-minimum"))
    expect(struct.actions.map((a) => BigInt(a.pool))).toEqual([REPAY_PLUS_SALE_MINIMUMS, 0n, BigInt(ROUTE), 0n])
    expect(toPlanStruct(deleverage(5n, "amount")).actions[0]?.pool).toBe("0x0000000000000000000000000000000000000000")
    expect(toPlanStruct(deleverage(5n)).actions[0]?.pool).toBe("0x0000000000000000000000000000000000000000")
  })

  test("amount 0 is a well-formed mode repayment when its block sells its sub-account's collateral, else refused", () => {
    expect(() => assertPlanShape(deleverage(0n, "sale-minimum"))).not.toThrow()
    expect(() => assertPlanShape(deleverage(0n))).toThrow(ActionNotAllowedError)
    // the block's sale is another sub-account's: nothing is added, a zero amount is refused
    expect(() => assertPlanShape(deleverage(0n, "sale-minimum", 1))).toThrow(/greater than zero/)
  })

  test("only a RepayWithCallback takes the mode", () => {
    const plan: Plan = {
      subAccounts: [ID],
      actions: [{ kind: "Repay", subAccount: 0, amount: 1n, repayment: "sale-minimum" }],
    }
    expect(() => assertPlanShape(plan)).toThrow(/Only a RepayWithCallback/)
  })
})
