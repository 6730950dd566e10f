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

    /// @dev PlanLib.check as it was before its action loop moved to assembly (issue 15, g15d), kept verbatim as the
    /// reference the equivalence fuzz test compares against.
    function checkBefore(bytes calldata callData) external pure returns (uint8) {
        bytes calldata args = callData[4:];
        if (args.length < 192) return ConstantsLib.MALFORMED_TOO_SHORT;
        if (_word(args, 0) >> 160 != 0) return ConstantsLib.MALFORMED_DIRTY_KEEPER;
        if (_word(args, 32) != 0x40 || _word(args, 64) != 0x40) return ConstantsLib.MALFORMED_BAD_OFFSET;
        uint256 n = _word(args, 128);
        if (n == 0 || n > ConstantsLib.MAX_SUB_ACCOUNTS) return ConstantsLib.MALFORMED_SUB_ACCOUNT_COUNT;
        if (_word(args, 96) != 0x60 + 32 * n) return ConstantsLib.MALFORMED_BAD_OFFSET;
        uint256 actionsAt = 160 + 32 * n;
        if (args.length < actionsAt + 32) return ConstantsLib.MALFORMED_TOO_SHORT;
        uint256 m = _word(args, actionsAt);
        if (m == 0 || m > ConstantsLib.MAX_ACTIONS) return ConstantsLib.MALFORMED_ACTION_COUNT;
        if (args.length != actionsAt + 32 + 128 * m) return ConstantsLib.MALFORMED_BAD_LENGTH;
        uint256 openedAt; // index + 1 of the open callback action, 0 when none is open
        for (uint256 i; i < m; ++i) {
            uint256 at = actionsAt + 32 + 128 * i;
            uint256 kind = _word(args, at);
            if (kind >= ConstantsLib.ACTION_KINDS) return ConstantsLib.MALFORMED_BAD_KIND;
            if (_word(args, at + 32) >= n) return ConstantsLib.MALFORMED_BAD_INDEX;
            if (_word(args, at + 64) >> 160 != 0) return ConstantsLib.MALFORMED_DIRTY_POOL;
            if (kind == uint256(ActionKind.RepayWithCallback) || kind == uint256(ActionKind.SupplyCollateralWithCallback)) {
                if (openedAt != 0) return ConstantsLib.MALFORMED_NESTED_CALLBACK;
                openedAt = i + 1;
            } else if (kind == uint256(ActionKind.EndCallback)) {
                if (openedAt == 0) return ConstantsLib.MALFORMED_UNOPENED_CALLBACK;
                if (openedAt == i) return ConstantsLib.MALFORMED_EMPTY_CALLBACK;
                openedAt = 0;
            }
        }
        if (openedAt != 0) return ConstantsLib.MALFORMED_UNCLOSED_CALLBACK;
        return 0;
    }

    function _word(bytes calldata data, uint256 offset) private pure returns (uint256 value) {
        assembly ("memory-safe") {
            value := calldataload(add(data.offset, offset))
        }
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

    /// @dev PlanLib.check (its action loop in assembly since g15d) returns exactly what the Solidity loop it replaced
    /// returns (`PlanLibHarness.checkBefore`), on plans whose actions draw kinds from 0 to 12 (11, 12 invalid; callback
    /// openers 8, 9 and closer 10 at random, so every callback rule fires), sub-account indexes up to n (n is out of
    /// range), dirty pools, and one word of the encoding overwritten at random (header words included).
    function testFuzz_PlanLib_AssemblyLoopMatchesReference(uint256 seed, uint256 n, uint256 m, uint256 mutate, uint256 value)
        public
        view
    {
        n = bound(n, 1, 8);
        m = bound(m, 1, 32);
        bytes memory data = abi.encodeCall(ILeverageModule.executeRebalance, (address(1), _plan(seed, n, m)));
        uint256 actionsAt = 4 + 160 + 32 * n + 32;
        for (uint256 i; i < m; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, "raw", i)));
            uint256 at = actionsAt + 128 * i;
            uint256 kind = r % 13;
            uint256 index = (r >> 8) % (n + ((r >> 200) % 4 == 0 ? 1 : 0)); // sometimes n: out of range
            uint256 pool = (r >> 16) % 7 == 0 ? uint256(r >> 24) : uint256(uint160(r >> 24));
            if ((r >> 40) % 4 != 0 && kind > 10) kind = r % 11; // mostly valid kinds, so later rules are reached
            assembly ("memory-safe") {
                mstore(add(add(data, 0x20), at), kind)
                mstore(add(add(data, 0x20), add(at, 32)), index)
                mstore(add(add(data, 0x20), add(at, 64)), pool)
            }
        }
        if (mutate % 3 == 0) {
            uint256 word = (mutate / 3) % ((data.length - 4) / 32);
            if ((mutate >> 128) % 2 == 0) value = value % 64; // small values hit offsets, counts and kinds
            assembly ("memory-safe") {
                mstore(add(add(data, 0x24), shl(5, word)), value)
            }
        }
        assertEq(harness.check(data), harness.checkBefore(data));
    }

    function test_PlanLib_AssemblyLoopMatchesReference_EveryCallbackRule() public view {
        // kinds per plan: nested opener, closer with nothing open, empty block, unclosed block, a good block
        uint8[4][5] memory plans = [[8, 9, 10, 5], [10, 5, 5, 5], [8, 10, 5, 5], [5, 9, 5, 5], [8, 5, 10, 5]];
        uint8[5] memory want = [
            ConstantsLib.MALFORMED_NESTED_CALLBACK, ConstantsLib.MALFORMED_UNOPENED_CALLBACK,
            ConstantsLib.MALFORMED_EMPTY_CALLBACK, ConstantsLib.MALFORMED_UNCLOSED_CALLBACK, 0
        ];
        for (uint256 p; p < plans.length; ++p) {
            Plan memory plan = _plan(p, 1, 4);
            for (uint256 i; i < 4; ++i) {
                plan.actions[i].kind = ActionKind(plans[p][i]);
                plan.actions[i].subAccount = 0;
            }
            bytes memory data = abi.encodeCall(ILeverageModule.executeRebalance, (address(1), plan));
            assertEq(harness.check(data), want[p]);
            assertEq(harness.checkBefore(data), want[p]);
        }
    }
}
