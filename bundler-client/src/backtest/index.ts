/** Public entry `levpilot/backtest`; see the package README. */
export {
  type StrategyName,
  STRATEGIES,
  type BacktestSubAccount,
  type BacktestConfig,
  BacktestConfigError,
  DEFAULT_POOL,
  DEFAULT_BACKTEST_CONFIG,
  resolveBacktestConfig,
} from "./config.js"
export {
  type StrategyResult,
  runBacktest,
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
