// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {AttackBase} from "./AttackBase.sol";
import {SwapBase} from "../utils/SwapBase.sol";
import {Plan} from "../../src/interfaces/ILeverageModule.sol";
import {ReentrantVault} from "../utils/ReentryProbe.sol";
import {ILeverageModule, Policy, EpochUsage, Action, ActionKind, StopLoss} from "../../src/interfaces/ILeverageModule.sol";
import {PolicyData} from "../../src/libraries/ModuleStorage.sol";
import {OwnerControlsLib} from "../../src/libraries/OwnerControlsLib.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {ISafeTest} from "../utils/Fixture.sol";

/// @dev The parts of Safe v1.4.1 a pending (owner-approved, not yet executed) transaction needs.

/// @dev Writes and reads policy data contracts exactly as the module does (OwnerControlsLib.writePolicy by DELEGATECALL,
/// PolicyData's readers), with memory made dirty before a read.
contract PolicyDataProbeRr15p {
    function store(Policy calldata policy) external returns (address) {
        return OwnerControlsLib.writePolicy(policy);
    }

    function readAll(address data) external view returns (Policy memory) {
        return PolicyData.readAll(data);
    }

    /// @dev `PolicyData.read` after filling 64 words past the free memory pointer with ones: the reader allocates
    /// without zeroing, so every field must be written by it, none left from what memory held.
    function readDirty(address data) external view returns (Policy memory policy) {
        assembly {
            let p := mload(0x40)
            for { let i := 0 } lt(i, 0x800) { i := add(i, 0x20) } { mstore(add(p, i), not(0)) }
        }
        policy = PolicyData.read(data);
    }
}

/// @notice Review rr15p (issue 15, branch pc15: the Policy as the code of a data contract, one record slot, the engine
/// reading a per-run snapshot). Break-it attempts on the storage format, the readers, the CREATE address, removed
/// policies and owner actions that run inside a rebalance.
contract PolicyDataRr15pTest is AttackBase {
    PolicyDataProbeRr15p internal probe;

    function setUp() public override {
        super.setUp();
        probe = new PolicyDataProbeRr15p();
    }

    /* FORMAT: EVERY FIELD AT ITS BOUNDARY, ALONE (NO BIT BLEEDS INTO A NEIGHBOUR) */

    function _zeroPolicy() internal pure returns (Policy memory p) {
        p.pools = new address[](0);
    }

    /// @dev `p` with field `k` (0-20, declaration order, pools excluded) at its type's maximum.
    function _setMax(Policy memory p, uint256 k) internal pure {
        if (k == 0) p.adapter = address(type(uint160).max);
        else if (k == 1) p.minHealth = type(uint64).max;
        else if (k == 2) p.cooldown = type(uint32).max;
        else if (k == 3) p.market = bytes32(type(uint256).max);
        else if (k == 4) p.priceFeed = address(type(uint160).max);
        else if (k == 5) p.targetHealth = type(uint64).max;
        else if (k == 6) p.epochLength = type(uint32).max;
        else if (k == 7) p.maxHealth = type(uint64).max;
        else if (k == 8) p.maxGasPerEpoch = type(uint64).max;
        else if (k == 9) p.maxOracleAge = type(uint32).max;
        else if (k == 10) p.maxLossBps = type(uint16).max;
        else if (k == 11) p.maxEpochLossBps = type(uint16).max;
        else if (k == 12) p.maxRebalancesPerEpoch = type(uint16).max;
        else if (k == 13) p.maxOracleDeviationBps = type(uint16).max;
        else if (k == 14) p.boostAllowed = true;
        else if (k == 15) p.maxSlippageBps = type(uint16).max;
        else if (k == 16) p.rescueBelowTarget = true;
        else if (k == 17) p.maxAmountPerRebalance = type(uint128).max;
        else if (k == 18) p.maxAmountPerEpoch = type(uint128).max;
        else if (k == 19) p.minFeedAnswer = type(uint128).max;
        else p.maxFeedAnswer = type(uint128).max;
    }

    /// Each fixed field alone at its maximum, then every field at its maximum with eight all-ones pools: the data
    /// contract reads back exactly (getPolicy's reader, the engine's dirty-memory read),
    /// so no field's bits reach a neighbour's and no reader keeps a stale memory word.
    function test_RR15P_EveryFieldAtItsMaximumAloneAndTogetherReadsBack() public {
        Policy memory all = _zeroPolicy();
        for (uint256 k; k < 21; ++k) {
            Policy memory p = _zeroPolicy();
            _setMax(p, k);
            _setMax(all, k);
            address data = probe.store(p);
            assertEq(abi.encode(probe.readAll(data)), abi.encode(p), "readAll: one field at max");
            assertEq(abi.encode(probe.readDirty(data)), abi.encode(p), "read over dirty memory: one field at max");
        }
        all.pools = new address[](8);
        for (uint256 i; i < 8; ++i) {
            all.pools[i] = address(uint160(type(uint160).max - i));
        }
        address allData = probe.store(all);
        assertEq(abi.encode(probe.readAll(allData)), abi.encode(all), "readAll: every field at max, 8 pools");
        Policy memory fixedOnly = probe.readDirty(allData);
        assertEq(fixedOnly.pools.length, 0, "the engine's read leaves pools empty");
        fixedOnly.pools = all.pools;
        assertEq(abi.encode(fixedOnly), abi.encode(all), "read over dirty memory: every field at max");
        // Zero policy over dirty memory: every word the reader allocates is written (all zero here).
        address zeroData = probe.store(_zeroPolicy());
        assertEq(abi.encode(probe.readDirty(zeroData)), abi.encode(_zeroPolicy()), "zero policy over dirty memory");
    }

    /// Through the real module: getPolicy returns exactly the struct setPolicy got (pools included), for a first
    /// policy and a replacement, and the record points at a fresh data contract each time.
    function test_RR15P_GetPolicyEqualsWhatSetPolicyGot() public {
        Policy memory p = defaultPolicy(wethMarket, address(usdcVault));
        p.boostAllowed = true;
        // maxSlippageBps stays 0: this fixture has no swap adapter (setPolicy refuses a bound then).
        p.maxAmountPerRebalance = type(uint128).max - 1;
        p.maxAmountPerEpoch = type(uint128).max;
        p.maxRebalancesPerEpoch = type(uint16).max;
        p.maxGasPerEpoch = type(uint64).max;
        p.cooldown = type(uint32).max;
        p.epochLength = type(uint32).max;
        p.maxOracleAge = type(uint32).max;
        p.maxHealth = 5e18;
        p.maxFeedAnswer = type(uint128).max;
        p.minFeedAnswer = type(uint128).max - 1;
        setPolicy(p);
        assertEq(abi.encode(module.getPolicy(safe, wethId)), abi.encode(p), "first policy");
        p.boostAllowed = false;
        p.pools = new address[](0);
        setPolicy(p);
        assertEq(abi.encode(module.getPolicy(safe, wethId)), abi.encode(p), "replacement, no pools");
    }

    /* THE CREATE ADDRESS */

    /// Anyone can compute the module's next CREATE address and send ETH there first: setPolicy still creates the data
    /// contract at that address (a balance is no collision, EIP-7610) and reads back exactly; the ETH stays there.
    function test_RR15P_PrefundedCreateAddressDoesNotBlockOrForgeAPolicy() public {
        address next = vm.computeCreateAddress(address(module), vm.getNonce(address(module)));
        vm.deal(next, 1 ether);
        Policy memory p = defaultPolicy(wethMarket, address(usdcVault));
        p.maxLossBps = 7;
        setPolicy(p);
        uint256 record = uint256(vm.load(address(module), _recordSlot(safe, wethId)));
        assertEq(address(uint160(record)), next, "data contract at the pre-funded address");
        assertEq(abi.encode(module.getPolicy(safe, wethId)), abi.encode(p), "policy reads back");
        assertEq(next.balance, 1 ether, "the ETH stays (the code has no way to move it)");
    }

    /// A policy's data contract (code, STOP first) cannot be listed as a pool of another policy: its asset() returns
    /// nothing, so setPolicy's pool check reverts.
    function test_RR15P_DataContractIsNotAPool() public {
        address data = address(uint160(uint256(vm.load(address(module), _recordSlot(safe, wethId)))));
        assertGt(data.code.length, 0);
        Policy memory p = defaultPolicy(wbtcMarket, data);
        vm.prank(safe);
        vm.expectRevert();
        ILeverageModule(safe).setPolicy(p);
    }

    /* REMOVED POLICY: NO ZERO POLICY READ FROM AN EMPTY ADDRESS */

    /// After removePolicy the record is zero and every reader refuses or returns zeros: getPolicy all zero, health and
    /// setStopLoss UnknownSubAccount, a keeper plan listing it UnknownSubAccount, removePolicy again UnknownSubAccount.
    function test_RR15P_RemovedPolicyIsUnknownEverywhere() public {
        vm.prank(safe);
        ILeverageModule(safe).removePolicy(wethId);
        assertEq(uint256(vm.load(address(module), _recordSlot(safe, wethId))), 0, "record cleared");
        assertEq(abi.encode(module.getPolicy(safe, wethId)), abi.encode(_zeroPolicy()), "getPolicy zero");
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.UnknownSubAccount.selector, wethId));
        module.health(safe, wethId);
        vm.prank(safe);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.UnknownSubAccount.selector, wethId));
        ILeverageModule(safe).setStopLoss(wethId, 1, 5e18);
        vm.prank(address(entryPoint));
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.UnknownSubAccount.selector, wethId));
        ILeverageModule(safe).executeRebalance(keeper, repayPlan(1000e6));
        vm.prank(safe);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.UnknownSubAccount.selector, wethId));
        ILeverageModule(safe).removePolicy(wethId);
    }

    /* THE STOP FLAG ACROSS EVERY ORDER OF setPolicy / setStopLoss / removePolicy */

    /// @dev The record's invariant: a policy exists iff its data address is non-zero; its flag is set iff the stored
    /// stop is non-zero (a set flag without a stop would only cost a read; a stop without its flag would be ignored).
    function _assertRecord(bool policyExpected) internal view {
        uint256 record = uint256(vm.load(address(module), _recordSlot(safe, wethId)));
        StopLoss memory stop = module.getStopLoss(safe, wethId);
        assertEq(record != 0 && address(uint160(record)) != address(0), policyExpected, "policy present");
        assertEq((record >> 160) & 0xff != 0, stop.stopPrice != 0 || stop.exitHealth != 0, "flag == stop stored");
        assertEq(record >> 168, 0, "bits 168-255 zero");
        if (!policyExpected) assertEq(stop.exitHealth, 0, "no stop without a policy");
    }

    /// Ops 0 setPolicy, 1 setStopLoss (a valid stop), 2 clear the stop, 3 removePolicy; every sequence of 6 ops drawn
    /// from `seed` (refused ops skipped) keeps the record invariant after each step.
    function testFuzz_RR15P_StopFlagFollowsTheStopInEveryOrder(uint256 seed) public {
        Policy memory p = defaultPolicy(wethMarket, address(usdcVault));
        bool present = true;
        _assertRecord(present);
        for (uint256 i; i < 6; ++i) {
            uint256 op = (seed >> (2 * i)) & 3;
            vm.prank(safe);
            if (op == 0) {
                p.maxLossBps = uint16(10 + i); // a different policy each time: a new data contract
                ILeverageModule(safe).setPolicy(p);
                present = true;
            } else if (op == 1) {
                if (present) ILeverageModule(safe).setStopLoss(wethId, 1000e36, 1.9e18);
                else {
                    vm.expectRevert(abi.encodeWithSelector(ILeverageModule.UnknownSubAccount.selector, wethId));
                    ILeverageModule(safe).setStopLoss(wethId, 1000e36, 1.9e18);
                }
            } else if (op == 2) {
                if (present) ILeverageModule(safe).setStopLoss(wethId, 0, 0);
                else {
                    vm.expectRevert(abi.encodeWithSelector(ILeverageModule.UnknownSubAccount.selector, wethId));
                    ILeverageModule(safe).setStopLoss(wethId, 0, 0);
                }
            } else {
                if (present) ILeverageModule(safe).removePolicy(wethId);
                else {
                    vm.expectRevert(abi.encodeWithSelector(ILeverageModule.UnknownSubAccount.selector, wethId));
                    ILeverageModule(safe).removePolicy(wethId);
                }
                present = false;
            }
            _assertRecord(present);
            if (present) assertEq(module.getPolicy(safe, wethId).maxLossBps, p.maxLossBps, "getPolicy follows the record");
        }
    }

    /* OWNER ACTIONS INSIDE A REBALANCE (a pending owner-approved Safe transaction executed by a re-entrant pool) */

    uint256 internal constant POLICIES_SLOT = 4;

    function _recordSlot(address account, bytes32 id) internal pure returns (bytes32) {
        return keccak256(abi.encode(account, keccak256(abi.encode(id, POLICIES_SLOT))));
    }

    /// @dev A re-entrant USDC pool holding the Safe's 10,000 USDC, the WETH policy's only pool; armed to execute the
    /// Safe transaction `data` (Safe -> itself -> module), which the owner approved (approveHash) but nobody executed.
    function _pendingOwnerTxRunByPool(bytes memory data) internal returns (ReentrantVault pool) {
        pool = new ReentrantVault(IERC20(address(usdc)));
        usdc.mint(safe, 10_000e6);
        safeExec(safe, address(usdc), 0, abi.encodeCall(IERC20.approve, (address(pool), 10_000e6)), 0);
        safeExec(safe, address(pool), 0, abi.encodeCall(IERC4626.deposit, (10_000e6, safe)), 0);
        setPolicy(defaultPolicy(wethMarket, address(pool)));
        ISafeTest s = ISafeTest(safe);
        bytes32 txHash = s.getTransactionHash(safe, 0, data, 0, 0, 0, 0, address(0), address(0), s.nonce());
        vm.prank(owner);
        s.approveHash(txHash);
        bytes memory signature = abi.encodePacked(bytes32(uint256(uint160(owner))), bytes32(0), uint8(1));
        pool.addAttempt(
            safe,
            abi.encodeCall(
                ISafeTest.execTransaction, (safe, 0, data, 0, 0, 0, 0, address(0), payable(address(0)), signature)
            )
        );
        pool.arm(true);
    }

    function _poolRepayPlan(ReentrantVault pool, uint256 amount) internal pure returns (Action[] memory a) {
        a = new Action[](2);
        a[0] = action(ActionKind.WithdrawFromPool, 0, address(pool), amount);
        a[1] = action(ActionKind.Repay, 0, address(0), amount);
    }

    /// Review rr15p F1 (fixed): an owner's removePolicy, approved but not executed, run by a hostile pool in the middle
    /// of a keeper rebalance is refused (`RebalanceActive(safe)` inside the Safe's call, so the Safe transaction reverts
    /// GS013 and uses no nonce); the rebalance completes under the policy it was loaded with and charges that policy's
    /// usage record; the same owner transaction executed after the rebalance removes the policy and clears the record.
    /// (Before the fix the removal succeeded inside the run and the run then wrote a usage record for a sub-account
    /// without a policy, inherited by a later setPolicy.)
    function test_RR15P_RemovePolicyInsideARebalanceIsRefused() public {
        bytes memory removal = abi.encodeCall(ILeverageModule.removePolicy, (wethId));
        ReentrantVault pool = _pendingOwnerTxRunByPool(removal);
        bytes32 record = vm.load(address(module), _recordSlot(safe, wethId));
        uint256 nonceBefore = ISafeTest(safe).nonce();
        uint256 amount = _repayToReach(1.4e18);
        Action[] memory a = _poolRepayPlan(pool, amount);
        executeAsEntryPoint(safe, keeper, plan1(wethId, a[0], a[1]));
        assertEq(pool.attempts(), 1, "the pending owner transaction was tried inside the rebalance");
        assertFalse(pool.succeeded(0), "the Safe transaction reverted");
        assertEq(pool.results(0), abi.encodeWithSignature("Error(string)", "GS013"), "the Safe's inner call failed");
        assertEq(ISafeTest(safe).nonce(), nonceBefore, "no Safe nonce used");
        assertEq(vm.load(address(module), _recordSlot(safe, wethId)), record, "the policy is still the one the run loaded");
        assertEq(module.getEpochUsage(safe, wethId).rebalances, 1, "the run charged the live policy's record");
        // Once the rebalance has ended, anyone can execute the owner's approved transaction: the removal lands and
        // clears the record, as removePolicy promises.
        pool.arm(false);
        ISafeTest(safe).execTransaction(
            safe, 0, removal, 0, 0, 0, 0, address(0), payable(address(0)),
            abi.encodePacked(bytes32(uint256(uint160(owner))), bytes32(0), uint8(1))
        );
        assertEq(uint256(vm.load(address(module), _recordSlot(safe, wethId))), 0, "removed after the rebalance");
        assertEq(abi.encode(module.getEpochUsage(safe, wethId)), abi.encode(EpochUsage(0, 0, 0, 0, 0, 0)), "usage cleared");
    }

    /// The exact error of each owner control of the Safe whose rebalance is running (review rr15p F1): the hostile pool,
    /// enabled as a Safe module so the Safe's reply carries the module's revert data, calls setPolicy, removePolicy and
    /// setStopLoss through the Safe mid-rebalance: each `RebalanceActive(safe)`; the rebalance completes.
    function test_RR15P_OwnerControlsRefusedWhileTheSafesRebalanceRuns() public {
        ReentrantVault pool = _pendingOwnerTxRunByPool(abi.encodeCall(ILeverageModule.removePolicy, (wethId)));
        pool.arm(false);
        safeExec(safe, safe, 0, abi.encodeWithSignature("enableModule(address)", address(pool)), 0);
        bytes[3] memory calls = [
            abi.encodeCall(ILeverageModule.setPolicy, (defaultPolicy(wethMarket, address(pool)))),
            abi.encodeCall(ILeverageModule.removePolicy, (wethId)),
            abi.encodeCall(ILeverageModule.setStopLoss, (wethId, 1000e36, 1.9e18))
        ];
        for (uint256 k; k < 3; ++k) {
            pool.addAttempt(
                safe, abi.encodeWithSignature("execTransactionFromModuleReturnData(address,uint256,bytes,uint8)", safe, 0, calls[k], 0)
            );
        }
        pool.arm(true);
        uint256 amount = _repayToReach(1.4e18);
        Action[] memory a = _poolRepayPlan(pool, amount);
        executeAsEntryPoint(safe, keeper, plan1(wethId, a[0], a[1]));
        assertEq(pool.attempts(), 4, "the approved transaction and the three module calls were tried");
        bytes memory refused = abi.encodeWithSelector(ILeverageModule.RebalanceActive.selector, safe);
        for (uint256 k = 1; k < 4; ++k) {
            assertTrue(pool.succeeded(k), "the Safe answered");
            (bool ok, bytes memory reply) = abi.decode(pool.results(k), (bool, bytes));
            assertFalse(ok, "the owner control did not run");
            assertEq(reply, refused, "RebalanceActive(safe)");
        }
        assertEq(module.getEpochUsage(safe, wethId).rebalances, 1, "the rebalance completed");
        assertEq(module.getStopLoss(safe, wethId).stopPrice, 0, "no stop was set");
    }
}

/// @notice Review rr15p: a callback's swap bound is the policy its run was vetted with (`CallbackRun.maxSlippageBps`,
/// taken from the policy copy `_load` read; review rr16c I2), not a policy written while the run is in flight.
contract PolicyDataCallbackRr15pTest is SwapBase {
    /// A pending owner-approved setPolicy (maxSlippageBps -> 0: swaps forbidden) tried by a re-entrant pool before the
    /// callback block is refused (review rr15p F1: no owner control while the Safe's rebalance runs); the sale inside
    /// the Morpho repay callback runs bounded by the vetted maxSlippageBps, the operation completes and the vetted
    /// policy is still the stored one.
    function test_RR15P_CallbackSwapBoundIsTheVettedSnapshot() public {
        ReentrantVault pool = new ReentrantVault(IERC20(address(usdc)));
        usdc.mint(safe, 1000e6);
        safeExec(safe, address(usdc), 0, abi.encodeCall(IERC20.approve, (address(pool), 1000e6)), 0);
        safeExec(safe, address(pool), 0, abi.encodeCall(IERC4626.deposit, (1000e6, safe)), 0);
        Policy memory policy = swapPolicy(wethMarket, false);
        policy.pools = new address[](1);
        policy.pools[0] = address(pool);
        setPolicy(policy);
        assertGt(policy.maxSlippageBps, 0);
        uint256 vetted = policy.maxSlippageBps;

        Policy memory tighter = policy; // the same memory: `policy.maxSlippageBps` reads 0 from here on
        tighter.maxSlippageBps = 0;
        bytes memory data = abi.encodeCall(ILeverageModule.setPolicy, (tighter));
        ISafeTest s = ISafeTest(safe);
        bytes32 txHash = s.getTransactionHash(safe, 0, data, 0, 0, 0, 0, address(0), address(0), s.nonce());
        vm.prank(owner);
        s.approveHash(txHash);
        pool.addAttempt(
            safe,
            abi.encodeCall(
                ISafeTest.execTransaction,
                (
                    safe, 0, data, 0, 0, 0, 0, address(0), payable(address(0)),
                    abi.encodePacked(bytes32(uint256(uint160(owner))), bytes32(0), uint8(1))
                )
            )
        );

        uint256 sold = wethToSell(1.38e18);
        uint256 quoted = quoteExactIn(address(weth), address(usdc), FEE_LOW, sold);
        assertLt(quoted, sold * wethOracle.price() / 1e36, "the sale gets less than the oracle value: a 0 bound fails");
        Action[] memory actions = new Action[](6);
        actions[0] = action(ActionKind.WithdrawFromPool, 0, address(pool), 100e6); // the owner tx runs here
        actions[1] = action(ActionKind.Repay, 0, address(0), 100e6);
        actions[2] = action(ActionKind.RepayWithCallback, 0, address(0), quoted);
        actions[3] = action(ActionKind.WithdrawCollateral, 0, address(0), sold);
        actions[4] = action(ActionKind.SellCollateral, 0, route(FEE_LOW), sold);
        actions[5] = action(ActionKind.EndCallback, 0, address(0), 0);
        Plan memory plan = planOf(wethId, actions);
        pool.arm(true);
        executeAsEntryPoint(safe, keeper, plan);
        pool.arm(false);
        assertEq(pool.attempts(), 1);
        assertFalse(pool.succeeded(0), "the owner's setPolicy is refused inside the rebalance (review rr15p F1)");
        assertEq(module.getPolicy(safe, wethId).maxSlippageBps, vetted, "the vetted policy is still stored");
        assertGe(module.health(safe, wethId), 1.2e18, "the deleverage completed under the vetted bound");
    }

    /// Control for the test above: with the 0 bound (no swaps) stored BEFORE the run, the same sale is refused at
    /// vetting, ActionNotAllowed(2, SellCollateral); so the sale above ran under the vetted bound, not the stored one.
    function test_RR15P_CallbackSwapBoundZeroStoredBeforeTheRunFails() public {
        Policy memory policy = swapPolicy(wethMarket, false);
        policy.maxSlippageBps = 0;
        setPolicy(policy);
        uint256 sold = wethToSell(1.38e18);
        uint256 quoted = quoteExactIn(address(weth), address(usdc), FEE_LOW, sold);
        Action[] memory actions = new Action[](4);
        actions[0] = action(ActionKind.RepayWithCallback, 0, address(0), quoted);
        actions[1] = action(ActionKind.WithdrawCollateral, 0, address(0), sold);
        actions[2] = action(ActionKind.SellCollateral, 0, route(FEE_LOW), sold);
        actions[3] = action(ActionKind.EndCallback, 0, address(0), 0);
        vm.prank(address(entryPoint));
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 2, ActionKind.SellCollateral));
        ILeverageModule(safe).executeRebalance(keeper, planOf(wethId, actions));
    }
}
