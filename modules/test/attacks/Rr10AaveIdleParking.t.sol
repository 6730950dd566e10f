// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {AttackBase} from "./AttackBase.sol";
import {AaveTestBase} from "../utils/AaveTestBase.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";

/// @notice Review rr10 F1 on Aave v3 (real Pool): a due, boost-allowed Aave sub-account repays need + X from the idle
/// reserve, borrows X back and deposits it into the owner's 1%-exit-fee USDC pool. `DepositNotFunded` sees the borrow
/// as funding the deposit; the Aave account ends where Repay(need) puts it and the reserve is in the fee pool.
contract Rr10AaveIdleParkingTest is AttackBase, AaveTestBase {
    uint256 internal constant RESERVE = 8_000e6;
    bytes32 internal aaveId;
    RiggedVault internal feePool;

    function setUp() public override(AttackBase, AaveTestBase) {
        super.setUp();
        installModuleWithAave();
        aaveSupply(safe, weth, 10e18);
        aaveBorrow(safe, usdc, 18_000e6);
        // Idle USDC: the reserve only.
        uint256 idle = usdc.balanceOf(safe);
        safeExec(safe, address(usdc), 0, abi.encodeCall(IERC20.transfer, (lender, idle - RESERVE)), 0);
        feePool = _feePool(usdc, 100e6, 100);
        Policy memory policy = aavePolicy(wethUsdc, address(wethOracle), address(feePool));
        policy.boostAllowed = true;
        aaveId = setPolicyFor(safe, policy);
        assertLt(aaveHealthFactor(safe), 1.2e18, "due");
    }

    function _churn() internal view returns (Plan memory plan, uint256 need, uint256 parked) {
        uint256 debt = variableDebt(usdc, safe);
        need = debt - debt * aaveHealthFactor(safe) / 1.3e18; // to about 1.30
        parked = usdc.balanceOf(safe) - need;
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = aaveId;
        plan.actions = new Action[](3);
        plan.actions[0] = action(ActionKind.Repay, 0, address(0), need + parked);
        plan.actions[1] = action(ActionKind.Borrow, 0, address(0), parked);
        plan.actions[2] = action(ActionKind.DepositToPool, 0, address(feePool), parked);
    }

    /// @dev FAILS TODAY: accepted (see the Observed test).
    function test_rr10_Aave_ChurnParkingOfTheReserveIsRefused() public {
        vm.skip(true); // FAILS TODAY: accepted on Aave too, 0 loss booked
        (Plan memory plan,,) = _churn();
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        uint256 idle = usdc.balanceOf(safe);
        uint256 shares = feePool.balanceOf(safe);
        uint256 debt = variableDebt(usdc, safe);
        (bool ok,) = handle(op);
        assertFalse(ok, "idle reserve parked through Repay(need + X) + Borrow(X) + Deposit(X)");
        assertEq(usdc.balanceOf(safe), idle);
        assertEq(feePool.balanceOf(safe), shares);
        assertEq(variableDebt(usdc, safe), debt);
    }

    function test_rr10_Aave_Observed_ChurnParksTheReserve() public {
        (Plan memory plan, uint256 need, uint256 parked) = _churn();
        uint256 shares = feePool.balanceOf(safe);
        uint256 debt = variableDebt(usdc, safe);
        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, plan, keeperKey));
        assertTrue(ok, string(reason));
        assertEq(usdc.balanceOf(safe), 0, "the whole reserve left the wallet");
        assertApproxEqAbs(feePool.convertToAssets(feePool.balanceOf(safe) - shares), parked, 1);
        assertApproxEqAbs(debt - variableDebt(usdc, safe), need, 2, "the account is where Repay(need) puts it");
        emit log_named_uint("parked (USDC base units)", parked);
        emit log_named_uint("health factor after", aaveHealthFactor(safe));
        emit log_named_uint("lossPpb booked", module.getEpochUsage(safe, aaveId).lossPpb);
    }
}
