// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {AttackBase} from "./AttackBase.sol";
import {AaveTestBase} from "../utils/AaveTestBase.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";

/// @notice Review rr10c C1 across venues (real Aave v3 Pool): the boost that carries the Safe's idle WETH reserve is an
/// Aave sub-account B (20 WETH at ~1.9, band 1.2/1.4/1.7, boost allowed); the deposit is listed on the Morpho WETH
/// sub-account A (10 WETH / 18,000 USDC at 2,400: 1.1467, deleverage-only), into A's allowed 1%-exit-fee USDC pool.
/// B Supply(3 WETH) + Borrow(x); A Repay(need); A DepositToPool(x - need). Row 73's churn pair is judged on the deposit's
/// sub-account (A: Repay + Deposit, no pair) and `fundable` per asset (x, B is a boost): accepted today.
contract Rr10cAaveIdleParkingTest is AttackBase, AaveTestBase {
    uint256 internal constant WETH_RESERVE = 3e18;
    bytes32 internal morphoId;
    bytes32 internal aaveId;
    RiggedVault internal feePool;

    function setUp() public override(AttackBase, AaveTestBase) {
        super.setUp();
        installModuleWithAave(); // a fresh Safe; WETH is at 2,400
        openPosition(safe, wethMarket, 10e18, 18_000e6); // 1.1467: due
        aaveSupply(safe, weth, 20e18);
        MarketState memory s = aaveAdapter.marketState(wethUsdc, safe);
        aaveBorrow(safe, usdc, Math.mulDiv(Math.mulDiv(s.collateral, s.price, 1e36), s.lltv, 1.9e18));
        safeExec(safe, address(usdc), 0, abi.encodeCall(IERC20.transfer, (lender, usdc.balanceOf(safe))), 0);
        weth.mint(safe, WETH_RESERVE); // the Safe's only reserve: 3 idle WETH
        feePool = _feePool(usdc, 100e6, 100);
        morphoId = setPolicyFor(safe, defaultPolicy(wethMarket, address(feePool)));
        Policy memory aave = aavePolicy(wethUsdc, address(wethOracle), address(feePool));
        aave.boostAllowed = true;
        aaveId = setPolicyFor(safe, aave);
        assertGt(aaveHealthFactor(safe), 1.7e18, "B is above its band");
    }

    function _plan() internal view returns (Plan memory plan, uint256 parked) {
        MarketState memory b = aaveAdapter.marketState(wethUsdc, safe);
        uint256 x = Math.mulDiv(Math.mulDiv(b.collateral + WETH_RESERVE, b.price, 1e36), b.lltv, 1.45e18) - b.debt;
        uint256 need = _repayToReach(1.3e18);
        parked = x - need;
        Action[] memory a = new Action[](4);
        a[0] = action(ActionKind.SupplyCollateral, 1, address(0), WETH_RESERVE);
        a[1] = action(ActionKind.Borrow, 1, address(0), x);
        a[2] = action(ActionKind.Repay, 0, address(0), need);
        a[3] = action(ActionKind.DepositToPool, 0, address(feePool), parked);
        plan = plan2(morphoId, aaveId, a);
    }

    /// @dev Was FAILS TODAY (rr10c C1 on Aave). Expected: refused, nothing moved (suggested: DepositNotFunded(USDC, parked, 0)).
    function test_rr10c_Aave_BoostSupplyingTheReserveParksViaAnotherSubAccountIsRefused() public {
        (Plan memory plan, uint256 parked) = _plan();
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        uint256 shares = feePool.balanceOf(safe);
        uint256 aWeth = aBalance(weth, safe);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok, "the idle WETH reserve became the Aave boost's collateral and its worth was parked");
        assertEq(reason, abi.encodeWithSelector(ILeverageModule.DepositNotFunded.selector, address(usdc), parked, 0));
        assertEq(weth.balanceOf(safe), WETH_RESERVE);
        assertEq(aBalance(weth, safe), aWeth);
        assertEq(feePool.balanceOf(safe), shares);
    }

}
