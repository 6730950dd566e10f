// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {AttackBase} from "./AttackBase.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";
import {IVenueAdapter, MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {IPriceFeed} from "../../src/interfaces/IPriceFeed.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {Id, MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Vm} from "forge-std/Vm.sol";
import {ReentrantVault} from "../utils/ReentryProbe.sol";
import {RebalanceLib} from "../../src/libraries/RebalanceLib.sol";
import {HealthLib} from "../../src/libraries/HealthLib.sol";
import {ConstantsLib} from "../../src/libraries/ConstantsLib.sol";

/// @notice The deviation check before rr18 (`distance x BPS > feedPrice x maxDeviationBps`, checked 256-bit products),
/// called externally so its Panic can be caught.
contract Rv18CheckedForm {
    function checkedForm(uint256 price, uint256 feedPrice, uint256 maxDeviationBps) external pure returns (bool) {
        return HealthLib.distance(price, feedPrice) * ConstantsLib.BPS > feedPrice * maxDeviationBps;
    }
}

/// @notice Review rv18 (issue 15): break-it tests for main 1cfa18d (`_feedPrice`, `_deviates`: review rr16g G2) and
/// branch gasE (63e4f58 the epoch record read once, 42285dc `_checkActions`' unacted walks gated, 831865e the engine's
/// EXTCODESIZE moved to the constructor). docs/reviews/issue15-rv18.md.
contract Rv18ReviewTest is AttackBase {
    using MarketParamsLib for MarketParams;

    Rv18CheckedForm internal forms;
    bytes32 internal wethMarketId;

    function setUp() public override {
        super.setUp();
        forms = new Rv18CheckedForm();
        wethMarketId = Id.unwrap(wethMarket.id());
    }

    /// @dev The fixture's due WETH rescue: `amount` USDC from the fair pool repaid.
    function _rescue(uint256 amount) internal view returns (Plan memory) {
        return plan1(
            wethId,
            action(ActionKind.WithdrawFromPool, 0, address(usdcVault), amount),
            action(ActionKind.Repay, 0, address(0), amount)
        );
    }

    /// @dev executeRebalance as the EntryPoint calls it; success and revert data, state rolled back.
    function _run(Plan memory plan) internal returns (bool ok, bytes memory ret) {
        uint256 snap = vm.snapshotState();
        vm.prank(address(entryPoint));
        (ok, ret) = safe.call(abi.encodeCall(ILeverageModule.executeRebalance, (keeper, plan)));
        vm.revertToState(snap);
    }

    /* 1. main 1cfa18d: _deviates / _feedPrice (rr16g G2) */

    /// Finding I1: where the old checked form overflowed only because `feedPrice x maxDeviationBps` does not fit (feed
    /// price at least ceil(2^256 / maxDeviationBps): 1.16e73 at 10,000 bps, 1.16e75 at 100), a venue price within the
    /// bound was refused with Panic 0x11 before rr18 and is ACCEPTED now (`_deviates` false). The decision is the exact
    /// one (what the SDK's BigInt rule book always answered); each edge one unit further is refused.
    function test_I1_NearHugeFeedPrice_WasPanic_NowAccepted() public view {
        uint256[3] memory bounds = [uint256(100), 5000, ConstantsLib.BPS];
        for (uint256 i; i < bounds.length; ++i) {
            uint256 k = bounds[i];
            uint256 feedPrice = type(uint256).max / k + 1; // the smallest feed price whose feedPrice x k overflows
            uint256 allowed = Math.mulDiv(feedPrice, k, ConstantsLib.BPS); // the largest distance within k bps
            uint256[3] memory prices = [feedPrice, feedPrice - allowed, feedPrice + allowed]; // all below 2^256 here
            for (uint256 j; j < 3; ++j) {
                (bool fits, bytes memory ret) =
                    address(forms).staticcall(abi.encodeCall(Rv18CheckedForm.checkedForm, (prices[j], feedPrice, k)));
                assertFalse(fits, "the old form overflowed here");
                assertEq(ret, abi.encodeWithSignature("Panic(uint256)", 0x11), "Panic 0x11 before rr18: refused");
                assertFalse(RebalanceLib._deviates(prices[j], feedPrice, k), "accepted since rr18");
            }
            // One unit past the bound is refused (OracleDeviation), above the feed price (below it, at 10,000 bps,
            // there is no unit further: 0 is OraclePriceZero).
            assertTrue(RebalanceLib._deviates(feedPrice + allowed + 1, feedPrice, k), "one unit further: far");
        }
    }

    /// @dev The real WETH market state with the venue price replaced by `price` (the adapter's reply mocked).
    function _mockVenuePrice(uint256 price) internal {
        MarketState memory s = adapter.marketState(wethMarketId, safe);
        s.price = price;
        vm.mockCall(address(adapter), abi.encodeWithSelector(IVenueAdapter.marketState.selector), abi.encode(s));
    }

    /// @dev The feed's answer mocked (8 decimals, fresh): feed price = answer x 1e16 for USDC 6 / WETH 18.
    function _mockFeedAnswer(uint256 answer) internal {
        vm.mockCall(
            address(wethOracle),
            abi.encodeWithSelector(IPriceFeed.latestRoundData.selector),
            abi.encode(uint80(1), int256(answer), uint256(0), block.timestamp, uint80(1))
        );
    }

    /// Finding I1 through the module: a venue price P = answer x 1e16 with P x 100 >= 2^256 and a feed agreeing to the
    /// unit. Before rr18 the feed check raised Panic 0x11 here; now the operation ends exactly as it does for the same
    /// policy without a feed (the feed check passed), and differently from a feed 2% away (OracleDeviation). So the
    /// newly accepted inputs reach nothing a feed-less policy did not already reach at the same venue price (here both
    /// run the plan and are refused by the post-state check, HealthOutOfBand).
    function test_I1_AgreeingHugeFeed_EndsAsWithoutAFeed() public {
        uint256 answer = (type(uint256).max / 100) / 1e16 + 1;
        uint256 price = answer * 1e16;
        (bool fits,) = address(forms).staticcall(abi.encodeCall(Rv18CheckedForm.checkedForm, (price, price, 100)));
        assertFalse(fits, "the pre-rr18 feed check overflowed (Panic 0x11) on this input");
        _mockVenuePrice(price);
        Plan memory plan = _rescue(3300e6);

        _mockFeedAnswer(answer);
        (bool okFeed, bytes memory retFeed) = _run(plan);

        _mockFeedAnswer(answer * 102 / 100);
        (bool okFar, bytes memory retFar) = _run(plan);
        assertFalse(okFar, "a far feed refuses");
        assertEq(
            retFar,
            abi.encodeWithSelector(ILeverageModule.OracleDeviation.selector, wethId, price, answer * 102 / 100 * 1e16),
            "a far feed: OracleDeviation with exact args"
        );

        Policy memory noFeed = defaultPolicy(wethMarket, address(usdcVault));
        noFeed.priceFeed = address(0);
        setPolicy(noFeed);
        (bool okNone, bytes memory retNone) = _run(plan);
        assertEq(okFeed, okNone, "same success as without a feed");
        assertEq(retFeed, retNone, "same revert data as without a feed");
        assertTrue(keccak256(retFeed) != keccak256(retFar), "the agreeing feed was not refused by the feed check");
        // Here the plan ran (the repayment executed) and the post-state check refused it: at this price the venue's
        // health after is astronomical (HealthOutOfBand), as it is for the feed-less policy.
        assertFalse(okFeed);
        assertEq(bytes4(retFeed), ILeverageModule.HealthOutOfBand.selector, "refused only by the post-state check");
    }

    /* 2a. gasE 63e4f58: the epoch record read once (Run.usageSlot, Run.usage) */

    /// @dev A re-entrant USDC pool holding 10,000 of the Safe's USDC, allowed (with the fair pool) to the WETH policy and
    /// enabled as a module of the Safe (an owner-level compromise: the strongest re-entrant writer there is).
    function _hostilePool() internal returns (ReentrantVault pool) {
        pool = new ReentrantVault(IERC20(address(usdc)));
        usdc.mint(safe, 10_000e6);
        safeExec(safe, address(usdc), 0, abi.encodeCall(IERC20.approve, (address(pool), 10_000e6)), 0);
        safeExec(safe, address(pool), 0, abi.encodeCall(IERC4626.deposit, (10_000e6, safe)), 0);
        _allowPools(IERC4626(address(pool)));
        safeExec(safe, safe, 0, abi.encodeWithSignature("enableModule(address)", address(pool)), 0);
    }

    /// @dev The Safe (as `pool`, one of its modules) calling the module with `data` and `sender` appended: the EntryPoint's
    /// address for executeRebalance (the module reads it as `_msgSender()`), the Safe's for the owner controls.
    function _viaSafe(ReentrantVault pool, bytes memory data, address sender) internal {
        pool.addAttempt(
            safe,
            abi.encodeWithSignature(
                "execTransactionFromModuleReturnData(address,uint256,bytes,uint8)",
                address(module), 0, abi.encodePacked(data, sender), 0
            )
        );
    }

    /// @dev The rebalance's own record update: the same epoch, one more rebalance, lastRebalance now.
    function _assertSameRecord(EpochUsage memory a, EpochUsage memory b, string memory what) internal pure {
        assertEq(a.epoch, b.epoch, what);
        assertEq(a.lastRebalance, b.lastRebalance, what);
        assertEq(a.rebalances, b.rebalances, what);
        assertEq(a.lossPpb, b.lossPpb, what);
        assertEq(a.amountMoved, b.amountMoved, what);
    }

    /// Review (a): every writer of the WETH usage record a hostile pool can reach mid-rebalance (the Safe itself calling
    /// setPolicy, removePolicy, setStopLoss, and a nested executeRebalance of the same Safe with the EntryPoint's
    /// address appended, through the Safe as one of its modules) is refused with RebalanceActive(safe): nothing writes
    /// the slot between `_load`'s read and `_recordUsage`'s write. The record then equals that of the same rebalance
    /// without the attempts, field by field (gasUsed aside: the attempts burn gas inside the operation), on top of a
    /// non-zero record from an earlier rebalance in the epoch, so a stale cached word (a lost update) would show.
    function test_A_UsageRecord_NoWriterMidRebalance_NoLostUpdate() public {
        ReentrantVault pool = _hostilePool();
        // An earlier rebalance in this epoch (to health 1.32): a non-zero record to be updated.
        executeAsEntryPoint(safe, keeper, _rescue(_repayToReach(1.32e18)));
        EpochUsage memory first = module.getEpochUsage(safe, wethId);
        assertEq(first.rebalances, 1);
        vm.warp(block.timestamp + 60);
        wethOracle.setPrice(2100e18); // health about 1.155: due again

        uint256 amount = _repayToReach(1.4e18);
        Action[] memory a = new Action[](2);
        a[0] = action(ActionKind.WithdrawFromPool, 0, address(pool), amount);
        a[1] = action(ActionKind.Repay, 0, address(0), amount);
        Plan memory plan = plan1(wethId, a[0], a[1]);

        // Control: the same rebalance without any attempt.
        uint256 snap = vm.snapshotState();
        executeAsEntryPoint(safe, keeper, plan);
        EpochUsage memory control = module.getEpochUsage(safe, wethId);
        vm.revertToState(snap);
        assertEq(control.rebalances, 2);
        assertApproxEqAbs(control.amountMoved, first.amountMoved + amount, 2, "the control sums both moves");

        Policy memory other = defaultPolicy(wethMarket, address(usdcVault));
        other.maxRebalancesPerEpoch = 1; // a policy that would refuse the second rebalance if read
        _viaSafe(pool, abi.encodeCall(ILeverageModule.setPolicy, (other)), safe);
        _viaSafe(pool, abi.encodeCall(ILeverageModule.removePolicy, (wethId)), safe);
        _viaSafe(pool, abi.encodeCall(ILeverageModule.setStopLoss, (wethId, 1000e36, 1.9e18)), safe);
        _viaSafe(pool, abi.encodeCall(ILeverageModule.executeRebalance, (keeper, plan)), address(entryPoint));
        pool.arm(true);
        executeAsEntryPoint(safe, keeper, plan);
        pool.arm(false);

        assertEq(pool.attempts(), 4, "four writers tried");
        bytes memory refused = abi.encodeWithSelector(ILeverageModule.RebalanceActive.selector, safe);
        for (uint256 k; k < 4; ++k) {
            assertTrue(pool.succeeded(k), "the Safe answered");
            (bool ok, bytes memory reply) = abi.decode(pool.results(k), (bool, bytes));
            assertFalse(ok, "no writer ran");
            assertEq(reply, refused, "RebalanceActive(safe)");
        }
        EpochUsage memory record = module.getEpochUsage(safe, wethId);
        _assertSameRecord(record, control, "the record is the control's: no lost update");
        assertGe(record.gasUsed, control.gasUsed, "gas summed (the attempts' gas included)");
    }

    /* 2b. gasE 42285dc: _checkActions' unacted walks run only when `acted` is short of a bit per run */

    /// Review (b): a listed sub-account without a venue action is still refused at each index (the mask
    /// `(1 << runs.length) - 1` covers the last index and the first), with the same error as before the cut: its pool
    /// action PoolNotUsed, no action at all SubAccountUnchanged. Mutation checked: with the mask `1 << (n - 1)` the
    /// fourth plan (unacted index 0 withdrawing for index 1) ends SubAccountUnchanged instead of PoolNotUsed and this
    /// test fails (the no-action plans are refused SubAccountUnchanged again by the post-state check, so only a plan
    /// whose pool action would otherwise pass tells the walks apart).
    function test_B_UnactedSubAccount_RefusedAtEveryIndex() public {
        uint256 amount = _repayToReach(1.4e18);
        Action memory withdraw = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), amount);
        Action memory repay = action(ActionKind.Repay, 0, address(0), amount);

        // WBTC (index 1, the mask's top bit) listed with no action.
        Action[] memory a = new Action[](2);
        (a[0], a[1]) = (withdraw, repay);
        expectExec(plan2(wethId, wbtcId, a), abi.encodeWithSelector(ILeverageModule.SubAccountUnchanged.selector, wbtcId));

        // WBTC (index 0, the mask's low bit) listed first with no action; WETH's actions at index 1.
        Action[] memory b = new Action[](2);
        b[0] = action(ActionKind.WithdrawFromPool, 1, address(usdcVault), amount);
        b[1] = action(ActionKind.Repay, 1, address(0), amount);
        expectExec(plan2(wbtcId, wethId, b), abi.encodeWithSelector(ILeverageModule.SubAccountUnchanged.selector, wbtcId));

        // WBTC (index 1) with only a pool action: PoolNotUsed, raised before SubAccountUnchanged (the walks' order).
        Action[] memory c = new Action[](3);
        (c[0], c[1]) = (withdraw, repay);
        c[2] = action(ActionKind.WithdrawFromPool, 1, address(usdcVault), 1e6);
        expectExec(
            plan2(wethId, wbtcId, c), abi.encodeWithSelector(ILeverageModule.PoolNotUsed.selector, wbtcId, address(usdcVault))
        );

        // WBTC (index 0, the low bit) withdrawing from the pool what WETH (index 1) repays: only the walk refuses it as
        // PoolNotUsed before anything runs; were the walk skipped, the withdrawal and the repayment would run and the
        // post-state check refuse later with SubAccountUnchanged(wbtcId) (a different error, after external calls).
        Action[] memory e = new Action[](2);
        e[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), amount);
        e[1] = action(ActionKind.Repay, 1, address(0), amount);
        expectExec(
            plan2(wbtcId, wethId, e), abi.encodeWithSelector(ILeverageModule.PoolNotUsed.selector, wbtcId, address(usdcVault))
        );

        // Every listed sub-account acted: the walks are skipped and the plan goes on to be judged (here WBTC's repay
        // moves it away from its target; whatever refuses it, it is not one of the walks' three errors).
        Action[] memory d = new Action[](4);
        (d[0], d[1]) = (withdraw, repay);
        d[2] = action(ActionKind.WithdrawFromPool, 1, address(usdcVault), 1e6);
        d[3] = action(ActionKind.Repay, 1, address(0), 1e6);
        (bool ok, bytes memory ret) = _run(plan2(wethId, wbtcId, d));
        if (!ok && ret.length >= 4) {
            bytes4 sel = bytes4(ret);
            assertTrue(
                sel != ILeverageModule.SubAccountUnchanged.selector && sel != ILeverageModule.PoolNotUsed.selector
                    && sel != ILeverageModule.SwapNotUsed.selector,
                "a fully acted plan is not refused by the unacted walks"
            );
        }
    }

    /// Review (b), the lemma the cut rests on, over every shape PlanLib admits (n 1..MAX_SUB_ACCOUNTS, up to MAX_ACTIONS
    /// actions, each subAccount < n): the gated walks (gasE) refuse exactly when, and with exactly what, the ungated
    /// walks (before) refuse. `acted` here is any subset of the listed sub-accounts.
    /// forge-config: default.fuzz.runs = 4096
    function testFuzz_B_GatedWalks_SameAsUngated(uint256 n, uint256 actedSeed, uint256 m, uint256 seed) public pure {
        n = bound(n, 1, ConstantsLib.MAX_SUB_ACCOUNTS);
        m = bound(m, 1, ConstantsLib.MAX_ACTIONS);
        uint256 acted = actedSeed & ((1 << n) - 1);
        if (actedSeed >> 255 == 1) acted = (1 << n) - 1; // half the runs: every run acted
        uint256[] memory subs = new uint256[](m);
        uint256[] memory kinds = new uint256[](m);
        for (uint256 i; i < m; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            subs[i] = r % n;
            kinds[i] = (r >> 128) % 11;
        }
        assertEq(_walks(n, acted, subs, kinds, true), _walks(n, acted, subs, kinds, false), "same refusal");
    }

    /// @dev The two walks of `_checkActions` (error code: 1 PoolNotUsed, 2 SwapNotUsed, 3 SubAccountUnchanged, with the
    /// index) as written before gasE (`gated` false) and after (true).
    function _walks(uint256 n, uint256 acted, uint256[] memory subs, uint256[] memory kinds, bool gated)
        internal
        pure
        returns (uint256)
    {
        if (gated && acted == (1 << n) - 1) return 0;
        for (uint256 i; i < subs.length; ++i) {
            if (acted & (1 << subs[i]) != 0) continue;
            if (kinds[i] <= 1) return 1 << 8 | subs[i]; // WithdrawFromPool 0, DepositToPool 1
            if (kinds[i] == 6 || kinds[i] == 7) return 2 << 8 | subs[i]; // SellCollateral, BuyCollateral
        }
        for (uint256 i; i < n; ++i) {
            if (acted & (1 << i) == 0) return 3 << 8 | i;
        }
        return 0;
    }

    /* 2d. gasE f17bdac: _checkSwapsServeOwnPosition returns at once when `kinds & SERVE_KINDS == 0` */

    /// @dev RebalanceLib's SERVE_KINDS as f17bdac writes it (private there): kinds 2, 6, 7, 9 in each 16-bit lane.
    uint256 internal constant SERVE_KINDS = 0x02C4 * 0x0001000100010001000100010001000100010001000100010001000100010001;

    /// Review (d): the early return skips exactly the plans whose walk did nothing. `kinds` is built as `_checkActions`
    /// builds it (bit `kind | sub << 4` per non-EndCallback action, kind < 11, sub < n <= 8); the walk acts on run k
    /// only when its lane has SupplyCollateral (2) or SupplyCollateralWithCallback (9) (clears boost) or a swap (6, 7).
    /// The gate is zero exactly when no lane below n has one of them, lanes at or above n being empty.
    /// forge-config: default.fuzz.runs = 4096
    function testFuzz_D_ServeGate_SkipsExactlyTheNoOpWalks(uint256 n, uint256 m, uint256 seed) public pure {
        n = bound(n, 1, ConstantsLib.MAX_SUB_ACCOUNTS);
        m = bound(m, 1, ConstantsLib.MAX_ACTIONS);
        uint256 kinds;
        for (uint256 i; i < m; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            uint256 kind = (r >> 128) % 11;
            // Half the seeds draw only from the kinds the walk ignores (0, 1, 3, 4, 5, 8; EndCallback 10 sets nothing).
            if (seed & 1 == 0) kind = [uint256(0), 1, 3, 4, 5, 8, 10][(r >> 64) % 7];
            if (kind == 10) continue;
            kinds |= 1 << (kind | (r % n) << 4);
        }
        bool walkActs;
        for (uint256 k; k < n; ++k) {
            uint256 own = kinds >> (k << 4);
            if (own & 0x204 != 0 || own & 0xC0 != 0) walkActs = true;
        }
        assertEq(kinds & SERVE_KINDS != 0, walkActs, "the gate is open exactly when the walk acts");
    }

    /* 2c. gasE 831865e: no EXTCODESIZE before the engine's DELEGATECALL */

    /// Review (c): the linked engine's runtime code holds no SELFDESTRUCT, DELEGATECALL or CALLCODE instruction
    /// (PUSH data skipped, the CBOR trailer excluded), so nothing it runs, called directly or by DELEGATECALL, can
    /// delete its code, even on a chain without EIP-6780. The constructor check covers a link to an empty address.
    function test_C_EngineCode_NoSelfdestructNoDelegatecall() public view {
        bytes memory code = address(RebalanceLib).code;
        assertGt(code.length, 0, "the engine has code");
        uint256 end = code.length;
        uint256 trailer = uint256(uint8(code[end - 2])) << 8 | uint8(code[end - 1]);
        if (trailer + 2 <= end) end -= trailer + 2;
        uint256 found;
        for (uint256 i; i < end; ++i) {
            uint8 op = uint8(code[i]);
            if (op >= 0x60 && op <= 0x7f) {
                i += op - 0x5f; // PUSH1..PUSH32 immediates
                continue;
            }
            if (op == 0xff || op == 0xf4 || op == 0xf2) ++found;
        }
        assertEq(found, 0, "SELFDESTRUCT / DELEGATECALL / CALLCODE in the engine");
    }

    /// Review (c), what the EXTCODESIZE guarded against: were the engine's code ever gone (impossible for a deployed
    /// module, see the previous test and EngineCode.t.sol), a signed keeper operation would succeed doing nothing: no
    /// check, no action, no usage or cooldown recorded, no Rebalanced log, while the Safe still pays its gas (the
    /// self-pay budget is charged in validation). Before gasE the same operation reverted without data. Documented,
    /// not exploitable: this state cannot be reached.
    function test_C_EngineWithoutCode_OperationSucceedsDoingNothing() public {
        PackedUserOperation memory op = keeperOp(safe, keeper, _rescue(3300e6), keeperKey);
        EpochUsage memory usageBefore = module.getEpochUsage(safe, wethId);
        MarketState memory stateBefore = adapter.marketState(wethMarketId, safe);
        uint256 ethBefore = safe.balance;
        vm.etch(address(RebalanceLib), "");
        Vm.Log[] memory logs = handleLogged(op);
        bool success;
        bool rebalanced;
        bytes32 eventSig = keccak256("UserOperationEvent(bytes32,address,address,uint256,bool,uint256,uint256)");
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == eventSig) (, success,,) = abi.decode(logs[i].data, (uint256, bool, uint256, uint256));
            if (logs[i].topics[0] == ILeverageModule.Rebalanced.selector) rebalanced = true;
        }
        assertTrue(success, "the operation succeeded");
        assertFalse(rebalanced, "no Rebalanced log");
        MarketState memory stateAfter = adapter.marketState(wethMarketId, safe);
        assertEq(stateAfter.debt, stateBefore.debt, "nothing repaid");
        assertEq(abi.encode(module.getEpochUsage(safe, wethId)), abi.encode(usageBefore), "no usage recorded");
        assertLt(safe.balance, ethBefore, "the Safe paid the operation's gas");
        assertGt(module.getSelfPayBudget(safe).spentWei, 0, "charged to the self-pay budget");
    }
}
