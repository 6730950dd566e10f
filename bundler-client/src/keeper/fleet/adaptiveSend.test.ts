import { describe, expect, test } from "vitest"
import * as limit from "./limit.js"

// bench:fleet 1,000 x 4 (f16 rerun, Alto log): at the shock 83 requests were outstanding at Alto at once (4 workers x
// `fleet.sendConcurrency` 32 sends, each with its gas price, estimation and send), Alto answered all of them but some
// after viem's 10 s timeout, and 43 sends were alerted `bundler-unavailable` (32 + 11 "timed out"; the committed run: 65).
// With 1 worker (32 sends at most) no such alert. The fleet's own send concurrency overloaded its bundler; a worker
// sheds sends when its bundler or paymaster does not keep up (halve once per congestion, +1 per window of accepted sends).

type Adaptive = {
  run: <T>(task: (release: () => void) => Promise<T>) => Promise<T>
  epoch: () => number
  overloaded: (epoch: number) => void
  succeeded: () => void
  limit: () => number
}
const adaptiveLimiter = (limit as unknown as { adaptiveLimiter?: (max: number) => Adaptive }).adaptiveLimiter

/**
 * A bundler that answers in 20 ms while at most `capacity` requests are in flight when one arrives, else times out
 * (after 40 ms). Each of `sends` sends is tried, through `slot`, until accepted or 5 times.
 *
 * @returns The timeouts and the sends accepted.
 */
async function flood(slot: (send: () => Promise<"sent" | "overloaded">) => Promise<"sent" | "overloaded">, sends: number, capacity: number): Promise<{ timeouts: number; accepted: number }> {
  let inflight = 0
  let timeouts = 0
  const request = async (): Promise<"sent" | "overloaded"> => {
    inflight += 1
    const ok = inflight <= capacity
    await new Promise((done) => setTimeout(done, ok ? 20 : 40))
    inflight -= 1
    if (!ok) timeouts += 1
    return ok ? "sent" : "overloaded"
  }
  let accepted = 0
  await Promise.all(
    Array.from({ length: sends }, async () => {
      for (let attempt = 0; attempt < 5; attempt++) if ((await slot(request)) === "sent") return void (accepted += 1)
    }),
  )
  return { timeouts, accepted }
}

describe("the fleet's send slots against a bundler that keeps up with 8 requests at once", () => {
  test("a fixed 32 slots: most sends time out; adaptive slots: a few, every send accepted", async () => {
    const fixed = limit.limiter(32)
    const fixedRun = await flood((send) => fixed(send), 64, 8)
    expect(adaptiveLimiter).toBeTypeOf("function")
    const slots = (adaptiveLimiter as (max: number) => Adaptive)(32)
    const adaptiveRun = await flood(
      (send) =>
        slots.run(async () => {
          const epoch = slots.epoch()
          const outcome = await send()
          if (outcome === "overloaded") slots.overloaded(epoch)
          else slots.succeeded()
          return outcome
        }),
      64,
      8,
    )
    expect(fixedRun.accepted).toBeLessThan(40)
    expect(fixedRun.timeouts).toBeGreaterThan(100)
    expect(adaptiveRun.accepted).toBe(64)
    expect(adaptiveRun.timeouts).toBeLessThan(fixedRun.timeouts / 3)
  })

  test("a burst of overloads from sends started under one limit halves it once; accepted each window of accepted sends (as many as the limit) grows it by 1, up to the maximum", async () => {
    const slots = (adaptiveLimiter as (max: number) => Adaptive)(32)
    const epoch = slots.epoch()
    for (let i = 0; i < 20; i++) slots.overloaded(epoch)
    expect(slots.limit()).toBe(16)
    slots.overloaded(slots.epoch())
    expect(slots.limit()).toBe(8)
    for (let i = 0; i < 7; i++) slots.succeeded()
    expect(slots.limit()).toBe(8)
    slots.succeeded()
    expect(slots.limit()).toBe(9)
    for (let i = 0; i < 1_000; i++) slots.succeeded()
    expect(slots.limit()).toBe(32)
    for (let i = 0; i < 10; i++) slots.overloaded(slots.epoch())
    expect(slots.limit()).toBe(1)
  })
})
