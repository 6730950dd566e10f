import { describe, expect, test } from "vitest"
import { percentToPpm, priceUserOperation, replacementMinimum, scaleUpPpm } from "./fees.js"

// Review mend (issue 17): the replacement bump `previous x (100 + percent)%` parsed the float percent through its
// decimal string (mantissa, exponent) into a fraction. It is now exact integers: the percent becomes whole parts per
// million once (`percentToPpm`, rounded up), and the fee is raised by them (`scaleUpPpm`, rounded up).

describe("percentToPpm", () => {
  test("whole ppm for every percent with at most 4 decimals, a float's last-digit error read as the decimal it prints", () => {
    expect(percentToPpm(0)).toBe(0n)
    expect(percentToPpm(10)).toBe(100_000n) // the bundler's rule
    expect(percentToPpm(12.5)).toBe(125_000n)
    expect(percentToPpm(10.01)).toBe(100_100n) // 10.01 x 10,000 = 100,099.99999999999 in floats
    expect(percentToPpm(33.3333)).toBe(333_333n)
    expect(percentToPpm(0.0001)).toBe(1n) // the smallest step
    expect(percentToPpm(499.9)).toBe(4_999_000n)
    expect(percentToPpm(500)).toBe(5_000_000n) // the configuration's maximum
    expect(percentToPpm(1e-7)).toBe(1n) // finer than a ppm: rounded up, never below the percent asked
    expect(percentToPpm(33.33335)).toBe(333_334n)
    for (const [p, ppm] of [[10.1, 101_000n], [10.2, 102_000n], [10.3, 103_000n], [17.7, 177_000n], [99.99, 999_900n], [123.4567, 1_234_567n]] as const) expect(percentToPpm(p)).toBe(ppm)
  })

  test("a negative or non-finite percent is refused by name", () => {
    expect(() => percentToPpm(-1)).toThrow(RangeError)
    expect(() => percentToPpm(Number.NaN)).toThrow(RangeError)
    expect(() => percentToPpm(Number.POSITIVE_INFINITY)).toThrow(RangeError)
  })
})

describe("scaleUpPpm", () => {
  test("exact where the product is whole, up by less than a wei otherwise; 0 stays 0; no float at any size", () => {
    expect(scaleUpPpm(0n, 125_000n)).toBe(0n)
    expect(scaleUpPpm(100n, 100_000n)).toBe(110n)
    expect(scaleUpPpm(101n, 100_000n)).toBe(112n) // 111.1
    expect(scaleUpPpm(1n, 1n)).toBe(2n) // 1.000001
    expect(scaleUpPpm(1_000_000n, 1n)).toBe(1_000_001n)
    expect(scaleUpPpm(999_999n, 1n)).toBe(1_000_000n) // 999,999.999999
    expect(scaleUpPpm(7n, 0n)).toBe(7n)
    const big = 2n ** 255n - 19n
    expect(scaleUpPpm(big, 125_000n)).toBe((big * 1_125_000n + 999_999n) / 1_000_000n)
    for (const v of [1n, 3n, 40_000_000_000n, 123_456_789_012_345n]) {
      const up = scaleUpPpm(v, 333_333n)
      expect(up * 1_000_000n).toBeGreaterThanOrEqual(v * 1_333_333n)
      expect((up - 1n) * 1_000_000n).toBeLessThan(v * 1_333_333n)
    }
  })

  test("a replacement at the bundler's rule exactly (10 %) is what Alto takes: previous x 110 / 100, never a wei short", () => {
    for (const fee of [1n, 9n, 10n, 11n, 999n, 40_000_000_001n]) {
      const previous = { maxFeePerGas: fee, maxPriorityFeePerGas: fee }
      const d = priceUserOperation({ market: { maxFeePerGas: 0n, maxPriorityFeePerGas: 0n }, caps: { maxFeePerGas: 10n ** 15n, maxPriorityFeePerGas: 10n ** 15n }, previous, bumpPercent: 10 })
      expect(d.fees.maxFeePerGas).toBe(scaleUpPpm(fee, 100_000n))
      expect(d.fees.maxFeePerGas).toBeGreaterThanOrEqual(replacementMinimum(previous).maxFeePerGas)
      expect(d.replaces).toBe(true)
    }
  })
})
