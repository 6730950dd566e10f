// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Fixture} from "../utils/Fixture.sol";
import {Policy, Plan, ActionKind, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {IMorpho, Id, MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";

/// @notice End to end on real contracts: Safe proxy + module, EntryPoint v0.7 handleOps, Morpho Blue, ERC-4626.
contract RebalanceIntegrationTest is Fixture {
    using MarketParamsLib for MarketParams;

    bytes32 internal wethId;

    function setUp() public override {
        super.setUp();
        openPosition(safe, wethMarket, 10e18, 18_000e6); // health 30,000 * 0.86 / 18,000 = 1.433
        depositToVault(safe, usdcVault, 10_000e6);
        wethId = setPolicyFor(safe, defaultPolicy(wethMarket, address(usdcVault)));
    }

    function test_KeeperRepaysFromPoolAfterOracleDrop() public {
        wethOracle.setPrice(2400e18); // health 1.1467 < minHealth 1.2
        uint256 before = healthOf(safe, wethMarket);
        assertLt(before, 1.2e18, "below band before");

        Plan memory plan = plan1(
            wethId,
            action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 3300e6),
            action(ActionKind.Repay, 0, address(0), 3300e6)
        );
        uint256 safeEthBefore = safe.balance;
        handleOk(keeperOp(safe, keeper, plan, keeperKey));

        uint256 afterHealth = healthOf(safe, wethMarket);
        assertGe(afterHealth, 1.2e18, "health >= min");
        assertLe(afterHealth, 1.7e18, "health <= max");
        assertApproxEqAbs(afterHealth, 1.404e18, 0.001e18, "health near 1.404");
        assertEq(usdc.allowance(safe, address(morpho)), 0, "no standing approval");
        assertLt(safe.balance, safeEthBefore, "the Safe paid gas itself (no paymaster)");
        EpochUsage memory usage = module.getEpochUsage(safe, wethId);
        assertEq(usage.rebalances, 1, "one rebalance recorded");
        assertEq(usage.amountMoved, 3300e6, "the net change (the debt repaid); the pool withdrawal funding it is not charged");
    }

    function test_DeleverageOnlyPolicySuppliesCollateralFromPool() public {
        Policy memory policy = defaultPolicy(wethMarket, address(wethVault));
        wethId = setPolicyFor(safe, policy);
        depositToVault(safe, wethVault, 5e18);
        wethOracle.setPrice(2400e18);

        Plan memory plan = plan1(
            wethId,
            action(ActionKind.WithdrawFromPool, 0, address(wethVault), 2.3e18),
            action(ActionKind.SupplyCollateral, 0, address(0), 2.3e18)
        );
        handleOk(keeperOp(safe, keeper, plan, keeperKey));
        // (12.3 * 2400) * 0.86 / 18,000 = 1.4104
        assertApproxEqAbs(healthOf(safe, wethMarket), 1.4104e18, 0.001e18, "health after collateral top-up");
        assertEq(weth.allowance(safe, address(morpho)), 0, "approval reset");
    }

    function test_BoostPolicyBorrowsIntoPoolAfterRally() public {
        Policy memory policy = defaultPolicy(wethMarket, address(usdcVault));
        policy.boostAllowed = true;
        wethId = setPolicyFor(safe, policy);
        wethOracle.setPrice(4000e18); // health 1.911 > max 1.7

        uint256 sharesBefore = usdcVault.balanceOf(safe);
        Plan memory plan = plan1(
            wethId,
            action(ActionKind.Borrow, 0, address(0), 6000e6),
            action(ActionKind.DepositToPool, 0, address(usdcVault), 6000e6)
        );
        handleOk(keeperOp(safe, keeper, plan, keeperKey));
        // 40,000 * 0.86 / 24,000 = 1.4333
        assertApproxEqAbs(healthOf(safe, wethMarket), 1.4333e18, 0.001e18, "health after boost");
        assertGt(usdcVault.balanceOf(safe), sharesBefore, "borrowed funds parked in the pool");
        assertEq(usdc.allowance(safe, address(usdcVault)), 0, "approval reset");
    }

    function test_DeleverageOnlyPolicyRefusesBoost() public {
        wethOracle.setPrice(4000e18);
        Plan memory plan = plan1(
            wethId,
            action(ActionKind.Borrow, 0, address(0), 6000e6),
            action(ActionKind.DepositToPool, 0, address(usdcVault), 6000e6)
        );
        // Health above max is no trigger when boost is not allowed.
        (bool success,) = handle(keeperOp(safe, keeper, plan, keeperKey));
        assertFalse(success, "boost refused");
    }
}
