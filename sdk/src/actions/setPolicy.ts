import { type Address, type Chain, type Client, type Hex, type Transport, encodeFunctionData, erc4626Abi, isAddressEqual, parseAbi, zeroAddress, zeroHash } from "viem"
import type { SmartAccount } from "viem/account-abstraction"
import { getCode, readContract } from "viem/actions"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import { morphoBlueAdapterAbi } from "../abis/morphoBlueAdapter.js"
import { venueAdapterAbi } from "../abis/venueAdapter.js"
import type { LeverageDeployment, LeverageDeployments } from "../constants/deployments.js"
import type { UnknownChainErrorType } from "../errors/deployments.js"
import {
  InvalidAdapterError,
  InvalidPolicyParameterError,
  InvalidPoolError,
  MinHealthBelowLiquidationIncentiveError,
  PoolAssetMismatchError,
  TargetHealthBelowBorrowReachError,
  UnknownMarketError,
  VenueAccountTakenError,
} from "../errors/policy.js"
import type {
  MinHealthBelowLiquidationIncentiveErrorType,
  MissingPriceFeedErrorType,
  DuplicatePoolErrorType,
  InvalidAdapterErrorType,
  InvalidHealthBandErrorType,
  InvalidPolicyParameterErrorType,
  InvalidPoolErrorType,
  PoolAssetMismatchErrorType,
  TargetHealthBelowBorrowReachErrorType,
  TooManyPoolsErrorType,
  UnknownMarketErrorType,
  VenueAccountTakenErrorType,
} from "../errors/policy.js"
import { type Policy, type PolicyInput, defaultFeedBounds } from "../types/leverage.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"
import { readMany, resultOf } from "../utils/multicall.js"
import { type OwnerCall, type OwnerLaneParameters, type OwnerLaneReturnType, getOwnerContext, sendOwnerCalls } from "../utils/ownerLane.js"
import { getSubAccountId } from "../utils/plan.js"
import { stopLossCapField } from "./setStopLoss.js"
import { InvalidStopLossError } from "../errors/policy.js"
import { MIN_BAND_GAP } from "../constants/module.js"
import { assertPolicyBounds, toPolicy } from "../utils/policy.js"

export type SetPolicyParameters<
  account extends SmartAccount | undefined = SmartAccount | undefined,
  accountOverride extends SmartAccount | undefined = SmartAccount | undefined,
> = OwnerLaneParameters<account, accountOverride> & {
  /** The sub-account's rules; optional fields get conservative defaults (see `toPolicy`). */
  policy: PolicyInput
  deployments?: LeverageDeployments | undefined
  /**
   * Whether to add `MorphoBlueAdapter.registerMarket(policy.market)` to the same owner batch when the policy's adapter
   * is the deployment's Morpho Blue adapter and the market has no code-stored params copy yet (default true). Once
   * registered, every keeper operation on the sub-account reads the params from one cold account (about 12,200 gas less
   * per cold operation, README "Gas"); the registration is paid once per market (a CREATE2 of 161 bytes plus
   * Morpho's market reads: eth_estimateGas 117,270 as its own transaction on the devnet, 21,000 of it the base fee) by whoever registers first and serves every Safe.
   */
  registerMarket?: boolean | undefined
}

export type SetPolicyReturnType = OwnerLaneReturnType & {
  /** keccak256(abi.encode(adapter, market)). */
  subAccount: Hex
  /** The policy struct sent. */
  policy: Policy
  /** Whether the batch also registered the Morpho market's params (`MorphoBlueAdapter.registerMarket`). */
  registersMarket: boolean
}

export type SetPolicyErrorType =
  | UnknownChainErrorType
  | InvalidAdapterErrorType
  | UnknownMarketErrorType
  | InvalidHealthBandErrorType
  | InvalidPolicyParameterErrorType
  | TooManyPoolsErrorType
  | InvalidPoolErrorType
  | DuplicatePoolErrorType
  | PoolAssetMismatchErrorType
  | MinHealthBelowLiquidationIncentiveErrorType
  | TargetHealthBelowBorrowReachErrorType
  | MissingPriceFeedErrorType
  | VenueAccountTakenErrorType
  | Error

/**
 * Sets (or replaces) the policy of one sub-account of the Safe. Before sending, it runs every check of the module's
 * `setPolicy`: the band, bounds and pools locally, then in one multicall that the adapter is the module's, the market
 * exists, minHealth is at least the venue's liquidation incentive factor, a policy allowing boosts has its targetHealth
 * at least the venue's `minBorrowHealth` for the Safe (the lowest health a borrow reaches: on Aave the Safe's account's
 * average liquidation threshold / average LTV, the market collateral's own without collateral) and
 * each pool's asset is the market's loan or collateral token; then that no other policy of the Safe covers the same venue account (`IVenueAdapter.accountKey`:
 * every market id of one Aave pool is one account). It also requires a second price feed unless
 * `policy.allowNoPriceFeed` is set.
 *
 * On the deployment's Morpho Blue adapter it reads whether the market's params are registered
 * (`paramsPointer(market)` has code) and, if not, sends `registerMarket(market)` before `setPolicy` in the same owner
 * batch (UserOperation batch or Safe MultiSend), so a second `setPolicy` on the market sends no registration
 * ({@link SetPolicyParameters.registerMarket} turns this off). If someone else registers the market between the read
 * and the inclusion, the batch reverts with `MarketRegistrationFailed` (nothing changes); calling again skips it.
 *
 * @param client - A SmartAccountClient of the Safe, or any client with `protocolKit`.
 * @param parameters - {@link SetPolicyParameters}
 * @returns What was sent and the sub-account id. {@link SetPolicyReturnType}
 * @example
 * const { subAccount } = await setPolicy(safeClient, {
 *   policy: { market, minHealth: parseEther("1.2"), targetHealth: parseEther("1.4"), maxHealth: parseEther("1.7"), ... },
 *   deployments,
 * })
 */
export async function setPolicy<account extends SmartAccount | undefined, accountOverride extends SmartAccount | undefined = undefined>(
  client: Client<Transport, Chain | undefined, account>,
  parameters: SetPolicyParameters<account, accountOverride>,
): Promise<SetPolicyReturnType> {
  const { safe, reader } = await getOwnerContext(client, parameters as OwnerLaneParameters)
  const { deployment } = await resolveLeverageDeployment(reader, parameters.deployments)
  const policy = toPolicy(parameters.policy, deployment)
  assertPolicyBounds(policy, { safe, module: deployment.leverageModule, allowNoPriceFeed: parameters.policy.allowNoPriceFeed })

  const [isAdapter, isMarket, incentive, borrowReach, tokens, accountKey, subAccounts, ...assets] = await readMany(reader, deployment, [
    { address: deployment.leverageModule, abi: leverageModuleAbi, functionName: "isAdapter", args: [policy.adapter] },
    { address: policy.adapter, abi: venueAdapterAbi, functionName: "isMarket", args: [policy.market] },
    { address: policy.adapter, abi: venueAdapterAbi, functionName: "liquidationIncentiveFactor", args: [policy.market] },
    { address: policy.adapter, abi: venueAdapterAbi, functionName: "minBorrowHealth", args: [policy.market, safe] },
    { address: policy.adapter, abi: venueAdapterAbi, functionName: "marketTokens", args: [policy.market] },
    { address: policy.adapter, abi: venueAdapterAbi, functionName: "accountKey", args: [policy.market] },
    { address: deployment.leverageModule, abi: leverageModuleAbi, functionName: "getSubAccounts", args: [safe] },
    ...policy.pools.map((pool) => ({ address: pool, abi: erc4626Abi, functionName: "asset" })),
  ])
  if (resultOf<boolean>(isAdapter) !== true) throw new InvalidAdapterError({ adapter: policy.adapter })
  if (resultOf<boolean>(isMarket) !== true) throw new UnknownMarketError({ adapter: policy.adapter, market: policy.market })
  const liquidationIncentiveFactor = resultOf<bigint>(incentive)
  if (liquidationIncentiveFactor !== undefined && policy.minHealth < liquidationIncentiveFactor)
    throw new MinHealthBelowLiquidationIncentiveError({ minHealth: policy.minHealth, liquidationIncentiveFactor })
  // The module's check: a boost can only aim where the venue lends (Aave refuses a borrow above LTV, "36").
  const minBorrowHealth = policy.boostAllowed ? resultOf<bigint>(borrowReach) : undefined
  if (minBorrowHealth !== undefined && policy.targetHealth < minBorrowHealth)
    throw new TargetHealthBelowBorrowReachError({ targetHealth: policy.targetHealth, minBorrowHealth })
  const marketTokens = resultOf<readonly [Address, Address]>(tokens)
  if (marketTokens) {
    const [loanToken, collateralToken] = marketTokens
    policy.pools.forEach((pool, i) => {
      const address = resultOf<Address>(assets[i])
      if (!address) throw new InvalidPoolError({ pool })
      if (!isAddressEqual(address, loanToken) && !isAddressEqual(address, collateralToken)) throw new PoolAssetMismatchError({ pool, asset: address })
    })
  }

  const subAccount = getSubAccountId({ adapter: policy.adapter, market: policy.market })
  const existing = await findVenueAccountHolder(reader, deployment, {
    safe,
    subAccount,
    accountKey: resultOf<Hex>(accountKey),
    subAccounts: resultOf<readonly Hex[]>(subAccounts) ?? [],
  })
  if (existing !== undefined) throw new VenueAccountTakenError({ subAccount, existing })
  // The module re-checks a set stop against the new policy (OwnerControlsLib.checkStopPolicy; review rr13t T2).
  if (resultOf<readonly Hex[]>(subAccounts)?.some((id) => id.toLowerCase() === subAccount.toLowerCase())) {
    const stop = await readContract(reader, { address: deployment.leverageModule, abi: leverageModuleAbi, functionName: "getStopLoss", args: [safe, subAccount] })
    if (stop.exitHealth !== 0n) {
      const field = stop.exitHealth < policy.maxHealth + MIN_BAND_GAP ? "exitHealth" : stopLossCapField(policy)
      if (field !== undefined) throw new InvalidStopLossError({ field })
    }
  }

  if (policy.priceFeed !== zeroAddress && (parameters.policy.minFeedAnswer === undefined || parameters.policy.maxFeedAnswer === undefined)) {
    const bounds = completeFeedBounds(parameters.policy, await readDefaultFeedBounds(reader, deployment, policy.priceFeed))
    policy.minFeedAnswer = bounds.minFeedAnswer
    policy.maxFeedAnswer = bounds.maxFeedAnswer
  }

  const registration = parameters.registerMarket === false ? undefined : await getMorphoMarketRegistrationCall(reader, deployment, policy)
  const data = encodeFunctionData({ abi: leverageModuleAbi, functionName: "setPolicy", args: [policy] })
  const sent = await sendOwnerCalls(client as Client<Transport, Chain | undefined, SmartAccount | undefined>, {
    ...(parameters as OwnerLaneParameters),
    calls: registration ? [registration, { to: safe, data }] : [{ to: safe, data }],
  })
  return { ...sent, subAccount, policy, registersMarket: registration !== undefined }
}

/**
 * The call that registers a Morpho Blue market's params at the adapter (`MorphoBlueAdapter.registerMarket(market)`,
 * which stores them as code at `paramsPointer(market)`), or `undefined` when there is nothing to register: the adapter
 * is not the deployment's Morpho Blue adapter (Aave has no params to store), or `paramsPointer(market)` already has code.
 * The call is permissionless and changes no params (the adapter checks the copy hashes to the market id); it only
 * saves gas on later reads (README "Gas", SECURITY.md row 120).
 *
 * @param scope.adapter - The policy's venue adapter.
 * @param scope.market - Morpho market id, `keccak256(abi.encode(MarketParams))`.
 * @returns A call for the owner batch (`value` 0), or `undefined`.
 * @throws Whatever the RPC read throws (the pointer read or `eth_getCode`); an adapter without `paramsPointer` (an
 *   older deployment) yields `undefined`, not an error.
 */
export async function getMorphoMarketRegistrationCall(
  reader: Client<Transport, Chain | undefined>,
  deployment: Pick<LeverageDeployment, "adapters" | "multicall3">,
  { adapter, market }: { adapter: Address; market: Hex },
): Promise<OwnerCall | undefined> {
  if (!isAddressEqual(adapter, deployment.adapters.morphoBlue)) return undefined
  const [read] = await readMany(reader, deployment, [{ address: adapter, abi: morphoBlueAdapterAbi, functionName: "paramsPointer", args: [market] }])
  const pointer = resultOf<Address>(read)
  if (pointer === undefined) return undefined
  const code = await getCode(reader, { address: pointer })
  if (code !== undefined && code !== "0x") return undefined
  return { to: adapter, data: encodeFunctionData({ abi: morphoBlueAdapterAbi, functionName: "registerMarket", args: [market] }) }
}

/**
 * The Safe's other sub-account whose policy covers the venue account `accountKey` (what the module's `setPolicy` refuses
 * with `VenueAccountTaken`): reads each other policy's adapter and market, then their adapters' `accountKey`, in two
 * multicalls (none when the Safe has no other policy).
 *
 * @param parameters.accountKey - `IVenueAdapter.accountKey` of the new policy's market (undefined: not read, no check).
 * @returns The holder's sub-account id, or `undefined` when the account is free.
 */
async function findVenueAccountHolder(
  reader: Client<Transport, Chain | undefined>,
  deployment: Pick<LeverageDeployment, "leverageModule" | "multicall3">,
  { safe, subAccount, accountKey, subAccounts }: { safe: Address; subAccount: Hex; accountKey: Hex | undefined; subAccounts: readonly Hex[] },
): Promise<Hex | undefined> {
  const others = subAccounts.filter((id) => id.toLowerCase() !== subAccount.toLowerCase())
  if (accountKey === undefined || others.length === 0) return undefined
  const policies = await readMany(
    reader,
    deployment,
    others.map((id) => ({ address: deployment.leverageModule, abi: leverageModuleAbi, functionName: "getPolicy", args: [safe, id] })),
  )
  const scopes = policies.map((read) => resultOf<{ adapter: Address; market: Hex }>(read))
  const keys = await readMany(
    reader,
    deployment,
    scopes.map((scope) => ({ address: scope?.adapter ?? zeroAddress, abi: venueAdapterAbi, functionName: "accountKey", args: [scope?.market ?? zeroHash] })),
  )
  const index = keys.findIndex((read) => resultOf<Hex>(read)?.toLowerCase() === accountKey.toLowerCase())
  return index < 0 ? undefined : others[index]
}

export type { Policy }

const feedAbi = parseAbi([
  "function latestRoundData() view returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)",
  "function aggregator() view returns (address)",
])
const aggregatorAbi = parseAbi(["function minAnswer() view returns (int192)", "function maxAnswer() view returns (int192)"])

/**
 * Each feed bound the policy leaves out is taken from `defaults` ({@link readDefaultFeedBounds}); a bound the policy
 * gives is kept, so giving only one never leaves the other at 0 (no floor, or no ceiling).
 *
 * @param given - The policy's `minFeedAnswer` / `maxFeedAnswer`, feed units (undefined: not given).
 * @param defaults - The bounds to fill in, feed units; both 0 when the feed answered nothing positive
 *   ({@link readDefaultFeedBounds}).
 * @returns Both bounds, feed units.
 * @throws {InvalidPolicyParameterError} naming the bound the policy gave when the result has a ceiling at or below its
 *   floor, or naming a missing bound when the feed answered nothing positive (a zero, negative or reverting feed gives
 *   no default, and a bound of 0 would silently mean none).
 */
export function completeFeedBounds(
  given: { minFeedAnswer?: bigint | undefined; maxFeedAnswer?: bigint | undefined },
  defaults: { minFeedAnswer: bigint; maxFeedAnswer: bigint },
): { minFeedAnswer: bigint; maxFeedAnswer: bigint } {
  if (defaults.minFeedAnswer === 0n && defaults.maxFeedAnswer === 0n && (given.minFeedAnswer === undefined || given.maxFeedAnswer === undefined)) {
    throw new InvalidPolicyParameterError({
      parameter: given.minFeedAnswer === undefined ? "minFeedAnswer" : "maxFeedAnswer",
      reason: "The price feed answers nothing positive now (zero, negative or reverting), so no default bound can be derived and 0 would mean no bound: give minFeedAnswer and maxFeedAnswer (feed units) explicitly.",
    })
  }
  const minFeedAnswer = given.minFeedAnswer ?? defaults.minFeedAnswer
  const maxFeedAnswer = given.maxFeedAnswer ?? defaults.maxFeedAnswer
  if (maxFeedAnswer !== 0n && maxFeedAnswer <= minFeedAnswer) {
    const parameter = given.minFeedAnswer === undefined ? "maxFeedAnswer" : "minFeedAnswer"
    const filled = given.minFeedAnswer === undefined ? `default floor ${minFeedAnswer}` : `default ceiling ${maxFeedAnswer}`
    throw new InvalidPolicyParameterError({
      parameter,
      reason: `With the feed's ${filled}, the ceiling ${maxFeedAnswer} is not above the floor ${minFeedAnswer}.`,
    })
  }
  return { minFeedAnswer, maxFeedAnswer }
}

/**
 * The feed bounds `setPolicy` uses when the policy gives none ({@link defaultFeedBounds}): the aggregator's clamp
 * (`aggregator().minAnswer()` / `maxAnswer()`) when the feed exposes it, else `factor` below and above its latest answer.
 *
 * @returns `{ minFeedAnswer, maxFeedAnswer }` in the feed's units; both 0 (no bounds) when the feed answers nothing positive.
 */
export async function readDefaultFeedBounds(
  reader: Client<Transport, Chain | undefined>,
  deployment: Pick<LeverageDeployment, "multicall3">,
  feed: Address,
): Promise<{ minFeedAnswer: bigint; maxFeedAnswer: bigint }> {
  const [round, aggregator] = await readMany(reader, deployment, [
    { address: feed, abi: feedAbi, functionName: "latestRoundData" },
    { address: feed, abi: feedAbi, functionName: "aggregator" },
  ])
  const source = resultOf<Address>(aggregator)
  if (source !== undefined && source !== zeroAddress) {
    const [min, max] = await readMany(reader, deployment, [
      { address: source, abi: aggregatorAbi, functionName: "minAnswer" },
      { address: source, abi: aggregatorAbi, functionName: "maxAnswer" },
    ])
    const minAnswer = resultOf<bigint>(min)
    const maxAnswer = resultOf<bigint>(max)
    if (minAnswer !== undefined && maxAnswer !== undefined && maxAnswer > minAnswer && minAnswer >= 0n)
      return { minFeedAnswer: minAnswer, maxFeedAnswer: maxAnswer }
  }
  const answer = resultOf<readonly [bigint, bigint, bigint, bigint, bigint]>(round)?.[1] ?? 0n
  if (answer <= 0n) return { minFeedAnswer: 0n, maxFeedAnswer: 0n }
  return { minFeedAnswer: answer / defaultFeedBounds.factor, maxFeedAnswer: answer * defaultFeedBounds.factor }
}
