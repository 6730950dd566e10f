// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Id, MarketParams, Position} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {MarketParamsLib} from "@morpho-org/morpho-blue/src/libraries/MarketParamsLib.sol";

import {AaveTestBase} from "../utils/AaveTestBase.sol";
import {AaveFlashLoanProbe} from "../utils/AaveFlashLoanProbe.sol";
import {TestToken} from "../utils/TestToken.sol";
import {MarketState, VenueCall} from "../../src/interfaces/IVenueAdapter.sol";
import {ISafe} from "../../src/interfaces/ISafe.sol";
import {ActionKind, Plan} from "../../src/interfaces/ILeverageModule.sol";
import {HealthLib} from "../../src/libraries/HealthLib.sol";

/// @notice The adapter's calls executed from a Safe on the real Aave v3 Pool: each moves exactly what it says between
/// the Safe and Aave and nothing anywhere else; health follows Aave's through interest accrual; a flash loan reaches the
/// Safe's fallback handler and settles; and a keeper operation through EntryPoint.handleOps and the real LeverageModule
/// restores an Aave account into its band.
contract AaveV3IntegrationTest is AaveTestBase {
    using MarketParamsLib for MarketParams;

    /// @dev Balances of `token` that an action may touch, and of everyone it must not.
    struct Ledger {
        uint256 safeToken;
        uint256 reserveToken;
        uint256 safeAToken;
        uint256 safeDebt;
        uint256 bystanders;
        uint256 otherSafeToken;
    }

    address internal attacker = makeAddr("attacker");

    function setUp() public override {
        super.setUp();
        aaveSupply(aaveSafe, weth, 10e18);
        aaveBorrow(aaveSafe, usdc, 10_000e6);
        vm.warp(block.timestamp + 1 days);
    }

    function ledger(TestToken token) internal view returns (Ledger memory l) {
        address aToken = reserve(token).aTokenAddress;
        l.safeToken = token.balanceOf(aaveSafe);
        l.reserveToken = token.balanceOf(aToken);
        l.safeAToken = IERC20(aToken).balanceOf(aaveSafe);
        l.safeDebt = variableDebt(token, aaveSafe);
        address[6] memory others =
            [attacker, keeper, address(aaveAdapter), address(this), address(module), owner];
        for (uint256 i; i < others.length; ++i) {
            l.bystanders += token.balanceOf(others[i]) + IERC20(aToken).balanceOf(others[i]);
        }
        l.otherSafeToken = token.balanceOf(safe);
    }

    function assertOnlyTheSafeMoved(Ledger memory before, Ledger memory afterwards, TestToken token) internal view {
        assertEq(afterwards.bystanders, before.bystanders, "a bystander's balance moved");
        assertEq(afterwards.otherSafeToken, before.otherSafeToken, "another Safe's balance moved");
        assertEq(token.allowance(aaveSafe, address(aavePool)), 0, "approval left standing");
    }

    /* EXACT MOVEMENTS THROUGH A SAFE MODULE CALL */

    function testFuzz_Supply_MovesExactlyTheAmountIntoAave(uint256 amount) public {
        amount = bound(amount, 1, 10_000e18);
        weth.mint(aaveSafe, amount);
        Ledger memory before = ledger(weth);
        run(aaveSafe, SUPPLY, wethUsdc, amount);
        Ledger memory afterwards = ledger(weth);
        assertEq(before.safeToken - afterwards.safeToken, amount, "WETH out of the Safe");
        assertEq(afterwards.reserveToken - before.reserveToken, amount, "WETH into the reserve");
        // aTokens are scaled balances x the liquidity index: Aave's ray rounding may differ by one wei.
        assertApproxEqAbs(afterwards.safeAToken - before.safeAToken, amount, 1, "aWETH credited to the Safe");
        assertEq(afterwards.safeDebt, before.safeDebt);
        assertOnlyTheSafeMoved(before, afterwards, weth);
    }

    function testFuzz_Withdraw_MovesExactlyTheAmountOut(uint256 amount) public {
        amount = bound(amount, 1, 5e18);
        Ledger memory before = ledger(weth);
        run(aaveSafe, WITHDRAW, wethUsdc, amount);
        Ledger memory afterwards = ledger(weth);
        assertEq(afterwards.safeToken - before.safeToken, amount, "WETH into the Safe");
        assertEq(before.reserveToken - afterwards.reserveToken, amount, "WETH out of the reserve");
        assertApproxEqAbs(before.safeAToken - afterwards.safeAToken, amount, 1, "aWETH burnt from the Safe");
        assertOnlyTheSafeMoved(before, afterwards, weth);
    }

    function test_Withdraw_AllLeavesNoDust() public {
        usdc.mint(aaveSafe, 100e6); // the day's interest on top of the 10,000 borrowed
        run(aaveSafe, REPAY, wethUsdc, type(uint256).max);
        Ledger memory before = ledger(weth);
        run(aaveSafe, WITHDRAW, wethUsdc, type(uint256).max);
        assertEq(aBalance(weth, aaveSafe), 0, "no aWETH dust");
        assertEq(weth.balanceOf(aaveSafe) - before.safeToken, before.safeAToken, "the whole balance, interest included");
    }

    function testFuzz_Borrow_MovesExactlyTheAmountToTheSafe(uint256 amount) public {
        amount = bound(amount, 1, 10_000e6);
        Ledger memory before = ledger(usdc);
        run(aaveSafe, BORROW, wethUsdc, amount);
        Ledger memory afterwards = ledger(usdc);
        assertEq(afterwards.safeToken - before.safeToken, amount, "USDC into the Safe");
        assertEq(before.reserveToken - afterwards.reserveToken, amount, "USDC out of the reserve");
        assertApproxEqAbs(afterwards.safeDebt - before.safeDebt, amount, 1, "debt of the Safe");
        assertOnlyTheSafeMoved(before, afterwards, usdc);
    }

    function testFuzz_Repay_MovesExactlyTheAmountOrTheWholeDebt(uint256 amount) public {
        amount = bound(amount, 1, 20_000e6);
        usdc.mint(aaveSafe, 20_000e6);
        Ledger memory before = ledger(usdc);
        run(aaveSafe, REPAY, wethUsdc, amount);
        Ledger memory afterwards = ledger(usdc);
        uint256 paid = amount >= before.safeDebt ? before.safeDebt : amount;
        assertEq(before.safeToken - afterwards.safeToken, paid, "USDC out of the Safe: the amount, or the debt");
        assertEq(afterwards.reserveToken - before.reserveToken, paid, "USDC into the reserve");
        if (amount >= before.safeDebt) assertEq(afterwards.safeDebt, 0, "full repayment leaves no dust");
        else assertApproxEqAbs(before.safeDebt - afterwards.safeDebt, amount, 1, "debt of the Safe");
        assertOnlyTheSafeMoved(before, afterwards, usdc);
    }

    /// @dev Supply and borrow caps are Aave's own: the Safe's call fails with Aave's error code and nothing moves.
    function test_Caps_SupplyAndBorrowCapsHold() public {
        // WBTC: supply cap 3,000, 100 already supplied by the lender.
        wbtc.mint(aaveSafe, 2901e8);
        assertEq(_tryAaveCall(SUPPLY, wbtcUsdc, 2901e8), abi.encodeWithSignature("Error(string)", "51"), "supply cap");
        assertEq(aBalance(wbtc, aaveSafe), 0);
        run(aaveSafe, SUPPLY, wbtcUsdc, 2900e8);
        assertEq(aBalance(wbtc, aaveSafe), 2900e8, "up to the cap");
        // WBTC borrow cap 1,000 (the lender's 100 WBTC are all there is to borrow, the cap is checked first).
        bytes32 wethWbtc = aaveAdapter.marketId(address(weth), address(wbtc), 0);
        aaveSupply(aaveSafe, weth, 40_000e18); // 120M USD: enough borrowing power, under the WETH supply cap
        assertEq(_tryAaveCall(BORROW, wethWbtc, 1001e8), abi.encodeWithSignature("Error(string)", "50"), "borrow cap");
        assertEq(variableDebt(wbtc, aaveSafe), 0);
    }

    /// @dev The Aave call of an action from the Safe (approval set first), returning its revert data.
    function _tryAaveCall(uint8 kind, bytes32 market, uint256 amount) internal returns (bytes memory reason) {
        VenueCall memory call = aaveAdapter.encode(kind, market, amount, aaveSafe);
        if (call.approveToken != address(0)) {
            moduleCall(aaveSafe, call.approveToken, abi.encodeCall(IERC20.approve, (call.target, call.approveAmount)));
        }
        bool success;
        (success, reason) = ISafe(aaveSafe).execTransactionFromModuleReturnData(call.target, 0, call.data, 0);
        assertFalse(success, "the Aave call failed");
        if (call.approveToken != address(0)) {
            moduleCall(aaveSafe, call.approveToken, abi.encodeCall(IERC20.approve, (call.target, 0)));
        }
    }

    /* HEALTH THROUGH INTEREST */

    function test_InterestAccrual_HealthStaysAaveHealth() public {
        // A large borrower takes the USDC reserve to ~80% utilisation, so the variable rate is a few percent.
        address whale = makeAddr("whale");
        weth.mint(whale, 10_000e18);
        vm.startPrank(whale);
        weth.approve(address(aavePool), 10_000e18);
        aavePool.supply(address(weth), 10_000e18, whale, 0);
        aavePool.borrow(address(usdc), 8_000_000e6, 2, 0, whale);
        vm.stopPrank();

        uint256 healthBefore = aaveAdapter.health(wethUsdc, aaveSafe);
        uint256 debtBefore = variableDebt(usdc, aaveSafe);
        vm.warp(block.timestamp + 365 days);

        uint256 debtAfter = variableDebt(usdc, aaveSafe);
        assertGt(debtAfter, debtBefore * 1.03e18 / 1e18, "over 3% interest in a year");
        uint256 healthFactor = aaveHealthFactor(aaveSafe);
        assertLt(healthFactor, healthBefore, "interest lowered health");
        assertEq(aaveAdapter.health(wethUsdc, aaveSafe), healthFactor);
        MarketState memory state = aaveAdapter.marketState(wethUsdc, aaveSafe);
        assertEq(state.debt, debtAfter, "debt includes the interest to now");
        assertLe(HealthLib.health(state), healthFactor);
        assertApproxEqRel(HealthLib.health(state), healthFactor, 1e12);
    }

    /* FLASH LOANS THROUGH THE SAFE'S FALLBACK HANDLER */

    /// @dev Cross-venue refinancing in one transaction with no idle funds: flash the USDC from Aave, repay the Morpho
    /// debt, withdraw the Morpho collateral, supply it to Aave, borrow the loan plus premium on Aave, settle.
    function test_FlashLoan_RefinancesAMorphoPositionIntoAaveThroughTheFallback() public {
        AaveFlashLoanProbe probe = new AaveFlashLoanProbe(aaveAdapter);
        address probeSafe = createSafeWith(owner, address(probe), address(probe));
        openPosition(probeSafe, wethMarket, 10e18, 18_000e6);
        safeExec(probeSafe, address(usdc), 0, abi.encodeCall(IERC20.transfer, (attacker, 18_000e6)), 0); // no idle USDC
        bytes32 morphoMarket = Id.unwrap(wethMarket.id());
        uint256 premium = 9e6; // 0.05% of 18,000
        uint256 reserveBefore = usdc.balanceOf(reserve(usdc).aTokenAddress);

        AaveFlashLoanProbe.Step[] memory steps = new AaveFlashLoanProbe.Step[](4);
        steps[0] = AaveFlashLoanProbe.Step(adapter, REPAY, morphoMarket, type(uint256).max);
        steps[1] = AaveFlashLoanProbe.Step(adapter, WITHDRAW, morphoMarket, 10e18);
        steps[2] = AaveFlashLoanProbe.Step(aaveAdapter, SUPPLY, wethUsdc, 10e18);
        steps[3] = AaveFlashLoanProbe.Step(aaveAdapter, BORROW, wethUsdc, 18_000e6 + premium);
        probe.run(probeSafe, wethUsdc, address(usdc), 18_000e6, steps);

        assertEq(probe.callbacks(), 1);
        Position memory p = morpho.position(wethMarket.id(), probeSafe);
        assertEq(p.collateral, 0, "Morpho collateral moved out");
        assertEq(p.borrowShares, 0, "Morpho debt repaid");
        assertEq(aBalance(weth, probeSafe), 10e18, "the same WETH now backs the Aave account");
        assertApproxEqAbs(variableDebt(usdc, probeSafe), 18_000e6 + premium, 1, "Aave debt = loan + premium");
        assertEq(usdc.balanceOf(probeSafe), 0, "no USDC needed or left");
        assertEq(weth.balanceOf(probeSafe), 0);
        // Out: the 18,000 flash and the 18,009 borrow; back: 18,009 (loan + premium) = the reserve lent 18,000 net.
        assertEq(usdc.balanceOf(reserve(usdc).aTokenAddress), reserveBefore - 18_000e6, "the pool got its premium back");
        assertEq(usdc.allowance(probeSafe, address(aavePool)), 0, "no approval to the pool survives");
        assertEq(weth.allowance(probeSafe, address(aavePool)), 0);
        assertEq(usdc.allowance(probeSafe, address(morpho)), 0);
        (address expectedAsset,,) = _expected(probe, probeSafe);
        assertEq(expectedAsset, address(0), "expectation cleared");
    }

    function test_FlashLoan_RevertWhen_CallbackArrivesOutsideAnOperation() public {
        AaveFlashLoanProbe probe = new AaveFlashLoanProbe(aaveAdapter);
        address probeSafe = createSafeWith(owner, address(probe), address(probe));
        usdc.mint(probeSafe, 1000e6);

        // Anyone calling the callback on the Safe.
        vm.prank(attacker);
        vm.expectRevert(abi.encodeWithSelector(AaveFlashLoanProbe.NoFlashLoanExpected.selector, probeSafe));
        AaveFlashLoanProbe(probeSafe).executeOperation(address(usdc), 1000e6, 0, probeSafe, "");

        // Anyone starting a real Aave flash loan to the Safe: the pool's callback is refused, the loan unwinds.
        vm.prank(attacker);
        vm.expectRevert(abi.encodeWithSelector(AaveFlashLoanProbe.NoFlashLoanExpected.selector, probeSafe));
        aavePool.flashLoanSimple(probeSafe, address(usdc), 1000e6, "", 0);
        assertEq(usdc.balanceOf(probeSafe), 1000e6, "the Safe paid no premium");
        assertEq(usdc.allowance(probeSafe, address(aavePool)), 0);
    }

    function _expected(AaveFlashLoanProbe probe, address account) internal view returns (address, uint256, bytes32) {
        (bytes32 market, address asset, uint256 amount) = probe.expected(account);
        return (asset, amount, market);
    }

    /* THROUGH THE MODULE AND THE ENTRYPOINT */

    function test_KeeperOp_RestoresAnAaveAccountIntoItsBand() public {
        installModuleWithAave();
        aaveSupply(safe, weth, 10e18);
        aaveBorrow(safe, usdc, 18_000e6);
        depositToVault(safe, usdcVault, 10_000e6);
        bytes32 id = setPolicyFor(safe, aavePolicy(wethUsdc, address(wethOracle), address(usdcVault)));
        wethOracle.setPrice(2400e18); // health 24,000 x 0.83 / 18,000 = 1.107 < minHealth 1.2
        assertLt(aaveHealthFactor(safe), 1.2e18);

        MarketState memory state = aaveAdapter.marketState(wethUsdc, safe);
        uint256 targetDebt = HealthLib.collateralValue(state.collateral, state.price) * state.lltv / 1.401e18;
        uint256 amount = state.debt - targetDebt;
        Plan memory plan = plan1(
            module.subAccountId(address(aaveAdapter), wethUsdc),
            action(ActionKind.WithdrawFromPool, 0, address(usdcVault), amount),
            action(ActionKind.Repay, 0, address(0), amount)
        );
        handleOk(keeperOp(safe, keeper, plan, keeperKey));

        uint256 healthFactor = aaveHealthFactor(safe);
        assertGe(healthFactor, 1.4e18, "at the target");
        assertLe(healthFactor, 1.41e18);
        assertEq(aaveAdapter.health(wethUsdc, safe), healthFactor);
        assertLe(module.health(safe, id), healthFactor, "the module's HealthLib health never exceeds Aave's");
        assertApproxEqRel(module.health(safe, id), healthFactor, 1e12);
        assertEq(usdc.allowance(safe, address(aavePool)), 0);
    }
}
