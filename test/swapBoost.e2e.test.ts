import { type Hex, getAddress, parseAbiItem, parseUnits } from "viem"
import { privateKeyToAccount } from "viem/accounts"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { validateRebalance } from "@levpilot/sdk/actions"
import { IdleInflowError, SwapQuoteBelowMinimumError, SwapRouteRefusedError } from "@levpilot/sdk/errors"
import { getSwapMinAmountOut } from "@levpilot/sdk/utils"
import type { Plan } from "@levpilot/sdk/types"
import { type DemoEnv, demoAssets, startDemoEnv } from "../bundler-client/src/devnet/env"
import { type DemoRun, runDemo } from "../bundler-client/src/devnet/run"
import { readMorphoPosition } from "../bundler-client/src/devnet/liquidator"
import { encodeUniswapRoute, quoteExactInput } from "../bundler-client/src/swap/uniswapQuote"
import { demoProbes } from "./keeperProbes"

// A calm market above the band (issue 12, swap boost): the managed Safe starts at health 2.0 against a 1.25 / 1.45 /
// 1.8 band with boosts and swaps allowed and no idle funds or pool; the keeper borrows, buys collateral on the devnet's
// real Uniswap v3 pools and supplies it, in ONE sponsored UserOperation through Alto, for both sub-accounts at once.
let env: DemoEnv
let run: DemoRun
const before: { health: number[]; collateral: bigint[]; netValue: number; block: bigint } = { health: [], collateral: [], netValue: 0, block: 0n }
const probes = demoProbes(() => env)

beforeAll(async () => {
  env = await startDemoEnv({ blockTime: 1, twin: false, settings: { swapProtection: true, startHealth: 2 } })
  before.block = await env.publicClient.getBlockNumber({ cacheTime: 0 })
  before.health = await probes.healths()
  for (const asset of demoAssets) before.collateral.push((await readMorphoPosition(env.publicClient, env.stack.morpho, env.markets[asset], env.managed.address)).collateral)
  before.netValue = await probes.netValue()
}, 900_000)

afterAll(async () => {
  await env?.stop()
})

describe("swap boost end to end on anvil + Alto + paymaster + Uniswap v3", () => {
  test("validateRebalance refuses, before sending, a purchase the pool cannot fill within maxSlippageBps, with the numbers", async () => {
    const route = encodeUniswapRoute({ fee: 500 })
    const keeper = privateKeyToAccount(env.keys.keeper).address
    const id = env.managed.subAccounts.WETH
    const plan = (usdc: bigint): Plan => ({
      subAccounts: [id as Hex],
      actions: [
        { kind: "Borrow", subAccount: 0, amount: usdc },
        { kind: "BuyCollateral", subAccount: 0, route, amount: usdc },
        { kind: "SupplyCollateral", subAccount: 0, amount: 1n },
      ],
    })
    const check = (usdc: bigint) => validateRebalance(env.publicClient, { safe: env.managed.address, keeper, plan: plan(usdc), deployments: env.deployments })
    // A 10,000 USDC purchase is within the 0.05% pool's depth: the quote passes, and the rule book then judges the
    // whole plan, which supplies 1 wei of the bought WETH and leaves the rest idle (the module's IdleInflow).
    const idle = await check(parseUnits("10000", 6)).catch((e: unknown) => e)
    expect(idle).toBeInstanceOf(IdleInflowError)
    expect((idle as IdleInflowError).token.toLowerCase()).toBe(env.stack.tokens.weth.toLowerCase())
    expect((idle as IdleInflowError).used).toBe(1n)
    // Half the pool's depth: fee + impact far beyond 50 bps. The error carries the module's minimum and the quote.
    const big = parseUnits("10000000", 6)
    const error = await check(big).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SwapQuoteBelowMinimumError)
    const e = error as SwapQuoteBelowMinimumError
    const weth = await readMorphoPosition(env.publicClient, env.stack.morpho, env.markets.WETH, env.managed.address)
    const { minAmountOut, fairAmountOut } = getSwapMinAmountOut({ sell: false, amountIn: big, price: weth.price, maxSlippageBps: 50 })
    const { amountOut } = await quoteExactInput(env.publicClient, { quoter: env.uniswap!.quoterV2, tokenIn: env.stack.tokens.usdc, tokenOut: env.stack.tokens.weth, route: { fee: 500 }, amountIn: big })
    expect({ index: e.index, amountIn: e.amountIn, minAmountOut: e.minAmountOut, fairAmountOut: e.fairAmountOut, quoted: e.quoted, maxSlippageBps: e.maxSlippageBps }).toEqual({
      index: 1,
      amountIn: big,
      minAmountOut,
      fairAmountOut,
      quoted: amountOut,
      maxSlippageBps: 50,
    })
    expect(e.quoted).toBeLessThan(e.minAmountOut)
    expect(e.shortMessage).toMatch(/Swap action 1 \(BuyCollateral\)/)
  })

  test("validateRebalance names the route field the swap adapter refuses (tier, hub, reserved bits) instead of a raw revert", async () => {
    const keeper = privateKeyToAccount(env.keys.keeper).address
    const usdc = env.stack.tokens.usdc
    const check = (route: Hex) =>
      validateRebalance(env.publicClient, {
        safe: env.managed.address,
        keeper,
        deployments: env.deployments,
        plan: {
          subAccounts: [env.managed.subAccounts.WETH as Hex],
          actions: [
            { kind: "Borrow", subAccount: 0, amount: parseUnits("1000", 6) },
            { kind: "BuyCollateral", subAccount: 0, route, amount: parseUnits("1000", 6) },
            { kind: "SupplyCollateral", subAccount: 0, amount: 1n },
          ],
        },
      }).catch((e: unknown) => e)
    const cases: [Hex, string, RegExp][] = [
      // 1%: enabled in the factory, not among the adapter's tiers (500 and 3000).
      [encodeUniswapRoute({ fee: 10_000 }), "route.fee", /^FeeTierNotAllowed\(10000\)$/],
      [encodeUniswapRoute({ fee: 1_234 }), "route.fee", /^FeeTierNotAllowed\(1234\)$/],
      // USDC is the adapter's only hub, and the purchase's own input.
      [encodeUniswapRoute({ fee: 500, hub: { token: usdc, index: 1 }, hubFee: 3000 }), "route.hub", /^HubNotAllowed\(0x/i],
      [encodeUniswapRoute({ fee: 500, hub: { token: usdc, index: 2 }, hubFee: 3000 }), "route.hub", /^UnknownHub\(2\)$/],
      [`0x${"1".padStart(50, "0")}${"0".repeat(10)}01f4` as Hex, "route", /^MalformedRoute\(0x/],
    ]
    for (const [route, field, reason] of cases) {
      const error = await check(route)
      expect(error, route).toBeInstanceOf(SwapRouteRefusedError)
      const e = error as SwapRouteRefusedError
      expect({ index: e.index, field: e.field, route: e.route }).toEqual({ index: 1, field, route })
      expect(e.reason).toMatch(reason)
      expect(e.shortMessage).toContain(`"${field}"`)
    }
  })

  test("ONE sponsored UserOperation boosts both sub-accounts from health 2.0 into the band by buying collateral", async () => {
    expect(before.health.every((h) => h > 1.8)).toBe(true)
    run = await runDemo({ env, scenario: { name: "calm above the band", steps: Array.from({ length: 8 }, () => ({ WETH: 3000, WBTC: 60000 })) }, settleBlocks: 4 })
    expect(run.alerts, JSON.stringify(run.rebalances, (_, v) => (typeof v === "bigint" ? v.toString() : v))).toEqual([])
    expect(run.rebalances.length, JSON.stringify(run.rebalances)).toBe(1)
    const [op] = run.rebalances
    expect(op?.success).toBe(true)
    const kinds = op?.actions.map((a) => a.split(" ")[0])
    // Per sub-account either shape of the boost: one pass, or flash-looped through Morpho's supply-collateral callback.
    expect(kinds?.filter((k) => k === "BuyCollateral").length, kinds?.join(",")).toBe(2)
    expect(kinds?.filter((k) => k === "SupplyCollateral" || k === "SupplyCollateralWithCallback").length).toBe(2)
    const ops = await probes.keeperOps(before.block)
    expect(ops.length).toBe(1)
    expect(ops[0]?.args.success).toBe(true)
    expect(getAddress(ops[0]?.args.paymaster as string)).toBe(env.devnet.addresses.verifyingPaymaster)

    const after = await probes.healths()
    for (const h of after) {
      expect(h).toBeGreaterThanOrEqual(1.25)
      expect(h).toBeLessThanOrEqual(1.8)
      expect(Math.abs(h - 1.45)).toBeLessThan(0.03)
    }
    // Exposure rose: more collateral in both markets, bought on the real pools (USDC from the Safe to a pool).
    for (const [i, asset] of demoAssets.entries()) {
      const p = await readMorphoPosition(env.publicClient, env.stack.morpho, env.markets[asset], env.managed.address)
      expect(p.collateral).toBeGreaterThan(before.collateral[i] as bigint)
    }
    const transfers = await env.publicClient.getLogs({ event: parseAbiItem("event Transfer(address indexed from, address indexed to, uint256 value)"), args: { from: env.managed.address }, fromBlock: before.block })
    const pools = [env.uniswap?.pools.wethLow.address, env.uniswap?.pools.wbtcLow.address].map((p) => p?.toLowerCase())
    const paid = transfers.filter((t) => pools.includes(t.args.to?.toLowerCase()))
    expect(paid.length).toBe(2)
    // The cost is the pools' fee plus impact at oracle prices, within maxSlippageBps of what was swapped.
    const swapped = paid.reduce((sum, t) => sum + Number(t.args.value) / 1e6, 0)
    const last = run.steps.at(-1)?.netValue.managed.total as number
    const lost = before.netValue - last
    const bps = (lost / swapped) * 10_000
    console.log(
      `swap boost (${kinds?.join(",")}): health ${before.health.map((h) => h.toFixed(3)).join(" / ")} -> ${after.map((h) => h.toFixed(3)).join(" / ")}, ` +
        `gas ${op?.gasUsed}, swapped ${swapped.toFixed(2)} USDC, net value ${before.netValue.toFixed(2)} -> ${last.toFixed(2)} (${bps.toFixed(2)} bps of the swaps)`,
    )
    expect(bps).toBeGreaterThanOrEqual(4.9)
    expect(bps).toBeLessThanOrEqual(50)
  })
})
