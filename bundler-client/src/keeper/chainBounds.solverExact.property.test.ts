import type { Hex } from "viem"
import { expect, test } from "vitest"
import { solve } from "../solver/solver.js"
import { toBaseUnits } from "../solver/state.js"
import { randomSolverInput } from "../solver/testing.js"
import type { SolverInput } from "../solver/types.js"
import { type ChainBounds, clampPlanToChainBounds } from "./chainBounds.js"
import { planFundingOf, toChainPlan } from "./portfolio.js"

// Differential check, solver vs send clamp (reviews rr11c R1/R3): real `solve` plans on random inputs
// (`randomSolverInput`), half of them with every sub-account on ONE Aave account (`ltvAccount` shared, a random
// `ltvBorrowable`; the bounds give each the debt reserve's whole debt, see exactBounds), clamped against bounds read
// exactly from the solver's inputs, i.e. nothing changed since the read.
// The clamp must then send the plan as the solver made it: every action kept at its amount, no bound binding. (The
// clamp's LTV room is the solver's: repayments on the account give back what they clear; before rr11c R3 the clamp
// credited none and cut donor borrows of shared-account plans.)

const ACCOUNT = "0x00000000000000000000000000000000000000ad"
const token = (asset: string) => `0x${Buffer.from(asset.padEnd(20, "_").slice(0, 20)).toString("hex")}`.toLowerCase()
const EXACT = new Set(["WithdrawFromPool", "DepositToPool", "SupplyCollateral", "WithdrawCollateral", "Borrow", "Repay"])

function sharedAave(input: SolverInput, room: number): SolverInput {
  return { ...input, subAccounts: input.subAccounts.map((s) => ({ ...s, state: { ...s.state, ltvBorrowable: room, ltvAccount: ACCOUNT } })) }
}

function exactBounds(input: SolverInput): ChainBounds {
  const decimalsOf = (asset: string) => (asset === "USDC" ? 6 : 18)
  // On one Aave account the sub-accounts of a loan token owe ONE variable-debt balance (review rr11d D1): the reserve owes
  // what their positions owe together, and the bounds give each of them that figure (as the keeper's chainBoundsOf gives
  // each the account's debt and maxRepayable). The solver's inputs keep each sub-account's own part.
  const reserveDebt: Record<string, bigint> = {}
  for (const s of input.subAccounts)
    if (s.state.ltvAccount !== undefined) {
      const key = `${s.state.ltvAccount}|${s.state.loanAsset}`
      reserveDebt[key] = (reserveDebt[key] ?? 0n) + toBaseUnits(s.state.debt, s.state.loanDecimals)
    }
  const debtOf = (s: SolverInput["subAccounts"][number]) => (s.state.ltvAccount === undefined ? undefined : reserveDebt[`${s.state.ltvAccount}|${s.state.loanAsset}`])
  return {
    balances: Object.fromEntries(Object.entries(input.idle).map(([asset, x]) => [token(asset), toBaseUnits(x, decimalsOf(asset))])),
    maxWithdraw: Object.fromEntries(input.pools.map((p) => [p.address.toLowerCase(), toBaseUnits(p.withdrawable ?? p.balance, p.decimals)])),
    poolAsset: Object.fromEntries(input.pools.map((p) => [p.address.toLowerCase(), token(p.asset)])),
    subAccounts: Object.fromEntries(
      input.subAccounts.map((s) => [
        s.state.id.toLowerCase(),
        {
          debt: debtOf(s) ?? toBaseUnits(s.state.debt, s.state.loanDecimals),
          ...(debtOf(s) === undefined ? {} : { repayable: debtOf(s) }),
          collateral: toBaseUnits(s.state.collateral, s.state.collateralDecimals),
          loanToken: token(s.state.loanAsset),
          collateralToken: token(s.state.collateralAsset),
          ...(s.state.ltvBorrowable === undefined ? {} : { ltvBorrowable: toBaseUnits(s.state.ltvBorrowable, s.state.loanDecimals), ltvAccount: s.state.ltvAccount }),
        },
      ]),
    ),
  }
}

test("property: with exact bounds (nothing changed since the read) the clamp sends every real solver plan unchanged, shared Aave accounts included", () => {
  const stats = { plans: 0, shared: 0, sharedWithRepay: 0, changed: [] as string[] }
  for (let seed = 1; stats.plans < 300 && seed < 20_000; seed++) {
    const base = randomSolverInput(seed * 7919, 2 + (seed % 4), seed % 3)
    const shared = seed % 2 === 0
    const input = shared ? sharedAave(base, 500 + ((seed * 37) % 40) * 500) : base
    const plan = solve(input).plan
    if (plan === undefined || !plan.actions.every((a) => EXACT.has(a.kind))) continue
    stats.plans++
    if (shared) stats.shared++
    if (shared && plan.actions.some((a) => a.kind === "Borrow") && plan.actions.some((a) => a.kind === "Repay")) stats.sharedWithRepay++
    const chainPlan = toChainPlan(plan)
    const { plan: out, binding } = clampPlanToChainBounds(chainPlan, exactBounds(input), planFundingOf(plan))
    const given = chainPlan.actions.map((a) => `${a.kind}[${a.subAccount}]=${a.amount}`).join(" ")
    const got = out?.actions.map((a) => `${a.kind}[${a.subAccount}]=${a.amount}`).join(" ")
    if (got !== given) stats.changed.push(`seed ${seed}${shared ? " (shared Aave)" : ""}: ${given} => ${got} binding ${binding.map((b) => `${b.bound}@${b.index} ${b.asked}->${b.allowed}`).join(", ")}`)
  }
  // The generator reaches the case (shared-account plans that both borrow and repay), else the check proves nothing.
  expect(stats.plans).toBeGreaterThanOrEqual(300)
  expect(stats.sharedWithRepay, JSON.stringify(stats)).toBeGreaterThan(10)
  expect(stats.changed, `${stats.changed.length} of ${stats.plans} plans changed`).toEqual([])
})
