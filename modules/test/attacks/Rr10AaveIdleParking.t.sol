// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {AttackBase} from "./AttackBase.sol";
import {AaveTestBase} from "../utils/AaveTestBase.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";

/// @notice Review rr10 F1 on Aave v3 (real Pool): a due, boost-allowed Aave sub-account repays need + X from the idle
/// reserve, borrows X back and deposits it into the owner's 1%-exit-fee USDC pool. `DepositNotFunded` saw the borrow
/// as funding the deposit; the Aave account ended where Repay(need) puts it and the reserve in the fee pool (accepted,
/// 5,323.08 USDC parked, 0 loss). Fixed: Repay and Borrow on one sub-account are churn (`ActionNotAllowed`).
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

    /// @dev F1 fixed on Aave: Repay and Borrow on one sub-account are churn, the Borrow (index 1) is refused, through
    /// handleOps, and nothing left the Safe (idle tokens, aTokens, debt, pool shares; ETH but the op's gas).
    function test_rr10_Aave_ChurnParkingOfTheReserveIsRefused() public {
        (Plan memory plan,,) = _churn();
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        Holdings memory before = holdings(safe);
        uint256 shares = feePool.balanceOf(safe);
        uint256 debt = variableDebt(usdc, safe);
        uint256 collateral = aBalance(weth, safe);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok, "idle reserve parked through Repay(need + X) + Borrow(X) + Deposit(X)");
        assertEq(reason, abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 1, ActionKind.Borrow));
        assertNothingLeftBut(before, maxCost(op));
        assertEq(feePool.balanceOf(safe), shares);
        assertEq(variableDebt(usdc, safe), debt);
        assertEq(aBalance(weth, safe), collateral);
    }

    /// @dev The honest rescue from the reserve, Repay(need) alone, still goes through on Aave; the rest stays idle.
    function test_rr10_Aave_HonestRescueFromTheReserveStillPasses() public {
        (, uint256 need,) = _churn();
        uint256 idle = usdc.balanceOf(safe);
        Plan memory plan;
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = aaveId;
        plan.actions = new Action[](1);
        plan.actions[0] = action(ActionKind.Repay, 0, address(0), need);
        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, plan, keeperKey));
        assertTrue(ok, string(reason));
        assertEq(usdc.balanceOf(safe), idle - need, "the rest of the reserve stays idle");
    }
}
