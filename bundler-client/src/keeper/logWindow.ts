import { firstInCauseChain, someInCauseChain } from "@levpilot/sdk/errors"
import { BaseError, HttpRequestError, SocketClosedError, WebSocketRequestError } from "viem"

/**
 * Whether the node could not be reached (connection refused or reset, HTTP 429, a closed socket): a smaller request
 * does not help, the caller retries later.
 */
export const isUnreachable = (error: unknown): boolean =>
  error instanceof BaseError &&
  someInCauseChain(error, (e) => (e instanceof HttpRequestError && (e.status === undefined || e.status === 429)) || e instanceof WebSocketRequestError || e instanceof SocketClosedError)

/** Successful reads in a row after which a halved {@link LogWindow} doubles again. */
export const GROW_AFTER_READS = 4

/**
 * Successful reads in a row before a {@link LogWindow} grows back to a size the node refused (each refusal costs a
 * request, and a node that refuses by answer size refuses the same range again): a refusal that passed is still
 * outgrown, 16 times less often.
 */
export const RETRY_REFUSED_AFTER_READS = 64

/**
 * The block range of an `eth_getLogs` read, kept between reads: it starts at `size` blocks and is halved each time the
 * node or the client refuses a range (too wide for a hosted RPC, too many results, a response over viem's 10 MB limit,
 * a timeout), down to `floor` blocks, and the smaller size is kept for the next reads; after {@link GROW_AFTER_READS}
 * reads in a row succeed it doubles again, up to the size it started at (a refusal from a passing fault does not leave
 * the window small for the process's life); growing back to a size that was refused waits
 * {@link RETRY_REFUSED_AFTER_READS} successes instead, until a read of that size succeeds again. Shared by fleet discovery and the inclusion tracker's event search.
 */
export class LogWindow {
  /** Blocks per `eth_getLogs` now. */
  size: number
  /** The size it started at, the most it grows back to. */
  readonly initial: number
  private succeeded = 0
  /** The smallest range refused since a read that large last succeeded. */
  private refused = Number.POSITIVE_INFINITY

  constructor(
    size: number,
    /** The smallest window; a range of this size that is refused is not halved again. */
    readonly floor = 1,
  ) {
    if (!(floor >= 1)) throw new RangeError(`LogWindow floor must be >= 1 block, got ${floor}`)
    this.size = Math.max(floor, size)
    this.initial = this.size
  }

  /** After a read that succeeded: every {@link GROW_AFTER_READS} successes in a row double the window, up to `initial`. */
  grow(): void {
    if (this.size >= this.refused) this.refused = Number.POSITIVE_INFINITY
    const next = Math.min(this.initial, this.size * 2)
    if (++this.succeeded < (next >= this.refused ? RETRY_REFUSED_AFTER_READS : GROW_AFTER_READS) || this.size >= this.initial) return
    this.succeeded = 0
    this.size = next
  }

  /**
   * After the read of `[from, to]` failed with `error`: halves the window when a smaller range can help.
   *
   * @returns True when the window was halved (read again with {@link size}), false when it cannot help: the node is
   *   unreachable ({@link isUnreachable}) or the range was already at the floor (rethrow the error).
   */
  shrink(from: bigint, to: bigint, error: unknown): boolean {
    const span = Number(to - from + 1n)
    this.succeeded = 0
    if (span <= this.floor || isUnreachable(error)) return false
    this.refused = Math.min(this.refused, span)
    this.size = Math.max(this.floor, Math.floor(span / 2))
    return true
  }
}

/**
 * A refusal's text naming a block past the node's head (review rr16g G2: geth, Nethermind, Besu, Erigon, reth after
 * execution-apis #875; review rr16h H2: OpenEthereum's EIP-234 "One of the blocks specified in filter (fromBlock,
 * toBlock or blockHash) cannot be found", "from block is greater than latest block", Nethermind's "requested block ...
 * is higher than the head", "block ... does not exist").
 */
const PAST_HEAD =
  /beyond (the )?(current |latest )?head|extends beyond|past (the )?head|after (the )?last (accepted|available) block|invalid block range|header not found|unknown block|block not found|blocks? (specified )?[^|]{0,80}(cannot|could not|can't|can ?not) be found|block[^|]{0,60}\b(is )?(greater|higher|later|newer) than (the )?(latest|current|last|head|chain|best)|block[^|]{0,40}(does not|doesn't) exist|(latest|current|head) block is (lower|less|behind)/i
/**
 * A refusal's text about the range's size or the answer's size (a window too wide, halved), or a provider's quota
 * ("plan", "tier": review rr16i C1, "block range greater than the current plan allows" read as past-head).
 */
const TOO_WIDE = /limit|exceed|too (many|large|wide|big)|max(imum)?|range of|up to|at most|response size|10,?000|block range is|\bplan\b|\btier\b/i

/**
 * Whether an `eth_getLogs` refusal says the range reaches past the node's head (a backend behind the head the keeper
 * follows, review rr16g G2), not that the window is too wide: read again (another backend) or at the next head, never
 * halve the window for it. A text that also speaks of a size or a limit is a window too wide.
 */
export const isRangePastHead = (error: unknown): boolean => {
  if (isUnreachable(error)) return false
  const texts: string[] = []
  for (let e: unknown = error, i = 0; e && i < 8; e = (e as { cause?: unknown }).cause, i++) {
    const x = e as { message?: unknown; details?: unknown; shortMessage?: unknown }
    for (const t of [x.message, x.details, x.shortMessage]) if (typeof t === "string") texts.push(t)
  }
  const text = texts.join(" | ")
  return PAST_HEAD.test(text) && !TOO_WIDE.test(text)
}

export type LogReadErrorType = LogReadError & { name: "LogReadError" }
/** The node refused an `eth_getLogs` read even at the smallest window (or could not be reached). */
export class LogReadError extends BaseError {
  fromBlock: bigint
  toBlock: bigint
  constructor({ fromBlock, toBlock, cause }: { fromBlock: bigint; toBlock: bigint; cause: Error }) {
    const reason = cause instanceof BaseError ? (firstInCauseChain(cause, (e) => !(e instanceof BaseError) || (e as BaseError).details !== undefined) as BaseError | undefined)?.details : undefined
    super(`The RPC refused eth_getLogs over blocks ${fromBlock}-${toBlock}${reason ? `: ${reason}` : ""}.`, {
      cause,
      metaMessages: ["The keeper halves its log window on each refusal (logWindowBlocks), down to one block."],
      name: "LogReadError",
    })
    this.fromBlock = fromBlock
    this.toBlock = toBlock
  }
}

export type LogSearchIncompleteErrorType = LogSearchIncompleteError & { name: "LogSearchIncompleteError" }
/**
 * A bounded event search read its windows (`maxWindows`) without reaching the head: the blocks `fromBlock`..`searchedTo`
 * hold no match, the rest is still to be searched. Not a failure: the inclusion tracker keeps the record and searches on
 * from `searchedTo + 1` at its next step.
 */
export class LogSearchIncompleteError extends BaseError {
  fromBlock: bigint
  searchedTo: bigint
  head: bigint
  constructor({ fromBlock, searchedTo, head }: { fromBlock: bigint; searchedTo: bigint; head: bigint }) {
    super(`The event search read blocks ${fromBlock}-${searchedTo} of ${fromBlock}-${head} (its windows for this step); it goes on from block ${searchedTo + 1n}.`, {
      name: "LogSearchIncompleteError",
    })
    this.fromBlock = fromBlock
    this.searchedTo = searchedTo
    this.head = head
  }
}
