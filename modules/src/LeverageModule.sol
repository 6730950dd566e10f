// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {HandlerContext} from "@safe-global/safe-contracts/contracts/handler/HandlerContext.sol";
import {CompatibilityFallbackHandler} from
    "@safe-global/safe-contracts/contracts/handler/CompatibilityFallbackHandler.sol";
import {IAccount} from "@account-abstraction/contracts/interfaces/IAccount.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {_packValidationData} from "@account-abstraction/contracts/core/Helpers.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {
    ILeverageModule,
    Policy,
    AutomationConfig,
    KeeperKey,
    EpochUsage,
    SelfPayBudget,
    StopLoss,
    Plan
} from "./interfaces/ILeverageModule.sol";
import {IVenueAdapter} from "./interfaces/IVenueAdapter.sol";
import {ISafe} from "./interfaces/ISafe.sol";
import {SafeOpLib} from "./libraries/SafeOpLib.sol";
import {PlanLib} from "./libraries/PlanLib.sol";
import {ActiveRebalance, ModuleStorage, PolicyRecord, PolicyData} from "./libraries/ModuleStorage.sol";
import {RebalanceLib} from "./libraries/RebalanceLib.sol";
import {OwnerControlsLib} from "./libraries/OwnerControlsLib.sol";
import {ConstantsLib} from "./libraries/ConstantsLib.sol";

/// @title LeverageModule
/// @notice Safe v1.4.1 module + fallback handler for EntryPoint v0.7: the Safe4337Module owner lane, plus an
/// automation lane in which keeper session keys rebalance leveraged sub-accounts inside the Safe's policies.
/// @dev Security considerations:
/// - Only the configured EntryPoint can reach `validateUserOp`, `executeUserOp*` and `executeRebalance`; the
///   EntryPoint is read from the ERC-2771 suffix the Safe's FallbackManager appends, and the Safe must be the
///   operation's sender.
/// - Owner-lane signatures must be exactly what the Safe's threshold needs (no trailing bytes a bundler could add).
/// - A keeper operation can only call `executeRebalance`, on its keeper's own nonce key (a hash of the keeper address,
///   the key generation and the salt drawn at the key's registration; never key 0 or an owner's key); its signature is a plain 65-byte ECDSA signature of the SafeOp hash by
///   a key the Safe registered in the current key generation (contract signatures are refused), and it is re-checked
///   at execution so a revocation, reset or pause in the same bundle stops it.
/// - Keeper validation reads only `_s.keepers[keeper][safe]`, `_s.automation[safe]`, `_s.selfPay[safe]` and
///   `_s.sponsors[paymaster][safe]` (associated storage, ERC-7562), no oracle, no TIMESTAMP; key validity is returned as
///   validAfter/validUntil, and that window pins the self-pay epoch (the EntryPoint enforces it, and a future-dated
///   window reverts the whole bundle, AA22, so it cannot reset the budget early).
/// - Plan execution uses CALL only, through allowlisted adapters fixed at deployment and pools allowlisted by the
///   Safe; every receiver and onBehalf is the Safe; approvals are exact and reset to zero after each action.
/// - Post-conditions bound what any plan can do: every listed sub-account changes; a triggered one moves at least half
///   way from the breached edge toward its target, one not due only moves toward its target; per-rebalance and
///   per-epoch caps; a loss bound per operation (in bps of what the positions moved) and per epoch (in bps of each
///   changed sub-account's equity). Oracles are sanity-checked (non-zero; with a second feed: fresh, inside its bounds,
///   close to it) before anything moves.
/// - Swaps go only through the swap adapter fixed at deployment, in the sub-account's own loan and collateral tokens,
///   paid to the Safe, with a minimum output from the pre-trade oracle price and maxSlippageBps re-checked on the Safe's
///   balance. Venue callbacks (reached through the fallback handler) are accepted only while an executeRebalance of the
///   same Safe runs, from the venue its callback action just called, with the data it armed, once (transient storage).
/// - Configuration is only reachable by the Safe calling itself (`_msgSender() == msg.sender`): an outsider calling
///   the Safe's fallback has its own address appended and is refused. No admin, no upgrade path.
/// @custom:security-contact security@leverage-autopilot.invalid
contract LeverageModule is ILeverageModule, HandlerContext, CompatibilityFallbackHandler {
    /// @notice Most ERC-4626 pools one policy may allow (ConstantsLib.MAX_POOLS).
    uint256 public constant MAX_POOLS = ConstantsLib.MAX_POOLS;

    address public immutable override SUPPORTED_ENTRYPOINT;
    /// @dev The swap adapter fixed at deployment (zero: no swaps); no function changes it.
    address internal immutable SWAP_ADAPTER;

    address[] internal _adapterList;
    mapping(address adapter => bool) internal _isAdapter;
    ModuleStorage internal _s;

    /// @param entryPoint The EntryPoint v0.7 every lane is reached through.
    /// @param venueAdapters Venue adapters, fixed for the module's life.
    /// @param swapAdapter The swap adapter (`ISwapAdapter`), fixed for the module's life; zero: this module never swaps.
    constructor(address entryPoint, address[] memory venueAdapters, address swapAdapter) {
        if (entryPoint == address(0)) revert InvalidEntryPoint();
        if (swapAdapter != address(0) && swapAdapter.code.length == 0) revert InvalidSwapAdapter(swapAdapter);
        // The linked engine has code: checked here once, not before each `executeRebalance`'s DELEGATECALL (see there).
        if (address(RebalanceLib).code.length == 0) revert();
        SUPPORTED_ENTRYPOINT = entryPoint;
        SWAP_ADAPTER = swapAdapter;
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
            ISafe(safe).execTransactionFromModule(SUPPORTED_ENTRYPOINT, missingAccountFunds, "", ConstantsLib.CALL);
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

    /// @dev As Safe4337Module v0.3.0, except that signatures longer than the threshold needs fail (SIG_VALIDATION_FAILED).
    function _validateOwnerOp(PackedUserOperation calldata userOp) internal view returns (uint256) {
        (uint48 validAfter, uint48 validUntil, bytes calldata signatures) = SafeOpLib.splitSignature(userOp.signature);
        bytes memory operationData =
            SafeOpLib.encode(userOp, validAfter, validUntil, SUPPORTED_ENTRYPOINT, domainSeparator());
        bool valid = SafeOpLib.isCanonicalSignatureLength(signatures, ISafe(userOp.sender).getThreshold());
        try ISafe(userOp.sender).checkSignatures(keccak256(operationData), operationData, signatures) {}
        catch {
            valid = false;
        }
        return _packValidationData(!valid, validUntil, validAfter);
    }

    /* AUTOMATION LANE: VALIDATION */

    function _validateKeeperOp(PackedUserOperation calldata userOp, address safe) internal returns (uint256) {
        AutomationConfig storage config = _s.automation[safe];
        if (config.paused) revert AutomationPaused(safe);
        uint8 malformed = PlanLib.check(userOp.callData[4:]);
        if (malformed != 0) revert MalformedPlan(malformed);

        address keeper = address(uint160(uint256(bytes32(userOp.callData[4:36]))));
        KeeperKey memory key = _s.keepers[keeper][safe];
        _checkNonceKey(userOp.nonce, keeper, config.keyGeneration, key.salt);
        (bool failed, uint48 validAfter, uint48 validUntil) = _checkKeeperSignature(userOp, key, keeper, config.keyGeneration);
        // An unsigned operation can never execute, so caps and budget are enforced only on signed ones: bundlers
        // estimate gas with a placeholder signature and oversized gas fields, which must reach the execution phase.
        if (failed) return _packValidationData(true, validUntil, validAfter);
        (address paymaster, uint256 maxGas) = _checkGasFields(userOp, config);
        if (paymaster == address(0) || !_s.sponsors[paymaster][safe]) {
            _chargeSelfPay(safe, maxGas * uint128(uint256(userOp.gasFees)), validAfter, validUntil);
        }
        return _packValidationData(false, validUntil, validAfter);
    }

    /// @dev Caps every gas field; returns the paymaster (zero when none) and the operation's total gas limit, the
    /// paymaster's limits included (what the EntryPoint's prefund multiplies by maxFeePerGas).
    function _checkGasFields(PackedUserOperation calldata userOp, AutomationConfig storage config)
        internal
        view
        returns (address paymaster, uint256 maxGas)
    {
        uint256 limits = uint256(userOp.accountGasLimits);
        uint256 fees = uint256(userOp.gasFees);
        _cap(ConstantsLib.GAS_FIELD_VERIFICATION_GAS_LIMIT, limits >> 128, config.maxVerificationGasLimit);
        _cap(ConstantsLib.GAS_FIELD_CALL_GAS_LIMIT, uint128(limits), config.maxCallGasLimit);
        _cap(ConstantsLib.GAS_FIELD_PRE_VERIFICATION_GAS, userOp.preVerificationGas, config.maxPreVerificationGas);
        _cap(ConstantsLib.GAS_FIELD_MAX_FEE_PER_GAS, uint128(fees), config.maxFeePerGas);
        _cap(ConstantsLib.GAS_FIELD_MAX_PRIORITY_FEE_PER_GAS, fees >> 128, config.maxPriorityFeePerGas);
        maxGas = (limits >> 128) + uint128(limits) + userOp.preVerificationGas;

        bytes calldata paymasterAndData = userOp.paymasterAndData;
        if (paymasterAndData.length >= 52) {
            paymaster = address(bytes20(paymasterAndData[0:20]));
            uint256 verification = uint128(bytes16(paymasterAndData[20:36]));
            uint256 postOp = uint128(bytes16(paymasterAndData[36:52]));
            _cap(ConstantsLib.GAS_FIELD_PAYMASTER_VERIFICATION_GAS_LIMIT, verification, config.maxPaymasterVerificationGasLimit);
            _cap(ConstantsLib.GAS_FIELD_PAYMASTER_POST_OP_GAS_LIMIT, postOp, config.maxPaymasterPostOpGasLimit);
            maxGas += verification + postOp;
        }
        address required = config.requiredPaymaster;
        if (required != address(0) && paymaster != required) revert PaymasterNotAllowed(paymaster, required);
    }

    /// @dev Charges `cost` to the self-pay budget of the aligned epoch that holds the whole validity window (associated
    /// storage, no clock): a newer epoch starts from zero, an older one is refused.
    function _chargeSelfPay(address safe, uint256 cost, uint48 validAfter, uint48 validUntil) internal {
        // An empty window (a key not yet valid when the signature expires) never executes: the EntryPoint refuses it
        // (AA22) and reverts the bundle, so there is nothing to charge.
        if (validAfter > validUntil) return;
        SelfPayBudget memory budget = _s.selfPay[safe];
        uint256 epochLength = budget.epochLength;
        if (epochLength == 0) revert SelfPayBudgetExceeded(0, cost, 0);
        uint256 epoch = validAfter / epochLength;
        if (validUntil / epochLength != epoch) revert ValidityWindowSpansEpochs(validAfter, validUntil, budget.epochLength);
        if (epoch < budget.epoch) revert SelfPayEpochPassed(epoch, budget.epoch);
        uint256 spent = epoch == budget.epoch ? budget.spentWei : 0;
        if (spent + cost > budget.maxWeiPerEpoch) revert SelfPayBudgetExceeded(spent, cost, budget.maxWeiPerEpoch);
        // spent + cost <= maxWeiPerEpoch <= 2^88 - 1 (setSelfPayBudget). A window the EntryPoint can accept is before the
        // year 36,000, so its epoch fits 40 bits; a later one reverts the whole bundle (AA22) and nothing is stored.
        _s.selfPay[safe] = SelfPayBudget({
            maxWeiPerEpoch: budget.maxWeiPerEpoch,
            epochLength: budget.epochLength,
            epoch: uint40(epoch),
            spentWei: uint88(spent + cost)
        });
    }

    /// @dev Whether the signature fails (inactive key, other generation, not the keeper's), and the signed window
    /// narrowed to the key's: what the EntryPoint enforces.
    function _checkKeeperSignature(PackedUserOperation calldata userOp, KeeperKey memory key, address keeper, uint32 generation)
        internal
        view
        returns (bool failed, uint48 validAfter, uint48 validUntil)
    {
        bytes calldata signature;
        (validAfter, validUntil, signature) = SafeOpLib.splitSignature(userOp.signature);
        failed = !key.active || key.generation != generation || !_signedBy(userOp, keeper, validAfter, validUntil, signature);
        if (key.validAfter > validAfter) validAfter = key.validAfter;
        if (validUntil == 0 || key.validUntil < validUntil) validUntil = key.validUntil;
    }

    /// @dev A plain 65-byte ECDSA signature by `keeper` of the SafeOp hash (no contract signature, no malleable s).
    function _signedBy(
        PackedUserOperation calldata userOp,
        address keeper,
        uint48 validAfter,
        uint48 validUntil,
        bytes calldata signature
    ) internal view returns (bool) {
        if (signature.length != 65) return false;
        bytes32 hash = keccak256(SafeOpLib.encode(userOp, validAfter, validUntil, SUPPORTED_ENTRYPOINT, domainSeparator()));
        (address signer, ECDSA.RecoverError error,) = ECDSA.tryRecover(hash, signature);
        return error == ECDSA.RecoverError.NoError && signer == keeper;
    }

    function _checkNonceKey(uint256 nonce, address keeper, uint32 generation, uint112 salt) internal pure {
        uint192 nonceKey = uint192(nonce >> 64);
        uint192 expected = _keeperNonceKey(keeper, generation, salt);
        if (nonceKey != expected) revert KeeperNonceKeyInvalid(nonceKey, expected);
    }

    function _cap(uint8 field, uint256 value, uint256 cap) internal pure {
        if (value > cap) revert GasFieldAboveCap(field, value, cap);
    }

    /// @dev Hash-derived (192 bits), so no operation can be signed for a registration before it happens.
    function _keeperNonceKey(address keeper, uint32 generation, uint112 salt) internal pure returns (uint192) {
        return uint192(uint256(keccak256(abi.encode(keeper, generation, salt))));
    }

    /* AUTOMATION LANE: EXECUTION */

    /// @inheritdoc ILeverageModule
    function executeRebalance(address keeper, Plan calldata plan) external onlySupportedEntryPoint {
        address safe = msg.sender;

        // Gas (issue 15): validation ran the same check on the same bytes (about 2,450 gas for a 2-action plan). It is
        // repeated because this function's only guard is the EntryPoint's address: the Safe's fallback handler can change
        // between the bundle's validation and execution phases (an earlier operation's execution), so the operation may
        // not have been validated by this module.
        uint8 malformed = PlanLib.check(msg.data[4:msg.data.length - 20]);
        if (malformed != 0) revert MalformedPlan(malformed);
        AutomationConfig storage config = _s.automation[safe];
        KeeperKey memory key = _s.keepers[keeper][safe];
        if (
            !key.active || key.generation != config.keyGeneration || block.timestamp < key.validAfter
                || block.timestamp > key.validUntil
        ) revert KeeperNotAuthorized(keeper);
        if (config.paused) revert AutomationPaused(safe);

        // `RebalanceLib.execute(_s, safe, keeper, SWAP_ADAPTER, plan)` with the plan's bytes as they came. Gas (issue
        // 15): the ABI coder re-encoded the plan into memory, checking every field again (about 500 gas an action);
        // PlanLib.check above proved those bytes canonical (the plan's tuple: after the selector, keeper and its offset,
        // up to the 20 bytes of the sender the fallback handler appends), and a tuple's inner offsets are relative to
        // its start, so placed at offset 0xa0 after the four head words they are exactly what the coder wrote. A revert
        // is bubbled up; the engine returns nothing. Gas (issue 15): the engine's code is not checked here (an
        // EXTCODESIZE; entry -117 gas an operation, measured with `npm run bench:gas`), though a DELEGATECALL to an
        // account without code would succeed doing nothing, but once, in the constructor: the library's address is
        // linked into this code and its code cannot go away (a library has no SELFDESTRUCT, and since EIP-6780 none
        // deletes code outside its creating transaction). modules/test/unit/EngineCode.t.sol.
        address engine = address(RebalanceLib);
        bytes4 selector = RebalanceLib.execute.selector;
        address swapper = SWAP_ADAPTER;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            let length := sub(sub(calldatasize(), 20), plan) // `plan`: the tuple's calldata offset (68)
            mstore(ptr, selector)
            mstore(add(ptr, 0x04), _s.slot)
            mstore(add(ptr, 0x24), safe)
            mstore(add(ptr, 0x44), keeper)
            mstore(add(ptr, 0x64), swapper)
            mstore(add(ptr, 0x84), 0xa0)
            calldatacopy(add(ptr, 0xa4), plan, length)
            if iszero(delegatecall(gas(), engine, ptr, add(0xa4, length), 0, 0)) {
                returndatacopy(ptr, 0, returndatasize())
                revert(ptr, returndatasize())
            }
        }
    }

    /* VENUE CALLBACKS (through the Safe's fallback handler: msg.sender is the Safe, _msgSender() the venue) */

    /// @inheritdoc ILeverageModule
    function onMorphoRepay(uint256 assets, bytes calldata data) external {
        RebalanceLib.callback(SWAP_ADAPTER, this.onMorphoRepay.selector, _msgSender(), assets, data);
    }

    /// @inheritdoc ILeverageModule
    function onMorphoSupplyCollateral(uint256 assets, bytes calldata data) external {
        RebalanceLib.callback(SWAP_ADAPTER, this.onMorphoSupplyCollateral.selector, _msgSender(), assets, data);
    }

    /// @inheritdoc ILeverageModule
    function onMorphoFlashLoan(uint256 assets, bytes calldata data) external {
        RebalanceLib.callback(SWAP_ADAPTER, this.onMorphoFlashLoan.selector, _msgSender(), assets, data);
    }

    /* OWNER CONTROLS */

    /// @inheritdoc ILeverageModule
    function setPolicy(Policy calldata policy) external onlySafeSelf returns (bytes32 id) {
        address safe = msg.sender;
        ActiveRebalance.refuse(safe); // review rr15p F1: not while this Safe's rebalance runs
        address adapter = policy.adapter;
        if (adapter == address(0) || !_isAdapter[adapter]) revert InvalidAdapter(adapter);
        bytes32 venueAccount = IVenueAdapter(adapter).accountKey(policy.market);
        if (venueAccount == 0) revert UnknownMarket(adapter, policy.market);
        _checkBand(safe, adapter, policy);
        if (policy.maxLossBps > ConstantsLib.BPS) revert InvalidPolicyParameter("maxLossBps");
        if (policy.maxEpochLossBps > ConstantsLib.BPS) revert InvalidPolicyParameter("maxEpochLossBps");
        if (policy.maxSlippageBps > ConstantsLib.MAX_SLIPPAGE_BPS || (policy.maxSlippageBps != 0 && SWAP_ADAPTER == address(0)))
        {
            revert InvalidPolicyParameter("maxSlippageBps");
        }
        if (policy.epochLength == 0) revert InvalidPolicyParameter("epochLength");
        if (policy.maxOracleDeviationBps > ConstantsLib.BPS) revert InvalidPolicyParameter("maxOracleDeviationBps");
        if (policy.priceFeed == address(0)) {
            // Bounds without a feed would read as a check that never runs.
            if (policy.minFeedAnswer != 0 || policy.maxFeedAnswer != 0) revert InvalidPolicyParameter("minFeedAnswer");
        } else {
            if (policy.maxOracleAge == 0) revert InvalidPolicyParameter("maxOracleAge");
            if (policy.maxFeedAnswer != 0 && policy.maxFeedAnswer <= policy.minFeedAnswer) {
                revert InvalidPolicyParameter("maxFeedAnswer");
            }
        }
        // Size (EIP-170): checked in OwnerControlsLib (`address(this)` is the module there too).
        OwnerControlsLib.checkPools(safe, adapter, policy.market, policy.pools);

        id = subAccountId(adapter, policy.market);
        // The stop never sits inside the band: a wider band must first lower (or clear) the stop's exit health.
        // (setStopLoss checked its upper bound, MAX_EXIT_HEALTH.)
        uint256 exitHealth = _s.stops[id][safe].exitHealth;
        // Review rr13t T2: and no epoch cap whose half (the stop exit's share) is 0 (OwnerControlsLib).
        if (exitHealth != 0) {
            OwnerControlsLib.checkStopPolicy(
                exitHealth, policy.maxHealth, policy.maxRebalancesPerEpoch, policy.maxAmountPerEpoch, policy.maxGasPerEpoch
            );
        }
        // One policy per venue account: an Aave account is one position whatever market id (or adapter on the same pool)
        // names it, and two policies would each count its whole health, equity and losses.
        bytes32 holder = _s.accountHolders[venueAccount][safe];
        if (holder != id && _s.policies[holder][safe].data != address(0)) revert VenueAccountTaken(id, holder);
        _s.accountHolders[venueAccount][safe] = id;
        address previous = _s.policies[id][safe].data;
        if (previous == address(0)) _s.subAccounts[safe].push(id);
        else _setAllowedPools(id, safe, PolicyData.pools(previous), false);
        // Gas (issue 15): the policy is stored as the code of a new data contract (PolicyData, created by the module in
        // OwnerControlsLib: EIP-170), its address and the stop's flag in one slot (PolicyRecord; SECURITY.md rows 132,
        // 143): a rebalance reads it with one cold SLOAD and one cold EXTCODECOPY instead of six cold slots. The flag
        // is rewritten from the stop (a stored stop always has exitHealth != 0).
        _s.policies[id][safe] = PolicyRecord({data: OwnerControlsLib.writePolicy(policy), stopSet: exitHealth != 0});
        _setAllowedPools(id, safe, policy.pools, true);
        // Gas (issue 15): the epoch record's slot is made non-zero here, once, so no rebalance ever pays the 20,000-gas
        // zero-to-nonzero write for it (a new epoch rewrites a non-zero slot). Zero counters in the current epoch mean
        // exactly what an empty record means: no cooldown running, nothing spent.
        EpochUsage storage usage = _s.usage[id][safe];
        if (usage.epoch == 0 && usage.lastRebalance == 0) usage.epoch = uint32(block.timestamp / policy.epochLength);
        emit PolicySet(safe, id, adapter, policy.market);
    }

    /// @dev 1 <= minHealth, a real gap from each band edge to the target, minHealth at least the venue's liquidation
    /// incentive factor, and (boosts allowed) the target at least the venue's `minBorrowHealth` for `safe`'s position.
    function _checkBand(address safe, address adapter, Policy calldata policy) internal view {
        uint256 minHealth = policy.minHealth;
        uint256 target = policy.targetHealth;
        uint256 maxHealth = policy.maxHealth;
        if (
            minHealth < ConstantsLib.WAD || target < minHealth + ConstantsLib.MIN_BAND_GAP
                || maxHealth < target + ConstantsLib.MIN_BAND_GAP
        ) revert InvalidHealthBand(minHealth, target, maxHealth);
        uint256 incentive = IVenueAdapter(adapter).liquidationIncentiveFactor(policy.market);
        if (minHealth < incentive) revert MinHealthBelowLiquidationIncentive(minHealth, incentive);
        // A boost can only aim where the venue lends (Aave: the Safe's account's average LT / average LTV at the most);
        // without boosts no action may lower health, so the target is then reached by repaying only.
        if (policy.boostAllowed) {
            uint256 reach = IVenueAdapter(adapter).minBorrowHealth(policy.market, safe);
            if (target < reach) revert TargetHealthBelowBorrowReach(target, reach);
        }
    }

    /// @dev Sets (`allowed`) or clears each pool of `pools` in `_s.allowedPools` (the set the engine checks pool actions
    /// against): the stored policy's list (PolicyData.pools) cleared before it is replaced or removed, the new list set
    /// when it is stored.
    function _setAllowedPools(bytes32 id, address safe, address[] memory pools, bool allowed) internal {
        for (uint256 i; i < pools.length; ++i) {
            _s.allowedPools[id][safe][pools[i]] = allowed;
        }
    }

    /// @inheritdoc ILeverageModule
    function removePolicy(bytes32 id) external onlySafeSelf {
        address safe = msg.sender;
        ActiveRebalance.refuse(safe); // review rr15p F1: not while this Safe's rebalance runs
        address data = _s.policies[id][safe].data;
        if (data == address(0)) revert UnknownSubAccount(id);
        _setAllowedPools(id, safe, PolicyData.pools(data), false);
        delete _s.policies[id][safe]; // the data address and the stop's flag: the sub-account reads as unknown
        delete _s.usage[id][safe];
        delete _s.stops[id][safe];
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
    /// @dev Size (EIP-170): validated and stored by OwnerControlsLib (the Safe is `msg.sender` there too).
    function setStopLoss(bytes32 id, uint192 stopPrice, uint64 exitHealth) external onlySafeSelf {
        OwnerControlsLib.setStopLoss(_s, id, stopPrice, exitHealth);
    }

    /// @inheritdoc ILeverageModule
    function addKeeper(address keeper, uint48 validAfter, uint48 validUntil) external onlySafeSelf {
        address safe = msg.sender;
        if (keeper == address(0) || keeper == safe || keeper == address(this)) revert InvalidKeeper(keeper);
        if (validUntil == 0 || validUntil <= validAfter) revert InvalidValidity(validAfter, validUntil);
        // A fresh salt at every registration (never 0): the parent block's hash is unknown before that block exists,
        // so no operation signed before it carries the nonce key this call creates (ILeverageModule.KeeperKey); the
        // previous salt is chained in, so a revoke and re-add within one block still changes it.
        uint112 previous = _s.keepers[keeper][safe].salt;
        _s.keepers[keeper][safe] = KeeperKey({
            active: true,
            validAfter: validAfter,
            validUntil: validUntil,
            generation: _s.automation[safe].keyGeneration,
            salt: uint112(uint256(keccak256(abi.encode(blockhash(block.number - 1), safe, keeper, previous)))) | 1
        });
        emit KeeperAdded(safe, keeper, validAfter, validUntil);
    }

    /// @inheritdoc ILeverageModule
    function revokeKeeper(address keeper) external onlySafeSelf {
        address safe = msg.sender;
        if (!_isActive(_s.keepers[keeper][safe], safe)) revert InvalidKeeper(keeper);
        // The salt stays, chained into the next registration's (addKeeper).
        _s.keepers[keeper][safe].active = false;
        emit KeeperRevoked(safe, keeper);
    }

    /// @inheritdoc ILeverageModule
    function revokeAllKeepers() external onlySafeSelf returns (uint32 keyGeneration) {
        address safe = msg.sender;
        keyGeneration = _s.automation[safe].keyGeneration + 1;
        _s.automation[safe].keyGeneration = keyGeneration;
        emit KeepersReset(safe, keyGeneration);
    }

    /// @inheritdoc ILeverageModule
    function setAutomationConfig(AutomationConfig calldata config) external onlySafeSelf {
        AutomationConfig memory stored = config;
        stored.keyGeneration = _s.automation[msg.sender].keyGeneration;
        _s.automation[msg.sender] = stored;
        emit AutomationConfigured(msg.sender, stored);
    }

    /// @inheritdoc ILeverageModule
    function setPaused(bool paused) external onlySafeSelf {
        _s.automation[msg.sender].paused = paused;
        emit AutomationPausedSet(msg.sender, paused);
    }

    /// @inheritdoc ILeverageModule
    function setSelfPayBudget(uint96 maxWeiPerEpoch, uint32 epochLength) external onlySafeSelf {
        if (maxWeiPerEpoch > type(uint88).max) revert InvalidPolicyParameter("maxWeiPerEpoch");
        if (maxWeiPerEpoch != 0 && epochLength == 0) revert InvalidPolicyParameter("epochLength");
        _s.selfPay[msg.sender] = SelfPayBudget({
            maxWeiPerEpoch: maxWeiPerEpoch,
            epochLength: epochLength,
            epoch: epochLength == 0 ? 0 : uint40(block.timestamp / epochLength),
            spentWei: 0
        });
        emit SelfPayBudgetSet(msg.sender, maxWeiPerEpoch, epochLength);
    }

    /// @inheritdoc ILeverageModule
    function setSponsor(address paymaster, bool sponsored) external onlySafeSelf {
        if (paymaster == address(0)) revert InvalidSponsor(paymaster);
        _s.sponsors[paymaster][msg.sender] = sponsored;
        emit SponsorSet(msg.sender, paymaster, sponsored);
    }

    /* VIEWS */

    function _isActive(KeeperKey memory key, address safe) internal view returns (bool) {
        return key.active && key.generation == _s.automation[safe].keyGeneration;
    }

    /// @inheritdoc ILeverageModule
    function subAccountId(address adapter, bytes32 market) public pure returns (bytes32) {
        return keccak256(abi.encode(adapter, market));
    }

    /// @inheritdoc ILeverageModule
    function adapters() external view returns (address[] memory) {
        return _adapterList;
    }

    /// @inheritdoc ILeverageModule
    function swapAdapter() external view returns (address) {
        return SWAP_ADAPTER;
    }

    /// @inheritdoc ILeverageModule
    function isAdapter(address adapter) external view returns (bool) {
        return _isAdapter[adapter];
    }

    /// @inheritdoc ILeverageModule
    /// @dev Decoded from the policy's data contract (PolicyData.readAll): the struct setPolicy was given.
    function getPolicy(address safe, bytes32 id) external view returns (Policy memory) {
        return PolicyData.readAll(_s.policies[id][safe].data);
    }

    /// @inheritdoc ILeverageModule
    function getStopLoss(address safe, bytes32 id) external view returns (StopLoss memory) {
        return _s.stops[id][safe];
    }

    /// @inheritdoc ILeverageModule
    function getSubAccounts(address safe) external view returns (bytes32[] memory) {
        return _s.subAccounts[safe];
    }

    /// @inheritdoc ILeverageModule
    function getKeeper(address safe, address keeper) external view returns (KeeperKey memory key) {
        key = _s.keepers[keeper][safe];
        key.active = _isActive(key, safe);
    }

    /// @inheritdoc ILeverageModule
    function keeperNonceKey(address safe, address keeper) external view returns (uint192) {
        return _keeperNonceKey(keeper, _s.automation[safe].keyGeneration, _s.keepers[keeper][safe].salt);
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
    function isSponsor(address safe, address paymaster) external view returns (bool) {
        return _s.sponsors[paymaster][safe];
    }

    /// @inheritdoc ILeverageModule
    function getEpochUsage(address safe, bytes32 id) external view returns (EpochUsage memory) {
        return _s.usage[id][safe];
    }

    /// @inheritdoc ILeverageModule
    function health(address safe, bytes32 id) external view returns (uint256) {
        address data = _s.policies[id][safe].data;
        if (data == address(0)) revert UnknownSubAccount(id);
        Policy memory policy = PolicyData.read(data);
        return IVenueAdapter(policy.adapter).health(policy.market, safe);
    }
}
