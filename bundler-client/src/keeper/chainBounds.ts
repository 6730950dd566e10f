import type { Address, Hex } from "viem"
import { BPS, MIN_MATERIAL_CHANGE_BPS } from "@levpilot/sdk/constants"
import { type CheckRebalanceRulesReturnType, type RuleViolation, collateralValue, minAmountOut } from "@levpilot/sdk/rules"
import type { ActionKind, Plan as ChainPlan } from "@levpilot/sdk/types"
import { type AaveLtvGain, aaveLtvRoomChange } from "./aaveLimits.js"

/**
 * The on-chain bounds a plan's amounts come from, read at the plan's block, in base units (exact integers). Keys are
 * lower-case addresses / sub-account ids.
 */
export type ChainBounds = {
  /** The Safe's balance of each token. */
  balances: Record<string, bigint>
  /** ERC-4626 `maxWithdraw(safe)` of each pool, in the pool's asset. */
  maxWithdraw: Record<string, bigint>
  /** The asset of each pool. */
  poolAsset: Record<string, string>
  /**
   * The Safe's shares of each pool (`balanceOf(safe)`) and what they are worth (`convertToAssets(shares)`, before any
   * exit fee), base units. A withdrawal from a pool the plan already touched is held {@link poolShareMargin} below what is
   * left of `maxWithdraw` (review rr11e E2: each `withdraw` rounds its shares up). Undefined for a pool: no margin
   * (`maxWithdraw` counted as additive, exact only for one withdrawal per pool).
   */
  poolShares?: Record<string, { shares: bigint; assets: bigint }> | undefined
  /** Debt and collateral of each sub-account, its tokens, and what its market can still lend (unknown: no limit). */
  subAccounts: Record<
    string,
    {
      debt: bigint
      collateral: bigint
      loanToken: string
      collateralToken: string
      borrowable?: bigint | undefined
      /** The venue's oracle price (1e36 scale) and the policy's `maxSlippageBps`: a swap's on-chain minimum output. */
      price?: bigint | undefined
      maxSlippageBps?: number | undefined
      /** Whether the module counts the sub-account as due (health below its band, or above it with boosts allowed). */
      due?: boolean | undefined
      /**
       * Aave v3 (`readAaveLimits`): the most a repayment clears, the adapter's `maxRepayable` (the debt reserve's own
       * variable debt of the Safe, below `debt` when the account owes other reserves; 0 when the reserve is paused);
       * undefined: `debt` alone bounds a repayment. A borrow of the sub-account raises it by what it borrows.
       */
      repayable?: bigint | undefined
      /** Aave v3: the collateral reserve's supply-cap room (a collateral supply above it reverts); undefined: no cap. */
      suppliable?: bigint | undefined
      /** Aave v3: the collateral reserve's available liquidity (a collateral withdrawal above it reverts); undefined: no limit. */
      withdrawable?: bigint | undefined
      /**
       * Aave v3: the Safe's aToken balance of the collateral reserve, 0 when it is switched off as collateral
       * (`readAaveLimits`' `collateralHeld`). `collateral` is the account's threshold-weighted collateral across all its
       * reserves: with several, a withdrawal of this reserve (and the sale it funds) is held to this; undefined: no limit.
       */
      collateralHeld?: bigint | undefined
      /**
       * Aave v3 (`AaveReserveLimits.flashable`): what a callback block's flash loan through the adapter's router can
       * take now of the debt reserve (`loan`: a RepayWithCallback) and of the collateral reserve (`collateral`: a
       * SupplyCollateralWithCallback): the reserve's free liquidity, 0 when it is paused, inactive or has flash loans
       * disabled. Above it the router reverts `FlashLiquidityShort(asset, amount, available)`. Undefined: the venue's
       * callbacks lend nothing (Morpho Blue).
       */
      flashable?: { loan: bigint; collateral: bigint } | undefined
      /**
       * Aave v3 (`readAaveLimits`' `ltvBorrowable`): the account's LTV room BEFORE the plan, base units of the loan token;
       * undefined: no LTV bound. A borrow is held to the room at that borrow: this, plus what the plan's supplies of the
       * collateral before it add (`ltvGain`, {@link aaveLtvRoomChange}: a flash-looped boost's callback borrows after
       * its supply), less the plan's earlier borrows, plus what the plan's earlier repayments on the account cleared (the
       * solver's model, {@link LtvLedger}). Aave refuses a borrow above it ("36").
       */
      ltvBorrowable?: bigint | undefined
      /** Aave v3: what a supply of the collateral adds to `ltvBorrowable` ({@link AaveLtvGain}); undefined: nothing. */
      ltvGain?: AaveLtvGain | undefined
      /**
       * Aave v3: the Aave account whose LTV room `ltvBorrowable` is (the keeper: the adapter's address, lower case; one
       * Safe's sub-accounts on one adapter are one Aave account). Sub-accounts with the same key share the room: their
       * borrows are held together to it, and each one's supplies add to it, all valued in Aave's base currency across loan
       * tokens (`ltvGain.debtPrice`; see {@link LtvLedger}). Those of them with the same loan token owe one debt reserve:
       * their `debt` and `repayable` are one running figure (the lowest given), which their repayments clear together.
       * Undefined: the sub-account's own room and debt. (The module keeps one policy per Aave pool and Safe,
       * `VenueAccountTaken`: the keeper never reads two sub-accounts of one account today; the clamp holds such bounds
       * anyway.)
       */
      ltvAccount?: string | undefined
    }
  >
}

/**
 * One on-chain bound that cut an action of the plan given: `bound` names it (`maxWithdraw` of a pool, the market's free
 * liquidity `borrowable`, the Safe's `balance` at that point, the sub-account's `debt` or `collateral`, an Aave
* sub-account's `repayable` (maxRepayable), its collateral reserve's `suppliable` (supply-cap room), `withdrawable`
 * (available liquidity) or `collateralHeld` (the Safe's own balance of that reserve), the reserve's free liquidity a
 * callback's flash loan can take, `flashLiquidity` (Aave's `flashable`, see {@link fitFlashes}), an Aave account's LTV
 * room at the borrow, `ltvRoom` (`ltvBorrowable` plus the plan's earlier supplies and repayments, less its earlier borrows, see {@link LtvLedger})), or
 * `ruleBook`: the repair after the rule book refused the clamped plan ({@link ClampOptions}, a fee-bearing pool action
 * scaled down), `index` is the
 * action's index in the plan given, `asked` what the plan asked and `allowed` what the bound left (base units).
 */
export type BindingBound = {
  bound: "maxWithdraw" | "borrowable" | "balance" | "debt" | "collateral" | "repayable" | "suppliable" | "withdrawable" | "collateralHeld" | "flashLiquidity" | "ltvRoom" | "ruleBook"
  index: number
  kind: ActionKind
  subAccount: Hex
  pool?: Address | undefined
  asked: bigint
  allowed: bigint
}

/**
 * How the plan given pays its spends, by action index (`plan.actions`), base units: the funding split of a swap or
 * callback plan, built where its swap amounts are settled (`settleSwapPlan`: a flash repay carries the Safe's own loan
 * token, idle first, plus the sales' settled takes). Without it a spend taking a swap's output plus idle balance is
 * ambiguous: its excess over the swap's on-chain minimum may be an idle top-up (held to what the Safe holds) or the
 * plan's bet on the router's output above that minimum (the quote less the margin).
 */
export type PlanFunding = {
  /**
   * Per swap (`BuyCollateral`, `SellCollateral`): what its output was planned to pay of the spend it funds (its own
   * sub-account's next spend of the output token, else the next spend of it), in the output token. Undefined for a swap
   * the split does not cover: it counts as without a split.
   */
  swapPaid?: readonly (bigint | undefined)[] | undefined
  /**
   * Per spend (repay, supply, deposit, swap input): its idle part, what the Safe's balance held before the plan pays of
   * it, in the spend's token. Undefined for a spend the split does not cover: it takes of the idle balance what the plan
   * given needs of it beyond its sources, swap outputs and the explicit idle parts.
   */
  idle?: readonly (bigint | undefined)[] | undefined
  /**
   * Per source (`Borrow`, `WithdrawFromPool`, `WithdrawCollateral`): the index of the spend of another sub-account it was
   * taken for (a donor's borrow: its recipient's repay). That spend draws it right after its own sub-account's sources,
   * before the idle balance, and no other spend draws what it is held for; when the source is cut, that spend is cut.
   * The solver fills it (`PlanAction.paysFor`, passed on by the keeper's `planFundingOf` and `settleSwapPlan`): with the
   * array given, an undefined entry means a source taken for no other sub-account's spend, and nothing is inferred.
   * Without the array (plans of other producers: hand-built, an SDK caller's), a documented fallback infers it for a
   * donor's borrow ({@link recipientsOf}: a later spend of another sub-account asking exactly the borrow's amount, else
   * the next repayment of another sub-account after it, the solver's order); a guess, wrong when amounts coincide.
   */
  paysFor?: readonly (number | undefined)[] | undefined
}

/**
 * The rule book's verdict on a plan (`checkRebalanceRules` of @levpilot/sdk/rules on the state the bounds were read
 * from: the SDK's own check before sending); undefined when the caller cannot judge that plan (it is then left to the
 * SDK's validation, as without a judge). A refusal with `feeUndecided` (review rr11h H3): `ValueLossExceeded` with every
 * pool fee paid out, accepted with every fee kept in its vault (the previews cannot tell the two apart): refused for the
 * repair, deferred to the chain only when no repair passes ({@link clampPlanToChainBounds}).
 */
export type RuleJudge = (plan: ChainPlan) => (CheckRebalanceRulesReturnType & { feeUndecided?: true | undefined }) | undefined

/** Options of {@link clampPlanToChainBounds}. */
export type ClampOptions = {
  /**
   * The rule book on the state the bounds were read from (review rr11e E1): the clamped plan is judged again and, when
   * refused, repaired (see {@link clampPlanToChainBounds}); a plan the judge refuses is never returned (one it marks
   * `feeUndecided` only when no repair passes).
   */
  judge?: RuleJudge | undefined
}

/**
 * What the repair after the rule book's refusal changed ({@link clampPlanToChainBounds} with a judge): the refusal of the
 * plan as first clamped, the sub-accounts left out (lower case) and the pool actions scaled down (index in the plan given,
 * base units).
 */
export type ClampRepair = { refusal: RuleViolation; dropped: string[]; scaled: { index: number; from: bigint; to: bigint }[] }

/**
 * Result of {@link clampPlanToChainBounds}: the clamped plan (undefined: nothing material left, or nothing the rule book
 * accepts) and the bounds that cut it. With a judge: `repaired` when the first clamped plan was refused and a repair
 * passes; `refusal` when none does (then `plan` is undefined: nothing is sent), the rule that refused the first clamped
 * plan; `feeUndecided` when none does but the refusal was the judge's `feeUndecided` one (review rr11h H3, rr11i H3-a):
 * `plan` is then the first clamped plan, deferred to the chain (the SDK simulates it before sending), and
 * `feeUndecided` the paid-out refusal (`ValueLossExceeded`) the chain may confirm.
 */
export type ClampPlanToChainBoundsReturnType = {
  plan: ChainPlan | undefined
  binding: BindingBound[]
  refusal?: RuleViolation | undefined
  repaired?: ClampRepair | undefined
  feeUndecided?: RuleViolation | undefined
}

type Action = ChainPlan["actions"][number]
type Sub = ChainBounds["subAccounts"][string]

const min = (a: bigint, b: bigint) => (a < b ? a : b)
const abs = (a: bigint) => (a < 0n ? -a : a)
const isSwap = (kind: ActionKind) => kind === "SellCollateral" || kind === "BuyCollateral"
const isOpener = (kind: ActionKind) => kind === "RepayWithCallback" || kind === "SupplyCollateralWithCallback"
const isVenue = (kind: ActionKind) => !isSwap(kind) && kind !== "WithdrawFromPool" && kind !== "DepositToPool" && kind !== "EndCallback"
/** The action kinds whose bounds the exact walk ({@link walkBalances}) models. */
const exactKinds = new Set<string>(["WithdrawFromPool", "DepositToPool", "SupplyCollateral", "WithdrawCollateral", "Borrow", "Repay"])

/**
 * Clamps every amount of a plan to the on-chain bound it came from and keeps the plan one the module accepts.
 *
 * First {@link fitFlashes}: a callback block whose flash loan (Aave) exceeds the reserve's free liquidity is cut to it,
 * with what funds it (binding bound `flashLiquidity`); then the walks below.
 *
 * The solver works in floats (risk estimates), so an amount derived from a bound can exceed it by rounding (an
 * 18-decimal `maxWithdraw` of 17972917458421535745 wei comes back 3,071 wei higher: the vault would revert exactly when
 * the pool is the binding source), and a borrow can exceed its market's free liquidity.
 * - Plans of pool, venue and plain collateral actions ({@link walkExact}) are first walked like swap plans (below: each
 *   spend held to the sources attributed to it, what its own bound cuts given back to those sources, so a cut repay
 *   lowers its own pool withdrawal or borrow and never takes the idle balance a later spend was planned with), then
 *   walked in order with the Safe's balances: a pool withdrawal is
 *   clamped to what is left of `maxWithdraw`, a borrow to the market's free liquidity, a repay to the loan-token balance
 *   at that point and the debt, a deposit or collateral supply to the balance at that point, a collateral withdrawal to
 *   the collateral. An Aave sub-account's repay is also held to `repayable` (maxRepayable), its collateral supply to
 *   `suppliable` (the supply-cap room) and its collateral withdrawal to `withdrawable` (the reserve's liquidity) and
 *   `collateralHeld` (the Safe's own balance of that reserve, below `collateral` on a multi-collateral account), each
 *   net of the plan's earlier moves, in both walks; in a swap or callback plan what such a cut spend drew on is given
 *   back, the idle balance first, then its sources (a donor's borrow, a pool withdrawal) lowered by it.
 * - Swap and callback plans were sized exactly on the pool and the venue (`settleSwapAmounts`); their swap outputs are
 *   not known here, so the plan given is first walked to attribute every spend (repay, deposit, supply, purchase, sale)
 *   to what funds it: its own sub-account's sources first (a sub-account's borrow funds its own purchase or repay), then
 *   the sources of other sub-accounts taken for it (`funding.paysFor`, else a donor's borrow asking exactly its amount:
 *   see {@link PlanFunding}; review rr11b B2), then the Safe's idle balance (up to what the plan given needs of it beyond
 *   its sources and swap outputs; a spend of a sub-account the bounds mark not due draws it after the next step), then
 *   other sub-accounts' sources, earliest first, less what they hold for their own recipient (a
 *   donor's borrow funds the repay it was taken for, never an idle-funded repay of another sub-account). The idle balance
 *   is then held to what the Safe holds, each source to its bound, and what a lot loses is taken off the spends it funds,
 *   in order; a source's loss first off the spends of not-due sub-accounts, and what would still reach a due rescue of
 *   another sub-account is first exchanged with not-due spends' uncut draws on other sub-accounts' sources (a due rescue
 *   is never cut to feed a not-due spend; review rr11b B1). A swap whose input is lowered
 *   from `x` to `x'` lowers the action its output funds (own sub-account first, the same rule) from `s` to
 *   `s * x' / x - 2` (a swap's output is concave in its input: at least that much arrives when `s` did for `x`, less a
 *   wei for each integer floor of the quote and the pool), never below
 *   the swap's on-chain minimum output at `x'` (`minAmountOut` of @levpilot/sdk/rules, when the bounds carry the oracle
 *   price and `maxSlippageBps`: the router pays at least that or reverts, and the module's IdleInflow rule wants every
 *   unit of it used) and never above `s`.
 *
 * Afterwards, whatever the plan receives of a token beyond what it spends (a repay cut to the debt, a supply cut to the
 * balance, an action dropped) is taken off its sources, last first (pool withdrawals, then borrows, then collateral
 * withdrawals: PoolNotUsed / IdleInflow). An action whose amount reaches zero is dropped with what it funds (the module
 * refuses zero amounts); so is a swap whose on-chain minimum output rounds to 0 or whose output funds nothing left, with
 * its own sub-account's source of its input (the borrow that paid for it); so is a callback whose opener reaches zero, with its EndCallback, and every action of a
 * sub-account the clamps leave without a venue action or without a material change (SubAccountUnchanged: moved below
 * `MIN_MATERIAL_CHANGE_BPS` of its collateral value, when the bounds carry its price); such a sub-account leaves
 * `plan.subAccounts` and the actions are re-indexed. When the bounds say which sub-accounts are due and none of those is
 * left, nothing is sent (the module's NoTrigger).
 *
 *
 * What a swap's output pays of the spend it funds comes from the plan's funding split ({@link PlanFunding}, what the
 * keeper's settlement `settleSwapPlan` returns): the rest of the spend is the plan's own funds, so an idle top-up (a
 * flash repay carrying the sale plus idle loan token, a supply carrying the purchase plus idle collateral) is held to
 * what the Safe holds even when it holds none of the token, and a settled spend the swap pays in full is never trimmed
 * by a leftover balance. A spend's explicit idle part is drawn as given. Without a split a swap counts at most its
 * on-chain minimum when the Safe holds some of that token (the rest of the spend is held to the balance, and cut
 * before any other spend the balance funds), and in full
 * when it holds none: then a top-up cannot be told from the plan's bet on the router's output above its minimum, and
 * a caller with swap plans passes the split.
 *
 * With `options.judge` (the rule book on the state the bounds were read from; review rr11e E1), the clamped plan is
 * judged again: the walks hold amounts to bounds but model no rule, so a cut can leave a plan the module refuses (an
 * idle-funded repayment cut next to a pool action whose fee is kept whole: ValueLossExceeded; a rescue cut short of its
 * landing zone: HealthOutsideLandingZone). A refused plan is repaired ({@link repairToRuleBook}: a fee-bearing pool
 * action scaled down, the sub-account that no longer serves left out, clamped again and judged again); when no repair
 * passes, `plan` is undefined and `refusal` names the rule: a plan the judge refuses is never returned, except one whose
 * refusal the judge marks `feeUndecided` (only a pool fee paid out refuses it; review rr11h H3): when no repair passes, it
 * is returned as first clamped with `feeUndecided` set, for the chain's simulation to decide (review rr11i H3-a).
 *
 * @param plan - The plan, base units.
 * @param bounds - {@link ChainBounds} at the plan's block.
 * @param funding - The plan's funding split, indexed like `plan.actions` (optional; see above).
 * @param options - {@link ClampOptions}: the rule book's `judge` (optional).
 * @returns {@link ClampPlanToChainBoundsReturnType}: `plan` undefined when nothing material is left to send, or (with a
 *   judge) nothing the rule book accepts (`refusal`).
 * @example
 * const { plan, funding } = await settleSwapPlan(client, chainPlan, settlement)
 * const { plan: clamped, binding } = clampPlanToChainBounds(plan, snapshot.bounds, funding)
 * if (!clamped) logger.warn({ binding }, "nothing to send after clamping to chain bounds")
 */
export function clampPlanToChainBounds(given: ChainPlan, bounds: ChainBounds, givenFunding?: PlanFunding | undefined, options: ClampOptions = {}): ClampPlanToChainBoundsReturnType {
  const first = clampOnce(given, bounds, givenFunding, new Set(), new Map())
  const judge = options.judge
  if (judge === undefined || first.plan === undefined) return { plan: first.plan, binding: first.binding }
  const verdict = judge(first.plan)
  if (verdict === undefined || verdict.ok) return { plan: first.plan, binding: first.binding }
  // Strict first (review rr11i H3-a): a repair the paid-out book accepts is sent; only when none passes is a plan the
  // retained-fee book accepts deferred to the chain's simulation (a repair candidate marked `feeUndecided` is refused).
  const repaired = repairToRuleBook(given, bounds, givenFunding, judge, first, verdict.error)
  if (repaired.plan === undefined && verdict.feeUndecided === true) return { plan: first.plan, binding: first.binding, feeUndecided: verdict.error }
  return repaired
}

/** One clamp result with its amounts, indexed like the plan given (0: dropped). */
type Clamped = { plan: ChainPlan | undefined; binding: BindingBound[]; amounts: bigint[] }

/** Candidate repairs tried per round of {@link repairToRuleBook}, and its rounds at most: each drops or scales one part. */
const REPAIR_SCALES: readonly [bigint, bigint][] = [
  [3n, 4n],
  [1n, 2n],
  [1n, 4n],
]

/**
 * Candidate plans {@link repairToRuleBook} clamps and judges at most before it gives up (a named refusal): a judge that
 * refuses every candidate of a plan of 8 sub-accounts and 32 actions (the module's limits) costs at most this many clamps.
 */
export const REPAIR_EVALUATIONS = 128

/**
 * Repairs a clamped plan the rule book refuses (review rr11e E1: a cut idle-funded repayment next to a pool action's fee
 * kept whole breaks rule 5, `ValueLossExceeded`; a cut rescue lands short of its zone). In rounds, each trying candidates
 * in order and keeping the first the judge accepts (else going on from the first whose refusal no longer names the
 * sub-account the last one named, else from the first that still leaves a plan; review rr11f F1):
 * - the violation names a sub-account (`HealthOutsideLandingZone(id, ..)`, `PoolNotUsed(id, pool)`, an `ActionFailed`'s
 *   action): each other not-due or boost sub-account is left out (not-due first; latest first), which frees what it drew
 *   for the named one; then the named one's pool actions scaled down; then the named one left out; only then another
 *   rescue (a rescue the rule book accepts is not given up for one it refuses);
 * - a plan-wide violation (`ValueLossExceeded`, `IdleInflow`, `DepositNotFunded`): each sub-account's pool actions (the
 *   fee-bearing parts) scaled to 3/4, 1/2 and 1/4 of their clamped amounts (the clamp then lowers what they fund or
 *   what funds them), then each sub-account left out, in the order above.
 * Every candidate is clamped again from the plan given ({@link clampOnce}: a left-out sub-account's actions bound to
 * zero, a scaled action held to its cap, `ruleBook`), so amounts stay exact integers within their bounds. At most
 * {@link REPAIR_EVALUATIONS} candidates are tried.
 *
 * @returns The repaired plan (`repaired`), or no plan with the first `refusal` when no repair passes.
 */
function repairToRuleBook(given: ChainPlan, bounds: ChainBounds, funding: PlanFunding | undefined, judge: RuleJudge, first: Clamped, refusal: RuleViolation): ClampPlanToChainBoundsReturnType {
  let drop = new Set<number>()
  let caps = new Map<number, bigint>()
  let current = first
  let error = refusal
  const dropped: string[] = []
  let evaluations = 0
  const ids = given.subAccounts.map((id) => id.toLowerCase())
  const indicesOf = (id: string) => given.actions.map((a, k) => k).filter((k) => ids[(given.actions[k] as Action).subAccount] === id)
  const rank = (id: string) => {
    const due = bounds.subAccounts[id]?.due
    const rescue = due === true && given.actions.some((a) => ids[a.subAccount] === id && (a.kind === "Repay" || a.kind === "RepayWithCallback" || a.kind === "SupplyCollateral"))
    return due !== true ? 0 : rescue ? 2 : 1
  }
  for (let round = 0; round < given.subAccounts.length * (REPAIR_SCALES.length + 1) + 1; round++) {
    const plan = current.plan as ChainPlan
    const live = plan.subAccounts.map((id) => id.toLowerCase())
    const order = [...live].reverse().sort((a, b) => rank(a) - rank(b))
    const named = namedSubAccount(error, plan)
    type Candidate = { drop: Set<number>; caps: Map<number, bigint>; left?: string | undefined }
    const dropOf = (id: string): Candidate => ({ drop: new Set([...drop, ...indicesOf(id)]), caps, left: id })
    // Each sub-account's pool actions (the fee-bearing parts) scaled down: the clamp lowers what they fund or what funds them.
    const scalesOf = (id: string): Candidate[] => {
      const pools = indicesOf(id).filter((k) => ["WithdrawFromPool", "DepositToPool"].includes((given.actions[k] as Action).kind) && (current.amounts[k] as bigint) > 0n)
      if (pools.length === 0) return []
      return REPAIR_SCALES.map(([num, den]) => {
        const next = new Map(caps)
        for (const k of pools) next.set(k, ((current.amounts[k] as bigint) * num) / den)
        return { drop, caps: next }
      })
    }
    const candidates: Candidate[] = []
    if (named !== undefined) {
      // A rescue that is accepted is never left out for the named one (the one the rule book refuses goes first).
      const others = order.filter((id) => id !== named)
      candidates.push(...others.filter((id) => rank(id) < 2).map(dropOf), ...scalesOf(named), dropOf(named), ...others.filter((id) => rank(id) === 2).map(dropOf))
    } else candidates.push(...order.flatMap(scalesOf), ...order.map(dropOf))
    // Onward from the first candidate that clears the named refusal (its verdict names another sub-account, or none),
    // else from the first that leaves a plan: a scale still refused for the named one is not gone on from while leaving
    // it out clears it (review rr11f F1: scaling A every round gave up C's accepted rescue).
    let onward: { c: Candidate; r: Clamped; error: RuleViolation } | undefined
    let cleared: { c: Candidate; r: Clamped; error: RuleViolation } | undefined
    for (const c of candidates) {
      if (evaluations++ >= REPAIR_EVALUATIONS) return { plan: undefined, binding: first.binding, refusal }
      const r = clampOnce(given, bounds, funding, c.drop, c.caps)
      if (r.plan === undefined) continue
      const v = judge(r.plan)
      if (v === undefined || v.ok) {
        const scaled = [...c.caps].filter(([k, cap]) => cap < (given.actions[k] as Action).amount).map(([index]) => ({ index, from: (first.amounts[index] as bigint), to: r.amounts[index] as bigint }))
        // The first clamp's cuts (what made the repair needed) and the repair's own.
        const binding = [...first.binding, ...r.binding.filter((b) => !first.binding.some((x) => x.index === b.index && x.bound === b.bound))]
        return { plan: r.plan, binding, repaired: { refusal, dropped: c.left === undefined ? dropped : [...dropped, c.left], scaled } }
      }
      onward ??= { c, r, error: v.error }
      if (named !== undefined && cleared === undefined && namedSubAccount(v.error, r.plan) !== named) cleared = { c, r, error: v.error }
    }
    onward = cleared ?? onward
    if (onward === undefined) break
    drop = onward.c.drop
    caps = onward.c.caps
    if (onward.c.left !== undefined) dropped.push(onward.c.left)
    current = onward.r
    error = onward.error
  }
  return { plan: undefined, binding: first.binding, refusal }
}

/** The sub-account (lower case) a violation names: an argument equal to a listed id, else an `ActionFailed` action's. */
export function namedSubAccount(error: RuleViolation, plan: ChainPlan): string | undefined {
  const ids = plan.subAccounts.map((id) => id.toLowerCase())
  for (const arg of error.args) if (typeof arg === "string" && ids.includes(arg.toLowerCase())) return arg.toLowerCase()
  if (error.name === "ActionFailed") {
    const a = plan.actions[Number(error.args[0])]
    return a === undefined ? undefined : ids[a.subAccount]
  }
  return undefined
}

/**
 * {@link clampPlanToChainBounds}'s clamp, without the rule book: `drop` (indices of the plan given) bound to zero from the
 * start, each `caps` entry holding its action to at most that (binding bound `ruleBook`).
 */
function clampOnce(given: ChainPlan, bounds: ChainBounds, givenFunding: PlanFunding | undefined, drop: ReadonlySet<number>, caps: ReadonlyMap<number, bigint>): Clamped {
  const fit = fitFlashes(given, bounds, givenFunding)
  const { plan, funding } = fit
  const exact = plan.actions.every((a) => exactKinds.has(a.kind))
  const forced = new Set<number>(drop)
  // The bounds that bind are those of the first walk: later rounds bind dropped actions to zero first.
  let binding: BindingBound[] | undefined
  // Borrows held to the LTV room at the borrow (Aave), found after a walk: in a callback plan the supply that adds to the
  // room is settled after the borrow it funds, so the room is checked on the walked amounts and the walk runs again.
  const ltvCaps = new Map<number, bigint>()
  let ltvRounds = 0
  const recipients = recipientsOf(plan, bounds, funding, settledAt(plan))
  for (let round = 0; ; round++) {
    const walk = exact ? walkExact(plan, bounds, forced, funding, ltvCaps, caps) : walkFlows(plan, bounds, forced, funding, ltvCaps, false, caps)
    binding ??= [...fit.binding, ...walk.binding]
    // The excess the plan GIVEN meant is kept; what the flash fit freed (a donor's borrow carried by a cut flash) is not.
    // A source taken for a spend the walk cut is trimmed by that cut first (review rr11c R1).
    trimUnused(plan, bounds, walk.amounts, given.actions.map((a) => a.amount), recipients)
    // The trim lowers sources after the balance walk: walk the trimmed amounts again in plan order, so no spend is left
    // above the Safe's balance at it (review rr11c R1), and trim what that walk frees, until nothing moves.
    if (exact) settleExact(plan, bounds, forced, walk.amounts, given.actions.map((a) => a.amount), recipients)
    const more = unusable(plan, bounds, walk.amounts).filter((k) => !forced.has(k))
    const last = round > plan.actions.length + LTV_ROUNDS
    if (more.length === 0 && !last) {
      const over = ltvOver(plan, bounds, walk.amounts)
      if (over.length > 0) {
        ltvRounds += 1
        for (const o of over) {
          // A supply this borrow funds (flash-looped) shrinks with it: the cap that holds at the proportional supply,
          // a millionth and 10 wei below; after LTV_ROUNDS the borrow (and what it funds) is dropped.
          const cap = ltvRounds > LTV_ROUNDS ? 0n : ltvCapOf(o)
          if (cap === 0n) forced.add(o.index)
          else ltvCaps.set(o.index, ltvCaps.has(o.index) ? min(cap, ltvCaps.get(o.index) as bigint) : cap)
          if (!binding.some((b) => b.bound === "ltvRoom" && b.index === o.index)) binding.push(bindingOf(plan, o.index, "ltvRoom", o.room))
        }
        continue
      }
    }
    if (more.length === 0 || last) return { plan: triggered(assemble(plan, walk.amounts), plan, bounds), binding, amounts: walk.amounts }
    for (const k of more) forced.add(k)
  }
}

/** Walks the clamp runs again for a borrow above the LTV room at it before it drops that borrow. */
const LTV_ROUNDS = 6

/** A borrow above the LTV room at it ({@link ltvOver}): `room` at the walked amounts, `credit` what the earlier supplies added to it. */
type LtvExcess = { index: number; amount: bigint; room: bigint; credit: bigint; before: bigint }

/**
 * Each borrow of an Aave sub-account above the account's LTV room at that borrow, on the walked `amounts` in plan
 * order (the order the venue sees them: a `SupplyCollateralWithCallback` supplies before its callback's borrow): the
 * room before the plan (`ltvBorrowable`), plus what the net collateral supplied before the borrow adds
 * ({@link aaveLtvRoomChange}; a withdrawal takes it away), less the earlier borrows, plus what the earlier repayments on
 * the account cleared (a flash repayment once its block closes): {@link LtvLedger}.
 *
 * @returns The borrows over their room.
 */
function ltvOver(plan: ChainPlan, bounds: ChainBounds, amounts: readonly bigint[]): LtvExcess[] {
  const ledger = new LtvLedger(bounds)
  const debts = debtsOf(bounds)
  const out: LtvExcess[] = []
  // A flash repayment (RepayWithCallback) is credited once its block closes (EndCallback), not before its inner actions.
  let flashRepay: { id: string; paid: bigint } | undefined
  plan.actions.forEach((a, k) => {
    if (a.kind === "EndCallback") {
      if (flashRepay) ledger.repay(flashRepay.id, flashRepay.paid)
      flashRepay = undefined
      return
    }
    const id = idOf(plan, a)
    const s = bounds.subAccounts[id]
    if (s === undefined) return
    const amount = amounts[k] as bigint
    const d = debts[debtKeyOf(id, s)] as ReserveDebt
    if (a.kind === "Repay" || a.kind === "RepayWithCallback") {
      const paid = min(amount, clearable(d.debt, d.repayable))
      d.debt -= paid
      if (d.repayable !== undefined) d.repayable -= paid
      if (a.kind === "Repay") ledger.repay(id, paid)
      else flashRepay = { id, paid }
    } else if (a.kind === "SupplyCollateral" || a.kind === "SupplyCollateralWithCallback") ledger.supply(id, amount)
    else if (a.kind === "WithdrawCollateral") ledger.supply(id, -amount)
    else if (a.kind === "Borrow") {
      d.debt += amount
      if (d.repayable !== undefined) d.repayable += amount
      const at = ledger.roomAt(id)
      if (at !== undefined && amount > at.room) out.push({ index: k, amount, room: at.room > 0n ? at.room : 0n, credit: at.credit, before: at.before })
      ledger.borrow(id, amount)
    }
  })
  return out
}

/**
 * The LTV room of each Aave account through a plan, in plan order: the clamp's one room model, used by the balance walk
 * ({@link walkBalances}) and the room check ({@link ltvOver}). It is the solver's (`ltvRoomOf` / `WorkingPortfolio.ltvLeft`
 * in solver/workingPortfolio.ts, review rr11 R4) in exact base units: the account's room before the plan
 * (`ltvBorrowable`), plus what the net collateral supplied so far adds ({@link ltvCredit}), less the net debt change so
 * far: the account's borrows less what its repayments cleared (`min(amount, debt, repayable)` of the debt reserve,
 * counted once for all the account's sub-accounts of that loan token ({@link debtsOf}, review rr11d D1), as Aave's
 * validateBorrow counts the account's debt at the borrow; review rr11c R3).
 *
 * The room is one figure in Aave's base currency (review rr11d D2): the net debt change is kept per loan token, in its
 * base units; at a borrow of loan token T the change of T counts as is (exact, the one-token case) and each other
 * token's is valued at Aave's prices (`ltvGain.debtPrice` / `debtDecimals` of a sub-account of the account with that loan
 * token) and converted to T through the base currency ({@link convertAtAave}), rounded against the account. Without a
 * price for either token a credit of the other token counts nothing and a debit leaves no room. Base units of the
 * borrowing sub-account's loan token.
 */
class LtvLedger {
  private readonly net: Record<string, bigint> = {}
  /** Per account ({@link ltvAccountOf}) and loan token: borrows less what repayments cleared, base units of that token. */
  private readonly debtChange: Record<string, Record<string, bigint>> = {}

  constructor(private readonly bounds: ChainBounds) {}

  /** The room at a borrow of sub-account `id` now: `room` = `before` + `credit`; undefined without an LTV bound. */
  roomAt(id: string): { room: bigint; before: bigint; credit: bigint } | undefined {
    const s = this.bounds.subAccounts[id]
    if (s?.ltvBorrowable === undefined) return undefined
    const account = ltvAccountOf(id, s)
    const token = s.loanToken.toLowerCase()
    const changes = this.debtChange[account] ?? {}
    let before = s.ltvBorrowable - (changes[token] ?? 0n)
    for (const [other, change] of Object.entries(changes)) {
      if (other === token || change === 0n) continue
      const converted = convertAtAave(-change, debtPriceOf(this.bounds, account, other), debtPriceOf(this.bounds, account, token))
      if (converted === undefined) return NO_ROOM
      before += converted
    }
    const credit = ltvCredit(this.bounds, account, this.net, token)
    if (credit === undefined) return NO_ROOM
    return { room: before + credit, before, credit }
  }

  /** A collateral supply (negative: withdrawal) of sub-account `id`, base units of its collateral. */
  supply(id: string, amount: bigint): void {
    if (this.bounds.subAccounts[id]?.ltvBorrowable !== undefined) this.net[id] = (this.net[id] ?? 0n) + amount
  }

  /** A borrow of sub-account `id`, base units of its loan token. */
  borrow(id: string, amount: bigint): void {
    this.change(id, amount)
  }

  /** A repayment of sub-account `id` clearing `cleared` of its debt reserve (base units of its loan token). */
  repay(id: string, cleared: bigint): void {
    if (cleared > 0n) this.change(id, -cleared)
  }

  private change(id: string, amount: bigint): void {
    const s = this.bounds.subAccounts[id]
    if (s?.ltvBorrowable === undefined) return
    const changes = (this.debtChange[ltvAccountOf(id, s)] ??= {})
    const token = s.loanToken.toLowerCase()
    changes[token] = (changes[token] ?? 0n) + amount
  }
}

/** A borrow's room when the ledger cannot value a change of the account in the borrow's token: none. */
const NO_ROOM = { room: 0n, before: 0n, credit: 0n } as const

/** The key of the Aave account whose LTV room sub-account `id` borrows against: `ltvAccount`, else its own id. */
function ltvAccountOf(id: string, s: { ltvAccount?: string | undefined }): string {
  return s.ltvAccount === undefined ? `sub:${id}` : `account:${s.ltvAccount.toLowerCase()}`
}

/** Aave's price of one whole loan token (base currency) and its decimals. */
type DebtPrice = { price: bigint; decimals: number }

/**
 * Aave's price of loan token `token` on account `account` ({@link ltvAccountOf}): the `ltvGain.debtPrice` and
 * `debtDecimals` of the first sub-account of the account with that loan token that carries them; undefined when none
 * does or the price is not positive.
 */
function debtPriceOf(bounds: ChainBounds, account: string, token: string): DebtPrice | undefined {
  for (const [id, s] of Object.entries(bounds.subAccounts)) {
    if (s.ltvGain === undefined || s.loanToken.toLowerCase() !== token || ltvAccountOf(id, s) !== account) continue
    return s.ltvGain.debtPrice > 0n ? { price: s.ltvGain.debtPrice, decimals: s.ltvGain.debtDecimals } : undefined
  }
  return undefined
}

/**
 * `amount` of one loan token (base units; > 0 a credit to the room, < 0 a debit) in base units of another, through
 * Aave's base currency (`value = amount x price / 10^decimals`), rounded against the account at both steps: a credit
 * down, a debit up (in magnitude). Undefined when either price is unknown and `amount` is not 0.
 */
function convertAtAave(amount: bigint, from: DebtPrice | undefined, to: DebtPrice | undefined): bigint | undefined {
  if (amount === 0n) return 0n
  if (from === undefined || to === undefined) return amount > 0n ? 0n : undefined
  const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b
  const [fromUnit, toUnit] = [10n ** BigInt(from.decimals), 10n ** BigInt(to.decimals)]
  if (amount > 0n) return (((amount * from.price) / fromUnit) * toUnit) / to.price
  return -ceilDiv(ceilDiv(-amount * from.price, fromUnit) * toUnit, to.price)
}

/**
 * What the plan's net collateral supplies so far (`net`, base units of each sub-account's collateral, by id) add to the
 * LTV room of Aave account `account` ({@link ltvAccountOf}) at a borrow of loan token `token`: the sum over its
 * sub-accounts of {@link aaveLtvRoomChange} (negative for a net withdrawal), base units of `token`: a sub-account of
 * another loan token is valued at `token`'s Aave price (review rr11d D2). Without that price such a supply adds nothing
 * and such a withdrawal leaves the room unknown: undefined.
 */
function ltvCredit(bounds: ChainBounds, account: string, net: Readonly<Record<string, bigint>>, token: string): bigint | undefined {
  let credit = 0n
  let price: DebtPrice | undefined | null = null
  for (const [id, s] of Object.entries(bounds.subAccounts)) {
    if (s.ltvBorrowable === undefined || s.ltvGain === undefined || ltvAccountOf(id, s) !== account) continue
    const moved = net[id] ?? 0n
    if (s.loanToken.toLowerCase() === token) {
      credit += aaveLtvRoomChange(s.ltvGain, moved)
      continue
    }
    if (moved === 0n) continue
    if (price === null) price = debtPriceOf(bounds, account, token)
    if (price === undefined) {
      if (moved < 0n) return undefined
      continue
    }
    credit += aaveLtvRoomChange({ ...s.ltvGain, debtPrice: price.price, debtDecimals: price.decimals }, moved)
  }
  return credit
}

/**
 * The key of the debt reserve a sub-account's repayments clear: on a shared Aave account (`ltvAccount`) the account and
 * its loan token (each of its sub-accounts of that token owes the one variable-debt balance of the reserve, and the
 * keeper's bounds give each the same `debt` and `repayable`; review rr11d D1), else the sub-account itself.
 */
function debtKeyOf(id: string, s: Sub): string {
  return s.ltvAccount === undefined ? `sub:${id}` : `${ltvAccountOf(id, s)}|${s.loanToken.toLowerCase()}`
}

/**
 * The running figures of one debt reserve through a plan ({@link debtsOf}), base units of its loan token: the debt, what
 * a repayment clears (`repayable`) and what the reserve still lends (`borrowable`, its free liquidity; undefined: no limit).
 */
type ReserveDebt = { debt: bigint; repayable: bigint | undefined; borrowable: bigint | undefined }

/**
 * The running figures of each debt reserve ({@link debtKeyOf}) before the plan: the lowest `debt`, `repayable` and
 * `borrowable` its sub-accounts give (one figure each on a consistent read; the lowest when the bounds disagree, so no
 * repayment is counted twice and no liquidity lent twice). Every repayment of the reserve clears from its debt and frees
 * liquidity, every borrow adds to the debt and takes liquidity, whichever sub-account acts.
 */
function debtsOf(bounds: ChainBounds): Record<string, ReserveDebt> {
  const out: Record<string, ReserveDebt> = {}
  for (const [id, s] of Object.entries(bounds.subAccounts)) {
    const key = debtKeyOf(id, s)
    const d = out[key]
    if (d === undefined) out[key] = { debt: s.debt, repayable: s.repayable, borrowable: s.borrowable }
    else {
      d.debt = min(d.debt, s.debt)
      if (s.repayable !== undefined) d.repayable = d.repayable === undefined ? s.repayable : min(d.repayable, s.repayable)
      if (s.borrowable !== undefined) d.borrowable = d.borrowable === undefined ? s.borrowable : min(d.borrowable, s.borrowable)
    }
  }
  return out
}

/**
 * The next cap of a borrow above its LTV room: `b' = before x b / (b - credit)`, what holds when the supply credited
 * scales with the borrow (a flash-looped boost's supply is bought with it), a millionth and 10 wei below; the room as
 * walked when nothing was credited. 0 when nothing fits.
 */
function ltvCapOf(o: LtvExcess): bigint {
  if (o.before <= 0n) return 0n
  if (o.credit <= 0n || o.credit >= o.amount) return o.room
  const raw = (o.before * o.amount) / (o.amount - o.credit)
  const cap = raw - raw / 1_000_000n - 10n
  return cap > 0n ? min(cap, o.room) : 0n
}

/**
 * {@link clampPlanToChainBounds} without the bounds that bound.
 *
 * @returns The plan with exact amounts, or undefined when nothing material is left.
 */
export function clampToChainBounds(plan: ChainPlan, bounds: ChainBounds, funding?: PlanFunding | undefined): ChainPlan | undefined {
  return clampPlanToChainBounds(plan, bounds, funding).plan
}

/** Result of {@link fitFlashes}: the plan with every flash within its reserve's liquidity, its funding split scaled alike, and the cuts. */
export type FitFlashesReturnType = { plan: ChainPlan; funding: PlanFunding | undefined; binding: BindingBound[] }

/**
 * Holds every callback block's flash loan to what its reserve can lend (Aave v3: `flashable`, the reserve's free
 * liquidity, 0 when paused, inactive or flash loans are disabled; the adapter's `AaveFlashLoanRouter` reverts
 * `FlashLiquidityShort(asset, amount, available)` above it, and the keeper would retry a plan that can never land).
 *
 * In plan order, per reserve (a token of an Aave sub-account; the first Aave sub-account naming it gives its liquidity):
 * an opener (`RepayWithCallback`: the debt reserve; `SupplyCollateralWithCallback`: the collateral reserve) above what
 * is left is cut to it, binding bound `flashLiquidity` (`asked` the opener, `allowed` the liquidity). The cut comes off
 * the opener's explicit idle part first (`funding.idle`: the Safe's own tokens stay in the Safe), then off what its block
 * brings: every action inside the block (the collateral withdrawal and sales of a swap deleverage, the borrow and purchase
 * of a flash-looped boost) and each swap's `funding.swapPaid` scale by the same ratio, rounded down. A swap's output is
 * concave in its input and its on-chain minimum linear, so the smaller sale still pays the smaller flash and its premium
 * (to the integer floors the walk allows for) and its minimum never exceeds the smaller repayment (IdleInflow). Earlier
 * borrows and collateral withdrawals of an Aave sub-account lower the liquidity left for a later flash of that reserve;
 * repayments and supplies are not counted as raising it (they may be clamped later), so the fit errs low. A flash
 * itself leaves the reserve's liquidity where it was (the router repays or supplies what it borrowed).
 *
 * @param plan - The plan, base units.
 * @param bounds - {@link ChainBounds} at the plan's block (a sub-account without `flashable` is not held).
 * @param funding - The plan's funding split (optional), indexed like `plan.actions`.
 * @returns {@link FitFlashesReturnType}: the plan given (same object) when nothing was cut.
 * @example
 * const { plan, binding } = fitFlashes(chainPlan, snapshot.bounds, funding)
 * // binding: [{ bound: "flashLiquidity", index: 0, kind: "RepayWithCallback", asked: 18_000_000000n, allowed: 5_000_000000n, ... }]
 */
export function fitFlashes(plan: ChainPlan, bounds: ChainBounds, funding?: PlanFunding | undefined): FitFlashesReturnType {
  const binding: BindingBound[] = []
  const left: Record<string, bigint> = {}
  const amounts = plan.actions.map((a) => a.amount)
  const swapPaid = funding?.swapPaid ? [...funding.swapPaid] : undefined
  const idle = funding?.idle ? [...funding.idle] : undefined
  const reserveOf = (s: Sub, token: string, role: "loan" | "collateral"): bigint | undefined => {
    if (s.flashable === undefined) return undefined
    left[token] ??= s.flashable[role]
    return left[token]
  }
  plan.actions.forEach((a, k) => {
    const s = bounds.subAccounts[idOf(plan, a)]
    if (s?.flashable === undefined) return
    const amount = amounts[k] as bigint
    if (a.kind === "Borrow" || a.kind === "WithdrawCollateral") {
      const [token, role] = a.kind === "Borrow" ? [s.loanToken, "loan" as const] : [s.collateralToken, "collateral" as const]
      const l = reserveOf(s, token, role) as bigint
      left[token] = l > amount ? l - amount : 0n
      return
    }
    if (!isOpener(a.kind)) return
    const repay = a.kind === "RepayWithCallback"
    const available = reserveOf(s, repay ? s.loanToken : s.collateralToken, repay ? "loan" : "collateral") as bigint
    if (amount <= available) return
    binding.push(bindingOf(plan, k, "flashLiquidity", available))
    const cut = amount - available
    amounts[k] = available
    // The Safe's own tokens carried by the flash go first; the rest of the cut comes off what the block brings.
    const own = min(idle?.[k] ?? 0n, amount)
    const fromOwn = min(cut, own > 0n ? own : 0n)
    if (idle !== undefined && idle[k] !== undefined) idle[k] = (idle[k] as bigint) - fromOwn
    const brought = amount - (own > 0n ? own : 0n)
    const kept = brought - (cut - fromOwn)
    if (brought === 0n || kept === brought) return
    for (let j = k + 1; j < plan.actions.length && (plan.actions[j] as Action).kind !== "EndCallback"; j++) {
      amounts[j] = ((amounts[j] as bigint) * kept) / brought
      if (swapPaid?.[j] !== undefined) swapPaid[j] = ((swapPaid[j] as bigint) * kept) / brought
      if (idle?.[j] !== undefined) idle[j] = ((idle[j] as bigint) * kept) / brought
    }
  })
  if (binding.length === 0) return { plan, funding, binding }
  return {
    plan: { ...plan, actions: plan.actions.map((a, k) => ({ ...a, amount: amounts[k] as bigint }) as Action) },
    funding: funding === undefined ? undefined : { ...funding, ...(swapPaid ? { swapPaid } : {}), ...(idle ? { idle } : {}) },
    binding,
  }
}

type Walk = { amounts: bigint[]; binding: BindingBound[] }

const idOf = (plan: ChainPlan, a: Action) => (plan.subAccounts[a.subAccount] ?? "").toLowerCase()
const poolOf = (a: Action) => ((a.pool as Address | undefined) ?? "").toLowerCase()

/**
 * What a withdrawal from `pool` is held below what is left of `maxWithdraw` for each earlier action of the plan on that
 * pool (review rr11e E2), base units of its asset: `ceil((assets + 1) / shares) + 2` (`poolShares`), one share's worth
 * rounded up plus two wei; 0 without `poolShares`.
 *
 * `maxWithdraw` is the whole balance's assets rounded DOWN, while each `withdraw(x)` burns `previewWithdraw(x)` shares,
 * rounded UP (OpenZeppelin ERC4626 `_convertToShares(.., Ceil)`; ERC4626Fees adds `ceil(x * fee / 10,000)` to the gross),
 * so n withdrawals summing to `maxWithdraw` can need up to n - 1 shares more than the Safe holds. With `r` the assets per
 * share (`r < (assets + 1) / shares`, as `assets = floor(shares * r)`) and `d >= r + 2`, withdrawals summing to at most
 * `maxWithdraw - (n - 1) * d` burn fewer than `shares + 1` shares: each share ceil adds under one share, each fee ceil under
 * one wei of gross, and a burn rounded up only raises `r` for the next one (interest too). A vault whose `maxWithdraw` is
 * held by its liquidity is bounded lower still.
 */
function poolShareMargin(bounds: ChainBounds, pool: string): bigint {
  const held = bounds.poolShares?.[pool]
  if (held === undefined || held.shares <= 0n) return 0n
  return (held.assets + held.shares) / held.shares + 2n
}
const bindingOf = (plan: ChainPlan, k: number, bound: BindingBound["bound"], allowed: bigint): BindingBound => {
  const a = plan.actions[k] as Action
  return { bound, index: k, kind: a.kind, subAccount: plan.subAccounts[a.subAccount] as Hex, pool: a.pool, asked: a.amount, allowed }
}

/**
 * The walk of a plan without swaps or callbacks (issue 11, review brk11u F1/F2): first {@link walkFlows}, which holds
 * each spend to the sources attributed to it (its own sub-account's, then the idle balance the plan given meant for it,
 * then other sub-accounts', earliest first) and gives back what a spend's own bound (debt, maxRepayable, a supply-cap
 * room) cut to those sources (so the excess is trimmed from the source that funded the cut spend, not from an earlier
 * one a later spend needs, and a not-due repay whose pool was cut cannot take the idle balance of a later due rescue);
 * then {@link walkBalances} over its amounts, in plan order with the Safe's balances (what is left of a bound the flow
 * walk does not model: a spend above the balance at that point, a borrow above the LTV room at it).
 */
function walkExact(plan: ChainPlan, bounds: ChainBounds, forced: ReadonlySet<number>, funding: PlanFunding | undefined, ltvCaps: ReadonlyMap<number, bigint>, caps: ReadonlyMap<number, bigint> = new Map()): Walk {
  const flows = walkFlows(plan, bounds, forced, funding, ltvCaps, true, caps)
  const walked = walkBalances({ ...plan, actions: plan.actions.map((a, k) => ({ ...a, amount: flows.amounts[k] as bigint }) as Action) }, bounds, forced)
  // Name the amount the plan given asked in what the second walk cut.
  const binding = [...flows.binding, ...walked.binding.map((b) => ({ ...b, asked: (plan.actions[b.index] as Action).amount }))]
  return { amounts: walked.amounts, binding }
}

/** The exact walk of a plan without swaps or callbacks, with the Safe's balances (`forced` actions bound to zero). */
function walkBalances(plan: ChainPlan, bounds: ChainBounds, forced: ReadonlySet<number>): Walk {
  const balances = { ...bounds.balances }
  const withdrawable = { ...bounds.maxWithdraw }
  const subs = Object.fromEntries(Object.entries(bounds.subAccounts).map(([id, s]) => [id, { ...s }]))
  const add = (token: string, amount: bigint) => {
    balances[token] = (balances[token] ?? 0n) + amount
  }
  const binding: BindingBound[] = []
  // Each Aave account's LTV room through the plan (the room at each borrow, as {@link ltvOver} checks it), and each debt
  // reserve's running debt and free liquidity (one for all the sub-accounts of a shared Aave account with that loan token).
  const ltv = new LtvLedger(bounds)
  const debts = debtsOf(bounds)
  const amounts = plan.actions.map((a, k) => {
    const id = idOf(plan, a)
    const s = subs[id]
    let amount = forced.has(k) ? 0n : a.amount
    const bind = (bound: BindingBound["bound"], allowed: bigint) => {
      if (allowed < amount) binding.push(bindingOf(plan, k, bound, allowed))
      amount = min(amount, allowed)
    }
    const bindOptional = (bound: BindingBound["bound"], allowed: bigint | undefined) => {
      if (allowed !== undefined) bind(bound, allowed < 0n ? 0n : allowed)
    }
    if (a.kind === "WithdrawFromPool" || a.kind === "DepositToPool") {
      const pool = poolOf(a)
      const asset = bounds.poolAsset[pool] ?? ""
      if (a.kind === "WithdrawFromPool") {
        // Never negative: the margin below can take what is left under 0.
        bindOptional("maxWithdraw", withdrawable[pool] ?? 0n)
        withdrawable[pool] = (withdrawable[pool] ?? 0n) - amount
        add(asset, amount)
      } else {
        bind("balance", balances[asset] ?? 0n)
        add(asset, -amount)
        withdrawable[pool] = (withdrawable[pool] ?? 0n) + amount
      }
      // A later withdrawal from this pool rounds its shares up once more (review rr11e E2).
      if (amount > 0n) withdrawable[pool] = (withdrawable[pool] ?? 0n) - poolShareMargin(bounds, pool)
    } else if (s) {
      const d = debts[debtKeyOf(id, s)] as ReserveDebt
      if (a.kind === "Repay") {
        bind("balance", balances[s.loanToken] ?? 0n)
        bind("debt", d.debt)
        bindOptional("repayable", d.repayable)
        d.debt -= amount
        if (d.repayable !== undefined) d.repayable -= amount
        if (d.borrowable !== undefined) d.borrowable += amount
        // Held to the debt and maxRepayable above: it clears what it pays, and gives that back to the account's room.
        ltv.repay(id, amount)
        add(s.loanToken, -amount)
      } else if (a.kind === "Borrow") {
        if (d.borrowable !== undefined) {
          bind("borrowable", d.borrowable)
          d.borrowable -= amount
        }
        // One Aave account's room, shared by its sub-accounts (`ltvAccount`): their borrows, repayments and supplies so far.
        bindOptional("ltvRoom", ltv.roomAt(id)?.room)
        ltv.borrow(id, amount)
        d.debt += amount
        if (d.repayable !== undefined) d.repayable += amount
        add(s.loanToken, amount)
      } else if (a.kind === "SupplyCollateral") {
        bind("balance", balances[s.collateralToken] ?? 0n)
        bindOptional("suppliable", s.suppliable)
        s.collateral += amount
        supplied(s, amount)
        ltv.supply(id, amount)
        add(s.collateralToken, -amount)
      } else if (a.kind === "WithdrawCollateral") {
        bind("collateral", s.collateral)
        bindOptional("withdrawable", s.withdrawable)
        bindOptional("collateralHeld", s.collateralHeld)
        s.collateral -= amount
        supplied(s, -amount)
        ltv.supply(id, -amount)
        add(s.collateralToken, amount)
      }
    }
    return amount
  })
  return { amounts, binding }
}

/**
 * An Aave collateral reserve's limits after the sub-account supplies `amount` of it (negative: withdraws): the
 * supply-cap room falls, the available liquidity and the Safe's own balance of the reserve rise by it.
 */
function supplied(s: { suppliable?: bigint | undefined; withdrawable?: bigint | undefined; collateralHeld?: bigint | undefined }, amount: bigint): void {
  if (s.suppliable !== undefined) s.suppliable -= amount
  if (s.withdrawable !== undefined) s.withdrawable += amount
  if (s.collateralHeld !== undefined) s.collateralHeld += amount
}

/** The token an action takes from the Safe's wallet and the one it brings (lower-case), when known. */
function tokensOf(plan: ChainPlan, bounds: ChainBounds, a: Action): { into?: string | undefined; out?: string | undefined } {
  const s = bounds.subAccounts[idOf(plan, a)]
  switch (a.kind) {
    case "WithdrawFromPool":
      return { out: bounds.poolAsset[poolOf(a)] }
    case "DepositToPool":
      return { into: bounds.poolAsset[poolOf(a)] }
    case "Borrow":
      return { out: s?.loanToken }
    case "Repay":
    case "RepayWithCallback":
      return { into: s?.loanToken }
    case "WithdrawCollateral":
      return { out: s?.collateralToken }
    case "SupplyCollateral":
    case "SupplyCollateralWithCallback":
      return { into: s?.collateralToken }
    case "BuyCollateral":
      return { into: s?.loanToken, out: s?.collateralToken }
    case "SellCollateral":
      return { into: s?.collateralToken, out: s?.loanToken }
    default:
      return {}
  }
}

/** Each action's place in execution order: a callback opener pays (or is paid) at its EndCallback. */
function settledAt(plan: ChainPlan): number[] {
  const at = plan.actions.map((_, k) => k)
  let opener = -1
  plan.actions.forEach((a, k) => {
    if (isOpener(a.kind)) opener = k
    else if (a.kind === "EndCallback" && opener >= 0) {
      at[opener] = k
      opener = -1
    }
  })
  return at
}

/** A swap's on-chain minimum output at `amountIn`, when the bounds carry the price and `maxSlippageBps`. */
function swapMinimum(s: Sub | undefined, sell: boolean, amountIn: bigint): bigint | undefined {
  if (s?.price === undefined || s.maxSlippageBps === undefined || amountIn === 0n) return undefined
  return minAmountOut(BigInt(s.maxSlippageBps), s.price, sell, amountIn)
}

/**
 * The spend each source of the plan was taken for, by action index (undefined: none known): `funding.paysFor` where it
 * names one (a later spend of the source's token by another sub-account); with `funding.paysFor` given (the solver's
 * plans) nothing else. Fallback for plans without it (other producers): inferred for a `Borrow` of a sub-account
 * that spends none of the borrowed token after it (a donor): the first later spend of that token by another sub-account
 * asking exactly the borrow's amount and not yet claimed by an earlier borrow, else the first later `Repay` or
 * `RepayWithCallback` of another sub-account (the solver emits a target's donor borrows right before its one folded
 * repayment or its flash repay). Review rr11b B2: the donor's borrow pays the repay it was taken for, so when the borrow
 * is cut that repay is cut, not an idle-funded rescue after it.
 */
function recipientsOf(plan: ChainPlan, bounds: ChainBounds, funding: PlanFunding | undefined, at: readonly number[]): (number | undefined)[] {
  const { actions } = plan
  const tokens = actions.map((a) => tokensOf(plan, bounds, a))
  const spendsToken = (j: number, token: string | undefined) => (actions[j] as Action).kind !== "EndCallback" && token !== undefined && tokens[j]?.into === token
  const laterOf = (k: number) => actions.map((_, j) => j).filter((j) => (at[j] as number) > (at[k] as number)).sort((x, y) => (at[x] as number) - (at[y] as number) || x - y)
  const claimed = new Set<number>()
  return actions.map((a, k) => {
    const token = tokens[k]?.out
    if (!["Borrow", "WithdrawFromPool", "WithdrawCollateral"].includes(a.kind) || token === undefined) return undefined
    const later = laterOf(k).filter((j) => spendsToken(j, token))
    const given = funding?.paysFor?.[k]
    if (given !== undefined) return later.includes(given) && (actions[given] as Action).subAccount !== a.subAccount ? given : undefined
    // The producer said what each source pays for (the solver's plans): nothing to infer.
    if (funding?.paysFor !== undefined) return undefined
    if (a.kind !== "Borrow" || later.some((j) => (actions[j] as Action).subAccount === a.subAccount)) return undefined
    const match = later.find((j) => !claimed.has(j) && (actions[j] as Action).amount === a.amount)
    if (match !== undefined) claimed.add(match)
    // The solver's shape: a target's donor borrows come right before its own (folded) repayment or flash repay.
    return match ?? later.find((j) => ["Repay", "RepayWithCallback"].includes((actions[j] as Action).kind))
  })
}

/** A lot of one token the plan holds at some point: the idle balance (`source` undefined), a source's inflow or a swap's output. */
type Lot = { source: number | undefined; sub: number | undefined; token: string; planned: bigint; left: bigint; draws: Draw[]; recipient?: number | undefined; held?: bigint | undefined }
/** What spend `spend` takes from a lot in the plan given, and how much of it a clamp took away. */
type Draw = { spend: number; amount: bigint; cut: bigint }

/**
 * The walk of a swap or callback plan (see {@link clampPlanToChainBounds}). First the plan given is walked in execution
 * order to attribute each spend to the lots it draws from: its own sub-account's sources first, then the sources taken
 * for it ({@link recipientsOf}), then the idle balance (up to what the plan given needs of it), then other sub-accounts'
 * sources (a donor's borrow), earliest first. Then the sources are clamped to their bounds and the idle balance to what
 * the Safe holds, and each lot's shortfall is taken off the spends drawing from it (a source's: not-due spends first,
 * after exchanging a due rescue's draw for a not-due spend's on another source), in order; a swap whose input falls
 * shrinks its output lot by {@link fundedBy}.
 */
function walkFlows(
  plan: ChainPlan,
  bounds: ChainBounds,
  forced: ReadonlySet<number>,
  funding: PlanFunding | undefined,
  ltvCaps: ReadonlyMap<number, bigint> = new Map(),
  holdToDebt = false,
  caps: ReadonlyMap<number, bigint> = new Map(),
): Walk {
  const { actions } = plan
  const amounts = actions.map((a) => a.amount)
  const binding: BindingBound[] = []
  const tokens = actions.map((a) => tokensOf(plan, bounds, a))
  const at = settledAt(plan)
  const order = actions.map((_, k) => k).sort((x, y) => (at[x] as number) - (at[y] as number) || x - y)
  const isSource = (k: number) => ["WithdrawFromPool", "Borrow", "WithdrawCollateral"].includes((actions[k] as Action).kind)
  const spends = (k: number) => (actions[k] as Action).kind !== "EndCallback" && tokens[k]?.into !== undefined
  /**
   * Spends a swap funds that, without the funding split, count the swap only at its on-chain minimum: the rest drawn on
   * the idle balance may be the plan's bet on the router's output above that minimum, not a top-up.
   */
  const guessed = new Set<number>()
  /**
   * What a swap's output funds in the plan given: its sub-account's next spend of that token, else the next spend of it;
   * what the funding split says it pays of that spend. Without a split: when the Safe holds some of that token and the
   * bounds give the swap's on-chain minimum output, at most that minimum (all the router guarantees), the rest of the
   * spend drawing on the idle balance; when the Safe holds none, the whole spend (its excess over the minimum may be the
   * plan given's bet on the router's output, the quote less the margin: only the split tells).
   */
  const swapOutput = (k: number): bigint => {
    const a = actions[k] as Action
    const token = tokens[k]?.out
    const later = order.filter((j) => (at[j] as number) > (at[k] as number) && spends(j) && tokens[j]?.into === token)
    const own = later.find((j) => (actions[j] as Action).subAccount === a.subAccount)
    const sink = own ?? later[0]
    if (sink === undefined) return 0n
    const spent = (actions[sink] as Action).amount
    const paid = funding?.swapPaid?.[k]
    if (paid !== undefined) return min(paid, spent)
    const minimum = swapMinimum(bounds.subAccounts[idOf(plan, a)], a.kind === "SellCollateral", a.amount)
    if (minimum === undefined || (bounds.balances[token ?? ""] ?? 0n) === 0n) return spent
    if (minimum < spent) guessed.add(sink)
    return min(spent, minimum)
  }
  /** A spend's explicit idle part ({@link PlanFunding}), at most its amount. */
  const idlePart = (k: number): bigint | undefined => {
    const part = funding?.idle?.[k]
    return part === undefined ? undefined : min(part > 0n ? part : 0n, (actions[k] as Action).amount)
  }
  // What the plan given needs of the idle balance, per token, beyond the explicit idle parts: its spends less its
  // sources, swap outputs and those parts.
  const need: Record<string, bigint> = {}
  actions.forEach((a, k) => {
    const { into, out } = tokens[k] ?? {}
    if (into !== undefined && spends(k)) need[into] = (need[into] ?? 0n) + a.amount - (idlePart(k) ?? 0n)
    if (out !== undefined && isSource(k)) need[out] = (need[out] ?? 0n) - a.amount
    if (out !== undefined && isSwap(a.kind)) need[out] = (need[out] ?? 0n) - swapOutput(k)
  })
  const idle: Record<string, Lot> = {}
  const idleOf = (token: string): Lot => (idle[token] ??= { source: undefined, sub: undefined, token, planned: 0n, left: (need[token] ?? 0n) > 0n ? (need[token] as bigint) : 0n, draws: [] })
  const lots: Lot[] = []
  const lotOf: (Lot | undefined)[] = actions.map(() => undefined)
  const draws: Draw[][] = actions.map(() => [])
  const draw = (lot: Lot, k: number, wanted: bigint, unbounded = false): bigint => {
    // What a source holds for its recipient ({@link PlanFunding.paysFor}) is not drawn by another spend before it.
    const free = lot.recipient === undefined || lot.recipient === k ? lot.left : lot.left - (lot.held ?? 0n)
    const taken = unbounded ? wanted : min(wanted, free > 0n ? free : 0n)
    if (taken === 0n) return 0n
    if (!unbounded) lot.left -= taken
    if (lot.source === undefined) lot.planned += taken
    const d = { spend: k, amount: taken, cut: 0n }
    lot.draws.push(d)
    draws[k]?.push(d)
    return taken
  }
  const recipients = recipientsOf(plan, bounds, funding, at)
  const dueOf = (k: number) => bounds.subAccounts[idOf(plan, actions[k] as Action)]?.due
  const notDueSpend = (k: number) => dueOf(k) === false
  const dueSpend = (k: number) => dueOf(k) === true
  // Attribution, on the plan given.
  for (const k of order) {
    const a = actions[k] as Action
    if (spends(k)) {
      const token = tokens[k]?.into as string
      let wanted = a.amount
      const mine = lots.filter((l) => l.token === token && l.sub === a.subAccount)
      // Other sub-accounts' sources taken for this spend (a donor's borrow for its recipient), drawn before the idle balance.
      const forMe = lots.filter((l) => l.token === token && l.sub !== a.subAccount && l.recipient === k)
      const others = lots.filter((l) => l.token === token && l.sub !== a.subAccount && l.recipient !== k)
      // An explicit idle part is drawn as given (held to the balance below); the rest comes from the plan's lots.
      const part = idlePart(k)
      if (part !== undefined) wanted -= draw(idleOf(token), k, part, true)
      for (const lot of mine) wanted -= draw(lot, k, wanted)
      for (const lot of forMe) {
        const taken = draw(lot, k, wanted)
        lot.held = (lot.held ?? 0n) - min(taken, lot.held ?? 0n)
        wanted -= taken
      }
      // A spend of a sub-account the bounds mark not due draws other sub-accounts' sources (a donor's borrow, another's
      // pool withdrawal) before the idle balance: were one of them cut, it would otherwise keep the idle balance and pass
      // the cut to a later due rescue that drew on that source instead (review rr11 R1: the recipient of a donor's borrow
      // cut at `borrowable` repaid with the idle balance meant for the due rescue, which landed below its zone).
      const notDue = bounds.subAccounts[idOf(plan, a)]?.due === false
      if (part === undefined && !notDue) wanted -= draw(idleOf(token), k, wanted)
      for (const lot of others) wanted -= draw(lot, k, wanted)
      if (part === undefined && notDue) wanted -= draw(idleOf(token), k, wanted)
      if (wanted > 0n) draw(idleOf(token), k, wanted, true)
    }
    const out = tokens[k]?.out
    if (out !== undefined && (isSource(k) || isSwap(a.kind))) {
      const planned = isSource(k) ? a.amount : swapOutput(k)
      const recipient = isSource(k) ? recipients[k] : undefined
      const lot: Lot = { source: k, sub: a.subAccount, token: out, planned, left: planned, draws: [], recipient, held: recipient === undefined ? undefined : min(planned, (actions[recipient] as Action).amount) }
      lots.push(lot)
      lotOf[k] = lot
    }
  }
  /**
   * Takes a lot's shortfall off the spends drawing from it, in order. The idle balance's first off the spends whose
   * draw on it is only a guess (`guessed`: without the funding split, a swap-funded spend's part above the swap's
   * minimum, which the router's output may pay; review rr11 R2: a later flash repay's such part took an earlier
   * idle-funded due repay's balance), last first. The exact walk (`holdToDebt`): a source's shortfall first off what
   * the plan given left undrawn of it (an inflow it meant to keep), and the idle balance's off its last draws first (in
   * plan order the Safe's balance funds the earlier spends; see {@link walkBalances}).
   */
  const short = (lot: Lot, shortfall: bigint, now?: number) => {
    let left = shortfall
    const sourceLot = lot.source !== undefined && !isSwap((actions[lot.source] as Action).kind)
    if (holdToDebt && sourceLot) {
      const undrawn = min(left, lot.left > 0n ? lot.left : 0n)
      lot.left -= undrawn
      left -= undrawn
    }
    if (sourceLot && now !== undefined && left > 0n) spareDue(lot, left, now)
    const idleLot = lot.source === undefined
    // A source's shortfall falls on the spends of sub-accounts the bounds mark not due first (rr11b B1).
    const ranked = holdToDebt && idleLot ? [...lot.draws].reverse() : idleLot ? lot.draws : [...lot.draws.filter((d) => notDueSpend(d.spend)), ...lot.draws.filter((d) => !notDueSpend(d.spend))]
    for (const d of idleLot ? [...ranked.filter((x) => guessed.has(x.spend)).reverse(), ...ranked.filter((x) => !guessed.has(x.spend))] : ranked) {
      if (left <= 0n) break
      const taken = min(left, d.amount - d.cut)
      d.cut += taken
      left -= taken
    }
  }
  /**
   * A due rescue is never cut to feed a not-due spend (review rr11b B1: crossed donor pairs, the due rescue's donor
   * borrowing first): before source `lot` (walked at `now`) is cut by `shortfall`, what of the cut would reach the draws
   * of due spends of other sub-accounts beyond the not-due draws on it is exchanged, draw for draw, with the uncut draws
   * not-due spends (not yet walked) hold on other sub-accounts' sources of the same token: the due spend draws that
   * source instead, the not-due spend this one, and the cut falls on the not-due spend.
   */
  const spareDue = (lot: Lot, shortfall: bigint, now: number) => {
    const open = (d: Draw) => (at[d.spend] as number) > now && d.amount > d.cut
    const crossed = (l: Lot, d: Draw) => l.sub !== (actions[d.spend] as Action).subAccount
    let need = shortfall - lot.draws.filter((d) => notDueSpend(d.spend)).reduce((sum, d) => sum + d.amount - d.cut, 0n)
    const others = lots.filter((l) => l !== lot && l.token === lot.token && l.source !== undefined && !isSwap((actions[l.source] as Action).kind))
    for (const d of lot.draws.filter((x) => dueSpend(x.spend) && crossed(lot, x) && open(x)))
      for (const other of others)
        for (const e of other.draws.filter((x) => notDueSpend(x.spend) && crossed(other, x) && open(x))) {
          const y = min(need, min(d.amount - d.cut, e.amount - e.cut))
          if (y <= 0n) continue
          d.amount -= y
          e.amount -= y
          const mineNow = { spend: d.spend, amount: y, cut: 0n }
          const theirs = { spend: e.spend, amount: y, cut: 0n }
          other.draws.push(mineNow)
          draws[d.spend]?.push(mineNow)
          lot.draws.push(theirs)
          draws[e.spend]?.push(theirs)
          need -= y
        }
  }
  // The idle balance: what the Safe holds.
  for (const lot of Object.values(idle)) short(lot, lot.planned - min(lot.planned, bounds.balances[lot.token] ?? 0n))
  const withdrawable = { ...bounds.maxWithdraw }
  const collateral = Object.fromEntries(Object.entries(bounds.subAccounts).map(([id, s]) => [id, s.collateral]))
  // Each debt reserve's running debt, what a repayment of it clears and what it still lends (one for all the sub-accounts
  // of a shared Aave account with that loan token); `holdToDebt` (the exact walk): a plain repay is held to the running debt, its cut
  // given back like maxRepayable's.
  const debts = debtsOf(bounds)
  const debtOf = (id: string): ReserveDebt | undefined => {
    const s = bounds.subAccounts[id]
    return s === undefined ? undefined : debts[debtKeyOf(id, s)]
  }
  // An Aave sub-account's running limits: its collateral reserve's cap room and liquidity.
  const aave = Object.fromEntries(Object.entries(bounds.subAccounts).map(([id, s]) => [id, { suppliable: s.suppliable, withdrawable: s.withdrawable, collateralHeld: s.collateralHeld }]))
  // What a spend's own bound (maxRepayable, a supply-cap room) took off it beyond its lots' cuts.
  const released = actions.map(() => 0n)
  for (const k of order) {
    const a = actions[k] as Action
    if (a.kind === "EndCallback") continue
    const id = idOf(plan, a)
    let amount = forced.has(k) ? 0n : a.amount
    const bind = (bound: BindingBound["bound"], allowed: bigint | undefined) => {
      if (allowed === undefined) return
      if (allowed < 0n) allowed = 0n
      if (allowed < amount) binding.push(bindingOf(plan, k, bound, allowed))
      amount = min(amount, allowed)
    }
    const limits = aave[id]
    if (spends(k)) {
      const fromIdle = draws[k]?.filter((d) => idle[tokens[k]?.into ?? ""]?.draws.includes(d)) ?? []
      const idleCut = fromIdle.reduce((sum, d) => sum + d.cut, 0n)
      if (idleCut > 0n) bind("balance", a.amount - idleCut)
      amount = min(amount, a.amount - (draws[k] ?? []).reduce((sum, d) => sum + d.cut, 0n))
    }
    if (a.kind === "WithdrawFromPool") {
      const pool = poolOf(a)
      bind("maxWithdraw", withdrawable[pool] ?? 0n)
      // Less a share's worth for the next withdrawal from the pool (review rr11e E2, {@link poolShareMargin}).
      withdrawable[pool] = (withdrawable[pool] ?? 0n) - amount - (amount > 0n ? poolShareMargin(bounds, pool) : 0n)
    } else if (a.kind === "Borrow") {
      const d = debtOf(id)
      bind("borrowable", d?.borrowable)
      // The LTV room at this borrow, found by the clamp's check of an earlier walk ({@link ltvOver}).
      bind("ltvRoom", ltvCaps.get(k))
      if (d !== undefined) {
        if (d.borrowable !== undefined) d.borrowable -= amount
        d.debt += amount
        if (d.repayable !== undefined) d.repayable += amount
      }
    } else if (a.kind === "WithdrawCollateral") {
      bind("collateral", collateral[id])
      bind("withdrawable", limits?.withdrawable)
      bind("collateralHeld", limits?.collateralHeld)
      if (collateral[id] !== undefined) collateral[id] = (collateral[id] as bigint) - amount
      if (limits) supplied(limits, -amount)
    } else if (limits && (a.kind === "Repay" || a.kind === "RepayWithCallback")) {
      const before = amount
      const d = debtOf(id) as ReserveDebt
      if (holdToDebt && a.kind === "Repay") bind("debt", d.debt)
      bind("repayable", d.repayable)
      released[k] = before - amount
      if (d.repayable !== undefined) d.repayable -= amount
      d.debt -= amount
      // A repayment frees the market's liquidity for a later borrow on it (as the exact walk counts it).
      if (holdToDebt && d.borrowable !== undefined) d.borrowable += amount
    } else if (limits && (a.kind === "SupplyCollateral" || a.kind === "SupplyCollateralWithCallback")) {
      const before = amount
      bind("suppliable", limits.suppliable)
      released[k] = before - amount
      supplied(limits, amount)
    }
    // The rule book's repair ({@link repairToRuleBook}): a spend held lower gives back what it drew, a source held lower
    // cuts what it funds (its lot's shortfall below).
    const cap = caps.get(k)
    if (cap !== undefined && cap < amount) {
      const before = amount
      bind("ruleBook", cap)
      if (spends(k)) released[k] = (released[k] as bigint) + before - amount
    }
    amounts[k] = amount
    const lot = lotOf[k]
    if (lot === undefined) continue
    if (isSwap(a.kind)) {
      // The swap's output falls: what the lower input still brings of what the plan given spent of it.
      if (amount < a.amount) short(lot, lot.planned - fundedBy(lot.planned, a.amount, amount, swapMinimum(bounds.subAccounts[id], a.kind === "SellCollateral", amount)))
    } else short(lot, a.amount - amount, at[k])
  }
  release(actions, amounts, released, [...Object.values(idle), ...lots], draws)
  return { amounts, binding }
}

/**
 * Gives back what a spend's own bound took off it (`released`, by action) to the lots it drew from: the idle balance
 * first (it stays in the Safe), then the sources it drew on, last draw first, each lowered by what it no longer funds
 * (else the module sees their inflow unspent: PoolNotUsed / IdleInflow). A swap's output is left alone (its input is
 * not re-planned here; {@link trimUnused} lowers what it can).
 */
function release(actions: readonly Action[], amounts: bigint[], released: readonly bigint[], lots: readonly Lot[], draws: readonly Draw[][]): void {
  const lotOfDraw = (d: Draw) => lots.find((l) => l.draws.includes(d))
  released.forEach((r, k) => {
    if (r <= 0n) return
    const mine = (draws[k] ?? []).map((d) => ({ d, lot: lotOfDraw(d) })).reverse()
    const ranked = [...mine.filter((x) => x.lot?.source === undefined), ...mine.filter((x) => x.lot?.source !== undefined)]
    let left = r
    for (const { d, lot } of ranked) {
      if (left <= 0n) break
      const source = lot?.source
      if (source !== undefined && isSwap((actions[source] as Action).kind)) continue
      let taken = min(left, d.amount - d.cut)
      if (source !== undefined) {
        taken = min(taken, amounts[source] as bigint)
        amounts[source] = (amounts[source] as bigint) - taken
      }
      d.cut += taken
      left -= taken
    }
  })
}

/** What {@link fundedBy} leaves for the integer rounding of a swap's output (the pool's and the quote's floors). */
const ROUNDING_WEI = 2n

/** What a swap lowered from `from` to `to` still funds of an action that spent `spent` of its output (see {@link clampPlanToChainBounds}). */
function fundedBy(spent: bigint, from: bigint, to: bigint, minimum: bigint | undefined): bigint {
  if (from === 0n || to === 0n) return 0n
  // Less a wei per rounding step (the quote's and the pool's integer outputs): concavity holds in reals, not to the wei.
  const scaled = (spent * to) / from - ROUNDING_WEI
  const floor = minimum ?? 0n
  return min(spent, scaled > floor ? scaled : floor)
}

/**
 * Lowers, last first, the sources of each token whose inflows the clamps left unspent (the module's `_checkInflowsUsed`:
 * pool withdrawals, then borrows, then collateral withdrawals), by what the plan receives of it beyond what it spends
 * less what the plan given already meant to leave unspent (the clamp does not re-plan). A swap's output counts at its on-chain minimum; a
 * token a swap brings is left alone when the bounds do not give that minimum. `given`: the plan given's amounts (before
 * {@link fitFlashes}: a flash cut below what a donor's borrow and the block's sale bring leaves the borrow's part
 * unspent, which the plan given did not mean), `plan`'s own by default.
 */
function trimUnused(
  plan: ChainPlan,
  bounds: ChainBounds,
  amounts: bigint[],
  given: readonly bigint[] = plan.actions.map((a) => a.amount),
  recipients: readonly (number | undefined)[] = [],
): void {
  const before = unspent(plan, bounds, given, false)
  const after = unspent(plan, bounds, amounts, true)
  const trimmable = ["WithdrawFromPool", "Borrow", "WithdrawCollateral"]
  // What each spend lost to the clamps, left to give back off the sources taken for it (`recipients`, PlanFunding.paysFor).
  const cutOf = given.map((g, k) => (g > (amounts[k] as bigint) ? g - (amounts[k] as bigint) : 0n))
  for (const [token, over] of Object.entries(after.excess)) {
    const already = before.excess[token] ?? 0n
    if (after.unknown.has(token) || over <= (already > 0n ? already : 0n)) continue
    let left = over - (already > 0n ? already : 0n)
    // First the sources whose recipient was cut or dropped, by that cut, last first (review rr11c R1: the borrow a donor
    // took for a dropped recipient, not an earlier pool withdrawal a due rescue spends).
    for (let k = plan.actions.length - 1; k >= 0 && left > 0n; k--) {
      const r = recipients[k]
      const a = plan.actions[k] as Action
      if (r === undefined || !trimmable.includes(a.kind) || tokensOf(plan, bounds, a).out !== token) continue
      const taken = min(min(left, amounts[k] as bigint), cutOf[r] as bigint)
      amounts[k] = (amounts[k] as bigint) - taken
      cutOf[r] = (cutOf[r] as bigint) - taken
      left -= taken
    }
    for (const kind of trimmable)
      for (let k = plan.actions.length - 1; k >= 0 && left > 0n; k--) {
        const a = plan.actions[k] as Action
        if (a.kind !== kind || tokensOf(plan, bounds, a).out !== token) continue
        const taken = min(left, amounts[k] as bigint)
        amounts[k] = (amounts[k] as bigint) - taken
        left -= taken
      }
  }
}

/**
 * The exact walk's last step (review rr11c R1): {@link trimUnused} lowers sources after {@link walkBalances} checked the
 * plan's order, so the trimmed `amounts` are walked again with the Safe's balances (a spend above the balance at it is
 * cut to it) and what that frees is trimmed, until neither moves (amounts only fall: at most one pass per action).
 * Mutates `amounts`.
 */
function settleExact(plan: ChainPlan, bounds: ChainBounds, forced: ReadonlySet<number>, amounts: bigint[], given: readonly bigint[], recipients: readonly (number | undefined)[]): void {
  for (let pass = 0; pass <= plan.actions.length; pass++) {
    const walked = walkBalances({ ...plan, actions: plan.actions.map((a, k) => ({ ...a, amount: amounts[k] as bigint }) as Action) }, bounds, forced).amounts
    if (walked.every((x, k) => x === amounts[k])) return
    walked.forEach((x, k) => {
      amounts[k] = x
    })
    trimUnused(plan, bounds, amounts, given, recipients)
  }
}

/**
 * Per token, what the plan receives (pool withdrawals, borrows, collateral withdrawals, swap minimums) less what it
 * spends; a repay counts what it clears (at most the debt it meets, as the module counts it) when `cleared`, else what
 * it asks (what the plan given meant to spend: a float repay a few wei above the debt is no plan to keep tokens idle).
 */
function unspent(plan: ChainPlan, bounds: ChainBounds, amounts: readonly bigint[], cleared: boolean): { excess: Record<string, bigint>; unknown: Set<string> } {
  const debts = debtsOf(bounds)
  const none: ReserveDebt = { debt: 0n, repayable: undefined, borrowable: undefined }
  const excess: Record<string, bigint> = {}
  const unknown = new Set<string>()
  const add = (token: string | undefined, amount: bigint) => {
    if (token !== undefined) excess[token] = (excess[token] ?? 0n) + amount
  }
  plan.actions.forEach((a, k) => {
    const amount = amounts[k] as bigint
    const id = idOf(plan, a)
    const { into, out } = tokensOf(plan, bounds, a)
    const s = bounds.subAccounts[id]
    const d = s === undefined ? { ...none } : (debts[debtKeyOf(id, s)] as ReserveDebt)
    if (a.kind === "Repay" || a.kind === "RepayWithCallback") {
      const paid = min(amount, clearable(d.debt, d.repayable))
      d.debt -= paid
      if (d.repayable !== undefined) d.repayable -= paid
      add(into, -(cleared ? paid : amount))
      return
    }
    if (a.kind === "Borrow") {
      d.debt += amount
      if (d.repayable !== undefined) d.repayable += amount
    }
    if (isSwap(a.kind)) {
      const minimum = swapMinimum(bounds.subAccounts[id], a.kind === "SellCollateral", amount)
      if (minimum === undefined && amount > 0n && out !== undefined) unknown.add(out)
      add(out, minimum ?? 0n)
      add(into, -amount)
      return
    }
    add(out, amount)
    add(into, -amount)
  })
  return { excess, unknown }
}

/**
 * The actions the module could not accept as the clamps left them, to bind to zero in the next round: the inner actions
 * of a callback whose opener reached zero, and every action of a sub-account left without a venue action or (it changed
 * materially before the clamps, and its price is known) without a material change.
 */
function unusable(plan: ChainPlan, bounds: ChainBounds, amounts: readonly bigint[]): number[] {
  const out: number[] = []
  let dropping = false
  plan.actions.forEach((a, k) => {
    if (isOpener(a.kind)) dropping = amounts[k] === 0n
    else if (a.kind === "EndCallback") dropping = false
    else if (dropping && amounts[k] !== 0n) out.push(k)
    // A swap whose on-chain minimum output rounds to 0 (the router's guard means nothing), or whose output funds nothing left.
    if (isSwap(a.kind) && amounts[k] !== 0n && !dropping) {
      const minimum = swapMinimum(bounds.subAccounts[idOf(plan, a)], a.kind === "SellCollateral", amounts[k] as bigint)
      if (minimum === 0n || fundsNothing(plan, bounds, amounts, k)) out.push(k, ...fundingOf(plan, bounds, amounts, k))
    }
  })
  plan.subAccounts.forEach((id, i) => {
    const own = plan.actions.map((a, k) => k).filter((k) => (plan.actions[k] as Action).subAccount === i && amounts[k] !== 0n)
    const s = bounds.subAccounts[id.toLowerCase()]
    const acts = own.some((k) => isVenue((plan.actions[k] as Action).kind))
    const material = (of: readonly bigint[]) => s === undefined || isMaterial(plan, i, s, of)
    if (own.length > 0 && (!acts || (material(plan.actions.map((a) => a.amount)) && !material(amounts)))) out.push(...own)
  })
  return out
}

/** Whether swap `k` had a spend of its output after it in the plan given and the clamps left none of those. */
function fundsNothing(plan: ChainPlan, bounds: ChainBounds, amounts: readonly bigint[], k: number): boolean {
  const token = tokensOf(plan, bounds, plan.actions[k] as Action).out
  const at = settledAt(plan)
  const later = plan.actions
    .map((a, j) => j)
    .filter((j) => (at[j] as number) > (at[k] as number) && (plan.actions[j] as Action).kind !== "EndCallback" && tokensOf(plan, bounds, plan.actions[j] as Action).into === token)
  return later.length > 0 && later.every((j) => amounts[j] === 0n)
}

/** The sources of swap `k`'s own sub-account that bring its input token (its borrow, its collateral withdrawal): dropped with it. */
function fundingOf(plan: ChainPlan, bounds: ChainBounds, amounts: readonly bigint[], k: number): number[] {
  const swap = plan.actions[k] as Action
  const token = tokensOf(plan, bounds, swap).into
  return plan.actions
    .map((_, j) => j)
    .filter((j) => {
      const a = plan.actions[j] as Action
      return a.subAccount === swap.subAccount && amounts[j] !== 0n && ["Borrow", "WithdrawCollateral", "WithdrawFromPool"].includes(a.kind) && tokensOf(plan, bounds, a).out === token
    })
}

/** What a repayment clears at most: the debt, and an Aave sub-account's `repayable` (the module's min(debt, maxRepayable)). */
const clearable = (debt: bigint, repayable: bigint | undefined): bigint => {
  const most = repayable === undefined ? debt : min(debt, repayable)
  return most > 0n ? most : 0n
}

/** The module's material-change rule for sub-account `i` (`moved * BPS >= collateral value * MIN_MATERIAL_CHANGE_BPS`). */
function isMaterial(plan: ChainPlan, i: number, s: Sub, amounts: readonly bigint[]): boolean {
  if (s.price === undefined) return true
  let debt = s.debt
  let repayable = s.repayable
  let collateral = s.collateral
  plan.actions.forEach((a, k) => {
    if (a.subAccount !== i) return
    const amount = amounts[k] as bigint
    if (a.kind === "Repay" || a.kind === "RepayWithCallback") {
      const paid = min(amount, clearable(debt, repayable))
      debt -= paid
      if (repayable !== undefined) repayable -= paid
    } else if (a.kind === "Borrow") {
      debt += amount
      if (repayable !== undefined) repayable += amount
    }
    else if (a.kind === "SupplyCollateral" || a.kind === "SupplyCollateralWithCallback") collateral += amount
    else if (a.kind === "WithdrawCollateral") collateral -= amount
  })
  const moved = collateralValue(abs(collateral - s.collateral), s.price) + abs(debt - s.debt)
  return moved > 0n && moved * BPS >= collateralValue(s.collateral, s.price) * MIN_MATERIAL_CHANGE_BPS
}

/**
 * The plan without zero actions: a callback whose opener is zero goes with its EndCallback, one left empty becomes its
 * plain action (RepayWithCallback → Repay, SupplyCollateralWithCallback → SupplyCollateral), sub-accounts left without
 * an action leave `subAccounts` and the others are re-indexed.
 */
function assemble(plan: ChainPlan, amounts: readonly bigint[]): ChainPlan | undefined {
  const kept: Action[] = []
  let opener: number | undefined
  plan.actions.forEach((a, k) => {
    if (a.kind === "EndCallback") {
      if (opener === undefined) return
      const open = kept[opener] as Action
      if (opener === kept.length - 1) kept[opener] = { ...open, kind: open.kind === "RepayWithCallback" ? "Repay" : "SupplyCollateral" } as Action
      else kept.push(a)
      opener = undefined
      return
    }
    if (amounts[k] === 0n) return
    if (isOpener(a.kind)) opener = kept.length
    kept.push({ ...a, amount: amounts[k] } as Action)
  })
  if (kept.length === 0) return undefined
  const used = plan.subAccounts.map((_, i) => kept.some((a) => a.subAccount === i))
  const index = used.map((_, i) => used.slice(0, i).filter(Boolean).length)
  return {
    subAccounts: plan.subAccounts.filter((_, i) => used[i]) as Hex[],
    actions: kept.map((a) => ({ ...a, subAccount: index[a.subAccount] as number }) as Action),
  }
}

/** The clamped plan, unless the plan given lists a sub-account the bounds mark due and the clamped one none (NoTrigger). */
function triggered(plan: ChainPlan | undefined, given: ChainPlan, bounds: ChainBounds): ChainPlan | undefined {
  const due = (p: ChainPlan) => p.subAccounts.some((id) => bounds.subAccounts[id.toLowerCase()]?.due === true)
  if (plan === undefined || !due(given)) return plan
  return due(plan) ? plan : undefined
}
