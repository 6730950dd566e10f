import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import type { Address, Hex } from "viem"
import { afterEach, expect, test, vi } from "vitest"
import { ClampRuleRefusedError } from "./errors.js"
import { encodeShared } from "./fleet/store.js"
import { type PendingOperation, KeeperStateStore } from "./stateFile.js"

// Review rr11za A2 (issue 11 "the worst minute": a crash where every Safe of a single-process keeper sends). Before the
// fix the state file was one JSON document holding every Safe, and `KeeperStateStore.write` serialized and rewrote ALL
// of it, synchronously (writeFileSync + renameSync on the event loop), at every `setPending` (intent, then hash: 2 per
// send) and at every `setAloneFacts` whose table changed. One block in which N Safes send and learn: 3N full rewrites,
// each O(N) bytes: O(N^2) bytes and event-loop time per block. Fixed: one journal line per change, one snapshot per
// block (`flush`). Measured here whatever the implementation: every byte handed to the file system by the store (the
// `node:fs` and `node:fs/promises` writes are counted, not the store's own figures), and the event loop's busy time over
// the block (`performance.eventLoopUtilization`: the store's calls and its flush, waited for). Run against the code
// before the fix (its `stateFile.ts`) the linear bound fails (20 -> 200 Safes: x99.8 the bytes).
const written = { bytes: 0 }
const size = (data: unknown) => (typeof data === "string" ? Buffer.byteLength(data) : ArrayBuffer.isView(data) ? data.byteLength : 0)
vi.mock("node:fs", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs")>()
  const counted =
    <F extends (...args: never[]) => unknown>(f: F, at: number) =>
    (...args: Parameters<F>) => {
      written.bytes += size(args[at])
      return f(...args)
    }
  const mocked = { ...fs, writeFileSync: counted(fs.writeFileSync, 1), appendFileSync: counted(fs.appendFileSync, 1), writeSync: counted(fs.writeSync as never, 1) }
  return { ...mocked, default: mocked }
})
vi.mock("node:fs/promises", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs/promises")>()
  const counted =
    <F extends (...args: never[]) => Promise<unknown>>(f: F) =>
    (...args: Parameters<F>) => {
      written.bytes += size(args[1])
      return f(...args)
    }
  const mocked = { ...fs, writeFile: counted(fs.writeFile), appendFile: counted(fs.appendFile) }
  return { ...mocked, default: mocked }
})

const SCOPE = { chainId: 1, entryPoint: "0x0000000071727De22E5E9d8BAf0edAc6f37da032", module: "0x00000000000000000000000000000000000000d1", keeper: "0x00000000000000000000000000000000000000e1" } as const
const X = `0x${"a1".repeat(32)}` as Hex

const pending = (hash: Hex | undefined): PendingOperation => ({ userOpHash: hash, nonce: "123456789012345678901234567890", sentBlock: "100", firstSentBlock: "100", subAccounts: [X], sentAt: 1, maxFeePerGas: "1000000000", maxPriorityFeePerGas: "1000000", sponsored: false, attempts: 1, triggerBlock: "100", triggerAt: 1 })
const table = (safe: Address, seen: bigint) =>
  encodeShared({ facts: new Map([[X, { verdict: "refused", cause: "chain-rule", block: 100n, seen, reason: "refused alone", key: X, error: new ClampRuleRefusedError({ safe, rule: "ValueLossExceeded", args: [1n, 2n, 3n], binding: [], subAccount: X, stage: "simulation" }) }]]) })
/** The store's per-block snapshot, when it has one (the code before the fix wrote at every call and had none). */
const flush = (store: KeeperStateStore) => (store as { flush?: () => Promise<void> }).flush?.()

/**
 * One block in which `n` Safes (each with a record from the block before) send once (intent, hash) and change their
 * alone table, then the block's snapshot.
 *
 * @returns Bytes written to the file system in the block, and the event loop's busy time over it (ms).
 */
async function oneBlock(n: number): Promise<{ bytes: number; busyMs: number }> {
  const store = new KeeperStateStore(join(mkdtempSync(join(tmpdir(), "rr11za-")), "state.json"))
  store.bind(SCOPE)
  const safes = Array.from({ length: n }, (_, k) => `0x${(k + 1).toString(16).padStart(40, "0")}` as Address)
  for (const s of safes) {
    store.setPending(s, pending(`0x${"ab".repeat(32)}`))
    store.setAloneFacts(s, table(s, 100n))
  }
  await flush(store)
  written.bytes = 0
  const before = performance.eventLoopUtilization()
  for (const s of safes) {
    store.setPending(s, pending(undefined))
    store.setPending(s, pending(`0x${"cd".repeat(32)}`))
    store.setAloneFacts(s, table(s, 101n))
  }
  await flush(store)
  const busyMs = performance.eventLoopUtilization(before).active
  const bytes = written.bytes
  ;(store as { close?: () => void }).close?.()
  // What was written is what a restart reads.
  const back = new KeeperStateStore(store.path)
  back.bind(SCOPE)
  expect(back.pending(safes[n - 1] as Address)?.userOpHash).toBe(`0x${"cd".repeat(32)}`)
  expect(JSON.stringify(back.aloneFacts(safes[0] as Address))).toBe(JSON.stringify(table(safes[0] as Address, 101n)))
  return { bytes, busyMs }
}

afterEach(() => vi.restoreAllMocks())

test("rr11za A2 (fixed; before: 200 Safes 600 full rewrites of the whole file in one block, 10x the Safes = 99.8x the bytes): the bytes written per block grow linearly with the Safes", async () => {
  const small = await oneBlock(20)
  const large = await oneBlock(200)
  expect(large.bytes).toBeGreaterThan(0)
  // Linear: 10x the Safes, at most ~10x (x12 for slack) the bytes. Before the fix ~100x.
  expect(large.bytes / small.bytes).toBeLessThanOrEqual(12)
})

test("rr11za A2 (measurement, printed): bytes and event-loop busy time of one block at 100 and 1,000 Safes", async () => {
  const sizes = (process.env.RR11ZA_SIZES ?? "100,1000").split(",").map(Number)
  const rows: string[] = []
  const results: { n: number; bytes: number; busyMs: number }[] = []
  for (const n of sizes) {
    const r = await oneBlock(n)
    results.push({ n, ...r })
    rows.push(`${n} Safes: ${r.bytes} bytes (${(r.bytes / n).toFixed(0)} per Safe), event loop busy ${r.busyMs.toFixed(1)} ms`)
  }
  console.log(`rr11za A2, one block (intent + hash + alone table per Safe, then the snapshot):\n${rows.join("\n")}`)
  const first = results[0] as { n: number; bytes: number }
  const last = results.at(-1) as { n: number; bytes: number }
  // Linear in the Safes (x1.2 slack).
  if (last.n > first.n) expect(last.bytes / first.bytes).toBeLessThanOrEqual((1.2 * last.n) / first.n)
}, 900_000)
