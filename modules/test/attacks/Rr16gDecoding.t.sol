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

/// @notice Review rr16g (break-it of gasB, branch m45 51b0610): RebalanceLib's hand decoding of the venue adapter's
/// `marketState` reply (`_marketState`) and of the price feed's `latestRoundData` reply (`_latestRound`), `_pow10`, and
/// the action kinds compared as numbers. Each refusal the ABI coder made is checked against the coder itself
/// (`Rr16gReferenceDecoder`): the engine reverts without data exactly when the coder does, and when the coder accepts a
/// reply the rebalance ends exactly as it does with the canonical encoding of the coder's values (same success or same
/// revert data), so no field is read from stale memory or differs.
contract Rr16gDecodingTest is AttackBase {
    using MarketParamsLib for MarketParams;

    Rr16gReferenceDecoder internal ref;
    bytes32 internal wethMarketId;

    function setUp() public override {
        super.setUp();
        ref = new Rr16gReferenceDecoder();
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

    /* _pow10 */

    /// @dev feedPrice = answer x 10^(36 + loan decimals - feed decimals - collateral decimals), exactly, for every
    /// exponent from 10 to 72 (answer 1: the OracleDeviation error carries it). From 73 up to 77 the deviation check's
    /// own `distance x BPS` overflows first (Panic 0x11, before gasB too), so 10^73..10^77 are not observable here.
    /// forge-config: default.fuzz.runs = 64
    function testFuzz_Pow10_ExactUpTo72(uint256 e) public {
        e = bound(e, 10, 72);
        // feed 8 decimals, WETH 18: e = 10 + loan decimals.
        vm.mockCall(address(usdc), abi.encodeWithSelector(IERC20Metadata.decimals.selector), abi.encode(e - 10));
        _mockFeed(abi.encode(uint80(1), int256(1), uint256(0), block.timestamp, uint80(1)));
        uint256 venuePrice = wethOracle.price();
        (bool ok, bytes memory ret) = _run(_rescue());
        assertFalse(ok, "1 x 10^e deviates");
        assertEq(ret, abi.encodeWithSelector(ILeverageModule.OracleDeviation.selector, wethId, venuePrice, 10 ** e), "10^e");
    }

    function test_Pow10_Above77_Panic0x11() public {
        _mockFeed(abi.encode(uint80(1), int256(1), uint256(0), block.timestamp, uint80(1)));
        for (uint256 e = 78; e < 300; e += 37) {
            vm.mockCall(address(usdc), abi.encodeWithSelector(IERC20Metadata.decimals.selector), abi.encode(e - 10));
            (bool ok, bytes memory ret) = _run(_rescue());
            assertFalse(ok, "10^e above 77 accepted");
            if (e - 10 > 255) {
                assertEq(ret.length, 0, "loan decimals above uint8: _decimals refuses without data");
            } else {
                assertEq(ret, abi.encodeWithSignature("Panic(uint256)", 0x11), "Panic 0x11 as checked 10 ** e");
            }
        }
        vm.mockCall(address(usdc), abi.encodeWithSelector(IERC20Metadata.decimals.selector), abi.encode(68));
        (bool ok78, bytes memory ret78) = _run(_rescue());
        assertFalse(ok78, "e = 78 accepted");
        assertEq(ret78, abi.encodeWithSignature("Panic(uint256)", 0x11), "e = 78: Panic 0x11");
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
