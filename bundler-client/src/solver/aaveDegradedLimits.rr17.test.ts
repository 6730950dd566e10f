import { describe, expect, it } from "vitest"
import { withInclusionMargin } from "../keeper/inclusionMargin.js"
import { portfolioOf } from "../keeper/portfolio.js"
import { solve } from "./solver.js"
import { makePolicy, TEST_COSTS } from "./testing.js"
import type { SolverInput } from "./types.js"

// Review rr17 (issue 17, after fx17 F1). The keeper marks an Aave sub-account `thresholdFloored` only inside the
// `aave ? {...}` branch of portfolio.ts subAccountInputOf, i.e. only when readAaveLimits answered for it. When that
// read fails the keeper logs "Aave reserve limits could not be read: planning without them" (portfolio.ts:174,
// safeStep.ts:291) and plans with `aaveLimits = {}` (and the fleet path with no limits for a sub-account whose
// collateral or debt reserve did not read, aaveLimits.ts `if (collateral && debt)`): the Aave sub-account then reaches
// the solver with its `equity` but WITHOUT `thresholdFloored`, so the solver plans it in the frame again, which is
// exactly the pre-fx17 F1 break: the low-volatility Aave donor is drawn to target x e^landingMargin in the frame and
// Aave's floored factor lands BELOW its target. The SDK rule book (validateRebalance marks thresholdFloored from the
// adapter, not from the limits) and the module both refuse it with HealthCrossedTarget, and the same rescue is planned
// and refused at every block for as long as the limits read fails, while the due sub-account stays below its band.
// Fixed: subAccountInputOf marks an Aave sub-account thresholdFloored from its adapter (`aaveAdapter`), limits or not;
// thresholdFloorGap then takes its worst case without `collateralHeld` (rr17 R4).
// The fixture is bundler-client/src/solver/aaveThresholdFloor.test.ts's (80 WETH + 1.000125 WBTC, average 8,199.99 bps).

const WAD = 10n ** 18n
const PRICE_WETH = 3_000n * 10n ** 8n
const PRICE_WBTC = 60_000n * 10n ** 8n
const LT_WETH = 8_300n
const LT_WBTC = 7_800n
const vWeth = (80n * 10n ** 18n * PRICE_WETH) / 10n ** 18n
const vWbtc = (100_012_500n * PRICE_WBTC) / 10n ** 8n
const total = vWeth + vWbtc
const weighted = vWeth * LT_WETH + vWbtc * LT_WBTC
const avgLt = weighted / total
const aaveHealth = (debtBase: bigint) => ((((total * avgLt + 5_000n) / 10_000n) * WAD + debtBase / 2n) / debtBase)
const DEBT_BASE = (total * avgLt * 10n) / (10_000n * 13n)
const EQUITY = Number(total - DEBT_BASE) / 1e8
const frameCollateral = (weighted * 10n ** 18n) / (LT_WETH * PRICE_WETH)

const USDC = "0x00000000000000000000000000000000000000b1"
const WETH = "0x00000000000000000000000000000000000000c1"
const AAVE_ADAPTER = "0x00000000000000000000000000000000000000ae"

/**
 * The Aave donor's solver state as the keeper's snapshot (`portfolioOf`, the fleet path) builds it when the Aave limits
 * read failed (`aaveLimits` undefined): only the fields beyond the fixture's frame (the venue marks, equity).
 */
function degradedSnapshotFields(aaveAdapter: string | undefined): Record<string, unknown> {
  const id = `0x${"b0".repeat(32)}`
  const state = {
    safe: "0x0000000000000000000000000000000000005afe",
    tokens: [{ token: USDC, decimals: 6, balance: 0n }, { token: WETH, decimals: 18, balance: 0n }],
    pools: [],
    unreadable: [],
    subAccounts: [
      {
        subAccount: id, loanToken: USDC, collateralToken: WETH, collateral: frameCollateral, debt: DEBT_BASE / 100n, lltv: 83n * 10n ** 16n, price: 3_000n * 10n ** 24n,
        equity: (total - DEBT_BASE) / 100n, band: "above",
        policy: { adapter: AAVE_ADAPTER, minHealth: 11n * 10n ** 17n, targetHealth: 12n * 10n ** 17n, maxHealth: 14n * 10n ** 17n, pools: [] },
        epochUsage: { lastRebalance: 0, epoch: 0, lossPpb: 0, amountMoved: 0n, rebalances: 0, gasUsed: 0 },
      },
    ],
  }
  const snapshot = portfolioOf(state as never, { blockNumber: 1n, timestamp: 1_700_000_000n, risk: { tolerance: 0.01, horizon: 3600, sigma: 0.02, mode: "autopilot" } as never, costs: {} as never, aaveLimits: undefined, aaveAdapter: aaveAdapter as never })
  const built = snapshot.input.subAccounts[0]?.state as unknown as Record<string, unknown>
  expect(built.equity as number).toBeCloseTo(EQUITY, 6)
  const { id: _id, loanAsset: _l, collateralAsset: _c, loanDecimals: _ld, collateralDecimals: _cd, collateral: _co, debt: _d, lltv: _lt, price: _p, borrowable: _b, equity: _e, ...rest } = built
  return rest
}

/** The donor's Aave health after the solver's plan, `aave`: the fields subAccountInputOf adds with the limits read. */
function donorAfter(aave: Record<string, unknown>) {
  const price = 3000
  const input: SolverInput = withInclusionMargin(
    {
      now: 1_700_000_000,
      pools: [],
      idle: {},
      costs: TEST_COSTS,
      subAccounts: [
        {
          state: { id: "a", loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 100, debt: (100 * price * 0.86) / 1.05, lltv: 0.86, price },
          policy: makePolicy({ minHealth: 1.1, targetHealth: 1.2, maxHealth: 1.4 }),
          epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
          risk: { sigma: 0.6 },
        },
        {
          // The Aave donor as subAccountInputOf hands it over: equity always (the chain read), the rest with the limits.
          state: { id: "b", loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: Number(frameCollateral) / 1e18, debt: Number(DEBT_BASE) / 1e8, lltv: 0.83, price, equity: EQUITY, ...aave },
          policy: makePolicy({ minHealth: 1.1, targetHealth: 1.2, maxHealth: 1.4 }),
          epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
          risk: { sigma: 0.02 },
        },
      ],
    },
    12,
  )
  const r = solve(input)
  const borrow = r.plan?.actions.find((a) => r.plan?.subAccounts[a.subAccount] === "b" && a.kind === "Borrow")
  expect(borrow, "the solver plans a donor borrow on b").toBeDefined()
  return aaveHealth(DEBT_BASE + (borrow?.amountBase as bigint) * 100n)
}

describe("an Aave donor planned while the keeper's Aave limits read failed (review rr17 R1, fixed)", () => {
  it("control: with the limits read (thresholdFloored), Aave's factor after stays at or above the target", () => {
    expect(donorAfter({ thresholdFloored: true, collateralHeld: 80, ltvBorrowable: 1e6 })).toBeGreaterThanOrEqual((12n * WAD) / 10n)
  })

  it("without the limits (degraded read), the keeper's snapshot still marks the Aave sub-account thresholdFloored, from its adapter", () => {
    expect(degradedSnapshotFields(AAVE_ADAPTER)).toEqual({ thresholdFloored: true })
    // The same sub-account under a deployment without an Aave adapter is a frame venue.
    expect(degradedSnapshotFields(undefined)).toEqual({})
  })

  it("without the limits (degraded read), Aave's factor after the snapshot's plan still stays at or above the target", () => {
    expect(donorAfter(degradedSnapshotFields(AAVE_ADAPTER))).toBeGreaterThanOrEqual((12n * WAD) / 10n)
  })
})
