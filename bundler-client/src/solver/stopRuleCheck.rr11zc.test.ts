import type { Hex } from "viem"
import { expect, test } from "vitest"
import { stopStateOf } from "@levpilot/sdk/rules"
import { portfolioOf } from "../keeper/portfolio.js"
import { keeperCosts } from "../keeper/safeStep.js"
import { STEP_RISK, USDC, WETH, stepSafeState, stepSub } from "../keeper/testing.js"
import { stopPriceToBase } from "./policyRules.js"
import { stopEngaged, toBaseUnits } from "./state.js"
import { stopHolds } from "./solver.js"

// Review rr11zc C5 (rr11zb B4 fix, "one rule book"). The fix made `stopHolds` / `stopEngaged` take the keeper's exact
// verdict (`Policy.stopJudged`, portfolio.ts applyStops). But the solver's own rule check, which every plan must pass
// (`checkPlanAgainstPolicy`, solver.ts:194 / :349), still judges the stop from the floats: policyRules.ts builds the rule
// book's `stop` from `stopPriceToBase(policy.stopPrice)` and the state's price from `toBaseUnits(state.price)` and never
// reads `stopJudged`. At the bounds the solver's planning (exact) and its own rule check (float round trip) disagree:
// where the chain and the planner say "armed" and the check says "held", a boost the module accepts is refused by the
// solver's own check; where both say engaged and the check says held, a stop exit (health up to exitHealth, above
// maxHealth) is judged as a plain boost. Measured through the keeper's own snapshot, as rr11zb's B4 test.
// Gated by RR11ZC_FAILING (FAILS TODAY).
const failing = process.env.RR11ZC_FAILING === "true"
const X = `0x${"a1".repeat(32)}` as Hex

function disagreements(n: number) {
  let seed = 4242
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648)
  const out = { cases: 0, planner: 0, check: [] as string[] }
  for (let i = 0; i < n; i++) {
    const [ld, cd] = [[6, 18], [18, 18], [6, 8], [8, 18]][i % 4] as [number, number]
    const human = 100 + rnd() * 60_000
    const stop = ((BigInt(Math.floor(human * 1e6)) * 10n ** BigInt(30 + ld - cd + 6)) / 10n ** 6n / 100n) * 100n
    const rearm = (stop * 10_100n) / 10_000n
    for (const price of [rearm - 1n, rearm, rearm + 1n, stop - 1n, stop, stop + 1n]) {
      const sub = { ...stepSub(X, USDC, 1.6, "above"), price }
      const state = stepSafeState([sub])
      state.tokens = [
        { token: USDC, decimals: ld, balance: 0n },
        { token: WETH, decimals: cd, balance: 0n },
      ]
      const exitHealth = 2n * 10n ** 18n
      const snapshot = portfolioOf(state as never, { blockNumber: 100n, timestamp: 1_700_000_000n, risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never), stops: { [X.toLowerCase()]: { stopPrice: stop, exitHealth } } })
      const input = snapshot.input.subAccounts[0]
      if (input === undefined || input.policy.stopPrice === undefined) throw new Error("no sub-account / stop")
      const chain = stopStateOf({ stopPrice: stop, exitHealth }, price, sub.policy.maxOracleDeviationBps)
      const dec = 36 + ld - cd
      // What checkPlanAgainstPolicy hands the rule book (policyRules.ts: state.price, stop.stopPrice).
      const checked = stopStateOf({ stopPrice: stopPriceToBase(input.policy.stopPrice, dec), exitHealth }, toBaseUnits(input.state.price, dec), sub.policy.maxOracleDeviationBps)
      out.cases++
      const planner = stopEngaged(input) ? "engaged" : stopHolds(input) ? "held" : "armed"
      const name = (s: bigint) => (s === 0n ? "armed" : s === 1n ? "held" : "engaged")
      if (planner !== name(chain)) out.planner++
      if (name(checked) !== name(chain)) out.check.push(`${ld}/${cd} stop ${stop} price ${price}: chain/planner ${name(chain)}, rule check ${name(checked)}`)
    }
  }
  return out
}

test("rr11zc C5 (held): the planner's stop verdict (stopHolds / stopEngaged) equals the chain's at every bound", () => {
  expect(disagreements(400).planner).toBe(0)
})

test.skipIf(!failing)("rr11zc C5 FAILS TODAY: the solver's own rule check judges the stop as the chain (and the planner) at the bounds", () => {
  const v = disagreements(1000)
  const byKind = v.check.reduce<Record<string, number>>((acc, c) => {
    const k = c.slice(c.indexOf("chain/planner"))
    acc[k] = (acc[k] ?? 0) + 1
    return acc
  }, {})
  console.log(`rr11zc C5: ${v.cases} cases; the rule check disagrees with the chain in ${v.check.length}: ${JSON.stringify(byKind)}; e.g. ${v.check.slice(0, 2).join(" | ")}`)
  expect(v.check).toEqual([])
})
