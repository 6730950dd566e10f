// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Fixture} from "../utils/Fixture.sol";
import {LeverageModule} from "../../src/LeverageModule.sol";
import {RebalanceLib} from "../../src/libraries/RebalanceLib.sol";

/// @notice Gas (issue 15): `executeRebalance` DELEGATECALLs the linked RebalanceLib without checking its code first
/// (a call to an account without code succeeds doing nothing); the constructor checks it once instead. A module is
/// never deployed against a library address without code.
contract EngineCodeTest is Fixture {
    function test_Constructor_RevertWhen_EngineHasNoCode() public {
        address[] memory list = new address[](1);
        list[0] = address(adapter);
        // With the engine's code in place the same arguments deploy.
        new LeverageModule(address(entryPoint), list, address(0));
        vm.etch(address(RebalanceLib), "");
        vm.expectRevert(bytes(""));
        new LeverageModule(address(entryPoint), list, address(0));
    }
}
