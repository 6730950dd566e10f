import type { Address, Hex } from "viem"
import { type RuleMarketState, type RulePolicy, type RuleSubAccount, aaveFrameHealthRange, aaveHealthFactor, checkRebalanceRules, collateralValue } from "./planRules.js"

/**
 * Test-only helpers shared by the rule book's tests (not exported from the package; sdk/tsconfig.build.json leaves
 * out every `*.testing.ts` file).
 *
 * `rng(seed)`: a deterministic xorshift32 generator of floats in [0, 1), so a failing case is named by its seed and
 * index and re-runs identically.
 */
export function rng(seed: number): () => number {
  let x = seed >>> 0
  return () => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x / 2 ** 32
  }
}

/** The rule-book tests' loan token (USDC, 6 decimals) and collateral token (WETH, 18 decimals). */
export const USDC: Address = "0x00000000000000000000000000000000000000b1"
export const WETH: Address = "0x00000000000000000000000000000000000000c1"
/** A health factor (or any ratio) given as a float, as WAD, rounded to 1e-6. */
export const h = (x: number) => BigInt(Math.round(x * 1e6)) * 10n ** 12n
/** Epoch usage of a sub-account that has not rebalanced. */
export const usage = { epoch: 0, lastRebalance: 0, rebalances: 0, lossPpb: 0, gasUsed: 0, amountMoved: 0n }

/**
 * The rule-book tests' policy: band [1.2, 1.4, 1.7] (WAD), no amount caps (1e30), 10 rebalances and 1e12 gas per day,
 * no cooldown, 50 bps loss per rebalance and 100 bps per epoch, no boost, no slippage, oracle 1 h / 100 bps, no pool;
 * `over` replaces any field.
 */
export const rulePolicy = (over: Partial<RulePolicy> = {}): RulePolicy => ({
  adapter: "0x00000000000000000000000000000000000000ad", market: `0x${"00".repeat(32)}`, priceFeed: "0x0000000000000000000000000000000000000000",
  minHealth: h(1.2), targetHealth: h(1.4), maxHealth: h(1.7), maxAmountPerRebalance: 10n ** 30n, maxAmountPerEpoch: 10n ** 30n, epochLength: 86_400,
  maxRebalancesPerEpoch: 10, maxGasPerEpoch: 10n ** 12n, cooldown: 0, maxLossBps: 50, maxEpochLossBps: 100, boostAllowed: false, maxSlippageBps: 0,
  maxOracleAge: 3_600, maxOracleDeviationBps: 100, minFeedAnswer: 0n, maxFeedAnswer: 0n, pools: [], ...over,
})

/** The rule-book tests' WETH/USDC market liquidation LTV (86 %), WAD. */
export const LLTV = 86n * 10n ** 16n
/** The oracle price of WETH at `usd` USD: USDC base units (6 decimals) per WETH wei (18), 1e36-scaled. */
export const price = (usd: bigint) => usd * 10n ** 6n * 10n ** 36n / 10n ** 18n

/**
 * The sale-minimum repayment tests' sub-account (issue 13): id the byte 0x01 32 times, 10 WETH at `usd` USD with 18,000
 * USDC debt, the rule-book band, swaps at 50 bp (maxLossBps 100, maxEpochLossBps 400), `POOL` allowed.
 */
export const swapWeth = (usd: bigint): RuleSubAccount => ({
  id: `0x${"01".repeat(32)}`,
  policy: rulePolicy({ pools: [POOL], maxSlippageBps: 50, maxLossBps: 100, maxEpochLossBps: 400 }),
  state: { loanToken: USDC, collateralToken: WETH, collateral: 10n * 10n ** 18n, debt: 18_000n * 10n ** 6n, price: price(usd), lltv: LLTV } as RuleSubAccount["state"],
  usage,
})

/**
 * Sub-account `n` (id: the byte `n` 32 times) on the WETH/USDC market ({@link LLTV}): `collateral` WETH wei at `usd`
 * USD, the USDC debt (base units) that puts its health at `health`, under `policy`, not rebalanced yet ({@link usage});
 * `extra` adds market-state fields (Aave's `collateralHeld`, ...).
 */
export function wethSubAccount(n: number, collateral: bigint, usd: bigint, health: number, policy: RulePolicy, extra: Partial<RuleMarketState> = {}): RuleSubAccount {
  const p = price(usd)
  const debt = (collateralValue(collateral, p) * LLTV) / h(health)
  return { id: `0x${n.toString(16).padStart(2, "0").repeat(32)}` as Hex, policy, state: { loanToken: USDC, collateralToken: WETH, collateral, debt, price: p, lltv: LLTV, ...extra }, usage }
}

/**
 * Sub-account `n` (id and market: the byte `n` 32 times) on a WETH/USDC market of liquidation LTV `lltv` (WAD):
 * `collateral` WETH wei, `debt` USDC base units, at `usd` USD per WETH, under {@link rulePolicy} with `pools` and `over`,
 * not rebalanced yet. The rr10b/rr10c idle-parking fixtures (planRules.rr10{b,c}.test.ts).
 */
export function wethSubAccountOwing(n: number, pools: Address[], collateral: bigint, debt: bigint, usd: bigint, lltv: bigint, over: Partial<RulePolicy> = {}): RuleSubAccount {
  const market = `0x${n.toString(16).padStart(2, "0").repeat(32)}` as Hex
  return { id: market, policy: rulePolicy({ pools, market, ...over }), state: { loanToken: USDC, collateralToken: WETH, collateral, debt, price: price(usd), lltv } as RuleSubAccount["state"], usage }
}

/** An ERC-4626 pool of `asset` at one share per asset (1e24 of each), the Safe holding 1e20 shares, no fee. */
export const unitPool = (address: Address, asset: Address) => ({ address, asset, totalAssets: 10n ** 24n, totalSupply: 10n ** 24n, shares: 10n ** 20n, feeBps: 0n })

/** A rule-book verdict as a list: `["accepted"]`, or the error's name then its arguments (strings lower-cased). */
export const refusalOf = (r: ReturnType<typeof checkRebalanceRules>) => (r.ok ? ["accepted"] : [r.error.name, ...r.error.args.map((a) => (typeof a === "string" ? a.toLowerCase() : a))])

/** What `s` borrows (loan-token base units, one under the bound) to land at `health` after supplying `supplied` collateral. */
export const borrowTo = (s: RuleSubAccount, health: number, supplied = 0n) => (collateralValue(s.state.collateral + supplied, s.state.price) * s.state.lltv) / h(health) - s.state.debt - 1n

/**
 * An Aave v3 market as the rule book's Aave tests model it: the frame's collateral reserve (`dc` decimals, oracle price
 * `pc`, liquidation threshold `lt` bps) and the loan reserve (`dl` decimals, price `pd`); prices in Aave base currency
 * (USD, 8 decimals) per whole token.
 */
export type AaveModelMarket = { dc: bigint; dl: bigint; pc: bigint; pd: bigint; lt: bigint }

/**
 * Aave's totals and factor, and the adapter's frame, for an account holding `c` base units of the market's collateral
 * plus `others` (each a value in base currency and its threshold, bps), owing `d` loan base units. Model: Aave v3.0.2
 * GenericLogic, each reserve's value floored to base currency, the factor by {@link aaveHealthFactor}; the frame as
 * AaveV3Adapter.marketState builds it: collateral = weighted over the market's threshold and price (floored, collateral
 * base units), debt = max(ceil of totalDebtBase, the exact balance `d`), equity floored (loan base units), price floored
 * (loan base units per collateral base unit x 1e36), lltv WAD, and Aave's factor as `health` unless `withHealth` is false.
 * `debtBase` replaces Aave's totalDebtBase (d x pd / 10^dl) where a test draws the debt in base currency (then `d` 0).
 * `withBase`: the frame also carries Aave's base-currency figures (`aaveBase`: getUserAccountData's totals and floored
 * average, both reserves' prices and decimals, the collateral reserve's balance `c` and the debt reserve's `d`), as the
 * keeper reads them; not the exact weighted sum.
 */
export function aaveAccount(m: AaveModelMarket, { c, others = [], d, debtBase }: { c: bigint; others?: readonly { value: bigint; lt: bigint }[]; d: bigint; debtBase?: bigint }, withHealth = true, withBase = false) {
  const uc = 10n ** m.dc
  const ul = 10n ** m.dl
  const main = (c * m.pc) / uc
  const total = main + others.reduce((s, o) => s + o.value, 0n)
  const weighted = main * m.lt + others.reduce((s, o) => s + o.value * o.lt, 0n)
  const td = debtBase ?? (d * m.pd) / ul
  const health = aaveHealthFactor({ totalCollateral: total, weightedCollateral: weighted, totalDebt: td })
  const ceil = (td * ul + m.pd - 1n) / m.pd
  const frame = {
    collateral: (weighted * uc) / (m.lt * m.pc),
    debt: d > ceil ? d : ceil,
    equity: ((total - td) * ul) / m.pd,
    price: (m.pc * ul * 10n ** 36n) / (m.pd * uc),
    lltv: m.lt * 10n ** 14n,
    ...(withHealth ? { health } : {}),
    ...(withBase
      ? {
          aaveBase: {
            totalCollateralBase: total,
            totalDebtBase: td,
            currentLiquidationThreshold: total === 0n ? 0n : weighted / total,
            collateralPrice: m.pc,
            collateralDecimals: Number(m.dc),
            collateralBalance: c,
            debtPrice: m.pd,
            debtDecimals: Number(m.dl),
            debtBalance: d,
          },
        }
      : {}),
  }
  return { total, weighted, debtBase: td, health, frame }
}

/** A market of the dust reviews: the frame's collateral reserve plus a dust reserve at the lower threshold `ltDust` (bps). */
export type AaveDustShape = AaveModelMarket & { name: string; ltDust: bigint }

/** rr17c's five pairs (loan/collateral decimals 6/8/18, e-mode 9,500 or 8,100-8,250), each with a dust reserve below. */
export const DUST_SHAPES: readonly AaveDustShape[] = [
  { name: "wstETH/WETH e-mode, dust at 8,000", dc: 18n, dl: 18n, pc: 3_500n * 10n ** 8n, pd: 3_000n * 10n ** 8n, lt: 9_500n, ltDust: 8_000n },
  { name: "WETH/USDC, dust at 7,800", dc: 18n, dl: 6n, pc: 3_000n * 10n ** 8n, pd: 10n ** 8n, lt: 8_250n, ltDust: 7_800n },
  { name: "WBTC/USDC, dust at 7,500", dc: 8n, dl: 6n, pc: 60_000n * 10n ** 8n, pd: 10n ** 8n, lt: 7_800n, ltDust: 7_500n },
  { name: "WBTC/WETH, dust at 7,000", dc: 8n, dl: 18n, pc: 60_000n * 10n ** 8n, pd: 3_000n * 10n ** 8n, lt: 7_800n, ltDust: 7_000n },
  { name: "USDC/WETH, dust at 7,500", dc: 6n, dl: 18n, pc: 10n ** 8n, pd: 3_000n * 10n ** 8n, lt: 7_800n, ltDust: 7_500n },
]

/**
 * `n` random dust accounts of shape `m` (seeded): main collateral worth `usdOf(u)` USD for a uniform draw u, factor
 * 1.05-1.8, a dust reserve of 0 to ~3e-8 of the account, and a random move (repay / borrow up to 5 % of the debt, or
 * supply / withdraw up to 5 % of the main collateral). Each case: the rule book's range (`aaveFrameHealthRange` from
 * the frame before) and Aave's exact factor after, with both accounts' totalDebtBase (`tdBefore`, `tdAfter`). `withBase`:
 * the frame carries Aave's base-currency figures ({@link aaveAccount}).
 */
export function dustMoveCases(m: AaveDustShape, n: number, seed: number, usdOf: (u: number) => number, withHealth: boolean, withBase = false) {
  const r = rng(seed)
  return Array.from({ length: n }, (_, k) => {
    const usd = usdOf(r())
    const c = (BigInt(Math.floor(usd * 1e6)) * 10n ** m.dc * 10n ** 8n) / (m.pc * 10n ** 6n) + BigInt(Math.floor(r() * 1e3))
    const main = (c * m.pc) / 10n ** m.dc
    const dust = (main * BigInt(Math.floor(r() * 30_000))) / 10n ** 12n
    const h = 1.05 + r() * 0.75
    const d = (main * m.lt * 10n ** m.dl * 1_000n) / (m.pd * 10_000n * BigInt(Math.round(h * 1_000))) + BigInt(Math.floor(r() * 1e3))
    const kind = Math.floor(r() * 4)
    const f = BigInt(Math.floor(r() * 50))
    const dd = kind === 0 ? -(d * f) / 1_000n : kind === 1 ? (d * f) / 1_000n : 0n
    const dc = kind === 2 ? -(c * f) / 1_000n : kind === 3 ? (c * f) / 1_000n : 0n
    const account = (cc: bigint, dd2: bigint) => aaveAccount(m, { c: cc, others: [{ value: dust, lt: m.ltDust }], d: dd2 }, withHealth, withBase)
    const before = account(c, d)
    const after = account(c + dc, d + dd)
    const range = aaveFrameHealthRange(before.frame, before.frame.collateral + dc, before.frame.debt + dd)
    return { k, usd, dust, main, low: range.low, high: range.high, exact: after.health, tdBefore: before.debtBase, tdAfter: after.debtBase }
  })
}

/** The rule-book tests' USDC pool (ERC-4626, fee-free) of {@link checkWithPool}. */
export const POOL: Address = "0x00000000000000000000000000000000000000f1"

/**
 * The rule check of a one-sub-account plan `actions` on `s`, with {@link POOL} (1e24 assets per 1e24 shares, the Safe
 * holding 1e20 shares, no fee) and no idle USDC, at timestamp 1,700,000,000 and 300,000 gas used.
 *
 * @returns What `checkRebalanceRules` returns (its verdict and named rule).
 */
export const checkWithPool = (s: RuleSubAccount, actions: Parameters<typeof checkRebalanceRules>[0]["plan"]["actions"]) =>
  checkRebalanceRules({
    plan: { subAccounts: [s.id], actions },
    subAccounts: [s],
    pools: [{ address: POOL, asset: USDC, totalAssets: 10n ** 24n, totalSupply: 10n ** 24n, shares: 10n ** 20n, feeBps: 0n }],
    balances: { [USDC]: 0n },
    swapAdapter: "0x0000000000000000000000000000000000000000",
    timestamp: 1_700_000_000n,
    gasUsed: 300_000n,
  })
