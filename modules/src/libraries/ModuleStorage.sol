// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {ILeverageModule, Policy, AutomationConfig, KeeperKey, EpochUsage, SelfPayBudget, StopLoss} from "../interfaces/ILeverageModule.sol";

/// @notice All per-Safe state of the module. The Safe is the innermost mapping key wherever validation reads
/// (`keepers[keeper][safe]`, `automation[safe]`, `selfPay[safe]`, `sponsors[paymaster][safe]`), so those slots are
/// ERC-7562 associated storage of the Safe.
struct ModuleStorage {
    mapping(address keeper => mapping(address safe => KeeperKey)) keepers;
    mapping(address safe => AutomationConfig) automation;
    /// @dev Each sub-account's policy: one slot holding the address of the policy's data contract (`PolicyData`) and
    /// its stop flag (`PolicyRecord`). Gas (issue 15): was the Policy struct itself (six fixed slots and the pools).
    mapping(bytes32 subAccount => mapping(address safe => PolicyRecord)) policies;
    mapping(bytes32 subAccount => mapping(address safe => EpochUsage)) usage;
    mapping(address safe => bytes32[]) subAccounts;
    mapping(address safe => SelfPayBudget) selfPay;
    mapping(address paymaster => mapping(address safe => bool)) sponsors;
    /// @dev The sub-account whose policy last claimed a venue account (`IVenueAdapter.accountKey`); stale once that policy
    /// is removed (setPolicy checks the holder still has one), so removePolicy never has to call an adapter.
    mapping(bytes32 venueAccount => mapping(address safe => bytes32 subAccount)) accountHolders;
    /// @dev Whether `pool` is in the sub-account's `Policy.pools` (its data contract's list): written by setPolicy (the previous list's entries
    /// cleared first) and cleared by removePolicy, so it always holds exactly the stored list. Gas (issue 15): a pool
    /// action reads one slot here instead of the list's length and entries (one cold slot, 2,100 gas, less per pool
    /// action on the first pool; more on later ones). Appended last: every earlier member keeps its slot.
    mapping(bytes32 subAccount => mapping(address safe => mapping(address pool => bool))) allowedPools;
    /// @dev The owner's stop-loss per sub-account (setStopLoss; cleared by removePolicy), read only in execution and
    /// only when the policy's record has its stop flag set (`PolicyRecord.stopSet`).
    mapping(bytes32 subAccount => mapping(address safe => StopLoss)) stops;
}

/// @notice The one storage slot of a sub-account's policy (`ModuleStorage.policies[id][safe]`): `data` (bits 0-159) is
/// the address of the contract whose code holds the Policy (`PolicyData`), created by the module in setPolicy and never
/// written by anyone else (the module creates it with CREATE and stores the address CREATE returned); zero: no policy
/// (`UnknownSubAccount`). `stopSet` (bits 160-167; 168-255 unused) tells whether a stop-loss may be stored
/// (`ModuleStorage.stops` non-zero). ModuleStorageLayout.t.sol proves the layout.
/// @dev Gas (issue 15): a rebalance reads the stop's slot (one cold SLOAD, 2,100 gas per listed sub-account) only when
/// `stopSet` is set; it is read in the same SLOAD as `data`. The flag is written wherever the stop or the policy is:
/// `setStopLoss` (set exactly when the stored stop is non-zero), `setPolicy` (rewritten with the new data address, set
/// exactly when a stop is stored) and `removePolicy` (the record deleted with the stop). A flag set without a stop only
/// costs the read (the zero stop is "none"); a stop without its flag would be ignored: SECURITY.md row 132.
struct PolicyRecord {
    address data;
    bool stopSet;
}

/// @title PolicyData
/// @notice A Policy stored as the runtime code of a data contract (the SSTORE2 technique), read back with EXTCODECOPY.
/// The code is one STOP byte (so a call to it runs nothing) followed by the policy's fixed fields in six 32-byte words,
/// packed exactly as the compiler laid the struct out in storage (bit offsets from the least significant bit):
/// - word 0: adapter 0-159, minHealth 160-223, cooldown 224-255;
/// - word 1: market;
/// - word 2: priceFeed 0-159, targetHealth 160-223, epochLength 224-255;
/// - word 3: maxHealth 0-63, maxGasPerEpoch 64-127, maxOracleAge 128-159, maxLossBps 160-175, maxEpochLossBps
///   176-191, maxRebalancesPerEpoch 192-207, maxOracleDeviationBps 208-223, boostAllowed 224-231, maxSlippageBps
///   232-247, rescueBelowTarget 248-255;
/// - word 4: maxAmountPerRebalance 0-127, maxAmountPerEpoch 128-255;
/// - word 5: minFeedAnswer 0-127, maxFeedAnswer 128-255;
/// then the pools, one 32-byte word each (the address in the low 160 bits), in list order (at most MAX_POOLS: 1 + 192
/// + 8 x 32 = 449 bytes, far below EIP-170's 24,576). Every field has a fixed width, so every Policy the ABI decoder
/// accepts fits.
/// @dev Gas (issue 15): a rebalance reads a listed sub-account's policy with one cold SLOAD (its `PolicyRecord`) and
/// one cold EXTCODECOPY of 192 bytes (2,100 + 2,600 + copy), instead of six cold storage slots (12,600) and their warm
/// re-reads: keeper overhead -8,990 gas for 1 sub-account, -8,948 per extra one (`npm run bench:gas`, 2026-12-04).
/// The code is immutable (no SELFDESTRUCT can run: its first byte is STOP), so a reader always gets what setPolicy
/// wrote.
library PolicyData {
    /// @dev The fixed fields' size in bytes (six words), after the STOP byte.
    uint256 internal constant FIXED_BYTES = 192;

    /// @notice The creation code of `policy`'s data contract: `PUSH2 n DUP1 PUSH1 0x0a RETURNDATASIZE CODECOPY
    /// RETURNDATASIZE RETURN` (returns the n bytes after these 10 as the runtime code), then STOP, the six words and the
    /// pools. `n` = 193 + 32 x pools (< 2^16: at most MAX_POOLS pools, checked by setPolicy before this is built).
    function creationCode(Policy calldata policy) internal pure returns (bytes memory) {
        uint256 size = 1 + FIXED_BYTES + 32 * policy.pools.length;
        return abi.encodePacked(
            bytes3(0x610000 | uint24(size)),
            bytes7(0x80600a3d393df3),
            bytes1(0),
            _word0(policy),
            bytes32(policy.market),
            _word2(policy),
            _word3(policy),
            uint256(policy.maxAmountPerRebalance) | uint256(policy.maxAmountPerEpoch) << 128,
            uint256(policy.minFeedAnswer) | uint256(policy.maxFeedAnswer) << 128,
            policy.pools
        );
    }

    function _word0(Policy calldata policy) private pure returns (uint256) {
        return uint256(uint160(policy.adapter)) | uint256(policy.minHealth) << 160 | uint256(policy.cooldown) << 224;
    }

    function _word2(Policy calldata policy) private pure returns (uint256) {
        return uint256(uint160(policy.priceFeed)) | uint256(policy.targetHealth) << 160
            | uint256(policy.epochLength) << 224;
    }

    function _word3(Policy calldata policy) private pure returns (uint256) {
        return uint256(policy.maxHealth) | uint256(policy.maxGasPerEpoch) << 64 | uint256(policy.maxOracleAge) << 128
            | uint256(policy.maxLossBps) << 160 | uint256(policy.maxEpochLossBps) << 176
            | uint256(policy.maxRebalancesPerEpoch) << 192 | uint256(policy.maxOracleDeviationBps) << 208
            | (policy.boostAllowed ? 1 << 224 : 0) | uint256(policy.maxSlippageBps) << 232
            | (policy.rescueBelowTarget ? 1 << 248 : 0);
    }

    /// @notice `record`'s one slot as its two fields (one SLOAD).
    function load(PolicyRecord storage record) internal view returns (address data, bool stopSet) {
        uint256 word;
        assembly ("memory-safe") {
            word := sload(record.slot)
        }
        data = address(uint160(word));
        stopSet = (word >> 160) & 0xff != 0;
    }

    /// @notice The fixed fields of the policy stored at `data` (a data contract setPolicy created; not zero), `pools`
    /// left empty: one EXTCODECOPY of FIXED_BYTES.
    function read(address data) internal view returns (Policy memory policy) {
        uint256 ptr = readPointer(data);
        assembly ("memory-safe") {
            policy := ptr
        }
    }

    /// @notice As `read`, returning the memory address of the Policy it allocated (RebalanceLib keeps it per run).
    /// @dev Allocates the struct's 22 words without zeroing them first and writes each field from its word (fields at
    /// bit `a`, `n` wide: shr(256 - n, shl(256 - n - a, word))); `pools` is the empty array (memory 0x60).
    function readPointer(address data) internal view returns (uint256 policy) {
        assembly ("memory-safe") {
            policy := mload(0x40)
            mstore(0x40, add(policy, 0x2c0))
            let m := add(policy, 0x2c0) // scratch past the allocation, not kept
            extcodecopy(data, m, 1, 192)
            let w := mload(m)
            mstore(policy, shr(96, shl(96, w))) // adapter
            mstore(add(policy, 0x20), shr(192, shl(32, w))) // minHealth
            mstore(add(policy, 0x40), shr(224, w)) // cooldown
            mstore(add(policy, 0x60), mload(add(m, 0x20))) // market
            w := mload(add(m, 0x40))
            mstore(add(policy, 0x80), shr(96, shl(96, w))) // priceFeed
            mstore(add(policy, 0xa0), shr(192, shl(32, w))) // targetHealth
            mstore(add(policy, 0xc0), shr(224, w)) // epochLength
            w := mload(add(m, 0x60))
            mstore(add(policy, 0xe0), shr(192, shl(192, w))) // maxHealth
            mstore(add(policy, 0x100), shr(192, shl(128, w))) // maxGasPerEpoch
            mstore(add(policy, 0x120), shr(224, shl(96, w))) // maxOracleAge
            mstore(add(policy, 0x140), shr(240, shl(80, w))) // maxLossBps
            mstore(add(policy, 0x160), shr(240, shl(64, w))) // maxEpochLossBps
            mstore(add(policy, 0x180), shr(240, shl(48, w))) // maxRebalancesPerEpoch
            mstore(add(policy, 0x1a0), shr(240, shl(32, w))) // maxOracleDeviationBps
            mstore(add(policy, 0x1c0), shr(248, shl(24, w))) // boostAllowed (0 or 1: written from a bool)
            mstore(add(policy, 0x1e0), shr(240, shl(8, w))) // maxSlippageBps
            mstore(add(policy, 0x200), shr(248, w)) // rescueBelowTarget (0 or 1: written from a bool)
            w := mload(add(m, 0x80))
            mstore(add(policy, 0x220), shr(128, shl(128, w))) // maxAmountPerRebalance
            mstore(add(policy, 0x240), shr(128, w)) // maxAmountPerEpoch
            w := mload(add(m, 0xa0))
            mstore(add(policy, 0x260), shr(128, shl(128, w))) // minFeedAnswer
            mstore(add(policy, 0x280), shr(128, w)) // maxFeedAnswer
            mstore(add(policy, 0x2a0), 0x60) // pools: empty
        }
    }

    /// @notice The pools of the policy stored at `data` (its code after the fixed fields, one word each); empty for
    /// `data` zero (no policy).
    function pools(address data) internal view returns (address[] memory list) {
        uint256 size = data.code.length;
        uint256 count = size > 1 + FIXED_BYTES ? (size - 1 - FIXED_BYTES) / 32 : 0;
        list = new address[](count);
        assembly ("memory-safe") {
            extcodecopy(data, add(list, 0x20), 193, mul(count, 0x20))
        }
    }

    /// @notice The whole policy stored at `data` (getPolicy); all zero (no pools) for `data` zero.
    function readAll(address data) internal view returns (Policy memory policy) {
        if (data == address(0)) return policy;
        policy = read(data);
        policy.pools = pools(data);
    }
}

/// @title ActiveRebalance
/// @notice The Safe whose keeper rebalance is running (transient storage, set by RebalanceLib's `_enter`, cleared by
/// `_exit`; 0: none), and the owner controls' refusal while it runs.
/// @dev Review rr15p F1 (issue 15): a rebalance judges every check by the policy copy `_load` read, so an owner control
/// run in the middle of it (an owner-approved Safe transaction nobody had executed yet, executed by a re-entrant pool or
/// token) would not change the run, and `removePolicy` would be followed by the run's usage write: a usage record for a
/// sub-account without a policy, inherited by a later setPolicy. setPolicy, removePolicy and setStopLoss therefore
/// revert `RebalanceActive(safe)` while the same Safe's rebalance runs (one TLOAD per owner call; the owner's
/// transaction can be executed again once the rebalance has ended: a Safe transaction whose call reverts uses no nonce).
library ActiveRebalance {
    /// @dev keccak256("levpilot.rebalance.activeSafe") - 1.
    uint256 internal constant SLOT = uint256(keccak256("levpilot.rebalance.activeSafe")) - 1;

    /// @dev Reverts `RebalanceActive(safe)` while `safe`'s rebalance is running.
    function refuse(address safe) internal view {
        uint256 active;
        uint256 slot = SLOT;
        assembly ("memory-safe") {
            active := tload(slot)
        }
        if (active == uint160(safe)) revert ILeverageModule.RebalanceActive(safe);
    }
}

