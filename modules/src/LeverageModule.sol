// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {HandlerContext} from "@safe-global/safe-contracts/contracts/handler/HandlerContext.sol";
import {CompatibilityFallbackHandler} from
    "@safe-global/safe-contracts/contracts/handler/CompatibilityFallbackHandler.sol";
import {IAccount} from "@account-abstraction/contracts/interfaces/IAccount.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {_packValidationData} from "@account-abstraction/contracts/core/Helpers.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {
    ILeverageModule,
    Policy,
    AutomationConfig,
    KeeperKey,
    EpochUsage,
    SelfPayBudget,
    Plan
} from "./interfaces/ILeverageModule.sol";
import {IVenueAdapter, MarketState} from "./interfaces/IVenueAdapter.sol";
import {ISafe} from "./interfaces/ISafe.sol";
import {HealthLib} from "./libraries/HealthLib.sol";
import {SafeOpLib} from "./libraries/SafeOpLib.sol";
import {PlanLib} from "./libraries/PlanLib.sol";
import {ModuleStorage} from "./libraries/ModuleStorage.sol";
import {RebalanceLib} from "./libraries/RebalanceLib.sol";

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
/// - Keeper validation reads only `_s.keepers[keeper][safe]` and `_s.automation[safe]` (associated storage, ERC-7562),
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
    uint256 internal constant BPS = 10_000;
    uint8 internal constant CALL = 0;

    address public immutable override SUPPORTED_ENTRYPOINT;

    address[] internal _adapterList;
    mapping(address adapter => bool) internal _isAdapter;
    ModuleStorage internal _s;

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

    function _validateKeeperOp(PackedUserOperation calldata userOp, address safe) internal returns (uint256) {
        AutomationConfig storage config = _s.automation[safe];
        if (config.paused) revert AutomationPaused(safe);
        uint8 malformed = PlanLib.check(userOp.callData[4:]);
        if (malformed != 0) revert MalformedPlan(malformed);

        address keeper = address(uint160(uint256(bytes32(userOp.callData[4:36]))));
        (uint48 validAfter, uint48 validUntil, bytes calldata signature) = SafeOpLib.splitSignature(userOp.signature);
        KeeperKey memory key = _s.keepers[keeper][safe];

        bool failed = !key.active || signature.length != 65;
        if (!failed) {
            bytes32 hash = keccak256(SafeOpLib.encode(userOp, validAfter, validUntil, SUPPORTED_ENTRYPOINT, domainSeparator()));
            (address signer, ECDSA.RecoverError error,) = ECDSA.tryRecover(hash, signature);
            failed = error != ECDSA.RecoverError.NoError || signer != keeper;
        }
        // The signed window, narrowed to the key's.
        if (key.validAfter > validAfter) validAfter = key.validAfter;
        if (validUntil == 0 || key.validUntil < validUntil) validUntil = key.validUntil;
        // An unsigned operation can never execute, so caps and budget are enforced only on signed ones: bundlers
        // estimate gas with a placeholder signature and oversized gas fields, which must reach the execution phase.
        if (failed) return _packValidationData(true, validUntil, validAfter);
        _checkGasFields(userOp, config);
        if (userOp.paymasterAndData.length == 0) _chargeSelfPay(userOp, safe);
        return _packValidationData(false, validUntil, validAfter);
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

    /// @dev Charges the operation's maximum cost to the Safe's self-pay budget (associated storage, no clock).
    function _chargeSelfPay(PackedUserOperation calldata userOp, address safe) internal {
        SelfPayBudget storage budget = _s.selfPay[safe];
        uint256 limits = uint256(userOp.accountGasLimits);
        uint256 gas = (limits >> 128) + uint128(limits) + userOp.preVerificationGas;
        uint256 cost = gas * uint128(uint256(userOp.gasFees));
        uint256 spent = budget.spentWei;
        if (spent + cost > budget.maxWeiPerEpoch) revert SelfPayBudgetExceeded(spent, cost, budget.maxWeiPerEpoch);
        budget.spentWei = uint88(spent + cost);
    }

    function _cap(uint8 field, uint256 value, uint256 cap) internal pure {
        if (value > cap) revert GasFieldAboveCap(field, value, cap);
    }

    /* AUTOMATION LANE: EXECUTION */

    /// @inheritdoc ILeverageModule
    function executeRebalance(address keeper, Plan calldata plan) external onlySupportedEntryPoint {
        address safe = msg.sender;

        uint8 malformed = PlanLib.check(msg.data[4:msg.data.length - 20]);
        if (malformed != 0) revert MalformedPlan(malformed);
        KeeperKey memory key = _s.keepers[keeper][safe];
        if (!key.active || block.timestamp < key.validAfter || block.timestamp > key.validUntil) {
            revert KeeperNotAuthorized(keeper);
        }
        if (_s.automation[safe].paused) revert AutomationPaused(safe);

        RebalanceLib.execute(_s, safe, keeper, plan);

        SelfPayBudget storage budget = _s.selfPay[safe];
        if (budget.epochLength != 0 && block.timestamp >= uint256(budget.epochStart) + budget.epochLength) {
            budget.epochStart = uint40(block.timestamp);
            budget.spentWei = 0;
        }
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
        if (_s.policies[id][safe].adapter == address(0)) _s.subAccounts[safe].push(id);
        _s.policies[id][safe] = policy;
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
        if (_s.policies[id][safe].adapter == address(0)) revert UnknownSubAccount(id);
        delete _s.policies[id][safe];
        delete _s.usage[id][safe];
        bytes32[] storage ids = _s.subAccounts[safe];
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
        _s.keepers[keeper][safe] = KeeperKey({active: true, validAfter: validAfter, validUntil: validUntil});
        emit KeeperAdded(safe, keeper, validAfter, validUntil);
    }

    /// @inheritdoc ILeverageModule
    function revokeKeeper(address keeper) external onlySafeSelf {
        address safe = msg.sender;
        if (!_s.keepers[keeper][safe].active) revert InvalidKeeper(keeper);
        delete _s.keepers[keeper][safe];
        emit KeeperRevoked(safe, keeper);
    }

    /// @inheritdoc ILeverageModule
    function setAutomationConfig(AutomationConfig calldata config) external onlySafeSelf {
        _s.automation[msg.sender] = config;
        emit AutomationConfigured(msg.sender, config);
    }

    /// @inheritdoc ILeverageModule
    function setPaused(bool paused) external onlySafeSelf {
        _s.automation[msg.sender].paused = paused;
        emit AutomationPausedSet(msg.sender, paused);
    }

    /// @inheritdoc ILeverageModule
    function setSelfPayBudget(uint96 maxWeiPerEpoch, uint32 epochLength) external onlySafeSelf {
        _s.selfPay[msg.sender] = SelfPayBudget({
            maxWeiPerEpoch: maxWeiPerEpoch,
            epochLength: epochLength,
            epochStart: uint40(block.timestamp),
            spentWei: 0
        });
        emit SelfPayBudgetSet(msg.sender, maxWeiPerEpoch, epochLength);
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
        return _s.policies[id][safe];
    }

    /// @inheritdoc ILeverageModule
    function getSubAccounts(address safe) external view returns (bytes32[] memory) {
        return _s.subAccounts[safe];
    }

    /// @inheritdoc ILeverageModule
    function getKeeper(address safe, address keeper) external view returns (KeeperKey memory) {
        return _s.keepers[keeper][safe];
    }

    /// @inheritdoc ILeverageModule
    function getAutomationConfig(address safe) external view returns (AutomationConfig memory) {
        return _s.automation[safe];
    }

    /// @inheritdoc ILeverageModule
    function getSelfPayBudget(address safe) external view returns (SelfPayBudget memory) {
        return _s.selfPay[safe];
    }

    /// @inheritdoc ILeverageModule
    function getEpochUsage(address safe, bytes32 id) external view returns (EpochUsage memory) {
        return _s.usage[id][safe];
    }

    /// @inheritdoc ILeverageModule
    function health(address safe, bytes32 id) external view returns (uint256) {
        Policy storage policy = _s.policies[id][safe];
        if (policy.adapter == address(0)) revert UnknownSubAccount(id);
        return IVenueAdapter(policy.adapter).marketState(policy.market, safe).health();
    }
}
