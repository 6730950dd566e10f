import { type ToSafeSmartAccountParameters, type ToSafeSmartAccountReturnType, toSafeSmartAccount } from "permissionless/accounts"
import type { LeverageDeployments } from "../constants/deployments.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"

export type ToLeverageSafeAccountParameters = Pick<
  ToSafeSmartAccountParameters<"0.7", undefined>,
  "client" | "owners" | "threshold" | "saltNonce" | "address" | "validAfter" | "validUntil" | "nonceKey"
> & {
  /** Extra or replacement deployments by chain id. */
  deployments?: LeverageDeployments | undefined
}

export type ToLeverageSafeAccountReturnType = ToSafeSmartAccountReturnType<"0.7">

/**
 * A permissionless Safe v1.4.1 smart account (EntryPoint v0.7) whose ERC-4337 module is the LeverageModule:
 * a new Safe is set up with the module enabled (safe-4337 `SafeModuleSetup.enableModules`) and as fallback handler,
 * and owner UserOperations are signed exactly as for Safe4337Module. Pass `address` for an existing Safe that has
 * the module installed (see `installLeverageModule`).
 *
 * @param parameters - {@link ToLeverageSafeAccountParameters}
 * @returns A `SmartAccount` for `createSmartAccountClient`.
 * @example
 * const account = await toLeverageSafeAccount({ client: publicClient, owners: [owner], deployments })
 * const client = createSmartAccountClient({ account, bundlerTransport: http(bundlerUrl) })
 */
export async function toLeverageSafeAccount(parameters: ToLeverageSafeAccountParameters): Promise<ToLeverageSafeAccountReturnType> {
  const { deployments, ...rest } = parameters
  const { deployment } = await resolveLeverageDeployment(parameters.client, deployments)
  return toSafeSmartAccount({
    ...rest,
    version: "1.4.1",
    entryPoint: { address: deployment.entryPoint, version: "0.7" },
    safe4337ModuleAddress: deployment.leverageModule,
    safeModuleSetupAddress: deployment.safe.moduleSetup,
    safeSingletonAddress: deployment.safe.singleton,
    safeProxyFactoryAddress: deployment.safe.proxyFactory,
    multiSendAddress: deployment.safe.multiSend,
    multiSendCallOnlyAddress: deployment.safe.multiSendCallOnly,
  })
}
