import type { Hex } from "viem"
import { expect, test } from "vitest"
import type { DemoEnv } from "../bundler-client/src/devnet/env"
import { demoKeeperConfig } from "../bundler-client/src/devnet/keeperConfig"
import type { PriceDriver } from "../bundler-client/src/devnet/scenario"
import { Keeper, type KeeperEvent } from "../bundler-client/src/keeper/keeper"
import { useDemoWorld } from "./demoWorld"
import { collectKeeperEvents, demoProbes, rpc, waitFor } from "./keeperProbes"

/**
 * Review rr11w, held out for issue 11 item 6 (passes today): one feed shared by two venues breaks. The managed Safe has
 * three sub-accounts (Morpho WETH, Morpho WBTC, an Aave v3 account whose WETH price source is the same SimOracle). The
 * WETH feed reverts after a 20 % fall: both WETH sub-accounts are unreadable (the Aave one through Aave's own oracle),
 * each alerted `feed-broken` once with its venue and gauged, and the WBTC sub-account is still rescued, alone.
 * Measured (2026-12-03, anvil + Alto + paymaster): 2 feed-broken alerts and the WBTC plan sent in the same block, landed
 * 3 to 5 blocks later, 1 operation.
 */
let env: DemoEnv
let driver: PriceDriver
const { keeperOps } = demoProbes(() => env)
useDemoWorld({ blockTime: 1, twin: false, settings: { aave: true } }, (w) => {
  env = w.env
  driver = w.driver
})

test("rr11w held out: the WETH feed (Morpho WETH and the Aave account) reverts: both alerted and gauged with their venue, WBTC rescued alone", async () => {
  const safe = env.managed.address
  const oracle = env.markets.WETH.oracle
  const code = (await rpc(env.devnet.rpcUrl, "eth_getCode", [oracle, "latest"])) as Hex
  const ids = env.managed.subAccounts as Record<string, Hex>
  const { events, onEvent } = collectKeeperEvents()
  const keeper = new Keeper(demoKeeperConfig(env), { chain: env.devnet.chain, onEvent })
  try {
    const from = await driver.set({ WETH: 2400, WBTC: 48000 })
    await rpc(env.devnet.rpcUrl, "anvil_setCode", [oracle, "0x60006000fd"]) // PUSH1 0 PUSH1 0 REVERT
    await keeper.start()
    const done = await waitFor("a rebalance of WBTC", () => events.find((e): e is Extract<KeeperEvent, { type: "included" }> => e.type === "included"), 60_000)
    expect(done.success).toBe(true)
    const plans = events.filter((e): e is Extract<KeeperEvent, { type: "sent" }> => e.type === "sent").map((e) => e.plan.subAccounts)
    expect(plans.every((p) => p.length === 1 && p[0] === ids.WBTC), JSON.stringify(plans)).toBe(true)
    const broken = events.filter((e): e is Extract<KeeperEvent, { type: "alert" }> => e.type === "alert" && e.kind === "feed-broken").map((e) => e.message)
    expect(broken.some((m) => m.includes(ids.WETH as string) && m.includes("morpho-blue"))).toBe(true)
    expect(broken.some((m) => m.includes(ids.Aave as string) && m.includes("aave-v3"))).toBe(true)
    expect(keeper.metrics.value("levpilot_subaccount_unreadable", { safe, sub_account: ids.WETH as string, venue: "morpho-blue" })).toBe(1)
    expect(keeper.metrics.value("levpilot_subaccount_unreadable", { safe, sub_account: ids.Aave as string, venue: "aave-v3" })).toBe(1)
    expect(keeper.metrics.value("levpilot_subaccount_unreadable", { safe, sub_account: ids.WBTC as string, venue: "morpho-blue" })).toBe(0)
    expect(await keeperOps(from)).toHaveLength(1)
  } finally {
    await keeper.stop()
    await rpc(env.devnet.rpcUrl, "anvil_setCode", [oracle, code])
  }
}, 300_000)
