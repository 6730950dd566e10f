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

  it("helper y52: a copy below health 1 at a read is the band-rule Safe a liquidator closes: no band-rule health is reported for it (no floor, no gate) while the live position has debt, its pending rescue is dropped; after the live debt is repaid a reopened position is copied anew", () => {
    const paper = new BandRulePaper()
    paper.observe(read(T0, [sub("a", "USDC", 1.4, 3000)]))
    paper.observe(read(T0 + 60, [sub("a", "USDC", 1.4, 2400)])) // a rescue decided (1.12)
    // A gap to 1,700 before it lands: the copy at 1.4 x 1,700 / 3,000 = 0.79; the live position (the autopilot's) at
    // 2.0 x 1,700 / 3,000 = 1.13.
    expect(paper.observe(read(T0 + 120, [sub("a", "USDC", 2.0, 1700)])).has("a")).toBe(false)
    expect(paper.copy?.subAccounts).toEqual([])
    expect(paper.observe(read(T0 + 180, [sub("a", "USDC", 2.0, 3000)])).has("a")).toBe(false) // still closed
    const repaid = sub("a", "USDC", 2.0, 3000)
    paper.observe(read(T0 + 240, [{ ...repaid, state: { ...repaid.state, debt: 0 } }]))
    expect(paper.observe(read(T0 + 300, [sub("a", "USDC", 1.6, 3000)])).get("a")).toBeCloseTo(1.6, 9) // reopened: copied anew
  })

  describe("helper y52: a plan's swaps fill at the landing read's price and curve (the backtester's rule, fillSwapActions)", () => {
    const ROUTE = `0x${"0".repeat(61)}bb8`
    /** A flat curve: every size pays `bps` against the oracle value (out to 20 WETH). */
    const curve = (bps: number) => ({ route: ROUTE, points: [0.05, 1, 5, 20].map((amountIn) => ({ amountIn, shortfallBps: bps })) })
    /** `sub` with no pool or idle (only a swap deleverage rescues it), a 100 bp swap bound, read with a curve of `bps`. */
    const swapSub = (price: number, bps: number): SubAccountInput => ({ ...sub("a", "USDC", 1.4, price, { pools: [], maxSlippageBps: 100, maxLossBps: 100, cooldown: 3_600 }), swap: curve(bps) })
    /** A paper that has decided a swap rescue at T0 + 60 (a dip to 2,400: 1.12), quoted at 30 bp. */
    const decided = () => {
      const paper = new BandRulePaper()
      paper.observe(read(T0, [swapSub(3000, 30)]))
      expect(paper.observe(read(T0 + 60, [swapSub(2400, 30)])).get("a") as number).toBeGreaterThan(1.39) // a rescue is pending
      return paper
    }

    it("the price falls 2 % more before landing (past the take: the fill pays less than the fixed repayment): the rescue reverts, the copy keeps its collateral, debt and idle, and no cooldown starts (the band rule decides again at once)", () => {
      const paper = decided()
      const before = structuredClone(paper.copy?.subAccounts[0])
      const health = paper.observe(read(T0 + 120, [swapSub(2352, 30)])).get("a") as number
      const after = paper.copy?.subAccounts[0]
      expect(after?.collateral).toBe(before?.collateral)
      expect(after?.debt).toBe(before?.debt)
      expect(paper.copy?.idle.USDC ?? 0).toBe(0)
      // Not in a cooldown (3,600 s): a new rescue is decided at this read, its predicted landing read back.
      expect(health).toBeGreaterThan(1.39)
    })

    it("the price rises 1 % before landing (still below the band: due): the sale's on-chain minimum at the landing oracle exceeds its fixed repayment (SaleExceedsRepayment), the rescue reverts and the copy keeps its position", () => {
      const paper = decided()
      const before = structuredClone(paper.copy?.subAccounts[0])
      paper.observe(read(T0 + 120, [swapSub(2424, 30)]))
      expect(paper.copy?.subAccounts[0]?.collateral).toBe(before?.collateral)
      expect(paper.copy?.subAccounts[0]?.debt).toBe(before?.debt)
    })

    it("the price holds and the pool pays 35 bp instead of the quoted 30: the rescue lands, its sale filled at the landing curve, the excess over the repayment idle", () => {
      const paper = decided()
      const before = structuredClone(paper.copy?.subAccounts[0]) as { collateral: number; debt: number }
      const health = paper.observe(read(T0 + 120, [swapSub(2400, 35)])).get("a") as number
      expect(health).toBeGreaterThan(1.39)
      expect(health).toBeLessThan(1.45)
      const after = paper.copy?.subAccounts[0] as { collateral: number; debt: number }
      const sold = before.collateral - after.collateral
      const repaid = before.debt - after.debt
      expect(sold).toBeGreaterThan(0)
      // The fill at the landing curve: the oracle value less 35 bp (at the quote, 30 bp, the idle would be 5 bp of the value more).
      const fill = sold * 2400 * (1 - 35 / 10_000)
      expect(paper.copy?.idle.USDC as number).toBeCloseTo(fill - repaid, 6)
      expect(fill - repaid).toBeGreaterThan(0)
    })
  })
})

