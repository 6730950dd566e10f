import { describe, expect, test } from "vitest"
import { flashPremium, minAmountOut } from "@levpilot/sdk/rules"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { type ChainBounds, clampPlanToChainBounds } from "./chainBounds.js"
import { LOAN, PRICE, SLIP, type ClampSub as S, amounts, clampSub as sub, clampVerdict as verdict, flashSale, saleOut } from "./testing.js"

// Review rev17d (issue 17, held out): a cross-venue rescue: a healthy Morpho sub-account (no flashable) borrows the loan
// token as a donor and an Aave sub-account's flash repayment carries it on top of its sale; the Aave debt reserve's free
// liquidity is below the flash. Oracle: the router's checks (amount <= liquidity; what the block and the donor bring
// pays amount + premium) and the SDK rule book (no IdleInflow / PoolNotUsed). Before the fix (commit 186584a) every case
// was IdleInflow (3/4: 37,312.5 received vs 33,581.25 spent): fitFlashes scales the sale by the cut's share of all but the
// idle part and trimUnused measured the excess against the fitted plan, so the donor's unneeded borrow was kept. Fixed:
// trimUnused measures it against the plan given (the donor's borrow is trimmed to what the smaller flash still needs).

const PREMIUM_BPS = 5n
function boundsOf(subs: S[], flashable: Record<string, { loan: bigint; collateral: bigint } | undefined>): ChainBounds {
  return {
    balances: {},
    maxWithdraw: {},
    poolAsset: {},
    subAccounts: Object.fromEntries(subs.map((s) => [s.id, { debt: s.debt, collateral: s.collateral, loanToken: LOAN, collateralToken: s.coll, price: PRICE, maxSlippageBps: SLIP, due: s.due, flashable: flashable[s.id] }])),
  }
}

describe("cross-venue: a Morpho donor's borrow carried by an Aave flash repayment above the reserve's liquidity", () => {
  const A = sub(1, 100n * 10n ** 18n, 1.05) // Aave, due
  const M = sub(2, 300n * 10n ** 18n, 1.4) // Morpho donor, inside its band
  const x = 10n * 10n ** 18n
  const paid = minAmountOut(BigInt(SLIP), PRICE, true, x)
  const lent = paid / 2n
  const plan: ChainPlan = { subAccounts: [M.id, A.id], actions: [{ kind: "Borrow", subAccount: 0, amount: lent }, ...flashSale(1, paid + lent, x)] }
  const funding = { swapPaid: [undefined, undefined, undefined, paid, undefined] }

  for (const share of [3n, 2n, 1n]) {
    test(`liquidity = ${share}/4 of the flash: the flash fits it, the donor and the sale pay it and its premium, the rule book accepts`, () => {
      const liquidity = ((paid + lent) * share) / 4n
      const { plan: out, binding } = clampPlanToChainBounds(plan, boundsOf([A, M], { [A.id]: { loan: liquidity, collateral: 10n ** 30n } }), funding)
      expect(binding.map((b) => b.bound)).toContain("flashLiquidity")
      const p = out as ChainPlan
      expect(p).toBeDefined()
      const opener = p.actions.find((a) => a.kind === "RepayWithCallback")
      const borrow = p.actions.find((a) => a.kind === "Borrow")?.amount ?? 0n
      const sale = p.actions.find((a) => a.kind === "SellCollateral")?.amount ?? 0n
      expect(opener?.amount ?? 0n).toBeLessThanOrEqual(liquidity)
      expect(borrow + saleOut(sale)).toBeGreaterThanOrEqual((opener?.amount ?? 0n) + flashPremium(opener?.amount ?? 0n, PREMIUM_BPS))
      expect([amounts(p), verdict(p, [A, M], {})]).toEqual([amounts(p), "ok"])
    })
  }
})
