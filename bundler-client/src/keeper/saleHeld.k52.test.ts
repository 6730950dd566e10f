import { describe, expect, test } from "vitest"
import { type Address, type Hex, encodeAbiParameters, encodeErrorResult, encodeEventTopics, parseAbi } from "viem"
import { entryPoint07Abi } from "viem/account-abstraction"
import { leverageModuleAbi } from "@levpilot/sdk/abis"
import { ActionFailedError, HealthOutsideLandingZoneError, LeverageModuleRevertedError, PoolNotUsedError, SaleExceedsRepaymentError } from "@levpilot/sdk/errors"
import { solveByLoanAsset } from "../solver/solver.js"
import type { SolverInput } from "../solver/types.js"
import { InclusionTracker } from "./inclusion.js"
import { portfolioOf } from "./portfolio.js"
import { type SafeRuntime, newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import type { PendingOperation } from "./stateFile.js"
import { SENT_PLANS_KEPT, fixedTakeRescuesOf, liveWindowSeconds, modeRescuesOf, overTopSubAccountOf, overTopSubAccountsOf, poolNotUsedSubAccountOf, poolUnusedHeldSubAccountsOf, saleHeldSubAccountOf, saleHeldSubAccountsOf, sendNotingShortfall, swapRescuesOf } from "./shortfall.js"
import { INCLUSION_HASH, INCLUSION_NONCE, PRICE, SAFE, STEP_RISK, USDC, flashSale, landedUserOp, recordingKeeperParts, resentRecord, stepSafeState, stepSub, subId } from "./testing.js"
import { VolatilityFeed } from "./volatilityFeed.js"

// Stop 52, live keeper: after a sale of sub-account 0x01 fails with the module's SaleExceedsRepayment (its on-chain
// minimum at the inclusion oracle above its fixed repayment: the price held where the plan was sized for a fall), the
// keeper plans 0x01 at the read price (no falling inclusionDrift) until one of its plans lands or a shortfall (rr13 F6)
// is noted for it; its twin 0x02 keeps the drift. Before k52 only the backtester did (engine.ts `saleHeld`).

const A = subId("01")
const B = subId("02")
const C = subId("03")
/** A falling market: the oracle 0.5 % lower each minute (5 blocks of 12 s; the trend samples a price a minute). */
const priceAt = (minute: number) => (PRICE * BigInt(Math.round(1e6 * 0.995 ** minute))) / 1_000_000n
const T0 = 1_700_000_000
const ENTRY_POINT = "0x0000000071727De22E5E9d8BAf0edAc6f37da032"

/** The snapshot at `minute`: twins A and B below their band (health 1.05 at the start), 1e6 USDC idle. */
function snapshotAt(minute: number) {
  const subs = [A, B].map((id) => ({ ...stepSub(id, USDC, 1.05, "below"), price: priceAt(minute) }))
  return portfolioOf(stepSafeState(subs) as never, { blockNumber: 100n + 5n * BigInt(minute), timestamp: BigInt(T0 + 60 * minute), risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
}

/** The `inclusionDrift` (log price to inclusion; 0 when absent) and the solver's repayment (USDC) of each twin. */
function planned(input: SolverInput) {
  const sub = (id: Hex) => input.subAccounts.find((s) => s.state.id.toLowerCase() === id)
  const plan = [...solveByLoanAsset(input).values()].find((r) => r.plan)?.plan
  const repaid = (id: Hex) => plan?.actions.filter((a) => a.kind === "Repay" && plan.subAccounts[a.subAccount]?.toLowerCase() === id).reduce((s, a) => s + a.amount, 0) ?? 0
  return { a: { drift: sub(A)?.inclusionDrift ?? 0, hasDrift: sub(A) !== undefined && "inclusionDrift" in (sub(A) as object), repaid: repaid(A) }, b: { drift: sub(B)?.inclusionDrift ?? 0, repaid: repaid(B) } }
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

/** The inclusion tracker's report of the last sent operation, included at `block`: landed, or reverted with `revert`. */
async function include(parts: ReturnType<typeof recordingKeeperParts>, rt: SafeRuntime, block: bigint, revert?: Hex) {
  let pending = resentRecord(block - 5n, block - 5n)
  const tracker = new InclusionTracker({
    config: { deployment: { entryPoint: ENTRY_POINT } as never, resubmitAfterBlocks: 10, stallAfterBlocks: 30, logWindowBlocks: 1_000 },
    publicClient: { getTransactionReceipt: async () => revertReceipt(revert ?? "0x", block) } as never,
    store: { pending: async () => pending, setPending: async (_s: Address, p: typeof pending | undefined) => void (pending = p as typeof pending) },
    metrics: parts.metrics,
    logger: parts.logger,
    events: parts.keeperEvents,
    clock: { now: () => (T0 + 420) * 1_000 } as never,
  })
  const lookup = { findEvent: async () => landedUserOp(block, revert === undefined), chainNonce: async () => INCLUSION_NONCE + 1n }
  expect(await tracker.track(rt, pending, block + 1n, lookup as never)).toBe("included")
}

const rescueOf = (...ids: Hex[]) => ({ subAccounts: ids, actions: ids.flatMap((_id, i) => flashSale(i, 10n ** 21n, 10n ** 18n)) })

/** {@link rescueOf} sent in the module's sale-minimum repayment mode (`repayment: "sale-minimum"` on each opener). */
const modeRescueOf = (...ids: Hex[]) => {
  const plan = rescueOf(...ids)
  return { ...plan, actions: plan.actions.map((a) => (a.kind === "RepayWithCallback" ? { ...a, repayment: "sale-minimum" as const } : a)) }
}

/**
 * The held side, both ways: a send of `planOf(B, A)` refused with `refusal` holds A only (A planned at the read price,
 * its twin B as without the refusal); `planOf(A)` sent and included reverted with `revert` holds A.
 */
async function expectHeldAtSendAndInclusion(planOf: typeof rescueOf, refusal: unknown, revert: Hex) {
  const control = fallingRuntime()
  const expected = planned(control.feed.apply(control.rt, snapshotAt(7)).input)
  const { feed, rt } = fallingRuntime()
  await send(rt, planOf(B, A), refusal)
  expect([...(rt.saleHeld ?? [])]).toEqual([A])
  const after = planned(feed.apply(rt, snapshotAt(7)).input)
  expect(after.a.hasDrift).toBe(false)
  expect(after.b).toEqual(expected.b)

  const chain = fallingRuntime()
  await send(chain.rt, planOf(A))
  await include(chain.parts, chain.rt, 135n, revert)
  expect(chain.rt.saleHeld?.has(A)).toBe(true)
}

describe("keeper: a sub-account whose sale failed with SaleExceedsRepayment is planned at the read price (stop 52, rt.saleHeld)", () => {
  test("a send refused with SaleExceedsRepayment (SDK validation or bundler simulation): that sub-account's next input has no falling inclusionDrift, its twin keeps its own", async () => {
    // The same market without any failure: both twins planned for the fall to inclusion.
    const control = fallingRuntime()
    const expected = planned(control.feed.apply(control.rt, snapshotAt(7)).input)
    expect(expected.a.drift).toBeLessThan(0)
    expect(expected.a).toMatchObject({ drift: expected.b.drift, repaid: expected.b.repaid })
    expect(expected.a.repaid).toBeGreaterThan(0)

    // The SDK's validation (its rule book, as the module) names A in a two-sub-account plan: only A is held.
    const { feed, rt } = fallingRuntime()
    const validation = new SaleExceedsRepaymentError({ subAccount: A, minOut: 10n, repaid: 9n })
    await send(rt, rescueOf(B, A), validation)
    expect([...(rt.saleHeld ?? [])]).toEqual([A])
    const after = planned(feed.apply(rt, snapshotAt(7)).input)
    expect(after.a.hasDrift).toBe(false)
    expect(after.b).toEqual(expected.b)
    // Sized at the read price (no fall to inclusion), A's rescue repays less than its twin's.
    expect(after.a.repaid).toBeGreaterThan(0)
    expect(after.a.repaid).toBeLessThan(after.b.repaid)

    // A bundler's simulation: the module's revert data in the chain's messages, under the SDK's generic error.
    const simulated = fallingRuntime()
    const error = new LeverageModuleRevertedError({ errorName: "SaleExceedsRepayment", args: [A, 10n, 9n], cause: new Error(`UserOperation reverted during simulation with reason: ${saleExceeds(A)}`) })
    await send(simulated.rt, rescueOf(A), error)
    expect(planned(simulated.feed.apply(simulated.rt, snapshotAt(7)).input).a).toEqual(after.a)

    // Not held: another module error, a venue's refusal, or a SaleExceedsRepayment naming a sub-account not in the plan.
    expect(saleHeldSubAccountOf(saleExceeds(A))).toBe(A)
    expect(saleHeldSubAccountOf(SHORT_SALE)).toBeUndefined()
    expect(saleHeldSubAccountsOf(new Error(`execution reverted: ${saleExceeds(C)}`), [A, B])).toEqual([])
    expect(saleHeldSubAccountsOf(new SaleExceedsRepaymentError({ subAccount: C, minOut: 1n, repaid: 0n }), [A, B])).toEqual([])
    expect(saleHeldSubAccountsOf(new Error(`execution reverted: ${SHORT_SALE}`), [A, B])).toEqual([])
  })

  test("an included operation reverted with SaleExceedsRepayment holds A; a landing of a plan of A clears it", async () => {
    const { parts, feed, rt } = fallingRuntime()
    await send(rt, rescueOf(A))
    await include(parts, rt, 135n, saleExceeds(A))
    expect(parts.events.find((e) => e.type === "included")).toMatchObject({ success: false })
    const held = planned(feed.apply(rt, snapshotAt(7)).input)
    expect(held.a.hasDrift).toBe(false)
    expect(held.b.drift).toBeLessThan(0)

    // A plan of A lands: planned for the fall again, as its twin.
    await send(rt, { subAccounts: [A], actions: [{ kind: "Repay", subAccount: 0, amount: 1n }] } as never, undefined, 136n)
    await include(parts, rt, 141n)
    const cleared = planned(feed.apply(rt, snapshotAt(8)).input)
    expect(cleared.a.drift).toBeLessThan(0)
    expect(cleared.a).toMatchObject({ drift: cleared.b.drift, repaid: cleared.b.repaid })
    expect(rt.saleHeld?.size ?? 0).toBe(0)
  })

  test("each side clears the other: a shortfall noted for A clears its hold, a hold clears its shortfall", async () => {
    // Held by a refused send, then A's swap rescue reverts on chain short of its repayment 60 s after its quote.
    const { parts, feed, rt } = fallingRuntime()
    await send(rt, rescueOf(A), new SaleExceedsRepaymentError({ subAccount: A, minOut: 10n, repaid: 9n }))
    expect(rt.saleHeld?.has(A)).toBe(true)
    await send(rt, rescueOf(A))
    await include(parts, rt, 135n, SHORT_SALE)
    expect(rt.saleHeld?.has(A) ?? false).toBe(false)
    expect(rt.shortfallFallSeconds?.get(A)).toBe(60)
    const widened = planned(feed.apply(rt, snapshotAt(7)).input)
    // Planned for the fall over the 60 s the rescue took (2.5 x the live 24 s of its twin), not at the read price.
    expect(widened.b.drift).toBeLessThan(0)
    expect(widened.a.drift).toBeCloseTo(2.5 * widened.b.drift, 12)

    // The other way: a shortfall refused at send (the SDK's rule book), then a sale refused as SaleExceedsRepayment.
    const other = fallingRuntime()
    expect(other.rt.blockSeconds).toBe(12)
    await send(other.rt, rescueOf(A), new ActionFailedError({ index: 0, reason: "0x", detail: `inside the callback: needs 74420 of ${USDC} but the Safe holds 74362` }))
    expect(other.rt.shortfallFallSeconds?.get(A)).toBe(1 + liveWindowSeconds(other.rt))
    await send(other.rt, rescueOf(A), new SaleExceedsRepaymentError({ subAccount: A, minOut: 10n, repaid: 9n }))
    expect(other.rt.shortfallFallSeconds?.has(A) ?? false).toBe(false)
    expect(planned(other.feed.apply(other.rt, snapshotAt(7)).input).a.hasDrift).toBe(false)
  })
})

// Review rv61 M1 (stop 61): in the sale-minimum repayment mode (the keeper's default) the repayment follows the price,
// so a price that held or rose where the rescue was sized for a fall shows as a landing over the zone's top
// (HealthOutsideLandingZone, health above the top), not as SaleExceedsRepayment: a mode rescue refused so holds its
// sub-account, as the backtester's engine (`saleZoneSide`). A fixed-take rescue, or a landing under the floor, does not.
describe("keeper: a sale-minimum rescue that lands over its zone's top is planned at the read price (rv61 M1)", () => {
  const WAD = 10n ** 18n
  const zone = (id: Hex, health: bigint) => encodeErrorResult({ abi: leverageModuleAbi, errorName: "HealthOutsideLandingZone", args: [id, health, (14n * WAD) / 10n, (155n * WAD) / 100n] })

  test("refused at send (the SDK's rule book) or reverted at inclusion over the top: held; under the floor or in the fixed take: not", async () => {
    expect([...modeRescuesOf(modeRescueOf(B, A))]).toEqual([B, A])
    expect(modeRescuesOf(rescueOf(A)).size).toBe(0)
    expect(overTopSubAccountOf(zone(A, (16n * WAD) / 10n))).toBe(A)
    expect(overTopSubAccountOf(zone(A, (13n * WAD) / 10n))).toBeUndefined()
    expect(overTopSubAccountOf(saleExceeds(A))).toBeUndefined()
    const over = new HealthOutsideLandingZoneError({ subAccount: A, health: (16n * WAD) / 10n, low: (14n * WAD) / 10n, high: (155n * WAD) / 100n })
    expect(overTopSubAccountsOf(over, new Set([A]))).toEqual([A])
    expect(overTopSubAccountsOf(over, new Set([B]))).toEqual([])
    expect(overTopSubAccountsOf(new Error(`execution reverted: ${zone(A, (16n * WAD) / 10n)}`), new Set([A]))).toEqual([A])

    // The SDK's validation refuses A's mode rescue over the top: A is planned at the read price, its twin keeps the fall;
    // on chain the mode rescue reverts over the top at inclusion: held.
    await expectHeldAtSendAndInclusion(modeRescueOf, over, zone(A, (16n * WAD) / 10n))

    // Not held: the fixed take over the top (its own SaleExceedsRepayment says it), the mode under the floor.
    const fixed = fallingRuntime()
    await send(fixed.rt, rescueOf(A), over)
    await send(fixed.rt, rescueOf(A))
    await include(fixed.parts, fixed.rt, 135n, zone(A, (16n * WAD) / 10n))
    expect(fixed.rt.saleHeld?.has(A) ?? false).toBe(false)
    const floor = fallingRuntime()
    await send(floor.rt, modeRescueOf(A))
    await include(floor.parts, floor.rt, 135n, zone(A, (13n * WAD) / 10n))
    expect(floor.rt.saleHeld?.has(A) ?? false).toBe(false)
  })
})

// Issue 13, stop 63 (review rv62's -12 % variant of rr13w W3, on an Aave account): a fixed-take sale whose callback
// also repays loan token withdrawn from a pool keeps its repayment above the sale's minimum when the price rises before
// inclusion, so it does not meet SaleExceedsRepayment; the minimum rises into the part the pool pays instead, and the
// module's inflow rule refuses the withdrawal (PoolNotUsed naming the sale's sub-account). The same side of the window:
// held. A mode rescue (its repayment follows the minimum) or a sub-account without a sale in the plan is not.
describe("keeper: a prefunded fixed-take sale refused with PoolNotUsed is planned at the read price (stop 63)", () => {
  const POOL = "0x00000000000000000000000000000000000000a1" as Address
  const unused = (id: Hex) => encodeErrorResult({ abi: leverageModuleAbi, errorName: "PoolNotUsed", args: [id, POOL] })
  const sentOf = (plan: ReturnType<typeof rescueOf>) => ({ rescues: swapRescuesOf(plan), modeRescues: modeRescuesOf(plan) })

  test("decoding: PoolNotUsed names its sub-account; only a plan's fixed-take rescues count", () => {
    expect(poolNotUsedSubAccountOf(unused(A))).toBe(A)
    expect(poolNotUsedSubAccountOf(saleExceeds(A))).toBeUndefined()
    expect([...fixedTakeRescuesOf(sentOf(rescueOf(B, A)))]).toEqual([B, A])
    expect(fixedTakeRescuesOf(sentOf(modeRescueOf(A))).size).toBe(0)
    const sdk = new PoolNotUsedError({ subAccount: A, pool: POOL })
    expect(sdk.subAccount).toBe(A)
    expect(poolUnusedHeldSubAccountsOf(sdk, new Set([A]))).toEqual([A])
    expect(poolUnusedHeldSubAccountsOf(sdk, new Set([B]))).toEqual([])
    expect(poolUnusedHeldSubAccountsOf(new Error(`execution reverted: ${unused(A)}`), new Set([A]))).toEqual([A])
    expect(poolUnusedHeldSubAccountsOf(new Error(`execution reverted: ${saleExceeds(A)}`), new Set([A]))).toEqual([])
  })

  test("refused at send (the SDK's rule book) or reverted at inclusion: held, its twin keeps the fall; a mode rescue or a plan without A's sale: not", async () => {
    await expectHeldAtSendAndInclusion(rescueOf, new PoolNotUsedError({ subAccount: A, pool: POOL }), unused(A))

    // Not held: the mode rescue (at send and on chain), and a plan whose sale is B's while the refusal names A.
    const mode = fallingRuntime()
    await send(mode.rt, modeRescueOf(A), new PoolNotUsedError({ subAccount: A, pool: POOL }))
    await send(mode.rt, modeRescueOf(A))
    await include(mode.parts, mode.rt, 135n, unused(A))
    expect(mode.rt.saleHeld?.has(A) ?? false).toBe(false)
    const other = fallingRuntime()
    await send(other.rt, { subAccounts: [A, B], actions: flashSale(1, 10n ** 21n, 10n ** 18n) }, new PoolNotUsedError({ subAccount: A, pool: POOL }))
    expect(other.rt.saleHeld?.size ?? 0).toBe(0)
  })
})

// Which plan an included operation's fate is charged to (k52's open item, stop 53): the one sent with that operation
// (the record's sentBlock), not the last one handed to the sender. Before, `rt.sentPlan` kept a plan whose send threw
// (nothing went out) or that the bundler answered "already in flight" for, and the earlier operation's revert was read
// against its action indexes and sub-accounts.
describe("keeper: an included operation's revert is charged to the plan it carried (stop 53, rt.sentPlans)", () => {
  test("a later plan whose send threw: the operation in flight (A's rescue) reverts short; A is widened, B is not", async () => {
    const { parts, rt } = fallingRuntime()
    await send(rt, rescueOf(A), undefined, 130n)
    // At block 133 a plan for B only (its rescue at action 0) fails at the bundler: nothing goes out.
    await send(rt, rescueOf(B), new Error("bundler refused: AA21 didn't pay prefund"), 133n)
    // The record the tracker reads is A's operation's (sent at 130), included at 135 short of its repayment.
    await include(parts, rt, 135n, SHORT_SALE)
    expect(rt.shortfallFallSeconds?.get(A)).toBe(60)
    expect(rt.shortfallFallSeconds?.has(B) ?? false).toBe(false)
    expect(rt.sentPlans?.size ?? 0).toBe(0)
  })

  test("a later plan the sender returned from without sending (an operation already in flight): A's operation's held sale holds A, not B", async () => {
    const { parts, rt } = fallingRuntime()
    await send(rt, rescueOf(A), undefined, 130n)
    await send(rt, rescueOf(B), undefined, 133n)
    await include(parts, rt, 135n, saleExceeds(A))
    expect(rt.saleHeld?.has(A)).toBe(true)
    // B's plan is not the one included: its held read would be the same module error naming A, never B.
    expect(rt.saleHeld?.has(B) ?? false).toBe(false)
    // And its shortfall: B's rescue index 0 is not read against A's operation's ActionFailed(0).
    const again = fallingRuntime()
    await send(again.rt, rescueOf(A), undefined, 130n)
    await send(again.rt, rescueOf(B), undefined, 133n)
    await include(again.parts, again.rt, 135n, SHORT_SALE)
    expect(again.rt.shortfallFallSeconds?.get(A)).toBe(60)
    expect(again.rt.shortfallFallSeconds?.has(B) ?? false).toBe(false)
  })

  test("plans kept are bounded (SENT_PLANS_KEPT) and an operation with no plan known is charged to none", async () => {
    const { parts, rt } = fallingRuntime()
    for (let b = 100n; b < 100n + BigInt(SENT_PLANS_KEPT) + 4n; b++) await send(rt, rescueOf(A), undefined, b)
    expect(rt.sentPlans?.size).toBe(SENT_PLANS_KEPT)
    // The record says sent at 130, a block no plan was quoted at (e.g. sent before a restart): nothing noted.
    await include(parts, rt, 135n, SHORT_SALE)
    expect(rt.shortfallFallSeconds?.size ?? 0).toBe(0)
    expect(rt.sentPlans?.size ?? 0).toBe(0)
  })
})

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

/**
 * A's rescue sent at 130 (hash INCLUSION_HASH), then resent at 140 as B's rescue, accepted by the bundler: the record
 * now says sent at 140 with the resend's hash (RESEND_HASH).
 */
async function resentAToB() {
  const { parts, rt } = fallingRuntime()
  await send(rt, rescueOf(A), undefined, 130n)
  await send(rt, rescueOf(B), undefined, 140n)
  const record: PendingOperation = { ...resentRecord(130n, 140n), userOpHash: RESEND_HASH }
  return { parts, rt, record }
}

// Helper bk53 (break-it review of stop 53, rt.sentPlans): the plan was looked up by the record's sentBlock only. A resend
// (a replacement at the same nonce, quoted at a later block) that the bundler accepted rewrites the record (sentBlock,
// userOpHash), but the operation it meant to replace can still be the one included (it was mined before the bundler
// swapped it: the tracker logs it as `known: false`). Its revert is then charged to the resend's plan.
describe("bk53: a replaced operation that lands anyway is charged to its own plan", () => {
  test("fixed (was FAILS TODAY, bk53): A's rescue quoted at 130 (hash INCLUSION_HASH), resent at 140 as B's rescue (hash 0x77..), A's operation lands at 141 reverted short at action 0: A is widened, B is not", async () => {
    // The resend at 140 with B's plan: accepted by the bundler, the record now says sent at 140 with the resend's hash.
    const { parts, rt, record } = await resentAToB()
    // The event found at the nonce is A's operation (the first send), reverted with A's swap rescue short.
    await includeRecord(parts, rt, record, 141n, INCLUSION_HASH, SHORT_SALE)
    expect(rt.shortfallFallSeconds?.has(B) ?? false).toBe(false)
    expect(rt.shortfallFallSeconds?.has(A)).toBe(true)
  })

  test("fixed (was FAILS TODAY, bk53): the same, A's operation reverted with SaleExceedsRepayment naming A: A is held", async () => {
    const { parts, rt, record } = await resentAToB()
    await includeRecord(parts, rt, record, 141n, INCLUSION_HASH, saleExceeds(A))
    expect(rt.saleHeld?.has(A)).toBe(true)
  })

  test("control: the resend itself lands (hash 0x77..) reverted short at action 0: B is widened", async () => {
    const { parts, rt, record } = await resentAToB()
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
