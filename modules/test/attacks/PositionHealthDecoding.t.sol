// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {AttackBase} from "./AttackBase.sol";
import {ILeverageModule, Plan, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {IVenueAdapter, MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {Id, MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";

/// @notice The ABI coder's decoding of the venue adapter's `positionHealth` reply: the reference for the hand decoder.
contract PositionHealthReferenceDecoder {
    function positionHealth(address adapter, bytes32 market, address account, uint256 price, uint256 lltv)
        external
        view
        returns (uint256 collateral, uint256 debt, uint256 wad)
    {
        return IVenueAdapter(adapter).positionHealth(market, account, price, lltv);
    }
}

/// @notice The fixture's due WETH rescue and the venue's real `positionHealth` reply after it (unmocked), shared by the
/// suites that mock that reply (this file, Rr17bReview.t.sol).
abstract contract PositionHealthRescueBase is AttackBase {
    using MarketParamsLib for MarketParams;

    bytes32 internal wethMarketId;
    MarketState internal pre;
    uint256[3] internal real; // the reply after the rescue, unmocked

    function setUp() public virtual override {
        super.setUp();
        wethMarketId = Id.unwrap(wethMarket.id());
        pre = adapter.marketState(wethMarketId, safe);
        uint256 snap = vm.snapshotState();
        vm.prank(address(entryPoint));
        ILeverageModule(safe).executeRebalance(keeper, _rescue());
        (uint256 c, uint256 d, uint256 h) = adapter.positionHealth(wethMarketId, safe, pre.price, pre.lltv);
        vm.revertToState(snap); // reverts this contract's storage too: `real` is written after
        (real[0], real[1], real[2]) = (c, d, h);
        assertGt(c, 0, "collateral after");
        assertLt(d, pre.debt, "debt repaid");
    }

    /// @dev The fixture's due WETH rescue: 3,300 USDC from the pool repaid (1.1467 -> about 1.40).
    function _rescue() internal view returns (Plan memory) {
        return plan1(
            wethId,
            action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 3300e6),
            action(ActionKind.Repay, 0, address(0), 3300e6)
        );
    }
}

/// @notice Issue 15 (gasC): RebalanceLib reads the adapter's `positionHealth` reply after the actions by hand
/// (`_positionHealth`), as gasB did `marketState`'s (review rr16g). Every refusal of the ABI coder is kept, checked against
/// the coder itself: the engine reverts without data exactly when the coder refuses the reply, and when the coder
/// accepts it the rebalance ends exactly as with the canonical encoding of the coder's values (same success or same
/// revert data), so no word is read from stale memory or from the wrong place.
contract PositionHealthDecodingTest is PositionHealthRescueBase {
    PositionHealthReferenceDecoder internal ref;

    function setUp() public override {
        super.setUp();
        ref = new PositionHealthReferenceDecoder();
    }

    /// @dev executeRebalance as the EntryPoint calls it: success and revert data; state rolled back.
    function _run() internal returns (bool ok, bytes memory ret) {
        uint256 snap = vm.snapshotState();
        vm.prank(address(entryPoint));
        (ok, ret) = safe.call(abi.encodeCall(ILeverageModule.executeRebalance, (keeper, _rescue())));
        vm.revertToState(snap);
    }

    function _cut(bytes memory data, uint256 length) internal pure returns (bytes memory out) {
        out = new bytes(length);
        for (uint256 i; i < length && i < data.length; ++i) out[i] = data[i];
    }

    function _mock(bytes memory reply) internal {
        vm.mockCall(address(adapter), abi.encodeWithSelector(IVenueAdapter.positionHealth.selector), reply);
    }

    function test_Baseline_RealReplyCanonical_Succeeds() public {
        (bool ok,) = _run();
        assertTrue(ok, "the fixture's rescue passes unmocked");
        _mock(abi.encode(real[0], real[1], real[2]));
        (ok,) = _run();
        assertTrue(ok, "and with the real reply mocked");
    }

    /// @dev Differential against the ABI coder: the real reply or any three words, cut or lengthened (up to two words
    /// more).
    /// forge-config: default.fuzz.runs = 160
    function testFuzz_PositionHealth_HandDecoderMatchesAbiCoder(
        uint256 collateral,
        uint256 debt,
        uint256 wad,
        uint256 length,
        uint8 shape
    ) public {
        if (shape & 1 == 0) collateral = real[0];
        if (shape & 2 == 0) debt = real[1];
        if (shape & 4 == 0) wad = shape & 8 == 0 ? real[2] : bound(wad, 1.2e18, 1.7e18);
        length = shape & 16 == 0 ? 0x60 : bound(length, 0, 0xa0);
        _mock(_cut(abi.encode(collateral, debt, wad, type(uint256).max, uint256(1)), length));

        (bool refOk, bytes memory refRet) = address(ref).staticcall(
            abi.encodeCall(PositionHealthReferenceDecoder.positionHealth, (address(adapter), wethMarketId, safe, pre.price, pre.lltv))
        );
        (bool ok, bytes memory ret) = _run();
        if (!refOk) {
            assertEq(refRet.length, 0, "the coder refuses without data");
            assertFalse(ok, "the engine accepted a positionHealth reply the ABI coder refuses");
            assertEq(ret.length, 0, "refused without data, as the coder");
            return;
        }
        (uint256 c, uint256 d, uint256 h) = abi.decode(refRet, (uint256, uint256, uint256));
        _mock(abi.encode(c, d, h));
        (bool okCanon, bytes memory retCanon) = _run();
        assertEq(ok, okCanon, "accepted reply: other outcome than its canonical form");
        assertEq(ret, retCanon, "accepted reply: other revert data than its canonical form");
    }

    /// @dev The health judged is the reply's third word, read from a longer (accepted) reply: 1.9 is above maxHealth.
    function test_PositionHealth_HealthComesFromTheReply() public {
        _mock(bytes.concat(abi.encode(real[0], real[1], uint256(1.9e18)), hex"ff"));
        (bool ok, bytes memory ret) = _run();
        assertFalse(ok, "a health above the band accepted");
        assertEq(
            ret,
            abi.encodeWithSelector(ILeverageModule.HealthOutOfBand.selector, wethId, 1.9e18, 1.2e18, 1.7e18),
            "HealthOutOfBand with the reply's health"
        );
    }

    /// @dev The collateral and debt judged are the reply's first two words: a reply claiming the debt was not repaid
    /// (the pre-trade debt and collateral) is a sub-account that did not change; one claiming 1 WETH of collateral gone
    /// books it as a loss over the plan's 0.5%.
    function test_PositionHealth_CollateralAndDebtComeFromTheReply() public {
        _mock(abi.encode(real[0], pre.debt, real[2]));
        (bool ok, bytes memory ret) = _run();
        assertFalse(ok, "an unpaid debt accepted");
        assertEq(
            ret, abi.encodeWithSelector(ILeverageModule.SubAccountUnchanged.selector, wethId), "unchanged by the reply's debt"
        );
        _mock(abi.encode(real[0] - 1e18, real[1], real[2]));
        (ok, ret) = _run();
        assertFalse(ok, "1 WETH of collateral gone accepted");
        assertEq(bytes4(ret), ILeverageModule.ValueLossExceeded.selector, "ValueLossExceeded from the reply's collateral");
    }

    function test_PositionHealth_ShortReply_RevertsWithoutData() public {
        bytes memory full = abi.encode(real[0], real[1], real[2]);
        uint256[5] memory lengths = [uint256(0), 0x1f, 0x20, 0x40, 0x5f];
        for (uint256 i; i < lengths.length; ++i) {
            _mock(_cut(full, lengths[i]));
            (bool ok, bytes memory ret) = _run();
            assertFalse(ok, "short positionHealth reply accepted");
            assertEq(ret.length, 0, "short positionHealth reply: without data");
        }
    }

    function test_PositionHealth_Revert_BubbledVerbatim() public {
        bytes memory reason = abi.encodeWithSignature("Custom(uint256)", 42);
        vm.mockCallRevert(address(adapter), abi.encodeWithSelector(IVenueAdapter.positionHealth.selector), reason);
        (bool ok, bytes memory ret) = _run();
        assertFalse(ok, "reverting adapter accepted");
        assertEq(ret, reason, "the adapter's revert data, verbatim");
    }

    /// @dev The call's arguments are the market, the Safe and the pre-trade price and lltv: a mock bound to exactly those
    /// arguments answers (and another argument would miss it and read the real, different, reply).
    function test_PositionHealth_CalledWithTheRunsArguments() public {
        vm.mockCall(
            address(adapter),
            abi.encodeCall(IVenueAdapter.positionHealth, (wethMarketId, safe, pre.price, pre.lltv)),
            abi.encode(real[0], real[1], uint256(1.9e18))
        );
        (bool ok, bytes memory ret) = _run();
        assertFalse(ok);
        assertEq(
            ret,
            abi.encodeWithSelector(ILeverageModule.HealthOutOfBand.selector, wethId, 1.9e18, 1.2e18, 1.7e18),
            "the exact-argument mock answered"
        );
    }
}
