import { waitForReceipt } from "@levpilot/devnet"
import { type Address, type Hex, erc20Abi, getAddress, parseAbi, parseEventLogs, zeroAddress } from "viem"
import { describe, expect, test } from "vitest"
import { aavePoolAbi, poolConfiguratorAbi } from "@levpilot/devnet/aave"
import type { DemoEnv } from "../bundler-client/src/devnet/env"
import { demoKeeperConfig } from "../bundler-client/src/devnet/keeperConfig"
import type { PriceDriver } from "../bundler-client/src/devnet/scenario"
import { Keeper } from "../bundler-client/src/keeper/keeper"
import { useAaveKeeperWorld } from "./aaveKeeperWorld"
import { collectKeeperEvents, demoProbes, startRpcProxy, waitFor } from "./keeperProbes"

/*
 * Issue 17 close-out, the keeper's same-block re-plan on the devnet (anvil, Alto, the ERC-7677 paymaster; the
 * `keeper.aave*.test.ts` world: two Morpho Blue markets and an Aave v3 account under one module, the Aave rescue the
 * flash-funded swap lane). WETH falls 20 %: the Aave account and the Morpho WETH market are both below their band and
 * the keeper plans one operation for both. Between the keeper's read and the bundler's simulation of that operation
 * (the first eth_estimateUserOperationGas, held by a proxy in front of Alto) the pool admin pauses Aave's USDC reserve
 * through the real PoolConfigurator, so the simulation reverts with Aave's refusal inside ActionFailed at the Aave
 * account's action. The keeper alerts `venue-refused` for the Aave account (naming the refusal), plans the Safe again in
 * the same block without it, and lands an operation for the Morpho market alone: the Aave account untouched, nothing
 * leaving the Safe except to Morpho and the Safe's own USDC pool.
 */

let env: DemoEnv
let driver: PriceDriver
const { keeperOps } = demoProbes(() => env)
useAaveKeeperWorld("levpilot-aave-replan-", (w) => ({ env, driver } = w))

const transferAbi = parseAbi(["event Transfer(address indexed from, address indexed to, uint256 value)"])

describe("a venue refuses one sub-account at simulation: the keeper plans again without it in the same block", () => {
  test("Aave's USDC reserve paused between read and simulation: venue-refused for the Aave account, the Morpho market's operation lands alone", async () => {
    const aave = env.aave as NonNullable<DemoEnv["aave"]>
    const safe = env.managed.address
    const aaveId = (env.managed.subAccounts.Aave as string).toLowerCase()
    const wethId = env.managed.subAccounts.WETH.toLowerCase()
    const usdc = env.stack.tokens.usdc
    const [usdcReserve, wethReserve] = await Promise.all([usdc, env.stack.tokens.weth].map((asset) => env.publicClient.readContract({ address: aave.pool, abi: aavePoolAbi, functionName: "getReserveData", args: [asset] })))
    const balance = (token: Address) => env.publicClient.readContract({ address: token, abi: erc20Abi, functionName: "balanceOf", args: [safe] })
    const aaveHealth = async () => Number((await env.publicClient.readContract({ address: aave.pool, abi: aavePoolAbi, functionName: "getUserAccountData", args: [safe] }))[5]) / 1e18

    // -20 % on WETH: the Aave account (1.45) and the Morpho WETH market fall below the band (1.25).
    await driver.set({ WETH: 3000 * 0.8 })
    expect(await aaveHealth()).toBeLessThan(env.settings.band.min)
    const from = await env.publicClient.getBlockNumber({ cacheTime: 0 })
    const [debtBefore, aWethBefore] = await Promise.all([balance(usdcReserve?.variableDebtTokenAddress as Address), balance(wethReserve?.aTokenAddress as Address)])

    // The proxy holds the first simulation until the pause is mined (the keeper has read the reserve open).
    const proxy = await startRpcProxy(env.devnet.bundlerUrl)
    let paused: bigint | undefined
    /** The callData of each operation Alto was asked to simulate, in order. */
    const simulated: string[] = []
    proxy.state.intercept = async (request) => {
      if (request.method !== "eth_estimateUserOperationGas") return undefined
      simulated.push(String((request.params?.[0] as { callData?: string } | undefined)?.callData ?? "").toLowerCase())
      if (paused !== undefined) return undefined
      paused = 0n
      const hash = await env.deployer.writeContract({ address: aave.poolConfigurator, abi: poolConfiguratorAbi, functionName: "setReservePause", args: [usdc, true], gas: 3_000_000n } as Parameters<typeof env.deployer.writeContract>[0])
      paused = (await waitForReceipt(env.publicClient, { hash })).blockNumber
      return undefined
    }
    const { events, onEvent } = collectKeeperEvents()
    const keeper = new Keeper(demoKeeperConfig(env, { bundlerUrl: proxy.url }), { chain: env.devnet.chain, onEvent })
    try {
      await keeper.start()
      const included = await waitFor("an included keeper operation", () => events.find((e) => e.type === "included"), 120_000)
      expect(included.type === "included" && included.success).toBe(true)
      expect(paused, "the first simulation was held for the pause").toBeGreaterThan(0n)

      // One venue-refused alert, naming the Aave account and the reserve's pause; no send-failed.
      const alerts = events.flatMap((e) => (e.type === "alert" ? [e] : []))
      const refused = alerts.filter((a) => a.kind === "venue-refused")
      expect(refused, JSON.stringify(alerts.map((a) => [a.kind, a.message]))).toHaveLength(1)
      expect(refused[0]?.message.toLowerCase()).toContain(aaveId)
      expect(refused[0]?.message).toMatch(/RESERVE_PAUSED|ReservePaused/)
      expect(refused[0]?.message).toContain("aave-v3")
      expect(alerts.filter((a) => a.kind === "send-failed")).toEqual([])

      // What Alto simulated: first the plan over both sub-accounts (refused), then the Morpho market alone; the latter
      // is the one operation sent, in the block of the alert (the same step).
      const lists = (callData: string | undefined, id: string) => (callData ?? "").includes(id.slice(2))
      expect(simulated.length).toBeGreaterThanOrEqual(2)
      expect([lists(simulated[0], aaveId), lists(simulated[0], wethId)]).toEqual([true, true])
      expect([lists(simulated[1], aaveId), lists(simulated[1], wethId)]).toEqual([false, true])
      const sent = events.flatMap((e) => (e.type === "sent" ? [e] : []))
      expect(sent).toHaveLength(1)
      expect(sent[0]?.plan.subAccounts.map((id) => id.toLowerCase())).toEqual([wethId])
      expect(sent[0]?.block).toBe(refused[0]?.block)

      // On chain: one successful keeper operation; the Aave account untouched (no log of the Aave pool in it, its debt
      // and aWETH as before but for interest); nothing left the Safe but to Morpho and its USDC pool (or burnt: its pool shares).
      const ops = await keeperOps(from)
      expect(ops).toHaveLength(1)
      expect(ops[0]?.args.success).toBe(true)
      const receipt = await env.publicClient.getTransactionReceipt({ hash: ops[0]?.transactionHash as Hex })
      expect(receipt.logs.filter((l) => getAddress(l.address) === getAddress(aave.pool))).toEqual([])
      const [debtAfter, aWethAfter] = await Promise.all([balance(usdcReserve?.variableDebtTokenAddress as Address), balance(wethReserve?.aTokenAddress as Address)])
      expect(debtAfter).toBeGreaterThanOrEqual(debtBefore)
      expect(debtAfter - debtBefore).toBeLessThan(debtBefore / 10_000n)
      expect(aWethAfter).toBeGreaterThanOrEqual(aWethBefore)
      expect(aWethAfter - aWethBefore).toBeLessThan(aWethBefore / 10_000n + 1n)
      expect(await aaveHealth()).toBeLessThan(env.settings.band.min)
      const out = parseEventLogs({ abi: transferAbi, logs: receipt.logs }).filter((t) => getAddress(t.args.from) === getAddress(safe))
      const allowed = new Set([env.stack.morpho, env.stack.vaults.usdc, zeroAddress].map((a) => getAddress(a)))
      expect(out.length).toBeGreaterThan(0)
      for (const t of out) expect(allowed.has(getAddress(t.args.to)), `Transfer out of the Safe to ${t.args.to}`).toBe(true)
    } finally {
      await keeper.stop()
      await proxy.stop()
    }
  }, 300_000)
})
