// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {MarketParams, Id, Position, Market, IMorphoBase} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC4626} from "@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol";
import {ISwapRouter} from "@uniswap/v3-periphery/contracts/interfaces/ISwapRouter.sol";
import {SwapBase} from "../utils/SwapBase.sol";
import {TestToken} from "../utils/TestToken.sol";
import {YieldVault} from "../utils/YieldVault.sol";
import {FeeVault} from "../utils/FeeVault.sol";
import {SimOracle} from "../utils/SimOracle.sol";
import {ILeverageModule, Policy, EpochUsage, Plan, Action, ActionKind, StopLoss} from "../../src/interfaces/ILeverageModule.sol";
import {MarketState} from "../../src/interfaces/IVenueAdapter.sol";
import {SwapRequest} from "../../src/interfaces/ISwapAdapter.sol";
import {RebalanceLib} from "../../src/libraries/RebalanceLib.sol";
import {HealthLib} from "../../src/libraries/HealthLib.sol";
import {ConstantsLib} from "../../src/libraries/ConstantsLib.sol";

/// @notice A hostile pool for the differential: an OpenZeppelin ERC-4626 vault whose `asset()` can be switched after a
/// policy allowed it (the module then meets a pool asset that is neither the loan nor a listed collateral token).
contract SwitchingAssetVault is ERC4626 {
    address public reportedAsset;

    constructor(IERC20 asset_) ERC20("Switching", "SWT") ERC4626(asset_) {}

    function switchAsset(address to) external {
        reportedAsset = to;
    }

    function asset() public view override returns (address) {
        return reportedAsset == address(0) ? super.asset() : reportedAsset;
    }
}

/// @notice One rule book: random policies, states and plans run through the real RebalanceLib (the module called the
/// way the EntryPoint calls it, on real Morpho Blue, Uniswap v3 and ERC-4626 pools) and through the SDK's TypeScript
/// rules (sdk/src/rules, `checkRebalanceRules`); every case must get the same verdict and the same named error with the
/// same arguments (`ActionFailed`: the same index; its revert data is the venue's). Each case is recorded ABI-encoded
/// (one hex line per case) to cache/rules-differential.txt; one `vm.ffi` call runs scripts/rules-differential.ts over
/// the file and returns the mismatches. Needs ffi: run it with FOUNDRY_PROFILE=differential (`npm run
/// test:differential`; RULES_DIFF_CASES sets the count, 3,000 by default, so `npm test` (and CI) reaches every named error (gated from 1,500 cases: 1,000 until the in-band kinds; review rr11q Q3); RULES_DIFF_SEED the seed; RULES_DIFF_FIRST
/// the first case index, to replay one case).
///
/// Case mix: a quarter random worlds and plans (any policy, oracle faults, random structure; mostly refused), almost
/// half calm worlds with a plan built to be accepted (pool, idle, collateral and swap rescues, parked and swap boosts,
/// a rescue padded with a not-due move, health-neutral ones included, a not-due WETH sub-account handing collateral to a
/// due one on a second WETH market, a cap-bound rescue honest, padded or mixed (a pool repayment and a sale, rr13w W1)
/// with its net move 98.5-100.5 % of the per-rebalance cap, an in-band rescue under `rescueBelowTarget` (issue 13)), and the rest calm worlds
/// with one change aimed at one named error of the rule book (and at the in-band rescue: a landing just outside its zone,
/// the flag off, the empty zone); random policies draw `rescueBelowTarget` half the time. Over 1,500 cases or more every
/// named error must appear (`missing none` in the report) and every in-band case kind its verdict (`in-band gaps none`). In FEE_SHARE % of cases
/// (any kind) the USDC and WETH pool slots hold OpenZeppelin ERC4626Fees-style vaults (`FeeVault`: entry fee, exit fee or
/// both, 0-500 bps each), and the TypeScript side gets the fees as the keeper reads them from the vaults' answers.
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
        /// @dev The owner's stop-loss (module.getStopLoss), drawn by `_maybeStops`.
        StopLoss stop;
    }

    struct PoolCase {
        address pool;
        address asset;
        uint256 totalAssets;
        uint256 totalSupply;
        uint256 shares;
        /// @dev The keeper's fee reads at the same block (sdk validateRebalance): convertToAssets and previewRedeem of
        /// totalSupply (exit fee, `poolFeeBpsOf`), convertToShares and previewDeposit of totalAssets (entry fee,
        /// `poolEntryFeeBpsOf`); 0 when the call reverts.
        uint256 grossAssets;
        uint256 netAssets;
        uint256 grossShares;
        uint256 netShares;
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
        /// @dev The in-band rescue cases (issue 13, `Policy.rescueBelowTarget`) by kind (`_inBandTag`, `_aimInBand`,
        /// `_inBandRescue`), "" otherwise: the TypeScript side reports their verdicts per tag.
        string tag;
    }

    string internal constant FILE = "cache/rules-differential.txt";
    /// @dev Cases whose world the fixture could not build: index and revert data, one a line (counted in the report).
    string internal constant SKIPPED = "cache/rules-differential-skipped.txt";
    address internal swapper = makeAddr("swapper");
    uint256 internal rng;
    /// @dev The case's in-band rescue tag (`Case.tag`); storage, so it returns to "" with the per-case snapshot.
    string internal caseTag;

    /// @dev Declares the case layout in the ABI so the TypeScript side decodes exactly it.
    function caseLayout(Case calldata) external pure {}

    function test_Differential_SameVerdictAsTheTypeScriptRules() public {
        // Needs ffi (FOUNDRY_PROFILE=differential): skipped in the default profile's run.
        vm.skip(!vm.envOr("RULES_DIFF", false));
        uint256 n = vm.envOr("RULES_DIFF_CASES", uint256(3000));
        uint256 seed = vm.envOr("RULES_DIFF_SEED", uint256(0x5eed));
        if (vm.exists(FILE)) vm.removeFile(FILE);
        if (vm.exists(SKIPPED)) vm.removeFile(SKIPPED);
        uint256 first = vm.envOr("RULES_DIFF_FIRST", uint256(0));
        for (uint256 i = first; i < first + n; ++i) {
            uint256 snap = vm.snapshotState();
            // Storage (this contract's included) returns to the snapshot after each case: the stream restarts per case.
            rng = uint256(keccak256(abi.encode(seed, i)));
            // An external frame per case (its memory is freed when it returns); a world the fixture cannot build
            // (e.g. the Uniswap pool cannot be aligned) is skipped, not recorded.
            try this.runCase(i) {}
            catch (bytes memory reason) {
                vm.writeLine(SKIPPED, string.concat(vm.toString(i), " ", vm.toString(reason)));
            }

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
        // The case mix aims at every named error of the rule book: a long run must reach each one. From 1,500 cases: with
        // issue 13's in-band kinds in the mix (d50) a run of 1,000 at the default seed missed one (SubAccountUnchanged).
        if (n >= 1500) {
            assertTrue(vm.contains(string(report), "missing none"), string.concat("a named error of the rule book was never reached: ", string(report)));
            // Issue 13's in-band rescue: each tag (`Case.tag`) met its expected verdict (scripts/rules-differential.ts).
            assertTrue(vm.contains(string(report), "in-band gaps none"), string.concat("an in-band rescue case kind missed its verdict: ", string(report)));
        }
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

    /* WORLD */

    /// @dev A market lending WETH against WBTC: listed next to a USDC market it is MixedLoanTokens.
    bytes32 internal mixedId;
    /// @dev A USDC pool with fewer shares than MIN_POOL_SUPPLY (a deposit into it is PoolUnhealthy).
    YieldVault internal tinyVault;
    /// @dev A USDC pool whose reported asset switches to wstETH after a policy allowed it (PoolAssetMismatch).
    SwitchingAssetVault internal switchVault;
    /// @dev A second USDC market on WETH collateral (same oracle, lltv LLTV2): a due WETH sub-account a not-due one can
    /// hand collateral to (`_donorRescue`, the shape that still reaches HealthDecreased since row 73).
    MarketParams internal weth2Market;
    bytes32 internal weth2Id;
    uint256 internal constant LLTV2 = 0.77e18;
    /// @dev The fixture's fee-free pools, and the fee-charging ones that take their slots in FEE_SHARE % of cases.
    YieldVault internal plainUsdcVault;
    YieldVault internal plainWethVault;
    FeeVault internal usdcFeeVault;
    FeeVault internal wethFeeVault;
    uint256 internal constant FEE_SHARE = 30;
    /// @dev Largest fee drawn per side, bps.
    uint256 internal constant MAX_FEE_BPS = 500;

    function setUp() public override {
        super.setUp();
        SimOracle wbtcInWeth = new SimOracle(18, 8, 8);
        wbtcInWeth.setPrice(20e18);
        MarketParams memory mixed = MarketParams({loanToken: address(weth), collateralToken: address(wbtc), oracle: address(wbtcInWeth), irm: address(0), lltv: LLTV});
        morpho.createMarket(mixed);
        mixedId = setPolicy(defaultPolicy(mixed, address(0)));
        tinyVault = new YieldVault(usdc, "Tiny USDC", "tUSDC");
        _seedVault(tinyVault, usdc, 1000);
        switchVault = new SwitchingAssetVault(usdc);
        weth2Market = _createMarket(address(weth), address(wethOracle), LLTV2, 10_000_000e6);
        usdc.mint(lender, 1000e6);
        vm.startPrank(lender);
        usdc.approve(address(switchVault), 1000e6);
        switchVault.deposit(1000e6, lender);
        vm.stopPrank();
        (plainUsdcVault, plainWethVault) = (usdcVault, wethVault);
        address feeRecipient = makeAddr("feeRecipient");
        usdcFeeVault = new FeeVault(usdc, "Fee USDC", "fUSDC", feeRecipient);
        wethFeeVault = new FeeVault(weth, "Fee WETH", "fWETH", feeRecipient);
        _seedVault(usdcFeeVault, usdc, 1000e6);
        _seedVault(wethFeeVault, weth, 1e18);
    }

    /// @dev In FEE_SHARE % of cases the USDC and WETH pool slots take the fee vaults, each charging an entry fee, an
    /// exit fee or both (0-MAX_FEE_BPS bps). Drawn from a hash of the case's stream without advancing it, so the rest of
    /// the case is drawn as without fees.
    function _maybeFeeVaults() internal {
        uint256 r = uint256(keccak256(abi.encode(rng, "fees")));
        if (r % 100 >= FEE_SHARE) return;
        r >>= 8;
        FeeVault[2] memory vaults = [usdcFeeVault, wethFeeVault];
        for (uint256 k; k < 2; ++k) {
            uint256 sides = r % 3; // 0 entry, 1 exit, 2 both
            uint256 entry = sides == 1 ? 0 : (r >> 8) % (MAX_FEE_BPS + 1);
            uint256 exit = sides == 0 ? 0 : (r >> 24) % (MAX_FEE_BPS + 1);
            vaults[k].setFees(entry, exit);
            r = uint256(keccak256(abi.encode(r)));
        }
        (usdcVault, wethVault) = (usdcFeeVault, wethFeeVault);
    }

    /// @dev Stop-losses (docs/stop-loss-exit.md): in STOP_SHARE % of cases each listed sub-account with a policy gets a
    /// stop drawn engaged (at or above its venue price), inside the re-arm hysteresis, or disengaged (below the price),
    /// with an exit health from maxHealth + MIN_BAND_GAP up to about 3 above it (at most MAX_EXIT_HEALTH). Drawn from a
    /// hash of the case's stream without advancing it, after the plan is built, so the rest of the case is as without.
    uint256 internal constant STOP_SHARE = 35;

    function _maybeStops(Plan memory plan) internal {
        uint256 r = uint256(keccak256(abi.encode(rng, "stops")));
        if (r % 100 >= STOP_SHARE) return;
        for (uint256 k; k < plan.subAccounts.length; ++k) {
            r = uint256(keccak256(abi.encode(r)));
            bytes32 id = plan.subAccounts[k];
            Policy memory p = module.getPolicy(safe, id);
            if (p.adapter == address(0) || r % 4 == 0) continue;
            uint256 price;
            try adapter.marketState(p.market, safe) returns (MarketState memory state) {
                price = state.price;
            } catch {
                continue;
            }
            uint256 kind = (r >> 8) % 5;
            uint256 stopPrice = kind == 0 ? price : kind == 1 ? price * (10_000 + (r >> 16) % 3000) / 10_000 : kind == 2
                ? price * 10_000 / (10_000 + (r >> 16) % (uint256(p.maxOracleDeviationBps) + 1)) : kind == 3
                ? price * 10_000 / (10_000 + p.maxOracleDeviationBps) : price / 2;
            uint256 exitHealth = uint256(p.maxHealth) + 0.01e18 + (r >> 40) % 3e18;
            if (exitHealth > 10e18) exitHealth = 10e18;
            if (stopPrice == 0) continue; // only a venue price of 1 (kind 4) gives 0, which a stop cannot hold
            // No silent skip of large prices (review rr13s S1): every drawn stop must fit the stored uint192.
            require(stopPrice <= type(uint192).max, "stop price draw exceeds uint192");
            vm.prank(safe);
            try ILeverageModule(safe).setStopLoss(id, uint192(stopPrice), uint64(exitHealth)) {} catch {}
        }
    }

    /* ONE CASE */

    /// @dev Case mix (percent): random worlds and plans (broad, mostly refused), calm worlds with a plan built to be
    /// accepted, and calm worlds with one change aimed at one named error (each error the rules can raise is aimed at).
    uint256 internal constant RANDOM_SHARE = 25;
    uint256 internal constant CALM_SHARE = 45;

    function runCase(uint256 index) external {
        require(msg.sender == address(this), "RulesDifferential: internal");
        _maybeFeeVaults();
        Plan memory plan;
        uint256 roll = _below(100);
        if (roll < RANDOM_SHARE) {
            _randomizeWorld();
            if (_chance(35)) _warmUp();
            _randomizeFeeds();
            plan = _randomPlan();
            _inBandTag(plan);
        } else if (roll < RANDOM_SHARE + CALM_SHARE) {
            plan = _calmCase(_below(SHAPES), _below(2) == 0 ? TOWARD : _below(5));
            if (plan.actions.length > 0 && _chance(10)) plan = _mutate(plan);
        } else {
            plan = _aimedCase(_below(AIMS));
        }
        _maybeStops(plan);
        Case memory c = _record(index, plan);
        c.tag = caseTag;
        vm.prank(address(entryPoint));
        try ILeverageModule(safe).executeRebalance(keeper, plan) {
            c.ok = true;
        } catch (bytes memory reason) {
            c.revertData = reason;
        }
        vm.writeLine(FILE, vm.toString(abi.encode(c)));
    }

    /* CALM CASES: policies that allow the plan, a state it is built for (so a good share is accepted) */

    uint256 internal constant POOL_REPAY = 0;
    uint256 internal constant IDLE_REPAY = 1;
    uint256 internal constant SUPPLY_COLLATERAL = 2;
    uint256 internal constant SWAP_DELEVERAGE = 3;
    uint256 internal constant PARKED_BOOST = 4;
    uint256 internal constant SWAP_BOOST = 5;
    /// @dev WBTC (due) rescued from the pool or idle funds, WETH (in band, not due) moved as `move` says.
    uint256 internal constant PADDED_RESCUE = 6;
    /// @dev WETH due below its band, its maxAmountPerRebalance set around the step's net move (`_capBoundRescue`).
    uint256 internal constant CAP_BOUND = 7;
    /// @dev WETH inside its band below its target under rescueBelowTarget, rescued into its landing zone (`_inBandRescue`).
    uint256 internal constant IN_BAND_RESCUE = 8;
    /// @dev WETH far above its band (boosts allowed), a parked boost with maxAmountPerRebalance set around its borrow
    /// (`_capBoundBoost`; issue 13, stop 65, review rv65b F3).
    uint256 internal constant CAP_BOUND_BOOST = 9;
    /// @dev WETH inside its band below its target under rescueBelowTarget, a step with maxAmountPerRebalance set around
    /// its move (`_capBoundInBand`; issue 13, stop 66).
    uint256 internal constant CAP_BOUND_IN_BAND = 10;
    uint256 internal constant SHAPES = 11;

    /// @dev How the not-due WETH sub-account of a PADDED_RESCUE moves: toward its target (allowed), past it, away
    /// from it (a boost-allowed borrow), or down toward it without boosts (a swap deleverage repaying too little).
    uint256 internal constant TOWARD = 0;
    uint256 internal constant CROSS = 1;
    uint256 internal constant FURTHER = 2;
    uint256 internal constant DECREASE = 3;
    /// @dev A health-neutral shrink (health up a hair, toward the target) whose net change is 50-300 % of the
    /// sub-account's distance to its target: accepted inside the distance, NotDueMoveExceedsDistance beyond it.
    uint256 internal constant NEUTRAL = 4;
    /// @dev Always the donor shape of a DECREASE (`_donorRescue`); calm cases draw DECREASE, which is the donor shape
    /// three times in four and the parked shrink (DepositNotFunded since row 73) otherwise.
    uint256 internal constant DONOR = 5;

    function _calmPolicy(MarketParams memory params, bool boost) internal returns (Policy memory policy) {
        policy = defaultPolicy(params, address(usdcVault));
        if (params.collateralToken == address(weth)) {
            policy.pools = new address[](2);
            (policy.pools[0], policy.pools[1]) = (address(usdcVault), address(wethVault));
        }
        policy.minHealth = uint64(1.1e18 + _below(0.2e18));
        policy.targetHealth = uint64(policy.minHealth + 0.1e18 + _below(0.3e18));
        policy.maxHealth = uint64(policy.targetHealth + 0.1e18 + _below(0.5e18));
        policy.boostAllowed = boost;
        policy.maxSlippageBps = uint16([30, 50, 100][_below(3)]);
        policy.maxLossBps = uint16([50, 200, 10_000][_below(3)]);
        policy.maxEpochLossBps = uint16([400, 10_000][_below(2)]);
        policy.cooldown = uint32([0, 600, 1 hours][_below(3)]);
        policy.epochLength = uint32([1 hours, 1 days, 7 days][_below(3)]);
        policy.maxRebalancesPerEpoch = uint16([2, 10][_below(2)]);
        policy.maxGasPerEpoch = 1e12;
        policy.maxOracleDeviationBps = uint16([100, 1000][_below(2)]);
        policy.maxOracleAge = uint32([1 hours, 1 days][_below(2)]);
    }

    function _calmCase(uint256 shape, uint256 move) internal returns (Plan memory plan) {
        vm.warp(block.timestamp + 1 days + _below(3 days));
        bool boost = shape == PARKED_BOOST || shape == SWAP_BOOST || (shape == PADDED_RESCUE && move == FURTHER)
            || (move == TOWARD && _chance(30)) || (shape == CAP_BOUND && _chance(50)) || shape == CAP_BOUND_BOOST;
        if (shape == PADDED_RESCUE && (move == DECREASE || move == DONOR)) boost = false;
        wethId = setPolicy(_calmPolicy(wethMarket, boost));
        wbtcId = setPolicy(_calmPolicy(wbtcMarket, false));
        // Fresh feed answers after the warp (whole USDC per token, 1e18: the 1e36 base-unit price over 1e6 / 1e16).
        wethOracle.setPrice(wethOracle.price() / 1e6);
        wbtcOracle.setPrice(wbtcOracle.price() / 1e16);
        if (shape != PADDED_RESCUE && _chance(25)) {
            // Fill the epoch usage with an executed rescue, then let its cooldown pass.
            Plan memory first = _calmPlan(POOL_REPAY, TOWARD);
            vm.prank(address(entryPoint));
            try ILeverageModule(safe).executeRebalance(keeper, first) {} catch {}
            vm.warp(block.timestamp + 1 hours + 1 + _below(1 hours));
        }
        plan = shape == SWAP_DELEVERAGE && _chance(40) ? _stopExit() : _calmPlan(shape, move);
    }

    function _calmPlan(uint256 shape, uint256 move) internal returns (Plan memory plan) {
        if (shape == PADDED_RESCUE) return _paddedRescue(move);
        if (shape == CAP_BOUND) return _capBoundRescue();
        if (shape == IN_BAND_RESCUE) return _inBandRescue();
        if (shape == CAP_BOUND_BOOST) return _capBoundBoost();
        if (shape == CAP_BOUND_IN_BAND) return _capBoundInBand();
        Policy memory p = module.getPolicy(safe, wethId);
        bool up = shape == PARKED_BOOST || shape == SWAP_BOOST;
        _wethHealthTo(up ? p.maxHealth + 0.02e18 + _below(0.5e18) : 1.01e18 + _below(p.minHealth - 1.02e18));
        return _planInto(shape);
    }

    /// @dev The WETH sub-account moved 20-80 % into its landing zone by `shape` (POOL_REPAY to SWAP_BOOST).
    function _planInto(uint256 shape) internal returns (Plan memory plan) {
        Policy memory p = module.getPolicy(safe, wethId);
        MarketState memory s = wethState();
        (uint256 low, uint256 high) = RebalanceLib.landingZone(_healthOf(s), p.minHealth, p.targetHealth, p.maxHealth);
        uint256 h = low + Math.mulDiv(high - low, 20 + _below(60), 100);
        if (shape == POOL_REPAY) {
            uint256 x = _repayTo(s, h);
            depositToVault(safe, usdcVault, x + _below(x));
            plan = plan1(wethId, action(ActionKind.WithdrawFromPool, 0, address(usdcVault), x), action(ActionKind.Repay, 0, address(0), x));
        } else if (shape == IDLE_REPAY) {
            uint256 x = _repayTo(s, h);
            usdc.mint(safe, x + _below(x));
            plan = planOf(wethId, _one(action(ActionKind.Repay, 0, address(0), x)));
        } else if (shape == SUPPLY_COLLATERAL) {
            uint256 c = Math.mulDiv(Math.mulDiv(h, s.debt, LLTV), 1e36, s.price) - s.collateral;
            weth.mint(safe, c + _below(c));
            plan = planOf(wethId, _one(action(ActionKind.SupplyCollateral, 0, address(0), c)));
        } else if (shape == SWAP_DELEVERAGE) {
            (plan,,) = swapDeleverage(h);
            // Issue 13: half of them in the sale-minimum repayment mode, bringing a random part of the quoted output
            // besides the sale's minimum (so some land, some repay past the zone or short of it).
            if (_chance(50)) {
                plan.actions[0].pool = address(uint160(ConstantsLib.REPAY_PLUS_SALE_MINIMUMS));
                plan.actions[0].amount = _below(plan.actions[0].amount / 100 + 1);
            }
        } else if (shape == PARKED_BOOST) {
            uint256 b = Math.mulDiv(Math.mulDiv(s.collateral, s.price, 1e36), LLTV, h) - s.debt;
            plan = plan1(wethId, action(ActionKind.Borrow, 0, address(0), b), action(ActionKind.DepositToPool, 0, address(usdcVault), b));
        } else {
            uint256 borrowed = usdcToBorrow(h);
            uint256 bought = quoteExactIn(address(usdc), address(weth), FEE_LOW, borrowed);
            Action[] memory actions = new Action[](3);
            actions[0] = action(ActionKind.Borrow, 0, address(0), borrowed);
            actions[1] = action(ActionKind.BuyCollateral, 0, route(FEE_LOW), borrowed);
            actions[2] = action(ActionKind.SupplyCollateral, 0, address(0), bought);
            plan = planOf(wethId, actions);
        }
    }

    /// @dev The in-band rescue (issue 13, `Policy.rescueBelowTarget`): WETH's flag set, its health drawn inside its band
    /// below its target where the landing zone [max(target, before + (target - min) / 2), target + (max - target) / 2]
    /// is at least MIN_BAND_GAP wide (`_inBandStart`), then a pool or idle repayment, a collateral supply or a swap
    /// deleverage 20-80 % into the zone (built to be accepted).
    function _inBandRescue() internal returns (Plan memory plan) {
        caseTag = "calm rescue";
        _setPolicyField(wethId, FIELD_RESCUE, 1);
        _wethHealthTo(_inBandStart(module.getPolicy(safe, wethId)));
        return _planInto(_below(SWAP_DELEVERAGE + 1));
    }

    /// @dev A health in [minHealth, target - 0.005] whose in-band landing zone is at least 0.01 wide: at most
    /// target + (max - target) / 2 - (target - min) / 2 - 0.01 (calm bands: never below minHealth).
    function _inBandStart(Policy memory p) internal returns (uint256) {
        uint256 lower = p.targetHealth - p.minHealth;
        uint256 top = Math.min(p.targetHealth - 0.005e18, p.targetHealth + (p.maxHealth - p.targetHealth) / 2 - lower / 2 - 0.01e18);
        return p.minHealth + _below(top - p.minHealth + 1);
    }

    /// @dev Tags a random world (`Case.tag`) whose plan lists a sub-account under rescueBelowTarget inside its band below
    /// its target (due by the flag alone).
    function _inBandTag(Plan memory plan) internal {
        for (uint256 k; k < plan.subAccounts.length; ++k) {
            Policy memory p = module.getPolicy(safe, plan.subAccounts[k]);
            if (!p.rescueBelowTarget || p.adapter == address(0)) continue;
            MarketState memory s;
            try adapter.marketState(p.market, safe) returns (MarketState memory state) {
                s = state;
            } catch {
                continue;
            }
            uint256 health = _healthOf(s);
            if (health >= p.minHealth && health < p.targetHealth) {
                caseTag = "random rescue";
                return;
            }
        }
    }

    /// @dev Sub-account 0: WBTC below its band, repaid into its landing zone (from the pool or idle USDC). Sub-account
    /// 1: WETH inside its band, moved as `move` says.
    function _paddedRescue(uint256 move) internal returns (Plan memory plan) {
        if (move == DONOR || (move == DECREASE && _chance(75))) return _donorRescue();
        Policy memory pw = module.getPolicy(safe, wethId);
        Policy memory pb = module.getPolicy(safe, wbtcId);
        bool above = move == DECREASE || (move == TOWARD && pw.boostAllowed && _chance(50));
        _wethHealthTo(
            above
                ? pw.targetHealth + 0.01e18 + _below(pw.maxHealth - pw.targetHealth - 0.02e18)
                : pw.minHealth + 0.01e18 + _below(pw.targetHealth - pw.minHealth - 0.02e18)
        );
        _setWbtcHealth(1.01e18 + _below(pb.minHealth - 1.02e18));
        MarketState memory sb = _wbtcState();
        (uint256 low, uint256 high) = RebalanceLib.landingZone(_healthOf(sb), pb.minHealth, pb.targetHealth, pb.maxHealth);
        uint256 x = _repayTo(sb, low + Math.mulDiv(high - low, 20 + _below(60), 100));
        Action[] memory wethActions = _notDueMove(move, pw, x);
        if (move == TOWARD && pw.boostAllowed && _chance(40)) wethActions = _withChurn(wethActions);
        bool fromPool = wethActions.length == 1 && wethActions[0].kind == ActionKind.Repay && _chance(50);
        Action[] memory actions = new Action[](wethActions.length + (fromPool ? 2 : 1));
        if (fromPool) {
            // One withdrawal pays both repayments.
            uint256 w = x + wethActions[0].amount;
            depositToVault(safe, usdcVault, w + _below(w));
            actions[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), w);
            actions[1] = action(ActionKind.Repay, 0, address(0), x);
            actions[2] = wethActions[0];
        } else {
            usdc.mint(safe, x + _below(x));
            actions[0] = action(ActionKind.Repay, 0, address(0), x);
            for (uint256 k; k < wethActions.length; ++k) {
                actions[1 + k] = wethActions[k];
            }
        }
        plan = plan2(wbtcId, wethId, actions);
    }

    /// @dev The cap-bound rescue (issue 13, SECURITY.md rows 127 and 130; review rr13v): WETH due below its band (1.01 to
    /// minHealth - 0.02), its maxAmountPerRebalance set so the step's NET move is 98.5-100.5 % of it (both sides of the
    /// 99 % edge and of the cap). Honest (no boosts, or 40 % of boost-allowed cases): a pool repayment (70 %) or a swap
    /// deleverage gaining 0.005-0.155 health (below MIN_BAND_GAP, below the band, into it). Padded (60 % of boost-allowed
    /// cases; rr13v's shape): repay R from the pool, withdraw W of WETH collateral and supply it to the second WETH market
    /// (a not-due sub-account inside its band, moved 20-80 % toward its target), R + W x price the net move M, landing
    /// +0.0102-0.0302: M is what a repayment alone would need for 1-2 times that gain, so the honest move for the landing
    /// (about gain x debt / lltv) falls on both sides of 99 % of the cap.
    function _capBoundRescue() internal returns (Plan memory plan) {
        Policy memory p = module.getPolicy(safe, wethId);
        _wethHealthTo(1.01e18 + _below(p.minHealth - 1.03e18));
        return _capBoundStep(p);
    }

    /// @dev `_capBoundRescue` from inside the band below the target under rescueBelowTarget (issue 13, stop 66): WETH at
    /// [minHealth, target - 0.02], a step landing 0.005-0.155 up (under the in-band zone or into it), cap-bound or not.
    function _capBoundInBand() internal returns (Plan memory plan) {
        caseTag = "calm rescue";
        _setPolicyField(wethId, FIELD_RESCUE, 1);
        Policy memory p = module.getPolicy(safe, wethId);
        _wethHealthTo(p.minHealth + _below(p.targetHealth - p.minHealth - 0.02e18));
        return _capBoundStep(p);
    }

    /// @dev A cap-bound-shaped step on WETH (policy `p`) from its health now: padded, mixed or honest, the amount cap set
    /// at its move x 1000 / (985-1005).
    function _capBoundStep(Policy memory p) internal returns (Plan memory plan) {
        MarketState memory s = wethState();
        uint256 perMille = 985 + _below(21);
        if (p.boostAllowed && _chance(60)) return _paddedCapBound(s, perMille);
        if (p.maxSlippageBps != 0 && _chance(40)) return _mixedCapBound(s, perMille);
        uint256 moved;
        (plan, moved) = _honestCapBound(s, _healthOf(s) + 0.005e18 + _below(0.15e18));
        _setPolicyField(wethId, FIELD_AMOUNT_CAP, moved * 1000 / perMille);
    }

    /// @dev WETH 0.05-1.55 above its band (boosts allowed), a parked boost (Borrow x, DepositToPool x) landing 0.002-0.3
    /// under its health before (above the band or into it), maxAmountPerRebalance set at x x 1000 / (985-1005): cap-bound
    /// or not, gaining MIN_BAND_GAP or not, within the epoch's half share or not (issue 13, stop 65).
    function _capBoundBoost() internal returns (Plan memory plan) {
        Policy memory p = module.getPolicy(safe, wethId);
        _wethHealthTo(p.maxHealth + 0.05e18 + _below(1.5e18));
        MarketState memory s = wethState();
        uint256 x = _borrowTo(s, _healthOf(s) - 0.002e18 - _below(0.3e18));
        _setPolicyField(wethId, FIELD_AMOUNT_CAP, x * 1000 / (985 + _below(21)));
        plan = plan1(wethId, action(ActionKind.Borrow, 0, address(0), x), action(ActionKind.DepositToPool, 0, address(usdcVault), x));
    }

    /// @dev `_capBoundRescue`'s honest step on WETH state `s` toward health `h`: a pool repayment (70 %) or a swap
    /// deleverage, and its net move (loan base units at the pre-trade price).
    function _honestCapBound(MarketState memory s, uint256 h) internal returns (Plan memory plan, uint256 moved) {
        if (_chance(70)) {
            moved = _repayTo(s, h);
            depositToVault(safe, usdcVault, moved + _below(moved));
            return (plan1(wethId, action(ActionKind.WithdrawFromPool, 0, address(usdcVault), moved), action(ActionKind.Repay, 0, address(0), moved)), moved);
        }
        uint256 sold;
        (plan, sold, moved) = swapDeleverage(h);
        moved += Math.mulDiv(sold, s.price, 1e36);
    }

    /// @dev `_capBoundRescue`'s mixed step on WETH state `s` (review rr13w W1, SECURITY.md row 138): WithdrawFromPool R,
    /// Repay R, then a sale of x WETH repaid in its callback (the 0.05 % pool's quote), health up 0.0102-0.0402, the net
    /// move M = 80-130 % of the plain move that gain needs (gap / lltv), so the plain move falls on both sides of 99 % of
    /// the cap (set at M x 1000 / `perMille`) and twice the sale stays under it: cap-bound (`capBoundHonest`, the
    /// buffers alone) only when the plain move reaches it, else HealthOutOfBand (or the landing zone's edge).
    /// R h1 + x (h1 (1 - l) - lltv) = gap and R = M - x (2 - l)  =>  x = (h1 M - gap) / (h1 + lltv).
    function _mixedCapBound(MarketState memory s, uint256 perMille) internal returns (Plan memory plan) {
        (uint256 r, uint256 sold, uint256 cb) = _mixedAmounts(s);
        _setPolicyField(wethId, FIELD_AMOUNT_CAP, (r + Math.mulDiv(sold, s.price, 1e36) + cb) * 1000 / perMille);
        depositToVault(safe, usdcVault, r + _below(r));
        Action[] memory actions = new Action[](6);
        actions[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), r);
        actions[1] = action(ActionKind.Repay, 0, address(0), r);
        actions[2] = action(ActionKind.RepayWithCallback, 0, address(0), cb);
        actions[3] = action(ActionKind.WithdrawCollateral, 0, address(0), sold);
        actions[4] = action(ActionKind.SellCollateral, 0, route(FEE_LOW), sold);
        actions[5] = action(ActionKind.EndCallback, 0, address(0), 0);
        plan = planOf(wethId, actions);
    }

    /// @dev `_mixedCapBound`'s pool repayment `r`, WETH sold and its quoted output `cb` on WETH state `s`.
    function _mixedAmounts(MarketState memory s) internal returns (uint256 r, uint256 sold, uint256 cb) {
        uint256 h1 = _healthOf(s) + 0.0102e18 + _below(0.03e18);
        uint256 gap = (h1 * s.debt - Math.mulDiv(s.collateral, s.price, 1e36) * s.lltv) / 1e18;
        uint256 hm = Math.mulDiv(h1, Math.mulDiv(gap, (80 + _below(51)) * 1e16, s.lltv), 1e18);
        sold = Math.mulDiv(hm > gap ? Math.mulDiv(hm - gap, 1e18, h1 + s.lltv) : 1, 1e36, s.price);
        cb = quoteExactIn(address(weth), address(usdc), FEE_LOW, sold);
        uint256 debtAfter = Math.mulDiv(Math.mulDiv(s.collateral - sold, s.price, 1e36), s.lltv, h1);
        r = s.debt > cb + debtAfter ? s.debt - cb - debtAfter : 1;
    }

    /// @dev `_capBoundRescue`'s padded step on WETH state `s`, the cap set at the net move x 1000 / `perMille`.
    function _paddedCapBound(MarketState memory s, uint256 perMille) internal returns (Plan memory plan) {
        uint256 step = 0.0102e18 + _below(0.02e18);
        uint256 m = _repayTo(s, _healthOf(s) + Math.mulDiv(step, 101 + _below(100), 100));
        uint256 target = _healthOf(s) + step;
        // (value - v) x lltv = target x (debt - (m - v))  =>  v = (value x lltv - target x (debt - m)) / (lltv + target)
        uint256 w = Math.mulDiv(
            (Math.mulDiv(s.collateral, s.price, 1e36) * s.lltv - target * (s.debt - m)) / (s.lltv + target), 1e36, s.price
        );
        uint256 r = m - Math.mulDiv(w, s.price, 1e36);
        _setPolicyField(wethId, FIELD_AMOUNT_CAP, m * 1000 / perMille);
        _openNotDueReceiver(w, s.price);
        depositToVault(safe, usdcVault, r + _below(r));
        Action[] memory actions = new Action[](4);
        actions[0] = action(ActionKind.WithdrawFromPool, 0, address(usdcVault), r);
        actions[1] = action(ActionKind.Repay, 0, address(0), r);
        actions[2] = action(ActionKind.WithdrawCollateral, 0, address(0), w);
        actions[3] = action(ActionKind.SupplyCollateral, 1, address(0), w);
        plan = plan2(wethId, weth2Id, actions);
    }

    /// @dev The second WETH market's sub-account inside its band below its target (calm policy, no boosts), sized so
    /// that supplying `w` WETH moves it 20-80 % of the way to its target (not due: `_paddedCapBound`'s receiver).
    function _openNotDueReceiver(uint256 w, uint256 price) internal {
        Policy memory p2 = _calmPolicy(weth2Market, false);
        weth2Id = setPolicy(p2);
        uint256 h2 = p2.minHealth + 0.01e18 + _below(p2.targetHealth - p2.minHealth - 0.03e18);
        uint256 c2 = Math.mulDiv(w, h2, Math.mulDiv(p2.targetHealth - h2, 20 + _below(61), 100));
        openPosition(safe, weth2Market, c2, Math.mulDiv(Math.mulDiv(c2, price, 1e36), LLTV2, h2));
    }

    /// @dev Sub-account 0: the second WETH market (lltv LLTV2) below its band, rescued by a SupplyCollateral of the WETH
    /// that sub-account 1 (WETH, 2 % or more above its target, boosts off: not due) withdraws inside its own repay
    /// callback while repaying only 5-30 % of the withdrawn value. Sub-account 1's health falls 20-80 % of the way to its
    /// target (neither crossing it nor leaving the band), so the first refusal is HealthDecreased (a deleverage-only
    /// policy's health may not fall). The withdrawn WETH is used in full (no IdleInflow) and nothing is deposited: since
    /// row 73 the parked shrink (the old DECREASE) stops at DepositNotFunded before the judgement, so this hand-over to
    /// a due sub-account of the same collateral is what still lowers a not-due sub-account's health.
    function _donorRescue() internal returns (Plan memory plan) {
        (uint256 c, uint256 r, uint256 price) = _donorAmounts();
        _openDueReceiver(c, price);
        usdc.mint(safe, r);
        Action[] memory actions = new Action[](4);
        actions[0] = action(ActionKind.RepayWithCallback, 1, address(0), r);
        actions[1] = action(ActionKind.WithdrawCollateral, 1, address(0), c);
        actions[2] = action(ActionKind.EndCallback, 1, address(0), 0);
        actions[3] = action(ActionKind.SupplyCollateral, 0, address(0), c);
        plan = plan2(weth2Id, wethId, actions);
    }

    /// @dev The donor's withdrawal `c` (WETH base units) and repayment `r` (USDC base units), and the price (Morpho,
    /// 1e36 scale) they are sized at.
    function _donorAmounts() internal returns (uint256 c, uint256 r, uint256 price) {
        Policy memory pw = module.getPolicy(safe, wethId);
        _wethHealthTo(pw.targetHealth + 0.02e18 + _below(pw.maxHealth - pw.targetHealth - 0.03e18));
        MarketState memory s = wethState();
        uint256 h = _healthOf(s);
        uint256 h1 = h - Math.mulDiv(h - pw.targetHealth, 20 + _below(61), 100);
        uint256 k = 5 + _below(26); // repaid, percent of the withdrawn value
        // (value - cv) x lltv = h1 x (debt - k % x cv), so cv = (value x lltv - h1 x debt) / (lltv - h1 x k %) (USDC
        // base units; h1 <= maxHealth <= 2.3 and k <= 30 keep the denominator positive).
        uint256 cv = (Math.mulDiv(s.collateral, s.price, 1e36) * s.lltv - h1 * s.debt) / (s.lltv - h1 * k / 100);
        (c, r, price) = (Math.mulDiv(cv, 1e36, s.price), cv * k / 100 + 1, s.price);
    }

    /// @dev Opens the second WETH market's position below its band so that supplying `c` lands it 20-80 % into its
    /// landing zone ((C2 + c) / C2 = after / before), with a calm policy without boosts.
    function _openDueReceiver(uint256 c, uint256 price) internal {
        Policy memory p2 = _calmPolicy(weth2Market, false);
        weth2Id = setPolicy(p2);
        uint256 h2 = 1.01e18 + _below(p2.minHealth - 1.02e18);
        (uint256 low, uint256 high) = RebalanceLib.landingZone(h2, p2.minHealth, p2.targetHealth, p2.maxHealth);
        uint256 h2After = low + Math.mulDiv(high - low, 20 + _below(61), 100);
        uint256 c2 = Math.mulDiv(c, h2, h2After - h2);
        openPosition(safe, weth2Market, c2, Math.mulDiv(Math.mulDiv(c2, price, 1e36), LLTV2, h2));
    }

    /// @dev The not-due WETH sub-account's actions (sub-account index 1), funded from idle USDC where they spend; a
    /// borrow is at most `repaid` (the WBTC repayment it helps pay: an inflow left idle is IdleInflow).
    function _notDueMove(uint256 move, Policy memory p, uint256 repaid) internal returns (Action[] memory actions) {
        MarketState memory s = wethState();
        uint256 h = _healthOf(s);
        uint256 t = p.targetHealth;
        if (move == TOWARD && h > t) {
            // Above its target with boosts: a borrow toward the target (it pays part of the WBTC repayment).
            uint256 b = _borrowTo(s, h - Math.mulDiv(h - t, 30 + _below(60), 100));
            return _one(action(ActionKind.Borrow, 1, address(0), Math.min(b, repaid)));
        }
        if (move == TOWARD || move == CROSS) {
            uint256 to = move == TOWARD ? h + Math.mulDiv(t - h, 30 + _below(60), 100) : t + Math.mulDiv(p.maxHealth - t, 20 + _below(60), 100);
            uint256 r = _repayTo(s, to);
            usdc.mint(safe, r);
            return _one(action(ActionKind.Repay, 1, address(0), r));
        }
        if (move == FURTHER) {
            uint256 b = _borrowTo(s, h - Math.mulDiv(h - p.minHealth, 30 + _below(40), 100));
            return _one(action(ActionKind.Borrow, 1, address(0), Math.min(b, repaid)));
        }
        if (move == NEUTRAL) {
            // Repay dD and withdraw a hair less than dD's share of the collateral inside the callback, parking it in
            // the WETH pool: health rises a hair; the net change |dC| x p + dD is 50-300 % of the distance.
            uint256 net = Math.mulDiv(HealthLib.distanceToTarget(s, t), 50 + _below(251), 100);
            uint256 cv = Math.mulDiv(s.collateral, s.price, 1e36);
            uint256 dD = Math.mulDiv(net, s.debt, s.debt + cv);
            uint256 dC = Math.mulDiv(s.collateral, dD, s.debt);
            if (_chance(70)) {
                // Or it grows by 30-300 % of its distance bound: a hair more than dD's share of idle WETH supplied, dD
                // borrowed (at most the WBTC repayment it pays, so nothing is left idle), boosts allowed so the actions
                // pass the vet: NotDueGrowth inside the bound, NotDueMoveExceedsDistance beyond it. Since rr10b the
                // parked shrink below stops at DepositNotFunded (a not-due withdrawal funds no deposit), so the growth
                // is what still reaches the distance bound.
                dD = Math.mulDiv(Math.mulDiv(HealthLib.distanceToTarget(s, t), 30 + _below(271), 100), s.debt, s.debt + cv);
                dD = Math.min(dD, repaid);
                dC = Math.mulDiv(s.collateral, dD, s.debt);
                dC += dC / 1000 + 1;
                weth.mint(safe, dC);
                _setPolicyField(wethId, FIELD_BOOST, 1);
                actions = new Action[](2);
                actions[0] = action(ActionKind.SupplyCollateral, 1, address(0), dC);
                actions[1] = action(ActionKind.Borrow, 1, address(0), dD);
                return actions;
            }
            dC -= dC / 1000 + 1;
            usdc.mint(safe, dD);
            actions = new Action[](4);
            actions[0] = action(ActionKind.RepayWithCallback, 1, address(0), dD);
            actions[1] = action(ActionKind.WithdrawCollateral, 1, address(0), dC);
            actions[2] = action(ActionKind.EndCallback, 1, address(0), 0);
            actions[3] = action(ActionKind.DepositToPool, 1, address(wethVault), dC);
            return actions;
        }
        // DECREASE (one time in four; `_donorRescue` otherwise): withdraw 1-5 % of the collateral inside its repay
        // callback, repay 30-50 % of its value and park the collateral in a WETH pool; since row 73 a not-due
        // sub-account's withdrawal funds no deposit, so this stops at DepositNotFunded. (Selling it and parking the
        // proceeds is SaleExceedsRepayment, judged first.)
        uint256 sold = Math.mulDiv(s.collateral, 1 + _below(5), 100);
        uint256 paid = Math.mulDiv(Math.mulDiv(sold, s.price, 1e36), 30 + _below(20), 100);
        usdc.mint(safe, paid); // the WETH policy allows wethVault (`_calmPolicy`)
        actions = new Action[](4);
        actions[0] = action(ActionKind.RepayWithCallback, 1, address(0), paid);
        actions[1] = action(ActionKind.WithdrawCollateral, 1, address(0), sold);
        actions[2] = action(ActionKind.EndCallback, 1, address(0), 0);
        actions[3] = action(ActionKind.DepositToPool, 1, address(wethVault), sold);
    }

    /// @dev Churn on the not-due WETH sub-account ahead of its move: SupplyCollateral(c) of idle WETH then
    /// WithdrawCollateral(c), c 1-5 % of its collateral. The amount caps charge the net position change, so both sides
    /// must agree it adds (about) nothing. (A Borrow/Repay pair on one sub-account is churn refused by name since rr10
    /// F1; the collateral-side pair is the churn no rule forbids.)
    function _withChurn(Action[] memory move) internal returns (Action[] memory actions) {
        uint256 c = Math.mulDiv(wethState().collateral, 1 + _below(5), 100) + 1;
        weth.mint(safe, c);
        actions = new Action[](move.length + 2);
        actions[0] = action(ActionKind.SupplyCollateral, 1, address(0), c);
        actions[1] = action(ActionKind.WithdrawCollateral, 1, address(0), c);
        for (uint256 k; k < move.length; ++k) {
            actions[2 + k] = move[k];
        }
    }

    function _one(Action memory a) internal pure returns (Action[] memory actions) {
        actions = new Action[](1);
        actions[0] = a;
    }

    function _healthOf(MarketState memory s) internal pure returns (uint256) {
        return s.debt == 0 ? type(uint256).max : Math.mulDiv(Math.mulDiv(s.collateral, s.price, 1e36), s.lltv, s.debt);
    }

    function _repayTo(MarketState memory s, uint256 h) internal pure returns (uint256) {
        uint256 keep = Math.mulDiv(Math.mulDiv(s.collateral, s.price, 1e36), s.lltv, h);
        return s.debt > keep ? s.debt - keep : 1;
    }

    function _borrowTo(MarketState memory s, uint256 h) internal pure returns (uint256) {
        uint256 reach = Math.mulDiv(Math.mulDiv(s.collateral, s.price, 1e36), s.lltv, h);
        return reach > s.debt ? reach - s.debt : 1;
    }

    /// @dev The WETH sub-account at health `h` with the pool aligned. The pool's liquidity spans about half to twice its
    /// opening price (2,400 USDC): a health the price alone would reach only above MAX_WETH_PRICE is reached by
    /// repaying part of the debt first (an owner repayment), so the pool can still quote and fill swaps.
    function _wethHealthTo(uint256 h) internal {
        (uint256 collateral, uint256 debt) = adapter.position(Id.unwrap(wethMarket.id()), safe);
        uint256 priceWad = Math.mulDiv(h, debt * 1e30, collateral * LLTV);
        if (priceWad > MAX_WETH_PRICE) {
            uint256 keep = Math.mulDiv(debt, MAX_WETH_PRICE, priceWad);
            usdc.mint(safe, debt - keep);
            safeExec(safe, address(usdc), 0, abi.encodeCall(IERC20.approve, (address(morpho), debt - keep)), 0);
            safeExec(safe, address(morpho), 0, abi.encodeCall(IMorphoBase.repay, (wethMarket, debt - keep, 0, safe, "")), 0);
        }
        moveWethHealthTo(h);
    }

    uint256 internal constant MAX_WETH_PRICE = 4000e18;

    /// @dev Review rr13s S4 (the stop exit's half of each epoch cap), calm cases only: WETH inside its band under an
    /// engaged stop, 1-6 stop exits executed first (each +0.011-0.05 health; the cooldown let pass and the feeds
    /// refreshed), then a swap exit 5-95 % of the way to exitHealth; with maxRebalancesPerEpoch 2 or 10 the share (1 or
    /// 5) binds in a good part of them.
    function _stopExit() internal returns (Plan memory plan) {
        Policy memory p = module.getPolicy(safe, wethId);
        _wethHealthTo(p.minHealth + _below(p.maxHealth - p.minHealth));
        uint256 exitHealth = p.maxHealth + 0.05e18 + _below(2e18);
        vm.prank(safe);
        try ILeverageModule(safe).setStopLoss(wethId, uint192(wethState().price), uint64(exitHealth)) {} catch {}
        for (uint256 n = 1 + _below(6); n > 0; --n) {
            uint256 h = _healthOf(wethState());
            if (h + 0.1e18 >= exitHealth) break;
            (Plan memory first,,) = swapDeleverage(h + 0.011e18 + _below(0.04e18));
            vm.prank(address(entryPoint));
            try ILeverageModule(safe).executeRebalance(keeper, first) {} catch {}
            vm.warp(block.timestamp + p.cooldown);
            wethOracle.setPrice(wethOracle.price() / 1e6);
            wbtcOracle.setPrice(wbtcOracle.price() / 1e16);
        }
        uint256 before = _healthOf(wethState());
        uint256 goal = before < exitHealth ? before + Math.mulDiv(exitHealth - before, 5 + _below(91), 100) : before + 0.05e18;
        (plan,,) = swapDeleverage(goal);
    }

    function _wbtcState() internal view returns (MarketState memory) {
        return adapter.marketState(Id.unwrap(wbtcMarket.id()), safe);
    }

    /// @dev WBTC price (whole USDC per WBTC, 1e18) that puts the WBTC sub-account at health `h`.
    function _setWbtcHealth(uint256 h) internal {
        (uint256 collateral, uint256 debt) = adapter.position(Id.unwrap(wbtcMarket.id()), safe);
        wbtcOracle.setPrice(Math.mulDiv(h, debt * 1e20, collateral * LLTV));
    }

    /* AIMED CASES: a calm case with one change aimed at one named error */

    uint256 internal constant A_MALFORMED = 0;
    uint256 internal constant A_DUPLICATE = 1;
    uint256 internal constant A_UNKNOWN = 2;
    uint256 internal constant A_MIXED = 3;
    uint256 internal constant A_ORACLE = 4;
    uint256 internal constant A_COOLDOWN = 5;
    uint256 internal constant A_NO_TRIGGER = 6;
    uint256 internal constant A_NOT_ALLOWED = 7;
    uint256 internal constant A_POOL_NOT_ALLOWED = 8;
    uint256 internal constant A_POOL_ROUND_TRIP = 9;
    uint256 internal constant A_SWAP_ROUND_TRIP = 10;
    uint256 internal constant A_POOL_NOT_USED = 11;
    uint256 internal constant A_SWAP_NOT_USED = 12;
    uint256 internal constant A_UNCHANGED = 13;
    uint256 internal constant A_POOL_UNHEALTHY = 14;
    uint256 internal constant A_POOL_ASSET = 15;
    uint256 internal constant A_ACTION_FAILED = 16;
    uint256 internal constant A_SWAP_ADAPTER = 17;
    uint256 internal constant A_OUT_OF_BAND = 18;
    uint256 internal constant A_LANDING_ZONE = 19;
    uint256 internal constant A_FURTHER = 20;
    uint256 internal constant A_CROSSED = 21;
    uint256 internal constant A_DECREASED = 22;
    uint256 internal constant A_AMOUNT_CAP = 23;
    uint256 internal constant A_VALUE_LOSS = 24;
    uint256 internal constant A_EPOCH_AMOUNT = 25;
    uint256 internal constant A_EPOCH_REBALANCES = 26;
    uint256 internal constant A_EPOCH_GAS = 27;
    uint256 internal constant A_EPOCH_LOSS = 28;
    uint256 internal constant A_IDLE_INFLOW = 29;
    uint256 internal constant A_SALE_EXCEEDS = 30;
    uint256 internal constant A_PURCHASE_EXCEEDS = 31;
    uint256 internal constant A_NOT_DUE_MOVE = 32;
    uint256 internal constant A_CALLBACK_CHURN = 33;
    uint256 internal constant A_DEPOSIT_NOT_FUNDED = 34;
    /// @dev The in-band rescue (issue 13, `_aimInBand`): a landing just outside the zone, the flag off, the empty zone.
    uint256 internal constant A_RESCUE_LANDING = 35;
    uint256 internal constant A_RESCUE_OFF = 36;
    uint256 internal constant A_RESCUE_EMPTY = 37;
    uint256 internal constant AIMS = 38;

    function _aimedCase(uint256 aim) internal returns (Plan memory plan) {
        uint256 shape = _below(PADDED_RESCUE);
        uint256 move = TOWARD;
        if (aim == A_SWAP_ROUND_TRIP || aim == A_SWAP_ADAPTER || aim == A_EPOCH_LOSS || aim == A_VALUE_LOSS) {
            shape = _chance(60) ? SWAP_DELEVERAGE : SWAP_BOOST;
        } else if (aim == A_IDLE_INFLOW) {
            shape = [PARKED_BOOST, SWAP_BOOST, SWAP_DELEVERAGE][_below(3)];
        } else if (aim == A_SALE_EXCEEDS || aim == A_PURCHASE_EXCEEDS) {
            shape = aim == A_SALE_EXCEEDS ? SWAP_DELEVERAGE : SWAP_BOOST;
        } else if (aim == A_OUT_OF_BAND || aim == A_LANDING_ZONE || aim == A_NO_TRIGGER || aim >= A_RESCUE_LANDING) {
            shape = POOL_REPAY;
        } else if (aim == A_FURTHER || aim == A_CROSSED || aim == A_DECREASED) {
            (shape, move) = (PADDED_RESCUE, aim == A_FURTHER ? FURTHER : aim == A_CROSSED ? CROSS : DONOR);
        } else if (aim == A_NOT_DUE_MOVE) {
            (shape, move) = (PADDED_RESCUE, NEUTRAL);
        } else if (aim == A_CALLBACK_CHURN) {
            shape = _chance(50) ? SWAP_DELEVERAGE : SWAP_BOOST;
        } else if (aim == A_DEPOSIT_NOT_FUNDED) {
            shape = _chance(50) ? IDLE_REPAY : PARKED_BOOST;
        }
        plan = _calmCase(shape, move);
        if (aim >= A_RESCUE_LANDING) return _aimInBand(aim, plan);
        if (aim == A_CALLBACK_CHURN) {
            _churnCallback(plan);
            return plan;
        }
        if (aim < A_POOL_NOT_ALLOWED) return _aimLoad(aim, plan);
        if (aim < A_ACTION_FAILED) return _aimVet(aim, plan);
        return _aimRun(aim, plan);
    }

    /// @dev Aims at the in-band rescue (issue 13) with the POOL_REPAY plan `plan` (WithdrawFromPool x, Repay x) re-sized:
    /// WETH inside its band below its target and
    /// - A_RESCUE_LANDING: the flag on, landing 0.001-0.011 under the zone's low edge (70 %) or over its high edge
    ///   (HealthOutsideLandingZone);
    /// - A_RESCUE_OFF: the flag off, landing 20-80 % into the zone the flag would give (NoTrigger);
    /// - A_RESCUE_EMPTY: the flag on, the upper band narrowed to 20-80 % of the lower one (at least 0.02) and the health
    ///   drawn where the zone is empty (above target - (lower - upper) / 2), landing anywhere in [target, max)
    ///   (HealthOutsideLandingZone, low > high).
    function _aimInBand(uint256 aim, Plan memory plan) internal returns (Plan memory) {
        Policy memory p = module.getPolicy(safe, wethId);
        p.rescueBelowTarget = aim != A_RESCUE_OFF;
        uint256 lower = p.targetHealth - p.minHealth;
        if (aim == A_RESCUE_EMPTY) p.maxHealth = uint64(p.targetHealth + Math.max(0.02e18, Math.mulDiv(lower, 20 + _below(61), 100)));
        setPolicy(p);
        uint256 upper = p.maxHealth - p.targetHealth;
        if (aim == A_RESCUE_EMPTY) {
            // Empty from target - (lower - upper) / 2 (>= 0.01 below the target) up: 0.002 inside each end.
            uint256 from = p.targetHealth - (lower - upper) / 2 + 0.002e18;
            _wethHealthTo(from + _below(p.targetHealth - 0.002e18 - from));
        } else {
            _wethHealthTo(_inBandStart(p));
        }
        MarketState memory s = wethState();
        (uint256 low, uint256 high) = RebalanceLib.landingZone(_healthOf(s), p.minHealth, p.targetHealth, p.maxHealth);
        uint256 h;
        if (aim == A_RESCUE_EMPTY) {
            caseTag = "aimed empty zone";
            h = p.targetHealth + _below(upper - 0.001e18);
        } else if (aim == A_RESCUE_OFF) {
            caseTag = "aimed flag off";
            h = low + Math.mulDiv(high - low, 20 + _below(60), 100);
        } else {
            caseTag = "aimed landing";
            h = _chance(70) ? low - 0.001e18 - _below(0.01e18) : high + 0.001e18 + _below(0.01e18);
        }
        uint256 x = _repayTo(s, h);
        depositToVault(safe, usdcVault, x);
        (plan.actions[0].amount, plan.actions[1].amount) = (x, x);
        return plan;
    }

    /// @dev Aims at the load stage: plan shape, listing, oracles, cooldown, trigger, allowed actions.
    function _aimLoad(uint256 aim, Plan memory plan) internal returns (Plan memory) {
        if (aim == A_MALFORMED) {
            uint256 v = _below(5);
            if (v == 0) plan.subAccounts = new bytes32[](_chance(50) ? 0 : 9);
            else if (v == 1) plan.actions = new Action[](_chance(50) ? 0 : 33);
            else if (v == 2) plan.actions[_below(plan.actions.length)].subAccount = uint8(plan.subAccounts.length);
            else if (v == 3) plan.actions = _append(plan.actions, action(ActionKind.RepayWithCallback, 0, address(0), 1));
            else plan.actions = _append(_append(plan.actions, action(ActionKind.RepayWithCallback, 0, address(0), 1)), action(ActionKind.EndCallback, 0, address(0), 0));
        } else if (aim == A_DUPLICATE) {
            plan.subAccounts = _appendId(plan.subAccounts, plan.subAccounts[_below(plan.subAccounts.length)]);
        } else if (aim == A_UNKNOWN) {
            plan.subAccounts[_below(plan.subAccounts.length)] = bytes32(_rand());
        } else if (aim == A_MIXED) {
            plan.subAccounts = _appendId(plan.subAccounts, mixedId);
        } else if (aim == A_ORACLE) {
            _breakOracle(plan.subAccounts[0]);
        } else if (aim == A_COOLDOWN) {
            Policy memory p = module.getPolicy(safe, plan.subAccounts[0]);
            p.cooldown = uint32(1 hours + _below(1 days));
            setPolicy(p);
            // Run the plan once; the same plan right after meets the cooldown (if the first run landed).
            vm.prank(address(entryPoint));
            try ILeverageModule(safe).executeRebalance(keeper, plan) {} catch {}
            vm.warp(block.timestamp + _below(1 hours));
        } else if (aim == A_NO_TRIGGER) {
            Policy memory p = module.getPolicy(safe, wethId);
            _wethHealthTo(p.minHealth + Math.mulDiv(p.maxHealth - p.minHealth, 5 + _below(90), 100));
        } else {
            Action memory a = plan.actions[_below(plan.actions.length)];
            bytes32 id = plan.subAccounts[a.subAccount < plan.subAccounts.length ? a.subAccount : 0];
            uint256 v = _below(4);
            if (a.kind == ActionKind.EndCallback) {
                a.amount = 1;
            } else if (v == 0) {
                a.amount = 0;
            } else if (v == 1 && !_isPoolOrSwap(a.kind)) {
                a.pool = address(usdcVault);
            } else if (v == 3) {
                _setPolicyField(id, FIELD_SLIPPAGE, 0);
                weth.mint(safe, 1e16);
                plan.actions = _append(plan.actions, action(ActionKind.SellCollateral, a.subAccount, route(FEE_LOW), 1e15));
            } else {
                _setPolicyField(id, FIELD_BOOST, 0);
                plan.actions = _append(plan.actions, action(ActionKind.Borrow, a.subAccount, address(0), 1e6));
            }
        }
        return plan;
    }

    /// @dev A_CALLBACK_CHURN, ActionNotAllowed by the callback churn rule: for the plan's first callback opener, a WithdrawCollateral
    /// (after a supply callback) or Borrow (after a repay callback) on its sub-account, before or after the plan, with
    /// an idle amount for the premium-churn shape. False when the plan has no callback.
    function _churnCallback(Plan memory plan) internal returns (bool) {
        for (uint256 i; i < plan.actions.length; ++i) {
            Action memory a = plan.actions[i];
            if (a.kind != ActionKind.RepayWithCallback && a.kind != ActionKind.SupplyCollateralWithCallback) continue;
            bool supply = a.kind == ActionKind.SupplyCollateralWithCallback;
            uint256 amount = 1 + _below(supply ? 1e18 : 1000e6);
            Action memory undo = action(supply ? ActionKind.WithdrawCollateral : ActionKind.Borrow, a.subAccount, address(0), amount);
            if (_chance(50)) {
                plan.actions = _append(plan.actions, undo);
            } else {
                Action[] memory out = new Action[](plan.actions.length + 1);
                out[0] = undo;
                for (uint256 j; j < plan.actions.length; ++j) {
                    out[j + 1] = plan.actions[j];
                }
                plan.actions = out;
            }
            return true;
        }
        return false;
    }

    /// @dev Aims at the vetting stage and the holdings read: pools and swaps allowed and used, pool health and asset.
    function _aimVet(uint256 aim, Plan memory plan) internal returns (Plan memory) {
        uint8 sub = uint8(_below(plan.subAccounts.length));
        bytes32 id = plan.subAccounts[sub];
        if (aim == A_POOL_NOT_ALLOWED) {
            _setPolicyField(id, FIELD_POOLS, 0);
            plan.actions = _append(plan.actions, action(ActionKind.WithdrawFromPool, sub, address(usdcVault), 1 + _below(1000e6)));
        } else if (aim == A_POOL_ROUND_TRIP) {
            usdc.mint(safe, 1000);
            plan.actions = _append(plan.actions, action(ActionKind.WithdrawFromPool, sub, address(usdcVault), 1 + _below(1000)));
            plan.actions = _append(plan.actions, action(ActionKind.DepositToPool, sub, address(usdcVault), 1 + _below(1000)));
        } else if (aim == A_SWAP_ROUND_TRIP) {
            _setPolicyField(wethId, FIELD_BOOST, 1);
            bool sells = _hasKind(plan, ActionKind.SellCollateral);
            weth.mint(safe, 1e16);
            plan.actions = _append(plan.actions, action(sells ? ActionKind.BuyCollateral : ActionKind.SellCollateral, 0, route(FEE_LOW), sells ? 10e6 : 1e15));
        } else if (aim == A_POOL_NOT_USED) {
            depositToVault(safe, usdcVault, 1000e6);
            plan.actions = _append(plan.actions, action(ActionKind.WithdrawFromPool, sub, address(usdcVault), 1 + _below(1000e6)));
        } else if (aim == A_SWAP_NOT_USED || aim == A_UNCHANGED) {
            bytes32 other = id == wethId ? wbtcId : wethId;
            if (plan.subAccounts.length == 1) plan.subAccounts = _appendId(plan.subAccounts, other);
            uint8 last = uint8(plan.subAccounts.length - 1);
            usdc.mint(safe, 1000);
            if (aim == A_SWAP_NOT_USED) plan.actions = _append(plan.actions, action(ActionKind.SellCollateral, last, route(FEE_LOW), 1e6));
            else if (_chance(70)) plan.actions = _append(plan.actions, action(ActionKind.Repay, last, address(0), 1 + _below(1000)));
        } else {
            YieldVault pool = aim == A_POOL_UNHEALTHY ? tinyVault : YieldVault(address(switchVault));
            Policy memory p = module.getPolicy(safe, id);
            p.pools = _appendPool(p.pools, address(pool));
            setPolicy(p);
            if (aim == A_POOL_ASSET) switchVault.switchAsset(address(wsteth));
            usdc.mint(safe, 1000e6);
            plan.actions = _append(plan.actions, action(aim == A_POOL_UNHEALTHY || _chance(50) ? ActionKind.DepositToPool : ActionKind.WithdrawFromPool, sub, address(pool), 1 + _below(100e6)));
        }
        return plan;
    }

    /// @dev Aims at the run and the judgement: failing calls, the swap adapter, health rules, caps, loss.
    function _aimRun(uint256 aim, Plan memory plan) internal returns (Plan memory) {
        bytes32 id = plan.subAccounts[0];
        if (aim == A_ACTION_FAILED) {
            uint256 k = _below(plan.actions.length);
            if (plan.actions[k].kind != ActionKind.EndCallback) plan.actions[k].amount *= 3 + _below(50);
        } else if (aim == A_SWAP_ADAPTER) {
            for (uint256 k; k < plan.actions.length; ++k) {
                if (!_isSwap(plan.actions[k].kind)) continue;
                uint256 v = _below(3);
                // No fee tier; reserved bits set (MalformedRoute); a tier the adapter does not allow.
                plan.actions[k].pool = v == 0 ? address(0) : v == 1 ? address(uint160(uint256(uint160(route(FEE_LOW))) | (1 << 159))) : address(uint160(uint256(swapAdapter.encodeRoute(10_000, 0, 0))));
            }
        } else if (aim == A_OUT_OF_BAND || aim == A_LANDING_ZONE) {
            Policy memory p = module.getPolicy(safe, wethId);
            MarketState memory s = wethState();
            (uint256 low, uint256 high) = RebalanceLib.landingZone(_healthOf(s), p.minHealth, p.targetHealth, p.maxHealth);
            uint256 h = aim == A_OUT_OF_BAND
                ? (_chance(50) ? p.maxHealth + 0.01e18 + _below(1e18) : _healthOf(s) + Math.mulDiv(p.minHealth - _healthOf(s), 10 + _below(80), 100))
                : (low > p.minHealth && _chance(50) ? p.minHealth + Math.mulDiv(low - p.minHealth, 10 + _below(80), 100) : high + 1 + Math.mulDiv(p.maxHealth - high, 5 + _below(90), 100));
            uint256 x = _repayTo(s, h);
            depositToVault(safe, usdcVault, x);
            (plan.actions[0].amount, plan.actions[1].amount) = (x, x);
        } else if (aim == A_AMOUNT_CAP || aim == A_EPOCH_AMOUNT) {
            MarketState memory s = adapter.marketState(module.getPolicy(safe, id).market, safe);
            _setPolicyField(id, aim == A_AMOUNT_CAP ? FIELD_AMOUNT_CAP : FIELD_EPOCH_AMOUNT_CAP, _below(s.debt / 4));
        } else if (aim == A_VALUE_LOSS || aim == A_EPOCH_LOSS) {
            for (uint256 k; k < plan.subAccounts.length; ++k) {
                _setPolicyField(plan.subAccounts[k], aim == A_VALUE_LOSS ? FIELD_LOSS : FIELD_EPOCH_LOSS, _below(2));
            }
        } else if (aim == A_EPOCH_REBALANCES) {
            _setPolicyField(id, FIELD_REBALANCES, 0);
        } else if (aim == A_EPOCH_GAS) {
            _setPolicyField(id, FIELD_GAS, 1 + _below(100_000));
        } else if (aim == A_IDLE_INFLOW && _chance(40)) {
            // A repayment of WETH past the debt it meets, then a borrow (inside the repay callback, or after it): the
            // venue clears only the debt, so the borrow beyond it stays idle (review 4 of issue 10). The borrow is the
            // WBTC sub-account's (boosts allowed): since rr10 F1 a Repay or RepayWithCallback and a Borrow on one
            // sub-account are churn (ActionNotAllowed), and the flow rule is per asset across sub-accounts.
            _setPolicyField(wethId, FIELD_BOOST, 1);
            _setPolicyField(wbtcId, FIELD_BOOST, 1);
            MarketState memory s = wethState();
            uint256 b = s.debt + 1 + _below(1000e6);
            bool inside = _chance(50);
            usdc.mint(safe, inside ? 1 + _below(1000e6) : s.debt + 1 + _below(1000e6));
            Action[] memory actions = new Action[](inside ? 3 : 2);
            actions[0] = action(inside ? ActionKind.RepayWithCallback : ActionKind.Repay, 0, address(0), s.debt + b);
            actions[1] = action(ActionKind.Borrow, 1, address(0), b);
            if (inside) actions[2] = action(ActionKind.EndCallback, 0, address(0), 0);
            plan = plan2(wethId, wbtcId, actions);
        } else if (aim == A_IDLE_INFLOW) {
            // Leave part of an inflow idle: park less of a borrow, supply less of a purchase, repay less than a sale
            // brings (or add a borrow nothing uses).
            Action memory last = plan.actions[plan.actions.length - 1];
            if (last.kind == ActionKind.DepositToPool || last.kind == ActionKind.SupplyCollateral) last.amount = Math.mulDiv(last.amount, 10 + _below(85), 100);
            else if (plan.actions[0].kind == ActionKind.RepayWithCallback) plan.actions[0].amount = Math.mulDiv(plan.actions[0].amount, 50 + _below(45), 100);
            else plan.actions = _append(plan.actions, action(ActionKind.Borrow, 0, address(0), 1 + _below(1000e6)));
        } else if (aim == A_DEPOSIT_NOT_FUNDED) {
            // Park the Safe's idle USDC next to the plan (review brk10r F1): a rescue from the wallet plus a deposit
            // of the rest of the reserve, or a parked boost depositing more than it borrows (one base unit or more).
            uint256 extra = _chance(30) ? 1 : 1 + _below(1000e6);
            usdc.mint(safe, extra);
            Action memory last = plan.actions[plan.actions.length - 1];
            if (last.kind == ActionKind.DepositToPool) last.amount += extra;
            else plan.actions = _append(plan.actions, action(ActionKind.DepositToPool, 0, address(usdcVault), extra));
        } else if (aim == A_SALE_EXCEEDS) {
            // A sale its own repayment does not absorb (review of issue 12): repay less than the sale brings, or sell
            // more (the over-unwind), and park the difference in the pool.
            Action memory repay = plan.actions[0];
            uint256 repaid = repay.amount;
            if (_chance(50)) {
                repay.amount = Math.mulDiv(repaid, 30 + _below(65), 100);
            } else {
                uint256 more = Math.mulDiv(plan.actions[1].amount, 120 + _below(200), 100);
                (plan.actions[1].amount, plan.actions[2].amount) = (more, more);
            }
            if (_chance(50)) plan.actions = _append(plan.actions, action(ActionKind.DepositToPool, 0, address(usdcVault), 1 + _below(repaid)));
        } else if (aim == A_PURCHASE_EXCEEDS) {
            // A purchase not supplied to its own collateral (review of issue 12): supply less of it, or withdraw some.
            Action memory supply = plan.actions[plan.actions.length - 1];
            if (_chance(60)) supply.amount = Math.mulDiv(supply.amount, 10 + _below(85), 100);
            else plan.actions = _append(plan.actions, action(ActionKind.WithdrawCollateral, 0, address(0), 1 + _below(supply.amount)));
        }
        // A_FURTHER, A_CROSSED, A_DECREASED, A_NOT_DUE_MOVE: the padded rescue's not-due move already aims.
        return plan;
    }

    uint256 internal constant FIELD_BOOST = 0;
    uint256 internal constant FIELD_SLIPPAGE = 1;
    uint256 internal constant FIELD_POOLS = 2;
    uint256 internal constant FIELD_AMOUNT_CAP = 3;
    uint256 internal constant FIELD_EPOCH_AMOUNT_CAP = 4;
    uint256 internal constant FIELD_LOSS = 5;
    uint256 internal constant FIELD_EPOCH_LOSS = 6;
    uint256 internal constant FIELD_REBALANCES = 7;
    uint256 internal constant FIELD_GAS = 8;
    uint256 internal constant FIELD_RESCUE = 9;

    /// @dev Sets one policy field of a known sub-account (an unknown id is left alone).
    function _setPolicyField(bytes32 id, uint256 field, uint256 value) internal {
        Policy memory p = module.getPolicy(safe, id);
        if (p.adapter == address(0)) return;
        if (field == FIELD_BOOST) p.boostAllowed = value != 0;
        else if (field == FIELD_SLIPPAGE) p.maxSlippageBps = uint16(value);
        else if (field == FIELD_POOLS) p.pools = new address[](0);
        else if (field == FIELD_AMOUNT_CAP) p.maxAmountPerRebalance = uint128(value);
        else if (field == FIELD_EPOCH_AMOUNT_CAP) (p.maxAmountPerEpoch, p.maxAmountPerRebalance) = (uint128(value), type(uint128).max);
        else if (field == FIELD_LOSS) (p.maxLossBps, p.maxEpochLossBps) = (uint16(value), 10_000);
        else if (field == FIELD_EPOCH_LOSS) (p.maxEpochLossBps, p.maxLossBps) = (uint16(value), 10_000);
        else if (field == FIELD_REBALANCES) p.maxRebalancesPerEpoch = uint16(value);
        else if (field == FIELD_RESCUE) p.rescueBelowTarget = value != 0;
        else p.maxGasPerEpoch = uint64(value);
        setPolicy(p);
    }

    /// @dev One oracle fault on the sub-account's feed or venue price.
    function _breakOracle(bytes32 id) internal {
        Policy memory p = module.getPolicy(safe, id);
        if (p.adapter == address(0) || p.priceFeed == address(0)) return;
        SimOracle o = SimOracle(p.priceFeed);
        int256 answer = o.feedAnswer();
        uint256 v = _below(8);
        if (v == 0) o.setVenuePrice(0);
        else if (v == 1) o.setFeed(-int256(_below(2)), block.timestamp, o.decimals());
        else if (v == 2) p.minFeedAnswer = uint128(uint256(answer) + _below(2));
        else if (v == 3) p.maxFeedAnswer = uint128(uint256(answer) - _below(2));
        else if (v == 4) o.setFeed(answer, block.timestamp - p.maxOracleAge - 1 - _below(1 days), o.decimals());
        else if (v == 5) o.setFeed(answer, block.timestamp + 1 + _below(100), o.decimals());
        else if (v == 6) o.setFeed(answer, block.timestamp, uint8(30 + _below(10)));
        else o.setFeed(answer * int256(_chance(50) ? 10_000 + p.maxOracleDeviationBps + 1 + _below(500) : 10_000 - p.maxOracleDeviationBps - 1 - _below(500)) / 10_000, block.timestamp, o.decimals());
        if (v == 2 || v == 3) setPolicy(p);
    }

    function _append(Action[] memory actions, Action memory a) internal pure returns (Action[] memory out) {
        out = new Action[](actions.length + 1);
        for (uint256 k; k < actions.length; ++k) {
            out[k] = actions[k];
        }
        out[actions.length] = a;
    }

    function _appendId(bytes32[] memory ids, bytes32 id) internal pure returns (bytes32[] memory out) {
        out = new bytes32[](ids.length + 1);
        for (uint256 k; k < ids.length; ++k) {
            out[k] = ids[k];
        }
        out[ids.length] = id;
    }

    function _appendPool(address[] memory pools, address pool) internal pure returns (address[] memory out) {
        out = new address[](pools.length + 1);
        for (uint256 k; k < pools.length; ++k) {
            out[k] = pools[k];
        }
        out[pools.length] = pool;
    }

    function _isSwap(ActionKind kind) internal pure returns (bool) {
        return kind == ActionKind.SellCollateral || kind == ActionKind.BuyCollateral;
    }

    function _isPoolOrSwap(ActionKind kind) internal pure returns (bool) {
        return _isSwap(kind) || kind == ActionKind.WithdrawFromPool || kind == ActionKind.DepositToPool;
    }

    function _hasKind(Plan memory plan, ActionKind kind) internal pure returns (bool) {
        for (uint256 k; k < plan.actions.length; ++k) {
            if (plan.actions[k].kind == kind) return true;
        }
        return false;
    }

    /* RANDOM CASES */

    function _randomizeWorld() internal {
        vm.warp(block.timestamp + _below(3 days));
        // Policies: band, boost, swaps, caps, loss bounds, pools, oracle bounds.
        wethId = setPolicy(_randomPolicy(wethMarket));
        wbtcId = setPolicy(_randomPolicy(wbtcMarket));
        // Prices: WETH's health from deep below the band to far above it; WBTC's from a move of its price.
        _wethHealthTo(_chance(70) ? 0.9e18 + _below(0.4e18) : 1.3e18 + _below(0.8e18));
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
        policy.rescueBelowTarget = _chance(50);
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
        _wethHealthTo(0.9e18 + _below(1.2e18));
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
            // Issue 13: a repay callback sometimes carries the sale-minimum repayment mode word.
            plan.actions[open].pool = plan.actions[open].kind == ActionKind.RepayWithCallback && _chance(30)
                ? address(uint160(ConstantsLib.REPAY_PLUS_SALE_MINIMUMS))
                : address(0);
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
        else if (_chance(2)) a.pool = address(uint160(ConstantsLib.REPAY_PLUS_SALE_MINIMUMS)); // the mode word anywhere
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
        c.pools = new PoolCase[](6);
        IERC4626[6] memory vaults = [
            IERC4626(address(plainUsdcVault)),
            IERC4626(address(plainWethVault)),
            IERC4626(address(tinyVault)),
            IERC4626(address(switchVault)),
            IERC4626(address(usdcFeeVault)),
            IERC4626(address(wethFeeVault))
        ];
        for (uint256 k; k < 6; ++k) {
            c.pools[k] = _poolCase(vaults[k]);
        }
        c.tokens = new address[](4);
        (c.tokens[0], c.tokens[1], c.tokens[2], c.tokens[3]) = (address(usdc), address(weth), address(wbtc), address(wsteth));
        c.balances = new uint256[](4);
        for (uint256 k; k < 4; ++k) {
            c.balances[k] = IERC20(c.tokens[k]).balanceOf(safe);
        }
        c.swapAdapter = address(swapAdapter);
        c.timestamp = block.timestamp;
        (c.swapOutputs, c.swapFails) = _swapOutcomes(plan);
        c.swapAdapterErrors = _swapAdapterErrors(plan);
    }

    /// @dev A pool as the keeper reads it, fee reads included (a reverting read records 0: the keeper's failed read).
    function _poolCase(IERC4626 v) internal view returns (PoolCase memory p) {
        (p.pool, p.asset, p.totalAssets, p.totalSupply, p.shares) = (address(v), v.asset(), v.totalAssets(), v.totalSupply(), v.balanceOf(safe));
        try v.convertToAssets(p.totalSupply) returns (uint256 x) { p.grossAssets = x; } catch {}
        try v.previewRedeem(p.totalSupply) returns (uint256 x) { p.netAssets = x; } catch {}
        try v.convertToShares(p.totalAssets) returns (uint256 x) { p.grossShares = x; } catch {}
        try v.previewDeposit(p.totalAssets) returns (uint256 x) { p.netShares = x; } catch {}
    }

    function _sub(bytes32 id) internal view returns (SubCase memory s) {
        s.id = id;
        s.policy = module.getPolicy(safe, id);
        s.usage = module.getEpochUsage(safe, id);
        s.stop = module.getStopLoss(safe, id);
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
