// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Vm, VmSafe} from "forge-std/Vm.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {IMorpho, MarketParams, Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {GasBenchBase} from "./GasBench.t.sol";

/// @notice The keeper lane's gas FLOOR (issue 15): the EIP-2929 cold account and slot accesses and the EIP-2200 storage
/// writes the keeper lane makes and the owner lane does not, for the same later rebalance from the same state.
/// Both lanes' operations are built in setUp, so the test's transaction starts with every account and slot cold (but
/// the test contract's own): each lane's `handleOps` is measured from one snapshot (what a bundler's own transaction
/// pays, except that the bundler, tx.origin there, is cold here in both lanes), then run again with forge's state-diff
/// recording (`vm.startStateDiffRecording`: every account a CALL, STATICCALL, DELEGATECALL, EXTCODE* or BALANCE
/// touched, every SLOAD/SSTORE with the slot's value before and after) and its logs recorded. `npm run bench:gas`
/// (scripts/bench-gas.mjs, scripts/gas-floor.mjs) reads the written part `gas.floor<n>.json`: both lanes' accesses
/// (ABI-encoded `Lane`s), names for the accounts and slots, and prices them.
/// The tests fail when the keeper-only slot set lacks a listed sub-account's policy record or epoch usage slot, the
/// keeper-only accounts lack its policy data contract, or the cold-access lower bound (2,600 per keeper-only account,
/// 2,100 per keeper-only slot) exceeds the measured cold overhead.
abstract contract GasFloorBase is GasBenchBase {
    using MarketParamsLib for MarketParams;

    /// @dev ModuleStorage starts at slot 2 (ModuleStorageLayout.t.sol): policies (4), usage (5), allowedPools (10) and
    /// stops (11) are its 3rd, 4th, 9th and 10th members.
    uint256 internal constant POLICIES_SLOT = 4;
    uint256 internal constant USAGE_SLOT = 5;
    uint256 internal constant ALLOWED_POOLS_SLOT = 10;
    uint256 internal constant STOPS_SLOT = 11;

    /// @dev One account access (`Vm.AccountAccess` without its data and balances): `kind` is `Vm.AccountAccessKind`.
    struct Touch {
        uint8 kind;
        address account;
        address accessor;
        uint64 depth;
        bool reverted;
    }

    /// @dev One SLOAD / SSTORE (`Vm.StorageAccess`) and the slot's value at the start of the transaction (`original`,
    /// read at the snapshot both lanes start from).
    struct Store {
        address account;
        bytes32 slot;
        bool isWrite;
        bytes32 previousValue;
        bytes32 newValue;
        bytes32 original;
        bool reverted;
    }

    /// @dev One log: emitter, first topic, topic count, data bytes.
    struct LogRecord {
        address emitter;
        bytes32 topic0;
        uint256 topics;
        uint256 dataBytes;
    }

    struct Lane {
        Touch[] touches;
        Store[] stores;
        LogRecord[] logs;
    }

    /// @dev A human name for an account (`isSlot` false) or one of its slots.
    struct Name {
        address account;
        bytes32 slot;
        bool isSlot;
        string name;
    }

    Name[] internal names;

    /// @dev Runs `op` through handleOps with state-diff and log recording; reverts unless the operation succeeded.
    function _recordLane(PackedUserOperation memory op) internal returns (Lane memory lane) {
        PackedUserOperation[] memory ops = new PackedUserOperation[](1);
        ops[0] = op;
        vm.recordLogs();
        vm.startStateDiffRecording();
        vm.prank(bundler, bundler);
        entryPoint.handleOps(ops, payable(bundler));
        Vm.AccountAccess[] memory diff = vm.stopAndReturnStateDiff();
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bytes32 eventSig = keccak256("UserOperationEvent(bytes32,address,address,uint256,bool,uint256,uint256)");
        bool success;
        lane.logs = new LogRecord[](logs.length);
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == eventSig) (, success,,) = abi.decode(logs[i].data, (uint256, bool, uint256, uint256));
            lane.logs[i] = LogRecord(logs[i].emitter, logs[i].topics[0], logs[i].topics.length, logs[i].data.length);
        }
        assertTrue(success, "the recorded operation executed");
        uint256 storeCount;
        for (uint256 i; i < diff.length; ++i) storeCount += diff[i].storageAccesses.length;
        lane.touches = new Touch[](diff.length);
        lane.stores = new Store[](storeCount);
        uint256 k;
        for (uint256 i; i < diff.length; ++i) {
            Vm.AccountAccess memory a = diff[i];
            lane.touches[i] = Touch(uint8(a.kind), a.account, a.accessor, a.depth, a.reverted);
            for (uint256 j; j < a.storageAccesses.length; ++j) {
                Vm.StorageAccess memory s = a.storageAccesses[j];
                lane.stores[k++] = Store(s.account, s.slot, s.isWrite, s.previousValue, s.newValue, 0, s.reverted);
            }
        }
    }

    /// @dev Each access's slot value at the current state (call at the snapshot both lanes start from).
    function _originals(Lane memory lane) internal view {
        for (uint256 i; i < lane.stores.length; ++i) {
            lane.stores[i].original = vm.load(lane.stores[i].account, lane.stores[i].slot);
        }
    }

    /// @dev Accounts a real handleOps transaction starts warm (tx.origin, precompiles) or that are no contract here.
    function _warmAtStart(address a) internal view returns (bool) {
        return a == bundler || uint160(a) <= 0x100 || a == address(vm);
    }

    /// @dev Both lanes' operations for the later rebalance, built in setUp (`_prepare`) so that the test's own
    /// transaction touches no account or slot before the measured handleOps: every account and slot either lane uses
    /// is cold when it starts, as in a bundler's own transaction. Not `vm.cool`: in this forge it cools an account's
    /// slots but not the account (measured: a view call 7,331 gas cold, 831 warm, 2,831 after vm.cool), so the
    /// `GasBenchColdLater*` rows still read warm every account the test's plan building touched.
    PackedUserOperation internal ownerOpStored;
    PackedUserOperation internal keeperOpStored;

    /// @dev setUp part: the first keeper rebalance of `count` sub-accounts (as `GasBenchLater<n>Test`), the price drop
    /// of the later one and both lanes' operations for it.
    function _prepare(uint256 count) internal {
        _firstKeeperRebalance(count);
        _drop(count, 1500);
        ownerOpStored = _ownerOp(_ownerBatch(count));
        keeperOpStored = keeperOp(safe, keeper, _keeperPlan(count), keeperKey);
    }

    function _hasAccount(Lane memory lane, address account) internal pure returns (bool) {
        for (uint256 i; i < lane.touches.length; ++i) {
            if (lane.touches[i].account == account) return true;
        }
        return false;
    }

    function _hasSlot(Lane memory lane, address account, bytes32 slot) internal pure returns (bool) {
        for (uint256 i; i < lane.stores.length; ++i) {
            if (lane.stores[i].account == account && lane.stores[i].slot == slot) return true;
        }
        return false;
    }

    /// @dev Distinct accounts of `keeperLane` not in `ownerLane` nor warm at a transaction's start, and distinct
    /// (account, slot) pairs of `keeperLane` not in `ownerLane`: the counts the lower bound prices.
    function _keeperOnlyCounts(Lane memory ownerLane, Lane memory keeperLane)
        internal
        view
        returns (uint256 accounts, uint256 slots)
    {
        for (uint256 i; i < keeperLane.touches.length; ++i) {
            address a = keeperLane.touches[i].account;
            if (_warmAtStart(a) || a == address(entryPoint) || _hasAccount(ownerLane, a)) continue;
            bool seen;
            for (uint256 j; j < i && !seen; ++j) seen = keeperLane.touches[j].account == a;
            if (!seen) ++accounts;
        }
        for (uint256 i; i < keeperLane.stores.length; ++i) {
            Store memory s = keeperLane.stores[i];
            if (_hasSlot(ownerLane, s.account, s.slot)) continue;
            bool seen;
            for (uint256 j; j < i && !seen; ++j) {
                seen = keeperLane.stores[j].account == s.account && keeperLane.stores[j].slot == s.slot;
            }
            if (!seen) ++slots;
        }
    }

    function _moduleSlot(uint256 member, bytes32 id) internal view returns (bytes32) {
        return keccak256(abi.encode(safe, keccak256(abi.encode(id, member))));
    }

    function _policyData(bytes32 id) internal view returns (address) {
        return address(uint160(uint256(vm.load(address(module), _moduleSlot(POLICIES_SLOT, id)))));
    }

    /// @dev The later rebalance of `count` sub-accounts (`_prepare` ran in setUp): measures both lanes, records both, checks the keeper-only
    /// sets and writes `gas.<label>.json`.
    function _floor(uint256 count, string memory label) internal {
        PackedUserOperation memory ownerOp = ownerOpStored;
        PackedUserOperation memory keeperOp_ = keeperOpStored;
        uint256 snapshot = vm.snapshotState();
        // Measured first, each from the snapshot (vm.revertToState restores the access lists too): forge's state-diff
        // recorder loads the accounts and slots it records, so a recorded run and every later run of the transaction,
        // even after vm.revertToState, pays no cold access (measured: the owner lane 206,711 gas, 172,611 recorded,
        // 173,811 after a recorded run).
        uint256 ownerGas = _measure(ownerOp);
        vm.revertToState(snapshot);
        uint256 keeperGas = _measure(keeperOp_);
        vm.revertToState(snapshot);
        Lane memory ownerLane = _recordLane(ownerOp);
        vm.revertToState(snapshot);
        Lane memory keeperLane = _recordLane(keeperOp_);
        vm.revertToState(snapshot);
        _originals(ownerLane);
        _originals(keeperLane);

        for (uint256 i; i < count; ++i) {
            bytes32 id = idOf(legs[i].params);
            bytes32 record = _moduleSlot(POLICIES_SLOT, id);
            bytes32 usage = _moduleSlot(USAGE_SLOT, id);
            assertTrue(_hasSlot(keeperLane, address(module), record), "keeper lane reads the policy record");
            assertTrue(_hasSlot(keeperLane, address(module), usage), "keeper lane reads the epoch usage slot");
            assertFalse(_hasSlot(ownerLane, address(module), record), "owner lane never reads the policy record");
            assertFalse(_hasSlot(ownerLane, address(module), usage), "owner lane never reads the epoch usage slot");
            assertTrue(_hasAccount(keeperLane, _policyData(id)), "keeper lane reads the policy data contract");
            assertFalse(_hasAccount(ownerLane, _policyData(id)), "owner lane never touches the policy data contract");
        }
        (uint256 accounts, uint256 slots) = _keeperOnlyCounts(ownerLane, keeperLane);
        assertLe(2600 * accounts + 2100 * slots, keeperGas - ownerGas, "cold-access lower bound <= cold overhead");

        _nameAll(count);
        for (uint256 i; i < keeperLane.touches.length; ++i) {
            Touch memory t = keeperLane.touches[i];
            // Forge's accessor of a DELEGATECALL is the frame's address context (the Safe here): the library is the
            // DELEGATECALL target that is neither the Safe's singleton nor the owner lane's batch contract.
            bool delegate = t.kind == uint8(VmSafe.AccountAccessKind.DelegateCall);
            if (delegate && t.account != safeSingleton && t.account != multiSendCallOnly) {
                _name(t.account, "RebalanceLib (the module's DELEGATECALL target)");
            }
        }
        string memory obj = label;
        vm.serializeUint(obj, "subAccounts", count);
        vm.serializeUint(obj, "ownerLaneGas", ownerGas);
        vm.serializeUint(obj, "keeperLaneGas", keeperGas);
        vm.serializeAddress(obj, "entryPoint", address(entryPoint));
        vm.serializeAddress(obj, "bundler", bundler);
        vm.serializeAddress(obj, "module", address(module));
        vm.serializeBytes(obj, "ownerLane", abi.encode(ownerLane));
        vm.serializeBytes(obj, "keeperLane", abi.encode(keeperLane));
        string memory out = vm.serializeBytes(obj, "names", abi.encode(names));
        _write(label, out);
    }

    /* NAMES (for the report only; no check reads them) */

    function _name(address account, string memory name) internal {
        names.push(Name(account, 0, false, name));
    }

    function _nameSlot(address account, bytes32 slot, string memory name) internal {
        names.push(Name(account, slot, true, name));
    }

    /// @dev Names every slot of `target` that the static call `data` reads ("name", "name +1", ... in read order).
    function _probe(address target, bytes memory data, string memory name) internal {
        vm.record();
        (bool ok,) = target.staticcall(data);
        (bytes32[] memory reads,) = vm.accesses(target);
        if (!ok) return;
        for (uint256 i; i < reads.length; ++i) {
            bool seen;
            for (uint256 j; j < i && !seen; ++j) seen = reads[j] == reads[i];
            if (!seen) _nameSlot(target, reads[i], i == 0 ? name : string.concat(name, " +", vm.toString(i)));
        }
    }

    function _nameAll(uint256 count) internal {
        _name(address(entryPoint), "EntryPoint");
        _name(safe, "Safe (proxy)");
        _name(safeSingleton, "Safe singleton");
        _name(address(module), "LeverageModule");
        _name(multiSendCallOnly, "MultiSendCallOnly");
        _name(address(morpho), "Morpho");
        _name(address(adapter), "MorphoBlueAdapter");
        _name(address(usdc), "USDC (loan token)");
        _name(address(usdcVault), "USDC vault (pool)");
        _name(bundler, "bundler");
        _probe(address(usdc), abi.encodeCall(IERC20.balanceOf, (safe)), "USDC balance of the Safe");
        _probe(address(usdc), abi.encodeCall(IERC20.balanceOf, (address(usdcVault))), "USDC balance of the vault");
        _probe(address(usdc), abi.encodeCall(IERC20.balanceOf, (address(morpho))), "USDC balance of Morpho");
        _probe(address(usdc), abi.encodeCall(IERC20.allowance, (safe, address(morpho))), "USDC allowance Safe -> Morpho");
        _probe(address(usdc), abi.encodeWithSignature("decimals()"), "USDC decimals");
        _probe(address(usdcVault), abi.encodeCall(IERC20.balanceOf, (safe)), "vault shares of the Safe");
        _probe(address(usdcVault), abi.encodeCall(IERC20.totalSupply, ()), "vault totalSupply");
        _probe(address(usdcVault), abi.encodeCall(IERC4626.totalAssets, ()), "vault totalAssets");
        _probe(address(entryPoint), abi.encodeWithSignature("balanceOf(address)", safe), "EntryPoint deposit of the Safe");
        _probe(address(entryPoint), abi.encodeWithSignature("getNonce(address,uint192)", safe, uint192(0)), "EntryPoint owner nonce");
        _probe(
            address(entryPoint),
            abi.encodeWithSignature("getNonce(address,uint192)", safe, module.keeperNonceKey(safe, keeper)),
            "EntryPoint keeper nonce"
        );
        _probe(safe, abi.encodeWithSignature("isModuleEnabled(address)", address(module)), "Safe modules[module]");
        _nameSlot(safe, 0, "Safe singleton slot");
        _nameSlot(safe, bytes32(uint256(4)), "Safe threshold");
        _nameSlot(safe, keccak256(abi.encode(owner, uint256(2))), "Safe owners[owner]");
        _nameSlot(safe, keccak256("fallback_manager.handler.address"), "Safe fallback handler slot");
        _nameSlot(safe, keccak256("guard_manager.guard.address"), "Safe guard slot");
        _nameSlot(safe, keccak256("module_manager.module_guard.address"), "Safe module guard slot");
        for (uint256 i; i < count; ++i) {
            string memory leg = IERC20Named(legs[i].params.collateralToken).symbol();
            bytes32 id = idOf(legs[i].params);
            bytes32 marketId = Id.unwrap(legs[i].params.id());
            address token = legs[i].params.collateralToken;
            _name(address(legs[i].oracle), string.concat(leg, " oracle (Morpho oracle and the policy's feed)"));
            _name(token, string.concat(leg, " (collateral token)"));
            _name(_policyData(id), string.concat("PolicyData contract (", leg, " sub-account)"));
            (bool ok, bytes memory ret) =
                address(adapter).staticcall(abi.encodeWithSignature("paramsPointer(bytes32)", marketId));
            if (ok) _name(abi.decode(ret, (address)), string.concat("market params code (", leg, " market)"));
            _nameSlot(address(module), _moduleSlot(POLICIES_SLOT, id), string.concat("policy record (", leg, ")"));
            _nameSlot(address(module), _moduleSlot(USAGE_SLOT, id), string.concat("epoch usage (", leg, ")"));
            _nameSlot(address(module), _moduleSlot(STOPS_SLOT, id), string.concat("stop-loss (", leg, ")"));
            _nameSlot(
                address(module),
                keccak256(abi.encode(address(usdcVault), _moduleSlot(ALLOWED_POOLS_SLOT, id))),
                string.concat("allowedPools[vault] (", leg, ")")
            );
            _probe(token, abi.encodeCall(IERC20.balanceOf, (safe)), string.concat(leg, " balance of the Safe"));
            _probe(token, abi.encodeWithSignature("decimals()"), string.concat(leg, " decimals"));
            // SimOracle's layout: price, feedAnswer, feedUpdatedAt, then decimals and _round in one slot.
            address oracle = address(legs[i].oracle);
            _nameSlot(oracle, bytes32(uint256(0)), string.concat(leg, " oracle: Morpho price"));
            _nameSlot(oracle, bytes32(uint256(1)), string.concat(leg, " feed: answer"));
            _nameSlot(oracle, bytes32(uint256(2)), string.concat(leg, " feed: updatedAt"));
            _nameSlot(oracle, bytes32(uint256(3)), string.concat(leg, " feed: decimals and round"));
            _probe(address(morpho), abi.encodeCall(IMorpho.position, (Id.wrap(marketId), safe)), string.concat("Morpho position (", leg, ")"));
            _probe(address(morpho), abi.encodeCall(IMorpho.market, (Id.wrap(marketId))), string.concat("Morpho market (", leg, ")"));
            _probe(
                address(morpho),
                abi.encodeCall(IMorpho.idToMarketParams, (Id.wrap(marketId))),
                string.concat("Morpho market params (", leg, ")")
            );
        }
        _probe(address(module), abi.encodeWithSignature("getAutomationConfig(address)", safe), "automation[safe]");
        _probe(address(module), abi.encodeWithSignature("getSelfPayBudget(address)", safe), "selfPay[safe]");
        _probe(address(module), abi.encodeWithSignature("keeperNonceKey(address,address)", safe, keeper), "keepers[keeper][safe]");
    }
}

interface IERC20Named {
    function symbol() external view returns (string memory);
}

/// @notice The floor of the later rebalance of 1 sub-account (the first one ran in setUp, as in `GasBenchLater1Test`).
contract GasBenchFloor1Test is GasFloorBase {
    function setUp() public override {
        super.setUp();
        _prepare(1);
    }

    function test_Gas_Floor1SubAccountLater() public {
        _floor(1, "floor1");
    }
}

/// @notice The floor of the later rebalance of 3 sub-accounts (the first one ran in setUp, as in `GasBenchLater3Test`).
contract GasBenchFloor3Test is GasFloorBase {
    function setUp() public override {
        super.setUp();
        _prepare(3);
    }

    function test_Gas_Floor3SubAccountsLater() public {
        _floor(3, "floor3");
    }
}
