// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Fixture} from "../utils/Fixture.sol";
import {ILeverageModule, AutomationConfig, Plan, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {PlanLib} from "../../src/libraries/PlanLib.sol";
import {ConstantsLib} from "../../src/libraries/ConstantsLib.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {_packValidationData} from "@account-abstraction/contracts/core/Helpers.sol";

function maxCost(PackedUserOperation memory op) pure returns (uint256) {
    uint256 limits = uint256(op.accountGasLimits);
    return ((limits >> 128) + uint128(limits) + op.preVerificationGas) * uint128(uint256(op.gasFees));
}

/// @notice Automation-lane validation: the keeper key, its validity window, pause, gas caps, paymaster rule and the
/// plan's canonical encoding, all checked without reverting on a bad signature.
contract KeeperValidationTest is Fixture {
    uint48 internal keeperUntil;
    bytes32 internal wethId;

    function setUp() public override {
        super.setUp();
        keeperUntil = uint48(block.timestamp + 30 days);
        wethId = setPolicyFor(safe, defaultPolicy(wethMarket, address(usdcVault)));
    }

    function _plan() internal view returns (Plan memory) {
        return plan1(
            wethId,
            action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 1e6),
            action(ActionKind.Repay, 0, address(0), 1e6)
        );
    }

    function _validate(PackedUserOperation memory op) internal returns (uint256) {
        vm.prank(address(entryPoint));
        return ILeverageModule(safe).validateUserOp(op, bytes32(0), 0);
    }

    function test_Validate_AcceptsKeeperSignatureAndReturnsTheSignedWindow() public {
        (uint48 validAfter, uint48 validUntil) = keeperWindow(safe);
        uint256 data = _validate(keeperOp(safe, keeper, _plan(), keeperKey));
        assertEq(data, _packValidationData(false, validUntil, validAfter), "valid for the signed epoch window");
    }

    function test_Validate_IntersectsSignatureWindowWithKeyWindow() public {
        // A sponsored operation: its window pins no self-pay epoch, so any window is returned, cut to the key's.
        address sponsor = makeAddr("sponsor");
        vm.prank(safe);
        ILeverageModule(safe).setSponsor(sponsor, true);
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        op.paymasterAndData = abi.encodePacked(sponsor, uint128(100_000), uint128(50_000));
        op.signature = sign(op, keeperKey, 100, uint48(block.timestamp + 1 hours));
        assertEq(_validate(op), _packValidationData(false, uint48(block.timestamp + 1 hours), 100));
        op.signature = sign(op, keeperKey, 100, uint48(block.timestamp + 365 days));
        assertEq(_validate(op), _packValidationData(false, keeperUntil, 100), "never beyond the key's expiry");
        op.signature = sign(op, keeperKey, 0, 0);
        assertEq(_validate(op), _packValidationData(false, keeperUntil, 0), "an open signature gets the key's window");
    }

    function test_Validate_ReturnsFailureForWrongSigner() public {
        (, uint256 otherKey) = makeAddrAndKey("impostor");
        uint256 data = _validate(keeperOp(safe, keeper, _plan(), otherKey));
        assertEq(data & 1, 1, "SIG_VALIDATION_FAILED");
    }

    function test_Validate_ReturnsFailureForUnregisteredKeeper() public {
        (address stranger, uint256 strangerKey) = makeAddrAndKey("stranger");
        uint256 data = _validate(keeperOp(safe, stranger, _plan(), strangerKey));
        assertEq(data & 1, 1, "a self-signed stranger is refused");
    }

    function test_Validate_ReturnsFailureAfterRevocation() public {
        vm.prank(safe);
        ILeverageModule(safe).revokeKeeper(keeper);
        assertEq(_validate(keeperOp(safe, keeper, _plan(), keeperKey)) & 1, 1);
    }

    function test_Validate_ExpiredKeyIsReportedThroughValidUntil() public {
        vm.prank(safe);
        ILeverageModule(safe).addKeeper(keeper, 0, uint48(block.timestamp - 1));
        (uint48 validAfter,) = keeperWindow(safe);
        uint256 data = _validate(keeperOp(safe, keeper, _plan(), keeperKey));
        assertEq(data, _packValidationData(false, uint48(block.timestamp - 1), validAfter), "EntryPoint rejects it as expired");
    }

    function test_Validate_ReturnsFailureForContractStyleSignature() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        // An ERC-1271 style signature (r = signer, s = offset, v = 0) followed by data: not 65 bytes.
        op.signature = abi.encodePacked(uint48(0), uint48(0), bytes32(uint256(uint160(keeper))), bytes32(uint256(65)), uint8(0), bytes32(0));
        assertEq(_validate(op) & 1, 1);
    }

    function test_Validate_ReturnsFailureForMalleableSignature() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        bytes memory sig = op.signature;
        bytes32 s;
        assembly ("memory-safe") {
            s := mload(add(sig, 76))
        }
        uint256 n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
        bytes32 highS = bytes32(n - uint256(s));
        uint8 v = uint8(sig[76]) == 27 ? 28 : 27;
        bytes memory flipped = abi.encodePacked(uint48(0), uint48(0), _slice(sig, 12, 32), highS, v);
        op.signature = flipped;
        assertEq(_validate(op) & 1, 1, "high-s twin refused");
    }

    function test_Validate_DoesNotRevertForGarbageSignature() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        op.signature = abi.encodePacked(uint48(0), uint48(0), new bytes(65));
        assertEq(_validate(op) & 1, 1);
    }

    function test_Validate_RevertWhen_Paused() public {
        vm.prank(safe);
        ILeverageModule(safe).setPaused(true);
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        vm.prank(address(entryPoint));
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.AutomationPaused.selector, safe));
        ILeverageModule(safe).validateUserOp(op, bytes32(0), 0);
    }

    function test_Validate_RevertWhen_NeverConfigured() public {
        address fresh = createSafe(owner);
        vm.prank(fresh);
        ILeverageModule(fresh).addKeeper(keeper, 0, keeperUntil);
        PackedUserOperation memory op = keeperOp(fresh, keeper, _plan(), keeperKey);
        vm.prank(address(entryPoint));
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.GasFieldAboveCap.selector, 0, 500_000, 0));
        ILeverageModule(fresh).validateUserOp(op, bytes32(0), 0);
    }

    function test_Validate_RevertWhen_AnyGasFieldAboveCap() public {
        AutomationConfig memory c = defaultAutomation();
        for (uint8 field; field < 7; ++field) {
            PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
            op.paymasterAndData = abi.encodePacked(makeAddr("pm"), uint128(100_000), uint128(50_000));
            uint256 value;
            if (field == 0) {
                value = uint256(c.maxVerificationGasLimit) + 1;
                op.accountGasLimits = bytes32((value << 128) | 1_000_000);
            } else if (field == 1) {
                value = uint256(c.maxCallGasLimit) + 1;
                op.accountGasLimits = bytes32((uint256(500_000) << 128) | value);
            } else if (field == 2) {
                value = uint256(c.maxPreVerificationGas) + 1;
                op.preVerificationGas = value;
            } else if (field == 3) {
                value = uint256(c.maxFeePerGas) + 1;
                op.gasFees = bytes32((uint256(1 gwei) << 128) | value);
            } else if (field == 4) {
                value = uint256(c.maxPriorityFeePerGas) + 1;
                op.gasFees = bytes32((value << 128) | 2 gwei);
            } else if (field == 5) {
                value = uint256(c.maxPaymasterVerificationGasLimit) + 1;
                op.paymasterAndData = abi.encodePacked(makeAddr("pm"), uint128(value), uint128(50_000));
            } else {
                value = uint256(c.maxPaymasterPostOpGasLimit) + 1;
                op.paymasterAndData = abi.encodePacked(makeAddr("pm"), uint128(100_000), uint128(value));
            }
            op.signature = signKeeper(op, keeperKey);
            uint256 cap = [
                uint256(c.maxVerificationGasLimit),
                c.maxCallGasLimit,
                c.maxPreVerificationGas,
                c.maxFeePerGas,
                c.maxPriorityFeePerGas,
                c.maxPaymasterVerificationGasLimit,
                c.maxPaymasterPostOpGasLimit
            ][field];
            vm.prank(address(entryPoint));
            vm.expectRevert(abi.encodeWithSelector(ILeverageModule.GasFieldAboveCap.selector, field, value, cap));
            ILeverageModule(safe).validateUserOp(op, bytes32(0), 0);
        }
    }

    function test_Validate_RevertWhen_RequiredPaymasterMissingOrSwapped() public {
        address required = makeAddr("required paymaster");
        AutomationConfig memory c = defaultAutomation();
        c.requiredPaymaster = required;
        vm.prank(safe);
        ILeverageModule(safe).setAutomationConfig(c);

        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        vm.prank(address(entryPoint));
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.PaymasterNotAllowed.selector, address(0), required));
        ILeverageModule(safe).validateUserOp(op, bytes32(0), 0);

        address swapped = makeAddr("swapped paymaster");
        op.paymasterAndData = abi.encodePacked(swapped, uint128(100_000), uint128(50_000));
        op.signature = signKeeper(op, keeperKey);
        vm.prank(address(entryPoint));
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.PaymasterNotAllowed.selector, swapped, required));
        ILeverageModule(safe).validateUserOp(op, bytes32(0), 0);

        op.paymasterAndData = abi.encodePacked(required, uint128(100_000), uint128(50_000), hex"beef");
        op.signature = signKeeper(op, keeperKey);
        assertEq(_validate(op) & 1, 0, "the required paymaster passes");
    }

    function test_Validate_UnsignedOpWithOversizedGasReturnsFailureSoBundlersCanEstimate() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        op.accountGasLimits = bytes32((uint256(10_000_000) << 128) | 30_000_000);
        op.preVerificationGas = 1_000_000;
        op.signature = abi.encodePacked(uint48(0), uint48(0), new bytes(65)); // a bundler's placeholder
        uint256 budgetBefore = module.getSelfPayBudget(safe).spentWei;
        assertEq(_validate(op) & 1, 1, "SIG_VALIDATION_FAILED, not GasFieldAboveCap");
        assertEq(module.getSelfPayBudget(safe).spentWei, budgetBefore, "nothing charged for an unsigned operation");
    }

    function test_Validate_ChargesSelfPaidOpsAndRevertsPastTheBudget() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        uint256 cost = (500_000 + 3_000_000 + 60_000) * uint256(2 gwei);
        _validate(op);
        assertEq(module.getSelfPayBudget(safe).spentWei, cost, "charged at the maximum cost");
        vm.prank(safe);
        ILeverageModule(safe).setSelfPayBudget(uint96(cost + cost / 2), 1 days);
        _validate(op);
        vm.prank(address(entryPoint));
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.SelfPayBudgetExceeded.selector, cost, cost, cost + cost / 2));
        ILeverageModule(safe).validateUserOp(op, bytes32(0), 0);
    }

    /// @dev Validation reads no clock: the signed window alone picks the epoch charged. A newer epoch starts from zero
    /// (no successful rebalance needed), an older one is refused.
    function test_Validate_TheWindowPinsTheSelfPayEpoch() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        uint256 cost = maxCost(op);
        uint256 day = block.timestamp / 1 days;
        _validate(op);
        assertEq(module.getSelfPayBudget(safe).spentWei, cost);
        // Signed for the next day, validated now (the EntryPoint would refuse it now, AA22; validation does not care).
        uint48 next = uint48((day + 1) * 1 days);
        op.signature = sign(op, keeperKey, next, next + 1 hours);
        _validate(op);
        assertEq(module.getSelfPayBudget(safe).epoch, day + 1, "the window's epoch");
        assertEq(module.getSelfPayBudget(safe).spentWei, cost, "charged from zero");
        op.signature = signKeeper(op, keeperKey); // today again
        vm.prank(address(entryPoint));
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.SelfPayEpochPassed.selector, day, day + 1));
        ILeverageModule(safe).validateUserOp(op, bytes32(0), 0);
    }

    function test_Validate_EmptyWindowIsLeftToTheEntryPoint() public {
        vm.prank(safe);
        ILeverageModule(safe).addKeeper(keeper, uint48(block.timestamp + 2 days), uint48(block.timestamp + 3 days));
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        (uint48 validAfter, uint48 validUntil) = keeperWindow(safe);
        assertLt(validUntil, block.timestamp + 2 days);
        assertEq(_validate(op), _packValidationData(false, validUntil, uint48(block.timestamp + 2 days)), "never valid");
        assertGt(block.timestamp + 2 days, validAfter);
        assertEq(module.getSelfPayBudget(safe).spentWei, 0, "nothing charged for an operation that can never run");
    }

    function test_Validate_UnlistedPaymastersAreChargedWithTheirGasListedSponsorsAreNot() public {
        address paymaster = makeAddr("paymaster");
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        op.paymasterAndData = abi.encodePacked(paymaster, uint128(100_000), uint128(50_000));
        op.signature = signKeeper(op, keeperKey);
        _validate(op);
        assertEq(
            module.getSelfPayBudget(safe).spentWei,
            (500_000 + 3_000_000 + 60_000 + 100_000 + 50_000) * uint256(2 gwei),
            "every gas limit, the paymaster's included, at maxFeePerGas"
        );
        vm.prank(safe);
        ILeverageModule(safe).setSponsor(paymaster, true);
        _validate(op);
        assertEq(module.getSelfPayBudget(safe).spentWei, (3_710_000) * uint256(2 gwei), "a listed sponsor costs nothing");
    }

    function test_Validate_RevertWhen_NoBudgetAndNoSponsor() public {
        vm.prank(safe);
        ILeverageModule(safe).setSelfPayBudget(0, 0);
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        vm.prank(address(entryPoint));
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.SelfPayBudgetExceeded.selector, 0, maxCost(op), 0));
        ILeverageModule(safe).validateUserOp(op, bytes32(0), 0);
    }

    function test_Validate_RevertWhen_NonceKeyIsNotTheKeepers() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        op.nonce = 0;
        uint192 expected = keeperNonceKey();
        vm.prank(address(entryPoint));
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.KeeperNonceKeyInvalid.selector, 0, expected));
        ILeverageModule(safe).validateUserOp(op, bytes32(0), 0);
    }

    function test_Validate_ReturnsFailureForAKeyOfAnOlderGeneration() public {
        vm.prank(safe);
        ILeverageModule(safe).revokeAllKeepers();
        assertEq(_validate(keeperOp(safe, keeper, _plan(), keeperKey)) & 1, 1, "SIG_VALIDATION_FAILED");
    }

    function test_Validate_RevertWhen_PlanHasTrailingBytes() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        op.callData = bytes.concat(op.callData, hex"00");
        _expectMalformed(op, ConstantsLib.MALFORMED_BAD_LENGTH);
    }

    function test_Validate_RevertWhen_PlanTruncated() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        op.callData = _slice(op.callData, 0, 100);
        _expectMalformed(op, ConstantsLib.MALFORMED_TOO_SHORT);
    }

    function test_Validate_RevertWhen_KeeperWordDirty() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        op.callData[4] = 0x01;
        _expectMalformed(op, ConstantsLib.MALFORMED_DIRTY_KEEPER);
    }

    function test_Validate_RevertWhen_OffsetNonCanonical() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        op.callData[4 + 63] = 0x60;
        _expectMalformed(op, ConstantsLib.MALFORMED_BAD_OFFSET);
    }

    function test_Validate_RevertWhen_UnknownActionKind() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        // First action's kind word: 4 + 160 + 32 (one id) + 32 (actions length) + 31
        op.callData[4 + 160 + 32 + 32 + 31] = bytes1(uint8(ConstantsLib.ACTION_KINDS)); // the first unknown kind
        _expectMalformed(op, ConstantsLib.MALFORMED_BAD_KIND);
    }

    function test_Validate_RevertWhen_SubAccountIndexOutOfRange() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        op.callData[4 + 160 + 32 + 32 + 63] = 0x01;
        _expectMalformed(op, ConstantsLib.MALFORMED_BAD_INDEX);
    }

    function test_Validate_RevertWhen_PoolWordDirty() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        op.callData[4 + 160 + 32 + 32 + 64] = 0x01;
        _expectMalformed(op, ConstantsLib.MALFORMED_DIRTY_POOL);
    }

    function test_Validate_RevertWhen_EmptyPlan() public {
        Plan memory plan;
        plan.subAccounts = new bytes32[](1);
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        _expectMalformed(op, ConstantsLib.MALFORMED_ACTION_COUNT);
        plan.subAccounts = new bytes32[](0);
        op = keeperOp(safe, keeper, plan, keeperKey);
        _expectMalformed(op, ConstantsLib.MALFORMED_SUB_ACCOUNT_COUNT);
    }

    function test_Validate_RevertWhen_SelectorUnsupported() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        op.callData = abi.encodeCall(ILeverageModule.setPaused, (false));
        vm.prank(address(entryPoint));
        vm.expectRevert(
            abi.encodeWithSelector(ILeverageModule.UnsupportedExecutionFunction.selector, ILeverageModule.setPaused.selector)
        );
        ILeverageModule(safe).validateUserOp(op, bytes32(0), 0);
    }

    function test_Validate_RevertWhen_NotFromEntryPoint() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        vm.prank(keeper);
        vm.expectRevert(ILeverageModule.UnsupportedEntryPoint.selector);
        ILeverageModule(safe).validateUserOp(op, bytes32(0), 0);
    }

    function test_Validate_RevertWhen_SenderIsAnotherSafe() public {
        address other = createSafe(owner);
        PackedUserOperation memory op = keeperOp(other, keeper, _plan(), keeperKey);
        vm.prank(address(entryPoint));
        vm.expectRevert(ILeverageModule.InvalidCaller.selector);
        ILeverageModule(safe).validateUserOp(op, bytes32(0), 0);
    }

    function test_Validate_PaysMissingFundsToTheEntryPoint() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        uint256 before = address(entryPoint).balance;
        vm.prank(address(entryPoint));
        ILeverageModule(safe).validateUserOp(op, bytes32(0), 0.01 ether);
        assertEq(address(entryPoint).balance - before, 0.01 ether);
    }

    function test_Validate_SignatureBindsTheChainIdAndEntryPoint() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        vm.chainId(block.chainid + 1);
        assertEq(_validate(op) & 1, 1, "a signature from another chain fails");
    }

    function _expectMalformed(PackedUserOperation memory op, uint8 reason) internal {
        vm.prank(address(entryPoint));
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.MalformedPlan.selector, reason));
        ILeverageModule(safe).validateUserOp(op, bytes32(0), 0);
    }

    function _slice(bytes memory data, uint256 start, uint256 length) internal pure returns (bytes memory out) {
        out = new bytes(length);
        for (uint256 i; i < length; ++i) {
            out[i] = data[start + i];
        }
    }
}
