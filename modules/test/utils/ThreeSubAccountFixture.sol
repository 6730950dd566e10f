// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Fixture} from "./Fixture.sol";
import {Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {MarketParams, Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";

/// @notice One Safe with three Morpho sub-accounts at health 1.433 (weth 10 / 18,000 USDC at 3,000; wbtc 1 / 36,000
/// at 60,000; wsteth 10 / 21,000 at 3,500), a USDC vault deposit, and each market's default policy (the vault its
/// pool), for tests of what a rebalance of several sub-accounts writes (RebalancedLog.t.sol, UsageRecordCache.t.sol).
abstract contract ThreeSubAccountFixture is Fixture {
    using MarketParamsLib for MarketParams;

    /// @dev The three markets in the policies' order: weth, wbtc, wsteth.
    MarketParams[] internal markets;

    /// @dev Opens the three positions, deposits `vaultDeposit` (USDC base units) into `usdcVault` and sets each
    /// market's default policy.
    function setUpThree(uint256 vaultDeposit) internal {
        openPosition(safe, wethMarket, 10e18, 18_000e6);
        openPosition(safe, wbtcMarket, 1e8, 36_000e6);
        openPosition(safe, wstethMarket, 10e18, 21_000e6);
        depositToVault(safe, usdcVault, vaultDeposit);
        markets.push(wethMarket);
        markets.push(wbtcMarket);
        markets.push(wstethMarket);
        for (uint256 i; i < markets.length; ++i) {
            setPolicyFor(safe, defaultPolicy(markets[i], address(usdcVault)));
        }
    }

    /// @dev A plan repaying each listed market (`markets[order[i]]`, in that order) from the vault towards health
    /// `targets[i]` (WAD): for each, WithdrawFromPool then Repay of debt - collateral value x LLTV / target (USDC base
    /// units, at the venue's price).
    function repayPlan(uint256[] memory order, uint256[] memory targets) internal view returns (Plan memory plan) {
        plan.subAccounts = new bytes32[](order.length);
        plan.actions = new Action[](2 * order.length);
        for (uint256 i; i < order.length; ++i) {
            MarketParams memory params = markets[order[i]];
            MarketState memory state = adapter.marketState(Id.unwrap(params.id()), safe);
            uint256 value = state.collateral * state.price / 1e36;
            uint256 amount = state.debt - value * LLTV / targets[i];
            plan.subAccounts[i] = idOf(params);
            plan.actions[2 * i] = action(ActionKind.WithdrawFromPool, uint8(i), address(usdcVault), amount);
            plan.actions[2 * i + 1] = action(ActionKind.Repay, uint8(i), address(0), amount);
        }
    }
}
