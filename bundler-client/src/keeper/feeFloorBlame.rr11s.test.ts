import { type Hex, RpcRequestError } from "viem"
import { expect, test } from "vitest"
import { refusingSender, runPairSteps } from "./testing.js"

// Review rr11s S3 (break-it of f11w's `safeWideFailureOf`, held-out idea "a Safe-wide failure worded without a known
// code"): in a gas spike above the Safe's maxFeePerGas cap, Alto refuses every send with "maxFeePerGas must be at least
// X (current maxFeePerGas: Y)" (@pimlico/alto esm/rpc/rpcHandler.js preMempoolChecks, an RpcError, HTTP 200). The
// sender raises to the minimum within the caps, alerts gas-cap-below-market when it cannot, and throws the refusal
// (sender.ts `submit`). That refusal carries no AA code, so f11w's plan loop takes it for the plan's unnamed failure and
// isolates [C, I]: each probe of one fails alike and is BLAMED (nothing-to-send naming C and I, "its plan alone
// failed"), remembered ALONE_FACT_BLOCKS, re-tested and blamed again for the whole spike: the fee is the
// Safe's (the same for every plan of it), not any sub-account's. Fixture: C (1.01), I (1.02) due; blocks 100-105 every
// send is refused so; from 106 every plan is accepted.
const C = `0x${"c1".repeat(32)}` as Hex
const I = `0x${"b1".repeat(32)}` as Hex
const floor = () =>
  new RpcRequestError({
    url: "https://bundler.example/rpc",
    body: { method: "eth_sendUserOperation" },
    error: { code: -32602, message: "maxFeePerGas must be at least 300000000000 (current maxFeePerGas: 200000000000) - use pimlico_getUserOperationGasPrice to get the current gas price" },
  })

test("rr11s S3 (fixed): a fee floor above the Safe's cap (no AA code) in a spike blames no sub-account: no nothing-to-send naming C or I in blocks 100-105", async () => {
  const base = refusingSender(() => false, { thrown: (_plan, block) => (block <= 105n ? floor() : undefined) })
  const { alerts } = await runPairSteps(C, I, 10, base)
  console.log(base.sent.join(" | "), "||", base.landed.join(" | "), "||", alerts.join(" | "))
  // Today: "100 nothing-to-send C", "100 nothing-to-send I" (blamed alone, the chain "refuses its plan alone"), ...
  expect(alerts.filter((a) => /nothing-to-send/.test(a) && (a.endsWith(" C") || a.endsWith(" I")))).toEqual([])
}, 60_000)

test("rr11s S3 (fixed): fee and price floors worded with no AA code are Safe-wide (cause fee), a plan's own failure is not", async () => {
  const { safeWideFailureOf } = await import("./errors.js")
  const rpc = (message: string) => new RpcRequestError({ url: "https://bundler.example/rpc", body: { method: "eth_sendUserOperation" }, error: { code: -32602, message } })
  expect(safeWideFailureOf(floor())?.cause).toBe("fee")
  expect(safeWideFailureOf(floor())?.reason).toMatch(/300000000000.*200000000000/)
  for (const m of ["maxPriorityFeePerGas must be at least 1500000000", "replacement underpriced", "gas price too low", "max fee per gas less than block base fee: below the minimum"])
    expect(safeWideFailureOf(rpc(m))?.cause, m).toBe("fee")
  expect(safeWideFailureOf(rpc("UserOperation reverted during simulation with reason: 0x12345678"))).toBeUndefined()
  expect(safeWideFailureOf(rpc("execution reverted: fee on transfer token"))).toBeUndefined()
})
