import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { hostname, tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, test, vi } from "vitest"
import { KeeperStateStore, StateFileLockedError, lockPath } from "./stateFile.js"

// Review rr11zf: the pid-reuse test of the state file's lock (rr11ze E1b, `startedAfter`: /proc/<pid>/stat start ticks
// plus /proc/stat btime against the lock's wall-clock `since`) under a wall-clock step. Linux's btime is derived from the
// current wall clock minus the time since boot, so a step of the clock (NTP's first sync at boot, `makestep`; a device
// without RTC; a VM resumed) moves it and every process's computed start with it. /proc/stat is wrapped to add the step.
// F5 fixed (branch lock11): a lock records its writer's own start ticks (`startTicks`, field 22 of /proc/self/stat) and
// boot (`bootId`), and pid reuse is judged ticks against ticks; the test's keeper A writes its lock as this version does.

/** Field 22 of /proc/<pid>/stat (start ticks since boot), read after the last ")" (the command name may hold spaces). */
const startTicksOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19])
}

const clock = vi.hoisted(() => ({ stepSeconds: 0 }))
vi.mock("node:fs", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs")>()
  const readFileSync = ((...args: Parameters<typeof fs.readFileSync>) => {
    const out = (fs.readFileSync as (...a: unknown[]) => string | Buffer)(...args)
    if (String(args[0]) !== "/proc/stat" || clock.stepSeconds === 0) return out
    return String(out).replace(/^btime (\d+)$/m, (_, b: string) => `btime ${Number(b) + clock.stepSeconds}`)
  }) as typeof fs.readFileSync
  return { ...fs, default: { ...fs, readFileSync }, readFileSync }
})

describe("rr11zf F5 control (held): without the clock step, the same live lock refuses", () => {
  test("F5 control: keeper A (live) took the lock; keeper B is refused", async () => {
    if (process.platform !== "linux") return
    const path = join(mkdtempSync(join(tmpdir(), "rr11zf-")), "keeper-state.json")
    const a = spawn("sleep", ["30"], { stdio: "ignore" })
    await new Promise((r) => setTimeout(r, 300))
    writeFileSync(lockPath(path), `${JSON.stringify({ pid: a.pid, host: hostname(), since: new Date().toISOString(), token: "a".repeat(32) })}\n`)
    let error: unknown
    try {
      new KeeperStateStore(path).close()
    } catch (e) {
      error = e
    }
    a.kill()
    expect(error).toBeInstanceOf(StateFileLockedError)
  })
})

describe("rr11zf F5 (Low, fixed): a wall-clock step after the lock was taken makes a live keeper's lock look stale", () => {
  test("F5: keeper A (live) took the lock; the clock is then stepped forward 10 s (first NTP sync after boot); keeper B starts and takes A's lock over", async () => {
    if (process.platform !== "linux") return
    const path = join(mkdtempSync(join(tmpdir(), "rr11zf-")), "keeper-state.json")
    // Keeper A: a live process that started before it took its lock.
    const a = spawn("sleep", ["30"], { stdio: "ignore" })
    await new Promise((r) => setTimeout(r, 300))
    // As a keeper of this version writes it: its own start ticks and boot id.
    const startTicks = startTicksOf(a.pid as number)
    expect(Number.isSafeInteger(startTicks)).toBe(true)
    const bootId = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim()
    const held = `${JSON.stringify({ pid: a.pid, host: hostname(), since: new Date().toISOString(), token: "a".repeat(32), startTicks, bootId })}\n`
    writeFileSync(lockPath(path), held)
    // The wall clock is stepped forward by 10 s (btime follows): A's computed start is now 10 s after its lock's `since`.
    clock.stepSeconds = 10
    let error: unknown
    let store: KeeperStateStore | undefined
    try {
      store = new KeeperStateStore(path)
    } catch (e) {
      error = e
    }
    clock.stepSeconds = 0
    const now = readFileSync(lockPath(path), "utf8")
    console.log(`rr11zf F5: live pid ${a.pid} alive; after a +10 s clock step: ${error instanceof Error ? error.name : `taken over (${store?.lockNotice ?? ""})`}`)
    store?.close()
    a.kill()
    expect(error).toBeInstanceOf(StateFileLockedError)
    expect(now).toBe(held)
  })
})
