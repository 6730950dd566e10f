import { encodeErrorResult, getAddress } from "viem"
import { describe, expect, test } from "vitest"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import { ruleErrorNames } from "../rules/planRules.js"
import { decodeModuleError, isLeverageError, toModuleError } from "./getLeverageError.js"
import { DepositNotFundedError } from "./plan.js"

describe("module plan errors", () => {
  test("DepositNotFunded (review brk10r F1) decodes into DepositNotFundedError naming the token, what was deposited and what the plan brought in", () => {
    const token = getAddress("0x00000000000000000000000000000000000000c5")
    const data = encodeErrorResult({ abi: leverageModuleAbi, errorName: "DepositNotFunded", args: [token, 53_876_920_000n, 0n] })
    const decoded = decodeModuleError(data)
    expect(decoded).toEqual({ errorName: "DepositNotFunded", args: [token, 53_876_920_000n, 0n] })
    const error = toModuleError(decoded!)
    expect(error).toBeInstanceOf(DepositNotFundedError)
    expect(error).toMatchObject({ token, deposited: 53_876_920_000n, received: 0n })
    expect(error.shortMessage).toBe(`The plan deposits 53876920000 base units of ${token} into pools but brings in only 0 of them.`)
    expect(isLeverageError(error)).toBe(true)
    // A named error of the SDK's rule book (checkRebalanceRules mirrors RebalanceLib._checkInflowsUsed).
    expect(ruleErrorNames).toContain("DepositNotFunded")
  })
})
