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
 * could belong to another chain, and the chain's nonce tells what a record would have.
 */
export type KeeperState = { version: 2; scopes: Record<string, { safes: Record<string, SafeRecord> }> }

/** One Safe's record in the state file: its operation in flight and its alone table (tagged JSON). */
export type SafeRecord = { pending: PendingOperation | undefined; aloneFacts?: unknown }

/** Persists {@link KeeperState} atomically (write to a temporary file, then rename), synchronously so a kill cannot tear it. */
export class KeeperStateStore implements PendingStore {
  private state: KeeperState
  private key: string | undefined
  /** Why the file's content was not used (unreadable, old version), for the keeper's start-up log. */
  readonly discarded: string | undefined
  constructor(readonly path: string | undefined) {
    this.state = { version: 2, scopes: {} }
    let discarded: string | undefined
    if (path) {
      try {
        const parsed = JSON.parse(readFileSync(path, "utf8")) as { version?: unknown; scopes?: unknown }
        if (parsed.version === 2 && typeof parsed.scopes === "object" && parsed.scopes !== null) this.state = parsed as KeeperState
        else discarded = `state file version ${String(parsed.version)} is not bound to a chain, EntryPoint, module and keeper key; ignored`
      } catch {
        // A missing or unreadable file means no operation was in flight that the chain cannot tell us about.
      }
    }
    this.discarded = discarded
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

  setPending(safe: Address, pending: PendingOperation | undefined): void {
    this.update(safe, { pending, aloneFacts: this.safes()[safe.toLowerCase()]?.aloneFacts })
  }

  /** The Safe's alone table as last persisted (tagged JSON), or undefined. */
  aloneFacts(safe: Address): unknown {
    return this.safes()[safe.toLowerCase()]?.aloneFacts
  }

  /**
   * Persists the Safe's alone table (tagged JSON; undefined: none), writing the file only when it changed (the keeper
   * calls it after every step).
   */
  setAloneFacts(safe: Address, table: unknown): void {
    const key = safe.toLowerCase()
    const before = this.safes()[key]
    if (JSON.stringify(before?.aloneFacts) === JSON.stringify(table)) return
    this.update(safe, { pending: before?.pending, aloneFacts: table })
  }

  /** Replaces the Safe's record (an undefined alone table is left out) and writes the file. */
  private update(safe: Address, record: SafeRecord): void {
    this.safes()[safe.toLowerCase()] = record.aloneFacts === undefined ? { pending: record.pending } : record
    this.write()
  }

  private write(): void {
    if (!this.path) return
    mkdirSync(dirname(this.path), { recursive: true })
    const tmp = `${this.path}.tmp`
    writeFileSync(tmp, `${JSON.stringify(this.state, null, 2)}\n`)
    renameSync(tmp, this.path)
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
