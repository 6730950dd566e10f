// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Fixture} from "../utils/Fixture.sol";
import {ILeverageModule, EpochUsage, Policy} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {LeverageLens, SubAccountView} from "../../src/lens/LeverageLens.sol";
import {IOracle} from "@morpho-org/morpho-blue/src/interfaces/IOracle.sol";

/// @notice The lens returns exactly what the module and the adapter report, for every sub-account, in one call.
contract LeverageLensTest is Fixture {
    LeverageLens internal lens;
    bytes32 internal wethId;
    bytes32 internal wbtcId;

    function setUp() public override {
        super.setUp();
        lens = new LeverageLens();
        wethId = setPolicyFor(safe, defaultPolicy(wethMarket, address(usdcVault)));
        wbtcId = setPolicyFor(safe, defaultPolicy(wbtcMarket, address(usdcVault)));
        openPosition(safe, wethMarket, 10e18, 18_000e6);
        openPosition(safe, wbtcMarket, 1e8, 30_000e6);
    }

    function _assertMatches(SubAccountView memory entry, bytes32 id) internal view {
        assertEq(entry.subAccount, id);
        assertEq(abi.encode(entry.policy), abi.encode(module.getPolicy(safe, id)));
        assertEq(abi.encode(entry.usage), abi.encode(module.getEpochUsage(safe, id)));
        assertEq(abi.encode(entry.state), abi.encode(adapter.marketState(entry.policy.market, safe)));
        assertTrue(entry.stateOk);
        assertEq(entry.stateError.length, 0);
    }

    function test_Read_AllSubAccountsMatchTheModuleAndAdapter() public view {
        SubAccountView[] memory views = lens.read(module, safe, new bytes32[](0));
        bytes32[] memory ids = module.getSubAccounts(safe);
        assertEq(views.length, 2);
        for (uint256 i; i < ids.length; ++i) {
            _assertMatches(views[i], ids[i]);
        }
        assertGt(views[0].state.debt, 0);
        assertGt(views[1].state.collateral, 0);
    }

    function test_Read_GivenSubAccountsInTheGivenOrder() public view {
        bytes32[] memory only = new bytes32[](1);
        only[0] = wbtcId;
        SubAccountView[] memory views = lens.read(module, safe, only);
        assertEq(views.length, 1);
        _assertMatches(views[0], wbtcId);
    }

    function test_Read_SafeWithoutPoliciesIsEmpty() public {
        SubAccountView[] memory views = lens.read(module, makeAddr("stranger"), new bytes32[](0));
        assertEq(views.length, 0);
    }

    function test_Read_RevertsOnUnknownSubAccount() public {
        bytes32[] memory only = new bytes32[](2);
        only[0] = wethId;
        only[1] = keccak256("unknown");
        vm.expectRevert(abi.encodeWithSelector(LeverageLens.UnknownSubAccount.selector, keccak256("unknown")));
        lens.read(module, safe, only);
    }

    function test_Read_RevertingOracleIsReportedWithoutHidingTheOthers() public {
        vm.mockCallRevert(address(wethOracle), abi.encodeWithSelector(IOracle.price.selector), bytes("oracle down"));
        SubAccountView[] memory views = lens.read(module, safe, new bytes32[](0));
        uint256 failed;
        for (uint256 i; i < views.length; ++i) {
            if (views[i].subAccount == wethId) {
                assertFalse(views[i].stateOk);
                assertEq(views[i].stateError, bytes("oracle down"));
                assertEq(views[i].state.collateral, 0);
                ++failed;
            } else {
                _assertMatches(views[i], views[i].subAccount);
            }
        }
        assertEq(failed, 1);
    }
}
