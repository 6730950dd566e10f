// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {console2} from "forge-std/console2.sol";

import {SwapBase} from "../utils/SwapBase.sol";
import {ILeverageModule, Policy, Plan} from "../../src/interfaces/ILeverageModule.sol";

/// @notice Review rr13t of the stop exit's share (f13h, docs/reviews/issue13-rr13t.md). T1 and T2 failed on main at
/// 1861e45; fixed on f13i (SECURITY.md row 123) and run by default.
/// Run: node scripts/forge.mjs test --match-path modules/test/attacks/Rr13tStopLoss.t.sol
contract Rr13tStopLossTest is SwapBase {
    uint64 internal constant EXIT = 3e18;

    function setUp() public virtual override {
        super.setUp();
        moveWethHealthTo(1.5e18); // inside the band [1.2, 1.7], as StopLossAttacks.t.sol
    }

    function _health() internal view returns (uint256) {
        return module.health(safe, wethId);
    }

    function _setStop(uint256 stopPrice, uint64 exitHealth) internal {
        vm.prank(safe);
        ILeverageModule(safe).setStopLoss(wethId, uint192(stopPrice), exitHealth);
    }

    /// rr13t T1 FAILS TODAY: the exit share (rr13s S4 fix) halves the epoch counters but not the cooldown. A stop exit
    /// is `due`, so it starts the cooldown like a rescue. With cooldown 300 s a keeper's +0.015 exit (or an honest exit
    /// cut by maxAmountPerRebalance) at t makes the rescue from below minHealth at t + 12 s revert with CooldownActive
    /// until t + 300 s, on the same fall that engaged the stop. The same Safe without a stop had made no rebalance and
    /// is rescued at once. Expected: the rescue from 1.1 (minHealth 1.2) is accepted one block after the exit.
    function test_rr13t_T1_StopExitDoesNotDelayTheRescue() public {
        Policy memory p = swapPolicy(wethMarket, false);
        p.cooldown = 300;
        wethId = setPolicy(p);
        _setStop(wethState().price, EXIT);
        (Plan memory small,,) = swapDeleverage(_health() + 0.015e18);
        (bool exited,) = handle(keeperOp(safe, keeper, small, keeperKey));
        assertTrue(exited, "the stop exit runs");
        vm.warp(block.timestamp + 12);
        moveWethHealthTo(1.1e18); // the fall goes on (still engaged), below minHealth 1.2
        (Plan memory rescue,,) = swapDeleverage(1.5e18);
        (bool rescued, bytes memory why) = handle(keeperOp(safe, keeper, rescue, keeperKey));
        if (!rescued) console2.logBytes(why);
        assertTrue(rescued, "the rescue from below minHealth is not delayed by the stop exit's cooldown");
    }

    /// rr13t T2 FAILS TODAY: with maxRebalancesPerEpoch 1 (or maxAmountPerEpoch / maxGasPerEpoch / maxEpochLossBps of
    /// 1) the exits' half is floor(1 / 2) = 0, so no stop exit can ever run (EpochRebalanceCapExceeded(id, 1, 0)), yet
    /// setStopLoss accepts the stop and the SDK / keeper report it as set. The owner's stop is silently inert.
    /// Expected: either setStopLoss (and setPolicy with a stop) refuses a policy whose exit share is 0, naming the
    /// field, or the engaged stop's exit runs.
    function test_rr13t_T2_StopAcceptedButInertWithCapOne() public {
        Policy memory p = swapPolicy(wethMarket, false);
        p.maxRebalancesPerEpoch = 1;
        wethId = setPolicy(p);
        uint192 stopPrice = uint192(wethState().price);
        vm.prank(safe);
        (bool set, bytes memory setWhy) =
            address(safe).call(abi.encodeCall(ILeverageModule.setStopLoss, (wethId, stopPrice, EXIT)));
        if (!set) {
            // Refused at set time (the fix direction taken), naming the field.
            assertEq(setWhy, abi.encodeWithSelector(ILeverageModule.InvalidStopLoss.selector, bytes32("maxRebalancesPerEpoch")));
            return;
        }
        (Plan memory exitPlan,,) = swapDeleverage(2.5e18);
        (bool exited, bytes memory why) = handle(keeperOp(safe, keeper, exitPlan, keeperKey));
        if (!exited) console2.logBytes(why);
        assertTrue(exited, "a stop the module accepted can exit at least once per epoch");
    }

    /// rr13t T2 (setPolicy side): with a stop set, a policy whose stop exit share is 0 is refused, naming the field.
    function test_rr13t_T2_SetPolicyRefusesCapOneWhileStopSet() public {
        Policy memory p = swapPolicy(wethMarket, false);
        wethId = setPolicy(p);
        _setStop(wethState().price, EXIT);
        p.maxRebalancesPerEpoch = 1;
        vm.prank(safe);
        (bool ok, bytes memory why) = address(safe).call(abi.encodeCall(ILeverageModule.setPolicy, (p)));
        assertFalse(ok, "setPolicy with cap 1 while a stop is set");
        assertEq(why, abi.encodeWithSelector(ILeverageModule.InvalidStopLoss.selector, bytes32("maxRebalancesPerEpoch")));
        p.maxRebalancesPerEpoch = 2;
        p.maxGasPerEpoch = 1;
        vm.prank(safe);
        (ok, why) = address(safe).call(abi.encodeCall(ILeverageModule.setPolicy, (p)));
        assertFalse(ok, "setPolicy with gas cap 1 while a stop is set");
        assertEq(why, abi.encodeWithSelector(ILeverageModule.InvalidStopLoss.selector, bytes32("maxGasPerEpoch")));
    }
}
