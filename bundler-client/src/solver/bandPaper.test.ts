import { describe, expect, it } from "vitest"
import { BandRulePaper } from "./bandShadow.js"
import { makePolicy, TEST_COSTS } from "./testing.js"
import type { EpochState, Policy, SolverInput, SubAccountInput } from "./types.js"

/*
 * Issue 13, stop 51 (helper bk50b's finding): the band rule on paper (`BandRulePaper`) follows a band-rule Safe's own
 * landings: decided at one read, landed at the next if the module's rules still take it, within the policy's caps and
 * cooldown, one plan per loan asset. Band 1.15 / 1.4 / 1.7 (makePolicy's), a 50,000 USDC pool.
 */

const T0 = 1_700_000_000
const FRESH: EpochState = { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 }
const POOL = "0x00000000000000000000000000000000000000a1"
const DAI_POOL = "0x00000000000000000000000000000000000000d1"

/** A sub-account `id` on `loan` with 10 collateral, health `health` at 3,000, read at `price`. */
function sub(id: string, loan: string, health: number, price: number, policy: Partial<Policy> = {}): SubAccountInput {
  return {
    state: { id, loanAsset: loan, collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 10, debt: (10 * 3000 * 0.86) / health, lltv: 0.86, price },
    policy: makePolicy({ pools: [loan === "USDC" ? POOL : DAI_POOL], cooldown: 0, ...policy }),
    epoch: FRESH,
    risk: { sigma: 0.6 },
  }
}

function read(now: number, subAccounts: SubAccountInput[]): SolverInput {
  return {
    now,
    subAccounts,
    pools: [
      { address: POOL, asset: "USDC", decimals: 6, balance: 50_000, withdrawable: 50_000 },
      { address: DAI_POOL, asset: "DAI", decimals: 6, balance: 50_000, withdrawable: 50_000 },
    ],
    idle: {},
    costs: TEST_COSTS,
    mode: "autopilot",
  }
}

describe("stop 51: the band rule on paper (BandRulePaper)", () => {
  it("a rescue decided on a dip (1.4 -> 1.12) lands at the next read near the target; decided on a dip that has recovered by the next read (back to 1.4), it reverts: the copy keeps its position", () => {
    const paper = new BandRulePaper()
    paper.observe(read(T0, [sub("a", "USDC", 1.4, 3000)]))
    const decided = paper.observe(read(T0 + 60, [sub("a", "USDC", 1.4, 2400)])).get("a") as number
    expect(decided).toBeGreaterThan(1.39) // while pending: the predicted landing
    const landed = paper.observe(read(T0 + 120, [sub("a", "USDC", 1.4, 2400)])).get("a") as number
    expect(landed).toBeGreaterThan(1.39)
    expect(landed).toBeLessThan(1.45)

    const other = new BandRulePaper()
    other.observe(read(T0, [sub("a", "USDC", 1.4, 3000)]))
    other.observe(read(T0 + 60, [sub("a", "USDC", 1.4, 2400)]))
    // Back at 3,000 by inclusion: 1.4 is inside the band, the module refuses a plan for a sub-account not due.
    expect(other.observe(read(T0 + 120, [sub("a", "USDC", 1.4, 3000)])).get("a")).toBeCloseTo(1.4, 9)
  })

  it("within the cooldown the band rule does not rescue again: after a rescue at T0 + 60 (landed T0 + 120) a second fall at T0 + 180 waits out a 3,600 s cooldown", () => {
    const paper = new BandRulePaper()
    const cool = { cooldown: 3_600 }
    paper.observe(read(T0, [sub("a", "USDC", 1.4, 3000, cool)]))
    paper.observe(read(T0 + 60, [sub("a", "USDC", 1.4, 2400, cool)]))
    const landed = paper.observe(read(T0 + 120, [sub("a", "USDC", 1.4, 2400, cool)])).get("a") as number
    expect(landed).toBeGreaterThan(1.39)
    // Another 20 % fall: below the band, but the cooldown holds the band rule.
    const fallen = paper.observe(read(T0 + 180, [sub("a", "USDC", 1.4, 1920, cool)])).get("a") as number
    expect(fallen).toBeCloseTo(landed * 0.8, 9)
    expect(paper.observe(read(T0 + 240, [sub("a", "USDC", 1.4, 1920, cool)])).get("a")).toBeCloseTo(landed * 0.8, 9)
  })

  it("a Safe on two loan assets: each loan asset's sub-account is rescued by its own plan (the keeper sends one per asset), both landing at the next read", () => {
    const paper = new BandRulePaper()
    paper.observe(read(T0, [sub("a", "USDC", 1.4, 3000), sub("b", "DAI", 1.4, 3000)]))
    paper.observe(read(T0 + 60, [sub("a", "USDC", 1.4, 2400), sub("b", "DAI", 1.4, 2400)]))
    const landed = paper.observe(read(T0 + 120, [sub("a", "USDC", 1.4, 2400), sub("b", "DAI", 1.4, 2400)]))
    for (const id of ["a", "b"]) {
      expect(landed.get(id), id).toBeGreaterThan(1.39)
      expect(landed.get(id), id).toBeLessThan(1.45)
    }
  })
})
