import { describe, expect, test } from "vitest"
import { toBaseUnits } from "../solver/state.js"
import type { Hex } from "viem"
import { minAmountOut } from "@levpilot/sdk/rules"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { type ChainBounds, clampPlanToChainBounds, clampToChainBounds } from "./chainBounds.js"

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
        // Clamping only removes the drift: the withdrawal is what was asked or the bound, and no more than the repay clears
        // when the plan meant to repay all it withdraws (the module's PoolNotUsed).
        const [w, r] = plan!.actions
        const bound = withdraw < maxWithdraw ? withdraw : maxWithdraw
        const cleared = r?.kind === "Repay" ? r.amount : 0n
        if (withdraw <= repay) expect(w!.amount).toBe(bound < cleared ? bound : cleared)
        else {
          // The repay's own cut (to the debt or the balance) may come off the withdrawal, nothing more.
          expect(w!.amount).toBeLessThanOrEqual(bound)
          expect(w!.amount).toBeGreaterThanOrEqual(bound - (repay - cleared))
        }
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

test("a repay cut to the debt lowers the pool withdrawal that funded it (the module's PoolNotUsed), not a withdrawal the plan already left unused", () => {
  const debt = 17_972_917_458_421_535_745n
  const asked = viaFloat(debt, 18) + 3_071n
  const b = bounds({ maxWithdraw: { [POOL.toLowerCase()]: 10n ** 21n }, subAccounts: { [SUB]: { debt, collateral: 0n, loanToken: LOAN, collateralToken: COLL } } })
  const plan = clampToChainBounds({ subAccounts: [SUB], actions: [{ kind: "WithdrawFromPool", subAccount: 0, pool: POOL, amount: asked }, { kind: "Repay", subAccount: 0, amount: asked }] }, b)
  expect(plan?.actions.map((a) => a.amount)).toEqual([debt, debt])
  // With idle loan tokens the repay's cut still comes off the withdrawal: the module counts only what the plan brings in.
  const idle = clampToChainBounds(
    { subAccounts: [SUB], actions: [{ kind: "WithdrawFromPool", subAccount: 0, pool: POOL, amount: asked }, { kind: "Repay", subAccount: 0, amount: asked }] },
    { ...b, balances: { [LOAN]: 10n ** 20n, [COLL]: 0n } },
  )
  expect(idle?.actions.map((a) => a.amount)).toEqual([debt, debt])
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
  const sub = { [SUB]: { debt: repay * 2n, collateral: 10n ** 19n, loanToken: LOAN, collateralToken: COLL } }
  const clamped = clampToChainBounds(plan as never, bounds({ maxWithdraw: { [POOL.toLowerCase()]: maxWithdraw }, subAccounts: sub }))
  expect(clamped?.actions.map((a) => a.amount)).toEqual([maxWithdraw, repay - (over - maxWithdraw), 10n ** 18n, 10n ** 18n, 0n])
})

describe("swap boost: a clamped borrow lowers what it funds", () => {
  /** The wei the clamp leaves for a swap output's integer rounding (concavity holds in reals, not to the wei). */
  const ROUNDING_WEI = 2n
  const ROUTE = `0x${"0".repeat(61)}1f4` as const
  // The input on an 18-decimal loan token: the market can lend 3,071 wei less than the plan borrows.
  const free = 17_972_917_458_421_535_745n
  const asked = free + 3_071n
  // About 2 loan base units per collateral base unit (1e36 scale, chosen so the minimum's rounding matters); 50 bp slippage.
  const price = 2n * 10n ** 36n + 7_777_777_777n
  const maxSlippageBps = 50
  const sub = (over: Partial<ChainBounds["subAccounts"][string]> = {}) => ({
    [SUB]: { debt: 10n ** 21n, collateral: 10n ** 21n, loanToken: LOAN, collateralToken: COLL, borrowable: free, ...over },
  })
  const onePass = (supply: bigint) =>
    ({
      subAccounts: [SUB],
      actions: [
        { kind: "Borrow", subAccount: 0, amount: asked },
        { kind: "BuyCollateral", subAccount: 0, route: ROUTE, amount: asked },
        { kind: "SupplyCollateral", subAccount: 0, amount: supply },
      ],
    }) as never

  test("one-pass boost: the BuyCollateral spends what the clamped Borrow brings, the supply scales with the purchase", () => {
    const supply = asked / 2n - 1_000n
    const out = clampToChainBounds(onePass(supply), bounds({ subAccounts: sub() }))
    expect(out?.actions.map((a) => [a.kind, a.amount])).toEqual([
      ["Borrow", free],
      ["BuyCollateral", free],
      ["SupplyCollateral", (supply * free) / asked - ROUNDING_WEI],
    ])
  })

  test("with the oracle price and maxSlippageBps, the supply never drops below the purchase's on-chain minimum (IdleInflow)", () => {
    const minimum = minAmountOut(BigInt(maxSlippageBps), price, false, free)
    // Supplying exactly the old purchase's minimum: scaled down it rounds 1 wei under the new minimum.
    const supply = minAmountOut(BigInt(maxSlippageBps), price, false, asked)
    expect((supply * free) / asked).toBeLessThan(minimum)
    const out = clampToChainBounds(onePass(supply), bounds({ subAccounts: sub({ price, maxSlippageBps }) }))
    expect(out?.actions.map((a) => a.amount)).toEqual([free, free, minimum])
    // A supply above the minimum is scaled with the purchase (its output is concave in its input).
    const more = clampToChainBounds(onePass(asked / 2n), bounds({ subAccounts: sub({ price, maxSlippageBps }) }))
    expect(more?.actions[2]?.amount).toBe(((asked / 2n) * free) / asked - ROUNDING_WEI)
  })

  test("flash-looped boost: the purchase inside the callback and the callback's supply are lowered with the borrow", () => {
    const supply = asked / 2n
    const plan = {
      subAccounts: [SUB],
      actions: [
        { kind: "SupplyCollateralWithCallback", subAccount: 0, amount: supply },
        { kind: "Borrow", subAccount: 0, amount: asked },
        { kind: "BuyCollateral", subAccount: 0, route: ROUTE, amount: asked },
        { kind: "EndCallback", subAccount: 0, amount: 0n },
      ],
    } as never
    const out = clampToChainBounds(plan, bounds({ subAccounts: sub({ price, maxSlippageBps }) }))
    expect(out?.actions.map((a) => a.amount)).toEqual([(supply * free) / asked - ROUNDING_WEI, free, free, 0n])
  })

  test("a borrow not clamped leaves the purchase and the supply as they are", () => {
    const supply = asked / 2n
    const out = clampToChainBounds(onePass(supply), bounds({ subAccounts: sub({ borrowable: asked * 2n }) }))
    expect(out?.actions.map((a) => a.amount)).toEqual([asked, asked, supply])
  })
})

describe("a clamp keeps the plan one the module accepts", () => {
  const ROUTE = `0x${"0".repeat(61)}1f4` as const
  const C6 = "0x00000000000000000000000000000000000000c6"
  const C8 = "0x00000000000000000000000000000000000000c8"
  const A = `0x${"aa".repeat(32)}` as const
  const B = `0x${"bb".repeat(32)}` as const
  const R = `0x${"ee".repeat(32)}` as const
  // An 18-decimal loan token (WETH); a 6-decimal collateral worth 1/3000 of it and an 8-decimal one worth 20 (1e36 scale).
  const p6 = (10n ** 36n * 10n ** 12n) / 3000n + 12_345n
  const p8 = 20n * 10n ** 10n * 10n ** 36n + 987_654_321n
  const slip = 30
  const mo = (price: bigint, x: bigint) => minAmountOut(BigInt(slip), price, false, x)
  const world = (freeA: bigint | undefined, freeB: bigint | undefined): ChainBounds => ({
    balances: {},
    maxWithdraw: {},
    poolAsset: {},
    subAccounts: {
      [A]: { debt: 10n ** 22n, collateral: 10n ** 12n, loanToken: LOAN, collateralToken: C6, borrowable: freeA, price: p6, maxSlippageBps: slip },
      [B]: { debt: 10n ** 22n, collateral: 10n ** 12n, loanToken: LOAN, collateralToken: C8, borrowable: freeB, price: p8, maxSlippageBps: slip },
      [R]: { debt: 10n ** 22n, collateral: 10n ** 12n, loanToken: LOAN, collateralToken: C8, price: p8, maxSlippageBps: slip },
    },
  })
  const amountOf = (plan: ChainPlan | undefined, kind: string, sub: Hex) => plan?.actions.find((a) => a.kind === kind && plan.subAccounts[a.subAccount] === sub)?.amount
  const xa = 5n * 10n ** 18n + 77n
  const xb = 40n * 10n ** 18n + 3n
  const onePass = (sub: number, x: bigint, supply: bigint) => [
    { kind: "Borrow", subAccount: sub, amount: x },
    { kind: "BuyCollateral", subAccount: sub, route: ROUTE, amount: x },
    { kind: "SupplyCollateral", subAccount: sub, amount: supply },
  ]
  const flash = (sub: number, x: bigint, supply: bigint) => [
    { kind: "SupplyCollateralWithCallback", subAccount: sub, amount: supply },
    { kind: "Borrow", subAccount: sub, amount: x },
    { kind: "BuyCollateral", subAccount: sub, route: ROUTE, amount: x },
    { kind: "EndCallback", subAccount: sub, amount: 0n },
  ]

  test("two swap boosts, in sequence or interleaved: each borrow's cut lowers its own purchase, each supply stays within [own minimum, original]", () => {
    const da = 3_071n * 10n ** 9n
    const db = 10n ** 15n + 5n
    const [sa, sb] = [mo(p6, xa), mo(p8, xb)]
    const [a, b] = [onePass(0, xa, sa), onePass(1, xb, sb)]
    for (const actions of [[...a, ...b], [a[0], b[0], a[1], a[2], b[1], b[2]], [b[0], a[0], b[1], a[1], b[2], a[2]]]) {
      const out = clampToChainBounds({ subAccounts: [A, B], actions } as never, world(xa - da, xb - db))
      expect(amountOf(out, "BuyCollateral", A)).toBe(xa - da)
      expect(amountOf(out, "BuyCollateral", B)).toBe(xb - db)
      for (const [sub, price, original] of [[A, p6, sa], [B, p8, sb]] as const) {
        const supply = amountOf(out, "SupplyCollateral", sub) as bigint
        expect(supply).toBeGreaterThanOrEqual(mo(price, amountOf(out, "BuyCollateral", sub) as bigint))
        expect(supply).toBeLessThanOrEqual(original)
      }
    }
  })

  test("a borrow the market cannot lend at all sends nothing: no zero-amount Borrow, BuyCollateral or SupplyCollateral", () => {
    const x = 10n ** 18n
    const plan = { subAccounts: [A], actions: onePass(0, x, mo(p6, x)) } as never
    const { plan: out, binding } = clampPlanToChainBounds(plan, world(0n, undefined))
    expect(out).toBeUndefined()
    expect(binding).toEqual([{ bound: "borrowable", index: 0, kind: "Borrow", subAccount: A, pool: undefined, asked: x, allowed: 0n }])
    // The flash-looped form: the callback, its EndCallback and its inner actions go together.
    expect(clampToChainBounds({ subAccounts: [A], actions: flash(0, x, mo(p6, x)) } as never, world(0n, undefined))).toBeUndefined()
  })

  test("a sub-account clamped to nothing leaves the plan; the others are re-indexed and keep their amounts", () => {
    const [sa, sb] = [mo(p6, xa), mo(p8, xb)]
    for (const build of [onePass, flash]) {
      const out = clampToChainBounds({ subAccounts: [A, B], actions: [...build(0, xa, sa), ...build(1, xb, sb)] } as never, world(0n, undefined))
      expect(out).toEqual({ subAccounts: [B], actions: build(0, xb, sb) })
    }
  })

  test("a clamp that leaves a sub-account's change below the module's material threshold drops it (SubAccountUnchanged)", () => {
    const sa = mo(p6, xa)
    // A's collateral is worth about 3.3e20 wei: 10 bps of it is 3.3e17; a borrow cut to 1e16 moves about 2e16.
    const out = clampToChainBounds({ subAccounts: [A, B], actions: [...onePass(0, xa, sa), ...onePass(1, xb, mo(p8, xb))] } as never, world(10n ** 16n, undefined))
    expect(out?.subAccounts).toEqual([B])
    expect(out?.actions.every((a) => a.subAccount === 0)).toBe(true)
  })

  test("when the only due sub-account is clamped away, nothing is sent (NoTrigger)", () => {
    const b = world(0n, undefined)
    ;(b.subAccounts[A] as { due?: boolean }).due = true
    ;(b.subAccounts[B] as { due?: boolean }).due = false
    const plan = { subAccounts: [A, B], actions: [...onePass(0, xa, mo(p6, xa)), ...onePass(1, xb, mo(p8, xb))] } as never
    expect(clampToChainBounds(plan, b)).toBeUndefined()
    ;(b.subAccounts[A] as { borrowable?: bigint }).borrowable = undefined
    expect(clampToChainBounds(plan, b)?.subAccounts).toEqual([A, B])
  })

  test("donor: a borrow on A funding a repay on R lowers that repay, not R's own swap-funded repay", () => {
    const x = 7n * 10n ** 18n + 1n
    const d = 3_071n
    const sold = 10n ** 6n
    const actions = [
      { kind: "Borrow", subAccount: 0, amount: x },
      { kind: "Repay", subAccount: 1, amount: x },
      { kind: "WithdrawCollateral", subAccount: 1, amount: sold },
      { kind: "SellCollateral", subAccount: 1, route: ROUTE, amount: sold },
      { kind: "Repay", subAccount: 1, amount: minAmountOut(BigInt(slip), p8, true, sold) },
    ]
    const out = clampToChainBounds({ subAccounts: [A, R], actions } as never, world(x - d, undefined))
    expect(out?.actions.map((a) => a.amount)).toEqual([x - d, x - d, sold, sold, actions[4]?.amount])
    // Without a swap the plan is walked with the Safe's balances: the repay gets what the borrow brings.
    const plain = clampToChainBounds({ subAccounts: [A, R], actions: actions.slice(0, 2) } as never, { ...world(x - d, undefined), balances: { [LOAN]: 0n } })
    expect(plain?.actions.map((a) => a.amount)).toEqual([x - d, x - d])
  })

  test("a donor's cut goes to the sub-account it lends to even when another's purchase comes first in the plan", () => {
    const x = 7n * 10n ** 18n
    const d = 10n ** 15n
    const actions = [
      { kind: "Borrow", subAccount: 0, amount: x },
      ...onePass(1, xb, mo(p8, xb)),
      { kind: "Repay", subAccount: 2, amount: x },
    ]
    const out = clampToChainBounds({ subAccounts: [A, B, R], actions } as never, world(x - d, undefined))
    expect(amountOf(out, "BuyCollateral", B)).toBe(xb)
    expect(amountOf(out, "Repay", R)).toBe(x - d)
  })

  test("flash loops on two sub-accounts, both clamped: each callback supply within [own minimum, original]", () => {
    const da = 3_071n
    const db = 10n ** 16n
    const [sa, sb] = [mo(p6, xa), mo(p8, xb)]
    const out = clampToChainBounds({ subAccounts: [A, B], actions: [...flash(0, xa, sa), ...flash(1, xb, sb)] } as never, world(xa - da, xb - db))
    const amounts = out?.actions.map((a) => a.amount) ?? []
    expect([amounts[2], amounts[6]]).toEqual([xa - da, xb - db])
    expect(amounts[0]).toBeGreaterThanOrEqual(mo(p6, xa - da))
    expect(amounts[0]).toBeLessThanOrEqual(sa)
    expect(amounts[4]).toBeGreaterThanOrEqual(mo(p8, xb - db))
    expect(amounts[4]).toBeLessThan(sb)
  })
})
