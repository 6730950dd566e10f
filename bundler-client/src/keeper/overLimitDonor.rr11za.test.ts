import type { Hex } from "viem"
import { expect, test } from "vitest"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import { SAFE, STEP_RISK, USDC, stepHarness, stepSafeState, stepSub } from "./testing.js"

// Review rr11za A1 at the keeper (issue 11 item 10): the step fixture (Morpho-like sub-accounts, band [1.1, 1.5], 100
// WETH each) with NO idle USDC, n sub-accounts below their band (health 1.05 - k/1000) and one donor in its band (1.45, 10,000 WETH):
// each rescue is funded by a borrow on the donor. Up to 7 due the keeper sends one plan [donor + 7]; from 8 due the
// solver's structural-limit branch leaves out the only donor (solver.ts, "A rescue is not given up for a donor"), and
// no plan is sent at all, every block. (Fixed on branch a3.)
const id = (k: number) => `0x${(k + 1).toString(16).padStart(2, "0").repeat(32)}` as Hex
const DONOR = `0x${"dd".repeat(32)}` as Hex

/** The donor: in its band (1.45), 100x the fixture's position (10,000 WETH), so it can lend every rescue. */
const donor = () => {
  const d = stepSub(DONOR, USDC, 1.45, "inside")
  return { ...d, collateral: d.collateral * 100n, debt: d.debt * 100n }
}

async function crashSteps(n: number, blocks: number) {
  const sent: string[] = []
  const sender = { send: async (_rt: unknown, b: bigint, plan: ChainPlan) => void sent.push(`${b} ${plan.subAccounts.length}`) }
  const { step, events } = stepHarness(undefined, { sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  for (let b = 100; b < 100 + blocks; b++) {
    const state = stepSafeState([...Array.from({ length: n }, (_, k) => stepSub(id(k), USDC, 1.05 - k / 1000, "below")), donor()])
    state.tokens = state.tokens.map((t) => (t.token === USDC ? { ...t, balance: 0n } : t))
    const snapshot = portfolioOf(state as never, { blockNumber: BigInt(b), timestamp: 1_700_000_000n + 12n * BigInt(b - 100), risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
    rt.backoffUntil = 0
    await step.run(rt, BigInt(b), { snapshot })
  }
  return { sent, events: events.map((e) => `${"block" in e ? e.block : ""} ${e.type}${e.type === "alert" ? ` ${e.kind}` : ""}`) }
}

test("rr11za A1 keeper (held, reference): 7 due and one donor, no idle: one plan of 8 sub-accounts at 100", async () => {
  const { sent } = await crashSteps(7, 1)
  expect(sent).toEqual(["100 8"])
})

test("rr11za A1 keeper (was FAILS TODAY, fixed a3) (measured: 8 due + 1 donor, no idle: 0 sends in blocks 100-102; 8 rescue-infeasible alerts at 100 saying 'funds binds', none after): expected the 7 most urgent sent with the donor at 100", async () => {
  const { sent, events } = await crashSteps(8, 3)
  expect(sent, events.join("\n")).toContain("100 8")
  expect(events.filter((e) => e.endsWith("rescue-infeasible"))).toEqual([])
})
