// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Vm} from "forge-std/Test.sol";
import {AttackBase} from "./AttackBase.sol";
import {ToggleRevertPaymaster} from "../utils/AdversarialEntities.sol";
import {ILeverageModule, Policy, Plan, AutomationConfig, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";
import {IEntryPoint} from "@account-abstraction/contracts/interfaces/IEntryPoint.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";

/// @notice A compromised keeper, bundler or paymaster against the Safe's ETH and EntryPoint deposit: inflated gas
/// fields, swapped or dropped paymasters, a paymaster that reverts in postOp, and a stream of failing operations.
contract GasAttacksTest is AttackBase {
    ToggleRevertPaymaster internal paymaster;
    ToggleRevertPaymaster internal otherPaymaster;

    function setUp() public override {
        super.setUp();
        paymaster = new ToggleRevertPaymaster(entryPoint);
        otherPaymaster = new ToggleRevertPaymaster(entryPoint);
        paymaster.deposit{value: 5 ether}();
        otherPaymaster.deposit{value: 5 ether}();
    }

    /* 11. INFLATED GAS FIELDS, SWAPPED PAYMASTER */

    function test_Attack11_RevertWhen_AnyGasFieldIsInflated() public {
        AutomationConfig memory c = defaultAutomation();
        uint256[7] memory caps = [
            uint256(c.maxVerificationGasLimit),
            c.maxCallGasLimit,
            c.maxPreVerificationGas,
            c.maxFeePerGas,
            c.maxPriorityFeePerGas,
            c.maxPaymasterVerificationGasLimit,
            c.maxPaymasterPostOpGasLimit
        ];
        Holdings memory before = holdings(safe);
        for (uint8 field; field < 7; ++field) {
            PackedUserOperation memory op = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
            uint256 value = caps[field] + 1;
            if (field == 0) op.accountGasLimits = bytes32((value << 128) | 1_000_000);
            if (field == 1) op.accountGasLimits = bytes32((uint256(500_000) << 128) | value);
            if (field == 2) op.preVerificationGas = value;
            if (field == 3) op.gasFees = bytes32((uint256(1 gwei) << 128) | value);
            if (field == 4) op.gasFees = bytes32((value << 128) | c.maxFeePerGas);
            if (field == 5) op.paymasterAndData = abi.encodePacked(address(paymaster), uint128(value), uint128(50_000));
            if (field == 6) op.paymasterAndData = abi.encodePacked(address(paymaster), uint128(100_000), uint128(value));
            op.signature = signKeeper(op, keeperKey);
            expectHandleRevert(
                op, failedOpWithRevert(abi.encodeWithSelector(ILeverageModule.GasFieldAboveCap.selector, field, value, caps[field]))
            );
        }
        assertNothingLeft(before);
    }

    function test_Attack11_RevertWhen_BundlerSwapsOrDropsTheSignedPaymaster() public {
        PackedUserOperation memory op = _sponsored(paymaster, repayPlan(3300e6));
        Holdings memory before = holdings(safe);
        op.paymasterAndData = abi.encodePacked(address(otherPaymaster), uint128(100_000), uint128(50_000));
        expectHandleRevert(op, failedOp("AA24 signature error"));
        op.paymasterAndData = ""; // the Safe would pay instead
        expectHandleRevert(op, failedOp("AA24 signature error"));
        assertNothingLeft(before);
    }

    function test_Attack11_RevertWhen_RequiredPaymasterIsSwappedOrDropped() public {
        _requirePaymaster(address(paymaster));
        Holdings memory before = holdings(safe);
        PackedUserOperation memory op = _sponsored(otherPaymaster, repayPlan(3300e6));
        expectHandleRevert(
            op,
            failedOpWithRevert(
                abi.encodeWithSelector(ILeverageModule.PaymasterNotAllowed.selector, address(otherPaymaster), address(paymaster))
            )
        );
        op = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        expectHandleRevert(
            op,
            failedOpWithRevert(abi.encodeWithSelector(ILeverageModule.PaymasterNotAllowed.selector, address(0), address(paymaster)))
        );
        assertNothingLeft(before);
    }

    function test_Attack11_FailingSponsoredOpsCostTheSafeNothing() public {
        _requirePaymaster(address(paymaster));
        wethOracle.setPrice(3000e18); // nothing is due: every plan fails with NoTrigger
        Holdings memory before = holdings(safe);
        for (uint256 i; i < 10; ++i) {
            (bool success, bytes memory reason) = handle(_sponsored(paymaster, repayPlan(3300e6)));
            assertFalse(success);
            assertEq(reason, abi.encodeWithSelector(ILeverageModule.NoTrigger.selector));
        }
        assertNothingLeft(before);
    }

    /// @dev FINDING F-1 (medium). EXPECTED TO FAIL until the module bounds the gas of failed keeper operations.
    /// Per-field caps bound one operation, but nothing bounds how many a keeper sends: each failed execution is
    /// charged to the Safe (gas used plus the EntryPoint's 10% penalty on unused call gas) and paid to the bundler's
    /// beneficiary, and failed executions are not counted in the epoch gas cap. A compromised keeper that also
    /// bundles turns the Safe's ETH into its own. The owner's stated budget is maxGasPerEpoch at maxFeePerGas.
    function test_Attack11_FINDING_F1_RevertWhen_FailedKeeperOpsExceedTheEpochGasBudget() public {
        Policy memory policy = module.getPolicy(safe, wethId);
        AutomationConfig memory c = defaultAutomation();
        uint256 budget = uint256(policy.maxGasPerEpoch) * c.maxFeePerGas;
        wethOracle.setPrice(3000e18); // nothing is due: every plan fails with NoTrigger
        vm.fee(c.maxFeePerGas - c.maxPriorityFeePerGas); // the op pays its max fee
        Holdings memory before = holdings(safe);
        uint256 spent;
        uint256 sent; // 60 operations of ~0.08 ETH each, a few hours of a keeper's time at one per block
        PackedUserOperation memory op;
        while (sent < 60) {
            op = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
            op.accountGasLimits = bytes32((uint256(c.maxVerificationGasLimit) << 128) | c.maxCallGasLimit);
            op.preVerificationGas = c.maxPreVerificationGas;
            op.gasFees = bytes32((uint256(c.maxPriorityFeePerGas) << 128) | c.maxFeePerGas);
            op.signature = signKeeper(op, keeperKey);
            PackedUserOperation[] memory ops = new PackedUserOperation[](1);
            ops[0] = op;
            vm.prank(bundler, bundler);
            try entryPoint.handleOps(ops, payable(attacker)) {
                ++sent;
            } catch {
                break; // the module refused the operation: the budget holds
            }
            Holdings memory h = holdings(safe);
            spent = before.eth + before.deposit - h.eth - h.deposit;
        }
        emit log_named_uint("failed keeper operations accepted", sent);
        emit log_named_decimal_uint("ETH charged to the Safe", spent, 18);
        emit log_named_decimal_uint("ETH paid to the keeper's beneficiary", attacker.balance, 18);
        emit log_named_decimal_uint("epoch gas budget (ETH)", budget, 18);
        assertEq(module.getEpochUsage(safe, wethId).gasUsed, 0, "failed operations are not counted in the epoch");
        assertLe(spent, budget + maxCost(op), "failed keeper operations spent more than the epoch gas budget");
    }

    /* 12. A PAYMASTER THAT REVERTS IN postOp */

    function test_Attack12_PostOpRevertRollsBackAndChargesThePaymaster() public {
        _requirePaymaster(address(paymaster));
        paymaster.setRevertInPostOp(true);
        PackedUserOperation memory op = _sponsored(paymaster, repayPlan(3300e6));
        Holdings memory before = holdings(safe);
        uint256 healthBefore = healthOf(safe, wethMarket);
        uint256 paymasterDeposit = entryPoint.balanceOf(address(paymaster));

        Vm.Log[] memory logs = handleLogged(op);

        bool sawPostOpRevert;
        bool success = true;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == IEntryPoint.PostOpRevertReason.selector) {
                (, bytes memory reason) = abi.decode(logs[i].data, (uint256, bytes));
                assertEq(bytes4(reason), IEntryPoint.PostOpReverted.selector, "wrapped by the EntryPoint");
                (bytes memory inner) = abi.decode(_slice(reason, 4, reason.length - 4), (bytes));
                assertEq(bytes4(inner), ToggleRevertPaymaster.PostOpSabotage.selector, "the paymaster's own revert");
                sawPostOpRevert = true;
            }
            if (logs[i].topics[0] == IEntryPoint.UserOperationEvent.selector) {
                (, success,,) = abi.decode(logs[i].data, (uint256, bool, uint256, uint256));
            }
        }
        assertTrue(sawPostOpRevert, "postOp reverted");
        assertFalse(success, "the operation is reported failed");
        assertNothingLeft(before);
        assertEq(healthOf(safe, wethMarket), healthBefore, "the plan's effects were rolled back");
        assertEq(module.getEpochUsage(safe, wethId).rebalances, 0, "nothing recorded against the caps");
        assertLt(entryPoint.balanceOf(address(paymaster)), paymasterDeposit, "the paymaster paid from its deposit");
        expectHandleRevert(op, failedOp("AA25 invalid account nonce"));
    }

    /* HELPERS */

    function _requirePaymaster(address required) internal {
        AutomationConfig memory c = defaultAutomation();
        c.requiredPaymaster = required;
        safeCall(abi.encodeCall(ILeverageModule.setAutomationConfig, (c)));
    }

    function _sponsored(ToggleRevertPaymaster pm, Plan memory plan) internal view returns (PackedUserOperation memory op) {
        op = keeperOp(safe, keeper, plan, keeperKey);
        op.paymasterAndData = abi.encodePacked(address(pm), uint128(100_000), uint128(50_000));
        op.signature = signKeeper(op, keeperKey);
    }
}
