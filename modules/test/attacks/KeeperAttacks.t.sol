// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {AttackBase} from "./AttackBase.sol";
import {ISafeTest} from "../utils/Fixture.sol";
import {YieldVault} from "../utils/YieldVault.sol";
import {HalfPullVault} from "../utils/AdversarialVaults.sol";
import {ApproveAllSigner} from "../utils/AdversarialEntities.sol";
import {
    ILeverageModule, Policy, Plan, Action, ActionKind, AutomationConfig, EpochUsage
} from "../../src/interfaces/ILeverageModule.sol";
import {VenueCall, MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {PlanLib} from "../../src/libraries/PlanLib.sol";
import {ConstantsLib} from "../../src/libraries/ConstantsLib.sol";
import {IEntryPoint} from "@account-abstraction/contracts/interfaces/IEntryPoint.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {MarketParams, Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @notice A compromised keeper (and the bundler relaying it) against the automation lane: where funds may go, what
/// may be called, what encodings pass, replays, expired and revoked keys, cap splitting, health manipulation,
/// contract signatures and standing approvals. Each test asserts the exact failure and that nothing left the Safe.
contract KeeperAttacksTest is AttackBase {
    using MarketParamsLib for MarketParams;

    /* 1. FUNDS ONLY TO THE SAFE, ITS SUB-ACCOUNTS AND ALLOWED POOLS */

    function test_Attack01_RevertWhen_DepositToAnUnlistedPool() public {
        YieldVault evil = new YieldVault(usdc, "evil", "EVL");
        Plan memory plan = plan1(
            wethId,
            action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 3300e6),
            action(ActionKind.DepositToPool, 0, address(evil), 3300e6)
        );
        Holdings memory before = holdings(safe);
        expectExec(plan, abi.encodeWithSelector(ILeverageModule.PoolNotAllowed.selector, wethId, address(evil)));
        assertNothingLeft(before);
        assertEq(usdc.balanceOf(address(evil)), 0, "nothing reached the attacker pool");
    }

    function test_Attack01_RevertWhen_PoolIsTheAttackersAddress() public {
        Plan memory plan = plan1(
            wethId,
            action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 3300e6),
            action(ActionKind.DepositToPool, 0, attacker, 3300e6)
        );
        Holdings memory before = holdings(safe);
        // Finding F-2 (fixed): every action is checked against the allowlist before any plan pool is read.
        expectExec(plan, abi.encodeWithSelector(ILeverageModule.PoolNotAllowed.selector, wethId, attacker));
        assertNothingLeft(before);
    }

    function test_Attack01_RevertWhen_PoolIsAllowedOnlyForAnotherSubAccount() public {
        YieldVault other = new YieldVault(usdc, "other", "OTH");
        Policy memory policy = defaultPolicy(wbtcMarket, address(other));
        setPolicy(policy);
        Plan memory plan = plan1(
            wethId,
            action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 3300e6),
            action(ActionKind.DepositToPool, 0, address(other), 3300e6)
        );
        Holdings memory before = holdings(safe);
        expectExec(plan, abi.encodeWithSelector(ILeverageModule.PoolNotAllowed.selector, wethId, address(other)));
        assertNothingLeft(before);
    }

    /// @dev The engine checks pool actions against `ModuleStorage.allowedPools` (issue 15), a set setPolicy and
    /// removePolicy keep equal to the stored list: a pool the Safe dropped from the policy must be refused.
    function test_Attack01_RevertWhen_PoolWasDroppedFromThePolicy() public {
        YieldVault other = new YieldVault(usdc, "other", "OTH");
        setPolicy(defaultPolicy(wethMarket, address(other)));
        Plan memory plan = plan1(
            wethId, action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 3300e6), action(ActionKind.Repay, 0, address(0), 3300e6)
        );
        Holdings memory before = holdings(safe);
        expectExec(plan, abi.encodeWithSelector(ILeverageModule.PoolNotAllowed.selector, wethId, address(usdcVault)));
        assertNothingLeft(before);
    }

    function test_Attack01_RevertWhen_PoolWasAllowedByARemovedPolicy() public {
        vm.prank(safe);
        ILeverageModule(safe).removePolicy(wethId);
        setPolicy(defaultPolicy(wethMarket, address(0)));
        Plan memory plan = plan1(
            wethId, action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 3300e6), action(ActionKind.Repay, 0, address(0), 3300e6)
        );
        Holdings memory before = holdings(safe);
        expectExec(plan, abi.encodeWithSelector(ILeverageModule.PoolNotAllowed.selector, wethId, address(usdcVault)));
        assertNothingLeft(before);
    }

    function test_Attack01_RevertWhen_SubAccountIsPolicedOnlyOnAnotherSafe() public {
        address victim = createSafe(owner);
        bytes32 wstethId = setPolicyFor(victim, defaultPolicy(wstethMarket, address(0)));
        Plan memory plan = plan1(
            wstethId,
            action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 3300e6),
            action(ActionKind.Repay, 0, address(0), 3300e6)
        );
        Holdings memory before = holdings(safe);
        expectExec(plan, abi.encodeWithSelector(ILeverageModule.UnknownSubAccount.selector, wstethId));
        assertNothingLeft(before);
    }

    function test_Attack01_RevertWhen_ReceiverSmuggledInThePoolWordsHighBits() public {
        // A keeper signs callData whose pool word carries bits above the address: the ABI decoder would drop them.
        PackedUserOperation memory op = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        op.callData[4 + 160 + 32 + 32 + 64 + 11] = 0x01;
        op.signature = signKeeper(op, keeperKey);
        Holdings memory before = holdings(safe);
        expectHandleRevert(op, failedOpWithRevert(abi.encodeWithSelector(ILeverageModule.MalformedPlan.selector, ConstantsLib.MALFORMED_DIRTY_POOL)));
        assertNothingLeft(before);
    }

    function testFuzz_Attack01_EveryVenueCallCreditsOnlyTheAccount(uint8 kind, uint256 assets, address account) public view {
        kind = uint8(bound(kind, 2, 5));
        assets = bound(assets, 1, 1e30);
        vm.assume(account != address(0));
        VenueCall memory call = adapter.encode(kind, Id.unwrap(wethMarket.id()), assets, account);
        assertEq(call.target, address(morpho), "only the venue is called");
        bytes memory args = _slice(call.data, 4, call.data.length - 4);
        if (kind == uint8(ActionKind.SupplyCollateral)) {
            (, uint256 a, address onBehalf, bytes memory data) = abi.decode(args, (MarketParams, uint256, address, bytes));
            assertEq(a, assets);
            assertEq(onBehalf, account, "supplyCollateral onBehalf");
            assertEq(data.length, 0, "no Morpho callback");
            assertEq(call.approveAmount, assets, "exact approval");
        } else if (kind == uint8(ActionKind.WithdrawCollateral)) {
            (,, address onBehalf, address receiver) = abi.decode(args, (MarketParams, uint256, address, address));
            assertEq(onBehalf, account, "withdrawCollateral onBehalf");
            assertEq(receiver, account, "withdrawCollateral receiver");
            assertEq(call.approveToken, address(0), "no approval");
        } else if (kind == uint8(ActionKind.Borrow)) {
            (,,, address onBehalf, address receiver) = abi.decode(args, (MarketParams, uint256, uint256, address, address));
            assertEq(onBehalf, account, "borrow onBehalf");
            assertEq(receiver, account, "borrow receiver");
            assertEq(call.approveToken, address(0), "no approval");
        } else {
            (,,, address onBehalf, bytes memory data) = abi.decode(args, (MarketParams, uint256, uint256, address, bytes));
            assertEq(onBehalf, account, "repay onBehalf");
            assertEq(data.length, 0, "no Morpho callback");
        }
    }

    /* 2. NO DELEGATECALL, NO CALLS TO THE SAFE ITSELF OR TO THE MODULE'S CONFIGURATION */

    function test_Attack02_RevertWhen_PlanTargetsTheSafeOrTheModule() public {
        Holdings memory before = holdings(safe);
        address[2] memory targets = [safe, address(module)];
        for (uint256 i; i < targets.length; ++i) {
            Plan memory plan = plan1(
                wethId,
                action(ActionKind.WithdrawFromPool, 0, targets[i], 3300e6),
                action(ActionKind.Repay, 0, address(0), 3300e6)
            );
            // Finding F-2 (fixed): refused by the allowlist before anything is read from the target.
            expectExec(plan, abi.encodeWithSelector(ILeverageModule.PoolNotAllowed.selector, wethId, targets[i]));
        }
        assertNothingLeft(before);
    }

    function test_Attack02_RevertWhen_KeeperOpCallsSafeOrModuleConfiguration() public {
        AutomationConfig memory open = defaultAutomation();
        open.maxCallGasLimit = type(uint32).max;
        bytes[] memory calls = new bytes[](12);
        calls[0] = abi.encodeCall(ISafeTest.enableModule, (attacker));
        calls[1] = abi.encodeCall(ISafeTest.disableModule, (SENTINEL, address(module)));
        calls[2] = abi.encodeCall(ISafeTest.setFallbackHandler, (attacker));
        calls[3] = abi.encodeWithSignature("setGuard(address)", attacker);
        calls[4] = abi.encodeWithSignature("addOwnerWithThreshold(address,uint256)", attacker, 1);
        calls[5] = abi.encodeWithSignature("execTransactionFromModule(address,uint256,bytes,uint8)", attacker, 1 ether, "", 1);
        calls[6] = abi.encodeCall(ILeverageModule.setPolicy, (defaultPolicy(wethMarket, attacker)));
        calls[7] = abi.encodeCall(ILeverageModule.addKeeper, (attacker, 0, type(uint48).max));
        calls[8] = abi.encodeCall(ILeverageModule.setAutomationConfig, (open));
        calls[9] = abi.encodeCall(ILeverageModule.setPaused, (false));
        calls[10] = abi.encodeCall(ILeverageModule.removePolicy, (wethId));
        calls[11] = abi.encodeWithSignature("simulateAndRevert(address,bytes)", attacker, "");
        Holdings memory before = holdings(safe);
        for (uint256 i; i < calls.length; ++i) {
            PackedUserOperation memory op = baseOp(safe, calls[i], keeperNonceKey());
            op.signature = signKeeper(op, keeperKey);
            expectHandleRevert(
                op,
                failedOpWithRevert(
                    abi.encodeWithSelector(ILeverageModule.UnsupportedExecutionFunction.selector, bytes4(calls[i]))
                )
            );
        }
        assertNothingLeft(before);
        assertFalse(ISafeTest(safe).isModuleEnabled(attacker), "no module added");
    }

    function test_Attack02_RevertWhen_KeeperSignsAnOwnerLaneDelegatecall() public {
        // The owner lane needs the Safe owners' signatures: a keeper key is not one of them.
        bytes memory drain = abi.encodeCall(IERC20.transfer, (attacker, 1000e6));
        PackedUserOperation memory op = baseOp(
            safe, abi.encodeCall(ILeverageModule.executeUserOp, (address(usdc), 0, drain, 1)), keeperNonceKey()
        );
        op.signature = signKeeper(op, keeperKey);
        Holdings memory before = holdings(safe);
        expectHandleRevert(op, failedOp("AA24 signature error"));
        assertNothingLeft(before);
    }

    function test_Attack02_RevertWhen_OutsiderCallsExecuteRebalanceThroughTheSafe() public {
        Holdings memory before = holdings(safe);
        vm.prank(attacker);
        vm.expectRevert(ILeverageModule.UnsupportedEntryPoint.selector);
        ILeverageModule(safe).executeRebalance(keeper, repayPlan(3300e6));
        assertNothingLeft(before);
    }

    function test_Attack02_RevertWhen_ForgedEntryPointSuffixOnTheModuleItself() public {
        // Calling the module directly with the EntryPoint appended only ever acts for the caller's own entry.
        bytes memory data =
            bytes.concat(abi.encodeCall(ILeverageModule.executeRebalance, (keeper, repayPlan(3300e6))), abi.encodePacked(address(entryPoint)));
        Holdings memory before = holdings(safe);
        vm.prank(attacker);
        (bool ok, bytes memory ret) = address(module).call(data);
        assertFalse(ok, "refused");
        assertEq(ret, abi.encodeWithSelector(ILeverageModule.KeeperNotAuthorized.selector, keeper));
        assertNothingLeft(before);
    }

    /* 3. MALFORMED CALLDATA */

    function test_Attack03_RevertWhen_TrailingBytes() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        op.callData = bytes.concat(op.callData, abi.encode(attacker));
        op.signature = signKeeper(op, keeperKey);
        Holdings memory before = holdings(safe);
        expectHandleRevert(op, failedOpWithRevert(abi.encodeWithSelector(ILeverageModule.MalformedPlan.selector, ConstantsLib.MALFORMED_BAD_LENGTH)));
        assertNothingLeft(before);
    }

    function test_Attack03_RevertWhen_WrongSelector() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        op.callData[0] = 0xde;
        op.signature = signKeeper(op, keeperKey);
        bytes4 selector = bytes4(op.callData);
        Holdings memory before = holdings(safe);
        expectHandleRevert(op, failedOpWithRevert(abi.encodeWithSelector(ILeverageModule.UnsupportedExecutionFunction.selector, selector)));
        assertNothingLeft(before);
    }

    function test_Attack03_RevertWhen_TruncatedEncoding() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        op.callData = _slice(op.callData, 0, op.callData.length - 32);
        op.signature = signKeeper(op, keeperKey);
        Holdings memory before = holdings(safe);
        expectHandleRevert(op, failedOpWithRevert(abi.encodeWithSelector(ILeverageModule.MalformedPlan.selector, ConstantsLib.MALFORMED_BAD_LENGTH)));
        op.callData = _slice(op.callData, 0, 4 + 150);
        op.signature = signKeeper(op, keeperKey);
        expectHandleRevert(op, failedOpWithRevert(abi.encodeWithSelector(ILeverageModule.MalformedPlan.selector, ConstantsLib.MALFORMED_TOO_SHORT)));
        assertNothingLeft(before);
    }

    function test_Attack03_RevertWhen_NonCanonicalOffsetAliasesTheIds() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        op.callData[4 + 96 + 31] = 0x40; // actions offset pointed back at the ids array
        op.signature = signKeeper(op, keeperKey);
        Holdings memory before = holdings(safe);
        expectHandleRevert(op, failedOpWithRevert(abi.encodeWithSelector(ILeverageModule.MalformedPlan.selector, ConstantsLib.MALFORMED_BAD_OFFSET)));
        assertNothingLeft(before);
    }

    function test_Attack03_RevertWhen_UnknownMarket() public {
        bytes32 ghost = module.subAccountId(address(adapter), keccak256("no such market"));
        Plan memory plan = plan1(
            ghost, action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 3300e6), action(ActionKind.Repay, 0, address(0), 3300e6)
        );
        Holdings memory before = holdings(safe);
        expectExec(plan, abi.encodeWithSelector(ILeverageModule.UnknownSubAccount.selector, ghost));
        (bool success, bytes memory reason) = handle(keeperOp(safe, keeper, plan, keeperKey));
        assertFalse(success, "the operation failed");
        assertEq(reason, abi.encodeWithSelector(ILeverageModule.UnknownSubAccount.selector, ghost));
        assertNothingLeftBut(before, maxCost(keeperOp(safe, keeper, plan, keeperKey)));
    }

    /* 4. REPLAY */

    function test_Attack04_RevertWhen_SameNonceReplayed() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        handleOk(op);
        wethOracle.setPrice(2000e18); // due again, so only the nonce stands in the way
        Holdings memory before = holdings(safe);
        expectHandleRevert(op, failedOp("AA25 invalid account nonce"));
        assertNothingLeft(before);
    }

    function test_Attack04_RevertWhen_ReplayedUnderAnotherNonceKey() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        op.nonce = entryPoint.getNonce(safe, keeperNonceKey() + 1);
        Holdings memory before = holdings(safe);
        // Refused before the signature is even checked: keeper operations live on their keeper's own nonce key.
        expectHandleRevert(
            op,
            failedOpWithRevert(
                abi.encodeWithSelector(ILeverageModule.KeeperNonceKeyInvalid.selector, keeperNonceKey() + 1, keeperNonceKey())
            )
        );
        op.signature = signKeeper(op, keeperKey);
        expectHandleRevert(
            op,
            failedOpWithRevert(
                abi.encodeWithSelector(ILeverageModule.KeeperNonceKeyInvalid.selector, keeperNonceKey() + 1, keeperNonceKey())
            )
        );
        assertNothingLeft(before);
    }

    function test_Attack04_RevertWhen_ReplayedOnAnotherChain() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        vm.chainId(block.chainid + 1);
        Holdings memory before = holdings(safe);
        expectHandleRevert(op, failedOp("AA24 signature error"));
        assertNothingLeft(before);
    }

    function test_Attack04_RevertWhen_ReplayedThroughAnotherEntryPoint() public {
        IEntryPoint other = IEntryPoint(deployArtifact(string.concat(AA_ARTIFACTS, "EntryPoint.json"), ""));
        PackedUserOperation memory op = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        Holdings memory before = holdings(safe);
        expectHandleRevert(other, op, failedOpWithRevert(abi.encodeWithSelector(ILeverageModule.UnsupportedEntryPoint.selector)));
        assertNothingLeft(before);
    }

    function test_Attack04_RevertWhen_ReplayedForAnotherSafeWithTheSameKeeper() public {
        address other = createSafe(owner);
        vm.deal(other, 10 ether);
        safeExec(other, other, 0, abi.encodeCall(ILeverageModule.setAutomationConfig, (defaultAutomation())), 0);
        safeExec(other, other, 0, abi.encodeCall(ILeverageModule.addKeeper, (keeper, 0, uint48(block.timestamp + 30 days))), 0);
        safeExec(other, other, 0, abi.encodeCall(ILeverageModule.setSelfPayBudget, (SELF_PAY_BUDGET, 1 days)), 0);
        PackedUserOperation memory op = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        op.sender = other;
        Holdings memory before = holdings(safe);
        // Replayed as is: the nonce key is per Safe (each registration draws its own salt).
        uint192 otherKey = module.keeperNonceKey(other, keeper);
        expectHandleRevert(
            op,
            failedOpWithRevert(abi.encodeWithSelector(ILeverageModule.KeeperNonceKeyInvalid.selector, keeperNonceKey(), otherKey))
        );
        // On the other Safe's own key: the signature binds the sender and the nonce.
        op.nonce = entryPoint.getNonce(other, otherKey);
        expectHandleRevert(op, failedOp("AA24 signature error"));
        assertNothingLeft(before);
    }

    function test_Attack04_RevertWhen_ReplayedAfterRevocation() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        safeCall(abi.encodeCall(ILeverageModule.revokeKeeper, (keeper)));
        Holdings memory before = holdings(safe);
        expectHandleRevert(op, failedOp("AA24 signature error"));
        assertNothingLeft(before);
    }

    /* 5. EXPIRED OR REVOKED KEY */

    function test_Attack05_RevertWhen_KeyExpired() public {
        safeCall(abi.encodeCall(ILeverageModule.addKeeper, (keeper, 0, uint48(block.timestamp + 1 hours))));
        vm.warp(block.timestamp + 2 hours);
        wethOracle.setPrice(2400e18);
        PackedUserOperation memory op = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        Holdings memory before = holdings(safe);
        expectHandleRevert(op, failedOp("AA22 expired or not due"));
        // A signature claiming a longer window is still cut to the key's.
        (uint48 validAfter,) = keeperWindow(safe);
        op.signature = sign(op, keeperKey, validAfter, uint48(block.timestamp + 365 days));
        expectHandleRevert(op, failedOp("AA22 expired or not due"));
        assertNothingLeft(before);
    }

    function test_Attack05_RevertWhen_KeyNotYetValid() public {
        safeCall(abi.encodeCall(ILeverageModule.addKeeper, (keeper, uint48(block.timestamp + 1 days), uint48(block.timestamp + 2 days))));
        PackedUserOperation memory op = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        Holdings memory before = holdings(safe);
        expectHandleRevert(op, failedOp("AA22 expired or not due"));
        assertNothingLeft(before);
    }

    function test_Attack05_RevertWhen_KeyExpiresBetweenValidationAndExecution() public {
        safeCall(abi.encodeCall(ILeverageModule.addKeeper, (keeper, 0, uint48(block.timestamp + 1 hours))));
        vm.warp(block.timestamp + 1 hours + 1);
        wethOracle.setPrice(2400e18);
        Holdings memory before = holdings(safe);
        expectExec(repayPlan(3300e6), abi.encodeWithSelector(ILeverageModule.KeeperNotAuthorized.selector, keeper));
        assertNothingLeft(before);
    }

    function test_Attack05_RevertWhen_KeyRevoked() public {
        safeCall(abi.encodeCall(ILeverageModule.revokeKeeper, (keeper)));
        Holdings memory before = holdings(safe);
        expectHandleRevert(keeperOp(safe, keeper, repayPlan(3300e6), keeperKey), failedOp("AA24 signature error"));
        expectExec(repayPlan(3300e6), abi.encodeWithSelector(ILeverageModule.KeeperNotAuthorized.selector, keeper));
        assertNothingLeft(before);
    }

    /* 6. MANY SMALL REBALANCES AGAINST THE EPOCH CAPS */

    function test_Attack06_RevertWhen_SmallRebalancesExceedTheEpochAmountCap() public {
        Policy memory policy = defaultPolicy(wethMarket, address(usdcVault));
        // Each rebalance must land in [1.3, 1.55]: from 1.19, a repayment of 1,649, then 1,498, 1,361, 1,236 USDC
        // as the debt shrinks (each charged its net position change, the repayment; not the pool withdrawal).
        policy.maxAmountPerRebalance = 3500e6;
        policy.maxAmountPerEpoch = 5000e6;
        setPolicy(policy);
        uint256 done;
        for (uint256 i; i < 10; ++i) {
            _dropWethHealthTo(1.19e18);
            uint256 amount = _repayToReach(1.31e18);
            uint256 used = module.getEpochUsage(safe, wethId).amountMoved;
            if (used + amount > policy.maxAmountPerEpoch) {
                Holdings memory before = holdings(safe);
                expectExec(
                    repayPlan(amount),
                    abi.encodeWithSelector(ILeverageModule.EpochAmountCapExceeded.selector, wethId, used + amount, 5000e6)
                );
                assertNothingLeft(before);
                break;
            }
            handleOk(keeperOp(safe, keeper, repayPlan(amount), keeperKey));
            ++done;
        }
        assertEq(done, 3, "three small rebalances fit, the fourth does not");
        assertLe(module.getEpochUsage(safe, wethId).amountMoved, 5000e6, "the epoch never went over its cap");
    }

    function test_Attack06_RevertWhen_SmallRebalancesExceedTheEpochCount() public {
        Policy memory policy = defaultPolicy(wethMarket, address(usdcVault));
        policy.maxRebalancesPerEpoch = 3;
        setPolicy(policy);
        for (uint256 i; i < 3; ++i) {
            _dropWethHealthTo(1.19e18);
            handleOk(keeperOp(safe, keeper, repayPlan(_repayToReach(1.31e18)), keeperKey));
        }
        _dropWethHealthTo(1.19e18);
        Holdings memory before = holdings(safe);
        expectExec(
            repayPlan(_repayToReach(1.31e18)),
            abi.encodeWithSelector(ILeverageModule.EpochRebalanceCapExceeded.selector, wethId, 4, 3)
        );
        assertNothingLeft(before);
    }

    /* 7. HEALTH BELOW minHealth OR AWAY FROM TARGET */

    function test_Attack07_RevertWhen_BoostPushesHealthBelowMin() public {
        Policy memory policy = defaultPolicy(wethMarket, address(usdcVault));
        policy.boostAllowed = true;
        setPolicy(policy);
        wethOracle.setPrice(4000e18); // 1.911 > max 1.7: a boost is due
        Plan memory plan = plan1(
            wethId, action(ActionKind.Borrow, 0, address(0), 12_000e6), action(ActionKind.DepositToPool, 0, address(usdcVault), 12_000e6)
        );
        uint256 after_ = Math.mulDiv(40_000e6, 0.86e18, 30_000e6);
        Holdings memory before = holdings(safe);
        expectExec(plan, abi.encodeWithSelector(ILeverageModule.HealthOutOfBand.selector, wethId, after_, 1.2e18, 1.7e18));
        assertNothingLeft(before);
    }

    function test_Attack07_RevertWhen_RepaymentOvershootsPastTheTarget() public {
        // 1.1467 before; 1.69 after: in band, but more than half way from the target to maxHealth (1.55).
        uint256 healthBefore = healthOf(safe, wethMarket);
        uint256 after_ = Math.mulDiv(24_000e6, 0.86e18, 18_000e6 - 5787e6);
        Holdings memory before = holdings(safe);
        expectExec(
            repayPlan(5787e6),
            abi.encodeWithSelector(ILeverageModule.HealthOutsideLandingZone.selector, wethId, after_, healthBefore + 0.1e18, 1.55e18)
        );
        assertNothingLeft(before);
    }

    function test_Attack07_RevertWhen_UntriggeredSubAccountIsMovedAwayFromTarget() public {
        Policy memory policy = defaultPolicy(wbtcMarket, address(usdcVault));
        policy.maxHealth = 2.5e18;
        setPolicy(policy);
        Action[] memory actions = new Action[](3);
        actions[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 8300e6);
        actions[1] = action(ActionKind.Repay, 0, address(0), 3300e6);
        actions[2] = action(ActionKind.Repay, 1, address(0), 5000e6);
        Holdings memory before = holdings(safe);
        expectExec(
            plan2(wethId, wbtcId, actions),
            abi.encodeWithSelector(ILeverageModule.HealthFurtherFromTarget.selector, wbtcId, 1.72e18, 2.064e18)
        );
        assertNothingLeft(before);
    }

    function test_Attack07_RevertWhen_DeleverageOnlyPolicyIsBorrowedAgainst() public {
        Action[] memory actions = new Action[](2);
        actions[0] = action(ActionKind.Borrow, 1, address(0), 3300e6);
        actions[1] = action(ActionKind.Repay, 0, address(0), 3300e6);
        Holdings memory before = holdings(safe);
        expectExec(plan2(wethId, wbtcId, actions), abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 0, ActionKind.Borrow));
        assertNothingLeft(before);
    }

    /* 14. AN ERC-1271 CONTRACT SIGNATURE IN PLACE OF THE KEEPER'S */

    function test_Attack14_RevertWhen_ContractSignatureStandsInForTheKeeper() public {
        ApproveAllSigner signer = new ApproveAllSigner();
        safeCall(abi.encodeCall(ILeverageModule.addKeeper, (address(signer), 0, uint48(block.timestamp + 1 days))));
        PackedUserOperation memory op = keeperOp(safe, address(signer), repayPlan(3300e6), keeperKey);
        Holdings memory before = holdings(safe);
        // Safe-style contract signature (r = signer, s = offset, v = 0) with dynamic data, and its 65-byte head alone.
        bytes memory head = abi.encodePacked(bytes32(uint256(uint160(address(signer)))), bytes32(uint256(65)), uint8(0));
        bytes[2] memory sigs = [bytes.concat(head, abi.encode(uint256(32), keccak256("anything"))), head];
        vm.expectCall(address(signer), abi.encodeWithSelector(bytes4(0x1626ba7e)), 0);
        vm.expectCall(address(signer), abi.encodeWithSelector(bytes4(0x20c13b0b)), 0);
        for (uint256 i; i < sigs.length; ++i) {
            op.signature = abi.encodePacked(uint48(0), uint48(0), sigs[i]);
            expectHandleRevert(op, failedOp("AA24 signature error"));
        }
        assertNothingLeft(before);
    }

    /* 15. NO STANDING APPROVALS */

    function test_Attack15_NoAllowanceSurvivesRepayOrCollateralTopUp() public {
        Policy memory policy = defaultPolicy(wethMarket, address(usdcVault));
        policy.pools = new address[](2);
        policy.pools[0] = address(usdcVault);
        policy.pools[1] = address(wethVault);
        setPolicy(policy);
        depositToVault(safe, wethVault, 5e18);
        handleOk(keeperOp(safe, keeper, repayPlan(3300e6), keeperKey));
        wethOracle.setPrice(2000e18);
        Plan memory topUp = plan1(
            wethId, action(ActionKind.WithdrawFromPool, 0, address(wethVault), 2.5e18), action(ActionKind.SupplyCollateral, 0, address(0), 2.5e18)
        );
        handleOk(keeperOp(safe, keeper, topUp, keeperKey));
        assertEq(usdc.allowance(safe, address(morpho)), 0, "USDC to Morpho");
        assertEq(usdc.allowance(safe, address(usdcVault)), 0, "USDC to the pool");
        assertEq(weth.allowance(safe, address(morpho)), 0, "WETH to Morpho");
        assertEq(weth.allowance(safe, address(wethVault)), 0, "WETH to the pool");
    }

    function test_Attack15_PoolThatPullsLessThanApprovedLeavesNoAllowance() public {
        HalfPullVault half = new HalfPullVault(usdc);
        usdc.mint(lender, 2000e6);
        vm.startPrank(lender);
        usdc.approve(address(half), 2000e6);
        half.deposit(2000e6, lender);
        vm.stopPrank();
        Policy memory policy = defaultPolicy(wethMarket, address(half));
        policy.boostAllowed = true;
        setPolicy(policy);
        wethOracle.setPrice(4000e18);
        Plan memory plan = plan1(
            wethId, action(ActionKind.Borrow, 0, address(0), 6000e6), action(ActionKind.DepositToPool, 0, address(half), 6000e6)
        );
        handleOk(keeperOp(safe, keeper, plan, keeperKey));
        assertEq(usdc.allowance(safe, address(half)), 0, "the unused half of the approval was reset");
        assertEq(half.balanceOf(safe), half.previewDeposit(0) + half.convertToShares(3000e6), "shares for what it took");
    }

    /* HELPERS */
}
