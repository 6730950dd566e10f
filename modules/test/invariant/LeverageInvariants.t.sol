// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test, Vm} from "forge-std/Test.sol";
import {Fixture} from "../utils/Fixture.sol";
import {UniswapFixture} from "../utils/UniswapFixture.sol";
import {UniswapV3SwapAdapter} from "../../src/adapters/UniswapV3SwapAdapter.sol";
import {IUniswapV3Pool} from "@uniswap/v3-core/contracts/interfaces/IUniswapV3Pool.sol";
import {TestToken} from "../utils/TestToken.sol";
import {SimOracle} from "../utils/SimOracle.sol";
import {YieldVault} from "../utils/YieldVault.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";
import {LeverageModule} from "../../src/LeverageModule.sol";
import {ConstantsLib} from "../../src/libraries/ConstantsLib.sol";
import {MorphoBlueAdapter} from "../../src/adapters/MorphoBlueAdapter.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";
import {IEntryPoint} from "@account-abstraction/contracts/interfaces/IEntryPoint.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {IAccount} from "@account-abstraction/contracts/interfaces/IAccount.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC4626} from "@openzeppelin/contracts/interfaces/IERC4626.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IMorpho, Id, Position} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";

/// @notice Everything the handler touches, handed over by the invariant test.
struct World {
    LeverageModule module;
    MorphoBlueAdapter adapter;
    IEntryPoint entryPoint;
    address safe;
    address keeper;
    uint256 keeperKey;
    TestToken usdc;
    TestToken weth;
    TestToken wbtc;
    SimOracle wethOracle;
    SimOracle wbtcOracle;
    YieldVault usdcVault;
    YieldVault wethVault;
    YieldVault evilVault;
    RiggedVault feeVault;
    bytes32 wethId;
    bytes32 wbtcId;
    bytes32 wethMarket;
    bytes32 wbtcMarket;
    address lender;
    address attacker;
    /// @dev The SwapRouter the module's swap adapter targets (a spender whose allowance must end at zero).
    address swapRouter;
    /// @dev The invariant test: `alignPools()` lets the arbitrageur move the Uniswap pools onto the oracles.
    address aligner;
}

interface IPoolAligner {
    function alignPools() external;
}

/// @notice A malicious keeper (honest-looking and hostile plans, direct and through the EntryPoint, forged
/// signatures), oracle moves and market/time actions against one Safe. Never reverts: every call is wrapped and every
/// outcome counted; violations are recorded in ghost variables the invariants read. Everything the checks compare
/// is measured independently of the module (Morpho positions, oracle prices, pool shares).
contract LeverageHandler is Test {
    World internal w;
    uint256 internal constant LLTV = 0.86e18;

    /// @dev One sub-account before a call: its Morpho position, its epoch usage, its health and equity at the price the
    /// plan is judged at.
    struct Snapshot {
        uint256 collateral;
        uint256 borrowShares;
        uint256 debt;
        uint256 price;
        uint256 health;
        int256 equity;
        bytes32 usage;
    }

    uint256 public calls;
    uint256 public rebalances;
    uint256 public refused;
    uint256 public opsThroughEntryPoint;
    uint256 public forgedAccepted;
    uint256 public healthViolations;
    uint256 public lossViolations;
    uint256 public allowanceViolations;
    uint256 public pausedViolations;
    uint256 public nonceDecreases;
    uint256 public lastNonce;
    uint256 public epochLossViolations;
    uint256 public usageViolations;
    uint256 public targetViolations;
    uint256 public epochLossRefusals;
    /// @dev Ghost counters: successful rebalances with at least one swap, and swap actions executed by direction (a
    /// swap deleverage sells collateral, a swap boost buys it).
    uint256 public swapsExecuted;
    uint256 public sellsExecuted;
    uint256 public buysExecuted;
    /// @dev Successful rebalances that parked something in a pool (since rr10b only a boost's borrow funds a deposit).
    uint256 public depositsExecuted;
    /// @dev `keeperSwap` operations sent while automation was not paused.
    uint256 public swapScenarios;
    /// @dev `keeperBoostDeposit` plans sent while automation was not paused.
    uint256 public boostDepositScenarios;
    /// @dev Independent per-epoch loss ledger, in parts per billion of each changed sub-account's equity before each op.
    mapping(bytes32 id => uint256) public epochOf;
    mapping(bytes32 id => uint256) public lossPpbInEpoch;
    uint256 public maxLossPpbSeen;
    bool public paused;
    mapping(bytes4 => uint256) public refusals;
    bytes4[] public refusalKinds;

    constructor(World memory world) {
        w = world;
        lastNonce = w.entryPoint.getNonce(w.safe, _key());
    }

    function _key() internal view returns (uint192) {
        return w.module.keeperNonceKey(w.safe, w.keeper);
    }

    /* KEEPER */

    function keeperRebalance(uint256 seed) external {
        ++calls;
        _direct(_plan(seed));
    }

    /// @dev `executeRebalance` called as the EntryPoint calls it (validation skipped), every outcome counted.
    function _direct(Plan memory plan) internal {
        (Snapshot[2] memory snap, int256 before) = _snapshot();
        vm.prank(address(w.entryPoint));
        try ILeverageModule(w.safe).executeRebalance(w.keeper, plan) {
            _afterSuccess(plan, snap, before);
        } catch (bytes memory err) {
            _refused(err);
        }
        _checkUsage(snap);
    }

    function keeperOpThroughEntryPoint(uint256 seed) external {
        ++calls;
        _throughEntryPoint(_plan(seed));
    }

    /// @dev A crash or a rally takes one sub-account out of its band (the pools follow, as an arbitrageur would), and the
    /// keeper sends the honest swap plan for it through the EntryPoint: a swap deleverage just below the band, a swap
    /// boost just above it (WETH only: the WBTC policy is deleverage-only), on the pools the world has (0.05%). When the
    /// epoch has spent a fifth of its loss budget (one swap's fee and impact can take the rest), a day passes first (the
    /// next aligned epoch). So runs execute swaps, not only refuse them (`afterInvariant`).
    function keeperSwap(uint256 seed) external {
        ++calls;
        bytes32 id = (seed >> 8) % 3 == 0 ? w.wbtcId : w.wethId;
        Policy memory policy = w.module.getPolicy(w.safe, id);
        _rollEpochIfSpent(id, policy);
        // The requested direction, or the other one when the oracle price it needs is outside the pools' ranges.
        uint256 below = uint256(policy.minHealth) * 98 / 100;
        uint256 above = uint256(policy.maxHealth) * 103 / 100;
        bool sell = seed % 2 == 0 || !policy.boostAllowed;
        if (!_pushOutOfBand(id, sell ? below : above) && !(policy.boostAllowed && _pushOutOfBand(id, sell ? above : below))) return;
        if (!paused) ++swapScenarios;
        // Route bits set: the 0.05% pool (the world has no other).
        _throughEntryPoint(_honestSwapFor(id, policy.targetHealth, seed | (uint256(1) << 56)));
    }

    /// @dev A rally takes the WETH sub-account (the one with boosts) 1-10 % above its band (the pools follow), and the
    /// keeper sends the honest parked boost for it, directly or through the EntryPoint: Borrow to 1.38-1.42 health, then
    /// DepositToPool of all of it into an allowed USDC pool (the yield pool or the fee pool), the deposit listed on the
    /// borrowing sub-account, which supplies no collateral. Row 73: only a sub-account due above its band funds a
    /// deposit with its borrow, so the honest boost of `_honest` (health in band) is refused and this is the lane that
    /// runs deposits (`afterInvariant`). When the epoch has spent a fifth of its loss budget, a day passes first.
    function keeperBoostDeposit(uint256 seed) external {
        ++calls;
        bytes32 id = w.wethId;
        Policy memory policy = w.module.getPolicy(w.safe, id);
        if (!policy.boostAllowed) return;
        _rollEpochIfSpent(id, policy);
        if (!_pushOutOfBand(id, uint256(policy.maxHealth) * (101 + seed % 10) / 100)) return;
        (uint256 collateral, uint256 debt) = w.adapter.position(w.wethMarket, w.safe);
        uint256 wanted = Math.mulDiv(Math.mulDiv(collateral, w.wethOracle.price(), 1e36), LLTV, 1.38e18 + (seed >> 16) % 0.04e18);
        if (wanted <= debt) return;
        if (!paused) ++boostDepositScenarios;
        Plan memory plan;
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = id;
        plan.actions = new Action[](2);
        address pool = (seed >> 8) % 2 == 0 ? address(w.usdcVault) : address(w.feeVault);
        plan.actions[0] = Action(ActionKind.Borrow, 0, address(0), wanted - debt);
        plan.actions[1] = Action(ActionKind.DepositToPool, 0, pool, wanted - debt);
        if ((seed >> 12) % 2 == 0) _direct(plan);
        else _throughEntryPoint(plan);
    }

    function _honestSwapFor(bytes32 id, uint256 target, uint256 seed) internal view returns (Plan memory plan) {
        (uint256 collateral, uint256 debt) = w.adapter.position(_market(id), w.safe);
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = id;
        uint256 price = (id == w.wethId ? w.wethOracle : w.wbtcOracle).price();
        return _honestSwap(plan, price, collateral, debt, target, seed);
    }

    function _rollEpochIfSpent(bytes32 id, Policy memory policy) internal {
        EpochUsage memory usage = w.module.getEpochUsage(w.safe, id);
        uint256 epoch = block.timestamp / policy.epochLength;
        if (usage.epoch == epoch && uint256(usage.lossPpb) * 5 > uint256(policy.maxEpochLossBps) * ConstantsLib.PPB_PER_BPS) {
            vm.warp((epoch + 1) * policy.epochLength);
        }
    }

    /// @dev Sets the sub-account's oracle so its health is `health`, the pools following; false (nothing changed) for an
    /// empty position or a price outside the pools' liquidity ranges (half to twice the start price).
    function _pushOutOfBand(bytes32 id, uint256 health) internal returns (bool) {
        (uint256 collateral, uint256 debt) = w.adapter.position(_market(id), w.safe);
        if (collateral == 0 || debt == 0) return false;
        // health = collateral x price / 1e36 x LLTV / debt, so the Morpho price for a health is health x debt x 1e36 /
        // (LLTV x collateral); SimOracle.setPrice takes whole USDC per whole token (1e18) instead.
        bool weth = id == w.wethId;
        uint256 priceWad = Math.mulDiv(Math.mulDiv(Math.mulDiv(health, debt, LLTV), 1e36, collateral), weth ? 1e18 : 1e8, 1e24);
        (uint256 lo, uint256 hi) = weth ? (1600e18, 5600e18) : (32_000e18, 112_000e18);
        if (priceWad < lo || priceWad > hi) return false;
        (weth ? w.wethOracle : w.wbtcOracle).setPrice(priceWad);
        try IPoolAligner(w.aligner).alignPools() {} catch {}
        return true;
    }

    function _throughEntryPoint(Plan memory plan) internal {
        ++opsThroughEntryPoint;
        PackedUserOperation memory op = _op(plan, w.keeperKey);
        (Snapshot[2] memory snap, int256 before) = _snapshot();
        PackedUserOperation[] memory ops = new PackedUserOperation[](1);
        ops[0] = op;
        vm.recordLogs();
        vm.prank(w.attacker, w.attacker);
        try w.entryPoint.handleOps(ops, payable(w.attacker)) {
            Vm.Log[] memory logs = vm.getRecordedLogs();
            if (_executed(logs)) _afterSuccess(plan, snap, before);
            else _refused(_revertReason(logs));
        } catch (bytes memory err) {
            _refused(err);
        }
        _checkUsage(snap);
        uint256 nonce = w.entryPoint.getNonce(w.safe, _key());
        if (nonce < lastNonce) ++nonceDecreases;
        lastNonce = nonce;
    }

    function forgedSignature(uint256 seed) external {
        ++calls;
        PackedUserOperation memory op = _op(_plan(seed), uint256(keccak256(abi.encode("impostor", seed))) % 1e70 + 1);
        if (seed % 3 == 1) vm.chainId(block.chainid + 1);
        vm.prank(address(w.entryPoint));
        try IAccount(w.safe).validateUserOp(op, bytes32(0), 0) returns (uint256 data) {
            if (data & 1 == 0) ++forgedAccepted;
        } catch (bytes memory err) {
            _refused(err);
        }
        if (seed % 3 == 1) vm.chainId(block.chainid - 1);
    }

    function ownerTogglesAutomation(uint256 seed) external {
        ++calls;
        bool pause = seed % 4 == 0;
        vm.prank(w.safe);
        try ILeverageModule(w.safe).setPaused(pause) {
            paused = pause;
        } catch {}
    }

    /* ORACLES AND MARKETS */

    function moveOracle(uint256 seed, int256 moveBps) external {
        ++calls;
        moveBps = _bound(moveBps, -2000, 2000);
        SimOracle oracle = seed % 3 == 0 ? w.wbtcOracle : w.wethOracle;
        (uint256 lo, uint256 hi) = seed % 3 == 0 ? (30_000e18, 120_000e18) : (1500e18, 6000e18);
        uint256 current = uint256(oracle.feedAnswer()) * 1e10;
        uint256 next = uint256(int256(current) * (10_000 + moveBps) / 10_000);
        oracle.setPrice(_bound(next, lo, hi));
        // Usually the arbitrageur follows the oracle at once; sometimes the pools lag (a stale or manipulated pool).
        if ((seed >> 8) % 4 != 0) {
            try IPoolAligner(w.aligner).alignPools() {} catch {}
        }
    }

    function marketAction(uint256 seed, uint256 amount) external {
        ++calls;
        uint256 kind = seed % 3;
        if (kind == 0) {
            vm.warp(block.timestamp + _bound(amount, 1, 30 minutes));
        } else if (kind == 1) {
            // A donation to the allowed pool: the Safe's shares are worth more, nobody else's worth less.
            amount = _bound(amount, 1, 1000e6);
            w.usdc.mint(address(w.usdcVault), amount);
        } else {
            amount = _bound(amount, 1e6, 50_000e6);
            w.usdc.mint(w.lender, amount);
            vm.prank(w.lender);
            w.usdc.transfer(address(w.usdcVault), 0);
        }
    }

    /* CHECKS AFTER A SUCCESSFUL REBALANCE */

    function _afterSuccess(Plan memory plan, Snapshot[2] memory snap, int256 before) internal {
        ++rebalances;
        bool swapped;
        bool deposited;
        for (uint256 i; i < plan.actions.length; ++i) {
            ActionKind kind = plan.actions[i].kind;
            deposited = deposited || kind == ActionKind.DepositToPool;
            if (kind == ActionKind.SellCollateral) ++sellsExecuted;
            if (kind == ActionKind.BuyCollateral) ++buysExecuted;
            swapped = swapped || kind == ActionKind.SellCollateral || kind == ActionKind.BuyCollateral;
        }
        if (swapped) ++swapsExecuted;
        if (deposited) ++depositsExecuted;
        if (paused) ++pausedViolations;
        (int256 afterValue,) = _value();
        uint256 loss = afterValue < before ? uint256(before - afterValue) : 0;
        uint256 into;
        uint256 out;
        uint256 maxLossBps = 10_000;
        for (uint256 i; i < plan.subAccounts.length; ++i) {
            bytes32 id = plan.subAccounts[i];
            Snapshot memory b = snap[id == w.wethId ? 0 : 1];
            Policy memory policy = w.module.getPolicy(w.safe, id);
            if (policy.maxLossBps < maxLossBps) maxLossBps = policy.maxLossBps;
            (uint256 collateral, uint256 debt) = w.adapter.position(_market(id), w.safe);
            uint256 healthAfter = _healthAt(collateral, debt, b.price);
            if (healthAfter < policy.minHealth) ++healthViolations;
            _checkTarget(policy, b.health, healthAfter);
            (uint256 cIn, uint256 cOut) = _delta(Math.mulDiv(b.collateral, b.price, 1e36), Math.mulDiv(collateral, b.price, 1e36));
            (uint256 dOut, uint256 dIn) = _delta(b.debt, debt);
            into += cIn + dIn;
            out += cOut + dOut;
        }
        // Per operation: at most maxLossBps of what the positions moved (value into or out of them, the larger).
        if (loss * 10_000 > Math.max(into, out) * maxLossBps + 2 * 10_000) ++lossViolations;
        // Per epoch: charged to every sub-account the plan changed, in ppb of its own equity before the plan.
        for (uint256 i; i < plan.subAccounts.length; ++i) {
            bytes32 id = plan.subAccounts[i];
            Snapshot memory b = snap[id == w.wethId ? 0 : 1];
            Policy memory policy = w.module.getPolicy(w.safe, id);
            uint256 epoch = block.timestamp / policy.epochLength;
            if (epochOf[id] != epoch) {
                epochOf[id] = epoch;
                lossPpbInEpoch[id] = 0;
            }
            if (loss != 0) lossPpbInEpoch[id] += b.equity > 0 ? loss * 1e9 / uint256(b.equity) : type(uint32).max;
            if (lossPpbInEpoch[id] > maxLossPpbSeen) maxLossPpbSeen = lossPpbInEpoch[id];
            if (lossPpbInEpoch[id] > uint256(policy.maxEpochLossBps) * 1e5) ++epochLossViolations;
        }
        if (!_allowancesZero()) ++allowanceViolations;
    }

    /// @dev A triggered sub-account moves at least half way from the breached edge toward its target and stops short of
    /// half way past it; any other only moves toward its target, never past it.
    function _checkTarget(Policy memory policy, uint256 before, uint256 healthAfter) internal {
        uint256 target = policy.targetHealth;
        bool due = before < policy.minHealth || (policy.boostAllowed && before > policy.maxHealth);
        if (due) {
            // Moved at least half the distance between the breached edge and the target, and not more than half way
            // past the target toward the other edge.
            bool below = before < policy.minHealth;
            uint256 low = below ? Math.max(policy.minHealth, before + (target - policy.minHealth) / 2) : target - (target - policy.minHealth) / 2;
            uint256 high = below
                ? target + (policy.maxHealth - target) / 2
                : (before == type(uint256).max ? policy.maxHealth : Math.min(policy.maxHealth, before - (policy.maxHealth - target) / 2));
            if (healthAfter < low || healthAfter > high) ++targetViolations;
        } else if (before >= target ? (healthAfter > before || healthAfter < target) : (healthAfter < before || healthAfter > target)) {
            ++targetViolations;
        }
    }

    /// @dev Usage (cooldown, counters, loss) changes only for sub-accounts whose position changed, and every executed
    /// change is charged (positions change only through rebalances here).
    function _checkUsage(Snapshot[2] memory snap) internal {
        bytes32[2] memory ids = [w.wethId, w.wbtcId];
        for (uint256 i; i < 2; ++i) {
            Position memory p = IMorpho(address(w.adapter.MORPHO())).position(Id.wrap(_market(ids[i])), w.safe);
            bool moved = p.collateral != snap[i].collateral || p.borrowShares != snap[i].borrowShares;
            bool charged = keccak256(abi.encode(w.module.getEpochUsage(w.safe, ids[i]))) != snap[i].usage;
            if (charged != moved) ++usageViolations;
        }
    }

    function _snapshot() internal view returns (Snapshot[2] memory snap, int256 value) {
        bytes32[2] memory ids = [w.wethId, w.wbtcId];
        for (uint256 i; i < 2; ++i) {
            Snapshot memory x = snap[i];
            Position memory p = IMorpho(address(w.adapter.MORPHO())).position(Id.wrap(_market(ids[i])), w.safe);
            x.collateral = p.collateral;
            x.borrowShares = p.borrowShares;
            (, x.debt) = w.adapter.position(_market(ids[i]), w.safe);
            x.price = (i == 0 ? w.wethOracle : w.wbtcOracle).price();
            x.health = _healthAt(x.collateral, x.debt, x.price);
            x.equity = int256(Math.mulDiv(x.collateral, x.price, 1e36)) - int256(x.debt);
            x.usage = keccak256(abi.encode(w.module.getEpochUsage(w.safe, ids[i])));
        }
        (value,) = _value();
    }

    function _executed(Vm.Log[] memory logs) internal pure returns (bool ok) {
        bytes32 sig = keccak256("UserOperationEvent(bytes32,address,address,uint256,bool,uint256,uint256)");
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == sig) (, ok,,) = abi.decode(logs[i].data, (uint256, bool, uint256, uint256));
        }
    }

    function _delta(uint256 before, uint256 afterwards) internal pure returns (uint256 up, uint256 down) {
        return afterwards > before ? (afterwards - before, uint256(0)) : (uint256(0), before - afterwards);
    }

    function _market(bytes32 id) internal view returns (bytes32) {
        return id == w.wethId ? w.wethMarket : w.wbtcMarket;
    }

    function _healthAt(uint256 collateral, uint256 debt, uint256 price) internal pure returns (uint256) {
        if (debt == 0) return type(uint256).max;
        return Math.mulDiv(Math.mulDiv(collateral, price, 1e36), LLTV, debt);
    }

    function _revertReason(Vm.Log[] memory logs) internal pure returns (bytes memory reason) {
        bytes32 sig = keccak256("UserOperationRevertReason(bytes32,address,uint256,bytes)");
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == sig) (, reason) = abi.decode(logs[i].data, (uint256, bytes));
        }
    }

    function _refused(bytes memory err) internal {
        ++refused;
        bytes4 kind = bytes4(err);
        if (kind == ILeverageModule.EpochLossBudgetExceeded.selector) ++epochLossRefusals;
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
        address[5] memory spenders =
            [address(w.adapter.MORPHO()), address(w.usdcVault), address(w.wethVault), address(w.evilVault), w.swapRouter];
        for (uint256 i; i < spenders.length; ++i) {
            if (w.usdc.allowance(w.safe, spenders[i]) != 0) return false;
            if (w.weth.allowance(w.safe, spenders[i]) != 0) return false;
            if (w.wbtc.allowance(w.safe, spenders[i]) != 0) return false;
        }
        return true;
    }

    /* PLANS */

    /// @dev Three plans in eight are what an honest solver would send from the current state, one in eight is such a
    /// plan padded with the other sub-account (listed with nothing, or with a 1-wei pool withdrawal), the rest are
    /// hostile or random.
    function _plan(uint256 seed) internal view returns (Plan memory plan) {
        uint256 mode = seed % 8;
        if (mode < 3) return _honest(seed);
        if (mode == 3) return _padded(_honest(seed), seed);
        plan.subAccounts = new bytes32[](seed % 5 == 0 ? 2 : 1);
        plan.subAccounts[0] = seed % 7 == 0 ? w.wbtcId : w.wethId;
        if (plan.subAccounts.length == 2) plan.subAccounts[1] = plan.subAccounts[0] == w.wethId ? w.wbtcId : w.wethId;
        uint256 n = 1 + (seed >> 8) % 3;
        plan.actions = new Action[](n);
        address[6] memory pools =
            [address(w.usdcVault), address(w.wethVault), address(w.feeVault), address(w.evilVault), address(0), w.attacker];
        for (uint256 i; i < n; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            // Every kind, swaps and callback blocks included (most random blocks are malformed and refused as such).
            ActionKind kind = ActionKind(r % ConstantsLib.ACTION_KINDS);
            bool swap = kind == ActionKind.SellCollateral || kind == ActionKind.BuyCollateral;
            address pool = (kind == ActionKind.WithdrawFromPool || kind == ActionKind.DepositToPool)
                ? pools[(r >> 8) % 3 == 0 ? (r >> 16) % 6 : (r >> 16) % 3]
                : swap
                    ? ((r >> 24) % 4 == 0 ? pools[(r >> 32) % 6] : address(uint160((r >> 28) % 2 == 0 ? 500 : 3000)))
                    : ((r >> 24) % 10 == 0 ? pools[(r >> 32) % 6] : address(0));
            bool wethUnits = kind == ActionKind.SupplyCollateral || kind == ActionKind.WithdrawCollateral
                || kind == ActionKind.SellCollateral || kind == ActionKind.SupplyCollateralWithCallback
                || pool == address(w.wethVault);
            uint256 amount = wethUnits ? 1e15 + (r >> 40) % 4e18 : 1e6 + (r >> 40) % 12_000e6;
            plan.actions[i] = Action({kind: kind, subAccount: uint8((r >> 120) % plan.subAccounts.length), pool: pool, amount: amount});
        }
    }

    function _padded(Plan memory honest, uint256 seed) internal view returns (Plan memory plan) {
        plan.subAccounts = new bytes32[](2);
        plan.subAccounts[0] = honest.subAccounts[0];
        plan.subAccounts[1] = honest.subAccounts[0] == w.wethId ? w.wbtcId : w.wethId;
        bool withPool = (seed >> 40) % 2 == 0;
        plan.actions = new Action[](honest.actions.length + (withPool ? 1 : 0));
        for (uint256 i; i < honest.actions.length; ++i) {
            plan.actions[i] = honest.actions[i];
        }
        if (withPool) plan.actions[honest.actions.length] = Action(ActionKind.WithdrawFromPool, 1, address(w.usdcVault), 1);
    }

    function _honest(uint256 seed) internal view returns (Plan memory plan) {
        bytes32 id = seed % 5 == 0 ? w.wbtcId : w.wethId;
        bytes32 market = id == w.wethId ? w.wethMarket : w.wbtcMarket;
        SimOracle oracle = id == w.wethId ? w.wethOracle : w.wbtcOracle;
        (uint256 collateral, uint256 debt) = w.adapter.position(market, w.safe);
        uint256 value = Math.mulDiv(collateral, oracle.price(), 1e36);
        uint256 target = 1.38e18 + (seed >> 16) % 0.04e18;
        uint256 wanted = Math.mulDiv(value, LLTV, target);
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = id;
        if ((seed >> 48) % 2 == 0) return _honestSwap(plan, oracle.price(), collateral, debt, target, seed);
        plan.actions = new Action[](2);
        if (wanted >= debt) {
            uint256 amount = wanted - debt + 1;
            plan.actions[0] = Action(ActionKind.Borrow, 0, address(0), amount);
            plan.actions[1] = Action(ActionKind.DepositToPool, 0, address(w.usdcVault), amount);
        } else {
            // A third of the repayments come from the pool with a 0.3% exit fee: losses the epoch budget must bound.
            YieldVault source = (seed >> 32) % 3 == 0 ? YieldVault(address(w.feeVault)) : w.usdcVault;
            uint256 amount = Math.min(debt - wanted + 1, source.maxWithdraw(w.safe));
            plan.actions[0] = Action(ActionKind.WithdrawFromPool, 0, address(source), amount);
            plan.actions[1] = Action(ActionKind.Repay, 0, address(0), amount);
        }
    }

    /// @dev What an honest solver sends with swaps (0.05% pool, sized for 0.3% of fee and impact): below the target, a
    /// swap deleverage in one repay callback repaying the oracle minimum of the sale; above it, a one-pass boost
    /// supplying the oracle minimum of the purchase.
    function _honestSwap(Plan memory plan, uint256 price, uint256 collateral, uint256 debt, uint256 target, uint256 seed)
        internal
        pure
        returns (Plan memory)
    {
        uint256 value = Math.mulDiv(collateral, price, 1e36);
        address route = address(uint160((seed >> 56) % 4 == 0 ? 3000 : 500));
        plan.actions = new Action[](value * LLTV >= target * debt ? 3 : 4);
        if (plan.actions.length == 3) {
            // (C P + b (1 - cost)) lltv = t (D + b)
            uint256 borrow = (value * LLTV - target * debt) / (target - LLTV * 9970 / 10_000) + 1;
            uint256 bought = Math.mulDiv(Math.mulDiv(borrow, 1e36, price), 9950, 10_000, Math.Rounding.Ceil);
            plan.actions[0] = Action(ActionKind.Borrow, 0, address(0), borrow);
            plan.actions[1] = Action(ActionKind.BuyCollateral, 0, route, borrow);
            plan.actions[2] = Action(ActionKind.SupplyCollateral, 0, address(0), bought);
        } else {
            // (C - c) P lltv = t (D - c P (1 - cost))
            uint256 soldValue = (target * debt - value * LLTV) / (target * 9970 / 10_000 - LLTV) + 1;
            uint256 sold = Math.min(Math.mulDiv(soldValue, 1e36, price), collateral);
            uint256 repaid = Math.mulDiv(Math.mulDiv(sold, price, 1e36), 9950, 10_000, Math.Rounding.Ceil);
            plan.actions[0] = Action(ActionKind.RepayWithCallback, 0, address(0), repaid);
            plan.actions[1] = Action(ActionKind.WithdrawCollateral, 0, address(0), sold);
            plan.actions[2] = Action(ActionKind.SellCollateral, 0, route, sold);
            plan.actions[3] = Action(ActionKind.EndCallback, 0, address(0), 0);
        }
        return plan;
    }

    function _op(Plan memory plan, uint256 signerKey) internal view returns (PackedUserOperation memory op) {
        op.sender = w.safe;
        op.nonce = w.entryPoint.getNonce(w.safe, _key());
        op.callData = abi.encodeCall(ILeverageModule.executeRebalance, (w.keeper, plan));
        op.accountGasLimits = bytes32((uint256(500_000) << 128) | 3_000_000);
        op.preVerificationGas = 60_000;
        op.gasFees = bytes32((uint256(1 gwei) << 128) | 2 gwei);
        // Self-paid: the window is the current aligned epoch of the Safe's budget.
        uint256 length = w.module.getSelfPayBudget(w.safe).epochLength;
        uint48 validAfter = uint48(block.timestamp / length * length);
        uint48 validUntil = uint48(validAfter + length - 1);
        op.signature = abi.encodePacked(validAfter, validUntil);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(signerKey, w.module.getOperationHash(op));
        op.signature = abi.encodePacked(validAfter, validUntil, r, s, v);
    }

    /* INDEPENDENT VALUATION */

    /// @dev Everything the Safe owns in USDC at current prices, and the module's base (what a plan can touch at most).
    function _value() internal view returns (int256 value, uint256 base) {
        value = int256(w.usdc.balanceOf(w.safe));
        value += int256(w.usdcVault.convertToAssets(w.usdcVault.balanceOf(w.safe)));
        value += int256(w.feeVault.convertToAssets(w.feeVault.balanceOf(w.safe)));
        value += int256(Math.mulDiv(w.wethVault.convertToAssets(w.wethVault.balanceOf(w.safe)), w.wethOracle.price(), 1e36));
        value += int256(Math.mulDiv(w.weth.balanceOf(w.safe), w.wethOracle.price(), 1e36));
        value += int256(Math.mulDiv(w.wbtc.balanceOf(w.safe), w.wbtcOracle.price(), 1e36));
        (uint256 c, uint256 d) = w.adapter.position(w.wethMarket, w.safe);
        value += int256(Math.mulDiv(c, w.wethOracle.price(), 1e36)) - int256(d);
        (c, d) = w.adapter.position(w.wbtcMarket, w.safe);
        value += int256(Math.mulDiv(c, w.wbtcOracle.price(), 1e36)) - int256(d);
        base = value > 0 ? uint256(value) : 0;
    }
}

/// @notice Invariants of the automation lane under a malicious keeper, moving oracles and market activity.
contract LeverageInvariantsTest is Fixture, UniswapFixture {
    LeverageHandler internal handler;
    YieldVault internal evilVault;
    RiggedVault internal feeVault;
    uint256 internal evilAssets;
    address internal attacker = makeAddr("attacker");

    IUniswapV3Pool internal wethPool;
    IUniswapV3Pool internal wbtcPool;

    function _deploySwapAdapter() internal override returns (address) {
        deployUniswap(address(0));
        uint24[] memory fees = new uint24[](2);
        (fees[0], fees[1]) = (FEE_LOW, FEE_MEDIUM);
        return address(new UniswapV3SwapAdapter(address(swapRouter), fees, new address[](0)));
    }

    /// @notice The arbitrageur moves both pools onto their oracle prices (called by the handler after oracle moves).
    function alignPools() external {
        alignPoolToPrice(wethPool, address(weth), wethOracle.price());
        alignPoolToPrice(wbtcPool, address(wbtc), wbtcOracle.price());
    }

    function setUp() public override {
        super.setUp();
        // Real Uniswap v3 pools (0.05%) with spread liquidity at the oracle prices; the policies allow 0.5% slippage.
        wethPool = createPoolAtOraclePrice(address(weth), address(usdc), FEE_LOW, wethOracle.price(), 20_000_000e6, defaultSpread());
        wbtcPool = createPoolAtOraclePrice(address(wbtc), address(usdc), FEE_LOW, wbtcOracle.price(), 10_000_000e6, defaultSpread());
        openPosition(safe, wethMarket, 10e18, 18_000e6);
        openPosition(safe, wbtcMarket, 1e8, 30_000e6);
        depositToVault(safe, usdcVault, 20_000e6);
        depositToVault(safe, wethVault, 5e18);
        // An allowed pool with a 0.3% exit fee (within the 0.5% per-operation bound): the losses it causes, op after
        // op, are what the per-epoch budget must cap.
        feeVault = new RiggedVault(usdc);
        _seedVault(YieldVault(address(feeVault)), usdc, 1000e6);
        depositToVault(safe, YieldVault(address(feeVault)), 20_000e6);
        feeVault.setExitFee(30);
        // Narrow bands so that oracle moves often put a sub-account out of band and plans reach the deeper checks.
        Policy memory policy = defaultPolicy(wethMarket, address(usdcVault));
        policy.minHealth = 1.3e18;
        policy.maxHealth = 1.5e18;
        policy.boostAllowed = true;
        policy.pools = new address[](3);
        policy.pools[0] = address(usdcVault);
        policy.pools[1] = address(wethVault);
        policy.pools[2] = address(feeVault);
        policy.maxRebalancesPerEpoch = 1000;
        policy.maxGasPerEpoch = type(uint64).max;
        policy.maxEpochLossBps = 20; // two or three fee-paying repayments a day
        policy.maxSlippageBps = 50;
        bytes32 wethId = setPolicyFor(safe, policy);
        policy = defaultPolicy(wbtcMarket, address(usdcVault));
        policy.pools = new address[](2);
        policy.pools[0] = address(usdcVault);
        policy.pools[1] = address(feeVault);
        policy.minHealth = 1.3e18;
        policy.maxHealth = 1.8e18;
        policy.maxRebalancesPerEpoch = 1000;
        policy.maxGasPerEpoch = type(uint64).max;
        policy.maxEpochLossBps = 20;
        policy.maxSlippageBps = 50;
        bytes32 wbtcId = setPolicyFor(safe, policy);

        evilVault = new YieldVault(usdc, "evil", "EVL");
        usdc.mint(attacker, 5000e6);
        vm.startPrank(attacker);
        usdc.approve(address(evilVault), 5000e6);
        evilVault.deposit(5000e6, attacker);
        vm.stopPrank();
        evilAssets = evilVault.totalAssets();

        handler = new LeverageHandler(
            World({
                module: module,
                adapter: adapter,
                entryPoint: entryPoint,
                safe: safe,
                keeper: keeper,
                keeperKey: keeperKey,
                usdc: usdc,
                weth: weth,
                wbtc: wbtc,
                wethOracle: wethOracle,
                wbtcOracle: wbtcOracle,
                usdcVault: usdcVault,
                wethVault: wethVault,
                evilVault: evilVault,
                feeVault: feeVault,
                wethId: wethId,
                wbtcId: wbtcId,
                wethMarket: module.getPolicy(safe, wethId).market,
                wbtcMarket: module.getPolicy(safe, wbtcId).market,
                lender: lender,
                attacker: attacker,
                swapRouter: address(swapRouter),
                aligner: address(this)
            })
        );

        bytes4[] memory selectors = new bytes4[](21);
        uint256 n;
        for (uint256 i; i < 3; ++i) selectors[n++] = LeverageHandler.keeperSwap.selector;
        for (uint256 i; i < 2; ++i) selectors[n++] = LeverageHandler.keeperBoostDeposit.selector;
        for (uint256 i; i < 5; ++i) selectors[n++] = LeverageHandler.keeperRebalance.selector;
        for (uint256 i; i < 2; ++i) selectors[n++] = LeverageHandler.keeperOpThroughEntryPoint.selector;
        for (uint256 i; i < 2; ++i) selectors[n++] = LeverageHandler.forgedSignature.selector;
        selectors[n++] = LeverageHandler.ownerTogglesAutomation.selector;
        for (uint256 i; i < 4; ++i) selectors[n++] = LeverageHandler.moveOracle.selector;
        for (uint256 i; i < 2; ++i) selectors[n++] = LeverageHandler.marketAction.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
        targetContract(address(handler));
    }

    function invariant_AssetsLeaveTheSafeOnlyToAllowedVenues() public view {
        address[4] memory outsiders = [attacker, keeper, bundler, address(handler)];
        for (uint256 i; i < outsiders.length; ++i) {
            assertEq(usdc.balanceOf(outsiders[i]), 0, "USDC reached an outsider");
            assertEq(weth.balanceOf(outsiders[i]), 0, "WETH reached an outsider");
            assertEq(wbtc.balanceOf(outsiders[i]), 0, "WBTC reached an outsider");
            assertEq(usdcVault.balanceOf(outsiders[i]), 0, "pool shares reached an outsider");
        }
        assertEq(evilVault.totalAssets(), evilAssets, "the unlisted pool received nothing");
        assertEq(evilVault.balanceOf(safe), 0, "the Safe holds no unlisted pool shares");
    }

    function invariant_HealthAtLeastMinAfterEveryRebalance() public view {
        assertEq(handler.healthViolations(), 0);
    }

    function invariant_NoAllowanceSurvivesAnOp() public view {
        assertTrue(handler.allowancesZero(), "standing allowance");
        assertEq(handler.allowanceViolations(), 0);
    }

    function invariant_NoncesOnlyGrow() public view {
        assertEq(handler.nonceDecreases(), 0);
        assertGe(entryPoint.getNonce(safe, keeperNonceKey()), handler.lastNonce());
    }

    function invariant_NetValueLossWithinMaxLossBpsPerOp() public view {
        assertEq(handler.lossViolations(), 0, "an operation lost more than maxLossBps of what its positions moved");
    }

    function invariant_CumulativeLossPerEpochWithinTheEpochBudget() public view {
        assertEq(handler.epochLossViolations(), 0, "an epoch lost more than maxEpochLossBps of a sub-account's equity");
    }

    function invariant_UsageChangesOnlyForSubAccountsWhosePositionChanged() public view {
        assertEq(handler.usageViolations(), 0, "usage charged without a position change, or a change not charged");
    }

    function invariant_TriggeredLandNearTargetOthersOnlyApproachIt() public view {
        assertEq(handler.targetViolations(), 0, "a triggered sub-account landed outside its zone, or another crossed");
    }

    function invariant_ForgedKeeperSignaturesNeverValidate() public view {
        assertEq(handler.forgedAccepted(), 0);
    }

    function invariant_NoRebalanceWhilePaused() public view {
        assertEq(handler.pausedViolations(), 0);
    }

    /// @dev The swap lane is exercised, not only refused: a run that sent swap plans for an out-of-band sub-account
    /// while automation was on executed swaps through the real pools, so the invariants above hold over executed swaps.
    function afterInvariant() external {
        _logRun();
        if (handler.swapScenarios() > 0) assertGt(handler.swapsExecuted(), 0, "no swap executed in this run");
        // The boost deposit lane is exercised too (row 73: only a due-above sub-account's borrow funds a deposit): a run
        // that sent the honest parked boost while automation was on executed at least one.
        if (handler.boostDepositScenarios() > 0) {
            assertGt(handler.depositsExecuted(), 0, "no boost deposit executed in this run");
        }
    }

    /// @dev The boost deposit lane outside the campaign (its ghost counters restart with each run): from the opening
    /// state, the rally and the honest Borrow + DepositToPool execute, directly and through the EntryPoint, into both
    /// USDC pools, and no ghost check of the suite records a violation.
    function test_BoostDepositLaneExecutes() public {
        // seed bits: 8 picks the pool (even: yield pool), 12 the path (even: direct), 16+ the landing health.
        uint256[4] memory seeds = [uint256(0), 1 << 8, 1 << 12, (1 << 8) | (1 << 12)];
        for (uint256 i; i < seeds.length; ++i) {
            handler.keeperBoostDeposit(seeds[i] | (i << 16));
            vm.warp(block.timestamp + 1 days);
        }
        _logRun();
        assertEq(handler.boostDepositScenarios(), 4, "every scenario sent");
        assertEq(handler.depositsExecuted(), 4, "every honest boost deposit executed");
        assertEq(handler.refused(), 0, "none refused");
        assertEq(handler.healthViolations() + handler.lossViolations() + handler.epochLossViolations(), 0);
        assertEq(handler.usageViolations() + handler.targetViolations() + handler.allowanceViolations(), 0);
    }

    function _logRun() internal {
        emit log_named_uint("handler calls", handler.calls());
        emit log_named_uint("rebalances executed", handler.rebalances());
        emit log_named_uint("attempts refused", handler.refused());
        emit log_named_uint("ops through the EntryPoint", handler.opsThroughEntryPoint());
        emit log_named_uint("distinct refusal errors", handler.refusalKindCount());
        emit log_named_uint("refused by the epoch loss budget", handler.epochLossRefusals());
        emit log_named_uint("rebalances with a swap", handler.swapsExecuted());
        emit log_named_uint("rebalances with a pool deposit", handler.depositsExecuted());
        emit log_named_uint("collateral sales executed", handler.sellsExecuted());
        emit log_named_uint("collateral purchases executed", handler.buysExecuted());
        emit log_named_uint("swap scenarios sent unpaused", handler.swapScenarios());
        emit log_named_uint("boost deposits sent unpaused", handler.boostDepositScenarios());
        emit log_named_uint("largest epoch loss seen (ppb of equity)", handler.maxLossPpbSeen());
        for (uint256 i; i < handler.refusalKindCount(); ++i) {
            bytes4 kind = handler.refusalKinds(i);
            emit log_named_uint(vm.toString(abi.encodePacked(kind)), handler.refusals(kind));
        }
    }
}
