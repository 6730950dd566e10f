// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {AttackBase} from "./AttackBase.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";

/// @notice Review rr10 of the brk10r F1 fix (`DepositNotFunded`): the rule is per asset and net over the plan, so a plan
/// can still carry the Safe's idle reserve into an owner-allowed exit-fee pool when the reserve pays a repayment and the
/// deposit is funded by an inflow the repayment made possible:
///  F1: a due, boost-allowed sub-account repays `need + X` from the idle reserve, borrows X back and deposits X
///      (Repay/Borrow churn is allowed on a due sub-account; the deposit is "funded" by the borrow);
///  F2: a deleverage-only (default) policy: RepayWithCallback(need + X) from the idle reserve, and inside it
///      WithdrawCollateral(W) + DepositToPool(WETH exit-fee pool, W) (the deposit is "funded" by the withdrawal).
/// Both landed the sub-account where an honest Repay(need) would (F1 exactly, F2 at the same health), booked no loss, and
/// left the next rescue only the exit-fee pool: ValueLossExceeded until Morpho liquidates. Fixed: Repay and Borrow on one
/// sub-account are churn (ActionNotAllowed), and a due sub-account's withdrawal funds no deposit (DepositNotFunded).
contract Rr10IdleParkingTest is AttackBase {
    using MarketParamsLib for MarketParams;

    uint256 internal constant RESERVE = 8_000e6;
    RiggedVault internal feePool; // USDC, 1% exit fee
    RiggedVault internal wethFeePool; // WETH, 1% exit fee

    function setUp() public override {
        super.setUp();
        // The Safe's idle USDC is only its rescue reserve: the fixture's 48,000 borrowed USDC leaves.
        safeExec(safe, address(usdc), 0, abi.encodeCall(IERC20.transfer, (makeAddr("elsewhere"), 48_000e6)), 0);
        usdc.mint(safe, RESERVE);
        feePool = _feePool(usdc, 100e6, 100);
        wethFeePool = _feePool(weth, 1e18, 100);
    }

    /* F1: Repay more from idle, borrow it back, park the borrow */

    function _boostPolicy() internal {
        Policy memory policy = defaultPolicy(wethMarket, address(feePool));
        policy.boostAllowed = true; // the owner lets the autopilot lever up and down
        setPolicy(policy);
    }

    function _churnPlan() internal view returns (Plan memory plan, uint256 parked) {
        uint256 need = _repayToReach(1.3e18); // 1.1467 -> 1.30 (zone [1.2467, 1.55])
        parked = usdc.balanceOf(safe) - need; // the rest of the reserve
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = wethId;
        plan.actions = new Action[](3);
        plan.actions[0] = action(ActionKind.Repay, 0, address(0), need + parked); // all from the idle reserve
        plan.actions[1] = action(ActionKind.Borrow, 0, address(0), parked);
        plan.actions[2] = action(ActionKind.DepositToPool, 0, address(feePool), parked);
    }

    /// @dev F1 fixed: Repay and Borrow on one sub-account are churn (`CHURN_KINDS`), the later of the pair refused.
    function test_rr10_ChurnParkingOfTheReserveIsRefused() public {
        _boostPolicy();
        (Plan memory plan,) = _churnPlan();
        _assertRefused(plan, abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 1, ActionKind.Borrow), feePool);
    }

    /// @dev The same churn in the other order: Borrow(X) first, then Repay(need + X) from the borrow and the reserve.
    function test_rr10_ChurnParkingBorrowFirstIsRefused() public {
        _boostPolicy();
        (Plan memory plan, uint256 parked) = _churnPlan();
        (plan.actions[0], plan.actions[1]) = (plan.actions[1], plan.actions[0]);
        assertEq(plan.actions[0].amount, parked);
        _assertRefused(plan, abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 1, ActionKind.Repay), feePool);
    }

    /* F2: deleverage-only policy, RepayWithCallback from idle + collateral withdrawn into a WETH pool */

    function _shrinkPlan() internal view returns (Plan memory plan, uint256 withdrawn) {
        MarketState memory s = adapter.marketState(Id.unwrap(wethMarket.id()), safe);
        uint256 repaid = usdc.balanceOf(safe); // need + X: the whole reserve
        // (C - W) p 0.86 / (D - R) = 1.30, a hair short of W so it lands just above 1.30.
        uint256 keep = Math.mulDiv(1.3e18 * (s.debt - repaid), 1e36, 0.86e18 * s.price, Math.Rounding.Ceil);
        withdrawn = (s.collateral - keep) * 999 / 1000;
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = wethId;
        plan.actions = new Action[](4);
        plan.actions[0] = action(ActionKind.RepayWithCallback, 0, address(0), repaid);
        plan.actions[1] = action(ActionKind.WithdrawCollateral, 0, address(0), withdrawn);
        plan.actions[2] = action(ActionKind.DepositToPool, 0, address(wethFeePool), withdrawn);
        plan.actions[3] = action(ActionKind.EndCallback, 0, address(0), 0);
    }

    function _deleverageOnlyWethPool() internal {
        setPolicy(defaultPolicy(wethMarket, address(wethFeePool))); // boostAllowed false (the default)
    }

    /// @dev F2 fixed: a due sub-account's collateral withdrawal funds no deposit (`DepositNotFunded(WETH, W, 0)`).
    function test_rr10_CallbackShrinkParkingOfTheReserveIsRefused() public {
        _deleverageOnlyWethPool();
        (Plan memory plan, uint256 withdrawn) = _shrinkPlan();
        _assertRefused(
            plan, abi.encodeWithSelector(ILeverageModule.DepositNotFunded.selector, address(weth), withdrawn, 0), wethFeePool
        );
    }

    /// @dev The F2 class without a callback: a boost-allowed policy lets the due sub-account withdraw collateral after a
    /// plain Repay of the whole reserve; the withdrawal still funds no deposit.
    function test_rr10_PlainRepayShrinkParkingOfTheReserveIsRefused() public {
        Policy memory policy = defaultPolicy(wethMarket, address(wethFeePool));
        policy.boostAllowed = true;
        setPolicy(policy);
        (Plan memory shrink, uint256 withdrawn) = _shrinkPlan();
        Plan memory plan = plan1(
            wethId,
            action(ActionKind.Repay, 0, address(0), shrink.actions[0].amount),
            action(ActionKind.WithdrawCollateral, 0, address(0), withdrawn)
        );
        plan.actions = _with(plan.actions, action(ActionKind.DepositToPool, 0, address(wethFeePool), withdrawn));
        _assertRefused(
            plan, abi.encodeWithSelector(ILeverageModule.DepositNotFunded.selector, address(weth), withdrawn, 0), wethFeePool
        );
    }

    /// @dev The honest rescue from the reserve (Repay(need) alone) still goes through and leaves the rest idle.
    function test_rr10_HonestRescueFromTheReserveStillPasses() public {
        _boostPolicy();
        uint256 need = _repayToReach(1.3e18);
        uint256 idle = usdc.balanceOf(safe);
        Plan memory rescue;
        rescue.subAccounts = new bytes32[](1);
        rescue.subAccounts[0] = wethId;
        rescue.actions = new Action[](1);
        rescue.actions[0] = action(ActionKind.Repay, 0, address(0), need);
        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, rescue, keeperKey));
        assertTrue(ok, string(reason));
        assertEq(usdc.balanceOf(safe), idle - need, "the rest of the reserve stays idle");
    }

    /* F3 (fixed by rr10b's rule): the reserve repays the due WETH while a not-due WBTC donor's borrow is parked */

    /// @dev The end state of the honest cross-venue donor plan (WBTC Borrow(need) -> WETH Repay(need)) plus `need` of
    /// the reserve parked in the fee pool: WETH Repay(need) from idle, WBTC Borrow(need) + DepositToPool(need). Each half
    /// is allowed on its own (a not-due move toward the target, issue 10 item 8), and the net rule sees the borrow fund
    /// the deposit. The solver never emits a not-due boost into a pool.
    function test_rr10_DonorBorrowParkedWhileTheReserveRepaysIsRefused() public {
        setPolicy(defaultPolicy(wethMarket, address(0)));
        Policy memory wbtcPolicy = defaultPolicy(wbtcMarket, address(feePool));
        wbtcPolicy.boostAllowed = true;
        wbtcPolicy.maxHealth = 1.8e18; // WBTC 1.72: in band, above its 1.4 target, so a borrow moves it toward it
        setPolicy(wbtcPolicy);
        uint256 need = _repayToReach(1.3e18);
        Action[] memory actions = new Action[](3);
        actions[0] = action(ActionKind.Repay, 0, address(0), need);
        actions[1] = action(ActionKind.Borrow, 1, address(0), need);
        actions[2] = action(ActionKind.DepositToPool, 1, address(feePool), need);
        // Fixed (rr10b): only a sub-account due above its band (a boost) funds a deposit, with its own earlier borrow.
        _assertRefused(
            plan2(wethId, wbtcId, actions),
            abi.encodeWithSelector(ILeverageModule.DepositNotFunded.selector, address(usdc), need, 0),
            feePool
        );
    }

    /* helpers */

    function _wethDebt() internal view returns (uint256 debt) {
        (, debt) = adapter.position(Id.unwrap(wethMarket.id()), safe);
    }

    /// @dev Sends `plan` through handleOps: refused with exactly `expected`, nothing left the Safe but the op's gas, and
    /// no share of `pool` was minted.
    function _assertRefused(Plan memory plan, bytes memory expected, RiggedVault pool) internal {
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        Holdings memory before = holdings(safe);
        uint256 shares = pool.balanceOf(safe);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok, "the idle reserve reached a pool");
        assertEq(reason, expected);
        assertNothingLeftBut(before, maxCost(op));
        assertEq(pool.balanceOf(safe), shares, "pool shares minted");
    }

    function _with(Action[] memory actions, Action memory last) internal pure returns (Action[] memory out) {
        out = new Action[](actions.length + 1);
        for (uint256 k; k < actions.length; ++k) {
            out[k] = actions[k];
        }
        out[actions.length] = last;
    }
}
