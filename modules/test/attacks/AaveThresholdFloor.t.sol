// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";

import {AttackBase} from "./AttackBase.sol";
import {AaveTestBase} from "../utils/AaveTestBase.sol";
import {ILeverageModule, Policy, Plan, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";

/// @notice Review rev10q of issue 10 (a): the Aave adapter's market-frame collateral does NOT move one for one with a
/// supply of the market's collateral when the account holds collateral of another threshold. Aave's getUserAccountData
/// returns the average liquidation threshold FLOORED to whole bps (GenericLogic: sum(value x threshold) / total), and
/// the frame collateral is totalCollateralBase x that floor / the market threshold. Supplying X WETH moves the frame by
/// X + (r0 - r1) / (8300 x price), r = sum(value x threshold) mod totalCollateralBase (base currency x bps): up to 1 bps
/// of the account's whole collateral / the market threshold (~1.2 bps of C) of phantom gain or loss per operation. The
/// module's per-operation loss (`_loss`, `_netUnits` of the collateral token) and the epoch loss budget both read the
/// frame, so a keeper choosing X so the floor just flips up books a phantom gain that hides a skim.
/// Input: 40 WETH (83%) + 0.5 WBTC (78%) on Aave against ~86.6k USDC (health ~1.19, due), policy on WETH/USDC with
/// maxLossBps 10 and a WETH pool (owner-listed) whose exit fee the attacker sets; the keeper supplies X WETH from it.
contract AaveThresholdFloorTest is AttackBase, AaveTestBase {
    bytes32 internal aaveId;
    RiggedVault internal wethPool;

    function setUp() public override(AttackBase, AaveTestBase) {
        super.setUp(); // WETH 2,400, WBTC 60,000
        openAaveAccount(40e18, 0.5e8, 86_600e6);
        wethPool = _feePool(weth, 20e18, 0);
        Policy memory policy = aavePolicy(wethUsdc, address(wethOracle), address(wethPool));
        policy.maxLossBps = 10;
        aaveId = setPolicyFor(safe, policy);
        assertLt(aaveHealthFactor(safe), 1.2e18, "due");
    }

    /// @dev Aave's r = sum(base value x threshold) mod total base value, and the total, after `x` more WETH supplied.
    function _remainder(uint256 x) internal view returns (uint256 r, uint256 total) {
        uint256 wethBase = (aBalance(weth, safe) + x) * aaveOracle.getAssetPrice(address(weth)) / 1e18;
        uint256 wbtcBase = aBalance(wbtc, safe) * aaveOracle.getAssetPrice(address(wbtc)) / 1e8;
        total = wethBase + wbtcBase;
        r = (wethBase * 8300 + wbtcBase * 7800) % total;
    }

    /// @dev The attacker's search: the supply in [4.4, 5.4] WETH (landing zone) with the smallest remainder after.
    function _bestSupply() internal view returns (uint256 best, uint256 rBest) {
        rBest = type(uint256).max;
        for (uint256 x = 4.4e18; x <= 5.4e18; x += 0.001e18) {
            (uint256 r,) = _remainder(x);
            if (r < rBest) (rBest, best) = (r, x);
        }
    }

    function _plan(uint256 x) internal view returns (Plan memory) {
        return plan1(
            aaveId, action(ActionKind.WithdrawFromPool, 0, address(wethPool), x), action(ActionKind.SupplyCollateral, 0, address(0), x)
        );
    }

    /// @dev FAILS TODAY: a skim of ~2.6x the per-operation allowance (maxLossBps 10 of the ~11.5k supply) through the
    /// WETH pool's exit fee is accepted, because the supply's phantom frame gain (the threshold floor flipping up) books
    /// it as no loss; nothing is charged to the epoch loss budget either.
    function test_rev10q_ThresholdFloorPhantomGainHidesASkim() public {
        // Open (issue 10, rev10q, SECURITY row 64): the Aave frame from Aave's whole-bps average threshold books a phantom gain; skipped until the frame is exact.
        vm.skip(true);
        _attack(10, 1);
    }

    /// @dev FAILS TODAY, the SDK quickstart's maxLossBps 50 (same account, same supply): a skim of 1.2x the ~58 USDC
    /// allowance is accepted; the phantom (<= 1 bps of the whole collateral / the market threshold per operation) is
    /// independent of the move, so it matters most next to a small allowance (tight band, low maxLossBps).
    function test_rev10q_ThresholdFloorPhantomGainHidesASkim_Quickstart50() public {
        // Open (issue 10, rev10q, SECURITY row 64): the Aave frame from Aave's whole-bps average threshold books a phantom gain; skipped until the frame is exact.
        vm.skip(true);
        Policy memory policy = aavePolicy(wethUsdc, address(wethOracle), address(wethPool));
        aaveId = setPolicyFor(safe, policy);
        _attack(50, 0);
    }

    /// @dev `lossBps` the policy's maxLossBps; the skim must exceed the allowance x (1 + overHalves / 2).
    function _attack(uint256 lossBps, uint256 overHalves) internal {
        (uint256 r0, uint256 c0) = _remainder(0);
        // Tune the start (an owner top-up of idle dust is not needed: wait for the r0 the attacker wants). Here we take
        // the state as is and report it.
        (uint256 x, uint256 r1) = _bestSupply();
        uint256 price = aaveOracle.getAssetPrice(address(weth)); // 8 decimals
        // Phantom gain in USDC base units (6 decimals): (r0 - r1) / 8300 base units (8 decimals) / 100.
        int256 phantom = (int256(r0) - int256(r1)) / 8300 / 100;
        uint256 supplyUsdc = x * price / 1e18 / 100;
        uint256 allowance = supplyUsdc * lossBps / 1e4;
        emit log_named_uint("total collateral base (8 dec)", c0);
        emit log_named_uint("r0 / total (ppm)", r0 * 1e6 / c0);
        emit log_named_uint("supply X (wei)", x);
        emit log_named_int("phantom gain (USDC base units)", phantom);
        emit log_named_uint("allowance ~ (USDC base units)", allowance);
        // The attacker's fee: allowance + 90% of the phantom, rounded down to whole bps of the withdrawal.
        uint256 feeBps = (allowance + uint256(phantom) * 9 / 10) * 1e4 / supplyUsdc;
        wethPool.setExitFee(feeBps);
        uint256 feeUsdc = supplyUsdc * feeBps / 1e4;
        emit log_named_uint("exit fee (bps)", feeBps);
        emit log_named_uint("skim ~ (USDC base units)", feeUsdc);
        assertGt(feeUsdc * 2, allowance * (2 + overHalves), "the skim is over the allowance");
        assertGt(feeUsdc, allowance, "the skim is over the allowance");

        uint256 poolAssets = wethPool.convertToAssets(wethPool.balanceOf(safe));
        uint256 aWeth = aBalance(weth, safe);
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(x), keeperKey);
        (bool ok, bytes memory reason) = handle(op);
        if (ok) {
            uint256 poolDrop = poolAssets - wethPool.convertToAssets(wethPool.balanceOf(safe));
            emit log_named_uint("WETH out of the pool (wei)", poolDrop);
            emit log_named_uint("WETH into Aave (wei)", aBalance(weth, safe) - aWeth);
            emit log_named_uint("WETH lost (wei)", poolDrop - (aBalance(weth, safe) - aWeth));
            emit log_named_uint("epoch lossPpb charged", module.getEpochUsage(safe, aaveId).lossPpb);
        }
        assertFalse(ok, "a skim over maxLossBps of what moved must be refused");
        assertEq(bytes4(reason), ILeverageModule.ValueLossExceeded.selector, "ValueLossExceeded");
    }

    /// @dev Control: the same skim with a supply where the floor does not flip in the attacker's favour (the largest
    /// remainder after) is refused by name, so the per-operation bound itself works on this account.
    function test_rev10q_Control_SameSkimWithoutThePhantomRefused() public {
        (uint256 r0,) = _remainder(0);
        uint256 xWorst;
        uint256 rWorst;
        for (uint256 x = 4.4e18; x <= 5.4e18; x += 0.001e18) {
            (uint256 r,) = _remainder(x);
            if (r > rWorst && r >= r0) (rWorst, xWorst) = (r, x);
        }
        uint256 price = aaveOracle.getAssetPrice(address(weth));
        uint256 supplyUsdc = xWorst * price / 1e18 / 100;
        wethPool.setExitFee(20); // 2x the 10 bps allowance
        PackedUserOperation memory op = keeperOp(safe, keeper, _plan(xWorst), keeperKey);
        (bool ok, bytes memory reason) = handle(op);
        emit log_named_uint("supply (USDC base units)", supplyUsdc);
        assertFalse(ok, "refused");
        assertEq(bytes4(reason), ILeverageModule.ValueLossExceeded.selector, "ValueLossExceeded");
    }
}
