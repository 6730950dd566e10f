import { describe, expect, it } from "vitest"
import { solve, solveByLoanAsset, liquidationIncentiveFactor } from "./solver.js"
import { checkPlanAgainstPolicy } from "./policyRules.js"
import { applyPlan, healthOf } from "./state.js"
import { makePolicy, randomSolverInput, TEST_COSTS } from "./testing.js"
import { policyTailFloorHealth } from "../risk/tail.js"
import { rescuePace } from "./workingPortfolio.js"
import type { EpochState, Policy, PortfolioState, SolverInput, SubAccountInput } from "./types.js"

const NOW = 1_700_000_000
const FRESH: EpochState = { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 }
const POOL = "0x00000000000000000000000000000000000000a1"

function sub(id: string, health: number, policy: Partial<Policy> = {}, sigma = 0.6): SubAccountInput {
  const price = 3000
  const collateral = 10
  return {
    state: { id, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral, debt: (collateral * price * 0.86) / health, lltv: 0.86, price },
    policy: makePolicy(policy),
    epoch: FRESH,
    risk: { sigma },
  }
}

/** A USDC pool a boost can park its borrow in. */
const PARK = { address: "0x00000000000000000000000000000000000000aa", asset: "USDC", decimals: 6, balance: 0, withdrawable: 0 }

function input(subAccounts: SubAccountInput[], extra: Partial<SolverInput> = {}): SolverInput {
  return { now: NOW, subAccounts, pools: [], idle: {}, costs: TEST_COSTS, ...extra }
}

function check(i: SolverInput, plan: NonNullable<ReturnType<typeof solve>["plan"]>) {
  const pre: PortfolioState = { subAccounts: i.subAccounts.map((s) => s.state), pools: i.pools, idle: i.idle }
  return checkPlanAgainstPolicy({
    plan,
    pre,
    policies: Object.fromEntries(i.subAccounts.map((s) => [s.state.id, s.policy])),
    epochs: Object.fromEntries(i.subAccounts.map((s) => [s.state.id, s.epoch])),
    now: i.now,
  })
}

describe("solve", () => {
  it("proposes nothing when every sub-account is inside its band", () => {
    const r = solve(input([sub("a", 1.3), sub("b", 1.6)], { idle: { USDC: 1e6 } }))
    expect(r.plan).toBeUndefined()
    expect(r.outcomes[0]?.reason).toMatch(/no trigger/)
  })

  it("repays from idle funds first and reaches the risk health (the epoch's first rebalance: no pacing), not more", () => {
    const i = input([sub("a", 1.1, { pools: [POOL] }, 1.2)], {
      idle: { USDC: 100_000 },
      pools: [{ address: POOL, asset: "USDC", decimals: 6, balance: 1e6, withdrawable: 1e6 }],
    })
    const r = solve(i)
    expect(r.plan?.actions.map((a) => a.kind)).toEqual(["Repay"])
    const o = r.outcomes[0]
    // The landing zone of [1.15, 1.4, 1.7] from 1.1: [1.1 + (1.4 - 1.15) / 2, 1.4 + (1.7 - 1.4) / 2] = [1.225, 1.55].
    const clipped = Math.min(Math.max(o?.riskHealth ?? 0, 1.225), 1.55)
    // The epoch's first rebalance projects 1 of 24 at any pace: not paced (`rescuePace`, f13n; was 1/24 of the way up).
    expect(o?.healthAfter).toBeCloseTo(clipped, 4)
    expect(check(i, r.plan!).ok).toBe(true)
  })

  it("paces a rescue toward the top of its landing zone only when the epoch's pace projects more than half its rebalances (rescuePace, f13n)", () => {
    const p = { maxRebalancesPerEpoch: 24, epochLength: 86_400, cooldown: 300 }
    const day = 1_700_006_400 // an aligned epoch start
    expect(rescuePace(0, p, day + 60)).toBe(0)
    // rr13u U2: the second rebalance of a slow bleed, 602 min into the epoch, projects 3.4 of 24: not paced (was 2/24).
    expect(rescuePace(1, p, day + 602 * 60)).toBe(0)
    // Half way through the epoch with 6 spent: projects 13 of 24, 1/12 of the way up.
    expect(rescuePace(6, p, day + 43_200)).toBeCloseTo(2 * 13 / 24 - 1, 12)
    // A fast fall: 11 in the first hour projects 265: all the way up.
    expect(rescuePace(11, p, day + 3_600)).toBe(1)
    // The epoch's last rebalance always goes all the way up, however late.
    expect(rescuePace(23, p, day + 86_399)).toBe(1)
    expect(rescuePace(0, { ...p, maxRebalancesPerEpoch: 1 }, day + 60)).toBe(1)
    // Never below 0 nor above 1; the elapsed time counts at least the cooldown (no division by 0 at the epoch's start).
    for (const used of [0, 1, 5, 12, 23]) for (const t of [0, 1, 299, 300, 7_200, 86_399]) expect(rescuePace(used, p, day + t)).toBeGreaterThanOrEqual(0)
    expect(rescuePace(1, p, day)).toBe(1)
  })

  it("falls back to an allowed pool when idle funds are short, and never touches a pool outside the policy", () => {
    const other = "0x00000000000000000000000000000000000000b2"
    const i = input([sub("a", 1.05, { pools: [POOL] })], {
      idle: { USDC: 100 },
      pools: [
        { address: other, asset: "USDC", decimals: 6, balance: 1e6, withdrawable: 1e6 },
        { address: POOL, asset: "USDC", decimals: 6, balance: 1e6, withdrawable: 1e6, slippageBps: 5 },
      ],
    })
    const r = solve(i)
    // The idle 100 USDC and the pool's share go out in one repayment (one venue call), after the withdrawal.
    expect(r.plan?.actions.map((a) => a.kind)).toEqual(["WithdrawFromPool", "Repay"])
    const [withdraw, repay] = r.plan?.actions ?? []
    expect(repay?.amount).toBeCloseTo((withdraw?.amount as number) + 100, 9)
    expect(r.plan?.actions.every((a) => a.pool === undefined || a.pool === POOL)).toBe(true)
    expect(check(i, r.plan!).ok).toBe(true)
  })

  it("borrows on an over-collateralised in-band sub-account to repay a triggered one, moving the donor toward its target and not past it", () => {
    const i = input([sub("low", 1.1), sub("donor", 1.9, { maxHealth: 2 })])
    const r = solve(i)
    expect(r.plan?.actions.map((a) => `${a.kind}:${r.plan?.subAccounts[a.subAccount]}`)).toEqual(["Borrow:donor", "Repay:low"])
    const donor = r.outcomes[1]
    expect(donor?.role).toBe("source")
    expect(donor?.healthAfter).toBeGreaterThanOrEqual(1.4)
    expect(donor?.healthAfter).toBeLessThan(1.9)
    expect(r.outcomes[0]?.healthAfter).toBeGreaterThanOrEqual(1.225)
    expect(check(i, r.plan!).ok).toBe(true)
  })

  it("does not borrow on a donor whose policy forbids boosts, nor on one below its target", () => {
    expect(solve(input([sub("low", 1.1), sub("donor", 1.3)])).plan).toBeUndefined()
    const r = solve(input([sub("low", 1.1), sub("donor", 1.9, { maxHealth: 2, boostAllowed: false })]))
    expect(r.plan).toBeUndefined()
    expect(r.outcomes[0]?.reason).toMatch(/no valid plan/)
  })

  it("boosts above the band by borrowing into an allowed pool", () => {
    const i = input([sub("a", 2.5, { pools: [POOL] }, 0.5)], { pools: [{ address: POOL, asset: "USDC", decimals: 6, balance: 0, withdrawable: 0 }] })
    const r = solve(i)
    expect(r.plan?.actions.map((a) => a.kind)).toEqual(["Borrow", "DepositToPool"])
    expect(r.outcomes[0]?.healthAfter).toBeLessThanOrEqual(1.7)
    expect(check(i, r.plan!).ok).toBe(true)
    expect(r.plan?.actions[0]?.amountBase).toBe(BigInt(Math.floor((r.plan?.actions[0]?.amount ?? 0) * 1e6)))
  })

  it("respects the cooldown and the per-rebalance cap", () => {
    const cooling = sub("a", 1.05)
    cooling.epoch = { ...FRESH, lastRebalance: NOW - 10 }
    expect(solve(input([cooling], { idle: { USDC: 1e6 } })).outcomes[0]?.reason).toMatch(/cooling down/)
    const capped = solve(input([sub("a", 1.05, { maxAmountPerRebalance: 10 })], { idle: { USDC: 1e6 } }))
    expect(capped.plan).toBeUndefined()
    expect(capped.outcomes[0]?.reason).toMatch(/reach only/)
  })

  it("skips a boost whose benefit is below its gas cost", () => {
    const r = solve(input([sub("a", 1.75, { pools: [PARK.address] })], { pools: [PARK], costs: { ...TEST_COSTS, gasPrice: 1 } }))
    expect(r.plan).toBeUndefined()
    expect(r.outcomes[0]?.reason).toMatch(/benefit/)
  })

  it("never leaves a borrow idle (module IdleInflow): without a swap, a boost parks all it borrows in an allowed pool, or there is none", () => {
    const parked = input([sub("a", 2.2, { maxHealth: 2, pools: [PARK.address] })], { pools: [PARK] })
    const r = solve(parked)
    expect(r.plan?.actions.map((a) => a.kind)).toEqual(["Borrow", "DepositToPool"])
    const [borrow, deposit] = r.plan?.actions ?? []
    expect(deposit?.amountBase).toBe(borrow?.amountBase)
    expect(check(parked, r.plan!).ok).toBe(true)
    // No pool to park it in: nothing, with the reason.
    const bare = solve(input([sub("a", 2.2, { maxHealth: 2 })]))
    expect(bare.plan).toBeUndefined()
    expect(bare.outcomes[0]?.reason).toMatch(/IdleInflow/)
    // The per-rebalance cap charges the net position change (the borrow; parking it changes no position): the boost
    // borrows up to the cap (3,640 uncapped), still parked whole.
    const capped = input([sub("a", 1.75, { maxHealth: 1.7, maxAmountPerRebalance: 2_000, pools: [PARK.address] })], { pools: [PARK] })
    const c = solve(capped)
    const amounts = c.plan?.actions.map((a) => a.amount) ?? []
    expect(amounts).toHaveLength(2)
    expect(amounts[0]).toBeCloseTo(amounts[1] as number, 9)
    expect(amounts[0] as number).toBeLessThanOrEqual(2_000 * (1 + 1e-9))
    expect(amounts[0] as number).toBeGreaterThan(2_000 * 0.999)
    expect(check(capped, c.plan!).ok).toBe(true)
    // Sizing it never drops the sub-account's role: it is the plan's target.
    expect(c.outcomes[0]?.role).toBe("target")
    expect(r.outcomes[0]?.role).toBe("target")
  })

  it("targets the policy target in threshold mode", () => {
    const r = solve(input([sub("a", 1.1)], { idle: { USDC: 1e6 }, mode: "threshold" }))
    expect(r.outcomes[0]?.healthAfter).toBeCloseTo(1.4, 4)
  })

  it("rejects mixed loan assets with a clear error", () => {
    const b = sub("b", 1.3)
    b.state = { ...b.state, loanAsset: "DAI" }
    expect(() => solve(input([sub("a", 1.3), b]))).toThrow(/mix loan assets/)
  })

  it("solves each loan asset separately with solveByLoanAsset", () => {
    const dai = sub("b", 1.05)
    dai.state = { ...dai.state, loanAsset: "DAI", loanDecimals: 18 }
    const results = solveByLoanAsset(input([sub("a", 1.05), dai], { idle: { USDC: 1e6, DAI: 1e6 } }))
    expect([...results.keys()]).toEqual(["USDC", "DAI"])
    expect(results.get("DAI")?.plan?.loanAsset).toBe("DAI")
    expect(results.get("USDC")?.plan?.subAccounts).toEqual(["a"])
  })

  it("uses Morpho's liquidation incentive", () => {
    expect(liquidationIncentiveFactor(0.86)).toBeCloseTo(1 / (1 - 0.3 * 0.14), 12)
    expect(liquidationIncentiveFactor(0.385)).toBe(1.15)
  })
})

describe("solver properties (seeded random portfolios)", () => {
  it("never proposes a plan the module rules reject, never leaves a touched sub-account outside its band, never uses a pool outside the policy", () => {
    let plans = 0
    for (let seed = 1; seed <= 400; seed++) {
      const i = randomSolverInput(seed, 2 + (seed % 7), seed % 5)
      const r = solve(i)
      if (r.plan === undefined) continue
      plans++
      const c = check(i, r.plan)
      expect(c.violations, `seed ${seed}`).toEqual([])
      const post = applyPlan({ subAccounts: i.subAccounts.map((s) => s.state), pools: i.pools, idle: i.idle }, r.plan)
      for (const id of r.plan.subAccounts) {
        const s = i.subAccounts.find((x) => x.state.id === id)!
        const h = healthOf(post.subAccounts.find((x) => x.id === id)!)
        expect(h).toBeGreaterThanOrEqual(s.policy.minHealth)
        expect(h).toBeLessThanOrEqual(s.policy.maxHealth)
        expect(c.amountMoved[id]).toBeLessThanOrEqual(s.policy.maxAmountPerRebalance)
      }
      for (const a of r.plan.actions) {
        if (a.pool === undefined) continue
        const owner = i.subAccounts.find((x) => x.state.id === r.plan!.subAccounts[a.subAccount])!
        expect(owner.policy.pools).toContain(a.pool)
      }
    }
    expect(plans).toBeGreaterThan(100)
  })

  it("never aims a triggered sub-account below its tail floor (or the band top when the floor is above it), however calm the recent volatility", () => {
    let boosts = 0
    for (let seed = 1; seed <= 300; seed++) {
      const base = randomSolverInput(seed, 1 + (seed % 4), seed % 3)
      const calm = seed % 2 === 0
      const i: SolverInput = { ...base, subAccounts: base.subAccounts.map((s) => ({ ...s, risk: calm ? { sigma: 0.02 } : s.risk })) }
      const r = solve(i)
      r.outcomes.forEach((o, k) => {
        if (!o.triggered) return
        const s = i.subAccounts[k]!
        const floor = policyTailFloorHealth(s.risk, s.policy)
        const bound = Math.min(floor, o.allowedHealth.max)
        expect(o.goalHealth, `seed ${seed}`).toBeGreaterThanOrEqual(bound - 1e-9)
        expect(o.riskHealth).toBeGreaterThanOrEqual(floor)
        if (o.role === "target" && o.healthBefore > s.policy.maxHealth) {
          boosts++
          expect(o.healthAfter, `seed ${seed} boost`).toBeGreaterThanOrEqual(bound - 1e-6)
        }
      })
    }
    expect(boosts).toBeGreaterThan(20)
  })

  it("never raises leverage when the tail drop (policy or seen in the history) grows", () => {
    for (let seed = 1; seed <= 200; seed++) {
      const i = randomSolverInput(seed, 1, 2)
      const s = i.subAccounts[0]!
      let last = Number.POSITIVE_INFINITY
      for (const drop of [0, 0.1, 0.2, 0.3, 0.45]) {
        const viaPolicy = solve({ ...i, subAccounts: [{ ...s, policy: { ...s.policy, tailDrop: drop } }] }).outcomes[0]!
        const viaHistory = solve({ ...i, subAccounts: [{ ...s, policy: { ...s.policy, tailDrop: 0 }, risk: { ...s.risk, tail: { drop } } }] }).outcomes[0]!
        expect(viaPolicy.leverageAfter, `seed ${seed} drop ${drop}`).toBeLessThanOrEqual(last * (1 + 1e-9))
        expect(viaHistory.riskHealth).toBeCloseTo(viaPolicy.riskHealth, 9)
        last = viaPolicy.leverageAfter
      }
    }
  })

  it("keeps threshold mode at the policy target (no tail floor)", () => {
    const r = solve(input([sub("a", 1.1, {}, 3)], { idle: { USDC: 1e6 }, mode: "threshold" }))
    expect(r.outcomes[0]?.riskHealth).toBe(1.4)
  })

  it("never raises leverage when volatility rises", () => {
    for (let seed = 1; seed <= 300; seed++) {
      const i = randomSolverInput(seed, 1, 2)
      const s = i.subAccounts[0]!
      let last = Number.POSITIVE_INFINITY
      for (const sigma of [0.1, 0.3, 0.6, 1, 1.5, 2.5]) {
        const r = solve({ ...i, subAccounts: [{ ...s, risk: { sigma } }] })
        const lev = r.outcomes[0]!.leverageAfter
        expect(lev, `seed ${seed} sigma ${sigma}`).toBeLessThanOrEqual(last * (1 + 1e-9))
        last = lev
      }
    }
  })
})

describe("the module's structural limits (MAX_SUB_ACCOUNTS, MAX_ACTIONS)", () => {
  it("9 triggered sub-accounts on one loan token: the 8 most urgent go in this plan, the 9th in the next; the plan encodes", async () => {
    const { MAX_SUB_ACCOUNTS } = await import("@levpilot/sdk/constants")
    const { encodeRebalanceCallData } = await import("@levpilot/sdk/utils")
    // Healths 1.10, 1.02, 1.09, ... shuffled: urgency is by health, not by position in the input.
    const healths = [1.1, 1.02, 1.09, 1.04, 1.08, 1.03, 1.07, 1.05, 1.06]
    const ids = healths.map((_, i) => `0x${(i + 1).toString(16).padStart(64, "0")}`)
    const i = input(healths.map((h, k) => sub(ids[k] as string, h)), { idle: { USDC: 10_000_000 } })
    const r = solve(i)
    expect(r.plan).toBeDefined()
    const plan = r.plan!
    expect(plan.subAccounts).toHaveLength(Number(MAX_SUB_ACCOUNTS))
    expect(plan.subAccounts).not.toContain(ids[0]) // health 1.10: the least urgent
    expect(check(i, plan).ok).toBe(true)
    expect(r.outcomes.find((o) => o.id === ids[0])?.reason).toMatch(/MAX_SUB_ACCOUNTS/)
    const chain = {
      subAccounts: plan.subAccounts as `0x${string}`[],
      actions: plan.actions.map((a) => ({ kind: a.kind, subAccount: a.subAccount, amount: a.amountBase })),
    }
    expect(() => encodeRebalanceCallData({ keeper: "0x0000000000000000000000000000000000000001", plan: chain as never })).not.toThrow()
    // The next block: the 8 landed (now inside their band), the 9th is solved.
    const next = input(
      healths.map((h, k) => sub(ids[k] as string, k === 0 ? h : 1.4)),
      { idle: { USDC: 10_000_000 } },
    )
    expect(solve(next).plan?.subAccounts).toEqual([ids[0]])
  })

  it("the rule check rejects a plan over either limit as a structure violation", () => {
    const ids = Array.from({ length: 9 }, (_, k) => `0x${(k + 1).toString(16).padStart(64, "0")}`)
    const i = input(ids.map((id) => sub(id, 1.05)), { idle: { USDC: 10_000_000 } })
    const plan = {
      loanAsset: "USDC",
      subAccounts: ids,
      actions: ids.map((_, k) => ({ kind: "Repay" as const, subAccount: k, amount: 100, amountBase: 100_000_000n })),
      gas: 0,
    }
    const v = check(i, plan as never).violations
    expect(v.some((x) => x.rule === "structure" && /MAX_SUB_ACCOUNTS = 8/.test(x.message))).toBe(true)
    const many = { ...plan, subAccounts: ids.slice(0, 1), actions: Array.from({ length: 33 }, () => ({ kind: "Repay" as const, subAccount: 0, amount: 1, amountBase: 1_000_000n })) }
    expect(check(i, many as never).violations.some((x) => x.rule === "structure" && /MAX_ACTIONS = 32/.test(x.message))).toBe(true)
  })
})

describe("borrows sized to the market's free liquidity (borrowable)", () => {
  const withLiquidity = (s: SubAccountInput, borrowable: number): SubAccountInput => ({ ...s, state: { ...s.state, borrowable } })

  it("a donor's borrow never exceeds its market's liquidity; the rest comes from another source (a second donor)", () => {
    const unlimited = solve(input([sub("low", 1.1), sub("donor", 1.9, { maxHealth: 2 })]))
    const full = unlimited.plan?.actions.find((a) => a.kind === "Borrow")?.amount ?? 0
    expect(full).toBeGreaterThan(100)
    const cap = full / 4
    const i = input([sub("low", 1.1), withLiquidity(sub("donor", 1.9, { maxHealth: 2 }), cap), sub("other", 1.9, { maxHealth: 2 })])
    const r = solve(i)
    const borrows = (r.plan?.actions ?? []).filter((a) => a.kind === "Borrow")
    const onDonor = borrows.filter((a) => r.plan?.subAccounts[a.subAccount] === "donor").reduce((t, a) => t + a.amount, 0)
    expect(onDonor).toBeGreaterThan(0)
    expect(onDonor).toBeLessThanOrEqual(cap * (1 + 1e-12))
    expect(borrows.some((a) => r.plan?.subAccounts[a.subAccount] === "other")).toBe(true)
    expect(check(i, r.plan!).ok).toBe(true)
  })

  it("a donor that both lends and gives collateral moves by at most its distance to its target (module NotDueMoveExceedsDistance)", () => {
    // The donor's market lends only a quarter of what it could give, so the rest comes as a collateral shift: two moves
    // that both lower its health, so together (not past the target) they fit its distance.
    const unlimited = solve(input([sub("low", 1.1), sub("donor", 1.9, { maxHealth: 2 })]))
    const full = unlimited.plan?.actions.find((a) => a.kind === "Borrow")?.amount ?? 0
    const i = input([sub("low", 1.1), withLiquidity(sub("donor", 1.9, { maxHealth: 2 }), full / 4)])
    const r = solve(i)
    const kinds = r.plan?.actions.map((a) => `${a.kind}:${r.plan?.subAccounts[a.subAccount]}`)
    expect(kinds).toEqual(expect.arrayContaining(["Borrow:donor", "WithdrawCollateral:donor", "SupplyCollateral:low"]))
    expect(r.outcomes[1]?.role).toBe("source")
    const c = check(i, r.plan!)
    expect(c.violations).toEqual([])
    const d = i.subAccounts[1]!.state
    const distance = Math.abs(1.4 * d.debt - d.collateral * d.price * d.lltv) / d.lltv
    expect(c.amountMoved.donor).toBeGreaterThan(0)
    expect(c.amountMoved.donor).toBeLessThanOrEqual(distance)
  })

  it("a boost on a market without free liquidity is not proposed; with some, it borrows at most that", () => {
    const parked = { pools: [PARK] }
    const none = solve(input([withLiquidity(sub("high", 2.2, { maxHealth: 2, pools: [PARK.address] }), 0)], parked))
    expect(none.plan).toBeUndefined()
    expect(none.outcomes[0]?.reason).toMatch(/free liquidity/)
    const base = solve(input([sub("high", 2.2, { maxHealth: 2, pools: [PARK.address] })], parked))
    const want = base.plan?.actions.find((a) => a.kind === "Borrow")?.amount ?? 0
    expect(want).toBeGreaterThan(0)
    const roomy = solve(input([withLiquidity(sub("high", 2.2, { maxHealth: 2, pools: [PARK.address] }), want * 10)], parked))
    expect(roomy.plan?.actions.find((a) => a.kind === "Borrow")?.amount).toBeCloseTo(want, 6)
  })
})
