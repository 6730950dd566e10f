// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IMorphoBase, MarketParams, Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {AttackBase} from "./AttackBase.sol";
import {SwapBase} from "../utils/SwapBase.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";

/// @notice A compromised keeper against `Policy.rescueBelowTarget` (issue 13, SECURITY.md row 150), every operation
/// through EntryPoint.handleOps: with the owner's flag a sub-account inside its band below targetHealth is due, for a
/// rescue landing in [max(target, before + (target - min) / 2), target + (max - target) / 2]. The keeper tries (a) a dust
/// rescue from just under the target, (b) churn: re-triggering right after an accepted rescue, and a sequence of
/// rescues bounded by the epoch's count and loss budgets, (d) a not-due second sub-account padded next to an in-band
/// rescue; (c) a swap deleverage losing more than maxLossBps is in `RescueBelowTargetSwapAttacksTest` below. Each
/// refusal is asserted exactly, with nothing but the operation's gas leaving the Safe.
/// Run: node scripts/forge.mjs test --match-path modules/test/attacks/RescueBelowTargetAttacks.t.sol
contract RescueBelowTargetAttacksTest is AttackBase {
    using MarketParamsLib for MarketParams;

    function setUp() public override {
        super.setUp();
        wethId = setPolicy(_flagged(defaultPolicy(wethMarket, address(usdcVault))));
        _dropWethHealthTo(1.3e18); // inside [1.2, 1.7], below the target 1.4: due only by the flag
    }

    function _flagged(Policy memory policy) internal pure returns (Policy memory) {
        policy.rescueBelowTarget = true;
        return policy;
    }

    /// @dev The health the venue reports for `market` after the owner repays `amount` of its debt on Morpho directly,
    /// in a throwaway state (independent of the module's arithmetic).
    function _healthAfterRepay(MarketParams memory market, uint256 amount) internal returns (uint256 landed) {
        uint256 snapshot = vm.snapshotState();
        usdc.mint(safe, amount);
        vm.startPrank(safe);
        usdc.approve(address(morpho), amount);
        morpho.repay(market, amount, 0, safe, "");
        vm.stopPrank();
        landed = healthOf(safe, market);
        vm.revertToState(snapshot);
    }

    function _zoneError(uint256 landed, uint256 low, uint256 high) internal view returns (bytes memory) {
        return abi.encodeWithSelector(ILeverageModule.HealthOutsideLandingZone.selector, wethId, landed, low, high);
    }

    /// @dev Sets the WBTC price so that the WBTC sub-account's health is about `target`.
    function _setWbtcHealth(uint256 target) internal {
        (uint256 collateral, uint256 debt) = adapter.position(Id.unwrap(wbtcMarket.id()), safe);
        wbtcOracle.setPrice(Math.mulDiv(target, debt * 1e20, collateral * 0.86e18));
        assertApproxEqAbs(healthOf(safe, wbtcMarket), target, 0.0001e18, "WBTC health set");
    }

    /// @dev The repayment that takes the WBTC sub-account to `target` health at the current price.
    function _wbtcRepayToReach(uint256 target) internal view returns (uint256) {
        MarketState memory s = adapter.marketState(Id.unwrap(wbtcMarket.id()), safe);
        return s.debt - Math.mulDiv(Math.mulDiv(s.collateral, s.price, 1e36), 0.86e18, target);
    }

    /* (a) DUST RESCUE FROM JUST UNDER THE TARGET */

    /// From target - 0.001 (1.399) to target + 0.001 (1.401): a trigger interest or a tick could make, for a move that
    /// would let the next one come as cheaply. Refused with the zone [before + 0.1, 1.55]; a landing at the target
    /// itself too; the honest rescue to 1.5 (the zone) is accepted.
    function test_Attack_DustRescueFromJustUnderTheTargetIsRefused() public {
        _dropWethHealthTo(1.399e18);
        uint256 before = healthOf(safe, wethMarket);
        assertLt(before, 1.4e18, "due: under the target");
        uint256 dust = _repayToReach(1.401e18);
        _expectRefusedWith(repayPlan(dust), _zoneError(_healthAfterRepay(wethMarket, dust), before + 0.1e18, 1.55e18));
        uint256 toTarget = _repayToReach(1.4e18);
        _expectRefusedWith(repayPlan(toTarget), _zoneError(_healthAfterRepay(wethMarket, toTarget), before + 0.1e18, 1.55e18));
        assertEq(module.getEpochUsage(safe, wethId).rebalances, 0, "nothing counted");
        handleOk(keeperOp(safe, keeper, repayPlan(_repayToReach(1.5e18)), keeperKey));
        assertGe(healthOf(safe, wethMarket), before + 0.1e18, "the honest rescue moved half the lower band");
    }

    /* (b) CHURN */

    /// After an accepted in-band rescue (1.3 -> 1.45) the keeper tries again at once, one block later after a tick down,
    /// and after interest-like drift to just under the target: NoTrigger while at or above the target; under it the zone
    /// demands another half lower band (dust refused). Only the first operation was counted.
    function test_Attack_ChurnAfterAnInBandRescueIsRefused() public {
        handleOk(keeperOp(safe, keeper, repayPlan(_repayToReach(1.45e18)), keeperKey));
        uint256 rescued = healthOf(safe, wethMarket);
        assertGe(rescued, 1.4e18, "rescued to the target at least");
        bytes memory noTrigger = abi.encodeWithSelector(ILeverageModule.NoTrigger.selector);
        // Immediately: a second rescue, or a nudge toward the target.
        _expectRefusedWith(repayPlan(_repayToReach(1.5e18)), noTrigger);
        _expectRefusedWith(repayPlan(1e6), noTrigger);
        // A block later, the price a tick lower (0.1%): still at or above the target.
        vm.warp(block.timestamp + 12);
        wethOracle.setPrice(wethOracle.price() / 1e6 * 999 / 1000); // price() is 1e36-scaled per wei: 1e6 x the WAD price
        assertGe(healthOf(safe, wethMarket), 1.4e18);
        _expectRefusedWith(repayPlan(_repayToReach(1.5e18)), noTrigger);
        // Drifted to just under the target: due, but a dust landing is outside [before + 0.1, 1.55].
        _dropWethHealthTo(1.3999e18);
        uint256 before = healthOf(safe, wethMarket);
        uint256 dust = _repayToReach(1.41e18);
        _expectRefusedWith(repayPlan(dust), _zoneError(_healthAfterRepay(wethMarket, dust), before + 0.1e18, 1.55e18));
        EpochUsage memory usage = module.getEpochUsage(safe, wethId);
        assertEq(usage.rebalances, 1, "only the accepted rescue counted");
    }

    /// Stop 64 (SECURITY.md row 152): with cooldown 600 a keeper lands a rescue from below the band low in its zone
    /// (1.1 -> 1.25), which starts no cooldown, and churns at once: a dust step is refused by the in-band zone
    /// (HealthOutsideLandingZone, low edge the target), the rescue to 1.45 lands (no cooldown either), then a nudge is
    /// refused NoTrigger and, after a new fall below the band, maxRebalancesPerEpoch (2) refuses a third
    /// (EpochRebalanceCapExceeded(id, 3, 2)). Nothing but gas left the Safe on each refusal.
    function test_Attack_LowLandingThenChurnIsBoundedByTheZoneAndTheCount() public {
        Policy memory policy = _flagged(defaultPolicy(wethMarket, address(usdcVault)));
        policy.cooldown = 600;
        policy.maxRebalancesPerEpoch = 2;
        setPolicy(policy);
        _dropWethHealthTo(1.1e18);
        handleOk(keeperOp(safe, keeper, repayPlan(_repayToReach(1.25e18)), keeperKey));
        uint256 before = healthOf(safe, wethMarket);
        assertLt(before, 1.4e18);
        assertEq(module.getEpochUsage(safe, wethId).lastRebalance, 0, "no cooldown: still due below the target");
        uint256 dust = _repayToReach(before + 0.01e18);
        _expectRefusedWith(repayPlan(dust), _zoneError(_healthAfterRepay(wethMarket, dust), before + 0.1e18, 1.55e18));
        handleOk(keeperOp(safe, keeper, repayPlan(_repayToReach(1.45e18)), keeperKey));
        assertGe(healthOf(safe, wethMarket), 1.4e18);
        _expectRefusedWith(repayPlan(1e6), abi.encodeWithSelector(ILeverageModule.NoTrigger.selector));
        _dropWethHealthTo(1.1e18);
        _expectRefusedWith(
            repayPlan(_repayToReach(1.3e18)),
            abi.encodeWithSelector(ILeverageModule.EpochRebalanceCapExceeded.selector, wethId, 3, 2)
        );
        assertEq(module.getEpochUsage(safe, wethId).rebalances, 2);
    }

    /// A sequence of real falls, each rescued in band: maxRebalancesPerEpoch (3) bounds it, the fourth is refused
    /// EpochRebalanceCapExceeded(id, 4, 3) with nothing moved.
    function test_Attack_RescueSequenceIsBoundedByTheEpochCount() public {
        Policy memory policy = _flagged(defaultPolicy(wethMarket, address(usdcVault)));
        policy.maxRebalancesPerEpoch = 3;
        setPolicy(policy);
        for (uint256 i; i < 3; ++i) {
            _dropWethHealthTo(1.3e18);
            handleOk(keeperOp(safe, keeper, repayPlan(_repayToReach(1.45e18)), keeperKey));
        }
        assertEq(module.getEpochUsage(safe, wethId).rebalances, 3);
        _dropWethHealthTo(1.3e18);
        _expectRefusedWith(
            repayPlan(_repayToReach(1.45e18)),
            abi.encodeWithSelector(ILeverageModule.EpochRebalanceCapExceeded.selector, wethId, 4, 3)
        );
    }

    /// The same sequence through a pool with a 0.4% exit fee (under maxLossBps 0.5%): each in-band rescue loses a
    /// little; maxEpochLossBps (20 bps of equity) stops the sequence with exactly EpochLossBudgetExceeded(id, used + this
    /// operation's charge, 2,000,000 ppb), nothing moved; what was accepted stayed within the budget.
    function test_Attack_RescueSequenceIsBoundedByTheEpochLossBudget() public {
        RiggedVault feePool = _feePool(40);
        Policy memory policy = _flagged(defaultPolicy(wethMarket, address(feePool)));
        policy.maxEpochLossBps = 20;
        setPolicy(policy);
        uint256 budgetPpb = 20 * 1e5;
        uint256 accepted;
        for (uint256 i; i < 10; ++i) {
            _dropWethHealthTo(1.3e18);
            Plan memory plan = plan1(
                wethId,
                action(ActionKind.WithdrawFromPool, 0, address(feePool), _repayToReach(1.45e18)),
                action(ActionKind.Repay, 0, address(0), _repayToReach(1.45e18))
            );
            // This operation's charge, measured with the epoch budget lifted in a throwaway state.
            uint256 snapshot = vm.snapshotState();
            policy.maxEpochLossBps = 10_000;
            setPolicy(policy);
            handleOk(keeperOp(safe, keeper, plan, keeperKey));
            uint256 total = module.getEpochUsage(safe, wethId).lossPpb;
            vm.revertToState(snapshot);
            policy.maxEpochLossBps = 20;
            if (total <= budgetPpb) {
                handleOk(keeperOp(safe, keeper, plan, keeperKey));
                assertEq(module.getEpochUsage(safe, wethId).lossPpb, total);
                ++accepted;
                continue;
            }
            uint256 feeShares = feePool.balanceOf(safe);
            _expectRefusedWith(
                plan, abi.encodeWithSelector(ILeverageModule.EpochLossBudgetExceeded.selector, wethId, total, budgetPpb)
            );
            assertEq(feePool.balanceOf(safe), feeShares, "no pool share left the Safe");
            break;
        }
        assertGe(accepted, 1, "in-band rescues run while the budget lasts");
        assertLt(accepted, 10, "the loss budget ends the sequence");
        assertLe(module.getEpochUsage(safe, wethId).lossPpb, budgetPpb, "within the budget");
    }

    /* (d) A NOT-DUE SUB-ACCOUNT PADDED NEXT TO AN IN-BAND RESCUE */

    /// WETH (sub-account 0) and WBTC (1) each repaid from the USDC pool: `wethAmount` and `wbtcAmount` (USDC base units).
    function _poolRepays(uint256 wethAmount, uint256 wbtcAmount) internal view returns (Action[] memory actions) {
        actions = new Action[](4);
        actions[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), wethAmount);
        actions[1] = action(ActionKind.Repay, 0, address(0), wethAmount);
        actions[2] = action(ActionKind.WithdrawFromPool, 1, address(usdcVault), wbtcAmount);
        actions[3] = action(ActionKind.Repay, 1, address(0), wbtcAmount);
    }

    /// WBTC without the flag at 1.3 (in band, not due): lifted past its target (to 1.45, nearer the target than it was)
    /// next to WETH's in-band rescue. Refused HealthCrossedTarget(wbtcId, before, landed, 1.4).
    function test_Attack_NotDueLiftedPastItsTargetNextToAnInBandRescueIsRefused() public {
        _setWbtcHealth(1.3e18);
        uint256 wbtcBefore = healthOf(safe, wbtcMarket);
        uint256 wbtcAmount = _wbtcRepayToReach(1.45e18);
        Action[] memory actions = _poolRepays(_repayToReach(1.45e18), wbtcAmount);
        _expectRefusedWith(
            plan2(wethId, wbtcId, actions),
            abi.encodeWithSelector(
                ILeverageModule.HealthCrossedTarget.selector, wbtcId, wbtcBefore, _healthAfterRepay(wbtcMarket, wbtcAmount), 1.4e18
            )
        );
        // Toward its target without crossing it (to 1.35) is accepted next to the rescue, as before the flag.
        actions[2].amount = actions[3].amount = _wbtcRepayToReach(1.35e18);
        handleOk(keeperOp(safe, keeper, plan2(wethId, wbtcId, actions), keeperKey));
        assertLt(healthOf(safe, wbtcMarket), 1.4e18, "not past its target");
        EpochUsage memory wbtcUsage = module.getEpochUsage(safe, wbtcId);
        assertEq(wbtcUsage.rebalances, 0, "the not-due move counts no rebalance");
        assertEq(wbtcUsage.lastRebalance, 0, "nor starts a cooldown");
    }

    /// WBTC without the flag at 1.3, boostAllowed (so it may borrow as a donor), grown (idle WBTC supplied, USDC
    /// borrowed at its ratio, a hair healthier) to fund WETH's in-band rescue: refused NotDueGrowth(wbtcId).
    function test_Attack_NotDueGrowthFundingAnInBandRescueIsRefused() public {
        openPosition(safe, wbtcMarket, 4e8, 120_000e6); // 5 WBTC, 150k debt: its distance to the target covers the move
        Policy memory wbtcPolicy = defaultPolicy(wbtcMarket, address(usdcVault));
        wbtcPolicy.boostAllowed = true;
        wbtcId = setPolicy(wbtcPolicy);
        _setWbtcHealth(1.3e18);
        wbtc.mint(safe, 1e8); // the owner's idle WBTC
        MarketState memory s = adapter.marketState(Id.unwrap(wbtcMarket.id()), safe);
        uint256 borrowed = _repayToReach(1.45e18);
        Action[] memory actions = new Action[](3);
        actions[0] = action(ActionKind.SupplyCollateral, 1, address(0), Math.mulDiv(s.collateral, borrowed, s.debt) + 100);
        actions[1] = action(ActionKind.Borrow, 1, address(0), borrowed);
        actions[2] = action(ActionKind.Repay, 0, address(0), borrowed);
        _expectRefusedWith(plan2(wethId, wbtcId, actions), abi.encodeWithSelector(ILeverageModule.NotDueGrowth.selector, wbtcId));
    }

    /// WBTC with the flag too, at 1.45 (in band, at or above its target: not due): a repayment next to WETH's in-band
    /// rescue moves it away from its target. Refused HealthFurtherFromTarget(wbtcId, before, landed).
    function test_Attack_FlaggedButNotDuePushedAwayFromItsTargetIsRefused() public {
        wbtcId = setPolicy(_flagged(defaultPolicy(wbtcMarket, address(usdcVault))));
        _setWbtcHealth(1.45e18);
        uint256 wbtcBefore = healthOf(safe, wbtcMarket);
        uint256 wbtcAmount = _wbtcRepayToReach(1.5e18);
        Action[] memory actions = _poolRepays(_repayToReach(1.45e18), wbtcAmount);
        _expectRefusedWith(
            plan2(wethId, wbtcId, actions),
            abi.encodeWithSelector(
                ILeverageModule.HealthFurtherFromTarget.selector, wbtcId, wbtcBefore, _healthAfterRepay(wbtcMarket, wbtcAmount)
            )
        );
    }
}

/// @notice (c) of the above: an in-band swap deleverage (the flag makes the sub-account due, so it may swap) whose
/// router loses more than maxLossBps of what the positions moved, the keeper sandwiched with a front-run inside
/// maxSlippageBps. Refused ValueLossExceeded(loss, moved, maxLossBps); the same rescue through the fair pool is accepted.
contract RescueBelowTargetSwapAttacksTest is SwapBase {
    uint16 internal constant MAX_LOSS_BPS = 10;

    function setUp() public override {
        super.setUp();
        Policy memory policy = swapPolicy(wethMarket, false);
        policy.rescueBelowTarget = true;
        policy.maxLossBps = MAX_LOSS_BPS;
        wethId = setPolicy(policy);
        moveWethHealthTo(1.3e18); // in band, under the target: due only by the flag
    }

    function test_Attack_InBandSwapDeleverageLosingMoreThanMaxLossBpsIsRefused() public {
        // The honest swap rescue (fair pool, 0.05% fee) is accepted: in the zone, under the loss bound.
        uint256 snapshot = vm.snapshotState();
        (Plan memory honest,,) = swapDeleverage(1.45e18);
        handleOk(keeperOp(safe, keeper, honest, keeperKey));
        assertGe(module.health(safe, wethId), 1.4e18, "the honest swap rescue lands in the zone");
        vm.revertToState(snapshot);

        // The keeper's sandwich: the pool pushed 0.3% against the sale (inside maxSlippageBps 0.5%), the repayment
        // sized to what the sale now returns.
        frontRun(address(weth), address(usdc), FEE_LOW, 30);
        uint256 sold = wethToSell(1.45e18);
        uint256 repaid = quoteExactIn(address(weth), address(usdc), FEE_LOW, sold);
        assertGe(repaid, minOutSelling(sold), "inside the slippage bound");
        Plan memory plan = deleveragePlan(wethId, repaid, sold, route(FEE_LOW));
        Holdings memory before = holdings(safe);
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok, "refused");
        assertEq(bytes4(reason), ILeverageModule.ValueLossExceeded.selector, "ValueLossExceeded");
        (uint256 loss, uint256 moved, uint256 bps) = abi.decode(_slice(reason, 4, reason.length - 4), (uint256, uint256, uint256));
        assertEq(bps, MAX_LOSS_BPS, "the policy's maxLossBps");
        assertGt(loss * 10_000, moved * MAX_LOSS_BPS, "the loss is over the allowance");
        // The loss is the sale's shortfall at the oracle price: sold x price - repaid (within rounding).
        assertApproxEqAbs(loss, Math.mulDiv(sold, wethOracle.price(), 1e36) - repaid, 2, "the sandwich's take");
        assertNothingLeftBut(before, maxCost(op));
        assertEq(weth.allowance(safe, address(swapRouter)), 0, "standing WETH approval to the router");
    }
}
