import { type ChildProcess, spawn } from "node:child_process"
import { chmodSync, copyFileSync, cpSync, existsSync, linkSync, mkdtempSync, readFileSync, readdirSync, renameSync, unlinkSync, utimesSync, writeFileSync } from "node:fs"
import { hostname, tmpdir } from "node:os"
import { join } from "node:path"
import type { Address } from "viem"
import { afterEach, describe, expect, test, vi } from "vitest"
import { KeeperStateStore, LOCK_GRACE_MS, type StateFileLock, StateFileLockedError, lockPath, processStartTicks } from "./stateFile.js"
import { deadPid } from "./testing.js"
import { SAFE_A as SAFE, pendingRecord as record, attempt, stateWriter as writer, freshStatePath } from "./stateFileStore.testing.js"

// Branch lock11 (issue 11; review rr11zf F5, rr11ze E3 / E4, the cost of rr11zf F2's per-line check): the state file's
// lock judged by start ticks, created atomically (tmp file + link), taken over by rename, checked per journal line by a
// stamp. The real KeeperStateStore on temporary directories; node:fs wrapped only to take kill images before each step
// of the lock's creation and to count the lock's reads.

const fsHook = vi.hoisted(() => ({
  /** Called before each file-system step touching `<x>.lock` or its tmp / aside files. */
  beforeLockStep: undefined as undefined | ((step: string, path: string) => void),
  /** Reads of a file ending in `.lock`. */
  lockReads: 0,
}))
vi.mock("node:fs", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs")>()
  const lockish = (p: unknown) => /\.lock($|\.)/.test(String(p))
  const fdPaths = new Map<number, string>()
  const openSync = ((...args: Parameters<typeof fs.openSync>) => {
    if (lockish(args[0])) fsHook.beforeLockStep?.("open", String(args[0]))
    const fd = (fs.openSync as (...a: unknown[]) => number)(...args)
    if (lockish(args[0])) fdPaths.set(fd, String(args[0]))
    return fd
  }) as typeof fs.openSync
  const onFd =
    <F extends (...a: never[]) => unknown>(step: string, f: F) =>
    (...args: Parameters<F>) => {
      const p = fdPaths.get(args[0] as unknown as number)
      if (p !== undefined) fsHook.beforeLockStep?.(step, p)
      return f(...args)
    }
  const onPath =
    <F extends (...a: never[]) => unknown>(step: string, f: F) =>
    (...args: Parameters<F>) => {
      if (lockish(args[0])) fsHook.beforeLockStep?.(step, String(args[0]))
      return f(...args)
    }
  const readFileSync = ((...args: Parameters<typeof fs.readFileSync>) => {
    if (String(args[0]).endsWith(".lock")) fsHook.lockReads++
    return (fs.readFileSync as (...a: unknown[]) => unknown)(...args)
  }) as typeof fs.readFileSync
  const wrapped = {
    openSync,
    readFileSync,
    writeSync: onFd("write", fs.writeSync as never) as unknown as typeof fs.writeSync,
    fsyncSync: onFd("fsync", fs.fsyncSync as never) as unknown as typeof fs.fsyncSync,
    closeSync: onFd("close", fs.closeSync as never) as unknown as typeof fs.closeSync,
    linkSync: onPath("link", fs.linkSync as never) as unknown as typeof fs.linkSync,
    unlinkSync: onPath("unlink", fs.unlinkSync as never) as unknown as typeof fs.unlinkSync,
    renameSync: onPath("rename", fs.renameSync as never) as unknown as typeof fs.renameSync,
  }
  return { ...fs, ...wrapped, default: { ...fs, ...wrapped } }
})

const fresh = () => freshStatePath("lock11")
const bootId = () => readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim()
const lockText = (l: StateFileLock) => `${JSON.stringify(l)}\n`
const linux = process.platform === "linux"
const children: ChildProcess[] = []
const live = async (command = "sleep") => {
  const child = spawn(command, ["30"], { stdio: "ignore" })
  children.push(child)
  await new Promise((r) => child.once("spawn", r))
  return child.pid as number
}
afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL")
  fsHook.beforeLockStep = undefined
})

describe("lock11 F5: pid reuse judged by start ticks, not the wall clock", () => {
  test.runIf(linux)("processStartTicks reads field 22 after the LAST ')' (a command name with spaces and parentheses)", async () => {
    const before = processStartTicks(await live())
    const dir = mkdtempSync(join(tmpdir(), "lock11-comm-"))
    const odd = join(dir, "a) b (c")
    copyFileSync("/bin/sleep", odd)
    chmodSync(odd, 0o755)
    const oddPid = await live(odd)
    expect(readFileSync(`/proc/${oddPid}/stat`, "utf8")).toContain("(a) b (c)")
    const ticks = processStartTicks(oddPid)
    const after = processStartTicks(await live())
    console.log(`lock11 ticks: before ${before}, '(a) b (c)' ${ticks}, after ${after}, self ${processStartTicks("self")}`)
    expect(Number.isSafeInteger(ticks)).toBe(true)
    expect(ticks as number).toBeGreaterThanOrEqual(before as number)
    expect(ticks as number).toBeLessThanOrEqual(after as number)
    expect(processStartTicks(deadPid())).toBeUndefined()
  })

  test.runIf(linux)("a lock written by this version carries the writer's start ticks and boot id", () => {
    const path = fresh()
    const store = writer(path)
    const held = JSON.parse(readFileSync(lockPath(path), "utf8")) as StateFileLock
    store.close()
    expect(held.pid).toBe(process.pid)
    expect(held.startTicks).toBe(processStartTicks("self"))
    expect(held.bootId).toBe(bootId())
  })

  test.runIf(linux)("another live pid: same ticks refuse even with a `since` an hour old (the wall-clock rule would take it); a process started after the writer, or another boot: taken over; one started before the writer: refused", async () => {
    const pid = await live()
    const ticks = processStartTicks(pid) as number
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString()
    const base = { pid, host: hostname(), since: hourAgo, token: "a".repeat(32), bootId: bootId() }
    const cases: [string, StateFileLock, boolean][] = [
      ["same ticks, since an hour ago", { ...base, startTicks: ticks }, true],
      ["ticks - 1 (pid reused: its process started after the writer)", { ...base, since: new Date().toISOString(), startTicks: ticks - 1 }, false],
      ["ticks + 1000 (its process started before the writer: the writer is another PID namespace's)", { ...base, startTicks: ticks + 1000 }, true],
      ["same ticks, another boot", { ...base, startTicks: ticks, bootId: "00000000-0000-0000-0000-000000000000" }, false],
    ]
    const got = cases.map(([name, lock, refused]) => {
      const path = fresh()
      writeFileSync(lockPath(path), lockText(lock))
      let store: KeeperStateStore | undefined
      const error = attempt(() => {
        store = writer(path)
      })
      store?.close()
      return { name, refused: error instanceof StateFileLockedError, expected: refused, notice: store?.lockNotice }
    })
    console.log(`lock11 other pid: ${JSON.stringify(got)}`)
    for (const g of got) expect(g.refused, g.name).toBe(g.expected)
  })

  test.runIf(linux)("this process's pid: ticks before this process's and written before it started (an earlier process with this pid) taken over; written while it runs, or the same or later ticks (another PID namespace's process, rr11zf F1), refused", () => {
    const mine = processStartTicks("self") as number
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString()
    const base = { pid: process.pid, host: hostname(), token: "b".repeat(32), bootId: bootId() }
    const cases: [string, StateFileLock, boolean][] = [
      ["earlier ticks, since an hour ago (an earlier process with this pid)", { ...base, since: hourAgo, startTicks: mine - 1 }, false],
      ["earlier ticks, since now (written while this process runs: F1's rule kept)", { ...base, since: new Date().toISOString(), startTicks: mine - 1 }, true],
      ["same ticks, since an hour ago", { ...base, since: hourAgo, startTicks: mine }, true],
      ["later ticks, since an hour ago", { ...base, since: hourAgo, startTicks: mine + 100 }, true],
      ["later ticks, another boot", { ...base, since: hourAgo, startTicks: mine + 100, bootId: "00000000-0000-0000-0000-000000000000" }, false],
    ]
    const got = cases.map(([name, lock, refused]) => {
      const path = fresh()
      writeFileSync(lockPath(path), lockText(lock))
      let store: KeeperStateStore | undefined
      const error = attempt(() => {
        store = writer(path)
      })
      store?.close()
      return { name, refused: error instanceof StateFileLockedError, expected: refused }
    })
    console.log(`lock11 own pid: ${JSON.stringify(got)}`)
    for (const g of got) expect(g.refused, g.name).toBe(g.expected)
  })
})

describe("lock11 E4: the lock never exists without its content", () => {
  test("a kill image before every file-system step of the lock's creation (tmp open, write, fsync, link, tmp unlink) holds no lock or a complete one; each restart starts", () => {
    const path = fresh()
    const images: { step: string; dir: string }[] = []
    fsHook.beforeLockStep = (step, p) => {
      const dir = mkdtempSync(join(tmpdir(), "lock11-img-"))
      cpSync(join(path, ".."), dir, { recursive: true })
      images.push({ step: `${step} ${p.slice(p.lastIndexOf("/") + 1)}`, dir })
    }
    const store = writer(path)
    fsHook.beforeLockStep = undefined
    const mine = readFileSync(lockPath(path), "utf8")
    store.close()
    const steps = images.map((i) => i.step.split(" ")[0])
    const seen = images.map(({ step, dir }) => {
      const lock = lockPath(join(dir, "keeper-state.json"))
      const text = existsSync(lock) ? readFileSync(lock, "utf8") : undefined
      // The restart is another process: the image's lock (when complete) names a pid that no longer runs.
      if (text !== undefined && text === mine) writeFileSync(lock, lockText({ ...(JSON.parse(text) as StateFileLock), pid: deadPid() }))
      const error = attempt(() => writer(join(dir, "keeper-state.json")).close())
      return { step, lock: text === undefined ? "none" : text === mine ? "complete" : `other ${JSON.stringify(text)}`, restart: error instanceof Error ? error.name : "started" }
    })
    console.log(`lock11 E4 kill images: ${JSON.stringify(seen)}`)
    expect(steps).toEqual(expect.arrayContaining(["open", "write", "fsync", "link", "unlink"]))
    for (const s of seen) {
      expect(["none", "complete"], s.step).toContain(s.lock)
      expect(s.restart, s.step).toBe("started")
    }
  })

  test("an empty lock (an older version's keeper killed between open 'wx' and its write) older than LOCK_GRACE_MS is taken over; a fresh one, or an old lock that does not parse and is not empty, refuses", () => {
    const old = (Date.now() - LOCK_GRACE_MS - 60_000) / 1000
    const cases: [string, string, number | undefined, boolean][] = [
      ["empty, 65 s old", "", old, false],
      ["NUL bytes, 65 s old (power loss)", "\0\0\0\0", old, false],
      ["empty, just written", "", undefined, true],
      ["not JSON, 65 s old (hand edit)", "held by ops", old, true],
    ]
    const got = cases.map(([name, text, mtime, refused]) => {
      const path = fresh()
      writeFileSync(lockPath(path), text)
      if (mtime !== undefined) utimesSync(lockPath(path), mtime, mtime)
      let store: KeeperStateStore | undefined
      const error = attempt(() => {
        store = writer(path)
      })
      const after = readFileSync(lockPath(path), "utf8")
      store?.close()
      return { name, refused: error instanceof StateFileLockedError, expected: refused, notice: store?.lockNotice, left: after === text }
    })
    console.log(`lock11 E4 unparseable locks: ${JSON.stringify(got)}`)
    for (const g of got) {
      expect(g.refused, g.name).toBe(g.expected)
      expect(g.left, g.name).toBe(g.refused)
      if (!g.refused) expect(g.notice).toContain("took over the empty lock")
    }
  })
})

describe("lock11 E3: of two starters taking one stale lock over, one wins", () => {
  test("starter A's whole takeover runs inside starter B's removal (B renames A's fresh lock aside): B puts it back and is refused; A holds the lock and writes on", () => {
    const path = fresh()
    writeFileSync(lockPath(path), lockText({ pid: deadPid(), host: hostname(), since: new Date(Date.now() - 3_600_000).toISOString(), token: "0".repeat(32) }))
    let a: KeeperStateStore | undefined
    let fired = false
    fsHook.beforeLockStep = (step, p) => {
      if (fired || step !== "rename" || !p.endsWith(".lock")) return
      fired = true
      a = writer(path)
    }
    const bError = attempt(() => writer(path))
    fsHook.beforeLockStep = undefined
    expect(fired).toBe(true)
    expect(a).toBeDefined()
    expect(bError).toBeInstanceOf(StateFileLockedError)
    const held = (JSON.parse(readFileSync(lockPath(path), "utf8")) as StateFileLock).token
    // A's lock, put back under its inode: A's next line passes its check (a replaced lock would throw).
    expect(attempt(() => a?.setPending(SAFE, record(5n)))).toBeUndefined()
    const leftovers = readdirSync(join(path, "..")).filter((n) => n.includes(".lock."))
    console.log(`lock11 E3: A started, B ${(bError as Error).name}; lock token ${held.slice(0, 8)}...; files beside the lock ${JSON.stringify(leftovers)}`)
    expect(leftovers).toEqual([])
    a?.close()
    expect(existsSync(lockPath(path))).toBe(false)
  })
})

describe("lock11 E3, the displaced holder: its lock renamed aside by a racing starter and put back", () => {
  test("the holder's check meets the lock gone, and by its re-take the starter has put it back: the holder adopts its own lock again (not refused as this process's unheld lock) and writes on", () => {
    const path = fresh()
    const a = writer(path)
    const mine = readFileSync(lockPath(path), "utf8")
    const aside = `${lockPath(path)}.999.aside.stale`
    renameSync(lockPath(path), aside)
    let restored = false
    fsHook.beforeLockStep = (step, p) => {
      if (restored || step !== "open" || !p.endsWith(".tmp")) return
      restored = true
      linkSync(aside, lockPath(path))
      unlinkSync(aside)
    }
    const error = attempt(() => a.setPending(SAFE, record(5n)))
    fsHook.beforeLockStep = undefined
    console.log(`lock11 displaced holder: restored ${restored}; write ${error instanceof Error ? error.name : "ok"}`)
    expect(restored).toBe(true)
    expect(error).toBeUndefined()
    expect(readFileSync(lockPath(path), "utf8")).toBe(mine)
    // Still its own: the next line passes, and close removes it.
    expect(attempt(() => a.setPending(SAFE, record(6n)))).toBeUndefined()
    a.close()
    expect(existsSync(lockPath(path))).toBe(false)
    expect(readdirSync(join(path, "..")).filter((n) => n.includes(".lock"))).toEqual([])
  })
})

describe("lock11 F2's cost: the per-line check is one stat while the lock is unchanged", () => {
  test("100 journal lines read the lock 0 times; the lock rewritten in place (same inode, another token) is seen at the next line; each snapshot reads it once", async () => {
    const path = fresh()
    const store = writer(path)
    fsHook.lockReads = 0
    for (let n = 0; n < 100; n++) store.setPending(SAFE, record(BigInt(n)))
    const perLines = fsHook.lockReads
    await store.flush()
    const perSnapshot = fsHook.lockReads - perLines
    // Rewritten in place by someone else (same inode; mtime moves: wait past the file system's timestamp granularity).
    await new Promise((r) => setTimeout(r, 50))
    const other = lockText({ pid: process.pid, host: hostname(), since: new Date().toISOString(), token: "c".repeat(32) })
    writeFileSync(lockPath(path), other)
    const error = attempt(() => store.setPending(SAFE, record(200n)))
    console.log(`lock11 F2 cost: lock reads for 100 lines ${perLines}, for one snapshot ${perSnapshot}; after an in-place rewrite: ${error instanceof Error ? error.name : "written"}`)
    store.close()
    expect(perLines).toBe(0)
    expect(perSnapshot).toBe(1)
    expect(error).toBeInstanceOf(StateFileLockedError)
    expect(readFileSync(lockPath(path), "utf8")).toBe(other)
  })
})
