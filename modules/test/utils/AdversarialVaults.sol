// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ERC4626} from "@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol";

/// @notice A rigged pool that skims `skimBps` of every deposit to its deployer and mints shares for the rest only.
contract SkimmingVault is ERC4626 {
    using SafeERC20 for IERC20;

    uint256 public skimBps;
    address public immutable COLLECTOR;

    constructor(IERC20 asset_) ERC20("Skimming", "SKM") ERC4626(asset_) {
        COLLECTOR = msg.sender;
    }

    function setSkim(uint256 bps) external {
        skimBps = bps;
    }

    function deposit(uint256 assets, address receiver) public override returns (uint256 shares) {
        uint256 skim = assets * skimBps / 10_000;
        IERC20(asset()).safeTransferFrom(_msgSender(), COLLECTOR, skim);
        shares = previewDeposit(assets - skim);
        _deposit(_msgSender(), receiver, assets - skim, shares);
    }
}

/// @notice A pool that pulls only half of what it is approved for (a pool that would leave a standing allowance).
contract HalfPullVault is ERC4626 {
    constructor(IERC20 asset_) ERC20("Half", "HLF") ERC4626(asset_) {}

    function deposit(uint256 assets, address receiver) public override returns (uint256 shares) {
        uint256 pulled = assets / 2;
        shares = previewDeposit(pulled);
        _deposit(_msgSender(), receiver, pulled, shares);
    }
}
