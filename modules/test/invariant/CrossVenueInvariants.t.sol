// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Test, Vm} from "forge-std/Test.sol";
import {IEntryPoint} from "@account-abstraction/contracts/interfaces/IEntryPoint.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IMorpho, Id, MarketParams, Position} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";
import {MorphoBalancesLib} from "@morpho-org/morpho-blue/src/libraries/periphery/MorphoBalancesLib.sol";
import {IPool} from "@aave/core-v3/contracts/interfaces/IPool.sol";
import {IPoolConfigurator} from "@aave/core-v3/contracts/interfaces/IPoolConfigurator.sol";
import {IScaledBalanceToken} from "@aave/core-v3/contracts/interfaces/IScaledBalanceToken.sol";
import {DataTypes} from "@aave/core-v3/contracts/protocol/libraries/types/DataTypes.sol";
import {ReserveConfiguration} from "@aave/core-v3/contracts/protocol/libraries/configuration/ReserveConfiguration.sol";

import {AaveTestBase} from "../utils/AaveTestBase.sol";
import {TestToken} from "../utils/TestToken.sol";
import {SimOracle} from "../utils/SimOracle.sol";
import {YieldVault} from "../utils/YieldVault.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";
import {LeverageModule} from "../../src/LeverageModule.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind, SelfPayBudget} from "../../src/interfaces/ILeverageModule.sol";

/// @notice Everything the cross-venue handler touches, handed over by the invariant test.
struct CrossVenueWorld {
    LeverageModule module;
    IEntryPoint entryPoint;
    IMorpho morpho;
    MarketParams morphoParams;
    IPool pool;
    IPoolConfigurator configurator;
    address aaveAdmin;
    address safe;
    address keeper;
    uint256 keeperKey;
    TestToken usdc;
    TestToken weth;
    SimOracle wethOracle;
    YieldVault usdcVault;
    RiggedVault feeVault;
    YieldVault evilVault;
    bytes32 morphoId;
    bytes32 aaveId;
    bytes32 strayId;
    address aWeth;
    address aUsdc;
    address usdcDebt;
    address wethDebt;
    address attacker;
    address bundler;
    /// @dev The Aave account's other collateral reserves (not the policy market's), each priced by its oracle; the first
    /// is ETH-correlated (wstETH) and moves with the WETH price.
    TestToken[] otherCollateral;
    SimOracle[] otherOracles;
}

/// @notice Actors against one Safe with a Morpho Blue WETH/USDC market (sub-account 0) and an Aave v3 account
/// (sub-account 1, policy market WETH/USDC; the account also holds wstETH at a higher liquidation threshold and WBTC at a
/// lower one, so the market's frame over- and understates parts of its value and only the account's true equity is the
/// loss budget's base, issue 10 rev10p) under one LeverageModule with both adapters: a malicious keeper (random
/// and padded/hostile plans across both venues), an honest keeper (cross-venue plans computed from the state, which
/// must pass), price moves on the one oracle both venues read, interest (warp), owner pause toggles, the Aave admin
/// pausing or freezing reserves, and e-mode switch attempts. Every keeper operation goes through EntryPoint.handleOps.
/// Never reverts: every outcome is counted and every violation recorded in a counter the invariants read. Every check
/// measures independently of the module: Morpho positions from Morpho, Aave's own aToken / debt-token balances and
/// `getUserAccountData` health factor, the oracle's price, pool shares, ERC-20 events.
contract CrossVenueHandler is Test {
    using MarketParamsLib for MarketParams;
    using MorphoBalancesLib for IMorpho;
    using ReserveConfiguration for DataTypes.ReserveConfigurationMap;

    CrossVenueWorld internal w;

    uint256 internal constant MORPHO = 0;
    uint256 internal constant AAVE = 1;
    uint256 internal constant MORPHO_LLTV = 0.86e18;
    uint256 internal constant AAVE_THRESHOLD = 0.83e18;
    uint256 internal constant MIN_HEALTH = 1.3e18;
    uint256 internal constant TARGET = 1.4e18;
    uint256 internal constant MAX_HEALTH = 1.5e18;
    uint256 internal constant MAX_ORACLE_AGE = 1 hours;
    /// @dev Units of rounding (USDC base units) the independent valuation may differ from the module's by per op.
    uint256 internal constant ROUNDING = 3;
    bytes32 internal constant TRANSFER = keccak256("Transfer(address,address,uint256)");
    bytes32 internal constant APPROVAL = keccak256("Approval(address,address,uint256)");

    /// @dev One sub-account before an operation, as its venue reports it.
    struct Snapshot {
        uint256 collateral;
        uint256 debt;
        uint256 scaledCollateral;
        uint256 scaledDebt;
        uint256 health;
        int256 equity;
        bytes32 usage;
        uint256 frameCollateral;
    }

    uint256 public calls;
    uint256 public rebalances;
    uint256 public refused;
    uint256 public hostileSent;
    uint256 public hostilePassed;
    uint256 public honestSent;
    uint256 public honestPassed;
    uint256 public honestCrossVenue;
    uint256 public honestIdle;
    uint256 public honestExcused;
    uint256 public honestFailures;
    bytes public lastHonestFailure;
    uint256 public eModeAttempts;
    uint256 public reserveToggles;
    uint256 public warps;

    uint256 public healthViolations;
    uint256 public lossViolations;
    uint256 public epochLossViolations;
    uint256 public allowanceViolations;
    uint256 public usageViolations;
    uint256 public transferViolations;
    uint256 public approvalViolations;
    uint256 public pausedViolations;
    uint256 public moduleAboveAaveViolations;
    uint256 public eModeViolations;
    uint256 public reserveFlagViolations;

    /// @dev Independent per-epoch loss ledger, in ppb of each changed sub-account's equity before each op.
    mapping(bytes32 id => uint256) public epochOf;
    mapping(bytes32 id => uint256) public lossPpbInEpoch;
    mapping(bytes32 id => uint256) public lossOpsInEpoch;
    uint256 public maxLossPpbSeen;
    uint256 public maxModuleToAaveGap;
    bool public paused;
    uint256 public pausedUntil;
    uint256 public expectedEMode;
    mapping(bytes4 => uint256) public refusals;
    bytes4[] public refusalKinds;

    /// @dev The self-test this run makes (CROSS_VENUE_SELF_TEST, empty by default): one check made stricter than its
    /// property, or one fault injected, so that invariant must fail; see CrossVenueInvariantsTest.
    bytes32 internal selfTest;

    constructor(CrossVenueWorld memory world) {
        w = world;
        selfTest = keccak256(bytes(vm.envOr("CROSS_VENUE_SELF_TEST", string(""))));
    }

    function _selfTest(string memory name) internal view returns (bool) {
        return selfTest == keccak256(bytes(name));
    }

    /// @dev After every action: the module's health of the Aave sub-account is never above Aave's own health factor,
    /// and the account's e-mode category is the one the owner chose.
    modifier checked() {
        ++calls;
        if (paused && calls > pausedUntil) _setPaused(false);
        _;
        uint256 eMode = w.pool.getUserEMode(w.safe);
        if (eMode != expectedEMode) ++eModeViolations;
        if (eMode == 0) {
            uint256 moduleHealth = w.module.health(w.safe, w.aaveId);
            uint256 aaveHealth = _aaveHealth();
            // Self-test: claim the module's health is a whole basis point below Aave's (it is within 1e-9).
            if (moduleHealth > aaveHealth || (_selfTest("aave-health") && moduleHealth * 10_001 / 10_000 > aaveHealth)) {
                ++moduleAboveAaveViolations;
            }
            else if (aaveHealth - moduleHealth > maxModuleToAaveGap && aaveHealth != type(uint256).max) {
                maxModuleToAaveGap = aaveHealth - moduleHealth;
            }
        }
    }

    /* KEEPERS */

    /// @notice A keeper holding a valid key sends random, padded and hostile plans across both venues.
    function hostileKeeper(uint256 seed) external checked {
        ++hostileSent;
        (bool executed,) = _send(_hostile(seed), w.attacker);
        if (executed) ++hostilePassed;
    }

    /// @notice A keeper sends the plan an honest solver would: a cross-venue move (collateral or debt) from the
    /// sub-account with room to the one out of its band when there is one, else a rescue or boost through the pool. It
    /// must pass unless the owner paused, the oracle is stale, a reserve is paused or frozen, or a budget is spent.
    function honestKeeper(uint256 seed) external checked {
        (Plan memory plan, bool ok, bool cross) = _honest(seed);
        // Self-test: the solver overshoots (three times the amount).
        if (_selfTest("honest")) for (uint256 i; i < plan.actions.length; ++i) plan.actions[i].amount *= 3;
        if (!ok) {
            ++honestIdle;
            return;
        }
        ++honestSent;
        if (cross) ++honestCrossVenue;
        bool excused = _excused();
        (bool executed, bytes memory reason) = _send(plan, w.bundler);
        if (executed) {
            ++honestPassed;
        } else if (excused || bytes4(reason) == ILeverageModule.EpochLossBudgetExceeded.selector) {
            ++honestExcused;
        } else {
            ++honestFailures;
            lastHonestFailure = reason;
        }
    }

    /* MARKETS, TIME, OWNER, AAVE ADMIN */

    /// @notice The price moves by up to 4% (one move in four: up to 15%), within [1,500, 6,000].
    function moveOracle(int256 moveBps) external checked {
        moveBps = uint256(moveBps) % 4 == 0 ? _bound(moveBps, -1500, 1500) : _bound(moveBps, -400, 400);
        uint256 current = uint256(w.wethOracle.feedAnswer()) * 1e10;
        uint256 next = _bound(uint256(int256(current) * (10_000 + moveBps) / 10_000), 1500e18, 6000e18);
        w.wethOracle.setPrice(next);
        // wstETH (the Aave account's other collateral, ETH-correlated) moves with WETH, so the Aave account's health
        // swings as before; WBTC stays.
        SimOracle wstethFeed = w.otherOracles[0];
        wstethFeed.setPrice(Math.mulDiv(uint256(wstethFeed.feedAnswer()) * 1e10, next, current));
    }

    /// @notice Time passes: Aave interest accrues (the USDC reserve is 80% utilized), the oracle ages.
    function accrueInterest(uint256 elapsed) external checked {
        ++warps;
        vm.warp(block.timestamp + _bound(elapsed, 1, 12 hours));
    }

    /// @notice The owner changes the positions (Safe transactions, not the module): fresh WETH supplied to one venue,
    /// or more USDC borrowed on one (kept idle in the Safe), so the two sub-accounts drift apart and cross-venue plans
    /// stay useful. Skipped when it would take health below 1.1.
    function ownerAdjusts(uint256 seed, uint256 amount) external checked {
        uint256 mode = seed % 4;
        vm.startPrank(w.safe);
        if (mode < 2) {
            amount = _bound(amount, 0.2e18, 6e18);
            w.weth.mint(w.safe, amount);
            w.weth.approve(mode == 0 ? address(w.morpho) : address(w.pool), amount);
            if (mode == 0) w.morpho.supplyCollateral(w.morphoParams, amount, w.safe, "");
            // Self-test: an approval left standing.
            if (_selfTest("allowance")) w.usdc.approve(address(w.morpho), 1);
            else try w.pool.supply(address(w.weth), amount, w.safe, 0) {} catch {
                w.weth.approve(address(w.pool), 0);
            }
        } else {
            amount = _bound(amount, 100e6, 10_000e6);
            View memory v = _view();
            uint256 k = mode == 2 ? MORPHO : AAVE;
            if (_healthWith(v, k, false, v.debt[k] + amount) >= 1.1e18) {
                if (k == MORPHO) w.morpho.borrow(w.morphoParams, amount, 0, w.safe, w.safe);
                else try w.pool.borrow(address(w.usdc), amount, 2, 0, w.safe) {} catch {}
            }
        }
        vm.stopPrank();
    }

    /// @notice The owner pauses automation for the next one to eight handler calls (then lifts it), or lifts it now.
    function ownerTogglesPause(uint256 seed) external checked {
        bool pause = seed % 3 != 0;
        if (pause) pausedUntil = calls + 1 + (seed >> 8) % 8;
        _setPaused(pause);
    }

    function _setPaused(bool pause) internal {
        vm.prank(w.safe);
        // Self-test: the owner's pause never reaches the module.
        ILeverageModule(w.safe).setPaused(pause && !_selfTest("paused"));
        paused = pause;
    }

    /// @notice The Aave admin pauses or freezes WETH or USDC, or lifts every flag (one time in two when one is set).
    function adminTogglesReserve(uint256 seed) external checked {
        ++reserveToggles;
        address[2] memory assets = [address(w.weth), address(w.usdc)];
        vm.startPrank(w.aaveAdmin);
        if (_anyFlag() && seed % 2 != 0) {
            for (uint256 i; i < 2; ++i) {
                w.configurator.setReservePause(assets[i], false);
                w.configurator.setReserveFreeze(assets[i], false);
            }
        } else if ((seed >> 8) % 2 == 0) {
            w.configurator.setReservePause(assets[(seed >> 16) % 2], true);
        } else {
            w.configurator.setReserveFreeze(assets[(seed >> 16) % 2], true);
        }
        vm.stopPrank();
    }

    /// @notice Attempts to switch the Aave account's e-mode category: a keeper-signed `executeUserOp` calling
    /// `Pool.setUserEMode`, a keeper plan carrying an action kind past the last one, or the owner (Aave refuses category
    /// 1 while the account borrows USDC, which is outside it; if Aave accepts, the module must refuse the policy's id).
    function eModeSwitchAttempt(uint256 seed) external checked {
        ++eModeAttempts;
        uint256 mode = seed % 4;
        if (mode < 2) {
            PackedUserOperation memory op;
            if (mode == 0) {
                op = _baseOp(abi.encodeCall(ILeverageModule.executeUserOp, (address(w.pool), 0, abi.encodeCall(IPool.setUserEMode, (1)), 0)));
            } else {
                Plan memory plan = _honestOrRandom(seed);
                op = _baseOp(abi.encodeCall(ILeverageModule.executeRebalance, (w.keeper, plan)));
                // The first action's kind word (after selector, keeper, two offsets, n, ids, m): past the last kind.
                uint256 at = 4 + 32 * 6 + 32 * plan.subAccounts.length + 31;
                bytes memory data = op.callData;
                data[at] = bytes1(uint8(6 + (seed >> 8) % 250));
            }
            op.signature = _sign(op, w.keeperKey);
            _handle(op, w.attacker);
        } else {
            uint8 category = mode == 2 ? 1 : 0;
            vm.prank(w.safe);
            try w.pool.setUserEMode(category) {
                expectedEMode = category;
            } catch {}
            // Self-test: the ledger believes an owner switch the pool never saw.
            if (_selfTest("emode") && category == 0) expectedEMode = 1;
        }
    }

    /* SENDING AND JUDGING */

    /// @dev Sends `plan` as a keeper operation through EntryPoint.handleOps; judges the outcome.
    function _send(Plan memory plan, address bundlerAddress) internal returns (bool executed, bytes memory reason) {
        PackedUserOperation memory op = _baseOp(abi.encodeCall(ILeverageModule.executeRebalance, (w.keeper, plan)));
        op.signature = _sign(op, w.keeperKey);
        (Snapshot[2] memory snap, int256 before) = _snapshot();
        (executed, reason) = _handle(op, bundlerAddress);
        if (executed) _afterSuccess(plan, snap, before);
        else _refused(reason);
        _checkUsage(snap);
        if (!_allowancesZero()) ++allowanceViolations;
    }

    /// @dev handleOps with the logs recorded: every ERC-20 Transfer out of the Safe and every approval it grants is
    /// checked against the venues and pools the owner allowed. Returns whether the operation executed and its revert
    /// data (the handleOps revert data when validation refused it).
    function _handle(PackedUserOperation memory op, address bundlerAddress) internal returns (bool executed, bytes memory reason) {
        PackedUserOperation[] memory ops = new PackedUserOperation[](1);
        ops[0] = op;
        vm.recordLogs();
        vm.prank(bundlerAddress, bundlerAddress);
        try w.entryPoint.handleOps(ops, payable(bundlerAddress)) {
            Vm.Log[] memory logs = vm.getRecordedLogs();
            _checkLogs(logs);
            bytes32 eventSig = keccak256("UserOperationEvent(bytes32,address,address,uint256,bool,uint256,uint256)");
            bytes32 revertSig = keccak256("UserOperationRevertReason(bytes32,address,uint256,bytes)");
            for (uint256 i; i < logs.length; ++i) {
                if (logs[i].topics.length == 0) continue;
                if (logs[i].topics[0] == eventSig) (, executed,,) = abi.decode(logs[i].data, (uint256, bool, uint256, uint256));
                if (logs[i].topics[0] == revertSig) (, reason) = abi.decode(logs[i].data, (uint256, bytes));
            }
        } catch (bytes memory err) {
            vm.getRecordedLogs();
            reason = err;
            // Validation refused it: the account's own revert data is what names the reason.
            if (bytes4(err) == IEntryPoint.FailedOpWithRevert.selector) {
                bytes memory args = new bytes(err.length - 4);
                for (uint256 i; i < args.length; ++i) args[i] = err[i + 4];
                (,, reason) = abi.decode(args, (uint256, string, bytes));
            }
        }
    }

    function _checkLogs(Vm.Log[] memory logs) internal {
        for (uint256 i; i < logs.length; ++i) {
            Vm.Log memory log = logs[i];
            if (log.topics.length != 3 || address(uint160(uint256(log.topics[1]))) != w.safe) continue;
            address to = address(uint160(uint256(log.topics[2])));
            if (log.topics[0] == TRANSFER) {
                // Underlying to Morpho or an Aave reserve (aToken), shares burnt or taken by an allowed pool's own
                // terms (the fee pool's exit fee), aTokens and debt tokens burnt.
                bool venue = to == address(w.morpho) || ((to == w.aWeth || to == w.aUsdc) && !_selfTest("assets")) || to == address(w.usdcVault)
                    || to == address(w.feeVault) || to == address(0);
                bool ownShares = log.emitter == address(w.usdcVault) || log.emitter == address(w.feeVault);
                if (!venue && !ownShares) ++transferViolations;
            } else if (log.topics[0] == APPROVAL) {
                if (to != address(w.morpho) && to != address(w.pool) && to != address(w.usdcVault) && to != address(w.feeVault)) {
                    ++approvalViolations;
                }
            }
        }
    }

    /// @dev Checks after an executed plan: health of every listed sub-account (Aave: its own health factor) at least
    /// minHealth; the loss within maxLossBps of what the positions moved; the epoch ledger within the budget; nothing
    /// while paused, under another e-mode, or on a paused (any action) or frozen (supply, borrow) reserve.
    function _afterSuccess(Plan memory plan, Snapshot[2] memory snap, int256 before) internal {
        ++rebalances;
        if (paused) ++pausedViolations;
        (Snapshot[2] memory now_, int256 afterValue) = _snapshot();
        uint256 loss = afterValue < before ? uint256(before - afterValue) : 0;
        (uint256 moved, uint256 maxLossBps) = _judgeSubAccounts(plan, snap, now_);
        if (_selfTest("loss")) maxLossBps = 1;
        if (loss * 10_000 > moved * maxLossBps + ROUNDING * 10_000) ++lossViolations;
        for (uint256 i; i < plan.subAccounts.length; ++i) {
            _chargeEpoch(plan.subAccounts[i], loss, snap[plan.subAccounts[i] == w.morphoId ? MORPHO : AAVE].equity);
        }
        _checkReserveFlags(plan);
    }

    /// @dev Per listed sub-account: health after at least minHealth, the Aave one only under its e-mode category.
    /// Returns what the positions moved (the larger of value into and out of them, each netted) and the smallest
    /// maxLossBps of the listed policies.
    function _judgeSubAccounts(Plan memory plan, Snapshot[2] memory snap, Snapshot[2] memory now_)
        internal
        returns (uint256 moved, uint256 maxLossBps)
    {
        uint256 into;
        uint256 out;
        maxLossBps = 10_000;
        uint256 price = w.wethOracle.price();
        for (uint256 i; i < plan.subAccounts.length; ++i) {
            uint256 k = plan.subAccounts[i] == w.morphoId ? MORPHO : AAVE;
            Policy memory policy = w.module.getPolicy(w.safe, plan.subAccounts[i]);
            if (policy.maxLossBps < maxLossBps) maxLossBps = policy.maxLossBps;
            if (now_[k].health < policy.minHealth + (_selfTest("health") ? 0.15e18 : 0)) ++healthViolations;
            if (k == AAVE && w.pool.getUserEMode(w.safe) != 0) ++eModeViolations;
            (uint256 up, uint256 down) = _delta(_value(snap[k].collateral, price), _value(now_[k].collateral, price));
            into += up;
            out += down;
            (up, down) = _delta(snap[k].debt, now_[k].debt);
            into += down;
            out += up;
        }
        moved = Math.max(into, out);
    }

    /// @dev No Aave action on a paused reserve, no supply or borrow on a frozen one.
    function _checkReserveFlags(Plan memory plan) internal {
        for (uint256 i; i < plan.actions.length; ++i) {
            Action memory a = plan.actions[i];
            if (plan.subAccounts[a.subAccount] != w.aaveId || a.pool != address(0)) continue;
            bool collateralSide = a.kind == ActionKind.SupplyCollateral || a.kind == ActionKind.WithdrawCollateral;
            (bool frozen, bool reservePaused) = _flags(collateralSide ? address(w.weth) : address(w.usdc));
            bool addsExposure = a.kind == ActionKind.SupplyCollateral || a.kind == ActionKind.Borrow;
            // Self-test: any Aave action while any reserve is frozen or paused.
            if (reservePaused || (frozen && addsExposure) || (_selfTest("reserve") && _anyFlag())) ++reserveFlagViolations;
        }
    }

    /// @dev Charges `loss` to `id`'s aligned epoch in ppb of its equity before the op (rounded up, as the module).
    function _chargeEpoch(bytes32 id, uint256 loss, int256 equity) internal {
        Policy memory policy = w.module.getPolicy(w.safe, id);
        uint256 epoch = block.timestamp / policy.epochLength;
        if (epochOf[id] != epoch) {
            epochOf[id] = epoch;
            lossPpbInEpoch[id] = 0;
            lossOpsInEpoch[id] = 0;
        }
        if (loss != 0) {
            lossPpbInEpoch[id] += equity > 0 ? Math.mulDiv(loss, 1e9, uint256(equity), Math.Rounding.Ceil) : type(uint32).max;
            ++lossOpsInEpoch[id];
        }
        if (lossPpbInEpoch[id] > maxLossPpbSeen) maxLossPpbSeen = lossPpbInEpoch[id];
        // One ppb per charged op of slack: the module rounds each op's own (frame) loss up, this ledger its own.
        uint256 budgetPpb = _selfTest("epoch-loss") ? 1e5 : uint256(policy.maxEpochLossBps) * 1e5;
        if (lossPpbInEpoch[id] > budgetPpb + lossOpsInEpoch[id]) ++epochLossViolations;
    }

    /// @dev Usage (cooldown, counters, loss) changes only for a sub-account whose position changed, and every change is
    /// charged. Positions are compared as Morpho shares and Aave scaled balances, which interest does not move.
    function _checkUsage(Snapshot[2] memory snap) internal {
        (Snapshot[2] memory now_,) = _snapshot();
        for (uint256 k; k < 2; ++k) {
            bool moved = now_[k].scaledCollateral != snap[k].scaledCollateral || now_[k].scaledDebt != snap[k].scaledDebt;
            // Self-test: only collateral counted as a position change.
            if (_selfTest("usage")) moved = now_[k].scaledCollateral != snap[k].scaledCollateral;
            bool charged = now_[k].usage != snap[k].usage;
            if (charged != moved) ++usageViolations;
        }
    }

    function _refused(bytes memory err) internal {
        ++refused;
        bytes4 kind = bytes4(err);
        if (refusals[kind] == 0) refusalKinds.push(kind);
        ++refusals[kind];
    }

    function refusalKindCount() external view returns (uint256) {
        return refusalKinds.length;
    }

    function allowancesZero() external view returns (bool) {
        return _allowancesZero();
    }

    function _allowancesZero() internal view returns (bool) {
        address[7] memory spenders = [
            address(w.morpho),
            address(w.pool),
            address(w.usdcVault),
            address(w.feeVault),
            address(w.evilVault),
            w.attacker,
            w.keeper
        ];
        for (uint256 i; i < spenders.length; ++i) {
            if (w.usdc.allowance(w.safe, spenders[i]) != 0 || w.weth.allowance(w.safe, spenders[i]) != 0) return false;
        }
        return true;
    }

    /// @dev Why an honest plan may fail without a module bug: automation paused, the oracle older than the policies
    /// allow, a reserve paused or frozen, the account in another e-mode category, the self-pay budget spent.
    function _excused() internal view returns (bool) {
        if (paused || block.timestamp - w.wethOracle.feedUpdatedAt() > MAX_ORACLE_AGE || _anyFlag()) return true;
        if (w.pool.getUserEMode(w.safe) != 0) return true;
        SelfPayBudget memory budget = w.module.getSelfPayBudget(w.safe);
        uint256 spent = block.timestamp / budget.epochLength == budget.epoch ? budget.spentWei : 0;
        return spent + 3_560_000 * 2 gwei > budget.maxWeiPerEpoch;
    }

    function _anyFlag() internal view returns (bool) {
        (bool wethFrozen, bool wethPaused) = _flags(address(w.weth));
        (bool usdcFrozen, bool usdcPaused) = _flags(address(w.usdc));
        return wethFrozen || wethPaused || usdcFrozen || usdcPaused;
    }

    function _flags(address asset) internal view returns (bool frozen, bool reservePaused) {
        (, frozen,,, reservePaused) = w.pool.getConfiguration(asset).getFlags();
    }

    /* STATE, MEASURED AT THE VENUES */

    function _snapshot() internal view returns (Snapshot[2] memory snap, int256 value) {
        uint256 price = w.wethOracle.price();
        Snapshot memory m = snap[MORPHO];
        Position memory p = w.morpho.position(w.morphoParams.id(), w.safe);
        m.collateral = p.collateral;
        m.scaledCollateral = p.collateral;
        m.scaledDebt = p.borrowShares;
        m.debt = w.morpho.expectedBorrowAssets(w.morphoParams, w.safe);
        m.health = _health(m.collateral, m.debt, price, MORPHO_LLTV);
        m.equity = int256(_value(m.collateral, price)) - int256(m.debt);
        m.usage = keccak256(abi.encode(w.module.getEpochUsage(w.safe, w.morphoId)));
        Snapshot memory a = snap[AAVE];
        a.collateral = IERC20(w.aWeth).balanceOf(w.safe);
        a.debt = IERC20(w.usdcDebt).balanceOf(w.safe);
        a.scaledCollateral = IScaledBalanceToken(w.aWeth).scaledBalanceOf(w.safe);
        a.scaledDebt = IScaledBalanceToken(w.usdcDebt).scaledBalanceOf(w.safe);
        a.health = _aaveHealth();
        // The account's true equity: every collateral reserve at its own oracle value (the epoch ledger's base), and its
        // collateral in the market's frame (WETH at its 83% threshold with the other reserves' threshold-weighted value,
        // what the honest solver aims with).
        (uint256 others, uint256 othersWeighted) = _otherCollateral();
        a.equity = int256(_value(a.collateral, price) + others) - int256(a.debt);
        a.frameCollateral = a.collateral + Math.mulDiv(othersWeighted, 1e36, Math.mulDiv(price, AAVE_THRESHOLD, 1e18));
        a.usage = keccak256(abi.encode(w.module.getEpochUsage(w.safe, w.aaveId)));
        // Everything the Safe owns, in USDC base units at the oracle's price.
        value = int256(w.usdc.balanceOf(w.safe) + _poolAssets(w.usdcVault) + _poolAssets(YieldVault(address(w.feeVault))));
        value += int256(_value(w.weth.balanceOf(w.safe), price));
        value += m.equity + a.equity;
        value += int256(IERC20(w.aUsdc).balanceOf(w.safe)) - int256(_value(IERC20(w.wethDebt).balanceOf(w.safe), price));
    }

    /// @dev The Aave account's other collateral, USDC base units at each reserve's oracle: its value, and its value
    /// weighted by each reserve's liquidation threshold (non-e-mode).
    function _otherCollateral() internal view returns (uint256 value, uint256 weighted) {
        for (uint256 i; i < w.otherCollateral.length; ++i) {
            address aToken = w.pool.getReserveData(address(w.otherCollateral[i])).aTokenAddress;
            uint256 v = Math.mulDiv(IERC20(aToken).balanceOf(w.safe), w.otherOracles[i].price(), 1e36);
            value += v;
            weighted += v * w.pool.getConfiguration(address(w.otherCollateral[i])).getLiquidationThreshold() / 10_000;
        }
    }

    function _poolAssets(YieldVault vault) internal view returns (uint256) {
        return vault.convertToAssets(vault.balanceOf(w.safe));
    }

    function _aaveHealth() internal view returns (uint256 healthFactor) {
        (,,,,, healthFactor) = w.pool.getUserAccountData(w.safe);
    }

    function _value(uint256 wethAmount, uint256 price) internal pure returns (uint256) {
        return Math.mulDiv(wethAmount, price, 1e36);
    }

    function _health(uint256 collateral, uint256 debt, uint256 price, uint256 lltv) internal pure returns (uint256) {
        if (debt == 0) return type(uint256).max;
        return Math.mulDiv(_value(collateral, price), lltv, debt);
    }

    function _delta(uint256 before, uint256 afterwards) internal pure returns (uint256 up, uint256 down) {
        return afterwards > before ? (afterwards - before, uint256(0)) : (uint256(0), before - afterwards);
    }

    /* OPERATIONS */

    function _baseOp(bytes memory callData) internal view returns (PackedUserOperation memory op) {
        op.sender = w.safe;
        op.nonce = w.entryPoint.getNonce(w.safe, w.module.keeperNonceKey(w.safe, w.keeper));
        op.callData = callData;
        op.accountGasLimits = bytes32((uint256(500_000) << 128) | 3_000_000);
        op.preVerificationGas = 60_000;
        op.gasFees = bytes32((uint256(1 gwei) << 128) | 2 gwei);
    }

    /// @dev A keeper signature with the current aligned self-pay epoch as its window.
    function _sign(PackedUserOperation memory op, uint256 key) internal view returns (bytes memory) {
        uint256 length = w.module.getSelfPayBudget(w.safe).epochLength;
        uint48 validAfter = uint48(block.timestamp / length * length);
        uint48 validUntil = uint48(validAfter + length - 1);
        op.signature = abi.encodePacked(validAfter, validUntil);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, w.module.getOperationHash(op));
        return abi.encodePacked(validAfter, validUntil, r, s, v);
    }

    /* HOSTILE PLANS */

    /// @dev One plan in four is an honest plan made hostile (padded, doubled, reversed, an extra fee-paying repayment);
    /// the rest list random sub-account sets (both venues, duplicates, an Aave market without a policy) with random
    /// actions: every kind, pools allowed and not (an unlisted pool, the attacker), a beneficiary on venue actions,
    /// amounts from one wei to 2^128.
    function _hostile(uint256 seed) internal view returns (Plan memory plan) {
        if (seed % 4 == 0) {
            (Plan memory honest, bool ok,) = _honest(seed >> 2);
            if (ok) return _tampered(honest, seed >> 2);
        }
        uint256 shape = (seed >> 4) % 8;
        bytes32[] memory ids = new bytes32[](shape < 2 ? 1 : 2);
        ids[0] = shape == 0 || shape == 3 ? w.morphoId : w.aaveId;
        if (ids.length == 2) {
            if (shape == 2 || shape == 5) ids[1] = w.morphoId;
            else if (shape == 3 || shape == 4) ids[1] = w.aaveId;
            else if (shape == 6) ids[1] = ids[0];
            else ids[1] = w.strayId;
        }
        plan.subAccounts = ids;
        uint256 n = 1 + (seed >> 8) % 4;
        plan.actions = new Action[](n);
        address[5] memory pools = [address(w.usdcVault), address(w.feeVault), address(w.evilVault), w.attacker, address(0)];
        for (uint256 i; i < n; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            ActionKind kind = ActionKind(r % 6);
            bool poolAction = kind == ActionKind.WithdrawFromPool || kind == ActionKind.DepositToPool;
            address pool = poolAction
                ? pools[(r >> 8) % 3 == 0 ? (r >> 16) % 5 : (r >> 16) % 2]
                : ((r >> 24) % 10 == 0 ? pools[(r >> 32) % 4] : address(0));
            bool wethUnits = kind == ActionKind.SupplyCollateral || kind == ActionKind.WithdrawCollateral;
            uint256 amount = wethUnits ? 1e12 + (r >> 40) % 6e18 : 1 + (r >> 40) % 15_000e6;
            if ((r >> 200) % 16 == 0) amount = (r >> 204) % 2 == 0 ? 1 : type(uint128).max;
            plan.actions[i] = Action({kind: kind, subAccount: uint8((r >> 120) % ids.length), pool: pool, amount: amount});
        }
    }

    /// @dev An honest plan with one hostile change.
    function _tampered(Plan memory honest, uint256 seed) internal view returns (Plan memory plan) {
        uint256 how = (seed >> 24) % 5;
        Action[] memory original = honest.actions;
        plan.subAccounts = honest.subAccounts;
        plan.actions = original;
        if (how == 0) {
            // Doubled: past the landing zone, or the donor past its target.
            for (uint256 i; i < original.length; ++i) original[i].amount *= 2;
        } else if (how == 1) {
            // Reversed: every action's opposite kind, same sub-accounts and amounts.
            for (uint256 i; i < original.length; ++i) original[i].kind = ActionKind(uint8(original[i].kind) ^ 1);
        } else if (how == 2 && honest.subAccounts.length == 1) {
            // Padded with the other sub-account, listed with nothing or with a one-wei pool withdrawal.
            plan.subAccounts = new bytes32[](2);
            plan.subAccounts[0] = honest.subAccounts[0];
            plan.subAccounts[1] = honest.subAccounts[0] == w.morphoId ? w.aaveId : w.morphoId;
            if ((seed >> 32) % 2 == 0) plan.actions = _append(original, Action(ActionKind.WithdrawFromPool, 1, address(w.usdcVault), 1));
        } else {
            // An extra repayment funded from the fee-charging pool (0.3% exit fee): loss the bounds must hold.
            uint8 sub = uint8((seed >> 40) % honest.subAccounts.length);
            uint256 amount = 1000e6 + (seed >> 48) % 6000e6;
            plan.actions = _append(original, Action(ActionKind.WithdrawFromPool, sub, address(w.feeVault), amount));
            plan.actions = _append(plan.actions, Action(ActionKind.Repay, sub, address(0), amount));
        }
    }

    function _append(Action[] memory actions, Action memory extra) internal pure returns (Action[] memory out) {
        out = new Action[](actions.length + 1);
        for (uint256 i; i < actions.length; ++i) out[i] = actions[i];
        out[actions.length] = extra;
    }

    function _honestOrRandom(uint256 seed) internal view returns (Plan memory plan) {
        bool ok;
        (plan, ok,) = _honest(seed);
        if (!ok) plan = _hostile(seed | 1);
    }

    /* HONEST PLANS */

    /// @dev The state an honest solver reads: per sub-account collateral (WETH), debt (USDC), health (Aave's own for
    /// the Aave account) and liquidation threshold, at one price.
    struct View {
        uint256 price;
        uint256[2] held; // WETH each venue holds (what a withdrawal can take)
        uint256[2] collateral; // in the market's frame: Aave's other collateral as WETH at the WETH threshold
        uint256[2] debt;
        uint256[2] health;
        uint256[2] lltv;
    }

    /// @dev An honest plan from the current state, aiming the due sub-account at its target:
    /// one due (below or above its band) and the other with room on the right side of its target: a cross-venue move of
    /// collateral (withdraw on one venue, supply on the other) or of debt (borrow on one, repay on the other), chosen by
    /// the seed, the donor never taken past its target; both due in opposite directions: a cross-venue move;
    /// otherwise: a pool rescue (withdraw + repay) or boost (borrow + deposit) per due sub-account.
    function _honest(uint256 seed) internal view returns (Plan memory plan, bool ok, bool cross) {
        View memory v = _view();
        bool[2] memory due;
        for (uint256 k; k < 2; ++k) due[k] = v.health[k] < MIN_HEALTH || v.health[k] > MAX_HEALTH;
        if (!due[0] && !due[1]) return (plan, false, false);
        (plan, ok) = _crossPlan(v, due[MORPHO] ? MORPHO : AAVE, (seed >> 64) % 2 == 0);
        if (ok) return (plan, true, true);
        return _poolPlan(v, due);
    }

    function _view() internal view returns (View memory v) {
        (Snapshot[2] memory snap,) = _snapshot();
        v.price = w.wethOracle.price();
        for (uint256 k; k < 2; ++k) {
            v.held[k] = snap[k].collateral;
            v.collateral[k] = k == AAVE ? snap[k].frameCollateral : snap[k].collateral;
            v.debt[k] = snap[k].debt;
            v.health[k] = snap[k].health;
        }
        v.lltv = [MORPHO_LLTV, AAVE_THRESHOLD];
    }

    /// @dev Aims `d` (out of its band) at its target with value moved from or to the other sub-account `o`, as
    /// collateral or as debt; not when `o` is on the same side of its target, or out of its band the same way.
    function _crossPlan(View memory v, uint256 d, bool asCollateral) internal view returns (Plan memory plan, bool ok) {
        (uint256 amount, bool dReceives) = _crossAmount(v, d, asCollateral);
        if (amount == 0) return (plan, false);
        uint256 o = 1 - d;
        plan.subAccounts = new bytes32[](2);
        plan.subAccounts[0] = d == MORPHO ? w.morphoId : w.aaveId;
        plan.subAccounts[1] = o == MORPHO ? w.morphoId : w.aaveId;
        plan.actions = new Action[](2);
        // The taker acts first (withdraws collateral or borrows), the other supplies or repays: collateral leaves the
        // sub-account whose collateral shrinks, debt is taken by the one whose debt grows.
        uint8 taker = asCollateral == dReceives ? 1 : 0;
        ActionKind take = asCollateral ? ActionKind.WithdrawCollateral : ActionKind.Borrow;
        ActionKind give = asCollateral ? ActionKind.SupplyCollateral : ActionKind.Repay;
        plan.actions[0] = Action(take, taker, address(0), amount);
        plan.actions[1] = Action(give, 1 - taker, address(0), amount);
        return (plan, true);
    }

    /// @dev The amount (WETH or USDC) of the cross move, zero when there is none; `dReceives` when d's quantity grows.
    function _crossAmount(View memory v, uint256 d, bool asCollateral) internal pure returns (uint256 amount, bool dReceives) {
        uint256 o = 1 - d;
        bool up = v.health[d] < MIN_HEALTH;
        if (up == (v.health[o] < TARGET)) return (0, false);
        // Collateral flows toward the sub-account gaining health, debt away from it.
        dReceives = asCollateral == up;
        uint256 dHas = _quantity(v, d, asCollateral);
        uint256 oHas = _quantity(v, o, asCollateral);
        // Each sub-account's quantity at exactly its target: d needs the gap, o can give its own gap (never past it).
        uint256 need = dReceives ? _sub(_atTarget(v, d, asCollateral), dHas) : _sub(dHas, _atTarget(v, d, asCollateral));
        uint256 room = dReceives ? _sub(oHas, _atTarget(v, o, asCollateral)) : _sub(_atTarget(v, o, asCollateral), oHas);
        amount = Math.min(need, room - room / 50);
        // Collateral leaves the giver only up to the WETH it holds (Aave's frame counts its other reserves too).
        if (asCollateral) amount = Math.min(amount, v.held[dReceives ? o : d]);
        if (amount == 0) return (0, false);
        // d lands inside its landing zone (with a margin for rounding); a donor itself out of its band (the other way)
        // lands inside its own.
        if (!_lands(v.health[d], _healthWith(v, d, asCollateral, dReceives ? dHas + amount : dHas - amount))) return (0, false);
        if (v.health[o] < MIN_HEALTH || v.health[o] > MAX_HEALTH) {
            if (!_lands(v.health[o], _healthWith(v, o, asCollateral, dReceives ? oHas - amount : oHas + amount))) return (0, false);
        }
    }

    function _quantity(View memory v, uint256 k, bool asCollateral) internal pure returns (uint256) {
        return asCollateral ? v.collateral[k] : v.debt[k];
    }

    function _atTarget(View memory v, uint256 k, bool asCollateral) internal pure returns (uint256) {
        return asCollateral ? _collateralAt(v, k) : _debtAt(v, k);
    }

    /// @dev Sub-account k's health with its collateral (or debt) replaced by `quantity`.
    function _healthWith(View memory v, uint256 k, bool asCollateral, uint256 quantity) internal pure returns (uint256) {
        return asCollateral ? _health(quantity, v.debt[k], v.price, v.lltv[k]) : _health(v.collateral[k], quantity, v.price, v.lltv[k]);
    }

    /// @dev A rescue (withdraw from the USDC pool, repay) or boost (borrow, deposit into the fee pool, whose exit fee
    /// is only charged on withdrawal) for each due sub-account, aimed at the target.
    function _poolPlan(View memory v, bool[2] memory due) internal view returns (Plan memory plan, bool ok, bool cross) {
        uint256 n = (due[0] ? 1 : 0) + (due[1] ? 1 : 0);
        plan.subAccounts = new bytes32[](n);
        plan.actions = new Action[](2 * n);
        uint256 available = w.usdcVault.maxWithdraw(w.safe);
        uint256 j;
        for (uint256 k; k < 2; ++k) {
            if (!due[k]) continue;
            plan.subAccounts[j] = k == MORPHO ? w.morphoId : w.aaveId;
            uint256 atTarget = _debtAt(v, k);
            if (v.health[k] < MIN_HEALTH) {
                uint256 amount = v.debt[k] - atTarget;
                if (amount > available) return (plan, false, false);
                available -= amount;
                plan.actions[2 * j] = Action(ActionKind.WithdrawFromPool, uint8(j), address(w.usdcVault), amount);
                plan.actions[2 * j + 1] = Action(ActionKind.Repay, uint8(j), address(0), amount);
            } else {
                uint256 amount = atTarget - v.debt[k];
                plan.actions[2 * j] = Action(ActionKind.Borrow, uint8(j), address(0), amount);
                plan.actions[2 * j + 1] = Action(ActionKind.DepositToPool, uint8(j), address(w.feeVault), amount);
            }
            ++j;
        }
        return (plan, true, false);
    }

    /// @dev Collateral (WETH) at which sub-account k's health is the target, its debt unchanged.
    function _collateralAt(View memory v, uint256 k) internal pure returns (uint256) {
        return Math.mulDiv(Math.mulDiv(TARGET, v.debt[k], v.lltv[k], Math.Rounding.Ceil), 1e36, v.price, Math.Rounding.Ceil);
    }

    /// @dev Debt (USDC) at which sub-account k's health is the target, its collateral unchanged.
    function _debtAt(View memory v, uint256 k) internal pure returns (uint256) {
        return Math.mulDiv(_value(v.collateral[k], v.price), v.lltv[k], TARGET);
    }

    /// @dev Whether a sub-account due from `before` lands inside its landing zone at `healthAfter`, with a margin for
    /// rounding (RebalanceLib.landingZone).
    function _lands(uint256 before, uint256 healthAfter) internal pure returns (bool) {
        (uint256 low, uint256 high) = before < MIN_HEALTH
            ? (Math.max(MIN_HEALTH, before + (TARGET - MIN_HEALTH) / 2), TARGET + (MAX_HEALTH - TARGET) / 2)
            : (TARGET - (TARGET - MIN_HEALTH) / 2, Math.min(MAX_HEALTH, before - (MAX_HEALTH - TARGET) / 2));
        return healthAfter >= low + 0.002e18 && healthAfter + 0.002e18 <= high;
    }

    function _sub(uint256 a, uint256 b) internal pure returns (uint256) {
        return a > b ? a - b : 0;
    }
}

/// @notice Invariants of cross-venue automation: one Safe, a Morpho Blue market and an Aave v3 account as two
/// sub-accounts of one LeverageModule built with both adapters, on the real Morpho Blue, Aave v3.0.2 Pool, EntryPoint
/// v0.7 and Safe 1.4.1.
/// @dev Every invariant can fail: CROSS_VENUE_SELF_TEST=<name> makes one check stricter than its property, or injects
/// one fault, and the campaign then fails on that invariant's message (checked for each name, default profile):
/// `assets` (the Aave reserves not allowed as destinations: fails on the first Aave supply or repay), `health` (minHealth
/// + 0.15), `allowance` (the owner leaves a 1-wei approval to Morpho), `loss` (maxLossBps taken as 1), `epoch-loss`
/// (the budget taken as 1 bps), `usage` (debt changes not counted as position changes), `aave-health` (the module's
/// health required a whole bps below Aave's), `emode` (the ledger believes an owner switch that never happened),
/// `reserve` (any Aave action while any reserve is flagged), `paused` (the owner's pause never reaches the module),
/// `honest` (the honest solver overshoots x3). For example:
/// `CROSS_VENUE_SELF_TEST=usage node scripts/forge.mjs test --match-path modules/test/invariant/CrossVenueInvariants.t.sol`
/// forge-config: default.invariant.runs = 16
/// forge-config: default.invariant.depth = 50
/// forge-config: deep.invariant.runs = 64
/// forge-config: deep.invariant.depth = 100
contract CrossVenueInvariantsTest is AaveTestBase {
    CrossVenueHandler internal handler;
    YieldVault internal evilVault;
    RiggedVault internal feeVault;
    uint256 internal evilAssets;
    address internal attacker = makeAddr("attacker");
    address internal whale = makeAddr("whale");
    bytes32 internal morphoId;
    bytes32 internal aaveId;

    function setUp() public override {
        super.setUp();
        installModuleWithAave();
        // Morpho: 20 WETH, 34,800 USDC (health 1.483 at 3,000); Aave: 10 WETH + 1.5 wstETH + 0.02 WBTC, 23,270 USDC (health 1.320). Both move
        // with the one price, so a small move puts one out of its band [1.3, 1.5] with the other on the far side of the
        // target 1.4: a cross-venue plan is what the honest keeper sends.
        // The Aave account is multi-collateral (issue 10 rev10p): next to the policy market's 10 WETH (threshold 83%) it
        // holds 1.5 wstETH, its threshold raised to 93% (the market's frame counts it above its value), and 0.02 WBTC at
        // 78% (below): health ~1.32 at 23,270 USDC of debt, the frame's equity ~4% above the true one.
        openPosition(safe, wethMarket, 20e18, 34_800e6);
        aaveConfigurator.configureReserveAsCollateral(address(wsteth), 9000, 9300, 10_600);
        aaveSupply(safe, weth, 10e18);
        aaveSupply(safe, wsteth, 1.5e18);
        aaveSupply(safe, wbtc, 0.02e8);
        aaveBorrow(safe, usdc, 23_270e6);
        safeExec(safe, address(usdc), 0, abi.encodeCall(IERC20.transfer, (lender, 34_800e6 + 23_270e6 - 2000e6)), 0);
        weth.mint(safe, 1e18);
        depositToVault(safe, usdcVault, 20_000e6);
        feeVault = new RiggedVault(usdc);
        _seedVault(YieldVault(address(feeVault)), usdc, 1000e6);
        depositToVault(safe, YieldVault(address(feeVault)), 20_000e6);
        feeVault.setExitFee(30);
        // Another borrower keeps Aave's USDC reserve 80% utilized, so interest accrues at ~5% a year.
        weth.mint(whale, 10_000e18);
        vm.startPrank(whale);
        weth.approve(address(aavePool), 10_000e18);
        aavePool.supply(address(weth), 10_000e18, whale, 0);
        aavePool.borrow(address(usdc), 8_000_000e6, 2, 0, whale);
        vm.stopPrank();

        // Narrow bands, so oracle moves often put a sub-account out of band and plans reach the deeper checks.
        Policy memory policy = defaultPolicy(wethMarket, address(usdcVault));
        policy.minHealth = 1.3e18;
        policy.targetHealth = 1.4e18;
        policy.maxHealth = 1.5e18;
        policy.boostAllowed = true;
        policy.pools = new address[](2);
        policy.pools[0] = address(usdcVault);
        policy.pools[1] = address(feeVault);
        policy.maxRebalancesPerEpoch = 1000;
        policy.maxGasPerEpoch = type(uint64).max;
        policy.maxEpochLossBps = 20;
        morphoId = setPolicyFor(safe, policy);
        policy.adapter = address(aaveAdapter);
        policy.market = wethUsdc;
        aaveId = setPolicyFor(safe, policy);

        evilVault = new YieldVault(usdc, "evil", "EVL");
        usdc.mint(attacker, 5000e6);
        vm.startPrank(attacker);
        usdc.approve(address(evilVault), 5000e6);
        evilVault.deposit(5000e6, attacker);
        vm.stopPrank();
        evilAssets = evilVault.totalAssets();

        handler = new CrossVenueHandler(_world());
        bytes4[] memory selectors = new bytes4[](19);
        uint256 n;
        for (uint256 i; i < 4; ++i) selectors[n++] = CrossVenueHandler.hostileKeeper.selector;
        for (uint256 i; i < 4; ++i) selectors[n++] = CrossVenueHandler.honestKeeper.selector;
        for (uint256 i; i < 3; ++i) selectors[n++] = CrossVenueHandler.moveOracle.selector;
        selectors[n++] = CrossVenueHandler.accrueInterest.selector;
        selectors[n++] = CrossVenueHandler.ownerTogglesPause.selector;
        for (uint256 i; i < 3; ++i) selectors[n++] = CrossVenueHandler.ownerAdjusts.selector;
        selectors[n++] = CrossVenueHandler.adminTogglesReserve.selector;
        for (uint256 i; i < 2; ++i) selectors[n++] = CrossVenueHandler.eModeSwitchAttempt.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
        targetContract(address(handler));
    }

    function _world() internal returns (CrossVenueWorld memory) {
        TestToken[] memory others = new TestToken[](2);
        SimOracle[] memory otherOracles = new SimOracle[](2);
        (others[0], others[1]) = (wsteth, wbtc);
        (otherOracles[0], otherOracles[1]) = (wstethOracle, wbtcOracle);
        return CrossVenueWorld({
            module: module,
            entryPoint: entryPoint,
            morpho: morpho,
            morphoParams: wethMarket,
            pool: aavePool,
            configurator: aaveConfigurator,
            aaveAdmin: address(this),
            safe: safe,
            keeper: keeper,
            keeperKey: keeperKey,
            usdc: usdc,
            weth: weth,
            wethOracle: wethOracle,
            usdcVault: usdcVault,
            feeVault: feeVault,
            evilVault: evilVault,
            morphoId: morphoId,
            aaveId: aaveId,
            strayId: module.subAccountId(address(aaveAdapter), wbtcUsdc),
            aWeth: reserve(weth).aTokenAddress,
            aUsdc: reserve(usdc).aTokenAddress,
            usdcDebt: reserve(usdc).variableDebtTokenAddress,
            wethDebt: reserve(weth).variableDebtTokenAddress,
            attacker: attacker,
            bundler: makeAddr("honestBundler"),
            otherCollateral: others,
            otherOracles: otherOracles
        });
    }

    /// @notice Every invariant below, checked after every handler call of one campaign (forge runs a campaign per
    /// `invariant_` function; one entry point keeps the default `npm test` to one campaign over this heavy stack).
    function invariant_CrossVenue() public view {
        assertAssetsLeaveTheSafeOnlyToAllowedVenues();
        assertHealthOfEveryTouchedSubAccountAtLeastMinAfterEveryRebalance();
        assertNoAllowanceSurvivesAnOp();
        assertNetValueLossWithinMaxLossBpsPerOp();
        assertCumulativeLossPerEpochWithinTheEpochBudget();
        assertUsageChangesOnlyForSubAccountsWhosePositionChanged();
        assertModuleHealthOfTheAaveAccountNeverAboveAavesHealthFactor();
        assertEModeChangesOnlyByTheOwnerAndGatesTheAavePolicy();
        assertNoAaveActionOnAPausedOrFrozenReserve();
        assertNoRebalanceWhilePaused();
        assertHonestCrossVenuePlansPass();
    }

    function assertAssetsLeaveTheSafeOnlyToAllowedVenues() internal view {
        address[4] memory outsiders = [attacker, keeper, bundler, address(handler)];
        for (uint256 i; i < outsiders.length; ++i) {
            assertEq(usdc.balanceOf(outsiders[i]), 0, "USDC reached an outsider");
            assertEq(weth.balanceOf(outsiders[i]), 0, "WETH reached an outsider");
            assertEq(aBalance(weth, outsiders[i]), 0, "aWETH reached an outsider");
            assertEq(aBalance(usdc, outsiders[i]), 0, "aUSDC reached an outsider");
            assertEq(usdcVault.balanceOf(outsiders[i]), 0, "pool shares reached an outsider");
        }
        assertEq(variableDebt(usdc, attacker), 0, "debt opened for an outsider");
        assertEq(evilVault.totalAssets(), evilAssets, "the unlisted pool received nothing");
        assertEq(evilVault.balanceOf(safe), 0, "the Safe holds no unlisted pool shares");
        assertEq(handler.transferViolations(), 0, "a token left the Safe for an address outside the venues and pools");
        assertEq(handler.approvalViolations(), 0, "the Safe approved a spender outside the venues and pools");
    }

    function assertHealthOfEveryTouchedSubAccountAtLeastMinAfterEveryRebalance() internal view {
        assertEq(handler.healthViolations(), 0, "a touched sub-account below minHealth after a rebalance");
    }

    function assertNoAllowanceSurvivesAnOp() internal view {
        assertTrue(handler.allowancesZero(), "standing allowance");
        assertEq(handler.allowanceViolations(), 0, "an allowance survived an operation");
    }

    function assertNetValueLossWithinMaxLossBpsPerOp() internal view {
        assertEq(handler.lossViolations(), 0, "an operation lost more than maxLossBps of what its positions moved");
    }

    function assertCumulativeLossPerEpochWithinTheEpochBudget() internal view {
        assertEq(handler.epochLossViolations(), 0, "an epoch lost more than maxEpochLossBps of a sub-account's equity");
    }

    function assertUsageChangesOnlyForSubAccountsWhosePositionChanged() internal view {
        assertEq(handler.usageViolations(), 0, "usage charged without a position change, or a change not charged");
    }

    function assertModuleHealthOfTheAaveAccountNeverAboveAavesHealthFactor() internal view {
        assertEq(handler.moduleAboveAaveViolations(), 0, "module health above Aave's health factor");
        if (aavePool.getUserEMode(safe) == 0) assertLe(module.health(safe, aaveId), aaveHealthFactor(safe));
    }

    function assertEModeChangesOnlyByTheOwnerAndGatesTheAavePolicy() internal view {
        assertEq(handler.eModeViolations(), 0, "e-mode changed by someone other than the owner, or used under another");
    }

    function assertNoAaveActionOnAPausedOrFrozenReserve() internal view {
        assertEq(handler.reserveFlagViolations(), 0, "an Aave action on a paused reserve, or new exposure on a frozen one");
    }

    function assertNoRebalanceWhilePaused() internal view {
        assertEq(handler.pausedViolations(), 0, "a rebalance while the owner paused automation");
    }

    function assertHonestCrossVenuePlansPass() internal view {
        assertEq(handler.honestFailures(), 0, string.concat("honest plan refused: ", vm.toString(handler.lastHonestFailure())));
    }

    /// @dev The honest keeper's cross-venue path works (so the invariant over it is not vacuous): WETH down 2% puts the
    /// Aave account at 1.294, below its band, with Morpho at 1.453, above its target: both forms pass.
    function test_HonestKeeperSendsCrossVenuePlansThatPass() public {
        wethOracle.setPrice(2940e18);
        uint256 snapshot = vm.snapshotState();
        for (uint256 form; form < 2; ++form) {
            vm.revertToState(snapshot);
            handler.honestKeeper(uint256(form) << 64);
            assertEq(handler.honestCrossVenue(), 1, "a cross-venue plan");
            assertEq(handler.honestPassed(), 1, "it executed");
            assertGe(aaveHealthFactor(safe), 1.35e18, "Aave in its landing zone");
            assertGe(module.health(safe, morphoId), 1.4e18, "Morpho not past its target");
            assertEq(handler.transferViolations(), 0, "transfers only to the venues");
            assertEq(handler.healthViolations(), 0, "health checked");
        }
    }

    /// @dev Each run's counters go to the log (forge prints the last run's) and, when CROSS_VENUE_STATS names a file
    /// under reports/, one JSON line per run is appended there (to total a campaign's stats).
    function afterInvariant() external {
        string memory statsFile = vm.envOr("CROSS_VENUE_STATS", string(""));
        if (bytes(statsFile).length != 0) {
            string memory k = "stats";
            vm.serializeUint(k, "calls", handler.calls());
            vm.serializeUint(k, "rebalances", handler.rebalances());
            vm.serializeUint(k, "refused", handler.refused());
            vm.serializeUint(k, "hostileSent", handler.hostileSent());
            vm.serializeUint(k, "hostilePassed", handler.hostilePassed());
            vm.serializeUint(k, "honestSent", handler.honestSent());
            vm.serializeUint(k, "honestCrossVenue", handler.honestCrossVenue());
            vm.serializeUint(k, "honestPassed", handler.honestPassed());
            vm.serializeUint(k, "honestExcused", handler.honestExcused());
            vm.serializeUint(k, "eModeAttempts", handler.eModeAttempts());
            vm.serializeUint(k, "reserveToggles", handler.reserveToggles());
            vm.serializeUint(k, "maxLossPpbSeen", handler.maxLossPpbSeen());
            vm.writeLine(statsFile, vm.serializeUint(k, "refusalKinds", handler.refusalKindCount()));
        }
        emit log_named_uint("handler calls", handler.calls());
        emit log_named_uint("rebalances executed", handler.rebalances());
        emit log_named_uint("attempts refused", handler.refused());
        emit log_named_uint("hostile plans sent / executed", handler.hostileSent() * 1e6 + handler.hostilePassed());
        emit log_named_uint("honest plans sent", handler.honestSent());
        emit log_named_uint("honest cross-venue plans", handler.honestCrossVenue());
        emit log_named_uint("honest plans executed", handler.honestPassed());
        emit log_named_uint("honest plans refused with an excuse", handler.honestExcused());
        emit log_named_uint("honest keeper idle (nothing due)", handler.honestIdle());
        emit log_named_uint("e-mode switch attempts", handler.eModeAttempts());
        emit log_named_uint("reserve pause/freeze toggles", handler.reserveToggles());
        emit log_named_uint("largest epoch loss seen (ppb of equity)", handler.maxLossPpbSeen());
        emit log_named_uint("largest Aave HF - module health (wad)", handler.maxModuleToAaveGap());
        for (uint256 i; i < handler.refusalKindCount(); ++i) {
            bytes4 kind = handler.refusalKinds(i);
            emit log_named_uint(vm.toString(abi.encodePacked(kind)), handler.refusals(kind));
        }
    }
}
