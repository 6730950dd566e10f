/**
 * `levpilot`: the leverage autopilot keeper (a daemon you can run from your own service), its risk engine, solver and
 * backtester, and the `levpilot` CLI. The root entry re-exports the subpaths `levpilot/keeper`, `/solver`, `/risk`,
 * `/backtest` and `/prices`.
 */
export * from "./backtest/index.js"
export * from "./keeper/index.js"
export * from "./prices/index.js"
export * from "./risk/index.js"
export * from "./solver/index.js"
