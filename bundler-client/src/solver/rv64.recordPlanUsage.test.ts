import { describe, expect, it } from "vitest"
import { applyPlan, recordPlanUsage } from "./state.js"
import { makePolicy } from "./testing.js"
import type { EpochState, Plan, Policy, SubAccountState } from "./types.js"

// Review rv64: the TypeScript mirror of `_recordUsage` (stop 64 + 701dc58f) on the cases the forge tests
// modules/test/attacks/Rv64RescueBelowTarget.t.sol run through handleOps.
const ID = `0x${"a1".padStart(64, "0")}`
const NOW = 1_750_000_000
const sub = (health: number, price = 3000, extra: Partial<SubAccountState> = {}): SubAccountState => ({ id: ID, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 10, debt: (10 * price * 0.86) / health, lltv: 0.86, price, ...extra })
const epoch = (): EpochState => ({ epoch: Math.floor(NOW / 86_400), amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0, lossPpbInEpoch: 0 })
function record(policy: Policy, pre: SubAccountState, post: SubAccountState): number | undefined {
  const epochs: Record<string, EpochState> = { [ID]: epoch() }
  recordPlanUsage(epochs, { [ID]: policy }, { ids: [ID], now: NOW, moved: { [ID]: 1000 }, gas: 1, lossPpb: {}, due: { [ID]: true }, pre: [pre], post: [post] })
  return epochs[ID]?.lastRebalance
}
const P = (o: Partial<Policy> = {}) => makePolicy({ minHealth: 1.2, targetHealth: 1.4, maxHealth: 1.7, rescueBelowTarget: true, cooldown: 600, ...o })

describe("rv64: recordPlanUsage mirrors _recordUsage", () => {
  it("a boost landing below the target starts the cooldown (701dc58f)", () => {
    expect(record(P({ boostAllowed: true }), sub(1.9), sub(1.32))).toBe(NOW)
  })
  it("a rescue from below the band to below the target starts none; at/above the target it starts; without the flag it starts", () => {
    expect(record(P(), sub(1.1), sub(1.25))).toBeUndefined()
    expect(record(P(), sub(1.1), sub(1.45))).toBe(NOW)
    expect(record(P({ rescueBelowTarget: false }), sub(1.1), sub(1.25))).toBe(NOW)
  })
  it("stop engaged (price <= stopPrice) starts it; in the re-arm hysteresis (price 0.5 % above) it does not", () => {
    expect(record(P({ stopPrice: 3000, exitHealth: 2 }), sub(1.1), sub(1.25))).toBe(NOW)
    expect(record(P({ stopPrice: 3000 / 1.005, exitHealth: 2 }), sub(1.1), sub(1.25))).toBeUndefined()
  })
  it("Aave: the venue health (floored) decides, not the frame health", () => {
    // Frame 1.42 after, Aave's factor read 1.39 (under the target): still due, no cooldown.
    expect(record(P(), sub(1.1, 3000, { thresholdFloored: true, health: 1.09 }), sub(1.42, 3000, { thresholdFloored: true, health: 1.39 }))).toBeUndefined()
  })
  it("INFO: applyPlan keeps a keeper-read Aave `health` on the post state, so the mirror reads the pre-trade factor as the landing", () => {
    const pre = sub(1.1, 3000, { thresholdFloored: true, health: 1.1 })
    const repay = pre.debt - (10 * 3000 * 0.86) / 1.45
    const plan: Plan = { subAccounts: [ID], actions: [{ kind: "Repay", subAccount: 0, amount: repay, asset: "USDC" }], gas: 1 } as unknown as Plan
    const post = applyPlan({ subAccounts: [pre], pools: [], idle: { USDC: repay } }, plan).subAccounts[0] as SubAccountState
    expect(post.health).toBe(1.1) // stale: the landing is 1.45
    // The module starts the cooldown (landed 1.45 >= target); the mirror fed this post state says none.
    expect(record(P(), pre, post)).toBeUndefined()
  })
})
