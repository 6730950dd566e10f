// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Id, IMorpho, IMorphoBase, MarketParams, Position} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
import {IOracle} from "@morpho-org/morpho-blue/src/interfaces/IOracle.sol";
import {
    IMorphoRepayCallback,
    IMorphoSupplyCollateralCallback
} from "@morpho-org/morpho-blue/src/interfaces/IMorphoCallbacks.sol";
import {MorphoBalancesLib} from "@morpho-org/morpho-blue/src/libraries/periphery/MorphoBalancesLib.sol";
import {MorphoStorageLib} from "@morpho-org/morpho-blue/src/libraries/periphery/MorphoStorageLib.sol";
import {SharesMathLib} from "@morpho-org/morpho-blue/src/libraries/SharesMathLib.sol";
import {MathLib, WAD} from "@morpho-org/morpho-blue/src/libraries/MathLib.sol";
import {UtilsLib} from "@morpho-org/morpho-blue/src/libraries/UtilsLib.sol";
import {
    LIQUIDATION_CURSOR,
    MAX_LIQUIDATION_INCENTIVE_FACTOR
} from "@morpho-org/morpho-blue/src/libraries/ConstantsLib.sol";
import {IVenueAdapter, MarketState, VenueCall} from "../interfaces/IVenueAdapter.sol";
import {HealthLib} from "../libraries/HealthLib.sol";
import {ActionKind} from "../interfaces/ILeverageModule.sol";

/// @title MorphoBlueAdapter
/// @notice Venue adapter for Morpho Blue markets; the market id is Morpho's `Id` (hash of the MarketParams).
/// @dev Security considerations:
/// - Stateless and view-only; it never receives funds or approvals.
/// - Every encoded call uses `account` as onBehalf and receiver, so funds only move between the Safe and Morpho.
/// - Debt includes interest accrued up to the current block and rounds up (as Morpho charges on repay).
contract MorphoBlueAdapter is IVenueAdapter {
    using MorphoBalancesLib for IMorpho;
    using SharesMathLib for uint256;
    using MathLib for uint256;

    IMorpho public immutable MORPHO;

    constructor(IMorpho morpho) {
        MORPHO = morpho;
    }

    /// @inheritdoc IVenueAdapter
    function venue() external view returns (address) {
        return address(MORPHO);
    }

    /// @inheritdoc IVenueAdapter
    function isMarket(bytes32 market) public view returns (bool) {
        return MORPHO.market(Id.wrap(market)).lastUpdate != 0;
    }

    /// @inheritdoc IVenueAdapter
    function accountKey(bytes32 market) external view returns (bytes32) {
        return isMarket(market) ? keccak256(abi.encode(MORPHO, market)) : bytes32(0);
    }

    /// @inheritdoc IVenueAdapter
    function marketTokens(bytes32 market) external view returns (address loanToken, address collateralToken) {
        MarketParams memory params = MORPHO.idToMarketParams(Id.wrap(market));
        return (params.loanToken, params.collateralToken);
    }

    /// @inheritdoc IVenueAdapter
    function marketState(bytes32 market, address account) public view returns (MarketState memory state) {
        MarketParams memory params = MORPHO.idToMarketParams(Id.wrap(market));
        Position memory position = MORPHO.position(Id.wrap(market), account);
        state.loanToken = params.loanToken;
        state.collateralToken = params.collateralToken;
        state.collateral = position.collateral;
        state.debt = _debt(params, position.borrowShares);
        state.price = IOracle(params.oracle).price();
        state.lltv = params.lltv;
        state.health = HealthLib.health(state);
        state.repayable = type(uint256).max; // `maxRepayable`
        state.equity = HealthLib.equity(state);
    }

    /// @inheritdoc IVenueAdapter
    /// @dev `HealthLib.health(marketState(market, account))`: Morpho Blue has no health factor of its own.
    function health(bytes32 market, address account) external view returns (uint256) {
        return marketState(market, account).health;
    }

    /// @inheritdoc IVenueAdapter
    /// @dev Computed exactly as `Morpho.liquidate` does, with Morpho's own constants and rounding.
    function liquidationIncentiveFactor(bytes32 market) external view returns (uint256) {
        uint256 lltv = MORPHO.idToMarketParams(Id.wrap(market)).lltv;
        return UtilsLib.min(MAX_LIQUIDATION_INCENTIVE_FACTOR, WAD.wDivDown(WAD - LIQUIDATION_CURSOR.wMulDown(WAD - lltv)));
    }

    /// @inheritdoc IVenueAdapter
    /// @dev Morpho Blue lends up to LLTV (`_isHealthy`): a borrow reaches health 1.
    function minBorrowHealth(bytes32, address) external pure returns (uint256) {
        return WAD;
    }

    /// @inheritdoc IVenueAdapter
    /// @dev Gas (issue 15): the position read back after a plan's actions is one `extSloads` call (borrow shares and
    /// collateral, the market's borrow totals and lastUpdate). Any Morpho call that touched the market in this block
    /// accrued its interest, so with lastUpdate == now the stored totals are exact (as `expectedMarketBalances`, which
    /// skips accrual at elapsed 0); otherwise the debt is accrued as everywhere else (`_debt`).
    function position(bytes32 market, address account) public view returns (uint256 collateral, uint256 debt) {
        Id id = Id.wrap(market);
        bytes32[] memory slots = new bytes32[](3);
        slots[0] = MorphoStorageLib.positionBorrowSharesAndCollateralSlot(id, account);
        slots[1] = MorphoStorageLib.marketTotalBorrowAssetsAndSharesSlot(id);
        slots[2] = MorphoStorageLib.marketLastUpdateAndFeeSlot(id);
        bytes32[] memory w = MORPHO.extSloads(slots);
        uint256 borrowShares = uint128(uint256(w[0]));
        collateral = uint256(w[0]) >> 128;
        if (borrowShares == 0) return (collateral, 0);
        if (uint128(uint256(w[2])) == block.timestamp) {
            return (collateral, borrowShares.toAssetsUp(uint128(uint256(w[1])), uint256(w[1]) >> 128));
        }
        debt = _debt(MORPHO.idToMarketParams(id), borrowShares);
    }

    /// @inheritdoc IVenueAdapter
    /// @dev The position (`position`) and its `HealthLib` health at `price` and `lltv` (the module's pre-trade state):
    /// no oracle read.
    function positionHealth(bytes32 market, address account, uint256 price, uint256 lltv)
        external
        view
        returns (uint256 collateral, uint256 debt, uint256 wad)
    {
        (collateral, debt) = position(market, account);
        wad = HealthLib.health(collateral, debt, price, lltv);
    }

    function maxRepayable(bytes32, address) external pure returns (uint256) {
        return type(uint256).max;
    }

    /// @inheritdoc IVenueAdapter
    function encode(uint8 kind, bytes32 market, uint256 assets, address account)
        external
        view
        returns (VenueCall memory call)
    {
        MarketParams memory params = MORPHO.idToMarketParams(Id.wrap(market));
        call.target = address(MORPHO);
        if (kind == uint8(ActionKind.SupplyCollateral)) {
            call.data = abi.encodeCall(IMorphoBase.supplyCollateral, (params, assets, account, ""));
            call.approveToken = params.collateralToken;
            call.approveAmount = assets;
        } else if (kind == uint8(ActionKind.WithdrawCollateral)) {
            call.data = abi.encodeCall(IMorphoBase.withdrawCollateral, (params, assets, account, account));
        } else if (kind == uint8(ActionKind.Borrow)) {
            call.data = abi.encodeCall(IMorphoBase.borrow, (params, assets, 0, account, account));
        } else if (kind == uint8(ActionKind.Repay)) {
            call = _repay(params, market, assets, account, "");
        } else {
            revert UnsupportedAction(kind);
        }
    }

    /// @inheritdoc IVenueAdapter
    /// @dev RepayWithCallback: `repay(.., data)`; Morpho reduces the debt, calls `onMorphoRepay(assets, data)` on the
    /// account, then pulls `assets` of the loan token. SupplyCollateralWithCallback: `supplyCollateral(.., data)`; Morpho
    /// credits the collateral, calls `onMorphoSupplyCollateral(assets, data)`, then pulls the collateral.
    function encodeWithCallback(uint8 kind, bytes32 market, uint256 assets, address account, bytes calldata data)
        external
        view
        returns (VenueCall memory call, bytes4 callbackSelector)
    {
        MarketParams memory params = MORPHO.idToMarketParams(Id.wrap(market));
        if (kind == uint8(ActionKind.RepayWithCallback)) {
            call = _repay(params, market, assets, account, data);
            callbackSelector = IMorphoRepayCallback.onMorphoRepay.selector;
        } else if (kind == uint8(ActionKind.SupplyCollateralWithCallback)) {
            call.target = address(MORPHO);
            call.data = abi.encodeCall(IMorphoBase.supplyCollateral, (params, assets, account, data));
            call.approveToken = params.collateralToken;
            call.approveAmount = assets;
            callbackSelector = IMorphoSupplyCollateralCallback.onMorphoSupplyCollateral.selector;
        } else {
            revert UnsupportedAction(kind);
        }
    }

    function _repay(MarketParams memory params, bytes32 market, uint256 assets, address account, bytes memory data)
        internal
        view
        returns (VenueCall memory call)
    {
        // Gas (issue 15): borrow shares and the stored borrow totals in one extSloads call. The debt at stored totals is at
        // most the debt with interest to now (accrual only raises totalBorrowAssets; borrow shares stay), so a repayment
        // below it is below the debt and repays by assets without the accrual (and its IRM call); otherwise the debt is
        // accrued exactly (`_debt`) and decides, as before.
        Id id = Id.wrap(market);
        bytes32[] memory slots = new bytes32[](2);
        slots[0] = MorphoStorageLib.positionBorrowSharesAndCollateralSlot(id, account);
        slots[1] = MorphoStorageLib.marketTotalBorrowAssetsAndSharesSlot(id);
        bytes32[] memory w = MORPHO.extSloads(slots);
        uint256 shares = uint128(uint256(w[0]));
        uint256 debt = shares.toAssetsUp(uint128(uint256(w[1])), uint256(w[1]) >> 128);
        if (assets >= debt) debt = _debt(params, shares);
        call.target = address(MORPHO);
        call.approveToken = params.loanToken;
        if (assets >= debt) {
            // Repaying by shares clears the position exactly; repaying by assets could leave one share of dust.
            call.data = abi.encodeCall(IMorphoBase.repay, (params, 0, shares, account, data));
            call.approveAmount = debt;
        } else {
            call.data = abi.encodeCall(IMorphoBase.repay, (params, assets, 0, account, data));
            call.approveAmount = assets;
        }
    }

    function _debt(MarketParams memory params, uint256 borrowShares) internal view returns (uint256) {
        if (borrowShares == 0) return 0;
        (,, uint256 totalBorrowAssets, uint256 totalBorrowShares) = MORPHO.expectedMarketBalances(params);
        return borrowShares.toAssetsUp(totalBorrowAssets, totalBorrowShares);
    }
}
