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
    // f16l (review rr16h H2)
    [-32000, "One of the blocks specified in filter (fromBlock, toBlock or blockHash) cannot be found."],
    [-32000, "from block is greater than latest block"],
    [-32001, "requested block number 1234 is higher than current head 1230"],
    [-32000, "block 1234 does not exist"],
  ])("past head: %i %s", (code, message) => expect(isRangePastHead(refusal(code, message))).toBe(true))
  test.each([
    [-32602, "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range"],
    [-32005, "query returned more than 10000 results"],
    [-32602, "invalid block range: exceeds maximum of 1000 blocks"],
    [-32000, "execution reverted"],
    // f16l: a size text with a "greater than" or "block not found"-like word stays too wide.
    [-32602, "block range greater than 10000 max"],
    [-32005, "requested range is higher than the limit of 5000 blocks"],
    [-32602, "block not found: range too large"],
  ])("not past head (a window too wide, or another error): %i %s", (code, message) => expect(isRangePastHead(refusal(code, message))).toBe(false))
})
