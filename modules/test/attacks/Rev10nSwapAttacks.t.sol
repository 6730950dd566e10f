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

/// @notice Issue 10, fourteenth review (rev10n). Residual 1 of the thirteenth: a sale is judged at its seller's oracle
/// when the other listed markets of the token change only debt. A NOT-DUE lower-oracle market B may swap next to any
/// rescue: its sale's minimum output is set at pB, the loss values its WETH at pB alone (B's collateral changed, A's
/// did not), so a router that pays only ~pB (the keeper's own 0.3% pool, or a sandwich of the 0.05% one) takes the
/// oracle gap (pA - pB) x sold unbooked, on top of the booked slippage, next to a rescue that loses nothing.
contract Rev10nSwapAttacksTest is SwapBase {
    using MarketParamsLib for MarketParams;

    SimOracle internal feed;
    SimOracle internal oracleB;
    MarketParams internal wethMarketB;
    bytes32 internal wethIdB;
    RiggedVault internal fair; // a USDC pool with no exit fee: A's honest rescue loses nothing

    /// @dev A: the fixture's WETH market, 40 WETH / 72k, health 1.02 (due), swap policy, its pool `fair` (20k USDC).
    /// B: a second WETH/USDC market, oracle pA x `bPriceBps` / 10000, 100 WETH at 1.30 (not due, target 1.4), swap
    /// policy (50 bps, deleverage-only). `feedBps` != 0: both policies check their oracle against one shared feed at
    /// pA x feedBps / 10000 (default 100 bps deviation); else each its own market oracle. The keeper owns a 0.3%
    /// WETH/USDC pool (an allowed fee tier of the factory) priced at pB.
    function _setup(uint256 bPriceBps, uint256 feedBps) internal returns (uint256 pA) {
        (pA, oracleB, wethMarketB) = _lowerOracleTwin(bPriceBps, 100e18, 1.30e18);
        fair = _feePool(usdc, 20_000e6, 0);
        Policy memory a = swapPolicy(wethMarket, false);
        a.pools = new address[](1);
        a.pools[0] = address(fair);
        a.maxEpochLossBps = 10_000;
        Policy memory b = swapPolicy(wethMarketB, false);
        b.pools = new address[](0);
        b.maxEpochLossBps = 10_000;
        if (feedBps != 0) {
            feed = new SimOracle(6, 18, 8);
            feed.setPrice(pA / 1e6 * feedBps / 10_000);
            a.priceFeed = address(feed);
            b.priceFeed = address(feed);
        }
        wethId = setPolicy(a);
        wethIdB = setPolicy(b);
        // The keeper's own pool at B's oracle price: its liquidity buys WETH at ~pB less the 0.3% fee.
        createPoolAtOraclePrice(address(weth), address(usdc), FEE_MEDIUM, oracleB.price(), 2_000_000e6, defaultSpread());
    }

    /// @dev A repays `repaid` from the fair pool (only its debt changes); with `sold` > 0, B swap-deleverages `sold` WETH
    /// of its own collateral through `routeFee`, repaying the sale's on-chain minimum at pB.
    function _plan(uint256 repaid, uint256 sold, uint24 routeFee) internal view returns (Plan memory plan) {
        Action[] memory acts = new Action[](sold > 0 ? 6 : 2);
        acts[0] = action(ActionKind.WithdrawFromPool, 0, address(fair), repaid);
        acts[1] = action(ActionKind.Repay, 0, address(0), repaid);
        if (sold > 0) {
            uint256 minOut = Math.mulDiv(Math.mulDiv(sold, oracleB.price(), 1e36), 10_000 - MAX_SLIPPAGE_BPS, 10_000, Math.Rounding.Ceil);
            acts[2] = action(ActionKind.RepayWithCallback, 1, address(0), minOut);
            acts[3] = action(ActionKind.WithdrawCollateral, 1, address(0), sold);
            acts[4] = action(ActionKind.SellCollateral, 1, route(routeFee), sold);
            acts[5] = action(ActionKind.EndCallback, 1, address(0), 0);
        }
        plan.subAccounts = new bytes32[](sold > 0 ? 2 : 1);
        plan.subAccounts[0] = wethId;
        if (sold > 0) plan.subAccounts[1] = wethIdB;
        plan.actions = acts;
    }

    /// @dev Everything the Safe owns, every WETH (idle, in both markets) at `price`.
    function _value(uint256 price) internal view returns (int256 v) {
        v = int256(usdc.balanceOf(safe) + fair.convertToAssets(fair.balanceOf(safe)));
        (uint256 ca, uint256 da) = adapter.position(Id.unwrap(wethMarket.id()), safe);
        (uint256 cb, uint256 db) = adapter.position(Id.unwrap(wethMarketB.id()), safe);
        v -= int256(da + db);
        v += int256(Math.mulDiv(ca + cb + weth.balanceOf(safe), price, 1e36));
    }

    /// @dev The attack through handleOps: must be refused with ActionNotAllowed(4, SellCollateral) (a not-due
    /// sub-account may not swap), nothing left the Safe; A's rescue alone still lands. On main it is accepted: the log
    /// names the real loss at pA and the allowance (50 bps of A's repayment).
    function _assertNotDueSaleRefused(uint256 sold) internal {
        uint256 repaid = _repayToReach(1.35e18);
        uint256 pA = wethOracle.price();
        emit log_named_uint("A's repayment (its whole counted move)", repaid);
        emit log_named_uint("  allowance at 50 bps", repaid * 50 / 10_000);
        emit log_named_uint("B sells, value at pA", Math.mulDiv(sold, pA, 1e36));
        emit log_named_uint("  value at pB", Math.mulDiv(sold, oracleB.price(), 1e36));
        uint256 snap = vm.snapshotState();
        Holdings memory before = holdings(safe);
        int256 v0 = _value(pA);
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(repaid, sold, FEE_MEDIUM), keeperKey);
        (bool ok, bytes memory reason) = handle(op);
        if (ok) {
            emit log_named_int("ACCEPTED: real loss, all WETH at pA (USDC base units)", v0 - _value(pA));
            emit log_named_uint("  B health after", healthOf(safe, wethMarketB));
        }
        assertFalse(ok, "a not-due lower-oracle sale next to a rescue is refused");
        assertEq(
            reason,
            abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, uint256(4), ActionKind.SellCollateral),
            "ActionNotAllowed(4, SellCollateral)"
        );
        assertNothingLeftBut(before, maxCost(op));
        vm.revertToState(snap);
        handleOk(keeperOp(safe, keeper, _plan(repaid, 0, 0), keeperKey));
        assertGe(healthOf(safe, wethMarket), 1.34e18, "A's honest rescue lands");
        assertLe(v0 - _value(pA), int256(maxCost(op)), "the honest rescue loses nothing but gas");
    }

    /// @dev One shared feed at 0.991 pA, B's oracle at 0.982 pA (each within the default 100 bps of the feed): B sells
    /// 3.8 WETH (about the most its distance to target allows) through the keeper's pool at pB. Main: accepted.
    function test_rev10n_NotDueLowerOracleSaleBleedsTheGap_SharedFeed() public {
        _setup(9_820, 9_910);
        _assertNotDueSaleRefused(3.8e18);
    }

    /// @dev Each policy on its own market oracle (the fixture's default), B's 10% below A's. Main: accepted.
    function test_rev10n_NotDueLowerOracleSaleBleedsTheGap_DifferentFeeds() public {
        _setup(9_000, 0);
        _assertNotDueSaleRefused(3.8e18);
    }

    /* TWO OPERATIONS OF ONE SAFE IN ONE BUNDLE (transient swap outputs) */

    /// @dev Two swap rescues of the same Safe in one handleOps bundle, each listing one sub-account (run index 0 both
    /// times: the same transient swap-output slot): A's (the fixture's WETH market) then B's (a second WETH market at
    /// A's oracle, health 1.05). A slot left over by the first would be read by the second's `_swapGain` as a gain
    /// and refuse it (ValueLossExceeded), or book it a larger loss. Both land, and B's operation books exactly the loss
    /// it books when sent alone after A's (the same state, its own transaction).
    function test_rev10n_TwoSwapRescuesOfOneSafeInOneBundleShareNoSwapOutput() public {
        (, oracleB, wethMarketB) = _lowerOracleTwin(10_000, 40e18, 1.05e18);
        Policy memory b = swapPolicy(wethMarketB, false);
        b.pools = new address[](0);
        wethIdB = setPolicy(b);
        (Plan memory planA,,) = swapDeleverage(1.4e18);
        MarketState memory sB = adapter.marketState(Id.unwrap(wethMarketB.id()), safe);
        uint256 soldB = collateralToSell(sB, 1.4e18);
        // B sells through its own pool (the 0.3% tier at the oracle price): A's sale moves the 0.05% one.
        createPoolAtOraclePrice(address(weth), address(usdc), FEE_MEDIUM, wethOracle.price(), 20_000_000e6, defaultSpread());
        Plan memory planB = deleveragePlan(wethIdB, quoteExactIn(address(weth), address(usdc), FEE_MEDIUM, soldB), soldB, route(FEE_MEDIUM));

        uint256 snap = vm.snapshotState();
        handleOk(keeperOp(safe, keeper, planA, keeperKey));
        handleOk(keeperOp(safe, keeper, planB, keeperKey));
        uint256 lossAlone = module.getEpochUsage(safe, wethIdB).lossPpb;
        uint256 healthAlone = healthOf(safe, wethMarketB);
        vm.revertToState(snap);

        PackedUserOperation[] memory ops = new PackedUserOperation[](2);
        ops[0] = keeperOp(safe, keeper, planA, keeperKey);
        ops[1] = keeperOp(safe, keeper, planB, keeperKey);
        ops[1].nonce = ops[0].nonce + 1;
        ops[1].signature = signKeeper(ops[1], keeperKey);
        (bool[] memory success, bytes[] memory reasons) = handleBundle(ops);
        if (!success[1] && reasons[1].length > 0) emit log_named_bytes("second operation refused", reasons[1]);
        assertTrue(success[0], "A's swap rescue lands");
        assertTrue(success[1], "B's swap rescue in the same bundle lands");
        emit log_named_uint("B's loss (ppb of equity), bundled", module.getEpochUsage(safe, wethIdB).lossPpb);
        emit log_named_uint("B's loss (ppb of equity), alone", lossAlone);
        assertEq(module.getEpochUsage(safe, wethIdB).lossPpb, lossAlone, "B books its own loss only");
        assertEq(healthOf(safe, wethMarketB), healthAlone, "the same landing");
    }
}
