import { describe, expect, test } from "vitest"
import { decodeSwapRoute, getSwapMinAmountOut } from "./swap.js"

// WETH at 3,000 USDC in Morpho's scale: loan base units per collateral base unit x 1e36 = 3000e6 * 1e36 / 1e18.
const price = 3_000n * 10n ** 6n * 10n ** 36n / 10n ** 18n

describe("getSwapMinAmountOut (RebalanceLib._swap's minimum)", () => {
  test("selling collateral: floor of the oracle value, less maxSlippageBps, rounded up", () => {
    expect(getSwapMinAmountOut({ sell: true, amountIn: 10n ** 18n, price, maxSlippageBps: 50 })).toEqual({ fairAmountOut: 3_000_000_000n, minAmountOut: 2_985_000_000n })
    // 1 wei of WETH is worth 0 base units of USDC: the minimum is 0, as on chain.
    expect(getSwapMinAmountOut({ sell: true, amountIn: 1n, price, maxSlippageBps: 50 })).toEqual({ fairAmountOut: 0n, minAmountOut: 0n })
  })

  test("buying collateral: value in collateral base units, the reduction rounded up", () => {
    expect(getSwapMinAmountOut({ sell: false, amountIn: 3_000_000_000n, price, maxSlippageBps: 50 })).toEqual({ fairAmountOut: 10n ** 18n, minAmountOut: 995n * 10n ** 15n })
    // fair = 333,333,333,333,333 wei for 1 USDC; 0.5 % off rounds up: ceil(333333333333333 x 9950 / 10000).
    expect(getSwapMinAmountOut({ sell: false, amountIn: 1_000_000n, price, maxSlippageBps: 50 }).minAmountOut).toBe(331_666_666_666_667n)
  })
})

describe("decodeSwapRoute", () => {
  test("reads the adapter's route word: first fee, hub position, second fee", () => {
    expect(decodeSwapRoute("0x00000000000000000000000000000000000000000000000000000000000001f4")).toEqual({ fee: 500, hub: 0, hubFee: 0 })
    const word = (3000n << 32n) | (2n << 24n) | 500n
    expect(decodeSwapRoute(`0x${word.toString(16).padStart(64, "0")}`)).toEqual({ fee: 500, hub: 2, hubFee: 3000 })
  })
})
