import { healthForTolerance, liquidationProbability, SECONDS_PER_YEAR } from "../risk/firstPassage"
import { MIN_BAND_GAP as MIN_BAND_GAP_WAD } from "../../../sdk/src/constants/module.js"
import { SolverInputError } from "./errors"
import { checkPlanAgainstPolicy } from "./policyRules"
import { effectiveEpoch, healthOf, landingZone, leverageOf, netValue, toBaseUnits } from "./state"
import type { ActionKind, EpochState, Plan, PlanAction, Policy, PortfolioState, SolverInput, SolverResult, SubAccountOutcome, YieldPool } from "./types"

/** Distance (in health units) the solver keeps from every band edge so integer rounding on chain cannot cross it. */
export const HEALTH_MARGIN = 1e-6
/** The module's smallest gap between the target and each band edge (ConstantsLib.MIN_BAND_GAP, 0.01 in health). */
export const MIN_BAND_GAP = Number(MIN_BAND_GAP_WAD) / 1e18
const CAP_SLACK = 1 - 1e-9

/*
 * Budget pacing: a deleverage's goal moves from the risk health towards the top of its allowed
 * interval in proportion to the share of the epoch's rebalances used (this one included), so a
 * steady decline cannot exhaust maxRebalancesPerEpoch with small steps and leave the position
 * unattended near liquidation.
 */

/**
 * A deleverage aims at the health whose liquidation probability is this fraction of the tolerance
 * (boosts aim at the tolerance itself): the gap is a hysteresis band that stops the solver from
 * paying gas every block to nudge a position back over the same edge.
 */
export const DEFAULT_DELEVERAGE_TOLERANCE_FACTOR = 0.5

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

/**
 * Check a policy's static validity (docs/policy-rules.md "Valid policy", numeric part).
 *
 * @param policy - Policy in human units.
 * @returns A list of problems (empty when valid).
 */
export function validatePolicy(policy: Policy): string[] {
  const problems: string[] = []
  if (!(policy.minHealth >= 1)) problems.push(`minHealth ${policy.minHealth} must be >= 1`)
  if (!(policy.minHealth + MIN_BAND_GAP <= policy.targetHealth && policy.targetHealth + MIN_BAND_GAP <= policy.maxHealth))
    problems.push(`need minHealth + ${MIN_BAND_GAP} <= targetHealth <= maxHealth - ${MIN_BAND_GAP}`)
  if (policy.pools.length > 8) problems.push(`at most 8 pools, got ${policy.pools.length}`)
  if (new Set(policy.pools).size !== policy.pools.length) problems.push("pools must be unique")
  if (!(policy.maxLossBps >= 0 && policy.maxLossBps <= 10_000)) problems.push("maxLossBps must be in [0, 10000]")
  if (policy.maxEpochLossBps !== undefined && !(policy.maxEpochLossBps >= 0 && policy.maxEpochLossBps <= 10_000))
    problems.push("maxEpochLossBps must be in [0, 10000]")
  if (!(policy.epochLength > 0)) problems.push("epochLength must be > 0")
  if (!(policy.tolerance > 0 && policy.tolerance < 1)) problems.push("tolerance must be in (0, 1)")
  if (!(policy.horizon > 0)) problems.push("horizon must be > 0 seconds")
  return problems
}

type Move = { kind: ActionKind; sub: number; pool: string | undefined; asset: string; decimals: number; amount: number }

type Account = {
  index: number
  epoch: EpochState
  h0: number
  low: boolean
  high: boolean
  blocked: string | undefined
  capTotal: number
  riskHealth: number
  lo: number
  hi: number
  desired: number
  horizonYears: number
}

type Exclusions = { targets: Map<number, string>; sources: Map<number, string> }

/**
 * Propose a rebalance plan: per triggered sub-account, the lowest health whose liquidation
 * probability within the policy horizon is at most the tolerance, clipped into its landing zone
 * (rule 3: at least half way from the breached edge to the target); funded by the cheapest sources
 * first (idle balances, then allowed pools, then over-collateralised sub-accounts, which only move
 * toward their own target), moving the least value, within caps, cooldowns and the loss limits (per
 * rebalance and per epoch), skipping moves whose benefit is below their gas and slippage cost.
 * Every plan returned passes {@link checkPlanAgainstPolicy}.
 *
 * @param input - Sub-accounts (one loan asset), pools, idle balances, costs and mode.
 * @returns The plan (undefined when there is nothing worth doing) and an outcome per sub-account.
 * @throws {SolverInputError} On mixed loan assets or an invalid policy.
 * @example
 * const { plan, outcomes } = solve({ now, subAccounts, pools, idle: {}, costs })
 */
export function solve(input: SolverInput): SolverResult {
  const first = input.subAccounts[0]
  if (first === undefined) return { plan: undefined, outcomes: [], cost: 0 }
  const loanAsset = first.state.loanAsset
  for (const s of input.subAccounts) {
    if (s.state.loanAsset !== loanAsset) throw new SolverInputError(`sub-accounts mix loan assets ${loanAsset} and ${s.state.loanAsset}; solve each loan asset separately`)
    const problems = validatePolicy(s.policy)
    if (problems.length > 0) throw new SolverInputError(`policy of ${s.state.id}: ${problems.join("; ")}`)
  }
  const exclusions: Exclusions = { targets: new Map(), sources: new Map() }
  const pre: PortfolioState = { subAccounts: input.subAccounts.map((s) => s.state), pools: input.pools, idle: input.idle }
  const policies: Record<string, Policy> = {}
  const epochs: Record<string, EpochState> = {}
  for (const s of input.subAccounts) {
    policies[s.state.id] = s.policy
    epochs[s.state.id] = s.epoch
  }
  for (let attempt = 0; attempt <= 2 * input.subAccounts.length + 2; attempt++) {
    const result = solveOnce(input, loanAsset, exclusions)
    if (result.plan === undefined) return result
    const check = checkPlanAgainstPolicy({ plan: result.plan, pre, policies, epochs, now: input.now })
    if (check.ok) return result
    const roles = new Map(result.outcomes.map((o, i) => [o.id, { role: o.role, index: i }]))
    let excluded = false
    for (const v of check.violations) {
      const r = v.subAccountId === undefined ? undefined : roles.get(v.subAccountId)
      if (r === undefined) continue
      if (r.role === "source") exclusions.sources.set(r.index, v.message)
      else exclusions.targets.set(r.index, v.message)
      excluded = true
    }
    if (!excluded) {
      const lastTarget = result.outcomes.map((o, i) => (o.role === "target" ? i : -1)).filter((i) => i >= 0 && !exclusions.targets.has(i)).pop()
      if (lastTarget === undefined) break
      exclusions.targets.set(lastTarget, check.violations.map((v) => v.message).join("; "))
    }
  }
  const fallback = solveOnce(input, loanAsset, { targets: new Map(input.subAccounts.map((_, i) => [i, "no plan passes the policy rules"])), sources: new Map() })
  return { ...fallback, plan: undefined }
}

function solveOnce(input: SolverInput, loanAsset: string, exclusions: Exclusions): SolverResult {
  const subs = input.subAccounts
  const n = subs.length
  const mode = input.mode ?? "autopilot"
  const hysteresis = input.deleverageToleranceFactor ?? DEFAULT_DELEVERAGE_TOLERANCE_FACTOR
  const { costs, now } = input
  const collateral = new Float64Array(n)
  const debt = new Float64Array(n)
  const moved = new Float64Array(n)
  const roles: Array<"target" | "source" | "none"> = new Array(n).fill("none")
  const reasons: string[] = new Array(n).fill("")
  const pools: YieldPool[] = input.pools.map((p) => ({ ...p }))
  const idle: Record<string, number> = { ...input.idle }
  const moves: Move[] = []
  let slippageLoss = 0
  const touchedPools = new Set<string>()

  const accounts: Account[] = subs.map((s, i) => {
    collateral[i] = s.state.collateral
    debt[i] = s.state.debt
    const p = s.policy
    const epoch = effectiveEpoch(s.epoch, p.epochLength, now)
    const h0 = healthOf(s.state)
    const low = h0 < p.minHealth
    const high = p.boostAllowed && h0 > p.maxHealth
    let blocked: string | undefined
    if (s.epoch.lastRebalance !== undefined && now < s.epoch.lastRebalance + p.cooldown) blocked = `cooling down (${now - s.epoch.lastRebalance} s of ${p.cooldown} s)`
    else if (epoch.rebalancesInEpoch + 1 > p.maxRebalancesPerEpoch) blocked = `epoch rebalance cap ${p.maxRebalancesPerEpoch} reached`
    else if (epoch.gasInEpoch + costs.baseGas > p.maxGasPerEpoch) blocked = "epoch gas cap reached"
    const capTotal = Math.max(0, Math.min(p.maxAmountPerRebalance, p.maxAmountPerEpoch - epoch.amountInEpoch)) * CAP_SLACK
    if (!blocked && capTotal <= 0) blocked = "epoch amount cap reached"
    const horizonYears = p.horizon / SECONDS_PER_YEAR
    const riskHealth =
      mode === "threshold" ? p.targetHealth : healthForTolerance(low ? p.tolerance * hysteresis : p.tolerance, s.risk, horizonYears)
    // Rule 3: a triggered sub-account lands in its landing zone; any other only moves toward its target, not past it.
    // `landingMargin` keeps the aim that far inside those limits, for the price move until inclusion.
    const [zoneLow, zoneHigh] = low || high ? landingZone(p, h0) : [p.minHealth, p.maxHealth]
    const grow = Math.exp(Math.max(0, s.landingMargin ?? 0))
    const t = p.targetHealth
    let lo = low || high ? Math.min(zoneLow * grow, t) + HEALTH_MARGIN : h0 >= t ? Math.min(t * grow, h0) + HEALTH_MARGIN : h0
    let hi = low || high ? Math.max(zoneHigh / grow, t) - HEALTH_MARGIN : h0 >= t ? h0 : Math.max(t / grow, h0) - HEALTH_MARGIN
    if (!p.boostAllowed) lo = Math.max(lo, h0)
    if (!Number.isFinite(hi)) hi = p.maxHealth - HEALTH_MARGIN
    const clipped = Math.min(Math.max(riskHealth, lo), hi)
    const budgetUsed = mode === "autopilot" && low ? Math.min(1, (epoch.rebalancesInEpoch + 1) / p.maxRebalancesPerEpoch) : 0
    const desired = clipped + budgetUsed * Math.max(0, hi - clipped)
    return { index: i, epoch, h0, low, high, blocked, capTotal, riskHealth, lo, hi, desired, horizonYears }
  })

  const price = (i: number): number => (subs[i] as (typeof subs)[number]).state.price
  const health = (i: number): number => {
    const s = (subs[i] as (typeof subs)[number]).state
    const d = debt[i] as number
    return d > 0 ? ((collateral[i] as number) * s.price * s.lltv) / d : Number.POSITIVE_INFINITY
  }
  const capLeft = (i: number): number => (accounts[i] as Account).capTotal - (moved[i] as number)
  const slipOf = (pool: YieldPool): number => (pool.slippageBps ?? 0) / 10_000
  const touchedOrder = (extra: readonly number[]): number[] => {
    const order: number[] = []
    for (const m of moves) if (!order.includes(m.sub)) order.push(m.sub)
    for (let i = 0; i < n; i++) if (roles[i] !== "none" && !order.includes(i)) order.push(i)
    for (const i of extra) if (!order.includes(i)) order.push(i)
    return order
  }
  const valuationPrice = (asset: string, sub: number): number => {
    if (asset === loanAsset) return 1
    for (const k of touchedOrder([sub])) {
      const st = (subs[k] as (typeof subs)[number]).state
      if (st.collateralAsset === asset) return st.price
    }
    return priceOfAsset(asset)
  }
  /*
   * Loss limits (rules 5 and 6): the plan's loss (net value drop, slippage here) must stay within the smallest
   * maxLossBps of what the positions move, and within every touched sub-account's remaining epoch budget
   * (maxEpochLossBps of its equity, minus what the epoch already lost).
   */
  const lossState = (extraSubs: readonly number[], extraPool: string | undefined) => {
    const ids: string[] = []
    let bps = Number.POSITIVE_INFINITY
    let epochRoom = Number.POSITIVE_INFINITY
    let into = 0
    let out = 0
    for (const i of touchedOrder(extraSubs)) {
      const s = subs[i] as (typeof subs)[number]
      ids.push(s.state.id)
      bps = Math.min(bps, s.policy.maxLossBps)
      const a = accounts[i] as Account
      const equity = s.state.collateral * s.state.price - s.state.debt
      const remaining = (s.policy.maxEpochLossBps ?? 10_000) / 10_000 - (a.epoch.lossPpbInEpoch ?? 0) / 1e9
      epochRoom = Math.min(epochRoom, equity > 0 ? Math.max(0, remaining) * equity : 0)
      const dc = ((collateral[i] as number) - s.state.collateral) * s.state.price
      const dd = (debt[i] as number) - s.state.debt
      if (dc > 0) into += dc
      else out -= dc
      if (dd < 0) into -= dd
      else out += dd
    }
    const poolSet = new Set(touchedPools)
    if (extraPool !== undefined) poolSet.add(extraPool)
    const pre: PortfolioState = { subAccounts: subs.map((s) => s.state), pools: input.pools, idle: input.idle }
    const work: PortfolioState = { subAccounts: subs.map((s, k) => ({ ...s.state, collateral: collateral[k] as number, debt: debt[k] as number })), pools, idle }
    const valueBefore = netValue(pre, loanAsset, ids, [...poolSet])
    const drop = valueBefore - netValue(work, loanAsset, ids, [...poolSet])
    // Float noise of an exactly value-preserving plan is no loss (the module compares integers).
    const loss = drop > Math.abs(valueBefore) * 1e-12 ? drop : 0
    return { rate: Number.isFinite(bps) ? (bps / 10_000) * 0.999 : Number.POSITIVE_INFINITY, moved: Math.max(into, out), loss, epochRoom: epochRoom * 0.999 }
  }
  /** Room left under both limits (negative: over). */
  const lossBudget = (extraSubs: readonly number[], extraPool: string | undefined): number => {
    const { rate, moved, loss, epochRoom } = lossState(extraSubs, extraPool)
    return Math.min(rate * moved - loss, epochRoom - loss)
  }
  /**
   * Most loan value a pool action with `slip` may carry: `movesPosition` when the same value then goes into a position
   * (withdraw then repay or supply), which raises the per-rebalance allowance by `rate` per unit.
   */
  const slipRoom = (slip: number, movesPosition: boolean, extraSubs: readonly number[], extraPool: string): number => {
    if (slip <= 0) return Number.POSITIVE_INFINITY
    const { rate, moved, loss, epochRoom } = lossState(extraSubs, extraPool)
    const perRebalance = movesPosition ? (slip <= rate ? Number.POSITIVE_INFINITY : (rate * moved - loss) / (slip - rate)) : (rate * moved - loss) / slip
    return Math.max(0, Math.min(perRebalance, (epochRoom - loss) / slip))
  }

  const push = (kind: ActionKind, sub: number, amount: number, pool?: YieldPool): void => {
    const s = (subs[sub] as (typeof subs)[number]).state
    const onCollateral = kind === "SupplyCollateral" || kind === "WithdrawCollateral"
    const asset = pool !== undefined ? pool.asset : onCollateral ? s.collateralAsset : s.loanAsset
    const decimals = pool !== undefined ? pool.decimals : onCollateral ? s.collateralDecimals : s.loanDecimals
    moves.push({ kind, sub, pool: pool?.address, asset, decimals, amount })
    const assetValue = onCollateral ? s.price : valuationPrice(asset, sub)
    moved[sub] = (moved[sub] as number) + amount * assetValue
    switch (kind) {
      case "Repay":
        debt[sub] = Math.max(0, (debt[sub] as number) - amount)
        idle[asset] = (idle[asset] ?? 0) - amount
        break
      case "Borrow":
        debt[sub] = (debt[sub] as number) + amount
        idle[asset] = (idle[asset] ?? 0) + amount
        break
      case "SupplyCollateral":
        collateral[sub] = (collateral[sub] as number) + amount
        idle[asset] = (idle[asset] ?? 0) - amount
        break
      case "WithdrawCollateral":
        collateral[sub] = (collateral[sub] as number) - amount
        idle[asset] = (idle[asset] ?? 0) + amount
        break
      case "WithdrawFromPool":
      case "DepositToPool": {
        const p = pool as YieldPool
        const slip = slipOf(p)
        touchedPools.add(p.address)
        slippageLoss += amount * slip * assetValue
        if (kind === "WithdrawFromPool") {
          p.balance -= amount * (1 + slip)
          p.withdrawable -= amount * (1 + slip)
          idle[asset] = (idle[asset] ?? 0) + amount
        } else {
          p.balance += amount * (1 - slip)
          p.withdrawable += amount * (1 - slip)
          idle[asset] = (idle[asset] ?? 0) - amount
        }
        break
      }
    }
  }
  const priceOfAsset = (asset: string): number => {
    if (asset === loanAsset) return 1
    for (const s of subs) if (s.state.collateralAsset === asset) return s.state.price
    throw new SolverInputError(`no price for asset ${asset}`)
  }
  const worth = (amount: number, decimals: number): boolean => amount > 0 && amount * 10 ** decimals >= 1

  type Snapshot = { c: Float64Array; d: Float64Array; m: Float64Array; roles: typeof roles; pools: YieldPool[]; idle: Record<string, number>; moves: number; loss: number; touched: Set<string> }
  const snapshot = (): Snapshot => ({
    c: collateral.slice(),
    d: debt.slice(),
    m: moved.slice(),
    roles: roles.slice(),
    pools: pools.map((p) => ({ ...p })),
    idle: { ...idle },
    moves: moves.length,
    loss: slippageLoss,
    touched: new Set(touchedPools),
  })
  const restore = (s: Snapshot): void => {
    collateral.set(s.c)
    debt.set(s.d)
    moved.set(s.m)
    s.roles.forEach((r, i) => (roles[i] = r))
    s.pools.forEach((p, i) => Object.assign(pools[i] as YieldPool, p))
    for (const k of Object.keys(idle)) delete idle[k]
    Object.assign(idle, s.idle)
    moves.length = s.moves
    slippageLoss = s.loss
    touchedPools.clear()
    for (const a of s.touched) touchedPools.add(a)
  }
  const gasOf = (from: number): number => {
    let g = 0
    for (let k = from; k < moves.length; k++) g += costs.gasPerAction[(moves[k] as Move).kind]
    return g
  }
  const probability = (i: number, h: number): number => liquidationProbability(h, (subs[i] as (typeof subs)[number]).risk, (accounts[i] as Account).horizonYears)

  const canSource = (j: number, target: number): boolean => {
    const a = accounts[j] as Account
    const p = (subs[j] as (typeof subs)[number]).policy
    return j !== target && !exclusions.sources.has(j) && roles[j] !== "target" && a.blocked === undefined && p.boostAllowed && !a.low && !a.high
  }
  const sourceFloor = (j: number): number => {
    const a = accounts[j] as Account
    return Math.max(a.lo, Math.min(a.riskHealth, a.hi))
  }

  const unavailable = (a: Account): boolean => {
    const i = a.index
    const p = (subs[i] as (typeof subs)[number]).policy
    const side = a.low ? `below band (health ${fmt(a.h0)} < ${fmt(p.minHealth)})` : `above band (health ${fmt(a.h0)} > ${fmt(p.maxHealth)})`
    const excluded = exclusions.targets.get(i)
    if (excluded !== undefined) reasons[i] = `${side} but the module would reject a plan for it (${excluded})`
    else if (a.blocked !== undefined) reasons[i] = `${side} but ${a.blocked}`
    return excluded !== undefined || a.blocked !== undefined || roles[i] !== "none"
  }

  const begin = (a: Account) => {
    if (unavailable(a)) return undefined
    const i = a.index
    const input = subs[i] as (typeof subs)[number]
    const start = { i, s: input.state, policy: input.policy, snap: snapshot(), firstMove: moves.length, planWasEmpty: moves.length === 0, goal: a.desired }
    roles[i] = "target"
    return start
  }

  const lowTargets = accounts.filter((a) => a.low).sort((x, y) => x.h0 - y.h0)
  for (const a of lowTargets) {
    const start = begin(a)
    if (start === undefined) continue
    const { i, s, policy, snap, firstMove, planWasEmpty, goal } = start
    const P = s.price
    const needLoan = (): number => (debt[i] as number) - ((collateral[i] as number) * P * s.lltv) / goal
    const needCollateral = (): number => (goal * (debt[i] as number)) / s.lltv / P - (collateral[i] as number)
    const sources: string[] = []
    const take = (x: number, decimals: number): boolean => worth(x, decimals)

    let x = Math.min(idle[loanAsset] ?? 0, needLoan(), capLeft(i))
    if (take(x, s.loanDecimals)) {
      push("Repay", i, x)
      sources.push("idle")
    }
    if (s.collateralAsset !== loanAsset) {
      x = Math.min(idle[s.collateralAsset] ?? 0, needCollateral(), capLeft(i) / P)
      if (take(x, s.collateralDecimals)) {
        push("SupplyCollateral", i, x)
        sources.push("idle collateral")
      }
    }
    const allowed = pools.filter((p) => policy.pools.includes(p.address)).sort((u, v) => (u.slippageBps ?? 0) - (v.slippageBps ?? 0))
    for (const pool of allowed) {
      if (pool.asset !== loanAsset) continue
      const slip = slipOf(pool)
      const budget = slipRoom(slip, true, [i], pool.address)
      x = Math.min(pool.withdrawable / (1 + slip), needLoan(), capLeft(i) / 2, budget)
      if (take(x, pool.decimals)) {
        push("WithdrawFromPool", i, x, pool)
        push("Repay", i, x)
        sources.push(`pool ${short(pool.address)}`)
      }
    }
    for (const pool of allowed) {
      if (pool.asset !== s.collateralAsset || pool.asset === loanAsset) continue
      const slip = slipOf(pool)
      const budget = slipRoom(slip, true, [i], pool.address) / P
      x = Math.min(pool.withdrawable / (1 + slip), needCollateral(), capLeft(i) / (2 * P), budget)
      if (take(x, pool.decimals)) {
        push("WithdrawFromPool", i, x, pool)
        push("SupplyCollateral", i, x)
        sources.push(`pool ${short(pool.address)}`)
      }
    }
    const donors = accounts.filter((b) => canSource(b.index, i)).sort((u, v) => health(v.index) - health(u.index))
    for (const b of donors) {
      const j = b.index
      if (needLoan() <= 0) break
      const sj = (subs[j] as (typeof subs)[number]).state
      const floor = sourceFloor(j)
      if (!(health(j) > floor)) continue
      const available = ((collateral[j] as number) * sj.price * sj.lltv) / floor - (debt[j] as number)
      x = Math.min(available, needLoan(), capLeft(i), capLeft(j))
      if (take(x, s.loanDecimals)) {
        push("Borrow", j, x)
        push("Repay", i, x)
        if (roles[j] === "none") roles[j] = "source"
        reasons[j] = `source: borrowed ${fmt(x)} ${loanAsset} to repay ${short(s.id)} (health ${fmt(b.h0)} -> ${fmt(health(j))})`
        sources.push(`borrow on ${short(sj.id)}`)
      }
    }
    for (const b of donors) {
      const j = b.index
      const sj = (subs[j] as (typeof subs)[number]).state
      if (sj.collateralAsset !== s.collateralAsset || needCollateral() <= 0) continue
      const floor = sourceFloor(j)
      if (!(health(j) > floor)) continue
      const available = (collateral[j] as number) - (floor * (debt[j] as number)) / (sj.price * sj.lltv)
      x = Math.min(available, needCollateral(), capLeft(i) / P, capLeft(j) / P)
      if (take(x, s.collateralDecimals)) {
        push("WithdrawCollateral", j, x)
        push("SupplyCollateral", i, x)
        if (roles[j] === "none") roles[j] = "source"
        reasons[j] = `source: moved ${fmt(x)} ${sj.collateralAsset} collateral to ${short(s.id)} (health ${fmt(b.h0)} -> ${fmt(health(j))})`
        sources.push(`collateral of ${short(sj.id)}`)
      }
    }
    const reached = health(i)
    if (lossBudget([], undefined) < 0) {
      restore(snap)
      reasons[i] = `below band but touching it would exceed a loss limit (maxLossBps ${policy.maxLossBps}, maxEpochLossBps ${policy.maxEpochLossBps ?? 10_000}); no valid plan`
      continue
    }
    if (reached < a.lo) {
      restore(snap)
      reasons[i] = `below band (health ${fmt(a.h0)} < ${policy.minHealth}) but funds and caps reach only ${fmt(reached)}; no valid plan`
      continue
    }
    const cost = (gasOf(firstMove) + (planWasEmpty ? costs.baseGas : 0)) * costs.gasPrice + (slippageLoss - snap.loss)
    const pBefore = probability(i, a.h0)
    const pAfter = probability(i, reached)
    const benefit = (pBefore - pAfter) * s.debt * (liquidationIncentiveFactor(s.lltv) - 1)
    if (mode === "autopilot" && pBefore <= policy.tolerance && benefit < cost) {
      restore(snap)
      reasons[i] = `below band but liquidation risk ${pct(pBefore)} is within tolerance and the benefit ${fmt(benefit)} < cost ${fmt(cost)}; skipped`
      continue
    }
    reasons[i] = `below band: deleverage ${fmt(a.h0)} -> ${fmt(reached)} (risk target ${fmt(a.riskHealth)}) from ${sources.join(", ")}; P(liq) ${pct(pBefore)} -> ${pct(pAfter)}`
  }

  const highTargets = accounts.filter((a) => a.high)
  for (const a of highTargets) {
    const start = begin(a)
    if (start === undefined) continue
    const { i, s, policy, snap, firstMove, planWasEmpty, goal } = start
    const want = ((collateral[i] as number) * s.price * s.lltv) / goal - (debt[i] as number)
    const borrow = Math.min(want, capLeft(i))
    const reachedHealth = ((collateral[i] as number) * s.price * s.lltv) / ((debt[i] as number) + Math.max(0, borrow))
    if (!worth(borrow, s.loanDecimals) || reachedHealth > a.hi) {
      restore(snap)
      reasons[i] = `above band (health ${fmt(a.h0)} > ${policy.maxHealth}) but caps allow only health ${fmt(reachedHealth)}; no valid plan`
      continue
    }
    push("Borrow", i, borrow)
    const sink = pools.filter((p) => policy.pools.includes(p.address) && p.asset === loanAsset).sort((u, v) => (u.slippageBps ?? 0) - (v.slippageBps ?? 0))[0]
    let destination = "kept idle"
    if (sink !== undefined) {
      const slip = slipOf(sink)
      const budget = slipRoom(slip, false, [i], sink.address)
      const deposit = Math.min(borrow, capLeft(i), budget)
      if (worth(deposit, sink.decimals)) {
        push("DepositToPool", i, deposit, sink)
        destination = `deposited to pool ${short(sink.address)}`
      }
    }
    const reached = health(i)
    if (lossBudget([], undefined) < 0) {
      restore(snap)
      reasons[i] = `above band but touching it would exceed a loss limit (maxLossBps ${policy.maxLossBps}, maxEpochLossBps ${policy.maxEpochLossBps ?? 10_000}); no valid plan`
      continue
    }
    const cost = (gasOf(firstMove) + (planWasEmpty ? costs.baseGas : 0)) * costs.gasPrice + (slippageLoss - snap.loss)
    const benefit = (borrow * costs.boostEdgeBps) / 10_000
    if (mode === "autopilot" && benefit < cost) {
      restore(snap)
      reasons[i] = `above band but the boost benefit ${fmt(benefit)} < cost ${fmt(cost)}; skipped`
      continue
    }
    reasons[i] = `above band: boost ${fmt(a.h0)} -> ${fmt(reached)} (risk target ${fmt(a.riskHealth)}), borrowed ${fmt(borrow)} ${loanAsset} ${destination}; P(liq) ${pct(probability(i, reached))}`
  }

  const outcomes: SubAccountOutcome[] = accounts.map((a) => {
    const i = a.index
    const s = (subs[i] as (typeof subs)[number]).state
    const after = { collateral: collateral[i] as number, debt: debt[i] as number, price: s.price, lltv: s.lltv }
    const p = (subs[i] as (typeof subs)[number]).policy
    let reason = reasons[i] as string
    if (reason === "")
      reason =
        a.h0 > p.maxHealth && !p.boostAllowed
          ? `above band (health ${fmt(a.h0)} > ${fmt(p.maxHealth)}) but boosts are not allowed; no trigger`
          : `in band (health ${fmt(a.h0)} in [${fmt(p.minHealth)}, ${fmt(p.maxHealth)}]); no trigger`
    return {
      id: s.id,
      triggered: a.low || a.high,
      role: roles[i] as "target" | "source" | "none",
      healthBefore: a.h0,
      healthAfter: healthOf(after),
      leverageBefore: leverageOf(s),
      leverageAfter: leverageOf(after),
      liquidationProbabilityBefore: probability(i, a.h0),
      liquidationProbabilityAfter: probability(i, healthOf(after)),
      riskHealth: a.riskHealth,
      reason,
    }
  })
  if (moves.length === 0) return { plan: undefined, outcomes, cost: 0 }

  const order: number[] = []
  for (const m of moves) if (!order.includes(m.sub)) order.push(m.sub)
  const actions: PlanAction[] = moves.map((m) => ({
    kind: m.kind,
    subAccount: order.indexOf(m.sub),
    pool: m.pool,
    asset: m.asset,
    amount: m.amount,
    amountBase: toBaseUnits(m.amount, m.decimals),
  }))
  const gas = costs.baseGas + gasOf(0)
  const plan: Plan = { loanAsset, subAccounts: order.map((i) => (subs[i] as (typeof subs)[number]).state.id), actions, gas }
  return { plan, outcomes, cost: gas * costs.gasPrice + slippageLoss }
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return "inf"
  return Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(3)
}

function pct(p: number): string {
  return `${(p * 100).toPrecision(2)}%`
}

function short(id: string): string {
  return id.length > 12 ? `${id.slice(0, 8)}…` : id
}

/**
 * Solve each loan asset's sub-accounts separately: a plan may touch only one loan asset, so a Safe
 * with markets on several loan assets gets one {@link solve} result (and at most one plan) per asset.
 *
 * @param input - Sub-accounts on any loan assets, pools, idle balances, costs and mode.
 * @returns One result per loan asset, in order of first appearance.
 * @example for (const [asset, { plan }] of solveByLoanAsset(input)) if (plan) submit(plan)
 */
export function solveByLoanAsset(input: SolverInput): Map<string, SolverResult> {
  const groups = new Map<string, SolverInput["subAccounts"]>()
  for (const s of input.subAccounts) groups.set(s.state.loanAsset, [...(groups.get(s.state.loanAsset) ?? []), s])
  const results = new Map<string, SolverResult>()
  for (const [asset, subAccounts] of groups) results.set(asset, solve({ ...input, subAccounts }))
  return results
}
