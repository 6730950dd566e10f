// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {AaveTestBase} from "../utils/AaveTestBase.sol";
import {ILeverageModule, Policy} from "../../src/interfaces/ILeverageModule.sol";

/// @notice Review rev17f (issue 17, break of 8b1953c): setPolicy's TargetHealthBelowBorrowReach compares the target with
/// the MARKET's collateral reserve alone (minBorrowHealth = LT / LTV of that reserve), while Aave's validateBorrow uses the
/// ACCOUNT's average LTV across every collateral reserve (GenericLogic: avgLtv, avgLiquidationThreshold weighted by value),
/// and the Aave sub-account is the whole account. On a multi-collateral account the check is wrong both ways:
/// (A) a WETH/USDC policy (WETH 80.5% / 83%: reach 1.0311) on an account that is mostly WBTC (73% / 78%) passes with
///     target 1.06 (minHealth 1.05, the liquidation bonus), but the account's own reach is ~1.067: a boost to the target is refused by Aave ("36");
/// (B) a WBTC/USDC policy (reach 1.0685) on an account that is mostly WETH is refused at target 1.06, though Aave lends
///     the account down to ~1.033 and a boost to 1.06 lands.
/// The keeper's availableBorrowsBase clamp keeps (A) from sending refused ops (it skips: levpilot_boost_ltv_bound), so
/// this is a policy-check disagreement, not a fund risk.
/// Fixed: `IVenueAdapter.minBorrowHealth(market, account)`; setPolicy passes the Safe, and the Aave adapter returns the
/// account's own reach (getUserAccountData: ceil(avg LT / avg LTV)) when it holds collateral, the market collateral's
/// LT / LTV only without collateral (SECURITY row 63).
contract AaveMultiCollateralReachTest is AaveTestBase {
    uint256 internal constant WAD = 1e18;


    /// @dev The account's own reach: getUserAccountData's currentLiquidationThreshold / ltv (WAD, rounded up).
    function accountReach(address account) internal view returns (uint256) {
        (,,, uint256 lt, uint256 ltv,) = aavePool.getUserAccountData(account);
        return Math.mulDiv(lt, WAD, ltv, Math.Rounding.Ceil);
    }

    /// @dev Borrow (USDC) taking the account to health `h` (WAD): debt = collateral x avgLT / h.
    function borrowTo(address account, uint256 h) internal view returns (uint256) {
        (uint256 collBase, uint256 debtBase,, uint256 lt,,) = aavePool.getUserAccountData(account);
        uint256 debtAt = collBase * lt * WAD / (10_000 * h);
        return (debtAt - debtBase) * 1e6 / aaveOracle.getAssetPrice(address(usdc));
    }

    /// @dev (A) accepted, unreachable (was FAILS TODAY, skipped): setPolicy accepted target 1.06 on WETH/USDC though the
    /// account lends no lower than ~1.067 (1 WBTC + 0.01 WETH); now refused with the account's reach.
    function test_MostlyWbtc_WethPolicyTargetBelowAccountReach_Refused() public {
        installModuleWithAave();
        aaveSupply(safe, wbtc, 1e8);
        aaveSupply(safe, weth, 0.01e18);
        aaveBorrow(safe, usdc, 10_000e6);
        uint256 marketReach = aaveAdapter.minBorrowHealth(wethUsdc, makeAddr("no Aave collateral"));
        uint256 reachNow = accountReach(safe);
        assertEq(aaveAdapter.minBorrowHealth(wethUsdc, safe), reachNow, "the adapter's reach is the account's");
        emit log_named_uint("market reach (WETH LT/LTV)", marketReach);
        emit log_named_uint("account reach (avg LT / avg LTV)", reachNow);
        assertLt(marketReach, 1.06e18);
        assertGt(reachNow, 1.06e18);
        // Aave refuses the boost to the target (the account's LTV binds): "36".
        Policy memory policy = boostingPolicy(wethUsdc, 1.05e18, 1.06e18, 1.5e18);
        policy.boostAllowed = false;
        bytes32 id = setPolicyFor(safe, policy);
        uint256 toTarget = borrowTo(safe, 1.06e18);
        vm.prank(safe);
        vm.expectRevert(bytes("36"));
        aavePool.borrow(address(usdc), toTarget, 2, 0, safe);
        // The module should refuse the boosting policy as it refuses one whose own collateral cannot reach the target.
        policy.boostAllowed = true;
        vm.prank(safe);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.TargetHealthBelowBorrowReach.selector, 1.06e18, reachNow));
        ILeverageModule(safe).setPolicy(policy);
        assertTrue(id != bytes32(0));
    }

    /// @dev (B) refused, reachable (was FAILS TODAY, skipped): setPolicy refused target 1.06 on WBTC/USDC (the market's
    /// reach 1.0685) though the account (0.01 WBTC + 100 WETH) lends to ~1.031 and a boost to 1.06 lands; now accepted.
    function test_MostlyWeth_WbtcPolicyReachableTarget_Accepted() public {
        installModuleWithAave();
        aaveSupply(safe, wbtc, 0.01e8);
        aaveSupply(safe, weth, 100e18);
        aaveBorrow(safe, usdc, 10_000e6);
        uint256 reachNow = accountReach(safe);
        uint256 marketReach = aaveAdapter.minBorrowHealth(wbtcUsdc, makeAddr("no Aave collateral"));
        emit log_named_uint("market reach (WBTC LT/LTV)", marketReach);
        emit log_named_uint("account reach (avg LT / avg LTV)", reachNow);
        assertGt(marketReach, 1.06e18);
        assertLt(reachNow, 1.06e18);
        assertEq(aaveAdapter.minBorrowHealth(wbtcUsdc, safe), reachNow, "the adapter's reach is the account's");
        Policy memory policy = boostingPolicy(wbtcUsdc, 1.05e18, 1.06e18, 1.5e18);
        policy.boostAllowed = false;
        bytes32 id = setPolicyFor(safe, policy);
        // Aave lends the account down to 1.06 (its average LTV): the Safe borrows it (owner transaction) and the
        // module reads health 1.06.
        uint256 snap = vm.snapshotState();
        aaveBorrow(safe, usdc, borrowTo(safe, 1.06e18));
        assertApproxEqRel(module.health(safe, id), 1.06e18, 1e12);
        vm.revertToState(snap);
        // The boosting policy is accepted (it was refused: TargetHealthBelowBorrowReach(1.06e18, 1.0685e18)).
        policy.boostAllowed = true;
        assertEq(setPolicyFor(safe, policy), id);
    }
}
