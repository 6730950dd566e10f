import type { Hex } from "viem"
import { expect, test } from "vitest"
import { ValueLossExceededError } from "@levpilot/sdk/errors"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import { SAFE, STEP_RISK, USDC, stepHarness, stepSafeState, stepSub } from "./testing.js"

// Review rr11k, what held: a non-fee sub-account (N, idle-funded) in a plan with two fee-pool sub-accounts (A, B; pool
// totals unread) stays in every probe: the module refuses any plan with A (its vault pays its fee out), accepts B.
const N = `0x${"0e".repeat(32)}` as Hex
const A = `0x${"a1".repeat(32)}` as Hex
const B = `0x${"b1".repeat(32)}` as Hex
const QA = "0x00000000000000000000000000000000000000e1"
const QB = "0x00000000000000000000000000000000000000e2"
const WAD = 10n ** 18n

test("rr11k held: N stays in every probe and is sent with B in the block; A alone alerted", async () => {
  const sent: string[] = []
  const sender = {
    send: async (_rt: unknown, b: bigint, plan: ChainPlan) => {
      sent.push(`${b} ${plan.subAccounts.map((id) => id.slice(2, 4)).join(",")}`)
      if (plan.subAccounts.some((id) => id.toLowerCase() === A)) throw new ValueLossExceededError({ loss: 2_000n * WAD, moved: 50_000n * WAD, maxLossBps: 300n })
    },
  }
  const { step, events } = stepHarness(undefined, { sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  const state = stepSafeState([stepSub(N, USDC, 1.01, "below"), stepSub(A, USDC, 1.02, "below", [QA]), stepSub(B, USDC, 1.04, "below", [QB])])
  const held = { ...state, tokens: state.tokens.map((t) => (t.token === USDC ? { ...t, balance: 50_000n * WAD } : t)), pools: [QA, QB].map((pool) => ({ pool, asset: USDC, assets: 10n ** 6n * WAD, maxWithdraw: 10n ** 6n * WAD })) }
  const snapshot = portfolioOf(held as never, { blockNumber: 100n, timestamp: 1_700_000_000n, risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
  snapshot.poolTotals = undefined
  await step.run(rt, 100n, { snapshot })
  const alerts = events.flatMap((e) => (e.type === "alert" ? [`${e.kind} ${e.message.includes(A) ? "A" : e.message.includes(B) ? "B" : e.message.includes(N) ? "N" : "?"}`] : []))
  expect(sent).toEqual(["100 0e,a1,b1", "100 0e,a1", "100 0e,b1"])
  expect(alerts).toEqual(["nothing-to-send A"])
  expect(rt.backoffUntil).toBe(0)
})
