import { describe, expect, it } from "vitest"
import { borrowForHealth, liquidityForDepth, quoteBuy, quoteSell, sellForHealth } from "./liquidity.js"

const price = 3000
const pool = { liquidity: liquidityForDepth(10_000_000, price), feeBps: 5 }

describe("concentrated-liquidity swap model", () => {
  it("a sale that takes the -2 % depth moves the price 2 % (fee-free)", () => {
    const free = { ...pool, feeBps: 0 }
    let lo = 0
    let hi = 10_000
    for (let i = 0; i < 100; i++) {
      const mid = (lo + hi) / 2
      if (quoteSell(mid, price, free).out < 10_000_000) lo = mid
      else hi = mid
    }
    const sold = lo
    const after = (free.liquidity * Math.sqrt(price)) / (free.liquidity + sold * Math.sqrt(price))
    expect(after * after).toBeCloseTo(price * 0.98, 6)
  })

  it("charges the fee on the input and an impact that grows faster than the size", () => {
    const small = quoteSell(1, price, pool)
    expect(small.fee).toBeCloseTo(3000 * 0.0005, 9)
    expect(small.out).toBeCloseTo(3000 * 0.9995, 1)
    const a = quoteSell(100, price, pool)
    const b = quoteSell(1000, price, pool)
    expect(b.impact / a.impact).toBeGreaterThan(9.9)
    expect(b.impact / (1000 * price)).toBeGreaterThan(0.001)
    expect(b.impact / (1000 * price)).toBeLessThan(0.005)
    const buy = quoteBuy(300_000, price, pool)
    expect(buy.out).toBeLessThan((300_000 * 0.9995) / price)
    expect(buy.impact).toBeGreaterThan(0)
  })

  it("sizes a swap deleverage and a swap boost to the goal health at the oracle price", () => {
    const position = { collateral: 100, debt: 240_000, lltv: 0.86 }
    const a = sellForHealth(position, 1.4, 2950, price, pool)!
    const out = quoteSell(a, price, pool).out
    expect(((position.collateral - a) * 2950 * 0.86) / (position.debt - out)).toBeCloseTo(1.4, 6)
    const high = { collateral: 100, debt: 100_000, lltv: 0.86 }
    const b = borrowForHealth(high, 1.4, price, price, pool)!
    const got = quoteBuy(b, price, pool).out
    expect(((high.collateral + got) * price * 0.86) / (high.debt + b)).toBeCloseTo(1.4, 6)
    expect(sellForHealth(position, 1.0, 2950, price, pool)).toBe(0)
    expect(sellForHealth(position, 50, 2950, price, { liquidity: pool.liquidity / 1e6, feeBps: 5 })).toBeUndefined()
  })
})
