import { checkPlanAgainstPolicy } from "./policyRules.js"
import { atInclusion, withSalesAtRead } from "./solver.js"
import { effectiveEpoch, healthOf, stopEngaged, toBaseUnits } from "./state.js"
import { repaysAtSaleMinimum, sizeSwapDeleverage, usableSlippageBps } from "./swapDeleverage.js"
import type { Plan, SolverInput, SolverResult, SubAccountInput, SubAccountState } from "./types.js"

/**
 * Health (human) under `exitHealth` from which the keeper plans a stop exit: the module allows any gain of
 * MIN_BAND_GAP (0.01) while the stop is engaged, but an exit of a few bps of health every cooldown only pays gas and
 * spends the exits' half of the epoch's counters (review rr13s S4). The backtester uses the same margin.
 */
export const STOP_EXIT_MARGIN = 0.1

/** Share of the way from the health before to `exitHealth` an exit aims at: a rise until inclusion does not land it above. */
export const STOP_EXIT_AIM = 0.95

/**
 * The module's stop exit is due for `s` (RebalanceLib `_trigger`, docs/stop-loss-exit.md): its policy carries a stop
 * (`stopPrice` in loan per collateral, `exitHealth`), the venue price is at or below the stop (engaged), and its health
 * is at least `minHealth` (below it the solver's rescue plans, with the whole epoch caps) and more than
 * {@link STOP_EXIT_MARGIN} under `exitHealth`.
 */
export function stopExitDue(input: Pick<SubAccountInput, "state" | "policy">): boolean {
  const { state, policy } = input
  if (policy.exitHealth === undefined || !stopEngaged({ state, policy })) return false
  const h = healthOf(state)
  return h >= policy.minHealth && h < policy.exitHealth - STOP_EXIT_MARGIN
}

/**
 * Whether the cooldown and the stop exit's half of `maxRebalancesPerEpoch` (rounded down; RebalanceLib
 * `_checkStopExitShare`, review rr13s S4) allow an exit of `input` at `now` (unix seconds).
 */
export function stopExitReady(input: Pick<SubAccountInput, "policy" | "epoch">, now: number): boolean {
  const { policy, epoch } = input
  if (epoch.lastRebalance !== undefined && now < epoch.lastRebalance + policy.cooldown) return false
  return effectiveEpoch(epoch, policy.epochLength, now).rebalancesInEpoch + 1 <= Math.floor(policy.maxRebalancesPerEpoch / 2)
}

/**
 * What a stop exit of `input` may move now (loan units): `maxAmountPerRebalance`, and the exits' half of
 * `maxAmountPerEpoch` less what the epoch already moved (review rr13s S4).
 */
export function stopExitCapLeft(input: Pick<SubAccountInput, "policy" | "epoch">, now: number): number {
  const { policy, epoch } = input
  const e = effectiveEpoch(epoch, policy.epochLength, now)
  return Math.max(0, Math.min(policy.maxAmountPerRebalance, policy.maxAmountPerEpoch / 2 - e.amountInEpoch)) * (1 - 1e-9)
}

export type PlanStopExitParameters = {
  /** The sub-account, with its selling curve (`swap`, and further `swapRoutes`), sized at the price it is given. */
  input: SubAccountInput
  /** Health (human) the exit must reach (`min`) and aims at (`max`). */
  allowed: { min: number; max: number }
  /** Value (loan units) the exit may move ({@link stopExitCapLeft}). */
  capLeft: number
  costs: SolverInput["costs"]
  /** The rule book's verdict on the plan (the caller's portfolio, policies, epochs and time): true when accepted. */
  accepts: (plan: Plan) => boolean
  /** The sale-minimum repayment (`SolverInput.saleMinimumRepayment`, {@link SizeSwapDeleverageParameters.repayAtMinimum}), applied on a venue without a flash premium only; default false. */
  repayAtMinimum?: boolean | undefined
  /**
   * Loan token taken from an allowed pool (`pool` address, `decimals` of its asset, `amount` in loan units > 0) and
   * repaid inside the callback with the sale's output (the solver's folded form: `WithdrawFromPool`, then the callback's
   * repayment carries it), counted in the amount caps before the sale is sized. Undefined: the sale alone.
   */
  prefund?: { pool: string; decimals: number; amount: number } | undefined
}

/**
 * The stop exit of one sub-account: `RepayWithCallback(R) { WithdrawCollateral(C), SellCollateral(C) } EndCallback`, the
 * sale sized by the solver's {@link sizeSwapDeleverage} toward `allowed.max` (R its expected output less
 * `swapPlanMargin`), kept only when it reaches `allowed.min` and the rule book accepts it. Shared by the backtester and
 * the live keeper ({@link stopExitResult}), so both plan the exit the module accepts.
 *
 * @returns The plan, or undefined when no sale lands.
 */
export function planStopExit(params: PlanStopExitParameters): Plan | undefined {
  const { input, allowed, capLeft, costs, prefund } = params
  const s = input.state
  const policy = input.policy
  if (input.swap === undefined || !((policy.maxSlippageBps ?? 0) > 0)) return undefined
  const premiumBps = s.flashPremiumBps ?? 0
  // The sale-minimum repayment on a venue without a flash premium only (Morpho Blue; Aave keeps the fixed take).
  const atMinimum = repaysAtSaleMinimum(params.repayAtMinimum, s)
  const sizing = sizeSwapDeleverage({
    ...s,
    prefunded: prefund?.amount ?? 0,
    curves: [input.swap, ...(input.swapRoutes ?? [])],
    goal: allowed.max,
    usableBps: usableSlippageBps(policy, premiumBps),
    maxSlippageBps: policy.maxSlippageBps as number,
    capLeft,
    extraRouteCost: costs.gasPerAction.SellCollateral * costs.gasPrice,
    repayAtMinimum: atMinimum,
    ...(premiumBps > 0 ? { premiumBps } : {}),
  })
  if ("reason" in sizing || sizing.healthAfter < allowed.min) return undefined
  const action = (kind: Plan["actions"][number]["kind"], amount: number, asset: string, decimals: number): Plan["actions"][number] => ({ kind, subAccount: 0, pool: undefined, asset, amount, amountBase: toBaseUnits(amount, decimals) })
  const actions: Plan["actions"] = [
    ...(prefund === undefined ? [] : [{ ...action("WithdrawFromPool", prefund.amount, s.loanAsset, prefund.decimals), pool: prefund.pool, amountBase: toBaseUnits(prefund.amount, prefund.decimals) }]),
    { ...action("RepayWithCallback", sizing.repaid, s.loanAsset, s.loanDecimals), ...(atMinimum ? { brought: sizing.brought } : {}) },
    { ...action("WithdrawCollateral", sizing.sold, s.collateralAsset, s.collateralDecimals), amountBase: sizing.soldBase },
    ...sizing.sales.map((sale) => ({ ...action("SellCollateral", sale.amountIn, s.collateralAsset, s.collateralDecimals), amountBase: sale.amountBase, route: sale.route, expectedOut: sale.expectedOut })),
    action("EndCallback", 0, s.loanAsset, s.loanDecimals),
  ]
  const gas = costs.baseGas + actions.reduce((g, a) => g + costs.gasPerAction[a.kind], 0)
  const plan: Plan = { loanAsset: s.loanAsset, subAccounts: [s.id], actions, gas }
  return params.accepts(plan) ? plan : undefined
}

/**
 * The live keeper's stop exit (issue 13, docs/stop-loss-exit.md Phase B): the first sub-account of `input` whose
 * engaged stop makes it due ({@link stopExitDue}, {@link stopExitReady}) gets {@link planStopExit} toward its
 * `exitHealth` ({@link STOP_EXIT_AIM} of the way, at least MIN_BAND_GAP up), sized at the price expected at inclusion
 * (`atInclusion`) and judged by the rule book with the stop (`checkPlanAgainstPolicy`). None while any sub-account of
 * `input` is below its band: the solver's rescue goes first.
 *
 * @returns A solver result whose plan is the exit, or undefined.
 */
export function stopExitResult(input: SolverInput): SolverResult | undefined {
  if (input.subAccounts.some((x) => healthOf(x.state) < x.policy.minHealth)) return undefined
  const aimed = atInclusion(withSalesAtRead(input))
  const states: SubAccountState[] = input.subAccounts.map((x) => x.state)
  const policies = Object.fromEntries(input.subAccounts.map((x) => [x.state.id, x.policy]))
  const epochs = Object.fromEntries(input.subAccounts.map((x) => [x.state.id, x.epoch]))
  for (const [i, now] of input.subAccounts.entries()) {
    const at = aimed.subAccounts[i] as SubAccountInput
    if (!stopExitDue(now) || !stopExitReady(now, input.now)) continue
    const before = healthOf(now.state)
    const exitHealth = now.policy.exitHealth as number
    const min = before + 0.01
    const accepts = (plan: Plan) =>
      checkPlanAgainstPolicy({ plan, pre: { subAccounts: states, pools: input.pools, idle: input.idle }, policies, epochs, now: input.now }).ok
    // Issue 13 (review rv60k F2): with the sale-minimum repayment the exit is sized on the repayment at its sale's minimum.
    const plan = planStopExit({ input: at, allowed: { min, max: Math.max(min, before + (exitHealth - before) * STOP_EXIT_AIM) }, capLeft: stopExitCapLeft(now, input.now), costs: input.costs, accepts, repayAtMinimum: input.saleMinimumRepayment })
    if (plan === undefined) continue
    return { plan, outcomes: [], cost: 0 }
  }
  return undefined
}
