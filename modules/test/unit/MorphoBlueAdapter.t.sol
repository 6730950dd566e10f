// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Fixture} from "../utils/Fixture.sol";
import {IVenueAdapter, MarketState, VenueCall} from "../../src/interfaces/IVenueAdapter.sol";
import {IMorphoBase, MarketParams, Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";

/// @notice The Morpho Blue adapter: state reads round in the safe direction and every encoded call credits only the
/// account it was asked for.
contract MorphoBlueAdapterTest is Fixture {
    using MarketParamsLib for MarketParams;

    bytes32 internal market;

    function setUp() public override {
        super.setUp();
        market = Id.unwrap(wethMarket.id());
        openPosition(safe, wethMarket, 10e18, 18_000e6);
    }

    function test_Venue_IsMorpho() public view {
        assertEq(adapter.venue(), address(morpho));
    }

    /// @dev One debt per market: MarketState.debt is what a repayment can clear, so no tighter bound.
    function test_MaxRepayable_IsUnbounded() public view {
        assertEq(adapter.maxRepayable(market, safe), type(uint256).max);
    }

    function test_IsMarket_KnowsCreatedMarketsOnly() public view {
        assertTrue(adapter.isMarket(market));
        assertFalse(adapter.isMarket(keccak256("unknown")));
    }

    /// @dev Each Morpho Blue market is its own position: keys differ per market and per Morpho contract; zero for an
    /// unknown market (the module's UnknownMarket).
    function test_AccountKey_OnePerMarketAndMorphoContract() public view {
        assertEq(adapter.accountKey(market), keccak256(abi.encode(address(morpho), market)));
        assertTrue(adapter.accountKey(market) != adapter.accountKey(Id.unwrap(wbtcMarket.id())), "markets are isolated");
        assertEq(adapter.accountKey(keccak256("unknown")), bytes32(0));
    }

    /// @dev Morpho's `liquidate`: min(1.15, 1 / (1 - 0.3 (1 - LLTV))), WAD, rounded down at each step.
    function testFuzz_LiquidationIncentiveFactor_IsMorphosFormula(uint256 lltv) public {
        lltv = bound(lltv, 0.01e18, 0.99e18);
        if (!morpho.isLltvEnabled(lltv)) morpho.enableLltv(lltv);
        // A (collateral, oracle) pair no fixture market uses, so any LLTV makes a new market.
        MarketParams memory params = MarketParams(address(usdc), address(weth), address(wbtcOracle), address(0), lltv);
        morpho.createMarket(params);
        uint256 expected = 1e18 * 1e18 / (1e18 - 0.3e18 * (1e18 - lltv) / 1e18);
        if (expected > 1.15e18) expected = 1.15e18;
        assertEq(adapter.liquidationIncentiveFactor(Id.unwrap(params.id())), expected);
    }

    function test_LiquidationIncentiveFactor_KnownValues() public view {
        assertEq(adapter.liquidationIncentiveFactor(market), 1043841336116910229, "LLTV 0.86: 1 / 0.958");
    }

    function test_MarketTokens() public view {
        (address loan, address collateral) = adapter.marketTokens(market);
        assertEq(loan, address(usdc));
        assertEq(collateral, address(weth));
    }

    function test_MarketState_ReportsThePosition() public view {
        MarketState memory state = adapter.marketState(market, safe);
        assertEq(state.loanToken, address(usdc));
        assertEq(state.collateralToken, address(weth));
        assertEq(state.collateral, 10e18);
        assertEq(state.debt, 18_000e6);
        assertEq(state.price, wethOracle.price());
        assertEq(state.lltv, LLTV);
        // The epoch loss budget's base: collateral value - debt (10 WETH at the oracle's price - 18,000 USDC).
        assertEq(state.equity, int256(10e18 * wethOracle.price() / 1e36) - 18_000e6, "equity");
        (uint256 collateral, uint256 debt) = adapter.position(market, safe);
        assertEq(collateral, 10e18);
        assertEq(debt, 18_000e6);
    }

    function test_Encode_SupplyCollateralCreditsTheAccountWithExactApproval() public view {
        VenueCall memory call = adapter.encode(2, market, 1e18, safe);
        assertEq(call.target, address(morpho));
        assertEq(call.data, abi.encodeCall(IMorphoBase.supplyCollateral, (wethMarket, 1e18, safe, "")));
        assertEq(call.approveToken, address(weth));
        assertEq(call.approveAmount, 1e18);
    }

    function test_Encode_WithdrawCollateralAndBorrowPayTheAccountOnly() public view {
        VenueCall memory call = adapter.encode(3, market, 1e18, safe);
        assertEq(call.data, abi.encodeCall(IMorphoBase.withdrawCollateral, (wethMarket, 1e18, safe, safe)));
        assertEq(call.approveToken, address(0));
        call = adapter.encode(4, market, 5e6, safe);
        assertEq(call.data, abi.encodeCall(IMorphoBase.borrow, (wethMarket, 5e6, 0, safe, safe)));
        assertEq(call.approveToken, address(0));
    }

    function test_Encode_PartialRepayByAssets() public view {
        VenueCall memory call = adapter.encode(5, market, 1000e6, safe);
        assertEq(call.data, abi.encodeCall(IMorphoBase.repay, (wethMarket, 1000e6, 0, safe, "")));
        assertEq(call.approveToken, address(usdc));
        assertEq(call.approveAmount, 1000e6);
    }

    function test_Encode_FullRepayBySharesApprovesTheDebtOnly() public view {
        uint256 shares = morpho_borrowShares();
        VenueCall memory call = adapter.encode(5, market, type(uint256).max, safe);
        assertEq(call.data, abi.encodeCall(IMorphoBase.repay, (wethMarket, 0, shares, safe, "")));
        assertEq(call.approveAmount, 18_000e6, "approval is the debt, not the requested amount");
    }

    function test_Encode_RevertWhen_KindIsNotAVenueAction() public {
        for (uint8 kind; kind < 2; ++kind) {
            vm.expectRevert(abi.encodeWithSelector(IVenueAdapter.UnsupportedAction.selector, kind));
            adapter.encode(kind, market, 1, safe);
        }
        vm.expectRevert(abi.encodeWithSelector(IVenueAdapter.UnsupportedAction.selector, 6));
        adapter.encode(6, market, 1, safe);
    }

    function morpho_borrowShares() internal view returns (uint256 shares) {
        (, shares,) = abi.decode(
            abi.encode(morpho.position(Id.wrap(market), safe)), (uint256, uint256, uint256)
        );
    }
}
