import { expect, test } from "vitest"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { type ChainBounds, clampPlanToChainBounds } from "./chainBounds.js"
import { subId as id, showPlan } from "./testing.js"

// Issue 11 items 1 and 8 (review brk11u F2, held-out seed 0xbeef / aaveSeed 0xcafe of chainBounds.property.test.ts,
// reduced). 18-decimal loan token. A not-due sub-account (0x02) repays from a pool whose maxWithdraw binds (49.3 of the
// 266.7 planned: the deep-crash case of item 1), and the due sub-account (0x01, below its band) is rescued with the
// Safe's idle balance (146.5, all of it) later in the same plan. The exact walk holds each repay to "the loan-token
// balance at that point", so the not-due pool repay takes its pool withdrawal PLUS the idle balance meant for the due
// rescue, and the due repay is cut from 146.5 to 23.3 (or dropped): the due sub-account stays below its band, the module
// refuses the plan (HealthOutOfBand), and it is planned and refused again every block.

const LOAN = "0x00000000000000000000000000000000000000b1"
const POOL = "0x9999999999999999999999999999999999999991"
const due = id("01")
const plan: ChainPlan = {
  subAccounts: [id("02"), due, id("04"), id("03")],
  actions: [
    { kind: "WithdrawFromPool", subAccount: 0, pool: POOL, amount: 266_666_666_666_667_016_192n },
    { kind: "Repay", subAccount: 0, amount: 266_666_666_666_667_016_192n },
    { kind: "Borrow", subAccount: 3, amount: 26_666_666_666_666_622_976n },
    { kind: "Repay", subAccount: 2, amount: 26_666_666_666_666_622_976n },
    { kind: "Repay", subAccount: 1, amount: 146_519_688_037_676_613_632n },
  ],
}
const sub = (debt: bigint, collateral: bigint, collateralToken: string, price: bigint, isDue: boolean, extra: object = {}) => ({
  debt, collateral, loanToken: LOAN, collateralToken, price, maxSlippageBps: 50, due: isDue, ...extra,
})
const bounds = (aave: boolean): ChainBounds => ({
  balances: { [LOAN]: 146_519_688_037_676_613_632n },
  maxWithdraw: { [POOL]: 49_333_333_333_333_397_995n },
  poolAsset: { [POOL]: LOAN },
  subAccounts: {
    [due]: sub(761_902_377_795_918_367_346n, 265_896n, "0xcccccccccccccccccccccccccccccccccccccc06", 3760857142857142857142857142857142857142857143474667n, true),
    [id("02")]: sub(6_666_666_666_666_666_665_716n, 3_102_149_346_332_816_308n, "0xcccccccccccccccccccccccccccccccccccccc18", 3223571428571428571428571428571429004846n, false, aave ? { repayable: 182_400_000_000_000_239_075n } : {}),
    [id("03")]: sub(1_103_448_275_862_068_965_473n, 2_990_813_928_647_724_845n, "0xcccccccccccccccccccccccccccccccccccccc28", 668714285714285714285714285714286037341n, false, { borrowable: 53_333_333_333_333_245_952n }),
    [id("04")]: sub(666_666_666_666_666_666_374n, 236_934_741_402_653_669n, "0xcccccccccccccccccccccccccccccccccccccc38", 4220571428571428571428571428571428855264n, false, aave ? { repayable: 16_773_333_333_333_305_851n } : {}),
  },
})

for (const aave of [false, true])
  // Before the fix the idle balance a due rescue was planned with was taken by an earlier not-due repay whose pool was cut.
  test(`a not-due repay cut at its pool's maxWithdraw does not take the idle balance of a later due rescue (${aave ? "Aave maxRepayable on the not-due ones" : "Morpho only"})`, () => {
    const { plan: out } = clampPlanToChainBounds(plan, bounds(aave))
    const show = showPlan(out)
    const rescue = out?.actions.find((a) => a.kind === "Repay" && out.subAccounts[a.subAccount] === due)
    // The due rescue keeps its idle funding (the Safe holds all of it: no bound cuts it).
    expect(rescue?.amount, show).toBe(146_519_688_037_676_613_632n)
    // The not-due pool repay is held to what its own source delivered.
    const poolRepay = out?.actions.find((a) => a.kind === "Repay" && out.subAccounts[a.subAccount] === id("02"))
    expect(poolRepay === undefined || poolRepay.amount <= 49_333_333_333_333_397_995n, show).toBe(true)
  })
