import { MAX_ACTIONS, MAX_SUB_ACCOUNTS, MIN_MATERIAL_CHANGE_BPS as MIN_MATERIAL_CHANGE_BPS_BIG } from "@levpilot/sdk/constants"
import { PlanExecutionError } from "./errors.js"
import { applyPlan, effectiveEpoch, healthOf, landingZone, netValue, positionsMoved, touchedAssetPrice } from "./state.js"
import type { EpochState, Plan, Policy, PortfolioState } from "./types.js"

/** ConstantsLib.MIN_MATERIAL_CHANGE_BPS: the smallest change of a listed sub-account, in bps of its collateral value. */
export const MIN_MATERIAL_CHANGE_BPS = Number(MIN_MATERIAL_CHANGE_BPS_BIG)

/** Which rule of docs/policy-rules.md a violation breaks ("structure" = the Plan section). */
export type PolicyRule = "structure" | 1 | 2 | 3 | 4 | 5 | 6

/** One reason the module would reject a plan. */
export type PolicyViolation = {
  /** Rule number (or "structure"). */
  rule: PolicyRule
  /** Offending sub-account, when the violation is about one. */
  subAccountId?: string | undefined
  /** Human-readable explanation. */
  message: string
}

/** Input of {@link checkPlanAgainstPolicy}. */
export type CheckPlanParameters = {
  /** The plan. */
  plan: Plan
  /** Portfolio before the plan (oracle prices). */
  pre: PortfolioState
  /** Portfolio after the plan; computed with `applyPlan` when omitted. */
  post?: PortfolioState | undefined
  /** Policies by sub-account id. */
  policies: Readonly<Record<string, Policy>>
  /** Stored epoch bookkeeping by sub-account id (missing: never rebalanced). */
  epochs: Readonly<Record<string, EpochState>>
  /** Unix seconds of execution. */
  now: number
  /** Execution gas to charge against maxGasPerEpoch; defaults to `plan.gas`. */
  gas?: number | undefined
}

/** Result of {@link checkPlanAgainstPolicy}. */
export type CheckPlanReturnType = {
  /** True when the module would accept the plan. */
  ok: boolean
  /** Every violation found (empty when ok). */
  violations: PolicyViolation[]
  /** Value moved per touched sub-account (rule 4), loan units. */
  amountMoved: Record<string, number>
  /** Net value before and after (rule 5), loan units. */
  netValueBefore: number
  netValueAfter: number
  /** What the positions moved (rule 5's base), loan units. */
  positionsMoved: number
  /** The plan's loss charged to each listed sub-account, parts per billion of its equity before the plan (rule 6). */
  lossPpb: Record<string, number>
  /** Whether each listed sub-account was due (out of its band): only a due one starts its cooldown and spends a rebalance. */
  due: Record<string, boolean>
}

/** Relative slack on the rule 5 comparison for floating-point noise only (the module compares integers). */
export const FLOAT_TOLERANCE = 1e-12

const POOL_KINDS = new Set(["WithdrawFromPool", "DepositToPool"])
/** Swaps move no position (module: not counted in the amount caps, not a venue action for material use). */
const SWAP_KINDS = new Set(["SellCollateral", "BuyCollateral"])
const isVenueKind = (kind: string): boolean => !POOL_KINDS.has(kind) && !SWAP_KINDS.has(kind) && kind !== "EndCallback"
const NEVER_RUN: EpochState = { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 }

/**
 * Decide whether the module accepts a plan: the Plan structure and rules 1-6 of
 * docs/policy-rules.md, evaluated on the pre- and post-plan states. The solver's property tests, the
 * backtester and the keeper all call this one function.
 *
 * @param params - Plan, states, policies, epochs, time and gas.
 * @returns `ok` and the list of violations, plus the rule 4 and rule 5 figures.
 * @example
 * const { ok, violations } = checkPlanAgainstPolicy({ plan, pre, policies, epochs, now })
 */
export function checkPlanAgainstPolicy(params: CheckPlanParameters): CheckPlanReturnType {
  const { plan, pre, policies, now } = params
  const violations: PolicyViolation[] = []
  const amountMoved: Record<string, number> = {}
  const fail = (rule: PolicyRule, message: string, subAccountId?: string): void => {
    violations.push({ rule, subAccountId, message })
  }
  const lossPpb: Record<string, number> = {}
  const dueOf: Record<string, boolean> = {}
  let moved = 0
  const result = (netValueBefore = 0, netValueAfter = 0): CheckPlanReturnType => ({
    ok: violations.length === 0,
    violations,
    amountMoved,
    netValueBefore,
    netValueAfter,
    positionsMoved: moved,
    lossPpb,
    due: dueOf,
  })

  if (plan.actions.length === 0) fail("structure", "plan has no actions")
  // The module's structural limits (PlanLib: MalformedPlan(MALFORMED_SUB_ACCOUNT_COUNT / MALFORMED_ACTION_COUNT)).
  if (plan.subAccounts.length > Number(MAX_SUB_ACCOUNTS))
    fail("structure", `plan lists ${plan.subAccounts.length} sub-accounts, the module accepts at most MAX_SUB_ACCOUNTS = ${MAX_SUB_ACCOUNTS}`)
  if (plan.actions.length > Number(MAX_ACTIONS)) fail("structure", `plan has ${plan.actions.length} actions, the module accepts at most MAX_ACTIONS = ${MAX_ACTIONS}`)
  if (new Set(plan.subAccounts).size !== plan.subAccounts.length) fail("structure", "sub-account ids in the plan are not unique")
  const subs = plan.subAccounts.map((id) => pre.subAccounts.find((s) => s.id === id))
  plan.subAccounts.forEach((id, i) => {
    const s = subs[i]
    if (s === undefined) fail("structure", `sub-account ${id} is not in the portfolio`, id)
    else if (s.loanAsset !== plan.loanAsset) fail("structure", `sub-account ${id} has loan asset ${s.loanAsset}, plan is for ${plan.loanAsset}`, id)
    if (policies[id] === undefined) fail("structure", `sub-account ${id} has no policy`, id)
    amountMoved[id] = 0
  })
  const touchedPools = new Set<string>()
  let repayCallbackOf = -1
  plan.actions.forEach((a, index) => {
    const id = plan.subAccounts[a.subAccount]
    const s = subs[a.subAccount]
    const policy = id === undefined ? undefined : policies[id]
    if (id === undefined || s === undefined || policy === undefined) {
      fail("structure", `action ${index} refers to sub-account index ${a.subAccount} outside the plan`)
      return
    }
    if (a.kind === "EndCallback") {
      repayCallbackOf = -1
      return
    }
    if (a.kind === "RepayWithCallback") repayCallbackOf = a.subAccount
    if (!(a.amount > 0) || !Number.isFinite(a.amount) || a.amountBase <= 0n) fail("structure", `action ${index} (${a.kind}) has a non-positive amount`, id)
    if (a.kind === "WithdrawCollateral" && !policy.boostAllowed && repayCallbackOf !== a.subAccount)
      fail(3, `${id} does not allow boosts but the plan withdraws collateral outside its own repay callback`, id)
    if (SWAP_KINDS.has(a.kind)) {
      // Module: swaps need maxSlippageBps > 0 (BuyCollateral also boostAllowed); the output must reach the oracle
      // value less maxSlippageBps or the swap reverts on chain (SlippageExceeded / the router's own minimum).
      const bps = policy.maxSlippageBps ?? 0
      if (bps <= 0) fail("structure", `action ${index} (${a.kind}) swaps but ${id} does not allow swaps (maxSlippageBps 0)`, id)
      if (a.kind === "BuyCollateral" && !policy.boostAllowed) fail(3, `${id} does not allow boosts but the plan buys collateral`, id)
      const fair = a.kind === "SellCollateral" ? a.amount * s.price : a.amount / s.price
      if (a.expectedOut !== undefined && a.expectedOut < fair * (1 - bps / 10_000))
        fail("structure", `action ${index} (${a.kind}) expects ${a.expectedOut}, below the on-chain minimum ${fair * (1 - bps / 10_000)} (SlippageExceeded)`, id)
      return
    }
    if (POOL_KINDS.has(a.kind)) {
      const pool = pre.pools.find((p) => p.address === a.pool)
      if (a.pool === undefined || pool === undefined) {
        fail("structure", `action ${index} (${a.kind}) names no known pool`, id)
        return
      }
      if (!policy.pools.includes(a.pool)) fail("structure", `action ${index} (${a.kind}) uses pool ${a.pool} outside the policy of ${id}`, id)
      if (pool.asset !== s.loanAsset && pool.asset !== s.collateralAsset) fail("structure", `pool ${a.pool} asset ${pool.asset} is neither loan nor collateral of ${id}`, id)
      touchedPools.add(a.pool)
      amountMoved[id] = (amountMoved[id] ?? 0) + a.amount * touchedAssetPrice(pre, pool.asset, plan.loanAsset, plan.subAccounts)
    } else {
      if (a.pool !== undefined) fail("structure", `action ${index} (${a.kind}) must not name a pool`, id)
      const value =
        a.kind === "SupplyCollateral" || a.kind === "WithdrawCollateral" || a.kind === "SupplyCollateralWithCallback" ? a.amount * s.price : a.amount
      amountMoved[id] = (amountMoved[id] ?? 0) + value
    }
  })
  // Material use (module: PoolRoundTrip, PoolNotUsed, SubAccountUnchanged): no pool both withdrawn from and deposited
  // into, every pool action serves a sub-account with a venue action, every listed sub-account has one.
  const acted = new Set(plan.actions.filter((a) => isVenueKind(a.kind)).map((a) => a.subAccount))
  plan.actions.forEach((a, index) => {
    if (!SWAP_KINDS.has(a.kind)) return
    if (!acted.has(a.subAccount))
      fail("structure", `a swap serves ${plan.subAccounts[a.subAccount]}, which has no venue action (SwapNotUsed)`, plan.subAccounts[a.subAccount])
    // Module: a plan never both sells and buys one collateral token, whichever sub-accounts the swaps serve.
    const token = subs[a.subAccount]?.collateralAsset
    if (plan.actions.slice(0, index).some((b) => SWAP_KINDS.has(b.kind) && b.kind !== a.kind && subs[b.subAccount]?.collateralAsset === token))
      fail("structure", `the plan both sells and buys ${token} (SwapRoundTrip)`, plan.subAccounts[a.subAccount])
  })
  plan.actions.forEach((a, index) => {
    if (!POOL_KINDS.has(a.kind)) return
    if (plan.actions.slice(0, index).some((b) => POOL_KINDS.has(b.kind) && b.kind !== a.kind && b.pool === a.pool))
      fail("structure", `pool ${a.pool} is both withdrawn from and deposited into (PoolRoundTrip)`, plan.subAccounts[a.subAccount])
    if (!acted.has(a.subAccount)) fail("structure", `pool ${a.pool} serves ${plan.subAccounts[a.subAccount]}, which has no venue action (PoolNotUsed)`, plan.subAccounts[a.subAccount])
  })
  plan.subAccounts.forEach((id, i) => {
    if (!acted.has(i)) fail("structure", `${id} is listed but the plan has no venue action on it (SubAccountUnchanged)`, id)
  })
  // Every inflow is used (module: RebalanceLib `_checkInflowsUsed`, net flow per asset, the loan token and each listed
  // collateral token): with spent = repayments capped at the debt they can clear + collateral supplies + swap inputs,
  // received = borrows + collateral withdrawals + swap outputs at their on-chain minimum, and unparked = received less
  // what the plan deposits into pools of the asset, pool withdrawals <= spent - unparked (PoolNotUsed, the withdrawal
  // that crosses it) and unparked <= spent (IdleInflow): nothing the plan brings in stays idle.
  const poolAsset = new Map(params.pre.pools.map((p) => [p.address, p.asset]))
  const assets = [...new Set([plan.loanAsset, ...subs.flatMap((s) => (s === undefined ? [] : [s.collateralAsset]))])]
  const over = (x: number, bound: number) => x > bound * (1 + FLOAT_TOLERANCE) + FLOAT_TOLERANCE
  for (const asset of assets) {
    const { spent, received, deposited } = walletFlows(plan, poolAsset, subs, policies, asset)
    const unparked = Math.max(0, received - deposited)
    const usable = Math.max(0, spent - unparked)
    let withdrawn = 0
    let refused = false
    for (const a of plan.actions) {
      if (a.kind !== "WithdrawFromPool" || a.pool === undefined || (poolAsset.get(a.pool) ?? a.asset) !== asset) continue
      withdrawn += a.amount
      if (over(withdrawn, usable)) {
        fail("structure", `pool ${a.pool} withdraws ${withdrawn} ${asset} in all, more than the plan's other steps pay out of the wallet net of what they bring in (${usable}) (PoolNotUsed)`, plan.subAccounts[a.subAccount])
        refused = true
        break
      }
    }
    if (!refused && over(unparked, spent))
      fail("structure", `the plan brings ${received} ${asset} into the Safe but repays, supplies, swaps or deposits only ${spent + deposited} of it; the rest would stay idle (IdleInflow)`)
  }
  if (violations.length > 0) return result()

  let post = params.post
  if (post === undefined) {
    try {
      post = applyPlan(pre, plan)
    } catch (error) {
      if (error instanceof PlanExecutionError) {
        fail("structure", error.message)
        return result()
      }
      throw error
    }
  }

  let triggered = false
  const gas = params.gas ?? plan.gas
  let minLossBps = Number.POSITIVE_INFINITY
  const pools = [...touchedPools]
  const before = netValue(pre, plan.loanAsset, plan.subAccounts, pools)
  const after = netValue(post, plan.loanAsset, plan.subAccounts, pools)
  const loss = Math.max(0, before - after)
  moved = positionsMoved(pre, post, plan.subAccounts)
  plan.subAccounts.forEach((id, i) => {
    const before = subs[i]
    const after = post.subAccounts.find((s) => s.id === id)
    const policy = policies[id]
    if (before === undefined || after === undefined || policy === undefined) return
    minLossBps = Math.min(minLossBps, policy.maxLossBps)
    const hb = healthOf(before)
    const ha = healthOf(after)
    const due = hb < policy.minHealth || (policy.boostAllowed && hb > policy.maxHealth)
    if (due) triggered = true
    if (after.collateral === before.collateral && after.debt === before.debt) fail("structure", `${id} ends with its position unchanged (SubAccountUnchanged)`, id)
    else {
      // Material change (module: SubAccountUnchanged, checked last there): collateral value and debt moved by at least
      // MIN_MATERIAL_CHANGE_BPS of the collateral value, at the pre-trade price.
      const changed = Math.abs(after.collateral - before.collateral) * before.price + Math.abs(after.debt - before.debt)
      if (changed * 10_000 < before.collateral * before.price * MIN_MATERIAL_CHANGE_BPS * (1 - FLOAT_TOLERANCE))
        fail("structure", `${id} changes by ${changed}, less than ${MIN_MATERIAL_CHANGE_BPS} bps of its collateral value (SubAccountUnchanged)`, id)
    }

    const stored = params.epochs[id] ?? NEVER_RUN
    if (stored.lastRebalance !== undefined && now < stored.lastRebalance + policy.cooldown)
      fail(2, `${id} rebalanced ${now - stored.lastRebalance} s ago, cooldown is ${policy.cooldown} s`, id)

    const target = policy.targetHealth
    if (!(ha >= policy.minHealth && ha <= policy.maxHealth)) fail(3, `${id} ends at health ${ha}, outside [${policy.minHealth}, ${policy.maxHealth}]`, id)
    else if (due) {
      const [low, high] = landingZone(policy, hb)
      if (ha < low || ha > high) fail(3, `${id} is triggered but lands at health ${ha}, outside its landing zone [${low}, ${high}]`, id)
    } else {
      if (Math.abs(ha - target) > Math.abs(hb - target)) fail(3, `${id} moves from health ${hb} to ${ha}, further from target ${target}`, id)
      else if ((hb < target && ha > target) || (hb > target && ha < target)) fail(3, `${id} is not due but moves from health ${hb} past its target ${target} to ${ha}`, id)
    }
    if (!policy.boostAllowed) {
      if (ha < hb) fail(3, `${id} does not allow boosts but health falls from ${hb} to ${ha}`, id)
      if (plan.actions.some((a) => a.subAccount === i && a.kind === "Borrow"))
        fail(3, `${id} does not allow boosts but the plan borrows on it`, id)
    }

    const epoch = effectiveEpoch(stored, policy.epochLength, now)
    const value = amountMoved[id] ?? 0
    if (value > policy.maxAmountPerRebalance) fail(4, `${id} moves ${value}, above maxAmountPerRebalance ${policy.maxAmountPerRebalance}`, id)
    if (epoch.amountInEpoch + value > policy.maxAmountPerEpoch)
      fail(4, `${id} would move ${epoch.amountInEpoch + value} in the epoch, above maxAmountPerEpoch ${policy.maxAmountPerEpoch}`, id)
    // Module: only a due sub-account spends a rebalance (and starts its cooldown).
    dueOf[id] = due
    if (due && epoch.rebalancesInEpoch + 1 > policy.maxRebalancesPerEpoch)
      fail(4, `${id} would have ${epoch.rebalancesInEpoch + 1} rebalances in the epoch, above ${policy.maxRebalancesPerEpoch}`, id)
    if (epoch.gasInEpoch + gas > policy.maxGasPerEpoch) fail(4, `${id} would use ${epoch.gasInEpoch + gas} gas in the epoch, above ${policy.maxGasPerEpoch}`, id)

    const equity = before.collateral * before.price - before.debt
    const ppb = loss <= Math.abs(before.collateral * before.price) * FLOAT_TOLERANCE ? 0 : equity > 0 ? (loss / equity) * 1e9 : Number.POSITIVE_INFINITY
    lossPpb[id] = ppb
    const budgetPpb = (policy.maxEpochLossBps ?? 10_000) * 1e5
    if ((epoch.lossPpbInEpoch ?? 0) + ppb > budgetPpb)
      fail(6, `${id} would lose ${((epoch.lossPpbInEpoch ?? 0) + ppb) / 1e5} bps of its equity in the epoch, above maxEpochLossBps ${budgetPpb / 1e5}`, id)
  })
  if (!triggered) fail(1, "no touched sub-account is outside its band before the plan (NoTrigger)")

  if (Number.isFinite(minLossBps) && loss > (moved * minLossBps) / 10_000 + Math.abs(before) * FLOAT_TOLERANCE)
    fail(5, `the plan loses ${loss} while its positions move ${moved}: more than ${minLossBps} bps`)
  return result(before, after)
}

/**
 * What a plan's venue and swap actions pay out of (`spent`) and into (`received`) the Safe's wallet in `asset`, and
 * what it deposits into pools of the asset (`deposited`), token units. Mirrors RebalanceLib `_flowTally`: each
 * repayment capped at the sub-account's debt when it runs (pre-trade debt, plus the plan's borrows on it before, less
 * its repayments before), swap outputs at the module's minimum (oracle value less maxSlippageBps).
 */
function walletFlows(
  plan: Plan,
  poolAsset: ReadonlyMap<string, string>,
  subs: ReadonlyArray<PortfolioState["subAccounts"][number] | undefined>,
  policies: Readonly<Record<string, Policy>>,
  asset: string,
): { spent: number; received: number; deposited: number } {
  let spent = 0
  let received = 0
  // The debt each repayment meets, in execution order (a callback's inner actions run after its opener).
  const debtNow = new Map<number, number>()
  const debtOf = (k: number) => debtNow.get(k) ?? subs[k]?.debt ?? 0
  for (const a of plan.actions) {
    const s = subs[a.subAccount]
    const id = plan.subAccounts[a.subAccount]
    if (s === undefined || id === undefined) continue
    const loan = s.loanAsset === asset
    const collateral = s.collateralAsset === asset
    switch (a.kind) {
      case "Repay":
      case "RepayWithCallback":
        if (loan) {
          const cleared = Math.min(a.amount, debtOf(a.subAccount))
          debtNow.set(a.subAccount, debtOf(a.subAccount) - cleared)
          spent += cleared
        }
        break
      case "Borrow":
        if (loan) {
          debtNow.set(a.subAccount, debtOf(a.subAccount) + a.amount)
          received += a.amount
        }
        break
      case "SupplyCollateral":
      case "SupplyCollateralWithCallback":
        if (collateral) spent += a.amount
        break
      case "WithdrawCollateral":
        if (collateral) received += a.amount
        break
      case "SellCollateral":
      case "BuyCollateral": {
        const sell = a.kind === "SellCollateral"
        const fair = sell ? a.amount * s.price : a.amount / s.price
        const minOut = fair * (1 - (policies[id]?.maxSlippageBps ?? 0) / 10_000)
        if (sell ? collateral : loan) spent += a.amount
        if (sell ? loan : collateral) received += minOut
        break
      }
      default:
        break
    }
  }
  // Inflows parked in pools of the asset fund no spend (a deposit never makes a withdrawal used).
  const deposited = plan.actions
    .filter((a) => a.kind === "DepositToPool" && a.pool !== undefined && (poolAsset.get(a.pool) ?? a.asset) === asset)
    .reduce((sum, a) => sum + a.amount, 0)
  return { spent, received, deposited }
}
