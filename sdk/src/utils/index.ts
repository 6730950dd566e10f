/** Public entry of this subpath of `@levpilot/sdk`; see the package README. */
export {
  formatWad,
} from "./format.js"
export {
  type MarketState,
  type SubAccountMetrics,
  getSubAccountMetrics,
  getBandPosition,
} from "./health.js"
export {
  getSubAccountId,
  isCallbackAction,
  isPoolAction,
  isSwapAction,
  routeToPoolField,
  saleMinimumRepaymentWord,
  poolFieldOf,
  assertPlanShape,
  toPlanStruct,
  type EncodeRebalanceCallDataParameters,
  encodeRebalanceCallData,
} from "./plan.js"
export {
  toPolicy,
  assertPolicyBounds,
} from "./policy.js"
export {
  aaveReadAbi,
} from "./aaveReadAbi.js"
export {
  type ReadAaveCollateralParameters,
  readAaveCollateral,
  type AaveCollateralShare,
  readAaveCollateralConfigurations,
} from "./aaveCollateral.js"
export { type PoolFeeTarget, poolFeeCalls, poolFeesOf } from "./poolFees.js"
export {
  type ReadResult,
  readMany,
  resultOf,
  requireResult,
} from "./multicall.js"
export {
  getAutomationConfigSlots,
  getKeeperEstimationStateOverride,
  getRebalanceExecutionGas,
  intrinsicCallGas,
} from "./estimation.js"
export {
  safeOperationTypes,
  type GetSafeOperationTypedDataParameters,
  getSafeOperationTypedData,
  getSafeOperationHash,
  packSafeOperationSignature,
} from "./safeOperation.js"
export {
  type GetLeverageDeploymentParameters,
  getLeverageDeployment,
  resolveLeverageDeployment,
} from "./getLeverageDeployment.js"
export {
  quoterV2Abi,
  type SwapRouteFields,
  decodeSwapRoute,
  getSwapMinAmountOut,
  quoteSwapRoute,
} from "./swap.js"
export {
  AAVE_DUST_GAS_PER_RESERVE,
  AAVE_DUST_THRESHOLD_BASE,
  type AaveCollateralReserve,
  type AaveDustReserve,
  type AaveCollateralDisableCall,
  type ReadAaveCollateralReservesParameters,
  type BuildAaveDustCollateralDisableParameters,
  type AaveAccountEMode,
  aaveBaseValue,
  aaveDustAsCounted,
  aaveDustOf,
  aaveHealthAfterDisable,
  readAaveCollateralReserves,
  readAaveDustCollateral,
  buildAaveDustCollateralDisable,
} from "./aaveDust.js"
