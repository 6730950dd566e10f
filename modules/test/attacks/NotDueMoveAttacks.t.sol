// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {Id, MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {AttackBase} from "./AttackBase.sol";
import {
    ILeverageModule,
    Policy,
    Plan,
    Action,
    ActionKind,
    EpochUsage,
    SelfPayBudget
} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";
import {YieldVault} from "../utils/YieldVault.sol";

/// @notice Issue 10, items 3 and 4 (review): a sub-account that is not due may change its position only by up to its
/// distance to its target (`NotDueMoveExceedsDistance`). A health-neutral shrink or growth of an in-band sub-account
/// neither pads the per-operation loss allowance (maxLossBps x moved) nor spends its amount caps beyond that distance.
/// Also the review's self-pay rollover variants (item 1) as regressions.
contract NotDueMoveAttacksTest is AttackBase {
    using MarketParamsLib for MarketParams;

    YieldVault internal wbtcVault;
    uint256 internal wbtcSetPrice;

    /* HELPERS */

    /// @dev Grows the WBTC position to 5 WBTC / 150,000 USDC debt, puts it in band at 1.30 (below target 1.4), non-boost,
    /// with a WBTC pool allowed (for its own collateral) and the fair USDC pool.
    function _bigWbtcInBand(uint128 perRebalance, uint128 perEpoch) internal {
        openPosition(safe, wbtcMarket, 4e8, 120_000e6);
        wbtcVault = new YieldVault(wbtc, "Yield WBTC", "yWBTC");
        _seedVault(wbtcVault, wbtc, 1e8);
        Policy memory p = defaultPolicy(wbtcMarket, address(wbtcVault));
        p.pools = new address[](2);
        p.pools[0] = address(wbtcVault);
        p.pools[1] = address(usdcVault);
        p.maxAmountPerRebalance = perRebalance;
        p.maxAmountPerEpoch = perEpoch;
        wbtcId = setPolicy(p);
        (uint256 c, uint256 d) = adapter.position(Id.unwrap(wbtcMarket.id()), safe);
        wbtcSetPrice = Math.mulDiv(1.3e18, d * 1e20, c * 0.86e18);
        wbtcOracle.setPrice(wbtcSetPrice);
        assertApproxEqRel(healthOf(safe, wbtcMarket), 1.3e18, 0.001e18);
    }

    /// @dev A health-neutral shrink of the not-due WBTC position whose net change (|dC| x p + |dD|) is about `moved`:
    /// RepayWithCallback(dD) { WithdrawCollateral(dC), DepositToPool(wbtcVault, dC) } (refused since rr10b; the tests
    /// supply dC to a WBTC twin instead, `_paddedIntoTwin`). Health stays (a hair above)
    /// where it was, so it is "not further from the target"; nothing is lost (fair venue, fair pool).
    function _neutralShrink(uint256 moved) internal view returns (Action[] memory a, uint256 expectedMoved) {
        MarketState memory s = adapter.marketState(Id.unwrap(wbtcMarket.id()), safe);
        uint256 cv = Math.mulDiv(s.collateral, s.price, 1e36);
        uint256 dD = Math.mulDiv(moved, s.debt, s.debt + cv);
        uint256 dC = Math.mulDiv(s.collateral, dD, s.debt) - 100; // a little less collateral out: health up a hair
        a = new Action[](4);
        a[0] = action(ActionKind.RepayWithCallback, 1, address(0), dD);
        a[1] = action(ActionKind.WithdrawCollateral, 1, address(0), dC);
        a[2] = action(ActionKind.DepositToPool, 1, address(wbtcVault), dC);
        a[3] = action(ActionKind.EndCallback, 1, address(0), 0);
        expectedMoved = Math.mulDiv(dC, s.price, 1e36) + dD;
    }

    bytes32 internal wbtcTwinId;

    /// @dev Since rr10b a not-due withdrawal funds no pool deposit: asserts `rescue` padded with the parked `shrink`
    /// (`_neutralShrink`) is refused with exactly DepositNotFunded(wbtc, dC, 0), then opens a not-due WBTC twin (3M of
    /// collateral at 1.3, ~230k from its target) that takes the shrink's WBTC as collateral in the padding from now on.
    function _expectParkedShrinkRefusedThenTwin(Action[] memory rescue, Action[] memory shrink) internal {
        _expectRefusedWith(
            plan2(wethId, wbtcId, _concat(rescue, shrink)),
            abi.encodeWithSelector(ILeverageModule.DepositNotFunded.selector, address(wbtc), shrink[2].amount, 0)
        );
        wbtcTwinId = _openTwinWorth(wbtcMarket, 3_000_000e6, 1.3e18);
    }

    /// @dev `rescue` (WETH) padded with `shrink` (`_neutralShrink`), its WBTC supplied to the twin (sub-account 2).
    function _paddedIntoTwin(Action[] memory rescue, Action[] memory shrink) internal view returns (Plan memory plan) {
        plan.subAccounts = new bytes32[](3);
        (plan.subAccounts[0], plan.subAccounts[1], plan.subAccounts[2]) = (wethId, wbtcId, wbtcTwinId);
        plan.actions = _concat(rescue, _shrinkIntoTwinOf(shrink, 2));
    }

    /// @dev The WBTC sub-account's distance to its target (1.4) at the current price, as the module bounds a not-due move:
    /// ceil(|1.4 x debt - collateral value x 0.86| / 0.86).
    function _wbtcBound() internal view returns (uint256) {
        MarketState memory s = adapter.marketState(Id.unwrap(wbtcMarket.id()), safe);
        uint256 cv = Math.mulDiv(s.collateral, s.price, 1e36);
        uint256 a = 1.4e18 * s.debt;
        uint256 b = cv * 0.86e18;
        return Math.mulDiv(a > b ? a - b : b - a, 1, 0.86e18, Math.Rounding.Ceil);
    }

    function _concat(Action[] memory x, Action[] memory y) internal pure returns (Action[] memory z) {
        z = new Action[](x.length + y.length);
        for (uint256 i; i < x.length; ++i) z[i] = x[i];
        for (uint256 i; i < y.length; ++i) z[x.length + i] = y[i];
    }

    /// @dev Asserts `reason` is NotDueMoveExceedsDistance(wbtcId, moved ~ expectedMoved, bound == expectedBound).
    function _assertNotDueMove(bytes memory reason, uint256 expectedMoved, uint256 expectedBound) internal view {
        assertEq(bytes4(reason), ILeverageModule.NotDueMoveExceedsDistance.selector, "NotDueMoveExceedsDistance");
        (bytes32 id, uint256 moved, uint256 bound) = abi.decode(_slice(reason, 4, reason.length - 4), (bytes32, uint256, uint256));
        assertEq(id, wbtcId, "names the not-due sub-account");
        assertEq(bound, expectedBound, "bound = distance to target at pre-trade price");
        assertApproxEqAbs(moved, expectedMoved, 2, "moved = net position change");
        assertGt(moved, bound, "moved beyond the bound");
    }

    /* ITEM 4: LOSS ALLOWANCE PADDED WITH A MATERIAL, HEALTH-NEUTRAL MOVE ON AN UNRELATED IN-BAND SUB-ACCOUNT */

    function test_Item4_SkimPaddedWithHealthNeutralShrinkOfNotDueSubAccountRefused() public {
        _bigWbtcInBand(type(uint128).max, type(uint128).max);
        RiggedVault skim = _feePool(1200); // 12% exit fee (or a hostile pool), allowed on WETH
        _allowPools(skim);

        // Alone: refused (the issue's failing input).
        Action[] memory rescue = new Action[](2);
        rescue[0] = action(ActionKind.WithdrawFromPool, 0, address(skim), 3300e6);
        rescue[1] = action(ActionKind.Repay, 0, address(0), 3300e6);
        Plan memory alone;
        alone.subAccounts = new bytes32[](1);
        alone.subAccounts[0] = wethId;
        alone.actions = rescue;
        Holdings memory before = holdings(safe);
        PackedUserOperation memory op = keeperOp(safe, keeper, alone, keeperKey);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok, "alone: refused");
        assertEq(bytes4(reason), ILeverageModule.ValueLossExceeded.selector, "alone: ValueLossExceeded");
        assertNothingLeftBut(before, maxCost(op));

        // Padded with a health-neutral shrink of WBTC (not due, non-boost) of ~200k net change: refused, the shrink is
        // more than ten times WBTC's distance to its target.
        uint256 bound = _wbtcBound();
        (Action[] memory shrink, uint256 expectedMoved) = _neutralShrink(200_000e6);
        _expectParkedShrinkRefusedThenTwin(rescue, shrink);
        before = holdings(safe);
        op = keeperOp(safe, keeper, _paddedIntoTwin(rescue, shrink), keeperKey);
        (ok, reason) = handle(op);
        assertFalse(ok, "padded: refused");
        _assertNotDueMove(reason, expectedMoved, bound);
        assertNothingLeftBut(before, maxCost(op));

        // The most padding the bound allows (a health-neutral shrink just inside the distance) no longer buys the skim:
        // 50 bps of (3,300 + ~17,400) is ~100 USDC, not the ~396 the pool takes.
        (shrink,) = _neutralShrink(bound - 10e6);
        before = holdings(safe);
        op = keeperOp(safe, keeper, _paddedIntoTwin(rescue, shrink), keeperKey);
        (ok, reason) = handle(op);
        assertFalse(ok, "padded within the bound: refused");
        assertEq(bytes4(reason), ILeverageModule.ValueLossExceeded.selector, "padded within the bound: ValueLossExceeded");
        assertNothingLeftBut(before, maxCost(op));
    }

    /// @dev Growth is refused the same way: a health-neutral growth of a boost-enabled, not-due sub-account (supply
    /// collateral, borrow what another sub-account's rescue repays) beyond its distance to its target.
    function test_Item4_HealthNeutralGrowthOfNotDueSubAccountRefused() public {
        _bigWbtcInBand(type(uint128).max, type(uint128).max);
        Policy memory p = defaultPolicy(wbtcMarket, address(usdcVault));
        p.boostAllowed = true;
        wbtcId = setPolicy(p);
        // WBTC at 1.39, just under its target: its distance is ~1,750 USDC.
        (uint256 c, uint256 d) = adapter.position(Id.unwrap(wbtcMarket.id()), safe);
        wbtcOracle.setPrice(Math.mulDiv(1.39e18, d * 1e20, c * 0.86e18));
        wbtc.mint(safe, 1e8);
        MarketState memory s = adapter.marketState(Id.unwrap(wbtcMarket.id()), safe);
        uint256 bound = _wbtcBound();
        // Borrow on WBTC what the WETH rescue repays, and supply a hair more WBTC than keeps its health.
        uint256 dB = _repayToReach(1.35e18);
        uint256 dC = Math.mulDiv(s.collateral, dB, s.debt) + 100;
        Action[] memory a = new Action[](3);
        a[0] = action(ActionKind.SupplyCollateral, 1, address(0), dC);
        a[1] = action(ActionKind.Borrow, 1, address(0), dB);
        a[2] = action(ActionKind.Repay, 0, address(0), dB);
        Holdings memory before = holdings(safe);
        PackedUserOperation memory op = keeperOp(safe, keeper, plan2(wethId, wbtcId, a), keeperKey);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok, "growth: refused");
        _assertNotDueMove(reason, Math.mulDiv(dC, s.price, 1e36) + dB, bound);
        assertNothingLeftBut(before, maxCost(op));
    }

    /// @dev The bound never refuses an honest move toward the target: the repayment that takes a not-due sub-account
    /// (almost) to its target, next to another's rescue, is accepted, and is charged exactly what it moved.
    function test_Item4_HonestNotDueRepayToTargetFits() public {
        _bigWbtcInBand(type(uint128).max, type(uint128).max);
        MarketState memory s = adapter.marketState(Id.unwrap(wbtcMarket.id()), safe);
        uint256 cv = Math.mulDiv(s.collateral, s.price, 1e36);
        uint256 toTarget = s.debt - Math.mulDiv(cv, 0.86e18, 1.4e18) - 1e6; // a hair short of the target
        assertLe(toTarget, _wbtcBound(), "the repayment to target is within the bound");
        usdc.mint(safe, toTarget);
        Action[] memory a = new Action[](2);
        a[0] = action(ActionKind.Repay, 0, address(0), _repayToReach(1.35e18));
        a[1] = action(ActionKind.Repay, 1, address(0), toTarget);
        handleOk(keeperOp(safe, keeper, plan2(wethId, wbtcId, a), keeperKey));
        assertApproxEqAbs(module.getEpochUsage(safe, wbtcId).amountMoved, toTarget, 1, "charged what it moved");
        assertApproxEqRel(healthOf(safe, wbtcMarket), 1.4e18, 0.0001e18, "WBTC at its target");
    }

    /* ITEM 3 / ROW 49: A NOT-DUE SUB-ACCOUNT'S AMOUNT CAP SPENT BY HEALTH-NEUTRAL MOVES, HONEST RESCUE STALLED */

    function test_Item3_HealthNeutralPaddingCannotSpendNotDueAmountCap() public {
        _bigWbtcInBand(70_000e6, 100_000e6); // the Attack30 caps
        // A genuine WETH rescue (from idle USDC) padded with a 69,900 USDC health-neutral shrink of WBTC: refused.
        Action[] memory r1 = new Action[](1);
        r1[0] = action(ActionKind.Repay, 0, address(0), _repayToReach(1.35e18));
        uint256 bound = _wbtcBound();
        (Action[] memory shrink, uint256 expectedMoved) = _neutralShrink(69_900e6);
        _expectParkedShrinkRefusedThenTwin(r1, shrink);
        Holdings memory before = holdings(safe);
        PackedUserOperation memory op = keeperOp(safe, keeper, _paddedIntoTwin(r1, shrink), keeperKey);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok, "padded rescue refused");
        _assertNotDueMove(reason, expectedMoved, bound);
        assertNothingLeftBut(before, maxCost(op));
        assertEq(module.getEpochUsage(safe, wbtcId).amountMoved, 0, "nothing charged to WBTC");

        // The most the keeper can charge WBTC next to a rescue is its distance to target (~17,400 of its 100,000 cap).
        (shrink,) = _neutralShrink(bound - 10e6);
        handleOk(keeperOp(safe, keeper, _paddedIntoTwin(r1, shrink), keeperKey));
        EpochUsage memory u = module.getEpochUsage(safe, wbtcId);
        assertLe(u.amountMoved, bound, "charge within the distance");

        // Owner swaps the key; WBTC crashes below its band; the honest rescue goes through in the same epoch.
        (address honest, uint256 honestKey) = makeAddrAndKey("honest keeper");
        safeCall(abi.encodeCall(ILeverageModule.revokeAllKeepers, ()));
        safeCall(abi.encodeCall(ILeverageModule.addKeeper, (honest, 0, uint48(block.timestamp + 1 days))));
        vm.warp(block.timestamp + 10 minutes);
        wbtcOracle.setPrice(wbtcSetPrice * 11 / 13);
        assertLt(healthOf(safe, wbtcMarket), 1.2e18, "WBTC due");
        MarketState memory s = adapter.marketState(Id.unwrap(wbtcMarket.id()), safe);
        uint256 need = s.debt - Math.mulDiv(Math.mulDiv(s.collateral, s.price, 1e36), 0.86e18, 1.35e18);
        usdc.mint(safe, need);
        Plan memory rescue;
        rescue.subAccounts = new bytes32[](1);
        rescue.subAccounts[0] = wbtcId;
        rescue.actions = new Action[](1);
        rescue.actions[0] = action(ActionKind.Repay, 0, address(0), need);
        handleOk(keeperOp(safe, honest, rescue, honestKey));
        assertGe(healthOf(safe, wbtcMarket), 1.34e18, "WBTC rescued");
    }

    /* ITEM 1 VARIANTS: SELF-PAY ROLLOVER AT OTHER EPOCH LENGTHS AND WINDOWS (regressions) */

    function _fillBudget(uint32 len) internal returns (uint256 cost) {
        wethOracle.setPrice(3000e18); // nothing due
        PackedUserOperation memory op = keeperOp(safe, keeper, repayPlan(100e6), keeperKey);
        cost = maxCost(op);
        safeCall(abi.encodeCall(ILeverageModule.setSelfPayBudget, (uint96(cost), len)));
        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, repayPlan(100e6), keeperKey));
        assertFalse(ok);
        assertEq(bytes4(reason), ILeverageModule.NoTrigger.selector, "NoTrigger");
        SelfPayBudget memory b = module.getSelfPayBudget(safe);
        expectHandleRevert(
            keeperOp(safe, keeper, repayPlan(100e6), keeperKey),
            failedOpWithRevert(abi.encodeWithSelector(ILeverageModule.SelfPayBudgetExceeded.selector, b.spentWei, cost, cost))
        );
    }

    function test_Item1_RollsOverAtOneHourEpochs() public {
        uint256 cost = _fillBudget(1 hours);
        vm.warp(block.timestamp + 5 hours + 17);
        wethOracle.setPrice(2400e18);
        // A narrow window (60 s) inside the new epoch.
        PackedUserOperation memory op = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        uint256 start = block.timestamp / 1 hours * 1 hours;
        uint48 va = uint48(block.timestamp > start + 30 ? block.timestamp - 30 : start);
        op.signature = sign(op, keeperKey, va, va + 60);
        handleOk(op);
        assertEq(module.getSelfPayBudget(safe).spentWei, cost);
    }

    function test_Item1_RollsOverAtSevenDayEpochsWithOpenSignatureNarrowedByKey() public {
        // Key valid only inside this 7-day epoch; open signature (0, 0) is narrowed to the key's window.
        uint256 epochStart = block.timestamp / 7 days * 7 days;
        safeCall(abi.encodeCall(ILeverageModule.addKeeper, (keeper, uint48(epochStart), uint48(epochStart + 7 days - 1))));
        wethOracle.setPrice(3000e18);
        PackedUserOperation memory op = keeperOp(safe, keeper, repayPlan(100e6), keeperKey);
        op.signature = sign(op, keeperKey, 0, 0);
        uint256 cost = maxCost(op);
        safeCall(abi.encodeCall(ILeverageModule.setSelfPayBudget, (uint96(cost), 7 days)));
        (bool ok,) = handle(op);
        assertFalse(ok);
        op = keeperOp(safe, keeper, repayPlan(100e6), keeperKey);
        op.signature = sign(op, keeperKey, 0, 0);
        expectHandleRevert(
            op, failedOpWithRevert(abi.encodeWithSelector(ILeverageModule.SelfPayBudgetExceeded.selector, cost, cost, cost))
        );
        // Next epoch: a fresh key window in it, then a due rebalance with an open signature.
        vm.warp(epochStart + 7 days + 3 days);
        uint256 next = block.timestamp / 7 days * 7 days;
        safeCall(abi.encodeCall(ILeverageModule.addKeeper, (keeper, uint48(next), uint48(next + 7 days - 1))));
        wethOracle.setPrice(2400e18);
        op = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        op.signature = sign(op, keeperKey, 0, 0);
        handleOk(op);
        assertEq(module.getSelfPayBudget(safe).epoch, block.timestamp / 7 days);
    }

    /// @dev A failing op charged in epoch N cannot push budget.epoch past "now": a window that contains now only.
    function test_Item1_WindowEndingExactlyAtEpochBoundary() public {
        uint256 cost = _fillBudget(1 days);
        uint256 end = (block.timestamp / 1 days + 1) * 1 days; // first second of the next epoch
        vm.warp(end);
        wethOracle.setPrice(2400e18);
        PackedUserOperation memory op = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        op.signature = sign(op, keeperKey, uint48(end), uint48(end)); // one-second window
        handleOk(op);
        assertEq(module.getSelfPayBudget(safe).spentWei, cost);
    }
}
