import { type Address, zeroAddress } from "viem"
import type { LeverageDeployment } from "../constants/deployments.js"
import { maxPolicyPools } from "../constants/keeper.js"
import {
  DuplicatePoolError,
  InvalidAdapterError,
  InvalidHealthBandError,
  InvalidPolicyParameterError,
  InvalidPoolError,
  TooManyPoolsError,
} from "../errors/policy.js"
import type { Policy, PolicyInput } from "../types/leverage.js"

const WAD = 10n ** 18n
const BPS = 10_000

/**
 * Fills a {@link PolicyInput}'s optional fields (adapter = the deployment's Morpho Blue adapter, no cooldown,
 * no boost, no second price feed, no pools) into the module's `Policy` struct.
 *
 * @returns The policy struct for `setPolicy`.
 */
export function toPolicy(input: PolicyInput, deployment: Pick<LeverageDeployment, "adapters">): Policy {
  return {
    adapter: input.adapter ?? deployment.adapters.morphoBlue,
    minHealth: input.minHealth,
    cooldown: input.cooldown ?? 0,
    market: input.market,
    priceFeed: input.priceFeed ?? zeroAddress,
    targetHealth: input.targetHealth,
    epochLength: input.epochLength,
    maxHealth: input.maxHealth,
    maxGasPerEpoch: input.maxGasPerEpoch,
    maxOracleAge: input.maxOracleAge ?? 0,
    maxLossBps: input.maxLossBps,
    maxRebalancesPerEpoch: input.maxRebalancesPerEpoch,
    maxOracleDeviationBps: input.maxOracleDeviationBps ?? 0,
    boostAllowed: input.boostAllowed ?? false,
    maxAmountPerRebalance: input.maxAmountPerRebalance,
    maxAmountPerEpoch: input.maxAmountPerEpoch,
    pools: input.pools ?? [],
  }
}

/**
 * The checks of `LeverageModule.setPolicy` that need no chain state, in the module's order: adapter non-zero,
 * band, maxLossBps, epochLength, maxOracleDeviationBps, maxOracleAge with a feed, pool count, zero / self / duplicate pools.
 *
 * @throws {InvalidAdapterError} {@link InvalidHealthBandError} {@link InvalidPolicyParameterError} {@link TooManyPoolsError} {@link InvalidPoolError} {@link DuplicatePoolError}
 */
export function assertPolicyBounds(policy: Policy, { safe, module }: { safe?: Address | undefined; module?: Address | undefined } = {}): void {
  if (policy.adapter === zeroAddress) throw new InvalidAdapterError({ adapter: policy.adapter })
  const { minHealth, targetHealth, maxHealth } = policy
  if (minHealth < WAD || minHealth >= maxHealth || targetHealth < minHealth || targetHealth > maxHealth)
    throw new InvalidHealthBandError({ minHealth, targetHealth, maxHealth })
  if (policy.maxLossBps > BPS) throw new InvalidPolicyParameterError({ parameter: "maxLossBps", reason: `${policy.maxLossBps} is above 10000.` })
  if (policy.epochLength === 0) throw new InvalidPolicyParameterError({ parameter: "epochLength", reason: "An epoch must last at least one second." })
  if (policy.maxOracleDeviationBps > BPS)
    throw new InvalidPolicyParameterError({ parameter: "maxOracleDeviationBps", reason: `${policy.maxOracleDeviationBps} is above 10000.` })
  if (policy.priceFeed !== zeroAddress && policy.maxOracleAge === 0)
    throw new InvalidPolicyParameterError({ parameter: "maxOracleAge", reason: "A price feed needs a maximum age." })
  if (policy.pools.length > maxPolicyPools) throw new TooManyPoolsError({ count: policy.pools.length, max: maxPolicyPools })
  const seen = new Set<string>()
  for (const pool of policy.pools) {
    const lower = pool.toLowerCase()
    if (pool === zeroAddress || lower === safe?.toLowerCase() || lower === module?.toLowerCase()) throw new InvalidPoolError({ pool })
    if (seen.has(lower)) throw new DuplicatePoolError({ pool })
    seen.add(lower)
  }
}
