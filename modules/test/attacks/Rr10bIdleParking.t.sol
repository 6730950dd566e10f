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

/// @notice Review rr10b of the rr10 F1/F2 fix (b449915), keeper as attacker, Morpho. The Safe's only rescue reserve is
/// idle WETH (collateral token); its idle USDC is 0. The WETH sub-account is due at 1.1467, boost allowed, its one pool
/// the owner's 1%-exit-fee USDC pool.
contract Rr10bIdleParkingTest is AttackBase {
    using MarketParamsLib for MarketParams;

    uint256 internal constant WETH_RESERVE = 3e18;
    RiggedVault internal feePool; // USDC, 1% exit fee

    function setUp() public override {
        super.setUp();
        // Idle USDC: none (the fixture's borrowed USDC leaves); idle WETH: the reserve.
        feePool = _onlyIdleWethReserve(WETH_RESERVE);
        Policy memory policy = defaultPolicy(wethMarket, address(feePool));
        policy.boostAllowed = true;
        setPolicy(policy);
    }

    /// @dev The whole idle WETH reserve supplied, then Borrow(X) to land at 1.30 and DepositToPool(X): the borrow
    /// "funds" the deposit, so DepositNotFunded passes; the reserve is now collateral and X USDC sits in the fee pool.
    function _supplyBorrowPark() internal view returns (Plan memory plan, uint256 parked) {
        MarketState memory s = adapter.marketState(Id.unwrap(wethMarket.id()), safe);
        uint256 value = Math.mulDiv(s.collateral + WETH_RESERVE, s.price, 1e36);
        parked = Math.mulDiv(value, 0.86e18, 1.3e18) - s.debt - 1; // lands a hair above 1.30
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = wethId;
        plan.actions = new Action[](3);
        plan.actions[0] = action(ActionKind.SupplyCollateral, 0, address(0), WETH_RESERVE);
        plan.actions[1] = action(ActionKind.Borrow, 0, address(0), parked);
        plan.actions[2] = action(ActionKind.DepositToPool, 0, address(feePool), parked);
    }

    /// @dev rr10b R1, fixed: refused (the due sub-account's borrow is made possible by the idle reserve
    /// it supplied, so it should fund no deposit). Today accepted: 3 WETH of idle reserve supplied, 2,639.999999 USDC
    /// borrowed and parked in the 1%-exit-fee pool, health 1.1467 -> 1.3000, 0 loss booked.
    function test_rr10b_SupplyBorrowParkingOfTheCollateralReserveIsRefused() public {
        (Plan memory plan,) = _supplyBorrowPark();
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        Holdings memory before = holdings(safe);
        uint256 shares = feePool.balanceOf(safe);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok, "the idle WETH reserve became collateral and its borrow was parked in the exit-fee pool");
        // A sub-account that supplies collateral deposits nothing (`CHURN_KINDS`): the deposit, the later of the pair.
        assertEq(reason, abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 2, ActionKind.DepositToPool));
        assertNothingLeftBut(before, maxCost(op));
        assertEq(feePool.balanceOf(safe), shares, "pool shares minted");
    }

    /// @dev `_supplyBorrowPark`'s three actions on the due WETH sub-account in the order `order` (indexes into
    /// [SupplyCollateral, Borrow, DepositToPool]).
    function _supplyBorrowParkIn(uint256[3] memory order) internal view returns (Plan memory plan) {
        Plan memory base;
        (base,) = _supplyBorrowPark();
        plan.subAccounts = base.subAccounts;
        plan.actions = new Action[](3);
        for (uint256 k; k < 3; ++k) {
            plan.actions[k] = base.actions[order[k]];
        }
    }

    /// @dev The later index, in `order`, of the SupplyCollateral (0) / DepositToPool (2) pair, and its kind.
    function _laterOfSupplyAndDeposit(uint256[3] memory order) internal pure returns (uint256 index, ActionKind kind) {
        for (uint256 k; k < 3; ++k) {
            if (order[k] != 1) (index, kind) = (k, order[k] == 0 ? ActionKind.SupplyCollateral : ActionKind.DepositToPool);
        }
    }

    /// @dev Fixed (rr10b R1, every order, the review's deposit-before-borrow one included): the Safe also holds the
    /// X idle USDC a deposit before the borrow spends, so every order executes today and is accepted. Expected: the
    /// later of the SupplyCollateral / DepositToPool pair on one sub-account refused, ActionNotAllowed(index, kind).
    function test_rr10b_SupplyBorrowParkingInEveryOrderIsRefused() public {
        (, uint256 parked) = _supplyBorrowPark();
        usdc.mint(safe, parked); // so a deposit placed before the borrow can run
        uint256[3][6] memory orders =
            [[uint256(0), 1, 2], [uint256(0), 2, 1], [uint256(1), 0, 2], [uint256(1), 2, 0], [uint256(2), 0, 1], [uint256(2), 1, 0]];
        for (uint256 o; o < orders.length; ++o) {
            Plan memory plan = _supplyBorrowParkIn(orders[o]);
            (uint256 index, ActionKind kind) = _laterOfSupplyAndDeposit(orders[o]);
            uint256 shares = feePool.balanceOf(safe);
            _expectRefusedWith(plan, abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, index, kind));
            assertEq(feePool.balanceOf(safe), shares, "pool shares minted");
        }
    }

    /// @dev R1 in the callback shape: SupplyCollateralWithCallback(the whole 3 WETH reserve) { Borrow(X) } and
    /// DepositToPool(X) inside the callback (`inside`) or after it, on the WETH sub-account due below its band.
    function _callbackPark(bool inside) internal view returns (Plan memory plan) {
        (Plan memory base, uint256 parked) = _supplyBorrowPark();
        plan.subAccounts = base.subAccounts;
        plan.actions = new Action[](4);
        plan.actions[0] = action(ActionKind.SupplyCollateralWithCallback, 0, address(0), WETH_RESERVE);
        plan.actions[1] = action(ActionKind.Borrow, 0, address(0), parked);
        plan.actions[inside ? 2 : 3] = action(ActionKind.DepositToPool, 0, address(feePool), parked);
        plan.actions[inside ? 3 : 2] = action(ActionKind.EndCallback, 0, address(0), 0);
    }

    /// @dev Fixed (rr10b R1, callback shape, not tried by the review): accepted today like the plain supply.
    /// Expected: the deposit on a sub-account with a (callback) supply refused, ActionNotAllowed(index, DepositToPool).
    function test_rr10b_CallbackSupplyBorrowParkingIsRefused() public {
        uint256 shares = feePool.balanceOf(safe);
        _expectRefusedWith(
            _callbackPark(true), abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 2, ActionKind.DepositToPool)
        );
        _expectRefusedWith(
            _callbackPark(false), abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 3, ActionKind.DepositToPool)
        );
        assertEq(feePool.balanceOf(safe), shares, "pool shares minted");
    }

    /* R1 on a sub-account due ABOVE its band: the review's suggested rule alone would accept it */

    /// @dev The WETH twin opened at 1.9 (above its 1.7 band), boost allowed, its one pool the USDC fee pool; the WETH
    /// sub-account A is not listed. Its borrowed USDC leaves: the Safe's only reserve stays the 3 idle WETH.
    function _boostTwin() internal {
        _openBoostAllowedTwin(1.9e18, address(feePool));
    }

    /// @dev Fixed (not in the review): the twin is due above its band (a boost), so a rule that lets any borrow of
    /// such a sub-account fund a deposit accepts SupplyCollateral(the 3 WETH reserve) + Borrow(X + the reserve's worth)
    /// + DepositToPool: the reserve becomes collateral and its worth is parked. Expected: ActionNotAllowed(2, DepositToPool).
    function test_rr10b_BoostSupplyingTheReserveAndParkingIsRefused() public {
        _boostTwin();
        uint256 x = _twinBoostBorrow(WETH_RESERVE);
        Action[] memory a = new Action[](3);
        a[0] = action(ActionKind.SupplyCollateral, 0, address(0), WETH_RESERVE);
        a[1] = action(ActionKind.Borrow, 0, address(0), x);
        a[2] = action(ActionKind.DepositToPool, 0, address(feePool), x);
        Plan memory plan;
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = wethTwinId;
        plan.actions = a;
        uint256 shares = feePool.balanceOf(safe);
        _expectRefusedWith(plan, abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 2, ActionKind.DepositToPool));
        assertEq(feePool.balanceOf(safe), shares, "pool shares minted");
    }

    /// @dev The honest boost's two actions in the other order, DepositToPool(X) before Borrow(X), with X idle USDC in the
    /// Safe: the rule is net per asset and order-free, and the end state is the honest boost's (the idle USDC is back).
    function test_rr10b_BoostDepositBeforeItsBorrowIsAccepted() public {
        _boostTwin();
        uint256 x = _twinBoostBorrow(0);
        usdc.mint(safe, x);
        Plan memory plan = plan1(
            wethTwinId,
            action(ActionKind.DepositToPool, 0, address(feePool), x),
            action(ActionKind.Borrow, 0, address(0), x)
        );
        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, plan, keeperKey));
        assertTrue(ok, string(reason));
        assertEq(usdc.balanceOf(safe), x, "the idle USDC is back");
        assertEq(weth.balanceOf(safe), WETH_RESERVE, "the WETH reserve stays idle");
    }

    /// @dev The solver's boost (planSteps.ts `boost`): Borrow(X) + DepositToPool(X) on a sub-account due above its band,
    /// into the owner's pool. Passes before and after the rule; the reserve stays idle.
    function test_rr10b_HonestBoostIntoThePoolStillPasses() public {
        _boostTwin();
        uint256 x = _twinBoostBorrow(0);
        uint256 shares = feePool.balanceOf(safe);
        Plan memory plan = plan1(
            wethTwinId,
            action(ActionKind.Borrow, 0, address(0), x),
            action(ActionKind.DepositToPool, 0, address(feePool), x)
        );
        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, plan, keeperKey));
        assertTrue(ok, string(reason));
        assertApproxEqAbs(feePool.convertToAssets(feePool.balanceOf(safe) - shares), x, 1, "the boost's borrow is parked");
        assertEq(weth.balanceOf(safe), WETH_RESERVE, "the WETH reserve stays idle");
        assertApproxEqAbs(adapter.marketState(Id.unwrap(wethTwin.id()), safe).health, 1.4e18, 1e9, "landed at 1.40");
    }

    /* R2: a not-due twin's collateral withdrawal parked while the due rescue draws the idle WETH reserve */

    RiggedVault internal wethFeePool; // WETH, 1% exit fee

    /// @dev A (WETH, due 1.1467) and its WETH twin (20 WETH at 1.65, band 1.1/1.4/1.7, boost allowed) may both use the
    /// owner's 1%-exit-fee WETH pool. The plan: A SupplyCollateral(the whole 3 WETH reserve) -> 1.49; the twin
    /// WithdrawCollateral(3 WETH) (1.65 -> ~1.40, toward its target) + DepositToPool(wethFeePool, 3 WETH). Per asset WETH:
    /// spent 3, received 3, fundable 3 (a not-due withdrawal), deposited 3: every check passes. The end state is the
    /// twin donating 3 WETH to A plus the whole WETH reserve parked in the fee pool.
    function _twinParks() internal returns (Plan memory plan) {
        wethFeePool = _feePool(weth, 1e18, 100);
        setPolicy(defaultPolicy(wethMarket, address(wethFeePool)));
        _openBoostAllowedTwin(1.65e18, address(wethFeePool)); // its borrowed USDC leaves too
        Action[] memory a = new Action[](3);
        a[0] = action(ActionKind.SupplyCollateral, 0, address(0), WETH_RESERVE);
        a[1] = action(ActionKind.WithdrawCollateral, 1, address(0), WETH_RESERVE);
        a[2] = action(ActionKind.DepositToPool, 1, address(wethFeePool), WETH_RESERVE);
        plan = plan2(wethId, wethTwinId, a);
    }

    /// @dev rr10b R2, fixed: refused (the solver never deposits a not-due sub-account's withdrawal; here
    /// it stands in for the idle reserve the rescue drew). Today accepted: 3 WETH parked, 0 idle WETH left.
    function test_rr10b_TwinWithdrawalParkedWhileTheRescueDrawsTheReserveIsRefused() public {
        Plan memory plan = _twinParks();
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        Holdings memory before = holdings(safe);
        uint256 shares = wethFeePool.balanceOf(safe);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok, "the idle WETH reserve's worth was parked in the exit-fee pool");
        // A withdrawal funds no deposit; only a boost's own earlier borrow does.
        assertEq(reason, abi.encodeWithSelector(ILeverageModule.DepositNotFunded.selector, address(weth), WETH_RESERVE, 0));
        assertNothingLeftBut(before, maxCost(op));
        assertEq(wethFeePool.balanceOf(safe), shares, "pool shares minted");
    }
}

