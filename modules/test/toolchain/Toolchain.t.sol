// SPDX-License-Identifier: MIT
pragma solidity 0.8.23;

import {Test} from "forge-std/Test.sol";

contract ToolchainTest is Test {
    function test_ForgeStdIsTheRealOne() public pure {
        assertEq(uint256(1), 1);
    }
}
