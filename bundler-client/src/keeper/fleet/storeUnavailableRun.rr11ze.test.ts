import { expect, test, vi } from "vitest"
import { redisFleetSteps } from "./redisStep.testing.js"

// Review rr11ze E6 (Low): the `state-store-unavailable` run (rr11zd D1's fix: SafeRuntime.storeUnavailable) is ended only
// by a successful write of that Safe's in-flight record, the shape rr11zd D3 fixed for `state-write-failed`. A Redis
// outage during a send starts the run; when the Safe is back in band before Redis is, nothing writes its record again
// (there is nothing to send), so the flag stays set: the next outage, at the next send (blocks, days or months later), is
// not alerted for that Safe. The harness is rr11zd D1's (real SafeStep, RebalanceSender, InclusionTracker,
// RedisFleetStore over a Redis stub), with a band and Redis state per block.
const run = process.env.RR11ZE_FAILING ? test : test.skip

vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({
  ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()),
  sendRebalance: vi.fn(),
  estimateRebalance: vi.fn(),
  checkSubAccountOracles: vi.fn(async () => ({ failing: [] })),
}))

/** SafeSteps at `blocks`: each with Redis up or down (every lease script rejecting "Connection is closed.") and the sub-accounts below band or inside (redisFleetSteps). */
function fleetSteps(blocks: { block: bigint; redis: "up" | "down"; band: "below" | "inside" }[]) {
  const down = new Set(blocks.filter((b) => b.redis === "down").map((b) => b.block))
  return redisFleetSteps(async (block) => {
    if (down.has(block)) throw new Error("Connection is closed.")
    return 1
  }, blocks)
}

test("rr11ze E6 (fixed): Redis down during a send at 100 (alerted), the Safe back in band at 101 with Redis up (nothing to write), Redis down again at the next send (5000): alerted again", async () => {
  const r = await fleetSteps([
    { block: 100n, redis: "down", band: "below" },
    { block: 101n, redis: "up", band: "inside" },
    { block: 4999n, redis: "up", band: "inside" },
    { block: 5000n, redis: "down", band: "below" },
  ])
  console.log(`rr11ze E6: alerts ${JSON.stringify(r.alerts)} sends ${r.sends} storeUnavailable per block ${r.flags.join(" ")}`)
  expect(r.sends).toBe(0)
  expect(r.alerts.filter((a) => a.endsWith("state-store-unavailable"))).toEqual(["100 state-store-unavailable", "5000 state-store-unavailable"])
})

test("rr11ze E6 held: Redis down for blocks 100-103 while below band: one alert for the run (no per-block noise), nothing sent", async () => {
  const r = await fleetSteps([100n, 101n, 102n, 103n].map((block) => ({ block, redis: "down" as const, band: "below" as const })))
  console.log(`rr11ze E6 held: alerts ${JSON.stringify(r.alerts)} sends ${r.sends}`)
  expect(r.sends).toBe(0)
  expect(r.alerts).toEqual(["100 state-store-unavailable"])
})
