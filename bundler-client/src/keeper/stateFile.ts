import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import { dirname } from "node:path"
import type { Address, Hex } from "viem"
import type { PendingStore } from "./store.js"

/** An operation the keeper sent and has not yet seen included, dropped or replaced. */
export type PendingOperation = {
  /** UserOperation hash; undefined while the send is in progress (intent recorded first). */
  userOpHash: Hex | undefined
  /** EntryPoint nonce (key and sequence) the operation uses. */
  nonce: string
  /** Block the operation was sent at (its UserOperationEvent is searched from there). */
  sentBlock: string
  /** Block the resubmission timer counts from, when later than `sentBlock` (the bundler said the nonce is in flight). */
  waitFromBlock?: string | undefined
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

/** What the keeper persists across restarts: per Safe, the operation in flight. Everything else comes from the chain. */
export type KeeperState = { version: 1; safes: Record<Address, { pending: PendingOperation | undefined }> }

/** Persists {@link KeeperState} atomically (write to a temporary file, then rename), synchronously so a kill cannot tear it. */
export class KeeperStateStore implements PendingStore {
  private state: KeeperState
  constructor(readonly path: string | undefined) {
    this.state = { version: 1, safes: {} }
    if (path) {
      try {
        const parsed = JSON.parse(readFileSync(path, "utf8")) as KeeperState
        if (parsed.version === 1 && typeof parsed.safes === "object") this.state = parsed
      } catch {
        // A missing or unreadable file means no operation was in flight that the chain cannot tell us about.
      }
    }
  }

  pending(safe: Address): PendingOperation | undefined {
    return this.state.safes[safe]?.pending
  }

  /** The Safes with an operation in flight. */
  safesWithPending(): Address[] {
    return (Object.keys(this.state.safes) as Address[]).filter((safe) => this.state.safes[safe]?.pending !== undefined)
  }

  setPending(safe: Address, pending: PendingOperation | undefined): void {
    this.state.safes[safe] = { pending }
    if (!this.path) return
    mkdirSync(dirname(this.path), { recursive: true })
    const tmp = `${this.path}.tmp`
    writeFileSync(tmp, `${JSON.stringify(this.state, null, 2)}\n`)
    renameSync(tmp, this.path)
  }
}
