import type { SubAccountState } from "./types.js"

/**
 * Aave v3.0.2 `LiquidationLogic.DEFAULT_LIQUIDATION_CLOSE_FACTOR` (0.5e4 bps): the share of a debt reserve's debt one
 * liquidation may repay while the health factor is above {@link AAVE_CLOSE_FACTOR_HF_THRESHOLD}.
 */
export const AAVE_DEFAULT_CLOSE_FACTOR = 0.5
/** Aave v3.0.2 `LiquidationLogic.CLOSE_FACTOR_HF_THRESHOLD` (0.95e18): at or below it one liquidation may repay all the debt. */
export const AAVE_CLOSE_FACTOR_HF_THRESHOLD = 0.95

/**
 * Morpho Blue liquidation incentive factor: min(1.15, 1 / (1 - 0.3 (1 - lltv))) (`Morpho.liquidate`).
 *
 * @param lltv - Liquidation LTV in (0, 1).
 * @returns The factor (> 1) applied to repaid debt to size seized collateral.
 * @example liquidationIncentiveFactor(0.86) // ~1.0438
 */
export function liquidationIncentiveFactor(lltv: number): number {
  return Math.min(1.15, 1 / (1 - 0.3 * (1 - lltv)))
}

/**
 * What one liquidation of the sub-account at health 1 costs the Safe, loan-token units: the debt a liquidator repays
 * times the incentive it keeps on it, `debt x closeFactor x (incentive - 1)`. Uses the sub-account's venue terms when
 * known (`liquidationIncentive`, `liquidationCloseFactor`; Aave v3: the collateral reserve's liquidation bonus and the
 * 50 % close factor, so 0.5 x debt x 5 % for WETH), else Morpho Blue's (the whole debt at
 * {@link liquidationIncentiveFactor} of the LLTV).
 *
 * @param s - The sub-account (`debt` loan-token units, `lltv`, optional venue terms).
 * @returns The penalty, loan-token units (0 without debt).
 * @example liquidationLoss({ debt: 18_000, lltv: 0.83, liquidationIncentive: 1.05, liquidationCloseFactor: 0.5 }) // 450
 */
export function liquidationLoss(s: Pick<SubAccountState, "debt" | "lltv" | "liquidationIncentive" | "liquidationCloseFactor">): number {
  return s.debt * (s.liquidationCloseFactor ?? 1) * ((s.liquidationIncentive ?? liquidationIncentiveFactor(s.lltv)) - 1)
}
