// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Id, MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {SwapBase} from "../utils/SwapBase.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";
import {SimOracle} from "../utils/SimOracle.sol";

/// @notice Issue 10, thirteenth review: a sale of WETH that leaves no position (taken from the owner's WETH pool, or
/// idle) is priced at the selling sub-account's oracle (its minimum output), so the loss must value it in a range
/// holding that price. Round 7 priced each token only among the sub-accounts whose collateral of it changed: a due
/// market A (oracle pA) sold pool WETH and kept its collateral, while a second WETH market B with a lower oracle pB got
/// 1 WETH of idle WETH supplied (its collateral changed). The sale was valued at pB alone, booked as a gain of
/// (pA - pB) per unit, and the fake gain hid an exit-fee skim many times the rescue's allowance.
contract PoolSaleValuationTest is SwapBase {
    using MarketParamsLib for MarketParams;

    SimOracle internal feed;
    SimOracle internal oracleB;
    MarketParams internal wethMarketB;
    bytes32 internal wethIdB;
    RiggedVault internal skim;

    uint256 internal constant SKIMMED = 4_000e6; // USDC repaid through the skim pool
    uint256 internal constant SOLD = 7e18; // WETH A sells from the owner's WETH pool

    function _args(bytes memory reason) internal pure returns (bytes memory args) {
        args = new bytes(reason.length - 4);
        for (uint256 i; i < args.length; ++i) args[i] = reason[i + 4];
    }

    /// @dev A: the fixture's WETH market, 40 WETH / 72k debt, health 1.02 (due), swap policy (50 bps), pools: the USDC
    /// pool, the skim pool (exit fee `feeBps`) and the WETH pool holding 20 WETH of the owner. B: a second WETH/USDC
    /// market with its oracle at pA x `bPriceBps` / 10000, 100 WETH at health 1.30 (not due, below its 1.4 target).
    /// `sharedFeed`: both policies check their oracle against one feed at pA x `feedBps` / 10000; else each its own
    /// market oracle (the fixture's default). The Safe also holds 1 idle WETH.
    function _setup(uint256 bPriceBps, bool sharedFeed, uint256 feedBps, uint256 feeBps) internal returns (uint256 pA) {
        (pA, oracleB, wethMarketB) = _lowerOracleTwin(bPriceBps, 100e18, 1.30e18);
        uint256 pAWad = pA / 1e6;
        skim = _feePool(usdc, 20_000e6, feeBps);
        weth.mint(safe, 21e18);
        depositToVault(safe, wethVault, 20e18);
        Policy memory a = swapPolicy(wethMarket, false);
        a.pools = new address[](3);
        a.pools[0] = address(usdcVault);
        a.pools[1] = address(skim);
        a.pools[2] = address(wethVault);
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

    /// @dev A (index 0) sells SOLD WETH from the WETH pool and repays the quoted output, repays `skimmed` from the skim
    /// pool; B (index 1, when `withB`) gets 1 idle WETH supplied. A's collateral never moves.
    function _plan(uint256 out, uint256 skimmed, bool withB) internal view returns (Plan memory plan) {
        uint256 n = 3 + (skimmed > 0 ? 2 : 0) + (withB ? 1 : 0);
        Action[] memory acts = new Action[](n);
        acts[0] = action(ActionKind.WithdrawFromPool, 0, address(wethVault), SOLD);
        acts[1] = action(ActionKind.SellCollateral, 0, route(FEE_LOW), SOLD);
        acts[2] = action(ActionKind.Repay, 0, address(0), out);
        uint256 k = 3;
        if (skimmed > 0) {
            acts[k++] = action(ActionKind.WithdrawFromPool, 0, address(skim), skimmed);
            acts[k++] = action(ActionKind.Repay, 0, address(0), skimmed);
        }
        if (withB) acts[k] = action(ActionKind.SupplyCollateral, 1, address(0), 1e18);
        plan.subAccounts = new bytes32[](withB ? 2 : 1);
        plan.subAccounts[0] = wethId;
        if (withB) plan.subAccounts[1] = wethIdB;
        plan.actions = acts;
    }

    /// @dev Everything the Safe owns with every WETH (idle, pooled, in both markets) at `price`.
    function _value(uint256 price) internal view returns (int256 v) {
        v = int256(usdc.balanceOf(safe) + usdcVault.convertToAssets(usdcVault.balanceOf(safe)) + skim.convertToAssets(skim.balanceOf(safe)));
        (uint256 ca, uint256 da) = adapter.position(Id.unwrap(wethMarket.id()), safe);
        (uint256 cb, uint256 db) = adapter.position(Id.unwrap(wethMarketB.id()), safe);
        v -= int256(da + db);
        uint256 units = ca + cb + weth.balanceOf(safe) + wethVault.convertToAssets(wethVault.balanceOf(safe));
        v += int256(Math.mulDiv(units, price, 1e36));
    }

    function _run(Plan memory plan) internal returns (bool ok, bytes memory reason, int256 lossAtA, PackedUserOperation memory op) {
        uint256 pA = wethOracle.price();
        int256 v0 = _value(pA);
        op = keeperOp(safe, keeper, plan, keeperKey);
        (ok, reason) = handle(op);
        lossAtA = v0 - _value(pA);
    }

    /// @dev The attack: A sells pool WETH, repays, skims SKIMMED through the exit-fee pool; B gets 1 idle WETH. Must be
    /// refused with ValueLossExceeded (the loss booked at least the skim) and nothing may leave the Safe; the same
    /// rescue without the skim must still land.
    function _assertSkimRefused(uint256 pA) internal {
        uint256 out = quoteExactIn(address(weth), address(usdc), FEE_LOW, SOLD);
        emit log_named_uint("A sells pool WETH, value at pA", Math.mulDiv(SOLD, pA, 1e36));
        emit log_named_uint("  quoted output", out);
        emit log_named_uint("  value at pB", Math.mulDiv(SOLD, oracleB.price(), 1e36));
        uint256 snap = vm.snapshotState();
        Holdings memory before = holdings(safe);
        (bool ok, bytes memory reason, int256 lossAtA, PackedUserOperation memory op) = _run(_plan(out, SKIMMED, true));
        if (ok) {
            emit log_named_int("ACCEPTED: real loss, all WETH at pA", lossAtA);
            emit log_named_uint("  A health after", healthOf(safe, wethMarket));
        }
        assertFalse(ok, "the skim behind a pool sale valued at the lower oracle is refused");
        assertEq(bytes4(reason), ILeverageModule.ValueLossExceeded.selector, "ValueLossExceeded");
        (uint256 loss, uint256 moved, uint256 bps) = abi.decode(_args(reason), (uint256, uint256, uint256));
        emit log_named_uint("loss booked", loss);
        emit log_named_uint("allowance (moved x bps / 10000)", moved * bps / 10_000);
        uint256 fee = Math.mulDiv(SKIMMED, skim.exitFeeBps(), 10_000);
        assertGe(loss, fee * 99 / 100, "the loss booked holds the skim");
        assertNothingLeftBut(before, maxCost(op));
        vm.revertToState(snap);
        // The honest rescue (the same pool sale, no skim, B's supply) still lands.
        uint256 outHonest = quoteExactIn(address(weth), address(usdc), FEE_LOW, SOLD);
        (ok, reason, lossAtA,) = _run(_plan(outHonest, 0, true));
        if (!ok) assembly { revert(add(reason, 0x20), mload(reason)) }
        emit log_named_int("honest pool sale: real loss at pA", lossAtA);
        emit log_named_uint("honest pool sale: A health", healthOf(safe, wethMarket));
    }

    /// @dev No collateral moves at all: B (oracle 10% below A's, swap policy, due since the fourteenth review) sells 4 WETH
    /// of the owner's WETH pool at its own oracle and repays its own debt with the minimum output (toward its target),
    /// next to A's rescue: 19,000 USDC repaid through the skim pool at a 4% exit fee (760 USDC lost; A's allowance
    /// ~95). The Uniswap pool pays ~pA, so valued at pB alone the sale books a gain of ~850 that hides the fee. Round 7
    /// priced the sale over every listed WETH market (none's collateral changed), pA included: refused. The seller's
    /// price joining the range must not narrow it: still refused (ValueLossExceeded), nothing left the Safe.
    function test_Attack_LowerOracleSellerWithNoCollateralMovedIsPricedOverEveryListedMarket() public {
        _expectValueLossRefused(_lowerOracleSellerPlan(false));
    }

    /// @dev The same, but B also gets 1 idle WETH supplied (its collateral changes, so the range is B's price alone, as
    /// in round 7: a market that only changes debt does not price another's sale, twelfth review). The Uniswap pool
    /// pays ~pA for B's 4 WETH, ~850 USDC above their value at pB: booked as a gain, it hid the 760 USDC skim (8x A's
    /// ~95 allowance), accepted by rounds 7 and the first fix of this review. A swap now never books a gain over the
    /// value it gave (`_swapGain`): refused (ValueLossExceeded), nothing left the Safe.
    function test_Attack_LowerOracleSellerBooksNoGainFromItsSale() public {
        _expectValueLossRefused(_lowerOracleSellerPlan(true));
    }

    /// @dev The two tests above: B (oracle 10% below A's, swap policy over the owner's WETH pool, epoch loss budget
    /// 100%, due: minHealth 1.31 over its 1.30) sells 4 pooled WETH and repays its own debt with the sale's minimum output at pB, next to A's rescue of
    /// 19,000 USDC through the skim pool at a 4% exit fee; with `supplyB`, B also supplies 1 idle WETH.
    function _lowerOracleSellerPlan(bool supplyB) internal returns (Plan memory plan) {
        _setup(9_000, false, 0, 400);
        Policy memory b = swapPolicy(wethMarketB, false);
        b.pools = new address[](1);
        b.pools[0] = address(wethVault);
        b.maxEpochLossBps = 10_000;
        // B is due (1.30 under its minHealth 1.31; landing zone [1.325, 1.53]): since the fourteenth review only a due
        // sub-account may swap (a not-due B's sale is ActionNotAllowed, Rev10nSwapAttacks), and a due lower-oracle
        // seller next to a debt-only A is what `_swapGain` must still catch.
        b.minHealth = 1.31e18;
        b.targetHealth = 1.36e18;
        wethIdB = setPolicy(b);
        uint256 sold = 4e18;
        uint256 out = Math.mulDiv(Math.mulDiv(sold, oracleB.price(), 1e36), 10_000 - MAX_SLIPPAGE_BPS, 10_000, Math.Rounding.Ceil);
        Action[] memory acts = new Action[](supplyB ? 6 : 5);
        acts[0] = action(ActionKind.WithdrawFromPool, 0, address(skim), 19_000e6);
        acts[1] = action(ActionKind.Repay, 0, address(0), 19_000e6);
        acts[2] = action(ActionKind.WithdrawFromPool, 1, address(wethVault), sold);
        acts[3] = action(ActionKind.SellCollateral, 1, route(FEE_LOW), sold);
        acts[4] = action(ActionKind.Repay, 1, address(0), out);
        if (supplyB) acts[5] = action(ActionKind.SupplyCollateral, 1, address(0), 1e18);
        plan.subAccounts = new bytes32[](2);
        plan.subAccounts[0] = wethId;
        plan.subAccounts[1] = wethIdB;
        plan.actions = acts;
    }

    /// @dev One keeper operation through handleOps: refused with ValueLossExceeded, nothing left the Safe.
    function _expectValueLossRefused(Plan memory plan) internal {
        Holdings memory before = holdings(safe);
        (bool ok, bytes memory reason, int256 lossAtA, PackedUserOperation memory op) = _run(plan);
        if (ok) emit log_named_int("ACCEPTED: real loss, all WETH at pA", lossAtA);
        assertFalse(ok, "refused");
        assertEq(bytes4(reason), ILeverageModule.ValueLossExceeded.selector, "ValueLossExceeded");
        (uint256 loss, uint256 moved,) = abi.decode(_args(reason), (uint256, uint256, uint256));
        emit log_named_uint("loss booked", loss);
        emit log_named_uint("moved", moved);
        assertNothingLeftBut(before, maxCost(op));
    }

    /// @dev Control: A alone (no B listed): the same skim is refused (the sale valued at pA).
    function test_Control_PoolSaleSkimAloneRefused() public {
        _setup(9_000, false, 0, 2_600);
        uint256 out = quoteExactIn(address(weth), address(usdc), FEE_LOW, SOLD);
        Holdings memory before = holdings(safe);
        (bool ok, bytes memory reason,, PackedUserOperation memory op) = _run(_plan(out, SKIMMED, false));
        assertFalse(ok, "refused alone");
        assertEq(bytes4(reason), ILeverageModule.ValueLossExceeded.selector, "ValueLossExceeded");
        assertNothingLeftBut(before, maxCost(op));
    }

    /// @dev Each policy on its own market oracle (the fixture's default), B's 10% below A's: a 26% exit fee on 4,000
    /// USDC (1,065 USDC lost at pA, ~11x the ~95 USDC allowance) was accepted behind the sale valued at pB.
    function test_Attack_PoolSaleValuedAtAnotherMarketsLowerOracle_DifferentFeeds() public {
        _assertSkimRefused(_setup(9_000, false, 0, 2_600));
    }

    /// @dev One shared feed at 0.991 pA, B's oracle at 0.982 pA (each within the default 100 bps of it): a 6% exit fee
    /// on 4,000 USDC (265 USDC lost at pA, ~2.8x the ~95 USDC allowance) was accepted.
    function test_Attack_PoolSaleValuedAtAnotherMarketsLowerOracle_SharedFeed() public {
        _assertSkimRefused(_setup(9_820, true, 9_910, 600));
    }
}
