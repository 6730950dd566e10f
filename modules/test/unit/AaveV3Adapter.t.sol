// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {IPool} from "@aave/core-v3/contracts/interfaces/IPool.sol";

import {AaveTestBase} from "../utils/AaveTestBase.sol";
import {TestToken} from "../utils/TestToken.sol";
import {IVenueAdapter, MarketState, VenueCall} from "../../src/interfaces/IVenueAdapter.sol";
import {IAaveV3Adapter} from "../../src/interfaces/IAaveV3Adapter.sol";
import {HealthLib} from "../../src/libraries/HealthLib.sol";

/// @notice The Aave v3 adapter on the real Aave v3.0.2 Pool: market ids, the account seen through a market's frame,
/// health equal to Aave's own health factor, and every call it encodes.
contract AaveV3AdapterTest is AaveTestBase {

    /* MARKET IDS */

    function test_Venue_IsThePool() public view {
        assertEq(aaveAdapter.venue(), address(aavePool));
        assertEq(aaveAdapter.POOL(), address(aavePool));
    }

    function test_MarketId_PacksReserveIdsEModeAndAChecksum() public view {
        uint256 id = uint256(wstethWethEMode);
        assertEq(id >> 240, reserve(wsteth).id, "collateral reserve id");
        assertEq(uint16(id >> 224), reserve(weth).id, "debt reserve id");
        assertEq(uint8(id >> 216), AAVE_ETH_EMODE, "e-mode category");
        assertEq(
            uint216(id), uint216(uint256(keccak256(abi.encode(address(wsteth), address(weth), AAVE_ETH_EMODE)))), "checksum"
        );
        (address collateral, address debt, uint8 eMode) = aaveAdapter.marketParams(wstethWethEMode);
        assertEq(collateral, address(wsteth));
        assertEq(debt, address(weth));
        assertEq(eMode, AAVE_ETH_EMODE);
        (address loanToken, address collateralToken) = aaveAdapter.marketTokens(wethUsdc);
        assertEq(loanToken, address(usdc));
        assertEq(collateralToken, address(weth));
    }

    function test_IsMarket_OnlyIdsThatDecodeToTheirAssets() public view {
        assertTrue(aaveAdapter.isMarket(wethUsdc));
        assertTrue(aaveAdapter.isMarket(wstethWethEMode));
        assertFalse(aaveAdapter.isMarket(bytes32(uint256(wethUsdc) ^ 1)), "checksum bit flipped");
        assertFalse(aaveAdapter.isMarket(bytes32(uint256(wethUsdc) ^ (uint256(1) << 216))), "e-mode changed");
        assertFalse(aaveAdapter.isMarket(bytes32(uint256(wethUsdc) | (uint256(77) << 240))), "unknown reserve id");
        assertFalse(aaveAdapter.isMarket(keccak256("random")));
    }

    /// @dev Every market id of the pool is the one Aave account (whatever the reserves or e-mode category); zero for an
    /// id that does not decode (the module's UnknownMarket).
    function test_AccountKey_IsThePoolForEveryMarket() public view {
        bytes32 key = bytes32(uint256(uint160(address(aavePool))));
        assertEq(aaveAdapter.accountKey(wethUsdc), key);
        assertEq(aaveAdapter.accountKey(wbtcUsdc), key);
        assertEq(aaveAdapter.accountKey(wstethWethEMode), key);
        assertEq(aaveAdapter.accountKey(bytes32(uint256(wethUsdc) ^ 1)), bytes32(0), "checksum bit flipped");
        assertEq(aaveAdapter.accountKey(keccak256("random")), bytes32(0));
    }

    function test_MarketParams_RevertWhen_IdDoesNotDecode() public {
        bytes32 forged = bytes32((uint256(wethUsdc) & ~uint256(type(uint216).max)) | uint216(uint256(wbtcUsdc)));
        vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.UnknownMarket.selector, forged));
        aaveAdapter.marketParams(forged);
        vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.UnknownMarket.selector, forged));
        aaveAdapter.marketState(forged, aaveSafe);
        vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.UnknownMarket.selector, forged));
        aaveAdapter.encode(SUPPLY, forged, 1, aaveSafe);
    }

    function test_MarketId_RevertWhen_TheMarketIsNotUsable() public {
        TestToken dai = new TestToken("Dai", "DAI", 18);
        vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.ReserveNotListed.selector, address(dai)));
        aaveAdapter.marketId(address(dai), address(usdc), 0);
        vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.ReserveNotListed.selector, address(dai)));
        aaveAdapter.marketId(address(weth), address(dai), 0);
        vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.SameReserve.selector, address(weth)));
        aaveAdapter.marketId(address(weth), address(weth), 0);
        vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.UnknownEModeCategory.selector, uint8(7)));
        aaveAdapter.marketId(address(weth), address(usdc), 7);
        vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.DebtNotInEModeCategory.selector, address(usdc), AAVE_ETH_EMODE));
        aaveAdapter.marketId(address(weth), address(usdc), AAVE_ETH_EMODE);

        // A listed asset with no liquidation threshold backs nothing; one with borrowing off cannot be the debt.
        listAaveReserve(AaveReserve(dai, address(aaveUsdcFeed), 0, 0, 0, 1000, 0, 0, 0, _rates(90, 0, 4, 60)));
        vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.NotCollateral.selector, address(dai)));
        aaveAdapter.marketId(address(dai), address(usdc), 0);
        aaveConfigurator.setReserveBorrowing(address(dai), false);
        vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.NotBorrowable.selector, address(dai)));
        aaveAdapter.marketId(address(weth), address(dai), 0);
        aaveConfigurator.setReserveActive(address(dai), false);
        vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.ReserveInactive.selector, address(dai)));
        aaveAdapter.marketId(address(weth), address(dai), 0);
    }

    /// @dev Aave reuses the slot of a dropped reserve for the next one listed: the checksum keeps the old id from naming it.
    function test_MarketId_ReusedReserveIdNeverNamesAnotherAsset() public {
        TestToken dai = new TestToken("Dai", "DAI", 18);
        listAaveReserve(AaveReserve(dai, address(aaveUsdcFeed), 7500, 8000, 10_500, 1000, 0, 0, 0, _rates(90, 0, 4, 60)));
        bytes32 daiUsdc = aaveAdapter.marketId(address(dai), address(usdc), 0);
        assertTrue(aaveAdapter.isMarket(daiUsdc));
        uint16 slot = reserve(dai).id;

        aaveConfigurator.dropReserve(address(dai));
        TestToken usdt = new TestToken("Tether", "USDT", 6);
        listAaveReserve(AaveReserve(usdt, address(aaveUsdcFeed), 7500, 8000, 10_500, 1000, 0, 0, 0, _rates(90, 0, 4, 60)));
        assertEq(reserve(usdt).id, slot, "the new reserve took the dropped slot");

        assertFalse(aaveAdapter.isMarket(daiUsdc));
        vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.UnknownMarket.selector, daiUsdc));
        aaveAdapter.marketTokens(daiUsdc);
    }

    /* STATE AND HEALTH */

    function test_MarketState_SingleCollateralAccountIsItsPosition() public {
        aaveSupply(aaveSafe, weth, 10e18);
        aaveBorrow(aaveSafe, usdc, 18_000e6);
        MarketState memory state = aaveAdapter.marketState(wethUsdc, aaveSafe);
        assertEq(state.loanToken, address(usdc));
        assertEq(state.collateralToken, address(weth));
        assertEq(state.collateral, aBalance(weth, aaveSafe), "collateral = aWETH balance");
        assertEq(state.debt, variableDebt(usdc, aaveSafe), "debt = variable debt");
        assertEq(state.price, 3000e6 * 1e36 / 1e18, "1e36-scaled base-unit price");
        assertEq(state.lltv, 0.83e18, "WETH liquidation threshold");
        assertEq(HealthLib.health(state), aaveHealthFactor(aaveSafe), "exact here: single collateral, round numbers");
        (uint256 collateral, uint256 debt) = aaveAdapter.position(wethUsdc, aaveSafe);
        assertEq(collateral, state.collateral);
        assertEq(debt, state.debt);
    }

    /// @dev What a repayment can clear is the debt reserve's variable debt, below MarketState.debt once the account
    /// also owes another reserve (SECURITY row 50).
    function test_MaxRepayable_IsTheDebtReservesVariableDebt() public {
        aaveSupply(aaveSafe, weth, 10e18);
        aaveBorrow(aaveSafe, usdc, 3000e6);
        assertEq(aaveAdapter.maxRepayable(wethUsdc, aaveSafe), 3000e6, "the USDC reserve's debt");
        aaveBorrow(aaveSafe, weth, 2e18); // 6,000 USD more on another reserve
        MarketState memory state = aaveAdapter.marketState(wethUsdc, aaveSafe);
        assertEq(aaveAdapter.maxRepayable(wethUsdc, aaveSafe), variableDebt(usdc, aaveSafe), "still the USDC reserve's");
        assertApproxEqAbs(state.debt, 9000e6, 1e3, "the account's debt in USDC units");
        assertLt(aaveAdapter.maxRepayable(wethUsdc, aaveSafe), state.debt);
    }

    function test_MarketState_OtherCollateralCountsAtItsOwnThreshold() public {
        aaveSupply(aaveSafe, weth, 10e18); // 30,000 USD at 83%
        aaveSupply(aaveSafe, wbtc, 1e8); // 60,000 USD at 78%
        aaveBorrow(aaveSafe, usdc, 40_000e6);
        MarketState memory state = aaveAdapter.marketState(wethUsdc, aaveSafe);
        // Exact (issue 10 rev10q, SECURITY row 64): 30,000 x 0.83 + 60,000 x 0.78 = 71,700 USD of threshold-weighted
        // collateral, / 0.83 / 3,000 = 28.795... WETH. Aave's own average is floored to whole bps, 79.66% (the exact
        // 79.666...%): 90,000 x 0.7966 / 0.83 / 3,000 is 0.0024 WETH less, a phantom that moved with every supply.
        (, , , uint256 averageThreshold,,) = aavePool.getUserAccountData(aaveSafe);
        assertEq(averageThreshold, 7966);
        assertEq(state.collateral, uint256(71_700e8) * 1e4 * 1e18 / (8300 * 3000e8), "71,700 / 0.83 / 3,000 WETH");
        assertEq(state.collateral, exactFrameCollateral(wethUsdc, aaveSafe));
        assertGt(state.collateral, uint256(90_000e18) * 7966 / 8300 / 3000 + 2e15, "not the floored average");
        // So HealthLib over the frame is the exact 71,700 / 40,000, above Aave's floored factor; the module judges health
        // by Aave's factor (`health`), never by the frame.
        assertGt(HealthLib.health(state), aaveHealthFactor(aaveSafe));
        assertEq(state.health, aaveHealthFactor(aaveSafe));
        assertEq(aaveAdapter.health(wethUsdc, aaveSafe), aaveHealthFactor(aaveSafe));
        assertEq(aaveAdapter.health(wbtcUsdc, aaveSafe), aaveHealthFactor(aaveSafe), "same account, other frame");
    }

    /// @dev `MarketState.equity` (the epoch loss budget's base, issue 10 rev10p) is the account's own net value in the
    /// debt asset, the same in every market's frame, while the frame's `collateral x price - debt` under- (WETH at 83%)
    /// or overstates (WBTC at 78%) it; rounded down: a positive value toward zero, a negative one away from it.
    function test_MarketState_EquityIsTheAccountsNetValueInEveryFrame() public {
        aaveSupply(aaveSafe, weth, 10e18); // 30,000 USD at 83%
        aaveSupply(aaveSafe, wbtc, 1e8); // 60,000 USD at 78%
        aaveBorrow(aaveSafe, usdc, 40_000e6);
        wethOracle.setPrice(3000.00000001e18); // 10 base units (1e-7 USD) over: 0.1 USDC base unit, floored
        MarketState memory weths = aaveAdapter.marketState(wethUsdc, aaveSafe);
        MarketState memory wbtcs = aaveAdapter.marketState(wbtcUsdc, aaveSafe);
        assertEq(weths.equity, 50_000e6, "net value, WETH frame");
        assertEq(wbtcs.equity, 50_000e6, "net value, WBTC frame");
        assertLt(HealthLib.equity(weths), 49_000e6, "the WETH frame understates");
        assertGt(HealthLib.equity(wbtcs), 51_000e6, "the WBTC frame overstates");

        // Underwater: 1,000.0000001 + 1,000 USD of collateral against 40,000 USDC: -37,999.9999999 USDC, rounded to
        // -38,000 (away from zero, against the plan).
        wethOracle.setPrice(100.00000001e18);
        wbtcOracle.setPrice(1000e18);
        assertEq(aaveAdapter.marketState(wethUsdc, aaveSafe).equity, -38_000e6, "negative, rounded away from zero");
    }

    function test_Health_NoPositionIsInfinite() public view {
        assertEq(aaveAdapter.health(wethUsdc, aaveSafe), type(uint256).max);
        MarketState memory state = aaveAdapter.marketState(wethUsdc, aaveSafe);
        assertEq(state.collateral, 0);
        assertEq(state.debt, 0);
    }

    /// @dev Any mix of WETH and WBTC collateral, any USDC debt up to the borrow limit, any prices and up to three years
    /// of interest: `health` is Aave's health factor, the frame is the exact weighted sum (`exactFrameCollateral`), and
    /// HealthLib over `marketState` never exceeds the exact health and trails it only by unit rounding, in either
    /// market's frame; Aave's factor is below the exact health by its floor of the average (< 1 bps of collateral).
    function testFuzz_Health_EqualsAaveHealthFactor(
        uint256 wethAmount,
        uint256 wbtcAmount,
        uint256 borrowBps,
        uint256 wethPrice,
        uint256 wbtcPrice,
        uint256 elapsed
    ) public {
        wethAmount = bound(wethAmount, 0.5e18, 500e18);
        wbtcAmount = bound(wbtcAmount, 0, 20e8);
        aaveSupply(aaveSafe, weth, wethAmount);
        if (wbtcAmount != 0) aaveSupply(aaveSafe, wbtc, wbtcAmount);
        (,, uint256 available,,,) = aavePool.getUserAccountData(aaveSafe);
        uint256 borrowed = available / 100 * bound(borrowBps, 100, 10_000) / 10_000; // base (1e8) -> USDC (1e6)
        aaveBorrow(aaveSafe, usdc, borrowed);

        vm.warp(block.timestamp + bound(elapsed, 0, 3 * 365 days));
        wethOracle.setPrice(bound(wethPrice, 800e18, 8000e18));
        wbtcOracle.setPrice(bound(wbtcPrice, 15_000e18, 150_000e18));

        uint256 healthFactor = aaveHealthFactor(aaveSafe);
        assertEq(aaveAdapter.health(wethUsdc, aaveSafe), healthFactor, "health == getUserAccountData");
        _assertFrameHealth(wethUsdc, healthFactor);
        _assertFrameHealth(wbtcUsdc, healthFactor);
    }

    /// @dev The same in e-mode: wstETH collateral and WETH debt at the category's 95% threshold.
    function testFuzz_Health_EqualsAaveHealthFactorInEMode(
        uint256 collateralAmount,
        uint256 borrowBps,
        uint256 wstethPrice,
        uint256 elapsed
    ) public {
        aaveSetEMode(aaveSafe, AAVE_ETH_EMODE);
        aaveSupply(aaveSafe, wsteth, bound(collateralAmount, 0.5e18, 300e18));
        (,, uint256 available,,,) = aavePool.getUserAccountData(aaveSafe);
        uint256 borrowed = available * 1e10 / 3000 * bound(borrowBps, 100, 10_000) / 10_000; // base -> WETH
        aaveBorrow(aaveSafe, weth, borrowed);

        vm.warp(block.timestamp + bound(elapsed, 0, 3 * 365 days));
        wstethOracle.setPrice(bound(wstethPrice, 2800e18, 4000e18));

        uint256 healthFactor = aaveHealthFactor(aaveSafe);
        assertEq(aaveAdapter.health(wstethWethEMode, aaveSafe), healthFactor);
        assertEq(aaveAdapter.marketState(wstethWethEMode, aaveSafe).lltv, 0.95e18, "e-mode threshold");
        _assertFrameHealth(wstethWethEMode, healthFactor);
    }

    /// @dev The frame is the exact weighted sum; HealthLib over it is never above the exact health (weighted sum / debt)
    /// and below it by at most the rounding of one base unit of each quantity converted (collateral, its value and the
    /// debt in token units; Aave's base-currency debt), plus 2 wei; Aave's factor is the exact health with the average
    /// threshold floored to whole bps (at most 1 bps of the collateral below it, half a base unit above).
    function _assertFrameHealth(bytes32 market, uint256 healthFactor) internal view {
        MarketState memory state = aaveAdapter.marketState(market, aaveSafe);
        assertEq(state.collateral, exactFrameCollateral(market, aaveSafe), "the frame is the exact weighted sum");
        assertEq(state.health, healthFactor, "MarketState.health is Aave's factor");
        uint256 frameHealth = HealthLib.health(state);
        (uint256 weighted, uint256 collateralBase) = exactWeightedCollateral(aaveSafe);
        (, uint256 debtBase,,,,) = aavePool.getUserAccountData(aaveSafe);
        uint256 exactHealth = weighted * 1e14 / debtBase;
        assertLe(frameHealth, exactHealth, "HealthLib over marketState never overstates the exact health");
        uint256 value = HealthLib.collateralValue(state.collateral, state.price);
        uint256 tolerance = exactHealth / state.collateral + exactHealth / value + 2 * exactHealth / state.debt
            + exactHealth / debtBase + 2;
        assertApproxEqAbs(frameHealth, exactHealth, tolerance, "within one base unit of rounding");
        // percentMul and wadDiv round half up: half a base unit of weighted collateral and half a wei, each way.
        assertLe(healthFactor, exactHealth + 1e18 / debtBase + 2, "Aave's factor: the floored average");
        assertGe(healthFactor + (collateralBase * 1e14 + 1e18) / debtBase + 2, exactHealth, "below by under 1 bps of collateral");
    }

    function test_LiquidationIncentive_IsTheCollateralsBonus() public view {
        assertEq(aaveAdapter.liquidationIncentiveFactor(wethUsdc), 1.05e18);
        assertEq(aaveAdapter.liquidationIncentiveFactor(wbtcUsdc), 1.05e18);
        assertEq(aaveAdapter.liquidationIncentiveFactor(wstethWethEMode), 1.01e18, "the e-mode category's bonus");
    }

    /* ENCODING */

    function test_Encode_SupplyCreditsTheAccountWithExactApproval() public view {
        VenueCall memory call = aaveAdapter.encode(SUPPLY, wethUsdc, 2e18, aaveSafe);
        assertEq(call.target, address(aavePool));
        assertEq(call.data, abi.encodeCall(IPool.supply, (address(weth), 2e18, aaveSafe, 0)));
        assertEq(call.approveToken, address(weth));
        assertEq(call.approveAmount, 2e18);
    }

    function test_Encode_WithdrawAndBorrowPayTheAccountOnly() public {
        aaveSupply(aaveSafe, weth, 10e18);
        VenueCall memory call = aaveAdapter.encode(WITHDRAW, wethUsdc, 1e18, aaveSafe);
        assertEq(call.data, abi.encodeCall(IPool.withdraw, (address(weth), 1e18, aaveSafe)));
        assertEq(call.approveToken, address(0));
        call = aaveAdapter.encode(WITHDRAW, wethUsdc, 10e18, aaveSafe);
        assertEq(call.data, abi.encodeCall(IPool.withdraw, (address(weth), type(uint256).max, aaveSafe)), "all: max");
        call = aaveAdapter.encode(BORROW, wethUsdc, 5000e6, aaveSafe);
        assertEq(call.data, abi.encodeCall(IPool.borrow, (address(usdc), 5000e6, 2, 0, aaveSafe)));
        assertEq(call.approveToken, address(0));
    }

    function test_Encode_RepayPartialByAmountFullByMaxWithTheDebtApproved() public {
        aaveSupply(aaveSafe, weth, 10e18);
        aaveBorrow(aaveSafe, usdc, 18_000e6);
        vm.warp(block.timestamp + 30 days);
        uint256 debt = variableDebt(usdc, aaveSafe);
        assertGt(debt, 18_000e6, "interest accrued");

        VenueCall memory call = aaveAdapter.encode(REPAY, wethUsdc, 1000e6, aaveSafe);
        assertEq(call.data, abi.encodeCall(IPool.repay, (address(usdc), 1000e6, 2, aaveSafe)));
        assertEq(call.approveToken, address(usdc));
        assertEq(call.approveAmount, 1000e6);

        call = aaveAdapter.encode(REPAY, wethUsdc, type(uint256).max, aaveSafe);
        assertEq(call.data, abi.encodeCall(IPool.repay, (address(usdc), type(uint256).max, 2, aaveSafe)));
        assertEq(call.approveAmount, debt, "approval is the debt, not the requested amount");
    }

    /// @dev Whatever the kind, market, amount and account, every call targets the pool, is one of the four actions,
    /// and names `account` (and nobody else) as onBehalfOf or receiver.
    function testFuzz_Encode_EveryCallCreditsOnlyTheAccount(uint8 kind, uint8 marketIndex, uint256 amount, address account)
        public
    {
        kind = uint8(bound(kind, SUPPLY, REPAY));
        amount = bound(amount, 1, type(uint128).max);
        vm.assume(account != address(0));
        bytes32 market = marketIndex % 2 == 0 ? wethUsdc : wbtcUsdc;
        // Give the account a position so every kind encodes (repay needs debt).
        TestToken collateral = marketIndex % 2 == 0 ? weth : wbtc;
        deal(address(collateral), address(this), 1e30);
        collateral.approve(address(aavePool), type(uint256).max);
        aavePool.supply(address(collateral), marketIndex % 2 == 0 ? 10e18 : 1e8, account, 0);
        vm.prank(account);
        aavePool.borrow(address(usdc), 1000e6, 2, 0, account);

        VenueCall memory call = aaveAdapter.encode(kind, market, amount, account);
        assertEq(call.target, address(aavePool));
        bytes4 selector = bytes4(call.data);
        bytes memory args = new bytes(call.data.length - 4);
        for (uint256 i; i < args.length; ++i) {
            args[i] = call.data[i + 4];
        }
        if (selector == IPool.supply.selector) {
            (,, address onBehalfOf,) = abi.decode(args, (address, uint256, address, uint16));
            assertEq(onBehalfOf, account);
        } else if (selector == IPool.withdraw.selector) {
            (,, address to) = abi.decode(args, (address, uint256, address));
            assertEq(to, account);
        } else if (selector == IPool.borrow.selector) {
            (,,,, address onBehalfOf) = abi.decode(args, (address, uint256, uint256, uint16, address));
            assertEq(onBehalfOf, account);
        } else if (selector == IPool.repay.selector) {
            (,,, address onBehalfOf) = abi.decode(args, (address, uint256, uint256, address));
            assertEq(onBehalfOf, account);
        } else {
            revert("unexpected selector");
        }
    }

    function test_Encode_RevertWhen_KindIsNotAVenueAction() public {
        for (uint256 kind; kind < 256; ++kind) {
            if (kind >= SUPPLY && kind <= REPAY) continue;
            vm.expectRevert(abi.encodeWithSelector(IVenueAdapter.UnsupportedAction.selector, uint8(kind)));
            aaveAdapter.encode(uint8(kind), wethUsdc, 1, aaveSafe);
        }
    }

    function test_Encode_RevertWhen_NothingToRepay() public {
        vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.NothingToRepay.selector, address(usdc)));
        aaveAdapter.encode(REPAY, wethUsdc, 1e6, aaveSafe);
    }

    function test_Encode_RevertWhen_CollateralSwitchedOff() public {
        aaveSupply(aaveSafe, weth, 1e18);
        safeExec(aaveSafe, address(aavePool), 0, abi.encodeCall(IPool.setUserUseReserveAsCollateral, (address(weth), false)), 0);
        vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.CollateralNotEnabled.selector, address(weth)));
        aaveAdapter.encode(SUPPLY, wethUsdc, 1e18, aaveSafe);
        vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.CollateralNotEnabled.selector, address(weth)));
        aaveAdapter.encode(WITHDRAW, wethUsdc, 1e18, aaveSafe);
    }

    function test_Encode_RevertWhen_ReservePaused() public {
        aaveSupply(aaveSafe, weth, 10e18);
        aaveBorrow(aaveSafe, usdc, 1000e6);
        aaveConfigurator.setReservePause(address(weth), true);
        for (uint8 kind = SUPPLY; kind <= WITHDRAW; ++kind) {
            vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.ReservePaused.selector, address(weth)));
            aaveAdapter.encode(kind, wethUsdc, 1e18, aaveSafe);
        }
        aaveConfigurator.setReservePause(address(weth), false);
        aaveConfigurator.setReservePause(address(usdc), true);
        for (uint8 kind = BORROW; kind <= REPAY; ++kind) {
            vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.ReservePaused.selector, address(usdc)));
            aaveAdapter.encode(kind, wethUsdc, 100e6, aaveSafe);
        }
    }

    /// @dev A frozen reserve takes no new exposure (supply, borrow) but can always be wound down (withdraw, repay), as in
    /// Aave: refusing a repayment would strand the position exactly when governance is winding the reserve down.
    function test_Encode_FrozenReserveRefusesSupplyAndBorrowOnly() public {
        aaveSupply(aaveSafe, weth, 10e18);
        aaveBorrow(aaveSafe, usdc, 1000e6);
        vm.warp(block.timestamp + 1 days);
        aaveConfigurator.setReserveFreeze(address(weth), true);
        aaveConfigurator.setReserveFreeze(address(usdc), true);
        vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.ReserveFrozen.selector, address(weth)));
        aaveAdapter.encode(SUPPLY, wethUsdc, 1e18, aaveSafe);
        vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.ReserveFrozen.selector, address(usdc)));
        aaveAdapter.encode(BORROW, wethUsdc, 100e6, aaveSafe);

        usdc.mint(aaveSafe, 100e6);
        run(aaveSafe, REPAY, wethUsdc, 100e6);
        run(aaveSafe, WITHDRAW, wethUsdc, 1e18);
        assertEq(weth.balanceOf(aaveSafe), 1e18, "withdrawn from the frozen reserve");
        assertApproxEqAbs(variableDebt(usdc, aaveSafe), 900e6, 1e6, "repaid into the frozen reserve");
    }

    function test_RevertWhen_AccountIsNotInThePinnedEMode() public {
        aaveSupply(aaveSafe, wsteth, 10e18);
        // The market pins e-mode 1; the account is in 0.
        bytes memory err = abi.encodeWithSelector(
            IAaveV3Adapter.EModeMismatch.selector, wstethWethEMode, aaveSafe, AAVE_ETH_EMODE, uint256(0)
        );
        vm.expectRevert(err);
        aaveAdapter.marketState(wstethWethEMode, aaveSafe);
        vm.expectRevert(err);
        aaveAdapter.position(wstethWethEMode, aaveSafe);
        vm.expectRevert(err);
        aaveAdapter.health(wstethWethEMode, aaveSafe);
        vm.expectRevert(err);
        aaveAdapter.encode(BORROW, wstethWethEMode, 1e18, aaveSafe);

        // The owner switches the account to e-mode 1: now a market pinning 0 is refused.
        aaveSetEMode(aaveSafe, AAVE_ETH_EMODE);
        bytes32 wstethWeth = aaveAdapter.marketId(address(wsteth), address(weth), 0);
        vm.expectRevert(
            abi.encodeWithSelector(IAaveV3Adapter.EModeMismatch.selector, wstethWeth, aaveSafe, uint8(0), uint256(1))
        );
        aaveAdapter.encode(SUPPLY, wstethWeth, 1e18, aaveSafe);
        assertEq(aaveAdapter.health(wstethWethEMode, aaveSafe), type(uint256).max);
    }

    /* FLASH LOANS */

    function test_EncodeFlashLoan_LendsAScopedAssetToTheAccount() public view {
        (VenueCall memory call, uint256 premium) = aaveAdapter.encodeFlashLoan(wethUsdc, address(usdc), 10_000e6, aaveSafe, hex"beef");
        assertEq(call.target, address(aavePool));
        assertEq(call.data, abi.encodeCall(IPool.flashLoanSimple, (aaveSafe, address(usdc), 10_000e6, hex"beef", 0)));
        assertEq(call.approveToken, address(0), "the receiver approves inside its callback");
        assertEq(premium, 5e6, "0.05%");
        (, premium) = aaveAdapter.encodeFlashLoan(wethUsdc, address(weth), 1e18, aaveSafe, "");
        assertEq(premium, 0.0005e18);
    }

    function test_EncodeFlashLoan_RevertWhen_AssetOutOfScopeOrDisabled() public {
        vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.ReserveNotInScope.selector, wethUsdc, address(wbtc)));
        aaveAdapter.encodeFlashLoan(wethUsdc, address(wbtc), 1e8, aaveSafe, "");
        aaveConfigurator.setReserveFlashLoaning(address(usdc), false);
        vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.FlashLoanDisabled.selector, address(usdc)));
        aaveAdapter.encodeFlashLoan(wethUsdc, address(usdc), 1e6, aaveSafe, "");
        aaveConfigurator.setReservePause(address(weth), true);
        vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.ReservePaused.selector, address(weth)));
        aaveAdapter.encodeFlashLoan(wethUsdc, address(weth), 1e18, aaveSafe, "");
    }

    function test_CheckFlashLoanCallback_ReturnsWhatThePoolPulls() public view {
        uint256 owed = aaveAdapter.checkFlashLoanCallback(
            wethUsdc, aaveSafe, address(aavePool), address(usdc), 10_000e6, 5e6, aaveSafe
        );
        assertEq(owed, 10_005e6);
    }

    function test_CheckFlashLoanCallback_RevertWhen_AnyFieldIsOff() public {
        address stranger = makeAddr("stranger");
        vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.FlashLoanCallerNotPool.selector, stranger));
        aaveAdapter.checkFlashLoanCallback(wethUsdc, aaveSafe, stranger, address(usdc), 10_000e6, 5e6, aaveSafe);
        vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.FlashLoanInitiatorNotAccount.selector, stranger, aaveSafe));
        aaveAdapter.checkFlashLoanCallback(wethUsdc, aaveSafe, address(aavePool), address(usdc), 10_000e6, 5e6, stranger);
        vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.ReserveNotInScope.selector, wethUsdc, address(wbtc)));
        aaveAdapter.checkFlashLoanCallback(wethUsdc, aaveSafe, address(aavePool), address(wbtc), 1e8, 5e4, aaveSafe);
        vm.expectRevert(abi.encodeWithSelector(IAaveV3Adapter.FlashLoanPremiumMismatch.selector, 6e6, 5e6));
        aaveAdapter.checkFlashLoanCallback(wethUsdc, aaveSafe, address(aavePool), address(usdc), 10_000e6, 6e6, aaveSafe);
    }
}
