import type { Hex } from "viem"
import { expect, test, vi } from "vitest"
import { ValueLossExceededError } from "@levpilot/sdk/errors"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import { DAI, SAFE, STEP_RISK, USDC, stepHarness, stepSafeState, stepSub } from "./testing.js"

// Review rr11i H3-a, the chain's side: a plan the rule book cannot decide (refused ValueLossExceeded only if its pool pays
// its fee out, review rr11h H3) and that no strict repair saves is deferred to the chain (`feeUndecided`). When the vault
// does pay its fee out, the module's simulation refuses it ValueLossExceeded, an error that names no sub-account. The
// keeper must then leave out the plan's fee-pool sub-accounts, as the rule book's refusal naming them would, and plan the
// rest again in the same block, instead of rethrowing (a send-failed alert, backoff, and the same plan next block: no
// other rescue of the Safe ever sent).
// Fixture: A (USDC, most urgent) can only be rescued through P1 (exit fee 500 bps); C (DAI) from idle DAI.
const A = `0x${"a1".repeat(32)}` as Hex
const C = `0x${"c3".repeat(32)}` as Hex
const P1 = "0x00000000000000000000000000000000000000d1"
const WAD = 10n ** 18n
vi.mock("./ruleJudge.js", () => ({
  // The rule book on A's plan: ValueLossExceeded paid out, accepted retained (every candidate of the repair too).
  snapshotRuleJudge: () => (plan: ChainPlan) =>
    plan.subAccounts.some((id) => id.toLowerCase() === `0x${"a1".repeat(32)}`) ? { ok: false, error: { name: "ValueLossExceeded", args: [2_500n * WAD, 50_000n * WAD, 300n] }, feeUndecided: true } : undefined,
}))

async function block() {
  const state = stepSafeState([stepSub(A, USDC, 1.02, "below", [P1]), stepSub(C, DAI, 1.05, "below")])
  const held = { ...state, tokens: state.tokens.map((t) => (t.token === USDC ? { ...t, balance: 0n } : t)), pools: [{ pool: P1, asset: USDC, assets: 10n ** 6n * WAD, maxWithdraw: 10n ** 6n * WAD }] }
  const snapshot = portfolioOf(held as never, { blockNumber: 100n, timestamp: 1_700_000_000n, risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
  snapshot.poolTotals = { [P1]: { asset: USDC, totalAssets: 10n ** 6n * WAD, totalSupply: 10n ** 6n * WAD, shares: 10n ** 6n * WAD, exitFeeBps: 500n } }
  const sent: ChainPlan[] = []
  // The module's simulation (the SDK's sendRebalance) refuses any plan listing A: its vault pays the fee out.
  const sender = {
    send: async (_rt: unknown, _b: bigint, plan: ChainPlan) => {
      sent.push(plan)
      if (plan.subAccounts.some((id) => id.toLowerCase() === A)) throw new ValueLossExceededError({ loss: 2_500n * WAD, moved: 50_000n * WAD, maxLossBps: 300n })
    },
  }
  const { step, events, metrics } = stepHarness(undefined, { sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  await step.run(rt, 100n, { snapshot })
  const alerts = events.flatMap((e) => (e.type === "alert" ? [[e.kind, e.message]] : []))
  return { sent: sent.map((p) => p.subAccounts.map((id) => id.toLowerCase())), alerts, rt, metrics }
}

test("rr11i H3-a: a deferred fee-undecided plan the simulation refuses ValueLossExceeded leaves A out; C's rescue is sent in the same block, no stall", async () => {
  const { sent, alerts, rt, metrics } = await block()
  // A's plan deferred (no strict repair: the only candidate left drops A, leaving nothing), simulated, refused.
  expect(sent[0]).toEqual([A])
  // Then C's DAI rescue, in the same block.
  expect(sent.slice(1)).toEqual([[C]])
  // One nothing-to-send naming A and the chain's refusal; no send-failed, no backoff.
  expect(alerts.map(([k]) => k)).toEqual(["nothing-to-send"])
  expect(alerts[0]?.[1]).toContain(A)
  expect(alerts[0]?.[1]).toContain("ValueLossExceeded")
  expect(rt.backoffUntil).toBe(0)
  expect(metrics.value("levpilot_rule_refused_blocks", { safe: SAFE })).toBe(1)
})
