import { type Address, type Chain, type Client, type Hex, type Transport, encodeFunctionData, erc4626Abi, isAddressEqual } from "viem"
import type { SmartAccount } from "viem/account-abstraction"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import { venueAdapterAbi } from "../abis/venueAdapter.js"
import type { LeverageDeployments } from "../constants/deployments.js"
import type { UnknownChainErrorType } from "../errors/deployments.js"
import {
  InvalidAdapterError,
  InvalidPoolError,
  MinHealthBelowLiquidationIncentiveError,
  PoolAssetMismatchError,
  UnknownMarketError,
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
  TooManyPoolsErrorType,
  UnknownMarketErrorType,
} from "../errors/policy.js"
import type { Policy, PolicyInput } from "../types/leverage.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"
import { readMany, resultOf } from "../utils/multicall.js"
import { type OwnerLaneParameters, type OwnerLaneReturnType, getOwnerContext, sendOwnerCalls } from "../utils/ownerLane.js"
import { getSubAccountId } from "../utils/plan.js"
import { assertPolicyBounds, toPolicy } from "../utils/policy.js"

export type SetPolicyParameters<
  account extends SmartAccount | undefined = SmartAccount | undefined,
  accountOverride extends SmartAccount | undefined = SmartAccount | undefined,
> = OwnerLaneParameters<account, accountOverride> & {
  /** The sub-account's rules; optional fields get conservative defaults (see `toPolicy`). */
  policy: PolicyInput
  deployments?: LeverageDeployments | undefined
}

export type SetPolicyReturnType = OwnerLaneReturnType & {
  /** keccak256(abi.encode(adapter, market)). */
  subAccount: Hex
  /** The policy struct sent. */
  policy: Policy
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
  | MissingPriceFeedErrorType
  | Error

/**
 * Sets (or replaces) the policy of one sub-account of the Safe. Before sending, it runs every check of the module's
 * `setPolicy`: the band, bounds and pools locally, then in one multicall that the adapter is the module's, the market
 * exists, minHealth is at least the venue's liquidation incentive factor and each pool's asset is the market's loan or
 * collateral token. It also requires a second price feed unless `policy.allowNoPriceFeed` is set.
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

  const [isAdapter, isMarket, incentive, tokens, ...assets] = await readMany(reader, deployment, [
    { address: deployment.leverageModule, abi: leverageModuleAbi, functionName: "isAdapter", args: [policy.adapter] },
    { address: policy.adapter, abi: venueAdapterAbi, functionName: "isMarket", args: [policy.market] },
    { address: policy.adapter, abi: venueAdapterAbi, functionName: "liquidationIncentiveFactor", args: [policy.market] },
    { address: policy.adapter, abi: venueAdapterAbi, functionName: "marketTokens", args: [policy.market] },
    ...policy.pools.map((pool) => ({ address: pool, abi: erc4626Abi, functionName: "asset" })),
  ])
  if (resultOf<boolean>(isAdapter) !== true) throw new InvalidAdapterError({ adapter: policy.adapter })
  if (resultOf<boolean>(isMarket) !== true) throw new UnknownMarketError({ adapter: policy.adapter, market: policy.market })
  const liquidationIncentiveFactor = resultOf<bigint>(incentive)
  if (liquidationIncentiveFactor !== undefined && policy.minHealth < liquidationIncentiveFactor)
    throw new MinHealthBelowLiquidationIncentiveError({ minHealth: policy.minHealth, liquidationIncentiveFactor })
  const marketTokens = resultOf<readonly [Address, Address]>(tokens)
  if (marketTokens) {
    const [loanToken, collateralToken] = marketTokens
    policy.pools.forEach((pool, i) => {
      const address = resultOf<Address>(assets[i])
      if (!address) throw new InvalidPoolError({ pool })
      if (!isAddressEqual(address, loanToken) && !isAddressEqual(address, collateralToken)) throw new PoolAssetMismatchError({ pool, asset: address })
    })
  }

  const data = encodeFunctionData({ abi: leverageModuleAbi, functionName: "setPolicy", args: [policy] })
  const sent = await sendOwnerCalls(client as Client<Transport, Chain | undefined, SmartAccount | undefined>, {
    ...(parameters as OwnerLaneParameters),
    calls: [{ to: safe, data }],
  })
  return { ...sent, subAccount: getSubAccountId({ adapter: policy.adapter, market: policy.market }), policy }
}

export type { Policy }
