// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Fixture} from "../utils/Fixture.sol";
import {ILeverageModule, EpochUsage, Policy, KeeperKey} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {LeverageLens, SubAccountView, SafeView, TokenBalance, PoolPosition} from "../../src/lens/LeverageLens.sol";
import {INonceManager} from "@account-abstraction/contracts/interfaces/INonceManager.sol";
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

    /* readSafes: many Safes per call */

    function _readSafes(address[] memory safes) internal view returns (uint256 blockNumber, uint256 timestamp, SafeView[] memory views) {
        return lens.readSafes(module, keeper, INonceManager(address(entryPoint)), safes);
    }

    function test_ReadSafes_EverySafeMatchesTheModuleAdapterTokensAndPools() public {
        depositToVault(safe, usdcVault, 5_000e6);
        address bare = createSafe(makeAddr("bare owner"));
        address[] memory safes = new address[](2);
        safes[0] = bare;
        safes[1] = safe;
        vm.roll(1234);
        (uint256 blockNumber, uint256 timestamp, SafeView[] memory views) = _readSafes(safes);
        assertEq(blockNumber, 1234, "block number");
        assertEq(timestamp, block.timestamp, "timestamp");
        assertEq(views.length, 2);

        assertEq(views[0].safe, bare);
        assertTrue(views[0].ok);
        assertFalse(views[0].keeper.active, "no key on the bare Safe");
        assertEq(views[0].subAccounts.length, 0);
        assertEq(views[0].tokens.length, 0);
        assertEq(views[0].pools.length, 0);

        SafeView memory v = views[1];
        assertEq(v.safe, safe);
        assertTrue(v.ok);
        assertEq(v.error.length, 0);
        assertEq(abi.encode(v.keeper), abi.encode(module.getKeeper(safe, keeper)), "keeper key");
        assertTrue(v.keeper.active);
        assertFalse(v.paused);
        uint192 nonceKey = module.keeperNonceKey(safe, keeper);
        assertEq(v.nonce, entryPoint.getNonce(safe, nonceKey), "keeper-lane nonce");
        assertEq(v.nonce >> 64, nonceKey);
        bytes32[] memory ids = module.getSubAccounts(safe);
        assertEq(v.subAccounts.length, ids.length);
        for (uint256 i; i < ids.length; ++i) {
            _assertMatches(v.subAccounts[i], ids[i]);
        }
        // Both markets lend USDC: three distinct tokens (USDC, WETH, WBTC), one shared pool.
        assertEq(v.tokens.length, 3, "distinct tokens");
        assertEq(v.tokens[0].token, address(usdc));
        assertEq(v.tokens[0].decimals, 6);
        assertEq(v.tokens[0].balance, usdc.balanceOf(safe), "idle USDC");
        assertEq(v.tokens[1].token, address(weth));
        assertEq(v.tokens[1].decimals, 18);
        assertEq(v.tokens[2].token, address(wbtc));
        assertEq(v.tokens[2].decimals, 8);
        assertEq(v.pools.length, 1, "distinct pools");
        PoolPosition memory p = v.pools[0];
        assertEq(p.pool, address(usdcVault));
        assertEq(p.asset, address(usdc));
        assertEq(p.shares, usdcVault.balanceOf(safe));
        assertGt(p.shares, 0);
        assertEq(p.assets, usdcVault.convertToAssets(p.shares));
        assertEq(p.maxWithdraw, usdcVault.maxWithdraw(safe));
    }

    function test_ReadSafes_RevokedKeyPauseAndNonceAreTheChainsNow() public {
        safeCall(abi.encodeCall(ILeverageModule.revokeKeeper, (keeper)));
        safeCall(abi.encodeCall(ILeverageModule.setPaused, (true)));
        address[] memory safes = new address[](1);
        safes[0] = safe;
        (,, SafeView[] memory views) = _readSafes(safes);
        assertFalse(views[0].keeper.active, "revoked");
        assertTrue(views[0].paused, "paused");
    }

    function test_ReadSafes_RevertingSafeIsReportedWithoutHidingTheOthers() public {
        address other = createSafe(makeAddr("other owner"));
        vm.mockCallRevert(address(module), abi.encodeCall(ILeverageModule.getKeeper, (other, keeper)), bytes("module down"));
        address[] memory safes = new address[](3);
        safes[0] = safe;
        safes[1] = other;
        safes[2] = safe;
        (,, SafeView[] memory views) = _readSafes(safes);
        assertTrue(views[0].ok);
        assertEq(views[0].subAccounts.length, 2);
        assertEq(views[1].safe, other);
        assertFalse(views[1].ok, "the broken Safe");
        assertEq(views[1].error, bytes("module down"));
        assertEq(views[1].subAccounts.length, 0);
        assertTrue(views[2].ok, "a Safe after the broken one");
        assertEq(abi.encode(views[2]), abi.encode(views[0]));
    }

    function test_ReadSafes_TokenWithoutCodeReadsAsZeroNotARevert() public {
        address[] memory safes = new address[](1);
        safes[0] = safe;
        vm.etch(address(wbtc), "");
        (,, SafeView[] memory views) = _readSafes(safes);
        assertTrue(views[0].ok);
        // A token that does not answer reads as 18 decimals and no balance; the Safe's view is still complete.
        for (uint256 i; i < views[0].tokens.length; ++i) {
            if (views[0].tokens[i].token == address(wbtc)) {
                assertEq(views[0].tokens[i].decimals, 18);
                assertEq(views[0].tokens[i].balance, 0);
            }
        }
    }
}
