// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Vm} from "forge-std/Test.sol";
import {Fixture} from "../utils/Fixture.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {IEntryPoint} from "@account-abstraction/contracts/interfaces/IEntryPoint.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {IMorpho, MarketParams, Id, Position} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {SimOracle} from "../utils/SimOracle.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";
import {YieldVault} from "../utils/YieldVault.sol";
import {TestToken} from "../utils/TestToken.sol";

/// @notice Shared state for the attack suites: a Safe with two Morpho Blue positions (WETH 1.1467 after a drop, so it
/// triggers; WBTC 1.72), 10,000 USDC in an allowlisted ERC-4626 pool, and a registered keeper; plus a ledger of
/// everything of value the Safe holds, so each attack can assert that nothing left.
abstract contract AttackBase is Fixture {
    using MarketParamsLib for MarketParams;

    struct Holdings {
        uint256 usdc;
        uint256 weth;
        uint256 wbtc;
        uint256 usdcShares;
        uint256 wethShares;
        uint256 wethCollateral;
        uint256 wethBorrowShares;
        uint256 wbtcCollateral;
        uint256 wbtcBorrowShares;
        uint256 eth;
        uint256 deposit;
    }

    bytes32 internal wethId;
    bytes32 internal wbtcId;
    address internal attacker = makeAddr("attacker");

    function setUp() public virtual override {
        super.setUp();
        openPosition(safe, wethMarket, 10e18, 18_000e6); // 1.433
        openPosition(safe, wbtcMarket, 1e8, 30_000e6); // 1.72
        depositToVault(safe, usdcVault, 10_000e6);
        wethId = setPolicyFor(safe, defaultPolicy(wethMarket, address(usdcVault)));
        wbtcId = setPolicyFor(safe, defaultPolicy(wbtcMarket, address(usdcVault)));
        wethOracle.setPrice(2400e18); // weth health 1.1467 < 1.2: a rebalance is due
    }

    /* VALUE LEDGER */

    function holdings(address account) internal view returns (Holdings memory h) {
        h.usdc = usdc.balanceOf(account);
        h.weth = weth.balanceOf(account);
        h.wbtc = wbtc.balanceOf(account);
        h.usdcShares = usdcVault.balanceOf(account);
        h.wethShares = wethVault.balanceOf(account);
        Position memory p = morpho.position(wethMarket.id(), account);
        h.wethCollateral = p.collateral;
        h.wethBorrowShares = p.borrowShares;
        p = morpho.position(wbtcMarket.id(), account);
        h.wbtcCollateral = p.collateral;
        h.wbtcBorrowShares = p.borrowShares;
        h.eth = account.balance;
        h.deposit = entryPoint.balanceOf(account);
    }

    /// @dev Tokens, pool shares, Morpho positions, ETH and EntryPoint deposit all unchanged.
    function assertNothingLeft(Holdings memory before) internal view {
        assertNothingLeftBut(before, 0);
    }

    /// @dev Tokens, pool shares and Morpho positions unchanged; ETH + EntryPoint deposit down by at most `gasBudget`.
    function assertNothingLeftBut(Holdings memory before, uint256 gasBudget) internal view {
        Holdings memory h = holdings(safe);
        assertEq(h.usdc, before.usdc, "USDC left the Safe");
        assertEq(h.weth, before.weth, "WETH left the Safe");
        assertEq(h.wbtc, before.wbtc, "WBTC left the Safe");
        assertEq(h.usdcShares, before.usdcShares, "USDC pool shares moved");
        assertEq(h.wethShares, before.wethShares, "WETH pool shares moved");
        assertEq(h.wethCollateral, before.wethCollateral, "WETH collateral moved");
        assertEq(h.wethBorrowShares, before.wethBorrowShares, "WETH debt changed");
        assertEq(h.wbtcCollateral, before.wbtcCollateral, "WBTC collateral moved");
        assertEq(h.wbtcBorrowShares, before.wbtcBorrowShares, "WBTC debt changed");
        uint256 ethBefore = before.eth + before.deposit;
        uint256 ethAfter = h.eth + h.deposit;
        assertLe(ethAfter, ethBefore, "the Safe cannot gain ETH from an attack either");
        assertLe(ethBefore - ethAfter, gasBudget, "ETH + EntryPoint deposit spent beyond the gas allowed");
        assertEq(usdc.allowance(safe, address(morpho)), 0, "standing USDC approval to Morpho");
        assertEq(usdc.allowance(safe, address(usdcVault)), 0, "standing USDC approval to the pool");
        assertEq(weth.allowance(safe, address(morpho)), 0, "standing WETH approval to Morpho");
    }

    /// @dev The most an operation can charge its payer: every gas limit at the max fee.
    function maxCost(PackedUserOperation memory op) internal pure returns (uint256) {
        uint256 limits = uint256(op.accountGasLimits);
        uint256 gas = (limits >> 128) + uint128(limits) + op.preVerificationGas;
        if (op.paymasterAndData.length >= 52) {
            gas += uint128(bytes16(_slice(op.paymasterAndData, 20, 16))) + uint128(bytes16(_slice(op.paymasterAndData, 36, 16)));
        }
        return gas * uint128(uint256(op.gasFees));
    }

    /// @dev Everything the Safe owns, valued in USDC at the current oracle prices (independent of the module's math).
    function safeValue(IERC4626 extraPool) internal view returns (int256 value) {
        value = int256(usdc.balanceOf(safe));
        value += int256(usdcVault.convertToAssets(usdcVault.balanceOf(safe)));
        value += int256(extraPool.convertToAssets(extraPool.balanceOf(safe)));
        value += int256(weth.balanceOf(safe) * wethOracle.price() / 1e36);
        value += int256(wbtc.balanceOf(safe) * wbtcOracle.price() / 1e36);
        bytes32[2] memory markets = [Id.unwrap(wethMarket.id()), Id.unwrap(wbtcMarket.id())];
        for (uint256 i; i < 2; ++i) {
            (uint256 collateral, uint256 debt) = adapter.position(markets[i], safe);
            uint256 price = i == 0 ? wethOracle.price() : wbtcOracle.price();
            value += int256(collateral * price / 1e36) - int256(debt);
        }
    }

    /// @dev Sets the WETH price so that the WETH sub-account's health is `target`.
    function _dropWethHealthTo(uint256 target) internal {
        (uint256 collateral, uint256 debt) = adapter.position(Id.unwrap(wethMarket.id()), safe);
        // health = collateral * price / 1e30 * 0.86 / debt, price as whole USDC per WETH scaled 1e18
        wethOracle.setPrice(Math.mulDiv(target, debt * 1e30, collateral * 0.86e18));
    }

    /// @dev WETH at 100 WETH / 180k debt (90 more WETH, 162k more debt), `usdcReserve` of USDC in the USDC pool, a policy
    /// with both pools (USDC, WETH) and the given amount caps (the due-charge attacks' setup).
    function _wethWithCaps(uint256 usdcReserve, uint256 perRebalance, uint256 perEpoch) internal {
        openPosition(safe, wethMarket, 90e18, 162_000e6);
        depositToVault(safe, usdcVault, usdcReserve);
        Policy memory p = defaultPolicy(wethMarket, address(usdcVault));
        p.pools = new address[](2);
        p.pools[0] = address(usdcVault);
        p.pools[1] = address(wethVault);
        p.maxAmountPerRebalance = uint128(perRebalance);
        if (perEpoch != 0) p.maxAmountPerEpoch = uint128(perEpoch);
        setPolicy(p);
    }

    /// @dev A lossless, health-neutral-padded rescue of WETH from `s`: a flash repayment R from the USDC pool and
    /// collateral w withdrawn into the WETH pool, net move R + w = `moved`, landing a hair above `h`:
    /// (V - w) lltv = h (D - R)  =>  R = (h D - (V - moved) lltv) / (lltv + h).
    function _dueShrink(MarketState memory s, uint256 moved, uint256 h) internal view returns (Plan memory plan) {
        uint256 value = Math.mulDiv(s.collateral, s.price, 1e36);
        uint256 repaid = (h * s.debt - (value - moved) * 0.86e18) / (0.86e18 + h);
        uint256 withdrawn = Math.mulDiv(moved - repaid, 1e36, s.price) * 9999 / 10_000;
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = wethId;
        plan.actions = _parkedShrink(address(usdcVault), repaid, withdrawn);
    }

    /// @dev A health-neutral-shaped shrink of WETH (sub-account 0): repay `repaid` inside a callback from `pool`, withdraw
    /// `withdrawn` WETH and park it in the WETH pool.
    function _parkedShrink(address pool, uint256 repaid, uint256 withdrawn) internal view returns (Action[] memory a) {
        a = new Action[](5);
        a[0] = action(ActionKind.WithdrawFromPool, 0, pool, repaid);
        a[1] = action(ActionKind.RepayWithCallback, 0, address(0), repaid);
        a[2] = action(ActionKind.WithdrawCollateral, 0, address(0), withdrawn);
        a[3] = action(ActionKind.DepositToPool, 0, address(wethVault), withdrawn);
        a[4] = action(ActionKind.EndCallback, 0, address(0), 0);
    }

    /// @dev The WETH twin: a second WETH/USDC Morpho market on WETH's own oracle (lltv 0.80, so a distinct market), where
    /// `_openWethTwin` opens a big not-due position. Since rr10 F2 a due sub-account's collateral withdrawal funds no pool
    /// deposit (`DepositNotFunded`), so the padding attacks that parked it in a pool now move it into this twin as
    /// collateral instead: a not-due move toward the twin's target (bounded by its distance, buying no loss allowance,
    /// charged to the twin), which reaches the same later checks on the due sub-account.
    bytes32 internal wethTwinId;
    MarketParams internal wethTwin;
    uint256 internal constant TWIN_LLTV = 0.8e18;

    /// @dev Opens the WETH twin holding `collateral` WETH (1e18 units) at `health` (WAD) at WETH's current price, under the
    /// default policy with minHealth 1.1 (target 1.4, maxHealth 1.7), so later WETH price drops leave it not due.
    function _openWethTwin(uint256 collateral, uint256 health) internal returns (bytes32 id) {
        if (wethTwinId == bytes32(0)) wethTwin = _twinMarket(wethMarket);
        id = _openTwinPosition(wethTwin, collateral, health);
        wethTwinId = id;
    }

    /// @dev Creates `base`'s twin market (same tokens and oracle, lltv TWIN_LLTV) with 10M USDC of the lender's
    /// liquidity. Since rr10b no pool deposit is funded by a not-due or a due-below-band sub-account, so padding that
    /// parked a not-due shrink's collateral supplies it to such a twin instead (`_shrinkIntoTwinOf`).
    function _twinMarket(MarketParams memory base) internal returns (MarketParams memory twin) {
        twin = _createMarket(base.collateralToken, base.oracle, TWIN_LLTV, 10_000_000e6);
    }

    /// @dev Opens `twin` holding `collateral` (its token's units) at `health` (WAD) at its oracle's current price, under
    /// the default policy with minHealth 1.1 (target 1.4, maxHealth 1.7); returns its sub-account id.
    function _openTwinPosition(MarketParams memory twin, uint256 collateral, uint256 health) internal returns (bytes32 id) {
        uint256 value = Math.mulDiv(collateral, SimOracle(twin.oracle).price(), 1e36);
        openPosition(safe, twin, collateral, Math.mulDiv(value, TWIN_LLTV, health));
        Policy memory p = defaultPolicy(twin, address(0));
        p.minHealth = 1.1e18;
        id = setPolicy(p);
    }

    /// @dev A twin of `base` opened at `health` holding collateral worth `value` (USDC base units) at its oracle.
    function _openTwinWorth(MarketParams memory base, uint256 value, uint256 health) internal returns (bytes32 id) {
        MarketParams memory twin = _twinMarket(base);
        id = _openTwinPosition(twin, Math.mulDiv(value, 1e36, SimOracle(base.oracle).price()), health);
    }

    /// @dev `parked`, a shrink shaped RepayWithCallback, WithdrawCollateral, DepositToPool (the withdrawn collateral),
    /// EndCallback on one sub-account, with the collateral supplied to sub-account `twinIndex` after the callback instead.
    function _shrinkIntoTwinOf(Action[] memory parked, uint8 twinIndex) internal pure returns (Action[] memory a) {
        a = new Action[](4);
        a[0] = parked[0];
        a[1] = parked[1];
        a[2] = parked[3];
        a[3] = action(ActionKind.SupplyCollateral, twinIndex, address(0), parked[1].amount);
    }

    /// @dev `_parkedShrink`'s padding in a shape rr10 F2 still allows: repay `repaid` inside a callback from `pool`,
    /// withdraw `withdrawn` WETH and supply it to the WETH twin (sub-account 1) after the callback.
    function _shrinkIntoTwin(address pool, uint256 repaid, uint256 withdrawn) internal pure returns (Action[] memory a) {
        a = new Action[](5);
        a[0] = action(ActionKind.WithdrawFromPool, 0, pool, repaid);
        a[1] = action(ActionKind.RepayWithCallback, 0, address(0), repaid);
        a[2] = action(ActionKind.WithdrawCollateral, 0, address(0), withdrawn);
        a[3] = action(ActionKind.EndCallback, 0, address(0), 0);
        a[4] = action(ActionKind.SupplyCollateral, 1, address(0), withdrawn);
    }

    /// @dev `_dueShrink` with the withdrawn collateral supplied to the WETH twin (`_shrinkIntoTwin`); the twin must be open.
    function _dueShrinkIntoTwin(MarketState memory s, uint256 moved, uint256 h) internal view returns (Plan memory plan) {
        uint256 value = Math.mulDiv(s.collateral, s.price, 1e36);
        uint256 repaid = (h * s.debt - (value - moved) * 0.86e18) / (0.86e18 + h);
        uint256 withdrawn = Math.mulDiv(moved - repaid, 1e36, s.price) * 9999 / 10_000;
        plan = plan2(wethId, wethTwinId, _shrinkIntoTwin(address(usdcVault), repaid, withdrawn));
    }

    /// @dev `plan` through handleOps: charged its gas, fails with exactly `err`, nothing else leaves the Safe.
    function _expectRefusedWith(Plan memory plan, bytes memory err) internal {
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        Holdings memory before = holdings(safe);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok, "refused");
        assertEq(reason, err);
        assertNothingLeftBut(before, maxCost(op));
    }

    /// @dev The exact refusal of `_parkedShrink`-shaped padding since rr10 F2: the due sub-account's collateral
    /// withdrawal funds no deposit, so the WETH deposit (`plan.actions[3]`) is over the fundable 0.
    function _parkedShrinkRefusal(Plan memory plan) internal view returns (bytes memory) {
        return abi.encodeWithSelector(ILeverageModule.DepositNotFunded.selector, address(weth), plan.actions[3].amount, 0);
    }

    /// @dev The repayment that takes the WETH sub-account to `target` health at the current price.
    function _repayToReach(uint256 target) internal view returns (uint256) {
        MarketState memory state = adapter.marketState(Id.unwrap(wethMarket.id()), safe);
        uint256 value = Math.mulDiv(state.collateral, state.price, 1e36);
        return state.debt - Math.mulDiv(value, 0.86e18, target);
    }

    /// @dev A rigged ERC-4626 USDC pool with an exit fee of `feeBps` (taken from whoever withdraws), seeded by the
    /// @dev Tops the fixture's WETH market A up by 30 WETH / 54,000 USDC (40 WETH, 72k debt, still health 1.02), then
    /// opens a second WETH/USDC market B whose oracle is at A's price x `bPriceBps` / 10000, holding `collateralB` WETH
    /// (whole WETH, 1e18 units) at health `healthB` (WAD). Returns A's oracle price, B's oracle and B's market.
    function _lowerOracleTwin(uint256 bPriceBps, uint256 collateralB, uint256 healthB)
        internal
        returns (uint256 pA, SimOracle oracle, MarketParams memory market)
    {
        openPosition(safe, wethMarket, 30e18, 54_000e6);
        pA = wethOracle.price();
        uint256 pAWad = pA / 1e6; // whole USDC per WETH, 1e18
        oracle = new SimOracle(6, 18, 8);
        oracle.setPrice(pAWad * bPriceBps / 10_000);
        market = _createMarket(address(weth), address(oracle));
        uint256 valueB = collateralB / 1e18 * pAWad * bPriceBps / 10_000 / 1e12; // USDC base units of B's WETH at pB
        openPosition(safe, market, collateralB, valueB * 0.86e18 / healthB);
    }

    /// lender, holding 20,000 USDC of the Safe.
    function _feePool(uint256 feeBps) internal returns (RiggedVault pool) {
        return _feePool(usdc, 20_000e6, feeBps);
    }

    /// @dev A rigged ERC-4626 pool of `token` with an exit fee of `feeBps`, seeded by the lender with one whole token
    /// unit per 20 of the Safe's, holding `assets` (base units) of the Safe.
    function _feePool(TestToken token, uint256 assets, uint256 feeBps) internal returns (RiggedVault pool) {
        pool = new RiggedVault(token);
        _seedVault(YieldVault(address(pool)), token, assets / 20);
        depositToVault(safe, YieldVault(address(pool)), assets);
        pool.setExitFee(feeBps);
    }

    /// @dev Sends the Safe's whole idle USDC to a bystander ("elsewhere"): no idle loan token left.
    function _sendIdleUsdcAway() internal {
        safeExec(safe, address(usdc), 0, abi.encodeCall(IERC20.transfer, (makeAddr("elsewhere"), usdc.balanceOf(safe))), 0);
    }

    /// @dev The rr10b/rr10c idle-parking fixture: no idle USDC, and `wethReserve` idle WETH (wei) the Safe's only rescue
    /// reserve (any other idle WETH leaves); returns the owner's USDC pool with a 1% exit fee holding 100 USDC of the Safe.
    function _onlyIdleWethReserve(uint256 wethReserve) internal returns (RiggedVault feePool) {
        _sendIdleUsdcAway();
        uint256 idleWeth = weth.balanceOf(safe);
        if (idleWeth > 0) safeExec(safe, address(weth), 0, abi.encodeCall(IERC20.transfer, (makeAddr("elsewhere"), idleWeth)), 0);
        weth.mint(safe, wethReserve);
        feePool = _feePool(usdc, 100e6, 100);
    }

    /// @dev Opens the WETH twin (20 WETH at `health`), sends its borrowed USDC away (the Safe's only reserve stays the
    /// idle WETH) and sets its policy: band 1.1 / default target and top, boost allowed, its one pool `pool`.
    function _openBoostAllowedTwin(uint256 health, address pool) internal {
        _openWethTwin(20e18, health);
        _sendIdleUsdcAway();
        Policy memory twin = defaultPolicy(wethTwin, pool);
        twin.minHealth = 1.1e18;
        twin.boostAllowed = true;
        setPolicy(twin);
    }

    /// @dev The WETH twin's borrow that lands it at 1.40 (its target) after supplying `supplied` WETH first.
    function _twinBoostBorrow(uint256 supplied) internal view returns (uint256) {
        MarketState memory t = adapter.marketState(Id.unwrap(wethTwin.id()), safe);
        return Math.mulDiv(Math.mulDiv(t.collateral + supplied, t.price, 1e36), TWIN_LLTV, 1.4e18) - t.debt;
    }

    /// @dev The WETH sub-account may use `pool` and the fixture's fair USDC pool.
    function _allowPools(IERC4626 pool) internal {
        Policy memory policy = defaultPolicy(wethMarket, address(pool));
        policy.pools = new address[](2);
        policy.pools[0] = address(pool);
        policy.pools[1] = address(usdcVault);
        setPolicy(policy);
    }

    /* PLANS */

    function repayPlan(uint256 amount) internal view returns (Plan memory) {
        return plan1(
            wethId,
            action(ActionKind.WithdrawFromPool, 0, address(usdcVault), amount),
            action(ActionKind.Repay, 0, address(0), amount)
        );
    }

    function plan2(bytes32 a, bytes32 b, Action[] memory actions) internal pure returns (Plan memory plan) {
        plan.subAccounts = new bytes32[](2);
        plan.subAccounts[0] = a;
        plan.subAccounts[1] = b;
        plan.actions = actions;
    }

    function setPolicy(Policy memory policy) internal returns (bytes32) {
        return setPolicyFor(safe, policy);
    }

    /* EXPECTATIONS */

    function expectExec(Plan memory plan, bytes memory err) internal {
        vm.expectRevert(err);
        executeAsEntryPoint(safe, keeper, plan);
    }

    /// @dev handleOps must revert with exactly `err` (FailedOp / FailedOpWithRevert from the EntryPoint).
    function expectHandleRevert(PackedUserOperation memory op, bytes memory err) internal {
        expectHandleRevert(entryPoint, op, err);
    }

    function expectHandleRevert(IEntryPoint ep, PackedUserOperation memory op, bytes memory err) internal {
        PackedUserOperation[] memory ops = new PackedUserOperation[](1);
        ops[0] = op;
        vm.expectRevert(err);
        vm.prank(bundler, bundler);
        ep.handleOps(ops, payable(bundler));
    }

    function failedOp(string memory reason) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IEntryPoint.FailedOp.selector, 0, reason);
    }

    function failedOpWithRevert(bytes memory inner) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IEntryPoint.FailedOpWithRevert.selector, 0, "AA23 reverted", inner);
    }

    /// @dev Sends several operations in one bundle; returns, per operation, its success flag and revert data.
    function handleBundle(PackedUserOperation[] memory ops)
        internal
        returns (bool[] memory success, bytes[] memory reasons)
    {
        success = new bool[](ops.length);
        reasons = new bytes[](ops.length);
        vm.recordLogs();
        vm.prank(bundler, bundler);
        entryPoint.handleOps(ops, payable(bundler));
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bytes32 eventSig = keccak256("UserOperationEvent(bytes32,address,address,uint256,bool,uint256,uint256)");
        bytes32 revertSig = keccak256("UserOperationRevertReason(bytes32,address,uint256,bytes)");
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] != eventSig && logs[i].topics[0] != revertSig) continue;
            uint256 nonce;
            bytes memory reason;
            bool ok;
            if (logs[i].topics[0] == revertSig) (nonce, reason) = abi.decode(logs[i].data, (uint256, bytes));
            else (nonce, ok,,) = abi.decode(logs[i].data, (uint256, bool, uint256, uint256));
            for (uint256 j; j < ops.length; ++j) {
                if (ops[j].nonce != nonce) continue;
                if (logs[i].topics[0] == revertSig) reasons[j] = reason;
                else success[j] = ok;
            }
        }
    }

    function _slice(bytes memory data, uint256 start, uint256 length) internal pure returns (bytes memory out) {
        out = new bytes(length);
        for (uint256 i; i < length; ++i) {
            out[i] = data[start + i];
        }
    }
}
