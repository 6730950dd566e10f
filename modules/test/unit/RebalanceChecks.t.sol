// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Fixture} from "../utils/Fixture.sol";
import {
    ILeverageModule,
    Policy,
    Plan,
    Action,
    ActionKind,
    EpochUsage
} from "../../src/interfaces/ILeverageModule.sol";
import {IVenueAdapter} from "../../src/interfaces/IVenueAdapter.sol";
import {PlanLib} from "../../src/libraries/PlanLib.sol";
import {ConstantsLib} from "../../src/libraries/ConstantsLib.sol";
import {YieldVault} from "../utils/YieldVault.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";
import {SimOracle} from "../utils/SimOracle.sol";
import {MarketParams, Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {ErrorsLib} from "@morpho-org/morpho-blue/src/libraries/ErrorsLib.sol";

/// @notice Every check `executeRebalance` makes, each with a plan that tries to get past it.
contract RebalanceChecksTest is Fixture {
    using MarketParamsLib for MarketParams;

    bytes32 internal wethId;
    bytes32 internal wbtcId;

    function setUp() public override {
        super.setUp();
        openPosition(safe, wethMarket, 10e18, 18_000e6); // health 1.433
        openPosition(safe, wbtcMarket, 1e8, 30_000e6); // health 60,000 * 0.86 / 30,000 = 1.72
        depositToVault(safe, usdcVault, 10_000e6);
        wethId = setPolicyFor(safe, defaultPolicy(wethMarket, address(usdcVault)));
        wbtcId = setPolicyFor(safe, defaultPolicy(wbtcMarket, address(usdcVault)));
        wethOracle.setPrice(2400e18); // weth health 1.1467: triggers
    }

    function _repayPlan(uint256 amount) internal view returns (Plan memory) {
        return plan1(
            wethId,
            action(ActionKind.WithdrawFromPool, 0, address(usdcVault), amount),
            action(ActionKind.Repay, 0, address(0), amount)
        );
    }

    function _expectExec(Plan memory plan, bytes memory err) internal {
        vm.expectRevert(err);
        executeAsEntryPoint(safe, keeper, plan);
    }

    function _setPolicy(Policy memory policy) internal {
        setPolicyFor(safe, policy);
    }

    function test_Execute_SucceedsAsBaseline() public {
        executeAsEntryPoint(safe, keeper, _repayPlan(3300e6));
        assertApproxEqAbs(healthOf(safe, wethMarket), 1.404e18, 0.001e18);
    }

    function test_Execute_RevertWhen_NotFromEntryPoint() public {
        vm.prank(keeper);
        vm.expectRevert(ILeverageModule.UnsupportedEntryPoint.selector);
        ILeverageModule(safe).executeRebalance(keeper, _repayPlan(3300e6));
    }

    function test_Execute_RevertWhen_TrailingBytes() public {
        bytes memory data = bytes.concat(abi.encodeCall(ILeverageModule.executeRebalance, (keeper, _repayPlan(3300e6))), hex"01");
        vm.prank(address(entryPoint));
        (bool ok, bytes memory ret) = safe.call(data);
        assertFalse(ok);
        assertEq(ret, abi.encodeWithSelector(ILeverageModule.MalformedPlan.selector, ConstantsLib.MALFORMED_BAD_LENGTH));
    }

    function test_Execute_RevertWhen_KeeperRevokedAfterValidation() public {
        vm.prank(safe);
        ILeverageModule(safe).revokeKeeper(keeper);
        _expectExec(_repayPlan(3300e6), abi.encodeWithSelector(ILeverageModule.KeeperNotAuthorized.selector, keeper));
    }

    function test_Execute_RevertWhen_KeeperExpiredOrNotYetValid() public {
        vm.warp(block.timestamp + 31 days);
        wethOracle.setPrice(2400e18);
        _expectExec(_repayPlan(3300e6), abi.encodeWithSelector(ILeverageModule.KeeperNotAuthorized.selector, keeper));
        vm.prank(safe);
        ILeverageModule(safe).addKeeper(keeper, uint48(block.timestamp + 1), uint48(block.timestamp + 1 days));
        _expectExec(_repayPlan(3300e6), abi.encodeWithSelector(ILeverageModule.KeeperNotAuthorized.selector, keeper));
    }

    function test_Execute_RevertWhen_PausedAfterValidation() public {
        vm.prank(safe);
        ILeverageModule(safe).setPaused(true);
        _expectExec(_repayPlan(3300e6), abi.encodeWithSelector(ILeverageModule.AutomationPaused.selector, safe));
    }

    function test_Execute_RevertWhen_SubAccountHasNoPolicy() public {
        vm.prank(safe);
        ILeverageModule(safe).removePolicy(wethId);
        _expectExec(_repayPlan(3300e6), abi.encodeWithSelector(ILeverageModule.UnknownSubAccount.selector, wethId));
    }

    function test_Execute_RevertWhen_SubAccountListedTwice() public {
        Plan memory plan = _repayPlan(3300e6);
        plan.subAccounts = new bytes32[](2);
        plan.subAccounts[0] = wethId;
        plan.subAccounts[1] = wethId;
        _expectExec(plan, abi.encodeWithSelector(ILeverageModule.DuplicateSubAccount.selector, wethId));
    }

    function test_Execute_RevertWhen_LoanTokensDiffer() public {
        SimOracle oracle = new SimOracle(18, 18, 8);
        oracle.setPrice(1e18);
        MarketParams memory params = MarketParams({
            loanToken: address(weth),
            collateralToken: address(wsteth),
            oracle: address(oracle),
            irm: address(0),
            lltv: LLTV
        });
        morpho.createMarket(params);
        Policy memory policy = defaultPolicy(params, address(0));
        bytes32 otherId = setPolicyFor(safe, policy);
        Plan memory plan = _repayPlan(3300e6);
        plan.subAccounts = new bytes32[](2);
        plan.subAccounts[0] = wethId;
        plan.subAccounts[1] = otherId;
        _expectExec(plan, abi.encodeWithSelector(ILeverageModule.MixedLoanTokens.selector, address(usdc), address(weth)));
    }

    function test_Execute_RevertWhen_NoSubAccountOutsideItsBand() public {
        wethOracle.setPrice(3000e18); // back to 1.433, inside [1.2, 1.7]
        _expectExec(_repayPlan(100e6), abi.encodeWithSelector(ILeverageModule.NoTrigger.selector));
    }

    function test_Execute_RevertWhen_AboveBandButBoostNotAllowed() public {
        wethOracle.setPrice(4000e18);
        Plan memory plan = plan1(
            wethId, action(ActionKind.Borrow, 0, address(0), 1000e6), action(ActionKind.DepositToPool, 0, address(usdcVault), 1000e6)
        );
        _expectExec(plan, abi.encodeWithSelector(ILeverageModule.NoTrigger.selector));
    }

    function test_Execute_RevertWhen_CooldownActive() public {
        Policy memory policy = defaultPolicy(wethMarket, address(usdcVault));
        policy.cooldown = 1 hours;
        _setPolicy(policy);
        executeAsEntryPoint(safe, keeper, _repayPlan(3300e6)); // 1.404
        uint256 readyAt = block.timestamp + 1 hours;
        wethOracle.setPrice(2000e18); // 17,200 / 14,700 = 1.17
        _expectExec(_repayPlan(2400e6), abi.encodeWithSelector(ILeverageModule.CooldownActive.selector, wethId, readyAt));
        vm.warp(readyAt);
        wethOracle.setPrice(2000e18);
        executeAsEntryPoint(safe, keeper, _repayPlan(2400e6));
        assertApproxEqAbs(healthOf(safe, wethMarket), 1.398e18, 0.001e18, "allowed once the cooldown is over");
    }

    function test_Execute_RevertWhen_VenuePriceZero() public {
        wethOracle.setVenuePrice(0);
        _expectExec(_repayPlan(3300e6), abi.encodeWithSelector(ILeverageModule.OraclePriceZero.selector, wethId));
    }

    function test_Execute_RevertWhen_FeedAnswerZeroOrNegative() public {
        wethOracle.setFeed(0, block.timestamp, 8);
        _expectExec(_repayPlan(3300e6), abi.encodeWithSelector(ILeverageModule.OraclePriceZero.selector, wethId));
        wethOracle.setFeed(-1, block.timestamp, 8);
        _expectExec(_repayPlan(3300e6), abi.encodeWithSelector(ILeverageModule.OraclePriceZero.selector, wethId));
    }

    function test_Execute_RevertWhen_FeedStale() public {
        uint256 updatedAt = block.timestamp;
        vm.warp(block.timestamp + 1 hours + 1);
        _expectExec(
            _repayPlan(3300e6), abi.encodeWithSelector(ILeverageModule.OracleStale.selector, wethId, updatedAt, 1 hours)
        );
    }

    function test_Execute_RevertWhen_FeedFromTheFuture() public {
        wethOracle.setFeed(2400e8, block.timestamp + 10, 8);
        _expectExec(
            _repayPlan(3300e6),
            abi.encodeWithSelector(ILeverageModule.OracleStale.selector, wethId, block.timestamp + 10, 1 hours)
        );
    }

    function test_Execute_RevertWhen_FeedDecimalsImpossible() public {
        wethOracle.setFeed(2400e8, block.timestamp, 37);
        _expectExec(_repayPlan(3300e6), abi.encodeWithSelector(ILeverageModule.OracleDecimals.selector, wethId, 37));
    }

    function test_Execute_RevertWhen_FeedDecimalsWrong() public {
        // Same answer read with 10 decimals is 100x lower than the venue price.
        wethOracle.setFeed(2400e8, block.timestamp, 10);
        _expectExec(
            _repayPlan(3300e6),
            abi.encodeWithSelector(ILeverageModule.OracleDeviation.selector, wethId, wethOracle.price(), wethOracle.price() / 100)
        );
    }

    function test_Execute_RevertWhen_VenuePriceFarFromFeed() public {
        uint256 venue = wethOracle.price();
        wethOracle.setVenuePrice(venue * 98 / 100);
        _expectExec(
            _repayPlan(3300e6), abi.encodeWithSelector(ILeverageModule.OracleDeviation.selector, wethId, venue * 98 / 100, venue)
        );
    }

    function test_Execute_RevertWhen_PoolNotInPolicy() public {
        YieldVault other = new YieldVault(usdc, "other", "o");
        Plan memory plan = plan1(
            wethId, action(ActionKind.WithdrawFromPool, 0, address(other), 100e6), action(ActionKind.Repay, 0, address(0), 100e6)
        );
        _expectExec(plan, abi.encodeWithSelector(ILeverageModule.PoolNotAllowed.selector, wethId, address(other)));
    }

    function test_Execute_RevertWhen_ZeroAmount() public {
        _expectExec(
            _repayPlan(0), abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 0, ActionKind.WithdrawFromPool)
        );
    }

    function test_Execute_RevertWhen_PoolSetOnVenueAction() public {
        Plan memory plan = _repayPlan(3300e6);
        plan.actions[1].pool = address(usdcVault);
        _expectExec(plan, abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 1, ActionKind.Repay));
    }

    function test_Execute_RevertWhen_BorrowOnDeleverageOnlyPolicy() public {
        Plan memory plan = plan1(
            wethId, action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 3300e6), action(ActionKind.Borrow, 0, address(0), 1e6)
        );
        _expectExec(plan, abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 1, ActionKind.Borrow));
    }

    function test_Execute_RevertWhen_WithdrawCollateralOnDeleverageOnlyPolicy() public {
        Plan memory plan = plan1(
            wethId, action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 3300e6), action(ActionKind.WithdrawCollateral, 0, address(0), 1e18)
        );
        _expectExec(plan, abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 1, ActionKind.WithdrawCollateral));
    }

    function test_Execute_RevertWhen_VenueCallFails() public {
        // Withdrawing more than the Safe's shares are worth: the vault refuses and the action reports which step.
        Plan memory plan = _repayPlan(20_000e6);
        vm.expectPartialRevert(ILeverageModule.ActionFailed.selector);
        executeAsEntryPoint(safe, keeper, plan);
    }

    function test_Execute_RevertWhen_HealthEndsAboveBand() public {
        _expectExec(
            _repayPlan(8000e6),
            abi.encodeWithSelector(
                ILeverageModule.HealthOutOfBand.selector, wethId, _healthAfterRepay(8000e6), 1.2e18, 1.7e18
            )
        );
    }

    function test_Execute_RevertWhen_HealthStaysBelowBand() public {
        _expectExec(
            _repayPlan(500e6),
            abi.encodeWithSelector(
                ILeverageModule.HealthOutOfBand.selector, wethId, _healthAfterRepay(500e6), 1.2e18, 1.7e18
            )
        );
    }

    function test_Execute_RevertWhen_TriggeredLandsOutsideItsLandingZone() public {
        // Band [1.2, 1.4, 1.7], health 1.1467: the zone is [1.1467 + (1.4 - 1.2) / 2, 1.4 + (1.7 - 1.4) / 2] =
        // [1.2467, 1.55]. 1,000 reaches only 1.214 (in band, but it moved too little).
        uint256 low = healthOf(safe, wethMarket) + 0.1e18;
        _expectExec(
            _repayPlan(1000e6),
            abi.encodeWithSelector(ILeverageModule.HealthOutsideLandingZone.selector, wethId, _healthAfterRepay(1000e6), low, 1.55e18)
        );
        // 5,000 reaches 1.587: in band, past the zone.
        _expectExec(
            _repayPlan(5000e6),
            abi.encodeWithSelector(ILeverageModule.HealthOutsideLandingZone.selector, wethId, _healthAfterRepay(5000e6), low, 1.55e18)
        );
        executeAsEntryPoint(safe, keeper, _repayPlan(_repayFor(1.2468e18)));
        assertGe(healthOf(safe, wethMarket), low, "the zone's edge is accepted");
    }

    function test_Execute_TriggeredFromDeepBelowTheBandNeedsOnlyTheBand() public {
        // A crash to 0.96: moving half the band gap (0.1) is not enough to reach the band, so the band decides.
        wethOracle.setPrice(2000e18); // 20,000 * 0.86 / 18,000 = 0.9556
        uint256 landed = uint256(20_000e6) * 0.86e18 / (18_000e6 - 3600e6); // 1.194: moved 0.24, still below the band
        _expectExec(
            _repayPlan(3600e6), abi.encodeWithSelector(ILeverageModule.HealthOutOfBand.selector, wethId, landed, 1.2e18, 1.7e18)
        );
        executeAsEntryPoint(safe, keeper, _repayPlan(3700e6)); // 1.2028: just inside the band, accepted
        assertLt(healthOf(safe, wethMarket), 1.21e18);
        assertGe(healthOf(safe, wethMarket), 1.2e18);
    }

    function test_Execute_RevertWhen_NotDueMovesAwayFromTarget() public {
        // wbtc 1.72 (in [1.2, 2.0], not due) repaid alongside weth: away from its target 1.4.
        Policy memory policy = defaultPolicy(wbtcMarket, address(usdcVault));
        policy.maxHealth = 2e18;
        _setPolicy(policy);
        Plan memory plan;
        plan.subAccounts = new bytes32[](2);
        plan.subAccounts[0] = wethId;
        plan.subAccounts[1] = wbtcId;
        plan.actions = new Action[](3);
        plan.actions[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 4300e6);
        plan.actions[1] = action(ActionKind.Repay, 0, address(0), 3300e6);
        plan.actions[2] = action(ActionKind.Repay, 1, address(0), 1000e6);
        _expectExec(
            plan,
            abi.encodeWithSelector(
                ILeverageModule.HealthFurtherFromTarget.selector, wbtcId, 1.72e18, uint256(60_000e6) * 0.86e18 / 29_000e6
            )
        );
    }

    function test_Execute_OverCollateralisedSourceMayFundARepayment() public {
        // wbtc (1.72, inside [1.2, 2.0], boost allowed) borrows to repay weth: both end in band, nearer target.
        Policy memory policy = defaultPolicy(wbtcMarket, address(usdcVault));
        policy.maxHealth = 2e18;
        policy.boostAllowed = true;
        _setPolicy(policy);
        Plan memory plan;
        plan.subAccounts = new bytes32[](2);
        plan.subAccounts[0] = wethId;
        plan.subAccounts[1] = wbtcId;
        plan.actions = new Action[](2);
        plan.actions[0] = action(ActionKind.Borrow, 1, address(0), 3300e6);
        plan.actions[1] = action(ActionKind.Repay, 0, address(0), 3300e6);
        executeAsEntryPoint(safe, keeper, plan);
        assertApproxEqAbs(healthOf(safe, wbtcMarket), 1.5495e18, 0.001e18, "source moved toward its target");
        assertApproxEqAbs(healthOf(safe, wethMarket), 1.404e18, 0.001e18, "destination back in band");
    }

    function test_Execute_RevertWhen_SourceWouldLeaveItsBand() public {
        Policy memory policy = defaultPolicy(wbtcMarket, address(usdcVault));
        policy.maxHealth = 2e18;
        policy.boostAllowed = true;
        _setPolicy(policy);
        Plan memory plan;
        plan.subAccounts = new bytes32[](2);
        plan.subAccounts[0] = wethId;
        plan.subAccounts[1] = wbtcId;
        // The borrow used whole, the rest parked in the pool: since rr10b a not-due borrow funds no deposit.
        plan.actions = new Action[](3);
        plan.actions[0] = action(ActionKind.Borrow, 1, address(0), 15_000e6);
        plan.actions[1] = action(ActionKind.Repay, 0, address(0), 3300e6);
        plan.actions[2] = action(ActionKind.DepositToPool, 1, address(usdcVault), 11_700e6);
        _expectExec(plan, abi.encodeWithSelector(ILeverageModule.DepositNotFunded.selector, address(usdc), 11_700e6, 0));
        // So WETH is scaled up (40 WETH, 72,000 debt, still 1.1467) and repays the whole borrow (to ~1.448, inside its
        // landing zone): only the source's band is at fault.
        openPosition(safe, wethMarket, 30e18, 54_000e6);
        plan.actions = new Action[](2);
        plan.actions[0] = action(ActionKind.Borrow, 1, address(0), 15_000e6);
        plan.actions[1] = action(ActionKind.Repay, 0, address(0), 15_000e6);
        uint256 wbtcAfter = uint256(60_000e6) * 0.86e18 / 45_000e6;
        _expectExec(
            plan, abi.encodeWithSelector(ILeverageModule.HealthOutOfBand.selector, wbtcId, wbtcAfter, 1.2e18, 2e18)
        );
    }

    function test_Execute_RevertWhen_AmountAbovePerRebalanceCap() public {
        Policy memory policy = defaultPolicy(wethMarket, address(usdcVault));
        policy.maxAmountPerRebalance = 3299e6;
        _setPolicy(policy);
        // The net position change: the 3,300 repaid (the pool withdrawal funding it is not charged).
        _expectExec(
            _repayPlan(3300e6), abi.encodeWithSelector(ILeverageModule.AmountCapExceeded.selector, wethId, 3300e6, 3299e6)
        );
    }

    function test_Execute_RevertWhen_EpochAmountCapExceeded() public {
        Policy memory policy = defaultPolicy(wethMarket, address(usdcVault));
        policy.maxAmountPerEpoch = 5000e6;
        _setPolicy(policy);
        executeAsEntryPoint(safe, keeper, _repayPlan(3300e6)); // 3,300 net; 1.404
        wethOracle.setPrice(2000e18); // 17,200 / 14,700 = 1.17
        _expectExec(
            _repayPlan(2400e6), abi.encodeWithSelector(ILeverageModule.EpochAmountCapExceeded.selector, wethId, 5700e6, 5000e6)
        );
    }

    function test_Execute_RevertWhen_EpochRebalanceCountExceeded() public {
        Policy memory policy = defaultPolicy(wethMarket, address(usdcVault));
        policy.maxRebalancesPerEpoch = 2;
        _setPolicy(policy);
        executeAsEntryPoint(safe, keeper, _repayPlan(3300e6)); // 1.404
        wethOracle.setPrice(2000e18); // 1.17
        executeAsEntryPoint(safe, keeper, _repayPlan(2400e6)); // 1.398
        wethOracle.setPrice(1700e18); // 1.188
        _expectExec(_repayPlan(1900e6), abi.encodeWithSelector(ILeverageModule.EpochRebalanceCapExceeded.selector, wethId, 3, 2));
        vm.warp(block.timestamp + 1 days);
        wethOracle.setPrice(1700e18);
        executeAsEntryPoint(safe, keeper, _repayPlan(1900e6));
        EpochUsage memory usage = module.getEpochUsage(safe, wethId);
        assertEq(usage.rebalances, 1, "a new epoch starts over");
        assertEq(usage.amountMoved, 1900e6, "and so does the amount");
    }

    function test_Execute_RevertWhen_EpochGasCapExceeded() public {
        Policy memory policy = defaultPolicy(wethMarket, address(usdcVault));
        policy.maxGasPerEpoch = 50_000;
        _setPolicy(policy);
        vm.expectPartialRevert(ILeverageModule.EpochGasCapExceeded.selector);
        executeAsEntryPoint(safe, keeper, _repayPlan(3300e6));
    }

    function test_Execute_RevertWhen_RiggedPoolTakesValue() public {
        RiggedVault rigged = new RiggedVault(usdc);
        usdc.mint(lender, 1000e6);
        vm.startPrank(lender);
        usdc.approve(address(rigged), 1000e6);
        rigged.deposit(1000e6, lender);
        vm.stopPrank();
        depositToVault(safe, YieldVault(address(rigged)), 10_000e6);
        _setPolicy(defaultPolicy(wethMarket, address(rigged)));
        rigged.setExitFee(2000); // 20% of the withdrawal: ~660 USDC of ~64,000 net value, over 0.5%
        Plan memory plan = plan1(
            wethId, action(ActionKind.WithdrawFromPool, 0, address(rigged), 3300e6), action(ActionKind.Repay, 0, address(0), 3300e6)
        );
        vm.expectPartialRevert(ILeverageModule.ValueLossExceeded.selector);
        executeAsEntryPoint(safe, keeper, plan);
    }

    function test_Execute_RevertWhen_DepositIntoEmptyPool() public {
        YieldVault empty = new YieldVault(usdc, "empty", "e");
        Policy memory policy = defaultPolicy(wethMarket, address(usdcVault));
        policy.pools = new address[](2);
        policy.pools[0] = address(usdcVault);
        policy.pools[1] = address(empty);
        policy.boostAllowed = true;
        _setPolicy(policy);
        wethOracle.setPrice(4000e18);
        Plan memory plan = plan1(
            wethId, action(ActionKind.Borrow, 0, address(0), 6000e6), action(ActionKind.DepositToPool, 0, address(empty), 6000e6)
        );
        _expectExec(plan, abi.encodeWithSelector(ILeverageModule.PoolUnhealthy.selector, address(empty)));
    }

    function test_Execute_RecordsUsageAndEmits() public {
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = wethId;
        uint256[] memory before = new uint256[](1);
        before[0] = healthOf(safe, wethMarket);
        uint256[] memory afterwards = new uint256[](1);
        afterwards[0] = _healthAfterRepay(3300e6);
        vm.expectEmit(true, true, false, false, address(module));
        emit ILeverageModule.Rebalanced(safe, keeper, ids, before, afterwards, 0);
        executeAsEntryPoint(safe, keeper, _repayPlan(3300e6));
        EpochUsage memory usage = module.getEpochUsage(safe, wethId);
        assertEq(usage.lastRebalance, block.timestamp);
        assertEq(usage.epoch, block.timestamp / 1 days, "the aligned epoch");
        assertGt(usage.gasUsed, 50_000, "execution gas recorded");
        assertEq(usage.amountMoved, 3300e6);
    }

    function test_Adapter_RevertWhen_ActionKindIsNotAVenueAction() public {
        vm.expectRevert(abi.encodeWithSelector(IVenueAdapter.UnsupportedAction.selector, 0));
        adapter.encode(0, Id.unwrap(wethMarket.id()), 1, safe);
    }

    /// @dev The repayment that takes weth (10 WETH at 2,400, 18,000 debt) to `health`, rounded up.
    function _repayFor(uint256 health) internal pure returns (uint256) {
        return 18_000e6 - uint256(24_000e6) * 0.86e18 / health;
    }

    function _healthAfterRepay(uint256 amount) internal pure returns (uint256) {
        // collateral value 24,000 (10 WETH at 2,400), lltv 0.86, debt 18,000 - amount
        return uint256(24_000e6) * 0.86e18 / (18_000e6 - amount);
    }
}
