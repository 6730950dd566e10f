// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IEntryPoint} from "@account-abstraction/contracts/interfaces/IEntryPoint.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {IMorphoBase, MarketParams, Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {IUniswapV3Pool} from "@uniswap/v3-core/contracts/interfaces/IUniswapV3Pool.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SwapBase} from "../utils/SwapBase.sol";
import {SimOracle} from "../utils/SimOracle.sol";
import {ReentrantToken} from "../utils/ReentryProbe.sol";
import {HostileSwapRouter} from "../utils/HostileSwapRouter.sol";
import {UniswapV3SwapAdapter} from "../../src/adapters/UniswapV3SwapAdapter.sol";
import {IUniswapV3SwapAdapter} from "../../src/interfaces/IUniswapV3SwapAdapter.sol";
import {
    ILeverageModule, Policy, Plan, Action, ActionKind, EpochUsage
} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {ConstantsLib} from "../../src/libraries/ConstantsLib.sol";

/// @notice Attacks on the swap lane and the venue callbacks: each asserts the exact error and that nothing left the
/// Safe (AttackBase.assertNothingLeft), keeper operations through EntryPoint.handleOps.
contract SwapAttacksTest is SwapBase {
    using MarketParamsLib for MarketParams;

    function _error(bytes4 selector, address who) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(selector, who);
    }

    /* SLIPPAGE */

    function test_Attack_SandwichBeyondMaxSlippageIsRefused() public {
        (Plan memory plan,,) = swapDeleverage(1.4e18);
        frontRun(address(weth), address(usdc), FEE_LOW, 100); // 1% against a 0.5% bound
        expectOpFails(plan, actionFailed(0, actionFailed(2, abi.encodeWithSignature("Error(string)", "Too little received"))));
    }

    function test_Attack_KeeperRoutesOutsideTheAdapterAreRefused() public {
        uint256 sold = wethToSell(1.4e18);
        uint256 repaid = minOutSelling(sold);
        // A fee tier the factory has but the deployment did not allow.
        expectOpFails(
            deleveragePlan(repaid, sold, address(uint160(10_000))),
            actionFailed(0, abi.encodeWithSelector(IUniswapV3SwapAdapter.FeeTierNotAllowed.selector, uint24(10_000)))
        );
        // An allowed tier without a pool.
        expectOpFails(
            deleveragePlan(repaid, sold, route(FEE_MEDIUM)),
            actionFailed(
                0, abi.encodeWithSelector(IUniswapV3SwapAdapter.PoolNotFound.selector, address(weth), address(usdc), FEE_MEDIUM)
            )
        );
        // Reserved bits set, and a hub the deployment does not have.
        bytes32 dirty = bytes32(uint256(FEE_LOW) | (1 << 100));
        expectOpFails(
            deleveragePlan(repaid, sold, address(uint160(uint256(dirty)))),
            actionFailed(0, abi.encodeWithSelector(IUniswapV3SwapAdapter.MalformedRoute.selector, dirty))
        );
        bytes32 viaHub = bytes32(uint256(FEE_LOW) | (1 << 24) | (uint256(FEE_LOW) << 32));
        expectOpFails(
            deleveragePlan(repaid, sold, address(uint160(uint256(viaHub)))),
            actionFailed(0, abi.encodeWithSelector(IUniswapV3SwapAdapter.UnknownHub.selector, uint8(1)))
        );
    }

    /* CALLBACKS OUTSIDE A REBALANCE */

    function test_Attack_CallbacksOutsideARebalanceAreRefused() public {
        Holdings memory before = holdings(safe);
        bytes memory data = abi.encode(uint256(1));
        bytes4 outside = ILeverageModule.CallbackOutsideRebalance.selector;
        address[2] memory callers = [attacker, address(morpho)];
        for (uint256 i; i < callers.length; ++i) {
            vm.startPrank(callers[i]);
            vm.expectRevert(_error(outside, safe));
            ILeverageModule(safe).onMorphoRepay(1e6, data);
            vm.expectRevert(_error(outside, safe));
            ILeverageModule(safe).onMorphoFlashLoan(1e6, data);
            vm.expectRevert(_error(outside, safe));
            ILeverageModule(safe).onMorphoSupplyCollateral(1e6, data);
            // On the module directly, even with Morpho forged as the ERC-2771 sender.
            vm.expectRevert(_error(outside, callers[i]));
            module.onMorphoRepay(1e6, data);
            vm.expectRevert(_error(outside, callers[i]));
            (bool ok,) = address(module).call(
                abi.encodePacked(abi.encodeCall(ILeverageModule.onMorphoRepay, (1e6, data)), address(morpho))
            );
            ok;
            vm.stopPrank();
        }
        assertNothingLeft(before);
    }

    function _ownerOp(bytes memory callData) internal view returns (PackedUserOperation memory op) {
        op = baseOp(safe, callData, 0);
        op.signature = sign(op, ownerKey, 0, 0);
    }

    function test_Attack_OwnerLaneCannotOpenACallback() public {
        Holdings memory before = holdings(safe);
        bytes memory repay = abi.encodeCall(IMorphoBase.repay, (wethMarket, 1e6, 0, safe, hex"01"));
        PackedUserOperation memory op =
            _ownerOp(abi.encodeCall(ILeverageModule.executeUserOpWithErrorString, (address(morpho), 0, repay, 0)));
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok, "the owner operation fails");
        assertEq(reason, _error(ILeverageModule.CallbackOutsideRebalance.selector, safe), "exact revert reason");
        assertNothingLeftBut(before, maxCost(op));
    }

    function test_Attack_GuardIsClearedForTheNextOperationOfTheBundle() public {
        (Plan memory plan,,) = swapDeleverage(1.4e18);
        PackedUserOperation[] memory ops = new PackedUserOperation[](2);
        ops[0] = keeperOp(safe, keeper, plan, keeperKey);
        bytes memory callback = abi.encodeCall(ILeverageModule.onMorphoRepay, (1e6, abi.encode(uint256(1))));
        ops[1] = _ownerOp(abi.encodeCall(ILeverageModule.executeUserOpWithErrorString, (safe, 0, callback, 0)));
        (bool[] memory success, bytes[] memory reasons) = handleBundle(ops);
        assertTrue(success[0], "the deleverage ran");
        assertFalse(success[1], "the callback after it is refused");
        assertEq(reasons[1], _error(ILeverageModule.CallbackOutsideRebalance.selector, safe), "guard cleared on return");
    }

    /* RE-ENTRANCY FROM THE SWAP */

    function test_Attack_ReentrancyFromTheSwapIsRefusedAndTheDeleverageCompletes() public {
        ReentrantToken ret = new ReentrantToken();
        SimOracle retOracle = new SimOracle(6, 18, 8);
        retOracle.setPrice(2400e18);
        MarketParams memory retMarket = _createMarket(address(ret), address(retOracle));
        IUniswapV3Pool retPool = createPoolAtOraclePrice(
            address(ret), address(usdc), FEE_LOW, retOracle.price(), 20_000_000e6, defaultSpread()
        );
        openPosition(safe, retMarket, 10e18, 18_000e6);
        safeExec(safe, address(usdc), 0, abi.encodeCall(IERC20.transfer, (lender, usdc.balanceOf(safe))), 0);
        bytes32 retId = setPolicy(swapPolicy(retMarket, false));
        retOracle.setPrice(Math.mulDiv(CRASH_HEALTH, 18_000e6 * 1e30, 10e18 * 0.86e18));
        alignPoolToPrice(retPool, address(ret), retOracle.price());

        MarketState memory state = adapter.marketState(Id.unwrap(retMarket.id()), safe);
        uint256 sold = collateralToSell(state, 1.4e18);
        uint256 repaid = quoteExactIn(address(ret), address(usdc), FEE_LOW, sold);
        Plan memory plan = deleveragePlan(retId, repaid, sold, route(FEE_LOW));

        bytes[] memory expected = new bytes[](5);
        ret.addAttempt(safe, abi.encodeCall(ILeverageModule.onMorphoRepay, (repaid, "")));
        expected[0] = _error(ILeverageModule.CallbackFromUntouchedVenue.selector, address(ret));
        ret.addAttempt(safe, abi.encodeCall(ILeverageModule.onMorphoFlashLoan, (repaid, "")));
        expected[1] = _error(ILeverageModule.CallbackFromUntouchedVenue.selector, address(ret));
        ret.addAttempt(address(module), abi.encodeCall(ILeverageModule.onMorphoRepay, (repaid, "")));
        expected[2] = _error(ILeverageModule.CallbackOutsideRebalance.selector, address(ret));
        ret.addAttempt(safe, abi.encodeCall(ILeverageModule.executeRebalance, (keeper, plan)));
        expected[3] = abi.encodeWithSelector(ILeverageModule.UnsupportedEntryPoint.selector);
        ret.addAttempt(address(morpho), abi.encodeCall(IMorphoBase.withdrawCollateral, (retMarket, 1, safe, address(ret))));
        expected[4] = abi.encodeWithSignature("Error(string)", "unauthorized");

        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        ret.arm(true);
        handleOk(op);
        ret.arm(false);

        uint256 tries = ret.attempts();
        assertGt(tries, 0, "the token re-entered");
        assertEq(tries % expected.length, 0, "every attempt ran on every transfer");
        for (uint256 i; i < tries; ++i) {
            assertFalse(ret.succeeded(i), "no re-entry succeeded");
            assertEq(ret.results(i), expected[i % expected.length], "exact error of each re-entry");
        }
        assertApproxEqAbs(module.health(safe, retId), 1.4e18, 0.002e18, "the deleverage itself completed");
        assertEq(ret.balanceOf(address(ret)), 0, "nothing reached the token");
    }

    /* EPOCH LOSS BUDGET */

    /// @dev Two swap deleverages in one epoch, each under maxLossBps of what it moved; the second one's loss takes the
    /// epoch over maxEpochLossBps of equity. The budget is set between the first loss and the sum, both measured on a
    /// snapshot first, so the expected error is exact.
    function test_Attack_RepeatedSmallLossesHitTheEpochLossBudget() public {
        Policy memory policy = swapPolicy(wethMarket, false);
        policy.maxEpochLossBps = uint16(ConstantsLib.BPS);
        setPolicy(policy);
        uint256 snapshot = vm.snapshotState();
        (uint256 first, uint256 total) = _twoDeleverages();
        vm.revertToState(snapshot);

        uint256 budgetBps = first / ConstantsLib.PPB_PER_BPS + 1;
        assertLt(budgetBps * ConstantsLib.PPB_PER_BPS, total, "the two losses together exceed the budget");
        policy.maxEpochLossBps = uint16(budgetBps);
        setPolicy(policy);
        (Plan memory plan,,) = swapDeleverage(1.4e18);
        handleOk(keeperOp(safe, keeper, plan, keeperKey));
        assertEq(module.getEpochUsage(safe, wethId).lossPpb, first, "the first swap's loss is charged");
        moveWethHealthTo(1.15e18);
        (plan,,) = swapDeleverage(1.4e18);
        expectOpFails(
            plan,
            abi.encodeWithSelector(
                ILeverageModule.EpochLossBudgetExceeded.selector, wethId, total, budgetBps * ConstantsLib.PPB_PER_BPS
            )
        );
    }

    function _twoDeleverages() internal returns (uint256 first, uint256 total) {
        (Plan memory plan,,) = swapDeleverage(1.4e18);
        handleOk(keeperOp(safe, keeper, plan, keeperKey));
        first = module.getEpochUsage(safe, wethId).lossPpb;
        moveWethHealthTo(1.15e18);
        (plan,,) = swapDeleverage(1.4e18);
        handleOk(keeperOp(safe, keeper, plan, keeperKey));
        total = module.getEpochUsage(safe, wethId).lossPpb;
        assertGt(first, 0, "the first swap lost its fee");
        assertGt(total, first, "the second swap lost its fee");
    }

    /* SWAPS SERVE THEIR OWN POSITION (issue 12 review, finding A) */

    /// @dev The over-unwind: a deleverage-only sub-account due for rescue sells 95% of its collateral inside its repay
    /// callback, repays just enough (R) to land in the zone and parks the rest of the proceeds in its allowed pool. The
    /// sale's minimum output exceeds R, so the plan is refused before anything is called.
    function test_Attack_OverUnwindIntoPoolDuringRescueIsRefused() public {
        MarketState memory s = wethState();
        uint256 sold = s.collateral * 95 / 100;
        uint256 quoted = quoteExactIn(address(weth), address(usdc), FEE_LOW, sold);
        // Repay so that health lands at ~1.25 with 5% of the collateral left (inside the landing zone).
        uint256 debtAfter = Math.mulDiv(s.collateral - sold, s.price, 1e36) * LLTV / 1.25e18;
        uint256 repaid = s.debt - debtAfter;
        assertGt(quoted, repaid, "the sale yields more than the repayment");
        Action[] memory actions = new Action[](5);
        actions[0] = action(ActionKind.RepayWithCallback, 0, address(0), repaid);
        actions[1] = action(ActionKind.WithdrawCollateral, 0, address(0), sold);
        actions[2] = action(ActionKind.SellCollateral, 0, route(FEE_LOW), sold);
        actions[3] = action(ActionKind.EndCallback, 0, address(0), 0);
        actions[4] = action(ActionKind.DepositToPool, 0, address(usdcVault), quoted - repaid);
        expectOpFails(
            planOf(wethId, actions),
            abi.encodeWithSelector(ILeverageModule.SaleExceedsRepayment.selector, wethId, minOutSelling(sold), repaid)
        );
        assertEq(usdcVault.balanceOf(safe), 0, "nothing parked");
    }

    /// @dev The class: any sale whose minimum output the plan's own repayment does not absorb, even by one unit.
    function test_Attack_SaleOneUnitAboveTheRepaymentIsRefused() public {
        uint256 sold = wethToSell(1.4e18);
        uint256 minOut = minOutSelling(sold);
        expectOpFails(
            deleveragePlan(minOut - 1, sold, route(FEE_LOW)),
            abi.encodeWithSelector(ILeverageModule.SaleExceedsRepayment.selector, wethId, minOut, minOut - 1)
        );
        // At exactly the minimum output the sale serves the repayment: accepted.
        handleOk(keeperOp(safe, keeper, deleveragePlan(minOut, sold, route(FEE_LOW)), keeperKey));
    }

    /// @dev The symmetric boost: borrow, buy collateral, supply half of it and park the other half in an allowed
    /// collateral pool. IdleInflow accepts it (the output is supplied or parked); the purchase must serve the collateral.
    function test_Attack_BoostParkingPurchasedCollateralIsRefused() public {
        (Plan memory plan, uint256 borrowed, uint256 bought) = boostFromHealth18();
        Policy memory policy = swapPolicy(wethMarket, true);
        address[] memory pools = new address[](2);
        pools[0] = address(usdcVault);
        pools[1] = address(wethVault);
        policy.pools = pools;
        setPolicy(policy);
        Action[] memory actions = new Action[](4);
        actions[0] = plan.actions[0];
        actions[1] = plan.actions[1];
        actions[2] = action(ActionKind.SupplyCollateral, 0, address(0), bought / 2);
        actions[3] = action(ActionKind.DepositToPool, 0, address(wethVault), bought - bought / 2);
        uint256 fair = Math.mulDiv(borrowed, 1e36, wethOracle.price());
        uint256 minOut = Math.mulDiv(fair, 10_000 - MAX_SLIPPAGE_BPS, 10_000, Math.Rounding.Ceil);
        // Since rr10b a sub-account that supplies collateral deposits nothing: the parked half stops at its deposit.
        expectOpFails(
            planOf(wethId, actions), abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 3, ActionKind.DepositToPool)
        );
        // Without the deposit (the other half left idle) the purchase is still judged against the supply.
        Action[] memory idle = new Action[](3);
        (idle[0], idle[1], idle[2]) = (actions[0], actions[1], actions[2]);
        expectOpFails(
            planOf(wethId, idle),
            abi.encodeWithSelector(ILeverageModule.PurchaseExceedsSupply.selector, wethId, minOut, bought / 2)
        );
    }

    /* PLAN RULES */

    function test_Refuses_WithdrawCollateralOutsideItsRepayCallbackOnADeleverageOnlyPolicy() public {
        uint256 sold = wethToSell(1.4e18);
        Action[] memory actions = new Action[](3);
        actions[0] = action(ActionKind.WithdrawCollateral, 0, address(0), sold);
        actions[1] = action(ActionKind.SellCollateral, 0, route(FEE_LOW), sold);
        actions[2] = action(ActionKind.Repay, 0, address(0), minOutSelling(sold));
        expectOpFails(
            planOf(wethId, actions),
            abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 0, ActionKind.WithdrawCollateral)
        );
    }

    function test_Refuses_BuyCollateralOnADeleverageOnlyPolicy() public {
        Action[] memory actions = new Action[](2);
        actions[0] = action(ActionKind.Borrow, 0, address(0), 1000e6);
        actions[1] = action(ActionKind.BuyCollateral, 0, route(FEE_LOW), 1000e6);
        expectOpFails(
            planOf(wethId, actions),
            abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 0, ActionKind.Borrow)
        );
        actions[0] = action(ActionKind.SellCollateral, 0, route(FEE_LOW), 1e18);
        expectOpFails(
            planOf(wethId, actions),
            abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 1, ActionKind.BuyCollateral)
        );
    }

    function test_Refuses_SwapsWhenThePolicyDisallowsThem() public {
        Policy memory policy = swapPolicy(wethMarket, false);
        policy.maxSlippageBps = 0;
        setPolicy(policy);
        (Plan memory plan,,) = swapDeleverage(1.4e18);
        expectOpFails(plan, abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 2, ActionKind.SellCollateral));
    }

    function test_Refuses_ASwapNoVenueActionUses() public {
        Action[] memory actions = new Action[](1);
        actions[0] = action(ActionKind.SellCollateral, 0, route(FEE_LOW), 1e18);
        expectOpFails(planOf(wethId, actions), abi.encodeWithSelector(ILeverageModule.SwapNotUsed.selector, wethId));
    }

    function test_Refuses_ASwapRoundTrip() public {
        setPolicy(swapPolicy(wethMarket, true));
        Action[] memory actions = new Action[](3);
        actions[0] = action(ActionKind.Borrow, 0, address(0), 1000e6);
        actions[1] = action(ActionKind.BuyCollateral, 0, route(FEE_LOW), 1000e6);
        actions[2] = action(ActionKind.SellCollateral, 0, route(FEE_LOW), 0.1e18);
        expectOpFails(planOf(wethId, actions), abi.encodeWithSelector(ILeverageModule.SwapRoundTrip.selector, address(weth)));
    }

    function test_Refuses_AnEndCallbackCarryingAnAmount() public {
        (Plan memory plan,,) = swapDeleverage(1.4e18);
        plan.actions[3].amount = 1;
        expectOpFails(plan, abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 3, ActionKind.EndCallback));
    }

    function test_Refuses_MalformedCallbackBlocks() public {
        Action memory open = action(ActionKind.RepayWithCallback, 0, address(0), 1e6);
        Action memory inner = action(ActionKind.WithdrawCollateral, 0, address(0), 1e18);
        Action memory close = action(ActionKind.EndCallback, 0, address(0), 0);
        Action[] memory nested = new Action[](4);
        (nested[0], nested[1], nested[2], nested[3]) = (open, open, inner, close);
        expectExec(planOf(wethId, nested), _malformed(ConstantsLib.MALFORMED_NESTED_CALLBACK));
        Action[] memory unopened = new Action[](2);
        (unopened[0], unopened[1]) = (inner, close);
        expectExec(planOf(wethId, unopened), _malformed(ConstantsLib.MALFORMED_UNOPENED_CALLBACK));
        Action[] memory unclosed = new Action[](2);
        (unclosed[0], unclosed[1]) = (open, inner);
        expectExec(planOf(wethId, unclosed), _malformed(ConstantsLib.MALFORMED_UNCLOSED_CALLBACK));
        Action[] memory empty = new Action[](2);
        (empty[0], empty[1]) = (open, close);
        expectExec(planOf(wethId, empty), _malformed(ConstantsLib.MALFORMED_EMPTY_CALLBACK));
    }

    function _malformed(uint8 reason) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ILeverageModule.MalformedPlan.selector, reason);
    }
}

/// @notice A swap adapter over a router that pays the promised minimum to a thief instead of the Safe: the module's
/// own balance check refuses it (SlippageExceeded), and nothing leaves the Safe.
contract SwapHostileRouterTest is SwapBase {
    HostileSwapRouter internal hostileRouter;

    function _deploySwapAdapter() internal override returns (address) {
        deployUniswap(address(0));
        hostileRouter = new HostileSwapRouter(address(uniswapFactory), attacker);
        uint24[] memory fees = new uint24[](1);
        fees[0] = FEE_LOW;
        swapAdapter = new UniswapV3SwapAdapter(address(hostileRouter), fees, new address[](0));
        return address(swapAdapter);
    }

    function test_Attack_OutputSentElsewhereIsRefused() public {
        uint256 sold = wethToSell(1.4e18);
        uint256 minOut = minOutSelling(sold);
        expectOpFails(
            deleveragePlan(minOut, sold, route(FEE_LOW)),
            actionFailed(
                0, abi.encodeWithSelector(ILeverageModule.SlippageExceeded.selector, 2, address(usdc), 0, minOut)
            )
        );
        assertEq(weth.allowance(safe, address(hostileRouter)), 0, "no approval left to the hostile router");
    }
}
