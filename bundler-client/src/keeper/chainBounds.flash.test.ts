import { describe, expect, test } from "vitest"
import { flashPremium, minAmountOut } from "@levpilot/sdk/rules"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { type ChainBounds, clampPlanToChainBounds, fitFlashes } from "./chainBounds.js"
import { LOAN, PRICE, ROUTE, SLIP, type ClampSub as S, amounts, clampSub as sub, clampVerdict as verdict, flashSale, saleOut } from "./testing.js"

// Issue 17 (review: a flash sized above the reserve's free liquidity). The adapter's AaveFlashLoanRouter reverts
// FlashLiquidityShort(asset, amount, available) when a callback's flash exceeds the reserve's free liquidity (the
// aToken's underlying balance), and the pool refuses a flash of a paused / inactive reserve or one with flash loans
// disabled. The clamp holds every opener to `flashable` (fitFlashes) and cuts what funds it with it. Oracle: the SDK rule
// book for the module's checks (each sale paying its on-chain minimum plus 40 bps), and the router's own two checks
// (amount <= available; the sale's output >= amount + flashPremium(amount)).

const PREMIUM_BPS = 5n
function boundsOf(subs: S[], balances: Record<string, bigint>, flashable: Record<string, { loan: bigint; collateral: bigint } | undefined>): ChainBounds {
  return {
    balances,
    maxWithdraw: {},
    poolAsset: {},
    subAccounts: Object.fromEntries(
      subs.map((s) => [s.id, { debt: s.debt, collateral: s.collateral, loanToken: LOAN, collateralToken: s.coll, price: PRICE, maxSlippageBps: SLIP, due: s.due, flashable: flashable[s.id] }]),
    ),
  }
}
/** The router's checks on a flash sale block: amount <= the reserve's free liquidity, the sale pays amount + premium. */
function routerAccepts(p: ChainPlan, liquidity: bigint): boolean {
  const [opener, , sale] = p.actions
  if (opener === undefined || sale === undefined) return false
  return opener.amount <= liquidity && saleOut(sale.amount) >= opener.amount + flashPremium(opener.amount, PREMIUM_BPS)
}

describe("fitFlashes: a callback's flash held to the reserve's free liquidity (flashable)", () => {
  const B = sub(1, 100n * 10n ** 18n, 1.05)
  const x = 10n * 10n ** 18n
  const paid = minAmountOut(BigInt(SLIP), PRICE, true, x)
  const plan: ChainPlan = { subAccounts: [B.id], actions: flashSale(0, paid, x) }
  const funding = { swapPaid: [undefined, undefined, paid, undefined] }

  test("a flash sale above the reserve's liquidity: the flash is cut to it and the withdrawal and sale scale with it; the router and the module accept it", () => {
    const liquidity = paid / 3n
    expect(routerAccepts(plan, liquidity)).toBe(false) // FlashLiquidityShort on the plan given
    const { plan: out, binding } = clampPlanToChainBounds(plan, boundsOf([B], {}, { [B.id]: { loan: liquidity, collateral: 10n ** 30n } }), funding)
    expect(binding.map((b) => [b.bound, b.index, b.kind, b.asked, b.allowed])).toEqual([["flashLiquidity", 0, "RepayWithCallback", paid, liquidity]])
    const a = (out as ChainPlan).actions
    expect(a[0]?.amount).toBe(liquidity)
    expect(a[1]?.amount).toBe((x * liquidity) / paid)
    expect(a[2]?.amount).toBe((x * liquidity) / paid)
    expect(routerAccepts(out as ChainPlan, liquidity)).toBe(true)
    expect(verdict(out as ChainPlan, [B], {})).toBe("ok")
  })

  test("within the liquidity nothing changes (the plan given, no binding)", () => {
    const bounds = boundsOf([B], {}, { [B.id]: { loan: paid, collateral: 0n } })
    expect(fitFlashes(plan, bounds, funding).plan).toBe(plan)
    const { plan: out, binding } = clampPlanToChainBounds(plan, bounds, funding)
    expect(amounts(out)).toEqual(amounts(plan))
    expect(binding).toEqual([])
  })

  test("flash loans disabled, or the reserve paused (flashable 0): the block is dropped, nothing is sent, the bound is named", () => {
    const { plan: out, binding } = clampPlanToChainBounds(plan, boundsOf([B], {}, { [B.id]: { loan: 0n, collateral: 0n } }), funding)
    expect(out).toBeUndefined()
    expect(binding.map((b) => [b.bound, b.allowed])).toEqual([["flashLiquidity", 0n]])
  })

  test("a Morpho sub-account (no flashable) is not held: its callback lends nothing", () => {
    const { plan: out, binding } = clampPlanToChainBounds(plan, boundsOf([B], {}, {}), funding)
    expect(amounts(out)).toEqual(amounts(plan))
    expect(binding).toEqual([])
  })

  test("a flash carrying the Safe's idle loan token on top of the sale: the idle part is cut first, the sale kept", () => {
    const idle = 5n * 10n ** 18n
    const carried: ChainPlan = { subAccounts: [B.id], actions: flashSale(0, paid + idle, x) }
    const liquidity = paid + idle / 2n
    const balances = { [LOAN]: idle }
    const { plan: out, binding } = clampPlanToChainBounds(carried, boundsOf([B], balances, { [B.id]: { loan: liquidity, collateral: 0n } }), { ...funding, idle: [idle, undefined, undefined, undefined] })
    expect(binding.map((b) => b.bound)).toEqual(["flashLiquidity"])
    expect(amounts(out)).toEqual([`RepayWithCallback=${liquidity}`, `WithdrawCollateral=${x}`, `SellCollateral=${x}`, "EndCallback=0"])
    expect(verdict(out as ChainPlan, [B], balances)).toBe("ok")
  })

  test("an earlier borrow of the same reserve by another Aave sub-account lowers what the later flash can take", () => {
    const A = sub(2, 300n * 10n ** 18n, 1.6)
    const lent = paid / 2n
    const withBorrow: ChainPlan = {
      subAccounts: [A.id, B.id],
      actions: [{ kind: "Borrow", subAccount: 0, amount: lent }, { kind: "Repay", subAccount: 1, amount: lent }, ...flashSale(1, paid, x)],
    }
    const liquidity = paid
    const { plan: fitted, binding } = fitFlashes(withBorrow, boundsOf([A, B], {}, { [A.id]: { loan: liquidity, collateral: 10n ** 30n }, [B.id]: { loan: liquidity, collateral: 10n ** 30n } }), { swapPaid: [undefined, undefined, undefined, undefined, paid, undefined] })
    expect(binding.map((b) => [b.bound, b.index, b.allowed])).toEqual([["flashLiquidity", 2, liquidity - lent]])
    expect(fitted.actions[2]?.amount).toBe(liquidity - lent)
    expect(fitted.actions[4]?.amount).toBe((x * (liquidity - lent)) / paid)
  })

  test("a flash-looped boost above the collateral reserve's liquidity: the supply is cut to it and its borrow and purchase scale with it", () => {
    const C = sub(3, 100n * 10n ** 18n, 1.6)
    const bx = 20_000n * 10n ** 18n
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
    const liquidity = supply / 4n
    const { plan: out, binding } = clampPlanToChainBounds(boost, boundsOf([C], {}, { [C.id]: { loan: 10n ** 30n, collateral: liquidity } }), { swapPaid: [undefined, undefined, supply, undefined] })
    expect(binding.map((b) => [b.bound, b.kind, b.allowed])).toEqual([["flashLiquidity", "SupplyCollateralWithCallback", liquidity]])
    expect(amounts(out)).toEqual([`SupplyCollateralWithCallback=${liquidity}`, `Borrow=${(bx * liquidity) / supply}`, `BuyCollateral=${(bx * liquidity) / supply}`, "EndCallback=0"])
    expect(verdict(out as ChainPlan, [C], {})).toBe("ok")
  })
})
