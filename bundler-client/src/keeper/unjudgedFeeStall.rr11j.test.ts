import type { Hex } from "viem"
import { expect, test } from "vitest"
import { ValueLossExceededError } from "@levpilot/sdk/errors"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { portfolioOf } from "./portfolio.js"
import { snapshotRuleJudge } from "./ruleJudge.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import { DAI, SAFE, STEP_RISK, USDC, stepHarness, stepSafeState, stepSub } from "./testing.js"

// Review rr11j J2 (break-it of f11k's H3-a fix): the fee-pool exclusion after a plan-wide simulation refusal runs only
// when the KEEPER's judge deferred the plan (`attempt.feeUndecided`). Plans the judge does not judge at all (it returns
// undefined: an Aave v3 sub-account, a swap or callback action, a pool whose totals the snapshot did not read, e.g. the
// fleet's `readPoolTotals` failing) go to the SDK, whose `validateRebalance` is now fee-lenient (accepts `feeUndecided`)
// and whose simulation then refuses ValueLossExceeded when the vault pays its fee out. That refusal names no sub-account,
// so `solveAndSend` rethrows: a `send-failed` alert, backoff, and the same plan first again at the next step. Every other
// rescue of the Safe (here C, another loan asset, idle-funded) is stalled: the H3-a stall, on the unjudged path.
// No mock of the judge here: the real `snapshotRuleJudge` on a snapshot without pool totals.
const A = `0x${"a1".repeat(32)}` as Hex
const C = `0x${"c3".repeat(32)}` as Hex
const P1 = "0x00000000000000000000000000000000000000d1"
const WAD = 10n ** 18n

async function blocks(n: number) {
  const sent: string[] = []
  const sender = {
    // The SDK's sendRebalance: fee-lenient validation passes A's plan (feeUndecided), the simulation refuses it: its
    // vault pays the 5 % exit fee out.
    send: async (_rt: unknown, b: bigint, plan: ChainPlan) => {
      sent.push(`${b} ${plan.subAccounts.map((id) => id.slice(2, 4)).join(",")}`)
      if (plan.subAccounts.some((id) => id.toLowerCase() === A)) throw new ValueLossExceededError({ loss: 2_500n * WAD, moved: 50_000n * WAD, maxLossBps: 300n })
    },
  }
  const { step, events } = stepHarness(undefined, { sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  const judged: unknown[] = []
  const backedOff: boolean[] = []
  for (let k = 0; k < n; k++) {
    const state = stepSafeState([stepSub(A, USDC, 1.02, "below", [P1]), stepSub(C, DAI, 1.05, "below")])
    const held = { ...state, tokens: state.tokens.map((t) => (t.token === USDC ? { ...t, balance: 0n } : t)), pools: [{ pool: P1, asset: USDC, assets: 10n ** 6n * WAD, maxWithdraw: 10n ** 6n * WAD }] }
    const snapshot = portfolioOf(held as never, { blockNumber: 100n + BigInt(k), timestamp: 1_700_000_000n + 12n * BigInt(k), risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
    // No pool totals read (what the fleet's snapshot carries when readPoolTotals fails): the judge cannot judge A's plan.
    snapshot.poolTotals = undefined
    judged.push(snapshotRuleJudge(snapshot, snapshot.bounds)({ subAccounts: [A], actions: [{ kind: "WithdrawFromPool", subAccount: 0, pool: P1, amount: WAD }, { kind: "Repay", subAccount: 0, amount: WAD }] }))
    rt.backoffUntil = 0 // let every block run; whether the step backed off is recorded below
    await step.run(rt, 100n + BigInt(k), { snapshot })
    backedOff.push(rt.backoffUntil !== 0)
  }
  const alerts = events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}`] : []))
  return { sent, alerts, judged, backedOff }
}

// Observed before f11n (main at 9fb7dec): sent ["100 a1", "101 a1", "102 a1"], a send-failed alert and a backoff in
// every block, C never sent. Fixed (f11n): a loss-class plan-wide refusal leaves out the plan's fee-pool sub-accounts
// (a pool whose totals were not read counts) whether or not the keeper's judge deferred the plan.
test("rr11j J2 (fixed, f11n): A left out in every block with one nothing-to-send alert, C sent, no backoff", async () => {
  const { sent, alerts, judged, backedOff } = await blocks(3)
  expect(judged).toEqual([undefined, undefined, undefined])
  // f11q (review rr11m M5): from block 101 A, remembered as refused alone, is left out up front: [C] alone (was [A]
  // then [C]); its run goes on (one alert).
  expect(sent).toEqual(["100 a1", "100 c3", "101 c3", "102 c3"])
  expect(alerts).toEqual(["100 nothing-to-send"])
  expect(backedOff).toEqual([false, false, false])
})

// Was FAILS TODAY (rr11j): a plan-wide module refusal (ValueLossExceeded, ...) of a plan with fee-pool sub-accounts should leave those
// out and re-plan the rest whether or not the keeper's own judge deferred it (the SDK defers it too), so C is sent.
test("rr11j J2 (fixed, f11n): C's rescue is sent in the same block as A's refused unjudged plan", async () => {
  const { sent } = await blocks(1)
  expect(sent).toEqual(["100 a1", "100 c3"])
})
