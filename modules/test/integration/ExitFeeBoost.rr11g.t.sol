// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Fixture} from "../utils/Fixture.sol";
import {YieldVault} from "../utils/YieldVault.sol";
import {Policy, Plan, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC4626} from "@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";

/// @notice An honest exit-fee ERC-4626 pool (OpenZeppelin ERC4626Fees semantics, entry fee 0, exit fee `EXIT_BPS`): the
/// fee shows in previewWithdraw / previewRedeem (its shares stay in the vault); deposits are plain.
contract ExitFeeOnlyVault is ERC4626 {
    uint256 public constant EXIT_BPS = 100;
    constructor(IERC20 asset_) ERC20("ExitFee", "XF") ERC4626(asset_) {}

    function previewWithdraw(uint256 assets) public view override returns (uint256) {
        return super.previewWithdraw(assets + Math.mulDiv(assets, EXIT_BPS, 10_000, Math.Rounding.Ceil));
    }

    function previewRedeem(uint256 shares) public view override returns (uint256) {
        uint256 assets = super.previewRedeem(shares);
        return assets - Math.mulDiv(assets, EXIT_BPS, EXIT_BPS + 10_000, Math.Rounding.Ceil);
    }
}

/// @notice Review rr11g G1 on chain: a boost (Borrow + DepositToPool) into an exit-fee-only pool, the plan the keeper's
/// judge and validateRebalance now refuse ValueLossExceeded (they read the exit fee from previewRedeem and the rule book
/// charges it on the deposit too), lands: the deposit burns nothing, the module books no loss.
contract ExitFeeBoostRr11gTest is Fixture {
    function test_Rr11gG1_BoostIntoExitFeeOnlyPoolLands() public {
        ExitFeeOnlyVault pool = new ExitFeeOnlyVault(usdc);
        _seedVault(YieldVault(address(pool)), usdc, 20_000e6);
        openPosition(safe, wethMarket, 10e18, 18_000e6);
        depositToVault(safe, YieldVault(address(pool)), 10_000e6);
        Policy memory policy = defaultPolicy(wethMarket, address(pool));
        policy.boostAllowed = true;
        bytes32 id = setPolicyFor(safe, policy);
        // What the SDK / keeper read of the pool: convertToAssets vs previewRedeem of its totalSupply, 1 % apart (100 bps).
        uint256 supply = pool.totalSupply();
        uint256 gross = pool.convertToAssets(supply);
        uint256 net = pool.previewRedeem(supply);
        assertEq(gross - net, Math.mulDiv(gross, 100, 10_100, Math.Rounding.Ceil), "the read fee is ERC4626Fees' 100 bps");
        wethOracle.setPrice(4000e18); // health 1.911 > max 1.7
        uint256 valueBefore = pool.convertToAssets(pool.balanceOf(safe));
        Plan memory plan = plan1(id, action(ActionKind.Borrow, 0, address(0), 6000e6), action(ActionKind.DepositToPool, 0, address(pool), 6000e6));
        handleOk(keeperOp(safe, keeper, plan, keeperKey));
        assertApproxEqAbs(healthOf(safe, wethMarket), 1.4333e18, 0.001e18, "health after boost");
        // The deposit is valued in full (a wei of rounding): no entry fee, nothing lost.
        assertApproxEqAbs(pool.convertToAssets(pool.balanceOf(safe)), valueBefore + 6000e6, 1, "the deposit loses nothing");
    }
}
