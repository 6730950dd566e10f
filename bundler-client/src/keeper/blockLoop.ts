import type { Logger } from "pino"
import type { PublicClient } from "viem"
import type { Clock } from "./clock.js"
import { type KeeperEvents, shortMessage } from "./events.js"
import type { KeeperMetrics } from "./metrics.js"

/**
 * Polls the chain head every `pollIntervalMs` and calls `onBlock` once per new head, including a head lower than the
 * last one (a reorg, or a node restarted on an older state: the keeper continues from the new head instead of waiting
 * for the height to pass the old one). RPC errors are counted and logged, and the loop goes on.
 */
export class BlockLoop {
  /** The last head seen (-1 before the first). */
  lastBlock = -1n
  private running = false
  private loop: Promise<void> | undefined

  constructor(
    private readonly deps: { publicClient: PublicClient; clock: Clock; metrics: KeeperMetrics; logger: Logger; events: KeeperEvents; pollIntervalMs: number },
  ) {}

  /** Starts polling; `onBlock` must not block (it starts the block's work and returns). */
  start(onBlock: (block: bigint) => void): void {
    this.running = true
    this.loop = this.run(onBlock)
  }

  /** Stops polling and waits for the current poll to end. */
  async stop(): Promise<void> {
    this.running = false
    await this.loop
  }

  /**
   * The chain head now, or `undefined` after an RPC error (counted and logged).
   *
   * @returns The block number.
   */
  async head(): Promise<bigint | undefined> {
    try {
      return await this.deps.publicClient.getBlockNumber({ cacheTime: 0 })
    } catch (error) {
      this.deps.metrics.inc("levpilot_rpc_errors_total", "RPC errors while polling blocks.")
      this.deps.logger.warn({ err: shortMessage(error) }, "RPC error while polling for blocks; retrying")
      return undefined
    }
  }

  private async run(onBlock: (block: bigint) => void): Promise<void> {
    const { metrics, logger, events, clock } = this.deps
    while (this.running) {
      const block = await this.head()
      if (block !== undefined && block !== this.lastBlock) {
        if (block < this.lastBlock) {
          // Pending operations are re-checked against the new chain by nonce.
          metrics.inc("levpilot_reorgs_total", "Times the chain head moved back.")
          logger.warn({ from: Number(this.lastBlock), to: Number(block) }, "chain head moved back (reorg); continuing from the new head")
          events.emit({ type: "reorg", from: this.lastBlock, to: block })
        }
        this.lastBlock = block
        metrics.set("levpilot_block_number", "Latest block the keeper processed.", {}, Number(block))
        onBlock(block)
      }
      await clock.sleep(this.deps.pollIntervalMs)
    }
  }
}
