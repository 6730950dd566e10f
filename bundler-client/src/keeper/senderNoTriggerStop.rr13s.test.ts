import { BaseError } from "viem"
import { describe, expect, test, vi } from "vitest"
import { NoTriggerError } from "@levpilot/sdk/errors"
import { checkRebalanceRules } from "@levpilot/sdk/rules"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { snapshotRuleJudge } from "./ruleJudge.js"
import { portfolioOf } from "./portfolio.js"
import { keeperCosts } from "./safeStep.js"
import { newSafeRuntime } from "./runtime.js"
import { NO_TRIGGER_ALERT_BLOCKS } from "./sender.js"
import { PARK, PRICE, SAFE, STEP_RISK, USDC, senderHarness, stepHarness, stepSafeState, stepSub, subId } from "./testing.js"

// The SDK's send (judged below as validateRebalance judges it) and its oracle checks (no feed here: none fails).
vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({
  ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()),
  sendRebalance: vi.fn(),
  checkSubAccountOracles: vi.fn(async () => ({ failing: [] })),
}))
const { sendRebalance } = await import("@levpilot/sdk/actions")

// Review rr13s S3 (docs/reviews/issue13-rr13s.md). The live keeper did not read the owner's stop-loss on every path
// (the fleet's lens read carries none; readPortfolio masked boostAllowed on its own, and the rule judge had no stop):
// while the stop is held (stopPrice < price <= the re-arm price) a sub-account above maxHealth looked boost-due at every
// block, and the SDK's validateRebalance (which reads the stop) refused the boost with NoTrigger at every block. The
// NoTrigger streak alerted send-failed after NO_TRIGGER_ALERT_BLOCKS blocks and then started again: one alert every 3
// blocks for as long as the stop held, each with the misleading "back in their bands" cause.
// Fixed (k13s): every snapshot carries the stops (the SDK's stopLossCall, `PortfolioSnapshot.stops`), the solver plans
// no boost while one holds (`withStopHeld` in `solve`), the bounds and the rule judge know the stop as the module does,
// and a NoTrigger run alerts once, not every 3 blocks.

const noTrigger = () => new BaseError("validation failed", { cause: new NoTriggerError() })

const SUB = subId("5a")
/** A stop 0.5 % under the price, exit to 2.0: held (the re-arm price is 1 % above the stop), not engaged. */
const HELD = { stopPrice: (PRICE * 995n) / 1000n, exitHealth: 2n * 10n ** 18n }
const BLOCKS = 30

/**
 * The fleet path's snapshot (portfolioOf) of the Safe with one USDC sub-account at health 1.8, above its band [1.1,
 * 1.5], whose policy allows the USDC pool PARK (a boost deposits the borrow there), at block 100 + k.
 */
const snapshotAt = (k: number, stops: Record<string, { stopPrice: bigint; exitHealth: bigint }> | undefined) =>
  portfolioOf(stepSafeState([stepSub(SUB, USDC, 1.8, "above", [PARK])]) as never, {
    blockNumber: 100n + BigInt(k),
    timestamp: 1_700_000_000n + 12n * BigInt(k),
    risk: STEP_RISK,
    costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never),
    stops,
    poolTotals: { [PARK.toLowerCase()]: { asset: USDC, totalAssets: 10n ** 24n, totalSupply: 10n ** 24n, shares: 0n } },
  })

/**
 * Runs the step over `BLOCKS` blocks with the real RebalanceSender, whose SDK send judges each plan with the rule book
 * and the stop the chain holds (HELD), as validateRebalance does: a refused plan throws the module's named error.
 */
async function runHeld(stops: Record<string, { stopPrice: bigint; exitHealth: bigint }> | undefined) {
  const harness = senderHarness({ setPending: async () => undefined, nonces: Array.from({ length: BLOCKS + 1 }, () => 5n) })
  const sent: ChainPlan[] = []
  vi.mocked(sendRebalance).mockReset()
  vi.mocked(sendRebalance).mockImplementation((async (_client: unknown, { plan }: { plan: ChainPlan }) => {
    sent.push(plan)
    const snapshot = snapshotAt(0, { [SUB]: HELD })
    const verdict = snapshotRuleJudge(snapshot, snapshot.bounds)(plan)
    if (verdict !== undefined && !verdict.ok && verdict.error.name === "NoTrigger") throw noTrigger()
    return `0x${"11".repeat(32)}`
  }) as never)
  // The step's send goes to the real RebalanceSender (its NoTrigger handling), without the solver plan's extras.
  const sender = { send: (rt: never, block: bigint, plan: ChainPlan, replace: never) => harness.sender.send(rt, block, plan, replace) }
  const { step, events } = stepHarness(undefined, { sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  rt.account = harness.rt.account
  for (let k = 0; k < BLOCKS; k++) {
    rt.backoffUntil = 0
    await step.run(rt, 100n + BigInt(k), { snapshot: snapshotAt(k, stops) })
  }
  const alerts = [...events, ...harness.events].filter((e) => e.type === "alert")
  return { sent, alerts }
}

describe("rr13s S3: the keeper and a stop that holds", () => {
  test("the rule book refuses the boost while the stop holds (NoTrigger, the module's rule name), and accepts it without the stop", () => {
    const snapshot = snapshotAt(0, undefined)
    const judged = (stops: Parameters<typeof snapshotAt>[1]) => {
      const s = snapshotAt(0, stops)
      return snapshotRuleJudge(s, s.bounds)
    }
    // A plain boost: borrow 50,000 USDC into the pool (health 1.8 -> 1.31, in the landing zone).
    const boost: ChainPlan = {
      subAccounts: [SUB],
      actions: [
        { kind: "Borrow", subAccount: 0, amount: 50_000n * 10n ** 18n },
        { kind: "DepositToPool", subAccount: 0, pool: PARK, amount: 50_000n * 10n ** 18n },
      ],
    }
    expect(judged(undefined)(boost)).toMatchObject({ ok: true })
    expect(judged({ [SUB]: HELD })(boost)).toMatchObject({ ok: false, error: { name: "NoTrigger" } })
    // The same verdict as the SDK's rule book with the stop, on the snapshot's own state.
    const s = snapshot.chain[0] as (typeof snapshot.chain)[number]
    const direct = checkRebalanceRules({ plan: boost, subAccounts: [{ id: SUB, policy: s.policy, state: s, usage: s.epochUsage, stop: HELD }], pools: [{ address: PARK, asset: USDC, totalAssets: 10n ** 24n, totalSupply: 10n ** 24n, shares: 0n }], balances: snapshot.bounds.balances, swapAdapter: "0x0000000000000000000000000000000000000000", timestamp: BigInt(snapshot.timestamp), gasUsed: 0n })
    expect(direct).toMatchObject({ ok: false, error: { name: "NoTrigger" } })
  })

  test("FAILED BEFORE k13s: while the stop holds over 30 blocks the keeper plans no boost (nothing sent) and raises no alert", async () => {
    // Without the stop read (the old fleet path), the keeper boosts at every block and the SDK refuses each one.
    const unread = await runHeld(undefined)
    expect(unread.sent.length).toBeGreaterThanOrEqual(BLOCKS - 1)
    // Each refused with NoTrigger: one send-failed alert for the run (it was one every NO_TRIGGER_ALERT_BLOCKS blocks).
    expect(unread.alerts.map((a) => a.kind)).toEqual(["send-failed"])
    // With it: the bounds do not mark the sub-account due, the solver plans no boost, nothing is sent.
    const snapshot = snapshotAt(0, { [SUB]: HELD })
    expect(snapshot.bounds.subAccounts[SUB]?.due).toBe(false)
    expect(snapshot.input.subAccounts[0]?.policy.stopPrice).toBeCloseTo(2985, 6)
    const held = await runHeld({ [SUB]: HELD })
    expect(held.sent).toEqual([])
    expect(held.alerts).toEqual([])
  })

  test("re-armed (price above the re-arm price): boost-due and boosted as before", async () => {
    const rearmed = { [SUB]: { stopPrice: (PRICE * 98n) / 100n, exitHealth: 2n * 10n ** 18n } }
    expect(snapshotAt(0, rearmed).bounds.subAccounts[SUB]?.due).toBe(true)
    const { step, events } = stepHarness()
    const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
    await step.run(rt, 100n, { snapshot: snapshotAt(0, rearmed) })
    expect(events.filter((e) => e.type === "plan")).toHaveLength(1)
  })

  test("FAILED BEFORE k13s: a boost refused with NoTrigger at every block alerts once per run, not every 3 blocks", async () => {
    const blocks = 30n
    const { sender, rt, events } = senderHarness({ setPending: async () => undefined, nonces: Array.from({ length: Number(blocks) + 1 }, () => 5n) })
    vi.mocked(sendRebalance).mockReset()
    vi.mocked(sendRebalance).mockRejectedValue(noTrigger())
    for (let b = 0n; b < blocks; b++) await sender.send(rt, 100n + b, { subAccounts: [], actions: [] } as never, undefined)
    const alerts = events.filter((e) => e.type === "alert" && e.kind === "send-failed")
    // Before: blocks / NO_TRIGGER_ALERT_BLOCKS = 10 alerts in 30 blocks.
    expect(NO_TRIGGER_ALERT_BLOCKS).toBe(3n)
    expect(alerts).toHaveLength(1)
    // A send accepted ends the run: the next persistent NoTrigger is a new run, alerted once again.
    vi.mocked(sendRebalance).mockResolvedValueOnce(`0x${"11".repeat(32)}` as never)
    await sender.send(rt, 200n, { subAccounts: [], actions: [] } as never, undefined)
    for (let b = 201n; b < 201n + blocks; b++) await sender.send(rt, b, { subAccounts: [], actions: [] } as never, undefined)
    expect(events.filter((e) => e.type === "alert" && e.kind === "send-failed")).toHaveLength(2)
  })
})
