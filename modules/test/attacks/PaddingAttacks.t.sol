// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Id, MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {AttackBase} from "./AttackBase.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";

/// @notice Issue 10 item 3, third review: a compromised keeper pads each genuine rescue of one sub-account with a move
/// of just over MIN_MATERIAL_CHANGE_BPS on another, in-band one (toward its target, so allowed). Only a due sub-account
/// starts its cooldown and spends a rebalance, so the padding cannot stall the padded sub-account's own later rescue.
contract PaddingAttacksTest is AttackBase {
    using MarketParamsLib for MarketParams;

    /// @dev WBTC's oracle price at which its health is 1.30 (in band, below target 1.4).
    uint256 internal wbtcAt130;

    function _wbtcInBand(Policy memory policy) internal {
        wbtcId = setPolicy(policy);
        wbtcAt130 = Math.mulDiv(1.3e18, 30_000e6 * 1e20, 1e8 * 0.86e18);
        wbtcOracle.setPrice(wbtcAt130);
        assertApproxEqRel(healthOf(safe, wbtcMarket), 1.3e18, 0.001e18);
    }

    /// @dev A genuine WETH rescue from the pool, padded with a repayment of just over 10 bps of WBTC's collateral value.
    function _paddedRescue() internal view returns (Plan memory) {
        MarketState memory s = adapter.marketState(Id.unwrap(wbtcMarket.id()), safe);
        uint256 tiny = Math.mulDiv(s.collateral, s.price, 1e36) * 10 / 10_000 + 1;
        uint256 r = _repayToReach(1.4e18);
        Action[] memory a = new Action[](3);
        a[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), r);
        a[1] = action(ActionKind.Repay, 0, address(0), r);
        a[2] = action(ActionKind.Repay, 1, address(0), tiny);
        return plan2(wethId, wbtcId, a);
    }

    /// @dev WBTC crashes below its band; its honest rescue from the pool to the target goes through.
    function _wbtcCrashesAndIsRescued() internal {
        vm.warp(block.timestamp + 10 minutes);
        wbtcOracle.setPrice(wbtcAt130 * 11 / 13);
        wethOracle.setPrice(wethOracle.price()); // fresh feed round
        assertLt(healthOf(safe, wbtcMarket), 1.2e18, "WBTC due");
        MarketState memory s = adapter.marketState(Id.unwrap(wbtcMarket.id()), safe);
        uint256 need = s.debt - Math.mulDiv(Math.mulDiv(s.collateral, s.price, 1e36), 0.86e18, 1.4e18);
        Plan memory rescue = plan1(
            wbtcId,
            action(ActionKind.WithdrawFromPool, 0, address(usdcVault), need),
            action(ActionKind.Repay, 0, address(0), need)
        );
        handleOk(keeperOp(safe, keeper, rescue, keeperKey));
        assertGe(healthOf(safe, wbtcMarket), 1.3e18, "WBTC rescued");
    }

    function test_Attack_PaddingDoesNotStartAnotherSubAccountsCooldown() public {
        Policy memory policy = defaultPolicy(wbtcMarket, address(usdcVault));
        policy.cooldown = 1 hours;
        _wbtcInBand(policy);
        EpochUsage memory before = module.getEpochUsage(safe, wbtcId);
        handleOk(keeperOp(safe, keeper, _paddedRescue(), keeperKey));
        EpochUsage memory after_ = module.getEpochUsage(safe, wbtcId);
        assertEq(after_.lastRebalance, before.lastRebalance, "no cooldown started for a sub-account that was not due");
        assertEq(after_.rebalances, before.rebalances, "no rebalance counted");
        assertGt(after_.amountMoved, before.amountMoved, "its amount still counts");
        assertEq(module.getEpochUsage(safe, wethId).lastRebalance, block.timestamp, "the rescued one starts its cooldown");
        _wbtcCrashesAndIsRescued();
    }

    function test_Attack_PaddingDoesNotSpendAnotherSubAccountsRebalanceCap() public {
        Policy memory policy = defaultPolicy(wbtcMarket, address(usdcVault));
        policy.maxRebalancesPerEpoch = 1;
        _wbtcInBand(policy);
        depositToVault(safe, usdcVault, 20_000e6);
        for (uint256 k; k < 2; ++k) {
            if (k == 1) _dropWethHealthTo(1.15e18);
            handleOk(keeperOp(safe, keeper, _paddedRescue(), keeperKey));
        }
        assertEq(module.getEpochUsage(safe, wbtcId).rebalances, 0, "padding spent no rebalance of WBTC");
        _wbtcCrashesAndIsRescued();
        assertEq(module.getEpochUsage(safe, wbtcId).rebalances, 1, "its own rescue counts");
    }
}
