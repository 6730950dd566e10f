import type { Hex } from "viem"
import { expect, test } from "vitest"
import { checkRebalanceRules } from "@levpilot/sdk/rules"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { toBaseUnits, toRuleInput } from "../solver/policyRules.js"
import { solve } from "../solver/solver.js"
import { healthOf, toBaseUnits as floorUnits } from "../solver/state.js"
import { randomSolverInput } from "../solver/testing.js"
import type { Plan, PortfolioState, SolverInput } from "../solver/types.js"
import { Rng } from "../risk/rng.js"
import { type ChainBounds, clampPlanToChainBounds } from "./chainBounds.js"
import { planFundingOf, toChainPlan } from "./portfolio.js"

// Review rr11e (issue 11 items 1 and 8): real solver plans (random inputs, the loan token at 6, 8 or 18 decimals, some
// markets with a free-liquidity bound) clamped at send after ONE on-chain bound moved since the read (a market's free
// liquidity `borrowable`, a pool's `maxWithdraw`, the Safe's balance), then judged by the SDK's rule book (the module's
// rules: DepositNotFunded (row 73), ActionFailed, PoolNotUsed, IdleInflow, SubAccountUnchanged ...) against the moved
// state, and walked against the exact bounds independently of the clamp.
// Held when: every action of the clamped plan is within its bound in plan order, and whenever the rule book accepts the
// unclamped plan against the state as read, it accepts the clamped plan against the moved state (a due sub-account left
// short of its landing zone by the cut is a partial rescue, accepted as the clamp fixtures do).

const EXACT = new Set(["WithdrawFromPool", "DepositToPool", "SupplyCollateral", "WithdrawCollateral", "Borrow", "Repay"])

/** WBTC (collateral and pools) at 8 decimals; RR11E_WBTC=18 gives the generator's 18. */
const WBTC_DECIMALS = Number(process.env.RR11E_WBTC ?? 8)

/** `randomSolverInput` with the loan token at `decimals`, and about half the markets bounded by their free liquidity. */
function inputOf(seed: number, decimals: number): SolverInput {
  const base = randomSolverInput(seed * 7919 + decimals, 2 + (seed % 4), seed % 3)
  const rng = new Rng(seed * 31 + decimals)
  return {
    ...base,
    pools: base.pools.map((p) => (p.asset === "USDC" ? { ...p, decimals } : p.asset === "WBTC" ? { ...p, decimals: WBTC_DECIMALS } : p)),
    subAccounts: base.subAccounts.map((s) => ({
      ...s,
      state: { ...s.state, loanDecimals: decimals, ...(s.state.collateralAsset === "WBTC" ? { collateralDecimals: WBTC_DECIMALS } : {}), ...(rng.uniform() < 0.5 ? { borrowable: 200 + 40_000 * rng.uniform() } : {}) },
    })),
  }
}

/** ERC-4626 `maxWithdraw` of `shares` (1:1) in a pool charging `feeBps` on exit: the most `a` with `a + ceil(a x fee / 10,000)` <= shares (the rule book's pool). */
function netOfExitFee(shares: bigint, feeBps: number): bigint {
  const fee = BigInt(Math.round(feeBps))
  let a = (shares * 10_000n) / (10_000n + fee)
  while (a > 0n && a + (a * fee + 9_999n) / 10_000n > shares) a--
  return a
}

/** The keeper's bounds read exactly from the (possibly moved) state, by the rule book's own conversions. */
function boundsOf(input: SolverInput): ChainBounds {
  const decimalsOf = (asset: string) => (asset === "USDC" ? (input.subAccounts[0]?.state.loanDecimals ?? 6) : asset === "WBTC" ? WBTC_DECIMALS : 18)
  return {
    balances: Object.fromEntries(Object.entries(input.idle).map(([asset, x]) => [asset.toLowerCase(), floorUnits(x, decimalsOf(asset))])),
    maxWithdraw: Object.fromEntries(input.pools.map((p) => [p.address.toLowerCase(), netOfExitFee(floorUnits(Math.min(p.balance, p.withdrawable ?? p.balance), p.decimals), p.slippageBps ?? 0)])),
    poolAsset: Object.fromEntries(input.pools.map((p) => [p.address.toLowerCase(), p.asset.toLowerCase()])),
    // The Safe's shares and their assets, 1:1 as the rule book's pools (toRuleInput), as the keeper's bounds carry them (f11e).
    poolShares: Object.fromEntries(
      input.pools.map((p) => {
        const shares = floorUnits(Math.min(p.balance, p.withdrawable ?? p.balance), p.decimals)
        return [p.address.toLowerCase(), { shares, assets: shares }]
      }),
    ),
    subAccounts: Object.fromEntries(
      input.subAccounts.map(({ state: s, policy }) => {
        const health = healthOf(s)
        return [
          s.id.toLowerCase(),
          {
            debt: toBaseUnits(s.debt, s.loanDecimals),
            collateral: toBaseUnits(s.collateral, s.collateralDecimals),
            loanToken: s.loanAsset.toLowerCase(),
            collateralToken: s.collateralAsset.toLowerCase(),
            price: toBaseUnits(s.price, 36 + s.loanDecimals - s.collateralDecimals),
            maxSlippageBps: policy.maxSlippageBps ?? 0,
            due: health < policy.minHealth || (health > policy.maxHealth && policy.boostAllowed),
            ...(s.borrowable === undefined ? {} : { borrowable: toBaseUnits(s.borrowable, s.loanDecimals) }),
          },
        ]
      }),
    ),
  }
}

const stateOf = (input: SolverInput): PortfolioState => ({ subAccounts: input.subAccounts.map((s) => s.state), pools: input.pools, idle: input.idle })

/** The rule book's verdict on `chain` (a plan over `plan`'s sub-accounts, or a subset) against `input`'s state. */
function verdict(plan: Plan, chain: ChainPlan, input: SolverInput) {
  const pre = stateOf(input)
  const policies = Object.fromEntries(input.subAccounts.map((s) => [s.state.id, s.policy]))
  const epochs = Object.fromEntries(input.subAccounts.map((s) => [s.state.id, s.epoch]))
  const subs = plan.subAccounts.map((id) => pre.subAccounts.find((s) => s.id === id) as PortfolioState["subAccounts"][number])
  const full = toRuleInput({ plan, pre, policies, epochs, now: input.now }, subs)
  const listed = chain.subAccounts.map((id) => full.subAccounts.find((s) => s.id.toLowerCase() === id.toLowerCase()) as (typeof full.subAccounts)[number])
  return checkRebalanceRules({ ...full, plan: { subAccounts: chain.subAccounts, actions: chain.actions.map((a) => ({ ...a, pool: "pool" in a ? (a.pool?.toLowerCase() as Hex) : undefined })) }, subAccounts: listed, outcome: { swapOutputs: {} } })
}

/** Every action of `out` within its bound of `b`, walked in plan order (independent of the clamp): the first excess. */
function excess(out: ChainPlan, b: ChainBounds): string | undefined {
  const bal = { ...b.balances }
  const mw = { ...b.maxWithdraw }
  const subs = Object.fromEntries(Object.entries(b.subAccounts).map(([k, s]) => [k, { debt: s.debt, coll: s.collateral, lend: s.borrowable }]))
  for (const [k, a] of out.actions.entries()) {
    const id = (out.subAccounts[a.subAccount] as string).toLowerCase()
    const s = subs[id] as (typeof subs)[string]
    const bs = b.subAccounts[id] as ChainBounds["subAccounts"][string]
    const over = (what: string, have: bigint) => (a.amount > have ? `${k} ${a.kind} ${a.amount} > ${what} ${have}` : undefined)
    let e: string | undefined
    if (a.kind === "WithdrawFromPool") {
      const p = (a.pool as string).toLowerCase()
      e = over("maxWithdraw", mw[p] ?? 0n)
      mw[p] = (mw[p] ?? 0n) - a.amount
      bal[b.poolAsset[p] as string] = (bal[b.poolAsset[p] as string] ?? 0n) + a.amount
    } else if (a.kind === "DepositToPool") {
      const t = b.poolAsset[(a.pool as string).toLowerCase()] as string
      e = over("balance", bal[t] ?? 0n)
      bal[t] = (bal[t] ?? 0n) - a.amount
    } else if (a.kind === "Borrow") {
      if (s.lend !== undefined) e = over("borrowable", s.lend)
      if (s.lend !== undefined) s.lend -= a.amount
      s.debt += a.amount
      bal[bs.loanToken] = (bal[bs.loanToken] ?? 0n) + a.amount
    } else if (a.kind === "Repay") {
      e = over("balance", bal[bs.loanToken] ?? 0n) ?? over("debt", s.debt)
      bal[bs.loanToken] = (bal[bs.loanToken] ?? 0n) - a.amount
      s.debt -= a.amount
    } else if (a.kind === "WithdrawCollateral") {
      e = over("collateral", s.coll)
      s.coll -= a.amount
      bal[bs.collateralToken] = (bal[bs.collateralToken] ?? 0n) + a.amount
    } else if (a.kind === "SupplyCollateral") {
      e = over("balance", bal[bs.collateralToken] ?? 0n)
      bal[bs.collateralToken] = (bal[bs.collateralToken] ?? 0n) - a.amount
      s.coll += a.amount
    }
    if (e) return e
  }
  return undefined
}

/** One bound moved since the read: `input` with the market of `sub` lending `f` of what the plan borrows there, etc. */
function moves(plan: Plan, input: SolverInput, rng: Rng): { what: string; moved: SolverInput }[] {
  const out: { what: string; moved: SolverInput }[] = []
  const f = () => 0.05 + 0.9 * rng.uniform()
  plan.subAccounts.forEach((id, i) => {
    const asked = plan.actions.filter((a) => a.subAccount === i && a.kind === "Borrow").reduce((t, a) => t + a.amount, 0)
    if (asked === 0) return
    const lend = asked * f()
    out.push({ what: `borrowable[${id.slice(0, 6)}] ${lend}`, moved: { ...input, subAccounts: input.subAccounts.map((s) => (s.state.id === id ? { ...s, state: { ...s.state, borrowable: lend } } : s)) } })
  })
  for (const pool of new Set(plan.actions.filter((a) => a.kind === "WithdrawFromPool").map((a) => a.pool as string))) {
    const asked = plan.actions.filter((a) => a.kind === "WithdrawFromPool" && a.pool === pool).reduce((t, a) => t + a.amount, 0)
    const left = asked * f()
    out.push({ what: `maxWithdraw[${pool.slice(-4)}] ${left}`, moved: { ...input, pools: input.pools.map((p) => (p.address === pool ? { ...p, withdrawable: left } : p)) } })
  }
  if ((input.idle.USDC ?? 0) > 0) out.push({ what: "balance", moved: { ...input, idle: { ...input.idle, USDC: (input.idle.USDC as number) * f() } } })
  return out
}

const PLANS = Number(process.env.RR11E_PLANS ?? 3000)
const SEED0 = Number(process.env.RR11E_SEED ?? 1)

type Trial = { seed: number; decimals: number; what: string; show: string; excess?: string | undefined; refusal?: string | undefined; args?: readonly unknown[]; partial?: boolean; outcome?: string; dropped?: string[]; scaled?: string[] }

/** Per sweep: plans, trials, cut trials, ..., and (judged) what the rule book said of the clamped plans. */
type Stats = { plans: number; trials: number; cut: number; deposits: number; boostCut: number; baselineRefused: number; refusedAfterClamp: number; partial: number; named: number; repaired: number; by: Record<string, number> }
const newStats = (): Stats => ({ plans: 0, trials: 0, cut: 0, deposits: 0, boostCut: 0, baselineRefused: 0, refusedAfterClamp: 0, partial: 0, named: 0, repaired: 0, by: {} })

/**
 * Clamps the real plan of `seed` after each one-bound move; the trials whose clamped plan breaks a bound or is refused.
 * `judged`: the clamp is given the rule book on the moved state (`judge`, f11f) and must repair what it refuses or
 * return a named refusal; every refusal of the plan it returns is then counted, a partial rescue too (`refusedAfterClamp`).
 */
function trialsOf(seed: number, stats: Stats = newStats(), judged = false, log?: Trial[]): Trial[] {
  const decimals = [6, 8, 18][Math.floor(seed / 4) % 3] as number
  const input = inputOf(seed, decimals)
  const plan = solve(input).plan
  if (plan === undefined || !plan.actions.every((a) => EXACT.has(a.kind))) return []
  const chain = toChainPlan(plan)
  if (!verdict(plan, chain, input).ok) {
    stats.baselineRefused++
    return []
  }
  stats.plans++
  const deposit = plan.actions.findIndex((a) => a.kind === "DepositToPool")
  if (deposit >= 0) stats.deposits++
  const found: Trial[] = []
  const rng = new Rng(seed * 101 + 7)
  for (const { what, moved } of moves(plan, input, rng)) {
    stats.trials++
    const bounds = boundsOf(moved)
    const judge = (p: ChainPlan) => verdict(plan, p, moved)
    const clamp = clampPlanToChainBounds as (...args: unknown[]) => ReturnType<typeof clampPlanToChainBounds> & { refusal?: { name: string; args: readonly unknown[] }; repaired?: { refusal: { name: string }; dropped: string[]; scaled: { index: number; from: bigint; to: bigint }[] } }
    const { plan: out, binding, refusal, repaired } = judged ? clamp(chain, bounds, planFundingOf(plan), { judge }) : clamp(chain, bounds, planFundingOf(plan))
    if (binding.length > 0) stats.cut++
    if (refusal !== undefined) stats.named++
    if (repaired !== undefined) stats.repaired++
    const tally = refusal ? `named ${refusal.name}` : repaired ? `repaired ${repaired.refusal.name}${repaired.scaled.length > 0 ? " (scaled)" : ""}` : undefined
    if (tally) stats.by[tally] = (stats.by[tally] ?? 0) + 1
    if (out === undefined && log !== undefined) log.push({ seed, decimals, what, show: "", outcome: refusal === undefined ? "nothing" : `named ${refusal.name}`, ...(refusal ? { refusal: refusal.name, args: refusal.args } : {}) })
    // A boost's own borrow cut (the only source that funds a deposit, row 73).
    if (deposit >= 0 && binding.some((b) => b.kind === "Borrow" && chain.subAccounts[chain.actions[b.index]?.subAccount ?? -1] === chain.subAccounts[chain.actions[deposit]?.subAccount ?? -1])) stats.boostCut++
    if (out === undefined) continue
    const show = `seed ${seed} dec ${decimals} ${what}: ${chain.actions.map((a) => `${a.kind}[${a.subAccount}]${"pool" in a && a.pool ? `@${a.pool.slice(-2)}` : ""}=${a.amount}`).join(" ")} => ${out.actions.map((a) => `${a.kind}[${plan.subAccounts.indexOf(out.subAccounts[a.subAccount] as string)}]=${a.amount}`).join(" ")}`
    const e = excess(out, bounds)
    const v = verdict(plan, out, moved)
    const dueId = (id: unknown) => bounds.subAccounts[String(id).toLowerCase()]?.due === true
    const partial = !v.ok && ["HealthOutOfBand", "HealthOutsideLandingZone"].includes(v.error.name) && dueId(v.error.args[0])
    log?.push({ seed, decimals, what, show, outcome: !v.ok ? `refused ${v.error.name}` : repaired ? `repaired ${repaired.refusal.name}` : "accepted", dropped: repaired?.dropped, scaled: repaired?.scaled.map((x) => `${x.index}: ${x.from} -> ${x.to}`) })
    if (!v.ok) stats.refusedAfterClamp++
    if (partial) stats.partial++
    if (judged && !v.ok) found.push({ seed, decimals, what, show, excess: e, refusal: v.error.name, args: v.error.args, partial })
    else if (e !== undefined || (!v.ok && !partial)) found.push({ seed, decimals, what, show, excess: e, ...(v.ok || partial ? {} : { refusal: v.error.name, args: v.error.args }) })
  }
  return found
}

function sweep(judged = false) {
  const stats = newStats()
  const found: Trial[] = []
  for (let seed = SEED0; stats.plans < PLANS && seed < SEED0 + 50_000; seed++) found.push(...trialsOf(seed, stats, judged))
  return { stats, found }
}

test("held (rr11e): no clamped plan exceeds an exact bound, and a boost's cut borrow never leaves its deposit unfunded (row 73)", () => {
  const { stats, found } = sweep()
  console.log(JSON.stringify({ stats, refusals: found.map((t) => `${t.refusal}: ${t.show}`) }, null, 1))
  // The generator reaches the cases, else the check proves nothing.
  expect(stats.plans).toBeGreaterThanOrEqual(Math.min(PLANS, 300))
  expect(stats.cut).toBeGreaterThan(stats.plans / 2)
  expect(stats.boostCut).toBeGreaterThan(50)
  expect(found.filter((t) => t.excess !== undefined).map((t) => `${t.show} :: ${t.excess}`)).toEqual([])
  expect(found.filter((t) => t.refusal === "DepositNotFunded" || t.refusal === "ActionNotAllowed" || t.refusal === "IdleInflow" || t.refusal === "PoolNotUsed").map((t) => t.show)).toEqual([])
})

// The seed of E1's trial: 200 until f13n (rr13u U2) changed how the solver plans that random input; 2759 reproduces
// the same case (bare clamp refused ValueLossExceeded, the rule book repairs or names it).
const E1_SEED = 2759

// E1: the clamp cuts an idle-funded repayment (the Safe's balance moved) and keeps a pool withdrawal's exit fee or a boost's
// deposit fee whole: the plan's loss is then above maxLossBps of the smaller move (rule 5, ValueLossExceeded), which the
// clamp does not re-judge. The keeper's failingSubAccountOf names no sub-account for it: the step throws, nothing is sent.
// Still so for a caller that gives the clamp no judge; the keeper gives it one (f11f, below).
test("without the rule book (rr11e E1, was observed today): after the Safe's balance drops, the bare clamp's plan of seed 2759 is refused ValueLossExceeded(17.33 loss, 9,899.38 moved, 15 bps)", () => {
  const t = trialsOf(E1_SEED).find((x) => x.what === "balance")
  expect(t?.refusal).toBe("ValueLossExceeded")
  expect(t?.args?.map(String)).toEqual(["17326144421946649500", "9899384452632184619008", "15"])
})

// Fixed (f11f): the same trial with the rule book given to the clamp: the refusal is repaired, not sent.
test("fixed (rr11e E1): seed 2759, balance lowered, clamped with the rule book: no refused plan; the ValueLossExceeded is repaired or named", () => {
  const log: Trial[] = []
  trialsOf(E1_SEED, newStats(), true, log)
  const t = log.find((x) => x.what === "balance")
  console.log(JSON.stringify(t))
  expect(t?.outcome).toMatch(/^(repaired|named) ValueLossExceeded$/)
})

// E2 (fixed, f11e): two withdrawals from one exit-fee pool were held together to maxWithdraw as if it were additive; each
// withdrawal's fee rounds up, so the gross of the second was a unit above the shares left (ActionFailed(2) at seed 9311).
// The clamp now holds a later withdrawal from a pool a share's worth lower (`poolShares`).
test("fixed (rr11e E2): seed 9311, pool 0x..01 (5 bps exit fee) lowered: the clamped plan is within its bounds and not refused ActionFailed", () => {
  const t = trialsOf(9311).find((x) => x.what.startsWith("maxWithdraw"))
  expect(t?.excess).toBeUndefined()
  expect(t?.refusal).toBeUndefined()
})

// E1 (fixed, f11f): the clamp is given the rule book (the moved state) and re-judges what it cut; every refusal, of any rule and
// a due sub-account's partial rescue too (the module refuses it: HealthOutsideLandingZone / HealthOutOfBand), is repaired
// (the part that no longer serves dropped or scaled down) or ends in a named refusal (no plan). Before the fix, over
// seeds 1.. at 3,000 plans: 1,789 of 4,501 trials returned a plan the rule book refuses (1,784 partial rescues, 5
// ValueLossExceeded); after: 0 (593 repaired, 1,196 named refusals: nothing sent). Seed 20001: 0 of 4,474.
test("fixed (rr11e E1, was FAILS TODAY): with the rule book, no clamped plan the clamp returns after one bound moved is refused by it (any rule, partial rescues included)", () => {
  const { stats, found } = sweep(true)
  console.log(JSON.stringify({ judged: stats }))
  expect(stats.plans).toBeGreaterThanOrEqual(Math.min(PLANS, 300))
  expect(stats.cut).toBeGreaterThan(stats.plans / 2)
  expect(found.filter((t) => t.excess !== undefined).map((t) => `${t.show} :: ${t.excess}`)).toEqual([])
  expect(found.map((t) => `${t.refusal}(${t.args?.join(", ")}): ${t.show}`)).toEqual([])
  expect(stats.refusedAfterClamp).toBe(0)
})
