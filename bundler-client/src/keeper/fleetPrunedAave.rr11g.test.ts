import type { Hex } from "viem"
import { expect, test, vi } from "vitest"
import { collateralValue } from "@levpilot/sdk/rules"
import { solveByLoanAsset } from "../solver/solver.js"
import { readAaveLimits } from "./aaveLimits.js"
import { clampPlanToChainBounds } from "./chainBounds.js"
import { portfolioOf, toChainPlan } from "./portfolio.js"
import { keeperCosts } from "./safeStep.js"
import { ADAPTER, LLTV, LOAN, OPEN_AAVE_RESERVE, PRICE, SAFE, h } from "./testing.js"
import { defaultVolatilitySettings } from "./volatility.js"

// Review rr11g G2: rr11f F4's class, Aave's side. The fleet step reads an Aave Safe's reserve limits (its borrow bound:
// the reserve's liquidity and caps, issue 11 item 8) at the lens's block `item.block`, like the Morpho liquidity F4 fixed,
// but still through `.catch(() => undefined)` (fleet/step.ts). A step in a backlog older than the node's state window
// (geth: 128 blocks) fails that read; the snapshot then has no reserve bound, nothing in `degraded` (readPortfolio, the
// single-Safe path, records the same failure as an `aave-limits` degraded read), and a boost / donor borrow is sized
// past what the reserve lends: item 8's revert, every block, silently. eff037d fixed only readBorrowable (Morpho).
const HEAD = 10_000n
const OLD = HEAD - 200n
vi.mock("@levpilot/sdk/utils", async (original) => ({
  ...(await original<typeof import("@levpilot/sdk/utils")>()),
  readMany: vi.fn(async (_client: unknown, _deployment: unknown, contracts: readonly unknown[], blockNumber?: bigint) => {
    if (blockNumber !== undefined && blockNumber < HEAD - 128n) throw new Error(`missing trie node (state at block ${blockNumber} is not available)`)
    return contracts.map(() => ({ status: "success", result: "0x00000000000000000000000000000000000000e1" }))
  }),
}))

const COLL = "0x00000000000000000000000000000000000000c7"
const ID = `0x${"a7".repeat(32)}` as Hex
const LOW = `0x${"10".repeat(32)}` as Hex
const collateral = 100n * 10n ** 18n
// The donor ID at health 3.0 (above its band [1.1, 1.3, 3.5]) lends to LOW at 1.02, below its band: a donor borrow.
const subOf = (id: Hex, health: number, band: string, maxHealth: number) => ({
  subAccount: id, loanToken: LOAN, collateralToken: COLL, collateral, debt: (collateralValue(collateral, PRICE) * LLTV) / h(health), lltv: LLTV, price: PRICE, band,
  policy: { adapter: ADAPTER, priceFeed: "0x0000000000000000000000000000000000000000", minHealth: h(1.1), targetHealth: h(1.3), maxHealth: h(maxHealth), maxAmountPerRebalance: 2n ** 200n, maxAmountPerEpoch: 2n ** 200n, epochLength: 86_400, maxRebalancesPerEpoch: 100, maxGasPerEpoch: 10n ** 12n, cooldown: 0, maxLossBps: 300, maxEpochLossBps: 300, boostAllowed: true, maxSlippageBps: 0, maxOracleAge: 3_600, maxOracleDeviationBps: 100, minFeedAnswer: 0n, maxFeedAnswer: 0n, pools: [], market: `0x${"00".repeat(32)}` },
  epochUsage: { lastRebalance: 0, epoch: 0, lossPpb: 0, amountMoved: 0n, rebalances: 0, gasUsed: 0 },
})
const sub = subOf(ID, 3, "above", 3.5)
const state = { safe: SAFE, tokens: [{ token: LOAN, decimals: 18, balance: 0n }, { token: COLL, decimals: 18, balance: 0n }], pools: [], unreadable: [], subAccounts: [subOf(LOW, 1.02, "below", 1.5), sub] }
const deployment = { adapters: { aaveV3: ADAPTER, morphoBlue: "0x00000000000000000000000000000000000000ae" } } as never
const RISK = { tolerance: 0.01, horizon: 86_400, sigma: 0.8, mode: "autopilot" as const, volatility: defaultVolatilitySettings }
// The reserve lends 1,000 (what a read the node serves returns as `debt.borrowable`).
const FREE = 1_000n * 10n ** 18n
const reserve = { debt: { ...OPEN_AAVE_RESERVE, borrowable: FREE }, collateral: OPEN_AAVE_RESERVE, repayableDebt: undefined }
const open = { debt: OPEN_AAVE_RESERVE, collateral: OPEN_AAVE_RESERVE, repayableDebt: undefined }

function planned(aaveLimits: Record<string, unknown> | undefined) {
  const snapshot = portfolioOf(state as never, { blockNumber: OLD, timestamp: 1_700_000_000n, risk: RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never), aaveLimits: aaveLimits as never, aaveAdapter: ADAPTER })
  const result = [...solveByLoanAsset(snapshot.input).values()][0]
  const plan = result?.plan
  if (process.env.RR11G_DEBUG) console.log(JSON.stringify(result?.outcomes), plan?.actions)
  const sent = plan && clampPlanToChainBounds(toChainPlan(plan), snapshot.bounds).plan
  return { bound: snapshot.bounds.subAccounts[ID.toLowerCase()]?.borrowable, borrowed: (sent?.actions ?? []).filter((a) => a.kind === "Borrow").reduce((t, a) => t + a.amount, 0n), degraded: snapshot.degraded ?? [] }
}

test("rr11g G2: the pinned readAaveLimits at a block the node no longer serves still fails (the fleet now bounds it, below); a served read holds the donor to the reserve's 1,000", async () => {
  // The failure the fleet step meets (readAaveLimitsBounded handles it).
  await expect(readAaveLimits({ chain: { id: 1 } } as never, deployment, [sub] as never, SAFE, OLD)).rejects.toThrow(/missing trie node/)
  // Control: the limits as a served block reads them hold the boost to 1,000.
  const fresh = planned({ [ID.toLowerCase()]: reserve, [LOW.toLowerCase()]: open })
  expect(fresh.bound).toBe(FREE)
  expect(fresh.borrowed).toBeGreaterThan(0n)
  expect(fresh.borrowed).toBeLessThanOrEqual(FREE)
  // Without limits (what the fleet had before the fix) the donor borrows past the reserve: item 8's revert.
  const unbounded = planned(undefined)
  expect(unbounded.bound).toBeUndefined()
  expect(unbounded.borrowed).toBeGreaterThan(FREE)
})

// Was FAILS TODAY (rr11g G2): bound the Aave reserve like Morpho's liquidity (re-read at latest, else no borrow on Aave
// sub-accounts) and record it degraded (`aave-limits`), as readBorrowableBounded does for Morpho.
test("rr11g G2: a lagging fleet step holds an Aave donor's borrow to the reserve's bound (read at latest, or none), recorded degraded", async () => {
  const { readAaveLimitsBounded } = (await import("./portfolio.js")) as unknown as { readAaveLimitsBounded?: (...a: unknown[]) => Promise<unknown> }
  expect(readAaveLimitsBounded).toBeDefined()
  const degraded: unknown[] = []
  const limits = await (readAaveLimitsBounded as (...a: unknown[]) => Promise<Record<string, unknown>>)({ chain: { id: 1 } } as never, deployment, [sub], SAFE, OLD, degraded)
  const lagging = planned(limits)
  expect(lagging.borrowed).toBeLessThanOrEqual(FREE)
  expect(degraded).not.toEqual([])
  expect(degraded).toEqual([expect.objectContaining({ read: "aave-limits", detail: "none" })])
  expect(lagging.bound).toBe(0n)
})
