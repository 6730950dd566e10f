/** Public entry of this subpath of `@levpilot/sdk`; see the package README. */
export {
  type ToKeeperAccountParameters,
  type KeeperAccountExtension,
  type KeeperAccountImplementation,
  type ToKeeperAccountReturnType,
  toKeeperAccount,
} from "./toKeeperAccount.js"
export {
  type ToLeverageSafeAccountParameters,
  type ToLeverageSafeAccountReturnType,
  toLeverageSafeAccount,
} from "./toLeverageSafeAccount.js"
export { getKeeperNonceKey, keeperStubSignature } from "../constants/keeper.js"
