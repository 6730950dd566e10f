// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {AttackBase} from "./AttackBase.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {IVenueAdapter, MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {IPriceFeed} from "../../src/interfaces/IPriceFeed.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {Id, MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {SimOracle} from "../utils/SimOracle.sol";
import {HealthLib} from "../../src/libraries/HealthLib.sol";
import {RebalanceLib} from "../../src/libraries/RebalanceLib.sol";
import {ConstantsLib} from "../../src/libraries/ConstantsLib.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @notice The ABI coder's decoding of the two replies gasB (issue 15) decodes by hand, as the reference: what it refuses
/// and what it returns.
contract Rr16gReferenceDecoder {
    function feed(address f) external view returns (int256 answer, uint256 updatedAt) {
        (, answer,, updatedAt,) = IPriceFeed(f).latestRoundData();
    }

    function state(address adapter, bytes32 market, address account) external view returns (MarketState memory) {
        return IVenueAdapter(adapter).marketState(market, account);
    }
}

/// @notice The feed check's arithmetic before and after rr18 (review rr16g G2), called externally so a Panic can be caught:
/// the checked 256-bit deviation comparison `_checkOracle` used, and Math.mulDiv (the reference for the exact one).
contract Rr18DeviationForms {
    function checkedForm(uint256 price, uint256 feedPrice, uint256 maxDeviationBps) external pure returns (bool) {
        return HealthLib.distance(price, feedPrice) * ConstantsLib.BPS > feedPrice * maxDeviationBps;
    }

    function mulDiv(uint256 x, uint256 y, uint256 d) external pure returns (uint256) {
        return Math.mulDiv(x, y, d);
    }
}

/// @notice Review rr16g (break-it of gasB, branch m45 51b0610): RebalanceLib's hand decoding of the venue adapter's
/// `marketState` reply (`_marketState`) and of the price feed's `latestRoundData` reply (`_latestRound`), `_pow10`, and
/// the action kinds compared as numbers. Each refusal the ABI coder made is checked against the coder itself
/// (`Rr16gReferenceDecoder`): the engine reverts without data exactly when the coder does, and when the coder accepts a
/// reply the rebalance ends exactly as it does with the canonical encoding of the coder's values (same success or same
/// revert data), so no field is read from stale memory or differs.
contract Rr16gDecodingTest is AttackBase {
    using MarketParamsLib for MarketParams;

    Rr16gReferenceDecoder internal ref;
    Rr18DeviationForms internal forms;
    bytes32 internal wethMarketId;

    function setUp() public override {
        super.setUp();
        ref = new Rr16gReferenceDecoder();
        forms = new Rr18DeviationForms();
        wethMarketId = Id.unwrap(wethMarket.id());
    }

    /// @dev The fixture's due WETH rescue: 3,300 USDC from the pool repaid (1.1467 -> about 1.40).
    function _rescue() internal view returns (Plan memory) {
        return plan1(
            wethId,
            action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 3300e6),
            action(ActionKind.Repay, 0, address(0), 3300e6)
        );
    }

    /// @dev executeRebalance as the EntryPoint calls it (through the Safe's fallback): success and revert data; state
    /// rolled back so a test can run several.
    function _run(Plan memory plan) internal returns (bool ok, bytes memory ret) {
        uint256 snap = vm.snapshotState();
        vm.prank(address(entryPoint));
        (ok, ret) = safe.call(abi.encodeCall(ILeverageModule.executeRebalance, (keeper, plan)));
        vm.revertToState(snap);
    }

    function _cut(bytes memory data, uint256 length) internal pure returns (bytes memory out) {
        out = new bytes(length);
        for (uint256 i; i < length && i < data.length; ++i) out[i] = data[i];
        // bytes past data.length: zero padding, a longer reply
    }

    function _mockFeed(bytes memory reply) internal {
        vm.mockCall(address(wethOracle), abi.encodeWithSelector(IPriceFeed.latestRoundData.selector), reply);
    }

    function _mockState(bytes memory reply) internal {
        vm.mockCall(address(adapter), abi.encodeWithSelector(IVenueAdapter.marketState.selector), reply);
    }

    /* BASELINE */

    function test_Baseline_RescueSucceeds() public {
        (bool ok,) = _run(_rescue());
        assertTrue(ok, "the fixture's rescue passes unmocked");
    }

    /* FEED: latestRoundData */

    /// @dev Differential against the ABI coder over roundId / answeredInRound with any high bits, any answer, any
    /// updatedAt (half of the runs fresh), and reply lengths from empty to two words longer than the tuple.
    /// forge-config: default.fuzz.runs = 160
    function testFuzz_Feed_HandDecoderMatchesAbiCoder(
        uint256 roundId,
        int256 answer,
        uint256 startedAt,
        uint256 updatedAt,
        uint256 answeredInRound,
        uint256 length,
        uint8 shape
    ) public {
        if (shape & 1 == 0) roundId = uint80(roundId); // half clean
        if (shape & 2 == 0) answeredInRound = uint80(answeredInRound);
        if (shape & 4 == 0) updatedAt = block.timestamp - (updatedAt % 3600);
        if (shape & 8 == 0) answer = 2400e8 + int256(uint256(uint8(shape)) % 7) - 3; // near the venue price
        if (shape & 16 == 0) length = 0xa0;
        length = bound(length, 0, 0xe0);
        bytes memory full = bytes.concat(
            abi.encode(roundId, answer, startedAt, updatedAt, answeredInRound), abi.encode(uint256(0xdead), uint256(7))
        );
        _mockFeed(_cut(full, length));

        (bool refOk, bytes memory refRet) = address(ref).staticcall(abi.encodeCall(Rr16gReferenceDecoder.feed, (address(wethOracle))));
        (bool ok, bytes memory ret) = _run(_rescue());
        if (!refOk) {
            assertEq(refRet.length, 0, "the coder refuses without data");
            assertFalse(ok, "the engine accepted a reply the ABI coder refuses");
            assertEq(ret.length, 0, "refused without data, as the coder");
            return;
        }
        (int256 a, uint256 u) = abi.decode(refRet, (int256, uint256));
        // The same rebalance with the canonical encoding of the coder's values: identical outcome.
        _mockFeed(abi.encode(uint80(1), a, uint256(0), u, uint80(1)));
        (bool okCanon, bytes memory retCanon) = _run(_rescue());
        assertEq(ok, okCanon, "accepted reply: other outcome than its canonical form");
        assertEq(ret, retCanon, "accepted reply: other revert data than its canonical form");
    }

    function test_Feed_ShortReply_RevertsWithoutData() public {
        bytes memory full = abi.encode(uint80(1), int256(2400e8), uint256(0), block.timestamp, uint80(1));
        for (uint256 length; length < 0xa0; length += 0x1f) {
            _mockFeed(_cut(full, length));
            (bool ok, bytes memory ret) = _run(_rescue());
            assertFalse(ok, "short feed reply accepted");
            assertEq(ret.length, 0, "short feed reply: revert without data");
        }
        _mockFeed(_cut(full, 0x9f));
        (bool ok9f, bytes memory ret9f) = _run(_rescue());
        assertFalse(ok9f, "0x9f bytes accepted");
        assertEq(ret9f.length, 0, "0x9f bytes: revert without data");
    }

    function test_Feed_DirtyRoundIdOrAnsweredInRound_RevertsWithoutData() public {
        uint256 dirty = uint256(1) << 80;
        _mockFeed(abi.encode(dirty, int256(2400e8), uint256(0), block.timestamp, uint256(1)));
        (bool ok, bytes memory ret) = _run(_rescue());
        assertFalse(ok, "roundId above uint80 accepted");
        assertEq(ret.length, 0, "roundId: without data");
        _mockFeed(abi.encode(uint256(1), int256(2400e8), uint256(0), block.timestamp, type(uint256).max));
        (ok, ret) = _run(_rescue());
        assertFalse(ok, "answeredInRound above uint80 accepted");
        assertEq(ret.length, 0, "answeredInRound: without data");
        // Largest clean values pass.
        _mockFeed(abi.encode(type(uint80).max, int256(2400e8), type(uint256).max, block.timestamp, type(uint80).max));
        (ok,) = _run(_rescue());
        assertTrue(ok, "uint80 max roundId / answeredInRound, any startedAt: accepted");
    }

    function test_Feed_ExtraLongReply_SameAsCanonical() public {
        bytes memory canon = abi.encode(uint80(3), int256(2400e8), uint256(0), block.timestamp, uint80(3));
        _mockFeed(bytes.concat(canon, abi.encode(type(uint256).max, type(uint256).max, type(uint256).max)));
        (bool ok,) = _run(_rescue());
        assertTrue(ok, "trailing words ignored, as the coder does");
    }

    function test_Feed_ZeroOrNegativeAnswer_OraclePriceZero() public {
        int256[3] memory answers = [int256(0), int256(-1), type(int256).min];
        for (uint256 i; i < 3; ++i) {
            _mockFeed(abi.encode(uint80(1), answers[i], uint256(0), block.timestamp, uint80(1)));
            (bool ok, bytes memory ret) = _run(_rescue());
            assertFalse(ok, "non-positive answer accepted");
            assertEq(ret, abi.encodeWithSelector(ILeverageModule.OraclePriceZero.selector, wethId), "OraclePriceZero");
        }
    }

    function test_Feed_Revert_BubbledVerbatim() public {
        bytes memory reason = abi.encodeWithSignature("Error(string)", "feed down");
        vm.mockCallRevert(address(wethOracle), abi.encodeWithSelector(IPriceFeed.latestRoundData.selector), reason);
        (bool ok, bytes memory ret) = _run(_rescue());
        assertFalse(ok, "reverting feed accepted");
        assertEq(ret, reason, "the feed's revert data, verbatim");
    }

    /// @dev A policy whose feed has no code (destroyed, or never deployed): refused without data, as the coder's empty
    /// reply decoding did.
    function test_Feed_NoCode_RevertsWithoutData() public {
        SimOracle feed = new SimOracle(6, 18, 8);
        feed.setPrice(2400e18);
        Policy memory p = defaultPolicy(wethMarket, address(usdcVault));
        p.priceFeed = address(feed);
        setPolicy(p);
        (bool ok,) = _run(_rescue());
        assertTrue(ok, "the copy feed passes while it has code");
        vm.etch(address(feed), "");
        bytes memory ret;
        (ok, ret) = _run(_rescue());
        assertFalse(ok, "codeless feed accepted");
        assertEq(ret.length, 0, "codeless feed: without data");
        (bool refOk, bytes memory refRet) = address(ref).staticcall(abi.encodeCall(Rr16gReferenceDecoder.feed, (address(feed))));
        assertFalse(refOk, "the coder refuses it too");
        assertEq(refRet.length, 0, "the coder: without data");
    }

    /* _pow10 (rr18: `_feedPrice`) and the deviation check (review rr16g G2, fixed in rr18) */

    /// @dev The Safe's holdings the rescue would move: its USDC, WETH and pool shares, and its Morpho collateral and debt.
    function _holdings() internal view returns (uint256[5] memory h) {
        MarketState memory st = adapter.marketState(wethMarketId, safe);
        h = [usdc.balanceOf(safe), weth.balanceOf(safe), usdcVault.balanceOf(safe), st.collateral, st.debt];
    }

    /// @dev `_run`, also asserting that nothing left the Safe (holdings read right after the call, before the rollback).
    function _runHeld(Plan memory plan) internal returns (bool ok, bytes memory ret) {
        uint256[5] memory before = _holdings();
        uint256 snap = vm.snapshotState();
        vm.prank(address(entryPoint));
        (ok, ret) = safe.call(abi.encodeCall(ILeverageModule.executeRebalance, (keeper, plan)));
        uint256[5] memory afterCall = _holdings();
        vm.revertToState(snap);
        for (uint256 i; i < 5; ++i) assertEq(afterCall[i], before[i], "a holding of the Safe moved");
    }

    function _deviation(uint256 feedPrice) internal view returns (bytes memory) {
        return abi.encodeWithSelector(ILeverageModule.OracleDeviation.selector, wethId, wethOracle.price(), feedPrice);
    }

    function _decimalsError() internal view returns (bytes memory) {
        return abi.encodeWithSelector(ILeverageModule.OracleDecimals.selector, wethId, uint8(8));
    }

    /// @dev feedPrice = answer x 10^(36 + loan decimals - feed decimals - collateral decimals), exactly, for every
    /// exponent from 10 to 77 (answer 1: the OracleDeviation error carries it). Before rr18 the deviation check's own
    /// `distance x BPS` overflowed from 10^73 (Panic 0x11, review rr16g G2), so only 10..72 were observable.
    /// forge-config: default.fuzz.runs = 64
    function testFuzz_Pow10_ExactUpTo77(uint256 e) public {
        e = bound(e, 10, 77);
        // feed 8 decimals, WETH 18: e = 10 + loan decimals.
        vm.mockCall(address(usdc), abi.encodeWithSelector(IERC20Metadata.decimals.selector), abi.encode(e - 10));
        _mockFeed(abi.encode(uint80(1), int256(1), uint256(0), block.timestamp, uint80(1)));
        (bool ok, bytes memory ret) = _runHeld(_rescue());
        assertFalse(ok, "1 x 10^e deviates");
        assertEq(ret, _deviation(10 ** e), "10^e");
    }

    /// @dev Review rr16g G2: 10^73..10^77 (each one, not left to the fuzzer) now revert OracleDeviation with the exact
    /// feed price, where `distance x BPS` raised Panic 0x11 before rr18; nothing leaves the Safe.
    function test_Pow10_73To77_OracleDeviation() public {
        _mockFeed(abi.encode(uint80(1), int256(1), uint256(0), block.timestamp, uint80(1)));
        for (uint256 e = 73; e <= 77; ++e) {
            vm.mockCall(address(usdc), abi.encodeWithSelector(IERC20Metadata.decimals.selector), abi.encode(e - 10));
            (bool ok, bytes memory ret) = _runHeld(_rescue());
            assertFalse(ok, "10^e accepted");
            assertEq(ret, _deviation(10 ** e), "OracleDeviation with 10^e");
        }
    }

    /// @dev Above 77 10^e does not fit a uint256: OracleDecimals (the feed's 8 decimals) since rr18, Panic 0x11 before.
    /// Loan decimals above uint8 are still refused without data by `_decimals`.
    function test_Pow10_Above77_OracleDecimals() public {
        _mockFeed(abi.encode(uint80(1), int256(1), uint256(0), block.timestamp, uint80(1)));
        for (uint256 e = 78; e < 300; e += 37) {
            vm.mockCall(address(usdc), abi.encodeWithSelector(IERC20Metadata.decimals.selector), abi.encode(e - 10));
            (bool ok, bytes memory ret) = _runHeld(_rescue());
            assertFalse(ok, "10^e above 77 accepted");
            if (e - 10 > 255) {
                assertEq(ret.length, 0, "loan decimals above uint8: _decimals refuses without data");
            } else {
                assertEq(ret, _decimalsError(), "OracleDecimals: 10^e does not fit");
            }
        }
        uint256[2] memory edges = [uint256(78), 265]; // the first exponent over, and the last below uint8 loan decimals
        for (uint256 i; i < 2; ++i) {
            vm.mockCall(address(usdc), abi.encodeWithSelector(IERC20Metadata.decimals.selector), abi.encode(edges[i] - 10));
            (bool ok, bytes memory ret) = _runHeld(_rescue());
            assertFalse(ok, "edge exponent accepted");
            assertEq(ret, _decimalsError(), "edge exponent: OracleDecimals");
        }
    }

    /// @dev Review rr16g G2 with the fixture's own decimals (USDC 6, WETH 18, feed 8: feedPrice = answer x 1e16): a huge
    /// answer reverts OracleDeviation with the exact venue and feed prices (Panic 0x11 before rr18 from about 1.16e73 of
    /// feed price: 1.2e57 x 1e16 here), up to the largest answer whose feed price fits a uint256; one more is
    /// OracleDecimals, as is the largest int256. Nothing leaves the Safe.
    function test_HugeFeedAnswer_OracleDeviationWithExactArgs() public {
        uint256 largest = type(uint256).max / 1e16; // the largest answer with answer x 1e16 <= 2^256 - 1
        uint256[4] memory answers = [uint256(1.2e57), 1e60, largest - 1, largest];
        for (uint256 i; i < answers.length; ++i) {
            _mockFeed(abi.encode(uint80(1), int256(answers[i]), uint256(0), block.timestamp, uint80(1)));
            (bool ok, bytes memory ret) = _runHeld(_rescue());
            assertFalse(ok, "a huge feed answer accepted");
            assertEq(ret, _deviation(answers[i] * 1e16), "OracleDeviation(id, venue price, answer x 1e16)");
            // The old form overflows on each of them: these were Panic 0x11 before rr18.
            (bool oldOk,) = address(forms).staticcall(
                abi.encodeCall(Rr18DeviationForms.checkedForm, (wethOracle.price(), answers[i] * 1e16, 100))
            );
            assertFalse(oldOk, "the checked form overflowed here");
        }
        int256[2] memory over = [int256(largest + 1), type(int256).max];
        for (uint256 i; i < 2; ++i) {
            _mockFeed(abi.encode(uint80(1), over[i], uint256(0), block.timestamp, uint80(1)));
            (bool ok, bytes memory ret) = _runHeld(_rescue());
            assertFalse(ok, "a feed price over 2^256 accepted");
            assertEq(ret, _decimalsError(), "OracleDecimals: answer x 1e16 does not fit");
        }
    }

    /// @dev `_deviates` (512-bit products) against the checked 256-bit form it replaced, wherever that form does not
    /// overflow (same decision), and against Math.mulDiv everywhere for deviations up to BPS (the setPolicy bound):
    /// |price - feedPrice| x BPS > feedPrice x k  <=>  |price - feedPrice| > floor(feedPrice x k / BPS) for integers.
    /// Magnitudes from 2^16 to 2^256 (shape's nibbles shift each price), half of the runs at the accept/refuse edge.
    /// forge-config: default.fuzz.runs = 2048
    function testFuzz_Deviates_MatchesCheckedFormWhereItFits(uint256 price, uint256 feedPrice, uint256 k, uint8 shape, bool edge)
        public
        view
    {
        feedPrice >>= uint256(shape >> 4) * 16;
        k = shape & 1 == 0 ? bound(k, 0, ConstantsLib.BPS) : bound(k, 0, type(uint16).max);
        if (edge && k <= ConstantsLib.BPS) {
            // price at the edge: |price - feedPrice| = floor(feedPrice x k / BPS) + (0 or 1), above or below the feed
            uint256 allowed = Math.mulDiv(feedPrice, k, ConstantsLib.BPS);
            uint256 d = allowed + (price & 1);
            if (price & 2 == 0 && feedPrice <= type(uint256).max - d) price = feedPrice + d;
            else if (feedPrice >= d) price = feedPrice - d;
        } else {
            price >>= uint256(shape & 0x0f) * 16;
        }
        bool far = RebalanceLib._deviates(price, feedPrice, k);
        (bool fits, bytes memory ret) =
            address(forms).staticcall(abi.encodeCall(Rr18DeviationForms.checkedForm, (price, feedPrice, k)));
        if (fits) assertEq(far, abi.decode(ret, (bool)), "the checked form decides otherwise where it fits");
        else assertEq(ret, abi.encodeWithSignature("Panic(uint256)", 0x11), "the checked form only overflows");
        (bool refOk, bytes memory refRet) =
            address(forms).staticcall(abi.encodeCall(Rr18DeviationForms.mulDiv, (feedPrice, k, ConstantsLib.BPS)));
        if (refOk) {
            assertEq(far, HealthLib.distance(price, feedPrice) > abi.decode(refRet, (uint256)), "the exact decision (mulDiv)");
        } else {
            assertGt(k, ConstantsLib.BPS, "mulDiv overflows only above BPS");
            assertFalse(far, "feedPrice x k / BPS above 2^256 exceeds any distance: not far");
        }
    }

    /// @dev `_deviates` at the ends of uint256, where both old products overflow.
    function test_Deviates_Extremes() public pure {
        uint256 max = type(uint256).max;
        assertTrue(RebalanceLib._deviates(max, 1, 100), "max against 1: far");
        assertTrue(RebalanceLib._deviates(1, max, 100), "1 against max at 1%: far");
        assertFalse(RebalanceLib._deviates(max, max, 0), "equal: never far");
        assertFalse(RebalanceLib._deviates(0, max, ConstantsLib.BPS), "100%: a distance of feedPrice itself is allowed");
        assertTrue(RebalanceLib._deviates(0, max, ConstantsLib.BPS - 1), "99.99%: a distance of feedPrice is far");
        assertFalse(RebalanceLib._deviates(max - max / 100, max, 100), "exactly 1% below max: allowed");
        assertTrue(RebalanceLib._deviates(max - max / 100 - 1, max, 100), "one unit more: far");
    }

    /// @dev `_feedPrice` against checked arithmetic: fits exactly when e <= 77 and answer x 10^e <= 2^256 - 1, and then
    /// is the exact product. Exponents up to 291 (36 + 255 loan decimals), half of the runs at the edge of fitting.
    /// forge-config: default.fuzz.runs = 1024
    function testFuzz_FeedPrice_FitsExactlyWhenTheProductDoes(uint256 answer, uint256 e, bool edge) public pure {
        e = bound(e, 0, 291);
        answer = bound(answer, 1, uint256(type(int256).max));
        if (edge && e <= 77) {
            uint256 largest = type(uint256).max / 10 ** e; // the largest answer whose product fits
            if (largest < uint256(type(int256).max)) answer = largest + (answer & 1);
        }
        (uint256 price, bool fits) = RebalanceLib._feedPrice(answer, e);
        bool expected = e <= 77 && answer <= type(uint256).max / 10 ** e;
        assertEq(fits, expected, "fits exactly when the product does");
        if (expected) assertEq(price, answer * 10 ** e, "the exact product");
    }

    /// @dev The feed's decimals (a uint8 read by `_decimals`, unchanged by gasB): above 36 OracleDecimals; above uint8
    /// (a dirty uint8 word) refused without data, as the coder's uint8 decoding.
    function test_FeedDecimals_Above36OrNotUint8_Refused() public {
        vm.mockCall(address(wethOracle), abi.encodeWithSelector(IPriceFeed.decimals.selector), abi.encode(uint256(37)));
        (bool ok, bytes memory ret) = _run(_rescue());
        assertFalse(ok, "37 feed decimals accepted");
        assertEq(ret, abi.encodeWithSelector(ILeverageModule.OracleDecimals.selector, wethId, uint8(37)), "OracleDecimals");
        vm.mockCall(address(wethOracle), abi.encodeWithSelector(IPriceFeed.decimals.selector), abi.encode(uint256(8) | 1 << 8));
        (ok, ret) = _run(_rescue());
        assertFalse(ok, "dirty uint8 decimals accepted");
        assertEq(ret.length, 0, "dirty uint8 decimals: without data");
    }

    /* ADAPTER: marketState */

    /// @dev Differential against the ABI coder: the adapter's real reply with dirty high bits in either token word, cut or
    /// lengthened.
    /// forge-config: default.fuzz.runs = 160
    function testFuzz_State_HandDecoderMatchesAbiCoder(uint256 dirt0, uint256 dirt1, uint256 length, uint8 shape) public {
        MarketState memory real = adapter.marketState(wethMarketId, safe);
        bytes memory full = bytes.concat(abi.encode(real), abi.encode(uint256(1), type(uint256).max));
        if (shape & 1 == 0) dirt0 = 0;
        if (shape & 2 == 0) dirt1 = 0;
        if (shape & 4 == 0) length = 0x120;
        length = bound(length, 0, 0x160);
        uint256 w0 = uint256(uint160(real.loanToken)) | (dirt0 << 160);
        uint256 w1 = uint256(uint160(real.collateralToken)) | (dirt1 << 160);
        assembly ("memory-safe") {
            mstore(add(full, 0x20), w0)
            mstore(add(full, 0x40), w1)
        }
        _mockState(_cut(full, length));

        (bool refOk, bytes memory refRet) = address(ref).staticcall(
            abi.encodeCall(Rr16gReferenceDecoder.state, (address(adapter), wethMarketId, safe))
        );
        (bool ok, bytes memory ret) = _run(_rescue());
        if (!refOk) {
            assertEq(refRet.length, 0, "the coder refuses without data");
            assertFalse(ok, "the engine accepted a state reply the ABI coder refuses");
            assertEq(ret.length, 0, "refused without data, as the coder");
            return;
        }
        MarketState memory decoded = abi.decode(refRet, (MarketState));
        _mockState(abi.encode(decoded));
        (bool okCanon, bytes memory retCanon) = _run(_rescue());
        assertEq(ok, okCanon, "accepted state reply: other outcome than its canonical form");
        assertEq(ret, retCanon, "accepted state reply: other revert data than its canonical form");
    }

    /// @dev The health the engine judges is the one the (accepted, one byte longer) reply carries, not stale memory: a
    /// reply claiming health 2.0 is not due (the differential fuzz test covers the other fields through the outcome).
    function test_State_FieldsComeFromTheReply() public {
        MarketState memory s = adapter.marketState(wethMarketId, safe);
        s.health = 2e18;
        _mockState(bytes.concat(abi.encode(s), hex"ff"));
        (bool ok, bytes memory ret) = _run(_rescue());
        assertFalse(ok, "healthy reply: nothing due");
        assertEq(ret, abi.encodeWithSelector(ILeverageModule.NoTrigger.selector), "NoTrigger from the reply's health");
    }

    function test_State_ShortReply_RevertsWithoutData() public {
        bytes memory full = abi.encode(adapter.marketState(wethMarketId, safe));
        uint256[4] memory lengths = [uint256(0), 0x20, 0x100, 0x11f];
        for (uint256 i; i < 4; ++i) {
            _mockState(_cut(full, lengths[i]));
            (bool ok, bytes memory ret) = _run(_rescue());
            assertFalse(ok, "short state reply accepted");
            assertEq(ret.length, 0, "short state reply: without data");
        }
    }

    function test_State_Revert_BubbledVerbatim() public {
        bytes memory reason = abi.encodeWithSignature("Custom(uint256)", 42);
        vm.mockCallRevert(address(adapter), abi.encodeWithSelector(IVenueAdapter.marketState.selector), reason);
        (bool ok, bytes memory ret) = _run(_rescue());
        assertFalse(ok, "reverting adapter accepted");
        assertEq(ret, reason, "the adapter's revert data, verbatim");
    }

    function test_State_AdapterWithoutCode_RevertsWithoutData() public {
        vm.etch(address(adapter), "");
        (bool ok, bytes memory ret) = _run(_rescue());
        assertFalse(ok, "codeless adapter accepted");
        assertEq(ret.length, 0, "codeless adapter: without data");
    }

    /// @dev The reply's length, as the interface encodes a MarketState: if a field is added to MarketState without
    /// updating `_marketState`'s 0x120, a reply one byte short of the new encoding would be accepted here.
    function test_State_OneByteShortOfTheEncoding_Refused() public {
        bytes memory full = abi.encode(adapter.marketState(wethMarketId, safe));
        _mockState(_cut(full, full.length - 1));
        (bool ok, bytes memory ret) = _run(_rescue());
        assertFalse(ok, "one byte short of abi.encode(MarketState) accepted: _marketState's 0x120 is out of step");
        assertEq(ret.length, 0, "without data");
    }

    /// @dev The Morpho adapter's marketState computes the collateral value once (gasB): health and equity equal
    /// `HealthLib.health(state)` and `HealthLib.equity(state)` over its other fields, at any venue price (debt on and off).
    /// forge-config: default.fuzz.runs = 256
    function testFuzz_MorphoMarketState_HealthAndEquityAsHealthLib(uint256 price, bool repaid) public {
        price = bound(price, 0, 1e50);
        wethOracle.setVenuePrice(price);
        if (repaid) {
            vm.warp(block.timestamp + 1);
            (, uint256 debt) = adapter.position(wethMarketId, safe);
            usdc.mint(safe, debt);
            safeExec(safe, address(usdc), 0, abi.encodeCall(usdc.approve, (address(morpho), type(uint256).max)), 0);
            uint256 shares = morpho.position(wethMarket.id(), safe).borrowShares;
            safeExec(safe, address(morpho), 0, abi.encodeCall(morpho.repay, (wethMarket, 0, shares, safe, "")), 0);
        }
        MarketState memory s = adapter.marketState(wethMarketId, safe);
        if (repaid) assertEq(s.debt, 0, "repaid");
        assertEq(s.health, HealthLib.health(s), "health");
        assertEq(s.equity, HealthLib.equity(s), "equity");
    }

    /* ACTION KINDS */

    /// @dev A kind at or above ACTION_KINDS (11) is refused before the engine with MalformedPlan(7), in any position.
    function test_ActionKindOutOfRange_MalformedPlan7() public {
        uint256[5] memory kinds = [uint256(11), 15, 255, 256, type(uint256).max];
        bytes memory data = abi.encodeCall(ILeverageModule.executeRebalance, (keeper, _rescue()));
        // selector | keeper | 0x40 | 0x40 | 0x80 | n=1 | id | m=2 | action0 (4 words) | action1 (4 words)
        for (uint256 p; p < 2; ++p) {
            for (uint256 i; i < 5; ++i) {
                bytes memory patched = bytes.concat(data);
                uint256 at = 4 + 32 * 7 + 128 * p;
                uint256 kind = kinds[i];
                assembly ("memory-safe") {
                    mstore(add(add(patched, 0x20), at), kind)
                }
                uint256 snap = vm.snapshotState();
                vm.prank(address(entryPoint));
                (bool ok, bytes memory ret) = safe.call(patched);
                vm.revertToState(snap);
                assertFalse(ok, "out-of-range kind accepted");
                assertEq(ret, abi.encodeWithSelector(ILeverageModule.MalformedPlan.selector, uint8(7)), "MalformedPlan(7)");
            }
        }
    }

    /// @dev EndCallback carrying a pool or an amount (now `pool | amount != 0`): ActionNotAllowed(its index, EndCallback).
    function test_EndCallbackWithPoolOrAmount_ActionNotAllowed() public {
        Action[] memory a = new Action[](4);
        a[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 3300e6);
        a[1] = action(ActionKind.RepayWithCallback, 0, address(0), 3000e6);
        a[2] = action(ActionKind.Repay, 0, address(0), 300e6);
        Plan memory plan;
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = wethId;
        plan.actions = a;
        bytes memory err = abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 3, ActionKind.EndCallback);
        a[3] = action(ActionKind.EndCallback, 0, address(usdcVault), 0);
        (bool ok, bytes memory ret) = _run(plan);
        assertFalse(ok, "EndCallback with a pool accepted");
        assertEq(ret, err, "pool only");
        a[3] = action(ActionKind.EndCallback, 0, address(0), 1);
        (ok, ret) = _run(plan);
        assertFalse(ok, "EndCallback with an amount accepted");
        assertEq(ret, err, "amount only");
        a[3] = action(ActionKind.EndCallback, 0, address(0), 0);
        (ok, ret) = _run(plan);
        assertTrue(ok, "the clean EndCallback passes (the block is otherwise valid)");
    }
}
