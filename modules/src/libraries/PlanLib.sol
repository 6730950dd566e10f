// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

/// @title PlanLib
/// @notice Strict, canonical-only decoding rules for `executeRebalance(address keeper, Plan plan)` arguments.
/// @dev The ABI decoder accepts trailing bytes, non-canonical offsets and dirty high bits; a keeper operation is
/// signed over its callData, so the module accepts exactly one encoding per plan and rejects everything else
/// (the reason code says which rule failed). The layout checked, in 32-byte words after the selector:
/// keeper | 0x40 | 0x40 | 0x60 + 32n | n | ids[n] | m | (kind, subAccount, pool, amount)[m].
library PlanLib {
    uint256 internal constant MAX_SUB_ACCOUNTS = 8;
    uint256 internal constant MAX_ACTIONS = 32;
    uint256 internal constant ACTION_KINDS = 6;

    uint8 internal constant TOO_SHORT = 1;
    uint8 internal constant DIRTY_KEEPER = 2;
    uint8 internal constant BAD_OFFSET = 3;
    uint8 internal constant SUB_ACCOUNT_COUNT = 4;
    uint8 internal constant ACTION_COUNT = 5;
    uint8 internal constant BAD_LENGTH = 6;
    uint8 internal constant BAD_KIND = 7;
    uint8 internal constant BAD_INDEX = 8;
    uint8 internal constant DIRTY_POOL = 9;

    /// @dev Returns 0 when `args` (the calldata after the selector) is the canonical encoding, else a reason code.
    function check(bytes calldata args) internal pure returns (uint8) {
        if (args.length < 192) return TOO_SHORT;
        if (_word(args, 0) >> 160 != 0) return DIRTY_KEEPER;
        if (_word(args, 32) != 0x40 || _word(args, 64) != 0x40) return BAD_OFFSET;
        uint256 n = _word(args, 128);
        if (n == 0 || n > MAX_SUB_ACCOUNTS) return SUB_ACCOUNT_COUNT;
        if (_word(args, 96) != 0x60 + 32 * n) return BAD_OFFSET;
        uint256 actionsAt = 160 + 32 * n;
        if (args.length < actionsAt + 32) return TOO_SHORT;
        uint256 m = _word(args, actionsAt);
        if (m == 0 || m > MAX_ACTIONS) return ACTION_COUNT;
        if (args.length != actionsAt + 32 + 128 * m) return BAD_LENGTH;
        for (uint256 i; i < m; ++i) {
            uint256 at = actionsAt + 32 + 128 * i;
            if (_word(args, at) >= ACTION_KINDS) return BAD_KIND;
            if (_word(args, at + 32) >= n) return BAD_INDEX;
            if (_word(args, at + 64) >> 160 != 0) return DIRTY_POOL;
        }
        return 0;
    }

    function _word(bytes calldata data, uint256 offset) private pure returns (uint256 value) {
        assembly ("memory-safe") {
            value := calldataload(add(data.offset, offset))
        }
    }
}
