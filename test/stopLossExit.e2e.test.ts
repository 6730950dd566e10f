import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { readMorphoPosition } from "../bundler-client/src/devnet/liquidator"
import { type DemoEnv, startDemoEnv } from "../bundler-client/src/devnet/env"
import { demoKeeperConfig } from "../bundler-client/src/devnet/keeperConfig"
import { PriceDriver } from "../bundler-client/src/devnet/scenario"
import { Keeper, type KeeperEvent } from "../bundler-client/src/keeper/keeper"
import { collectKeeperEvents, demoProbes, waitFor } from "./keeperProbes"

// Issue 13 (docs/stop-loss-exit.md Phase B), f13h, on the devnet (anvil + Alto + paymaster + Uniswap v3): the owner set
// a stop at 2,900 USDC per WETH with exit health 2.5 on the managed Safe's WETH sub-account (band [1.25, 1.8], boosts
// allowed, no idle funds). WETH falls to 2,850: the health (about 1.38) stays inside the band, so no rescue is due, but
// the stop is engaged, so the live keeper must sell collateral (a swap deleverage in Morpho's repay callback) toward
// 2.5 in one operation, and then boost nothing while the stop holds (the health is above maxHealth).
let env: DemoEnv
let driver: PriceDriver
const { keeperOps, waitBlocks } = demoProbes(() => env)
type Sent = Extract<KeeperEvent, { type: "sent" }>
type Included = Extract<KeeperEvent, { type: "included" }>

beforeAll(async () => {
  env = await startDemoEnv({ blockTime: 1, twin: false, settings: { swapProtection: true, stopLoss: { WETH: { price: 2900, exitHealth: 2.5 } } } })
  driver = new PriceDriver(env)
}, 600_000)

afterAll(async () => {
  await env?.stop()
})

const wethPosition = () => readMorphoPosition(env.publicClient, env.stack.morpho, env.markets.WETH, env.managed.address)
const show = (x: unknown) => JSON.stringify(x, (_, v) => (typeof v === "bigint" ? String(v) : v))
const boosts = (sent: Sent[]) => sent.filter((s) => s.plan.actions.some((a) => a.kind === "Borrow" || a.kind === "BuyCollateral"))

describe("the keeper's stop-loss exit on the devnet", () => {
  test("WETH under the stop, health inside the band: one swap exit included, exposure sold, no boost while the stop holds", async () => {
    const { events, onEvent } = collectKeeperEvents()
    const keeper = new Keeper(demoKeeperConfig(env), { chain: env.devnet.chain, onEvent })
    await keeper.start()
    try {
      const from = await driver.set({ WETH: 2850, WBTC: 60_000 })
      const before = await wethPosition()
      expect(Number(before.health) / 1e18).toBeGreaterThan(env.settings.band.min)
      expect(Number(before.health) / 1e18).toBeLessThan(env.settings.band.max)
      const included = () => events.filter((e): e is Included => e.type === "included")
      await waitFor("the exit's inclusion", () => included().length > 0, 90_000)
      const sent = () => events.filter((e): e is Sent => e.type === "sent")
      const first = sent()[0] as Sent
      expect(first.plan.subAccounts.map((x) => x.toLowerCase())).toEqual([env.managed.subAccounts.WETH.toLowerCase()])
      expect(first.plan.actions.map((a) => a.kind)).toEqual(["RepayWithCallback", "WithdrawCollateral", "SellCollateral", "EndCallback"])
      expect(included()[0]?.userOpHash).toBe(first.userOpHash)
      expect(included()[0]?.success, show(included()[0])).toBe(true)
      const after = await wethPosition()
      // Exposure reduced: collateral sold, debt repaid, health from about 1.38 to above the band, at most exitHealth.
      expect(after.collateral).toBeLessThan(before.collateral)
      expect(after.debt).toBeLessThan(before.debt)
      const health = Number(after.health) / 1e18
      expect(health).toBeGreaterThan(env.settings.band.max)
      expect(health).toBeLessThanOrEqual(2.5)
      // No boost while the stop holds: engaged (2,850) and then inside the hysteresis (2,920 < 2,900 x 1.01).
      await waitBlocks(6)
      await driver.set({ WETH: 2920, WBTC: 60_000 })
      await waitBlocks(8)
      expect(boosts(sent()), show(sent().map((s) => s.plan.actions.map((a) => a.kind)))).toEqual([])
      expect(events.filter((e) => e.type === "alert"), show(events.filter((e) => e.type === "alert"))).toEqual([])
      // One exit operation: the health it reached (>= exitHealth - 0.1) needs no second one at this price.
      const ops = await keeperOps(from)
      expect(ops.map((o) => o.args.success)).toEqual([true])
      console.log(`stop exit e2e: health ${(Number(before.health) / 1e18).toFixed(3)} -> ${health.toFixed(3)}, collateral ${before.collateral} -> ${after.collateral}, debt ${before.debt} -> ${after.debt}`)
    } finally {
      await keeper.stop()
    }
  }, 300_000)
})
