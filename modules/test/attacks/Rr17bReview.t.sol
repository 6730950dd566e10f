// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Vm} from "forge-std/Test.sol";
import {PositionHealthRescueBase} from "./PositionHealthDecoding.t.sol";
import {ILeverageModule} from "../../src/interfaces/ILeverageModule.sol";
import {IVenueAdapter} from "../../src/interfaces/IVenueAdapter.sol";
import {RebalanceLib} from "../../src/libraries/RebalanceLib.sol";

/// @notice Break-it review rr17b of issue 15's gasC (hand-written `Rebalanced` log, `shareOf` fast path, hand-decoded
/// `positionHealth` reply). Nothing here is a finding: these pin properties that held and that the gasC suites reach
/// only partly. (1) The log's healthAfter is the third word of whatever `positionHealth` reply the engine accepted,
/// for any health the band and landing zone accept, from a longer reply whose trailing words carry another "health":
/// the log is `abi.encode` of exactly what was judged (RebalancedLog.t.sol uses the venue's real replies only).
/// (2) `shareOf`'s fast path: with whole and part below 2^128 (the caps' width) the product always fits, so the
/// fallback is never taken in a rebalance, and at the first overflowing product the result is still the mulDiv one.
contract Rr17bReviewTest is PositionHealthRescueBase {
    /// @dev Runs the rescue as the EntryPoint calls it; returns success and the module's Rebalanced log (if any).
    function _runLogged() internal returns (bool ok, bytes memory ret, Vm.Log memory log, uint256 found) {
        uint256 snap = vm.snapshotState();
        vm.recordLogs();
        vm.prank(address(entryPoint));
        (ok, ret) = safe.call(abi.encodeCall(ILeverageModule.executeRebalance, (keeper, _rescue())));
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics.length > 0 && logs[i].topics[0] == ILeverageModule.Rebalanced.selector) {
                log = logs[i];
                ++found;
            }
        }
        vm.revertToState(snap);
    }

    /// @dev A long reply (five words: the judged three, then another "health" (1.65) and a fuzzed word) with a fuzzed health in the
    /// band: when the engine accepts it, its one log is exactly `abi.encode([id], [pre.health], [wad], gasUsed)` with
    /// the topics the compiler's emit writes; when it refuses, no log. Also run once with the real health (accepted).
    /// forge-config: default.fuzz.runs = 128
    function testFuzz_RR17B_RebalancedLog_IsTheJudgedReplysHealth(uint256 wad, uint256 trailer) public {
        wad = bound(wad, 1.2e18, 1.7e18);
        _checkLogFor(wad, trailer);
    }

    function test_RR17B_RebalancedLog_RealHealthFromLongReply() public {
        assertTrue(_checkLogFor(real[2], type(uint256).max), "the real reply, lengthened, is accepted");
    }

    /// @dev The fuzz above is not vacuous: healths across the band are accepted (and logged as judged).
    function test_RR17B_RebalancedLog_AcceptedAcrossTheBand() public {
        // The rescue's landing zone tops out at 1.55 (1.6 is LandingZone-refused, as without gasC).
        uint256[4] memory healths = [uint256(1.25e18), 1.3e18, 1.4e18, 1.55e18];
        for (uint256 i; i < healths.length; ++i) {
            assertTrue(_checkLogFor(healths[i], i), "a health in the band accepted");
        }
    }

    function _checkLogFor(uint256 wad, uint256 trailer) internal returns (bool ok) {
        vm.mockCall(
            address(adapter),
            abi.encodeWithSelector(IVenueAdapter.positionHealth.selector),
            abi.encode(real[0], real[1], wad, uint256(1.65e18), trailer)
        );
        bytes memory ret;
        Vm.Log memory log;
        uint256 found;
        (ok, ret, log, found) = _runLogged();
        if (!ok) {
            assertEq(found, 0, "no log from a refused run");
            return false;
        }
        assertEq(found, 1, "one Rebalanced log");
        assertEq(log.emitter, address(module), "from the module");
        assertEq(log.topics.length, 3);
        assertEq(log.topics[1], bytes32(uint256(uint160(safe))));
        assertEq(log.topics[2], bytes32(uint256(uint160(keeper))));
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = wethId;
        uint256[] memory before = new uint256[](1);
        before[0] = pre.health;
        uint256[] memory afterwards = new uint256[](1);
        afterwards[0] = wad;
        assertEq(log.data.length, 0x80 + 3 * 64, "data length for one sub-account");
        uint256 gasUsed;
        bytes memory data = log.data;
        assembly ("memory-safe") {
            gasUsed := mload(add(data, 0x80))
        }
        assertEq(log.data, abi.encode(ids, before, afterwards, gasUsed), "log = abi.encode of what was judged");
        _checkDecoded(log.data, wad, gasUsed);
    }

    /// @dev The event's ABI decoding (what the SDK and keeper do with viem) of the log's data.
    function _checkDecoded(bytes memory data, uint256 wad, uint256 gasUsed) internal view {
        (bytes32[] memory dIds, uint256[] memory dBefore, uint256[] memory dAfter, uint256 dGas) =
            abi.decode(data, (bytes32[], uint256[], uint256[], uint256));
        assertEq(dIds.length, 1);
        assertEq(dIds[0], wethId);
        assertEq(dBefore[0], pre.health);
        assertEq(dAfter[0], wad, "the decoded healthAfter is the reply's third word");
        assertEq(dGas, gasUsed);
    }

    /// @dev `shareOf` as a rebalance calls it: whole (gas, or loss) and part (a run's moved) below 2^128 (amount caps
    /// are uint128; loss is bounded by moved x maxLossBps / BPS). The product always fits 256 bits, so the fast path is
    /// the one taken; it equals the mulDiv form (ceil) and is at most whole when part <= total.
    function testFuzz_RR17B_ShareOf_RebalanceWidthsAlwaysFit(uint128 whole, uint128 part, uint128 rest) public pure {
        vm.assume(whole > 0);
        uint256 total = uint256(part) + rest;
        vm.assume(total > 0 && part != total);
        uint256 product = uint256(whole) * part; // checked: reverts if it did not fit
        uint256 expect = product / total + (product % total > 0 ? 1 : 0);
        assertEq(RebalanceLib.shareOf(whole, part, total), expect);
        assertLe(RebalanceLib.shareOf(whole, part, total), whole);
    }

    /// @dev The first products that do not fit (whole x part = 2^256 exactly and just above): the fallback's result.
    function test_RR17B_ShareOf_FirstOverflowingProducts() public pure {
        uint256 w = 1 << 128;
        // 2^128 x 2^128 = 2^256: mul wraps to 0, 0 / w = 0 != part: fallback.
        assertEq(RebalanceLib.shareOf(w, w, w + 1), _ceil(w, w, w + 1), "2^256 exactly");
        assertEq(RebalanceLib.shareOf(w + 1, w, w + 7), _ceil(w + 1, w, w + 7), "just above 2^256");
        // The largest that fits: (2^128 - 1) x (2^128 + 1) = 2^256 - 1.
        assertEq(RebalanceLib.shareOf(w - 1, w + 1, w + 3), _ceil(w - 1, w + 1, w + 3), "2^256 - 1: fast path");
    }

    function _ceil(uint256 a, uint256 b, uint256 c) internal pure returns (uint256) {
        // 512-bit reference through the two halves: a x b / c, rounded up, via OpenZeppelin's mulDiv pieces.
        return Math512.mulDivUp(a, b, c);
    }
}

/// @dev An independent 512-bit ceil(a x b / c) (schoolbook, not OpenZeppelin's), for the overflow boundary only.
library Math512 {
    function mulDivUp(uint256 a, uint256 b, uint256 c) internal pure returns (uint256 q) {
        // (hi, lo) = a x b
        uint256 lo;
        uint256 hi;
        assembly {
            let mm := mulmod(a, b, not(0))
            lo := mul(a, b)
            hi := sub(sub(mm, lo), lt(mm, lo))
        }
        require(hi < c, "overflow");
        // Long division bit by bit (256 steps): remainder r < c.
        uint256 r = hi;
        for (uint256 i; i < 256; ++i) {
            bool top = r >> 255 == 1;
            r = (r << 1) | ((lo >> (255 - i)) & 1);
            q <<= 1;
            if (top || r >= c) {
                unchecked {
                    r -= c;
                }
                q |= 1;
            }
        }
        if (r > 0) q += 1;
    }
}
