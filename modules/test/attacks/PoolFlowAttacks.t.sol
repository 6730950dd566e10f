// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SwapBase} from "../utils/SwapBase.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";

/// @notice Issue 10 item 3, second review: a pool withdrawal counts as used only by what the plan pays out of the Safe's
/// wallet net of what its borrows, collateral withdrawals and swap outputs bring in (`PoolNotUsed`, net flow per asset).
/// Each attack adds an idle withdrawal next to an honest swap deleverage or boost whose spends are already paid another
/// way; each goes through EntryPoint.handleOps and asserts the exact error and that nothing left the Safe.
contract PoolFlowAttacksTest is SwapBase {
    function setUp() public virtual override {
        super.setUp();
        // Buffers the attacker wants to leave idle: USDC and WETH in pools the policy lists.
        depositToVault(safe, usdcVault, 40_000e6);
        depositToVault(safe, wethVault, 10e18);
        wethId = setPolicy(_withBothPools(swapPolicy(wethMarket, false)));
    }

    function _withBothPools(Policy memory policy) internal view returns (Policy memory) {
        policy.pools = new address[](2);
        (policy.pools[0], policy.pools[1]) = (address(usdcVault), address(wethVault));
        return policy;
    }

    function _append(Plan memory plan, Action memory extra) internal pure returns (Plan memory) {
        Action[] memory actions = new Action[](plan.actions.length + 1);
        for (uint256 i; i < plan.actions.length; ++i) {
            actions[i] = plan.actions[i];
        }
        actions[plan.actions.length] = extra;
        plan.actions = actions;
        return plan;
    }

    function _poolNotUsed(address pool) internal view returns (bytes memory) {
        return abi.encodeWithSelector(ILeverageModule.PoolNotUsed.selector, wethId, pool);
    }

    /// @dev The boost of `boostFromHealth18`, on a policy that lists both pools.
    function _boost() internal returns (Plan memory plan, uint256 borrowed, uint256 bought) {
        (plan, borrowed, bought) = boostFromHealth18();
        wethId = setPolicy(_withBothPools(swapPolicy(wethMarket, true)));
    }

    /* LOAN TOKEN */

    /// @dev The repayment is paid by the swap's output, so a USDC withdrawal of up to the repaid amount used to pass.
    function test_Attack_IdleLoanWithdrawalNextToASwapDeleverageIsRefused() public {
        (Plan memory plan,, uint256 repaid) = swapDeleverage(1.4e18);
        // The review's case: 12,681 USDC, the whole repayment (the old rule allowed up to it).
        assertApproxEqRel(repaid, 12_681e6, 0.01e18, "the review's figure");
        expectOpFails(_append(plan, action(ActionKind.WithdrawFromPool, 0, address(usdcVault), repaid)), _poolNotUsed(address(usdcVault)));
    }

    /// @dev The collateral buy is paid by the borrow, so a USDC withdrawal of up to the amount bought with used to pass.
    function test_Attack_IdleLoanWithdrawalNextToASwapBoostIsRefused() public {
        (Plan memory plan, uint256 borrowed,) = _boost();
        assertGt(borrowed, 13_312e6, "the old rule allowed the whole buy");
        expectOpFails(_append(plan, action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 13_312e6)), _poolNotUsed(address(usdcVault)));
    }

    /* COLLATERAL TOKEN */

    /// @dev The sale is paid by the collateral withdrawal, so a WETH withdrawal of up to the amount sold used to pass.
    function test_Attack_IdleCollateralWithdrawalNextToASwapDeleverageIsRefused() public {
        (Plan memory plan, uint256 sold,) = swapDeleverage(1.4e18);
        assertGt(sold, 3.53e18, "the old rule allowed the whole sale");
        expectOpFails(_append(plan, action(ActionKind.WithdrawFromPool, 0, address(wethVault), 3.53e18)), _poolNotUsed(address(wethVault)));
    }

    /// @dev The supply is paid by the swap's output. What stays allowed is the swap's output above its on-chain minimum
    /// (at most maxSlippageBps of the buy); any withdrawal past that is refused.
    function testFuzz_Attack_IdleCollateralWithdrawalNextToASwapBoostIsRefused(uint256 pad) public {
        (Plan memory plan, uint256 borrowed, uint256 bought) = _boost();
        MarketState memory state = wethState();
        uint256 minOut = Math.mulDiv(
            Math.mulDiv(borrowed, 1e36, state.price), 10_000 - MAX_SLIPPAGE_BPS, 10_000, Math.Rounding.Ceil
        );
        uint256 slack = bought - minOut;
        assertLt(slack * 10_000, bought * MAX_SLIPPAGE_BPS, "the slack is within maxSlippageBps of the buy");
        pad = bound(pad, slack + 1, 10e18);
        expectOpFails(_append(plan, action(ActionKind.WithdrawFromPool, 0, address(wethVault), pad)), _poolNotUsed(address(wethVault)));
    }

    /* REPAYMENT PAST THE DEBT */

    /// @dev A repayment larger than the debt clears only the debt (the adapter repays by shares): the rest of the
    /// withdrawal would stay idle.
    function test_Attack_RepaymentPastTheDebtCountsOnlyTheDebt() public {
        uint256 debt = wethState().debt;
        uint256 amount = debt + 5_000e6;
        depositToVault(safe, usdcVault, amount);
        Action[] memory actions = new Action[](2);
        actions[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), amount);
        actions[1] = action(ActionKind.Repay, 0, address(0), amount);
        expectOpFails(planOf(wethId, actions), _poolNotUsed(address(usdcVault)));
    }

    /* HONEST PLANS STILL PASS */

    /// @dev A swap deleverage partly paid from the pool: the withdrawal is at most the repayment less the swap's
    /// minimum output, so it goes through and the pool money lands in the position.
    function test_PoolFundingPartOfASwapDeleverageIsAccepted() public {
        (Plan memory deleverage, uint256 sold, uint256 quoted) = swapDeleverage(1.4e18);
        uint256 fromPool = 50e6;
        Action[] memory actions = new Action[](5);
        actions[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), fromPool);
        actions[1] = action(ActionKind.RepayWithCallback, 0, address(0), quoted + fromPool);
        for (uint256 i = 1; i < 4; ++i) {
            actions[i + 1] = deleverage.actions[i];
        }
        assertLe(fromPool, quoted + fromPool - minOutSelling(sold), "within the net-flow bound");
        uint256 poolBefore = usdcVault.maxWithdraw(safe);
        uint256 debtBefore = wethState().debt;
        uint256 idleBefore = usdc.balanceOf(safe);
        executeAsEntryPoint(safe, keeper, planOf(wethId, actions));
        assertEq(poolBefore - usdcVault.maxWithdraw(safe), fromPool, "withdrawn from the pool");
        assertApproxEqAbs(debtBefore - wethState().debt, quoted + fromPool, 1, "the pool money repaid debt");
        assertEq(usdc.balanceOf(safe), idleBefore, "nothing left idle");
    }
}
