// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SwapBase} from "../utils/SwapBase.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {ConstantsLib} from "../../src/libraries/ConstantsLib.sol";

/// @notice Cap-bound boost with a swap (issue 13, stop 65): Borrow(~cap / 2), BuyCollateral, SupplyCollateral (net move ~99.9 % of the cap) from health
/// 2.2, through handleOps with the keeper's session key. Each is accepted above the band (its sale clause: 2 x swapped
/// >= 99 % of the cap), loses a real swap cost but at most maxLossBps (50) of its move, and a compromised keeper
/// repeating it is bounded by half of maxRebalancesPerEpoch (6: three; `_checkStopExitShare`, the rescues keep the other
/// half): the fourth is refused EpochRebalanceCapExceeded(4, 3).
contract CapBoundBoostSwapTest is SwapBase {
    uint256 internal constant CAP = 500e6;
    /// @dev The net move is the borrow plus the collateral value supplied (~2 x borrow): 249.9 borrowed moves ~499.5.
    uint256 internal constant BORROW = 249.9e6;

    function setUp() public override {
        super.setUp();
        Policy memory p = swapPolicy(wethMarket, true);
        (p.maxAmountPerRebalance, p.maxRebalancesPerEpoch) = (uint128(CAP), 6);
        wethId = setPolicy(p);
        vm.warp((block.timestamp / 1 days + 1) * 1 days); // the start of an epoch
        moveWethHealthTo(2.2e18);
    }

    function _swapBoost() internal returns (Plan memory plan) {
        uint256 bought = quoteExactIn(address(usdc), address(weth), FEE_LOW, BORROW);
        Action[] memory actions = new Action[](3);
        actions[0] = action(ActionKind.Borrow, 0, address(0), BORROW);
        actions[1] = action(ActionKind.BuyCollateral, 0, route(FEE_LOW), BORROW);
        actions[2] = action(ActionKind.SupplyCollateral, 0, address(0), bought);
        plan = planOf(wethId, actions);
    }

    /// @dev Collateral at the oracle price + idle WETH and USDC - debt (loan units).
    function _value() internal view returns (int256) {
        MarketState memory st = wethState();
        uint256 value = Math.mulDiv(st.collateral + weth.balanceOf(safe), st.price, 1e36) + usdc.balanceOf(safe);
        return int256(value) - int256(st.debt);
    }

    function test_RepeatedCapBoundSwapBoosts_EachLosesAtMostMaxLossBps_ThreePerEpoch() public {
        for (uint256 i; i < 3; ++i) {
            uint256 before = healthOf(safe, wethMarket);
            int256 valueBefore = _value();
            handleOk(keeperOp(safe, keeper, _swapBoost(), keeperKey));
            uint256 afterHealth = healthOf(safe, wethMarket);
            assertGt(afterHealth, 1.7e18, "above the band");
            assertLe(afterHealth, before - ConstantsLib.MIN_BAND_GAP, "at least MIN_BAND_GAP lower");
            int256 loss = valueBefore - _value();
            assertGt(loss, 0, "a real swap cost");
            // Its move (<= the cap): the borrow plus the collateral supplied; the bound is maxLossBps of it.
            assertLe(loss, int256(CAP * MAX_SLIPPAGE_BPS / 10_000), "loss <= maxLossBps of the move");
            EpochUsage memory u = module.getEpochUsage(safe, wethId);
            assertGe(u.amountMoved, (i + 1) * (CAP - CAP / 100), "each charged >= 99 % of the cap");
        }
        assertEq(module.getEpochUsage(safe, wethId).rebalances, 3);
        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, _swapBoost(), keeperKey));
        assertFalse(ok, "fourth in the epoch");
        assertEq(reason, abi.encodeWithSelector(ILeverageModule.EpochRebalanceCapExceeded.selector, wethId, 4, 3));
    }
}
