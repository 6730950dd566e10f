// SPDX-License-Identifier: MIT
pragma solidity >=0.8.0;

/// @notice A sub-account's state as a venue adapter reports it.
/// @dev `price` is the value of one collateral base unit in loan base units, scaled by 1e36 (Morpho's
/// ORACLE_PRICE_SCALE convention), so `collateral * price / 1e36` is the collateral value in loan units.
/// `health` (WAD, type(uint256).max without debt) is the venue's health of the account, the one the module judges:
/// the venue's own health factor where it has one (Aave v3: `getUserAccountData().healthFactor`, exactly), else
/// `HealthLib.health` over the other fields (Morpho Blue: collateral x price / 1e36 x lltv / debt, rounded down).
/// `repayable` is `maxRepayable(market, account)` (base units of the loan token, or type(uint256).max), read with the
/// state so the module makes one adapter call per sub-account before the actions (gas, issue 15).
/// `equity` is the account's net value in loan base units (its collateral's value minus its debt, negative when
/// underwater), the venue's own valuation: the base of the per-epoch loss budget (`maxEpochLossBps` of it). Morpho Blue:
/// `HealthLib.equity` over the other fields; Aave v3: `getUserAccountData().totalCollateralBase - totalDebtBase` of the
/// whole account, every reserve at its own value (not re-expressed at the market's threshold, which overstated it next
/// to a higher-threshold collateral), converted to the loan token at Aave's price of it, rounded down (issue 10, review
/// rev10p).
struct MarketState {
    address loanToken;
    address collateralToken;
    uint256 collateral;
    uint256 debt;
    uint256 price;
    uint256 lltv;
    uint256 health;
    uint256 repayable;
    int256 equity;
}

/// @notice What the module must do for one venue action: the call the Safe makes and the exact allowance it needs.
struct VenueCall {
    address target;
    bytes data;
    address approveToken;
    uint256 approveAmount;
}

/// @title IVenueAdapter
/// @notice A stateless, view-only translator between the module's typed actions and one margin venue.
/// @dev Trust assumptions:
/// - Adapters are fixed at module deployment (no admin can add one later) and are reviewed code.
/// - An adapter never holds funds and is never called with value: the module calls `encode` with
///   STATICCALL semantics (view) and executes the returned call from the Safe with CALL, never DELEGATECALL.
/// - Every returned call must credit the Safe (`account`) and only the Safe: onBehalf and receiver are
///   always `account`. The module refuses only the Safe and itself as targets; the adapter is trusted to target `venue()`.
/// - `marketState` must round debt up and collateral down, so health is never overstated; `health` (in `marketState`,
///   `health` and `positionHealth`) is never above the venue's own liquidation health.
/// - The interface admits venues with one collateral and one debt asset per market id (Morpho Blue); an Aave v3
///   adapter encodes (collateral asset, debt asset, e-mode) into the market id, and all those ids share one account
///   (`accountKey`).
interface IVenueAdapter {
    /// @notice Thrown by `encode` when `kind` is an action kind the venue does not handle.
    error UnsupportedAction(uint8 kind);

    /// @notice The venue contract every call returned by `encode` targets.
    function venue() external view returns (address);

    /// @notice True when `market` exists on the venue.
    function isMarket(bytes32 market) external view returns (bool);

    /// @notice The venue account an account's position in `market` belongs to, as a non-zero key unique across venues, or
    /// zero when `market` does not exist (`isMarket` false). Markets with the same key share one position (collateral,
    /// debt, health), so the module keeps at most one policy per key and Safe (`ILeverageModule.VenueAccountTaken`).
    /// @dev Morpho Blue: keccak256(abi.encode(MORPHO, market)), each market is isolated. Aave v3: the Pool's address
    /// (left-padded), since every market id of a pool names the one cross-margined account, through any adapter.
    function accountKey(bytes32 market) external view returns (bytes32);

    /// @notice The loan and collateral tokens of `market`.
    function marketTokens(bytes32 market) external view returns (address loanToken, address collateralToken);

    /// @notice The current state of `account`'s position in `market`, interest accrued to now, with its health.
    function marketState(bytes32 market, address account) external view returns (MarketState memory state);

    /// @notice `marketState(market, account).health`: the health the module judges `account` by (WAD, interest accrued
    /// to now; type(uint256).max without debt).
    function health(bytes32 market, address account) external view returns (uint256 wad);

    /// @notice The venue's liquidation incentive factor (WAD, >= 1e18) for `market`: a liquidator seizes collateral
    /// worth this factor times the debt it repays. The module requires a policy's minHealth to be at least this.
    /// @dev Morpho Blue: min(1.15, 1 / (1 - 0.3 (1 - LLTV))) (`Morpho.liquidate`); Aave v3: the reserve's liquidation
    /// bonus.
    function liquidationIncentiveFactor(bytes32 market) external view returns (uint256);

    /// @notice The lowest health (WAD) a borrow can take `account`'s position on `market` to: a venue may refuse a
    /// borrow above a loan-to-value below its liquidation one, and the module refuses a policy that allows boosts with a
    /// targetHealth below this for the Safe setting it (`ILeverageModule.TargetHealthBelowBorrowReach`).
    /// `type(uint256).max` when the venue lends nothing against the collateral.
    /// @dev Morpho Blue: 1e18 (it lends up to LLTV). Aave v3: the account's average liquidation threshold over its
    /// average LTV (`getUserAccountData`), rounded up, as Aave's `validateBorrow` bounds the whole account; without
    /// collateral, the market collateral reserve's threshold / LTV (the e-mode category's when the collateral is in it;
    /// LTV 0: max).
    function minBorrowHealth(bytes32 market, address account) external view returns (uint256);

    /// @notice The most a repayment by `account` on `market` can clear (base units of the loan token, interest to now)
    /// when that is less than `MarketState.debt`, else `type(uint256).max`: the module counts a repayment as spent only
    /// up to min(MarketState.debt, this). Morpho Blue: `type(uint256).max` (one debt per market, `MarketState.debt` is
    /// it). Aave v3: the debt reserve's variable debt (what `repay(max)` clears), while `MarketState.debt` is the whole
    /// account's debt across reserves in loan units.
    function maxRepayable(bytes32 market, address account) external view returns (uint256);

    /// @notice `account`'s collateral and debt in `market` (debt with interest to now, rounded up), without the price.
    function position(bytes32 market, address account) external view returns (uint256 collateral, uint256 debt);

    /// @notice `position(market, account)` and the account's health (WAD) in one call: the module's read after a plan's
    /// actions. A venue with its own health factor returns it as it is now (Aave v3: `getUserAccountData`, whose
    /// oracle cannot move inside the operation); one without returns `HealthLib` health of the position at `price`
    /// (1e36-scaled) and `lltv` (WAD), the pre-trade state's, so the plan is judged at the prices it was checked
    /// against (Morpho Blue: no second oracle read).
    function positionHealth(bytes32 market, address account, uint256 price, uint256 lltv)
        external
        view
        returns (uint256 collateral, uint256 debt, uint256 wad);

    /// @notice The call `account` must make (kinds as the module's ActionKind: 2 SupplyCollateral,
    /// 3 WithdrawCollateral, 4 Borrow, 5 Repay) to perform `kind` for `assets` on `market`.
    /// @dev For Repay, `assets` at or above the debt repays the whole debt (by shares, so no dust is left).
    function encode(uint8 kind, bytes32 market, uint256 assets, address account)
        external
        view
        returns (VenueCall memory call);

    /// @notice The call `account` must make to perform callback action `kind` (ActionKind: 8 RepayWithCallback,
    /// 9 SupplyCollateralWithCallback) for `assets` on `market`, with `data` handed back to `account` in the venue's
    /// callback `callbackSelector`, after which the venue collects `call.approveAmount` of `call.approveToken`.
    /// @dev Reverts `UnsupportedAction` when the venue has no such callback. The module approves inside the callback.
    function encodeWithCallback(uint8 kind, bytes32 market, uint256 assets, address account, bytes calldata data)
        external
        view
        returns (VenueCall memory call, bytes4 callbackSelector);
}
