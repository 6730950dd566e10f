// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {YieldVault} from "../utils/YieldVault.sol";
import {SwapBase} from "../utils/SwapBase.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";

/// @notice Review rr15 (d23a706): the inflow check now sums an asset's pool withdrawals in `_flowTally` and walks them
/// again only to name the crossing one. Two USDC pools, each withdrawal alone within what the plan may use, together
/// past it: the refusal still comes, and names the withdrawal whose running sum crosses (plan order), in either order.
/// Passes today (no divergence found).
contract PoolNotUsedCrossingRr15Test is SwapBase {
    YieldVault internal usdcVault2;

    function setUp() public override {
        super.setUp();
        depositToVault(safe, usdcVault, 40_000e6);
        usdcVault2 = new YieldVault(usdc, "Yield USDC 2", "yUSDC2");
        _seedVault(usdcVault2, usdc, 1000e6);
        depositToVault(safe, usdcVault2, 40_000e6);
        Policy memory policy = swapPolicy(wethMarket, false);
        policy.pools = new address[](3);
        (policy.pools[0], policy.pools[1], policy.pools[2]) = (address(usdcVault), address(wethVault), address(usdcVault2));
        wethId = setPolicy(policy);
    }

    function _poolNotUsed(address pool) internal view returns (bytes memory) {
        return abi.encodeWithSelector(ILeverageModule.PoolNotUsed.selector, wethId, pool);
    }

    /// @dev Control: the funding withdrawal alone goes through (the refusals below are the idle one's doing).
    function test_FundingAloneAccepted() public {
        (Plan memory deleverage, uint256 sold, uint256 quoted) = swapDeleverage(1.4e18);
        sold;
        Action[] memory actions = new Action[](5);
        actions[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault2), 50e6);
        actions[1] = action(ActionKind.RepayWithCallback, 0, address(0), quoted + 50e6);
        for (uint256 i = 1; i < 4; ++i) {
            actions[i + 1] = deleverage.actions[i];
        }
        executeAsEntryPoint(safe, keeper, planOf(wethId, actions));
    }

    /// @dev A swap deleverage whose repayment takes 50 USDC more than the quote: `usable` = 50e6 + slack (quote less
    /// the on-chain minimum). Withdrawals: 50e6 from `funding`, slack + 1 from `idle`, listed funding first or not.
    function _plan(address funding, address idle, bool fundingFirst) internal returns (Plan memory) {
        (Plan memory deleverage, uint256 sold, uint256 quoted) = swapDeleverage(1.4e18);
        uint256 slack = quoted - minOutSelling(sold);
        uint256 usable = quoted + 50e6 - minOutSelling(sold);
        assertLe(slack + 1, usable, "the idle withdrawal alone is within");
        Action memory f = action(ActionKind.WithdrawFromPool, 0, funding, 50e6);
        Action memory x = action(ActionKind.WithdrawFromPool, 0, idle, slack + 1);
        Action[] memory actions = new Action[](6);
        (actions[0], actions[1]) = fundingFirst ? (f, x) : (x, f);
        actions[2] = action(ActionKind.RepayWithCallback, 0, address(0), quoted + 50e6);
        for (uint256 i = 1; i < 4; ++i) {
            actions[i + 2] = deleverage.actions[i];
        }
        assertEq(uint8(deleverage.actions[0].kind), uint8(ActionKind.RepayWithCallback), "deleverage layout");
        return planOf(wethId, actions);
    }

    function test_CrossingNamedSecondPoolListedSecond() public {
        expectOpFails(_plan(address(usdcVault), address(usdcVault2), true), _poolNotUsed(address(usdcVault2)));
    }

    function test_CrossingNamedFirstPoolListedSecond() public {
        expectOpFails(_plan(address(usdcVault), address(usdcVault2), false), _poolNotUsed(address(usdcVault)));
    }

    function test_CrossingNamedSwappedPools() public {
        expectOpFails(_plan(address(usdcVault2), address(usdcVault), true), _poolNotUsed(address(usdcVault)));
    }

    function test_CrossingNamedSwappedPoolsListedSecond() public {
        expectOpFails(_plan(address(usdcVault2), address(usdcVault), false), _poolNotUsed(address(usdcVault2)));
    }
}
