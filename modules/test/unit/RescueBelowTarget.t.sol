// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Fixture} from "../utils/Fixture.sol";
import {ILeverageModule, Policy, Plan, ActionKind, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {ConstantsLib} from "../../src/libraries/ConstantsLib.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IMorphoBase, MarketParams, Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";

/// @notice `Policy.rescueBelowTarget` (issue 13, SECURITY.md row 150): with the owner's flag a sub-account inside its band
/// but below targetHealth is due (RebalanceLib `_trigger`), for a rescue landing in
/// [max(target, before + (target - min) / 2), target + (max - target) / 2] (`landingZone`); without it nothing changes.
/// Band 1.2 / 1.4 / 1.7 (the fixture's default policy): an in-band rescue from h lands in [max(1.4, h + 0.1), 1.55].
/// Each expected refusal names the exact zone the formula gives, from the health the venue reports before the plan.
/// Run: node scripts/forge.mjs test --match-path modules/test/unit/RescueBelowTarget.t.sol
contract RescueBelowTargetTest is Fixture {
    using MarketParamsLib for MarketParams;

    bytes32 internal wethId;

    function setUp() public override {
        super.setUp();
        openPosition(safe, wethMarket, 10e18, 18_000e6); // health 1.433 at 3,000
        depositToVault(safe, usdcVault, 10_000e6);
        wethId = setPolicyFor(safe, _policy(true));
        _setHealth(1.3e18); // inside the band [1.2, 1.7], below the target 1.4
    }

    /* HELPERS */

    function _policy(bool rescue) internal view returns (Policy memory policy) {
        policy = defaultPolicy(wethMarket, address(usdcVault));
        policy.rescueBelowTarget = rescue;
    }

    function _state() internal view returns (MarketState memory) {
        return adapter.marketState(Id.unwrap(wethMarket.id()), safe);
    }

    function _health() internal view returns (uint256) {
        return healthOf(safe, wethMarket);
    }

    /// @dev Sets the WETH price so that the WETH sub-account's health is about `target` (WAD).
    function _setHealth(uint256 target) internal {
        MarketState memory s = _state();
        wethOracle.setPrice(Math.mulDiv(target, s.debt * 1e30, s.collateral * 0.86e18));
        assertApproxEqAbs(_health(), target, 0.0001e18, "health set");
    }

    /// @dev The repayment that takes WETH to `target` health at the current price.
    function _repayToReach(uint256 target) internal view returns (uint256) {
        MarketState memory s = _state();
        return s.debt - Math.mulDiv(Math.mulDiv(s.collateral, s.price, 1e36), 0.86e18, target);
    }

    function _repayPlan(uint256 amount) internal view returns (Plan memory) {
        return plan1(
            wethId,
            action(ActionKind.WithdrawFromPool, 0, address(usdcVault), amount),
            action(ActionKind.Repay, 0, address(0), amount)
        );
    }

    /// @dev The health the venue reports after repaying `amount` of WETH's debt, measured by the owner doing that
    /// repayment on Morpho directly in a snapshot (independent of the module's arithmetic; state restored).
    function _healthAfterRepay(uint256 amount) internal returns (uint256 landed) {
        uint256 snapshot = vm.snapshotState();
        usdc.mint(safe, amount);
        safeExec(safe, address(usdc), 0, abi.encodeCall(IERC20.approve, (address(morpho), amount)), 0);
        safeExec(safe, address(morpho), 0, abi.encodeCall(IMorphoBase.repay, (wethMarket, amount, 0, safe, "")), 0);
        landed = _health();
        vm.revertToState(snapshot);
    }

    /// @dev The in-band zone the rule gives for `before` under `policy`: [max(target, before + (target - min) / 2),
    /// target + (max - target) / 2].
    function _zone(Policy memory policy, uint256 before) internal pure returns (uint256 low, uint256 high) {
        low = before + (policy.targetHealth - policy.minHealth) / 2; // stop 64: no longer at least the target
        high = policy.targetHealth + (policy.maxHealth - policy.targetHealth) / 2;
    }

    function _expectExec(Plan memory plan, bytes memory err) internal {
        vm.expectRevert(err);
        executeAsEntryPoint(safe, keeper, plan);
    }

    /// @dev `amount` repaid from the pool must be refused with exactly HealthOutsideLandingZone(wethId, landed, low, high)
    /// for the zone `_zone(policy, health now)`; returns that zone.
    function _expectOutsideZone(Policy memory policy, uint256 amount) internal returns (uint256 low, uint256 high) {
        (low, high) = _zone(policy, _health());
        uint256 landed = _healthAfterRepay(amount);
        _expectExec(
            _repayPlan(amount),
            abi.encodeWithSelector(ILeverageModule.HealthOutsideLandingZone.selector, wethId, landed, low, high)
        );
    }

    /* THE TRIGGER */

    /// Without the flag (the default) the band alone triggers: health 1.3 in [1.2, 1.7] is not due, whatever the plan.
    function test_FlagOff_InBandBelowTarget_IsNoTrigger() public {
        setPolicyFor(safe, _policy(false));
        _expectExec(_repayPlan(_repayToReach(1.45e18)), abi.encodeWithSelector(ILeverageModule.NoTrigger.selector));
        // And a move toward the target from 1.3 (the old not-due rule) still needs another sub-account due.
        _expectExec(_repayPlan(_repayToReach(1.35e18)), abi.encodeWithSelector(ILeverageModule.NoTrigger.selector));
    }

    /// With the flag the same sub-account is due: a rescue landing in its zone [~1.4, 1.55] is accepted and counted
    /// (rebalances + 1); it starts no cooldown (lastRebalance unchanged: a gap right after it is rescued at once);
    /// nothing but the debt and the pool moved.
    function test_FlagOn_InBandRescue_LandsInTheZone_AndIsRecorded() public {
        uint256 before = _health();
        (uint256 low, uint256 high) = _zone(_policy(true), before);
        assertEq(low, before + 0.1e18, "zone low: before + (target - min) / 2 (stop 64), about the target from 1.3");
        assertEq(high, 1.55e18, "zone high: target + (max - target) / 2");
        EpochUsage memory usageBefore = module.getEpochUsage(safe, wethId);
        assertEq(usageBefore.rebalances, 0);
        assertEq(usageBefore.lastRebalance, 0);
        uint256 amount = _repayToReach(1.45e18);
        uint256 expected = _healthAfterRepay(amount);
        uint256 debtBefore = _state().debt;
        executeAsEntryPoint(safe, keeper, _repayPlan(amount));
        uint256 landed = _health();
        assertEq(landed, expected, "the venue's health after the repayment");
        assertGe(landed, low, "at least the zone's low edge");
        assertLe(landed, high, "at most the zone's high edge");
        assertEq(debtBefore - _state().debt, amount, "the debt repaid");
        EpochUsage memory usage = module.getEpochUsage(safe, wethId);
        assertEq(usage.rebalances, 1, "counted as a rebalance");
        assertEq(usage.lastRebalance, 0, "an in-band rescue starts no cooldown");
        assertEq(usage.amountMoved, amount, "charged the move");
    }

    /// The low edge is before + half the lower band (stop 64: it was at least the target): from 1.25 it is 1.35, under
    /// the target, from 1.35 it is 1.45. Landing under it, even above the target, is refused with exactly that edge.
    function test_FlagOn_LandingBelowTheLowEdge_IsRefused() public {
        // From 1.25: 1.34 is under before + 0.1 (1.35), itself under the target.
        _setHealth(1.25e18);
        uint256 start = _health();
        (uint256 low,) = _expectOutsideZone(_policy(true), _repayToReach(1.34e18));
        assertEq(low, start + 0.1e18, "low = before + half the lower band");
        assertLt(low, 1.4e18, "under the target");
        // From 1.35: 1.42 is above the target but under before + (target - min) / 2 = 1.45.
        _setHealth(1.35e18);
        uint256 before = _health();
        (low,) = _expectOutsideZone(_policy(true), _repayToReach(1.42e18));
        assertEq(low, before + 0.1e18, "low = before + half the lower band");
        assertGt(low, 1.4e18);
        // The same move to 1.46 is accepted.
        executeAsEntryPoint(safe, keeper, _repayPlan(_repayToReach(1.46e18)));
        assertGe(_health(), low);
    }

    /// Stop 64 (SECURITY.md row 153): the in-band zone is continuous with the zone below the band at minHealth. A rescue
    /// sized from below the band whose inclusion finds the health just above minHealth (a gap at inclusion, 1.205)
    /// lands under the target (1.33 >= 1.205 + 0.1): accepted, where before stop 64 the in-band floor (the target)
    /// refused it and just below minHealth (1.195) the same landing was accepted. It is then still due, and the next
    /// in-band rescue must gain half the lower band again (a dust step is refused).
    function test_FlagOn_JustAboveMinHealth_ZoneContinuousWithTheBelowBandZone() public {
        _setHealth(1.205e18);
        uint256 before = _health();
        executeAsEntryPoint(safe, keeper, _repayPlan(_repayToReach(1.33e18)));
        uint256 landed = _health();
        assertGe(landed, before + 0.1e18, "at least half the lower band up");
        assertLt(landed, 1.4e18, "under the target: accepted since stop 64");
        assertEq(module.getEpochUsage(safe, wethId).rebalances, 1);
        _expectOutsideZone(_policy(true), _repayToReach(landed + 0.05e18));
    }

    /// Above the zone's high edge (1.55), though inside the band (1.6 < 1.7): refused with the exact edges.
    function test_FlagOn_LandingAboveTheHighEdge_IsRefused() public {
        uint256 before = _health();
        (uint256 low, uint256 high) = _expectOutsideZone(_policy(true), _repayToReach(1.6e18));
        assertEq(low, before + 0.1e18);
        assertEq(high, 1.55e18);
    }

    /// A band whose lower half is wider than its upper (1.1 / 1.5 / 1.6): just under the target the zone is empty
    /// (from 1.4: low max(1.5, 1.6) = 1.6 > high 1.55), so no landing is accepted there; the keeper has to wait for a
    /// lower health (from 1.34: [1.54, 1.55]).
    function test_FlagOn_EmptyZone_RefusesEveryLanding() public {
        Policy memory policy = _policy(true);
        (policy.minHealth, policy.targetHealth, policy.maxHealth) = (1.1e18, 1.5e18, 1.6e18);
        setPolicyFor(safe, policy);
        _setHealth(1.4e18);
        (uint256 low, uint256 high) = _zone(policy, _health());
        assertGt(low, high, "the zone is empty");
        // Landings at the target, at the top of the upper half and at the band's top: each refused with the same zone.
        _expectOutsideZone(policy, _repayToReach(1.5e18));
        _expectOutsideZone(policy, _repayToReach(1.55e18));
        _expectOutsideZone(policy, _repayToReach(1.595e18));
        // Lower, the zone opens: from 1.34 a landing at 1.545 is inside [1.54, 1.55].
        _setHealth(1.34e18);
        (low, high) = _zone(policy, _health());
        assertLe(low, high, "not empty from 1.34");
        executeAsEntryPoint(safe, keeper, _repayPlan(_repayToReach(1.545e18)));
        assertGe(_health(), low);
        assertLe(_health(), high);
    }

    /// At or above the target the flag adds nothing: health 1.45 (in band) and health exactly at the target are not due.
    function test_FlagOn_AtOrAboveTheTarget_IsNoTrigger() public {
        _setHealth(1.45e18);
        _expectExec(_repayPlan(_repayToReach(1.5e18)), abi.encodeWithSelector(ILeverageModule.NoTrigger.selector));
        // Exactly at the target (the trigger is strict: health < targetHealth): the lowest collateral value (loan units)
        // whose health is 1.4, and the lowest WAD price giving that value (value = collateral x price / 1e30).
        MarketState memory s = _state();
        uint256 value = Math.mulDiv(1.4e18, s.debt, 0.86e18, Math.Rounding.Ceil);
        uint256 price = Math.mulDiv(value, 1e30, s.collateral, Math.Rounding.Ceil);
        wethOracle.setPrice(price);
        assertGe(_health(), 1.4e18, "at the target");
        assertLt(_health(), 1.4e18 + 1e10, "at the target, not above it");
        _expectExec(_repayPlan(_repayToReach(1.5e18)), abi.encodeWithSelector(ILeverageModule.NoTrigger.selector));
        // One price step lower (health just under the target) it is due, and a dust landing is out of its zone.
        wethOracle.setPrice(price - 1e15);
        assertLt(_health(), 1.4e18, "just under the target");
        _expectOutsideZone(_policy(true), _repayToReach(1.41e18));
    }

    /// The cooldown another rescue started holds an in-band rescue (it is not exempt like a rescue under an engaged
    /// stop): after a rescue from below the band (1.1 -> 1.45), a fall to 1.3 12 s later is refused
    /// CooldownActive(id, first + cooldown), then accepted; that in-band rescue does not restart the cooldown.
    function test_FlagOn_CooldownOfABelowBandRescue_HoldsAnInBandRescue() public {
        Policy memory policy = _policy(true);
        policy.cooldown = 600;
        setPolicyFor(safe, policy);
        _setHealth(1.1e18);
        executeAsEntryPoint(safe, keeper, _repayPlan(_repayToReach(1.45e18)));
        uint256 first = block.timestamp;
        assertEq(module.getEpochUsage(safe, wethId).lastRebalance, first, "a rescue from below the band starts the cooldown");
        vm.warp(first + 12);
        _setHealth(1.3e18);
        _expectExec(
            _repayPlan(_repayToReach(1.45e18)),
            abi.encodeWithSelector(ILeverageModule.CooldownActive.selector, wethId, first + 600)
        );
        vm.warp(first + 600);
        executeAsEntryPoint(safe, keeper, _repayPlan(_repayToReach(1.45e18)));
        EpochUsage memory usage = module.getEpochUsage(safe, wethId);
        assertEq(usage.rebalances, 2);
        assertEq(usage.lastRebalance, first, "the in-band rescue did not restart it");
    }

    /// Issue 13 (SECURITY.md row 150): an in-band rescue starts no cooldown, so a fall below minHealth right after it
    /// (12 s, within `cooldown`) is rescued at once, as it is without the flag (no in-band rescue before); before this
    /// rule the in-band rescue held it CooldownActive for the whole cooldown.
    function test_FlagOn_InBandRescue_DoesNotDelayALaterRescueFromBelowTheBand() public {
        Policy memory policy = _policy(true);
        policy.cooldown = 600;
        setPolicyFor(safe, policy);
        executeAsEntryPoint(safe, keeper, _repayPlan(_repayToReach(1.45e18)));
        uint256 first = block.timestamp;
        vm.warp(first + 12);
        _setHealth(1.15e18);
        executeAsEntryPoint(safe, keeper, _repayPlan(_repayToReach(1.4e18)));
        EpochUsage memory usage = module.getEpochUsage(safe, wethId);
        assertEq(usage.rebalances, 2, "both counted");
        assertEq(usage.lastRebalance, first + 12, "the rescue from below the band starts the cooldown");
    }

    /// Stop 64 (SECURITY.md row 152): with the flag a rescue from below the band that leaves it below the target (1.1 ->
    /// 1.3, inside its zone [1.225, 1.55]) starts no cooldown: it is still due (in band below the target), and the
    /// in-band rescue that finishes the fall goes 12 s later, within `cooldown` (1.3 -> 1.45); after it nothing is due.
    /// Before this rule the first rescue started the cooldown and the in-band one was refused CooldownActive.
    function test_FlagOn_RescueLandingBelowTheTarget_StartsNoCooldown() public {
        Policy memory policy = _policy(true);
        policy.cooldown = 600;
        setPolicyFor(safe, policy);
        _setHealth(1.1e18);
        executeAsEntryPoint(safe, keeper, _repayPlan(_repayToReach(1.3e18)));
        assertLt(_health(), 1.4e18, "landed in the band below the target");
        assertEq(module.getEpochUsage(safe, wethId).lastRebalance, 0, "a rescue that leaves it below the target starts no cooldown");
        vm.warp(block.timestamp + 12);
        _setHealth(_health()); // a fresh feed answer, the same health
        executeAsEntryPoint(safe, keeper, _repayPlan(_repayToReach(1.45e18)));
        EpochUsage memory usage = module.getEpochUsage(safe, wethId);
        assertEq(usage.rebalances, 2, "both counted");
        assertEq(usage.lastRebalance, 0, "the in-band rescue starts none either");
        _expectExec(_repayPlan(1e6), abi.encodeWithSelector(ILeverageModule.NoTrigger.selector));
    }

    /// The same rescue landing at the target or above starts the cooldown with the flag (1.1 -> 1.45), and without the
    /// flag a landing below the target does too (1.1 -> 1.3: in the band, nothing more is due without the flag).
    function test_RescueLandingAtTheTargetOrWithoutTheFlag_StartsTheCooldown() public {
        for (uint256 k; k < 2; ++k) {
            uint256 snapshot = vm.snapshotState();
            Policy memory policy = _policy(k == 0);
            policy.cooldown = 600;
            setPolicyFor(safe, policy);
            _setHealth(1.1e18);
            executeAsEntryPoint(safe, keeper, _repayPlan(_repayToReach(k == 0 ? 1.45e18 : 1.3e18)));
            assertEq(module.getEpochUsage(safe, wethId).lastRebalance, block.timestamp, "the cooldown starts");
            vm.revertToState(snapshot);
        }
    }

    /// A boost that lands below the target (1.8 -> 1.35, its zone [1.3, 1.65]) still starts the cooldown with the flag
    /// (stop 64 exempts only a rescue from below the band): the in-band rescue right after it is refused
    /// CooldownActive, so a boost and a rescue cannot round-trip at once.
    function test_FlagOn_BoostLandingBelowTheTarget_StartsTheCooldown() public {
        Policy memory policy = _policy(true);
        policy.cooldown = 600;
        policy.boostAllowed = true;
        setPolicyFor(safe, policy);
        _setHealth(1.8e18);
        MarketState memory s = _state();
        uint256 borrow = Math.mulDiv(Math.mulDiv(s.collateral, s.price, 1e36), 0.86e18, 1.35e18) - s.debt;
        executeAsEntryPoint(
            safe,
            keeper,
            plan1(wethId, action(ActionKind.Borrow, 0, address(0), borrow), action(ActionKind.DepositToPool, 0, address(usdcVault), borrow))
        );
        assertLt(_health(), 1.4e18, "boosted below the target");
        uint256 first = block.timestamp;
        assertEq(module.getEpochUsage(safe, wethId).lastRebalance, first, "a boost starts the cooldown");
        _expectExec(_repayPlan(_repayToReach(1.45e18)), abi.encodeWithSelector(ILeverageModule.CooldownActive.selector, wethId, first + 600));
    }

    /// maxRebalancesPerEpoch counts in-band rescues: with 1, the second of the epoch (after a new fall) is refused
    /// EpochRebalanceCapExceeded(id, 2, 1); the next epoch it is accepted.
    function test_FlagOn_MaxRebalancesPerEpochApplies() public {
        Policy memory policy = _policy(true);
        policy.maxRebalancesPerEpoch = 1;
        setPolicyFor(safe, policy);
        executeAsEntryPoint(safe, keeper, _repayPlan(_repayToReach(1.45e18)));
        _setHealth(1.3e18);
        _expectExec(
            _repayPlan(_repayToReach(1.45e18)),
            abi.encodeWithSelector(ILeverageModule.EpochRebalanceCapExceeded.selector, wethId, 2, 1)
        );
        vm.warp((block.timestamp / 1 days + 1) * 1 days);
        _setHealth(1.3e18); // a fresh feed answer in the new epoch
        executeAsEntryPoint(safe, keeper, _repayPlan(_repayToReach(1.45e18)));
        assertEq(module.getEpochUsage(safe, wethId).rebalances, 1, "a new epoch's first");
    }

    /// Below minHealth the zone is the old one, flag or not: [max(min, before + (target - min) / 2), high]. From 1.15:
    /// [1.25, 1.55], so 1.22 is refused with those edges and 1.3 (under the in-band zone's target floor) is accepted.
    function test_FlagOn_BelowMinHealth_KeepsTheOldZone() public {
        _setHealth(1.15e18);
        uint256 before = _health();
        uint256 amount = _repayToReach(1.22e18);
        uint256 landed = _healthAfterRepay(amount);
        _expectExec(
            _repayPlan(amount),
            abi.encodeWithSelector(
                ILeverageModule.HealthOutsideLandingZone.selector, wethId, landed, Math.max(1.2e18, before + 0.1e18), 1.55e18
            )
        );
        executeAsEntryPoint(safe, keeper, _repayPlan(_repayToReach(1.3e18)));
        assertLt(_health(), 1.4e18, "accepted below the target: the below-band zone, not the in-band one");
        assertGe(_health(), before + 0.1e18);
    }

    /// An engaged stop still overrides the zone: [before + MIN_BAND_GAP, exitHealth]. From 1.3 with the flag, 1.32 is
    /// refused by the in-band zone (low 1.4) without the stop, accepted once the stop is engaged (price <= stopPrice).
    function test_FlagOn_EngagedStopOverridesTheZone() public {
        uint256 amount = _repayToReach(1.32e18);
        _expectOutsideZone(_policy(true), amount);
        uint192 stopPrice = uint192(_state().price); // engaged: price <= stopPrice
        vm.prank(safe);
        ILeverageModule(safe).setStopLoss(wethId, stopPrice, 2e18);
        uint256 before = _health();
        executeAsEntryPoint(safe, keeper, _repayPlan(amount));
        assertGe(_health(), before + ConstantsLib.MIN_BAND_GAP, "the stop's zone");
        assertLt(_health(), 1.4e18, "under the in-band zone's low edge");
    }

    /* THE STORED FLAG */

    /// setPolicy stores the flag and getPolicy returns it (the whole policy equal), on and off; it is bit 248 of the
    /// data contract's fourth word (PolicyData, word 3 bits 248-255) and nothing else there changes with it.
    function test_PolicyData_RoundTripsTheFlag() public {
        Policy memory on = _policy(true);
        setPolicyFor(safe, on);
        Policy memory got = module.getPolicy(safe, wethId);
        assertTrue(got.rescueBelowTarget, "flag on");
        assertEq(abi.encode(got), abi.encode(on), "getPolicy: the policy set");
        uint256 wordOn = _word3();
        assertEq(wordOn >> 248, 1, "bit 248 set, 249-255 clear");
        Policy memory off = _policy(false);
        setPolicyFor(safe, off);
        got = module.getPolicy(safe, wethId);
        assertFalse(got.rescueBelowTarget, "flag off");
        assertEq(abi.encode(got), abi.encode(off), "getPolicy: the replacement");
        assertEq(_word3(), wordOn & ~(uint256(1) << 248), "only the flag's bit differs");
    }

    /// @dev The policy data contract's fourth fixed word (code offset 1 + 3 x 32) for wethId.
    function _word3() internal view returns (uint256 w) {
        bytes32 slot = keccak256(abi.encode(safe, keccak256(abi.encode(wethId, uint256(4)))));
        address data = address(uint160(uint256(vm.load(address(module), slot))));
        bytes memory code = data.code;
        assembly {
            w := mload(add(add(code, 0x20), 97))
        }
    }
}
