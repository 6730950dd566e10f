import { PlanExecutionError, SolverInputError } from "./errors.js"
import type { EpochState, Plan, Policy, PortfolioState, SubAccountState, YieldPool } from "./types.js"

/**
 * Health = collateral value x LLTV / debt (Infinity without debt).
 *
 * @param s - Sub-account state.
 * @returns Health (1.0 = liquidation threshold).
 */
export function healthOf(s: Pick<SubAccountState, "collateral" | "debt" | "lltv" | "price">): number {
  return s.debt > 0 ? (s.collateral * s.price * s.lltv) / s.debt : Number.POSITIVE_INFINITY
}

/**
 * Whether `sub`'s on-chain stop is engaged: RebalanceLib `_trigger` (the rule book's `stopStateOf`), the venue price at
 * or below `stopPrice` (prices in loan per collateral). `policy.stopJudged`, when judged at this price, is the answer:
 * the keeper's exact judgement on the chain's integers (review rr11zb B4). False without a stop.
 *
 * @param sub - The sub-account's state (`price`) and policy (`stopPrice`, `stopJudged`).
 * @returns True while the stop is engaged.
 */
export function stopEngaged(sub: { state: Pick<SubAccountState, "price">; policy: Pick<Policy, "stopPrice" | "stopJudged"> }): boolean {
  const { stopPrice, stopJudged } = sub.policy
  if (stopJudged !== undefined && stopJudged.price === sub.state.price) return stopJudged.state === "engaged"
  return stopPrice !== undefined && sub.state.price <= stopPrice
}

/**
 * The health the module reads for a sub-account before a plan: {@link healthOf} (Morpho Blue, the frame's exactly), or,
 * for an Aave v3 account (`thresholdFloored`) with a debt, Aave's own factor: `health` when the keeper read it (the
 * adapter's `MarketState.health`, `getUserAccountData`'s factor; equal to it up to the float's rounding), else rebuilt
 * from the frame: total collateral (`equity + debt`, loan units) x floor(average) / debt, the average being the exact
 * threshold-weighted collateral (`collateral x price x lltv`) over the total. The rebuild keeps the frame health only for
 * an average within float rounding of the market's threshold on an account whose only collateral is the market's
 * reserve (`soleCollateral`); otherwise such an average, or one within rounding of any whole bps, is taken at the bps
 * below (a dust collateral at a lower threshold, a few ppb of the account, floors Aave's average there: review rr17c
 * F1 and its residual), so the rebuild is never above Aave's factor by the floor (it may be 1 bps of collateral below
 * it). Without `equity`: the frame health.
 *
 * @param s - Sub-account state.
 * @returns Health (Infinity without debt).
 */
export function venueHealthOf(s: Pick<SubAccountState, "collateral" | "debt" | "lltv" | "price" | "equity" | "thresholdFloored" | "soleCollateral" | "health">): number {
  const frame = healthOf(s)
  if (!s.thresholdFloored || !(s.debt > 0)) return frame
  if (s.health !== undefined && Number.isFinite(s.health) && s.health >= 0) return s.health
  if (s.equity === undefined) return frame
  const total = s.equity + s.debt
  const threshold = s.lltv * 10_000
  const average = total > 0 ? (s.collateral * s.price * threshold) / total : 0
  if (!(average > 0)) return 0
  const tolerance = average * FLOAT_TOLERANCE
  if (s.soleCollateral && Math.abs(average - threshold) <= tolerance) return frame
  let floored = Math.floor(average)
  if (average - floored <= tolerance) floored -= 1
  return (total * floored) / 10_000 / s.debt
}

/** Relative rounding the float reconstruction of an Aave account's average threshold allows (equity, debt, floats). */
const FLOAT_TOLERANCE = 1e-9

/**
 * The most Aave's factor of an Aave v3 account (`thresholdFloored`) can fall below its frame health ({@link healthOf}),
 * relative, after any move of the scope's collateral reserve and the debt: Aave floors the account's average threshold
 * A (bps) to whole bps, which takes less than 1 bps, i.e. less than 1 / A of the frame health. A ranges between the
 * market's threshold and the average of the account's other collaterals as this reserve's balance moves (from
 * `equity + debt`, `collateral` and `collateralHeld`), so the bound is 1 / min(market threshold, that average).
 * Without `collateralHeld` (its read failed) on a multi-collateral account the others' average is unknown and a
 * withdrawal of this reserve can take the account's average below both the market's threshold and the average now
 * (review rr17 R4): the bound then also takes the average at which the account's value now would sit at Aave health 1,
 * 10,000 x debt / (equity + debt) bps, which a plan landing at frame health >= 1 without lowering the debt's share of
 * the account (a donor's withdrawal or borrow) cannot go under. 0: Morpho Blue, an Aave account without `equity`, or one
 * whose only collateral is the market's reserve (`soleCollateral`) and whose average is the market's threshold within
 * float rounding, which Aave does not floor. Without `soleCollateral` an average within rounding of the threshold still
 * takes the floor (about 1 / threshold): a dust reserve at a lower threshold, a few ppb of the account, hides in the
 * rounding and floors Aave's average a whole bps below the market's (review rr17c F1).
 * The solver aims every lower edge (band, landing zone, target from above) at `edge / (1 - gap)` in the frame, so Aave's
 * factor lands at or above the edge, and every upper edge at the edge itself (Aave's factor never exceeds the frame's).
 *
 * @param s - Sub-account state.
 * @returns The gap, a fraction in [0, 1).
 */
export function thresholdFloorGap(s: Pick<SubAccountState, "collateral" | "debt" | "lltv" | "price" | "equity" | "thresholdFloored" | "collateralHeld" | "soleCollateral">): number {
  if (!s.thresholdFloored || s.equity === undefined) return 0
  const total = s.equity + s.debt
  const threshold = s.lltv * 10_000
  const weighted = s.collateral * s.price * threshold
  if (!(total > 0) || !(threshold > 0)) return 0
  const average = weighted / total
  if (s.soleCollateral && Math.abs(average - threshold) <= average * FLOAT_TOLERANCE) return 0
  let lowest = Math.min(threshold, average)
  if (s.collateralHeld === undefined) {
    if (s.debt > 0) lowest = Math.min(lowest, (10_000 * s.debt) / total)
  } else {
    const heldValue = s.collateralHeld * s.price
    const others = total - heldValue
    if (others > total * FLOAT_TOLERANCE) lowest = Math.min(lowest, Math.max(0, (weighted - heldValue * threshold) / others))
  }
  return lowest > 1 ? 1 / lowest : 1
}

/**
 * Effective leverage = collateral value / (collateral value - debt); Infinity when equity <= 0.
 *
 * @param s - Sub-account state.
 * @returns Effective leverage (1 without debt).
 */
export function leverageOf(s: Pick<SubAccountState, "collateral" | "debt" | "price">): number {
  const value = s.collateral * s.price
  const equity = value - s.debt
  return equity > 0 ? value / equity : Number.POSITIVE_INFINITY
}

/**
 * Epoch counters as the module sees them at `now`: epochs are aligned (index = floor(now / epochLength)) and the
 * counters of an earlier epoch count as zero.
 *
 * @param epoch - Stored bookkeeping.
 * @param epochLength - Policy epoch length in seconds.
 * @param now - Unix seconds.
 * @returns Counters valid for a rebalance at `now`.
 */
export function effectiveEpoch(epoch: EpochState, epochLength: number, now: number): EpochState {
  const current = Math.floor(now / epochLength)
  if (epoch.epoch !== current) return { lastRebalance: epoch.lastRebalance, epoch: current, amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0, lossPpbInEpoch: 0 }
  return epoch
}

/**
 * A triggered sub-account's landing zone (module: `RebalanceLib.landingZone`, `HealthOutsideLandingZone`): it moves at
 * least half the distance between the breached band edge and the target, and ends no further past the target than
 * half way to the other edge. Below the band: [max(min, before + (target - min) / 2), target + (max - target) / 2];
 * inside it below the target (an in-band rescue, due only under `rescueBelowTarget`, issue 13): [before + (target -
 * min) / 2, target + (max - target) / 2] (stop 64: continuous with the zone below the band at min; the solver still
 * aims an in-band rescue at the target or above, workingPortfolio), empty (low > high) close under the target when the
 * lower band is wider than the upper one; above it: [target - (target - min) / 2, min(max, before - (max - target) / 2)].
 *
 * @param policy - Band and target.
 * @param before - Health before the plan (outside the band, or in it below the target for an in-band rescue).
 * @returns [low, high] health.
 */
export function landingZone(policy: { minHealth: number; targetHealth: number; maxHealth: number }, before: number): [number, number] {
  const { minHealth: min, targetHealth: t, maxHealth: max } = policy
  if (before < min) return [Math.max(min, before + (t - min) / 2), t + (max - t) / 2]
  if (before < t) return [before + (t - min) / 2, t + (max - t) / 2]
  return [t - (t - min) / 2, Number.isFinite(before) ? Math.min(max, before - (max - t) / 2) : max]
}

/**
 * Epoch bookkeeping after a rebalance that moved `amount` with `gas` at `now`.
 *
 * @param epoch - Stored bookkeeping.
 * @param epochLength - Policy epoch length.
 * @param now - Unix seconds of the rebalance.
 * @param amount - Value moved for the sub-account (loan units).
 * @param gas - Execution gas of the rebalance.
 * @param lossPpb - The rebalance's loss in parts per billion of the sub-account's equity before it.
 * @param due - It was due (spends a rebalance of the epoch's count).
 * @param noCooldown - It starts no cooldown although due (module `_recordUsage`): it ended below its band (a cap-bound
 *   step, review rr13v V1) or, under `rescueBelowTarget` with no stop engaged, was rescued from below its band to below
 *   its target (stop 64), or it was an
 *   in-band rescue (due inside its band below the target under `rescueBelowTarget`, issue 13).
 * @returns The new bookkeeping.
 */
export function recordRebalance(epoch: EpochState, epochLength: number, now: number, amount: number, gas: number, lossPpb = 0, due = true, noCooldown = false): EpochState {
  const e = effectiveEpoch(epoch, epochLength, now)
  // Module (_recordUsage): a sub-account that was not due starts no cooldown and spends no rebalance count; a due one
  // that ended below its band (a cap-bound step) or was rescued from inside it spends its count but starts no cooldown.
  return {
    lastRebalance: due && !noCooldown ? now : epoch.lastRebalance,
    epoch: e.epoch,
    amountInEpoch: e.amountInEpoch + amount,
    rebalancesInEpoch: e.rebalancesInEpoch + (due ? 1 : 0),
    gasInEpoch: e.gasInEpoch + gas,
    lossPpbInEpoch: (e.lossPpbInEpoch ?? 0) + lossPpb,
  }
}

/**
 * What a plan's positions moved (module: the `moved` of `ValueLossExceeded`): per sub-account the collateral value and
 * debt changes at the pre-trade price, summed into "into positions" (collateral added, debt repaid) and "out of
 * positions" (collateral removed, debt taken); the larger of the two.
 *
 * @param pre - Portfolio before the plan.
 * @param post - Portfolio after the plan.
 * @param ids - Listed sub-accounts.
 * @returns Value moved, loan units.
 */
export function positionsMoved(pre: PortfolioState, post: PortfolioState, ids: readonly string[]): number {
  let into = 0
  let out = 0
  for (const id of ids) {
    const a = pre.subAccounts.find((s) => s.id === id)
    const b = post.subAccounts.find((s) => s.id === id)
    if (a === undefined || b === undefined) continue
    const dc = (b.collateral - a.collateral) * a.price
    const dd = b.debt - a.debt
    if (dc > 0) into += dc
    else out -= dc
    if (dd < 0) into -= dd
    else out += dd
  }
  return Math.max(into, out)
}

/**
 * Integer base units of a human amount, rounded down.
 *
 * @param amount - Human amount (>= 0).
 * @param decimals - Token decimals.
 * @returns floor(amount x 10^decimals) as bigint.
 * @example toBaseUnits(1.5, 6) // 1500000n
 */
export function toBaseUnits(amount: number, decimals: number): bigint {
  const scaled = Math.floor(amount * 10 ** decimals)
  return scaled > 0 ? BigInt(scaled) : 0n
}

/**
 * Deep copy of a portfolio.
 *
 * @param state - Portfolio.
 * @returns An independent copy.
 */
export function cloneState(state: PortfolioState): PortfolioState {
  return {
    subAccounts: state.subAccounts.map((s) => ({ ...s })),
    pools: state.pools.map((p) => ({ ...p })),
    idle: { ...state.idle },
  }
}

const DUST = 1e-9

function spend(idle: Record<string, number>, asset: string, amount: number, index: number): void {
  const have = idle[asset] ?? 0
  if (amount > have * (1 + DUST) + DUST) throw new PlanExecutionError(index, `needs ${amount} ${asset} but the Safe holds ${have}`)
  idle[asset] = Math.max(0, have - amount)
}

function slip(pool: YieldPool): number {
  return (pool.slippageBps ?? 0) / 10_000
}

/**
 * Apply a plan to a portfolio the way the module executes it: action by action, with the Safe's
 * idle balances as the buffer between actions. Pool exits cost `amount x slippage` extra shares,
 * pool entries credit `amount x (1 - slippage)`.
 *
 * @param state - Portfolio before the plan.
 * @param plan - Plan to apply.
 * @returns Portfolio after the plan (the input is not modified).
 * @throws {PlanExecutionError} When an action cannot execute (funds, debt, pool or borrow limits).
 */
export function applyPlan(state: PortfolioState, plan: Plan): PortfolioState {
  const next = cloneState(state)
  // A callback action's venue collects its tokens when the callback block ends.
  let settle: { asset: string; amount: number; index: number } | undefined
  plan.actions.forEach((action, index) => {
    const id = plan.subAccounts[action.subAccount]
    const sub = next.subAccounts.find((s) => s.id === id)
    if (sub === undefined) throw new PlanExecutionError(index, `unknown sub-account index ${action.subAccount}`)
    const amount = action.amount
    if (action.kind === "EndCallback") {
      if (settle === undefined) throw new PlanExecutionError(index, "EndCallback without an open callback")
      spend(next.idle, settle.asset, settle.amount, settle.index)
      settle = undefined
      return
    }
    if (!(amount > 0) || !Number.isFinite(amount)) throw new PlanExecutionError(index, `amount must be > 0, got ${amount}`)
    switch (action.kind) {
      case "RepayWithCallback":
        if (amount > sub.debt * (1 + DUST) + DUST) throw new PlanExecutionError(index, `repays ${amount} but debt is ${sub.debt}`)
        sub.debt = Math.max(0, sub.debt - amount)
        // A flash-funded callback (Aave) collects the amount plus its premium (`flashPremiumBps`).
        settle = { asset: sub.loanAsset, amount: amount * (1 + (sub.flashPremiumBps ?? 0) / 10_000), index }
        break
      case "SupplyCollateralWithCallback":
        sub.collateral += amount
        settle = { asset: sub.collateralAsset, amount: amount * (1 + (sub.flashPremiumBps ?? 0) / 10_000), index }
        break
      case "SellCollateral":
      case "BuyCollateral": {
        const sell = action.kind === "SellCollateral"
        const [tokenIn, tokenOut] = sell ? [sub.collateralAsset, sub.loanAsset] : [sub.loanAsset, sub.collateralAsset]
        spend(next.idle, tokenIn, amount, index)
        const out = action.expectedOut ?? (sell ? amount * sub.price : amount / sub.price)
        next.idle[tokenOut] = (next.idle[tokenOut] ?? 0) + out
        break
      }
      case "Repay":
        if (amount > sub.debt * (1 + DUST) + DUST) throw new PlanExecutionError(index, `repays ${amount} but debt is ${sub.debt}`)
        spend(next.idle, sub.loanAsset, amount, index)
        sub.debt = Math.max(0, sub.debt - amount)
        break
      case "Borrow": {
        sub.debt += amount
        if (healthOf(sub) < 1) throw new PlanExecutionError(index, `borrow of ${amount} leaves health ${healthOf(sub)} < 1`)
        next.idle[sub.loanAsset] = (next.idle[sub.loanAsset] ?? 0) + amount
        break
      }
      case "SupplyCollateral":
        spend(next.idle, sub.collateralAsset, amount, index)
        sub.collateral += amount
        break
      case "WithdrawCollateral":
        if (amount > sub.collateral * (1 + DUST)) throw new PlanExecutionError(index, `withdraws ${amount} collateral of ${sub.collateral}`)
        sub.collateral = Math.max(0, sub.collateral - amount)
        if (healthOf(sub) < 1) throw new PlanExecutionError(index, `withdrawal leaves health ${healthOf(sub)} < 1`)
        next.idle[sub.collateralAsset] = (next.idle[sub.collateralAsset] ?? 0) + amount
        break
      case "WithdrawFromPool": {
        const pool = next.pools.find((p) => p.address === action.pool)
        if (pool === undefined) throw new PlanExecutionError(index, `unknown pool ${action.pool}`)
        const burned = amount * (1 + slip(pool))
        if (burned > pool.withdrawable * (1 + DUST) + DUST) throw new PlanExecutionError(index, `withdraws ${amount} from ${pool.address}, only ${pool.withdrawable} withdrawable`)
        pool.balance = Math.max(0, pool.balance - burned)
        pool.withdrawable = Math.max(0, pool.withdrawable - burned)
        next.idle[pool.asset] = (next.idle[pool.asset] ?? 0) + amount
        break
      }
      case "DepositToPool": {
        const pool = next.pools.find((p) => p.address === action.pool)
        if (pool === undefined) throw new PlanExecutionError(index, `unknown pool ${action.pool}`)
        spend(next.idle, pool.asset, amount, index)
        const credited = amount * (1 - slip(pool))
        pool.balance += credited
        pool.withdrawable += credited
        break
      }
    }
  })
  return next
}

/**
 * Price of an asset in loan units the way the module values it during a rebalance: 1 for the loan
 * asset, else the oracle price of the first touched sub-account (in plan order) using it as collateral.
 *
 * @param state - Portfolio.
 * @param asset - Token.
 * @param loanAsset - The numeraire.
 * @param subAccountIds - Touched sub-accounts in plan order.
 * @returns The price.
 * @throws {SolverInputError} When no touched sub-account uses the asset (the module reverts with PoolAssetMismatch).
 */
export function touchedAssetPrice(state: PortfolioState, asset: string, loanAsset: string, subAccountIds: readonly string[]): number {
  if (asset === loanAsset) return 1
  for (const id of subAccountIds) {
    const s = state.subAccounts.find((x) => x.id === id)
    if (s !== undefined && s.collateralAsset === asset) return s.price
  }
  throw new SolverInputError(`asset ${asset} is neither the loan asset nor a touched sub-account's collateral`)
}

/**
 * Net value as rule 5 defines it: touched sub-accounts' collateral value minus debt, the Safe's
 * shares of the touched pools, and the Safe's idle loan token and touched collateral tokens, in loan
 * units, each token valued as the module does (see {@link touchedAssetPrice}).
 *
 * @param state - Portfolio.
 * @param loanAsset - Numeraire.
 * @param subAccountIds - Touched sub-accounts, in plan order.
 * @param poolAddresses - Touched pools.
 * @returns Net value in loan units.
 */
export function netValue(state: PortfolioState, loanAsset: string, subAccountIds: readonly string[], poolAddresses: readonly string[]): number {
  let value = state.idle[loanAsset] ?? 0
  const collateralAssets = new Set<string>()
  for (const id of subAccountIds) {
    const s = state.subAccounts.find((x) => x.id === id)
    if (s === undefined) continue
    value += s.collateral * s.price - s.debt
    collateralAssets.add(s.collateralAsset)
  }
  for (const asset of collateralAssets) if (asset !== loanAsset) value += (state.idle[asset] ?? 0) * touchedAssetPrice(state, asset, loanAsset, subAccountIds)
  for (const address of poolAddresses) {
    const pool = state.pools.find((p) => p.address === address)
    if (pool !== undefined) value += pool.balance * touchedAssetPrice(state, pool.asset, loanAsset, subAccountIds)
  }
  return value
}

/**
 * Issue 13, the module's in-band trigger (RebalanceLib `_trigger` with `Policy.rescueBelowTarget`): whether a
 * sub-account at `health` sits inside its band below the target with the owner's flag on, where the module takes a
 * rescue although the band is not left. Health units (floats, as the solver and backtester hold them; the keeper's WAD
 * reads use `keeper/rescueDue.ts`). Callers add their own conditions (autopilot mode, the engaged stop, the band rule's
 * shadow).
 *
 * @param policy - Its band and flag.
 * @param health - Its health now.
 * @returns True when `minHealth <= health < targetHealth` and the flag is on.
 */
export function inBandTrigger(policy: Pick<Policy, "rescueBelowTarget" | "minHealth" | "targetHealth">, health: number): boolean {
  return policy.rescueBelowTarget === true && health >= policy.minHealth && health < policy.targetHealth
}

/**
 * The module's usage record of one landed plan (RebalanceLib `_recordUsage`): each listed sub-account's epoch after it,
 * charged its share of the plan's gas pro rata to the value it moved (rounded up; the whole gas when nothing moved), its
 * loss and, when it was due, a rebalance. A due sub-account starts its cooldown unless it ended below its band (a
 * cap-bound step, review rr13v V1), or with `rescueBelowTarget` and no stop engaged was rescued from below its band to
 * below its target (still due to an in-band rescue; stop 64), or was rescued from inside its band below the target (`rescueBelowTarget`, no stop
 * engaged; issue 13). Shared by the backtester and the keeper's band rule on paper.
 *
 * @param epochs - Epoch bookkeeping by sub-account id; the listed ones are replaced.
 * @param policies - Policies by sub-account id.
 * @param usage - The plan's sub-account ids, execution time (unix s), value moved (loan units), gas, loss (ppb of
 *   equity) and whether each was due, as `checkPlanAgainstPolicy` reports them; the states before and after it.
 */
export function recordPlanUsage(
  epochs: Record<string, EpochState>,
  policies: Readonly<Record<string, Policy>>,
  usage: { ids: readonly string[]; now: number; moved: Record<string, number>; gas: number; lossPpb: Record<string, number>; due: Record<string, boolean>; pre: readonly SubAccountState[]; post: readonly SubAccountState[] },
): void {
  const { ids, now, moved, gas, lossPpb, due, pre, post } = usage
  const total = ids.reduce((sum, id) => sum + (moved[id] ?? 0), 0)
  for (const id of ids) {
    const gasShare = total > 0 ? Math.ceil((gas * (moved[id] ?? 0)) / total) : gas
    const p = policies[id] as Policy
    const s = post.find((x) => x.id === id)
    const b = pre.find((x) => x.id === id)
    const hb = b !== undefined && b.debt > 0 ? venueHealthOf(b) : Number.POSITIVE_INFINITY
    const engaged = b !== undefined && stopEngaged({ state: b, policy: p })
    // Still due after it (module `_recordUsage`, stop 64): below the band, or with `rescueBelowTarget` and no stop
    // engaged a rescue from below the band that ended below the target (an in-band rescue may follow at once; a boost
    // landing there still starts the cooldown).
    const after = s !== undefined && s.debt > 0 ? venueHealthOf(s) : Number.POSITIVE_INFINITY
    const stillDue = after < p.minHealth || (p.rescueBelowTarget === true && !engaged && hb < p.minHealth && after < p.targetHealth)
    const inBand = b !== undefined && inBandTrigger(p, hb) && !engaged
    epochs[id] = recordRebalance(epochs[id] as EpochState, p.epochLength, now, moved[id] ?? 0, gasShare, Math.ceil(lossPpb[id] ?? 0), due[id] ?? true, stillDue || inBand)
  }
}

/**
 * Issue 13, stop 64 (review rv64b B1): whether a landed plan left a sub-account owed the rest of its rescue: with
 * `rescueBelowTarget`, its health (venue health, unitless) was under the target before the plan and is still under it
 * after, but higher: a rescue that landed short of the target it was aimed at (a gap at inclusion), which the module's
 * in-band zone accepts (SECURITY.md row 153). Until it reaches the target the autopilot's in-band rescue of it is not
 * gated by the band rule's health ({@link owedRescueFloor}); without this the position rested under its target above
 * the band rule's health and the next gap liquidated it where the refused plan, re-sized, had landed at the target.
 *
 * @param policy - `rescueBelowTarget` and `targetHealth`.
 * @param before - Health before the plan.
 * @param after - Health after it.
 */
export function rescueLandedShort(policy: Pick<Policy, "rescueBelowTarget" | "targetHealth">, before: number, after: number): boolean {
  return policy.rescueBelowTarget === true && before < policy.targetHealth && after < policy.targetHealth && after > before
}

/**
 * The boost floor (`SubAccountInput.boostFloorHealth`, the band rule's health that gates the in-band rescue) of a
 * sub-account owed the rest of its rescue ({@link rescueLandedShort}): at least its target, so the solver's in-band
 * rescue is due (its health is under it) and any later boost lands at or above the target.
 *
 * @param floor - The band rule's health, when known.
 * @param targetHealth - The policy's target.
 */
export function owedRescueFloor(floor: number | undefined, targetHealth: number): number {
  return Math.max(floor ?? 0, targetHealth)
}
