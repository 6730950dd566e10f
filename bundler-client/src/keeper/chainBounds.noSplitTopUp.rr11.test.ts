import { expect, test } from "vitest"
import { minAmountOut } from "@levpilot/sdk/rules"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { type ChainBounds, type PlanFunding, clampPlanToChainBounds } from "./chainBounds.js"
import { ROUTE, SLIP, subId as id } from "./testing.js"

// FAILS TODAY (review rr11 R2, low: the keeper always passes the split for swap plans, `settleSwapPlan`): held-out seed
// 77 / aaveSeed 88 of chainBounds.property.test.ts (also 707/808, 43981/56506, 1000003/3000001, 271828/314159: the LCG
// collapses onto the same case), reproduced verbatim. Two due sub-accounts, 6-decimal loan token: 0x01 repays 1,465.20
// from idle first, then 0x02's flash sale repays 314,805.09 = its settled sale output (273,808.56, above the sale's
// minimum) + 40,996.53 of idle. The Safe holds exactly the idle the plan uses (42,461.73). Clamped WITHOUT the funding
// split (`clampPlanToChainBounds(plan, bounds)`, which the property claims is safe when the Safe holds some of every
// topped-up token), the clamp charges the sale's output above its minimum to the idle balance and takes it off the
// EARLIER due repay: 1,465.20 -> 646.23, 0x01 lands at 1.1473 < 1.15 (HealthOutsideLandingZone), the whole plan refused.
// Expected: the earlier due repay, funded by the balance the Safe holds, is kept whole (the in-order walk), or the
// documented contract says the split is required.

const LOAN = "0x00000000000000000000000000000000000000b1"
const due = id("01")
const sale = id("02")
const SALE_PRICE = 1291142857142857142857852366n
const SOLD = 212_494_999_039_942_465_148n
const PAID = 273_808_561_968n
const TOP_UP = 40_996_531_062n
const plan: ChainPlan = {
  subAccounts: [sale, due],
  actions: [
    { kind: "Repay", subAccount: 1, amount: 1_465_201_461n },
    { kind: "RepayWithCallback", subAccount: 0, amount: PAID + TOP_UP },
    { kind: "WithdrawCollateral", subAccount: 0, amount: SOLD },
    { kind: "SellCollateral", subAccount: 0, route: ROUTE, amount: SOLD },
    { kind: "EndCallback", subAccount: 0, amount: 0n },
  ],
}
const bounds: ChainBounds = {
  balances: { [LOAN]: 42_461_732_523n },
  maxWithdraw: {},
  poolAsset: {},
  subAccounts: {
    [due]: { debt: 7_619_047_600n, collateral: 159_011_403n, loanToken: LOAN, collateralToken: "0xcccccccccccccccccccccccccccccccccccccc08", price: 62888571428571428571428571428571934673n, maxSlippageBps: SLIP, due: true },
    [sale]: { debt: 761_904_761_904n, collateral: 774_507_634_432_396_547_908n, loanToken: LOAN, collateralToken: "0xcccccccccccccccccccccccccccccccccccccc18", price: SALE_PRICE, maxSlippageBps: SLIP, due: true },
  },
}

const dueRepay = (funding?: PlanFunding) => {
  const { plan: out } = clampPlanToChainBounds(plan, bounds, funding)
  return out?.actions.find((a) => a.kind === "Repay" && out.subAccounts[a.subAccount] === due)?.amount
}

test("control: the sale pays above its minimum (the case's premise), and with the split the due repay is kept", () => {
  expect(PAID > minAmountOut(BigInt(SLIP), SALE_PRICE, true, SOLD)).toBe(true)
  expect(dueRepay({ swapPaid: [undefined, undefined, undefined, PAID, undefined] })).toBe(1_465_201_461n)
})

test("without the split, the earlier idle-funded due repay is not cut for a later sale's output above its minimum", () => {
  expect(dueRepay()).toBe(1_465_201_461n)
})
