// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SwapBase} from "../utils/SwapBase.sol";
import {ILeverageModule, Plan, Action, ActionKind, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";

/// @notice Swap-based Repay and Boost through the keeper lane, one UserOperation each through the real EntryPoint
/// v0.7, Safe 1.4.1, Morpho Blue and Uniswap v3, for a Safe with no idle loan token and no buffer.
contract SwapRebalanceTest is SwapBase {
    /// @dev Everything the Safe owns at oracle prices (the WETH pool is unused; the Safe holds no shares in it).
    function _value() internal view returns (int256) {
        return safeValue(IERC4626(address(wethVault)));
    }

    function test_SwapDeleverage_OneKeeperOperationFromHealth102WithNoIdleFunds() public {
        assertApproxEqAbs(healthOf(safe, wethMarket), CRASH_HEALTH, 0.0001e18, "starts at health 1.02");
        assertEq(usdc.balanceOf(safe), 0, "no idle loan token");
        assertEq(usdcVault.balanceOf(safe), 0, "no buffer in a pool");

        (Plan memory plan, uint256 sold, uint256 repaid) = swapDeleverage(1.4e18);
        int256 valueBefore = _value();
        uint256 debtBefore = wethState().debt;
        handleOk(keeperOp(safe, keeper, plan, keeperKey));

        uint256 health = healthOf(safe, wethMarket);
        assertGe(health, 1.2e18, "inside the band");
        assertApproxEqAbs(health, 1.4e18, 0.002e18, "at the 1.4 target");
        assertEq(wethState().debt, debtBefore - repaid, "the swap output repaid debt");
        assertEq(usdc.balanceOf(safe), 0, "no loan token left idle");
        assertEq(weth.balanceOf(safe), 0, "no collateral left loose");
        assertEq(weth.allowance(safe, address(swapRouter)), 0, "router approval back to zero");
        assertEq(usdc.allowance(safe, address(morpho)), 0, "Morpho approval back to zero");

        // Net value at oracle prices fell by exactly the swap's shortfall (fee + impact), within maxSlippageBps.
        uint256 swapped = Math.mulDiv(sold, wethOracle.price(), 1e36);
        uint256 lost = uint256(valueBefore - _value());
        assertApproxEqAbs(lost, swapped - repaid, 2, "loss = oracle value sold - USDC received");
        assertGe(lost, swapped * FEE_LOW / 1e6, "at least the pool fee");
        assertLe(lost, swapped * MAX_SLIPPAGE_BPS / 10_000, "within maxSlippageBps");
        EpochUsage memory usage = module.getEpochUsage(safe, wethId);
        assertGt(usage.lossPpb, 0, "the swap loss is charged to the epoch loss budget");
    }

    function test_SwapDeleverage_AcceptsASandwichInsideTheBound() public {
        (Plan memory plan, uint256 sold, uint256 repaid) = swapDeleverage(1.4e18);
        // A 0.2% front-run: the keeper repays what the moved pool still pays, which stays above the oracle minimum.
        frontRun(address(weth), address(usdc), FEE_LOW, 20);
        repaid = quoteExactIn(address(weth), address(usdc), FEE_LOW, sold);
        assertGt(repaid, minOutSelling(sold), "the front-run stays inside maxSlippageBps");
        plan = deleveragePlan(repaid, sold, route(FEE_LOW));
        handleOk(keeperOp(safe, keeper, plan, keeperKey));
        assertGe(healthOf(safe, wethMarket), 1.2e18, "inside the band");
    }

    function test_SwapDeleverage_LeftoverOutputStaysInTheSafe() public {
        uint256 sold = wethToSell(1.4e18);
        uint256 quoted = quoteExactIn(address(weth), address(usdc), FEE_LOW, sold);
        uint256 repaid = minOutSelling(sold); // the keeper repays only the guaranteed minimum
        handleOk(keeperOp(safe, keeper, deleveragePlan(repaid, sold, route(FEE_LOW)), keeperKey));
        assertEq(usdc.balanceOf(safe), quoted - repaid, "the rest of the output is idle loan token of the Safe");
        assertGe(healthOf(safe, wethMarket), 1.2e18, "inside the band");
    }

    function test_Boost_BorrowSwapSupplyInOnePass() public {
        (Plan memory plan, uint256 borrowed,) = boostFromHealth18();
        int256 valueBefore = _value();
        handleOk(keeperOp(safe, keeper, plan, keeperKey));

        assertApproxEqAbs(healthOf(safe, wethMarket), 1.4e18, 0.002e18, "levered back to the target");
        assertEq(usdc.balanceOf(safe), 0, "the whole loan was swapped");
        assertEq(weth.balanceOf(safe), 0, "the whole purchase was supplied");
        assertEq(usdc.allowance(safe, address(swapRouter)), 0, "router approval back to zero");
        uint256 lost = uint256(valueBefore - _value());
        assertGe(lost, borrowed * FEE_LOW / 1e6, "at least the pool fee");
        assertLe(lost, borrowed * MAX_SLIPPAGE_BPS / 10_000, "within maxSlippageBps");
    }

    function test_Boost_FlashLoopedThroughTheSupplyCollateralCallback() public {
        (, uint256 borrowed, uint256 bought) = boostFromHealth18();
        Action[] memory actions = new Action[](4);
        actions[0] = action(ActionKind.SupplyCollateralWithCallback, 0, address(0), bought);
        actions[1] = action(ActionKind.Borrow, 0, address(0), borrowed);
        actions[2] = action(ActionKind.BuyCollateral, 0, route(FEE_LOW), borrowed);
        actions[3] = action(ActionKind.EndCallback, 0, address(0), 0);
        handleOk(keeperOp(safe, keeper, planOf(wethId, actions), keeperKey));
        assertApproxEqAbs(healthOf(safe, wethMarket), 1.4e18, 0.002e18, "levered back to the target");
        assertEq(weth.balanceOf(safe), 0, "Morpho collected the bought collateral");
        assertEq(weth.allowance(safe, address(morpho)), 0, "Morpho approval back to zero");
    }
}
