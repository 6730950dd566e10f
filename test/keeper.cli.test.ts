import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Address, getAddress } from "viem"
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest"
import { getSubAccountState } from "@levpilot/sdk/actions"
import { type DemoEnv, startDemoEnv } from "../bundler-client/src/devnet/env"
import { demoKeeperConfigJson } from "../bundler-client/src/devnet/keeperConfig"
import { PriceDriver } from "../bundler-client/src/devnet/scenario"
import { parseKeeperConfig } from "../bundler-client/src/keeper/config"
import { keeperCosts } from "../bundler-client/src/keeper/keeper"
import { readPortfolio, toChainPlan } from "../bundler-client/src/keeper/portfolio"
import { type KeeperState, KeeperStateStore } from "../bundler-client/src/keeper/stateFile"
import { solveByLoanAsset } from "../bundler-client/src/solver/solver"
import { type Run, jsonLines, levpilot, parseMetrics, valueOf } from "./cliRun"
import { demoProbes, priceShocks, waitFor } from "./keeperProbes"

/**
 * The real `levpilot` CLI (bin/levpilot.mjs, the same entry as `npx levpilot`) as a child process against the devnet
 * (anvil + Alto + the ERC-7677 paymaster): `keeper --dry-run --once`, `keeper --once`, `status`, the Prometheus
 * endpoint of a running keeper, and bad command lines.
 */

const dir = mkdtempSync(join(tmpdir(), "levpilot-cli-"))

let env: DemoEnv
let driver: PriceDriver
let configPath: string
let stateFile: string
const { waitBlocks, healths, keeperOps, keeperNonce, quiesce } = demoProbes(() => env)

const { shock } = priceShocks(() => driver)

beforeAll(async () => {
  env = await startDemoEnv({ blockTime: 1, twin: false })
  driver = new PriceDriver(env)
  stateFile = join(dir, "state.json")
  configPath = join(dir, "keeper.json")
  writeFileSync(configPath, JSON.stringify(demoKeeperConfigJson(env, { stateFile, logLevel: "info", metricsPort: 0 }), null, 2))
})

// An operation a test's keeper sent before it stopped lands before the next test counts operations from its own block.
afterEach(async () => {
  if (env) await quiesce()
})

afterAll(async () => {
  await env?.stop()
})

describe("levpilot CLI on the devnet", () => {
  test("bad command lines exit non-zero naming the problem", async () => {
    const notJson = join(dir, "not-json.json")
    writeFileSync(notJson, "{ rpcUrl: ")
    const wrongField = join(dir, "wrong-field.json")
    writeFileSync(wrongField, JSON.stringify(demoKeeperConfigJson(env, { pollIntervalMs: 1 })))
    const missing = join(dir, "does-not-exist.json")
    const cases: [string[], number, RegExp[]][] = [
      [["keeper", "--config", configPath, "--frobnicate"], 2, [/levpilot keeper: Unknown option '--frobnicate'/, /See levpilot keeper --help/]],
      [["keeper"], 2, [/levpilot keeper: --config <file.json> is required/]],
      [["keeper", "--config", missing, "--once"], 1, [/KeeperConfigError: Invalid keeper configuration: "\(file\)" cannot be read/, /does-not-exist\.json/]],
      [["keeper", "--config", notJson, "--once"], 1, [/"\(file\)" is not valid JSON/]],
      [["keeper", "--config", wrongField, "--once"], 1, [/"pollIntervalMs" must be at least 10 ms/]],
      [["keeper", "--config", configPath, "--timeout", "5"], 2, [/--timeout only applies with --once/]],
      [["keeper", "--config", configPath, "--once", "--timeout", "soon"], 2, [/--timeout must be a positive number of seconds, got "soon"/]],
      [["keeper", "--config", configPath, "extra"], 2, [/unexpected argument "extra"/]],
      [["status", "--config", configPath, "--verbose"], 2, [/levpilot status: Unknown option '--verbose'/]],
      [["status"], 2, [/levpilot status: --config <file.json> is required/]],
      [["status", "--config", missing], 1, [/"\(file\)" cannot be read/]],
      [["status", "--config", configPath, "--safe", "0x1234"], 2, [/--safe must be an address, got "0x1234"/]],
      [["statuz"], 2, [/unknown command "statuz"/]],
    ]
    const nonceBefore = await keeperNonce()
    const runs = cases.map(([args]) => levpilot(args))
    for (const [i, [args, code, patterns]] of cases.entries()) {
      const run = runs[i] as Run
      const exit = await run.exited
      expect(exit, `${args.join(" ")}\n${run.stderr()}`).toBe(code)
      for (const pattern of patterns) expect(run.stderr(), args.join(" ")).toMatch(pattern)
    }
    expect(await keeperNonce()).toBe(nonceBefore)
  }, 300_000) // 13 CLI processes start at once (tsx each): 92 s of the default 120 s on a loaded 2-core machine

  test("keeper --dry-run --once prints the solver's plan for the price drop and sends nothing", async () => {
    // Freeze the chain (automine, no transactions) so the CLI and this test read the same block.
    await env.setBlockTime(0)
    try {
      const from = await shock(0.8)
      expect(Math.min(...(await healths()))).toBeLessThan(env.settings.band.min)
      const nonceBefore = await keeperNonce()
      const run = levpilot(["keeper", "--config", configPath, "--dry-run", "--once"])
      const code = await run.exited
      expect(code, run.stderr()).toBe(0)
      const plans = jsonLines(run.stdout()).filter((l) => "plan" in l && "safe" in l && !("msg" in l))
      expect(plans).toHaveLength(1)
      const printed = plans[0] as { safe: string; block: number; plan: { subAccounts: string[]; actions: { kind: string; subAccount: number; pool?: string; amount: string }[] } }
      expect(getAddress(printed.safe)).toBe(env.managed.address)
      const block = await env.publicClient.getBlockNumber({ cacheTime: 0 })
      expect(BigInt(printed.block)).toBe(block)

      // What the solver produces for this Safe at this block, with the configuration's risk settings.
      const config = parseKeeperConfig(JSON.parse(readFileSync(configPath, "utf8")), { source: configPath })
      const snapshot = await readPortfolio(env.publicClient, { safe: env.managed.address, deployment: env.deployment, risk: config.safes[0]?.risk as never, costs: keeperCosts(config) })
      const plan = [...solveByLoanAsset(snapshot.input).values()].find((r) => r.plan)?.plan
      if (!plan) throw new Error("the solver found no plan")
      const expected = JSON.parse(JSON.stringify(toChainPlan(plan), (_, v) => (typeof v === "bigint" ? v.toString() : v)))
      expect(printed.plan).toEqual(expected)
      expect(printed.plan.actions.some((a) => a.kind === "Repay")).toBe(true)

      // Nothing was sent: same keeper nonce, no UserOperationEvent, no block mined by a bundle, no intent persisted.
      expect(await keeperNonce()).toBe(nonceBefore)
      expect(await keeperOps(from)).toEqual([])
      expect(await env.publicClient.getBlockNumber({ cacheTime: 0 })).toBe(block)
      const state = KeeperStateStore.read(stateFile)
      expect(KeeperStateStore.pendingIn(state, env.managed.address)).toBeUndefined()
      expect(jsonLines(run.stdout()).some((l) => l.msg === "dry run: plan not sent")).toBe(true)
      expect(jsonLines(run.stdout()).some((l) => l.msg === "rebalance sent")).toBe(false)
    } finally {
      await env.setBlockTime(1)
    }
  })

  test("keeper --once sends exactly one operation, waits for its inclusion and exits 0", async () => {
    const nonceBefore = await keeperNonce()
    const from = await env.publicClient.getBlockNumber({ cacheTime: 0 })
    expect(Math.min(...(await healths()))).toBeLessThan(env.settings.band.min)
    const run = levpilot(["keeper", "--config", configPath, "--once", "--timeout", "60"])
    const code = await run.exited
    const exitedAt = await env.publicClient.getBlockNumber({ cacheTime: 0 })
    expect(code, `${run.stdout()}\n${run.stderr()}`).toBe(0)
    const logs = jsonLines(run.stdout())
    expect(logs.filter((l) => l.msg === "rebalance sent")).toHaveLength(1)
    const included = logs.find((l) => l.msg === "rebalance included") as { userOpHash: string; block: number; success: boolean } | undefined
    expect(included?.success).toBe(true)
    const ops = await keeperOps(from)
    expect(ops).toHaveLength(1)
    expect(ops[0]?.args.success).toBe(true)
    expect(ops[0]?.args.userOpHash).toBe(included?.userOpHash)
    expect(getAddress(ops[0]?.args.paymaster as string)).toBe(env.devnet.addresses.verifyingPaymaster)
    expect(ops[0]?.blockNumber).toBeLessThanOrEqual(exitedAt)
    expect(await keeperNonce()).toBe(nonceBefore + 1n)
    expect(Math.min(...(await healths()))).toBeGreaterThanOrEqual(env.settings.band.min)
    const state = KeeperStateStore.read(stateFile) as KeeperState
    expect(KeeperStateStore.pendingIn(state, env.managed.address)).toBeUndefined()
    // Nothing left to do: a second --once sends nothing and exits 0.
    const again = levpilot(["keeper", "--config", configPath, "--once"])
    expect(await again.exited).toBe(0)
    await waitBlocks(1)
    expect(await keeperOps(from)).toHaveLength(1)
  })

  test("status prints every sub-account's health, leverage, liquidation price and band as the SDK reads them", async () => {
    await env.setBlockTime(0)
    try {
      const json = levpilot(["status", "--config", configPath, "--json"])
      const table = levpilot(["status", "--config", configPath])
      expect(await json.exited, json.stderr()).toBe(0)
      expect(await table.exited, table.stderr()).toBe(0)
      const onChain = await getSubAccountState(env.publicClient, { safe: env.managed.address, deployments: env.deployments })
      expect(onChain).toHaveLength(2)
      const report = JSON.parse(json.stdout()) as {
        block: number
        safes: { safe: string; pending: unknown; subAccounts: { subAccount: string; health: string; leverage: string; liquidationPrice: string; band: string; ltv: string }[] }[]
      }
      expect(BigInt(report.block)).toBe(await env.publicClient.getBlockNumber({ cacheTime: 0 }))
      expect(report.safes).toHaveLength(1)
      expect(getAddress(report.safes[0]?.safe as Address)).toBe(env.managed.address)
      expect(report.safes[0]?.pending ?? undefined).toBeUndefined()
      const printed = report.safes[0]?.subAccounts ?? []
      expect(printed.map((s) => s.subAccount).sort()).toEqual(onChain.map((s) => s.subAccount).sort())
      for (const s of onChain) {
        const p = printed.find((x) => x.subAccount === s.subAccount)
        expect(p?.health).toBe(s.health.toString())
        expect(p?.leverage).toBe(s.leverage.toString())
        expect(p?.liquidationPrice).toBe(s.liquidationPrice.toString())
        expect(p?.ltv).toBe(s.ltv.toString())
        expect(p?.band).toBe(s.band)
        // The table: one line per sub-account with the same numbers, rounded.
        const line = table.stdout().split("\n").find((l) => l.includes(s.subAccount.slice(0, 12)))
        expect(line, table.stdout()).toBeDefined()
        expect(line).toContain((Number(s.health) / 1e18).toFixed(3))
        expect(line).toContain((Number(s.leverage) / 1e18).toFixed(2))
        expect(line).toContain(String(s.liquidationPrice))
        expect(line).toContain(s.band)
      }
      expect(table.stdout()).toContain(`Safe ${env.managed.address}  no keeper operation in flight`)
    } finally {
      await env.setBlockTime(1)
    }
  })

  test("a running keeper serves GET /metrics: counters, per-sub-account health, latency summary and sigma change after a rebalance", async () => {
    const run = levpilot(["keeper", "--config", configPath])
    try {
      const started = await waitFor("the keeper's start log", () => jsonLines(run.stdout()).find((l) => l.msg === "keeper started"), 30_000)
      const url = started.metrics as string
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
      const scrape = async () => {
        const response = await fetch(url)
        expect(response.status).toBe(200)
        expect(response.headers.get("content-type")).toContain("text/plain; version=0.0.4")
        return parseMetrics(await response.text())
      }
      const safe = env.managed.address
      const subAccounts = Object.values(env.managed.subAccounts).map((s) => s.toLowerCase())
      // The keeper reads the health gauges at some block between the one before its last processed block (its step may
      // still be on that one) and now (1 s blocks). With the price fixed and no rebalance in that window, a health only
      // falls (interest accrues), so each gauge (to 6 decimals) lies between the chain's health now and at that block.
      // Sorting keeps the elementwise bounds.
      const expectGaugesFollowChain = async (m: ReturnType<typeof parseMetrics>) => {
        const from = BigInt(valueOf(m, "levpilot_block_number") as number) - 1n
        const sorted = (hs: number[]) => hs.map((h) => Number(h.toFixed(6))).sort((a, b) => a - b)
        const upper = sorted(await healths(undefined, from))
        const lower = sorted(await healths())
        const gauges = sorted(subAccounts.map((sub) => valueOf(m, "levpilot_health", { safe, sub_account: sub }) as number))
        for (const [i, g] of gauges.entries()) {
          expect(g, `gauges ${gauges} vs chain ${lower} (now) .. ${upper} (block ${from})`).toBeGreaterThanOrEqual(lower[i] as number)
          expect(g, `gauges ${gauges} vs chain ${lower} (now) .. ${upper} (block ${from})`).toBeLessThanOrEqual(upper[i] as number)
        }
      }
      // Wait until the keeper has observed a block (health gauges set).
      const before = await waitFor("health gauges", async () => {
        const m = await scrape()
        return subAccounts.every((sub) => valueOf(m, "levpilot_health", { safe, sub_account: sub }) !== undefined) ? m : undefined
      })
      expect(valueOf(before, "levpilot_rebalances_total", { safe, result: "success" })).toBe(0)
      expect(valueOf(before, "levpilot_rebalances_total", { safe, result: "reverted" })).toBe(0)
      for (const kind of ["bundler-unavailable", "paymaster-refused", "send-failed", "rpc-error"]) expect(valueOf(before, "levpilot_failures_total", { safe, kind })).toBe(0)
      expect(valueOf(before, "levpilot_reaction_latency_blocks_count")).toBe(0)
      expect(valueOf(before, "levpilot_reaction_latency_ms_count")).toBe(0)
      await expectGaugesFollowChain(before)
      for (const sub of subAccounts) expect(valueOf(before, "levpilot_sigma", { safe, sub_account: sub })).toBeGreaterThan(0)

      await shock(0.8)
      await waitFor("the rebalance's inclusion", () => jsonLines(run.stdout()).find((l) => l.msg === "rebalance included"), 40_000)
      const after = await waitFor("the rebalance counter", async () => {
        const m = await scrape()
        return valueOf(m, "levpilot_rebalances_total", { safe, result: "success" }) === 1 ? m : undefined
      })
      expect(valueOf(after, "levpilot_reaction_latency_blocks_count")).toBe(1)
      expect(valueOf(after, "levpilot_reaction_latency_ms_count")).toBe(1)
      const latencyBlocks = valueOf(after, "levpilot_reaction_latency_blocks_sum") as number
      expect(latencyBlocks).toBeGreaterThanOrEqual(0)
      expect(latencyBlocks).toBeLessThanOrEqual(5)
      expect(valueOf(after, "levpilot_reaction_latency_ms_sum")).toBeGreaterThan(0)
      expect(valueOf(after, "levpilot_reaction_latency_blocks", { quantile: "0.5" })).toBe(latencyBlocks)
      expect(valueOf(after, "levpilot_userops_sent_total", { safe, paid_by: "paymaster" })).toBe(1)
      for (const kind of ["bundler-unavailable", "paymaster-refused", "send-failed", "rpc-error"]) expect(valueOf(after, "levpilot_failures_total", { safe, kind })).toBe(0)
      // Health gauges follow the chain after the rebalance (back inside the band): once the keeper has processed two
      // blocks past the inclusion, so the gauges' window (below) holds no rebalance.
      const includedAt = (jsonLines(run.stdout()).find((l) => l.msg === "rebalance included") as { block: number }).block
      const latest = await waitFor("the keeper two blocks past the inclusion", async () => {
        const m = await scrape()
        return ((valueOf(m, "levpilot_block_number") as number | undefined) ?? 0) >= includedAt + 2 ? m : undefined
      })
      const healthAfter = subAccounts.map((sub) => valueOf(latest, "levpilot_health", { safe, sub_account: sub }) as number)
      expect(Math.min(...healthAfter)).toBeGreaterThanOrEqual(env.settings.band.min)
      await expectGaugesFollowChain(latest)
      expect(valueOf(latest, "levpilot_block_number")).toBeGreaterThan(valueOf(before, "levpilot_block_number") as number)
      // The oracle update was a volatility sample.
      for (const sub of subAccounts) expect(valueOf(latest, "levpilot_sigma_samples", { safe, sub_account: sub })).toBeGreaterThanOrEqual(1)
      expect(jsonLines(run.stdout()).some((l) => l.msg === "volatility estimate" && typeof l.sigma === "number")).toBe(true)
    } finally {
      run.child.kill("SIGTERM")
    }
    expect(await run.exited).toBe(0)
    expect(jsonLines(run.stdout()).some((l) => l.msg === "keeper stopped")).toBe(true)
  })
})
