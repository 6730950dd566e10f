import { spawn } from "node:child_process"
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs"
import { hostname, tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { Writable } from "node:stream"
import pino from "pino"
import type { Address, Hex } from "viem"
import { describe, expect, test, vi } from "vitest"
import { KeeperEvents, type KeeperEvent } from "./events.js"
import type { InclusionLookup } from "./inclusionLookup.js"
import { KeeperMetrics } from "./metrics.js"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import { KeeperStateStore, type PendingOperation, type StateFileLock, StateFileLockedError, StateSnapshots, journalPath, lockPath } from "./stateFile.js"
import { enospc, fsFault } from "./stateFileFaults.testing.js"
import { StateWriteError } from "./store.js"
import { INCLUSION_ENTRY_POINT, INCLUSION_NONCE, SAFE, STEP_RISK, USDC, deadPid, landedUserOp, stepHarness, stepSafeState, stepSub, testTracker } from "./testing.js"

// Review rr11zc, the state file as snapshot + append-only journal (rr11za A2, branch a2r). The real KeeperStateStore on a
// temporary directory; a failing journal write is injected by wrapping node:fs writeSync (a pass-through otherwise).
// C4 (two keepers on one state file) is fixed by the state file's lock (branch c4lock): its tests are at the end.

vi.mock("node:fs", async (original) => (await import("./stateFileFaults.testing.js")).faultyFs(await original()))

const SCOPE = { chainId: 1, entryPoint: INCLUSION_ENTRY_POINT, module: "0x00000000000000000000000000000000000000aa", keeper: "0x00000000000000000000000000000000000000ee" } as const
const OTHER: Address = "0x0000000000000000000000000000000000000b0b"
const X = `0x${"a1".repeat(32)}` as Hex
const silent = pino({ level: "silent" }, new Writable({ write: (_c, _e, done) => done() }))

const record = (nonce: bigint, sentBlock = 90n, hash: Hex | undefined = `0x${"ab".repeat(32)}`): PendingOperation => ({
  userOpHash: hash,
  nonce: nonce.toString(),
  sentBlock: sentBlock.toString(),
  firstSentBlock: sentBlock.toString(),
  sentAt: 0,
  maxFeePerGas: "1",
  maxPriorityFeePerGas: "1",
  sponsored: true,
  attempts: 1,
  triggerBlock: sentBlock.toString(),
  triggerAt: 0,
})

function fresh(scope: typeof SCOPE | (Omit<typeof SCOPE, "chainId"> & { chainId: number }) = SCOPE) {
  const path = join(mkdtempSync(join(tmpdir(), "rr11zc-sf-")), "keeper-state.json")
  const store = new KeeperStateStore(path)
  store.bind(scope)
  return { path, store }
}
const reopen = (path: string, scope: { chainId: number; entryPoint: Address; module: Address; keeper: Address } = SCOPE) => {
  const s = new KeeperStateStore(path)
  s.bind(scope)
  return s
}
/** The store a classic `--dry-run` keeper opens on the production file (keeper.ts: `readOnly` when `dryRun`). */
const reopenDry = (path: string) => {
  const s = new KeeperStateStore(path, { readOnly: true })
  s.bind(SCOPE)
  return s
}
const files = (path: string) => JSON.stringify(readdirSync(dirname(path)).sort().map((name) => [name, readFileSync(join(dirname(path), name), "utf8")]))

describe("rr11zc: what held (single process)", () => {
  test("a crash between the snapshot's tmp write and its rename: the old snapshot + the journal give every record", async () => {
    const { path, store } = fresh()
    store.setPending(SAFE, record(5n))
    await store.flush()
    store.setPending(OTHER, record(7n))
    store.setPending(SAFE, record(6n))
    // The next snapshot's tmp was written whole but never renamed in (killed in between).
    writeFileSync(`${path}.tmp`, JSON.stringify({ version: 2, journal: 99, scopes: {} }))
    store.close()
    const back = reopen(path)
    expect(back.pending(SAFE)?.nonce).toBe("6")
    expect(back.pending(OTHER)?.nonce).toBe("7")
  })

  test("lines written while a snapshot is in flight survive a kill before the next snapshot", async () => {
    const { path, store } = fresh()
    store.setPending(SAFE, record(5n))
    const inFlight = store.flush()
    // Serialized already (same tick): these go to the next generation.
    store.setPending(OTHER, record(7n))
    store.setPending(SAFE, undefined)
    await inFlight
    store.close()
    const back = reopen(path)
    expect(back.pending(SAFE)).toBeUndefined()
    expect(back.pending(OTHER)?.nonce).toBe("7")
  })

  test("journal numbering after a restart: new lines go to a new file, the covered ones are deleted by the next snapshot, the restart after that reads the same", async () => {
    const { path, store } = fresh()
    store.setPending(SAFE, record(5n))
    store.close()
    const second = reopen(path)
    second.setPending(OTHER, record(7n))
    const gens = readdirSync(dirname(path)).filter((n) => n.includes(".journal."))
    expect(gens.sort()).toEqual(["keeper-state.json.journal.0", "keeper-state.json.journal.1"])
    await second.flush()
    second.setPending(SAFE, record(6n))
    second.close()
    const third = reopen(path)
    expect(third.pending(SAFE)?.nonce).toBe("6")
    expect(third.pending(OTHER)?.nonce).toBe("7")
    // The first snapshot deletes nothing (no `.prev` yet, review rr11zd D4: the covered files are the fall-back of an
    // unreadable snapshot until the next one lands).
    expect(readdirSync(dirname(path)).filter((n) => n.includes(".journal.")).sort()).toEqual(["keeper-state.json.journal.0", "keeper-state.json.journal.1", "keeper-state.json.journal.2"])
    // The next snapshot: the first becomes `.prev`, the files it covers (0, 1) are deleted, those after it kept.
    third.setPending(OTHER, record(8n))
    await third.flush()
    third.close()
    expect(readdirSync(dirname(path)).filter((n) => n.includes(".journal.")).sort()).toEqual(["keeper-state.json.journal.2", "keeper-state.json.journal.3"])
    expect(existsSync(`${path}.prev`)).toBe(true)
    const fourth = reopen(path)
    expect(fourth.pending(SAFE)?.nonce).toBe("6")
    expect(fourth.pending(OTHER)?.nonce).toBe("8")
  })

  test("a torn line in the middle of a file (a kill mid-append, then a later line) is ignored alone: the lines after it apply", () => {
    const { path, store } = fresh()
    store.setPending(SAFE, record(5n))
    store.close()
    appendFileSync(journalPath(path, 0), '{"scope":"1:0x00000000')
    appendFileSync(journalPath(path, 0), "\n")
    appendFileSync(journalPath(path, 0), `${JSON.stringify({ scope: "1:0x0000000071727de22e5e9d8baf0edac6f37da032:0x00000000000000000000000000000000000000aa:0x00000000000000000000000000000000000000ee", safe: OTHER.toLowerCase(), pending: record(7n) })}\n`)
    const back = reopen(path)
    expect(back.journal).toEqual({ replayed: 2, ignored: 1 })
    expect(back.pending(SAFE)?.nonce).toBe("5")
    expect(back.pending(OTHER)?.nonce).toBe("7")
  })

  test("a failed journal write (ENOSPC) then a successful snapshot: the disk equals memory (the unjournaled intent is in the snapshot)", async () => {
    const { path, store } = fresh()
    store.setPending(SAFE, record(5n))
    fsFault.writeSync = enospc
    expect(() => store.setPending(OTHER, record(7n))).toThrow(/ENOSPC/)
    fsFault.writeSync = undefined
    await store.flush()
    store.setPending(SAFE, undefined)
    store.close()
    const back = reopen(path)
    expect(back.pending(OTHER)?.nonce).toBe("7")
    expect(back.pending(SAFE)).toBeUndefined()
  })

  test("state bound to chain / EntryPoint / module / keeper key on load: another scope's record (same Safe) is never read, and is kept in the file", async () => {
    const { path, store } = fresh()
    store.setPending(SAFE, record(5n))
    await store.flush()
    store.close()
    for (const other of [{ ...SCOPE, chainId: 8453 }, { ...SCOPE, module: OTHER }, { ...SCOPE, keeper: OTHER }, { ...SCOPE, entryPoint: OTHER }]) {
      const s = reopen(path, other)
      expect(s.pending(SAFE)).toBeUndefined()
      s.setPending(OTHER, record(9n))
      await s.flush()
      s.close()
    }
    expect(reopen(path).pending(SAFE)?.nonce).toBe("5")
  })

  test("StateSnapshots: one state-write-failed per run of failed snapshots, again after a success", async () => {
    const events: KeeperEvent[] = []
    const metrics = new KeeperMetrics()
    let fail = true
    const snapshots = new StateSnapshots({
      store: { flush: async () => (fail ? Promise.reject(enospc()) : undefined) },
      safe: SAFE,
      events: new KeeperEvents({ logger: silent, metrics, onEvent: (e) => events.push(e) }),
      logger: silent,
    })
    for (const b of [100n, 101n, 102n]) await snapshots.flush(b)
    fail = false
    await snapshots.flush(103n)
    fail = true
    await snapshots.flush(104n)
    expect(events.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}`] : []))).toEqual(["100 state-write-failed", "104 state-write-failed"])
  })
})

describe("rr11zc C3: a dry run beside the production keeper on one state file", () => {
  /** A classic dry-run step (SafeStep with dryRun, as `levpilot keeper --dry-run` wires it: `new KeeperStateStore(config.stateFile)`). */
  async function dryRunStep(dry: KeeperStateStore) {
    const lookup = { chainNonce: async () => INCLUSION_NONCE + 1n, findEvent: async () => landedUserOp(99n) } as unknown as InclusionLookup
    const { tracker } = testTracker({ store: dry, lookup })
    // No sender: stepHarness wires a dry run (SafeStep dryRun: true).
    const { step } = stepHarness(undefined, { store: { pending: (s: Address) => dry.pending(s), setPending: (s: Address, p: PendingOperation | undefined) => dry.setPending(s, p) }, tracker })
    const snapshot = portfolioOf(stepSafeState([stepSub(X, USDC, 1.3, "inside")]) as never, { blockNumber: 100n, timestamp: 1_700_000_000n, risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
    await step.run(newSafeRuntime({ address: SAFE, risk: STEP_RISK }), 100n, { snapshot })
  }

  test("rr11zc C3 (was: the dry run appends a clear line to the production journal): a classic --dry-run keeper on the production stateFile writes nothing", async () => {
    const { path, store: production } = fresh()
    production.setPending(SAFE, record(INCLUSION_NONCE))
    const dry = reopenDry(path)
    const before = files(path)
    await dryRunStep(dry)
    console.log(`rr11zc C3: files before ${before}\n after ${files(path)}`)
    expect(files(path)).toBe(before)
  })

  test("rr11zc C3b (was: production's newer intent is gone after its restart): production's in-flight record written after the dry run started survives production's snapshot and restart", async () => {
    const { path, store: production } = fresh()
    production.setPending(SAFE, record(INCLUSION_NONCE))
    // The operator starts a preview on the production config.
    const dry = reopenDry(path)
    // Production: the op landed, production tracked it (cleared), and sent the next one at the next nonce.
    production.setPending(SAFE, undefined)
    production.setPending(SAFE, record(INCLUSION_NONCE + 1n, 101n, undefined))
    // The dry run still holds the old record: its tracker sees it landed and clears it (in the production journal).
    await dryRunStep(dry)
    await production.flush()
    production.close()
    const onRestart = reopen(path).pending(SAFE)
    console.log(`rr11zc C3b: production's record after its snapshot and a restart: ${onRestart?.nonce ?? "none"} (production's memory: ${(INCLUSION_NONCE + 1n).toString()})`)
    expect(onRestart?.nonce).toBe((INCLUSION_NONCE + 1n).toString())
  })
})

describe("rr11zc C4 (fixed: the state file's lock): one writing keeper per state file", () => {
  const CHAIN_B = { ...SCOPE, chainId: 8453 }
  /** A read-only store (what `levpilot status` opens): no lock. */
  const reader = (path: string, scope: typeof SCOPE | typeof CHAIN_B = SCOPE) => {
    const s = new KeeperStateStore(path, { readOnly: true })
    s.bind(scope)
    return s
  }
  const lockOf = (path: string) => JSON.parse(readFileSync(lockPath(path), "utf8")) as StateFileLock
  const lockText = (holder: StateFileLock) => `${JSON.stringify(holder)}\n`
  const refusal = (thrower: () => unknown) => {
    try {
      thrower()
    } catch (error) {
      return error
    }
    throw new Error("not refused")
  }

  test("C4 (was: each snapshot dropped the other keeper's records from the disk): a second writer on the same stateFile is refused, naming the path and the first keeper's pid; the first keeper's records survive on disk", async () => {
    const { path, store: a } = fresh()
    a.setPending(SAFE, record(5n))
    const held = lockOf(path)
    expect(held).toMatchObject({ pid: process.pid, host: hostname() })
    const error = refusal(() => reopen(path, CHAIN_B))
    expect(error).toBeInstanceOf(StateFileLockedError)
    expect((error as StateFileLockedError).message).toBe(
      `the state file ${path} is in use by process ${process.pid} on host ${hostname()} (since ${held.since}): its lock ${path}.lock is held. ` +
        `One keeper per state file: give this keeper its own "stateFile" (or run it with --dry-run, which only reads the file), or stop the other keeper first. ` +
        `If no keeper uses this file, delete ${path}.lock (or wait: a lock its keeper stopped renewing is taken over 120 s after its last renewal).`,
    )
    expect((error as StateFileLockedError).holder).toEqual(held)
    // The refused store read nothing and wrote nothing: A goes on, its records on disk through snapshots and journal.
    expect(lockOf(path)).toEqual(held)
    await a.flush()
    a.setPending(OTHER, record(7n))
    const onDisk = KeeperStateStore.read(path)
    expect(KeeperStateStore.pendingIn(onDisk, SAFE)?.nonce).toBe("5")
    expect(KeeperStateStore.pendingIn(onDisk, OTHER)?.nonce).toBe("7")
    expect(Object.keys(onDisk?.scopes ?? {}).map((k) => k.split(":")[0])).toEqual(["1"])
    // One after the other (A stopped), the two chains' keepers share the file: both scopes kept.
    a.close()
    const b = reopen(path, CHAIN_B)
    b.setPending(SAFE, record(9n))
    await b.flush()
    b.close()
    expect(reader(path, CHAIN_B).pending(SAFE)?.nonce).toBe("9")
    expect(reader(path).pending(SAFE)?.nonce).toBe("5")
    expect(existsSync(path)).toBe(true)
  })

  test("a stale lock (its pid no longer runs on this host: a keeper killed with SIGKILL) is taken over, said in lockNotice; the killed keeper's journal is read", () => {
    const { path, store: killed } = fresh()
    killed.setPending(SAFE, record(5n))
    const pid = deadPid()
    const stale: StateFileLock = { pid, host: hostname(), since: "2026-12-04T00:00:00.000Z", token: "0".repeat(32) }
    writeFileSync(lockPath(path), lockText(stale))
    const restarted = reopen(path)
    expect(restarted.lockNotice).toBe(`took over the stale lock ${path}.lock of process ${pid} (host ${hostname()}, since 2026-12-04T00:00:00.000Z), which is no longer running`)
    expect(lockOf(path)).toMatchObject({ pid: process.pid, host: hostname() })
    expect(lockOf(path).token).not.toBe(stale.token)
    expect(restarted.pending(SAFE)?.nonce).toBe("5")
    // The lock taken without a takeover says nothing.
    restarted.close()
    expect(reopen(path).lockNotice).toBeUndefined()
  })

  test("a lock of a live process (another process of this host), of another host, or one that does not parse is never taken over", async () => {
    const { path } = fresh()
    const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" })
    try {
      await new Promise((resolve) => child.once("spawn", resolve))
      // A live writer's lock is taken after it started (a lock older than its process is a reused pid's: rr11ze E1b).
      await new Promise((resolve) => setTimeout(resolve, 2_500))
      const since = new Date().toISOString()
      const live: StateFileLock = { pid: child.pid as number, host: hostname(), since, token: "1".repeat(32) }
      const far: StateFileLock = { pid: deadPid(), host: `${hostname()}-elsewhere`, since: "2026-12-04T00:00:00.000Z", token: "2".repeat(32) }
      for (const [text, holder, who] of [
        [lockText(live), live, `process ${live.pid} on host ${hostname()} (since ${since})`],
        [lockText(far), far, `process ${far.pid} on host ${far.host} (since 2026-12-04T00:00:00.000Z)`],
        ["", undefined, "an unknown process (the lock file does not parse)"],
      ] as const) {
        writeFileSync(lockPath(path), text)
        const error = refusal(() => reopen(path))
        expect(error).toBeInstanceOf(StateFileLockedError)
        expect((error as Error).message).toContain(`the state file ${path} is in use by ${who}: its lock ${path}.lock is held.`)
        expect((error as StateFileLockedError).holder).toEqual(holder)
        expect(readFileSync(lockPath(path), "utf8")).toBe(text)
      }
    } finally {
      child.kill("SIGKILL")
    }
  })

  test("a read-only store (a dry run) takes no lock and is never refused by one: it reads the writer's records and leaves the lock as it is", () => {
    const { path, store: production } = fresh()
    production.setPending(SAFE, record(5n))
    const held = readFileSync(lockPath(path), "utf8")
    const dry = reopenDry(path)
    expect(dry.pending(SAFE)?.nonce).toBe("5")
    dry.setPending(SAFE, undefined)
    dry.close()
    expect(readFileSync(lockPath(path), "utf8")).toBe(held)
    // And without any writer: no lock file appears.
    production.close()
    expect(existsSync(lockPath(path))).toBe(false)
    reopenDry(path).setPending(OTHER, record(1n))
    expect(existsSync(lockPath(path))).toBe(false)
  })

  test("close releases the lock (another writer then opens the file); a closed store writes nothing more (StateWriteError, the change held in memory); close leaves a lock that is no longer its own", async () => {
    const { path, store: a } = fresh()
    a.setPending(SAFE, record(5n))
    a.close()
    expect(existsSync(lockPath(path))).toBe(false)
    const b = reopen(path)
    b.setPending(OTHER, record(7n))
    await b.flush()
    const disk = files(path)
    // A, stopped, changes a record: B's file is left as it is (A's memory predates B's writes).
    const error = refusal(() => a.setPending(SAFE, record(6n)))
    expect(error).toBeInstanceOf(StateWriteError)
    expect(((error as StateWriteError).cause as Error).message).toBe(`the store of the state file ${path} is closed (its lock released): the change is held in memory only`)
    expect(a.pending(SAFE)?.nonce).toBe("6")
    await expect(a.flush()).rejects.toThrow(/is closed/)
    a.close()
    expect(files(path)).toBe(disk)
    // B's lock replaced by another writer's (one that judged it stale): B's close leaves it.
    const other = `${JSON.stringify({ pid: process.pid, host: hostname(), since: "2026-12-04T00:00:00.000Z", token: "3".repeat(32) } satisfies StateFileLock)}\n`
    writeFileSync(lockPath(path), other)
    b.close()
    expect(readFileSync(lockPath(path), "utf8")).toBe(other)
    writeFileSync(lockPath(path), "")
    const back = reader(path)
    expect(back.pending(SAFE)?.nonce).toBe("5")
    expect(back.pending(OTHER)?.nonce).toBe("7")
  })

  test("a lock that cannot be created at start (the file system refuses it) does not stop the store, said in lockNotice; writes fail as StateWriteError until one takes the lock, and none is written while another writer holds it", () => {
    const { path, store } = fresh()
    store.close()
    // The lock's write fails (ENOSPC): the store opens without it (a keeper still starts on a full disk).
    fsFault.writeSync = enospc
    const a = reopen(path)
    fsFault.writeSync = undefined
    expect(a.lockNotice).toBe(`could not create the state file's lock ${path}.lock (ENOSPC: no space left on device, write); nothing is written to the state file until a later write takes it`)
    expect(existsSync(lockPath(path))).toBe(false)
    // Meanwhile another keeper starts on the file: A's write is refused, the change held in A's memory.
    const b = reopen(path)
    const error = refusal(() => a.setPending(SAFE, record(5n)))
    // Another writer's lock is not a full disk to go on from (review rr11ze E2): thrown as it is (writePendingRecord: nothing sent).
    expect(error).toBeInstanceOf(StateFileLockedError)
    expect(a.pending(SAFE)?.nonce).toBe("5")
    expect(readdirSync(dirname(path)).filter((n) => n.includes(".journal."))).toEqual([])
    b.close()
    // The disk freed and nobody holds the file: A's next write takes the lock and is journaled.
    a.setPending(OTHER, record(7n))
    expect(lockOf(path).pid).toBe(process.pid)
    a.close()
    expect(reader(path).pending(OTHER)?.nonce).toBe("7")
  })
})
