import { type Account, type Address, type Chain, type Client, type Hex, type Transport, zeroAddress } from "viem"
import { readContract } from "viem/actions"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import { venueAdapterAbi } from "../abis/venueAdapter.js"
import type { LeverageDeployments } from "../constants/deployments.js"
import { AccountNotFoundError, type UnknownChainErrorType } from "../errors/deployments.js"
import { UnknownSubAccountError, type UnknownSubAccountErrorType } from "../errors/policy.js"
import type { EpochUsage, Policy } from "../types/leverage.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"
import { type MarketState, type SubAccountMetrics, getBandPosition, getSubAccountMetrics } from "../utils/health.js"
import { readMany, resultOf } from "../utils/multicall.js"
import { getDefaultSafe, getReadClient } from "../utils/reader.js"

export type GetSubAccountStateParameters = {
  /** The Safe; the client's smart account by default. */
  safe?: Address | undefined
  /** Only these sub-accounts; every sub-account with a policy by default. */
  subAccounts?: readonly Hex[] | undefined
  deployments?: LeverageDeployments | undefined
}

/** One sub-account: its policy, venue position, epoch usage and derived risk metrics. */
export type SubAccountState = MarketState &
  SubAccountMetrics & {
    subAccount: Hex
    policy: Policy
    epochUsage: EpochUsage
    /** Where health sits against the policy band: "below" and, with boostAllowed, "above" let a keeper act. */
    band: "below" | "inside" | "above"
  }

export type GetSubAccountStateReturnType = SubAccountState[]

export type GetSubAccountStateErrorType = UnknownChainErrorType | UnknownSubAccountErrorType | Error

/**
 * Reads every sub-account of the Safe (or the given ones) with its policy, position and risk metrics: health, LTV,
 * effective leverage, liquidation price and distance to liquidation (docs/policy-rules.md). Reads are batched per
 * dependency level: the sub-account list, then one multicall of policies and epoch usage, then one multicall of the
 * adapters' market states (Multicall3 when the chain has one, else viem's deployless multicall).
 *
 * @param client - Any client of the chain (a SmartAccountClient reads through its account's public client).
 * @param parameters - {@link GetSubAccountStateParameters}
 * @returns One entry per sub-account. {@link GetSubAccountStateReturnType}
 * @example
 * const [weth] = await getSubAccountState(publicClient, { safe, deployments })
 * console.log(formatEther(weth.health), formatEther(weth.leverage))
 */
export async function getSubAccountState(
  client: Client<Transport, Chain | undefined, Account | undefined>,
  parameters: GetSubAccountStateParameters = {},
): Promise<GetSubAccountStateReturnType> {
  const reader = getReadClient(client)
  const safe = getDefaultSafe(client, parameters.safe)
  if (!safe) throw new AccountNotFoundError()
  const { deployment } = await resolveLeverageDeployment(reader, parameters.deployments)
  const module = deployment.leverageModule
  const ids =
    parameters.subAccounts ?? (await readContract(reader, { address: module, abi: leverageModuleAbi, functionName: "getSubAccounts", args: [safe] }))
  if (ids.length === 0) return []

  const stored = await readMany(reader, deployment, [
    ...ids.map((id) => ({ address: module, abi: leverageModuleAbi, functionName: "getPolicy", args: [safe, id] }) as const),
    ...ids.map((id) => ({ address: module, abi: leverageModuleAbi, functionName: "getEpochUsage", args: [safe, id] }) as const),
  ])
  const policies = ids.map((id, i) => {
    const policy = resultOf<Policy>(stored[i])
    if (!policy || policy.adapter === zeroAddress) throw new UnknownSubAccountError({ subAccount: id })
    return policy
  })
  const states = await readMany(
    reader,
    deployment,
    policies.map((policy) => ({ address: policy.adapter, abi: venueAdapterAbi, functionName: "marketState", args: [policy.market, safe] }) as const),
  )
  return ids.map((subAccount, i) => {
    const policy = policies[i] as Policy
    const read = states[i]
    if (read?.status !== "success") throw read?.error ?? new UnknownSubAccountError({ subAccount })
    const state = read.result as MarketState
    const metrics = getSubAccountMetrics(state)
    return {
      subAccount,
      policy,
      epochUsage: resultOf<EpochUsage>(stored[ids.length + i]) as EpochUsage,
      ...state,
      ...metrics,
      band: getBandPosition({ health: metrics.health, minHealth: policy.minHealth, maxHealth: policy.maxHealth }),
    }
  })
}
