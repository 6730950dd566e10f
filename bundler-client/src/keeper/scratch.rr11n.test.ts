import type { Hex } from "viem"
import { test } from "vitest"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import { SAFE, STEP_RISK, USDC, stepHarness, stepSafeState, stepSub } from "./testing.js"
const R = `0x${"c1".repeat(32)}` as Hex
const U = `0x${"f0".repeat(32)}` as Hex
test("scratch", async () => {
  for (const subsets of [[R, U], [R], [U]]) {
    const sender = { send: async (_rt: unknown, b: bigint, plan: ChainPlan) => { console.log(String(subsets.map((x) => x.slice(2, 4))), plan.subAccounts.map((x) => x.slice(2, 4)).join(","), plan.actions.map((a) => `${a.kind}[${plan.subAccounts[a.subAccount]?.slice(2, 4)}]=${a.amount}`).join(" ")) } }
    const { step, events } = stepHarness(undefined, { sender })
    const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
    const all = [stepSub(R, USDC, 1.02, "below"), { ...stepSub(U, USDC, 1.9, "above"), collateral: 300n * 10n ** 18n, debt: stepSub(U, USDC, 1.9, "above").debt * 3n }].filter((s) => subsets.includes(s.subAccount as Hex))
    const st = stepSafeState(all); const held = { ...st, tokens: st.tokens.map((t) => (t.token === USDC ? { ...t, balance: 3_000n * 10n ** 18n } : t)) }
    const snapshot = portfolioOf(held as never, { blockNumber: 100n, timestamp: 1_700_000_000n, risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
    await step.run(rt, 100n, { snapshot })
    for (const e of events) if (e.type === "alert" || e.type === "no-rescue") console.log(e.type, (e as { kind?: string }).kind, (e as {message?: string}).message?.slice(0, 200))
  }
})
