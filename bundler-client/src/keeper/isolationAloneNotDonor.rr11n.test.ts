import type { Hex } from "viem"
import { expect, test } from "vitest"
import { ValueLossExceededError } from "@levpilot/sdk/errors"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { portfolioOf } from "./portfolio.js"
import { ALONE_FACT_BLOCKS, newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import { SAFE, STEP_RISK, USDC, chainRuleRefused, stepHarness, stepSafeState, stepSub } from "./testing.js"

// Review rr11n N5 (break-it of f11q's M4/M5 fix): a sub-account whose plan ALONE was refused is left out of every
// step's plans up front and re-tested ALONE only. But its plan alone is not the plan it is in with others: with a donor
// present the solver funds it differently (idle plus the donor's borrow; in the field: a donor's borrow instead of a
// swap deleverage whose slippage is the loss). When that alone-plan stays refused while the plan with the donor is
// accepted, the re-test refuses it every block (refreshing `tested`, so the ALONE_FACT_BLOCKS expiry never
// comes), and the accepted plan [F, C] is never built again: C is never sent while below its band. Alerted once (block
// 100) and again every RULE_REFUSAL_REALERT_BLOCKS; the alert's "its plan alone" is true, but nothing says a plan
// with its donor would land. Before f11q (f11p), a remembered culprit stayed in the plans (isolated last), so [F, C]
// was simulated and sent at block 101 (a regression of the up-front exclusion).
// Fixture: rr11m M4's C (USDC 1.02, below, 1/10 the size) and F (USDC 1.45, inside, 3x); 3,000 idle USDC. The solver
// plans C alone from idle, and with F from idle plus F's borrow. The simulation refuses every plan listing C without F
// (its alone-plan's loss), and [F, C] at block 100 only (a transient: that block's price step).
const C = `0x${"c1".repeat(32)}` as Hex
const F = `0x${"f0".repeat(32)}` as Hex
const WAD = 10n ** 18n
const scale = (s: ReturnType<typeof stepSub>, num: bigint, den: bigint) => ({ ...s, collateral: (s.collateral * num) / den, debt: (s.debt * num) / den })

async function blocks(n: number, transient = true) {
  const gone = new Set<string>()
  const sent: string[] = []
  const landed: string[] = []
  const sender = {
    send: async (_rt: unknown, b: bigint, plan: ChainPlan) => {
      const ids = plan.subAccounts.map((id) => id.slice(2, 4)).join(",")
      sent.push(`${b} ${ids}`)
      const withF = plan.subAccounts.some((id) => id.toLowerCase() === F)
      if (!withF || (transient && b === 100n)) throw new ValueLossExceededError({ loss: 200n * WAD, moved: 3_000n * WAD, maxLossBps: 300n })
      landed.push(`${b} ${ids}`)
      gone.add(C)
    },
  }
  const { step, events } = stepHarness(undefined, { sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  for (let k = 0; k < n; k++) {
    const subs = [scale(stepSub(C, USDC, 1.02, "below"), 1n, 10n), scale(stepSub(F, USDC, 1.45, "inside"), 3n, 1n)].filter((s) => !gone.has(s.subAccount.toLowerCase()))
    const state = stepSafeState(subs)
    const held = { ...state, tokens: state.tokens.map((t) => (t.token === USDC ? { ...t, balance: 3_000n * WAD } : t)) }
    const snapshot = portfolioOf(held as never, { blockNumber: 100n + BigInt(k), timestamp: 1_700_000_000n + 12n * BigInt(k), risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
    rt.backoffUntil = 0
    await step.run(rt, 100n + BigInt(k), { snapshot })
  }
  const alerts = events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}${e.message.includes(C) ? " C" : ""}`] : []))
  return { sent, landed, alerts, remembered: chainRuleRefused(rt) }
}

// Control: without the block-100 transient, [F, C] is sent at block 100.
test("rr11n N5 control: without the transient, [F, C] is sent at block 100", async () => {
  const { landed } = await blocks(1, false)
  expect(landed).toEqual(["100 f0,c1"])
})

// Fixed (f11r; "observed today" was: from 101 every block re-tested C alone (refused, refreshing its memory) and never
// built [F, C] again: 30 blocks, C never sent, still remembered): C's memory expires ALONE_FACT_BLOCKS after it
// was first found, whatever its re-tests say; blocks 101-102 re-test C alone (refused), block 103 plans C with its donor
// again: [F, C] accepted and sent, C forgotten. One alert (block 100).
test("rr11n N5 fixed: C, refused alone once, rejoins the plan with its donor 3 blocks after it was found, and is sent", async () => {
  const { sent, landed, alerts, remembered } = await blocks(30)
  expect(sent).toEqual(["100 f0,c1", "100 c1", "101 c1", "102 c1", `${100 + Number(ALONE_FACT_BLOCKS)} f0,c1`])
  expect(landed).toEqual([`${100 + Number(ALONE_FACT_BLOCKS)} f0,c1`])
  expect(alerts).toEqual(["100 nothing-to-send C"])
  expect(remembered).toEqual([])
}, 60_000)

test("rr11n N5 (was FAILS TODAY): C, whose plan with its donor is accepted from block 101, is sent within three blocks", async () => {
  const { landed } = await blocks(6)
  expect(landed[0]).toMatch(/^10[123] f0,c1$/)
}, 60_000)
