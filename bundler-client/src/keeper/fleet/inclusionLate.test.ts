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

describe("fleet inclusion: an operation that landed before the tracker's step is reported included (issue 16)", () => {
  test("landed between its first send and a resend (the resend's intent kept): included, with the block and success flag", async () => {
    // First sent at 100, resent at 110 (the answer unusable: the intent, sentBlock 110, kept), landed at 105; the
    // fleet's step at 112 holds only block 112's events.
    const h = harness(record(100n, 110n), { head: 112n, events: [landed(105n, false)] })
    expect(await h.step(112n)).toBe("included")
    const found = included(h.events)
    expect(found).toHaveLength(1)
    expect(found[0]).toMatchObject({ type: "included", block: 105n, success: false, safe: SAFE })
    expect(h.pending()).toBeUndefined()
  })

  test("the fleet reaches the Safe 300 blocks late with a 4-block log window: searched from the first send, found", async () => {
    const h = harness(record(100n, 100n), { head: 400n, events: [landed(103n)], windowBlocks: 4 })
    expect(await h.step(400n)).toBe("included")
    expect(included(h.events)).toMatchObject([{ block: 103n, success: true }])
    // From the first send forwards: the first window holds it.
    expect(h.asked).toEqual([[100n, 103n]])
  })

  test("an event past the searched windows: the record is kept (waiting) and the next steps search on from there, bounded per step", async () => {
    const h = harness(record(100n, 100n), { head: 400n, events: [landed(250n)], windowBlocks: 4 })
    const verdicts: string[] = []
    for (let block = 400n; h.pending() !== undefined && block < 410n; block++) {
      verdicts.push(await h.step(block))
      // Each step reads at most 25 windows.
      expect(h.asked.length).toBeLessThanOrEqual(25)
      h.asked.length = 0
    }
    // Today: backwards from the head, 25 windows reach block 301 only: cleared as included with no event.
    expect(verdicts).toEqual(["waiting", "included"])
    expect(included(h.events)).toMatchObject([{ block: 250n, success: true }])
  })

  test("a node whose head is behind the record's first send: nothing searched, the record kept (not cleared without an event)", async () => {
    const h = harness(record(100n, 100n), { head: 99n, events: [] })
    expect(await h.step(101n)).toBe("waiting")
    expect(h.pending()).toMatchObject({ nonce: NONCE.toString(), searchFromBlock: "100" })
    expect(included(h.events)).toEqual([])
  })

  test("the block's own events still answer first (no eth_getLogs)", async () => {
    const h = harness(record(100n, 100n), { head: 101n, events: [] })
    expect(await h.step(101n, [landed(101n)])).toBe("included")
    expect(h.asked).toEqual([])
    expect(included(h.events)).toMatchObject([{ block: 101n }])
  })
})
