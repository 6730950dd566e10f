import type { Hex } from "viem"
import { describe, expect, test } from "vitest"
import { collateralValue, minAmountOut } from "@levpilot/sdk/rules"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { solve } from "../solver/solver.js"
import { CRASH_CURVE, makePolicy, oneSubAccountInput } from "../solver/testing.js"
import type { SolverInput, SubAccountInput, SubAccountState } from "../solver/types.js"
import { aaveCollateralOf } from "./aaveLimits.js"
import { type ChainBounds, clampPlanToChainBounds } from "./chainBounds.js"
import { AAVE_SUB, LLTV, LOAN, OPEN_AAVE_RESERVE, SLIP, aaveSnapshotOf, flashSale, h } from "./testing.js"

// Issue 17 review (rev17c), items 1 and 2: a Safe's Aave account is one sub-account cross-margined across its reserves.
// Its `collateral` (the adapter's frame) is the threshold-weighted collateral of EVERY reserve expressed in the scope's
// collateral asset, so with WETH and WBTC supplied it is above the WETH the Safe holds. A withdrawal (and the sale it
// funds) of the scope's reserve can take at most the Safe's aToken balance of THAT reserve (`collateralHeld`): the
// adapter encodes `withdraw(max)` for any amount at or above the balance, so the plan would get less than it spends.
// A reserve whose use as collateral is switched off for the Safe counts nothing in Aave's health factor, and the adapter
// refuses to move it (`CollateralNotEnabled`): it is held as 0 and takes no supply.

const PRICE = 3_000n * 10n ** 36n
const E18 = 10n ** 18n

describe("aaveCollateralOf: the Safe's aToken balance of the scope's reserve, as Aave counts it (user configuration bitmap)", () => {
  // UserConfiguration.sol: reserve i's borrowing bit is 2i, its using-as-collateral bit 2i + 1.
  const using = (...ids: number[]) => ids.reduce((c, i) => c | (1n << BigInt(2 * i + 1)), 0n)
  const borrowing = (...ids: number[]) => ids.reduce((c, i) => c | (1n << BigInt(2 * i)), 0n)
  test("enabled as collateral: held is the aToken balance", () => {
    expect(aaveCollateralOf({ balance: 5n * E18, userConfiguration: using(0, 2) | borrowing(1), reserveId: 2 })).toEqual({ held: 5n * E18, enabled: true })
  })
  test("switched off (usageAsCollateralEnabled false): held 0, whatever the balance; a borrowing bit on the same reserve does not count", () => {
    expect(aaveCollateralOf({ balance: 5n * E18, userConfiguration: using(0) | borrowing(2), reserveId: 2 })).toEqual({ held: 0n, enabled: false })
  })
  test("no balance: held 0, enabled (Aave enables a first supply as collateral)", () => {
    expect(aaveCollateralOf({ balance: 0n, userConfiguration: 0n, reserveId: 3 })).toEqual({ held: 0n, enabled: true })
  })
})

/** 10 WETH-equivalent of threshold-weighted collateral (WETH + WBTC) against USDC at health 1.1; the Safe holds `held` WETH. */
function multiCollateral(held: number | undefined, extra: Partial<SubAccountState> = {}): SolverInput {
  const lltv = 0.83
  const price = (1.1 * 18_000) / (10 * lltv)
  const state: SubAccountState = { id: `0x${"b".repeat(64)}`, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 10, debt: 18_000, lltv, price, liquidationIncentive: 1.05, liquidationCloseFactor: 0.5, flashPremiumBps: 5, ...(held === undefined ? {} : { collateralHeld: held }), ...extra }
  const sub: SubAccountInput = {
    state,
    policy: makePolicy({ minHealth: 1.2, targetHealth: 1.4, maxHealth: 1.7, boostAllowed: false, maxSlippageBps: 50, maxEpochLossBps: 400, pools: [] }),
    epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
    risk: { sigma: 0.8 },
    swap: CRASH_CURVE,
  }
  return oneSubAccountInput(sub)
}
const sold = (i: SolverInput) => (solve(i).plan?.actions ?? []).filter((a) => a.kind === "WithdrawCollateral").reduce((t, a) => t + a.amount, 0)

describe("solver: a multi-collateral Aave account sells at most the scope reserve's own balance", () => {
  test("the swap deleverage's withdrawal and sale stay within collateralHeld (0.6 WETH held of 10 weighted)", () => {
    const free = sold(multiCollateral(undefined))
    expect(free).toBeGreaterThan(0.6) // without the bound it sells more WETH than the Safe holds
    const i = multiCollateral(0.6)
    const r = solve(i)
    expect(sold(i)).toBeLessThanOrEqual(0.6)
    const sale = (r.plan?.actions ?? []).filter((a) => a.kind === "SellCollateral").reduce((t, a) => t + a.amount, 0)
    expect(sale).toBeLessThanOrEqual(0.6)
  })
  test("a reserve switched off as collateral (held 0): no withdrawal nor sale of it", () => {
    const i = multiCollateral(0)
    expect(sold(i)).toBe(0)
    expect((solve(i).plan?.actions ?? []).some((a) => a.kind === "SellCollateral")).toBe(false)
  })
  test("a donor Aave account gives at most its held collateral to another sub-account", () => {
    const mk = (id: string, health: number, limits: Partial<SubAccountState>, maxHealth = 1.7): SubAccountInput => ({
      state: { id, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 10, debt: (10 * 3000 * 0.86) / health, lltv: 0.86, price: 3000, ...limits },
      policy: makePolicy({ cooldown: 0, maxHealth }),
      epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
      risk: { sigma: 0.6 },
    })
    const input = (held?: number): SolverInput => ({ now: 1_700_000_000, subAccounts: [mk("morpho", 1.1, {}), mk("aave", 1.9, { borrowable: 0, ...(held === undefined ? {} : { collateralHeld: held }) }, 2)], pools: [], idle: {}, costs: oneSubAccountInput(mk("x", 1.5, {})).costs, mode: "threshold" })
    const given = (i: SolverInput) => (solve(i).plan?.actions ?? []).filter((a) => a.kind === "WithdrawCollateral" && solve(i).plan?.subAccounts[a.subAccount] === "aave").reduce((t, a) => t + a.amount, 0)
    expect(given(input())).toBeGreaterThan(0.4)
    expect(given(input(0.4))).toBeLessThanOrEqual(0.4)
  })
})

type S = { id: Hex; coll: `0x${string}`; collateral: bigint; debt: bigint }
const subOf = (n: number, collateral: bigint, health: number): S => ({ id: `0x${n.toString(16).padStart(2, "0").repeat(32)}`, coll: `0x${"c".repeat(38)}${n.toString(16).padStart(2, "0")}`, collateral, debt: (collateralValue(collateral, PRICE) * LLTV) / h(health) })
const boundsOf = (s: S, balances: Record<string, bigint>, extra: Partial<ChainBounds["subAccounts"][string]>): ChainBounds => ({
  balances,
  maxWithdraw: {},
  poolAsset: {},
  subAccounts: { [s.id]: { debt: s.debt, collateral: s.collateral, loanToken: LOAN, collateralToken: s.coll, price: PRICE, maxSlippageBps: SLIP, due: true, ...extra } },
})

describe("clampPlanToChainBounds: an Aave collateral withdrawal is held to the reserve's own balance (collateralHeld)", () => {
  test("a flash sale of 10 WETH from an account holding 4 WETH (and WBTC): withdrawal, sale and repayment fall to what 4 WETH pay", () => {
    const B = subOf(9, 100n * E18, 1.05)
    const x = 10n * E18
    const held = 4n * E18 + 7n
    const paid = minAmountOut(BigInt(SLIP), PRICE, true, x)
    const plan: ChainPlan = { subAccounts: [B.id], actions: flashSale(0, paid, x) }
    // The reserve's liquidity is ample: only the Safe's balance of the reserve binds.
    const { plan: out, binding } = clampPlanToChainBounds(plan, boundsOf(B, {}, { withdrawable: 10n ** 30n, collateralHeld: held }), { swapPaid: [undefined, undefined, paid, undefined] })
    expect(binding.map((b) => [b.bound, b.index, b.allowed])).toEqual([["collateralHeld", 1, held]])
    const a = (out as ChainPlan).actions
    expect(a[1]?.amount).toBe(held)
    expect(a[2]?.amount).toBe(held)
    expect(a[0]?.amount).toBe(minAmountOut(BigInt(SLIP), PRICE, true, held))
  })
  test("plain walk: a supply raises what a later withdrawal may take; held 0 (switched off) lets nothing go", () => {
    const D = subOf(8, 100n * E18, 1.3)
    const plan: ChainPlan = { subAccounts: [D.id], actions: [{ kind: "SupplyCollateral", subAccount: 0, amount: 3n * E18 }, { kind: "WithdrawCollateral", subAccount: 0, amount: 5n * E18 }] }
    const { binding } = clampPlanToChainBounds(plan, boundsOf(D, { [D.coll]: 10n ** 22n }, { collateralHeld: E18 }))
    expect(binding.map((b) => [b.bound, b.index, b.allowed])).toEqual([["collateralHeld", 1, 4n * E18]])
    const off = clampPlanToChainBounds({ subAccounts: [D.id], actions: [{ kind: "WithdrawCollateral", subAccount: 0, amount: E18 }] }, boundsOf(D, {}, { collateralHeld: 0n }))
    expect(off.plan).toBeUndefined()
    expect(off.binding.map((b) => b.bound)).toEqual(["collateralHeld"])
  })
})

describe("portfolioOf: collateralHeld and a switched-off reserve reach the solver and the clamp", () => {
  const { id: ID } = AAVE_SUB
  const snapshotOf = aaveSnapshotOf
  const open = OPEN_AAVE_RESERVE
  test("held 40 of 100 weighted: the solver's state and the clamp's bounds carry it", () => {
    const held = 40n * E18 + 1n
    const snapshot = snapshotOf({ debt: open, collateral: open, repayableDebt: undefined, collateralHeld: held })
    expect(snapshot.input.subAccounts[0]?.state.collateralHeld).toBe(Number(held) / 1e18)
    expect(snapshot.bounds.subAccounts[ID]?.collateralHeld).toBe(held)
    const w = clampPlanToChainBounds({ subAccounts: [ID], actions: [{ kind: "WithdrawCollateral", subAccount: 0, amount: 60n * E18 }, { kind: "SupplyCollateral", subAccount: 0, amount: 1n }] }, snapshot.bounds)
    expect(w.plan?.actions[0]?.amount).toBe(held)
  })
})
