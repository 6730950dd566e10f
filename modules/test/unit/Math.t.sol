// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Test} from "forge-std/Test.sol";
import {HealthLib} from "../../src/libraries/HealthLib.sol";
import {PlanLib} from "../../src/libraries/PlanLib.sol";
import {SafeOpLib} from "../../src/libraries/SafeOpLib.sol";
import {ConstantsLib} from "../../src/libraries/ConstantsLib.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {ILeverageModule, Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";

contract SafeOpLibHarness {
    function isCanonical(bytes calldata signatures, uint256 threshold) external pure returns (bool) {
        return SafeOpLib.isCanonicalSignatureLength(signatures, threshold);
    }
}

contract PlanLibHarness {
    function check(bytes calldata callData) external pure returns (uint8) {
        return PlanLib.check(callData[4:]);
    }
}

/// @notice Fuzz tests of the health / value math and of the plan encoding rules.
contract MathTest is Test {
    PlanLibHarness internal harness = new PlanLibHarness();
    SafeOpLibHarness internal sigs = new SafeOpLibHarness();

    /// @dev Never reverts on any input, and accepts exactly threshold x 65 bytes of ECDSA signatures, nothing more.
    function testFuzz_SafeOpLib_CanonicalSignatureLength(bytes calldata signatures, uint256 threshold, uint8 extra) public view {
        threshold = bound(threshold, 0, 5);
        bool canonical = sigs.isCanonical(signatures, threshold);
        if (threshold == 0 || signatures.length < threshold * 65) assertFalse(canonical, "too short");
        bytes memory ecdsa = new bytes(threshold * 65);
        for (uint256 i; i < threshold; ++i) {
            ecdsa[i * 65 + 64] = bytes1(uint8(27));
        }
        if (threshold != 0) {
            assertTrue(sigs.isCanonical(ecdsa, threshold), "exact ECDSA signatures");
            if (extra != 0) assertFalse(sigs.isCanonical(bytes.concat(ecdsa, new bytes(extra)), threshold), "padded");
        }
    }

    function _state(uint256 collateral, uint256 debt, uint256 price, uint256 lltv)
        internal
        pure
        returns (MarketState memory s)
    {
        s.collateral = collateral;
        s.debt = debt;
        s.price = price;
        s.lltv = lltv;
    }

    // Realistic ranges: up to 1e30 collateral base units and a 1e45-scaled price keep the reference products in range.
    uint256 internal constant MAX_UNITS = 1e30;

    function testFuzz_CollateralValue_IsExactFloor(uint256 collateral, uint256 price) public pure {
        collateral = bound(collateral, 0, MAX_UNITS);
        price = bound(price, 0, 1e45);
        assertEq(HealthLib.collateralValue(collateral, price), uint256(collateral) * price / 1e36);
    }

    function testFuzz_Health_NeverOverstates(uint128 collateral, uint128 debt, uint256 price, uint256 lltv) public pure {
        collateral = uint128(bound(collateral, 0, MAX_UNITS));
        debt = uint128(bound(debt, 1, MAX_UNITS));
        price = bound(price, 1, 1e45);
        lltv = bound(lltv, 0.01e18, 0.99e18);
        vm.assume(debt > 0);
        uint256 h = HealthLib.health(_state(collateral, debt, price, lltv));
        uint256 value = uint256(collateral) * price / 1e36;
        // h = floor(value * lltv / debt): h * debt <= value * lltv < (h + 1) * debt
        assertLe(h * debt, value * lltv, "rounded down");
        assertGt((h + 1) * debt, value * lltv, "by less than one unit");
    }

    function testFuzz_Health_AgreesWithMorphoSolvency(uint128 collateral, uint128 debt, uint256 price, uint256 lltv)
        public
        pure
    {
        collateral = uint128(bound(collateral, 0, MAX_UNITS));
        debt = uint128(bound(debt, 1, MAX_UNITS));
        price = bound(price, 1, 1e45);
        lltv = bound(lltv, 0.01e18, 0.99e18);
        vm.assume(debt > 0);
        uint256 h = HealthLib.health(_state(collateral, debt, price, lltv));
        // Morpho Blue: healthy iff borrowed <= collateral.mulDivDown(price, 1e36).wMulDown(lltv)
        uint256 maxBorrow = (uint256(collateral) * price / 1e36) * lltv / 1e18;
        assertEq(h >= 1e18, debt <= maxBorrow, "health >= 1 exactly when Morpho says healthy");
    }

    function testFuzz_Health_IsMonotonic(uint128 collateral, uint128 debt, uint256 price, uint128 extra) public pure {
        collateral = uint128(bound(collateral, 0, MAX_UNITS));
        debt = uint128(bound(debt, 1, MAX_UNITS));
        extra = uint128(bound(extra, 0, MAX_UNITS));
        price = bound(price, 1, 1e40);
        vm.assume(debt > 0);
        uint256 lltv = 0.86e18;
        uint256 h = HealthLib.health(_state(collateral, debt, price, lltv));
        assertGe(HealthLib.health(_state(uint256(collateral) + extra, debt, price, lltv)), h, "more collateral");
        assertLe(HealthLib.health(_state(collateral, uint256(debt) + extra, price, lltv)), h, "more debt");
        assertGe(HealthLib.health(_state(collateral, debt, price + extra, lltv)), h, "higher price");
    }

    function testFuzz_Health_InfiniteWithoutDebt(uint128 collateral, uint256 price) public pure {
        assertEq(HealthLib.health(_state(collateral, 0, price, 0.86e18)), type(uint256).max);
    }

    function testFuzz_Equity_IsValueMinusDebt(uint128 collateral, uint128 debt, uint256 price) public pure {
        collateral = uint128(bound(collateral, 0, MAX_UNITS));
        price = bound(price, 0, 1e40);
        int256 expected = int256(uint256(collateral) * price / 1e36) - int256(uint256(debt));
        assertEq(HealthLib.equity(_state(collateral, debt, price, 0.86e18)), expected);
    }

    function testFuzz_Distance_IsSymmetric(uint256 a, uint256 b) public pure {
        assertEq(HealthLib.distance(a, b), HealthLib.distance(b, a));
        assertEq(HealthLib.distance(a, a), 0);
    }

    function _plan(uint256 seed, uint256 n, uint256 m) internal pure returns (Plan memory plan) {
        plan.subAccounts = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            plan.subAccounts[i] = keccak256(abi.encode(seed, i));
        }
        plan.actions = new Action[](m);
        for (uint256 i; i < m; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, "a", i)));
            plan.actions[i] = Action({
                kind: ActionKind(r % 6),
                subAccount: uint8((r >> 8) % n),
                pool: address(uint160(r >> 16)),
                amount: r >> 96
            });
        }
    }

    function testFuzz_PlanLib_AcceptsEveryCanonicalEncoding(uint256 seed, address keeper, uint256 n, uint256 m)
        public
        view
    {
        n = bound(n, 1, 8);
        m = bound(m, 1, 32);
        bytes memory data = abi.encodeCall(ILeverageModule.executeRebalance, (keeper, _plan(seed, n, m)));
        assertEq(harness.check(data), 0);
    }

    function testFuzz_PlanLib_RejectsAnyTrailingBytes(uint256 seed, uint256 n, uint256 m, bytes memory extra)
        public
        view
    {
        vm.assume(extra.length > 0);
        n = bound(n, 1, 8);
        m = bound(m, 1, 32);
        bytes memory data = abi.encodeCall(ILeverageModule.executeRebalance, (address(1), _plan(seed, n, m)));
        assertEq(harness.check(bytes.concat(data, extra)), ConstantsLib.MALFORMED_BAD_LENGTH);
    }

    function testFuzz_PlanLib_RejectsTruncation(uint256 seed, uint256 cut) public view {
        bytes memory data = abi.encodeCall(ILeverageModule.executeRebalance, (address(1), _plan(seed, 2, 3)));
        cut = bound(cut, 1, data.length - 4);
        bytes memory truncated = new bytes(data.length - cut);
        for (uint256 i; i < truncated.length; ++i) {
            truncated[i] = data[i];
        }
        assertGt(harness.check(truncated), 0);
    }

    function test_PlanLib_RejectsTooManySubAccountsOrActions() public view {
        bytes memory data = abi.encodeCall(ILeverageModule.executeRebalance, (address(1), _plan(1, 9, 1)));
        assertEq(harness.check(data), ConstantsLib.MALFORMED_SUB_ACCOUNT_COUNT);
        data = abi.encodeCall(ILeverageModule.executeRebalance, (address(1), _plan(1, 1, 33)));
        assertEq(harness.check(data), ConstantsLib.MALFORMED_ACTION_COUNT);
    }
}
