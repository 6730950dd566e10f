// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {ILeverageModule} from "../../src/interfaces/ILeverageModule.sol";
import {IVenueAdapter} from "../../src/interfaces/IVenueAdapter.sol";
import {PositionHealthRescueBase} from "./PositionHealthDecoding.t.sol";

/// @notice A naive reader of the venue adapter's `positionHealth` reply: a low-level call whose `bytes memory` result is
/// the whole reply copied to memory (RETURNDATACOPY of RETURNDATASIZE). The cost a full copy has, for comparison.
contract PositionHealthFullCopy {
    function read(address adapter, bytes calldata data) external view returns (uint256 length, uint256 gasUsed) {
        uint256 start = gasleft();
        (bool ok, bytes memory reply) = adapter.staticcall(data);
        gasUsed = start - gasleft();
        require(ok, "positionHealth reverted");
        length = reply.length;
    }
}

/// @notice Review rr17b I3 (tested in rr18): a return bomb. The venue adapter's `positionHealth` replies 1 MiB; the
/// engine's hand decoder (`RebalanceLib._positionHealth`) passes STATICCALL a retSize of 0x60, so only the three words
/// it reads are copied to its memory, and a longer reply is read for its first three words (documented: "a longer one
/// is read for its first three words"). The reply is a mock, so the adapter's own cost of building 1 MiB (its memory
/// expansion, about 2.2 M gas, paid inside its frame) is not measured: the gas compared is the engine's alone.
contract PositionHealthReturnBombTest is PositionHealthRescueBase {
    uint256 internal constant BOMB = 1 << 20; // 1 MiB of reply
    /// @dev The memory expansion of a full copy of BOMB bytes into an empty memory: 3 x words + words^2 / 512 with
    /// 32,768 words = 2,195,456 gas (a lower bound for any reader copying the whole reply; the copy itself adds 3 per
    /// word more).
    uint256 internal constant FULL_COPY_MEMORY_GAS = 3 * (BOMB / 32) + (BOMB / 32) * (BOMB / 32) / 512;
    /// @dev The gas the engine may spend above its run with the same three words as an exact reply.
    uint256 internal constant BOUND = 10_000;

    PositionHealthFullCopy internal fullCopy;

    function setUp() public override {
        super.setUp();
        fullCopy = new PositionHealthFullCopy();
    }

    /// @dev `words` (the reply's first three words) followed by junk (all bits set) up to BOMB bytes.
    function _bomb(uint256 c, uint256 d, uint256 h) internal pure returns (bytes memory reply) {
        reply = new bytes(BOMB);
        assembly ("memory-safe") {
            let p := add(reply, 0x20)
            mstore(p, c)
            mstore(add(p, 0x20), d)
            mstore(add(p, 0x40), h)
            for { let i := 0x60 } lt(i, BOMB) { i := add(i, 0x20) } { mstore(add(p, i), not(0)) }
        }
    }

    function _mock(bytes memory reply) internal {
        vm.mockCall(address(adapter), abi.encodeWithSelector(IVenueAdapter.positionHealth.selector), reply);
    }

    /// @dev executeRebalance as the EntryPoint calls it with `reply` mocked: success, revert data and the call's gas;
    /// state rolled back.
    function _run(bytes memory reply) internal returns (bool ok, bytes memory ret, uint256 gasUsed) {
        _mock(reply);
        uint256 snap = vm.snapshotState();
        vm.prank(address(entryPoint));
        uint256 start = gasleft();
        (ok, ret) = safe.call(abi.encodeCall(ILeverageModule.executeRebalance, (keeper, _rescue())));
        gasUsed = start - gasleft();
        vm.revertToState(snap);
        vm.clearMockedCalls();
    }

    /// @dev The real reply followed by 1 MiB of junk: the rebalance succeeds on the first three words, for at most BOUND
    /// gas more than with the exact reply, while a full copy of the same reply costs over FULL_COPY_MEMORY_GAS.
    function test_PositionHealth_ReturnBomb_FirstWordsUsed_CopyCapped() public {
        (bool okExact, bytes memory retExact, uint256 gasExact) = _run(abi.encode(real[0], real[1], real[2]));
        assertTrue(okExact, "the exact reply passes");
        assertEq(retExact.length, 0, "no return data");
        bytes memory bomb = _bomb(real[0], real[1], real[2]);
        (bool ok, bytes memory ret, uint256 gasBomb) = _run(bomb);
        assertTrue(ok, "the 1 MiB reply passes on its first three words");
        assertEq(ret.length, 0, "no return data");
        emit log_named_uint("gas, exact reply", gasExact);
        emit log_named_uint("gas, 1 MiB reply", gasBomb);
        assertLe(gasBomb, gasExact + BOUND, "the engine's cost grew with the reply's size");

        // The same reply read whole: its copy alone costs more than the bound allows (the bound is meaningful).
        _mock(bomb);
        (uint256 length, uint256 gasFull) = fullCopy.read(
            address(adapter), abi.encodeCall(IVenueAdapter.positionHealth, (wethMarketId, safe, pre.price, pre.lltv))
        );
        emit log_named_uint("gas, a full copy of the reply", gasFull);
        assertEq(length, BOMB, "the mock replies 1 MiB");
        assertGt(FULL_COPY_MEMORY_GAS, BOUND, "bound below a full copy's memory cost");
        assertGt(gasFull, FULL_COPY_MEMORY_GAS, "a full copy costs at least its memory expansion");
    }

    /// @dev The health judged is the 1 MiB reply's third word (1.9, above maxHealth): HealthOutOfBand with exactly it,
    /// and the engine's gas still bounded.
    function test_PositionHealth_ReturnBomb_HealthFromTheFirstWords() public {
        (bool okExact, bytes memory retExact, uint256 gasExact) = _run(abi.encode(real[0], real[1], uint256(1.9e18)));
        (bool ok, bytes memory ret, uint256 gasBomb) = _run(_bomb(real[0], real[1], 1.9e18));
        bytes memory expected = abi.encodeWithSelector(ILeverageModule.HealthOutOfBand.selector, wethId, 1.9e18, 1.2e18, 1.7e18);
        assertFalse(okExact, "a health above the band accepted (exact reply)");
        assertEq(retExact, expected, "HealthOutOfBand (exact reply)");
        assertFalse(ok, "a health above the band accepted (1 MiB reply)");
        assertEq(ret, expected, "HealthOutOfBand with the 1 MiB reply's third word");
        assertLe(gasBomb, gasExact + BOUND, "the engine's cost grew with the reply's size");
    }
}
