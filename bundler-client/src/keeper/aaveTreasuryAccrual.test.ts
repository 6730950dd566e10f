import { describe, expect, test } from "vitest"
import { type AaveReserveRead, aaveReserveLimits } from "./aaveLimits.js"
import { RAY, between, compounded, linear, percentMul, random, rayDiv, rayMul, reserveConfiguration } from "./aaveMath.testing.js"

const config = (decimals: number, supplyCap: bigint, reserveFactor: bigint) => reserveConfiguration({ decimals, supplyCap, reserveFactor })

// Review rev17d (issue 17 item 5, held out): the supply-cap room keeps AAVE_CAP_ACCRUAL_MARGIN_BPS (1 bps) back for
// accrual between the read and the inclusion, and counts the treasury's share at its STORED value
// (`accruedToTreasury`). Aave v3.0.2's executeSupply runs `updateState` before `validateSupply`, and updateState's
// `_accrueToTreasury` first adds the reserve factor's share of ALL the debt interest since the reserve's LAST UPDATE
// (`percentMul(debtNow - debtAtLastUpdate, reserveFactor)`, scaled by the next liquidity index) to `accruedToTreasury`.
// That share is in neither the aToken's supply (suppliers' income is net of it) nor the stored value, and it grows with
// the time since the reserve was last touched, not with the read-to-inclusion delay: a reserve untouched for a day at
// 50% APR with a 20% reserve factor owes the treasury ~2 bps of its supply. A supply of the whole room then reverts
// SUPPLY_CAP_EXCEEDED ("51") at inclusion, in every block until someone else touches the reserve.
//
// Property: random reserves at a binding supply cap (6 and 18 decimals), 50-90% utilization, borrow rates 5-150% APR,
// reserve factor 5-50%, last updated 1 hour to 30 days before the read, inclusion 12 s to 10 min after it: a supply of
// `suppliable` passes Aave's check at inclusion with the treasury's pending share counted. Before the fix (commit
// 2c23a02, test.fails) 489/500 exceeded the cap; fixed: `AaveReserveRead.debtAtLastUpdate` (read by readAaveLimits)
// and the reserve factor bound the pending share.


describe("Aave supply-cap room: the treasury's share of the interest since the reserve's last update", () => {
  test("a supply of the whole room passes validateSupply after updateState's _accrueToTreasury (500 reserves)", () => {
    const r = random(17)
    const failures: string[] = []
    for (let i = 0; i < 500; i++) {
      const decimals = i % 2 === 0 ? 6 : 18
      const unit = 10n ** BigInt(decimals)
      const capTokens = between(r, 1_000n, 10_000_000_000n)
      const room = (capTokens * unit * between(r, 5n, 500n)) / 10_000n
      const reserveFactor = between(r, 500n, 5_000n)
      const borrowRate = between(r, RAY / 20n, (3n * RAY) / 2n)
      const utilization = between(r, 5_000n, 9_000n)
      const liquidityRate = (((borrowRate * utilization) / 10_000n) * (10_000n - reserveFactor)) / 10_000n
      const stale = between(r, 3_600n, 30n * 86_400n) // the reserve's lastUpdateTimestamp, before the read
      const seconds = between(r, 12n, 600n) // read to inclusion
      const storedLiquidityIndex = between(r, RAY, 2n * RAY)
      const storedBorrowIndex = between(r, RAY, 2n * RAY)
      const treasury = (capTokens * unit) / 10_000n / 2n // scaled, stored
      const incomeAtRead = rayMul(storedLiquidityIndex, linear(liquidityRate, stale))
      const scaledSupply = ((capTokens * unit - room) * RAY) / incomeAtRead - treasury
      const supplyAtRead = rayMul(scaledSupply, incomeAtRead)
      const scaledDebt = (((supplyAtRead * utilization) / 10_000n) * RAY) / rayMul(storedBorrowIndex, compounded(borrowRate, stale))
      const debtAtLastUpdate = rayMul(scaledDebt, storedBorrowIndex)
      const debtAtRead = rayMul(scaledDebt, rayMul(storedBorrowIndex, compounded(borrowRate, stale)))
      const read = {
        configuration: config(decimals, capTokens, reserveFactor),
        availableLiquidity: supplyAtRead - debtAtRead,
        aTokenSupply: supplyAtRead,
        accruedToTreasury: treasury,
        liquidityIndex: storedLiquidityIndex,
        totalDebt: debtAtRead,
        debtAtLastUpdate,
      } satisfies AaveReserveRead
      const { suppliable } = aaveReserveLimits(read)
      // At inclusion: updateState (indexes to the block, then _accrueToTreasury), then validateSupply.
      const nextLiquidityIndex = rayMul(storedLiquidityIndex, linear(liquidityRate, stale + seconds))
      const debtAtInclusion = rayMul(scaledDebt, rayMul(storedBorrowIndex, compounded(borrowRate, stale + seconds)))
      const minted = percentMul(debtAtInclusion - debtAtLastUpdate, reserveFactor)
      const treasuryAtInclusion = treasury + rayDiv(minted, nextLiquidityIndex)
      const suppliedAtInclusion = rayMul(scaledSupply + treasuryAtInclusion, nextLiquidityIndex)
      if (suppliable !== undefined && suppliable > 0n && suppliedAtInclusion + suppliable > capTokens * unit)
        failures.push(`case ${i}: ${decimals} dec, cap ${capTokens}, RF ${reserveFactor}, ${stale}s since update: supply ${suppliable} + ${suppliedAtInclusion} > ${capTokens * unit}`)
    }
    expect(failures.slice(0, 3)).toEqual([])
  })
})
