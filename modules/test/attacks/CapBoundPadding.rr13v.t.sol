// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {TwoWethMarketsBase} from "./TwoWethMarketsBase.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {ConstantsLib} from "../../src/libraries/ConstantsLib.sol";
import {HealthLib} from "../../src/libraries/HealthLib.sol";
import {MarketParams, Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";

/// @notice Review rr13v of f13k's cap-bound rescue (SECURITY.md rows 127 and 130): a COMPROMISED keeper sends "rescues"
/// from below the band whose NET move is >= cap - cap / 100 by padding (repay R from the pool, withdraw collateral W from
/// the due sub-account A and supply it to a second WETH sub-account B that is not due and below its target), so A gains
/// only MIN_BAND_GAP a step although a plain repayment of the same cap gains ~0.029. Under f13k ten such steps were
/// accepted, spent A's maxRebalancesPerEpoch (or, with a cooldown, one started it) while A stayed below its band, and the
/// honest keeper's rescue was refused until the epoch ended (V1); each was charged only its honest move (~197), so row
/// 127's "at most maxAmountPerEpoch / (0.99 cap) per epoch" did not hold (V2). Fixed (f13m): a step is cap-bound only
/// when its move counted up to the honest move for the health it reached (`RebalanceLib._caps`) is >= cap - cap / 100,
/// so the padded step is refused HealthOutOfBand, and a cap-bound step that leaves A below its band starts no cooldown.
contract CapBoundPaddingRr13vTest is TwoWethMarketsBase {
    using MarketParamsLib for MarketParams;

    uint256 internal constant CAP = 500e6;
    uint256 internal constant PRICE = 2115e18; // A: 21,150 x 0.86 / 18,000 = 1.0105 (the issue-13 gap depth)
    uint256 internal constant PADDED_MOVE = 498e6; // >= CAP - CAP / 100 = 495
    uint256 internal constant STEP = 0.0102e18; // MIN_BAND_GAP plus rounding margin

    uint256 internal honestKey = 0xB0B;
    address internal honestKeeper;

    function setUp() public override {
        super.setUp();
        _openWethMarket2(3000e18);
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
            executeAsEntryPoint(safe, keeper, _paddedRescue(PADDED_MOVE, STEP));
            healthAfter = healthOf(safe, wethMarket);
            assertGe(healthAfter, before + ConstantsLib.MIN_BAND_GAP, "each padded step +MIN_BAND_GAP");
            assertLt(healthAfter, before + 0.012e18, "each padded step only ~+0.01");
        }
    }

    /// @dev `executeRebalance` as the EntryPoint, returning the revert data (empty when accepted).
    function _try(Plan memory plan) internal returns (bytes memory reason) {
        vm.prank(address(entryPoint));
        bool ok;
        (ok, reason) = safe.call(abi.encodeCall(ILeverageModule.executeRebalance, (keeper, plan)));
        if (ok) reason = "";
    }

    /// @dev Asserts `reason` is HealthOutOfBand(idA, health, 1.2, 1.7) with health below the band and at least
    /// MIN_BAND_GAP above `before` (the padded landing: a real +0.01 that is no longer cap-bound).
    function _assertPaddedOutOfBand(bytes memory reason, uint256 before) internal view {
        assertEq(bytes4(reason), ILeverageModule.HealthOutOfBand.selector, "padded step: HealthOutOfBand");
        bytes memory args = new bytes(reason.length - 4);
        for (uint256 i; i < args.length; ++i) {
            args[i] = reason[i + 4];
        }
        (bytes32 id, uint256 health, uint256 low, uint256 high) = abi.decode(args, (bytes32, uint256, uint256, uint256));
        assertEq(id, idA);
        assertGe(health, before + ConstantsLib.MIN_BAND_GAP, "the padded landing gains MIN_BAND_GAP");
        assertLt(health, before + 0.012e18, "... and only ~0.01");
        assertEq(low, 1.2e18);
        assertEq(high, 1.7e18);
    }

    /* The padding after the fix (f13m) */

    /// @dev The padded step (net move 498 of cap 500, A +0.0102) is counted only its honest move for that landing
    /// (~213 < 495), so it is not cap-bound: refused HealthOutOfBand (under f13k it was accepted, ten times in a row).
    /// Nothing changed in the Safe and no counter was spent.
    function test_PaddedCapBoundStep_IsRefusedHealthOutOfBand() public {
        int256 valueBefore = _value();
        uint256 before = healthOf(safe, wethMarket);
        Plan memory plan = _paddedRescue(PADDED_MOVE, STEP);
        MarketState memory st = _state(wethMarket);
        uint256 gross = plan.actions[1].amount + HealthLib.collateralValue(plan.actions[2].amount, st.price);
        assertGe(gross, CAP - CAP / 100, "the net move alone would be cap-bound");
        _assertPaddedOutOfBand(_try(plan), before);
        assertEq(healthOf(safe, wethMarket), before);
        assertEq(_value(), valueBefore);
        assertEq(module.getEpochUsage(safe, idA).rebalances, 0, "no rebalance counted");
    }

    /// @dev Control: without the padding the honest keeper's cap rescues reach the band in six operations (each a plain
    /// repayment of the cap: its honest move R x h1 / lltv >= R, so cap-bound and charged the cap).
    function test_HonestCapRescues_ReachTheBandInSix() public {
        for (uint256 i; i < 6; ++i) {
            executeAsEntryPoint(safe, honestKeeper, _honestPlan());
        }
        assertGe(healthOf(safe, wethMarket), 1.2e18);
        assertEq(module.getEpochUsage(safe, idA).amountMoved, 6 * CAP, "each cap-bound step charged its whole move");
    }

    /// @dev Held: row 127's old residual "repay and withdraw collateral, the withdrawal kept in the Safe" is no padding at
    /// all: a collateral withdrawal must be spent (IdleInflow), so one sub-account alone cannot pad without a swap.
    function test_Held_PaddingKeptIdle_IsRefusedIdleInflow() public {
        Plan memory plan = _paddedRescue(PADDED_MOVE, STEP);
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

    /// @dev With a cooldown (1 h): the padded step is refused (so it starts nothing), and a cap-bound step that leaves A
    /// below its band starts no cooldown (review rr13v V1's second half): the five honest steps below the band run back
    /// to back, and only the sixth, into the band, starts it. A new fall within the hour is then refused CooldownActive,
    /// as before (every other rule unchanged). Under f13k the padded step was accepted and the honest rescue refused
    /// CooldownActive(idA, now + 1 h) while A sat at 1.02.
    function test_CapBoundStepBelowTheBand_StartsNoCooldown() public {
        Policy memory a = defaultPolicy(wethMarket, address(usdcVault));
        (a.maxAmountPerRebalance, a.boostAllowed, a.cooldown) = (uint128(CAP), true, 1 hours);
        setPolicyFor(safe, a);
        _assertPaddedOutOfBand(_try(_paddedRescue(PADDED_MOVE, STEP)), healthOf(safe, wethMarket));
        for (uint256 i; i < 5; ++i) {
            executeAsEntryPoint(safe, honestKeeper, _honestPlan());
            assertLt(healthOf(safe, wethMarket), 1.2e18, "still below the band");
            assertEq(module.getEpochUsage(safe, idA).lastRebalance, 0, "no cooldown started below the band");
        }
        executeAsEntryPoint(safe, honestKeeper, _honestPlan());
        assertGe(healthOf(safe, wethMarket), 1.2e18, "the sixth lands in the band");
        assertEq(module.getEpochUsage(safe, idA).lastRebalance, block.timestamp, "... and starts the cooldown");
        wethOracle.setPrice(2000e18);
        oracle2.setPrice(2000e18);
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
        Plan memory plan = _paddedRescue(PADDED_MOVE, STEP);
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

    /* Were FAILS TODAY (rr13v), fixed f13m */

    /// @dev V1: a compromised keeper's padded steps, sent through EntryPoint.handleOps ten times, are each refused
    /// HealthOutOfBand and spend none of A's counters, so the honest keeper's cap rescue (A still below its band) is
    /// accepted. Under f13k all ten were accepted and the rescue was refused EpochRebalanceCapExceeded(idA, 11, 10).
    function test_PaddedCapBoundSteps_DoNotStrandTheHonestRescue() public {
        for (uint256 i; i < 10; ++i) {
            uint256 before = healthOf(safe, wethMarket);
            (bool padded, bytes memory refusal) = handle(keeperOp(safe, keeper, _paddedRescue(PADDED_MOVE, STEP), keeperKey));
            assertFalse(padded, "padded step refused");
            _assertPaddedOutOfBand(refusal, before);
        }
        assertLt(healthOf(safe, wethMarket), 1.2e18);
        assertEq(module.getEpochUsage(safe, idA).rebalances, 0);
        (bool ok, bytes memory reason) = handle(keeperOp(safe, honestKeeper, _honestPlan(), honestKey));
        assertEq(reason, bytes(""), "honest rescue refused");
        assertTrue(ok, "honest rescue accepted");
    }

    /// @dev V2: row 127 (3) bounds cap-bound steps by "charged at least 99 % of the cap each, so at most
    /// maxAmountPerEpoch / (0.99 cap) per epoch"; with maxAmountPerEpoch 1,000 (two caps) that is 2. The padded step is
    /// no longer cap-bound (refused); each honest cap-bound step is charged its whole move (>= 495), and the third is
    /// refused EpochAmountCapExceeded. Under f13k padded steps were charged ~197 each and a third (of ten) was accepted.
    function test_CapBoundStepsPerEpoch_BoundedByTheEpochAmount() public {
        Policy memory a = defaultPolicy(wethMarket, address(usdcVault));
        (a.maxAmountPerRebalance, a.boostAllowed, a.maxAmountPerEpoch) = (uint128(CAP), true, 1000e6);
        setPolicyFor(safe, a);
        _assertPaddedOutOfBand(_try(_paddedRescue(PADDED_MOVE, STEP)), healthOf(safe, wethMarket));
        executeAsEntryPoint(safe, honestKeeper, _honestPlan());
        assertGe(module.getEpochUsage(safe, idA).amountMoved, CAP - CAP / 100, "a cap-bound step charged >= 0.99 cap");
        executeAsEntryPoint(safe, honestKeeper, _honestPlan());
        assertLt(healthOf(safe, wethMarket), 1.2e18, "both steps cap-bound below the band");
        uint256 charged = module.getEpochUsage(safe, idA).amountMoved;
        assertGe(charged, 2 * (CAP - CAP / 100));
        vm.expectRevert(
            abi.encodeWithSelector(ILeverageModule.EpochAmountCapExceeded.selector, idA, charged + CAP, 1000e6)
        );
        executeAsEntryPoint(safe, honestKeeper, _honestPlan());
        _assertPaddedOutOfBand(_try(_paddedRescue(PADDED_MOVE, STEP)), healthOf(safe, wethMarket));
    }
}
