// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Id, MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {SwapBase} from "../utils/SwapBase.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {HealthLib} from "../../src/libraries/HealthLib.sol";
import {SimOracle} from "../utils/SimOracle.sol";

/// @notice Issue 10, twelfth review (liveness): an honest swap rescue of a due WETH market A whose plan also lists an
/// in-band donor B on a second WETH/USDC market (the solver's shape: the donor's borrow rides in A's RepayWithCallback,
/// the sale covers the rest). The loss values each token's net change at the least favourable price of the
/// sub-accounts whose collateral of it changed: B only borrows, so its oracle does not value A's sale.
contract SameTokenDonorTest is SwapBase {
    using MarketParamsLib for MarketParams;

    SimOracle internal oracleB;
    MarketParams internal wethMarketB;
    bytes32 internal wethIdB;

    function _args(bytes memory reason) internal pure returns (bytes memory args) {
        args = new bytes(reason.length - 4);
        for (uint256 i; i < args.length; ++i) args[i] = reason[i + 4];
    }

    /// @dev A: the fixture's WETH market (40 WETH, 72k debt, health 1.02, swap policy, pool aligned to pA). B: a second
    /// WETH/USDC market, oracle at pA x bPriceBps / 10000 (its own feed, the fixture default), 20 WETH at health 1.60
    /// (boostAllowed, band 1.2-1.7, target 1.4: in band, not due, a donor).
    function _setup(uint256 bPriceBps) internal returns (uint256 pA) {
        (pA, oracleB, wethMarketB) = _lowerOracleTwin(bPriceBps, 20e18, 1.60e18);
        Policy memory b = defaultPolicy(wethMarketB, address(0));
        b.boostAllowed = true;
        wethIdB = setPolicy(b);
    }

    /// @dev B's borrow that takes it from 1.60 to ~1.45 (toward its 1.4 target).
    function _donorBorrow() internal view returns (uint256) {
        MarketState memory s = adapter.marketState(Id.unwrap(wethMarketB.id()), safe);
        uint256 value = Math.mulDiv(s.collateral, s.price, 1e36);
        return Math.mulDiv(value, 0.86e18, 1.45e18) - s.debt;
    }

    /// @dev WETH A sells so that, with `y` repaid from the donor, A lands at 1.4 (swap cost estimate 10 bps), and the
    /// quoted output.
    function _sale(uint256 y) internal returns (uint256 sold, uint256 out) {
        MarketState memory st = wethState();
        uint256 value = Math.mulDiv(st.collateral, st.price, 1e36);
        uint256 soldValue = (1.4e18 * (st.debt - y) - value * LLTV) / (1.4e18 * (10_000 - COST_ESTIMATE_BPS) / 10_000 - LLTV);
        sold = Math.mulDiv(soldValue, 1e36, st.price);
        out = quoteExactIn(address(weth), address(usdc), FEE_LOW, sold);
    }

    /// @dev The solver's shape: Borrow(y) on donor B, RepayWithCallback(y + out) on A { WithdrawCollateral(sold),
    /// SellCollateral(sold) } EndCallback. A listed first (list order does not matter any more).
    function _donorPlan(uint256 y, uint256 sold, uint256 out) internal view returns (Plan memory plan) {
        Action[] memory acts = new Action[](5);
        acts[0] = action(ActionKind.Borrow, 1, address(0), y);
        acts[1] = action(ActionKind.RepayWithCallback, 0, address(0), y + out);
        acts[2] = action(ActionKind.WithdrawCollateral, 0, address(0), sold);
        acts[3] = action(ActionKind.SellCollateral, 0, route(FEE_LOW), sold);
        acts[4] = action(ActionKind.EndCallback, 0, address(0), 0);
        plan.subAccounts = new bytes32[](2);
        plan.subAccounts[0] = wethId;
        plan.subAccounts[1] = wethIdB;
        plan.actions = acts;
    }

    /// @dev Everything the Safe owns with all WETH at `price` (1e36 scale).
    function _value(uint256 price) internal view returns (int256 v) {
        v = int256(usdc.balanceOf(safe) + usdcVault.convertToAssets(usdcVault.balanceOf(safe)));
        (uint256 ca, uint256 da) = adapter.position(Id.unwrap(wethMarket.id()), safe);
        (uint256 cb, uint256 db) = adapter.position(Id.unwrap(wethMarketB.id()), safe);
        v -= int256(da + db);
        v += int256(Math.mulDiv(ca + cb + weth.balanceOf(safe), price, 1e36));
    }

    function _donorRescue(uint256 bPriceBps) internal returns (bool ok, bytes memory reason, PackedUserOperation memory op) {
        uint256 pA = _setup(bPriceBps);
        uint256 y = _donorBorrow();
        (uint256 sold, uint256 out) = _sale(y);
        emit log_named_uint("B oracle / A oracle (bps)", bPriceBps);
        emit log_named_uint("donor borrow on B (USDC base)", y);
        emit log_named_uint("A sells WETH (1e18)", sold);
        emit log_named_uint("  its value at pA (USDC base)", Math.mulDiv(sold, pA, 1e36));
        emit log_named_uint("  quoted output (USDC base)", out);
        emit log_named_uint("  A's minimum output at pA, 50 bps", minOutSelling(sold));
        int256 v0 = _value(pA);
        Holdings memory before = holdings(safe);
        op = keeperOp(safe, keeper, _donorPlan(y, sold, out), keeperKey);
        (ok, reason) = handle(op);
        if (!ok) assertNothingLeftBut(before, maxCost(op));
        if (ok) {
            emit log_named_int("real loss, all WETH at pA (pool price)", v0 - _value(pA));
            emit log_named_uint("A health after", healthOf(safe, wethMarket));
            emit log_named_uint("B health after", healthOf(safe, wethMarketB));
        }
    }

    /// @dev Control 1: B's oracle equal to A's: the honest donor + swap rescue lands.
    function test_Control_DonorRescueSamePriceLands() public {
        (bool ok, bytes memory reason,) = _donorRescue(10_000);
        if (!ok) assembly { revert(add(reason, 0x20), mload(reason)) }
    }

    /// @dev Control 2: B's oracle 60 bps BELOW A's: lands (A's sale is valued at pA, the highest listed price).
    function test_Control_DonorRescueLowerDonorOracleLands() public {
        (bool ok, bytes memory reason,) = _donorRescue(9_940);
        if (!ok) assembly { revert(add(reason, 0x20), mload(reason)) }
    }

    /// @dev Control 3: the same prices as the break (B 60 bps above A), A rescued alone by the swap (no donor): lands.
    function test_Control_SwapAloneLandsAtTheSamePrices() public {
        uint256 pA = _setup(10_060);
        (uint256 sold, uint256 out) = _sale(0);
        int256 v0 = _value(pA);
        handleOk(keeperOp(safe, keeper, deleveragePlan(wethId, out, sold, route(FEE_LOW)), keeperKey));
        emit log_named_uint("A alone sells WETH (1e18)", sold);
        emit log_named_int("real loss at pA", v0 - _value(pA));
        emit log_named_uint("A health after", healthOf(safe, wethMarket));
    }

    /// @dev Twelfth review of issue 10 (liveness): B's oracle 60 bps above A's (Chainlink ETH/USD's own deviation
    /// threshold is 50 bps; two WETH/USDC Morpho markets on two oracles differ by that in a crash). With the donor's
    /// price in the range, A's sale (router paid ~pA, minimum output at pA) was booked at pB and the honest donor + swap
    /// rescue refused (ValueLossExceeded, 444.9 booked against a 234 allowance). Only sub-accounts whose collateral of
    /// the token changed price it now: the rescue lands and A is back in its band.
    function test_HonestDonorSwapRescueLandsWhenTheDonorOracleIsHigher() public {
        (bool ok, bytes memory reason,) = _donorRescue(10_060);
        if (!ok) assembly { revert(add(reason, 0x20), mload(reason)) }
        assertGe(healthOf(safe, wethMarket), 1.2e18, "A back in its band");
    }

    /// @dev At every gap from 0 to 60 bps (5 bps steps) between the donor's oracle above A's, the honest rescue lands
    /// (refused from a 15 bps gap before).
    function test_HonestDonorSwapRescueLandsAtEveryOracleGap() public {
        for (uint256 bps = 10_000; bps <= 10_060; bps += 5) {
            uint256 snap = vm.snapshotState();
            (bool ok, bytes memory reason,) = _donorRescue(bps);
            if (!ok) assembly { revert(add(reason, 0x20), mload(reason)) }
            vm.revertToState(snap);
        }
    }
}
