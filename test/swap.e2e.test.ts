import { getAddress, parseAbiItem } from "viem"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { leverageModuleAbi } from "@levpilot/sdk/abis"
import { type DemoEnv, startDemoEnv } from "../bundler-client/src/devnet/env"
import { type DemoRun, runDemo } from "../bundler-client/src/devnet/run"
import { defaultScenario } from "../bundler-client/src/devnet/scenario"
import { demoProbes } from "./keeperProbes"

// The "no idle funds" trader (issue 12): both Safes spent their borrowed USDC and hold no pool position; only the
// managed one is automated, and its only way out is to sell collateral on the devnet's real Uniswap v3 pools inside
// Morpho's repay callback, one sponsored UserOperation at a time.
let env: DemoEnv
let run: DemoRun

beforeAll(async () => {
  env = await startDemoEnv({ blockTime: 1, settings: { swapProtection: true } })
  run = await runDemo({ env, scenario: defaultScenario(36, 0.4) })
}, 900_000)

afterAll(async () => {
  await env?.stop()
})

describe("swap deleverage end to end on anvil + Alto + paymaster + Uniswap v3", () => {
  test("the Safes start with no idle loan token and no buffer", async () => {
    for (const safe of [env.managed.address, env.twin.address]) {
      const shares = await env.publicClient.readContract({ address: env.stack.vaults.usdc, abi: [parseAbiItem("function balanceOf(address) view returns (uint256)")], functionName: "balanceOf", args: [safe] })
      expect(shares).toBe(0n)
    }
    const policy = await env.publicClient.readContract({ address: env.stack.leverageModule, abi: leverageModuleAbi, functionName: "getPolicy", args: [env.managed.address, env.managed.subAccounts.WETH] })
    expect(policy.maxSlippageBps).toBe(50)
    expect(policy.pools).toEqual([])
    expect(await env.publicClient.readContract({ address: env.stack.leverageModule, abi: leverageModuleAbi, functionName: "swapAdapter" })).toBe(env.stack.swapAdapter)
  })

  test("a crash with no buffer liquidates the twin, never the managed Safe", () => {
    expect(run.liquidations.filter((l) => l.label === "twin").length).toBeGreaterThan(0)
    // On failure, the timeline: each step's block, prices and the managed healths, each rebalance's send and inclusion.
    const sent = new Map(run.events.flatMap((e) => (e.type === "sent" ? [[e.userOpHash as string, e.block] as const] : [])))
    const timeline = [
      ...run.steps.map((s) => `step ${s.step} block ${s.block} WETH ${s.prices.WETH.toFixed(0)} health ${Object.values(s.positions.managed).map((p) => p.health.toFixed(3)).join("/")}`),
      ...run.rebalances.map((r) => `op sent@${sent.get(r.userOpHash)} included@${r.block} ${r.success ? "ok" : `reverted ${r.revert}`} ${r.actions.map((a) => a.split(" ")[0]).join(",")}`),
    ].join("\n")
    expect(run.liquidations.filter((l) => l.label === "managed"), timeline).toEqual([])
    const managedMin = Math.min(...run.steps.flatMap((s) => Object.values(s.positions.managed).map((p) => p.health)))
    expect(managedMin).toBeGreaterThan(1.05)
  })

  test("every rebalance is a sponsored swap deleverage UserOperation included by Alto; a rescue the crash reverted between send and inclusion is quoted again and lands", async () => {
    expect(run.rebalances.length).toBeGreaterThanOrEqual(2)
    expect(run.alerts).toEqual([])
    // Each rescue is a swap deleverage, one callback block per sub-account (both markets in one operation when both fall
    // below the band), whose repayment also carries the USDC the Safe already holds (what earlier swaps paid above their
    // take) or a donor market's borrow; or, cheapest first, a plain repayment of that USDC. The Safe never had any other
    // buffer. In the recovery, a boost above the band buys collateral (a swap boost, one pass or flash-looped, possibly
    // for both sub-accounts in one operation), or borrows and keeps the USDC idle when no swap boost fits.
    const shapeOf = (r: (typeof run.rebalances)[number]) => r.actions.map((a) => a.split(" ")[0]).join(",")
    const shapes = run.rebalances.map(shapeOf)
    const block = "RepayWithCallback,WithdrawCollateral,(SellCollateral,)+EndCallback"
    const rescueShape = new RegExp(`^((Borrow,)*(${block}|Repay),?)+$`)
    const isRescue = (s: string) => s.includes("RepayWithCallback") || s === "Repay"
    const landed = run.rebalances.filter((r) => r.success).map(shapeOf)
    const count = (kind: string) => landed.reduce((n, s) => n + s.split(",").filter((k) => k === kind).length, 0)
    const sold = count("SellCollateral")
    expect(sold, shapes.join(" | ")).toBeGreaterThanOrEqual(2)
    const boostShape = /^((Borrow,BuyCollateral,SupplyCollateral|SupplyCollateralWithCallback,Borrow,BuyCollateral,EndCallback|Borrow),?)+$/
    for (const shape of shapes) expect((isRescue(shape) && rescueShape.test(shape)) || boostShape.test(shape), shapes.join(" | ")).toBe(true)
    // Every swap deleverage came while the crash was on (a rescue), before any boost.
    const firstBoost = shapes.findIndex((s) => !isRescue(s))
    if (firstBoost >= 0) expect(shapes.slice(firstBoost).some((s) => s.includes("RepayWithCallback")), shapes.join(" | ")).toBe(false)
    // A rescue fixes its repayment when the keeper quotes; a crash step (about 4 % on the oracle and the pools) that
    // lands between the keeper's send and the operation's inclusion is more than any take absorbs (about 30 bp of pool
    // drop at maxSlippageBps 50, swapPlanTake), so that rescue reverts as a whole (the venue's pull of the repayment, or
    // the router's minimum, or the landing zone at the new price). That is the only revert allowed: the keeper re-reads
    // the chain and quotes again, and a later rescue lands; the Safe is never liquidated (the test above).
    const sentBlock = new Map(run.events.flatMap((e) => (e.type === "sent" ? [[e.userOpHash as string, e.block] as const] : [])))
    const stepBlocks = run.steps.map((s) => BigInt(s.block))
    const show = (r: unknown) => JSON.stringify(r, (_, v) => (typeof v === "bigint" ? v.toString() : v))
    // The same holds for a swap boost in the recovery (seen on a loaded machine, inclusion 2 blocks after the send): a
    // price step in between buys less collateral than the fixed supply that follows the purchase (its `transferFrom`
    // reverts) or less than the router's minimum; it costs the op's gas, nothing else, and is not followed by a rescue.
    for (const [k, r] of run.rebalances.entries()) {
      if (r.success) continue
      const shape = shapeOf(r)
      if (isRescue(shape)) expect(r.revert, show(r)).toMatch(/transferFrom reverted|Too little received|SlippageExceeded|SaleExceedsRepayment|HealthOutsideLandingZone|HealthOutOfBand|NoTrigger/)
      else {
        expect(boostShape.test(shape) && shape.includes("BuyCollateral"), show(r)).toBe(true)
        expect(r.revert, show(r)).toMatch(/transferFrom reverted|Too little received|SlippageExceeded|HealthOutsideLandingZone|NoTrigger/)
      }
      const sent = sentBlock.get(r.userOpHash)
      expect(sent, show(r)).toBeDefined()
      expect(stepBlocks.some((b) => b > (sent as bigint) && b <= BigInt(r.block)), `no price step between send (${sent}) and inclusion: ${show(r)}`).toBe(true)
      if (isRescue(shape)) expect(run.rebalances.slice(k + 1).some((later) => later.success && isRescue(shapeOf(later))), `no landed rescue after ${show(r)}`).toBe(true)
    }
    const reverted = run.rebalances.filter((r) => !r.success).length
    if (reverted > 0) console.log(`swap e2e: ${reverted} operation(s) reverted by a price step inside their inclusion window (each rescue followed by a landed one)`)
    const keeperOps = await demoProbes(() => env).keeperOps(BigInt(run.steps[0]?.block ?? 0) - 1n)
    expect(keeperOps.length).toBe(run.rebalances.length)
    expect(keeperOps.map((op) => op.args.success)).toEqual(run.rebalances.map((r) => r.success))
    for (const op of keeperOps) expect(getAddress(op.args.paymaster as string)).toBe(env.devnet.addresses.verifyingPaymaster)
    // The swaps went through the real pools: the router pulled the Safe's collateral (WETH or WBTC Transfer to a pool).
    const transfers = await env.publicClient.getLogs({
      event: parseAbiItem("event Transfer(address indexed from, address indexed to, uint256 value)"),
      args: { from: env.managed.address },
      fromBlock: BigInt(run.steps[0]?.block ?? 0) - 1n,
    })
    const pools = [env.uniswap?.pools.wethLow.address, env.uniswap?.pools.wbtcLow.address].map((p) => p?.toLowerCase())
    // One transfer into a pool per landed swap: the collateral of each deleverage, the USDC of each swap boost.
    expect(transfers.filter((t) => pools.includes(t.args.to?.toLowerCase())).length).toBe(sold + count("BuyCollateral"))
  })
})
