// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Id, MarketParams, Position} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {AttackBase} from "./AttackBase.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {HealthLib} from "../../src/libraries/HealthLib.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";
import {YieldVault} from "../utils/YieldVault.sol";
import {UniswapFixture} from "../utils/UniswapFixture.sol";
import {UniswapV3SwapAdapter} from "../../src/adapters/UniswapV3SwapAdapter.sol";
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
/// Ninth review: the due one's cap took the deleverage swap denominator for a boost too, and counted a swap path for a
/// policy without swaps; a not-due sub-account's growth, charged nothing, outgrew the per-rebalance cap its own rescue
/// needs. Each input below is refused, and the honest plan for the same health change is accepted.
/// Every attack goes through EntryPoint.handleOps, asserts the exact error and that nothing left the Safe.
contract AllowanceAttacksTest is AttackBase, UniswapFixture {
    using MarketParamsLib for MarketParams;

    YieldVault internal wbtcPool;
    YieldVault internal wstethPool;
    bytes32 internal wstethId;

    /// @dev The module is deployed with a real Uniswap v3 swap adapter, so a policy may allow swaps (maxSlippageBps > 0)
    /// and the allowance cap counts an honest swap path for the value a plan swaps; the padded plans here swap nothing
    /// (the honest swap boost of the ninth review's boost-cap test does).
    function _deploySwapAdapter() internal override returns (address) {
        uniAdapter = deployUniswapSwapAdapter();
        return address(uniAdapter);
    }

    UniswapV3SwapAdapter internal uniAdapter;

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

    /// @dev Sends `plan` through handleOps and asserts it failed with exactly ValueLossExceeded(loss, moved,
    /// `maxLossBps`), the loss over the allowance (maxLossBps x moved), and that nothing but gas left the Safe (its
    /// holdings, its shares of `skim` and of the WBTC park). Returns the error's `loss` and `moved`.
    function _expectLossRefused(Plan memory plan, IERC4626 skim, uint256 maxLossBps)
        internal
        returns (uint256 loss, uint256 moved)
    {
        Holdings memory before = holdings(safe);
        uint256 skimShares = skim.balanceOf(safe);
        uint256 parkedWbtc = address(wbtcPool) == address(0) ? 0 : wbtcPool.balanceOf(safe);
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok, "skim refused");
        assertEq(bytes4(reason), ILeverageModule.ValueLossExceeded.selector, "ValueLossExceeded");
        uint256 bps;
        (loss, moved, bps) = abi.decode(_slice(reason, 4, reason.length - 4), (uint256, uint256, uint256));
        assertEq(bps, maxLossBps, "the plan's maxLossBps");
        assertGt(loss * 10_000, moved * maxLossBps, "the loss is over the allowance");
        assertNothingLeftBut(before, maxCost(op));
        assertEq(skim.balanceOf(safe), skimShares, "no share of the skim pool left the Safe");
        if (address(wbtcPool) != address(0)) assertEq(wbtcPool.balanceOf(safe), parkedWbtc, "parked WBTC unchanged");
    }

    /// @dev `_expectLossRefused` at the fixture's maxLossBps (50), with the allowance base (`moved`) at most `maxMoved`:
    /// the padding added (almost) nothing to it.
    function _expectPaddedSkimRefused(Plan memory plan, IERC4626 skim, uint256 maxMoved) internal {
        (, uint256 moved) = _expectLossRefused(plan, skim, 50);
        assertLe(moved, maxMoved, "padding adds (almost) nothing to the allowance");
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
        _expectPaddedSkimRefused(_intoWbtcTwin(plan2(wethId, wbtcId, _concat(_skimmedRescue(skim), pad))), skim, 3300e6 + 1e6);
    }

    /// @dev Since rr10b a not-due sub-account's withdrawal funds no pool deposit: asserts `plan` (`_shrink` pads of WBTC
    /// parked in its pool after a 2-action rescue) is refused with exactly DepositNotFunded(wbtc, withdrawn, 0), then
    /// returns it with the WBTC supplied to a not-due WBTC twin (3M of collateral at 1.3, far more distance than the
    /// pad) listed last: the same padding as a move toward the twin's target, which buys no allowance either.
    function _intoWbtcTwin(Plan memory plan) internal returns (Plan memory padded) {
        _expectRefusedWith(
            plan, abi.encodeWithSelector(ILeverageModule.DepositNotFunded.selector, address(wbtc), plan.actions[3].amount, 0)
        );
        bytes32 twinId = _openTwinWorth(wbtcMarket, 3_000_000e6, 1.3e18);
        uint8 twinIndex = uint8(plan.subAccounts.length);
        padded.subAccounts = new bytes32[](twinIndex + 1);
        for (uint256 i; i < twinIndex; ++i) padded.subAccounts[i] = plan.subAccounts[i];
        padded.subAccounts[twinIndex] = twinId;
        Action[] memory rescue = new Action[](2);
        (rescue[0], rescue[1]) = (plan.actions[0], plan.actions[1]);
        Action[] memory pad = new Action[](4);
        for (uint256 i; i < 4; ++i) pad[i] = plan.actions[2 + i];
        padded.actions = _concat(rescue, _shrinkIntoTwinOf(pad, twinIndex));
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
        // Since rr10b the parked pads stop at the first asset's deposit (WBTC's, funded by nothing).
        _expectRefusedWith(
            plan, abi.encodeWithSelector(ILeverageModule.DepositNotFunded.selector, address(wbtc), plan.actions[4].amount, 0)
        );
        // Each pad's collateral supplied to a not-due twin of its market (3M at 1.3) instead.
        Plan memory padded;
        padded.subAccounts = new bytes32[](5);
        for (uint256 i; i < 3; ++i) padded.subAccounts[i] = plan.subAccounts[i];
        padded.subAccounts[3] = _openTwinWorth(wbtcMarket, 3_000_000e6, 1.3e18);
        padded.subAccounts[4] = _openTwinWorth(wstethMarket, 3_000_000e6, 1.3e18);
        Action[] memory wbtcPad = new Action[](4);
        Action[] memory wstethPad = new Action[](4);
        for (uint256 i; i < 4; ++i) (wbtcPad[i], wstethPad[i]) = (plan.actions[2 + i], plan.actions[6 + i]);
        padded.actions = _concat(_skimmedRescue(skim), _concat(_shrinkIntoTwinOf(wbtcPad, 3), _shrinkIntoTwinOf(wstethPad, 4)));
        uint256 wstethParked = wstethPool.balanceOf(safe);
        _expectPaddedSkimRefused(padded, skim, 3300e6 + 1e6);
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
        // Since rr10 F2 the parked shape stops earlier: a due sub-account's withdrawal funds no pool deposit.
        _expectRefusedWith(
            _single(wethId, _concat(_skimmedRescue(skim), pad)),
            abi.encodeWithSelector(ILeverageModule.DepositNotFunded.selector, address(weth), withdrawn, 0)
        );
        // The same padding with the withdrawn WETH supplied to a not-due WETH twin (a move that buys no allowance).
        _openWethTwin(300e18, 1.3e18);
        pad[2] = action(ActionKind.EndCallback, 0, address(0), 0);
        pad[3] = action(ActionKind.SupplyCollateral, 1, address(0), withdrawn);
        Plan memory padded = _single(wethId, _concat(_skimmedRescue(skim), pad));
        padded.subAccounts = new bytes32[](2);
        (padded.subAccounts[0], padded.subAccounts[1]) = (wethId, wethTwinId);
        // Even a plan landing at the far edge of the landing zone (1.55) would count no more than this.
        uint256 cap = HealthLib.maxMoveToHealth(s, 1.55e18, false, 0); // the fixture's policy has no swaps
        assertLt(cap * 50, 59e6 * 10_000, "the cap's allowance is below the skim");
        _expectPaddedSkimRefused(padded, skim, cap);
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

    /// @dev Sets `wbtcPolicy` and a WETH policy with the SDK quickstart caps (100k per rebalance, 1M per epoch) and warps
    /// to an hour into the next aligned day; returns that epoch.
    function _quickstartCaps(Policy memory wbtcPolicy) internal returns (uint256 epoch) {
        wbtcPolicy.maxAmountPerRebalance = 100_000e6;
        wbtcPolicy.maxAmountPerEpoch = 1_000_000e6;
        wbtcId = setPolicy(wbtcPolicy);
        Policy memory wethPolicy = defaultPolicy(wethMarket, address(usdcVault));
        wethPolicy.maxAmountPerRebalance = 100_000e6;
        wethPolicy.maxAmountPerEpoch = 1_000_000e6;
        setPolicy(wethPolicy);
        vm.warp(block.timestamp / 1 days * 1 days + 1 days + 1 hours);
        epoch = block.timestamp / 1 days;
    }

    function test_Attack_TenShrinkPaddedRescuesLeaveTheNotDueRescuePossible() public {
        openPosition(safe, wbtcMarket, 30e8, 970_000e6); // 31 WBTC, 1M debt
        wbtcPool = _collateralPool(wbtc);
        uint256 epoch = _quickstartCaps(_poolsPolicy(wbtcMarket, address(wbtcPool)));
        uint256 wbtcPrice = _setHealth(wbtcMarket, 1.21e18);
        uint256 shrunk;
        // Since rr10b the pads' WBTC cannot be parked (a not-due withdrawal funds no deposit; asserted once): it is
        // supplied to a not-due WBTC twin (10M of collateral at 1.3, ~770k from its target, room for all ten pads).
        bytes32 twinId = _openTwinWorth(wbtcMarket, 10_000_000e6, 1.3e18);
        for (uint256 i; i < 10; ++i) {
            vm.warp(block.timestamp + 5 minutes);
            wbtcOracle.setPrice(wbtcPrice); // a fresh round, same price
            _dropWethHealthTo(1.19e18);
            uint256 moved = Math.min(_distance(wbtcMarket), 100_000e6) - 10e6;
            Action[] memory pad = _shrink(wbtcMarket, 1, address(wbtcPool), moved);
            if (i == 0) {
                _expectRefusedWith(
                    plan2(wethId, wbtcId, _concat(_wethRescue(1.35e18), pad)),
                    abi.encodeWithSelector(ILeverageModule.DepositNotFunded.selector, address(wbtc), pad[2].amount, 0)
                );
            }
            Plan memory plan;
            plan.subAccounts = new bytes32[](3);
            (plan.subAccounts[0], plan.subAccounts[1], plan.subAccounts[2]) = (wethId, wbtcId, twinId);
            plan.actions = _concat(_wethRescue(1.35e18), _shrinkIntoTwinOf(pad, 2));
            handleOk(keeperOp(safe, keeper, plan, keeperKey));
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
        _expectPaddedSkimRefused(plan2(wethId, wbtcId, _concat(_skimmedRescue(skim), pad)), skim, 3300e6 + 1e6);
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
        _expectPaddedSkimRefused(_intoWbtcTwin(plan2(wethId, wbtcId, _concat(_skimmedRescue(skim), pad))), skim, 3300e6 + 1e6);
    }

    /// @dev Growth padding: a boost-enabled, not-due WBTC (1.21, below its target 1.4) grown at constant health (supply
    /// idle WBTC, borrow, park the USDC) next to a genuine WETH rescue. Charged in full it filled the quickstart 1M epoch
    /// amount cap in ten operations (eighth review); charged its approach to the target it was free and outgrew the
    /// per-rebalance cap its own rescue needs (ninth review). A not-due sub-account may not grow at all: refused with
    /// exactly NotDueGrowth(wbtcId), nothing left the Safe.
    function test_Attack_NotDueGrowthIsRefused() public {
        openPosition(safe, wbtcMarket, 15e8, 485_000e6); // 16 WBTC, 515k debt
        Policy memory wbtcPolicy = defaultPolicy(wbtcMarket, address(usdcVault));
        wbtcPolicy.boostAllowed = true;
        wbtcId = setPolicy(wbtcPolicy);
        _setHealth(wbtcMarket, 1.21e18);
        wbtc.mint(safe, 20e8); // the owner's idle WBTC
        _expectGrowthPaddingRefused(_wethRescue(1.35e18), 99_990e6);
    }

    /* NINTH REVIEW: the boost cap, a swapless policy, the growth-padding stall */

    uint256 internal constant BOOST_HEALTH = 1.35e18; // inside the landing zone of a boost from 2.0: [1.3, 1.85]
    uint256 internal constant SHRINK_HEALTH = 1.25e18; // inside the landing zone of the rescue from 1.1467: [1.2467, 1.55]

    /// @dev The WETH repayment from idle USDC that takes it to `health`.
    function _wethRescue(uint256 health) internal view returns (Action[] memory rescue) {
        rescue = new Action[](1);
        rescue[0] = action(ActionKind.Repay, 0, address(0), _repayToReach(health));
    }

    /// @dev A growth of WBTC (sub-account 1) at constant health by about `moved` of net position change: supply idle
    /// WBTC, borrow at the position's ratio, park the USDC in the fair pool.
    function _growthPad(uint256 moved) internal view returns (Action[] memory pad) {
        MarketState memory s = adapter.marketState(Id.unwrap(wbtcMarket.id()), safe);
        uint256 value = Math.mulDiv(s.collateral, s.price, 1e36);
        uint256 borrowed = Math.mulDiv(moved, s.debt, s.debt + value);
        uint256 supplied = Math.mulDiv(s.collateral, borrowed, s.debt) + 100;
        pad = new Action[](3);
        pad[0] = action(ActionKind.SupplyCollateral, 1, address(0), supplied);
        pad[1] = action(ActionKind.Borrow, 1, address(0), borrowed);
        pad[2] = action(ActionKind.DepositToPool, 1, address(usdcVault), borrowed);
    }

    /// @dev `rescue` of WETH padded with a `moved` growth of the not-due WBTC (inside its distance to its target, so no
    /// other rule refuses it), through handleOps. Since rr10b the parked growth is refused first, at its deposit
    /// (a sub-account that supplies collateral deposits nothing: ActionNotAllowed, asserted exactly); a growth can then
    /// only spend its borrow, so it is rebuilt as a donor growth that pays the whole WETH rescue (`rescue[0]`, a single
    /// Repay; WBTC supplies a hair more than keeps its health and borrows that repayment, a net change of ~2x the
    /// repayment rather than `moved`): refused with exactly NotDueGrowth(wbtcId), nothing but gas left the Safe.
    function _expectGrowthPaddingRefused(Action[] memory rescue, uint256 moved) internal {
        Action[] memory parked = _growthPad(moved);
        _expectRefusedWith(
            plan2(wethId, wbtcId, _concat(rescue, parked)),
            abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, rescue.length + 2, ActionKind.DepositToPool)
        );
        MarketState memory s = adapter.marketState(Id.unwrap(wbtcMarket.id()), safe);
        uint256 borrowed = rescue[0].amount;
        Action[] memory pad = new Action[](2);
        pad[0] = action(ActionKind.SupplyCollateral, 1, address(0), Math.mulDiv(s.collateral, borrowed, s.debt) + 100);
        pad[1] = action(ActionKind.Borrow, 1, address(0), borrowed);
        uint256 netChange = HealthLib.collateralValue(pad[0].amount, s.price) + pad[1].amount;
        assertLt(netChange, _distance(wbtcMarket), "the growth fits WBTC's distance to its target");
        Holdings memory before = holdings(safe);
        PackedUserOperation memory op = keeperOp(safe, keeper, plan2(wethId, wbtcId, _concat(rescue, pad)), keeperKey);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok, "growth of a not-due sub-account refused");
        assertEq(reason, abi.encodeWithSelector(ILeverageModule.NotDueGrowth.selector, wbtcId), "NotDueGrowth(wbtcId)");
        assertNothingLeftBut(before, maxCost(op));
    }

    /// @dev The allowance cap the eighth-review code applied and the ninth reviewer sized the padding to:
    /// ceil(gap / min(lltv, h (1 - l) - lltv)) in every direction (lltv when not positive), whatever the policy's swaps.
    function _reviewedCap(MarketState memory s, uint256 h, uint256 l) internal pure returns (uint256) {
        uint256 valueTimesLltv = Math.mulDiv(s.collateral, s.price, 1e36) * LLTV;
        uint256 swapped = Math.mulDiv(h, 10_000 - l, 10_000);
        uint256 denominator = swapped > LLTV ? Math.min(LLTV, swapped - LLTV) : LLTV;
        return Math.mulDiv(HealthLib.distance(h * s.debt, valueTimesLltv), 1, denominator, Math.Rounding.Ceil);
    }

    /// @dev The most an honest swap boost of WETH to `h` moves (borrow x, buy x(1 - l) of collateral, supply it):
    /// (V + x(1 - l)) lltv = h (D + x), so x = (V lltv - h D) / (h - (1 - l) lltv). Written out, not HealthLib's.
    function _honestBoost(MarketState memory s, uint256 h, uint256 l) internal pure returns (uint256) {
        uint256 gap = Math.mulDiv(s.collateral, s.price, 1e36) * LLTV - h * s.debt;
        return Math.mulDiv(gap, 1, h - Math.mulDiv(LLTV, 10_000 - l, 10_000), Math.Rounding.Ceil);
    }

    /// @dev WETH at 2.0 (due: above maxHealth 1.7) under a boost- and swap-enabled policy losing at most `lossBps` per
    /// operation and per swap (maxLossBps = maxSlippageBps), `skim` and the fair USDC pool listed; 20 WETH of the owner's
    /// idle. Returns the WETH state before the boost.
    function _boostSetUp(RiggedVault skim, uint16 lossBps) internal returns (MarketState memory s) {
        Policy memory policy = _poolsPolicy(wethMarket, address(skim));
        policy.boostAllowed = true;
        policy.maxLossBps = lossBps;
        policy.maxSlippageBps = lossBps;
        policy.maxEpochLossBps = 1000;
        setPolicy(policy);
        _dropWethHealthTo(2.0e18);
        weth.mint(safe, 20e18);
        s = adapter.marketState(Id.unwrap(wethMarket.id()), safe);
    }

    /// @dev The ninth reviewer's boost of WETH to BOOST_HEALTH: `added` of collateral value supplied from idle WETH and
    /// the borrow that lands the health there, padded with a `withdrawn` round trip through `skim` (withdraw it, repay
    /// it, borrow it back, park everything borrowed in the fair pool). Its loss is skim's exit fee on `withdrawn`.
    function _boostPlan(MarketState memory s, uint256 added, RiggedVault skim, uint256 withdrawn)
        internal
        view
        returns (Plan memory)
    {
        uint256 value = Math.mulDiv(s.collateral, s.price, 1e36);
        uint256 borrowed = Math.mulDiv(value + added, LLTV, BOOST_HEALTH) - s.debt;
        Action[] memory a = new Action[](5);
        a[0] = action(ActionKind.SupplyCollateral, 0, address(0), Math.mulDiv(added, 1e36, s.price) + 1);
        a[1] = action(ActionKind.WithdrawFromPool, 0, address(skim), withdrawn);
        a[2] = action(ActionKind.Repay, 0, address(0), withdrawn);
        a[3] = action(ActionKind.Borrow, 0, address(0), borrowed + withdrawn);
        a[4] = action(ActionKind.DepositToPool, 0, address(usdcVault), borrowed + withdrawn);
        return _single(wethId, a);
    }

    /// @dev `_boostPlan`'s round trip in a shape rr10 F1 still allows (Repay then Borrow on one sub-account is churn,
    /// ActionNotAllowed): the not-due WETH twin (sub-account 1, `_twinRepaysThrough`) repays `withdrawn` from `skim`, a
    /// move toward its target that buys no allowance; WETH boosts by `added` and parks what it borrows. Its loss is still
    /// skim's exit fee on `withdrawn`. Since rr10b WETH, which supplies collateral, may not deposit (ActionNotAllowed at
    /// a[4]); with `parkOnTwin` the deposit of WETH's borrow is listed on the twin (its pools: skim and the fair USDC
    /// pool), which since rr10c C1 a supplying boost's borrow no longer funds (DepositNotFunded).
    function _boostPlanWithTwin(MarketState memory s, uint256 added, RiggedVault skim, uint256 withdrawn, bool parkOnTwin)
        internal
        view
        returns (Plan memory plan)
    {
        plan = _boostPlanUnsupplied(s, added, skim, withdrawn);
        Action[] memory a = new Action[](5);
        a[0] = action(ActionKind.SupplyCollateral, 0, address(0), Math.mulDiv(added, 1e36, s.price) + 1);
        for (uint256 i; i < 4; ++i) {
            a[i + 1] = plan.actions[i];
        }
        a[4].subAccount = parkOnTwin ? 1 : 0;
        plan.actions = a;
    }

    /// @dev `_boostPlanWithTwin`'s round trip without the supply (rr10c C1: the shape that still runs): the twin repays
    /// `withdrawn` from `skim`, WETH borrows what takes it to BOOST_HEALTH with `added` more collateral value (0: its
    /// own) and parks it on itself.
    function _boostPlanUnsupplied(MarketState memory s, uint256 added, RiggedVault skim, uint256 withdrawn)
        internal
        view
        returns (Plan memory)
    {
        uint256 borrowed = Math.mulDiv(Math.mulDiv(s.collateral, s.price, 1e36) + added, LLTV, BOOST_HEALTH) - s.debt;
        Action[] memory a = new Action[](4);
        a[0] = action(ActionKind.WithdrawFromPool, 1, address(skim), withdrawn);
        a[1] = action(ActionKind.Repay, 1, address(0), withdrawn);
        a[2] = action(ActionKind.Borrow, 0, address(0), borrowed);
        a[3] = action(ActionKind.DepositToPool, 0, address(usdcVault), borrowed);
        return plan2(wethId, wethTwinId, a);
    }

    /// @dev Opens the not-due WETH twin (1.3, at the current price) with `skim` its pool and maxLossBps `lossBps`, so the
    /// plan's maxLossBps (the least of its sub-accounts') stays `lossBps`.
    function _twinRepaysThrough(RiggedVault skim, uint16 lossBps) internal {
        _openWethTwin(1000e18, 1.3e18);
        Policy memory p = module.getPolicy(safe, wethTwinId);
        p.pools = new address[](2);
        p.pools[0] = address(skim);
        p.pools[1] = address(usdcVault);
        p.maxLossBps = lossBps;
        setPolicy(p);
    }

    /// @dev The ninth reviewer's boost padded up to the eighth-review cap (collateral 1% over it, so the cap was the
    /// counted move), skimmed `skimBps` of a 10,000 USDC round trip: within the allowance that cap bought, over what an
    /// honest swap boost to the same health may lose. It swaps nothing, so it is refused with exactly ValueLossExceeded at
    /// `lossBps`, its `moved` the collateral-only move to the same health (thirteenth review: the swap path counts only
    /// for value swapped); nothing left the Safe. Then a real honest swap boost for the same health change (flash-looped:
    /// borrow, buy on Uniswap at the oracle price, supply), padded with the same 10,000 round trip through `skim` at the
    /// exit fee that brings its whole loss (fee, impact, skim) to just under 99% of lossBps x the swap boost's move at
    /// loss `lossBps`, is accepted and lands at BOOST_HEALTH: the cap is not below it.
    function _boostPaddingRefusedHonestBoostAccepted(uint16 lossBps, uint256 skimBps) internal {
        RiggedVault skim = _feePool(skimBps);
        MarketState memory s = _boostSetUp(skim, lossBps);
        uint256 honest = _honestBoost(s, BOOST_HEALTH, lossBps);
        // Since rr10 F1 the ninth reviewer's Repay/Borrow round trip on WETH itself is churn, refused at the Borrow.
        _expectRefusedWith(
            _boostPlan(s, _reviewedCap(s, BOOST_HEALTH, lossBps) * 101 / 100, skim, 10_000e6),
            abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 3, ActionKind.Borrow)
        );
        _twinRepaysThrough(skim, lossBps);
        _expectBoostPaddingRefused(s, skim, lossBps, honest);

        createPoolAtOraclePrice(address(weth), address(usdc), FEE_LOW, wethOracle.price(), 20_000_000e6, defaultSpread());
        uint256 borrowed = _honestBoost(s, BOOST_HEALTH, 0); // the cheapest swap moves the most
        uint256 bought = quoteExactIn(address(usdc), address(weth), FEE_LOW, borrowed);
        uint256 swapCost = borrowed - Math.mulDiv(bought, s.price, 1e36);
        uint256 allowance = honest * lossBps / 10_000;
        skim.setExitFee((allowance * 99 / 100 - swapCost) / 1e6); // 1 bps of 10,000 USDC = 1 USDC
        emit log_named_uint("honest swap boost: borrowed", borrowed);
        emit log_named_uint("  swap cost", swapCost);
        emit log_named_uint("  allowance at the swap cap", allowance);
        emit log_named_uint("  skim", Math.mulDiv(10_000e6, skim.exitFeeBps(), 10_000));
        handleOk(keeperOp(safe, keeper, _swapBoostPlan(borrowed, bought, skim), keeperKey));
        assertApproxEqRel(healthOf(safe, wethMarket), BOOST_HEALTH, 0.0005e18, "the honest swap boost landed");
    }

    /// @dev The flash-looped swap boost, padded with a 10,000 USDC round trip through `skim`: since rr10 F1 (a Repay and
    /// a Borrow on one sub-account are churn) the not-due WETH twin withdraws it and repays it, then WETH runs
    /// SupplyCollateralWithCallback(bought) { Borrow(borrowed), BuyCollateral(borrowed) }.
    function _swapBoostPlan(uint256 borrowed, uint256 bought, RiggedVault skim) internal view returns (Plan memory) {
        Action[] memory a = new Action[](6);
        a[0] = action(ActionKind.WithdrawFromPool, 1, address(skim), 10_000e6);
        a[1] = action(ActionKind.Repay, 1, address(0), 10_000e6);
        a[2] = action(ActionKind.SupplyCollateralWithCallback, 0, address(0), bought);
        a[3] = action(ActionKind.Borrow, 0, address(0), borrowed);
        a[4] = action(ActionKind.BuyCollateral, 0, address(uint160(uint256(uniAdapter.encodeRoute(FEE_LOW, 0, 0)))), borrowed);
        a[5] = action(ActionKind.EndCallback, 0, address(0), 0);
        return plan2(wethId, wethTwinId, a);
    }

    /// @dev The padded boost (collateral 1% over the reviewed cap) with skim's exit fee on 10,000: its deposit refused on
    /// WETH (rr10b) and on the twin (rr10c C1); without the supply (the shape that still runs) the skim is refused,
    /// counted at the borrow (it swaps nothing). Was: the supplied, twin-parked shape counted at the collateral-only
    /// move; rr10c C1 refuses that shape before the loss bound, so this reaches the bound with a smaller base.
    function _expectBoostPaddingRefused(MarketState memory s, RiggedVault skim, uint16 lossBps, uint256 honest) internal {
        uint256 reviewed = _reviewedCap(s, BOOST_HEALTH, lossBps);
        uint256 skimmed = Math.mulDiv(10_000e6, skim.exitFeeBps(), 10_000);
        assertGt(skimmed * 10_000, honest * lossBps, "the skim is over an honest boost's worst loss");
        assertLt(skimmed * 10_000, reviewed * lossBps, "and within the allowance the reviewed cap bought");
        _expectRefusedWith(
            _boostPlanWithTwin(s, reviewed * 101 / 100, skim, 10_000e6, false),
            abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 4, ActionKind.DepositToPool)
        );
        // Since rr10c C1 WETH's borrow, WETH supplying collateral, funds no deposit listed on the twin either.
        Plan memory parked = _boostPlanWithTwin(s, reviewed * 101 / 100, skim, 10_000e6, true);
        _expectRefusedWith(
            parked,
            abi.encodeWithSelector(ILeverageModule.DepositNotFunded.selector, address(usdc), parked.actions[4].amount, 0)
        );
        // The padding in the shape that still runs (the boost borrows to the same health and parks on itself, supplying
        // nothing): counted at the borrow, under the collateral-only move to the same health, and the skim is refused.
        Plan memory unsupplied = _boostPlanUnsupplied(s, 0, skim, 10_000e6);
        (uint256 loss, uint256 moved) = _expectLossRefused(unsupplied, skim, lossBps);
        uint256 collateralOnly = Math.mulDiv(Math.mulDiv(s.collateral, s.price, 1e36) * LLTV - BOOST_HEALTH * s.debt, 1, LLTV);
        assertApproxEqRel(moved, unsupplied.actions[2].amount, 0.002e18, "counted: the borrow");
        assertLt(moved, collateralOnly, "under the collateral-only move to the same health");
        assertApproxEqAbs(loss, skimmed, 1e6, "the loss is the skim");
    }

    /// @dev Ninth review, boost at maxLossBps 300: 2.0 -> 1.35 of 10 WETH / 18k debt. The cap used the deleverage
    /// denominator H(1 - l) - lltv (0.4495), so the padded plan was allowed ~781 and a 730 skim (7.3% exit fee on 10k)
    /// was accepted, against at most ~680.5 for an honest swap boost (denominator H - (1 - l) lltv = 0.5158, ~22.7k).
    /// Fails if the boost branch of `HealthLib.maxMoveToHealth` takes the deleverage denominator again (accepted), or if
    /// the cap drops below ~98.5% of the honest move (a real honest swap boost losing ~673, a 660 skim and ~13 of fee
    /// and impact, refused). Since the thirteenth review the padded plan, which swaps nothing, is counted at the
    /// collateral-only move.
    function test_Attack_SwapBoostPaddedToTheDeleverageCapIsRefused_300bps() public {
        _boostPaddingRefusedHonestBoostAccepted(300, 730);
    }

    /// @dev The same at the default maxLossBps 50: the deleverage denominator over-allowed ~2.3% (121 against 118.35);
    /// a 120 skim is refused, a real honest swap boost losing ~117 (a 104 skim, ~13 of fee and impact) accepted (refused
    /// under a cap 2% short: 118.35 / 1.02 = 116).
    function test_Attack_SwapBoostPaddedToTheDeleverageCapIsRefused_50bps() public {
        _boostPaddingRefusedHonestBoostAccepted(50, 120);
    }

    /// @dev Ninth review, a swapless policy (maxSlippageBps 0, the default and the quickstart): no honest plan moves
    /// more than a collateral change alone (|H D - V lltv| / lltv) for its health change, but the cap assumed a swap
    /// deleverage losing maxLossBps (denominator 1.25 x 0.995 - 0.86 = 0.384, against 0.86). The WETH rescue 1.1467 ->
    /// 1.25, padded with its own shrink (repay ~4.9k from a pool with a 0.45% exit fee, withdraw and park collateral),
    /// was allowed ~24.2 and its ~22 skim accepted, twice what an honest plan to 1.25 can lose (~10.8). Now refused with
    /// exactly ValueLossExceeded, moved the collateral-only figure; nothing left the Safe. The honest counterpart (parked
    /// WETH supplied to 1.25, the collateral-only move, losing 45 bps of it to its pool's exit fee) is accepted: the cap is
    /// not the smaller repayment figure (gap / H, under which 45 bps of the move is 65 bps of the allowance base) either. Fails if the cap counts a swap path for a swapless policy.
    function test_Attack_SwaplessPolicyPaddedToASwapCapIsRefused() public {
        RiggedVault skim = _feePool(45);
        RiggedVault wethSkim = _feePool(weth, 5e18, 45); // the owner's parked WETH, for the honest counterpart
        Policy memory policy = _poolsPolicy(wethMarket, address(skim));
        policy.pools = new address[](4);
        policy.pools[0] = address(skim);
        policy.pools[1] = address(usdcVault);
        policy.pools[2] = address(wethVault);
        policy.pools[3] = address(wethSkim);
        assertEq(policy.maxSlippageBps, 0, "swaps disabled");
        setPolicy(policy);
        MarketState memory s = adapter.marketState(Id.unwrap(wethMarket.id()), safe);
        uint256 collateralOnly = Math.mulDiv(
            SHRINK_HEALTH * s.debt - Math.mulDiv(s.collateral, s.price, 1e36) * LLTV, 1, LLTV, Math.Rounding.Ceil
        );
        (Plan memory padded, uint256 skimmed) = _shrinkPaddedToReviewedCap(s, skim);
        // Since rr10 F2 the parked shape stops earlier (a due sub-account's withdrawal funds no pool deposit); the same
        // padding with its WETH supplied to a not-due WETH twin reaches the loss bound.
        _expectRefusedWith(padded, _parkedShrinkRefusal(padded));
        _openWethTwin(300e18, 1.3e18);
        padded = plan2(wethId, wethTwinId, _shrinkIntoTwin(address(skim), padded.actions[0].amount, padded.actions[2].amount));
        assertGt(skimmed, collateralOnly * 50 / 10_000 * 2, "the skim is over twice an honest plan's worst loss");
        (uint256 loss, uint256 moved) = _expectLossRefused(padded, skim, 50);
        assertApproxEqRel(moved, collateralOnly, 0.002e18, "counted: the collateral-only move to the same health");
        assertApproxEqAbs(loss, skimmed, 1e6, "the loss is the skim");

        // The honest counterpart: parked WETH withdrawn (45 bps exit fee) and supplied to 1.25, the collateral-only move.
        uint256 supplied = Math.mulDiv(collateralOnly, 1e36, s.price) + 1;
        Action[] memory h = new Action[](2);
        h[0] = action(ActionKind.WithdrawFromPool, 0, address(wethSkim), supplied);
        h[1] = action(ActionKind.SupplyCollateral, 0, address(0), supplied);
        handleOk(keeperOp(safe, keeper, _single(wethId, h), keeperKey));
        assertApproxEqRel(healthOf(safe, wethMarket), SHRINK_HEALTH, 0.0005e18, "the honest rescue landed");
    }

    /// @dev The ninth reviewer's padded WETH rescue to ~SHRINK_HEALTH: repay from `skim` (0.45% exit fee) just over the
    /// reviewed cap, withdraw collateral to land at ~1.25 (a hair above), park it in the WETH pool. Returns the plan and
    /// the skim (the exit fee on the repayment).
    function _shrinkPaddedToReviewedCap(MarketState memory s, RiggedVault skim)
        internal
        view
        returns (Plan memory plan, uint256 skimmed)
    {
        uint256 repaid = _reviewedCap(s, SHRINK_HEALTH, 50) * 101 / 100;
        uint256 kept = Math.mulDiv(SHRINK_HEALTH, s.debt - repaid, LLTV, Math.Rounding.Ceil);
        uint256 withdrawn = Math.mulDiv(Math.mulDiv(s.collateral, s.price, 1e36) - kept, 1e36, s.price) * 9999 / 10_000;
        plan = _single(wethId, _parkedShrink(address(skim), repaid, withdrawn));
        skimmed = Math.mulDiv(repaid, skim.exitFeeBps(), 10_000);
    }

    /// @dev Ninth review, the stall: WBTC (boost allowed, quickstart caps 100k per rebalance / 1M per epoch) at 1.21 with
    /// 1.0M of debt; ten genuine WETH rescues padded with ~100k of WBTC growth at constant health (idle WBTC supplied,
    /// borrowed, parked) grew its debt ~41% uncharged, so when WBTC fell to 1.19 its smallest acceptable rescue (~110k)
    /// was over its per-rebalance cap (AmountCapExceeded) in every epoch. Now each padded plan is refused with exactly
    /// NotDueGrowth(wbtcId), nothing left the Safe, and the same WETH rescue without the padding
    /// lands; WBTC's position is untouched, and when it falls to 1.19 the honest keeper's rescue (under the 100k cap)
    /// lands in the same epoch. Fails if not-due growth is let through again (the padded plan lands).
    function test_Attack_TenGrowthPaddedRescuesAreRefusedAndTheWbtcRescueLands() public {
        openPosition(safe, wbtcMarket, 30e8, 970_000e6); // 31 WBTC, 1.0M debt
        Policy memory wbtcPolicy = defaultPolicy(wbtcMarket, address(usdcVault));
        wbtcPolicy.boostAllowed = true;
        uint256 epoch = _quickstartCaps(wbtcPolicy);
        uint256 wbtcPrice = _setHealth(wbtcMarket, 1.21e18);
        wbtc.mint(safe, 40e8); // the owner's idle WBTC
        Position memory wbtcBefore = morpho.position(wbtcMarket.id(), safe);
        for (uint256 i; i < 10; ++i) {
            vm.warp(block.timestamp + 5 minutes);
            wbtcOracle.setPrice(wbtcPrice); // a fresh round, same price
            _dropWethHealthTo(1.19e18);
            _expectGrowthPaddingRefused(_wethRescue(1.35e18), 99_990e6);
            handleOk(keeperOp(safe, keeper, _single(wethId, _wethRescue(1.35e18)), keeperKey));
            assertApproxEqRel(healthOf(safe, wethMarket), 1.35e18, 0.0005e18, "the unpadded WETH rescue landed");
        }
        Position memory wbtcAfter = morpho.position(wbtcMarket.id(), safe);
        assertEq(wbtcAfter.collateral, wbtcBefore.collateral, "WBTC collateral untouched");
        assertEq(wbtcAfter.borrowShares, wbtcBefore.borrowShares, "WBTC debt did not grow");
        assertEq(module.getEpochUsage(safe, wbtcId).amountMoved, 0, "WBTC charged nothing");

        _honestKeeperRescuesWbtc(1.19e18, epoch);
    }
}
