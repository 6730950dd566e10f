// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {MarketState} from "../interfaces/IVenueAdapter.sol";
import {ConstantsLib} from "./ConstantsLib.sol";

/// @title HealthLib
/// @notice Health and value math shared by the module's checks. All roundings favour safety: collateral value and
/// health round down, so a position is never reported healthier than it is.
library HealthLib {
    /// @dev Value of `collateral` in loan units at `price` (1e36-scaled), rounded down.
    function collateralValue(uint256 collateral, uint256 price) internal pure returns (uint256) {
        return Math.mulDiv(collateral, price, ConstantsLib.PRICE_SCALE);
    }

    /// @dev Health (WAD) = collateral value * lltv / debt, rounded down; infinite without debt.
    function health(MarketState memory state) internal pure returns (uint256) {
        return health(state.collateral, state.debt, state.price, state.lltv);
    }

    /// @dev Health (WAD) of `collateral` and `debt` at `price` (1e36-scaled) and `lltv` (WAD), as `health(state)`.
    function health(uint256 collateral, uint256 debt, uint256 price, uint256 lltv) internal pure returns (uint256) {
        if (debt == 0) return ConstantsLib.INFINITE_HEALTH;
        return Math.mulDiv(collateralValue(collateral, price), lltv, debt);
    }

    /// @dev `health(collateral, debt, price, lltv)` from the collateral's value (`collateralValue(collateral, price)`,
    /// loan units) already computed: value * lltv / debt (WAD), rounded down; infinite without debt.
    function healthOfValue(uint256 value, uint256 debt, uint256 lltv) internal pure returns (uint256) {
        if (debt == 0) return ConstantsLib.INFINITE_HEALTH;
        return Math.mulDiv(value, lltv, debt);
    }

    /// @dev Collateral value minus debt, in loan units (negative when the position is underwater): an isolated position's
    /// `MarketState.equity` (Morpho Blue). The module reads `MarketState.equity`, never this over an adapter's fields (on
    /// Aave those are the account in one market's frame, not its value).
    function equity(MarketState memory state) internal pure returns (int256) {
        return int256(collateralValue(state.collateral, state.price)) - int256(state.debt);
    }

    /// @dev Distance of `state` to `targetHealth` (WAD), in loan units: the collateral value change that alone would take
    /// its health to `targetHealth` at `state.price`, ceil(|targetHealth x debt - collateral value x lltv| / lltv); the
    /// collateral value when it has no debt. It is at least the repayment or borrow that alone reaches the target
    /// (targetHealth > 1 >= lltv), so one such move toward the target fits in it.
    function distanceToTarget(MarketState memory state, uint256 targetHealth) internal pure returns (uint256) {
        return distanceToTarget(state, state.collateral, state.debt, targetHealth);
    }

    /// @dev `distanceToTarget` of the position (`collateral`, `debt`) at `state`'s price and lltv.
    function distanceToTarget(MarketState memory state, uint256 collateral, uint256 debt, uint256 targetHealth)
        internal
        pure
        returns (uint256)
    {
        uint256 value = collateralValue(collateral, state.price);
        if (debt == 0) return value;
        // Gas (issue 15): ceilDiv(x, d) is mulDiv(x, 1, d, Ceil) exactly (x x 1 never overflows; both panic on d = 0),
        // without the 512-bit product.
        return Math.ceilDiv(distance(targetHealth * debt, value * state.lltv), state.lltv);
    }

    /// @dev The most an honest plan moves a sub-account (net position change, loan units) to take it from `state` to
    /// `healthAfter` (WAD) at `state.price`: ceil(gap / denominator), gap = |healthAfter x debt - collateral value x
    /// lltv|. Without swaps (`swaps` false: the policy's maxSlippageBps is 0) the most move-intensive path is a
    /// collateral change alone (denominator lltv; a repayment or borrow alone needs gap / healthAfter). With swaps losing
    /// at most `swapLossBps`, by direction: a deleverage (health up) by selling y for y(1 - loss) of repayment needs
    /// gap / (healthAfter x (1 - loss) - lltv); a boost (health down) by borrowing x to supply x(1 - loss) needs
    /// gap / (healthAfter - (1 - loss) x lltv); the denominator is the smaller of that and lltv (lltv when the deleverage
    /// term is not positive). Any mix moves less. The per-operation loss allowance counts a due sub-account's move only
    /// up to this, so padding it (a health-neutral shrink or growth) buys no allowance beyond what its real health
    /// change honestly costs (issue 10, item 4; the eighth and ninth reviews). Unbounded at INFINITE_HEALTH.
    function maxMoveToHealth(MarketState memory state, uint256 healthAfter, bool swaps, uint256 swapLossBps)
        internal
        pure
        returns (uint256)
    {
        if (healthAfter == ConstantsLib.INFINITE_HEALTH) return type(uint256).max;
        uint256 lltv = state.lltv;
        uint256 valueTimesLltv = collateralValue(state.collateral, state.price) * lltv;
        uint256 targetTimesDebt = healthAfter * state.debt;
        uint256 denominator = lltv;
        if (swaps) {
            if (targetTimesDebt > valueTimesLltv) {
                // Deleverage: sell y, repay y(1 - loss): y = gap / (healthAfter x (1 - loss) - lltv).
                uint256 swapped = Math.mulDiv(healthAfter, ConstantsLib.BPS - swapLossBps, ConstantsLib.BPS);
                if (swapped > lltv) denominator = Math.min(lltv, swapped - lltv);
            } else {
                // Boost: borrow x, supply x(1 - loss): x = gap / (healthAfter - (1 - loss) x lltv).
                denominator = Math.min(lltv, healthAfter - Math.mulDiv(lltv, ConstantsLib.BPS - swapLossBps, ConstantsLib.BPS));
            }
        }
        return Math.ceilDiv(distance(targetTimesDebt, valueTimesLltv), denominator); // = mulDiv(.., 1, .., Ceil)
    }

    /// @dev |a - b|.
    function distance(uint256 a, uint256 b) internal pure returns (uint256) {
        return a > b ? a - b : b - a;
    }
}
