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
] as const
export type ActionKind = (typeof actionKinds)[number]
/** Actions that move funds between the Safe and an ERC-4626 pool of the sub-account's policy. */
export type PoolActionKind = "WithdrawFromPool" | "DepositToPool"
/** Actions on the venue position itself; they carry no pool. */
export type VenueActionKind = Exclude<ActionKind, PoolActionKind>

/** One step of a plan. `subAccount` indexes `Plan.subAccounts`; only pool actions name a pool. */
export type PlanAction =
  | { kind: PoolActionKind; subAccount: number; pool: Address; amount: bigint }
  | { kind: VenueActionKind; subAccount: number; pool?: undefined; amount: bigint }

/** A keeper's proposal: the sub-accounts it touches (ids) and the ordered actions. */
export type Plan = { subAccounts: readonly Hex[]; actions: readonly PlanAction[] }

/** Policy fields with conservative defaults for the optional ones; see `toPolicy`. */
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
  maxLossBps: number
  /** Seconds between rebalances of this sub-account; 0 by default. */
  cooldown?: number | undefined
  /** May the keeper borrow or withdraw collateral to raise leverage; false by default. */
  boostAllowed?: boolean | undefined
  /** Optional Chainlink-style second price source; none by default. */
  priceFeed?: Address | undefined
  /** Seconds; required (> 0) with a price feed. */
  maxOracleAge?: number | undefined
  maxOracleDeviationBps?: number | undefined
  /** Allowed ERC-4626 pools (at most 8); none by default. */
  pools?: readonly Address[] | undefined
}
