import { pino } from "pino"
import { startDemoEnv } from "../bundler-client/src/devnet/env.js"
import { demoKeeperConfig } from "../bundler-client/src/devnet/keeperConfig.js"
import { PriceDriver } from "../bundler-client/src/devnet/scenario.js"
import { Keeper } from "../bundler-client/src/keeper/keeper.js"
import { priceShocks } from "../test/keeperProbes.js"
const env = await startDemoEnv({ blockTime: 1, twin: false })
const driver = new PriceDriver(env)
const { shock } = priceShocks(() => driver)
const keeper = new Keeper(demoKeeperConfig(env, {}), { chain: env.devnet.chain, logger: pino({ level: "debug" }), onEvent: (e) => console.log("EVENT", e.type, (e as any).kind ?? "", (e as any).message ?? "") })
await keeper.start()
await env.devnet.alto!.stop()
await shock(0.8)
await new Promise((r) => setTimeout(r, 8000))
await keeper.stop()
await env.stop()
process.exit(0)
