import type { Hex } from "viem"
import { describe, expect, test } from "vitest"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import { DAI, PARK, SAFE, STEP_RISK, USDC, stepHarness, stepSafeState, stepSub } from "./testing.js"

// Review rev11 (issue 11 item 10, "most urgent first"; "the keeper acts when it matters"): a Safe with sub-accounts on
// two loan assets gets one plan per asset (`solveByLoanAsset`), and at most one operation at a time. The keeper must
// send the plan of the asset whose sub-account is in danger, not the first asset's plan in the policies' order.

const BOOSTED = `0x${"b0".repeat(32)}` as Hex
const FALLING = `0x${"d0".repeat(32)}` as Hex

describe("a Safe on two loan assets: the plan sent is the urgent one", () => {
  test("a USDC boost listed first does not take the operation while the DAI sub-account is below its band", async () => {
    // Idle DAI and USDC: the DAI rescue is a plain idle repay, the USDC boost a borrow parked in a pool.
    const state = stepSafeState([stepSub(BOOSTED, USDC, 2.0, "above", [PARK]), stepSub(FALLING, DAI, 1.02, "below")])
    expect(await sentFor(state)).toContain(FALLING)
  })

  test("two rescues on two loan assets: the one nearer liquidation goes first, whatever the policies' order", async () => {
    const MILD = `0x${"a0".repeat(32)}` as Hex
    expect(await sentFor(stepSafeState([stepSub(MILD, USDC, 1.08, "below"), stepSub(FALLING, DAI, 1.01, "below")]))).toEqual([FALLING])
    expect(await sentFor(stepSafeState([stepSub(FALLING, DAI, 1.01, "below"), stepSub(MILD, USDC, 1.08, "below")]))).toEqual([FALLING])
  })
})

/** The sub-accounts of the plan the keeper sends (dry run) for `state`. */
async function sentFor(state: ReturnType<typeof stepSafeState>) {
  const snapshot = portfolioOf(state as never, { blockNumber: 100n, timestamp: 1_700_000_000n, risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
  const { step, events } = stepHarness()
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  await step.run(rt, 100n, { snapshot })
  const plan = events.find((e) => e.type === "plan")
  expect(events.filter((e) => e.type === "alert")).toEqual([])
  return plan && plan.type === "plan" ? plan.plan.subAccounts : undefined
}
