// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Id, MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {AttackBase} from "./AttackBase.sol";
import {SwapBase} from "../utils/SwapBase.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {HealthLib} from "../../src/libraries/HealthLib.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";
import {SimOracle} from "../utils/SimOracle.sol";

/// @notice Issue 10, eleventh review: with two markets of one collateral token (each oracle inside its own feed check),
/// the keeper's list order may not pick the price a sale is valued at (the loss values each token's net change at the
/// listed price least favourable to the plan).
/// Valued at the first listed WETH sub-account's price (round 4), a keeper that listed a lower-priced WETH market B
/// first and sold WETH of a higher-priced due market A (the router paying about A's price, the minimum output set at
/// A's) booked the sale as a gain against B's price, and the fake gain hid a pool exit-fee skim.
contract ListOrderAttacksTest is SwapBase {
    using MarketParamsLib for MarketParams;

    SimOracle internal feed;
    SimOracle internal oracleB;
    MarketParams internal wethMarketB;
    bytes32 internal wethIdB;
    RiggedVault internal skim;

    uint256 internal constant SKIMMED = 4_000e6; // USDC repaid through the skim pool

    function _args(bytes memory reason) internal pure returns (bytes memory args) {
        args = new bytes(reason.length - 4);
        for (uint256 i; i < args.length; ++i) args[i] = reason[i + 4];
    }

    /// @dev A (the fixture's WETH market, health 1.02, swap policy) at its oracle price pA (the Uniswap pool is aligned to
    /// it). B: a second WETH/USDC market whose oracle is at pA x `bPriceBps` / 10000, 100 WETH at health 1.30 (below its
    /// 1.4 target: not due). `sharedFeed`: both policies check their oracle against ONE feed at pA x `feedBps` / 10000
    /// (each within the default 100 bps); else each policy's feed is its own market oracle (the fixture's default).
    /// A's policy may use a USDC pool with an exit fee of `feeBps` (the skim).
    function _setup(uint256 bPriceBps, bool sharedFeed, uint256 feedBps, uint256 feeBps) internal returns (uint256 pA) {
        (pA, oracleB, wethMarketB) = _lowerOracleTwin(bPriceBps, 100e18, 1.30e18);
        uint256 pAWad = pA / 1e6; // whole USDC per WETH, 1e18
        skim = _feePool(usdc, 20_000e6, feeBps);
        Policy memory a = swapPolicy(wethMarket, false);
        a.pools = new address[](2);
        a.pools[0] = address(usdcVault);
        a.pools[1] = address(skim);
        a.maxEpochLossBps = 10_000; // the per-operation bound (rule 5) is under test
        Policy memory b = defaultPolicy(wethMarketB, address(0));
        if (sharedFeed) {
            feed = new SimOracle(6, 18, 8);
            feed.setPrice(pAWad * feedBps / 10_000);
            a.priceFeed = address(feed);
            b.priceFeed = address(feed);
        }
        wethId = setPolicy(a);
        wethIdB = setPolicy(b);
    }

    /// @dev A's swap rescue (sell `sold` WETH inside RepayWithCallback of the quoted output), plus SKIMMED repaid from the
    /// skim pool; B gets 1 WETH of the owner's idle WETH supplied (toward its target, 1% of its collateral: material).
    /// `bFirst`: B listed first (its price is then the one the loss accounting values every WETH at).
    function _plan(uint256 sold, uint256 repaid, bool bFirst, bool withB) internal view returns (Plan memory plan) {
        (uint8 ia, uint8 ib) = bFirst ? (1, 0) : (0, 1);
        Action[] memory acts = new Action[](withB ? 7 : 6);
        acts[0] = action(ActionKind.RepayWithCallback, ia, address(0), repaid);
        acts[1] = action(ActionKind.WithdrawCollateral, ia, address(0), sold);
        acts[2] = action(ActionKind.SellCollateral, ia, route(FEE_LOW), sold);
        acts[3] = action(ActionKind.EndCallback, ia, address(0), 0);
        acts[4] = action(ActionKind.WithdrawFromPool, ia, address(skim), SKIMMED);
        acts[5] = action(ActionKind.Repay, ia, address(0), SKIMMED);
        if (withB) acts[6] = action(ActionKind.SupplyCollateral, ib, address(0), 1e18);
        if (!withB) {
            plan.subAccounts = new bytes32[](1);
            plan.subAccounts[0] = wethId;
        } else {
            plan.subAccounts = new bytes32[](2);
            plan.subAccounts[bFirst ? 0 : 1] = wethIdB;
            plan.subAccounts[bFirst ? 1 : 0] = wethId;
        }
        plan.actions = acts;
    }

    /// @dev Everything the Safe owns (USDC idle and in both USDC pools, minus both debts, plus every WETH: idle, in the
    /// WETH pool and in both markets) with all WETH at one `price` (1e36 scale).
    function _value(uint256 price) internal view returns (int256 v) {
        v = int256(usdc.balanceOf(safe) + usdcVault.convertToAssets(usdcVault.balanceOf(safe)) + skim.convertToAssets(skim.balanceOf(safe)));
        (uint256 ca, uint256 da) = adapter.position(Id.unwrap(wethMarket.id()), safe);
        (uint256 cb, uint256 db) = adapter.position(Id.unwrap(wethMarketB.id()), safe);
        v -= int256(da + db);
        uint256 wethUnits = ca + cb + weth.balanceOf(safe) + wethVault.convertToAssets(wethVault.balanceOf(safe));
        v += int256(Math.mulDiv(wethUnits, price, 1e36));
    }

    struct Outcome {
        bool ok;
        bytes reason;
        int256 lossAtA;
        int256 lossAtFeedOrB;
        uint256 grossMoveA;
    }

    /// @dev Runs the plan through handleOps; returns the verdict, the Safe's real loss with all WETH at A's price (the
    /// price the Uniswap pool trades at) and at `otherPrice`, and everything A moved (|debt change| + |collateral change|
    /// x pA, uncounted: at least the allowance base).
    function _run(Plan memory plan, uint256 pA, uint256 otherPrice) internal returns (Outcome memory o) {
        (uint256 c0, uint256 d0) = adapter.position(Id.unwrap(wethMarket.id()), safe);
        int256 vA = _value(pA);
        int256 vO = _value(otherPrice);
        (o.ok, o.reason) = handle(keeperOp(safe, keeper, plan, keeperKey));
        o.lossAtA = vA - _value(pA);
        o.lossAtFeedOrB = vO - _value(otherPrice);
        (uint256 c1, uint256 d1) = adapter.position(Id.unwrap(wethMarket.id()), safe);
        o.grossMoveA = HealthLib.distance(d0, d1) + Math.mulDiv(HealthLib.distance(c0, c1), pA, 1e36);
    }

    /// @dev The allowance the module gives this rescue: 50 bps of A's counted move, read from the same plan with A
    /// listed first (refused: ValueLossExceeded names `moved`; B is not due and adds nothing in either order).
    function _allowance(uint256 sold, uint256 repaid) internal returns (uint256 allowance, uint256 bookedAFirst) {
        uint256 snap = vm.snapshotState();
        Outcome memory o = _run(_plan(sold, repaid, false, true), wethOracle.price(), wethOracle.price());
        assertFalse(o.ok, "A first: refused");
        assertEq(bytes4(o.reason), ILeverageModule.ValueLossExceeded.selector, "A first: ValueLossExceeded");
        uint256 moved;
        (bookedAFirst, moved,) = abi.decode(_args(o.reason), (uint256, uint256, uint256));
        allowance = moved * 50 / 10_000;
        vm.revertToState(snap);
    }

    function _sale() internal returns (uint256 sold, uint256 repaid) {
        // (C - c) P lltv = t (D - X - c P (1 - cost)), t = 1.4: the skim repayment X counted in.
        MarketState memory st = wethState();
        uint256 value = Math.mulDiv(st.collateral, st.price, 1e36);
        uint256 soldValue = (1.4e18 * (st.debt - SKIMMED) - value * LLTV) / (1.4e18 * (10_000 - COST_ESTIMATE_BPS) / 10_000 - LLTV);
        sold = Math.mulDiv(soldValue, 1e36, st.price);
        repaid = quoteExactIn(address(weth), address(usdc), FEE_LOW, sold);
    }

    /// @dev Baseline: A alone, the same swap rescue plus the 12% skim of 4,000 USDC: ValueLossExceeded.
    function test_Baseline_SwapRescueWithSkimAloneRefused() public {
        uint256 pA = _setup(9_820, true, 9_910, 1_200);
        (uint256 sold, uint256 repaid) = _sale();
        Holdings memory before = holdings(safe);
        Outcome memory o = _run(_plan(sold, repaid, false, false), pA, feed.price());
        assertFalse(o.ok, "refused alone");
        assertEq(bytes4(o.reason), ILeverageModule.ValueLossExceeded.selector, "ValueLossExceeded");
        (uint256 loss, uint256 moved, uint256 bps) = abi.decode(_args(o.reason), (uint256, uint256, uint256));
        emit log_named_uint("alone: loss booked", loss);
        emit log_named_uint("alone: moved", moved);
        emit log_named_uint("alone: bps", bps);
        assertNothingLeftBut(before, 1 ether);
    }

    /// @dev Held (order matters): A listed first, B second: WETH valued at A's price, refused.
    function test_Baseline_AFirstRefused() public {
        uint256 pA = _setup(9_820, true, 9_910, 1_200);
        (uint256 sold, uint256 repaid) = _sale();
        weth.mint(safe, 1e18);
        Holdings memory before = holdings(safe);
        Outcome memory o = _run(_plan(sold, repaid, false, true), pA, feed.price());
        assertFalse(o.ok, "refused with A first");
        assertEq(bytes4(o.reason), ILeverageModule.ValueLossExceeded.selector, "ValueLossExceeded");
        (uint256 loss, uint256 moved,) = abi.decode(_args(o.reason), (uint256, uint256, uint256));
        emit log_named_uint("A first: loss booked", loss);
        emit log_named_uint("A first: moved", moved);
        assertNothingLeftBut(before, 1 ether);
    }

    /// @dev Eleventh review of issue 10, 1a (one shared feed, defaults): A's oracle at pA, the feed at 0.991 pA, B's
    /// oracle at 0.982 pA (each 0.91% from the feed, inside the default 100 bps). Listing B first valued A's sold WETH at
    /// B's price while the router paid ~pA: a fake gain of ~1.75% of the sale hid an 800 USDC skim (20% exit fee on
    /// 4,000). Each token's net change is now valued at the listed price least favourable to the plan: refused in either
    /// order, the loss booked at least what A first books, nothing left the Safe.
    function test_Attack_ListOrderPicksNoPriceForASale_SharedFeed() public {
        _assertRefusedInBothOrders(_setup(9_820, true, 9_910, 2_000));
    }

    /// @dev 1b (each policy checks its own market oracle as its feed, the fixture's default; the two oracles 10% apart):
    /// a 50% exit fee on 4,000 USDC (2,000 USDC lost) was hidden behind the sale valued at B's price. Refused.
    function test_Attack_ListOrderPicksNoPriceForASale_DifferentFeeds() public {
        _assertRefusedInBothOrders(_setup(9_000, false, 0, 5_000));
    }

    function _assertRefusedInBothOrders(uint256 pA) internal {
        (uint256 sold, uint256 repaid) = _sale();
        weth.mint(safe, 1e18);
        (, uint256 bookedAFirst) = _allowance(sold, repaid);
        Holdings memory before = holdings(safe);
        Outcome memory o = _run(_plan(sold, repaid, true, true), pA, pA);
        assertFalse(o.ok, "B first: refused");
        assertEq(bytes4(o.reason), ILeverageModule.ValueLossExceeded.selector, "ValueLossExceeded");
        (uint256 loss,,) = abi.decode(_args(o.reason), (uint256, uint256, uint256));
        emit log_named_uint("A first: loss booked", bookedAFirst);
        emit log_named_uint("B first: loss booked", loss);
        assertGe(loss, bookedAFirst, "B first books at least the loss A first books");
        assertNothingLeftBut(before, 1 ether);
    }
}

/// @notice Eleventh review of issue 10, charge cap: a due sub-account is charged its net move up to what the most
/// move-intensive honest plan to the same health is charged, so padded rescues cannot spend its maxAmountPerEpoch faster
/// than honest ones could.
contract DueChargeAttacksTest is AttackBase {
    using MarketParamsLib for MarketParams;

    function _netMove() internal view returns (uint256 c, uint256 d) {
        (c, d) = adapter.position(Id.unwrap(wethMarket.id()), safe);
    }

    function _setupWeth() internal returns (uint256 epoch) {
        _wethWithCaps(300_000e6, 100_000e6, 110_000e6);
        vm.warp(block.timestamp / 1 days * 1 days + 1 days + 1 hours);
        epoch = block.timestamp / 1 days;
    }

    /// @dev The largest padded shrink (net move, 1k steps down from 99.9k) the module accepts now; executes it. Since
    /// rr10 F2 the withdrawn collateral is supplied to the not-due WETH twin (a pool may not take it: the first
    /// step's parked shape is asserted refused with exactly DepositNotFunded); the steps stop above the honest
    /// repayment (a move below it has no shrink side).
    function _largestAcceptedPadding() internal returns (uint256 net) {
        MarketState memory s = adapter.marketState(Id.unwrap(wethMarket.id()), safe);
        Plan memory parked = _dueShrink(s, 99_900e6, 1.35e18);
        _expectRefusedWith(parked, _parkedShrinkRefusal(parked));
        uint256 honest = _repayToReach(1.35e18);
        for (uint256 m = 99_900e6; m > honest + 1_000e6; m -= 1_000e6) {
            uint256 snap = vm.snapshotState();
            (uint256 cb, uint256 db) = _netMove();
            (bool ok,) = handle(keeperOp(safe, keeper, _dueShrinkIntoTwin(s, m, 1.35e18), keeperKey));
            if (ok) {
                (uint256 ca, uint256 da) = _netMove();
                return (db - da) + Math.mulDiv(cb - ca, s.price, 1e36);
            }
            vm.revertToState(snap);
        }
        revert("no padding accepted");
    }

    /// @dev Control: three honest rescues (1.19 -> 1.35, repay from the pool) in one epoch fit the 110k epoch cap.
    function test_Control_ThreeHonestRescuesFitTheEpochCap() public {
        uint256 epoch = _setupWeth();
        uint256 total;
        for (uint256 k; k < 3; ++k) {
            if (k > 0) vm.warp(block.timestamp + 2 hours);
            _dropWethHealthTo(1.19e18);
            uint256 r = _repayToReach(1.35e18);
            total += r;
            handleOk(keeperOp(safe, keeper, repayPlan(r), keeperKey));
        }
        assertEq(block.timestamp / 1 days, epoch);
        emit log_named_uint("three honest rescues charged", module.getEpochUsage(safe, wethId).amountMoved);
        assertApproxEqAbs(module.getEpochUsage(safe, wethId).amountMoved, total, 10);
    }

    /// @dev The eleventh review's stall. Caps 100k per rebalance, 110k per epoch (three honest rescues cost ~57k). WETH
    /// falls to 1.19 twice; each time the compromised keeper rescues it to ~1.35 padded with the largest lossless,
    /// health-neutral shrink the module accepts. Charged each side up to maxMoveToHealth (~3.1x the honest repayment),
    /// two padded rescues spent the cap and the honest keeper's third rescue was refused (EpochAmountCapExceeded). Now
    /// each is charged at most maxMoveToHealth (what a collateral change alone to that health is charged) and the honest
    /// third rescue lands in the same epoch. Since rr10 F2 the padding's collateral goes into the not-due WETH twin (a
    /// pool may not take a due sub-account's withdrawal); the charge cap is reached the same way.
    function test_Attack_PaddedDueRescuesLeaveTheThirdRescuePossible() public {
        uint256 epoch = _setupWeth();
        _dropWethHealthTo(1.19e18);
        _openWethTwin(1000e18, 1.3e18);
        for (uint256 k; k < 2; ++k) {
            if (k > 0) vm.warp(block.timestamp + 2 hours);
            _dropWethHealthTo(1.19e18);
            MarketState memory s = adapter.marketState(Id.unwrap(wethMarket.id()), safe);
            uint256 usedBefore = module.getEpochUsage(safe, wethId).amountMoved;
            uint256 net = _largestAcceptedPadding();
            uint256 charged = module.getEpochUsage(safe, wethId).amountMoved - usedBefore;
            emit log_named_uint("padded rescue: net position change", net);
            emit log_named_uint("  charged", charged);
            assertGt(net, charged * 2, "the padding is not charged");
            assertLe(charged, HealthLib.maxMoveToHealth(s, healthOf(safe, wethMarket), false, 0), "charged at most the cap");
        }
        (address honestKeeper, uint256 honestKey) = makeAddrAndKey("honest keeper");
        safeCall(abi.encodeCall(ILeverageModule.revokeKeeper, (keeper)));
        safeCall(abi.encodeCall(ILeverageModule.addKeeper, (honestKeeper, 0, uint48(block.timestamp + 30 days))));
        vm.warp(block.timestamp + 2 hours);
        vm.roll(block.number + 1);
        _dropWethHealthTo(1.19e18);
        uint256 rescue = _repayToReach(1.35e18);
        handleOk(keeperOp(safe, honestKeeper, repayPlan(rescue), honestKey));
        assertEq(block.timestamp / 1 days, epoch, "one epoch");
        assertGe(healthOf(safe, wethMarket), 1.34e18, "the third rescue landed");
    }
}
