import { Writable } from "node:stream"
import { pino } from "pino"
import type { Hex } from "viem"
import { describe, expect, test } from "vitest"
import { collateralValue } from "@levpilot/sdk/rules"
import { type KeeperEvent, KeeperEvents } from "./events.js"
import { KeeperMetrics } from "./metrics.js"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { SafeStep, keeperCosts } from "./safeStep.js"
import { ADAPTER, LLTV, h } from "./testing.js"
import { defaultVolatilitySettings } from "./volatility.js"
import { VolatilityFeed } from "./volatilityFeed.js"

const RISK = { tolerance: 0.01, horizon: 86_400, sigma: 0.8, mode: "autopilot" as const, volatility: defaultVolatilitySettings }

// Review rev11 (issue 11 item 10, "most urgent first"; "the keeper acts when it matters"): a Safe with sub-accounts on
// two loan assets gets one plan per asset (`solveByLoanAsset`), and at most one operation at a time. The keeper must
// send the plan of the asset whose sub-account is in danger, not the first asset's plan in the policies' order.

const SAFE = "0x0000000000000000000000000000000000005afe"
const USDC = "0x00000000000000000000000000000000000000b1"
const DAI = "0x00000000000000000000000000000000000000b2"
const WETH = "0x00000000000000000000000000000000000000c1"
const PARK = "0x00000000000000000000000000000000000000f1"
const PRICE = 3_000n * 10n ** 36n
const BOOSTED = `0x${"b0".repeat(32)}` as Hex
const FALLING = `0x${"d0".repeat(32)}` as Hex

function sub(id: Hex, loanToken: string, health: number, band: "below" | "above" | "inside", pools: string[] = []) {
  const collateral = 100n * 10n ** 18n
  const debt = (collateralValue(collateral, PRICE) * LLTV) / h(health)
  return {
    subAccount: id, loanToken, collateralToken: WETH, collateral, debt, lltv: LLTV, price: PRICE, band,
    policy: {
      adapter: ADAPTER, priceFeed: "0x0000000000000000000000000000000000000000", minHealth: h(1.1), targetHealth: h(1.3), maxHealth: h(1.5), maxAmountPerRebalance: 2n ** 200n, maxAmountPerEpoch: 2n ** 200n,
      epochLength: 86_400, maxRebalancesPerEpoch: 100, maxGasPerEpoch: 10n ** 12n, cooldown: 0, maxLossBps: 300, maxEpochLossBps: 300, boostAllowed: true, maxSlippageBps: 0,
      maxOracleAge: 3_600, maxOracleDeviationBps: 100, minFeedAnswer: 0n, maxFeedAnswer: 0n, pools, market: `0x${"00".repeat(32)}`,
    },
    epochUsage: { lastRebalance: 0, epoch: 0, lossPpb: 0, amountMoved: 0n, rebalances: 0, gasUsed: 0 },
  }
}

function harness() {
  const logger = pino({ level: "silent" }, new Writable({ write: (_c, _e, done) => done() }))
  const metrics = new KeeperMetrics()
  const events: KeeperEvent[] = []
  const keeperEvents = new KeeperEvents({ logger, metrics, onEvent: (e) => events.push(e) })
  const config = { deployment: { adapters: { morphoBlue: ADAPTER } }, swap: undefined, retry: { initialMs: 1, maxMs: 1 }, paymasterContext: undefined, costs: { gasPriceGwei: 1, nativePrice: 3000 } }
  const step = new SafeStep({
    config: config as never,
    clients: { publicClient: {}, sponsoredBundler: undefined } as never,
    store: { pending: () => undefined, setPending: () => undefined },
    metrics,
    logger,
    events: keeperEvents,
    clock: { now: () => 1_700_000_000_000 } as never,
    tracker: {} as never,
    sender: {} as never,
    volatility: new VolatilityFeed({ logger, metrics }),
    dryRun: true,
  })
  return { step, events }
}

describe("a Safe on two loan assets: the plan sent is the urgent one", () => {
  test("a USDC boost listed first does not take the operation while the DAI sub-account is below its band", async () => {
    // Idle DAI and USDC: the DAI rescue is a plain idle repay, the USDC boost a borrow parked in a pool.
    const state = safeState([sub(BOOSTED, USDC, 2.0, "above", [PARK]), sub(FALLING, DAI, 1.02, "below")])
    expect(await sentFor(state)).toContain(FALLING)
  })

  test("two rescues on two loan assets: the one nearer liquidation goes first, whatever the policies' order", async () => {
    const MILD = `0x${"a0".repeat(32)}` as Hex
    expect(await sentFor(safeState([sub(MILD, USDC, 1.08, "below"), sub(FALLING, DAI, 1.01, "below")]))).toEqual([FALLING])
    expect(await sentFor(safeState([sub(FALLING, DAI, 1.01, "below"), sub(MILD, USDC, 1.08, "below")]))).toEqual([FALLING])
  })
})

function safeState(subAccounts: ReturnType<typeof sub>[]) {
  return {
    safe: SAFE,
    tokens: [
      { token: USDC, decimals: 18, balance: 10n ** 24n },
      { token: DAI, decimals: 18, balance: 10n ** 24n },
      { token: WETH, decimals: 18, balance: 0n },
    ],
    pools: [{ pool: PARK, asset: USDC, assets: 0n, maxWithdraw: 0n }],
    unreadable: [],
    subAccounts,
  }
}

/** The sub-accounts of the plan the keeper sends (dry run) for `state`. */
async function sentFor(state: ReturnType<typeof safeState>) {
  const snapshot = portfolioOf(state as never, { blockNumber: 100n, timestamp: 1_700_000_000n, risk: RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
  const { step, events } = harness()
  const rt = newSafeRuntime({ address: SAFE, risk: RISK })
  await step.run(rt, 100n, { snapshot })
  const plan = events.find((e) => e.type === "plan")
  expect(events.filter((e) => e.type === "alert")).toEqual([])
  return plan && plan.type === "plan" ? plan.plan.subAccounts : undefined
}
