import { describe, expect, test } from "vitest"
import { collateralValue, minAmountOut } from "@levpilot/sdk/rules"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { type ChainBounds, clampPlanToChainBounds } from "./chainBounds.js"
import { AAVE_SUB, LLTV, LOAN, OPEN_AAVE_RESERVE, POOL, PRICE, ROUTE, SLIP, type ClampSub as S, aaveSnapshotOf, amounts, clampSub as sub, clampVerdict as verdict, flashSale, h } from "./testing.js"

// Issue 11 item 1, Aave v3 (review 4, B2/B3): the solver sizes amounts to an Aave sub-account's supply-cap room,
// its collateral reserve's liquidity and `maxRepayable` in floats; the clamp binds them exactly. Oracle: the SDK rule
// book (`checkRebalanceRules`, which counts a repayment up to `repayableDebt` as the module does) where it models the
// bound, the bound itself where it does not (supply caps, reserve liquidity).

type Action = ChainPlan["actions"][number]

/** The debt repaid to bring `s` to health `t`. */
const toTarget = (s: S, t = 1.3) => s.debt - (collateralValue(s.collateral, PRICE) * LLTV) / h(t)
/** The clamp's bounds, each sub-account's `repayable` its maxRepayable (the keeper's `chainBoundsOf` for Aave). */
function boundsOf(subs: S[], balances: Record<string, bigint>, maxWithdraw: Record<string, bigint> = {}, aave: Record<string, Partial<ChainBounds["subAccounts"][string]>> = {}): ChainBounds {
  return {
    balances,
    maxWithdraw,
    poolAsset: Object.fromEntries(Object.keys(maxWithdraw).map((p) => [p, LOAN])),
    subAccounts: Object.fromEntries(
      subs.map((s) => [
        s.id,
        { debt: s.debt, collateral: s.collateral, loanToken: LOAN, collateralToken: s.coll, price: PRICE, maxSlippageBps: SLIP, due: s.due, repayable: s.repayableDebt, ...aave[s.id] },
      ]),
    ),
  }
}

describe("clampPlanToChainBounds: an Aave sub-account's maxRepayable (the debt reserve's own debt, below the debt across reserves)", () => {
  test("B2: a pool-funded repay 3,071 wei above maxRepayable: repay and withdrawal held to it (PoolNotUsed on the plan given)", () => {
    for (const over of [1n, 3_071n, 10n ** 15n]) {
      const B = sub(2, 100n * 10n ** 18n, 1.05, [POOL])
      B.repayableDebt = toTarget(B) - 1_000n * 10n ** 6n
      const w = B.repayableDebt + over
      const plan: ChainPlan = { subAccounts: [B.id], actions: [{ kind: "WithdrawFromPool", subAccount: 0, pool: POOL, amount: w }, { kind: "Repay", subAccount: 0, amount: w }] }
      const shares = { [POOL]: 10n ** 30n }
      expect(verdict(plan, [B], {}, shares)).toMatch(/^PoolNotUsed/)
      const { plan: out, binding } = clampPlanToChainBounds(plan, boundsOf([B], {}, { [POOL]: 10n ** 30n }))
      expect(amounts(out)).toEqual([`WithdrawFromPool=${B.repayableDebt}`, `Repay=${B.repayableDebt}`])
      expect(binding.map((b) => [b.bound, b.index, b.allowed])).toEqual([["repayable", 1, B.repayableDebt]])
      expect(verdict(out as ChainPlan, [B], {}, shares)).toBe("ok")
    }
  })

  test("B2b: a donor-funded repay above maxRepayable: the donor's borrow is cut with it (IdleInflow on the plan given)", () => {
    const A = sub(3, 300n * 10n ** 18n, 1.45)
    const B = sub(4, 100n * 10n ** 18n, 1.05)
    B.repayableDebt = toTarget(B) - 1_000n * 10n ** 6n
    const y = B.repayableDebt + 3_071n
    const plan: ChainPlan = { subAccounts: [A.id, B.id], actions: [{ kind: "Borrow", subAccount: 0, amount: y }, { kind: "Repay", subAccount: 1, amount: y }] }
    expect(verdict(plan, [A, B], {})).toMatch(/^IdleInflow/)
    const { plan: out } = clampPlanToChainBounds(plan, boundsOf([A, B], {}))
    expect(amounts(out)).toEqual([`Borrow=${B.repayableDebt}`, `Repay=${B.repayableDebt}`])
    expect(verdict(out as ChainPlan, [A, B], {})).toBe("ok")
  })

  test("a flash sale repaying above maxRepayable with idle on top: the idle top-up is cut first, the sale kept", () => {
    const B = sub(5, 100n * 10n ** 18n, 1.05)
    const x = 10n * 10n ** 18n
    const paid = minAmountOut(BigInt(SLIP), PRICE, true, x)
    B.repayableDebt = paid + 5n * 10n ** 18n
    const R = B.repayableDebt + 3_071n
    const plan: ChainPlan = {
      subAccounts: [B.id],
      actions: [
        ...flashSale(0, R, x),
      ],
    }
    const balances = { [LOAN]: 10n ** 24n }
    const { plan: out, binding } = clampPlanToChainBounds(plan, boundsOf([B], balances), { swapPaid: [undefined, undefined, paid, undefined] })
    expect(amounts(out)).toEqual([`RepayWithCallback=${B.repayableDebt}`, `WithdrawCollateral=${x}`, `SellCollateral=${x}`, "EndCallback=0"])
    expect(binding.map((b) => b.bound)).toEqual(["repayable"])
    expect(verdict(out as ChainPlan, [B], balances)).toBe("ok")
  })

  test("a donor-funded repay above maxRepayable next to a later flash boost: the donor's borrow is cut, not the boost's", () => {
    const A = sub(10, 300n * 10n ** 18n, 1.45)
    const B = sub(11, 100n * 10n ** 18n, 1.2)
    const C = sub(12, 100n * 10n ** 18n, 1.6)
    const y = toTarget(B, 1.25)
    const bx = 20_000n * 10n ** 18n
    const supply = minAmountOut(BigInt(SLIP), PRICE, false, bx)
    const plan: ChainPlan = {
      subAccounts: [A.id, B.id, C.id],
      actions: [
        { kind: "Borrow", subAccount: 0, amount: y },
        { kind: "Repay", subAccount: 1, amount: y },
        { kind: "SupplyCollateralWithCallback", subAccount: 2, amount: supply },
        { kind: "Borrow", subAccount: 2, amount: bx },
        { kind: "BuyCollateral", subAccount: 2, route: ROUTE, amount: bx },
        { kind: "EndCallback", subAccount: 2, amount: 0n },
      ],
    }
    expect(verdict(plan, [A, B, C], {})).toBe("ok")
    // The chain: B's debt reserve holds half of what the solver repays.
    B.repayableDebt = y / 2n
    expect(verdict(plan, [A, B, C], {})).toMatch(/^IdleInflow/)
    const { plan: out } = clampPlanToChainBounds(plan, boundsOf([A, B, C], {}), { swapPaid: [undefined, undefined, undefined, undefined, supply, undefined] })
    expect(amounts(out)).toEqual([`Borrow=${B.repayableDebt}`, `Repay=${B.repayableDebt}`, `SupplyCollateralWithCallback=${supply}`, `Borrow=${bx}`, `BuyCollateral=${bx}`, "EndCallback=0"])
    expect(verdict(out as ChainPlan, [A, B, C], {})).toBe("ok")
  })

  test("a repayment after the sub-account's own borrow counts the borrow in maxRepayable (no cut)", () => {
    const B = sub(6, 100n * 10n ** 18n, 1.2)
    B.repayableDebt = 10n ** 18n
    const plan: ChainPlan = { subAccounts: [B.id], actions: [{ kind: "Borrow", subAccount: 0, amount: 5n * 10n ** 18n }, { kind: "Repay", subAccount: 0, amount: 4n * 10n ** 18n }] }
    const { binding } = clampPlanToChainBounds(plan, boundsOf([B], {}))
    expect(binding).toEqual([])
  })
})

describe("clampPlanToChainBounds: an Aave collateral reserve's supply-cap room and available liquidity", () => {
  test("a supply above the cap room is held to it, the borrow that funds its purchase is not needed beyond", () => {
    const D = sub(7, 100n * 10n ** 18n, 1.6)
    const room = 17_972_917_458_421_535_745n
    const plan: ChainPlan = { subAccounts: [D.id], actions: [{ kind: "SupplyCollateral", subAccount: 0, amount: room + 3_071n }] }
    const { plan: out, binding } = clampPlanToChainBounds(plan, boundsOf([D], { [D.coll]: 10n ** 22n }, {}, { [D.id]: { suppliable: room } }))
    expect(amounts(out)).toEqual([`SupplyCollateral=${room}`])
    expect(binding.map((b) => [b.bound, b.allowed])).toEqual([["suppliable", room]])
  })

  test("a withdrawal frees cap room and a supply takes liquidity: the limits move with the walk", () => {
    const D = sub(8, 100n * 10n ** 18n, 1.3)
    const plan: ChainPlan = {
      subAccounts: [D.id],
      actions: [
        { kind: "SupplyCollateral", subAccount: 0, amount: 3n * 10n ** 18n },
        { kind: "WithdrawCollateral", subAccount: 0, amount: 4n * 10n ** 18n },
        { kind: "SupplyCollateral", subAccount: 0, amount: 5n * 10n ** 18n },
      ],
    }
    // Room 3: the first supply fills it, the withdrawal frees 4; liquidity 2 + 3 supplied covers the 4 withdrawn.
    const { binding } = clampPlanToChainBounds(plan, boundsOf([D], { [D.coll]: 10n ** 22n }, {}, { [D.id]: { suppliable: 3n * 10n ** 18n, withdrawable: 2n * 10n ** 18n } }))
    expect(binding.map((b) => [b.bound, b.index, b.allowed])).toEqual([["suppliable", 2, 4n * 10n ** 18n]])
  })

  test("a flash sale's collateral withdrawal above the reserve's liquidity: the withdrawal, the sale and the repayment it funds fall", () => {
    const B = sub(9, 100n * 10n ** 18n, 1.05)
    const x = 10n * 10n ** 18n
    const paid = minAmountOut(BigInt(SLIP), PRICE, true, x)
    const liquidity = 6n * 10n ** 18n + 1n
    const plan: ChainPlan = {
      subAccounts: [B.id],
      actions: [
        ...flashSale(0, paid, x),
      ],
    }
    const { plan: out, binding } = clampPlanToChainBounds(plan, boundsOf([B], {}, {}, { [B.id]: { withdrawable: liquidity } }), { swapPaid: [undefined, undefined, paid, undefined] })
    expect(binding.map((b) => [b.bound, b.index, b.allowed])).toEqual([["withdrawable", 1, liquidity]])
    const a = (out as ChainPlan).actions as Action[]
    expect(a[1]?.amount).toBe(liquidity)
    expect(a[2]?.amount).toBe(liquidity)
    expect(a[0]?.amount).toBe(minAmountOut(BigInt(SLIP), PRICE, true, liquidity))
    expect(verdict(out as ChainPlan, [B], {})).toBe("ok")
  })
})

// B3: the keeper's own bounds (`portfolioOf`, the fleet path; `readPortfolio` builds them through the same
// `chainBoundsOf`) carry the limits `readAaveLimits` read, so the solver's float amounts sized to them come back exact.
describe("portfolioOf: an Aave sub-account's limits reach the clamp", () => {
  const { id: ID, debt } = AAVE_SUB
  const snapshotOf = aaveSnapshotOf
  const open = OPEN_AAVE_RESERVE
  const room = 17_972_917_458_421_535_745n
  const liquidity = 3_000_000_000_000_000_001n
  const repayableDebt = debt / 3n
  const base = (x: number) => BigInt(Math.floor(x * 1e18))

  test("B3: the float supply above the cap room, the repay above maxRepayable, the withdrawal above the liquidity come back to the bounds", () => {
    const snapshot = snapshotOf({ debt: open, collateral: { borrowable: 0n, suppliable: room, withdrawable: liquidity, repayable: undefined, flashable: liquidity }, repayableDebt })
    const input = snapshot.input.subAccounts[0]?.state
    const supply = base(input?.suppliable as number)
    expect(input?.repayableDebt).toBe(Number(repayableDebt) / 1e18)
    expect(supply).toBeGreaterThan(room) // the float drift
    const { plan: out } = clampPlanToChainBounds({ subAccounts: [ID], actions: [{ kind: "SupplyCollateral", subAccount: 0, amount: supply }, { kind: "Repay", subAccount: 0, amount: repayableDebt + 3_071n }] }, snapshot.bounds)
    expect(amounts(out)).toEqual([`SupplyCollateral=${room}`, `Repay=${repayableDebt}`])
    const w = clampPlanToChainBounds({ subAccounts: [ID], actions: [{ kind: "WithdrawCollateral", subAccount: 0, amount: base(input?.withdrawable as number) + 3_071n }, { kind: "SupplyCollateral", subAccount: 0, amount: 1n }] }, snapshot.bounds)
    expect(w.plan?.actions[0]?.amount).toBe(liquidity)
  })

  test("a paused debt reserve takes no repayment (repayable 0): the repay is dropped; without a supply cap a supply is not cut", () => {
    const snapshot = snapshotOf({ debt: { ...open, repayable: 0n }, collateral: { borrowable: 0n, suppliable: undefined, withdrawable: liquidity, repayable: undefined, flashable: liquidity }, repayableDebt })
    const { plan: out, binding } = clampPlanToChainBounds({ subAccounts: [ID], actions: [{ kind: "SupplyCollateral", subAccount: 0, amount: 10n ** 21n }, { kind: "Repay", subAccount: 0, amount: 10n ** 18n }] }, snapshot.bounds)
    expect(amounts(out)).toEqual([`SupplyCollateral=${10n ** 21n}`])
    expect(binding.map((b) => b.bound)).toEqual(["repayable"])
  })
})
