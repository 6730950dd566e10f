// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {MarketParams, Id, Position, Market} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ISwapRouter} from "@uniswap/v3-periphery/contracts/interfaces/ISwapRouter.sol";
import {SwapBase} from "../utils/SwapBase.sol";
import {TestToken} from "../utils/TestToken.sol";
import {YieldVault} from "../utils/YieldVault.sol";
import {SimOracle} from "../utils/SimOracle.sol";
import {ILeverageModule, Policy, EpochUsage, Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {SwapRequest} from "../../src/interfaces/ISwapAdapter.sol";

/// @notice One rule book: random policies, states and plans run through the real RebalanceLib (the module called the
/// way the EntryPoint calls it, on real Morpho Blue, Uniswap v3 and ERC-4626 pools) and through the SDK's TypeScript
/// rules (sdk/src/rules, `checkRebalanceRules`); every case must get the same verdict and the same named error with the
/// same arguments (`ActionFailed`: the same index; its revert data is the venue's). Each case is recorded ABI-encoded
/// (one hex line per case) to cache/rules-differential.txt; one `vm.ffi` call runs scripts/rules-differential.ts over
/// the file and returns the mismatches. Needs ffi: run it with FOUNDRY_PROFILE=differential (`npm run
/// test:differential`; RULES_DIFF_CASES sets the count, 300 by default).
contract RulesDifferentialTest is SwapBase {
    using MarketParamsLib for MarketParams;

    /// @dev What the rules read for one listed sub-account.
    struct SubCase {
        bytes32 id;
        Policy policy;
        MarketState state;
        EpochUsage usage;
        int256 feedAnswer;
        uint256 feedUpdatedAt;
        uint8 feedDecimals;
        uint8 loanDecimals;
        uint8 collateralDecimals;
        uint256 totalSupplyAssets;
        uint256 totalBorrowAssets;
        uint256 totalBorrowShares;
        uint256 borrowShares;
    }

    struct PoolCase {
        address pool;
        address asset;
        uint256 totalAssets;
        uint256 totalSupply;
        uint256 shares;
    }

    struct Case {
        uint256 index;
        Plan plan;
        SubCase[] subs;
        PoolCase[] pools;
        address[] tokens;
        uint256[] balances;
        address swapAdapter;
        uint256 timestamp;
        /// @dev Per action: a swap's real output (the same swaps run first from another account), else 0.
        uint256[] swapOutputs;
        /// @dev Per action: the swap's route cannot execute (no pool).
        bool[] swapFails;
        /// @dev Per action: the swap adapter's revert when it refuses to encode the swap (bad route, zero minimum).
        bytes[] swapAdapterErrors;
        bool ok;
        bytes revertData;
    }

    string internal constant FILE = "cache/rules-differential.txt";
    address internal swapper = makeAddr("swapper");
    uint256 internal rng;

    /// @dev Declares the case layout in the ABI so the TypeScript side decodes exactly it.
    function caseLayout(Case calldata) external pure {}

    function test_Differential_SameVerdictAsTheTypeScriptRules() public {
        // Needs ffi (FOUNDRY_PROFILE=differential): skipped in the default profile's run.
        vm.skip(!vm.envOr("RULES_DIFF", false));
        uint256 n = vm.envOr("RULES_DIFF_CASES", uint256(300));
        uint256 seed = vm.envOr("RULES_DIFF_SEED", uint256(0x5eed));
        if (vm.exists(FILE)) vm.removeFile(FILE);
        for (uint256 i; i < n; ++i) {
            uint256 snap = vm.snapshotState();
            // Storage (this contract's included) returns to the snapshot after each case: the stream restarts per case.
            rng = uint256(keccak256(abi.encode(seed, i)));
            // An external frame per case (its memory is freed when it returns); a world the fixture cannot build
            // (e.g. the Uniswap pool cannot be aligned) is skipped, not recorded.
            try this.runCase(i) {} catch {}

            vm.revertToStateAndDelete(snap);
        }
        string[] memory cmd = new string[](5);
        cmd[0] = "node_modules/.bin/tsx";
        cmd[1] = "--conditions=@levpilot/source";
        cmd[2] = "scripts/rules-differential.ts";
        cmd[3] = FILE;
        cmd[4] = "out/RulesDifferential.t.sol/RulesDifferentialTest.json";
        bytes memory report = vm.ffi(cmd);
        emit log_named_uint("cases", n);
        emit log_named_string("TypeScript rules", string(report));
        assertTrue(vm.indexOf(string(report), "mismatches 0 of ") == 0, string.concat("the TypeScript rules disagree with RebalanceLib: ", string(report)));
    }

    /* RANDOMNESS */

    function _rand() internal returns (uint256) {
        rng = uint256(keccak256(abi.encode(rng)));
        return rng;
    }

    function _below(uint256 n) internal returns (uint256) {
        return n == 0 ? 0 : _rand() % n;
    }

    function _chance(uint256 percent) internal returns (bool) {
        return _below(100) < percent;
    }

    /* ONE CASE */

    function runCase(uint256 index) external {
        require(msg.sender == address(this), "RulesDifferential: internal");
        _randomizeWorld();
        if (_chance(35)) _warmUp();
        _randomizeFeeds();
        Plan memory plan = _randomPlan();
        Case memory c = _record(index, plan);
        vm.prank(address(entryPoint));
        try ILeverageModule(safe).executeRebalance(keeper, plan) {
            c.ok = true;
        } catch (bytes memory reason) {
            c.revertData = reason;
        }
        vm.writeLine(FILE, vm.toString(abi.encode(c)));
    }

    function _randomizeWorld() internal {
        vm.warp(block.timestamp + _below(3 days));
        // Policies: band, boost, swaps, caps, loss bounds, pools, oracle bounds.
        wethId = setPolicy(_randomPolicy(wethMarket));
        wbtcId = setPolicy(_randomPolicy(wbtcMarket));
        // Prices: WETH's health from deep below the band to far above it; WBTC's from a move of its price.
        moveWethHealthTo(_chance(70) ? 0.9e18 + _below(0.4e18) : 1.3e18 + _below(0.8e18));
        wbtcOracle.setPrice(45_000e18 + _below(40_000e18));
        // Idle funds and pool deposits.
        if (_chance(60)) usdc.mint(safe, _below(20_000e6));
        if (_chance(40)) weth.mint(safe, _below(3e18));
        if (_chance(20)) wbtc.mint(safe, _below(0.2e8));
        if (_chance(60)) _deposit(usdcVault, 1 + _below(15_000e6));
        if (_chance(30)) _deposit(wethVault, 1 + _below(2e18));
    }

    function _deposit(YieldVault vault, uint256 assets) internal {
        depositToVault(safe, vault, assets);
    }

    function _randomPolicy(MarketParams memory params) internal returns (Policy memory policy) {
        policy = defaultPolicy(params, address(usdcVault));
        uint256 pools = _below(4);
        if (pools == 0) policy.pools = new address[](0);
        else if (pools >= 2 && params.collateralToken == address(weth)) {
            policy.pools = new address[](2);
            policy.pools[0] = address(usdcVault);
            policy.pools[1] = address(wethVault);
        }
        policy.minHealth = uint64(1.1e18 + _below(0.2e18));
        policy.targetHealth = uint64(policy.minHealth + 0.05e18 + _below(0.3e18));
        policy.maxHealth = uint64(policy.targetHealth + 0.05e18 + _below(0.5e18));
        policy.boostAllowed = _chance(40);
        policy.maxSlippageBps = uint16([0, 30, 50, 100][_below(4)]);
        policy.maxLossBps = uint16([0, 5, 50, 200, 10_000][_below(5)]);
        policy.maxEpochLossBps = uint16([0, 10, 100, 400, 10_000][_below(5)]);
        policy.cooldown = uint32([0, 0, 600, 1 days][_below(4)]);
        policy.epochLength = uint32([1 hours, 1 days, 7 days][_below(3)]);
        policy.maxRebalancesPerEpoch = uint16([0, 1, 2, 10][_below(4)]);
        policy.maxGasPerEpoch = _chance(10) ? 1 : 1e12;
        policy.maxAmountPerRebalance = uint128(_chance(20) ? _below(30_000e6) : type(uint128).max);
        policy.maxAmountPerEpoch = uint128(_chance(20) ? _below(60_000e6) : type(uint128).max);
        policy.maxOracleDeviationBps = uint16([0, 10, 100, 1000][_below(4)]);
        policy.maxOracleAge = uint32([60, 1 hours, 1 days][_below(3)]);
        if (_chance(10)) policy.minFeedAnswer = uint128(_below(100_000e8));
        if (_chance(10)) policy.maxFeedAnswer = uint128(policy.minFeedAnswer + 1 + _below(100_000e8));
        if (_chance(10)) {
            policy.priceFeed = address(0);
            policy.maxOracleDeviationBps = 0;
            policy.minFeedAnswer = 0;
            policy.maxFeedAnswer = 0;
        }
    }

    function _randomizeFeeds() internal {
        SimOracle[2] memory oracles = [wethOracle, wbtcOracle];
        for (uint256 k; k < 2; ++k) {
            SimOracle o = oracles[k];
            uint256 roll = _below(200);
            if (roll < 6) o.setFeed(int256(o.feedAnswer()), block.timestamp - _below(2 days), o.decimals()); // maybe stale
            else if (roll < 12) o.setFeed(int256(o.feedAnswer()) * int256(9_000 + _below(2_000)) / 10_000, block.timestamp, o.decimals());
            else if (roll < 14) o.setFeed(-int256(_below(2)), block.timestamp, o.decimals());
            else if (roll < 16) o.setFeed(int256(o.feedAnswer()), block.timestamp + 1 + _below(100), o.decimals()); // future
            else if (roll < 18) o.setVenuePrice(_chance(50) ? 0 : o.price() * (9_500 + _below(1_000)) / 10_000);
            else if (roll < 20) o.setFeed(int256(o.feedAnswer()), block.timestamp, uint8(30 + _below(10)));
        }
    }

    /// @dev A plan that often succeeds (repay from the pool toward the target), run for real to fill the epoch usage
    /// and the cooldown; then time moves on a little and the world shifts.
    function _warmUp() internal {
        Plan memory plan = _sensiblePlan();
        vm.prank(address(entryPoint));
        try ILeverageModule(safe).executeRebalance(keeper, plan) {} catch {}
        vm.warp(block.timestamp + _below(2 hours));
        moveWethHealthTo(0.9e18 + _below(1.2e18));
    }

    /* PLANS */

    function _randomPlan() internal returns (Plan memory plan) {
        uint256 shape = _below(100);
        if (shape < 30) return _mutate(_sensiblePlan());
        if (shape < 45) return _mutate(_swapPlan());
        // Random structure.
        uint256 subs = _below(100) < 70 ? 1 : 2;
        if (_chance(3)) subs = _chance(50) ? 0 : 9;
        plan.subAccounts = new bytes32[](subs);
        for (uint256 k; k < subs; ++k) {
            uint256 pick = _below(100);
            plan.subAccounts[k] = pick < 55 ? wethId : pick < 95 ? wbtcId : pick < 98 ? bytes32(_rand()) : plan.subAccounts[0];
        }
        if (subs == 2 && plan.subAccounts[0] == plan.subAccounts[1] && _chance(80)) plan.subAccounts[1] = plan.subAccounts[0] == wethId ? wbtcId : wethId;
        uint256 m = 1 + _below(6);
        if (_chance(2)) m = _chance(50) ? 0 : 33;
        plan.actions = new Action[](m);
        uint256 sub = subs == 0 ? 1 : subs;
        for (uint256 k; k < m; ++k) {
            plan.actions[k] = _randomAction(uint8(_below(sub)), plan.subAccounts.length == 0 ? wethId : plan.subAccounts[_min(_below(sub), subs - (subs == 0 ? 0 : 1))]);
        }
        // Callback blocks: wrap a random span in RepayWithCallback / SupplyCollateralWithCallback ... EndCallback.
        if (m >= 3 && _chance(40)) {
            uint256 open = _below(m - 2);
            uint256 close = open + 2 + _below(m - open - 2);
            plan.actions[open].kind = _chance(70) ? ActionKind.RepayWithCallback : ActionKind.SupplyCollateralWithCallback;
            plan.actions[open].pool = address(0);
            plan.actions[close] = action(ActionKind.EndCallback, plan.actions[open].subAccount, address(0), _chance(95) ? 0 : 1);
        }
    }

    function _min(uint256 a, uint256 b) internal pure returns (uint256) {
        return a < b ? a : b;
    }

    function _randomAction(uint8 sub, bytes32 id) internal returns (Action memory a) {
        a.subAccount = sub;
        // Callback kinds rarely (an unclosed block is MalformedPlan); EndCallback only closes blocks.
        a.kind = ActionKind(_chance(5) ? 8 + _below(2) : _below(8));
        bool wethSide = id == wethId;
        MarketState memory state = adapter.marketState(Id.unwrap((wethSide ? wethMarket : wbtcMarket).id()), safe);
        uint256 debtish = state.debt == 0 ? 1000e6 : state.debt;
        if (a.kind == ActionKind.WithdrawFromPool || a.kind == ActionKind.DepositToPool) {
            uint256 p = _below(10);
            a.pool = p < 6 ? address(usdcVault) : p < 9 ? address(wethVault) : address(uint160(_rand()));
            a.amount = a.pool == address(wethVault) ? _amount(2e18) : _amount(debtish / 2);
        } else if (a.kind == ActionKind.SellCollateral || a.kind == ActionKind.BuyCollateral) {
            a.pool = _chance(90) ? route(FEE_LOW) : address(0);
            a.amount = a.kind == ActionKind.SellCollateral ? _amount(state.collateral / 4) : _amount(debtish / 4);
        } else if (a.kind == ActionKind.SupplyCollateral || a.kind == ActionKind.WithdrawCollateral || a.kind == ActionKind.SupplyCollateralWithCallback) {
            a.amount = _amount(state.collateral / 3);
        } else {
            a.amount = _chance(15) ? state.debt + _below(2 * debtish) : _amount(debtish / 2); // repay past the debt
        }
        if (_chance(3)) a.pool = address(usdcVault); // a venue action naming a pool
    }

    /// @dev A random amount up to about `scale`: sometimes 0, sometimes dust.
    function _amount(uint256 scale) internal returns (uint256) {
        uint256 roll = _below(100);
        if (roll < 3) return 0;
        if (roll < 12) return 1 + _below(1000);
        return 1 + _below(scale + 1);
    }

    /// @dev WithdrawFromPool(x) + Repay(x) on the WETH sub-account toward its target (or a boost: Borrow + Supply).
    function _sensiblePlan() internal returns (Plan memory plan) {
        MarketState memory state = wethState();
        Policy memory policy = module.getPolicy(safe, wethId);
        uint256 value = Math.mulDiv(state.collateral, state.price, 1e36);
        uint256 wanted = Math.mulDiv(value, LLTV, policy.targetHealth);
        if (wanted < state.debt) {
            uint256 x = state.debt - wanted;
            plan = planOf(wethId, new Action[](2));
            plan.actions[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), x);
            plan.actions[1] = action(ActionKind.Repay, 0, address(0), x);
        } else {
            uint256 b = wanted - state.debt;
            plan = planOf(wethId, new Action[](2));
            plan.actions[0] = action(ActionKind.Borrow, 0, address(0), b);
            plan.actions[1] = action(ActionKind.DepositToPool, 0, address(usdcVault), b);
        }
        if (_chance(25)) {
            // Add the WBTC sub-account with a small repay from idle funds.
            Action[] memory actions = new Action[](plan.actions.length + 1);
            for (uint256 k; k < plan.actions.length; ++k) {
                actions[k] = plan.actions[k];
            }
            actions[plan.actions.length] = action(ActionKind.Repay, 1, address(0), _amount(3000e6));
            plan = plan2(wethId, wbtcId, actions);
        }
    }

    /// @dev A swap deleverage (RepayWithCallback { WithdrawCollateral, SellCollateral } EndCallback) toward the target,
    /// or a boost (Borrow, BuyCollateral, SupplyCollateral) from above the band.
    function _swapPlan() internal returns (Plan memory plan) {
        Policy memory policy = module.getPolicy(safe, wethId);
        MarketState memory state = wethState();
        if (state.debt == 0) return _sensiblePlan();
        uint256 h = Math.mulDiv(Math.mulDiv(state.collateral, state.price, 1e36), LLTV, state.debt);
        if (h < policy.targetHealth) {
            uint256 sold = collateralToSell(state, policy.targetHealth);
            if (sold == 0 || sold >= state.collateral) return _sensiblePlan();
            uint256 repaid = quoteExactIn(address(weth), address(usdc), FEE_LOW, sold);
            return deleveragePlan(wethId, repaid, sold, route(FEE_LOW));
        }
        uint256 value = Math.mulDiv(state.collateral, state.price, 1e36);
        uint256 borrowed = (value * LLTV - uint256(policy.targetHealth) * state.debt) / (policy.targetHealth - LLTV * 9_990 / 10_000);
        if (borrowed == 0) return _sensiblePlan();
        uint256 bought = quoteExactIn(address(usdc), address(weth), FEE_LOW, borrowed);
        Action[] memory actions = new Action[](3);
        actions[0] = action(ActionKind.Borrow, 0, address(0), borrowed);
        actions[1] = action(ActionKind.BuyCollateral, 0, route(FEE_LOW), borrowed);
        actions[2] = action(ActionKind.SupplyCollateral, 0, address(0), bought);
        plan = planOf(wethId, actions);
    }

    /// @dev Small perturbations: scale one amount, swap two actions, drop one, add a dust action.
    function _mutate(Plan memory plan) internal returns (Plan memory) {
        uint256 m = plan.actions.length;
        uint256 roll = _below(100);
        if (roll < 35) return plan;
        uint256 k = _below(m);
        if (roll < 70) {
            plan.actions[k].amount = Math.mulDiv(plan.actions[k].amount, 5_000 + _below(10_000), 10_000);
        } else if (roll < 80 && m >= 2) {
            plan.actions[k].amount = _chance(50) ? 1 : plan.actions[k].amount + 1 + _below(1000);
        } else if (roll < 90) {
            plan.actions[k].amount = plan.actions[k].amount + _below(plan.actions[k].amount / 5 + 1);
        } else {
            Action[] memory actions = new Action[](m + 1);
            for (uint256 j; j < m; ++j) {
                actions[j] = plan.actions[j];
            }
            actions[m] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), 1 + _below(500e6)); // idle withdrawal
            plan.actions = actions;
        }
        return plan;
    }

    /* RECORDING */

    function _record(uint256 index, Plan memory plan) internal returns (Case memory c) {
        c.index = index;
        c.plan = plan;
        c.subs = new SubCase[](plan.subAccounts.length);
        for (uint256 k; k < plan.subAccounts.length; ++k) {
            c.subs[k] = _sub(plan.subAccounts[k]);
        }
        c.pools = new PoolCase[](2);
        IERC4626[2] memory vaults = [IERC4626(address(usdcVault)), IERC4626(address(wethVault))];
        for (uint256 k; k < 2; ++k) {
            IERC4626 v = vaults[k];
            c.pools[k] = PoolCase(address(v), v.asset(), v.totalAssets(), v.totalSupply(), v.balanceOf(safe));
        }
        c.tokens = new address[](3);
        (c.tokens[0], c.tokens[1], c.tokens[2]) = (address(usdc), address(weth), address(wbtc));
        c.balances = new uint256[](3);
        for (uint256 k; k < 3; ++k) {
            c.balances[k] = IERC20(c.tokens[k]).balanceOf(safe);
        }
        c.swapAdapter = address(swapAdapter);
        c.timestamp = block.timestamp;
        (c.swapOutputs, c.swapFails) = _swapOutcomes(plan);
        c.swapAdapterErrors = _swapAdapterErrors(plan);
    }

    function _sub(bytes32 id) internal view returns (SubCase memory s) {
        s.id = id;
        s.policy = module.getPolicy(safe, id);
        s.usage = module.getEpochUsage(safe, id);
        if (s.policy.adapter == address(0)) return s;
        s.state = adapter.marketState(s.policy.market, safe);
        if (s.policy.priceFeed != address(0)) {
            SimOracle feed = SimOracle(s.policy.priceFeed);
            s.feedAnswer = feed.feedAnswer();
            s.feedUpdatedAt = feed.feedUpdatedAt();
            s.feedDecimals = feed.decimals();
        }
        s.loanDecimals = IERC20Metadata(s.state.loanToken).decimals();
        s.collateralDecimals = IERC20Metadata(s.state.collateralToken).decimals();
        Market memory market = morpho.market(Id.wrap(s.policy.market));
        s.totalSupplyAssets = market.totalSupplyAssets;
        s.totalBorrowAssets = market.totalBorrowAssets;
        s.totalBorrowShares = market.totalBorrowShares;
        s.borrowShares = morpho.position(Id.wrap(s.policy.market), safe).borrowShares;
    }

    /// @dev Per swap action, the revert of the swap adapter's `encodeSwap` for the request the module makes (empty: none).
    function _swapAdapterErrors(Plan memory plan) internal view returns (bytes[] memory errors) {
        errors = new bytes[](plan.actions.length);
        for (uint256 k; k < plan.actions.length; ++k) {
            Action memory a = plan.actions[k];
            if (a.kind != ActionKind.SellCollateral && a.kind != ActionKind.BuyCollateral) continue;
            if (a.subAccount >= plan.subAccounts.length) continue;
            Policy memory policy = module.getPolicy(safe, plan.subAccounts[a.subAccount]);
            if (policy.adapter == address(0)) continue;
            MarketState memory state = adapter.marketState(policy.market, safe);
            bool sell = a.kind == ActionKind.SellCollateral;
            uint256 fair = sell ? Math.mulDiv(a.amount, state.price, 1e36) : (state.price == 0 ? 0 : Math.mulDiv(a.amount, 1e36, state.price));
            uint256 minOut = Math.mulDiv(fair, 10_000 - policy.maxSlippageBps, 10_000, Math.Rounding.Ceil);
            try swapAdapter.encodeSwap(
                SwapRequest({
                    tokenIn: sell ? state.collateralToken : state.loanToken,
                    tokenOut: sell ? state.loanToken : state.collateralToken,
                    amountIn: a.amount,
                    minAmountOut: minOut,
                    account: safe,
                    route: bytes32(uint256(uint160(a.pool)))
                })
            ) {} catch (bytes memory reason) {
                errors[k] = reason;
            }
        }
    }

    /// @dev What only the chain knows about the plan's swaps: each swap's output, found by running the same swaps in
    /// plan order from another account on a snapshot (a swap whose route has no pool cannot execute).
    function _swapOutcomes(Plan memory plan) internal returns (uint256[] memory outputs, bool[] memory fails) {
        outputs = new uint256[](plan.actions.length);
        fails = new bool[](plan.actions.length);
        uint256 snap = vm.snapshotState();
        for (uint256 k; k < plan.actions.length; ++k) {
            Action memory a = plan.actions[k];
            if (a.kind != ActionKind.SellCollateral && a.kind != ActionKind.BuyCollateral) continue;
            if (a.subAccount >= plan.subAccounts.length || a.amount == 0) continue;
            Policy memory policy = module.getPolicy(safe, plan.subAccounts[a.subAccount]);
            if (policy.adapter == address(0)) continue;
            MarketState memory state = adapter.marketState(policy.market, safe);
            bool sell = a.kind == ActionKind.SellCollateral;
            (address tokenIn, address tokenOut) = sell ? (state.collateralToken, state.loanToken) : (state.loanToken, state.collateralToken);
            if (a.pool != route(FEE_LOW) || tokenIn == address(wbtc) || tokenOut == address(wbtc)) {
                fails[k] = true;
                continue;
            }
            TestToken(tokenIn).mint(swapper, a.amount);
            vm.startPrank(swapper);
            IERC20(tokenIn).approve(address(swapRouter), a.amount);
            try swapRouter.exactInputSingle(
                ISwapRouter.ExactInputSingleParams({
                    tokenIn: tokenIn,
                    tokenOut: tokenOut,
                    fee: FEE_LOW,
                    recipient: swapper,
                    deadline: block.timestamp,
                    amountIn: a.amount,
                    amountOutMinimum: 0,
                    sqrtPriceLimitX96: 0
                })
            ) returns (uint256 out) {
                outputs[k] = out;
            } catch {
                fails[k] = true;
            }
            vm.stopPrank();
        }
        vm.revertToStateAndDelete(snap);
    }
}
