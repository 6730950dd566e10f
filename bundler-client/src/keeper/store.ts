import type { Logger } from "pino"
import { type Address, BaseError } from "viem"
import { type KeeperEvents, shortMessage } from "./events.js"
import type { SafeRuntime } from "./runtime.js"
import type { PendingOperation } from "./stateFile.js"

/**
 * Where the keeper keeps each Safe's operation in flight (intent before the send, hash after it). The embedded keeper
 * uses the JSON state file ({@link KeeperStateStore}); the fleet uses a store shared by every worker (Redis), whose
 * writes are fenced: a worker that no longer holds a Safe's lease gets {@link StoreFencedError} instead of writing.
 */
export type PendingStore = {
  pending(safe: Address): PendingOperation | undefined | Promise<PendingOperation | undefined>
  setPending(safe: Address, pending: PendingOperation | undefined): void | Promise<void>
  /**
   * The Safe's alone table (`SafeRuntime.aloneFacts`) as last persisted, tagged JSON (`encodeShared`), when this store
   * persists it: the single-process keeper's state file, so a restart does not probe again what the table knew. The
   * fleet carries it in its shared runtime instead (these are absent).
   */
  aloneFacts?(safe: Address): unknown
  /** Persists the Safe's alone table (tagged JSON; undefined: none). */
  setAloneFacts?(safe: Address, table: unknown): void
}

export type StoreFencedErrorType = StoreFencedError & { name: "StoreFencedError" }
/**
 * A shared store refused a write for a Safe because this worker's lease on it has expired or passed to another worker:
 * the worker must stop working on that Safe now (nothing is sent after a refused intent).
 */
export class StoreFencedError extends BaseError {
  safe: Address
  constructor({ safe }: { safe: Address }) {
    super(`This worker no longer holds the lease on Safe ${safe}; its write was refused.`, {
      metaMessages: ["This could arise when:", "- the worker stalled longer than the lease (GC pause, overloaded machine);", "- another worker took the Safe over after the lease expired."],
      name: "StoreFencedError",
    })
    this.safe = safe
  }
}

export type StateWriteErrorType = StateWriteError & { name: "StateWriteError" }
/**
 * A local store could not write a change to disk (the state file's journal: ENOSPC, EROFS, EACCES, EIO...), after
 * holding it in memory: the keeper goes on from memory (the chain's nonce, not the file, keeps one operation per nonce)
 * and alerts `state-write-failed`. Only a store whose write is a record, not a lease check, throws it: a shared store
 * that cannot check the lease (Redis unreachable) throws its own error, and the send stops (review rr11zc C2).
 */
export class StateWriteError extends BaseError {
  /** The journal generation the failed line was for (the state file's; undefined: not known). */
  generation: number | undefined
  /**
   * The `journal` mark of the last snapshot this store renamed in before the failure (the first generation it does not
   * cover; undefined: none yet in this process). A snapshot whose mark is above a failed line's generation was
   * serialized after that failure: it holds what memory held then, so the disk caught up (review rr11zd D3).
   */
  landed: number | undefined
  constructor({ path, cause, generation, landed }: { path: string; cause: Error; generation?: number | undefined; landed?: number | undefined }) {
    super(`The keeper's state file could not be written (${path}); the change is held in memory.`, {
      cause,
      metaMessages: ["This could arise when:", "- the disk is full (a crash's logs);", "- the file system is read-only, or the keeper lost permission to the directory."],
      name: "StateWriteError",
    })
    this.generation = generation
    this.landed = landed
  }
}

export type StoreUnavailableErrorType = StoreUnavailableError & { name: "StoreUnavailableError" }
/**
 * The store of the in-flight record could not be read or written for a reason that is neither a refused lease
 * ({@link StoreFencedError}) nor a local disk's ({@link StateWriteError}): a shared store that could not run the write
 * (the fleet's Redis unreachable, restarting, failing over or answering an error: ioredis' "Connection is closed.",
 * `MaxRetriesPerRequestError`, a `ReplyError` OOM / READONLY). Whether this worker still holds the Safe's lease is
 * unknown, so nothing is sent (review rr11zc C2); and it is not the plan's failure (review rr11zd D1): no sub-account is
 * blamed, the plan is not split, the Safe is not backed off. `SafeStep` alerts `state-store-unavailable` once per run
 * of such failures (again after a write of the record succeeds) and tries again at the next block. `cause`: the
 * store's own error. Thrown by the shared store itself (`RedisFleetStore`: any failure of Redis to run a fenced write, a
 * read of the Safe's records or the `SET` taking its lease), not guessed by the caller from the error's class.
 */
export class StoreUnavailableError extends BaseError {
  safe: Address
  /** Whether the store could not read or could not write the record. */
  access: "read" | "write"
  /**
   * @param what - The record that could not be read or written (default "the in-flight record"; the fleet's shared runtime,
   *   the Safe's lease).
   * @param access - "write" (default: a fenced write Redis could not run, or the `SET` taking the Safe's lease, `what`
   *   "the lease") or "read" (a read of the record Redis could not answer: whether an operation is in flight is
   *   unknown, so nothing is sent either).
   */
  constructor({ safe, cause, what = "the in-flight record", access = "write" }: { safe: Address; cause: Error; what?: string | undefined; access?: "read" | "write" | undefined }) {
    super(`The keeper's store could not ${access} ${what} of Safe ${safe} (${cause.message.split("\n")[0] ?? ""}); nothing was sent, and the Safe is tried again at the next block.`, {
      cause,
      metaMessages: ["This could arise when:", "- the fleet's Redis is unreachable, restarting or failing over;", "- Redis answers an error (OOM, READONLY replica)."],
      name: "StoreUnavailableError",
    })
    this.safe = safe
    this.access = access
  }
}

/**
 * Writes the Safe's in-flight record (`PendingStore.setPending`): the intent before a send, the hash after the bundler
 * accepted it, the tracking record after AA25 or an unusable answer, the tracker's updates and clears. The one path for
 * every such write (the sender, the inclusion tracker, the step). The record is a tracking aid, not a lock: the local
 * store holds it in memory before writing, and the EntryPoint nonce keeps one operation per nonce. So a local write that
 * fails ({@link StateWriteError}: a disk filled by a crash's logs) never stops the send, the tracking or the step: it is
 * alerted `state-write-failed` once per run of failing writes (again after a write succeeds) and the caller goes on
 * (reviews rr11zb B1, rr11zc C1). Any other failure stops the caller, thrown as it is: each store names its own failures
 * (a fenced write {@link StoreFencedError}: the fleet lease lost; a shared store that could not run the write
 * {@link StoreUnavailableError}: Redis unreachable, rr11zc C2; the state file held by another keeper
 * `StateFileLockedError`, rr11zf F3), and `SafeStep` tells them apart; anything else (a programming error: a record
 * that does not serialize, a store used before `bind`, rr11ze E5) is the plan's send failing. A successful write ends
 * both runs of the Safe (`SafeRuntime.stateWriteFailing`, `storeUnavailable`).
 *
 * @throws {StoreFencedError} When the shared store refused the write (this worker lost the Safe's lease).
 * @throws {StoreUnavailableError} When the shared store could not run the write (cause: its error).
 * @throws {StateFileLockedError} When another keeper holds the state file's lock (nothing was written).
 * @throws Any other error of the store, unchanged.
 */
export async function writePendingRecord(
  deps: { store: PendingStore; events: KeeperEvents; logger: Logger },
  rt: SafeRuntime,
  block: bigint,
  record: PendingOperation | undefined,
): Promise<void> {
  try {
    await deps.store.setPending(rt.config.address, record)
    rt.stateWriteFailing = undefined
    rt.storeUnavailable = undefined
  } catch (error) {
    if (!(error instanceof StateWriteError)) throw error
    stateWriteFailed(deps, rt, block, error, "the in-flight record")
  }
}

/**
 * A run of failures of one condition alerted once per run (`SafeRuntime.storeUnavailable` per Safe, the state file's
 * lock and snapshot per keeper: `StateSnapshots`): `last` is the run's last failing block.
 */
export type FailureRun = { last: bigint }

/**
 * Notes a failure at `block` of a condition alerted once per run of failures: `raise` (the alert) is called when no run
 * is open (`run` undefined), and the run's last block becomes `block`. The run's owner ends it (sets it undefined) when
 * the condition is seen gone (a write that succeeds, a step that ran after `last` without the failure).
 *
 * @returns The run to keep: `{ last: block }`.
 */
export function failureRun(run: FailureRun | undefined, block: bigint, raise: () => void): FailureRun {
  if (run === undefined) raise()
  return { last: block }
}

/**
 * Reports a failed write of one of the Safe's records to the state file ({@link StateWriteError}: the in-flight record
 * by {@link writePendingRecord}, the alone table by `SafeStep`): a warn line each time, and `state-write-failed` once per
 * run of failing writes of the Safe, one run for both records (review rr11zd D2: the alone table's failure was alerted
 * at each change of the table). The run (`SafeRuntime.stateWriteFailing`: the journal generation of its last failed
 * write) is ended by a successful write of the in-flight record, and by a snapshot renamed in after the run's last
 * failure (`StateWriteError.landed` above that generation: the snapshot held memory, so the disk caught up with every
 * record of every Safe; review rr11zd D3): the next failure starts a new run and is alerted.
 */
export function stateWriteFailed(deps: { events: KeeperEvents; logger: Logger }, rt: SafeRuntime, block: bigint, error: StateWriteError, what: "the in-flight record" | "the alone table"): void {
  const safe = rt.config.address
  deps.logger.warn({ safe, block: Number(block), err: shortMessage(error) }, `${what} could not be written to the state file; going on from memory`)
  const generation = error.generation ?? Number.POSITIVE_INFINITY
  const before = rt.stateWriteFailing
  const ended = before !== undefined && error.landed !== undefined && error.landed > before
  rt.stateWriteFailing = before === undefined || ended ? generation : Math.max(before, generation)
  if (before !== undefined && !ended) return
  deps.events.alert(safe, block, "state-write-failed", error)
}
