import { describe, expect, it } from "vitest"
import { AAVE_CAP_ACCRUAL_MARGIN_BPS, type AaveReserveRead, aaveReserveLimits } from "./aaveLimits.js"

/** Packs an Aave v3 `ReserveConfigurationMap` (ReserveConfiguration.sol bit layout). */
function config(p: { decimals: number; active?: boolean; frozen?: boolean; borrowing?: boolean; paused?: boolean; flashLoans?: boolean; borrowCap?: bigint; supplyCap?: bigint }): bigint {
  let c = 8300n | (8050n << 16n) | (10_500n << 32n) // LTV, threshold, bonus: ignored by the limits
  c |= BigInt(p.decimals) << 48n
  if (p.active ?? true) c |= 1n << 56n
  if (p.frozen) c |= 1n << 57n
  if (p.borrowing ?? true) c |= 1n << 58n
  if (p.paused) c |= 1n << 60n
  if (p.flashLoans ?? true) c |= 1n << 63n
  c |= (p.borrowCap ?? 0n) << 80n
  c |= (p.supplyCap ?? 0n) << 116n
  return c
}

const RAY = 10n ** 27n
/** What a cap keeps back for accrual between read and inclusion: the counted amount's margin, rounded up. */
const margin = (counted: bigint) => (counted * AAVE_CAP_ACCRUAL_MARGIN_BPS + 9_999n) / 10_000n
const usdc = (n: number) => BigInt(n) * 10n ** 6n
const read = (over: Partial<AaveReserveRead>): AaveReserveRead => ({
  configuration: config({ decimals: 6, borrowCap: 40_000_000n, supplyCap: 50_000_000n }),
  availableLiquidity: usdc(2_000_000),
  aTokenSupply: usdc(10_000_000),
  accruedToTreasury: 0n,
  liquidityIndex: RAY,
  totalDebt: usdc(8_000_000),
  ...over,
})

describe("aaveReserveLimits (Aave v3.0.2 ValidationLogic)", () => {
  it("borrowable is the available liquidity when the borrow cap has more room", () => {
    const l = aaveReserveLimits(read({}))
    expect(l.borrowable).toBe(usdc(2_000_000))
    expect(l.withdrawable).toBe(usdc(2_000_000))
    expect(l.suppliable).toBe(usdc(40_000_000) - margin(usdc(10_000_000)))
    expect(l.repayable).toBeUndefined()
  })

  it("borrowable is the borrow-cap room when it is below the liquidity (cap in whole tokens x 10^decimals - total debt, less the accrual margin)", () => {
    const l = aaveReserveLimits(read({ configuration: config({ decimals: 6, borrowCap: 8_500_000n, supplyCap: 50_000_000n }) }))
    expect(l.borrowable).toBe(usdc(500_000) - margin(usdc(8_000_000)))
    const full = aaveReserveLimits(read({ configuration: config({ decimals: 6, borrowCap: 7_000_000n }) }))
    expect(full.borrowable).toBe(0n)
  })

  it("the supply cap counts the treasury's accrued share at the liquidity index; no cap, no limit", () => {
    const l = aaveReserveLimits(read({ configuration: config({ decimals: 18, supplyCap: 1_000n }), aTokenSupply: 900n * 10n ** 18n, accruedToTreasury: 40n * 10n ** 18n, liquidityIndex: (RAY * 5n) / 4n }))
    expect(l.suppliable).toBe(50n * 10n ** 18n - margin(950n * 10n ** 18n))
    expect(aaveReserveLimits(read({ configuration: config({ decimals: 6 }) })).suppliable).toBeUndefined()
  })

  it("a frozen reserve takes no supply and lends nothing, but still pays withdrawals and takes repayments", () => {
    const l = aaveReserveLimits(read({ configuration: config({ decimals: 6, frozen: true, borrowCap: 40_000_000n, supplyCap: 50_000_000n }) }))
    expect(l).toEqual({ borrowable: 0n, suppliable: 0n, withdrawable: usdc(2_000_000), repayable: undefined, flashable: usdc(2_000_000) })
  })

  it("a paused or inactive reserve refuses everything; borrowing switched off refuses only borrows", () => {
    const none = { borrowable: 0n, suppliable: 0n, withdrawable: 0n, repayable: 0n, flashable: 0n }
    expect(aaveReserveLimits(read({ configuration: config({ decimals: 6, paused: true }) }))).toEqual(none)
    expect(aaveReserveLimits(read({ configuration: config({ decimals: 6, active: false }) }))).toEqual(none)
    const off = aaveReserveLimits(read({ configuration: config({ decimals: 6, borrowing: false }) }))
    expect(off.borrowable).toBe(0n)
    expect(off.withdrawable).toBe(usdc(2_000_000))
  })

  it("flashable is the free liquidity (the aToken's underlying balance), borrowed-out or not; 0 when paused, inactive or flash loans are disabled (bit 63)", () => {
    expect(aaveReserveLimits(read({})).flashable).toBe(usdc(2_000_000))
    // Borrowed out: the liquidity left is what a flash can take, whatever the supply.
    expect(aaveReserveLimits(read({ availableLiquidity: 7n })).flashable).toBe(7n)
    // Borrowing switched off or the borrow cap reached does not stop a flash loan (Aave's validateFlashloanSimple).
    expect(aaveReserveLimits(read({ configuration: config({ decimals: 6, borrowing: false }) })).flashable).toBe(usdc(2_000_000))
    expect(aaveReserveLimits(read({ configuration: config({ decimals: 6, borrowCap: 1n }) })).flashable).toBe(usdc(2_000_000))
    const off = aaveReserveLimits(read({ configuration: config({ decimals: 6, flashLoans: false }) }))
    expect(off.flashable).toBe(0n)
    // ... and only the flash: withdrawals and borrows are unchanged.
    expect(off.withdrawable).toBe(usdc(2_000_000))
    expect(off.borrowable).toBe(usdc(2_000_000))
    expect(aaveReserveLimits(read({ configuration: config({ decimals: 6, paused: true }) })).flashable).toBe(0n)
    expect(aaveReserveLimits(read({ configuration: config({ decimals: 6, active: false }) })).flashable).toBe(0n)
  })
})
