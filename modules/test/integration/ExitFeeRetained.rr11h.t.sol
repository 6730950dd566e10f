// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Fixture} from "../utils/Fixture.sol";
import {YieldVault} from "../utils/YieldVault.sol";
import {ExitFeeOnlyVault} from "./ExitFeeBoost.rr11g.t.sol";
import {Policy, Plan, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @notice Review rr11h H3 on chain: a pool whose exit fee STAYS in the vault (the project's own ExitFeeOnlyVault, OZ
/// ERC4626Fees with the vault as fee recipient, "withdrawal penalty to the remaining holders" vaults) charges the Safe
/// only its share of other holders' part of the fee. The Safe holds 99.99 % of the pool: a rescue withdrawing 3,300
/// USDC pays a 33 USDC fee of which 32.997 comes back to the Safe's own shares. The module books ~0 loss and lands the
/// rescue; the TypeScript rule book (exitFeeBps 100 read from previewRedeem vs convertToAssets) books 33 USDC on 3,300
/// moved = 100 bps > maxLossBps 50 and refuses it ValueLossExceeded (bundler-client/src/keeper/ruleJudgeRetainedFee.rr11h.test.ts).
contract ExitFeeRetainedRr11hTest is Fixture {
    function test_Rr11hH3_RescueThroughRetainedExitFeePoolLands() public {
        ExitFeeOnlyVault pool = new ExitFeeOnlyVault(usdc);
        _seedVault(YieldVault(address(pool)), usdc, 1e6); // MIN_POOL_SUPPLY: one other holder of 1 USDC
        openPosition(safe, wethMarket, 10e18, 18_000e6);
        depositToVault(safe, YieldVault(address(pool)), 10_000e6);
        bytes32 id = setPolicyFor(safe, defaultPolicy(wethMarket, address(pool)));
        // What the SDK / keeper read of the pool: 100 bps (poolFeeBpsOf of convertToAssets vs previewRedeem of totalSupply).
        uint256 supply = pool.totalSupply();
        assertEq(pool.convertToAssets(supply) - pool.previewRedeem(supply), Math.mulDiv(pool.convertToAssets(supply), 100, 10_100, Math.Rounding.Ceil), "read fee 100 bps");
        wethOracle.setPrice(2400e18); // health 1.1467 < min 1.2
        uint256 held = pool.convertToAssets(pool.balanceOf(safe));
        Plan memory plan = plan1(id, action(ActionKind.WithdrawFromPool, 0, address(pool), 3300e6), action(ActionKind.Repay, 0, address(0), 3300e6));
        handleOk(keeperOp(safe, keeper, plan, keeperKey));
        assertApproxEqAbs(healthOf(safe, wethMarket), 1.4041e18, 0.001e18, "health after rescue");
        // The Safe's pooled value fell by the 3,300 withdrawn plus its share of other holders' part of the fee: < 0.01 USDC.
        uint256 after_ = pool.convertToAssets(pool.balanceOf(safe));
        assertLt(held - after_ - 3300e6, 0.01e6, "the retained fee costs the Safe < 0.01 USDC");
    }
}
