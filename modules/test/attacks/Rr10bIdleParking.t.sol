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
        safeExec(safe, address(usdc), 0, abi.encodeCall(IERC20.transfer, (makeAddr("elsewhere"), usdc.balanceOf(safe))), 0);
        uint256 idleWeth = weth.balanceOf(safe);
        if (idleWeth > 0) safeExec(safe, address(weth), 0, abi.encodeCall(IERC20.transfer, (makeAddr("elsewhere"), idleWeth)), 0);
        weth.mint(safe, WETH_RESERVE);
        feePool = _feePool(usdc, 100e6, 100);
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

    /// @dev FAILS TODAY (rr10b R1): expected refused (the due sub-account's borrow is made possible by the idle reserve
    /// it supplied, so it should fund no deposit). Today accepted: 3 WETH of idle reserve supplied, 2,639.999999 USDC
    /// borrowed and parked in the 1%-exit-fee pool, health 1.1467 -> 1.3000, 0 loss booked.
    function test_rr10b_SupplyBorrowParkingOfTheCollateralReserveIsRefused() public {
        vm.skip(true);
        (Plan memory plan,) = _supplyBorrowPark();
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        Holdings memory before = holdings(safe);
        uint256 shares = feePool.balanceOf(safe);
        (bool ok,) = handle(op);
        assertFalse(ok, "the idle WETH reserve became collateral and its borrow was parked in the exit-fee pool");
        assertNothingLeftBut(before, maxCost(op));
        assertEq(feePool.balanceOf(safe), shares, "pool shares minted");
    }

    /// @dev Observed today: accepted; the next rescue (price drop to 1.15) has no idle source, only the fee pool.
    function test_rr10b_Observed_SupplyBorrowParksAndStallsTheNextRescue() public {
        (Plan memory plan, uint256 parked) = _supplyBorrowPark();
        uint256 shares = feePool.balanceOf(safe);
        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, plan, keeperKey));
        assertTrue(ok, string(reason));
        assertEq(weth.balanceOf(safe), 0, "the WETH reserve is collateral");
        assertEq(usdc.balanceOf(safe), 0, "no idle USDC");
        assertApproxEqAbs(feePool.convertToAssets(feePool.balanceOf(safe) - shares), parked, 1, "parked");
        MarketState memory s = adapter.marketState(Id.unwrap(wethMarket.id()), safe);
        assertApproxEqAbs(s.health, 1.3e18, 1e9, "landed at 1.30");
        emit log_named_uint("parked (USDC base units)", parked);
        // The next drop: 1.30 -> 1.15. The only source is the exit-fee pool.
        vm.warp(block.timestamp + 2 days);
        _dropWethHealthTo(1.15e18);
        uint256 need = _repayToReach(1.3e18);
        emit log_named_uint("next need", need);
        Plan memory rescue = plan1(
            wethId,
            action(ActionKind.WithdrawFromPool, 0, address(feePool), need),
            action(ActionKind.Repay, 0, address(0), need)
        );
        (ok, reason) = handle(keeperOp(safe, keeper, rescue, keeperKey));
        assertFalse(ok, "the next rescue from the fee pool");
        // The pool's 1% exit fee on the withdrawal is 23.815385 USDC against a 50 bps bound of the 2,381.538462 moved.
        assertEq(reason, abi.encodeWithSelector(ILeverageModule.ValueLossExceeded.selector, need / 100 + 1, need, 50));
    }

}
