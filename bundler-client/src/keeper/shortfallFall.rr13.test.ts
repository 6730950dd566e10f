import { describe, expect, test } from "vitest"
import { type Address, type Hex, encodeAbiParameters, encodeErrorResult, encodeEventTopics, parseAbi } from "viem"
import { entryPoint07Abi } from "viem/account-abstraction"
import { leverageModuleAbi } from "@levpilot/sdk/abis"
import { solveByLoanAsset } from "../solver/solver.js"
import type { SolverInput } from "../solver/types.js"
import { InclusionTracker } from "./inclusion.js"
import type { InclusionLookup } from "./inclusionLookup.js"
import { portfolioOf } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { keeperCosts } from "./safeStep.js"
import { INCLUSION_HASH, INCLUSION_NONCE, PRICE, SAFE, STEP_RISK, USDC, flashSale, landedUserOp, recordingKeeperParts, resentRecord, stepSafeState, stepSub, subId } from "./testing.js"
import { VolatilityFeed } from "./volatilityFeed.js"

// Issue 13 rr13 F6, live keeper: after a swap rescue of sub-account 0x01 reverts on chain short of its fixed repayment
// (`ActionFailed(0, Error("transferFrom reverted"))`, included 5 blocks = 60 s after its quote, past the live 24 s
// window), the keeper's next plan for 0x01 is sized for the fall over those 60 s; its twin 0x02 keeps the live window;
// a landing of a plan of 0x01 clears it. Before the fix the keeper always planned the live window (backtester only).

const A = subId("01")
const B = subId("02")
/** A falling market: the oracle 0.5 % lower each minute (5 blocks of 12 s; the trend samples a price a minute). */
const priceAt = (minute: number) => (PRICE * BigInt(Math.round(1e6 * 0.995 ** minute))) / 1_000_000n
const T0 = 1_700_000_000

/** The snapshot at `minute`: twins A and B below their band (health 1.05 at the start), 1e6 USDC idle. */
function snapshotAt(minute: number) {
  const subs = [A, B].map((id) => ({ ...stepSub(id, USDC, 1.05, "below"), price: priceAt(minute) }))
  return portfolioOf(stepSafeState(subs) as never, { blockNumber: 100n + 5n * BigInt(minute), timestamp: BigInt(T0 + 60 * minute), risk: STEP_RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never) })
}

/** The `inclusionDrift` (log price to inclusion) and the solver's repayment (USDC) of each twin, lower-case id. */
function planned(input: SolverInput) {
  const drift = (id: Hex) => input.subAccounts.find((s) => s.state.id.toLowerCase() === id)?.inclusionDrift ?? 0
  const plan = [...solveByLoanAsset(input).values()].find((r) => r.plan)?.plan
  const repaid = (id: Hex) => plan?.actions.filter((a) => a.kind === "Repay" && plan.subAccounts[a.subAccount]?.toLowerCase() === id).reduce((s, a) => s + a.amount, 0) ?? 0
  return { a: { drift: drift(A), repaid: repaid(A) }, b: { drift: drift(B), repaid: repaid(B) } }
}

/** The receipt of the reverted operation: the EntryPoint's UserOperationRevertReason with the module's `revert` data. */
function revertReceipt(revert: Hex) {
  const topics = encodeEventTopics({ abi: entryPoint07Abi, eventName: "UserOperationRevertReason", args: { userOpHash: INCLUSION_HASH, sender: SAFE as Address } })
  const data = encodeAbiParameters([{ type: "uint256" }, { type: "bytes" }], [INCLUSION_NONCE, revert])
  return { logs: [{ address: "0x0000000071727De22E5E9d8BAf0edAc6f37da032", topics, data, blockNumber: 135n, transactionHash: `0x${"cd".repeat(32)}`, logIndex: 0, transactionIndex: 0, blockHash: `0x${"ee".repeat(32)}`, removed: false }] }
}

/** The module's revert of a swap rescue whose sale paid less than Morpho pulled: ActionFailed(0, Error("transferFrom reverted")). */
const SHORT_SALE = encodeErrorResult({ abi: leverageModuleAbi, errorName: "ActionFailed", args: [0n, encodeErrorResult({ abi: parseAbi(["error Error(string)"]), errorName: "Error", args: ["transferFrom reverted"] })] } as never)

describe("keeper: fall over the real delay after a swap rescue reverted short of its repayment (issue 13 rr13 F6)", () => {
  test("the next plan of that sub-account is sized for the longer fall, its twin unchanged, cleared after a landing", async () => {
    // Loaded so that the test runs (and fails on its assertions) where the module does not exist yet.
    const shortfall: Partial<typeof import("./shortfall.js")> = await import("./shortfall.js").catch(() => ({}))
    const parts = recordingKeeperParts()
    const feed = new VolatilityFeed({ logger: parts.logger, metrics: parts.metrics })
    const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
    // Six minutes of a falling oracle: the trend reads the fall (blocks of 12 s: the live window is 24 s).
    for (let m = 0; m < 6; m++) feed.apply(rt, snapshotAt(m))
    const before = planned(feed.apply(rt, snapshotAt(6)).input)
    expect(rt.blockSeconds).toBe(12)
    expect(before.a.drift).toBeLessThan(0)
    expect(before.a).toEqual(before.b)
    expect(before.a.repaid).toBeGreaterThan(0)

    // A's swap rescue, quoted at block 130 (minute 6), reverts on chain at block 135 (60 s later) short of its repayment.
    let pending = resentRecord(130n, 130n)
    const store = { pending: async () => pending, setPending: async (_s: Address, p: typeof pending | undefined) => void (pending = p as typeof pending) }
    const lookup = (success: boolean): InclusionLookup => ({ findEvent: async () => landedUserOp(135n, success), chainNonce: async () => INCLUSION_NONCE + 1n }) as never
    const tracker = new InclusionTracker({
      config: { deployment: { entryPoint: "0x0000000071727De22E5E9d8BAf0edAc6f37da032" } as never, resubmitAfterBlocks: 10, stallAfterBlocks: 30, logWindowBlocks: 1_000 },
      publicClient: { getTransactionReceipt: async () => revertReceipt(SHORT_SALE) } as never,
      store,
      metrics: parts.metrics,
      logger: parts.logger,
      events: parts.keeperEvents,
      clock: { now: () => (T0 + 420) * 1_000 } as never,
    })
    const rescue = { subAccounts: [A], actions: flashSale(0, 10n ** 21n, 10n ** 18n) }
    // What the keeper's step does when it hands the plan to the sender (safeStep.planAndSend).
    await shortfall.sendNotingShortfall?.(rt, rescue, { block: 130n, timestamp: T0 + 360 }, () => T0 + 361, async () => undefined)
    expect(await tracker.track(rt, pending, 136n, lookup(false))).toBe("included")
    expect(parts.events.find((e) => e.type === "included")).toMatchObject({ success: false, revert: "ActionFailed(0, Error(transferFrom reverted))" })

    const after = planned(feed.apply(rt, snapshotAt(7)).input)
    // A: the fall over 60 s (5 blocks of 12 s) instead of the live 24 s: 2.5 x B's drift (no slippage tolerance, below
    // the band-share cap); sized for the lower price, it repays more.
    expect(after.b.drift).toBeLessThan(0)
    expect(after.a.drift).toBeCloseTo(2.5 * after.b.drift, 12)
    expect(after.a.repaid).toBeGreaterThan(after.b.repaid)
    expect(rt.shortfallFallSeconds?.get(A)).toBe(60)
    // B: what the live keeper plans without the revert (the same as a run that never had it).
    const twin = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
    for (let m = 0; m < 7; m++) feed.apply(twin, snapshotAt(m))
    const control = planned(feed.apply(twin, snapshotAt(7)).input)
    expect(after.b).toEqual(control.b)
    expect(control.a).toEqual(control.b)

    // A plan of A lands: back to the live window.
    pending = resentRecord(140n, 140n)
    await shortfall.sendNotingShortfall?.(rt, { subAccounts: [A], actions: [{ kind: "Repay", subAccount: 0, amount: 1n }] }, { block: 140n, timestamp: T0 + 480 }, () => T0 + 481, async () => undefined)
    expect(await tracker.track(rt, pending, 141n, { findEvent: async () => landedUserOp(141n, true), chainNonce: async () => INCLUSION_NONCE + 1n } as never)).toBe("included")
    const cleared = planned(feed.apply(rt, snapshotAt(8)).input)
    expect(cleared.a).toEqual(cleared.b)
    expect(rt.shortfallFallSeconds?.size ?? 0).toBe(0)
  })

  test("which failures count: the repayment's pull left short, by the SDK's validation or the chain; not a sale's own minimum nor a venue's refusal", async () => {
    const { ActionFailedError, LeverageModuleRevertedError } = await import("@levpilot/sdk/errors")
    const { liveWindowSeconds, sendNotingShortfall, shortRepaymentIndexOf, shortfallSubAccountsOf, swapRescuesOf } = await import("./shortfall.js")
    const plan = { subAccounts: [B, A], actions: [{ kind: "Repay" as const, subAccount: 0, amount: 1n }, ...flashSale(1, 10n ** 21n, 10n ** 18n)] }
    const rescues = swapRescuesOf(plan)
    expect([...rescues]).toEqual([[1, A]])
    expect(shortRepaymentIndexOf(SHORT_SALE)).toBe(0)
    const slippage = encodeErrorResult({ abi: leverageModuleAbi, errorName: "ActionFailed", args: [1n, encodeErrorResult({ abi: leverageModuleAbi, errorName: "SlippageExceeded", args: [3n, A.slice(0, 42), 1n, 2n] } as never)] } as never)
    expect(shortRepaymentIndexOf(slippage)).toBeUndefined()
    const refused = encodeErrorResult({ abi: leverageModuleAbi, errorName: "ActionFailed", args: [1n, encodeErrorResult({ abi: parseAbi(["error Error(string)"]), errorName: "Error", args: ["insufficient liquidity"] })] } as never)
    expect(shortRepaymentIndexOf(refused)).toBeUndefined()
    // The SDK's rule book at send: ActionFailed at the callback, "needs X of <loan> but the Safe holds Y".
    const ruleBook = new ActionFailedError({ index: 1, reason: "0x", detail: `inside the callback: needs 74420 of ${USDC} but the Safe holds 74362` })
    expect(shortfallSubAccountsOf(ruleBook, rescues)).toEqual([A])
    expect(shortfallSubAccountsOf(new ActionFailedError({ index: 0, reason: "0x", detail: "needs 1 of x but the Safe holds 0" }), rescues)).toEqual([])
    // A bundler's simulation the SDK names by the inner Error(string): the module's revert data in the chain's messages.
    const atOne = encodeErrorResult({ abi: leverageModuleAbi, errorName: "ActionFailed", args: [1n, encodeErrorResult({ abi: parseAbi(["error Error(string)"]), errorName: "Error", args: ["transferFrom reverted"] })] } as never)
    const simulated = new LeverageModuleRevertedError({ errorName: "Error", args: ["transferFrom reverted"], cause: Object.assign(new Error(`execution reverted: ${atOne}`)) })
    expect(shortfallSubAccountsOf(simulated, rescues)).toEqual([A])
    // Refused at send 3 s after the quote: the next plan of A is sized for those 3 s plus its own live window.
    const rt = newSafeRuntime({ address: SAFE, risk: STEP_RISK })
    rt.blockSeconds = 12
    await expect(sendNotingShortfall(rt, plan, { block: 100n, timestamp: T0 }, () => T0 + 3, async () => Promise.reject(ruleBook))).rejects.toBe(ruleBook)
    expect([...(rt.shortfallFallSeconds ?? [])]).toEqual([[A, 3 + liveWindowSeconds(rt)]])
    expect(liveWindowSeconds(rt)).toBe(24)
  })
})
