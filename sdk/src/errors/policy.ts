import { type Address, BaseError, type Hex } from "viem"
import { formatWad } from "../utils/format.js"

type Cause = { cause?: Error | undefined }

export type InvalidAdapterErrorType = InvalidAdapterError & { name: "InvalidAdapterError" }
/** The policy names an adapter the module was not deployed with (module error `InvalidAdapter`). */
export class InvalidAdapterError extends BaseError {
  adapter: Address
  constructor({ adapter, cause }: { adapter: Address } & Cause) {
    super(`Adapter ${adapter} is not one of the module's venue adapters.`, {
      cause,
      metaMessages: ["This could arise when:", "- the adapter address is from another deployment or chain;", "- the adapter field was left zero."],
      name: "InvalidAdapterError",
    })
    this.adapter = adapter
  }
}

export type UnknownMarketErrorType = UnknownMarketError & { name: "UnknownMarketError" }
/** The venue does not know the policy's market (module error `UnknownMarket`). */
export class UnknownMarketError extends BaseError {
  market: Hex
  constructor({ adapter, market, cause }: { adapter: Address; market: Hex } & Cause) {
    super(`Market ${market} does not exist on the venue of adapter ${adapter}.`, {
      cause,
      metaMessages: ["This could arise when:", "- the market id was computed from different MarketParams;", "- the market has not been created yet."],
      name: "UnknownMarketError",
    })
    this.market = market
  }
}

export type InvalidHealthBandErrorType = InvalidHealthBandError & { name: "InvalidHealthBandError" }
/** The band is not 1 <= minHealth, minHealth + MIN_BAND_GAP <= targetHealth <= maxHealth - MIN_BAND_GAP (module error `InvalidHealthBand`). */
export class InvalidHealthBandError extends BaseError {
  constructor({ minHealth, targetHealth, maxHealth, cause }: { minHealth: bigint; targetHealth: bigint; maxHealth: bigint } & Cause) {
    super("The policy's health band is invalid.", {
      cause,
      metaMessages: [
        `minHealth ${formatWad(minHealth)}, targetHealth ${formatWad(targetHealth)}, maxHealth ${formatWad(maxHealth)}`,
        "The module requires 1.0 <= minHealth, minHealth + 0.01 <= targetHealth <= maxHealth - 0.01 (WAD, 1e18 = 1.0; MIN_BAND_GAP).",
        "This could arise when:",
        "- health values were given as plain numbers instead of WAD (use parseEther('1.2'));",
        "- min and max were swapped;",
        "- the target sits on a band edge (a triggered sub-account must land half way to it, so it needs room).",
      ],
      name: "InvalidHealthBandError",
    })
  }
}

export type InvalidPolicyParameterErrorType = InvalidPolicyParameterError & { name: "InvalidPolicyParameterError" }
/** A policy field is out of range (module error `InvalidPolicyParameter`). */
export class InvalidPolicyParameterError extends BaseError {
  parameter: string
  constructor({ parameter, reason, cause }: { parameter: string; reason?: string | undefined } & Cause) {
    super(`The policy parameter "${parameter}" is invalid.`, {
      cause,
      metaMessages: [
        ...(reason ? [reason] : []),
        "The module requires maxLossBps <= 10000, maxOracleDeviationBps <= 10000, epochLength > 0, and maxOracleAge > 0 when a price feed is set.",
      ],
      name: "InvalidPolicyParameterError",
    })
    this.parameter = parameter
  }
}

/** The fields `InvalidStopLoss(field)` names: the stop's own, or an epoch cap whose stop exit share would be 0. */
export type StopLossField = "stopPrice" | "exitHealth" | "maxRebalancesPerEpoch" | "maxAmountPerEpoch" | "maxGasPerEpoch"
/** The policy's epoch caps a stop needs at least 2 of (RebalanceLib `_checkStopExitShare` halves them). */
export const STOP_CAP_FIELDS: readonly StopLossField[] = ["maxRebalancesPerEpoch", "maxAmountPerEpoch", "maxGasPerEpoch"]

export type InvalidStopLossErrorType = InvalidStopLossError & { name: "InvalidStopLossError" }
/** A stop-loss field is out of range (module error `InvalidStopLoss(field)`, docs/stop-loss-exit.md). */
export class InvalidStopLossError extends BaseError {
  field: StopLossField
  constructor({ field, cause }: { field: StopLossField } & Cause) {
    super(
      STOP_CAP_FIELDS.includes(field)
        ? `A stop-loss needs the policy's "${field}" to be at least 2: a stop exit may spend half of each epoch cap (floor(cap / 2)), so with 1 every exit reverts.`
        : `The stop-loss field "${field}" is invalid.`,
      {
      cause,
      metaMessages: [
        "The module requires both zero (no stop), or stopPrice > 0 (venue oracle units, 1e36-scaled) and maxHealth + MIN_BAND_GAP <= exitHealth <= MAX_EXIT_HEALTH (WAD), and maxRebalancesPerEpoch, maxAmountPerEpoch (loan base units) and maxGasPerEpoch of at least 2 (review rr13t T2).",
      ],
      name: "InvalidStopLossError",
      },
    )
    this.field = field
  }
}

export type TooManyPoolsErrorType = TooManyPoolsError & { name: "TooManyPoolsError" }
/** More than 8 pools (module error `TooManyPools`). */
export class TooManyPoolsError extends BaseError {
  constructor({ count, max, cause }: { count: number | bigint; max: number | bigint } & Cause) {
    super(`The policy lists ${count} pools; at most ${max} are allowed.`, { cause, name: "TooManyPoolsError" })
  }
}

export type InvalidPoolErrorType = InvalidPoolError & { name: "InvalidPoolError" }
/** A pool is zero, the Safe, the module, or has no code (module error `InvalidPool`). */
export class InvalidPoolError extends BaseError {
  pool: Address
  constructor({ pool, cause }: { pool: Address } & Cause) {
    super(`Pool ${pool} is not a valid ERC-4626 pool for this policy.`, {
      cause,
      metaMessages: ["This could arise when:", "- the pool is the zero address, the Safe or the module;", "- no contract is deployed at that address on this chain."],
      name: "InvalidPoolError",
    })
    this.pool = pool
  }
}

export type DuplicatePoolErrorType = DuplicatePoolError & { name: "DuplicatePoolError" }
/** A pool is listed twice (module error `DuplicatePool`). */
export class DuplicatePoolError extends BaseError {
  constructor({ pool, cause }: { pool: Address } & Cause) {
    super(`Pool ${pool} is listed more than once.`, { cause, name: "DuplicatePoolError" })
  }
}

export type PoolAssetMismatchErrorType = PoolAssetMismatchError & { name: "PoolAssetMismatchError" }
/** A pool's asset is neither the market's loan nor collateral token (module error `PoolAssetMismatch`). */
export class PoolAssetMismatchError extends BaseError {
  pool: Address
  asset: Address
  constructor({ pool, asset, cause }: { pool: Address; asset: Address } & Cause) {
    super(`Pool ${pool} holds ${asset}, which is neither the market's loan token nor its collateral token.`, {
      cause,
      metaMessages: ["This could arise when:", "- the pool belongs to another market;", "- a vault of a wrapped or bridged variant of the token was chosen."],
      name: "PoolAssetMismatchError",
    })
    this.pool = pool
    this.asset = asset
  }
}

export type UnknownSubAccountErrorType = UnknownSubAccountError & { name: "UnknownSubAccountError" }
/** The Safe has no policy for the sub-account (module error `UnknownSubAccount`). */
export class UnknownSubAccountError extends BaseError {
  subAccount: Hex
  constructor({ subAccount, cause }: { subAccount: Hex } & Cause) {
    super(`The Safe has no policy for sub-account ${subAccount}.`, {
      cause,
      metaMessages: ["This could arise when:", "- the policy was removed;", "- the id was computed with another adapter or market (id = keccak256(abi.encode(adapter, market)))."],
      name: "UnknownSubAccountError",
    })
    this.subAccount = subAccount
  }
}

export type VenueAccountTakenErrorType = VenueAccountTakenError & { name: "VenueAccountTakenError" }
/**
 * Another of the Safe's policies already covers the venue account the new policy names (module error
 * `VenueAccountTaken`): every market id of one Aave pool is the same cross-margined account, through any adapter.
 */
export class VenueAccountTakenError extends BaseError {
  subAccount: Hex
  existing: Hex
  constructor({ subAccount, existing, cause }: { subAccount: Hex; existing: Hex } & Cause) {
    super(`Sub-account ${subAccount} names the same venue account as the Safe's policy for sub-account ${existing}.`, {
      cause,
      metaMessages: [
        "The module keeps at most one policy per venue account (IVenueAdapter.accountKey): two would each count the whole account's health, equity and losses.",
        "This could arise when:",
        "- a second Aave market id (another collateral or debt reserve, or e-mode category) of the same pool was given a policy;",
        "- the same account was named through a second adapter on the same pool (or Morpho Blue contract).",
        `Replace the existing policy instead (same adapter and market), or remove it first (removePolicy ${existing}).`,
      ],
      name: "VenueAccountTakenError",
    })
    this.subAccount = subAccount
    this.existing = existing
  }
}

export type PolicyStoreFailedErrorType = PolicyStoreFailedError & { name: "PolicyStoreFailedError" }
/**
 * setPolicy could not create the contract that stores the policy as code (module error `PolicyStoreFailed`; issue 15:
 * each policy is the runtime code of a data contract the module creates): nothing was stored.
 */
export class PolicyStoreFailedError extends BaseError {
  constructor({ cause }: Cause = {}) {
    super("The module could not create the contract that stores the policy; nothing was stored.", {
      cause,
      metaMessages: ["This could arise when:", "- the transaction ran out of gas during the creation (about 71,000 gas, 6,400 more per pool): raise its gas limit and send it again."],
      name: "PolicyStoreFailedError",
    })
  }
}

export type NotCalledBySafeErrorType = NotCalledBySafeError & { name: "NotCalledBySafeError" }
/** A configuration call did not come from the Safe itself (module error `NotCalledBySafe`). */
export class NotCalledBySafeError extends BaseError {
  constructor({ caller, cause }: { caller: Address } & Cause) {
    super(`Configuration must be called by the Safe on itself; the caller was ${caller}.`, {
      cause,
      metaMessages: ["This could arise when:", "- the call was sent to the module instead of to the Safe (to = Safe address);", "- the module is not the Safe's fallback handler."],
      name: "NotCalledBySafeError",
    })
  }
}

export type MinHealthBelowLiquidationIncentiveErrorType = MinHealthBelowLiquidationIncentiveError & {
  name: "MinHealthBelowLiquidationIncentiveError"
}
/** minHealth is below the venue's liquidation incentive factor (module error `MinHealthBelowLiquidationIncentive`). */
export class MinHealthBelowLiquidationIncentiveError extends BaseError {
  minHealth: bigint
  liquidationIncentiveFactor: bigint
  constructor({ minHealth, liquidationIncentiveFactor, cause }: { minHealth: bigint; liquidationIncentiveFactor: bigint } & Cause) {
    super(`minHealth ${formatWad(minHealth)} is below the market's liquidation incentive factor ${formatWad(liquidationIncentiveFactor)}.`, {
      cause,
      metaMessages: [
        "A keeper could lever the position to where one price tick liquidates it.",
        "Morpho Blue: LIF = min(1.15, 1 / (1 - 0.3 (1 - LLTV))), e.g. 1.0438 at LLTV 86%. Raise minHealth to at least that.",
      ],
      name: "MinHealthBelowLiquidationIncentiveError",
    })
    this.minHealth = minHealth
    this.liquidationIncentiveFactor = liquidationIncentiveFactor
  }
}

export type TargetHealthBelowBorrowReachErrorType = TargetHealthBelowBorrowReachError & {
  name: "TargetHealthBelowBorrowReachError"
}
/**
 * A policy that allows boosts has a targetHealth below the lowest health a borrow can reach on its market for the Safe
 * (module error `TargetHealthBelowBorrowReach`; the adapter's `minBorrowHealth(market, safe)`, WAD: on Aave v3 the Safe's
 * account's average liquidation threshold / average LTV over all its collaterals, or without collateral the market
 * collateral reserve's own (its e-mode category's when in it), max at LTV 0; Morpho Blue: 1).
 */
export class TargetHealthBelowBorrowReachError extends BaseError {
  targetHealth: bigint
  minBorrowHealth: bigint
  constructor({ targetHealth, minBorrowHealth, cause }: { targetHealth: bigint; minBorrowHealth: bigint } & Cause) {
    const reach = minBorrowHealth === 2n ** 256n - 1n ? "unbounded (the venue lends nothing against this collateral: LTV 0)" : formatWad(minBorrowHealth)
    super(`targetHealth ${formatWad(targetHealth)} is below the lowest health a borrow can reach on the market, ${reach}.`, {
      cause,
      metaMessages: [
        "Aave v3 refuses a borrow above the account's LTV (COLLATERAL_CANNOT_COVER_NEW_BORROW, \"36\"), so a boost to this target would be refused every time.",
        "Raise targetHealth to at least the account's liquidation threshold / LTV (e.g. 78% / 73% = 1.0685 for an account holding only WBTC; the value-weighted averages with several collaterals), or set boostAllowed false.",
      ],
      name: "TargetHealthBelowBorrowReachError",
    })
    this.targetHealth = targetHealth
    this.minBorrowHealth = minBorrowHealth
  }
}

export type MissingPriceFeedErrorType = MissingPriceFeedError & { name: "MissingPriceFeedError" }
/** The policy has no second price feed and the caller did not opt out (`allowNoPriceFeed: true`). SDK check. */
export class MissingPriceFeedError extends BaseError {
  constructor({ market }: { market: Hex }) {
    super(`The policy for market ${market} has no second price feed.`, {
      metaMessages: [
        "Without a feed the module checks only that the venue price is non-zero: no freshness, no bounds, no cross-check.",
        "Set `priceFeed` (a Chainlink-style aggregator of the collateral in the loan token) with `maxOracleAge`, and",
        "`minFeedAnswer` / `maxFeedAnswer` (the aggregator's minAnswer / maxAnswer) so a feed pinned at a bound is refused;",
        "or pass `allowNoPriceFeed: true` to accept the venue oracle alone.",
      ],
      name: "MissingPriceFeedError",
    })
  }
}

export type InvalidSponsorErrorType = InvalidSponsorError & { name: "InvalidSponsorError" }
/** The paymaster listed as a sponsor is the zero address (module error `InvalidSponsor`). */
export class InvalidSponsorError extends BaseError {
  constructor({ paymaster, cause }: { paymaster: Address } & Cause) {
    super(`Paymaster ${paymaster} cannot be listed as a sponsor.`, { cause, name: "InvalidSponsorError" })
  }
}
