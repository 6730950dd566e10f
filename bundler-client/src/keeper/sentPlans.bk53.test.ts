import { describe, expect, test } from "vitest"
import { type Address, type Hex, encodeAbiParameters, encodeErrorResult, encodeEventTopics, parseAbi } from "viem"
import { entryPoint07Abi } from "viem/account-abstraction"
import { leverageModuleAbi } from "@levpilot/sdk/abis"
import { InclusionTracker } from "./inclusion.js"
import { portfolioOf } from "./portfolio.js"
import { type SafeRuntime, newSafeRuntime } from "./runtime.js"
import type { PendingOperation } from "./stateFile.js"
import { keeperCosts } from "./safeStep.js"
import { sendNotingShortfall } from "./shortfall.js"
import { INCLUSION_HASH, INCLUSION_NONCE, PRICE, SAFE, STEP_RISK, USDC, flashSale, landedUserOp, recordingKeeperParts, resentRecord, stepSafeState, stepSub, subId } from "./testing.js"
import { VolatilityFeed } from "./volatilityFeed.js"

// Helper bk53 (break-it review of stop 53, issue 13): rt.sentPlans against a resend. Helpers copied from
// saleHeld.k52.test.ts (twins 0x01 and 0x02 below their band on a falling oracle).

const A = subId("01")
const B = subId("02")
/** A falling market: the oracle 0.5 % lower each minute (5 blocks of 12 s; the trend samples a price a minute). */
const priceAt = (minute: number) => (PRICE * BigInt(Math.round(1e6 * 0.995 ** minute))) / 1_000_000n
const T0 = 1_700_000_000
const ENTRY_POINT = "0x0000000071727De22E5E9d8BAf0edAc6f37da032"

/** The snapshot at `minute`: twins A and B below their band (health 1.05 at the start), 1e6 USDC idle. */
function snapshotAt(minute: number) {
  const subs = [A, B].map((id) => ({ ...stepSub(id, USDC, 1.05, "below"), price: priceAt(minute) }))
  return portfolioOf(stepSafeState(subs) as never, { blockNumber: 100n + 5n * BigInt(minute), timestamp: BigInt(T0 + 60 * minute), risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
}

/** The module's SaleExceedsRepayment of sub-account `id`: its sales bring at least 10 (base units) but it repays 9. */
const saleExceeds = (id: Hex) => encodeErrorResult({ abi: leverageModuleAbi, errorName: "SaleExceedsRepayment", args: [id, 10n, 9n] })
/** The module's revert of a swap rescue at action 0 whose sale paid less than Morpho pulled (rr13 F6's shortfall). */
const SHORT_SALE = encodeErrorResult({ abi: leverageModuleAbi, errorName: "ActionFailed", args: [0n, encodeErrorResult({ abi: parseAbi(["error Error(string)"]), errorName: "Error", args: ["transferFrom reverted"] })] } as never)

/** The receipt of a reverted operation: the EntryPoint's UserOperationRevertReason with the module's `revert` data. */
function revertReceipt(revert: Hex, block: bigint, userOpHash: Hex = INCLUSION_HASH) {
  const topics = encodeEventTopics({ abi: entryPoint07Abi, eventName: "UserOperationRevertReason", args: { userOpHash, sender: SAFE as Address } })
  const data = encodeAbiParameters([{ type: "uint256" }, { type: "bytes" }], [INCLUSION_NONCE, revert])
  return { logs: [{ address: ENTRY_POINT, topics, data, blockNumber: block, transactionHash: `0x${"cd".repeat(32)}`, logIndex: 0, transactionIndex: 0, blockHash: `0x${"ee".repeat(32)}`, removed: false }] }
}

/** A runtime that has read six minutes of the falling oracle (the trend reads the fall), and the feed. */
function fallingRuntime() {
  const parts = recordingKeeperParts()
  const feed = new VolatilityFeed({ logger: parts.logger, metrics: parts.metrics })
  const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
  for (let m = 0; m < 6; m++) feed.apply(rt, snapshotAt(m))
  return { parts, feed, rt }
}

/** What the keeper's step does: sends `plan` (quoted at minute 6) through `sendNotingShortfall`, the sender throwing `error` when given. */
async function send(rt: SafeRuntime, plan: { subAccounts: Hex[]; actions: ReturnType<typeof flashSale> }, error?: unknown, block = 130n) {
  const sending = sendNotingShortfall(rt, plan, { block, timestamp: T0 + 360 }, () => T0 + 361, async () => (error === undefined ? undefined : Promise.reject(error)))
  if (error === undefined) return sending
  await expect(sending).rejects.toBe(error)
}

const rescueOf = (...ids: Hex[]) => ({ subAccounts: ids, actions: ids.flatMap((_id, i) => flashSale(i, 10n ** 21n, 10n ** 18n)) })

/**
 * The tracker's report of an included operation, the record being `record` (the sender's latest: a resend's), the
 * UserOperationEvent's hash `landedHash` (the operation that really landed), reverted with `revert`.
 */
async function includeRecord(parts: ReturnType<typeof recordingKeeperParts>, rt: SafeRuntime, record: PendingOperation, block: bigint, landedHash: Hex, revert: Hex) {
  let pending: PendingOperation | undefined = record
  const tracker = new InclusionTracker({
    config: { deployment: { entryPoint: ENTRY_POINT } as never, resubmitAfterBlocks: 10, stallAfterBlocks: 30, logWindowBlocks: 1_000 },
    publicClient: { getTransactionReceipt: async () => revertReceipt(revert, block, landedHash) } as never,
    store: { pending: async () => pending, setPending: async (_s: Address, p: PendingOperation | undefined) => void (pending = p) },
    metrics: parts.metrics,
    logger: parts.logger,
    events: parts.keeperEvents,
    clock: { now: () => (T0 + 420) * 1_000 } as never,
  })
  const event = landedUserOp(block, false)
  const lookup = { findEvent: async () => ({ ...event, args: { ...event.args, userOpHash: landedHash } }), chainNonce: async () => INCLUSION_NONCE + 1n }
  expect(await tracker.track(rt, record, block + 1n, lookup as never)).toBe("included")
}

const RESEND_HASH = `0x${"77".repeat(32)}` as Hex

// Helper bk53 (break-it review of stop 53, rt.sentPlans): the plan is looked up by the record's sentBlock only. A resend
// (a replacement at the same nonce, quoted at a later block) that the bundler accepted rewrites the record (sentBlock,
// userOpHash), but the operation it meant to replace can still be the one included (it was mined before the bundler
// swapped it: the tracker logs it as `known: false`). Its revert is then charged to the resend's plan.
describe("bk53: a replaced operation that lands anyway is charged to its own plan", () => {
  test("fixed (was FAILS TODAY, bk53): A's rescue quoted at 130 (hash INCLUSION_HASH), resent at 140 as B's rescue (hash 0x77..), A's operation lands at 141 reverted short at action 0: A is widened, B is not", async () => {
    const { parts, rt } = fallingRuntime()
    await send(rt, rescueOf(A), undefined, 130n)
    // The resend at 140 with B's plan: accepted by the bundler, the record now says sent at 140 with the resend's hash.
    await send(rt, rescueOf(B), undefined, 140n)
    const record: PendingOperation = { ...resentRecord(130n, 140n), userOpHash: RESEND_HASH }
    // The event found at the nonce is A's operation (the first send), reverted with A's swap rescue short.
    await includeRecord(parts, rt, record, 141n, INCLUSION_HASH, SHORT_SALE)
    expect(rt.shortfallFallSeconds?.has(B) ?? false).toBe(false)
    expect(rt.shortfallFallSeconds?.has(A)).toBe(true)
  })

  test("fixed (was FAILS TODAY, bk53): the same, A's operation reverted with SaleExceedsRepayment naming A: A is held", async () => {
    const { parts, rt } = fallingRuntime()
    await send(rt, rescueOf(A), undefined, 130n)
    await send(rt, rescueOf(B), undefined, 140n)
    const record: PendingOperation = { ...resentRecord(130n, 140n), userOpHash: RESEND_HASH }
    await includeRecord(parts, rt, record, 141n, INCLUSION_HASH, saleExceeds(A))
    expect(rt.saleHeld?.has(A)).toBe(true)
  })

  test("control: the resend itself lands (hash 0x77..) reverted short at action 0: B is widened", async () => {
    const { parts, rt } = fallingRuntime()
    await send(rt, rescueOf(A), undefined, 130n)
    await send(rt, rescueOf(B), undefined, 140n)
    const record: PendingOperation = { ...resentRecord(130n, 140n), userOpHash: RESEND_HASH }
    await includeRecord(parts, rt, record, 141n, RESEND_HASH, SHORT_SALE)
    expect(rt.shortfallFallSeconds?.has(B)).toBe(true)
    expect(rt.shortfallFallSeconds?.has(A) ?? false).toBe(false)
  })

  test("two earlier sends can be the one that landed (A at 130, B at 135, the record's latest C at 140): nothing is charged rather than the wrong plan", async () => {
    const { parts, rt } = fallingRuntime()
    await send(rt, rescueOf(A), undefined, 130n)
    await send(rt, rescueOf(B), undefined, 135n)
    await send(rt, rescueOf(A, B), undefined, 140n)
    const record: PendingOperation = { ...resentRecord(130n, 140n), userOpHash: RESEND_HASH }
    await includeRecord(parts, rt, record, 141n, INCLUSION_HASH, SHORT_SALE)
    expect(rt.shortfallFallSeconds?.size ?? 0).toBe(0)
    expect(rt.sentPlans?.size ?? 0).toBe(0)
  })
})
