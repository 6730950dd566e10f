import { type Address, getAddress } from "viem"
import { ClampRuleRefusedError } from "../errors.js"
import type { SafeRuntime } from "../runtime.js"
import type { KeeperStateScope, KeeperStateStore } from "../stateFile.js"
import type { PendingStore } from "../store.js"
import { LiveVolatility, type LiveVolatilityState } from "../volatility.js"

/** The part of a Safe's runtime that must follow the Safe from worker to worker (JSON). */
export type SharedRuntime = {
  failures: number
  backoffUntil: number
  triggerBlock: string | undefined
  triggerAt: number
  /** Live volatility estimator per sub-account id. */
  volatility: Record<string, LiveVolatilityState>
  lastSeen: { block: string; timestamp: number } | undefined
  blockSeconds: number | undefined
  /**
   * Sub-accounts (lower case) last seen unreadable and already alerted `feed-broken`: shared, so the workers that step
   * the Safe in turn alert an outage once, not once each. Absent in a runtime saved before it existed.
   */
  unreadable?: string[] | undefined
  /**
   * The Safe's alert de-duplication state ({@link SHARED_ALERT_STATE}; review rr16d D3), tagged JSON
   * ({@link encodeShared}): shared, so the workers that step the Safe in turn alert a run (reverted inclusions, a rule's
   * refusals, an infeasible rescue) once, and a run ended on one worker is ended on all. Absent in a runtime saved
   * before it existed (each process's own is kept then).
   */
  alerts?: Record<string, unknown> | undefined
}

/**
 * The {@link SafeRuntime} fields that remember what was alerted (an alert once per run or per operation, then at most
 * once per a number of blocks), carried from worker to worker in the shared runtime (review rr16d D3: in queue mode a
 * reverting Safe tracked on two workers alerted `reverted` twice in 2 blocks, and a success on one worker did not end
 * the run on the other). The per-process gauges' bookkeeping stays per process.
 */
export const SHARED_ALERT_STATE = [
  "reverted",
  "noRescue",
  "ruleRefused",
  "gasCapAlerted",
  "clampRefused",
  "clampedAway",
  "arithmeticPanic",
  "readFailed",
  "aaveDust",
  "replacementBlocked",
  "oracleRefused",
  "noTrigger",
  "lastStepBlock",
  "unreached",
  "refused",
  "inclusionLogFailures",
  // Not an alert's memory but the recent failures judged by repetition (f11z: a plan's unnamed failure on one worker, then
  // on the next) and the alone table of size and chain-rule refusals (f11zf, f11zh: a second worker plans from what the
  // first learned; a `chain-rule` entry's refusal is carried as its rule, args, stage and detail).
  "recentFailures",
  "aloneFacts",
] as const satisfies readonly (keyof SafeRuntime)[]

/**
 * Plain JSON of a runtime value with `Map`s, `Set`s and `bigint`s tagged (`{ $map: [[k, v]] }`, `{ $set: [...] }`,
 * `{ $bigint: "123" }`); undefined object fields are left out. A {@link ClampRuleRefusedError} (an alone-table entry's
 * `chain-rule` refusal) is reduced to what replays its verdict and alert: `{ $clampRuleRefused: { safe, rule, args,
 * subAccount, stage, detail } }` (its binding lines are not kept). {@link decodeShared} inverts it.
 *
 * @returns A JSON-safe value.
 */
export function encodeShared(value: unknown): unknown {
  if (typeof value === "bigint") return { $bigint: value.toString() }
  if (value instanceof ClampRuleRefusedError) {
    const { safe, rule, args, subAccount, stage, detail } = value
    return { $clampRuleRefused: encodeShared({ safe, rule, args, subAccount, stage, detail }) }
  }
  if (value instanceof Map) return { $map: [...value].map(([k, v]) => [encodeShared(k), encodeShared(v)]) }
  if (value instanceof Set) return { $set: [...value].map(encodeShared) }
  if (Array.isArray(value)) return value.map(encodeShared)
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).flatMap(([k, v]) => (v === undefined ? [] : [[k, encodeShared(v)]])))
  return value
}

/** @returns The value {@link encodeShared} was given. */
export function decodeShared(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decodeShared)
  if (value === null || typeof value !== "object") return value
  const o = value as Record<string, unknown>
  if (typeof o.$bigint === "string") return BigInt(o.$bigint)
  if (o.$clampRuleRefused !== null && typeof o.$clampRuleRefused === "object") {
    const e = decodeShared(o.$clampRuleRefused) as { safe: string; rule: string; args: unknown[]; subAccount?: string; stage?: "judge" | "simulation" | "undecided"; detail?: string }
    return new ClampRuleRefusedError({ safe: e.safe, rule: e.rule, args: e.args ?? [], binding: [], subAccount: e.subAccount, stage: e.stage, detail: e.detail })
  }
  if (Array.isArray(o.$map)) return new Map((o.$map as [unknown, unknown][]).map(([k, v]) => [decodeShared(k), decodeShared(v)]))
  if (Array.isArray(o.$set)) return new Set(o.$set.map(decodeShared))
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, decodeShared(v)]))
}

/** What the fleet keeps per Safe besides the chain: the operation in flight, scan fingerprints, leases, runtime. */
export type FleetStore = PendingStore & {
  /** Binds a file-backed store to the keeper's nonce sequence (chain, EntryPoint, module, keeper key). */
  bind?(scope: KeeperStateScope): void
  /** Writes a file-backed store's snapshot ({@link KeeperStateStore.flush}; the fleet keeper calls it once per pass). */
  flush?(): Promise<void>
  /** Closes a file-backed store: its journal file and its lock ({@link KeeperStateStore.close}; the fleet keeper's stop). */
  close?(): void
  /** The Safes with an operation in flight. */
  pendingSafes(): Promise<Address[]>
  /** For each Safe: whether an operation is in flight, and the fingerprint of its last scan. */
  scanState(safes: readonly Address[]): Promise<{ pending: boolean[]; fingerprints: (string | undefined)[] }>
  setFingerprints(entries: readonly (readonly [Address, string])[]): Promise<void>
  /**
   * Records that a step of each Safe was queued on a read at `block` (the scan that found it due), keeping the highest
   * block per Safe: a queued or running step of an older block of the Safe is then superseded (not run, its plan not
   * sent). Record after the step is queued, so a Safe is never left without the step that superseded its older one.
   */
  markSteps(entries: readonly (readonly [Address, bigint])[]): Promise<void>
  /** The highest block a step of `safe` was queued at ({@link markSteps}); undefined when none was. */
  newestStep(safe: Address): Promise<bigint | undefined>
  /** Takes the Safe for this process (false when another step holds it); writes to it are fenced by the lease. */
  acquire(safe: Address): Promise<boolean>
  release(safe: Address): Promise<void>
  /** The Safe's runtime as the last worker left it; undefined when this process's own copy is the only one. */
  loadRuntime(safe: Address): Promise<SharedRuntime | undefined>
  saveRuntime(safe: Address, runtime: SharedRuntime): Promise<void>
}

/**
 * A dry run's view of `store` (review rr16b P1): reads go to `store`, but in-flight records written by the dry run (a
 * revoked key's record dropped, the tracker ending or updating a record) are kept in this process's memory only, so a
 * `--dry-run` keeper on the production configuration (an embedded fleet sharing `stateFile`) never rewrites the
 * production state file (which `KeeperStateStore.setPending` rewrites whole from the process's copy). Leases, scan
 * fingerprints, step marks and runtimes go to `store` as before (in memory for the embedded store; the dry-run Redis
 * namespace in queue mode, rr16 F6).
 *
 * @returns A {@link FleetStore} whose `setPending` never reaches `store`.
 */
export function dryRunFleetStore(store: FleetStore): FleetStore {
  const written = new Map<Address, Awaited<ReturnType<FleetStore["pending"]>>>()
  const pending = async (safe: Address) => {
    const key = getAddress(safe)
    return written.has(key) ? written.get(key) : await store.pending(key)
  }
  return {
    bind: store.bind ? (scope) => store.bind?.(scope) : undefined,
    close: store.close ? () => store.close?.() : undefined,
    pending,
    setPending: (safe, op) => void written.set(getAddress(safe), op),
    pendingSafes: async () => {
      const safes = new Set((await store.pendingSafes()).map((s) => getAddress(s)))
      for (const [safe, op] of written) op === undefined ? safes.delete(safe) : safes.add(safe)
      return [...safes]
    },
    scanState: async (safes) => {
      const state = await store.scanState(safes)
      return { ...state, pending: safes.map((s, i) => (written.has(getAddress(s)) ? written.get(getAddress(s)) !== undefined : (state.pending[i] ?? false))) }
    },
    setFingerprints: (entries) => store.setFingerprints(entries),
    markSteps: (entries) => store.markSteps(entries),
    newestStep: (safe) => store.newestStep(safe),
    acquire: (safe) => store.acquire(safe),
    release: (safe) => store.release(safe),
    loadRuntime: (safe) => store.loadRuntime(safe),
    saveRuntime: (safe, runtime) => store.saveRuntime(safe, runtime),
  }
}

/**
 * The embedded fleet's store: in-flight operations in the keeper's JSON state file (when `stateFile` is set) and
 * everything else in memory. One process, so a lease is a set entry and the runtime never leaves the process.
 */
export class MemoryFleetStore implements FleetStore {
  private readonly fingerprints = new Map<Address, string>()
  private readonly leases = new Set<Address>()
  private readonly newest = new Map<Address, bigint>()

  constructor(private readonly file: KeeperStateStore) {}

  /** Binds the state file to the keeper's nonce sequence (chain, EntryPoint, module, keeper key); see `KeeperStateStore.bind`. */
  bind(scope: KeeperStateScope): void {
    this.file.bind(scope)
  }

  pending(safe: Address) {
    return this.file.pending(safe)
  }

  /** Writes the state file's snapshot (see `KeeperStateStore.flush`). */
  flush(): Promise<void> {
    return this.file.flush()
  }

  /** Closes the state file's journal and releases its lock (see `KeeperStateStore.close`). */
  close(): void {
    this.file.close()
  }

  setPending(safe: Address, pending: Parameters<KeeperStateStore["setPending"]>[1]) {
    this.file.setPending(safe, pending)
  }

  async pendingSafes() {
    return this.file.safesWithPending()
  }

  async scanState(safes: readonly Address[]) {
    return { pending: safes.map((s) => this.file.pending(s) !== undefined), fingerprints: safes.map((s) => this.fingerprints.get(s)) }
  }

  async setFingerprints(entries: readonly (readonly [Address, string])[]) {
    for (const [safe, fp] of entries) this.fingerprints.set(safe, fp)
  }

  async markSteps(entries: readonly (readonly [Address, bigint])[]) {
    for (const [safe, block] of entries) {
      const a = getAddress(safe)
      if (block > (this.newest.get(a) ?? -1n)) this.newest.set(a, block)
    }
  }

  async newestStep(safe: Address) {
    return this.newest.get(getAddress(safe))
  }

  async acquire(safe: Address) {
    if (this.leases.has(safe)) return false
    this.leases.add(safe)
    return true
  }

  async release(safe: Address) {
    this.leases.delete(safe)
  }

  async loadRuntime() {
    return undefined
  }

  async saveRuntime() {}
}

/** @returns The shared part of `rt` (JSON-safe). */
export function sharedRuntimeOf(rt: SafeRuntime): SharedRuntime {
  return {
    failures: rt.failures,
    backoffUntil: rt.backoffUntil,
    triggerBlock: rt.triggerBlock?.toString(),
    triggerAt: rt.triggerAt,
    volatility: Object.fromEntries([...rt.volatility].map(([id, v]) => [id, v.save()])),
    lastSeen: rt.lastSeen && { block: rt.lastSeen.block.toString(), timestamp: rt.lastSeen.timestamp },
    blockSeconds: rt.blockSeconds,
    unreadable: [...rt.unreadable],
    alerts: Object.fromEntries(SHARED_ALERT_STATE.flatMap((key) => (rt[key] === undefined ? [] : [[key, encodeShared(rt[key])]]))),
  }
}

/** Overwrites `rt`'s shared part with `shared` (what the last worker of this Safe left). */
export function applySharedRuntime(rt: SafeRuntime, shared: SharedRuntime): void {
  rt.failures = shared.failures
  rt.backoffUntil = shared.backoffUntil
  rt.triggerBlock = shared.triggerBlock === undefined ? undefined : BigInt(shared.triggerBlock)
  rt.triggerAt = shared.triggerAt
  const { sigma, volatility: settings } = rt.config.risk
  rt.volatility = new Map(Object.entries(shared.volatility).map(([id, state]) => [id, LiveVolatility.restore(sigma, settings, state)]))
  rt.lastSeen = shared.lastSeen && { block: BigInt(shared.lastSeen.block), timestamp: shared.lastSeen.timestamp }
  rt.blockSeconds = shared.blockSeconds
  if (shared.unreadable !== undefined) rt.unreadable = new Set(shared.unreadable)
  const alerts = shared.alerts
  if (alerts !== undefined) for (const key of SHARED_ALERT_STATE) (rt as Record<string, unknown>)[key] = key in alerts ? decodeShared(alerts[key]) : undefined
}
