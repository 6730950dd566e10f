import { describe, expect, it } from "vitest"
import { saleZoneSide } from "./engine.js"
import type { PolicyViolation } from "../solver/policyRules.js"
import type { Plan, PlanAction } from "../solver/types.js"

// The engine reads which side of its landing zone a sale-minimum sale missed from the rule book's named error
// HealthOutsideLandingZone(id, health, low, high) (WAD), not from its message (stop 62; before, a regex on the text).
const ID = "0x00000000000000000000000000000000000000000000000000000000000000e1"
const WAD = 10n ** 18n
const action = (kind: PlanAction["kind"], asset: string, amount: number): PlanAction => ({ kind, subAccount: 0, pool: undefined, asset, amount, amountBase: 0n })
const sale: Plan = { loanAsset: "USDC", subAccounts: [ID], gas: 0, actions: [action("RepayWithCallback", "USDC", 1000), action("WithdrawCollateral", "ETH", 0.4), action("SellCollateral", "ETH", 0.4), action("EndCallback", "USDC", 0)] }
const poolOnly: Plan = { loanAsset: "USDC", subAccounts: [ID], gas: 0, actions: [action("WithdrawFromPool", "USDC", 1000), action("Repay", "USDC", 1000)] }
const outside = (health: bigint, low = (14n * WAD) / 10n, high = (155n * WAD) / 100n): PolicyViolation => ({
  rule: 5,
  subAccountId: ID,
  // The text says nothing the reader may parse: only the named error counts.
  message: "lands outside",
  error: { name: "HealthOutsideLandingZone", args: [ID, health, low, high] },
})

describe("saleZoneSide: the side of its landing zone a sale missed, from the named error", () => {
  it("under the floor, over the top, and inside (WAD exact: one wei under the floor is under)", () => {
    expect(saleZoneSide(sale, [outside((1366n * WAD) / 1000n)])).toBe("under")
    expect(saleZoneSide(sale, [outside((14n * WAD) / 10n - 1n)])).toBe("under")
    expect(saleZoneSide(sale, [outside((1567n * WAD) / 1000n)])).toBe("over")
    expect(saleZoneSide(sale, [outside((15n * WAD) / 10n)])).toBeUndefined()
  })

  it("no side without a sale in the plan, without the error, or from a message alone", () => {
    expect(saleZoneSide(poolOnly, [outside((1366n * WAD) / 1000n)])).toBeUndefined()
    expect(saleZoneSide(sale, [])).toBeUndefined()
    expect(saleZoneSide(sale, [{ rule: 5, message: "e1 is triggered but lands at health 1.3, outside its landing zone [1.4, 1.55] (HealthOutsideLandingZone)" }])).toBeUndefined()
    expect(saleZoneSide(sale, [{ ...outside(WAD), error: { name: "HealthOutOfBand", args: [ID, WAD, WAD, WAD] } }])).toBeUndefined()
  })
})
