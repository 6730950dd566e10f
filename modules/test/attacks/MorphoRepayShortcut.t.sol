// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {AdaptiveCurveIrmFixture} from "../utils/AdaptiveCurveIrmFixture.sol";
import {ILeverageModule} from "../../src/interfaces/ILeverageModule.sol";
import {VenueCall} from "../../src/interfaces/IVenueAdapter.sol";
import {IMorphoBase, MarketParams, Id, Position} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";

/// @notice Review rev10q (b): MorphoBlueAdapter._repay's gas shortcut (stored totals first, accrual only when the
/// repayment reaches the stored-totals debt) on a market whose stored totals lag (AdaptiveCurveIrm, 30 days without a
/// touch). Around both boundaries (the stored-totals debt Ds and the accrued debt Da > Ds), each repayment is run as the
/// module runs it (approval exact, then Morpho's repay as the Safe): the Safe never pays more than min(assets, Da), a
/// repayment below Da repays by assets exactly, one at or above Da clears the position by shares for exactly Da.
contract MorphoRepayShortcutTest is AdaptiveCurveIrmFixture {
    using MarketParamsLib for MarketParams;

    MarketParams internal market;

    function setUp() public override {
        super.setUp();
        irm = deployAdaptiveCurveIrm();
        market = createIrmMarket(address(weth), address(wethOracle), 10_000_000e6);
        openPosition(safe, market, 10e18, 20_640e6);
        borrowElsewhere(market, 9_000_000e6 - 20_640e6);
        vm.warp(block.timestamp + 30 days); // stored totals now lag the accrued debt
    }

    function _repayAsModule(uint256 assets) internal returns (uint256 paid, uint256 sharesLeft, bool byShares) {
        VenueCall memory call = adapter.encode(5, Id.unwrap(market.id()), assets, safe);
        (, uint256 a, uint256 s,,) = abi.decode(_args(call.data), (MarketParams, uint256, uint256, address, bytes));
        byShares = a == 0 && s != 0;
        usdc.mint(safe, 30_000e6);
        uint256 balance = usdc.balanceOf(safe);
        vm.startPrank(safe);
        usdc.approve(call.target, call.approveAmount);
        (bool ok, bytes memory err) = call.target.call(call.data);
        vm.stopPrank();
        if (!ok) assembly ("memory-safe") { revert(add(err, 0x20), mload(err)) }
        paid = balance - usdc.balanceOf(safe);
        sharesLeft = morpho.position(market.id(), safe).borrowShares;
        assertEq(usdc.allowance(safe, address(morpho)), 0, "approval exact");
    }

    function _args(bytes memory data) internal pure returns (bytes memory out) {
        out = new bytes(data.length - 4);
        for (uint256 i; i < out.length; ++i) out[i] = data[i + 4];
    }

    function test_rev10q_RepayAroundStoredAndAccruedDebt() public {
        uint256 ds = storedDebt(safe, market);
        uint256 da = adapter.marketState(Id.unwrap(market.id()), safe).debt;
        assertGt(da, ds + 2, "interest accrued beyond the stored totals");
        emit log_named_uint("stored-totals debt", ds);
        emit log_named_uint("accrued debt", da);
        uint256[7] memory amounts = [ds - 1, ds, ds + 1, da - 1, da, da + 1, type(uint256).max];
        for (uint256 i; i < amounts.length; ++i) {
            uint256 snap = vm.snapshotState();
            (uint256 paid, uint256 sharesLeft, bool byShares) = _repayAsModule(amounts[i]);
            if (amounts[i] >= da) {
                assertTrue(byShares, "at or above the accrued debt: by shares");
                assertEq(paid, da, "pays exactly the accrued debt");
                assertEq(sharesLeft, 0, "cleared");
            } else {
                assertFalse(byShares, "below the accrued debt: by assets");
                assertEq(paid, amounts[i], "pays exactly the repayment");
                assertGt(sharesLeft, 0, "not cleared");
            }
            vm.revertToState(snap);
        }
    }
}
