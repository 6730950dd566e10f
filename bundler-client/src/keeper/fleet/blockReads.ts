import { type Chain, type Client, type PublicClient, type Transport, createPublicClient, custom } from "viem"

/** Blocks whose shared reads are kept (the newest ones by number); older ones are dropped. */
export const SHARED_READ_BLOCKS = 2

/**
 * A client whose `eth_call`s pinned to a block number (hex, no state override) are shared: identical requests at the
 * same block, concurrent or later, get one request's answer, so the steps of one block that read the same market, pool
 * or reserve (every out-of-band Safe of a market after a price shock: Morpho's `market`, a pool's totals and fee) make
 * one `eth_call` per process instead of one per Safe. A read at a fixed block has one answer (on a conforming node), so
 * sharing it changes no result. A failed request is forgotten once it fails (its concurrent waiters get the failure;
 * later ones ask again). Reads at a tag (`latest`) and every other method go to `client` as they are. The reads of the
 * newest {@link SHARED_READ_BLOCKS} block numbers seen are kept.
 *
 * Reorgs (review rr16b R1): answers are keyed by block number, so the caller reports the fleet's head with `head(n)`
 * before its reads; when it is lower than the highest head reported (the head moved back), every kept answer at a
 * number >= n is dropped (it may be a lost fork's) and those numbers are read again. A same-number reorg (a block
 * replaced without the head moving back) is not seen here (HeadPoller does not report it either); the send-time
 * simulation and the module still check every plan.
 *
 * A client without `request` (a test double of viem's actions) is returned as it is, sharing nothing.
 *
 * @returns A public client on `client`'s chain, with `shared()`: how many requests were answered from another's answer,
 *   and `head(n)`: the fleet's head block number (undefined: unknown, ignored).
 */
export function sharedBlockReads(client: Client<Transport, Chain | undefined>): PublicClient & { shared: () => number; head: (n: bigint | undefined) => void } {
  if (typeof (client as Partial<Client>).request !== "function") return Object.assign(client as unknown as PublicClient, { shared: () => 0, head: () => {} })
  const byBlock = new Map<bigint, Map<string, Promise<unknown>>>()
  let shared = 0
  let top: bigint | undefined
  /** The fleet's head is `n`: a head lower than the highest reported drops the answers kept at numbers >= n. */
  const head = (n: bigint | undefined): void => {
    if (n === undefined) return
    if (top !== undefined && n < top) for (const b of [...byBlock.keys()]) if (b >= n) byBlock.delete(b)
    top = n
  }
  const request = async ({ method, params }: { method: string; params?: unknown }): Promise<unknown> => {
    const block = method === "eth_call" && Array.isArray(params) && params.length === 2 ? params[1] : undefined
    if (typeof block !== "string" || !/^0x[0-9a-fA-F]+$/.test(block)) return client.request({ method, params } as never)
    const number = BigInt(block)
    let calls = byBlock.get(number)
    if (!calls) {
      calls = new Map()
      byBlock.set(number, calls)
      const newest = [...byBlock.keys()].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0))
      for (const old of newest.slice(SHARED_READ_BLOCKS)) byBlock.delete(old)
    }
    const key = JSON.stringify((params as unknown[])[0])
    const known = calls.get(key)
    if (known) {
      shared += 1
      return known
    }
    const answer = client.request({ method, params } as never) as Promise<unknown>
    calls.set(key, answer)
    const forget = calls
    answer.catch(() => forget.get(key) === answer && forget.delete(key))
    return answer
  }
  // The original's caching of the block number (its polling interval), not viem's 4 s default.
  const out = createPublicClient({ chain: client.chain, cacheTime: client.cacheTime, pollingInterval: client.pollingInterval, transport: custom({ request }, { retryCount: 0 }) }) as PublicClient
  return Object.assign(out, { shared: () => shared, head })
}
