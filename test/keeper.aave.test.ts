import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Address, erc20Abi, getAddress } from "viem"
import { privateKeyToAccount } from "viem/accounts"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { getSafeStates, getSubAccountState } from "@levpilot/sdk/actions"
import { aavePoolAbi } from "@levpilot/devnet/aave"
import { type DemoEnv, startDemoEnv } from "../bundler-client/src/devnet/env"
import { demoKeeperConfig, demoKeeperConfigJson } from "../bundler-client/src/devnet/keeperConfig"
import { PriceDriver } from "../bundler-client/src/devnet/scenario"
import { readAaveLimits } from "../bundler-client/src/keeper/aaveLimits"
import { portfolioOf } from "../bundler-client/src/keeper/portfolio"
import { keeperCosts } from "../bundler-client/src/keeper/safeStep"
import { jsonLines, levpilot, parseMetrics } from "./cliRun"
import { demoProbes, waitFor } from "./keeperProbes"

/*
 * Issue 17, item 2: `levpilot keeper` (the real CLI, a child process) on a Safe whose sub-accounts are two Morpho Blue
 * markets and an Aave v3 account under one module (the `levpilot start` world with Aave, anvil + Alto + the ERC-7677
 * paymaster). The config names the Aave adapter (`deployment.aaveV3Adapter`); every per-sub-account metric carries a
 * `venue` label (morpho-blue / aave-v3), the Aave account's health gauge is Aave's own health factor, the send log names
 * each sub-account's venue, and a price shock that takes the Aave account below its band is rescued by one operation.
 */

const dir = mkdtempSync(join(tmpdir(), "levpilot-aave-"))

let env: DemoEnv
let driver: PriceDriver
let configPath: string
const { keeperOps, keeperNonce } = demoProbes(() => env)

beforeAll(async () => {
  env = await startDemoEnv({ blockTime: 1, twin: false, settings: { aave: true } })
  driver = new PriceDriver(env)
  configPath = join(dir, "keeper.json")
  writeFileSync(configPath, JSON.stringify(demoKeeperConfigJson(env, { stateFile: join(dir, "state.json"), logLevel: "info", metricsPort: 0 }), null, 2))
}, 240_000)

afterAll(async () => {
  await env?.stop()
})

const aaveHealthFactor = async (safe: Address) => {
  const aave = env.aave as NonNullable<DemoEnv["aave"]>
  const [, , , , , hf] = await env.publicClient.readContract({ address: aave.pool, abi: aavePoolAbi, functionName: "getUserAccountData", args: [safe] })
  return Number(hf) / 1e18
}

describe("levpilot keeper on a Safe with an Aave v3 sub-account", () => {
  test("metrics name the venue per sub-account; the Aave account's health gauge is its health factor", async () => {
    const run = levpilot(["keeper", "--config", configPath, "--dry-run"])
    try {
      const started = await waitFor("the keeper's start log", () => jsonLines(run.stdout()).find((l) => l.msg === "keeper started"), 120_000)
      const url = started.metrics as string
      const safe = env.managed.address
      const aaveId = (env.managed.subAccounts.Aave as string).toLowerCase()
      const morphoIds = [env.managed.subAccounts.WETH, env.managed.subAccounts.WBTC].map((s) => s.toLowerCase())
      const m = await waitFor("health gauges of all three sub-accounts", async () => {
        const samples = parseMetrics(await (await fetch(url)).text()).filter((s) => s.name === "levpilot_health" && s.labels.safe === safe)
        return samples.length === 3 ? samples : undefined
      }, 60_000)
      const venueOf = (id: string) => m.find((s) => s.labels.sub_account?.toLowerCase() === id)?.labels.venue
      expect(venueOf(aaveId)).toBe("aave-v3")
      for (const id of morphoIds) expect(venueOf(id)).toBe("morpho-blue")
      const gauge = m.find((s) => s.labels.sub_account?.toLowerCase() === aaveId)?.value as number
      expect(gauge).toBeCloseTo(await aaveHealthFactor(safe), 4)
      const sigma = parseMetrics(await (await fetch(url)).text()).find((s) => s.name === "levpilot_sigma" && s.labels.sub_account?.toLowerCase() === aaveId)
      expect(sigma?.labels.venue).toBe("aave-v3")
    } finally {
      run.child.kill("SIGTERM")
      await run.exited
    }
  }, 240_000)

  test("the fleet's batched read carries the Aave account's reserve limits and repayable debt (the debt reserve's variable debt)", async () => {
    const safe = env.managed.address
    const aave = env.aave as NonNullable<DemoEnv["aave"]>
    const aaveId = (env.managed.subAccounts.Aave as string).toLowerCase()
    const keeper = privateKeyToAccount(env.keys.keeper).address
    const { blockNumber, timestamp, safes } = await getSafeStates(env.publicClient, { safes: [safe], keeper, deployments: env.deployments })
    const state = safes[0]
    if (state === undefined || state.error) throw new Error("the managed Safe is unreadable")
    const sub = state.subAccounts.find((s) => s.subAccount.toLowerCase() === aaveId)
    if (sub === undefined) throw new Error("no Aave sub-account in the batched read")
    const limits = await readAaveLimits(env.publicClient, env.deployment, state.subAccounts, safe)
    // Only the Aave sub-account is read, and what a repayment clears is the Safe's variable debt of the loan reserve.
    expect(Object.keys(limits)).toEqual([aaveId])
    const reserve = await env.publicClient.readContract({ address: aave.pool, abi: aavePoolAbi, functionName: "getReserveData", args: [sub.loanToken] })
    const variableDebt = await env.publicClient.readContract({ address: reserve.variableDebtTokenAddress, abi: erc20Abi, functionName: "balanceOf", args: [safe] })
    expect(variableDebt).toBeGreaterThan(0n)
    expect(limits[aaveId]?.repayableDebt).toBe(variableDebt)
    const config = demoKeeperConfig(env)
    const { risk } = config
    const costs = keeperCosts(config)
    const snapshot = portfolioOf(state, { blockNumber, timestamp, risk, costs, aaveLimits: limits })
    const input = snapshot.input.subAccounts.find((s) => s.state.id === aaveId)
    expect(input?.state.borrowable).toBe(Number(limits[aaveId]?.debt.borrowable) / 10 ** (input?.state.loanDecimals ?? 0))
    expect(snapshot.bounds.subAccounts[aaveId]?.borrowable).toBe(limits[aaveId]?.debt.borrowable)
    // One debt reserve: a repayment clears the whole debt (no repayableDebt); below it (a second debt reserve), it is set.
    expect(input?.state.repayableDebt).toBeUndefined()
    const split = { [aaveId]: { ...(limits[aaveId] as NonNullable<(typeof limits)[string]>), repayableDebt: sub.debt / 3n } }
    const twoReserves = portfolioOf(state, { blockNumber, timestamp, risk, costs, aaveLimits: split })
    const withSplit = twoReserves.input.subAccounts.find((s) => s.state.id === aaveId)
    expect(withSplit?.state.repayableDebt).toBe(Number(sub.debt / 3n) / 10 ** (withSplit?.state.loanDecimals ?? 0))
  }, 60_000)

  test("keeper --once rescues the Aave account after a price shock in one sponsored operation whose log names each sub-account's venue", async () => {
    const safe = env.managed.address
    await env.setBlockTime(0)
    const from = await env.publicClient.getBlockNumber({ cacheTime: 0 })
    // -20 % on WETH: the Aave account (health factor 1.45 at the start) and the WETH market fall below the band (1.25).
    await driver.set({ WETH: 3000 * 0.8 })
    await env.setBlockTime(1)
    expect(await aaveHealthFactor(safe)).toBeLessThan(env.settings.band.min)
    const nonceBefore = await keeperNonce()
    const run = levpilot(["keeper", "--config", configPath, "--once", "--timeout", "90"])
    const code = await run.exited
    expect(code, `${run.stdout()}\n${run.stderr()}`).toBe(0)
    const sent = jsonLines(run.stdout()).filter((l) => l.msg === "rebalance sent")
    expect(sent).toHaveLength(1)
    const subAccounts = (sent[0] as { subAccounts: { id: string; venue: string }[] }).subAccounts
    expect(subAccounts.find((s) => s.id.toLowerCase() === env.managed.subAccounts.Aave?.toLowerCase())?.venue).toBe("aave-v3")
    expect(subAccounts.find((s) => s.id.toLowerCase() === env.managed.subAccounts.WETH.toLowerCase())?.venue).toBe("morpho-blue")
    const ops = await keeperOps(from)
    expect(ops).toHaveLength(1)
    expect(ops[0]?.args.success).toBe(true)
    expect(getAddress(ops[0]?.args.paymaster as string)).toBe(env.devnet.addresses.verifyingPaymaster)
    expect(await keeperNonce()).toBe(nonceBefore + 1n)
    // Aave's own health factor is back inside the band, and the module agrees.
    expect(await aaveHealthFactor(safe)).toBeGreaterThanOrEqual(env.settings.band.min)
    const states = await getSubAccountState(env.publicClient, { safe, deployments: env.deployments })
    expect(states.find((s) => s.subAccount.toLowerCase() === env.managed.subAccounts.Aave?.toLowerCase())?.band).toBe("inside")
  }, 240_000)
})
