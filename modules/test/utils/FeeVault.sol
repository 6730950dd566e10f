// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {YieldVault} from "./YieldVault.sol";

/// @notice Test-only: an OpenZeppelin ERC-4626 vault charging entry and exit fees with OpenZeppelin's ERC4626Fees
/// semantics (OpenZeppelin Contracts 5.1 mocks/docs/ERC4626Fees.sol, not shipped in the installed npm package):
/// a deposit of `assets` pays `ceil(assets x entry / (entry + 10000))` assets to `feeRecipient` and mints shares for
/// the rest; a withdrawal of `assets` burns shares for `assets + ceil(assets x exit / 10000)` and pays the excess to
/// `feeRecipient` (a redeem: the holder receives `previewRedeem`, gross minus `ceil(gross x exit / (exit + 10000))`).
/// Fees in bps, set with `setFees` (a YieldVault so the fixture's pool slots can hold it).
contract FeeVault is YieldVault {
    using Math for uint256;

    uint256 private constant BPS = 10_000;
    /// @dev Entry and exit fees, bps.
    uint256 public entryFeeBps;
    uint256 public exitFeeBps;
    address public immutable feeRecipient;

    constructor(IERC20 asset_, string memory name_, string memory symbol_, address recipient)
        YieldVault(asset_, name_, symbol_)
    {
        feeRecipient = recipient;
    }

    /// @param entry Entry fee, bps.
    /// @param exit Exit fee, bps.
    function setFees(uint256 entry, uint256 exit) external {
        (entryFeeBps, exitFeeBps) = (entry, exit);
    }

    function previewDeposit(uint256 assets) public view override returns (uint256) {
        return super.previewDeposit(assets - _feeOnTotal(assets, entryFeeBps));
    }

    function previewMint(uint256 shares) public view override returns (uint256) {
        uint256 assets = super.previewMint(shares);
        return assets + _feeOnRaw(assets, entryFeeBps);
    }

    function previewWithdraw(uint256 assets) public view override returns (uint256) {
        return super.previewWithdraw(assets + _feeOnRaw(assets, exitFeeBps));
    }

    function previewRedeem(uint256 shares) public view override returns (uint256) {
        uint256 assets = super.previewRedeem(shares);
        return assets - _feeOnTotal(assets, exitFeeBps);
    }

    function _deposit(address caller, address receiver, uint256 assets, uint256 shares) internal override {
        uint256 fee = _feeOnTotal(assets, entryFeeBps);
        super._deposit(caller, receiver, assets, shares);
        if (fee > 0) SafeERC20.safeTransfer(IERC20(asset()), feeRecipient, fee);
    }

    function _withdraw(address caller, address receiver, address owner, uint256 assets, uint256 shares)
        internal
        override
    {
        uint256 fee = _feeOnRaw(assets, exitFeeBps);
        super._withdraw(caller, receiver, owner, assets, shares);
        if (fee > 0) SafeERC20.safeTransfer(IERC20(asset()), feeRecipient, fee);
    }

    function _feeOnRaw(uint256 assets, uint256 feeBps) private pure returns (uint256) {
        return assets.mulDiv(feeBps, BPS, Math.Rounding.Ceil);
    }

    function _feeOnTotal(uint256 assets, uint256 feeBps) private pure returns (uint256) {
        return assets.mulDiv(feeBps, feeBps + BPS, Math.Rounding.Ceil);
    }
}
