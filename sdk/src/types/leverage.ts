import type { Address, ContractFunctionName, ContractFunctionReturnType, Hex } from "viem"
import type { leverageModuleAbi } from "../abis/leverageModule.js"

type Output<name extends ContractFunctionName<typeof leverageModuleAbi, "view">> = ContractFunctionReturnType<
  typeof leverageModuleAbi,
  "view",
  name
>

/** A sub-account policy exactly as the module stores it (`Policy` struct). Health values are WAD. */
export type Policy = Output<"getPolicy">
/** The automation lane settings of a Safe (`AutomationConfig` struct). */
export type AutomationConfig = Output<"getAutomationConfig">
/** What keeper operations without a paymaster may charge the Safe per epoch (`SelfPayBudget` struct). */
export type SelfPayBudget = Output<"getSelfPayBudget">
/** A keeper session key registered by a Safe (`KeeperKey` struct). */
export type KeeperKey = Output<"getKeeper">
/** Cumulative use of a sub-account's epoch caps (`EpochUsage` struct). */
export type EpochUsage = Output<"getEpochUsage">

/** Action kinds in ABI order (`ActionKind` enum). */
export const actionKinds = [
  "WithdrawFromPool",
  "DepositToPool",
  "SupplyCollateral",
  "WithdrawCollateral",
  "Borrow",
  "Repay",
  "SellCollateral",
  "BuyCollateral",
  "RepayWithCallback",
  "SupplyCollateralWithCallback",
  "EndCallback",
] as const
export type ActionKind = (typeof actionKinds)[number]
/** Actions that move funds between the Safe and an ERC-4626 pool of the sub-account's policy. */
export type PoolActionKind = "WithdrawFromPool" | "DepositToPool"
/**
 * Exact-input swaps of the sub-account's own tokens through the module's swap adapter: `SellCollateral` (collateral for
 * the loan token), `BuyCollateral` (the reverse; boostAllowed only). The module sets the minimum output from the oracle
 * and `maxSlippageBps`; the Safe is the recipient.
 */
export type SwapActionKind = "SellCollateral" | "BuyCollateral"
/**
 * Venue actions whose venue calls the Safe back (Morpho Blue `onMorphoRepay` / `onMorphoSupplyCollateral`); the actions
 * after one, up to the next `EndCallback`, run inside that callback (one level, never empty).
 */
export type CallbackActionKind = "RepayWithCallback" | "SupplyCollateralWithCallback"
/** Actions on the venue position itself; they carry no pool. */
export type VenueActionKind = Exclude<ActionKind, PoolActionKind | SwapActionKind | "EndCallback">

/**
 * One step of a plan. `subAccount` indexes `Plan.subAccounts`; only pool actions name a pool; a swap names a `route`
 * (the swap adapter's bytes32 route word, e.g. `encodeUniswapRoute`, carried in the ABI's `pool` field); `EndCallback`
 * closes a callback block and has a zero amount. Amounts are base units: a swap's is its exact input.
 */
export type PlanAction =
  | { kind: PoolActionKind; subAccount: number; pool: Address; amount: bigint }
  | {
      kind: VenueActionKind
      subAccount: number
      pool?: undefined
      amount: bigint
      /**
       * A `RepayWithCallback` only (issue 13): `"sale-minimum"` makes the module repay `amount` plus the on-chain minimum
       * output of each `SellCollateral` of the same sub-account inside the block, computed from the oracle at inclusion
       * (the ABI carries it as the word `REPAY_PLUS_SALE_MINIMUMS` in `pool`); `amount` is then only what the plan
       * brings besides its sales (idle loan token, pool withdrawals, donors' borrows; may be 0). `"amount"` or absent:
       * the callback repays `amount` exactly.
       */
      repayment?: "amount" | "sale-minimum" | undefined
    }
  | { kind: SwapActionKind; subAccount: number; route: Hex; pool?: undefined; amount: bigint }
  | { kind: "EndCallback"; subAccount: number; pool?: undefined; amount: 0n }

/** A keeper's proposal: the sub-accounts it touches (ids) and the ordered actions. */
export type Plan = { subAccounts: readonly Hex[]; actions: readonly PlanAction[] }

/**
 * Policy fields with conservative defaults for the optional ones; see `toPolicy`. A second price feed is required unless
 * `allowNoPriceFeed` is set: without one the module checks only that the venue price is non-zero.
 */
export type PolicyInput = {
  /** Venue adapter; the deployment's Morpho Blue adapter by default. */
  adapter?: Address | undefined
  /** Venue market id (Morpho: the MarketParams id). */
  market: Hex
  minHealth: bigint
  targetHealth: bigint
  maxHealth: bigint
  maxAmountPerRebalance: bigint
  maxAmountPerEpoch: bigint
  /** Seconds. */
  epochLength: number
  maxRebalancesPerEpoch: number
  maxGasPerEpoch: bigint
  /** Most one rebalance may lose, in bps of what its positions move (collateral and debt changes). */
  maxLossBps: number
  /**
   * Most the rebalances of one aligned epoch may lose together, in bps of this sub-account's equity (collateral value -
   * debt) before each of them; {@link defaultMaxEpochLossBps} by default.
   */
  maxEpochLossBps?: number | undefined
  /** Seconds between rebalances of this sub-account; 0 by default. */
  cooldown?: number | undefined
  /** May the keeper borrow or withdraw collateral to raise leverage; false by default. */
  boostAllowed?: boolean | undefined
  /**
   * Issue 13: may the keeper rescue this sub-account while its health is inside the band but below targetHealth (the
   * module's in-band rescue: it must land in [health + (targetHealth - minHealth) / 2, targetHealth +
   * (maxHealth - targetHealth) / 2], every cap and loss bound applying); false by default (only health below minHealth,
   * or above maxHealth with boostAllowed, triggers). The autopilot uses it to keep its health at or above what the band
   * rule would hold after a gap, so a second gap does not liquidate it (SECURITY.md row 150).
   */
  rescueBelowTarget?: boolean | undefined
  /**
   * Largest shortfall of a swap's output against the oracle value of its input, in bps (at most MAX_SLIPPAGE_BPS = 1000);
   * 0 (the default) forbids swaps for this sub-account. The module enforces it on-chain as the swap's minimum output.
   */
  maxSlippageBps?: number | undefined
  /**
   * Chainlink-style second price source (the collateral priced in the loan token). Required unless `allowNoPriceFeed`;
   * the module checks its answer is positive, fresh (`maxOracleAge`), strictly inside (`minFeedAnswer`,
   * `maxFeedAnswer`) and within `maxOracleDeviationBps` of the venue price.
   */
  priceFeed?: Address | undefined
  /** Seconds; required (> 0) with a price feed. */
  maxOracleAge?: number | undefined
  /** Largest venue / feed price difference, in bps; {@link defaultMaxOracleDeviationBps} by default with a feed. */
  maxOracleDeviationBps?: number | undefined
  /**
   * Feed answers at or below this are refused (a clamped feed is pinned at its aggregator's `minAnswer`). When neither
   * bound is given and the policy has a feed, `setPolicy` sets both ({@link defaultFeedBounds}); 0 = no floor.
   */
  minFeedAnswer?: bigint | undefined
  /** Feed answers at or above this are refused (the aggregator's `maxAnswer`); see `minFeedAnswer`. 0 = no ceiling. */
  maxFeedAnswer?: bigint | undefined
  /** Accept a policy without a second feed (the venue oracle alone, checked only for a non-zero price). */
  allowNoPriceFeed?: boolean | undefined
  /** Allowed ERC-4626 pools (at most 8); none by default. */
  pools?: readonly Address[] | undefined
}

/** Default `PolicyInput.maxEpochLossBps`: 1% of the sub-account's equity per epoch. */
export const defaultMaxEpochLossBps = 100
/** Default `PolicyInput.maxOracleDeviationBps` when a feed is set: 1%. */
export const defaultMaxOracleDeviationBps = 100
/**
 * Default feed bounds when a policy has a feed and gives neither bound: the aggregator's own clamp
 * (`aggregator().minAnswer()` / `maxAnswer()`, Chainlink's OCR aggregators) when the feed exposes it, so a feed pinned at
 * its clamp is refused; otherwise `factor` below and above the feed's answer when the policy is set.
 */
export const defaultFeedBounds = { factor: 100n } as const
