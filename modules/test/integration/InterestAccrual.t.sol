// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Vm} from "forge-std/Test.sol";
import {AdaptiveCurveIrmFixture} from "../utils/AdaptiveCurveIrmFixture.sol";
import {ILeverageModule, Plan, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {MarketParams, Market, Id, Position, IMorphoBase, IMorpho} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MorphoBalancesLib} from "@morpho-org/morpho-blue/src/libraries/periphery/MorphoBalancesLib.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {MarketState, VenueCall} from "../../src/interfaces/IVenueAdapter.sol";

/// @notice A Morpho Blue market with the production AdaptiveCurveIrm: debt accrues interest, health drifts down out of
/// the band while the price stands still, and a keeper rebalance through the real EntryPoint restores it. The module's
/// health (adapter: MorphoBalancesLib expected balances, interest to this block) must equal Morpho's own numbers after
/// `accrueInterest`, so there is no stale-interest window: a plan sized on stale debt cannot pass the band check.
contract InterestAccrualTest is AdaptiveCurveIrmFixture {
    using MarketParamsLib for MarketParams;
    using MorphoBalancesLib for IMorpho;

    uint256 internal constant LIQUIDITY = 10_000_000e6;
    /// @dev 10 WETH at 3,000 USDC, LLTV 0.86: 25,800 borrowing power; 20,640 of debt is health 1.25 (band 1.2-1.7).
    uint256 internal constant DEBT = 20_640e6;

    MarketParams internal market;
    bytes32 internal id;

    function setUp() public override {
        super.setUp();
        irm = deployAdaptiveCurveIrm();
        market = createIrmMarket(address(weth), address(wethOracle), LIQUIDITY);
        openPosition(safe, market, 10e18, DEBT);
        depositToVault(safe, usdcVault, 10_000e6);
        id = setPolicyFor(safe, defaultPolicy(market, address(usdcVault)));
        // Another borrower brings the market to the IRM's 90% target utilisation: about 4% APR.
        borrowElsewhere(market, (LIQUIDITY * 9) / 10 - DEBT);
        // The Fixture's keeper key expires after 30 days; these tests let a year pass.
        safeCall(abi.encodeCall(ILeverageModule.addKeeper, (keeper, 0, uint48(block.timestamp + 800 days))));
    }

    function test_PublishedBytecodeIsTheAdaptiveCurveIrm() public {
        assertEq(irm.MORPHO(), address(morpho), "MORPHO()");
        assertTrue(morpho.isIrmEnabled(address(irm)), "enabled in Morpho");
        assertEq(irm.rateAtTarget(market.id()), INITIAL_RATE_AT_TARGET, "initial rate at target, set by createMarket");
        assertEq(utilization(market), 0.9e18, "at target utilisation");
        assertApproxEqRel(borrowApr(market), 0.04e18, 1e12, "4% APR at target");

        // The curve around the target: a quarter of the rate when idle, four times when fully used.
        Market memory m = morpho.market(market.id());
        m.totalBorrowAssets = 0;
        assertApproxEqRel(irm.borrowRateView(market, m) * 365 days, 0.01e18, 1e12, "1% APR when idle");
        m.totalBorrowAssets = m.totalSupplyAssets;
        assertApproxEqRel(irm.borrowRateView(market, m) * 365 days, 0.16e18, 1e12, "16% APR when fully used");

        // A year later the debt has grown by about e^0.04 - 1 (a little more: utilisation creeps up with interest).
        uint256 debtBefore = morpho.market(market.id()).totalBorrowAssets;
        vm.warp(block.timestamp + 365 days);
        morpho.accrueInterest(market);
        uint256 growth = (uint256(morpho.market(market.id()).totalBorrowAssets) * 1e18) / debtBefore - 1e18;
        assertGt(growth, 0.0408e18, "at least e^0.04 - 1");
        assertLt(growth, 0.045e18, "no runaway rate at target");
        // The IRM adapts on the utilisation at the start of each period: exactly 90% so far, so no change yet; interest
        // has since pushed utilisation above the target, so the next period raises the rate at target.
        assertEq(irm.rateAtTarget(market.id()), INITIAL_RATE_AT_TARGET, "no adaptation at exactly 90%");
        assertGt(utilization(market), 0.9e18, "interest raised utilisation");
        vm.warp(block.timestamp + 30 days);
        morpho.accrueInterest(market);
        assertGt(irm.rateAtTarget(market.id()), INITIAL_RATE_AT_TARGET, "rate at target adapted upwards above 90%");
    }

    function test_InterestPushesHealthOutOfBandAndKeeperRestoresIt() public {
        uint256 health = healthOf(safe, market);
        assertApproxEqAbs(health, 1.25e18, 1e12, "starts inside the band");
        uint256 weeks_;
        while (health >= 1.2e18) {
            vm.warp(block.timestamp + 7 days);
            require(++weeks_ < 104, "interest never crossed the band edge");
            uint256 viewHealth = healthOf(safe, market);
            uint256 stale = storedHealth(safe, market);
            assertLt(viewHealth, health, "interest lowers health at a fixed price");
            assertLt(viewHealth, stale, "Morpho's storage lags until someone accrues");
            // Anyone may accrue; the module's view must not move, and must equal Morpho's own numbers after it.
            morpho.accrueInterest(market);
            assertEq(healthOf(safe, market), viewHealth, "module health unchanged by accrueInterest");
            assertEq(storedHealth(safe, market), viewHealth, "module health == Morpho's after accrual");
            health = viewHealth;
        }
        assertGt(weeks_, 40, "about a year at ~4% APR");
        emit log_named_uint("weeks until health < 1.2", weeks_);

        // The keeper repays from the pool down to the target, sized on the debt with interest to this block.
        wethOracle.setPrice(3000e18); // a fresh oracle round (maxOracleAge is one hour)
        (, uint256 debt) = adapter.position(Id.unwrap(market.id()), safe);
        uint256 repay = debt - debtAtHealth(safe, market, 1.4e18);
        Plan memory plan = plan1(
            id,
            action(ActionKind.WithdrawFromPool, 0, address(usdcVault), repay),
            action(ActionKind.Repay, 0, address(0), repay)
        );
        (uint256 before, uint256 afterwards) = handleRebalance(keeperOp(safe, keeper, plan, keeperKey));
        assertEq(before, health, "module's health before == the accrued health");
        assertEq(afterwards, healthOf(safe, market), "module's health after == adapter view");
        assertEq(afterwards, storedHealth(safe, market), "module's health after == Morpho's");
        assertGe(afterwards, 1.2e18, "back inside the band");
        assertApproxEqAbs(afterwards, 1.4e18, 0.0001e18, "at the target");
    }

    /// @dev Issue 15: `position` reads one `extSloads` (no accrual when the market was touched this block) and falls back
    /// to the accruing getters otherwise; on both paths it must equal `marketState` (the getters plus the IRM view).
    function testFuzz_PositionEqualsMarketStateWithAndWithoutAccrual(uint32 elapsed) public {
        elapsed = uint32(bound(elapsed, 1, 730 days));
        vm.warp(block.timestamp + elapsed);
        bytes32 key = Id.unwrap(market.id());
        MarketState memory state = adapter.marketState(key, safe);
        (uint256 collateral, uint256 debt) = adapter.position(key, safe);
        assertEq(collateral, state.collateral, "collateral, stale market");
        assertEq(debt, state.debt, "debt, stale market: accrued in the view");
        assertGt(debt, DEBT, "interest accrued");
        morpho.accrueInterest(market);
        state = adapter.marketState(key, safe);
        (collateral, debt) = adapter.position(key, safe);
        assertEq(collateral, state.collateral, "collateral, accrued this block");
        assertEq(debt, state.debt, "debt, accrued this block: stored totals");
    }

    /// @dev Issue 15: `marketState` reads the position and the borrow totals with one `extSloads` (no `position` /
    /// `market` getters) and accrues only when the market was not touched this block; on both paths its collateral and
    /// debt must be Morpho's own (`position` getter, MorphoBalancesLib's expected borrow assets: interest to now), and
    /// `encode(Repay)` (params read in the same `extSloads` as the debt) must name the market's params.
    function testFuzz_MarketStateIsMorphosExpectedPosition(uint32 elapsed) public {
        elapsed = uint32(bound(elapsed, 1, 730 days));
        vm.warp(block.timestamp + elapsed);
        bytes32 key = Id.unwrap(market.id());
        for (uint256 pass; pass < 2; ++pass) {
            MarketState memory state = adapter.marketState(key, safe);
            Position memory p = morpho.position(market.id(), safe);
            assertEq(state.collateral, p.collateral, "collateral: Morpho's position");
            assertEq(state.debt, morpho.expectedBorrowAssets(market, safe), "debt: Morpho's expected borrow assets");
            assertEq(state.loanToken, market.loanToken, "loan token");
            assertEq(state.lltv, market.lltv, "lltv");
            VenueCall memory call = adapter.encode(uint8(ActionKind.Repay), key, 1e6, safe);
            assertEq(call.data, abi.encodeCall(IMorphoBase.repay, (market, 1e6, 0, safe, "")), "repay names the params");
            assertEq(call.approveToken, market.loanToken, "repay approves the loan token");
            if (pass == 0) {
                assertGt(state.debt, DEBT, "interest accrued in the view");
                morpho.accrueInterest(market);
            }
        }
    }

    function test_PlanSizedOnStaleDebtCannotPassTheBandCheck() public {
        // Half a year in which nobody touches the market, then a 5% price drop.
        vm.warp(block.timestamp + 182 days);
        wethOracle.setPrice(2850e18);
        uint256 stale = storedHealth(safe, market);
        uint256 real = healthOf(safe, market);
        assertApproxEqAbs(stale, 1.1875e18, 1e12, "Morpho's storage: 1.25 * 0.95, no interest");
        assertLt(real, stale - 0.02e18, "with half a year of interest the position is worse");

        // A keeper reading Morpho's storage sizes the repay to land just inside the band (1.21) on stale debt.
        uint256 staleRepay = storedDebt(safe, market) - debtAtHealth(safe, market, 1.21e18);
        // What that repay really leaves, per Morpho itself (it accrues before the repay), in a throwaway state.
        uint256 snapshot = vm.snapshotState();
        ownerRepayFromPool(safe, market, address(usdcVault), staleRepay);
        uint256 realAfter = storedHealth(safe, market);
        vm.revertToState(snapshot);
        assertLt(realAfter, 1.2e18, "the stale plan leaves the position below the band");

        Plan memory plan = plan1(
            id,
            action(ActionKind.WithdrawFromPool, 0, address(usdcVault), staleRepay),
            action(ActionKind.Repay, 0, address(0), staleRepay)
        );
        (bool success, bytes memory reason) = handle(keeperOp(safe, keeper, plan, keeperKey));
        assertFalse(success, "refused");
        assertEq(
            reason,
            abi.encodeWithSelector(ILeverageModule.HealthOutOfBand.selector, id, realAfter, 1.2e18, 1.7e18),
            "judged on the accrued debt, with exactly Morpho's post-trade health"
        );
        assertEq(healthOf(safe, market), real, "nothing moved");

        // The same keeper sizing on the accrued debt (the adapter's view) gets through.
        (, uint256 debt) = adapter.position(Id.unwrap(market.id()), safe);
        uint256 repay = debt - debtAtHealth(safe, market, 1.4e18);
        plan = plan1(
            id,
            action(ActionKind.WithdrawFromPool, 0, address(usdcVault), repay),
            action(ActionKind.Repay, 0, address(0), repay)
        );
        (uint256 before, uint256 afterwards) = handleRebalance(keeperOp(safe, keeper, plan, keeperKey));
        assertEq(before, real, "health before: accrued, not Morpho's stale storage");
        assertEq(afterwards, storedHealth(safe, market), "health after == Morpho's");
        assertApproxEqAbs(afterwards, 1.4e18, 0.0001e18, "at the target");
    }

    /// @dev Issue 10 item 2: interest alone pushes a position just below minHealth; a keeper used to land it a few wei
    /// above, so that one block of interest re-triggered it (a fee-paying rebalance every block). It must now move at
    /// least half way from the edge to the target, from where interest alone takes months to reach the edge again.
    function test_Attack20_OneBlockOfInterestCannotRetriggerALandedSubAccount() public {
        while (healthOf(safe, market) >= 1.2e18) vm.warp(block.timestamp + 1 days);
        wethOracle.setPrice(3000e18); // a fresh round at the same price
        uint256 before = healthOf(safe, market);
        assertGt(before, 1.19e18, "just below the band, by interest");
        (, uint256 debt) = adapter.position(Id.unwrap(market.id()), safe);
        uint256 sliver = debt - debtAtHealth(safe, market, 1.2e18 + 1e9);

        // What the old landing would have become a block later, in a throwaway state.
        uint256 snapshot = vm.snapshotState();
        ownerRepayFromPool(safe, market, address(usdcVault), sliver);
        assertGe(healthOf(safe, market), 1.2e18, "a few wei above minHealth");
        vm.warp(block.timestamp + 12);
        assertLt(healthOf(safe, market), 1.2e18, "one block of interest re-triggers it");
        vm.revertToState(snapshot);

        (bool success, bytes memory reason) = handle(keeperOp(safe, keeper, _repay(sliver), keeperKey));
        assertFalse(success, "refused");
        assertEq(bytes4(reason), ILeverageModule.HealthOutsideLandingZone.selector, "outside the landing zone");

        uint256 repay = debt - debtAtHealth(safe, market, before + 0.1e18 + 1e12);
        (, uint256 landed) = handleRebalance(keeperOp(safe, keeper, _repay(repay), keeperKey));
        assertGe(landed, before + 0.1e18, "moved at least half way from the edge to the target");
        vm.warp(block.timestamp + 12);
        wethOracle.setPrice(3000e18);
        (success, reason) = handle(keeperOp(safe, keeper, _repay(1e6), keeperKey));
        assertFalse(success);
        assertEq(reason, abi.encodeWithSelector(ILeverageModule.NoTrigger.selector), "a block later, nothing is due");
        vm.warp(block.timestamp + 30 days);
        assertGe(healthOf(safe, market), 1.2e18, "a month of interest does not reach the band edge either");
    }

    function _repay(uint256 amount) internal view returns (Plan memory) {
        return plan1(id, action(ActionKind.WithdrawFromPool, 0, address(usdcVault), amount), action(ActionKind.Repay, 0, address(0), amount));
    }

    /// @dev handleOps for one keeper operation that must succeed; returns the module's Rebalanced health figures.
    function handleRebalance(PackedUserOperation memory op) internal returns (uint256 before, uint256 afterwards) {
        Vm.Log[] memory logs = handleLogged(op);
        bytes32 rebalanced = keccak256("Rebalanced(address,address,bytes32[],uint256[],uint256[],uint256)");
        bool found;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(module) || logs[i].topics[0] != rebalanced) continue;
            (, uint256[] memory b, uint256[] memory a,) =
                abi.decode(logs[i].data, (bytes32[], uint256[], uint256[], uint256));
            (before, afterwards, found) = (b[0], a[0], true);
        }
        require(found, "no Rebalanced event: the operation failed");
    }
}
