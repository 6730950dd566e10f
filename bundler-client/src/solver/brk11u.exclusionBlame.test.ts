import { expect, test } from "vitest"
import { solve } from "./solver.js"
import { randomSolverInput } from "./testing.js"

// Review brk11u (issue 11 items 1 and 10, held-out: the solver over 300 random portfolios of 9-40 sub-accounts,
// `randomSolverInput(seed 7000..7059, n, 3 pools)`). Seed 7012, 9 sub-accounts, two below their band (…a6 at 1.059 <
// 1.109, …a7 at 1.191 < 1.196). The float sizing of …a6's pool withdrawal at its edge (`withdrawable / (1 + slip)`,
// 2.4118051441214394 wstETH of 2.413252227207912 withdrawable, exit fee 6 bps) is refused by the exact rule book by a
// rounding wei ("withdraws 2411805144121439232 but the Safe can withdraw 2413252227207911936": ActionFailed at action
// 1, the message naming a smaller amount than the bound). That violation names no sub-account, so the solver's retry
// leaves out the LEAST URGENT target (…a7, whose own plan is fine) instead of the owner of the failing action, then
// …a6: no plan at all, although …a7 alone is rescued (the control below). Two defects: float sizing at an exact bound
// (item 1, in the solver's pool sizing with a fee), and a plan-level violation blamed on the wrong target (item 10:
// "none of the sub-accounts is protected").

const healthOf = (s: { collateral: number; price: number; lltv: number; debt: number }) => (s.collateral * s.price * s.lltv) / s.debt
const input = () => randomSolverInput(7012, 9, 3)
const a7 = (id: string) => id.endsWith("a7")
const a6 = (id: string) => id.endsWith("a6")

test("brk11u control (passes today): without …a6, …a7 (below its band) is rescued", () => {
  const i = input()
  const r = solve({ ...i, subAccounts: i.subAccounts.filter((s) => !a6(s.state.id)) })
  expect(r.plan?.subAccounts.some(a7)).toBe(true)
})

// FAILS TODAY: a rounding-wei refusal of …a6's pool withdrawal leaves every sub-account of the Safe without a plan.
test.skip("brk11u: one target's refused pool withdrawal does not cost another below-band target its rescue", () => {
  const i = input()
  expect(i.subAccounts.filter((s) => healthOf(s.state) < s.policy.minHealth).map((s) => s.state.id.slice(-2)).sort()).toEqual(["a6", "a7"])
  const r = solve(i)
  const why = r.outcomes.map((o) => `${o.id.slice(-2)}: ${o.reason}`).join("\n")
  expect(r.plan?.subAccounts.some(a7), why).toBe(true)
})
