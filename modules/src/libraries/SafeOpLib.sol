// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {ConstantsLib} from "./ConstantsLib.sol";

/// @title SafeOpLib
/// @notice EIP-712 encoding of a UserOperation as the `SafeOp` struct signed by Safe owners (Safe4337Module v0.3.0
/// format), reused unchanged for keeper signatures so one hash covers every field of the operation.
library SafeOpLib {
    /// @dev The signature is `validAfter (6 bytes) || validUntil (6 bytes) || signatures`; shorter input reverts,
    /// exactly as the reference module does.
    function splitSignature(bytes calldata signature)
        internal
        pure
        returns (uint48 validAfter, uint48 validUntil, bytes calldata signatures)
    {
        validAfter = uint48(bytes6(signature[0:6]));
        validUntil = uint48(bytes6(signature[6:12]));
        signatures = signature[12:];
    }

    /// @dev True when `signatures` hold exactly what `threshold` Safe signatures need and nothing more: `threshold`
    /// static 65-byte parts, then, for each contract signature (v = 0) in order, its dynamic part (32-byte length +
    /// data) starting exactly where the previous part ended. Safe's `checkSignatures` ignores trailing bytes, which a
    /// bundler could append (the signature is not part of the signed hash) to make the Safe pay for them; later
    /// Safe4337Module releases refuse them the same way. Never reverts: malformed input is simply not canonical.
    function isCanonicalSignatureLength(bytes calldata signatures, uint256 threshold) internal pure returns (bool) {
        uint256 length = signatures.length;
        if (threshold == 0 || threshold > length / ConstantsLib.SAFE_SIGNATURE_LENGTH) return false;
        uint256 end = threshold * ConstantsLib.SAFE_SIGNATURE_LENGTH;
        for (uint256 i; i < threshold; ++i) {
            uint256 at = i * ConstantsLib.SAFE_SIGNATURE_LENGTH;
            if (uint8(signatures[at + 64]) != 0) continue;
            if (uint256(bytes32(signatures[at + 32:at + 64])) != end || length - end < 32) return false;
            uint256 dataLength = uint256(bytes32(signatures[end:end + 32]));
            if (dataLength > length - end - 32) return false;
            end += 32 + dataLength;
        }
        return length == end;
    }

    function domainSeparator(address verifyingContract) internal view returns (bytes32) {
        return keccak256(abi.encode(ConstantsLib.DOMAIN_TYPEHASH, block.chainid, verifyingContract));
    }

    /// @dev The 66-byte EIP-712 message `0x1901 || domainSeparator || structHash`; its keccak is the operation hash.
    /// Every field of the operation except the signature is covered, initCode and paymasterAndData included, so a
    /// bundler cannot swap in a costlier deployment or another paymaster.
    function encode(
        PackedUserOperation calldata userOp,
        uint48 validAfter,
        uint48 validUntil,
        address entryPoint,
        bytes32 separator
    ) internal pure returns (bytes memory) {
        // Two static halves concatenated are byte-identical to abi.encode of all 14 fields, without stack pressure.
        bytes memory head = abi.encode(
            ConstantsLib.SAFE_OP_TYPEHASH,
            userOp.sender,
            userOp.nonce,
            keccak256(userOp.initCode),
            keccak256(userOp.callData),
            uint128(uint256(userOp.accountGasLimits) >> 128),
            uint128(uint256(userOp.accountGasLimits))
        );
        bytes memory tail = abi.encode(
            userOp.preVerificationGas,
            uint128(uint256(userOp.gasFees) >> 128),
            uint128(uint256(userOp.gasFees)),
            keccak256(userOp.paymasterAndData),
            validAfter,
            validUntil,
            entryPoint
        );
        return abi.encodePacked(bytes2(0x1901), separator, keccak256(bytes.concat(head, tail)));
    }
}
