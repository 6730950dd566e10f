import { expect, test } from "vitest"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { type ChainBounds, clampPlanToChainBounds } from "./chainBounds.js"
import { subId as id } from "./testing.js"

// Issue 11 item 1 (review brk11u F1, held-out seed of chainBounds.property.test.ts: seed 0x7ee5 / aaveSeed 0x1234).
// A pool-funded repay of an Aave sub-account cut to its maxRepayable, next to a donor borrow funding another Aave
// sub-account's repay (also cut to maxRepayable): the clamp takes the whole excess off the pool withdrawal (it trims
// "pool withdrawals first") and keeps it on the donor borrow, which comes AFTER the pool-funded repay. The loan-token
// total balances, but in order the Safe holds 0 when the pool-funded repay runs: the plan reverts on chain
// (rule book: ActionFailed(1), "needs 28799999999 ... but the Safe holds 0"), every block, and the due sub-account
// (0x01) in the same plan is never rescued.

const LOAN = "0x00000000000000000000000000000000000000b1"
const POOL = "0x9999999999999999999999999999999999999993"

const plan: ChainPlan = {
  subAccounts: [id("01"), id("04"), id("03"), id("02")],
  actions: [
    { kind: "Repay", subAccount: 0, amount: 14_652_014_599n },
    { kind: "WithdrawFromPool", subAccount: 1, pool: POOL, amount: 266_666_666_666n },
    { kind: "Repay", subAccount: 1, amount: 266_666_666_666n },
    { kind: "Borrow", subAccount: 3, amount: 266_666_657_348n },
    { kind: "Repay", subAccount: 2, amount: 266_666_657_348n },
  ],
}
const sub = (debt: bigint, collateral: bigint, collateralToken: string, price: bigint, due: boolean, extra: object = {}) => ({
  debt, collateral, loanToken: LOAN, collateralToken, price, maxSlippageBps: 50, due, ...extra,
})
const bounds: ChainBounds = {
  balances: { [LOAN]: 14_652_014_561n },
  maxWithdraw: { [POOL]: 266_666_663_595n },
  poolAsset: { [POOL]: LOAN },
  subAccounts: {
    [id("01")]: sub(76_190_475_916n, 33_206_831n, "0xcccccccccccccccccccccccccccccccccccccc08", 3011428571428571428571428571428572152297n, true),
    [id("02")]: sub(11_034_482_757_795n, 9_870_276_367n, "0xcccccccccccccccccccccccccccccccccccccc18", 2026285714285714285714285714285714949288n, false, { borrowable: 266_666_655_066n }),
    [id("03")]: sub(6_666_666_433_714n, 23_286_759n, "0xcccccccccccccccccccccccccccccccccccccc26", 429428571428571428571428571428571429353716n, false, { repayable: 184_266_660_227n }),
    [id("04")]: sub(6_666_666_666_666n, 17_421_169_209_327_791_742n, "0xcccccccccccccccccccccccccccccccccccccc38", 574014285714285714285714736494n, false, { repayable: 28_799_999_999n }),
  },
}

/** The Safe's loan-token balance walked in plan order: the first action that spends more than the Safe holds then. */
function firstShortfall(p: ChainPlan): string | undefined {
  let balance = bounds.balances[LOAN] as bigint
  for (const [i, a] of p.actions.entries()) {
    if (a.kind === "WithdrawFromPool" || a.kind === "Borrow") balance += a.amount
    else if (a.kind === "Repay") {
      if (a.amount > balance) return `action ${i} ${a.kind}[${a.subAccount}]=${a.amount} but the Safe holds ${balance} then`
      balance -= a.amount
    }
  }
  return undefined
}

// Before the fix clampPlanToChainBounds trimmed the excess off an EARLIER pool withdrawal and kept a LATER borrow, so a
// repay between them was unfunded (the plan reverted on chain every block). Now the exact walk (walkExact) gives a
// spend's cut back to the sources attributed to it.
test("the clamped plan funds every spend in order (a trimmed source is one that comes after the spend)", () => {
  const { plan: out } = clampPlanToChainBounds(plan, bounds, { swapPaid: plan.actions.map(() => undefined) })
  expect(out).toBeDefined()
  const show = (out as ChainPlan).actions.map((a) => `${a.kind}[${a.subAccount}]=${a.amount}`).join(" ")
  expect(firstShortfall(out as ChainPlan), show).toBeUndefined()
})
