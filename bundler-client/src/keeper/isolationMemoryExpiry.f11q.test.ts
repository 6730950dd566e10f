import type { Hex } from "viem"
import { expect, test } from "vitest"
import { ValueLossExceededError } from "@levpilot/sdk/errors"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { portfolioOf } from "./portfolio.js"
import { keeperCosts } from "./safeStep.js"
import { ALONE_FACT_BLOCKS, type AloneFact, newSafeRuntime } from "./runtime.js"
import { StepIsolation } from "./stepIsolation.js"
import { SAFE, STEP_RISK, USDC, chainRuleRefused, stepHarness, stepSafeState, stepSub } from "./testing.js"

// f11q (review rr11m M4's "let memory expire"): a remembered culprit is re-tested alone only in a step that sends nothing
// else. Here an accepted plan (I) is sent in every block and never lands (the fixture keeps it below its band), so X,
// found refused alone at block 100, is never re-tested; ALONE_FACT_BLOCKS (f11r: 3, counted from the block it
// was found) after, it rejoins the plan: at block 103 [X, I] is simulated again, X isolated last (no new alert: its run
// goes on).
const X = `0x${"a1".repeat(32)}` as Hex
const I = `0x${"b1".repeat(32)}` as Hex
const WAD = 10n ** 18n

test("f11q: a remembered culprit not re-tested for ALONE_FACT_BLOCKS rejoins the plan; one alert", async () => {
  const sent: string[] = []
  const sender = {
    send: async (_rt: unknown, b: bigint, plan: ChainPlan) => {
      sent.push(`${b} ${plan.subAccounts.map((id) => id.slice(2, 4)).join(",")}`)
      if (plan.subAccounts.some((id) => id.toLowerCase() === X)) throw new ValueLossExceededError({ loss: 2_000n * WAD, moved: 50_000n * WAD, maxLossBps: 300n })
    },
  }
  const { step, events } = stepHarness(undefined, { sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  const last = 100 + Number(ALONE_FACT_BLOCKS) + 1
  for (let b = 100; b <= last; b++) {
    const snapshot = portfolioOf(stepSafeState([stepSub(X, USDC, 1.01, "below"), stepSub(I, USDC, 1.04, "below")]) as never, { blockNumber: BigInt(b), timestamp: 1_700_000_000n + 12n * BigInt(b - 100), risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
    rt.backoffUntil = 0
    await step.run(rt, BigInt(b), { snapshot })
  }
  const expiry = 100 + Number(ALONE_FACT_BLOCKS)
  expect(sent.filter((s) => s.startsWith("100 "))).toEqual(["100 a1,b1", "100 a1", "100 b1"])
  for (let b = 101; b < expiry; b++) expect(sent.filter((s) => s.startsWith(`${b} `))).toEqual([`${b} b1`])
  // f11r (review rr11n N3/N5): the expiry counts from the block X was found, 3 blocks; X rejoins [X, I], refused, and
  // is isolated LAST: [I] accepted and sent, X remembered again under its run (was: [X, I], [X], [I]).
  expect(sent.filter((s) => s.startsWith(`${expiry} `))).toEqual([`${expiry} a1,b1`, `${expiry} b1`])
  // f11s (review rr11o O6): X, left behind [I] without a test alone, is owed one: tested alone first in the next block
  // (refused: blamed again, no new alert), then [I] sent (was: [I] only).
  expect(sent.filter((s) => s.startsWith(`${last} `))).toEqual([`${last} a1`, `${last} b1`])
  expect(events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}`] : []))).toEqual(["100 nothing-to-send"])
  expect(chainRuleRefused(rt)).toEqual([X])
})

test("f11q: StepIsolation shares the budget left between the plans still to come and rotates the re-tests", () => {
  const s = new StepIsolation()
  s.spent = 1
  expect(s.share(1)).toBe(7)
  expect(s.share(2)).toBe(4)
  expect(s.share(0)).toBe(7)
  s.spent = 9
  expect(s.share(1)).toBe(0)
  // `chain-rule` entries of the alone table; `seen`: the block last tested alone.
  const entry = (seen: bigint, key: string): AloneFact => ({ verdict: "refused", cause: "chain-rule", block: 1n, seen, reason: "", key })
  const memory = new Map([
    ["a", entry(5n, "a")],
    ["b", entry(3n, "b")],
    ["c", entry(3n, "c")],
  ])
  // Oldest test first; ties: the first candidate (most urgent first).
  expect(StepIsolation.nextRetest(memory, ["a", "c", "b"])).toBe("c")
  expect(StepIsolation.nextRetest(memory, ["a"])).toBe("a")
  expect(StepIsolation.nextRetest(memory, ["z"])).toBeUndefined()
  expect(s.canRetest()).toBe(true)
  s.retests = 1
  expect(s.canRetest()).toBe(false)
})
