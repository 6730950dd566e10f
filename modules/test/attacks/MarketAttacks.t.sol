// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {AttackBase} from "./AttackBase.sol";
import {YieldVault} from "../utils/YieldVault.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";
import {SimOracle} from "../utils/SimOracle.sol";
import {SkimmingVault} from "../utils/AdversarialVaults.sol";
import {ReentrantVault, ReentrantToken} from "../utils/ReentryProbe.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {IEntryPoint} from "@account-abstraction/contracts/interfaces/IEntryPoint.sol";
import {IMorphoBase, MarketParams, Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {ERC4626} from "@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @notice A compromised pool, oracle or market against the automation lane: value taken through a rigged pool,
/// insane oracles, empty and donated-to vaults, and re-entrancy from a vault, a token and Morpho.
contract MarketAttacksTest is AttackBase {
    using MarketParamsLib for MarketParams;

    /* 8. VALUE LOSS OVER maxLossBps THROUGH A RIGGED POOL */

    function test_Attack08_RevertWhen_RiggedPoolSkimsTheWithdrawal() public {
        RiggedVault rigged = _riggedPoolWith(10_000e6);
        rigged.setExitFee(2000);
        Plan memory plan = plan1(
            wethId, action(ActionKind.WithdrawFromPool, 0, address(rigged), 3300e6), action(ActionKind.Repay, 0, address(0), 3300e6)
        );
        Holdings memory before = holdings(safe);
        uint256 shares = rigged.balanceOf(safe);
        vm.expectPartialRevert(ILeverageModule.ValueLossExceeded.selector);
        executeAsEntryPoint(safe, keeper, plan);
        assertNothingLeft(before);
        assertEq(rigged.balanceOf(safe), shares, "pool shares untouched");
    }

    function test_Attack08_RevertWhen_RiggedPoolSkimsTheDeposit() public {
        SkimmingVault skim = new SkimmingVault(usdc);
        _seed(address(skim), 1000e6);
        skim.setSkim(2000);
        Policy memory policy = defaultPolicy(wethMarket, address(skim));
        policy.boostAllowed = true;
        setPolicy(policy);
        wethOracle.setPrice(4000e18);
        Plan memory plan = plan1(
            wethId, action(ActionKind.Borrow, 0, address(0), 6000e6), action(ActionKind.DepositToPool, 0, address(skim), 6000e6)
        );
        Holdings memory before = holdings(safe);
        // The position moved 6,000 (new debt), 1,200 skimmed: 20% against a 0.5% limit.
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.ValueLossExceeded.selector, 1200e6, 6000e6, 50));
        executeAsEntryPoint(safe, keeper, plan);
        assertNothingLeft(before);
        assertEq(usdc.balanceOf(address(this)), 0, "the collector got nothing");
    }

    /// @dev Whatever the pool's fee, a rebalance either keeps the loss within maxLossBps of what the position moved
    /// (the repayment) or is refused, and only by the loss check.
    function testFuzz_Attack08_LossNeverExceedsMaxLossBps(uint256 feeBps, uint256 amount) public {
        feeBps = bound(feeBps, 0, 1000);
        amount = bound(amount, 2200e6, 4600e6); // lands in the landing zone [1.3, 1.55] (1.31 .. 1.54)
        RiggedVault rigged = _riggedPoolWith(10_000e6);
        rigged.setExitFee(feeBps);
        Plan memory plan = plan1(
            wethId, action(ActionKind.WithdrawFromPool, 0, address(rigged), amount), action(ActionKind.Repay, 0, address(0), amount)
        );
        int256 valueBefore = safeValue(rigged);
        // What the position moved: the debt repaid.
        uint256 moved = amount;
        vm.prank(address(entryPoint));
        try ILeverageModule(safe).executeRebalance(keeper, plan) {
            int256 loss = valueBefore - safeValue(rigged);
            assertLe(loss, int256(moved * 50 / 10_000), "loss within maxLossBps of what the position moved");
        } catch (bytes memory err) {
            assertEq(bytes4(err), ILeverageModule.ValueLossExceeded.selector, "only the loss check refuses it");
            assertGt(amount * feeBps / 10_000 + 2, moved * 50 / 10_000, "refused only when the fee is over");
        }
    }

    /* 9. ORACLE ZERO, STALE, WRONG DECIMALS, FAR FROM THE SECOND SOURCE */

    function test_Attack09_RevertWhen_OraclePriceZero() public {
        wethOracle.setVenuePrice(0);
        _expectOracle(abi.encodeWithSelector(ILeverageModule.OraclePriceZero.selector, wethId));
    }

    function test_Attack09_RevertWhen_OracleStale() public {
        uint256 updatedAt = block.timestamp;
        vm.warp(block.timestamp + 1 hours + 1);
        _expectOracle(abi.encodeWithSelector(ILeverageModule.OracleStale.selector, wethId, updatedAt, 1 hours));
    }

    function test_Attack09_RevertWhen_OracleDecimalsWrong() public {
        wethOracle.setFeed(2400e8, block.timestamp, 6); // read as 10^2 times the real price
        _expectOracle(
            abi.encodeWithSelector(ILeverageModule.OracleDeviation.selector, wethId, wethOracle.price(), wethOracle.price() * 100)
        );
        wethOracle.setFeed(2400e8, block.timestamp, 40);
        _expectOracle(abi.encodeWithSelector(ILeverageModule.OracleDecimals.selector, wethId, 40));
    }

    function test_Attack09_RevertWhen_OracleFarFromSecondSource() public {
        // The venue oracle is pushed 5% low to fake a liquidation risk and force a repayment.
        uint256 feed = wethOracle.price();
        wethOracle.setVenuePrice(feed * 95 / 100);
        _expectOracle(abi.encodeWithSelector(ILeverageModule.OracleDeviation.selector, wethId, feed * 95 / 100, feed));
    }

    function test_Attack09_BrokenOracleCostsTheSafeOnlyGasThroughTheEntryPoint() public {
        wethOracle.setVenuePrice(0);
        PackedUserOperation memory op = keeperOp(safe, keeper, repayPlan(3300e6), keeperKey);
        Holdings memory before = holdings(safe);
        (bool success, bytes memory reason) = handle(op);
        assertFalse(success);
        assertEq(reason, abi.encodeWithSelector(ILeverageModule.OraclePriceZero.selector, wethId));
        assertNothingLeftBut(before, maxCost(op));
    }

    /* 10. EMPTY OR DONATED-TO ERC-4626 POOL */

    function test_Attack10_RevertWhen_DepositIntoAnEmptyPool() public {
        YieldVault empty = new YieldVault(usdc, "empty", "E");
        _boostInto(address(empty));
        Holdings memory before = holdings(safe);
        expectExec(_boostPlan(address(empty), 6000e6), abi.encodeWithSelector(ILeverageModule.PoolUnhealthy.selector, address(empty)));
        assertNothingLeft(before);
    }

    function test_Attack10_RevertWhen_DepositIntoAPoolBelowMinimumSupply() public {
        YieldVault thin = new YieldVault(usdc, "thin", "T");
        _seed(address(thin), 1e6 - 1);
        _boostInto(address(thin));
        Holdings memory before = holdings(safe);
        expectExec(_boostPlan(address(thin), 6000e6), abi.encodeWithSelector(ILeverageModule.PoolUnhealthy.selector, address(thin)));
        assertNothingLeft(before);
    }

    function test_Attack10_RevertWhen_DonationInflatesTheShareAboveTheDeposit() public {
        // Classic first-depositor attack: 1 USDC of shares, then a donation that makes one share unit worth ~4,000 USDC,
        // so a 6,000 USDC deposit mints a single unit and ~2,000 USDC accrue to the attacker's shares.
        YieldVault donated = new YieldVault(usdc, "donated", "D");
        usdc.mint(attacker, 4e15 + 1e6);
        vm.startPrank(attacker);
        usdc.approve(address(donated), 1e6);
        donated.deposit(1e6, attacker);
        usdc.transfer(address(donated), 4e15);
        vm.stopPrank();
        _boostInto(address(donated));
        Holdings memory before = holdings(safe);
        vm.expectPartialRevert(ILeverageModule.ValueLossExceeded.selector);
        executeAsEntryPoint(safe, keeper, _boostPlan(address(donated), 6000e6));
        assertNothingLeft(before);
        assertEq(donated.balanceOf(safe), 0, "no shares minted");
    }

    /* 13. RE-ENTRANCY THROUGH A POOL, A TOKEN AND MORPHO */

    function test_Attack13_ReentrantPoolGetsNothingDuringAWithdrawal() public {
        ReentrantVault pool = new ReentrantVault(usdc);
        _seed(address(pool), 1000e6);
        depositToVault(safe, YieldVault(address(pool)), 10_000e6);
        setPolicy(defaultPolicy(wethMarket, address(pool)));
        Plan memory plan = plan1(
            wethId, action(ActionKind.WithdrawFromPool, 0, address(pool), 3300e6), action(ActionKind.Repay, 0, address(0), 3300e6)
        );
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        PackedUserOperation memory second = keeperOp(safe, keeper, plan, keeperKey);
        second.nonce = op.nonce + 1;
        second.signature = signKeeper(second, keeperKey);
        PackedUserOperation[] memory nested = new PackedUserOperation[](1);
        nested[0] = second;

        bytes[] memory expected = _arm(address(pool), address(pool), plan, nested);
        pool.addAttempt(address(usdc), abi.encodeCall(IERC20.transferFrom, (safe, attacker, 1)));
        expected[expected.length - 1] =
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(pool), 0, 1);
        pool.arm(true);

        handleOk(op);
        _assertAllRefused(address(pool), expected);
        assertApproxEqAbs(healthOf(safe, wethMarket), 1.404e18, 0.001e18, "the plan itself ran as written");
        assertEq(usdc.balanceOf(attacker), 0, "nothing reached the attacker");
        assertEq(entryPoint.getNonce(safe, keeperNonceKey()), second.nonce, "the nested operation never ran");
    }

    function test_Attack13_RevertWhen_ReentrantPoolSpendsItsApprovalElsewhere() public {
        ReentrantVault pool = new ReentrantVault(usdc);
        _seed(address(pool), 1000e6);
        _boostInto(address(pool));
        pool.addAttempt(address(usdc), abi.encodeCall(IERC20.transferFrom, (safe, attacker, 6000e6)));
        pool.arm(true);
        Holdings memory before = holdings(safe);
        // The pool diverts the exact approval during deposit: its own pull then fails, and the whole plan with it.
        expectExec(
            _boostPlan(address(pool), 6000e6),
            abi.encodeWithSelector(
                ILeverageModule.ActionFailed.selector,
                1,
                abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(pool), 0, 6000e6)
            )
        );
        assertNothingLeft(before);
        assertEq(usdc.balanceOf(attacker), 0, "nothing reached the attacker");
    }

    function test_Attack13_ReentrantCollateralTokenGetsNothing() public {
        ReentrantToken token = new ReentrantToken();
        SimOracle oracle = new SimOracle(6, 18, 8);
        oracle.setPrice(2000e18);
        MarketParams memory params = _createMarket(address(token), address(oracle));
        openPosition(safe, params, 10e18, 14_000e6); // 1.2286
        token.mint(safe, 5e18);
        bytes32 id = setPolicy(defaultPolicy(params, address(0)));
        oracle.setPrice(1800e18); // 1.1057: due
        Plan memory plan;
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = id;
        plan.actions = new Action[](1);
        plan.actions[0] = action(ActionKind.SupplyCollateral, 0, address(0), 2e18);

        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        PackedUserOperation memory second = keeperOp(safe, keeper, plan, keeperKey);
        second.nonce = op.nonce + 1;
        second.signature = signKeeper(second, keeperKey);
        PackedUserOperation[] memory nested = new PackedUserOperation[](1);
        nested[0] = second;
        bytes[] memory expected = _arm(address(token), address(token), plan, nested);
        token.addAttempt(
            address(morpho), abi.encodeCall(IMorphoBase.withdrawCollateral, (params, 1e18, safe, attacker))
        );
        expected[expected.length - 1] = abi.encodeWithSignature("Error(string)", "unauthorized");
        token.arm(true);

        handleOk(op);
        _assertAllRefused(address(token), expected);
        assertEq(token.balanceOf(attacker), 0, "no collateral reached the attacker");
        assertEq(token.allowance(safe, address(morpho)), 0, "approval reset");
        assertEq(morpho.position(params.id(), safe).collateral, 12e18, "collateral supplied for the Safe");
    }

    function test_Attack13_VenueCallsNeverAskMorphoForACallback() public view {
        bytes32 market = Id.unwrap(wethMarket.id());
        for (uint8 kind = 2; kind <= 5; kind += 3) {
            bytes memory data = adapter.encode(kind, market, 1e6, safe).data;
            // supplyCollateral(params, assets, onBehalf, data) and repay(params, assets, shares, onBehalf, data):
            // the last word of the encoding is the length of `data`.
            assertEq(uint256(bytes32(_slice(data, data.length - 32, 32))), 0, "empty callback data");
        }
    }

    /* HELPERS */

    /// @dev Arms `probe` with the re-entries every hostile pool or token would try and returns their exact errors
    /// (the last slot is left for a probe-specific attempt).
    function _arm(address probe, address caller, Plan memory plan, PackedUserOperation[] memory nested)
        internal
        returns (bytes[] memory expected)
    {
        expected = new bytes[](8);
        ReentrantVault p = ReentrantVault(probe);
        p.addAttempt(address(entryPoint), abi.encodeCall(IEntryPoint.handleOps, (nested, payable(attacker))));
        expected[0] = abi.encodeWithSelector(ReentrancyGuard.ReentrancyGuardReentrantCall.selector);
        p.addAttempt(safe, abi.encodeCall(ILeverageModule.executeRebalance, (keeper, plan)));
        expected[1] = abi.encodeWithSelector(ILeverageModule.UnsupportedEntryPoint.selector);
        p.addAttempt(safe, abi.encodeCall(ILeverageModule.addKeeper, (attacker, 0, type(uint48).max)));
        expected[2] = abi.encodeWithSelector(ILeverageModule.NotCalledBySafe.selector, caller);
        p.addAttempt(safe, abi.encodeCall(ILeverageModule.setPaused, (false)));
        expected[3] = abi.encodeWithSelector(ILeverageModule.NotCalledBySafe.selector, caller);
        p.addAttempt(
            safe,
            abi.encodeWithSignature(
                "execTransactionFromModule(address,uint256,bytes,uint8)",
                address(usdc), 0, abi.encodeCall(IERC20.transfer, (attacker, 1)), 0
            )
        );
        expected[4] = abi.encodeWithSignature("Error(string)", "GS104");
        p.addAttempt(
            address(module),
            bytes.concat(abi.encodeCall(ILeverageModule.executeRebalance, (keeper, plan)), abi.encodePacked(address(entryPoint)))
        );
        expected[5] = abi.encodeWithSelector(ILeverageModule.KeeperNotAuthorized.selector, keeper);
        p.addAttempt(address(morpho), abi.encodeCall(IMorphoBase.borrow, (wethMarket, 1e6, 0, safe, attacker)));
        expected[6] = abi.encodeWithSignature("Error(string)", "unauthorized");
    }

    function _assertAllRefused(address probe, bytes[] memory expected) internal view {
        ReentrantVault p = ReentrantVault(probe);
        assertGe(p.attempts(), expected.length, "the probe fired");
        for (uint256 i; i < p.attempts(); ++i) {
            assertFalse(p.succeeded(i), "a re-entry succeeded");
            assertEq(p.results(i), expected[i % expected.length], "exact error of the re-entry");
        }
    }

    function _expectOracle(bytes memory err) internal {
        Holdings memory before = holdings(safe);
        expectExec(repayPlan(3300e6), err);
        assertNothingLeft(before);
    }

    function _seed(address vault, uint256 assets) internal {
        usdc.mint(lender, assets);
        vm.startPrank(lender);
        usdc.approve(vault, assets);
        IERC4626(vault).deposit(assets, lender);
        vm.stopPrank();
    }

    function _riggedPoolWith(uint256 safeAssets) internal returns (RiggedVault rigged) {
        rigged = new RiggedVault(usdc);
        _seed(address(rigged), 1000e6);
        depositToVault(safe, YieldVault(address(rigged)), safeAssets);
        setPolicy(defaultPolicy(wethMarket, address(rigged)));
    }

    function _boostInto(address pool) internal {
        Policy memory policy = defaultPolicy(wethMarket, pool);
        policy.boostAllowed = true;
        setPolicy(policy);
        wethOracle.setPrice(4000e18); // 1.911 > 1.7
    }

    function _boostPlan(address pool, uint256 amount) internal view returns (Plan memory) {
        return plan1(wethId, action(ActionKind.Borrow, 0, address(0), amount), action(ActionKind.DepositToPool, 0, pool, amount));
    }
}
