import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Address, Hex } from "viem"
import { describe, expect, test, vi } from "vitest"
import { pino } from "pino"
import { KeeperEvents } from "./events.js"
import { KeeperMetrics } from "./metrics.js"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import { type PendingOperation, StateFileLockedError, StateSnapshots } from "./stateFile.js"
import { StoreUnavailableError, writePendingRecord } from "./store.js"
import { SAFE, STEP_MODULE, STEP_RISK, USDC, senderHarness, stepHarness, stepSafeState, stepSub } from "./testing.js"

// Review rr11zf: a state file held by another keeper, as the send path's record write reports it (main 6153c98).
// Fixed (branch err11): the store's StateFileLockedError passes writePendingRecord unchanged (no StoreUnavailableError
// blaming Redis); the step alerts `state-file-locked` on the module once per run of the keeper (ended by the next
// snapshot written), sends nothing while the lock is another's, blames no plan and does not back off.

vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({
  ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()),
  sendRebalance: vi.fn(),
  checkSubAccountOracles: vi.fn(async () => ({ failing: [] })),
}))
const { sendRebalance } = await import("@levpilot/sdk/actions")

const A01: Address = "0x0000000000000000000000000000000000000a01"
const X = `0x${"a1".repeat(32)}` as Hex
const record: PendingOperation = { userOpHash: `0x${"ab".repeat(32)}`, nonce: "5", sentBlock: "90", firstSentBlock: "90", sentAt: 0, maxFeePerGas: "1", maxPriorityFeePerGas: "1", sponsored: false, attempts: 1, triggerBlock: "90", triggerAt: 0 }

/** A lock of another keeper on a state file in a fresh directory. */
function lockedError(): StateFileLockedError {
  const path = join(mkdtempSync(join(tmpdir(), "rr11zf-")), "keeper-state.json")
  writeFileSync(`${path}.lock`, "")
  return new StateFileLockedError({ path, holder: { pid: 4242, host: "other", since: new Date().toISOString(), token: "b".repeat(32) } })
}

describe("rr11zf F3 (Low): another keeper's state-file lock is reported as the fleet's Redis being unavailable", () => {
  test("F3 (was: thrown StoreUnavailableError, its text blaming Redis and promising a retry at the next block): writePendingRecord throws the store's StateFileLockedError as it is", async () => {
    const locked = lockedError()
    const store = { pending: () => undefined, setPending: () => { throw locked } }
    const alerts: string[] = []
    const events = new KeeperEvents({ logger: pino({ level: "silent" }), metrics: new KeeperMetrics(), onEvent: (e) => void (e.type === "alert" && alerts.push(e.kind)) })
    const rt = newSafeRuntime({ address: A01 } as never)
    let thrown: unknown
    try {
      await writePendingRecord({ store, events, logger: pino({ level: "silent" }) }, rt, 100n, record)
    } catch (error) {
      thrown = error
    }
    console.log(`rr11zf F3: thrown ${(thrown as Error).name}: ${(thrown as Error).message.slice(0, 160)}`)
    expect(thrown).not.toBeInstanceOf(StoreUnavailableError)
    expect(thrown).toBe(locked)
    expect(alerts).toEqual([])
    expect(rt.storeUnavailable).toBeUndefined()
  })

  /**
   * Steps of SAFE at `blocks` with the real RebalanceSender; the store refuses every write (StateFileLockedError) while
   * `held(block)`; the keeper's snapshot (StateSnapshots over a store whose flush refuses alike) runs before each step.
   */
  async function steps(blocks: number[], held: (block: number) => boolean) {
    const locked = lockedError()
    let block = 0
    const setPending = async () => {
      if (held(block)) throw locked
    }
    const harness = senderHarness({ setPending, nonces: Array.from({ length: 50 }, () => 5n) })
    vi.mocked(sendRebalance).mockReset().mockResolvedValue(`0x${"11".repeat(32)}`)
    // The blocks at which the SDK's send was reached.
    const sdkSends: number[] = []
    const moduleAlerts: string[] = []
    const events = new KeeperEvents({ logger: pino({ level: "silent" }), metrics: new KeeperMetrics(), onEvent: (e) => void (e.type === "alert" && moduleAlerts.push(`${e.block} ${e.kind} ${e.safe} ${e.message}`)) })
    const snapshots = new StateSnapshots({ store: { flush: async () => void (held(block) && (() => { throw locked })()) }, safe: STEP_MODULE, events, logger: pino({ level: "silent" }) })
    const { step, events: stepEvents } = stepHarness(undefined, { sender: harness.sender, snapshots })
    const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
    rt.account = harness.rt.account
    for (const b of blocks) {
      block = b
      await snapshots.flush(BigInt(b))
      rt.backoffUntil = 0
      const snapshot = portfolioOf(stepSafeState([stepSub(X, USDC, 1.01, "below")]) as never, { blockNumber: BigInt(b), timestamp: 1_700_000_000n + 12n * BigInt(b - 100), risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
      const before = vi.mocked(sendRebalance).mock.calls.length
      await step.run(rt, BigInt(b), { snapshot })
      if (vi.mocked(sendRebalance).mock.calls.length > before) sdkSends.push(b)
    }
    const alerts = [...stepEvents, ...harness.events].flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}`] : []))
    return { sdkSends, alerts, moduleAlerts, locked, rt }
  }

  test("F3: a step whose intent write is refused by another keeper's lock sends nothing, blames no plan, does not back off, and alerts state-file-locked on the module once for the run", async () => {
    const r = await steps([100, 101, 102], () => true)
    console.log(`rr11zf F3 step: sdkSends ${JSON.stringify(r.sdkSends)} alerts ${JSON.stringify(r.alerts)} module ${JSON.stringify(r.moduleAlerts.map((a) => a.slice(0, 120)))}`)
    expect(r.sdkSends).toEqual([])
    // Not blamed on Redis, not the plan's failure.
    expect(r.alerts).toEqual([])
    expect(r.rt.storeUnavailable).toBeUndefined()
    expect(r.rt.backoffUntil).toBe(0)
    // Once for the keeper's run, at its first refused write, on the module; the text names the file, the lock, its holder and what to do.
    expect(r.moduleAlerts.map((a) => a.split(" ").slice(0, 3).join(" "))).toEqual([`100 state-file-locked ${STEP_MODULE}`])
    const text = r.moduleAlerts[0] as string
    expect(text).toContain(r.locked.path)
    expect(text).toContain(r.locked.lockPath)
    expect(text).toContain("process 4242 on host other")
    expect(text).toMatch(/stop the other keeper/)
    expect(text).toMatch(/delete .*\.lock/)
    expect(text).not.toMatch(/Redis/)
  })

  test("F3: once the lock is free (the other keeper stopped), the next snapshot ends the run, the rescue is sent, and a later refusal is alerted again", async () => {
    const r = await steps([100, 101, 102, 103, 104, 105], (b) => b <= 101 || b >= 104)
    console.log(`rr11zf F3 free: sdkSends ${JSON.stringify(r.sdkSends)} module ${JSON.stringify(r.moduleAlerts.map((a) => a.split(" ").slice(0, 2).join(" ")))}`)
    expect(r.sdkSends).toEqual([102, 103])
    expect(r.alerts).toEqual([])
    expect(r.moduleAlerts.map((a) => a.split(" ").slice(0, 2).join(" "))).toEqual(["100 state-file-locked", "104 state-file-locked"])
  })
})
