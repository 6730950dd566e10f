import { Writable } from "node:stream"
import { pino } from "pino"
import { type Address, type Hex, type PublicClient, isAddressEqual } from "viem"
import { describe, expect, test } from "vitest"
import { KeeperEvents, type KeeperEvent } from "../events.js"
import { InclusionTracker } from "../inclusion.js"
import { type UserOperationEventLog, chainInclusionLookup } from "../inclusionLookup.js"
import { KeeperMetrics } from "../metrics.js"
import { newSafeRuntime } from "../runtime.js"
import type { PendingOperation } from "../stateFile.js"
import { type StepItem, batchInclusionLookup } from "./step.js"

// Review rr11e (issue 11 item 7, "check the nonce first; read logs in bounded windows"): the harness of
// inclusionLate.test.ts (issue 16), copied. The tracker learns the nonce is used at the step's block (the fleet's lens read,
// or getNonce at latest), then searches UserOperationEvents from the first send up to `getBlockNumber()`: a load-balanced
// RPC answering that from a lagging replica (the case the code already guards when the head is behind the FIRST send)
// ends the search below the block the operation landed in, and the record is cleared "included" with no included
// event: a landed operation, reverted or not, is never reported (no levpilot_rebalances_total, no revert alert).
//
// Issue 16 (bench:fleet, 1,000 Safes x 4 worker processes, load 33): one operation landed a block before (or while) its
// Safe was resubmitted; the chain counted 100/100 rebalances, the keeper's events 99/100. The tracker's search for the
// event of a used nonce started at the record's latest send (`sentBlock`, the resend's) and went backwards from the head
// for at most 25 windows: an operation that landed before the resend, or further back than 25 windows from a head the
// fleet reached late, was never found, and the record was cleared as "included" with no `included` event.

const SAFE: Address = "0x0000000000000000000000000000000000005afe"
const ENTRY_POINT: Address = "0x0000000071727De22E5E9d8BAf0edAc6f37da032"
const KEY = 7n
const NONCE = (KEY << 64n) | 3n
const HASH = `0x${"ab".repeat(32)}` as Hex

/** A node at `head` holding `events` (each at its block), answering `eth_getLogs` by range and sender. */
function node(head: bigint, events: UserOperationEventLog[]) {
  const asked: [bigint, bigint][] = []
  const client = {
    getBlockNumber: async () => head,
    getLogs: async ({ fromBlock, toBlock, args }: { fromBlock: bigint; toBlock: bigint; args: { sender: Address } }) => {
      asked.push([fromBlock, toBlock])
      return events.filter((e) => e.blockNumber !== null && e.blockNumber >= fromBlock && e.blockNumber <= toBlock && e.args.sender !== undefined && isAddressEqual(e.args.sender, args.sender))
    },
    getTransactionReceipt: async () => ({ logs: [] }),
  } as unknown as PublicClient
  return { client, asked }
}

const landed = (block: bigint, success = true): UserOperationEventLog => ({
  blockNumber: block,
  transactionHash: `0x${"cd".repeat(32)}`,
  args: { userOpHash: HASH, sender: SAFE, paymaster: "0x0000000000000000000000000000000000000000", nonce: NONCE, success, actualGasCost: 1n, actualGasUsed: 2n },
})

function harness(record: PendingOperation, { head, events: chain, windowBlocks = 2_000 }: { head: bigint; events: UserOperationEventLog[]; windowBlocks?: number }) {
  const logger = pino({ level: "silent" }, new Writable({ write: (_c, _e, done) => done() }))
  const metrics = new KeeperMetrics()
  const events: KeeperEvent[] = []
  const keeperEvents = new KeeperEvents({ logger, metrics, onEvent: (e) => events.push(e) })
  let pending: PendingOperation | undefined = record
  const store = { pending: async () => pending, setPending: async (_safe: Address, p: PendingOperation | undefined) => void (pending = p) }
  const { client, asked } = node(head, chain)
  const tracker = new InclusionTracker({
    config: { deployment: { entryPoint: ENTRY_POINT } as never, resubmitAfterBlocks: 10, stallAfterBlocks: 30, logWindowBlocks: windowBlocks },
    publicClient: client,
    store,
    metrics,
    logger,
    events: keeperEvents,
    clock: { now: () => 1_700_000_000_000 } as never,
  })
  const chainLookup = chainInclusionLookup(client, ENTRY_POINT, { windowBlocks, maxWindows: 25 })
  /** One fleet step at `block` (the lens read there: the nonce used) with the block's own UserOperationEvents of the Safe. */
  const step = async (block: bigint, userOps: UserOperationEventLog[] = []) => {
    const item: StepItem = { safe: SAFE, block, timestamp: 0n, state: { keeperNonce: NONCE + 1n } as never, userOps }
    const current = pending
    if (!current) throw new Error("no record")
    return tracker.track(newSafeRuntime({ address: SAFE } as never), current, block, batchInclusionLookup(item, chainLookup))
  }
  return { step, events, asked, pending: () => pending }
}

const record = (firstSentBlock: bigint, sentBlock: bigint): PendingOperation => ({
  userOpHash: undefined,
  nonce: NONCE.toString(),
  sentBlock: sentBlock.toString(),
  firstSentBlock: firstSentBlock.toString(),
  sentAt: 0,
  maxFeePerGas: "1",
  maxPriorityFeePerGas: "1",
  sponsored: true,
  attempts: 2,
  triggerBlock: firstSentBlock.toString(),
  triggerAt: 0,
})

const included = (events: KeeperEvent[]) => events.filter((e) => e.type === "included")

describe("rr11e: the event search's head behind the block where the nonce was seen used", () => {
  // Before f11e: one search of 100..108, verdict "included", record cleared, no included event (the revert never reported).
  test("FAILS TODAY (rr11e L1): the record is kept until the search reaches the block the nonce was seen used at, then reported included (reverted)", async () => {
    const h = harness(record(100n, 100n), { head: 108n, events: [landed(110n, false)] })
    expect(await h.step(112n)).toBe("waiting")
    expect(h.pending()).toBeDefined()
    expect(included(h.events)).toEqual([])
    // Searched 100..108 only; the next step searches on from 109.
    expect(h.asked).toEqual([[100n, 108n]])
    expect(h.pending()?.searchFromBlock).toBe("109")
  })

  test("fixed (rr11e L1): once the replica's head reaches the landing block, the next step reports it included (reverted) from where it stopped", async () => {
    const events = [landed(110n, false)]
    const lagging = harness(record(100n, 100n), { head: 108n, events })
    expect(await lagging.step(112n)).toBe("waiting")
    const caughtUp = harness(lagging.pending() as PendingOperation, { head: 113n, events })
    expect(await caughtUp.step(113n)).toBe("included")
    expect(caughtUp.asked).toEqual([[109n, 113n]])
    expect(included(caughtUp.events)).toMatchObject([{ block: 110n, success: false }])
    expect(caughtUp.pending()).toBeUndefined()
  })

  test("held: a window boundary exactly at the landing block (windows of 4 from 100: 100-103, 104-107, 108-111), found in the third window", async () => {
    for (const at of [103n, 104n, 107n, 108n, 111n]) {
      const h = harness(record(100n, 100n), { head: 111n, events: [landed(at)], windowBlocks: 4 })
      expect(await h.step(111n)).toBe("included")
      expect(included(h.events)).toMatchObject([{ block: at }])
      // Consecutive windows, no gap and no overlap, never wider than 4 blocks.
      for (const [k, [from, to]] of h.asked.entries()) {
        expect(to - from + 1n).toBeLessThanOrEqual(4n)
        expect(from).toBe(100n + 4n * BigInt(k))
      }
    }
  })
})
