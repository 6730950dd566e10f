// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {AttackBase} from "./AttackBase.sol";
import {ILeverageModule, Policy, Plan, ActionKind, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";

/// @notice Review rv64 of stop 64 (SECURITY.md row 152, RebalanceLib `_recordUsage`), every operation through
/// EntryPoint.handleOps, each refusal exact with nothing but gas leaving the Safe.
/// (1) Found on 8c148961: the "settled" rule keyed on `run.due`, which a boost also sets, so with `rescueBelowTarget`
///     a boost landing below the target (zone low edge target - (target - min) / 2) started no cooldown and the
///     in-band rescue undoing it was accepted in the same second (a boost/rescue round trip, each leg up to
///     maxLossBps, no longer spaced by `cooldown`). 701dc58f restricts the exemption to rescues from below the band;
///     `test_Rv64_BoostBelowTheTarget_ThenRescueAtOnce_IsRefusedCooldownActive` pins that through handleOps (it fails
///     on 8c148961: lastRebalance 0).
/// (2) The stop's pre-state: engaged (price <= stopPrice) a low landing starts the cooldown (a stop exit right after it
///     is CooldownActive); in the re-arm hysteresis (Run.stop == 1, not engaged) it starts none (the in-band rescue
///     follows at once), as the TypeScript mirror (`stopEngaged`, price <= stopPrice) reads it.
/// Run: node scripts/forge.mjs test --match-path modules/test/attacks/Rv64RescueBelowTarget.t.sol
contract Rv64RescueBelowTargetTest is AttackBase {
    using MarketParamsLib for MarketParams;

    function _policy(bool flag) internal view returns (Policy memory policy) {
        policy = defaultPolicy(wethMarket, address(usdcVault));
        policy.rescueBelowTarget = flag;
        policy.boostAllowed = true;
        policy.cooldown = 600;
    }

    /// @dev The borrow that takes the WETH sub-account to `target` health (a boost, target < health now).
    function _borrowToReach(uint256 target) internal view returns (uint256) {
        MarketState memory s = adapter.marketState(Id.unwrap(wethMarket.id()), safe);
        return Math.mulDiv(Math.mulDiv(s.collateral, s.price, 1e36), 0.86e18, target) - s.debt;
    }

    function _boostPlan(uint256 amount) internal view returns (Plan memory) {
        return plan1(wethId, action(ActionKind.Borrow, 0, address(0), amount), action(ActionKind.DepositToPool, 0, address(usdcVault), amount));
    }

    function _price() internal view returns (uint256) {
        return adapter.marketState(Id.unwrap(wethMarket.id()), safe).price;
    }

    /// (1) Flag on: boost 1.9 -> 1.32 (its zone [1.3, 1.7], below the target 1.4) starts the cooldown; the in-band
    /// rescue undoing it in the same second is refused CooldownActive(id, now + 600); 600 s later it lands.
    function test_Rv64_BoostBelowTheTarget_ThenRescueAtOnce_IsRefusedCooldownActive() public {
        wethId = setPolicy(_policy(true));
        _dropWethHealthTo(1.9e18);
        handleOk(keeperOp(safe, keeper, _boostPlan(_borrowToReach(1.32e18)), keeperKey));
        uint256 h = healthOf(safe, wethMarket);
        assertLt(h, 1.4e18, "boost landed below the target");
        assertGe(h, 1.3e18, "inside the boost zone");
        EpochUsage memory u = module.getEpochUsage(safe, wethId);
        assertEq(u.rebalances, 1, "the boost counted");
        assertEq(u.lastRebalance, block.timestamp, "the boost started the cooldown");
        _expectRefusedWith(
            repayPlan(_repayToReach(1.45e18)),
            abi.encodeWithSelector(ILeverageModule.CooldownActive.selector, wethId, block.timestamp + 600)
        );
        vm.warp(block.timestamp + 600);
        _dropWethHealthTo(h); // a fresh feed answer, the same health
        handleOk(keeperOp(safe, keeper, repayPlan(_repayToReach(1.45e18)), keeperKey));
        assertGe(healthOf(safe, wethMarket), 1.4e18);
    }

    /// (2a) Stop engaged (price <= stopPrice, exitHealth 2.0): a rescue from below the band 1.1 -> 1.25 starts the
    /// cooldown (`settled` is minHealth while engaged); the stop exit right after it (due below exitHealth, health at or
    /// above minHealth: not exempt) is refused CooldownActive.
    function test_Rv64_StopEngaged_LowLandingStartsTheCooldown() public {
        wethId = setPolicy(_policy(true));
        _dropWethHealthTo(1.1e18);
        uint192 stopPrice = uint192(_price()); // engaged: price <= stopPrice
        vm.prank(safe);
        ILeverageModule(safe).setStopLoss(wethId, stopPrice, 2e18);
        handleOk(keeperOp(safe, keeper, repayPlan(_repayToReach(1.25e18)), keeperKey));
        assertLt(healthOf(safe, wethMarket), 1.4e18);
        assertEq(module.getEpochUsage(safe, wethId).lastRebalance, block.timestamp, "engaged: the cooldown starts");
        _expectRefusedWith(
            repayPlan(_repayToReach(1.45e18)),
            abi.encodeWithSelector(ILeverageModule.CooldownActive.selector, wethId, block.timestamp + 600)
        );
    }

    /// (2b) The stop armed but in its re-arm hysteresis (price 0.5 % above stopPrice, under stopPrice x 1.01: Run.stop
    /// == 1, not engaged): the same low landing starts no cooldown and the in-band rescue follows at once.
    function test_Rv64_StopInHysteresis_LowLandingStartsNoCooldown() public {
        wethId = setPolicy(_policy(true));
        _dropWethHealthTo(1.1e18);
        uint192 stopPrice = uint192(_price() * 10_000 / 10_050); // re-arm band: up to stopPrice x 1.01
        vm.prank(safe);
        ILeverageModule(safe).setStopLoss(wethId, stopPrice, 2e18);
        handleOk(keeperOp(safe, keeper, repayPlan(_repayToReach(1.25e18)), keeperKey));
        assertEq(module.getEpochUsage(safe, wethId).lastRebalance, 0, "not engaged: no cooldown");
        handleOk(keeperOp(safe, keeper, repayPlan(_repayToReach(1.45e18)), keeperKey));
        assertEq(module.getEpochUsage(safe, wethId).rebalances, 2);
        _expectRefusedWith(repayPlan(1e6), abi.encodeWithSelector(ILeverageModule.NoTrigger.selector));
    }

    /// (3) A low landing (1.1 -> 1.25, no cooldown) in the epoch's last second, then the in-band rescue in the next
    /// epoch's first: the counters reset but nothing else opens; a third operation is NoTrigger.
    function test_Rv64_LowLandingAcrossTheEpochBoundary() public {
        wethId = setPolicy(_policy(true));
        vm.warp((block.timestamp / 1 days + 1) * 1 days - 1);
        _dropWethHealthTo(1.1e18);
        handleOk(keeperOp(safe, keeper, repayPlan(_repayToReach(1.25e18)), keeperKey));
        assertEq(module.getEpochUsage(safe, wethId).lastRebalance, 0);
        vm.warp(block.timestamp + 1);
        _dropWethHealthTo(healthOf(safe, wethMarket));
        handleOk(keeperOp(safe, keeper, repayPlan(_repayToReach(1.45e18)), keeperKey));
        EpochUsage memory u = module.getEpochUsage(safe, wethId);
        assertEq(u.rebalances, 1, "a new epoch's first");
        assertEq(u.lastRebalance, 0);
        _expectRefusedWith(repayPlan(1e6), abi.encodeWithSelector(ILeverageModule.NoTrigger.selector));
    }
}
