// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Fixture} from "../utils/Fixture.sol";
import {ILeverageModule, Policy, Plan, ActionKind, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {ConstantsLib} from "../../src/libraries/ConstantsLib.sol";
import {MarketParams, Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";

/// @notice Cap-bound boost (issue 13, stop 65, SECURITY.md row 154): a sub-account due from ABOVE its band (boosts
/// allowed, no stop set or held) whose counted move is at least 99 % of maxAmountPerRebalance may land above the band,
/// at least MIN_BAND_GAP under its health before; it still starts the cooldown. Before the rule a boost at the cap from
/// health ~2.2 landed at ~2.14 > maxHealth 1.7 and was refused HealthOutOfBand, so nothing re-levered the position.
contract CapBoundBoostTest is Fixture {
    using MarketParamsLib for MarketParams;

    uint256 internal constant CAP = 500e6;
    uint256 internal constant PRICE = 4600e18; // 46,000 x 0.86 / 18,000 = 2.1978 > maxHealth 1.7: due as a boost

    bytes32 internal wethId;

    function setUp() public override {
        super.setUp();
        openPosition(safe, wethMarket, 10e18, 18_000e6); // health 1.433 at 3,000
        depositToVault(safe, usdcVault, 10_000e6);
        wethId = setPolicyFor(safe, _policy(CAP, true, 0));
        wethOracle.setPrice(PRICE);
    }

    function _policy(uint256 cap, bool boost, uint32 cooldown) internal view returns (Policy memory policy) {
        policy = defaultPolicy(wethMarket, address(usdcVault));
        policy.maxAmountPerRebalance = uint128(cap);
        policy.boostAllowed = boost;
        policy.cooldown = cooldown;
    }

    /// @dev The plain boost the solver sends (planSteps.ts `boost`): Borrow(x) + DepositToPool(x).
    function _boostPlan(uint256 amount) internal view returns (Plan memory) {
        return plan1(
            wethId,
            action(ActionKind.Borrow, 0, address(0), amount),
            action(ActionKind.DepositToPool, 0, address(usdcVault), amount)
        );
    }

    function _state() internal view returns (MarketState memory) {
        return adapter.marketState(Id.unwrap(wethMarket.id()), safe);
    }

    function _healthAfterBorrow(uint256 amount) internal pure returns (uint256) {
        return (46_000e6 * 0.86e18) / (18_000e6 + amount);
    }

    /// @dev Idle USDC + the vault's assets + collateral at PRICE - debt.
    function _value() internal view returns (int256) {
        MarketState memory st = _state();
        uint256 vault = usdcVault.convertToAssets(usdcVault.balanceOf(safe));
        return int256(usdc.balanceOf(safe) + vault + st.collateral * 4600e6 / 1e18) - int256(st.debt);
    }

    function _usage() internal view returns (EpochUsage memory) {
        return module.getEpochUsage(safe, wethId);
    }

    /* accepted */

    /// @dev Main refuses this (HealthOutOfBand(wethId, 2.1384, 1.2, 1.7)); the rule lands it above the band.
    function test_CapBoundBoostAboveBand_IsAccepted_AndStartsTheCooldown() public {
        uint256 before = healthOf(safe, wethMarket);
        assertGt(before, 2.19e18);
        int256 valueBefore = _value();
        executeAsEntryPoint(safe, keeper, _boostPlan(CAP));
        uint256 afterHealth = healthOf(safe, wethMarket);
        assertApproxEqAbs(afterHealth, _healthAfterBorrow(CAP), 0.0001e18);
        assertGt(afterHealth, 1.7e18, "landed above the band");
        assertLe(afterHealth, before - ConstantsLib.MIN_BAND_GAP, "at least MIN_BAND_GAP lower");
        assertEq(_state().debt, 18_500e6, "the cap borrowed");
        assertApproxEqAbs(_value(), valueBefore, 2, "nothing left the Safe");
        EpochUsage memory u = _usage();
        assertEq(u.rebalances, 1, "rebalance counted");
        assertEq(u.amountMoved, CAP, "charged its move");
        assertEq(u.lastRebalance, block.timestamp, "cooldown started");
    }

    /// @dev 495 = cap - cap / 100, the lowest cap-bound move; and the next step (no cooldown) lands another gap lower.
    function test_CapBoundBoost_At99PercentOfTheCap_IsAccepted_AndRepeats() public {
        executeAsEntryPoint(safe, keeper, _boostPlan(495e6));
        uint256 first = healthOf(safe, wethMarket);
        assertApproxEqAbs(first, _healthAfterBorrow(495e6), 0.0001e18);
        assertGt(first, 1.7e18);
        executeAsEntryPoint(safe, keeper, _boostPlan(CAP));
        assertApproxEqAbs(healthOf(safe, wethMarket), _healthAfterBorrow(995e6), 0.0001e18);
        assertEq(_usage().rebalances, 2);
    }

    /* refused */

    /// @dev (a) One base unit under 99 % of the cap: the ordinary rule, HealthOutOfBand above the band.
    function test_RevertWhen_AboveBandAndNotCapBound() public {
        uint256 amount = 495e6 - 1;
        uint256 health = _healthAfterBorrow(amount);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.HealthOutOfBand.selector, wethId, health, 1.2e18, 1.7e18));
        executeAsEntryPoint(safe, keeper, _boostPlan(amount));
        // A larger cap: 500 is 50 % of it, not cap-bound.
        setPolicyFor(safe, _policy(1000e6, true, 0));
        vm.expectRevert(
            abi.encodeWithSelector(ILeverageModule.HealthOutOfBand.selector, wethId, _healthAfterBorrow(CAP), 1.2e18, 1.7e18)
        );
        executeAsEntryPoint(safe, keeper, _boostPlan(CAP));
    }

    /// @dev (b) Cap 41: a borrow of 41 is cap-bound but lowers health by only ~0.005: outside [1.3, before - gap].
    function test_RevertWhen_CapBoundBoostGainsLessThanTheGap() public {
        setPolicyFor(safe, _policy(41e6, true, 0));
        uint256 before = healthOf(safe, wethMarket);
        uint256 health = _healthAfterBorrow(41e6);
        assertGt(health, before - ConstantsLib.MIN_BAND_GAP);
        assertLt(health, before - 0.004e18);
        vm.expectRevert(
            abi.encodeWithSelector(
                ILeverageModule.HealthOutsideLandingZone.selector, wethId, health, 1.3e18, before - ConstantsLib.MIN_BAND_GAP
            )
        );
        executeAsEntryPoint(safe, keeper, _boostPlan(41e6));
    }

    /// @dev (c) boostAllowed false: above the band is not due (`_trigger`), so the plan triggers nothing.
    function test_RevertWhen_CapBoundBoostWithoutBoostAllowed() public {
        setPolicyFor(safe, _policy(CAP, false, 0));
        vm.expectRevert(ILeverageModule.NoTrigger.selector);
        executeAsEntryPoint(safe, keeper, _boostPlan(CAP));
    }

    /// @dev (d) Stop held (price above the stop but within its re-arm band): `Run.stop` 1, not due as a boost.
    function test_RevertWhen_CapBoundBoostWithStopHeld() public {
        uint256 price = _state().price;
        vm.prank(safe);
        ILeverageModule(safe).setStopLoss(wethId, uint192(price * 10_000 / 10_050), 1.8e18); // re-arm at stop x 1.01
        vm.expectRevert(ILeverageModule.NoTrigger.selector);
        executeAsEntryPoint(safe, keeper, _boostPlan(CAP));
    }

    /// @dev (d) Stop engaged (price at the stop): health 2.2 is above exitHealth 1.8, so nothing is due.
    function test_RevertWhen_CapBoundBoostWithStopEngaged() public {
        uint256 price = _state().price;
        vm.prank(safe);
        ILeverageModule(safe).setStopLoss(wethId, uint192(price), 1.8e18);
        vm.expectRevert(ILeverageModule.NoTrigger.selector);
        executeAsEntryPoint(safe, keeper, _boostPlan(CAP));
    }

    /// @dev (e) The amount cap is unchanged: 501 > 500 (main names HealthOutOfBand first).
    function test_RevertWhen_CapBoundBoostMovesMoreThanTheCap() public {
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.AmountCapExceeded.selector, wethId, 501e6, CAP));
        executeAsEntryPoint(safe, keeper, _boostPlan(501e6));
    }

    /// @dev (f) A cap-bound boost starts the cooldown: the next one is refused until it ends, then accepted.
    function test_RevertWhen_SecondCapBoundBoostInTheCooldown() public {
        setPolicyFor(safe, _policy(CAP, true, 1 hours));
        executeAsEntryPoint(safe, keeper, _boostPlan(CAP));
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.CooldownActive.selector, wethId, block.timestamp + 1 hours));
        executeAsEntryPoint(safe, keeper, _boostPlan(CAP));
        vm.warp(block.timestamp + 1 hours);
        wethOracle.setPrice(PRICE); // fresh answer
        executeAsEntryPoint(safe, keeper, _boostPlan(CAP));
        assertApproxEqAbs(healthOf(safe, wethMarket), _healthAfterBorrow(1000e6), 0.001e18);
    }
}
