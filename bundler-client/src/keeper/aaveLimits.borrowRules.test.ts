import { describe, expect, it } from "vitest"
import { aaveBorrowRuleBound, aaveBorrowedIds, aaveEModeBorrowAllowed, aaveIsolationBorrowable, aaveSiloedBorrowAllowed } from "./aaveLimits.js"

/** Packs the Aave v3 `ReserveConfigurationMap` bits the borrow rules read (ReserveConfiguration.sol layout). */
function config(p: { decimals?: number; borrowableInIsolation?: boolean; siloed?: boolean; eMode?: number; debtCeiling?: bigint }): bigint {
  let c = BigInt(p.decimals ?? 6) << 48n
  if (p.borrowableInIsolation) c |= 1n << 61n
  if (p.siloed) c |= 1n << 62n
  c |= BigInt(p.eMode ?? 0) << 168n
  c |= (p.debtCeiling ?? 0n) << 212n
  return c
}
/** A user configuration borrowing `borrowed` and using `collateral` as collateral (bits 2 x id, 2 x id + 1). */
const user = (borrowed: number[], collateral: number[] = []) => [...borrowed.map((id) => 1n << BigInt(2 * id)), ...collateral.map((id) => 1n << BigInt(2 * id + 1))].reduce((a, b) => a | b, 0n)

describe("aaveIsolationBorrowable (Aave v3.0.2 validateBorrow, 60 / 53)", () => {
  const wbtc = config({ decimals: 8, debtCeiling: 1_000_000n }) // 10,000.00 USD
  const usdc = config({ decimals: 6, borrowableInIsolation: true })
  it("is 0 for a debt asset not borrowable in isolation, whatever the room", () => {
    expect(aaveIsolationBorrowable(config({ decimals: 6 }), wbtc, 0n)).toBe(0n)
  })
  it("is the largest amount whose floor(amount / 10^(decimals - 2)) fits the room", () => {
    expect(aaveIsolationBorrowable(usdc, wbtc, 0n)).toBe(1_000_001n * 10n ** 4n - 1n) // 10,000.009999 USDC
    expect(aaveIsolationBorrowable(usdc, wbtc, 999_999n)).toBe(19_999n) // 1 cent left: 0.019999 USDC
    // 18 decimals: 10^16 base units per cent.
    expect(aaveIsolationBorrowable(config({ decimals: 18, borrowableInIsolation: true }), wbtc, 999_000n)).toBe(1_001n * 10n ** 16n - 1n)
  })
  it("at a filled ceiling only the sub-cent dust Aave floors to 0 is left; above it (a ceiling lowered under the debt) 0", () => {
    expect(aaveIsolationBorrowable(usdc, wbtc, 1_000_000n)).toBe(9_999n)
    expect(aaveIsolationBorrowable(usdc, wbtc, 1_000_001n)).toBe(0n)
  })
  it("is 0 for a debt asset below 2 decimals (Aave's 10 ** (decimals - 2) underflows)", () => {
    expect(aaveIsolationBorrowable(config({ decimals: 1, borrowableInIsolation: true }), wbtc, 0n)).toBe(0n)
    expect(aaveIsolationBorrowable(config({ decimals: 2, borrowableInIsolation: true }), wbtc, 999_990n)).toBe(10n)
  })
})

describe("aaveSiloedBorrowAllowed (Aave v3.0.2 validateBorrow, 89)", () => {
  const siloed = config({ siloed: true })
  const plain = config({})
  const configs: Record<number, bigint> = { 0: plain, 1: siloed, 2: plain, 3: siloed }
  const of = (id: number) => configs[id]
  it("an account without debt borrows anything, siloed or not", () => {
    expect(aaveSiloedBorrowAllowed(0n, 1, siloed, of)).toBe(true)
    expect(aaveSiloedBorrowAllowed(user([], [0]), 2, plain, of)).toBe(true)
  })
  it("an account borrowing one siloed reserve borrows only it", () => {
    expect(aaveSiloedBorrowAllowed(user([1]), 1, siloed, of)).toBe(true)
    expect(aaveSiloedBorrowAllowed(user([1]), 2, plain, of)).toBe(false)
    expect(aaveSiloedBorrowAllowed(user([1]), 3, siloed, of)).toBe(false)
  })
  it("an account with other debt borrows a siloed reserve never, an unsiloed one freely", () => {
    expect(aaveSiloedBorrowAllowed(user([0]), 1, siloed, of)).toBe(false)
    expect(aaveSiloedBorrowAllowed(user([0]), 2, plain, of)).toBe(true)
    expect(aaveSiloedBorrowAllowed(user([0, 2]), 2, plain, of)).toBe(true)
    // Several debts (Aave's getSiloedBorrowingState reads only a single one): a siloed debt reserve is refused.
    expect(aaveSiloedBorrowAllowed(user([0, 1]), 1, siloed, of)).toBe(false)
  })
  it("is undefined when the only borrowed reserve's configuration is unknown", () => {
    expect(aaveSiloedBorrowAllowed(user([7]), 2, plain, of)).toBeUndefined()
  })
  it("aaveBorrowedIds reads the borrowing bits only", () => {
    expect(aaveBorrowedIds(user([0, 3], [1, 3]))).toEqual([0, 3])
  })
})

describe("aaveEModeBorrowAllowed (Aave v3.0.2 validateBorrow, 58)", () => {
  it("outside e-mode anything; in category c only assets of category c", () => {
    expect(aaveEModeBorrowAllowed(0n, config({ eMode: 1 }))).toBe(true)
    expect(aaveEModeBorrowAllowed(1n, config({ eMode: 1 }))).toBe(true)
    expect(aaveEModeBorrowAllowed(1n, config({ eMode: 0 }))).toBe(false)
    expect(aaveEModeBorrowAllowed(1n, config({ eMode: 2 }))).toBe(false)
  })
})

describe("aaveBorrowRuleBound", () => {
  const usdc = config({ borrowableInIsolation: true, siloed: false, eMode: 0 })
  const base = { debtId: 2, debtConfiguration: usdc, userConfiguration: user([], [0]), configurationOf: () => config({}), userEMode: 0n, isolated: undefined }
  it("none binds: undefined", () => {
    expect(aaveBorrowRuleBound(base)).toBeUndefined()
    expect(aaveBorrowRuleBound({ ...base, userEMode: undefined })).toBeUndefined()
  })
  it("names the rule and gives its bound", () => {
    const isolated = { configuration: config({ decimals: 8, debtCeiling: 1_000_000n }), isolationModeTotalDebt: 999_999n }
    expect(aaveBorrowRuleBound({ ...base, isolated })).toEqual({ bound: 19_999n, reason: "isolation-ceiling" })
    expect(aaveBorrowRuleBound({ ...base, debtConfiguration: config({}), isolated })).toEqual({ bound: 0n, reason: "isolation-not-borrowable" })
    expect(aaveBorrowRuleBound({ ...base, userEMode: 1n })).toEqual({ bound: 0n, reason: "emode" })
    expect(aaveBorrowRuleBound({ ...base, userConfiguration: user([0]), debtConfiguration: config({ siloed: true }) })).toEqual({ bound: 0n, reason: "siloed" })
    // A refusal wins over the ceiling's room.
    expect(aaveBorrowRuleBound({ ...base, isolated, userEMode: 1n })).toEqual({ bound: 0n, reason: "emode" })
  })
})
