// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Fixture} from "../utils/Fixture.sol";
import {SimOracle} from "../utils/SimOracle.sol";
import {Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {ConstantsLib} from "../../src/libraries/ConstantsLib.sol";
import {HealthLib} from "../../src/libraries/HealthLib.sol";
import {MarketParams, Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";

/// @notice The cap-bound attacks' two WETH sub-accounts: A on the fixture's WETH market (`wethMarket`, `wethOracle`)
/// and B on a second WETH/USDC market with its own oracle (`wethMarket2`, `oracle2`), the padding's counterpart. Shared by
/// CapBoundPadding.rr13v, CapBoundBoostAttacks, CapBoundInBand and Rv66CapBoundInBandMismatch.
abstract contract TwoWethMarketsBase is Fixture {
    using MarketParamsLib for MarketParams;

    SimOracle internal oracle2;
    MarketParams internal wethMarket2;
    bytes32 internal idA;
    bytes32 internal idB;

    /// @dev Creates B's market on a fresh oracle (USDC 6 / WETH 18 decimals, an 8-decimal feed) at `price` (1e18-scaled).
    function _openWethMarket2(uint256 price) internal {
        oracle2 = new SimOracle(6, 18, 8);
        oracle2.setPrice(price);
        wethMarket2 = _createMarket(address(weth), address(oracle2));
    }

    function _state(MarketParams memory params) internal view returns (MarketState memory) {
        return adapter.marketState(Id.unwrap(params.id()), safe);
    }

    /// @dev Loan units: idle USDC + vault assets + both positions' and the idle WETH's value - debt (at A's price).
    function _value() internal view returns (int256 v) {
        MarketState memory a = _state(wethMarket);
        MarketState memory b = _state(wethMarket2);
        v = int256(usdc.balanceOf(safe) + usdcVault.convertToAssets(usdcVault.balanceOf(safe)));
        v += int256(HealthLib.collateralValue(a.collateral + b.collateral + weth.balanceOf(safe), a.price));
        v -= int256(a.debt + b.debt);
    }

    /// @dev A revert's arguments (its data after the 4-byte selector).
    function _args(bytes memory reason) internal pure returns (bytes memory args) {
        args = new bytes(reason.length - 4);
        for (uint256 i; i < args.length; ++i) {
            args[i] = reason[i + 4];
        }
    }

    /// @dev A padded rescue of A: repay r from the USDC pool and move collateral w from A to B (a move toward B's target),
    /// net move `moved` while A's health rises only `step`: (value - v) x lltv = (health + step) x (debt - (moved - v)).
    function _paddedRescue(uint256 moved, uint256 step) internal view returns (Plan memory plan) {
        MarketState memory st = _state(wethMarket);
        uint256 value = HealthLib.collateralValue(st.collateral, st.price);
        uint256 target = st.health + step;
        uint256 v = (value * st.lltv - target * (st.debt - moved)) / (st.lltv + target);
        uint256 w = v * ConstantsLib.PRICE_SCALE / st.price;
        uint256 r = moved - HealthLib.collateralValue(w, st.price);
        plan.subAccounts = new bytes32[](2);
        plan.subAccounts[0] = idA;
        plan.subAccounts[1] = idB;
        plan.actions = new Action[](4);
        plan.actions[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), r);
        plan.actions[1] = action(ActionKind.Repay, 0, address(0), r);
        plan.actions[2] = action(ActionKind.WithdrawCollateral, 0, address(0), w);
        plan.actions[3] = action(ActionKind.SupplyCollateral, 1, address(0), w);
    }
}
