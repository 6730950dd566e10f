import { afterAll, beforeAll } from "vitest"
import { type DemoEnv, type StartDemoEnvParameters, startDemoEnv } from "../bundler-client/src/devnet/env"
import { PriceDriver } from "../bundler-client/src/devnet/scenario"

/** The started world of a keeper devnet test file: the demo env and its price driver. */
export type DemoWorld = { env: DemoEnv; driver: PriceDriver }

/**
 * A keeper devnet test file's world (the `keeper.*.rr11w.test.ts` files; `useAaveKeeperWorld` is the Aave-swap one):
 * `startDemoEnv(parameters)` (e.g. `{ blockTime: 1, twin: false }`, `settings: { aave: true }`) and its `PriceDriver`.
 * Registers the file's beforeAll (start, 240 s) and afterAll (stop); `set` receives the world once it is up.
 */
export function useDemoWorld(parameters: StartDemoEnvParameters, set: (world: DemoWorld) => void): void {
  let env: DemoEnv | undefined
  beforeAll(async () => {
    env = await startDemoEnv(parameters)
    set({ env, driver: new PriceDriver(env) })
  }, 240_000)
  afterAll(async () => {
    await env?.stop()
  })
}
