import { PaymasterRefusedError, SelfPayBudgetExceededError } from "@levpilot/sdk/errors"
import { type Hex, RpcRequestError } from "viem"
import { expect, test } from "vitest"
import { refusingSender, runPairSteps } from "./testing.js"

// Review rr11s S1 (break-it of f11w's `safeWideFailureOf`): AA21 (the Safe's prefund), the self-pay budget and a
// paymaster's refusal are classed as failures "of the whole Safe, the same for any plan of the Safe", so a plan of
// several sub-accounts failing so ends the step with no isolation. They are not the same for any plan: the prefund and
// the budget's charge are (sum of gas limits) x maxFeePerGas, and a plan of 2..8 sub-accounts has several times the
// gas limits of a plan of one; an ERC-7677 sponsor commonly caps the gas (or cost) it sponsors per operation. In the
// worst minute (gas spike, many due sub-accounts) the big plan does not fit while a plan of one would: f11w sends the
// same big plan every block and no rescue ever lands. Fixture: C (USDC 1.01) and I (USDC 1.02) both due; any plan of
// more than one sub-account fails Safe-wide; each plan of one is accepted.
const C = `0x${"c1".repeat(32)}` as Hex
const I = `0x${"b1".repeat(32)}` as Hex
const bundlerRpc = (message: string) => new RpcRequestError({ url: "https://bundler.example/rpc", body: { method: "eth_estimateUserOperationGas" }, error: { code: -32500, message } })

const sizeDependent: Record<string, () => Error> = {
  // Self-paid: the Safe's ETH covers a plan of one sub-account's prefund, not the pair's.
  aa21: () => bundlerRpc("UserOperation reverted during simulation with reason: AA21 didn't pay prefund"),
  // Self-paid: the epoch's remaining budget covers a plan of one sub-account's maximum cost, not the pair's.
  budget: () => new SelfPayBudgetExceededError({ spentWei: 9n * 10n ** 15n, costWei: 2n * 10n ** 15n, budgetWei: 10n ** 16n }),
  // Sponsored: the paymaster's policy caps the gas it sponsors per operation.
  paymasterCap: () => new PaymasterRefusedError({ reason: "sponsorship denied: userOp gas exceeds policy maximum", cause: new RpcRequestError({ url: "https://paymaster.example/rpc", body: { method: "pm_getPaymasterStubData" }, error: { code: -32603, message: "sponsorship denied: userOp gas exceeds policy maximum" } }) }),
}

async function run(n: number, error: () => Error) {
  const base = refusingSender(() => false, { thrown: (plan) => (plan.subAccounts.length > 1 ? error() : undefined) })
  const { alerts } = await runPairSteps(C, I, n, base)
  return { sent: base.sent, landed: base.landed, alerts }
}

for (const [name, error] of Object.entries(sizeDependent)) {
  test(`rr11s S1 (fixed) (${name}): a Safe-wide failure raised only by the plan of two sub-accounts (each plan of one fits) lands no rescue in 10 blocks`, async () => {
    const { sent, landed, alerts } = await run(10, error)
    console.log(name, sent.join(" | "), "||", landed.join(" | "), "||", alerts.join(" | "))
    // Was: sent = ["100 c1,b1", ..., "109 c1,b1"], landed = [] (the step ended as the Safe's failure before any narrowing).
    expect(sent.slice(0, 2)).toEqual(["100 c1,b1", "100 c1"])
    expect(landed.some((s) => s.endsWith(" c1"))).toBe(true)
    expect(landed.some((s) => s.endsWith(" b1"))).toBe(true)
    // No sub-account is blamed for the size.
    expect(alerts.filter((a) => /nothing-to-send/.test(a) && !/undecided/.test(a) && (a.endsWith(" C") || a.endsWith(" I")))).toEqual([])
  }, 60_000)
}
