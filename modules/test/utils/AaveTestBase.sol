// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IPool} from "@aave/core-v3/contracts/interfaces/IPool.sol";
import {DataTypes} from "@aave/core-v3/contracts/protocol/libraries/types/DataTypes.sol";
import {ReserveConfiguration} from "@aave/core-v3/contracts/protocol/libraries/configuration/ReserveConfiguration.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {LeverageModule} from "../../src/LeverageModule.sol";
import {AaveV3Adapter} from "../../src/adapters/AaveV3Adapter.sol";
import {Action, ActionKind, ILeverageModule, Plan, Policy} from "../../src/interfaces/ILeverageModule.sol";
import {VenueCall} from "../../src/interfaces/IVenueAdapter.sol";
import {ISafe} from "../../src/interfaces/ISafe.sol";
import {Fixture} from "./Fixture.sol";
import {AaveFixture} from "./AaveFixture.sol";
import {TestToken} from "./TestToken.sol";

/// @notice The main Fixture (EntryPoint, Safe, module, Morpho, tokens, SimOracles) with the real Aave v3 markets mixed
/// in, the AaveV3Adapter, three market ids and `aaveSafe`: a Safe whose enabled module is this test contract, so tests
/// run the adapter's calls exactly as the module does (a Safe module call with an exact approval reset to zero).
abstract contract AaveTestBase is Fixture, AaveFixture {
    using ReserveConfiguration for DataTypes.ReserveConfigurationMap;

    uint8 internal constant SUPPLY = 2;
    uint8 internal constant WITHDRAW = 3;
    uint8 internal constant BORROW = 4;
    uint8 internal constant REPAY = 5;

    AaveV3Adapter internal aaveAdapter;
    /// @dev WETH collateral, USDC debt, no e-mode.
    bytes32 internal wethUsdc;
    /// @dev WBTC collateral, USDC debt, no e-mode.
    bytes32 internal wbtcUsdc;
    /// @dev wstETH collateral, WETH debt, "ETH correlated" e-mode.
    bytes32 internal wstethWethEMode;
    address internal aaveSafe;

    function setUp() public virtual override {
        super.setUp();
        deployAaveMarkets(usdc, weth, wbtc, wsteth, address(wethOracle), address(wbtcOracle), address(wstethOracle));
        aaveAdapter = new AaveV3Adapter(aavePool);
        wethUsdc = aaveAdapter.marketId(address(weth), address(usdc), 0);
        wbtcUsdc = aaveAdapter.marketId(address(wbtc), address(usdc), 0);
        wstethWethEMode = aaveAdapter.marketId(address(wsteth), address(weth), AAVE_ETH_EMODE);
        aaveSafe = createSafeWith(owner, address(this), address(module));
        vm.label(aaveSafe, "aaveSafe");
    }

    /// @notice Replaces the Fixture's module by one whose adapters are the Morpho Blue adapter AND the Aave adapter, and
    /// `safe` by a fresh Safe with that module, configured as the Fixture configures its own (automation, keeper, budget).
    function installModuleWithAave() internal {
        address[] memory adapterList = new address[](2);
        adapterList[0] = address(adapter);
        adapterList[1] = address(aaveAdapter);
        module = new LeverageModule(address(entryPoint), adapterList, address(0));
        safe = newAutomatedSafe();
    }

    /// @notice A new Safe with `module` as module and fallback handler, 10 ETH, the default automation config, the
    /// keeper registered for 30 days and the self-pay budget.
    function newAutomatedSafe() internal returns (address account) {
        account = createSafe(owner);
        vm.deal(account, 10 ether);
        safeExec(account, account, 0, abi.encodeCall(ILeverageModule.setAutomationConfig, (defaultAutomation())), 0);
        safeExec(account, account, 0, abi.encodeCall(ILeverageModule.addKeeper, (keeper, 0, uint48(block.timestamp + 30 days))), 0);
        safeExec(account, account, 0, abi.encodeCall(ILeverageModule.setSelfPayBudget, (SELF_PAY_BUDGET, 1 days)), 0);
    }

    /// @notice The Fixture's default policy bands and caps on an Aave market, with `priceFeed` as its second source.
    /// @dev A boosting Aave policy on `market` with band (minHealth, target, maxHealth) in WAD, no second feed, pool usdcVault.
    function boostingPolicy(bytes32 market, uint64 minHealth, uint64 target, uint64 maxHealth)
        internal
        view
        returns (Policy memory policy)
    {
        policy = aavePolicy(market, address(0), address(usdcVault));
        policy.minHealth = minHealth;
        policy.targetHealth = target;
        policy.maxHealth = maxHealth;
        policy.maxOracleAge = 0;
        policy.boostAllowed = true;
    }

    function aavePolicy(bytes32 market, address priceFeed, address pool) internal view returns (Policy memory policy) {
        policy = defaultPolicy(wethMarket, pool);
        policy.adapter = address(aaveAdapter);
        policy.market = market;
        policy.priceFeed = priceFeed;
    }

    /* SHARED ACCOUNTS */

    /// @notice Replaces `safe` by a fresh Safe whose module has both adapters (`installModuleWithAave`) and opens its Aave
    /// account: `wethAmount` WETH and `wbtcAmount` WBTC (base units; 0 skips) supplied, `usdcDebt` USDC (base units)
    /// borrowed and handed to `lender`, so the Safe holds no idle USDC (the multi-collateral account of the Aave
    /// attack tests: WETH at 83% next to WBTC at 78%).
    function openAaveAccount(uint256 wethAmount, uint256 wbtcAmount, uint256 usdcDebt) internal {
        installModuleWithAave();
        if (wethAmount != 0) aaveSupply(safe, weth, wethAmount);
        if (wbtcAmount != 0) aaveSupply(safe, wbtc, wbtcAmount);
        aaveBorrow(safe, usdc, usdcDebt);
        safeExec(safe, address(usdc), 0, abi.encodeCall(IERC20.transfer, (lender, usdcDebt)), 0);
    }

    /// @dev A Safe with a Morpho WETH/USDC position and an Aave account (all amounts in base units).
    struct CrossVenueSafe {
        uint256 morphoWeth;
        uint256 morphoDebt;
        uint256 aaveWeth;
        uint256 aaveWbtc;
        uint256 aaveDebt;
        /// @dev true: the Aave account gives collateral (its policy allows boosts); false: the Morpho market does.
        bool aaveDonor;
    }

    /// @notice The cross-venue fixture (issue 17): replaces `safe` by a fresh Safe with both adapters, opens `c`'s
    /// positions at WETH 3,000 (the borrowed USDC stays in the Safe), sets the Morpho WETH/USDC policy (the Fixture's
    /// default, no pool) and the Aave WETH/USDC one (second feed the WETH oracle, no pool), the donor's with boosts
    /// allowed (withdrawing its collateral lowers its health), then WETH falls to 2,400 on the one oracle both venues
    /// read. Returns the two sub-account ids.
    function openCrossVenueSafe(CrossVenueSafe memory c) internal returns (bytes32 morphoId, bytes32 aaveId) {
        installModuleWithAave();
        openPosition(safe, wethMarket, c.morphoWeth, c.morphoDebt);
        if (c.aaveWeth != 0) aaveSupply(safe, weth, c.aaveWeth);
        if (c.aaveWbtc != 0) aaveSupply(safe, wbtc, c.aaveWbtc);
        aaveBorrow(safe, usdc, c.aaveDebt);
        Policy memory morphoPolicy = defaultPolicy(wethMarket, address(0));
        morphoPolicy.boostAllowed = !c.aaveDonor;
        morphoId = setPolicyFor(safe, morphoPolicy);
        Policy memory aave = aavePolicy(wethUsdc, address(wethOracle), address(0));
        aave.boostAllowed = c.aaveDonor;
        aaveId = setPolicyFor(safe, aave);
        wethOracle.setPrice(2400e18);
    }

    /// @notice A plan moving `amount` of collateral from sub-account `from` (withdrawn) to `to` (supplied), same token.
    function crossCollateralPlan(bytes32 from, bytes32 to, uint256 amount) internal pure returns (Plan memory plan) {
        plan.subAccounts = new bytes32[](2);
        plan.subAccounts[0] = from;
        plan.subAccounts[1] = to;
        plan.actions = new Action[](2);
        plan.actions[0] = Action({kind: ActionKind.WithdrawCollateral, subAccount: 0, pool: address(0), amount: amount});
        plan.actions[1] = Action({kind: ActionKind.SupplyCollateral, subAccount: 1, pool: address(0), amount: amount});
    }

    /* OWNER ACTIONS (Safe transactions signed by the owner) */

    function aaveSupply(address account, TestToken token, uint256 amount) internal {
        token.mint(account, amount);
        safeExec(account, address(token), 0, abi.encodeCall(IERC20.approve, (address(aavePool), amount)), 0);
        safeExec(account, address(aavePool), 0, abi.encodeCall(IPool.supply, (address(token), amount, account, 0)), 0);
    }

    function aaveBorrow(address account, TestToken token, uint256 amount) internal {
        safeExec(account, address(aavePool), 0, abi.encodeCall(IPool.borrow, (address(token), amount, 2, 0, account)), 0);
    }

    function aaveSetEMode(address account, uint8 category) internal {
        safeExec(account, address(aavePool), 0, abi.encodeCall(IPool.setUserEMode, (category)), 0);
    }

    /* ADAPTER ACTIONS (what RebalanceLib does: a Safe module call, approval exact before and zero after) */

    function run(address account, uint8 kind, bytes32 market, uint256 amount) internal {
        VenueCall memory call = aaveAdapter.encode(kind, market, amount, account);
        if (call.approveToken != address(0)) moduleCall(account, call.approveToken, abi.encodeCall(IERC20.approve, (call.target, call.approveAmount)));
        moduleCall(account, call.target, call.data);
        if (call.approveToken != address(0)) moduleCall(account, call.approveToken, abi.encodeCall(IERC20.approve, (call.target, 0)));
    }

    function moduleCall(address account, address target, bytes memory data) internal returns (bytes memory result) {
        bool success;
        (success, result) = ISafe(account).execTransactionFromModuleReturnData(target, 0, data, 0);
        if (!success) {
            assembly ("memory-safe") {
                revert(add(result, 0x20), mload(result))
            }
        }
    }

    /* READS */

    function reserve(TestToken token) internal view returns (DataTypes.ReserveData memory) {
        return aavePool.getReserveData(address(token));
    }

    function aBalance(TestToken token, address account) internal view returns (uint256) {
        return IERC20(reserve(token).aTokenAddress).balanceOf(account);
    }

    function variableDebt(TestToken token, address account) internal view returns (uint256) {
        return IERC20(reserve(token).variableDebtTokenAddress).balanceOf(account);
    }

    function aaveHealthFactor(address account) internal view returns (uint256 healthFactor) {
        (,,,,, healthFactor) = aavePool.getUserAccountData(account);
    }

    /// @notice The account's threshold-weighted collateral as Aave v3.0.2 GenericLogic sums it before it floors the
    /// average (`weighted`, base currency x bps) and its total collateral (`total`, base currency), over this fixture's
    /// four reserves: each collateral Aave counts, value = aToken balance x price / unit rounded down, at the account's
    /// e-mode category's threshold and price source for reserves in it. Written here independently of the adapter as
    /// the test oracle of its frame (SECURITY row 64), and checked against Aave itself: `total` is getUserAccountData's
    /// and `weighted / total` is its floored average threshold.
    function exactWeightedCollateral(address account) internal view returns (uint256 weighted, uint256 total) {
        TestToken[4] memory tokens = [usdc, weth, wbtc, wsteth];
        for (uint256 i; i < tokens.length; ++i) {
            (uint256 value, uint256 threshold) = _collateralTerm(tokens[i], account);
            total += value;
            weighted += value * threshold;
        }
        (uint256 aaveTotal,,, uint256 averageThreshold,,) = aavePool.getUserAccountData(account);
        assertEq(total, aaveTotal, "the oracle's total collateral is Aave's");
        if (total != 0) assertEq(weighted / total, averageThreshold, "the oracle's sum floors to Aave's average");
    }

    /// @dev `token`'s term of `exactWeightedCollateral`: its value (base currency) and threshold (bps); (0, 0) when Aave
    /// does not count it as `account`'s collateral.
    function _collateralTerm(TestToken token, address account) private view returns (uint256 value, uint256 threshold) {
        DataTypes.ReserveData memory r = reserve(token);
        threshold = r.configuration.getLiquidationThreshold();
        if ((aavePool.getUserConfiguration(account).data >> (2 * uint256(r.id) + 1)) & 1 == 0 || threshold == 0) return (0, 0);
        uint256 category = aavePool.getUserEMode(account);
        DataTypes.EModeCategory memory eMode = aavePool.getEModeCategoryData(uint8(category));
        bool inEMode = category != 0 && r.configuration.getEModeCategory() == category;
        address priceOf = inEMode && eMode.priceSource != address(0) ? eMode.priceSource : address(token);
        value = aBalance(token, account) * aaveOracle.getAssetPrice(priceOf) / 10 ** token.decimals();
        if (inEMode) threshold = eMode.liquidationThreshold;
    }

    /// @notice The market-frame collateral `marketState(market, account).collateral` must be: the exact weighted sum over
    /// the market collateral's threshold and price (its e-mode category's where Aave applies them), in its base units,
    /// rounded down.
    function exactFrameCollateral(bytes32 market, address account) internal view returns (uint256) {
        (uint256 weighted,) = exactWeightedCollateral(account);
        (address collateral,, uint8 category) = aaveAdapter.marketParams(market);
        DataTypes.ReserveConfigurationMap memory config = aavePool.getConfiguration(collateral);
        DataTypes.EModeCategory memory eMode = aavePool.getEModeCategoryData(category);
        bool inEMode = category != 0 && config.getEModeCategory() == category;
        uint256 threshold = inEMode ? eMode.liquidationThreshold : config.getLiquidationThreshold();
        address priceOf = inEMode && eMode.priceSource != address(0) ? eMode.priceSource : collateral;
        return Math.mulDiv(weighted, 10 ** config.getDecimals(), threshold * aaveOracle.getAssetPrice(priceOf));
    }
}
