// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Vm} from "forge-std/Test.sol";
import {AttackBase} from "./AttackBase.sol";
import {ISafeTest} from "../utils/Fixture.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";
import {SimOracle} from "../utils/SimOracle.sol";
import {ToggleRevertPaymaster} from "../utils/AdversarialEntities.sol";
import {
    ILeverageModule,
    Policy,
    Plan,
    Action,
    ActionKind,
    AutomationConfig,
    EpochUsage,
    SelfPayBudget
} from "../../src/interfaces/ILeverageModule.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {IEntryPoint} from "@account-abstraction/contracts/interfaces/IEntryPoint.sol";
import {MarketParams, Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";

interface ITokenPaymaster {
    function updateCachedPrice(bool force) external returns (uint256);
    function cachedPrice() external view returns (uint256);
}

/// @notice Epoch-level bounds, liveness and lifecycle (issue 10), each class tried through the real EntryPoint where a
/// bundler is involved: the self-pay budget rolls over without a successful rebalance and is never reset by execution
/// or a future-dated window; losses add up to at most an epoch budget and a triggered sub-account lands near its
/// target; plans may not list what they do not change nor pad the loss allowance; whatever pays, keeper operations cost
/// the Safe at most its budget; one owner call kills every key; keeper operations never use owner nonce keys; a
/// sub-account that is not due only approaches its target; minHealth clears the liquidation incentive; owner
/// signatures carry no padding; a pinned feed is refused; churn cannot spend a sub-account's amount caps (they charge
/// the net position change).
contract EpochAndLifecycleAttacksTest is AttackBase {
    using MarketParamsLib for MarketParams;

    /* 19. SELF-PAY: NO STALL, NO RESET BY EXECUTION OR BY A FUTURE WINDOW */

    /// @dev Issue 10 item 1: budget = two operations' maximum cost, one rebalance succeeds, one fails (NoTrigger);
    /// three days later a rebalance is due and must pass validation although nothing succeeded since.
    function test_Attack19_SelfPayBudgetRollsOverWithoutASuccessfulRebalance() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        uint256 cost = maxCost(op);
        safeCall(abi.encodeCall(ILeverageModule.setSelfPayBudget, (uint96(2 * cost), 1 days)));
        handleOk(op);
        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, repayPlan(100e6), keeperKey));
        assertFalse(ok, "nothing is due");
        assertEq(reason, abi.encodeWithSelector(ILeverageModule.NoTrigger.selector));
        assertEq(module.getSelfPayBudget(safe).spentWei, 2 * cost, "both operations charged");
        Holdings memory spent = holdings(safe);
        expectHandleRevert(
            keeperOp(safe, keeper, repayPlan(100e6), keeperKey),
            failedOpWithRevert(abi.encodeWithSelector(ILeverageModule.SelfPayBudgetExceeded.selector, 2 * cost, cost, 2 * cost))
        );
        assertNothingLeft(spent);

        vm.warp(block.timestamp + 3 days);
        wethOracle.setPrice(2000e18); // 17,200 * 0.86 / 14,700: 1.17, due
        Holdings memory before = holdings(safe);
        handleOk(keeperOp(safe, keeper, repayPlan(2400e6), keeperKey));
        SelfPayBudget memory budget = module.getSelfPayBudget(safe);
        assertEq(budget.epoch, block.timestamp / 1 days, "the signed window moved the budget to this epoch");
        assertEq(budget.spentWei, cost, "charged from zero");
        Holdings memory h = holdings(safe);
        assertEq(h.usdcShares, before.usdcShares - usdcVault.previewWithdraw(2400e6), "the repayment came from the pool");
        assertLt(h.wethBorrowShares, before.wethBorrowShares, "debt repaid");
        assertEq(h.usdc, before.usdc, "no idle USDC moved");
        assertEq(h.wethCollateral, before.wethCollateral, "collateral untouched");
        assertEq(h.wbtcBorrowShares, before.wbtcBorrowShares, "the other sub-account untouched");
        assertLe(before.eth + before.deposit - h.eth - h.deposit, cost, "gas within one operation's maximum");
        assertGe(healthOf(safe, wethMarket), 1.3e18, "rescued into the landing zone");
    }

    function test_Attack19_RevertWhen_FutureDatedWindowTriesToResetTheBudget() public {
        wethOracle.setPrice(3000e18); // nothing is due: operations fail in execution, after being charged
        PackedUserOperation memory op = keeperOp(safe, keeper, repayPlan(100e6), keeperKey);
        uint256 cost = maxCost(op);
        safeCall(abi.encodeCall(ILeverageModule.setSelfPayBudget, (uint96(cost), 1 days)));
        (bool ok,) = handle(op);
        assertFalse(ok);
        SelfPayBudget memory charged = module.getSelfPayBudget(safe);
        assertEq(charged.spentWei, cost);
        Holdings memory before = holdings(safe);

        // Signed for tomorrow's epoch: validation would reset the charge, but the EntryPoint refuses the window and
        // reverts the whole bundle, that reset included.
        PackedUserOperation memory future = keeperOp(safe, keeper, repayPlan(100e6), keeperKey);
        uint256 tomorrow = (block.timestamp / 1 days + 1) * 1 days;
        future.signature = sign(future, keeperKey, uint48(tomorrow), uint48(tomorrow + 1 days - 1));
        expectHandleRevert(future, failedOp("AA22 expired or not due"));
        SelfPayBudget memory after_ = module.getSelfPayBudget(safe);
        assertEq(after_.epoch, charged.epoch, "epoch unchanged");
        assertEq(after_.spentWei, cost, "charge unchanged");
        expectHandleRevert(
            keeperOp(safe, keeper, repayPlan(100e6), keeperKey),
            failedOpWithRevert(abi.encodeWithSelector(ILeverageModule.SelfPayBudgetExceeded.selector, cost, cost, cost))
        );
        assertNothingLeft(before);
    }

    function test_Attack19_RevertWhen_WindowSpansTwoEpochs() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        (uint48 start,) = keeperWindow(safe);
        Holdings memory before = holdings(safe);
        op.signature = sign(op, keeperKey, start, start + 1 days);
        expectHandleRevert(
            op,
            failedOpWithRevert(
                abi.encodeWithSelector(ILeverageModule.ValidityWindowSpansEpochs.selector, start, start + 1 days, 1 days)
            )
        );
        // An open signature is narrowed to the key's window (30 days): no single epoch either.
        op.signature = sign(op, keeperKey, 0, 0);
        uint48 keyUntil = module.getKeeper(safe, keeper).validUntil;
        expectHandleRevert(
            op,
            failedOpWithRevert(abi.encodeWithSelector(ILeverageModule.ValidityWindowSpansEpochs.selector, 0, keyUntil, 1 days))
        );
        assertNothingLeft(before);
    }

    function test_Attack19_RevertWhen_WindowLiesInAnEpochThatHasPassed() public {
        wethOracle.setPrice(3000e18);
        // Signed today for the nonce after the next one, held back by the bundler.
        PackedUserOperation memory stale = keeperOp(safe, keeper, repayPlan(100e6), keeperKey);
        stale.nonce += 1;
        stale.signature = signKeeper(stale, keeperKey);
        uint256 today = block.timestamp / 1 days;
        vm.warp(block.timestamp + 1 days);
        wethOracle.setPrice(3000e18);
        (bool ok,) = handle(keeperOp(safe, keeper, repayPlan(100e6), keeperKey));
        assertFalse(ok, "a failing operation of the new epoch");
        assertEq(module.getSelfPayBudget(safe).epoch, today + 1);
        Holdings memory before = holdings(safe);
        expectHandleRevert(
            stale,
            failedOpWithRevert(abi.encodeWithSelector(ILeverageModule.SelfPayEpochPassed.selector, today, today + 1))
        );
        assertNothingLeft(before);
    }

    /// @dev Issue 10 item 1, related: execution used to restart the epoch and zero the charges of operations validated
    /// earlier in the same bundle. Now only validation touches the budget, so a bundle is charged in full.
    function test_Attack19_ExecutionNeverZeroesChargesOfTheSameBundle() public {
        PackedUserOperation[] memory ops = new PackedUserOperation[](3);
        uint256 nonce = entryPoint.getNonce(safe, keeperNonceKey());
        vm.warp(block.timestamp + 1 days + 1); // an epoch after the budget was set
        wethOracle.setPrice(2400e18);
        for (uint256 i; i < 3; ++i) {
            ops[i] = keeperOp(safe, keeper, repayPlan(i == 0 ? 3300e6 : 100e6), keeperKey);
            ops[i].nonce = nonce + i;
            ops[i].signature = signKeeper(ops[i], keeperKey);
        }
        uint256 cost = maxCost(ops[0]);
        safeCall(abi.encodeCall(ILeverageModule.setSelfPayBudget, (uint96(3 * cost), 1 days)));
        (bool[] memory success, bytes[] memory reasons) = handleBundle(ops);
        assertTrue(success[0], "the first rebalances");
        assertEq(reasons[1], abi.encodeWithSelector(ILeverageModule.NoTrigger.selector), "the others fail");
        assertEq(module.getSelfPayBudget(safe).spentWei, 3 * cost, "every operation of the bundle stays charged");
        Holdings memory before = holdings(safe);
        expectHandleRevert(
            keeperOp(safe, keeper, repayPlan(100e6), keeperKey),
            failedOpWithRevert(abi.encodeWithSelector(ILeverageModule.SelfPayBudgetExceeded.selector, 3 * cost, cost, 3 * cost))
        );
        assertNothingLeft(before);
    }

    /* 20. SELF-MADE TRIGGERS AND REPEATED LOSS */

    /// @dev Issue 10 item 2: landing a few wei above minHealth lets one block of interest re-trigger. A triggered
    /// sub-account must move at least half the distance from the breached edge to its target.
    function test_Attack20_RevertWhen_KeeperLandsJustAboveMinHealth() public {
        _dropWethHealthTo(1.2e18 - 1e12); // just below the band, as a little interest would leave it
        uint256 healthBefore = healthOf(safe, wethMarket);
        uint256 amount = _repayToReach(1.2e18 + 1e12);
        PackedUserOperation memory op = keeperOp(safe, keeper, repayPlan(amount), keeperKey);
        (uint256 collateral,) = adapter.position(Id.unwrap(wethMarket.id()), safe);
        uint256 landed = Math.mulDiv(Math.mulDiv(collateral, wethOracle.price(), 1e36), 0.86e18, 18_000e6 - amount);
        Holdings memory before = holdings(safe);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok);
        assertEq(
            reason,
            abi.encodeWithSelector(
                ILeverageModule.HealthOutsideLandingZone.selector, wethId, landed, healthBefore + 0.1e18, 1.55e18
            )
        );
        assertNothingLeftBut(before, maxCost(op));
        // Half way to the target (1.3) is accepted.
        handleOk(keeperOp(safe, keeper, repayPlan(_repayToReach(1.3e18)), keeperKey));
        assertGe(healthOf(safe, wethMarket), healthBefore + 0.1e18, "moved at least half way from the edge to the target");
    }

    /// @dev Issue 10 item 2: an allowed pool with an exit fee below the per-operation bound. Repeated triggers each
    /// lose a little; the epoch budget (30 bps of the sub-account's equity) stops them, and a new epoch restores it.
    function test_Attack20_RevertWhen_LossesAddUpPastTheEpochBudget() public {
        RiggedVault feePool = _feePool(45); // 0.45% of each withdrawal, under maxLossBps 0.5%
        Policy memory policy = defaultPolicy(wethMarket, address(feePool));
        policy.maxEpochLossBps = 30;
        setPolicy(policy);
        uint256 ledgerPpb; // independent: loss over pre-trade equity, per operation
        uint256 charged; // what the module must have recorded: each operation's loss in ppb, rounded up
        uint256 done;
        for (uint256 i; i < 10; ++i) {
            _dropWethHealthTo(1.19e18);
            Plan memory plan = _repayFrom(address(feePool), _repayToReach(1.31e18));
            uint256 usedPpb = module.getEpochUsage(safe, wethId).lossPpb;
            (uint256 loss, uint256 equity, uint256 chargedPpb) = _whatIf(plan, feePool);
            PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
            if (usedPpb + chargedPpb > 30e5) {
                Holdings memory before = holdings(safe);
                (bool ok, bytes memory reason) = handle(op);
                assertFalse(ok, "refused");
                assertEq(
                    reason,
                    abi.encodeWithSelector(ILeverageModule.EpochLossBudgetExceeded.selector, wethId, usedPpb + chargedPpb, 30e5)
                );
                assertNothingLeftBut(before, maxCost(op));
                break;
            }
            handleOk(op);
            ledgerPpb += loss * 1e9 / equity;
            charged += chargedPpb;
            ++done;
        }
        assertGe(done, 2, "small losses pass");
        assertLe(ledgerPpb, 30e5, "the epoch lost at most its budget (independent valuation)");
        assertEq(module.getEpochUsage(safe, wethId).lossPpb, charged, "the module's ledger matches the independent one");

        // The next epoch starts from zero, with no successful rebalance needed to roll it over.
        vm.warp((block.timestamp / 1 days + 1) * 1 days);
        _dropWethHealthTo(1.19e18);
        handleOk(keeperOp(safe, keeper, _repayFrom(address(feePool), _repayToReach(1.31e18)), keeperKey));
        assertLe(module.getEpochUsage(safe, wethId).lossPpb, 30e5 / 2, "a fresh budget");
    }

    /// @dev The failing input of issue 10 item 2: a 1% exit fee and the SDK quickstart policy (maxLossBps 50). Bounded
    /// by what the position moves, the very first fee-paying repayment is refused.
    function test_Attack20_RevertWhen_OnePercentExitFeeBleedsTheSafe() public {
        RiggedVault feePool = _feePool(100);
        setPolicy(defaultPolicy(wethMarket, address(feePool)));
        Plan memory plan = _repayFrom(address(feePool), 3300e6);
        (uint256 loss, uint256 moved) = _whatIfLossAndMoved(plan, feePool);
        assertApproxEqRel(loss, 33e6, 0.01e18, "about 1% of the withdrawal");
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        Holdings memory before = holdings(safe);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok);
        assertEq(reason, abi.encodeWithSelector(ILeverageModule.ValueLossExceeded.selector, loss, moved, 50));
        assertNothingLeftBut(before, maxCost(op));
    }

    /* 21. LISTED BUT UNTOUCHED */

    /// @dev Issue 10 item 3: a plan that lists a sub-account but moves nothing on it used to start its cooldown and
    /// spend its epoch counters, blocking a later rescue. It is now refused, and the rescue goes through.
    function test_Attack21_RevertWhen_PlanListsASubAccountItNeverTouches() public {
        Policy memory policy = defaultPolicy(wbtcMarket, address(usdcVault));
        policy.cooldown = 1 days;
        setPolicy(policy);
        Action[] memory actions = new Action[](2);
        actions[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 3300e6);
        actions[1] = action(ActionKind.Repay, 0, address(0), 3300e6);
        PackedUserOperation memory op = keeperOp(safe, keeper, plan2(wethId, wbtcId, actions), keeperKey);
        Holdings memory before = holdings(safe);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok);
        assertEq(reason, abi.encodeWithSelector(ILeverageModule.SubAccountUnchanged.selector, wbtcId));
        assertNothingLeftBut(before, maxCost(op));
        _assertUnchargedThenRescued();
    }

    /// @dev The same class with a dust change instead of none: a 1-wei repayment (or any change below
    /// MIN_MATERIAL_CHANGE_BPS of the position's collateral value) is no change; the plan is refused, no cooldown starts
    /// and the honest rescue goes through.
    function test_Attack21_RevertWhen_PlanChangesAListedSubAccountByDust() public {
        Policy memory policy = defaultPolicy(wbtcMarket, address(usdcVault));
        policy.cooldown = 1 days;
        setPolicy(policy);
        wbtcOracle.setPrice(45_350e18); // wbtc 1.30: in band, below its target, so a repayment moves it toward it
        uint256[3] memory dust = [uint256(1), 1e6, 2e6]; // 1 wei, 1 USDC, 2 USDC of repayment on a ~39k USDC position
        for (uint256 k; k < dust.length; ++k) {
            Action[] memory actions = new Action[](3);
            actions[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 3300e6);
            actions[1] = action(ActionKind.Repay, 0, address(0), 3300e6 - dust[k]);
            actions[2] = action(ActionKind.Repay, 1, address(0), dust[k]);
            PackedUserOperation memory op = keeperOp(safe, keeper, plan2(wethId, wbtcId, actions), keeperKey);
            Holdings memory before = holdings(safe);
            (bool ok, bytes memory reason) = handle(op);
            assertFalse(ok);
            assertEq(reason, abi.encodeWithSelector(ILeverageModule.SubAccountUnchanged.selector, wbtcId));
            assertNothingLeftBut(before, maxCost(op));
        }
        _assertUnchargedThenRescued();
    }

    /// @dev A pool named for funds no repayment or supply uses: a 1-wei withdrawal from another pool left idle next to
    /// an honest rescue is refused by name.
    function test_Attack21_RevertWhen_PlanWithdrawsFromAPoolForFundsThatStayIdle() public {
        _allowPools(IERC4626(address(wethVault)));
        depositToVault(safe, wethVault, 1e18);
        Action[] memory actions = new Action[](3);
        actions[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 3300e6);
        actions[1] = action(ActionKind.Repay, 0, address(0), 3300e6);
        actions[2] = action(ActionKind.WithdrawFromPool, 0, address(wethVault), 1);
        Plan memory plan;
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = wethId;
        plan.actions = actions;
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        Holdings memory before = holdings(safe);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok);
        assertEq(reason, abi.encodeWithSelector(ILeverageModule.PoolNotUsed.selector, wethId, address(wethVault)));
        assertNothingLeftBut(before, maxCost(op));
    }

    function test_Attack21_RevertWhen_PoolActionServesAnUntouchedSubAccount() public {
        Action[] memory actions = new Action[](3);
        actions[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 3300e6);
        actions[1] = action(ActionKind.Repay, 0, address(0), 3300e6);
        actions[2] = action(ActionKind.WithdrawFromPool, 1, address(usdcVault), 1);
        Holdings memory before = holdings(safe);
        expectExec(
            plan2(wethId, wbtcId, actions), abi.encodeWithSelector(ILeverageModule.PoolNotUsed.selector, wbtcId, address(usdcVault))
        );
        assertNothingLeft(before);
    }

    function test_Attack21_RevertWhen_PlanWithdrawsFromAndDepositsIntoTheSamePool() public {
        Action[] memory actions = new Action[](3);
        actions[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 9000e6);
        actions[1] = action(ActionKind.Repay, 0, address(0), 3300e6);
        actions[2] = action(ActionKind.DepositToPool, 0, address(usdcVault), 5700e6);
        Plan memory plan;
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = wethId;
        plan.actions = actions;
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        Holdings memory before = holdings(safe);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok);
        assertEq(reason, abi.encodeWithSelector(ILeverageModule.PoolRoundTrip.selector, address(usdcVault)));
        assertNothingLeftBut(before, maxCost(op));
    }

    function test_Attack21_RevertWhen_VenueActionsOnASubAccountNetToNothing() public {
        Policy memory policy = defaultPolicy(wbtcMarket, address(usdcVault));
        policy.boostAllowed = true;
        setPolicy(policy);
        wbtc.mint(safe, 1e7);
        Action[] memory actions = new Action[](4);
        actions[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 3300e6);
        actions[1] = action(ActionKind.Repay, 0, address(0), 3300e6);
        actions[2] = action(ActionKind.SupplyCollateral, 1, address(0), 1e7);
        actions[3] = action(ActionKind.WithdrawCollateral, 1, address(0), 1e7);
        Holdings memory before = holdings(safe);
        expectExec(plan2(wethId, wbtcId, actions), abi.encodeWithSelector(ILeverageModule.SubAccountUnchanged.selector, wbtcId));
        assertNothingLeft(before);
    }

    /* 22. LOSS ALLOWANCE PADDING */

    /// @dev Issue 10 item 4: a 12% skim of a 3,300 USDC move is refused alone, and still refused, with the same
    /// allowance, when the plan adds a 1-wei repayment on an in-band sub-account funded by a 1-wei pool withdrawal, or
    /// a large withdrawal left idle.
    function test_Attack22_RevertWhen_PaddingTriesToRaiseTheLossAllowance() public {
        RiggedVault skim = _feePool(1200);
        _allowPools(skim);
        wbtcOracle.setPrice(45_350e18); // wbtc 1.30: in band, below its target, so a repayment moves it toward it
        Plan memory alone = _repayFrom(address(skim), 3300e6);
        (uint256 loss, uint256 moved) = _whatIfLossAndMoved(alone, skim);
        assertEq(moved, _debtDecrease(alone), "moved: the debt repaid");
        _expectRefusedWith(alone, abi.encodeWithSelector(ILeverageModule.ValueLossExceeded.selector, loss, moved, 50));

        Action[] memory actions = new Action[](4);
        actions[0] = alone.actions[0];
        actions[1] = alone.actions[1];
        actions[2] = action(ActionKind.WithdrawFromPool, 1, address(usdcVault), 1);
        actions[3] = action(ActionKind.Repay, 1, address(0), 1);
        Plan memory padded = plan2(wethId, wbtcId, actions);
        // A 1-wei repayment would add one wei of allowance; it is not even a change: refused before the loss is judged.
        _expectRefusedWith(padded, abi.encodeWithSelector(ILeverageModule.SubAccountUnchanged.selector, wbtcId));

        Action[] memory idle = new Action[](3);
        idle[0] = alone.actions[0];
        idle[1] = alone.actions[1];
        idle[2] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 9000e6);
        Plan memory shuffled;
        shuffled.subAccounts = alone.subAccounts;
        shuffled.actions = idle;
        // A withdrawal left idle moves no position (no allowance), and no repayment or supply uses it: refused by name.
        _expectRefusedWith(shuffled, abi.encodeWithSelector(ILeverageModule.PoolNotUsed.selector, wethId, address(usdcVault)));
    }

    /// @dev Whatever idle withdrawal is added around the skimmed repayment (any size), the plan is refused: no repayment
    /// or supply uses it (`PoolNotUsed`), so it can never raise the loss allowance.
    function testFuzz_Attack22_IdleWithdrawalsNeverRaiseTheLossAllowance(uint256 pad) public {
        pad = bound(pad, 1, 9000e6);
        RiggedVault skim = _feePool(1200);
        _allowPools(skim);
        Plan memory plan = _repayFrom(address(skim), 3300e6);
        Action[] memory actions = new Action[](3);
        actions[0] = plan.actions[0];
        actions[1] = plan.actions[1];
        actions[2] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), pad);
        plan.actions = actions;
        _expectRefusedWith(plan, abi.encodeWithSelector(ILeverageModule.PoolNotUsed.selector, wethId, address(usdcVault)));
    }

    /* 23. WHATEVER PAYS, KEEPER OPERATIONS COST THE SAFE AT MOST ITS BUDGET */

    /// @dev Issue 10 item 5: with a standing allowance to the real v0.7 sample TokenPaymaster, 150 failing keeper
    /// operations used to bill the Safe in USDC with no bound. Unlisted paymasters are charged to the self-pay budget.
    function test_Attack23_TokenPaymasterBillsTheSafeAtMostItsBudget() public {
        address tokenPaymaster = _deployTokenPaymaster();
        safeExec(safe, address(usdc), 0, abi.encodeCall(IERC20.approve, (tokenPaymaster, type(uint256).max)), 0);
        usdc.mint(safe, 50_000e6);
        wethOracle.setPrice(3000e18); // nothing is due: every operation fails in execution
        AutomationConfig memory c = defaultAutomation();
        vm.fee(c.maxFeePerGas - c.maxPriorityFeePerGas); // operations pay their maximum fee
        Holdings memory before = holdings(safe);
        uint256 accepted;
        uint256 refusedAt;
        PackedUserOperation memory op;
        for (uint256 i; i < 150; ++i) {
            op = _expensive(keeperOp(safe, keeper, repayPlan(3300e6), keeperKey), c);
            op.paymasterAndData = abi.encodePacked(tokenPaymaster, uint128(200_000), uint128(100_000));
            op.signature = signKeeper(op, keeperKey);
            PackedUserOperation[] memory ops = new PackedUserOperation[](1);
            ops[0] = op;
            vm.prank(bundler, bundler);
            try entryPoint.handleOps(ops, payable(attacker)) {
                ++accepted;
            } catch (bytes memory err) {
                if (refusedAt == 0) {
                    uint256 spent = module.getSelfPayBudget(safe).spentWei;
                    assertEq(
                        err,
                        failedOpWithRevert(
                            abi.encodeWithSelector(ILeverageModule.SelfPayBudgetExceeded.selector, spent, maxCost(op), SELF_PAY_BUDGET)
                        ),
                        "refused by the self-pay budget"
                    );
                    refusedAt = i;
                }
            }
        }
        Holdings memory h = holdings(safe);
        uint256 billed = before.usdc - h.usdc;
        uint256 priceWithMarkup = ITokenPaymaster(tokenPaymaster).cachedPrice() * 100 / 110;
        uint256 bound = uint256(SELF_PAY_BUDGET) * 1e26 / priceWithMarkup; // weiToToken of the whole budget, markup included
        emit log_named_uint("operations accepted", accepted);
        emit log_named_decimal_uint("USDC billed", billed, 6);
        emit log_named_decimal_uint("budget at the paymaster's price", bound, 6);
        assertGt(accepted, 0, "some operations ran");
        assertEq(accepted, refusedAt, "every operation after the first refusal was refused too");
        assertLe(accepted * maxCost(op), SELF_PAY_BUDGET, "accepted operations fit in the budget");
        assertLe(billed, bound, "USDC billed within the budget at the paymaster's price");
        assertEq(usdc.balanceOf(tokenPaymaster), billed, "only the paymaster took USDC");
        // Nothing else moved: ETH and deposit untouched (the paymaster paid the EntryPoint), positions and pools intact.
        h.usdc = before.usdc;
        _assertSameHoldings(before, h);
    }

    function test_Attack23_OnlyListedSponsorsAreFreeToTheSafe() public {
        ToggleRevertPaymaster sponsor = new ToggleRevertPaymaster(entryPoint);
        sponsor.deposit{value: 5 ether}();
        wethOracle.setPrice(3000e18);
        PackedUserOperation memory op = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        op.paymasterAndData = abi.encodePacked(address(sponsor), uint128(100_000), uint128(50_000));
        op.signature = signKeeper(op, keeperKey);
        Holdings memory before = holdings(safe);
        (bool ok,) = handle(op);
        assertFalse(ok);
        assertEq(module.getSelfPayBudget(safe).spentWei, maxCost(op), "an unlisted paymaster is charged, its gas included");

        safeCall(abi.encodeCall(ILeverageModule.setSponsor, (address(sponsor), true)));
        assertTrue(module.isSponsor(safe, address(sponsor)));
        for (uint256 i; i < 5; ++i) {
            op = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
            op.paymasterAndData = abi.encodePacked(address(sponsor), uint128(100_000), uint128(50_000));
            op.signature = signKeeper(op, keeperKey);
            (ok,) = handle(op);
            assertFalse(ok);
        }
        assertEq(module.getSelfPayBudget(safe).spentWei, maxCost(op), "listed: nothing more charged");
        assertNothingLeft(before);
    }

    /* 24. KILL SWITCH */

    /// @dev Issue 10 item 6: uninstall (every key revoked in O(1), module disabled, handler cleared) and re-install
    /// must not bring the old key back, and an operation it signed before the uninstall must never execute.
    function test_Attack24_RevertWhen_OpSignedBeforeUninstallRunsAfterReinstall() public {
        PackedUserOperation memory queued = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        uint192 oldKey = keeperNonceKey();
        safeExec(safe, multiSendCallOnly, 0, abi.encodeWithSignature("multiSend(bytes)", _uninstallBatch()), 1);
        assertFalse(ISafeTest(safe).isModuleEnabled(address(module)), "uninstalled");
        safeExec(safe, multiSendCallOnly, 0, abi.encodeWithSignature("multiSend(bytes)", _installBatch()), 1);
        assertTrue(ISafeTest(safe).isModuleEnabled(address(module)), "re-installed");
        assertFalse(module.getKeeper(safe, keeper).active, "the old key is not back");
        uint192 newKey = keeperNonceKey();
        assertTrue(newKey != oldKey, "generation 1: another nonce key");

        Holdings memory before = holdings(safe);
        expectHandleRevert(
            queued, failedOpWithRevert(abi.encodeWithSelector(ILeverageModule.KeeperNonceKeyInvalid.selector, oldKey, newKey))
        );
        // Re-signed on the new nonce key by the old key: a key of an older generation never validates.
        expectHandleRevert(keeperOp(safe, keeper, repayPlan(3300e6), keeperKey), failedOp("AA24 signature error"));
        // Even if the owner trusts the same address again, what it signed before stays dead.
        safeCall(abi.encodeCall(ILeverageModule.addKeeper, (keeper, 0, uint48(block.timestamp + 1 days))));
        expectHandleRevert(
            queued,
            failedOpWithRevert(abi.encodeWithSelector(ILeverageModule.KeeperNonceKeyInvalid.selector, oldKey, keeperNonceKey()))
        );
        assertNothingLeft(before);
    }

    /// @dev Review 3 (issue 10): a keeper (or whoever held its signing service) pre-signs operations for the nonce keys
    /// it can predict: the next generations under the old `generation << 160 | keeper` format, and the hash of the next
    /// generation with the salt it knows. The owner then revokes every key (or this one alone) and later trusts the
    /// same address again. None of the pre-signed operations may validate: each registration draws a salt from the
    /// parent block's hash, unknown when they were signed.
    function test_Attack24_RevertWhen_OpPreSignedForALaterRegistration() public {
        uint112 oldSalt = module.getKeeper(safe, keeper).salt;
        uint32 generation = module.getAutomationConfig(safe).keyGeneration;
        uint192[4] memory guesses = [
            uint192(generation + 1) << 160 | uint192(uint160(keeper)),
            uint192(generation + 2) << 160 | uint192(uint160(keeper)),
            uint192(uint256(keccak256(abi.encode(keeper, generation + 1, oldSalt)))),
            keeperNonceKey() // the current key, one sequence ahead: revived by a plain revoke and re-add?
        ];
        PackedUserOperation[4] memory stash;
        for (uint256 i; i < guesses.length; ++i) {
            stash[i] = baseOp(safe, abi.encodeCall(ILeverageModule.executeRebalance, (keeper, repayPlan(3300e6))), guesses[i]);
            if (i == 3) stash[i].nonce += 1;
            stash[i].signature = signKeeper(stash[i], keeperKey);
        }

        // Path 1: revoke this key alone, trust it again in the same generation and the same block.
        safeCall(abi.encodeCall(ILeverageModule.revokeKeeper, (keeper)));
        safeCall(abi.encodeCall(ILeverageModule.addKeeper, (keeper, 0, uint48(block.timestamp + 1 days))));
        Holdings memory before = holdings(safe);
        for (uint256 i; i < guesses.length; ++i) {
            expectHandleRevert(
                stash[i],
                failedOpWithRevert(
                    abi.encodeWithSelector(ILeverageModule.KeeperNonceKeyInvalid.selector, guesses[i], keeperNonceKey())
                )
            );
        }
        // Path 2: revoke every key, trust the same address again in the next generation.
        safeCall(abi.encodeCall(ILeverageModule.revokeAllKeepers, ()));
        vm.roll(block.number + 1);
        safeCall(abi.encodeCall(ILeverageModule.addKeeper, (keeper, 0, uint48(block.timestamp + 1 days))));
        assertEq(module.getAutomationConfig(safe).keyGeneration, generation + 1, "the next generation");
        assertTrue(module.getKeeper(safe, keeper).active, "the same address is trusted again");
        for (uint256 i; i < guesses.length; ++i) {
            expectHandleRevert(
                stash[i],
                failedOpWithRevert(
                    abi.encodeWithSelector(ILeverageModule.KeeperNonceKeyInvalid.selector, guesses[i], keeperNonceKey())
                )
            );
        }
        assertNothingLeft(before);
        // What the re-registered key signs now runs: the stash failed on its nonce key, not for lack of a trigger.
        handleOk(keeperOp(safe, keeper, repayPlan(3300e6), keeperKey));
    }

    function test_Attack24_OneCallRevokesEveryKey() public {
        uint256[] memory keys = new uint256[](20);
        for (uint256 i; i < keys.length; ++i) {
            address k;
            (k, keys[i]) = makeAddrAndKey(string.concat("keeper ", vm.toString(i)));
            safeCall(abi.encodeCall(ILeverageModule.addKeeper, (k, 0, uint48(block.timestamp + 30 days))));
        }
        vm.expectEmit(address(module));
        emit ILeverageModule.KeepersReset(safe, 1);
        safeCall(abi.encodeCall(ILeverageModule.revokeAllKeepers, ()));
        Holdings memory before = holdings(safe);
        for (uint256 i; i < keys.length; ++i) {
            address k = vm.addr(keys[i]);
            assertFalse(module.getKeeper(safe, k).active, "revoked");
            expectHandleRevert(keeperOp(safe, k, repayPlan(3300e6), keys[i]), failedOp("AA24 signature error"));
        }
        expectExec(repayPlan(3300e6), abi.encodeWithSelector(ILeverageModule.KeeperNotAuthorized.selector, keeper));
        assertNothingLeft(before);
    }

    function test_Attack24_RevertWhen_ResetLandsInTheSameBundle() public {
        PackedUserOperation[] memory ops = new PackedUserOperation[](2);
        ops[0] = baseOp(safe, abi.encodeCall(ILeverageModule.executeUserOp, (safe, 0, abi.encodeCall(ILeverageModule.revokeAllKeepers, ()), 0)), 0);
        ops[0].signature = sign(ops[0], ownerKey, 0, 0);
        ops[1] = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        Holdings memory before = holdings(safe);
        (bool[] memory success, bytes[] memory reasons) = handleBundle(ops);
        assertTrue(success[0], "reset first");
        assertFalse(success[1], "the queued keeper operation is stopped");
        assertEq(reasons[1], abi.encodeWithSelector(ILeverageModule.KeeperNotAuthorized.selector, keeper));
        assertNothingLeftBut(before, maxCost(ops[0]) + maxCost(ops[1]));
    }

    /* 25. KEEPER OPERATIONS ON THEIR OWN NONCE KEY */

    /// @dev Issue 10 item 7: a failing keeper operation on nonce key 0 used to consume the sequence number of an owner
    /// operation already signed (AA25). Keeper operations must use their keeper's own key.
    function test_Attack25_RevertWhen_KeeperOpUsesTheOwnersNonceKey() public {
        PackedUserOperation memory owners =
            baseOp(safe, abi.encodeCall(ILeverageModule.executeUserOp, (safe, 0, abi.encodeCall(ILeverageModule.setPaused, (false)), 0)), 0);
        owners.signature = sign(owners, ownerKey, 0, 0);
        Holdings memory before = holdings(safe);
        uint192[3] memory foreign = [uint192(0), uint192(7), module.keeperNonceKey(safe, makeAddr("other keeper"))];
        for (uint256 i; i < foreign.length; ++i) {
            PackedUserOperation memory op = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
            op.nonce = entryPoint.getNonce(safe, foreign[i]);
            op.signature = signKeeper(op, keeperKey);
            expectHandleRevert(
                op,
                failedOpWithRevert(abi.encodeWithSelector(ILeverageModule.KeeperNonceKeyInvalid.selector, foreign[i], keeperNonceKey()))
            );
        }
        assertNothingLeft(before);
        handleOk(owners);
        assertEq(entryPoint.getNonce(safe, 0), 1, "the owner's signed operation kept its sequence number");
    }

    /* 26. A SUB-ACCOUNT THAT IS NOT DUE ONLY APPROACHES ITS TARGET */

    /// @dev Issue 10 item 8: a boost-enabled sub-account that is not due (1.65 in [1.2, 1.7]) was levered to 1.20 because
    /// another sub-account triggered. The item's shape parked the rest of the borrow in a pool; since rr10b a not-due
    /// borrow funds no deposit (DepositNotFunded, asserted), so the lever is rebuilt as a donor borrow the WETH rescue
    /// spends whole: Borrow(5,500) on WBTC lands it at ~1.394, past its target, and WETH, dropped to 1.05 so the whole
    /// 5,500 fits its landing zone, repays it (to ~1.51).
    function test_Attack26_RevertWhen_NotDueSubAccountIsLeveredPastItsTarget() public {
        Policy memory policy = defaultPolicy(wbtcMarket, address(usdcVault));
        policy.boostAllowed = true;
        setPolicy(policy);
        wbtcOracle.setPrice(57_558e18); // 57,558 * 0.86 / 30,000: 1.65
        uint256 healthBefore = healthOf(safe, wbtcMarket);
        Action[] memory parked = new Action[](3);
        parked[0] = action(ActionKind.Borrow, 1, address(0), 9500e6);
        parked[1] = action(ActionKind.Repay, 0, address(0), 3300e6);
        parked[2] = action(ActionKind.DepositToPool, 1, address(usdcVault), 6200e6);
        _expectRefusedWith(
            plan2(wethId, wbtcId, parked),
            abi.encodeWithSelector(ILeverageModule.DepositNotFunded.selector, address(usdc), 6200e6, 0)
        );
        _dropWethHealthTo(1.05e18);

        Action[] memory actions = new Action[](2);
        actions[0] = action(ActionKind.Borrow, 1, address(0), 5500e6);
        actions[1] = action(ActionKind.Repay, 0, address(0), 5500e6);
        PackedUserOperation memory op = keeperOp(safe, keeper, plan2(wethId, wbtcId, actions), keeperKey);
        uint256 landed = _wbtcHealthAfterBorrowing(5500e6); // about 1.394: in band, past the target
        assertLt(landed, 1.4e18);
        Holdings memory before = holdings(safe);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok);
        assertEq(
            reason,
            abi.encodeWithSelector(ILeverageModule.HealthCrossedTarget.selector, wbtcId, healthBefore, landed, 1.4e18)
        );
        assertNothingLeftBut(before, maxCost(op));

        // Borrowing only down to 1.45 (toward the target, not past it) is accepted.
        actions[0] = action(ActionKind.Borrow, 1, address(0), 4138e6);
        actions[1] = action(ActionKind.Repay, 0, address(0), 4138e6);
        handleOk(keeperOp(safe, keeper, plan2(wethId, wbtcId, actions), keeperKey));
        assertGe(healthOf(safe, wbtcMarket), 1.4e18, "not past the target");
        assertLt(healthOf(safe, wbtcMarket), healthBefore, "moved toward it");
    }

    /* 27. minHealth AT LEAST THE LIQUIDATION INCENTIVE */

    /// @dev Issue 10 item 9: minHealth = 1.0 let a keeper lever to the liquidation line.
    function test_Attack27_RevertWhen_MinHealthBelowTheLiquidationIncentive() public {
        // Morpho: LIF = min(1.15, 1 / (1 - 0.3 (1 - LLTV))), LLTV 0.86: 1 / 0.958.
        uint256 lif = Math.mulDiv(1e18, 1e18, 1e18 - Math.mulDiv(0.3e18, 1e18 - LLTV, 1e18));
        assertEq(adapter.liquidationIncentiveFactor(Id.unwrap(wethMarket.id())), lif, "adapter = Morpho's formula");
        uint64[3] memory tooLow = [uint64(1e18), uint64(1.01e18), uint64(lif - 1)];
        for (uint256 i; i < tooLow.length; ++i) {
            Policy memory policy = defaultPolicy(wethMarket, address(usdcVault));
            policy.minHealth = tooLow[i];
            vm.prank(safe);
            vm.expectRevert(
                abi.encodeWithSelector(ILeverageModule.MinHealthBelowLiquidationIncentive.selector, tooLow[i], lif)
            );
            ILeverageModule(safe).setPolicy(policy);
        }
        Policy memory atLif = defaultPolicy(wethMarket, address(usdcVault));
        atLif.minHealth = uint64(lif);
        setPolicy(atLif);
        assertEq(module.getPolicy(safe, wethId).minHealth, lif, "exactly the incentive factor is accepted");
    }

    /* 28. OWNER-LANE SIGNATURE PADDING */

    /// @dev Issue 10 item 10: a bundler appends bytes to the owners' signature (not covered by the hash) to make the
    /// Safe pay for them. Refused, as later Safe4337Module releases do.
    function test_Attack28_RevertWhen_BundlerPadsTheOwnerSignature() public {
        PackedUserOperation memory op =
            baseOp(safe, abi.encodeCall(ILeverageModule.executeUserOp, (address(usdc), 0, abi.encodeCall(IERC20.transfer, (owner, 1e6)), 0)), 0);
        op.signature = sign(op, ownerKey, 0, 0);
        bytes memory signed = op.signature;
        Holdings memory before = holdings(safe);
        uint256[3] memory pads = [uint256(1), 32, 4000];
        for (uint256 i; i < pads.length; ++i) {
            op.signature = bytes.concat(signed, new bytes(pads[i]));
            expectHandleRevert(op, failedOp("AA24 signature error"));
        }
        assertNothingLeft(before);
        op.signature = signed;
        handleOk(op);
        assertEq(usdc.balanceOf(owner), 1e6, "the unpadded operation runs");
    }

    /* 29. A PINNED OR FROZEN FEED */

    /// @dev Issue 10 item 11: a Chainlink aggregator clamps its answer to [minAnswer, maxAnswer]; in a crash both the
    /// venue oracle and the feed sit at the floor and agree. An answer at a configured bound is refused.
    function test_Attack29_RevertWhen_FeedIsPinnedAtItsFloor() public {
        Policy memory policy = defaultPolicy(wethMarket, address(usdcVault));
        policy.minFeedAnswer = 2400e8;
        policy.maxFeedAnswer = 100_000e8;
        setPolicy(policy);
        PackedUserOperation memory op = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        Holdings memory before = holdings(safe);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok);
        assertEq(
            reason,
            abi.encodeWithSelector(ILeverageModule.OracleAnswerOutOfBounds.selector, wethId, int256(2400e8), 2400e8, 100_000e8)
        );
        assertNothingLeftBut(before, maxCost(op));
        wethOracle.setPrice(100_000e18);
        before = holdings(safe);
        expectExec(
            repayPlan(3300e6),
            abi.encodeWithSelector(ILeverageModule.OracleAnswerOutOfBounds.selector, wethId, int256(100_000e8), 2400e8, 100_000e8)
        );
        assertNothingLeft(before);
    }

    function test_Attack29_RevertWhen_FeedStopsUpdating() public {
        uint256 updatedAt = block.timestamp;
        vm.warp(block.timestamp + 1 hours + 1); // the venue keeps its price; the feed's last round is an hour old
        PackedUserOperation memory op = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        Holdings memory before = holdings(safe);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok);
        assertEq(reason, abi.encodeWithSelector(ILeverageModule.OracleStale.selector, wethId, updatedAt, 1 hours));
        assertNothingLeftBut(before, maxCost(op));
    }

    /* 30. CHURN PADDING: THE AMOUNT CAPS CHARGE THE NET POSITION CHANGE */

    /// @dev Review 4 of issue 10: a compromised keeper pads two genuine WETH rescues with churn on the WBTC sub-account
    /// (not due, boost allowed): Repay(all its debt), Borrow(debt + 300), 300 parked in the pool. Charged gross, that spent
    /// 99.2k of WBTC's 100k maxAmountPerEpoch, and once the owner replaced the key the honest keeper's WBTC rescue was
    /// refused (EpochAmountCapExceeded) until the epoch ended. Charged net, each churn costs its 300 and the rescue runs.
    /// Since rr10 F1 a Repay and a Borrow on one sub-account are churn (ActionNotAllowed at the later one, asserted
    /// here); the churn is rebuilt on the collateral side, which no rule forbids: SupplyCollateral(X) of idle WBTC and
    /// WithdrawCollateral(X) back, with the 300 borrowed. Since rr10b that 300 is no longer parked (a sub-account that
    /// supplies collateral deposits nothing, and a not-due borrow funds no deposit; ActionNotAllowed asserted) but spent
    /// on the WETH rescue, which the idle USDC tops up.
    function test_Attack30_ChurnOnANotDueSubAccountCannotSpendItsEpochAmountCap() public {
        Policy memory wp = defaultPolicy(wbtcMarket, address(usdcVault));
        wp.boostAllowed = true;
        wp.maxHealth = 2e18; // WBTC at 1.72: not due
        wp.maxAmountPerRebalance = 70_000e6;
        wp.maxAmountPerEpoch = 100_000e6;
        setPolicy(wp);
        uint256 debtB = _wbtcDebt();
        _expectRefusedWith(
            _wbtcRepayBorrowPlan(debtB, 300e6), abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 1, ActionKind.Borrow)
        );
        // The rescues are paid from the Safe's idle USDC (38,000 in the fixture).
        _churnWbtcNextToARescue(debtB);
        uint256 charged = _wbtcDebt() - debtB;
        assertEq(module.getEpochUsage(safe, wbtcId).amountMoved, charged, "charged the net debt change only");
        assertApproxEqAbs(charged, 300e6, 1, "the 300 borrowed on top of the churn");

        _dropWethHealthTo(1.15e18);
        uint256 debtBefore = _wbtcDebt();
        _churnWbtcNextToARescue(19_000e6);
        charged += _wbtcDebt() - debtBefore;
        assertEq(module.getEpochUsage(safe, wbtcId).amountMoved, charged, "again only the net change");
        assertLt(charged, 601e6, "two churns of ~98,000 gross (collateral in and out) cost ~600 of the 100,000 cap");

        // The owner revokes the compromised key and adds an honest one; WBTC crashes below its band and is rescued.
        (address honest, uint256 honestKey) = makeAddrAndKey("honest keeper");
        safeCall(abi.encodeCall(ILeverageModule.revokeAllKeepers, ()));
        safeCall(abi.encodeCall(ILeverageModule.addKeeper, (honest, 0, uint48(block.timestamp + 1 days))));
        wbtcOracle.setPrice(42_000e18);
        MarketState memory s = _wbtcState();
        uint256 need = s.debt - Math.mulDiv(Math.mulDiv(s.collateral, s.price, 1e36), s.lltv, 1.35e18);
        Plan memory rescue = plan1(
            wbtcId, action(ActionKind.WithdrawFromPool, 0, address(usdcVault), need), action(ActionKind.Repay, 0, address(0), need)
        );
        int256 valueBefore = safeValue(wethVault);
        handleOk(keeperOp(safe, honest, rescue, honestKey));
        assertApproxEqAbs(healthOf(safe, wbtcMarket), 1.35e18, 0.001e18, "rescued");
        assertEq(module.getEpochUsage(safe, wbtcId).amountMoved, charged + (s.debt - _wbtcDebt()), "the rescue's net change");
        assertApproxEqAbs(safeValue(wethVault), valueBefore, 2, "nothing of value left the Safe");
    }

    /// @dev The per-rebalance cap judges the same net change: churn whose net move on the not-due sub-account is 300
    /// passes a cap of 300 (gross ~60,000) and is refused by name under a cap of 299; nothing leaves the Safe. The churn
    /// is on the collateral side (idle WBTC supplied and withdrawn): since rr10 F1 a Repay/Borrow pair is refused first,
    /// and since rr10b the 300 is spent on the WETH rescue rather than parked (the parked shape's refusal asserted).
    function test_Attack30_RevertWhen_NotDueChurnNetsAboveItsRebalanceCap() public {
        Policy memory wp = defaultPolicy(wbtcMarket, address(usdcVault));
        wp.boostAllowed = true;
        wp.maxHealth = 2e18;
        setPolicy(wp);
        uint256 debtB = _wbtcDebt();
        _expectRefusedWith(
            _wbtcRepayBorrowPlan(debtB, 300e6), abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 1, ActionKind.Borrow)
        );
        _expectParkedChurnRefused(debtB);
        Plan memory plan = _wbtcChurnPlan(debtB, 300e6);
        uint256 net = _wbtcNetChange(plan);
        assertApproxEqAbs(net, 300e6, 1, "net: the 300 borrowed on top");

        wp.maxAmountPerRebalance = uint128(net - 1);
        setPolicy(wp);
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        Holdings memory before = holdings(safe);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok);
        assertEq(reason, abi.encodeWithSelector(ILeverageModule.AmountCapExceeded.selector, wbtcId, net, net - 1));
        assertNothingLeftBut(before, maxCost(op));

        wp.maxAmountPerRebalance = uint128(net);
        setPolicy(wp);
        handleOk(keeperOp(safe, keeper, plan, keeperKey));
        assertEq(module.getEpochUsage(safe, wbtcId).amountMoved, net);
    }

    /// @dev The padding the net charge could open: gross churn on the DUE sub-account is no longer charged to its amount
    /// caps (here 10,000 against a ~15,000 round trip). Run through a pool with a 1% exit fee, the churn's fee is a loss
    /// that the loss bound (maxLossBps of the positions' net moves, to which churn adds nothing) refuses by name; run
    /// through the fair venue and pool, it costs nothing and is charged its net change only.
    /// Since rr10 F1 the debt-side round trip (Repay then Borrow on WETH) is refused at the Borrow (ActionNotAllowed,
    /// asserted for both shapes). The collateral-side churn no rule forbids is checked instead: through a WETH pool with
    /// a 1% exit fee it cannot run at all (what the pool gives is withdrawn again, so no material action uses it:
    /// PoolNotUsed), and through idle WETH it costs nothing and is charged the net repayment only.
    function test_Attack30_RevertWhen_ChurnOnADueSubAccountBleedsThroughAPool() public {
        RiggedVault skim = _feePool(100);
        RiggedVault wethSkim = _feePool(weth, 10e18, 100);
        Policy memory policy = defaultPolicy(wethMarket, address(skim));
        policy.pools = new address[](3);
        policy.pools[0] = address(skim);
        policy.pools[1] = address(usdcVault);
        policy.pools[2] = address(wethSkim);
        policy.boostAllowed = true;
        policy.maxAmountPerRebalance = 10_000e6;
        setPolicy(policy);
        uint256 need = _repayToReach(1.35e18);
        Action[] memory actions = new Action[](4);
        actions[0] = action(ActionKind.WithdrawFromPool, 0, address(skim), 15_000e6);
        actions[1] = action(ActionKind.Repay, 0, address(0), 15_000e6);
        actions[2] = action(ActionKind.Borrow, 0, address(0), 15_000e6 - need);
        actions[3] = action(ActionKind.DepositToPool, 0, address(usdcVault), 15_000e6 - need);
        Plan memory bleed;
        bleed.subAccounts = new bytes32[](1);
        bleed.subAccounts[0] = wethId;
        bleed.actions = actions;
        _expectRefusedWith(bleed, abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 2, ActionKind.Borrow));
        actions = new Action[](3);
        actions[0] = action(ActionKind.Repay, 0, address(0), 15_000e6);
        actions[1] = action(ActionKind.Borrow, 0, address(0), 15_000e6 - need);
        actions[2] = action(ActionKind.DepositToPool, 0, address(usdcVault), 15_000e6 - need);
        bleed.actions = actions;
        _expectRefusedWith(bleed, abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 1, ActionKind.Borrow));

        // Collateral churn of ~15,000 of WETH through the 1% WETH pool next to the rescue from idle USDC.
        uint256 churned = Math.mulDiv(15_000e6, 1e36, wethOracle.price());
        actions = new Action[](4);
        actions[0] = action(ActionKind.WithdrawFromPool, 0, address(wethSkim), churned);
        actions[1] = action(ActionKind.SupplyCollateral, 0, address(0), churned);
        actions[2] = action(ActionKind.WithdrawCollateral, 0, address(0), churned);
        actions[3] = action(ActionKind.Repay, 0, address(0), need);
        bleed.actions = actions;
        _expectRefusedWith(bleed, abi.encodeWithSelector(ILeverageModule.PoolNotUsed.selector, wethId, address(wethSkim)));

        // The same churn from idle WETH (the fair venue): no loss, charged the net repayment (gross ~30,000 + need over
        // the 10,000 per-rebalance cap).
        weth.mint(safe, churned);
        actions = new Action[](3);
        actions[0] = action(ActionKind.SupplyCollateral, 0, address(0), churned);
        actions[1] = action(ActionKind.WithdrawCollateral, 0, address(0), churned);
        actions[2] = action(ActionKind.Repay, 0, address(0), need);
        bleed.actions = actions;
        (, uint256 debtBefore) = adapter.position(Id.unwrap(wethMarket.id()), safe);
        int256 valueBefore = safeValue(skim);
        handleOk(keeperOp(safe, keeper, bleed, keeperKey));
        (, uint256 debtAfter) = adapter.position(Id.unwrap(wethMarket.id()), safe);
        assertEq(module.getEpochUsage(safe, wethId).amountMoved, debtBefore - debtAfter, "charged the net repayment");
        assertApproxEqAbs(safeValue(skim), valueBefore, 2, "nothing of value left the Safe");
    }

    /* HELPERS */

    /// @dev Op: the WETH rescue to 1.35 from idle USDC, padded with a WBTC collateral churn of `churned` (USDC value;
    /// the idle WBTC minted to the Safe first) and 300 borrowed toward the rescue. The parked shape is refused first.
    function _churnWbtcNextToARescue(uint256 churned) internal {
        _expectParkedChurnRefused(churned);
        int256 valueBefore = safeValue(wethVault);
        handleOk(keeperOp(safe, keeper, _wbtcChurnPlan(churned, 300e6), keeperKey));
        assertApproxEqAbs(safeValue(wethVault), valueBefore, 3, "nothing of value left the Safe");
    }

    /// @dev WBTC units worth `value` (USDC base units) at the WBTC oracle.
    function _wbtcUnits(uint256 value) internal view returns (uint256) {
        return Math.mulDiv(value, 1e36, wbtcOracle.price());
    }

    /// @dev WETH repaid to 1.35 (it is due), WBTC churned on the collateral side: SupplyCollateral(x) of idle WBTC worth
    /// `churned`, WithdrawCollateral(x), Borrow(`up`) spent on WETH's repayment (the rest from idle USDC). Since rr10b
    /// the review's shape that parked the borrow (`_wbtcParkedChurnPlan`) is refused first.
    function _wbtcChurnPlan(uint256 churned, uint256 up) internal view returns (Plan memory plan) {
        uint256 x = _wbtcUnits(churned);
        Action[] memory actions = new Action[](4);
        actions[0] = action(ActionKind.SupplyCollateral, 1, address(0), x);
        actions[1] = action(ActionKind.WithdrawCollateral, 1, address(0), x);
        actions[2] = action(ActionKind.Borrow, 1, address(0), up);
        actions[3] = action(ActionKind.Repay, 0, address(0), _repayToReach(1.35e18));
        plan = plan2(wethId, wbtcId, actions);
    }

    /// @dev The churn as first rebuilt after rr10 F1: `_wbtcChurnPlan` with the borrow parked (Deposit(`up`) at index 3)
    /// instead of spent. Refused since rr10b R1 at the deposit: WBTC supplies collateral, so it deposits nothing
    /// (`CHURN_KINDS`: ActionNotAllowed(3, DepositToPool)).
    function _wbtcParkedChurnPlan(uint256 churned, uint256 up) internal view returns (Plan memory plan) {
        uint256 x = _wbtcUnits(churned);
        Action[] memory actions = new Action[](5);
        actions[0] = action(ActionKind.SupplyCollateral, 1, address(0), x);
        actions[1] = action(ActionKind.WithdrawCollateral, 1, address(0), x);
        actions[2] = action(ActionKind.Borrow, 1, address(0), up);
        actions[3] = action(ActionKind.DepositToPool, 1, address(usdcVault), up);
        actions[4] = action(ActionKind.Repay, 0, address(0), _repayToReach(1.35e18));
        plan = plan2(wethId, wbtcId, actions);
    }

    /// @dev The exact refusal of `_wbtcParkedChurnPlan` (idle WBTC worth `churned` minted first; the refusal leaves it).
    function _expectParkedChurnRefused(uint256 churned) internal {
        wbtc.mint(safe, _wbtcUnits(churned));
        _expectRefusedWith(
            _wbtcParkedChurnPlan(churned, 300e6),
            abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 3, ActionKind.DepositToPool)
        );
    }

    /// @dev The review-4 churn, refused since rr10 F1 (a Repay and a Borrow on one sub-account): WBTC Repay(`repaid`),
    /// Borrow(`repaid` + `up`), Deposit(`up`), next to the WETH rescue from idle USDC.
    function _wbtcRepayBorrowPlan(uint256 repaid, uint256 up) internal view returns (Plan memory plan) {
        Action[] memory actions = new Action[](4);
        actions[0] = action(ActionKind.Repay, 1, address(0), repaid);
        actions[1] = action(ActionKind.Borrow, 1, address(0), repaid + up);
        actions[2] = action(ActionKind.DepositToPool, 1, address(usdcVault), up);
        actions[3] = action(ActionKind.Repay, 0, address(0), _repayToReach(1.35e18));
        plan = plan2(wethId, wbtcId, actions);
    }

    /// @dev The WBTC position's net change under `plan` (|collateral value change| + |debt change|, at the pre-trade
    /// price), executed in a throwaway state with its caps lifted; computed from Morpho's positions, not the module.
    function _wbtcNetChange(Plan memory plan) internal returns (uint256 net) {
        uint256 snapshot = vm.snapshotState();
        MarketState memory s = _wbtcState();
        executeAsEntryPoint(safe, keeper, plan);
        MarketState memory t = _wbtcState();
        uint256 dc = t.collateral > s.collateral ? t.collateral - s.collateral : s.collateral - t.collateral;
        net = Math.mulDiv(dc, s.price, 1e36) + (t.debt > s.debt ? t.debt - s.debt : s.debt - t.debt);
        vm.revertToState(snapshot);
    }

    function _wbtcState() internal view returns (MarketState memory) {
        return adapter.marketState(Id.unwrap(wbtcMarket.id()), safe);
    }

    function _wbtcDebt() internal view returns (uint256 debt) {
        (, debt) = adapter.position(Id.unwrap(wbtcMarket.id()), safe);
    }

    /// @dev The WBTC sub-account's usage is untouched (no cooldown, no counter); the owner replaces the compromised key,
    /// the WBTC market falls (40,000 x 0.86 / 30,000: 1.147) and the honest keeper rescues it at once.
    function _assertUnchargedThenRescued() internal {
        EpochUsage memory usage = module.getEpochUsage(safe, wbtcId);
        assertEq(usage.lastRebalance, 0, "no cooldown started");
        assertEq(usage.rebalances, 0, "no epoch counter spent");
        (address honest, uint256 honestKey) = makeAddrAndKey("honest keeper");
        safeCall(abi.encodeCall(ILeverageModule.revokeKeeper, (keeper)));
        safeCall(abi.encodeCall(ILeverageModule.addKeeper, (honest, 0, uint48(block.timestamp + 30 days))));
        wbtcOracle.setPrice(40_000e18);
        Plan memory rescue = plan1(
            wbtcId, action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 6000e6), action(ActionKind.Repay, 0, address(0), 6000e6)
        );
        handleOk(keeperOp(safe, honest, rescue, honestKey));
        assertApproxEqAbs(healthOf(safe, wbtcMarket), 1.433e18, 0.001e18, "rescued");
    }

    function _repayFrom(address pool, uint256 amount) internal view returns (Plan memory) {
        return plan1(wethId, action(ActionKind.WithdrawFromPool, 0, pool, amount), action(ActionKind.Repay, 0, address(0), amount));
    }

    /// @dev Runs `plan` in a throwaway state with every loss bound lifted: the loss (independent valuation of the whole
    /// Safe) and what the positions moved (collateral value and debt changes, at the plan's prices).
    function _whatIfLossAndMoved(Plan memory plan, IERC4626 pool) internal returns (uint256 loss, uint256 moved) {
        uint256 snapshot = vm.snapshotState();
        _liftLossBounds(plan);
        (uint256[2] memory cBefore, uint256[2] memory dBefore) = _positions();
        int256 valueBefore = safeValue(pool);
        executeAsEntryPoint(safe, keeper, plan);
        int256 valueAfter = safeValue(pool);
        (uint256[2] memory cAfter, uint256[2] memory dAfter) = _positions();
        uint256 into;
        uint256 out;
        uint256[2] memory prices = [wethOracle.price(), wbtcOracle.price()];
        for (uint256 i; i < 2; ++i) {
            uint256 c0 = Math.mulDiv(cBefore[i], prices[i], 1e36);
            uint256 c1 = Math.mulDiv(cAfter[i], prices[i], 1e36);
            if (c1 > c0) into += c1 - c0;
            else out += c0 - c1;
            if (dAfter[i] < dBefore[i]) into += dBefore[i] - dAfter[i];
            else out += dAfter[i] - dBefore[i];
        }
        loss = valueAfter < valueBefore ? uint256(valueBefore - valueAfter) : 0;
        moved = Math.max(into, out);
        vm.revertToState(snapshot);
    }

    /// @dev The loss of `plan` (as above), the WETH sub-account's equity before it, and the loss in parts per billion
    /// of that equity, rounded up: what the epoch ledger is charged.
    function _whatIf(Plan memory plan, IERC4626 pool) internal returns (uint256 loss, uint256 equity, uint256 ppb) {
        (loss,) = _whatIfLossAndMoved(plan, pool);
        (uint256 collateral, uint256 debt) = adapter.position(Id.unwrap(wethMarket.id()), safe);
        equity = Math.mulDiv(collateral, wethOracle.price(), 1e36) - debt;
        ppb = Math.mulDiv(loss, 1e9, equity, Math.Rounding.Ceil);
    }

    function _liftLossBounds(Plan memory plan) internal {
        for (uint256 i; i < plan.subAccounts.length; ++i) {
            Policy memory policy = module.getPolicy(safe, plan.subAccounts[i]);
            policy.maxLossBps = 10_000;
            policy.maxEpochLossBps = 10_000;
            setPolicy(policy);
        }
    }

    /// @dev WBTC health after Morpho itself executes a borrow of `amount` (throwaway state): the module's exact figure.
    function _wbtcHealthAfterBorrowing(uint256 amount) internal returns (uint256 health) {
        uint256 snapshot = vm.snapshotState();
        vm.prank(safe);
        morpho.borrow(wbtcMarket, amount, 0, safe, safe);
        health = healthOf(safe, wbtcMarket);
        vm.revertToState(snapshot);
    }

    function _positions() internal view returns (uint256[2] memory collateral, uint256[2] memory debt) {
        (collateral[0], debt[0]) = adapter.position(Id.unwrap(wethMarket.id()), safe);
        (collateral[1], debt[1]) = adapter.position(Id.unwrap(wbtcMarket.id()), safe);
    }

    function _debtDecrease(Plan memory plan) internal returns (uint256 decrease) {
        uint256 snapshot = vm.snapshotState();
        _liftLossBounds(plan);
        (, uint256 before) = adapter.position(Id.unwrap(wethMarket.id()), safe);
        executeAsEntryPoint(safe, keeper, plan);
        (, uint256 afterwards) = adapter.position(Id.unwrap(wethMarket.id()), safe);
        decrease = before - afterwards;
        vm.revertToState(snapshot);
    }

    /// @dev Every gas field at its cap: the most one operation can cost.
    function _expensive(PackedUserOperation memory op, AutomationConfig memory c)
        internal
        pure
        returns (PackedUserOperation memory)
    {
        op.accountGasLimits = bytes32((uint256(c.maxVerificationGasLimit) << 128) | c.maxCallGasLimit);
        op.preVerificationGas = c.maxPreVerificationGas;
        op.gasFees = bytes32((uint256(c.maxPriorityFeePerGas) << 128) | c.maxFeePerGas);
        return op;
    }

    function _assertSameHoldings(Holdings memory a, Holdings memory b) internal pure {
        assertEq(keccak256(abi.encode(a)), keccak256(abi.encode(b)), "holdings changed");
    }

    /// @dev The v0.7 sample TokenPaymaster from its published artifact, priced by two SimOracle feeds (USDC 1.00 USD,
    /// ETH 3,000 USD), 10% markup, never swapping (as the devnet deploys it).
    function _deployTokenPaymaster() internal returns (address paymaster) {
        SimOracle tokenFeed = new SimOracle(18, 18, 8);
        SimOracle nativeFeed = new SimOracle(18, 18, 8);
        tokenFeed.setFeed(1e8 * 1e12, block.timestamp, 8); // USD per 1e-18 token: the sample ignores token decimals
        nativeFeed.setFeed(3000e8, block.timestamp, 8);
        bytes memory args = abi.encode(
            address(usdc),
            address(entryPoint),
            address(weth),
            address(0xdEaD),
            TokenPaymasterConfig({priceMarkup: 1.1e26, minEntryPointBalance: 0, refundPostopCost: 15_000, priceMaxAge: 1 days}),
            OracleHelperConfig({
                cacheTimeToLive: 1 hours,
                maxOracleRoundAge: 30 days,
                tokenOracle: address(tokenFeed),
                nativeOracle: address(nativeFeed),
                tokenToNativeOracle: false,
                tokenOracleReverse: false,
                nativeOracleReverse: false,
                priceUpdateThreshold: 1e25
            }),
            UniswapHelperConfig({minSwapAmount: 0, uniswapPoolFee: 3000, slippage: 50}),
            address(this)
        );
        paymaster = deployArtifact(string.concat(AA_ARTIFACTS, "TokenPaymaster.json"), args);
        ITokenPaymaster(paymaster).updateCachedPrice(true);
        entryPoint.depositTo{value: 10 ether}(paymaster);
    }

    function _uninstallBatch() internal view returns (bytes memory) {
        return abi.encodePacked(
            _tx(safe, abi.encodeCall(ILeverageModule.revokeAllKeepers, ())),
            _tx(safe, abi.encodeCall(ISafeTest.disableModule, (SENTINEL, address(module)))),
            _tx(safe, abi.encodeCall(ISafeTest.setFallbackHandler, (address(0))))
        );
    }

    function _installBatch() internal view returns (bytes memory) {
        return abi.encodePacked(
            _tx(safe, abi.encodeCall(ISafeTest.enableModule, (address(module)))),
            _tx(safe, abi.encodeCall(ISafeTest.setFallbackHandler, (address(module))))
        );
    }

    function _tx(address to, bytes memory data) internal pure returns (bytes memory) {
        return abi.encodePacked(uint8(0), to, uint256(0), data.length, data);
    }
}

struct TokenPaymasterConfig {
    uint256 priceMarkup;
    uint128 minEntryPointBalance;
    uint48 refundPostopCost;
    uint48 priceMaxAge;
}

struct OracleHelperConfig {
    uint48 cacheTimeToLive;
    uint48 maxOracleRoundAge;
    address tokenOracle;
    address nativeOracle;
    bool tokenToNativeOracle;
    bool tokenOracleReverse;
    bool nativeOracleReverse;
    uint256 priceUpdateThreshold;
}

struct UniswapHelperConfig {
    uint256 minSwapAmount;
    uint24 uniswapPoolFee;
    uint8 slippage;
}
