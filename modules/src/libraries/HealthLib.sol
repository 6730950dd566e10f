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
        uint256 value = collateralValue(state.collateral, state.price);
        if (state.debt == 0) return value;
        return Math.mulDiv(distance(targetHealth * state.debt, value * state.lltv), 1, state.lltv, Math.Rounding.Ceil);
    }

    /// @dev |a - b|.
    function distance(uint256 a, uint256 b) internal pure returns (uint256) {
        return a > b ? a - b : b - a;
    }
}
