// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Fixture} from "../utils/Fixture.sol";
import {ILeverageModule, Policy, Plan, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {ConstantsLib} from "../../src/libraries/ConstantsLib.sol";
import {MarketParams, Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";

/// @notice Cap-bound rescue (issue 13, SECURITY.md row 127): a sub-account due below its band whose operation moves at
/// least 99 % of maxAmountPerRebalance (moved >= cap - cap / 100) may land below the band, at least MIN_BAND_GAP above
/// its health before; every other landing rule is unchanged. Before the rule every such rescue was refused
/// (HealthOutOfBand) and the Safe waited to be liquidated.
contract CapBoundRescueTest is Fixture {
    using MarketParamsLib for MarketParams;

    bytes32 internal wethId;

    function setUp() public override {
        super.setUp();
        openPosition(safe, wethMarket, 10e18, 18_000e6); // health 1.433
        depositToVault(safe, usdcVault, 10_000e6);
        wethId = setPolicyFor(safe, _policy(500e6));
        wethOracle.setPrice(2400e18); // health 24,000 x 0.86 / 18,000 = 1.1467 < minHealth 1.2: due from below
    }

    function _policy(uint256 cap) internal view returns (Policy memory policy) {
        policy = defaultPolicy(wethMarket, address(usdcVault));
        policy.maxAmountPerRebalance = uint128(cap);
    }

    function _repayPlan(uint256 amount) internal view returns (Plan memory) {
        return plan1(
            wethId,
            action(ActionKind.WithdrawFromPool, 0, address(usdcVault), amount),
            action(ActionKind.Repay, 0, address(0), amount)
        );
    }

    function _state() internal view returns (MarketState memory) {
        return adapter.marketState(Id.unwrap(wethMarket.id()), safe);
    }

    /// @dev The Safe's value in loan units: idle USDC + the vault's assets + collateral at the oracle price - debt.
    function _value() internal view returns (int256) {
        MarketState memory st = _state();
        uint256 vault = usdcVault.convertToAssets(usdcVault.balanceOf(safe));
        return int256(usdc.balanceOf(safe) + vault + st.collateral * 2400e6 / 1e18) - int256(st.debt);
    }

    function _healthAfterRepay(uint256 amount) internal pure returns (uint256) {
        return (24_000e6 * 0.86e18) / (18_000e6 - amount);
    }

    function test_CapBoundRescueBelowBand_IsAccepted_AndNothingLeavesTheSafe() public {
        uint256 before = healthOf(safe, wethMarket);
        int256 valueBefore = _value();
        uint256 debtBefore = _state().debt;
        // 500 (the cap) reaches 20,640 / 17,500 = 1.1794: below the band (1.2), 0.033 above where it was.
        executeAsEntryPoint(safe, keeper, _repayPlan(500e6));
        uint256 afterHealth = healthOf(safe, wethMarket);
        assertLt(afterHealth, 1.2e18, "landed below the band");
        assertGe(afterHealth, before + ConstantsLib.MIN_BAND_GAP, "at least MIN_BAND_GAP higher");
        assertApproxEqAbs(afterHealth, _healthAfterRepay(500e6), 0.0001e18);
        assertEq(debtBefore - _state().debt, 500e6, "the whole move repaid the debt");
        assertApproxEqAbs(_value(), valueBefore, 2, "nothing left the Safe");
        // The next operation (no cooldown in this policy) takes the next cap-bound step: 20,640 / 17,000 = 1.2141, in
        // the band but under the ordinary zone's low edge (max(1.2, 1.1794 + 0.1) = 1.2794), accepted as cap-bound.
        executeAsEntryPoint(safe, keeper, _repayPlan(500e6));
        assertApproxEqAbs(healthOf(safe, wethMarket), _healthAfterRepay(1000e6), 0.0001e18);
        assertGe(healthOf(safe, wethMarket), 1.2e18);
        assertLt(healthOf(safe, wethMarket), afterHealth + (1.4e18 - 1.2e18) / 2);
        assertApproxEqAbs(_value(), valueBefore, 4, "nothing left the Safe");
    }

    function test_CapBoundRescue_At99PercentOfTheCap_IsAccepted() public {
        // 495 = cap - cap / 100: the lowest move the rule calls cap-bound.
        executeAsEntryPoint(safe, keeper, _repayPlan(495e6));
        assertApproxEqAbs(healthOf(safe, wethMarket), _healthAfterRepay(495e6), 0.0001e18);
    }

    function test_RevertWhen_BelowBandAndNotCapBound() public {
        // One base unit under 99 % of the cap: the ordinary rule, HealthOutOfBand below the band.
        uint256 amount = 495e6 - 1;
        uint256 health = _healthAfterRepay(amount);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.HealthOutOfBand.selector, wethId, health, 1.2e18, 1.7e18));
        executeAsEntryPoint(safe, keeper, _repayPlan(amount));
        // A larger cap: 500 is 50 % of it, not cap-bound.
        _setCap(1000e6);
        vm.expectRevert(
            abi.encodeWithSelector(ILeverageModule.HealthOutOfBand.selector, wethId, _healthAfterRepay(500e6), 1.2e18, 1.7e18)
        );
        executeAsEntryPoint(safe, keeper, _repayPlan(500e6));
    }

    function test_CapBoundInBand_IsJudgedByTheOrdinaryZone() public {
        // Cap 3,000: 3,000 reaches 20,640 / 15,000 = 1.376, inside the zone [1.2467, 1.55]: accepted as before.
        _setCap(3000e6);
        executeAsEntryPoint(safe, keeper, _repayPlan(3000e6));
        assertApproxEqAbs(healthOf(safe, wethMarket), _healthAfterRepay(3000e6), 0.0001e18);
    }

    function test_RevertWhen_CapBoundGainsLessThanTheGap() public {
        // Cap 100: 100 reaches 20,640 / 17,900 = 1.1531, only 0.0064 up: outside [before + MIN_BAND_GAP, 1.55].
        _setCap(100e6);
        uint256 before = healthOf(safe, wethMarket);
        vm.expectRevert(
            abi.encodeWithSelector(
                ILeverageModule.HealthOutsideLandingZone.selector,
                wethId,
                _healthAfterRepay(100e6),
                before + ConstantsLib.MIN_BAND_GAP,
                1.55e18
            )
        );
        executeAsEntryPoint(safe, keeper, _repayPlan(100e6));
    }

    function test_RevertWhen_CapBoundMoveAboveTheCap() public {
        // The amount cap itself is unchanged: 501 > 500.
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.AmountCapExceeded.selector, wethId, 501e6, 500e6));
        executeAsEntryPoint(safe, keeper, _repayPlan(501e6));
    }

    function _setCap(uint256 cap) internal {
        setPolicyFor(safe, _policy(cap));
    }
}
