// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Fixture} from "../utils/Fixture.sol";
import {SimOracle} from "../utils/SimOracle.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {ConstantsLib} from "../../src/libraries/ConstantsLib.sol";
import {HealthLib} from "../../src/libraries/HealthLib.sol";
import {MarketParams, Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";

/// @notice Review rr13v of f13k's cap-bound rescue (SECURITY.md row 127): a COMPROMISED keeper sends "rescues" from below
/// the band that satisfy `moved >= cap - cap / 100` by padding (repay R from the pool, withdraw collateral W from the
/// due sub-account A and supply it to a second WETH sub-account B that is not due and below its target), so A gains only
/// MIN_BAND_GAP a step although a plain repayment of the same cap gains ~0.029. Nothing leaves the Safe; the steps spend
/// A's maxRebalancesPerEpoch while A stays below its band, and the honest keeper's rescue is then refused until the
/// epoch ends. Before f13k no operation from below the band could be accepted without landing inside it.
contract CapBoundPaddingRr13vTest is Fixture {
    using MarketParamsLib for MarketParams;

    uint256 internal constant CAP = 500e6;
    uint256 internal constant PRICE = 2115e18; // A: 21,150 x 0.86 / 18,000 = 1.0105 (the issue-13 gap depth)
    uint256 internal constant PADDED_MOVE = 498e6; // >= CAP - CAP / 100 = 495
    uint256 internal constant STEP = 0.0102e18; // MIN_BAND_GAP plus rounding margin

    SimOracle internal oracle2;
    MarketParams internal wethMarket2;
    bytes32 internal idA;
    bytes32 internal idB;
    uint256 internal honestKey = 0xB0B;
    address internal honestKeeper;

    function setUp() public override {
        super.setUp();
        oracle2 = new SimOracle(6, 18, 8);
        oracle2.setPrice(3000e18);
        wethMarket2 = _createMarket(address(weth), address(oracle2));
        openPosition(safe, wethMarket, 10e18, 18_000e6);
        openPosition(safe, wethMarket2, 50e18, 72_756e6); // B at 2,115: 105,750 x 0.86 / 72,756 = 1.25 (in band)
        depositToVault(safe, usdcVault, 10_000e6);
        Policy memory a = defaultPolicy(wethMarket, address(usdcVault));
        a.maxAmountPerRebalance = uint128(CAP);
        // A withdrawal outside a repay callback needs boostAllowed (a deleverage-only policy refuses it:
        // ActionNotAllowed(index, WithdrawCollateral)); the owner allowing boosts is an ordinary configuration.
        a.boostAllowed = true;
        idA = setPolicyFor(safe, a);
        idB = setPolicyFor(safe, defaultPolicy(wethMarket2, address(usdcVault)));
        honestKeeper = vm.addr(honestKey);
        safeCall(abi.encodeCall(ILeverageModule.addKeeper, (honestKeeper, 0, uint48(block.timestamp + 30 days))));
        wethOracle.setPrice(PRICE);
        oracle2.setPrice(PRICE);
    }

    /* helpers */

    function _state(MarketParams memory params) internal view returns (MarketState memory) {
        return adapter.marketState(Id.unwrap(params.id()), safe);
    }

    /// @dev Loan units: idle USDC + vault assets + both positions' collateral value - debt (at PRICE).
    function _value() internal view returns (int256 v) {
        MarketState memory a = _state(wethMarket);
        MarketState memory b = _state(wethMarket2);
        v = int256(usdc.balanceOf(safe) + usdcVault.convertToAssets(usdcVault.balanceOf(safe)));
        v += int256(HealthLib.collateralValue(a.collateral + b.collateral + weth.balanceOf(safe), a.price));
        v -= int256(a.debt + b.debt);
    }

    /// @dev The compromised keeper's padded cap-bound step: net move PADDED_MOVE, A's health up by ~STEP.
    function _paddedPlan() internal view returns (Plan memory plan) {
        MarketState memory st = _state(wethMarket);
        uint256 value = HealthLib.collateralValue(st.collateral, st.price);
        uint256 target = st.health + STEP;
        // (value - v) x lltv = target x (debt - (M - v))  =>  v = (value x lltv - target x (debt - M)) / (lltv + target)
        uint256 v = (value * st.lltv - target * (st.debt - PADDED_MOVE)) / (st.lltv + target);
        uint256 w = v * ConstantsLib.PRICE_SCALE / st.price;
        uint256 r = PADDED_MOVE - HealthLib.collateralValue(w, st.price);
        plan.subAccounts = new bytes32[](2);
        plan.subAccounts[0] = idA;
        plan.subAccounts[1] = idB;
        plan.actions = new Action[](4);
        plan.actions[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), r);
        plan.actions[1] = action(ActionKind.Repay, 0, address(0), r);
        plan.actions[2] = action(ActionKind.WithdrawCollateral, 0, address(0), w);
        plan.actions[3] = action(ActionKind.SupplyCollateral, 1, address(0), w);
    }

    function _honestPlan() internal view returns (Plan memory) {
        return plan1(
            idA,
            action(ActionKind.WithdrawFromPool, 0, address(usdcVault), CAP),
            action(ActionKind.Repay, 0, address(0), CAP)
        );
    }

    function _padTenTimes() internal returns (uint256 healthAfter) {
        for (uint256 i; i < 10; ++i) {
            uint256 before = healthOf(safe, wethMarket);
            executeAsEntryPoint(safe, keeper, _paddedPlan());
            healthAfter = healthOf(safe, wethMarket);
            assertGe(healthAfter, before + ConstantsLib.MIN_BAND_GAP, "each padded step +MIN_BAND_GAP");
            assertLt(healthAfter, before + 0.012e18, "each padded step only ~+0.01");
        }
    }

    /* HELD today: what the padding does and does not do */

    /// @dev Measured: ten accepted padded cap-bound steps (net move 498 of cap 500 each) take A only 1.0105 -> ~1.1125;
    /// the honest plain repayment of the same cap gains ~0.029 a step and reaches the band in 6. Nothing left the Safe.
    function test_PaddedCapBoundSteps_AreAccepted_NothingLeavesTheSafe() public {
        int256 valueBefore = _value();
        uint256 healthB = healthOf(safe, wethMarket2);
        uint256 healthA = _padTenTimes();
        emit log_named_uint("A health after 10 padded cap-bound steps (WAD)", healthA);
        assertLt(healthA, 1.12e18, "A still far below its band after ten cap-bound steps");
        assertGt(healthOf(safe, wethMarket2), healthB, "B moved toward its target (not-due rules held)");
        assertApproxEqAbs(_value(), valueBefore, 40, "nothing left the Safe (rounding only)");
        EpochUsage memory usage = module.getEpochUsage(safe, idA);
        assertEq(usage.rebalances, 10, "ten of maxRebalancesPerEpoch spent");
        // Row 127 (3) says each cap-bound step spends >= 0.99 x cap of maxAmountPerEpoch (so <= epoch / (0.99 cap) steps);
        // a padded step is charged only its honest move (`_counted`), well under half the cap.
        emit log_named_uint("epoch amount charged for 10 padded steps (USDC base units)", usage.amountMoved);
        assertLt(usage.amountMoved, 10 * (CAP - CAP / 100) / 2, "padded steps charged < half of 0.99 cap each");
    }

    /// @dev Pinned today: after the padding the honest keeper's cap rescue is refused for the rest of the epoch.
    function test_PaddedCapBoundSteps_RefuseTheHonestRescue_Today() public {
        _padTenTimes();
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.EpochRebalanceCapExceeded.selector, idA, 11, 10));
        executeAsEntryPoint(safe, honestKeeper, _honestPlan());
    }

    /// @dev Control: without the padding the honest keeper's cap rescues reach the band in six operations.
    function test_HonestCapRescues_ReachTheBandInSix() public {
        for (uint256 i; i < 6; ++i) {
            executeAsEntryPoint(safe, honestKeeper, _honestPlan());
        }
        assertGe(healthOf(safe, wethMarket), 1.2e18);
    }

    /// @dev Held: row 127's residual "repay and withdraw collateral, the withdrawal kept in the Safe" is no padding at
    /// all: a collateral withdrawal must be spent (IdleInflow), so one sub-account alone cannot pad without a swap.
    function test_Held_PaddingKeptIdle_IsRefusedIdleInflow() public {
        Plan memory plan = _paddedPlan();
        uint256 w = plan.actions[2].amount;
        Action[] memory three = new Action[](3);
        (three[0], three[1], three[2]) = (plan.actions[0], plan.actions[1], plan.actions[2]);
        plan.actions = three;
        bytes32[] memory one = new bytes32[](1);
        one[0] = idA;
        plan.subAccounts = one;
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.IdleInflow.selector, address(weth), w, 0));
        executeAsEntryPoint(safe, keeper, plan);
    }

    /// @dev Pinned today, with a cooldown: ONE padded step (+0.0102 from 1.0105) starts A's cooldown, so the honest
    /// keeper's cap rescue is refused for the next hour while A sits below its band (before f13k a step from below the
    /// band had to land inside it, so no accepted operation could leave A below the band and cooling down).
    function test_PaddedStep_StartsTheCooldown_Today() public {
        Policy memory a = defaultPolicy(wethMarket, address(usdcVault));
        (a.maxAmountPerRebalance, a.boostAllowed, a.cooldown) = (uint128(CAP), true, 1 hours);
        setPolicyFor(safe, a);
        executeAsEntryPoint(safe, keeper, _paddedPlan());
        assertLt(healthOf(safe, wethMarket), 1.03e18);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.CooldownActive.selector, idA, block.timestamp + 1 hours));
        executeAsEntryPoint(safe, honestKeeper, _honestPlan());
    }

    /// @dev Held: while the owner's stop is engaged no boost runs, so A's plain WithdrawCollateral (the padding) is
    /// refused ActionNotAllowed(2, WithdrawCollateral) (the cooldown exemption of a stop-engaged rescue cannot be used
    /// to pad in one bundle without a swap).
    function test_Held_StopEngaged_PaddingRefused() public {
        uint256 price = _state(wethMarket).price;
        vm.prank(safe);
        ILeverageModule(safe).setStopLoss(idA, uint192(price), 1.8e18);
        Plan memory plan = _paddedPlan();
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 2, ActionKind.WithdrawCollateral));
        executeAsEntryPoint(safe, keeper, plan);
    }

    /// @dev Held: cap 0 (no setPolicy bound) makes every move cap-bound (0 - 0 / 100 = 0) but AmountCapExceeded still
    /// refuses it; the landing rule is judged first and names the cap-bound low edge.
    function test_Held_CapZero_RefusesEveryMove() public {
        Policy memory a = defaultPolicy(wethMarket, address(usdcVault));
        a.maxAmountPerRebalance = 0;
        setPolicyFor(safe, a);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.AmountCapExceeded.selector, idA, CAP, 0));
        executeAsEntryPoint(safe, honestKeeper, _honestPlan());
    }

    /* FAILS TODAY: the desired behaviour */

    /// @dev FAILS TODAY (EpochRebalanceCapExceeded(idA, 11, 10)): a compromised keeper's accepted cap-bound steps must not
    /// leave the honest keeper unable to rescue A (still below its band) in the same epoch. Sent through
    /// EntryPoint.handleOps; the hostile steps too.
    function test_FailsToday_PaddedCapBoundSteps_MustNotStrandTheHonestRescue() public {
        vm.skip(!vm.envOr("RR13V_FAILING", false)); // open (SECURITY.md row 130): run with RR13V_FAILING=true to see it fail
        for (uint256 i; i < 10; ++i) {
            handleOk(keeperOp(safe, keeper, _paddedPlan(), keeperKey));
        }
        assertLt(healthOf(safe, wethMarket), 1.2e18);
        (bool ok, bytes memory reason) = handle(keeperOp(safe, honestKeeper, _honestPlan(), honestKey));
        // Today: ok false, reason EpochRebalanceCapExceeded(idA, 11, 10) (printed by the assertion below).
        assertEq(reason, bytes(""), "honest rescue refused");
        assertTrue(ok, "honest rescue accepted");
    }

    /// @dev FAILS TODAY (the third padded step is accepted): SECURITY.md row 127 (3) bounds cap-bound steps by
    /// "at least 99 % of the cap each, so at most maxAmountPerEpoch / (0.99 cap) per epoch"; with maxAmountPerEpoch 1,000
    /// (two caps) that is 2. A padded step is charged only its honest move (`_counted`, ~197 of its 498), so ten fit.
    function test_FailsToday_CapBoundStepsPerEpoch_BoundedByTheEpochAmount() public {
        vm.skip(!vm.envOr("RR13V_FAILING", false)); // open (SECURITY.md row 130): run with RR13V_FAILING=true to see it fail
        Policy memory a = defaultPolicy(wethMarket, address(usdcVault));
        (a.maxAmountPerRebalance, a.boostAllowed, a.maxAmountPerEpoch) = (uint128(CAP), true, 1000e6);
        setPolicyFor(safe, a);
        executeAsEntryPoint(safe, keeper, _paddedPlan());
        executeAsEntryPoint(safe, keeper, _paddedPlan());
        Plan memory third = _paddedPlan();
        vm.prank(address(entryPoint));
        (bool ok,) = safe.call(abi.encodeCall(ILeverageModule.executeRebalance, (keeper, third)));
        assertFalse(ok, "a third cap-bound step of 0.99 cap in an epoch of two caps");
    }
}
