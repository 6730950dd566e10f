import type { Hex } from "viem"
import { expect, test } from "vitest"
import { ValueLossExceededError } from "@levpilot/sdk/errors"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { REFUSAL_SIMULATIONS_PER_STEP, keeperCosts } from "./safeStep.js"
import { SAFE, STEP_RISK, USDC, stepHarness, stepSafeState, stepSub } from "./testing.js"

// f11n (review rr11j J1's fix): the fee-pool sub-accounts of a plan refused plan-wide are tried apart, bounded per step.
// Six USDC rescues, each through its own pool (totals unread: the judge judges none), nothing idle; the simulation
// refuses every plan ValueLossExceeded. At most REFUSAL_SIMULATIONS_PER_STEP simulations in the step (f11p), every sub-account
// left out with one nothing-to-send alert (none skipped silently), no send-failed, no backoff.
const WAD = 10n ** 18n
const ids = [1, 2, 3, 4, 5, 6].map((n) => `0x${n.toString(16).padStart(2, "0").repeat(32)}` as Hex)
const pools = ids.map((_, n) => `0x${"0".repeat(38)}e${n}`)

// f11p: the isolation (refusalIsolation) replaces the probing; its budget is REFUSAL_SIMULATIONS_PER_STEP per step. 01
// (most urgent) is found refused alone (stage simulation); the budget spent, 02..06 are left out of the block undecided
// (stage undecided, naming the budget), each alerted: none skipped silently.
test("f11n: a plan-wide refusal of six fee-pool rescues costs at most REFUSAL_SIMULATIONS_PER_STEP simulations; all six alerted", async () => {
  const sent: string[] = []
  const sender = {
    send: async (_rt: unknown, b: bigint, plan: ChainPlan) => {
      sent.push(`${b} ${plan.subAccounts.map((id) => id.slice(2, 4)).join(",")}`)
      throw new ValueLossExceededError({ loss: 2_500n * WAD, moved: 50_000n * WAD, maxLossBps: 300n })
    },
  }
  const { step, events } = stepHarness(undefined, { sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  const state = stepSafeState(ids.map((id, n) => stepSub(id, USDC, 1.0 + n / 100, "below", [pools[n] as string])))
  const held = { ...state, tokens: state.tokens.map((t) => (t.token === USDC ? { ...t, balance: 0n } : t)), pools: pools.map((pool) => ({ pool, asset: USDC, assets: 10n ** 6n * WAD, maxWithdraw: 10n ** 6n * WAD })) }
  const snapshot = portfolioOf(held as never, { blockNumber: 100n, timestamp: 1_700_000_000n, risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
  snapshot.poolTotals = undefined
  await step.run(rt, 100n, { snapshot })
  expect(sent[0]).toBe("100 01,02,03,04,05,06")
  expect(sent.length).toBe(REFUSAL_SIMULATIONS_PER_STEP)
  // f11q (review rr11m M3): after 01 is found and the rest refused again, the rest without the refused half it came from
  // ([04, 05, 06]) is tried before halving again (was [02, 03, 04], the next halving); still exact, still 8.
  expect(sent.slice(1)).toEqual(["100 01,02,03", "100 01,02,04,05,06", "100 01,02", "100 01,03,04,05,06", "100 01", "100 02,03,04,05,06", "100 04,05,06"])
  const messages = events.flatMap((e) => (e.type === "alert" ? [e.message] : []))
  expect(messages.filter((m) => m.includes("refuses plan-wide its plan alone"))).toHaveLength(1)
  expect(messages.filter((m) => m.includes("simulations are spent"))).toHaveLength(5)
  const alerts = events.flatMap((e) => (e.type === "alert" ? [`${e.kind} ${ids.findIndex((id) => e.message.includes(id)) + 1}`] : []))
  expect(alerts.sort()).toEqual(ids.map((_, n) => `nothing-to-send ${n + 1}`))
  expect(rt.backoffUntil).toBe(0)
})
