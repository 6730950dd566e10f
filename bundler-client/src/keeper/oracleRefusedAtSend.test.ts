import { BaseError, type Hex, encodeErrorResult } from "viem"
import { describe, expect, test } from "vitest"
import { leverageModuleAbi } from "@levpilot/sdk/abis"
import { getLeverageError } from "@levpilot/sdk/errors"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import type { KeeperEvent } from "./events.js"
import { portfolioOf } from "./portfolio.js"
import { type SafeRuntime, newSafeRuntime } from "./runtime.js"
import { ORACLE_REFUSAL_ALERT_BLOCKS, keeperCosts } from "./safeStep.js"
import { SAFE, STEP_RISK, USDC, stepHarness, stepSafeState, stepSub } from "./testing.js"

// Issue 11, the residual of the feed read-ahead rule (SECURITY: "a feed stamped ahead of the chain"): a feed stamped a
// few seconds ahead of the head at every block (a forged or skewed `now + 10 s`, within FEED_READ_AHEAD_SECONDS) is
// taken off chain for the node's read race, so its sub-account is planned every block; the chain's own simulation
// refuses the plan (`OracleStale(subAccount, updatedAt, maxAge)`). That refusal is the chain's verdict on the feed: the
// sub-account is left out and the rest planned again in the same block (also when it was the plan's only one, with no
// send-failed alert nor backoff), and a `feed-broken` alert comes once the refusal repeats ORACLE_REFUSAL_ALERT_BLOCKS
// blocks in a row (one refusal can still be a race between the keeper's node and the bundler's).

const A = `0x${"a1".repeat(32)}` as Hex
const B = `0x${"b2".repeat(32)}` as Hex
const snapshotOf = (state: unknown, block: bigint) =>
  portfolioOf(state as never, { blockNumber: block, timestamp: 1_700_000_000n + block * 12n, risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
/** The SDK's error for the module's `errorName(args)` as a bundler's simulation returns it. */
const simulationReverted = (errorName: string, args: unknown[]) =>
  getLeverageError(new BaseError("Execution reverted.", { cause: Object.assign(new BaseError("execution reverted"), { data: encodeErrorResult({ abi: leverageModuleAbi, errorName, args } as never) }) }))
const staleFeed = (id: Hex, block: bigint) => simulationReverted("OracleStale", [id, 1_700_000_000n + block * 12n + 10n, 3_600n])

/** Runs the keeper's step at each of `blocks` over `subs`, the sender refusing a plan listing `refused(block)` with `errorFor`. */
async function blocks(subs: ReturnType<typeof stepSub>[], run: { block: bigint; refused: Hex[] }[], errorFor: (id: Hex, block: bigint) => Error = staleFeed) {
  const sent: { block: bigint; subAccounts: readonly Hex[] }[] = []
  let now = 0n
  let refused: Hex[] = []
  const sender = {
    send: async (_rt: unknown, block: bigint, plan: ChainPlan) => {
      sent.push({ block, subAccounts: plan.subAccounts })
      const id = plan.subAccounts.find((s) => refused.includes(s as Hex))
      if (id !== undefined) throw errorFor(id as Hex, now)
    },
  }
  const { step, events, metrics } = stepHarness(undefined, { sender })
  const rt: SafeRuntime = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  for (const b of run) {
    now = b.block
    refused = b.refused
    await step.run(rt, b.block, { snapshot: snapshotOf(stepSafeState(subs), b.block) })
  }
  const alerts = events.flatMap((e: KeeperEvent) => (e.type === "alert" ? [{ block: e.block, kind: e.kind, message: e.message }] : []))
  const unreadable = (id: Hex) => metrics.value("levpilot_subaccount_unreadable", { safe: SAFE, sub_account: id, venue: "morpho-blue" })
  return { sent, alerts, rt, unreadable }
}

const range = (from: bigint, n: number, refused: Hex[]) => Array.from({ length: n }, (_, i) => ({ block: from + BigInt(i), refused }))

describe("a sub-account's oracle refused by the chain's simulation (OracleStale at send): left out, feed-broken once it repeats", () => {
  test("two due sub-accounts, B's feed stamped 10 s ahead at every block: A is rescued every block, one feed-broken alert for B after the run, no send-failed", async () => {
    const n = Number(ORACLE_REFUSAL_ALERT_BLOCKS) + 2
    const { sent, alerts, rt, unreadable } = await blocks([stepSub(A, USDC, 1.02, "below"), stepSub(B, USDC, 1.03, "below")], range(100n, n, [B]))
    // Every block: the plan over both, then A's alone.
    for (let i = 0; i < n; i++) expect(sent.filter((s) => s.block === 100n + BigInt(i)).map((s) => s.subAccounts)).toEqual([[A, B], [A]])
    expect(alerts.map((a) => a.kind)).toEqual(["feed-broken"])
    expect(alerts[0]?.block).toBe(100n + ORACLE_REFUSAL_ALERT_BLOCKS - 1n)
    expect(alerts[0]?.message).toContain(B)
    expect(alerts[0]?.message).toContain("OracleStale")
    expect(unreadable(B)).toBe(1)
    expect(rt.failures).toBe(0)
  })

  test("B alone is due and its feed is refused every block: no send-failed alert nor backoff; feed-broken after the run, the gauge back to 0 once a plan with B lands", async () => {
    const n = Number(ORACLE_REFUSAL_ALERT_BLOCKS)
    const { sent, alerts, rt, unreadable } = await blocks([stepSub(B, USDC, 1.03, "below")], [...range(100n, n, [B]), { block: 100n + BigInt(n), refused: [] }])
    expect(sent.map((s) => s.subAccounts)).toEqual(Array.from({ length: n + 1 }, () => [B]))
    expect(alerts.map((a) => a.kind)).toEqual(["feed-broken"])
    expect(rt.failures).toBe(0)
    expect(unreadable(B)).toBe(0)
  })

  test("a refusal that does not repeat in a row (a race between nodes) is never alerted", async () => {
    const short = Number(ORACLE_REFUSAL_ALERT_BLOCKS) - 1
    const run = [...range(100n, short, [B]), { block: 100n + BigInt(short), refused: [] as Hex[] }, ...range(101n + BigInt(short), short, [B])]
    const { alerts, rt, unreadable } = await blocks([stepSub(A, USDC, 1.02, "below"), stepSub(B, USDC, 1.03, "below")], run)
    expect(alerts).toEqual([])
    expect(unreadable(B)).not.toBe(1)
    expect(rt.failures).toBe(0)
  })

  test("OraclePriceZero and OracleAnswerOutOfBounds at send are the same class (left out, alerted after the run)", async () => {
    for (const [name, args] of [
      ["OraclePriceZero", (id: Hex) => [id]],
      ["OracleAnswerOutOfBounds", (id: Hex) => [id, 0n, 1n, 10n ** 30n]],
    ] as const) {
      const { sent, alerts } = await blocks([stepSub(A, USDC, 1.02, "below"), stepSub(B, USDC, 1.03, "below")], range(100n, Number(ORACLE_REFUSAL_ALERT_BLOCKS), [B]), (id) => simulationReverted(name, args(id)))
      expect(sent.at(-1)?.subAccounts).toEqual([A])
      expect(alerts.map((a) => a.kind)).toEqual(["feed-broken"])
      expect(alerts[0]?.message).toContain(name)
    }
  })

  test("a replacement of a stuck operation refused for B's oracle is the same class: resent without B, no send-failed alert, feed-broken after the run", async () => {
    // A clean clone's worst-minute run (test/keeper.worstMinute.test.ts) alerted send-failed for a feed stamped ahead
    // when the step's plan was a replacement: the oracle class was handled for new operations only.
    const n = Number(ORACLE_REFUSAL_ALERT_BLOCKS)
    const sent: { block: bigint; subAccounts: readonly Hex[]; replaced: boolean }[] = []
    let now = 0n
    const stuck = { nonce: "7", sentBlock: "90", firstSentBlock: "90", userOpHash: undefined, sentAt: 0, maxFeePerGas: "1", maxPriorityFeePerGas: "1", sponsored: false, attempts: 1 }
    const sender = {
      send: async (_rt: unknown, block: bigint, plan: ChainPlan, replace: unknown) => {
        sent.push({ block, subAccounts: plan.subAccounts, replaced: replace !== undefined })
        if (plan.subAccounts.includes(B)) throw staleFeed(B, now)
      },
    }
    const store = { pending: async () => stuck, setPending: async () => undefined }
    const tracker = { track: async () => "resubmit" }
    const { step, events, metrics } = stepHarness(undefined, { sender, store, tracker })
    const rt: SafeRuntime = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
    for (let i = 0; i < n; i++) {
      now = 100n + BigInt(i)
      await step.run(rt, now, { snapshot: snapshotOf(stepSafeState([stepSub(A, USDC, 1.02, "below"), stepSub(B, USDC, 1.03, "below")]), now) })
    }
    for (let i = 0; i < n; i++)
      expect(sent.filter((x) => x.block === 100n + BigInt(i)).map((x) => [x.subAccounts, x.replaced])).toEqual([
        [[A, B], true],
        [[A], true],
      ])
    const alerts = events.flatMap((e: KeeperEvent) => (e.type === "alert" ? [{ kind: e.kind, message: e.message }] : []))
    expect(alerts.map((a) => a.kind)).toEqual(["feed-broken"])
    expect(alerts[0]?.message).toContain(B)
    expect(metrics.value("levpilot_subaccount_unreadable", { safe: SAFE, sub_account: B, venue: "morpho-blue" })).toBe(1)
    expect(rt.failures).toBe(0)
  })
})
