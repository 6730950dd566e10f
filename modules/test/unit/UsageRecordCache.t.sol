// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {ThreeSubAccountFixture} from "../utils/ThreeSubAccountFixture.sol";
import {ILeverageModule, Plan, EpochUsage, Policy} from "../../src/interfaces/ILeverageModule.sol";

/// @notice Gas (issue 15): RebalanceLib reads each listed sub-account's epoch record once, in `_load` (its slot and
/// packed word, `Run.usageSlot` / `Run.usage`), checks the cooldown on that word and writes the updated word to that slot
/// in `_recordUsage`, without hashing the mapping or reading the slot again. These tests fail when the cached word is
/// not the record (a stale or zero word resets the counters), when a run writes another run's slot or reads another
/// run's word (several sub-accounts listed in another order than the policies'), or when the cooldown is judged on
/// another word.
contract UsageRecordCacheTest is ThreeSubAccountFixture {
    function setUp() public override {
        super.setUp();
        setUpThree(60_000e6);
    }

    uint256[3] internal prices = [uint256(3000e18), 60_000e18, 3500e18];

    /// @dev Every listed market's oracle price down by `bps` (SimOracle.setPrice: loan units per whole token, 1e18).
    function _drop(uint256 bps) internal {
        for (uint256 i; i < 3; ++i) prices[i] = prices[i] * (10_000 - bps) / 10_000;
        wethOracle.setPrice(prices[0]);
        wbtcOracle.setPrice(prices[1]);
        wstethOracle.setPrice(prices[2]);
    }

    /// @dev A plan repaying each listed market (`order`) from the pool towards health 1.404.
    function _plan(uint256[] memory order) internal view returns (Plan memory) {
        uint256[] memory targets = new uint256[](order.length);
        for (uint256 i; i < order.length; ++i) targets[i] = 1.404e18;
        return repayPlan(order, targets);
    }

    function _usage(uint256 market) internal view returns (EpochUsage memory) {
        return module.getEpochUsage(safe, idOf(markets[market]));
    }

    function _order(uint256 a, uint256 b, uint256 c) internal pure returns (uint256[] memory order) {
        order = new uint256[](3);
        (order[0], order[1], order[2]) = (a, b, c);
    }

    /// @dev Two rebalances in one epoch, each listing the sub-accounts in another order than the policies' (and than each
    /// other): every record counts both, its own amounts summed, its lastRebalance the second's time. A zero, stale or
    /// another run's word, or a write to another run's slot, breaks a count or an amount here.
    function test_TwoRebalancesInOneEpoch_EachRecordCountsBoth() public {
        EpochUsage[3] memory initial;
        for (uint256 m; m < 3; ++m) initial[m] = _usage(m);
        uint256 epoch = block.timestamp / 1 days;
        for (uint256 m; m < 3; ++m) {
            assertEq(initial[m].epoch, epoch, "setPolicy wrote the epoch");
            assertEq(initial[m].rebalances, 0, "nothing counted yet");
        }

        _drop(2000);
        executeAsEntryPoint(safe, keeper, _plan(_order(2, 0, 1)));
        EpochUsage[3] memory first;
        for (uint256 m; m < 3; ++m) {
            first[m] = _usage(m);
            assertEq(first[m].epoch, epoch, "same epoch");
            assertEq(first[m].rebalances, 1, "one rebalance counted");
            assertEq(first[m].lastRebalance, block.timestamp, "cooldown started");
            assertGt(first[m].amountMoved, 0, "its move charged");
            assertGt(first[m].gasUsed, 0, "its share of gas charged");
        }
        // Distinct amounts (each position's own repayment), so a swapped record shows.
        assertTrue(first[0].amountMoved != first[1].amountMoved && first[1].amountMoved != first[2].amountMoved);

        vm.warp(block.timestamp + 60); // same epoch (cooldown 0)
        _drop(1500);
        Plan memory plan = _plan(_order(1, 2, 0));
        uint256[3] memory moved;
        for (uint256 i; i < 3; ++i) moved[[uint256(1), 2, 0][i]] = plan.actions[2 * i].amount;
        executeAsEntryPoint(safe, keeper, plan);
        for (uint256 m; m < 3; ++m) {
            EpochUsage memory u = _usage(m);
            assertEq(u.epoch, epoch, "same epoch");
            assertEq(u.rebalances, 2, "both rebalances counted");
            assertEq(u.lastRebalance, block.timestamp, "cooldown restarted");
            assertApproxEqAbs(u.amountMoved, first[m].amountMoved + moved[m], 2, "amounts summed per sub-account");
            assertGt(u.gasUsed, first[m].gasUsed, "gas summed");
        }
    }

    /// @dev The cooldown is judged on the listed sub-account's own record (`Run.usage`): with a cooldown on one policy
    /// only, a second rebalance listing it with others is refused naming it and its ready time.
    function test_Cooldown_JudgedOnItsOwnRecord() public {
        Policy memory policy = defaultPolicy(markets[1], address(usdcVault));
        policy.cooldown = 1 hours;
        setPolicyFor(safe, policy);

        _drop(2000);
        executeAsEntryPoint(safe, keeper, _plan(_order(2, 0, 1)));
        uint256 readyAt = block.timestamp + 1 hours;
        assertEq(_usage(1).lastRebalance + 1 hours, readyAt);

        vm.warp(block.timestamp + 60);
        _drop(1500);
        Plan memory plan = _plan(_order(0, 2, 1));
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.CooldownActive.selector, idOf(markets[1]), readyAt));
        executeAsEntryPoint(safe, keeper, plan);
        // Without it, the others rebalance again.
        executeAsEntryPoint(safe, keeper, _plan(_order(2, 0)));
        assertEq(_usage(0).rebalances, 2);
        assertEq(_usage(2).rebalances, 2);
        assertEq(_usage(1).rebalances, 1);
    }

    function _order(uint256 a, uint256 b) internal pure returns (uint256[] memory order) {
        order = new uint256[](2);
        (order[0], order[1]) = (a, b);
    }
}
