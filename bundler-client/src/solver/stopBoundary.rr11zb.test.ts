import { expect, test } from "vitest"
import { stopBoundaryCases } from "../keeper/testing.js"
import { stopHolds, withStopHeld } from "./solver.js"
import { stopEngaged } from "./state.js"

// Review rr11zb B4 ("one rule book"; k13s): `stopHolds` (solver.ts) re-implemented the module's stop rule (RebalanceLib
// `_trigger`, the SDK's exact `stopStateOf`) in floats, on prices converted as the keeper converts them (portfolio.ts:
// Number(price) / 1e36 x 10^(cd - ld)). Measured before the fix: of 12,000 cases at the re-arm bound and one unit either
// side, 5,056 disagreed, 2,112 held on chain and not by the solver (a boost planned that the module refuses). Fixed: the
// keeper judges the stop exactly (`applyStops`: `Policy.stopJudged` from `stopStateOf` at the price read) and the solver's
// stop rules (`stopHolds`, `stopEngaged`) take that verdict. Searched here through the keeper's own snapshot (`portfolioOf`
// with the stops read), over 6/18, 18/18, 6/8 and 8/18 decimals, at the re-arm bound and the stop price and one unit
// either side (`stopBoundaryCases`).
const conv = (x: bigint, cd: number, ld: number) => (Number(x) / 1e36) * 10 ** (cd - ld)

function verdicts(n: number) {
  const out = { cases: 0, held: 0, engaged: 0, floatDisagree: 0, holdMismatch: [] as string[], engagedMismatch: [] as string[] }
  for (const { ld, cd, stop, price, chain, snapshot, input, maxOracleDeviationBps } of stopBoundaryCases(n, 12345)) {
    const masked = withStopHeld(snapshot.input).subAccounts[0]?.policy.boostAllowed === false
    out.cases++
    if (chain !== 0n) out.held++
    if (chain > 1n) out.engaged++
    // The float rule alone, on the keeper's converted prices (what the solver judged before the fix).
    const float = stopHolds({ state: { price: conv(price, cd, ld) }, policy: { stopPrice: conv(stop, cd, ld), maxOracleDeviationBps } })
    if (float !== (chain !== 0n)) out.floatDisagree++
    if (masked !== (chain !== 0n) || stopHolds(input) !== (chain !== 0n)) out.holdMismatch.push(`${ld}/${cd} stop ${stop} price ${price}: chain ${chain}, masked ${masked}`)
    if (stopEngaged(input) !== chain > 1n) out.engagedMismatch.push(`${ld}/${cd} stop ${stop} price ${price}: chain ${chain}`)
  }
  return out
}

test("rr11zb B4 (was: 2,112 of 12,000 boundary cases held on chain and not by the solver): the keeper's solver input judges the stop exactly as the module, held and engaged, at every bound and one unit either side", () => {
  const v = verdicts(1000)
  console.log(`rr11zb B4: ${v.cases} cases, ${v.held} held on chain (${v.engaged} engaged); the float rule alone disagrees in ${v.floatDisagree}; the keeper's input disagrees in ${v.holdMismatch.length} (held) / ${v.engagedMismatch.length} (engaged)`)
  expect(v.cases).toBe(6000)
  // Both sides of each bound are searched (the test can fail both ways).
  expect(v.held).toBeGreaterThan(3000)
  expect(v.cases - v.held).toBeGreaterThan(500)
  expect(v.holdMismatch).toEqual([])
  expect(v.engagedMismatch).toEqual([])
})
