import { describe, expect, it } from "vitest"
import { checkPlanAgainstPolicy } from "./policyRules.js"
import { solve } from "./solver.js"
import { makePolicy, randomSolverInput, TEST_COSTS } from "./testing.js"
import type { EpochState, Policy, PortfolioState, SolverInput, SubAccountInput, SubAccountState } from "./types.js"

/*
 * Issue 17, item 3: the solver respects what an Aave v3 reserve takes now, as it respects Morpho's free liquidity:
 * `borrowable` (available liquidity and borrow-cap room; 0 when frozen or paused), `suppliable` (supply-cap room; 0 when
 * frozen or paused), `withdrawable` (available liquidity; 0 when paused), `repayable` (0 when paused). A plan past any
 * of them would revert on chain (Aave's own checks), so the solver takes the amount elsewhere or plans nothing.
 */

const NOW = 1_700_000_000
const FRESH: EpochState = { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 }
const POOL = "0x00000000000000000000000000000000000000a1"

function sub(id: string, health: number, policy: Partial<Policy> = {}, limits: Partial<SubAccountState> = {}, lltv = 0.86): SubAccountInput {
  const price = 3000
  const collateral = 10
  return {
    state: { id, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral, debt: (collateral * price * lltv) / health, lltv, price, ...limits },
    policy: makePolicy({ cooldown: 0, ...policy }),
    epoch: FRESH,
    risk: { sigma: 0.6 },
  }
}

const input = (subAccounts: SubAccountInput[], extra: Partial<SolverInput> = {}): SolverInput => ({ now: NOW, subAccounts, pools: [], idle: {}, costs: TEST_COSTS, mode: "threshold", ...extra })

function kinds(r: ReturnType<typeof solve>): string[] {
  return r.plan?.actions.map((a) => `${a.kind}:${r.plan?.subAccounts[a.subAccount]}`) ?? []
}

function amountOf(r: ReturnType<typeof solve>, kind: string, id: string): number {
  return (r.plan?.actions ?? []).filter((a) => a.kind === kind && r.plan?.subAccounts[a.subAccount] === id).reduce((t, a) => t + a.amount, 0)
}

function valid(i: SolverInput, r: ReturnType<typeof solve>): boolean {
  const pre: PortfolioState = { subAccounts: i.subAccounts.map((s) => s.state), pools: i.pools, idle: i.idle }
  return checkPlanAgainstPolicy({
    plan: r.plan!,
    pre,
    policies: Object.fromEntries(i.subAccounts.map((s) => [s.state.id, s.policy])),
    epochs: Object.fromEntries(i.subAccounts.map((s) => [s.state.id, s.epoch])),
    now: i.now,
  }).ok
}

describe("solver and Aave reserve limits", () => {
  it("a paused Aave debt reserve takes no repayment: the target is rescued with collateral instead, not with a repay that would revert", () => {
    const free = input([sub("aave", 1.1, { pools: [POOL] }, {}, 0.83)], { idle: { USDC: 100_000, WETH: 100 } })
    expect(kinds(solve(free))).toEqual(["Repay:aave"])
    const paused = input([sub("aave", 1.1, { pools: [POOL] }, { repayable: 0 }, 0.83)], { idle: { USDC: 100_000, WETH: 100 } })
    const r = solve(paused)
    expect(kinds(r)).toEqual(["SupplyCollateral:aave"])
    expect(r.outcomes[0]?.healthAfter).toBeGreaterThan(1.2)
    expect(valid(paused, r)).toBe(true)
  })

  it("a frozen (or paused) Aave collateral reserve takes no supply: a donor's collateral is not moved into it, its debt is repaid by a borrow on the donor", () => {
    const open = input([sub("aave", 1.1), sub("morpho", 1.9, { maxHealth: 2 })])
    // With a free donor, the solver prefers borrow-and-repay; force the collateral form by making the donor's market dry.
    const dry = input([sub("aave", 1.1), sub("morpho", 1.9, { maxHealth: 2 }, { borrowable: 0 })])
    expect(kinds(solve(dry))).toEqual(["WithdrawCollateral:morpho", "SupplyCollateral:aave"])
    expect(kinds(solve(open))).toEqual(["Borrow:morpho", "Repay:aave"])
    const frozen = input([sub("aave", 1.1, {}, { suppliable: 0 }), sub("morpho", 1.9, { maxHealth: 2 }, { borrowable: 0 })])
    const r = solve(frozen)
    expect(r.plan).toBeUndefined()
    expect(r.outcomes[0]?.reason).toMatch(/no valid plan/)
  })

  it("a supply cap with little room: the collateral moved into the Aave account stops at the cap's room and the rest comes as a repayment", () => {
    // Landing zone low edge from 1.1 in [1.15, 1.4, 1.7]: 1.275. 2,500 USDC repaid + 0.5 WETH supplied reach 1.293.
    const room = 0.5
    const i = input([sub("aave", 1.1, {}, { suppliable: room }), sub("morpho", 1.9, { maxHealth: 2 }, { borrowable: 2_500 })])
    const r = solve(i)
    expect(r.plan).toBeDefined()
    expect(amountOf(r, "SupplyCollateral", "aave")).toBeLessThanOrEqual(room)
    expect(amountOf(r, "SupplyCollateral", "aave")).toBeGreaterThan(0)
    expect(amountOf(r, "Borrow", "morpho")).toBeLessThanOrEqual(2_500)
    expect(amountOf(r, "Repay", "aave")).toBeGreaterThan(0)
    expect(r.outcomes[0]?.healthAfter).toBeGreaterThanOrEqual(1.15)
    expect(valid(i, r)).toBe(true)
  })

  it("a paused Aave donor reserve lets no collateral go: the donor's withdrawal is capped by its available liquidity, and none when paused", () => {
    const thin = input([sub("morpho", 1.1), sub("aave", 1.9, { maxHealth: 2 }, { borrowable: 0, withdrawable: 0.5 })])
    const r = solve(thin)
    expect(amountOf(r, "WithdrawCollateral", "aave")).toBeLessThanOrEqual(0.5)
    const paused = input([sub("morpho", 1.1), sub("aave", 1.9, { maxHealth: 2 }, { borrowable: 0, withdrawable: 0 })])
    const p = solve(paused)
    expect(p.plan?.actions.some((a) => p.plan?.subAccounts[a.subAccount] === "aave") ?? false).toBe(false)
  })

  it("a boost on an Aave account borrows no more than the reserve can lend (available liquidity and borrow-cap room), and nothing on a frozen reserve", () => {
    const capped = input([sub("aave", 2.2, { maxHealth: 1.8 }, { borrowable: 2_000 })], { costs: { ...TEST_COSTS, boostEdgeBps: 1_000 } })
    const r = solve(capped)
    expect(amountOf(r, "Borrow", "aave")).toBeLessThanOrEqual(2_000)
    const frozen = input([sub("aave", 2.2, { maxHealth: 1.8 }, { borrowable: 0 })], { costs: { ...TEST_COSTS, boostEdgeBps: 1_000 } })
    const f = solve(frozen)
    expect(f.plan).toBeUndefined()
    expect(f.outcomes[0]?.reason).toMatch(/free liquidity/)
  })

  it("property: over 400 random portfolios with random venue limits, no plan exceeds any limit on any sub-account", () => {
    for (let seed = 1; seed <= 400; seed++) {
      const i = randomSolverInput(seed, 4, 3)
      // Give every other sub-account Aave-like limits derived from the seed (some zero: frozen / paused reserves).
      i.subAccounts.forEach((s, k) => {
        if ((k + seed) % 2 === 0) return
        const f = ((seed * 7 + k * 13) % 10) / 10
        s.state.borrowable = f < 0.2 ? 0 : s.state.collateral * s.state.price * f
        s.state.suppliable = f < 0.3 ? 0 : s.state.collateral * f
        s.state.withdrawable = f > 0.8 ? 0 : s.state.collateral * f
        s.state.repayable = f > 0.9 ? 0 : s.state.debt * f
      })
      const r = solve(i)
      if (!r.plan) continue
      for (const s of i.subAccounts) {
        const id = s.state.id
        const sum = (kind: string) => amountOf(r, kind, id)
        const eps = 1e-9 * (1 + s.state.collateral + s.state.debt)
        const net = (plus: string, minus: string) => sum(plus) - sum(minus)
        if (s.state.borrowable !== undefined) expect(net("Borrow", "Repay")).toBeLessThanOrEqual(s.state.borrowable + eps)
        if (s.state.suppliable !== undefined) expect(net("SupplyCollateral", "WithdrawCollateral")).toBeLessThanOrEqual(s.state.suppliable + eps)
        if (s.state.withdrawable !== undefined) expect(net("WithdrawCollateral", "SupplyCollateral")).toBeLessThanOrEqual(s.state.withdrawable + eps)
        if (s.state.repayable !== undefined) expect(net("Repay", "Borrow")).toBeLessThanOrEqual(s.state.repayable + eps)
      }
    }
  })
})
