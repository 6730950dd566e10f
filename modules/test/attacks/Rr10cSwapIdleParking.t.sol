// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {SwapBase} from "../utils/SwapBase.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";

/// @notice Review rr10c C1 with a LOAN-TOKEN reserve (real Morpho, real Uniswap v3): row 73 says "no reserve moves:
/// deposits never exceed boosts' borrows", but a boost can buy collateral with the Safe's idle USDC reserve, supply it
/// and borrow its worth on top of the boost, while the deposit is listed on another sub-account. B = the WETH
/// sub-account at 1.8 (swap policy, boost allowed: due above its band); C = the WBTC sub-account at 1.72 (band
/// 1.2/1.4/1.8, boost allowed: in band, not due), the only one allowed the owner's 1%-exit-fee USDC pool. The Safe's
/// reserve: 5,000 idle USDC.
/// Plan: B BuyCollateral(5,000 USDC) + SupplyCollateral(bought) + Borrow(x); C Borrow(1,000) (toward its target, the
/// venue action the deposit needs) + DepositToPool(fee pool, x) listed on C.
contract Rr10cSwapIdleParkingTest is SwapBase {
    uint256 internal constant RESERVE = 5_000e6;
    uint256 internal constant C_BORROW = 1_000e6;
    RiggedVault internal feePool;

    function setUp() public override {
        super.setUp();
        feePool = _feePool(usdc, 100e6, 100);
        wethId = setPolicy(swapPolicy(wethMarket, true));
        moveWethHealthTo(1.8e18);
        Policy memory wbtcPolicy = defaultPolicy(wbtcMarket, address(feePool));
        wbtcPolicy.boostAllowed = true;
        wbtcPolicy.maxHealth = 1.8e18;
        wbtcId = setPolicy(wbtcPolicy);
        usdc.mint(safe, RESERVE);
    }

    function _plan() internal returns (Plan memory plan, uint256 x) {
        uint256 bought = quoteExactIn(address(usdc), address(weth), FEE_LOW, RESERVE);
        MarketState memory b = wethState();
        x = Math.mulDiv(Math.mulDiv(b.collateral + bought, b.price, 1e36), LLTV, 1.45e18) - b.debt;
        Action[] memory a = new Action[](5);
        a[0] = action(ActionKind.BuyCollateral, 0, route(FEE_LOW), RESERVE);
        a[1] = action(ActionKind.SupplyCollateral, 0, address(0), bought);
        a[2] = action(ActionKind.Borrow, 0, address(0), x);
        a[3] = action(ActionKind.Borrow, 1, address(0), C_BORROW);
        a[4] = action(ActionKind.DepositToPool, 1, address(feePool), x);
        plan = plan2(wethId, wbtcId, a);
    }

    /// @dev Was FAILS TODAY (rr10c C1, loan-token reserve). Expected: refused, nothing but gas left (suggested:
    /// DepositNotFunded(USDC, x, 0): a boost that supplies collateral funds no deposit).
    function test_rr10c_Swap_BoostBuyingWithTheReserveParksViaAnotherSubAccountIsRefused() public {
        (Plan memory plan, uint256 x) = _plan();
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        Holdings memory before = holdings(safe);
        uint256 shares = feePool.balanceOf(safe);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok, "the idle USDC reserve was bought into the boost's collateral and its worth parked");
        assertEq(reason, abi.encodeWithSelector(ILeverageModule.DepositNotFunded.selector, address(usdc), x, 0));
        assertNothingLeftBut(before, maxCost(op));
        assertEq(feePool.balanceOf(safe), shares);
    }

}
