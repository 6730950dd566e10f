import { type Hex, HttpRequestError, InternalRpcError, RpcRequestError } from "viem"
import { expect, test } from "vitest"
import { refusingSender, runPairSteps } from "./testing.js"

// Review rr11r R1 (f11v's `isNodeFailure`, issue 11 item 9, rr11q Q1's class). f11v lists the node's failures one
// shape at a time: a transport failure (HTTP 5xx, no status, timeout), HTTP 429, JSON-RPC -32005, ReadFailedError,
// LogReadError. viem's own http transport treats more answers as transient and retries them (`shouldRetry`: HTTP 403,
// 408, 413, 429, 5xx; JSON-RPC -1, -32005, -32603). The keeper's bundler and paymaster transports run with
// `retryCount: 0` (clients.ts), so such an answer reaches the step at once. In a one-sub-account probe it is taken as
// that sub-account's refusal alone: blamed, remembered for REFUSED_ALONE_MEMORY_BLOCKS, alerted `nothing-to-send`
// ("refused alone"), while a less urgent rescue is sent. Same fixture as rr11q Q1: C (USDC 1.01, most urgent) and I
// (USDC 1.02) both due; [C, I] refused plan-wide (loss class); I's operations land without effect (it stays due); at
// block 100 only the probe [C] fails with the held-out shape; from 101 C alone is accepted.
const C = `0x${"c1".repeat(32)}` as Hex
const I = `0x${"b1".repeat(32)}` as Hex
const c = C.toLowerCase()
const i = I.toLowerCase()

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

async function run(n: number, error: () => Error) {
  const base = refusingSender(
    (plan) => {
      const ids = plan.subAccounts.map((x) => x.toLowerCase())
      return ids.includes(c) && ids.includes(i)
    },
    {
      rescued: (id) => id !== i,
      thrown: (plan, block) => (block === 100n && plan.subAccounts.length === 1 && plan.subAccounts[0]?.toLowerCase() === c ? error() : undefined),
    },
  )
  const { alerts } = await runPairSteps(C, I, n, base)
  const cLanded = base.landed.find((s) => s.endsWith(" c1"))
  return { sent: base.sent, landed: base.landed, alerts, cLanded: cLanded === undefined ? undefined : Number(cLanded.split(" ")[0]) }
}

for (const [name, error] of Object.entries(heldOut)) {
  test(`rr11r R1 observed today (${name}): C's probe failing with a transient answer at block 100 blames C (nothing-to-send naming C, no rpc-error); C lands at 104`, async () => {
    const { alerts, cLanded, sent } = await run(8, error)
    console.log(name, sent.join(" | "), "||", alerts.join(" | "))
    expect(cLanded).toBe(104)
    expect(alerts.some((a) => a.startsWith("100 nothing-to-send C"))).toBe(true)
    expect(alerts).not.toContain("100 rpc-error")
  }, 60_000)

  test.skip(`rr11r R1 FAILS TODAY (${name}): a transient answer in C's probe is the node's (rpc-error, no blame): C lands at 101`, async () => {
    const { alerts, cLanded } = await run(8, error)
    expect(cLanded).toBe(101)
    expect(alerts.some((a) => a.startsWith("100 nothing-to-send"))).toBe(false)
  }, 60_000)
}

// The InternalRpcError (-32603) shape is left out of the twin: bundlers also answer -32603 for a plan's own revert
// (rr11q Q2), so it is ambiguous; it is logged here only.
void InternalRpcError
