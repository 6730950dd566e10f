// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SwapBase} from "../utils/SwapBase.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {HealthLib} from "../../src/libraries/HealthLib.sol";
import {ConstantsLib} from "../../src/libraries/ConstantsLib.sol";

/// @notice Review rr13w of f13m's cap-bound rule (SECURITY.md rows 127, 130, 138): a step was cap-bound when
/// min(moved, honest) >= cap - cap / 100, where a plan with swaps has honest = min(swapCap x (2 - l), plainCap + 2 x
/// swapped) (`RebalanceLib._caps`). A COMPROMISED keeper mixes a small swap deleverage (sell x of WETH, repay its output
/// inside a callback) with a pool repayment R so that R + 2x ~ 498 (cap 500) and the health gain is only MIN_BAND_GAP:
/// the `+ 2 x swapped` term made the honest charge plainCap(+0.0102) ~209 + 2 x 174 ~ 557 >= 495, so the step was
/// cap-bound although a plain repayment of the same cap from the same pool gains ~0.029. Deleverage-only policy (no
/// boostAllowed), one sub-account, no second WETH position: the swap replaced rr13v's second sub-account as the padding.
/// Ten such steps spent maxRebalancesPerEpoch with the Safe below its band; the honest keeper's rescue was then refused
/// EpochRebalanceCapExceeded(wethId, 11, 10) until the epoch ended.
/// Fixed (w1r, `RebalanceLib._capBound`): a cap-bound step that swaps must be the buffers' rescue alone (the health it
/// reached needs a plain move of >= 99 % of the cap) or the sale's alone (twice its swapped value >= 99 % of the cap).
/// The mixed step is neither (plain ~209, sale 2 x 174 = 348), so it is refused HealthOutOfBand and spends nothing.
contract CapBoundMixedSwapRr13wTest is SwapBase {
    uint256 internal constant CAP = 500e6;
    uint256 internal constant MOVE = 498e6; // >= CAP - CAP / 100
    uint256 internal constant STEP = 0.0102e18; // MIN_BAND_GAP plus rounding margin
    uint256 internal honestKey = 0xB0B;
    address internal honestKeeper;

    function setUp() public override {
        super.setUp(); // WETH at health 1.02, no idle USDC, swap policy (50 bps, deleverage-only)
        depositToVault(safe, usdcVault, 10_000e6);
        Policy memory p = swapPolicy(wethMarket, false);
        p.maxAmountPerRebalance = uint128(CAP);
        wethId = setPolicy(p);
        honestKeeper = vm.addr(honestKey);
        safeCall(abi.encodeCall(ILeverageModule.addKeeper, (honestKeeper, 0, uint48(block.timestamp + 30 days))));
    }

    /// @dev The mixed step: sell x (value) of WETH through the 0.05 % pool and repay its quoted output in a callback,
    /// plus WithdrawFromPool R / Repay R, with R + 2x ~ MOVE and health + `step`:
    /// R h1 + x (h1 (1 - l) - lltv) = gap and R = MOVE - x (2 - l)  =>  x = (h1 MOVE - gap) / (h1 + lltv).
    function _mixedPlan() internal returns (Plan memory plan, uint256 r, uint256 sold, uint256 repaidInCallback) {
        return _mixedPlan(STEP);
    }

    function _mixedPlan(uint256 step) internal returns (Plan memory plan, uint256 r, uint256 sold, uint256 repaidInCallback) {
        MarketState memory st = wethState();
        uint256 value = Math.mulDiv(st.collateral, st.price, 1e36);
        uint256 h1 = st.health + step;
        uint256 gap = (h1 * st.debt - value * st.lltv) / 1e18;
        uint256 x = Math.mulDiv(Math.mulDiv(h1, MOVE, 1e18) - gap, 1e18, h1 + st.lltv);
        sold = Math.mulDiv(x, 1e36, st.price);
        repaidInCallback = quoteExactIn(address(weth), address(usdc), FEE_LOW, sold);
        uint256 valueAfter = Math.mulDiv(st.collateral - sold, st.price, 1e36);
        uint256 debtAfter = Math.mulDiv(valueAfter, st.lltv, h1);
        r = st.debt - repaidInCallback - debtAfter;
        Action[] memory actions = new Action[](6);
        actions[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), r);
        actions[1] = action(ActionKind.Repay, 0, address(0), r);
        actions[2] = action(ActionKind.RepayWithCallback, 0, address(0), repaidInCallback);
        actions[3] = action(ActionKind.WithdrawCollateral, 0, address(0), sold);
        actions[4] = action(ActionKind.SellCollateral, 0, route(FEE_LOW), sold);
        actions[5] = action(ActionKind.EndCallback, 0, address(0), 0);
        plan = planOf(wethId, actions);
    }

    function _honestPlan() internal view returns (Plan memory) {
        return plan1(
            wethId,
            action(ActionKind.WithdrawFromPool, 0, address(usdcVault), CAP),
            action(ActionKind.Repay, 0, address(0), CAP)
        );
    }

    /// @dev Held (control): five plain cap repayments from the pool reach the band from 1.02 (each +~0.03, cap-bound).
    function test_Held_HonestCapRescues_ReachTheBand() public {
        uint256 n;
        while (healthOf(safe, wethMarket) < 1.2e18 && n < 10) {
            handleOk(keeperOp(safe, honestKeeper, _honestPlan(), honestKey));
            ++n;
        }
        emit log_named_uint("honest cap rescues to the band", n);
        assertGe(healthOf(safe, wethMarket), 1.2e18);
        assertLe(n, 7);
    }

    /// @dev The Safe's worth (loan units): USDC held and in the pool, WETH collateral and held at the oracle, less debt.
    function _value() internal view returns (int256 v) {
        MarketState memory st = wethState();
        v = int256(usdc.balanceOf(safe) + usdcVault.convertToAssets(usdcVault.balanceOf(safe)));
        v += int256(HealthLib.collateralValue(st.collateral + weth.balanceOf(safe), st.price));
        v -= int256(st.debt);
    }

    /// @dev Asserts `reason` is exactly HealthOutOfBand(wethId, health, minHealth, maxHealth) (four words) with the
    /// health the mixed step would land at: at least MIN_BAND_GAP above `before`, below before + 0.012 and the band.
    function _assertMixedOutOfBand(bytes memory reason, uint256 before) internal view {
        assertEq(reason.length, 4 + 4 * 32, "one error, four words");
        assertEq(bytes4(reason), ILeverageModule.HealthOutOfBand.selector, "mixed step: HealthOutOfBand");
        bytes memory args = new bytes(reason.length - 4);
        for (uint256 i; i < args.length; ++i) {
            args[i] = reason[i + 4];
        }
        (bytes32 id, uint256 health, uint256 low, uint256 high) = abi.decode(args, (bytes32, uint256, uint256, uint256));
        Policy memory p = module.getPolicy(safe, wethId);
        assertEq(id, wethId);
        assertGe(health, before + ConstantsLib.MIN_BAND_GAP, "the mixed landing gains MIN_BAND_GAP");
        assertLt(health, before + 0.012e18, "... and only ~0.01");
        assertEq(low, p.minHealth);
        assertEq(high, p.maxHealth);
    }

    /// @dev rr13w W1 (was: accepted as cap-bound, charged 497.99, health +0.0102): the mixed step (net move ~498 of cap
    /// 500) is neither the buffers' rescue alone (the health it reached needs a plain move of ~209 < 495) nor the sale's
    /// (2 x 174 = 348 < 495), so it is not cap-bound: refused HealthOutOfBand through EntryPoint.handleOps. Nothing left
    /// the Safe: its worth, health, collateral, debt and pool shares are unchanged, and no counter was spent.
    function test_MixedSwapPadding_IsRefusedHealthOutOfBand() public {
        uint256 before = healthOf(safe, wethMarket);
        int256 valueBefore = _value();
        MarketState memory st = wethState();
        uint256 shares = usdcVault.balanceOf(safe);
        (Plan memory plan, uint256 r, uint256 sold, uint256 cb) = _mixedPlan();
        uint256 soldValue = Math.mulDiv(sold, st.price, 1e36);
        emit log_named_uint("pool repayment R", r);
        emit log_named_uint("WETH sold (value)", soldValue);
        emit log_named_uint("repaid in callback", cb);
        assertGe(r + soldValue + cb, CAP - CAP / 100, "the net move alone would be cap-bound");
        assertLt(2 * soldValue, CAP - CAP / 100, "not a sale alone at the cap");
        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, plan, keeperKey));
        assertFalse(ok, "mixed step refused");
        _assertMixedOutOfBand(reason, before);
        MarketState memory afterSt = wethState();
        assertEq(healthOf(safe, wethMarket), before);
        assertEq(afterSt.collateral, st.collateral);
        assertEq(afterSt.debt, st.debt);
        assertEq(usdcVault.balanceOf(safe), shares);
        assertEq(_value(), valueBefore, "nothing left the Safe");
        assertEq(module.getEpochUsage(safe, wethId).rebalances, 0, "no rebalance counted");
        assertEq(module.getEpochUsage(safe, wethId).amountMoved, 0, "no amount charged");
    }

    /// @dev Held (the buffers' branch): a pool repayment near the cap with a small sale tail that reaches the health a
    /// plain move of the 99 % needs (+0.025: plain ~523 >= 495; sale alone 2x < 495) stays cap-bound and lands below
    /// the band, charged >= 0.99 x cap.
    function test_Held_MixedStepReachingThePlainCapHealth_IsCapBound() public {
        uint256 before = healthOf(safe, wethMarket);
        (Plan memory plan,, uint256 sold,) = _mixedPlan(0.025e18);
        assertLt(2 * Math.mulDiv(sold, wethState().price, 1e36), CAP - CAP / 100, "not a sale alone at the cap");
        handleOk(keeperOp(safe, keeper, plan, keeperKey));
        uint256 afterH = healthOf(safe, wethMarket);
        assertGe(afterH, before + 0.025e18 - 1e15);
        assertLt(afterH, module.getPolicy(safe, wethId).minHealth, "landed below the band: cap-bound");
        assertGe(module.getEpochUsage(safe, wethId).amountMoved, CAP - CAP / 100, "charged as cap-bound");
    }

    /// @dev rr13w W1 (was FAILS TODAY: all 10 mixed steps accepted, WETH 1.02 -> ~1.122, honest rescue refused
    /// EpochRebalanceCapExceeded(wethId, 11, 10)): the ten mixed steps are each refused HealthOutOfBand through
    /// handleOps and spend none of the counters; nothing leaves the Safe; the honest keeper's cap rescue is accepted
    /// while the sub-account is still below its band, and its rescues reach the band.
    function test_MixedSwapPadding_DoesNotStrandTheHonestRescue() public {
        int256 valueBefore = _value();
        uint256 before = healthOf(safe, wethMarket);
        uint256 accepted;
        for (uint256 i; i < 10; ++i) {
            (Plan memory plan,,,) = _mixedPlan();
            (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, plan, keeperKey));
            if (ok) ++accepted;
            else _assertMixedOutOfBand(reason, before);
        }
        assertEq(accepted, 0, "mixed steps accepted");
        assertEq(healthOf(safe, wethMarket), before);
        assertEq(_value(), valueBefore, "nothing left the Safe");
        assertEq(module.getEpochUsage(safe, wethId).rebalances, 0, "no rebalance spent");
        (bool honest, bytes memory refusal) = handle(keeperOp(safe, honestKeeper, _honestPlan(), honestKey));
        assertEq(refusal, bytes(""), "honest rescue refused");
        assertTrue(honest, "honest rescue accepted");
        uint256 n = 1;
        while (healthOf(safe, wethMarket) < 1.2e18 && n < 10) {
            handleOk(keeperOp(safe, honestKeeper, _honestPlan(), honestKey));
            ++n;
        }
        assertGe(healthOf(safe, wethMarket), 1.2e18, "the honest rescues reach the band");
    }
}
