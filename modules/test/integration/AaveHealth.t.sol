// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IPool} from "@aave/core-v3/contracts/interfaces/IPool.sol";

import {AaveTestBase} from "../utils/AaveTestBase.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {ILeverageModule, Action, ActionKind, Plan, Policy} from "../../src/interfaces/ILeverageModule.sol";
import {HealthLib} from "../../src/libraries/HealthLib.sol";

/// @notice Issue 17: the module's health of an Aave sub-account IS Aave's `getUserAccountData().healthFactor`, exactly:
/// in e-mode, with several collaterals (one outside the category), after interest; and the band checks judge a plan by
/// it, not by the frame math (HealthLib over `marketState`): a plan landing exactly on minHealth by Aave's factor
/// passes and one a wei short of it is refused, where the frame (the exact threshold-weighted collateral since
/// issue 10 rev10q, above Aave's floored average; below it before) differs.
contract AaveHealthTest is AaveTestBase {
    bytes32 internal id;

    function setUp() public override {
        super.setUp();
        installModuleWithAave();
        // The ETH-correlated e-mode account: wstETH and WETH (in the category, threshold 95%) and WBTC (outside it, its
        // own 78%) as collateral, WETH debt. HF = (35,000 + 6,000) x 0.95 + 6,000 x 0.78 over 12.6 WETH = 1.155.
        aaveSetEMode(safe, AAVE_ETH_EMODE);
        aaveSupply(safe, wsteth, 10e18);
        aaveSupply(safe, weth, 2e18);
        aaveSupply(safe, wbtc, 0.1e8);
        aaveBorrow(safe, weth, 12.6e18);
        // A large borrower takes WETH utilisation to ~80%, so interest accrues at a few percent a year.
        address whale = makeAddr("whale");
        usdc.mint(whale, 10_000_000e6);
        vm.startPrank(whale);
        usdc.approve(address(aavePool), 10_000_000e6);
        aavePool.supply(address(usdc), 10_000_000e6, whale, 0);
        aavePool.borrow(address(weth), 800e18, 2, 0, whale);
        vm.stopPrank();
    }

    function _policy(uint256 minHealth) internal view returns (Policy memory policy) {
        policy = aavePolicy(wstethWethEMode, address(0), address(0));
        policy.minHealth = uint64(minHealth);
        policy.targetHealth = uint64(minHealth + 0.05e18);
        policy.maxHealth = uint64(minHealth + 0.4e18);
        policy.maxOracleAge = 0;
    }

    function test_ModuleHealth_EqualsAaveHealthFactor_EModeSeveralCollaterals_AfterInterest() public {
        id = setPolicyFor(safe, _policy(1.2e18));
        uint256 first = aaveHealthFactor(safe);
        uint256 frameDiffers; // samples where the frame math (HealthLib over marketState) is not Aave's factor
        for (uint256 i; i < 12; ++i) {
            vm.warp(block.timestamp + 31 days);
            uint256 healthFactor = aaveHealthFactor(safe);
            assertEq(module.health(safe, id), healthFactor, "LeverageModule.health is Aave's health factor");
            assertEq(aaveAdapter.health(wstethWethEMode, safe), healthFactor, "IVenueAdapter.health");
            MarketState memory state = aaveAdapter.marketState(wstethWethEMode, safe);
            assertEq(state.health, healthFactor, "MarketState.health (what the band checks read)");
            (,, uint256 positionHealth) = aaveAdapter.positionHealth(wstethWethEMode, safe, state.price, state.lltv);
            assertEq(positionHealth, healthFactor, "positionHealth (the health after a plan's actions)");
            assertEq(state.collateral, exactFrameCollateral(wstethWethEMode, safe), "the frame is the exact sum");
            if (HealthLib.health(state) != healthFactor) ++frameDiffers;
        }
        assertLt(aaveHealthFactor(safe), first * 0.99e18 / 1e18, "interest lowered health by over 1%");
        assertGt(frameDiffers, 0, "the frame math differs from Aave's factor, so equality is not by chance");
    }

    /// @dev Repays `amount` of WETH as the owner in a throwaway state and returns Aave's health factor and the frame math
    /// (HealthLib over marketState) after it.
    function _dryRunRepay(uint256 amount) internal returns (uint256 aaveAfter, uint256 frameAfter) {
        uint256 snapshot = vm.snapshotState();
        safeExec(safe, address(weth), 0, abi.encodeCall(IERC20.approve, (address(aavePool), amount)), 0);
        safeExec(safe, address(aavePool), 0, abi.encodeCall(IPool.repay, (address(weth), amount, 2, safe)), 0);
        aaveAfter = aaveHealthFactor(safe);
        frameAfter = HealthLib.health(aaveAdapter.marketState(wstethWethEMode, safe));
        vm.revertToState(snapshot);
    }

    function _repayPlan(uint256 amount) internal view returns (Plan memory plan) {
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = module.subAccountId(address(aaveAdapter), wstethWethEMode);
        plan.actions = new Action[](1);
        plan.actions[0] = action(ActionKind.Repay, 0, address(0), amount);
    }

    /// @dev After 25 days of interest (the keeper's key is valid for 30), a rescue repaying 2.5 WETH from idle WETH. minHealth is set to Aave's exact health
    /// factor after the repayment (dry run at the same timestamp), which the frame math does not equal.
    function _rescueAtTheBandEdge() internal returns (uint256 amount, uint256 aaveAfter, uint256 frameAfter) {
        uint256 debtBefore = variableDebt(weth, safe);
        vm.warp(block.timestamp + 25 days);
        assertGt(variableDebt(weth, safe), debtBefore, "interest accrued");
        amount = 2.5e18;
        weth.mint(safe, amount);
        (aaveAfter, frameAfter) = _dryRunRepay(amount);
        assertTrue(frameAfter != aaveAfter, "the frame math is not Aave's factor at the post-state");
        assertLt(aaveHealthFactor(safe), aaveAfter - 0.1e18, "due: well below the band before");
    }

    function test_BandCheck_JudgesByAaveHealthFactor_PlanLandingOnMinHealth() public {
        (uint256 amount, uint256 aaveAfter, uint256 frameAfter) = _rescueAtTheBandEdge();
        id = setPolicyFor(safe, _policy(aaveAfter));
        uint256 before = aaveHealthFactor(safe);
        assertEq(module.health(safe, id), before);
        // In band by Aave's factor (== minHealth): accepted, whichever side of it the frame math lands (it discriminates
        // when below; the one-wei test below when above).
        assertTrue(frameAfter != aaveAfter);
        executeAsEntryPoint(safe, keeper, _repayPlan(amount));
        assertEq(aaveHealthFactor(safe), aaveAfter, "landed where the dry run said");
        assertEq(module.health(safe, id), aaveAfter, "exactly minHealth, Aave's factor");
    }

    function test_BandCheck_RevertWhen_AaveHealthFactorOneWeiBelowMinHealth() public {
        (uint256 amount, uint256 aaveAfter,) = _rescueAtTheBandEdge();
        Policy memory policy = _policy(aaveAfter + 1);
        id = setPolicyFor(safe, policy);
        Plan memory plan = _repayPlan(amount);
        vm.expectRevert(
            abi.encodeWithSelector(ILeverageModule.HealthOutOfBand.selector, id, aaveAfter, policy.minHealth, policy.maxHealth)
        );
        executeAsEntryPoint(safe, keeper, plan);
    }
}
