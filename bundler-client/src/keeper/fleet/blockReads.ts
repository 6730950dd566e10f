import { BaseError, type Chain, type Client, type Hex, type PublicClient, type Transport, createPublicClient, custom, numberToHex } from "viem"
import { BlockNotCanonicalError, BlockNotImportedError, someInCauseChain } from "../errors.js"

/** Block numbers whose shared reads are kept (the newest ones; every hash seen at them); older ones are dropped. */
export const SHARED_READ_BLOCKS = 2

/** A block of the fleet's work: its number and hash (the head poll's; undefined: unknown, e.g. a job queued before hashes were carried). */
export type BlockRef = { number: bigint; hash?: Hex | undefined }

/**
 * Waits (milliseconds) before asking the node again for a block it does not have yet (review rr16d D2: a
 * load-balanced RPC whose backends are a block apart). Bounded: 1.75 s in all, within a 12 s block.
 */
export const NOT_IMPORTED_RETRY_MS: readonly number[] = [250, 500, 1_000]

/** Milliseconds a block found canonical by {@link PinnedReads.canonical} is trusted without asking the node again. */
export const CANONICAL_TTL_MS = 1_000

/** Milliseconds after which a block marked lost is tried again (a reorg back, or a backend that was on another fork). */
export const LOST_RECHECK_MS = 2_000

/** A client whose `eth_call`s at one block are pinned to its hash; `lost()` says whether the node refused the block. */
export type PinnedReads = PublicClient & {
  /** The refusal, once a read of this block found another block at its number (reads within {@link LOST_RECHECK_MS} throw it). */
  lost: () => BlockNotCanonicalError | undefined
  /**
   * Whether the block is still on the node's chain (review rr16d D1: a step that decides on the job's data alone, an
   * operation in flight, checks it first): one `eth_getBlockByNumber(number)` per block and process, shared, its
   * answer trusted for {@link CANONICAL_TTL_MS}.
   *
   * @returns The refusal when the node has another block at that number, undefined when it has this one (or when the
   *   client is not pinned: no hash).
   * @throws {@link BlockNotImportedError} when the node has no block at that number even after waiting
   *   ({@link NOT_IMPORTED_RETRY_MS}); the request's error when the node does not answer.
   */
  canonical: () => Promise<BlockNotCanonicalError | undefined>
}

/** Options of {@link sharedBlockReads}; the defaults are the exported constants, the clock `Date.now`. */
export type SharedBlockReadsOptions = { notImportedRetryMs?: readonly number[]; canonicalTtlMs?: number; lostRecheckMs?: number; now?: () => number }

type Kept = {
  number: bigint
  hash: Hex
  calls: Map<string, Promise<unknown>>
  lost: BlockNotCanonicalError | undefined
  lostAt: number
  canonicalAt: number | undefined
  checking: Promise<"canonical" | "caught-up"> | undefined
  client: PinnedReads
}

/** Nodes' refusals of a block they do not have (geth / reth "header not found", Erigon / Besu "block not found", Nethermind and anvil -32001 "resource not found", "unknown block"). */
const BLOCK_REFUSAL = /header (for hash )?not found|unknown block|block not found|block .*could not be found|resource not found/i

/**
 * Whether `error` (any error of its cause chain, by message or details) is a node's refusal of the block a read is
 * pinned to as unknown to it ({@link BLOCK_REFUSAL}), not a failure of the call (review rr16e E2).
 */
export function isBlockRefusal(error: unknown): boolean {
  const refusal = (e: unknown) => e instanceof Error && (BLOCK_REFUSAL.test(e.message) || BLOCK_REFUSAL.test((e as { details?: unknown }).details === undefined ? "" : String((e as { details?: unknown }).details)))
  if (refusal(error)) return true
  return error instanceof BaseError && someInCauseChain(error, refusal)
}

/**
 * Nodes' refusals of a block's STATE (review rr16f F1: a node that has the block but pruned the state under it, or has
 * not synced it): geth "missing trie node <hash> (path ) state <hash> is not available, not found" (hash scheme) and
 * "historical state <root> is not available" / "state <root> is not available" (path scheme), reth "state at block #N is
 * pruned", Erigon "history not available" / "state history ... pruned", Nethermind "No state available for block" /
 * "missing trie node", Besu "world state not available" / "Missing state for block", and "required historical state
 * unavailable" as some providers phrase it.
 */
const STATE_REFUSAL = /missing trie node|\bstate\b[^"]{0,120}?\bis not available|(?:no|missing|world) state (?:available )?(?:for|not available)|state (?:at|for) block[^"]{0,60}?(?:is )?pruned|history (?:is )?not available|state history[^"]{0,60}?pruned|historical state[^"]{0,60}?unavailable|historical state not available/i

/**
 * Whether `error` (any error of its cause chain, by message or details) is a node's refusal of a block's state
 * ({@link STATE_REFUSAL}: pruned or not synced), not a failure of the call: the Safes read there are not to blame, and
 * the call's size is not the cause (review rr16f F1).
 */
export function isStateRefusal(error: unknown): boolean {
  const refusal = (e: unknown) => e instanceof Error && (STATE_REFUSAL.test(e.message) || STATE_REFUSAL.test((e as { details?: unknown }).details === undefined ? "" : String((e as { details?: unknown }).details)))
  if (refusal(error)) return true
  return error instanceof BaseError && someInCauseChain(error, refusal)
}

export type BlockStateUnavailableErrorType = BlockStateUnavailableError & { name: "BlockStateUnavailableError" }
/**
 * The node has block `number` (`hash`, on its chain) but refused a read of its state as pruned or not synced
 * ({@link isStateRefusal}; review rr16f F1: a pass at a head far behind, a scan job that waited past the node's state
 * window). The block's work is skipped, not retried at that block (the state does not come back), and nothing is blamed
 * on its Safes or on the call's size: they are read at the next head. Defined here, not in errors.ts (owned elsewhere).
 */
export class BlockStateUnavailableError extends BaseError {
  number: bigint
  hash: Hex | undefined
  constructor({ number, hash, cause }: { number: bigint; hash?: Hex | undefined; cause?: Error | undefined }) {
    super(`The node has no state for block ${number}${hash ? ` (${hash})` : ""} (pruned or not synced).`, {
      cause,
      metaMessages: [`Block: ${number}`, `Hash: ${hash ?? "unknown"}`, "Its work is skipped; the Safes are read again at the next head."],
      name: "BlockStateUnavailableError",
    })
    this.number = number
    this.hash = hash
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * `eth_call`s of a fleet process pinned to the block they are for, and shared: `at({ number, hash })` gives a client
 * whose `eth_call`s at `number` are sent as EIP-1898 reads of that block's hash (`{ blockHash, requireCanonical: true }`),
 * and identical ones (no state override), concurrent or later, get one request's answer, so the steps of one block
 * that read the same market, pool or reserve (every out-of-band Safe of a market after a price shock: Morpho's
 * `market`, a pool's totals and fee) make one `eth_call` per process instead of one per Safe.
 *
 * Why the hash (review rr16c S1): answers kept by block NUMBER were served for another block of that number once the
 * chain reorganised (dropping them needed this process to be told a lower head, which a queue worker often is not). A
 * read of a block hash has one answer forever, so answers are kept by hash and a block re-reached on another fork,
 * lower head seen or not, is a new key. A read by hash with `requireCanonical` also makes the node refuse a block that
 * is no longer on its chain, instead of answering the new fork's state for a job whose lens snapshot is the old one's
 * (keying by (number, hash) while still reading by number would have cached the new fork's answers under the old
 * hash). The hash is the head poll's (`eth_getBlockByNumber("latest")` returns it): no request is added.
 *
 * A refused pinned read (any error) costs one `eth_getBlockByNumber(number)` (shared by the reads of that block):
 * - another hash there: the block was lost to a reorg. The read throws {@link BlockNotCanonicalError}, `lost()`
 *   returns it, and reads of the block in the next {@link LOST_RECHECK_MS} throw it without a request; after that a
 *   read is tried again (a block back on the chain clears the mark: no mark lasts for the process's life).
 * - no block there (review rr16d D2): the node is behind the head the fleet saw (a load-balanced RPC whose backends
 *   are a block apart answers "header not found" by hash and null by number), not a reorg. The block is asked for
 *   again after each wait of {@link NOT_IMPORTED_RETRY_MS}; once there with this hash the read is made again (once),
 *   still missing the read throws {@link BlockNotImportedError} (retryable: a scan job's next attempt reads again).
 *   Nothing is marked.
 * - this hash there: the read's own error is thrown (a revert, a gas cap), unless it is the node's refusal of the
 *   block's state ({@link isStateRefusal}, review rr16f F1: pruned or not synced), thrown as {@link BlockStateUnavailableError}
 *   at once, or the node's refusal of the
 *   block ({@link isBlockRefusal}: "header not found", review rr16e E2: the check reached a balancer's other backend):
 *   then the read is made again after each wait of {@link NOT_IMPORTED_RETRY_MS}, and still refused throws
 *   {@link BlockNotImportedError} (retryable).
 * A failed request is forgotten once it fails (its concurrent waiters get the failure; later ones ask again), and so
 * is a failed block check (the read's own error is thrown). Reads at a tag (`latest`), at another number, of a block
 * without a hash, and every other method go to `client` as they are, unshared. The reads of the newest
 * {@link SHARED_READ_BLOCKS} block numbers seen are kept. Nodes: EIP-1898 is served by geth, Erigon, Nethermind, Besu,
 * reth and anvil (anvil refuses a lost hash with -32001 "Resource not found").
 *
 * A client without `request` (a test double of viem's actions) is returned as it is, pinning and sharing nothing.
 *
 * @returns `at(block)`, the pinned client of a block (one per hash while kept), and `shared()`: how many requests were
 *   answered from another's answer.
 */
export function sharedBlockReads(client: Client<Transport, Chain | undefined>, options: SharedBlockReadsOptions = {}): { at: (block: BlockRef) => PinnedReads; shared: () => number } {
  const unpinned = { lost: () => undefined, canonical: async () => undefined }
  if (typeof (client as Partial<Client>).request !== "function") {
    const plain = Object.assign(client as unknown as PublicClient, unpinned)
    return { at: () => plain, shared: () => 0 }
  }
  const { notImportedRetryMs = NOT_IMPORTED_RETRY_MS, canonicalTtlMs = CANONICAL_TTL_MS, lostRecheckMs = LOST_RECHECK_MS, now = Date.now } = options
  const byHash = new Map<Hex, Kept>()
  let shared = 0
  const build = (request: (args: { method: string; params?: unknown }) => Promise<unknown>) =>
    // The original's caching of the block number (its polling interval), not viem's 4 s default.
    createPublicClient({ chain: client.chain, cacheTime: client.cacheTime, pollingInterval: client.pollingInterval, transport: custom({ request }, { retryCount: 0 }) }) as PublicClient
  const plain = Object.assign(build(({ method, params }) => client.request({ method, params } as never) as Promise<unknown>), unpinned)
  /**
   * The node's block at `kept.number` against `kept.hash` (shared by the reads of the block): `canonical` (this hash
   * at once), `caught-up` (this hash after waiting for the node to import it); throws the {@link BlockNotCanonicalError}
   * (marked) for another hash, {@link BlockNotImportedError} when still none after the waits, or the request's error.
   */
  const check = (kept: Kept, cause: unknown): Promise<"canonical" | "caught-up"> => {
    kept.checking ??= (async () => {
      let waited = 0
      for (let i = 0; ; i++) {
        const block = (await client.request({ method: "eth_getBlockByNumber", params: [numberToHex(kept.number), false] } as never)) as { hash?: Hex } | null
        const canonical = block?.hash ?? undefined
        if (canonical !== undefined) {
          if (canonical.toLowerCase() !== kept.hash) {
            kept.lost = new BlockNotCanonicalError({ number: kept.number, hash: kept.hash, canonical, cause: cause instanceof Error ? cause : undefined })
            kept.lostAt = now()
            kept.canonicalAt = undefined
            throw kept.lost
          }
          kept.lost = undefined
          kept.canonicalAt = now()
          return i === 0 ? "canonical" : "caught-up"
        }
        const wait = notImportedRetryMs[i]
        if (wait === undefined) throw new BlockNotImportedError({ number: kept.number, hash: kept.hash, waitedMs: waited, cause: cause instanceof Error ? cause : undefined })
        await sleep(wait)
        waited += wait
      }
    })().finally(() => {
      kept.checking = undefined
    })
    return kept.checking
  }
  const pinned = (kept: Kept) => async ({ method, params }: { method: string; params?: unknown }): Promise<unknown> => {
    const block = method === "eth_call" && Array.isArray(params) ? params[1] : undefined
    if (typeof block !== "string" || !/^0x[0-9a-fA-F]+$/.test(block) || BigInt(block) !== kept.number) return client.request({ method, params } as never)
    if (kept.lost && now() - kept.lostAt < lostRecheckMs) throw kept.lost
    const args = params as unknown[]
    const send = async () => {
      let refusals = 0
      let waited = 0
      for (let again = false; ; again = true) {
        try {
          const answer = await client.request({ method, params: [args[0], { blockHash: kept.hash, requireCanonical: true }, ...args.slice(2)] } as never)
          // Served: a block marked lost is back on the node's chain.
          kept.lost = undefined
          return answer
        } catch (error) {
          let verdict: "canonical" | "caught-up"
          try {
            verdict = await check(kept, error)
          } catch (refusal) {
            if (refusal instanceof BlockNotCanonicalError || refusal instanceof BlockNotImportedError) throw refusal
            throw error
          }
          // The node imported the block while the check waited: the read is made again, once.
          if (verdict === "caught-up" && !again) continue
          // Review rr16f F1: the node has this block but not its state (pruned, not synced): a refusal of the block,
          // final at this block (no wait brings it back), not the call's failure nor its size.
          if (isStateRefusal(error)) throw new BlockStateUnavailableError({ number: kept.number, hash: kept.hash, cause: error instanceof Error ? error : undefined })
          // Review rr16e E2: the read was refused as a block the node does not know while the check (another request,
          // another backend behind a balancer) found this hash: a backend behind, not the call's failure. Read again
          // after each wait of NOT_IMPORTED_RETRY_MS, then BlockNotImportedError (retryable), never the read's error.
          if (isBlockRefusal(error)) {
            const wait = notImportedRetryMs[refusals]
            if (wait === undefined) throw new BlockNotImportedError({ number: kept.number, hash: kept.hash, waitedMs: waited, cause: error instanceof Error ? error : undefined })
            refusals += 1
            await sleep(wait)
            waited += wait
            continue
          }
          throw error
        }
      }
    }
    if (args.length !== 2) return send()
    const key = JSON.stringify(args[0])
    const known = kept.calls.get(key)
    if (known) {
      shared += 1
      return known
    }
    const answer = send()
    kept.calls.set(key, answer)
    const forget = kept.calls
    answer.catch(() => forget.get(key) === answer && forget.delete(key))
    return answer
  }
  const at = (ref: BlockRef): PinnedReads => {
    if (ref.hash === undefined) return plain
    const hash = ref.hash.toLowerCase() as Hex
    let kept = byHash.get(hash)
    if (!kept) {
      const fresh: Kept = { number: ref.number, hash, calls: new Map(), lost: undefined, lostAt: 0, canonicalAt: undefined, checking: undefined, client: undefined as unknown as PinnedReads }
      const canonical = async (): Promise<BlockNotCanonicalError | undefined> => {
        if (fresh.lost && now() - fresh.lostAt < lostRecheckMs) return fresh.lost
        if (fresh.canonicalAt !== undefined && now() - fresh.canonicalAt < canonicalTtlMs) return undefined
        try {
          await check(fresh, undefined)
          return undefined
        } catch (error) {
          if (error instanceof BlockNotCanonicalError) return error
          throw error
        }
      }
      fresh.client = Object.assign(build(pinned(fresh)), { lost: () => fresh.lost, canonical })
      byHash.set(hash, fresh)
      kept = fresh
      // Keep the newest SHARED_READ_BLOCKS numbers (every hash at them); a dropped block's client still works unshared.
      const numbers = [...new Set([...byHash.values()].map((k) => k.number))].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0))
      const oldest = numbers[SHARED_READ_BLOCKS - 1]
      if (oldest !== undefined) for (const [h, k] of byHash) if (k.number < oldest) byHash.delete(h)
    }
    return kept.client
  }
  return { at, shared: () => shared }
}
