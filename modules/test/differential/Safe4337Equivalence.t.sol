// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Fixture} from "../utils/Fixture.sol";
import {ILeverageModule} from "../../src/interfaces/ILeverageModule.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

interface ISafe4337Module {
    function validateUserOp(PackedUserOperation calldata userOp, bytes32, uint256 missingAccountFunds)
        external
        returns (uint256);
    function getOperationHash(PackedUserOperation calldata userOp) external view returns (bytes32);
    function domainSeparator() external view returns (bytes32);
    function SUPPORTED_ENTRYPOINT() external view returns (address);
}

/// @notice The owner lane is the real Safe4337Module v0.3.0 (npm artifact bytecode) under another name: same SafeOp
/// hash, same validationData, same prefund payment, same execution effects and revert data, on fuzzed operations.
/// @dev One difference, on purpose (issue 10 item 10): signatures longer than the Safe's threshold needs. v0.3.0 passes
/// them to `checkSignatures`, which ignores trailing bytes, so a bundler can pad the (unsigned) signature field and make
/// the Safe pay for the extra calldata and copying; later Safe4337Module releases check the length, and so does this
/// module (SIG_VALIDATION_FAILED). `testFuzz_PaddedOwnerSignature_DiffersFromV030OnPurpose` pins that difference;
/// every other test here asserts equality (the fuzzed signatures are exact, corrupted or short, never padded).
contract Safe4337EquivalenceTest is Fixture {
    address internal refModule;
    address internal refSafe;
    address internal recipient = makeAddr("recipient");

    function setUp() public override {
        super.setUp();
        refModule = deployArtifact(
            string.concat(SAFE_4337_ARTIFACTS, "Safe4337Module.sol/Safe4337Module.json"), abi.encode(address(entryPoint))
        );
        refSafe = createSafeWith(owner, refModule, refModule);
        vm.deal(refSafe, 10 ether);
        usdc.mint(safe, 1000e6);
        usdc.mint(refSafe, 1000e6);
    }

    struct OpInput {
        uint256 nonce;
        bool withInitCode;
        bytes32 initSalt;
        uint8 selectorKind;
        uint96 value;
        uint256 tokenAmount;
        uint8 operation;
        uint128 verificationGasLimit;
        uint128 callGasLimit;
        uint256 preVerificationGas;
        uint128 maxPriorityFeePerGas;
        uint128 maxFeePerGas;
        bytes paymasterAndData;
        uint48 validAfter;
        uint48 validUntil;
        uint8 signatureMode;
        uint256 corruptAt;
    }

    function _op(address sender, OpInput memory input) internal view returns (PackedUserOperation memory op) {
        op.sender = sender;
        op.nonce = input.nonce;
        op.initCode = input.withInitCode ? abi.encodePacked(address(proxyFactory), input.initSalt) : bytes("");
        bytes memory inner = abi.encodeCall(IERC20.transfer, (recipient, bound(input.tokenAmount, 0, 2000e6)));
        uint8 kind = input.selectorKind % 3;
        if (kind == 0) {
            op.callData = abi.encodeCall(ILeverageModule.executeUserOp, (address(usdc), input.value % 2 ether, inner, input.operation % 2));
        } else if (kind == 1) {
            op.callData =
                abi.encodeCall(ILeverageModule.executeUserOpWithErrorString, (address(usdc), 0, inner, input.operation % 2));
        } else {
            op.callData = abi.encodeCall(ILeverageModule.setPaused, (true));
        }
        op.accountGasLimits = bytes32((uint256(input.verificationGasLimit) << 128) | input.callGasLimit);
        op.preVerificationGas = input.preVerificationGas;
        op.gasFees = bytes32((uint256(input.maxPriorityFeePerGas) << 128) | input.maxFeePerGas);
        op.paymasterAndData = input.paymasterAndData;
    }

    function _signFor(address moduleAddress, PackedUserOperation memory op, OpInput memory input)
        internal
        view
        returns (bytes memory sig)
    {
        op.signature = abi.encodePacked(input.validAfter, input.validUntil);
        bytes32 hash = ISafe4337Module(moduleAddress).getOperationHash(op);
        uint8 mode = input.signatureMode % 4;
        uint256 key = mode == 1 ? keeperKey : ownerKey;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, hash);
        sig = abi.encodePacked(input.validAfter, input.validUntil, r, s, v);
        if (mode == 2) sig[12 + (input.corruptAt % 65)] ^= 0x01;
        if (mode == 3) sig = abi.encodePacked(input.validAfter, input.validUntil, keccak256(abi.encode(input.corruptAt)));
    }

    function testFuzz_OperationHashIsIdentical(OpInput memory input) public {
        PackedUserOperation memory op = _op(safe, input);
        op.signature = abi.encodePacked(input.validAfter, input.validUntil);
        bytes32 expected = ISafe4337Module(refModule).getOperationHash(op);
        // Run our code at the refModule's address so both hash under the same EIP-712 domain.
        uint256 snapshot = vm.snapshotState();
        vm.etch(refModule, address(module).code);
        assertEq(ILeverageModule(refModule).getOperationHash(op), expected, "SafeOp hash");
        assertEq(ILeverageModule(refModule).domainSeparator(), ISafe4337Module(refModule).domainSeparator());
        vm.revertToState(snapshot);
    }

    function testFuzz_ValidationDataAndPrefundAreIdentical(OpInput memory input, uint256 missingFunds) public {
        missingFunds = bound(missingFunds, 0, 1 ether);
        PackedUserOperation memory ours = _op(safe, input);
        ours.signature = _signFor(address(module), ours, input);
        PackedUserOperation memory theirs = _op(refSafe, input);
        theirs.signature = _signFor(refModule, theirs, input);

        uint256 epBefore = address(entryPoint).balance;
        vm.prank(address(entryPoint));
        (bool okOurs, bytes memory retOurs) =
            safe.call(abi.encodeCall(ISafe4337Module.validateUserOp, (ours, bytes32(0), missingFunds)));
        uint256 paidOurs = address(entryPoint).balance - epBefore;

        epBefore = address(entryPoint).balance;
        vm.prank(address(entryPoint));
        (bool okTheirs, bytes memory retTheirs) =
            refSafe.call(abi.encodeCall(ISafe4337Module.validateUserOp, (theirs, bytes32(0), missingFunds)));
        uint256 paidTheirs = address(entryPoint).balance - epBefore;

        assertEq(okOurs, okTheirs, "same success");
        assertEq(retOurs, retTheirs, "same validationData or revert data");
        assertEq(paidOurs, paidTheirs, "same prefund paid");
        if (okOurs && input.signatureMode % 4 == 0) assertEq(abi.decode(retOurs, (uint256)) & 1, 0, "owner sig valid");
    }

    /// @dev The one intended difference: an owner signature with trailing bytes validates under v0.3.0 and fails here.
    function testFuzz_PaddedOwnerSignature_DiffersFromV030OnPurpose(OpInput memory input, uint8 pad) public {
        input.signatureMode = 0;
        uint256 extra = uint256(pad) + 1;
        PackedUserOperation memory ours = _op(safe, input);
        ours.signature = bytes.concat(_signFor(address(module), ours, input), new bytes(extra));
        PackedUserOperation memory theirs = _op(refSafe, input);
        theirs.signature = bytes.concat(_signFor(refModule, theirs, input), new bytes(extra));

        vm.prank(address(entryPoint));
        (bool okOurs, bytes memory retOurs) = safe.call(abi.encodeCall(ISafe4337Module.validateUserOp, (ours, bytes32(0), 0)));
        vm.prank(address(entryPoint));
        (bool okTheirs, bytes memory retTheirs) =
            refSafe.call(abi.encodeCall(ISafe4337Module.validateUserOp, (theirs, bytes32(0), 0)));
        assertEq(okOurs, okTheirs, "neither reverts");
        if (!okOurs) return; // a callData selector neither module executes: the same revert, already covered above
        assertEq(abi.decode(retTheirs, (uint256)) & 1, 0, "v0.3.0 accepts the padded signature");
        assertEq(abi.decode(retOurs, (uint256)) & 1, 1, "this module refuses it");
        assertEq(abi.decode(retOurs, (uint256)) >> 160, abi.decode(retTheirs, (uint256)) >> 160, "same validity window");
    }

    function testFuzz_ExecutionEffectsAreIdentical(uint96 value, uint256 amount, uint8 operation, bool withError) public {
        amount = bound(amount, 0, 2000e6);
        uint8 op = operation % 2;
        bytes memory inner = abi.encodeCall(IERC20.transfer, (recipient, amount));
        bytes memory call = withError
            ? abi.encodeCall(ILeverageModule.executeUserOpWithErrorString, (address(usdc), value % 2 ether, inner, op))
            : abi.encodeCall(ILeverageModule.executeUserOp, (address(usdc), value % 2 ether, inner, op));

        uint256 before = usdc.balanceOf(recipient);
        vm.prank(address(entryPoint));
        (bool okOurs, bytes memory retOurs) = safe.call(call);
        uint256 movedOurs = usdc.balanceOf(recipient) - before;

        before = usdc.balanceOf(recipient);
        vm.prank(address(entryPoint));
        (bool okTheirs, bytes memory retTheirs) = refSafe.call(call);
        uint256 movedTheirs = usdc.balanceOf(recipient) - before;

        assertEq(okOurs, okTheirs, "same success");
        assertEq(_renameSafe(retOurs), retTheirs, "same return or revert data (up to the Safe and module addresses)");
        assertEq(movedOurs, movedTheirs, "same effect");
        assertEq(usdc.balanceOf(safe), usdc.balanceOf(refSafe), "same remaining balance");
    }

    function testFuzz_OnlyTheEntryPointCanCall(address caller) public {
        vm.assume(caller != address(entryPoint));
        bytes memory call = abi.encodeCall(
            ILeverageModule.executeUserOp,
            (address(usdc), 0, abi.encodeCall(IERC20.transfer, (recipient, 1)), 0)
        );
        vm.prank(caller);
        (bool okOurs, bytes memory retOurs) = safe.call(call);
        vm.prank(caller);
        (bool okTheirs, bytes memory retTheirs) = refSafe.call(call);
        assertFalse(okOurs);
        assertEq(okOurs, okTheirs);
        assertEq(retOurs, retTheirs, "same UnsupportedEntryPoint revert");
    }

    function test_HandleOpsGivesTheSameOutcome() public {
        OpInput memory input;
        input.tokenAmount = 250e6;
        input.verificationGasLimit = 500_000;
        input.callGasLimit = 200_000;
        input.preVerificationGas = 60_000;
        input.maxPriorityFeePerGas = 1 gwei;
        input.maxFeePerGas = 2 gwei;

        PackedUserOperation memory ours = _op(safe, input);
        ours.nonce = entryPoint.getNonce(safe, 0);
        ours.signature = _signFor(address(module), ours, input);
        PackedUserOperation memory theirs = _op(refSafe, input);
        theirs.nonce = entryPoint.getNonce(refSafe, 0);
        theirs.signature = _signFor(refModule, theirs, input);

        (bool okOurs,) = handle(ours);
        (bool okTheirs,) = handle(theirs);
        assertTrue(okOurs && okTheirs, "both executed");
        assertEq(usdc.balanceOf(recipient), 500e6, "both transfers landed");
        assertEq(entryPoint.getNonce(safe, 0), entryPoint.getNonce(refSafe, 0), "same nonce progression");
    }

    /// @dev Revert data may name the Safe or the module (a delegatecalled token reports its caller and holder): the
    /// two set-ups differ only by those addresses, so ours are renamed to the reference's before comparing.
    function _renameSafe(bytes memory data) internal view returns (bytes memory out) {
        out = data;
        for (uint256 at = 4; at + 32 <= out.length; at += 32) {
            uint256 word;
            assembly ("memory-safe") {
                word := mload(add(add(out, 32), at))
            }
            uint256 replacement = word;
            if (word == uint256(uint160(safe))) replacement = uint256(uint160(refSafe));
            if (word == uint256(uint160(address(module)))) replacement = uint256(uint160(refModule));
            if (replacement != word) {
                assembly ("memory-safe") {
                    mstore(add(add(out, 32), at), replacement)
                }
            }
        }
    }
}
