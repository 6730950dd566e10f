// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Id, MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {AttackBase} from "./AttackBase.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {HealthLib} from "../../src/libraries/HealthLib.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";
import {SimOracle} from "../utils/SimOracle.sol";

/// @notice Issue 10, tenth review: the loss accounting values every unit of a token at one price, and a due
/// sub-account is charged (amount caps) no more of its move than the allowance counts.
/// - One price per token: two Morpho WETH/USDC markets with their own oracles (A at 2400, B at 2444), both within the
///   default 100 bps of one ETH/USD feed at 2422. Valued at each run's own price, idle or pooled WETH supplied into B
///   booked 44 USDC of gain per WETH that never happened, and hid the issue's 12% skim (and a 60% one, 1,980 USDC).
/// - Charge cap: a due sub-account's own rescue padded with a lossless, health-neutral shrink was charged its whole
///   net move, spent its maxAmountPerEpoch and refused its next rescue in the epoch (EpochAmountCapExceeded).
contract LossAccountingAttacksTest is AttackBase {
    using MarketParamsLib for MarketParams;

    SimOracle internal feed; // the one ETH/USD feed both WETH policies check their market oracle against
    MarketParams internal wethMarketB;
    bytes32 internal wethIdB;

    /* ONE PRICE PER TOKEN */

    /// @dev Market A (the fixture's WETH market) at 2400, a second WETH/USDC market B (400 WETH at health 1.25, below
    /// its 1.4 target: not due) at 2444, the feed at 2422; A's pool charges `feeBps` on exit (the skim), and B may use
    /// the WETH pool.
    function _twoWethMarkets(uint256 feeBps) internal returns (RiggedVault skim) {
        feed = new SimOracle(6, 18, 8);
        feed.setPrice(2422e18);
        SimOracle oracleB = new SimOracle(6, 18, 8);
        oracleB.setPrice(2444e18);
        wethMarketB = _createMarket(address(weth), address(oracleB));
        openPosition(safe, wethMarketB, 400e18, 400 * 2444e6 * 0.86e18 / 1.25e18);
        skim = _feePool(feeBps);
        Policy memory a = defaultPolicy(wethMarket, address(skim));
        a.priceFeed = address(feed);
        a.maxEpochLossBps = 10_000; // the per-operation bound is under test
        Policy memory b = defaultPolicy(wethMarketB, address(wethVault));
        b.priceFeed = address(feed);
        wethId = setPolicy(a);
        wethIdB = setPolicy(b);
        wethOracle.setPrice(2400e18); // A due: health 1.1467
    }

    /// @dev A's rescue, repaying `amount` from `pool`, then WETH supplied into B up to health ~1.399 (toward its target,
    /// inside its distance bound), from the Safe's idle WETH or, with `fromPool`, from the WETH pool. `bFirst` lists B
    /// first (its price is then the one the plan values WETH at).
    function _paddedRescue(IERC4626 pool, uint256 amount, bool fromPool, bool bFirst) internal returns (Plan memory plan) {
        MarketState memory s = adapter.marketState(Id.unwrap(wethMarketB.id()), safe);
        uint256 supplied = Math.mulDiv(Math.mulDiv(1.399e18, s.debt, 0.86e18) - Math.mulDiv(s.collateral, s.price, 1e36), 1e36, s.price);
        if (fromPool) depositToVault(safe, wethVault, supplied + 1e18);
        else weth.mint(safe, supplied); // the owner's idle WETH
        (uint8 a, uint8 b) = bFirst ? (1, 0) : (0, 1);
        Action[] memory actions = new Action[](fromPool ? 4 : 3);
        actions[0] = action(ActionKind.WithdrawFromPool, a, address(pool), amount);
        actions[1] = action(ActionKind.Repay, a, address(0), amount);
        if (fromPool) actions[2] = action(ActionKind.WithdrawFromPool, b, address(wethVault), supplied);
        actions[actions.length - 1] = action(ActionKind.SupplyCollateral, b, address(0), supplied);
        plan = bFirst ? plan2(wethIdB, wethId, actions) : plan2(wethId, wethIdB, actions);
    }

    function _refusedSkim(uint256 feeBps, bool fromPool, bool bFirst) internal {
        RiggedVault skim = _twoWethMarkets(feeBps);
        Plan memory plan = _paddedRescue(skim, 3_300e6, fromPool, bFirst);
        Holdings memory before = holdings(safe);
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok, "the padded skim is refused");
        _assertSkimNamed(reason, 3_300e6, feeBps);
        assertNothingLeftBut(before, maxCost(op));
    }

    /// @dev `ValueLossExceeded(loss, moved, 50)`: the loss is the skim (the pool's exit fee, `feeBps` of `repaid`; the
    /// WETH padding books no gain, ~2.1k before) and moved only A's repayment.
    function _assertSkimNamed(bytes memory reason, uint256 repaid, uint256 feeBps) internal {
        assertEq(bytes4(reason), ILeverageModule.ValueLossExceeded.selector, "ValueLossExceeded");
        (uint256 loss, uint256 moved, uint256 bps) = abi.decode(_args(reason), (uint256, uint256, uint256));
        emit log_named_uint("loss measured", loss);
        emit log_named_uint("allowance base (A's counted move)", moved);
        assertApproxEqAbs(loss, repaid * feeBps / 10_000, 1e3, "the loss measured is the skim");
        assertEq(moved, repaid, "only A's repayment is counted");
        assertEq(bps, 50);
    }

    function _args(bytes memory reason) internal pure returns (bytes memory args) {
        args = new bytes(reason.length - 4);
        for (uint256 i; i < args.length; ++i) args[i] = reason[i + 4];
    }

    /// @dev The issue's 12% skim of a 3,300 USDC rescue, padded with idle WETH supplied into the higher-priced market.
    function test_Attack_PriceGapBetweenSameTokenMarketsHidesNoSkim() public {
        _refusedSkim(1200, false, false);
    }

    /// @dev The same with a 60% exit fee (1,980 USDC accepted before, with no loss charged to any epoch budget).
    function test_Attack_PriceGapHidesNoLargeSkim() public {
        _refusedSkim(6000, false, false);
    }

    /// @dev The WETH from an allowed WETH pool instead of the wallet.
    function test_Attack_PriceGapViaCollateralPoolHidesNoSkim() public {
        _refusedSkim(1200, true, false);
    }

    /// @dev The higher-priced market listed first (its price is the plan's WETH price): the same.
    function test_Attack_PriceGapWithTheHigherPriceFirstHidesNoSkim() public {
        _refusedSkim(1200, false, true);
    }

    /// @dev Liveness: the same cross-market plan without the skim (an honest rescue of A from a fee-free pool, idle WETH
    /// supplied into B) lands, both sub-accounts toward their targets; the Safe's value is unchanged at either price.
    function test_HonestRescueNextToASameTokenSupplyLands() public {
        _twoWethMarkets(0);
        depositToVault(safe, usdcVault, 10_000e6);
        Policy memory a = defaultPolicy(wethMarket, address(usdcVault));
        a.priceFeed = address(feed);
        setPolicy(a);
        uint256 repaid = _repayToReach(1.4e18);
        handleOk(keeperOp(safe, keeper, _paddedRescue(usdcVault, repaid, false, false), keeperKey));
        assertGe(healthOf(safe, wethMarket), 1.39e18, "A rescued");
        assertGt(healthOf(safe, wethMarketB), 1.39e18, "B nearer its target");
        EpochUsage memory ua = module.getEpochUsage(safe, wethId);
        assertEq(ua.lossPpb, 0, "no loss charged");
    }

    /* A DUE SUB-ACCOUNT IS CHARGED NO MORE THAN ITS ALLOWANCE COUNTS */

    /// @dev WETH: 100 WETH, 180k debt; caps 100k per rebalance, 110k per epoch. It falls to 1.19; the keeper rescues it
    /// to 1.35 with a lossless plan padded by a health-neutral shrink (repay ~45k from the pool, withdraw ~55k of
    /// collateral into the WETH pool: net move ~99.9k, inside the per-rebalance cap; the honest repayment ~21k). Charged
    /// its whole move, it refused the honest rescue when WETH fell to 1.19 again in the epoch (EpochAmountCapExceeded).
    /// Now it is charged at most maxMoveToHealth for 1.19 -> 1.35 (no swaps: what a collateral change alone is charged),
    /// and the second rescue lands. Since rr10 F2 the withdrawn collateral may not be parked in a pool (refused here with
    /// exactly DepositNotFunded); the padding supplies it to a not-due WETH twin instead, which reaches the charge cap.
    function test_Attack_DueShrinkPaddingDoesNotSpendItsOwnEpochAmountCap() public {
        _wethWithCaps(200_000e6, 100_000e6, 110_000e6); // 100 WETH, 180k debt
        vm.warp(block.timestamp / 1 days * 1 days + 1 days + 1 hours);
        uint256 epoch = block.timestamp / 1 days;
        _dropWethHealthTo(1.19e18);
        MarketState memory s = adapter.marketState(Id.unwrap(wethMarket.id()), safe);
        Plan memory parked = _dueShrink(s, 99_900e6, 1.35e18);
        _expectRefusedWith(parked, _parkedShrinkRefusal(parked));
        _openWethTwin(1000e18, 1.3e18);
        handleOk(keeperOp(safe, keeper, _dueShrinkIntoTwin(s, 99_900e6, 1.35e18), keeperKey));
        uint256 cap = HealthLib.maxMoveToHealth(s, healthOf(safe, wethMarket), false, 0);
        EpochUsage memory u1 = module.getEpochUsage(safe, wethId);
        emit log_named_uint("padded rescue: amount charged", u1.amountMoved);
        emit log_named_uint("maxMoveToHealth for its health change", cap);
        assertLe(u1.amountMoved, cap, "charged at most the cap: a collateral change alone, the most move-intensive honest plan");
        assertLt(u1.amountMoved, 99_000e6, "not the whole padded move");

        vm.warp(block.timestamp + 2 hours);
        _dropWethHealthTo(1.19e18);
        uint256 honest = _repayToReach(1.35e18);
        handleOk(keeperOp(safe, keeper, repayPlan(honest), keeperKey));
        assertEq(block.timestamp / 1 days, epoch, "same epoch");
        assertGe(healthOf(safe, wethMarket), 1.34e18, "the second rescue landed");
        assertEq(module.getEpochUsage(safe, wethId).amountMoved, u1.amountMoved + honest, "charged its repayment");
    }

    /// @dev The per-rebalance cap still sees the whole padded move: the same padding past maxAmountPerRebalance is
    /// refused with the whole net move named. Since rr10 F2 the pool-parked padding stops earlier (DepositNotFunded); the
    /// same padding supplied to a not-due WETH twin reaches the cap.
    function test_Attack_DueShrinkPaddingPastThePerRebalanceCapIsRefused() public {
        _wethWithCaps(200_000e6, 60_000e6, 0);
        _dropWethHealthTo(1.19e18);
        MarketState memory s = adapter.marketState(Id.unwrap(wethMarket.id()), safe);
        Plan memory parked = _dueShrink(s, 99_900e6, 1.35e18);
        _expectRefusedWith(parked, _parkedShrinkRefusal(parked));
        _openWethTwin(1000e18, 1.3e18);
        Holdings memory before = holdings(safe);
        PackedUserOperation memory op = keeperOp(safe, keeper, _dueShrinkIntoTwin(s, 99_900e6, 1.35e18), keeperKey);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok, "refused");
        assertEq(bytes4(reason), ILeverageModule.AmountCapExceeded.selector, "AmountCapExceeded");
        (bytes32 id, uint256 moved, uint256 limit) = abi.decode(_args(reason), (bytes32, uint256, uint256));
        assertEq(id, wethId);
        assertApproxEqRel(moved, 99_900e6, 0.001e18, "the whole net move");
        assertEq(limit, 60_000e6);
        assertNothingLeftBut(before, maxCost(op));
    }
}
