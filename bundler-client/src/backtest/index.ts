/** Public entry `levpilot/backtest`; see the package README. */
export {
  type StrategyName,
  STRATEGIES,
  type BacktestSubAccount,
  type BacktestConfig,
  BacktestConfigError,
  DEFAULT_POOL,
  DEFAULT_BACKTEST_CONFIG,
  CROSS_VENUE_SUB_ACCOUNTS,
  resolveBacktestConfig,
} from "./config.js"
export {
  type StrategyResult,
  runBacktest,
  MIN_APY_SPAN_SECONDS,
  AAVE_CLOSE_FACTOR_HF_THRESHOLD,
  AAVE_DEFAULT_LIQUIDATION_BONUS,
  AAVE_DEFAULT_FLASH_PREMIUM_BPS,
} from "./engine.js"
export {
  type StrategyTotals,
  aggregate,
  type SuiteResult,
  runSuite,
} from "./suite.js"
export {
  formatStrategyTable,
} from "./report.js"
