// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Id, MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";

import {AaveTestBase} from "../utils/AaveTestBase.sol";
import {ActionKind, EpochUsage, ILeverageModule, Plan, Policy} from "../../src/interfaces/ILeverageModule.sol";

/// @notice Cross-venue plans (issue 17) on the real Morpho Blue and the real Aave v3 Pool, through EntryPoint.handleOps
/// and the real LeverageModule with both adapters fixed at deployment: collateral withdrawn from a healthy Morpho
/// market is supplied to the same Safe's Aave account about to be liquidated, in one keeper operation, under the same
/// post-conditions (band, landing zone, toward-target rule, loss bounds) for both sub-accounts.
///
/// The Safe: Morpho WETH/USDC (LLTV 86%) with 20 WETH and 25,018 USDC debt, and an Aave account with 10 WETH and
/// 18,000 USDC debt (WETH liquidation threshold 83%). WETH falls from 3,000 to 2,400 on the one oracle both venues
/// read: Morpho's health becomes 1.65 (inside its band [1.2, 1.7], above its target 1.4), Aave's 1.107 (below 1.2).
contract CrossVenueTest is AaveTestBase {
    using MarketParamsLib for MarketParams;

    bytes32 internal morphoId;
    bytes32 internal aaveId;

    function setUp() public override {
        super.setUp();
        // The donor (Morpho) policy allows boosts: withdrawing its collateral lowers its health (ActionNotAllowed otherwise).
        (morphoId, aaveId) = openCrossVenueSafe(
            CrossVenueSafe({morphoWeth: 20e18, morphoDebt: 25_018e6, aaveWeth: 10e18, aaveWbtc: 0, aaveDebt: 18_000e6, aaveDonor: false})
        );
    }

    function crossPlan(uint256 amount) internal view returns (Plan memory) {
        return crossCollateralPlan(morphoId, aaveId, amount);
    }

    function test_CrossVenue_MovesCollateralFromAHealthyMorphoMarketToAnAaveAccountAboutToBeLiquidated() public {
        uint256 morphoBefore = module.health(safe, morphoId);
        uint256 aaveBefore = aaveHealthFactor(safe);
        assertGt(morphoBefore, 1.4e18, "the donor is above its target");
        assertLt(morphoBefore, 1.7e18, "the donor is inside its band");
        assertLt(aaveBefore, 1.2e18, "the Aave account is below its band");
        uint256 safeWeth = weth.balanceOf(safe);
        uint256 safeUsdc = usdc.balanceOf(safe);
        uint256 morphoCollateral = morpho.position(wethMarket.id(), safe).collateral;
        uint256 aaveCollateral = aBalance(weth, safe);

        // 2.6 WETH: Aave lands at 12.6 x 2,400 x 0.83 / 18,000 = 1.394 (landing zone [1.207, 1.55]); Morpho goes to
        // 17.4 x 2,400 x 0.86 / 25,018 = 1.436, toward its target 1.4 and not past it.
        handleOk(keeperOp(safe, keeper, crossPlan(2.6e18), keeperKey));

        uint256 morphoAfter = module.health(safe, morphoId);
        uint256 aaveAfter = aaveHealthFactor(safe);
        assertGe(aaveAfter, 1.3e18, "Aave account in its landing zone");
        assertLe(aaveAfter, 1.55e18);
        assertEq(aaveAdapter.health(wethUsdc, safe), aaveAfter, "the adapter reports Aave's own health factor");
        assertGe(morphoAfter, 1.4e18, "the donor did not cross its target");
        assertLt(morphoAfter, morphoBefore, "the donor moved toward its target");
        // Exactly 2.6 WETH moved from one venue to the other; nothing stayed in the Safe, nothing else moved.
        assertEq(morpho.position(wethMarket.id(), safe).collateral, morphoCollateral - 2.6e18);
        assertApproxEqAbs(aBalance(weth, safe), aaveCollateral + 2.6e18, 1, "aToken balance (ray rounding)");
        assertEq(weth.balanceOf(safe), safeWeth);
        assertEq(usdc.balanceOf(safe), safeUsdc);
        assertEq(weth.allowance(safe, address(aavePool)), 0, "no approval left standing");
        // Both sub-accounts were changed, so both are charged the value each moved; only the due one (Aave) spends a
        // rebalance and starts its cooldown.
        EpochUsage memory donor = module.getEpochUsage(safe, morphoId);
        EpochUsage memory target = module.getEpochUsage(safe, aaveId);
        assertEq(donor.rebalances, 0, "the donor was not due");
        assertEq(target.rebalances, 1);
        assertEq(target.lastRebalance, block.timestamp, "the rescued account starts its cooldown");
        assertEq(donor.amountMoved, target.amountMoved, "the same collateral value, at the same oracle price");
        assertEq(donor.lossPpb, 0, "moving collateral between venues loses nothing");
    }

    function test_CrossVenue_RevertWhen_TheDonorPolicyForbidsBoosts() public {
        Policy memory donor = defaultPolicy(wethMarket, address(0));
        setPolicyFor(safe, donor);
        uint256 morphoCollateral = morpho.position(wethMarket.id(), safe).collateral;
        (bool success, bytes memory reason) = handle(keeperOp(safe, keeper, crossPlan(2.6e18), keeperKey));
        assertFalse(success);
        assertEq(reason, abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 0, ActionKind.WithdrawCollateral));
        assertEq(morpho.position(wethMarket.id(), safe).collateral, morphoCollateral);
    }

    function test_CrossVenue_RevertWhen_TheDonorIsTakenPastItsTarget() public {
        // 3.5 WETH keeps Aave inside its landing zone (13.5 x 2,400 x 0.83 / 18,000 = 1.494) but takes the Morpho donor
        // to 16.5 x 2,400 x 0.86 / 25,018 = 1.361, past its target 1.4: refused by name, nothing moves.
        uint256 morphoBefore = module.health(safe, morphoId);
        uint256 safeWeth = weth.balanceOf(safe);
        uint256 morphoCollateral = morpho.position(wethMarket.id(), safe).collateral;
        uint256 aaveCollateral = aBalance(weth, safe);
        (bool success, bytes memory reason) = handle(keeperOp(safe, keeper, crossPlan(3.5e18), keeperKey));
        assertFalse(success, "a cross-venue plan past the donor's target executed");
        assertEq(bytes4(reason), ILeverageModule.HealthCrossedTarget.selector);
        (bytes32 subAccount, uint256 healthBefore, uint256 healthAfter, uint256 targetHealth) =
            abi.decode(_args(reason), (bytes32, uint256, uint256, uint256));
        assertEq(subAccount, morphoId);
        assertEq(healthBefore, morphoBefore);
        assertApproxEqRel(healthAfter, 1.3613e18, 1e15);
        assertEq(targetHealth, 1.4e18);
        assertEq(morpho.position(wethMarket.id(), safe).collateral, morphoCollateral);
        assertEq(aBalance(weth, safe), aaveCollateral);
        assertEq(weth.balanceOf(safe), safeWeth);
    }

    function _args(bytes memory reason) private pure returns (bytes memory args) {
        args = new bytes(reason.length - 4);
        for (uint256 i; i < args.length; ++i) args[i] = reason[i + 4];
    }
}
