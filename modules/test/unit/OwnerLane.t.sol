// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Fixture} from "../utils/Fixture.sol";
import {ApproveAllSigner} from "../utils/AdversarialEntities.sol";
import {ILeverageModule, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {_packValidationData} from "@account-abstraction/contracts/core/Helpers.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

interface IERC1271Bytes32 {
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4);
}

interface IMessageHash {
    function getMessageHashForSafe(address safe, bytes memory message) external view returns (bytes32);
}

/// @notice The owner lane: Safe4337Module behaviour (see the differential suite for the fuzzed equivalence) and the
/// Safe's own fallback features that the module keeps (ERC-1271, token callbacks).
contract OwnerLaneTest is Fixture {
    address internal recipient = makeAddr("recipient");

    function _ownerOp(bytes memory callData, uint48 validAfter, uint48 validUntil)
        internal
        view
        returns (PackedUserOperation memory op)
    {
        op = baseOp(safe, callData, 0);
        op.signature = sign(op, ownerKey, validAfter, validUntil);
    }

    function test_ValidateUserOp_AcceptsOwnerSignatureWithItsWindow() public {
        PackedUserOperation memory op =
            _ownerOp(abi.encodeCall(ILeverageModule.executeUserOp, (recipient, 1, "", 0)), 10, 20);
        vm.prank(address(entryPoint));
        assertEq(ILeverageModule(safe).validateUserOp(op, bytes32(0), 0), _packValidationData(false, 20, 10));
    }

    function test_ValidateUserOp_ReturnsFailureForAKeeperSignatureOnAnOwnerOp() public {
        PackedUserOperation memory op = baseOp(safe, abi.encodeCall(ILeverageModule.executeUserOp, (recipient, 1, "", 0)), 0);
        op.signature = signKeeper(op, keeperKey);
        vm.prank(address(entryPoint));
        assertEq(ILeverageModule(safe).validateUserOp(op, bytes32(0), 0) & 1, 1, "keepers cannot use the owner lane");
    }

    function test_ValidateUserOp_RefusesTrailingBytesAfterTheOwnerSignature() public {
        PackedUserOperation memory op = _ownerOp(abi.encodeCall(ILeverageModule.executeUserOp, (recipient, 1, "", 0)), 0, 0);
        vm.prank(address(entryPoint));
        assertEq(ILeverageModule(safe).validateUserOp(op, bytes32(0), 0) & 1, 0, "exactly one signature: valid");
        op.signature = bytes.concat(op.signature, hex"00");
        vm.prank(address(entryPoint));
        assertEq(ILeverageModule(safe).validateUserOp(op, bytes32(0), 0) & 1, 1, "one trailing byte: SIG_VALIDATION_FAILED");
    }

    /// @dev A contract owner (v = 0) signs with a dynamic part: accepted only in its canonical place and length.
    function test_ValidateUserOp_ContractOwnerSignatureMustBeCanonical() public {
        ApproveAllSigner contractOwner = new ApproveAllSigner();
        address account = createSafe(address(contractOwner));
        PackedUserOperation memory op = baseOp(account, abi.encodeCall(ILeverageModule.executeUserOp, (recipient, 0, "", 0)), 0);
        bytes memory head = abi.encodePacked(bytes32(uint256(uint160(address(contractOwner)))), bytes32(uint256(65)), uint8(0));
        bytes memory data = abi.encode(uint256(32), keccak256("anything"));
        bytes[5] memory cases = [
            bytes.concat(head, data), // canonical: dynamic part right after the static part
            bytes.concat(head, data, hex"00"), // trailing byte
            bytes.concat(
                abi.encodePacked(bytes32(uint256(uint160(address(contractOwner)))), bytes32(uint256(97)), uint8(0)),
                new bytes(32),
                data
            ), // a gap before the dynamic part
            bytes.concat(head, abi.encode(uint256(64), keccak256("short"))), // length beyond the data
            head // no dynamic part
        ];
        bool[5] memory valid = [true, false, false, false, false];
        for (uint256 i; i < cases.length; ++i) {
            op.signature = abi.encodePacked(uint48(0), uint48(0), cases[i]);
            vm.prank(address(entryPoint));
            uint256 data_ = ILeverageModule(account).validateUserOp(op, bytes32(0), 0);
            assertEq(data_ & 1 == 0, valid[i], string.concat("case ", vm.toString(i)));
        }
    }

    function test_ExecuteUserOp_MovesFundsFromTheSafe() public {
        handleOk(_ownerOp(abi.encodeCall(ILeverageModule.executeUserOp, (recipient, 0.5 ether, "", 0)), 0, 0));
        assertEq(recipient.balance, 0.5 ether);
    }

    function test_ExecuteUserOp_RevertWhen_InnerCallFails() public {
        bytes memory transfer = abi.encodeCall(IERC20.transfer, (recipient, 1));
        vm.prank(address(entryPoint));
        vm.expectRevert(ILeverageModule.ExecutionFailed.selector);
        ILeverageModule(safe).executeUserOp(address(usdc), 0, transfer, 0);
    }

    function test_ExecuteUserOpWithErrorString_BubblesTheInnerRevert() public {
        bytes memory transfer = abi.encodeCall(IERC20.transfer, (recipient, 1));
        vm.prank(address(entryPoint));
        vm.expectRevert(abi.encodeWithSignature("ERC20InsufficientBalance(address,uint256,uint256)", safe, 0, 1));
        ILeverageModule(safe).executeUserOpWithErrorString(address(usdc), 0, transfer, 0);
    }

    function test_ExecuteUserOp_RevertWhen_NotTheEntryPoint() public {
        vm.prank(owner);
        vm.expectRevert(ILeverageModule.UnsupportedEntryPoint.selector);
        ILeverageModule(safe).executeUserOp(recipient, 1, "", 0);
        vm.prank(owner);
        vm.expectRevert(ILeverageModule.UnsupportedEntryPoint.selector);
        ILeverageModule(safe).executeUserOpWithErrorString(recipient, 1, "", 0);
    }

    function test_ExecuteRebalance_RevertWhen_CalledDirectlyOnTheModule() public {
        vm.prank(address(entryPoint));
        vm.expectRevert(ILeverageModule.UnsupportedEntryPoint.selector);
        module.executeRebalance(keeper, plan1(bytes32(0), action(ActionKind.Repay, 0, address(0), 1), action(ActionKind.Repay, 0, address(0), 1)));
    }

    function test_GetOperationHash_IsTheEip712SafeOpDigest() public view {
        PackedUserOperation memory op = baseOp(safe, hex"1234", 7);
        op.signature = abi.encodePacked(uint48(5), uint48(6));
        bytes32 structHash = keccak256(
            bytes.concat(
                abi.encode(
                    keccak256(
                        "SafeOp(address safe,uint256 nonce,bytes initCode,bytes callData,uint128 verificationGasLimit,uint128 callGasLimit,uint256 preVerificationGas,uint128 maxPriorityFeePerGas,uint128 maxFeePerGas,bytes paymasterAndData,uint48 validAfter,uint48 validUntil,address entryPoint)"
                    ),
                    safe,
                    op.nonce,
                    keccak256(""),
                    keccak256(hex"1234"),
                    uint128(500_000),
                    uint128(3_000_000)
                ),
                abi.encode(op.preVerificationGas, uint128(1 gwei), uint128(2 gwei), keccak256(""), uint48(5), uint48(6), address(entryPoint))
            )
        );
        bytes32 domain = keccak256(
            abi.encode(keccak256("EIP712Domain(uint256 chainId,address verifyingContract)"), block.chainid, address(module))
        );
        assertEq(module.domainSeparator(), domain);
        assertEq(module.getOperationHash(op), keccak256(abi.encodePacked(hex"1901", domain, structHash)));
    }

    function test_Fallback_KeepsTheSafesErc1271() public {
        bytes32 dataHash = keccak256("hello");
        bytes32 hash = IMessageHash(safe).getMessageHashForSafe(safe, abi.encode(dataHash));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ownerKey, hash);
        bytes4 magic = IERC1271Bytes32(safe).isValidSignature(dataHash, abi.encodePacked(r, s, v));
        assertEq(magic, bytes4(0x1626ba7e), "ERC-1271 magic value through the module as fallback handler");
    }

    function test_Fallback_AcceptsErc721AndErc1155Callbacks() public view {
        (bool ok, bytes memory ret) = safe.staticcall(
            abi.encodeWithSignature("onERC721Received(address,address,uint256,bytes)", address(0), address(0), 1, "")
        );
        assertTrue(ok);
        assertEq(bytes4(abi.decode(ret, (bytes32))), bytes4(0x150b7a02));
    }
}
