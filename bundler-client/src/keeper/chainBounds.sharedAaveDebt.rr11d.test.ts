import { describe, expect, test } from "vitest"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { type ChainBounds, clampPlanToChainBounds } from "./chainBounds.js"
import { ADAPTER as ACCOUNT, USDC, WBTC, WETH, subIdOf as id } from "./testing.js"

// Review rr11d (a): the LTV room credit for repayments (fx11d, LtvLedger) against what Aave clears.
// On Aave one Safe's sub-accounts on one adapter are ONE Aave account (`ltvAccount`), and two of them with the same loan
// token owe ONE variable-debt balance: the keeper's bounds (portfolio.ts chainBoundsOf) give each of them the account's
// `debt` (AaveV3Adapter._position: the account's total debt) and `repayable` (maxRepayable: the Safe's variableDebtToken
// balance of the reserve), the same numbers. The clamp tracks debt/repayable per sub-account id, so two repayments of
// that one debt are each held to the whole of it and BOTH are credited to the shared LTV room; Aave clears the debt once.
// A later borrow on the account is then let through above the room Aave has ("36" COLLATERAL_CANNOT_COVER_NEW_BORROW).
//
// (a2) `LtvLedger.borrowed` sums the account's borrows across loan tokens in each borrower's own base units, and
// `ltvBorrowable` is per loan token: a USDC (6 dec) borrow that uses the whole room takes 1e9 "units" off a WETH (18 dec)
// room of 3.3e17: the WETH borrow after it passes whole (pre-existing since the shared room (rr11 R4); the repay credit
// is keyed by loan token, the borrow debit is not).

const E18 = 10n ** 18n
const [T1, T2, D, M] = [id(1), id(2), id(3), id(4)]

describe("rr11d (a): the clamp's shared Aave LTV room vs what Aave clears and lends", () => {
  // The account owes 10,000 (18-dec loan token) of one reserve; room before the plan 1,000.
  const R = 10_000n * E18
  const ROOM = 1_000n * E18
  const aave = (collateralToken: string) => ({ debt: R, repayable: R, collateral: 100n * E18, loanToken: USDC, collateralToken, ltvBorrowable: ROOM, ltvAccount: ACCOUNT, due: true })
  const bounds: ChainBounds = {
    balances: { [USDC]: 12_000n * E18 },
    maxWithdraw: {},
    poolAsset: {},
    subAccounts: {
      [T1]: aave(WETH),
      [T2]: aave(WBTC),
      [D]: { ...aave(WETH), due: false },
      // A Morpho sub-account (no LTV room) the donor's borrow rescues.
      [M]: { debt: 50_000n * E18, collateral: 100n * E18, loanToken: USDC, collateralToken: WETH, due: true },
    },
  }
  const plan: ChainPlan = {
    subAccounts: [T1, T2, D, M],
    actions: [
      { kind: "Repay", subAccount: 0, amount: 6_000n * E18 },
      { kind: "Repay", subAccount: 1, amount: 6_000n * E18 },
      { kind: "Borrow", subAccount: 2, amount: 12_000n * E18 },
      { kind: "Repay", subAccount: 3, amount: 12_000n * E18 },
    ],
  }

  // Aave's own arithmetic on the one debt reserve: repayments clear at most what the account owes (min(amount, debt)),
  // each cleared unit gives one unit of room back (same token, same price), a borrow above the room is refused.
  function aaveRoomAtBorrows(p: ChainPlan): { index: number; amount: bigint; room: bigint }[] {
    let debt = R
    let room = ROOM
    const out: { index: number; amount: bigint; room: bigint }[] = []
    p.actions.forEach((a, k) => {
      const sub = p.subAccounts[a.subAccount]
      if (sub === M) return
      if (a.kind === "Repay") {
        const cleared = a.amount < debt ? a.amount : debt
        debt -= cleared
        room += cleared
      } else if (a.kind === "Borrow") {
        out.push({ index: k, amount: a.amount, room })
        debt += a.amount
        room -= a.amount
      }
    })
    return out
  }

  test("control: Aave's arithmetic refuses the plan given (12,000 borrowed against 1,000 + 10,000 cleared)", () => {
    expect(aaveRoomAtBorrows(plan)).toEqual([{ index: 2, amount: 12_000n * E18, room: 11_000n * E18 }])
  })

  test("FAILS TODAY: two sub-accounts of one Aave account repay the one debt reserve: the clamp credits 12,000 of room, Aave clears 10,000; the 12,000 borrow goes out unchanged", () => {
    const { plan: out, binding } = clampPlanToChainBounds(plan, bounds, { paysFor: [undefined, undefined, 3, undefined] })
    expect(out).toBeDefined()
    for (const b of aaveRoomAtBorrows(out as ChainPlan)) expect(b.amount <= b.room, `borrow ${b.amount} > Aave room ${b.room}; binding ${JSON.stringify(binding, (_, v) => (typeof v === "bigint" ? v.toString() : v))}`).toBe(true)
  })

  test("FAILS TODAY: (a2) borrows of two loan tokens on one Aave account: a USDC borrow using the whole room leaves the WETH borrow after it whole (the debit sums 6- and 18-decimal units)", () => {
    const E6 = 10n ** 6n
    const U = id(5)
    const W = id(6)
    const [MU, MW] = [id(7), id(8)]
    // The account's room is $1,000: 1,000 USDC or 1/3 WETH at $3,000.
    const roomUsdc = 1_000n * E6
    const roomWeth = E18 / 3n
    const b: ChainBounds = {
      balances: {},
      maxWithdraw: {},
      poolAsset: {},
      subAccounts: {
        [U]: { debt: 0n, collateral: 10n * E18, loanToken: USDC, collateralToken: WETH, ltvBorrowable: roomUsdc, ltvAccount: ACCOUNT, due: false },
        [W]: { debt: 0n, collateral: 10n * E18, loanToken: WETH, collateralToken: WBTC, ltvBorrowable: roomWeth, ltvAccount: ACCOUNT, due: false },
        [MU]: { debt: 5_000n * E6, collateral: E18, loanToken: USDC, collateralToken: WETH, due: true },
        [MW]: { debt: 5n * E18, collateral: E18, loanToken: WETH, collateralToken: WBTC, due: true },
      },
    }
    const p: ChainPlan = {
      subAccounts: [U, W, MU, MW],
      actions: [
        { kind: "Borrow", subAccount: 0, amount: roomUsdc },
        { kind: "Repay", subAccount: 2, amount: roomUsdc },
        { kind: "Borrow", subAccount: 1, amount: roomWeth },
        { kind: "Repay", subAccount: 3, amount: roomWeth },
      ],
    }
    const { plan: out } = clampPlanToChainBounds(p, b, { paysFor: [1, undefined, 3, undefined] })
    // Aave: the USDC borrow used the account's whole room in base currency; the WETH borrow has none left.
    const usdc = out?.actions.find((a) => a.kind === "Borrow" && out.subAccounts[a.subAccount] === U)?.amount ?? 0n
    const weth = out?.actions.find((a) => a.kind === "Borrow" && out.subAccounts[a.subAccount] === W)?.amount ?? 0n
    // In dollars (USDC at $1, WETH at $3,000): together at most the $1,000 room.
    expect(usdc * 10n ** 12n + weth * 3_000n <= 1_000n * E18 + 3_000n, `usdc ${usdc}, weth ${weth}`).toBe(true)
  })
})
