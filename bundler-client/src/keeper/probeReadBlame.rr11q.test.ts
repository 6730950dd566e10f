import { ReadFailedError } from "@levpilot/sdk/errors"
import { type Hex, HttpRequestError, RpcRequestError } from "viem"
import { expect, test } from "vitest"
import { probeFailsOnceRun } from "./testing.js"

// Review rr11q Q1 (f11t, issue 11 item 9): f11t makes a probe of ONE sub-account that fails with an error the step
// would rethrow that sub-account's refusal alone, except a transport failure (`getTransportFailure`: HTTP 5xx, no
// status, timeout). `run` itself classifies more errors as "the node's, not the plan's" (rpc-error: a ReadFailedError
// in the cause chain, a LogReadError), and an HTTP 429 (a rate-limited RPC or bundler, the crash minute's classic) is
// not a transport failure either. So ONE transient read failure during the most urgent rescue's probe blames it:
// remembered for ALONE_FACT_BLOCKS, left out of the plans up front, alerted `nothing-to-send` (stage
// `simulation`, "refused alone") while a less urgent rescue is sent. Fixture: C (USDC 1.01, most urgent) and I (USDC
// 1.02) both due; [C, I] refused plan-wide (loss class); I's operations land without effect (it stays due: rr11n N4's
// premise); at block 100 only, the probe [C] fails with a transient error; from 101 C alone is accepted.
const C = `0x${"c1".repeat(32)}` as Hex
const I = `0x${"b1".repeat(32)}` as Hex

const transient = {
  read: () => new ReadFailedError({ address: `0x${"99".repeat(20)}`, functionName: "marketState", cause: new Error("header not found") }),
  http429: () => new HttpRequestError({ url: "https://rpc.example/v1", status: 429, details: "Too Many Requests" }),
  rpc32005: () => new RpcRequestError({ url: "https://rpc.example/v1", body: { method: "eth_call" }, error: { code: -32005, message: "limit exceeded" } }),
}

/** The probe-failure fixture of testing.ts with this file's C and I. */
const run = (n: number, error: () => Error) => probeFailsOnceRun(C, I, n, error)

for (const [name, error] of Object.entries(transient)) {
  test(`rr11q Q1 fixed (${name}): a transient failure in C's probe at block 100 is the node's (rpc-error, no blame, no memory); C lands at 101 as before f11t`, async () => {
    const { alerts, cLanded } = await run(8, error)
    expect(cLanded).toBe(101)
    // Alerted as the node's failure, not as C's plan refused alone.
    expect(alerts).toContain("100 rpc-error")
    expect(alerts.some((a) => a.startsWith("100 nothing-to-send"))).toBe(false)
  }, 60_000)

  test(`rr11q Q1 FAILS TODAY (${name}): a transient failure in a probe is not C's refusal: C (accepted alone from 101) lands at 101`, async () => {
    const { cLanded } = await run(8, error)
    expect(cLanded).toBe(101)
  }, 60_000)
}
