import type { Address } from "viem"

/** Addresses the SDK needs on one chain. */
export type LeverageDeployment = {
  /** EntryPoint v0.7 the module accepts (`SUPPORTED_ENTRYPOINT`). */
  entryPoint: Address
  /** LeverageModule: Safe module, fallback handler and ERC-4337 account logic. */
  leverageModule: Address
  /**
   * Venue adapters the module was deployed with: `morphoBlue` is the default of `setPolicy`; `aaveV3` when the module
   * also manages Aave v3 accounts (a policy names it as its `adapter`).
   */
  adapters: { morphoBlue: Address; aaveV3?: Address | undefined }
  /** Safe v1.4.1 contracts used to create accounts (`toSafeSmartAccount` and `createLeverageSafe`). */
  safe: {
    singleton: Address
    proxyFactory: Address
    /** safe-4337 `SafeModuleSetup` (enables modules inside `Safe.setup`). */
    moduleSetup: Address
    multiSend: Address
    multiSendCallOnly: Address
  }
  /**
   * Uniswap v3 QuoterV2 of the pools the module's swap adapter routes through (same factory as its router);
   * `validateRebalance` quotes every swap of a plan on it before sending. Optional: without it, swaps are checked only
   * by the bundler's simulation.
   */
  swapQuoter?: Address | undefined
  /** Multicall3; when absent, reads use viem's deployless multicall (one `eth_call` with the Multicall3 code). */
  multicall3?: Address | undefined
}

/** A map of deployments by chain id; pass one to any action (`deployments`) to add or replace chains. */
export type LeverageDeployments = { readonly [chainId: number]: LeverageDeployment | undefined }

/**
 * Canonical deployments by chain id. The module is not deployed on a public chain yet, so this map is empty:
 * pass your own map (for example the one `deployLeverageStack` returns on a devnet) with `deployments`.
 */
export const leverageDeployments: LeverageDeployments = {}
