import { type Address, BaseError } from "viem"
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
