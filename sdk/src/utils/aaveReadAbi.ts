import { parseAbi } from "viem"

/**
 * Every view function the SDK and the keeper read of an Aave v3.0.2 market, one ABI for all of them (with viem's
 * `erc20Abi` for aToken and debt-token balances and supplies): the venue adapter's (`AaveV3Adapter`: `POOL`,
 * `marketParams`, `maxRepayable`, `liquidationIncentiveFactor`), the Pool's (`ADDRESSES_PROVIDER`, user configuration,
 * account data, e-mode, reserve data and configuration, flash premium), the PoolAddressesProvider's (oracle, price
 * oracle sentinel), the oracle's `getAssetPrice`, the sentinel's `isBorrowAllowed` and the debt tokens' scaled and
 * stable supply. Amounts as Aave returns them: base units of the asset, base currency units (USD, 8 decimals) for
 * account data and prices, bps for LTV and thresholds, RAY for indexes.
 */
export const aaveReadAbi = parseAbi([
  // AaveV3Adapter (this repository's venue adapter).
  "function POOL() view returns (address)",
  "function marketParams(bytes32 market) view returns (address collateral, address debt, uint8 eModeCategory)",
  "function maxRepayable(bytes32 market, address account) view returns (uint256)",
  "function liquidationIncentiveFactor(bytes32 market) view returns (uint256)",
  // Pool.
  "function ADDRESSES_PROVIDER() view returns (address)",
  "function FLASHLOAN_PREMIUM_TOTAL() view returns (uint128)",
  "struct UserConfigurationMap { uint256 data; }",
  "function getUserConfiguration(address user) view returns (UserConfigurationMap)",
  "function getUserAccountData(address user) view returns (uint256 totalCollateralBase, uint256 totalDebtBase, uint256 availableBorrowsBase, uint256 currentLiquidationThreshold, uint256 ltv, uint256 healthFactor)",
  "function getUserEMode(address user) view returns (uint256)",
  "struct EModeCategory { uint16 ltv; uint16 liquidationThreshold; uint16 liquidationBonus; address priceSource; string label; }",
  "function getEModeCategoryData(uint8 id) view returns (EModeCategory)",
  "function getReserveAddressById(uint16 id) view returns (address)",
  "struct ReserveConfigurationMap { uint256 data; }",
  "function getConfiguration(address asset) view returns (ReserveConfigurationMap)",
  "struct ReserveData { ReserveConfigurationMap configuration; uint128 liquidityIndex; uint128 currentLiquidityRate; uint128 variableBorrowIndex; uint128 currentVariableBorrowRate; uint128 currentStableBorrowRate; uint40 lastUpdateTimestamp; uint16 id; address aTokenAddress; address stableDebtTokenAddress; address variableDebtTokenAddress; address interestRateStrategyAddress; uint128 accruedToTreasury; uint128 unbacked; uint128 isolationModeTotalDebt; }",
  "function getReserveData(address asset) view returns (ReserveData)",
  // PoolAddressesProvider, AaveOracle, PriceOracleSentinel.
  "function getPriceOracle() view returns (address)",
  "function getPriceOracleSentinel() view returns (address)",
  "function getAssetPrice(address asset) view returns (uint256)",
  "function isBorrowAllowed() view returns (bool)",
  // VariableDebtToken (scaled supply), StableDebtToken (principal, total supply, average rate, last update).
  "function scaledTotalSupply() view returns (uint256)",
  "function getSupplyData() view returns (uint256, uint256, uint256, uint40)",
])
