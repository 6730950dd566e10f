import type { Logger } from "pino"
import type { Hex, PublicClient } from "viem"
import type { Clock } from "../clock.js"
import { type KeeperEvents, shortMessage } from "../events.js"
import type { KeeperMetrics } from "../metrics.js"

/**
 * A chain head: number, hash, timestamp (unix seconds) and when this process saw it (ms). The hash pins the fleet's
 * reads of this head to this block (review rr16c S1, `sharedBlockReads` of blockReads.ts); it comes with the poll, no request added.
 */
export type Head = { number: bigint; hash: Hex; timestamp: bigint; seenAt: number; /** The parent block's hash (review rr16g G1: ancestry evidence), when the node gave it. */ parentHash?: Hex
  /** Set on a head the poller dispatches at or below one it dispatched before: a proven reorg or a reset (rr16g G1). */ moved?: boolean
}

/** Per-block timestamp gaps kept to estimate the block time (their minimum), and per-block wall-clock gaps (their median). */
export const GAP_SAMPLES = 16

/** Block numbers (below the highest head seen) whose hash is kept to tell a lagging backend's lower head from a reorg. */
export const HASH_BLOCKS = 128

/**
 * A lower head more than this many blocks below the highest head seen is a far-behind answer (a load-balanced RPC's
 * backend syncing or stuck, a node restarted from an old snapshot; review rr16f F1), never a reorg: 64 blocks are two
 * epochs of 32 slots, after which an Ethereum proof-of-stake block is final, so no reorg reaches that deep.
 */
export const FAR_BEHIND_BLOCKS = 64

/**
 * Consecutive answered polls that must all be far behind the highest head seen ({@link FAR_BEHIND_BLOCKS}) before the
 * poller takes the lower chain as the chain (a node reset, anvil restarted, a devnet restarted; review rr16f F2): about
 * 8 s at a 250 ms poll interval. A round-robin RPC with one backend far behind never answers that many in a row (its
 * other backend answers every other poll); one chosen at random with one good backend out of two does with
 * probability 2^-32 per run of polls.
 */
export const RESET_POLLS = 32

/**
 * Follows the chain head with `eth_getBlockByNumber("latest")` (number and timestamp in one request) and spends few
 * requests doing it. It learns when heads reach this process: the block time (the shortest of the last
 * {@link GAP_SAMPLES} per-block timestamp gaps, so a missed slot does not make it wait longer) and a head's arrival
 * after its timestamp (the middle of the window between the last poll that did not see it and the one that did; the
 * window's start when that was wider than two poll intervals), with the mean deviation of that offset (jitter). A head
 * seen by the first poll after the wait for it came before the predicted time: its arrival is taken as one poll interval
 * before that poll (taking the window's start, the poll that saw the head before, made it 12 s early and the poller polled
 * from `waitShare` of the block for a dozen blocks: bench:fleet's 9.5 polls per block). A poll this process made late
 * (its sleep ended, or its answer was handled, more than `pollIntervalMs` later than usual: a busy event loop) teaches
 * nothing. After a
 * new head it waits until twice the jitter before the next head's predicted arrival, then polls every `pollIntervalMs`:
 * on a chain with regular blocks, 2-3 polls per block and a head seen at most one poll interval late (simulated in
 * head.test.ts: 2.5 polls per 12 s block, median 40 ms late, where polling from 0.8 of the block made 10; heads spread
 * over 550 ms as on anvil, or a process busy for three blocks: at most 3). It never starts polling before `waitShare` of the block time has passed since the head was seen (since its learned
 * arrival, for a head seen later than that: a late proposal does not delay the next heads, rr16b H1), nor
 * later than one poll interval before a block time has (a wrong prediction costs at most one block of polls every
 * `pollIntervalMs`). Until two heads were seen it polls every `pollIntervalMs`. `onHead` runs for one head at a time;
 * heads that arrive meanwhile collapse into the latest. A lower head whose hash is the one already seen at its number
 * (a load-balanced RPC's lagging backend, review rr16e E1) is ignored: not a reorg, not dispatched, and no block gap is
 * learned from it (gaps come only from heads above the highest seen). So is a head more than {@link FAR_BEHIND_BLOCKS}
 * below the highest seen, whatever its hash (review rr16f F1: a backend syncing or stuck, beyond the hash memory; counted
 * in `farBehind` and `levpilot_heads_far_behind_total`), unless {@link RESET_POLLS} answered polls in a row are so: then
 * the node went back for good (a reset, rr16f F2) and the lower chain is followed as a reorg, with what was learned of
 * the old one (block time, arrival, hashes) dropped. A lower head with another hash within {@link FAR_BEHIND_BLOCKS}
 * (a reorg) is reported, as in the embedded keeper's loop. A lower head at a number not in the hash memory (the poller
 * (re)started or missed heights while a backend lags, review rr16g G1) is reported only on evidence of another fork: its
 * `parentHash` is not the hash seen one number below, or {@link RESET_POLLS} answered polls in a row are so; otherwise
 * it is ignored (`unproven`, `levpilot_heads_unproven_lower_total`) and no hash is deleted. A head above the highest seen
 * whose parent is not the hash seen there is reported as a reorg (and dispatched). So is a head of the same number with another hash (a block replaced without the head moving back:
 * its Safes are read again on the new block). A reported reorg lowers the highest head seen to the new head (rr16f F2;
 * it was kept, and learning stopped until the new chain passed it); the next higher head learns no gap from it.
 */
export class HeadPoller {
  /** The last head dispatched (the chain's head as this poller follows it). */
  last: Head | undefined
  /** The highest head seen (review rr16e E1: the block time is learned only from heads above it). */
  private top: Head | undefined
  /**
   * Whether `top` was set by a reorg or a reset (not by a head above the previous top): the next higher head learns no
   * block gap from it (its sighting may be a lagging backend's, rr16e E1).
   */
  private topMoved = false
  /** Answered polls in a row that were far behind `top` ({@link FAR_BEHIND_BLOCKS}; {@link RESET_POLLS} of them: a reset). */
  private farPolls = 0
  /**
   * Answered polls in a row below the highest head seen at a number whose hash is not in memory, with no ancestry
   * against it (review rr16g G1: a lagging backend after a restart or an outage); {@link RESET_POLLS} of them: the
   * lower chain is the node's, followed as a reorg.
   */
  private lowPolls = 0
  /** Answers ignored as a lower head with no evidence of another fork (review rr16g G1). */
  unproven = 0
  /** Answers ignored as far behind the highest head seen (review rr16f F1). */
  farBehind = 0
  /** The hash seen at each of the last {@link HASH_BLOCKS} block numbers (a lower head with the same hash is a lagging backend). */
  private readonly hashes = new Map<bigint, Hex>()
  /** `eth_getBlockByNumber` requests made. */
  requests = 0
  private running = false
  private loop: Promise<void> | undefined
  /** The last per-block timestamp gaps (ms), newest last. */
  private readonly gaps: number[] = []
  /**
   * The last per-block gaps of this process's wall clock between two heads it saw (ms: the time between the sightings
   * over the blocks the head moved), newest last. Review rr16b H2: on a chain whose timestamps run faster than the wall
   * clock (a replay, a devnet mining 12 s-stamped blocks every 2 s), timestamps alone made the poller sleep 0.8 x 12 s
   * per head and most heads never reached `onHead`.
   */
  private readonly wallGaps: number[] = []
  /** A head's arrival at this process after its timestamp (ms), and the mean deviation from it (ms). */
  private arrival: { offsetMs: number; jitterMs: number } | undefined
  /** How long a poll usually takes to be answered and handled (ms, moving average). */
  private rttMs: number | undefined
  private busy: Promise<void> | undefined
  private queued: Head | undefined

  constructor(
    private readonly deps: {
      client: PublicClient
      clock: Clock
      metrics: KeeperMetrics
      logger: Logger
      events: KeeperEvents
      pollIntervalMs: number
      waitShare: number
    },
  ) {}

  /** Starts following; `onHead` errors are logged and the loop goes on. */
  start(onHead: (head: Head) => Promise<void>): void {
    this.running = true
    this.loop = this.run(onHead)
  }

  /** Stops polling and waits for the head being processed. */
  async stop(): Promise<void> {
    this.running = false
    await this.loop
    await this.busy
  }

  /**
   * The chain head now, or `undefined` after an RPC error (counted and logged).
   *
   * @returns The head.
   */
  async poll(): Promise<Head | undefined> {
    this.requests += 1
    try {
      const block = await this.deps.client.getBlock({ blockTag: "latest" })
      const head: Head = { number: block.number, hash: block.hash, timestamp: block.timestamp, seenAt: this.deps.clock.now() }
      if (block.parentHash) head.parentHash = block.parentHash
      return head
    } catch (error) {
      this.deps.metrics.inc("levpilot_rpc_errors_total", "RPC errors while polling blocks.")
      this.deps.logger.warn({ err: shortMessage(error) }, "RPC error while polling for blocks; retrying")
      return undefined
    }
  }

  /**
   * The block time (ms), undefined before two heads: the shortest recent per-block timestamp gap, or the median recent
   * per-block wall-clock gap between sightings when that is shorter than `waitShare` of it (timestamps faster than the
   * wall clock, rr16b H2: the poller's floor would otherwise skip heads).
   * The median, not the minimum, of the wall-clock gaps: a node that hands over a burst of heads at once (after a
   * sync) does not make the poller poll every `pollIntervalMs` for the next {@link GAP_SAMPLES} blocks.
   */
  get blockMs(): number | undefined {
    if (this.gaps.length === 0) return undefined
    const stamped = Math.min(...this.gaps)
    if (this.wallGaps.length === 0) return stamped
    const sorted = [...this.wallGaps].sort((a, b) => a - b)
    const wall = sorted[Math.floor(sorted.length / 2)]!
    // Only when heads come faster than the poller's own floor (waitShare of the stamped time) would let it see them:
    // arrival jitter of a regular chain (a wall-clock gap a few ms under the stamped one) does not change the block time.
    return wall < this.deps.waitShare * stamped ? wall : stamped
  }

  private async run(onHead: (head: Head) => Promise<void>): Promise<void> {
    const { clock, metrics, logger, events, pollIntervalMs } = this.deps
    /** When the last poll that answered started: a head seen next arrived after it. */
    let previousPollAt: number | undefined
    /** Whether that poll saw a new head: then the next one is the first after the wait for the next head. */
    let previousSawNew = false
    /** When the loop meant to poll next (the end of its sleep). */
    let plannedAt = clock.now()
    while (this.running) {
      const pollAt = clock.now()
      const head = await this.poll()
      const after = previousPollAt
      const firstAfterWait = previousSawNew
      if (head) {
        previousPollAt = pollAt
        previousSawNew = false
      }
      // This process, not the chain, made the poll late: its sleep ended, or its answer was handled, more than a poll
      // interval later than it would have been (a busy event loop). The window then says nothing about the arrival.
      const tookMs = head ? head.seenAt - pollAt : 0
      const stalled = pollAt - plannedAt > pollIntervalMs || (this.rttMs !== undefined && tookMs > this.rttMs + pollIntervalMs)
      if (head) this.rttMs = this.rttMs === undefined ? tookMs : 0.8 * this.rttMs + 0.2 * tookMs
      // Review rr16e E1: a head lower than the last one whose hash at that number is the one already seen there is a
      // lagging backend of a load-balanced RPC (or a node restarted on an older state of the same chain), not a reorg:
      // nothing new, neither reported nor dispatched.
      let lagging = head !== undefined && this.last !== undefined && head.number < this.last.number && this.hashes.has(head.number) && this.hashes.get(head.number) === head.hash
      // Review rr16f F1: a head more than FAR_BEHIND_BLOCKS below the highest seen (a backend syncing or stuck, whose
      // numbers left the hash memory) is no reorg either: ignored, counted. Unless RESET_POLLS answers in a row are so
      // (rr16f F2: the node itself went back for good, a reset): then it is the chain, reported as a reorg below.
      let reset = false
      if (head && this.top) {
        if (head.number + BigInt(FAR_BEHIND_BLOCKS) < this.top.number) {
          this.farPolls += 1
          reset = this.farPolls >= RESET_POLLS
          if (!reset && !lagging) {
            lagging = true
            this.farBehind += 1
            metrics.inc("levpilot_heads_far_behind_total", "Head polls answered by a node far behind the highest head seen (ignored).")
            if (this.farPolls === 1) logger.debug({ head: Number(head.number), top: Number(this.top.number) }, "head far behind the highest seen ignored (a lagging or syncing backend)")
          }
        } else this.farPolls = 0
      }
      // Review rr16g G1: a lower head (within FAR_BEHIND_BLOCKS) at a number whose hash is not in memory (the poller
      // (re)started, or an outage made it miss that height, while a backend lags) is no evidence of a reorg: reported as
      // one, it deleted the hashes above it and lowered the highest head, so the lagging backend's next number was
      // unknown too, a reorg and a stale pass every block for as long as the lag lasted. It is a reorg only on evidence:
      // its parentHash differs from the hash seen one number below (another ancestry); a head at or above the highest
      // seen with another hash or another parent (below) proves a fork the usual way. Without evidence it is ignored,
      // unless RESET_POLLS answered polls in a row are so (the node itself went back: followed as a reorg).
      if (head && this.top && !lagging && !reset && head.number < this.top.number && !this.hashes.has(head.number)) {
        const parent = head.parentHash === undefined ? undefined : this.hashes.get(head.number - 1n)
        const forked = parent !== undefined && parent !== head.parentHash
        if (!forked) {
          this.lowPolls += 1
          if (this.lowPolls < RESET_POLLS) {
            lagging = true
            this.unproven += 1
            metrics.inc("levpilot_heads_unproven_lower_total", "Head polls answered with a lower head of unknown hash and no evidence of another fork (ignored).")
          } else this.lowPolls = 0
        } else this.lowPolls = 0
      } else if (head && this.top && head.number >= this.top.number) this.lowPolls = 0
      if (reset) {
        // Another chain (or this one much further back) for good: nothing learned on the old one holds.
        logger.warn({ from: Number(this.top!.number), to: Number(head!.number), polls: this.farPolls }, "the node's chain went back for good (a reset); following it")
        this.farPolls = 0
        this.top = undefined
        this.hashes.clear()
        this.gaps.length = 0
        this.wallGaps.length = 0
        this.arrival = undefined
        lagging = false
      }
      if (head && !lagging && (head.number !== this.last?.number || head.hash !== this.last.hash)) {
        const last = this.last
        const top = this.top
        if (last && head.number <= last.number) {
          metrics.inc("levpilot_reorgs_total", "Times the chain head moved back.")
          logger.warn({ from: Number(last.number), to: Number(head.number) }, "chain head moved back (reorg); continuing from the new head")
          events.emit({ type: "reorg", from: last.number, to: head.number })
          // The hashes above the new head were another fork's (or a state the node no longer has).
          for (const n of this.hashes.keys()) if (n > head.number) this.hashes.delete(n)
          // Review rr16f F2: the chain's highest head is now this one (it was kept at the old fork's, freezing learning
          // until the new chain passed it), but its sighting teaches no gap to the next head.
          this.top = head
          this.topMoved = true
        } else if (top && head.number > top.number && head.parentHash !== undefined && this.hashes.has(head.number - 1n) && this.hashes.get(head.number - 1n) !== head.parentHash) {
          // Review rr16g G1: a head above the highest seen whose parent is not the block seen at its number: the blocks
          // seen up there were another fork's (a reorg that replaced them and moved on). Reported; nothing learned.
          metrics.inc("levpilot_reorgs_total", "Times the chain head moved back.")
          logger.warn({ from: Number(top.number), to: Number(head.number) }, "the blocks below the new head are not the ones seen (reorg); continuing from the new head")
          events.emit({ type: "reorg", from: top.number, to: head.number })
          for (const n of this.hashes.keys()) if (n >= head.number - 1n) this.hashes.delete(n)
          this.hashes.set(head.number - 1n, head.parentHash)
          this.topMoved = false
        } else if (top && this.topMoved && head.number > top.number) {
          this.topMoved = false
        } else if (top && head.number > top.number && head.timestamp > top.timestamp) {
          // Gaps are learned only from a head above the highest one seen, against that one's sighting (rr16e E1: the
          // sighting of a lower head, or of a return to a height already seen, is no block interval).
          const blocks = Number(head.number - top.number)
          this.gaps.push((Number(head.timestamp - top.timestamp) * 1_000) / blocks)
          if (this.gaps.length > GAP_SAMPLES) this.gaps.shift()
          this.wallGaps.push((head.seenAt - top.seenAt) / blocks)
          if (this.wallGaps.length > GAP_SAMPLES) this.wallGaps.shift()
          if (after !== undefined && !stalled) this.learnArrival(head, firstAfterWait ? Math.max(after, pollAt - pollIntervalMs) : after, firstAfterWait)
        }
        if (!top || head.number > top.number) this.top = head
        this.hashes.set(head.number, head.hash)
        for (const n of this.hashes.keys()) if (n + BigInt(HASH_BLOCKS) <= this.top!.number) this.hashes.delete(n)
        if (last && head.number <= last.number) head.moved = true
        this.last = head
        previousSawNew = true
        metrics.set("levpilot_block_number", "Latest block the keeper processed.", {}, Number(head.number))
        this.dispatch(head, onHead)
        const wait = this.waitAfter(head)
        plannedAt = clock.now() + wait
        await clock.sleep(wait)
        continue
      }
      plannedAt = clock.now() + pollIntervalMs
      await clock.sleep(pollIntervalMs)
    }
  }

  /**
   * Updates the arrival offset and its jitter from a head that arrived between `after` and `head.seenAt`; `missed`:
   * the first poll after the wait for it saw it (it came before the predicted time), `after` is then one poll interval
   * before that poll and taken as the arrival.
   */
  private learnArrival(head: Head, after: number, missed: boolean): void {
    const width = head.seenAt - after
    const at = !missed && width <= 2 * this.deps.pollIntervalMs ? after + width / 2 : after
    const offsetMs = at - Number(head.timestamp) * 1_000
    const a = this.arrival
    this.arrival = a ? { offsetMs: 0.8 * a.offsetMs + 0.2 * offsetMs, jitterMs: 0.8 * a.jitterMs + 0.2 * Math.abs(offsetMs - a.offsetMs) } : { offsetMs, jitterMs: width / 2 }
  }

  /** @returns How long to wait after `head` before polling again (ms). */
  private waitAfter(head: Head): number {
    const { clock, pollIntervalMs, waitShare } = this.deps
    const blockMs = this.blockMs
    if (blockMs === undefined) return pollIntervalMs
    // The floor counts from when the head was seen, or, for a head seen later than its learned arrival (plus a poll
    // interval and twice the jitter: a late proposal), from that predicted arrival (review rr16b H1: counted from the
    // late sighting, the floor made the next three on-time heads late too).
    let from = head.seenAt
    if (this.arrival) {
      const predicted = Number(head.timestamp) * 1_000 + this.arrival.offsetMs
      if (head.seenAt - predicted > pollIntervalMs + 2 * this.arrival.jitterMs) from = predicted
    }
    const since = clock.now() - from
    let wait = waitShare * blockMs - since
    if (this.arrival) {
      const start = Number(head.timestamp) * 1_000 + blockMs + this.arrival.offsetMs - 2 * this.arrival.jitterMs
      wait = Math.max(wait, Math.min(start - clock.now(), blockMs - pollIntervalMs - since))
    }
    return Math.max(pollIntervalMs, wait)
  }

  private dispatch(head: Head, onHead: (head: Head) => Promise<void>): void {
    if (this.busy) {
      // Review rr16h H3: a moved head (reorg, reset) replaced by a later one while a pass is busy hands its `moved` on,
      // or the fleet's `<prefix>:head` stays at the old height.
      this.queued = this.queued?.moved && !head.moved ? { ...head, moved: true } : head
      return
    }
    const go = async (h: Head): Promise<void> => {
      try {
        await onHead(h)
      } catch (error) {
        this.deps.logger.error({ block: Number(h.number), err: shortMessage(error) }, "block processing failed")
      }
      const next = this.queued
      this.queued = undefined
      if (next && this.running) await go(next)
    }
    this.busy = go(head).finally(() => {
      this.busy = undefined
    })
  }
}
