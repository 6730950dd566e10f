// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {console} from "forge-std/console.sol";
import {Fixture} from "../utils/Fixture.sol";
import {ILeverageModule, Policy} from "../../src/interfaces/ILeverageModule.sol";

/// @notice What the owner pays for setPolicy (first, replacement) and removePolicy through the Safe's fallback handler,
/// with the module, the Safe, the adapter, Morpho, the pool and the oracle cooled before each call (issue 15: the policy
/// stored as code costs more once so each rebalance reads it cheaper). Logged; the bench compares builds.
contract SetPolicyGasMeasure is Fixture {
    function _cool() internal {
        vm.cool(address(module));
        vm.cool(safe);
        vm.cool(address(adapter));
        vm.cool(address(morpho));
        vm.cool(address(usdcVault));
        vm.cool(wethMarket.oracle);
    }

    function _set(Policy memory policy) internal returns (uint256 used) {
        _cool();
        vm.prank(safe);
        used = gasleft();
        ILeverageModule(safe).setPolicy(policy);
        used -= gasleft();
    }

    function test_SetPolicyGas() public {
        Policy memory policy = defaultPolicy(wethMarket, address(usdcVault));
        uint256 first = _set(policy);
        policy.cooldown = 60;
        uint256 replaced = _set(policy);
        bytes32 id = module.subAccountId(policy.adapter, policy.market);
        _cool();
        vm.prank(safe);
        uint256 removed = gasleft();
        ILeverageModule(safe).removePolicy(id);
        removed -= gasleft();
        Policy memory noPools = defaultPolicy(wethMarket, address(0));
        uint256 firstNoPools = _set(noPools);
        console.log("setPolicy first (1 pool)", first);
        console.log("setPolicy replace (1 pool)", replaced);
        console.log("removePolicy (1 pool)", removed);
        console.log("setPolicy again after remove (no pools)", firstNoPools);
    }
}
