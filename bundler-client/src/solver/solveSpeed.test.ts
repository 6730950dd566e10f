import { describe, expect, it } from "vitest"
import { parseUnits } from "viem"
import { checkRebalanceRules } from "@levpilot/sdk/rules"
import { checkPlanAgainstPolicy, toBaseUnits, toRuleInput } from "./policyRules.js"
import { resumeWithout, solveOnce } from "./solver.js"
import { netValue } from "./state.js"
import { randomSolverInput } from "./testing.js"
import type { EpochState, Policy, PortfolioState, SolverInput, SubAccountState } from "./types.js"
import { WorkingPortfolio, assessAll } from "./workingPortfolio.js"

// The plan benchmark's speed-ups (npm run bench:solver, 50 sub-accounts x 20 pools) keep every result: these tests fail
// when one of them changes what the solver computes.

const none = () => ({ targets: new Map<number, string>(), sources: new Map<number, string>() })

/** `lossState`'s loss as it was computed before: every sub-account of the input copied into both states. */
function lossOverWholeList(w: WorkingPortfolio, extraSubs: readonly number[], extraPool: string | undefined): number {
  const ids = w.touchedOrder(extraSubs).map((i) => w.sub(i).state.id)
  const pools = [...new Set([...w.touchedPools, ...(extraPool === undefined ? [] : [extraPool])])]
  const pre: PortfolioState = { subAccounts: w.subs.map((s) => s.state), pools: w.input.pools, idle: w.input.idle }
  const work: PortfolioState = {
    subAccounts: w.subs.map((s, k) => ({ ...s.state, collateral: w.collateral[k] as number, debt: w.debt[k] as number })),
    pools: w.pools,
    idle: w.idle,
  }
  const before = netValue(pre, w.loanAsset, ids, pools)
  const drop = before - netValue(work, w.loanAsset, ids, pools)
  return drop > Math.abs(before) * 1e-12 ? drop : 0
}

/** A working portfolio of `input` with a few moves on sub-accounts 3, 7 and 11 (a pool withdrawal among them). */
function worked(input: SolverInput): WorkingPortfolio {
  const w = new WorkingPortfolio(input, "USDC", none())
  const pool = w.pools.find((p) => p.asset === "USDC" && p.balance > 1_000)
  expect(pool, "a USDC pool with a balance").toBeDefined()
  w.push("WithdrawFromPool", 3, 500, pool)
  w.push("Repay", 3, 500)
  w.push("Borrow", 7, 1_200)
  w.push("WithdrawCollateral", 11, 0.01)
  return w
}

describe("solver speed-ups keep the results", () => {
  it("lossState lists only the touched sub-accounts: the same loss as over the whole list", () => {
    for (let seed = 1; seed <= 12; seed++) {
      const w = worked(randomSolverInput(seed, 50, 20))
      for (const extra of [[], [0], [20, 3], [49]]) {
        expect(w.lossState(extra, undefined).loss).toBe(lossOverWholeList(w, extra, undefined))
        expect(w.lossState(extra, w.pools[5]?.address).loss).toBe(lossOverWholeList(w, extra, w.pools[5]?.address))
      }
    }
  })

  it("with a repeated sub-account id, lossState still values the input's first sub-account of that id", () => {
    let differs = 0
    for (let seed = 1; seed <= 12; seed++) {
      const input = randomSolverInput(seed, 50, 20)
      // Sub-account 11 (touched) takes the id of sub-account 2 (not touched, listed first): netValue finds 2's position.
      const subAccounts = input.subAccounts.map((s, k) => (k === 11 ? { ...s, state: { ...s.state, id: input.subAccounts[2]?.state.id as string } } : s))
      const w = worked({ ...input, subAccounts })
      expect(w.uniqueIds).toBe(false)
      const loss = w.lossState([], undefined).loss
      expect(loss).toBe(lossOverWholeList(w, [], undefined))
      // Listing the touched ones in touched order would have valued sub-account 11's own position: a different loss here.
      const ownPosition = worked({ ...input, subAccounts: subAccounts.map((s, k) => (k === 2 ? { ...s, state: { ...s.state, id: "elsewhere" } } : s)) })
      if (ownPosition.lossState([], undefined).loss !== loss) differs++
    }
    expect(differs, "the case tells the two listings apart").toBeGreaterThan(0)
  })

  it("withBorrow probes the state with the borrow and takes it back exactly", () => {
    for (let seed = 1; seed <= 6; seed++) {
      const w = worked(randomSolverInput(seed, 50, 20))
      const sink = w.pools.find((p) => p.asset === "USDC") as NonNullable<(typeof w.pools)[number]>
      for (const [sub, amount] of [[7, 300], [20, 5_000], [33, 0.5]] as const) {
        // The old probe: checkpoint, push, read, restore.
        const snap = w.checkpoint()
        w.push("Borrow", sub, amount)
        const expected = w.slipRoom(w.slipOf(sink), false, [sub], sink.address)
        const debtWith = w.debt[sub]
        const idleWith = w.idle.USDC
        w.restore(snap)
        const debt = Array.from(w.debt)
        const idle = { ...w.idle }
        const keys = Object.keys(w.idle)
        const moves = w.moves.length
        let seen: number[] = []
        const got = w.withBorrow(sub, amount, () => {
          seen = [w.debt[sub] as number, w.idle.USDC as number, w.moves.length]
          return w.slipRoom(w.slipOf(sink), false, [sub], sink.address)
        })
        expect(got).toBe(expected)
        expect(seen).toEqual([debtWith, idleWith, moves + 1])
        expect(Array.from(w.debt)).toEqual(debt)
        expect(w.idle).toEqual(idle)
        expect(Object.keys(w.idle)).toEqual(keys)
        expect(w.moves.length).toBe(moves)
      }
    }
    // No idle loan token before: the key is gone again after the probe (as restore leaves it).
    const input = randomSolverInput(3, 50, 20)
    const w = new WorkingPortfolio({ ...input, idle: {} }, "USDC", none())
    w.withBorrow(4, 100, () => expect(w.idle.USDC).toBe(100))
    expect(Object.hasOwn(w.idle, "USDC")).toBe(false)
  })

  it("one assessment shared by working portfolios: each changes only its own copy", () => {
    const input = randomSolverInput(5, 50, 20)
    const assessed = assessAll(input)
    const a = new WorkingPortfolio(input, "USDC", none(), assessed)
    const b = new WorkingPortfolio(input, "USDC", none(), assessed)
    expect(a.accounts).toEqual(new WorkingPortfolio(input, "USDC", none()).accounts)
    const cap = b.account(0).capTotal
    a.account(0).capTotal = cap / 2
    a.account(0).capBound = true
    expect(b.account(0).capTotal).toBe(cap)
    expect(b.account(0).capBound).toBeUndefined()
    expect(assessed[0]?.capTotal).toBe(cap)
  })

  it("toBaseUnits' remembered conversions equal viem's parseUnits, past the kept count too", () => {
    for (let round = 0; round < 2; round++) {
      for (let k = 1; k <= 9_000; k++) {
        const value = k * 1.0137 + k / 7
        for (const decimals of [6, 18]) expect(toBaseUnits(value, decimals)).toBe(parseUnits(String(value), decimals))
      }
    }
    expect(toBaseUnits(0.995, 18)).toBe(995n * 10n ** 15n)
    expect(toBaseUnits(1e-7, 6)).toBe(0n)
  })

  it("an attempt resumed without one more boost target is the attempt solved from scratch with that exclusion", () => {
    const json = (x: unknown) => JSON.stringify(x, (_, v) => (typeof v === "bigint" ? v.toString() : v))
    let resumed = 0
    for (let seed = 100; seed < 112; seed++) {
      const input = randomSolverInput(seed, 50, 20)
      const exclusions = none()
      const assessed = assessAll(input)
      let attempt = solveOnce(input, "USDC", exclusions, assessed)
      // Leave out boost targets one by one, each time from the resumed attempt (as searchPlan's rounds do), the
      // highest-indexed first, then the lowest, so targets early and late in the boost order are both left out.
      for (let round = 0; round < 4; round++) {
        const boosts = attempt.result.outcomes.map((o, i) => (o.role === "target" && input.subAccounts[i] !== undefined && attempt.work.account(i).high ? i : -1)).filter((i) => i >= 0)
        const t = round % 2 === 0 ? boosts[boosts.length - 1] : boosts[0]
        if (t === undefined) break
        exclusions.targets.set(t, "left out by the test")
        const fresh = solveOnce(input, "USDC", { targets: new Map(exclusions.targets), sources: new Map(exclusions.sources) }, assessed)
        const next = resumeWithout(attempt, t)
        expect(next, "a boost target the attempt ran can be resumed").toBeDefined()
        attempt = next as NonNullable<typeof next>
        expect(json(attempt.result)).toBe(json(fresh.result))
        resumed++
      }
      // A target the attempt did not boost (below its band, or none) is not resumed: the caller solves from scratch.
      const low = attempt.work.accounts.find((a) => a.low)
      if (low !== undefined) {
        exclusions.targets.set(low.index, "left out by the test")
        expect(resumeWithout(attempt, low.index)).toBeUndefined()
      }
    }
    expect(resumed, "the seeds leave out boosts").toBeGreaterThan(20)
  })

  it("a plan over the module's structural limits gets the verdict the whole rule input gets (MalformedPlan)", () => {
    let malformed = 0
    for (let seed = 100; seed < 110; seed++) {
      const input = randomSolverInput(seed, 50, 20)
      const attempt = solveOnce(input, "USDC", none(), assessAll(input))
      const plan = attempt.result.plan
      if (plan === undefined || plan.subAccounts.length <= 8) continue
      const pre: PortfolioState = { subAccounts: input.subAccounts.map((s) => s.state), pools: input.pools, idle: input.idle }
      const policies: Record<string, Policy> = Object.fromEntries(input.subAccounts.map((s) => [s.state.id, s.policy]))
      const epochs: Record<string, EpochState> = Object.fromEntries(input.subAccounts.map((s) => [s.state.id, s.epoch]))
      const params = { plan, pre, policies, epochs, now: input.now }
      const check = checkPlanAgainstPolicy(params)
      const known = plan.subAccounts.map((id) => pre.subAccounts.find((s) => s.id === id)) as SubAccountState[]
      const whole = checkRebalanceRules(toRuleInput(params, known))
      expect(whole.ok).toBe(false)
      if (whole.ok) continue
      expect(whole.error.name).toBe("MalformedPlan")
      expect(check.ok).toBe(false)
      expect(check.violations).toHaveLength(1)
      expect(check.violations[0]?.error).toEqual(whole.error)
      malformed++
    }
    expect(malformed, "the seeds plan over the limits").toBeGreaterThan(3)
  })
})
