// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {EpochUsage, ILeverageModule, Policy} from "../interfaces/ILeverageModule.sol";
import {IVenueAdapter, MarketState} from "../interfaces/IVenueAdapter.sol";

/// @notice Everything a reader needs about one sub-account, from one call.
/// @dev `stateOk` is false when the adapter reverted: `state` is then zero and `stateError` holds the revert data (a
/// reverting oracle must not hide the other sub-accounts).
struct SubAccountView {
    bytes32 subAccount;
    Policy policy;
    EpochUsage usage;
    MarketState state;
    bool stateOk;
    bytes stateError;
}

/// @title LeverageLens
/// @notice A read-only view that gathers every sub-account of a Safe (policy, epoch usage, venue state) in one call.
/// @dev Meant to be run without deployment: the SDK sends its creation code in an `eth_call` (viem's deployless
/// read), so a whole Safe is read in one round trip on any chain, Multicall3 or not. Holds no state, has no owner and
/// only calls view functions; a deployed copy behaves the same.
contract LeverageLens {
    /// @notice Thrown when a requested sub-account has no policy on the Safe.
    error UnknownSubAccount(bytes32 subAccount);

    /// @notice Reads the given sub-accounts of `safe`, or all of them when `subAccounts` is empty.
    /// @param module The LeverageModule.
    /// @param safe The Safe.
    /// @param subAccounts The sub-accounts to read; empty for every sub-account with a policy.
    /// @return views One entry per sub-account, in the order given (or the module's order).
    function read(ILeverageModule module, address safe, bytes32[] calldata subAccounts)
        external
        view
        returns (SubAccountView[] memory views)
    {
        bytes32[] memory ids = subAccounts.length == 0 ? module.getSubAccounts(safe) : subAccounts;
        views = new SubAccountView[](ids.length);
        for (uint256 i; i < ids.length; ++i) {
            SubAccountView memory entry = views[i];
            entry.subAccount = ids[i];
            entry.policy = module.getPolicy(safe, ids[i]);
            if (entry.policy.adapter == address(0)) revert UnknownSubAccount(ids[i]);
            entry.usage = module.getEpochUsage(safe, ids[i]);
            try IVenueAdapter(entry.policy.adapter).marketState(entry.policy.market, safe) returns (MarketState memory s) {
                entry.state = s;
                entry.stateOk = true;
            } catch (bytes memory reason) {
                entry.stateError = reason;
            }
        }
    }
}
