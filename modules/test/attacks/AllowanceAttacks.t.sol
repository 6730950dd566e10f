// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Id, MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {AttackBase} from "./AttackBase.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {HealthLib} from "../../src/libraries/HealthLib.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";
import {YieldVault} from "../utils/YieldVault.sol";
import {TestToken} from "../utils/TestToken.sol";

/// @notice Issue 10 items 3 and 4, seventh review: padding a lossy rescue with health-neutral moves.
/// - The per-operation loss allowance (maxLossBps x moved) counts only due sub-accounts' moves, each up to what an
///   honest plan needs for the health change it made (`HealthLib.maxMoveToHealth`, at the plan's smallest
///   maxLossBps). A health-neutral shrink or a real repayment of a not-due sub-account far from its target (inside its
///   distance bound), or a shrink of the due one itself, used to raise the allowance until a 12% skim of a 3,300 USDC
///   rescue was accepted.
/// - A not-due sub-account is charged its amount caps only for how much nearer its target it got: ten rescues padded
///   with its health-neutral shrink or growth used to fill its 1M epoch amount cap and refuse its own later rescue
///   (EpochAmountCapExceeded).
/// Every attack goes through EntryPoint.handleOps, asserts the exact error and that nothing left the Safe.
contract AllowanceAttacksTest is AttackBase {
    using MarketParamsLib for MarketParams;

    YieldVault internal wbtcPool;
    YieldVault internal wstethPool;
    bytes32 internal wstethId;

    /// @dev A pool of `token` the Safe can park withdrawn collateral in, seeded by the lender.
    function _collateralPool(TestToken token) internal returns (YieldVault pool) {
        pool = new YieldVault(IERC20(address(token)), "park", "park");
        _seedVault(pool, token, 10 ** token.decimals());
    }

    /// @dev Sets the oracle of `params` so that the Safe's health there is `health`; returns the price set (whole USDC
    /// per collateral unit, WAD: the test oracle's `setPrice` scale).
    function _setHealth(MarketParams memory params, uint256 health) internal returns (uint256 priceWad) {
        (uint256 collateral, uint256 debt) = adapter.position(Id.unwrap(params.id()), safe);
        uint256 decimals = TestToken(params.collateralToken).decimals();
        // value = collateral x priceWad / 1e18 x 1e6 / 10^decimals (USDC base units); health = value x 0.86 / debt.
        priceWad = Math.mulDiv(health, debt * 10 ** decimals * 1e12, collateral * 0.86e18);
        if (params.collateralToken == address(wbtc)) wbtcOracle.setPrice(priceWad);
        else wstethOracle.setPrice(priceWad);
    }

    /// @dev The not-due distance bound of `params` at the current price (target 1.4, lltv 0.86).
    function _distance(MarketParams memory params) internal view returns (uint256) {
        return HealthLib.distanceToTarget(adapter.marketState(Id.unwrap(params.id()), safe), 1.4e18);
    }

    /// @dev A health-neutral shrink of sub-account `index` (market `params`) by about `moved` of net position change:
    /// repay from idle USDC inside Morpho's repay callback, withdraw collateral at the position's ratio, park it in
    /// `pool`.
    function _shrink(MarketParams memory params, uint8 index, address pool, uint256 moved)
        internal
        view
        returns (Action[] memory actions)
    {
        MarketState memory s = adapter.marketState(Id.unwrap(params.id()), safe);
        uint256 value = Math.mulDiv(s.collateral, s.price, 1e36);
        uint256 repaid = Math.mulDiv(moved, s.debt, s.debt + value);
        uint256 withdrawn = Math.mulDiv(s.collateral, repaid, s.debt);
        withdrawn -= withdrawn / 1e8 + 100; // a hair less, so health does not fall
        actions = new Action[](4);
        actions[0] = action(ActionKind.RepayWithCallback, index, address(0), repaid);
        actions[1] = action(ActionKind.WithdrawCollateral, index, address(0), withdrawn);
        actions[2] = action(ActionKind.DepositToPool, index, pool, withdrawn);
        actions[3] = action(ActionKind.EndCallback, index, address(0), 0);
    }

    function _concat(Action[] memory a, Action[] memory b) internal pure returns (Action[] memory c) {
        c = new Action[](a.length + b.length);
        for (uint256 i; i < a.length; ++i) c[i] = a[i];
        for (uint256 i; i < b.length; ++i) c[a.length + i] = b[i];
    }

    function _single(bytes32 id, Action[] memory actions) internal pure returns (Plan memory plan) {
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = id;
        plan.actions = actions;
    }

    function _poolsPolicy(MarketParams memory params, address pool) internal view returns (Policy memory policy) {
        policy = defaultPolicy(params, pool);
        policy.pools = new address[](2);
        policy.pools[0] = pool;
        policy.pools[1] = address(usdcVault);
    }

    /// @dev The WETH rescue of the issue: 3,300 USDC from `skim`, repaid.
    function _skimmedRescue(RiggedVault skim) internal pure returns (Action[] memory rescue) {
        rescue = new Action[](2);
        rescue[0] = action(ActionKind.WithdrawFromPool, 0, address(skim), 3300e6);
        rescue[1] = action(ActionKind.Repay, 0, address(0), 3300e6);
    }

    /// @dev Sends `plan` through handleOps and asserts it failed with ValueLossExceeded whose allowance base (`moved`)
    /// is at most `maxMoved`, and that nothing but gas left the Safe.
    function _expectLossRefused(Plan memory plan, uint256 maxMoved) internal {
        Holdings memory before = holdings(safe);
        uint256 parkedWbtc = address(wbtcPool) == address(0) ? 0 : wbtcPool.balanceOf(safe);
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok, "padded skim refused");
        assertEq(bytes4(reason), ILeverageModule.ValueLossExceeded.selector, "ValueLossExceeded");
        (uint256 loss, uint256 moved, uint256 maxLossBps) = abi.decode(_slice(reason, 4, reason.length - 4), (uint256, uint256, uint256));
        assertEq(maxLossBps, 50, "the policy's maxLossBps");
        assertLe(moved, maxMoved, "padding adds (almost) nothing to the allowance");
        assertGt(loss * 10_000, moved * maxLossBps, "the loss is over the allowance");
        assertNothingLeftBut(before, maxCost(op));
        if (address(wbtcPool) != address(0)) assertEq(wbtcPool.balanceOf(safe), parkedWbtc, "parked WBTC unchanged");
    }

    /// @dev The owner revokes the padding keeper and adds an honest one; WBTC falls to `health` and the honest keeper
    /// repays it to 1.3 in epoch `epoch` (the rescue within the quickstart per-rebalance cap).
    function _honestKeeperRescuesWbtc(uint256 health, uint256 epoch) internal {
        (address honest, uint256 honestKey) = makeAddrAndKey("honest keeper");
        safeCall(abi.encodeCall(ILeverageModule.revokeAllKeepers, ()));
        safeCall(abi.encodeCall(ILeverageModule.addKeeper, (honest, 0, uint48(block.timestamp + 1 days))));
        vm.warp(block.timestamp + 10 minutes);
        _setHealth(wbtcMarket, health);
        wethOracle.setPrice(wethOracle.price());
        MarketState memory s = adapter.marketState(Id.unwrap(wbtcMarket.id()), safe);
        uint256 need = s.debt - Math.mulDiv(Math.mulDiv(s.collateral, s.price, 1e36), 0.86e18, 1.3e18);
        assertLe(need, 100_000e6, "the rescue fits the per-rebalance cap");
        Action[] memory repay = new Action[](1);
        repay[0] = action(ActionKind.Repay, 0, address(0), need);
        handleOk(keeperOp(safe, honest, _single(wbtcId, repay), honestKey));
        assertGe(healthOf(safe, wbtcMarket), 1.29e18, "WBTC rescued in the same epoch");
        assertEq(block.timestamp / 1 days, epoch, "still the same epoch");
    }

    /* ITEM 4: no allowance from not-due padding */

    function test_Attack_NotDueShrinkFarFromTargetBuysNoAllowance() public {
        openPosition(safe, wbtcMarket, 21e8, 620_000e6); // 22 WBTC, 650k debt
        wbtcPool = _collateralPool(wbtc);
        wbtcId = setPolicy(_poolsPolicy(wbtcMarket, address(wbtcPool)));
        _setHealth(wbtcMarket, 1.21e18); // in band, far below its target 1.4
        RiggedVault skim = _feePool(1200);
        _allowPools(skim);
        Action[] memory pad = _shrink(wbtcMarket, 1, address(wbtcPool), _distance(wbtcMarket) - 10e6);
        _expectLossRefused(plan2(wethId, wbtcId, _concat(_skimmedRescue(skim), pad)), 3300e6 + 1e6);
    }

    function test_Attack_NotDueShrinksOnTwoSubAccountsBuyNoAllowance() public {
        openPosition(safe, wbtcMarket, 10e8, 290_000e6);
        openPosition(safe, wstethMarket, 150e18, 320_000e6);
        wbtcPool = _collateralPool(wbtc);
        wstethPool = _collateralPool(wsteth);
        wbtcId = setPolicy(_poolsPolicy(wbtcMarket, address(wbtcPool)));
        wstethId = setPolicy(_poolsPolicy(wstethMarket, address(wstethPool)));
        _setHealth(wbtcMarket, 1.21e18);
        _setHealth(wstethMarket, 1.21e18);
        RiggedVault skim = _feePool(1200);
        _allowPools(skim);
        Plan memory plan;
        plan.subAccounts = new bytes32[](3);
        plan.subAccounts[0] = wethId;
        plan.subAccounts[1] = wbtcId;
        plan.subAccounts[2] = wstethId;
        Action[] memory pads = _concat(
            _shrink(wbtcMarket, 1, address(wbtcPool), _distance(wbtcMarket) - 10e6),
            _shrink(wstethMarket, 2, address(wstethPool), _distance(wstethMarket) - 10e6)
        );
        plan.actions = _concat(_skimmedRescue(skim), pads);
        uint256 wstethParked = wstethPool.balanceOf(safe);
        _expectLossRefused(plan, 3300e6 + 1e6);
        assertEq(wstethPool.balanceOf(safe), wstethParked, "parked wstETH unchanged");
    }

    /// @dev The due sub-account padded with a health-neutral shrink of itself: its move counts only up to what an honest
    /// plan needs for its health change, 1.1467 -> ~1.404 (about 8.6k here, a swap deleverage losing 50 bps), so a 1.8%
    /// skim of its 3,300 rescue (59 USDC, within the 73 the 14.7k shrink would buy uncapped) is refused.
    function test_Attack_DueShrinkBuysNoAllowanceBeyondItsHealthChange() public {
        RiggedVault skim = _feePool(180);
        Policy memory policy = _poolsPolicy(wethMarket, address(skim));
        policy.pools = new address[](3);
        policy.pools[0] = address(skim);
        policy.pools[1] = address(usdcVault);
        policy.pools[2] = address(wethVault);
        setPolicy(policy);
        // After the rescue WETH holds 24,000 of collateral value against 14,700 of debt; shrink at that ratio.
        MarketState memory s = adapter.marketState(Id.unwrap(wethMarket.id()), safe);
        uint256 repaid = 9000e6;
        uint256 withdrawn = Math.mulDiv(s.collateral, repaid, s.debt - 3300e6) * 999_999 / 1_000_000;
        Action[] memory pad = new Action[](4);
        pad[0] = action(ActionKind.RepayWithCallback, 0, address(0), repaid);
        pad[1] = action(ActionKind.WithdrawCollateral, 0, address(0), withdrawn);
        pad[2] = action(ActionKind.DepositToPool, 0, address(wethVault), withdrawn);
        pad[3] = action(ActionKind.EndCallback, 0, address(0), 0);
        // Even a plan landing at the far edge of the landing zone (1.55) would count no more than this.
        uint256 cap = HealthLib.maxMoveToHealth(s, 1.55e18, false, 0); // the fixture's policy has no swaps
        assertLt(cap * 50, 59e6 * 10_000, "the cap's allowance is below the skim");
        _expectLossRefused(_single(wethId, _concat(_skimmedRescue(skim), pad)), cap);
    }

    /// @dev The honest counterpart: a repayment to 1.5 is below the cap for that health change, so it keeps its whole
    /// allowance.
    function test_HonestRescueToTheFarEdgeKeepsItsWholeAllowance() public {
        MarketState memory s = adapter.marketState(Id.unwrap(wethMarket.id()), safe);
        uint256 cap = HealthLib.maxMoveToHealth(s, 1.5e18, false, 0);
        // Repay to 1.5 (inside the landing zone): the repayment is below the cap.
        uint256 r = _repayToReach(1.5e18);
        assertLt(r, cap, "an honest repayment fits under the cap");
        handleOk(keeperOp(safe, keeper, repayPlan(r), keeperKey));
        assertApproxEqRel(healthOf(safe, wethMarket), 1.5e18, 0.001e18);
    }

    /* ITEM 3: shrink padding does not spend a not-due sub-account's amount caps */

    function test_Attack_TenShrinkPaddedRescuesLeaveTheNotDueRescuePossible() public {
        openPosition(safe, wbtcMarket, 30e8, 970_000e6); // 31 WBTC, 1M debt
        wbtcPool = _collateralPool(wbtc);
        Policy memory wbtcPolicy = _poolsPolicy(wbtcMarket, address(wbtcPool));
        wbtcPolicy.maxAmountPerRebalance = 100_000e6; // the SDK quickstart caps
        wbtcPolicy.maxAmountPerEpoch = 1_000_000e6;
        wbtcId = setPolicy(wbtcPolicy);
        Policy memory wethPolicy = defaultPolicy(wethMarket, address(usdcVault));
        wethPolicy.maxAmountPerRebalance = 100_000e6;
        wethPolicy.maxAmountPerEpoch = 1_000_000e6;
        setPolicy(wethPolicy);
        vm.warp(block.timestamp / 1 days * 1 days + 1 days + 1 hours);
        uint256 epoch = block.timestamp / 1 days;
        uint256 wbtcPrice = _setHealth(wbtcMarket, 1.21e18);
        uint256 shrunk;
        for (uint256 i; i < 10; ++i) {
            vm.warp(block.timestamp + 5 minutes);
            wbtcOracle.setPrice(wbtcPrice); // a fresh round, same price
            _dropWethHealthTo(1.19e18);
            Action[] memory rescue = new Action[](1);
            rescue[0] = action(ActionKind.Repay, 0, address(0), _repayToReach(1.35e18));
            uint256 moved = Math.min(_distance(wbtcMarket), 100_000e6) - 10e6;
            handleOk(keeperOp(safe, keeper, plan2(wethId, wbtcId, _concat(rescue, _shrink(wbtcMarket, 1, address(wbtcPool), moved))), keeperKey));
            shrunk += moved;
        }
        assertEq(block.timestamp / 1 days, epoch, "one epoch");
        EpochUsage memory usage = module.getEpochUsage(safe, wbtcId);
        assertGt(shrunk, 900_000e6, "the pads moved about 1M");
        // Charged only for getting nearer the target: a fraction of what the pads moved.
        assertLt(usage.amountMoved, shrunk / 4, "shrink padding charged only its approach to the target");
        assertGt(usage.amountMoved, 0, "but charged");

        _honestKeeperRescuesWbtc(1.15e18, epoch);
    }

    /// @dev A not-due donor's one-sided move (a borrow that pays the due one's repayment) is charged in full.
    function test_NotDueDonorBorrowIsChargedInFull() public {
        // WBTC at 1.72 (above its target 1.4) lends to the WETH rescue.
        Policy memory policy = defaultPolicy(wbtcMarket, address(usdcVault));
        policy.boostAllowed = true;
        setPolicy(policy);
        uint256 r = _repayToReach(1.4e18);
        Action[] memory a = new Action[](2);
        a[0] = action(ActionKind.Borrow, 1, address(0), r);
        a[1] = action(ActionKind.Repay, 0, address(0), r);
        EpochUsage memory before = module.getEpochUsage(safe, wbtcId);
        handleOk(keeperOp(safe, keeper, plan2(wethId, wbtcId, a), keeperKey));
        EpochUsage memory after_ = module.getEpochUsage(safe, wbtcId);
        assertApproxEqAbs(after_.amountMoved - before.amountMoved, r, 2, "the donor's borrow is charged whole");
    }
    /* EIGHTH REVIEW: a real move on a not-due sub-account, a loose maxLossBps, growth padding */

    /// @dev A real one-sided repayment of a not-due in-band WBTC (1.21 -> 1.39, toward its target, inside its distance
    /// bound) used to buy the issue's 12% skim: not-due moves add nothing to the allowance.
    function test_Attack_NotDueRealRepaymentBuysNoAllowance() public {
        openPosition(safe, wbtcMarket, 21e8, 620_000e6); // 22 WBTC, 650k debt
        wbtcId = setPolicy(defaultPolicy(wbtcMarket, address(usdcVault)));
        _setHealth(wbtcMarket, 1.21e18);
        RiggedVault skim = _feePool(1200);
        _allowPools(skim);
        MarketState memory s = adapter.marketState(Id.unwrap(wbtcMarket.id()), safe);
        uint256 repaid = s.debt - Math.mulDiv(Math.mulDiv(s.collateral, s.price, 1e36), 0.86e18, 1.39e18);
        Action[] memory pad = new Action[](1);
        pad[0] = action(ActionKind.Repay, 1, address(0), repaid);
        _expectLossRefused(plan2(wethId, wbtcId, _concat(_skimmedRescue(skim), pad)), 3300e6 + 1e6);
    }

    /// @dev The padding sub-account's own loose maxLossBps (30%) used to make its cap unbounded; caps use the plan's
    /// smallest maxLossBps, and not-due moves count nothing anyway: a 6% skim padded with its health-neutral shrink is
    /// refused.
    function test_Attack_LooseLossBpsOnAPaddingSubAccountBuysNoAllowance() public {
        openPosition(safe, wbtcMarket, 21e8, 620_000e6);
        wbtcPool = _collateralPool(wbtc);
        Policy memory policy = _poolsPolicy(wbtcMarket, address(wbtcPool));
        policy.maxLossBps = 3000;
        wbtcId = setPolicy(policy);
        _setHealth(wbtcMarket, 1.21e18);
        RiggedVault skim = _feePool(600);
        _allowPools(skim);
        Action[] memory pad = _shrink(wbtcMarket, 1, address(wbtcPool), _distance(wbtcMarket) - 10e6);
        _expectLossRefused(plan2(wethId, wbtcId, _concat(_skimmedRescue(skim), pad)), 3300e6 + 1e6);
    }

    /// @dev Growth padding: a boost-enabled, not-due WBTC (1.21, below its target 1.4) grown at constant health (supply
    /// idle WBTC, borrow, park the USDC) next to a genuine WETH rescue. Charged in full it filled the quickstart 1M epoch
    /// amount cap in ten operations (eighth review); charged its approach to the target it was free and outgrew the
    /// per-rebalance cap its own rescue needs (ninth review). A not-due sub-account may not grow at all: refused by name
    /// with bound 0, nothing left the Safe.
    function test_Attack_NotDueGrowthIsRefused() public {
        openPosition(safe, wbtcMarket, 15e8, 485_000e6); // 16 WBTC, 515k debt
        Policy memory wbtcPolicy = defaultPolicy(wbtcMarket, address(usdcVault));
        wbtcPolicy.boostAllowed = true;
        wbtcId = setPolicy(wbtcPolicy);
        _setHealth(wbtcMarket, 1.21e18);
        wbtc.mint(safe, 20e8); // the owner's idle WBTC
        Action[] memory rescue = new Action[](1);
        rescue[0] = action(ActionKind.Repay, 0, address(0), _repayToReach(1.35e18));
        MarketState memory s = adapter.marketState(Id.unwrap(wbtcMarket.id()), safe);
        uint256 value = Math.mulDiv(s.collateral, s.price, 1e36);
        uint256 borrowed = Math.mulDiv(99_990e6, s.debt, s.debt + value);
        uint256 supplied = Math.mulDiv(s.collateral, borrowed, s.debt) + 100;
        Action[] memory pad = new Action[](3);
        pad[0] = action(ActionKind.SupplyCollateral, 1, address(0), supplied);
        pad[1] = action(ActionKind.Borrow, 1, address(0), borrowed);
        pad[2] = action(ActionKind.DepositToPool, 1, address(usdcVault), borrowed);
        Holdings memory before = holdings(safe);
        PackedUserOperation memory op = keeperOp(safe, keeper, plan2(wethId, wbtcId, _concat(rescue, pad)), keeperKey);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok, "growth of a not-due sub-account refused");
        assertEq(bytes4(reason), ILeverageModule.NotDueMoveExceedsDistance.selector, "NotDueMoveExceedsDistance");
        (bytes32 id,, uint256 bound) = abi.decode(_slice(reason, 4, reason.length - 4), (bytes32, uint256, uint256));
        assertEq(id, wbtcId, "names WBTC");
        assertEq(bound, 0, "bound 0: no growth");
        assertNothingLeftBut(before, maxCost(op));
    }
}
