import type { Hex } from "viem"
import { expect, test } from "vitest"
import { refusingSender, runPairSteps } from "./testing.js"

// Review rr11q Q2 (issue 11 items 6/9, the class f11t fixed only for probes): a plan of SEVERAL sub-accounts whose
// send fails with an error naming no sub-account and not of the loss class (the bundler's estimation answering a
// generic error because of ONE sub-account's action: an undecodable venue revert, an adapter's empty revert) is
// rethrown by the plan loop: `send-failed` naming no sub-account, backoff, and the same plan next block. f11t turns
// such a failure into a refusal only for a probe of ONE sub-account, and only after a loss-class refusal started an
// isolation; the plan loop never isolates it. Fixture: C (USDC 1.01, broken: any plan holding C fails with a bundler
// error) and I (USDC 1.02, accepted alone), both due.
const C = `0x${"c1".repeat(32)}` as Hex
const I = `0x${"b1".repeat(32)}` as Hex
const c = C.toLowerCase()

async function run(n: number) {
  const base = refusingSender(() => false, {
    thrown: (plan) => (plan.subAccounts.some((x) => x.toLowerCase() === c) ? new Error("bundler: eth_estimateUserOperationGas internal error (-32603): execution reverted") : undefined),
  })
  const { alerts } = await runPairSteps(C, I, n, base)
  return { sent: base.sent, landed: base.landed, alerts }
}

test("rr11q Q2 observed today: [C, I] fails with a generic bundler error every block: 0 operations in 20 blocks, 20 send-failed (naming the failing plan's C and I since f11u's rr11p P6-residual fix)", async () => {
  const { sent, landed, alerts } = await run(20)
  expect(landed).toEqual([])
  expect(sent).toEqual(Array.from({ length: 20 }, (_, k) => `${100 + k} c1,b1`))
  expect(alerts).toEqual(Array.from({ length: 20 }, (_, k) => `${100 + k} send-failed C I`))
}, 60_000)

test("rr11q Q2 FAILS TODAY: I (accepted alone) lands within 3 blocks while every plan holding C fails with a bundler error", async () => {
  const { landed } = await run(3)
  expect(landed.some((s) => s.endsWith(" b1"))).toBe(true)
}, 60_000)
