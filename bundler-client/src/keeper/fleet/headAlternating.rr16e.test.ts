import type { Hex } from "viem"
import { describe, expect, test } from "vitest"
import { regular, scriptedPolls, simulateBackends } from "./head.testing.js"

// Review rr16e E1 (regression of f16g, rr16b H2's fix). A load-balanced RPC (rr16d D2's premise: backends a block
// apart) whose head polls go round-robin to a backend with the head and one a block (13 s) behind: every other poll
// answers a LOWER head. HeadPoller reports it as a reorg, dispatches it to onHead (a full pass: discovery rolls back to
// its confirmed block and re-reads, the lens reads every Safe at the lower block), and, since f16g, pushes the
// 250 ms between the lower head's sighting and the next higher one into its wall-clock gaps: their median becomes
// ~258 ms, under waitShare x 12 s, so the poller takes 258 ms as the block time and polls every pollIntervalMs for
// good. Measured (60 blocks of 12 s, arrival 400 ms): 46 polls, 45.7 dispatched heads and 24.4 "reorg" events per
// block, blockMs 258. Before f16g (868b364^, same simulation): 2.4 polls, 1.5 dispatched heads, 0.45 reorgs per
// block, blockMs 12,000. One backend alone: 2.5 polls, 1.0 dispatched heads, 0 reorgs.
describe("rr16e E1: head polls alternating between a backend with the head and one a block behind", () => {
  test("control: one backend: 12 s learned, at most 3 polls and about one pass per block", async () => {
    const r = await simulateBackends({ timestamps: regular(60), arrival: 400, lagMs: [0] })
    expect(r.blockMs).toBe(12_000)
    expect(r.pollsPerBlock).toBeLessThanOrEqual(3)
    expect(r.passesFromWarmUpPerBlock).toBeLessThanOrEqual(1.1)
    expect(r.reorgsPerBlock).toBe(0)
  })

  test("rr16e E1 fixed (f16i): the lagging backend's lower heads are ignored: 12 s learned, 3.1 polls, 1.0 pass, 0 reorgs per block (was 258 ms, 46, 46, 24)", async () => {
    const r = await simulateBackends({ timestamps: regular(60), arrival: 400, lagMs: [0, 13_000] })
    console.log(JSON.stringify({ ...r, late: undefined, lateMax: Math.max(...r.late) }))
    // The chain's block time is 12 s whatever a lagging backend answers; polls and passes per block stay near one
    // backend's (before f16g: 2.4 polls, 1.5 passes).
    expect(r.blockMs).toBe(12_000)
    expect(r.pollsPerBlock).toBeLessThanOrEqual(4)
    expect(r.passesFromWarmUpPerBlock).toBeLessThanOrEqual(2)
    expect(r.reorgsPerBlock).toBe(0)
    expect(r.missed).toBe(0)
  })

  test("f16i: a lower head with the hash already seen is ignored; a lower head with another hash is still a reorg", async () => {
    const h = (fork: string, n: number): Hex => `0x${fork.repeat(8)}${n.toString(16).padStart(56, "0")}`
    const b = (fork: string, n: number) => ({ number: BigInt(n), hash: h(fork, n), timestamp: BigInt(1_200 + 12 * (n - 100)) })
    const answers = [b("a", 100), b("a", 101), b("a", 100), b("a", 101), b("a", 102), b("a", 101), b("b", 101), b("b", 102)]
    const polled = await scriptedPolls(answers)
    const { reorgs, polls } = polled
    const seen = polled.seen.map((head) => `${head.number}/${head.hash.slice(2, 3)}`)
    // 100/a and 101/a answered again after 101/a and 102/a: a lagging backend, not dispatched; 101/b after 102/a: a reorg.
    expect(seen).toEqual(["100/a", "101/a", "102/a", "101/b", "102/b"])
    expect(reorgs).toEqual([{ type: "reorg", from: 102n, to: 101n }])
  })
})
