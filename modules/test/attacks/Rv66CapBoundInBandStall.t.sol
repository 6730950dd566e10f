// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AttackBase} from "./AttackBase.sol";
import {ILeverageModule, Policy, Plan, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";
import {ConstantsLib} from "../../src/libraries/ConstantsLib.sol";

/// @notice Review rv66 of 4a070c74 (cap-bound in-band rescue, SECURITY.md row 155), every operation through
/// EntryPoint.handleOps with the keeper's session key. WETH 10 / 18,000 USDC, band [1.2, 1.4, 1.7] with
/// `rescueBelowTarget`, maxAmountPerRebalance 180 (1 % of the debt), maxRebalancesPerEpoch 10 (the default), cooldown
/// 600. A fall leaves it at 1.205, in band below the target. One repayment of the cap gains ~0.012 < the in-band zone's
/// half band 0.1: before 4a070c74 every such step was refused `HealthOutsideLandingZone(id, h, before + 0.1, 1.55)`
/// and the epoch's count stayed whole. Now each lands (MIN_BAND_GAP up, starting no cooldown), so a keeper takes ten in
/// one block, all still under the target, and a crash later in the epoch finds its rescue refused
/// `EpochRebalanceCapExceeded`. Unlike the cap-bound boost (row 154, `_checkStopExitShare`: at most half of each epoch
/// counter), the in-band cap-bound step may spend the whole count and amount the rescues from below the band need.
contract Rv66CapBoundInBandStallTest is AttackBase {
    uint256 internal constant CAP = 180e6;

    function setUp() public override {
        super.setUp();
        Policy memory p = defaultPolicy(wethMarket, address(usdcVault));
        (p.rescueBelowTarget, p.cooldown, p.maxAmountPerRebalance) = (true, 600, uint128(CAP));
        wethId = setPolicy(p);
        vm.warp((block.timestamp / 1 days + 1) * 1 days); // the start of an epoch
        _dropWethHealthTo(1.205e18);
    }

    /// @dev The crash rescue: a cap-bound step from below the band (1.1: one repayment of the cap gains ~0.012 < the
    /// below-band zone's 1.2), allowed since rows 127 / 130.
    function _crashRescue() internal view returns (Plan memory) {
        return repayPlan(CAP);
    }

    /// Ten cap-bound in-band steps in one block spend maxRebalancesPerEpoch; the crash rescue three hours later is
    /// refused EpochRebalanceCapExceeded(id, 11, 10), nothing but gas leaving the Safe. Without the ten steps (what
    /// the module allowed before 4a070c74: each was refused at the in-band zone) the same crash rescue lands.
    function test_Rv66_InBandCapBoundStepsSpendTheCount_CrashRescueRefused() public {
        uint256 snap = vm.snapshotState();
        for (uint256 i; i < 10; ++i) {
            uint256 before = healthOf(safe, wethMarket);
            handleOk(keeperOp(safe, keeper, repayPlan(CAP), keeperKey));
            uint256 landed = healthOf(safe, wethMarket);
            assertGe(landed, before + ConstantsLib.MIN_BAND_GAP, "MIN_BAND_GAP up");
            assertLt(landed, before + 0.1e18, "under the in-band zone: refused before 4a070c74");
        }
        uint256 h10 = healthOf(safe, wethMarket);
        assertLt(h10, 1.4e18, "still under the target");
        assertApproxEqAbs(h10, 1.3389e18, 0.0001e18, "1.205 x 18,000 / 16,200");
        EpochUsage memory u = module.getEpochUsage(safe, wethId);
        assertEq(u.rebalances, 10, "the whole epoch count spent");
        assertEq(u.amountMoved, 10 * CAP);
        assertEq(u.lastRebalance, 0, "no cooldown: all in one block");

        // Three hours later, same epoch: a crash to 1.1.
        vm.warp(block.timestamp + 3 hours);
        _dropWethHealthTo(1.1e18);
        _expectRefusedWith(
            _crashRescue(), abi.encodeWithSelector(ILeverageModule.EpochRebalanceCapExceeded.selector, wethId, 11, 10)
        );
        assertLt(healthOf(safe, wethMarket), 1.2e18, "left below the band for the rest of the epoch");

        // Before 4a070c74 (no in-band step could land): the same crash rescue is accepted.
        vm.revertToState(snap);
        vm.warp(block.timestamp + 3 hours);
        _dropWethHealthTo(1.1e18);
        handleOk(keeperOp(safe, keeper, _crashRescue(), keeperKey));
        assertEq(module.getEpochUsage(safe, wethId).rebalances, 1);
    }

    /// The same stall through the epoch amount: maxAmountPerEpoch 10 x cap (count 20). Ten in-band steps spend it;
    /// the crash rescue is refused EpochAmountCapExceeded(id, 11 x 180, 10 x 180).
    function test_Rv66_InBandCapBoundStepsSpendTheEpochAmount_CrashRescueRefused() public {
        Policy memory p = defaultPolicy(wethMarket, address(usdcVault));
        (p.rescueBelowTarget, p.cooldown, p.maxAmountPerRebalance, p.maxAmountPerEpoch, p.maxRebalancesPerEpoch) =
            (true, 600, uint128(CAP), uint128(10 * CAP), 20);
        setPolicy(p);
        for (uint256 i; i < 10; ++i) {
            handleOk(keeperOp(safe, keeper, repayPlan(CAP), keeperKey));
        }
        assertLt(healthOf(safe, wethMarket), 1.4e18, "still under the target");
        vm.warp(block.timestamp + 3 hours);
        _dropWethHealthTo(1.1e18);
        _expectRefusedWith(
            _crashRescue(),
            abi.encodeWithSelector(ILeverageModule.EpochAmountCapExceeded.selector, wethId, 11 * CAP, 10 * CAP)
        );
    }

    /// How far one fall goes: from 1.205, cap-bound in-band steps (count 40, so only the zone stops them) land until
    /// the target; the keeper takes 14 operations (the 14th lands at 1.4012) for one fall where the rule before took none (and rows 152 / 153
    /// bound the ordinary in-band rescues to two per fall).
    function test_Rv66_OneFallTakesFourteenInBandCapBoundSteps() public {
        Policy memory p = defaultPolicy(wethMarket, address(usdcVault));
        (p.rescueBelowTarget, p.cooldown, p.maxAmountPerRebalance, p.maxRebalancesPerEpoch) =
            (true, 600, uint128(CAP), 40);
        setPolicy(p);
        uint256 n;
        while (healthOf(safe, wethMarket) < 1.4e18) {
            handleOk(keeperOp(safe, keeper, repayPlan(CAP), keeperKey));
            ++n;
        }
        emit log_named_uint("steps", n);
        emit log_named_uint("health", healthOf(safe, wethMarket));
        assertEq(n, 14, "operations for one fall");
        assertEq(healthOf(safe, wethMarket), 1401162790666666666);
        assertEq(module.getEpochUsage(safe, wethId).rebalances, 14);
        _expectRefusedWith(repayPlan(CAP), abi.encodeWithSelector(ILeverageModule.NoTrigger.selector));
    }
}
