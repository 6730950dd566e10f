import { describe, expect, it } from "vitest"
import { checkPlanAgainstPolicy } from "./policyRules.js"
import { makePolicy } from "./testing.js"
import type { ActionKind, EpochState, Plan, Policy, PortfolioState } from "./types.js"

const NOW = 1_700_000_000
const POOL = "0x00000000000000000000000000000000000000a1"
const OTHER = "0x00000000000000000000000000000000000000b2"

function portfolio(health: number): PortfolioState {
  return {
    subAccounts: [{ id: "a", loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 10, debt: (10 * 3000 * 0.86) / health, lltv: 0.86, price: 3000 }],
    pools: [
      { address: POOL, asset: "USDC", decimals: 6, balance: 50_000, withdrawable: 50_000 },
      { address: OTHER, asset: "USDC", decimals: 6, balance: 50_000, withdrawable: 50_000, slippageBps: 500 },
    ],
    idle: { USDC: 0 },
  }
}

function plan(...actions: Array<[ActionKind, number, string?]>): Plan {
  return { loanAsset: "USDC", subAccounts: ["a"], gas: 300_000, actions: actions.map(([kind, amount, pool]) => ({ kind, subAccount: 0, pool, asset: "USDC", amount, amountBase: BigInt(Math.floor(amount * 1e6)) })) }
}

function run(pre: PortfolioState, p: Plan, policy: Partial<Policy> = {}, epoch?: EpochState) {
  return checkPlanAgainstPolicy({ plan: p, pre, policies: { a: makePolicy({ pools: [POOL], ...policy }) }, epochs: epoch ? { a: epoch } : {}, now: NOW })
}

// health 1.1, debt 23454.5; repaying 3000 from the pool lands at health ~1.262
const repayFromPool = plan(["WithdrawFromPool", 3000, POOL], ["Repay", 3000])

describe("checkPlanAgainstPolicy", () => {
  it("accepts a deleverage from an allowed pool into the band", () => {
    const r = run(portfolio(1.1), repayFromPool)
    expect(r.violations).toEqual([])
    expect(r.amountMoved.a).toBe(6000)
  })

  it("rejects a plan when nothing is outside its band (rule 1, NoTrigger)", () => {
    expect(run(portfolio(1.3), plan(["WithdrawFromPool", 100, POOL], ["Repay", 100])).violations.map((v) => v.rule)).toContain(1)
  })

  it("rejects during the cooldown (rule 2)", () => {
    const r = run(portfolio(1.1), repayFromPool, {}, { lastRebalance: NOW - 10, amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 })
    expect(r.violations.map((v) => v.rule)).toEqual([2])
  })

  it("rejects ending outside the band or further from target (rule 3)", () => {
    expect(run(portfolio(1.1), plan(["WithdrawFromPool", 100, POOL], ["Repay", 100])).violations.map((v) => v.rule)).toEqual([3])
    const r = run(portfolio(1.12), plan(["WithdrawFromPool", 7800, POOL], ["Repay", 7800]))
    expect(r.violations.map((v) => v.message)).toEqual([expect.stringMatching(/further from target 1.4/)])
  })

  it("rejects a borrow on a sub-account without boosts (rule 3)", () => {
    const r = run(portfolio(1.75), plan(["Borrow", 1000], ["DepositToPool", 1000, POOL]), { boostAllowed: false })
    expect(r.violations.filter((v) => v.rule === 3).length).toBeGreaterThan(0)
  })

  it("enforces per-rebalance, per-epoch, rebalance-count and gas caps (rule 4)", () => {
    expect(run(portfolio(1.1), repayFromPool, { maxAmountPerRebalance: 5999 }).violations.map((v) => v.rule)).toEqual([4])
    const used: EpochState = { epochStart: NOW - 100, amountInEpoch: 10_000, rebalancesInEpoch: 3, gasInEpoch: 1_000_000 }
    const rules = run(portfolio(1.1), repayFromPool, { maxAmountPerEpoch: 15_000, maxRebalancesPerEpoch: 3, maxGasPerEpoch: 1_200_000, cooldown: 0 }, used).violations
    expect(rules.map((v) => v.rule)).toEqual([4, 4, 4])
    const expired = { ...used, epochStart: NOW - 86_400 }
    expect(run(portfolio(1.1), repayFromPool, { maxAmountPerEpoch: 15_000, maxRebalancesPerEpoch: 3, maxGasPerEpoch: 1_200_000, cooldown: 0 }, expired).violations).toEqual([])
  })

  it("rejects a net-value loss above maxLossBps (rule 5)", () => {
    const r = run(portfolio(1.1), plan(["WithdrawFromPool", 3000, OTHER], ["Repay", 3000]), { pools: [POOL, OTHER], maxLossBps: 10 })
    expect(r.violations.map((v) => v.rule)).toEqual([5])
  })

  it("values a collateral-token pool action at the first touched sub-account's oracle price, as the module does", () => {
    const pre = portfolio(1.1)
    const wethPool = "0x00000000000000000000000000000000000000c3"
    pre.subAccounts.push({ ...(pre.subAccounts[0] as PortfolioState["subAccounts"][number]), id: "b", price: 2900, debt: (10 * 2900 * 0.86) / 1.5 })
    pre.pools.push({ address: wethPool, asset: "WETH", decimals: 18, balance: 5, withdrawable: 5 })
    const p: Plan = {
      loanAsset: "USDC",
      subAccounts: ["b", "a"],
      gas: 300_000,
      actions: [
        { kind: "WithdrawFromPool", subAccount: 1, pool: wethPool, asset: "WETH", amount: 1, amountBase: 10n ** 18n },
        { kind: "SupplyCollateral", subAccount: 1, pool: undefined, asset: "WETH", amount: 1, amountBase: 10n ** 18n },
      ],
    }
    const policies = { a: makePolicy({ pools: [wethPool] }), b: makePolicy() }
    const r = checkPlanAgainstPolicy({ plan: p, pre, policies, epochs: {}, now: NOW })
    expect(r.amountMoved.a).toBe(2900 + 3000)
  })

  it("rejects pools outside the policy, pools on non-pool actions and unexecutable plans", () => {
    expect(run(portfolio(1.1), plan(["WithdrawFromPool", 3000, OTHER], ["Repay", 3000])).violations[0]?.message).toMatch(/outside the policy/)
    expect(run(portfolio(1.1), plan(["WithdrawFromPool", 3000, POOL], ["Repay", 3000, POOL])).violations[0]?.message).toMatch(/must not name a pool/)
    expect(run(portfolio(1.1), plan(["Repay", 3000])).violations[0]?.message).toMatch(/Safe holds 0/)
    expect(run(portfolio(1.1), plan()).violations[0]?.message).toMatch(/no actions/)
  })
})
