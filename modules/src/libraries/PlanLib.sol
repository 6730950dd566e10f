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
