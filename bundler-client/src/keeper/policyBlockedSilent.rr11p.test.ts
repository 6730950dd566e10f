import type { Hex } from "viem"
import { expect, test } from "vitest"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { newSafeRuntime } from "./runtime.js"
import { SAFE, STEP_RISK, USDC, stepHarness, stepSafeState, stepSnapshotAt, stepSub } from "./testing.js"

// Review rr11p P4 (issue 11 item 9's class, older than f11s): a due sub-account the solver leaves out up front because
// its own policy blocks it (`WorkingPortfolio`'s `blocked`: cooling down, epoch rebalance / gas / amount cap reached)
// gets the reason "below band (...) but epoch rebalance cap 3 reached". That reason is neither "no valid plan" (the
// `no-rescue` event and the `levpilot_rescue_infeasible` gauge) nor the module's over-limit "left for the next" (f11s's
// unreached turn), and the sub-account is in no plan, so it is never ranked, never judged, never "unreached". Observed:
// X at health 1.01 (minHealth 1.1, liquidation at 1.0), its epoch's 3 rebalances spent: 10 blocks, 0 operations, 0
// events of any kind about X (no alert, no no-rescue), the infeasible gauge 0; alone or next to a sent rescue (Y).
// The keeper cannot rescue X (the module would refuse: EpochRebalanceCapExceeded), but item 9 asks for an alert whenever
// it cannot converge; the owners could raise the cap (setPolicy) or add collateral.
// Fixed (f11u): reported `no-rescue` with binding `policyCap` once per run, `levpilot_rescue_infeasible` at 1 meanwhile.
const X = `0x${"e1".repeat(32)}` as Hex
const Y = `0x${"b1".repeat(32)}` as Hex

async function run(n: number, withY: boolean) {
  const sent: string[] = []
  const sender = { send: async (_rt: unknown, b: bigint, plan: ChainPlan) => void sent.push(`${b} ${plan.subAccounts.map((x) => x.slice(2, 4)).join(",")}`) }
  const { step, events, metrics } = stepHarness(undefined, { sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  const x = stepSub(X, USDC, 1.01, "below")
  x.policy.maxRebalancesPerEpoch = 3
  x.epochUsage = { ...x.epochUsage, epoch: Math.floor(1_700_000_000 / 86_400), rebalances: 3, lastRebalance: 1_699_990_000 }
  const subs = withY ? [x, stepSub(Y, USDC, 1.02, "below")] : [x]
  for (let k = 0; k < n; k++) {
    rt.backoffUntil = 0
    await step.run(rt, 100n + BigInt(k), { snapshot: stepSnapshotAt(stepSafeState(subs), k) })
  }
  const obs = events.filter((e) => e.type === "observed").at(-1) as { result?: { outcomes: { id: string; reason: string }[] } } | undefined
  const reason = obs?.result?.outcomes.find((o) => o.id.toLowerCase() === X.toLowerCase())?.reason
  const aboutX = events.filter((e) => e.type !== "observed" && JSON.stringify(e, (_k, v) => (typeof v === "bigint" ? v.toString() : v)).toLowerCase().includes(X.toLowerCase()))
  const infeasible = metrics.value("levpilot_rescue_infeasible", { safe: SAFE, sub_account: X, venue: "morpho-blue" })
  return { sent, reason, aboutX, infeasible }
}

test("rr11p P4 fixed: a due sub-account whose epoch rebalance cap is spent is reported no-rescue (binding policyCap) once in 10 blocks, gauge 1; cleared when it recovers", async () => {
  for (const withY of [false, true]) {
    const { sent, reason, aboutX, infeasible } = await run(10, withY)
    expect(reason).toBe("below band (health 1.010 < 1.100) but epoch rebalance cap 3 reached")
    expect(sent.filter((s) => s.includes("e1"))).toEqual([])
    expect(sent).toHaveLength(withY ? 10 : 0)
    // Once per run, not every block.
    expect(aboutX.map((e) => `${(e as { block?: bigint }).block} ${e.type} ${(e as { binding?: string }).binding}`)).toEqual(["100 no-rescue policyCap", "100 alert undefined"])
    // The alert (review rr11r R3) is the rescue-infeasible kind, once per run.
    expect(aboutX.filter((e) => e.type === "alert").map((e) => (e as { kind: string }).kind)).toEqual(["rescue-infeasible"])
    expect(infeasible).toBe(1)
  }
  // Recovered (a new epoch: its cap no longer spent): the gauge goes back to 0.
  const { step, events, metrics } = stepHarness(undefined, { sender: { send: async () => undefined } })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  const x = stepSub(X, USDC, 1.01, "below")
  x.policy.maxRebalancesPerEpoch = 3
  x.epochUsage = { ...x.epochUsage, epoch: Math.floor(1_700_000_000 / 86_400), rebalances: 3, lastRebalance: 1_699_990_000 }
  await step.run(rt, 100n, { snapshot: stepSnapshotAt(stepSafeState([x]), 0) })
  expect(metrics.value("levpilot_rescue_infeasible", { safe: SAFE, sub_account: X, venue: "morpho-blue" })).toBe(1)
  const fresh = stepSub(X, USDC, 1.01, "below")
  fresh.policy.maxRebalancesPerEpoch = 3
  rt.backoffUntil = 0
  await step.run(rt, 101n, { snapshot: stepSnapshotAt(stepSafeState([fresh]), 1) })
  expect(metrics.value("levpilot_rescue_infeasible", { safe: SAFE, sub_account: X, venue: "morpho-blue" })).toBe(0)
  expect(events.filter((e) => e.type === "no-rescue").map((e) => e.block)).toEqual([100n])
}, 60_000)

test("rr11p P4 (was FAILS TODAY): a due sub-account the policy blocks from any rescue is alerted (or reported no-rescue) within 3 blocks", async () => {
  for (const withY of [false, true]) {
    const { aboutX } = await run(3, withY)
    expect(aboutX.length).toBeGreaterThan(0)
  }
}, 60_000)
