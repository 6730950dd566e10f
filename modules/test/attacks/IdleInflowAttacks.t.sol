// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Id, MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {SwapBase} from "../utils/SwapBase.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";

/// @notice Issue 10, third review: a boost-enabled sub-account could borrow (or withdraw collateral) and leave the
/// proceeds idle in the Safe, inside its band and at no value loss, so every check passed while the Safe paid interest
/// on cash that did nothing (2,743 USDC on a sub-account that was not due, 6,000 USDC alone on a boost-due one,
/// 0.1 WBTC of collateral). The module now requires every inflow of every asset (borrows, collateral withdrawals, swap
/// outputs at their on-chain minimum) to be spent by the same plan or parked in an allowed pool (`IdleInflow`). Each
/// attack goes through EntryPoint.handleOps and asserts the exact error and that nothing left the Safe.
contract IdleInflowAttacksTest is SwapBase {
    using MarketParamsLib for MarketParams;

    function _idleInflow(address token, uint256 received, uint256 used) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ILeverageModule.IdleInflow.selector, token, received, used);
    }

    /// @dev The WBTC sub-account (health 1.72) with boost allowed and a band up to 2.0: not due.
    function _wbtcBoostEnabled() internal {
        Policy memory policy = defaultPolicy(wbtcMarket, address(usdcVault));
        policy.boostAllowed = true;
        policy.maxHealth = 2e18;
        wbtcId = setPolicy(policy);
    }

    /// @dev The WETH swap deleverage (sub-account 0) from the crash, then `extra` on the WBTC sub-account (1).
    function _rescuePlus(Action memory extra) internal returns (Plan memory plan, uint256 sold, uint256 repaid) {
        Plan memory rescue;
        (rescue, sold, repaid) = swapDeleverage(1.4e18);
        Action[] memory actions = new Action[](rescue.actions.length + 1);
        for (uint256 i; i < rescue.actions.length; ++i) {
            actions[i] = rescue.actions[i];
        }
        actions[rescue.actions.length] = extra;
        plan = plan2(wethId, wbtcId, actions);
    }

    /// @dev The module's minimum output for buying with `amountIn` USDC at the WETH oracle price.
    function _minOutBuying(uint256 amountIn) internal view returns (uint256) {
        uint256 fair = Math.mulDiv(amountIn, 1e36, wethState().price);
        return Math.mulDiv(fair, 10_000 - MAX_SLIPPAGE_BPS, 10_000, Math.Rounding.Ceil);
    }

    /// @dev The USDC to borrow (no collateral added) that takes the WETH sub-account to `target` health.
    function _borrowTo(uint256 target) internal view returns (uint256) {
        MarketState memory state = wethState();
        return Math.mulDiv(Math.mulDiv(state.collateral, state.price, 1e36), state.lltv, target) - state.debt;
    }

    /* BORROWS LEFT IDLE */

    /// @dev The review's 6,000 USDC: a boost-due sub-account borrows and does nothing with it.
    function test_Attack_BareBorrowOnABoostDueSubAccountIsRefused() public {
        boostFromHealth18();
        Action[] memory actions = new Action[](1);
        actions[0] = action(ActionKind.Borrow, 0, address(0), 6_000e6);
        expectOpFails(planOf(wethId, actions), _idleInflow(address(usdc), 6_000e6, 0));
    }

    /// @dev The review's 2,743 USDC: a genuine rescue, padded with a borrow on a boost-enabled sub-account that is not
    /// due. The rescue's own flows balance; the borrow is the excess.
    function test_Attack_IdleBorrowNextToARescueIsRefused() public {
        _wbtcBoostEnabled();
        (Plan memory plan, uint256 sold, uint256 repaid) =
            _rescuePlus(action(ActionKind.Borrow, 1, address(0), 2_743e6));
        expectOpFails(plan, _idleInflow(address(usdc), minOutSelling(sold) + 2_743e6, repaid));
    }

    /// @dev A borrow half parked in the policy's pool: the other half stays idle.
    function test_Attack_BorrowHalfParkedInAPoolIsRefused() public {
        boostFromHealth18();
        uint256 borrowed = _borrowTo(1.45e18);
        Action[] memory actions = new Action[](2);
        actions[0] = action(ActionKind.Borrow, 0, address(0), borrowed);
        actions[1] = action(ActionKind.DepositToPool, 0, address(usdcVault), borrowed / 2);
        expectOpFails(planOf(wethId, actions), _idleInflow(address(usdc), borrowed, borrowed / 2));
    }

    /// @dev Review 4: a repayment past the debt clears only the debt at that point, whatever the plan borrows after it.
    /// RepayWithCallback(debt + B) { Borrow(B) }: Morpho clears the debt, the callback borrows B on the same market,
    /// Morpho pulls the debt; B - debt would stay idle (the cap used to be the debt plus every borrow of the plan).
    /// Since the review of issue 17 the plan is refused before anything runs, earlier than the inflow rule: a
    /// sub-account with a RepayWithCallback borrows nothing (`ActionNotAllowed(1, Borrow)`); the inflow cap (repayments
    /// count up to the debt they meet) stays behind it.
    function testFuzz_Attack_RepayPastTheDebtFundedByALaterBorrowIsRefused(uint256 target) public {
        boostFromHealth18();
        target = bound(target, 1.3e18, 1.6e18);
        MarketState memory state = wethState();
        uint256 borrow = Math.mulDiv(Math.mulDiv(state.collateral, state.price, 1e36), state.lltv, target);
        assertGt(borrow, state.debt, "the borrow exceeds the debt it replaces");
        Action[] memory actions = new Action[](3);
        actions[0] = action(ActionKind.RepayWithCallback, 0, address(0), state.debt + borrow);
        actions[1] = action(ActionKind.Borrow, 0, address(0), borrow);
        actions[2] = action(ActionKind.EndCallback, 0, address(0), 0);
        expectOpFails(
            planOf(wethId, actions), abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 1, ActionKind.Borrow)
        );
    }

    /// @dev Review 4, next to a rescue: the not-due WBTC sub-account is moved toward its target by a repayment past its
    /// debt funded by a later, larger borrow. Refused by the callback churn rule (review of issue 17) at the borrow.
    function test_Attack_RepayPastTheDebtThenBorrowNextToARescueIsRefused() public {
        _wbtcBoostEnabled();
        MarketState memory wbtc = adapter.marketState(Id.unwrap(wbtcMarket.id()), safe);
        uint256 borrow = Math.mulDiv(Math.mulDiv(wbtc.collateral, wbtc.price, 1e36), wbtc.lltv, 1.6e18);
        (Plan memory rescue,,) = swapDeleverage(1.4e18);
        Action[] memory actions = new Action[](rescue.actions.length + 3);
        for (uint256 i; i < rescue.actions.length; ++i) {
            actions[i] = rescue.actions[i];
        }
        actions[rescue.actions.length] = action(ActionKind.RepayWithCallback, 1, address(0), wbtc.debt + borrow);
        actions[rescue.actions.length + 1] = action(ActionKind.Borrow, 1, address(0), borrow);
        actions[rescue.actions.length + 2] = action(ActionKind.EndCallback, 1, address(0), 0);
        expectOpFails(
            plan2(wethId, wbtcId, actions),
            abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, rescue.actions.length + 1, ActionKind.Borrow)
        );
    }

    /* COLLATERAL LEFT IDLE */

    /// @dev The review's 0.1 WBTC: collateral withdrawn from a boost-enabled sub-account next to a rescue.
    function test_Attack_IdleCollateralWithdrawalIsRefused() public {
        _wbtcBoostEnabled();
        (Plan memory plan,,) = _rescuePlus(action(ActionKind.WithdrawCollateral, 1, address(0), 0.1e8));
        expectOpFails(plan, _idleInflow(address(wbtc), 0.1e8, 0));
    }

    /// @dev A boost that supplies less than the swap's on-chain minimum leaves the bought collateral past the slippage
    /// slack idle. Refused on the plan already, before any call: the purchase must serve its own collateral
    /// (`PurchaseExceedsSupply`, SwapAttacks.t.sol), which implies the inflow rule for a lone boost.
    function testFuzz_Attack_BoostSupplyingLessThanTheSwapsMinimumIsRefused(uint256 shortBy) public {
        (Plan memory plan, uint256 borrowed,) = boostFromHealth18();
        uint256 minOut = _minOutBuying(borrowed);
        shortBy = bound(shortBy, 1, minOut / 4);
        plan.actions[2].amount = minOut - shortBy;
        expectOpFails(
            plan, abi.encodeWithSelector(ILeverageModule.PurchaseExceedsSupply.selector, wethId, minOut, minOut - shortBy)
        );
    }

    /* HONEST PLANS STILL PASS */

    /// @dev A boost whose whole borrow is parked in the policy's pool (the pre-swap "boost") is not idle.
    function test_BorrowParkedInAPoolIsAccepted() public {
        boostFromHealth18();
        uint256 borrowed = _borrowTo(1.45e18);
        Action[] memory actions = new Action[](2);
        actions[0] = action(ActionKind.Borrow, 0, address(0), borrowed);
        actions[1] = action(ActionKind.DepositToPool, 0, address(usdcVault), borrowed);
        uint256 idle = usdc.balanceOf(safe);
        uint256 pooled = usdcVault.maxWithdraw(safe);
        executeAsEntryPoint(safe, keeper, planOf(wethId, actions));
        assertEq(usdc.balanceOf(safe), idle, "nothing left idle");
        assertApproxEqAbs(usdcVault.maxWithdraw(safe) - pooled, borrowed, 1, "the borrow is in the pool");
    }

    /// @dev A swap boost that supplies exactly the swap's minimum output: the slack above it is the one allowed.
    function test_BoostSupplyingTheSwapsMinimumIsAccepted() public {
        (Plan memory plan, uint256 borrowed, uint256 bought) = boostFromHealth18();
        uint256 minOut = _minOutBuying(borrowed);
        plan.actions[2].amount = minOut;
        uint256 idle = weth.balanceOf(safe);
        executeAsEntryPoint(safe, keeper, plan);
        assertEq(weth.balanceOf(safe) - idle, bought - minOut, "only the slack above the minimum stays idle");
        assertLe((bought - minOut) * 10_000, bought * MAX_SLIPPAGE_BPS, "within maxSlippageBps of the buy");
    }
}
