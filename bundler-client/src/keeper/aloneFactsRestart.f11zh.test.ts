import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Hex } from "viem"
import { expect, test } from "vitest"
import { ValueLossExceededError } from "@levpilot/sdk/errors"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { ClampRuleRefusedError } from "./errors.js"
import { decodeShared, encodeShared } from "./fleet/store.js"
import { portfolioOf } from "./portfolio.js"
import { ALONE_FACT_BLOCKS, type AloneTable, newSafeRuntime, restoreAloneTable } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import { KeeperStateStore } from "./stateFile.js"
import { SAFE, STEP_RISK, USDC, chainRuleRefused, stepHarness, stepSafeState, stepSub } from "./testing.js"

// f11zh (issue 11, rr11z "not covered": a restart): the alone table (`SafeRuntime.aloneFacts`) is persisted in the
// single-process keeper's state file, bound to its scope (chain, EntryPoint, module, keeper key). Fixture (f11q's): X's
// plan alone is refused plan-wide by the chain's simulation (ValueLossExceeded) in every block, I's is accepted and sent in
// every block (it never lands: the fixture keeps it below its band). X is found refused alone at block 100.
const X = `0x${"a1".repeat(32)}` as Hex
const I = `0x${"b1".repeat(32)}` as Hex
const WAD = 10n ** 18n
const SCOPE = { chainId: 1, entryPoint: "0x0000000071727De22E5E9d8BAf0edAc6f37da032", module: "0x00000000000000000000000000000000000000d1", keeper: "0x00000000000000000000000000000000000000e1" } as const

/**
 * Steps blocks `from`..`to` with one keeper process (one store read from `path`, one runtime), X refused plan-wide in any
 * plan holding it.
 *
 * @returns The sends ("block ids"), the alerts ("block kind") and the runtime.
 */
async function keeperProcess(path: string, from: number, to: number) {
  const sent: string[] = []
  const sender = {
    send: async (_rt: unknown, b: bigint, plan: ChainPlan) => {
      sent.push(`${b} ${plan.subAccounts.map((id) => id.slice(2, 4)).join(",")}`)
      if (plan.subAccounts.some((id) => id.toLowerCase() === X)) throw new ValueLossExceededError({ loss: 2_000n * WAD, moved: 50_000n * WAD, maxLossBps: 300n })
    },
  }
  const store = new KeeperStateStore(path)
  store.bind(SCOPE)
  const { step, events } = stepHarness(undefined, { sender, store })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  for (let b = from; b <= to; b++) {
    const snapshot = portfolioOf(stepSafeState([stepSub(X, USDC, 1.01, "below"), stepSub(I, USDC, 1.04, "below")]) as never, { blockNumber: BigInt(b), timestamp: 1_700_000_000n + 12n * BigInt(b - 100), risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
    rt.backoffUntil = 0
    await step.run(rt, BigInt(b), { snapshot })
  }
  // The process stops (the keeper's stop closes the store: its lock released for the next process).
  store.close()
  return { sent, alerts: events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}`] : [])), rt }
}

const stateFile = () => join(mkdtempSync(join(tmpdir(), "f11zh-")), "state.json")
const at = (sent: readonly string[], b: number) => sent.filter((s) => s.startsWith(`${b} `))

test("f11zh (FAILS before f11zh: 3 sends at 101, X probed again): a keeper that learned X refused alone at 100 and restarted at 101 leaves X out without a probe, and X rejoins at 103 as without the restart", async () => {
  // Reference: one process, blocks 100-104.
  const one = await keeperProcess(stateFile(), 100, 104)
  // Restarted: one process for block 100, a new one (new runtime and SafeStep, the same state file) from 101.
  const path = stateFile()
  const before = await keeperProcess(path, 100, 100)
  const after = await keeperProcess(path, 101, 104)
  const restarted = [...before.sent, ...after.sent]
  expect(at(one.sent, 100)).toEqual(["100 a1,b1", "100 a1", "100 b1"])
  // 101: X left out up front from the restored table: 1 send (was 3: [X, I] refused, X alone refused, [I]).
  expect(at(restarted, 101)).toEqual(["101 b1"])
  expect(restarted).toEqual(one.sent)
  // X rejoins ALONE_FACT_BLOCKS after it was found (103), isolated last behind [I], then owed its test alone (104).
  const rejoin = 100 + Number(ALONE_FACT_BLOCKS)
  expect(at(restarted, rejoin)).toEqual([`${rejoin} a1,b1`, `${rejoin} b1`])
  expect(at(restarted, rejoin + 1)).toEqual([`${rejoin + 1} a1`, `${rejoin + 1} b1`])
  expect(chainRuleRefused(after.rt)).toEqual([X])
  // Sends over 101-104: the same as one process (8), not one probe more.
  expect(after.sent.length).toBe(one.sent.length - 3)
  // The alert memory (`ruleRefused`) is not persisted: the restarted process alerts X's run once more, at 101.
  expect(one.alerts).toEqual(["100 nothing-to-send"])
  expect([...before.alerts, ...after.alerts]).toEqual(["100 nothing-to-send", "101 nothing-to-send"])
})

test("f11zh: the persisted table is bound to the keeper's scope, bigints as strings, the refusal reduced to its rule; entries past their window are dropped at load", async () => {
  const path = stateFile()
  await keeperProcess(path, 100, 100)
  // The snapshot and the journal lines after it (review rr11za A2: changes are journaled, the snapshot is per block).
  const file = KeeperStateStore.read(path) as { scopes: Record<string, { safes: Record<string, { aloneFacts?: unknown }> }> }
  const key = `${SCOPE.chainId}:${SCOPE.entryPoint.toLowerCase()}:${SCOPE.module}:${SCOPE.keeper}`
  const saved = file.scopes[key]?.safes[SAFE.toLowerCase()]?.aloneFacts
  expect(saved).toBeDefined()
  expect(JSON.stringify(saved)).toContain('"$bigint":"100"')
  const table = decodeShared(saved) as AloneTable
  const x = table.facts.get(X)
  expect(x).toMatchObject({ verdict: "refused", cause: "chain-rule", block: 100n, seen: 100n, key: X })
  expect(x?.error).toBeInstanceOf(ClampRuleRefusedError)
  expect(x?.error).toMatchObject({ rule: "ValueLossExceeded", stage: "simulation", subAccount: X, safe: SAFE })
  // Another scope (the same Safe on another chain) reads nothing.
  const other = new KeeperStateStore(path, { readOnly: true })
  other.bind({ ...SCOPE, chainId: 2 })
  expect(other.aloneFacts(SAFE)).toBeUndefined()
  // At load: kept through 100 + ALONE_FACT_BLOCKS - 1, dropped from 100 + ALONE_FACT_BLOCKS (its window ended).
  expect([...(restoreAloneTable(decodeShared(saved) as AloneTable, 100n + ALONE_FACT_BLOCKS - 1n)?.facts.keys() ?? [])]).toEqual([X])
  expect(restoreAloneTable(decodeShared(saved) as AloneTable, 100n + ALONE_FACT_BLOCKS)).toBeUndefined()
  // A restart at the expiry plans X with the others at once (no left-out block more).
  const late = await keeperProcess(path, 100 + Number(ALONE_FACT_BLOCKS), 100 + Number(ALONE_FACT_BLOCKS))
  expect(late.sent[0]).toBe(`${100 + Number(ALONE_FACT_BLOCKS)} a1,b1`)
})

test("f11zh: a size entry (gas-cap, derived bound) and the outage survive the state file's tagged JSON exactly", () => {
  const t: AloneTable = {
    facts: new Map([
      ["0x02", { verdict: "refused" as const, block: 100n, seen: 101n, cause: "gas-cap" as const, reason: "", field: "callGasLimit", estimate: 2_300_000n, cap: 1_500_000n, derived: true as const, ratio: 0.93 }],
      ["0x03", { verdict: "accepted" as const, block: 100n, seen: 100n, cause: "ambiguous" as const, reason: "Max retries", answer: "Max retries", size: 4 }],
    ]),
    outage: 99n,
  }
  const back = decodeShared(JSON.parse(JSON.stringify(encodeShared(t)))) as AloneTable
  expect(back).toEqual(t)
  // Restored at 104: the refused entry, last seen at 101, is kept (seen + ALONE_FACT_BLOCKS); the accepted one learned at
  // 100 and the outage of 99 are past ALONE_FACT_BLOCKS: dropped.
  const restored = restoreAloneTable(back, 104n)
  expect([...(restored?.facts.keys() ?? [])]).toEqual(["0x02"])
  expect(restored?.outage).toBeUndefined()
})
