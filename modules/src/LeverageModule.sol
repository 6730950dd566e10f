// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {HandlerContext} from "@safe-global/safe-contracts/contracts/handler/HandlerContext.sol";
import {CompatibilityFallbackHandler} from
    "@safe-global/safe-contracts/contracts/handler/CompatibilityFallbackHandler.sol";
import {IAccount} from "@account-abstraction/contracts/interfaces/IAccount.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {_packValidationData} from "@account-abstraction/contracts/core/Helpers.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {
    ILeverageModule,
    Policy,
    AutomationConfig,
    KeeperKey,
    EpochUsage,
    ActionKind,
    Action,
    Plan
} from "./interfaces/ILeverageModule.sol";
import {IVenueAdapter, MarketState, VenueCall} from "./interfaces/IVenueAdapter.sol";
import {ISafe} from "./interfaces/ISafe.sol";
import {IPriceFeed} from "./interfaces/IPriceFeed.sol";
import {HealthLib} from "./libraries/HealthLib.sol";
import {SafeOpLib} from "./libraries/SafeOpLib.sol";
import {PlanLib} from "./libraries/PlanLib.sol";

/// @title LeverageModule
/// @notice Safe v1.4.1 module + fallback handler for EntryPoint v0.7: the Safe4337Module owner lane, plus an
/// automation lane in which keeper session keys rebalance leveraged sub-accounts inside the Safe's policies.
/// @dev Security considerations:
/// - Only the configured EntryPoint can reach `validateUserOp`, `executeUserOp*` and `executeRebalance`; the
///   EntryPoint is read from the ERC-2771 suffix the Safe's FallbackManager appends, and the Safe must be the
///   operation's sender.
/// - A keeper operation can only call `executeRebalance`; its signature is a plain 65-byte ECDSA signature of the
///   SafeOp hash by a key the Safe registered (contract signatures are refused), and it is re-checked at execution
///   so a revocation or pause in the same bundle stops it.
/// - Keeper validation reads only `_keepers[keeper][safe]` and `_automation[safe]` (associated storage, ERC-7562),
///   no oracle, no TIMESTAMP; key validity is returned as validAfter/validUntil.
/// - Plan execution uses CALL only, through allowlisted adapters fixed at deployment and pools allowlisted by the
///   Safe; every receiver and onBehalf is the Safe; approvals are exact and reset to zero after each action.
/// - Post-conditions bound what any plan can do: health inside the band and not further from target, per-rebalance
///   and per-epoch caps, and net value loss at most maxLossBps. Oracles are sanity-checked (non-zero, fresh, close
///   to an optional second source) before anything moves.
/// - Configuration is only reachable by the Safe calling itself (`_msgSender() == msg.sender`): an outsider calling
///   the Safe's fallback has its own address appended and is refused. No admin, no upgrade path.
/// @custom:security-contact security@leverage-autopilot.invalid
contract LeverageModule is ILeverageModule, HandlerContext, CompatibilityFallbackHandler {
    using HealthLib for MarketState;

    uint256 public constant MAX_POOLS = 8;
    uint256 public constant MIN_POOL_SUPPLY = 1e6;
    uint256 internal constant BPS = 10_000;
    uint8 internal constant CALL = 0;

    address public immutable override SUPPORTED_ENTRYPOINT;

    address[] internal _adapterList;
    mapping(address adapter => bool) internal _isAdapter;
    mapping(address keeper => mapping(address safe => KeeperKey)) internal _keepers;
    mapping(address safe => AutomationConfig) internal _automation;
    mapping(bytes32 subAccount => mapping(address safe => Policy)) internal _policies;
    mapping(bytes32 subAccount => mapping(address safe => EpochUsage)) internal _usage;
    mapping(address safe => bytes32[]) internal _subAccounts;

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

    constructor(address entryPoint, address[] memory venueAdapters) {
        if (entryPoint == address(0)) revert InvalidEntryPoint();
        SUPPORTED_ENTRYPOINT = entryPoint;
        for (uint256 i; i < venueAdapters.length; ++i) {
            address adapter = venueAdapters[i];
            if (adapter == address(0) || adapter.code.length == 0) revert InvalidAdapter(adapter);
            if (_isAdapter[adapter]) revert DuplicateAdapter(adapter);
            _isAdapter[adapter] = true;
            _adapterList.push(adapter);
        }
    }

    modifier onlySupportedEntryPoint() {
        if (_msgSender() != SUPPORTED_ENTRYPOINT) revert UnsupportedEntryPoint();
        _;
    }

    /// @dev The Safe calling itself through its fallback handler appends its own address as the sender.
    modifier onlySafeSelf() {
        if (_msgSender() != msg.sender) revert NotCalledBySafe(_msgSender());
        _;
    }

    /* OWNER LANE */

    /// @notice Validates a UserOperation for the Safe calling through its fallback handler.
    /// @dev Owner lane (`executeUserOp`, `executeUserOpWithErrorString`): owner signatures over the EIP-712 SafeOp
    /// hash, checked by the Safe, exactly as Safe4337Module v0.3.0. Automation lane (`executeRebalance`): one ECDSA
    /// signature by an active keeper key over the same hash, within the Safe's gas caps and paymaster rule. A bad
    /// signature returns SIG_VALIDATION_FAILED; it never reverts. Pays `missingAccountFunds` from the Safe.
    function validateUserOp(PackedUserOperation calldata userOp, bytes32, uint256 missingAccountFunds)
        external
        onlySupportedEntryPoint
        returns (uint256 validationData)
    {
        address safe = userOp.sender;
        if (safe != msg.sender) revert InvalidCaller();

        bytes4 selector = bytes4(userOp.callData);
        if (selector == this.executeUserOp.selector || selector == this.executeUserOpWithErrorString.selector) {
            validationData = _validateOwnerOp(userOp);
        } else if (selector == this.executeRebalance.selector) {
            validationData = _validateKeeperOp(userOp, safe);
        } else {
            revert UnsupportedExecutionFunction(selector);
        }

        // Paid even when the signature fails, so EntryPoint simulation works; the EntryPoint checks the prefund.
        if (missingAccountFunds != 0) {
            ISafe(safe).execTransactionFromModule(SUPPORTED_ENTRYPOINT, missingAccountFunds, "", CALL);
        }
    }

    /// @inheritdoc ILeverageModule
    function executeUserOp(address to, uint256 value, bytes memory data, uint8 operation)
        external
        onlySupportedEntryPoint
    {
        if (!ISafe(msg.sender).execTransactionFromModule(to, value, data, operation)) revert ExecutionFailed();
    }

    /// @inheritdoc ILeverageModule
    function executeUserOpWithErrorString(address to, uint256 value, bytes memory data, uint8 operation)
        external
        onlySupportedEntryPoint
    {
        (bool success, bytes memory returnData) =
            ISafe(msg.sender).execTransactionFromModuleReturnData(to, value, data, operation);
        if (!success) {
            assembly ("memory-safe") {
                revert(add(returnData, 0x20), mload(returnData))
            }
        }
    }

    /// @inheritdoc ILeverageModule
    function domainSeparator() public view returns (bytes32) {
        return SafeOpLib.domainSeparator(address(this));
    }

    /// @inheritdoc ILeverageModule
    function getOperationHash(PackedUserOperation calldata userOp) external view returns (bytes32) {
        (uint48 validAfter, uint48 validUntil,) = SafeOpLib.splitSignature(userOp.signature);
        return keccak256(SafeOpLib.encode(userOp, validAfter, validUntil, SUPPORTED_ENTRYPOINT, domainSeparator()));
    }

    function _validateOwnerOp(PackedUserOperation calldata userOp) internal view returns (uint256) {
        (uint48 validAfter, uint48 validUntil, bytes calldata signatures) = SafeOpLib.splitSignature(userOp.signature);
        bytes memory operationData =
            SafeOpLib.encode(userOp, validAfter, validUntil, SUPPORTED_ENTRYPOINT, domainSeparator());
        try ISafe(userOp.sender).checkSignatures(keccak256(operationData), operationData, signatures) {
            return _packValidationData(false, validUntil, validAfter);
        } catch {
            return _packValidationData(true, validUntil, validAfter);
        }
    }

    /* AUTOMATION LANE: VALIDATION */

    function _validateKeeperOp(PackedUserOperation calldata userOp, address safe) internal view returns (uint256) {
        AutomationConfig storage config = _automation[safe];
        if (config.paused) revert AutomationPaused(safe);
        _checkGasFields(userOp, config);

        uint8 malformed = PlanLib.check(userOp.callData[4:]);
        if (malformed != 0) revert MalformedPlan(malformed);

        address keeper = address(uint160(uint256(bytes32(userOp.callData[4:36]))));
        (uint48 validAfter, uint48 validUntil, bytes calldata signature) = SafeOpLib.splitSignature(userOp.signature);
        KeeperKey memory key = _keepers[keeper][safe];

        bool failed = !key.active || signature.length != 65;
        if (!failed) {
            bytes32 hash = keccak256(SafeOpLib.encode(userOp, validAfter, validUntil, SUPPORTED_ENTRYPOINT, domainSeparator()));
            (address signer, ECDSA.RecoverError error,) = ECDSA.tryRecover(hash, signature);
            failed = error != ECDSA.RecoverError.NoError || signer != keeper;
        }
        if (key.validAfter > validAfter) validAfter = key.validAfter;
        if (validUntil == 0 || key.validUntil < validUntil) validUntil = key.validUntil;
        return _packValidationData(failed, validUntil, validAfter);
    }

    function _checkGasFields(PackedUserOperation calldata userOp, AutomationConfig storage config) internal view {
        uint256 limits = uint256(userOp.accountGasLimits);
        uint256 fees = uint256(userOp.gasFees);
        _cap(0, limits >> 128, config.maxVerificationGasLimit);
        _cap(1, uint128(limits), config.maxCallGasLimit);
        _cap(2, userOp.preVerificationGas, config.maxPreVerificationGas);
        _cap(3, uint128(fees), config.maxFeePerGas);
        _cap(4, fees >> 128, config.maxPriorityFeePerGas);

        bytes calldata paymasterAndData = userOp.paymasterAndData;
        address paymaster;
        if (paymasterAndData.length >= 52) {
            paymaster = address(bytes20(paymasterAndData[0:20]));
            _cap(5, uint128(bytes16(paymasterAndData[20:36])), config.maxPaymasterVerificationGasLimit);
            _cap(6, uint128(bytes16(paymasterAndData[36:52])), config.maxPaymasterPostOpGasLimit);
        }
        address required = config.requiredPaymaster;
        if (required != address(0) && paymaster != required) revert PaymasterNotAllowed(paymaster, required);
    }

    function _cap(uint8 field, uint256 value, uint256 cap) internal pure {
        if (value > cap) revert GasFieldAboveCap(field, value, cap);
    }

    /* AUTOMATION LANE: EXECUTION */

    /// @inheritdoc ILeverageModule
    function executeRebalance(address keeper, Plan calldata plan) external onlySupportedEntryPoint {
        uint256 gasStart = gasleft();
        address safe = msg.sender;

        uint8 malformed = PlanLib.check(msg.data[4:msg.data.length - 20]);
        if (malformed != 0) revert MalformedPlan(malformed);
        KeeperKey memory key = _keepers[keeper][safe];
        if (!key.active || block.timestamp < key.validAfter || block.timestamp > key.validUntil) {
            revert KeeperNotAuthorized(keeper);
        }
        if (_automation[safe].paused) revert AutomationPaused(safe);

        Run[] memory runs = _load(safe, plan.subAccounts);
        int256 valueBefore = _netValue(safe, runs, plan.actions);

        for (uint256 i; i < plan.actions.length; ++i) {
            _execute(safe, runs, plan.actions[i], i);
        }

        uint256 maxLossBps = BPS;
        for (uint256 i; i < runs.length; ++i) {
            Run memory run = runs[i];
            // Net value and health after are judged at the prices the plan was checked against.
            (run.state.collateral, run.state.debt) = run.adapter.position(run.market, safe);
            run.healthAfter = run.state.health();
            Policy storage policy = _policies[run.id][safe];
            _checkPostConditions(run, policy);
            if (policy.maxLossBps < maxLossBps) maxLossBps = policy.maxLossBps;
        }

        int256 valueAfter = _netValue(safe, runs, plan.actions);
        int256 allowedLoss = int256(Math.mulDiv(_abs(valueBefore), maxLossBps, BPS));
        if (valueAfter < valueBefore - allowedLoss) revert ValueLossExceeded(valueBefore, valueAfter, maxLossBps);

        uint256 gasUsed = gasStart - gasleft();
        uint256[] memory before = new uint256[](runs.length);
        uint256[] memory afterwards = new uint256[](runs.length);
        for (uint256 i; i < runs.length; ++i) {
            _recordUsage(safe, runs[i], gasUsed);
            before[i] = runs[i].healthBefore;
            afterwards[i] = runs[i].healthAfter;
        }
        emit Rebalanced(safe, keeper, plan.subAccounts, before, afterwards, gasUsed);
    }

    /// @dev Loads every touched sub-account, checks oracles, cooldowns and the trigger.
    function _load(address safe, bytes32[] calldata ids) internal view returns (Run[] memory runs) {
        runs = new Run[](ids.length);
        bool triggered;
        address loanToken;
        for (uint256 i; i < ids.length; ++i) {
            bytes32 id = ids[i];
            for (uint256 j; j < i; ++j) {
                if (ids[j] == id) revert DuplicateSubAccount(id);
            }
            Policy storage policy = _policies[id][safe];
            address adapter = policy.adapter;
            if (adapter == address(0)) revert UnknownSubAccount(id);

            Run memory run = runs[i];
            run.id = id;
            run.adapter = IVenueAdapter(adapter);
            run.market = policy.market;
            run.state = run.adapter.marketState(run.market, safe);
            if (i == 0) loanToken = run.state.loanToken;
            else if (run.state.loanToken != loanToken) revert MixedLoanTokens(loanToken, run.state.loanToken);
            _checkOracle(id, policy, run.state);

            EpochUsage storage usage = _usage[id][safe];
            uint256 readyAt = uint256(usage.lastRebalance) + policy.cooldown;
            if (usage.lastRebalance != 0 && block.timestamp < readyAt) revert CooldownActive(id, readyAt);

            run.healthBefore = run.state.health();
            if (run.healthBefore < policy.minHealth || (policy.boostAllowed && run.healthBefore > policy.maxHealth)) {
                triggered = true;
            }
        }
        if (!triggered) revert NoTrigger();
    }

    function _checkOracle(bytes32 id, Policy storage policy, MarketState memory state) internal view {
        if (state.price == 0) revert OraclePriceZero(id);
        address feed = policy.priceFeed;
        if (feed == address(0)) return;

        (, int256 answer,, uint256 updatedAt,) = IPriceFeed(feed).latestRoundData();
        if (answer <= 0) revert OraclePriceZero(id);
        if (updatedAt > block.timestamp || block.timestamp - updatedAt > policy.maxOracleAge) {
            revert OracleStale(id, updatedAt, policy.maxOracleAge);
        }
        uint8 feedDecimals = IPriceFeed(feed).decimals();
        // The feed quotes one whole collateral token in whole loan tokens; rescale to Morpho's 1e36 base-unit price.
        uint256 exponent = 36 + uint256(IERC20Metadata(state.loanToken).decimals());
        uint256 divisorExp = uint256(feedDecimals) + IERC20Metadata(state.collateralToken).decimals();
        if (feedDecimals > 36 || divisorExp > exponent) revert OracleDecimals(id, feedDecimals);
        uint256 feedPrice = uint256(answer) * 10 ** (exponent - divisorExp);
        if (HealthLib.distance(state.price, feedPrice) * BPS > feedPrice * policy.maxOracleDeviationBps) {
            revert OracleDeviation(id, state.price, feedPrice);
        }
    }

    function _execute(address safe, Run[] memory runs, Action calldata action, uint256 index) internal {
        Run memory run = runs[action.subAccount];
        Policy storage policy = _policies[run.id][safe];
        ActionKind kind = action.kind;
        uint256 amount = action.amount;
        if (amount == 0) revert ActionNotAllowed(index, kind);

        if (kind == ActionKind.WithdrawFromPool || kind == ActionKind.DepositToPool) {
            address pool = action.pool;
            if (!_isPoolAllowed(policy, pool)) revert PoolNotAllowed(run.id, pool);
            address asset = IERC4626(pool).asset();
            run.moved += _value(asset, amount, runs);
            if (kind == ActionKind.DepositToPool) {
                if (IERC4626(pool).totalSupply() < MIN_POOL_SUPPLY || IERC4626(pool).convertToAssets(1e18) == 0) {
                    revert PoolUnhealthy(pool);
                }
                _callWithApproval(safe, index, pool, abi.encodeCall(IERC4626.deposit, (amount, safe)), asset, amount);
            } else {
                _call(safe, index, pool, abi.encodeCall(IERC4626.withdraw, (amount, safe, safe)));
            }
            return;
        }

        if (action.pool != address(0)) revert ActionNotAllowed(index, kind);
        if (!policy.boostAllowed && (kind == ActionKind.Borrow || kind == ActionKind.WithdrawCollateral)) {
            revert ActionNotAllowed(index, kind);
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

    function _isPoolAllowed(Policy storage policy, address pool) internal view returns (bool) {
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
    ) internal {
        _approve(safe, index, token, target, amount);
        _call(safe, index, target, data);
        _approve(safe, index, token, target, 0);
    }

    function _approve(address safe, uint256 index, address token, address spender, uint256 amount) internal {
        bytes memory result = _call(safe, index, token, abi.encodeCall(IERC20.approve, (spender, amount)));
        // Tokens that return nothing are accepted; a token returning false (or garbage) is a failed action.
        if (result.length != 0 && (result.length != 32 || abi.decode(result, (uint256)) != 1)) {
            revert ActionFailed(index, result);
        }
    }

    function _call(address safe, uint256 index, address target, bytes memory data)
        internal
        returns (bytes memory result)
    {
        // A plan never calls the Safe itself (owners, modules, guard, fallback) nor the module's configuration.
        if (target == safe || target == address(this)) revert ActionFailed(index, "");
        bool success;
        (success, result) = ISafe(safe).execTransactionFromModuleReturnData(target, 0, data, CALL);
        if (!success) revert ActionFailed(index, result);
    }

    function _checkPostConditions(Run memory run, Policy storage policy) internal view {
        uint256 target = policy.targetHealth;
        if (run.healthAfter < policy.minHealth || run.healthAfter > policy.maxHealth) {
            revert HealthOutOfBand(run.id, run.healthAfter, policy.minHealth, policy.maxHealth);
        }
        if (HealthLib.distance(run.healthAfter, target) > HealthLib.distance(run.healthBefore, target)) {
            revert HealthFurtherFromTarget(run.id, run.healthBefore, run.healthAfter);
        }
        if (!policy.boostAllowed && run.healthAfter < run.healthBefore) {
            revert HealthDecreased(run.id, run.healthBefore, run.healthAfter);
        }
        if (run.moved > policy.maxAmountPerRebalance) {
            revert AmountCapExceeded(run.id, run.moved, policy.maxAmountPerRebalance);
        }
    }

    function _recordUsage(address safe, Run memory run, uint256 gasUsed) internal {
        Policy storage policy = _policies[run.id][safe];
        EpochUsage memory usage = _usage[run.id][safe];
        if (usage.epochStart == 0 || block.timestamp >= uint256(usage.epochStart) + policy.epochLength) {
            usage = EpochUsage({epochStart: uint40(block.timestamp), lastRebalance: 0, rebalances: 0, gasUsed: 0, amountMoved: 0});
        }
        uint256 amount = usage.amountMoved + run.moved;
        uint256 count = uint256(usage.rebalances) + 1;
        uint256 gas = uint256(usage.gasUsed) + gasUsed;
        if (amount > policy.maxAmountPerEpoch) revert EpochAmountCapExceeded(run.id, amount, policy.maxAmountPerEpoch);
        if (count > policy.maxRebalancesPerEpoch) {
            revert EpochRebalanceCapExceeded(run.id, count, policy.maxRebalancesPerEpoch);
        }
        if (gas > policy.maxGasPerEpoch) revert EpochGasCapExceeded(run.id, gas, policy.maxGasPerEpoch);
        // Saturating casts: a saturated counter only makes the next check stricter.
        _usage[run.id][safe] = EpochUsage({
            epochStart: usage.epochStart,
            lastRebalance: uint40(block.timestamp),
            rebalances: uint16(count),
            gasUsed: uint48(Math.min(gas, type(uint48).max)),
            amountMoved: uint112(Math.min(amount, type(uint112).max))
        });
    }

    /// @dev Net value in loan units: sub-account equity, plus the Safe's idle loan and collateral tokens and its
    /// shares of the pools the plan touches, all valued at the plan's pre-trade oracle prices.
    function _netValue(address safe, Run[] memory runs, Action[] calldata actions) internal view returns (int256 net) {
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
    function _value(address token, uint256 amount, Run[] memory runs) internal pure returns (uint256) {
        if (token == runs[0].state.loanToken) return amount;
        for (uint256 i; i < runs.length; ++i) {
            if (runs[i].state.collateralToken == token) return HealthLib.collateralValue(amount, runs[i].state.price);
        }
        revert PoolAssetMismatch(address(0), token);
    }

    function _abs(int256 x) internal pure returns (uint256) {
        return x >= 0 ? uint256(x) : uint256(-x);
    }

    /* OWNER CONTROLS */

    /// @inheritdoc ILeverageModule
    function setPolicy(Policy calldata policy) external onlySafeSelf returns (bytes32 id) {
        address safe = msg.sender;
        address adapter = policy.adapter;
        if (adapter == address(0) || !_isAdapter[adapter]) revert InvalidAdapter(adapter);
        if (!IVenueAdapter(adapter).isMarket(policy.market)) revert UnknownMarket(adapter, policy.market);
        if (
            policy.minHealth < HealthLib.WAD || policy.minHealth >= policy.maxHealth
                || policy.targetHealth < policy.minHealth || policy.targetHealth > policy.maxHealth
        ) revert InvalidHealthBand(policy.minHealth, policy.targetHealth, policy.maxHealth);
        if (policy.maxLossBps > BPS) revert InvalidPolicyParameter("maxLossBps");
        if (policy.epochLength == 0) revert InvalidPolicyParameter("epochLength");
        if (policy.maxOracleDeviationBps > BPS) revert InvalidPolicyParameter("maxOracleDeviationBps");
        if (policy.priceFeed != address(0) && policy.maxOracleAge == 0) revert InvalidPolicyParameter("maxOracleAge");
        _checkPools(safe, adapter, policy.market, policy.pools);

        id = subAccountId(adapter, policy.market);
        if (_policies[id][safe].adapter == address(0)) _subAccounts[safe].push(id);
        _policies[id][safe] = policy;
        emit PolicySet(safe, id, adapter, policy.market);
    }

    function _checkPools(address safe, address adapter, bytes32 market, address[] calldata pools) internal view {
        if (pools.length > MAX_POOLS) revert TooManyPools(pools.length, MAX_POOLS);
        if (pools.length == 0) return;
        (address loanToken, address collateralToken) = IVenueAdapter(adapter).marketTokens(market);
        for (uint256 i; i < pools.length; ++i) {
            address pool = pools[i];
            if (pool == address(0) || pool == safe || pool == address(this) || pool.code.length == 0) {
                revert InvalidPool(pool);
            }
            for (uint256 j; j < i; ++j) {
                if (pools[j] == pool) revert DuplicatePool(pool);
            }
            address asset = IERC4626(pool).asset();
            if (asset != loanToken && asset != collateralToken) revert PoolAssetMismatch(pool, asset);
        }
    }

    /// @inheritdoc ILeverageModule
    function removePolicy(bytes32 id) external onlySafeSelf {
        address safe = msg.sender;
        if (_policies[id][safe].adapter == address(0)) revert UnknownSubAccount(id);
        delete _policies[id][safe];
        delete _usage[id][safe];
        bytes32[] storage ids = _subAccounts[safe];
        for (uint256 i; i < ids.length; ++i) {
            if (ids[i] == id) {
                ids[i] = ids[ids.length - 1];
                ids.pop();
                break;
            }
        }
        emit PolicyRemoved(safe, id);
    }

    /// @inheritdoc ILeverageModule
    function addKeeper(address keeper, uint48 validAfter, uint48 validUntil) external onlySafeSelf {
        address safe = msg.sender;
        if (keeper == address(0) || keeper == safe || keeper == address(this)) revert InvalidKeeper(keeper);
        if (validUntil == 0 || validUntil <= validAfter) revert InvalidValidity(validAfter, validUntil);
        _keepers[keeper][safe] = KeeperKey({active: true, validAfter: validAfter, validUntil: validUntil});
        emit KeeperAdded(safe, keeper, validAfter, validUntil);
    }

    /// @inheritdoc ILeverageModule
    function revokeKeeper(address keeper) external onlySafeSelf {
        address safe = msg.sender;
        if (!_keepers[keeper][safe].active) revert InvalidKeeper(keeper);
        delete _keepers[keeper][safe];
        emit KeeperRevoked(safe, keeper);
    }

    /// @inheritdoc ILeverageModule
    function setAutomationConfig(AutomationConfig calldata config) external onlySafeSelf {
        _automation[msg.sender] = config;
        emit AutomationConfigured(msg.sender, config);
    }

    /// @inheritdoc ILeverageModule
    function setPaused(bool paused) external onlySafeSelf {
        _automation[msg.sender].paused = paused;
        emit AutomationPausedSet(msg.sender, paused);
    }

    /* VIEWS */

    /// @inheritdoc ILeverageModule
    function subAccountId(address adapter, bytes32 market) public pure returns (bytes32) {
        return keccak256(abi.encode(adapter, market));
    }

    /// @inheritdoc ILeverageModule
    function adapters() external view returns (address[] memory) {
        return _adapterList;
    }

    /// @inheritdoc ILeverageModule
    function isAdapter(address adapter) external view returns (bool) {
        return _isAdapter[adapter];
    }

    /// @inheritdoc ILeverageModule
    function getPolicy(address safe, bytes32 id) external view returns (Policy memory) {
        return _policies[id][safe];
    }

    /// @inheritdoc ILeverageModule
    function getSubAccounts(address safe) external view returns (bytes32[] memory) {
        return _subAccounts[safe];
    }

    /// @inheritdoc ILeverageModule
    function getKeeper(address safe, address keeper) external view returns (KeeperKey memory) {
        return _keepers[keeper][safe];
    }

    /// @inheritdoc ILeverageModule
    function getAutomationConfig(address safe) external view returns (AutomationConfig memory) {
        return _automation[safe];
    }

    /// @inheritdoc ILeverageModule
    function getEpochUsage(address safe, bytes32 id) external view returns (EpochUsage memory) {
        return _usage[id][safe];
    }

    /// @inheritdoc ILeverageModule
    function health(address safe, bytes32 id) external view returns (uint256) {
        Policy storage policy = _policies[id][safe];
        if (policy.adapter == address(0)) revert UnknownSubAccount(id);
        return IVenueAdapter(policy.adapter).marketState(policy.market, safe).health();
    }
}
