import { type Address, isAddressEqual } from "viem"
import type { LeverageDeployment } from "@levpilot/sdk/deployments"

/**
 * The venue of a sub-account, named by the adapter its policy uses: `morpho-blue` (the deployment's MorphoBlueAdapter),
 * `aave-v3` (its AaveV3Adapter), `unknown` for any other adapter. The keeper puts it on every per-sub-account metric
 * (`venue` label), log line and alert.
 */
export type VenueName = "morpho-blue" | "aave-v3" | "unknown"

/**
 * Names the venue of an adapter of `deployment`.
 *
 * @param deployment - The keeper's deployment (`adapters.morphoBlue`, optional `adapters.aaveV3`).
 * @param adapter - A policy's adapter address.
 * @returns The {@link VenueName}.
 * @example venueOf(config.deployment, state.policy.adapter) // "aave-v3"
 */
export function venueOf(deployment: Pick<LeverageDeployment, "adapters">, adapter: Address): VenueName {
  if (isAddressEqual(adapter, deployment.adapters.morphoBlue)) return "morpho-blue"
  if (deployment.adapters.aaveV3 !== undefined && isAddressEqual(adapter, deployment.adapters.aaveV3)) return "aave-v3"
  return "unknown"
}
