import { pino } from "pino"
import type { PublicClient } from "viem"
import type { Clock } from "../clock.js"
import { KeeperEvents } from "../events.js"
import { KeeperMetrics } from "../metrics.js"
import { type Head, HeadPoller } from "./head.js"

// The HeadPoller tests' simulated chain and clock (head.test.ts, headLate.rr16b.test.ts). Test-only.

export const T0 = 1_800_000_000
/** Longest answer time of one `eth_getBlockByNumber` (ms); each takes 1 to LATENCY ms (pseudo-random). */
export const LATENCY = 20

/**
 * Runs a {@link HeadPoller} against a simulated chain on a simulated clock: block `i` has timestamp `timestamps[i]`
 * (seconds) and reaches the node at `timestamps[i] * 1000 + arrivals[i]` ms; each poll takes 1 to {@link LATENCY} ms.
 *
 * @returns Per block after `warmUp`: how late the poller saw it (ms), and the polls per block over those blocks.
 */
export async function simulate(parameters: {
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
export function lcg(seed: number) {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0
    return s / 2 ** 32
  }
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number

export const regular = (n: number, seconds = 12) => Array.from({ length: n }, (_, i) => T0 + seconds * i)

/**
 * Runs a HeadPoller (poll interval 250 ms, waitShare 0.8) whose `eth_getBlockByNumber("latest")` answers `answers` in
 * turn (then the last), on a simulated clock starting at unix 1,200 s, until every answer was given once more.
 *
 * @returns The heads dispatched, the `reorg` events and the polls made.
 */
export async function scriptedPolls(answers: { number: bigint; hash: string; timestamp: bigint }[]): Promise<{ seen: Head[]; reorgs: unknown[]; polls: number }> {
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
  return { seen, reorgs, polls }
}

/**
 * A load-balanced RPC for the HeadPoller tests (rr16e, rr16f, rr16g): polls go round-robin to `lagMs.length` backends
 * of one chain (hash = number); backend k sees block i `lagMs[k]` ms after block i reached the first one (at
 * timestamps[i] * 1000 + arrival, ms). Optional: the run starts at block `start`, and every poll in the `down` window
 * [from, to) (ms of the simulated clock) fails with "fetch failed". Figures are per block after block `warmUp`:
 * reorg events, polls, dispatched heads by time (passesPerBlock) and by number (passesFromWarmUpPerBlock), passes at a
 * head below one already dispatched (stalePasses), the learned block time, and each block's delay from its arrival
 * to its first sighting (late, ms; missed = blocks never seen). Test-only.
 */
export async function simulateBackends(p: {
  timestamps: number[]
  arrival: number
  lagMs: number[]
  pollIntervalMs?: number
  waitShare?: number
  warmUp?: number
  start?: number
  down?: [number, number]
}) {
  const { timestamps, arrival, lagMs, pollIntervalMs = 250, waitShare = 0.8, warmUp = 6, start = 0, down } = p
  const latency = lcg(5)
  const arrivalAt = timestamps.map((t) => t * 1_000 + arrival)
  let now = arrivalAt[start] as number
  const end = arrivalAt[arrivalAt.length - 1] as number
  const clock: Clock = { now: () => now, sleep: async (ms) => void (now += ms) }
  const pollTimes: number[] = []
  let finish: () => void = () => undefined
  const done = new Promise<void>((r) => (finish = r))
  let rr = 0
  const client = {
    getBlock: async () => {
      pollTimes.push(now)
      if (down && now >= down[0] && now < down[1]) {
        now += 5
        throw new Error("fetch failed")
      }
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
  const poller = new HeadPoller({ client, clock, metrics, logger, events, pollIntervalMs, waitShare })
  const dispatched: number[] = []
  const dispatchedAt: number[] = []
  const seen = new Map<number, number>()
  poller.start(async (h) => {
    dispatched.push(Number(h.number))
    dispatchedAt.push(now)
    if (!seen.has(Number(h.number))) seen.set(Number(h.number), h.seenAt)
  })
  await done
  await poller.stop()
  const from = arrivalAt[warmUp] as number
  const blocks = arrivalAt.length - 1 - warmUp
  const late: number[] = []
  for (let i = warmUp; i < arrivalAt.length; i++) {
    const at = seen.get(i)
    if (at !== undefined) late.push(at - (arrivalAt[i] as number))
  }
  return {
    reorgsPerBlock: reorgs / blocks,
    pollsPerBlock: pollTimes.filter((t) => t >= from && t < end).length / blocks,
    passesPerBlock: dispatchedAt.filter((t) => t >= from).length / blocks,
    passesFromWarmUpPerBlock: dispatched.filter((n) => n >= warmUp).length / blocks,
    stalePasses: dispatched.filter((n, k) => k > 0 && n < Math.max(...dispatched.slice(0, k))).length,
    blockMs: poller.blockMs,
    late,
    missed: blocks + 1 - late.length,
  }
}
