// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IUniswapV3Pool} from "@uniswap/v3-core/contracts/interfaces/IUniswapV3Pool.sol";

import {AaveTestBase} from "../utils/AaveTestBase.sol";
import {UniswapFixture} from "../utils/UniswapFixture.sol";
import {LeverageModule} from "../../src/LeverageModule.sol";
import {AaveFlashLoanRouter} from "../../src/adapters/AaveFlashLoanRouter.sol";
import {UniswapV3SwapAdapter} from "../../src/adapters/UniswapV3SwapAdapter.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {ActionKind, Action, ILeverageModule, Plan, Policy} from "../../src/interfaces/ILeverageModule.sol";
import {HealthLib} from "../../src/libraries/HealthLib.sol";

/// @notice Callback actions on an Aave v3 sub-account, on the real Aave v3 Pool and Uniswap v3 through
/// EntryPoint.handleOps: Aave has no repay or supply callback, so the adapter sends them to its AaveFlashLoanRouter,
/// which flash-funds the opener's repay or supply and calls the Safe back. A swap deleverage with no idle funds and a
/// flash-looped swap boost each land in the band, the Safe pays the pool's 0.05% premium and nothing else leaves it,
/// and no token or approval stays with the router. The router refuses loans it did not start and calls not from the
/// pool, and acts only for its caller.
contract AaveFlashCallbackTest is AaveTestBase, UniswapFixture {
    uint16 internal constant MAX_SLIPPAGE_BPS = 50;
    /// @dev The pool's FLASHLOAN_PREMIUM_TOTAL the blocks are sized for (the fixture's 5; tests may set the pool's own).
    uint256 internal premiumBps = 5;

    UniswapV3SwapAdapter internal swapAdapter;
    IUniswapV3Pool internal wethPool;
    AaveFlashLoanRouter internal router;
    bytes32 internal id;
    address internal attacker = makeAddr("attacker");

    function _deploySwapAdapter() internal virtual override returns (address) {
        swapAdapter = deployUniswapSwapAdapter();
        return address(swapAdapter);
    }

    function setUp() public override {
        super.setUp();
        router = AaveFlashLoanRouter(aaveAdapter.FLASH_ROUTER());
        address[] memory adapterList = new address[](2);
        (adapterList[0], adapterList[1]) = (address(adapter), address(aaveAdapter));
        module = new LeverageModule(address(entryPoint), adapterList, address(swapAdapter));
        safe = newAutomatedSafe();
        aaveSupply(safe, weth, 10e18);
        aaveBorrow(safe, usdc, 18_000e6);
        // No idle loan token: the borrowed USDC was spent elsewhere.
        safeExec(safe, address(usdc), 0, abi.encodeCall(IERC20.transfer, (lender, usdc.balanceOf(safe))), 0);
    }

    function _policy(bool boost) internal view returns (Policy memory policy) {
        policy = aavePolicy(wethUsdc, address(wethOracle), address(0));
        policy.maxSlippageBps = MAX_SLIPPAGE_BPS;
        policy.boostAllowed = boost;
        policy.maxEpochLossBps = 400;
    }

    /// @dev Sets the oracle to `priceWad` (USDC per WETH, WAD) and opens the WETH/USDC 0.05% pool at it.
    function _priceAt(uint256 priceWad) internal {
        wethOracle.setPrice(priceWad);
        wethPool = createPoolAtOraclePrice(
            address(weth), address(usdc), FEE_LOW, wethOracle.price(), 20_000_000e6, defaultSpread()
        );
    }

    function _route() internal view returns (address) {
        return address(uint160(uint256(swapAdapter.encodeRoute(FEE_LOW, 0, 0))));
    }

    function _block(ActionKind opener, uint256 amount, Action memory a, Action memory b)
        internal
        view
        returns (Plan memory plan)
    {
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = id;
        plan.actions = new Action[](4);
        plan.actions[0] = action(opener, 0, address(0), amount);
        plan.actions[1] = a;
        plan.actions[2] = b;
        plan.actions[3] = action(ActionKind.EndCallback, 0, address(0), 0);
    }

    /// @dev The loan-token value of the Safe's Aave account and wallet at the oracle price (base units).
    function _equity() internal view returns (int256) {
        MarketState memory s = aaveAdapter.marketState(wethUsdc, safe);
        uint256 walletWeth = Math.mulDiv(weth.balanceOf(safe), s.price, 1e36);
        return int256(HealthLib.collateralValue(s.collateral, s.price) + walletWeth + usdc.balanceOf(safe))
            - int256(s.debt);
    }

    /// @dev Aave's premium on a flash loan of `amount`: PercentageMath.percentMul (half up).
    function _premium(uint256 amount) internal view returns (uint256) {
        return (amount * premiumBps + 5000) / 10_000;
    }

    function _assertRouterHoldsNothing() internal view {
        assertEq(usdc.balanceOf(address(router)), 0, "router USDC");
        assertEq(weth.balanceOf(address(router)), 0, "router WETH");
        assertEq(usdc.allowance(address(router), address(aavePool)), 0, "router USDC approval to the pool");
        assertEq(weth.allowance(address(router), address(aavePool)), 0, "router WETH approval to the pool");
        assertEq(usdc.allowance(safe, address(router)), 0, "Safe USDC approval to the router");
        assertEq(weth.allowance(safe, address(router)), 0, "Safe WETH approval to the router");
    }

    /// @notice Health 1.107 (below minHealth 1.2), no idle USDC, no pool: RepayWithCallback { WithdrawCollateral,
    /// SellCollateral } EndCallback lands at the target; the debt falls by exactly the repayment, and the Safe pays the
    /// swap's cost and the 0.05% premium, nothing more.
    function test_SwapDeleverage_OnAave_FlashFundedRepay() public {
        id = setPolicyFor(safe, _policy(false));
        _priceAt(2400e18);
        MarketState memory s = aaveAdapter.marketState(wethUsdc, safe);
        assertLt(aaveHealthFactor(safe), 1.2e18);
        Swap memory x = _swapBlock(s, false);
        (uint256 aWethBefore, uint256 debtBefore) = (aBalance(weth, safe), variableDebt(usdc, safe));
        int256 equityBefore = _equity();
        uint256 aaveWethBefore = weth.balanceOf(reserve(weth).aTokenAddress);

        handleOk(keeperOp(safe, keeper, x.plan, keeperKey));

        // aToken and debt-token balances (Aave rounds each scaled balance by at most 1 wei).
        assertApproxEqAbs(variableDebt(usdc, safe), debtBefore - x.venueAmount, 1, "the debt fell by the repayment");
        assertApproxEqAbs(aBalance(weth, safe), aWethBefore - x.swapIn, 1, "the collateral fell by the sale");
        uint256 health = aaveHealthFactor(safe);
        assertGe(health, 1.35e18, "back near the target");
        assertLe(health, 1.7e18, "inside the band");
        assertEq(usdc.balanceOf(safe), x.quoted - x.venueAmount - x.premium, "the sale's surplus over loan + premium stays");
        assertEq(weth.balanceOf(reserve(weth).aTokenAddress), aaveWethBefore - x.swapIn, "Aave let go only the sale");
        // What the Safe lost: the swap's shortfall from the oracle value plus the premium.
        int256 expectedLoss = int256(Math.mulDiv(x.swapIn, s.price, 1e36)) - int256(x.quoted) + int256(x.premium);
        // (equity reads the collateral from Aave's base-currency values: a few base units of rounding)
        assertApproxEqAbs(equityBefore - _equity(), expectedLoss, 3, "lost = swap cost + premium");
        // The module charged that loss, premium included, to the epoch's loss budget (ppb of the equity before).
        uint256 chargedPpb = module.getEpochUsage(safe, id).lossPpb;
        assertApproxEqRel(chargedPpb, uint256(expectedLoss) * 1e9 / uint256(equityBefore), 0.01e18, "premium charged");
        _assertRouterHoldsNothing();
    }

    /// @dev A callback block and its figures: the swap's input and quoted output, the opener's amount (repaid or
    /// supplied: the quote less the premium on it), the premium.
    struct Swap {
        Plan plan;
        uint256 swapIn;
        uint256 quoted;
        uint256 venueAmount;
        uint256 premium;
    }

    /// @dev The callback block to health ~1.45 with a 15 bps cost estimate, the opener's amount the quote less the
    /// premium on it. Deleverage: sells c with (C - c) P lltv = 1.45 (D - c P (1 - 15 bps)), RepayWithCallback {
    /// WithdrawCollateral, SellCollateral }. Boost: borrows b with (C P + b (1 - 15 bps)) lltv = 1.45 (D + b),
    /// SupplyCollateralWithCallback { Borrow, BuyCollateral }.
    function _swapBlock(MarketState memory s, bool boost) internal returns (Swap memory x) {
        uint256 value = HealthLib.collateralValue(s.collateral, s.price);
        x.swapIn = boost
            ? (value * s.lltv - 1.45e18 * s.debt) / (1.45e18 - s.lltv * 9985 / 10_000)
            : Math.mulDiv((1.45e18 * s.debt - value * s.lltv) / (1.45e18 * 9985 / 10_000 - s.lltv), 1e36, s.price);
        (address tokenIn, address tokenOut) = boost ? (address(usdc), address(weth)) : (address(weth), address(usdc));
        x.quoted = quoteExactIn(tokenIn, tokenOut, FEE_LOW, x.swapIn);
        x.venueAmount = x.quoted * 10_000 / (10_000 + premiumBps);
        x.premium = _premium(x.venueAmount);
        x.plan = boost
            ? _block(
                ActionKind.SupplyCollateralWithCallback,
                x.venueAmount,
                action(ActionKind.Borrow, 0, address(0), x.swapIn),
                action(ActionKind.BuyCollateral, 0, _route(), x.swapIn)
            )
            : _block(
                ActionKind.RepayWithCallback,
                x.venueAmount,
                action(ActionKind.WithdrawCollateral, 0, address(0), x.swapIn),
                action(ActionKind.SellCollateral, 0, _route(), x.swapIn)
            );
    }

    /// @notice Health 2.0 with boosts allowed: SupplyCollateralWithCallback { Borrow, BuyCollateral } EndCallback (the
    /// flash-looped boost) supplies the flash-borrowed WETH first, borrows against it, buys it back and repays the
    /// router; health lands in the band.
    function test_SwapBoost_OnAave_FlashFundedSupply() public {
        id = setPolicyFor(safe, _policy(true));
        _priceAt(4400e18); // health 44,000 x 0.83 / 18,000 = 2.03 > maxHealth 1.7
        MarketState memory s = aaveAdapter.marketState(wethUsdc, safe);
        assertGt(aaveHealthFactor(safe), 1.7e18);
        Swap memory x = _swapBlock(s, true);
        (uint256 aWethBefore, uint256 debtBefore) = (aBalance(weth, safe), variableDebt(usdc, safe));

        handleOk(keeperOp(safe, keeper, x.plan, keeperKey));

        // The Safe supplies WETH on Aave, so its aWETH also earns its share of the flash premium (paid to suppliers).
        assertGe(aBalance(weth, safe) + 1, aWethBefore + x.venueAmount, "the collateral grew by the supply");
        assertLe(aBalance(weth, safe), aWethBefore + x.venueAmount + x.premium, "and at most its share of the premium");
        assertApproxEqAbs(variableDebt(usdc, safe), debtBefore + x.swapIn, 1, "the debt grew by the borrow");
        uint256 health = aaveHealthFactor(safe);
        assertGe(health, 1.2e18, "inside the band");
        assertLe(health, 1.55e18, "near the target");
        assertEq(weth.balanceOf(safe), x.quoted - x.venueAmount - x.premium, "the purchase's surplus over loan + premium stays");
        _assertRouterHoldsNothing();
    }

    /// @notice A keeper inflating the flash loan (the opener's amount 20 times the debt) to bleed the Safe through the
    /// premium on the excess (paid to Aave's suppliers, who may be the keeper): the router flashes at most the debt
    /// (test_Router_RepayFlashNeverExceedsTheDebt), which clears it, so the sub-account leaves its band
    /// (`HealthOutOfBand`); at or below the debt the premium is at most 5 bps of what moves, inside maxLossBps and
    /// charged to the epoch's loss budget (test_SwapDeleverage_OnAave_FlashFundedRepay).
    /// Nothing leaves the Safe but the gas.
    function test_RevertWhen_FlashAmountInflatedToBleedThePremium() public {
        id = setPolicyFor(safe, _policy(false));
        _priceAt(2400e18);
        MarketState memory s = aaveAdapter.marketState(wethUsdc, safe);
        Swap memory x = _swapBlock(s, false);
        x.plan.actions[0].amount = 20 * s.debt;
        usdc.mint(safe, 20_000e6); // idle USDC enough to fund the whole debt and that premium (0.05% of 360,000)
        (uint256 aWethBefore, uint256 debtBefore) = (aBalance(weth, safe), variableDebt(usdc, safe));
        (uint256 usdcBefore, uint256 wethBefore) = (usdc.balanceOf(safe), weth.balanceOf(safe));

        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, x.plan, keeperKey));

        assertFalse(ok, "refused");
        assertEq(
            reason,
            abi.encodeWithSelector(ILeverageModule.HealthOutOfBand.selector, id, type(uint256).max, 1.2e18, 1.7e18),
            "exact error"
        );
        assertEq(aBalance(weth, safe), aWethBefore);
        assertEq(variableDebt(usdc, safe), debtBefore);
        assertEq(usdc.balanceOf(safe), usdcBefore);
        assertEq(weth.balanceOf(safe), wethBefore);
        _assertRouterHoldsNothing();
    }

    /* PREMIUM CHURN (review of issue 17): a callback block that undoes its own flash-funded repay or supply */

    /// @dev The on-chain minimum output of a purchase of `amountIn` USDC (RebalanceLib._minAmountOut).
    function _minOutBuy(MarketState memory s, uint256 amountIn) internal pure returns (uint256) {
        uint256 fair = Math.mulDiv(amountIn, 1e36, s.price);
        return Math.mulDiv(fair, 10_000 - MAX_SLIPPAGE_BPS, 10_000, Math.Rounding.Ceil);
    }

    /// @dev `reason` = ActionFailed(index, inner): the index and the selector of `inner`.
    function _actionFailedWith(bytes memory reason) internal pure returns (uint256 index, bytes4 inner) {
        assertEq(bytes4(reason), ILeverageModule.ActionFailed.selector, "ActionFailed");
        bytes memory body = new bytes(reason.length - 4);
        for (uint256 i; i < body.length; ++i) {
            body[i] = reason[i + 4];
        }
        bytes memory innerReason;
        (index, innerReason) = abi.decode(body, (uint256, bytes));
        inner = bytes4(innerReason);
    }

    struct Holdings {
        uint256 aWeth;
        uint256 debt;
        uint256 walletUsdc;
        uint256 walletWeth;
    }

    function _holdingsOf() internal view returns (Holdings memory h) {
        h = Holdings(aBalance(weth, safe), variableDebt(usdc, safe), usdc.balanceOf(safe), weth.balanceOf(safe));
    }

    /// @dev The honest plan lands: Aave's health factor in the band, nothing left with the router.
    function _assertLands(Plan memory plan) internal {
        handleOk(keeperOp(safe, keeper, plan, keeperKey));
        assertGe(aaveHealthFactor(safe), 1.2e18, "in the band");
        _assertRouterHoldsNothing();
    }

    /// @dev A refused operation: its exact error, the Safe's holdings as before, nothing left with the router.
    function _assertRefusedUnchanged(bytes memory reason, bytes memory expected, Holdings memory h) internal view {
        assertEq(reason, expected, "exact error");
        _assertUnchanged(h);
        _assertRouterHoldsNothing();
    }

    function _assertUnchanged(Holdings memory h) internal view {
        Holdings memory now_ = _holdingsOf();
        assertEq(now_.aWeth, h.aWeth, "collateral unchanged");
        assertEq(now_.debt, h.debt, "debt unchanged");
        assertEq(now_.walletUsdc, h.walletUsdc, "wallet USDC unchanged");
        assertEq(now_.walletWeth, h.walletWeth, "wallet WETH unchanged");
    }

    /// @notice Break (review of issue 17): a flash-looped boost whose opener supplies six times more than the purchase
    /// and whose block withdraws the excess again (SupplyCollateralWithCallback(minOut + 6q) { Borrow, BuyCollateral,
    /// WithdrawCollateral(6q) }) nets the honest boost's position but pays Aave's premium on the whole flash: 7x the
    /// honest premium (0.0133 vs 0.0019 WETH, ~58 USDC on a 16,773 USDC boost), all inside maxLossBps (equity -66.7
    /// USDC), so the module accepted it. The module refuses the withdrawal before anything runs (RebalanceLib: a
    /// sub-account with a supply callback withdraws no collateral): `ActionNotAllowed(3, WithdrawCollateral)`;
    /// nothing leaves the Safe. (The router's own check behind it, `FlashedSupplyWithdrawn`, is
    /// `test_Router_RevertWhen_FlashedSupplyWithdrawn`.)
    function test_RevertWhen_FlashedSupplyWithdrawnInTheCallback() public {
        id = setPolicyFor(safe, _policy(true));
        _priceAt(4400e18);
        MarketState memory s = aaveAdapter.marketState(wethUsdc, safe);
        Swap memory x = _swapBlock(s, true);
        uint256 extra = 6 * x.quoted;
        Action[] memory a = new Action[](5);
        a[0] = action(ActionKind.SupplyCollateralWithCallback, 0, address(0), _minOutBuy(s, x.swapIn) + extra);
        (a[1], a[2]) = (x.plan.actions[1], x.plan.actions[2]);
        a[3] = action(ActionKind.WithdrawCollateral, 0, address(0), extra);
        a[4] = x.plan.actions[3];
        x.plan.actions = a;
        Holdings memory h = _holdingsOf();

        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, x.plan, keeperKey));

        assertFalse(ok, "refused (before the fix: accepted, the Safe paid 7x the premium)");
        _assertRefusedUnchanged(reason, abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 3, ActionKind.WithdrawCollateral), h);
    }

    /// @notice Break (review of issue 17): a boost that flash-repays the whole debt and borrows it back inside the
    /// block (RepayWithCallback(D) { Borrow(D + b), BuyCollateral(b), SupplyCollateral }) is the honest boost plus a
    /// 9 USDC premium on 18,000 USDC that moved nowhere, paid from idle USDC; as many such blocks as the loss bound
    /// admits. The module refuses the borrow before anything runs (RebalanceLib: a sub-account with a repay callback
    /// borrows nothing): `ActionNotAllowed(1, Borrow)`; nothing leaves the Safe. (The router's own check behind it,
    /// `FlashedRepaymentReborrowed`, is `test_Router_RevertWhen_FlashedRepaymentReborrowed`.)
    function test_RevertWhen_FlashedRepaymentReborrowedInTheCallback() public {
        id = setPolicyFor(safe, _policy(true));
        _priceAt(4400e18);
        MarketState memory s = aaveAdapter.marketState(wethUsdc, safe);
        Swap memory x = _swapBlock(s, true);
        uint256 d = variableDebt(usdc, safe);
        usdc.mint(safe, 100e6); // idle USDC for the premium
        Action[] memory a = new Action[](5);
        a[0] = action(ActionKind.RepayWithCallback, 0, address(0), d);
        a[1] = action(ActionKind.Borrow, 0, address(0), d + x.swapIn);
        a[2] = x.plan.actions[2];
        a[3] = action(ActionKind.SupplyCollateral, 0, address(0), _minOutBuy(s, x.swapIn));
        a[4] = x.plan.actions[3];
        x.plan.actions = a;
        Holdings memory h = _holdingsOf();

        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, x.plan, keeperKey));

        assertFalse(ok, "refused (before the fix: accepted, 9 USDC of premium on a churned repayment)");
        _assertRefusedUnchanged(reason, abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 1, ActionKind.Borrow), h);
    }

    /// @notice Break (review of issue 17; the router cannot see it): the same churn across the block's end. With 30
    /// idle WETH in the Safe, SupplyCollateralWithCallback(minOut + 30 WETH) { Borrow, BuyCollateral } EndCallback,
    /// WithdrawCollateral(30 WETH) nets the honest boost but pays the premium on the idle WETH too: 0.0169 vs 0.0019
    /// WETH (8.9x), equity -80.1 USDC on a 16,773 USDC boost, just inside maxLossBps 50, so it was accepted. RebalanceLib
    /// now refuses it: a sub-account with a SupplyCollateralWithCallback in the plan withdraws no collateral
    /// (`ActionNotAllowed(4, WithdrawCollateral)`); nothing leaves the Safe; the honest boost then lands.
    function test_RevertWhen_FlashedSupplyWithdrawnAfterTheBlock() public {
        id = setPolicyFor(safe, _policy(true));
        _priceAt(4400e18);
        MarketState memory s = aaveAdapter.marketState(wethUsdc, safe);
        Swap memory x = _swapBlock(s, true);
        uint256 idle = 30e18;
        weth.mint(safe, idle);
        Action[] memory honest = x.plan.actions;
        Action[] memory a = new Action[](5);
        a[0] = action(ActionKind.SupplyCollateralWithCallback, 0, address(0), _minOutBuy(s, x.swapIn) + idle);
        (a[1], a[2], a[3]) = (honest[1], honest[2], honest[3]);
        a[4] = action(ActionKind.WithdrawCollateral, 0, address(0), idle);
        x.plan.actions = a;
        Holdings memory h = _holdingsOf();

        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, x.plan, keeperKey));

        assertFalse(ok, "refused (before the fix: accepted, the Safe paid 8.9x the premium)");
        _assertRefusedUnchanged(reason, abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 4, ActionKind.WithdrawCollateral), h);

        // The same withdrawal first, then the flash supply of minOut + what it freed: refused at the opener.
        a = new Action[](5);
        a[0] = action(ActionKind.WithdrawCollateral, 0, address(0), 2e18);
        a[1] = action(ActionKind.SupplyCollateralWithCallback, 0, address(0), _minOutBuy(s, x.swapIn) + 2e18);
        (a[2], a[3], a[4]) = (honest[1], honest[2], honest[3]);
        x.plan.actions = a;
        (ok, reason) = handle(keeperOp(safe, keeper, x.plan, keeperKey));
        assertFalse(ok, "refused in either order");
        assertEq(
            reason,
            abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 1, ActionKind.SupplyCollateralWithCallback),
            "exact error"
        );
        _assertUnchanged(h);

        // The honest flash-looped boost still lands.
        x.plan.actions = honest;
        _assertLands(x.plan);
    }

    /// @notice The repay side of the same break (review of issue 17): with idle USDC, a swap deleverage whose opener
    /// flash-repays its repayment plus D of idle USDC and borrows D back after the block (RepayWithCallback(r + D)
    /// { WithdrawCollateral, SellCollateral } EndCallback, Borrow(D)) pays the premium on D, which moves nowhere. A
    /// sub-account with a RepayWithCallback borrows nothing: `ActionNotAllowed(4, Borrow)` (a boost-enabled policy,
    /// so a plain borrow would be allowed); nothing leaves the Safe; the honest deleverage then lands.
    function test_RevertWhen_FlashedRepaymentReborrowedAfterTheBlock() public {
        id = setPolicyFor(safe, _policy(true));
        _priceAt(2400e18);
        MarketState memory s = aaveAdapter.marketState(wethUsdc, safe);
        Swap memory x = _swapBlock(s, false);
        uint256 idle = 5000e6;
        usdc.mint(safe, idle + 10e6); // D and what pays its premium
        Action[] memory honest = x.plan.actions;
        Action[] memory a = new Action[](5);
        a[0] = action(ActionKind.RepayWithCallback, 0, address(0), honest[0].amount + idle);
        (a[1], a[2], a[3]) = (honest[1], honest[2], honest[3]);
        a[4] = action(ActionKind.Borrow, 0, address(0), idle);
        x.plan.actions = a;
        Holdings memory h = _holdingsOf();

        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, x.plan, keeperKey));

        assertFalse(ok, "refused");
        _assertRefusedUnchanged(reason, abi.encodeWithSelector(ILeverageModule.ActionNotAllowed.selector, 4, ActionKind.Borrow), h);

        x.plan.actions = honest;
        _assertLands(x.plan);
    }

    /* REVIEW rev17b: the pool's premium changed by its admin, a reserve with no free liquidity */

    /// @dev The pool admin (this test contract, as in the fixture) sets FLASHLOAN_PREMIUM_TOTAL to `bps`.
    function _setPoolPremium(uint128 bps) internal {
        aaveConfigurator.updateFlashloanPremiumTotal(bps);
        assertEq(aavePool.FLASHLOAN_PREMIUM_TOTAL(), bps);
        premiumBps = bps;
    }

    /// @dev The honest swap deleverage sized for the pool's premium lands: the debt falls by the repayment and the
    /// Safe keeps exactly the sale's surplus over loan + premium (0 bps: no premium at all).
    function _deleverageAtPremium(uint128 bps) internal {
        _setPoolPremium(bps);
        id = setPolicyFor(safe, _policy(false));
        _priceAt(2400e18);
        MarketState memory s = aaveAdapter.marketState(wethUsdc, safe);
        Swap memory x = _swapBlock(s, false);
        uint256 debtBefore = variableDebt(usdc, safe);
        handleOk(keeperOp(safe, keeper, x.plan, keeperKey));
        assertApproxEqAbs(variableDebt(usdc, safe), debtBefore - x.venueAmount, 1, "the debt fell by the repayment");
        assertEq(usdc.balanceOf(safe), x.quoted - x.venueAmount - x.premium, "the sale's surplus over loan + premium stays");
        if (bps == 0) assertEq(x.premium, 0, "no premium");
        assertGe(aaveHealthFactor(safe), 1.2e18, "in the band");
        _assertRouterHoldsNothing();
    }

    function test_SwapDeleverage_OnAave_PremiumZero() public {
        _deleverageAtPremium(0);
    }

    function test_SwapDeleverage_OnAave_PremiumNine() public {
        _deleverageAtPremium(9);
    }

    /// @notice A plan sized for the 5 bps premium when the pool admin has raised it to 9 bps in between (the sale's
    /// output pays X + 5 bps, the router pulls X + 9 bps): the router names the shortfall,
    /// `ActionFailed(0, FlashRepaymentShort(safe, owed, held))`, before the token's own error; nothing leaves the Safe;
    /// the plan re-sized for 9 bps then lands.
    function test_RevertWhen_PremiumRaisedAfterSizing() public {
        id = setPolicyFor(safe, _policy(false));
        _priceAt(2400e18);
        MarketState memory s = aaveAdapter.marketState(wethUsdc, safe);
        Swap memory x = _swapBlock(s, false); // sized for 5 bps
        aaveConfigurator.updateFlashloanPremiumTotal(9);
        Holdings memory h = _holdingsOf();

        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, x.plan, keeperKey));

        assertFalse(ok, "refused");
        uint256 owed = x.venueAmount + (x.venueAmount * 9 + 5000) / 10_000;
        bytes memory inner = abi.encodeWithSelector(AaveFlashLoanRouter.FlashRepaymentShort.selector, safe, owed, x.quoted);
        _assertRefusedUnchanged(reason, abi.encodeWithSelector(ILeverageModule.ActionFailed.selector, 0, inner), h);

        premiumBps = 9;
        x = _swapBlock(s, false);
        _assertLands(x.plan);
    }

    /// @notice A swap deleverage when the USDC reserve's free liquidity (its aToken's USDC) is below the flash: Aave's
    /// flashLoanSimple fails inside the aToken's transfer with the token's raw error. The router names it,
    /// `ActionFailed(0, FlashLiquidityShort(usdc, amount, available))`; nothing leaves the Safe; once liquidity is back
    /// (the borrower repays) the same plan lands.
    function test_RevertWhen_FlashLiquidityShort() public {
        id = setPolicyFor(safe, _policy(false));
        _priceAt(2400e18);
        MarketState memory s = aaveAdapter.marketState(wethUsdc, safe);
        Swap memory x = _swapBlock(s, false);
        address aUsdc = reserve(usdc).aTokenAddress;
        address whale = makeAddr("whale");
        uint256 available = 1000e6;
        uint256 borrowed = usdc.balanceOf(aUsdc) - available;
        weth.mint(whale, 10_000e18);
        vm.startPrank(whale);
        weth.approve(address(aavePool), type(uint256).max);
        aavePool.supply(address(weth), 10_000e18, whale, 0);
        aavePool.borrow(address(usdc), borrowed, 2, 0, whale);
        vm.stopPrank();
        assertEq(usdc.balanceOf(aUsdc), available);
        assertGt(x.venueAmount, available);
        Holdings memory h = _holdingsOf();

        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, x.plan, keeperKey));

        assertFalse(ok, "refused");
        bytes memory inner =
            abi.encodeWithSelector(AaveFlashLoanRouter.FlashLiquidityShort.selector, address(usdc), x.venueAmount, available);
        _assertRefusedUnchanged(reason, abi.encodeWithSelector(ILeverageModule.ActionFailed.selector, 0, inner), h);

        usdc.mint(whale, 1000e6);
        vm.startPrank(whale);
        usdc.approve(address(aavePool), type(uint256).max);
        aavePool.repay(address(usdc), type(uint256).max, 2, whale);
        vm.stopPrank();
        _assertLands(x.plan);
    }

    /* THE ROUTER UNDER ATTACK */

    /// @notice Anyone calling `executeOperation` on the router directly is refused.
    function test_Router_RevertWhen_CallerIsNotThePool() public {
        vm.prank(attacker);
        vm.expectRevert(abi.encodeWithSelector(AaveFlashLoanRouter.FlashLoanCallerNotPool.selector, attacker));
        router.executeOperation(address(usdc), 1000e6, 0, address(router), abi.encode(safe, true, bytes("")));
    }

    /// @notice An attacker's own Aave flash loan with the router as receiver, naming the Safe as the account (to repay
    /// its debt and pull the loan back from it): refused, the loan unwinds, and the Safe is untouched.
    function test_Router_RevertWhen_LoanNotStartedByIt() public {
        MarketState memory s = aaveAdapter.marketState(wethUsdc, safe);
        vm.prank(attacker);
        vm.expectRevert(abi.encodeWithSelector(AaveFlashLoanRouter.FlashLoanNotStartedByRouter.selector, attacker));
        aavePool.flashLoanSimple(address(router), address(usdc), 1000e6, abi.encode(safe, true, bytes("")), 0);
        MarketState memory after_ = aaveAdapter.marketState(wethUsdc, safe);
        assertEq(after_.debt, s.debt);
        assertEq(after_.collateral, s.collateral);
        _assertRouterHoldsNothing();
    }

    /// @notice The router acts only for its caller: a Safe (its module as fallback handler) calling back is refused
    /// outside a rebalance, and the whole loan unwinds; a caller's repayment above its debt is capped at that debt.
    function test_Router_ActsOnlyForItsCaller() public {
        // The Safe calling the router outside a keeper operation (its owners could): the module's callback guard refuses.
        MarketState memory s = aaveAdapter.marketState(wethUsdc, safe);
        vm.prank(safe);
        vm.expectRevert(abi.encodeWithSelector(ILeverageModule.CallbackOutsideRebalance.selector, safe));
        router.flashWithCallback(address(usdc), 1000e6, true, "");
        MarketState memory after_ = aaveAdapter.marketState(wethUsdc, safe);
        assertEq(after_.debt, s.debt, "the Safe's debt is untouched");
        assertEq(usdc.allowance(safe, address(router)), 0);

        // A borrower of its own (this test contract) repaying more than its debt through the router.
        weth.mint(address(this), 1e18);
        weth.approve(address(aavePool), 1e18);
        aavePool.supply(address(weth), 1e18, address(this), 0);
        aavePool.borrow(address(usdc), 500e6, 2, 0, address(this));
        usdc.mint(address(this), 10e6);
        vm.roll(block.number + 1); // Aave refuses a repayment in the block of the borrow
        vm.warp(block.timestamp + 12);
        uint256 usdcBefore = usdc.balanceOf(address(this));
        router.flashWithCallback(address(usdc), 600e6, true, "owed");
        assertEq(IERC20(aavePool.getReserveData(address(usdc)).variableDebtTokenAddress).balanceOf(address(this)), 0);
        // Paid: the debt (500 and 12 s of interest) and the premium on it: the flash is capped at the debt.
        assertApproxEqAbs(usdc.balanceOf(address(this)), usdcBefore - 500e6 - _premium(500e6), 10, "debt + premium, nothing else");
        assertEq(callbacksSeen, 1);
        _assertRouterHoldsNothing();
    }

    /// @notice Break (review of issue 17): a flash-funded repayment above the caller's variable debt borrows the whole
    /// amount and charges the premium on all of it (the excess comes back at once, its premium does not): 600 USDC
    /// flashed against a 500 USDC debt costs 0.30 USDC instead of 0.25. With another debt reserve in the Safe's Aave
    /// account (or a borrow in the block) the sub-account stays in its band and the module only bounds this by
    /// maxLossBps. The router flashes at most the caller's variable debt.
    function test_Router_RepayFlashNeverExceedsTheDebt() public {
        weth.mint(address(this), 1e18);
        weth.approve(address(aavePool), 1e18);
        aavePool.supply(address(weth), 1e18, address(this), 0);
        aavePool.borrow(address(usdc), 500e6, 2, 0, address(this));
        usdc.mint(address(this), 10e6);
        vm.roll(block.number + 1);
        vm.warp(block.timestamp + 12);
        uint256 debt = variableDebt(usdc, address(this));
        uint256 usdcBefore = usdc.balanceOf(address(this));
        router.flashWithCallback(address(usdc), 600e6, true, "owed");
        assertEq(variableDebt(usdc, address(this)), 0, "debt cleared");
        assertEq(lastOwed, debt + _premium(debt), "owed: the debt and its premium (before the fix: 600 + premium on 600)");
        assertEq(usdc.balanceOf(address(this)), usdcBefore - debt - _premium(debt), "paid the debt and its premium only");
        _assertRouterHoldsNothing();
    }

    /// @notice The router's own check behind the module's rule (a caller other than the module, or a module rule
    /// gone): a callback that withdraws the collateral the flash just supplied is refused,
    /// `FlashedSupplyWithdrawn(account, balanceAfterSupply, balanceNow)`, and the whole loan unwinds.
    function test_Router_RevertWhen_FlashedSupplyWithdrawn() public {
        weth.mint(address(this), 3e18);
        weth.approve(address(aavePool), 1e18);
        aavePool.supply(address(weth), 1e18, address(this), 0);
        uint256 aWethBefore = aBalance(weth, address(this));
        vm.expectRevert(
            abi.encodeWithSelector(AaveFlashLoanRouter.FlashedSupplyWithdrawn.selector, address(this), aWethBefore + 2e18, aWethBefore)
        );
        router.flashWithCallback(address(weth), 2e18, false, "withdraw");
        assertEq(aBalance(weth, address(this)), aWethBefore, "collateral unchanged");
        assertEq(weth.balanceOf(address(this)), 2e18, "wallet unchanged");
        _assertRouterHoldsNothing();
    }

    /// @notice The router's own check behind the module's rule: a callback that borrows back what the flash just
    /// repaid is refused, `FlashedRepaymentReborrowed(account, debtAfterRepay, debtNow)`, and the whole loan unwinds.
    function test_Router_RevertWhen_FlashedRepaymentReborrowed() public {
        weth.mint(address(this), 1e18);
        weth.approve(address(aavePool), 1e18);
        aavePool.supply(address(weth), 1e18, address(this), 0);
        aavePool.borrow(address(usdc), 500e6, 2, 0, address(this));
        usdc.mint(address(this), 10e6);
        vm.roll(block.number + 1);
        vm.warp(block.timestamp + 12);
        uint256 debt = variableDebt(usdc, address(this));
        vm.expectRevert(
            abi.encodeWithSelector(AaveFlashLoanRouter.FlashedRepaymentReborrowed.selector, address(this), debt - 200e6, debt)
        );
        router.flashWithCallback(address(usdc), 200e6, true, "reborrow");
        assertEq(variableDebt(usdc, address(this)), debt, "debt unchanged");
        _assertRouterHoldsNothing();
    }

    uint256 internal callbacksSeen;
    uint256 internal lastOwed;

    /// @dev This contract as the router's caller: approves what it is told it owes; "withdraw" first takes back the
    /// 2 WETH the flash supplied, "reborrow" borrows back the 200 USDC it repaid.
    function onMorphoFlashLoan(uint256 assets, bytes calldata data) external {
        assertEq(msg.sender, address(router));
        ++callbacksSeen;
        lastOwed = assets;
        if (keccak256(data) == keccak256("withdraw")) {
            aavePool.withdraw(address(weth), 2e18, address(this));
            weth.approve(address(router), assets);
            return;
        }
        if (keccak256(data) == keccak256("reborrow")) aavePool.borrow(address(usdc), 200e6, 2, 0, address(this));
        else assertEq(data, bytes("owed"));
        usdc.approve(address(router), assets);
    }
}
