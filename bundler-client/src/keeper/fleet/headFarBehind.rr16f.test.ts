import { pino } from "pino"
import type { PublicClient } from "viem"
import { describe, expect, test } from "vitest"
import type { Clock } from "../clock.js"
import { KeeperEvents } from "../events.js"
import { KeeperMetrics } from "../metrics.js"
import { HASH_BLOCKS, HeadPoller } from "./head.js"
import { lcg, regular, scriptedPolls } from "./head.testing.js"

// Same simulation as headAlternating.rr16e.test.ts (a load-balanced RPC, round-robin polls, one chain: hash = number),
// with a backend far behind (a node syncing after a restart, or stuck).
async function simulateBackends(p: { timestamps: number[]; arrival: number; lagMs: number[]; warmUp: number }) {
  const { timestamps, arrival, lagMs, warmUp } = p
  const latency = lcg(5)
  const arrivalAt = timestamps.map((t) => t * 1_000 + arrival)
  let now = arrivalAt[0] as number
  const end = arrivalAt[arrivalAt.length - 1] as number
  const clock: Clock = { now: () => now, sleep: async (ms) => void (now += ms) }
  const pollTimes: number[] = []
  let finish: () => void = () => undefined
  const done = new Promise<void>((r) => (finish = r))
  let rr = 0
  const client = {
    getBlock: async () => {
      pollTimes.push(now)
      const backend = rr++ % lagMs.length
      const took = 1 + Math.floor(latency() * 20)
      const at = now + took / 2 - (lagMs[backend] as number)
      now += took
      if (now > end + 1_000) finish()
      let i = 0
      while (i + 1 < arrivalAt.length && (arrivalAt[i + 1] as number) <= at) i += 1
      return { number: BigInt(i), hash: `0x${i.toString(16).padStart(64, "0")}`, timestamp: BigInt(timestamps[i] as number) }
    },
  } as unknown as PublicClient
  const logger = pino({ level: "silent" })
  const metrics = new KeeperMetrics()
  let reorgs = 0
  const events = new KeeperEvents({ logger, metrics, onEvent: (e) => void (e.type === "reorg" && reorgs++) })
  const poller = new HeadPoller({ client, clock, metrics, logger, events, pollIntervalMs: 250, waitShare: 0.8 })
  const dispatched: number[] = []
  const dispatchedAt: number[] = []
  poller.start(async (h) => {
    dispatched.push(Number(h.number))
    dispatchedAt.push(now)
  })
  await done
  await poller.stop()
  const from = arrivalAt[warmUp] as number
  const blocks = arrivalAt.length - 1 - warmUp
  const reorgsAfter = reorgs
  return {
    reorgsPerBlock: reorgsAfter / blocks,
    pollsPerBlock: pollTimes.filter((t) => t >= from && t < end).length / blocks,
    passesPerBlock: dispatchedAt.filter((t) => t >= from).length / blocks,
    stalePasses: dispatched.filter((n, k) => k > 0 && n < Math.max(...dispatched.slice(0, k))).length,
    blockMs: poller.blockMs,
  }
}

describe("rr16f F1: a backend more than HASH_BLOCKS behind (syncing or stuck) behind a round-robin RPC", () => {
  test("control: a backend a block behind: 0 reorgs", async () => {
    const r = await simulateBackends({ timestamps: regular(400), arrival: 400, lagMs: [0, 13_000], warmUp: 200 })
    console.log("rr16f F1 control", JSON.stringify(r))
    expect(r.reorgsPerBlock).toBeLessThan(0.1)
  })
  test("rr16f F1 (was FAILS TODAY, fixed f16j): a backend 150 blocks behind makes every alternation a reorg and a pass at a 150-block-old head", async () => {
    const r = await simulateBackends({ timestamps: regular(400), arrival: 400, lagMs: [0, (HASH_BLOCKS + 22) * 12_000 + 1_000], warmUp: 200 })
    console.log("rr16f F1", JSON.stringify(r))
    expect(r.reorgsPerBlock).toBeLessThan(0.1)
    expect(r.passesPerBlock).toBeLessThanOrEqual(2)
  })
})

describe("rr16f held: a genuine rollback to a seen ancestor (A101 orphaned, head back to A100, then B101 on it)", () => {
  test("the seen ancestor is ignored, B101 is dispatched as a reorg one block later", async () => {
    const h = (fork: string, n: number) => `0x${fork.repeat(8)}${n.toString(16).padStart(56, "0")}`
    const b = (fork: string, n: number) => ({ number: BigInt(n), hash: h(fork, n), timestamp: BigInt(1_200 + 12 * (n - 100)) })
    const answers = [b("a", 100), b("a", 101), b("a", 100), b("a", 100), b("b", 101), b("b", 102)]
    const polled = await scriptedPolls(answers)
    const { reorgs, polls } = polled
    const seen = polled.seen.map((head) => `${head.number}/${head.hash.slice(2, 3)}`)
    expect(seen).toEqual(["100/a", "101/a", "101/b", "102/b"])
    expect(reorgs).toEqual([{ type: "reorg", from: 101n, to: 101n }])
  })
})
