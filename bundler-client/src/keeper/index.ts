/** Public entry `levpilot/keeper`; see the package README. */
export {
  type KeeperOptions,
  Keeper,
} from "./keeper.js"
export {
  type KeeperRiskSettings,
  type KeeperSafeConfig,
  type KeeperConfig,
  parseKeeperConfig,
  readKeeperConfig,
} from "./config.js"
export {
  type KeeperConfigErrorType,
  KeeperConfigError,
  type SelfPayNotAllowedErrorType,
  SelfPayNotAllowedError,
  type DemoUnavailableErrorType,
  DemoUnavailableError,
  type GasCapBelowMarketErrorType,
  GasCapBelowMarketError,
  type ReplacementBlockedByCapsErrorType,
  ReplacementBlockedByCapsError,
  type RpcUnreachableErrorType,
  RpcUnreachableError,
} from "./errors.js"
export {
  KeeperMetrics,
  serveMetrics,
} from "./metrics.js"
export {
  type PortfolioSnapshot,
  readPortfolio,
  toChainPlan,
  planFundingOf,
} from "./portfolio.js"
export {
  type PendingOperation,
  type KeeperState,
  KeeperStateStore,
  StateFileLockedError,
  StateFileHeldError,
  type StateFileLock,
  lockPath,
} from "./stateFile.js"
export {
  type VolatilitySettings,
  defaultVolatilitySettings,
  type VolatilityEstimate,
  LiveVolatility,
  applyRisk,
  applySigma,
} from "./volatility.js"
export {
  type UserOperationFees,
  type KeeperClients,
  connectKeeperClients,
  readChainId,
} from "./clients.js"
export {
  type Clock,
  systemClock,
} from "./clock.js"
export {
  type KeeperEvent,
  type AlertKind,
  alertKinds,
  shortMessage,
  KeeperEvents,
} from "./events.js"
export { INCLUSION_MARGIN, withInclusionMargin } from "./inclusionMargin.js"
export { describePlan, failingSubAccountOf, keeperCosts } from "./safeStep.js"
export { type VenueName, venueOf } from "./venue.js"
export {
  type AaveReserveLimits,
  type AaveReserveRead,
  type AaveSubAccountLimits,
  AAVE_CAP_ACCRUAL_MARGIN_BPS,
  aaveReserveLimits,
  aaveCollateralOf,
  readAaveLimits,
} from "./aaveLimits.js"
