/** Public entry of this subpath of `@levpilot/sdk`; see the package README. */
export {
  type AddKeeperParameters,
  type AddKeeperReturnType,
  type AddKeeperErrorType,
  addKeeper,
} from "./addKeeper.js"
export {
  type ApprovePaymasterTokenParameters,
  type ApprovePaymasterTokenReturnType,
  type ApprovePaymasterTokenErrorType,
  approvePaymasterToken,
} from "./approvePaymasterToken.js"
export {
  type CheckSubAccountOraclesParameters,
  type CheckSubAccountOraclesReturnType,
  type CheckSubAccountOraclesErrorType,
  checkSubAccountOracles,
} from "./checkSubAccountOracles.js"
export {
  type CreateLeverageSafeParameters,
  type CreateLeverageSafeReturnType,
  createLeverageSafe,
} from "./createLeverageSafe.js"
export {
  type GetPolicyParameters,
  type GetPolicyReturnType,
  type GetPolicyErrorType,
  getPolicy,
} from "./getPolicy.js"
export {
  type GetStopLossParameters,
  type GetStopLossReturnType,
  type GetStopLossErrorType,
  getStopLoss,
  stopLossCall,
} from "./getStopLoss.js"
export {
  type StopLoss,
  type SetStopLossParameters,
  type SetStopLossReturnType,
  type SetStopLossErrorType,
  encodeSetStopLoss,
  setStopLoss,
  stopLossInvalidField,
  stopLossCapField,
  type StopLossPolicyCaps,
} from "./setStopLoss.js"
export {
  type GetSafeStatesParameters,
  type TokenBalance,
  type PoolPosition,
  type SafeState,
  type GetSafeStatesReturnType,
  type GetSafeStatesErrorType,
  getSafeStates,
} from "./getSafeStates.js"
export {
  type GetPaymasterTokenReserveParameters,
  type GetPaymasterTokenReserveReturnType,
  getPaymasterTokenReserve,
} from "./getPaymasterTokenReserve.js"
export {
  type GetSubAccountStateParameters,
  type SubAccountState,
  type GetSubAccountStateReturnType,
  type GetSubAccountStateErrorType,
  type GetSubAccountStateSettledReturnType,
  getSubAccountState,
  type SubAccountView,
  subAccountStateOf,
  getSubAccountStateSettled,
} from "./getSubAccountState.js"
export {
  type InstallLeverageModuleParameters,
  type InstallLeverageModuleReturnType,
  type InstallLeverageModuleErrorType,
  installLeverageModule,
} from "./installLeverageModule.js"
export {
  type PauseAutomationParameters,
  type PauseAutomationReturnType,
  type PauseAutomationErrorType,
  pauseAutomation,
} from "./pauseAutomation.js"
export {
  type RemovePolicyParameters,
  type RemovePolicyReturnType,
  type RemovePolicyErrorType,
  removePolicy,
} from "./removePolicy.js"
export {
  type RevokeAllKeepersParameters,
  type RevokeAllKeepersReturnType,
  type RevokeAllKeepersErrorType,
  revokeAllKeepers,
} from "./revokeAllKeepers.js"
export {
  type RevokeKeeperParameters,
  type RevokeKeeperReturnType,
  type RevokeKeeperErrorType,
  revokeKeeper,
} from "./revokeKeeper.js"
export {
  type SendRebalanceParameters,
  defaultPaymasterPriceMarginBps,
  minCallGasMargin,
  selfPayValidationGas,
  type SendRebalanceOverrides,
  type SendRebalanceReturnType,
  type SendRebalanceErrorType,
  sendRebalance,
  type EstimateRebalanceReturnType,
  estimateRebalance,
} from "./sendRebalance.js"
export {
  type AutomationConfigInput,
  type SetAutomationConfigParameters,
  type SetAutomationConfigReturnType,
  type SetAutomationConfigErrorType,
  setAutomationConfig,
  defaultAutomationConfig,
} from "./setAutomationConfig.js"
export {
  type SetPolicyParameters,
  type SetPolicyReturnType,
  type SetPolicyErrorType,
  setPolicy,
  getMorphoMarketRegistrationCall,
} from "./setPolicy.js"
export {
  type SetSelfPayBudgetParameters,
  type SetSelfPayBudgetReturnType,
  type SetSelfPayBudgetErrorType,
  setSelfPayBudget,
} from "./setSelfPayBudget.js"
export {
  type SetSponsorParameters,
  type SetSponsorReturnType,
  type SetSponsorErrorType,
  setSponsor,
} from "./setSponsor.js"
export {
  type UninstallLeverageModuleParameters,
  type UninstallLeverageModuleReturnType,
  type UninstallLeverageModuleErrorType,
  uninstallLeverageModule,
} from "./uninstallLeverageModule.js"
export {
  type UnpauseAutomationParameters,
  type UnpauseAutomationReturnType,
  type UnpauseAutomationErrorType,
  unpauseAutomation,
} from "./unpauseAutomation.js"
export {
  type ValidateRebalanceParameters,
  type ValidateRebalanceReturnType,
  type ValidateRebalanceErrorType,
  validateRebalance,
} from "./validateRebalance.js"
export {
  type WaitForRebalanceParameters,
  type WaitForRebalanceReturnType,
  waitForRebalance,
} from "./waitForRebalance.js"
