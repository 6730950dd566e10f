// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IPool} from "@aave/core-v3/contracts/interfaces/IPool.sol";
import {IPoolAddressesProvider} from "@aave/core-v3/contracts/interfaces/IPoolAddressesProvider.sol";
import {IFlashLoanSimpleReceiver} from "@aave/core-v3/contracts/flashloan/interfaces/IFlashLoanSimpleReceiver.sol";
import {DataTypes} from "@aave/core-v3/contracts/protocol/libraries/types/DataTypes.sol";
import {ILeverageModule} from "../interfaces/ILeverageModule.sol";

/// @title AaveFlashLoanRouter
/// @notice The callback shape of Aave v3 for the module's callback actions. Aave has no repay or supply callback (Morpho
/// Blue's `onMorphoRepay` / `onMorphoSupplyCollateral`), so `AaveV3Adapter.encodeWithCallback` sends a
/// RepayWithCallback or SupplyCollateralWithCallback of an Aave sub-account here: the router flash-borrows the opener's
/// amount from the pool (`flashLoanSimple`, itself the receiver), repays the caller's variable debt with it or supplies it
/// as the caller's collateral (Aave's `onBehalfOf`), then calls the caller back with `onMorphoFlashLoan(amount +
/// premium, data)` (through the Safe's fallback handler: the module checks the callback as every venue callback, runs
/// the inner actions and approves `amount + premium` of the borrowed token to the router), pulls that amount from the
/// caller and lets the pool collect it. Net for the caller: what Morpho's repay or supply callback does, plus the pool's
/// flash-loan premium (which the module counts in the plan's loss).
/// @dev Security considerations:
/// - Permissionless and stateless: it acts only for `msg.sender` of `flashWithCallback` (the account): repays that
///   account's debt, supplies for it, calls it back, pulls from it. Nobody can make it act for another account.
/// - `executeOperation` serves only loans this router started (`initiator == this`) and only from the pool.
/// - It holds the borrowed tokens for the length of one callback; every approval it gives the pool is exact, so none is
///   left. A repayment flash is capped at the account's variable debt, so the premium is never paid on an excess.
/// - The callback may not undo the flash-funded step (review of issue 17): after it, the account's variable debt must
///   not exceed what the repayment left (`FlashedRepaymentReborrowed`) and its aToken balance must not be below what
///   the supply made it (`FlashedSupplyWithdrawn`). Otherwise a plan could flash-supply (or flash-repay) any amount and
///   take it straight back inside the block, netting nothing but paying the premium on all of it, up to maxLossBps.
contract AaveFlashLoanRouter is IFlashLoanSimpleReceiver {
    using SafeERC20 for IERC20;

    uint256 internal constant VARIABLE_RATE = 2;

    /// @notice Thrown when `executeOperation` is called by `caller`, not the Aave pool.
    error FlashLoanCallerNotPool(address caller);
    /// @notice Thrown when a flash loan reaching the router was started by `initiator`, not by the router itself.
    error FlashLoanNotStartedByRouter(address initiator);
    /// @notice Thrown when the callback left `account` with variable debt `debtNow` above the `debtAfterRepay` the
    /// flash-funded repayment left (a borrow of what was just repaid).
    error FlashedRepaymentReborrowed(address account, uint256 debtAfterRepay, uint256 debtNow);
    /// @notice Thrown when the callback left `account` with aTokens `balanceNow` below the `balanceAfterSupply` the
    /// flash-funded supply made (a withdrawal of what was just supplied).
    error FlashedSupplyWithdrawn(address account, uint256 balanceAfterSupply, uint256 balanceNow);
    /// @notice Thrown when the pool's free liquidity in `asset` (its aToken's balance of it, base units) is `available`,
    /// below the flash `amount`: the pool would fail inside the aToken's transfer with the token's raw error.
    error FlashLiquidityShort(address asset, uint256 amount, uint256 available);
    /// @notice Thrown when, after the callback, `account` holds `held` of the flashed token, below the `owed` loan plus
    /// premium the router pulls (e.g. a plan sized for a lower premium than the pool's): the token's raw error otherwise.
    error FlashRepaymentShort(address account, uint256 owed, uint256 held);

    IPool internal immutable _POOL;
    IPoolAddressesProvider internal immutable _PROVIDER;

    constructor(IPool pool) {
        _POOL = pool;
        _PROVIDER = pool.ADDRESSES_PROVIDER();
    }

    /// @inheritdoc IFlashLoanSimpleReceiver
    function POOL() external view returns (IPool) {
        return _POOL;
    }

    /// @inheritdoc IFlashLoanSimpleReceiver
    function ADDRESSES_PROVIDER() external view returns (IPoolAddressesProvider) {
        return _PROVIDER;
    }

    /// @notice Flash-borrows `amount` of `asset` (base units; for a repayment at most the caller's variable debt); with
    /// it repays the caller's variable debt in `asset` (`repay`) or supplies it as the caller's collateral; calls the
    /// caller back with `onMorphoFlashLoan(amount + premium, data)`; checks the callback did not borrow back the
    /// repayment or withdraw the supply; pulls `amount + premium` from the caller for the pool.
    /// @dev Reverts with `FlashLiquidityShort` when the reserve's free liquidity is below `amount`,
    /// `FlashRepaymentShort` when the caller holds less than `amount + premium` after its callback (a plan sized for a
    /// lower premium than the pool's `FLASHLOAN_PREMIUM_TOTAL`), as the pool does (a paused reserve, flash loans
    /// disabled) and when the callback or the pull fails (the whole loan unwinds).
    function flashWithCallback(address asset, uint256 amount, bool repay, bytes calldata data) external {
        if (repay) {
            uint256 debt = IERC20(_POOL.getReserveData(asset).variableDebtTokenAddress).balanceOf(msg.sender);
            if (amount > debt) amount = debt;
        }
        uint256 available = IERC20(asset).balanceOf(_POOL.getReserveData(asset).aTokenAddress);
        if (amount > available) revert FlashLiquidityShort(asset, amount, available);
        _POOL.flashLoanSimple(address(this), asset, amount, abi.encode(msg.sender, repay, data), 0);
    }

    /// @inheritdoc IFlashLoanSimpleReceiver
    function executeOperation(address asset, uint256 amount, uint256 premium, address initiator, bytes calldata params)
        external
        returns (bool)
    {
        if (msg.sender != address(_POOL)) revert FlashLoanCallerNotPool(msg.sender);
        if (initiator != address(this)) revert FlashLoanNotStartedByRouter(initiator);
        (address account, bool repay, bytes memory data) = abi.decode(params, (address, bool, bytes));
        (IERC20 watched, uint256 mark) = _fund(asset, amount, repay, account);
        amount += premium; // what the account owes
        ILeverageModule(account).onMorphoFlashLoan(amount, data);
        _checkNotUndone(watched, account, repay, mark);
        _checkHeld(asset, account, amount);
        IERC20(asset).safeTransferFrom(account, address(this), amount);
        IERC20(asset).forceApprove(address(_POOL), amount);
        return true;
    }

    /// @dev The callback kept the flash-funded step: no more debt than the repayment left, no fewer aTokens than the
    /// supply made.
    function _checkNotUndone(IERC20 watched, address account, bool repay, uint256 mark) internal view {
        uint256 balanceNow = watched.balanceOf(account);
        if (repay && balanceNow > mark) revert FlashedRepaymentReborrowed(account, mark, balanceNow);
        if (!repay && balanceNow < mark) revert FlashedSupplyWithdrawn(account, mark, balanceNow);
    }

    /// @dev `account` holds the `owed` loan plus premium the router is about to pull (else the token's raw error).
    function _checkHeld(address asset, address account, uint256 owed) internal view {
        uint256 held = IERC20(asset).balanceOf(account);
        if (held < owed) revert FlashRepaymentShort(account, owed, held);
    }

    /// @dev Repays `account`'s variable debt with `amount` of `asset` (the part above the debt back to it at once) or
    /// supplies it for `account`; returns the token the callback may not undo (its variable debt token or aToken) and
    /// the account's balance of it after the step.
    function _fund(address asset, uint256 amount, bool repay, address account) internal returns (IERC20 watched, uint256 mark) {
        DataTypes.ReserveData memory reserve = _POOL.getReserveData(asset);
        watched = IERC20(repay ? reserve.variableDebtTokenAddress : reserve.aTokenAddress);
        IERC20(asset).forceApprove(address(_POOL), amount);
        if (repay) {
            uint256 paid = _POOL.repay(asset, amount, VARIABLE_RATE, account);
            if (paid < amount) {
                IERC20(asset).forceApprove(address(_POOL), 0);
                IERC20(asset).safeTransfer(account, amount - paid);
            }
        } else {
            _POOL.supply(asset, amount, account, 0);
        }
        mark = watched.balanceOf(account);
    }
}
