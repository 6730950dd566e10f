import { waitForReceipt } from "@levpilot/devnet"
import { type Abi, type Address, erc20Abi, getAddress, maxUint256, parseAbi, parseEventLogs, parseUnits } from "viem"
import { describe, expect, test } from "vitest"
import { aavePoolAbi, poolConfiguratorAbi } from "@levpilot/devnet/aave"
import { testTokenAbi } from "@levpilot/devnet/leverage"
import type { DemoEnv } from "../bundler-client/src/devnet/env"
import type { PriceDriver } from "../bundler-client/src/devnet/scenario"
import { useAaveKeeperWorld } from "./aaveKeeperWorld"
import { jsonLines, levpilot, parseMetrics } from "./cliRun"
import { demoProbes, waitFor } from "./keeperProbes"

/*
 * Issue 17 (review: the keeper sized an Aave flash loan without holding it to the reserve's free liquidity; the
 * adapter's router reverts FlashLiquidityShort(asset, amount, available) and the keeper retried a plan that could never
 * land). `levpilot keeper` (the real CLI) on the `keeper.aave.test.ts` world: the Safe's Aave account has no idle USDC
 * and no pool, so its rescue is the Aave swap lane, a flash-funded swap deleverage through the adapter's router.
 *
 * 1. Flash loans disabled on the USDC reserve (the pool configurator): the account is below its band with no feasible
 *    rescue; the keeper reports it once (`no-rescue`, binding flashLiquidity) and sets levpilot_rescue_infeasible to 1,
 *    sends nothing for it over many blocks (no endless retry of an operation that cannot land).
 * 2. Flash loans back on, the reserve's free liquidity drained by another account's borrow down to 5,500 USDC, below
 *    the ~7,200 USDC flash the full rescue wants: the keeper's flash is cut to what the reserve holds and its operation
 *    lands, the account back inside its band.
 */

let env: DemoEnv
let driver: PriceDriver
let configPath: string
const { keeperOps, waitBlocks } = demoProbes(() => env)
useAaveKeeperWorld("levpilot-aave-flash-", (w) => ({ env, driver, configPath } = w))

const aave = () => env.aave as NonNullable<DemoEnv["aave"]>
const write = async (address: Address, abi: Abi, functionName: string, args: readonly unknown[]) => {
  const hash = await env.deployer.writeContract({ address, abi, functionName, args, gas: 3_000_000n } as Parameters<typeof env.deployer.writeContract>[0])
  const receipt = await waitForReceipt(env.publicClient, { hash })
  expect(receipt.status, functionName).toBe("success")
}
const healthFactor = async () => {
  const [, , , , , hf] = await env.publicClient.readContract({ address: aave().pool, abi: aavePoolAbi, functionName: "getUserAccountData", args: [env.managed.address] })
  return Number(hf) / 1e18
}
const usdcReserve = () => env.publicClient.readContract({ address: aave().pool, abi: aavePoolAbi, functionName: "getReserveData", args: [env.stack.tokens.usdc] })
const freeLiquidity = async () => env.publicClient.readContract({ address: env.stack.tokens.usdc, abi: erc20Abi, functionName: "balanceOf", args: [(await usdcReserve()).aTokenAddress] })
const aaveDebt = async () => env.publicClient.readContract({ address: (await usdcReserve()).variableDebtTokenAddress, abi: erc20Abi, functionName: "balanceOf", args: [env.managed.address] })

describe("the keeper's Aave swap lane and the reserve's free liquidity", () => {
  test("flash loans disabled on the debt reserve: one no-rescue event (flashLiquidity), the gauge at 1, nothing sent for the account over many blocks", async () => {
    const aaveId = (env.managed.subAccounts.Aave as string).toLowerCase()
    await write(aave().poolConfigurator, poolConfiguratorAbi, "setReserveFlashLoaning", [env.stack.tokens.usdc, false])
    // -20 % on WETH: the Aave account (health factor 1.45) falls to ~1.16, below its band.
    await driver.set({ WETH: 3000 * 0.8 })
    expect(await healthFactor()).toBeLessThan(env.settings.band.min)
    const from = await env.publicClient.getBlockNumber({ cacheTime: 0 })
    const debtBefore = await aaveDebt()
    const run = levpilot(["keeper", "--config", configPath])
    try {
      const started = await waitFor("the keeper's start log", () => jsonLines(run.stdout()).find((l) => l.msg === "keeper started"), 120_000)
      const noRescue = () => jsonLines(run.stdout()).filter((l) => typeof l.msg === "string" && l.msg.startsWith("no feasible rescue") && String(l.subAccount).toLowerCase() === aaveId)
      const first = await waitFor("the no-rescue log line", () => noRescue()[0], 90_000)
      expect(first.binding).toBe("flashLiquidity")
      expect(first.venue).toBe("aave-v3")
      // Ten more blocks: still one line, the gauge 1, no operation touches the Aave account.
      await waitBlocks(10)
      expect(noRescue()).toHaveLength(1)
      const gauge = parseMetrics(await (await fetch(started.metrics as string)).text()).find(
        (s) => s.name === "levpilot_rescue_infeasible" && s.labels.sub_account?.toLowerCase() === aaveId,
      )
      expect(gauge?.value).toBe(1)
      expect(gauge?.labels.venue).toBe("aave-v3")
      // Whatever the keeper did for the Morpho markets, no operation reverted and the Aave debt was not repaid.
      const ops = await keeperOps(from)
      expect(ops.every((op) => op.args.success)).toBe(true)
      expect(await aaveDebt()).toBeGreaterThanOrEqual(debtBefore)
      expect(await healthFactor()).toBeLessThan(env.settings.band.min)
    } finally {
      run.child.kill("SIGTERM")
      await run.exited
    }
  }, 300_000)

  test("flash loans back on, the reserve's free liquidity borrowed down to 5,500 USDC: the keeper's flash is cut to it and its operation lands in the band", async () => {
    await write(aave().poolConfigurator, poolConfiguratorAbi, "setReserveFlashLoaning", [env.stack.tokens.usdc, true])
    // Another account (the devnet's deployer) supplies WETH and borrows the USDC reserve's free liquidity down to 5,500.
    const weth = env.stack.tokens.weth
    const collateral = parseUnits("6000", 18)
    await write(weth, testTokenAbi, "mint", [env.deployer.account.address, collateral])
    await write(weth, testTokenAbi, "approve", [aave().pool, maxUint256])
    await write(aave().pool, aavePoolAbi, "supply", [weth, collateral, env.deployer.account.address, 0])
    const left = parseUnits("5500", 6)
    await write(aave().pool, aavePoolAbi, "borrow", [env.stack.tokens.usdc, (await freeLiquidity()) - left, 2n, 0, env.deployer.account.address])
    const available = await freeLiquidity()
    expect(available).toBeLessThanOrEqual(left)
    expect(available).toBeGreaterThan(left - 10n ** 6n)
    expect(await healthFactor()).toBeLessThan(env.settings.band.min)
    const from = await env.publicClient.getBlockNumber({ cacheTime: 0 })
    const run = levpilot(["keeper", "--config", configPath, "--once", "--timeout", "90"])
    const code = await run.exited
    expect(code, `${run.stdout()}\n${run.stderr()}`).toBe(0)
    const ops = await keeperOps(from)
    expect(ops.length).toBeGreaterThanOrEqual(1)
    expect(ops.every((op) => op.args.success)).toBe(true)
    // One flash of USDC by the router, within what the reserve held, and the account back in its band.
    const flashes = []
    for (const op of ops) {
      const receipt = await env.publicClient.getTransactionReceipt({ hash: op.transactionHash as `0x${string}` })
      flashes.push(
        ...parseEventLogs({
          abi: parseAbi(["event FlashLoan(address indexed target, address initiator, address indexed asset, uint256 amount, uint8 interestRateMode, uint256 premium, uint16 indexed referralCode)"]),
          logs: receipt.logs.filter((l) => getAddress(l.address) === getAddress(aave().pool)),
        }),
      )
    }
    expect(flashes).toHaveLength(1)
    const flash = flashes[0]?.args as { asset: Address; amount: bigint }
    expect(getAddress(flash.asset)).toBe(getAddress(env.stack.tokens.usdc))
    expect(flash.amount).toBeLessThanOrEqual(available)
    // The cut bound: the flash is most of what the reserve held (the uncut rescue wanted ~7,200 USDC).
    expect(flash.amount).toBeGreaterThan(parseUnits("4000", 6))
    expect(await healthFactor()).toBeGreaterThanOrEqual(env.settings.band.min)
    expect(jsonLines(run.stdout()).filter((l) => typeof l.msg === "string" && l.msg.startsWith("no feasible rescue"))).toEqual([])
  }, 240_000)
})
