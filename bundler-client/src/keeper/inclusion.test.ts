import { encodeErrorResult, parseAbi } from "viem"
import { describe, expect, test } from "vitest"
import { leverageModuleAbi } from "@levpilot/sdk/abis"
import { describeRevert } from "./inclusion.js"

const solidity = parseAbi(["error Error(string)", "error Panic(uint256)"])
const stringError = (text: string) => encodeErrorResult({ abi: solidity, errorName: "Error", args: [text] })
const actionFailed = (index: bigint, reason: `0x${string}`) => encodeErrorResult({ abi: leverageModuleAbi, errorName: "ActionFailed", args: [index, reason] })

describe("describeRevert: an included operation's revert as text, nested reasons decoded", () => {
  test("a swap rescue whose sale paid less than the repayment Morpho pulled, and a sale the router refused", () => {
    expect(describeRevert(actionFailed(0n, stringError("transferFrom reverted")))).toBe("ActionFailed(0, Error(transferFrom reverted))")
    expect(describeRevert(actionFailed(0n, actionFailed(2n, stringError("Too little received"))))).toBe("ActionFailed(0, ActionFailed(2, Error(Too little received)))")
  })

  test("module errors with plain arguments, panics, and data nothing decodes", () => {
    const id = `0x${"ab".repeat(32)}` as const
    expect(describeRevert(encodeErrorResult({ abi: leverageModuleAbi, errorName: "SaleExceedsRepayment", args: [id, 10n, 9n] }))).toBe(`SaleExceedsRepayment(${id}, 10, 9)`)
    expect(describeRevert(actionFailed(1n, encodeErrorResult({ abi: solidity, errorName: "Panic", args: [0x11n] })))).toBe("ActionFailed(1, Panic(17))")
    expect(describeRevert(actionFailed(3n, "0xdeadbeef00"))).toBe("ActionFailed(3, 0xdeadbeef00)")
    expect(describeRevert("0x12345678")).toBe("unknown error 0x12345678")
  })
})
