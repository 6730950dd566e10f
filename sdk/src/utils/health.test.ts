import { maxUint256, parseEther, parseUnits, zeroAddress } from "viem"
import { describe, expect, test } from "vitest"
import { getBandPosition, getSubAccountMetrics } from "./health.js"

const wethPrice = (usd: string) => (parseUnits(usd, 6) * 10n ** 36n) / 10n ** 18n
const base = { loanToken: zeroAddress, collateralToken: zeroAddress, lltv: parseEther("0.86") }

describe("getSubAccountMetrics", () => {
  test("derives health, LTV, leverage, liquidation price and distance as in docs/policy-rules.md", () => {
    const metrics = getSubAccountMetrics({ ...base, collateral: parseEther("1"), debt: parseUnits("2000", 6), price: wethPrice("3000") })
    expect(metrics).toMatchInlineSnapshot(`
      {
        "collateralValue": 3000000000n,
        "distanceToLiquidation": 224806201550387596n,
        "health": 1290000000000000000n,
        "leverage": 3000000000000000000n,
        "liquidationPrice": 2325581395348837209302325582n,
        "ltv": 666666666666666666n,
      }
    `)
  })

  test("reports infinite health and no liquidation price without debt", () => {
    const metrics = getSubAccountMetrics({ ...base, collateral: parseEther("1"), debt: 0n, price: wethPrice("3000") })
    expect(metrics.health).toBe(maxUint256)
    expect(metrics.liquidationPrice).toBe(0n)
    expect(metrics.distanceToLiquidation).toBe(parseEther("1"))
    expect(metrics.leverage).toBe(parseEther("1"))
  })

  test("reports infinite leverage and negative distance when underwater", () => {
    const metrics = getSubAccountMetrics({ ...base, collateral: parseEther("1"), debt: parseUnits("3000", 6), price: wethPrice("2000") })
    expect(metrics.leverage).toBe(maxUint256)
    expect(metrics.distanceToLiquidation < 0n).toBe(true)
    expect(getBandPosition({ health: metrics.health, minHealth: parseEther("1.2"), maxHealth: parseEther("1.7") })).toBe("below")
  })
})
