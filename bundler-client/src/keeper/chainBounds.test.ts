import { describe, expect, test } from "vitest"
import { toBaseUnits } from "../solver/state.js"
import { type ChainBounds, clampToChainBounds } from "./chainBounds.js"

const POOL = "0x00000000000000000000000000000000000000a1"
const LOAN = "0x00000000000000000000000000000000000000b1"
const COLL = "0x00000000000000000000000000000000000000c1"
const SUB = `0x${"11".repeat(32)}` as const

// What the solver does when the pool is the binding source: the bound in human units (a float), back to base units.
const viaFloat = (bound: bigint, decimals: number) => toBaseUnits(Number(bound) / 10 ** decimals, decimals)

function bounds(over: Partial<ChainBounds> = {}): ChainBounds {
  return {
    balances: { [LOAN]: 0n, [COLL]: 0n },
    maxWithdraw: { [POOL.toLowerCase()]: 0n },
    poolAsset: { [POOL.toLowerCase()]: LOAN },
    subAccounts: { [SUB]: { debt: 0n, collateral: 0n, loanToken: LOAN, collateralToken: COLL } },
    ...over,
  }
}

/** An independent replay of the plan against the bounds: true when no step asks more than what is there. */
function fits(plan: NonNullable<ReturnType<typeof clampToChainBounds>>, b: ChainBounds): boolean {
  let loan = b.balances[LOAN] ?? 0n
  let withdrawable = b.maxWithdraw[POOL.toLowerCase()] ?? 0n
  let debt = b.subAccounts[SUB]?.debt ?? 0n
  for (const a of plan.actions) {
    if (a.amount <= 0n) return false
    if (a.kind === "WithdrawFromPool") {
      if (a.amount > withdrawable) return false
      withdrawable -= a.amount
      loan += a.amount
    } else if (a.kind === "Repay") {
      if (a.amount > loan || a.amount > debt) return false
      loan -= a.amount
      debt -= a.amount
    }
  }
  return true
}

describe("clampToChainBounds", () => {
  test("the issue's input: an 18-decimal maxWithdraw of 17972917458421535745 wei, through floats, comes back exact", () => {
    const maxWithdraw = 17_972_917_458_421_535_745n
    const asked = viaFloat(maxWithdraw, 18)
    expect(asked).toBeGreaterThan(maxWithdraw) // the float drift the vault reverted on (3,071 wei)
    const b = bounds({ maxWithdraw: { [POOL.toLowerCase()]: maxWithdraw }, subAccounts: { [SUB]: { debt: 10n ** 30n, collateral: 0n, loanToken: LOAN, collateralToken: COLL } } })
    const plan = clampToChainBounds(
      { subAccounts: [SUB], actions: [{ kind: "WithdrawFromPool", subAccount: 0, pool: POOL, amount: asked }, { kind: "Repay", subAccount: 0, amount: asked }] },
      b,
    )
    expect(plan?.actions.map((a) => a.amount)).toEqual([maxWithdraw, maxWithdraw])
  })

  test("property: random balances, maxWithdraw and debts with 6, 8 and 18 decimals never produce an amount above its bound", () => {
    let seed = 11
    const rnd = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31), seed / 2 ** 31)
    const big = (digits: number) => {
      let x = 0n
      for (let i = 0; i < digits; i++) x = x * 10n + BigInt(Math.floor(rnd() * 10))
      return x
    }
    let overshoots = 0
    let cases = 0
    for (const decimals of [6, 8, 18]) {
      for (let i = 0; i < 2_000; i++) {
        const idle = rnd() < 0.3 ? 0n : big(decimals + 1 + Math.floor(rnd() * 8))
        const maxWithdraw = big(decimals + 1 + Math.floor(rnd() * 8)) + 1n
        const debt = big(decimals + 1 + Math.floor(rnd() * 8)) + 1n
        const b = bounds({
          balances: { [LOAN]: idle, [COLL]: 0n },
          maxWithdraw: { [POOL.toLowerCase()]: maxWithdraw },
          subAccounts: { [SUB]: { debt, collateral: 0n, loanToken: LOAN, collateralToken: COLL } },
        })
        // The solver's plan: withdraw the whole pool, repay idle + pool (capped at the debt), all through floats.
        const withdraw = viaFloat(maxWithdraw, decimals)
        const repayHuman = Math.min((Number(idle) + Number(maxWithdraw)) / 10 ** decimals, Number(debt) / 10 ** decimals)
        const repay = toBaseUnits(repayHuman, decimals)
        if (withdraw > maxWithdraw || repay > debt || repay > idle + maxWithdraw) overshoots++
        const plan = clampToChainBounds(
          { subAccounts: [SUB], actions: [{ kind: "WithdrawFromPool", subAccount: 0, pool: POOL, amount: withdraw }, { kind: "Repay", subAccount: 0, amount: repay }] },
          b,
        )
        expect(plan).toBeDefined()
        expect(fits(plan!, b)).toBe(true)
        // Clamping only removes the drift: the withdrawal is what was asked, or exactly the bound.
        const [w] = plan!.actions
        expect(w!.amount).toBe(withdraw < maxWithdraw ? withdraw : maxWithdraw)
        cases++
      }
    }
    expect(cases).toBe(6_000)
    expect(overshoots).toBeGreaterThan(100) // the float path really overshoots: the test exercises the clamp
  })

  test("a deposit and a collateral supply are clamped to the balance at that point; zero actions are dropped", () => {
    const b = bounds({ balances: { [LOAN]: 5n, [COLL]: 7n } })
    const plan = clampToChainBounds(
      {
        subAccounts: [SUB],
        actions: [
          { kind: "SupplyCollateral", subAccount: 0, amount: 9n },
          { kind: "DepositToPool", subAccount: 0, pool: POOL, amount: 6n },
          { kind: "Repay", subAccount: 0, amount: 1n },
        ],
      },
      b,
    )
    expect(plan?.actions.map((a) => [a.kind, a.amount])).toEqual([
      ["SupplyCollateral", 7n],
      ["DepositToPool", 5n],
    ])
    // No debt: a repay clamps to zero; no pool to withdraw from: nothing left to send.
    expect(clampToChainBounds({ subAccounts: [SUB], actions: [{ kind: "Repay", subAccount: 0, amount: 3n }] }, b)).toBeUndefined()
    expect(clampToChainBounds({ subAccounts: [SUB], actions: [{ kind: "WithdrawFromPool", subAccount: 0, pool: POOL, amount: 3n }] }, b)).toBeUndefined()
  })
})

test("a borrow is clamped to its market's free liquidity, net of the plan's repays on that market", () => {
  const b = bounds({ subAccounts: { [SUB]: { debt: 100n, collateral: 0n, loanToken: LOAN, collateralToken: COLL, borrowable: 40n } } })
  const plan = clampToChainBounds({ subAccounts: [SUB], actions: [{ kind: "Borrow", subAccount: 0, amount: 70n }, { kind: "Repay", subAccount: 0, amount: 30n }, { kind: "Borrow", subAccount: 0, amount: 50n }] }, b)
  expect(plan?.actions.map((a) => a.amount)).toEqual([40n, 30n, 30n])
})

test("in a swap plan, the pool withdrawal before the callback is clamped to maxWithdraw and its repayment carries that much less", () => {
  const maxWithdraw = 17_972_917_458n
  const over = viaFloat(maxWithdraw, 6) + 3_071n
  const repay = over + 5_000_000_000n
  const plan = {
    subAccounts: [SUB],
    actions: [
      { kind: "WithdrawFromPool", subAccount: 0, pool: POOL, amount: over },
      { kind: "RepayWithCallback", subAccount: 0, amount: repay },
      { kind: "WithdrawCollateral", subAccount: 0, amount: 10n ** 18n },
      { kind: "SellCollateral", subAccount: 0, route: `0x${"0".repeat(61)}1f4`, amount: 10n ** 18n },
      { kind: "EndCallback", subAccount: 0, amount: 0n },
    ],
  } as const
  const clamped = clampToChainBounds(plan as never, bounds({ maxWithdraw: { [POOL.toLowerCase()]: maxWithdraw } }))
  expect(clamped?.actions.map((a) => a.amount)).toEqual([maxWithdraw, repay - (over - maxWithdraw), 10n ** 18n, 10n ** 18n, 0n])
})
