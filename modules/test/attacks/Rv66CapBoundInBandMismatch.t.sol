// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {TwoWethMarketsBase} from "./TwoWethMarketsBase.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {HealthLib} from "../../src/libraries/HealthLib.sol";
import {ConstantsLib} from "../../src/libraries/ConstantsLib.sol";
import {MarketParams, Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";

/// @notice Review rv66 of 4a070c74: the module and the rule book name different errors for a due in-band sub-account
/// whose health a "cap-bound" move LOWERS below minHealth. A (WETH 10 / 18,000 at 1.25, band [1.2, 1.4, 1.7],
/// `rescueBelowTarget`, boosts allowed, cap 1,000) is due in band; the keeper withdraws 0.48 WETH (~1,256 USDC: its
/// honest move for health ~1.19 is the collateral path gap / lltv, >= 990) and supplies it to B (not due, toward its
/// target). Module: `capBound` is true by its in-band branch, but the HealthOutOfBand exemption needs before <
/// minHealth: HealthOutOfBand(idA, ~1.19, 1.2, 1.7). The rule book (sdk/src/rules/planRules.ts) named
/// HealthOutsideLandingZone(idA, ~1.19, before + 0.01, 1.55) (its exemption was `!capBound` alone); fixed in dd79c753,
/// it names HealthOutOfBand too (`planRules.rv66.test.ts`). Both refuse; nothing leaves the Safe.
contract Rv66CapBoundInBandMismatchTest is TwoWethMarketsBase {
    using MarketParamsLib for MarketParams;

    uint256 internal constant PRICE = 2616.2790697674418e18;
    uint256 internal constant W = 0.48e18;

    function setUp() public override {
        super.setUp();
        _openWethMarket2(3000e18);
        openPosition(safe, wethMarket, 10e18, 18_000e6);
        openPosition(safe, wethMarket2, 50e18, 90_000e6);
        depositToVault(safe, usdcVault, 10_000e6);
        Policy memory a = defaultPolicy(wethMarket, address(usdcVault));
        (a.maxAmountPerRebalance, a.rescueBelowTarget, a.boostAllowed) = (1000e6, true, true);
        idA = setPolicyFor(safe, a);
        idB = setPolicyFor(safe, defaultPolicy(wethMarket2, address(usdcVault)));
        wethOracle.setPrice(PRICE);
        oracle2.setPrice(PRICE);
    }

    function _plan() internal view returns (Plan memory plan) {
        plan.subAccounts = new bytes32[](2);
        plan.subAccounts[0] = idA;
        plan.subAccounts[1] = idB;
        plan.actions = new Action[](2);
        plan.actions[0] = action(ActionKind.WithdrawCollateral, 0, address(0), W);
        plan.actions[1] = action(ActionKind.SupplyCollateral, 1, address(0), W);
    }

    function test_Rv66_HealthDecreaseBelowMin_ModuleSaysHealthOutOfBand() public {
        MarketState memory st = adapter.marketState(Id.unwrap(wethMarket.id()), safe);
        uint256 before = st.health;
        assertGt(before, 1.2e18);
        assertLt(before, 1.4e18);
        uint256 hAfter = HealthLib.health(st.collateral - W, st.debt, st.price, st.lltv);
        assertLt(hAfter, 1.2e18, "lands below minHealth");
        assertGe(HealthLib.maxMoveToHealth(st, hAfter, false, 0), 990e6, "honest move >= 99 % of the cap");
        (uint256 colA, uint256 debtA) = adapter.position(Id.unwrap(wethMarket.id()), safe);
        (uint256 colB, uint256 debtB) = adapter.position(Id.unwrap(wethMarket2.id()), safe);
        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, _plan(), keeperKey));
        assertFalse(ok);
        assertEq(
            reason,
            abi.encodeWithSelector(ILeverageModule.HealthOutOfBand.selector, idA, hAfter, 1.2e18, 1.7e18),
            "the module: HealthOutOfBand (rule book: HealthOutsideLandingZone)"
        );
        (uint256 colA2, uint256 debtA2) = adapter.position(Id.unwrap(wethMarket.id()), safe);
        (uint256 colB2, uint256 debtB2) = adapter.position(Id.unwrap(wethMarket2.id()), safe);
        assertEq(colA2, colA);
        assertEq(debtA2, debtA);
        assertEq(colB2, colB);
        assertEq(debtB2, debtB);
        emit log_named_uint("before", before);
        emit log_named_uint("after", hAfter);
    }
}
