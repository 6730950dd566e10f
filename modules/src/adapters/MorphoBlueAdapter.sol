// SPDX-License-Identifier: MIT
pragma solidity ^0.8.23;

import {Id, IMorpho, IMorphoBase, MarketParams} from "@morpho-org/morpho-blue/src/interfaces/IMorpho.sol";
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
/// - Holds no storage and never receives funds or approvals. Its one state-changing function, `registerMarket`, is
///   permissionless and only deploys a code-stored copy of a market's params (`paramsPointer`); every read of that copy
///   checks it hashes to the market id (Morpho's id is `keccak256(abi.encode(params))`) and otherwise reads Morpho's
///   `idToMarketParams`, so what is at the pointer can never change which params are used.
/// - Every encoded call uses `account` as onBehalf and receiver, so funds only move between the Safe and Morpho.
/// - Debt includes interest accrued up to the current block and rounds up (as Morpho charges on repay).
contract MorphoBlueAdapter is IVenueAdapter {
    using MorphoBalancesLib for IMorpho;
    using SharesMathLib for uint256;
    using MathLib for uint256;

    IMorpho public immutable MORPHO;

    /// @notice Morpho's `extSloads` reply was not the standard encoding of the words asked for.
    error MalformedExtSloads();

    /// @notice `registerMarket`: `market` is not a created Morpho Blue market, or its params do not hash to it.
    error UnknownMorphoMarket(bytes32 market);

    /// @notice `registerMarket` could not deploy the params' code-stored copy (already registered, or the copy did not
    /// come out as the market's params).
    error MarketRegistrationFailed(bytes32 market);

    /// @notice A market's params were stored as code at `pointer` (`registerMarket`).
    event MarketRegistered(bytes32 indexed market, address pointer);

    /// @dev Init code of a params copy (24 bytes): STATICCALL the deployer's `pendingMarketParams()` (the 160-byte
    /// params, written at memory 0x21) and return memory 0x20..0xc1 as the runtime code: a STOP byte (the copy can never
    /// run anything) followed by the params. The call's success is not checked here: `registerMarket` checks the code.
    ///   PUSH4 sel PUSH0 MSTORE PUSH1 0xa0 PUSH1 0x21 PUSH1 0x04 PUSH1 0x1c CALLER GAS STATICCALL POP
    ///   PUSH1 0xa1 PUSH1 0x20 RETURN
    bytes internal constant POINTER_INIT_CODE =
        hex"631792f9645f5260a060216004601c335afa5060a16020f3";

    /// @dev The params `registerMarket` is storing, read back by the copy's init code (transient: never outlives the
    /// registration).
    uint256 private constant PENDING_SLOT = uint256(keccak256("levpilot.MorphoBlueAdapter.pendingParams"));

    /// @dev keccak256(POINTER_INIT_CODE), the CREATE2 init-code hash of every params copy (`paramsPointer`). Gas (issue
    /// 15): read as an immutable instead of hashing the constant on every call.
    bytes32 private immutable POINTER_CODE_HASH;

    constructor(IMorpho morpho) {
        MORPHO = morpho;
        POINTER_CODE_HASH = keccak256(POINTER_INIT_CODE);
    }

    /// @notice Stores `market`'s params as code at `paramsPointer(market)`, so this adapter reads them with one account
    /// access (EXTCODECOPY) instead of five cold Morpho storage slots. Permissionless and idempotent in effect: the copy
    /// is Morpho's own params (checked to hash to `market`), so registering any market helps only gas.
    /// @dev Gas (issue 15): Morpho's `idToMarketParams` reads five slots (10,500 gas cold) that the owner lane never
    /// reads (it passes the params in its call data); the copy costs one cold account (2,600) plus the copy and its
    /// hash check (about 400).
    /// @return pointer The copy's address (`paramsPointer(market)`).
    function registerMarket(bytes32 market) external returns (address pointer) {
        MarketParams memory params = MORPHO.idToMarketParams(Id.wrap(market));
        if (!isMarket(market) || keccak256(abi.encode(params)) != market) revert UnknownMorphoMarket(market);
        // A CREATE2 onto existing code fails only after burning the gas it was given: refuse a second registration first.
        if (paramsPointer(market).code.length != 0) revert MarketRegistrationFailed(market);
        uint256 slot = PENDING_SLOT;
        assembly ("memory-safe") {
            tstore(slot, mload(params))
            tstore(add(slot, 1), mload(add(params, 0x20)))
            tstore(add(slot, 2), mload(add(params, 0x40)))
            tstore(add(slot, 3), mload(add(params, 0x60)))
            tstore(add(slot, 4), mload(add(params, 0x80)))
        }
        bytes memory initCode = POINTER_INIT_CODE;
        assembly ("memory-safe") {
            pointer := create2(0, add(initCode, 0x20), mload(initCode), market)
            for { let i := 0 } lt(i, 5) { i := add(i, 1) } { tstore(add(slot, i), 0) }
        }
        if (pointer == address(0) || pointer != paramsPointer(market) || !_copied(pointer, market)) {
            revert MarketRegistrationFailed(market);
        }
        emit MarketRegistered(market, pointer);
    }

    /// @notice The params `registerMarket` is storing (read by the copy's init code); zero outside a registration.
    function pendingMarketParams() external view returns (MarketParams memory params) {
        uint256 slot = PENDING_SLOT;
        assembly ("memory-safe") {
            mstore(params, tload(slot))
            mstore(add(params, 0x20), tload(add(slot, 1)))
            mstore(add(params, 0x40), tload(add(slot, 2)))
            mstore(add(params, 0x60), tload(add(slot, 3)))
            mstore(add(params, 0x80), tload(add(slot, 4)))
        }
    }

    /// @notice Where `registerMarket(market)` stores `market`'s params (CREATE2 from this adapter, salt `market`); no
    /// code there until it is registered.
    /// @dev Gas (issue 15): the CREATE2 address hashed in scratch memory (`0xff ++ this ++ market ++ POINTER_CODE_HASH`,
    /// 85 bytes) rather than through `abi.encodePacked`: the same address.
    function paramsPointer(bytes32 market) public view returns (address pointer) {
        bytes32 codeHash = POINTER_CODE_HASH;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, or(shl(160, 0xff), address()))
            mstore(add(ptr, 0x20), market)
            mstore(add(ptr, 0x40), codeHash)
            pointer := and(keccak256(add(ptr, 11), 85), 0xffffffffffffffffffffffffffffffffffffffff)
        }
    }

    /// @dev `market`'s params: from its code-stored copy when that is registered and hashes to `market`, else from
    /// Morpho (`idToMarketParams`). Same params either way: Morpho's market id is the hash of its params.
    function _params(bytes32 market) internal view returns (MarketParams memory params) {
        address pointer = paramsPointer(market);
        bool copied;
        assembly ("memory-safe") {
            if eq(extcodesize(pointer), 0xa1) {
                extcodecopy(pointer, params, 1, 0xa0)
                copied := eq(keccak256(params, 0xa0), market)
            }
        }
        if (!copied) params = MORPHO.idToMarketParams(Id.wrap(market));
    }

    /// @dev Whether `pointer` holds a STOP byte followed by params that hash to `market`.
    function _copied(address pointer, bytes32 market) internal view returns (bool copied) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            if eq(extcodesize(pointer), 0xa1) {
                extcodecopy(pointer, ptr, 0, 0xa1)
                copied := and(iszero(byte(0, mload(ptr))), eq(keccak256(add(ptr, 1), 0xa0), market))
            }
        }
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
        MarketParams memory params = _params(market);
        return (params.loanToken, params.collateralToken);
    }

    /// @inheritdoc IVenueAdapter
    /// @dev Gas (issue 15): the position and the market's borrow totals come from one `extSloads` call (`_stored`) rather
    /// than the `position` and `market` getters (which also read the supply-shares and supply-totals slots, cold on a
    /// bundle's first touch, that the debt does not need). When the market was accrued this block (lastUpdate == now)
    /// the stored totals are Morpho's own (`expectedMarketBalances` skips accrual at elapsed 0); otherwise the debt is
    /// accrued exactly as before (`_debt`).
    function marketState(bytes32 market, address account) public view returns (MarketState memory state) {
        MarketParams memory params = _params(market);
        (uint256 collateral, uint256 borrowShares, uint256 storedDebt, bool accrued) = _stored(Id.wrap(market), account);
        state.loanToken = params.loanToken;
        state.collateralToken = params.collateralToken;
        state.collateral = collateral;
        state.debt = accrued ? storedDebt : _debt(params, borrowShares);
        state.price = IOracle(params.oracle).price();
        state.lltv = params.lltv;
        // `HealthLib.health(state)` and `HealthLib.equity(state)`, the collateral's value computed once (gas, issue 15).
        uint256 value = HealthLib.collateralValue(collateral, state.price);
        state.health = HealthLib.healthOfValue(value, state.debt, state.lltv);
        state.repayable = type(uint256).max; // `maxRepayable`
        state.equity = int256(value) - int256(state.debt);
    }

    /// @inheritdoc IVenueAdapter
    /// @dev `HealthLib.health(marketState(market, account))`: Morpho Blue has no health factor of its own.
    function health(bytes32 market, address account) external view returns (uint256) {
        return marketState(market, account).health;
    }

    /// @inheritdoc IVenueAdapter
    /// @dev Computed exactly as `Morpho.liquidate` does, with Morpho's own constants and rounding.
    function liquidationIncentiveFactor(bytes32 market) external view returns (uint256) {
        uint256 lltv = _params(market).lltv;
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
        uint256 borrowShares;
        bool accrued;
        (collateral, borrowShares, debt, accrued) = _stored(Id.wrap(market), account);
        if (!accrued) debt = _debt(_params(market), borrowShares);
    }

    /// @dev The account's collateral and borrow shares, and its debt at the market's stored borrow totals, from one
    /// `extSloads` call (borrow shares and collateral, borrow totals, lastUpdate). `accrued`: that debt is exact (no
    /// borrow shares, or the market's interest was accrued this block); otherwise the caller accrues it (`_debt`).
    function _stored(Id id, address account)
        internal
        view
        returns (uint256 collateral, uint256 borrowShares, uint256 debt, bool accrued)
    {
        (bytes32 positionSlot, bytes32 totals) = _slots(id, account);
        // lastUpdate and fee: the market's next slot (MorphoStorageLib.marketLastUpdateAndFeeSlot).
        (uint256 shares, uint256 borrowTotals, uint256 lastUpdate) =
            _sloads(positionSlot, totals, bytes32(uint256(totals) + 1), 3);
        borrowShares = uint128(shares);
        collateral = shares >> 128;
        if (borrowShares == 0) return (collateral, 0, 0, true);
        if (uint128(lastUpdate) == block.timestamp) {
            return (collateral, borrowShares, _storedToAssetsUp(borrowShares, borrowTotals), true);
        }
    }

    /// @dev Morpho's slots of `account`'s borrow shares and collateral in market `id` and of the market's borrow totals:
    /// MorphoStorageLib's `positionBorrowSharesAndCollateralSlot(id, account)` and
    /// `marketTotalBorrowAssetsAndSharesSlot(id)`, hashed in scratch memory. Gas (issue 15): the library's
    /// `abi.encode` copies cost about 500 gas per read (three keccaks); the same slots (ProtocolAdapters.t.sol and the
    /// Morpho fork tests read Morpho's positions through them).
    function _slots(Id id, address account) internal pure returns (bytes32 positionSlot, bytes32 totalsSlot) {
        uint256 positions = MorphoStorageLib.POSITION_SLOT;
        uint256 markets = MorphoStorageLib.MARKET_SLOT;
        uint256 positionOffset = MorphoStorageLib.BORROW_SHARES_AND_COLLATERAL_OFFSET;
        uint256 totalsOffset = MorphoStorageLib.TOTAL_BORROW_ASSETS_AND_SHARES_OFFSET;
        assembly ("memory-safe") {
            mstore(0, id)
            mstore(0x20, positions)
            mstore(0x20, keccak256(0, 0x40))
            mstore(0, account)
            positionSlot := add(keccak256(0, 0x40), positionOffset)
            mstore(0, id)
            mstore(0x20, markets)
            totalsSlot := add(keccak256(0, 0x40), totalsOffset)
        }
    }

    /// @dev `shares.toAssetsUp(uint128(totals), totals >> 128)` (SharesMathLib, Morpho's rounding up) for `shares` below
    /// 2^128 and `totals` a market's stored borrow word (assets in the low 128 bits, shares in the high 128): the same
    /// `(shares x (assets + VIRTUAL_ASSETS) + (d - 1)) / d` with d = shares total + VIRTUAL_SHARES. Gas (issue 15): about
    /// 250 gas less per read (measured) (three per sub-account in a rebalance: marketState, encode of a repayment, positionHealth),
    /// the steps that cannot overflow for 128-bit inputs unchecked: the product is below 2^256 - 2^128 and d - 1 >= 0.
    /// The one add that can (only within 2^20 of 2^256) stays checked, so it panics exactly where SharesMathLib's does.
    function _storedToAssetsUp(uint256 shares, uint256 totals) internal pure returns (uint256) {
        uint256 product;
        uint256 d;
        unchecked {
            product = shares * (uint128(totals) + SharesMathLib.VIRTUAL_ASSETS);
            d = (totals >> 128) + SharesMathLib.VIRTUAL_SHARES;
        }
        return (product + (d - 1)) / d;
    }

    /// @dev `MORPHO.extSloads` of the first `count` (2 or 3) of `a`, `b`, `c`, without the ABI coder: the call data is
    /// written and the words read in place (the coder's dynamic-array encoding, decoding and checks cost about 1,500
    /// gas a call, more than the reads). A Morpho revert is bubbled up; a reply that is not the standard encoding of
    /// `count` words is refused (`MalformedExtSloads`). `wc` is meaningless when `count` is 2.
    function _sloads(bytes32 a, bytes32 b, bytes32 c, uint256 count)
        internal
        view
        returns (uint256 wa, uint256 wb, uint256 wc)
    {
        address morpho = address(MORPHO);
        bytes4 selector = IMorphoBase.extSloads.selector;
        bytes4 malformed = MalformedExtSloads.selector;
        assembly ("memory-safe") {
            // Scratch past the free memory pointer: selector | 0x20 | count | a | b | c; the reply overwrites it.
            let ptr := mload(0x40)
            mstore(ptr, selector)
            mstore(add(ptr, 0x04), 0x20)
            mstore(add(ptr, 0x24), count)
            mstore(add(ptr, 0x44), a)
            mstore(add(ptr, 0x64), b)
            mstore(add(ptr, 0x84), c)
            let replySize := add(0x40, shl(5, count))
            if iszero(staticcall(gas(), morpho, ptr, add(0x44, shl(5, count)), ptr, replySize)) {
                returndatacopy(ptr, 0, returndatasize())
                revert(ptr, returndatasize())
            }
            if or(iszero(eq(returndatasize(), replySize)), or(iszero(eq(mload(ptr), 0x20)), iszero(eq(mload(add(ptr, 0x20)), count)))) {
                mstore(0, malformed)
                revert(0, 0x04)
            }
            wa := mload(add(ptr, 0x40))
            wb := mload(add(ptr, 0x60))
            wc := mload(add(ptr, 0x80))
        }
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
        MarketParams memory params = _params(market);
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
        MarketParams memory params = _params(market);
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
        (bytes32 positionSlot, bytes32 totalsSlot) = _slots(Id.wrap(market), account);
        (uint256 position_, uint256 totals,) = _sloads(positionSlot, totalsSlot, 0, 2);
        uint256 shares = uint128(position_);
        uint256 debt = _storedToAssetsUp(shares, totals);
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
