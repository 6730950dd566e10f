import { type Hex, HttpRequestError } from "viem"
import { expect, test } from "vitest"
import { refusingSender, runPairSteps } from "./testing.js"

// Review rr11t T2 (break-it of f11y's rr11s S2 fix: "an HTTP 5xx with a JSON-RPC error body is judged by that body").
// Alto (@pimlico/alto esm/rpc/server.js) answers HTTP 500 with a JSON-RPC error body `{ message }` (no code) for every
// error that is not its RpcError. That includes its own upstream node's outage: `performBinarySearch`
// (rpc/estimation/gasEstimations07.js) turns any simulate eth_call failure it cannot decode (the node's 503, a timeout)
// into `new Error("Error in performBinarySearch")`; a viem transport error elsewhere reaches the reply as
// "HTTP request failed. Status: 503 ...". So in the worst minute (the bundler's node overloaded in a crash) every send
// is answered HTTP 500 + JSON body with no code, which f11y now judges "the plan's": the plan is isolated, each
// sub-account is probed alone against the failing bundler (3 sends per block for 2 sub-accounts, up to the isolation's
// budget of 8 with more), and the owner is alerted send-failed (the plan's failure), never rpc-error. Measured: sent
// "100 c1,b1 | 101 c1,b1 | 101 c1 | 101 b1 | 102 c1,b1 | 102 c1 | 102 b1", alerts "100 send-failed C I | 101 send-failed |
// 102 send-failed"; held: nothing remembered, both land in one operation at 103, the first block after the outage.
// Fixture: C (1.01) and I (1.02) due; blocks 100-102 the bundler's node is down (every send answered as above);
// from 103 every plan is accepted.
const C = `0x${"c1".repeat(32)}` as Hex
const I = `0x${"b1".repeat(32)}` as Hex

const outage = () =>
  new HttpRequestError({
    url: "https://bundler.example/rpc",
    status: 500,
    body: { method: "eth_estimateUserOperationGas" },
    details: JSON.stringify({ message: "Error in performBinarySearch" }),
  })
const outageTransport = () =>
  new HttpRequestError({
    url: "https://bundler.example/rpc",
    status: 500,
    body: { method: "eth_estimateUserOperationGas" },
    details: JSON.stringify({ message: "HTTP request failed.\n\nStatus: 503\nURL: http://node:8545\nRequest body: {\"method\":\"eth_call\"}\n\nDetails: Service Unavailable" }),
  })

for (const [name, error] of Object.entries({ binarySearch: outage, upstream503: outageTransport })) {
  test(`rr11t T2 (was FAILS TODAY, fixed f11za) (${name}): the bundler's upstream node down for 3 blocks (Alto's HTTP 500 + JSON body) is alerted as the plan's failure (send-failed, no rpc-error) and isolated with extra sends each block`, async () => {
    const base = refusingSender(() => false, { thrown: (_plan, block) => (block <= 102n ? error() : undefined) })
    const { alerts } = await runPairSteps(C, I, 6, base)
    console.log("T2", name, base.sent.join(" | "), "||", base.landed.join(" | "), "||", alerts.join(" | "))
    // Held today: no sub-account blamed, the first block after the outage rescues both in one operation.
    expect(alerts.filter((a) => /nothing-to-send/.test(a) && (a.endsWith(" C") || a.endsWith(" I")))).toEqual([])
    expect(base.landed[0]).toBe("103 c1,b1")
    // FAILS TODAY: the outage is alerted as the node's (rpc-error) and the bundler is sent one plan per block, no probes.
    expect(alerts.filter((a) => /^10[0-2] /.test(a)).every((a) => /rpc-error/.test(a))).toBe(true)
    expect(base.sent.filter((s) => /^10[0-2] /.test(s))).toEqual(["100 c1,b1", "101 c1,b1", "102 c1,b1"])
  }, 60_000)
}

// T2-b: the HTTP status that cannot be the plan's (429 Too Many Requests, 503 Service Unavailable) is ignored as soon as
// the reply has a JSON-RPC error body whose code is not in TRANSIENT_RPC_CODES (providers answer rate limits with
// -32000 / -32603 / no code as well as -32005 / 429). Before f11y such a reply was the node's; now it is the plan's,
// isolated with more requests to the endpoint that is throttling the keeper.
test("rr11t T2-b (was FAILS TODAY, fixed f11za): an HTTP 429 / 503 with a JSON-RPC error body of a non-transient code is judged the plan's", async () => {
  const { isNodeFailure } = await import("./errors.js")
  const http = (status: number, details: string) => new HttpRequestError({ url: "https://bundler.example/rpc", status, body: { method: "eth_estimateUserOperationGas" }, details })
  expect(isNodeFailure(http(429, JSON.stringify({ code: -32000, message: "Too many requests, please slow down" })))).toBe(true)
  expect(isNodeFailure(http(429, JSON.stringify({ message: "rate limit exceeded" })))).toBe(true)
  expect(isNodeFailure(http(503, JSON.stringify({ code: -32603, message: "upstream unavailable" })))).toBe(true)
  // f11za: 502 / 504 alike, even with a validation code; a 500 is the plan's only for a known deterministic answer
  // (ERC-7769 code, an AA code, Alto's undecodable simulation), else the node's.
  expect(isNodeFailure(http(502, JSON.stringify({ code: -32500, message: "AA21 didn't pay prefund" })))).toBe(true)
  expect(isNodeFailure(http(504, JSON.stringify({ message: "gateway timeout" })))).toBe(true)
  expect(isNodeFailure(http(500, JSON.stringify({ code: -32500, message: "UserOperation reverted during simulation with reason: AA21 didn't pay prefund" })))).toBe(false)
  expect(isNodeFailure(http(500, JSON.stringify({ code: -32602, message: "invalid params" })))).toBe(false)
  expect(isNodeFailure(http(500, JSON.stringify({ message: "AA23 reverted (or OOG)" })))).toBe(false)
  expect(isNodeFailure(http(500, JSON.stringify({ message: "Unknown error, could not parse simulate validation result." })))).toBe(false)
  expect(isNodeFailure(http(500, JSON.stringify({ message: "Error in performBinarySearch" })))).toBe(true)
  expect(isNodeFailure(http(500, JSON.stringify({ code: -32603, message: "internal error" })))).toBe(true)
  // A JSON-RPC error body in a 4xx other than 408 / 429 is still judged by its code only (the plan's unless transient).
  expect(isNodeFailure(http(400, JSON.stringify({ code: -32000, message: "bad request" })))).toBe(false)
})
