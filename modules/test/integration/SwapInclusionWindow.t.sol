// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SwapBase} from "../utils/SwapBase.sol";
import {ILeverageModule, Policy, Plan} from "../../src/interfaces/ILeverageModule.sol";

/// @notice Issue 12 review finding B: a swap deleverage fixes its repayment X when the keeper quotes, while the module
/// computes the sale's minimum output from the oracle at inclusion (`SaleExceedsRepayment` when it exceeds X) and Morpho
/// pulls X from the Safe after the sale (`transferFrom reverted` when the sale paid less). So X must lie in
/// [minimum at inclusion, sale output at inclusion]. The keeper plans X with the solver's take rule (`swapPlanTake` in
/// bundler-client/src/solver/swapDeleverage.ts): X = m + b (E' - m), m the minimum at the quote's oracle price,
/// E' = E (1 - r) the quoted output E less the repay margin r, b = SWAP_PLAN_TAKE_BIAS. It lands after a pool drop of
/// up to (E - X) / E = r + (1 - b)(E' - m) / E and an oracle rise of up to (X - m) / m = b (E' - m) / m.
/// Here the plan is quoted on the real Uniswap v3 pool (QuoterV2), then another account trades the pool (or the oracle
/// moves) before `EntryPoint.handleOps`, as between a keeper's quote and its operation's inclusion.
contract SwapInclusionWindowTest is SwapBase {
    /// @dev SWAP_PLAN_TAKE_BIAS (0.2) and SWAP_REPAY_MARGIN (2e-4), in millionths, as the keeper's settlement applies
    /// them (`settleSwapAmounts`); bundler-client/src/solver/swapDeleverage.test.ts checks they mirror the TypeScript constants.
    uint256 internal constant TAKE_BIAS_PPM = 200_000;
    uint256 internal constant REPAY_MARGIN_PPM = 200;

    /// @dev A keeper's quote of the rescue to 1.4: the WETH sold, its quoted output E, its on-chain minimum m at the
    /// quote's oracle price, and the repayment X the take rule plans.
    struct Quote {
        uint256 sold;
        uint256 expected;
        uint256 minimum;
        uint256 take;
        uint16 bound;
    }

    /// @dev The WETH policy with `bound` as maxSlippageBps; maxLossBps at least the bound (a move inside the bound is
    /// then a loss the per-operation rule allows, so only the take decides).
    function _useBound(uint16 bound) internal {
        Policy memory p = swapPolicy(wethMarket, false);
        p.maxSlippageBps = bound;
        if (p.maxLossBps < bound) p.maxLossBps = bound;
        wethId = setPolicy(p);
    }

    function _minimum(uint256 sold, uint16 bound) internal view returns (uint256) {
        uint256 fair = Math.mulDiv(sold, wethOracle.price(), 1e36);
        return Math.mulDiv(fair, 10_000 - bound, 10_000, Math.Rounding.Ceil);
    }

    /// @dev The keeper's take: swapRepayMargin(bound) = min(2 bp, 5 % of the bound); X = m + b (E' - m), never below m.
    function _quote(uint16 bound) internal returns (Quote memory q) {
        q.bound = bound;
        q.sold = wethToSell(1.4e18);
        q.expected = quoteExactIn(address(weth), address(usdc), FEE_LOW, q.sold);
        q.minimum = _minimum(q.sold, bound);
        uint256 marginPpm = Math.min(REPAY_MARGIN_PPM, uint256(bound) * 5);
        uint256 top = q.expected * (1e6 - marginPpm) / 1e6;
        q.take = top <= q.minimum ? top : q.minimum + (top - q.minimum) * TAKE_BIAS_PPM / 1e6;
        assertGt(q.take, q.minimum, "the take sits above the on-chain minimum");
        assertLt(q.take, q.expected, "the take sits below the quoted output");
    }

    function _plan(Quote memory q) internal view returns (Plan memory) {
        return deleveragePlan(q.take, q.sold, route(FEE_LOW));
    }

    /// @dev (E - X) / E and (X - m) / m in hundredths of a bp: the pool drop and the oracle rise the take absorbs.
    function _tolerances(Quote memory q) internal pure returns (uint256 poolDrop, uint256 oracleRise) {
        poolDrop = (q.expected - q.take) * 1e6 / q.expected;
        oracleRise = (q.take - q.minimum) * 1e6 / q.minimum;
    }

    /// @dev Another account trades WETH into the 0.05 % pool until its price is `bps` lower (the sandwicher's helper).
    function _dropPool(uint256 bps) internal {
        frontRun(address(weth), address(usdc), FEE_LOW, bps);
    }

    /// @dev Oracle (Morpho price and feed) up by `centiBps` hundredths of a bp.
    function _raiseOracle(uint256 centiBps) internal {
        wethOracle.setPrice(Math.mulDiv(wethOracle.price() / 1e6, 1e6 + centiBps, 1e6));
    }

    /// @dev The rescue landed: health in the band (the landing zone from 1.2 up), nothing of the sale's output owed, and
    /// what the sale paid above X left idle in the Safe.
    function _assertLanded(Quote memory q, uint256 debtBefore) internal view {
        uint256 health = healthOf(safe, wethMarket);
        assertGe(health, 1.2e18, "health reaches the band");
        assertLe(health, 1.7e18, "health stays under the band's top");
        assertApproxEqAbs(debtBefore - wethState().debt, q.take, 1, "the debt fell by the planned take");
        assertGt(usdc.balanceOf(safe), 0, "the sale paid more than the take");
    }

    function _landsAfterPoolDrop(uint16 bound, uint256 bps) internal {
        _useBound(bound);
        Quote memory q = _quote(bound);
        uint256 debtBefore = wethState().debt;
        _dropPool(bps);
        assertLt(quoteExactIn(address(weth), address(usdc), FEE_LOW, q.sold), q.expected, "the pool moved against the sale");
        handleOk(keeperOp(safe, keeper, _plan(q), keeperKey));
        _assertLanded(q, debtBefore);
    }

    /* THE POOL MOVES BETWEEN QUOTE AND INCLUSION */

    /// @notice Review finding B's repro (a 10 bp move under the default 50 bp bound reverted main's rescue): it lands.
    function test_PoolDrop10BpBetweenQuoteAndInclusion_RescueLands() public {
        _landsAfterPoolDrop(50, 10);
    }

    /// @notice 25 bp under a 50 bp bound: inside the take's pool tolerance (28.5 bp for this sale, whose fee and impact
    /// are about 14.5 bp).
    function test_PoolDrop25BpUnderA50BpBound_RescueLands() public {
        _landsAfterPoolDrop(50, 25);
    }

    /// @notice 50 bp under a 100 bp bound (tolerance 68.5 bp): lands.
    function test_PoolDrop50BpUnderA100BpBound_RescueLands() public {
        _landsAfterPoolDrop(100, 50);
    }

    /// @notice 32 bp under a 50 bp bound (tolerance 28.5 bp): the sale still clears its on-chain minimum, but pays less than the take X;
    /// Morpho's pull of X at the end of the callback fails and the whole operation reverts, nothing leaves the Safe.
    function test_PoolDropPastTheTakeTolerance_VenuePullFails() public {
        _useBound(50);
        Quote memory q = _quote(50);
        _dropPool(32);
        uint256 output = quoteExactIn(address(weth), address(usdc), FEE_LOW, q.sold);
        assertLt(output, q.take, "the sale now pays less than the take");
        assertGe(output, _minimum(q.sold, 50), "yet more than its on-chain minimum");
        expectOpFails(_plan(q), actionFailed(0, abi.encodeWithSignature("Error(string)", "transferFrom reverted")));
    }

    /// @notice 60 bp under a 50 bp bound: the router refuses the sale itself (its minimum is the module's).
    function test_PoolDropPastTheBound_RouterRefusesTheSale() public {
        _useBound(50);
        Quote memory q = _quote(50);
        _dropPool(60);
        assertLt(quoteExactIn(address(weth), address(usdc), FEE_LOW, q.sold), _minimum(q.sold, 50));
        expectOpFails(_plan(q), actionFailed(0, actionFailed(2, abi.encodeWithSignature("Error(string)", "Too little received"))));
    }

    /* THE ORACLE MOVES BETWEEN QUOTE AND INCLUSION */

    /// @notice An oracle tick up of 5 bp (inside b (E' - m) / m, 6.6 bp here): the minimum at inclusion is still
    /// at most X; lands.
    function test_OracleRise5BpBetweenQuoteAndInclusion_RescueLands() public {
        _useBound(50);
        Quote memory q = _quote(50);
        uint256 debtBefore = wethState().debt;
        _raiseOracle(500);
        assertGt(_minimum(q.sold, 50), q.minimum, "the minimum rose");
        handleOk(keeperOp(safe, keeper, _plan(q), keeperKey));
        _assertLanded(q, debtBefore);
    }

    /// @notice An oracle rise of 15 bp (past 6.6 bp): the sale's minimum at inclusion exceeds the repayment, which the module refuses
    /// before anything runs (the sale would leave part of its minimum idle).
    function test_OracleRisePastTheTake_SaleExceedsRepayment() public {
        _useBound(50);
        Quote memory q = _quote(50);
        _raiseOracle(1_500);
        uint256 minimum = _minimum(q.sold, 50);
        assertGt(minimum, q.take);
        expectOpFails(_plan(q), abi.encodeWithSelector(ILeverageModule.SaleExceedsRepayment.selector, wethId, minimum, q.take));
    }

    /* MEASURED TOLERANCE */

    /// @notice The largest pool drop (whole bp) and oracle rise (hundredths of a bp) at which the quoted rescue still
    /// lands, found by bisection through handleOps, equal the take rule's (E - X) / E and (X - m) / m within one step;
    /// under both a 50 and a 100 bp bound.
    function test_MeasuredToleranceMatchesTheTakeRule() public {
        _measure(50);
        _measure(100);
    }

    function _measure(uint16 bound) internal {
        uint256 start = vm.snapshotState();
        _useBound(bound);
        uint256 base = vm.snapshotState();
        Quote memory q = _quote(bound);
        (uint256 poolDrop, uint256 oracleRise) = _tolerances(q);
        // Pool drop, whole bp: lands at lo, fails at hi.
        (uint256 lo, uint256 hi) = (0, bound);
        while (hi - lo > 1) {
            uint256 mid = (lo + hi) / 2;
            if (_landsAfter(base, q, mid, 0)) lo = mid;
            else hi = mid;
        }
        emit log_named_uint("bound (bp)", bound);
        emit log_named_uint("pool drop tolerated, measured (bp)", lo);
        emit log_named_decimal_uint("pool drop tolerated, (E - X) / E (bp)", poolDrop, 2);
        assertApproxEqAbs(lo * 100, poolDrop, 100, "pool tolerance = (E - X) / E");
        // Oracle rise, hundredths of a bp.
        (lo, hi) = (0, 10_000);
        while (hi - lo > 1) {
            uint256 mid = (lo + hi) / 2;
            if (_landsAfter(base, q, 0, mid)) lo = mid;
            else hi = mid;
        }
        emit log_named_decimal_uint("oracle rise tolerated, measured (bp)", lo, 2);
        emit log_named_decimal_uint("oracle rise tolerated, (X - m) / m (bp)", oracleRise, 2);
        assertApproxEqAbs(lo, oracleRise, 2, "oracle tolerance = (X - m) / m");
        vm.revertToState(start);
    }

    function _landsAfter(uint256 base, Quote memory q, uint256 poolBps, uint256 oracleCentiBps) internal returns (bool ok) {
        vm.revertToState(base);
        if (poolBps > 0) _dropPool(poolBps);
        if (oracleCentiBps > 0) _raiseOracle(oracleCentiBps);
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(q), keeperKey);
        (ok,) = handle(op);
    }
}
