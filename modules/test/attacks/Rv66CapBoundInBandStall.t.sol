// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AttackBase} from "./AttackBase.sol";
import {ILeverageModule, Policy, Plan, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";
import {ConstantsLib} from "../../src/libraries/ConstantsLib.sol";

/// @notice Review rv66 of 4a070c74 (cap-bound in-band rescue, SECURITY.md row 155), every operation through
/// EntryPoint.handleOps with the keeper's session key. WETH 10 / 18,000 USDC, band [1.2, 1.4, 1.7] with
/// `rescueBelowTarget`, maxAmountPerRebalance 180 (1 % of the debt), maxRebalancesPerEpoch 10 (the default), cooldown
/// 600. A fall leaves it at 1.205, in band below the target. One repayment of the cap gains ~0.012 < the in-band zone's
/// half band 0.1: before 4a070c74 every such step was refused `HealthOutsideLandingZone(id, h, before + 0.1, 1.55)`.
/// With 4a070c74 each landed (MIN_BAND_GAP up, starting no cooldown), so a keeper took ten in one block, all still under
/// the target, and a crash later in the epoch found its rescue refused `EpochRebalanceCapExceeded(id, 11, 10)` (the
/// review's finding). Fixed: such steps take at most half of each epoch counter (`_checkStopExitShare`, as a stop's exit
/// and the cap-bound boost, row 154), so the rescues keep the other half.
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

    /// Cap-bound in-band steps in one block: five are accepted (half of maxRebalancesPerEpoch 10), the sixth is refused
    /// EpochRebalanceCapExceeded(id, 6, 5), nothing but gas leaving the Safe; the crash rescue three hours later (from
    /// below the band, the whole count) is accepted. (With 4a070c74 alone: ten steps, the crash rescue refused
    /// EpochRebalanceCapExceeded(id, 11, 10).)
    function test_Rv66_InBandCapBoundStepsTakeHalfTheCount_CrashRescueKept() public {
        for (uint256 i; i < 5; ++i) {
            uint256 before = healthOf(safe, wethMarket);
            handleOk(keeperOp(safe, keeper, repayPlan(CAP), keeperKey));
            uint256 landed = healthOf(safe, wethMarket);
            assertGe(landed, before + ConstantsLib.MIN_BAND_GAP, "MIN_BAND_GAP up");
            assertLt(landed, before + 0.1e18, "under the in-band zone: refused before 4a070c74");
        }
        EpochUsage memory u = module.getEpochUsage(safe, wethId);
        assertEq(u.rebalances, 5, "half the epoch count");
        assertEq(u.amountMoved, 5 * CAP);
        assertEq(u.lastRebalance, 0, "no cooldown: all in one block");
        _expectRefusedWith(
            repayPlan(CAP), abi.encodeWithSelector(ILeverageModule.EpochRebalanceCapExceeded.selector, wethId, 6, 5)
        );
        assertLt(healthOf(safe, wethMarket), 1.4e18, "still under the target");

        // Three hours later, same epoch: a crash to 1.1; its rescue keeps the whole count.
        vm.warp(block.timestamp + 3 hours);
        _dropWethHealthTo(1.1e18);
        handleOk(keeperOp(safe, keeper, _crashRescue(), keeperKey));
        assertEq(module.getEpochUsage(safe, wethId).rebalances, 6);
        assertGt(healthOf(safe, wethMarket), 1.1e18 + ConstantsLib.MIN_BAND_GAP);
    }

    /// The same through the epoch amount: maxAmountPerEpoch 10 x cap (count 20): five in-band steps take half of it,
    /// the sixth is refused EpochAmountCapExceeded(id, 6 x 180, 5 x 180); the crash rescue is accepted.
    function test_Rv66_InBandCapBoundStepsTakeHalfTheEpochAmount_CrashRescueKept() public {
        Policy memory p = defaultPolicy(wethMarket, address(usdcVault));
        (p.rescueBelowTarget, p.cooldown, p.maxAmountPerRebalance, p.maxAmountPerEpoch, p.maxRebalancesPerEpoch) =
            (true, 600, uint128(CAP), uint128(10 * CAP), 20);
        setPolicy(p);
        for (uint256 i; i < 5; ++i) {
            handleOk(keeperOp(safe, keeper, repayPlan(CAP), keeperKey));
        }
        _expectRefusedWith(
            repayPlan(CAP), abi.encodeWithSelector(ILeverageModule.EpochAmountCapExceeded.selector, wethId, 6 * CAP, 5 * CAP)
        );
        assertLt(healthOf(safe, wethMarket), 1.4e18, "still under the target");
        vm.warp(block.timestamp + 3 hours);
        _dropWethHealthTo(1.1e18);
        handleOk(keeperOp(safe, keeper, _crashRescue(), keeperKey));
        assertEq(module.getEpochUsage(safe, wethId).amountMoved, 6 * CAP);
    }

    /// An in-band rescue that lands in its zone keeps the whole count: after the five cap-bound steps (half spent), a
    /// larger cap lets one rescue reach the zone [before + 0.1, 1.55], accepted as the sixth of ten.
    function test_Rv66_InBandRescueIntoTheZone_KeepsTheWholeCount() public {
        for (uint256 i; i < 5; ++i) {
            handleOk(keeperOp(safe, keeper, repayPlan(CAP), keeperKey));
        }
        Policy memory p = module.getPolicy(safe, wethId);
        p.maxAmountPerRebalance = type(uint128).max;
        setPolicy(p);
        handleOk(keeperOp(safe, keeper, repayPlan(_repayToReach(1.45e18)), keeperKey));
        assertEq(module.getEpochUsage(safe, wethId).rebalances, 6);
        assertGe(healthOf(safe, wethMarket), 1.4e18);
    }

    /// How far one fall goes: from 1.205, cap-bound in-band steps (count 40, half 20, so only the zone stops them) land
    /// until the target; the keeper takes 14 operations (the 14th lands at 1.4012) for one fall where the rule before
    /// took none (and rows 152 / 153 bound the ordinary in-band rescues to two per fall).
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
