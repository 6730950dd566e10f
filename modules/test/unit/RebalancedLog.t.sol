// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Vm} from "forge-std/Test.sol";
import {ThreeSubAccountFixture} from "../utils/ThreeSubAccountFixture.sol";
import {ILeverageModule, Plan, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";
import {RebalanceLib} from "../../src/libraries/RebalanceLib.sol";

/// @notice The `Rebalanced` log, which RebalanceLib writes in assembly (`_emitRebalanced`, issue 15 gas), is byte for
/// byte what `emit ILeverageModule.Rebalanced(...)` writes: the same three topics (the event's signature hash, the
/// Safe, the keeper) and data equal to `abi.encode(subAccounts, healthBefore, healthAfter, gasUsed)`, with each health
/// taken from the venue (`module.health` before and after, in the plan's listed order), not from the log. A wrong
/// offset, length, word or order in the encoding, or a health read from the wrong `Run` word, fails here.
contract RebalancedLogTest is ThreeSubAccountFixture {
    function setUp() public override {
        super.setUp();
        setUpThree(40_000e6);
        // Lower prices: every position below minHealth 1.2 (due), each at its own health (weth 1.147, wbtc 1.194,
        // wsteth 1.126), so a health put in another sub-account's slot fails too.
        wethOracle.setPrice(2400e18);
        wbtcOracle.setPrice(50_000e18);
        wstethOracle.setPrice(2750e18);
    }

    /// @dev Executes `plan` (markets `order`), and checks the module's one `Rebalanced` log against `abi.encode` of the
    /// ids, the venue's healths before and after, and the log's gasUsed; returns that gasUsed.
    function _executeAndCheck(uint256[] memory order, Plan memory plan) internal returns (uint256 gasUsed) {
        uint256 n = order.length;
        uint256[] memory before = new uint256[](n);
        for (uint256 i; i < n; ++i) before[i] = healthOf(safe, markets[order[i]]);
        vm.recordLogs();
        executeAsEntryPoint(safe, keeper, plan);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256[] memory afterwards = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            afterwards[i] = healthOf(safe, markets[order[i]]);
            assertTrue(afterwards[i] != before[i], "the health moved (the arrays cannot be swapped unseen)");
            for (uint256 j; j < i; ++j) assertTrue(before[j] != before[i], "distinct healths before");
        }

        uint256 found;
        Vm.Log memory log;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics.length > 0 && logs[i].topics[0] == ILeverageModule.Rebalanced.selector) {
                log = logs[i];
                ++found;
            }
        }
        assertEq(found, 1, "one Rebalanced log");
        assertEq(log.emitter, address(module), "emitted by the module");
        assertEq(
            ILeverageModule.Rebalanced.selector,
            keccak256("Rebalanced(address,address,bytes32[],uint256[],uint256[],uint256)"),
            "the event's signature"
        );
        assertEq(log.topics.length, 3, "three topics");
        assertEq(log.topics[1], bytes32(uint256(uint160(safe))), "topic 1: the Safe");
        assertEq(log.topics[2], bytes32(uint256(uint160(keeper))), "topic 2: the keeper");
        assertEq(log.data.length, 0x80 + 3 * 32 * (n + 1), "data length");
        gasUsed = uint256(bytes32(_word(log.data, 3)));
        assertGt(gasUsed, 50_000, "gasUsed: the engine's execution gas");
        assertEq(log.data, abi.encode(plan.subAccounts, before, afterwards, gasUsed), "data: abi.encode of the values");
        // The same bytes as the compiler's own `emit` of those values.
        vm.recordLogs();
        emit ILeverageModule.Rebalanced(safe, keeper, plan.subAccounts, before, afterwards, gasUsed);
        Vm.Log[] memory own = vm.getRecordedLogs();
        assertEq(own.length, 1);
        assertEq(own[0].topics.length, 3);
        for (uint256 t; t < 3; ++t) assertEq(log.topics[t], own[0].topics[t], "topic as the compiler emits it");
        assertEq(log.data, own[0].data, "data as the compiler emits it");
    }

    function _word(bytes memory data, uint256 index) internal pure returns (bytes32 word) {
        assembly ("memory-safe") {
            word := mload(add(add(data, 0x20), shl(5, index)))
        }
    }

    function test_RebalancedLog_OneSubAccount_IsTheAbiEncoding() public {
        uint256[] memory order = new uint256[](1);
        order[0] = 1; // wbtc
        uint256[] memory targets = new uint256[](1);
        targets[0] = 1.404e18;
        uint256 gasUsed = _executeAndCheck(order, repayPlan(order, targets));
        // The one changed sub-account is charged the whole operation's gas (`shareOf(w, t, t) = w`): the log's gasUsed is
        // the engine's, not a word from elsewhere.
        EpochUsage memory usage = module.getEpochUsage(safe, idOf(wbtcMarket));
        assertEq(usage.gasUsed, gasUsed, "the log's gasUsed is the one charged");
    }

    function test_RebalancedLog_ThreeSubAccounts_IsTheAbiEncoding() public {
        uint256[] memory order = new uint256[](3);
        (order[0], order[1], order[2]) = (2, 0, 1); // wsteth, weth, wbtc: not the policies' order
        uint256[] memory targets = new uint256[](3);
        (targets[0], targets[1], targets[2]) = (1.404e18, 1.45e18, 1.5e18); // three different healths after
        uint256 gasUsed = _executeAndCheck(order, repayPlan(order, targets));
        // Each sub-account's share of the gas is at most the whole and they sum to at least it (rounded up).
        uint256 sum;
        for (uint256 i; i < 3; ++i) {
            uint256 share = module.getEpochUsage(safe, idOf(markets[i])).gasUsed;
            assertLe(share, gasUsed, "a share is at most the log's gasUsed");
            sum += share;
        }
        assertGe(sum, gasUsed, "the shares cover the log's gasUsed");
        assertLe(sum, gasUsed + 3, "and exceed it by rounding only");
    }

    /// @dev `_emitRebalanced` reads healthBefore and healthAfter at a Run's words 6 and 7.
    function test_RunLayout_HealthWords() public pure {
        RebalanceLib.Run memory run;
        run.healthBefore = 0x1111;
        run.healthAfter = 0x2222;
        uint256 six;
        uint256 seven;
        assembly ("memory-safe") {
            six := mload(add(run, 0xc0))
            seven := mload(add(run, 0xe0))
        }
        assertEq(six, 0x1111, "healthBefore at word 6");
        assertEq(seven, 0x2222, "healthAfter at word 7");
    }
}
