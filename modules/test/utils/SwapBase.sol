// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IUniswapV3Pool} from "@uniswap/v3-core/contracts/interfaces/IUniswapV3Pool.sol";
import {MarketParams, Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {AttackBase} from "../attacks/AttackBase.sol";
import {ISafeTest} from "./Fixture.sol";
import {UniswapFixture} from "./UniswapFixture.sol";
import {LeverageModule} from "../../src/LeverageModule.sol";
import {UniswapV3SwapAdapter} from "../../src/adapters/UniswapV3SwapAdapter.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";

/// @notice The "no idle funds" trader on real Morpho Blue and real Uniswap v3: the attack suite's Safe (WETH and WBTC
/// positions) with its idle USDC and its pool deposit spent elsewhere, a WETH/USDC 0.05% pool with 20M USDC of spread
/// depth at the oracle price, the module deployed with a UniswapV3SwapAdapter (0.05% and 0.3% tiers, no hubs), and
/// the WETH policy allowing swaps (maxSlippageBps 50). `setUp` ends with the WETH sub-account at health 1.02 and the
/// pool aligned to the oracle.
abstract contract SwapBase is AttackBase, UniswapFixture {
    using MarketParamsLib for MarketParams;

    uint16 internal constant MAX_SLIPPAGE_BPS = 50;
    uint256 internal constant CRASH_HEALTH = 1.02e18;
    /// @dev The solver's estimate of fee + impact when sizing a swap (bps); the quote then sets the exact amounts.
    uint256 internal constant COST_ESTIMATE_BPS = 10;

    UniswapV3SwapAdapter internal swapAdapter;
    IUniswapV3Pool internal wethPool;

    function _deploySwapAdapter() internal virtual override returns (address) {
        swapAdapter = deployUniswapSwapAdapter();
        return address(swapAdapter);
    }

    function setUp() public virtual override {
        super.setUp();
        wethPool = createPoolAtOraclePrice(
            address(weth), address(usdc), FEE_LOW, wethOracle.price(), 20_000_000e6, defaultSpread()
        );
        // No idle loan token, no buffer: the borrowed USDC and the pool deposit were spent elsewhere.
        safeExec(safe, address(usdcVault), 0, abi.encodeCall(IERC4626.redeem, (usdcVault.balanceOf(safe), lender, safe)), 0);
        safeExec(safe, address(usdc), 0, abi.encodeCall(IERC20.transfer, (lender, usdc.balanceOf(safe))), 0);
        wethId = setPolicy(swapPolicy(wethMarket, false));
        moveWethHealthTo(CRASH_HEALTH);
    }

    /* SCENARIO */

    function swapPolicy(MarketParams memory params, bool boost) internal view returns (Policy memory policy) {
        policy = defaultPolicy(params, address(usdcVault));
        policy.maxSlippageBps = MAX_SLIPPAGE_BPS;
        policy.boostAllowed = boost;
        // A swap deleverage from health 1.02 sells about four times the equity, so a loss of maxSlippageBps of the swap
        // is about 4 x maxSlippageBps of equity: the epoch budget (bps of equity) is sized for two such rescues.
        policy.maxEpochLossBps = 400;
    }

    /// @dev Sets the WETH price so the WETH sub-account's health is `target`, and lets the arbitrageur align the pool.
    /// @dev Installs a second module on the Safe, as the callback suites do to put a test venue adapter in front of
    /// Morpho: a new LeverageModule (`venues`: its venue adapter allowlist; this suite's swap adapter), enabled on the
    /// Safe and set as its fallback handler (so venue callbacks reach it), then made `module`, with the default
    /// automation config, `keeper` (no fee, expiring in 30 days), the self-pay budget (SELF_PAY_BUDGET a day) and the
    /// WETH swap policy (`swapPolicy(wethMarket, false)`) naming `policyAdapter`, whose id becomes `wethId`. The first
    /// module stays enabled (its policies and data contracts remain). Returns the new module.
    function installModule(address[] memory venues, address policyAdapter) internal returns (LeverageModule second) {
        second = new LeverageModule(address(entryPoint), venues, address(swapAdapter));
        safeExec(safe, safe, 0, abi.encodeCall(ISafeTest.enableModule, (address(second))), 0);
        safeExec(safe, safe, 0, abi.encodeCall(ISafeTest.setFallbackHandler, (address(second))), 0);
        module = second;
        safeCall(abi.encodeCall(ILeverageModule.setAutomationConfig, (defaultAutomation())));
        safeCall(abi.encodeCall(ILeverageModule.addKeeper, (keeper, 0, uint48(block.timestamp + 30 days))));
        safeCall(abi.encodeCall(ILeverageModule.setSelfPayBudget, (SELF_PAY_BUDGET, 1 days)));
        Policy memory policy = swapPolicy(wethMarket, false);
        policy.adapter = policyAdapter;
        wethId = setPolicy(policy);
    }

    function moveWethHealthTo(uint256 target) internal {
        _dropWethHealthTo(target);
        alignPoolToPrice(wethPool, address(weth), wethOracle.price());
    }

    /// @dev Route word of a one-pool route at `fee`, as a plan carries it in `Action.pool`.
    function route(uint24 fee) internal view returns (address) {
        return address(uint160(uint256(swapAdapter.encodeRoute(fee, 0, 0))));
    }

    function wethState() internal view returns (MarketState memory) {
        return adapter.marketState(Id.unwrap(wethMarket.id()), safe);
    }

    /// @dev WETH to sell so that health reaches `target` at the oracle price if the swap loses COST_ESTIMATE_BPS:
    /// (C - c) P lltv = t (D - c P (1 - cost))  =>  c P = (t D - C P lltv) / (t (1 - cost) - lltv).
    function wethToSell(uint256 target) internal view returns (uint256) {
        return collateralToSell(wethState(), target);
    }

    function collateralToSell(MarketState memory state, uint256 target) internal pure returns (uint256) {
        uint256 value = Math.mulDiv(state.collateral, state.price, 1e36);
        uint256 soldValue =
            (target * state.debt - value * LLTV) / (target * (10_000 - COST_ESTIMATE_BPS) / 10_000 - LLTV);
        return Math.mulDiv(soldValue, 1e36, state.price);
    }

    /// @dev The swap deleverage to `target`: sells `sold` WETH and repays exactly the quoted output (QuoterV2, the
    /// pool's own code, in the current state).
    function swapDeleverage(uint256 target) internal returns (Plan memory plan, uint256 sold, uint256 repaid) {
        sold = wethToSell(target);
        repaid = quoteExactIn(address(weth), address(usdc), FEE_LOW, sold);
        plan = deleveragePlan(wethId, repaid, sold, route(FEE_LOW));
    }

    /// @dev RepayWithCallback(repaid) { WithdrawCollateral(sold), SellCollateral(sold, route) } EndCallback.
    function deleveragePlan(uint256 repaid, uint256 sold, address routeWord) internal view returns (Plan memory) {
        return deleveragePlan(wethId, repaid, sold, routeWord);
    }

    function deleveragePlan(bytes32 id, uint256 repaid, uint256 sold, address routeWord)
        internal
        pure
        returns (Plan memory plan)
    {
        Action[] memory actions = new Action[](4);
        actions[0] = action(ActionKind.RepayWithCallback, 0, address(0), repaid);
        actions[1] = action(ActionKind.WithdrawCollateral, 0, address(0), sold);
        actions[2] = action(ActionKind.SellCollateral, 0, routeWord, sold);
        actions[3] = action(ActionKind.EndCallback, 0, address(0), 0);
        plan = planOf(id, actions);
    }

    function planOf(bytes32 id, Action[] memory actions) internal pure returns (Plan memory plan) {
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = id;
        plan.actions = actions;
    }

    /// @dev USDC to borrow so that health falls to `target` if the bought WETH (less COST_ESTIMATE_BPS) is supplied:
    /// (C P + b (1 - cost)) lltv = t (D + b)  =>  b = (C P lltv - t D) / (t - lltv (1 - cost)).
    function usdcToBorrow(uint256 target) internal view returns (uint256) {
        MarketState memory state = wethState();
        uint256 value = Math.mulDiv(state.collateral, state.price, 1e36);
        return (value * LLTV - target * state.debt) / (target - LLTV * (10_000 - COST_ESTIMATE_BPS) / 10_000);
    }

    /// @dev A boost-enabled WETH policy at health 1.8, and the one-pass boost to 1.4: Borrow, BuyCollateral (0.05%),
    /// SupplyCollateral of exactly the quoted purchase.
    function boostFromHealth18() internal returns (Plan memory plan, uint256 borrowed, uint256 bought) {
        wethId = setPolicy(swapPolicy(wethMarket, true));
        moveWethHealthTo(1.8e18);
        borrowed = usdcToBorrow(1.4e18);
        bought = quoteExactIn(address(usdc), address(weth), FEE_LOW, borrowed);
        Action[] memory actions = new Action[](3);
        actions[0] = action(ActionKind.Borrow, 0, address(0), borrowed);
        actions[1] = action(ActionKind.BuyCollateral, 0, route(FEE_LOW), borrowed);
        actions[2] = action(ActionKind.SupplyCollateral, 0, address(0), bought);
        plan = planOf(wethId, actions);
    }

    /// @dev The minimum output the module computes for selling `amountIn` WETH at the oracle price.
    function minOutSelling(uint256 amountIn) internal view returns (uint256) {
        uint256 fair = Math.mulDiv(amountIn, wethOracle.price(), 1e36);
        return Math.mulDiv(fair, 10_000 - MAX_SLIPPAGE_BPS, 10_000, Math.Rounding.Ceil);
    }

    /* EXPECTATIONS */

    /// @dev One keeper operation through handleOps fails with exactly `err` and nothing of value leaves the Safe (but
    /// the gas it pays for itself).
    function expectOpFails(Plan memory plan, bytes memory err) internal {
        Holdings memory before = holdings(safe);
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok, "the keeper operation must fail");
        assertEq(reason, err, "exact revert reason");
        assertNothingLeftBut(before, maxCost(op));
        assertEq(weth.allowance(safe, address(swapRouter)), 0, "standing WETH approval to the router");
        assertEq(usdc.allowance(safe, address(swapRouter)), 0, "standing USDC approval to the router");
    }

    function actionFailed(uint256 index, bytes memory reason) internal pure returns (bytes memory) {
        return abi.encodeWithSignature("ActionFailed(uint256,bytes)", index, reason);
    }
}
