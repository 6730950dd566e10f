import { encodeErrorResult, keccak256, toHex } from "viem"
import { describe, expect, test } from "vitest"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import { decodeModuleError, isLeverageError, toModuleError } from "./getLeverageError.js"
import { VenueAccountTakenError } from "./policy.js"

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
})
