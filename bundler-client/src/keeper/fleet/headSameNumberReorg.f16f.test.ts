import { pino } from "pino"
import type { Hex, PublicClient } from "viem"
import { describe, expect, test } from "vitest"
import type { Clock } from "../clock.js"
import { KeeperEvents } from "../events.js"
import { KeeperMetrics } from "../metrics.js"
import { type Head, HeadPoller } from "./head.js"

// f16f (review rr16c S1): a block replaced without the head moving back (a same-number reorg) is a new head, so the
// fleet reads its Safes again on the new block (its jobs carry the new hash; the old block's are refused by the node).

const h = (fork: string, n: number): Hex => `0x${fork.repeat(8)}${n.toString(16).padStart(56, "0")}`

describe("HeadPoller: heads carry their hash; a same-number head with another hash is reported", () => {
  test("polls answering 100/a, 100/a, 100/b, 101/b report 100/a, 100/b (a reorg), 101/b", async () => {
    const answers = [
      { number: 100n, hash: h("a", 100), timestamp: 1_200n },
      { number: 100n, hash: h("a", 100), timestamp: 1_200n },
      { number: 100n, hash: h("b", 100), timestamp: 1_200n },
      { number: 101n, hash: h("b", 101), timestamp: 1_212n },
    ]
    let now = 1_200_000
    let polls = 0
    let finish: () => void = () => undefined
    const done = new Promise<void>((r) => (finish = r))
    const client = {
      getBlock: async () => {
        const a = answers[Math.min(polls, answers.length - 1)]
        polls += 1
        if (polls > answers.length) finish()
        return a
      },
    } as unknown as PublicClient
    const clock: Clock = { now: () => now, sleep: async (ms) => void (now += ms) }
    const logger = pino({ level: "silent" })
    const metrics = new KeeperMetrics()
    const reorgs: unknown[] = []
    const events = new KeeperEvents({ logger, metrics, onEvent: (e) => void (e.type === "reorg" && reorgs.push(e)) })
    const poller = new HeadPoller({ client, clock, metrics, logger, events, pollIntervalMs: 250, waitShare: 0.8 })
    const seen: Head[] = []
    poller.start(async (head) => void seen.push(head))
    await done
    await poller.stop()
    expect(seen.map((s) => `${s.number}/${s.hash.slice(2, 3)}`)).toEqual(["100/a", "100/b", "101/b"])
    expect(reorgs).toEqual([{ type: "reorg", from: 100n, to: 100n }])
    expect(polls).toBeGreaterThanOrEqual(answers.length)
  })
})
