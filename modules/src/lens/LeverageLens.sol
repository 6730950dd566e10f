// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {INonceManager} from "@account-abstraction/contracts/interfaces/INonceManager.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {AutomationConfig, EpochUsage, ILeverageModule, KeeperKey, Policy} from "../interfaces/ILeverageModule.sol";
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

/// @notice The Safe's balance of a token a plan can move (the loan or collateral token of one of its sub-accounts).
/// @dev `decimals` is 18 and `balance` 0 when the token does not answer.
struct TokenBalance {
    address token;
    uint8 decimals;
    uint256 balance;
}

/// @notice The Safe's position in one ERC-4626 pool its policies allow.
/// @dev `assets` is `convertToAssets(shares)`; each field is zero when the pool does not answer.
struct PoolPosition {
    address pool;
    address asset;
    uint256 shares;
    uint256 assets;
    uint256 maxWithdraw;
}

/// @notice Everything a keeper needs about one Safe at one block, from the same call as many other Safes.
/// @dev `ok` is false when reading the Safe reverted (e.g. an unknown sub-account): the other fields are then empty and
/// `error` holds the revert data, so one broken Safe does not hide the others in a batch.
struct SafeView {
    address safe;
    bool ok;
    bytes error;
    /// The keeper's key on this Safe (`getKeeper(safe, keeper)`).
    KeeperKey keeper;
    /// The automation lane's pause flag (`getAutomationConfig(safe).paused`).
    bool paused;
    /// The Safe's EntryPoint nonce on the keeper nonce key (key in the high 192 bits).
    uint256 nonce;
    SubAccountView[] subAccounts;
    TokenBalance[] tokens;
    PoolPosition[] pools;
}

/// @title LeverageLens
/// @notice A read-only view that gathers every sub-account of a Safe (policy, epoch usage, venue state) in one call,
/// or everything a keeper needs about many Safes at once (`readSafes`).
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

    /// @notice Reads many Safes at one block: for each, the keeper's key, the pause flag, the keeper-lane nonce, every
    /// sub-account (as `read`), the Safe's balances of the sub-accounts' tokens and its positions in their allowed pools.
    /// @dev A Safe whose read reverts is returned with `ok == false` and the revert data; the others are unaffected.
    /// Cost grows with the Safes' sub-accounts and pools (about 60k gas for a Safe with one Morpho sub-account and one
    /// pool), so a caller splits long lists to stay under the node's `eth_call` gas cap.
    /// @param module The LeverageModule.
    /// @param keeper The keeper key whose registration is read.
    /// @param entryPoint The EntryPoint (its nonce manager).
    /// @param safes The Safes, in the order the views are returned (each Safe's nonce is read on `keeper`'s nonce key of
    /// the Safe's current key generation, `module.keeperNonceKey(safe, keeper)`).
    /// @return blockNumber The block read (`block.number`).
    /// @return timestamp Its timestamp, seconds.
    /// @return views One entry per Safe.
    function readSafes(
        ILeverageModule module,
        address keeper,
        INonceManager entryPoint,
        address[] calldata safes
    ) external view returns (uint256 blockNumber, uint256 timestamp, SafeView[] memory views) {
        blockNumber = block.number;
        timestamp = block.timestamp;
        views = new SafeView[](safes.length);
        for (uint256 i; i < safes.length; ++i) {
            try this.readSafe(module, keeper, entryPoint, safes[i]) returns (SafeView memory entry) {
                views[i] = entry;
            } catch (bytes memory reason) {
                views[i].safe = safes[i];
                views[i].error = reason;
            }
        }
    }

    /// @notice One Safe of `readSafes`; reverts where `readSafes` reports `ok == false`.
    function readSafe(ILeverageModule module, address keeper, INonceManager entryPoint, address safe)
        external
        view
        returns (SafeView memory entry)
    {
        entry.safe = safe;
        entry.ok = true;
        entry.keeper = module.getKeeper(safe, keeper);
        AutomationConfig memory config = module.getAutomationConfig(safe);
        entry.paused = config.paused;
        entry.nonce = entryPoint.getNonce(safe, module.keeperNonceKey(safe, keeper));
        entry.subAccounts = this.read(module, safe, new bytes32[](0));
        (address[] memory tokens, uint256 tokenCount, address[] memory pools, uint256 poolCount) = _assets(entry.subAccounts);
        entry.tokens = new TokenBalance[](tokenCount);
        for (uint256 i; i < tokenCount; ++i) {
            TokenBalance memory t = entry.tokens[i];
            t.token = tokens[i];
            (bool ok, uint256 decimals) = _uintCall(tokens[i], abi.encodeCall(IERC20Metadata.decimals, ()));
            t.decimals = ok && decimals <= type(uint8).max ? uint8(decimals) : 18;
            (, t.balance) = _uintCall(tokens[i], abi.encodeCall(IERC20.balanceOf, (safe)));
        }
        entry.pools = new PoolPosition[](poolCount);
        for (uint256 i; i < poolCount; ++i) {
            PoolPosition memory p = entry.pools[i];
            p.pool = pools[i];
            (, uint256 asset) = _uintCall(pools[i], abi.encodeCall(IERC4626.asset, ()));
            p.asset = address(uint160(asset));
            (, p.shares) = _uintCall(pools[i], abi.encodeCall(IERC20.balanceOf, (safe)));
            (, p.assets) = _uintCall(pools[i], abi.encodeCall(IERC4626.convertToAssets, (p.shares)));
            (, p.maxWithdraw) = _uintCall(pools[i], abi.encodeCall(IERC4626.maxWithdraw, (safe)));
        }
    }

    /// @dev The distinct loan and collateral tokens and allowed pools of `subAccounts`, in first-seen order.
    function _assets(SubAccountView[] memory subAccounts)
        internal
        pure
        returns (address[] memory tokens, uint256 tokenCount, address[] memory pools, uint256 poolCount)
    {
        uint256 maxPools;
        for (uint256 i; i < subAccounts.length; ++i) {
            maxPools += subAccounts[i].policy.pools.length;
        }
        tokens = new address[](subAccounts.length * 2);
        pools = new address[](maxPools);
        for (uint256 i; i < subAccounts.length; ++i) {
            tokenCount = _addOnce(tokens, tokenCount, subAccounts[i].state.loanToken);
            tokenCount = _addOnce(tokens, tokenCount, subAccounts[i].state.collateralToken);
            address[] memory allowed = subAccounts[i].policy.pools;
            for (uint256 j; j < allowed.length; ++j) {
                poolCount = _addOnce(pools, poolCount, allowed[j]);
            }
        }
    }

    function _addOnce(address[] memory list, uint256 count, address item) internal pure returns (uint256) {
        if (item == address(0)) return count;
        for (uint256 i; i < count; ++i) {
            if (list[i] == item) return count;
        }
        list[count] = item;
        return count + 1;
    }

    /// @dev A view call that must answer one word; a revert, a short answer or no code reads as `(false, 0)`.
    function _uintCall(address target, bytes memory data) internal view returns (bool ok, uint256 value) {
        if (target.code.length == 0) return (false, 0);
        bytes memory answer;
        (ok, answer) = target.staticcall(data);
        if (!ok || answer.length < 32) return (false, 0);
        value = abi.decode(answer, (uint256));
    }
}
