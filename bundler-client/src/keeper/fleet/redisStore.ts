import { randomUUID } from "node:crypto"
import type { Redis } from "ioredis"
import { type Address, getAddress } from "viem"
import { type KeeperStateScope, type PendingOperation, scopeKey } from "../stateFile.js"
import { StoreFencedError, StoreUnavailableError } from "../store.js"
import type { FleetStore, SharedRuntime } from "./store.js"

/** Writes `ARGV[3]` (or deletes when empty) to field `ARGV[2]` of hash `KEYS[2]` only while `KEYS[1]` holds `ARGV[1]`. */
const FENCED_HSET = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[2], ARGV[2]) else redis.call('HSET', KEYS[2], ARGV[2], ARGV[3]) end
return 1`
/** For each pair (`ARGV[2i-1]` Safe, `ARGV[2i]` block): sets the Safe's field of hash `KEYS[1]` to the block when higher. */
const MARK_STEPS = `
for i = 1, #ARGV, 2 do
  local b = tonumber(ARGV[i + 1])
  local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '-1')
  if b > cur then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 1`
/** Extends `KEYS[1]` by `ARGV[2]` ms while it holds `ARGV[1]`. */
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`
/** Deletes `KEYS[1]` while it holds `ARGV[1]`. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`

/** The Redis keys of one fleet (`prefix` from `fleet.queue.prefix`). */
export const fleetKeys = (prefix: string) => ({
  pending: `${prefix}:pending`,
  fingerprints: `${prefix}:fp`,
  runtime: `${prefix}:rt`,
  /** Safe -> the highest block a step of it was queued at. */
  newestStep: `${prefix}:newest-step`,
  lease: (safe: Address) => `${prefix}:lease:${safe.toLowerCase()}`,
  leader: `${prefix}:leader`,
  head: `${prefix}:head`,
  /** The block hash of the head in `head` (review rr16h H3: binds the stored head to its chain). */
  headHash: `${prefix}:head:hash`,
  discovery: `${prefix}:discovery`,
  block: (block: bigint) => `${prefix}:block:${block}`,
})

/**
 * ioredis options of the fleet store's own connection (review rr16c K1). BullMQ's connections need
 * `maxRetriesPerRequest: null` (a command waits for Redis however long it is away); on such a connection a store command
 * issued during an outage never fails and never answers, so a step hung with no outcome and no alert, and ran its old
 * block once Redis was back. On this one a command fails once the connection has failed to come back twice
 * (`maxRetriesPerRequest: 1`: ioredis then rejects every queued command) and at the latest after `commandTimeout`
 * (5,000 ms: a connection that is open but never answers), so a step taken during an outage ends `store-halted`
 * (`StoreUnavailableError`, one `state-store-unavailable` alert per run of failures).
 */
export const FLEET_STORE_REDIS_OPTIONS = { maxRetriesPerRequest: 1, commandTimeout: 5_000, lazyConnect: false } as const

/**
 * The fleet's shared store on Redis. In-flight operations (intent and hash, with their nonces) live in one hash keyed
 * by Safe; a worker writes a Safe's entry only while it holds that Safe's lease (`SET NX PX`, renewed every third of
 * `leaseMs`), checked in the same Lua script as the write, so a worker that stalled past its lease cannot overwrite
 * the entry of the worker that took the Safe over ({@link StoreFencedError}). Leases of a dead worker expire after
 * `leaseMs`. Run Redis with `appendonly yes` (and `appendfsync always` for no loss at all) so intents survive a restart.
 */
export class RedisFleetStore implements FleetStore {
  private keys
  /** Leases this process holds: Safe -> token and renewal timer. */
  private readonly held = new Map<Address, { token: string; timer: NodeJS.Timeout }>()

  constructor(
    private readonly redis: Redis,
    private readonly options: { prefix: string; leaseMs: number },
  ) {
    this.keys = fleetKeys(options.prefix)
  }

  /**
   * Binds the in-flight records and the discovery checkpoint to the keeper's nonce sequence (chain, EntryPoint,
   * module, keeper key), like the state file: a node of another scope on the same Redis and prefix (another chain, a
   * redeployed module, a rotated key) never reads them as its own (`<prefix>:pending:<scope>` and
   * `<prefix>:discovery:<scope>`, scope = `<chainId>:<entryPoint>:<module>:<keeper>`; the checkpoint also records its
   * scope and `SafeDiscovery.restore` ignores one of another scope). The shared runtimes (`<prefix>:rt:<scope>`: a
   * Safe's `failures` and `backoffUntil`, during which `SafeStep.run` skips it, its trigger block and block clock) and
   * the newest-step marks (`<prefix>:newest-step:<scope>`: a newer mark supersedes a queued step) are scoped too
   * (review rr11r R5: keyed by Safe only, another scope's backoff on the same CREATE2 address skipped this scope's due
   * Safe with no send and no alert). The fingerprints stay per prefix: a mismatch there costs one extra solve, never a
   * skipped Safe (an out-of-band Safe is stepped whatever its fingerprint).
   */
  bind(scope: KeeperStateScope): void {
    const key = scopeKey(scope)
    const prefix = this.options.prefix
    this.keys = { ...fleetKeys(prefix), pending: `${prefix}:pending:${key}`, discovery: `${prefix}:discovery:${key}`, runtime: `${prefix}:rt:${key}`, newestStep: `${prefix}:newest-step:${key}` }
  }

  /** The Redis key of the discovery checkpoint (scoped once {@link bind} was called). */
  get discoveryKey(): string {
    return this.keys.discovery
  }

  /**
   * The Safe's in-flight record, undefined when none.
   *
   * @throws {StoreUnavailableError} When Redis could not answer the read (cause: ioredis' error): whether an operation
   *   is in flight is unknown, so the step sends nothing and alerts `state-store-unavailable`, as for a write (it was a
   *   raw ioredis error, which the step took for the plan's failure: a `send-failed` alert and a backoff).
   */
  async pending(safe: Address): Promise<PendingOperation | undefined> {
    const raw = await this.read(safe, this.keys.pending, "the in-flight record")
    return raw ? (JSON.parse(raw) as PendingOperation) : undefined
  }

  /**
   * @throws {StoreFencedError} When this worker does not hold the Safe's lease (the check ran and refused).
   * @throws {StoreUnavailableError} When Redis could not run the check and write (cause: ioredis' error).
   */
  async setPending(safe: Address, pending: PendingOperation | undefined): Promise<void> {
    await this.fencedHset(safe, this.keys.pending, pending === undefined ? "" : JSON.stringify(pending), "the in-flight record")
  }

  async pendingSafes(): Promise<Address[]> {
    return (await this.redis.hkeys(this.keys.pending)).map((safe) => getAddress(safe))
  }

  async scanState(safes: readonly Address[]) {
    if (safes.length === 0) return { pending: [], fingerprints: [] }
    const fields = safes.map((s) => s.toLowerCase())
    const results = await this.redis.pipeline().hmget(this.keys.pending, ...fields).hmget(this.keys.fingerprints, ...fields).exec()
    const [pending, fingerprints] = (results ?? []).map(([error, value]) => {
      if (error) throw error
      return value as (string | null)[]
    })
    return { pending: (pending ?? []).map((p) => p !== null), fingerprints: (fingerprints ?? []).map((f) => f ?? undefined) }
  }

  async setFingerprints(entries: readonly (readonly [Address, string])[]) {
    if (entries.length === 0) return
    await this.redis.hset(this.keys.fingerprints, Object.fromEntries(entries.map(([safe, fp]) => [safe.toLowerCase(), fp])))
  }

  /** Keeps the highest block per Safe in `<prefix>:newest-step` (one compare-and-set script for all of `entries`). */
  async markSteps(entries: readonly (readonly [Address, bigint])[]): Promise<void> {
    if (entries.length === 0) return
    await this.redis.eval(MARK_STEPS, 1, this.keys.newestStep, ...entries.flatMap(([safe, block]) => [safe.toLowerCase(), block.toString()]))
  }

  async newestStep(safe: Address): Promise<bigint | undefined> {
    const raw = await this.redis.hget(this.keys.newestStep, safe.toLowerCase())
    return raw === null ? undefined : BigInt(raw)
  }

  /**
   * Takes the Safe's lease (`SET <prefix>:lease:<safe> <token> PX leaseMs NX`) and renews it every third of `leaseMs`.
   *
   * @returns False when this process or another worker holds it.
   * @throws {StoreUnavailableError} When Redis could not run the `SET` (`access` "write", cause: ioredis' error): the
   *   step sends nothing and reports `state-store-unavailable`, as for its other records (it was a raw ioredis error that
   *   ended the fleet step as a bare "fleet step failed" log), or could not read the lease's holder back after a null
   *   answer (`access` "read"). A `SET` that ran but whose answer was lost for good (the command rejected) leaves a lease
   *   no worker renews: the Safe is busy until it expires after `leaseMs`. One that ioredis sent again on reconnect
   *   answers null and is recognised by its token, its expiry reset to `leaseMs` (reviews rr16c I1, rr17a F1): the lease is taken.
   */
  async acquire(safe: Address): Promise<boolean> {
    if (this.held.has(safe)) return false
    const token = randomUUID()
    const key = this.keys.lease(safe)
    let answer: unknown
    try {
      answer = await this.redis.set(key, token, "PX", this.options.leaseMs, "NX")
    } catch (error) {
      throw new StoreUnavailableError({ safe, cause: error instanceof Error ? error : new Error(String(error)), what: "the lease", access: "write" })
    }
    if (answer !== "OK") {
      // Review rr16c I1: ioredis sends a command whose answer was lost again on reconnect (`autoResendUnfulfilledCommands`,
      // on by default). A `SET NX` that ran, sent again, finds this attempt's own token and answers null: read as another
      // worker's lease, the Safe was busy with no alert until the lease expired. The holder is checked with the renewal
      // script: this attempt's token is this attempt's lease, and its expiry is reset to `leaseMs` from now in the same
      // atomic step (review rr17a F1: a plain read-back kept the TTL the first run gave, so a resend later than 2/3 of
      // `leaseMs` left a lease that expired before its first renewal, and another worker took the Safe mid-step).
      let ours: unknown
      try {
        ours = await this.redis.eval(RENEW, 1, key, token, this.options.leaseMs)
      } catch (error) {
        throw new StoreUnavailableError({ safe, cause: error instanceof Error ? error : new Error(String(error)), what: "the lease", access: "read" })
      }
      if (ours !== 1) return false
    }
    const timer = setInterval(() => {
      this.redis.eval(RENEW, 1, key, token, this.options.leaseMs).catch(() => {})
    }, Math.max(100, Math.floor(this.options.leaseMs / 3)))
    timer.unref()
    this.held.set(safe, { token, timer })
    return true
  }

  async release(safe: Address): Promise<void> {
    const lease = this.held.get(safe)
    if (!lease) return
    clearInterval(lease.timer)
    this.held.delete(safe)
    await this.redis.eval(RELEASE, 1, this.keys.lease(safe), lease.token)
  }

  /** Stops renewing every lease this process holds (they expire after `leaseMs`). */
  dropLeases(): void {
    for (const { timer } of this.held.values()) clearInterval(timer)
    this.held.clear()
  }

  /**
   * The Safe's shared runtime, undefined when none.
   *
   * @throws {StoreUnavailableError} When Redis could not answer the read (cause: ioredis' error).
   */
  async loadRuntime(safe: Address): Promise<SharedRuntime | undefined> {
    const raw = await this.read(safe, this.keys.runtime, "the shared runtime")
    return raw ? (JSON.parse(raw) as SharedRuntime) : undefined
  }

  /** The Safe's field of `hash`; a read Redis could not answer is {@link StoreUnavailableError} (`access` "read"). */
  private async read(safe: Address, hash: string, what: string): Promise<string | null> {
    try {
      return await this.redis.hget(hash, safe.toLowerCase())
    } catch (error) {
      throw new StoreUnavailableError({ safe, cause: error instanceof Error ? error : new Error(String(error)), what, access: "read" })
    }
  }

  async saveRuntime(safe: Address, runtime: SharedRuntime): Promise<void> {
    await this.fencedHset(safe, this.keys.runtime, JSON.stringify(runtime), "the shared runtime")
  }

  /**
   * Writes `value` to the Safe's field of `hash` while this worker holds the Safe's lease (one script: check and write).
   * The store names its own failures (review rr11zc C2): a check that ran and refused is {@link StoreFencedError}; a
   * script Redis could not run (unreachable, restarting, failing over, an error reply: OOM, READONLY) is
   * {@link StoreUnavailableError} with ioredis' error as its cause (whether the lease is still held is unknown).
   */
  private async fencedHset(safe: Address, hash: string, value: string, what: string): Promise<void> {
    const lease = this.held.get(safe)
    let ok: unknown = 0
    if (lease) {
      try {
        ok = await this.redis.eval(FENCED_HSET, 2, this.keys.lease(safe), hash, lease.token, safe.toLowerCase(), value)
      } catch (error) {
        throw new StoreUnavailableError({ safe, cause: error instanceof Error ? error : new Error(String(error)), what })
      }
    }
    if (ok !== 1) throw new StoreFencedError({ safe })
  }
}
