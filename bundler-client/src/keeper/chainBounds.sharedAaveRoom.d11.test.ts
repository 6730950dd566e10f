import type { Hex } from "viem"
import { describe, expect, test } from "vitest"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { Rng } from "../risk/rng.js"
import { type AaveLtvGain, aaveLtvRoomChange } from "./aaveLimits.js"
import { type ChainBounds, clampPlanToChainBounds } from "./chainBounds.js"
import { ADAPTER as ACCOUNT, USDC, WBTC, WETH, subIdOf as id } from "./testing.js"

// d11 (review rr11d D1/D2, the class): the send clamp's model of ONE Aave account shared by several sub-accounts
// (`ltvAccount`). Unreachable through the module today (one policy per Aave pool and Safe: LeverageModule.setPolicy's
// `VenueAccountTaken`, SECURITY row 57), but the clamp accepts such bounds and must not over-credit them:
// - a debt reserve (account, loan token) is owed once: every sub-account of it gets the same `debt` / `repayable`
//   (the keeper's `chainBoundsOf`), and the repayments of all of them together clear at most that;
// - the account's room is one figure in Aave's base currency (USD, 8 decimals): a borrow, repayment or supply in one
//   loan token changes the room of a borrow in another by its value at Aave's prices (`ltvGain.debtPrice`), rounded
//   against the account; without a price for a token the plan moves, nothing of it is credited and a debit leaves no room.

const E6 = 10n ** 6n
const E8 = 10n ** 8n
const E18 = 10n ** 18n
const PRICE: Record<string, bigint> = { [USDC]: 1n * E8, [WETH]: 3_000n * E8, [WBTC]: 60_000n * E8 }
const DECIMALS: Record<string, number> = { [USDC]: 6, [WETH]: 18, [WBTC]: 8 }
const unit = (token: string) => 10n ** BigInt(DECIMALS[token] as number)
const gain = (loan: string, collateral: string, ltvBps = 8_000n): AaveLtvGain => ({
  ltvBps,
  collateralPrice: PRICE[collateral] as bigint,
  collateralDecimals: DECIMALS[collateral] as number,
  debtPrice: PRICE[loan] as bigint,
  debtDecimals: DECIMALS[loan] as number,
  totalCollateralBase: 1_000_000n * E8,
})
/** A room in base currency as the reader gives it to a sub-account of loan token `token`: rounded down. */
const roomIn = (base: bigint, token: string) => (base * unit(token)) / (PRICE[token] as bigint)
/** Aave's value of `amount` of `token` in base currency (floor, as GenericLogic values debt). */
const valueOf = (amount: bigint, token: string) => (amount * (PRICE[token] as bigint)) / unit(token)

describe("d11: one Aave account's room is held in base currency across loan tokens", () => {
  const [U, W, MU, MW] = [id(5), id(6), id(7), id(8)]
  const morpho = (loanToken: string, collateralToken: string) => ({ debt: 1_000_000n * unit(loanToken), collateral: E18, loanToken, collateralToken, due: true })

  test("FAILS TODAY: a USDC borrow of the whole $1,000 room leaves no room for a WETH borrow after it (prices given)", () => {
    const bounds: ChainBounds = {
      balances: {},
      maxWithdraw: {},
      poolAsset: {},
      subAccounts: {
        [U]: { debt: 0n, collateral: 10n * E18, loanToken: USDC, collateralToken: WETH, ltvBorrowable: roomIn(1_000n * E8, USDC), ltvGain: gain(USDC, WETH), ltvAccount: ACCOUNT, due: false },
        [W]: { debt: 0n, collateral: 10n * E18, loanToken: WETH, collateralToken: WBTC, ltvBorrowable: roomIn(1_000n * E8, WETH), ltvGain: gain(WETH, WBTC), ltvAccount: ACCOUNT, due: false },
        [MU]: morpho(USDC, WETH),
        [MW]: morpho(WETH, WBTC),
      },
    }
    const plan: ChainPlan = {
      subAccounts: [U, W, MU, MW],
      actions: [
        { kind: "Borrow", subAccount: 0, amount: 600n * E6 },
        { kind: "Repay", subAccount: 2, amount: 600n * E6 },
        { kind: "Borrow", subAccount: 1, amount: E18 / 3n },
        { kind: "Repay", subAccount: 3, amount: E18 / 3n },
      ],
    }
    const { plan: out } = clampPlanToChainBounds(plan, bounds, { paysFor: [1, undefined, 3, undefined] })
    const borrowed = (sub: Hex) => out?.actions.find((a) => a.kind === "Borrow" && out.subAccounts[a.subAccount] === sub)?.amount ?? 0n
    // $600 of USDC first: the WETH borrow gets what is left of the $1,000, i.e. at most $400 of WETH, and not much less.
    expect(borrowed(U)).toBe(600n * E6)
    expect(valueOf(borrowed(U), USDC) + valueOf(borrowed(W), WETH)).toBeLessThanOrEqual(1_000n * E8)
    expect(valueOf(borrowed(W), WETH)).toBeGreaterThan(399n * E8)
  })

  test("FAILS TODAY: a supply on a WETH-loan sub-account adds its value to a USDC borrow's room, not its WETH wei as USDC units", () => {
    const bounds: ChainBounds = {
      balances: { [WETH]: E18 },
      maxWithdraw: {},
      poolAsset: {},
      subAccounts: {
        [U]: { debt: 0n, collateral: 10n * E18, loanToken: WETH, collateralToken: WETH, ltvBorrowable: 0n, ltvGain: gain(WETH, WETH), ltvAccount: ACCOUNT, due: false },
        [W]: { debt: 0n, collateral: 10n * E8, loanToken: USDC, collateralToken: WBTC, ltvBorrowable: 0n, ltvGain: gain(USDC, WBTC), ltvAccount: ACCOUNT, due: false },
        [MU]: morpho(USDC, WETH),
      },
    }
    // 1 WETH ($3,000) supplied at LTV 80%: $2,400 of room (less Aave's floors); the plan borrows 10,000 USDC.
    const plan: ChainPlan = {
      subAccounts: [U, W, MU],
      actions: [
        { kind: "SupplyCollateral", subAccount: 0, amount: E18 },
        { kind: "Borrow", subAccount: 1, amount: 10_000n * E6 },
        { kind: "Repay", subAccount: 2, amount: 10_000n * E6 },
      ],
    }
    const { plan: out, binding } = clampPlanToChainBounds(plan, bounds, { paysFor: [undefined, 2, undefined] })
    const borrow = out?.actions.find((a) => a.kind === "Borrow")?.amount ?? 0n
    // What the supply adds at USDC's price (aaveLtvRoomChange, with its slack for Aave's floors: ~$2,299.70 here).
    expect(borrow).toBe(aaveLtvRoomChange(gain(USDC, WETH), E18))
    expect(borrow).toBeLessThanOrEqual(2_400n * E6)
    expect(borrow).toBeGreaterThan(2_000n * E6)
    expect(binding.some((b) => b.bound === "ltvRoom")).toBe(true)
  })

  test("a repayment of one loan token credits a borrow of another at its value (rounded down); without the other token's price it credits nothing", () => {
    const sub = (loanToken: string, collateralToken: string, withGain: boolean) => ({
      debt: 5_000n * unit(loanToken),
      repayable: 5_000n * unit(loanToken),
      collateral: 10n * E18,
      loanToken,
      collateralToken,
      ltvBorrowable: 0n,
      ...(withGain ? { ltvGain: gain(loanToken, collateralToken) } : {}),
      ltvAccount: ACCOUNT,
      due: true,
    })
    const plan: ChainPlan = {
      subAccounts: [U, W, MW],
      actions: [
        { kind: "Repay", subAccount: 0, amount: 3_000n * E6 },
        { kind: "Borrow", subAccount: 1, amount: E18 },
        { kind: "Repay", subAccount: 2, amount: E18 },
      ],
    }
    const boundsOf = (priced: boolean): ChainBounds => ({
      balances: { [USDC]: 3_000n * E6 },
      maxWithdraw: {},
      poolAsset: {},
      subAccounts: { [U]: sub(USDC, WETH, priced), [W]: sub(WETH, WBTC, priced), [MW]: morpho(WETH, WBTC) },
    })
    const borrowOf = (b: ChainBounds) => {
      const { plan: out } = clampPlanToChainBounds(plan, b, { paysFor: [undefined, 2, undefined] })
      return out?.actions.find((a) => a.kind === "Borrow")?.amount ?? 0n
    }
    // $3,000 cleared: 1 WETH of room, to the rounding.
    const priced = borrowOf(boundsOf(true))
    expect(priced).toBeLessThanOrEqual(E18)
    expect(priced).toBeGreaterThan(E18 - 10n ** 9n)
    expect(borrowOf(boundsOf(false))).toBe(0n)
  })
})

/**
 * Aave's own arithmetic on one account through a clamped plan: each debt reserve (loan token) owed once, each repayment
 * clearing at most what is left of it, the room in base currency (a repayment gives back the value it cleared, floor;
 * a borrow takes its value, and Aave refuses one above the room). Returns what Aave would refuse.
 */
function aaveRefusals(p: ChainPlan, subs: ChainBounds["subAccounts"], debts: Record<string, bigint>, room: bigint, shared: ReadonlySet<string>) {
  const debt = { ...debts }
  let left = room
  const out: string[] = []
  p.actions.forEach((a, k) => {
    const sid = (p.subAccounts[a.subAccount] as string).toLowerCase()
    if (!shared.has(sid)) return
    const token = (subs[sid] as { loanToken: string }).loanToken
    if (a.kind === "Repay") {
      const owed = debt[token] as bigint
      if (a.amount > owed) out.push(`repay@${k} ${a.amount} > owed ${owed}`)
      const cleared = a.amount < owed ? a.amount : owed
      left += valueOf(owed, token) - valueOf(owed - cleared, token)
      debt[token] = owed - cleared
    } else if (a.kind === "Borrow") {
      const v = valueOf(a.amount, token)
      if (v > left) out.push(`borrow@${k} $${v} > room $${left}`)
      left -= valueOf((debt[token] as bigint) + a.amount, token) - valueOf(debt[token] as bigint, token)
      debt[token] = (debt[token] as bigint) + a.amount
    }
  })
  return out
}

test("property (d11): random plans on one Aave account with two loan tokens and four sub-accounts: nothing the clamp sends is refused by Aave's arithmetic", () => {
  const rng = new Rng(11_2026)
  const subsOf = [
    { sid: id(0x11), loan: USDC, coll: WETH },
    { sid: id(0x12), loan: USDC, coll: WBTC },
    { sid: id(0x21), loan: WETH, coll: WETH },
    { sid: id(0x22), loan: WETH, coll: WBTC },
  ]
  const sink: Record<string, Hex> = { [USDC]: id(0x31), [WETH]: id(0x32) }
  const stats = { plans: 0, sent: 0, refused: [] as string[], withRepayAndBorrow: 0, twoTokens: 0 }
  for (let n = 0; n < 400; n++) {
    const roomBase = BigInt(Math.floor(rng.uniform() * 20_000)) * E8
    const debts: Record<string, bigint> = { [USDC]: BigInt(Math.floor(rng.uniform() * 10_000)) * E6, [WETH]: (BigInt(Math.floor(rng.uniform() * 4_000)) * E18) / 1_000n }
    const subAccounts: ChainBounds["subAccounts"] = {}
    for (const s of subsOf)
      subAccounts[s.sid] = { debt: debts[s.loan] as bigint, repayable: debts[s.loan], collateral: 10n * E18, loanToken: s.loan, collateralToken: s.coll, ltvBorrowable: roomIn(roomBase, s.loan), ltvGain: gain(s.loan, s.coll), ltvAccount: ACCOUNT, due: rng.uniform() < 0.5 }
    subAccounts[sink[USDC] as string] = { debt: 10n ** 30n, collateral: E18, loanToken: USDC, collateralToken: WETH, due: true }
    subAccounts[sink[WETH] as string] = { debt: 10n ** 30n, collateral: E18, loanToken: WETH, collateralToken: WBTC, due: true }
    const ids: Hex[] = [...subsOf.map((s) => s.sid), sink[USDC] as Hex, sink[WETH] as Hex]
    const actions: ChainPlan["actions"][number][] = []
    const paysFor: (number | undefined)[] = []
    const steps = 2 + Math.floor(rng.uniform() * 4)
    for (let j = 0; j < steps; j++) {
      const i = Math.floor(rng.uniform() * subsOf.length)
      const s = subsOf[i] as (typeof subsOf)[number]
      if (rng.uniform() < 0.5) {
        // A repayment of up to 80 % of the reserve's debt: two of them can sum above it.
        actions.push({ kind: "Repay", subAccount: i, amount: ((debts[s.loan] as bigint) * BigInt(Math.floor(rng.uniform() * 800))) / 1_000n + 1n })
        paysFor.push(undefined)
      } else {
        const amount = (roomIn(roomBase, s.loan) * BigInt(Math.floor(rng.uniform() * 1_500))) / 1_000n + 1n
        actions.push({ kind: "Borrow", subAccount: i, amount })
        paysFor.push(actions.length)
        actions.push({ kind: "Repay", subAccount: ids.indexOf(sink[s.loan] as Hex), amount })
        paysFor.push(undefined)
      }
    }
    const plan: ChainPlan = { subAccounts: ids, actions }
    const balances = { [USDC]: 20_000n * E6, [WETH]: 8n * E18 }
    stats.plans++
    if (actions.some((a) => a.kind === "Borrow") && actions.some((a) => a.kind === "Repay" && a.subAccount < 4)) stats.withRepayAndBorrow++
    if (new Set(actions.filter((a) => a.subAccount < 4).map((a) => subsOf[a.subAccount]?.loan)).size === 2) stats.twoTokens++
    const { plan: out } = clampPlanToChainBounds(plan, { balances, maxWithdraw: {}, poolAsset: {}, subAccounts }, { paysFor })
    if (out === undefined) continue
    stats.sent++
    const refused = aaveRefusals(out, subAccounts, debts, roomBase, new Set(subsOf.map((s) => s.sid.toLowerCase())))
    if (refused.length > 0) stats.refused.push(`#${n}: ${refused.join("; ")}`)
  }
  expect(stats.withRepayAndBorrow, JSON.stringify(stats)).toBeGreaterThan(100)
  expect(stats.twoTokens, JSON.stringify(stats)).toBeGreaterThan(100)
  expect(stats.refused, `${stats.refused.length} of ${stats.sent} sent plans refused (${stats.plans} plans)`).toEqual([])
})

test("FAILS TODAY: two sub-accounts of one Aave account with one loan token borrow from ONE reserve: together at most its free liquidity (`borrowable`)", () => {
  const [A, B, MA] = [id(0x41), id(0x42), id(0x43)]
  // The reserve lends 1,000 USDC more; the account's LTV room is far above it.
  const aave = (collateralToken: string) => ({ debt: 0n, collateral: 10n * E18, loanToken: USDC, collateralToken, borrowable: 1_000n * E6, ltvBorrowable: 100_000n * E6, ltvGain: gain(USDC, collateralToken), ltvAccount: ACCOUNT, due: false })
  const bounds: ChainBounds = {
    balances: {},
    maxWithdraw: {},
    poolAsset: {},
    subAccounts: { [A]: aave(WETH), [B]: aave(WBTC), [MA]: { debt: 1_000_000n * E6, collateral: E18, loanToken: USDC, collateralToken: WETH, due: true } },
  }
  const plan: ChainPlan = {
    subAccounts: [A, B, MA],
    actions: [
      { kind: "Borrow", subAccount: 0, amount: 800n * E6 },
      { kind: "Borrow", subAccount: 1, amount: 800n * E6 },
      { kind: "Repay", subAccount: 2, amount: 1_600n * E6 },
    ],
  }
  const { plan: out, binding } = clampPlanToChainBounds(plan, bounds, { paysFor: [2, 2, undefined] })
  const borrowed = (out?.actions ?? []).filter((a) => a.kind === "Borrow").reduce((x, a) => x + a.amount, 0n)
  expect(borrowed, JSON.stringify(binding, (_, v) => (typeof v === "bigint" ? v.toString() : v))).toBeLessThanOrEqual(1_000n * E6)
  expect(binding.some((b) => b.bound === "borrowable")).toBe(true)
})
