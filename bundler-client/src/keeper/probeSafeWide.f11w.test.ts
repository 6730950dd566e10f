import { PaymasterRefusedError, PaymasterValidationFailedError, PendingOperationFailedError } from "@levpilot/sdk/errors"
import { type Hex, RpcRequestError } from "viem"
import { expect, test } from "vitest"
import { refusingSender, runPairSteps } from "./testing.js"

// Issue 11 item 9 / review rr11q Q1's traced residual (SECURITY row 91): a failure that belongs to the whole Safe (its
// sponsoring paymaster refusing, AA21 the Safe cannot prefund its gas, AA3x the paymaster's validation or deposit, an
// AA25 nonce error at estimation) in an isolation probe of ONE sub-account was blamed on that sub-account: remembered for
// ALONE_FACT_BLOCKS, left out of the plans up front, and alerted "the chain's simulation refuses its plan
// alone" while the real cause is the Safe's gas, paymaster or nonce. Fixture (as probeReadBlame.rr11q): C (USDC 1.01,
// most urgent) and I (USDC 1.02) both due; [C, I] refused plan-wide (loss class) so the isolation probes [C] first; I's
// operations land without effect (it stays due); at block 100 only, the probe [C] fails with the Safe-wide error; from
// 101 C alone is accepted.
const C = `0x${"c1".repeat(32)}` as Hex
const I = `0x${"b1".repeat(32)}` as Hex
const c = C.toLowerCase()
const i = I.toLowerCase()
const bundlerRpc = (message: string, method = "eth_estimateUserOperationGas") => new RpcRequestError({ url: "https://bundler.example/rpc", body: { method }, error: { code: -32500, message } })

/** Safe-wide failures, as the SDK's `sendRebalance` (through the keeper's sender) lets them out; each with its alert kind. */
const safeWide: Record<string, { error: () => Error; kind: string }> = {
  // The ERC-7677 paymaster declining to sponsor (its policy or budget): PaymasterRefusedError (getLeverageError).
  paymasterRefused: {
    error: () => new PaymasterRefusedError({ reason: "sponsorship denied: policy budget exhausted", cause: new RpcRequestError({ url: "https://paymaster.example/rpc", body: { method: "pm_getPaymasterStubData" }, error: { code: -32603, message: "sponsorship denied: policy budget exhausted" } }) }),
    kind: "paymaster-refused",
  },
  // The Safe's own gas: a self-paid operation's prefund (its ETH balance) too low, as the bundler's estimation answers it.
  aa21: { error: () => bundlerRpc("UserOperation reverted during simulation with reason: AA21 didn't pay prefund"), kind: "send-failed" },
  // The paymaster's validation reverting (an ERC-20 paymaster without allowance): PaymasterValidationFailedError.
  aa33: { error: () => new PaymasterValidationFailedError({ reason: "ERC20InsufficientAllowance", cause: bundlerRpc("AA33 reverted: ERC20InsufficientAllowance") }), kind: "paymaster-refused" },
  // The paymaster's deposit at the EntryPoint too low (an unnamed bundler answer).
  aa31: { error: () => bundlerRpc("UserOperation reverted during simulation with reason: AA31 paymaster deposit too low"), kind: "paymaster-refused" },
  // AA25 at estimation while the nonce is unused: another pending operation of the paymaster (PendingOperationFailedError).
  aa25: { error: () => new PendingOperationFailedError({ nonce: 5n, cause: bundlerRpc("AA25 invalid account nonce") }), kind: "send-failed" },
}

async function run(n: number, error: () => Error, always = false) {
  const base = refusingSender(
    (plan) => {
      const ids = plan.subAccounts.map((x) => x.toLowerCase())
      return ids.includes(c) && ids.includes(i)
    },
    {
      rescued: (id) => id !== i,
      thrown: (plan, block) => ((always || block === 100n) && plan.subAccounts.length === 1 && plan.subAccounts[0]?.toLowerCase() === c ? error() : undefined),
    },
  )
  const { alerts, events } = await runPairSteps(C, I, n, base)
  const cLanded = base.landed.find((s) => s.endsWith(" c1"))
  const messages = events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind} ${e.message}`] : []))
  return { sent: base.sent, landed: base.landed, alerts, messages, cLanded: cLanded === undefined ? undefined : Number(cLanded.split(" ")[0]) }
}

for (const [name, { error, kind }] of Object.entries(safeWide)) {
  test(`f11w Safe-wide (${name}): a probe of C failing for the whole Safe at block 100 is the Safe's failure (alerted ${kind} naming the cause, no blame, nothing remembered); C lands at 101`, async () => {
    const { alerts, messages, cLanded } = await run(8, error)
    expect(cLanded).toBe(101)
    // Alerted once at 100 as the Safe's failure, naming the cause, not as C's plan refused alone.
    expect(alerts.filter((a) => a.startsWith("100 "))).toEqual([`100 ${kind}`])
    expect(messages.find((m) => m.startsWith("100 "))).toMatch(/Safe-wide/)
    // C is never alerted as refused (today: "100 nothing-to-send C", the chain's simulation "refuses its plan alone").
    expect(alerts.some((a) => a.startsWith("100 nothing-to-send") || a.includes("nothing-to-send C"))).toBe(false)
  }, 60_000)
}

test("f11w Safe-wide (aa21): a probe failing for the whole Safe at every block blames no sub-account: no `nothing-to-send`, one alert per block naming the cause", async () => {
  const { alerts, messages, sent } = await run(5, safeWide.aa21?.error as () => Error, true)
  expect(alerts).toEqual(Array.from({ length: 5 }, (_, k) => `${100 + k} send-failed`))
  for (const m of messages) expect(m).toContain("AA21")
  // Each block: the refused [C, I], then C's probe (the isolation ends there): no probe of I left out behind a false blame.
  expect(sent).toEqual(Array.from({ length: 5 }, (_, k) => [`${100 + k} c1,b1`, `${100 + k} c1`]).flat())
}, 60_000)

test("f11w Safe-wide (aa21, paymasterRefused), fixed by rr11s S1: a plan of several sub-accounts failing for the whole Safe for a cause that grows with its size is narrowed to its most urgent sub-account (no blame); when even that plan of one fails, one alert per block naming the cause and that a plan of one does not fit", async () => {
  for (const name of ["aa21", "paymasterRefused"]) {
    const wide = safeWide[name] as (typeof safeWide)[string]
    const base = refusingSender(() => false, { thrown: () => wide.error() })
    const { alerts, events } = await runPairSteps(C, I, 4, base)
    // Was ["100 c1,b1", "101 c1,b1", ...]: the same big plan every block. Now the plan, then C (the most urgent) alone,
    // then I alone (f11za, review rr11t T1: the most urgent one may be the one too big alone), never blamed.
    // f11zf (the alone table, review rr11x X4's class): both written refused alone at 100, so 101-103 send only the plan
    // (the whole plan is always tried first), still alerted naming both: 3, 1, 1, 1 sends (was 3 a block).
    expect(base.sent).toEqual(["100 c1,b1", "100 c1", "100 b1", "101 c1,b1", "102 c1,b1", "103 c1,b1"])
    expect(base.landed).toEqual([])
    expect(alerts.map((a) => a.split(" ").slice(0, 2).join(" "))).toEqual(Array.from({ length: 4 }, (_, k) => `${100 + k} ${wide.kind}`))
    for (const e of events)
      if (e.type === "alert") {
        expect(e.message).toMatch(/^Safe-wide failure, not any sub-account's/)
        expect(e.message).toMatch(/even a plan of one sub-account does not fit/)
        // Which ones were tried alone, each with the refusal's own words (f11za, review rr11t T1).
        expect(e.message).toMatch(/tried alone and refused: 0xc1c1[0-9a-f]* \[.+\]; 0xb1b1[0-9a-f]* \[.+\]/)
      }
  }
}, 60_000)

test("f11w Safe-wide (aa25), kept after rr11s S1: a plan of several failing on the Safe's nonce (not size-dependent) is not narrowed: no probe, no blame, one alert per block", async () => {
  const wide = safeWide.aa25 as (typeof safeWide)[string]
  const base = refusingSender(() => false, { thrown: () => wide.error() })
  const { alerts } = await runPairSteps(C, I, 4, base)
  expect(base.sent).toEqual(["100 c1,b1", "101 c1,b1", "102 c1,b1", "103 c1,b1"])
  expect(alerts.map((a) => a.split(" ").slice(0, 2).join(" "))).toEqual(Array.from({ length: 4 }, (_, k) => `${100 + k} ${wide.kind}`))
}, 60_000)
