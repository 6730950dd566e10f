// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {AaveTestBase} from "../utils/AaveTestBase.sol";
import {IAaveV3Adapter} from "../../src/interfaces/IAaveV3Adapter.sol";
import {Action, ActionKind, Plan} from "../../src/interfaces/ILeverageModule.sol";

/// @notice Review rev17e (issue 17, held out): a market whose collateral reserve has LTV 0 but a liquidation threshold
/// (Aave governance's usual first step when winding a collateral down) passes `marketId` (threshold > 0), yet Aave's
/// `validateAutomaticUseAsCollateral` never enables an LTV-0 reserve as collateral on a first supply. A keeper
/// SupplyCollateral from a zero balance then moves the Safe's tokens into aTokens Aave does not count (health unchanged),
/// and afterwards every supply / withdraw of that market is refused by the adapter (`CollateralNotEnabled`): the keeper
/// cannot even take them back.
contract AaveUncountedSupplyTest is AaveTestBase {
    bytes32 internal id;

    function setUp() public override {
        super.setUp();
        installModuleWithAave();
        aaveSupply(safe, weth, 10e18);
        aaveBorrow(safe, usdc, 18_000e6);
        depositToVault(safe, usdcVault, 10_000e6);
        // WBTC: LTV 0, threshold 78% (the collateral is being wound down: no new borrowing power, still liquidatable).
        aaveConfigurator.configureReserveAsCollateral(address(wbtc), 0, 7800, 10_500);
        id = setPolicyFor(safe, aavePolicy(wbtcUsdc, address(0), address(usdcVault)));
        wethOracle.setPrice(2400e18); // health 24,000 x 0.83 / 18,000 = 1.107 < minHealth 1.2: due
        wbtc.mint(safe, 1e8);
    }

    /// @dev The adapter should refuse a supply Aave will not count as collateral (first supply of an LTV-0 reserve).
    function test_Encode_SupplyOfReserveAaveWillNotEnableAsCollateral_IsRefused() public {
        assertEq(aBalance(wbtc, safe), 0);
        vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.CollateralNotEnabled.selector, address(wbtc)));
        aaveAdapter.encode(SUPPLY, wbtcUsdc, 0.01e8, safe);
    }

    /// @dev A rescue (repay from the vault) padded with a small WBTC supply: the supply adds nothing to Aave's health,
    /// so the whole operation should be refused and no WBTC leave the Safe.
    function test_KeeperOp_RescuePaddedWithUncountedSupply_IsRefused() public {
        uint256 repay = 3700e6; // to health ~1.39 (target 1.4), in the landing zone
        Plan memory plan;
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = module.subAccountId(address(aaveAdapter), wbtcUsdc);
        plan.actions = _actions(repay);
        uint256 wbtcBefore = wbtc.balanceOf(safe);
        (bool ok,) = address(this).call(abi.encodeCall(this.execute, (plan)));
        if (ok) {
            // Observed today: accepted; the WBTC is now an aToken Aave does not count, and the keeper cannot move it.
            assertEq(aBalance(wbtc, safe), 0.0001e8, "uncounted aWBTC");
            vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.CollateralNotEnabled.selector, address(wbtc)));
            aaveAdapter.encode(WITHDRAW, wbtcUsdc, 0.0001e8, safe);
        }
        assertFalse(ok, "a supply Aave does not count as collateral was executed");
        assertEq(wbtc.balanceOf(safe), wbtcBefore, "WBTC left the Safe");
    }

    function _actions(uint256 repay) internal view returns (Action[] memory actions) {
        actions = new Action[](3);
        actions[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), repay);
        actions[1] = action(ActionKind.Repay, 0, address(0), repay);
        actions[2] = action(ActionKind.SupplyCollateral, 0, address(0), 0.0001e8);
    }

    function execute(Plan memory plan) external {
        executeAsEntryPoint(safe, keeper, plan);
    }
}
