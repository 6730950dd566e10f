import { RpcRequestError } from "viem"
import { describe, expect, test } from "vitest"
import { isRangePastHead } from "../logWindow.js"

// f16k (review rr16g G2): a refusal of a range past the node's head is told from a window too wide by its text.
const refusal = (code: number, message: string) => new RpcRequestError({ body: {}, url: "rpc", error: { code, message } })

describe("isRangePastHead", () => {
  test.each([
    [-32602, "invalid block range params"],
    [-32602, "block range extends beyond current head block"],
    [-32000, "header not found"],
    [-32602, "toBlock is after last accepted block"],
  ])("past head: %i %s", (code, message) => expect(isRangePastHead(refusal(code, message))).toBe(true))
  test.each([
    [-32602, "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range"],
    [-32005, "query returned more than 10000 results"],
    [-32602, "invalid block range: exceeds maximum of 1000 blocks"],
    [-32000, "execution reverted"],
  ])("not past head (a window too wide, or another error): %i %s", (code, message) => expect(isRangePastHead(refusal(code, message))).toBe(false))
})
