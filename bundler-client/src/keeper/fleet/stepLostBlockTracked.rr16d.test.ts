import { type Address, type Hex, getAddress } from "viem"
import { describe, expect, test } from "vitest"
import { SAFE } from "../testing.js"
import { forkingNode, hashOf } from "./blockReads.testing.js"
import { IN_FLIGHT_NONCE, fleetStepOf, inFlightRecord, stateOf, stepConfigOf, stepFixture } from "./scan.testing.js"

// Review rr16d D1 (f16f): "a step of a block lost to a reorg ends 'reorged' (no solve, no alert)" holds only on the
// path that makes a pinned read (a Safe out of band, no operation in flight). A step of a Safe WITH an operation in
// flight decides on the job's data alone: the lens snapshot (keeperNonce, keeperKey) and the block's
// UserOperationEvents, both of the lost block. No pinned read, no block check, so:
//  (a) the lost block held the Safe's operation: `included` (webhook "rebalance included", levpilot_rebalances_total)
//      for a block no longer on the chain, and the in-flight record is cleared;
//  (b) the lost block held the owner's KeeperRevoked (not on the new fork): the record is dropped and the owner gets a
//      false `key-revoked` alert.
// The step job of block N (hash A) is queued by the scan; the node reorganises to N' (hash B) before a worker runs it
// (a step backlog at a shock, or plain scan->step latency). Harness: f16f's stepLostBlock test (forkingNode, fork at 100).

const NONCE = IN_FLIGHT_NONCE
const record = inFlightRecord

/** The Safe's step at fork A's 101 (hash A), after the node reorganised to fork B when `reorg`; `lostState` what the lens read at A. */
async function trackedLostStep(reorg: boolean, variant: "included" | "revoked") {
  const node = forkingNode(100n)
  const { events, logger, metrics, store } = await stepFixture(record)
  const config = stepConfigOf({}, { costs: { gasPriceGwei: 1, nativePrice: 3000 }, retry: { baseMs: 1_000, maxMs: 60_000 } })
  const step = fleetStepOf({ config, publicClient: node.client, store, metrics, logger, events, dryRun: false })
  const hashA = hashOf("a", 101n)
  // (a) fork A's 101 included the operation: the lens nonce is past it and the block's logs hold its event.
  // (b) fork A's 101 held the owner's KeeperRevoked: key inactive, the operation's nonce unused.
  const state =
    variant === "included"
      ? { ...stateOf(SAFE as Address), keeperNonce: NONCE + 1n }
      : { ...stateOf(SAFE as Address), keeperKey: { active: false, validAfter: 0, validUntil: 2 ** 40, keyGeneration: 5, ttl: 0 }, keeperNonce: NONCE }
  const userOps =
    variant === "included"
      ? [{ blockNumber: 101n, blockHash: hashA, transactionHash: `0x${"cd".repeat(32)}` as Hex, args: { userOpHash: record.userOpHash as Hex, sender: getAddress(SAFE), paymaster: undefined, nonce: NONCE, success: true, actualGasCost: 1n, actualGasUsed: 1n } }]
      : []
  if (reorg) node.reorg()
  const outcome = await step.run({ safe: SAFE as Address, block: 101n, hash: hashA, timestamp: 1_000n, state: state as never, userOps: userOps as never }).catch((e: unknown) => e)
  const kinds = events.map((e) => (e.type === "alert" ? `alert:${e.kind}` : e.type))
  return { outcome, kinds, pending: await store.pending(SAFE), node, metrics }
}

describe("rr16d D1: a tracked step of a block lost to a reorg decides on the lost block's data", () => {
  test("fixed (was: `included`, record cleared, no block check): (a) the lost block's UserOperationEvent is not trusted: one check of block 101 finds fork B's hash, `reorged`", async () => {
    const { outcome, kinds, pending, node, metrics } = await trackedLostStep(true, "included")
    expect(outcome).toBe("reorged")
    expect(kinds).toEqual([])
    expect(pending).toEqual(record)
    expect(metrics.render()).not.toMatch(/levpilot_rebalances_total/)
    expect(metrics.render()).toMatch(/levpilot_fleet_steps_reorged_total 1/)
    // One block check of 101 (0x65), no read at all.
    expect(node.calls).toEqual([])
    expect(node.blocks).toEqual(["0x65"])
  })

  test("fixed (was: record dropped, `key-revoked` alert): (b) the lost block's revoke neither drops the record nor alerts", async () => {
    const { outcome, kinds, pending, node } = await trackedLostStep(true, "revoked")
    expect(outcome).toBe("reorged")
    expect(kinds).toEqual([])
    expect(pending).toEqual(record)
    expect(node.calls).toEqual([])
    expect(node.blocks).toEqual(["0x65"])
  })

  test("control: without the reorg the same steps end `included` / `key-revoked` (the right verdicts on fork A), after one block check", async () => {
    const included = await trackedLostStep(false, "included")
    expect(included.kinds).toContain("included")
    expect(included.node.blocks[0]).toBe("0x65")
    const revoked = await trackedLostStep(false, "revoked")
    expect(revoked.kinds).toEqual(["alert:key-revoked"])
    expect(revoked.node.blocks).toEqual(["0x65"])
  })

  test("rr16d D1 (was FAILS TODAY): (a) a tracked step of a lost block ends `reorged`: no `included`, the record kept", async () => {
    const { outcome, kinds, pending } = await trackedLostStep(true, "included")
    expect(kinds).not.toContain("included")
    expect(pending).toBeDefined()
    expect(outcome).toBe("reorged")
  })

  test("rr16d D1 (was FAILS TODAY): (b) a lost block's revoke neither drops the record nor alerts the owner", async () => {
    const { outcome, kinds, pending } = await trackedLostStep(true, "revoked")
    expect(kinds).toEqual([])
    expect(pending).toBeDefined()
    expect(outcome).toBe("reorged")
  })
})
