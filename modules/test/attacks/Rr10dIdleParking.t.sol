// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {AttackBase} from "./AttackBase.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";

/// @notice Review rr10d of the row 75 fix (rr10c C1: a supplying sub-account's borrows fund no deposit), keeper as
/// attacker, Morpho, through EntryPoint.handleOps. Question: can a boost that supplies nothing get its borrowing room
/// from elsewhere (a twin's collateral handed over, an outsider's gift that makes an in-band sub-account a boost) and
/// so carry the Safe's idle reserve, or a not-due sub-account's borrow, into the owner's 1%-exit-fee pool?
///
/// Setup (as rr10b/rr10c): the Safe's only rescue reserve is 3 idle WETH (no idle USDC). A = the WETH sub-account, due
/// at 1.1467, default (deleverage-only) policy whose one pool is the 1%-exit-fee USDC pool. B = the WETH twin (lltv 0.80,
/// 20 WETH), band 1.1 / 1.4 / 1.7, boost allowed, the same pool.
contract Rr10dIdleParkingTest is AttackBase {
    using MarketParamsLib for MarketParams;

    uint256 internal constant WETH_RESERVE = 3e18;
    RiggedVault internal feePool; // USDC, 1% exit fee

    function setUp() public override {
        super.setUp();
        feePool = _onlyIdleWethReserve(WETH_RESERVE); // idle USDC: none; idle WETH: the reserve only
        setPolicy(defaultPolicy(wethMarket, address(feePool)));
    }

    /* helpers */

    function _openBoostTwin(uint256 health) internal {
        _openBoostAllowedTwin(health, address(feePool));
    }

    function _twin() internal view returns (MarketState memory) {
        return adapter.marketState(Id.unwrap(wethTwin.id()), safe);
    }

    /// @dev B's borrow that lands it at `h` after `withdrawn` WETH left its collateral.
    function _twinBorrowTo(uint256 h, uint256 withdrawn) internal view returns (uint256) {
        MarketState memory t = _twin();
        return Math.mulDiv(Math.mulDiv(t.collateral - withdrawn, t.price, 1e36), TWIN_LLTV, h) - t.debt;
    }

    function _supplyToReach(uint256 target) internal view returns (uint256) {
        MarketState memory s = adapter.marketState(Id.unwrap(wethMarket.id()), safe);
        uint256 need = Math.mulDiv(target * s.debt, 1e36, 0.86e18 * s.price, Math.Rounding.Ceil);
        return need - s.collateral + 1;
    }

    /// @dev An outsider (the attacker) supplies `amount` WETH into B's Morpho market on behalf of the Safe.
    function _giftCollateralToTwin(uint256 amount) internal {
        weth.mint(attacker, amount);
        vm.startPrank(attacker);
        weth.approve(address(morpho), amount);
        morpho.supplyCollateral(wethTwin, amount, safe, "");
        vm.stopPrank();
    }

    /// @dev The least WETH that lifts B strictly above its 1.7 maxHealth.
    function _giftToLeaveTheBand() internal view returns (uint256) {
        MarketState memory t = _twin();
        uint256 need = Math.mulDiv(1.7e18 * t.debt, 1e36, TWIN_LLTV * t.price, Math.Rounding.Ceil);
        return need - t.collateral + 1e12;
    }

    /// @dev A SupplyCollateral(s) from the reserve (its rescue to 1.30); B Borrow(x) + DepositToPool(fee pool, x).
    function _rescuePlusParkedTwinBorrow(uint256 x) internal view returns (Plan memory) {
        Action[] memory a = new Action[](3);
        a[0] = action(ActionKind.SupplyCollateral, 0, address(0), _supplyToReach(1.3e18));
        a[1] = action(ActionKind.Borrow, 1, address(0), x);
        a[2] = action(ActionKind.DepositToPool, 1, address(feePool), x);
        return plan2(wethId, wethTwinId, a);
    }

    function _sendAndAssertRefused(Plan memory plan, bytes memory expected) internal {
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        Holdings memory before = holdings(safe);
        uint256 shares = feePool.balanceOf(safe);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok, "accepted");
        assertEq(reason, expected);
        assertNothingLeftBut(before, maxCost(op));
        assertEq(feePool.balanceOf(safe), shares, "pool shares minted");
    }

    /* D1: an outsider's gift turns an in-band (not-due) twin into a boost whose borrow may be parked */

    /// @dev Control (held): B at 1.69, in band, not due. Its borrow toward (and past) its target parked in the fee pool
    /// next to A's rescue is refused: a not-due borrow funds no deposit (rr10 F3, row 73).
    function test_rr10d_NotDueTwinBorrowParkedIsRefused() public {
        _openBoostTwin(1.69e18);
        uint256 x = _twinBorrowTo(1.26e18, 0);
        _sendAndAssertRefused(
            _rescuePlusParkedTwinBorrow(x), abi.encodeWithSelector(ILeverageModule.DepositNotFunded.selector, address(usdc), x, 0)
        );
    }

    /// @dev Observed (D1, informational): the attacker supplies ~0.12 WETH into B's market on the Safe's behalf
    /// (Morpho's supplyCollateral takes any onBehalf), B reads 1.7+ and is a boost; the same plan now lands B at 1.26
    /// (its boost zone is [1.25, 1.55]) with the whole borrow parked in the 1%-exit-fee pool, accepted. The reserve is not
    /// touched beyond A's honest rescue and the gift costs the attacker more than the exit fee it exposes the Safe to.
    function test_rr10d_Observed_GiftedBoostParksTheTwinsBorrow() public {
        _giftedBoost(1.69e18);
    }

    /// @dev Observed (D1 at the band's edge): B at 1.6999 (in band), the gift that lifts it out is ~3.5 USDC worth and
    /// exposes the same ~80 USDC of exit fee on a ~8,000 USDC parked borrow (1.70 -> 1.26; a not-due B could only move
    /// to 1.40 and park nothing).
    function test_rr10d_Observed_GiftedBoostAtTheEdgeParksTheTwinsBorrow() public {
        _giftedBoost(1.6999e18);
    }

    function _giftedBoost(uint256 startHealth) internal {
        _openBoostTwin(startHealth);
        uint256 gift = _giftToLeaveTheBand();
        _giftCollateralToTwin(gift);
        MarketState memory t = _twin();
        assertGt(t.health, 1.7e18, "B above its band after the gift");
        uint256 x = _twinBorrowTo(1.26e18, 0);
        uint256 s = _supplyToReach(1.3e18);
        uint256 shares = feePool.balanceOf(safe);
        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, _rescuePlusParkedTwinBorrow(x), keeperKey));
        assertTrue(ok, string(reason));
        assertEq(weth.balanceOf(safe), WETH_RESERVE - s, "only A's rescue drew the reserve");
        // What the parked borrow pays back on exit: convertToAssets less the vault's 1% exit fee (RiggedVault.withdraw).
        uint256 fair = feePool.convertToAssets(feePool.balanceOf(safe) - shares);
        uint256 exitValue = fair - Math.mulDiv(fair, 100, 10_000, Math.Rounding.Ceil);
        emit log_named_decimal_uint("gift by the attacker (WETH)", gift, 18);
        emit log_named_decimal_uint("gift value (USDC)", Math.mulDiv(gift, t.price, 1e36), 6);
        emit log_named_decimal_uint("B's borrow parked in the fee pool (USDC)", x, 6);
        emit log_named_decimal_uint("its value on exit (USDC)", exitValue, 6);
        emit log_named_decimal_uint("B health after", _twin().health, 18);
        assertLt(exitValue, x, "the exit fee applies to the parked borrow");
        emit log_named_decimal_uint("exit fee exposed, unbooked (USDC)", x - exitValue, 6);
    }

    /* D2: a genuine boost's room handed over: B withdraws collateral that A supplies, B's borrow parked */

    /// @dev Held (no reserve moved): B (1.9, a genuine boost, supplies nothing) WithdrawCollateral(w = A's need) +
    /// Borrow(x to 1.30) + DepositToPool(x); A SupplyCollateral(w). The withdrawal is spent by A's supply, the deposit
    /// is B's own borrow; the idle 3 WETH reserve stays whole, A's next rescue after a drop is paid from it.
    function test_rr10d_BoostHandingCollateralToTheRescueKeepsTheReserve() public {
        _openBoostTwin(1.9e18);
        uint256 w = _supplyToReach(1.3e18);
        uint256 x = _twinBorrowTo(1.3e18, w);
        Action[] memory a = new Action[](4);
        a[0] = action(ActionKind.WithdrawCollateral, 1, address(0), w);
        a[1] = action(ActionKind.SupplyCollateral, 0, address(0), w);
        a[2] = action(ActionKind.Borrow, 1, address(0), x);
        a[3] = action(ActionKind.DepositToPool, 1, address(feePool), x);
        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, plan2(wethId, wethTwinId, a), keeperKey));
        assertTrue(ok, string(reason));
        assertEq(weth.balanceOf(safe), WETH_RESERVE, "the reserve is whole");

        _dropWethHealthTo(1.15e18);
        uint256 next = _supplyToReach(1.3e18);
        assertLe(next, WETH_RESERVE, "the reserve pays the next rescue");
        Plan memory rescue;
        rescue.subAccounts = new bytes32[](1);
        rescue.subAccounts[0] = wethId;
        rescue.actions = new Action[](1);
        rescue.actions[0] = action(ActionKind.SupplyCollateral, 0, address(0), next);
        handleOk(keeperOp(safe, keeper, rescue, keeperKey));
    }

    /// @dev Held: the same hand-over where A's supply ALSO takes the reserve (w + the 3 WETH), B parking its borrow:
    /// A lands above its zone's high edge (1.35): HealthOutsideLandingZone. With A's supply at w + reserve but B
    /// withdrawing w + reserve (so the reserve is "replaced" by B's collateral), B's withdrawal is spent, nothing idle
    /// left; the reserve then sits in A's position: that is the row 73/75 residual R (bounded by A's zone), not a pool.
    function test_rr10d_BoostHandOverCannotCarryTheReserveIntoAPool() public {
        _openBoostTwin(1.9e18);
        usdc.mint(safe, 1); // one unit of idle USDC, so the deposit runs and the rule is reached
        uint256 w = _supplyToReach(1.3e18);
        uint256 x = _twinBorrowTo(1.3e18, w);
        // The deposit is one unit above B's borrow (the extra unit from idle): DepositNotFunded.
        Action[] memory a = new Action[](4);
        a[0] = action(ActionKind.WithdrawCollateral, 1, address(0), w);
        a[1] = action(ActionKind.SupplyCollateral, 0, address(0), w);
        a[2] = action(ActionKind.Borrow, 1, address(0), x);
        a[3] = action(ActionKind.DepositToPool, 1, address(feePool), x + 1);
        _sendAndAssertRefused(
            plan2(wethId, wethTwinId, a), abi.encodeWithSelector(ILeverageModule.DepositNotFunded.selector, address(usdc), x + 1, x)
        );
    }

    /* D3: usage for an untouched sub-account: a 1-unit repayment on a not-due twin next to A's rescue */

    /// @dev Held: B (in band 1.3, below its 1.4 target, not due) lists a 1-unit Repay next to A's rescue: SubAccountUnchanged(B) (material
    /// change), nothing but gas left, B's usage record untouched.
    function test_rr10d_OneUnitMoveOnANotDueTwinIsRefused() public {
        _openBoostTwin(1.3e18);
        usdc.mint(safe, 1);
        Action[] memory a = new Action[](2);
        a[0] = action(ActionKind.SupplyCollateral, 0, address(0), _supplyToReach(1.3e18));
        a[1] = action(ActionKind.Repay, 1, address(0), 1);
        EpochUsage memory u = module.getEpochUsage(safe, wethTwinId);
        _sendAndAssertRefused(plan2(wethId, wethTwinId, a), abi.encodeWithSelector(ILeverageModule.SubAccountUnchanged.selector, wethTwinId));
        assertEq(abi.encode(module.getEpochUsage(safe, wethTwinId)), abi.encode(u), "B's usage changed");
    }

    /* D4: callback nesting: the boost's borrow and deposit inside the due sub-account's supply callback */

    /// @dev Held (equivalent to the honest plan): A SupplyCollateralWithCallback(s from the reserve) { B Borrow(x to
    /// 1.30), B DepositToPool(x) } EndCallback is accepted, but the reserve keeps all but A's need (1.66 WETH) and the pool
    /// receives exactly B's borrow: the nesting adds no room (A's supply clears only A's boost flag, B supplies nothing).
    function test_rr10d_BoostInsideTheRescuesSupplyCallbackParksOnlyItsOwnBorrow() public {
        _openBoostTwin(1.9e18);
        uint256 sA = _supplyToReach(1.3e18);
        uint256 x = _twinBorrowTo(1.3e18, 0);
        Action[] memory a = new Action[](4);
        a[0] = action(ActionKind.SupplyCollateralWithCallback, 0, address(0), sA);
        a[1] = action(ActionKind.Borrow, 1, address(0), x);
        a[2] = action(ActionKind.DepositToPool, 1, address(feePool), x);
        a[3] = action(ActionKind.EndCallback, 0, address(0), 0);
        uint256 shares = feePool.balanceOf(safe);
        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, plan2(wethId, wethTwinId, a), keeperKey));
        assertTrue(ok, string(reason));
        assertEq(weth.balanceOf(safe), WETH_RESERVE - sA, "only A's need left the reserve");
        assertEq(feePool.balanceOf(safe) - shares, feePool.previewDeposit(x), "the pool got B's borrow only");
    }
}
