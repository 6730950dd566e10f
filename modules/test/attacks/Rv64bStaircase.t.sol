// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {AttackBase} from "./AttackBase.sol";
import {ILeverageModule, Policy, Plan, ActionKind, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";
import {RebalanceLib} from "../../src/libraries/RebalanceLib.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";

/// @notice Break-it review rv64b of 6d54c87b (stop 64, SECURITY.md row 153: the in-band landing zone's low edge is
/// before + (target - min) / 2, no longer at least the target). A compromised keeper stair-steps one fall: every
/// operation through EntryPoint.handleOps, band [1.2, 1.4, 1.7] (half lower band 0.1), cooldown 600.
/// Run: node scripts/forge.mjs test --match-path modules/test/attacks/Rv64bStaircase.t.sol
contract Rv64bStaircaseTest is AttackBase {
    function setUp() public override {
        super.setUp();
        wethId = setPolicy(_policy(address(usdcVault)));
    }

    function _policy(address pool) internal view returns (Policy memory p) {
        p = defaultPolicy(wethMarket, pool);
        p.rescueBelowTarget = true;
        p.cooldown = 600;
    }

    function _poolRepay(address pool, uint256 amount) internal view returns (Plan memory) {
        return plan1(
            wethId, action(ActionKind.WithdrawFromPool, 0, pool, amount), action(ActionKind.Repay, 0, address(0), amount)
        );
    }

    /// One fall (1.1, below the band) is rescued by THREE operations in one block, none starting a cooldown: a rescue
    /// from below the band to ~1.2 (row 152: under the target, no cooldown), an in-band rescue to ~1.3 (row 153: under the
    /// target, accepted since stop 64; before it the low edge was the target) and another to ~1.4 (rows 152 / 153 and
    /// `_recordUsage` say one fall takes at most three; the loss bound is the same as with two).
    function test_Rv64b_OneFallThreeRescuesInOneBlockNoCooldown() public {
        _dropWethHealthTo(1.1e18);
        uint256 t0 = block.timestamp;
        handleOk(keeperOp(safe, keeper, repayPlan(_repayToReach(1.2001e18)), keeperKey));
        uint256 h1 = healthOf(safe, wethMarket);
        assertGe(h1, 1.2e18);
        handleOk(keeperOp(safe, keeper, repayPlan(_repayToReach(h1 + 0.1001e18)), keeperKey));
        uint256 h2 = healthOf(safe, wethMarket);
        assertLt(h2, 1.4e18, "the second rescue of the fall landed under the target (refused before stop 64)");
        handleOk(keeperOp(safe, keeper, repayPlan(_repayToReach(h2 + 0.1001e18)), keeperKey));
        uint256 h3 = healthOf(safe, wethMarket);
        assertGe(h3, 1.4e18);
        assertEq(block.timestamp, t0, "all in one block");
        EpochUsage memory u = module.getEpochUsage(safe, wethId);
        assertEq(u.rebalances, 3, "three deleverages for one fall");
        assertEq(u.lastRebalance, 0, "no cooldown started by any of them");
        emit log_named_uint("h1", h1);
        emit log_named_uint("h2", h2);
        emit log_named_uint("h3", h3);
        // Then nothing is due.
        _expectRefusedWith(repayPlan(1e6), abi.encodeWithSelector(ILeverageModule.NoTrigger.selector));
    }

    /// Cost of the staircase vs the old rule's worst, through a pool with a 0.4 % exit fee (under maxLossBps 0.5 %: the
    /// keeper's take per operation): A (possible before stop 64) 1.1 -> 1.2 -> 1.55; B (stop 64) 1.1 -> 1.2 -> 1.3 -> 1.55.
    /// The fee loss is path-independent (the debt repaid is fixed by the final health); B adds one operation's gas.
    function test_Rv64b_StaircaseCostVsTheOldWorst() public {
        RiggedVault feePool = _feePool(40);
        Policy memory p = _policy(address(feePool));
        p.maxEpochLossBps = 10_000;
        setPolicy(p);
        _dropWethHealthTo(1.1e18);
        int256 v0 = safeValue(feePool);
        uint256 snap = vm.snapshotState();

        handleOk(keeperOp(safe, keeper, _poolRepay(address(feePool), _repayToReach(1.2001e18)), keeperKey));
        handleOk(keeperOp(safe, keeper, _poolRepay(address(feePool), _repayToReach(1.5499e18)), keeperKey));
        EpochUsage memory a = module.getEpochUsage(safe, wethId);
        int256 lossA = v0 - safeValue(feePool);
        uint256 hA = healthOf(safe, wethMarket);
        vm.revertToState(snap);

        handleOk(keeperOp(safe, keeper, _poolRepay(address(feePool), _repayToReach(1.2001e18)), keeperKey));
        uint256 h1 = healthOf(safe, wethMarket);
        handleOk(keeperOp(safe, keeper, _poolRepay(address(feePool), _repayToReach(h1 + 0.1001e18)), keeperKey));
        handleOk(keeperOp(safe, keeper, _poolRepay(address(feePool), _repayToReach(1.5499e18)), keeperKey));
        EpochUsage memory b = module.getEpochUsage(safe, wethId);
        int256 lossB = v0 - safeValue(feePool);
        uint256 hB = healthOf(safe, wethMarket);

        emit log_named_uint("A rebalances", a.rebalances);
        emit log_named_uint("A lossPpb", a.lossPpb);
        emit log_named_uint("A gasUsed", a.gasUsed);
        emit log_named_uint("A amountMoved", a.amountMoved);
        emit log_named_int("A safe value lost (USDC base units, incl. gas in ETH not valued)", lossA);
        emit log_named_uint("B rebalances", b.rebalances);
        emit log_named_uint("B lossPpb", b.lossPpb);
        emit log_named_uint("B gasUsed", b.gasUsed);
        emit log_named_uint("B amountMoved", b.amountMoved);
        emit log_named_int("B safe value lost", lossB);
        assertEq(a.rebalances, 2);
        assertEq(b.rebalances, 3);
        assertApproxEqRel(hA, hB, 0.0001e18, "same final health");
        assertApproxEqRel(b.amountMoved, a.amountMoved, 0.0001e18, "the moves sum to the same: path-independent");
        assertApproxEqRel(uint256(lossB), uint256(lossA), 0.001e18, "the fee loss is the same");
        assertGt(b.gasUsed, a.gasUsed, "one more operation's gas");
        // Measured (rv64b): A 291,908 gas, B 420,471 (+44 %); the same 20.90 USDC fee loss, but B is charged 3,233,243
        // ppb of maxEpochLossBps against A's 3,478,341 (-7 %): each operation's loss is charged in ppb of its own
        // pre-trade equity, which the pool-funded repayments raise step by step, so the extra step dilutes the epoch
        // loss budget (Informational: a tick at the target allowed the same split before stop 64).
        assertLt(b.lossPpb, a.lossPpb, "the staircase is charged less of the epoch loss budget for the same loss");
    }

    /// The zone is continuous at minHealth to the wei and unchanged from target - (target - min) / 2 up (pure).
    function test_Rv64b_ZoneEdges() public pure {
        uint256 mn = 1.2e18;
        uint256 t = 1.4e18;
        uint256 mx = 1.7e18;
        (uint256 lBelow, uint256 hBelow) = RebalanceLib.landingZone(mn - 1, mn, t, mx);
        (uint256 lAt, uint256 hAt) = RebalanceLib.landingZone(mn, mn, t, mx);
        assertEq(lAt - lBelow, 1, "continuous at minHealth");
        assertEq(hAt, hBelow);
        (uint256 lTop,) = RebalanceLib.landingZone(t - 1, mn, t, mx);
        assertEq(lTop, t - 1 + 0.1e18, "target - 1 wei: unchanged (above the target anyway)");
        // Odd lower band: floor((t - min) / 2) on both sides.
        (uint256 lOdd,) = RebalanceLib.landingZone(mn, mn, t + 1, mx);
        assertEq(lOdd, mn + (t + 1 - mn) / 2);
        // A boost's low edge then an in-band rescue from there: exactly the target (no new boost-rescue round trip).
        (uint256 boostLow,) = RebalanceLib.landingZone(1.8e18, mn, t + 1, mx);
        (uint256 inBandLow,) = RebalanceLib.landingZone(boostLow, mn, t + 1, mx);
        assertGe(inBandLow, t, "from a boost's lowest landing the in-band low edge is still about the target");
    }
}
