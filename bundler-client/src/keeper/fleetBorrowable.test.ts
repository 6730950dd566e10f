import type { Hex } from "viem"
import { describe, expect, test } from "vitest"
import { solveByLoanAsset } from "../solver/solver.js"
import { clampPlanToChainBounds } from "./chainBounds.js"
import { portfolioOf, toChainPlan } from "./portfolio.js"
import { keeperCosts } from "./safeStep.js"
import { LOAN, SAFE, STEP_RISK, WETH, fleetSub } from "./testing.js"

// Review rev11 (issue 11 item 8, "size borrows to what the market can lend"): the fleet's snapshot (`portfolioOf`, built
// from the lens's batched read) had no Morpho market liquidity, so a donor's borrow was sized without it and the clamp
// had no bound to hold it to: in fleet mode such a plan reverts (Morpho: insufficient liquidity) in every block. The
// fleet step now reads each Morpho market's free liquidity when a plan may follow and hands it to `portfolioOf`.

const LOW = `0x${"10".repeat(32)}` as Hex
const DONOR = `0x${"d0".repeat(32)}` as Hex
const RISK = STEP_RISK

const sub = fleetSub

describe("fleet snapshot: a Morpho donor's borrow is held to its market's free liquidity", () => {
  test("a rescue funded by a donor on a market with 1,000 loan units free borrows at most 1,000 of them", () => {
    const state = {
      safe: SAFE,
      tokens: [{ token: LOAN, decimals: 18, balance: 0n }, { token: WETH, decimals: 18, balance: 0n }],
      pools: [],
      unreadable: [],
      subAccounts: [sub(LOW, 1.02, "below"), sub(DONOR, 3.0, "above", 3.5)],
    }
    const free = 1_000n * 10n ** 18n
    const costs = keeperCosts({ costs: { gasPriceGwei: 1, nativePrice: 3000 } } as never)
    // Without a liquidity limit the donor lends far more than 1,000 (the rescue needs ~50,000).
    const open = portfolioOf(state as never, { blockNumber: 1n, timestamp: 1_700_000_000n, risk: RISK, costs })
    const unlimited = [...solveByLoanAsset(open.input).values()][0]?.plan
    expect(unlimited?.actions.find((a) => a.kind === "Borrow")?.amount).toBeGreaterThan(10_000)
    // The fleet step passes the markets' free liquidity (`borrowable`, base units by lower-case sub-account id).
    const snapshot = portfolioOf(state as never, { blockNumber: 1n, timestamp: 1_700_000_000n, risk: RISK, costs, borrowable: { [DONOR]: free } })
    expect(snapshot.bounds.subAccounts[DONOR]?.borrowable).toBe(free)
    const plan = [...solveByLoanAsset(snapshot.input).values()][0]?.plan
    const sent = plan && clampPlanToChainBounds(toChainPlan(plan), snapshot.bounds).plan
    const borrowed = (sent?.actions ?? []).filter((a) => a.kind === "Borrow").reduce((t, a) => t + a.amount, 0n)
    expect(borrowed).toBeLessThanOrEqual(free)
  })
})
