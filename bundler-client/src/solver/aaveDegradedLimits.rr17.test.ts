import { describe, expect, it } from "vitest"
import { withInclusionMargin } from "../keeper/inclusionMargin.js"
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

describe("an Aave donor planned while the keeper's Aave limits read failed", () => {
  it("control: with the limits read (thresholdFloored), Aave's factor after stays at or above the target", () => {
    expect(donorAfter({ thresholdFloored: true, collateralHeld: 80, ltvBorrowable: 1e6 })).toBeGreaterThanOrEqual((12n * WAD) / 10n)
  })

  // FAILS TODAY: Aave's factor after is 1.199954 < 1.2 (HealthCrossedTarget on the module and in the SDK rule book).
  it.skip("FAILS TODAY: without the limits (degraded read), Aave's factor after still stays at or above the target", () => {
    expect(donorAfter({})).toBeGreaterThanOrEqual((12n * WAD) / 10n)
  })

  it("observed today (documents the break; delete with the fix): Aave's factor after the degraded plan is below the target", () => {
    expect(donorAfter({}) < (12n * WAD) / 10n).toBe(true)
  })
})
