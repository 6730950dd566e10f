// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {console2} from "forge-std/console2.sol";
import {Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib, MarketParams} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";

import {SwapBase} from "../utils/SwapBase.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";

/// @notice Review rr13s of the owner's stop-loss (docs/reviews/issue13-rr13s.md). Each test is skipped unless
/// RR13S_FAILING=true and FAILS TODAY when enabled; it passes once the finding is fixed.
/// Run: RR13S_FAILING=true node scripts/forge.mjs test --match-path modules/test/attacks/Rr13sStopLoss.t.sol
contract Rr13sStopLossTest is SwapBase {
    using MarketParamsLib for MarketParams;

    uint64 internal constant EXIT = 3e18;

    function setUp() public virtual override {
        super.setUp();
        moveWethHealthTo(1.5e18); // inside the band [1.2, 1.7], as StopLossAttacks.t.sol
    }

    function _health() internal view returns (uint256) {
        return module.health(safe, wethId);
    }

    /// @dev StopLossAttacks.t.sol's one-pass boost: Borrow, BuyCollateral (0.05%), SupplyCollateral.
    function _boostTo(uint256 target) internal returns (Plan memory plan, uint256 borrowed, uint256 bought) {
        borrowed = usdcToBorrow(target);
        bought = quoteExactIn(address(usdc), address(weth), FEE_LOW, borrowed);
        Action[] memory actions = new Action[](3);
        actions[0] = action(ActionKind.Borrow, 0, address(0), borrowed);
        actions[1] = action(ActionKind.BuyCollateral, 0, route(FEE_LOW), borrowed);
        actions[2] = action(ActionKind.SupplyCollateral, 0, address(0), bought);
        plan = planOf(wethId, actions);
    }

    function _enabled() internal {
        vm.skip(!vm.envOr("RR13S_FAILING", false));
    }

    /// rr13s S1 FAILS TODAY: the stop price is a uint128 but the venue price it is compared with is the 1e36-scaled
    /// base-unit price (Morpho's oracle; Aave's adapter uses the same PRICE_SCALE). WBTC (8 decimals) / USDC (6) at
    /// 60,000 is 1e36 x 60,000e6 / 1e8 = 6e38 > type(uint128).max (3.4e38): no stop can be set anywhere near the
    /// price (the highest settable stop is 34,028 USDC per WBTC); the SDK's setStopLoss refuses it as "stopPrice".
    /// Expected: the owner sets a stop 10 % under the price and reads it back.
    function test_rr13s_S1_FAILS_TODAY_StopPriceUint128TooNarrowForBtcUsdc() public {
        // Fixed on f13g: runs by default (no RR13S_FAILING needed).
        bytes32 id = setPolicy(defaultPolicy(wbtcMarket, address(0)));
        uint256 price = adapter.marketState(Id.unwrap(wbtcMarket.id()), safe).price;
        assertGt(price, type(uint128).max, "WBTC/USDC's venue price exceeds uint128");
        uint256 stopPrice = price * 90 / 100;
        vm.prank(safe);
        (bool ok,) = safe.call(abi.encodeWithSelector(ILeverageModule.setStopLoss.selector, id, stopPrice, EXIT));
        assertTrue(ok, "a stop 10% under the WBTC/USDC price can be set");
        assertEq(uint256(module.getStopLoss(safe, id).stopPrice), stopPrice, "and is stored as set");
    }

    /// rr13s S2 FAILS TODAY: the re-arm price is stopPrice x (1 + maxOracleDeviationBps), and neither setStopLoss nor
    /// setPolicy asks for a non-zero deviation (nor a price feed). A policy without a feed (maxOracleDeviationBps 0) has no
    /// hysteresis at all: exit to exitHealth at the stop, boost back at +1 bp, exit again at the stop, each leg a swap of
    /// about the position's size (the churn the design's rule 5 says the hysteresis prevents).
    /// Expected: the boost 1 bp above the stop right after the exit is refused (or the stop refused without a hysteresis).
    function test_rr13s_S2_FAILS_TODAY_NoFeedStopHasNoHysteresis_ExitBoostChurn() public {
        // Fixed on f13g: runs by default (no RR13S_FAILING needed).
        Policy memory p = swapPolicy(wethMarket, true);
        p.priceFeed = address(0); // allowed: then maxOracleDeviationBps is not used by the oracle check
        p.maxOracleDeviationBps = 0;
        wethId = setPolicy(p);
        uint256 stopPrice = wethState().price;
        int256 equity0 = wethState().equity;
        vm.prank(safe);
        (bool set,) = safe.call(abi.encodeCall(ILeverageModule.setStopLoss, (wethId, uint192(stopPrice), EXIT)));
        if (!set) return; // fixed by refusing a stop without a real hysteresis
        (Plan memory exitPlan,,) = swapDeleverage(2.9e18);
        (bool ok,) = handle(keeperOp(safe, keeper, exitPlan, keeperKey));
        assertTrue(ok, "exit at the stop");
        uint256 exited = _health();
        // The price rises by 1 bp: above the re-arm price stop x (1 + 0).
        wethOracle.setPrice(stopPrice * 10_001 / 10_000 / 1e6);
        alignPoolToPrice(wethPool, address(weth), wethOracle.price());
        (Plan memory boost,,) = _boostTo(1.65e18);
        (bool boosted,) = handle(keeperOp(safe, keeper, boost, keeperKey));
        uint256 reboosted = _health();
        // And back to the stop: the exit is due again.
        wethOracle.setPrice(stopPrice / 1e6);
        alignPoolToPrice(wethPool, address(weth), wethOracle.price());
        (exitPlan,,) = swapDeleverage(2.9e18);
        (bool exitedAgain,) = handle(keeperOp(safe, keeper, exitPlan, keeperKey));
        int256 equity1 = wethState().equity;
        console2.log("health after exit / boost / exit (1e15):", exited / 1e15, reboosted / 1e15, _health() / 1e15);
        console2.log("boosted, exited again:", boosted, exitedAgain);
        console2.log("position equity before / after one cycle (USDC base units):");
        console2.logInt(equity0);
        console2.logInt(equity1);
        assertFalse(boosted, "no boost 1 bp above the stop right after an exit (hysteresis)");
    }

    /// rr13s S4 FAILS TODAY: while the stop is engaged every plan that gains MIN_BAND_GAP (0.01) of health is a valid
    /// exit, so a keeper (a compromised one of several, or one about to be revoked) spends the epoch's
    /// maxRebalancesPerEpoch (10) on ten +0.015 exits (1.5 -> ~1.65) exactly when the price is at the stop, i.e. falling.
    /// When the fall continues below minHealth, the rescue is refused (EpochRebalanceCapExceeded) until the epoch ends
    /// (epochLength 1 day): revoking the keeper does not give the protection back. Before the stop a keeper could spend a
    /// rebalance only on a rescue landing in the landing zone. Expected: the rescue from 1.1 is accepted (e.g. a stop exit
    /// must reach exitHealth or a large fixed step, or exits do not spend the count rescues need).
    function test_rr13s_S4_FAILS_TODAY_SmallStopExitsSpendTheRescuesRebalanceCap() public {
        _enabled();
        _setStop(wethState().price, EXIT);
        for (uint256 k; k < 10; ++k) {
            (Plan memory small,,) = swapDeleverage(_health() + 0.015e18);
            (bool ok,) = handle(keeperOp(safe, keeper, small, keeperKey));
            assertTrue(ok, "a +0.015 exit while engaged");
        }
        console2.log("health after ten small exits (1e15):", _health() / 1e15);
        moveWethHealthTo(1.1e18); // the fall goes on (still engaged), below minHealth 1.2
        (Plan memory rescue,,) = swapDeleverage(1.5e18);
        (bool rescued, bytes memory reason) = handle(keeperOp(safe, keeper, rescue, keeperKey));
        if (!rescued) console2.logBytes(reason);
        assertTrue(rescued, "the rescue from below minHealth is still possible in the same epoch");
    }

    function _setStop(uint256 stopPrice, uint64 exitHealth) internal {
        vm.prank(safe);
        ILeverageModule(safe).setStopLoss(wethId, uint192(stopPrice), exitHealth);
    }
}
