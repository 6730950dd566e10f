import { encodeErrorResult, keccak256, toHex } from "viem"
import { describe, expect, test } from "vitest"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import { decodeModuleError, isLeverageError, toModuleError } from "./getLeverageError.js"
import { TargetHealthBelowBorrowReachError, VenueAccountTakenError } from "./policy.js"

describe("module policy errors", () => {
  test("VenueAccountTaken decodes into VenueAccountTakenError naming both sub-accounts", () => {
    const subAccount = keccak256(toHex("WBTC/USDC on the Aave pool"))
    const existing = keccak256(toHex("WETH/USDC on the Aave pool"))
    const data = encodeErrorResult({ abi: leverageModuleAbi, errorName: "VenueAccountTaken", args: [subAccount, existing] })
    const decoded = decodeModuleError(data)
    expect(decoded).toEqual({ errorName: "VenueAccountTaken", args: [subAccount, existing] })
    const error = toModuleError(decoded!)
    expect(error).toBeInstanceOf(VenueAccountTakenError)
    expect(error).toMatchObject({ subAccount, existing })
    expect(error.shortMessage).toBe(`Sub-account ${subAccount} names the same venue account as the Safe's policy for sub-account ${existing}.`)
    expect(isLeverageError(error)).toBe(true)
  })

  test("TargetHealthBelowBorrowReach decodes into TargetHealthBelowBorrowReachError naming the field and the reach", () => {
    const reach = 1_068_493_150_684_931_507n // WBTC on Aave: ceil(78% / 73% x 1e18)
    const data = encodeErrorResult({ abi: leverageModuleAbi, errorName: "TargetHealthBelowBorrowReach", args: [1_062_000_000_000_000_000n, reach] })
    const decoded = decodeModuleError(data)
    expect(decoded).toEqual({ errorName: "TargetHealthBelowBorrowReach", args: [1_062_000_000_000_000_000n, reach] })
    const error = toModuleError(decoded!)
    expect(error).toBeInstanceOf(TargetHealthBelowBorrowReachError)
    expect(error).toMatchObject({ targetHealth: 1_062_000_000_000_000_000n, minBorrowHealth: reach })
    expect(error.shortMessage).toMatch(/^targetHealth 1\.062\d* is below the lowest health a borrow can reach on the market, 1\.068/)
    expect(isLeverageError(error)).toBe(true)
    // LTV 0: Aave lends nothing against the collateral.
    const none = new TargetHealthBelowBorrowReachError({ targetHealth: 1_300_000_000_000_000_000n, minBorrowHealth: 2n ** 256n - 1n })
    expect(none.shortMessage).toMatch(/LTV 0/)
  })
})
