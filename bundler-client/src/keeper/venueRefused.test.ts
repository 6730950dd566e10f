import { BaseError, type Hex, encodeErrorResult, parseAbi } from "viem"
import { describe, expect, test } from "vitest"
import { leverageModuleAbi } from "@levpilot/sdk/abis"
import { SubAccountReadError, aaveAdapterErrorsAbi, getLeverageError } from "@levpilot/sdk/errors"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import type { KeeperEvent } from "./events.js"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { failingSubAccountOf, keeperCosts } from "./safeStep.js"
import { ADAPTER, SAFE, STEP_RISK, USDC, stepHarness, stepSafeState, stepSub } from "./testing.js"

// Issue 17 review (rev17c), items 4 and 5. A venue's refusal is its own alert kind (`venue-refused`), naming the venue's
// error (an Aave account whose e-mode the owners switched: `EModeMismatch`), not `feed-broken`. And when the simulation
// of a plan over several sub-accounts fails because of one of them (the revert names its action index), the keeper
// plans the Safe again without it in the same block and alerts about it, instead of sending nothing for all of them.

const A = `0x${"a1".repeat(32)}` as Hex
const B = `0x${"b2".repeat(32)}` as Hex
const C = `0x${"c3".repeat(32)}` as Hex
const snapshotOf = (state: unknown) =>
  portfolioOf(state as never, { blockNumber: 100n, timestamp: 1_700_000_000n, risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
/** The SDK's error for a revert `ActionFailed(index, reason)` as a bundler's simulation returns it. */
const simulationFailed = (index: number, reason: Hex) =>
  getLeverageError(new BaseError("Execution reverted.", { cause: Object.assign(new BaseError("execution reverted"), { data: encodeErrorResult({ abi: leverageModuleAbi, errorName: "ActionFailed", args: [BigInt(index), reason] } as never) }) }))
const aaveCode = (code: string) => encodeErrorResult({ abi: parseAbi(["error Error(string)"]), errorName: "Error", args: [code] })

/** A sender that refuses every plan listing `refused` with `errorFor(plan)`, and records each plan it is given. */
function refusingSender(refused: Hex[], errorFor: (plan: ChainPlan, index: number) => Error) {
  const sent: ChainPlan[] = []
  const sender = {
    send: async (_rt: unknown, _block: bigint, plan: ChainPlan) => {
      sent.push(plan)
      const index = plan.actions.findIndex((a) => refused.includes(plan.subAccounts[a.subAccount] as Hex))
      if (index >= 0) throw errorFor(plan, index)
    },
  }
  return { sender, sent }
}

/** The alerts among `events` as [kind, message]. */
const alertsOf = (events: KeeperEvent[]) => events.flatMap((e) => (e.type === "alert" ? [[e.kind, e.message]] : []))

/**
 * One block (100) of the keeper's step over a Safe holding `subs`, its sender refusing every plan listing `refused`
 * with `errorFor`: the plans it was given and the alerts raised ([kind, message]).
 */
async function refusedBlock(subs: ReturnType<typeof stepSub>[], refused: Hex[], errorFor: (plan: ChainPlan, index: number) => Error) {
  const { sender, sent } = refusingSender(refused, errorFor)
  const { step, events } = stepHarness(undefined, { sender })
  await step.run(newSafeRuntime({ address: SAFE, risk: STEP_RISK }), 100n, { snapshot: snapshotOf(stepSafeState(subs)) })
  return { sent, alerts: alertsOf(events) }
}

describe("a venue's refusal is alerted as venue-refused, naming the venue's error", () => {
  test("an Aave sub-account whose read reverts with EModeMismatch: venue-refused naming EModeMismatch, not feed-broken; a broken feed stays feed-broken", async () => {
    const emode = encodeErrorResult({ abi: aaveAdapterErrorsAbi, errorName: "EModeMismatch", args: [`0x${"11".repeat(32)}`, SAFE, 1, 0n] })
    const state = { ...stepSafeState([stepSub(A, USDC, 1.3, "inside")]), unreadable: [new SubAccountReadError({ subAccount: B, adapter: ADAPTER, revertData: emode }), new SubAccountReadError({ subAccount: C, adapter: ADAPTER, revertData: "0x" })] }
    const { step, events } = stepHarness()
    await step.run(newSafeRuntime({ address: SAFE, risk: STEP_RISK }), 100n, { snapshot: snapshotOf(state) })
    const alerts = alertsOf(events)
    expect(alerts.map(([k]) => k).sort()).toEqual(["feed-broken", "venue-refused"])
    const refused = alerts.find(([k]) => k === "venue-refused")?.[1] ?? ""
    expect(refused).toContain(B)
    expect(refused).toContain("EModeMismatch")
    expect(alerts.find(([k]) => k === "feed-broken")?.[1]).toContain(C)
  })

  test("a single-sub-account plan whose simulation the venue refuses (Aave Error('29')): venue-refused naming RESERVE_PAUSED, not send-failed", async () => {
    const { sent, alerts } = await refusedBlock([stepSub(A, USDC, 1.02, "below")], [A], (_p, i) => simulationFailed(i, aaveCode("29")))
    expect(sent).toHaveLength(1)
    expect(alerts.map(([k]) => k)).toEqual(["venue-refused"])
    expect(alerts[0]?.[1]).toContain("RESERVE_PAUSED")
  })
})

describe("a plan over several sub-accounts refused because of one of them: planned again without it in the same block", () => {
  test("the venue refuses B's action (ActionFailed(index of B's action, Error('29'))): A's rescue is sent alone, one venue-refused alert names B", async () => {
    const { sent, alerts } = await refusedBlock([stepSub(A, USDC, 1.02, "below"), stepSub(B, USDC, 1.03, "below")], [B], (_p, i) => simulationFailed(i, aaveCode("29")))
    expect(sent.map((p) => p.subAccounts)).toEqual([[A, B], [A]])
    expect(alerts.map(([k]) => k)).toEqual(["venue-refused"])
    expect(alerts[0]?.[1]).toContain(B)
  })

  test("the refusal lasts: the next block sends A alone again without a second alert; once B's part passes, a new refusal alerts again", async () => {
    let refuse = true
    const sent: ChainPlan[] = []
    const sender = {
      send: async (_rt: unknown, _block: bigint, plan: ChainPlan) => {
        sent.push(plan)
        const index = plan.actions.findIndex((a) => plan.subAccounts[a.subAccount] === B)
        if (refuse && index >= 0) throw simulationFailed(index, aaveCode("29"))
      },
    }
    const { step, events } = stepHarness(undefined, { sender })
    const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
    const snapshot = () => snapshotOf(stepSafeState([stepSub(A, USDC, 1.02, "below"), stepSub(B, USDC, 1.03, "below")]))
    await step.run(rt, 100n, { snapshot: snapshot() })
    await step.run(rt, 101n, { snapshot: snapshot() })
    expect(sent.map((p) => p.subAccounts)).toEqual([[A, B], [A], [A, B], [A]])
    expect(events.filter((e) => e.type === "alert")).toHaveLength(1)
    refuse = false
    await step.run(rt, 102n, { snapshot: snapshot() })
    refuse = true
    await step.run(rt, 103n, { snapshot: snapshot() })
    expect(events.filter((e) => e.type === "alert")).toHaveLength(2)
  })

  test("Morpho Blue refuses B's action (ActionFailed(index, Error('insufficient liquidity'))): A's rescue is sent alone, one venue-refused alert names B and INSUFFICIENT_LIQUIDITY", async () => {
    const morpho = (text: string) => encodeErrorResult({ abi: parseAbi(["error Error(string)"]), errorName: "Error", args: [text] })
    const { sent, alerts } = await refusedBlock([stepSub(A, USDC, 1.02, "below"), stepSub(B, USDC, 1.03, "below")], [B], (_p, i) => simulationFailed(i, morpho("insufficient liquidity")))
    expect(sent.map((p) => p.subAccounts)).toEqual([[A, B], [A]])
    expect(alerts.map(([k]) => k)).toEqual(["venue-refused"])
    expect(alerts[0]?.[1]).toContain(B)
    expect(alerts[0]?.[1]).toContain("INSUFFICIENT_LIQUIDITY")
  })

  test("an adapter refusal raised outside any action (the Aave adapter's ReservePaused from encode: no index) is traced to the plan's only sub-account on that venue; not with two there, nor without venues", () => {
    const paused = encodeErrorResult({ abi: aaveAdapterErrorsAbi, errorName: "ReservePaused", args: [USDC] })
    const error = getLeverageError(new BaseError("Execution reverted.", { cause: Object.assign(new BaseError("execution reverted"), { data: paused }) }))
    const plan = { subAccounts: [A, B], actions: [{ kind: "Repay", subAccount: 0, amount: 1n }, { kind: "Repay", subAccount: 1, amount: 1n }] } as unknown as ChainPlan
    const venues = new Map([[A.toLowerCase(), "morpho-blue"], [B.toLowerCase(), "aave-v3"]])
    expect(failingSubAccountOf(error, plan, venues)).toEqual({ id: B.toLowerCase(), refusal: "ReservePaused" })
    expect(failingSubAccountOf(error, plan)).toBeUndefined()
    expect(failingSubAccountOf(error, plan, new Map([[A.toLowerCase(), "aave-v3"], [B.toLowerCase(), "aave-v3"]]))).toBeUndefined()
  })

  test("a module refusal naming B's action (ActionFailed with unknown data): A is sent alone, a send-failed alert names B; the failing part alone is not retried", async () => {
    const { sent, alerts } = await refusedBlock([stepSub(A, USDC, 1.02, "below"), stepSub(B, USDC, 1.03, "below")], [B], (_p, i) => simulationFailed(i, "0xdeadbeef"))
    expect(sent.map((p) => p.subAccounts)).toEqual([[A, B], [A]])
    expect(alerts.map(([k]) => k)).toEqual(["send-failed"])
    expect(alerts[0]?.[1]).toContain(B)
    // B alone refused: nothing is re-planned after a one-sub-account plan fails.
    const alone = await refusedBlock([stepSub(B, USDC, 1.03, "below")], [B], (_p, i) => simulationFailed(i, "0xdeadbeef"))
    expect(alone.sent).toHaveLength(1)
    expect(alone.alerts.map(([k]) => k)).toEqual(["send-failed"])
  })
})
