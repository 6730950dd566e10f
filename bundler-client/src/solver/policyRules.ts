import {
  INFINITE_HEALTH,
  MALFORMED_ACTION_COUNT,
  MALFORMED_SUB_ACCOUNT_COUNT,
  MAX_ACTIONS,
  MAX_SUB_ACCOUNTS,
  MIN_MATERIAL_CHANGE_BPS as MIN_MATERIAL_CHANGE_BPS_BIG,
} from "@levpilot/sdk/constants"
import { type CheckRebalanceRulesParameters, type RuleViolation, checkRebalanceRules } from "@levpilot/sdk/rules"
import { type Address, type Hex, parseUnits } from "viem"
import { PlanExecutionError } from "./errors.js"
import { applyPlan, netValue, positionsMoved, toBaseUnits as planBaseUnits } from "./state.js"
import type { EpochState, Plan, PlanAction, Policy, PortfolioState, SubAccountState } from "./types.js"

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
  /** The module's named error (ILeverageModule.sol) and its arguments, as the SDK's rules give it. */
  error?: RuleViolation | undefined
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

const POOL_KINDS = new Set(["WithdrawFromPool", "DepositToPool"])
const UINT128_MAX = 2n ** 128n - 1n
const ZERO: Address = "0x0000000000000000000000000000000000000000"
/** Stands for the module's swap adapter and a sub-account's venue adapter (non-zero) in the rules' input. */
const PRESENT: Address = "0x0000000000000000000000000000000000000001"

/**
 * A float estimate in human units to base units: the decimal the float prints as (its shortest round-trip form, so
 * 0.995 is 995 x 10^(decimals - 3) and 3000 at 24 decimals is exactly 3 x 10^27), rounded to the nearest base unit;
 * +Infinity caps at uint128 max, negatives at 0. The solver holds its repayments to the bound this gives
 * (`WorkingPortfolio.repayRoomBase`).
 */
export function toBaseUnits(value: number, decimals: number): bigint {
  if (value === Number.POSITIVE_INFINITY || value >= 1e38) return UINT128_MAX
  if (!(value > 0)) return 0n
  const text = String(value)
  if (text.includes("e")) return BigInt(Math.round(value * 10 ** decimals))
  // viem's parseUnits, remembered by its input (a pure function of text and decimals): a solve checks many plans, which
  // repeat the policies' and positions' figures (the plan benchmark, 50 sub-accounts x 20 pools: about 2,100
  // conversions a solve, 6 % of them distinct).
  const key = `${decimals}:${text}`
  let base = parsedUnits.get(key)
  if (base === undefined) {
    base = parseUnits(text, decimals)
    if (parsedUnits.size >= PARSED_UNITS_KEPT) parsedUnits.clear()
    parsedUnits.set(key, base)
  }
  return base
}
/** How many of {@link toBaseUnits}' conversions are kept (all dropped when full). */
const PARSED_UNITS_KEPT = 8192
const parsedUnits = new Map<string, bigint>()
const wad = (value: number): bigint => toBaseUnits(value, 18)
/** The module's `StopLoss.stopPrice` bound (uint192, review rr13s S1). */
export const STOP_PRICE_MAX = 2n ** 192n - 1n
/**
 * A stop price in human units (loan per collateral) to the venue's 1e36-scaled base-unit price, as toBaseUnits but
 * without its uint128 cap (WBTC/USDC at 60,000 is 6e38, review rr13s S1); a price the module's uint192 cannot hold
 * throws, naming the field, rather than be judged with a stop the chain could not store.
 */
export function stopPriceToBase(value: number, decimals: number): bigint {
  if (!(value > 0) || !Number.isFinite(value)) throw new RangeError(`stopPrice must be a finite number > 0, got ${value}`)
  const text = String(value)
  const base = text.includes("e") ? BigInt(Math.round(value * 10 ** Math.min(decimals, 300))) * 10n ** BigInt(Math.max(decimals - 300, 0)) : parseUnits(text, decimals)
  if (base > STOP_PRICE_MAX) throw new RangeError(`stopPrice ${value} exceeds the module's uint192 at scale 10^${decimals}`)
  return base
}
/**
 * A sub-account's venue price and stop-loss in the rule book's units (`state.price` 1e36-scaled; `stop` as the module's
 * getStopLoss: `stopPrice` 1e36-scaled, `exitHealth` WAD; undefined without a stop), which the rule book's `stopStateOf`
 * judges. When the caller judged the stop on the chain's integers at this very price (`policy.stopJudged`, the keeper's
 * applyStops, with `stopJudged.price === state.price`), those integers (`stopJudged.exact`): the rule book then decides
 * on the chain's numbers and its stop state is the planner's (`stopHolds` / `stopEngaged`) and the module's (review
 * rr11zc C5: rebuilt from the floats, 2,666 of 6,000 boundary cases disagreed). Otherwise (the backtester; a drifted
 * price) the floats converted: `toBaseUnits(price)`, `stopPriceToBase(stopPrice)`, `exitHealth` to WAD.
 *
 * @throws RangeError when a float `stopPrice` is not a finite positive number or exceeds uint192 at its scale.
 */
export function stopRuleInput(
  state: Pick<SubAccountState, "price" | "loanDecimals" | "collateralDecimals">,
  policy: Pick<Policy, "stopPrice" | "exitHealth" | "stopJudged">,
): { price: bigint; stop: { stopPrice: bigint; exitHealth: bigint } | undefined } {
  const judged = policy.stopJudged
  const decimals = 36 + state.loanDecimals - state.collateralDecimals
  // The stop is the chain's whenever the keeper read it, also at a drifted price (the stop exit's: review rr11zf F4).
  const stop =
    judged !== undefined
      ? { ...judged.exact.stop }
      : policy.stopPrice !== undefined && policy.exitHealth !== undefined
        ? { stopPrice: stopPriceToBase(policy.stopPrice, decimals), exitHealth: wad(policy.exitHealth) }
        : undefined
  return { price: judged !== undefined && judged.price === state.price ? judged.exact.price : toBaseUnits(state.price, decimals), stop }
}
const human = (value: bigint, decimals: number): number => Number(value) / 10 ** decimals
const health = (value: bigint): string => (value === INFINITE_HEALTH ? "infinite" : String(human(value, 18)))

/**
 * The solver's float portfolio in the module's on-chain shape, for the SDK's exact rules: positions and idle balances
 * in base units (rounded from the floats: risk estimates), the oracle price at the 1e36 scale, bands in WAD, and the
 * plan with its exact `amountBase`. Pools are 1:1 ERC-4626 vaults holding what the Safe can withdraw, with their
 * entry/exit cost (`slippageBps`) as a fee; a market's free liquidity (`borrowable`) as its Morpho totals; a swap pays
 * its quoted `expectedOut` (else the module's minimum).
 */
export function toRuleInput(params: CheckPlanParameters, subs: readonly SubAccountState[]): CheckRebalanceRulesParameters {
  const { plan, pre, policies, now } = params
  const decimalsOf = (asset: string): number | undefined => {
    for (const s of pre.subAccounts) {
      if (s.loanAsset === asset) return s.loanDecimals
      if (s.collateralAsset === asset) return s.collateralDecimals
    }
    return pre.pools.find((p) => p.asset === asset)?.decimals
  }
  const subAccounts = plan.subAccounts.map((id, i) => {
    const s = subs[i] as SubAccountState
    const policy = policies[id] as Policy
    const stored = params.epochs[id] ?? NEVER_RUN
    const debt = toBaseUnits(s.debt, s.loanDecimals)
    const stop = stopRuleInput(s, policy)
    return {
      id: id as Hex,
      policy: {
        adapter: PRESENT,
        minHealth: wad(policy.minHealth),
        cooldown: policy.cooldown,
        market: id as Hex,
        priceFeed: ZERO,
        targetHealth: wad(policy.targetHealth),
        epochLength: policy.epochLength,
        maxHealth: wad(policy.maxHealth),
        maxGasPerEpoch: toBaseUnits(policy.maxGasPerEpoch, 0),
        maxOracleAge: 0,
        maxLossBps: policy.maxLossBps,
        maxEpochLossBps: policy.maxEpochLossBps ?? 10_000,
        maxRebalancesPerEpoch: Math.min(policy.maxRebalancesPerEpoch, 65_535),
        maxOracleDeviationBps: policy.maxOracleDeviationBps ?? 0,
        boostAllowed: policy.boostAllowed,
        maxSlippageBps: policy.maxSlippageBps ?? 0,
        maxAmountPerRebalance: toBaseUnits(policy.maxAmountPerRebalance, s.loanDecimals),
        maxAmountPerEpoch: toBaseUnits(policy.maxAmountPerEpoch, s.loanDecimals),
        minFeedAnswer: 0n,
        maxFeedAnswer: 0n,
        pools: policy.pools as Address[],
        // Issue 13: the in-band rescue the owner opted into (module `_trigger`, `landingZone`); omitted: false.
        ...(policy.rescueBelowTarget === true ? { rescueBelowTarget: true } : {}),
      },
      state: {
        loanToken: s.loanAsset as Address,
        collateralToken: s.collateralAsset as Address,
        collateral: toBaseUnits(s.collateral, s.collateralDecimals),
        debt,
        price: stop.price,
        lltv: wad(s.lltv),
        ...(s.repayableDebt === undefined ? {} : { repayableDebt: toBaseUnits(s.repayableDebt, s.loanDecimals) }),
        // The adapter's equity (the epoch loss budget's base); not positive: 0, which the rules treat alike.
        ...(s.equity === undefined ? {} : { equity: toBaseUnits(s.equity, s.loanDecimals) }),
        ...(s.flashPremiumBps ? { flashPremiumBps: BigInt(s.flashPremiumBps) } : {}),
        ...(s.collateralHeld === undefined ? {} : { collateralHeld: toBaseUnits(s.collateralHeld, s.collateralDecimals) }),
        // Aave: the rule book judges the health after as Aave's floored factor (review brk17c F1).
        ...(s.thresholdFloored ? { thresholdFloored: true } : {}),
        // Aave: the factor before as the keeper read it (the module's health before: trigger, landing zone), from
        // which the rule book also settles Aave's floored average (review rr17c residual); as the solver's venueHealthOf.
        ...(s.thresholdFloored && s.health !== undefined && Number.isFinite(s.health) && s.debt > 0 ? { health: wad(s.health) } : {}),
        // Aave: the account's only collateral is this reserve; otherwise (or unknown) the no-factor path assumes the
        // floor below the market's threshold (review rr17c F1).
        ...(s.soleCollateral ? { soleCollateral: true } : {}),
        // Aave: the account's base-currency figures (exact), for Aave's own integer math after the plan (review r17f).
        ...(s.thresholdFloored && s.aaveBase !== undefined ? { aaveBase: s.aaveBase } : {}),
      },
      // The owner's stop-loss (module getStopLoss), in the rule book's units.
      ...(stop.stop === undefined ? {} : { stop: stop.stop }),
      usage: {
        // No stored epoch: the counters belong to none (a new epoch starts them from zero).
        epoch: stored.epoch ?? 2n ** 32n,
        lastRebalance: stored.lastRebalance ?? 0,
        rebalances: stored.rebalancesInEpoch,
        lossPpb: BigInt(Math.ceil(stored.lossPpbInEpoch ?? 0)),
        gasUsed: BigInt(Math.ceil(stored.gasInEpoch)),
        amountMoved: toBaseUnits(stored.amountInEpoch, s.loanDecimals),
      },
      venue:
        s.borrowable === undefined
          ? undefined
          : { totalSupplyAssets: debt + toBaseUnits(s.borrowable, s.loanDecimals), totalBorrowAssets: debt, totalBorrowShares: debt * 1_000_000n, borrowShares: debt * 1_000_000n },
    }
  })
  const pools = pre.pools.map((p) => {
    // What the plan's amounts can spend of them is converted by the plan's own rule (floor(x * 10^d), state.ts): a
    // plan withdrawing the whole pool or spending the whole idle balance then asks exactly what the check holds.
    const shares = planBaseUnits(Math.min(p.balance, p.withdrawable), p.decimals)
    const total = shares + 10n ** BigInt(p.decimals + 9)
    return { address: p.address as Address, asset: p.asset as Address, totalAssets: total, totalSupply: total, shares, feeBps: BigInt(Math.round(p.slippageBps ?? 0)) }
  })
  // Idle tokens no listed sub-account or pool uses cannot matter to the verdict.
  const balances = Object.fromEntries(
    Object.entries(pre.idle).flatMap(([asset, amount]) => {
      const decimals = decimalsOf(asset)
      return decimals === undefined ? [] : [[asset, planBaseUnits(amount, decimals)]]
    }),
  )
  const swapOutputs: Record<number, bigint> = {}
  plan.actions.forEach((a, index) => {
    if (a.expectedOut === undefined) return
    const s = subs[a.subAccount] as SubAccountState
    swapOutputs[index] = a.kind === "SellCollateral" ? toBaseUnits(a.expectedOut, s.loanDecimals) : toBaseUnits(a.expectedOut, s.collateralDecimals)
  })
  return {
    plan: { subAccounts: plan.subAccounts as Hex[], actions: plan.actions.map((a) => ({ kind: a.kind, subAccount: a.subAccount, pool: a.pool as Address | undefined, amount: a.amountBase })) },
    subAccounts,
    pools,
    balances,
    swapAdapter: PRESENT,
    timestamp: BigInt(Math.floor(now)),
    gasUsed: BigInt(Math.ceil(params.gas ?? plan.gas)),
    outcome: { swapOutputs },
  }
}

/** The rule of docs/policy-rules.md a named module error belongs to. */
function ruleOf(error: RuleViolation, plan: Plan): PolicyRule {
  switch (error.name) {
    case "NoTrigger":
      return 1
    case "CooldownActive":
      return 2
    case "HealthOutOfBand":
    case "HealthOutsideLandingZone":
    case "HealthFurtherFromTarget":
    case "HealthCrossedTarget":
    case "HealthDecreased":
    case "NotDueMoveExceedsDistance":
    case "NotDueGrowth":
      return 3
    case "ActionNotAllowed": {
      const kind = plan.actions[Number(error.args[0])]?.kind
      return (kind === "Borrow" || kind === "WithdrawCollateral" || kind === "BuyCollateral") && plan.actions[Number(error.args[0])]?.pool === undefined ? 3 : "structure"
    }
    case "AmountCapExceeded":
    case "EpochAmountCapExceeded":
    case "EpochRebalanceCapExceeded":
    case "EpochGasCapExceeded":
      return 4
    case "ValueLossExceeded":
      return 5
    case "EpochLossBudgetExceeded":
      return 6
    default:
      return "structure"
  }
}

/** A human explanation of the module's error, amounts in human units. */
function describe(error: RuleViolation, plan: Plan, subs: readonly SubAccountState[]): string {
  const a = error.args
  const id = typeof a[0] === "string" ? a[0] : undefined
  const sub = subs.find((s) => s.id === id) ?? subs[0]
  const loan = (value: unknown): number => human(value as bigint, sub?.loanDecimals ?? 0)
  const action = plan.actions[Number(a[0])]
  // A token named by the error (the loan or a listed collateral token) and its base units in human units.
  const tokenUnits = (value: unknown): [string, (amount: unknown) => number] => {
    const token = String(value)
    const holder = subs.find((s) => s.loanAsset === token || s.collateralAsset === token)
    const decimals = holder === undefined ? 0 : holder.loanAsset === token ? holder.loanDecimals : holder.collateralDecimals
    return [token, (amount) => human(amount as bigint, decimals)]
  }
  switch (error.name) {
    case "MalformedPlan":
      if (a[0] === BigInt(MALFORMED_ACTION_COUNT))
        return plan.actions.length === 0 ? "plan has no actions (MalformedPlan)" : `plan has ${plan.actions.length} actions, the module accepts at most MAX_ACTIONS = ${MAX_ACTIONS} (MalformedPlan)`
      if (a[0] === BigInt(MALFORMED_SUB_ACCOUNT_COUNT))
        return `plan lists ${plan.subAccounts.length} sub-accounts, the module accepts at most MAX_SUB_ACCOUNTS = ${MAX_SUB_ACCOUNTS} (MalformedPlan)`
      return `plan is malformed (MalformedPlan reason ${a[0]}: callback blocks or sub-account indices)`
    case "DuplicateSubAccount":
      return `sub-account ids in the plan are not unique: ${id} (DuplicateSubAccount)`
    case "MixedLoanTokens":
      return `sub-accounts of the plan have different loan assets ${a[0]} and ${a[1]} (MixedLoanTokens)`
    case "NoTrigger":
      return "no touched sub-account is outside its band before the plan (NoTrigger)"
    case "CooldownActive":
      return `${id} is in its cooldown until ${a[1]} (CooldownActive)`
    case "ActionNotAllowed": {
      const policy = action === undefined ? undefined : plan.subAccounts[action.subAccount]
      const why =
        action?.pool !== undefined && !POOL_KINDS.has(action.kind)
          ? "must not name a pool"
          : action?.kind === "SellCollateral" || action?.kind === "BuyCollateral"
            ? `swaps but ${policy} does not allow it (maxSlippageBps 0, BuyCollateral without boostAllowed, or the sub-account is not due: only a due one swaps)`
            : action?.kind === "Borrow" || action?.kind === "WithdrawCollateral"
              ? `${policy} does not allow boosts (a WithdrawCollateral is allowed only inside its own repay callback)`
              : "has a zero amount (or an EndCallback with an amount or pool)"
      return `action ${a[0]} (${action?.kind}) ${why} (ActionNotAllowed)`
    }
    case "PoolNotAllowed":
      return `a pool action uses pool ${a[1]} outside the policy of ${id} (PoolNotAllowed)`
    case "PoolRoundTrip":
      return `pool ${a[0]} is both withdrawn from and deposited into (PoolRoundTrip)`
    case "SwapRoundTrip":
      return `the plan both sells and buys ${a[0]} (SwapRoundTrip)`
    case "PoolNotUsed":
      return `pool ${a[1]} withdraws for ${id} what no venue action of the plan uses: more than the plan's other steps pay out of the wallet net of what they bring in (PoolNotUsed)`
    case "SaleExceedsRepayment":
      return `${id} sells collateral for at least ${loan(a[1])} but the plan repays only ${loan(a[2])} of its debt; a sale serves its own debt (SaleExceedsRepayment)`
    case "PurchaseExceedsSupply":
      return `${id} buys at least ${human(a[1] as bigint, sub?.collateralDecimals ?? 0)} collateral but the plan supplies only ${human(a[2] as bigint, sub?.collateralDecimals ?? 0)} to it (PurchaseExceedsSupply)`
    case "IdleInflow": {
      const [token, units] = tokenUnits(a[0])
      return `the plan brings ${units(a[1])} ${token} into the Safe but repays, supplies, swaps or deposits only ${units(a[2])} of it; the rest would stay idle (IdleInflow)`
    }
    case "DepositNotFunded": {
      const [token, units] = tokenUnits(a[0])
      return `the plan deposits ${units(a[1])} ${token} into pools but brings in only ${units(a[2])} of it; a deposit parks only what sub-accounts due above their band (boosts) borrow in the plan, never the Safe's idle reserve (DepositNotFunded)`
    }
    case "SwapNotUsed":
      return `a swap serves ${id}, which has no venue action (SwapNotUsed)`
    case "SubAccountUnchanged":
      return `${id} changes by less than ${MIN_MATERIAL_CHANGE_BPS} bps of its collateral value, or has no venue action (SubAccountUnchanged)`
    case "ActionFailed":
      return `action ${a[0]} (${action?.kind}) fails on chain: ${error.detail ?? "the call reverts"} (ActionFailed)`
    case "PoolUnhealthy":
      return `pool ${a[0]} has too few shares or a zero share price for a deposit (PoolUnhealthy)`
    case "PoolAssetMismatch":
      return `a pool's asset ${a[1]} is neither the loan nor a listed collateral token (PoolAssetMismatch)`
    case "HealthOutOfBand":
      return `${id} ends at health ${health(a[1] as bigint)}, outside [${health(a[2] as bigint)}, ${health(a[3] as bigint)}] (HealthOutOfBand)`
    case "HealthOutsideLandingZone":
      return `${id} is triggered but lands at health ${health(a[1] as bigint)}, outside its landing zone [${health(a[2] as bigint)}, ${health(a[3] as bigint)}] (HealthOutsideLandingZone)`
    case "HealthFurtherFromTarget":
      return `${id} moves from health ${health(a[1] as bigint)} to ${health(a[2] as bigint)}, further from its target (HealthFurtherFromTarget)`
    case "HealthCrossedTarget":
      return `${id} is not due but moves from health ${health(a[1] as bigint)} past its target ${health(a[3] as bigint)} to ${health(a[2] as bigint)} (HealthCrossedTarget)`
    case "NotDueMoveExceedsDistance":
      return `${id} is not due but its position changes by ${a[1]}, more than its distance to its target ${a[2]} (NotDueMoveExceedsDistance)`
    case "NotDueGrowth":
      return `${id} is not due but grows: its collateral and its debt both go up (NotDueGrowth)`
    case "HealthDecreased":
      return `${id} does not allow boosts but health falls from ${health(a[1] as bigint)} to ${health(a[2] as bigint)} (HealthDecreased)`
    case "AmountCapExceeded":
      return `${id} moves ${loan(a[1])}, above maxAmountPerRebalance ${loan(a[2])} (AmountCapExceeded)`
    case "EpochAmountCapExceeded":
      return `${id} would move ${loan(a[1])} in the epoch, above maxAmountPerEpoch ${loan(a[2])} (EpochAmountCapExceeded)`
    case "EpochRebalanceCapExceeded":
      return `${id} would have ${a[1]} rebalances in the epoch, above ${a[2]} (EpochRebalanceCapExceeded)`
    case "EpochGasCapExceeded":
      return `${id} would use ${a[1]} gas in the epoch, above ${a[2]} (EpochGasCapExceeded)`
    case "ValueLossExceeded":
      return `the plan loses ${loan(a[0])} while its positions move ${loan(a[1])}: more than ${a[2]} bps (ValueLossExceeded)`
    case "EpochLossBudgetExceeded":
      return `${id} would lose ${Number(a[1]) / 1e5} bps of its equity in the epoch, above maxEpochLossBps ${Number(a[2]) / 1e5} (EpochLossBudgetExceeded)`
    default:
      return `${error.name}(${a.join(", ")})`
  }
}

/**
 * The sub-account a module error is about: its first argument when that is a listed sub-account id; for an error of the
 * plan as a whole that still comes from one action, the owner of that action (`plan.actions[index].subAccount`):
 * `ActionFailed(index, …)` and `ActionNotAllowed(index, …)`, `IdleInflow(token, …)` (the last action that brings
 * `token` into the Safe: a pool withdrawal, borrow, collateral withdrawal or swap output), `PoolNotUsed(id, pool)` (the
 * sub-account a repayment of which asks more than the rule book clears of it, {@link overRepaid}, else `id`: the
 * module names the withdrawal that crosses what is used, the last one in plan order), `PoolUnhealthy(pool)` (the
 * first deposit into it), `PoolAssetMismatch(pool, …)` (the first action on it), `SwapAdapterRevert` (the first swap).
 * The solver leaves that sub-account out and plans the others (issue 11 item 10: most urgent first), instead of the
 * least urgent target. Undefined for what no single action causes (NoTrigger, PoolRoundTrip, SwapRoundTrip,
 * ValueLossExceeded, MalformedPlan, …).
 *
 * @returns A sub-account id of `plan.subAccounts`, or undefined.
 */
function blamedSubAccount(error: RuleViolation, plan: Plan, subs: readonly SubAccountState[]): string | undefined {
  const a = error.args
  // PoolNotUsed names the withdrawal that takes the total past what is used, in plan order: the LAST one, whoever's
  // repayment falls short. A repayment asking more than the rule book clears of its sub-account is what leaves the
  // withdrawals unused: blame its owner (review rr11 R5b).
  if (error.name === "PoolNotUsed") {
    const over = overRepaid(plan, subs)
    if (over !== undefined) return over
  }
  if (typeof a[0] === "string" && plan.subAccounts.includes(a[0])) return a[0]
  const ownerOf = (index: number): string | undefined => {
    const action = plan.actions[index]
    return action === undefined ? undefined : plan.subAccounts[action.subAccount]
  }
  const same = (x: unknown, y: string | undefined) => typeof x === "string" && y !== undefined && x.toLowerCase() === y.toLowerCase()
  switch (error.name) {
    case "ActionFailed":
    case "ActionNotAllowed":
      return typeof a[0] === "bigint" ? ownerOf(Number(a[0])) : undefined
    case "PoolUnhealthy":
      return ownerOf(plan.actions.findIndex((x) => x.kind === "DepositToPool" && same(a[0], x.pool)))
    case "PoolAssetMismatch":
      return ownerOf(plan.actions.findIndex((x) => same(a[0], x.pool)))
    case "SwapAdapterRevert":
      return ownerOf(plan.actions.findIndex((x) => x.kind === "SellCollateral" || x.kind === "BuyCollateral"))
    case "IdleInflow": {
      const brings = (x: PlanAction): boolean => {
        const sub = subs[x.subAccount]
        if (sub === undefined) return false
        switch (x.kind) {
          case "WithdrawFromPool":
            return same(a[0], x.asset)
          case "Borrow":
          case "SellCollateral":
            return same(a[0], sub.loanAsset)
          case "WithdrawCollateral":
          case "BuyCollateral":
            return same(a[0], sub.collateralAsset)
          default:
            return false
        }
      }
      let last = -1
      plan.actions.forEach((x, k) => {
        if (brings(x)) last = k
      })
      return ownerOf(last)
    }
    default:
      return undefined
  }
}

/**
 * The first sub-account (in plan order) one of whose repayments asks more than the rule book clears of it: its
 * min(`debt`, `repayableDebt`) as {@link toRuleInput} converts them (`toBaseUnits`), plus the plan's borrows on it
 * before, less its earlier repayments (SDK rules' `inflowTally`).
 *
 * @returns A sub-account id of `plan.subAccounts`, or undefined when every repayment is cleared in full.
 */
function overRepaid(plan: Plan, subs: readonly SubAccountState[]): string | undefined {
  const left = subs.map((s) => {
    const debt = toBaseUnits(s.debt, s.loanDecimals)
    const cap = s.repayableDebt === undefined ? debt : toBaseUnits(s.repayableDebt, s.loanDecimals)
    return cap < debt ? cap : debt
  })
  for (const x of plan.actions) {
    const k = x.subAccount
    if (left[k] === undefined) continue
    if (x.kind === "Borrow") left[k] = (left[k] as bigint) + x.amountBase
    else if (x.kind === "Repay" || x.kind === "RepayWithCallback") {
      if (x.amountBase > (left[k] as bigint)) return plan.subAccounts[k]
      left[k] = (left[k] as bigint) - x.amountBase
    }
  }
  return undefined
}

const NEVER_RUN: EpochState = { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 }

/**
 * Which side of its landing zone a plan lands a sub-account on, from the module's `HealthOutsideLandingZone(bytes32
 * subAccount, uint256 health, uint256 low, uint256 high)` arguments (WAD): "under" its floor (`health < low`), "over"
 * its top (`health > high`). The one reading of that error the backtester's engine (`saleZoneSide`, the rule book's
 * violation) and the live keeper (`overTopSubAccountOf`, decoded revert data; `overTopSubAccountsOf`, the SDK's error)
 * share.
 *
 * @param args - The error's arguments as decoded (id, health, low, high).
 * @returns The side, or undefined when the health is inside [low, high] or an argument is not an integer.
 */
export function landingZoneSide(args: readonly unknown[]): "under" | "over" | undefined {
  const [, health, low, high] = args
  if (typeof health !== "bigint" || typeof low !== "bigint" || typeof high !== "bigint") return undefined
  return health < low ? "under" : health > high ? "over" : undefined
}

/**
 * Decide whether the module accepts a plan, with the SDK's exact rule book (`checkRebalanceRules`, @levpilot/sdk/rules:
 * the module's checks in the module's order, in integers). The float portfolio is converted to the module's shape
 * ({@link toRuleInput}) and the plan is judged with its exact `amountBase`; the verdict is the module's first named
 * error (one violation), mapped to its rule of docs/policy-rules.md. The float figures (net value, positions moved) are
 * estimates for reports. The solver, the backtester and the keeper all call this one function.
 *
 * Not known off chain (so taken at a bound): a swap's output (its quote `expectedOut`, else the module's minimum), the
 * gas the operation uses (`gas`, else `plan.gas`), the price feed (the module checks it; not modelled here).
 *
 * @param params - Plan, states, policies, epochs, time and gas.
 * @returns `ok` and the violation the module would revert with, plus the rule 4 and rule 5 figures.
 * @example
 * const { ok, violations } = checkPlanAgainstPolicy({ plan, pre, policies, epochs, now })
 */
export function checkPlanAgainstPolicy(params: CheckPlanParameters): CheckPlanReturnType {
  const { plan, pre, policies } = params
  const violations: PolicyViolation[] = []
  const amountMoved: Record<string, number> = {}
  const lossPpb: Record<string, number> = {}
  const due: Record<string, boolean> = {}
  const subs = plan.subAccounts.map((id) => pre.subAccounts.find((s) => s.id === id))
  plan.subAccounts.forEach((id, i) => {
    amountMoved[id] = 0
    if (subs[i] === undefined) violations.push({ rule: "structure", subAccountId: id, message: `sub-account ${id} is not in the portfolio` })
    if (policies[id] === undefined) violations.push({ rule: "structure", subAccountId: id, message: `sub-account ${id} has no policy (UnknownSubAccount)` })
  })
  plan.actions.forEach((a, index) => {
    if (POOL_KINDS.has(a.kind) && !pre.pools.some((p) => p.address === a.pool))
      violations.push({ rule: "structure", subAccountId: plan.subAccounts[a.subAccount], message: `action ${index} (${a.kind}) names no known pool` })
  })
  let netValueBefore = 0
  let netValueAfter = 0
  let moved = 0
  if (violations.length === 0) {
    const known = subs as SubAccountState[]
    const verdict = checkRebalanceRules(toRuleInput(params, known))
    if (verdict.ok) {
      verdict.subAccounts.forEach((r, i) => {
        const s = known[i] as SubAccountState
        amountMoved[r.id] = human(r.moved, s.loanDecimals)
        lossPpb[r.id] = Number(r.lossPpb)
        due[r.id] = r.due
      })
    } else {
      const id = blamedSubAccount(verdict.error, plan, known)
      violations.push({ rule: ruleOf(verdict.error, plan), subAccountId: id, message: describe(verdict.error, plan, known), error: verdict.error })
    }
    // Float figures for reports (rule 5's terms); the verdict above does not depend on them.
    try {
      const post = params.post ?? applyPlan(pre, plan)
      const pools = [...new Set(plan.actions.filter((a) => POOL_KINDS.has(a.kind)).map((a) => a.pool as string))]
      netValueBefore = netValue(pre, plan.loanAsset, plan.subAccounts, pools)
      netValueAfter = netValue(post, plan.loanAsset, plan.subAccounts, pools)
      moved = positionsMoved(pre, post, plan.subAccounts)
    } catch (error) {
      if (!(error instanceof PlanExecutionError)) throw error
    }
  }
  return { ok: violations.length === 0, violations, amountMoved, netValueBefore, netValueAfter, positionsMoved: moved, lossPpb, due }
}
