import { type KeeperConfig, parseKeeperConfig } from "../keeper/config.js"
import type { DemoEnv } from "./env.js"

/**
 * The keeper configuration JSON for a demo environment (what `levpilot keeper --config` would read), before
 * validation: the devnet's RPC, Alto and paymaster URLs, the deployment, the managed Safe and the keeper key.
 *
 * @returns A raw configuration object.
 */
export function demoKeeperConfigJson(env: DemoEnv, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    rpcUrl: env.devnet.rpcUrl,
    bundlerUrl: env.devnet.bundlerUrl,
    paymasterUrl: env.paymaster.url,
    keeperPrivateKey: env.keys.keeper,
    deployment: {
      entryPoint: env.deployment.entryPoint,
      leverageModule: env.deployment.leverageModule,
      morphoBlueAdapter: env.deployment.adapters.morphoBlue,
      ...(env.deployment.adapters.aaveV3 !== undefined ? { aaveV3Adapter: env.deployment.adapters.aaveV3 } : {}),
    },
    safes: [env.managed.address],
    risk: { tolerance: 0.01, horizon: 3_600, sigma: 0.8, mode: "threshold" },
    allowSelfPay: false,
    pollIntervalMs: 100,
    resubmitAfterBlocks: 4,
    retry: { baseMs: 250, maxMs: 2_000 },
    logLevel: "silent",
    ...(env.uniswap !== undefined ? { swap: { quoter: env.uniswap.quoterV2, fee: env.settings.swapFeeTiers[0] ?? 500, fees: env.settings.swapFeeTiers } } : {}),
    ...overrides,
  }
}

/**
 * {@link demoKeeperConfigJson}, validated.
 *
 * @returns The keeper configuration.
 */
export function demoKeeperConfig(env: DemoEnv, overrides: Record<string, unknown> = {}): KeeperConfig {
  return parseKeeperConfig(demoKeeperConfigJson(env, overrides), { source: "demo" })
}
