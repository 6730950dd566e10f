// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";

import {AttackBase} from "./AttackBase.sol";
import {AaveTestBase} from "../utils/AaveTestBase.sol";
import {ILeverageModule, Policy, Plan, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";
import {TestToken} from "../utils/TestToken.sol";

/// @notice Review rev10p of issue 10 item 2 (cumulative per-epoch loss budget) on Aave's cross-margined account.
/// The budget is maxEpochLossBps of the sub-account's pre-trade equity, `HealthLib.equity(MarketState)`. The Aave
/// adapter's MarketState is "the account in the market's frame": every collateral reserve's threshold-weighted value
/// re-expressed in units of the market's collateral at ITS threshold. When the Safe also holds collateral with a higher
/// liquidation threshold than the market's (here 50 WETH at 83% next to a WBTC/USDC policy at 78%), that collateral is
/// counted at 83/78 of its value and the equity, hence the epoch loss budget, is overstated (here by ~20%).
/// Input: Safe with 50 WETH + 0.1 WBTC supplied, 87,600 USDC debt (health 1.1904, due), policy on WBTC/USDC with
/// maxEpochLossBps 10 and a 49 bps exit-fee pool; the keeper rescues to 1.32 through the fee pool (~42 USDC lost).
/// Expected: EpochLossBudgetExceeded (42 USDC > 10 bps of the 38,400 USDC equity). Observed before the fix: accepted.
/// Fixed: the adapter reports the account's own net value (`MarketState.equity`: getUserAccountData's total collateral
/// minus total debt, in the loan token at Aave's price, rounded down) and the module charges the budget against it.
/// Held-out inputs of the same class: a 40% threshold market next to 83% WETH (the frame counted the equity at ~4.4x),
/// and an e-mode account (wstETH at the category's 95% next to a WBTC/WETH market at 78%: ~1.8x).
contract AaveEquityFrameTest is AttackBase, AaveTestBase {
    bytes32 internal aaveId;
    RiggedVault internal skim;

    function setUp() public override(AttackBase, AaveTestBase) {
        super.setUp(); // WETH 2,400, WBTC 60,000
        openAaveAccount(50e18, 0.1e8, 87_600e6); // 120,000 USD at threshold 83%, 6,000 USD at 78%; no idle USDC
        skim = _feePool(usdc, 20_000e6, 49);
        assertLt(aaveHealthFactor(safe), 1.2e18, "due");
    }

    function _policy(bytes32 market, address feed) internal {
        _policy(market, feed, skim, 10);
    }

    function _policy(bytes32 market, address feed, RiggedVault pool, uint16 budgetBps) internal {
        Policy memory policy = aavePolicy(market, feed, address(pool));
        policy.maxEpochLossBps = budgetBps;
        aaveId = setPolicyFor(safe, policy);
    }

    /// @dev Fixed (was FAILS TODAY, skipped): the WBTC/USDC frame counted the 50 WETH at 83/78 of their value and the
    /// rescue was accepted; the budget is now of the account's own equity and it is refused.
    function test_AaveEpochLossBudgetIsOfTheTrueEquity() public {
        _policy(wbtcUsdc, address(wbtcOracle));
        _rescueRefused();
    }

    /// @dev Control (passes before and after the fix): the same account, plan and loss under the WETH/USDC policy (the
    /// frame counts the WBTC at 78/83, equity understated) is refused.
    function test_Control_WethFrameRefusesTheSameLoss() public {
        _policy(wethUsdc, address(wethOracle));
        _rescueRefused();
    }

    /// @dev Held-out, same class: WBTC's threshold set to 40% (LTV 35%) by the pool admin; under the WBTC/USDC policy the
    /// frame re-expresses the 50 WETH at 83/40 of their value (equity ~167,000 USDC for a true ~38,000: ~4.4x). A
    /// rescue to health 1.35 through the 49 bps fee pool loses ~15 bps of the true equity (~3.5 of the frame's) and is
    /// refused against a 10 bps budget.
    function test_HeldOut_FortyPercentThresholdMarketRefusesOverTrueBudget() public {
        aaveConfigurator.configureReserveAsCollateral(address(wbtc), 3500, 4000, 10_500);
        _policy(wbtcUsdc, address(wbtcOracle), skim, 10);
        _refusedOverTrueEquity(skim, usdc, 4000);
    }

    /// @dev Held-out, same class, e-mode: a fresh Safe in the "ETH correlated" category (WETH, wstETH: threshold 95%)
    /// holds 30 wstETH (95%) and 0.5 WBTC (78%, outside the category) against WETH debt; the policy is on the WBTC/WETH
    /// market in that category (threshold 78%), so the frame counts the wstETH at 95/78 (equity ~1.8x). A rescue to 1.35
    /// through a 49 bps WETH fee pool loses ~28 bps of the true equity (~15 of the frame's): refused against 20 bps.
    function test_HeldOut_EModeAccountRefusesOverTrueBudget() public {
        safe = newAutomatedSafe();
        aaveSetEMode(safe, AAVE_ETH_EMODE);
        aaveSupply(safe, wsteth, 30e18); // 105,000 USD at the category's 95%
        aaveSupply(safe, wbtc, 0.5e8); // 30,000 USD at 78%
        aaveBorrow(safe, weth, 44.6e18); // 107,040 USD: health ~1.15
        safeExec(safe, address(weth), 0, abi.encodeCall(IERC20.transfer, (lender, 44.6e18)), 0);
        RiggedVault wethSkim = _feePool(weth, 20e18, 49);
        assertLt(aaveHealthFactor(safe), 1.2e18, "due");
        _policy(aaveAdapter.marketId(address(wbtc), address(weth), AAVE_ETH_EMODE), address(0), wethSkim, 20);
        _refusedOverTrueEquity(wethSkim, weth, 7800);
    }

    /// @dev A rescue of the Safe's Aave account to health 1.35 (repaying `loan` withdrawn from the fee pool `pool`): the
    /// estimated loss (the pool's exit fee on the withdrawal) is over the policy's budget of the account's true equity
    /// but within it of the market frame's (threshold `marketThresholdBps`), so only a module charging the true equity
    /// refuses it; it must be refused with EpochLossBudgetExceeded(id, ~loss / true equity, budget), nothing moved.
    function _refusedOverTrueEquity(RiggedVault pool, TestToken loan, uint256 marketThresholdBps) internal {
        (uint256 repay, uint256 lossEstimate, uint256 trueEquity) = _rescueSized(loan, pool, marketThresholdBps);
        Plan memory plan = plan1(
            aaveId, action(ActionKind.WithdrawFromPool, 0, address(pool), repay), action(ActionKind.Repay, 0, address(0), repay)
        );

        Holdings memory before = holdings(safe);
        uint256 poolAssets = pool.convertToAssets(pool.balanceOf(safe));
        uint256 debt = variableDebt(loan, safe);
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok, "a loss over maxEpochLossBps of the account's equity is refused");
        _assertBudgetError(reason, trueEquity, lossEstimate, uint256(module.getPolicy(safe, aaveId).maxEpochLossBps) * 1e5);
        assertNothingLeftBut(before, maxCost(op));
        assertEq(pool.convertToAssets(pool.balanceOf(safe)), poolAssets, "nothing left the fee pool");
        assertEq(variableDebt(loan, safe), debt, "debt unchanged");
    }

    /// @dev The rescue to health 1.35 (`repay`, loan base units), its estimated loss (the pool's exit fee on it) and the
    /// account's true equity (loan base units, Aave's base currency at Aave's price of the loan token); asserts the input
    /// discriminates: the loss is over the policy's budget of the true equity, within it of the frame's.
    function _rescueSized(TestToken loan, RiggedVault pool, uint256 marketThresholdBps)
        internal
        view
        returns (uint256 repay, uint256 lossEstimate, uint256 trueEquity)
    {
        (uint256 collateralBase, uint256 debtBase,, uint256 threshold,,) = aavePool.getUserAccountData(safe);
        uint256 unitPrice = aaveOracle.getAssetPrice(address(loan)); // base currency per whole loan token
        uint256 unit = 10 ** loan.decimals();
        repay = (debtBase - collateralBase * threshold / 1e4 * 1e18 / 1.35e18) * unit / unitPrice;
        lossEstimate = repay * pool.exitFeeBps() / 1e4;
        trueEquity = (collateralBase - debtBase) * unit / unitPrice;
        uint256 frameEquity = (collateralBase * threshold / marketThresholdBps - debtBase) * unit / unitPrice;
        uint256 budgetPpb = uint256(module.getPolicy(safe, aaveId).maxEpochLossBps) * 1e5;
        assertGt(lossEstimate * 1e9 / trueEquity, budgetPpb * 11 / 10, "over the budget of the true equity");
        assertLt(lossEstimate * 1e9 / frameEquity, budgetPpb * 9 / 10, "within the budget of the frame's equity");
    }

    /// @dev `reason` is EpochLossBudgetExceeded(aaveId, lossPpb, budgetPpb) with lossPpb the loss over the TRUE equity
    /// (within 2% of the estimate: the module measures the exact fee and rounds), not over the frame's.
    function _assertBudgetError(bytes memory reason, uint256 trueEquity, uint256 lossEstimate, uint256 budgetPpb)
        internal
        view
    {
        assertEq(bytes4(reason), ILeverageModule.EpochLossBudgetExceeded.selector, "EpochLossBudgetExceeded");
        bytes memory args = new bytes(reason.length - 4);
        for (uint256 i; i < args.length; ++i) args[i] = reason[i + 4];
        (bytes32 id, uint256 lossPpb, uint256 budget) = abi.decode(args, (bytes32, uint256, uint256));
        assertEq(id, aaveId, "the Aave sub-account");
        assertEq(budget, budgetPpb, "the policy's budget");
        assertApproxEqRel(lossPpb, lossEstimate * 1e9 / trueEquity, 0.02e18, "loss in ppb of the account's true equity");
    }

    function _rescueRefused() internal {
        (uint256 collateralBase, uint256 debtBase,,,,) = aavePool.getUserAccountData(safe);
        uint256 equity = (collateralBase - debtBase) / 100; // USDC base units (Aave base currency: 8 decimals)
        uint256 budgetPpb = 10 * 1e5;

        Plan memory plan = plan1(
            aaveId, action(ActionKind.WithdrawFromPool, 0, address(skim), 8600e6), action(ActionKind.Repay, 0, address(0), 8600e6)
        );

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
        _assertBudgetError(reason, equity, 8600e6 * 49 / 1e4, budgetPpb);
        assertNothingLeftBut(before, maxCost(op));
        assertEq(skim.convertToAssets(skim.balanceOf(safe)), poolAssets, "nothing left the fee pool");
        assertEq(variableDebt(usdc, safe), debt, "debt unchanged");
    }
}
