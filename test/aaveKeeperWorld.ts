import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll } from "vitest"
import { type DemoEnv, startDemoEnv } from "../bundler-client/src/devnet/env"
import { demoKeeperConfigJson } from "../bundler-client/src/devnet/keeperConfig"
import { PriceDriver } from "../bundler-client/src/devnet/scenario"

/** The started world of the `keeper.aave*.test.ts` files. */
export type AaveKeeperWorld = { env: DemoEnv; driver: PriceDriver; configPath: string }

/**
 * The `keeper.aave*.test.ts` world: the `levpilot start` devnet (1 s blocks, no twin) with an Aave v3 account under
 * the module whose rescue is the Aave swap lane (`aave`, `aaveSwapProtection`), and the demo keeper's config written to
 * `keeper.json` (info logs, metrics on a free port, its state file beside it) in a fresh temp dir named `prefix`.
 * Registers the file's beforeAll (start, 240 s) and afterAll (stop); `set` receives the world once it is up.
 */
export function useAaveKeeperWorld(prefix: string, set: (world: AaveKeeperWorld) => void): void {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  let env: DemoEnv | undefined
  beforeAll(async () => {
    env = await startDemoEnv({ blockTime: 1, twin: false, settings: { aave: true, aaveSwapProtection: true } })
    const configPath = join(dir, "keeper.json")
    writeFileSync(configPath, JSON.stringify(demoKeeperConfigJson(env, { stateFile: join(dir, "state.json"), logLevel: "info", metricsPort: 0 }), null, 2))
    set({ env, driver: new PriceDriver(env), configPath })
  }, 240_000)
  afterAll(async () => {
    await env?.stop()
  })
}
