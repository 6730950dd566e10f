// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";

import {AttackBase} from "./AttackBase.sol";
import {AaveTestBase} from "../utils/AaveTestBase.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";

/// @notice Review rev10p of issue 10 item 2 (cumulative per-epoch loss budget) on Aave's cross-margined account.
/// The budget is maxEpochLossBps of the sub-account's pre-trade equity, `HealthLib.equity(MarketState)`. The Aave
/// adapter's MarketState is "the account in the market's frame": every collateral reserve's threshold-weighted value
/// re-expressed in units of the market's collateral at ITS threshold. When the Safe also holds collateral with a higher
/// liquidation threshold than the market's (here 50 WETH at 83% next to a WBTC/USDC policy at 78%), that collateral is
/// counted at 83/78 of its value and the equity, hence the epoch loss budget, is overstated (here by ~20%).
/// Input: Safe with 50 WETH + 0.1 WBTC supplied, 87,600 USDC debt (health 1.1904, due), policy on WBTC/USDC with
/// maxEpochLossBps 10 and a 49 bps exit-fee pool; the keeper rescues to 1.32 through the fee pool (~42 USDC lost).
/// Expected: EpochLossBudgetExceeded (42 USDC > 10 bps of the 38,400 USDC equity). Observed today: accepted.
contract AaveEquityFrameTest is AttackBase, AaveTestBase {
    bytes32 internal aaveId;
    RiggedVault internal skim;

    function setUp() public override(AttackBase, AaveTestBase) {
        super.setUp(); // WETH 2,400, WBTC 60,000
        installModuleWithAave();
        aaveSupply(safe, weth, 50e18); // 120,000 USD at threshold 83%
        aaveSupply(safe, wbtc, 0.1e8); // 6,000 USD at threshold 78%
        aaveBorrow(safe, usdc, 87_600e6);
        safeExec(safe, address(usdc), 0, abi.encodeCall(IERC20.transfer, (lender, 87_600e6)), 0); // no idle USDC
        skim = _feePool(usdc, 20_000e6, 49);
        assertLt(aaveHealthFactor(safe), 1.2e18, "due");
    }

    function _policy(bytes32 market, address feed) internal {
        Policy memory policy = aavePolicy(market, feed, address(skim));
        policy.maxEpochLossBps = 10;
        aaveId = setPolicyFor(safe, policy);
    }

    /// @dev FAILS TODAY: the WBTC/USDC frame counts the 50 WETH at 83/78 of their value; the rescue is accepted.
    /// Skipped until the module's Aave equity is the account's own (getUserAccountData: total collateral - total debt,
    /// in the loan token), not the market frame's (issue 10 open; SECURITY.md "Aave equity in the market's frame").
    function test_AaveEpochLossBudgetIsOfTheTrueEquity() public {
        vm.skip(true);
        _policy(wbtcUsdc, address(wbtcOracle));
        _rescueRefused();
    }

    /// @dev Control (passes today): the same account, plan and loss under the WETH/USDC policy (the frame counts the
    /// WBTC at 78/83, equity understated) is refused.
    function test_Control_WethFrameRefusesTheSameLoss() public {
        _policy(wethUsdc, address(wethOracle));
        _rescueRefused();
    }

    function _rescueRefused() internal {
        (uint256 collateralBase, uint256 debtBase,,,,) = aavePool.getUserAccountData(safe);
        uint256 equity = (collateralBase - debtBase) / 100; // USDC base units (Aave base currency: 8 decimals)
        uint256 budgetPpb = 10 * 1e5;

        Action[] memory actions = new Action[](2);
        actions[0] = action(ActionKind.WithdrawFromPool, 0, address(skim), 8600e6);
        actions[1] = action(ActionKind.Repay, 0, address(0), 8600e6);
        Plan memory plan;
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = aaveId;
        plan.actions = actions;

        Holdings memory before = holdings(safe);
        uint256 poolAssets = skim.convertToAssets(skim.balanceOf(safe));
        uint256 debt = variableDebt(usdc, safe);
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        (bool ok, bytes memory reason) = handle(op);
        if (ok) {
            uint256 loss = poolAssets - skim.convertToAssets(skim.balanceOf(safe)) - (debt - variableDebt(usdc, safe));
            emit log_named_uint("loss (USDC base units)", loss);
            emit log_named_uint("true equity (USDC base units)", equity);
            emit log_named_uint("loss ppb of true equity", loss * 1e9 / equity);
            emit log_named_uint("budget ppb", budgetPpb);
        }
        assertFalse(ok, "a loss over maxEpochLossBps of the account's equity is refused");
        assertEq(bytes4(reason), ILeverageModule.EpochLossBudgetExceeded.selector, "EpochLossBudgetExceeded");
        assertNothingLeftBut(before, maxCost(op));
        assertEq(skim.convertToAssets(skim.balanceOf(safe)), poolAssets, "nothing left the fee pool");
        assertEq(variableDebt(usdc, safe), debt, "debt unchanged");
    }
}
