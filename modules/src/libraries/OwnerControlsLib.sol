// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";

import {ILeverageModule, Policy, StopLoss} from "../interfaces/ILeverageModule.sol";
import {IVenueAdapter} from "../interfaces/IVenueAdapter.sol";
import {ConstantsLib} from "./ConstantsLib.sol";
import {ActiveRebalance, ModuleStorage, PolicyRecord, PolicyData} from "./ModuleStorage.sol";

/// @title OwnerControlsLib
/// @notice Owner controls of the module moved out of it so it fits the EIP-170 size limit: the stop-loss setter
/// (docs/stop-loss-exit.md), setPolicy's pool list check and the creation of a policy's data contract (`PolicyData`).
/// @dev An external library (linked at deployment, immutable), reached only by DELEGATECALL from the module's
/// `onlySafeSelf` functions: it runs in the module's context, so `msg.sender` is the Safe and `address(this)` the module.
library OwnerControlsLib {
    /// @notice `ILeverageModule.setStopLoss` for the calling Safe: a sub-account with a policy (`UnknownSubAccount`);
    /// both zero clears the stop; else `stopPrice` > 0 (venue oracle units, 1e36-scaled) and `maxHealth + MIN_BAND_GAP
    /// <= exitHealth <= MAX_EXIT_HEALTH` (WAD), each failure `InvalidStopLoss(field)`. One slot; emits `StopLossSet`.
    function setStopLoss(ModuleStorage storage s, bytes32 id, uint192 stopPrice, uint64 exitHealth) external {
        address safe = msg.sender;
        ActiveRebalance.refuse(safe); // review rr15p F1
        PolicyRecord storage record = s.policies[id][safe];
        address data = record.data;
        if (data == address(0)) revert ILeverageModule.UnknownSubAccount(id);
        if (stopPrice != 0 || exitHealth != 0) {
            if (stopPrice == 0) revert ILeverageModule.InvalidStopLoss("stopPrice");
            if (exitHealth > ConstantsLib.MAX_EXIT_HEALTH) revert ILeverageModule.InvalidStopLoss("exitHealth");
            Policy memory policy = PolicyData.read(data);
            checkStopPolicy(
                exitHealth, policy.maxHealth, policy.maxRebalancesPerEpoch, policy.maxAmountPerEpoch, policy.maxGasPerEpoch
            );
        }
        s.stops[id][safe] = StopLoss(stopPrice, exitHealth);
        // Gas (issue 15): the engine reads the stop only when this flag is set (PolicyRecord.stopSet, SECURITY.md row 132).
        record.stopSet = stopPrice != 0 || exitHealth != 0;
        emit ILeverageModule.StopLossSet(safe, id, stopPrice, exitHealth);
    }

    /// @notice A stop's fit with its policy (setStopLoss, and setPolicy while a stop is set): `exitHealth` (WAD) at
    /// least `maxHealth + MIN_BAND_GAP` (`InvalidStopLoss("exitHealth")`), and every epoch cap the stop exit's half
    /// (RebalanceLib `_checkStopExitShare`, floor(cap / 2)) uses at least 2, else that half is 0 and every exit reverts
    /// (review rr13t T2): `InvalidStopLoss("maxRebalancesPerEpoch")` (count), `("maxAmountPerEpoch")` (loan base units),
    /// `("maxGasPerEpoch")` (gas units). A loss budget of 1 bps halves to 50,000 ppb, never 0 unless it is 0 itself.
    function checkStopPolicy(uint256 exitHealth, uint256 maxHealth, uint256 maxRebalances, uint256 maxAmount, uint256 maxGas)
        public
        pure
    {
        if (exitHealth < maxHealth + ConstantsLib.MIN_BAND_GAP) revert ILeverageModule.InvalidStopLoss("exitHealth");
        if (maxRebalances < 2) revert ILeverageModule.InvalidStopLoss("maxRebalancesPerEpoch");
        if (maxAmount < 2) revert ILeverageModule.InvalidStopLoss("maxAmountPerEpoch");
        if (maxGas < 2) revert ILeverageModule.InvalidStopLoss("maxGasPerEpoch");
    }

    /// @notice setPolicy's pool list check: at most MAX_POOLS, each non-zero, not the Safe nor the module, with code,
    /// listed once, its asset the market's loan or collateral token.
    function checkPools(address safe, address adapter, bytes32 market, address[] calldata pools) external view {
        if (pools.length > ConstantsLib.MAX_POOLS) revert ILeverageModule.TooManyPools(pools.length, ConstantsLib.MAX_POOLS);
        if (pools.length == 0) return;
        (address loanToken, address collateralToken) = IVenueAdapter(adapter).marketTokens(market);
        for (uint256 i; i < pools.length; ++i) {
            address pool = pools[i];
            if (pool == address(0) || pool == safe || pool == address(this) || pool.code.length == 0) {
                revert ILeverageModule.InvalidPool(pool);
            }
            for (uint256 j; j < i; ++j) {
                if (pools[j] == pool) revert ILeverageModule.DuplicatePool(pool);
            }
            address asset = IERC4626(pool).asset();
            if (asset != loanToken && asset != collateralToken) revert ILeverageModule.PoolAssetMismatch(pool, asset);
        }
    }

    /// @notice Creates the data contract holding `policy` (`PolicyData`: STOP, six packed words, the pools) with CREATE
    /// from the module (this library runs by DELEGATECALL, so the creator is the module and its nonce is used) and
    /// returns its address, which setPolicy stores in the sub-account's `PolicyRecord`. Only the module can create code
    /// at its CREATE addresses, so no one else can place a policy where the module will read one; a creation that fails
    /// (out of gas, or an address already holding code or a nonce) reverts `PolicyStoreFailed`. The caller checked the
    /// policy (pools at most MAX_POOLS: the code is at most 449 bytes).
    /// @dev Gas (issue 15): about 32,000 (CREATE) + 200 per code byte (38,600 for the 193 bytes without pools, 6,400 per
    /// pool), paid once by the owner at setPolicy; every rebalance then reads the policy in one EXTCODECOPY. Measured
    /// (modules/test/bench/SetPolicyGas.t.sol, one pool): a first setPolicy 331,167 -> 273,869 gas (no six fresh slots
    /// and pool list), a replacement 73,825 -> 136,528 (a new contract each time), removePolicy 70,376 -> 37,789.
    function writePolicy(Policy calldata policy) external returns (address data) {
        bytes memory code = PolicyData.creationCode(policy);
        assembly ("memory-safe") {
            data := create(0, add(code, 0x20), mload(code))
        }
        if (data == address(0)) revert ILeverageModule.PolicyStoreFailed();
    }
}
