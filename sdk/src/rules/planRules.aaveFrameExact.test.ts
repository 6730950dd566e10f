import { describe, expect, test } from "vitest"
import { aaveFrameHealthAfter, aaveFrameHealthRange } from "./planRules.js"
import { type AaveModelMarket, aaveAccount, rng } from "./rules.testing.js"

// aaveFrameHealthAfter (the rule book's Aave factor after a plan, from the adapter's frame) against Aave's own
// arithmetic (per-reserve value floored to base currency units, floored average threshold), on random accounts: a
// WETH/USDC market (WETH LT 8,300) next to 0-2 other collaterals, some at one shared threshold (the review rr17 R2
// shape, where Aave's average is a whole bps other than the market's), moves of the WETH reserve and the debt.
// The figure (the range's low end) must never be above Aave's beyond rounding (lower edges), the range's high end never
// below it (upper edges), and the figure must equal Aave's whenever the other collaterals share one threshold and the
// plan leaves WETH alone (rr17 R2). Also plans that empty WETH next to others at one threshold.

const WAD = 10n ** 18n
const P_WETH = 3_000n * 10n ** 8n // base currency (8 decimals) per WETH
const T = 8_300n
/** WETH (18 decimals) against USDC (6 decimals, 1 USD: 1 unit = 100 base units). */
const MARKET: AaveModelMarket = { dc: 18n, dl: 6n, pc: P_WETH, pd: 10n ** 8n, lt: T }

type Account = { weth: bigint; others: { value: bigint; lt: bigint }[]; debtBase: bigint }
const totals = (a: Account) => aaveAccount(MARKET, { c: a.weth, others: a.others, d: 0n, debtBase: a.debtBase })
const aaveOf = (a: Account) => totals(a).health
/** AaveV3Adapter.marketState's frame in USDC (debt: totalDebtBase's ceiling): collateral = weighted over T and WETH's price. */
const frameOf = (a: Account) => totals(a).frame

describe("aaveFrameHealthAfter vs Aave's arithmetic on random accounts and moves", () => {
  test("never above Aave's factor beyond rounding; exact when the others share one threshold and WETH stays put", () => {
    const r = rng(17)
    let low = 0
    let exactShape = 0
    for (let k = 0; k < 20_000; k++) {
      const shared = r() < 0.5
      const lt = BigInt(6_500 + Math.floor(r() * 3_200))
      const n = Math.floor(r() * 3)
      const others = Array.from({ length: n }, () => ({ value: BigInt(Math.floor(r() * 1e6)) * 10n ** 8n + BigInt(Math.floor(r() * 1e8)), lt: shared ? lt : BigInt(6_500 + Math.floor(r() * 3_200)) }))
      const weth = r() < 0.3 ? 0n : BigInt(Math.floor(r() * 1e3 * 1e6)) * 10n ** 12n
      const before: Account = { weth, others, debtBase: 0n }
      const { weighted } = totals(before)
      if (weighted === 0n) continue
      before.debtBase = (weighted / 10_000n) * BigInt(50 + Math.floor(r() * 45)) / 100n + 1n
      const stay = r() < 0.4
      const dWeth = stay ? 0n : r() < 0.1 ? -weth : r() < 0.5 ? -((weth * BigInt(Math.floor(r() * 100))) / 100n) : BigInt(Math.floor(r() * 1e2 * 1e6)) * 10n ** 12n
      const dDebtUnits = BigInt(Math.floor((r() - 0.5) * Number(before.debtBase / 200n)))
      const after: Account = { weth: weth + dWeth, others, debtBase: before.debtBase + dDebtUnits * 100n }
      if (after.debtBase <= 0n) continue
      const state = frameOf(before)
      const ruleBook = aaveFrameHealthAfter(state, state.collateral + dWeth, state.debt + dDebtUnits)
      const exact = aaveOf(after)
      if (exact === 0n || totals(after).weighted === 0n) continue
      const rel = (Number(ruleBook) - Number(exact)) / Number(exact)
      expect(rel, `case ${k}`).toBeLessThan(1e-10)
      const range = aaveFrameHealthRange(state, state.collateral + dWeth, state.debt + dDebtUnits)
      expect(range.low, `case ${k}`).toBe(ruleBook)
      expect((Number(range.high) - Number(exact)) / Number(exact), `case ${k} (high end)`).toBeGreaterThan(-1e-10)
      // Below by the floor only where the window is not settled (WETH emptied next to others: the low end, conservative).
      if (rel < -1e-9 && !(dWeth === -weth && weth > 0n)) low++
      if (shared && weth === 0n && dWeth === 0n && n > 0) {
        exactShape++
        expect(Math.abs(rel), `case ${k} (rr17 R2 shape)`).toBeLessThan(1e-9)
      }
    }
    expect(exactShape).toBeGreaterThan(1_000)
    expect(low).toBeLessThan(50)
  })
})
