import { spawn } from "node:child_process"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { type Hex, decodeFunctionData, getAddress, hexToBigInt } from "viem"
import { entryPoint07Abi } from "viem/account-abstraction"
import { leverageModuleAbi } from "@levpilot/sdk/abis"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { type DemoEnv, startDemoEnv } from "../bundler-client/src/devnet/env"
import { demoKeeperConfig, demoKeeperConfigJson } from "../bundler-client/src/devnet/keeperConfig"
import { PriceDriver } from "../bundler-client/src/devnet/scenario"
import { Keeper } from "../bundler-client/src/keeper/keeper"
import { collectKeeperEvents, demoProbes, priceShocks, rpc, waitFor } from "./keeperProbes"
import { type KeeperState, KeeperStateStore } from "../bundler-client/src/keeper/stateFile"

let env: DemoEnv
let driver: PriceDriver
const dir = mkdtempSync(join(tmpdir(), "levpilot-faults-"))

const { waitBlocks, healths, netValue, keeperOps } = demoProbes(() => env)

const { shock } = priceShocks(() => driver)


beforeAll(async () => {
  env = await startDemoEnv({ blockTime: 1, twin: false })
  driver = new PriceDriver(env)
})

afterAll(async () => {
  await env?.stop()
})

describe("keeper faults", () => {
  test("Alto stopped and restarted mid-run: the keeper alerts, backs off, and rebalances once Alto is back", async () => {
    const { events, onEvent } = collectKeeperEvents()
    const keeper = new Keeper(demoKeeperConfig(env, { stateFile: join(dir, "alto.json") }), { chain: env.devnet.chain, onEvent })
    await keeper.start()
    try {
      const alto = env.devnet.alto
      if (!alto) throw new TypeError("no bundler")
      await alto.stop()
      const from = await shock(0.8)
      const before = await netValue()
      expect(Math.min(...(await healths()))).toBeLessThan(env.settings.band.min)
      await waitFor("a bundler-unavailable alert", () => events.find((e) => e.type === "alert" && e.kind === "bundler-unavailable"))
      await waitBlocks(2)
      expect(await keeperOps(from)).toEqual([])
      await alto.restart()
      const included = await waitFor("inclusion after the restart", () => events.find((e) => e.type === "included"), 40_000)
      expect(included.type === "included" && included.success).toBe(true)
      const ops = await keeperOps(from)
      expect(ops).toHaveLength(1)
      expect(Math.min(...(await healths()))).toBeGreaterThanOrEqual(env.settings.band.min)
      expect(await netValue()).toBeGreaterThan(before * 0.995)
      expect(keeper.metrics.value("levpilot_failures_total", { safe: env.managed.address, kind: "bundler-unavailable" })).toBeGreaterThan(0)
    } finally {
      await keeper.stop()
    }
  })

  test("the paymaster refuses: without self-pay the keeper alerts and sends nothing; with self-pay allowed the Safe pays", async () => {
    const strict = collectKeeperEvents()
    const keeper = new Keeper(demoKeeperConfig(env, { allowSelfPay: false }), { chain: env.devnet.chain, onEvent: strict.onEvent })
    env.paymaster.setSponsoring(false)
    await keeper.start()
    let from: bigint
    try {
      from = await shock(0.8)
      await waitFor("a paymaster-refused alert", () => strict.events.find((e) => e.type === "alert" && e.kind === "paymaster-refused"))
      await waitBlocks(3)
      expect(await keeperOps(from)).toEqual([])
      expect(strict.events.filter((e) => e.type === "sent")).toEqual([])
    } finally {
      await keeper.stop()
    }

    const lenient = collectKeeperEvents()
    const selfPaying = new Keeper(demoKeeperConfig(env, { allowSelfPay: true }), { chain: env.devnet.chain, onEvent: lenient.onEvent })
    const safeBalance = await env.publicClient.getBalance({ address: env.managed.address })
    const budgetBefore = await env.publicClient.readContract({ address: env.deployment.leverageModule, abi: leverageModuleAbi, functionName: "getSelfPayBudget", args: [env.managed.address] })
    await selfPaying.start()
    try {
      const included = await waitFor("a self-paid inclusion", () => lenient.events.find((e) => e.type === "included"))
      expect(included.type === "included" && included.success && included.paymaster).toBe(undefined)
      expect(lenient.events.some((e) => e.type === "alert" && e.kind === "paymaster-refused")).toBe(true)
      const ops = await keeperOps(from)
      expect(ops).toHaveLength(1)
      expect(ops[0]?.args.paymaster).toBe("0x0000000000000000000000000000000000000000")
      expect(await env.publicClient.getBalance({ address: env.managed.address })).toBeLessThan(safeBalance)
      // Estimated and padded, not fixed 3.05M limits: the budget is charged at the limits x maxFeePerGas, so the charge
      // over the actual cost is (limits / gas used) x (maxFeePerGas / effective price). Limits at most 1.6x the gas used.
      const op = ops[0]?.args
      const { transactionHash } = ops[0] as { transactionHash: Hex }
      const tx = await env.publicClient.getTransaction({ hash: transactionHash })
      const [packed] = (decodeFunctionData({ abi: entryPoint07Abi, data: tx.input }).args?.[0] ?? []) as readonly { accountGasLimits: Hex; preVerificationGas: bigint }[]
      const limits = hexToBigInt(packed?.accountGasLimits ?? "0x0")
      const totalLimit = (limits >> 128n) + (limits & ((1n << 128n) - 1n)) + (packed?.preVerificationGas ?? 0n)
      expect(totalLimit).toBeLessThan(3_050_000n)
      expect(Number(totalLimit) / Number(op?.actualGasUsed)).toBeLessThan(1.6)
      const budgetAfter = await env.publicClient.readContract({ address: env.deployment.leverageModule, abi: leverageModuleAbi, functionName: "getSelfPayBudget", args: [env.managed.address] })
      const charged = budgetAfter.epoch === budgetBefore.epoch ? budgetAfter.spentWei - budgetBefore.spentWei : budgetAfter.spentWei
      expect(charged).toBeGreaterThan(0n)
      console.info(`self-paid op: limits ${totalLimit} gas, used ${op?.actualGasUsed}, budget charged ${charged} wei for ${op?.actualGasCost} wei`)
      expect(Math.min(...(await healths()))).toBeGreaterThanOrEqual(env.settings.band.min)
    } finally {
      await selfPaying.stop()
      env.paymaster.setSponsoring(true)
    }
  })

  test("the paymaster does not answer (HTTP 503; a timeout or a refused connection is classified alike): alert paymaster-unavailable, never paymaster-refused; nothing sent without self-pay; one sponsored op once it answers", async () => {
    let down = true
    const proxy = createServer((request, response) => {
      const chunks: Buffer[] = []
      request.on("data", (c: Buffer) => chunks.push(c))
      request.on("end", () => {
        if (down) {
          response.writeHead(503).end("unavailable")
          return
        }
        fetch(env.paymaster.url, { method: "POST", headers: { "content-type": "application/json" }, body: Buffer.concat(chunks) })
          .then(async (r) => response.writeHead(r.status, { "content-type": "application/json" }).end(await r.text()))
          .catch(() => response.writeHead(502).end())
      })
    })
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r))
    const { events, onEvent } = collectKeeperEvents()
    const keeper = new Keeper(demoKeeperConfig(env, { allowSelfPay: false, paymasterUrl: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` }), { chain: env.devnet.chain, onEvent })
    await keeper.start()
    try {
      const from = await shock(0.8)
      await waitFor("a paymaster-unavailable alert", () => events.find((e) => e.type === "alert" && e.kind === "paymaster-unavailable"))
      await waitBlocks(3)
      expect(await keeperOps(from)).toEqual([])
      expect(events.filter((e) => e.type === "sent")).toEqual([])
      expect(events.filter((e) => e.type === "alert" && e.kind === "paymaster-refused")).toEqual([])
      down = false
      const included = await waitFor("a sponsored inclusion once the paymaster answers", () => events.find((e) => e.type === "included"), 40_000)
      expect(included.type === "included" && included.success && included.paymaster).toBe(env.devnet.addresses.verifyingPaymaster)
      expect(await keeperOps(from)).toHaveLength(1)
      expect(keeper.metrics.value("levpilot_failures_total", { safe: env.managed.address, kind: "paymaster-unavailable" })).toBeGreaterThan(0)
      expect(keeper.metrics.value("levpilot_failures_total", { safe: env.managed.address, kind: "paymaster-refused" })).toBe(0)
    } finally {
      await keeper.stop()
      proxy.close()
    }
  })

  test("the keeper is killed between sending and inclusion and the op is dropped: the restarted keeper resubmits the same nonce, executed once", async () => {
    const stateFile = join(dir, "killed.json")
    const configPath = join(dir, "keeper.json")
    writeFileSync(configPath, JSON.stringify(demoKeeperConfigJson(env, { stateFile, logLevel: "info", resubmitAfterBlocks: 2 })))
    await rpc(env.devnet.bundlerUrl, "debug_bundler_setBundlingMode", ["manual"])
    const from = await shock(0.8)
    const before = await netValue()
    const child = spawn(process.execPath, [resolve(import.meta.dirname, "../bundler-client/bin/levpilot.mjs"), "keeper", "--config", configPath], { stdio: ["ignore", "pipe", "pipe"] })
    let logs = ""
    child.stdout.on("data", (chunk: Buffer) => {
      logs += chunk.toString()
    })
    const exited = new Promise((done) => child.once("exit", done))
    await waitFor("the keeper process to send", () => logs.includes('"msg":"rebalance sent"') || undefined, 40_000)
    child.kill("SIGKILL")
    await exited
    // The snapshot and the journal lines after it (a killed keeper: its last changes are in the journal only).
    const persisted = KeeperStateStore.read(stateFile) as KeeperState
    const pending = KeeperStateStore.pendingIn(persisted, env.managed.address)
    expect(pending?.userOpHash).toMatch(/^0x[0-9a-f]{64}$/)
    expect(await keeperOps(from)).toEqual([])

    await rpc(env.devnet.bundlerUrl, "debug_bundler_clearState", [])
    await rpc(env.devnet.bundlerUrl, "debug_bundler_setBundlingMode", ["auto"])
    const { events, onEvent } = collectKeeperEvents()
    const restarted = new Keeper(demoKeeperConfig(env, { stateFile, resubmitAfterBlocks: 2 }), { chain: env.devnet.chain, onEvent })
    await restarted.start()
    try {
      const included = await waitFor("inclusion after the restart", () => events.find((e) => e.type === "included"), 40_000)
      expect(included.type === "included" && included.success).toBe(true)
      const resent = events.filter((e) => e.type === "sent")
      expect(resent).toHaveLength(1)
      expect(resent[0]?.type === "sent" && resent[0].nonce).toBe(BigInt(pending?.nonce as string))
      expect(resent[0]?.type === "sent" && resent[0].attempt).toBe(2)
      await waitBlocks(2)
      const ops = await keeperOps(from)
      expect(ops).toHaveLength(1)
      expect(ops[0]?.args.nonce).toBe(BigInt(pending?.nonce as string))
      expect(restarted.pending(env.managed.address)).toBeUndefined()
      expect(Math.min(...(await healths()))).toBeGreaterThanOrEqual(env.settings.band.min)
      expect(await netValue()).toBeGreaterThan(before * 0.995)
    } finally {
      await restarted.stop()
    }
  })

  test("the keeper is killed after sending and the op survives: the restarted keeper waits for it and sends nothing new", async () => {
    const stateFile = join(dir, "survives.json")
    const { events: first, onEvent: onFirst } = collectKeeperEvents()
    await rpc(env.devnet.bundlerUrl, "debug_bundler_setBundlingMode", ["manual"])
    const keeper = new Keeper(demoKeeperConfig(env, { stateFile, resubmitAfterBlocks: 50 }), { chain: env.devnet.chain, onEvent: onFirst })
    await keeper.start()
    const from = await shock(0.8)
    const sent = await waitFor("a send", () => first.find((e) => e.type === "sent"))
    await keeper.stop()
    const { events, onEvent } = collectKeeperEvents()
    const restarted = new Keeper(demoKeeperConfig(env, { stateFile, resubmitAfterBlocks: 50 }), { chain: env.devnet.chain, onEvent })
    await restarted.start()
    try {
      await waitBlocks(2)
      expect(await keeperOps(from)).toEqual([])
      await rpc(env.devnet.bundlerUrl, "debug_bundler_setBundlingMode", ["auto"])
      const included = await waitFor("inclusion", () => events.find((e) => e.type === "included"), 40_000)
      expect(included.type === "included" && sent.type === "sent" && included.userOpHash).toBe(sent.type === "sent" ? (sent.userOpHash as Hex) : undefined)
      expect(events.filter((e) => e.type === "sent")).toEqual([])
      const ops = await keeperOps(from)
      expect(ops).toHaveLength(1)
      expect(getAddress(ops[0]?.args.paymaster as string)).toBe(env.devnet.addresses.verifyingPaymaster)
    } finally {
      await restarted.stop()
    }
  })
})
