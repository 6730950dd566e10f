import { expect, test } from "vitest"
import { solve } from "./solver.js"
import { makePolicy, TEST_COSTS } from "./testing.js"
import type { SolverInput, SubAccountInput } from "./types.js"

// Issue 11 item 8 (review brk11u, F6, "size borrows to what the market can lend", with mixed venues). Two Aave v3
// sub-accounts of ONE Safe live in ONE Aave account: `ltvBorrowable` (readAaveLimits: `aaveLtvBorrowable` of
// getUserAccountData, the account's availableBorrowsBase) is the same account-wide room on both. The solver (and the
// clamp: `ltvOver` / `walkBalances` key `ltvBorrowed[id]` per sub-account) spend it once PER SUB-ACCOUNT: with a room of
// 3,000 USDC the donor borrows are 2,746.53 + 2,746.53 = 5,493; with 1,500 they are 1,500 + 1,500. Aave refuses the
// second borrow ("36", COLLATERAL_CANNOT_COVER_NEW_BORROW): the rescue of the Morpho sub-account reverts in simulation
// (the keeper then leaves the refused donor out and re-plans: a lost block and a send-failed/venue-refused alert per
// donor in the worst minute; with boosts the same double count). Now the keeper marks the sub-accounts of one Aave
// account (`ltvAccount`: the adapter, per Safe) and the solver's `ltvLeft` (and the clamp's LTV walk) share the room.

const USDC = "0x00000000000000000000000000000000000000b6"
const A = `0x${"a".repeat(64)}`
const B = `0x${"b".repeat(64)}`
const C = `0x${"c".repeat(64)}`
function sub(id: string, health: number, extra: object = {}): SubAccountInput {
  const price = 3000
  const collateral = 10
  return {
    state: { id, loanAsset: USDC, collateralAsset: "0x00000000000000000000000000000000000000c9", loanDecimals: 6, collateralDecimals: 18, collateral, debt: (collateral * price * 0.86) / health, lltv: 0.86, price, ...extra },
    policy: makePolicy(),
    epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
    risk: { sigma: 0.6 },
  }
}

const ADAPTER = "0x00000000000000000000000000000000000000aa"

for (const room of [3_000, 1_500])
  // Before the fix the account-wide Aave LTV room was spent once per Aave sub-account of the Safe.
  test(`two Aave donors of one Safe borrow at most the account's LTV room together (room ${room} USDC)`, () => {
    // A and B: Aave sub-accounts of the same Safe (one Aave account), each told the account's room; C: Morpho, below its band.
    const aave = { ltvBorrowable: room, borrowable: 1e9, ltvAccount: ADAPTER }
    const i: SolverInput = { now: 1_700_000_000, subAccounts: [sub(C, 1.05), sub(A, 1.65, aave), sub(B, 1.65, aave)], pools: [], idle: {}, costs: TEST_COSTS }
    const r = solve(i)
    const plan = r.plan as NonNullable<typeof r.plan>
    const aaveBorrows = plan.actions.filter((a) => a.kind === "Borrow" && [A, B].includes(plan.subAccounts[a.subAccount] as string)).reduce((t, a) => t + a.amount, 0)
    expect(aaveBorrows, JSON.stringify(plan.actions.map((a) => `${a.kind}=${a.amount}`))).toBeLessThanOrEqual(room)
  })

test("two Aave sub-accounts of different Aave accounts (no shared ltvAccount) each borrow against their own room", () => {
  const i: SolverInput = {
    now: 1_700_000_000,
    subAccounts: [sub(C, 1.05), sub(A, 1.65, { ltvBorrowable: 1_500, borrowable: 1e9, ltvAccount: ADAPTER }), sub(B, 1.65, { ltvBorrowable: 1_500, borrowable: 1e9, ltvAccount: "0x00000000000000000000000000000000000000bb" })],
    pools: [],
    idle: {},
    costs: TEST_COSTS,
  }
  const plan = solve(i).plan as NonNullable<ReturnType<typeof solve>["plan"]>
  const borrows = plan.actions.filter((a) => a.kind === "Borrow").map((a) => a.amount)
  expect(borrows.length).toBe(2)
  expect(borrows.reduce((t, x) => t + x, 0)).toBeGreaterThan(1_500)
  for (const b of borrows) expect(b).toBeLessThanOrEqual(1_500)
})
