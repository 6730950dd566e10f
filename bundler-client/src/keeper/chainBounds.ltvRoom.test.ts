import { describe, expect, test } from "vitest"
import { aaveReserveEModeTerms, minAmountOut } from "@levpilot/sdk/rules"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { type AaveLtvGain, aaveLtvRoomChange } from "./aaveLimits.js"
import { type ChainBounds, clampPlanToChainBounds } from "./chainBounds.js"
import { LOAN, PRICE, ROUTE, SLIP, type ClampSub as S, amounts, clampSub as sub, clampVerdict as verdict } from "./testing.js"

// Issue 17, review rev17f (2): the send clamp held an Aave borrow to the account's LTV room read BEFORE the plan (folded
// into `borrowable`). Aave's validateBorrow counts the collateral held at the borrow: inside a flash-looped boost's
// callback that includes the supply the callback opened with. The clamp now holds each borrow to the room AT it:
// `ltvBorrowable` plus what the plan supplied of the collateral before it (`aaveLtvRoomChange`), less earlier borrows.

const E18 = 10n ** 18n
/** WETH at $3,000 and an 18-decimal loan token at $1 in Aave's base currency (8 decimals); LTV 70 %. */
const GAIN: AaveLtvGain = { ltvBps: 7_000n, collateralPrice: 3_000n * 10n ** 8n, collateralDecimals: 18, debtPrice: 10n ** 8n, debtDecimals: 18, totalCollateralBase: 300_000n * 10n ** 8n }

function boundsOf(subs: S[], ltv: Record<string, { room: bigint; gain?: AaveLtvGain | undefined; account?: string | undefined }>, balances: Record<string, bigint> = {}): ChainBounds {
  return {
    balances,
    maxWithdraw: {},
    poolAsset: {},
    subAccounts: Object.fromEntries(
      subs.map((s) => [
        s.id,
        { debt: s.debt, collateral: s.collateral, loanToken: LOAN, collateralToken: s.coll, price: PRICE, maxSlippageBps: SLIP, due: s.due, flashable: { loan: 10n ** 30n, collateral: 10n ** 30n }, ltvBorrowable: ltv[s.id]?.room, ltvGain: ltv[s.id]?.gain, ltvAccount: ltv[s.id]?.account },
      ]),
    ),
  }
}

/**
 * Aave v3.0.2's own check of a borrow after a supply, on the account (one collateral reserve): the collateral's base
 * value `floor(balance x price / unit)`, avgLtv = floor(sum(value x ltv) / total), and validateBorrow's
 * `(debt + amount).percentDiv(avgLtv) <= total` (half up). `roomBase` is the account's availableBorrowsBase before.
 */
function aaveLends(p: { collateralBase: bigint; debtBase: bigint; ltvBps: bigint; supplied: bigint; borrowed: bigint }): boolean {
  const total = p.collateralBase + (p.supplied * GAIN.collateralPrice) / E18
  const avgLtv = (total * p.ltvBps) / total
  const amountBase = (p.borrowed * GAIN.debtPrice) / E18
  const needed = ((p.debtBase + amountBase) * 10_000n + avgLtv / 2n) / avgLtv
  return needed <= total
}

describe("aaveLtvRoomChange / aaveReserveEModeTerms", () => {
  test("a supply adds its value at the LTV less 1 bps of the new total and two base units, rounded down; a withdrawal takes it, rounded up", () => {
    const one = aaveLtvRoomChange(GAIN, E18)
    const value = ((E18 - 1n) * GAIN.collateralPrice) / E18 // 299,999,999,999 (a wei below 1 WETH)
    expect(one).toBe((((value * 7_000n) / 10_000n - ((GAIN.totalCollateralBase + value + 9_999n) / 10_000n + 2n)) * E18) / GAIN.debtPrice)
    expect(one).toBeLessThan(2_100n * E18)
    expect(one).toBeGreaterThan(2_060n * E18)
    const minus = aaveLtvRoomChange(GAIN, -E18)
    expect(minus).toBeLessThan(-2_100n * E18)
    expect(aaveLtvRoomChange({ ...GAIN, ltvBps: 0n }, E18)).toBe(0n)
    expect(aaveLtvRoomChange(GAIN, 0n)).toBe(0n)
    // A dust supply adds nothing (its value does not beat the slack).
    expect(aaveLtvRoomChange(GAIN, 10n ** 9n)).toBe(0n)
  })

  test("e-mode: the category's LTV when the collateral is in the account's category, the reserve's otherwise, 0 at a reserve LTV of 0", () => {
    const config = (ltv: bigint, category: bigint) => ltv | (8_300n << 16n) | (category << 168n)
    // The LTV a supply counts at, for an account in `category` whose LTV is `categoryLtv` (undefined: not read).
    const ltvBps = (c: bigint, category: number, categoryLtv: bigint | undefined) => aaveReserveEModeTerms(c, { category: BigInt(category), ltvBps: categoryLtv }).ltvBps
    expect(ltvBps(config(8_000n, 1n), 1, 9_300n)).toBe(9_300n)
    expect(ltvBps(config(8_000n, 2n), 1, 9_300n)).toBe(8_000n)
    expect(ltvBps(config(8_000n, 1n), 0, 9_300n)).toBe(8_000n)
    expect(ltvBps(config(8_000n, 1n), 1, undefined)).toBe(8_000n)
    // A reserve whose own LTV is 0 counts nothing, in e-mode too (GenericLogic: `if (vars.ltv != 0)`).
    expect(ltvBps(config(0n, 1n), 1, 9_300n)).toBe(0n)
    // The same rule picks the threshold and the price source: the category's in it, the reserve's own outside it.
    const SOURCE = "0x00000000000000000000000000000000000000e1"
    const eMode = { category: 1n, ltvBps: 9_300n, liquidationThresholdBps: 9_500n, priceSource: SOURCE } as const
    expect(aaveReserveEModeTerms(config(8_000n, 1n), eMode)).toEqual({ inCategory: true, ltvBps: 9_300n, liquidationThresholdBps: 9_500n, priceSource: SOURCE })
    expect(aaveReserveEModeTerms(config(8_000n, 2n), eMode)).toEqual({ inCategory: false, ltvBps: 8_000n, liquidationThresholdBps: 8_300n, priceSource: undefined })
    expect(aaveReserveEModeTerms(config(8_000n, 1n), { ...eMode, priceSource: "0x0000000000000000000000000000000000000000" }).priceSource).toBeUndefined()
  })

  test("against Aave's arithmetic: room + change(supply) is lent, 1 bps of the collateral more is not (single collateral)", () => {
    const collateralBase = 300_000n * 10n ** 8n
    const debtBase = 150_000n * 10n ** 8n
    const room = (collateralBase * 7_000n + 5_000n) / 10_000n - debtBase // availableBorrowsBase
    const keep = (debtBase + 9_999n) / 10_000n + 1n
    const pre = ((room - keep) * E18) / GAIN.debtPrice // aaveLtvBorrowable
    for (const supplied of [E18 / 1000n, 7n * E18, 123_456_789_123_456_789_123n]) {
      const at = pre + aaveLtvRoomChange(GAIN, supplied)
      expect(aaveLends({ collateralBase, debtBase, ltvBps: 7_000n, supplied, borrowed: at })).toBe(true)
      const past = at + ((collateralBase + (supplied * GAIN.collateralPrice) / E18) * E18) / GAIN.debtPrice / 5_000n
      expect(aaveLends({ collateralBase, debtBase, ltvBps: 7_000n, supplied, borrowed: past })).toBe(false)
    }
  })
})

describe("the send clamp holds an Aave borrow to the LTV room at the borrow", () => {
  const C = sub(3, 100n * E18, 1.6)
  const bx = 20_000n * E18
  const supply = minAmountOut(BigInt(SLIP), PRICE, false, bx)
  const boost: ChainPlan = {
    subAccounts: [C.id],
    actions: [
      { kind: "SupplyCollateralWithCallback", subAccount: 0, amount: supply },
      { kind: "Borrow", subAccount: 0, amount: bx },
      { kind: "BuyCollateral", subAccount: 0, route: ROUTE, amount: bx },
      { kind: "EndCallback", subAccount: 0, amount: 0n },
    ],
  }
  const funding = { swapPaid: [undefined, undefined, supply, undefined] }

  test("flash-looped, the pre-plan room below the borrow but the room after its supply above it: sent as planned", () => {
    const room = bx - aaveLtvRoomChange(GAIN, supply) + 1n
    expect(room).toBeLessThan(bx)
    const { plan: out, binding } = clampPlanToChainBounds(boost, boundsOf([C], { [C.id]: { room, gain: GAIN } }), funding)
    expect(binding).toEqual([])
    expect(amounts(out)).toEqual(amounts(boost))
    // The room before the plan alone (the folded bound of 6b1e2d6) would have cut it.
    const { binding: folded } = clampPlanToChainBounds(boost, boundsOf([C], { [C.id]: { room } }), funding)
    expect(folded.map((b) => b.bound)).toEqual(["ltvRoom"])
  })

  for (const room of [3_000n * E18, 5_000n * E18]) {
    test(`flash-looped, even the room after the supply below the borrow (pre-plan room ${room / E18}): the borrow, purchase and supply shrink together and the borrow fits the room at it`, () => {
      const { plan: out, binding } = clampPlanToChainBounds(boost, boundsOf([C], { [C.id]: { room, gain: GAIN } }), funding)
      expect(binding.map((b) => b.bound)).toContain("ltvRoom")
      const p = out as ChainPlan
      expect(p.actions.map((a) => a.kind)).toEqual(["SupplyCollateralWithCallback", "Borrow", "BuyCollateral", "EndCallback"])
      const supplied = p.actions[0]?.amount as bigint
      const borrowed = p.actions[1]?.amount as bigint
      expect(borrowed).toBeGreaterThan(room) // the supply's credit is used
      expect(borrowed).toBeLessThanOrEqual(room + aaveLtvRoomChange(GAIN, supplied)) // within Aave's room at the borrow
      expect(borrowed).toBeGreaterThan(((room + aaveLtvRoomChange(GAIN, supplied)) * 999n) / 1_000n) // not cut further than needed
      expect(verdict(p, [C], {})).toBe("ok")
    })
  }

  test("no room before the plan: no flash-looped borrow fits (its supply's credit is ~70 % of what it borrows): nothing sent", () => {
    const { plan: out, binding } = clampPlanToChainBounds(boost, boundsOf([C], { [C.id]: { room: 0n, gain: GAIN } }), funding)
    expect(binding.map((b) => b.bound)).toContain("ltvRoom")
    expect(out).toBeUndefined()
  })

  test("plain actions in order: a borrow after a supply of idle collateral has the supply's room, one before it has not", () => {
    const x = 5n * E18
    const room = 1_000n * E18
    const gainOfX = aaveLtvRoomChange(GAIN, x)
    const after: ChainPlan = { subAccounts: [C.id], actions: [{ kind: "SupplyCollateral", subAccount: 0, amount: x }, { kind: "Borrow", subAccount: 0, amount: 50_000n * E18 }] }
    const before: ChainPlan = { subAccounts: [C.id], actions: [{ kind: "Borrow", subAccount: 0, amount: 50_000n * E18 }, { kind: "SupplyCollateral", subAccount: 0, amount: x }] }
    const bounds = boundsOf([C], { [C.id]: { room, gain: GAIN } }, { [C.coll.toLowerCase()]: x })
    const a = clampPlanToChainBounds(after, bounds)
    expect(a.plan?.actions.find((k) => k.kind === "Borrow")?.amount).toBe(room + gainOfX)
    expect(a.binding.map((b) => [b.bound, b.allowed])).toEqual([["ltvRoom", room + gainOfX]])
    const b = clampPlanToChainBounds(before, bounds)
    expect(b.plan?.actions.find((k) => k.kind === "Borrow")?.amount).toBe(room)
  })
})

// Issue 11 item 8 (review brk11u, F6): two Aave sub-accounts of one Safe on one adapter are ONE Aave account; the keeper
// gives both the account's room (`ltvBorrowable`) and the same `ltvAccount`. Their borrows are held to it together.
describe("one Aave account's LTV room shared by its sub-accounts (ltvAccount)", () => {
  const A = sub(4, 100n * E18, 1.3)
  const B = sub(5, 100n * E18, 1.3)
  const D = sub(6, 100n * E18, 1.05)
  const ADAPTER = "0x00000000000000000000000000000000000000aa"
  const x = 30_000n * E18
  const plan: ChainPlan = {
    subAccounts: [D.id, A.id, B.id],
    actions: [
      { kind: "Borrow", subAccount: 1, amount: x },
      { kind: "Borrow", subAccount: 2, amount: x },
      { kind: "Repay", subAccount: 0, amount: 2n * x },
    ],
  }
  const borrowed = (p: ChainPlan | undefined) => (p?.actions ?? []).filter((a) => a.kind === "Borrow").reduce((t, a) => t + a.amount, 0n)

  for (const room of [10_000n * E18, 40_000n * E18])
    test(`two donors of one account borrow at most its room together (room ${room / E18}), each alone would fit`, () => {
      const { plan: out, binding } = clampPlanToChainBounds(plan, boundsOf([D, A, B], { [A.id]: { room, account: ADAPTER }, [B.id]: { room, account: ADAPTER } }))
      expect(borrowed(out)).toBe(room)
      expect(binding.map((b) => b.bound)).toContain("ltvRoom")
      expect(out?.actions.find((a) => a.kind === "Repay")?.amount).toBe(room)
    })

  test("a supply of one sub-account of the account adds to the room its other sub-account borrows against", () => {
    const y = 5n * E18
    const withSupply: ChainPlan = { subAccounts: [D.id, A.id, B.id], actions: [{ kind: "SupplyCollateral", subAccount: 1, amount: y }, { kind: "Borrow", subAccount: 2, amount: x }, { kind: "Repay", subAccount: 0, amount: x }] }
    const room = 1_000n * E18
    const { plan: out } = clampPlanToChainBounds(withSupply, boundsOf([D, A, B], { [A.id]: { room, gain: GAIN, account: ADAPTER }, [B.id]: { room, gain: GAIN, account: ADAPTER } }, { [A.coll.toLowerCase()]: y }))
    expect(borrowed(out)).toBe(room + aaveLtvRoomChange(GAIN, y))
  })

  test("different accounts (or none given): each sub-account its own room", () => {
    const room = 10_000n * E18
    const own = clampPlanToChainBounds(plan, boundsOf([D, A, B], { [A.id]: { room }, [B.id]: { room } }))
    expect(borrowed(own.plan)).toBe(2n * room)
    const two = clampPlanToChainBounds(plan, boundsOf([D, A, B], { [A.id]: { room, account: ADAPTER }, [B.id]: { room, account: "0x00000000000000000000000000000000000000bb" } }))
    expect(borrowed(two.plan)).toBe(2n * room)
  })
})
