import { type Hex, HttpRequestError } from "viem"
import { expect, test } from "vitest"
import { refusingSender, runPairSteps } from "./testing.js"

// Review rr11s S2 (break-it of f11x R1, `isTransientAnswer` / `isNodeFailure`: every HTTP 5xx is the node's). Alto (the
// bundler this repository's devnet runs, @pimlico/alto esm/rpc/server.js) answers HTTP 500 to any failure that is not
// an RpcError, e.g. its estimator's "Unknown error, could not parse simulate validation result." (an undecodable revert
// in estimation/utils.js) or "Error in performBinarySearch" (gasEstimations07.js): deterministic answers to the
// operation, the same every block. viem throws HttpRequestError (status 500) for such a reply, so the keeper takes the
// failure of the plan [C, I] for the node's: rpc-error, backoff, and the same plan next block; rr11q Q2's isolation
// (which lands I) never runs. Fixture as unnamedPlanStall.rr11q: C (1.01) breaks every plan holding it, I (1.02) is
// accepted alone; the only difference is the transport of the bundler's answer (HTTP 500 body instead of a JSON-RPC
// error in an HTTP 200 body).
const C = `0x${"c1".repeat(32)}` as Hex
const I = `0x${"b1".repeat(32)}` as Hex
const c = C.toLowerCase()

const alto500 = () =>
  new HttpRequestError({
    url: "https://bundler.example/rpc",
    status: 500,
    body: { method: "eth_estimateUserOperationGas" },
    details: JSON.stringify({ message: "Unknown error, could not parse simulate validation result." }),
  })

test("rr11s S2 (fixed): I (accepted alone) lands within 5 blocks while every plan holding C is answered HTTP 500 by the bundler (a deterministic answer, not the node's)", async () => {
  const base = refusingSender(() => false, { thrown: (plan) => (plan.subAccounts.some((x) => x.toLowerCase() === c) ? alto500() : undefined) })
  const { alerts } = await runPairSteps(C, I, 5, base)
  console.log(base.sent.join(" | "), "||", base.landed.join(" | "), "||", alerts.join(" | "))
  // Today: sent ["100 c1,b1", ..., "104 c1,b1"], landed [], alerts "10x rpc-error" every block.
  expect(alerts.length).toBeGreaterThan(0)
  expect(base.landed.some((s) => s.endsWith(" b1"))).toBe(true)
}, 60_000)

test("rr11s S2 (fixed): an HTTP 5xx is judged by its JSON-RPC error body; only one without such a body is the node's", async () => {
  const { isNodeFailure, notThePlansFailure } = await import("./errors.js")
  const http = (status: number, details: string) => new HttpRequestError({ url: "https://bundler.example/rpc", status, body: { method: "eth_estimateUserOperationGas" }, details })
  // No JSON-RPC body (a proxy's page, a status text): the node's.
  expect(isNodeFailure(http(500, "Internal Server Error"))).toBe(true)
  expect(isNodeFailure(http(502, "<html>Bad Gateway</html>"))).toBe(true)
  // A JSON-RPC error body: its code decides (a rate limit is still transient; Alto's undecodable estimation is the plan's).
  expect(isNodeFailure(http(500, JSON.stringify({ code: -32005, message: "limit exceeded" })))).toBe(true)
  expect(isNodeFailure(http(500, JSON.stringify({ message: "Unknown error, could not parse simulate validation result." })))).toBe(false)
  expect(isNodeFailure(http(500, JSON.stringify({ code: -32500, message: "AA23 reverted" })))).toBe(false)
  expect(notThePlansFailure(alto500())).toBeUndefined()
})
