import { BaseError, HttpRequestError, RpcRequestError, TimeoutError } from "viem"
import { describe, expect, test } from "vitest"
import { UserOperationInFlightError, getTransportFailure } from "./bundler.js"
import { getLeverageError } from "./getLeverageError.js"
import { PaymasterRefusedError, PaymasterUnavailableError } from "./paymaster.js"

const url = "http://127.0.0.1:4337/"
const refused = Object.assign(new TypeError("fetch failed"), { cause: Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:4337"), { code: "ECONNREFUSED" }) })
const wrapped = (cause: Error) => new BaseError("An error occurred while executing user operation.", { cause })

describe("getTransportFailure", () => {
  test("a refused connection did not reach the server, whatever wraps it", () => {
    expect(getTransportFailure(wrapped(new HttpRequestError({ url, cause: refused })))).toEqual({ url, reached: false })
  })

  test("a timeout, a 5xx and an unparseable body reached the server", () => {
    expect(getTransportFailure(new TimeoutError({ url, body: {} }))).toEqual({ url, reached: true })
    expect(getTransportFailure(new HttpRequestError({ url, status: 502 }))).toEqual({ url, reached: true })
    expect(getTransportFailure(wrapped(new HttpRequestError({ url, cause: new SyntaxError("Unexpected token <") })))).toEqual({ url, reached: true })
  })

  test("an answer is not a transport failure: a JSON-RPC error, a 4xx, or any other error", () => {
    expect(getTransportFailure(new RpcRequestError({ body: {}, error: { code: -32602, message: "AA25 invalid account nonce" }, url }))).toBeUndefined()
    expect(getTransportFailure(new HttpRequestError({ url, status: 400 }))).toBeUndefined()
    expect(getTransportFailure(new Error("ECONNREFUSED in a message is not a code"))).toBeUndefined()
  })
})

describe("getLeverageError for bundler answers", () => {
  test("AA25 'already being processed' and 'already present in mempool' become UserOperationInFlightError", () => {
    for (const message of [
      "UserOperation failed validation with reason: AA25 invalid account nonce: Another UserOperation with same sender and nonce is already being processed",
      "AA25 invalid account nonce: User operation already present in mempool",
      "replacement transaction underpriced",
    ]) {
      const error = getLeverageError(wrapped(new RpcRequestError({ body: {}, error: { code: -32602, message }, url })))
      expect(error).toBeInstanceOf(UserOperationInFlightError)
      expect((error as BaseError).shortMessage).toBe("The bundler already has an operation of this sender at this nonce.")
    }
  })

  test("other bundler errors are returned unchanged", () => {
    const other = wrapped(new RpcRequestError({ body: {}, error: { code: -32603, message: "internal error" }, url }))
    expect(getLeverageError(other)).toBe(other)
  })
})

describe("getLeverageError for paymaster failures", () => {
  const pmUrl = "http://127.0.0.1:3000/"
  const body = { jsonrpc: "2.0", id: 1, method: "pm_getPaymasterData", params: [] }
  const viaPaymaster = (cause: Error) => new BaseError("An error occurred while executing user operation.", { cause })

  test("a paymaster that times out, answers 5xx or refuses the connection is unavailable, not refusing (the fleet bench's 'refusals' under load)", () => {
    for (const failure of [
      new TimeoutError({ url: pmUrl, body }),
      new HttpRequestError({ url: pmUrl, body, status: 503 }),
      new HttpRequestError({ url: pmUrl, body, cause: refused }),
    ]) {
      const error = getLeverageError(viaPaymaster(failure))
      expect(error).toBeInstanceOf(PaymasterUnavailableError)
      expect((error as PaymasterUnavailableError).url).toBe(pmUrl)
      expect((error as BaseError).shortMessage).toBe("The paymaster did not answer.")
    }
  })

  test("a JSON-RPC error answer from the paymaster is a refusal, with its reason", () => {
    const error = getLeverageError(viaPaymaster(new RpcRequestError({ body, error: { code: -32000, message: "budget exhausted" }, url: pmUrl })))
    expect(error).toBeInstanceOf(PaymasterRefusedError)
    expect((error as PaymasterRefusedError).reason).toBe("budget exhausted")
  })
})

describe("cause-chain walks on a cyclic chain", () => {
  // viem's BaseError.walk recurses without end on a cycle (RangeError: maximum call stack size exceeded); the SDK's
  // classifiers walk with firstInCauseChain, which ends at the first repeated link.
  const cyclic = () => {
    const outer = new BaseError("outer")
    const inner = new HttpRequestError({ url, status: 503 })
    ;(inner as { cause?: unknown }).cause = outer
    ;(outer as { cause?: unknown }).cause = inner
    return outer
  }
  test("getTransportFailure and getLeverageError classify without overflowing the stack", () => {
    expect(() => cyclic().walk(() => false)).toThrow(RangeError)
    expect(getTransportFailure(cyclic())).toEqual({ url, reached: true })
    expect(getLeverageError(cyclic())).toBeInstanceOf(BaseError)
  })
})
