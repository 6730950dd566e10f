import type { Address } from "viem"
import { describe, expect, test } from "vitest"
import { SAFE } from "../testing.js"
import { forkingNode, hashOf } from "./blockReads.testing.js"
import { fleetStepOf, stateOf, stepConfigOf, stepFixture } from "./scan.testing.js"

// f16f (review rr16c S1): a step job whose block was lost to a reorg (its hash no longer the node's at that number)
// must not be solved: its pinned reads are refused, and the bounded reads' fallback to `latest` (the new fork) must not
// be mixed with the job's lens snapshot of the old block. (Harness as expiredInFlight.rr16b.test.ts.)

const POOL = "0x00000000000000000000000000000000000000f1" as Address

/** One out-of-band Safe with one pool, stepped at fork A's 101 after the node reorganised to fork B. */
async function lostStep(reorg: boolean) {
  const node = forkingNode(100n)
  const { events, logger, metrics, store } = await stepFixture()
  const config = stepConfigOf({ morphoBlue: "0x00000000000000000000000000000000000000b1" })
  const step = fleetStepOf({ config, publicClient: node.client, store, metrics, logger, events, dryRun: false })
  // A sub-account out of band (a plan may follow: the pinned reads run) on an adapter no venue read covers, and one pool.
  const sub = { subAccount: `0x${"b9".repeat(32)}`, band: "above", policy: { adapter: "0x00000000000000000000000000000000000000c1" } }
  const state = { ...stateOf(SAFE as Address), subAccounts: [sub], pools: [{ pool: POOL, asset: POOL, shares: 1n, assets: 1n, maxWithdraw: 1n }] }
  if (reorg) node.reorg()
  const outcome = await step.run({ safe: SAFE as Address, block: 101n, hash: hashOf("a", 101n), timestamp: 1_000n, state: state as never, userOps: [] }).catch((e: unknown) => e)
  return { outcome, events, node, metrics }
}

describe("f16f: a step of a block lost to a reorg is skipped, not solved", () => {
  test("fork A's 101 after the reorg: outcome reorged, nothing observed or alerted, the pool read went by the lost hash and was refused", async () => {
    const { outcome, events, node, metrics } = await lostStep(true)
    expect(outcome).toBe("reorged")
    expect(events.filter((e) => e.type === "observed" || e.type === "alert")).toEqual([])
    expect(node.calls).toEqual([`hash:${hashOf("a", 101n)}`])
    expect(node.blocks).toEqual(["0x65"])
    expect(metrics.render()).toMatch(/levpilot_fleet_steps_reorged_total 1/)
  })

  test("control: the same step without the reorg is not skipped as reorged", async () => {
    const { outcome } = await lostStep(false)
    expect(outcome).not.toBe("reorged")
  })
})
