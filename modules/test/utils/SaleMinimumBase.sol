// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SwapBase} from "./SwapBase.sol";
import {Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {ConstantsLib} from "../../src/libraries/ConstantsLib.sol";

/// @notice Fixtures of the sale-minimum repayment mode's tests (issue 13, RebalanceLib `_repaymentOf`): the mode word,
/// the module's minimum of a WETH sale, a swap deleverage in the mode, and the comparison of a plan with its twin (the
/// same plan with the computed repayment written out) through EntryPoint.handleOps.
abstract contract SaleMinimumBase is SwapBase {
    address internal constant MODE = address(uint160(ConstantsLib.REPAY_PLUS_SALE_MINIMUMS));

    /// @dev The module's minimum output for selling `sold` WETH at the oracle now, under `bound` (bps).
    function _minimum(uint256 sold, uint16 bound) internal view returns (uint256) {
        return Math.mulDiv(Math.mulDiv(sold, wethOracle.price(), 1e36), 10_000 - bound, 10_000, Math.Rounding.Ceil);
    }

    /// @dev `_minimum` under the WETH policy's bound (MAX_SLIPPAGE_BPS).
    function _minimum(uint256 sold) internal view returns (uint256) {
        return _minimum(sold, MAX_SLIPPAGE_BPS);
    }

    /// @dev RepayWithCallback(amount, `word`) { WithdrawCollateral(sold), SellCollateral(sold) } EndCallback.
    function _modePlan(uint256 amount, uint256 sold, address word) internal view returns (Plan memory) {
        Action[] memory actions = new Action[](4);
        actions[0] = action(ActionKind.RepayWithCallback, 0, word, amount);
        actions[1] = action(ActionKind.WithdrawCollateral, 0, address(0), sold);
        actions[2] = action(ActionKind.SellCollateral, 0, route(FEE_LOW), sold);
        actions[3] = action(ActionKind.EndCallback, 0, address(0), 0);
        return planOf(wethId, actions);
    }

    struct Outcome {
        bool ok;
        bytes reason;
        uint256 debt;
        uint256 collateral;
        uint256 idle;
        uint256 shares;
    }

    /// @dev One keeper operation through handleOps and the WETH position, idle USDC and USDC pool shares after it.
    function _outcome(Plan memory plan) internal returns (Outcome memory o) {
        (o.ok, o.reason) = handle(keeperOp(safe, keeper, plan, keeperKey));
        o.debt = wethState().debt;
        o.collateral = wethState().collateral;
        o.idle = usdc.balanceOf(safe);
        o.shares = usdcVault.balanceOf(safe);
    }

    /// @dev Runs `a` and `b` from the same state (left as it was) and asserts the same outcome; returns it.
    function _same(Plan memory a, Plan memory b) internal returns (Outcome memory x) {
        uint256 snap = vm.snapshotState();
        x = _outcome(a);
        vm.revertToState(snap);
        Outcome memory y = _outcome(b);
        vm.revertToState(snap);
        assertEq(x.ok, y.ok, "both land or both revert");
        assertEq(x.reason, y.reason, "the same reason");
        assertEq(x.debt, y.debt, "the same debt");
        assertEq(x.collateral, y.collateral, "the same collateral");
        assertEq(x.idle, y.idle, "the same idle USDC");
        assertEq(x.shares, y.shares, "the same pool shares");
    }
}
