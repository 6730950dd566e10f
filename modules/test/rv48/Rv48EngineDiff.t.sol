// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SwapBase} from "../utils/SwapBase.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {RebalanceLib} from "../../src/libraries/RebalanceLib.sol";
import {ConstantsLib} from "../../src/libraries/ConstantsLib.sol";
// Imported so that forge compiles it (its artifact is read with vm.getDeployedCode).
import {RebalanceLibF698335} from "./RebalanceLibF698335.sol";
import {SimOracle} from "../utils/SimOracle.sol";
import {MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";

/// @notice Review rv48 (issue 15, gasF): the engine after gasF (4604055, 25a5dca) against the engine before it
/// (f698335's RebalanceLib, compiled from modules/test/rv48/RebalanceLibF698335.sol), on the same plans from the same
/// state. The module delegatecalls its linked RebalanceLib (execute, and callback from the venue callbacks), so the old
/// engine is run by etching its runtime code at that address. Each plan runs once on each engine from one snapshot; the
/// verdict (success or the exact revert data) and everything of value the Safe holds afterwards (AttackBase.holdings:
/// idle tokens, pool shares, both positions' collateral and borrow shares) must be the same. The charged gas is not
/// compared (gasF's purpose is to lower it). Fixture: SwapBase (WETH sub-account at health 1.02 with swaps allowed,
/// WBTC at 1.72, the WETH/USDC 0.05% Uniswap pool) with idle USDC and WETH, USDC in usdcVault and WETH in wethVault (a
/// pool whose asset is a collateral token), both allowed by the WETH policy (setPolicy refuses the WETH pool for WBTC),
/// WETH boosts allowed.
contract Rv48EngineDiffTest is SwapBase {
    /// @dev The sub-accounts `_plan` lists, in order (default: WETH, WBTC, the WETH twin).
    bytes32[3] internal listed;
    /// @dev `_collateral` picks from every scale (a test whose sub-accounts' collateral differ from the default's).
    bool internal broadAmounts;
    bytes internal newCode;
    bytes internal oldCode;
    uint256 internal sold;
    uint256 internal repaid;

    function setUp() public override {
        super.setUp();
        address[] memory pools = new address[](2);
        pools[0] = address(usdcVault);
        pools[1] = address(wethVault);
        Policy memory p = swapPolicy(wethMarket, true);
        p.pools = pools;
        wethId = setPolicy(p);
        wbtcId = setPolicy(defaultPolicy(wbtcMarket, address(usdcVault))); // a WETH pool is refused for WBTC
        depositToVault(safe, usdcVault, 10_000e6);
        depositToVault(safe, wethVault, 2e18);
        usdc.mint(safe, 1_000e6);
        weth.mint(safe, 0.5e18);
        (, sold, repaid) = swapDeleverage(1.4e18);
        newCode = address(RebalanceLib).code;
        oldCode = vm.getDeployedCode("RebalanceLibF698335.sol:RebalanceLibF698335");
    }

    /* HARNESS */

    function _exec(Plan memory plan) internal returns (bool ok, bytes memory ret, bytes32 after_, uint256 gasUsed) {
        vm.prank(address(entryPoint));
        uint256 g = gasleft();
        (ok, ret) = safe.call(abi.encodeCall(ILeverageModule.executeRebalance, (keeper, plan)));
        gasUsed = g - gasleft();
        after_ = keccak256(
            abi.encode(
                holdings(safe),
                usdc.allowance(safe, address(swapRouter)),
                weth.allowance(safe, address(swapRouter)),
                weth.balanceOf(safe),
                wethVault.balanceOf(safe)
            )
        );
    }

    /// @dev Runs `plan` on the new engine and on the old one from the same state; requires the same verdict and state.
    /// Returns whether it succeeded and the gas each engine's call took.
    function _same(Plan memory plan) internal returns (bool ok, uint256 gasNew, uint256 gasOld) {
        (ok, gasNew, gasOld,) = _sameWithError(plan);
    }

    function _sameWithError(Plan memory plan) internal returns (bool ok, uint256 gasNew, uint256 gasOld, bytes4 err) {
        uint256 snap = vm.snapshotState();
        (bool okNew, bytes memory retNew, bytes32 stateNew, uint256 gNew) = _exec(plan);
        vm.revertToState(snap);
        vm.etch(address(RebalanceLib), oldCode);
        (bool okOld, bytes memory retOld, bytes32 stateOld, uint256 gOld) = _exec(plan);
        vm.revertToState(snap);
        assertEq(address(RebalanceLib).code, newCode, "the new engine is back");
        assertEq(okNew, okOld, "same verdict (success)");
        assertEq(retNew, retOld, "same revert data");
        assertEq(stateNew, stateOld, "same holdings after");
        return (okNew, gNew, gOld, bytes4(retNew));
    }

    /// @dev `_same` through EntryPoint.handleOps (keeperOp signed by the keeper): the same success and revert reason (the
    /// UserOperationRevertReason event) and the same holdings but the ETH and EntryPoint deposit (the gas paid differs).
    function _sameThroughHandleOps(Plan memory plan) internal returns (bool ok) {
        uint256 snap = vm.snapshotState();
        (bool okNew, bytes memory retNew) = _tryHandle(plan);
        bytes32 stateNew = _valueButGas();
        vm.revertToState(snap);
        vm.etch(address(RebalanceLib), oldCode);
        (bool okOld, bytes memory retOld) = _tryHandle(plan);
        bytes32 stateOld = _valueButGas();
        vm.revertToState(snap);
        assertEq(okNew, okOld, "handleOps: same success");
        assertEq(retNew, retOld, "handleOps: same revert reason");
        assertEq(stateNew, stateOld, "handleOps: same holdings after (but gas)");
        return okNew;
    }

    /// @dev handleOps of the keeper's operation: its success and revert reason, or (a plan validation refuses: handleOps
    /// reverts FailedOp) false and handleOps' revert data.
    function _tryHandle(Plan memory plan) internal returns (bool, bytes memory) {
        try this.rv48Handle(plan) returns (bool ok, bytes memory reason) {
            return (ok, reason);
        } catch (bytes memory err) {
            return (false, err);
        }
    }

    function rv48Handle(Plan memory plan) external returns (bool, bytes memory) {
        return handle(keeperOp(safe, keeper, plan, keeperKey));
    }

    function _valueButGas() internal view returns (bytes32) {
        Holdings memory h = holdings(safe);
        h.eth = 0;
        h.deposit = 0;
        return keccak256(abi.encode(h, weth.balanceOf(safe), wethVault.balanceOf(safe)));
    }

    /// @dev Through handleOps: the swap rescue passes, a rescue block with too little sold fails alike, and the
    /// rescue block last after the WBTC sub-account's pool repayment.
    function test_HandleOpsSameOnBothEngines() public {
        assertTrue(_sameThroughHandleOps(deleveragePlan(repaid, sold, route(FEE_LOW))), "the swap rescue passes");
        assertFalse(_sameThroughHandleOps(deleveragePlan(repaid, sold / 2, route(FEE_LOW))), "half the sale fails");
        Action[] memory b = new Action[](6);
        b[0] = action(ActionKind.WithdrawFromPool, 1, address(usdcVault), 100e6);
        b[1] = action(ActionKind.Repay, 1, address(0), 100e6);
        _rescueBlock(b, 2, 0);
        _sameThroughHandleOps(_plan(2, b));
        for (uint256 seed; seed < 40; ++seed) {
            _sameThroughHandleOps(_fuzzPlan(uint256(keccak256(abi.encode("rv48 ops", seed)))));
        }
    }

    /// @dev Writes the swap rescue's callback block of sub-account `sub` at `a[at..at+3]`: RepayWithCallback `repaid`,
    /// WithdrawCollateral and SellCollateral `sold` (fee tier FEE_LOW), EndCallback.
    function _rescueBlock(Action[] memory a, uint256 at, uint8 sub) internal view {
        a[at] = action(ActionKind.RepayWithCallback, sub, address(0), repaid);
        a[at + 1] = action(ActionKind.WithdrawCollateral, sub, address(0), sold);
        a[at + 2] = action(ActionKind.SellCollateral, sub, route(FEE_LOW), sold);
        a[at + 3] = action(ActionKind.EndCallback, sub, address(0), 0);
    }

    function _plan(uint256 n, Action[] memory actions) internal view returns (Plan memory plan) {
        plan.subAccounts = new bytes32[](n);
        if (listed[0] == bytes32(0)) {
            plan.subAccounts[0] = wethId;
            if (n > 1) plan.subAccounts[1] = wbtcId;
            if (n > 2) plan.subAccounts[2] = wethTwinId; // a second WETH market: a repeated collateral token
        } else {
            for (uint256 i; i < n; ++i) {
                plan.subAccounts[i] = listed[i];
            }
        }
        plan.actions = actions;
    }

    /* SANITY: the harness runs two different engines */

    function test_TheOldEngineIsAnotherCodeAndRunsTheSwapRescueDearer() public {
        assertTrue(keccak256(oldCode) != keccak256(newCode), "old and new engine codes differ");
        (bool ok, uint256 gasNew, uint256 gasOld) = _same(deleveragePlan(repaid, sold, route(FEE_LOW)));
        assertTrue(ok, "the swap rescue passes on both engines");
        assertGt(gasOld, gasNew, "the old engine took more gas (it is the one that ran)");
    }

    /* FIXED CASES */

    /// @dev The callback block at the array's start and end, around the other sub-account's pool moves.
    function test_CallbackBlockAtEitherEndOfTheActions() public {
        Action[] memory a = new Action[](6);
        _rescueBlock(a, 0, 0);
        a[4] = action(ActionKind.WithdrawFromPool, 1, address(usdcVault), 100e6);
        a[5] = action(ActionKind.Repay, 1, address(0), 100e6);
        _same(_plan(2, a));
        // Block last.
        Action[] memory b = new Action[](6);
        b[0] = action(ActionKind.WithdrawFromPool, 1, address(usdcVault), 100e6);
        b[1] = action(ActionKind.Repay, 1, address(0), 100e6);
        b[2] = a[0];
        b[3] = a[1];
        b[4] = a[2];
        b[5] = a[3];
        _same(_plan(2, b));
        // One inner action only, the block the whole plan.
        Action[] memory c = new Action[](3);
        c[0] = action(ActionKind.RepayWithCallback, 0, address(0), repaid);
        c[1] = action(ActionKind.SellCollateral, 0, route(FEE_LOW), sold);
        c[2] = a[3];
        _same(_plan(1, c));
    }

    /// @dev WETH from the WETH pool (its asset the collateral token) supplied as collateral, with the loan-token pool.
    function test_PoolOfTheCollateralToken() public {
        Action[] memory a = new Action[](4);
        a[0] = action(ActionKind.WithdrawFromPool, 0, address(wethVault), 1e18);
        a[1] = action(ActionKind.SupplyCollateral, 0, address(0), 1e18);
        a[2] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 500e6);
        a[3] = action(ActionKind.Repay, 0, address(0), 500e6);
        _same(_plan(1, a));
        a[1] = action(ActionKind.SupplyCollateral, 0, address(0), 1.5e18); // idle WETH too
        _same(_plan(1, a));
        a[1] = action(ActionKind.SupplyCollateral, 0, address(0), 0.5e18); // WETH withdrawn and left idle
        _same(_plan(1, a));
    }

    /// @dev MAX_ACTIONS actions (the rescue block and pool/repay pairs), and one more (MalformedPlan).
    function test_MaxActionsPlans() public {
        uint256 m = ConstantsLib.MAX_ACTIONS;
        for (uint256 extra; extra < 2; ++extra) {
            Action[] memory a = new Action[](m + extra);
            _rescueBlock(a, 0, 0);
            for (uint256 k = 4; k + 1 < a.length; k += 2) {
                a[k] = action(ActionKind.WithdrawFromPool, 1, address(usdcVault), 10e6);
                a[k + 1] = action(ActionKind.Repay, 1, address(0), 10e6);
            }
            if (a.length % 2 == 1) a[a.length - 1] = action(ActionKind.Repay, 0, address(0), 1e6);
            _same(_plan(2, a));
        }
    }

    /// @dev The same sub-account listed twice (each list position its own run).
    function test_RepeatedSubAccount() public {
        Action[] memory a = new Action[](4);
        a[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 500e6);
        a[1] = action(ActionKind.Repay, 0, address(0), 250e6);
        a[2] = action(ActionKind.Repay, 1, address(0), 250e6);
        a[3] = action(ActionKind.SupplyCollateral, 1, address(0), 0.1e18);
        Plan memory plan = _plan(2, a);
        plan.subAccounts[1] = wethId;
        _same(plan);
    }

    /// @dev A Morpho market whose collateral token is the loan token (USDC against USDC at 1:1, health 1.075, due),
    /// listed with wstETH (a third collateral token, health 1.5) and WETH (1.02, due): `_firstOf` leaves the loan token
    /// out of the collateral tokens, so `_holdings`' count and the slots differ from the run count. The USDC market's
    /// own rescue from the pool, its collateral withdrawn to repay, then 240 fuzzed plans over the three.
    function test_CollateralTokenIsTheLoanToken() public {
        SimOracle usdcOracle = new SimOracle(6, 6, 8);
        usdcOracle.setPrice(1e18);
        MarketParams memory usdcMarket = _createMarket(address(usdc), address(usdcOracle));
        openPosition(safe, usdcMarket, 10_000e6, 8_000e6);
        bytes32 usdcId = setPolicy(defaultPolicy(usdcMarket, address(usdcVault)));
        openPosition(safe, wstethMarket, 2e18, 4_000e6);
        wstethOracle.setPrice(3500e18);
        bytes32 wstethId = setPolicy(defaultPolicy(wstethMarket, address(usdcVault)));
        listed = [usdcId, wstethId, wethId];
        broadAmounts = true;
        Action[] memory a = new Action[](2);
        a[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 2_000e6);
        a[1] = action(ActionKind.Repay, 0, address(0), 2_000e6);
        (bool ok,,) = _same(_plan(1, a));
        assertTrue(ok, "the USDC-collateral market's rescue from the pool passes");
        a[0] = action(ActionKind.WithdrawCollateral, 0, address(0), 1_000e6);
        a[1] = action(ActionKind.Repay, 0, address(0), 1_000e6);
        _same(_plan(1, a));
        // The same rescue and the WETH swap rescue in one plan (three runs, two distinct tokens).
        Action[] memory b = new Action[](6);
        b[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 2_000e6);
        b[1] = action(ActionKind.Repay, 0, address(0), 2_000e6);
        _rescueBlock(b, 2, 2);
        (ok,,) = _same(_plan(3, b));
        (uint256 passed, uint256 kinds) = _tally(3, 4);
        assertGt(passed + kinds, 5, "the fuzzed plans reach several outcomes");
    }

    /// @dev MAX_SUB_ACCOUNTS (8) sub-accounts: WETH (due), WBTC, wstETH and five WETH markets of other LLTVs (a
    /// collateral token repeated six times): a plan moving each of them (a pool repayment of WETH and a 1-unit borrow
    /// and repayment on each other one), the same with a ninth entry (MalformedPlan), and the swap rescue with each other
    /// sub-account's collateral supplied from idle WETH / WBTC / wstETH. `_newWords` at its largest (5 x 9 words).
    function test_EightSubAccounts() public {
        openPosition(safe, wstethMarket, 2e18, 4_000e6);
        wstethOracle.setPrice(3500e18);
        bytes32[] memory ids = new bytes32[](9);
        ids[0] = wethId;
        ids[1] = wbtcId;
        ids[2] = setPolicy(defaultPolicy(wstethMarket, address(usdcVault)));
        for (uint256 k; k < 5; ++k) {
            MarketParams memory m = _createMarket(address(weth), address(wethOracle), 0.5e18 + k * 0.05e18, 1_000_000e6);
            openPosition(safe, m, 1e18, 1_000e6);
            ids[3 + k] = setPolicy(defaultPolicy(m, address(usdcVault)));
        }
        ids[8] = ids[0];
        weth.mint(safe, 1e18);
        wbtc.mint(safe, 0.1e8);
        wsteth.mint(safe, 1e18);
        for (uint256 extra; extra < 2; ++extra) {
            Plan memory plan;
            plan.subAccounts = new bytes32[](8 + extra);
            for (uint256 i; i < plan.subAccounts.length; ++i) {
                plan.subAccounts[i] = ids[i];
            }
            plan.actions = new Action[](2 + 2 * 7);
            plan.actions[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 3_000e6);
            plan.actions[1] = action(ActionKind.Repay, 0, address(0), 3_000e6);
            for (uint8 i = 1; i < 8; ++i) {
                plan.actions[2 * i] = action(ActionKind.Borrow, i, address(0), 1);
                plan.actions[2 * i + 1] = action(ActionKind.Repay, i, address(0), 1);
            }
            (bool ok8,,, bytes4 err8) = _sameWithError(plan);
            emit log_named_bytes(ok8 ? "passed" : "refused", abi.encodePacked(err8));
        }
        Plan memory rescue = deleveragePlan(repaid, sold, route(FEE_LOW));
        Plan memory wide;
        wide.subAccounts = new bytes32[](8);
        for (uint256 i; i < 8; ++i) {
            wide.subAccounts[i] = ids[i];
        }
        wide.actions = new Action[](4 + 7);
        for (uint256 i; i < 4; ++i) {
            wide.actions[i] = rescue.actions[i];
        }
        for (uint8 i = 1; i < 8; ++i) {
            uint256 amount = i == 1 ? 0.01e8 : 0.05e18;
            wide.actions[3 + i] = action(ActionKind.SupplyCollateral, i, address(0), amount);
        }
        (bool okWide,,, bytes4 errWide) = _sameWithError(wide);
        emit log_named_bytes(okWide ? "passed" : "refused", abi.encodePacked(errWide));
        listed = [ids[0], ids[3], ids[4]];
        broadAmounts = true;
        (uint256 passed, uint256 kinds) = _tally(3, 5);
        assertGt(passed + kinds, 5, "the fuzzed plans reach several outcomes");
    }

    /* FUZZED PLANS */

    /// @dev Plans of 1-32 actions from a menu (every kind, both sub-accounts, both pools, a route for the swaps, amounts
    /// in each asset's scale, callback blocks closed), or the swap rescue with a few fields changed.
    function testFuzz_SameVerdictAndHoldings(uint256 seed) public {
        _same(_fuzzPlan(seed));
    }

    /// @dev 240 of those plans in one run, tallied by outcome: the differential must reach past the vetting (some plans
    /// pass, several distinct errors of the later checks), else it compares only the unchanged early checks.
    function test_FuzzedPlansReachTheChangedCode() public {
        (uint256 passed, uint256 kinds) = _tally(2, 1);
        assertGt(passed, 0, "some fuzzed plans pass");
        assertGt(kinds, 5, "several distinct refusals");
    }

    /// @dev The same with the WETH twin open (3.5 WETH at health 2.5, not due, minHealth 1.1): plans of up to three
    /// sub-accounts, two of them with WETH collateral (`_firstOf`'s dedupe, `_holdings`' count, the collateral slots).
    function test_FuzzedPlansWithARepeatedCollateralToken() public {
        _openWethTwin(3.5e18, 2.5e18);
        // A donor rescue across the two WETH markets passes on both engines (the twin borrows, the WETH one repays).
        Action[] memory a = new Action[](2);
        a[0] = action(ActionKind.Borrow, 2, address(0), 2_000e6);
        a[1] = action(ActionKind.Repay, 0, address(0), 2_000e6);
        Plan memory donor = _plan(3, a);
        donor.subAccounts[1] = wethTwinId;
        donor.subAccounts = _firstTwo(donor.subAccounts);
        a[0].subAccount = 1;
        _same(donor);
        (uint256 passed, uint256 kinds) = _tally(3, 2);
        assertGt(passed, 0, "some fuzzed plans pass");
        assertGt(kinds, 5, "several distinct refusals");
    }

    /// @dev Above the band (WETH at health 1.8, boosts allowed, both pools): the one-pass swap boost, the flash loop
    /// through the SupplyCollateral callback (a swap inside the callback), each of which passes on both engines, the
    /// flash loop after another sub-account's moves, borrows parked in the USDC pool (whole, half, half less one unit), then 240 fuzzed plans (the boost-only flows: `fundable`, `Run.boost`).
    function test_AboveTheBandBoostsAndFuzzedPlans() public {
        (Plan memory onePass, uint256 borrowed, uint256 bought) = boostFromHealth18();
        address[] memory pools = new address[](2);
        pools[0] = address(usdcVault);
        pools[1] = address(wethVault);
        Policy memory p = swapPolicy(wethMarket, true);
        p.pools = pools;
        wethId = setPolicy(p);
        onePass.subAccounts[0] = wethId;
        (bool ok,,) = _same(onePass);
        assertTrue(ok, "the one-pass swap boost passes");
        Action[] memory a = new Action[](4);
        a[0] = action(ActionKind.SupplyCollateralWithCallback, 0, address(0), bought);
        a[1] = action(ActionKind.Borrow, 0, address(0), borrowed);
        a[2] = action(ActionKind.BuyCollateral, 0, route(FEE_LOW), borrowed);
        a[3] = action(ActionKind.EndCallback, 0, address(0), 0);
        (ok,,) = _same(_plan(1, a));
        assertTrue(ok, "the flash-looped boost passes");
        // The flash loop last, after the WBTC sub-account's pool repayment (not due: SubAccountUnchanged or the like).
        Action[] memory b = new Action[](6);
        b[0] = action(ActionKind.WithdrawFromPool, 1, address(usdcVault), 100e6);
        b[1] = action(ActionKind.Repay, 1, address(0), 100e6);
        for (uint256 i; i < 4; ++i) {
            b[2 + i] = a[i];
        }
        _same(_plan(2, b));
        Action[] memory c = new Action[](2);
        c[0] = action(ActionKind.Borrow, 0, address(0), borrowed);
        c[1] = action(ActionKind.DepositToPool, 0, address(usdcVault), borrowed);
        _same(_plan(1, c)); // the whole borrow parked: below the landing zone (HealthOutOfBand-like), alike
        c[0].amount = borrowed / 2;
        c[1].amount = borrowed / 2;
        _same(_plan(1, c));
        c[1].amount = borrowed / 2 - 1; // one unit left idle
        _same(_plan(1, c));
        (uint256 passed, uint256 kinds) = _tally(2, 3);
        assertGt(passed + kinds, 5, "the fuzzed plans reach several outcomes");
    }

    function _firstTwo(bytes32[] memory ids) internal pure returns (bytes32[] memory two) {
        two = new bytes32[](2);
        two[0] = ids[0];
        two[1] = ids[1];
    }

    function _tally(uint256 nMax, uint256 salt) internal returns (uint256 passed, uint256 kinds) {
        bytes4[] memory seen = new bytes4[](64);
        for (uint256 seed; seed < 240; ++seed) {
            (bool ok,,, bytes4 err) =
                _sameWithError(_fuzzPlan(uint256(keccak256(abi.encode("rv48", salt, seed))), nMax));
            if (ok) {
                ++passed;
                continue;
            }
            bool known;
            for (uint256 i; i < kinds; ++i) {
                known = known || seen[i] == err;
            }
            if (!known && kinds < seen.length) seen[kinds++] = err;
        }
        emit log_named_uint("plans passed on both engines", passed);
        emit log_named_uint("distinct errors (same on both)", kinds);
        for (uint256 i; i < kinds; ++i) {
            emit log_bytes(abi.encodePacked(seen[i]));
        }
    }

    function _fuzzPlan(uint256 seed) internal view returns (Plan memory plan) {
        return _fuzzPlan(seed, 2);
    }

    /// @dev `nMax` 3: the WETH twin (`_openWethTwin`) may be listed third.
    function _fuzzPlan(uint256 seed, uint256 nMax) internal view returns (Plan memory plan) {
        uint256 r = seed;
        uint256 n = 1 + r % nMax;
        r /= nMax;
        if (r % 3 == 0) {
            // The swap rescue, mutated.
            plan = deleveragePlan(repaid, sold, route(FEE_LOW));
            r /= 3;
            uint256 changes = 1 + r % 3;
            r /= 3;
            for (uint256 c; c < changes; ++c) {
                uint256 at = r % 4;
                r /= 4;
                if (r % 2 == 0) plan.actions[at].amount = _scaled(plan.actions[at].amount, r >> 1);
                else if (at != 3) plan.actions[at].kind = ActionKind((r >> 1) % 8);
                r /= 64;
            }
            return plan;
        }
        r /= 3;
        uint256 m = 1 + r % 12;
        r /= 12;
        if (r % 8 == 0) m = ConstantsLib.MAX_ACTIONS - (r >> 3) % 2;
        r /= 8;
        Action[] memory a = new Action[](m);
        uint256 k;
        while (k < m) {
            uint256 word = uint256(keccak256(abi.encode(seed, k)));
            uint8 sub = uint8(word % n);
            uint256 kind = (word >> 8) % 10;
            if ((kind == 8 || kind == 9) && k + 2 < m) {
                uint256 inner = 1 + (word >> 16) % 3;
                if (k + 1 + inner >= m) inner = m - k - 2;
                a[k] = _menu(kind, sub, word >> 24);
                for (uint256 i = 1; i <= inner; ++i) {
                    uint256 w2 = uint256(keccak256(abi.encode(seed, k, i)));
                    a[k + i] = _menu(w2 % 8, uint8((w2 >> 8) % n), w2 >> 16);
                }
                a[k + inner + 1] = action(ActionKind.EndCallback, sub, address(0), 0);
                k += inner + 2;
            } else {
                a[k] = _menu(kind % 8, sub, word >> 24);
                ++k;
            }
        }
        plan = _plan(n, a);
    }

    function _menu(uint256 kind, uint8 sub, uint256 r) internal view returns (Action memory) {
        ActionKind k = ActionKind(kind);
        address pool;
        uint256 amount;
        if (kind < 2) {
            bool wethPool = r % 3 == 0;
            pool = wethPool ? address(wethVault) : address(usdcVault);
            amount = wethPool
                ? [uint256(1), 0.1e18, 1e18, 2.5e18][(r >> 2) % 4]
                : [uint256(1), 100e6, 1_000e6, 20_000e6][(r >> 2) % 4];
        } else if (k == ActionKind.SellCollateral || k == ActionKind.BuyCollateral) {
            pool = route(FEE_LOW);
            amount = k == ActionKind.SellCollateral
                ? _collateral(sub, r >> 2)
                : [uint256(1), 100e6, 1_000e6, repaid][(r >> 2) % 4];
        } else if (k == ActionKind.SupplyCollateral || k == ActionKind.WithdrawCollateral || kind == 9) {
            amount = _collateral(sub, r >> 2);
        } else {
            amount = [uint256(0), 1, 100e6, 1_000e6, repaid, type(uint128).max][(r >> 2) % 6];
        }
        return action(k, sub, pool, amount);
    }

    function _collateral(uint8 sub, uint256 r) internal view returns (uint256) {
        if (broadAmounts) return [uint256(1), 0.001e8, 0.1e8, 100e6, 5_000e6, 0.1e18, 1e18][r % 7];
        if (sub == 1 && r % 7 != 0) return [uint256(1), 0.001e8, 0.1e8][r % 3];
        return [uint256(1), 0.1e18, sold, 1e18][r % 4];
    }

    function _scaled(uint256 amount, uint256 r) internal pure returns (uint256) {
        uint256[6] memory bps = [uint256(0), 5_000, 9_990, 10_010, 20_000, 100_000];
        return amount * bps[r % 6] / 10_000;
    }
}
