import { describe, expect, it } from "vitest"
import { portfolioOf } from "../keeper/portfolio.js"
import { FRAME_DONOR, frameDonorAaveHealth, frameDonorBorrowBase } from "./testing.js"
import type { SubAccountState } from "./types.js"

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
// The fixture is bundler-client/src/solver/aaveThresholdFloor.test.ts's (solver/testing.ts FRAME_DONOR: 80 WETH + 1.000125 WBTC,
// average 8,199.99 bps).

const WAD = 10n ** 18n
const { total, debtBase: DEBT_BASE, equity: EQUITY, frameCollateral } = FRAME_DONOR

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
  // The Aave donor as subAccountInputOf hands it over: equity always (the chain read), the rest with the limits.
  const borrowed = frameDonorBorrowBase(aave as Partial<SubAccountState>)
  expect(borrowed, "the solver plans a donor borrow on b").toBeDefined()
  return frameDonorAaveHealth(DEBT_BASE + (borrowed as bigint))
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
