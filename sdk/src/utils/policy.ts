import { type Address, zeroAddress } from "viem"
import type { LeverageDeployment } from "../constants/deployments.js"
import { maxPolicyPools } from "../constants/keeper.js"
import { BPS as BPS_BIGINT, MAX_SLIPPAGE_BPS, MIN_BAND_GAP, WAD } from "../constants/module.js"
import {
  DuplicatePoolError,
  InvalidAdapterError,
  InvalidHealthBandError,
  InvalidPolicyParameterError,
  InvalidPoolError,
  MissingPriceFeedError,
  TooManyPoolsError,
} from "../errors/policy.js"
import { type Policy, type PolicyInput, defaultMaxEpochLossBps, defaultMaxOracleDeviationBps } from "../types/leverage.js"

const BPS = Number(BPS_BIGINT)

/**
 * Fills a {@link PolicyInput}'s optional fields (adapter = the deployment's Morpho Blue adapter, no cooldown, no boost,
 * maxEpochLossBps {@link defaultMaxEpochLossBps}, no feed bounds (`setPolicy` fills them from the feed), maxOracleDeviationBps
 * {@link defaultMaxOracleDeviationBps} with a feed, no pools, no in-band rescue) into the module's `Policy` struct. It does not check the
 * result: {@link assertPolicyBounds} does (a feed is required unless `allowNoPriceFeed`).
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
    maxEpochLossBps: input.maxEpochLossBps ?? defaultMaxEpochLossBps,
    maxRebalancesPerEpoch: input.maxRebalancesPerEpoch,
    maxOracleDeviationBps: input.maxOracleDeviationBps ?? (input.priceFeed ? defaultMaxOracleDeviationBps : 0),
    boostAllowed: input.boostAllowed ?? false,
    maxSlippageBps: input.maxSlippageBps ?? 0,
    maxAmountPerRebalance: input.maxAmountPerRebalance,
    maxAmountPerEpoch: input.maxAmountPerEpoch,
    minFeedAnswer: input.minFeedAnswer ?? 0n,
    maxFeedAnswer: input.maxFeedAnswer ?? 0n,
    pools: input.pools ?? [],
    rescueBelowTarget: input.rescueBelowTarget ?? false,
  }
}

/**
 * The checks of `LeverageModule.setPolicy` that need no chain state, in the module's order: adapter non-zero, band
 * (1 <= min, MIN_BAND_GAP from the target to each edge), maxLossBps, maxEpochLossBps, epochLength, maxOracleDeviationBps,
 * feed bounds, maxOracleAge with a feed, pool count, zero / self / duplicate pools; then the SDK's own rule: a second
 * price feed unless `allowNoPriceFeed`. The liquidation-incentive floor of minHealth needs the venue (`setPolicy` reads it).
 *
 * @throws {InvalidAdapterError} {@link InvalidHealthBandError} {@link InvalidPolicyParameterError} {@link TooManyPoolsError} {@link InvalidPoolError} {@link DuplicatePoolError} {@link MissingPriceFeedError}
 */
export function assertPolicyBounds(
  policy: Policy,
  { safe, module, allowNoPriceFeed = false }: { safe?: Address | undefined; module?: Address | undefined; allowNoPriceFeed?: boolean | undefined } = {},
): void {
  if (policy.adapter === zeroAddress) throw new InvalidAdapterError({ adapter: policy.adapter })
  const { minHealth, targetHealth, maxHealth } = policy
  if (minHealth < WAD || targetHealth < minHealth + MIN_BAND_GAP || maxHealth < targetHealth + MIN_BAND_GAP)
    throw new InvalidHealthBandError({ minHealth, targetHealth, maxHealth })
  if (policy.maxLossBps > BPS) throw new InvalidPolicyParameterError({ parameter: "maxLossBps", reason: `${policy.maxLossBps} is above 10000.` })
  if (policy.maxEpochLossBps > BPS)
    throw new InvalidPolicyParameterError({ parameter: "maxEpochLossBps", reason: `${policy.maxEpochLossBps} is above 10000.` })
  if (policy.maxSlippageBps > Number(MAX_SLIPPAGE_BPS))
    throw new InvalidPolicyParameterError({ parameter: "maxSlippageBps", reason: `${policy.maxSlippageBps} is above ${MAX_SLIPPAGE_BPS}.` })
  if (policy.epochLength === 0) throw new InvalidPolicyParameterError({ parameter: "epochLength", reason: "An epoch must last at least one second." })
  if (policy.maxOracleDeviationBps > BPS)
    throw new InvalidPolicyParameterError({ parameter: "maxOracleDeviationBps", reason: `${policy.maxOracleDeviationBps} is above 10000.` })
  if (policy.priceFeed === zeroAddress) {
    if (policy.minFeedAnswer !== 0n || policy.maxFeedAnswer !== 0n)
      throw new InvalidPolicyParameterError({ parameter: "minFeedAnswer", reason: "Feed bounds need a price feed." })
  } else {
    if (policy.maxOracleAge === 0) throw new InvalidPolicyParameterError({ parameter: "maxOracleAge", reason: "A price feed needs a maximum age." })
    if (policy.maxFeedAnswer !== 0n && policy.maxFeedAnswer <= policy.minFeedAnswer)
      throw new InvalidPolicyParameterError({ parameter: "maxFeedAnswer", reason: "The ceiling must be above the floor (or 0 for none)." })
  }
  if (policy.pools.length > maxPolicyPools) throw new TooManyPoolsError({ count: policy.pools.length, max: maxPolicyPools })
  const seen = new Set<string>()
  for (const pool of policy.pools) {
    const lower = pool.toLowerCase()
    if (pool === zeroAddress || lower === safe?.toLowerCase() || lower === module?.toLowerCase()) throw new InvalidPoolError({ pool })
    if (seen.has(lower)) throw new DuplicatePoolError({ pool })
    seen.add(lower)
  }
  if (policy.priceFeed === zeroAddress && !allowNoPriceFeed) throw new MissingPriceFeedError({ market: policy.market })
}
