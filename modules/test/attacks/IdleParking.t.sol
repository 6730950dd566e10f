// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {AttackBase} from "./AttackBase.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
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

/// @notice Review brk10r of issue 10, F1 (item 3 x item 2): a plan could deposit the Safe's idle funds, which no action of
/// the plan brought in and no sub-account's move needed, into any pool its policy allows. The loss accounting values
/// pools at `convertToAssets`, so a pool that charges on exit booked nothing when the idle funds went in: the keeper
/// stranded the Safe's rescue reserve in the owner's 1%-exit-fee pool next to a genuine rescue (0 loss booked), and every
/// later rescue had to take it out at 1% > maxLossBps (50) and was refused (`ValueLossExceeded`) until Morpho liquidated;
/// in a fee-free lending pool drained by its borrowers the later rescue's withdrawal reverted. The module now lets a
/// plan's deposits of an asset park only what the same plan brought in of it (`DepositNotFunded`). Each attack goes
/// through EntryPoint.handleOps and asserts the exact error, that nothing but gas left the Safe, and that the next rescue
/// is paid from the reserve the attack could not touch.
contract IdleParkingTest is AttackBase {
    RiggedVault internal feePool;

    function setUp() public override {
        super.setUp();
        // The owner's choice (issue 10 item 2's setup): the WETH sub-account's one allowed pool charges a 1% exit fee;
        // its rescue reserve is 8,000 USDC held idle in the Safe (Repay from the wallet needs no pool).
        feePool = _feePool(usdc, 100e6, 100);
        setPolicy(defaultPolicy(wethMarket, address(feePool)));
        usdc.mint(safe, 8_000e6);
    }

    /// @dev The genuine rescue (Repay to health 1.30) plus a deposit of the rest of the Safe's idle USDC into `pool`.
    function _paddedRescue(address pool) internal view returns (Plan memory plan, uint256 parked) {
        uint256 repay = _repayToReach(1.3e18); // 1.1467 -> 1.30, inside the landing zone [1.2467, 1.55]
        parked = usdc.balanceOf(safe) - repay;
        plan = plan1(
            wethId, action(ActionKind.Repay, 0, address(0), repay), action(ActionKind.DepositToPool, 0, pool, parked)
        );
    }

    /// @dev Sends the padded rescue through handleOps: refused with DepositNotFunded(USDC, parked, 0) (the plan brings
    /// no USDC in), nothing but gas left the Safe, no loss booked.
    function _expectPaddedRescueRefused(address pool) internal {
        (Plan memory plan, uint256 parked) = _paddedRescue(pool);
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        Holdings memory before = holdings(safe);
        uint256 sharesBefore = IERC20(pool).balanceOf(safe);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok, "idle reserve parked in a pool next to a rescue");
        assertEq(reason, abi.encodeWithSelector(ILeverageModule.DepositNotFunded.selector, address(usdc), parked, 0));
        assertNothingLeftBut(before, maxCost(op));
        assertEq(IERC20(pool).balanceOf(safe), sharesBefore, "no pool shares bought with the idle reserve");
        assertEq(module.getEpochUsage(safe, wethId).lossPpb, 0);
    }

    /// @dev The honest rescue from the idle reserve (Repay from the wallet, no pool) lands.
    function _rescueFromReserveLands() internal {
        uint256 need = _repayToReach(1.3e18);
        uint256 idle = usdc.balanceOf(safe);
        assertGe(idle, need, "the reserve is still in the wallet");
        Plan memory plan;
        plan.subAccounts = new bytes32[](1);
        plan.subAccounts[0] = wethId;
        plan.actions = new Action[](1);
        plan.actions[0] = action(ActionKind.Repay, 0, address(0), need);
        (bool ok, bytes memory reason) = handle(keeperOp(safe, keeper, plan, keeperKey));
        assertTrue(ok, string(reason));
        assertEq(usdc.balanceOf(safe), idle - need, "paid from the reserve");
    }

    /// @dev The review's figures: 53,876.92 USDC would have gone into the 1%-exit-fee pool (539.77 USDC to get out)
    /// against a 10.6 USDC per-op allowance; refused, and the next rescue is paid from the reserve.
    function test_Attack_IdleReserveParkedInExitFeePoolIsRefused() public {
        assertEq(usdc.balanceOf(safe), 56_000e6, "48,000 borrowed in the fixture + the 8,000 reserve");
        _expectPaddedRescueRefused(address(feePool));

        // The crash continues: WETH is due again; the reserve the attack could not touch pays the rescue.
        vm.warp(block.timestamp + 1 hours);
        _dropWethHealthTo(1.15e18);
        _rescueFromReserveLands();
    }

    /// @dev The same gap with no fee: the owner's fee-free lending pool (valued at par), whose cash borrowers then draw
    /// (utilisation 100%, as in a crash). Refused; the next rescue needs no pool and lands.
    function test_Attack_IdleReserveParkedInLendingPoolIsRefused() public {
        LendingPool pool = new LendingPool(usdc);
        _seedVault(YieldVault(address(pool)), usdc, 1_000e6);
        setPolicy(defaultPolicy(wethMarket, address(pool)));
        _expectPaddedRescueRefused(address(pool));

        pool.lend(makeAddr("borrowers"), usdc.balanceOf(address(pool)));
        vm.warp(block.timestamp + 1 hours);
        _dropWethHealthTo(1.15e18);
        _rescueFromReserveLands();
    }

    /// @dev The bound is exact: a plan that borrows B (a rescue's callback cannot, so a boost) may deposit B and not
    /// one base unit more.
    function test_Attack_DepositOneUnitPastTheBorrowIsRefused() public {
        Policy memory policy = defaultPolicy(wethMarket, address(feePool));
        policy.boostAllowed = true;
        policy.maxHealth = 1.5e18;
        setPolicy(policy);
        wethOracle.setPrice(3400e18); // 1.1467 * 3400 / 2400 = 1.62 > 1.5: a boost is due
        uint256 borrowed = 1_000e6;
        Plan memory plan = plan1(
            wethId,
            action(ActionKind.Borrow, 0, address(0), borrowed),
            action(ActionKind.DepositToPool, 0, address(feePool), borrowed + 1)
        );
        PackedUserOperation memory op = keeperOp(safe, keeper, plan, keeperKey);
        Holdings memory before = holdings(safe);
        (bool ok, bytes memory reason) = handle(op);
        assertFalse(ok);
        assertEq(
            reason,
            abi.encodeWithSelector(ILeverageModule.DepositNotFunded.selector, address(usdc), borrowed + 1, borrowed)
        );
        assertNothingLeftBut(before, maxCost(op));
    }
}
