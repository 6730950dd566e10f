// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {DataTypes} from "@aave/core-v3/contracts/protocol/libraries/types/DataTypes.sol";
import {AaveTestBase} from "../utils/AaveTestBase.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {ActionKind, ILeverageModule, Plan, Policy} from "../../src/interfaces/ILeverageModule.sol";
import {HealthLib} from "../../src/libraries/HealthLib.sol";

/// @notice Review rev17e (issue 17): Aave refuses a borrow above the account's LTV (ValidationLogic validateBorrow:
/// COLLATERAL_CANNOT_COVER_NEW_BORROW, "36"), not only below health 1, while the module's band is in health (liquidation
/// threshold). For WBTC (LTV 73%, threshold 78%, bonus 5%) any health below 0.78 / 0.73 = 1.0685 is unreachable by a
/// borrow, yet setPolicy accepted minHealth 1.05 (= the liquidation incentive) and target 1.062: a boost to the policy's
/// own target was refused by Aave every time (the keeper re-planned it each block).
/// Chosen behaviour: setPolicy refuses a boosting policy whose targetHealth is below the adapter's `minBorrowHealth`
/// (`TargetHealthBelowBorrowReach`, e-mode aware, max at LTV 0); a target at or above it is accepted, and a boost the
/// keeper bounds by Aave's `availableBorrowsBase` (its LTV clamp, bundler-client keeper/aaveLimits.ts) lands at the
/// reachable health and is accepted by the module, also after governance lowers the LTV.
contract AaveLtvBoostTest is AaveTestBase {
    uint256 internal constant WAD = 1e18;

    /// @dev LT / LTV of `asset`'s reserve (bps from the pool's configuration), WAD rounded up; max at LTV 0.
    function reach(address asset) internal view returns (uint256) {
        DataTypes.ReserveConfigurationMap memory c = aavePool.getConfiguration(asset);
        uint256 ltv = c.data & 0xFFFF;
        uint256 lt = (c.data >> 16) & 0xFFFF;
        return ltv == 0 ? type(uint256).max : Math.mulDiv(lt, WAD, ltv, Math.Rounding.Ceil);
    }


    /// @dev 1 WBTC on Aave with USDC debt at health 1.6 (above maxHealth 1.5: due for a boost).
    function openWbtcAt16() internal returns (uint256 value) {
        installModuleWithAave();
        aaveSupply(safe, wbtc, 1e8);
        MarketState memory state = aaveAdapter.marketState(wbtcUsdc, safe);
        value = HealthLib.collateralValue(state.collateral, state.price); // USDC units
        aaveBorrow(safe, usdc, value * 78 / 160);
    }

    /// @dev The keeper's LTV clamp (bundler-client keeper/aaveLimits.ts `aaveLtvBorrowable`): availableBorrowsBase less
    /// 1 bps of the debt and one base unit, in USDC at Aave's price of USDC, rounded down.
    function ltvBorrowable(address account) internal view returns (uint256) {
        (, uint256 debtBase, uint256 availableBase,,,) = aavePool.getUserAccountData(account);
        uint256 keep = (debtBase + 9999) / 10_000 + 1;
        if (availableBase <= keep) return 0;
        uint256 price = aaveOracle.getAssetPrice(address(usdc));
        return (availableBase - keep) * 1e6 / price;
    }

    function boostPlan(uint256 borrow) internal view returns (Plan memory) {
        return plan1(
            module.subAccountId(address(aaveAdapter), wbtcUsdc),
            action(ActionKind.Borrow, 0, address(0), borrow),
            action(ActionKind.DepositToPool, 0, address(usdcVault), borrow)
        );
    }

    /// @dev An account without collateral: the market collateral's own threshold / LTV (the account's, with collateral:
    /// `AaveMultiCollateralReach.t.sol`).
    function test_MinBorrowHealth_IsThresholdOverLtv() public {
        address empty = makeAddr("no Aave collateral");
        assertEq(aaveAdapter.minBorrowHealth(wbtcUsdc, empty), 1_068_493_150_684_931_507); // ceil(7800e18 / 7300)
        assertEq(aaveAdapter.minBorrowHealth(wethUsdc, empty), reach(address(weth)));
        // E-mode: the category's 95% / 93% for wstETH in "ETH correlated", not the reserve's 81% / 78.5%.
        assertEq(aaveAdapter.minBorrowHealth(wstethWethEMode, empty), Math.mulDiv(9500, WAD, 9300, Math.Rounding.Ceil));
        assertEq(adapter.minBorrowHealth(idOf(wethMarket), empty), WAD);
    }

    function test_BoostToTheTarget_ReachableOrRefusedAtSetPolicy() public {
        uint256 value = openWbtcAt16();
        uint256 minReach = reach(address(wbtc));
        // The review's band: target 1.062 below LT / LTV = 1.0685, refused by name.
        Policy memory policy = boostingPolicy(wbtcUsdc, 1.05e18, 1.062e18, 1.5e18);
        vm.prank(safe);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.TargetHealthBelowBorrowReach.selector, 1.062e18, minReach));
        ILeverageModule(safe).setPolicy(policy);
        // Without boosts no action may lower health: the same band is accepted (the target is reached by repaying).
        policy.boostAllowed = false;
        bytes32 id = setPolicyFor(safe, policy);
        // A reachable target is accepted with boosts.
        policy = boostingPolicy(wbtcUsdc, 1.05e18, uint64(minReach), 1.5e18);
        assertEq(setPolicyFor(safe, policy), id);

        // Aave refuses a boost past its LTV ("36": COLLATERAL_CANNOT_COVER_NEW_BORROW) even inside the module's band.
        MarketState memory state = aaveAdapter.marketState(wbtcUsdc, safe);
        uint256 past = value * 78 * 1e18 / (100 * 1.0625e18) - state.debt;
        Plan memory refused = boostPlan(past);
        vm.prank(address(entryPoint));
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.ActionFailed.selector, 0, abi.encodeWithSignature("Error(string)", "36")));
        ILeverageModule(safe).executeRebalance(keeper, refused);

        // The boost the keeper sizes by availableBorrowsBase lands at the reachable health and is accepted.
        uint256 borrow = ltvBorrowable(safe);
        assertLt(borrow, past);
        executeAsEntryPoint(safe, keeper, boostPlan(borrow));
        assertApproxEqRel(module.health(safe, id), minReach, 1e14);
        assertGe(module.health(safe, id), minReach);
    }

    function test_LtvZeroCollateral_BoostingPolicyRefused() public {
        openWbtcAt16();
        aaveConfigurator.configureReserveAsCollateral(address(wbtc), 0, 7800, 10_500);
        assertEq(aaveAdapter.minBorrowHealth(wbtcUsdc, safe), type(uint256).max);
        Policy memory policy = boostingPolicy(wbtcUsdc, 1.1e18, 1.3e18, 1.5e18);
        vm.prank(safe);
        vm.expectRevert(
            abi.encodeWithSelector(ILeverageModule.TargetHealthBelowBorrowReach.selector, 1.3e18, type(uint256).max)
        );
        ILeverageModule(safe).setPolicy(policy);
        policy.boostAllowed = false; // deleverage-only stays possible
        setPolicyFor(safe, policy);
    }

    /// @dev Governance lowers WBTC's LTV to 70% after the policy (target 1.08) was set: the target (and minHealth) is now
    /// below LT / LTV = 1.1143; the boost bounded by availableBorrowsBase lands at ~1.1143, inside the band and closer
    /// to the target, and the module accepts it; a boost to the target is refused by Aave.
    function test_GovernanceLowersLtv_ClampedBoostLands() public {
        openWbtcAt16();
        bytes32 id = setPolicyFor(safe, boostingPolicy(wbtcUsdc, 1.05e18, 1.08e18, 1.5e18));
        aaveConfigurator.configureReserveAsCollateral(address(wbtc), 7000, 7800, 10_500);
        uint256 minReach = reach(address(wbtc));
        assertGt(minReach, 1.08e18);
        uint256 borrow = ltvBorrowable(safe);
        Plan memory refused = boostPlan(borrow + borrow / 1000);
        vm.prank(address(entryPoint));
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.ActionFailed.selector, 0, abi.encodeWithSignature("Error(string)", "36")));
        ILeverageModule(safe).executeRebalance(keeper, refused);
        executeAsEntryPoint(safe, keeper, boostPlan(borrow));
        assertApproxEqRel(module.health(safe, id), minReach, 1e14);
        assertGe(module.health(safe, id), minReach);
    }

    /// @dev E-mode: the category's LTV applies (wstETH / WETH: 95% / 93% = 1.0215), a target at 1.021 is refused and one
    /// at the reach is accepted.
    function test_EMode_ReachIsTheCategorys() public {
        installModuleWithAave();
        aaveSetEMode(safe, AAVE_ETH_EMODE);
        aaveSupply(safe, wsteth, 10e18);
        uint256 minReach = aaveAdapter.minBorrowHealth(wstethWethEMode, safe);
        Policy memory policy = boostingPolicy(wstethWethEMode, 1.011e18, 1.021e18, 1.5e18);
        policy.pools = new address[](0);
        vm.prank(safe);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.TargetHealthBelowBorrowReach.selector, 1.021e18, minReach));
        ILeverageModule(safe).setPolicy(policy);
        policy.targetHealth = uint64(minReach);
        setPolicyFor(safe, policy);
    }
}
