// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Test} from "forge-std/Test.sol";
import {Fixture} from "../utils/Fixture.sol";
import {MorphoBlueAdapter} from "../../src/adapters/MorphoBlueAdapter.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {HealthLib} from "../../src/libraries/HealthLib.sol";
import {RebalanceLib} from "../../src/libraries/RebalanceLib.sol";
import {IMorpho, Id, MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {SharesMathLib} from "@morpho-org/morpho-blue/src/libraries/SharesMathLib.sol";
import {MorphoStorageLib} from "@morpho-org/morpho-blue/src/libraries/periphery/MorphoStorageLib.sol";

/// @notice The adapter's gasB (issue 15) internals, exposed unchanged (inherited, not copied).
contract Rr16gMorphoHarness is MorphoBlueAdapter {
    constructor(IMorpho morpho) MorphoBlueAdapter(morpho) {}

    function storedToAssetsUp(uint256 shares, uint256 totals) external pure returns (uint256) {
        return _storedToAssetsUp(shares, totals);
    }

    function slots(Id id, address account) external pure returns (bytes32, bytes32) {
        return _slots(id, account);
    }

    function initCodeHash() external pure returns (bytes32) {
        return keccak256(POINTER_INIT_CODE);
    }
}

/// @notice Review rr16g (break-it of gasB): the Morpho adapter's hand math against Morpho's own libraries
/// (SharesMathLib rounding, revert parity included; MorphoStorageLib slots; the CREATE2 pointer), `healthOfValue`
/// against `HealthLib.health`, and RebalanceLib's hard-coded Run / MarketState layout against the compiler's.
contract Rr16gMorphoMathTest is Test {
    Rr16gMorphoHarness internal harness;

    function setUp() public {
        harness = new Rr16gMorphoHarness(IMorpho(address(0xB10E)));
    }

    function refToAssetsUp(uint256 shares, uint256 assets, uint256 total) external pure returns (uint256) {
        return SharesMathLib.toAssetsUp(shares, assets, total);
    }

    function _both(uint256 shares, uint256 totals) internal view {
        (bool okRef, bytes memory retRef) =
            address(this).staticcall(abi.encodeCall(this.refToAssetsUp, (shares, uint128(totals), totals >> 128)));
        (bool ok, bytes memory ret) =
            address(harness).staticcall(abi.encodeCall(Rr16gMorphoHarness.storedToAssetsUp, (shares, totals)));
        assertEq(ok, okRef, "reverts exactly where SharesMathLib.toAssetsUp does");
        assertEq(ret, retRef, "same result (or the same panic) as SharesMathLib.toAssetsUp");
    }

    /// @dev Any 128-bit shares and any stored borrow word (both halves full range), half the runs pushed to the top of
    /// the range where the checked add can overflow.
    /// forge-config: default.fuzz.runs = 4096
    function testFuzz_StoredToAssetsUp_EqualsSharesMathLib(uint128 shares, uint256 totals, uint8 shape) public view {
        if (shape & 1 == 1) shares = type(uint128).max - uint128(shares % 4);
        if (shape & 2 == 2) totals = type(uint256).max - (totals % 2e6);
        _both(shares, totals);
    }

    /// @dev The only overflowing corner: shares and assets 2^128 - 1, total shares >= 2^128 - 1e6 + 1, i.e. m - 1e6 + 2 (Panic 0x11 in
    /// both); one below it fits in both.
    function test_StoredToAssetsUp_OverflowBoundary() public view {
        uint256 m = type(uint128).max;
        uint256 edge = m - 1e6 + 2; // total shares where product + d - 1 first reaches 2^256: m 2^128 + edge + 1e6 - 1 = 2^256
        _both(m, (edge << 128) | m);
        _both(m, ((edge - 1) << 128) | m);
        _both(m, (m << 128) | m);
        _both(m, (m << 128) | (m - 1));
        _both(0, type(uint256).max);
        _both(1, 0);
        (bool ok, bytes memory ret) =
            address(harness).staticcall(abi.encodeCall(Rr16gMorphoHarness.storedToAssetsUp, (m, (edge << 128) | m)));
        assertFalse(ok, "the edge overflows");
        assertEq(ret, abi.encodeWithSignature("Panic(uint256)", 0x11), "Panic 0x11");
        (ok,) = address(harness).staticcall(abi.encodeCall(Rr16gMorphoHarness.storedToAssetsUp, (m, ((edge - 1) << 128) | m)));
        assertTrue(ok, "one share below the edge fits");
    }

    /// forge-config: default.fuzz.runs = 1024
    function testFuzz_Slots_EqualMorphoStorageLib(bytes32 id, address account) public view {
        (bytes32 position, bytes32 totals) = harness.slots(Id.wrap(id), account);
        assertEq(position, MorphoStorageLib.positionBorrowSharesAndCollateralSlot(Id.wrap(id), account), "position slot");
        assertEq(totals, MorphoStorageLib.marketTotalBorrowAssetsAndSharesSlot(Id.wrap(id)), "totals slot");
    }

    /// forge-config: default.fuzz.runs = 1024
    function testFuzz_ParamsPointer_IsTheCreate2Address(bytes32 market) public view {
        assertEq(
            harness.paramsPointer(market),
            vm.computeCreate2Address(market, harness.initCodeHash(), address(harness)),
            "CREATE2(this, market, keccak256(POINTER_INIT_CODE))"
        );
    }

    /// forge-config: default.fuzz.runs = 1024
    function testFuzz_HealthOfValue_EqualsHealth(uint128 collateral, uint256 debt, uint256 price, uint64 lltv) public pure {
        price = bound(price, 0, 1e60);
        uint256 value = HealthLib.collateralValue(collateral, price);
        assertEq(HealthLib.healthOfValue(value, debt, lltv), HealthLib.health(collateral, debt, price, lltv), "health");
    }

    /* LAYOUT: RebalanceLib's RUN_WORDS, STATE_WORDS, STATE_MEMBER against the compiler */

    string internal constant ARTIFACT = "out/RebalanceLib.sol/RebalanceLib.json";

    /// @dev The value of RebalanceLib's constant `name`, from the compiled AST (one match: parseJsonUint refuses several).
    function _constant(string memory json, string memory name) internal pure returns (uint256) {
        return vm.parseJsonUint(
            json, string.concat("$.ast..nodes[?(@.name == '", name, "' && @.constant == true)].value.value")
        );
    }

    /// @dev `_newRuns` lays out n Runs with RUN_WORDS / STATE_WORDS / STATE_MEMBER; fails when a field is added to (or
    /// moved in) Run or MarketState without updating them. The compiler's layout: a memory MarketState takes as many
    /// words as its (static) ABI encoding; a memory Run takes one word per member, its `state` a pointer, so its ABI
    /// encoding (state inline) is RUN_WORDS - 1 + STATE_WORDS words; the state pointer's word is found by value.
    function test_NewRunsLayoutConstants_MatchTheCompiler() public view {
        string memory json = vm.readFile(ARTIFACT);
        uint256 runWords = _constant(json, "RUN_WORDS");
        uint256 stateWords = _constant(json, "STATE_WORDS");
        uint256 stateMember = _constant(json, "STATE_MEMBER");

        MarketState memory s;
        assertEq(abi.encode(s).length, stateWords * 32, "STATE_WORDS != MarketState's words");
        RebalanceLib.Run memory run;
        assertEq(abi.encode(run).length, (runWords - 1 + stateWords) * 32, "RUN_WORDS != Run's words");
        MarketState memory inner = run.state;
        uint256 found = type(uint256).max;
        assembly ("memory-safe") {
            for { let i := 0 } lt(i, runWords) { i := add(i, 1) } {
                if eq(mload(add(run, shl(5, i))), inner) { found := i }
            }
        }
        assertEq(found, stateMember, "STATE_MEMBER != Run.state's member index");
        // `_marketState` copies 0x120 bytes, a MarketState's encoding.
        assertEq(stateWords * 32, 0x120, "_marketState's 0x120 is out of step with MarketState");
    }
}
