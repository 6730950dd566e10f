import { parseUnits } from "viem"
import { describe, expect, it } from "vitest"
import { checkPlanAgainstPolicy } from "./policyRules.js"
import { recordRebalance } from "./state.js"
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

// health 1.1, debt 23454.5; repaying 4000 from the pool lands at health ~1.326, in the landing zone [1.225, 1.55]
const repayFromPool = plan(["WithdrawFromPool", 4000, POOL], ["Repay", 4000])

// a (health 1.1) rescued with 4,000 from the pool, padded with a 100 repayment on b (in band, not due)
const paddedRescue: Plan = {
  loanAsset: "USDC",
  subAccounts: ["a", "b"],
  gas: 300_000,
  actions: [
    { kind: "WithdrawFromPool", subAccount: 0, pool: POOL, asset: "USDC", amount: 4100, amountBase: 4_100_000_000n },
    { kind: "Repay", subAccount: 0, pool: undefined, asset: "USDC", amount: 4000, amountBase: 4_000_000_000n },
    { kind: "Repay", subAccount: 1, pool: undefined, asset: "USDC", amount: 100, amountBase: 100_000_000n },
  ],
}

describe("checkPlanAgainstPolicy", () => {
  it("accepts a deleverage from an allowed pool into the band", () => {
    const r = run(portfolio(1.1), repayFromPool)
    expect(r.violations).toEqual([])
    // The caps charge the net position change (the 4000 repaid), not the pool withdrawal that funds it.
    expect(r.amountMoved.a).toBe(4000)
    expect(r.positionsMoved).toBeCloseTo(4000, 9)
  })

  it("rejects a plan when nothing is outside its band (rule 1, NoTrigger)", () => {
    expect(run(portfolio(1.3), plan(["WithdrawFromPool", 100, POOL], ["Repay", 100])).violations.map((v) => v.rule)).toContain(1)
  })

  it("rejects during the cooldown (rule 2)", () => {
    const r = run(portfolio(1.1), repayFromPool, {}, { lastRebalance: NOW - 10, amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 })
    expect(r.violations.map((v) => v.rule)).toEqual([2])
  })

  it("rejects ending outside the band, or a triggered sub-account outside its landing zone (rule 3)", () => {
    expect(run(portfolio(1.1), plan(["WithdrawFromPool", 100, POOL], ["Repay", 100])).violations.map((v) => v.rule)).toEqual([3])
    // From 1.1 the zone is [1.1 + (1.4 - 1.15) / 2, 1.4 + (1.7 - 1.4) / 2] = [1.225, 1.55]: 2,000 reaches only 1.203.
    const short = run(portfolio(1.1), plan(["WithdrawFromPool", 2000, POOL], ["Repay", 2000]))
    expect(short.violations.map((v) => v.message)).toEqual([expect.stringMatching(/lands at health 1\.20\d*, outside its landing zone \[1\.22\d*, 1\.5\d*\]/)])
    const r = run(portfolio(1.12), plan(["WithdrawFromPool", 7800, POOL], ["Repay", 7800]))
    expect(r.violations.map((v) => v.message)).toEqual([expect.stringMatching(/landing zone/)])
  })

  it("moves a sub-account that is not due only toward its target, never past it (rule 3)", () => {
    const pre = portfolio(1.1)
    pre.subAccounts.push({ ...(pre.subAccounts[0] as PortfolioState["subAccounts"][number]), id: "b", debt: (10 * 3000 * 0.86) / 1.65 })
    const p: Plan = {
      loanAsset: "USDC",
      subAccounts: ["a", "b"],
      gas: 300_000,
      actions: [
        { kind: "Borrow", subAccount: 1, pool: undefined, asset: "USDC", amount: 6000, amountBase: 6_000_000_000n },
        { kind: "Repay", subAccount: 0, pool: undefined, asset: "USDC", amount: 4000, amountBase: 4_000_000_000n },
        { kind: "DepositToPool", subAccount: 1, pool: POOL, asset: "USDC", amount: 2000, amountBase: 2_000_000_000n },
      ],
    }
    const policies = { a: makePolicy({ pools: [POOL] }), b: makePolicy({ pools: [POOL] }) }
    // Since rr10b a not-due borrow funds no deposit: the padding is refused first (DepositNotFunded).
    const parked = checkPlanAgainstPolicy({ plan: p, pre, policies, epochs: {}, now: NOW })
    expect(parked.violations.map((v) => v.message)).toEqual([expect.stringMatching(/deposits 2000 USDC .* only 0 .*\(DepositNotFunded\)/)])
    // The same crossing in an allowed shape: b's whole borrow repays a (a: 1.1 -> 1.398, in its zone; b: 1.65 -> 1.25).
    const donor: Plan = {
      ...p,
      actions: [
        { kind: "Borrow", subAccount: 1, pool: undefined, asset: "USDC", amount: 5000, amountBase: 5_000_000_000n },
        { kind: "Repay", subAccount: 0, pool: undefined, asset: "USDC", amount: 5000, amountBase: 5_000_000_000n },
      ],
    }
    const crossed = checkPlanAgainstPolicy({ plan: donor, pre, policies, epochs: {}, now: NOW })
    expect(crossed.violations.map((v) => v.message)).toEqual([expect.stringMatching(/b is not due but moves .* past its target 1.4/)])
  })

  it("refuses listing a sub-account the plan does not act on, pool actions for it, and pool round trips", () => {
    const pre = portfolio(1.1)
    pre.subAccounts.push({ ...(pre.subAccounts[0] as PortfolioState["subAccounts"][number]), id: "b" })
    const p: Plan = { ...repayFromPool, subAccounts: ["a", "b"] }
    const policies = { a: makePolicy({ pools: [POOL] }), b: makePolicy({ pools: [POOL] }) }
    expect(checkPlanAgainstPolicy({ plan: p, pre, policies, epochs: {}, now: NOW }).violations[0]?.message).toMatch(/SubAccountUnchanged/)
    const withPool: Plan = { ...p, actions: [...p.actions, { kind: "WithdrawFromPool", subAccount: 1, pool: POOL, asset: "USDC", amount: 1, amountBase: 1_000_000n }] }
    expect(checkPlanAgainstPolicy({ plan: withPool, pre, policies, epochs: {}, now: NOW }).violations.map((v) => v.message)).toContainEqual(expect.stringMatching(/PoolNotUsed/))
    expect(run(portfolio(1.1), plan(["WithdrawFromPool", 5000, POOL], ["Repay", 4000], ["DepositToPool", 1000, POOL])).violations[0]?.message).toMatch(/PoolRoundTrip/)
  })

  it("refuses a dust change on a listed sub-account and a pool withdrawal nothing uses (SubAccountUnchanged, PoolNotUsed)", () => {
    const pre = portfolio(1.1)
    // b: in band below its target (1.3), so a repayment moves it toward it; 10 bps of its 30,000 collateral value is 30.
    pre.subAccounts.push({ ...(pre.subAccounts[0] as PortfolioState["subAccounts"][number]), id: "b", debt: (10 * 3000 * 0.86) / 1.3 })
    const policies = { a: makePolicy({ pools: [POOL] }), b: makePolicy({ pools: [POOL] }) }
    const padded = (dust: number): Plan => ({
      loanAsset: "USDC",
      subAccounts: ["a", "b"],
      gas: 300_000,
      actions: [
        { kind: "WithdrawFromPool", subAccount: 0, pool: POOL, asset: "USDC", amount: 4000 + dust, amountBase: BigInt(Math.round((4000 + dust) * 1e6)) },
        { kind: "Repay", subAccount: 0, pool: undefined, asset: "USDC", amount: 4000, amountBase: 4_000_000_000n },
        { kind: "Repay", subAccount: 1, pool: undefined, asset: "USDC", amount: dust, amountBase: BigInt(Math.round(dust * 1e6)) },
      ],
    })
    const check = (p: Plan) => checkPlanAgainstPolicy({ plan: p, pre, policies, epochs: {}, now: NOW }).violations.map((v) => v.message)
    for (const dust of [1e-6, 1, 29]) expect(check(padded(dust)), `${dust}`).toEqual([expect.stringMatching(/b changes by less than 10 bps .*SubAccountUnchanged/)])
    expect(check(padded(31))).toEqual([])
    const idle = plan(["WithdrawFromPool", 4000, POOL], ["Repay", 4000], ["WithdrawFromPool", 1e-6, OTHER])
    expect(run(portfolio(1.1), idle, { pools: [POOL, OTHER] }).violations.map((v) => v.message)).toEqual([expect.stringMatching(/pool 0x0+b2 withdraws .* more than .* \(PoolNotUsed\)/)])
  })

  it("counts a pool withdrawal as used only by wallet spends net of borrows, collateral withdrawals and swap outputs (PoolNotUsed)", () => {
    const pre = portfolio(1.02)
    const a = pre.subAccounts[0] as PortfolioState["subAccounts"][number]
    const swapPolicy = { a: makePolicy({ pools: [POOL], maxSlippageBps: 50 }) }
    const act = (kind: ActionKind, amount: number, asset: string, pool?: string) => ({ kind, subAccount: 0, pool, asset, amount, amountBase: BigInt(Math.round(amount * (asset === "WETH" ? 1e18 : 1e6))) })
    const deleverage = [act("RepayWithCallback", 6000, "USDC"), act("WithdrawCollateral", 2, "WETH"), act("SellCollateral", 2, "WETH", OTHER), act("EndCallback", 0, "USDC")]
    const check = (actions: Plan["actions"]) =>
      checkPlanAgainstPolicy({ plan: { loanAsset: "USDC", subAccounts: ["a"], gas: 600_000, actions }, pre, policies: swapPolicy, epochs: {}, now: NOW })
        .violations.map((v) => v.message)
        .filter((m) => m.includes("PoolNotUsed"))
    // The swap's minimum output (2 WETH x 3000 less 50 bps = 5,970) pays all but 30 of the 6,000 repaid.
    expect(check([act("WithdrawFromPool", 30, "USDC", POOL), ...deleverage])).toEqual([])
    expect(check([act("WithdrawFromPool", 31, "USDC", POOL), ...deleverage])).toEqual([expect.stringMatching(/pool 0x0+a1 withdraws .*\(PoolNotUsed\)/)])
    // A repayment past the debt clears only the debt.
    expect(check([act("WithdrawFromPool", a.debt + 1000, "USDC", POOL), act("Repay", a.debt + 1000, "USDC")])).toHaveLength(1)
    expect(check([act("WithdrawFromPool", a.debt, "USDC", POOL), act("Repay", a.debt + 1000, "USDC")])).toEqual([])
    // A borrow pays for a repayment: a withdrawal next to it is idle.
    // (boostAllowed: without it the module refuses the Borrow first; the venue needs the repayment before the borrow.)
    const boost = { a: makePolicy({ pools: [POOL], maxSlippageBps: 50, boostAllowed: true }) }
    const idle = checkPlanAgainstPolicy({
      plan: { loanAsset: "USDC", subAccounts: ["a"], gas: 600_000, actions: [act("WithdrawFromPool", 1000, "USDC", POOL), act("Repay", 1000, "USDC"), act("Borrow", 1000, "USDC")] },
      pre,
      policies: boost,
      epochs: {},
      now: NOW,
    })
    // rr10 F1: a Repay and a Borrow on one sub-account are churn, refused at the later one before any flow is judged.
    expect(idle.violations.map((v) => v.error?.name)).toEqual(["ActionNotAllowed"])
    // A borrow parked in a pool funds nothing: the withdrawal next to it pays the repayment (rescue one, boost another).
    const parked = (deposit: number) =>
      checkPlanAgainstPolicy({
        plan: { loanAsset: "USDC", subAccounts: ["a"], gas: 600_000, actions: [act("WithdrawFromPool", 1000, "USDC", POOL), act("Repay", 1000, "USDC"), act("Borrow", 500, "USDC"), act("DepositToPool", deposit, "USDC", OTHER)] },
        pre,
        policies: { a: makePolicy({ pools: [POOL, OTHER], maxSlippageBps: 50, boostAllowed: true }) },
        epochs: {},
        now: NOW,
      }).violations.map((v) => v.error?.name)
    expect(parked(500)).toEqual(["ActionNotAllowed"])
    expect(parked(400)).toEqual(["ActionNotAllowed"])
  })

  it("refuses a deposit into pools of more than the plan brings in of the asset: the idle reserve stays in the wallet (DepositNotFunded)", () => {
    // Review brk10r F1: a rescue padded with a deposit of the Safe's idle reserve (IdleParking.t.sol, the rules differential).
    const policies = { a: makePolicy({ pools: [POOL], boostAllowed: true, maxHealth: 1.8 }) }
    const act = (kind: ActionKind, amount: number, pool?: string) => ({ kind, subAccount: 0, pool, asset: "USDC", amount, amountBase: parseUnits(String(amount), 6) })
    const unfunded = (pre: PortfolioState, actions: Plan["actions"]) =>
      checkPlanAgainstPolicy({ plan: { loanAsset: "USDC", subAccounts: ["a"], gas: 600_000, actions }, pre, policies, epochs: {}, now: NOW })
        .violations.map((v) => v.message)
        .filter((m) => m.includes("DepositNotFunded"))
    // The Safe holds an idle reserve of 10,000 USDC (the rescue's own source).
    const low = { ...portfolio(1.1), idle: { USDC: 10_000 } }
    expect(unfunded(low, [act("Repay", 500), act("DepositToPool", 1000, POOL)])).toEqual([expect.stringMatching(/deposits 1000 USDC .* only 0 .*\(DepositNotFunded\)/)])
    expect(unfunded(low, [act("Repay", 500)])).toEqual([])
    const high = { ...portfolio(1.9), idle: { USDC: 10_000 } }
    expect(unfunded(high, [act("Borrow", 3000), act("DepositToPool", 3000, POOL)])).toEqual([])
    expect(unfunded(high, [act("Borrow", 3000), act("DepositToPool", 3000.000001, POOL)])).toEqual([expect.stringMatching(/deposits 3000\.000001 USDC .* only 3000 .*DepositNotFunded/)])
  })

  it("refuses any inflow the plan leaves idle: borrows, collateral withdrawals, swap outputs past their minimum (IdleInflow)", () => {
    const pre = portfolio(1.9)
    const policies = { a: makePolicy({ pools: [POOL], maxSlippageBps: 50, boostAllowed: true, maxHealth: 1.8 }) }
    const act = (kind: ActionKind, amount: number, asset: string, pool?: string) => ({ kind, subAccount: 0, pool, asset, amount, amountBase: parseUnits(String(amount), asset === "WETH" ? 18 : 6) })
    const idle = (actions: Plan["actions"]) =>
      checkPlanAgainstPolicy({ plan: { loanAsset: "USDC", subAccounts: ["a"], gas: 600_000, actions }, pre, policies, epochs: {}, now: NOW })
        .violations.map((v) => v.message)
        .filter((m) => m.includes("IdleInflow"))
    expect(idle([act("Borrow", 3000, "USDC")])).toEqual([expect.stringMatching(/brings 3000 USDC .* only 0 .*\(IdleInflow\)/)])
    expect(idle([act("Borrow", 3000, "USDC"), act("DepositToPool", 2000, "USDC", POOL)])).toHaveLength(1)
    expect(idle([act("Borrow", 3000, "USDC"), act("DepositToPool", 3000, "USDC", POOL)])).toEqual([])
    expect(idle([act("WithdrawCollateral", 0.1, "WETH")])).toEqual([expect.stringMatching(/0\.1 WETH.*IdleInflow/)])
    // A buy of 3,000 USDC at 3,000 has an on-chain minimum of 0.995 WETH: supplying that is enough, less is not.
    const buy = [act("Borrow", 3000, "USDC"), act("BuyCollateral", 3000, "USDC", OTHER)]
    expect(idle([...buy, act("SupplyCollateral", 0.995, "WETH")])).toEqual([])
    // Supplying less is refused on the plan already: the purchase serves its own collateral (PurchaseExceedsSupply).
    expect(idle([...buy, act("SupplyCollateral", 0.99, "WETH")])).toEqual([])
    // A repayment past the debt it meets (a later borrow does not raise it, review 4): the venue clears only the debt
    // and pulls it at the end of the callback, which the 5,000 borrowed inside cannot pay here (ActionFailed, before the
    // inflow rule); funded, the borrow left idle is IdleInflow (IdleInflowAttacks.t.sol, the rules differential).
    // Borrowing first raises the debt the repayment meets.
    const debt = (pre.subAccounts[0] as PortfolioState["subAccounts"][number]).debt
    const all = (actions: Plan["actions"]) =>
      checkPlanAgainstPolicy({ plan: { loanAsset: "USDC", subAccounts: ["a"], gas: 600_000, actions }, pre, policies, epochs: {}, now: NOW }).violations.map((v) => v.message)
    // A borrow on a sub-account with a repay callback is refused before anything runs (the churn rule, rev17: the
    // borrow undoes the callback's repayment), whatever its size.
    expect(all([act("RepayWithCallback", debt + 5000, "USDC"), act("Borrow", 5000, "USDC"), act("EndCallback", 0, "USDC")])).toEqual([
      expect.stringMatching(/ActionNotAllowed/),
    ])
    expect(all([act("RepayWithCallback", debt + 5000, "USDC"), act("WithdrawCollateral", 0.01, "WETH"), act("EndCallback", 0, "USDC")])).toContainEqual(
      expect.stringMatching(/action 0 \(RepayWithCallback\) fails on chain: inside the callback: needs .* \(ActionFailed\)/),
    )
    expect(idle([act("Borrow", 5000, "USDC"), act("Repay", debt + 5000, "USDC")])).toEqual([])
  })

  it("refuses a swap that does not serve its own sub-account: an over-unwind parked in a pool, a purchase parked (SaleExceedsRepayment, PurchaseExceedsSupply)", () => {
    const act = (kind: ActionKind, amount: number, asset: string, pool?: string) => ({ kind, subAccount: 0, pool, asset, amount, amountBase: parseUnits(String(amount), asset === "WETH" ? 18 : 6) })
    const check = (health: number, policy: Parameters<typeof makePolicy>[0], actions: Plan["actions"]) =>
      checkPlanAgainstPolicy({ plan: { loanAsset: "USDC", subAccounts: ["a"], gas: 600_000, actions }, pre: portfolio(health), policies: { a: makePolicy(policy) }, epochs: {}, now: NOW })
        .violations.map((v) => v.message)
    // Rescue: 9.5 WETH sold at 3,000 has an on-chain minimum of 28,357.5 USDC; repaying 5,000 and parking the rest is refused.
    const unwind = (repaid: number, sold = 9.5) => [
      act("RepayWithCallback", repaid, "USDC"), act("WithdrawCollateral", sold, "WETH"), act("SellCollateral", sold, "WETH", OTHER), act("EndCallback", 0, "USDC"),
    ]
    expect(check(1.02, { pools: [POOL], maxSlippageBps: 50 }, [...unwind(5000), act("DepositToPool", 23_000, "USDC", POOL)])).toContainEqual(
      expect.stringMatching(/SaleExceedsRepayment/),
    )
    // 2 WETH: minimum 5,970 USDC. One unit below it is refused, the minimum itself passes this rule.
    expect(check(1.02, { pools: [POOL], maxSlippageBps: 50 }, unwind(5969.999999, 2))).toContainEqual(expect.stringMatching(/SaleExceedsRepayment/))
    expect(check(1.02, { pools: [POOL], maxSlippageBps: 50 }, unwind(5970, 2)).filter((m) => m.includes("SaleExceedsRepayment"))).toEqual([])
    // Boost: 3,000 USDC buys at least 0.995 WETH; supplying half and parking half in a WETH pool is refused.
    const buy = [act("Borrow", 3000, "USDC"), act("BuyCollateral", 3000, "USDC", OTHER)]
    const boost = { pools: [POOL], maxSlippageBps: 50, boostAllowed: true, maxHealth: 1.8 }
    expect(check(1.9, boost, [...buy, act("SupplyCollateral", 0.5, "WETH")])).toContainEqual(expect.stringMatching(/PurchaseExceedsSupply/))
    expect(check(1.9, boost, [...buy, act("SupplyCollateral", 0.995, "WETH")]).filter((m) => m.includes("PurchaseExceedsSupply"))).toEqual([])
  })

  it("counts a repayment as spent only up to what it clears on the debt reserve (Aave: repayableDebt, SECURITY row 50)", () => {
    const pre = portfolio(1.1)
    const withdrawRepay = plan(["WithdrawFromPool", 4000, POOL], ["Repay", 4000])
    // The account owes 23,454 USDC-worth across reserves but only 1,000 on the USDC reserve: repaying 4,000 clears 1,000
    // and 3,000 of the withdrawal would stay idle.
    ;(pre.subAccounts[0] as PortfolioState["subAccounts"][number]).repayableDebt = 1000
    expect(run(pre, withdrawRepay).violations.map((v) => v.message)).toContainEqual(expect.stringMatching(/PoolNotUsed/))
    ;(pre.subAccounts[0] as PortfolioState["subAccounts"][number]).repayableDebt = 4000
    expect(run(pre, withdrawRepay).violations.map((v) => v.message).filter((m) => m.includes("PoolNotUsed"))).toEqual([])
  })

  it("refuses selling and buying one collateral token in one plan, across sub-accounts (SwapRoundTrip)", () => {
    const pre = portfolio(1.02)
    pre.subAccounts.push({ ...(pre.subAccounts[0] as PortfolioState["subAccounts"][number]), id: "b", debt: (10 * 3000 * 0.86) / 1.9 })
    const policies = { a: makePolicy({ pools: [POOL], maxSlippageBps: 50 }), b: makePolicy({ pools: [POOL], maxSlippageBps: 50, boostAllowed: true }) }
    const act = (kind: ActionKind, subAccount: number, amount: number, asset: string, pool?: string) => ({ kind, subAccount, pool, asset, amount, amountBase: BigInt(Math.round(amount * 1e6)) })
    const actions = [
      act("RepayWithCallback", 0, 6000, "USDC"), act("WithdrawCollateral", 0, 2, "WETH"), act("SellCollateral", 0, 2, "WETH", OTHER), act("EndCallback", 0, 0, "USDC"),
      act("Borrow", 1, 3000, "USDC"), act("BuyCollateral", 1, 3000, "USDC", OTHER), act("SupplyCollateral", 1, 0.99, "WETH"),
    ]
    const messages = checkPlanAgainstPolicy({ plan: { loanAsset: "USDC", subAccounts: ["a", "b"], gas: 900_000, actions }, pre, policies, epochs: {}, now: NOW }).violations.map((v) => v.message)
    expect(messages).toContainEqual(expect.stringMatching(/both sells and buys WETH \(SwapRoundTrip\)/))
  })

  it("charges a rebalance (and the cooldown) only to due sub-accounts: padding cannot spend another's cap (rule 4)", () => {
    const pre = portfolio(1.1)
    // b: in band below its target, moved toward it next to a's rescue; its epoch already holds maxRebalancesPerEpoch.
    pre.subAccounts.push({ ...(pre.subAccounts[0] as PortfolioState["subAccounts"][number]), id: "b", debt: (10 * 3000 * 0.86) / 1.3 })
    const policies = { a: makePolicy({ pools: [POOL] }), b: makePolicy({ pools: [POOL], maxRebalancesPerEpoch: 1 }) }
    const epoch = Math.floor(NOW / 86_400)
    const p = paddedRescue
    const epochs = { b: { epoch, amountInEpoch: 0, rebalancesInEpoch: 1, gasInEpoch: 0 } }
    const r = checkPlanAgainstPolicy({ plan: p, pre, policies, epochs, now: NOW })
    expect(r.violations).toEqual([])
    expect(r.due).toEqual({ a: true, b: false })
    const b = recordRebalance(epochs.b, 86_400, NOW, 100, 300_000, 0, r.due.b)
    expect(b.rebalancesInEpoch).toBe(1)
    expect(b.lastRebalance).toBeUndefined()
    expect(recordRebalance(epochs.b, 86_400, NOW, 100, 300_000, 0, true)).toMatchObject({ rebalancesInEpoch: 2, lastRebalance: NOW })
  })

  it("charges each sub-account its share of the gas pro rata to its net move: padding cannot fill another's gas budget (rules 4, 6)", () => {
    const pre = portfolio(1.1)
    pre.subAccounts.push({ ...(pre.subAccounts[0] as PortfolioState["subAccounts"][number]), id: "b", debt: (10 * 3000 * 0.86) / 1.3 })
    const epoch = Math.floor(NOW / 86_400)
    const p = paddedRescue
    // b moved 100 of 4,100: its share is ceil(300,000 x 100 / 4,100) = 7,318 gas, a's 292,683; together >= 300,000.
    const gasCap = (cap: number) =>
      checkPlanAgainstPolicy({ plan: p, pre, policies: { a: makePolicy({ pools: [POOL] }), b: makePolicy({ pools: [POOL], maxGasPerEpoch: cap }) }, epochs: { b: { epoch, amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 } }, now: NOW })
        .violations.map((v) => v.message)
    expect(gasCap(7_318)).toEqual([])
    expect(gasCap(7_317)).toEqual([expect.stringMatching(/would use 7318 gas in the epoch, above 7317 \(EpochGasCapExceeded\)/)])
  })

  it("bounds a not-due sub-account's net change by its distance to its target: health-neutral growth is refused (rule 3, NotDueMoveExceedsDistance, NotDueGrowth)", () => {
    const pre = portfolio(1.1)
    // b: in band at 1.3 below its target 1.4 (collateral value 30,000, debt 19,846.15): its distance is
    // (1.4 x 19,846.15 - 30,000 x 0.86) / 0.86 = 2,307.69 USDC.
    pre.subAccounts.push({ ...(pre.subAccounts[0] as PortfolioState["subAccounts"][number]), id: "b", debt: (10 * 3000 * 0.86) / 1.3 })
    pre.idle = { USDC: 0, WETH: 5 }
    const act = (kind: ActionKind, subAccount: number, amount: number, asset = "USDC", pool?: string) => ({
      kind, subAccount, pool, asset, amount, amountBase: parseUnits(String(amount), asset === "USDC" ? 6 : 18),
    })
    // a's rescue paid by a borrow on b, b's health kept (a hair up) by supplying idle WETH in proportion.
    const grow = (borrow: number, weth: number, fromPool: number): Plan => ({
      loanAsset: "USDC",
      subAccounts: ["a", "b"],
      gas: 300_000,
      actions: [
        ...(fromPool > 0 ? [act("WithdrawFromPool", 0, fromPool, "USDC", POOL)] : []),
        act("SupplyCollateral", 1, weth, "WETH"),
        act("Borrow", 1, borrow),
        act("Repay", 0, 4000),
      ],
    })
    const policies = { a: makePolicy({ pools: [POOL] }), b: makePolicy({ pools: [POOL] }) }
    // Net change 2.02 x 3,000 + 4,000 = 10,060, more than four times the distance: refused, naming both figures.
    const padded = checkPlanAgainstPolicy({ plan: grow(4000, 2.02, 0), pre, policies, epochs: {}, now: NOW })
    expect(padded.violations.map((v) => [v.rule, v.subAccountId, v.error?.name, v.error?.args[1], v.error?.args[2]])).toEqual([
      [3, "b", "NotDueMoveExceedsDistance", 10_060_000_000n, 2_307_692_308n],
    ])
    expect(padded.violations[0]?.message).toMatch(/b is not due but its position changes by 10060000000, more than its distance to its target 2307692308/)
    // Inside the distance (0.31 x 3,000 + 600 = 1,530) it is still growth (collateral and debt both up), which a not-due
    // sub-account may not do (ninth review of issue 10): refused by name.
    const small = checkPlanAgainstPolicy({ plan: grow(600, 0.31, 3400), pre, policies, epochs: {}, now: NOW })
    expect(small.violations.map((v) => [v.rule, v.subAccountId, v.error?.name, v.error?.args.length])).toEqual([[3, "b", "NotDueGrowth", 1]])
    expect(small.violations[0]?.message).toMatch(/b is not due but grows: its collateral and its debt both go up \(NotDueGrowth\)/)
  })

  it("charges the amount caps the net position change: churn cannot spend a not-due sub-account's epoch cap (rule 4)", () => {
    const pre = portfolio(1.1)
    // b: in band below its target (1.3); the keeper churns it next to a's rescue: borrow 3000, repay 3100 (net 100).
    pre.subAccounts.push({ ...(pre.subAccounts[0] as PortfolioState["subAccounts"][number]), id: "b", debt: (10 * 3000 * 0.86) / 1.3 })
    const epoch = Math.floor(NOW / 86_400)
    const usdc = (kind: ActionKind, subAccount: number, amount: number, pool?: string) => ({ kind, subAccount, pool, asset: "USDC", amount, amountBase: BigInt(amount) * 1_000_000n })
    const churn = (extra: Plan["actions"]): Plan => ({
      loanAsset: "USDC",
      subAccounts: ["a", "b"],
      gas: 300_000,
      actions: [usdc("WithdrawFromPool", 0, 4100, POOL), usdc("Repay", 0, 4000), usdc("Borrow", 1, 3000), usdc("Repay", 1, 3100), ...extra],
    })
    // b's epoch already holds 9,850 of its 10,000: the gross flows (6,100) would not fit, the net change (100) does.
    const epochs = { b: { epoch, amountInEpoch: 9_850, rebalancesInEpoch: 0, gasInEpoch: 0 } }
    const policies = { a: makePolicy({ pools: [POOL] }), b: makePolicy({ pools: [POOL], maxAmountPerRebalance: 150, maxAmountPerEpoch: 10_000 }) }
    // Since rr10 F1 a Repay and a Borrow on one sub-account are churn: refused at the later one (ActionNotAllowed), so
    // the churn can no longer spend any cap.
    const r = checkPlanAgainstPolicy({ plan: churn([]), pre, policies, epochs, now: NOW })
    expect(r.violations.map((v) => [v.error?.name, v.error?.args[0]])).toEqual([["ActionNotAllowed", 3n]])
    // The net move alone (b repays 100) is charged 100 and fits the epoch; the per-rebalance cap judges the same figure.
    const net: Plan = { ...churn([]), actions: [usdc("WithdrawFromPool", 0, 4100, POOL), usdc("Repay", 0, 4000), usdc("Repay", 1, 100)] }
    const ok = checkPlanAgainstPolicy({ plan: net, pre, policies, epochs, now: NOW })
    expect(ok.violations).toEqual([])
    expect(ok.amountMoved).toEqual({ a: 4000, b: 100 })
    const tight = { ...policies, b: makePolicy({ pools: [POOL], maxAmountPerRebalance: 99 }) }
    const capped = checkPlanAgainstPolicy({ plan: net, pre, policies: tight, epochs: {}, now: NOW })
    expect(capped.violations.map((v) => [v.error?.name, v.error?.args[1]])).toEqual([["AmountCapExceeded", 100_000_000n]])
    // Churn on the due sub-account is refused the same way (a: repay 4000, then borrow 3000).
    const padded = checkPlanAgainstPolicy({ plan: { ...net, actions: [...net.actions, usdc("Borrow", 0, 3000), usdc("Repay", 0, 3000)] }, pre, policies, epochs, now: NOW })
    expect(padded.violations.map((v) => v.error?.name)).toEqual(["ActionNotAllowed"])
  })

  it("rejects a borrow on a sub-account without boosts (rule 3)", () => {
    // The module checks the trigger first: at 1.75 without boosts nothing is due (NoTrigger); when due, the borrow is
    // refused (ActionNotAllowed).
    expect(run(portfolio(1.75), plan(["Borrow", 1000], ["DepositToPool", 1000, POOL]), { boostAllowed: false }).violations.map((v) => v.error?.name)).toEqual(["NoTrigger"])
    const r = run(portfolio(1.1), plan(["WithdrawFromPool", 4000, POOL], ["Repay", 4000], ["Borrow", 1000]), { boostAllowed: false })
    expect(r.violations.map((v) => [v.rule, v.error?.name])).toEqual([[3, "ActionNotAllowed"]])
  })

  it("enforces per-rebalance, per-epoch, rebalance-count and gas caps (rule 4)", () => {
    // Net charge: the 4000 repaid (the pool withdrawal funding it is not charged).
    expect(run(portfolio(1.1), repayFromPool, { maxAmountPerRebalance: 3999 }).violations.map((v) => v.rule)).toEqual([4])
    expect(run(portfolio(1.1), repayFromPool, { maxAmountPerRebalance: 4000 }).violations).toEqual([])
    const used: EpochState = { epoch: Math.floor(NOW / 86_400), amountInEpoch: 10_000, rebalancesInEpoch: 3, gasInEpoch: 1_000_000 }
    // The module reverts with the first cap it finds (amount, count, gas, in that order).
    const caps = { maxAmountPerEpoch: 13_999, maxRebalancesPerEpoch: 3, maxGasPerEpoch: 1_200_000, cooldown: 0 }
    const first = (policy: Partial<Policy>) => run(portfolio(1.1), repayFromPool, policy, used).violations.map((v) => [v.rule, v.error?.name])
    expect(first(caps)).toEqual([[4, "EpochAmountCapExceeded"]])
    expect(first({ ...caps, maxAmountPerEpoch: 1e9 })).toEqual([[4, "EpochRebalanceCapExceeded"]])
    expect(first({ ...caps, maxAmountPerEpoch: 1e9, maxRebalancesPerEpoch: 4 })).toEqual([[4, "EpochGasCapExceeded"]])
    expect(first({ ...caps, maxAmountPerEpoch: 1e9, maxRebalancesPerEpoch: 4, maxGasPerEpoch: 1_300_000 })).toEqual([])
    const expired = { ...used, epoch: Math.floor(NOW / 86_400) - 1 }
    expect(first({ ...caps, maxAmountPerEpoch: 14_000, maxRebalancesPerEpoch: 4, maxGasPerEpoch: 1_300_000 })).toEqual([])
    expect(run(portfolio(1.1), repayFromPool, { maxAmountPerEpoch: 13_999, maxRebalancesPerEpoch: 3, maxGasPerEpoch: 1_200_000, cooldown: 0 }, expired).violations).toEqual([])
  })

  it("rejects a loss above maxLossBps of what the positions move (rule 5)", () => {
    // 5% slippage on a 4,000 withdrawal: 200 lost while the position moves 4,000 (50 bps allowed: 20).
    const r = run(portfolio(1.1), plan(["WithdrawFromPool", 4000, OTHER], ["Repay", 4000]), { pools: [POOL, OTHER], maxLossBps: 50, maxEpochLossBps: 10_000 })
    expect(r.violations.map((v) => v.rule)).toEqual([5])
    expect(r.positionsMoved).toBeCloseTo(4000, 9)
  })

  it("rejects an epoch whose losses add up past maxEpochLossBps of the equity (rule 6)", () => {
    // 200 lost on an equity of ~6,545 (about 306 bps); allowed per rebalance at maxLossBps 600, not per epoch at 100.
    const r = run(portfolio(1.1), plan(["WithdrawFromPool", 4000, OTHER], ["Repay", 4000]), { pools: [POOL, OTHER], maxLossBps: 600, maxEpochLossBps: 100 })
    expect(r.violations.map((v) => v.rule)).toEqual([6])
    // EpochLossBudgetExceeded(subAccount, lossPpb, budgetPpb): the exact (base-unit) charge, rounded up.
    expect(Math.abs(Number(r.violations[0]?.error?.args[1]) - (200 / (30_000 - 25_800 / 1.1)) * 1e9)).toBeLessThan(10)
    const used: EpochState = { epoch: Math.floor(NOW / 86_400), amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0, lossPpbInEpoch: 9.9e6 }
    const small = plan(["WithdrawFromPool", 4000, OTHER], ["Repay", 4000])
    const budget = { pools: [POOL, OTHER], maxLossBps: 600, maxEpochLossBps: 400, cooldown: 0 }
    expect(run(portfolio(1.1), small, budget).violations).toEqual([])
    expect(run(portfolio(1.1), small, budget, used).violations.map((v) => v.rule)).toEqual([6])
  })

  it("charges each sub-account its net position change at its own price, never the pool actions that fund it", () => {
    const pre = portfolio(1.1)
    const wethPool = "0x00000000000000000000000000000000000000c3"
    pre.subAccounts.push({ ...(pre.subAccounts[0] as PortfolioState["subAccounts"][number]), id: "b", price: 2900, debt: (10 * 2900 * 0.86) / 1.5 })
    pre.idle.WETH = 0
    pre.pools.push({ address: wethPool, asset: "WETH", decimals: 18, balance: 5, withdrawable: 5 })
    const p: Plan = {
      loanAsset: "USDC",
      subAccounts: ["b", "a"],
      gas: 300_000,
      actions: [
        { kind: "WithdrawFromPool", subAccount: 1, pool: wethPool, asset: "WETH", amount: 2, amountBase: 2n * 10n ** 18n },
        { kind: "SupplyCollateral", subAccount: 1, pool: undefined, asset: "WETH", amount: 2, amountBase: 2n * 10n ** 18n },
        // b is listed first (its price values WETH), so it needs a material move of its own toward its target; the
        // borrowed USDC repays a (a borrow left idle is IdleInflow; since rr10b a not-due borrow funds no deposit).
        { kind: "Borrow", subAccount: 0, pool: undefined, asset: "USDC", amount: 100, amountBase: 100_000_000n },
        { kind: "Repay", subAccount: 1, pool: undefined, asset: "USDC", amount: 100, amountBase: 100_000_000n },
      ],
    }
    const policies = { a: makePolicy({ pools: [wethPool] }), b: makePolicy({ boostAllowed: true, pools: [POOL] }) }
    const parked: Plan = { ...p, actions: [...p.actions.slice(0, 3), { kind: "DepositToPool", subAccount: 0, pool: POOL, asset: "USDC", amount: 100, amountBase: 100_000_000n }] }
    expect(checkPlanAgainstPolicy({ plan: parked, pre, policies, epochs: {}, now: NOW }).violations.map((v) => v.message)).toEqual([
      expect.stringMatching(/deposits 100 USDC .* only 0 .*\(DepositNotFunded\)/),
    ])
    const r = checkPlanAgainstPolicy({ plan: p, pre, policies, epochs: {}, now: NOW })
    expect(r.violations).toEqual([])
    expect(r.amountMoved.a).toBeCloseTo(2 * 3000 + 100, 3) // 2 WETH supplied at a's price + 100 repaid; the pool withdrawal is not charged
    expect(r.amountMoved.b).toBeCloseTo(100, 6) // the 100 borrowed; the deposit is not charged
  })

  it("rejects pools outside the policy, pools on non-pool actions and unexecutable plans", () => {
    expect(run(portfolio(1.1), plan(["WithdrawFromPool", 3000, OTHER], ["Repay", 3000])).violations[0]?.message).toMatch(/outside the policy/)
    expect(run(portfolio(1.1), plan(["WithdrawFromPool", 3000, POOL], ["Repay", 3000, POOL])).violations[0]?.message).toMatch(/must not name a pool/)
    expect(run(portfolio(1.1), plan(["Repay", 3000])).violations[0]?.message).toMatch(/Safe holds 0/)
    expect(run(portfolio(1.1), plan()).violations[0]?.message).toMatch(/no actions/)
  })
})
