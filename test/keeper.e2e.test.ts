import { getAddress } from "viem"
import { entryPoint07Abi } from "viem/account-abstraction"
import { privateKeyToAccount } from "viem/accounts"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { leverageModuleAbi } from "@levpilot/sdk/abis"
import { type DemoEnv, startDemoEnv } from "../bundler-client/src/devnet/env"
import { type DemoRun, runDemo } from "../bundler-client/src/devnet/run"
import { defaultScenario } from "../bundler-client/src/devnet/scenario"
import { keeperNonceKeyOf } from "./keeperProbes"

let env: DemoEnv
let run: DemoRun

beforeAll(async () => {
  env = await startDemoEnv({ blockTime: 1 })
  run = await runDemo({ env, scenario: defaultScenario(36, 0.4) })
})

afterAll(async () => {
  await env?.stop()
})

describe("keeper end to end on anvil + Alto + paymaster", () => {
  test("a crash takes the unmanaged twin into liquidation while the managed Safe stays healthy", () => {
    const twinLiquidations = run.liquidations.filter((l) => l.label === "twin")
    expect(twinLiquidations.length).toBeGreaterThan(0)
    expect(run.liquidations.filter((l) => l.label === "managed")).toEqual([])
    const managedMin = Math.min(...run.steps.flatMap((s) => Object.values(s.positions.managed).map((p) => p.health)))
    expect(managedMin).toBeGreaterThan(1.1)
    const last = run.steps.at(-1)
    for (const p of Object.values(last?.positions.managed ?? {})) expect(p.debt).toBeGreaterThan(0)
  })

  test("every rebalance is a UserOperation included by Alto and paid by the paymaster", async () => {
    expect(run.rebalances.length).toBeGreaterThanOrEqual(2)
    const events = await env.publicClient.getContractEvents({
      address: env.devnet.addresses.entryPoint,
      abi: entryPoint07Abi,
      eventName: "UserOperationEvent",
      args: { sender: env.managed.address },
      fromBlock: BigInt(run.steps[0]?.block ?? 0) - 1n,
    })
    const key = await keeperNonceKeyOf(env)
    const keeperOps = events.filter((e) => (e.args.nonce ?? 0n) >> 64n === key)
    expect(keeperOps.length).toBe(run.rebalances.length)
    for (const op of keeperOps) {
      expect(op.args.success).toBe(true)
      expect(getAddress(op.args.paymaster as string)).toBe(env.devnet.addresses.verifyingPaymaster)
    }
    const rebalanced = await env.publicClient.getContractEvents({
      address: env.stack.leverageModule,
      abi: leverageModuleAbi,
      eventName: "Rebalanced",
      fromBlock: BigInt(run.steps[0]?.block ?? 0) - 1n,
    })
    expect(rebalanced.length).toBe(keeperOps.length)
    const bundlers = new Set<string>()
    for (const op of keeperOps) bundlers.add((await env.publicClient.getTransaction({ hash: op.transactionHash })).from.toLowerCase())
    expect([...bundlers]).toEqual([privateKeyToAccount(env.devnet.keys.bundlerExecutor).address.toLowerCase()])
  })

  test("each operation sent was included once, without alerts, within two blocks of the trigger", () => {
    expect(run.alerts).toEqual([])
    expect(run.sent).toBe(run.rebalances.length)
    const latencies = run.rebalances.map((r) => r.latencyBlocks).sort((a, b) => a - b)
    expect(latencies[Math.floor(latencies.length / 2)]).toBeLessThanOrEqual(2)
    expect(run.metricsText).toContain("levpilot_rebalances_total")
  })
})
