import { closeSync, existsSync, openSync, readFileSync, readdirSync, unlinkSync, utimesSync, writeFileSync } from "node:fs"
import { hostname } from "node:os"
import { join } from "node:path"
import type { Address } from "viem"
import { afterEach, describe, expect, test, vi } from "vitest"
import { KeeperStateStore, LOCK_LEASE_MS, type StateFileLock, StateFileLockedError, lockPath } from "./stateFile.js"
import { deadPid } from "./testing.js"
import { SAFE_A, SAFE_B, pendingRecord as record, attempt, stateWriter as writer, nonceOnDisk as nonceOn, freshStatePath } from "./stateFileStore.testing.js"

// Review rr11zg: break-it of the state file's lock and journal as on main 519e36f / eaba353 (merges next11, lock11: own-pid
// rule, per-line stat check, start ticks + boot id, atomic link creation, rename-aside takeover, 5 s grace on an empty
// lock). The real KeeperStateStore on temporary directories; node:fs wrapped only to inject one fault (a failing open
// of the lock's tmp file: a full disk at start) and to run a step of another process before a lock step (fsHook).
// FAILS TODAY tests run only with RR11ZG_FAILING set; held controls always run.
const run = process.env.RR11ZG_FAILING ? test : test.skip

const fsHook = vi.hoisted(() => ({
  /** Called before each lock step (`open` / `rename` / `link` / `unlink` of `<x>.lock` or a file beside it). */
  before: undefined as undefined | ((step: string, path: string) => void),
}))
vi.mock("node:fs", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs")>()
  const lockish = (p: unknown) => /\.lock($|\.)/.test(String(p))
  const onPath =
    <F extends (...a: never[]) => unknown>(step: string, f: F) =>
    (...args: Parameters<F>) => {
      if (lockish(args[0])) fsHook.before?.(step, String(args[0]))
      return f(...args)
    }
  const wrapped = {
    openSync: onPath("open", fs.openSync as never) as unknown as typeof fs.openSync,
    linkSync: onPath("link", fs.linkSync as never) as unknown as typeof fs.linkSync,
    unlinkSync: onPath("unlink", fs.unlinkSync as never) as unknown as typeof fs.unlinkSync,
    renameSync: onPath("rename", fs.renameSync as never) as unknown as typeof fs.renameSync,
  }
  return { ...fs, ...wrapped, default: { ...fs, ...wrapped } }
})
afterEach(() => {
  fsHook.before = undefined
})

const fresh = () => freshStatePath("rr11zg")
const bootId = () => {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim()
  } catch {
    return undefined
  }
}
const lockText = (l: StateFileLock) => `${JSON.stringify(l)}\n`

describe("rr11zg G1: a lock of another hostname is refused for ever, however old", () => {
  // Docker's default hostname is the container id: `docker run --rm` under systemd (Restart=always), or compose's
  // `up` re-creating the container, starts each incarnation under a NEW hostname with the same volume. A Kubernetes
  // Deployment's pod is replaced (node failure, force delete, eviction) under a new pod name = hostname, same PVC.
  // The keeper killed by SIGKILL (OOM: no exit hook) leaves its lock; the next incarnation is refused until a human
  // deletes it. The lock below was written (and last touched) an hour ago by PID 1 of the previous container.
  const hourAgo = () => new Date(Date.now() - 3_600_000)
  const cases = [
    ["same boot (docker run --rm under systemd after an OOM kill)", bootId()],
    ["another boot id (pod rescheduled to another node, or after a host reboot)", "00000000-0000-0000-0000-000000000000"],
  ] as const
  for (const [name, boot] of cases) {
    // Fixed (main, after the review): the lock carries a lease (`leaseMs`, renewed by its holder every 15 s); the lock
    // below is written as this version writes it (with its lease), last renewed an hour ago.
    test(`G1: ${name}: the restart takes the dead container's lock over`, () => {
      const path = fresh()
      const then = hourAgo()
      const held = lockText({ pid: 1, host: "3f9a1c2b7d4e", since: then.toISOString(), token: "a".repeat(32), startTicks: 1234, ...(boot ? { bootId: boot } : {}), leaseMs: LOCK_LEASE_MS })
      writeFileSync(lockPath(path), held)
      utimesSync(lockPath(path), then, then)
      let store: KeeperStateStore | undefined
      const error = attempt(() => {
        store = writer(path)
      })
      console.log(`rr11zg G1 (${name}): lock of host 3f9a1c2b7d4e, written and last touched 1 h ago, this host ${hostname()}: ${error instanceof Error ? `${error.name}` : `started (${store?.lockNotice ?? ""})`}`)
      store?.close()
      expect(error).toBeUndefined()
    })
  }

  test("G1 control (held): a lock of another hostname written just now refuses (a live keeper of another host: any fix must keep this)", () => {
    const path = fresh()
    const held = lockText({ pid: 1, host: "3f9a1c2b7d4e", since: new Date().toISOString(), token: "a".repeat(32), startTicks: 1234, bootId: "00000000-0000-0000-0000-000000000000", leaseMs: LOCK_LEASE_MS })
    writeFileSync(lockPath(path), held)
    const error = attempt(() => writer(path).close())
    expect(error).toBeInstanceOf(StateFileLockedError)
    expect(readFileSync(lockPath(path), "utf8")).toBe(held)
  })
})

describe("rr11zg G2: a store that lost its lock takes a free lock again without re-reading the file", () => {
  // Fixed (main, after the review): a store taking the lock again re-reads the file when another writer wrote it.
  test("G2a: keeper A's lock deleted by hand (the refusal's own advice); keeper B starts, records Safe a02 nonce 7, snapshots and stops; A's next line re-takes the free lock and A's snapshot drops B's record", async () => {
    const path = fresh()
    const a = writer(path)
    a.setPending(SAFE_A, record(5n))
    await a.flush()
    unlinkSync(lockPath(path))
    const b = writer(path)
    b.setPending(SAFE_B, record(7n))
    await b.flush()
    b.close()
    const beforeA = nonceOn(path, SAFE_B)
    const line = attempt(() => a.setPending(SAFE_A, record(6n)))
    await a.flush()
    const after = nonceOn(path, SAFE_B)
    console.log(`rr11zg G2a: B's record (Safe a02) on disk after B stopped: nonce ${beforeA ?? "none"}; A's line: ${line instanceof Error ? line.name : "written (lock re-taken)"}; after A's snapshot: Safe a02 nonce ${after ?? "gone"}, Safe a01 nonce ${nonceOn(path, SAFE_A) ?? "gone"}`)
    a.close()
    expect(beforeA).toBe("7")
    expect(after).toBe("7")
  })

  test("G2b: keeper A starts on a full disk (its lock cannot be created; rr11ze E2's start); keeper B (a second keeper given the same stateFile) starts, records Safe a02 nonce 7, stops; the disk frees; A's first write takes the lock and its snapshot drops B's record", async () => {
    const path = fresh()
    const seed = writer(path)
    seed.setPending(SAFE_B, record(6n))
    await seed.flush()
    seed.close()
    let full = true
    fsHook.before = (step, p) => {
      if (full && step === "open" && p.endsWith(".tmp")) throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" })
    }
    const a = writer(path)
    full = false
    fsHook.before = undefined
    const notice = a.lockNotice
    const b = writer(path)
    b.setPending(SAFE_B, record(7n))
    await b.flush()
    b.close()
    const line = attempt(() => a.setPending(SAFE_A, record(1n)))
    await a.flush()
    const after = nonceOn(path, SAFE_B)
    console.log(`rr11zg G2b: A started with notice "${notice?.slice(0, 60)}..."; A's first write: ${line instanceof Error ? line.name : "written (lock taken)"}; Safe a02 on disk after A's snapshot: nonce ${after ?? "gone"} (B recorded 7)`)
    a.close()
    expect(notice).toContain("could not create")
    expect(after).toBe("7")
  })

  test("G2 control (held): while B still holds the lock, A's next line is refused (StateFileLockedError) and B's record stays", async () => {
    const path = fresh()
    const a = writer(path)
    a.setPending(SAFE_A, record(5n))
    await a.flush()
    unlinkSync(lockPath(path))
    const b = writer(path)
    b.setPending(SAFE_B, record(7n))
    await b.flush()
    const line = attempt(() => a.setPending(SAFE_A, record(6n)))
    b.close()
    a.close()
    expect(line).toBeInstanceOf(StateFileLockedError)
    expect(nonceOn(path, SAFE_B)).toBe("7")
  })
})

describe("rr11zg G3: the stale-takeover's compare is by text, and every empty lock has the same text", () => {
  run("G3: starter B judged an old empty lock stale; before B's rename the path was freed and an older-version keeper W created its lock (open 'wx', not yet written: empty); B renames W's lock aside, finds '' === '' and deletes it: B and W both hold the file", () => {
    const path = fresh()
    writeFileSync(lockPath(path), "")
    const old = new Date(Date.now() - 65_000)
    utimesSync(lockPath(path), old, old)
    let wFd: number | undefined
    let fired = false
    fsHook.before = (step, p) => {
      if (fired || step !== "rename" || !p.endsWith(".lock")) return
      fired = true
      // Inside B's window: the old empty lock removed (a third starter's takeover that then lost the creation race to
      // W), and W (a keeper of a version before rr11ze E4) creating its lock: open "wx" first, content written after.
      unlinkSync(lockPath(path))
      wFd = openSync(lockPath(path), "wx")
    }
    let b: KeeperStateStore | undefined
    const error = attempt(() => {
      b = writer(path)
    })
    fsHook.before = undefined
    // W writes its content into the file it opened: a name-less inode now; W believes it holds the lock.
    const wLockVisible = existsSync(lockPath(path)) && readFileSync(lockPath(path), "utf8") === ""
    console.log(`rr11zg G3: hook fired ${fired}; W's fd ${wFd}; B: ${error instanceof Error ? error.name : `started (${b?.lockNotice ?? ""})`}; W's empty lock still at the path: ${wLockVisible}`)
    b?.close()
    if (wFd !== undefined) closeSync(wFd)
    expect(fired).toBe(true)
    expect(error).toBeInstanceOf(StateFileLockedError)
  })
})

describe("rr11zg G4: a snapshot's asynchronous steps run after its one lock check", () => {
  run("G4: keeper A's snapshot has passed its lock check and is writing <path>.tmp when its lock is deleted and keeper B starts; A's snapshot goes on writing <path>.tmp and renaming while B holds the file; the two share the tmp name, so one of the two snapshots fails ENOENT (which one varies run to run)", async () => {
    const path = fresh()
    const a = writer(path)
    a.setPending(SAFE_A, record(5n))
    await a.flush()
    a.setPending(SAFE_A, record(6n))
    const pa = a.flush().then(
      () => "landed",
      (e: Error) => (e instanceof StateFileLockedError ? e.name : `${(e as NodeJS.ErrnoException).code ?? e.name} (${e.message.slice(0, 80)})`),
    )
    // A's snapshot runs its check (checkLock(true)) and starts its writeFile of <path>.tmp.
    await new Promise((r) => setImmediate(r))
    unlinkSync(lockPath(path))
    const b = writer(path)
    b.setPending(SAFE_B, record(7n))
    await new Promise((r) => setImmediate(r))
    await new Promise((r) => setImmediate(r))
    const pb = b.flush().then(
      () => "landed",
      (e: Error) => `${(e as NodeJS.ErrnoException).code ?? e.name}`,
    )
    const [ra, rb] = await Promise.all([pa, pb])
    const onDisk = { a01: nonceOn(path, SAFE_A), a02: nonceOn(path, SAFE_B) }
    console.log(`rr11zg G4: A's snapshot (lock taken over while it ran): ${ra}; B's first snapshot (B holds the lock): ${rb}; on disk ${JSON.stringify(onDisk)}`)
    b.close()
    a.close()
    expect(ra).toBe("StateFileLockedError")
    expect(rb).toBe("landed")
  })
})

describe("rr11zg held: a holder whose lock a racing starter renamed aside writes inside the racer's window", () => {
  test("held: A takes a stale lock over inside B's removal window; B renames A's fresh lock aside; A writes a line before B's link-back (A re-creates the free lock); B's link-back fails, B deletes its aside copy and is refused; A holds and writes on; nothing left beside the lock", () => {
    const path = fresh()
    writeFileSync(lockPath(path), lockText({ pid: deadPid(), host: hostname(), since: new Date(Date.now() - 3_600_000).toISOString(), token: "0".repeat(32) }))
    let a: KeeperStateStore | undefined
    let phase = 0
    let aLine: unknown = "not run"
    fsHook.before = (step, p) => {
      if (phase === 0 && step === "rename" && p.endsWith(".lock")) {
        // Inside B's removeStale, before its rename: A runs its whole takeover of the stale lock.
        phase = 1
        a = writer(path)
        phase = 2
        return
      }
      if (phase === 2 && step === "link" && p.endsWith(".stale")) {
        // B has renamed A's fresh lock aside and is about to link it back: A writes a journal line now.
        phase = 3
        aLine = attempt(() => a?.setPending(SAFE_A, record(5n)))
        phase = 4
      }
    }
    const bError = attempt(() => writer(path))
    fsHook.before = undefined
    const held = (JSON.parse(readFileSync(lockPath(path), "utf8")) as StateFileLock).token
    const next = attempt(() => a?.setPending(SAFE_A, record(6n)))
    const leftovers = readdirSync(join(path, "..")).filter((n) => n.includes(".lock."))
    console.log(`rr11zg held (racer window): phase ${phase}; A's line in B's window: ${aLine instanceof Error ? aLine.name : String(aLine ?? "written")}; B: ${bError instanceof Error ? bError.name : "started"}; lock token ${held.slice(0, 8)}; A's next line: ${next instanceof Error ? next.name : "written"}; beside the lock ${JSON.stringify(leftovers)}`)
    a?.close()
    expect(phase).toBe(4)
    expect(aLine).toBeUndefined()
    expect(bError).toBeInstanceOf(StateFileLockedError)
    expect(next).toBeUndefined()
    expect(leftovers).toEqual([])
    expect(existsSync(lockPath(path))).toBe(false)
    expect(nonceOn(path, SAFE_A)).toBe("6")
  })
})
