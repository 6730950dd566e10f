import { type Account, type Address, BaseError, type Chain, type Client, ContractFunctionRevertedError, type Hex, type Transport, isAddressEqual, zeroAddress } from "viem"
import { getBlock } from "viem/actions"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import { uniswapV3SwapAdapterAbi } from "../abis/uniswapV3SwapAdapter.js"
import { venueAdapterAbi } from "../abis/venueAdapter.js"
import type { LeverageDeployments } from "../constants/deployments.js"
import { AccountNotFoundError, type UnknownChainErrorType } from "../errors/deployments.js"
import {
  AutomationPausedError,
  type AutomationPausedErrorType,
  KeeperKeyExpiredError,
  type KeeperKeyExpiredErrorType,
  KeeperNotAuthorizedError,
  type KeeperNotAuthorizedErrorType,
} from "../errors/keeper.js"
import {
  ActionNotAllowedError,
  type ActionNotAllowedErrorType,
  CooldownActiveError,
  type CooldownActiveErrorType,
  type DuplicateSubAccountErrorType,
  type MalformedPlanErrorType,
  MixedLoanTokensError,
  type MixedLoanTokensErrorType,
  NoTriggerError,
  type NoTriggerErrorType,
  PoolNotAllowedError,
  type PoolNotAllowedErrorType,
  PoolNotUsedError,
  type PoolNotUsedErrorType,
  PoolRoundTripError,
  type PoolRoundTripErrorType,
  SubAccountUnchangedError,
  type SubAccountUnchangedErrorType,
  SwapNotUsedError,
  EpochLossBudgetExceededError,
  type EpochLossBudgetExceededErrorType,
  SwapQuoteBelowMinimumError,
  type SwapQuoteBelowMinimumErrorType,
  SwapRouteRefusedError,
  type SwapRouteRefusedErrorType,
  type SwapNotUsedErrorType,
  SwapRoundTripError,
  type SwapRoundTripErrorType,
} from "../errors/plan.js"
import { UnknownSubAccountError, type UnknownSubAccountErrorType } from "../errors/policy.js"
import type { AutomationConfig, EpochUsage, KeeperKey, Plan, Policy } from "../types/leverage.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"
import { type MarketState, getSubAccountMetrics } from "../utils/health.js"
import { readMany, resultOf } from "../utils/multicall.js"
import { assertPlanShape, isPoolAction, isSwapAction } from "../utils/plan.js"
import { getReadClient } from "../utils/reader.js"
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
   * default. With one, every swap action is quoted (eth_call) and refused with `SwapQuoteBelowMinimumError` when the
   * quote is below the module's minimum output; without one, swaps are left to the bundler's simulation.
   */
  quoter?: Address | undefined
}

export type ValidateRebalanceReturnType = {
  /** Chain time the checks used (latest block). */
  timestamp: number
  config: AutomationConfig
  key: KeeperKey
  subAccounts: { subAccount: Hex; policy: Policy; state: MarketState; health: bigint; epochUsage: EpochUsage }[]
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
  | PoolNotAllowedErrorType
  | MixedLoanTokensErrorType
  | CooldownActiveErrorType
  | NoTriggerErrorType
  | PoolRoundTripErrorType
  | PoolNotUsedErrorType
  | SubAccountUnchangedErrorType
  | SwapNotUsedErrorType
  | SwapRoundTripErrorType
  | SwapQuoteBelowMinimumErrorType
  | SwapRouteRefusedErrorType
  | EpochLossBudgetExceededErrorType
  | Error

/**
 * Checks a plan against everything the module checks before it moves funds, with chain state read in two
 * multicalls: plan shape; pause flag; the keeper key (registered in the current key generation, not revoked, inside its
 * window at the latest block); each sub-account has a policy; pool actions use that policy's pools; no Borrow /
 * WithdrawCollateral without boostAllowed (a WithdrawCollateral inside a RepayWithCallback of the same sub-account is a
 * swap deleverage and allowed); swaps only with a module swap adapter and a non-zero maxSlippageBps, BuyCollateral only
 * with boostAllowed; no pool both withdrawn from and deposited into, no collateral both sold and bought; every pool
 * action and swap serves, and every listed sub-account has, a venue action; one loan token; cooldowns; and the trigger
 * (a listed sub-account outside its band); with a QuoterV2 (`quoter` or the deployment's `swapQuoter`), each swap's
 * current quote against the minimum output the module computes from the oracle price and `maxSlippageBps`
 * ({@link SwapQuoteBelowMinimumError}: a swap too large for the pool's depth, or a pool moved off the oracle, is
 * refused before sending). Each swap is quoted on the pool as it is now, not after the plan's earlier swaps. Every
 * swap's route word is checked against the module's swap adapter (`routePools`: an allowed fee tier and hub, existing
 * pools; {@link SwapRouteRefusedError} names the field). The per-epoch loss budget: for every listed sub-account, the
 * loss its epoch has recorded (`getEpochUsage`, when the epoch is the current one) plus the plan's estimated loss (its
 * swaps' fee and impact at the current quotes: oracle value minus quote, in loan units), in parts per billion of the
 * sub-account's equity, must stay within `maxEpochLossBps` ({@link EpochLossBudgetExceededError}); without a quoter a
 * swap's loss is left to the simulation. Other post-conditions (landing zone, target, caps, loss per operation, pool
 * rounding) are left to the bundler's simulation, whose revert is decoded into the same named errors.
 *
 * @param client - A keeper SmartAccountClient, or any client with `safe` and `keeper`.
 * @param parameters - {@link ValidateRebalanceParameters}
 * @returns The state the checks used. {@link ValidateRebalanceReturnType}
 * @example
 * await validateRebalance(keeperClient, { plan })
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
  const [block, stored] = await Promise.all([
    getBlock(reader, { blockTag: "latest" }),
    readMany(reader, deployment, [
      { address: module, abi: leverageModuleAbi, functionName: "getAutomationConfig", args: [safe] },
      { address: module, abi: leverageModuleAbi, functionName: "getKeeper", args: [safe, keeper] },
      { address: module, abi: leverageModuleAbi, functionName: "swapAdapter" },
      ...ids.map((id) => ({ address: module, abi: leverageModuleAbi, functionName: "getPolicy", args: [safe, id] }) as const),
      ...ids.map((id) => ({ address: module, abi: leverageModuleAbi, functionName: "getEpochUsage", args: [safe, id] }) as const),
    ]),
  ])
  const timestamp = Number(block.timestamp)
  const config = resultOf<AutomationConfig>(stored[0]) as AutomationConfig
  const key = resultOf<KeeperKey>(stored[1]) as KeeperKey
  if (config.paused) throw new AutomationPausedError({ safe })
  if (!key.active) throw new KeeperNotAuthorizedError({ keeper, reason: "The key is not registered for this Safe, or was revoked." })
  if (key.validUntil < timestamp) throw new KeeperKeyExpiredError({ keeper, validUntil: key.validUntil, now: timestamp })
  if (key.validAfter > timestamp)
    throw new KeeperNotAuthorizedError({ keeper, reason: `The key is valid only from ${new Date(key.validAfter * 1000).toISOString()}.` })

  const policies = ids.map((id, i) => {
    const policy = resultOf<Policy>(stored[3 + i])
    if (!policy || policy.adapter === zeroAddress) throw new UnknownSubAccountError({ subAccount: id })
    return policy
  })
  const swapAdapter = (resultOf<Address>(stored[2]) ?? zeroAddress) as Address
  let repayCallbackOf = -1
  plan.actions.forEach((action, index) => {
    const policy = policies[action.subAccount] as Policy
    const id = ids[action.subAccount] as Hex
    if (action.kind === "EndCallback") repayCallbackOf = -1
    else if (action.kind === "RepayWithCallback") repayCallbackOf = action.subAccount
    if (isPoolAction(action.kind)) {
      const pool = action.pool ?? zeroAddress
      if (!policy.pools.some((allowed) => isAddressEqual(allowed, pool))) throw new PoolNotAllowedError({ subAccount: id, pool })
    } else if (isSwapAction(action.kind)) {
      if (swapAdapter === zeroAddress) throw new ActionNotAllowedError({ index, kind: action.kind, reason: "The module was deployed without a swap adapter." })
      if (policy.maxSlippageBps === 0) throw new ActionNotAllowedError({ index, kind: action.kind, reason: "The policy does not allow swaps (maxSlippageBps is 0)." })
      if (action.kind === "BuyCollateral" && !policy.boostAllowed)
        throw new ActionNotAllowedError({ index, kind: action.kind, reason: "The policy does not allow boosting (boostAllowed is false)." })
    } else if (
      !policy.boostAllowed &&
      (action.kind === "Borrow" || (action.kind === "WithdrawCollateral" && repayCallbackOf !== action.subAccount))
    )
      throw new ActionNotAllowedError({ index, kind: action.kind, reason: "The policy does not allow boosting (boostAllowed is false)." })
  })
  const acted = new Set(
    plan.actions.filter((action) => !isPoolAction(action.kind) && !isSwapAction(action.kind) && action.kind !== "EndCallback").map((action) => action.subAccount),
  )
  plan.actions.forEach((action, index) => {
    if (!isPoolAction(action.kind)) return
    const pool = action.pool ?? zeroAddress
    const opposite = plan.actions.slice(0, index).some((other) => isPoolAction(other.kind) && other.kind !== action.kind && isAddressEqual(other.pool ?? zeroAddress, pool))
    if (opposite) throw new PoolRoundTripError({ pool })
  })
  for (const action of plan.actions) {
    if (acted.has(action.subAccount)) continue
    if (isPoolAction(action.kind)) throw new PoolNotUsedError({ subAccount: ids[action.subAccount] as Hex, pool: action.pool ?? zeroAddress })
    if (isSwapAction(action.kind)) throw new SwapNotUsedError({ subAccount: ids[action.subAccount] as Hex })
  }
  ids.forEach((subAccount, i) => {
    if (!acted.has(i)) throw new SubAccountUnchangedError({ subAccount })
  })

  const states = await readMany(
    reader,
    deployment,
    policies.map((policy) => ({ address: policy.adapter, abi: venueAdapterAbi, functionName: "marketState", args: [policy.market, safe] }) as const),
  )
  let triggered = false
  const subAccounts = ids.map((subAccount, i) => {
    const policy = policies[i] as Policy
    const read = states[i]
    if (read?.status !== "success") throw read?.error ?? new UnknownSubAccountError({ subAccount })
    const state = read.result as MarketState
    const first = states[0]?.result as MarketState
    if (!isAddressEqual(state.loanToken, first.loanToken)) throw new MixedLoanTokensError({ expected: first.loanToken, actual: state.loanToken })
    const epochUsage = resultOf<EpochUsage>(stored[3 + ids.length + i]) as EpochUsage
    const lastRebalance = BigInt(epochUsage.lastRebalance)
    const readyAt = lastRebalance + BigInt(policy.cooldown)
    if (lastRebalance !== 0n && BigInt(timestamp) < readyAt) throw new CooldownActiveError({ subAccount, readyAt })
    const { health } = getSubAccountMetrics(state)
    if (health < policy.minHealth || (policy.boostAllowed && health > policy.maxHealth)) triggered = true
    return { subAccount, policy, state, health, epochUsage }
  })
  plan.actions.forEach((action, index) => {
    if (!isSwapAction(action.kind)) return
    const collateralToken = subAccounts[action.subAccount]?.state.collateralToken as Address
    const opposite = plan.actions
      .slice(0, index)
      .some((other) => isSwapAction(other.kind) && other.kind !== action.kind && isAddressEqual(subAccounts[other.subAccount]?.state.collateralToken ?? zeroAddress, collateralToken))
    if (opposite) throw new SwapRoundTripError({ collateralToken })
  })
  if (!triggered) throw new NoTriggerError()
  const swaps = plan.actions.flatMap((action, index) => {
    if (action.kind !== "SellCollateral" && action.kind !== "BuyCollateral") return []
    const { state, policy } = subAccounts[action.subAccount] as (typeof subAccounts)[number]
    const sell = action.kind === "SellCollateral"
    const [tokenIn, tokenOut] = sell ? [state.collateralToken, state.loanToken] : [state.loanToken, state.collateralToken]
    return [{ index, action, state, policy, sell, tokenIn, tokenOut }]
  })
  const routes = await readMany(
    reader,
    deployment,
    swaps.map(({ action, tokenIn, tokenOut }) => ({ address: swapAdapter, abi: uniswapV3SwapAdapterAbi, functionName: "routePools", args: [tokenIn, tokenOut, action.route] }) as const),
  )
  swaps.forEach(({ index, action }, k) => {
    const read = routes[k]
    if (read?.status === "failure") throw swapRouteRefused(index, action.kind, action.route, read.error)
  })
  const quoter = parameters.quoter ?? deployment.swapQuoter
  // The plan's estimated loss (loan units, the module's pre-trade prices): each swap's oracle value minus its quote.
  let loss = 0n
  if (quoter !== undefined) {
    for (const { index, action, state, policy, sell, tokenIn, tokenOut } of swaps) {
      const { fairAmountOut, minAmountOut } = getSwapMinAmountOut({ sell, amountIn: action.amount, price: state.price, maxSlippageBps: policy.maxSlippageBps })
      const quoted = await quoteSwapRoute(reader, { quoter, swapAdapter, tokenIn, tokenOut, route: action.route, amountIn: action.amount, blockNumber: block.number ?? undefined }).catch(
        (error: unknown) => {
          throw swapRouteRefused(index, action.kind, action.route, error)
        },
      )
      if (quoted < minAmountOut)
        throw new SwapQuoteBelowMinimumError({ index, kind: action.kind, tokenIn, tokenOut, amountIn: action.amount, quoted, minAmountOut, fairAmountOut, maxSlippageBps: policy.maxSlippageBps, price: state.price })
      const short = fairAmountOut > quoted ? fairAmountOut - quoted : 0n
      loss += sell ? short : (short * state.price) / 10n ** 36n
    }
  }
  for (const { subAccount, policy, state, epochUsage } of subAccounts) {
    const spent = BigInt(epochUsage.epoch) === BigInt(timestamp) / BigInt(policy.epochLength) ? BigInt(epochUsage.lossPpb) : 0n
    const equity = (state.collateral * state.price) / 10n ** 36n - state.debt
    const planPpb = loss === 0n ? 0n : equity <= 0n ? 2n ** 32n - 1n : (loss * 1_000_000_000n + equity - 1n) / equity
    const budgetPpb = BigInt(policy.maxEpochLossBps) * 100_000n
    if (spent + planPpb > budgetPpb) throw new EpochLossBudgetExceededError({ subAccount, lossPpb: spent + planPpb, budgetPpb, spentPpb: spent, planPpb })
  }
  return { timestamp, config, key, subAccounts }
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
  const reverted = error instanceof BaseError ? (error.walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null) : null
  const name = reverted?.data?.errorName
  if (name !== undefined && name in routeFields)
    return new SwapRouteRefusedError({ index, kind, route, field: routeFields[name] as "route", reason: `${name}(${(reverted?.data?.args ?? []).map(String).join(", ")})`, cause })
  return new SwapRouteRefusedError({ index, kind, route, field: "route", reason: `the quoter could not quote it: ${cause?.message.split("\n")[0] ?? String(error)}`, cause })
}
