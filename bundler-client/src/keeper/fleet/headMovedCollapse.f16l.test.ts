import { pino } from "pino"
import type { PublicClient } from "viem"
import { describe, expect, test } from "vitest"
import { KeeperEvents } from "../events.js"
import { KeeperMetrics } from "../metrics.js"
import { type Head, HeadPoller } from "./head.js"

// Review rr16h H3 (second trigger): a `moved` head (a reset) that reaches dispatch while a pass is busy was replaced by
// the next, higher head without `moved`, so queueNode's SET_HEAD left `<prefix>:head` at the old height.

const head = (n: bigint, moved?: boolean): Head => ({ number: n, hash: `0x${n.toString(16).padStart(64, "0")}`, timestamp: n, seenAt: 0, ...(moved ? { moved } : {}) }) as Head

describe("f16l (rr16h H3): heads queued behind a busy pass", () => {
  for (const [name, second, expected] of [["a moved head replaced by a later one hands `moved` on", true, true], ["control: no moved head queued, none added", false, false]] as const)
    test(name, async () => {
      const logger = pino({ level: "silent" })
      const metrics = new KeeperMetrics()
      const poller = new HeadPoller({ client: {} as PublicClient, clock: { now: () => 0, sleep: async () => undefined } as never, metrics, logger, events: new KeeperEvents({ logger, metrics }), pollIntervalMs: 250, waitShare: 0.8 })
      const p = poller as unknown as { running: boolean; dispatch(h: Head, on: (h: Head) => Promise<void>): void; busy: Promise<void> | undefined }
      p.running = true
      const got: Head[] = []
      let release: () => void = () => undefined
      const gate = new Promise<void>((r) => (release = r))
      const onHead = async (h: Head) => {
        got.push(h)
        if (got.length === 1) await gate
      }
      p.dispatch(head(5000n), onHead)
      p.dispatch(head(3n, second), onHead)
      p.dispatch(head(4n), onHead)
      release()
      while (p.busy) await p.busy
      expect(got.map((h) => [h.number, h.moved ?? false])).toEqual([[5000n, false], [4n, expected]])
    })
})
