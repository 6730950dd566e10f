// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {AttackBase} from "./AttackBase.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";

/// @notice Review rr10c of the row 73 fix (branch r73), keeper as attacker, Morpho, through EntryPoint.handleOps.
/// Row 73: per asset only the borrows of sub-accounts due above their band (`Run.boost`) fund a DepositToPool, and a
/// sub-account that supplies collateral deposits nothing (`CHURN_KINDS`). The churn pair is judged on the DEPOSIT's
/// sub-account, while `fundable` is net per asset: a boost that supplies the Safe's idle collateral reserve and borrows
/// its worth on top of the boost still funds a deposit listed on ANOTHER sub-account (into that one's allowed pool).
///
/// Setup (as rr10b): the Safe's only rescue reserve is 3 idle WETH (no idle USDC). A = the WETH sub-account, due at
/// 1.1467, default (deleverage-only) policy whose one pool is the owner's 1%-exit-fee USDC pool. B = a second WETH/USDC
/// market (the "twin", lltv 0.80, 20 WETH) at 1.9, above its 1.1/1.4/1.7 band, boost allowed, the same pool.
contract Rr10cIdleParkingTest is AttackBase {
    using MarketParamsLib for MarketParams;

    uint256 internal constant WETH_RESERVE = 3e18;
    RiggedVault internal feePool; // USDC, 1% exit fee

    function setUp() public override {
        super.setUp();
        // Idle USDC: none; idle WETH: the reserve only.
        feePool = _onlyIdleWethReserve(WETH_RESERVE);
        setPolicy(defaultPolicy(wethMarket, address(feePool))); // deleverage-only: no borrow, no withdrawal on A
    }

    /* helpers */

    /// @dev Opens the WETH twin B (20 WETH at `health`), sends its borrowed USDC away (the reserve stays the 3 idle WETH)
    /// and sets its policy: band 1.1 / 1.4 / 1.7, boost allowed, its one pool the USDC fee pool.
    function _openBoostTwin(uint256 health) internal {
        _openBoostAllowedTwin(health, address(feePool));
    }

    /// @dev The WETH A must supply to reach `target` health at the current price (rounded up).
    function _supplyToReach(uint256 target) internal view returns (uint256) {
        MarketState memory s = adapter.marketState(Id.unwrap(wethMarket.id()), safe);
        uint256 need = Math.mulDiv(target * s.debt, 1e36, 0.86e18 * s.price, Math.Rounding.Ceil);
        return need - s.collateral + 1;
    }

    /// @dev The break (C1): B (boost) SupplyCollateral(the whole 3 WETH reserve) + Borrow(x: lands B at 1.40 with the
    /// reserve in it); A Repay(`repaid`) from that borrow; DepositToPool(fee pool, x - repaid) LISTED ON A. Per sub-account
    /// no churn pair (B: Supply + Borrow; A: Repay + Deposit); per asset USDC: fundable x (B is a boost), deposited
    /// x - repaid, unparked = repaid = spent.
    function _boostCarriesTheReserve(uint256 repaid) internal view returns (Plan memory plan, uint256 parked) {
        uint256 x = _twinBoostBorrow(WETH_RESERVE);
        parked = x - repaid;
        Action[] memory a = new Action[](4);
        a[0] = action(ActionKind.SupplyCollateral, 1, address(0), WETH_RESERVE);
        a[1] = action(ActionKind.Borrow, 1, address(0), x);
        a[2] = action(ActionKind.Repay, 0, address(0), repaid);
        a[3] = action(ActionKind.DepositToPool, 0, address(feePool), parked);
        plan = plan2(wethId, wethTwinId, a);
    }

    /// @dev The same in the callback shape: B SupplyCollateralWithCallback(3 WETH) { Borrow(x) } EndCallback.
    function _boostCarriesTheReserveInCallback(uint256 repaid) internal view returns (Plan memory plan, uint256 parked) {
        Plan memory plain;
        (plain, parked) = _boostCarriesTheReserve(repaid);
        Action[] memory a = new Action[](5);
        a[0] = action(ActionKind.SupplyCollateralWithCallback, 1, address(0), WETH_RESERVE);
        a[1] = plain.actions[1];
        a[2] = action(ActionKind.EndCallback, 1, address(0), 0);
        a[3] = plain.actions[2];
        a[4] = plain.actions[3];
        plan = plan2(wethId, wethTwinId, a);
    }

    /// @dev After a drop that puts A back at 1.15, A's rescue from its only source (the fee pool) to 1.30: refused today
    /// with ValueLossExceeded(1% exit fee, r, 50) (the stall). Returns the rescue's revert data.
    function _nextRescueFromThePool() internal returns (bool ok, bytes memory reason, uint256 r) {
        _dropWethHealthTo(1.15e18);
        r = _repayToReach(1.3e18);
        Plan memory rescue = plan1(
            wethId,
            action(ActionKind.WithdrawFromPool, 0, address(feePool), r),
            action(ActionKind.Repay, 0, address(0), r)
        );
        (ok, reason) = handle(keeperOp(safe, keeper, rescue, keeperKey));
    }

    function _sendAndAssertRefused(Plan memory plan, bytes memory expected) internal {
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        Holdings memory before = holdings(safe);
        uint256 shares = feePool.balanceOf(safe);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok, "the idle WETH reserve became a boost's collateral and its worth was parked in the exit-fee pool");
        assertEq(reason, expected);
        assertNothingLeftBut(before, maxCost(op));
        assertEq(feePool.balanceOf(safe), shares, "pool shares minted");
    }

    /* C1: a boost supplies the reserve, the deposit is listed on the due sub-account (BREAK) */

    /// @dev Was FAILS TODAY (rr10c C1, skipped so the suite stays green; the fixer flips it). Expected: refused, nothing but
    /// gas left. The suggested rule (a boost that supplies collateral funds no deposit, wherever the deposit is listed)
    /// gives DepositNotFunded(USDC, parked, 0); another exact refusal is fine if the test is updated with it.
    function test_rr10c_BoostSupplyingTheReserveParksViaAnotherSubAccountIsRefused() public {
        _openBoostTwin(1.9e18);
        (Plan memory plan, uint256 parked) = _boostCarriesTheReserve(_repayToReach(1.3e18));
        _sendAndAssertRefused(plan, abi.encodeWithSelector(ILeverageModule.DepositNotFunded.selector, address(usdc), parked, 0));
    }

    /// @dev Control: the honest plan at the same start (A supplies just what it needs from the reserve, B boosts to 1.40
    /// into the pool, the solver's boost shape) keeps ~1.66 WETH idle, and A's next rescue after the same drop is paid
    /// from it.
    function test_rr10c_HonestPlanKeepsTheReserve() public {
        _openBoostTwin(1.9e18);
        uint256 s = _supplyToReach(1.3e18);
        uint256 x = _twinBoostBorrow(0);
        Action[] memory a = new Action[](3);
        a[0] = action(ActionKind.SupplyCollateral, 0, address(0), s);
        a[1] = action(ActionKind.Borrow, 1, address(0), x);
        a[2] = action(ActionKind.DepositToPool, 1, address(feePool), x);
        handleOk(keeperOp(safe, keeper, plan2(wethId, wethTwinId, a), keeperKey));
        assertEq(weth.balanceOf(safe), WETH_RESERVE - s, "the rest of the reserve stays idle");

        _dropWethHealthTo(1.15e18);
        uint256 next = _supplyToReach(1.3e18);
        assertLe(next, weth.balanceOf(safe), "the rest of the reserve pays the next rescue");
        Plan memory rescue;
        rescue.subAccounts = new bytes32[](1);
        rescue.subAccounts[0] = wethId;
        rescue.actions = new Action[](1);
        rescue.actions[0] = action(ActionKind.SupplyCollateral, 0, address(0), next);
        handleOk(keeperOp(safe, keeper, rescue, keeperKey));
    }

    /// @dev Was FAILS TODAY (C1, callback shape): B SupplyCollateralWithCallback(reserve) { Borrow } + A Repay + deposit on A.
    function test_rr10c_BoostCallbackSupplyParksViaAnotherSubAccountIsRefused() public {
        _openBoostTwin(1.9e18);
        (Plan memory plan, uint256 parked) = _boostCarriesTheReserveInCallback(_repayToReach(1.3e18));
        _sendAndAssertRefused(plan, abi.encodeWithSelector(ILeverageModule.DepositNotFunded.selector, address(usdc), parked, 0));
    }

    /* C1 without any crash: A is in band (not due); B above its band after a rise is enough */

    /// @dev A at 1.30 (in band, below its 1.40 target, not due), B opened at 1.9 at that price. Plan: B Supply(reserve) +
    /// Borrow(x); A Repay(r, toward its target: 1.30 -> ~1.35); DepositToPool(x - r) listed on A.
    function _noCrashPlan() internal returns (Plan memory plan, uint256 parked) {
        _dropWethHealthTo(1.3e18); // a price rise: 2400 -> ~2721
        _openBoostTwin(1.9e18);
        (plan, parked) = _boostCarriesTheReserve(_repayToReach(1.35e18));
    }

    function test_rr10c_NoCrashBoostSupplyingTheReserveParksViaANotDueSubAccountIsRefused() public {
        (Plan memory plan, uint256 parked) = _noCrashPlan();
        _sendAndAssertRefused(plan, abi.encodeWithSelector(ILeverageModule.DepositNotFunded.selector, address(usdc), parked, 0));
    }

    /* Residual (row 73, documented): the reserve pays a not-due sub-account's move toward its target */

    /// @dev Residual R (low; not a new break, row 73 lists it). A is due; the WETH twin C sits in band BELOW its target
    /// (1.25; band 1.1/1.4/1.7, boost allowed). Plan: A SupplyCollateral(what it needs to reach 1.30) from the reserve, C
    /// SupplyCollateral(the rest of the reserve) toward its target. Accepted: nothing is parked in a pool, C is safer, but
    /// the reserve now sits in C's collateral and only C's policy can give it back (C must be above its target to
    /// withdraw toward it). After a drop back to 1.15 A has no source (the pool holds ~100 USDC): the rescue fails, where
    /// the honest plan (`test_rr10c_HonestPlanKeepsTheReserve`) kept 1.66 WETH idle for it.
    function test_rr10c_Observed_ReservePaysANotDueMoveAndStallsTheNextRescue() public {
        _openWethTwin(20e18, 1.25e18);
        _sendIdleUsdcAway();
        Policy memory twin = defaultPolicy(wethTwin, address(0));
        twin.minHealth = 1.1e18;
        twin.boostAllowed = true;
        setPolicy(twin);
        uint256 s = _supplyToReach(1.3e18);
        Action[] memory a = new Action[](2);
        a[0] = action(ActionKind.SupplyCollateral, 0, address(0), s);
        a[1] = action(ActionKind.SupplyCollateral, 1, address(0), WETH_RESERVE - s);
        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, plan2(wethId, wethTwinId, a), keeperKey));
        assertTrue(ok, string(reason));
        assertEq(weth.balanceOf(safe), 0, "the whole reserve left the wallet");
        emit log_named_decimal_uint("reserve moved into the not-due twin (WETH)", WETH_RESERVE - s, 18);
        (bool rescued, bytes memory refusal, uint256 r) = _nextRescueFromThePool();
        // A has no source at all: no idle token, and the pool holds only the ~100 USDC it was seeded with.
        assertFalse(rescued, "the next rescue found funds");
        assertEq(bytes4(refusal), ILeverageModule.ActionFailed.selector, "the pool withdrawal fails: too little in it");
        assertLt(feePool.maxWithdraw(safe), r, "the pool cannot pay the rescue");
        assertEq(usdc.balanceOf(safe) + weth.balanceOf(safe), 0, "nothing idle");
    }

    /* Held */

    /// @dev H1: rr10b R1 on A (due below band, boost allowed) with the deposit listed on the boost B instead: A's borrow is
    /// not fundable, only B's. DepositNotFunded(USDC, x0 + y, x0).
    function test_rr10c_DueSupplyBorrowParkedThroughTheBoostIsRefused() public {
        Policy memory p = defaultPolicy(wethMarket, address(feePool));
        p.boostAllowed = true;
        setPolicy(p);
        _openBoostTwin(1.9e18);
        uint256 x0 = _twinBoostBorrow(0);
        MarketState memory s = adapter.marketState(Id.unwrap(wethMarket.id()), safe);
        uint256 y = Math.mulDiv(Math.mulDiv(s.collateral + WETH_RESERVE, s.price, 1e36), 0.86e18, 1.3e18) - s.debt - 1;
        Action[] memory a = new Action[](4);
        a[0] = action(ActionKind.SupplyCollateral, 0, address(0), WETH_RESERVE);
        a[1] = action(ActionKind.Borrow, 0, address(0), y);
        a[2] = action(ActionKind.Borrow, 1, address(0), x0);
        a[3] = action(ActionKind.DepositToPool, 1, address(feePool), x0 + y);
        _sendAndAssertRefused(
            plan2(wethId, wethTwinId, a),
            abi.encodeWithSelector(ILeverageModule.DepositNotFunded.selector, address(usdc), x0 + y, x0)
        );
    }

    /// @dev H2: pool to pool. B (boost, pools: the fair USDC pool and the fee pool) withdraws W from the fair pool and
    /// deposits its boost borrow plus W into the fee pool: DepositNotFunded(USDC, x0 + W, x0); with the deposit at x0 the
    /// withdrawal pays nothing: PoolNotUsed(B, fair pool).
    function test_rr10c_PoolToPoolNextToABoostIsRefused() public {
        _openBoostTwin(1.9e18);
        Policy memory twin = defaultPolicy(wethTwin, address(feePool));
        twin.minHealth = 1.1e18;
        twin.boostAllowed = true;
        twin.pools = new address[](2);
        twin.pools[0] = address(feePool);
        twin.pools[1] = address(usdcVault);
        setPolicy(twin);
        uint256 x0 = _twinBoostBorrow(0);
        uint256 w = 5_000e6;
        Action[] memory a = new Action[](3);
        a[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), w);
        a[1] = action(ActionKind.Borrow, 0, address(0), x0);
        a[2] = action(ActionKind.DepositToPool, 0, address(feePool), x0 + w);
        Plan memory plan;
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = wethTwinId;
        plan.actions = a;
        _sendAndAssertRefused(plan, abi.encodeWithSelector(ILeverageModule.DepositNotFunded.selector, address(usdc), x0 + w, x0));
        plan.actions[2].amount = x0;
        _sendAndAssertRefused(plan, abi.encodeWithSelector(ILeverageModule.PoolNotUsed.selector, wethTwinId, address(usdcVault)));
    }

    /// @dev H3: B boosts beyond its zone to fund a bigger parking (lands at 1.20 < zone low 1.25): HealthOutsideLandingZone.
    function test_rr10c_OverBorrowingBoostIsRefused() public {
        _openBoostTwin(1.9e18);
        MarketState memory t = adapter.marketState(Id.unwrap(wethTwin.id()), safe);
        uint256 x = Math.mulDiv(Math.mulDiv(t.collateral, t.price, 1e36), TWIN_LLTV, 1.2e18) - t.debt;
        Plan memory plan = plan1(
            wethTwinId, action(ActionKind.Borrow, 0, address(0), x), action(ActionKind.DepositToPool, 0, address(feePool), x)
        );
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        Holdings memory before = holdings(safe);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok);
        assertEq(bytes4(reason), ILeverageModule.HealthOutsideLandingZone.selector);
        assertNothingLeftBut(before, maxCost(op));
    }

    /// @dev H4: the boost B repays nothing: Borrow + Repay on B (the idle USDC reserve carried through B's debt) is churn.
    function test_rr10c_BoostRepayThenBorrowIsRefused() public {
        _openBoostTwin(1.9e18);
        usdc.mint(safe, 5_000e6); // an idle USDC reserve
        uint256 x0 = _twinBoostBorrow(0);
        Action[] memory a = new Action[](3);
        a[0] = action(ActionKind.Repay, 0, address(0), 5_000e6);
        a[1] = action(ActionKind.Borrow, 0, address(0), x0 + 5_000e6);
        a[2] = action(ActionKind.DepositToPool, 0, address(feePool), x0 + 5_000e6);
        Plan memory plan;
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = wethTwinId;
        plan.actions = a;
        _sendAndAssertRefused(plan, abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 1, ActionKind.Borrow));
    }
}
