// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Test} from "forge-std/Test.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {RebalanceLib} from "../../src/libraries/RebalanceLib.sol";

/// @notice `RebalanceLib.shareOf` computes `whole x part / total` rounded up without `Math.mulDiv` when the product fits
/// 256 bits (issue 15 gas). It must give the result of the mulDiv form it replaced on every input, and revert exactly
/// when (and with the same error as) that form did: these fuzz both over the whole uint256 range (mostly the 512-bit
/// path), over products that fit (the new path), around the 2^256 boundary, and over the sizes a rebalance passes (gas
/// and loss below 2^64, moves below 2^128).
contract ShareOfTest is Test {
    /// @dev The form before the cut (main 0b6e6a1).
    function mulDivForm(uint256 whole, uint256 part, uint256 total) external pure returns (uint256) {
        return whole == 0 || total == 0 || part == total ? whole : Math.mulDiv(whole, part, total, Math.Rounding.Ceil);
    }

    function shareOf(uint256 whole, uint256 part, uint256 total) external pure returns (uint256) {
        return RebalanceLib.shareOf(whole, part, total);
    }

    /// @dev Both forms called externally: the same success and the same return or revert bytes.
    function _same(uint256 whole, uint256 part, uint256 total) internal view {
        (bool okNew, bytes memory outNew) = address(this).staticcall(abi.encodeCall(this.shareOf, (whole, part, total)));
        (bool okOld, bytes memory outOld) = address(this).staticcall(abi.encodeCall(this.mulDivForm, (whole, part, total)));
        assertEq(okNew, okOld, "reverts exactly when the mulDiv form does");
        assertEq(outNew, outOld, "the same result (or revert data)");
    }

    function testFuzz_ShareOf_EqualsMulDivForm_AnyInput(uint256 whole, uint256 part, uint256 total) public view {
        _same(whole, part, total);
    }

    function testFuzz_ShareOf_EqualsMulDivForm_ProductFits(uint256 whole, uint256 part, uint256 total) public view {
        whole = bound(whole, 0, type(uint128).max);
        part = bound(part, 0, type(uint128).max);
        _same(whole, part, total);
        _same(whole, part, bound(total, 1, type(uint128).max));
    }

    /// @dev Products on either side of 2^256: `part` = floor(max / whole) fits, one more does not.
    function testFuzz_ShareOf_EqualsMulDivForm_AtTheBoundary(uint256 whole, uint256 total, uint256 delta) public view {
        whole = bound(whole, 1, type(uint256).max);
        uint256 edge = type(uint256).max / whole;
        delta = bound(delta, 0, 2);
        _same(whole, edge, total);
        if (edge >= delta) _same(whole, edge - delta, total);
        if (edge < type(uint256).max - 2) _same(whole, edge + 1 + delta, total);
        _same(whole, edge, bound(total, edge, type(uint256).max)); // part <= total: a share of at most the whole
    }

    /// @dev What a rebalance passes: gas or loss below 2^64, each sub-account's move (`part`) at most their sum.
    function testFuzz_ShareOf_EqualsMulDivForm_RebalanceSizes(uint64 whole, uint128 part, uint128 rest) public view {
        uint256 total = uint256(part) + rest;
        _same(whole, part, total);
        uint256 share = RebalanceLib.shareOf(whole, part, total);
        assertLe(share, whole, "a share is at most the whole");
    }

    function test_ShareOf_Examples() public view {
        assertEq(RebalanceLib.shareOf(10, 1, 3), 4, "ceil(10 / 3)");
        assertEq(RebalanceLib.shareOf(9, 1, 3), 3, "exact: no rounding up");
        assertEq(RebalanceLib.shareOf(0, 1, 3), 0, "nothing to share");
        assertEq(RebalanceLib.shareOf(7, 0, 0), 7, "no move at all: the whole");
        assertEq(RebalanceLib.shareOf(7, 5, 5), 7, "the only mover: the whole");
        assertEq(RebalanceLib.shareOf(7, 0, 5), 0, "no move of its own: nothing");
        // 2^255 x 2 overflows 256 bits: the mulDiv path, ceil(2^256 / 3).
        assertEq(RebalanceLib.shareOf(1 << 255, 2, 3), Math.mulDiv(1 << 255, 2, 3, Math.Rounding.Ceil), "512-bit path");
        _same(type(uint256).max, type(uint256).max, 1); // the result does not fit: both revert Panic(0x11)
        (bool ok,) = address(this).staticcall(abi.encodeCall(this.shareOf, (type(uint256).max, type(uint256).max, 1)));
        assertFalse(ok, "a share above 2^256 - 1 reverts");
    }
}
