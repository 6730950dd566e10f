import type { Hex } from "viem"
import { expect, test } from "vitest"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { type ChainBounds, type PlanFunding, clampPlanToChainBounds } from "./chainBounds.js"
import { LOAN, clampDonorCut, repayOf, showPlan, subId } from "./testing.js"

// FAILS TODAY (review rr11b B2): the R1 class (a recipient whose donor's borrow is cut takes another rescue's idle
// balance) when the recipient is DUE: the R1 fix only makes a NOT-due spend draw other sub-accounts' sources before the
// idle balance; a due spend still draws the idle balance first, so when a donor's borrow taken for due target T1 is
// cut, the clamp cuts the LATER idle-funded rescue of due target T2 instead of T1's repay.
// (a) Held-out seed 4242 / 2424 of chainBounds.property.test.ts (case verbatim, 6-decimal loan token, funding split
//     passed, Safe holds exactly the idle the plan uses): donor 0x02's borrow 105.820105 for due 0x03 is cut to 0
//     (`borrowable` 0); observed Repay[0x03] = 105.820105 kept and the due idle-funded Repay[0x01] 146.519536 ->
//     40.699431: 0x01 lands at health 1.1093 < 1.15 (HealthOutsideLandingZone), the module refuses the whole plan.
// (b) Reduced, no swap (walkExact): Borrow[02] 10,000 for due T1 (0x01), Repay[T1] 10,000, Repay[T2] (0x03, due)
//     8,000 from the Safe's 8,000; 0x02's market lends 0. Observed: Repay[T1] = 8,000, T2's rescue dropped.
// Expected: the repay whose donor's borrow was cut is the one cut; the idle-funded rescue kept whole.

const plan: ChainPlan = {
  subAccounts: ["0x0404040404040404040404040404040404040404040404040404040404040404", "0x0303030303030303030303030303030303030303030303030303030303030303", "0x0202020202020202020202020202020202020202020202020202020202020202", "0x0101010101010101010101010101010101010101010101010101010101010101"] as Hex[],
  actions: [
    { kind: "Borrow", subAccount: 2, amount: 105820105n },
    { kind: "RepayWithCallback", subAccount: 0, amount: 336417533n },
    { kind: "WithdrawCollateral", subAccount: 0, amount: 84371979750174568n },
    { kind: "SellCollateral", subAccount: 0, route: "0x00000000000000000000000000000000000000000000000000000000000001f4", amount: 84371979750174568n },
    { kind: "EndCallback", subAccount: 0, amount: 0n },
    { kind: "RepayWithCallback", subAccount: 1, amount: 105291006n },
    { kind: "WithdrawCollateral", subAccount: 1, amount: 16226166830956606n },
    { kind: "SellCollateral", subAccount: 1, route: "0x00000000000000000000000000000000000000000000000000000000000001f4", amount: 16226166830956606n },
    { kind: "EndCallback", subAccount: 1, amount: 0n },
    { kind: "Repay", subAccount: 1, amount: 105820105n },
    { kind: "Repay", subAccount: 3, amount: 146519536n },
  ],
}
const bounds: ChainBounds = {
  balances: { [LOAN]: 173537435n },
  maxWithdraw: {},
  poolAsset: {},
  subAccounts: {
    "0x0101010101010101010101010101010101010101010101010101010101010101": { debt: 761901591n, collateral: 173675n, loanToken: "0x00000000000000000000000000000000000000b1", collateralToken: "0xcccccccccccccccccccccccccccccccccccccc06", price: 5757857142857142857142857142857143726004n, maxSlippageBps: 50, due: true },
    "0x0202020202020202020202020202020202020202020202020202020202020202": { debt: 1103448275n, collateral: 2893159743748708410n, loanToken: "0x00000000000000000000000000000000000000b1", collateralToken: "0xcccccccccccccccccccccccccccccccccccccc18", borrowable: 0n, price: 691285714285714285715262392n, maxSlippageBps: 50, due: false },
    "0x0303030303030303030303030303030303030303030303030303030303030303": { debt: 761904761n, collateral: 153337276291866552n, loanToken: "0x00000000000000000000000000000000000000b1", collateralToken: "0xcccccccccccccccccccccccccccccccccccccc28", price: 6521571428571428571429361657n, maxSlippageBps: 50, due: true },
    "0x0404040404040404040404040404040404040404040404040404040404040404": { debt: 761904761n, collateral: 271549383194972457n, loanToken: "0x00000000000000000000000000000000000000b1", collateralToken: "0xcccccccccccccccccccccccccccccccccccccc38", price: 3682571428571428571428733542n, maxSlippageBps: 50, due: true },
  },
}
const funding: PlanFunding = { swapPaid: [undefined, undefined, undefined, 309399634n, undefined, undefined, undefined, 105291006n, undefined, undefined, undefined] }

test("rr11b B2a, seed 4242/2424): a due recipient whose donor's borrow is cut does not take a later due rescue's idle balance", () => {
  const { plan: out } = clampPlanToChainBounds(plan, bounds, funding)
  expect(repayOf(out, subId("01")), showPlan(out)).toBe(146_519_536n)
  expect(repayOf(out, subId("03")), showPlan(out)).toBeUndefined()
})

test("rr11b B2b, reduced, exact walk): the idle-funded rescue of a second due target survives the first target's donor cut", () => {
  const out = clampDonorCut({ repaid: 10_000_000000n, idle: 8_000_000000n, borrowable: 0n })
  expect(repayOf(out, subId("03")), showPlan(out)).toBe(8_000_000000n)
})
