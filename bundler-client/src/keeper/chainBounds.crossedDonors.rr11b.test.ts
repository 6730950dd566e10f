import { expect, test } from "vitest"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { type ChainBounds, clampPlanToChainBounds } from "./chainBounds.js"
import { subId as id, showPlan } from "./testing.js"

// FAILS TODAY (review rr11b B1): two donor pairs in one plan, 6-decimal loan token, no swap, no idle balance. Donor 0x02
// borrows 10,000 for the DUE sub-account 0x01, donor 0x04 borrows 10,000 for the NOT-DUE recipient 0x03; the market
// of 0x04 lends only 3,000 (`borrowable`). Plan order: Borrow[02], Borrow[04], Repay[03], Repay[01]. The flow walk
// attributes the not-due repay to "other sub-accounts' sources, earliest first" (the R1 fix), i.e. to 0x02's borrow,
// which was taken for the due rescue; the due repay is left 0x04's cut borrow. Observed: Repay[01] = 3,000 (due rescue
// cut), Repay[03] = 10,000. Expected: the due rescue kept at 10,000, the not-due recipient held to its donor's 3,000.
// Control: the same plan with the two borrows swapped keeps the due rescue whole (only the borrows' order differs).

const LOAN = "0x00000000000000000000000000000000000000b1"
const due = id("01")
const recipient = id("03")
const PRICE = 10n ** 36n // 1 collateral unit (6 decimals) = 1 loan unit
const sub = (debt: bigint, collateral: bigint, token: string, isDue: boolean, extra: object = {}) => ({
  debt, collateral, loanToken: LOAN, collateralToken: token, price: PRICE, maxSlippageBps: 50, due: isDue, ...extra,
})
const bounds: ChainBounds = {
  balances: { [LOAN]: 0n },
  maxWithdraw: {},
  poolAsset: {},
  subAccounts: {
    [due]: sub(84_000_000000n, 100_000_000000n, "0xcccccccccccccccccccccccccccccccccccccc01", true),
    [id("02")]: sub(10_000_000000n, 100_000_000000n, "0xcccccccccccccccccccccccccccccccccccccc02", false),
    [recipient]: sub(70_000_000000n, 100_000_000000n, "0xcccccccccccccccccccccccccccccccccccccc03", false),
    [id("04")]: sub(10_000_000000n, 100_000_000000n, "0xcccccccccccccccccccccccccccccccccccccc04", false, { borrowable: 3_000_000000n }),
  },
}
const planOf = (donorForDueFirst: boolean): ChainPlan => ({
  subAccounts: [due, id("02"), recipient, id("04")],
  actions: [
    ...(donorForDueFirst
      ? [{ kind: "Borrow", subAccount: 1, amount: 10_000_000000n } as const, { kind: "Borrow", subAccount: 3, amount: 10_000_000000n } as const]
      : [{ kind: "Borrow", subAccount: 3, amount: 10_000_000000n } as const, { kind: "Borrow", subAccount: 1, amount: 10_000_000000n } as const]),
    { kind: "Repay", subAccount: 2, amount: 10_000_000000n },
    { kind: "Repay", subAccount: 0, amount: 10_000_000000n },
  ],
})

for (const donorForDueFirst of [false, true])
  test(`${donorForDueFirst ? "rr11b B1: " : "control: "}a not-due recipient never takes the borrow a donor took for a due rescue (due's donor borrows ${donorForDueFirst ? "first" : "second"})`, () => {
    const { plan: out, binding } = clampPlanToChainBounds(planOf(donorForDueFirst), bounds)
    const show = `${showPlan(out)} ${binding.map((b) => `${b.bound}@${b.index}`)}`
    const rescue = out?.actions.find((a) => a.kind === "Repay" && out.subAccounts[a.subAccount] === due)
    expect(rescue?.amount, show).toBe(10_000_000000n)
    const other = out?.actions.find((a) => a.kind === "Repay" && out.subAccounts[a.subAccount] === recipient)
    expect(other === undefined || other.amount <= 3_000_000000n, show).toBe(true)
  })
