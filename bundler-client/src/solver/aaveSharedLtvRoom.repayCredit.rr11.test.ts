import { expect, test } from "vitest"
import { solve } from "./solver.js"
import { makePolicy, TEST_COSTS } from "./testing.js"
import type { SolverInput, SubAccountInput } from "./types.js"

// FAILS TODAY (review rr11 R4; found by a random solver run, seed 9339 of randomSolverInput with a shared Aave account,
// reduced). F6 of review brk11u: `WorkingPortfolio.ltvLeft` nets the room by every sub-account of the Aave account's
// debt change so far IN THE WORKING PORTFOLIO, which includes the target's pool-funded repayment; but the emitted plan
// merges that repayment with the donor-funded one into ONE Repay after the donor's Borrow (WithdrawFromPool, Borrow,
// Repay). At the borrow Aave's room has not been credited with any repayment: the donor's borrow exceeds it and Aave
// refuses it ("36"). Target T (below band, health 1.10) and donor D (in band, 1.90) in ONE Aave account of room R, T's
// pool lends W: the donor borrows min(need, R + W): room 1,000 / pool 2,500 -> Borrow 2,732.07 against 1,000; room 500 /
// pool 4,000 -> 1,232.07 against 500. (The keeper's clamp, which credits no repayment, cuts the borrow to the room: the
// rescue is smaller than planned, and falls outside its landing zone when the room is small.) Expected: each borrow
// within the room at it in plan order (or the plan emits the pool-funded repayment before the borrow).

const USDC = "USDC"
const POOL = "0x00000000000000000000000000000000000000f1"
const ACCOUNT = "0x00000000000000000000000000000000000000aa"
const sub = (id: string, health: number, room: number): SubAccountInput => ({
  state: { id, loanAsset: USDC, collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 10, debt: (10 * 3000 * 0.86) / health, lltv: 0.86, price: 3000, ltvBorrowable: room, collateralLtv: 0.8, ltvAccount: ACCOUNT },
  policy: makePolicy({ minHealth: 1.2, targetHealth: 1.4, maxHealth: 2, pools: [POOL] }),
  epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
  risk: { sigma: 0.6 },
})

for (const [room, withdrawable] of [[1_000, 2_500], [500, 4_000], [2_000, 3_000]] as const)
  test(`a donor's borrow is within its Aave account's room at the borrow, not credited with the target's later pool-funded repayment (room ${room}, pool ${withdrawable} USDC)`, () => {
    const T = `0x${"1".repeat(64)}`
    const D = `0x${"2".repeat(64)}`
    const input: SolverInput = { now: 1_700_000_000, subAccounts: [sub(T, 1.1, room), sub(D, 1.9, room)], pools: [{ address: POOL, asset: USDC, decimals: 6, balance: withdrawable, withdrawable, slippageBps: 0 }], idle: {}, costs: TEST_COSTS }
    const plan = solve(input).plan
    const show = plan?.actions.map((a) => `${a.kind}[${plan.subAccounts[a.subAccount]?.slice(2, 3)}]=${a.amount.toFixed(2)}`).join(" ")
    expect(plan?.actions.some((a) => a.kind === "Borrow"), show).toBe(true)
    // Aave's room walked in plan order: a repayment of the account adds its amount, a borrow takes it.
    let left = room
    for (const a of plan?.actions ?? []) {
      if (a.kind === "Repay" || a.kind === "RepayWithCallback") left += a.amount
      if (a.kind === "Borrow") {
        expect(a.amount, `${show}: room at the borrow ${left}`).toBeLessThanOrEqual(left * (1 + 1e-9))
        left -= a.amount
      }
    }
  })

// The class, on held-out inputs: random rooms, pools, idle balances and healths of a target and one or two donors in one
// Aave account; every borrow within the room at it, walked in plan order (a repayment credits the room only once emitted).
test("every donor borrow of one Aave account is within the room at it in plan order (400 random cases)", () => {
  let seed = 0x5eed4
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  let borrows = 0
  for (let n = 0; n < 400; n++) {
    const room = 100 + rnd() * 6_000
    const withdrawable = rnd() < 0.2 ? 0 : rnd() * 5_000
    const subs = [sub(`0x${"1".repeat(64)}`, 1.02 + rnd() * 0.15, room), sub(`0x${"2".repeat(64)}`, 1.6 + rnd() * 0.35, room)]
    if (rnd() < 0.5) subs.push(sub(`0x${"3".repeat(64)}`, 1.5 + rnd() * 0.45, room))
    const input: SolverInput = { now: 1_700_000_000, subAccounts: subs, pools: [{ address: POOL, asset: USDC, decimals: 6, balance: withdrawable, withdrawable, slippageBps: 0 }], idle: rnd() < 0.4 ? { [USDC]: rnd() * 1_500 } : {}, costs: TEST_COSTS }
    const plan = solve(input).plan
    let left = room
    for (const a of plan?.actions ?? []) {
      if (a.kind === "Repay" || a.kind === "RepayWithCallback") left += a.amount
      if (a.kind === "Borrow") {
        borrows++
        expect(a.amount, `case ${n}: room at the borrow ${left}`).toBeLessThanOrEqual(left * (1 + 1e-9))
        left -= a.amount
      }
    }
  }
  expect(borrows).toBeGreaterThan(50)
})
