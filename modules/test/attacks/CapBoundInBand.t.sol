// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {TwoWethMarketsBase} from "./TwoWethMarketsBase.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {ConstantsLib} from "../../src/libraries/ConstantsLib.sol";
import {HealthLib} from "../../src/libraries/HealthLib.sol";
import {MarketParams, Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";

/// @notice Cap-bound in-band rescue (issue 13, stop 66, SECURITY.md row 155), every operation through
/// EntryPoint.handleOps with the keeper's session key. A (WETH, 10 WETH / 18,000 USDC, band 1.2 / 1.4 / 1.7 with
/// `rescueBelowTarget`, cap 500) sits at health 1.25: inside its band below the target, due to an in-band rescue landing
/// in [before + 0.1, 1.55]. A repayment of the whole cap gains only ~0.036, so before the rule nothing could be taken
/// (the solver's backtest: fuzz seed 842, no-idle, the autopilot sat at 1.18 for 22 minutes after a -24 % step while a
/// fixed band rule, lower and so below its band, was rescued cap-bound past it; a -15 % gap then liquidated the
/// autopilot alone). Now a step whose counted move is at least 99 % of the cap may land under that zone, at least
/// MIN_BAND_GAP up. A compromised keeper tries to make cheap steps of it: padding (a health-neutral collateral move to B),
/// a step under 99 % of the cap, a step gaining less than MIN_BAND_GAP, and repeating steps; and the flag off.
contract CapBoundInBandTest is TwoWethMarketsBase {
    using MarketParamsLib for MarketParams;

    uint256 internal constant CAP = 500e6;
    // A: 10 WETH x 2,616.28 x 0.86 / 18,000 = 1.25
    uint256 internal constant PRICE = 2616.2790697674418e18;
    uint256 internal constant PADDED_MOVE = 498e6; // >= CAP - CAP / 100 = 495
    uint256 internal constant STEP = 0.0102e18; // MIN_BAND_GAP plus rounding margin

    function setUp() public override {
        super.setUp();
        _openWethMarket2(3000e18);
        openPosition(safe, wethMarket, 10e18, 18_000e6);
        openPosition(safe, wethMarket2, 50e18, 90_000e6); // B at PRICE: 130,814 x 0.86 / 90,000 = 1.25 (in band, no flag)
        depositToVault(safe, usdcVault, 10_000e6);
        idA = setPolicyFor(safe, _policyA(true, 0, type(uint128).max));
        idB = setPolicyFor(safe, defaultPolicy(wethMarket2, address(usdcVault)));
        wethOracle.setPrice(PRICE);
        oracle2.setPrice(PRICE);
        assertApproxEqAbs(healthOf(safe, wethMarket), 1.25e18, 0.0001e18, "A at 1.25");
    }

    /// @dev A's policy: cap CAP, the in-band flag, boosts allowed (a collateral withdrawal outside a repay callback needs
    /// them, so the padding below is not refused for that), `cooldown` and `perEpoch`.
    function _policyA(bool flag, uint32 cooldown, uint256 perEpoch) internal view returns (Policy memory a) {
        a = defaultPolicy(wethMarket, address(usdcVault));
        (a.maxAmountPerRebalance, a.maxAmountPerEpoch, a.rescueBelowTarget, a.boostAllowed, a.cooldown) =
            (uint128(CAP), uint128(perEpoch), flag, true, cooldown);
    }

    function _repay(uint256 amount) internal view returns (Plan memory) {
        return plan1(
            idA,
            action(ActionKind.WithdrawFromPool, 0, address(usdcVault), amount),
            action(ActionKind.Repay, 0, address(0), amount)
        );
    }

    /// @dev A's health after repaying `amount` of its debt (10 WETH at PRICE, no interest accrued in these tests).
    function _healthAfterRepay(uint256 amount) internal view returns (uint256) {
        MarketState memory st = _state(wethMarket);
        return HealthLib.health(st.collateral, st.debt - amount, st.price, st.lltv);
    }

    /// @dev `plan` through handleOps must fail HealthOutsideLandingZone(idA, health, low, high) with the given edges; returns
    /// the health it named. Nothing in the Safe changes and no counter is spent.
    function _refusedOutsideZone(Plan memory plan, uint256 low, uint256 high) internal returns (uint256 health) {
        int256 valueBefore = _value();
        uint256 before = healthOf(safe, wethMarket);
        EpochUsage memory u0 = module.getEpochUsage(safe, idA);
        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, plan, keeperKey));
        assertFalse(ok, "refused");
        assertEq(bytes4(reason), ILeverageModule.HealthOutsideLandingZone.selector, "HealthOutsideLandingZone");
        bytes32 id;
        uint256 l;
        uint256 h;
        (id, health, l, h) = abi.decode(_args(reason), (bytes32, uint256, uint256, uint256));
        assertEq(id, idA);
        assertEq(l, low, "zone low");
        assertEq(h, high, "zone high");
        assertEq(healthOf(safe, wethMarket), before);
        assertEq(_value(), valueBefore, "nothing left the Safe");
        EpochUsage memory u1 = module.getEpochUsage(safe, idA);
        assertEq(u1.rebalances, u0.rebalances, "no rebalance counted");
        assertEq(u1.amountMoved, u0.amountMoved, "nothing charged");
    }

    /* accepted */

    /// @dev The honest step: the whole cap repaid from the pool. Main refuses it HealthOutsideLandingZone(idA, 1.2857,
    /// 1.35, 1.55); the rule takes it (>= before + MIN_BAND_GAP, under the zone), charges its move, counts it, starts no
    /// cooldown (an in-band rescue, row 150), and nothing but the debt and the pool changed.
    function test_CapBoundInBandStep_IsAccepted_AndCounted() public {
        int256 valueBefore = _value();
        uint256 before = healthOf(safe, wethMarket);
        handleOk(keeperOp(safe, keeper, _repay(CAP), keeperKey));
        uint256 landed = healthOf(safe, wethMarket);
        assertEq(landed, _healthAfterRepay(0), "the venue's health now");
        assertApproxEqAbs(landed, 1.2857e18, 0.0001e18);
        assertGe(landed, before + ConstantsLib.MIN_BAND_GAP, "at least MIN_BAND_GAP up");
        assertLt(landed, before + 0.1e18, "under the in-band zone's low edge");
        assertEq(_state(wethMarket).debt, 18_000e6 - CAP, "the cap repaid");
        assertApproxEqAbs(_value(), valueBefore, 2, "nothing left the Safe");
        EpochUsage memory u = module.getEpochUsage(safe, idA);
        assertEq(u.rebalances, 1, "counted");
        assertEq(u.amountMoved, CAP, "charged its move");
        assertEq(u.lastRebalance, 0, "an in-band step starts no cooldown");
    }

    /// @dev 495 = cap - cap / 100, the lowest cap-bound move, then more steps at once (cooldown 1 h: an in-band step
    /// starts none), each up by at least MIN_BAND_GAP; such steps take at most half of each epoch counter (review rv66):
    /// maxAmountPerEpoch 2,000 ends the sequence at 1,000 with exactly EpochAmountCapExceeded(idA, 1,495, 1,000),
    /// nothing moved.
    function test_CapBoundInBandSteps_Repeat_UntilTheEpochAmountCap() public {
        setPolicyFor(safe, _policyA(true, 1 hours, 2000e6));
        uint256 h0 = healthOf(safe, wethMarket);
        handleOk(keeperOp(safe, keeper, _repay(495e6), keeperKey));
        uint256 h1 = healthOf(safe, wethMarket);
        assertGe(h1, h0 + ConstantsLib.MIN_BAND_GAP);
        handleOk(keeperOp(safe, keeper, _repay(CAP), keeperKey));
        uint256 h2 = healthOf(safe, wethMarket);
        assertGe(h2, h1 + ConstantsLib.MIN_BAND_GAP);
        assertLt(h2, 1.4e18, "still below the target: still due");
        EpochUsage memory u = module.getEpochUsage(safe, idA);
        assertEq(u.rebalances, 2);
        assertEq(u.amountMoved, 995e6);
        int256 valueBefore = _value();
        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, _repay(CAP), keeperKey));
        assertFalse(ok);
        assertEq(
            reason, abi.encodeWithSelector(ILeverageModule.EpochAmountCapExceeded.selector, idA, 1495e6, 1000e6)
        );
        assertEq(healthOf(safe, wethMarket), h2);
        assertEq(_value(), valueBefore, "nothing left the Safe");
    }

    /* refused */

    /// @dev The padded step's net move (498) is cap-bound by itself, but it is counted only the honest move for the
    /// health it reached (A +0.0102: ~180 < 495), so it is an ordinary in-band rescue under its zone: refused
    /// HealthOutsideLandingZone(idA, ~before + 0.0102, before + 0.1, 1.55). (Mutation: `_capBound` on the raw move
    /// accepts it.)
    function test_PaddedInBandStep_IsRefused() public {
        uint256 before = healthOf(safe, wethMarket);
        assertLt(
            HealthLib.maxMoveToHealth(_state(wethMarket), before + STEP, false, 0), CAP - CAP / 100, "honest move < 99 %"
        );
        uint256 health = _refusedOutsideZone(_paddedRescue(PADDED_MOVE, STEP), before + 0.1e18, 1.55e18);
        assertGe(health, before + ConstantsLib.MIN_BAND_GAP, "the padded landing is a real MIN_BAND_GAP up");
        assertLt(health, before + 0.012e18, "... and only ~0.01");
    }

    /// @dev One base unit under 99 % of the cap: the ordinary in-band zone [before + 0.1, 1.55].
    function test_RevertWhen_InBandStepUnder99PercentOfTheCap() public {
        uint256 before = healthOf(safe, wethMarket);
        uint256 health = _refusedOutsideZone(_repay(495e6 - 1), before + 0.1e18, 1.55e18);
        assertApproxEqAbs(health, _healthAfterRepay(495e6 - 1), 1e10, "the landing named");
    }

    /// @dev Cap 41: a repayment of 41 is cap-bound but gains only ~0.003: outside [before + MIN_BAND_GAP, 1.55].
    function test_RevertWhen_CapBoundInBandStepGainsLessThanTheGap() public {
        Policy memory a = _policyA(true, 0, type(uint128).max);
        a.maxAmountPerRebalance = 41e6;
        setPolicyFor(safe, a);
        uint256 before = healthOf(safe, wethMarket);
        uint256 health = _refusedOutsideZone(_repay(41e6), before + ConstantsLib.MIN_BAND_GAP, 1.55e18);
        assertLt(health, before + 0.004e18);
    }

    /// @dev Without `rescueBelowTarget` health 1.25 is not due at all: the same step at the cap is NoTrigger.
    function test_RevertWhen_FlagOff_InBandCapStepIsNoTrigger() public {
        setPolicyFor(safe, _policyA(false, 0, type(uint128).max));
        int256 valueBefore = _value();
        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, _repay(CAP), keeperKey));
        assertFalse(ok);
        assertEq(reason, abi.encodeWithSelector(ILeverageModule.NoTrigger.selector));
        assertEq(_value(), valueBefore, "nothing left the Safe");
    }

    /// @dev The stop engaged (price at the stop, exitHealth 1.8): the engaged zone [before + MIN_BAND_GAP, 1.8] rules, not
    /// the in-band one, and a step at the cap is accepted there as before (the stop's own rule, unchanged); under
    /// MIN_BAND_GAP of gain it is refused with exactly that zone.
    function test_StopEngaged_KeepsTheEngagedZone() public {
        uint256 before = healthOf(safe, wethMarket);
        Policy memory a = _policyA(true, 0, type(uint128).max);
        a.maxAmountPerRebalance = 41e6;
        setPolicyFor(safe, a);
        uint192 stopPrice = uint192(_state(wethMarket).price);
        vm.prank(safe);
        ILeverageModule(safe).setStopLoss(idA, stopPrice, 1.8e18);
        _refusedOutsideZone(_repay(41e6), before + ConstantsLib.MIN_BAND_GAP, 1.8e18);
    }
}
