import type { Address, Hex } from "viem"
import { describe, expect, test } from "vitest"
import { type RulePolicy, type RuleSubAccount, checkRebalanceRules, collateralValue, healthOf, maxMoveToHealth } from "./planRules.js"
import { LLTV, USDC, WETH, h, rulePolicy, usage, wethSubAccount } from "./rules.testing.js"

// The rule book's loss accounting (RebalanceLib._settle) on the tenth review of issue 10, the inputs of
// modules/test/attacks/LossAccountingAttacks.t.sol: one price per token; a due sub-account charged no more than counted.

const SKIM: Address = "0x00000000000000000000000000000000000000f1"
const policy = (pools: Address[], over: Partial<RulePolicy> = {}) => rulePolicy({ maxEpochLossBps: 10_000, pools, ...over })
const sub = (n: number, collateral: bigint, usd: bigint, health: number, pools: Address[], over: Partial<RulePolicy> = {}) => wethSubAccount(n, collateral, usd, health, policy(pools, over))

/**
 * A padded due rescue that moves `moved` (loan units) and lands at `target`: repay inside a callback from the USDC pool
 * `pool`, withdraw the rest of the move as WETH and park it in the WETH pool `wethPool` (AttackBase._parkedShrink).
 */
function parkedShrink(A: RuleSubAccount, pool: Address, wethPool: Address, moved: bigint, target: bigint) {
  const value = collateralValue(A.state.collateral, A.state.price)
  const repaid = (target * A.state.debt - (value - moved) * LLTV) / (LLTV + target)
  const withdrawn = (((moved - repaid) * 10n ** 36n) / A.state.price) * 9_999n / 10_000n
  return {
    subAccounts: [A.id],
    actions: [
      { kind: "WithdrawFromPool" as const, subAccount: 0, pool, amount: repaid },
      { kind: "RepayWithCallback" as const, subAccount: 0, amount: repaid },
      { kind: "WithdrawCollateral" as const, subAccount: 0, amount: withdrawn },
      { kind: "DepositToPool" as const, subAccount: 0, pool: wethPool, amount: withdrawn },
      { kind: "EndCallback" as const, subAccount: 0, amount: 0n },
    ],
  }
}

/**
 * `parkedShrink` in the shape rr10 F2 still allows (a due sub-account's withdrawal funds no pool deposit): the withdrawn
 * WETH is supplied to `twin`, a not-due WETH sub-account below its target (listed second), after the callback
 * (AttackBase._shrinkIntoTwin).
 */
function shrinkIntoTwin(A: RuleSubAccount, twin: RuleSubAccount, pool: Address, moved: bigint, target: bigint) {
  const parked = parkedShrink(A, pool, pool, moved, target)
  const [withdraw, repay, take] = parked.actions as [(typeof parked.actions)[0], (typeof parked.actions)[1], (typeof parked.actions)[2]]
  return {
    subAccounts: [A.id, twin.id],
    actions: [
      withdraw,
      repay,
      take,
      { kind: "EndCallback" as const, subAccount: 0, amount: 0n },
      { kind: "SupplyCollateral" as const, subAccount: 1, amount: take.amount },
    ],
  }
}

/** A not-due WETH twin at 1.30 (minHealth 1.1, target 1.4): ~185k of distance to its target at 2,400. */
const twinOf = () => sub(3, 1_000n * 10n ** 18n, 2400n, 1.3, [], { minHealth: h(1.1) })

describe("checkRebalanceRules: one price per collateral token", () => {
  // A at 2400 (due, 1.1467), B at 2444 (not due, 1.25 < target 1.4), both WETH: a 12% exit fee on A's 3,300 rescue,
  // padded with idle WETH supplied into B up to ~1.399.
  for (const bFirst of [false, true])
    for (const feeBps of [1_200n, 6_000n])
      test(`a ${feeBps / 100n}% skim padded with WETH supplied into the higher-priced market (${bFirst ? "B" : "A"} listed first): ValueLossExceeded, the loss the skim`, () => {
        const A = sub(1, 10n * 10n ** 18n, 2400n, 1.1467, [SKIM])
        const B = sub(2, 400n * 10n ** 18n, 2444n, 1.25, [])
        const supplied = ((h(1.399) * B.state.debt) / LLTV - collateralValue(B.state.collateral, B.state.price)) * 10n ** 36n / B.state.price
        const [a, b] = bFirst ? [1, 0] : [0, 1]
        const repaid = 3_300n * 10n ** 6n
        const r = checkRebalanceRules({
          plan: {
            subAccounts: bFirst ? [B.id, A.id] : [A.id, B.id],
            actions: [
              { kind: "WithdrawFromPool", subAccount: a, pool: SKIM, amount: repaid },
              { kind: "Repay", subAccount: a, amount: repaid },
              { kind: "SupplyCollateral", subAccount: b, amount: supplied },
            ],
          },
          subAccounts: bFirst ? [B, A] : [A, B],
          pools: [{ address: SKIM, asset: USDC, totalAssets: 10n ** 14n, totalSupply: 10n ** 14n, shares: 10n ** 12n, feeBps }],
          balances: { [WETH]: supplied },
          swapAdapter: "0x0000000000000000000000000000000000000000",
          timestamp: 1_700_000_000n,
          gasUsed: 300_000n,
        })
        expect(r.ok).toBe(false)
        if (r.ok) return
        expect(r.error.name).toBe("ValueLossExceeded")
        const [loss, moved, bps] = r.error.args as [bigint, bigint, bigint]
        // The exit fee (ERC4626Fees: ceil(amount x fee / 10000) of extra shares burnt), within rounding.
        const fee = (repaid * feeBps + 9_999n) / 10_000n
        expect(loss >= fee - 2n && loss <= fee + 2n).toBe(true)
        expect(moved).toBe(repaid)
        expect(bps).toBe(50n)
      })
})

describe("checkRebalanceRules: a due sub-account is charged no more than the most move-intensive honest plan", () => {
  test("a rescue padded with a health-neutral shrink is refused with its collateral parked in a pool (rr10 F2) and, with it supplied to a not-due twin, charged at most the cap (no swaps: a collateral change alone)", () => {
    const POOL: Address = "0x00000000000000000000000000000000000000f2"
    const WPOOL: Address = "0x00000000000000000000000000000000000000f3"
    const A = sub(1, 100n * 10n ** 18n, 2400n, 1.19, [POOL, WPOOL], { maxAmountPerRebalance: 100_000n * 10n ** 6n, maxAmountPerEpoch: 110_000n * 10n ** 6n })
    const moved = 99_900n * 10n ** 6n
    const target = h(1.35)
    const r = checkRebalanceRules({
      plan: parkedShrink(A, POOL, WPOOL, moved, target),
      subAccounts: [A],
      pools: [
        { address: POOL, asset: USDC, totalAssets: 10n ** 14n, totalSupply: 10n ** 14n, shares: 10n ** 12n },
        { address: WPOOL, asset: WETH, totalAssets: 10n ** 24n, totalSupply: 10n ** 24n, shares: 0n },
      ],
      balances: {},
      swapAdapter: "0x0000000000000000000000000000000000000000",
      timestamp: 1_700_000_000n,
      gasUsed: 300_000n,
    })
    // Since rr10 F2 the parked padding is refused: a due sub-account's withdrawal funds no deposit.
    expect(r.ok).toBe(false)
    if (!r.ok) expect([r.error.name, String(r.error.args[0]).toLowerCase(), r.error.args[2]]).toEqual(["DepositNotFunded", WETH.toLowerCase(), 0n])

    // The same padding with the withdrawn WETH supplied to a not-due twin reaches the charge cap.
    const twin = twinOf()
    const t = checkRebalanceRules({
      plan: shrinkIntoTwin(A, twin, POOL, moved, target),
      subAccounts: [A, twin],
      pools: [{ address: POOL, asset: USDC, totalAssets: 10n ** 14n, totalSupply: 10n ** 14n, shares: 10n ** 12n }],
      balances: {},
      swapAdapter: "0x0000000000000000000000000000000000000000",
      timestamp: 1_700_000_000n,
      gasUsed: 300_000n,
    })
    if (!t.ok) throw new Error(`${t.error.name} ${t.error.args.join(" ")}`)
    const res = t.subAccounts[0] as (typeof t.subAccounts)[number]
    const cap = maxMoveToHealth(A.state, healthOf(res.collateralAfter, res.debtAfter, A.state.price, LLTV), false, 0n) as bigint
    expect(res.moved).toBeLessThanOrEqual(cap)
    expect(res.moved).toBeLessThan(moved - 30_000n * 10n ** 6n)
    expect(t.moved).toBeLessThanOrEqual(cap)
    expect((t.subAccounts[1] as (typeof t.subAccounts)[number]).due).toBe(false)
  })
})

// The thirteenth review of issue 10 (modules/test/attacks/PoolSaleValuation.t.sol, SwapPolicyPadding.t.sol).
describe("checkRebalanceRules: the thirteenth review (a sale's own price, the swap path only for value swapped)", () => {
  const ADAPTER: Address = "0x00000000000000000000000000000000000000a5"
  const WPOOL: Address = "0x00000000000000000000000000000000000000f3"
  const ROUTE: Address = "0x00000000000000000000000000000000000001f4"
  const base = { swapAdapter: ADAPTER, timestamp: 1_700_000_000n, gasUsed: 300_000n }
  /** The USDC pool with an exit fee of `feeBps` (the skim), the owner's WETH pool (20 WETH), 1 idle WETH. */
  const skimAndWethPools = (feeBps: bigint) => ({
    pools: [
      { address: SKIM, asset: USDC, totalAssets: 10n ** 14n, totalSupply: 10n ** 14n, shares: 2n * 10n ** 10n, feeBps },
      { address: WPOOL, asset: WETH, totalAssets: 10n ** 24n, totalSupply: 10n ** 24n, shares: 20n * 10n ** 18n },
    ],
    balances: { [WETH]: 10n ** 18n },
  })
  /** Without the skim the plan is accepted; with it, ValueLossExceeded with a loss of at least `minLoss`. */
  const expectSkimVerdict = (r: ReturnType<typeof checkRebalanceRules>, feeBps: bigint, minLoss: bigint) => {
    if (feeBps === 0n) {
      if (!r.ok) throw new Error(`${r.error.name} ${r.error.args.join(" ")}`)
      return
    }
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.error.name).toBe("ValueLossExceeded")
    const [loss] = r.error.args as [bigint]
    expect(loss).toBeGreaterThanOrEqual(minLoss)
  }

  for (const feeBps of [0n, 2_600n])
    test(`A sells pool WETH (its collateral unchanged) next to a lower-priced WETH market B given idle WETH, ${feeBps / 100n}% skim: ${feeBps === 0n ? "accepted" : "ValueLossExceeded"}`, () => {
      const A = sub(1, 40n * 10n ** 18n, 2135n, 1.02, [SKIM, WPOOL], { maxSlippageBps: 50 })
      const B = sub(2, 100n * 10n ** 18n, 1921n, 1.3, []) // 10% below A's oracle
      const sold = 7n * 10n ** 18n
      const out = (collateralValue(sold, A.state.price) * 9_985n) / 10_000n // the router pays ~pA less 15 bps
      const skimmed = 4_000n * 10n ** 6n
      const r = checkRebalanceRules({
        ...base,
        plan: {
          subAccounts: [A.id, B.id],
          actions: [
            { kind: "WithdrawFromPool", subAccount: 0, pool: WPOOL, amount: sold },
            { kind: "SellCollateral", subAccount: 0, pool: ROUTE, amount: sold },
            { kind: "Repay", subAccount: 0, amount: out },
            { kind: "WithdrawFromPool", subAccount: 0, pool: SKIM, amount: skimmed },
            { kind: "Repay", subAccount: 0, amount: skimmed },
            { kind: "SupplyCollateral", subAccount: 1, amount: 10n ** 18n },
          ],
        },
        subAccounts: [A, B],
        ...skimAndWethPools(feeBps),
        outcome: { swapOutputs: { 1: out } },
      })
      // the sale valued at pA books no gain
      expectSkimVerdict(r, feeBps, (skimmed * feeBps) / 10_000n)
    })

  for (const feeBps of [0n, 400n])
    test(`a lower-oracle seller B (pool WETH, its collateral also moved) paid above its oracle books no gain, ${feeBps / 100n}% skim on A: ${feeBps === 0n ? "accepted" : "ValueLossExceeded"}`, () => {
      const A = sub(1, 40n * 10n ** 18n, 2135n, 1.02, [SKIM])
      // B due (1.30 under its minHealth 1.31): since the fourteenth review only a due sub-account swaps.
      const B = sub(2, 100n * 10n ** 18n, 1921n, 1.3, [WPOOL], { maxSlippageBps: 50, minHealth: h(1.31), targetHealth: h(1.36) })
      const sold = 4n * 10n ** 18n
      const minimum = (collateralValue(sold, B.state.price) * 9_950n + 9_999n) / 10_000n
      const paid = (collateralValue(sold, A.state.price) * 9_995n) / 10_000n // the market pays ~pA
      const repaid = 19_000n * 10n ** 6n
      const r = checkRebalanceRules({
        ...base,
        plan: {
          subAccounts: [A.id, B.id],
          actions: [
            { kind: "WithdrawFromPool", subAccount: 0, pool: SKIM, amount: repaid },
            { kind: "Repay", subAccount: 0, amount: repaid },
            { kind: "WithdrawFromPool", subAccount: 1, pool: WPOOL, amount: sold },
            { kind: "SellCollateral", subAccount: 1, pool: ROUTE, amount: sold },
            { kind: "Repay", subAccount: 1, amount: minimum },
            { kind: "SupplyCollateral", subAccount: 1, amount: 10n ** 18n },
          ],
        },
        subAccounts: [A, B],
        ...skimAndWethPools(feeBps),
        outcome: { swapOutputs: { 3: paid } },
      })
      expectSkimVerdict(r, feeBps, (repaid * feeBps) / 10_000n)
    })

  test("a swap policy's rescue padded with a health-neutral shrink and no swap (parked: DepositNotFunded; into a not-due twin) is counted and charged the collateral-only cap", () => {
    const POOL: Address = "0x00000000000000000000000000000000000000f2"
    const A = sub(1, 100n * 10n ** 18n, 2400n, 1.19, [POOL, WPOOL], { maxSlippageBps: 50 })
    const target = h(1.35)
    const swapCap = maxMoveToHealth(A.state, target, true, 50n) as bigint
    const noSwaps = maxMoveToHealth(A.state, target, false, 0n) as bigint
    const moved = 2n * swapCap
    const r = checkRebalanceRules({
      ...base,
      plan: parkedShrink(A, POOL, WPOOL, moved, target),
      subAccounts: [A],
      pools: [
        { address: POOL, asset: USDC, totalAssets: 10n ** 15n, totalSupply: 10n ** 15n, shares: 10n ** 14n },
        { address: WPOOL, asset: WETH, totalAssets: 10n ** 24n, totalSupply: 10n ** 24n, shares: 0n },
      ],
      balances: {},
    })
    // Since rr10 F2 the parked padding is refused (a due sub-account's withdrawal funds no deposit).
    expect(noSwaps).toBeLessThan(swapCap)
    expect(r.ok).toBe(false)
    if (!r.ok) expect([r.error.name, String(r.error.args[0]).toLowerCase(), r.error.args[2]]).toEqual(["DepositNotFunded", WETH.toLowerCase(), 0n])

    // The same padding with its WETH supplied to a not-due twin: counted and charged the collateral-only cap.
    const twin = twinOf()
    const t = checkRebalanceRules({
      ...base,
      plan: shrinkIntoTwin(A, twin, POOL, moved, target),
      subAccounts: [A, twin],
      pools: [{ address: POOL, asset: USDC, totalAssets: 10n ** 15n, totalSupply: 10n ** 15n, shares: 10n ** 14n }],
      balances: {},
    })
    if (!t.ok) throw new Error(`${t.error.name} ${t.error.args.join(" ")}`)
    expect(t.moved).toBeLessThanOrEqual((noSwaps * 1_001n) / 1_000n)
    expect(t.moved).toBeLessThan((swapCap * 2n) / 3n)
    expect((t.subAccounts[0] as (typeof t.subAccounts)[number]).moved).toBeLessThanOrEqual((noSwaps * 1_001n) / 1_000n)
  })
})

describe("checkRebalanceRules: the fourteenth review (only a due sub-account swaps)", () => {
  // The input of Rev10nSwapAttacks.t.sol: A (due, 1.02) repays from a fair pool (only its debt changes); B (oracle 1.8%
  // below A's, not due at 1.30 under its 1.4 target, swap policy) swap-deleverages 3.8 WETH of its own collateral and
  // repays the sale's minimum at pB. Valued at pB alone, a router paying ~pB took the gap unbooked.
  const ADAPTER: Address = "0x00000000000000000000000000000000000000a5"
  const ROUTE: Address = "0x0000000000000000000000000000000000000bb8"
  const FAIR: Address = "0x00000000000000000000000000000000000000f4"
  for (const bDue of [false, true])
    test(`a ${bDue ? "due" : "not-due"} lower-oracle market's sale next to a debt-only rescue: ${bDue ? "past the vetting" : "ActionNotAllowed(4, SellCollateral)"}`, () => {
      const A = sub(1, 40n * 10n ** 18n, 2135n, 1.02, [FAIR], { maxSlippageBps: 50 })
      const B = sub(2, 100n * 10n ** 18n, 2096n, 1.3, [], { maxSlippageBps: 50, ...(bDue ? { minHealth: h(1.31), targetHealth: h(1.36) } : {}) })
      const sold = 38n * 10n ** 17n
      const minimum = (collateralValue(sold, B.state.price) * 9_950n + 9_999n) / 10_000n
      const repaid = 17_600n * 10n ** 6n
      const r = checkRebalanceRules({
        swapAdapter: ADAPTER,
        timestamp: 1_700_000_000n,
        gasUsed: 300_000n,
        plan: {
          subAccounts: [A.id, B.id],
          actions: [
            { kind: "WithdrawFromPool", subAccount: 0, pool: FAIR, amount: repaid },
            { kind: "Repay", subAccount: 0, amount: repaid },
            { kind: "RepayWithCallback", subAccount: 1, amount: minimum },
            { kind: "WithdrawCollateral", subAccount: 1, amount: sold },
            { kind: "SellCollateral", subAccount: 1, pool: ROUTE, amount: sold },
            { kind: "EndCallback", subAccount: 1, amount: 0n },
          ],
        },
        subAccounts: [A, B],
        pools: [{ address: FAIR, asset: USDC, totalAssets: 10n ** 14n, totalSupply: 10n ** 14n, shares: 2n * 10n ** 10n }],
        balances: {},
        outcome: { swapOutputs: { 4: (collateralValue(sold, B.state.price) * 9_970n) / 10_000n } },
      })
      if (bDue) {
        // Past the vetting: whatever follows, not the not-due refusal.
        if (!r.ok) expect(r.error.name).not.toBe("ActionNotAllowed")
        return
      }
      expect(r.ok).toBe(false)
      if (r.ok) return
      expect(r.error.name).toBe("ActionNotAllowed")
      expect(r.error.args[0]).toBe(4n)
    })
})

describe("checkRebalanceRules: the epoch loss budget is of the adapter's equity (issue 10, review rev10p)", () => {
  // modules/test/attacks/AaveEquityFrame.t.sol: 50 WETH (83%) + 0.1 WBTC (78%) on Aave, 87,600 USDC debt, policy on
  // WBTC/USDC. The adapter's fields are the account in the WBTC market's frame: 104,280 USD of threshold-weighted
  // collateral as WBTC at 78% (~2.228 WBTC at 60,000), whose value less the debt is ~46,092 USDC; the account's own
  // equity (getUserAccountData: 126,000 - 87,600) is 38,400 USDC. A rescue to 1.32 through a 49 bps exit-fee pool loses
  // ~42 USDC: 10.97 bps of the true equity, 9.1 bps of the frame's, against a 10 bps budget.
  const WBTC: Address = "0x00000000000000000000000000000000000000d1"
  const wbtcPrice = 60_000n * 10n ** 6n * 10n ** 36n / 10n ** 8n
  const lltv = 78n * 10n ** 16n
  const collateral = (104_280n * 10n ** 6n * 10n ** 36n * 100n) / (78n * wbtcPrice) // frame WBTC, 8 decimals, rounded down
  const debt = 87_600n * 10n ** 6n
  const repaid = 8_600n * 10n ** 6n
  const run = (equity: bigint | undefined) => {
    const state = { loanToken: USDC, collateralToken: WBTC, collateral, debt, price: wbtcPrice, lltv, ...(equity === undefined ? {} : { equity }) }
    return checkRebalanceRules({
      plan: { subAccounts: [`0x${"a7".repeat(32)}`], actions: [{ kind: "WithdrawFromPool", subAccount: 0, pool: SKIM, amount: repaid }, { kind: "Repay", subAccount: 0, amount: repaid }] },
      subAccounts: [{ id: `0x${"a7".repeat(32)}`, policy: policy([SKIM], { maxEpochLossBps: 10 }), state, usage }],
      pools: [{ address: SKIM, asset: USDC, totalAssets: 21_000n * 10n ** 6n, totalSupply: 21_000n * 10n ** 6n, shares: 20_000n * 10n ** 6n, feeBps: 49n }],
      balances: {},
      swapAdapter: "0x0000000000000000000000000000000000000000",
      timestamp: 1_700_000_000n,
      gasUsed: 300_000n,
    })
  }

  test("with the adapter's equity (the account's 38,400 USDC): EpochLossBudgetExceeded at the loss over that equity", () => {
    const equity = 38_400n * 10n ** 6n
    const r = run(equity)
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.error.name).toBe("EpochLossBudgetExceeded")
    const [, lossPpb, budget] = r.error.args as [Hex, bigint, bigint]
    expect(budget).toBe(1_000_000n)
    // The exit fee: ceil(8,600 x 49 / 10,000) USDC of extra shares burnt, within a unit of rounding.
    const fee = (repaid * 49n + 9_999n) / 10_000n
    expect(lossPpb).toBeGreaterThanOrEqual((fee - 1n) * 10n ** 9n / equity)
    expect(lossPpb).toBeLessThanOrEqual(((fee + 1n) * 10n ** 9n + equity - 1n) / equity)
  })

  test("control: the same state without an equity is charged against the frame's (collateral value - debt) and accepted", () => {
    expect(collateralValue(collateral, wbtcPrice) - debt).toBeGreaterThan(46_000n * 10n ** 6n)
    const r = run(undefined)
    expect(r.ok ? "ok" : r.error.name).toBe("ok")
  })
})
