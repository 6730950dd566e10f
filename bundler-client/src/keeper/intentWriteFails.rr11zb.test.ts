import type { Address, Hex } from "viem"
import { expect, test, vi } from "vitest"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import type { PendingOperation } from "./stateFile.js"
import { StateWriteError, StoreFencedError } from "./store.js"
import { SAFE, STEP_RISK, USDC, senderHarness, stepHarness, stepSafeState, stepSub } from "./testing.js"

// Review rr11zb B1 (issue 11 item 9 / rr11za A3's class: "a failed state-file write no longer stops the Safe"). The A3
// fix covered the alone table's write in SafeStep.run's finally. The intent write is still a precondition of every send:
// RebalanceSender.send's `send` closure (sender.ts `await store.setPending(safe, { ...intent, sponsored })`, then
// `sendRebalance`). When the state file cannot be written (ENOSPC: a disk filled by a crash's logs; EROFS; EACCES) the
// SDK's send is never reached: the Safe gets no operation at all while the disk stays full, in the worst minute, and the
// alert is `send-failed` (the plan's failure), not `state-write-failed`. The nonce, not the file, is what keeps one op
// per nonce: the intent is a tracking aid, held in memory anyway (StateFile.update sets the record before writing).
// Fixed: RebalanceSender.persistPending alerts `state-write-failed` once per run of failing writes and sends anyway; a
// fenced write (the fleet lease lost) still stops the send.
vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({
  ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()),
  sendRebalance: vi.fn(),
  checkSubAccountOracles: vi.fn(async () => ({ failing: [] })),
}))
const { sendRebalance } = await import("@levpilot/sdk/actions")
const X = `0x${"a1".repeat(32)}` as Hex

/** Steps 100..105 with the real RebalanceSender; the state file's writes throw ENOSPC at blocks < `fullUntil`. */
async function steps(fullUntil: number, failure: () => Error = () => new StateWriteError({ path: "/var/lib/levpilot/state.json.journal.3", cause: Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" }) })) {
  let block = 0
  const writes: string[] = []
  const setPending = async (_safe: Address, p: PendingOperation | undefined) => {
    if (block < fullUntil) throw failure()
    writes.push(`${block} ${p === undefined ? "clear" : p.userOpHash === undefined ? "intent" : "hash"}`)
  }
  const harness = senderHarness({ setPending, nonces: Array.from({ length: 50 }, () => 5n) })
  const sdkSends: number[] = []
  vi.mocked(sendRebalance).mockReset()
  vi.mocked(sendRebalance).mockImplementation((async () => {
    sdkSends.push(block)
    return `0x${"11".repeat(32)}`
  }) as never)
  const sender = { send: (rt: never, b: bigint, plan: ChainPlan, replace: never) => harness.sender.send(rt, b, plan, replace) }
  const { step, events } = stepHarness(undefined, { sender })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  rt.account = harness.rt.account
  for (block = 100; block <= 105; block++) {
    rt.backoffUntil = 0
    const snapshot = portfolioOf(stepSafeState([stepSub(X, USDC, 1.01, "below")]) as never, { blockNumber: BigInt(block), timestamp: 1_700_000_000n + 12n * BigInt(block - 100), risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
    await step.run(rt, BigInt(block), { snapshot })
    // Each block's op is its own (nothing in flight is tracked here): the sender plans afresh.
  }
  const alerts = [...events, ...harness.events].flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}`] : []))
  return { sdkSends, alerts, writes }
}

test("rr11zb B1 (held, reference): a writable state file: the rescue reaches the SDK's send at 100", async () => {
  const { sdkSends, writes } = await steps(0)
  expect(sdkSends[0]).toBe(100)
  expect(writes.slice(0, 2)).toEqual(["100 intent", "100 hash"])
})

test("rr11zb B1 (was: 0 SDK sends at 100-103 with the disk full; alerts send-failed, none state-write-failed): the rescue still reaches the SDK's send at 100 with the intent held in memory, and the write failure is alerted state-write-failed", async () => {
  const { sdkSends, alerts } = await steps(104)
  console.log(`rr11zb B1: sdkSends ${JSON.stringify(sdkSends)} alerts ${JSON.stringify(alerts)}`)
  expect(sdkSends).toEqual([100, 101, 102, 103, 104, 105])
  // Once per run of failing writes, at its first block; the plan's send never failed.
  expect(alerts.filter((a) => a.endsWith("state-write-failed"))).toEqual(["100 state-write-failed"])
  expect(alerts.filter((a) => a.endsWith("send-failed"))).toEqual([])
})

test("rr11zb B1: a fenced intent write (the fleet lease lost to another worker) still stops the send", async () => {
  const { sdkSends, alerts } = await steps(102, () => new StoreFencedError({ safe: SAFE }))
  console.log(`rr11zb B1 fenced: sdkSends ${JSON.stringify(sdkSends)} alerts ${JSON.stringify(alerts)}`)
  expect(sdkSends).toEqual([102, 103, 104, 105])
  expect(alerts.filter((a) => a.endsWith("state-write-failed"))).toEqual([])
})

test("rr11zc C2: a store failure that is not the local file's (a shared store whose lease check could not run: Redis unreachable) still stops the send", async () => {
  const { sdkSends, alerts } = await steps(102, () => new Error("Connection is closed."))
  expect(sdkSends).toEqual([102, 103, 104, 105])
  expect(alerts.filter((a) => a.endsWith("state-write-failed"))).toEqual([])
})
