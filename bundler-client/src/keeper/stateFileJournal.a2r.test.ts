import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Address, Hex } from "viem"
import { describe, expect, test, vi } from "vitest"
import { type PendingOperation, KeeperStateStore, StateSnapshots, journalPath, reportStateFileOpened, scopeKey } from "./stateFile.js"
import { killWriter } from "./testing.js"

// Review rr11za A2's fix: the state file is a snapshot (one write per block, `flush`) plus an append-only journal (one
// line per change, written before `setPending` / `setAloneFacts` return). What a crash leaves must read back.

const SCOPE = { chainId: 1, entryPoint: "0x0000000071727De22E5E9d8BAf0edAc6f37da032", module: "0x00000000000000000000000000000000000000d1", keeper: "0x00000000000000000000000000000000000000e1" } as const
const A = "0x00000000000000000000000000000000000000a1" as Address
const B = "0x00000000000000000000000000000000000000b1" as Address
const C = "0x00000000000000000000000000000000000000c1" as Address
const op = (nonce: number, hash?: Hex): PendingOperation => ({ userOpHash: hash, nonce: String(nonce), sentBlock: "100", firstSentBlock: "100", sentAt: 1, maxFeePerGas: "1000", maxPriorityFeePerGas: "10", sponsored: true, attempts: 1, triggerBlock: "100", triggerAt: 1 })
const fresh = () => join(mkdtempSync(join(tmpdir(), "a2r-")), "state.json")
/**
 * A new process on the same file: what a restart reads (the old store is neither flushed nor closed: killed, its lock
 * left naming a pid that no longer runs, taken over by the new store).
 */
const restart = (path: string) => {
  killWriter(path)
  const store = new KeeperStateStore(path)
  store.bind(SCOPE)
  return store
}

describe("KeeperStateStore journal (review rr11za A2)", () => {
  test("a crash after the intent's journal line, before any snapshot: the restart has the intent (and the alone table)", () => {
    const path = fresh()
    const store = restart(path)
    store.setAloneFacts(A, { $tag: "table", seen: "100" })
    store.setPending(A, op(7))
    // Killed before the block's snapshot: no snapshot file, the journal only.
    expect(existsSync(path)).toBe(false)
    const after = restart(path)
    expect(after.pending(A)).toEqual(op(7))
    expect(after.aloneFacts(A)).toEqual({ $tag: "table", seen: "100" })
    expect(after.journal).toEqual({ replayed: 2, ignored: 0 })
    expect(KeeperStateStore.read(path)?.scopes[scopeKey(SCOPE)]?.safes[A.toLowerCase()]?.pending).toEqual(op(7))
  })

  test("a snapshot, then changes journaled after it, then a crash: the restart has the snapshot plus the later lines, covered journal files deleted", async () => {
    const path = fresh()
    const store = restart(path)
    store.setPending(A, op(1, `0x${"aa".repeat(32)}`))
    store.setPending(B, op(2))
    await store.flush()
    const snapshot = JSON.parse(readFileSync(path, "utf8")) as { journal: number }
    // New lines go to generation `journal`. The journal files the snapshot covers stay until the next snapshot lands
    // (the fall-back of an unreadable snapshot, review rr11zd D4): the first snapshot has no `.prev`, so none is deleted.
    expect(readdirSync(join(path, "..")).filter((n) => n.includes(".journal."))).toEqual(["state.json.journal.0"])
    store.setPending(B, undefined)
    store.setPending(C, op(3))
    expect(existsSync(journalPath(path, snapshot.journal))).toBe(true)
    const after = restart(path)
    expect(after.pending(A)?.userOpHash).toBe(`0x${"aa".repeat(32)}`)
    expect(after.pending(B)).toBeUndefined()
    expect(after.pending(C)).toEqual(op(3))
    expect(after.safesWithPending().sort()).toEqual([A.toLowerCase(), C.toLowerCase()])
    // A flush with nothing changed writes nothing.
    const before = readFileSync(path, "utf8")
    await restart(path).flush()
    expect(readFileSync(path, "utf8")).toBe(before)
  })

  test("a torn last journal line (a crash mid-write) is ignored; the lines before it are read, and later lines are not glued to it", () => {
    const path = fresh()
    const store = restart(path)
    store.setPending(A, op(1))
    store.setPending(B, op(2))
    store.close()
    const journal = readdirSync(join(path, "..")).filter((n) => n.includes(".journal."))
    expect(journal).toHaveLength(1)
    appendFileSync(join(path, "..", journal[0] as string), `{"scope":"${scopeKey(SCOPE)}","safe":"${C.toLowerCase()}","pending":{"userOpHash":null,"non`)
    const after = restart(path)
    expect(after.journal).toEqual({ replayed: 2, ignored: 1 })
    expect(after.pending(A)).toEqual(op(1))
    expect(after.pending(B)).toEqual(op(2))
    expect(after.pending(C)).toBeUndefined()
    // The restarted process writes a new journal file: its line is read whole by the next restart.
    after.setPending(C, op(3))
    const again = restart(path)
    expect(again.pending(C)).toEqual(op(3))
    expect(again.journal).toEqual({ replayed: 3, ignored: 1 })
  })

  test("the start-up report (classic and fleet keeper: reportStateFileOpened) says how many journal lines were skipped, where, and why: a torn last line apart from a bad line in the middle", () => {
    const path = fresh()
    const store = restart(path)
    store.setPending(A, op(1))
    store.close()
    const journal = journalPath(path, 0)
    // A hand edit's bad line in the middle (a whole line, followed by a good one), then a write cut by a kill.
    appendFileSync(journal, `not json\n{"scope":"${scopeKey(SCOPE)}","safe":"${B.toLowerCase()}"}\n`)
    appendFileSync(journal, `{"scope":"${scopeKey(SCOPE)}","safe":"${C.toLowerCase()}","pending":null}\n`)
    appendFileSync(journal, `{"scope":"${scopeKey(SCOPE)}","safe":"${C.toLowerCase()}","pend`)
    const after = restart(path)
    expect(after.journal).toEqual({ replayed: 2, ignored: 3 })
    expect(after.skipped).toEqual({ torn: [`${journal}:5`], bad: [`${journal}:2`, `${journal}:3`] })
    const warns: string[] = []
    reportStateFileOpened(after, { logger: { warn: (_o, msg) => void warns.push(msg) }, events: { alert: () => undefined }, module: SCOPE.module })
    const skippedWarns = warns.filter((w) => w.includes("journal line"))
    console.log(`journal skipped: ${JSON.stringify(skippedWarns)}`)
    expect(skippedWarns).toEqual([
      `1 journal line(s) cut short by a kill or a full disk (the last line of its file) ignored: ${journal}:5; the chain's nonce reconciles the change it held`,
      `2 whole journal line(s) that do not parse or are not records ignored (edited by hand or a damaged disk, not a cut write): ${journal}:2, ${journal}:3; their changes are lost`,
    ])
    // A clean file says nothing of the journal.
    const clean = restart(fresh())
    const none: string[] = []
    reportStateFileOpened(clean, { logger: { warn: (_o, msg) => void none.push(msg) }, events: { alert: () => undefined }, module: SCOPE.module })
    expect(none.filter((w) => w.includes("journal line"))).toEqual([])
  })

  test("a failed journal write (the file system refuses it) throws to the caller, the record in memory anyway; the next write goes on in a new file", async () => {
    const path = fresh()
    const store = restart(path)
    // The journal file the store appends to (generation 0: nothing existed) cannot be opened (a directory in its place:
    // EISDIR, as a real refusal of the file system: ENOSPC, EROFS, EACCES take the same path).
    mkdirSync(journalPath(path, 0), { recursive: true })
    expect(() => store.setPending(A, op(5))).toThrow(/EISDIR/)
    // Memory first (the tracker relies on it), as before the journal.
    expect(store.pending(A)).toEqual(op(5))
    // The next write goes to a new file and succeeds.
    await expect((async () => store.setPending(B, op(6)))()).resolves.toBeUndefined()
    const after = restart(path)
    expect(after.pending(A)).toBeUndefined()
    expect(after.pending(B)).toEqual(op(6))
    // A journal that keeps failing keeps throwing: every write's failure reaches its caller (an awaiting caller, as
    // RebalanceSender awaits setPending, gets a rejection it handles, never an unhandled one).
    const other = join(path, "..", "other", "state.json")
    const failing = restart(other)
    for (let g = 0; g < 3; g++) mkdirSync(journalPath(other, g), { recursive: true })
    await expect((async () => failing.setPending(A, op(1)))()).rejects.toThrow(/EISDIR/)
    expect(() => failing.setAloneFacts(A, { t: 1 })).toThrow(/EISDIR/)
    expect(() => failing.setPending(A, undefined)).toThrow(/EISDIR/)
    expect(failing.pending(A)).toBeUndefined()
    expect(failing.aloneFacts(A)).toEqual({ t: 1 })
  })

  test("a failed snapshot rejects flush and loses nothing (the journal is kept); the next flush writes it", async () => {
    const path = fresh()
    const store = restart(path)
    store.setPending(A, op(1))
    // The snapshot's place is taken by a directory: the rename fails.
    mkdirSync(path)
    await expect(store.flush()).rejects.toThrow()
    store.setPending(B, op(2))
    const after = restart(path)
    expect(after.pending(A)).toEqual(op(1))
    expect(after.pending(B)).toEqual(op(2))
  })

  test("no path: nothing is written, flush resolves", async () => {
    const store = new KeeperStateStore(undefined)
    store.bind(SCOPE)
    store.setPending(A, op(1))
    await expect(store.flush()).resolves.toBeUndefined()
    expect(store.pending(A)).toEqual(op(1))
  })
})

describe("StateSnapshots (the keeper's per-block snapshot)", () => {
  test("a failing snapshot is alerted state-write-failed once per run of failures, never rejects; alerted again after a success", async () => {
    const outcomes = [new Error("ENOSPC: no space left on device"), new Error("ENOSPC again"), undefined, new Error("EROFS")]
    const store = { flush: vi.fn(async () => {
      const next = outcomes.shift()
      if (next) throw next
    }) }
    const alerts: string[] = []
    const warn = vi.fn()
    const info = vi.fn()
    const snapshots = new StateSnapshots({ store, safe: SCOPE.module, events: { alert: (safe, block, kind, error) => alerts.push(`${safe} ${block} ${kind} ${(error as Error).message}`) }, logger: { warn, info } })
    for (const block of [100n, 101n, 102n, 103n]) await expect(snapshots.flush(block)).resolves.toBeUndefined()
    expect(alerts).toEqual([`${SCOPE.module} 100 state-write-failed ENOSPC: no space left on device`, `${SCOPE.module} 103 state-write-failed EROFS`])
    expect(warn).toHaveBeenCalledTimes(1)
    expect(info).toHaveBeenCalledTimes(1)
    expect(store.flush).toHaveBeenCalledTimes(4)
  })
})
