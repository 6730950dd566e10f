// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Id, MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {SwapBase} from "../utils/SwapBase.sol";
import {ILeverageModule, Policy, Plan, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {HealthLib} from "../../src/libraries/HealthLib.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";

/// @notice Issue 10, thirteenth review (the residual of SECURITY row 58): a policy that allows swaps gave every due
/// rescue the swap path's cap (maxMoveToHealth with swaps, about 1.8x the collateral-only cap at 1.19 -> 1.35) for its
/// loss allowance, and cap x (2 - loss) for its charge, whether or not the plan swapped anything. A rescue with no swap,
/// padded with a lossless health-neutral shrink (repay from a pool, park withdrawn WETH in the WETH pool), thus got
/// ~1.8x the allowance a no-swap policy gives the same plan, and was charged ~4.6x the honest repayment: one padded
/// rescue spent the 110k epoch cap. The swap part is now counted only for the value the plan actually swaps.
contract SwapPolicyPaddingTest is SwapBase {
    using MarketParamsLib for MarketParams;

    RiggedVault internal skim;

    function _args(bytes memory reason) internal pure returns (bytes memory args) {
        args = new bytes(reason.length - 4);
        for (uint256 i; i < args.length; ++i) args[i] = reason[i + 4];
    }

    /// @dev The WETH sub-account at 100 WETH / 180k debt under a swap policy (50 bps) with the USDC pool (or `pool`) and
    /// the WETH pool, amount caps 100k per rebalance and `perEpoch` per epoch, an hour into a fresh epoch.
    function _swapPolicyWithCaps(address pool, uint256 perEpoch) internal {
        _wethWithCaps(300_000e6, 100_000e6, perEpoch);
        Policy memory p = swapPolicy(wethMarket, false);
        p.pools = new address[](2);
        p.pools[0] = pool;
        p.pools[1] = address(wethVault);
        p.maxAmountPerRebalance = 100_000e6;
        if (perEpoch != 0) p.maxAmountPerEpoch = uint128(perEpoch);
        setPolicy(p);
        vm.warp(block.timestamp / 1 days * 1 days + 1 days + 1 hours);
    }

    /// @dev `_dueShrink` through `pool`: repay R inside a callback from `pool`, park w WETH in the WETH pool, net move
    /// R + w = `moved`, landing a hair above `h`.
    function _shrinkThrough(address pool, MarketState memory s, uint256 moved, uint256 h) internal view returns (Plan memory plan) {
        uint256 value = Math.mulDiv(s.collateral, s.price, 1e36);
        uint256 repaid = (h * s.debt - (value - moved) * 0.86e18) / (0.86e18 + h);
        uint256 withdrawn = Math.mulDiv(moved - repaid, 1e36, s.price) * 9999 / 10_000;
        plan = planOf(wethId, _parkedShrink(pool, repaid, withdrawn));
    }

    /// @dev `_shrinkThrough` with the withdrawn WETH supplied to the not-due WETH twin (sub-account 1) instead of parked:
    /// since rr10 F2 a due sub-account's withdrawal funds no pool deposit (the parked shape: exactly DepositNotFunded).
    function _shrinkIntoTwinThrough(address pool, MarketState memory s, uint256 moved, uint256 h)
        internal
        view
        returns (Plan memory plan)
    {
        Plan memory parked = _shrinkThrough(pool, s, moved, h);
        plan = plan2(wethId, wethTwinId, _shrinkIntoTwin(pool, parked.actions[0].amount, parked.actions[2].amount));
    }

    /// @dev Allowance: WETH at 1.19, a rescue to ~1.35 with no swap, padded to both sides at the swap path's cap, its
    /// repayment taken through a pool with a 42 bps exit fee (~250 USDC lost). A no-swap policy allows 50 bps of the
    /// collateral-only cap (~167 USDC); the swap policy allowed 50 bps of the swap cap (~298 USDC) and accepted it. Now
    /// refused (ValueLossExceeded), nothing left the Safe, and the honest repayment through the same pool still lands. Since
    /// rr10 F2 the parked shape stops at DepositNotFunded; the padding supplies the WETH to a not-due twin instead.
    function test_Attack_PaddedRescueWithoutASwapGetsTheNoSwapAllowance() public {
        openPosition(safe, wethMarket, 90e18, 162_000e6);
        skim = _feePool(usdc, 70_000e6, 42);
        Policy memory p = swapPolicy(wethMarket, false);
        p.pools = new address[](2);
        p.pools[0] = address(skim);
        p.pools[1] = address(wethVault);
        setPolicy(p);
        _dropWethHealthTo(1.19e18);
        MarketState memory s = wethState();
        uint256 capSwaps = HealthLib.maxMoveToHealth(s, 1.35e18, true, 50);
        uint256 capNoSwap = HealthLib.maxMoveToHealth(s, 1.35e18, false, 0);
        emit log_named_uint("cap with swaps (1.19 -> 1.35)", capSwaps);
        emit log_named_uint("cap without swaps", capNoSwap);
        Plan memory parked = _shrinkThrough(address(skim), s, 2 * capSwaps, 1.35e18);
        _expectRefusedWith(parked, _parkedShrinkRefusal(parked)); // rr10 F2
        _openWethTwin(1000e18, 1.3e18);
        uint256 snap = vm.snapshotState();
        Holdings memory before = holdings(safe);
        PackedUserOperation memory op = keeperOp(safe, keeper, _shrinkIntoTwinThrough(address(skim), s, 2 * capSwaps, 1.35e18), keeperKey);
        (bool ok, bytes memory reason) = handle(op);
        if (ok) emit log_named_uint("ACCEPTED; health after", healthOf(safe, wethMarket));
        assertFalse(ok, "a padded rescue without a swap gets no swap allowance");
        assertEq(bytes4(reason), ILeverageModule.ValueLossExceeded.selector, "ValueLossExceeded");
        (uint256 loss, uint256 moved,) = abi.decode(_args(reason), (uint256, uint256, uint256));
        emit log_named_uint("loss booked", loss);
        emit log_named_uint("moved counted", moved);
        // It lands a hair above 1.35 (its cap is judged at its health after).
        assertLe(moved, capNoSwap * 1001 / 1000, "counted at most the collateral-only cap");
        assertLt(moved * 50 / 10_000, loss, "the skim is above the no-swap allowance");
        assertNothingLeftBut(before, maxCost(op));
        vm.revertToState(snap);
        handleOk(keeperOp(safe, keeper, plan1(wethId, action(ActionKind.WithdrawFromPool, 0, address(skim), _repayToReach(1.35e18)),
            action(ActionKind.Repay, 0, address(0), _repayToReach(1.35e18))), keeperKey));
        assertGe(healthOf(safe, wethMarket), 1.34e18, "the honest repayment through the same pool lands");
    }

    /// @dev Charge: caps 100k per rebalance, 110k per epoch (the first honest rescue 1.19 -> 1.35 from the pool repays
    /// ~21.3k). One lossless padded rescue without a swap (net move 99k) was charged min(99k, swap cap x (2 - loss)
    /// ~119k) = 99k and refused the next honest rescue (15.2k) in the epoch (EpochAmountCapExceeded, 114.2k > 110k). Now it is charged at most the
    /// collateral-only cap, and two honest rescues land after it in the same epoch. Since rr10 F2 the padding supplies its
    /// WETH to a not-due twin (the parked shape: exactly DepositNotFunded).
    function test_Attack_PaddedRescueWithoutASwapLeavesTheNextRescues() public {
        _swapPolicyWithCaps(address(usdcVault), 110_000e6);
        uint256 epoch = block.timestamp / 1 days;
        _dropWethHealthTo(1.19e18);
        MarketState memory s = wethState();
        Plan memory parked = _shrinkThrough(address(usdcVault), s, 99_000e6, 1.35e18);
        _expectRefusedWith(parked, _parkedShrinkRefusal(parked)); // rr10 F2
        _openWethTwin(1000e18, 1.3e18);
        handleOk(keeperOp(safe, keeper, _shrinkIntoTwinThrough(address(usdcVault), s, 99_000e6, 1.35e18), keeperKey));
        uint256 charged = module.getEpochUsage(safe, wethId).amountMoved;
        uint256 capNoSwap = HealthLib.maxMoveToHealth(s, healthOf(safe, wethMarket), false, 0);
        emit log_named_uint("padded rescue without a swap: charged", charged);
        emit log_named_uint("  collateral-only cap", capNoSwap);
        for (uint256 k; k < 2; ++k) {
            vm.warp(block.timestamp + 2 hours);
            _dropWethHealthTo(1.19e18);
            uint256 r = _repayToReach(1.35e18);
            emit log_named_uint("honest rescue", r);
            handleOk(keeperOp(safe, keeper, repayPlan(r), keeperKey));
        }
        assertEq(block.timestamp / 1 days, epoch, "one epoch");
        assertGe(healthOf(safe, wethMarket), 1.34e18, "the honest rescues landed");
        assertLe(charged, capNoSwap, "charged at most the collateral-only cap");
    }
}
