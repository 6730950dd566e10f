// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IPool} from "@aave/core-v3/contracts/interfaces/IPool.sol";
import {IPoolAddressesProvider} from "@aave/core-v3/contracts/interfaces/IPoolAddressesProvider.sol";
import {IPriceOracleGetter} from "@aave/core-v3/contracts/interfaces/IPriceOracleGetter.sol";
import {DataTypes} from "@aave/core-v3/contracts/protocol/libraries/types/DataTypes.sol";
import {ReserveConfiguration} from "@aave/core-v3/contracts/protocol/libraries/configuration/ReserveConfiguration.sol";
import {UserConfiguration} from "@aave/core-v3/contracts/protocol/libraries/configuration/UserConfiguration.sol";
import {PercentageMath} from "@aave/core-v3/contracts/protocol/libraries/math/PercentageMath.sol";

import {ActionKind, ILeverageModule} from "../interfaces/ILeverageModule.sol";
import {AaveFlashLoanRouter} from "./AaveFlashLoanRouter.sol";
import {IVenueAdapter, MarketState, VenueCall} from "../interfaces/IVenueAdapter.sol";
import {IAaveV3Adapter} from "../interfaces/IAaveV3Adapter.sol";

/// @title AaveV3Adapter
/// @notice Venue adapter for one Aave v3 Pool: the Safe's Aave account is one cross-margined sub-account; a market id
/// names the collateral asset, the debt asset and the e-mode category the keeper's actions are scoped to.
/// @dev Security considerations:
/// - Stateless and view-only; it never receives funds or approvals. Callback actions go to the AaveFlashLoanRouter it
///   deploys (`FLASH_ROUTER`), which holds a flash loan for the length of one callback and acts only for its caller.
/// - Every encoded call has `account` as onBehalfOf and as receiver (`supply`, `borrow`, `repay` take onBehalfOf;
///   `withdraw` pays `to = account` from the caller's own aTokens), so funds only move between the Safe and Aave.
/// - It encodes only supply / withdraw / borrow (variable rate) / repay (variable rate), flashLoanSimple and the
///   router's `flashWithCallback` (a flash-funded repay or supply for the account itself): never
///   setUserEMode, setUserUseReserveAsCollateral, swapBorrowRateMode, credit delegation or liquidationCall.
/// - A supply Aave would not count as collateral is refused (`CollateralNotEnabled`: switched off, or a first supply of an
///   LTV-0 or isolated reserve, or into an account in isolation mode, which Aave does not enable).
/// - The account's e-mode category must be the one the market id pins (`EModeMismatch`); paused reserves refuse every
///   action, frozen reserves refuse supply and borrow (`ReservePaused`, `ReserveFrozen`), as Aave itself does.
/// - Health is Aave's own `getUserAccountData` health factor (see IAaveV3Adapter). The market-frame collateral is the
///   account's exact threshold-weighted sum (`_weightedCollateral`), so a supply or withdrawal of the scope's collateral
///   moves it one for one and the module's loss bounds value no phantom gain (issue 10 rev10q, SECURITY row 64).
/// - `minBorrowHealth(market, account)` is the account's own reach (average LT / average LTV), as Aave's
///   `validateBorrow` bounds the whole account (issue 17 rev17f (3), SECURITY row 63).
contract AaveV3Adapter is IAaveV3Adapter {
    using ReserveConfiguration for DataTypes.ReserveConfigurationMap;
    using UserConfiguration for DataTypes.UserConfigurationMap;
    using PercentageMath for uint256;

    uint256 internal constant VARIABLE_RATE = 2;
    uint256 internal constant BPS_TO_WAD = 1e14;
    uint256 internal constant PRICE_SCALE = 1e36;

    IPool internal immutable _POOL;
    IPoolAddressesProvider internal immutable _PROVIDER;
    /// @notice The flash-loan router this adapter deploys and sends callback actions to (`encodeWithCallback`).
    address public immutable FLASH_ROUTER;

    /// @dev What `_weightedCollateral` prices collateral reserves with: the account's (the market's) e-mode category,
    /// its liquidation threshold (bps) and its price source's price (0 when it has none), and Aave's oracle.
    struct Pricing {
        uint8 eMode;
        uint256 eModeThreshold;
        uint256 eModePrice;
        IPriceOracleGetter oracle;
    }

    /// @dev A decoded market id with what every read needs about its two reserves.
    struct Market {
        address collateral;
        address debt;
        uint8 eMode;
        DataTypes.ReserveConfigurationMap collateralConfig;
        DataTypes.ReserveConfigurationMap debtConfig;
    }

    constructor(IPool pool) {
        _POOL = pool;
        _PROVIDER = pool.ADDRESSES_PROVIDER();
        FLASH_ROUTER = address(new AaveFlashLoanRouter(pool));
    }

    /* MARKET IDS */

    /// @inheritdoc IAaveV3Adapter
    function POOL() external view returns (address) {
        return address(_POOL);
    }

    /// @inheritdoc IVenueAdapter
    function venue() external view returns (address) {
        return address(_POOL);
    }

    /// @inheritdoc IVenueAdapter
    /// @dev Every market id of the pool names the Safe's one Aave account, whatever its reserves or e-mode category.
    function accountKey(bytes32 market) external view returns (bytes32) {
        return isMarket(market) ? bytes32(uint256(uint160(address(_POOL)))) : bytes32(0);
    }

    /// @inheritdoc IAaveV3Adapter
    function marketId(address collateral, address debt, uint8 eModeCategory) external view returns (bytes32) {
        bytes memory err = _marketError(collateral, debt, eModeCategory);
        if (err.length != 0) _revert(err);
        uint256 collateralId = _POOL.getReserveData(collateral).id;
        uint256 debtId = _POOL.getReserveData(debt).id;
        return bytes32(
            (collateralId << 240) | (debtId << 224) | (uint256(eModeCategory) << 216)
                | _checksum(collateral, debt, eModeCategory)
        );
    }

    /// @inheritdoc IAaveV3Adapter
    function marketParams(bytes32 market) public view returns (address collateral, address debt, uint8 eModeCategory) {
        collateral = _POOL.getReserveAddressById(uint16(uint256(market) >> 240));
        debt = _POOL.getReserveAddressById(uint16(uint256(market) >> 224));
        eModeCategory = uint8(uint256(market) >> 216);
        if (collateral == address(0) || debt == address(0) || _checksum(collateral, debt, eModeCategory) != uint216(uint256(market))) {
            revert UnknownMarket(market);
        }
    }

    /// @inheritdoc IVenueAdapter
    function isMarket(bytes32 market) public view returns (bool) {
        address collateral = _POOL.getReserveAddressById(uint16(uint256(market) >> 240));
        address debt = _POOL.getReserveAddressById(uint16(uint256(market) >> 224));
        uint8 eModeCategory = uint8(uint256(market) >> 216);
        if (collateral == address(0) || debt == address(0)) return false;
        if (_checksum(collateral, debt, eModeCategory) != uint216(uint256(market))) return false;
        return _marketError(collateral, debt, eModeCategory).length == 0;
    }

    /// @inheritdoc IVenueAdapter
    function marketTokens(bytes32 market) external view returns (address loanToken, address collateralToken) {
        (collateralToken, loanToken,) = marketParams(market);
    }

    /* STATE */

    /// @inheritdoc IVenueAdapter
    function marketState(bytes32 market, address account) external view returns (MarketState memory state) {
        Market memory m = _load(market);
        _checkEMode(market, m, account);
        (uint256 collateralPrice, uint256 debtPrice) = _prices(m);
        state.loanToken = m.debt;
        state.collateralToken = m.collateral;
        int256 equityBase;
        (state.collateral, state.debt, state.health, equityBase) = _position(m, account, collateralPrice, debtPrice);
        // The account's net value (MarketState.equity): Aave's base-currency collateral minus debt, every reserve at its
        // own value, in debt units at Aave's price of the debt asset, rounded down (toward minus infinity).
        uint256 unit = 10 ** m.debtConfig.getDecimals();
        state.equity = equityBase >= 0
            ? int256(Math.mulDiv(uint256(equityBase), unit, debtPrice))
            : -int256(Math.mulDiv(uint256(-equityBase), unit, debtPrice, Math.Rounding.Ceil));
        state.price = Math.mulDiv(
            collateralPrice * 10 ** m.debtConfig.getDecimals(), PRICE_SCALE, debtPrice * 10 ** m.collateralConfig.getDecimals()
        );
        state.lltv = _collateralThreshold(m) * BPS_TO_WAD;
        state.repayable = IERC20(_POOL.getReserveData(m.debt).variableDebtTokenAddress).balanceOf(account); // `maxRepayable`
    }

    /// @inheritdoc IVenueAdapter
    function position(bytes32 market, address account) external view returns (uint256 collateral, uint256 debt) {
        Market memory m = _load(market);
        _checkEMode(market, m, account);
        (uint256 collateralPrice, uint256 debtPrice) = _prices(m);
        (collateral, debt,,) = _position(m, account, collateralPrice, debtPrice);
    }

    /// @inheritdoc IVenueAdapter
    /// @dev Aave's own health factor now (`price` and `lltv` unused): one `getUserAccountData` gives both.
    function positionHealth(bytes32 market, address account, uint256, uint256)
        external
        view
        returns (uint256 collateral, uint256 debt, uint256 wad)
    {
        Market memory m = _load(market);
        _checkEMode(market, m, account);
        (uint256 collateralPrice, uint256 debtPrice) = _prices(m);
        (collateral, debt, wad,) = _position(m, account, collateralPrice, debtPrice);
    }

    /// @inheritdoc IVenueAdapter
    function maxRepayable(bytes32 market, address account) external view returns (uint256) {
        (, address debt,) = marketParams(market);
        return IERC20(_POOL.getReserveData(debt).variableDebtTokenAddress).balanceOf(account);
    }

    /// @inheritdoc IVenueAdapter
    /// @dev Aave's `getUserAccountData` health factor, exactly; reverts with `EModeMismatch` outside the market's
    /// e-mode category.
    function health(bytes32 market, address account) external view returns (uint256 wad) {
        Market memory m = _load(market);
        _checkEMode(market, m, account);
        (,,,,, wad) = _POOL.getUserAccountData(account);
    }

    /// @inheritdoc IVenueAdapter
    /// @dev Aave's `liquidationBonus` (bps) x 1e14, e.g. 1.05e18: the e-mode category's bonus when the collateral is in it.
    function liquidationIncentiveFactor(bytes32 market) external view returns (uint256 wad) {
        Market memory m = _load(market);
        uint256 bonus = _inEMode(m, m.collateralConfig)
            ? _POOL.getEModeCategoryData(m.eMode).liquidationBonus
            : m.collateralConfig.getLiquidationBonus();
        return bonus * BPS_TO_WAD;
    }

    /// @inheritdoc IVenueAdapter
    /// @dev The lowest health Aave's `validateBorrow` lets `account` borrow to (COLLATERAL_CANNOT_COVER_NEW_BORROW, "36"),
    /// WAD rounded up: with collateral, the account's own average liquidation threshold over its average LTV
    /// (`getUserAccountData`, every collateral weighed by its value, the e-mode category's values for reserves in it, as
    /// Aave v3.0.2 GenericLogic weighs them); without collateral, the market collateral reserve's threshold over its
    /// LTV (the e-mode category's when the collateral is in the market's category, its LTV while the reserve's own LTV
    /// is non-zero). `type(uint256).max` when the LTV is 0 (Aave lends nothing). Governance can lower an LTV later and
    /// the account's mix of collaterals moves its reach: the keeper also bounds a borrow by `availableBorrowsBase`.
    function minBorrowHealth(bytes32 market, address account) external view returns (uint256) {
        (uint256 totalCollateralBase,,, uint256 threshold, uint256 ltv,) = _POOL.getUserAccountData(account);
        if (totalCollateralBase == 0) {
            Market memory m = _load(market);
            ltv = m.collateralConfig.getLtv();
            if (ltv != 0 && _inEMode(m, m.collateralConfig)) ltv = _POOL.getEModeCategoryData(m.eMode).ltv;
            threshold = _collateralThreshold(m);
        } else {
            marketParams(market); // an unknown market id reverts, as with an empty account
        }
        if (ltv == 0) return type(uint256).max;
        return Math.mulDiv(threshold, 1e18, ltv, Math.Rounding.Ceil);
    }

    /* ACTIONS */

    /// @inheritdoc IVenueAdapter
    function encode(uint8 kind, bytes32 market, uint256 assets, address account)
        external
        view
        returns (VenueCall memory call)
    {
        if (kind < uint8(ActionKind.SupplyCollateral) || kind > uint8(ActionKind.Repay)) revert UnsupportedAction(kind);
        Market memory m = _load(market);
        _checkEMode(market, m, account);
        call.target = address(_POOL);
        if (kind == uint8(ActionKind.SupplyCollateral)) {
            _checkReserve(m.collateral, m.collateralConfig, true);
            _checkSupplyCounted(m.collateral, m.collateralConfig, account);
            call.data = abi.encodeCall(IPool.supply, (m.collateral, assets, account, 0));
            call.approveToken = m.collateral;
            call.approveAmount = assets;
        } else if (kind == uint8(ActionKind.WithdrawCollateral)) {
            _checkReserve(m.collateral, m.collateralConfig, false);
            uint256 balance = _collateralBalance(m.collateral, account);
            // Withdrawing max burns the whole balance, so interest accrued in the same second leaves no dust.
            call.data = abi.encodeCall(IPool.withdraw, (m.collateral, assets >= balance ? type(uint256).max : assets, account));
        } else if (kind == uint8(ActionKind.Borrow)) {
            _checkReserve(m.debt, m.debtConfig, true);
            call.data = abi.encodeCall(IPool.borrow, (m.debt, assets, VARIABLE_RATE, 0, account));
        } else {
            _checkReserve(m.debt, m.debtConfig, false);
            uint256 debt = _variableDebt(m.debt, account);
            call.approveToken = m.debt;
            if (assets >= debt) {
                // Repaying max clears the variable debt exactly; the approval is that debt, computed in this block.
                call.data = abi.encodeCall(IPool.repay, (m.debt, type(uint256).max, VARIABLE_RATE, account));
                call.approveAmount = debt;
            } else {
                call.data = abi.encodeCall(IPool.repay, (m.debt, assets, VARIABLE_RATE, account));
                call.approveAmount = assets;
            }
        }
    }

    /// @inheritdoc IVenueAdapter
    /// @dev Aave v3 has no repay or supply callback: its flash loan is the callback shape there, through
    /// `FLASH_ROUTER` (AaveFlashLoanRouter). RepayWithCallback flash-borrows `assets` of the debt asset (at most the
    /// account's variable debt) and repays that debt with it; SupplyCollateralWithCallback flash-borrows `assets` of the collateral asset and
    /// supplies it for the account; then the router calls the account back with `onMorphoFlashLoan(assets + premium,
    /// data)`, refuses a callback that borrows back the repayment or withdraws the supply, and pulls that amount. `approveToken` is the borrowed asset, so the module resets any allowance left.
    /// Reverts with `UnsupportedAction` for other kinds, `EModeMismatch`, `ReservePaused`, `ReserveInactive`,
    /// `ReserveFrozen` (a supply), `CollateralNotEnabled`, `NothingToRepay` or `FlashLoanDisabled`.
    function encodeWithCallback(uint8 kind, bytes32 market, uint256 assets, address account, bytes calldata data)
        external
        view
        returns (VenueCall memory call, bytes4 selector)
    {
        bool repay = kind == uint8(ActionKind.RepayWithCallback);
        if (!repay && kind != uint8(ActionKind.SupplyCollateralWithCallback)) revert UnsupportedAction(kind);
        Market memory m = _load(market);
        _checkEMode(market, m, account);
        (address asset, DataTypes.ReserveConfigurationMap memory config) =
            repay ? (m.debt, m.debtConfig) : (m.collateral, m.collateralConfig);
        _checkReserve(asset, config, !repay);
        if (repay) _variableDebt(asset, account);
        else _checkSupplyCounted(asset, config, account);
        if (!config.getFlashLoanEnabled()) revert FlashLoanDisabled(asset);
        call.target = FLASH_ROUTER;
        call.data = abi.encodeCall(AaveFlashLoanRouter.flashWithCallback, (asset, assets, repay, data));
        call.approveToken = asset;
        selector = ILeverageModule.onMorphoFlashLoan.selector;
    }

    /// @inheritdoc IAaveV3Adapter
    function encodeFlashLoan(bytes32 market, address asset, uint256 assets, address account, bytes calldata params)
        external
        view
        returns (VenueCall memory call, uint256 premium)
    {
        Market memory m = _load(market);
        if (asset != m.collateral && asset != m.debt) revert ReserveNotInScope(market, asset);
        DataTypes.ReserveConfigurationMap memory config = asset == m.collateral ? m.collateralConfig : m.debtConfig;
        _checkReserve(asset, config, false);
        if (!config.getFlashLoanEnabled()) revert FlashLoanDisabled(asset);
        call.target = address(_POOL);
        call.data = abi.encodeCall(IPool.flashLoanSimple, (account, asset, assets, params, 0));
        premium = assets.percentMul(_POOL.FLASHLOAN_PREMIUM_TOTAL());
    }

    /// @inheritdoc IAaveV3Adapter
    function checkFlashLoanCallback(
        bytes32 market,
        address account,
        address caller,
        address asset,
        uint256 amount,
        uint256 premium,
        address initiator
    ) external view returns (uint256 owed) {
        if (caller != address(_POOL)) revert FlashLoanCallerNotPool(caller);
        if (initiator != account) revert FlashLoanInitiatorNotAccount(initiator, account);
        (address collateral, address debt,) = marketParams(market);
        if (asset != collateral && asset != debt) revert ReserveNotInScope(market, asset);
        uint256 expected = amount.percentMul(_POOL.FLASHLOAN_PREMIUM_TOTAL());
        if (premium != expected) revert FlashLoanPremiumMismatch(premium, expected);
        return amount + premium;
    }

    /* INTERNAL */

    function _load(bytes32 market) internal view returns (Market memory m) {
        (m.collateral, m.debt, m.eMode) = marketParams(market);
        m.collateralConfig = _POOL.getConfiguration(m.collateral);
        m.debtConfig = _POOL.getConfiguration(m.debt);
    }

    function _checksum(address collateral, address debt, uint8 eModeCategory) internal pure returns (uint256) {
        return uint216(uint256(keccak256(abi.encode(collateral, debt, eModeCategory))));
    }

    /// @dev Why (collateral, debt, eModeCategory) is not a usable market, as the error to throw; empty when it is.
    function _marketError(address collateral, address debt, uint8 eModeCategory) internal view returns (bytes memory) {
        DataTypes.ReserveData memory c = _POOL.getReserveData(collateral);
        DataTypes.ReserveData memory d = _POOL.getReserveData(debt);
        if (c.aTokenAddress == address(0)) return abi.encodeWithSelector(ReserveNotListed.selector, collateral);
        if (d.aTokenAddress == address(0)) return abi.encodeWithSelector(ReserveNotListed.selector, debt);
        if (collateral == debt) return abi.encodeWithSelector(SameReserve.selector, collateral);
        if (!c.configuration.getActive()) return abi.encodeWithSelector(ReserveInactive.selector, collateral);
        if (!d.configuration.getActive()) return abi.encodeWithSelector(ReserveInactive.selector, debt);
        uint256 threshold = c.configuration.getLiquidationThreshold();
        if (eModeCategory != 0) {
            uint256 categoryThreshold = _POOL.getEModeCategoryData(eModeCategory).liquidationThreshold;
            if (categoryThreshold == 0) return abi.encodeWithSelector(UnknownEModeCategory.selector, eModeCategory);
            if (d.configuration.getEModeCategory() != eModeCategory) {
                return abi.encodeWithSelector(DebtNotInEModeCategory.selector, debt, eModeCategory);
            }
            if (c.configuration.getEModeCategory() == eModeCategory) threshold = categoryThreshold;
        }
        if (threshold == 0) return abi.encodeWithSelector(NotCollateral.selector, collateral);
        if (!d.configuration.getBorrowingEnabled()) return abi.encodeWithSelector(NotBorrowable.selector, debt);
        return "";
    }

    function _checkEMode(bytes32 market, Market memory m, address account) internal view {
        uint256 actual = _POOL.getUserEMode(account);
        if (actual != m.eMode) revert EModeMismatch(market, account, m.eMode, actual);
    }

    /// @dev True when `config`'s reserve is in the market's (non-zero) e-mode category, so Aave applies the category's
    /// threshold, bonus and price source to it for an account in that category.
    function _inEMode(Market memory m, DataTypes.ReserveConfigurationMap memory config) internal pure returns (bool) {
        return m.eMode != 0 && config.getEModeCategory() == m.eMode;
    }

    function _collateralThreshold(Market memory m) internal view returns (uint256) {
        return _inEMode(m, m.collateralConfig)
            ? _POOL.getEModeCategoryData(m.eMode).liquidationThreshold
            : m.collateralConfig.getLiquidationThreshold();
    }

    /// @dev Base-currency prices of one whole collateral and debt token, as Aave's GenericLogic reads them for an account
    /// in the market's e-mode category (the category's price source, when set, for assets in the category).
    function _prices(Market memory m) internal view returns (uint256 collateralPrice, uint256 debtPrice) {
        IPriceOracleGetter oracle = IPriceOracleGetter(_PROVIDER.getPriceOracle());
        address eModeSource = m.eMode == 0 ? address(0) : _POOL.getEModeCategoryData(m.eMode).priceSource;
        collateralPrice = oracle.getAssetPrice(
            eModeSource != address(0) && _inEMode(m, m.collateralConfig) ? eModeSource : m.collateral
        );
        debtPrice = oracle.getAssetPrice(eModeSource != address(0) && _inEMode(m, m.debtConfig) ? eModeSource : m.debt);
    }

    /// @dev The account in the market's frame (see IAaveV3Adapter): threshold-weighted collateral in collateral units
    /// at the collateral's threshold, rounded down; total debt in debt units, rounded up and never below the exact debt
    /// in the debt asset; Aave's health factor (WAD); and the account's net value in Aave's base currency
    /// (totalCollateralBase - totalDebtBase), all from the same `getUserAccountData`.
    function _position(Market memory m, address account, uint256 collateralPrice, uint256 debtPrice)
        internal
        view
        returns (uint256 collateral, uint256 debt, uint256 healthFactor, int256 equityBase)
    {
        uint256 totalDebtBase;
        (collateral, totalDebtBase, healthFactor, equityBase) = _collateral(m, account, collateralPrice);
        debt = Math.mulDiv(totalDebtBase, 10 ** m.debtConfig.getDecimals(), debtPrice, Math.Rounding.Ceil);
        DataTypes.ReserveData memory d = _POOL.getReserveData(m.debt);
        uint256 exact =
            IERC20(d.variableDebtTokenAddress).balanceOf(account) + IERC20(d.stableDebtTokenAddress).balanceOf(account);
        if (exact > debt) debt = exact;
    }

    /// @dev `_position`'s collateral, with the account's total debt (base currency), health factor (WAD) and net value
    /// (base currency) from the same `getUserAccountData`. The collateral is the account's exact threshold-weighted
    /// collateral (`_weightedCollateral`, base currency x bps) over the market collateral's threshold and price, in its
    /// base units, rounded down; NOT `totalCollateralBase x currentLiquidationThreshold`, whose average Aave floors to
    /// whole bps (review rev10q of issue 10, SECURITY row 64).
    function _collateral(Market memory m, address account, uint256 collateralPrice)
        internal
        view
        returns (uint256 collateral, uint256 totalDebtBase, uint256 healthFactor, int256 equityBase)
    {
        uint256 totalCollateralBase;
        uint256 threshold;
        (totalCollateralBase, totalDebtBase,, threshold,, healthFactor) = _POOL.getUserAccountData(account);
        equityBase = int256(totalCollateralBase) - int256(totalDebtBase);
        uint256 collateralThreshold = _collateralThreshold(m);
        // Governance may set a listed collateral's threshold to zero after the market id was made.
        if (collateralThreshold == 0) revert NotCollateral(m.collateral);
        collateral = Math.mulDiv(
            _weightedCollateral(m, account, totalCollateralBase, threshold),
            10 ** m.collateralConfig.getDecimals(),
            collateralThreshold * collateralPrice
        );
    }

    /// @dev The account's threshold-weighted collateral, exactly: the sum over the collateral reserves Aave counts (the
    /// user configuration's collateral bits, a reserve's own liquidation threshold non-zero) of value x threshold (base
    /// currency x bps), value = aToken balance x price / 10^decimals rounded down and threshold and price those of the
    /// market's e-mode category (its price source when set) for a reserve in it, exactly as Aave v3.0.2
    /// `GenericLogic.calculateUserAccountData` sums them before it divides by `totalCollateralBase` and floors the
    /// average. `totalCollateralBase` and `threshold` are that call's. No extra read without collateral, and with one
    /// collateral reserve the sum is `totalCollateralBase x threshold` exactly (its average is its own threshold): only
    /// an account with several collateral reserves is read reserve by reserve, and the last of them only for its
    /// threshold: its value is `totalCollateralBase` less the others' (Aave's total is the sum of these same values; a
    /// mismatch underflows and reverts rather than mis-value). The account is in the market's category (`_checkEMode`
    /// runs first in every caller).
    function _weightedCollateral(Market memory m, address account, uint256 totalCollateralBase, uint256 threshold)
        internal
        view
        returns (uint256 weighted)
    {
        if (totalCollateralBase == 0) return 0;
        uint256 bits = _POOL.getUserConfiguration(account).data & UserConfiguration.COLLATERAL_MASK;
        unchecked {
            if (bits & (bits - 1) == 0) return totalCollateralBase * threshold; // one collateral reserve
        }
        Pricing memory pricing;
        pricing.eMode = m.eMode;
        pricing.oracle = IPriceOracleGetter(_PROVIDER.getPriceOracle());
        if (m.eMode != 0) {
            DataTypes.EModeCategory memory category = _POOL.getEModeCategoryData(m.eMode);
            pricing.eModeThreshold = category.liquidationThreshold;
            if (category.priceSource != address(0)) pricing.eModePrice = pricing.oracle.getAssetPrice(category.priceSource);
        }
        uint256 left = totalCollateralBase;
        // Collateral bit of reserve i: bit 2i + 1.
        for (uint256 i; bits != 0; ++i) {
            if (bits & 2 != 0) {
                (uint256 value, uint256 reserveThreshold) =
                    _collateralTerm(uint16(i), account, pricing, bits >> 2 == 0 ? left : type(uint256).max);
                left -= value;
                weighted += value * reserveThreshold;
            }
            bits >>= 2;
        }
    }

    /// @dev One collateral reserve's value (base currency) and threshold (bps) in `_weightedCollateral`: (0, 0) for a
    /// dropped reserve or one whose own threshold is 0 (Aave skips both); the category's threshold and price (when set)
    /// in the e-mode category. `value` is taken as given (the last reserve: Aave's total less the others) unless it is
    /// `type(uint256).max`, so only the reserve's configuration is read then.
    function _collateralTerm(uint16 id, address account, Pricing memory pricing, uint256 value)
        internal
        view
        returns (uint256, uint256 threshold)
    {
        address asset = _POOL.getReserveAddressById(id);
        if (asset == address(0)) return (0, 0);
        DataTypes.ReserveConfigurationMap memory config;
        address aToken;
        if (value == type(uint256).max) {
            DataTypes.ReserveData memory reserve = _POOL.getReserveData(asset);
            (config, aToken) = (reserve.configuration, reserve.aTokenAddress);
        } else {
            config = _POOL.getConfiguration(asset);
        }
        threshold = config.getLiquidationThreshold();
        if (threshold == 0) return (0, 0);
        bool inEMode = pricing.eMode != 0 && config.getEModeCategory() == pricing.eMode;
        if (inEMode) threshold = pricing.eModeThreshold;
        if (value == type(uint256).max) {
            uint256 price = inEMode && pricing.eModePrice != 0 ? pricing.eModePrice : pricing.oracle.getAssetPrice(asset);
            value = IERC20(aToken).balanceOf(account) * price / 10 ** config.getDecimals();
        }
        return (value, threshold);
    }

    function _variableDebt(address asset, address account) internal view returns (uint256 debt) {
        debt = IERC20(_POOL.getReserveData(asset).variableDebtTokenAddress).balanceOf(account);
        if (debt == 0) revert NothingToRepay(asset);
    }

    /// @dev Refuses an inactive or paused reserve, and a frozen one when the action adds exposure to it.
    function _checkReserve(address asset, DataTypes.ReserveConfigurationMap memory config, bool addsExposure)
        internal
        pure
    {
        (bool active, bool frozen,,, bool paused) = config.getFlags();
        if (!active) revert ReserveInactive(asset);
        if (paused) revert ReservePaused(asset);
        if (frozen && addsExposure) revert ReserveFrozen(asset);
    }

    /// @dev The account's aToken balance of `asset`, refused when it holds some that is not enabled as collateral.
    function _collateralBalance(address asset, address account) internal view returns (uint256 balance) {
        DataTypes.ReserveData memory reserve = _POOL.getReserveData(asset);
        balance = IERC20(reserve.aTokenAddress).balanceOf(account);
        if (balance != 0 && !_POOL.getUserConfiguration(account).isUsingAsCollateral(reserve.id)) {
            revert CollateralNotEnabled(asset);
        }
    }

    /// @dev Refuses a supply Aave would not count as collateral (`CollateralNotEnabled`): a held balance switched off
    /// (`_collateralBalance`), or a first supply Aave does not enable itself (v3.0.2
    /// `ValidationLogic.validateAutomaticUseAsCollateral` for a caller without ISOLATED_COLLATERAL_SUPPLIER_ROLE): a reserve
    /// with LTV 0 or a debt ceiling (isolated), or an account in isolation mode (its only collateral has a debt
    /// ceiling). Such a supply moved the Safe's tokens into aTokens that add nothing to health and that the adapter then
    /// refused to withdraw (review rev17e, modules/test/integration/AaveUncountedSupply.t.sol).
    function _checkSupplyCounted(address asset, DataTypes.ReserveConfigurationMap memory config, address account)
        internal
        view
    {
        if (_collateralBalance(asset, account) != 0) return;
        if (config.getLtv() == 0 || config.getDebtCeiling() != 0) revert CollateralNotEnabled(asset);
        DataTypes.UserConfigurationMap memory user = _POOL.getUserConfiguration(account);
        if (user.isUsingAsCollateralOne()) {
            uint256 onlyId = UserConfiguration._getFirstAssetIdByMask(user, UserConfiguration.COLLATERAL_MASK);
            if (_POOL.getConfiguration(_POOL.getReserveAddressById(uint16(onlyId))).getDebtCeiling() != 0) {
                revert CollateralNotEnabled(asset);
            }
        }
    }

    function _revert(bytes memory err) internal pure {
        assembly ("memory-safe") {
            revert(add(err, 0x20), mload(err))
        }
    }
}
