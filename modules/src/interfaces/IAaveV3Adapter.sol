// SPDX-License-Identifier: MIT
pragma solidity >=0.8.0;

import {IVenueAdapter, VenueCall} from "./IVenueAdapter.sol";

/// @title IAaveV3Adapter
/// @notice The venue adapter for an Aave v3 Pool (v3.0.2, `@aave/core-v3@1.19.3`), plus what Aave needs beyond
/// `IVenueAdapter`: market ids, the liquidation incentive and flash loans.
/// @dev The Safe's Aave account is ONE cross-margined position over all its reserves. A market id names the scope of
/// the keeper's actions on it: the collateral asset it may supply / withdraw, the debt asset it may borrow / repay, and
/// the e-mode category the account must be in (layout in `marketId`). Health always comes from the whole account.
///
/// `marketState` reports the account in the market's frame, so the module's generic math stays meaningful:
/// - `lltv` is the collateral asset's liquidation threshold (its e-mode threshold when it is in the pinned category),
///   in WAD; fixed for the market, so supplying or withdrawing the collateral asset moves `collateral` one for one;
/// - `collateral` is the account's liquidation-threshold-weighted collateral, exactly: the sum over the collateral
///   reserves Aave counts of value x threshold (value = aToken balance x price / unit, rounded down, as Aave v3.0.2
///   GenericLogic; e-mode threshold and price source for reserves in the account's category), re-expressed in units of
///   the collateral asset at `lltv`, rounded down; NOT `totalCollateralBase x currentLiquidationThreshold`, whose
///   average Aave floors to whole bps (a supply then moved the frame by up to 1 bps of the whole collateral more or
///   less than itself: issue 10 rev10q). With one collateral reserve they are equal; for an account whose only
///   collateral is that asset it is its aToken balance;
/// - `debt` is the account's total debt in units of the debt asset (never below its exact debt in that asset);
/// - `price` is Aave's oracle price (the e-mode category's price source where Aave applies it) of one collateral base
///   unit in debt base units, scaled by 1e36.
/// Then `collateral * price / 1e36 * lltv / debt` (HealthLib) is never above the exact health (weighted sum / debt) and
/// below it only by the rounding of unit conversions (one base unit of each converted quantity); Aave's health factor
/// floors the average threshold, so HealthLib can exceed it by up to 1 bps of the collateral / debt with collaterals of
/// different thresholds. It cannot EQUAL it for every position anyway: one base unit of collateral value moves
/// HealthLib's health by `lltv / debt`, far coarser than 1 wei of WAD.
/// So `health` (`IVenueAdapter.health`, `MarketState.health`, `positionHealth`) is Aave's own `healthFactor`
/// exactly, and the module judges health by it (issue 17); it reverts with `EModeMismatch` when the account is not
/// in the market's e-mode category.
/// `collateral * price / 1e36 - debt` is NOT the account's value: with a collateral whose threshold is above (below) the
/// market's it overstates (understates) it. `equity` (`MarketState.equity`, the module's base for the epoch loss budget)
/// is the account's own: `totalCollateralBase - totalDebtBase` in debt units at Aave's price of the debt asset, rounded
/// down (issue 10, review rev10p).
///
/// Trust assumptions and known limits:
/// - The Aave Pool, its oracle and its governance (ACL admins) are trusted: a pool admin can change thresholds,
///   freeze, pause or drop reserves and change prices; the adapter reads everything live and refuses paused or frozen
///   reserves with named errors, but cannot stop a threshold change from moving health.
/// - Several market ids can name the same Aave account (e.g. WETH/USDC and WBTC/USDC). They share health, collateral
///   and debt: a module must treat them as one sub-account (at most one policy per Safe and Aave pool), or it would
///   count the account's equity once per id. `accountKey` is the pool for every id, and LeverageModule.setPolicy
///   refuses a second policy on it (`VenueAccountTaken`), also through a second adapter on the same pool.
interface IAaveV3Adapter is IVenueAdapter {
    /// @notice Thrown when `market` does not decode to the reserves and e-mode category it was built from.
    error UnknownMarket(bytes32 market);
    /// @notice Thrown when `asset` is not a reserve of the Aave pool.
    error ReserveNotListed(address asset);
    /// @notice Thrown when a market would borrow the asset it holds as collateral.
    error SameReserve(address asset);
    /// @notice Thrown when `asset` has no liquidation threshold in the market's e-mode category, so it backs nothing.
    error NotCollateral(address asset);
    /// @notice Thrown when borrowing `asset` is disabled.
    error NotBorrowable(address asset);
    /// @notice Thrown when the e-mode `category` does not exist on the pool.
    error UnknownEModeCategory(uint8 category);
    /// @notice Thrown when the debt `asset` is not in the market's e-mode `category` (Aave refuses such borrows).
    error DebtNotInEModeCategory(address asset, uint8 category);
    /// @notice Thrown when `account`'s e-mode category is not the one `market` pins. Only the account itself (the Safe's
    /// owners) can switch e-mode; no call this adapter encodes does.
    error EModeMismatch(bytes32 market, address account, uint8 expected, uint256 actual);
    /// @notice Thrown when `asset`'s reserve is not active.
    error ReserveInactive(address asset);
    /// @notice Thrown when `asset`'s reserve is paused (Aave refuses every action on it).
    error ReservePaused(address asset);
    /// @notice Thrown when supplying to or borrowing from `asset`'s frozen reserve. Withdrawals and repayments stay
    /// open on a frozen reserve (as in Aave), so a position can always be wound down.
    error ReserveFrozen(address asset);
    /// @notice Thrown when the account holds `asset` in Aave but has switched it off as collateral: supplying more of it
    /// would not back the position, withdrawing it would not be the collateral the plan values. Also on a first supply
    /// Aave would not enable as collateral (an LTV-0 or isolated reserve, or an account in isolation mode).
    error CollateralNotEnabled(address asset);
    /// @notice Thrown when repaying `asset` on an account with no variable debt in it.
    error NothingToRepay(address asset);
    /// @notice Thrown when `asset` is neither the collateral nor the debt asset of `market`.
    error ReserveNotInScope(bytes32 market, address asset);
    /// @notice Thrown when flash loans of `asset` are disabled.
    error FlashLoanDisabled(address asset);
    /// @notice Thrown when an `executeOperation` callback does not come from the Aave pool.
    error FlashLoanCallerNotPool(address caller);
    /// @notice Thrown when a flash loan reaching `account` was started by someone else (`initiator`).
    error FlashLoanInitiatorNotAccount(address initiator, address account);
    /// @notice Thrown when a callback's `premium` is not the pool's premium on the amount (`expected`).
    error FlashLoanPremiumMismatch(uint256 premium, uint256 expected);

    /// @notice The Aave v3 Pool.
    function POOL() external view returns (address);

    /// @notice The AaveFlashLoanRouter the adapter deployed: the target of every callback action on an Aave account
    /// (`encodeWithCallback`), which flash-funds the opener's repay or supply and calls the account back.
    function FLASH_ROUTER() external view returns (address);

    /// @notice The market id of (`collateral`, `debt`, `eModeCategory`): bits 255-240 the collateral's reserve id,
    /// 239-224 the debt's reserve id, 223-216 the e-mode category, 215-0 the low 216 bits of
    /// keccak256(abi.encode(collateral, debt, eModeCategory)). The hash binds the id to the assets, so a reserve id
    /// reused after a reserve is dropped never names another asset.
    /// @dev Reverts with `ReserveNotListed`, `SameReserve`, `ReserveInactive`, `NotCollateral`, `NotBorrowable`,
    /// `UnknownEModeCategory` or `DebtNotInEModeCategory` when the market is not usable.
    function marketId(address collateral, address debt, uint8 eModeCategory) external view returns (bytes32);

    /// @notice The assets and e-mode category `market` names.
    /// @dev Reverts with `UnknownMarket` when the id does not decode.
    function marketParams(bytes32 market)
        external
        view
        returns (address collateral, address debt, uint8 eModeCategory);

    /// @notice The `flashLoanSimple` call with which `account` borrows `assets` of `asset` (the market's collateral or
    /// debt asset) for one transaction, with itself as the receiver of `executeOperation`, and the premium it will owe.
    /// @dev No approval: the receiver approves `assets + premium` to the pool inside its callback, which the pool then
    /// pulls. Reverts with `ReserveNotInScope`, `ReserveInactive`, `ReservePaused` or `FlashLoanDisabled`.
    function encodeFlashLoan(bytes32 market, address asset, uint256 assets, address account, bytes calldata params)
        external
        view
        returns (VenueCall memory call, uint256 premium);

    /// @notice Checks an `executeOperation(asset, amount, premium, initiator, params)` callback that reached
    /// `account` from `caller` and returns what the pool will pull from `account` after it: `amount + premium`.
    /// @dev Reverts with `FlashLoanCallerNotPool`, `FlashLoanInitiatorNotAccount`, `ReserveNotInScope` or
    /// `FlashLoanPremiumMismatch`. It cannot know whether the loan was expected: the receiver must also check that it
    /// is inside its own operation that asked for exactly this loan (docs/aave.md).
    function checkFlashLoanCallback(
        bytes32 market,
        address account,
        address caller,
        address asset,
        uint256 amount,
        uint256 premium,
        address initiator
    ) external view returns (uint256 owed);
}
