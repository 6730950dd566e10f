import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Address, Hex } from "viem"
import { expect, test, vi } from "vitest"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import type { KeeperEvent } from "./events.js"
import type { InclusionLookup } from "./inclusionLookup.js"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import { KeeperStateStore, type PendingOperation } from "./stateFile.js"
import { INCLUSION_ENTRY_POINT, INCLUSION_NONCE, SAFE, STEP_RISK, USDC, landedUserOp, senderHarness, stepHarness, stepSafeState, stepSub, testTracker } from "./testing.js"

// Review rr11zc C1 (rr11zb B1's class, item 9: "a failed state-file write no longer stops the Safe"). The B1 fix made
// the SENDER's writes of the in-flight record (RebalanceSender.persistPending) non-fatal, but the InclusionTracker
// writes the same record with a bare `store.setPending` (inclusion.ts:110, 116, 128, 165, 173, 180, 226). With the real
// KeeperStateStore on a state file that cannot be written (here ENOTDIR: its directory is a file; ENOSPC / EROFS take the
// same path: `append` throws after the record is set in memory), the tracker's write throws out of `track`, and
// SafeStep.run's catch (safeStep.ts:473-508) alerts it as the plan's failure (`send-failed`) and backs the Safe off:
// - a record ahead of the chain (`dropped`: a reorg dropped the op before): the fresh rescue SafeStep sends "at the
//   chain's nonce in this same block" is never sent;
// - a landed operation (`included`): no `included` event, the reaction latency / counters after the clear are skipped,
//   and the Safe is backed off right after its operation landed.
// Fixed: every in-flight record write goes through `writePendingRecord` (store.ts): the file store's StateWriteError is
// alerted state-write-failed once per run and the tracker / step go on.

vi.mock("@levpilot/sdk/actions", async (importOriginal) => ({
  ...(await importOriginal<typeof import("@levpilot/sdk/actions")>()),
  sendRebalance: vi.fn(),
  checkSubAccountOracles: vi.fn(async () => ({ failing: [] })),
}))
const { sendRebalance } = await import("@levpilot/sdk/actions")
const X = `0x${"a1".repeat(32)}` as Hex

/** A real KeeperStateStore whose journal cannot be written (its directory is a regular file: ENOTDIR), bound. */
function unwritableStore() {
  const dir = mkdtempSync(join(tmpdir(), "rr11zc-"))
  const blocker = join(dir, "state")
  writeFileSync(blocker, "not a directory")
  const store = new KeeperStateStore(join(blocker, "keeper-state.json"))
  store.bind({ chainId: 1, entryPoint: INCLUSION_ENTRY_POINT, module: "0x00000000000000000000000000000000000000aa", keeper: "0x00000000000000000000000000000000000000ee" })
  return store
}

/** Seeds `record` in the store's memory (its journal write fails: the record is held in memory anyway). */
function seed(store: KeeperStateStore, record: PendingOperation) {
  let thrown: unknown
  try {
    store.setPending(SAFE, record)
  } catch (error) {
    thrown = error
  }
  expect(((thrown as { cause?: NodeJS.ErrnoException } | undefined)?.cause ?? (thrown as NodeJS.ErrnoException | undefined))?.code, "the store cannot write").toMatch(/ENOTDIR|EEXIST/)
  expect(store.pending(SAFE)?.nonce).toBe(record.nonce)
}

const record = (nonce: bigint, sentBlock: bigint): PendingOperation => ({
  userOpHash: `0x${"ab".repeat(32)}`,
  nonce: nonce.toString(),
  sentBlock: sentBlock.toString(),
  firstSentBlock: sentBlock.toString(),
  subAccounts: [X.toLowerCase()],
  sentAt: 0,
  maxFeePerGas: "10000000000",
  maxPriorityFeePerGas: "1000000000",
  sponsored: true,
  attempts: 1,
  triggerBlock: sentBlock.toString(),
  triggerAt: 0,
})

/** One SafeStep at block 100 (one sub-account below its band) with the real tracker, sender and store. */
async function stepWith(store: KeeperStateStore, lookup: InclusionLookup, chainNonce: bigint) {
  const trackerEvents: KeeperEvent[] = []
  const { tracker } = testTracker({ store, lookup, onEvent: (e) => trackerEvents.push(e) })
  const harness = senderHarness({ setPending: async (s: Address, p: PendingOperation | undefined) => store.setPending(s, p), nonces: [chainNonce] })
  const sdkSends: string[] = []
  vi.mocked(sendRebalance).mockReset()
  vi.mocked(sendRebalance).mockImplementation((async (_c: unknown, { nonce }: { plan: ChainPlan; nonce: bigint }) => {
    sdkSends.push(`100 n${nonce}`)
    return `0x${"11".repeat(32)}`
  }) as never)
  const sender = { send: (rt: never, b: bigint, plan: ChainPlan, replace: never) => harness.sender.send(rt, b, plan, replace) }
  const { step, events } = stepHarness(undefined, { sender, store: { pending: (s: Address) => store.pending(s), setPending: (s: Address, p: PendingOperation | undefined) => store.setPending(s, p) }, tracker })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  rt.account = harness.rt.account
  const snapshot = portfolioOf(stepSafeState([stepSub(X, USDC, 1.01, "below")]) as never, { blockNumber: 100n, timestamp: 1_700_000_000n, risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
  await step.run(rt, 100n, { snapshot })
  const all = [...events, ...harness.events, ...trackerEvents]
  const alerts = all.flatMap((e) => (e.type === "alert" ? [`${e.block} ${e.kind}`] : []))
  return { sdkSends, alerts, all, rt }
}

test("rr11zc C1 (held, reference): the same dropped record on a writable store: nonce-mismatch, then the rescue at the chain's nonce in the same block", async () => {
  const dir = mkdtempSync(join(tmpdir(), "rr11zc-ok-"))
  const store = new KeeperStateStore(join(dir, "keeper-state.json"))
  store.bind({ chainId: 1, entryPoint: INCLUSION_ENTRY_POINT, module: "0x00000000000000000000000000000000000000aa", keeper: "0x00000000000000000000000000000000000000ee" })
  store.setPending(SAFE, record(6n, 90n))
  const lookup = { chainNonce: async () => 5n, findEvent: async () => undefined } as InclusionLookup
  const { sdkSends, alerts } = await stepWith(store, lookup, 5n)
  expect(alerts).toContain("100 nonce-mismatch")
  expect(sdkSends).toEqual(["100 n5"])
  expect(alerts.filter((a) => a.endsWith("send-failed"))).toEqual([])
})

test("rr11zc C1 (was: 0 SDK sends, alerts nonce-mismatch + send-failed, the Safe backed off): a dropped record whose clear cannot be written still leads to the rescue at the chain's nonce in the same block, alerted state-write-failed, not send-failed", async () => {
  const store = unwritableStore()
  seed(store, record(6n, 90n))
  const lookup = { chainNonce: async () => 5n, findEvent: async () => undefined } as InclusionLookup
  const { sdkSends, alerts, rt } = await stepWith(store, lookup, 5n)
  console.log(`rr11zc C1 dropped: sdkSends ${JSON.stringify(sdkSends)} alerts ${JSON.stringify(alerts)} backoffUntil ${rt.backoffUntil}`)
  expect(alerts.filter((a) => a.endsWith("send-failed"))).toEqual([])
  expect(sdkSends).toEqual(["100 n5"])
  expect(alerts).toContain("100 state-write-failed")
})

test("rr11zc C1b (was: track rejects with the file system's error, no included event): an operation that landed is reported included even when its record's clear cannot be written", async () => {
  const store = unwritableStore()
  const landed = { ...record(INCLUSION_NONCE, 95n), userOpHash: landedUserOp(99n).args.userOpHash as Hex }
  seed(store, landed)
  const events: KeeperEvent[] = []
  const { tracker } = testTracker({ store, onEvent: (e) => events.push(e) })
  const lookup = { chainNonce: async () => INCLUSION_NONCE + 1n, findEvent: async () => landedUserOp(99n) } as unknown as InclusionLookup
  const rt = newSafeRuntime({ address: SAFE } as never)
  let verdict: string
  try {
    verdict = await tracker.track(rt, landed, 100n, lookup)
  } catch (error) {
    verdict = `threw ${(error as NodeJS.ErrnoException).code}`
  }
  console.log(`rr11zc C1b included: verdict ${verdict}, events ${JSON.stringify(events.map((e) => e.type))}`)
  expect(verdict).toBe("included")
  expect(events.map((e) => e.type)).toContain("included")
  // The record is cleared in memory (the next step does not track it again).
  expect(store.pending(SAFE)).toBeUndefined()
})

test("rr11zc C1c (was: the step alerts send-failed and backs the Safe off after its own operation landed): an inclusion whose clear cannot be written is not the plan's failure", async () => {
  const store = unwritableStore()
  seed(store, record(INCLUSION_NONCE, 95n))
  const lookup = { chainNonce: async () => INCLUSION_NONCE + 1n, findEvent: async () => landedUserOp(99n) } as unknown as InclusionLookup
  const { alerts, rt } = await stepWith(store, lookup, INCLUSION_NONCE + 1n)
  console.log(`rr11zc C1c included in a step: alerts ${JSON.stringify(alerts)} backoffUntil ${rt.backoffUntil}`)
  // The same step on a writable store: whatever it alerts (this harness's stub client fails the step's rescue read after
  // the inclusion alike on both: "client.request is not a function"), the unwritable one alerts exactly that plus one
  // state-write-failed: the failed clear adds no failure of its own.
  const dir = mkdtempSync(join(tmpdir(), "rr11zc-ok-"))
  const writable = new KeeperStateStore(join(dir, "keeper-state.json"))
  writable.bind({ chainId: 1, entryPoint: INCLUSION_ENTRY_POINT, module: "0x00000000000000000000000000000000000000aa", keeper: "0x00000000000000000000000000000000000000ee" })
  writable.setPending(SAFE, record(INCLUSION_NONCE, 95n))
  const reference = await stepWith(writable, lookup, INCLUSION_NONCE + 1n)
  expect(alerts.filter((a) => !a.endsWith("state-write-failed"))).toEqual(reference.alerts)
  expect(alerts.filter((a) => a.endsWith("state-write-failed"))).toEqual(["100 state-write-failed"])
})

