import { PlanExecutionError } from "./errors.js"
import { checkPlanAgainstPolicy } from "./policyRules.js"
import { solveByLoanAsset } from "./solver.js"
import { applyPlan, recordPlanUsage, venueHealthOf } from "./state.js"
import { curveSwapFill, fillSwapActions, repayAtSaleMinimum } from "./swapDeleverage.js"
import type { EpochState, Plan, PlanAction, Policy, PortfolioState, SolverInput, SubAccountInput, SubAccountState, SwapCurve } from "./types.js"

/**
 * The model (`keeper.bandShadow` "model" in the backtester; the live keeper's until stop 51, now {@link BandRulePaper},
 * which helper bk50b showed it must be: a band rule's landings can be amount- or loss-bound, and this model's are not).
 * Issue 13's rule, the boost side (helper s50): "on any path where threshold (the band rule) is not liquidated, the
 * autopilot is not either". The autopilot rests higher than the band rule after its in-band rescues, so a rise can take
 * it above `maxHealth` while a band-rule position on the same prices, lower, stays inside the band; a boost then lands
 * the autopilot below that position's health and a crash right after liquidates only the autopilot. A stateless rule
 * cannot see the band rule's health (it depends on the path), so the keeper and the backtester keep this shadow per
 * sub-account and pass it to the solver as the boost floor (`SubAccountInput.boostFloorHealth`).
 *
 * The shadow is the health a band-rule position would hold: it starts at the first health observed (at least the
 * target), moves with the
 * collateral's price (at fixed collateral and debt, health is proportional to the collateral price; a caller may fold
 * interest into the factor, collateral index / debt index, as the backtester does), and is reset to `targetHealth`
 * whenever it is observed below `minHealth`, or (with `boostAllowed`) above `maxHealth`: where the band rule would be
 * rescued or boosted back to its target. It ignores what can stop the band rule's own rebalance (cooldown, caps, a
 * landing short of the target): the band rule it models always lands at the target when due.
 */
export type BandShadowPolicy = { minHealth: number; targetHealth: number; maxHealth: number; boostAllowed: boolean }

/** One sub-account's band-rule shadow (see the module docstring). Not thread-safe; one instance per sub-account. */
export class BandRuleShadow {
  private base: { health: number; factor: number } | undefined
  private last: number | undefined

  /**
   * Observe the sub-account at one poll.
   *
   * @param factor - Anything proportional to the health of a position at fixed collateral and debt: the collateral's
   *   oracle price (loan units per collateral unit), optionally x collateral index / debt index. Must be finite and > 0;
   *   otherwise the observation is ignored and the last shadow is returned.
   * @param health - The sub-account's own health now (used only at the first observation, as the shadow's start).
   * @param policy - Its band (`minHealth` < `targetHealth` < `maxHealth`) and whether boosts are allowed.
   * @returns The shadow's health after this observation (health units, at `factor`), or undefined before any valid
   *   observation.
   */
  observe(factor: number, health: number, policy: BandShadowPolicy): number | undefined {
    if (!(factor > 0) || !Number.isFinite(factor)) return this.last
    if (this.base === undefined) {
      if (!(health > 0)) return undefined
      // Its start: the health observed, at least the target (the band rule's history is unknown: a keeper restarted on
      // a position below its target, or a trader starting there, assumes the band rule rests at its target, the higher
      // floor, so an in-band rescue is not withheld and a boost is not lowered; issue 13, helper bk50's gate).
      this.base = { health: Math.max(health, policy.targetHealth), factor }
    }
    const h = this.base.health * (factor / this.base.factor)
    if (h < policy.minHealth || (policy.boostAllowed && h > policy.maxHealth)) this.base = { health: policy.targetHealth, factor }
    this.last = this.health(factor)
    return this.last
  }

  /**
   * The shadow's health at `factor` without observing (no reset); undefined before any observation.
   */
  health(factor: number): number | undefined {
    return this.base === undefined ? undefined : this.base.health * (factor / this.base.factor)
  }
}

/**
 * The band rule's health for a boost floor or the in-band gate: its health now, or, while an operation it decided is
 * pending, the solver's predicted health after it (when that is a health: finite and > 0). The keeper's paper and the
 * backtester's band-rule run read it the same way.
 *
 * @param now - The band rule's health at the read.
 * @param expected - The pending operation's predicted health after it, if any.
 */
export function bandRuleHealth(now: number, expected: number | undefined): number {
  return expected !== undefined && Number.isFinite(expected) && expected > 0 ? expected : now
}

/**
 * Largest relative growth of a live position's debt or collateral between two reads taken as accrual (interest, yield)
 * rather than an operation: 0.1 % (a day of interest at 36 % APR; an operation moves more).
 */
const ACCRUAL_STEP = 1e-3

/**
 * Policy fields the band rule runs without (the autopilot's own: the in-band rescue, the on-chain stop, the drawdown
 * guard; the backtester's `strategyPolicy` projects the threshold strategy's policy the same way).
 */
const AUTOPILOT_ONLY_FIELDS = ["rescueBelowTarget", "stopPrice", "exitHealth", "stopLoss", "stopLossConfirmSeconds"] as const satisfies readonly (keyof Policy)[]

/**
 * The band rule on paper (issue 13, stop 51; helper bk50b's finding): a copy of the Safe's portfolio, taken at the
 * first observation, that the threshold solver (`solve` in `threshold` mode, the band rule) rebalances whenever a copy
 * of a sub-account leaves its band, within the policy's caps, loss bounds, cooldown and counts (`checkPlanAgainstPolicy`,
 * the module's rules) and applied with `applyPlan` at the observed prices. Unlike {@link BandRuleShadow}, whose band rule
 * always lands at the target, its landings are the band rule's own: above the target when an amount or loss bound cuts
 * a boost, below it when one cuts a rescue, none when an epoch cap is spent; so its health follows a real band-rule
 * Safe's where those bind. A plan decided at one read lands at the next, at that read's prices, if the module's rules
 * still take it (the inclusion delay: a rescue decided on a dip that has recovered by then reverts, as a real band
 * rule's does); interest and collateral yield follow the live position's accrual between reads. What it does not model:
 * pool yield, a swap's fill (its quote, `expectedOut`: a real band rule's sale filled short of its repayment reverts,
 * the copy's does not; helper bk51b) and the exact landing step. The live keeper keeps one per Safe
 * (`SafeRuntime.bandPaper`); the backtester runs it with `keeper.bandShadow` "paper".
 */
export class BandRulePaper {
  private portfolio: PortfolioState | undefined
  /** The band rule's epoch bookkeeping of each copy, by the copy's id (the spelling of its first read). */
  private readonly epochs: Record<string, EpochState> = {}
  /** Sub-accounts whose copy a liquidator closed (below health 1 at a read), by lower-case id, while the live one has debt. */
  private readonly closed = new Set<string>()
  /** Each live sub-account's collateral and debt at the last read, by lower-case id (for the copies' accrual). */
  private readonly lastLive = new Map<string, { collateral: number; debt: number }>()
  /**
   * The band rule's operations decided at an earlier observation (`at`, unix seconds; one per loan asset, as the keeper
   * sends them), landing at the next later one (the inclusion delay), with the solver's predicted health of each
   * sub-account after them.
   */
  private pending: { plans: Plan[]; at: number; expected: Map<string, number> } | undefined
  /**
   * Whether the band rule's sales repay at their on-chain minimum (`SolverInput.saleMinimumRepayment` of the latest
   * observation; issue 13, stop 61): the copy is then planned and landed in that mode, as the live Safe is. Without it
   * the copy's sales were fixed takes that reverted in a fall (`ActionFailed`, `SaleExceedsRepayment`) where the band
   * rule's in the mode land, and the copy read below (or above) the band rule it stands for.
   */
  private saleMinimum = false

  /**
   * The copy as of the last observation (sub-accounts with their own collateral and debt, pools, idle balances; units as
   * {@link PortfolioState}), or undefined before the first; a read-only view for logs and tests.
   */
  get copy(): Readonly<PortfolioState> | undefined {
    return this.portfolio
  }

  /**
   * Land `plan` on the copy at the landing read's prices if the module's rules take it; otherwise nothing moves and no
   * cooldown starts (a revert). Its swaps fill as a real band-rule Safe's do ({@link fillSwapActions}, the backtester's
   * rule): at the landing read's curve for the action's route (`live`: `swap`, `swapRoutes`, `swapBuy`) and oracle
   * price, refused below the on-chain minimum, and the module's rule book then refuses a sale whose minimum at the
   * landing oracle exceeds its repayment (`SaleExceedsRepayment`) or whose output falls short of it (`ActionFailed`), the
   * mirror for a purchase; a fill above the repayment leaves the excess idle. A swap whose route the landing read has
   * no curve for fills at its quote (`expectedOut`).
   */
  private land(plan: Plan, policies: Record<string, Policy>, now: number, live: ReadonlyMap<string, SubAccountInput>): void {
    const paper = this.portfolio as PortfolioState
    if (!plan.subAccounts.every((id) => paper.subAccounts.some((s) => s.id === id))) return
    const curveOf = (a: PlanAction, s: SubAccountState): SwapCurve | undefined => {
      const x = live.get(s.id.toLowerCase())
      if (x === undefined) return undefined
      if (a.kind === "BuyCollateral") return x.swapBuy !== undefined && (a.route === undefined || x.swapBuy.route === a.route) ? x.swapBuy : undefined
      return [x.swap, ...(x.swapRoutes ?? [])].find((c) => c !== undefined && (a.route === undefined || c.route === a.route))
    }
    // Under the sale-minimum repayment (`SolverInput.saleMinimumRepayment`, the band rule's plan sized on it) its sales
    // repay their minimum at the landing oracle, as the live Safe's and the backtester's do ({@link repayAtSaleMinimum}).
    const sent = this.saleMinimum ? repayAtSaleMinimum(plan, paper.subAccounts, (id) => policies[id]?.maxSlippageBps ?? 0) : plan
    const filled = fillSwapActions(
      sent,
      paper.subAccounts,
      (id) => policies[id]?.maxSlippageBps ?? 0,
      (a, s) => {
        const curve = curveOf(a, s)
        return curve === undefined ? undefined : curveSwapFill(curve, a, s.price)
      },
    )
    if ("reason" in filled) return
    const landing = filled.plan
    const check = checkPlanAgainstPolicy({ plan: landing, pre: paper, policies, epochs: this.epochs, now })
    if (!check.ok) return
    let post: PortfolioState
    try {
      post = applyPlan(paper, landing)
    } catch (e) {
      // A plan the copy cannot execute (PlanExecutionError): the band rule's operation would revert; nothing moves.
      if (e instanceof PlanExecutionError) return
      throw e
    }
    recordPlanUsage(this.epochs, policies, { ids: landing.subAccounts, now, moved: check.amountMoved, gas: landing.gas, lossPpb: check.lossPpb, due: check.due, pre: paper.subAccounts, post: post.subAccounts })
    this.portfolio = post
  }

  /**
   * Observe the Safe at one poll: copy any sub-account seen for the first time (with debt), move every copy to the
   * observed oracle price, land the band rule's operation decided at the last observation (if the module's rules take
   * it at these prices), and let the band rule decide one for the copies now out of their band (landing at the next).
   *
   * @param input - The solver input read now (oracle prices, venue limits, policies, swap curves, costs; units as
   *   {@link SolverInput}). Its pools and idle balances are copied once, at the first observation; each copy keeps its
   *   own collateral and debt and takes every other field from the live read.
   * @param input.now - Unix seconds of the read; a read at the same time as the last changes nothing.
   * @returns The band rule's health (venue health, at the observed prices; while an operation it decided is pending, the
   *   solver's predicted health after it) of each copied sub-account with debt, by sub-account id (lower-case). A sub-account without debt in `input` is dropped (a reopened one is copied anew); one whose copy fell below health 1 (liquidated) has no entry until its live debt is repaid.
   */
  observe(input: SolverInput): Map<string, number> {
    const key = (id: string): string => id.toLowerCase()
    this.saleMinimum = input.saleMinimumRepayment === true
    if (this.portfolio === undefined) this.portfolio = { subAccounts: [], pools: input.pools.map((p) => ({ ...p })), idle: { ...input.idle } }
    const paper = this.portfolio
    const live = new Map(input.subAccounts.map((x) => [key(x.state.id), x]))
    // Each copy keeps its own collateral and debt; everything else is the live read's (the oracle price, the venue's
    // limits: free liquidity, LTV room, repayable debt, which a band-rule Safe on the same venue would meet too), but
    // not the venue's own health figures (Aave's read health factor and account equity are the live position's): the
    // copy's health is computed from its own collateral and debt. Interest: where the live position changed between two
    // reads only as accrual does (debt and collateral each up by less than ACCRUAL_STEP, none down), the copy grows by
    // the same factors (helper bk51b: without it the copy read 1.1501 where threshold, 28 h of interest lower, was at
    // 1.1499 and rescued; the autopilot's in-band rescue was withheld and a gap liquidated it).
    const kept = new Map(paper.subAccounts.map((s) => [key(s.id), s]))
    paper.subAccounts = []
    for (const [id, x] of live) {
      if (!(x.state.debt > 0)) {
        this.lastLive.delete(id)
        this.closed.delete(id)
        continue
      }
      const copy = kept.get(id)
      const own = { health: undefined, equity: undefined, aaveBase: undefined }
      if (copy !== undefined && copy.debt > 0) {
        const before = this.lastLive.get(id)
        const growth = (now: number, then: number | undefined): number | undefined => {
          if (then === undefined || !(then > 0) || !(now >= then)) return undefined
          const g = now / then
          return g - 1 < ACCRUAL_STEP ? g : undefined
        }
        const debtGrowth = growth(x.state.debt, before?.debt)
        const collateralGrowth = growth(x.state.collateral, before?.collateral)
        const accrued = debtGrowth !== undefined && collateralGrowth !== undefined
        // The copy's id keeps its first spelling (its epoch is kept under it: helper bk51b, an id read in another case).
        const moved: SubAccountState = { ...x.state, ...own, id: copy.id, collateral: copy.collateral * (accrued ? collateralGrowth : 1), debt: copy.debt * (accrued ? debtGrowth : 1) }
        // Below health 1 at this read: a liquidator closes the band-rule Safe's position (helper y52: with its swap rescues
        // reverting on a fall as threshold's do, the copy can fall there; kept, it read below the autopilot for the rest of
        // the path and shut its in-band rescue). The copy is closed: no band-rule health is reported for the sub-account
        // (no boost floor, no in-band gate: issue 13's rule binds only where the band rule is not liquidated; as the
        // backtester's "run" reads a liquidated threshold run) until the live position's debt is repaid, after which a
        // reopened one is copied anew; a plan pending on it is dropped (`land` needs every sub-account it touches).
        if (venueHealthOf(moved) >= 1) paper.subAccounts.push(moved)
        else this.closed.add(id)
      } else if (!this.closed.has(id)) {
        // A closed copy (above) stays closed while the live position has debt; any other is copied at its first read.
        paper.subAccounts.push({ ...x.state, ...own })
        this.epochs[x.state.id] = { ...x.epoch }
      }
      this.lastLive.set(id, { collateral: x.state.collateral, debt: x.state.debt })
    }
    const policies: Record<string, Policy> = {}
    const inputs: SubAccountInput[] = []
    for (const s of paper.subAccounts) {
      const x = live.get(key(s.id)) as SubAccountInput
      const policy: Policy = { ...x.policy }
      for (const k of AUTOPILOT_ONLY_FIELDS) delete policy[k]
      policies[s.id] = policy
      const { boostFloorHealth: _floor, ...rest } = x
      inputs.push({ ...rest, state: s, policy, epoch: this.epochs[s.id] as EpochState })
    }
    // The band rule's operation decided at the last observation lands now, at these prices, if the module still takes
    // it (a plan decided on a dip that has recovered by inclusion reverts: no sub-account is due any more).
    // An observation at the decision's own time (the same read twice) lands nothing and decides nothing new.
    const pending = this.pending
    if (pending !== undefined && input.now > pending.at) {
      this.pending = undefined
      for (const plan of pending.plans) this.land(plan, policies, input.now, live)
    }
    const decide = this.portfolio.subAccounts.some((s) => {
      const policy = policies[s.id] as Policy
      const h = venueHealthOf(s)
      return h < policy.minHealth || (policy.boostAllowed && h > policy.maxHealth)
    })
    if (decide && this.pending === undefined) {
      const paperNow = this.portfolio
      const subAccounts = inputs.map((x) => ({ ...x, state: paperNow.subAccounts.find((s) => s.id === x.state.id) as SubAccountState, epoch: this.epochs[x.state.id] as EpochState }))
      const solved = [...solveByLoanAsset({ now: input.now, subAccounts, pools: paperNow.pools, idle: paperNow.idle, costs: input.costs, mode: "threshold", saleMinimumRepayment: input.saleMinimumRepayment }).values()]
      const plans = solved.flatMap((r) => (r.plan === undefined ? [] : [r.plan]))
      if (plans.length > 0) this.pending = { plans, at: input.now, expected: new Map(solved.flatMap((r) => (r.plan === undefined ? [] : r.outcomes.map((o) => [key(o.id), o.healthAfter] as const)))) }
    }
    // The band rule's health, or where its decided operation lands while it is pending (a band rule that decided at this
    // poll is on its way there: read a poll later, an in-band rescue of the autopilot would land a poll after its rescue,
    // and a boost of the autopilot wait a poll for its boost).
    const expected = this.pending?.expected
    const out = new Map<string, number>()
    for (const s of this.portfolio.subAccounts) {
      if (!(s.debt > 0)) continue
      const h = venueHealthOf(s)
      const e = expected?.get(key(s.id))
      out.set(key(s.id), bandRuleHealth(h, e))
    }
    return out
  }
}
