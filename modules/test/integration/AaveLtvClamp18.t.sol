// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {AaveTestBase} from "../utils/AaveTestBase.sol";
import {IPool} from "@aave/core-v3/contracts/interfaces/IPool.sol";

/// @notice Review rev17f (issue 17): the keeper's LTV clamp (bundler-client keeper/aaveLimits.ts `aaveLtvBorrowable`:
/// (availableBorrowsBase - ceil(1 bps of totalDebtBase) - 1) x 10^decimals / price, floor) on an 18-decimal debt asset
/// in e-mode (wstETH collateral, WETH debt, category LTV 93%), read one block before inclusion: a borrow of it always
/// lands on the real Pool (no "36" from the price rounding), for fuzzed collateral, debt and a 12 s to 1 h delay.
contract AaveLtvClamp18Test is AaveTestBase {
    /// @dev aaveLtvBorrowable, as the keeper computes it (Aave's price of WETH: no e-mode price source here).
    function ltvBorrowable(address account) internal view returns (uint256) {
        (, uint256 debtBase, uint256 availableBase,,,) = aavePool.getUserAccountData(account);
        uint256 keep = (debtBase + 9999) / 10_000 + 1;
        if (availableBase <= keep) return 0;
        return (availableBase - keep) * 1e18 / aaveOracle.getAssetPrice(address(weth));
    }

    function testFuzz_ClampedWethBorrowLands(uint256 supply, uint256 debtBps, uint256 delay) public {
        supply = bound(supply, 1e15, 100e18);
        debtBps = bound(debtBps, 0, 9000); // of the LTV room
        delay = bound(delay, 12, 3600);
        aaveSetEMode(aaveSafe, AAVE_ETH_EMODE);
        aaveSupply(aaveSafe, wsteth, supply);
        uint256 first = ltvBorrowable(aaveSafe) * debtBps / 10_000;
        if (first > 0) aaveBorrow(aaveSafe, weth, first);
        uint256 borrow = ltvBorrowable(aaveSafe);
        vm.assume(borrow > 0);
        vm.warp(block.timestamp + delay);
        vm.roll(block.number + 1);
        vm.prank(aaveSafe);
        aavePool.borrow(address(weth), borrow, 2, 0, aaveSafe); // lands: never "36"
        // What the clamp leaves unused: the 1 bps of the debt it keeps back for accrual, and rounding.
        (, uint256 debtBase, uint256 left,,,) = aavePool.getUserAccountData(aaveSafe);
        assertLe(left, debtBase * 2 / 10_000 + 100, "the clamp leaves at most ~2 bps of the debt unused");
    }
}
