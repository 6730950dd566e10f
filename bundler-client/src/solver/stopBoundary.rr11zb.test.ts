import type { Hex } from "viem"
import { expect, test } from "vitest"
import { stopStateOf } from "@levpilot/sdk/rules"
import { portfolioOf } from "../keeper/portfolio.js"
import { keeperCosts } from "../keeper/safeStep.js"
import { STEP_RISK, USDC, WETH, stepSafeState, stepSub } from "../keeper/testing.js"
import { stopHolds, withStopHeld } from "./solver.js"
import { stopEngaged } from "./state.js"

// Review rr11zb B4 ("one rule book"; k13s): `stopHolds` (solver.ts) re-implemented the module's stop rule (RebalanceLib
// `_trigger`, the SDK's exact `stopStateOf`) in floats, on prices converted as the keeper converts them (portfolio.ts:
// Number(price) / 1e36 x 10^(cd - ld)). Measured before the fix: of 12,000 cases at the re-arm bound and one unit either
// side, 5,056 disagreed, 2,112 held on chain and not by the solver (a boost planned that the module refuses). Fixed: the
// keeper judges the stop exactly (`applyStops`: `Policy.stopJudged` from `stopStateOf` at the price read) and the solver's stop rules
// (`stopHolds`, `stopEngaged`) take that verdict. Searched here through the keeper's own snapshot (`portfolioOf` with the
// stops read), over 6/18, 18/18, 6/8 and 8/18 decimals, at the re-arm bound and the stop price and one unit either side.
const X = `0x${"a1".repeat(32)}` as Hex
const conv = (x: bigint, cd: number, ld: number) => (Number(x) / 1e36) * 10 ** (cd - ld)

function verdicts(n: number) {
  let seed = 12345
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648)
  const out = { cases: 0, held: 0, engaged: 0, floatDisagree: 0, holdMismatch: [] as string[], engagedMismatch: [] as string[] }
  for (let i = 0; i < n; i++) {
    const [ld, cd] = [[6, 18], [18, 18], [6, 8], [8, 18]][i % 4] as [number, number]
    // A stop price around 100-60,100 loan per collateral at the venue's 1e36 scale, a multiple of 100 so the re-arm bound is exact.
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
      if (input === undefined) throw new Error("the snapshot has no sub-account")
      const chain = stopStateOf({ stopPrice: stop, exitHealth }, price, sub.policy.maxOracleDeviationBps)
      const masked = withStopHeld(snapshot.input).subAccounts[0]?.policy.boostAllowed === false
      out.cases++
      if (chain !== 0n) out.held++
      if (chain > 1n) out.engaged++
      // The float rule alone, on the keeper's converted prices (what the solver judged before the fix).
      const float = stopHolds({ state: { price: conv(price, cd, ld) }, policy: { stopPrice: conv(stop, cd, ld), maxOracleDeviationBps: sub.policy.maxOracleDeviationBps } })
      if (float !== (chain !== 0n)) out.floatDisagree++
      if (masked !== (chain !== 0n) || stopHolds(input) !== (chain !== 0n)) out.holdMismatch.push(`${ld}/${cd} stop ${stop} price ${price}: chain ${chain}, masked ${masked}`)
      if (stopEngaged(input) !== chain > 1n) out.engagedMismatch.push(`${ld}/${cd} stop ${stop} price ${price}: chain ${chain}`)
    }
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
