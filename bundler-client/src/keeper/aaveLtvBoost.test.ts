import type { Hex } from "viem"
import { describe, expect, test } from "vitest"
import { solveByLoanAsset } from "../solver/solver.js"
import { type AaveSubAccountLimits, AAVE_CAP_ACCRUAL_MARGIN_BPS, aaveBorrowableOf, aaveLtvBorrowable } from "./aaveLimits.js"
import { clampPlanToChainBounds } from "./chainBounds.js"
import { portfolioOf, toChainPlan } from "./portfolio.js"
import { keeperCosts } from "./safeStep.js"
import { ADAPTER, OPEN_AAVE_RESERVE, h } from "./testing.js"
import { defaultVolatilitySettings } from "./volatility.js"

// Review rev17e, issue 17 break 2: Aave refuses a borrow above the account's LTV (validateBorrow:
// COLLATERAL_CANNOT_COVER_NEW_BORROW, "36") whatever the health factor, while the keeper sized a boost (and a donor
// borrow) only to the policy's target in health terms and to the reserve's liquidity: a WBTC account (LTV 73%, threshold
// 78%) cannot be borrowed below health 1.0685, and after governance lowers the LTV the policy's own target can be out of
// reach, so the keeper re-planned the same refused boost every block. readAaveLimits now reads the Safe's
// `availableBorrowsBase` and Aave's price of the debt asset (`ltvBorrowable`), and `aaveBorrowableOf` bounds the
// solver's and the send clamp's `borrowable` by it: the boost lands at the reachable health, or is skipped with a reason.

const SAFE = "0x0000000000000000000000000000000000005afe"
const USDC = "0x00000000000000000000000000000000000000a6"
const WBTC = "0x00000000000000000000000000000000000000b7"
const POOL = "0x00000000000000000000000000000000000000f1"
const ID = `0x${"ab".repeat(32)}` as Hex
/** 1 WBTC (8 decimals) = 60,000 USDC (6 decimals), in loan base units per collateral base unit x 1e36. */
const PRICE = (60_000n * 10n ** 6n * 10n ** 36n) / 10n ** 8n
const LT = 78n * 10n ** 16n
const RISK = { tolerance: 0.01, horizon: 86_400, sigma: 0.2, mode: "autopilot" as const, volatility: defaultVolatilitySettings }
const costs = keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never)
const VALUE = 60_000n * 10n ** 6n // the collateral's value, USDC base units

/** 1 WBTC supplied, USDC debt at health 1.6 (above the band [1.05, 1.5], target 1.08), a USDC pool to hold a boost. */
function state() {
  const debt = (VALUE * LT) / h(1.6)
  return {
    safe: SAFE,
    tokens: [{ token: USDC, decimals: 6, balance: 0n }, { token: WBTC, decimals: 8, balance: 0n }],
    pools: [{ pool: POOL, asset: USDC, assets: 0n, maxWithdraw: 0n }],
    unreadable: [],
    subAccounts: [
      {
        subAccount: ID, loanToken: USDC, collateralToken: WBTC, collateral: 10n ** 8n, debt, lltv: LT, price: PRICE, band: "above",
        policy: {
          adapter: ADAPTER, priceFeed: "0x0000000000000000000000000000000000000000", minHealth: h(1.05), targetHealth: h(1.08), maxHealth: h(1.5), maxAmountPerRebalance: 2n ** 200n, maxAmountPerEpoch: 2n ** 200n,
          epochLength: 86_400, maxRebalancesPerEpoch: 100, maxGasPerEpoch: 10n ** 12n, cooldown: 0, maxLossBps: 300, maxEpochLossBps: 300, boostAllowed: true, maxSlippageBps: 50,
          maxOracleAge: 3_600, maxOracleDeviationBps: 100, minFeedAnswer: 0n, maxFeedAnswer: 0n, pools: [POOL], market: `0x${"cd".repeat(32)}`,
        },
        epochUsage: { lastRebalance: 0, epoch: 0, lossPpb: 0, amountMoved: 0n, rebalances: 0, gasUsed: 0 },
      },
    ],
  }
}

/** The account's LTV room in USDC base units at LTV `ltvBps`, as readAaveLimits derives it (USD base, 8 decimals, USDC at $1). */
function limitsAt(ltvBps: bigint): AaveSubAccountLimits {
  const debtBase = (((VALUE * LT) / h(1.6)) * 10n ** 8n) / 10n ** 6n
  const collateralBase = 60_000n * 10n ** 8n
  const available = (collateralBase * ltvBps + 5_000n) / 10_000n - debtBase
  const ltvBorrowable = aaveLtvBorrowable({ totalDebtBase: debtBase, availableBorrowsBase: available > 0n ? available : 0n }, 10n ** 8n, 6)
  return { debt: OPEN_AAVE_RESERVE, collateral: OPEN_AAVE_RESERVE, repayableDebt: undefined, ltvBorrowable, ltvBound: ltvBorrowable < OPEN_AAVE_RESERVE.borrowable }
}

const solveAt = (aaveLimits: Record<string, AaveSubAccountLimits> | undefined) => {
  const snapshot = portfolioOf(state() as never, { blockNumber: 1n, timestamp: 1_700_000_000n, risk: RISK, costs, aaveLimits })
  const result = [...solveByLoanAsset(snapshot.input).values()][0]
  const sent = result?.plan && clampPlanToChainBounds(toChainPlan(result.plan), snapshot.bounds).plan
  const borrowed = (sent?.actions ?? []).filter((a) => a.kind === "Borrow").reduce((t, a) => t + a.amount, 0n)
  return { snapshot, result, sent, borrowed }
}

describe("aaveLtvBorrowable (Aave v3.0.2 availableBorrowsBase in the debt asset)", () => {
  test("the room less the accrual margin (1 bps of the debt, rounded up) and one base unit, at Aave's price, rounded down", () => {
    const account = { totalDebtBase: 29_250n * 10n ** 8n, availableBorrowsBase: 14_550n * 10n ** 8n }
    const keep = (account.totalDebtBase * AAVE_CAP_ACCRUAL_MARGIN_BPS + 9_999n) / 10_000n + 1n
    expect(keep).toBe(292_500_001n)
    // USDC at $1 (1e8 base units per whole token, 6 decimals): base units / 100.
    expect(aaveLtvBorrowable(account, 10n ** 8n, 6)).toBe((14_550n * 10n ** 8n - keep) / 100n)
    // USDC at $0.9999: more tokens, rounded down so Aave values the borrow at no more than the room.
    const atDiscount = aaveLtvBorrowable(account, 99_990_000n, 6)
    expect(atDiscount).toBe(((14_550n * 10n ** 8n - keep) * 10n ** 6n) / 99_990_000n)
    expect((atDiscount * 99_990_000n) / 10n ** 6n).toBeLessThanOrEqual(account.availableBorrowsBase - keep)
    // An 18-decimal debt asset (WETH at $3,000).
    expect(aaveLtvBorrowable(account, 3_000n * 10n ** 8n, 18)).toBe(((14_550n * 10n ** 8n - keep) * 10n ** 18n) / (3_000n * 10n ** 8n))
  })

  test("nothing at or below the margin, at LTV 0 (availableBorrowsBase 0) or at a zero price", () => {
    expect(aaveLtvBorrowable({ totalDebtBase: 10n ** 12n, availableBorrowsBase: 10n ** 8n + 1n }, 10n ** 8n, 6)).toBe(0n)
    expect(aaveLtvBorrowable({ totalDebtBase: 0n, availableBorrowsBase: 0n }, 10n ** 8n, 6)).toBe(0n)
    expect(aaveLtvBorrowable({ totalDebtBase: 0n, availableBorrowsBase: 10n ** 10n }, 0n, 6)).toBe(0n)
  })

  test("aaveBorrowableOf: the lower of the reserve's borrowable and the LTV room; the reserve's alone when the room is unknown", () => {
    const reserve = { ...OPEN_AAVE_RESERVE, borrowable: 5_000n }
    expect(aaveBorrowableOf({ debt: reserve, collateral: OPEN_AAVE_RESERVE, repayableDebt: undefined, ltvBorrowable: 700n })).toBe(700n)
    expect(aaveBorrowableOf({ debt: reserve, collateral: OPEN_AAVE_RESERVE, repayableDebt: undefined, ltvBorrowable: 9_000n })).toBe(5_000n)
    expect(aaveBorrowableOf({ debt: reserve, collateral: OPEN_AAVE_RESERVE, repayableDebt: undefined })).toBe(5_000n)
  })
})

describe("a boost on Aave is never sized beyond what Aave lends (its LTV room)", () => {
  test("LTV lowered to 70% after the policy (target 1.08 < LT / LTV = 1.114): the boost borrows at most the room and lands at ~1.114", () => {
    const limits = limitsAt(7_000n)
    const room = limits.ltvBorrowable as bigint
    // Without the LTV room the boost borrows to the target, past what Aave lends (refused "36" in every block).
    const open = solveAt({ [ID]: { ...limits, ltvBorrowable: undefined, ltvBound: false } })
    expect(open.borrowed).toBeGreaterThan(room)
    const { snapshot, sent, borrowed } = solveAt({ [ID]: limits })
    // The LTV room is its own bound (rev17f: not folded into the reserve's `borrowable`), in the solver and the clamp.
    expect(snapshot.bounds.subAccounts[ID]?.ltvBorrowable).toBe(room)
    expect(snapshot.bounds.subAccounts[ID]?.borrowable).toBe(OPEN_AAVE_RESERVE.borrowable)
    expect(snapshot.input.subAccounts[0]?.state.ltvBorrowable).toBe(Number(room) / 1e6)
    expect(sent?.actions.some((a) => a.kind === "Borrow")).toBe(true)
    expect(borrowed).toBeLessThanOrEqual(room)
    const debtAfter = (state().subAccounts[0]?.debt as bigint) + borrowed
    const health = Number((VALUE * LT) / debtAfter) / 1e18
    expect(health).toBeGreaterThanOrEqual(0.78 / 0.7)
    expect(health).toBeLessThan(0.78 / 0.7 + 0.01)
  })

  test("a room that cannot bring health into the landing zone (LTV 50%: health >= 1.56 > maxHealth 1.5): no boost, a reason naming the LTV room", () => {
    const limits = limitsAt(5_000n)
    const open = solveAt({ [ID]: { ...limits, ltvBorrowable: undefined, ltvBound: false } })
    expect(open.borrowed).toBeGreaterThan(0n)
    const { result, sent } = solveAt({ [ID]: limits })
    expect(sent?.actions.some((a) => a.kind === "Borrow") ?? false).toBe(false)
    const reason = result?.outcomes.find((o) => o.id.toLowerCase() === ID)?.reason ?? ""
    expect(reason).toMatch(/LTV room \(Aave availableBorrowsBase\)/)
    expect(reason).toMatch(/no valid plan/)
  })
})

// Issue 11 item 8 (review brk11u F6): `ltvBorrowable` is the Aave ACCOUNT's room (one per Safe and adapter); the keeper
// marks it with the adapter (`ltvAccount`) on the solver's input and the clamp's bounds, so one Safe's Aave sub-accounts
// share it (solver `ltvLeft`, clamp LTV walk). Without a room read, no account is named.
test("portfolioOf names the Aave account (the adapter) whose LTV room an Aave sub-account's ltvBorrowable is", () => {
  const limits = limitsAt(7_300n)
  const snapshot = portfolioOf(state() as never, { blockNumber: 1n, timestamp: 1_700_000_000n, risk: RISK, costs, aaveLimits: { [ID]: limits } })
  expect(snapshot.input.subAccounts[0]?.state.ltvAccount).toBe(ADAPTER.toLowerCase())
  expect(snapshot.bounds.subAccounts[ID.toLowerCase()]?.ltvAccount).toBe(ADAPTER.toLowerCase())
  const none = portfolioOf(state() as never, { blockNumber: 1n, timestamp: 1_700_000_000n, risk: RISK, costs, aaveLimits: { [ID]: { ...limits, ltvBorrowable: undefined, ltvBound: false } } })
  expect(none.input.subAccounts[0]?.state.ltvAccount).toBeUndefined()
  expect(none.bounds.subAccounts[ID.toLowerCase()]?.ltvAccount).toBeUndefined()
})
