// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Vm} from "forge-std/Vm.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Id, MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {AttackBase} from "./AttackBase.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {RebalanceLib} from "../../src/libraries/RebalanceLib.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";

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

    /// @dev WBTC crashes below its band; its honest rescue from the fair pool to the target goes through.
    function _wbtcCrashesAndIsRescued() internal {
        _wbtcCrashesAndIsRescuedFrom(address(usdcVault));
    }

    /// @dev WBTC crashes below its band; its honest rescue from `pool` to the target goes through.
    function _wbtcCrashesAndIsRescuedFrom(address pool) internal {
        vm.warp(block.timestamp + 10 minutes);
        wbtcOracle.setPrice(wbtcAt130 * 11 / 13);
        wethOracle.setPrice(wethOracle.price()); // fresh feed round
        assertLt(healthOf(safe, wbtcMarket), 1.2e18, "WBTC due");
        MarketState memory s = adapter.marketState(Id.unwrap(wbtcMarket.id()), safe);
        uint256 need = s.debt - Math.mulDiv(Math.mulDiv(s.collateral, s.price, 1e36), 0.86e18, 1.4e18);
        Plan memory rescue = plan1(
            wbtcId,
            action(ActionKind.WithdrawFromPool, 0, pool, need),
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

    /* GAS AND LOSS SHARES (review 5 of issue 10) */

    /// @dev The operation's execution gas, from its Rebalanced event.
    function _paddedRescueGas() internal returns (uint256 gasUsed) {
        Vm.Log[] memory logs = handleLogged(keeperOp(safe, keeper, _paddedRescue(), keeperKey));
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] != ILeverageModule.Rebalanced.selector) continue;
            (,,, gasUsed) = abi.decode(logs[i].data, (bytes32[], uint256[], uint256[], uint256));
        }
        assertGt(gasUsed, 0, "Rebalanced seen");
    }

    /// @dev Each changed sub-account is charged its share of the gas pro rata to its net position change, rounded up:
    /// the shares sum to at least the whole, the padded one's is tiny.
    function test_Attack_PaddingChargesAnotherSubAccountOnlyItsShareOfTheGas() public {
        _wbtcInBand(defaultPolicy(wbtcMarket, address(usdcVault)));
        EpochUsage memory a0 = module.getEpochUsage(safe, wethId);
        EpochUsage memory b0 = module.getEpochUsage(safe, wbtcId);
        uint256 gasUsed = _paddedRescueGas();
        EpochUsage memory a1 = module.getEpochUsage(safe, wethId);
        EpochUsage memory b1 = module.getEpochUsage(safe, wbtcId);
        uint256 movedA = a1.amountMoved - a0.amountMoved;
        uint256 movedB = b1.amountMoved - b0.amountMoved;
        uint256 gasA = a1.gasUsed - a0.gasUsed;
        uint256 gasB = b1.gasUsed - b0.gasUsed;
        assertEq(gasA, Math.mulDiv(gasUsed, movedA, movedA + movedB, Math.Rounding.Ceil), "A: its share");
        assertEq(gasB, Math.mulDiv(gasUsed, movedB, movedA + movedB, Math.Rounding.Ceil), "B: its share");
        assertGe(gasA + gasB, gasUsed, "the shares cover the whole operation");
        assertLt(gasB * 20, gasUsed, "the padded sub-account pays a small part");
    }

    /// @dev The stall: WBTC's maxGasPerEpoch is 1.5 operations. Charged the whole operation, the second padded rescue of
    /// WETH would already exceed it (EpochGasCapExceeded) and WBTC's own rescue after it certainly; charged its share,
    /// both pads and its rescue land.
    function test_Attack_PaddingCannotFillAnotherSubAccountsGasBudget() public {
        Policy memory policy = defaultPolicy(wbtcMarket, address(usdcVault));
        _wbtcInBand(policy);
        depositToVault(safe, usdcVault, 20_000e6);
        uint256 snapshot = vm.snapshotState();
        uint256 gasUsed = _paddedRescueGas();
        vm.revertToState(snapshot);
        policy.maxGasPerEpoch = uint64(gasUsed * 3 / 2);
        _wbtcInBand(policy);
        for (uint256 k; k < 2; ++k) {
            if (k == 1) _dropWethHealthTo(1.15e18);
            handleOk(keeperOp(safe, keeper, _paddedRescue(), keeperKey));
        }
        assertLt(module.getEpochUsage(safe, wbtcId).gasUsed * 10, gasUsed, "two pads cost WBTC little gas budget");
        _wbtcCrashesAndIsRescued();
    }

    /// @dev The loss-budget variant of the stall: WETH's rescues come from a pool with a 0.45% exit fee (each under
    /// maxLossBps), each padded with a move just over 10 bps on in-band WBTC; WBTC's epoch loss budget is set between
    /// what its shares cost and what the whole losses would. Charged the whole operation, the padding would exhaust WBTC's
    /// budget and refuse its own (lossy) rescue with EpochLossBudgetExceeded; charged its share pro rata to its net move,
    /// both pads and its rescue land.
    function test_Attack_PaddingCannotFillAnotherSubAccountsLossBudget() public {
        RiggedVault feePool = _feePool(45);
        _allowPools(feePool);
        Policy memory policy = defaultPolicy(wbtcMarket, address(usdcVault));
        policy.pools = new address[](2);
        policy.pools[0] = address(usdcVault);
        policy.pools[1] = address(feePool);
        policy.maxEpochLossBps = 10_000;
        _wbtcInBand(policy);

        // A throwaway run with the budget lifted measures what WBTC is charged (two pads and its own rescue) and what
        // one whole pad operation's loss is in parts per billion of WBTC's equity.
        uint256 snapshot = vm.snapshotState();
        (uint256 wholePpb, uint256 charged) = _lossyPadsThenRescue(feePool);
        vm.revertToState(snapshot);
        uint256 budgetBps = (charged + wholePpb) / 1e5 + 1;
        assertLe(charged, budgetBps * 1e5, "the shares fit the budget");
        assertGt(charged + wholePpb, budgetBps * 1e5 - 1e5, "the budget is tight");
        assertGt(wholePpb, 2e5, "one whole pad is worth more than 2 bps of WBTC's equity");

        policy.maxEpochLossBps = uint16(budgetBps);
        _wbtcInBand(policy);
        (, uint256 chargedNow) = _lossyPadsThenRescue(feePool);
        assertEq(chargedNow, charged, "same run, same charge");
        // What whole-operation charging would have put on WBTC: both pads' whole losses and its rescue.
        uint256 rescuePpb = charged - 2 * _padSharePpb;
        assertGt(2 * wholePpb + rescuePpb, budgetBps * 1e5, "charged whole, the padding would have refused its rescue");
    }

    /// @dev WBTC's share of one padded pad operation's loss, in ppb of its equity (set by `_lossyPadsThenRescue`).
    uint256 internal _padSharePpb;

    /// @dev Two lossy padded WETH rescues, then WBTC crashes and is rescued from `feePool`. Returns one pad operation's
    /// whole loss in ppb of WBTC's pre-trade equity and WBTC's epoch lossPpb at the end.
    function _lossyPadsThenRescue(RiggedVault feePool) internal returns (uint256 wholePpb, uint256 charged) {
        for (uint256 k; k < 2; ++k) {
            if (k == 1) _dropWethHealthTo(1.15e18);
            Plan memory padded = _paddedRescue();
            padded.actions[0].pool = address(feePool);
            uint256 equityA = _equity(wethMarket);
            uint256 equityB = _equity(wbtcMarket);
            EpochUsage memory a0 = module.getEpochUsage(safe, wethId);
            EpochUsage memory b0 = module.getEpochUsage(safe, wbtcId);
            handleOk(keeperOp(safe, keeper, padded, keeperKey));
            EpochUsage memory a1 = module.getEpochUsage(safe, wethId);
            EpochUsage memory b1 = module.getEpochUsage(safe, wbtcId);
            uint256 lossA = a1.lossPpb - a0.lossPpb;
            uint256 lossB = b1.lossPpb - b0.lossPpb;
            assertGt(lossA, 0, "the fee pool's exit fee is a loss");
            // The operation's whole loss (in loan units, from WETH's and WBTC's charges) in ppb of WBTC's equity.
            uint256 whole = Math.mulDiv(lossA, equityA, 1e9) + Math.mulDiv(lossB, equityB, 1e9);
            wholePpb = Math.mulDiv(whole, 1e9, equityB);
            // WBTC's charge is its share pro rata to its net move (to the rounding of the ppb conversion).
            uint256 movedA = a1.amountMoved - a0.amountMoved;
            uint256 movedB = b1.amountMoved - b0.amountMoved;
            assertLt(movedB * 20, movedA, "WBTC's move is a pad");
            assertApproxEqRel(Math.mulDiv(lossB, equityB, 1e9), Math.mulDiv(whole, movedB, movedA + movedB), 0.01e18, "its share");
            _padSharePpb = lossB;
        }
        _wbtcCrashesAndIsRescuedFrom(address(feePool));
        charged = module.getEpochUsage(safe, wbtcId).lossPpb;
    }

    function _equity(MarketParams memory params) internal view returns (uint256) {
        MarketState memory s = adapter.marketState(Id.unwrap(params.id()), safe);
        return Math.mulDiv(s.collateral, s.price, 1e36) - s.debt;
    }

    /// @dev The rounding: for any operation total and any split of the moves, the rounded-up shares sum to at least the
    /// whole and each is at most the whole.
    function testFuzz_SharesSumToAtLeastTheWhole(uint256 whole, uint96[4] memory parts) public pure {
        whole = bound(whole, 0, type(uint128).max);
        uint256 total;
        for (uint256 i; i < parts.length; ++i) {
            total += parts[i];
        }
        uint256 sum;
        for (uint256 i; i < parts.length; ++i) {
            uint256 share = RebalanceLib.shareOf(whole, parts[i], total);
            assertLe(share, whole, "a share is at most the whole");
            sum += share;
        }
        if (total == 0) assertEq(sum, whole * parts.length, "no move: each charged the whole");
        else assertGe(sum, whole, "the shares cover the whole");
    }
}
