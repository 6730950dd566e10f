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
    /// @dev The owner's stop-loss per sub-account (setStopLoss; cleared by removePolicy), read only in execution.
    mapping(bytes32 subAccount => mapping(address safe => StopLoss)) stops;
}
