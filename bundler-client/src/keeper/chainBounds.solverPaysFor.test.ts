import type { Hex } from "viem"
import { describe, expect, test } from "vitest"
import { solve } from "../solver/solver.js"
import { TEST_COSTS, makePolicy } from "../solver/testing.js"
import type { SubAccountInput } from "../solver/types.js"
import { type ChainBounds, clampPlanToChainBounds } from "./chainBounds.js"
import { planFundingOf, toChainPlan } from "./portfolio.js"

// Review rr11b B2 on the solver's own output (task pf11): the solver says which repayment each donor's borrow pays
// (`PlanAction.paysFor`, passed to the send clamp by `planFundingOf`) and each repayment's idle part, so the clamp
// guesses nothing. The plan: due T1 (most urgent) repays 2,000 idle USDC plus about 5,000 borrowed on donor D (its
// per-rebalance cap is 7,000), due T2 repays about 5,000 borrowed on D too (its cap is 5,000). At send D's market lends
// less: the borrow that is cut takes its own recipient's repayment down, never the idle part of a due rescue.

const LOAN = "0x00000000000000000000000000000000000000b1"
const id = (b: string) => `0x${b.repeat(32)}` as Hex
const [T1, T2, D] = [id("01"), id("02"), id("03")]

function sub(subId: Hex, health: number, collateral: number, cap: number): SubAccountInput {
  const price = 3000
  return {
    state: { id: subId, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral, debt: (collateral * price * 0.86) / health, lltv: 0.86, price },
    policy: makePolicy({ maxAmountPerRebalance: cap }),
    epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
    risk: { sigma: 0.6 },
  }
}

describe("a solver plan carries paysFor and idle parts; the clamp cuts a donor's own recipient", () => {
  const r = solve({ now: 1_700_000_000, subAccounts: [sub(T1, 1.1, 20, 7_000), sub(T2, 1.12, 15, 5_000), sub(D, 1.6, 1_000, 1e9)], pools: [], idle: { USDC: 2_000 }, costs: TEST_COSTS })
  const plan = r.plan
  const show = plan?.actions.map((a) => `${a.kind}[${plan.subAccounts[a.subAccount]?.slice(0, 4)}]=${a.amountBase}${a.paysFor !== undefined ? `->${a.paysFor}` : ""}${a.idle !== undefined ? ` idle ${a.idle}` : ""}`).join(" ")
  const at = (kind: string, s: Hex, nth = 0) => plan?.actions.map((a, k) => ({ a, k })).filter(({ a }) => a.kind === kind && plan.subAccounts[a.subAccount] === s)[nth]?.k

  test("the solver's plan: each donor borrow names the repayment it pays, each repayment its idle part", () => {
    const [b1, b2, r1, r2] = [at("Borrow", D, 0), at("Borrow", D, 1), at("Repay", T1), at("Repay", T2)]
    expect([b1, b2, r1, r2].every((k) => k !== undefined), show).toBe(true)
    const a = plan?.actions ?? []
    expect(a[b1 as number]?.paysFor, show).toBe(r1)
    expect(a[b2 as number]?.paysFor, show).toBe(r2)
    expect(a[r1 as number]?.idle, show).toBe(2_000_000000n)
    expect(a[r2 as number]?.idle, show).toBe(0n)
    // Every source and spend of the plan says it: no entry left to infer.
    const funding = planFundingOf(plan as NonNullable<typeof plan>)
    a.forEach((x, k) => {
      if (x.kind === "Borrow") expect(funding.paysFor?.[k], show).toBeDefined()
      if (x.kind === "Repay") expect(funding.idle?.[k], show).toBeDefined()
    })
  })

  test.each([6_000_000000n, 3_000_000000n])("D's market lends %i at send: the cut borrow's own recipient is cut, the idle part of T1's rescue is kept", (borrowable) => {
    expect(plan, show).toBeDefined()
    const chainPlan = toChainPlan(plan as NonNullable<typeof plan>)
    const subOf = (s: SubAccountInput, extra: object) => ({ debt: BigInt(Math.round(s.state.debt * 1e6)), collateral: BigInt(Math.round(s.state.collateral * 1e6)) * 10n ** 12n, loanToken: LOAN, collateralToken: "0xcccccccccccccccccccccccccccccccccccccccc", ...extra })
    const bounds: ChainBounds = {
      balances: { [LOAN]: 2_000_000000n },
      maxWithdraw: {},
      poolAsset: {},
      subAccounts: {
        [T1]: subOf(sub(T1, 1.1, 20, 7_000), { due: true }),
        [T2]: subOf(sub(T2, 1.12, 15, 5_000), { due: true }),
        [D]: subOf(sub(D, 1.6, 1_000, 1e9), { due: false, borrowable }),
      },
    }
    const { plan: out, binding } = clampPlanToChainBounds(chainPlan, bounds, planFundingOf(plan as NonNullable<typeof plan>))
    const outShow = `${show} => ${out?.actions.map((a) => `${a.kind}[${out.subAccounts[a.subAccount]?.slice(0, 4)}]=${a.amount}`).join(" ")}`
    const repayOf = (s: Hex) => out?.actions.find((a) => a.kind === "Repay" && out.subAccounts[a.subAccount] === s)?.amount ?? 0n
    const given = chainPlan.actions
    const [b1, b2, r1] = [at("Borrow", D, 0), at("Borrow", D, 1), at("Repay", T1)].map((k) => given[k as number]?.amount as bigint)
    expect(binding.some((b) => b.bound === "borrowable"), outShow).toBe(true)
    // D lends its borrows in plan order: T1's first, then T2's with what is left.
    const first = borrowable < (b1 as bigint) ? borrowable : (b1 as bigint)
    const second = borrowable - first < (b2 as bigint) ? borrowable - first : (b2 as bigint)
    expect(repayOf(T1), outShow).toBe((r1 as bigint) - ((b1 as bigint) - first))
    expect(repayOf(T1) >= 2_000_000000n, outShow).toBe(true)
    expect(repayOf(T2), outShow).toBe(second)
  })
})
