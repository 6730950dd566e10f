// Review rr16b (issue 16, HeadPoller; the harness is head.test.ts's simulated chain and clock, copied). H1 (Medium-Low,
// delayed work): the poller never polls before waitShare (0.8) of the block time has passed since it SAW the last head.
// After a head that reached the node late (a late proposal: 9 s into a 12 s slot), the floor runs to 18.6 s into that
// slot, so the next head, on time at 0.3 s into its slot, is seen 6.4 s late, and since the floor again counts from
// that late sighting, the two after it 4.1 s and 1.7 s late: one late block costs three heads half, a third and a
// seventh of the block the target ("all Safes checked within one 12 s block") has for the scan. The learned arrival (offset, jitter) says the next head
// is due at 0.3 s, but the floor wins. Not new in f16b (the floor is from 66e6040); f16b's "first poll after the wait"
// rule does not change it.
// H2 (Low, devnets): the block time is learned from timestamps only. On a chain whose timestamps advance faster than
// the wall clock (a replay or a devnet mining 12 s-stamped blocks every 2 s), the poller sleeps 0.8 x 12 s of wall time
// after each head and sees one head in five.
import { pino } from "pino"
import type { PublicClient } from "viem"
import { describe, expect, test } from "vitest"
import type { Clock } from "../clock.js"
import { KeeperEvents } from "../events.js"
import { KeeperMetrics } from "../metrics.js"
import { HeadPoller } from "./head.js"

const T0 = 1_800_000_000
/** Longest answer time of one `eth_getBlockByNumber` (ms); each takes 1 to LATENCY ms (pseudo-random). */
const LATENCY = 20

/**
 * Runs a {@link HeadPoller} against a simulated chain on a simulated clock: block `i` has timestamp `timestamps[i]`
 * (seconds) and reaches the node at `timestamps[i] * 1000 + arrivals[i]` ms; each poll takes 1 to {@link LATENCY} ms.
 *
 * @returns Per block after `warmUp`: how late the poller saw it (ms), and the polls per block over those blocks.
 */
async function simulate(parameters: {
  timestamps: number[]
  arrivals: number[]
  pollIntervalMs?: number
  waitShare?: number
  warmUp?: number
  seed?: number
  /** How much later than asked a sleep that starts at `at` (ms) ends: the process busy with other work (default 0). */
  overshoot?: (at: number) => number
}) {
  const { timestamps, arrivals, pollIntervalMs = 250, waitShare = 0.8, warmUp = 4, seed = 1, overshoot = () => 0 } = parameters
  const latency = lcg(seed)
  const arrivalAt = timestamps.map((t, i) => t * 1_000 + (arrivals[i] as number))
  let now = arrivalAt[0] as number
  const end = arrivalAt[arrivalAt.length - 1] as number
  const clock: Clock = { now: () => now, sleep: async (ms) => void (now += ms + overshoot(now)) }
  const pollTimes: number[] = []
  let finish: () => void = () => undefined
  const done = new Promise<void>((r) => (finish = r))
  const client = {
    getBlock: async () => {
      pollTimes.push(now)
      const took = 1 + Math.floor(latency() * LATENCY)
      // The node answers with the head it has halfway through the request.
      const at = now + took / 2
      now += took
      if (now > end + 1_000) finish()
      let i = 0
      while (i + 1 < arrivalAt.length && (arrivalAt[i + 1] as number) <= at) i += 1
      return { number: BigInt(i), timestamp: BigInt(timestamps[i] as number) }
    },
  } as unknown as PublicClient
  const logger = pino({ level: "silent" })
  const metrics = new KeeperMetrics()
  const poller = new HeadPoller({ client, clock, metrics, logger, events: new KeeperEvents({ logger, metrics }), pollIntervalMs, waitShare })
  const seen = new Map<number, number>()
  poller.start(async (h) => void seen.set(Number(h.number), h.seenAt))
  await done
  await poller.stop()
  const late: number[] = []
  let missed = 0
  for (let i = warmUp; i < arrivalAt.length; i++) {
    const at = seen.get(i)
    if (at === undefined) missed += 1
    else late.push(at - (arrivalAt[i] as number))
  }
  const from = arrivalAt[warmUp] as number
  const polls = pollTimes.filter((t) => t >= from && t < end).length
  return { late, missed, pollsPerBlock: polls / (arrivalAt.length - 1 - warmUp), blockMs: poller.blockMs }
}

/** A deterministic pseudo-random sequence in [0, 1). */
function lcg(seed: number) {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0
    return s / 2 ** 32
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number

const regular = (n: number, seconds = 12) => Array.from({ length: n }, (_, i) => T0 + seconds * i)


/** Blocks every 12 s; every 10th reaches the node 9 s after its timestamp, the others 0.3 s after. */
const lateBurst = () => simulate({ timestamps: regular(80), arrivals: regular(80).map((_, i) => (i % 10 === 9 ? 9_000 : 300)), warmUp: 6 })
/** Timestamps 12 s apart, blocks mined every 2 s of wall time. */
const fastStamps = () => simulate({ timestamps: regular(80), arrivals: regular(80).map((_, i) => -i * 10_000), warmUp: 6 })

describe("rr16b H1: the head after a late head is seen late (the waitShare floor counts from when the late head was seen)", () => {
  test("fixed (f16d): after each 9 s-late head the floor counts from its learned arrival; no head is seen more than a second late", async () => {
    const { late, missed, pollsPerBlock } = await lateBurst()
    expect(missed).toBe(0)
    // Was: 7 heads > 5 s late, 7 more > 3 s, 21 > 1 s (the floor counted from the late sighting).
    expect(late.filter((ms) => ms > 1_000).length).toBe(0)
    // The price: the late heads widen the learned jitter, so polling starts earlier (12.2 polls per block here, one
    // eth_getBlockByNumber per ~1 s; head.test.ts keeps <= 3 on regular blocks).
    expect(pollsPerBlock).toBeLessThan(13)
  })

  test("was FAILS TODAY: a head on time after a late one is seen within two poll intervals", async () => {
    const { late } = await lateBurst()
    // No head is seen more than two poll intervals (plus a poll's latency) after it reached the node.
    expect(Math.max(...late)).toBeLessThan(2 * 250 + 40)
  })
})

describe("rr16b H2 (Low, devnets): timestamps advancing faster than the wall clock", () => {
  test("observed today: 12 s-stamped blocks mined every 2 s: most heads never reach onHead (collapsed)", async () => {
    const { missed, late } = await fastStamps()
    expect(missed).toBeGreaterThan(40)
    expect(late.length).toBeLessThan(20)
  })

  test.skip("FAILS TODAY: every head is seen (the wall-clock head interval bounds the wait)", async () => {
    const { missed } = await fastStamps()
    expect(missed).toBe(0)
  })
})
