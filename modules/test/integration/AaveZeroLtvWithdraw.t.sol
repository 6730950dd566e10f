// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";

import {AaveTestBase} from "../utils/AaveTestBase.sol";
import {ILeverageModule, Plan} from "../../src/interfaces/ILeverageModule.sol";

/// @notice Review rev17f (issue 17): Aave v3.0.2 refuses to withdraw a collateral with a non-zero LTV while the
/// borrowing account also holds a collateral whose LTV is 0 (SupplyLogic.executeWithdraw -> ValidationLogic
/// validateHFAndLtv: `!hasZeroLtvCollateral || ltv(asset) == 0`, LTV_VALIDATION_FAILED "57"), whatever the health
/// factor. Governance sets an LTV to 0 to wind a collateral down (and the adapter's own LTV-0 refusal of a first supply
/// shows the case is expected). Neither the keeper (`readAaveLimits`: `withdrawable` = the reserve's liquidity,
/// `collateralHeld` = the balance) nor the SDK rule book model it, so the cross-venue rescue the solver plans (withdraw
/// WETH from a healthy Aave account, supply it to the Safe's Morpho market below its band) is refused every time.
/// The control (no LTV-0 reserve held) lands the same plan.
contract AaveZeroLtvWithdrawTest is AaveTestBase {
    using MarketParamsLib for MarketParams;

    bytes32 internal morphoId;
    bytes32 internal aaveId;

    function setUp() public override {
        super.setUp();
        // Morpho WETH/USDC at health 1.45 at 3,000; 1.16 (below its band [1.2, 1.7]) at 2,400. Aave: 10 WETH and 0.1
        // WBTC, 12,000 USDC debt: above its band at 2,400 (the donor, boosts allowed), inside it after giving 3 WETH.
        (morphoId, aaveId) = openCrossVenueSafe(
            CrossVenueSafe({morphoWeth: 20e18, morphoDebt: 35_586e6, aaveWeth: 10e18, aaveWbtc: 0.1e8, aaveDebt: 12_000e6, aaveDonor: true})
        );
    }

    function crossPlan(uint256 amount) internal view returns (Plan memory) {
        return crossCollateralPlan(aaveId, morphoId, amount);
    }

    function test_Control_AaveDonorRescuesMorpho() public {
        assertLt(module.health(safe, morphoId), 1.2e18);
        handleOk(keeperOp(safe, keeper, crossPlan(3e18), keeperKey));
        assertGt(module.health(safe, morphoId), 1.2e18);
        assertLe(aaveHealthFactor(safe), 1.7e18);
    }

    function test_ZeroLtvCollateralHeld_AaveRefusesTheDonorWithdrawal() public {
        // Governance winds WBTC down as collateral: LTV 0, threshold kept (the Safe's 0.1 WBTC still counts in health).
        aaveConfigurator.configureReserveAsCollateral(address(wbtc), 0, 7800, 10_500);
        uint256 aaveHealth = aaveHealthFactor(safe);
        assertGt(aaveHealth, 1.7e18, "the donor is above its band");
        uint256 morphoCollateral = morpho.position(wethMarket.id(), safe).collateral;
        (bool success, bytes memory reason) = handle(keeperOp(safe, keeper, crossPlan(3e18), keeperKey));
        assertFalse(success, "Aave let the donor's WETH go");
        assertEq(
            reason,
            abi.encodeWithSelector(ILeverageModule.ActionFailed.selector, 0, abi.encodeWithSignature("Error(string)", "57"))
        );
        assertEq(morpho.position(wethMarket.id(), safe).collateral, morphoCollateral);
        assertLt(module.health(safe, morphoId), 1.2e18, "the Morpho market stays below its band");
    }
}
