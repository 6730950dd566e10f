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
        if (state.debt == 0) return ConstantsLib.INFINITE_HEALTH;
        return Math.mulDiv(collateralValue(state.collateral, state.price), state.lltv, state.debt);
    }

    /// @dev Collateral value minus debt, in loan units (negative when the position is underwater).
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
        return Math.mulDiv(distance(targetHealth * debt, value * state.lltv), 1, state.lltv, Math.Rounding.Ceil);
    }

    /// @dev The most an honest plan moves a sub-account (net position change, loan units) to take it from `state` to
    /// `healthAfter` (WAD) at `state.price`, when each swap in it loses at most `maxLossBps`:
    /// ceil(|healthAfter x debt - collateral value x lltv| / min(lltv, healthAfter x (1 - maxLossBps) - lltv)). The two
    /// denominators are the two most move-intensive ways there: a collateral change alone (supply or withdraw x:
    /// (value +- x) x lltv = healthAfter x debt), and a swap deleverage or boost (sell collateral y for y(1 - loss) of
    /// debt, or borrow x to buy collateral: (value -+ y) x lltv = healthAfter x (debt -+ y(1 - loss))); a repayment or
    /// borrow alone, or any mix, moves less. When the swap denominator is not positive (a maxLossBps so loose a swap
    /// could not reach that health), the collateral-only figure (denominator lltv). The per-operation loss allowance
    /// counts a due sub-account's move only up to this (at the plan's smallest maxLossBps), so a move that changes its
    /// health little (a health-neutral shrink or growth) buys no allowance beyond what its real health change would
    /// honestly cost (issue 10, item 4). Unbounded (type(uint256).max) at INFINITE_HEALTH.
    function maxMoveToHealth(MarketState memory state, uint256 healthAfter, uint256 maxLossBps) internal pure returns (uint256) {
        if (healthAfter == ConstantsLib.INFINITE_HEALTH) return type(uint256).max;
        uint256 swapped = Math.mulDiv(healthAfter, ConstantsLib.BPS - maxLossBps, ConstantsLib.BPS);
        uint256 denominator = swapped > state.lltv ? Math.min(state.lltv, swapped - state.lltv) : state.lltv;
        uint256 valueTimesLltv = collateralValue(state.collateral, state.price) * state.lltv;
        return Math.mulDiv(distance(healthAfter * state.debt, valueTimesLltv), 1, denominator, Math.Rounding.Ceil);
    }

    /// @dev |a - b|.
    function distance(uint256 a, uint256 b) internal pure returns (uint256) {
        return a > b ? a - b : b - a;
    }
}
