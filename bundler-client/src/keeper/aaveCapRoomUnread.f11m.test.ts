import type { Hex } from "viem"
import { expect, test } from "vitest"
import { collateralValue } from "@levpilot/sdk/rules"
import { solve } from "../solver/solver.js"
import { CRASH_CURVE } from "../solver/testing.js"
import type { SolverInput } from "../solver/types.js"
import { ADAPTER, SAFE, SUB, USDC, WETH, deployment, mockAaveChain, mockAaveClient, reserveConfig } from "./aaveMockChain.testing.js"
import { clampPlanToChainBounds } from "./chainBounds.js"
import { type DegradedRead, hasSwapVenue, portfolioOf, readAaveLimitsBounded, toChainPlan } from "./portfolio.js"
import { keeperCosts } from "./safeStep.js"
import { h } from "./testing.js"
import { defaultVolatilitySettings } from "./volatility.js"

// Review rr11i H4-a, the DEBT reserve's side: a failed `getSupplyData` (stable debt) on a borrow-capped debt reserve
// leaves that reserve's borrow-cap room unknown. What it bounds is a borrow of the debt asset, nothing else: the
// sub-account must get `debt.borrowable` 0 (no borrow sized past an unknown cap) and keep every other figure it read
// (the flash premium, so its swap rescue; the liquidation incentive; collateralHeld; repayableDebt), with a degraded
// `aave-limits` record naming exactly what is unread. The fleet step (fleet/step.ts) and readPortfolio both read through
// readAaveLimitsBounded, and the fleet builds its snapshot with portfolioOf, used here.
const BLOCK = 1_234n
const capped = mockAaveChain({
  reserves: {
    [WETH]: { id: 0, configuration: reserveConfig(8_000n, 18n, 1_000n), decimals: 18, price: 3_000n * 10n ** 8n },
    // USDC, the DEBT reserve, with a borrow cap of 5,000,000 USDC (bits 80-115, whole tokens).
    [USDC]: { id: 1, configuration: reserveConfig(0n, 6n, 1_000n) | (5_000_000n << 80n), decimals: 6, price: 10n ** 8n },
  },
  userConfiguration: (1n << 1n) | (1n << 2n),
  accountData: [30_000n * 10n ** 8n, 23_454n * 10n ** 8n, 0n, 8_600n, 8_000n, h(1.1)],
  supplied: { [WETH]: 10n * 10n ** 18n, [USDC]: 0n },
})

// The lens's sub-account: 10 WETH against USDC at health 1.1, below its band [1.2, 1.4, 1.7]; swaps allowed (50 bps).
const PRICE = 3_000n * 10n ** 24n
const LLTV = 86n * 10n ** 16n
const collateral = 10n * 10n ** 18n
const sub = {
  subAccount: SUB, loanToken: USDC, collateralToken: WETH, collateral, debt: (collateralValue(collateral, PRICE) * LLTV) / h(1.1), lltv: LLTV, price: PRICE, health: h(1.1), band: "below",
  policy: { adapter: ADAPTER, priceFeed: "0x0000000000000000000000000000000000000000", minHealth: h(1.2), targetHealth: h(1.4), maxHealth: h(1.7), maxAmountPerRebalance: 2n ** 200n, maxAmountPerEpoch: 2n ** 200n, epochLength: 86_400, maxRebalancesPerEpoch: 100, maxGasPerEpoch: 10n ** 12n, cooldown: 0, maxLossBps: 300, maxEpochLossBps: 400, boostAllowed: false, maxSlippageBps: 50, maxOracleAge: 3_600, maxOracleDeviationBps: 100, minFeedAnswer: 0n, maxFeedAnswer: 0n, pools: [], market: `0x${"cd".repeat(32)}` as Hex },
  epochUsage: { lastRebalance: 0, epoch: 0, lossPpb: 0, amountMoved: 0n, rebalances: 0, gasUsed: 0 },
}
const state = { safe: SAFE, tokens: [{ token: USDC, decimals: 6, balance: 0n }, { token: WETH, decimals: 18, balance: 0n }], pools: [], unreadable: [], subAccounts: [sub] }
const RISK = { tolerance: 0.01, horizon: 86_400, sigma: 0.8, mode: "autopilot" as const, volatility: defaultVolatilitySettings }

/**
 * The bounded read at the lens's block (as the fleet step and readPortfolio do), the snapshot by portfolioOf, a sale curve
 * where readPortfolio would quote one (`hasSwapVenue`: on Aave, only with the flash premium read), the solver, the clamp.
 */
async function rescue(failing: readonly string[]) {
  const degraded: DegradedRead[] = []
  const limits = await readAaveLimitsBounded(mockAaveClient(capped, { failing }).client, deployment, [sub] as never, SAFE, BLOCK, degraded)
  const snapshot = portfolioOf(state as never, { blockNumber: BLOCK, timestamp: 1_700_000_000n, risk: RISK, costs: keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never), aaveLimits: limits, degraded, aaveAdapter: ADAPTER })
  const lane = hasSwapVenue(sub as never, deployment, limits)
  const input: SolverInput = { ...snapshot.input, subAccounts: snapshot.input.subAccounts.map((s) => (lane ? { ...s, swap: CRASH_CURVE } : s)) }
  const { plan, outcomes } = solve(input)
  const sent = plan && clampPlanToChainBounds(toChainPlan(plan), snapshot.bounds).plan
  return { limits: limits[SUB.toLowerCase()], degraded, snapshot, lane, kinds: sent?.actions.map((a) => a.kind) ?? [], reason: outcomes[0]?.reason }
}

test("control: every read answering, the below-band sub-account is rescued by a flash sale (swap lane), nothing degraded", async () => {
  const r = await rescue([])
  expect(r.limits?.flashPremiumBps).toBe(5n)
  expect(r.lane).toBe(true)
  expect(r.kinds).toContain("SellCollateral")
  expect(r.degraded).toEqual([])
})

test("H4-a: a failed stable-debt read on the borrow-capped DEBT reserve holds borrowable at 0, keeps every other figure and the swap rescue; degraded names the borrow-cap room", async () => {
  const r = await rescue(["getSupplyData"])
  const l = r.limits
  // No borrow past an unknown cap: 0 in the limits, the clamp's bounds and the solver's state.
  expect(l?.debt.borrowable).toBe(0n)
  expect(r.snapshot.bounds.subAccounts[SUB.toLowerCase()]?.borrowable).toBe(0n)
  expect(r.snapshot.input.subAccounts[0]?.state.borrowable).toBe(0)
  // Every other figure read: the flash premium (swap lane), the incentive, the Safe's collateral, what a repayment clears,
  // the reserves' liquidity and flash liquidity.
  expect(l?.flashPremiumBps).toBe(5n)
  expect(l?.liquidationIncentiveFactor).toBe(h(1.05))
  expect(l?.collateralHeld).toBe(10n * 10n ** 18n)
  expect(l?.repayableDebt).toBe(15_000n * 10n ** 6n)
  expect(l?.debt.flashable).toBe(1_000_000n * 10n ** 6n)
  expect(l?.debt.withdrawable).toBe(1_000_000n * 10n ** 6n)
  expect(l?.collateral.withdrawable).toBe(1_000_000n * 10n ** 18n)
  expect(r.snapshot.input.subAccounts[0]?.state.flashPremiumBps).toBe(5)
  // The rescue: a flash sale of collateral, no borrow.
  expect(r.lane).toBe(true)
  expect(r.kinds).toContain("SellCollateral")
  expect(r.kinds).not.toContain("Borrow")
  // Degraded, saying what is unread: the debt reserve's stable debt, i.e. its borrow-cap room.
  expect(r.degraded).toEqual([expect.objectContaining({ read: "aave-limits", subAccount: SUB.toLowerCase(), detail: "partial" })])
  expect(r.degraded[0]?.message).toMatch(/debt reserve.*stable debt \(getSupplyData\).*borrow-cap room/)
  expect(l?.unread).toMatch(/borrow-cap room/)
})

test("H4-a: a reserve's other reads failing still gives the sub-account the lend-nothing fallback (no flash premium), degraded naming the reads", async () => {
  const r = await rescue(["scaledTotalSupply", "totalSupply"])
  expect(r.limits?.debt.borrowable).toBe(0n)
  expect(r.limits?.flashPremiumBps).toBeUndefined()
  expect(r.lane).toBe(false)
  expect(r.kinds).not.toContain("SellCollateral")
  expect(r.degraded).toEqual([expect.objectContaining({ read: "aave-limits", subAccount: SUB.toLowerCase(), detail: "partial" })])
  expect(r.degraded[0]?.message).toMatch(/totalSupply/)
})
