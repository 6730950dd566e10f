// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Vm, VmSafe} from "forge-std/Vm.sol";
import {Fixture, ISafeTest} from "../utils/Fixture.sol";
import {LeverageSafeSetup} from "../utils/LeverageSafeSetup.sol";
import {ToggleRevertPaymaster} from "../utils/AdversarialEntities.sol";
import {ILeverageModule, AutomationConfig, Plan, ActionKind, KeeperKey} from "../../src/interfaces/ILeverageModule.sol";
import {IEntryPoint} from "@account-abstraction/contracts/interfaces/IEntryPoint.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {IAccount} from "@account-abstraction/contracts/interfaces/IAccount.sol";

/// @notice ERC-7562 validation rules for the automation lane, checked on the real EntryPoint v0.7 and Safe 1.4.1:
/// during the validation phase of a keeper operation (for an existing Safe, and for a new Safe deployed by initCode)
/// every storage slot read or written outside the Safe and the EntryPoint is a slot of the module associated with
/// the Safe (keccak256(safe . x) + n), only the Safe, its singleton, the module, the EntryPoint, the ecrecover
/// precompile (and, for initCode, the factory path) are called, no banned opcode runs, and the result does not
/// depend on the block environment.
contract KeeperValidationRulesTest is Fixture {
    /// @dev LeverageModule storage: _adapterList (0), _isAdapter (1), then ModuleStorage _s from slot 2:
    /// keepers (2), automation (3), policies (4), usage (5), subAccounts (6), selfPay (7), sponsors (8). Probed in
    /// test_Erc7562_StorageLayout.
    uint256 internal constant KEEPERS_SLOT = 2;
    uint256 internal constant AUTOMATION_SLOT = 3;
    uint256 internal constant SELF_PAY_SLOT = 7;
    uint256 internal constant SPONSORS_SLOT = 8;

    bytes4 internal constant INNER_HANDLE_OP = bytes4(
        keccak256(
            "innerHandleOp(bytes,((address,uint256,uint256,uint256,uint256,uint256,uint256,address,uint256,uint256),bytes32,uint256,uint256,uint256),bytes)"
        )
    );

    bytes32 internal wethId;

    function setUp() public override {
        super.setUp();
        wethId = setPolicyFor(safe, defaultPolicy(wethMarket, address(usdcVault)));
    }

    function test_Erc7562_StorageLayoutIsKeyedByTheSafe() public {
        bytes32 key = vm.load(address(module), _keeperSlot(safe, keeper));
        KeeperKey memory k = module.getKeeper(safe, keeper);
        assertEq(uint256(key) & 0xff, 1, "keepers[keeper][safe].active at keccak(safe . keccak(keeper . 2))");
        assertEq(uint48(uint256(key) >> 56), k.validUntil, "validUntil packed after validAfter");
        bytes32 a0 = vm.load(address(module), _automationSlot(safe, 0));
        bytes32 a1 = vm.load(address(module), _automationSlot(safe, 1));
        AutomationConfig memory c = module.getAutomationConfig(safe);
        assertEq(uint32(uint256(a0) >> 168), c.maxVerificationGasLimit, "automation[safe] at keccak(safe . 3)");
        assertEq(uint64(uint256(a1) >> 96), c.maxFeePerGas, "automation[safe] second slot (after three uint32 caps)");
        bytes32 budget = vm.load(address(module), _selfPaySlot(safe));
        assertEq(uint96(uint256(budget)), module.getSelfPayBudget(safe).maxWeiPerEpoch, "selfPay[safe] at keccak(safe . 7)");
        assertEq(uint32(uint256(a1) >> 224), c.keyGeneration, "keyGeneration in the second automation slot");
        address paymaster = makeAddr("sponsor");
        safeCall(abi.encodeCall(ILeverageModule.setSponsor, (paymaster, true)));
        assertEq(uint256(vm.load(address(module), _sponsorSlot(safe, paymaster))), 1, "sponsors[paymaster][safe] at keccak(safe . keccak(paymaster . 8))");
    }

    function test_Erc7562_ExistingSafe_ValidationTouchesOnlyAssociatedStorage() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        address[] memory allowed = new address[](5);
        allowed[0] = address(entryPoint);
        allowed[1] = safe;
        allowed[2] = safeSingleton;
        allowed[3] = address(module);
        allowed[4] = address(1); // ecrecover
        (uint256 moduleSlots, uint256 calls) = _checkValidationPhase(op, allowed, address(0));
        assertEq(moduleSlots, 4, "keepers[keeper][safe], both automation[safe] slots and selfPay[safe], nothing else");
        assertGt(calls, 0);
    }

    /// @dev A paymaster operation also reads `sponsors[paymaster][safe]`, keyed by the Safe like the others; a listed
    /// sponsor is not charged, so the budget slot is not touched.
    function test_Erc7562_SponsoredOp_ValidationTouchesOnlyAssociatedStorage() public {
        ToggleRevertPaymaster paymaster = new ToggleRevertPaymaster(entryPoint);
        paymaster.deposit{value: 1 ether}();
        safeCall(abi.encodeCall(ILeverageModule.setSponsor, (address(paymaster), true)));
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        op.paymasterAndData = abi.encodePacked(address(paymaster), uint128(100_000), uint128(50_000));
        op.signature = signKeeper(op, keeperKey);
        address[] memory allowed = new address[](6);
        allowed[0] = address(entryPoint);
        allowed[1] = safe;
        allowed[2] = safeSingleton;
        allowed[3] = address(module);
        allowed[4] = address(1);
        allowed[5] = address(paymaster);
        (uint256 moduleSlots,) = _checkValidationPhase(op, allowed, address(paymaster));
        assertEq(moduleSlots, 4, "keepers[keeper][safe], both automation[safe] slots and sponsors[paymaster][safe]");
    }

    function test_Erc7562_NewSafe_InitCodeAndValidationTouchOnlyAssociatedStorage() public {
        LeverageSafeSetup setup = new LeverageSafeSetup();
        address[] memory owners = new address[](1);
        owners[0] = owner;
        bytes memory initializer = abi.encodeCall(
            ISafeTest.setup,
            (
                owners,
                1,
                address(setup),
                abi.encodeCall(
                    LeverageSafeSetup.setUpLeverage,
                    (address(module), defaultAutomation(), keeper, uint48(block.timestamp + 30 days), SELF_PAY_BUDGET)
                ),
                address(module),
                address(0),
                0,
                payable(address(0))
            )
        );
        bytes memory factoryCall = abi.encodeWithSignature(
            "createProxyWithNonce(address,bytes,uint256)", safeSingleton, initializer, uint256(777)
        );
        uint256 snapshot = vm.snapshotState();
        (, bytes memory ret) = address(proxyFactory).call(factoryCall);
        address fresh = abi.decode(ret, (address));
        // The keeper's nonce key exists once its registration ran (its salt comes from the parent block's hash): read
        // it from the deployment simulated in this block, as a keeper would from a pending-block simulation.
        uint192 freshKey = module.keeperNonceKey(fresh, keeper);
        vm.revertToState(snapshot);
        assertEq(fresh.code.length, 0, "counterfactual");
        vm.deal(fresh, 1 ether);

        PackedUserOperation memory op = baseOp(fresh, "", freshKey);
        op.callData = abi.encodeCall(ILeverageModule.executeRebalance, (keeper, _plan()));
        op.initCode = abi.encodePacked(address(proxyFactory), factoryCall);
        op.accountGasLimits = bytes32((uint256(1_000_000) << 128) | 3_000_000);
        // The new Safe's budget (1-day epochs) is set by its initCode: sign the current epoch's window.
        uint256 start = block.timestamp / 1 days * 1 days;
        op.signature = sign(op, keeperKey, uint48(start), uint48(start + 1 days - 1));

        address[] memory allowed = new address[](9);
        allowed[0] = address(entryPoint);
        allowed[1] = fresh;
        allowed[2] = safeSingleton;
        allowed[3] = address(module);
        allowed[4] = address(1);
        allowed[5] = address(proxyFactory); // called by the EntryPoint's SenderCreator
        allowed[6] = address(setup);
        allowed[7] = address(0); // placeholder for the SenderCreator, filled below
        allowed[8] = address(0);
        allowed[7] = _senderCreator();
        (uint256 moduleSlots,) = _checkValidationPhase(op, allowed, address(0));
        assertEq(moduleSlots, 4, "only the new Safe's keeper, automation and self-pay slots");
        assertTrue(ISafeTest(fresh).isModuleEnabled(address(module)), "deployed and installed by initCode");
    }

    function test_Erc7562_ValidationUsesNoBannedOpcode() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        // forge only installs the step tracer at -vvv and above.
        try vm.startDebugTraceRecording() {}
        catch {
            emit log("opcode scan needs the step tracer: run with -vvv");
            vm.skip(true);
        }
        vm.prank(address(entryPoint));
        IAccount(safe).validateUserOp(op, bytes32(0), 0.01 ether); // pays a prefund: the value call to the EntryPoint
        Vm.DebugStep[] memory steps = vm.stopAndReturnDebugTraceRecording();
        assertGt(steps.length, 100, "trace recorded");
        uint256 gasOps;
        for (uint256 i; i < steps.length; ++i) {
            uint8 opcode = steps[i].opcode;
            assertFalse(_banned(opcode), string.concat("banned opcode ", vm.toString(opcode), " in ", vm.toString(steps[i].contractAddr)));
            if (opcode == 0x5A) {
                ++gasOps;
                uint8 next = steps[i + 1].opcode;
                assertTrue(next == 0xF1 || next == 0xF2 || next == 0xF4 || next == 0xFA, "GAS only right before a call");
            }
            assertTrue(opcode != 0xF0 && opcode != 0xF5, "no contract creation in validation");
        }
        emit log_named_uint("validation steps scanned", steps.length);
    }

    function test_Erc7562_ValidationDoesNotDependOnTheBlockEnvironment() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(), keeperKey);
        uint256 expected = _validate(op);
        vm.warp(block.timestamp + 40 days); // past the key's expiry and the signature's window
        vm.roll(block.number + 1_000_000);
        vm.fee(1000 gwei);
        vm.prevrandao(bytes32(uint256(42)));
        vm.coinbase(makeAddr("builder"));
        vm.txGasPrice(77 gwei);
        wethOracle.setVenuePrice(0); // no oracle is read either
        assertEq(_validate(op), expected, "same validationData: expiry is returned, not checked");
    }

    /* HELPERS */

    function _plan() internal view returns (Plan memory) {
        return plan1(
            wethId,
            action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 1e6),
            action(ActionKind.Repay, 0, address(0), 1e6)
        );
    }

    function _validate(PackedUserOperation memory op) internal returns (uint256) {
        vm.prank(address(entryPoint));
        return IAccount(safe).validateUserOp(op, bytes32(0), 0);
    }

    function _keeperSlot(address account, address keeperAddress) internal pure returns (bytes32) {
        return keccak256(abi.encode(account, keccak256(abi.encode(keeperAddress, KEEPERS_SLOT))));
    }

    function _automationSlot(address account, uint256 n) internal pure returns (bytes32) {
        return bytes32(uint256(keccak256(abi.encode(account, AUTOMATION_SLOT))) + n);
    }

    function _selfPaySlot(address account) internal pure returns (bytes32) {
        return keccak256(abi.encode(account, SELF_PAY_SLOT));
    }

    function _sponsorSlot(address account, address paymaster) internal pure returns (bytes32) {
        return keccak256(abi.encode(account, keccak256(abi.encode(paymaster, SPONSORS_SLOT))));
    }

    function _senderCreator() internal returns (address creator) {
        // The EntryPoint's first CREATE (its SenderCreator), at nonce 1.
        creator = vm.computeCreateAddress(address(entryPoint), 1);
        assertGt(creator.code.length, 0, "SenderCreator found");
    }

    /// @dev Runs `op` through handleOps with state-diff recording, keeps the accesses up to the EntryPoint's
    /// innerHandleOp (the execution phase), and checks callees and storage slots. Returns the distinct module slots.
    function _checkValidationPhase(PackedUserOperation memory op, address[] memory allowed, address paymaster)
        internal
        returns (uint256 moduleSlotCount, uint256 calls)
    {
        address sender = op.sender;
        bytes32[5] memory associated = [
            _keeperSlot(sender, keeper),
            _automationSlot(sender, 0),
            _automationSlot(sender, 1),
            _selfPaySlot(sender),
            _sponsorSlot(sender, paymaster)
        ];
        PackedUserOperation[] memory ops = new PackedUserOperation[](1);
        ops[0] = op;
        vm.startStateDiffRecording();
        vm.prank(bundler, bundler);
        entryPoint.handleOps(ops, payable(bundler));
        Vm.AccountAccess[] memory accesses = vm.stopAndReturnStateDiff();

        bool[5] memory seen;
        bool reachedExecution;
        for (uint256 i; i < accesses.length && !reachedExecution; ++i) {
            Vm.AccountAccess memory a = accesses[i];
            if (
                a.account == address(entryPoint) && a.accessor == address(entryPoint) && a.data.length >= 4
                    && bytes4(a.data) == INNER_HANDLE_OP
            ) {
                reachedExecution = true;
                break;
            }
            if (a.account == address(vm)) continue;
            // A Resume entry carries the storage accesses a frame makes after a sub-call returns (for example after
            // ecrecover): its slots are checked below, but it is not a new call.
            if (a.accessor != bundler && a.kind != VmSafe.AccountAccessKind.Resume) {
                ++calls;
                if (a.kind != VmSafe.AccountAccessKind.Create) {
                    assertTrue(_contains(allowed, a.account), string.concat("validation called ", vm.toString(a.account)));
                } else {
                    assertEq(a.account, sender, "the only contract created is the sender");
                }
            }
            for (uint256 j; j < a.storageAccesses.length; ++j) {
                Vm.StorageAccess memory s = a.storageAccesses[j];
                if (s.account == address(entryPoint) || s.account == sender) continue;
                assertEq(s.account, address(module), string.concat("storage of ", vm.toString(s.account), " touched in validation"));
                bool ok;
                for (uint256 k; k < 5; ++k) {
                    if (s.slot == associated[k]) {
                        ok = true;
                        seen[k] = true;
                    }
                }
                assertTrue(ok, string.concat("module slot not associated with the Safe: ", vm.toString(s.slot)));
            }
        }
        assertTrue(reachedExecution, "the execution phase was reached");
        for (uint256 k; k < 5; ++k) {
            if (seen[k]) ++moduleSlotCount;
        }
    }

    function _contains(address[] memory list, address x) internal pure returns (bool) {
        for (uint256 i; i < list.length; ++i) {
            if (list[i] == x) return true;
        }
        return false;
    }

    /// @dev ERC-7562 OP-011 (plus OP-080's BALANCE/SELFBALANCE outside staked entities): opcodes banned in validation.
    function _banned(uint8 opcode) internal pure returns (bool) {
        return opcode == 0x3A // GASPRICE
            || opcode == 0x45 // GASLIMIT
            || opcode == 0x44 // PREVRANDAO
            || opcode == 0x42 // TIMESTAMP
            || opcode == 0x48 // BASEFEE
            || opcode == 0x40 // BLOCKHASH
            || opcode == 0x43 // NUMBER
            || opcode == 0x47 // SELFBALANCE
            || opcode == 0x31 // BALANCE
            || opcode == 0x32 // ORIGIN
            || opcode == 0x41 // COINBASE
            || opcode == 0xFF // SELFDESTRUCT
            || opcode == 0x49 // BLOBHASH
            || opcode == 0x4A; // BLOBBASEFEE
    }
}
