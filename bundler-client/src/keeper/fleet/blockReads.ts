import { type Chain, type Client, type Hex, type PublicClient, type Transport, createPublicClient, custom, numberToHex } from "viem"
import { BlockNotCanonicalError } from "../errors.js"

/** Block numbers whose shared reads are kept (the newest ones; every hash seen at them); older ones are dropped. */
export const SHARED_READ_BLOCKS = 2

/** A block of the fleet's work: its number and hash (the head poll's; undefined: unknown, e.g. a job queued before hashes were carried). */
export type BlockRef = { number: bigint; hash?: Hex | undefined }

/** A client whose `eth_call`s at one block are pinned to its hash; `lost()` says whether the node refused the block. */
export type PinnedReads = PublicClient & {
  /** The refusal, once a read of this block found it no longer on the node's chain (every later read throws it). */
  lost: () => BlockNotCanonicalError | undefined
}

type Kept = { number: bigint; hash: Hex; calls: Map<string, Promise<unknown>>; lost: BlockNotCanonicalError | undefined; checking: Promise<BlockNotCanonicalError | undefined> | undefined; client: PinnedReads }

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
 * A refused pinned read (any error) costs one `eth_getBlockByNumber(number)` (shared by the reads of that block): when
 * the node's block there has another hash or none, every read of the block throws {@link BlockNotCanonicalError} from
 * then on and `lost()` returns it (callers that fall back on failure check `lost()` before using what they read);
 * otherwise the read's own error is thrown. A failed request is forgotten once it fails (its concurrent waiters get
 * the failure; later ones ask again). Reads at a tag (`latest`), at another number, of a block without a hash, and every
 * other method go to `client` as they are, unshared. The reads of the newest {@link SHARED_READ_BLOCKS} block numbers
 * seen are kept. Nodes: EIP-1898 is served by geth, Erigon, Nethermind, Besu, reth and anvil (anvil refuses a lost
 * hash with -32001 "Resource not found").
 *
 * A client without `request` (a test double of viem's actions) is returned as it is, pinning and sharing nothing.
 *
 * @returns `at(block)`, the pinned client of a block (one per hash while kept), and `shared()`: how many requests were
 *   answered from another's answer.
 */
export function sharedBlockReads(client: Client<Transport, Chain | undefined>): { at: (block: BlockRef) => PinnedReads; shared: () => number } {
  if (typeof (client as Partial<Client>).request !== "function") {
    const plain = Object.assign(client as unknown as PublicClient, { lost: () => undefined })
    return { at: () => plain, shared: () => 0 }
  }
  const byHash = new Map<Hex, Kept>()
  let shared = 0
  const build = (request: (args: { method: string; params?: unknown }) => Promise<unknown>) =>
    // The original's caching of the block number (its polling interval), not viem's 4 s default.
    createPublicClient({ chain: client.chain, cacheTime: client.cacheTime, pollingInterval: client.pollingInterval, transport: custom({ request }, { retryCount: 0 }) }) as PublicClient
  const plain = Object.assign(build(({ method, params }) => client.request({ method, params } as never) as Promise<unknown>), { lost: () => undefined })
  /** Whether the node's block at `kept.number` is another than `kept.hash` (one request per block, shared). */
  const check = (kept: Kept, cause: unknown): Promise<BlockNotCanonicalError | undefined> => {
    kept.checking ??= (client.request({ method: "eth_getBlockByNumber", params: [numberToHex(kept.number), false] } as never) as Promise<{ hash?: Hex } | null>)
      .then((block) => {
        const canonical = block?.hash ?? undefined
        if (canonical !== undefined && canonical.toLowerCase() === kept.hash.toLowerCase()) return undefined
        kept.lost = new BlockNotCanonicalError({ number: kept.number, hash: kept.hash, canonical, cause: cause instanceof Error ? cause : undefined })
        return kept.lost
      })
      .catch(() => undefined)
      .finally(() => {
        kept.checking = undefined
      })
    return kept.checking
  }
  const pinned = (kept: Kept) => async ({ method, params }: { method: string; params?: unknown }): Promise<unknown> => {
    const block = method === "eth_call" && Array.isArray(params) ? params[1] : undefined
    if (typeof block !== "string" || !/^0x[0-9a-fA-F]+$/.test(block) || BigInt(block) !== kept.number) return client.request({ method, params } as never)
    if (kept.lost) throw kept.lost
    const args = params as unknown[]
    const send = async () => {
      try {
        return await client.request({ method, params: [args[0], { blockHash: kept.hash, requireCanonical: true }, ...args.slice(2)] } as never)
      } catch (error) {
        throw (await check(kept, error)) ?? error
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
      const fresh: Kept = { number: ref.number, hash, calls: new Map(), lost: undefined, checking: undefined, client: undefined as unknown as PinnedReads }
      fresh.client = Object.assign(build(pinned(fresh)), { lost: () => fresh.lost })
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
