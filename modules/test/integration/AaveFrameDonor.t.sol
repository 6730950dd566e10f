// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {AaveTestBase} from "../utils/AaveTestBase.sol";
import {Action, ActionKind, ILeverageModule, Plan, Policy} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {HealthLib} from "../../src/libraries/HealthLib.sol";

/// @notice Review brk17c (issue 17), F1. The adapter's market frame is the exact threshold-weighted collateral
/// (SECURITY row 64) while the module judges health by Aave's factor, which floors the account's average threshold to
/// whole bps. On a WETH (83%) + WBTC (78%) account whose exact average is ~8,199.99 bps, the frame health is ~1.2e-4
/// relative ABOVE Aave's. The keeper's solver and the SDK rule book used to plan and check the Aave sub-account in the
/// frame: a not-due Aave donor drawn to its target by the frame (solver: target x e^landingMargin + 1e-6, i.e. +4.3e-5
/// at sigma 2 %/yr) ended BELOW its target by Aave's factor and the whole cross-venue rescue was refused
/// (HealthCrossedTarget) at every block. Now the rule book computes Aave's factor after the plan
/// (`aaveFrameHealthAfter`, refusing that plan: `sdk/src/rules/planRules.aaveFloor.test.ts`) and the solver aims an
/// Aave lower edge at edge / (1 - 1 / min(threshold, the other collaterals' average)) in the frame
/// (`thresholdFloorGap`, `bundler-client/src/solver/aaveThresholdFloor.test.ts`): that plan lands below.
contract AaveFrameDonorTest is AaveTestBase {
    uint256 internal constant WAD = 1e18;
    bytes32 internal morphoId;
    bytes32 internal aaveId;

    function setUp() public override {
        super.setUp();
        installModuleWithAave();
        wethOracle.setPrice(2400e18);
        // Morpho WETH/USDC, the due sub-account: 20 WETH, 36,000 USDC: health 20 x 2,400 x 0.86 / 36,000 = 1.1467 < 1.2.
        openPosition(safe, wethMarket, 20e18, 36_000e6);
        // The Aave donor: 40 WETH (96,000 USD) + 0.40005 WBTC (24,003 USD): exact average threshold 8,199.99 bps.
        aaveSupply(safe, weth, 40e18);
        aaveSupply(safe, wbtc, 0.40005e8);
        // Aave health ~1.5 (inside [1.2, 1.7], above the target 1.4).
        (uint256 total,,, uint256 lt,,) = aavePool.getUserAccountData(safe);
        aaveBorrow(safe, usdc, total * lt / 10_000 * 1e6 / 1.5e8 * 1e8 / aaveOracle.getAssetPrice(address(usdc)));
        morphoId = setPolicyFor(safe, defaultPolicy(wethMarket, address(0)));
        Policy memory aave = aavePolicy(wethUsdc, address(wethOracle), address(0));
        aave.boostAllowed = true; // a donor borrow lowers its health
        aaveId = setPolicyFor(safe, aave);
    }

    function donorPlan(uint256 amount) internal view returns (Plan memory plan) {
        plan.subAccounts = new bytes32[](2);
        plan.subAccounts[0] = aaveId;
        plan.subAccounts[1] = morphoId;
        plan.actions = new Action[](2);
        plan.actions[0] = Action({kind: ActionKind.Borrow, subAccount: 0, pool: address(0), amount: amount});
        plan.actions[1] = Action({kind: ActionKind.Repay, subAccount: 1, pool: address(0), amount: amount});
    }

    /// @dev The USDC borrow that takes the frame's health (HealthLib over marketState, what the solver and the SDK rule
    /// book compute) to `goal` (WAD).
    function borrowToFrameHealth(uint256 goal) internal view returns (uint256) {
        MarketState memory s = aaveAdapter.marketState(wethUsdc, safe);
        uint256 debtAt = Math.mulDiv(HealthLib.collateralValue(s.collateral, s.price), s.lltv, goal);
        return debtAt - s.debt;
    }

    function test_Fixture_FrameHealthAboveAavesFactor() public {
        (uint256 weighted, uint256 total) = exactWeightedCollateral(safe);
        assertEq(weighted / total, 8199, "Aave floors the average threshold to 8,199 bps");
        assertGt(weighted % total, total * 98 / 100, "the exact one is 8,199.98+");
        MarketState memory s = aaveAdapter.marketState(wethUsdc, safe);
        uint256 frame = HealthLib.health(s);
        emit log_named_decimal_uint("frame health", frame, 18);
        emit log_named_decimal_uint("Aave health factor", s.health, 18);
        assertGt(frame, s.health + s.health / 10_000, "frame above Aave's factor by more than 1e-4 relative");
        assertLt(module.health(safe, morphoId), 1.2e18, "Morpho is due");
    }

    /// @dev Control: the same rescue with the donor left 2e-4 above its target in the frame lands (a valid rescue exists).
    function test_Control_DonorLeftTwoBpsAboveTargetLands() public {
        uint256 amount = borrowToFrameHealth(1.4e18 + 1.4e18 * 2 / 10_000);
        handleOk(keeperOp(safe, keeper, donorPlan(amount), keeperKey));
        assertGe(aaveHealthFactor(safe), 1.4e18);
        assertGe(module.health(safe, morphoId), 1.2e18);
    }

    /// @dev The donor borrow sized in the frame to the old aim (target x (1 + 4.3e-5), sigma 2 %/yr) is judged by Aave's
    /// factor, below the target: the module refuses the rescue with HealthCrossedTarget (the SDK rule book now does too).
    function test_FrameAimIsRefusedByAavesFactor() public {
        uint256 amount = borrowToFrameHealth(1.4e18 + 1.4e18 * 43 / 1_000_000);
        uint256 snap = vm.snapshotState();
        aaveBorrow(safe, usdc, amount);
        MarketState memory after_ = aaveAdapter.marketState(wethUsdc, safe);
        emit log_named_decimal_uint("frame health after", HealthLib.health(after_), 18);
        emit log_named_decimal_uint("Aave health after", after_.health, 18);
        assertGe(HealthLib.health(after_), 1.4e18, "the frame lands at or above the target");
        assertLt(after_.health, 1.4e18, "Aave's factor below it");
        vm.revertToState(snap);
        (bool success, bytes memory reason) = handle(keeperOp(safe, keeper, donorPlan(amount), keeperKey));
        assertFalse(success, "refused");
        assertEq(bytes4(reason), ILeverageModule.HealthCrossedTarget.selector, "refused by Aave's factor");
    }

    /// @dev The keeper's aim now: the same landing margin over the floor's worst case, 1 / min(threshold 8,300, the other
    /// collateral's 7,800) of the frame health (the solver's `thresholdFloorGap`): the rescue lands, Aave's factor at or
    /// above the donor's target, the due Morpho market inside its band.
    function test_DonorAimedOverTheFloorsWorstCaseLands() public {
        uint256 goal = Math.mulDiv(1.4e18 + 1.4e18 * 43 / 1_000_000, 7_800, 7_799, Math.Rounding.Ceil);
        handleOk(keeperOp(safe, keeper, donorPlan(borrowToFrameHealth(goal)), keeperKey));
        assertGe(aaveHealthFactor(safe), 1.4e18, "Aave's factor at or above the target");
        assertGe(module.health(safe, morphoId), 1.2e18, "the due market back in its band");
    }
}
