import { describe, expect, it } from "vitest"
import { DUST_SHAPES, dustMoveCases } from "./rules.testing.js"

// u17, item 1 of the rr17c / r17f residual: accounts worth 1 to 10 USD per reserve with an 18-decimal loan and an 8- or
// 18-decimal collateral were misread by a whole bps both ways (r17f measured 188 to 454 of 2,000: Aave's 1e-8 USD
// per-reserve floors, and an 8-decimal collateral's 1-unit frame rounding, exceed the frame reconstruction's 1e-9
// allowance). Given Aave's base-currency figures (`aaveBase`: getUserAccountData's totals and floored average, both
// reserves' prices, decimals and balances, as the keeper reads them; not the exact weighted sum), the rule book follows
// Aave v3.0.2's GenericLogic integer math and reads Aave's factor after exactly. Model and generator: rules.testing.ts
// (aaveAccount, dustMoveCases: a dust reserve 0 to 30 ppb at a lower threshold, factor 1.05-1.8, a random move of up to
// 5 %), seed 4,242, 2,000 accounts per shape and bucket, as planRules.aaveSmall.r17f.test.ts.

const rel = (x: bigint, y: bigint) => (Number(x) - Number(y)) / Number(y)
const BUCKETS = [[0.1, 1], [1, 10], [10, 100]] as const

describe("u17: aaveFrameHealthRange with Aave's base-currency figures reads Aave's factor after exactly on small accounts", () => {
  for (const m of DUST_SHAPES)
    for (const [lo, hi] of BUCKETS)
      it(`${m.name}, ${lo}-${hi} USD: 0 whole-bps misreads of 2,000, never lenient, low = high = Aave's factor`, () => {
        const all = dustMoveCases(m, 2_000, 4_242, (u) => lo * (hi / lo) ** u, true, true).filter((x) => x.tdBefore !== 0n && x.tdAfter !== 0n)
        expect(all.length).toBeGreaterThan(1_900)
        const misreads = all.filter((x) => rel(x.low, x.exact) < -5e-5 || rel(x.high, x.exact) < -5e-5)
        expect(misreads.map((x) => x.k)).toEqual([])
        // Never lenient: low at most Aave's factor (lower edges), high at least it (upper edges).
        expect(all.filter((x) => x.low > x.exact || x.high < x.exact).map((x) => x.k)).toEqual([])
        // Exact (both ends Aave's factor) in every case the figures settle.
        expect(all.filter((x) => x.low !== x.exact || x.high !== x.exact).length).toBe(0)
      })
})
