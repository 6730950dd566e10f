/** Public entry `levpilot/risk`; see the package README. */
export {
  SECONDS_PER_YEAR,
  type JumpParameters,
  type RiskModel,
  firstPassageProbability,
  jumpCrossingProbability,
  liquidationProbability,
  healthForTolerance,
} from "./firstPassage.js"
export {
  type PriceSeries,
  EwmaVolatility,
  ewmaVolatility,
  type GarchFit,
  fitGarch,
  garchForecastVolatility,
} from "./volatility.js"
export {
  REBOUND_JUMP,
  TREND_SAMPLE_SECONDS,
  TREND_WINDOW_SECONDS,
  TrendEstimator,
} from "./trend.js"
export {
  type MonteCarloParameters,
  type MonteCarloResult,
  simulateFirstPassage,
} from "./jumpDiffusion.js"
export {
  type MarginPosition,
  type MarginGreeks,
  marginGreeks,
} from "./greeks.js"
export {
  Rng,
} from "./rng.js"
export {
  RiskInputError,
} from "./errors.js"
export {
  erfc,
  logErfc,
  normalCdf,
  logNormalCdf,
} from "./normal.js"
