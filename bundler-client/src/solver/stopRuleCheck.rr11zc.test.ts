import { expect, test } from "vitest"
import { stopStateOf } from "@levpilot/sdk/rules"
import { stopBoundaryCases } from "../keeper/testing.js"
import { stopPriceToBase, toBaseUnits, toRuleInput } from "./policyRules.js"
import { stopHolds } from "./solver.js"
import { stopEngaged } from "./state.js"
import type { SubAccountInput } from "./types.js"

// Review rr11zc C5 (rr11zb B4 fix, "one rule book"). The fix made `stopHolds` / `stopEngaged` take the keeper's exact
// verdict (`Policy.stopJudged`, portfolio.ts applyStops). But the solver's own rule check, which every plan must pass
// (`checkPlanAgainstPolicy`, solver.ts:194 / :349), judged the stop from the floats: policyRules.ts built the rule
// book's `stop` from `stopPriceToBase(policy.stopPrice)` and the state's price from `toBaseUnits(state.price)` and never
// read `stopJudged`. At the bounds the solver's planning (exact) and its own rule check (float round trip) disagreed
// (2,666 of 6,000): where the chain and the planner say "armed" and the check says "held", a boost the module accepts is
// refused by the solver's own check; where both say engaged and the check says held, a stop exit (health up to
// exitHealth, above maxHealth) is judged as a plain boost. Measured through the keeper's own snapshot, as rr11zb's B4
// test, and through the check's real conversion (`toRuleInput`, the rule book's `stopStateOf` on what it hands over).
// Fixed: `stopJudged.exact` carries the chain's integers (price, stop), which `toRuleInput` hands to the rule book at
// the judged price (`stopRuleInput`).

/** The rule book's stop state on what `checkPlanAgainstPolicy` hands it (`toRuleInput`) for one sub-account input. */
function ruleCheckState(input: SubAccountInput): bigint {
  const id = input.state.id
  const pre = { subAccounts: [input.state], pools: [], idle: {} }
  const rules = toRuleInput({ plan: { loanAsset: input.state.loanAsset, subAccounts: [id], actions: [], gas: 0 }, pre, policies: { [id]: input.policy }, epochs: { [id]: input.epoch }, now: 0 }, [input.state])
  const sub = rules.subAccounts[0]
  if (sub === undefined) throw new Error("the rule input has no sub-account")
  return stopStateOf(sub.stop, sub.state.price, sub.policy.maxOracleDeviationBps)
}

function disagreements(n: number) {
  const out = { cases: 0, planner: 0, check: [] as string[] }
  for (const { ld, cd, stop, price, chain, input } of stopBoundaryCases(n, 4242)) {
    if (input.policy.stopPrice === undefined) throw new Error("no stop")
    // What checkPlanAgainstPolicy hands the rule book (toRuleInput: state.price, stop), judged by the rule book.
    const checked = ruleCheckState(input)
    out.cases++
    const planner = stopEngaged(input) ? "engaged" : stopHolds(input) ? "held" : "armed"
    const name = (s: bigint) => (s === 0n ? "armed" : s === 1n ? "held" : "engaged")
    if (planner !== name(chain)) out.planner++
    if (name(checked) !== name(chain)) out.check.push(`${ld}/${cd} stop ${stop} price ${price}: chain/planner ${name(chain)}, rule check ${name(checked)}`)
  }
  return out
}

test("rr11zc C5 (held): the planner's stop verdict (stopHolds / stopEngaged) equals the chain's at every bound", () => {
  expect(disagreements(400).planner).toBe(0)
})

test("rr11zc C5: the solver's own rule check judges the stop as the chain (and the planner) at the bounds", () => {
  const v = disagreements(1000)
  const byKind = v.check.reduce<Record<string, number>>((acc, c) => {
    const k = c.slice(c.indexOf("chain/planner"))
    acc[k] = (acc[k] ?? 0) + 1
    return acc
  }, {})
  console.log(`rr11zc C5: ${v.cases} cases; the rule check disagrees with the chain in ${v.check.length}: ${JSON.stringify(byKind)}; e.g. ${v.check.slice(0, 2).join(" | ")}`)
  expect(v.cases).toBe(6000)
  expect(v.check).toEqual([])
})

test("rr11zc C5: at a price other than the judged one (the inclusion drift's) the rule check converts the floats", () => {
  let judgedAt = 0
  for (const { ld, cd, input } of stopBoundaryCases(50, 77)) {
    const dec = 36 + ld - cd
    const { stopPrice, exitHealth, maxOracleDeviationBps } = input.policy
    if (stopPrice === undefined || exitHealth === undefined || input.policy.stopJudged === undefined) throw new Error("no judged stop")
    // At the judged price: the chain's integers, as read.
    const at = toRuleInput({ plan: { loanAsset: input.state.loanAsset, subAccounts: [input.state.id], actions: [], gas: 0 }, pre: { subAccounts: [input.state], pools: [], idle: {} }, policies: { [input.state.id]: input.policy }, epochs: {}, now: 0 }, [input.state]).subAccounts[0]
    expect(at?.state.price).toBe(input.policy.stopJudged.exact.price)
    expect(at?.stop).toEqual(input.policy.stopJudged.exact.stop)
    judgedAt++
    // A moved price: the floats, converted (the keeper's verdict was not judged there).
    const moved = { ...input, state: { ...input.state, price: input.state.price * 0.999 } }
    const expected = stopStateOf({ stopPrice: stopPriceToBase(stopPrice, dec), exitHealth: toBaseUnits(exitHealth, 18) }, toBaseUnits(moved.state.price, dec), maxOracleDeviationBps ?? 0)
    expect(ruleCheckState(moved)).toBe(expected)
  }
  expect(judgedAt).toBe(300)
})
