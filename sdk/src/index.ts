/**
 * `@levpilot/sdk`: install the leverage autopilot module on a Safe, configure policies and keepers, read each
 * sub-account's risk, and build, validate and send keeper UserOperations (viem / permissionless style).
 *
 * The root entry re-exports every subpath: `@levpilot/sdk/actions`, `/decorators`, `/accounts`, `/errors`, `/types`,
 * `/deployments`, `/abis` and `/utils`; the module's constants (generated from ConstantsLib) are at `/constants`.
 */
export * from "./abis/index.js"
export * from "./accounts/index.js"
export * from "./actions/index.js"
export * from "./decorators/index.js"
export * from "./errors/index.js"
export * from "./types/index.js"
export * from "./utils/index.js"
export { type LeverageDeployment, type LeverageDeployments, leverageDeployments } from "./constants/deployments.js"
export { maxPlanActions, maxPlanSubAccounts, maxPolicyPools } from "./constants/keeper.js"
