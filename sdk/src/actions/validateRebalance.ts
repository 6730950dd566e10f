import {
  type Account,
  type Address,
  BaseError,
  type Chain,
  type Client,
  ContractFunctionRevertedError,
  type ContractFunctionParameters,
  type Hex,
  type Transport,
  erc20Abi,
  erc4626Abi,
  isAddressEqual,
  zeroAddress,
} from "viem"
import { getBlock } from "viem/actions"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import { uniswapV3SwapAdapterAbi } from "../abis/uniswapV3SwapAdapter.js"
import { venueAdapterAbi } from "../abis/venueAdapter.js"
import type { LeverageDeployments } from "../constants/deployments.js"
import { AccountNotFoundError, type UnknownChainErrorType } from "../errors/deployments.js"
import type { PriceFeedReadErrorType, ReadFailedErrorType } from "../errors/read.js"
import { priceFeedAnswerOf, priceFeedCalls } from "./checkSubAccountOracles.js"
import { stopLossCall } from "./getStopLoss.js"
import { toModuleError } from "../errors/getLeverageError.js"
import { firstInCauseChain } from "../errors/causeChain.js"
import {
  AutomationPausedError,
  type AutomationPausedErrorType,
  KeeperKeyExpiredError,
  type KeeperKeyExpiredErrorType,
  KeeperNotAuthorizedError,
  type KeeperNotAuthorizedErrorType,
} from "../errors/keeper.js"
import {
  ActionFailedError,
  type ActionFailedErrorType,
  type ActionNotAllowedErrorType,
  type AmountCapExceededErrorType,
  type CooldownActiveErrorType,
  type DuplicateSubAccountErrorType,
  type EpochCapExceededErrorType,
  type EpochLossBudgetExceededErrorType,
  type HealthCrossedTargetErrorType,
  type NotDueMoveExceedsDistanceErrorType,
  type NotDueGrowthErrorType,
  type HealthDecreasedErrorType,
  type HealthFurtherFromTargetErrorType,
  type HealthOutOfBandErrorType,
  type HealthOutsideLandingZoneErrorType,
  type IdleInflowErrorType,
  type DepositNotFundedErrorType,
  type MalformedPlanErrorType,
  type MixedLoanTokensErrorType,
  type NoTriggerErrorType,
  type OracleAnswerOutOfBoundsErrorType,
  type OracleCheckFailedErrorType,
  type PoolNotAllowedErrorType,
  type PoolNotUsedErrorType,
  type PoolRoundTripErrorType,
  type PoolUnhealthyErrorType,
  type SubAccountUnchangedErrorType,
  type SwapNotUsedErrorType,
  type SaleExceedsRepaymentErrorType,
  type PurchaseExceedsSupplyErrorType,
  SwapQuoteBelowMinimumError,
  type SwapQuoteBelowMinimumErrorType,
  SwapRouteRefusedError,
  type SwapRouteRefusedErrorType,
  type SwapRoundTripErrorType,
  type ValueLossExceededErrorType,
} from "../errors/plan.js"
import type { UnknownSubAccountErrorType } from "../errors/policy.js"
import {
  type CheckRebalanceRulesParameters,
  type CheckRebalanceRulesReturnType,
  type RuleMarketState,
  type RulePool,
  type RuleSubAccount,
  type RuleViolation,
  checkRebalancePrechecks,
  checkRebalanceRulesFeeLenient,
} from "../rules/planRules.js"
import type { AutomationConfig, EpochUsage, KeeperKey, Plan, Policy } from "../types/leverage.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"
import { type MarketState, getSubAccountMetrics } from "../utils/health.js"
import { type ReadResult, readMany, requireResult, resultOf } from "../utils/multicall.js"
import { assertPlanShape, isSwapAction, toPlanStruct } from "../utils/plan.js"
import { poolFeeCalls, poolFeesOf } from "../utils/poolFees.js"
import { getReadClient } from "../utils/reader.js"
import { type AaveCollateralShare, readAaveCollateral } from "../utils/aaveCollateral.js"
import { getSwapMinAmountOut, quoteSwapRoute } from "../utils/swap.js"

export type ValidateRebalanceParameters = {
  /** The Safe; the keeper account's Safe by default. */
  safe?: Address | undefined
  /** The keeper key; the keeper account's key by default. */
  keeper?: Address | undefined
  plan: Plan
  deployments?: LeverageDeployments | undefined
  /**
   * Uniswap v3 QuoterV2 of the pools the module's swap adapter routes through; the deployment's `swapQuoter` by
   * default. With one, every swap action is quoted (eth_call), refused with `SwapQuoteBelowMinimumError` when the quote
   * is below the module's minimum output, and judged at its quote; without one, a plan with swaps is judged only up to
   * the module's first call (`checked: "beforeRun"`) and the rest is left to the bundler's simulation.
   */
  quoter?: Address | undefined
  /**
   * Gas the execution will use (gas units), charged to every listed sub-account's `maxGasPerEpoch` as the module
   * charges what it measures; 0 by default, so only the gas already spent in the epoch is checked.
   */
  executionGas?: bigint | undefined
  /**
   * The Safe's Aave collateral reserves as already read by the caller at a block (the keeper's `readAaveLimits` at its
   * snapshot): used instead of reading them again when the validation reads at that same block
   * ({@link readAaveCollateral}'s `shared`); ignored at any other block. Its `base` figures (Aave's base currency) are
   * handed to the rule book for a sub-account whose frame `collateral` read here equals theirs.
   */
  aaveCollateral?: AaveCollateralShare | undefined
}

export type ValidateRebalanceReturnType = {
  /** Chain time the checks used (latest block). */
  timestamp: number
  config: AutomationConfig
  key: KeeperKey
  subAccounts: { subAccount: Hex; policy: Policy; state: MarketState; health: bigint; epochUsage: EpochUsage }[]
  /**
   * How far the module's rules were judged: `all` (every check of the rule book, swaps at their current quotes), or
   * `beforeRun` (the checks before the module's first call: a swap could not be quoted without a QuoterV2).
   */
  checked: "all" | "beforeRun"
  /**
   * The rule book's figures for the accepted plan (health after, amount moved and loss per sub-account), when `all`.
   * `feeUndecided` (review rr11h H3, rr11i H3-b): the plan is refused `ValueLossExceeded` when its fee-bearing pools pay
   * their fees out (`paidOut`, that refusal) and accepted when they keep them in the vault; the previews cannot tell the
   * two apart, so the figures are the retained model's (optimistic) and only the chain's execution decides:
   * `sendRebalance` always simulates such a plan before sending, whatever `callGasLimit` / `callGasMarginBps`. A
   * caller sending by other means simulates it first.
   */
  verdict?: (Extract<CheckRebalanceRulesReturnType, { ok: true }> & { feeUndecided?: true | undefined; paidOut?: RuleViolation | undefined }) | undefined
  /** What the rule book judged (chain state, balances, swap quotes), when `all`: to judge the plan again on it. */
  input?: CheckRebalanceRulesParameters | undefined
}

export type ValidateRebalanceErrorType =
  | UnknownChainErrorType
  | MalformedPlanErrorType
  | DuplicateSubAccountErrorType
  | ActionNotAllowedErrorType
  | AutomationPausedErrorType
  | KeeperNotAuthorizedErrorType
  | KeeperKeyExpiredErrorType
  | UnknownSubAccountErrorType
  | MixedLoanTokensErrorType
  | OracleCheckFailedErrorType
  | OracleAnswerOutOfBoundsErrorType
  | CooldownActiveErrorType
  | NoTriggerErrorType
  | PoolNotAllowedErrorType
  | PoolRoundTripErrorType
  | SwapRoundTripErrorType
  | PoolNotUsedErrorType
  | SwapNotUsedErrorType
  | SaleExceedsRepaymentErrorType
  | PurchaseExceedsSupplyErrorType
  | SubAccountUnchangedErrorType
  | SwapQuoteBelowMinimumErrorType
  | PoolUnhealthyErrorType
  | ActionFailedErrorType
  | IdleInflowErrorType
  | DepositNotFundedErrorType
  | HealthOutOfBandErrorType
  | HealthOutsideLandingZoneErrorType
  | HealthFurtherFromTargetErrorType
  | HealthCrossedTargetErrorType
  | NotDueMoveExceedsDistanceErrorType
  | NotDueGrowthErrorType
  | HealthDecreasedErrorType
  | AmountCapExceededErrorType
  | ValueLossExceededErrorType
  | EpochCapExceededErrorType
  | EpochLossBudgetExceededErrorType
  | PriceFeedReadErrorType
  | ReadFailedErrorType
  | SwapRouteRefusedErrorType
  | Error

/**
 * The SDK's named error for a verdict of the rule book (`checkRebalanceRules`): the module error of the same name and
 * arguments; `ActionFailed` carries why the modelled call fails.
 *
 * @returns The named error.
 */
export function toRuleError(error: RuleViolation): BaseError {
  if (error.name === "ActionFailed") return new ActionFailedError({ index: Number(error.args[0]), reason: "0x", detail: error.detail })
  return toModuleError({ errorName: error.name, args: error.args })
}

/**
 * Judges a plan before sending with the SDK's rule book (`checkRebalanceRules`, @levpilot/sdk/rules: the module's
 * checks in the module's order, in exact integers, differentially tested against the module), on chain state read at
 * the latest block in three multicalls: the Safe's automation config, keeper key, policies and epoch usage; each
 * sub-account's market state and price feed; each named pool's totals and the Safe's shares; the Safe's idle balances.
 * First what only validation checks (plan shape; pause flag; the keeper key registered in the current key generation,
 * not revoked, inside its window), then the module's checks before its first call (listing, oracles, cooldowns,
 * trigger, allowed actions, round trips, material use); then, with a QuoterV2 (`quoter` or the deployment's
 * `swapQuoter`), each swap's current quote against the minimum output the module computes from the oracle price and
 * `maxSlippageBps` ({@link SwapQuoteBelowMinimumError}), after checking each swap's route word on the module's swap
 * adapter (`routePools`: an allowed fee tier and hub, existing pools; {@link SwapRouteRefusedError} names the field); and, when every swap could be quoted (or the plan has none),
 * the rest of the rule book with each swap paying its quote: calls that would fail (balances, pool shares, the venue's
 * health check), unused pool withdrawals and idle inflows, the health rules, the amount caps, the loss per operation and
 * the epoch caps (gas at `executionGas`). Each swap is quoted on the pool as it is now, not after the plan's earlier
 * swaps; a venue's share rounding and liquidity, and interest accrued before inclusion, are left to the bundler's
 * simulation, whose revert is decoded into the same named errors.
 *
 * @param client - A keeper SmartAccountClient, or any client with `safe` and `keeper`.
 * @param parameters - {@link ValidateRebalanceParameters}
 * @returns The state the checks used, how far they went and the accepted plan's figures. {@link ValidateRebalanceReturnType}
 * @throws The module's named error the plan would revert with ({@link ValidateRebalanceErrorType}).
 * @example
 * const { checked, verdict } = await validateRebalance(keeperClient, { plan })
 */
export async function validateRebalance(
  client: Client<Transport, Chain | undefined, Account | undefined>,
  parameters: ValidateRebalanceParameters,
): Promise<ValidateRebalanceReturnType> {
  const { plan } = parameters
  const account = client.account as { kind?: unknown; safe?: Address; keeper?: Address } | undefined
  const safe = parameters.safe ?? (account?.kind === "leverageKeeper" ? account.safe : undefined)
  const keeper = parameters.keeper ?? (account?.kind === "leverageKeeper" ? account.keeper : undefined)
  if (!safe || !keeper) throw new AccountNotFoundError()
  assertPlanShape(plan)

  const reader = getReadClient(client)
  const { deployment } = await resolveLeverageDeployment(reader, parameters.deployments)
  const module = deployment.leverageModule
  const ids = plan.subAccounts
  const block = await getBlock(reader, { blockTag: "latest" })
  const at = block.number ?? undefined
  const read = (contracts: readonly ContractFunctionParameters[]): Promise<ReadResult[]> => readMany(reader, deployment, contracts, at)
  // The module's own reads never revert for a Safe: a failed entry is a failed read (ReadFailedError), never a value.
  const storedCalls: ContractFunctionParameters[] = [
    { address: module, abi: leverageModuleAbi, functionName: "getAutomationConfig", args: [safe] },
    { address: module, abi: leverageModuleAbi, functionName: "getKeeper", args: [safe, keeper] },
    { address: module, abi: leverageModuleAbi, functionName: "swapAdapter" },
    ...ids.map((id) => ({ address: module, abi: leverageModuleAbi, functionName: "getPolicy", args: [safe, id] }) as const),
    ...ids.map((id) => ({ address: module, abi: leverageModuleAbi, functionName: "getEpochUsage", args: [safe, id] }) as const),
    // The owner's stop-loss (docs/stop-loss-exit.md): an engaged stop changes the trigger, the band's top and boosts.
    ...ids.map((id) => stopLossCall(module, safe, id)),
  ]
  const stored = await read(storedCalls)
  const storedAt = <type>(k: number): type => requireResult<type>(stored[k], storedCalls[k] as ContractFunctionParameters)
  const timestamp = Number(block.timestamp)
  const config = storedAt<AutomationConfig>(0)
  const key = storedAt<KeeperKey>(1)
  if (config.paused) throw new AutomationPausedError({ safe })
  if (!key.active) throw new KeeperNotAuthorizedError({ keeper, reason: "The key is not registered for this Safe, or was revoked." })
  if (key.validUntil < timestamp) throw new KeeperKeyExpiredError({ keeper, validUntil: key.validUntil, now: timestamp })
  if (key.validAfter > timestamp)
    throw new KeeperNotAuthorizedError({ keeper, reason: `The key is valid only from ${new Date(key.validAfter * 1000).toISOString()}.` })
  const swapAdapter = storedAt<Address>(2)
  const policies = ids.map((_, i) => storedAt<Policy>(3 + i))
  const usages = ids.map((_, i) => storedAt<EpochUsage>(3 + ids.length + i))
  const stops = ids.map((_, i) => storedAt<{ stopPrice: bigint; exitHealth: bigint }>(3 + 2 * ids.length + i))
  const known = (i: number): boolean => policies[i] !== undefined && !isAddressEqual(policies[i].adapter, zeroAddress)

  // Market states and feeds of the listed sub-accounts (an unknown one is judged UnknownSubAccount on its policy), and
  // the named pools (one that is not an ERC-4626 pool is judged PoolNotAllowed on the policy).
  const poolAddresses = [...new Set(plan.actions.flatMap((a) => (a.pool !== undefined && a.pool !== zeroAddress ? [a.pool.toLowerCase()] : [])))] as Address[]
  const feeds = ids.map((_, i) => (known(i) && !isAddressEqual(policies[i]?.priceFeed ?? zeroAddress, zeroAddress) ? (policies[i] as Policy).priceFeed : undefined))
  const calls: ContractFunctionParameters[] = []
  const slot = (...added: ContractFunctionParameters[]): number => calls.push(...added) - added.length
  const stateAt = ids.map((_, i) => {
    if (!known(i)) return -1
    const { adapter, market } = policies[i] as Policy
    return slot(
      { address: adapter, abi: venueAdapterAbi, functionName: "marketState", args: [market, safe] },
      { address: adapter, abi: venueAdapterAbi, functionName: "maxRepayable", args: [market, safe] },
    )
  })
  const feedAt = feeds.map((feed) =>
    feed === undefined ? -1 : slot(...priceFeedCalls(feed)),
  )
  const poolAt = poolAddresses.map((pool) =>
    slot(
      { address: pool, abi: erc4626Abi, functionName: "asset" },
      { address: pool, abi: erc4626Abi, functionName: "totalAssets" },
      { address: pool, abi: erc4626Abi, functionName: "totalSupply" },
      { address: pool, abi: erc4626Abi, functionName: "balanceOf", args: [safe] },
    ),
  )
  const second = await read(calls)
  const states: (RuleMarketState | undefined)[] = ids.map((_, i) => {
    const state = second[stateAt[i] as number]
    if (state === undefined) return undefined
    if (state.status !== "success") throw state.error
    // What a repayment can clear (the module's Run.repayable): below the debt only on a venue with several debts (Aave).
    const repayable = requireResult<bigint>(second[(stateAt[i] as number) + 1], calls[(stateAt[i] as number) + 1] as ContractFunctionParameters)
    const result = state.result as MarketState
    return repayable === undefined || repayable >= result.debt ? result : { ...result, repayableDebt: repayable }
  })
  const feedReads = feeds.map((feed, i) => {
    if (feed === undefined) return undefined
    return priceFeedAnswerOf(ids[i] as Hex, feed, second[feedAt[i] as number], second[(feedAt[i] as number) + 1])
  })
  const pools = poolAddresses.flatMap((address, k) => {
    // A named address that does not answer `asset` is not an ERC-4626 pool (judged PoolNotAllowed); one that does must
    // answer the rest, or the read failed.
    const at0 = poolAt[k] as number
    const asset = resultOf<Address>(second[at0])
    if (asset === undefined) return []
    const [totalAssets, totalSupply, shares] = [1, 2, 3].map((j) => requireResult<bigint>(second[at0 + j], calls[at0 + j] as ContractFunctionParameters))
    return [{ address, asset: asset as Address, totalAssets: totalAssets as bigint, totalSupply: totalSupply as bigint, shares: shares as bigint }]
  })

  // Token decimals (feed scaling) and the Safe's idle balances of every token the plan can move.
  const tokens = [...new Set([...states.flatMap((s) => (s ? [s.loanToken.toLowerCase(), s.collateralToken.toLowerCase()] : [])), ...pools.map((p) => p.asset.toLowerCase())])] as Address[]
  // A market's or pool's tokens answer decimals and balanceOf: a failed entry is a failed read, not 0 decimals or balance.
  const thirdCalls: ContractFunctionParameters[] = [
    ...tokens.map((token) => ({ address: token, abi: erc20Abi, functionName: "decimals" }) as const),
    ...tokens.map((token) => ({ address: token, abi: erc20Abi, functionName: "balanceOf", args: [safe] }) as const),
    // Each pool's fees per side as the rule book models them (the keeper's snapshot reads the same, review rr11f F2,
    // rr11g G1).
    ...poolFeeCalls(pools),
  ]
  const third = await read(thirdCalls)
  // A side whose pair does not answer is judged fee-free on that side.
  poolFeesOf(pools, third.slice(2 * tokens.length)).forEach((fees, k) => Object.assign(pools[k] as RulePool, fees))
  const thirdAt = <type>(k: number): type => requireResult<type>(third[k], thirdCalls[k] as ContractFunctionParameters)
  const decimals = tokens.map((_, k) => thirdAt<number>(k))
  const decimalsOf = (token: Address): number => decimals[tokens.indexOf(token.toLowerCase() as Address)] ?? 0
  const balances = Object.fromEntries(tokens.map((token, k) => [token, thirdAt<bigint>(tokens.length + k)]))

  // Aave v3 sub-accounts: the Safe's balance of each one's collateral reserve (`collateralHeld`: its aToken balance, 0
  // when switched off as collateral), what a withdrawal of that reserve can take, and whether a supply to it counts as
  // collateral (`collateralEnabled`; the keeper's readAaveLimits reads the same).
  const aaveAdapter = deployment.adapters.aaveV3
  const aaveAt = ids.flatMap((_, i) => (states[i] !== undefined && aaveAdapter !== undefined && isAddressEqual((policies[i] as Policy).adapter, aaveAdapter) ? [i] : []))
  const held = await readAaveCollateral(reader, { deployment, safe, collaterals: aaveAt.map((i) => (states[i] as RuleMarketState).collateralToken), blockNumber: at, shared: parameters.aaveCollateral })
  aaveAt.forEach((i, k) => {
    // Aave's factor floors the account's average liquidation threshold: the rule book judges the health after as Aave does.
    states[i] = { ...(states[i] as RuleMarketState), thresholdFloored: true }
    const reserve = held[k]
    if (reserve !== undefined) states[i] = { ...(states[i] as RuleMarketState), collateralHeld: reserve.held, collateralEnabled: reserve.enabled, collateralWithdrawBlocked: reserve.withdrawBlocked }
    // Aave's base-currency figures the caller read at this block with the same frame: the rule book then reads Aave's
    // factor after the plan in Aave's own integer math (review r17f: accounts of a few USD misread a whole bps).
    const state = states[i] as RuleMarketState
    const base = parameters.aaveCollateral?.blockNumber === at ? parameters.aaveCollateral.base?.[state.collateralToken.toLowerCase()] : undefined
    if (base !== undefined && at !== undefined && base.frameCollateral === state.collateral) states[i] = { ...state, aaveBase: base }
  })

  const zeroState: MarketState = { loanToken: zeroAddress, collateralToken: zeroAddress, collateral: 0n, debt: 0n, price: 0n, lltv: 0n }
  const subAccounts: RuleSubAccount[] = ids.map((id, i) => {
    const state = states[i] ?? zeroState
    const feed = feedReads[i]
    return {
      id,
      policy: policies[i] as Policy,
      state,
      usage: usages[i] as EpochUsage,
      stop: stops[i],
      feed: feed === undefined ? undefined : { ...feed, loanDecimals: decimalsOf(state.loanToken), collateralDecimals: decimalsOf(state.collateralToken) },
    }
  })
  const rules: CheckRebalanceRulesParameters = {
    plan: toPlanStruct(plan),
    subAccounts,
    pools,
    balances,
    swapAdapter,
    timestamp: BigInt(timestamp),
    gasUsed: parameters.executionGas ?? 0n,
  }
  const prechecks = checkRebalancePrechecks(rules)
  if (!prechecks.ok) throw toRuleError(prechecks.error)

  // Every swap's route word on the module's swap adapter: the adapter's own refusal, decoded and named.
  const swaps = plan.actions.flatMap((action, index) => {
    if (action.kind !== "SellCollateral" && action.kind !== "BuyCollateral") return []
    const state = states[action.subAccount] as MarketState
    const [tokenIn, tokenOut] = action.kind === "SellCollateral" ? [state.collateralToken, state.loanToken] : [state.loanToken, state.collateralToken]
    return [{ index, action, tokenIn, tokenOut }]
  })
  const routes = await read(swaps.map(({ action, tokenIn, tokenOut }) => ({ address: swapAdapter, abi: uniswapV3SwapAdapterAbi, functionName: "routePools", args: [tokenIn, tokenOut, action.route] }) as const))
  swaps.forEach(({ index, action }, k) => {
    const routed = routes[k]
    if (routed?.status === "failure") throw swapRouteRefused(index, action.kind, action.route, routed.error)
  })

  const quoter = parameters.quoter ?? deployment.swapQuoter
  const swapOutputs: Record<number, bigint> = {}
  if (quoter !== undefined) {
    for (const [index, action] of plan.actions.entries()) {
      if (action.kind !== "SellCollateral" && action.kind !== "BuyCollateral") continue
      const state = states[action.subAccount] as MarketState
      const policy = policies[action.subAccount] as Policy
      const sell = action.kind === "SellCollateral"
      const [tokenIn, tokenOut] = sell ? [state.collateralToken, state.loanToken] : [state.loanToken, state.collateralToken]
      const { fairAmountOut, minAmountOut } = getSwapMinAmountOut({ sell, amountIn: action.amount, price: state.price, maxSlippageBps: policy.maxSlippageBps })
      const quoted = await quoteSwapRoute(reader, { quoter, swapAdapter, tokenIn, tokenOut, route: action.route, amountIn: action.amount, blockNumber: at }).catch((error: unknown) => {
        throw swapRouteRefused(index, action.kind, action.route, error)
      })
      if (quoted < minAmountOut)
        throw new SwapQuoteBelowMinimumError({ index, kind: action.kind, tokenIn, tokenOut, amountIn: action.amount, quoted, minAmountOut, fairAmountOut, maxSlippageBps: policy.maxSlippageBps, price: state.price })
      swapOutputs[index] = quoted
    }
  }
  let verdict: ValidateRebalanceReturnType["verdict"]
  let input: CheckRebalanceRulesParameters | undefined
  const checked = quoter !== undefined || !plan.actions.some((action) => isSwapAction(action.kind)) ? "all" : "beforeRun"
  if (checked === "all") {
    input = { ...rules, outcome: { swapOutputs } }
    // Never stricter than the module on a pool fee whose kind the previews cannot tell (review rr11h H3): a plan only a
    // paid-out fee refuses ValueLossExceeded is accepted with `feeUndecided`, and sendRebalance always simulates it.
    const judged = checkRebalanceRulesFeeLenient(input)
    if (!judged.ok) throw toRuleError(judged.error)
    verdict = judged
  }
  return {
    timestamp,
    config,
    key,
    checked,
    verdict,
    input,
    subAccounts: ids.map((subAccount, i) => {
      const state = states[i] as MarketState
      return { subAccount, policy: policies[i] as Policy, state, health: state.health ?? getSubAccountMetrics(state).health, epochUsage: usages[i] as EpochUsage }
    }),
  }
}

const routeFields: Record<string, "route" | "route.fee" | "route.hub"> = {
  FeeTierNotAllowed: "route.fee",
  PoolNotFound: "route.fee",
  UnknownHub: "route.hub",
  HubNotAllowed: "route.hub",
  MalformedRoute: "route",
  SameToken: "route",
}

/** The named error for a swap action whose route the adapter refuses (its revert decoded) or the quoter cannot quote. */
function swapRouteRefused(index: number, kind: Plan["actions"][number]["kind"], route: Hex, error: unknown): SwapRouteRefusedError {
  const cause = error instanceof Error ? error : undefined
  const reverted = firstInCauseChain(error, (e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | undefined
  const name = reverted?.data?.errorName
  if (name !== undefined && name in routeFields)
    return new SwapRouteRefusedError({ index, kind, route, field: routeFields[name] as "route", reason: `${name}(${(reverted?.data?.args ?? []).map(String).join(", ")})`, cause })
  return new SwapRouteRefusedError({ index, kind, route, field: "route", reason: `the quoter could not quote it: ${cause?.message.split("\n")[0] ?? String(error)}`, cause })
}
