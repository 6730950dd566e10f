import { expect, test } from "vitest"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { type ChainBounds, clampPlanToChainBounds } from "./chainBounds.js"
import { subId as id, showPlan } from "./testing.js"

// FAILS TODAY (review rr11 R1): held-out seed 31337 / aaveSeed 73313 of chainBounds.property.test.ts (case reproduced
// verbatim, 6-decimal loan token). The F2 class of review brk11u with a DONOR's borrow cut instead of a pool: a not-due
// donor (0x02) borrows 26,666.67 for a not-due recipient (0x03) but the market lends only 6,266.67 (`borrowable`); the
// due sub-account (0x01, below its band) is rescued last with the Safe's whole idle balance (14,652.01). The exact walk
// lets the recipient's repay take the idle balance (Repay[0x03] = 14,652.01 > its donor's 6,266.67) and leaves the due
// rescue the donor's 6,266.67: the due sub-account lands at health 1.1441 < 1.15 (HealthOutsideLandingZone) and the
// module refuses the whole plan. Expected: the recipient's repay held to its donor's borrow, the due rescue kept whole.

const LOAN = "0x00000000000000000000000000000000000000b1"
const POOL = "0x9999999999999999999999999999999999999993"
const due = id("01")
const plan: ChainPlan = {
  subAccounts: [due, id("02"), id("04"), id("03")],
  actions: [
    { kind: "Borrow", subAccount: 1, amount: 26_666_666_666n },
    { kind: "Repay", subAccount: 3, amount: 26_666_666_666n },
    { kind: "WithdrawFromPool", subAccount: 2, pool: POOL, amount: 26_666_666_666n },
    { kind: "Repay", subAccount: 2, amount: 26_666_666_666n },
    { kind: "Repay", subAccount: 0, amount: 14_652_014_441n },
  ],
}
const sub = (debt: bigint, collateral: bigint, collateralToken: string, price: bigint, isDue: boolean, extra: object = {}) => ({
  debt, collateral, loanToken: LOAN, collateralToken, price, maxSlippageBps: 50, due: isDue, ...extra,
})
const bounds = (aave: boolean): ChainBounds => ({
  balances: { [LOAN]: 14_652_014_441n },
  maxWithdraw: { [POOL]: 26_666_663_595n },
  poolAsset: { [POOL]: LOAN },
  subAccounts: {
    [due]: sub(76_190_475_100n, 43_583_836n, "0xcccccccccccccccccccccccccccccccccccccc08", 2294428571428571428571428571428572346113n, true),
    [id("02")]: sub(1_103_448_275_861n, 4_262_704_381_451_146_362n, "0xcccccccccccccccccccccccccccccccccccccc18", 469185714285714285714286078102n, false, { borrowable: 6_266_666_666n }),
    [id("03")]: sub(666_666_666_666n, 4_709_364_908_503_767_491n, "0xcccccccccccccccccccccccccccccccccccccc28", 212342857142857142857143380660n, false, aave ? { repayable: 18_053_333_332n } : {}),
    [id("04")]: sub(666_666_666_666n, 3_647_353_063_776_573_572n, "0xcccccccccccccccccccccccccccccccccccccc38", 274171428571428571428572286489n, false),
  },
})

for (const aave of [true, false])
  test(`a not-due recipient whose donor's borrow is cut at the market's liquidity does not take the idle balance of a later due rescue (${aave ? "Aave maxRepayable on the recipient" : "Morpho only"})`, () => {
    const { plan: out } = clampPlanToChainBounds(plan, bounds(aave))
    const show = showPlan(out)
    const rescue = out?.actions.find((a) => a.kind === "Repay" && out.subAccounts[a.subAccount] === due)
    expect(rescue?.amount, show).toBe(14_652_014_441n)
    const recipient = out?.actions.find((a) => a.kind === "Repay" && out.subAccounts[a.subAccount] === id("03"))
    expect(recipient === undefined || recipient.amount <= 6_266_666_666n, show).toBe(true)
  })
