import { describe, expect, it } from "vitest"
import { fixedTakeSaleHeld, saleZoneSide } from "./engine.js"
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

// Stop 63: a fixed-take sale whose callback also repays a pool's loan token meets PoolNotUsed, not SaleExceedsRepayment,
// when its price rose before the fill (its minimum rose into the part the pool pays): the engine reads it as the same
// side of the window (`saleHeld`: the next plan at the read price). Review rv62's -12 % variant of rr13w W3 (Aave).
describe("fixedTakeSaleHeld: a fixed-take sale's 'price held' side, from the named errors", () => {
  const POOL = "0x00000000000000000000000000000000000000a1"
  const prefunded: Plan = { ...sale, actions: [{ ...action("WithdrawFromPool", "USDC", 300), pool: POOL }, ...sale.actions] }
  const unused = (id = ID): PolicyViolation => ({ rule: 6, subAccountId: id, message: "pool withdraws (PoolNotUsed)", error: { name: "PoolNotUsed", args: [id, POOL] } })
  const exceeds: PolicyViolation = { rule: 6, subAccountId: ID, message: "sells (SaleExceedsRepayment)", error: { name: "SaleExceedsRepayment", args: [ID, 10n, 9n] } }

  it("SaleExceedsRepayment, and PoolNotUsed naming the sub-account of a fixed-take sale: held", () => {
    expect(fixedTakeSaleHeld(sale, [exceeds])).toBe(true)
    expect(fixedTakeSaleHeld(prefunded, [unused()])).toBe(true)
    expect(fixedTakeSaleHeld(prefunded, [unused(ID.toUpperCase().replace("0X", "0x"))])).toBe(true)
  })

  it("not held: PoolNotUsed on a plan without a sale, naming another sub-account, on a sale repaid at its minimum (`brought`), or a message alone", () => {
    expect(fixedTakeSaleHeld(poolOnly, [unused()])).toBe(false)
    expect(fixedTakeSaleHeld(prefunded, [unused("0x00000000000000000000000000000000000000000000000000000000000000e2")])).toBe(false)
    const mode: Plan = { ...prefunded, actions: prefunded.actions.map((a) => (a.kind === "RepayWithCallback" ? { ...a, brought: 300 } : a)) }
    expect(fixedTakeSaleHeld(mode, [unused()])).toBe(false)
    expect(fixedTakeSaleHeld(prefunded, [{ rule: 6, message: "pool 0xa1 withdraws for e1 what no venue action of the plan uses (PoolNotUsed)" }])).toBe(false)
    expect(fixedTakeSaleHeld(prefunded, [])).toBe(false)
  })
})
