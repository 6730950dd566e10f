// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {ILeverageModule, Policy, EpochUsage, ActionKind, Action, Plan} from "../interfaces/ILeverageModule.sol";
import {IVenueAdapter, MarketState, VenueCall} from "../interfaces/IVenueAdapter.sol";
import {ISafe} from "../interfaces/ISafe.sol";
import {IPriceFeed} from "../interfaces/IPriceFeed.sol";
import {HealthLib} from "./HealthLib.sol";
import {ModuleStorage} from "./ModuleStorage.sol";

/// @title RebalanceLib
/// @notice The automation lane's execution engine: loads the touched sub-accounts, checks oracles, trigger and
/// cooldowns, executes the actions from the Safe with CALL only, then enforces every post-condition of the policies.
/// @dev An external library (linked at deployment, immutable) so the module fits the EIP-170 size limit; it runs
/// in the module's context through DELEGATECALL from the module itself, never from the Safe.
library RebalanceLib {
    using HealthLib for MarketState;

    uint256 internal constant MIN_POOL_SUPPLY = 1e6;
    uint256 internal constant BPS = 10_000;
    uint8 internal constant CALL = 0;

    /// @dev Working copy of one touched sub-account during a rebalance.
    struct Run {
        bytes32 id;
        IVenueAdapter adapter;
        bytes32 market;
        MarketState state;
        uint256 healthBefore;
        uint256 healthAfter;
        uint256 moved;
    }

    /// @notice Executes `plan` for `safe` (the caller already checked encoding, keeper and pause).
    /// Gas is measured from here: the 63/64 rule makes a caller-side start meaningless inside a DELEGATECALL.
    function execute(ModuleStorage storage s, address safe, address keeper, Plan calldata plan) external {
        uint256 gasStart = gasleft();
        Run[] memory runs = _load(s, safe, plan.subAccounts);
        // Every action is checked before any pool is read, so no unlisted address is ever called.
        for (uint256 i; i < plan.actions.length; ++i) {
            _checkAction(s, safe, runs, plan.actions[i], i);
        }
        int256 valueBefore = _netValue(safe, runs, plan.actions);

        for (uint256 i; i < plan.actions.length; ++i) {
            _execute(runs, safe, plan.actions[i], i);
        }

        uint256 maxLossBps = BPS;
        for (uint256 i; i < runs.length; ++i) {
            Run memory run = runs[i];
            // Net value and health after are judged at the prices the plan was checked against.
            (run.state.collateral, run.state.debt) = run.adapter.position(run.market, safe);
            run.healthAfter = run.state.health();
            Policy storage policy = s.policies[run.id][safe];
            _checkPostConditions(run, policy);
            if (policy.maxLossBps < maxLossBps) maxLossBps = policy.maxLossBps;
        }

        int256 valueAfter = _netValue(safe, runs, plan.actions);
        int256 allowedLoss = int256(Math.mulDiv(_abs(valueBefore), maxLossBps, BPS));
        if (valueAfter < valueBefore - allowedLoss) revert ILeverageModule.ValueLossExceeded(valueBefore, valueAfter, maxLossBps);

        uint256 gasUsed = gasStart - gasleft();
        uint256[] memory before = new uint256[](runs.length);
        uint256[] memory afterwards = new uint256[](runs.length);
        for (uint256 i; i < runs.length; ++i) {
            _recordUsage(s, safe, runs[i], gasUsed);
            before[i] = runs[i].healthBefore;
            afterwards[i] = runs[i].healthAfter;
        }
        emit ILeverageModule.Rebalanced(safe, keeper, plan.subAccounts, before, afterwards, gasUsed);
    }

    /// @dev Loads every touched sub-account, checks oracles, cooldowns and the trigger.
    function _load(ModuleStorage storage s, address safe, bytes32[] calldata ids) private view returns (Run[] memory runs) {
        runs = new Run[](ids.length);
        bool triggered;
        address loanToken;
        for (uint256 i; i < ids.length; ++i) {
            bytes32 id = ids[i];
            for (uint256 j; j < i; ++j) {
                if (ids[j] == id) revert ILeverageModule.DuplicateSubAccount(id);
            }
            Policy storage policy = s.policies[id][safe];
            address adapter = policy.adapter;
            if (adapter == address(0)) revert ILeverageModule.UnknownSubAccount(id);

            Run memory run = runs[i];
            run.id = id;
            run.adapter = IVenueAdapter(adapter);
            run.market = policy.market;
            run.state = run.adapter.marketState(run.market, safe);
            if (i == 0) loanToken = run.state.loanToken;
            else if (run.state.loanToken != loanToken) revert ILeverageModule.MixedLoanTokens(loanToken, run.state.loanToken);
            _checkOracle(id, policy, run.state);

            EpochUsage storage usage = s.usage[id][safe];
            uint256 readyAt = uint256(usage.lastRebalance) + policy.cooldown;
            if (usage.lastRebalance != 0 && block.timestamp < readyAt) revert ILeverageModule.CooldownActive(id, readyAt);

            run.healthBefore = run.state.health();
            if (run.healthBefore < policy.minHealth || (policy.boostAllowed && run.healthBefore > policy.maxHealth)) {
                triggered = true;
            }
        }
        if (!triggered) revert ILeverageModule.NoTrigger();
    }

    function _checkOracle(bytes32 id, Policy storage policy, MarketState memory state) internal view {
        if (state.price == 0) revert ILeverageModule.OraclePriceZero(id);
        address feed = policy.priceFeed;
        if (feed == address(0)) return;

        (, int256 answer,, uint256 updatedAt,) = IPriceFeed(feed).latestRoundData();
        if (answer <= 0) revert ILeverageModule.OraclePriceZero(id);
        if (updatedAt > block.timestamp || block.timestamp - updatedAt > policy.maxOracleAge) {
            revert ILeverageModule.OracleStale(id, updatedAt, policy.maxOracleAge);
        }
        uint8 feedDecimals = IPriceFeed(feed).decimals();
        // The feed quotes one whole collateral token in whole loan tokens; rescale to Morpho's 1e36 base-unit price.
        uint256 exponent = 36 + uint256(IERC20Metadata(state.loanToken).decimals());
        uint256 divisorExp = uint256(feedDecimals) + IERC20Metadata(state.collateralToken).decimals();
        if (feedDecimals > 36 || divisorExp > exponent) revert ILeverageModule.OracleDecimals(id, feedDecimals);
        uint256 feedPrice = uint256(answer) * 10 ** (exponent - divisorExp);
        if (HealthLib.distance(state.price, feedPrice) * BPS > feedPrice * policy.maxOracleDeviationBps) {
            revert ILeverageModule.OracleDeviation(id, state.price, feedPrice);
        }
    }

    function _checkAction(ModuleStorage storage s, address safe, Run[] memory runs, Action calldata action, uint256 index)
        private
        view
    {
        bytes32 id = runs[action.subAccount].id;
        Policy storage policy = s.policies[id][safe];
        ActionKind kind = action.kind;
        if (action.amount == 0) revert ILeverageModule.ActionNotAllowed(index, kind);
        if (kind == ActionKind.WithdrawFromPool || kind == ActionKind.DepositToPool) {
            if (!_isPoolAllowed(policy, action.pool)) revert ILeverageModule.PoolNotAllowed(id, action.pool);
            return;
        }
        if (action.pool != address(0)) revert ILeverageModule.ActionNotAllowed(index, kind);
        if (!policy.boostAllowed && (kind == ActionKind.Borrow || kind == ActionKind.WithdrawCollateral)) {
            revert ILeverageModule.ActionNotAllowed(index, kind);
        }
    }

    /// @dev Runs one action already vetted by `_checkAction`.
    function _execute(Run[] memory runs, address safe, Action calldata action, uint256 index) private {
        Run memory run = runs[action.subAccount];
        ActionKind kind = action.kind;
        uint256 amount = action.amount;

        if (kind == ActionKind.WithdrawFromPool || kind == ActionKind.DepositToPool) {
            address pool = action.pool;
            address asset = IERC4626(pool).asset();
            run.moved += _value(asset, amount, runs);
            if (kind == ActionKind.DepositToPool) {
                if (IERC4626(pool).totalSupply() < MIN_POOL_SUPPLY || IERC4626(pool).convertToAssets(1e18) == 0) {
                    revert ILeverageModule.PoolUnhealthy(pool);
                }
                _callWithApproval(safe, index, pool, abi.encodeCall(IERC4626.deposit, (amount, safe)), asset, amount);
            } else {
                _call(safe, index, pool, abi.encodeCall(IERC4626.withdraw, (amount, safe, safe)));
            }
            return;
        }

        if (kind == ActionKind.SupplyCollateral || kind == ActionKind.WithdrawCollateral) {
            run.moved += HealthLib.collateralValue(amount, run.state.price);
        } else {
            run.moved += kind == ActionKind.Repay ? Math.min(amount, run.state.debt) : amount;
        }
        VenueCall memory venueCall = run.adapter.encode(uint8(kind), run.market, amount, safe);
        if (venueCall.approveToken == address(0)) {
            _call(safe, index, venueCall.target, venueCall.data);
        } else {
            _callWithApproval(
                safe, index, venueCall.target, venueCall.data, venueCall.approveToken, venueCall.approveAmount
            );
        }
    }

    function _isPoolAllowed(Policy storage policy, address pool) private view returns (bool) {
        address[] storage pools = policy.pools;
        for (uint256 i; i < pools.length; ++i) {
            if (pools[i] == pool) return true;
        }
        return false;
    }

    function _callWithApproval(
        address safe,
        uint256 index,
        address target,
        bytes memory data,
        address token,
        uint256 amount
    ) private {
        _approve(safe, index, token, target, amount);
        _call(safe, index, target, data);
        _approve(safe, index, token, target, 0);
    }

    function _approve(address safe, uint256 index, address token, address spender, uint256 amount) private {
        bytes memory result = _call(safe, index, token, abi.encodeCall(IERC20.approve, (spender, amount)));
        // Tokens that return nothing are accepted; a token returning false (or garbage) is a failed action.
        if (result.length != 0 && (result.length != 32 || abi.decode(result, (uint256)) != 1)) {
            revert ILeverageModule.ActionFailed(index, result);
        }
    }

    function _call(address safe, uint256 index, address target, bytes memory data)
        private
        returns (bytes memory result)
    {
        // A plan never calls the Safe itself (owners, modules, guard, fallback) nor the module's configuration.
        if (target == safe || target == address(this)) revert ILeverageModule.ActionFailed(index, "");
        bool success;
        (success, result) = ISafe(safe).execTransactionFromModuleReturnData(target, 0, data, CALL);
        if (!success) revert ILeverageModule.ActionFailed(index, result);
    }

    function _checkPostConditions(Run memory run, Policy storage policy) internal view {
        uint256 target = policy.targetHealth;
        if (run.healthAfter < policy.minHealth || run.healthAfter > policy.maxHealth) {
            revert ILeverageModule.HealthOutOfBand(run.id, run.healthAfter, policy.minHealth, policy.maxHealth);
        }
        if (HealthLib.distance(run.healthAfter, target) > HealthLib.distance(run.healthBefore, target)) {
            revert ILeverageModule.HealthFurtherFromTarget(run.id, run.healthBefore, run.healthAfter);
        }
        if (!policy.boostAllowed && run.healthAfter < run.healthBefore) {
            revert ILeverageModule.HealthDecreased(run.id, run.healthBefore, run.healthAfter);
        }
        if (run.moved > policy.maxAmountPerRebalance) {
            revert ILeverageModule.AmountCapExceeded(run.id, run.moved, policy.maxAmountPerRebalance);
        }
    }

    function _recordUsage(ModuleStorage storage s, address safe, Run memory run, uint256 gasUsed) private {
        Policy storage policy = s.policies[run.id][safe];
        EpochUsage memory usage = s.usage[run.id][safe];
        if (usage.epochStart == 0 || block.timestamp >= uint256(usage.epochStart) + policy.epochLength) {
            usage = EpochUsage({epochStart: uint40(block.timestamp), lastRebalance: 0, rebalances: 0, gasUsed: 0, amountMoved: 0});
        }
        uint256 amount = usage.amountMoved + run.moved;
        uint256 count = uint256(usage.rebalances) + 1;
        uint256 gas = uint256(usage.gasUsed) + gasUsed;
        if (amount > policy.maxAmountPerEpoch) revert ILeverageModule.EpochAmountCapExceeded(run.id, amount, policy.maxAmountPerEpoch);
        if (count > policy.maxRebalancesPerEpoch) {
            revert ILeverageModule.EpochRebalanceCapExceeded(run.id, count, policy.maxRebalancesPerEpoch);
        }
        if (gas > policy.maxGasPerEpoch) revert ILeverageModule.EpochGasCapExceeded(run.id, gas, policy.maxGasPerEpoch);
        // Saturating casts: a saturated counter only makes the next check stricter.
        s.usage[run.id][safe] = EpochUsage({
            epochStart: usage.epochStart,
            lastRebalance: uint40(block.timestamp),
            rebalances: uint16(count),
            gasUsed: uint48(Math.min(gas, type(uint48).max)),
            amountMoved: uint112(Math.min(amount, type(uint112).max))
        });
    }

    /// @dev Net value in loan units: sub-account equity, plus the Safe's idle loan and collateral tokens and its
    /// shares of the pools the plan touches, all valued at the plan's pre-trade oracle prices.
    function _netValue(address safe, Run[] memory runs, Action[] calldata actions) private view returns (int256 net) {
        address loanToken = runs[0].state.loanToken;
        net = int256(IERC20(loanToken).balanceOf(safe));
        for (uint256 i; i < runs.length; ++i) {
            net += runs[i].state.equity();
            address collateral = runs[i].state.collateralToken;
            bool seen = collateral == loanToken;
            for (uint256 j; j < i && !seen; ++j) {
                seen = runs[j].state.collateralToken == collateral;
            }
            if (!seen) net += int256(_value(collateral, IERC20(collateral).balanceOf(safe), runs));
        }
        for (uint256 i; i < actions.length; ++i) {
            address pool = actions[i].pool;
            if (pool == address(0)) continue;
            bool seen;
            for (uint256 j; j < i && !seen; ++j) {
                seen = actions[j].pool == pool;
            }
            if (seen) continue;
            uint256 assets = IERC4626(pool).convertToAssets(IERC20(pool).balanceOf(safe));
            net += int256(_value(IERC4626(pool).asset(), assets, runs));
        }
    }

    /// @dev Value in loan units of `amount` of `token`, which is the loan token or a touched collateral token.
    function _value(address token, uint256 amount, Run[] memory runs) private pure returns (uint256) {
        if (token == runs[0].state.loanToken) return amount;
        for (uint256 i; i < runs.length; ++i) {
            if (runs[i].state.collateralToken == token) return HealthLib.collateralValue(amount, runs[i].state.price);
        }
        revert ILeverageModule.PoolAssetMismatch(address(0), token);
    }

    function _abs(int256 x) private pure returns (uint256) {
        return x >= 0 ? uint256(x) : uint256(-x);
    }
}
