// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {AaveTestBase} from "../utils/AaveTestBase.sol";
import {Action, ActionKind, ILeverageModule, Plan, Policy} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";

/// @notice Review rr17 (issue 17, after fx17 F1): the module's side of
/// `sdk/src/rules/planRules.aaveUpperEdge.rr17.test.ts`. The Safe's Aave account holds only WBTC (LT 7,800) under the
/// WETH/USDC policy (WETH LT 8,300): Aave's average threshold is exactly 7,800 bps, which the SDK rule book
/// (`aaveFrameHealthAfter`) takes as 7,799 (a whole bps not the market's falls in its rounding window), i.e. 1.28e-4
/// below Aave's factor. Aave due at 1.1 under [1.2, 1.4, 1.7]: landing zone [1.2, 1.55]. A Morpho donor's borrow repays
/// Aave to Aave's factor 1.55 x (1 + 5e-5): the module refuses it (HealthOutsideLandingZone with Aave's factor) while the
/// rule book accepts the same plan (its figure 1.549879). The control (1.55 x (1 - 1e-4)) lands.
/// These tests PASS today: they pin the module's behaviour the SDK must mirror.
contract Rr17AaveUpperEdgeTest is AaveTestBase {
    bytes32 internal morphoId;
    bytes32 internal aaveId;

    function setUp() public override {
        super.setUp();
        installModuleWithAave();
        wethOracle.setPrice(3000e18);
        // Morpho WETH/USDC donor: 200 WETH, 322,500 USDC: health 200 x 3,000 x 0.86 / 322,500 = 1.6 (above the target).
        openPosition(safe, wethMarket, 200e18, 322_500e6);
        // Aave: 2 WBTC only, USDC debt to Aave's factor 1.1 (below the band).
        aaveSupply(safe, wbtc, 2e8);
        (uint256 total,,, uint256 lt,,) = aavePool.getUserAccountData(safe);
        assertEq(lt, 7_800, "one collateral: Aave's average is WBTC's threshold");
        aaveBorrow(safe, usdc, total * lt / 10_000 * 1e6 / 1.1e8 * 1e8 / aaveOracle.getAssetPrice(address(usdc)));
        Policy memory morpho = defaultPolicy(wethMarket, address(0));
        morpho.boostAllowed = true; // the donor borrow lowers its health
        morphoId = setPolicyFor(safe, morpho);
        aaveId = setPolicyFor(safe, aavePolicy(wethUsdc, address(wethOracle), address(0)));
    }

    function plan(uint256 amount) internal view returns (Plan memory p) {
        p.subAccounts = new bytes32[](2);
        p.subAccounts[0] = morphoId;
        p.subAccounts[1] = aaveId;
        p.actions = new Action[](2);
        p.actions[0] = Action({kind: ActionKind.Borrow, subAccount: 0, pool: address(0), amount: amount});
        p.actions[1] = Action({kind: ActionKind.Repay, subAccount: 1, pool: address(0), amount: amount});
    }

    /// @dev The USDC repayment that takes Aave's factor to about `goal` (WAD).
    function repayTo(uint256 goal) internal view returns (uint256) {
        (uint256 total,,, uint256 lt,,) = aavePool.getUserAccountData(safe);
        uint256 debtAt = Math.mulDiv(total * lt, 1e18, 10_000 * goal) * 1e6 / aaveOracle.getAssetPrice(address(usdc));
        return aaveAdapter.marketState(wethUsdc, safe).debt - debtAt;
    }

    function test_Fixture_FrameIsAavesFactor_AaveDue() public view {
        MarketState memory s = aaveAdapter.marketState(wethUsdc, safe);
        assertApproxEqRel(s.health, 1.1e18, 1e12);
        assertLt(module.health(safe, aaveId), 1.2e18, "Aave due");
        assertGt(module.health(safe, morphoId), 1.4e18, "Morpho above its target");
    }

    function test_Control_LandingInsideTheZoneLands() public {
        handleOk(keeperOp(safe, keeper, plan(repayTo(1.55e18 * 9_999 / 10_000)), keeperKey));
        assertLe(aaveHealthFactor(safe), 1.55e18);
        assertGe(aaveHealthFactor(safe), 1.2e18);
    }

    function test_AavesFactorHalfABpPastTheTopIsRefused() public {
        uint256 amount = repayTo(1.55e18 * 100_005 / 100_000);
        (bool success, bytes memory reason) = handle(keeperOp(safe, keeper, plan(amount), keeperKey));
        assertFalse(success, "refused");
        assertEq(bytes4(reason), ILeverageModule.HealthOutsideLandingZone.selector, "by Aave's factor past the zone's top");
        emit log_named_uint("repay (USDC units)", amount);
    }
}
