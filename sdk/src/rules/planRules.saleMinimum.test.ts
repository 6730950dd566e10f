import type { Address, Hex } from "viem"
import { describe, expect, test } from "vitest"
import { REPAY_PLUS_SALE_MINIMUMS } from "../constants/module.js"
import { type RuleSubAccount, checkRebalanceRules, collateralValue, healthOf, minAmountOut, repaymentOf } from "./planRules.js"
import { POOL, USDC, WETH, refusalOf, rng, swapWeth } from "./rules.testing.js"

// The sale-minimum repayment mode (issue 13; modules/test/integration/SaleMinimumRepayment.t.sol, RebalanceLib
// `_repaymentOf`): a RepayWithCallback carrying the word REPAY_PLUS_SALE_MINIMUMS in `pool` repays its amount plus the
// on-chain minimum of its block's sales of its own sub-account. The rule book judges it as the same plan with that sum
// written out; the forge differential (RulesDifferential.t.sol) draws mode plans against the module.

const ID = `0x${"01".repeat(32)}` as Hex
const USD = 10n ** 6n
const ADAPTER: Address = "0x00000000000000000000000000000000000000a5"
const ROUTE: Address = "0x00000000000000000000000000000000000001f4"
const MODE = `0x${REPAY_PLUS_SALE_MINIMUMS.toString(16).padStart(40, "0")}` as Address

const weth = swapWeth

type Actions = Parameters<typeof checkRebalanceRules>[0]["plan"]["actions"]

function deleverage(amount: bigint, sold: bigint, word?: Address): Actions {
  return [
    { kind: "RepayWithCallback", subAccount: 0, amount, ...(word === undefined ? {} : { pool: word }) },
    { kind: "WithdrawCollateral", subAccount: 0, amount: sold },
    { kind: "SellCollateral", subAccount: 0, pool: ROUTE, amount: sold },
    { kind: "EndCallback", subAccount: 0, amount: 0n },
  ]
}

const check = (s: RuleSubAccount, actions: Actions, output: bigint, idle = 0n) =>
  checkRebalanceRules({
    plan: { subAccounts: [s.id], actions },
    subAccounts: [s],
    pools: [{ address: POOL, asset: USDC, totalAssets: 10n ** 24n, totalSupply: 10n ** 24n, shares: 10n ** 20n, feeBps: 0n }],
    balances: { [USDC]: idle, [WETH]: 0n },
    swapAdapter: ADAPTER,
    timestamp: 1_700_000_000n,
    gasUsed: 300_000n,
    outcome: { swapOutputs: { 2: output } },
  })

/** WETH sold for a health of `target` (WAD) if the sale repays its value less 10 bp. */
function soldFor(s: RuleSubAccount, target: bigint): bigint {
  const st = s.state
  const value = collateralValue(st.collateral, st.price)
  const soldValue = (target * st.debt - value * st.lltv) / ((target * 9_990n) / 10_000n - st.lltv)
  return (soldValue * 10n ** 36n) / st.price
}

describe("repaymentOf (RebalanceLib._repaymentOf)", () => {
  const s = weth(2135n)
  const runs = [{ state: s.state, policy: s.policy }]
  const norm = (a: Actions) => a.map((x) => ({ ...x, pool: x.pool ?? "0x0000000000000000000000000000000000000000" })) as Parameters<typeof repaymentOf>[0]

  test("the mode adds the block's sale minimums of its own sub-account, at the loaded price and maxSlippageBps", () => {
    const sold = 2n * 10n ** 18n
    const minimum = minAmountOut(50n, s.state.price, true, sold)
    expect(repaymentOf(norm(deleverage(7n, sold, MODE)), 0, runs)).toBe(7n + minimum)
    // two sales, and one of another sub-account inside the same block (not counted)
    const two = norm([
      { kind: "RepayWithCallback", subAccount: 0, pool: MODE, amount: 0n },
      { kind: "WithdrawCollateral", subAccount: 0, amount: 3n * sold },
      { kind: "SellCollateral", subAccount: 0, pool: ROUTE, amount: sold },
      { kind: "SellCollateral", subAccount: 1, pool: ROUTE, amount: sold },
      { kind: "SellCollateral", subAccount: 0, pool: ROUTE, amount: 2n * sold },
      { kind: "EndCallback", subAccount: 0, amount: 0n },
      { kind: "SellCollateral", subAccount: 0, pool: ROUTE, amount: sold }, // after the block: not counted
    ])
    expect(repaymentOf(two, 0, [...runs, ...runs])).toBe(minimum + minAmountOut(50n, s.state.price, true, 2n * sold))
  })

  test("without the word, or on another kind, the amount as written", () => {
    const sold = 2n * 10n ** 18n
    expect(repaymentOf(norm(deleverage(7n, sold)), 0, runs)).toBe(7n)
    expect(repaymentOf(norm(deleverage(7n, sold, "0x0000000000000000000000000000000000000002")), 0, runs)).toBe(7n)
    expect(repaymentOf(norm(deleverage(7n, sold, MODE)), 1, runs)).toBe(sold)
  })
})

describe("checkRebalanceRules: the mode is the plan with its repayment written out", () => {
  test("a rescue whose sale pays less than a fixed take lands in the mode (the take fails, as Morpho's pull)", () => {
    const s = weth(2135n)
    const sold = soldFor(s, 14n * 10n ** 17n)
    const minimum = minAmountOut(50n, s.state.price, true, sold)
    const output = minimum + (collateralValue(sold, s.state.price) - minimum) / 4n // the pool fell after the quote
    const take = (collateralValue(sold, s.state.price) * 9_990n) / 10_000n
    expect(refusalOf(check(s, deleverage(take, sold), output))[0]).toBe("ActionFailed")
    const mode = check(s, deleverage(0n, sold, MODE), output)
    expect(refusalOf(mode)).toEqual(["accepted"])
    const st = s.state
    expect(healthOf(st.collateral - sold, st.debt - minimum, st.price, st.lltv)).toBeGreaterThan(12n * 10n ** 17n)
  })

  test("refusals name the word's action: on another kind, another word, or no sale and no amount", () => {
    const s = weth(2135n)
    const sold = soldFor(s, 14n * 10n ** 17n)
    const out = collateralValue(sold, s.state.price)
    const withdrawWord = deleverage(out, sold).map((a, i) => (i === 1 ? { ...a, pool: MODE } : a))
    expect(refusalOf(check(s, withdrawWord, out))).toEqual(["ActionNotAllowed", 1n, 3n])
    expect(refusalOf(check(s, deleverage(0n, sold, "0x0000000000000000000000000000000000000002"), out))).toEqual(["ActionNotAllowed", 0n, 8n])
    const noSale: Actions = [
      { kind: "RepayWithCallback", subAccount: 0, pool: MODE, amount: 0n },
      { kind: "WithdrawCollateral", subAccount: 0, amount: 10n ** 15n },
      { kind: "EndCallback", subAccount: 0, amount: 0n },
    ]
    expect(refusalOf(check(s, noSale, 0n))).toEqual(["ActionNotAllowed", 0n, 8n])
  })

  test("past the debt: SaleExceedsRepayment with the repayment capped at the debt", () => {
    const s = weth(2135n)
    const sold = ((s.state.debt * 11n) / 10n) * 10n ** 36n / s.state.price
    const minimum = minAmountOut(50n, s.state.price, true, sold)
    expect(refusalOf(check(s, deleverage(0n, sold, MODE), minimum))).toEqual(["SaleExceedsRepayment", ID.toLowerCase(), minimum, s.state.debt])
  })

  test("300 seeded plans: the mode and its written-out twin get the same verdict", () => {
    const next = rng(60)
    let accepted = 0
    for (let n = 0; n < 300; n++) {
      const s = weth(2000n + BigInt(Math.floor(next() * 300)))
      const sold = (soldFor(s, 14n * 10n ** 17n) * BigInt(Math.floor(200 + next() * 1_800))) / 1_000n
      const minimum = minAmountOut(50n, s.state.price, true, sold)
      const value = collateralValue(sold, s.state.price)
      const output = minimum + ((value - minimum) * BigInt(Math.floor(next() * 1_000))) / 1_000n
      const idle = next() < 0.5 ? 0n : BigInt(Math.floor(next() * 3_000)) * USD
      const amount = idle === 0n ? 0n : (idle * BigInt(Math.floor(next() * 1_200))) / 1_000n
      const mode = refusalOf(check(s, deleverage(amount, sold, MODE), output, idle))
      const twin = refusalOf(check(s, deleverage(amount + minimum, sold), output, idle))
      expect(mode).toEqual(twin)
      if (mode[0] === "accepted") accepted++
    }
    expect(accepted).toBeGreaterThan(20)
    expect(accepted).toBeLessThan(280)
  })
})
