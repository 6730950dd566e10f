// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {PackedUserOperation} from "@account-abstraction/contracts/interfaces/PackedUserOperation.sol";
import {AttackBase} from "./AttackBase.sol";
import {AaveTestBase} from "../utils/AaveTestBase.sol";
import {RiggedVault} from "../utils/RiggedVault.sol";
import {ILeverageModule, Policy, Plan, Action, ActionKind} from "../../src/interfaces/ILeverageModule.sol";

/// @notice Review rr10b on Aave v3 (real Pool): the rr10 F1 churn split over two sub-accounts of the one shared Aave
/// account. The WETH/USDC and WBTC/USDC sub-accounts both owe the account's one USDC debt, so Repay(need + X) on the
/// first and Borrow(X) on the second would be the same Repay/Borrow churn on the same debt (`CHURN_KINDS` is per
/// sub-account). Held: the module refuses a second sub-account on one venue account (`VenueAccountTaken`), so the split
/// cannot be set up.
contract Rr10bAaveIdleParkingTest is AttackBase, AaveTestBase {
    uint256 internal constant RESERVE = 8_000e6;
    bytes32 internal aaveWethId;
    bytes32 internal aaveWbtcId;
    RiggedVault internal feePool;

    function setUp() public override(AttackBase, AaveTestBase) {
        super.setUp();
        installModuleWithAave();
        aaveSupply(safe, weth, 10e18);
        aaveSupply(safe, wbtc, 1e5); // 0.001 WBTC: the WBTC/USDC sub-account exists on the shared account
        aaveBorrow(safe, usdc, 18_000e6);
        uint256 idle = usdc.balanceOf(safe);
        safeExec(safe, address(usdc), 0, abi.encodeCall(IERC20.transfer, (lender, idle - RESERVE)), 0);
        feePool = _feePool(usdc, 100e6, 100);
        Policy memory policy = aavePolicy(wethUsdc, address(wethOracle), address(feePool));
        policy.boostAllowed = true;
        aaveWethId = setPolicyFor(safe, policy);
        assertLt(aaveHealthFactor(safe), 1.2e18, "due");
    }

    /// @dev Held: the WBTC/USDC sub-account on the same Aave account is refused at setPolicy.
    function test_rr10b_Aave_SecondSubAccountOnTheSharedAccountIsRefused() public {
        Policy memory wbtcPolicy = aavePolicy(wbtcUsdc, address(wbtcOracle), address(feePool));
        wbtcPolicy.boostAllowed = true;
        vm.expectPartialRevert(ILeverageModule.VenueAccountTaken.selector);
        this.setWbtcPolicy(wbtcPolicy);
    }

    function setWbtcPolicy(Policy memory policy) external {
        aaveWbtcId = setPolicyFor(safe, policy);
    }
}
