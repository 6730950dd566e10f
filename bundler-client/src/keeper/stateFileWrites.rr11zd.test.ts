import { cpSync, mkdtempSync, readFileSync, readdirSync, unlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import type { Address, Hex } from "viem"
import { describe, expect, test, vi } from "vitest"
import { pino } from "pino"
import { ValueLossExceededError } from "@levpilot/sdk/errors"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { parseKeeperConfig } from "./config.js"
import { Keeper } from "./keeper.js"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import { KeeperStateStore, type PendingOperation } from "./stateFile.js"
import { fsFault } from "./stateFileFaults.testing.js"
import { writePendingRecord } from "./store.js"
import { INCLUSION_ENTRY_POINT, SAFE, STEP_RISK, USDC, senderHarness, stepHarness, stepSafeState, stepSub } from "./testing.js"

// Review rr11zd, the state file's write failures after the rr11zb B1 / rr11zc C1-C6 fixes (store.ts writePendingRecord,
// stateFile.ts snapshot + journal). The real KeeperStateStore on temporary directories; a full disk is injected by
// wrapping node:fs writeSync (ENOSPC while `fsFault.full`), crash images are taken by wrapping node:fs/promises (a copy of
// the state directory made right before each asynchronous step of a snapshot runs: what a kill at that point leaves).
// Every finding is fixed (branch zdfix): its test asserts the fixed behaviour and names what the old code measured ("was").

vi.mock("node:fs", async (original) => (await import("./stateFileFaults.testing.js")).faultyFs(await original()))
vi.mock("node:fs/promises", async (original) => (await import("./stateFileFaults.testing.js")).faultyFsPromises(await original()))
vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({ ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()), sendRebalance: vi.fn() }))
const { sendRebalance } = await import("@levpilot/sdk/actions")

const SCOPE = { chainId: 1, entryPoint: INCLUSION_ENTRY_POINT, module: "0x00000000000000000000000000000000000000aa", keeper: "0x00000000000000000000000000000000000000ee" } as const
const X = `0x${"a1".repeat(32)}` as Hex
const I = `0x${"b1".repeat(32)}` as Hex
const WAD = 10n ** 18n
const SAFES: Address[] = ["0x0000000000000000000000000000000000000a01", "0x0000000000000000000000000000000000000a02", "0x0000000000000000000000000000000000000a03"]

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

function fresh() {
  const path = join(mkdtempSync(join(tmpdir(), "rr11zd-sf-")), "keeper-state.json")
  const store = new KeeperStateStore(path)
  store.bind(SCOPE)
  return { path, store }
}
/**
 * A reader of the state file as a restart would load it (since rr11zc C4's lock a second writer is refused while the
 * first store holds `<path>.lock`: the restart images are read with a read-only store, which loads the same way).
 */
const reopen = (path: string) => {
  const s = new KeeperStateStore(path, { readOnly: true })
  s.bind(SCOPE)
  return s
}
/** A writing store on `path` (the keeper's), once the previous writer closed it. */
const reopenWriter = (path: string) => {
  const s = new KeeperStateStore(path)
  s.bind(SCOPE)
  return s
}

describe("rr11zd D2: the alone table's failed write is alerted at every block of a disk-full run (no run, unlike the in-flight record's)", () => {
  /**
   * The f11zh fixture: X's plan is refused plan-wide by the chain's simulation in every block, I's accepted; one
   * process, the real KeeperStateStore, the disk full from `fullFrom` on. Only the alone table is written (the stub
   * sender writes no in-flight record).
   */
  async function keeperProcess(path: string, from: number, to: number, fullFrom: number) {
    const sender = {
      send: async (_rt: unknown, _b: bigint, plan: ChainPlan) => {
        if (plan.subAccounts.some((id) => id.toLowerCase() === X)) throw new ValueLossExceededError({ loss: 2_000n * WAD, moved: 50_000n * WAD, maxLossBps: 300n })
      },
    }
    const store = reopenWriter(path)
    const { step, events } = stepHarness(undefined, { sender, store })
    const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
    try {
      for (let b = from; b <= to; b++) {
        fsFault.full = b >= fullFrom
        const snapshot = portfolioOf(stepSafeState([stepSub(X, USDC, 1.01, "below"), stepSub(I, USDC, 1.04, "below")]) as never, { blockNumber: BigInt(b), timestamp: 1_700_000_000n + 12n * BigInt(b - 100), risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
        rt.backoffUntil = 0
        await step.run(rt, BigInt(b), { snapshot })
      }
    } finally {
      fsFault.full = false
      store.close()
    }
    return events.flatMap((e) => (e.type === "alert" && e.kind === "state-write-failed" ? [Number(e.block)] : []))
  }

  test("rr11zd D2 (was: state-write-failed at 100, 103, 104, 106, 107, 109, 110, 112, 113, 115): a disk full over blocks 100-115 while X stays refused alone is one state-write-failed alert for the Safe, not one per block", async () => {
    const { path, store } = fresh()
    store.close()
    const alerted = await keeperProcess(path, 100, 115, 100)
    console.log(`rr11zd D2: alone table state-write-failed at ${JSON.stringify(alerted)}`)
    expect(alerted).toEqual([100])
  })

  test("rr11zd D2 (held, reference): the same blocks on a writable disk: no state-write-failed", async () => {
    const { path, store } = fresh()
    store.close()
    expect(await keeperProcess(path, 100, 115, 1_000)).toEqual([])
  })
})

describe("rr11zd D3: the in-flight record's alert run is ended only by a record write, not by the snapshot that wrote the record", () => {
  test("rr11zd D3 (was: state-write-failed at [100]): a run started by the tracker's failing clear at 100, the disk free at 101 (the snapshot writes the cleared record), full again at 5000: the intent write's failure at 5000 is alerted for the Safe", async () => {
    const { path, store } = fresh()
    store.setPending(SAFE, record(5n))
    await store.flush()
    const { sender, rt, events, keeperEvents, logger } = senderHarness({ setPending: async (s, p) => store.setPending(s, p), nonces: [6n] })
    vi.mocked(sendRebalance).mockReset()
    vi.mocked(sendRebalance).mockResolvedValue(`0x${"11".repeat(32)}`)
    // 100: the op at nonce 5 landed; the tracker's clear (inclusion.ts: writePendingRecord) meets the full disk.
    fsFault.full = true
    await writePendingRecord({ store, events: keeperEvents, logger }, rt, 100n, undefined)
    // 101: the disk is free again; the keeper's per-block snapshot writes the cleared record (disk == memory).
    fsFault.full = false
    await store.flush()
    expect(reopen(path).pending(SAFE)).toBeUndefined()
    // Nothing in flight and the Safe in band until 5000; then the disk fills again and the Safe sends.
    fsFault.full = true
    try {
      await sender.send(rt, 5000n, { subAccounts: [], actions: [] } as never, undefined)
    } finally {
      fsFault.full = false
    }
    expect(vi.mocked(sendRebalance).mock.calls.length).toBe(1)
    const alerted = events.flatMap((e) => (e.type === "alert" && e.kind === "state-write-failed" ? [Number(e.block)] : []))
    console.log(`rr11zd D3: state-write-failed at ${JSON.stringify(alerted)}`)
    store.close()
    expect(alerted).toEqual([100, 5000])
  })
})

describe("rr11zd D3 (fixed): only a snapshot serialized after the run's last failure ends it", () => {
  test("a snapshot serialized before the failed write (its tmp file being written when the line fails) lands after it: the run goes on, the next failure is not alerted again", async () => {
    const { store } = fresh()
    store.setPending(SAFE, record(5n))
    const { rt, events, keeperEvents, logger } = senderHarness({ setPending: async (s, p) => store.setPending(s, p), nonces: [6n] })
    // The snapshot is serialized (nonce 5), then, before its tmp file is written, the tracker's clear fails (block 100).
    fsFault.beforeAsync = (op) => {
      if (op !== "writeFile") return
      fsFault.beforeAsync = undefined
      fsFault.full = true
      void writePendingRecord({ store, events: keeperEvents, logger }, rt, 100n, undefined)
      fsFault.full = false
    }
    try {
      await store.flush()
    } finally {
      fsFault.beforeAsync = undefined
      fsFault.full = false
    }
    // That snapshot holds nonce 5, not the clear: the disk did not catch up; the next failure (101) is the same run.
    fsFault.full = true
    try {
      await writePendingRecord({ store, events: keeperEvents, logger }, rt, 101n, undefined)
    } finally {
      fsFault.full = false
    }
    const alerted = () => events.flatMap((e) => (e.type === "alert" && e.kind === "state-write-failed" ? [Number(e.block)] : []))
    expect(alerted()).toEqual([100])
    // The next snapshot (serialized after both failures) holds the clear: the run ends, the failure at 103 is alerted.
    await store.flush()
    const path = store.path as string
    expect(reopen(path).pending(SAFE)).toBeUndefined()
    fsFault.full = true
    try {
      await writePendingRecord({ store, events: keeperEvents, logger }, rt, 103n, record(8n))
    } finally {
      fsFault.full = false
    }
    store.close()
    expect(alerted()).toEqual([100, 103])
  })
})

describe("rr11zd D4 (fixed): a snapshot that exists but does not parse is named, and read from `.prev` and the journal kept after it", () => {
  test("rr11zd D4 (was: discarded undefined, journal {replayed 0, ignored 0}, the record gone): the only snapshot cut to 0 bytes (a power loss after the rename; a hand edit): named at load, its journal (kept until the next snapshot) gives every record back; a writer sets the file aside", async () => {
    const { path, store } = fresh()
    store.setPending(SAFE, record(5n))
    store.setAloneFacts(SAFE, { facts: [] })
    await store.flush()
    store.close()
    // The snapshot cut to nothing (its data never flushed before a power loss, or edited by hand).
    writeFileSync(path, "")
    const back = reopen(path)
    console.log(`rr11zd D4: files ${JSON.stringify(readdirSync(dirname(path)).sort())}, discarded ${JSON.stringify(back.discarded)}, journal ${JSON.stringify(back.journal)}, record ${JSON.stringify(back.pending(SAFE) ?? null)}`)
    expect(back.discarded).toBe(`the state file's snapshot ${path} cannot be read (the file is empty); no previous snapshot to fall back on (none): only the journal files left are read (a record only the snapshot held is lost; the chain's nonce tells what was in flight)`)
    expect(back.unreadable).toBe(back.discarded)
    // ... but the journal it covers is still there (deleted only once a later snapshot lands): nothing is lost.
    expect(back.pending(SAFE)?.nonce).toBe("5")
    expect(back.aloneFacts(SAFE)).toEqual({ facts: [] })
    expect(back.journal).toEqual({ replayed: 2, ignored: 0 })
    // The keeper (a writer) sets the unreadable file aside, then snapshots the state it read.
    const keeper = reopenWriter(path)
    const aside = readdirSync(dirname(path)).filter((f) => f.startsWith("keeper-state.json.unreadable."))
    expect(aside).toHaveLength(1)
    expect(keeper.discarded).toBe(`${back.discarded}; the unreadable snapshot is kept as ${join(dirname(path), aside[0] as string)}`)
    expect(readFileSync(join(dirname(path), aside[0] as string), "utf8")).toBe("")
    keeper.setPending(SAFE, record(6n))
    await keeper.flush()
    keeper.close()
    const after = reopen(path)
    expect(after.discarded).toBeUndefined()
    expect(after.pending(SAFE)?.nonce).toBe("6")
  })

  test("rr11zd D4b (was: the record gone): the second snapshot cut to 0 bytes: read from `.prev` and the journal after it, every record back, named", async () => {
    const { path, store } = fresh()
    store.setPending(SAFE, record(5n))
    await store.flush()
    store.setPending(SAFE, record(6n))
    store.setPending(SAFES[0] as Address, record(7n))
    await store.flush()
    store.close()
    writeFileSync(path, "")
    const back = reopen(path)
    expect(back.discarded).toBe(`the state file's snapshot ${path} cannot be read (the file is empty); read the previous snapshot ${path}.prev and the journal after it instead (nothing is lost)`)
    expect(back.pending(SAFE)?.nonce).toBe("6")
    expect(back.pending(SAFES[0] as Address)?.nonce).toBe("7")
  })

  test("rr11zd D4: the snapshot's tmp file is fsynced before it is renamed in, the directory after; one fsync of each per snapshot, none per journal line", async () => {
    const { path, store } = fresh()
    store.setPending(SAFE, record(5n))
    await store.flush()
    fsFault.syncs.length = 0
    fsFault.beforeAsync = (op, arg) => void fsFault.syncs.push(`${op} ${arg}`)
    try {
      for (let i = 0; i < 5; i++) store.setPending(SAFE, record(10n + BigInt(i)))
      await store.flush()
    } finally {
      fsFault.beforeAsync = undefined
    }
    store.close()
    expect(fsFault.syncs).toEqual([`writeFile ${path}.tmp`, `sync ${path}.tmp`, `rename ${path}`, `rename ${path}.tmp`, `sync ${dirname(path)}`, `unlink ${path}.journal.0`])
  })

  test("rr11zd D4: a snapshot deleted by hand while the keeper runs: the next snapshot is written all the same (no rename of a missing file)", async () => {
    const { path, store } = fresh()
    store.setPending(SAFE, record(5n))
    await store.flush()
    unlinkSync(path)
    store.setPending(SAFE, record(6n))
    await store.flush()
    store.close()
    expect(reopen(path).pending(SAFE)?.nonce).toBe("6")
    expect(JSON.parse(readFileSync(path, "utf8")).scopes).toBeDefined()
  })

  test("rr11zd D4: the keeper alerts state-file-unreadable at start (the module's address, block 0)", async () => {
    const { path, store } = fresh()
    store.setPending(SAFE, record(5n))
    await store.flush()
    store.close()
    writeFileSync(path, "{\"version\":2,\"jour")
    const config = parseKeeperConfig({
      rpcUrl: "http://127.0.0.1:9",
      bundlerUrl: "http://127.0.0.1:9",
      keeperPrivateKey: `0x${"11".repeat(32)}`,
      deployment: { leverageModule: SCOPE.module, morphoBlueAdapter: "0x00000000000000000000000000000000000000a2" },
      safes: [SAFE],
      stateFile: path,
      logLevel: "silent",
    })
    const alerts: string[] = []
    const keeper = new Keeper(config, { logger: pino({ level: "silent" }), clients: { publicClient: { chain: { id: SCOPE.chainId } } } as never, onEvent: (e) => void (e.type === "alert" && alerts.push(`${e.safe} ${e.block} ${e.kind} ${e.message}`)) })
    try {
      await keeper.init()
    } finally {
      await keeper.stop()
    }
    expect(alerts).toHaveLength(1)
    console.log(`rr11zd D4 start alert: ${alerts[0]}`)
    expect(alerts[0]?.toLowerCase().startsWith(`${SCOPE.module} 0 state-file-unreadable the state file's snapshot ${path} cannot be read (it does not parse`.toLowerCase())).toBe(true)
    expect(alerts[0]).toContain("no previous snapshot to fall back on (none)")
  })
})

describe("rr11zd D5: a reader beside the running keeper (`levpilot status`) can read an old snapshot and the journals of a newer one", () => {
  test("rr11zd D5 (was: status's load sees 'none in flight' while the keeper's record is nonce 6; fixed by keeping the journal files after `.prev`): the read interleaved with the keeper's snapshot (snapshot read before the rename, the directory listed after the covered journals' unlink) shows the operation in flight", async () => {
    const { path, store } = fresh()
    store.setPending(SAFE, record(5n))
    store.setPending(SAFE, undefined)
    await store.flush()
    // Nonce 6 sent after that snapshot: only in the journal, until the next snapshot.
    store.setPending(SAFE, record(6n))
    // `levpilot status` (cli/commands/status.ts: new KeeperStateStore(stateFile)) reads the snapshot first ...
    let statusSnapshot: string | undefined
    fsFault.beforeAsync = (op) => {
      if (op === "rename" && statusSnapshot === undefined) statusSnapshot = readFileSync(path, "utf8")
    }
    try {
      await store.flush()
    } finally {
      fsFault.beforeAsync = undefined
    }
    // ... and lists the journal files after the keeper's snapshot was renamed in and its covered journals deleted.
    const view = join(mkdtempSync(join(tmpdir(), "rr11zd-status-")), "keeper-state.json")
    writeFileSync(view, statusSnapshot as string)
    for (const f of readdirSync(dirname(path)).filter((f) => f.includes(".journal."))) cpSync(join(dirname(path), f), join(dirname(view), f))
    const status = new KeeperStateStore(view, { readOnly: true })
    const shown = status.pendingFor({ chainId: SCOPE.chainId, entryPoint: SCOPE.entryPoint, module: SCOPE.module }, SAFE)
    console.log(`rr11zd D5: keeper's record nonce ${store.pending(SAFE)?.nonce}; status shows ${shown ? `nonce ${shown.nonce}` : "no operation in flight"}`)
    store.close()
    expect(shown?.nonce).toBe("6")
  })
})

describe("rr11zd D5 (fixed): a reader that read a snapshot two snapshots old reads again", () => {
  test("the snapshot read is older than `.prev` (two keeper snapshots between the reader's snapshot read and its journal reads): the reader reads again and shows the keeper's record", async () => {
    const { path, store } = fresh()
    store.setPending(SAFE, record(5n))
    await store.flush()
    const old = readFileSync(path, "utf8")
    // Nonce 6 after that snapshot, then two more snapshots: the journal holding nonce 6 is deleted by the second.
    store.setPending(SAFE, record(6n))
    await store.flush()
    store.setPending(SAFES[0] as Address, record(7n))
    await store.flush()
    expect(readdirSync(dirname(path)).filter((f) => f.includes(".journal.")).sort()).toEqual(["keeper-state.json.journal.2"])
    // The reader's first read of the snapshot answers the old one (read before the two snapshots landed).
    fsFault.staleReads.set(path, [old])
    const status = new KeeperStateStore(path, { readOnly: true })
    fsFault.staleReads.clear()
    store.close()
    const shown = status.pendingFor({ chainId: SCOPE.chainId, entryPoint: SCOPE.entryPoint, module: SCOPE.module }, SAFE)
    expect(shown?.nonce).toBe("6")
  })
})

describe("rr11zd: what held (journal + snapshot)", () => {
  test("a kill before each asynchronous step of a snapshot (tmp write, rename, each journal unlink), with lines appended meanwhile: every crash image reads back exactly the memory of that moment", async () => {
    const { path, store } = fresh()
    // Generation 0 lines, a first snapshot, then generation 1 lines and a failed line (a rotation: generation 2).
    store.setPending(SAFES[0] as Address, record(1n))
    store.setPending(SAFES[1] as Address, record(2n))
    await store.flush()
    store.setPending(SAFES[0] as Address, record(3n))
    fsFault.full = true
    expect(() => store.setPending(SAFES[2] as Address, record(4n))).toThrow(/state file could not be written/)
    fsFault.full = false
    // Written again once the disk frees (the failed line alone would be on disk only with the snapshot, by design).
    store.setPending(SAFES[2] as Address, record(8n))
    store.setPending(SAFES[1] as Address, undefined)
    const memory = () => JSON.stringify(SAFES.map((s) => store.pending(s) ?? null))
    const images: { at: string; dir: string; expected: string }[] = []
    let n = 0
    fsFault.beforeAsync = (op, arg) => {
      // The kill image: the directory as it is before this step runs (every earlier step completed).
      const dir = mkdtempSync(join(tmpdir(), "rr11zd-img-"))
      cpSync(dirname(path), dir, { recursive: true })
      images.push({ at: `${op} ${arg.split("/").at(-1)}`, dir, expected: memory() })
      // A line appended between the snapshot's steps (a Safe's step running meanwhile), one per step.
      n++
      store.setPending(SAFES[n % 3] as Address, record(100n + BigInt(n)))
    }
    try {
      await store.flush()
    } finally {
      fsFault.beforeAsync = undefined
    }
    // After the snapshot: the image of the end.
    const end = mkdtempSync(join(tmpdir(), "rr11zd-img-"))
    cpSync(dirname(path), end, { recursive: true })
    images.push({ at: "end", dir: end, expected: memory() })
    console.log(`rr11zd held: crash images at ${JSON.stringify(images.map((i) => i.at))}; files at the end ${JSON.stringify(readdirSync(dirname(path)).sort())}`)
    // Since rr11zd D4: the tmp written (and fsynced), the old snapshot renamed to `.prev`, the tmp renamed in, then only
    // the journal files `.prev` covers (generation 0) deleted. The image before the second rename has no snapshot at
    // `path`: read from `.prev` and the journal after it.
    expect(images.map((i) => i.at)).toEqual(["writeFile keeper-state.json.tmp", "rename keeper-state.json", "rename keeper-state.json.tmp", "unlink keeper-state.json.journal.0", "end"])
    for (const image of images) {
      const back = reopen(join(image.dir, "keeper-state.json"))
      expect(JSON.stringify(SAFES.map((s) => back.pending(s) ?? null)), image.at).toBe(image.expected)
    }
    store.close()
  })

  test("a failed record write, then the snapshot failing too (the disk full for both), then a restart: the disk holds the last record written, never a later one, and a record written after the disk frees wins", async () => {
    const { path, store } = fresh()
    store.setPending(SAFE, record(5n))
    fsFault.full = true
    expect(() => store.setPending(SAFE, record(6n))).toThrow()
    await expect(store.flush()).rejects.toThrow(/ENOSPC/)
    fsFault.full = false
    expect(reopen(path).pending(SAFE)?.nonce).toBe("5")
    store.setPending(SAFE, record(7n))
    expect(reopen(path).pending(SAFE)?.nonce).toBe("7")
    await store.flush()
    expect(reopen(path).pending(SAFE)?.nonce).toBe("7")
    store.close()
  })
})

describe("rr11zd: what held (write paths)", () => {
  test("every production write of the in-flight record goes through writePendingRecord: no other `.setPending(` call outside the stores themselves", () => {
    const root = dirname(fileURLToPath(import.meta.url))
    const sources = (readdirSync(root, { recursive: true }) as string[]).filter((f) => f.endsWith(".ts") && !/\.test\.ts$|testing\.ts$/.test(f))
    // The stores (their own setPending and the wrappers forwarding to another store) and writePendingRecord itself.
    const stores = new Set(["store.ts", "stateFile.ts", join("fleet", "store.ts"), join("fleet", "redisStore.ts")])
    const calls = sources.flatMap((f) => {
      const text = readFileSync(join(root, f), "utf8")
      return text.split("\n").flatMap((line, i) => (/\.setPending\(/.test(line) && !stores.has(relative(root, join(root, f))) ? [`${f}:${i + 1}`] : []))
    })
    expect(sources.length).toBeGreaterThan(20)
    expect(calls).toEqual([])
    // The stores' own forwarding calls: the file store behind the embedded fleet (MemoryFleetStore) and writePendingRecord.
    expect(readFileSync(join(root, "store.ts"), "utf8").match(/\.setPending\(/g)?.length).toBe(1)
    expect(readFileSync(join(root, "fleet", "store.ts"), "utf8").match(/this\.file\.setPending\(/g)?.length).toBe(1)
  })

  test("a full disk over 200 record writes: each failed append starts a new journal generation (the first failure in the open file, then 199 new empty files here, where open still succeeds), all deleted once a snapshot covering them is `.prev` (the second that lands, since rr11zd D4); a restart before it reads them all and loses nothing written before", async () => {
    const { path, store } = fresh()
    store.setPending(SAFE, record(5n))
    fsFault.full = true
    for (let i = 0; i < 200; i++) expect(() => store.setPending(SAFES[i % 3] as Address, record(BigInt(10 + i)))).toThrow()
    fsFault.full = false
    const during = readdirSync(dirname(path)).filter((f) => f.includes(".journal.")).length
    const back = reopen(path)
    expect(back.pending(SAFE)?.nonce).toBe("5")
    back.close()
    await store.flush()
    // The writer's lock (rr11zc C4) stays while the store is open.
    const files = () => readdirSync(dirname(path)).filter((f) => !f.endsWith(".lock")).sort()
    // The first snapshot deletes none (the fall-back of an unreadable snapshot until the next one lands, rr11zd D4).
    expect(files().length).toBe(201)
    // The second (a change after the first): the first becomes `.prev`, the 200 files it covers are deleted.
    store.setPending(SAFE, record(5n, 91n))
    await store.flush()
    const after = files()
    console.log(`rr11zd held: journal files after 200 failed appends ${during}; after two snapshots ${JSON.stringify(after)}`)
    expect(during).toBe(200)
    expect(after).toEqual(["keeper-state.json", "keeper-state.json.journal.201", "keeper-state.json.prev"])
    expect(reopen(path).pending(SAFES[1] as Address)?.nonce).toBe(String(10 + 199 - ((199 - 1) % 3)))
    store.close()
  })
})
