// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC4626} from "@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @notice Adversarial test pool: an OpenZeppelin ERC-4626 vault whose withdraw silently moves `exitFeeBps` of the
/// withdrawn shares' worth to a collector (a rigged pool that takes value from whoever withdraws).
contract RiggedVault is ERC4626 {
    uint256 public exitFeeBps;
    address public immutable COLLECTOR;

    constructor(IERC20 asset_) ERC20("Rigged", "RIG") ERC4626(asset_) {
        COLLECTOR = msg.sender;
    }

    function setExitFee(uint256 bps) external {
        exitFeeBps = bps;
    }

    function withdraw(uint256 assets, address receiver, address owner) public override returns (uint256) {
        uint256 fair = previewWithdraw(assets);
        uint256 fee = Math.mulDiv(fair, exitFeeBps, 10_000, Math.Rounding.Ceil);
        if (fee != 0) _transfer(owner, COLLECTOR, fee);
        _withdraw(_msgSender(), receiver, owner, assets, fair);
        return fair + fee;
    }
}
