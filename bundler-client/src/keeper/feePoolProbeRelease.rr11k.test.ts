import type { Hex } from "viem"
import { expect, test, vi } from "vitest"
import { checkRebalanceRules } from "@levpilot/sdk/rules"
import { ValueLossExceededError } from "@levpilot/sdk/errors"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { type ChainBounds, type PlanFunding, clampPlanToChainBounds } from "./chainBounds.js"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import { SAFE, STEP_RISK, USDC, judgePolicy, judgeState, stepHarness, stepSafeState, stepSub, unusedEpoch } from "./testing.js"

// Review rr11k K2 (break-it of f11n's J1 fix): the fee-pool probe holds B out and tries A (the most urgent) alone. When
// A's plan alone is refused by the KEEPER's judge plan-wide (naming no sub-account, so A is not left out) nothing is sent,
// and `solveAndSend` then releases the next held one (`held.shift()`) while A stays in play: the next attempt re-forms the
// very plan [A, B] the chain just refused, re-simulates it, holds B again, ... until FEE_POOL_PROBES_PER_STEP refusals,
// when A and B are both left out. B, whose plan the module accepts alone, is never tried alone: J1's outcome, after four
// simulations of the same refused plan instead of one.
// Figures (the real judge + clamp, and the rule book as the module): A and B rescue 1.29 -> 1.61 (band [1.4, 2], target
// 1.6) with WithdrawFromPool(400) + Repay(400), nothing idle, maxLossBps 200. P1 (A's) and P2 (B's) charge a 500 bps exit
// fee; the Safe holds 700 of P1's 1,000 shares and 999 of P2's. P1 pays its fee out, P2 keeps it.
// - judge: [A, B] deferred (feeUndecided: retained, the loss over 800 moved fits 200 bps); [A] alone refused
//   ValueLossExceeded plan-wide even retained (its retained loss over 400 does not fit); [B] alone deferred.
// - module: [A, B] refused ValueLossExceeded, [A] refused, [B] accepted.
const LOAN = judgeState.loanToken
const COLL = judgeState.collateralToken
const P1 = "0x00000000000000000000000000000000000000d1"
const P2 = "0x00000000000000000000000000000000000000d2"
const A = `0x${"aa".repeat(32)}` as const
const B = `0x${"bb".repeat(32)}` as const
const WAD = 10n ** 18n
const pool = (shares: bigint) => ({ asset: LOAN, totalAssets: 1_000n * WAD, totalSupply: 1_000n * WAD, shares: shares * WAD, exitFeeBps: 500n })
const snapshot = {
  timestamp: 1_700_000_000,
  chain: [
    { ...judgeState, subAccount: A, policy: judgePolicy(A, [P1], 200), epochUsage: unusedEpoch, band: "below" },
    { ...judgeState, subAccount: B, policy: judgePolicy(B, [P2], 200), epochUsage: unusedEpoch, band: "below" },
  ] as never,
  poolTotals: { [P1]: pool(700n), [P2]: pool(999n) } as never,
}
const sub = { debt: 2_000n * WAD, collateral: WAD, loanToken: LOAN, collateralToken: COLL, due: true }
const bounds: ChainBounds = {
  balances: { [LOAN.toLowerCase()]: 0n, [COLL.toLowerCase()]: 0n },
  maxWithdraw: { [P1]: 900n * WAD, [P2]: 900n * WAD },
  poolAsset: { [P1]: LOAN, [P2]: LOAN },
  subAccounts: { [A]: sub, [B]: sub },
}
const plan: ChainPlan = {
  subAccounts: [A, B],
  actions: [
    { kind: "WithdrawFromPool", subAccount: 0, pool: P1, amount: 400n * WAD },
    { kind: "Repay", subAccount: 0, amount: 400n * WAD },
    { kind: "WithdrawFromPool", subAccount: 1, pool: P2, amount: 400n * WAD },
    { kind: "Repay", subAccount: 1, amount: 400n * WAD },
  ],
}
const alone = (id: Hex, acts: ChainPlan["actions"]): ChainPlan => ({ subAccounts: [id], actions: acts.map((a) => ({ ...a, subAccount: 0 })) })
const moduleVerdict = (p: ChainPlan) =>
  checkRebalanceRules({
    plan: { subAccounts: p.subAccounts, actions: p.actions.map((a) => ({ kind: a.kind, subAccount: a.subAccount, pool: a.pool, amount: a.amount })) },
    subAccounts: (snapshot.chain as never as { subAccount: Hex; policy: object; epochUsage: object }[])
      .filter((s) => p.subAccounts.includes(s.subAccount))
      .map((s) => ({ id: s.subAccount, policy: { ...s.policy, priceFeed: "0x0000000000000000000000000000000000000000" }, state: s, usage: s.epochUsage })) as never,
    pools: [
      { address: P1, ...pool(700n), feeRetained: false },
      { address: P2, ...pool(999n), feeRetained: true },
    ] as never,
    balances: bounds.balances,
    swapAdapter: "0x0000000000000000000000000000000000000000",
    timestamp: 1_700_000_000n,
    gasUsed: 0n,
  })

test("rr11k K2 figures: the keeper's clamp defers [A, B] and B, refuses A alone plan-wide; the module refuses [A, B] and A, accepts B", async () => {
  const { snapshotRuleJudge } = await vi.importActual<typeof import("./ruleJudge.js")>("./ruleJudge.js")
  const judge = snapshotRuleJudge(snapshot, bounds)
  const both = clampPlanToChainBounds(plan, bounds, { idle: [undefined, 0n, undefined, 0n] } as PlanFunding, { judge })
  expect(both.plan?.subAccounts).toEqual([A, B])
  expect(both.feeUndecided?.name).toBe("ValueLossExceeded")
  const a = clampPlanToChainBounds(alone(A, plan.actions.slice(0, 2)), bounds, { idle: [undefined, 0n] } as PlanFunding, { judge })
  expect(a.plan).toBeUndefined()
  expect(a.feeUndecided).toBeUndefined()
  expect(a.refusal?.name).toBe("ValueLossExceeded")
  expect((a.refusal as { subAccount?: unknown } | undefined)?.subAccount).toBeUndefined()
  const b = clampPlanToChainBounds(alone(B, plan.actions.slice(2)), bounds, { idle: [undefined, 0n] } as PlanFunding, { judge })
  expect(b.plan?.subAccounts).toEqual([B])
  expect(b.feeUndecided?.name).toBe("ValueLossExceeded")
  expect(moduleVerdict(plan).ok).toBe(false)
  expect(moduleVerdict(alone(A, plan.actions.slice(0, 2))).ok).toBe(false)
  expect(moduleVerdict(alone(B, plan.actions.slice(2))).ok).toBe(true)
})

// The keeper's step on the same shape (the J1 fixture's: A and B USDC rescues out of fee pools Q1, Q2, nothing idle), the
// judge stubbed to the verdicts above, the sender standing for the simulation (any plan listing A refused).
vi.mock("./ruleJudge.js", async (importOriginal) => ({
  ...(await importOriginal<typeof import("./ruleJudge.js")>()),
  snapshotRuleJudge: () => (p: ChainPlan) => {
    const ids = p.subAccounts.map((id) => id.toLowerCase())
    if (ids.length === 1 && ids[0] === SA) return { ok: false, error: { name: "ValueLossExceeded", args: [20n * WAD, 400n * WAD, 200n] } }
    return ids.some((id) => [SA, SB].includes(id)) ? { ok: false, error: { name: "ValueLossExceeded", args: [40n * WAD, 800n * WAD, 200n] }, feeUndecided: true } : undefined
  },
}))
const SA = `0x${"a1".repeat(32)}`
const SB = `0x${"b1".repeat(32)}`
const Q1 = "0x00000000000000000000000000000000000000e1"
const Q2 = "0x00000000000000000000000000000000000000e2"

async function blocks(n: number) {
  const sent: string[] = []
  const { step, events } = stepHarness(undefined, {
    sender: {
      send: async (_rt: unknown, b: bigint, p: ChainPlan) => {
        sent.push(`${b} ${p.subAccounts.map((id) => id.slice(2, 4)).join(",")}`)
        if (p.subAccounts.some((id) => id.toLowerCase() === SA)) throw new ValueLossExceededError({ loss: 20n * WAD, moved: 800n * WAD, maxLossBps: 200n })
      },
    },
  })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  for (let k = 0; k < n; k++) {
    const state = stepSafeState([stepSub(SA as Hex, USDC, 1.02, "below", [Q1]), stepSub(SB as Hex, USDC, 1.04, "below", [Q2])])
    const held = { ...state, tokens: state.tokens.map((t) => (t.token === USDC ? { ...t, balance: 0n } : t)), pools: [Q1, Q2].map((q) => ({ pool: q, asset: USDC, assets: 10n ** 6n * WAD, maxWithdraw: 10n ** 6n * WAD })) }
    const snap = portfolioOf(held as never, { blockNumber: 100n + BigInt(k), timestamp: 1_700_000_000n + 12n * BigInt(k), risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
    snap.poolTotals = Object.fromEntries([Q1, Q2].map((q) => [q, { asset: USDC, totalAssets: 10n ** 6n * WAD, totalSupply: 10n ** 6n * WAD, shares: 10n ** 6n * WAD, exitFeeBps: 500n }])) as never
    await step.run(rt, 100n + BigInt(k), { snapshot: snap })
  }
  const alerts = events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind} ${e.message.includes(SB) ? "B" : e.message.includes(SA) ? "A" : "plan"}`] : []))
  return { sent, alerts, backoff: rt.backoffUntil }
}

// Observed before f11p (f11n's probing): per block [A, B] sent 4 times (A alone refused by the judge plan-wide sent
// nothing and B was released with A), B never tried alone; alerts "plan" (`*|a1`), then A and B at the bound.
// Fixed (f11p): A's plan alone refused by the rule book is A's own refusal (blamed; its `*|a1` run is the only alert);
// B sent alone; from block 101, A (refused alone) is tried last: [A, B], then [B].
test("rr11k K2 fixed: [A, B] simulated once per block, B sent; only A's plan-wide judge refusal alerted", async () => {
  const { sent, alerts, backoff } = await blocks(2)
  // f11q (review rr11m M5): from block 101 A, remembered, is left out up front: [B] alone (was [A, B] then [B]).
  expect(sent).toEqual(["100 a1,b1", "100 b1", "101 b1"])
  expect(alerts).toEqual(["100 nothing-to-send plan"])
  expect(backoff).toBe(0)
})

// FAILS TODAY: when the most urgent fee-pool sub-account tried alone yields nothing to send, the next held one should be
// tried WITHOUT it (as when it is refused by the chain), not re-formed into the refused plan: B sent in the block.
// Was FAILS TODAY (un-skipped by f11p).
test("rr11k K2 FAILS TODAY: B, accepted alone, is sent in the block; [A, B] simulated once", async () => {
  const { sent } = await blocks(1)
  expect(sent.filter((s) => s === "100 a1,b1")).toHaveLength(1)
  expect(sent).toContain("100 b1")
})
