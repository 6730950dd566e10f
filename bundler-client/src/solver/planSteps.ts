import { healthOf, leverageOf, toBaseUnits } from "./state.js"
import type { Plan, PlanAction, Policy, SolverResult, SubAccountOutcome, SubAccountState } from "./types.js"
import type { Account, Checkpoint, WorkingPortfolio } from "./workingPortfolio.js"

/**
 * Morpho Blue liquidation incentive factor: min(1.15, 1 / (1 - 0.3 (1 - lltv))).
 *
 * @param lltv - Liquidation LTV in (0, 1).
 * @returns The factor (> 1) applied to repaid debt to size seized collateral.
 * @example liquidationIncentiveFactor(0.86) // ~1.0438
 */
export function liquidationIncentiveFactor(lltv: number): number {
  return Math.min(1.15, 1 / (1 - 0.3 * (1 - lltv)))
}

export function fmt(x: number): string {
  if (!Number.isFinite(x)) return "inf"
  return Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(3)
}

function pct(p: number): string {
  return `${(p * 100).toPrecision(2)}%`
}

function short(id: string): string {
  return id.length > 12 ? `${id.slice(0, 8)}…` : id
}

const worth = (amount: number, decimals: number): boolean => amount > 0 && amount * 10 ** decimals >= 1

/** A target being worked on: where its moves start, to undo or to cost them. */
type Target = { i: number; s: SubAccountState; policy: Policy; snap: Checkpoint; firstMove: number; planWasEmpty: boolean; goal: number }

/**
 * Takes a triggered sub-account as a target, unless the policy check excluded it, it is blocked, or it already has a
 * role; then its reason says why.
 *
 * @returns The target, or `undefined` when it cannot be one.
 */
function beginTarget(w: WorkingPortfolio, a: Account): Target | undefined {
  const i = a.index
  const p = w.sub(i).policy
  const side = a.low ? `below band (health ${fmt(a.h0)} < ${fmt(p.minHealth)})` : `above band (health ${fmt(a.h0)} > ${fmt(p.maxHealth)})`
  const excluded = w.exclusions.targets.get(i)
  if (excluded !== undefined) w.reasons[i] = `${side} but the module would reject a plan for it (${excluded})`
  else if (a.blocked !== undefined) w.reasons[i] = `${side} but ${a.blocked}`
  if (excluded !== undefined || a.blocked !== undefined || w.roles[i] !== "none") return undefined
  const { state, policy } = w.sub(i)
  const start = { i, s: state, policy, snap: w.checkpoint(), firstMove: w.moves.length, planWasEmpty: w.moves.length === 0, goal: a.desired }
  w.roles[i] = "target"
  return start
}

/** The gas and slippage a target's moves cost (with the plan's fixed base gas when they are the plan's first). */
function movesCost(w: WorkingPortfolio, t: Target): number {
  const { costs } = w.input
  return (w.gasOf(t.firstMove) + (t.planWasEmpty ? costs.baseGas : 0)) * costs.gasPrice + (w.slippageLoss - t.snap.loss)
}

/** Loan tokens still to repay, and collateral still to supply, for target `t` to reach its goal health. */
function needs(w: WorkingPortfolio, t: Target) {
  const { i, s, goal } = t
  return {
    loan: (): number => (w.debt[i] as number) - ((w.collateral[i] as number) * s.price * s.lltv) / goal,
    collateral: (): number => (goal * (w.debt[i] as number)) / s.lltv / s.price - (w.collateral[i] as number),
  }
}

/** Deleverage funding, cheapest first: idle loan tokens repay, idle collateral tokens are supplied. */
function fundFromIdle(w: WorkingPortfolio, t: Target, sources: string[]): void {
  const { i, s } = t
  const need = needs(w, t)
  let x = Math.min(w.idle[w.loanAsset] ?? 0, need.loan(), w.capLeft(i), w.repayLeft(i))
  if (worth(x, s.loanDecimals)) {
    w.push("Repay", i, x)
    sources.push("idle")
  }
  if (s.collateralAsset !== w.loanAsset) {
    x = Math.min(w.idle[s.collateralAsset] ?? 0, need.collateral(), w.capLeft(i) / s.price, w.supplyLeft(i))
    if (worth(x, s.collateralDecimals)) {
      w.push("SupplyCollateral", i, x)
      sources.push("idle collateral")
    }
  }
}

/** Deleverage funding from the policy's pools, lowest slippage first: loan-token pools repay, collateral pools supply. */
function fundFromPools(w: WorkingPortfolio, t: Target, sources: string[]): void {
  const { i, s, policy } = t
  const need = needs(w, t)
  const allowed = w.pools.filter((p) => policy.pools.includes(p.address)).sort((u, v) => (u.slippageBps ?? 0) - (v.slippageBps ?? 0))
  for (const pool of allowed) {
    if (pool.asset !== w.loanAsset) continue
    const slip = w.slipOf(pool)
    const budget = w.slipRoom(slip, true, [i], pool.address)
    const x = Math.min(pool.withdrawable / (1 + slip), need.loan(), w.capLeft(i), budget, w.repayLeft(i))
    if (worth(x, pool.decimals)) {
      w.push("WithdrawFromPool", i, x, pool)
      w.push("Repay", i, x)
      sources.push(`pool ${short(pool.address)}`)
    }
  }
  for (const pool of allowed) {
    if (pool.asset !== s.collateralAsset || pool.asset === w.loanAsset) continue
    const slip = w.slipOf(pool)
    const budget = w.slipRoom(slip, true, [i], pool.address) / s.price
    const x = Math.min(pool.withdrawable / (1 + slip), need.collateral(), w.capLeft(i) / s.price, budget, w.supplyLeft(i))
    if (worth(x, pool.decimals)) {
      w.push("WithdrawFromPool", i, x, pool)
      w.push("SupplyCollateral", i, x)
      sources.push(`pool ${short(pool.address)}`)
    }
  }
}

/**
 * Deleverage funding from over-collateralised sub-accounts (healthiest first, never below their own floor): borrow on
 * them to repay the target, then move collateral of the same token. Every amount stays within what the venues take now
 * (`borrowable`, `repayable`, `withdrawable`, `suppliable`: an Aave reserve's liquidity and caps, nothing on a frozen
 * or paused one), so the plan does not revert on a venue's own limit.
 */
function fundFromDonors(w: WorkingPortfolio, t: Target, sources: string[]): void {
  const { i, s } = t
  const need = needs(w, t)
  const donors = w.accounts.filter((b) => w.canSource(b.index, i)).sort((u, v) => w.health(v.index) - w.health(u.index))
  for (const b of donors) {
    const j = b.index
    if (need.loan() <= 0) break
    const sj = w.sub(j).state
    const floor = w.sourceFloor(j)
    if (!(w.health(j) > floor)) continue
    const available = ((w.collateral[j] as number) * sj.price * sj.lltv) / floor - (w.debt[j] as number)
    const x = Math.min(available, need.loan(), w.capLeft(i), w.capLeft(j), w.borrowLeft(j), w.repayLeft(i))
    if (worth(x, s.loanDecimals)) {
      w.push("Borrow", j, x)
      w.push("Repay", i, x)
      if (w.roles[j] === "none") w.roles[j] = "source"
      w.reasons[j] = `source: borrowed ${fmt(x)} ${w.loanAsset} to repay ${short(s.id)} (health ${fmt(b.h0)} -> ${fmt(w.health(j))})`
      sources.push(`borrow on ${short(sj.id)}`)
    }
  }
  for (const b of donors) {
    const j = b.index
    const sj = w.sub(j).state
    if (sj.collateralAsset !== s.collateralAsset || need.collateral() <= 0) continue
    const floor = w.sourceFloor(j)
    if (!(w.health(j) > floor)) continue
    const available = (w.collateral[j] as number) - (floor * (w.debt[j] as number)) / (sj.price * sj.lltv)
    const x = Math.min(available, need.collateral(), w.capLeft(i) / s.price, w.capLeft(j) / s.price, w.withdrawLeft(j), w.supplyLeft(i))
    if (worth(x, s.collateralDecimals)) {
      w.push("WithdrawCollateral", j, x)
      w.push("SupplyCollateral", i, x)
      if (w.roles[j] === "none") w.roles[j] = "source"
      w.reasons[j] = `source: moved ${fmt(x)} ${sj.collateralAsset} collateral to ${short(s.id)} (health ${fmt(b.h0)} -> ${fmt(w.health(j))})`
      sources.push(`collateral of ${short(sj.id)}`)
    }
  }
}

/**
 * Step 2, per sub-account below its band (lowest health first): fund a deleverage towards its goal from idle balances,
 * pools and donors; keep it only if it stays within the loss limits, reaches the allowed interval, and (autopilot) its
 * avoided liquidation penalty pays for its gas and slippage when the position is still within tolerance.
 */
export function deleverage(w: WorkingPortfolio, a: Account): void {
  const t = beginTarget(w, a)
  if (t === undefined) return
  const { i, s, policy, snap } = t
  const sources: string[] = []
  fundFromIdle(w, t, sources)
  fundFromPools(w, t, sources)
  fundFromDonors(w, t, sources)
  const reached = w.health(i)
  if (w.lossBudget([], undefined) < 0) {
    w.restore(snap)
    w.reasons[i] = `below band but touching it would exceed a loss limit (maxLossBps ${policy.maxLossBps}, maxEpochLossBps ${policy.maxEpochLossBps ?? 10_000}); no valid plan`
    return
  }
  if (reached < a.lo) {
    w.restore(snap)
    w.reasons[i] = `below band (health ${fmt(a.h0)} < ${policy.minHealth}) but funds and caps reach only ${fmt(reached)}; no valid plan`
    return
  }
  const cost = movesCost(w, t)
  const pBefore = w.probability(i, a.h0)
  const pAfter = w.probability(i, reached)
  const benefit = (pBefore - pAfter) * s.debt * (liquidationIncentiveFactor(s.lltv) - 1)
  if (w.mode === "autopilot" && pBefore <= policy.tolerance && a.h0 >= a.tailFloor && benefit < cost) {
    w.restore(snap)
    w.reasons[i] = `below band but liquidation risk ${pct(pBefore)} is within tolerance and the benefit ${fmt(benefit)} < cost ${fmt(cost)}; skipped`
    return
  }
  w.reasons[i] = `below band: deleverage ${fmt(a.h0)} -> ${fmt(reached)} (risk target ${fmt(a.riskHealth)}) from ${sources.join(", ")}; P(liq) ${pct(pBefore)} -> ${pct(pAfter)}`
}

/**
 * Step 3, per sub-account above its band: borrow down to its goal (within its cap) and deposit the proceeds in the
 * cheapest allowed loan-token pool (or keep them idle); kept only within the loss limits and (autopilot) when
 * `amount x boostEdgeBps` pays for its cost.
 */
export function boost(w: WorkingPortfolio, a: Account): void {
  const t = beginTarget(w, a)
  if (t === undefined) return
  const { i, s, policy, snap, goal } = t
  const want = ((w.collateral[i] as number) * s.price * s.lltv) / goal - (w.debt[i] as number)
  const borrow = Math.min(want, w.capLeft(i), w.borrowLeft(i))
  const reachedHealth = ((w.collateral[i] as number) * s.price * s.lltv) / ((w.debt[i] as number) + Math.max(0, borrow))
  if (!worth(borrow, s.loanDecimals) || reachedHealth > a.hi) {
    w.restore(snap)
    w.reasons[i] = `above band (health ${fmt(a.h0)} > ${policy.maxHealth}) but caps${w.borrowLeft(i) < want ? " and the market's free liquidity" : ""} allow only health ${fmt(reachedHealth)}; no valid plan`
    return
  }
  // The module refuses a borrow left idle (IdleInflow): without a swap (planSwapBoost), a boost borrows only what the
  // cheapest allowed loan-token pool takes within the slippage room (the caps already bound the borrow, and the deposit
  // changes no position, so it costs no cap); the amount shrinks until it fits.
  const sink = w.pools.filter((p) => policy.pools.includes(p.address) && p.asset === w.loanAsset).sort((u, v) => (u.slippageBps ?? 0) - (v.slippageBps ?? 0))[0]
  if (sink === undefined) {
    w.reasons[i] = `above band (health ${fmt(a.h0)} > ${policy.maxHealth}) but the policy lists no ${w.loanAsset} pool to hold a borrow and no swap boost fits; a borrow left idle is refused (IdleInflow); no valid plan`
    return
  }
  const fits = (x: number): boolean => {
    const trial = w.checkpoint()
    w.push("Borrow", i, x)
    const room = w.slipRoom(w.slipOf(sink), false, [i], sink.address)
    w.restore(trial)
    return room >= x
  }
  // The largest borrow the pool can take (bisection: a smaller borrow always fits where a larger one does).
  let amount = borrow
  if (!fits(amount)) {
    let lo = 0
    let hi = borrow
    for (let round = 0; round < 40; round++) {
      const mid = (lo + hi) / 2
      if (fits(mid)) lo = mid
      else hi = mid
    }
    amount = lo
  }
  const parked = worth(amount, s.loanDecimals)
  if (parked) {
    w.push("Borrow", i, amount)
    w.push("DepositToPool", i, amount, sink)
  }
  const reached = w.health(i)
  if (!parked || reached > a.hi) {
    w.restore(snap)
    w.reasons[i] = `above band (health ${fmt(a.h0)} > ${policy.maxHealth}) but pool ${short(sink.address)} takes only ${fmt(amount)} ${w.loanAsset} within the caps and slippage room, reaching health ${fmt(parked ? reached : a.h0)} > ${fmt(a.hi)}; no valid plan`
    return
  }
  const destination = `deposited to pool ${short(sink.address)}`
  if (w.lossBudget([], undefined) < 0) {
    w.restore(snap)
    w.reasons[i] = `above band but touching it would exceed a loss limit (maxLossBps ${policy.maxLossBps}, maxEpochLossBps ${policy.maxEpochLossBps ?? 10_000}); no valid plan`
    return
  }
  const cost = movesCost(w, t)
  const benefit = (amount * w.input.costs.boostEdgeBps) / 10_000
  if (w.mode === "autopilot" && benefit < cost) {
    w.restore(snap)
    w.reasons[i] = `above band but the boost benefit ${fmt(benefit)} < cost ${fmt(cost)}; skipped`
    return
  }
  w.reasons[i] = `above band: boost ${fmt(a.h0)} -> ${fmt(reached)} (risk target ${fmt(a.riskHealth)}), borrowed ${fmt(amount)} ${w.loanAsset} ${destination}; P(liq) ${pct(w.probability(i, reached))}`
}

/**
 * Step 4: one outcome per sub-account (health, leverage and liquidation probability before and after, role, reason) and
 * the plan of the moves kept, its sub-accounts in the order they are first touched, amounts also in base units.
 *
 * @returns The solver result for this attempt.
 */
export function finishPlan(w: WorkingPortfolio): SolverResult {
  const { costs } = w.input
  const outcomes: SubAccountOutcome[] = w.accounts.map((a) => {
    const i = a.index
    const { state: s, policy: p } = w.sub(i)
    const after = { collateral: w.collateral[i] as number, debt: w.debt[i] as number, price: s.price, lltv: s.lltv }
    let reason = w.reasons[i] as string
    if (reason === "")
      reason =
        a.h0 > p.maxHealth && !p.boostAllowed
          ? `above band (health ${fmt(a.h0)} > ${fmt(p.maxHealth)}) but boosts are not allowed; no trigger`
          : `in band (health ${fmt(a.h0)} in [${fmt(p.minHealth)}, ${fmt(p.maxHealth)}]); no trigger`
    return {
      id: s.id,
      triggered: a.low || a.high,
      role: w.roles[i] as "target" | "source" | "none",
      healthBefore: a.h0,
      healthAfter: healthOf(after),
      leverageBefore: leverageOf(s),
      leverageAfter: leverageOf(after),
      liquidationProbabilityBefore: w.probability(i, a.h0),
      liquidationProbabilityAfter: w.probability(i, healthOf(after)),
      riskHealth: a.riskHealth,
      goalHealth: a.low || a.high ? a.desired : Number.NaN,
      allowedHealth: { min: a.lo, max: a.hi },
      reason,
    }
  })
  if (w.moves.length === 0) return { plan: undefined, outcomes, cost: 0 }
  const order: number[] = []
  for (const m of w.moves) if (!order.includes(m.sub)) order.push(m.sub)
  const actions: PlanAction[] = w.moves.map((m) => ({
    kind: m.kind,
    subAccount: order.indexOf(m.sub),
    pool: m.pool,
    asset: m.asset,
    amount: m.amount,
    amountBase: toBaseUnits(m.amount, m.decimals),
  }))
  const gas = costs.baseGas + w.gasOf(0)
  const plan: Plan = { loanAsset: w.loanAsset, subAccounts: order.map((i) => w.sub(i).state.id), actions, gas }
  return { plan, outcomes, cost: gas * costs.gasPrice + w.slippageLoss }
}
