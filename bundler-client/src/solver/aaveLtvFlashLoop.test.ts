import { describe, expect, test } from "vitest"
import { solve } from "./solver.js"
import { BUY_CURVE, makePolicy, oneSubAccountInput } from "./testing.js"
import type { SolverInput } from "./types.js"

// Review rev17f (issue 17, break of 6b1e2d6): the keeper bounds every Aave borrow by the account's LTV room read BEFORE
// the plan (`ltvBorrowable` = availableBorrowsBase, `aaveBorrowableOf` -> SubAccountState.borrowable). A flash-looped swap
// boost (`SupplyCollateralWithCallback { Borrow, BuyCollateral } EndCallback`) supplies the flash-borrowed collateral
// FIRST and borrows inside the callback, where Aave's validateBorrow counts the new collateral: its room is
// 0.8 x (C + supplied) - D, not 0.8 x C - D. Bounding it by the pre-plan room caps a boost Aave would land, and the capped
// boost lands above the band, so the keeper skips it (gauge levpilot_boost_ltv_bound = 1) in every block: a Safe far
// above its band is never boosted, where before 6b1e2d6 the same flash-looped boost was sent and landed.

/** 10 WETH at 3,000 on Aave (LTV 80 %, threshold 86 %: minBorrowHealth 1.075 <= target 1.45), USDC debt at `health`. */
const LTV = 0.8
const LT = 0.86
function aaveAbove(health: number, withRoom: boolean): SolverInput {
  const C = 10
  const D = (C * 3000 * LT) / health
  const room = C * 3000 * LTV - D // availableBorrowsBase in USDC, pre-plan
  return oneSubAccountInput({
    state: {
      id: `0x${"e".repeat(64)}`, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: C, debt: D, lltv: LT, price: 3000,
      flashPremiumBps: 5, suppliable: 1_000, withdrawable: 1_000, flashableCollateral: 1_000,
      // The keeper's fields (rev17f fix): the pre-plan LTV room and the collateral's LTV, not one folded `borrowable`.
      ...(withRoom ? { ltvBorrowable: room, collateralLtv: LTV } : {}),
    },
    policy: makePolicy({ minHealth: 1.25, targetHealth: 1.45, maxHealth: 1.8, boostAllowed: true, maxSlippageBps: 50, maxEpochLossBps: 400 }),
    epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
    risk: { sigma: 0.5 },
    swapBuy: BUY_CURVE,
  })
}

describe("a flash-looped Aave boost is bounded by the LTV room after its own supply, not before", () => {
  test("health 8 -> target 1.45 (pre-plan room 20,775 USDC): the flash-looped boost Aave would land is planned", () => {
    const open = solve(aaveAbove(8, false))
    const flash = open.plan?.actions.find((a) => a.kind === "SupplyCollateralWithCallback")
    const borrow = open.plan?.actions.find((a) => a.kind === "Borrow")
    expect(flash).toBeDefined()
    expect(borrow).toBeDefined()
    const D = (10 * 3000 * LT) / 8
    const preRoom = 10 * 3000 * LTV - D
    // Aave's room at the borrow (inside the callback, after the flash-funded supply): 0.8 x (10 + supplied) x 3000 - D.
    const roomAtBorrow = (10 + (flash?.amount ?? 0)) * 3000 * LTV - D
    expect(borrow?.amount ?? 0).toBeGreaterThan(preRoom) // more than the pre-plan room...
    expect(borrow?.amount ?? Infinity).toBeLessThan(roomAtBorrow) // ...and within what Aave lends at the borrow
    // Failed before the fix: with the keeper's LTV bound the same account got no plan (capped at the pre-plan room it
    // lands at health (30,000 + 20,775) x 0.86 / 24,000 = 1.82 > maxHealth 1.8: "capped by the venue's LTV room").
    const bounded = solve(aaveAbove(8, true))
    const reason = bounded.outcomes?.map((o) => o.reason).join("; ")
    expect(bounded.plan?.actions.some((a) => a.kind === "Borrow"), reason).toBe(true)
    const bFlash = bounded.plan?.actions.find((a) => a.kind === "SupplyCollateralWithCallback")
    const bBorrow = bounded.plan?.actions.find((a) => a.kind === "Borrow")
    expect(bFlash).toBeDefined()
    expect(bBorrow?.amount ?? Infinity).toBeLessThan((10 + (bFlash?.amount ?? 0)) * 3000 * LTV - D)
  })

  test("a one-pass-sized boost past the pre-plan room is flash-looped, not sent as a borrow Aave refuses before the supply", () => {
    // Health 2 -> 1.45: the borrow (~11,850) leaves health ~1.04 >= 1.02 before the bought collateral arrives, so health
    // alone allows one pass, but it is above the pre-plan room 0.8 x 30,000 - 12,900 = 11,100: borrowing it before
    // supplying would be refused ("36").
    const input = aaveAbove(2, true)
    const preRoom = input.subAccounts[0]?.state.ltvBorrowable as number
    const result = solve(input)
    const borrow = result.plan?.actions.find((a) => a.kind === "Borrow")
    const flash = result.plan?.actions.find((a) => a.kind === "SupplyCollateralWithCallback")
    expect(borrow?.amount ?? 0).toBeGreaterThan(preRoom)
    expect(flash, "a borrow past the pre-plan room needs its supply first").toBeDefined()
    expect(result.plan?.actions.findIndex((a) => a.kind === "SupplyCollateralWithCallback")).toBeLessThan(result.plan?.actions.findIndex((a) => a.kind === "Borrow") ?? -1)
    // Health alone would have sent it one pass: the borrow leaves health above ONE_PASS_MIN_HEALTH before any supply.
    const s = input.subAccounts[0]?.state as SolverInput["subAccounts"][number]["state"]
    expect((s.collateral * s.price * s.lltv) / (s.debt + (borrow?.amount ?? 0))).toBeGreaterThan(1.02)
  })
})

// Held out (rev17f fix): the room at the borrow with the e-mode category's LTV, and a boost the post-supply room caps.
describe("held out: e-mode LTV, and a flash-looped boost the room after its supply still caps", () => {
  /** An Aave account of `C` collateral at `price`, debt at `health`, threshold `lt`, collateral LTV `ltv`, band `band`. */
  function account(p: { C: number; price: number; health: number; lt: number; ltv: number; band: [number, number, number] }): SolverInput {
    const D = (p.C * p.price * p.lt) / p.health
    return oneSubAccountInput({
      state: {
        id: `0x${"f".repeat(64)}`, loanAsset: "USDC", collateralAsset: "COLL", loanDecimals: 6, collateralDecimals: 18, collateral: p.C, debt: D, lltv: p.lt, price: p.price,
        flashPremiumBps: 5, suppliable: 1e9, withdrawable: 1e9, flashableCollateral: 1e9, ltvBorrowable: p.C * p.price * p.ltv - D, collateralLtv: p.ltv,
      },
      policy: makePolicy({ minHealth: p.band[0], targetHealth: p.band[1], maxHealth: p.band[2], boostAllowed: true, maxSlippageBps: 50, maxEpochLossBps: 400 }),
      epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
      risk: { sigma: 0.5 },
      swapBuy: BUY_CURVE,
    })
  }
  const planned = (input: SolverInput) => {
    const s = input.subAccounts[0]?.state as SolverInput["subAccounts"][number]["state"]
    const r = solve(input)
    const supplied = r.plan?.actions.find((a) => a.kind === "SupplyCollateralWithCallback")?.amount ?? 0
    const borrowed = r.plan?.actions.find((a) => a.kind === "Borrow")?.amount ?? 0
    return { r, s, supplied, borrowed, roomAtBorrow: (s.ltvBorrowable as number) + (s.collateralLtv as number) * supplied * s.price, health: ((s.collateral + supplied) * s.price * s.lltv) / (s.debt + borrowed) }
  }

  test("e-mode (category LTV 93 %, threshold 95 %): the callback's borrow uses the category's LTV on its own supply", () => {
    // 10 units at 3,000, health 4 -> target 1.1 (category reach 0.95 / 0.93 = 1.0215): pre-plan room 0.93 x 30,000 -
    // 7,125 = 20,775, the borrow ~3.5 times that, inside the room after its supply at 93 %.
    const input = account({ C: 10, price: 3000, health: 4, lt: 0.95, ltv: 0.93, band: [1.05, 1.1, 1.3] })
    const { r, s, supplied, borrowed, roomAtBorrow, health } = planned(input)
    expect(r.plan, r.outcomes.map((o) => o.reason).join("; ")).toBeDefined()
    expect(supplied).toBeGreaterThan(0)
    expect(borrowed).toBeGreaterThan(s.ltvBorrowable as number)
    expect(borrowed).toBeLessThanOrEqual(roomAtBorrow)
    expect(health).toBeGreaterThan(1.05)
    expect(health).toBeLessThan(1.3)
    // Credited at the reserve's own LTV (80 %, outside e-mode) the same supply would not cover this borrow: the keeper
    // hands the solver the category's LTV for a collateral in the account's category (aaveReserveEModeTerms).
    expect(borrowed).toBeGreaterThan((s.ltvBorrowable as number) + 0.8 * supplied * s.price)
  })

  test("LTV 70 % / threshold 78 % (LTV lowered after the policy, target 1.08 < reach 1.114): the boost is capped at the room after its supply and lands at ~1.114", () => {
    const input = account({ C: 1, price: 60_000, health: 4, lt: 0.78, ltv: 0.7, band: [1.05, 1.08, 1.5] })
    const { r, s, supplied, borrowed, roomAtBorrow, health } = planned(input)
    expect(r.plan, r.outcomes.map((o) => o.reason).join("; ")).toBeDefined()
    expect(borrowed).toBeGreaterThan(s.ltvBorrowable as number) // past the pre-plan room (flash-looped)
    expect(borrowed).toBeLessThanOrEqual(roomAtBorrow) // within Aave's room at the borrow
    expect(borrowed).toBeGreaterThan(roomAtBorrow * 0.995) // and the room is what binds (the target lies past it)
    expect(health).toBeGreaterThanOrEqual(0.78 / 0.7)
    expect(health).toBeLessThan(0.78 / 0.7 + 0.01)
  })
})
