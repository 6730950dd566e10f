import { describe, expect, test } from "vitest"
import { type AaveReserveRead, aaveReserveLimits } from "./aaveLimits.js"
import { RAY, between, compounded, linear, random, rayMul, reserveConfiguration } from "./aaveMath.testing.js"

const config = (decimals: number, borrowCap: bigint, supplyCap: bigint) => reserveConfiguration({ decimals, borrowCap, supplyCap })

// Review rev11s (issue 11 items 1 and 8: "clamped to the on-chain bound it came from ... debt with interest accrued
// between read and inclusion"; "size borrows to what the market can lend"). An Aave v3 reserve at its borrow cap:
// `borrowable` was `borrowCap x 10^decimals - totalDebt` with `totalDebt` the debt tokens' supply AT THE READ. Aave's
// ValidationLogic.validateBorrow checks the cap at INCLUSION, on the debt accrued to that block
// (`currScaledVariableDebt.rayMul(nextVariableBorrowIndex) + currTotalStableDebt + amount <= borrowCap x unit`): one
// block later, at any positive borrow rate, a borrow sized to the whole room reverts (BORROW_CAP_EXCEEDED, "50"), in
// every block, retried forever. Same for the supply cap (validateSupply: `(scaledSupply + accruedToTreasury)
// .rayMul(nextLiquidityIndex) + amount <= supplyCap x unit`). (Morpho Blue's free liquidity is invariant under accrual:
// interest raises its supply and borrow assets alike.)
//
// Property: for random reserves at a binding cap (6 and 18 decimals), borrow rates up to 300% APR and inclusion up to
// 10 minutes after the read, the amounts the limits allow still pass Aave's check at inclusion.


describe("Aave cap room at inclusion, not at the read", () => {
  test("a borrow of the whole borrow-cap room passes validateBorrow one block to 10 minutes later (500 reserves, up to 300% APR)", () => {
    const r = random(11)
    const failures: string[] = []
    for (let i = 0; i < 500; i++) {
      const decimals = i % 2 === 0 ? 6 : 18
      const unit = 10n ** BigInt(decimals)
      const capTokens = between(r, 1_000n, 10_000_000_000n)
      // The debt at the read: just under the cap (a room of 0.01% to 5% of it).
      const room = (capTokens * unit * between(r, 1n, 500n)) / 10_000n
      const index = between(r, RAY, 2n * RAY) // variableBorrowIndex at the read
      const scaled = ((capTokens * unit - room) * RAY) / index
      const debtAtRead = rayMul(scaled, index)
      const rate = between(r, RAY / 100n, 3n * RAY) // 1% to 300% APR
      const seconds = between(r, 12n, 600n)
      const read: AaveReserveRead = {
        configuration: config(decimals, capTokens, 0n),
        availableLiquidity: capTokens * unit * 10n, // liquidity does not bind: the cap does
        aTokenSupply: capTokens * unit * 2n,
        accruedToTreasury: 0n,
        liquidityIndex: RAY,
        totalDebt: debtAtRead,
      }
      const { borrowable } = aaveReserveLimits(read)
      const debtAtInclusion = rayMul(scaled, rayMul(index, compounded(rate, seconds)))
      if (borrowable > 0n && debtAtInclusion + borrowable > capTokens * unit)
        failures.push(`case ${i}: ${decimals} decimals, cap ${capTokens}, rate ${rate}, ${seconds}s: borrow ${borrowable} + debt ${debtAtInclusion} > ${capTokens * unit}`)
    }
    expect(failures.slice(0, 3)).toEqual([])
  })

  test("a supply of the whole supply-cap room passes validateSupply one block to 10 minutes later (500 reserves)", () => {
    const r = random(12)
    const failures: string[] = []
    for (let i = 0; i < 500; i++) {
      const decimals = i % 2 === 0 ? 6 : 18
      const unit = 10n ** BigInt(decimals)
      const capTokens = between(r, 1_000n, 10_000_000_000n)
      const room = (capTokens * unit * between(r, 1n, 500n)) / 10_000n
      // The liquidity index was last written `stale` seconds before the read (the aToken's supply reads the normalized income).
      const stored = between(r, RAY, 2n * RAY)
      const liquidityRate = between(r, RAY / 200n, 2n * RAY) // 0.5% to 200% APR to suppliers
      const stale = between(r, 0n, 3_600n)
      const seconds = between(r, 12n, 600n)
      const atRead = rayMul(stored, linear(liquidityRate, stale))
      const treasury = ((capTokens * unit) / 1_000n) * RAY / stored / RAY
      const scaled = ((capTokens * unit - room) * RAY) / atRead - treasury
      const read: AaveReserveRead = {
        configuration: config(decimals, 0n, capTokens),
        availableLiquidity: capTokens * unit,
        aTokenSupply: rayMul(scaled, atRead),
        accruedToTreasury: treasury,
        liquidityIndex: stored,
        totalDebt: 0n,
      }
      const { suppliable } = aaveReserveLimits(read)
      const next = rayMul(stored, linear(liquidityRate, stale + seconds))
      // The treasury's accrued share only grows at inclusion; counted at its read value here (a lower bound).
      const suppliedAtInclusion = rayMul(scaled + treasury, next)
      if (suppliable !== undefined && suppliable > 0n && suppliedAtInclusion + suppliable > capTokens * unit)
        failures.push(`case ${i}: ${decimals} decimals, cap ${capTokens}, rate ${liquidityRate}, ${stale}s stale + ${seconds}s: supply ${suppliable} + ${suppliedAtInclusion} > ${capTokens * unit}`)
    }
    expect(failures.slice(0, 3)).toEqual([])
  })
})
