import { mkdtempSync, readFileSync, readdirSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { pino } from "pino"
import { type Address, getAddress } from "viem"
import { describe, expect, test } from "vitest"
import type { KeeperEvent } from "../events.js"
import { KeeperMetrics } from "../metrics.js"
import { type KeeperState, KeeperStateStore, type PendingOperation } from "../stateFile.js"
import { SAFE, STEP_RISK } from "../testing.js"
import { MemoryFleetStore } from "./store.js"
import { fleetStepOf, stateOf } from "./scan.testing.js"

// Review rr16b (issue 16, f16c's F5 drop and F6's dry-run isolation). P1 (Medium-Low): rr16 F6 moved a `--dry-run`
// fleet node (queue mode) to its own Redis namespace, but the embedded fleet keeper (`levpilot keeper --dry-run` on a
// fleet config without a queue: MemoryFleetStore over `config.stateFile`) still shares the production keeper's state
// file, and f16c's F5 rule (a revoked key's unused operation is dropped) runs in dry-run too: it calls setPending, which
// rewrites the WHOLE file from the dry-run process's copy loaded at its start. A dry-run preview started while the
// production embedded keeper runs thus (a) deletes production's in-flight record of the revoked Safe from disk and
// (b) erases every record production wrote since the preview started. Production's memory is unaffected until it
// restarts (or its next write restores the file); a production restart in between loses those intents, and its next
// step sends again at the chain nonce while the first operation is still in the bundler (rr16: answered AA25 and
// tracked; a same-nonce replacement at most one of which lands). A dry run should never write the production state.

const NONCE = (5n << 64n) | 3n
const OTHER = getAddress("0x0000000000000000000000000000000000000b0b")
const record = (nonce: bigint): PendingOperation => ({
  userOpHash: `0x${"ab".repeat(32)}`, nonce: nonce.toString(), sentBlock: "100", firstSentBlock: "100", sentAt: 0, maxFeePerGas: "1", maxPriorityFeePerGas: "1",
  sponsored: true, attempts: 1, triggerBlock: "100", triggerAt: 0,
})
const scope = { chainId: 1, entryPoint: "0x0000000071727De22E5E9d8BAf0edAc6f37da032", module: "0x00000000000000000000000000000000000000d1", keeper: "0x00000000000000000000000000000000000000a1" } as const

async function run() {
  const path = join(mkdtempSync(join(tmpdir(), "rr16b-")), "state.json")
  // Production (embedded keeper) has SAFE's operation in flight.
  const production = new KeeperStateStore(path)
  production.bind(scope as never)
  production.setPending(SAFE as Address, record(NONCE))
  // The dry-run preview starts on the same configuration (same stateFile).
  const events: KeeperEvent[] = []
  const logger = pino({ level: "silent" })
  const metrics = new KeeperMetrics()
  // As FleetKeeper wires a dry run: read only (no lock: production holds it, review rr11zc C4).
  const store = new MemoryFleetStore(new KeeperStateStore(path, { readOnly: true }))
  store.bind(scope as never)
  // Meanwhile production sends for OTHER (intent written first, as the sender does).
  production.setPending(OTHER, record((7n << 64n) | 1n))
  const config = { deployment: { entryPoint: scope.entryPoint, adapters: {} }, resubmitAfterBlocks: 4, stallAfterBlocks: 12, logWindowBlocks: 2_000, fleet: { sendConcurrency: 1 }, safes: [], risk: STEP_RISK }
  const step = fleetStepOf({ config, publicClient: { getBlockNumber: async () => 101n, getLogs: async () => [] }, store, metrics, logger, events, dryRun: true })
  // SAFE's owner revoked the key (the operation's nonce unused).
  const revoked = { ...stateOf(SAFE as Address), keeperKey: { active: false, validAfter: 0, validUntil: 2 ** 40, keyGeneration: 5, ttl: 0 }, keeperNonce: NONCE }
  // Everything the state file is made of on disk (snapshot, journal files: review rr11za A2), names and contents.
  const files = () => JSON.stringify(readdirSync(dirname(path)).sort().map((name) => [name, readFileSync(join(dirname(path), name), "utf8")]))
  const before = files()
  await step.run({ safe: SAFE as Address, block: 101n, timestamp: 1_000n, state: revoked as never, userOps: [] })
  // A snapshot of the dry-run process's store writes nothing either: it changed nothing (the dry-run step keeps its writes).
  await (store as { flush?: () => Promise<void> }).flush?.()
  const onDisk = KeeperStateStore.read(path) as KeeperState
  return { before, after: files(), onDisk, alerts: events.filter((e) => e.type === "alert").map((e) => (e as { kind: string }).kind) }
}

describe("rr16b P1: an embedded --dry-run fleet keeper rewrites the production state file", () => {
  test("fixed (f16d): the dry-run step alerts and drops SAFE's record in its own memory; the file keeps SAFE's and OTHER's records", async () => {
    const { onDisk, alerts } = await run()
    expect(alerts).toEqual(["key-revoked"])
    expect(KeeperStateStore.pendingIn(onDisk, SAFE as Address)?.nonce).toBe(NONCE.toString())
    expect(KeeperStateStore.pendingIn(onDisk, OTHER)?.nonce).toBe(((7n << 64n) | 1n).toString())
  })

  test("was FAILS TODAY: a dry run leaves the state file as production wrote it", async () => {
    const { before, after } = await run()
    expect(after).toBe(before)
  })
})
