import { encodeErrorResult } from "viem"
import { describe, expect, it } from "vitest"
import { leverageModuleAbi } from "../abis/index.js"
import { NotDueGrowthError, NotDueMoveExceedsDistanceError } from "../errors/index.js"
import { decodeModuleError, isLeverageError, toModuleError } from "../errors/getLeverageError.js"
import { INFINITE_HEALTH } from "../constants/module.js"
import { collateralValue, distanceToTarget, healthOf, maxMoveToHealth, ruleErrorNames } from "./planRules.js"

const WAD = 10n ** 18n
const PRICE = 3000n * 10n ** 24n // 3,000 USDC (6 decimals) per WETH (18 decimals), 1e36-scaled

describe("distanceToTarget (HealthLib.distanceToTarget, NotDueMoveExceedsDistance's bound)", () => {
  it("is the collateral value change that alone reaches the target, rounded up", () => {
    // 10 WETH at 3,000 (30,000 USDC), LLTV 0.86, debt 19,846.153847: health 1.3, target 1.4.
    const state = { collateral: 10n * WAD, debt: 19_846_153_847n, price: PRICE, lltv: 86n * 10n ** 16n }
    const exact = 14n * 10n ** 17n * state.debt - collateralValue(state.collateral, state.price) * state.lltv
    const bound = distanceToTarget(state, 14n * 10n ** 17n)
    expect(bound).toBe(2_307_692_310n)
    expect(bound * state.lltv).toBeGreaterThanOrEqual(exact)
    expect((bound - 1n) * state.lltv).toBeLessThan(exact)
    // Above the target the same figure, the other way round; no debt: the collateral value.
    expect(distanceToTarget({ ...state, debt: 15_000_000_000n }, 14n * 10n ** 17n)).toBe(5_581_395_349n)
    expect(distanceToTarget({ ...state, debt: 0n }, 14n * 10n ** 17n)).toBe(30_000_000_000n)
  })

  it("is never below the repayment or the borrow that alone reaches the target (random states)", () => {
    let seed = 12345n
    const next = (n: bigint) => {
      seed = (seed * 6364136223846793005n + 1442695040888963407n) % 2n ** 64n
      return seed % n
    }
    for (let k = 0; k < 2000; k++) {
      const lltv = (50n + next(45n)) * 10n ** 16n
      const target = lltv + WAD / 10n + next(2n * WAD)
      const state = { collateral: 1n + next(10n ** 24n), debt: 1n + next(10n ** 13n), price: 1n + next(10n ** 40n), lltv }
      const value = collateralValue(state.collateral, state.price)
      const keep = (value * lltv) / target // the debt at which health is the target
      const toTarget = keep > state.debt ? keep - state.debt : state.debt - keep
      expect(distanceToTarget(state, target)).toBeGreaterThanOrEqual(toTarget)
    }
  })

  it("is a named error of the rule book and decodes to NotDueMoveExceedsDistanceError", () => {
    expect(ruleErrorNames).toContain("NotDueMoveExceedsDistance")
    const id = `0x${"ab".repeat(32)}` as const
    const data = encodeErrorResult({ abi: leverageModuleAbi, errorName: "NotDueMoveExceedsDistance", args: [id, 10_060n, 2_307n] })
    const decoded = decodeModuleError(data)
    expect(decoded).toEqual({ errorName: "NotDueMoveExceedsDistance", args: [id, 10_060n, 2_307n] })
    const error = toModuleError(decoded!)
    expect(error).toBeInstanceOf(NotDueMoveExceedsDistanceError)
    expect(error.shortMessage).toMatch(/by 10060 .*distance to its target \(2307\)/)
    expect(isLeverageError(error)).toBe(true)
  })

  it("NotDueGrowth (a not-due sub-account may not grow) is a named error of the rule book and decodes to NotDueGrowthError", () => {
    expect(ruleErrorNames).toContain("NotDueGrowth")
    const id = `0x${"cd".repeat(32)}` as const
    const decoded = decodeModuleError(encodeErrorResult({ abi: leverageModuleAbi, errorName: "NotDueGrowth", args: [id] }))
    expect(decoded).toEqual({ errorName: "NotDueGrowth", args: [id] })
    const error = toModuleError(decoded!)
    expect(error).toBeInstanceOf(NotDueGrowthError)
    expect(error.shortMessage).toMatch(new RegExp(`grows sub-account ${id}, which is not due`))
    expect(isLeverageError(error)).toBe(true)
  })
})

describe("maxMoveToHealth (HealthLib.maxMoveToHealth, the move the loss allowance counts)", () => {
  it("divides the health change's gap by the most move-intensive honest path: collateral alone, or a swap by direction", () => {
    // The attack suite's WETH sub-account: 10 WETH at 2,400 (24,000 USDC), 18,000 debt, LLTV 0.86: health 1.1467.
    const state = { collateral: 10n * WAD, debt: 18_000_000_000n, price: 2400n * 10n ** 24n, lltv: 86n * 10n ** 16n }
    const h155 = 155n * 10n ** 16n
    // Deleverage to 1.55 with swaps losing 50 bps: (1.55 x 18,000 - 24,000 x 0.86) / (1.55 x 0.995 - 0.86).
    expect(maxMoveToHealth(state, h155, true, 50n)).toBe(10_641_260_535n)
    // No swaps (maxSlippageBps 0): collateral alone, over LLTV (review 9: a swap-free policy was counted a swap path).
    expect(maxMoveToHealth(state, h155, false, 0n)).toBe(8_441_860_466n)
    expect(maxMoveToHealth(state, h155, true, 0n)).toBe(10_521_739_131n)
    // A loss so loose no swap deleverage reaches the health (1.55 x 0.5 <= 0.86): collateral alone.
    expect(maxMoveToHealth(state, h155, true, 5000n)).toBe(8_441_860_466n)
    // Boost to 1.0 with swaps losing 50 bps: gap / (1.0 - 0.995 x 0.86) (review 9: the deleverage term over-allowed).
    expect(maxMoveToHealth(state, WAD, true, 50n)).toBe(18_295_218_296n)
    expect(maxMoveToHealth(state, WAD, false, 0n)).toBe(3_069_767_442n)
    expect(maxMoveToHealth(state, INFINITE_HEALTH, true, 50n)).toBeUndefined()
    // A health-neutral move counts (almost) nothing.
    expect(maxMoveToHealth(state, healthOf(state.collateral, state.debt, state.price, state.lltv), true, 50n)).toBeLessThan(10n)
  })

  it("covers every honest path and no more than the most move-intensive one (random states, both directions)", () => {
    let seed = 777n
    const next = (n: bigint) => {
      seed = (seed * 6364136223846793005n + 1442695040888963407n) % 2n ** 64n
      return seed % n
    }
    const BPS = 10_000n
    for (let k = 0; k < 2000; k++) {
      const lltv = (30n + next(65n)) * 10n ** 16n
      const healthAfter = WAD + next(WAD)
      const loss = next(300n)
      const state = { collateral: 1n + next(10n ** 24n), debt: 1n + next(10n ** 13n), price: 1n + next(10n ** 40n), lltv }
      const withSwaps = maxMoveToHealth(state, healthAfter, true, loss) as bigint
      const without = maxMoveToHealth(state, healthAfter, false, 0n) as bigint
      const valueLltv = collateralValue(state.collateral, state.price) * lltv
      const up = healthAfter * state.debt > valueLltv
      const gap = up ? healthAfter * state.debt - valueLltv : valueLltv - healthAfter * state.debt
      // Collateral alone and a repayment or borrow alone fit both.
      for (const cap of [withSwaps, without]) {
        expect(cap).toBeGreaterThanOrEqual(gap / lltv)
        expect(cap).toBeGreaterThanOrEqual(gap / healthAfter)
      }
      // The swap path of the direction fits the swap cap, and the cap is no more than the larger of the two paths.
      const swapDenominator = up ? (healthAfter * (BPS - loss)) / BPS - lltv : healthAfter - (lltv * (BPS - loss)) / BPS
      if (swapDenominator > 0n) {
        expect(withSwaps).toBeGreaterThanOrEqual(gap / swapDenominator)
        expect(withSwaps).toBeLessThanOrEqual(gap / (swapDenominator < lltv ? swapDenominator : lltv) + 1n)
      }
      expect(without).toBeLessThanOrEqual(gap / lltv + 1n)
    }
  })
})
