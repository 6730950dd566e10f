// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";

import {AttackBase} from "./AttackBase.sol";
import {AaveTestBase} from "../utils/AaveTestBase.sol";
import {ILeverageModule, Policy, Plan, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";

/// @notice Review rev10q of issue 10 (a): the Aave adapter's market-frame collateral does NOT move one for one with a
/// supply of the market's collateral when the account holds collateral of another threshold. Aave's getUserAccountData
/// returns the average liquidation threshold FLOORED to whole bps (GenericLogic: sum(value x threshold) / total), and
/// the frame collateral is totalCollateralBase x that floor / the market threshold. Supplying X WETH moves the frame by
/// X + (r0 - r1) / (8300 x price), r = sum(value x threshold) mod totalCollateralBase (base currency x bps): up to 1 bps
/// of the account's whole collateral / the market threshold (~1.2 bps of C) of phantom gain or loss per operation. The
/// module's per-operation loss (`_loss`, `_netUnits` of the collateral token) and the epoch loss budget both read the
/// frame, so a keeper choosing X so the floor just flips up books a phantom gain that hides a skim.
/// Input: 40 WETH (83%) + 0.5 WBTC (78%) on Aave against ~86.6k USDC (health ~1.19, due), policy on WETH/USDC with
/// maxLossBps 10 and a WETH pool (owner-listed) whose exit fee the attacker sets; the keeper supplies X WETH from it.
/// Fixed (SECURITY row 64): the frame is the exact sum over the account's collateral reserves of value x threshold
/// (`AaveV3Adapter._weightedCollateral`), so a supply of X moves it by X (within one base-currency unit of rounding per
/// reserve). Held-out: the reverse direction (an honest lossless supply the floor would value as a loss over the
/// allowance is accepted and charged nothing), a third collateral, and an e-mode account with a category price source.
contract AaveThresholdFloorTest is AttackBase, AaveTestBase {
    bytes32 internal aaveId;
    RiggedVault internal wethPool;

    function setUp() public virtual override(AttackBase, AaveTestBase) {
        super.setUp(); // WETH 2,400, WBTC 60,000
        openAaveAccount(40e18, 0.5e8, 86_600e6);
        wethPool = _feePool(weth, 20e18, 0);
        Policy memory policy = aavePolicy(wethUsdc, address(wethOracle), address(wethPool));
        policy.maxLossBps = 10;
        aaveId = setPolicyFor(safe, policy);
        assertLt(aaveHealthFactor(safe), 1.2e18, "due");
    }

    /// @dev Aave's r = sum(base value x threshold) mod total base value, and the total, after `x` more WETH supplied.
    function _remainder(uint256 x) internal view returns (uint256 r, uint256 total) {
        uint256 wethBase = (aBalance(weth, safe) + x) * aaveOracle.getAssetPrice(address(weth)) / 1e18;
        uint256 wbtcBase = aBalance(wbtc, safe) * aaveOracle.getAssetPrice(address(wbtc)) / 1e8;
        total = wethBase + wbtcBase;
        r = (wethBase * 8300 + wbtcBase * 7800) % total;
    }

    /// @dev The attacker's search: the supply in [4.4, 5.4] WETH (landing zone) with the smallest remainder after.
    function _bestSupply() internal view returns (uint256 best, uint256 rBest) {
        rBest = type(uint256).max;
        for (uint256 x = 4.4e18; x <= 5.4e18; x += 0.001e18) {
            (uint256 r,) = _remainder(x);
            if (r < rBest) (rBest, best) = (r, x);
        }
    }

    function _plan(uint256 x) internal view returns (Plan memory) {
        return plan1(
            aaveId, action(ActionKind.WithdrawFromPool, 0, address(wethPool), x), action(ActionKind.SupplyCollateral, 0, address(0), x)
        );
    }

    /// @dev Fixed (was FAILS TODAY, skipped): a skim of ~2.6x the per-operation allowance (maxLossBps 10 of the ~11.5k
    /// supply) through the WETH pool's exit fee was accepted, because the supply's phantom frame gain (the threshold
    /// floor flipping up) booked it as no loss; nothing was charged to the epoch loss budget either.
    function test_rev10q_ThresholdFloorPhantomGainHidesASkim() public {
        _attack(10, 1);
    }

    /// @dev Fixed (was FAILS TODAY, skipped), the SDK quickstart's maxLossBps 50 (same account, same supply): a skim of
    /// 1.2x the ~58 USDC allowance was accepted; the phantom (<= 1 bps of the whole collateral / the market threshold
    /// per operation) is independent of the move, so it matters most next to a small allowance.
    function test_rev10q_ThresholdFloorPhantomGainHidesASkim_Quickstart50() public {
        Policy memory policy = aavePolicy(wethUsdc, address(wethOracle), address(wethPool));
        aaveId = setPolicyFor(safe, policy);
        _attack(50, 0);
    }

    /// @dev `lossBps` the policy's maxLossBps; the skim must exceed the allowance x (1 + overHalves / 2).
    function _attack(uint256 lossBps, uint256 overHalves) internal {
        (uint256 r0, uint256 c0) = _remainder(0);
        // Tune the start (an owner top-up of idle dust is not needed: wait for the r0 the attacker wants). Here we take
        // the state as is and report it.
        (uint256 x, uint256 r1) = _bestSupply();
        uint256 price = aaveOracle.getAssetPrice(address(weth)); // 8 decimals
        // Phantom gain in USDC base units (6 decimals): (r0 - r1) / 8300 base units (8 decimals) / 100.
        int256 phantom = (int256(r0) - int256(r1)) / 8300 / 100;
        uint256 supplyUsdc = x * price / 1e18 / 100;
        uint256 allowance = supplyUsdc * lossBps / 1e4;
        emit log_named_uint("total collateral base (8 dec)", c0);
        emit log_named_uint("r0 / total (ppm)", r0 * 1e6 / c0);
        emit log_named_uint("supply X (wei)", x);
        emit log_named_int("phantom gain (USDC base units)", phantom);
        emit log_named_uint("allowance ~ (USDC base units)", allowance);
        // The attacker's fee: allowance + 90% of the phantom, rounded down to whole bps of the withdrawal.
        uint256 feeBps = (allowance + uint256(phantom) * 9 / 10) * 1e4 / supplyUsdc;
        wethPool.setExitFee(feeBps);
        uint256 feeUsdc = supplyUsdc * feeBps / 1e4;
        emit log_named_uint("exit fee (bps)", feeBps);
        emit log_named_uint("skim ~ (USDC base units)", feeUsdc);
        assertGt(feeUsdc * 2, allowance * (2 + overHalves), "the skim is over the allowance");
        assertGt(feeUsdc, allowance, "the skim is over the allowance");

        uint256 poolAssets = wethPool.convertToAssets(wethPool.balanceOf(safe));
        uint256 aWeth = aBalance(weth, safe);
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(x), keeperKey);
        (bool ok, bytes memory reason) = handle(op);
        if (ok) {
            uint256 poolDrop = poolAssets - wethPool.convertToAssets(wethPool.balanceOf(safe));
            emit log_named_uint("WETH out of the pool (wei)", poolDrop);
            emit log_named_uint("WETH into Aave (wei)", aBalance(weth, safe) - aWeth);
            emit log_named_uint("WETH lost (wei)", poolDrop - (aBalance(weth, safe) - aWeth));
            emit log_named_uint("epoch lossPpb charged", module.getEpochUsage(safe, aaveId).lossPpb);
        }
        assertFalse(ok, "a skim over maxLossBps of what moved must be refused");
        assertEq(bytes4(reason), ILeverageModule.ValueLossExceeded.selector, "ValueLossExceeded");
        assertEq(wethPool.convertToAssets(wethPool.balanceOf(safe)), poolAssets, "nothing left the pool");
        assertEq(aBalance(weth, safe), aWeth, "nothing reached Aave");
    }

    /// @dev Control: the same skim with a supply where the floor does not flip in the attacker's favour (the largest
    /// remainder after) is refused by name, so the per-operation bound itself works on this account.
    function test_rev10q_Control_SameSkimWithoutThePhantomRefused() public {
        (uint256 r0,) = _remainder(0);
        uint256 xWorst;
        uint256 rWorst;
        for (uint256 x = 4.4e18; x <= 5.4e18; x += 0.001e18) {
            (uint256 r,) = _remainder(x);
            if (r > rWorst && r >= r0) (rWorst, xWorst) = (r, x);
        }
        uint256 price = aaveOracle.getAssetPrice(address(weth));
        uint256 supplyUsdc = xWorst * price / 1e18 / 100;
        wethPool.setExitFee(20); // 2x the 10 bps allowance
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(xWorst), keeperKey);
        (bool ok, bytes memory reason) = handle(op);
        emit log_named_uint("supply (USDC base units)", supplyUsdc);
        assertFalse(ok, "refused");
        assertEq(bytes4(reason), ILeverageModule.ValueLossExceeded.selector, "ValueLossExceeded");
    }

    /* HELD-OUT (the fix) */

    /// @dev The frame collateral the adapter built before the fix, from `x` more WETH: totalCollateralBase x Aave's
    /// average threshold floored to whole bps (percentMul rounds half up), over WETH's 83% and price, in wei.
    function _flooredFrame(uint256 x) internal view returns (uint256) {
        (, uint256 total) = _remainder(x);
        uint256 weighted = (total * _flooredAverage(x) + 5000) / 10_000 * 10_000;
        return weighted * 1e18 / (8300 * aaveOracle.getAssetPrice(address(weth)));
    }

    /// @dev Aave's floored average threshold after `x` more WETH (WETH 83%, WBTC 78%).
    function _flooredAverage(uint256 x) internal view returns (uint256) {
        uint256 wethBase = (aBalance(weth, safe) + x) * aaveOracle.getAssetPrice(address(weth)) / 1e18;
        uint256 wbtcBase = aBalance(wbtc, safe) * aaveOracle.getAssetPrice(address(wbtc)) / 1e8;
        return (wethBase * 8300 + wbtcBase * 7800) / (wethBase + wbtcBase);
    }

    /// @dev Held-out, the reverse direction: an honest supply of X WETH from a fee-free WETH pool, X chosen so Aave's
    /// floored average ticks DOWN (the largest remainder after). The old frame moved by X less ~1 bps of the whole
    /// collateral / 83%: a phantom loss of ~1.75x a 1 bps allowance (asserted below from the old formula, over 1.5x), so
    /// the module refused the rescue (ValueLossExceeded, checked against the old adapter's code while fixing). Now it
    /// lands and nothing is charged to the epoch loss budget.
    function test_HeldOut_HonestLosslessSupplyIsNotALoss() public {
        Policy memory policy = aavePolicy(wethUsdc, address(wethOracle), address(wethPool));
        policy.maxLossBps = 1;
        aaveId = setPolicyFor(safe, policy);
        wethPool.setExitFee(0);
        (uint256 r0,) = _remainder(0);
        uint256 x;
        uint256 rWorst;
        for (uint256 y = 4.4e18; y <= 5.4e18; y += 0.001e18) {
            (uint256 r,) = _remainder(y);
            if (r > rWorst) (rWorst, x) = (r, y);
        }
        assertGt(rWorst, r0, "the floor ticks down");
        uint256 price = aaveOracle.getAssetPrice(address(weth));
        uint256 oldFrameMove = _flooredFrame(x) - _flooredFrame(0);
        uint256 phantomLossWei = x - oldFrameMove;
        uint256 allowanceWei = x / 10_000; // maxLossBps 1 of the move
        emit log_named_uint("old frame: phantom loss (wei)", phantomLossWei);
        emit log_named_uint("allowance (wei)", allowanceWei);
        assertGt(phantomLossWei, allowanceWei * 3 / 2, "the input discriminates: the old frame saw a loss over the allowance");

        MarketState memory before = aaveAdapter.marketState(wethUsdc, safe);
        assertEq(before.collateral, exactFrameCollateral(wethUsdc, safe), "the frame is the exact weighted sum");
        uint256 poolAssets = wethPool.convertToAssets(wethPool.balanceOf(safe));
        handleOk(keeperOp(safe, keeper, _plan(x), keeperKey));
        assertEq(poolAssets - wethPool.convertToAssets(wethPool.balanceOf(safe)), x, "X left the pool");
        MarketState memory after_ = aaveAdapter.marketState(wethUsdc, safe);
        assertEq(after_.collateral, exactFrameCollateral(wethUsdc, safe));
        // The frame moved by X within one base-currency unit (1e-8 USD) per reserve and the aToken's ray rounding.
        assertApproxEqAbs(after_.collateral - before.collateral, x, 3 * 1e18 / price + 2, "one for one");
        assertEq(module.getEpochUsage(safe, aaveId).lossPpb, 0, "a lossless supply charges no loss");
    }

    /// @dev Held-out, a third collateral: wstETH (81%, outside e-mode) next to the WETH and WBTC. For supplies of 4.4 to
    /// 5.4 WETH (step 0.01), the frame is the exact weighted sum and moves one for one with the supply, in the WETH and
    /// WBTC frames alike; the old floored frame was off by up to ~1 bps of the whole collateral (asserted to be off by
    /// over 1e14 wei somewhere, so the sweep discriminates).
    function test_HeldOut_ThreeCollaterals_FrameMovesOneForOne() public {
        aaveSupply(safe, wsteth, 4e18);
        MarketState memory w0 = aaveAdapter.marketState(wethUsdc, safe);
        MarketState memory b0 = aaveAdapter.marketState(wbtcUsdc, safe);
        assertEq(w0.collateral, exactFrameCollateral(wethUsdc, safe), "WETH frame exact");
        assertEq(b0.collateral, exactFrameCollateral(wbtcUsdc, safe), "WBTC frame exact");
        uint256 wethPrice = aaveOracle.getAssetPrice(address(weth));
        uint256 wbtcPrice = aaveOracle.getAssetPrice(address(wbtc));
        (uint256 weighted0, uint256 total0) = exactWeightedCollateral(safe);
        uint256 worstOld;
        for (uint256 x = 4.4e18; x <= 5.4e18; x += 0.01e18) {
            uint256 snap = vm.snapshotState();
            aaveSupply(safe, weth, x);
            MarketState memory w1 = aaveAdapter.marketState(wethUsdc, safe);
            assertEq(w1.collateral, exactFrameCollateral(wethUsdc, safe));
            assertApproxEqAbs(w1.collateral - w0.collateral, x, 4 * 1e18 / wethPrice + 2, "WETH frame: one for one");
            // The WBTC frame moves by x's threshold-weighted value at WBTC's threshold and price.
            uint256 inWbtc = x * wethPrice / 1e18 * 8300 * 1e8 / (7800 * wbtcPrice);
            assertApproxEqAbs(aaveAdapter.marketState(wbtcUsdc, safe).collateral - b0.collateral, inWbtc, 4, "WBTC frame");
            assertEq(aaveAdapter.health(wethUsdc, safe), aaveHealthFactor(safe), "health stays Aave's factor");
            // The old frame: total x floored average, over 83% and the WETH price.
            (uint256 total1,,, uint256 average1,,) = aavePool.getUserAccountData(safe);
            uint256 oldMove = (total1 * average1 - total0 * (weighted0 / total0)) * 1e18 / (8300 * wethPrice);
            uint256 off = oldMove > x ? oldMove - x : x - oldMove;
            if (off > worstOld) worstOld = off;
            vm.revertToState(snap);
        }
        emit log_named_uint("old frame: worst error of a supply (wei)", worstOld);
        assertGt(worstOld, 1e14, "the old frame was off by over 1e14 wei (~0.24 USD) somewhere in the sweep");
    }

    /// @dev Held-out, e-mode with a category price source: the "ETH correlated" category priced from WETH's source;
    /// a fresh Safe in it holds wstETH and WETH (the category's 95%, both at the WETH price) and WBTC (78%, own price)
    /// against WETH debt. The wstETH/WETH frame is the exact weighted sum and a supply of wstETH moves it one for one;
    /// health is Aave's factor; equity and debt are the account's own.
    function test_HeldOut_EModePriceSource_FrameIsExact() public {
        aaveConfigurator.setEModeCategory(AAVE_ETH_EMODE, 9300, 9500, 10_100, address(weth), "ETH correlated");
        safe = newAutomatedSafe();
        aaveSetEMode(safe, AAVE_ETH_EMODE);
        aaveSupply(safe, wsteth, 30e18);
        aaveSupply(safe, weth, 3.3e18);
        aaveSupply(safe, wbtc, 0.37e8);
        aaveBorrow(safe, weth, 30e18);
        MarketState memory s0 = aaveAdapter.marketState(wstethWethEMode, safe);
        assertEq(s0.collateral, exactFrameCollateral(wstethWethEMode, safe), "exact frame in e-mode");
        assertEq(s0.price, 1e36, "wstETH at the category's source: one WETH");
        assertEq(s0.health, aaveHealthFactor(safe));
        (uint256 collateralBase, uint256 debtBase,,,,) = aavePool.getUserAccountData(safe);
        uint256 wethPrice = aaveOracle.getAssetPrice(address(weth));
        assertEq(s0.equity, int256((collateralBase - debtBase) * 1e18 / wethPrice), "equity: the account's own");
        assertApproxEqAbs(s0.debt, 30e18, 1, "debt: the account's own");
        uint256 worstOld;
        for (uint256 x = 1e18; x <= 2e18; x += 0.05e18) {
            uint256 snap = vm.snapshotState();
            (uint256 t0,,, uint256 a0,,) = aavePool.getUserAccountData(safe);
            aaveSupply(safe, wsteth, x);
            MarketState memory s1 = aaveAdapter.marketState(wstethWethEMode, safe);
            assertEq(s1.collateral, exactFrameCollateral(wstethWethEMode, safe));
            assertApproxEqAbs(s1.collateral - s0.collateral, x, 4 * 1e18 / wethPrice + 2, "one for one");
            assertEq(s1.health, aaveHealthFactor(safe));
            (uint256 t1,,, uint256 a1,,) = aavePool.getUserAccountData(safe);
            uint256 oldMove = (t1 * a1 - t0 * a0) * 1e18 / (9500 * wethPrice);
            uint256 off = oldMove > x ? oldMove - x : x - oldMove;
            if (off > worstOld) worstOld = off;
            vm.revertToState(snap);
        }
        emit log_named_uint("old frame: worst error of a supply (wei)", worstOld);
        assertGt(worstOld, 1e14, "the old frame was off somewhere in the sweep");
    }
}
