import { healthOf, leverageOf, toBaseUnits } from "./state.js"
import type { Plan, PlanAction, Policy, SolverResult, SubAccountOutcome, SubAccountState } from "./types.js"
import { type Account, type Checkpoint, WorkingPortfolio } from "./workingPortfolio.js"
import { repaysAtSaleMinimum, sizeSwapDeleverage, usableSlippageBps } from "./swapDeleverage.js"
import { liquidationLoss } from "./liquidation.js"
import { MIN_BAND_GAP } from "@levpilot/sdk/constants"


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

const minBig = (a: bigint, b: bigint): bigint => (a < b ? a : b)

const worth = (amount: number, decimals: number): boolean => amount > 0 && amount * 10 ** decimals >= 1

/**
 * Whether a collateral move of `amount` (collateral units) of target `s` is worth emitting: at least one base unit of
 * its own token AND its value (`amount x price`) at least one base unit of the loan token. Review rr11c R2: the float
 * residue of a cap or of `needs().collateral()` is a few hundred wei of an 18-decimal collateral, worth ~1e-12 of the
 * loan token: gas and two of the module's MAX_ACTIONS slots for nothing.
 */
const worthCollateral = (amount: number, s: SubAccountState, decimals: number = s.collateralDecimals): boolean => worth(amount, decimals) && worth(amount * s.price, s.loanDecimals)

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
  const side = a.low
    ? `below band (health ${fmt(a.h0)} < ${fmt(p.minHealth)})`
    : a.inBand
      ? `below target in band (health ${fmt(a.h0)} < ${fmt(p.targetHealth)}, rescueBelowTarget)`
      : `above band (health ${fmt(a.h0)} > ${fmt(p.maxHealth)})`
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
  let x = Math.min(w.spendable(w.loanAsset), need.loan(), w.capLeft(i), w.repayLeft(i))
  if (worth(x, s.loanDecimals)) {
    // All of it from the idle balance: its idle part is the whole repayment (PlanAction.idle).
    const base = w.repayBase(i, x)
    w.push("Repay", i, x, undefined, { amountBase: base, idleBase: base })
    sources.push("idle")
  }
  if (s.collateralAsset !== w.loanAsset) {
    x = Math.min(w.spendable(s.collateralAsset), need.collateral(), w.capLeft(i) / s.price, w.supplyLeft(i))
    if (worthCollateral(x, s)) {
      const base = toBaseUnits(x, s.collateralDecimals)
      w.push("SupplyCollateral", i, x, undefined, { amountBase: base, idleBase: base })
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
    const bound = w.poolWithdrawBound(pool)
    const x = Math.min(bound.amount, need.loan(), w.capLeft(i), budget, w.repayLeft(i))
    if (worth(x, pool.decimals)) {
      // In exact integers: never above the pool's bound nor the repayment's room as the rule book counts it
      // (`repayRoomBase`), and the repayment spends exactly what the withdrawal brings.
      const base = w.repayBase(i, x, bound.base)
      w.push("WithdrawFromPool", i, x, pool, { amountBase: base })
      w.push("Repay", i, x, undefined, { amountBase: base, idleBase: 0n })
      sources.push(`pool ${short(pool.address)}`)
    }
  }
  for (const pool of allowed) {
    if (pool.asset !== s.collateralAsset || pool.asset === w.loanAsset) continue
    const slip = w.slipOf(pool)
    const budget = w.slipRoom(slip, true, [i], pool.address) / s.price
    const bound = w.poolWithdrawBound(pool)
    const x = Math.min(bound.amount, need.collateral(), w.capLeft(i) / s.price, budget, w.supplyLeft(i))
    if (worthCollateral(x, s, pool.decimals)) {
      const base = minBig(toBaseUnits(x, pool.decimals), bound.base)
      w.push("WithdrawFromPool", i, x, pool, { amountBase: base })
      w.push("SupplyCollateral", i, x, undefined, { amountBase: base, idleBase: 0n })
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
      // The borrow brings exactly what the repayment spends, within its room as the rule book counts it.
      const base = w.repayBase(i, x)
      // The plan says what the borrow pays (PlanAction.paysFor): the send clamp cuts this repayment, not another
      // sub-account's, when the donor's market lends less at send (review rr11b B2).
      const borrow = w.push("Borrow", j, x, undefined, { amountBase: base })
      borrow.paysFor = w.push("Repay", i, x, undefined, { amountBase: base, idleBase: 0n })
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
    if (worthCollateral(x, s)) {
      const base = toBaseUnits(x, s.collateralDecimals)
      const withdrawal = w.push("WithdrawCollateral", j, x, undefined, { amountBase: base })
      withdrawal.paysFor = w.push("SupplyCollateral", i, x, undefined, { amountBase: base, idleBase: 0n })
      if (w.roles[j] === "none") w.roles[j] = "source"
      w.reasons[j] = `source: moved ${fmt(x)} ${sj.collateralAsset} collateral to ${short(s.id)} (health ${fmt(b.h0)} -> ${fmt(w.health(j))})`
      sources.push(`collateral of ${short(sj.id)}`)
    }
  }
}

/**
 * Deleverage funding by selling collateral inside the venue's repay callback (issue 12), for what the plan's own funds
 * leave to repay: the target's plain repayments so far (idle, pools, donors) are folded into the callback's repayment
 * (one venue call, and no swap output or withdrawal left idle), and the sale is sized for the rest toward the goal,
 * split across the sub-account's routes when one pool is too thin, capped by `maxSlippageBps` and the limits of
 * {@link sizeSwapDeleverage}.
 *
 * @param funding - The {@link Funding} tried: `idle: false` prefunds nothing from idle funds (the sale alone); `capAim`
 *   sizes the sale on the repayment the caps count.
 * @returns A note for the plan's reason, or undefined when there is nothing to sell; `{ reason }` when no sale fits.
 */
function fundFromSwap(w: WorkingPortfolio, t: Target, sources: string[], funding: Pick<Funding, "idle" | "capAim">): string | undefined | { reason: string } {
  const withIdle = funding.idle !== false
  const { i, s, policy } = t
  const curves = w.sellCurves(i)
  const bps = policy.maxSlippageBps ?? 0
  if (curves.length === 0 || !(bps > 0)) return undefined
  if (!(needs(w, t).loan() > 0)) return undefined
  // A flash-funded callback (Aave) charges its premium on all it repays: the plan's own loan token is repaid by plain
  // Repay actions (after the block, `fund`), not carried in the callback's repayment, and the sale covers the rest.
  const premiumBps = s.flashPremiumBps ?? 0
  const folded = premiumBps > 0 ? { amount: 0, amountBase: 0n, idleBase: 0n, moves: [] } : w.foldRepays(i, t.firstMove)
  const prefunded = premiumBps > 0 || !withIdle ? 0 : Math.min(w.spendable(w.loanAsset), w.repayLeft(i), w.capLeft(i), w.debt[i] as number)
  const { costs } = w.input
  const sizing = sizeSwapDeleverage({
    collateral: w.collateral[i] as number,
    debt: w.debt[i] as number,
    price: s.price,
    lltv: s.lltv,
    collateralDecimals: s.collateralDecimals,
    prefunded: Math.max(0, prefunded),
    curves,
    goal: t.goal,
    usableBps: usableSlippageBps(policy, premiumBps),
    maxSlippageBps: bps,
    premiumBps,
    // The sale-minimum repayment (issue 13) on a venue without a flash premium only (Morpho Blue): on Aave the keeper
    // sends the fixed take (the module adds the minimum whole, the premium would come out of the own funds).
    repayAtMinimum: repaysAtSaleMinimum(w.input.saleMinimumRepayment, s),
    withdrawable: s.withdrawable === undefined && s.collateralHeld === undefined ? undefined : w.withdrawLeft(i),
    repayable: s.repayable === undefined && s.repayableDebt === undefined ? undefined : w.repayLeft(i),
    // Aave: the repayment is flash-borrowed; a reserve short of free liquidity (or with flash loans off) caps it, and
    // the fundings that take idle funds and pools first (plain repays) cover what the smaller flash leaves.
    flashable: s.flashable,
    capLeft: w.capLeft(i),
    // A cap-bound rescue's move must reach CAP_BOUND_FLOOR of the cap: its sale is sized on the repayment counted.
    capsOnRepayment: funding.capAim === true,
    extraRouteCost: costs.gasPerAction.SellCollateral * costs.gasPrice,
  })
  if ("reason" in sizing) {
    if (folded.amount > 0) w.carryFolded(folded.moves, w.push("Repay", i, folded.amount, undefined, { amountBase: folded.amountBase, idleBase: folded.idleBase }), t.firstMove)
    return sizing
  }
  // The callback's repayment carries the folded ones: the donors' borrows taken for them pay it (PlanAction.paysFor).
  // The sale-minimum repayment's `brought` (PlanAction.brought; only under `saleMinimumRepayment`): the repayment's share the sales do
  // not pay (idle and folded repays, less the premium's share on them).
  const brought = repaysAtSaleMinimum(w.input.saleMinimumRepayment, s) ? { brought: sizing.brought } : {}
  w.carryFolded(folded.moves, w.push("RepayWithCallback", i, sizing.repaid, undefined, { amountBase: w.repayBase(i, sizing.repaid), ...brought }), t.firstMove)
  w.push("WithdrawCollateral", i, sizing.sold, undefined, { amountBase: sizing.soldBase })
  for (const sale of sizing.sales) w.push("SellCollateral", i, sale.amountIn, undefined, { route: sale.route, expectedOut: sale.expectedOut, amountBase: sale.amountBase })
  w.push("EndCallback", i, 0)
  // What the sales keep back from the repayment (their drift margin) is not spent again in this plan: on chain a sale
  // that pays a little less than planned leaves a little less of it.
  // (The premium on the repayment left with it: `push` took it off the idle balance.)
  w.reserve(w.loanAsset, prefunded + sizing.sales.reduce((sum, x) => sum + x.expectedOut, 0) - sizing.repaid - sizing.premium)
  const routes = sizing.sales.map((x) => `${x.amountIn.toPrecision(4)} on the ${routeFee(x.route)} pool (${x.shortfallBps.toFixed(1)} bps)`).join(" + ")
  sources.push(sizing.sales.length > 1 ? `a swap split over ${sizing.sales.length} pools` : "a swap")
  const premium = premiumBps > 0 ? `, flash premium ${fmt(sizing.premium)} ${s.loanAsset} (${premiumBps} bps)` : ""
  return `swap deleverage selling ${fmt(sizing.sold)} ${s.collateralAsset}: ${routes}, fee + impact ${sizing.shortfallBps.toFixed(2)} bps${premium}${sizing.cappedBy ? `, capped by ${sizing.cappedBy}` : ""}`
}

/** "0.05%" for a one-pool route word (its fee tier in bits 0..23), the word itself otherwise. */
function routeFee(route: string): string {
  const word = BigInt(route)
  return word >> 24n === 0n ? `${Number(word & 0xffffffn) / 10_000}%` : route
}

/**
 * One way to fund a deleverage: which sources it may use, cheapest first (idle funds come first, except in the sale
 * alone, `idle: false`: a cap-bound rescue's sale with no idle, pool or donor repayment mixed in, review rr13w W1).
 * `capAim`: tried as a cap-bound rescue, its sale sized on the repayment the caps count (`sizeSwapDeleverage`'s
 * `capsOnRepayment`, stop 64).
 */
type Funding = { pools: boolean; donors: boolean; swap: boolean; idle?: false; capAim?: true }

/**
 * What one {@link Funding} reached for a target: health, net move and `swapped` (the value its sales take, at the
 * pre-trade price, as the module's `Run.swapped`; loan units), cost (gas + slippage + fee and impact), whether it is valid.
 */
type FundingResult = {
  funding: Funding
  reached: number
  moved: number
  swapped: number
  cost: number
  lossOk: boolean
  sources: string[]
  note: string | undefined
  swapRefusal: string | undefined
}

/**
 * Cap-bound rescue (module `RebalanceLib._checkPostConditions`, rule book `isCapBound`, issue 13): a sub-account due
 * below its band whose operation moves at least 99 % of `maxAmountPerRebalance` may land below the band, at least
 * MIN_BAND_GAP (0.01) above its health before. The solver aims such a rescue at this fraction of the cap (the module's
 * 1 % slack split both ways: the collateral's value at the inclusion price may rise or fall by about a percent before
 * `AmountCapExceeded` or the 99 % bound refuses it), and keeps it only when it reaches `CAP_BOUND_GAIN` above the
 * health before (twice the module's gap: the rest is the price move until inclusion).
 */
export const CAP_BOUND_AIM = 0.995
export const CAP_BOUND_FLOOR = 0.991
export const CAP_BOUND_GAIN = 2 * (Number(MIN_BAND_GAP) / 1e18)

/**
 * The module's second cap-bound test for a funding that sells (`RebalanceLib._capBound`, rule book `capBoundHonest`,
 * review rr13w W1), at the solver's floor: no sale; or the sale alone (twice its value, `swapped`, at least
 * `CAP_BOUND_FLOOR` of the cap); or the buffers alone (the health it reaches needs a plain move, collateral at the
 * pre-plan state's price and lltv, of at least that). A pool repayment padded with a small sale to the cap is neither.
 */
function capBoundHonest(r: FundingResult, s: SubAccountState, cap: number): boolean {
  const floor = CAP_BOUND_FLOOR * cap
  if (r.swapped === 0 || 2 * r.swapped >= floor) return true
  const plain = Math.abs(r.reached * s.debt - s.collateral * s.price * s.lltv) / s.lltv
  return plain >= floor
}

function fund(w: WorkingPortfolio, t: Target, funding: Funding): FundingResult {
  const sources: string[] = []
  // Plain repayments from here on are folded into one Repay after the target's borrows: no donor's borrow may count them.
  w.pendingRepaysFrom = t.firstMove
  if (funding.idle !== false) fundFromIdle(w, t, sources)
  if (funding.pools) fundFromPools(w, t, sources)
  if (funding.donors) fundFromDonors(w, t, sources)
  let note: string | undefined
  let swapRefusal: string | undefined
  if (funding.swap) {
    const r = fundFromSwap(w, t, sources, funding)
    if (typeof r === "object") swapRefusal = r.reason
    else note = r
  }
  // One repayment of what idle funds, pools and donors brought (one venue call, after every withdrawal and borrow);
  // a swap's callback block has already taken them into its own.
  const folded = w.foldRepays(t.i, t.firstMove)
  if (folded.amount > 0) w.carryFolded(folded.moves, w.push("Repay", t.i, folded.amount, undefined, { amountBase: folded.amountBase, idleBase: folded.idleBase }), t.firstMove)
  w.pendingRepaysFrom = undefined
  let swapped = 0
  for (let k = t.firstMove; k < w.moves.length; k++) {
    const move = w.moves[k] as (typeof w.moves)[number]
    if (move.kind === "SellCollateral" && move.sub === t.i) swapped += move.amount * t.s.price
  }
  return { funding, reached: w.health(t.i), moved: w.netMoved(t.i), swapped, cost: movesCost(w, t), lossOk: w.lossBudget([], undefined) >= 0, sources, note, swapRefusal }
}

/**
 * The end of a below-band target's reason when the loss room its more urgent peers used leaves it for the next operation
 * ({@link deleverage}); the keeper counts such a target as left for the next operation, not as infeasible.
 */
export const LOSS_ROOM_LEFT = "left for the next operation (it fits one alone)"

/**
 * The fundings {@link deleverage} tries for target `t` from its snapshot, and the one it keeps: `best` reaches the
 * landing zone within the loss limits (the goal first, then the highest health, then the lowest cost), else a cap-bound
 * rescue (`capBound`; `a.capTotal` is then left at the cap-bound aim, `saved` is the cap it had). `lossRefused`: a
 * funding that reaches the landing zone (or is a valid cap-bound rescue) but exceeds a loss limit of the plan. The
 * portfolio is left at the snapshot, the sub-account marked target.
 */
function chooseFunding(w: WorkingPortfolio, a: Account, t: Target) {
  const { i, s, policy, snap } = t
  const swaps = w.sellCurves(i).length > 0 && (policy.maxSlippageBps ?? 0) > 0
  const fundings: Funding[] = [{ pools: true, donors: true, swap: false }]
  if (swaps)
    fundings.push({ pools: true, donors: true, swap: true }, { pools: false, donors: true, swap: true }, { pools: true, donors: false, swap: true }, { pools: false, donors: false, swap: true })
  // Every funding tried from the snapshot with the sub-account marked target (within its current `capTotal`); the
  // portfolio is left at the snapshot, the sub-account still marked target.
  const tryFundings = (capAim = false): FundingResult[] => {
    const tried: FundingResult[] = []
    for (const funding of fundings) {
      w.restore(snap)
      w.roles[i] = "target"
      tried.push(fund(w, t, capAim ? { ...funding, capAim: true } : funding))
    }
    w.restore(snap)
    w.roles[i] = "target"
    return tried
  }
  const results = tryFundings()
  const goal = Math.min(t.goal, a.hi) - 1e-6
  const reaches = (r: FundingResult) => r.reached >= a.lo
  let lossRefused = results.some((r) => !r.lossOk && reaches(r))
  const valid = results.filter((r) => r.lossOk && reaches(r))
  const rank = (u: FundingResult, v: FundingResult) =>
    Number(v.reached >= goal) - Number(u.reached >= goal) || (u.reached >= goal || Math.abs(v.reached - u.reached) < 1e-9 ? 0 : v.reached - u.reached) || u.cost - v.cost
  let best = valid.sort(rank)[0]
  // No funding reaches the landing zone within the caps: the module still takes one operation at the per-rebalance cap
  // that gains at least MIN_BAND_GAP (cap-bound rescue), and the next block another, instead of waiting to be liquidated.
  let capBound = false
  const saved = a.capTotal
  // Cap-bound: below the band, or (stop 66) inside it below the target (module `_checkPostConditions`: a due in-band
  // rescue whose counted move is 99 % of the cap may land under its zone, MIN_BAND_GAP up; after a fall that left a large
  // position just above minHealth no operation reached the zone's half band of gain and none was sent).
  if (best === undefined && (a.low || a.inBand)) {
    const cap = policy.maxAmountPerRebalance
    if (saved >= CAP_BOUND_AIM * cap) {
      a.capTotal = CAP_BOUND_AIM * cap
      // The sale alone is a candidate too: a cap-bound step that sells must be the buffers' rescue or the sale's alone
      // (module `_capBound`, review rr13w W1), and every other funding with a sale takes idle funds first.
      if (swaps) fundings.push({ pools: false, donors: false, swap: true, idle: false })
      const bound = tryFundings(true)
      a.capTotal = saved
      const boundOk = (r: FundingResult) => r.moved >= CAP_BOUND_FLOOR * cap && r.reached >= a.h0 + CAP_BOUND_GAIN && capBoundHonest(r, s, cap)
      lossRefused ||= bound.some((r) => !r.lossOk && boundOk(r))
      best = bound.filter((r) => r.lossOk && boundOk(r)).sort((u, v) => v.reached - u.reached || u.cost - v.cost)[0]
      if (best !== undefined) {
        capBound = true
        a.capBound = true
        a.capTotal = CAP_BOUND_AIM * cap
      }
    }
  }
  return { results, goal, swaps, best, capBound, lossRefused, saved }
}

/**
 * Whether below-band sub-account `i` has a funding {@link deleverage} keeps in an operation of its own: the same input
 * and exclusions, nothing else in the plan (its own loss limits only). `w` is not changed.
 */
function fitsAlone(w: WorkingPortfolio, i: number): boolean {
  const alone = new WorkingPortfolio(w.input, w.loanAsset, w.exclusions, w.assessed)
  const a = alone.account(i)
  const t = beginTarget(alone, a)
  return t !== undefined && chooseFunding(alone, a, t).best !== undefined
}

/**
 * Step 2, per sub-account below its band (lowest health first): fund a deleverage towards its goal from idle balances,
 * pools and donors, and, where its policy allows swaps and the keeper quoted its pools, sell collateral for what they
 * leave (`fundFromSwap`). The fundings tried: buffers alone, buffers then a swap, and a swap after idle funds with or
 * without pools and donors; the one kept reaches the goal (else the highest health) at the lowest total cost: gas,
 * pool slippage, and the swap's fee and impact. Kept only if it stays within the loss limits, reaches the allowed
 * interval, and (autopilot) its avoided liquidation penalty pays for its cost when the position is still within
 * tolerance. A rescue that cannot reach the landing zone within the caps is sent cap-bound when it can be (issue 13: one
 * operation at `CAP_BOUND_AIM` of maxAmountPerRebalance gaining at least `CAP_BOUND_GAIN`, the module landing it below
 * the band; the next decision sends the next; one that sells must be the buffers' rescue or the sale's alone,
 * {@link capBoundHonest}, so the sale alone with no idle funds is tried too); otherwise it is no plan (`HealthOutOfBand`, `HealthOutsideLandingZone`)
 * and the reason says how far the capped funds reach. A target refused only because its more urgent peers of this plan
 * used the plan-wide loss room (a funding reaches its landing zone but exceeds a loss limit, and it fits an operation
 * of its own: {@link fitsAlone}) is left for the next operation ({@link LOSS_ROOM_LEFT}), not reported infeasible.
 */
export function deleverage(w: WorkingPortfolio, a: Account): void {
  const t = beginTarget(w, a)
  if (t === undefined) return
  const { i, s, policy, snap } = t
  // A rescue from below the band, or (issue 13, rescueBelowTarget) from inside it below the target.
  const below = a.low ? "below band" : "below target in band"
  const edge = a.low ? policy.minHealth : policy.targetHealth
  const { results, goal, swaps, best, capBound, lossRefused, saved } = chooseFunding(w, a, t)
  if (best === undefined) {
    const furthest = results.filter((r) => r.lossOk).sort((u, v) => v.reached - u.reached)[0]
    w.restore(snap)
    // Refused only by the plan-wide loss room its more urgent peers of this plan used (a funding reaches the landing
    // zone but the plan's loss would exceed a limit) while it fits an operation of its own: left for the next operation,
    // as a target over the module's structural limits (issue 11 item 10), not reported infeasible. One that does not
    // fit the loss limits even alone keeps the reasons below ("no valid plan").
    if (!t.planWasEmpty && lossRefused && fitsAlone(w, i)) {
      w.reasons[i] =
        `${below} (health ${fmt(a.h0)} < ${edge}) but the plan's loss room (maxLossBps ${policy.maxLossBps} of what it moves, ` +
        `maxEpochLossBps ${policy.maxEpochLossBps ?? 10_000} of each listed sub-account's equity) is used by the more urgent rescues of this operation; ` +
        `${LOSS_ROOM_LEFT}`
      return
    }
    const swapNote = results.map((r) => r.note ?? r.swapRefusal).find((x) => x !== undefined)
    if (furthest === undefined) {
      w.reasons[i] = `${below} but touching it would exceed a loss limit (maxLossBps ${policy.maxLossBps}, maxEpochLossBps ${policy.maxEpochLossBps ?? 10_000}); no valid plan`
      return
    }
    w.reasons[i] =
      `${below} (health ${fmt(a.h0)} < ${edge}) but funds and caps reach only ${fmt(furthest.reached)} < ${fmt(a.lo)}` +
      (swapNote ? ` (${swapNote})` : swaps ? "" : "; no swap lane (maxSlippageBps 0 or no quoted pool)") +
      `; no valid plan: the module refuses any plan that leaves it below its landing zone (HealthOutOfBand / HealthOutsideLandingZone), so it cannot be sent partially or split over operations`
    return
  }
  const chosen = fund(w, t, best.funding)
  a.capTotal = saved
  const reached = w.health(i)
  const cost = chosen.cost
  const pBefore = w.probability(i, a.h0)
  const pAfter = w.probability(i, reached)
  const benefit = (pBefore - pAfter) * liquidationLoss(s)
  if (w.mode === "autopilot" && pBefore <= policy.tolerance && a.h0 >= a.tailFloor && benefit < cost) {
    w.restore(snap)
    w.reasons[i] = `${below} but liquidation risk ${pct(pBefore)} is within tolerance and the benefit ${fmt(benefit)} < cost ${fmt(cost)}; skipped`
    return
  }
  const buffers = results[0] as FundingResult
  const compared =
    chosen.note === undefined
      ? ""
      : buffers.lossOk && buffers.reached >= a.lo
        ? buffers.reached >= goal
          ? `; cheaper than buffers alone (cost ${fmt(cost)} < ${fmt(buffers.cost)})`
          : `; buffers alone reach only ${fmt(buffers.reached)}`
        : `; buffers could not (they reach ${fmt(buffers.reached)})`
  w.reasons[i] =
    `${below}: deleverage ${fmt(a.h0)} -> ${fmt(reached)} (risk target ${fmt(a.riskHealth)}) from ${chosen.sources.join(", ")}` +
    (capBound ? `; cap-bound rescue (${fmt(chosen.moved)} of maxAmountPerRebalance ${fmt(policy.maxAmountPerRebalance)}; below the landing zone ${fmt(a.lo)}, the rest next block)` : "") +
    (chosen.note ? `; ${chosen.note}` : "") +
    `${compared}; cost ${fmt(cost)}; P(liq) ${pct(pBefore)} -> ${pct(pAfter)}`
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
    // Aave's LTV room (availableBorrowsBase) binds: no borrow reaches a health below LT / LTV, so a boost past it is
    // refused by Aave ("36"); the boost is skipped with this reason rather than re-planned and refused every block.
    const market = w.ltvBinds(i) ? " and the venue's LTV room (Aave availableBorrowsBase)" : " and the market's free liquidity"
    w.reasons[i] = `above band (health ${fmt(a.h0)} > ${policy.maxHealth}) but caps${w.borrowLeft(i) < want ? market : ""} allow only health ${fmt(reachedHealth)}; no valid plan`
    return
  }
  if (a.floorBlocked !== undefined) {
    w.restore(snap)
    w.reasons[i] = `above band (health ${fmt(a.h0)} > ${policy.maxHealth}) but ${a.floorBlocked}`
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
  const fits = (x: number): boolean => w.withBorrow(i, x, () => w.slipRoom(w.slipOf(sink), false, [i], sink.address)) >= x
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
      triggered: a.low || a.high || a.inBand,
      role: w.roles[i] as "target" | "source" | "none",
      healthBefore: a.h0,
      healthAfter: healthOf(after),
      leverageBefore: leverageOf(s),
      leverageAfter: leverageOf(after),
      liquidationProbabilityBefore: w.probability(i, a.h0),
      liquidationProbabilityAfter: w.probability(i, healthOf(after)),
      riskHealth: a.riskHealth,
      goalHealth: a.low || a.high || a.inBand ? a.desired : Number.NaN,
      allowedHealth: { min: a.lo, max: a.hi },
      ...(a.capBound === true && w.roles[i] === "target" ? { capBound: true as const } : {}),
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
    amountBase: m.amountBase ?? toBaseUnits(m.amount, m.decimals),
    ...(m.route !== undefined ? { route: m.route, expectedOut: m.expectedOut } : {}),
    ...(m.paysFor !== undefined && w.moves.includes(m.paysFor) ? { paysFor: w.moves.indexOf(m.paysFor) } : {}),
    ...(m.idleBase !== undefined ? { idle: m.idleBase } : {}),
    ...(m.brought !== undefined ? { brought: m.brought } : {}),
  }))
  const gas = costs.baseGas + w.gasOf(0)
  const plan: Plan = { loanAsset: w.loanAsset, subAccounts: order.map((i) => w.sub(i).state.id), actions, gas }
  return { plan, outcomes, cost: gas * costs.gasPrice + w.slippageLoss }
}
