// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Policy, AutomationConfig, KeeperKey, EpochUsage, SelfPayBudget, StopLoss} from "../interfaces/ILeverageModule.sol";

/// @notice All per-Safe state of the module. The Safe is the innermost mapping key wherever validation reads
/// (`keepers[keeper][safe]`, `automation[safe]`, `selfPay[safe]`, `sponsors[paymaster][safe]`), so those slots are
/// ERC-7562 associated storage of the Safe.
struct ModuleStorage {
    mapping(address keeper => mapping(address safe => KeeperKey)) keepers;
    mapping(address safe => AutomationConfig) automation;
    mapping(bytes32 subAccount => mapping(address safe => Policy)) policies;
    mapping(bytes32 subAccount => mapping(address safe => EpochUsage)) usage;
    mapping(address safe => bytes32[]) subAccounts;
    mapping(address safe => SelfPayBudget) selfPay;
    mapping(address paymaster => mapping(address safe => bool)) sponsors;
    /// @dev The sub-account whose policy last claimed a venue account (`IVenueAdapter.accountKey`); stale once that policy
    /// is removed (setPolicy checks the holder still has one), so removePolicy never has to call an adapter.
    mapping(bytes32 venueAccount => mapping(address safe => bytes32 subAccount)) accountHolders;
    /// @dev Whether `pool` is in the sub-account's `Policy.pools`: written by setPolicy (the previous list's entries
    /// cleared first) and cleared by removePolicy, so it always holds exactly the stored list. Gas (issue 15): a pool
    /// action reads one slot here instead of the list's length and entries (one cold slot, 2,100 gas, less per pool
    /// action on the first pool; more on later ones). Appended last: every earlier member keeps its slot.
    mapping(bytes32 subAccount => mapping(address safe => mapping(address pool => bool))) allowedPools;
    /// @dev The owner's stop-loss per sub-account (setStopLoss; cleared by removePolicy), read only in execution and
    /// only when the policy's StopFlag is set.
    mapping(bytes32 subAccount => mapping(address safe => StopLoss)) stops;
}

/// @notice Whether a sub-account has a stop-loss set (`ModuleStorage.stops` non-zero), kept as bit 248 of its Policy's
/// fourth storage slot, the eight bits the compiler leaves free there (maxHealth 0-63, maxGasPerEpoch 64-127,
/// maxOracleAge 128-159, maxLossBps 160-175, maxEpochLossBps 176-191, maxRebalancesPerEpoch 192-207,
/// maxOracleDeviationBps 208-223, boostAllowed 224-231, maxSlippageBps 232-247: 248 bits; ModuleStorageLayout.t.sol
/// proves them unused by any field). No Policy field reads or writes those bits (getPolicy returns the same struct).
/// @dev Gas (issue 15): a rebalance reads the stop's slot (one cold SLOAD, 2,100 gas per listed sub-account) only when
/// the flag is set, and the flag's slot is read warm (its fields are read by every rebalance). The flag is written
/// wherever the stop or the policy is: `setStopLoss` (set exactly when the stored stop is non-zero), `setPolicy` (set
/// exactly when a stop is stored: the policy's struct copy never clears it, but the module rewrites it after the copy)
/// and `removePolicy` (cleared with the stop). A flag set without a stop only costs the read (the zero stop is
/// "none"); a stop without its flag would be ignored: SECURITY.md row 132.
library StopFlag {
    uint256 private constant POLICY_WORD = 3; // the Policy's fourth slot (its storage pointer + 3)
    uint256 private constant BIT = 1 << 248;

    /// @dev Sets (`set`) or clears the flag of `policy`, keeping every other bit of its fourth slot.
    function write(Policy storage policy, bool set) internal {
        assembly ("memory-safe") {
            let slot := add(policy.slot, POLICY_WORD)
            sstore(slot, or(and(sload(slot), not(BIT)), mul(iszero(iszero(set)), BIT)))
        }
    }

    /// @dev Whether `policy`'s flag is set: a stop may be stored (`ModuleStorage.stops`).
    function isSet(Policy storage policy) internal view returns (bool set) {
        assembly ("memory-safe") {
            set := iszero(iszero(and(sload(add(policy.slot, POLICY_WORD)), BIT)))
        }
    }
}
