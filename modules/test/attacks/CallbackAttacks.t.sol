// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {VmSafe} from "forge-std/Vm.sol";
import {IMorphoBase, MarketParams, Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {SwapBase} from "../utils/SwapBase.sol";
import {ReentrantVault} from "../utils/ReentryProbe.sol";
import {
    IStorageAccessible, SafeContextCaller, MisbehavingVenue, RedirectingAdapter
} from "../utils/CallbackProbes.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {
    ILeverageModule, Policy, Plan, Action, ActionKind, EpochUsage, AutomationConfig
} from "../../src/interfaces/ILeverageModule.sol";
import {ConstantsLib} from "../../src/libraries/ConstantsLib.sol";
import {RebalanceLib} from "../../src/libraries/RebalanceLib.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";

/// @notice The venue-callback guard (SECURITY rows 39, 40, 43, 52) attacked with the real Morpho Blue calling the real
/// Safe back: the attacker has the Safe itself call Morpho (Safe v1.4.1 `simulateAndRevert`, open to anyone), so each
/// callback arrives exactly as a genuine one would (`msg.sender` the Safe, ERC-2771 sender Morpho), at every moment of a
/// keeper operation sent through EntryPoint.handleOps (a re-entrant ERC-4626 pool fires the attempts before, inside and
/// after the repay callback) and outside any. Each attempt asserts the exact error; nothing leaves the Safe.
contract CallbackAttacksTest is SwapBase {
    using MarketParamsLib for MarketParams;

    SafeContextCaller internal caller;

    function setUp() public override {
        super.setUp();
        caller = new SafeContextCaller();
    }

    /* HELPERS */

    /// @dev Calldata for `account.simulateAndRevert`: the account calls `target` with `data` from its own address.
    function _fromSafe(address target, bytes memory data) internal view returns (bytes memory) {
        return abi.encodeCall(
            IStorageAccessible.simulateAndRevert, (address(caller), abi.encodeCall(SafeContextCaller.callFromSafe, (target, data)))
        );
    }

    /// @dev The revert data of `simulateAndRevert` whose inner call ended with `success` and `returnData`.
    function _simulated(bool success, bytes memory returnData) internal pure returns (bytes memory) {
        return abi.encodePacked(uint256(success ? 1 : 0), uint256(returnData.length), returnData);
    }

    function _refused(bytes memory err) internal pure returns (bytes memory) {
        return _simulated(false, err);
    }

    function _err(bytes4 selector, address who) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(selector, who);
    }

    function _unexpected(bytes4 callbackSelector) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ILeverageModule.UnexpectedCallback.selector, callbackSelector);
    }

    function _repayWithData(MarketParams memory params, address account, bytes memory data) internal pure returns (bytes memory) {
        return abi.encodeCall(IMorphoBase.repay, (params, 1, 0, account, data));
    }

    function _supplyCollateralWithData(address account, bytes memory data) internal view returns (bytes memory) {
        return abi.encodeCall(IMorphoBase.supplyCollateral, (wethMarket, 1, account, data));
    }

    function _flashLoanWithData(bytes memory data) internal view returns (bytes memory) {
        return abi.encodeCall(IMorphoBase.flashLoan, (address(usdc), 1, data));
    }

    /// @dev The same keeper operation through the module but with a forged ERC-2771 sender (the EntryPoint), made by
    /// the Safe calling the module directly.
    function _forgedExecuteRebalance(Plan memory plan) internal view returns (bytes memory) {
        return abi.encodePacked(abi.encodeCall(ILeverageModule.executeRebalance, (keeper, plan)), address(entryPoint));
    }

    /// @dev Tokens, pool shares and positions equal (ETH differs by the gas each run paid).
    function _assertSameHoldings(Holdings memory a, Holdings memory b) internal pure {
        assertEq(a.usdc, b.usdc, "USDC");
        assertEq(a.weth, b.weth, "WETH");
        assertEq(a.wbtc, b.wbtc, "WBTC");
        assertEq(a.usdcShares, b.usdcShares, "USDC pool shares");
        assertEq(a.wethCollateral, b.wethCollateral, "WETH collateral");
        assertEq(a.wethBorrowShares, b.wethBorrowShares, "WETH debt");
        assertEq(a.wbtcCollateral, b.wbtcCollateral, "WBTC collateral");
        assertEq(a.wbtcBorrowShares, b.wbtcBorrowShares, "WBTC debt");
    }

    /// @dev Runs `plan` once unattacked on a snapshot and returns the data its RepayWithCallback armed (the bytes the
    /// Safe handed to Morpho's `repay`), the Safe's holdings after it and its pool shares of `pool`; the state is
    /// then rolled back.
    function _dryRun(Plan memory plan, IERC4626 pool)
        internal
        returns (bytes memory armed, Holdings memory afterRun, uint256 poolShares)
    {
        uint256 snapshot = vm.snapshotState();
        vm.startStateDiffRecording();
        handleOk(keeperOp(safe, keeper, plan, keeperKey));
        VmSafe.AccountAccess[] memory accesses = vm.stopAndReturnStateDiff();
        afterRun = holdings(safe);
        poolShares = pool.balanceOf(safe);
        vm.revertToState(snapshot);
        for (uint256 i; i < accesses.length; ++i) {
            VmSafe.AccountAccess memory access = accesses[i];
            if (
                access.account != address(morpho) || access.accessor != safe
                    || access.kind != VmSafe.AccountAccessKind.Call || bytes4(access.data) != IMorphoBase.repay.selector
            ) continue;
            bytes memory args = new bytes(access.data.length - 4);
            for (uint256 j; j < args.length; ++j) {
                args[j] = access.data[j + 4];
            }
            (,,,, bytes memory data) = abi.decode(args, (MarketParams, uint256, uint256, address, bytes));
            if (data.length != 0) armed = data;
        }
        assertGt(armed.length, 0, "the dry run armed a callback");
    }

    /* EVERY MOMENT OF A RUN */

    /// @dev The keeper's swap deleverage with three pool withdrawals from a re-entrant pool: one before the repay
    /// callback is armed, one inside it (after the genuine callback was accepted), one after it returned. At each, the
    /// pool has the real Morpho call the Safe back with the exact data the plan armed (repay on this market, repay on a
    /// market the plan does not touch, supply-collateral, flash loan), runs a nested executeRebalance with a forged
    /// EntryPoint sender, has the attacker's own Safe (same module) take a Morpho callback, sends Aave's flash-loan
    /// callback to the Safe and calls the module directly. Every attempt fails with its exact error and the operation
    /// ends in exactly the state of the same operation unattacked.
    function test_Attack_RealVenueCallbacksAtEveryMomentOfARunAreRefused() public {
        ReentrantVault pool = new ReentrantVault(IERC20(address(usdc)));
        usdc.mint(safe, 1000e6);
        safeExec(safe, address(usdc), 0, abi.encodeCall(IERC20.approve, (address(pool), 1000e6)), 0);
        safeExec(safe, address(pool), 0, abi.encodeCall(IERC4626.deposit, (1000e6, safe)), 0);
        Policy memory policy = swapPolicy(wethMarket, false);
        policy.pools = new address[](1);
        policy.pools[0] = address(pool);
        setPolicy(policy);

        uint256 sold = wethToSell(1.38e18);
        uint256 quoted = quoteExactIn(address(weth), address(usdc), FEE_LOW, sold);
        Action[] memory actions = new Action[](9);
        actions[0] = action(ActionKind.WithdrawFromPool, 0, address(pool), 100e6); // moment 0: nothing armed
        actions[1] = action(ActionKind.Repay, 0, address(0), 100e6);
        actions[2] = action(ActionKind.RepayWithCallback, 0, address(0), quoted + 100e6);
        actions[3] = action(ActionKind.WithdrawFromPool, 0, address(pool), 100e6); // moment 1: inside the callback
        actions[4] = action(ActionKind.WithdrawCollateral, 0, address(0), sold);
        actions[5] = action(ActionKind.SellCollateral, 0, route(FEE_LOW), sold);
        actions[6] = action(ActionKind.EndCallback, 0, address(0), 0);
        actions[7] = action(ActionKind.WithdrawFromPool, 0, address(pool), 100e6); // moment 2: callback returned
        actions[8] = action(ActionKind.Repay, 0, address(0), 100e6);
        Plan memory plan = planOf(wethId, actions);
        (bytes memory armed, Holdings memory unattacked, uint256 unattackedShares) = _dryRun(plan, pool);

        address otherSafe = createSafe(attacker);
        pool.addAttempt(safe, _fromSafe(address(morpho), _repayWithData(wethMarket, safe, armed)));
        pool.addAttempt(safe, _fromSafe(address(morpho), _repayWithData(wbtcMarket, safe, armed)));
        pool.addAttempt(safe, _fromSafe(address(morpho), _supplyCollateralWithData(safe, armed)));
        pool.addAttempt(safe, _fromSafe(address(morpho), _flashLoanWithData(armed)));
        pool.addAttempt(safe, _fromSafe(address(module), _forgedExecuteRebalance(plan)));
        pool.addAttempt(otherSafe, _fromSafe(address(morpho), _supplyCollateralWithData(otherSafe, armed)));
        pool.addAttempt(
            safe,
            abi.encodeWithSignature(
                "executeOperation(address,uint256,uint256,address,bytes)", address(usdc), 1, 0, safe, armed
            )
        );
        pool.addAttempt(
            address(module),
            abi.encodePacked(abi.encodeCall(ILeverageModule.onMorphoRepay, (1, armed)), address(morpho))
        );

        bytes memory untouched = _refused(_err(ILeverageModule.CallbackFromUntouchedVenue.selector, address(morpho)));
        bytes[][3] memory expected;
        for (uint256 moment; moment < 3; ++moment) {
            bytes[] memory e = new bytes[](8);
            if (moment == 1) {
                e[0] = _refused(_unexpected(ILeverageModule.onMorphoRepay.selector));
                e[1] = _refused(_unexpected(ILeverageModule.onMorphoRepay.selector));
                e[2] = _refused(_unexpected(ILeverageModule.onMorphoSupplyCollateral.selector));
                e[3] = _refused(_unexpected(ILeverageModule.onMorphoFlashLoan.selector));
            } else {
                (e[0], e[1], e[2], e[3]) = (untouched, untouched, untouched, untouched);
            }
            e[4] = _refused(_err(ILeverageModule.RebalanceActive.selector, safe));
            e[5] = _refused(_err(ILeverageModule.CallbackOutsideRebalance.selector, otherSafe));
            e[6] = ""; // no executeOperation in the fallback handler: an empty revert
            e[7] = _err(ILeverageModule.CallbackOutsideRebalance.selector, address(pool));
            expected[moment] = e;
        }

        // 24 re-entries need more call gas than the fixture's 3M: raise the Safe's cap and the operation's limit.
        AutomationConfig memory config = defaultAutomation();
        config.maxCallGasLimit = 10_000_000;
        safeCall(abi.encodeCall(ILeverageModule.setAutomationConfig, (config)));
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        op.accountGasLimits = bytes32((uint256(500_000) << 128) | 10_000_000);
        op.signature = signKeeper(op, keeperKey);
        pool.arm(true);
        handleOk(op);
        pool.arm(false);

        assertEq(pool.attempts(), 24, "eight attempts at each of the three moments");
        for (uint256 i; i < 24; ++i) {
            assertFalse(pool.succeeded(i), "no attempt succeeded");
            assertEq(pool.results(i), expected[i / 8][i % 8], "exact error of each attempt at each moment");
        }
        _assertSameHoldings(holdings(safe), unattacked);
        assertEq(pool.balanceOf(safe), unattackedShares, "pool shares as unattacked");
        assertEq(pool.balanceOf(safe), 700e6, "three withdrawals of 100 USDC");
        assertGe(module.health(safe, wethId), 1.2e18, "the deleverage itself completed");
        Holdings memory other = holdings(otherSafe);
        assertEq(other.usdc + other.weth + other.wethCollateral + other.wethBorrowShares, 0, "the attacker's Safe got nothing");
        assertEq(usdc.allowance(safe, address(morpho)), 0, "standing USDC approval to Morpho");
        assertEq(weth.allowance(safe, address(swapRouter)), 0, "standing WETH approval to the router");
    }

    /* WHAT THE ARMED DATA CARRIES */

    /// @dev Review rr15p I1: the data a callback action arms and hands its venue is exactly
    /// `abi.encode(start, settleToken, CallbackRun[], Action[])` (it carried each whole `Run` before, `policyPtr`
    /// included: a memory address of the outer frame, meaningless in the callback's), and each `CallbackRun` is the
    /// vetted run's: its adapter, market, pre-trade state and the swap bound (maxSlippageBps) of the policy in force
    /// (review rr16c I2: the bound itself, not the policy's data contract). Decoding as that shape and encoding again
    /// gives the same bytes, so nothing else travels (the old data does not even decode: its first word per run, the
    /// sub-account id, is no address).
    function test_Attack_CallbackDataCarriesOnlyWhatItsInnerActionsRead() public {
        uint256 sold = wethToSell(1.38e18);
        uint256 quoted = quoteExactIn(address(weth), address(usdc), FEE_LOW, sold);
        Plan memory plan = deleveragePlan(quoted, sold, route(FEE_LOW));
        assertEq(uint8(plan.actions[0].kind), uint8(ActionKind.RepayWithCallback), "the plan opens with its callback");
        MarketState memory vetted = wethState();
        (bytes memory armed,,) = _dryRun(plan, new ReentrantVault(IERC20(address(usdc))));

        (uint256 start, address settleToken, RebalanceLib.CallbackRun[] memory runs, Action[] memory inner) =
            abi.decode(armed, (uint256, address, RebalanceLib.CallbackRun[], Action[]));
        assertEq(abi.encode(start, settleToken, runs, inner), armed, "exactly these four values, nothing else");
        assertEq(start, 1, "the plan index of the first inner action");
        assertEq(settleToken, address(usdc), "a repay callback settles in the loan token");
        assertEq(runs.length, 1, "one CallbackRun per listed sub-account");
        assertEq(address(runs[0].adapter), address(adapter), "the run's venue adapter");
        assertEq(runs[0].market, Id.unwrap(wethMarket.id()), "the run's market");
        assertEq(abi.encode(runs[0].state), abi.encode(vetted), "the pre-trade state the plan was vetted at");
        assertEq(runs[0].maxSlippageBps, module.getPolicy(safe, wethId).maxSlippageBps, "the policy in force's swap bound");
        assertEq(runs[0].maxSlippageBps, MAX_SLIPPAGE_BPS, "the vetted 50 bps");
        assertEq(inner.length, plan.actions.length - 2, "the block's inner actions, without its opener and EndCallback");
        for (uint256 k; k < inner.length; ++k) {
            assertEq(abi.encode(inner[k]), abi.encode(plan.actions[start + k]), "inner action k is plan action start + k");
        }
    }

    /* OUTSIDE ANY RUN */

    /// @dev The real Morpho calls the Safe back (the Safe made the call, through simulateAndRevert) while no rebalance
    /// runs: every callback kind is CallbackOutsideRebalance(safe). A forged-sender executeRebalance made the same way
    /// does run (it needs no keeper signature) but the frame always reverts: nothing persists, not even the epoch record.
    function test_Attack_RealVenueCallbacksOutsideARunAreRefused() public {
        (Plan memory plan,,) = swapDeleverage(1.4e18);
        bytes memory data = abi.encode(uint256(1));
        Holdings memory before = holdings(safe);
        EpochUsage memory usageBefore = module.getEpochUsage(safe, wethId);
        bytes memory outside = _refused(_err(ILeverageModule.CallbackOutsideRebalance.selector, safe));
        bytes[3] memory calls =
            [_repayWithData(wethMarket, safe, data), _supplyCollateralWithData(safe, data), _flashLoanWithData(data)];

        vm.startPrank(attacker);
        for (uint256 i; i < calls.length; ++i) {
            (bool ok, bytes memory ret) = safe.call(_fromSafe(address(morpho), calls[i]));
            assertFalse(ok, "simulateAndRevert always reverts");
            assertEq(ret, outside, "exact error");
        }
        (bool ran, bytes memory result) = safe.call(_fromSafe(address(module), _forgedExecuteRebalance(plan)));
        vm.stopPrank();

        assertFalse(ran, "simulateAndRevert always reverts");
        assertEq(result, _simulated(true, abi.encode(bytes(""))), "the forged dry run completed inside the reverted frame");
        assertNothingLeft(before);
        EpochUsage memory usageAfter = module.getEpochUsage(safe, wethId);
        assertEq(usageAfter.lastRebalance, usageBefore.lastRebalance, "no rebalance recorded");
        assertEq(usageAfter.lossPpb, usageBefore.lossPpb, "no loss recorded");
    }

    /* PLAN SHAPE, THROUGH handleOps */

    /// @dev Malformed callback blocks never reach execution: validation reverts the whole bundle (AA23 with the exact
    /// MalformedPlan code), so the Safe pays nothing.
    function test_Attack_MalformedCallbackBlocksAreRefusedInValidation() public {
        Holdings memory before = holdings(safe);
        Action memory open = action(ActionKind.RepayWithCallback, 0, address(0), 1e6);
        Action memory inner = action(ActionKind.WithdrawCollateral, 0, address(0), 1e18);
        Action memory close = action(ActionKind.EndCallback, 0, address(0), 0);
        Action[][4] memory shapes;
        shapes[0] = new Action[](4);
        (shapes[0][0], shapes[0][1], shapes[0][2], shapes[0][3]) = (open, open, inner, close);
        shapes[1] = new Action[](2);
        (shapes[1][0], shapes[1][1]) = (inner, close);
        shapes[2] = new Action[](2);
        (shapes[2][0], shapes[2][1]) = (open, inner);
        shapes[3] = new Action[](2);
        (shapes[3][0], shapes[3][1]) = (open, close);
        uint8[4] memory reasons = [
            ConstantsLib.MALFORMED_NESTED_CALLBACK,
            ConstantsLib.MALFORMED_UNOPENED_CALLBACK,
            ConstantsLib.MALFORMED_UNCLOSED_CALLBACK,
            ConstantsLib.MALFORMED_EMPTY_CALLBACK
        ];
        for (uint256 i; i < 4; ++i) {
            expectHandleRevert(
                keeperOp(safe, keeper, planOf(wethId, shapes[i]), keeperKey),
                failedOpWithRevert(abi.encodeWithSelector(ILeverageModule.MalformedPlan.selector, reasons[i]))
            );
        }
        assertNothingLeft(before);
    }

    /// @dev A deleverage-only sub-account's collateral leaves only inside its OWN repay callback: not inside another
    /// sub-account's repay callback, not inside a supply-collateral callback.
    function test_Attack_CallbackBlockWithdrawsOnlyInsideItsOwnRepayCallback() public {
        Action[] memory actions = new Action[](3);
        actions[0] = action(ActionKind.RepayWithCallback, 0, address(0), 1000e6);
        actions[1] = action(ActionKind.WithdrawCollateral, 1, address(0), 0.1e8);
        actions[2] = action(ActionKind.EndCallback, 0, address(0), 0);
        expectOpFails(
            plan2(wethId, wbtcId, actions),
            abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 1, ActionKind.WithdrawCollateral)
        );
        actions[0] = action(ActionKind.SupplyCollateralWithCallback, 0, address(0), 0.1e18);
        actions[1] = action(ActionKind.WithdrawCollateral, 0, address(0), 1e18);
        expectOpFails(
            planOf(wethId, actions),
            abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 1, ActionKind.WithdrawCollateral)
        );
    }
}

/// @notice The guard's defence in depth, which the real Morpho Blue cannot reach (it always calls back exactly once,
/// with the data it was handed): a module deployed with a venue adapter whose callback venue misbehaves (positions,
/// plain actions, swaps all on the real Morpho Blue and Uniswap v3). The attack suite's Safe is moved to that module.
contract MisbehavingVenueCallbackTest is SwapBase {
    MisbehavingVenue internal venue;
    RedirectingAdapter internal redirecting;

    function setUp() public override {
        super.setUp();
        venue = new MisbehavingVenue(morpho);
        usdc.mint(address(venue), 1_000_000e6); // its own liquidity, as Morpho's
        redirecting = new RedirectingAdapter(adapter, venue);
        address[] memory venues = new address[](1);
        venues[0] = address(redirecting);
        installModule(venues, address(redirecting));
    }

    function _deleverage() internal returns (Plan memory plan) {
        (plan,,) = swapDeleverage(1.4e18);
    }

    function _expectRefused(MisbehavingVenue.Mode mode, bytes memory err) internal {
        venue.setMode(mode);
        expectOpFails(_deleverage(), err);
        assertEq(usdc.allowance(safe, address(venue)), 0, "standing USDC approval to the venue");
    }

    function _unexpected(bytes4 callbackSelector) internal pure returns (bytes memory) {
        return actionFailed(0, abi.encodeWithSelector(ILeverageModule.UnexpectedCallback.selector, callbackSelector));
    }

    /// @dev The harness is sound: a venue that calls back once with the armed data completes the deleverage.
    function test_MisbehavingVenue_HonestCallbackCompletesTheDeleverage() public {
        handleOk(keeperOp(safe, keeper, _deleverage(), keeperKey));
        assertApproxEqAbs(module.health(safe, wethId), 1.4e18, 0.005e18, "deleveraged to the target");
        assertEq(usdc.allowance(safe, address(venue)), 0, "approval reset");
    }

    function test_Attack_VenueThatNeverCallsBackIsRefused() public {
        _expectRefused(
            MisbehavingVenue.Mode.Silent, abi.encodeWithSelector(ILeverageModule.CallbackNotReceived.selector, 0)
        );
    }

    function test_Attack_ArmedVenueCallingBackWithOtherDataIsRefused() public {
        _expectRefused(MisbehavingVenue.Mode.OtherData, _unexpected(ILeverageModule.onMorphoRepay.selector));
    }

    function test_Attack_ArmedVenueCallingBackAnotherKindIsRefused() public {
        _expectRefused(
            MisbehavingVenue.Mode.SupplyCollateralKind, _unexpected(ILeverageModule.onMorphoSupplyCollateral.selector)
        );
        _expectRefused(MisbehavingVenue.Mode.FlashLoanKind, _unexpected(ILeverageModule.onMorphoFlashLoan.selector));
    }

    function test_Attack_ArmedVenueCallingBackTwiceIsRefused() public {
        _expectRefused(MisbehavingVenue.Mode.Twice, _unexpected(ILeverageModule.onMorphoRepay.selector));
    }
}
