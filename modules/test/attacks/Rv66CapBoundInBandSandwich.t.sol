// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SwapBase} from "../utils/SwapBase.sol";
import {Policy, Plan, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {ConstantsLib} from "../../src/libraries/ConstantsLib.sol";

/// @notice Review rv66 of 4a070c74: the bleed a compromised keeper (the bundler, sandwiching its own operations) gets
/// from cap-bound in-band SALE steps, every operation through EntryPoint.handleOps. The no-idle Safe (SwapBase: real
/// Morpho, real Uniswap v3 0.05 %), WETH 10 / 18,000 at health 1.205 in band [1.2, 1.4, 1.7] with `rescueBelowTarget`,
/// maxAmountPerRebalance 1,100, swaps at 50 bps (maxLossBps 50, maxEpochLossBps 400), 40 rebalances an epoch so only the
/// zone and the loss budget stop the keeper. A sale of ~549.5 USDC of WETH (net move ~1,096 >= 1,089, its sale clause
/// 2 x 549.5 >= 1,089) gains ~0.011 < the in-band zone's 0.1: refused before 4a070c74 (and a sale reaching the zone
/// needs ~5,100, over the cap), so no in-band deleverage and no loss. Now the keeper front-runs each step by 35 bps and
/// takes it; each step's loss is within maxSlippageBps of its sale, the sum within maxEpochLossBps of equity.
contract Rv66CapBoundInBandSandwichTest is SwapBase {
    uint256 internal constant CAP = 1100e6;
    uint256 internal constant SALE_VALUE = 549.5e6;

    function setUp() public override {
        super.setUp();
        Policy memory p = swapPolicy(wethMarket, false);
        (p.rescueBelowTarget, p.maxAmountPerRebalance, p.maxRebalancesPerEpoch) = (true, uint128(CAP), 40);
        wethId = setPolicy(p);
        vm.warp((block.timestamp / 1 days + 1) * 1 days);
        moveWethHealthTo(1.205e18);
    }

    function _value() internal view returns (int256) {
        MarketState memory st = wethState();
        uint256 value = Math.mulDiv(st.collateral + weth.balanceOf(safe), st.price, 1e36) + usdc.balanceOf(safe);
        return int256(value) - int256(st.debt);
    }

    function test_Rv66_SandwichedInBandSaleSteps_Bleed26UsdcPerFall() public {
        int256 v0 = _value();
        uint256 n;
        int256 worst;
        while (healthOf(safe, wethMarket) < 1.4e18) {
            uint256 before = healthOf(safe, wethMarket);
            int256 vb = _value();
            Sandwich memory s = frontRun(address(weth), address(usdc), FEE_LOW, 35);
            uint256 sold = Math.mulDiv(SALE_VALUE, 1e36, wethState().price);
            uint256 repaid = quoteExactIn(address(weth), address(usdc), FEE_LOW, sold);
            handleOk(keeperOp(safe, keeper, deleveragePlan(repaid, sold, route(FEE_LOW)), keeperKey));
            backRun(s);
            alignPoolToPrice(wethPool, address(weth), wethOracle.price());
            uint256 landed = healthOf(safe, wethMarket);
            assertGe(landed, before + ConstantsLib.MIN_BAND_GAP);
            if (landed < 1.4e18) assertLt(landed, before + 0.1e18, "under the in-band zone: refused before 4a070c74");
            int256 loss = vb - _value();
            assertLe(loss, int256(SALE_VALUE * MAX_SLIPPAGE_BPS / 10_000) + 1, "<= maxSlippageBps of the sale");
            if (loss > worst) worst = loss;
            ++n;
        }
        int256 total = v0 - _value();
        EpochUsage memory u = module.getEpochUsage(safe, wethId);
        emit log_named_uint("steps", n);
        emit log_named_int("total loss (USDC base units)", total);
        emit log_named_int("worst step loss", worst);
        emit log_named_int("equity before", v0);
        emit log_named_uint("epoch lossPpb", u.lossPpb);
        emit log_named_uint("health", healthOf(safe, wethMarket));
        assertEq(u.rebalances, n);
        // Pinned: 12 steps 1.205 -> 1.4012, the Safe lost 26.411568 USDC (0.366 % of its 7,220.93 equity; worst step
        // 2.200964), charged 3,663,793 ppb of the 4 % budget. Before 4a070c74: no step, no loss.
        assertEq(n, 12, "steps for one fall");
        assertEq(total, 26_411_568, "the Safe's loss");
        assertEq(worst, 2_200_964);
        assertEq(u.lossPpb, 3_663_793);
    }
}
