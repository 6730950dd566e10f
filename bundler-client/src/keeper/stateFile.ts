import { randomBytes } from "node:crypto"
import { closeSync, existsSync, fstatSync, fsyncSync, futimesSync, linkSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs"
import { mkdir, open, rename, unlink, writeFile } from "node:fs/promises"
import { hostname } from "node:os"
import { basename, dirname } from "node:path"
import type { Address, Hex } from "viem"
import { type FailureRun, type PendingStore, StateWriteError, failureRun } from "./store.js"

/** An operation the keeper sent and has not yet seen included, dropped or replaced. */
export type PendingOperation = {
  /** UserOperation hash; undefined while the send is in progress (intent recorded first). */
  userOpHash: Hex | undefined
  /** EntryPoint nonce (key and sequence) the operation uses. */
  nonce: string
  /** Block the operation was (last) sent at: the resubmission timer counts from there. */
  sentBlock: string
  /** Block this nonce was first sent at (resends keep it): the stall alert counts from there, and its UserOperationEvent is searched from there. */
  firstSentBlock?: string | undefined
  /** Block of the last `stalled` alert for this nonce. */
  stallAlertedBlock?: string | undefined
  /** Block the resubmission timer counts from, when later than `sentBlock` (the bundler said the nonce is in flight). */
  waitFromBlock?: string | undefined
  /**
   * Block the search for this nonce's `UserOperationEvent` goes on from, once the nonce is used and a bounded search
   * (`MAX_LOG_WINDOWS` windows per step) did not reach the head; the search starts at `firstSentBlock` otherwise.
   */
  searchFromBlock?: string | undefined
  /** The plan's sub-accounts (lower case, sorted): the `reverted` alert's runs are keyed by them (review rr11o O3); absent in older records. */
  subAccounts?: string[] | undefined
  /** Wall-clock ms of the send. */
  sentAt: number
  /** Fees it was signed with (wei), for a replacement's bump. */
  maxFeePerGas: string
  maxPriorityFeePerGas: string
  /** Whether it carried paymaster data. */
  sponsored: boolean
  /** How many times this nonce was (re)submitted. */
  attempts: number
  /** Block of the first observation that triggered it (latency). */
  triggerBlock: string
  triggerAt: number
}

/**
 * Which nonce sequence a record belongs to: the same Safe address on another chain, behind another EntryPoint or module,
 * or driven by another keeper key has another sequence, so its record means nothing here.
 */
export type KeeperStateScope = { chainId: number; entryPoint: Address; module: Address; keeper: Address }

/** The key of a {@link KeeperStateScope} in the state file: `chainId:entryPoint:module:keeper`, addresses lower case. */
export const scopeKey = (s: KeeperStateScope) => `${s.chainId}:${s.entryPoint.toLowerCase()}:${s.module.toLowerCase()}:${s.keeper.toLowerCase()}`

/**
 * What the keeper persists across restarts: per scope (chain, EntryPoint, module, keeper key) and Safe, the operation in
 * flight, and the Safe's alone table (`aloneFacts`: `SafeRuntime.aloneFacts` as tagged JSON, `encodeShared`: bigints as
 * decimal strings, a `chain-rule` refusal as its rule, args, stage and detail; absent when empty or in files written
 * before it). Everything else comes from the chain. Version 1 files (keyed by Safe only) are not trusted: their records
 * could belong to another chain, and the chain's nonce tells what a record would have. `journal` (snapshots only): the
 * generation of the first journal file the snapshot does not cover (absent: 0; see {@link KeeperStateStore}).
 */
export type KeeperState = { version: 2; journal?: number | undefined; scopes: Record<string, { safes: Record<string, SafeRecord> }> }

/** One Safe's record in the state file: its operation in flight and its alone table (tagged JSON). */
export type SafeRecord = { pending: PendingOperation | undefined; aloneFacts?: unknown }

/**
 * One line of a journal file: one change of one Safe's record in one scope, the changed field only: `pending` (null:
 * none) for `setPending`, `aloneFacts` (null: none) for `setAloneFacts`.
 */
type JournalLine = { scope: string; safe: string; pending?: PendingOperation | null; aloneFacts?: unknown }

/**
 * The previous snapshot of the state file `path`: `<path>.prev`, the snapshot `path` held before the last one was renamed
 * in (review rr11zd D4). The journal files it does not cover are kept until the next snapshot lands, so when `path`
 * cannot be read (cut by a power loss, edited by hand) the load falls back to it and loses nothing.
 */
export const previousPath = (path: string) => `${path}.prev`

/** The journal file of generation `gen` next to the snapshot `path`: `<path>.journal.<gen>`. */
export const journalPath = (path: string, gen: number) => `${path}.journal.${gen}`

/**
 * The journal files next to the snapshot `path`, by generation (ascending). A missing directory has none.
 *
 * @returns The generations found.
 */
function journalGenerations(path: string): number[] {
  const prefix = `${basename(path)}.journal.`
  let names: string[]
  try {
    names = readdirSync(dirname(path))
  } catch {
    return []
  }
  return names
    .filter((n) => n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length)))
    .map((n) => Number(n.slice(prefix.length)))
    .sort((a, b) => a - b)
}

/**
 * Tells the operator what opening the state file found, at the keeper's start (classic and embedded fleet keeper): a
 * stale lock taken over or a lock that could not be created (`lockNotice`), a snapshot discarded (`discarded`), journal
 * lines skipped (`skipped`: how many, where, and why: the last line of a file cut by a kill or a full disk, or a bad line
 * in a file), all logged; a snapshot that exists but cannot be read (`unreadable`, review rr11zd D4) alerted
 * `state-file-unreadable` on the module.
 */
export function reportStateFileOpened(store: Pick<KeeperStateStore, "path" | "lockNotice" | "discarded" | "unreadable" | "skipped">, deps: { logger: { warn(obj: object, msg: string): void }; events: { alert(subject: Address, block: bigint, kind: "state-file-unreadable", error: Error): void }; module: Address }): void {
  if (store.lockNotice) deps.logger.warn({ stateFile: store.path }, store.lockNotice)
  if (store.discarded) deps.logger.warn({ stateFile: store.path }, store.discarded)
  const { torn, bad } = store.skipped
  const where = (lines: string[]) => `${lines.slice(0, 3).join(", ")}${lines.length > 3 ? `, and ${lines.length - 3} more` : ""}`
  if (torn.length > 0) deps.logger.warn({ stateFile: store.path, torn: torn.length }, `${torn.length} journal line(s) cut short by a kill or a full disk (the last line of its file) ignored: ${where(torn)}; the chain's nonce reconciles the change it held`)
  if (bad.length > 0) deps.logger.warn({ stateFile: store.path, bad: bad.length }, `${bad.length} whole journal line(s) that do not parse or are not records ignored (edited by hand or a damaged disk, not a cut write): ${where(bad)}; their changes are lost`)
  if (store.unreadable) deps.events.alert(deps.module, 0n, "state-file-unreadable", new Error(store.unreadable))
}

/** The lock file of the state file `path`: `<path>.lock` (see {@link KeeperStateStore}). */
export const lockPath = (path: string) => `${path}.lock`

/**
 * The content of a state file's lock: the writing process's pid, its host (a pid is only checked on its own host), when
 * it took the lock (ISO 8601, wall clock: shown to the operator; used to judge pid reuse only for a lock without
 * `startTicks`), a random token (which of this process's stores holds it: the lock is released only by the store whose
 * token it still holds), and on Linux the writer's own start (`startTicks`: field 22 of `/proc/self/stat`, clock ticks
 * since boot, a monotonic clock no wall-clock step moves) and the boot it belongs to (`bootId`:
 * `/proc/sys/kernel/random/boot_id`). `startTicks` / `bootId` are absent in locks written before review rr11zf F5 and
 * where `/proc` cannot be read. `leaseMs`: the holder renews the lock file's mtime every {@link LOCK_RENEW_MS} while it
 * holds it, and a lock not renewed for `leaseMs` is stale whatever its host and pid (review rr11zg G1: a keeper killed
 * and restarted as a new container or pod, under a new hostname, on the same volume); absent in locks of versions that
 * do not renew (then only the pid rules apply).
 */
export type StateFileLock = { pid: number; host: string; since: string; token: string; startTicks?: number | undefined; bootId?: string | undefined; leaseMs?: number | undefined }

/**
 * How long (ms) a lock of this version stays its holder's without being renewed: 120 s, 8 renewals ({@link LOCK_RENEW_MS}).
 * A keeper whose event loop is blocked longer, or whose clock differs from the starter's (another host on a shared
 * volume) by more, may lose its lock to a starting keeper: it then finds the lock another's at its next journal line or
 * snapshot and writes nothing more (at most one writer). A restarted keeper refused by its dead predecessor's lock
 * (another hostname) starts once the lease has run out (the CLI exits 1 meanwhile; a supervisor's restart retries).
 */
export const LOCK_LEASE_MS = 120_000

/** How often (ms) a holder renews its lock's mtime (`futimes` on the lock's open descriptor): every 15 s. */
export const LOCK_RENEW_MS = 15_000

/**
 * Another writer holds the state file's lock (review rr11zc C4): two keepers writing one `stateFile` would each snapshot
 * their own copy of every scope over the other's and delete the other's journal lines. Thrown by a writing
 * {@link KeeperStateStore}'s constructor when `<stateFile>.lock` names a live process on this host, a process of another
 * host (whose pid cannot be checked here), or cannot be read (except an empty lock older than {@link LOCK_GRACE_MS});
 * never for a lock whose pid is gone (taken over).
 */
export class StateFileLockedError extends Error {
  override name = "StateFileLockedError"
  /** The state file. */
  readonly path: string
  /** The lock file, `<path>.lock`. */
  readonly lockPath: string
  /** The lock's content (undefined: unreadable, e.g. empty). */
  readonly holder: StateFileLock | undefined
  constructor({ path, holder, reason }: { path: string; holder: StateFileLock | undefined; reason?: string | undefined }) {
    const lock = lockPath(path)
    const who = holder
      ? `process ${holder.pid} on host ${holder.host} (since ${holder.since})`
      : `an unknown process (${reason ?? "the lock file cannot be read"})`
    super(
      `the state file ${path} is in use by ${who}: its lock ${lock} is held. One keeper per state file: give this keeper its own "stateFile" ` +
        `(or run it with --dry-run, which only reads the file), or stop the other keeper first. If no keeper uses this file, delete ${lock}` +
        (holder?.leaseMs !== undefined ? ` (or wait: a lock its keeper stopped renewing is taken over ${Math.round(holder.leaseMs / 1000)} s after its last renewal).` : "."),
    )
    this.path = path
    this.lockPath = lock
    this.holder = holder
  }
}

/** The locks this process holds (state file lock path -> token), released at exit. */
const heldLocks = new Map<string, string>()
let exitHook = false

/**
 * Unlinks the lock `lock` if it still holds `token` (never another process's lock, e.g. one that took a lock it
 * believed stale).
 */
function releaseLock(lock: string, token: string): void {
  if (heldLocks.get(lock) === token) heldLocks.delete(lock)
  try {
    const held = JSON.parse(readFileSync(lock, "utf8")) as Partial<StateFileLock>
    if (held.token === token) unlinkSync(lock)
  } catch {
    // Gone or unreadable: not ours to remove.
  }
}

/**
 * How long (ms, by the lock file's mtime) an empty lock is taken for a writer still between creating it and writing its
 * content: 5 s. Only a keeper of a version before review rr11ze E3/E4 creates a lock that way (this version links a
 * complete, fsynced file into place, so its lock never exists empty), and it writes the content within microseconds; an
 * older empty lock is the remnant of such a keeper killed (or a power loss) between the two, and is taken over.
 */
export const LOCK_GRACE_MS = 5_000

/**
 * The lock's content, or undefined when it does not parse (hand-edited, or a writer of an older version killed between
 * creating and writing it); `empty`: it holds nothing but whitespace / NUL bytes (what such a kill or a power loss
 * leaves); `mtimeMs`: its modification time. An invalid `startTicks` / `bootId` is left out (the rules of a lock without
 * them apply).
 *
 * @throws The file system's error (ENOENT: the lock is gone).
 */
function readLock(lock: string): { text: string; holder: StateFileLock | undefined; empty: boolean; mtimeMs: number } {
  const text = readFileSync(lock, "utf8")
  let mtimeMs = Number.NaN
  try {
    mtimeMs = statSync(lock).mtimeMs
  } catch {
    // Gone since the read: judged by its text (an empty lock of unknown age is refused).
  }
  const empty = /^[\s\0]*$/.test(text)
  try {
    const parsed = JSON.parse(text) as Partial<StateFileLock>
    if (typeof parsed.pid === "number" && Number.isSafeInteger(parsed.pid) && parsed.pid > 0 && typeof parsed.host === "string" && typeof parsed.since === "string" && typeof parsed.token === "string") {
      const holder: StateFileLock = { pid: parsed.pid, host: parsed.host, since: parsed.since, token: parsed.token }
      if (typeof parsed.startTicks === "number" && Number.isSafeInteger(parsed.startTicks) && parsed.startTicks >= 0) holder.startTicks = parsed.startTicks
      if (typeof parsed.bootId === "string" && parsed.bootId !== "") holder.bootId = parsed.bootId
      if (typeof parsed.leaseMs === "number" && Number.isSafeInteger(parsed.leaseMs) && parsed.leaseMs > 0) holder.leaseMs = parsed.leaseMs
      return { text, holder, empty, mtimeMs }
    }
  } catch {
    // Falls through: unreadable.
  }
  return { text, holder: undefined, empty, mtimeMs }
}

/** Whether process `pid` of this host is alive (a process of another user answers EPERM: alive). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH"
  }
}

/**
 * The start of process `pid` (or this process: "self"): field 22 of `/proc/<pid>/stat`, clock ticks since boot (USER_HZ,
 * 100), counted by the kernel's monotonic boot clock (no wall-clock step moves it). The fields are read after the LAST
 * `)`: the command name before it (field 2) may hold spaces and parentheses.
 *
 * @returns The ticks, or undefined when `/proc` cannot be read (not Linux, the process gone) or the line is malformed.
 */
export function processStartTicks(pid: number | "self"): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const close = stat.lastIndexOf(")")
    if (close < 0) return undefined
    // After ") ": field 3 (state) is index 0, so field 22 is index 19.
    const field = stat.slice(close + 1).trim().split(/\s+/)[19]
    if (field === undefined || !/^\d+$/.test(field)) return undefined
    const ticks = Number(field)
    return Number.isSafeInteger(ticks) ? ticks : undefined
  } catch {
    return undefined
  }
}

/** This boot's id (`/proc/sys/kernel/random/boot_id`), or undefined where it cannot be read. */
function bootId(): string | undefined {
  try {
    const id = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim()
    return id === "" ? undefined : id
  } catch {
    return undefined
  }
}

/** This process's start ticks (read once: they never change). */
let selfStart: { ticks: number | undefined } | undefined
const ownStartTicks = (): number | undefined => (selfStart ??= { ticks: processStartTicks("self") }).ticks

/**
 * Whether process `pid` of this host started after `since` (ISO 8601): then it cannot have written a lock taken at
 * `since`, and the pid was reused (a reboot, a container restart; review rr11ze E1b). Used only for a lock without
 * `startTicks` (written by an older version): the process's start (`/proc/<pid>/stat` field 22 at USER_HZ 100) plus the
 * boot time (`/proc/stat` btime, seconds, which follows the wall clock: a clock step after the lock was taken moves it,
 * review rr11zf F5's residual for such locks), against `since` with 2 s of slack. Elsewhere, or unreadable: false (the
 * pid is taken as the lock's writer).
 */
function startedAfter(pid: number, since: string): boolean {
  try {
    const ticks = processStartTicks(pid)
    const btime = Number(/^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))?.[1])
    const taken = Date.parse(since)
    if (ticks === undefined || !Number.isFinite(btime) || !Number.isFinite(taken)) return false
    return btime * 1000 + ticks * 10 > taken + 2000
  } catch {
    return false
  }
}

/**
 * Whether the existing lock `holder` of `lock` (this host) is another live writer's. Held by another store of this
 * process (its token among {@link heldLocks}): live. Otherwise, when the lock carries its writer's start (`startTicks`,
 * review rr11zf F5: ticks against ticks, no wall clock) and this boot's id matches the lock's (another boot: stale,
 * whatever now runs under its pid):
 * - another pid: stale when it is gone (ESRCH), or when the process now holding it started after the lock's writer
 *   (pid reuse: a pid is reused only after its process ended). Live when the ticks are equal (the writer itself), when
 *   the process now holding it started before the lock's writer (then the pid here is not the writer's: the writer runs
 *   in another PID namespace, unverifiable from here), and when `/proc/<pid>/stat` cannot be read: never taken over
 *   unverified.
 * - this process's pid: stale only when its writer started before this process (an earlier process with this pid: a
 *   container's PID 1 restarted after a SIGKILL / OOM kill, review rr11ze E1) AND the lock's `since` is before this
 *   process's start (review rr11zf F1's rule, kept: a lock written while this process runs is not an earlier
 *   process's; the wall clock only adds refusals here). The same or later ticks: another PID namespace's process with
 *   this pid (two containers' PID 1 on one hostname and volume, F1), or this very process's lock that no store of it
 *   holds any more: refused.
 * A lock without `startTicks` (written by an older version, or where `/proc` could not be read), or this process's
 * own start unreadable: judged as before: own pid: stale only when its `since` is before this process's start (F1);
 * another pid: stale when gone or started after the lock's `since` (E1b, wall clock: F5's residual for such locks).
 */
function heldByLiveWriter(lock: string, holder: StateFileLock): boolean {
  const ownPid = holder.pid === process.pid
  if (ownPid && heldLocks.get(lock) === holder.token) return true
  // Our own pid: only a lock taken before this process started can be an earlier process's with the same pid.
  const writtenWhileRunning = () => !(Date.parse(holder.since) < Date.now() - process.uptime() * 1000)
  if (holder.startTicks !== undefined) {
    const boot = bootId()
    if (holder.bootId !== undefined && boot !== undefined && holder.bootId !== boot) return false
    if (!ownPid) {
      if (!alive(holder.pid)) return false
      const now = processStartTicks(holder.pid)
      return now === undefined || now <= holder.startTicks
    }
    const mine = ownStartTicks()
    if (mine !== undefined) return holder.startTicks >= mine || writtenWhileRunning()
  }
  if (ownPid) return writtenWhileRunning()
  return alive(holder.pid) && !startedAfter(holder.pid, holder.since)
}

/**
 * Whether the lock's writer provably still runs on this host: same host name and boot, its pid alive with the start
 * ticks the lock records (another process of this process's pid excluded: this process does not hold the lock). Such a
 * lock is refused even when its lease ran out (a keeper stopped with SIGSTOP / `docker pause`, at a breakpoint, or the
 * wall clock stepped forward: review rr11zh H3); the lease decides only for a writer this host cannot see.
 */
function provablyRunning(holder: StateFileLock): boolean {
  if (holder.pid === process.pid || holder.host !== hostname() || holder.startTicks === undefined || holder.bootId === undefined) return false
  const boot = bootId()
  return boot !== undefined && boot === holder.bootId && alive(holder.pid) && !defunct(holder.pid) && processStartTicks(holder.pid) === holder.startTicks
}

/**
 * Whether process `pid` has exited and waits to be reaped (state Z, zombie, or X, dead: field 3 of `/proc/<pid>/stat`):
 * `kill(pid, 0)` still answers for it and its start ticks are unchanged, but it writes nothing (review rr11zi I2: a
 * keeper crashed under a parent that never reaps it). False where `/proc` cannot be read.
 */
function defunct(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const state = stat.slice(stat.lastIndexOf(")") + 1).trim().split(/\s+/)[0]
    return state === "Z" || state === "X"
  } catch {
    return false
  }
}

/** A unique name next to `lock` for this process: `<lock>.<pid>.<random>.<suffix>`. */
const besideLock = (lock: string, suffix: string) => `${lock}.${process.pid}.${randomBytes(6).toString("hex")}.${suffix}`

/** The file system refuses hard links (vfat, some network and FUSE file systems): the lock is created with `open` "wx". */
const noLinks = (error: unknown) => ["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS", "EXDEV"].includes((error as NodeJS.ErrnoException).code ?? "")

/** A file's identity (device and inode) and what a change of its content or of its links changes (size, mtime, ctime). */
type FileStamp = { dev: bigint; ino: bigint; size: bigint; mtimeNs: bigint; ctimeNs: bigint }
const stampOf = (st: { dev: bigint; ino: bigint; size: bigint; mtimeNs: bigint; ctimeNs: bigint }): FileStamp => ({ dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs })
const sameStamp = (a: FileStamp, b: FileStamp) => a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs

/** The stamp of the file at `file`, or undefined when it is gone or cannot be stat'ed. */
function stampAt(file: string): FileStamp | undefined {
  try {
    const st = statSync(file, { bigint: true, throwIfNoEntry: false })
    return st ? stampOf(st) : undefined
  } catch {
    return undefined
  }
}

/**
 * Writes `bytes` whole to the new file `file` (`open` "wx", fsynced) and leaves it open; on failure closes and removes
 * it and throws.
 *
 * @returns Its descriptor (the caller closes it) and inode identity.
 * @throws The file system's error (EEXIST: `file` exists; ENOSPC...); a short write as EIO.
 */
function writeNewFile(file: string, bytes: Buffer): { fd: number; dev: bigint; ino: bigint } {
  const fd = openSync(file, "wx")
  try {
    const written = writeSync(fd, bytes)
    if (written !== bytes.length) throw Object.assign(new Error(`short write to ${file} (${written} of ${bytes.length} bytes)`), { code: "EIO" })
    fsyncSync(fd)
    const st = fstatSync(fd, { bigint: true })
    return { fd, dev: st.dev, ino: st.ino }
  } catch (error) {
    closeQuietly(fd)
    try {
      unlinkSync(file)
    } catch {
      // Best effort.
    }
    throw error
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd)
  } catch {
    // Nothing more to do with it.
  }
}

/**
 * Creates the lock `lock` holding `bytes`, atomically (review rr11ze E4): the content goes to a unique tmp file
 * (`<lock>.<pid>.<random>.tmp`, fsynced) which is then hard-linked to `lock` (`link` fails with EEXIST when the lock
 * exists: the semantics of `open` "wx", and the lock never exists without its content, even after a power loss), and
 * the tmp name removed. On a file system without hard links, `open(lock, "wx")` then the write (the older, non-atomic
 * way: a kill between the two leaves an empty lock, taken over after {@link LOCK_GRACE_MS}).
 *
 * @returns The created lock's descriptor, kept open by the holder (its inode cannot be freed, so no other file can take
 *   its inode number while it is held: what makes the holder's cheap check by stamp sound) and its inode identity.
 * @throws The file system's error (EEXIST: another lock is there).
 */
function createLock(lock: string, bytes: Buffer): { fd: number; dev: bigint; ino: bigint } {
  const tmp = besideLock(lock, "tmp")
  const created = writeNewFile(tmp, bytes)
  try {
    linkSync(tmp, lock)
    return created
  } catch (error) {
    closeQuietly(created.fd)
    if (!noLinks(error)) throw error
    return writeNewFile(lock, bytes)
  } finally {
    try {
      unlinkSync(tmp)
    } catch {
      // Best effort: a leftover tmp file is never read as a lock.
    }
  }
}

/**
 * Removes the lock `lock` judged stale as `seen` (its text), so that of two starters taking the same stale lock over
 * only one removes it (review rr11ze E3): the lock is renamed to a unique name (`<lock>.<pid>.<random>.stale`: one
 * rename wins), and the renamed file is deleted only if it holds the text judged stale. If it does not (another
 * starter took the stale lock over between this one's judgement and its rename: the renamed file is that starter's
 * fresh lock), it is linked back to `lock` (the other starter keeps it; its inode, so its token, unchanged) and the
 * next attempt finds it held. When a third starter created a lock in that instant, the link back fails and the displaced
 * holder finds its lock gone at its next check ({@link KeeperStateStore}'s `checkLock`, before each journal line) and stops
 * writing.
 *
 * @returns Whether the lock judged stale was removed.
 */
function removeStale(lock: string, seen: { text: string }): boolean {
  const aside = besideLock(lock, "stale")
  try {
    renameSync(lock, aside)
  } catch {
    // Gone already (another starter removed it): the next attempt decides.
    return false
  }
  let text: string | undefined
  try {
    text = readFileSync(aside, "utf8")
  } catch {
    text = undefined
  }
  const judged = text === seen.text
  if (!judged) {
    try {
      linkSync(aside, lock)
    } catch (error) {
      // No hard links here: put it back by rename unless a lock appeared meanwhile (not atomic; such file systems only).
      if (noLinks(error) && !existsSync(lock)) {
        try {
          renameSync(aside, lock)
          return false
        } catch {
          // Falls through: removed below.
        }
      }
    }
  }
  try {
    unlinkSync(aside)
  } catch {
    // Best effort.
  }
  return judged
}

/**
 * Opens the lock `lock` again for the store whose token `token` it holds (see {@link takeLock}'s `former`).
 *
 * @returns Its descriptor and inode identity, or undefined when the file opened no longer holds `token` (or is gone).
 */
function adoptLock(lock: string, token: string): { fd: number; id: { dev: bigint; ino: bigint } } | undefined {
  let fd: number
  try {
    fd = openSync(lock, "r")
  } catch {
    return undefined
  }
  try {
    const held = JSON.parse(readFileSync(fd, "utf8")) as Partial<StateFileLock>
    const st = fstatSync(fd, { bigint: true })
    if (held.token === token) return { fd, id: { dev: st.dev, ino: st.ino } }
  } catch {
    // Not ours: closed below.
  }
  closeQuietly(fd)
  return undefined
}

/**
 * Takes the lock `<path>.lock` for this process: created atomically ({@link createLock}: complete and fsynced before it
 * appears), holding {@link StateFileLock}. An existing lock is taken over (removed by {@link removeStale}, then created
 * again) when it is stale: its process of this host is gone or its pid reused ({@link heldByLiveWriter}), or it is empty
 * and older than {@link LOCK_GRACE_MS} (an older version's writer killed between creating and writing it: review rr11ze
 * E4). Any other existing lock refuses: a live writer, another host's, a lock that does not parse and is not an old empty
 * one (a hand edit; with atomic creation a live writer of this version never leaves one, but one of an older version
 * could be between its two steps, and an edited lock's writer is unknown).
 *
 * @param former - The token of a lock this store held until its check found the lock gone: when the lock found holds it
 *   (put back by a starter that renamed it aside while judging another lock stale, {@link removeStale}), it is this
 *   store's own and is adopted again (its descriptor reopened) instead of refused as this process's unheld lock.
 * @returns The token written (or `former`, adopted), the created lock's descriptor (kept open by the holder) and inode identity, and a notice when a stale lock was taken over (for the
 *   keeper's start-up log).
 * @throws {StateFileLockedError} When another live (or unverifiable) writer holds the lock.
 * @throws The file system's error when the lock cannot be created (ENOSPC, EROFS, EACCES, ENOTDIR...).
 */
function takeLock(path: string, former?: string): { token: string; fd: number; id: { dev: bigint; ino: bigint }; notice: string | undefined } {
  const lock = lockPath(path)
  const token = randomBytes(16).toString("hex")
  const startTicks = ownStartTicks()
  const boot = bootId()
  const self: StateFileLock = { pid: process.pid, host: hostname(), since: new Date().toISOString(), token, ...(startTicks !== undefined ? { startTicks } : {}), ...(boot !== undefined ? { bootId: boot } : {}), leaseMs: LOCK_LEASE_MS }
  const bytes = Buffer.from(`${JSON.stringify(self)}\n`)
  let notice: string | undefined
  mkdirSync(dirname(path), { recursive: true })
  for (let attempt = 0; ; attempt++) {
    let created: ReturnType<typeof createLock>
    try {
      created = createLock(lock, bytes)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
      let seen: ReturnType<typeof readLock>
      try {
        seen = readLock(lock)
      } catch (readError) {
        // Released between the link and the read: try again.
        if ((readError as NodeJS.ErrnoException).code === "ENOENT" && attempt < 5) continue
        throw readError
      }
      const { holder } = seen
      if (former !== undefined && holder?.pid === process.pid && holder.token === former && !heldLocks.has(lock)) {
        const adopted = adoptLock(lock, former)
        if (adopted) {
          heldLocks.set(lock, former)
          return { token: former, ...adopted, notice }
        }
        if (attempt >= 5) throw new StateFileLockedError({ path, holder })
        continue
      }
      let was: string
      if (!holder) {
        const age = Date.now() - seen.mtimeMs
        if (!seen.empty || !(age > LOCK_GRACE_MS) || attempt >= 5)
          throw new StateFileLockedError({ path, holder, reason: "the lock file does not parse" })
        was = `took over the empty lock ${lock} (${Math.round(age / 1000)} s old: a keeper killed between creating and writing it)`
      } else if (holder.leaseMs !== undefined && Date.now() - seen.mtimeMs > holder.leaseMs && !heldLocks.has(lock) && !provablyRunning(holder)) {
        // Not renewed for its lease: its keeper is gone (or blocked for longer than the lease), whatever host wrote it.
        if (attempt >= 5) throw new StateFileLockedError({ path, holder })
        was = `took over the lock ${lock} of process ${holder.pid} (host ${holder.host}, since ${holder.since}), not renewed for ${Math.round((Date.now() - seen.mtimeMs) / 1000)} s (its lease is ${Math.round(holder.leaseMs / 1000)} s): its keeper is no longer running`
      } else {
        if (holder.host !== self.host) throw new StateFileLockedError({ path, holder })
        if (heldByLiveWriter(lock, holder) || attempt >= 5) throw new StateFileLockedError({ path, holder })
        was = `took over the stale lock ${lock} of process ${holder.pid} (host ${holder.host}, since ${holder.since}), which is no longer running${holder.bootId !== undefined && holder.bootId !== bootId() ? " (written before a reboot)" : holder.pid === process.pid ? " (an earlier process with this pid)" : alive(holder.pid) ? " (its pid is now a later process's)" : ""}`
      }
      // Removed only if it still holds what was judged (another starting keeper may have taken it over meanwhile); the
      // atomic creation then decides between racing takers.
      if (removeStale(lock, seen)) notice = was
      continue
    }
    heldLocks.set(lock, token)
    if (!exitHook) {
      exitHook = true
      process.on("exit", () => {
        for (const [held, t] of [...heldLocks]) releaseLock(held, t)
      })
    }
    return { token, fd: created.fd, id: { dev: created.dev, ino: created.ino }, notice }
  }
}

/**
 * Applies one journal line (its `pending` and/or `aloneFacts`, null for none) to the Safe's record in `state`. Scopes and
 * Safes are looked up as own properties only: a line naming an `Object.prototype` member ("constructor", "__proto__")
 * is a record like any other, never read through the prototype (review rr11zh H4: it made every load throw).
 */
function applyLine(state: KeeperState, line: JournalLine): void {
  const scopes = state.scopes as Record<string, { safes: Record<string, SafeRecord> }>
  if (!Object.hasOwn(scopes, line.scope)) Object.defineProperty(scopes, line.scope, { value: { safes: {} }, enumerable: true, writable: true, configurable: true })
  const scope = scopes[line.scope] as { safes: Record<string, SafeRecord> }
  if (scope.safes === null || typeof scope.safes !== "object") scope.safes = {}
  const safes = scope.safes
  const key = line.safe.toLowerCase()
  const before = Object.hasOwn(safes, key) ? safes[key] : undefined
  const record = normalized({
    pending: "pending" in line ? (line.pending ?? undefined) : before?.pending,
    aloneFacts: "aloneFacts" in line ? (line.aloneFacts ?? undefined) : before?.aloneFacts,
  })
  Object.defineProperty(safes, key, { value: record, enumerable: true, writable: true, configurable: true })
}

/** A record as written (an undefined alone table left out, so the record reads back equal). */
const normalized = (record: SafeRecord): SafeRecord => (record.aloneFacts === undefined ? { pending: record.pending } : { pending: record.pending, aloneFacts: record.aloneFacts })

/**
 * The journal lines a load skipped, each named `<journal file>:<line number>` (1-based): `torn`, the last line of its
 * file with no newline after it (a write cut by a kill or a full disk: expected, the chain's nonce reconciles what it
 * held); `bad`, a whole line that does not parse or is not a record (edited by hand, a damaged disk: its change is lost).
 */
export type SkippedLines = { torn: string[]; bad: string[] }

/** A snapshot file as read: absent, unreadable (exists but cannot be read or parsed), of an old version, or its state and mark. */
type SnapshotRead =
  | { kind: "missing" }
  | { kind: "unreadable"; reason: string }
  | { kind: "old"; version: unknown }
  | { kind: "ok"; state: KeeperState; from: number; dropped: number }

/** Reads one snapshot file (`<path>` or `<path>.prev`). */
function readSnapshot(file: string): SnapshotRead {
  let text: string
  try {
    text = readFileSync(file, "utf8")
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { kind: "missing" }
    return { kind: "unreadable", reason: error instanceof Error ? error.message : String(error) }
  }
  let parsed: { version?: unknown; scopes?: unknown; journal?: unknown }
  try {
    parsed = JSON.parse(text) as typeof parsed
  } catch (error) {
    return { kind: "unreadable", reason: text.length === 0 ? "the file is empty" : `it does not parse (${error instanceof Error ? error.message : String(error)})` }
  }
  if (parsed === null || typeof parsed !== "object") return { kind: "unreadable", reason: "it is not a JSON object" }
  if (parsed.version !== 2 || typeof parsed.scopes !== "object" || parsed.scopes === null) return { kind: "old", version: parsed.version }
  const from = typeof parsed.journal === "number" && Number.isSafeInteger(parsed.journal) && parsed.journal >= 0 ? parsed.journal : 0
  // Each scope must hold a `safes` object of record objects (a hand edit may leave anything: review rr11zi I4): a scope
  // or Safe that does not is left out, and said.
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v)
  const scopes: Record<string, { safes: Record<string, SafeRecord> }> = {}
  let dropped = 0
  for (const [key, scope] of Object.entries(parsed.scopes as Record<string, unknown>)) {
    if (!isObject(scope) || !isObject(scope.safes)) {
      dropped++
      continue
    }
    const safes: Record<string, SafeRecord> = {}
    for (const [safe, record] of Object.entries(scope.safes)) {
      if (isObject(record) && (record.pending === undefined || isObject(record.pending))) Object.defineProperty(safes, safe, { value: record, enumerable: true, writable: true, configurable: true })
      else dropped++
    }
    Object.defineProperty(scopes, key, { value: { safes }, enumerable: true, writable: true, configurable: true })
  }
  return { kind: "ok", state: { version: 2, scopes: scopes as KeeperState["scopes"] }, from, dropped }
}

/**
 * What {@link load} read: the state, why the snapshot was not used (`discarded`), the journal lines replayed and
 * ignored, the journal generations present, the generation new lines go to, whether anything was found, and for the
 * writer's next snapshot: the mark of a usable snapshot at `path` (`current`, undefined: none), the mark of the snapshot
 * that will be `<path>.prev` once `path` is replaced (`kept`: `current`, else the existing `.prev`'s, else 0), and
 * whether `path` exists but cannot be read (`unreadable`).
 */
type Loaded = {
  state: KeeperState
  discarded: string | undefined
  replayed: number
  ignored: number
  /** The lines ignored, by why ({@link SkippedLines}). */
  skipped: SkippedLines
  gens: number[]
  next: number
  found: boolean
  current: number | undefined
  kept: number
  unreadable: boolean
  /** The mark of the snapshot read (the first journal generation replayed). */
  from: number
}

/**
 * Reads the snapshot `path` and replays the journal lines written after it (see {@link KeeperStateStore}). A snapshot
 * that is missing (a kill between its two renames) or exists but cannot be read (cut to nothing by a power loss, edited
 * by hand, EACCES) is replaced by `<path>.prev` and the journals after it (review rr11zd D4); an unreadable one is said in
 * `discarded` (with what was used instead). A missing `path` and `.prev` is a first start (silent).
 *
 * @returns See {@link Loaded}.
 */
function load(path: string): Loaded {
  let state: KeeperState = { version: 2, scopes: {} }
  let discarded: string | undefined
  let found = false
  let from = 0
  let current: number | undefined
  let kept = 0
  const main = readSnapshot(path)
  if (main.kind === "ok") {
    found = true
    state = main.state
    from = main.from
    current = main.from
    kept = main.from
    if (main.dropped > 0) discarded = `${main.dropped} scope(s) or record(s) of the snapshot ${path} are not records (edited by hand?): ignored`
  } else if (main.kind === "old") {
    found = true
    discarded = `state file version ${String(main.version)} is not bound to a chain, EntryPoint, module and keeper key; ignored`
  } else {
    const prev = readSnapshot(previousPath(path))
    if (prev.kind === "ok") {
      found = true
      state = prev.state
      from = prev.from
      kept = prev.from
    }
    if (main.kind === "unreadable") {
      found = true
      discarded =
        `the state file's snapshot ${path} cannot be read (${main.reason}); ` +
        (prev.kind === "ok"
          ? `read the previous snapshot ${previousPath(path)} and the journal after it instead (nothing is lost)`
          : `no previous snapshot to fall back on (${prev.kind === "missing" ? "none" : prev.kind === "unreadable" ? prev.reason : "an old version"}): only the journal files left are read (a record only the snapshot held is lost; the chain's nonce tells what was in flight)`)
    }
  }
  let replayed = 0
  let ignored = 0
  const skipped: SkippedLines = { torn: [], bad: [] }
  const gens = journalGenerations(path)
  for (const gen of gens) {
    if (gen < from) continue
    let text: string
    try {
      text = readFileSync(journalPath(path, gen), "utf8")
    } catch {
      continue
    }
    found = true
    const lines = text.split("\n")
    // A line skipped is named `<journal file>:<line number>`: torn when nothing follows it (no newline: the write was cut
    // by a kill or a full disk, expected), bad otherwise (a whole line that is not a record: a hand edit, a damaged disk).
    const skip = (n: number) => {
      ignored++
      ;(n === lines.length - 1 ? skipped.torn : skipped.bad).push(`${journalPath(path, gen)}:${n + 1}`)
    }
    for (const [n, raw] of lines.entries()) {
      if (raw.length === 0) continue
      let line: Partial<JournalLine>
      try {
        line = JSON.parse(raw) as Partial<JournalLine>
      } catch {
        skip(n)
        continue
      }
      const hasPending = line !== null && typeof line === "object" && "pending" in line
      const hasTable = line !== null && typeof line === "object" && "aloneFacts" in line
      if (typeof line?.scope !== "string" || typeof line.safe !== "string" || (!hasPending && !hasTable) || (hasPending && typeof line.pending !== "object")) {
        skip(n)
        continue
      }
      applyLine(state, line as JournalLine)
      replayed++
    }
  }
  return { state, discarded, replayed, ignored, skipped, gens, next: Math.max(from, (gens.at(-1) ?? -1) + 1), found, current, kept, unreadable: main.kind === "unreadable", from }
}

/**
 * {@link load} for a reader beside a running keeper (`levpilot status`, a dry run, {@link KeeperStateStore.read}): the
 * keeper may snapshot between the reader's read of the snapshot and its reads of the journal files, and delete journal
 * files the reader's snapshot does not cover (review rr11zd D5). A writer deletes only journal files below the mark of
 * `<path>.prev`, so the read is whole unless `.prev`'s mark is now above the mark the reader started from: then it is
 * read again (up to 3 times; the last read is returned).
 */
function loadConsistent(path: string): Loaded {
  for (let attempt = 1; ; attempt++) {
    const loaded = load(path)
    const prev = readSnapshot(previousPath(path))
    if (attempt >= 3 || prev.kind !== "ok" || prev.from <= loaded.from) return loaded
  }
}

/** fsyncs the file or directory `file` (opened with `flags`). */
async function syncPath(file: string, flags: "r" | "r+"): Promise<void> {
  const handle = await open(file, flags)
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/**
 * Persists {@link KeeperState} as a snapshot plus an append-only journal, so a change costs one small line instead of
 * a rewrite of every Safe's record (review rr11za A2):
 *
 * - `<path>.journal.<gen>`: every change (`setPending`: the intent before the send, the hash after it, the clear; a
 *   changed `setAloneFacts`) is one JSON line `{"scope","safe","pending"}` or `{"scope","safe","aloneFacts"}` (the
 *   changed field's new value, null for none), written synchronously (`writeSync`) before the call returns: a process
 *   killed right after (before any snapshot) still finds it at the next start. A failed write throws to the caller
 *   (the record is already updated in memory).
 * - `<path>`: the snapshot, the whole state (one compact JSON document, `journal`: the first generation it does not cover),
 *   written by {@link flush} asynchronously (to `<path>.tmp`, fsynced, then renamed over `<path>`, the directory fsynced),
 *   once per block by the keeper: every change since the last snapshot coalesced in one write. New lines go to the next
 *   generation from the moment the snapshot is serialized.
 * - `<path>.prev`: the snapshot `<path>` held before the last one was renamed in (review rr11zd D4). Once a snapshot is
 *   renamed in, the journal files `.prev` covers are deleted; those after it stay until the next snapshot lands.
 * - Load: the snapshot, then every journal line of a generation >= its `journal`, in order; a line that does not parse
 *   or is not a record is ignored, and said at the keeper's start ({@link skipped}: a file's last line torn by a kill or
 *   a full disk mid-write, or a whole bad line). New lines then go to a new generation (never after a torn line). A missing
 *   snapshot (a kill between the two renames) or one that cannot be read (empty after a power loss, a hand edit,
 *   EACCES: named in {@link discarded} / {@link unreadable}, and a writer sets it aside as `<path>.unreadable.<ms>`) is
 *   replaced by `.prev` and the journal after it. A read-only store (a reader beside the keeper) reads again when
 *   `.prev` is newer than the snapshot it read (review rr11zd D5).
 *
 * - `<path>.lock`: one writer per state file (review rr11zc C4: two keepers on one file, e.g. two chains, each snapshot
 *   their own copy of every scope over the other's and delete the other's journal lines). A writing store takes it in
 *   its constructor, before reading the file: created atomically (a fsynced tmp file `link`ed into place: never empty,
 *   review rr11ze E4), holding {@link StateFileLock} (pid, host, time, token, the writer's start ticks and boot id). A
 *   lock of a live process, of another host or that does not parse refuses the store ({@link StateFileLockedError}); a
 *   lock whose process is gone (`process.kill(pid, 0)`: ESRCH, e.g. a keeper killed with SIGKILL), whose pid was reused
 *   (start ticks, another boot; see `heldByLiveWriter`), or that is empty and older than {@link LOCK_GRACE_MS} is taken
 *   over (renamed aside and deleted only if still the lock judged: review rr11ze E3), said in {@link lockNotice}. The
 *   holder checks it before each journal line (one `stat`) and each snapshot (one read), and stops writing when it is no
 *   longer its own. Released (unlinked only while it still holds this store's token) by {@link close} and at process
 *   exit. When the lock cannot be created for another reason (ENOSPC, EROFS,
 *   EACCES: the keeper still starts, as with any state-file write failure), nothing is written until a later write
 *   takes it (said in {@link lockNotice}; each write that cannot throws {@link StateWriteError}). After {@link close}
 *   nothing is written.
 *
 * Durable against a killed process (the kernel has every line once `writeSync` returns); against a power loss for the
 * snapshot (one fsync of the file and one of the directory per snapshot), not for the journal lines written since it
 * (not fsynced: the chain's nonce reconciles). Without `path` (tests, dry runs of the fleet) nothing is written; with `readOnly` (a classic
 * keeper's `--dry-run` on the production file: review rr11zc C3) the file is read at start and never written, every
 * change held in memory only, and no lock is taken or checked.
 */
export class KeeperStateStore implements PendingStore {
  private state: KeeperState
  private key: string | undefined
  /** Why the file's content was not used (unreadable, old version), for the keeper's start-up log. */
  readonly discarded: string | undefined
  /**
   * Set when the snapshot exists but could not be read (cut to nothing by a power loss, edited by hand, EACCES): the
   * same text as {@link discarded} (what was read instead: `.prev` and the journal, or nothing). The keeper alerts
   * `state-file-unreadable` at start (review rr11zd D4).
   */
  readonly unreadable: string | undefined
  /** Journal lines replayed at load, and ignored (torn or malformed) at load. */
  readonly journal: { replayed: number; ignored: number }
  /** The journal lines ignored at load, by why (torn by a cut write, or bad): said at the keeper's start. */
  readonly skipped: SkippedLines
  /** Generation new journal lines go to, and its descriptor once opened. */
  private gen: number
  private fd: number | undefined
  /** Journal generations that may exist on disk (deleted once a snapshot covers them). */
  private readonly gens = new Set<number>()
  /**
   * The `journal` mark of the last snapshot this store renamed in (undefined: none yet): carried by a later
   * {@link StateWriteError} (`landed`), so the Safe's alert run knows the disk caught up since its last failure.
   */
  private landed: number | undefined
  /** The journal mark of the usable snapshot at `path` (undefined: none: it becomes `.prev` when the next one lands). */
  private current: number | undefined
  /**
   * The journal mark of the snapshot that is `<path>.prev` once the next snapshot lands: journal files below it are
   * deleted then, those at or above it kept (the fall-back's journal; review rr11zd D4).
   */
  private kept = 0
  /**
   * The changes whose journal line failed ({@link StateWriteError}: acted on from memory), by scope, Safe and field, until
   * a later line of the same field or a snapshot holds them: re-applied over the file by {@link reload}.
   */
  private readonly unsaved = new Map<string, JournalLine>()
  /** Whether memory holds changes no snapshot has (the next {@link flush} writes one). */
  private dirty = false
  /** The snapshots queued or being written, one after another. */
  private chain: Promise<void> = Promise.resolve()
  /** The token of the lock this store holds (undefined: none held: read-only, memory only, closed or not yet taken). */
  private lockToken: string | undefined
  /** The held lock's descriptor (kept open: its inode cannot be reused while held) and inode identity. */
  private lockFd: number | undefined
  private lockId: { dev: bigint; ino: bigint } | undefined
  /** The lock file's stamp when this store last found its token there (undefined: read it at the next check). */
  private lockStamp: FileStamp | undefined
  /** Renews the held lock's mtime every {@link LOCK_RENEW_MS} (unref'd: never keeps the process alive). */
  private renewTimer: ReturnType<typeof setInterval> | undefined
  /** The token of the lock this store held until its check found the lock gone (adopted again if put back). */
  private formerToken: string | undefined
  private notice: string | undefined
  /** Set by {@link close}: nothing more is written (another keeper may hold the file by then). */
  private closed = false

  /**
   * @param path - The state file (its journal files and snapshot tmp file sit next to it); undefined: memory only.
   * @param options.readOnly - Read `path` at start, never write it (a dry run beside the production keeper); takes no lock.
   * @throws {StateFileLockedError} When another keeper (a live process of this host, or any process of another host)
   *   holds `<path>.lock` (a writing store only).
   */
  constructor(
    readonly path: string | undefined,
    private readonly options: { readOnly?: boolean | undefined } = {},
  ) {
    this.state = { version: 2, scopes: {} }
    this.gen = 0
    let discarded: string | undefined
    let unreadable = false
    let journal = { replayed: 0, ignored: 0 }
    let skipped: SkippedLines = { torn: [], bad: [] }
    if (path) {
      // The lock first: the file is read only once no other writer can change it.
      if (!options.readOnly) this.takeLock(true)
      let loaded: Loaded
      try {
        loaded = options.readOnly ? loadConsistent(path) : load(path)
      } catch (error) {
        // Not started: the lock is not kept (nor renewed) by a store that will never write.
        this.close()
        throw error
      }
      this.state = loaded.state
      discarded = loaded.discarded
      this.current = loaded.current
      this.kept = loaded.kept
      unreadable = loaded.unreadable
      // A writer sets an unreadable snapshot aside (evidence for the operator), so that the next snapshot does not make
      // it `.prev` nor overwrite it; a reader leaves the file as it is.
      if (loaded.unreadable && !options.readOnly) {
        const aside = `${path}.unreadable.${Date.now()}`
        try {
          renameSync(path, aside)
          discarded = `${discarded as string}; the unreadable snapshot is kept as ${aside}`
        } catch (error) {
          discarded = `${discarded as string}; it could not be set aside (${error instanceof Error ? error.message : String(error)})`
        }
      }
      journal = { replayed: loaded.replayed, ignored: loaded.ignored }
      skipped = loaded.skipped
      this.gen = loaded.next
      // Replayed lines are compacted by the first snapshot after a change (loading writes nothing: a dry run reads the
      // production file and must leave it as it is).
      for (const g of loaded.gens) this.gens.add(g)
    }
    this.discarded = discarded
    this.unreadable = unreadable ? discarded : undefined
    this.journal = journal
    this.skipped = skipped
  }

  /**
   * What happened to the lock that the keeper's start-up log should say: a stale lock taken over (its pid, host and
   * time), or a lock that could not be created (the file system's error); undefined otherwise.
   */
  get lockNotice(): string | undefined {
    return this.notice
  }

  /**
   * Takes `<path>.lock` when this writing store does not hold it.
   *
   * @param starting - In the constructor: a file-system failure is noted ({@link lockNotice}) instead of thrown.
   * @throws {StateFileLockedError} When another writer holds it.
   * @throws The file system's error creating it (not when `starting`).
   */
  private takeLock(starting = false): void {
    const path = this.path
    if (!path || this.options.readOnly || this.lockToken !== undefined) return
    // Its memory may be older than the file by now (another keeper may have written it since): never written again.
    if (this.closed) throw new Error(`the store of the state file ${path} is closed (its lock released): the change is held in memory only`)
    try {
      const taken = takeLock(path, this.formerToken)
      this.formerToken = undefined
      this.lockToken = taken.token
      this.lockFd = taken.fd
      this.lockId = taken.id
      const stamp = stampAt(lockPath(path))
      this.lockStamp = stamp && stamp.dev === taken.id.dev && stamp.ino === taken.id.ino ? stamp : undefined
      if (taken.notice) this.notice = taken.notice
      this.renewTimer = setInterval(() => this.renewLock(), LOCK_RENEW_MS)
      this.renewTimer.unref()
      if (!starting) {
        try {
          this.reload(path)
        } catch (error) {
          // Not re-read: this store must not write from its old memory under the lock (review rr11zh H4).
          releaseLock(lockPath(path), taken.token)
          this.dropLock()
          throw error
        }
      }
    } catch (error) {
      if (!starting || error instanceof StateFileLockedError) throw error
      this.notice = `could not create the state file's lock ${lockPath(path)} (${error instanceof Error ? error.message : String(error)}); nothing is written to the state file until a later write takes it`
    }
  }

  /**
   * Reads the file again when this store takes the lock after running without it (its lock lost to another keeper, or
   * not created at start) and another writer wrote the file meanwhile: a snapshot mark other than the last this store
   * knows, or a journal generation it did not create. Memory becomes the file's content (what this store changed
   * without the lock was refused, so nothing was sent for it; a refused clear is done again by the tracker from the
   * chain's nonce), and new lines go to a generation after every one on disk (appending to this store's old generation,
   * which the other keeper's snapshot may cover, would have its lines skipped at the next load, or replay the other
   * keeper's stale lines over this store's next snapshot). When nobody else wrote, memory is kept (it may hold records
   * of operations sent while a full disk refused the lock: {@link StateWriteError} goes on from memory).
   */
  private reload(path: string): void {
    const loaded = load(path)
    // A snapshot that cannot be read now (EMFILE, EACCES, a hand edit) is not replaced by `.prev` + journal here: a
    // momentary failure of both would make memory the journal alone and the next snapshots overwrite both files
    // (review rr11zi I3). The caller releases the lock; the next write takes it and reads again.
    if (loaded.unreadable) throw new Error(`the state file's snapshot ${path} cannot be read on taking its lock again (${loaded.discarded ?? "unreadable"})`)
    if (loaded.current === this.current && loaded.gens.every((g) => this.gens.has(g))) return
    if (this.fd !== undefined) closeQuietly(this.fd)
    this.fd = undefined
    this.state = loaded.state
    for (const line of this.unsaved.values()) applyLine(this.state, line)
    this.current = loaded.current
    this.kept = loaded.kept
    this.gen = loaded.next
    this.gens.clear()
    for (const g of loaded.gens) this.gens.add(g)
    this.dirty = true
    this.notice = `re-read the state file ${path} on taking its lock again: another keeper wrote it meanwhile (${loaded.replayed} journal lines replayed${loaded.discarded ? `; ${loaded.discarded}` : ""})`
  }

  /**
   * Renews the held lock (its mtime set to now through the descriptor this store keeps open: a lock replaced meanwhile
   * is not touched, its own inode is), then reads it: still this store's token, the new stamp is remembered for the cheap
   * check; otherwise the next check reads it (and finds it another's).
   */
  private renewLock(): void {
    if (this.path === undefined || this.lockFd === undefined || this.lockId === undefined) return
    const lock = lockPath(this.path)
    try {
      const now = new Date()
      futimesSync(this.lockFd, now, now)
      const stamp = stampAt(lock)
      const ours = stamp !== undefined && stamp.dev === this.lockId.dev && stamp.ino === this.lockId.ino && readLock(lock).holder?.token === this.lockToken
      this.lockStamp = ours ? stamp : undefined
    } catch {
      // Not renewed this time (the lock read fails, the disk is gone): the next check reads it.
      this.lockStamp = undefined
    }
  }

  /** Forgets the lock this store held (its descriptor closed); the file itself is left (see {@link releaseLock}). */
  private dropLock(): void {
    if (this.renewTimer !== undefined) clearInterval(this.renewTimer)
    this.renewTimer = undefined
    if (this.lockFd !== undefined) closeQuietly(this.lockFd)
    this.lockFd = undefined
    this.lockId = undefined
    this.lockStamp = undefined
    this.lockToken = undefined
  }

  /**
   * Checks that the lock this store holds is still its own: when the file is gone or holds another token (deleted by
   * hand while this keeper ran, then taken by another), this store holds no lock any more and the next
   * {@link takeLock} takes it again or refuses (review rr11ze E2b: the first keeper's next snapshot overwrote the second's
   * records). Before each journal line (review rr11zf F2) the check is one `stat` of `<path>.lock`: unchanged since this
   * store last read its own token there (same device and inode, which this store's open descriptor keeps from being
   * reused by another file, same size, mtime and ctime), it is still this store's; changed (replaced, renamed away and
   * back, edited) or `full` (each snapshot, once per block): the lock is read and its token compared.
   *
   * @param full - Read the token whatever the stamp says.
   */
  private checkLock(full = false): void {
    const path = this.path
    if (!path || this.lockToken === undefined) return
    const lock = lockPath(path)
    const stamp = stampAt(lock)
    if (!full && stamp !== undefined && this.lockStamp !== undefined && sameStamp(stamp, this.lockStamp)) return
    let token: string | undefined
    try {
      token = readLock(lock).holder?.token
    } catch {
      token = undefined
    }
    if (token === this.lockToken) {
      // The stamp taken before the read: a change after it differs from it at the next check.
      this.lockStamp = stamp && this.lockId && stamp.dev === this.lockId.dev && stamp.ino === this.lockId.ino ? stamp : undefined
      return
    }
    if (heldLocks.get(lock) === this.lockToken) heldLocks.delete(lock)
    // Gone (not replaced): it may be put back by a racing starter that renamed it aside (removeStale); then it is ours.
    this.formerToken = token === undefined ? this.lockToken : undefined
    this.dropLock()
    this.notice = `the state file's lock ${lock} was no longer this keeper's (deleted or replaced while it ran); taken again only if free`
  }

  /**
   * The state persisted at `path`: the snapshot with the journal replayed (tests, tools reading a keeper's file).
   *
   * @returns The state, or undefined when neither a snapshot nor a journal exists.
   */
  static read(path: string): KeeperState | undefined {
    const loaded = loadConsistent(path)
    return loaded.found ? loaded.state : undefined
  }

  /** Binds the store to the keeper's scope; records of other scopes are kept in the file but never read. */
  bind(scope: KeeperStateScope): void {
    this.key = scopeKey(scope)
  }

  private safes(): Record<string, SafeRecord> {
    if (this.key === undefined) throw new TypeError("KeeperStateStore.bind() was not called")
    this.state.scopes[this.key] ??= { safes: {} }
    return (this.state.scopes[this.key] as { safes: Record<string, SafeRecord> }).safes
  }

  pending(safe: Address): PendingOperation | undefined {
    return this.safes()[safe.toLowerCase()]?.pending
  }

  /** The Safes with an operation in flight. */
  safesWithPending(): Address[] {
    const safes = this.safes()
    return (Object.keys(safes) as Address[]).filter((safe) => safes[safe]?.pending !== undefined)
  }

  /**
   * Records the Safe's operation in flight (undefined: none) in memory, then appends it to the journal (synchronously:
   * on return it survives a killed process).
   *
   * @throws {StateWriteError} When the journal line cannot be written (its cause: the file system's ENOSPC, EROFS,
   *   EACCES...); the record is in memory anyway.
   */
  setPending(safe: Address, pending: PendingOperation | undefined): void {
    this.update(safe, { pending: pending ?? null })
  }

  /** The Safe's alone table as last persisted (tagged JSON), or undefined. */
  aloneFacts(safe: Address): unknown {
    return this.safes()[safe.toLowerCase()]?.aloneFacts
  }

  /**
   * Persists the Safe's alone table (tagged JSON; undefined: none), journaling it only when it changed (the keeper
   * calls it after every step).
   *
   * @throws {StateWriteError} When the journal line cannot be written (the table is in memory anyway).
   */
  setAloneFacts(safe: Address, table: unknown): void {
    const key = safe.toLowerCase()
    const before = this.safes()[key]
    if (JSON.stringify(before?.aloneFacts) === JSON.stringify(table)) return
    this.update(safe, { aloneFacts: table ?? null })
  }

  /**
   * Journals the changed field, then applies it to the Safe's record in memory (also when the line cannot be written:
   * the record is in memory anyway). Applied after the append, to the record as it is then: taking the lock again may
   * have re-read the file ({@link reload}).
   */
  private update(safe: Address, change: { pending: PendingOperation | null } | { aloneFacts: unknown }): void {
    const key = safe.toLowerCase()
    const journalLine: JournalLine = { scope: this.key as string, safe: key, ...change }
    const field = `${journalLine.scope}|${key}|${"pending" in change ? "pending" : "aloneFacts"}`
    try {
      if (!this.path || this.options.readOnly) return
      this.dirty = true
      this.append(`${JSON.stringify(journalLine)}\n`)
      this.unsaved.delete(field)
    } catch (error) {
      // Not on disk but acted on (a full disk: the sender goes on from memory): kept over the file's if a re-read comes
      // first (review rr11zh H2). A refused line (another keeper's lock) was not acted on.
      // A line refused by another keeper's lock leaves an earlier unsaved change of the field as it is: that one was
      // acted on (review rr11zi I1: the tracker's hash line refused after a full disk's intent dropped the intent).
      if (error instanceof StateWriteError) this.unsaved.set(field, journalLine)
      throw error
    } finally {
      const now = this.safes()[key]
      this.safes()[key] = normalized(
        "pending" in change ? { pending: change.pending ?? undefined, aloneFacts: now?.aloneFacts } : { pending: now?.pending, aloneFacts: change.aloneFacts ?? undefined },
      )
    }
  }

  /** Appends one line to the current journal generation, whole or throwing (then later lines go to a new generation). */
  private append(line: string): void {
    const path = this.path as string
    try {
      // The lock is checked before each line, not only at snapshots: a keeper whose lock was replaced must not write
      // (and send) on (review rr11zf F2). One `stat` per line (the lock read only when its stamp changed).
      this.checkLock()
      this.takeLock()
      if (this.fd === undefined) {
        mkdirSync(dirname(path), { recursive: true })
        // Recorded once its file exists (review rr11zh H5: a number recorded for a file never created hid another
        // writer's generation of that number from the re-read on retake).
        this.fd = openSync(journalPath(path, this.gen), "a")
        this.gens.add(this.gen)
      }
      const bytes = Buffer.from(line)
      const written = writeSync(this.fd, bytes)
      if (written !== bytes.length) throw Object.assign(new Error(`short write to the state journal (${written} of ${bytes.length} bytes)`), { code: "EIO" })
      // Still ours after the write: a thread blocked inside it past the lease (a hung mount, SIGSTOP) may find another
      // keeper took the file and read it meanwhile; its line then landed where the other will not read it, so the caller
      // must not send (review rr11zh H1).
      this.assertLockKept()
    } catch (error) {
      // Another writer holds the file (review rr11ze E2: this store started without its lock, on a full disk, and another
      // keeper took it since; rr11zh H1: taken while this write was blocked): not a full disk to go on from; the caller
      // stops (writePendingRecord: nothing sent).
      if (error instanceof StateFileLockedError) throw error
      // A partial line may be on disk: the next line starts a new file (the partial one is ignored at load), also when
      // the lock turns out lost below (review rr11zi I5: the next line was glued to the partial one).
      const generation = this.gen
      const failed = journalPath(path, generation)
      this.rotate()
      this.assertLockKept()
      throw new StateWriteError({ path: failed, cause: error instanceof Error ? error : new Error(String(error)), generation, landed: this.landed })
    }
  }

  /**
   * Throws when the lock this store held before a write is no longer its own (one `stat`; the lock read only when it
   * changed): the lock is dropped and the holder named.
   *
   * @throws {StateFileLockedError} When the lock was replaced or removed while this store wrote.
   */
  private assertLockKept(): void {
    if (this.lockToken === undefined) return
    this.checkLock()
    if (this.lockToken !== undefined) return
    const path = this.path as string
    let holder: StateFileLock | undefined
    try {
      holder = readLock(lockPath(path)).holder
    } catch {
      holder = undefined
    }
    throw new StateFileLockedError({ path, holder, reason: "the lock was taken from this keeper while it wrote" })
  }

  /** Closes the current journal file: later lines go to the next generation. */
  private rotate(): void {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd)
      } catch {
        // Already unusable; nothing more to do with it.
      }
      this.fd = undefined
    }
    this.gen++
  }

  /**
   * Writes a snapshot of the whole state when anything changed since the last one (all changes coalesced), without
   * blocking on the disk: serialized now, written to `<path>.tmp` and fsynced, the snapshot at `<path>` renamed to
   * `<path>.prev`, the tmp renamed over `<path>` and the directory fsynced, asynchronously; the journal files `.prev`
   * covers are then deleted. Calls are queued (one snapshot at a time). The keeper calls it once per block.
   *
   * @returns When the snapshot is renamed in (at once when nothing changed or there is no `path`).
   * @throws The file system's error when the snapshot cannot be written or renamed; nothing is lost (the journal keeps
   *   every change, and the next call tries again).
   */
  flush(): Promise<void> {
    const run = this.chain.then(() => this.snapshot())
    this.chain = run.catch(() => undefined)
    return run
  }

  private async snapshot(): Promise<void> {
    const path = this.path
    if (!path || !this.dirty) return
    // Throws (the change stays dirty, the journal keeps it) when another writer holds the lock, also one that took it
    // while this store held it (its lock deleted by hand: review rr11ze E2b).
    this.checkLock(true)
    this.takeLock()
    this.dirty = false
    // Every line of the generations before `covered` is in memory now: serialized together, in this tick.
    this.rotate()
    const covered = this.gen
    const text = `${JSON.stringify({ version: 2, journal: covered, scopes: this.state.scopes } satisfies KeeperState)}\n`
    const covering = [...this.unsaved]
    const tmp = `${path}.tmp`
    try {
      await mkdir(dirname(path), { recursive: true })
      await writeFile(tmp, text)
      // Its data on disk before it is renamed in: a power loss after the rename never leaves an empty snapshot (rr11zd D4).
      await syncPath(tmp, "r+")
      // The snapshot there becomes `.prev` (a kill before the next rename leaves no `path`: the load reads `.prev`).
      if (this.current !== undefined) {
        try {
          await rename(path, previousPath(path))
          this.kept = this.current
        } catch (error) {
          // Gone (deleted by hand): nothing to keep; `.prev` stays what it was. Any other failure fails the snapshot.
          if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error
        }
        this.current = undefined
      }
      await rename(tmp, path)
      this.current = covered
      // The renames on disk (where a directory can be synced): one fsync of the file and one of the directory per snapshot.
      await syncPath(dirname(path), "r").catch(() => undefined)
    } catch (error) {
      this.dirty = true
      throw error
    }
    this.landed = covered
    // On disk now: no longer re-applied over the file at a re-read (unless changed again since the serialization).
    for (const [field, line] of covering) if (this.unsaved.get(field) === line) this.unsaved.delete(field)
    // The journal files `.prev` covers; those after it stay until the next snapshot lands (`.prev`'s fall-back).
    for (const g of [...this.gens]) {
      if (g >= this.kept) continue
      this.gens.delete(g)
      // A file left behind (already gone, or not deletable) is skipped at load: the snapshot covers it.
      await unlink(journalPath(path, g)).catch(() => undefined)
    }
  }

  /**
   * Closes the journal file and releases the lock (the keeper's stop; tests that reopen the same path). Final for a
   * writing store: a later change is held in memory only ({@link setPending} / {@link setAloneFacts} throw
   * {@link StateWriteError}, {@link flush} rejects), since another keeper may take the file once the lock is released.
   */
  close(): void {
    this.closed = true
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd)
      } catch {
        // Nothing more to do with it.
      }
      this.fd = undefined
    }
    if (this.path && this.lockToken !== undefined) {
      releaseLock(lockPath(this.path), this.lockToken)
      this.dropLock()
    }
  }

  /**
   * The record of `safe` on a chain, EntryPoint and module, for any keeper key when `keeper` is omitted (`status`,
   * which may run without the keeper's key). Does not need {@link bind}.
   *
   * @returns The pending operation, or undefined.
   */
  pendingFor(scope: Omit<KeeperStateScope, "keeper"> & { keeper?: Address | undefined }, safe: Address): PendingOperation | undefined {
    const { keeper } = scope
    const prefix = keeper ? scopeKey({ ...scope, keeper }) : `${scope.chainId}:${scope.entryPoint.toLowerCase()}:${scope.module.toLowerCase()}:`
    for (const [key, entry] of Object.entries(this.state.scopes)) {
      if (!key.startsWith(prefix)) continue
      const pending = entry.safes[safe.toLowerCase()]?.pending
      if (pending) return pending
    }
    return undefined
  }

  /**
   * The record of `safe` in a state file's content, in any scope (tests, status).
   *
   * @returns The pending operation, or undefined.
   */
  static pendingIn(state: KeeperState | undefined, safe: Address): PendingOperation | undefined {
    for (const scope of Object.values(state?.scopes ?? {})) {
      const pending = scope.safes[safe.toLowerCase()]?.pending
      if (pending) return pending
    }
    return undefined
  }
}

/**
 * The keeper-wide conditions of the state file, each alerted once per run of failures ({@link failureRun}) on `safe`
 * (the module's address: the file holds every Safe), a warn line at each later failure of a snapshot, an info line when
 * the run ends:
 *
 * - `state-write-failed`: the once-per-block snapshot ({@link KeeperStateStore.flush}) could not be written (a full
 *   disk): nothing is lost, the journal keeps every change. Ended by the next snapshot written.
 * - `state-file-locked` (review rr11zf F3): another keeper holds the state file's lock ({@link StateFileLockedError}),
 *   seen by the snapshot or by a Safe's write (`SafeStep` reports it with {@link lockRefused}). The keeper goes on
 *   stepping: it reads the chain, tracks what is in flight and raises its other alerts, but the store writes nothing
 *   while the lock is another's (each journal line and snapshot checks the lock first), so nothing is sent (a send needs
 *   its intent written first). Ended by the next snapshot written, i.e. once this keeper holds the lock again (the other
 *   keeper stopped, or its stale lock deleted): a refused write leaves the store dirty, so the snapshot tries the lock
 *   at every block.
 *
 * {@link flush} never rejects.
 */
export class StateSnapshots {
  /** The run of failed snapshots (`state-write-failed`). */
  private failing: FailureRun | undefined
  /** The run of refused locks (`state-file-locked`). */
  private locked: FailureRun | undefined
  constructor(
    private readonly deps: {
      store: { flush?(): Promise<void> }
      /** The address the alerts are raised on (the module: the snapshot holds every Safe). */
      safe: Address
      events: { alert(safe: Address, block: bigint, kind: "state-write-failed" | "state-file-locked", error: unknown): void }
      logger: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void }
    },
  ) {}

  /**
   * Writes the snapshot (nothing when nothing changed).
   *
   * @returns When it is written or its failure reported.
   */
  async flush(block: bigint): Promise<void> {
    const { store, logger } = this.deps
    try {
      await store.flush?.()
      if (this.locked) logger.info({ block: Number(block) }, "the state file's lock is this keeper's again: its writes and sends resume")
      else if (this.failing) logger.info({ block: Number(block) }, "the state file's snapshot is written again")
      this.failing = undefined
      this.locked = undefined
    } catch (error) {
      // Nothing is lost (every change is in the journal), but the journal grows until a snapshot lands.
      if (this.failing || this.locked) logger.warn({ block: Number(block), err: error instanceof Error ? error.message : String(error) }, "the state file's snapshot still cannot be written (alerted once for this run)")
      if (error instanceof StateFileLockedError) this.lockRefused(block, error)
      else this.failing = failureRun(this.failing, block, () => this.deps.events.alert(this.deps.safe, block, "state-write-failed", error instanceof Error ? error : new Error(String(error))))
    }
  }

  /**
   * Reports a write refused at `block` because another keeper holds the state file's lock: `state-file-locked` on the
   * module when it opens a run (once per run per keeper, whichever Safe or snapshot met it first).
   */
  lockRefused(block: bigint, error: StateFileLockedError): void {
    this.locked = failureRun(this.locked, block, () => this.deps.events.alert(this.deps.safe, block, "state-file-locked", new StateFileHeldError(error)))
  }
}

/**
 * The `state-file-locked` alert's error: the state file's lock held by another keeper while this one runs (its
 * {@link StateFileLockedError} as `cause`). The text names the state file, the lock, its holder and what to do.
 */
export class StateFileHeldError extends Error {
  override name = "StateFileHeldError"
  constructor(locked: StateFileLockedError) {
    super(`${locked.message} Until then this keeper writes nothing to the state file and sends nothing; it goes on reading the chain and takes the lock at its next write once the lock is free.`, { cause: locked })
  }
}
