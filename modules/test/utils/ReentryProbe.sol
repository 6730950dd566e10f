// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC4626} from "@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol";
import {TestToken} from "./TestToken.sol";

/// @notice Adversarial hook: when armed, every token movement through the host contract first tries a list of
/// re-entrant calls and records each outcome (success and return or revert data) instead of bubbling it, so a test
/// can assert the exact error each attempt met while the outer operation carries on.
abstract contract ReentryProbe {
    struct Attempt {
        address target;
        bytes data;
    }

    Attempt[] internal _attempts;
    bool[] public succeeded;
    bytes[] public results;
    bool public armed;
    bool internal _inside;

    function addAttempt(address target, bytes calldata data) external {
        _attempts.push(Attempt(target, data));
    }

    function arm(bool on) external {
        armed = on;
    }

    function attempts() external view returns (uint256) {
        return results.length;
    }

    function _reenter() internal {
        if (!armed || _inside) return;
        _inside = true;
        for (uint256 i; i < _attempts.length; ++i) {
            (bool ok, bytes memory ret) = _attempts[i].target.call(_attempts[i].data);
            succeeded.push(ok);
            results.push(ret);
        }
        _inside = false;
    }
}

/// @notice An ERC-4626 pool that tries to re-enter on every deposit and withdrawal.
contract ReentrantVault is ERC4626, ReentryProbe {
    constructor(IERC20 asset_) ERC20("Reentrant", "REV") ERC4626(asset_) {}

    function _deposit(address caller, address receiver, uint256 assets, uint256 shares) internal override {
        _reenter();
        super._deposit(caller, receiver, assets, shares);
    }

    function _withdraw(address caller, address receiver, address owner, uint256 assets, uint256 shares)
        internal
        override
    {
        _reenter();
        super._withdraw(caller, receiver, owner, assets, shares);
    }
}

/// @notice A token (usable as Morpho collateral) that tries to re-enter on every transfer.
contract ReentrantToken is TestToken, ReentryProbe {
    constructor() TestToken("Reentrant", "RET", 18) {}

    function _update(address from, address to, uint256 value) internal override {
        _reenter();
        super._update(from, to, value);
    }
}
