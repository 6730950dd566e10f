import type { Logger } from "pino"
import type { PublicClient } from "viem"
import type { Clock } from "../clock.js"
import { type KeeperEvents, shortMessage } from "../events.js"
import type { KeeperMetrics } from "../metrics.js"

/** A chain head: number, timestamp (unix seconds) and when this process saw it (ms). */
export type Head = { number: bigint; timestamp: bigint; seenAt: number }

/**
 * Follows the chain head with `eth_getBlockByNumber("latest")` (number and timestamp in one request) and spends few
 * requests doing it: after a new head it waits `waitShare` of the observed block time before polling again every
 * `pollIntervalMs` (12 s blocks, 0.8: about 3 polls per block instead of 48 at 250 ms). `onHead` runs for one head at
 * a time; heads that arrive meanwhile collapse into the latest. A lower head (reorg, node restarted on an older state)
 * is reported too, as in the embedded keeper's loop.
 */
export class HeadPoller {
  /** The last head seen. */
  last: Head | undefined
  /** `eth_getBlockByNumber` requests made. */
  requests = 0
  private running = false
  private loop: Promise<void> | undefined
  private blockMs: number | undefined
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
      return { number: block.number, timestamp: block.timestamp, seenAt: this.deps.clock.now() }
    } catch (error) {
      this.deps.metrics.inc("levpilot_rpc_errors_total", "RPC errors while polling blocks.")
      this.deps.logger.warn({ err: shortMessage(error) }, "RPC error while polling for blocks; retrying")
      return undefined
    }
  }

  private async run(onHead: (head: Head) => Promise<void>): Promise<void> {
    const { clock, metrics, logger, events, pollIntervalMs, waitShare } = this.deps
    while (this.running) {
      const head = await this.poll()
      if (head && head.number !== this.last?.number) {
        const last = this.last
        if (last && head.number < last.number) {
          metrics.inc("levpilot_reorgs_total", "Times the chain head moved back.")
          logger.warn({ from: Number(last.number), to: Number(head.number) }, "chain head moved back (reorg); continuing from the new head")
          events.emit({ type: "reorg", from: last.number, to: head.number })
        } else if (last && head.number > last.number && head.timestamp > last.timestamp) {
          const ms = (Number(head.timestamp - last.timestamp) * 1_000) / Number(head.number - last.number)
          this.blockMs = this.blockMs === undefined ? ms : 0.8 * this.blockMs + 0.2 * ms
        }
        this.last = head
        metrics.set("levpilot_block_number", "Latest block the keeper processed.", {}, Number(head.number))
        this.dispatch(head, onHead)
        const wait = this.blockMs === undefined ? pollIntervalMs : Math.max(pollIntervalMs, waitShare * this.blockMs - (clock.now() - head.seenAt))
        await clock.sleep(wait)
        continue
      }
      await clock.sleep(pollIntervalMs)
    }
  }

  private dispatch(head: Head, onHead: (head: Head) => Promise<void>): void {
    if (this.busy) {
      this.queued = head
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
