// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {ConstantsLib} from "./ConstantsLib.sol";
import {ActionKind} from "../interfaces/ILeverageModule.sol";

/// @title PlanLib
/// @notice Strict, canonical-only decoding rules for `executeRebalance(address keeper, Plan plan)` arguments.
/// @dev The ABI decoder accepts trailing bytes, non-canonical offsets and dirty high bits; a keeper operation is
/// signed over its callData, so the module accepts exactly one encoding per plan and rejects everything else
/// (the reason code, `ConstantsLib.MALFORMED_*`, says which rule failed). The layout checked, in 32-byte words after
/// the selector: keeper | 0x40 | 0x40 | 0x60 + 32n | n | ids[n] | m | (kind, subAccount, pool, amount)[m]. Callback
/// actions (RepayWithCallback, SupplyCollateralWithCallback) open a block that the next EndCallback closes: one level,
/// never empty, every block closed.
library PlanLib {
    /// @dev Returns 0 when `args` (the calldata after the selector) is the canonical encoding, else a reason code.
    function check(bytes calldata args) internal pure returns (uint8) {
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
        // Gas (issue 15): the per-action rules in one assembly loop (about 685 gas an action in Solidity, checked
        // arithmetic and a function call per word; the module runs this check in validation and again in execution).
        // Same rules in the same order, so the same reason code for every input (Math.t.sol
        // testFuzz_PlanLib_AssemblyLoopMatchesReference runs the Solidity loop this replaced): per action, kind <
        // ACTION_KINDS (11: BAD_KIND, 7), subAccount < n (BAD_INDEX, 8), a clean pool address (DIRTY_POOL, 9), then the
        // callback blocks: RepayWithCallback (8) and SupplyCollateralWithCallback (9) open one (NESTED_CALLBACK, 10, if
        // one is open), EndCallback (10) closes it (UNOPENED_CALLBACK, 11, if none is open; EMPTY_CALLBACK, 13, if it is
        // the opener's next action); none left open (UNCLOSED_CALLBACK, 12). Literals, not ConstantsLib's names: inline
        // assembly cannot name another library's constants (size: the module is at the EIP-170 limit); the fuzz test
        // pins them to ConstantsLib and ActionKind. Every word read is inside `args` (its exact length was checked above).
        uint256 code;
        assembly ("memory-safe") {
            let at := add(args.offset, add(actionsAt, 32))
            let end := add(at, shl(7, m))
            let openedAt := 0 // index + 1 of the open callback action, 0 when none is open
            for { let i := 0 } lt(at, end) { at := add(at, 128) i := add(i, 1) } {
                let kind := calldataload(at)
                if iszero(lt(kind, 11)) { code := 7 break }
                if iszero(lt(calldataload(add(at, 32)), n)) { code := 8 break }
                if shr(160, calldataload(add(at, 64))) { code := 9 break }
                if or(eq(kind, 8), eq(kind, 9)) {
                    if openedAt { code := 10 break }
                    openedAt := add(i, 1)
                }
                if eq(kind, 10) {
                    if iszero(openedAt) { code := 11 break }
                    if eq(openedAt, i) { code := 13 break }
                    openedAt := 0
                }
            }
            if and(iszero(code), gt(openedAt, 0)) { code := 12 }
        }
        return uint8(code);
    }

    function _word(bytes calldata data, uint256 offset) private pure returns (uint256 value) {
        assembly ("memory-safe") {
            value := calldataload(add(data.offset, offset))
        }
    }
}
