// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Fixture} from "../utils/Fixture.sol";
import {MarketState, VenueCall} from "../../src/interfaces/IVenueAdapter.sol";
import {ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {MorphoBlueAdapter} from "../../src/adapters/MorphoBlueAdapter.sol";
import {MarketParams, Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";

/// @notice The Morpho adapter's code-stored market params (`registerMarket`, issue 15): the same params and results as
/// Morpho's `idToMarketParams`, a copy that does not hash to the market is never used, and a registered market reads
/// five cold Morpho slots fewer.
contract MorphoParamsPointerTest is Fixture {
    using MarketParamsLib for MarketParams;

    bytes32 internal market;

    function setUp() public override {
        super.setUp();
        market = Id.unwrap(wethMarket.id());
        openPosition(safe, wethMarket, 10e18, 18_000e6);
    }

    function _eq(MarketState memory a, MarketState memory b) internal pure {
        assertEq(a.loanToken, b.loanToken, "loanToken");
        assertEq(a.collateralToken, b.collateralToken, "collateralToken");
        assertEq(a.collateral, b.collateral, "collateral");
        assertEq(a.debt, b.debt, "debt");
        assertEq(a.price, b.price, "price");
        assertEq(a.lltv, b.lltv, "lltv");
        assertEq(a.health, b.health, "health");
        assertEq(a.equity, b.equity, "equity");
    }

    /// @dev The fixture registers every market it creates: the copy is a STOP byte and the params.
    function test_Registered_CopyIsStopAndTheParams() public view {
        address pointer = adapter.paramsPointer(market);
        assertEq(pointer.code, bytes.concat(hex"00", abi.encode(wethMarket)), "STOP + params");
    }

    /// @dev An adapter without registrations (Morpho's getter) and one with (the copy) agree on every read.
    function test_SameResultsRegisteredOrNot() public {
        MorphoBlueAdapter fresh = new MorphoBlueAdapter(morpho);
        assertEq(fresh.paramsPointer(market).code.length, 0, "not registered");
        _eq(fresh.marketState(market, safe), adapter.marketState(market, safe));
        VenueCall memory a = fresh.encode(uint8(ActionKind.Repay), market, 1_000e6, safe);
        VenueCall memory b = adapter.encode(uint8(ActionKind.Repay), market, 1_000e6, safe);
        assertEq(a.data, b.data, "repay call");
        assertEq(a.approveToken, b.approveToken, "approve token");
        assertEq(fresh.liquidationIncentiveFactor(market), adapter.liquidationIncentiveFactor(market), "LIF");
        (address loanA, address collA) = fresh.marketTokens(market);
        (address loanB, address collB) = adapter.marketTokens(market);
        assertEq(loanA, loanB);
        assertEq(collA, collB);
        fresh.registerMarket(market);
        _eq(fresh.marketState(market, safe), adapter.marketState(market, safe));
    }

    /// @dev Code at the pointer that is not the market's params (here another market's) is ignored: the read falls back
    /// to Morpho, so nothing at that address can change which tokens, oracle or LLTV the module judges by.
    function test_CopyNotHashingToTheMarket_IsIgnored() public {
        vm.etch(adapter.paramsPointer(market), bytes.concat(hex"00", abi.encode(wbtcMarket)));
        MarketState memory state = adapter.marketState(market, safe);
        assertEq(state.collateralToken, address(weth), "Morpho's params, not the copy's");
        assertEq(state.price, wethOracle.price(), "the market's own oracle");
    }

    function test_Register_RefusesUnknownMarketsAndTwice() public {
        vm.expectRevert(abi.encodeWithSelector(MorphoBlueAdapter.UnknownMorphoMarket.selector, keccak256("unknown")));
        adapter.registerMarket(keccak256("unknown"));
        vm.expectRevert(abi.encodeWithSelector(MorphoBlueAdapter.MarketRegistrationFailed.selector, market));
        adapter.registerMarket(market);
        assertEq(adapter.pendingMarketParams().loanToken, address(0), "nothing pending outside a registration");
    }

    /// @dev The point of the copy: a cold marketState reads one account instead of five Morpho slots.
    function test_Gas_ColdMarketStateCheaperRegistered() public {
        MorphoBlueAdapter fresh = new MorphoBlueAdapter(morpho);
        address[5] memory touched = [address(adapter), address(fresh), address(morpho), address(wethOracle), address(weth)];
        for (uint256 i; i < touched.length; ++i) vm.cool(touched[i]);
        vm.cool(adapter.paramsPointer(market));
        uint256 start = gasleft();
        fresh.marketState(market, safe);
        uint256 unregistered = start - gasleft();
        for (uint256 i; i < touched.length; ++i) vm.cool(touched[i]);
        vm.cool(adapter.paramsPointer(market));
        start = gasleft();
        adapter.marketState(market, safe);
        uint256 registered = start - gasleft();
        emit log_named_uint("marketState cold, unregistered", unregistered);
        emit log_named_uint("marketState cold, registered", registered);
        assertLt(registered + 6_000, unregistered, "at least 6,000 gas less cold");
    }
}
