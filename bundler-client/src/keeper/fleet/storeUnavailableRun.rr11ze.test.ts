import type { Address, Hex } from "viem"
import { expect, test, vi } from "vitest"
import type { KeeperEvent } from "../events.js"
import { portfolioOf } from "../portfolio.js"
import { newSafeRuntime } from "../runtime.js"
import { keeperCosts } from "../safeStep.js"
import type { PendingOperation } from "../stateFile.js"
import { SAFE, STEP_RISK, USDC, senderHarness, stepHarness, stepSafeState, stepSub, testTracker } from "../testing.js"
import { RedisFleetStore } from "./redisStore.js"

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
const { sendRebalance, estimateRebalance } = await import("@levpilot/sdk/actions")
const X = `0x${"a1".repeat(32)}` as Hex
const I = `0x${"b1".repeat(32)}` as Hex

/** SafeSteps at `blocks`: each with Redis up or down (every lease script rejecting "Connection is closed.") and the sub-accounts below band or inside. */
async function fleetSteps(blocks: { block: bigint; redis: "up" | "down"; band: "below" | "inside" }[]) {
  let redisUp = true
  const redis = {
    set: async () => "OK",
    eval: vi.fn(async () => {
      if (!redisUp) throw new Error("Connection is closed.")
      return 1
    }),
    hget: async () => null,
  }
  const store = new RedisFleetStore(redis as never, { prefix: "levpilot", leaseMs: 10_000 })
  expect(await store.acquire(SAFE)).toBe(true)
  const harness = senderHarness({ setPending: (s: Address, p: PendingOperation | undefined) => store.setPending(s, p), nonces: [5n] })
  vi.mocked(sendRebalance).mockReset()
  vi.mocked(sendRebalance).mockResolvedValue(`0x${"11".repeat(32)}`)
  vi.mocked(estimateRebalance).mockReset()
  vi.mocked(estimateRebalance).mockResolvedValue({ userOperation: {} as never, bundlerEstimate: undefined })
  const trackerEvents: KeeperEvent[] = []
  const { tracker } = testTracker({ store, onEvent: (e) => trackerEvents.push(e) })
  const { step, events } = stepHarness(undefined, { sender: harness.sender, store: { pending: (s: Address) => store.pending(s), setPending: (s: Address, p: PendingOperation | undefined) => store.setPending(s, p) }, tracker })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  rt.account = harness.rt.account
  const flags: string[] = []
  for (const { block: b, redis: state, band } of blocks) {
    redisUp = state === "up"
    const health = band === "below" ? [1.01, 1.02] : [1.3, 1.3]
    const snapshot = portfolioOf(stepSafeState([stepSub(X, USDC, health[0] as number, band), stepSub(I, USDC, health[1] as number, band)]) as never, { blockNumber: b, timestamp: 1_700_000_000n + 12n * (b - 100n), risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
    rt.backoffUntil = 0
    await step.run(rt, b, { snapshot })
    flags.push(`${b}:${rt.storeUnavailable !== undefined}`)
  }
  store.dropLeases()
  const all = [...events, ...harness.events, ...trackerEvents]
  return { alerts: all.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}`] : [])), sends: vi.mocked(sendRebalance).mock.calls.length, flags }
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
