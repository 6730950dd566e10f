// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {TwoWethMarketsBase} from "./TwoWethMarketsBase.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {ConstantsLib} from "../../src/libraries/ConstantsLib.sol";
import {HealthLib} from "../../src/libraries/HealthLib.sol";
import {MarketParams, Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";

/// @notice A COMPROMISED keeper against the cap-bound boost (issue 13, stop 65, SECURITY.md row 154), through
/// EntryPoint.handleOps with its session key. A (WETH, health 2.1978 at 4,600, cap 500, boostAllowed) is due above its
/// band; B (a second WETH market, health 1.30, in band below its target, no boosts) is the padding's counterpart.
contract CapBoundBoostAttacksTest is TwoWethMarketsBase {
    using MarketParamsLib for MarketParams;

    uint256 internal constant CAP = 500e6;
    uint256 internal constant PRICE = 4600e18;
    uint256 internal constant PADDED_MOVE = 498e6; // >= CAP - CAP / 100 = 495
    uint256 internal constant STEP = 0.0102e18; // MIN_BAND_GAP plus rounding margin

    function setUp() public override {
        super.setUp();
        _openWethMarket2(PRICE);
        openPosition(safe, wethMarket, 10e18, 18_000e6); // A: 1.433 at 3,000; 2.1978 at 4,600
        openPosition(safe, wethMarket2, 10e18, 30_430e6); // B: 46,000 x 0.86 / 30,430 = 1.30
        depositToVault(safe, usdcVault, 10_000e6);
        weth.mint(safe, 1e18); // the Safe's idle WETH reserve
        idA = setPolicyFor(safe, _policyA(0, 10));
        idB = setPolicyFor(safe, defaultPolicy(wethMarket2, address(usdcVault)));
        wethOracle.setPrice(PRICE);
    }

    function _policyA(uint32 cooldown, uint16 maxRebalances) internal view returns (Policy memory a) {
        a = defaultPolicy(wethMarket, address(usdcVault));
        (a.maxAmountPerRebalance, a.boostAllowed, a.cooldown, a.maxRebalancesPerEpoch) =
            (uint128(CAP), true, cooldown, maxRebalances);
    }

    function _boostPlan(uint256 amount) internal view returns (Plan memory) {
        return plan1(
            idA,
            action(ActionKind.Borrow, 0, address(0), amount),
            action(ActionKind.DepositToPool, 0, address(usdcVault), amount)
        );
    }

    /// @dev The padded boost: A supplies idle WETH worth s and borrows b = PADDED_MOVE - s, repaid on B, so A's net move
    /// is PADDED_MOVE while its health falls only STEP: (V + s) lltv = h1 (D + M - s).
    function _paddedPlan() internal view returns (Plan memory plan, uint256 gross) {
        return _paddedPlan(STEP);
    }

    function _paddedPlan(uint256 step) internal view returns (Plan memory plan, uint256 gross) {
        MarketState memory st = _state(wethMarket);
        uint256 value = HealthLib.collateralValue(st.collateral, st.price);
        uint256 h1 = st.health - step;
        uint256 s = (h1 * (st.debt + PADDED_MOVE) - value * st.lltv) / (st.lltv + h1);
        uint256 w = s * ConstantsLib.PRICE_SCALE / st.price;
        uint256 b = PADDED_MOVE - HealthLib.collateralValue(w, st.price);
        gross = b + HealthLib.collateralValue(w, st.price);
        plan.subAccounts = new bytes32[](2);
        plan.subAccounts[0] = idA;
        plan.subAccounts[1] = idB;
        plan.actions = new Action[](3);
        plan.actions[0] = action(ActionKind.SupplyCollateral, 0, address(0), w);
        plan.actions[1] = action(ActionKind.Borrow, 0, address(0), b);
        plan.actions[2] = action(ActionKind.Repay, 1, address(0), b);
    }

    /// @dev (i) The padded boost's net move (498) is cap-bound by itself, but it is counted only the honest move for the
    /// health it reached (~213 < 495), so it is an ordinary boost landing above the band: HealthOutOfBand, through
    /// handleOps, and nothing in the Safe changed. (Mutation: `_capBound` on the raw move accepts it at before - 0.0102.)
    function test_PaddedBoostToLookCapBound_IsRefusedHealthOutOfBand() public {
        int256 valueBefore = _value();
        uint256 before = healthOf(safe, wethMarket);
        uint256 beforeB = healthOf(safe, wethMarket2);
        uint256 idleWeth = weth.balanceOf(safe);
        (Plan memory plan, uint256 gross) = _paddedPlan();
        assertGe(gross, CAP - CAP / 100, "the net move alone would be cap-bound");
        assertLe(gross, CAP);
        assertLt(
            HealthLib.maxMoveToHealth(_state(wethMarket), before - STEP, false, 0), CAP - CAP / 100, "honest move < 99 % cap"
        );
        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, plan, keeperKey));
        assertFalse(ok, "padded boost refused");
        assertEq(bytes4(reason), ILeverageModule.HealthOutOfBand.selector, "HealthOutOfBand");
        (bytes32 id, uint256 health, uint256 low, uint256 high) = abi.decode(_args(reason), (bytes32, uint256, uint256, uint256));
        assertEq(id, idA);
        assertLe(health, before - ConstantsLib.MIN_BAND_GAP, "the padded landing is a real MIN_BAND_GAP lower");
        assertGt(health, before - 0.012e18, "... and only ~0.01");
        assertEq(low, 1.2e18);
        assertEq(high, 1.7e18);
        assertEq(healthOf(safe, wethMarket), before);
        assertEq(healthOf(safe, wethMarket2), beforeB);
        assertEq(weth.balanceOf(safe), idleWeth);
        assertEq(_value(), valueBefore, "nothing left the Safe");
        assertEq(module.getEpochUsage(safe, idA).rebalances, 0, "no rebalance counted");
        assertEq(module.getEpochUsage(safe, idA).lastRebalance, 0, "no cooldown started");
    }

    /// @dev (ii) Repeated cap-bound boosts (cooldown 1 h, maxRebalancesPerEpoch 6): the second within the hour is refused
    /// CooldownActive, three per epoch are accepted (half the count, `_checkStopExitShare`), the fourth is refused
    /// EpochRebalanceCapExceeded(idA, 4, 3), the halved cap; each lowers health by at least MIN_BAND_GAP and loses at most
    /// maxLossBps (50) of its move. The other half stays for rescues: after them, a -45 % gap's rescue from below the
    /// band is accepted (count 4 of 6).
    function test_RepeatedCapBoundBoosts_BoundedByCooldownAndEpochCount() public {
        vm.warp((block.timestamp / 1 days + 1) * 1 days); // the start of an epoch
        _refresh();
        setPolicyFor(safe, _policyA(1 hours, 6));
        for (uint256 i; i < 3; ++i) {
            uint256 before = healthOf(safe, wethMarket);
            int256 valueBefore = _value();
            handleOk(keeperOp(safe, keeper, _boostPlan(CAP), keeperKey));
            uint256 afterHealth = healthOf(safe, wethMarket);
            assertGt(afterHealth, 1.7e18, "above the band");
            assertLe(afterHealth, before - ConstantsLib.MIN_BAND_GAP);
            assertLe(valueBefore - _value(), int256(CAP * 50 / 10_000), "loss <= maxLossBps of the move");
            (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, _boostPlan(CAP), keeperKey));
            assertFalse(ok, "second boost in the cooldown");
            assertEq(reason, abi.encodeWithSelector(ILeverageModule.CooldownActive.selector, idA, block.timestamp + 1 hours));
            vm.warp(block.timestamp + 1 hours);
            _refresh();
        }
        EpochUsage memory u = module.getEpochUsage(safe, idA);
        assertEq(u.rebalances, 3);
        assertGe(u.amountMoved, 3 * (CAP - CAP / 100), "each charged >= 99 % of the cap");
        (bool ok4, bytes memory reason4) = handle(keeperOp(safe, keeper, _boostPlan(CAP), keeperKey));
        assertFalse(ok4, "fourth in the epoch");
        assertEq(reason4, abi.encodeWithSelector(ILeverageModule.EpochRebalanceCapExceeded.selector, idA, 4, 3));
        // The rescues' half: a -45 % gap (25,300 x 0.86 / debt < minHealth) and the pool's rescue is accepted.
        wethOracle.setPrice(2530e18);
        oracle2.setPrice(2530e18);
        uint256 low = healthOf(safe, wethMarket);
        assertLt(low, 1.2e18, "below the band");
        handleOk(keeperOp(safe, keeper, plan1(idA, action(ActionKind.WithdrawFromPool, 0, address(usdcVault), CAP), action(ActionKind.Repay, 0, address(0), CAP)), keeperKey));
        assertGt(healthOf(safe, wethMarket), low + ConstantsLib.MIN_BAND_GAP, "rescued");
        assertEq(module.getEpochUsage(safe, idA).rebalances, 4);
    }

    /// @dev Residual (new exposure): a cap-bound boost from far above the band starts the cooldown although the
    /// sub-account stays due above its band, so a gap right after it (-45 %: the class-R path) finds the honest rescue
    /// refused CooldownActive until the cooldown ends. On main the boost was refused, no cooldown ran, and this rescue
    /// was accepted at once. (A cap-bound step from BELOW the band starts no cooldown, rr13v V1; this one does.)
    function test_Residual_CapBoundBoostCooldownDelaysTheRescueOfAGap() public {
        setPolicyFor(safe, _policyA(1 hours, 10));
        handleOk(keeperOp(safe, keeper, _boostPlan(CAP), keeperKey));
        assertGt(healthOf(safe, wethMarket), 1.7e18);
        wethOracle.setPrice(2530e18); // -45 %: 25,300 x 0.86 / 18,500 = 1.176 < minHealth
        oracle2.setPrice(2530e18);
        assertLt(healthOf(safe, wethMarket), 1.2e18);
        Plan memory rescue = plan1(
            idA,
            action(ActionKind.WithdrawFromPool, 0, address(usdcVault), CAP),
            action(ActionKind.Repay, 0, address(0), CAP)
        );
        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, rescue, keeperKey));
        assertFalse(ok, "rescue held by the boost's cooldown");
        assertEq(reason, abi.encodeWithSelector(ILeverageModule.CooldownActive.selector, idA, block.timestamp + 1 hours));
    }

    /// @dev Residual (looser than the rescue side): a boost's honest move is the plain COLLATERAL WITHDRAWAL to the
    /// health reached (`HealthLib.maxMoveToHealth`, (h - h1) D / lltv), which no executable plain boost sends (a
    /// withdrawal must be spent, IdleInflow; the solver boosts with Borrow + DepositToPool). From 2.2 a borrow x reaches a
    /// health whose honest move is h1 x / lltv ~ 2.5 x, so a padded step whose health falls only 0.024 (the plain boost
    /// to it borrows ~199, 40 % of the cap, and is refused) is cap-bound and accepted above the band, where a plain boost at the cap falls
    /// 0.059: each such step spends a rebalance (and starts the cooldown) for ~40 % of the progress. On the rescue side
    /// the same ratio is only h1 / lltv ~ 1.4.
    function test_Residual_PaddedBoostAtTheHonestBound_IsAccepted() public {
        uint256 before = healthOf(safe, wethMarket);
        uint256 step = 0.024e18;
        uint256 honest = HealthLib.maxMoveToHealth(_state(wethMarket), before - step, false, 0);
        assertGe(honest, CAP - CAP / 100, "the honest move for a 0.024 fall is >= 99 % of the cap");
        // The plain boost to the same landing borrows V lltv / h1 - D ~ 199 (40 % of the cap): not cap-bound, refused.
        uint256 plainBorrow = 46_000e6 * 0.86e18 / (before - step) - 18_000e6;
        assertLt(plainBorrow, 210e6, "the plain boost to this landing is ~40 % of the cap");
        (Plan memory plan, uint256 gross) = _paddedPlan(step);
        assertGe(gross, CAP - CAP / 100);
        handleOk(keeperOp(safe, keeper, plan, keeperKey));
        uint256 afterHealth = healthOf(safe, wethMarket);
        assertGt(afterHealth, 1.7e18, "accepted above the band");
        assertApproxEqAbs(afterHealth, before - step, 0.0005e18, "fell only 0.024");
        assertLt(before - (46_000e6 * 0.86e18) / (18_000e6 + CAP), before - step - 0.03e18, "a plain cap boost falls 0.059");
        assertEq(module.getEpochUsage(safe, idA).rebalances, 1, "a rebalance spent");
    }

    function _refresh() internal {
        wethOracle.setPrice(PRICE);
        oracle2.setPrice(PRICE);
    }
}
