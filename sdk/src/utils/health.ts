import { maxUint256 } from "viem"

const WAD = 10n ** 18n
const PRICE_SCALE = 10n ** 36n

/** A venue position as the adapter reports it (`MarketState`). */
export type MarketState = {
  loanToken: `0x${string}`
  collateralToken: `0x${string}`
  collateral: bigint
  debt: bigint
  /** Value of one collateral base unit in loan base units, scaled by 1e36. */
  price: bigint
  /** Liquidation LTV, WAD. */
  lltv: bigint
  /**
   * The venue's health as the adapter reports it with this state (`MarketState.health`, WAD): the health the module
   * judges (Aave v3: `getUserAccountData().healthFactor` exactly; Morpho Blue: the health derived from the fields).
   * Omitted for a state not read from chain; {@link getSubAccountMetrics} always derives its own from the fields.
   */
  health?: bigint | undefined
  /**
   * The account's net value in loan base units as the adapter reports it (`MarketState.equity`): the module's base of
   * the epoch loss budget (Aave v3: the whole account's `getUserAccountData` collateral minus debt, not this market
   * frame's). Omitted for a state not read from chain.
   */
  equity?: bigint | undefined
}

/** Risk metrics of one sub-account (docs/policy-rules.md). WAD values: 1e18 = 1.0. */
export type SubAccountMetrics = {
  /** Collateral value in loan units, rounded down. */
  collateralValue: bigint
  /** collateralValue × lltv / debt (WAD, rounded down); `maxUint256` without debt, as the module reports. */
  health: bigint
  /** debt / collateralValue (WAD); 0 without debt, `maxUint256` with debt and no collateral value. */
  ltv: bigint
  /** collateralValue / (collateralValue − debt) (WAD); `maxUint256` when equity is zero or negative. */
  leverage: bigint
  /** Price (same 1e36 scale as `price`) at which health reaches 1; 0 without debt. */
  liquidationPrice: bigint
  /** 1 − liquidationPrice / price (WAD); 1e18 without debt, 0 or negative at or past liquidation. */
  distanceToLiquidation: bigint
}

/**
 * Derives health, LTV, effective leverage, liquidation price and distance to liquidation from a market state,
 * with the module's roundings (collateral value and health round down).
 *
 * @returns {@link SubAccountMetrics}
 * @example
 * const metrics = getSubAccountMetrics({ collateral, debt, price, lltv, loanToken, collateralToken })
 */
export function getSubAccountMetrics(state: MarketState): SubAccountMetrics {
  const { collateral, debt, price, lltv } = state
  const collateralValue = (collateral * price) / PRICE_SCALE
  if (debt === 0n)
    return { collateralValue, health: maxUint256, ltv: 0n, leverage: WAD, liquidationPrice: 0n, distanceToLiquidation: WAD }
  const health = (collateralValue * lltv) / debt
  const ltv = collateralValue === 0n ? maxUint256 : (debt * WAD) / collateralValue
  const leverage = collateralValue > debt ? (collateralValue * WAD) / (collateralValue - debt) : maxUint256
  const denominator = collateral * lltv
  const liquidationPrice = denominator === 0n ? maxUint256 : (debt * PRICE_SCALE * WAD + denominator - 1n) / denominator
  const distanceToLiquidation = price === 0n || liquidationPrice === maxUint256 ? 0n : ((price - liquidationPrice) * WAD) / price
  return { collateralValue, health, ltv, leverage, liquidationPrice, distanceToLiquidation }
}

/**
 * Where a health value sits relative to a policy band.
 *
 * @returns "below" (health < minHealth), "above" (health > maxHealth) or "inside".
 */
export function getBandPosition({ health, minHealth, maxHealth }: { health: bigint; minHealth: bigint; maxHealth: bigint }) {
  if (health < minHealth) return "below" as const
  if (health > maxHealth) return "above" as const
  return "inside" as const
}
