import { PaymasterRefusedError } from "@levpilot/sdk/errors"
import { type Hex, RpcRequestError } from "viem"
import { expect, test } from "vitest"
import { refusingSender, runPairSteps } from "./testing.js"

// Review rr11t T1 (break-it of f11y's `narrow`, rr11s S1's fix): a plan refused Safe-wide for a cause that grows with its
// size is narrowed to its most urgent prefixes only (ceil(n/2), ceil(n/4), ..., 1). When the most urgent sub-account is
// the one whose action is too big to fit alone (its rescue needs a flash-loan/swap path of much more gas than a plain
// repay from idle, so its prefund (AA21) or a sponsor's per-operation cap is exceeded by it alone) while the next one
// fits alone, the narrowing ends at "even a plan of one does not fit" and the step ends: the sub-account that fits is
// never tried, at any block (the same most urgent one heads every step). Fixture: C (USDC 1.01, most urgent) and I
// (1.02) both due; every plan holding C is refused AA21; I alone is accepted.
const C = `0x${"c1".repeat(32)}` as Hex
const I = `0x${"b1".repeat(32)}` as Hex
const c = C.toLowerCase()
const aa21 = () => new RpcRequestError({ url: "https://bundler.example/rpc", body: { method: "eth_estimateUserOperationGas" }, error: { code: -32500, message: "UserOperation reverted during simulation with reason: AA21 didn't pay prefund" } })

const paymasterCap = () => new PaymasterRefusedError({ reason: "sponsorship denied: userOp gas exceeds policy maximum", cause: new RpcRequestError({ url: "https://paymaster.example/rpc", body: { method: "pm_getPaymasterStubData" }, error: { code: -32603, message: "sponsorship denied: userOp gas exceeds policy maximum" } }) })

for (const [name, error] of Object.entries({ aa21, paymasterCap })) {
test(`rr11t T1 (was FAILS TODAY, fixed f11za) (${name}): the most urgent sub-account alone is too big (prefund / sponsor's per-operation cap) and the next one fits alone: I lands within 5 blocks`, async () => {
  const base = refusingSender(() => false, { thrown: (plan) => (plan.subAccounts.some((x) => x.toLowerCase() === c) ? error() : undefined) })
  const { alerts, events } = await runPairSteps(C, I, 5, base)
  console.log("T1", name, base.sent.join(" | "), "||", base.landed.join(" | "), "||", alerts.join(" | "))
  // Today: sent "100 c1,b1 | 100 c1 | 101 c1,b1 | 101 c1 | ..." , landed [], alerts send-failed "even a plan of one does not fit".
  expect(base.landed.some((s) => s.endsWith(" b1"))).toBe(true)
  // f11za: I lands in the first block, sent alone after C alone was refused; C is named as too big alone with the
  // refusal's own words, never blamed (no nothing-to-send), and tried first again at the next blocks.
  expect(base.landed[0]).toBe("100 b1")
  expect(events.some((e) => e.type === "alert" && e.block === 100n && /does not fit/.test(e.message) && e.message.includes(c) && /AA21|policy maximum/.test(e.message))).toBe(true)
  expect(alerts.some((a) => /nothing-to-send/.test(a))).toBe(false)
  expect(base.sent.filter((s) => s.startsWith("101 "))[0]).toBe("101 c1")
}, 60_000)
}
