import { encodeErrorResult } from "viem"
import { describe, expect, it } from "vitest"
import { leverageModuleAbi } from "../abis/index.js"
import { NotDueMoveExceedsDistanceError } from "../errors/index.js"
import { decodeModuleError, isLeverageError, toModuleError } from "../errors/getLeverageError.js"
import { collateralValue, distanceToTarget, ruleErrorNames } from "./planRules.js"

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
})
