import { describe, expect, test } from "vitest"
import { SwapRouteError } from "./errors.js"
import { encodeUniswapPath, encodeUniswapRoute, fairAmountOut, routeFeeBps } from "./uniswapQuote.js"

const weth = "0x00000000000000000000000000000000000000e1" as const
const usdc = "0x00000000000000000000000000000000000000a2" as const
const wbtc = "0x00000000000000000000000000000000000000b3" as const

// The chain-side checks (route words equal the adapter's `encodeRoute`, quotes equal swaps) are in test/uniswap.test.ts.
describe("Uniswap routes", () => {
  test("encodes a single hop as the fee alone and a two-hop route with the hub's position", () => {
    expect(encodeUniswapRoute({ fee: 500 })).toMatchInlineSnapshot(`"0x00000000000000000000000000000000000000000000000000000000000001f4"`)
    expect(encodeUniswapRoute({ fee: 500, hub: { token: usdc, index: 1 }, hubFee: 3000 })).toMatchInlineSnapshot(
      `"0x00000000000000000000000000000000000000000000000000000bb8010001f4"`,
    )
  })

  test("packs the quoter path with the hub's address", () => {
    expect(encodeUniswapPath(wbtc, weth, { fee: 500, hub: { token: usdc, index: 1 }, hubFee: 3000 })).toBe(
      `0x${wbtc.slice(2)}0001f4${usdc.slice(2)}000bb8${weth.slice(2)}`.toLowerCase(),
    )
    expect(encodeUniswapPath(weth, usdc, { fee: 3000 })).toBe(`0x${weth.slice(2)}000bb8${usdc.slice(2)}`.toLowerCase())
  })

  test("refuses a fee that is not a uint24 tier and a hub position outside 1..255, naming the field", () => {
    for (const fee of [0, -1, 1 << 24, 0.5]) expect(() => encodeUniswapRoute({ fee })).toThrow(SwapRouteError)
    expect(() => encodeUniswapRoute({ fee: 0 })).toThrow(/"fee"/)
    for (const index of [0, 256, 1.5])
      expect(() => encodeUniswapRoute({ fee: 500, hub: { token: usdc, index }, hubFee: 500 })).toThrow(/"hub.index"/)
    expect(() => encodeUniswapRoute({ fee: 500, hub: { token: usdc, index: 1 }, hubFee: 0 })).toThrow(/"hubFee"/)
  })

  test("values a swap at the Morpho oracle price in either direction", () => {
    const price = 3000n * 10n ** 24n // 3,000 USDC (6 decimals) per WETH (18 decimals), 1e36-scaled
    expect(fairAmountOut(weth, 10n ** 18n, { price, collateral: weth })).toBe(3_000_000_000n)
    expect(fairAmountOut(usdc, 3_000_000_000n, { price, collateral: weth })).toBe(10n ** 18n)
  })

  test("adds up the fee of each hop", () => {
    expect(routeFeeBps({ fee: 500 })).toBeCloseTo(5, 10)
    expect(routeFeeBps({ fee: 500, hub: { token: usdc, index: 1 }, hubFee: 3000 })).toBeCloseTo(34.985, 10)
  })
})
