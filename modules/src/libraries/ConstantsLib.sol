// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

/// @title ConstantsLib
/// @notice Every constant of the module in one place. The SDK's `sdk/src/constants/module.ts` is generated from this
/// library's build output (`sdk/scripts/gen-abis.mjs`), so TypeScript never holds a copy of a code, index or limit.
/// @dev Names are part of that generated interface: renaming one renames the TypeScript export.
library ConstantsLib {
    /* UNITS */

    /// @dev 1.0 in WAD (health, LLTV, liquidation incentive factor).
    uint256 internal constant WAD = 1e18;
    /// @dev Scale of a venue price: one collateral base unit in loan base units, times 1e36 (Morpho's
    /// ORACLE_PRICE_SCALE).
    uint256 internal constant PRICE_SCALE = 1e36;
    /// @dev The health of a position without debt.
    uint256 internal constant INFINITE_HEALTH = type(uint256).max;
    /// @dev 100% in basis points.
    uint256 internal constant BPS = 10_000;
    /// @dev 100% in parts per billion: the unit of the per-epoch loss accounting (fine enough that the 1-wei
    /// rounding of an ERC-4626 pool never costs a whole basis point).
    uint256 internal constant PPB = 1e9;
    /// @dev Parts per billion in one basis point.
    uint256 internal constant PPB_PER_BPS = 1e5;

    /* LIMITS */

    /// @dev Most sub-accounts one plan may list.
    uint256 internal constant MAX_SUB_ACCOUNTS = 8;
    /// @dev Most actions one plan may hold.
    uint256 internal constant MAX_ACTIONS = 32;
    /// @dev Number of `ActionKind` values (kinds are 0 .. ACTION_KINDS - 1).
    uint256 internal constant ACTION_KINDS = 11;
    /// @dev The repayment mode word a `RepayWithCallback` may carry in its `pool` field (any other non-zero word is
    /// refused): the callback repays its `amount` plus the on-chain minimum outputs of the `SellCollateral` actions of
    /// its own sub-account inside its block (each the sale's value at the oracle price loaded at inclusion less
    /// maxSlippageBps, rounded up), so the repayment follows the price at inclusion instead of the keeper's quote
    /// (docs/sale-minimum-repayment.md). Base units of the loan token; 0 (the default word) repays `amount` exactly.
    uint256 internal constant REPAY_PLUS_SALE_MINIMUMS = 1;
    /// @dev Largest maxSlippageBps a policy may set (10%).
    uint256 internal constant MAX_SLIPPAGE_BPS = 1_000;
    /// @dev Most ERC-4626 pools one policy may allow.
    uint256 internal constant MAX_POOLS = 8;
    /// @dev Fewest shares a pool must have issued before a plan deposits into it (share-inflation guard).
    uint256 internal constant MIN_POOL_SUPPLY = 1e6;
    /// @dev Smallest gap (WAD) between minHealth and targetHealth and between targetHealth and maxHealth, so that a
    /// triggered sub-account's landing zone asks for a real move.
    uint256 internal constant MIN_BAND_GAP = 0.01e18;
    /// @dev Highest stop-loss exit health (WAD, `setStopLoss`): 10, about 1.1x leverage at an LLTV of 0.86. A higher
    /// exit only sells more exposure, which is the owner's choice up to this bound (docs/stop-loss-exit.md).
    uint256 internal constant MAX_EXIT_HEALTH = 10e18;
    /// @dev Narrowest stop-loss re-arm hysteresis (bps above `stopPrice`, review rr13s S2): the re-arm price is
    /// `stopPrice x (BPS + max(maxOracleDeviationBps, MIN_REARM_BPS)) / BPS`, so a policy without a feed (deviation 0)
    /// still needs a 1 % rise before an exit can be followed by a boost (docs/stop-loss-exit.md rule 5).
    uint256 internal constant MIN_REARM_BPS = 100;

    /// @dev Smallest material change of a listed sub-account (bps of its collateral value at the pre-trade price): a
    /// plan that moves a position by less (a dust repayment, a 1-wei supply) cannot start its cooldown or spend its
    /// epoch counters.
    uint256 internal constant MIN_MATERIAL_CHANGE_BPS = 10;

    /* EIP-712 (the Safe4337Module v0.3.0 SafeOp, signed by owners and keepers alike) */

    /// @dev keccak256("EIP712Domain(uint256 chainId,address verifyingContract)")
    bytes32 internal constant DOMAIN_TYPEHASH = 0x47e79534a245952e8b16893a336b85a3d9ea9fa8c573f3d803afb92a79469218;
    /// @dev keccak256("SafeOp(address safe,uint256 nonce,bytes initCode,bytes callData,uint128 verificationGasLimit,uint128 callGasLimit,uint256 preVerificationGas,uint128 maxPriorityFeePerGas,uint128 maxFeePerGas,bytes paymasterAndData,uint48 validAfter,uint48 validUntil,address entryPoint)")
    bytes32 internal constant SAFE_OP_TYPEHASH = 0xc03dfc11d8b10bf9cf703d558958c8c42777f785d998c62060d85a4f0ef6ea7f;

    /* SAFE OPERATIONS */

    /// @dev Safe `Enum.Operation.Call`; the automation lane never uses DELEGATECALL.
    uint8 internal constant CALL = 0;
    /// @dev Length of one static Safe signature part (r, s, v).
    uint256 internal constant SAFE_SIGNATURE_LENGTH = 65;

    /* MalformedPlan(reason) CODES (the @dev text is the SDK's message) */

    /// @dev calldata too short
    uint8 internal constant MALFORMED_TOO_SHORT = 1;
    /// @dev keeper address has dirty high bits
    uint8 internal constant MALFORMED_DIRTY_KEEPER = 2;
    /// @dev non-canonical offsets
    uint8 internal constant MALFORMED_BAD_OFFSET = 3;
    /// @dev sub-account count is 0 or above MAX_SUB_ACCOUNTS
    uint8 internal constant MALFORMED_SUB_ACCOUNT_COUNT = 4;
    /// @dev action count is 0 or above MAX_ACTIONS
    uint8 internal constant MALFORMED_ACTION_COUNT = 5;
    /// @dev calldata length does not match the plan
    uint8 internal constant MALFORMED_BAD_LENGTH = 6;
    /// @dev unknown action kind
    uint8 internal constant MALFORMED_BAD_KIND = 7;
    /// @dev action sub-account index out of range
    uint8 internal constant MALFORMED_BAD_INDEX = 8;
    /// @dev pool address has dirty high bits
    uint8 internal constant MALFORMED_DIRTY_POOL = 9;
    /// @dev callback action inside an open callback
    uint8 internal constant MALFORMED_NESTED_CALLBACK = 10;
    /// @dev EndCallback without an open callback
    uint8 internal constant MALFORMED_UNOPENED_CALLBACK = 11;
    /// @dev callback left open at the end of the plan
    uint8 internal constant MALFORMED_UNCLOSED_CALLBACK = 12;
    /// @dev callback with no inner action
    uint8 internal constant MALFORMED_EMPTY_CALLBACK = 13;

    /* GasFieldAboveCap(field, ...) INDICES (the SDK names each field after the constant, in camelCase) */

    /// @dev verificationGasLimit (accountGasLimits, high 128 bits)
    uint8 internal constant GAS_FIELD_VERIFICATION_GAS_LIMIT = 0;
    /// @dev callGasLimit (accountGasLimits, low 128 bits)
    uint8 internal constant GAS_FIELD_CALL_GAS_LIMIT = 1;
    /// @dev preVerificationGas
    uint8 internal constant GAS_FIELD_PRE_VERIFICATION_GAS = 2;
    /// @dev maxFeePerGas (gasFees, low 128 bits)
    uint8 internal constant GAS_FIELD_MAX_FEE_PER_GAS = 3;
    /// @dev maxPriorityFeePerGas (gasFees, high 128 bits)
    uint8 internal constant GAS_FIELD_MAX_PRIORITY_FEE_PER_GAS = 4;
    /// @dev paymasterVerificationGasLimit (paymasterAndData bytes 20..36)
    uint8 internal constant GAS_FIELD_PAYMASTER_VERIFICATION_GAS_LIMIT = 5;
    /// @dev paymasterPostOpGasLimit (paymasterAndData bytes 36..52)
    uint8 internal constant GAS_FIELD_PAYMASTER_POST_OP_GAS_LIMIT = 6;
}
