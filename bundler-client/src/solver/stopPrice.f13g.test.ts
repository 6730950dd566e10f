import { expect, test } from "vitest"
import { STOP_PRICE_MAX, stopPriceToBase } from "./policyRules.js"

// Review rr13s S1 (f13g): the backtester's stop went through toBaseUnits, unchecked against what the module stores (a
// WBTC/USDC stop at 54,000 is 5.4e38, which the uint128 could not hold). The stop's own conversion keeps the value up to
// the module's uint192 (which now holds it) and refuses beyond it.
test("a WBTC/USDC stop (8 / 6 decimals, scale 10^34) converts exactly, above uint128", () => {
  expect(stopPriceToBase(54_000, 34) > 2n ** 128n - 1n).toBe(true)
  expect(stopPriceToBase(54_000, 34)).toBe(54_000n * 10n ** 34n)
  expect(stopPriceToBase(2_700.5, 24)).toBe(27_005n * 10n ** 23n)
})

test("a stop beyond uint192 or not positive is refused, not capped", () => {
  expect(stopPriceToBase(6e57, 0) <= STOP_PRICE_MAX).toBe(true)
  expect(() => stopPriceToBase(1e58, 0)).toThrow(/uint192/)
  expect(() => stopPriceToBase(0, 24)).toThrow(/stopPrice/)
  expect(() => stopPriceToBase(Number.POSITIVE_INFINITY, 24)).toThrow(/stopPrice/)
})
