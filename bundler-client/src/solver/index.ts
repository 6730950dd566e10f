/** Public entry `levpilot/solver`; see the package README. */
export {
  validatePolicy,
  solve,
  solveByLoanAsset,
  solveAimed,
  withSalesAtRead,
  withoutInclusionMargin,
  atInclusion,
} from "./solver.js"
export {
  type PolicyRule,
  type PolicyViolation,
  type CheckPlanParameters,
  type CheckPlanReturnType,
  toRuleInput,
  stopRuleInput,
  checkPlanAgainstPolicy,
} from "./policyRules.js"
export {
  healthOf,
  leverageOf,
  effectiveEpoch,
  recordRebalance,
  toBaseUnits,
  cloneState,
  applyPlan,
  touchedAssetPrice,
  netValue,
} from "./state.js"
export {
  type ActionKind,
  type SubAccountState,
  type YieldPool,
  type PortfolioState,
  type Policy,
  type EpochState,
  type PlanAction,
  type Plan,
  type CostModel,
  DEFAULT_GAS_PER_ACTION,
  type SubAccountInput,
  type SwapCurve,
  type SolverInput,
  type SubAccountOutcome,
  type SolverResult,
} from "./types.js"
export {
  SWAP_CURVE_FRACTIONS,
  SWAP_SLIPPAGE_USE,
  SWAP_REPAY_MARGIN,
  swapPlanMargin,
  swapPlanTake,
  SWAP_PLAN_TAKE_BIAS,
  swapRepayMargin,
  curveShortfallBps,
  type SwapFill,
  fillSwapActions,
  curveSwapFill,
  maxSizeWithinSlippage,
  type SaleSplit,
  splitSale,
  usableSlippageBps,
  type SizeSwapDeleverageParameters,
  type SwapSale,
  type SwapDeleverageSizing,
  sizeSwapDeleverage,
} from "./swapDeleverage.js"
export {
  ONE_PASS_MIN_HEALTH,
  swapBuySpan,
  type SwapBoostParameters,
  type SwapBoostCandidate,
  planSwapBoost,
} from "./swapBoost.js"
export {
  PlanExecutionError,
  SolverInputError,
} from "./errors.js"
export {
  type BandShadowPolicy,
  BandRuleShadow,
  BandRulePaper,
} from "./bandShadow.js"
