import type { Address, Hex } from "viem"
import { describe, expect, test } from "vitest"
import { MIN_BAND_GAP } from "../constants/module.js"
import { type RuleSubAccount, capBoundHonest, checkRebalanceRules, collateralValue, healthOf, honestMoveCaps, isCapBound, maxMoveToHealth } from "./planRules.js"
import { LLTV, POOL, USDC, WETH, h, price, refusalOf, rulePolicy, usage } from "./rules.testing.js"

// Review rr13w W1 (SECURITY.md row 138), the SDK side of modules/test/attacks/CapBoundMixedSwap.rr13w.t.sol: a
// compromised keeper mixed a pool repayment R with a small swap deleverage x (R + 2x ~ 0.99 cap) gaining only
// MIN_BAND_GAP. `honestMoveCaps` counts the sale twice, so the step met `isCapBound` and ten of them spent
// maxRebalancesPerEpoch with the Safe below its band. A cap-bound step that swaps must now be the buffers' rescue alone
// (the health reached needs a plain move of >= 99 % of the cap) or the sale's alone (2 x swapped >= 99 % of the cap):
// `capBoundHonest`, mirrored from `RebalanceLib._capBound`.

const ID = `0x${"01".repeat(32)}` as Hex
const USD = 10n ** 6n
const ADAPTER: Address = "0x00000000000000000000000000000000000000a5"
const ROUTE: Address = "0x00000000000000000000000000000000000001f4"
/** 10 WETH at 2,135 USD with 18,000 USDC debt: health ~1.0201, below the band [1.2, 1.7]; swaps at 50 bps. */
function weth(cap: bigint): RuleSubAccount {
  return {
    id: ID,
    policy: rulePolicy({ pools: [POOL], maxAmountPerRebalance: cap, maxSlippageBps: 50 }),
    state: { loanToken: USDC, collateralToken: WETH, collateral: 10n * 10n ** 18n, debt: 18_000n * USD, price: price(2135n), lltv: LLTV } as RuleSubAccount["state"],
    usage,
  }
}
const least = (cap: bigint) => cap - cap / 100n

/**
 * The attack's step (CapBoundMixedSwap.rr13w.t.sol `_mixedPlan`): health + `step`, net move ~`move`, the sale paying
 * 9,995 / 10,000 of its value (a 0.05 % pool): R h1 + x (h1 (1 - l) - lltv) = gap, R = move - x (2 - l).
 */
function mixed(s: RuleSubAccount, step: bigint, move: bigint) {
  const st = s.state
  const value = collateralValue(st.collateral, st.price)
  const h1 = healthOf(st.collateral, st.debt, st.price, st.lltv) + step
  const gap = (h1 * st.debt - value * st.lltv) / 10n ** 18n
  const x = (((h1 * move) / 10n ** 18n - gap) * 10n ** 18n) / (h1 + st.lltv)
  const sold = (x * 10n ** 36n) / st.price
  const out = (collateralValue(sold, st.price) * 9_995n) / 10_000n
  const valueAfter = collateralValue(st.collateral - sold, st.price)
  const debtAfter = (valueAfter * st.lltv) / h1
  const r = st.debt - out - debtAfter
  return { r, sold, out }
}

/** The rule check of `actions` on `s` with {@link POOL} (ample), no idle USDC, sale outputs `outputs` (by index). */
const check = (s: RuleSubAccount, actions: Parameters<typeof checkRebalanceRules>[0]["plan"]["actions"], outputs: Record<number, bigint>) =>
  checkRebalanceRules({
    plan: { subAccounts: [s.id], actions },
    subAccounts: [s],
    pools: [{ address: POOL, asset: USDC, totalAssets: 10n ** 24n, totalSupply: 10n ** 24n, shares: 10n ** 20n, feeBps: 0n }],
    balances: { [USDC]: 0n, [WETH]: 0n },
    swapAdapter: ADAPTER,
    timestamp: 1_700_000_000n,
    gasUsed: 300_000n,
    outcome: { swapOutputs: outputs },
  })

/** WithdrawFromPool r, Repay r (when r > 0), then RepayWithCallback{WithdrawCollateral sold, SellCollateral sold}. */
function plan(s: RuleSubAccount, r: bigint, sold: bigint, out: bigint) {
  const pool: Parameters<typeof checkRebalanceRules>[0]["plan"]["actions"] =
    r > 0n
      ? [
          { kind: "WithdrawFromPool", subAccount: 0, pool: POOL, amount: r },
          { kind: "Repay", subAccount: 0, amount: r },
        ]
      : []
  const actions: Parameters<typeof checkRebalanceRules>[0]["plan"]["actions"] = [
    ...pool,
    { kind: "RepayWithCallback", subAccount: 0, amount: out },
    { kind: "WithdrawCollateral", subAccount: 0, amount: sold },
    { kind: "SellCollateral", subAccount: 0, pool: ROUTE, amount: sold },
    { kind: "EndCallback", subAccount: 0, amount: 0n },
  ]
  const verdict = check(s, actions, { [pool.length + 2]: out })
  const st = s.state
  const healthAfter = healthOf(st.collateral - sold, st.debt - r - out, st.price, st.lltv)
  return { verdict, healthAfter, moved: collateralValue(sold, st.price) + r + out }
}

describe("capBoundHonest (RebalanceLib._capBound, review rr13w W1)", () => {
  const st = weth(500n * USD).state

  test("no swap: always true (the plain rule alone judges it)", () => {
    expect(capBoundHonest(st, healthOf(st.collateral, st.debt, st.price, st.lltv) + h(0.0001), 0n, 500n * USD)).toBe(true)
  })

  test("the sale alone: 2 x swapped >= cap - floor(cap / 100), exactly", () => {
    const low = healthOf(st.collateral, st.debt, st.price, st.lltv) + h(0.0102) // plain ~213 USDC, far under 495
    expect(capBoundHonest(st, low, 2_475n * 10n ** 5n, 500n * USD)).toBe(true) // 2 x 247.5 = 495
    expect(capBoundHonest(st, low, 2_475n * 10n ** 5n - 1n, 500n * USD)).toBe(false)
    // an odd least: 500,000,099 - 5,000,000 = 495,000,099 (the floor of cap / 100)
    expect(capBoundHonest(st, low, 247_500_050n, 500_000_099n)).toBe(true)
    expect(capBoundHonest(st, low, 247_500_049n, 500_000_099n)).toBe(false)
  })

  test("the buffers alone: the health reached needs a plain move of >= cap - floor(cap / 100), exactly", () => {
    const before = healthOf(st.collateral, st.debt, st.price, st.lltv)
    // search the lowest health whose plain move is >= 495 USDC (maxMoveToHealth is monotone in the health)
    let lo = before
    let hi = before + h(0.1)
    while (hi - lo > 1n) {
      const mid = (lo + hi) / 2n
      if ((maxMoveToHealth(st, mid, false, 0n) as bigint) >= 495n * USD) hi = mid
      else lo = mid
    }
    expect(capBoundHonest(st, hi, 1n, 500n * USD)).toBe(true)
    expect(capBoundHonest(st, lo, 1n, 500n * USD)).toBe(false)
    // past the band's top the plain move is unbounded at INFINITE_HEALTH
    expect(capBoundHonest({ ...st, debt: 0n }, 2n ** 256n - 1n, 1n, 500n * USD)).toBe(true)
  })
})

describe("cap-bound with a swap: the buffers' or the sale's rescue alone (review rr13w W1)", () => {
  test("rr13w W1: a pool repayment padded with a small sale (net 498 of cap 500, +0.0102) is refused HealthOutOfBand", () => {
    const s = weth(500n * USD)
    const { r, sold, out } = mixed(s, h(0.0102), 498n * USD)
    const st = s.state
    const before = healthOf(st.collateral, st.debt, st.price, st.lltv)
    const { verdict, healthAfter, moved } = plan(s, r, sold, out)
    // what f13m accepted: the net move and its honest count are both >= 495 ...
    const swapped = collateralValue(sold, st.price)
    const honest = honestMoveCaps(st, healthAfter, swapped, 50n, 50n).honest as bigint
    expect(moved).toBeGreaterThanOrEqual(least(500n * USD))
    expect(isCapBound(before, h(1.2), moved, honest, 500n * USD)).toBe(true)
    // ... but it is neither the buffers' rescue (plain ~213) nor the sale's (2 x ~174)
    expect(maxMoveToHealth(st, healthAfter, false, 0n) as bigint).toBeLessThan(250n * USD)
    expect(2n * swapped).toBeLessThan(least(500n * USD))
    expect(capBoundHonest(st, healthAfter, swapped, 500n * USD)).toBe(false)
    expect(healthAfter).toBeGreaterThanOrEqual(before + MIN_BAND_GAP)
    expect(refusalOf(verdict)).toEqual(["HealthOutOfBand", ID, healthAfter, h(1.2), h(1.7)])
  })

  test("the buffers' branch: a pool repayment near the cap with a small sale tail reaching the plain cap's health (+0.025) is cap-bound", () => {
    const s = weth(500n * USD)
    const { r, sold, out } = mixed(s, h(0.025), 498n * USD)
    const { verdict, healthAfter } = plan(s, r, sold, out)
    expect(2n * collateralValue(sold, s.state.price)).toBeLessThan(least(500n * USD))
    expect(maxMoveToHealth(s.state, healthAfter, false, 0n) as bigint).toBeGreaterThanOrEqual(least(500n * USD))
    expect(healthAfter < h(1.2)).toBe(true)
    expect(refusalOf(verdict)).toEqual(["accepted"])
  })

  test("the sale's branch: a sale alone at the cap (cap 5,000, +0.025, no pool) is cap-bound, the same step padded to the cap with a pool repayment is not", () => {
    const s = weth(5_000n * USD)
    const st = s.state
    const sold = (2_490n * USD * 10n ** 36n) / st.price // ~2,490 of value: net ~4,979 >= 4,950
    const out = (collateralValue(sold, st.price) * 9_995n) / 10_000n
    const alone = plan(s, 0n, sold, out)
    expect(maxMoveToHealth(st, alone.healthAfter, false, 0n) as bigint).toBeLessThan(least(5_000n * USD))
    expect(alone.healthAfter < h(1.2)).toBe(true)
    expect(refusalOf(alone.verdict)).toEqual(["accepted"])
    // a smaller sale (2 x 2,000 < 4,950) and a pool repayment of 960 to reach the same net move: not cap-bound
    const small = (2_000n * USD * 10n ** 36n) / st.price
    const smallOut = (collateralValue(small, st.price) * 9_995n) / 10_000n
    const padded = plan(s, 960n * USD, small, smallOut)
    expect(padded.moved).toBeGreaterThanOrEqual(least(5_000n * USD))
    expect(maxMoveToHealth(st, padded.healthAfter, false, 0n) as bigint).toBeLessThan(least(5_000n * USD))
    expect(refusalOf(padded.verdict)).toEqual(["HealthOutOfBand", ID, padded.healthAfter, h(1.2), h(1.7)])
  })
})
