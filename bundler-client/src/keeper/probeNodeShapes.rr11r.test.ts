import { BaseError, type Hex, HttpRequestError, InternalRpcError, RpcRequestError, UnknownRpcError } from "viem"
import { isNodeFailure, isTransientAnswer } from "./errors.js"
import { expect, test } from "vitest"
import { probeFailsOnceRun } from "./testing.js"

// Review rr11r R1 (f11v's `isNodeFailure`, issue 11 item 9, rr11q Q1's class). f11v lists the node's failures one
// shape at a time: a transport failure (HTTP 5xx, no status, timeout), HTTP 429, JSON-RPC -32005, ReadFailedError,
// LogReadError. viem's own http transport treats more answers as transient and retries them (`shouldRetry`: HTTP 403,
// 408, 413, 429, 5xx; JSON-RPC -1, -32005, -32603). The keeper's bundler and paymaster transports run with
// `retryCount: 0` (clients.ts), so such an answer reaches the step at once. Before the fix, in a one-sub-account probe
// it was taken as that sub-account's refusal alone: blamed, remembered for ALONE_FACT_BLOCKS, alerted `nothing-to-send`
// ("refused alone"), while a less urgent rescue is sent. Same fixture as rr11q Q1: C (USDC 1.01, most urgent) and I
// (USDC 1.02) both due; [C, I] refused plan-wide (loss class); I's operations land without effect (it stays due); at
// block 100 only the probe [C] fails with the held-out shape; from 101 C alone is accepted.
const C = `0x${"c1".repeat(32)}` as Hex
const I = `0x${"b1".repeat(32)}` as Hex

const heldOut = {
  // A gateway's request timeout (nginx / Cloudflare 408): viem retries it; the keeper's bundler transport does not.
  http408: () => new HttpRequestError({ url: "https://bundler.example/rpc", status: 408, details: "Request Timeout" }),
  // A provider's per-key throttle answered as 403 (viem retries it too).
  http403: () => new HttpRequestError({ url: "https://bundler.example/rpc", status: 403, details: "Forbidden: rate limit" }),
  // A JSON-RPC rate limit carried as code 429 in the body (HTTP 200), the shape several hosted bundlers / RPCs answer.
  // QuickNode's own rate-limit code (viem's shouldRetry names it: "N/second request limit reached").
  rpc32007: () => new RpcRequestError({ url: "https://bundler.example/rpc", body: { method: "eth_estimateUserOperationGas" }, error: { code: -32007, message: "15/second request limit reached - reduce calls per second" } }),
  // Alchemy in batch mode: HTTP 200 with a JSON-RPC body { code: 429 } (viem's shouldRetry comment).
  rpc429: () => new RpcRequestError({ url: "https://bundler.example/rpc", body: { method: "eth_estimateUserOperationGas" }, error: { code: 429, message: "Too Many Requests" } }),
}

/** The probe-failure fixture of testing.ts with this file's C and I. */
const run = (n: number, error: () => Error) => probeFailsOnceRun(C, I, n, error)

for (const [name, error] of Object.entries(heldOut)) {
  test(`rr11r R1 fixed (${name}): C's probe failing with a transient answer at block 100 is the node's: rpc-error, no blame of C, C lands at 101 (was 104 with a false "refused alone")`, async () => {
    const { alerts, cLanded, sent } = await run(8, error)
    console.log(name, sent.join(" | "), "||", alerts.join(" | "))
    expect(cLanded).toBe(101)
    expect(alerts).toContain("100 rpc-error")
    expect(alerts.some((a) => a.startsWith("100 nothing-to-send C"))).toBe(false)
  }, 60_000)

  test(`rr11r R1 FAILS TODAY (${name}): a transient answer in C's probe is the node's (rpc-error, no blame): C lands at 101`, async () => {
    const { alerts, cLanded } = await run(8, error)
    expect(cLanded).toBe(101)
    expect(alerts.some((a) => a.startsWith("100 nothing-to-send"))).toBe(false)
  }, 60_000)
}

// The classification itself, against viem's own retry rule (shouldRetry, viem 2.57), with the two departures toward
// "the plan's" (-32603: bundlers also answer it for a plan's own revert, rr11q Q2; 413: the same at every retry).
test("rr11r R1: isNodeFailure follows viem's transient answers (403, 408, 429, 5xx; -1, -32005, -32007, 429 in the body), not -32603, 413 or a bundler's refusal", () => {
  const url = "https://bundler.example/rpc"
  const rpc = (code: number, status?: number) => new RpcRequestError({ url, status, body: { method: "eth_estimateUserOperationGas" }, error: { code, message: "x" } })
  const http = (status: number) => new HttpRequestError({ url, status })
  for (const e of [http(403), http(408), http(429), http(500), http(503), rpc(-1), rpc(-32005), rpc(-32007), rpc(429), new UnknownRpcError(new Error("socket hang up"))]) {
    expect(isTransientAnswer(e), e.shortMessage + String((e as { code?: number }).code ?? (e as { status?: number }).status)).toBe(true)
    // Wrapped as the SDK's send wraps it.
    expect(isNodeFailure(new BaseError("send failed", { cause: e })), String((e as { code?: number }).code ?? (e as { status?: number }).status)).toBe(true)
  }
  // The plan's: -32603, a 413, a bundler's AA refusal (-32500) or a simulation revert (-32521), whatever the HTTP status.
  for (const e of [rpc(-32603), new InternalRpcError(new Error("x")), http(413), http(400), rpc(-32500), rpc(-32521, 403), rpc(-32602, 408)]) {
    expect(isNodeFailure(new BaseError("send failed", { cause: e })), String((e as { code?: number }).code ?? (e as { status?: number }).status)).toBe(false)
  }
})
