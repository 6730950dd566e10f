import { describe, expect, it } from "vitest"
import { BacktestConfigError, CROSS_VENUE_SUB_ACCOUNTS, TRADERS, resolveBacktestConfig } from "./config.js"
import { AAVE_DEFAULT_LIQUIDATION_BONUS, runBacktest } from "./engine.js"
import type { BacktestEvent } from "./engine.js"
import { liquidationIncentiveFactor } from "../solver/solver.js"
import { DEFAULT_PATH, generatePath } from "../prices/generator.js"
import type { PricePaths } from "../prices/csv.js"

/*
 * Issue 17, item 4: the backtester models an Aave v3 sub-account with Aave's liquidation mechanics (health factor with
 * the liquidation threshold, close factor 50 % / 100 % below health factor 0.95, liquidation bonus) next to a Morpho
 * Blue one (LLTV, full close at the liquidation incentive factor), and a cross-venue Safe holding both.
 */

const T0 = 1_700_000_000
const path = (prices: number[], step = 60): PricePaths => ({ timestamps: Float64Array.from(prices.map((_, i) => T0 + i * step)), assets: ["ETH"], prices: { ETH: Float64Array.from(prices) } })

const aave = (initialHealth: number, liquidationBonus?: number) =>
  resolveBacktestConfig({ subAccounts: [{ id: "aave", asset: "ETH", lltv: 0.83, equity: 100_000, initialHealth, venue: "aave-v3", ...(liquidationBonus ? { liquidationBonus } : {}) }] })
/** Debt of a position opened with `equity` at `health` (collateral value V with V - D = equity, V x lltv / D = health). */
const debtOf = (equity: number, lltv: number, health: number) => (equity / (1 - lltv / health)) * (lltv / health)

describe("backtest: Aave v3 liquidation mechanics next to Morpho Blue's", () => {
  it("health factor just below 1: Aave's close factor repays half the debt and pays the bonus on that half; the account survives", () => {
    const events: BacktestEvent[] = []
    // Health 1.4 at 3,000; health factor 0.98 at 3,000 x 0.98 / 1.4 = 2,100.
    const r = runBacktest(path([3000, 3000, 2100, 2100]), aave(1.4), "static", { trace: (e) => events.push(e) })
    const debt = debtOf(100_000, 0.83, 1.4)
    expect(r.liquidations).toBe(1)
    expect(r.liquidationPenalty / (0.5 * debt * (AAVE_DEFAULT_LIQUIDATION_BONUS - 1)) - 1).toBeLessThan(1e-6)
    const liquidation = events.find((e) => e.kind === "liquidation")
    expect(liquidation?.detail).toMatch(/^aave-v3: close factor 0\.5,/)
    expect(liquidation?.healthBefore).toBeCloseTo(0.98, 5) // interest of two minutes: 1.5e-7
    // After: 2 x 0.98 - 1.05 x 0.83 = 1.0885, above 1: no second liquidation.
    expect(r.minHealth).toBeCloseTo(0.98, 5)
  })

  it("health factor at or below 0.95: the whole debt may be repaid (close factor 100%), the bonus on all of it; a bigger bonus costs more", () => {
    const crash = path([3000, 3000, 1950, 1950]) // health factor 1.4 x 0.65 = 0.91; collateral 1.096 x the debt covers the bonus
    const r = runBacktest(crash, aave(1.4), "static")
    const debt = debtOf(100_000, 0.83, 1.4)
    expect(r.liquidations).toBe(1)
    expect(Math.abs(r.liquidationPenalty / (debt * (AAVE_DEFAULT_LIQUIDATION_BONUS - 1)) - 1)).toBeLessThan(1e-6)
    const bigger = runBacktest(crash, aave(1.4, 1.08), "static")
    expect(Math.abs(bigger.liquidationPenalty / (debt * 0.08) - 1)).toBeLessThan(1e-6)
  })

  it("Morpho closes the whole position at its incentive factor where Aave takes half at its bonus: same drop, different losses", () => {
    const drop = path([3000, 3000, 2100, 2100])
    const morpho = resolveBacktestConfig({ subAccounts: [{ id: "morpho", asset: "ETH", lltv: 0.86, equity: 100_000, initialHealth: 1.4 }] })
    const m = runBacktest(drop, morpho, "static")
    expect(m.liquidations).toBe(1)
    expect(m.liquidationPenalty).toBeCloseTo(debtOf(100_000, 0.86, 1.4) * (liquidationIncentiveFactor(0.86) - 1), 0)
    const a = runBacktest(drop, aave(1.4), "static")
    expect(a.liquidationPenalty).toBeLessThan(m.liquidationPenalty)
    expect(a.finalEquity).toBeGreaterThan(m.finalEquity)
  })

  it("the collateral does not cover debt x bonus: Aave seizes all of it for proportionally less debt", () => {
    // Health factor 1.4 x 0.7 = 0.98 at 2,100 then 1.4 x 0.2 = 0.28 at 600 before any keeper: collateral value 0.337 of the debt.
    const r = runBacktest(path([3000, 3000, 600, 600]), aave(1.4), "static")
    const debt = debtOf(100_000, 0.83, 1.4)
    const collateralValue = (0.28 * debt) / 0.83
    expect(r.liquidations).toBe(1)
    expect(Math.abs(r.liquidationPenalty / (collateralValue - collateralValue / AAVE_DEFAULT_LIQUIDATION_BONUS) - 1)).toBeLessThan(1e-6)
  })

  it("refuses a bonus on a Morpho sub-account and an Aave bonus x threshold >= 1, naming the sub-account", () => {
    expect(() => resolveBacktestConfig({ subAccounts: [{ id: "m", asset: "ETH", lltv: 0.86, equity: 1, liquidationBonus: 1.05 }] })).toThrow(BacktestConfigError)
    expect(() => resolveBacktestConfig({ subAccounts: [{ id: "a", asset: "ETH", lltv: 0.96, equity: 1, venue: "aave-v3", liquidationBonus: 1.05 }] })).toThrow(/sub-account a: liquidationBonus/)
    expect(() => resolveBacktestConfig({ subAccounts: [{ id: "x", asset: "ETH", lltv: 0.8, equity: 1, venue: "compound" as never }] })).toThrow(/venue must be/)
  })
})

describe("backtest: a cross-venue Safe (a Morpho Blue market and an Aave v3 account)", () => {
  it("seeded crash: the static Safe is liquidated on both venues with each venue's mechanics; the autopilot is liquidated on neither", () => {
    const events: BacktestEvent[] = []
    const config = resolveBacktestConfig({ subAccounts: CROSS_VENUE_SUB_ACCOUNTS })
    const crash = generatePath({ ...DEFAULT_PATH, kind: "crash45", seed: 17 })
    const s = runBacktest(crash, config, "static", { trace: (e) => events.push(e) })
    const liquidated = new Set(events.filter((e) => e.kind === "liquidation").map((e) => e.subAccount))
    expect([...liquidated].sort()).toEqual(CROSS_VENUE_SUB_ACCOUNTS.map((a) => a.id).sort())
    expect(events.some((e) => e.kind === "liquidation" && e.subAccount === CROSS_VENUE_SUB_ACCOUNTS[1]?.id && /^aave-v3: close factor/.test(e.detail))).toBe(true)
    expect(events.some((e) => e.kind === "liquidation" && e.subAccount === CROSS_VENUE_SUB_ACCOUNTS[0]?.id && /^seized/.test(e.detail))).toBe(true)
    const a = runBacktest(crash, config, "autopilot")
    expect(a.liquidations).toBe(0)
    expect(a.rebalances).toBeGreaterThan(0)
    expect(a.minHealth).toBeGreaterThan(1)
  })

  it("no buffer: the solver rescues the Aave account from the over-collateralised Morpho market in one plan naming both", () => {
    const [morpho, aaveSub] = CROSS_VENUE_SUB_ACCOUNTS as [(typeof CROSS_VENUE_SUB_ACCOUNTS)[number], (typeof CROSS_VENUE_SUB_ACCOUNTS)[number]]
    const config = resolveBacktestConfig({
      subAccounts: [
        { ...morpho, equity: 100_000, initialHealth: 1.75 },
        { ...aaveSub, equity: 30_000, initialHealth: 1.3 },
      ],
      pools: [],
      idle: {},
      swap: { enabled: false },
      policy: { maxHealth: 1.8 },
    })
    // A 12 % slide over two hours: the Aave account leaves its band (1.3 x 0.88 = 1.144 < 1.15); Morpho stays inside
    // (1.75 x 0.88 = 1.54) with about 9,700 USDC of borrowing room above its target, more than the ~5,400 Aave needs.
    const prices = [...Array.from({ length: 30 }, () => 3000), ...Array.from({ length: 121 }, (_, i) => 3000 * (1 - 0.12 * (i / 120))), ...Array.from({ length: 60 }, () => 2640)]
    const events: BacktestEvent[] = []
    const r = runBacktest(path(prices), config, "threshold", { trace: (e) => events.push(e) })
    expect(r.liquidations).toBe(0)
    const crossVenue = events.filter((e) => e.kind === "rebalance" && e.subAccounts?.includes(morpho.id) && e.subAccounts?.includes(aaveSub.id))
    expect(crossVenue.length, events.map((e) => `${e.kind} ${e.detail}`).join("\n")).toBeGreaterThan(0)
    expect(crossVenue[0]?.detail).toMatch(/(Borrow .* Repay|WithdrawCollateral .* SupplyCollateral)/)
    expect(r.minHealth).toBeGreaterThan(1)
  })
})

describe("backtest: an Aave v3 account's swap deleverage pays Aave's flash premium and keeps the fixed repayment (stop 62, review rv61 L1)", () => {
  // A no-idle Aave account (threshold 0.83, opened at health 1.4) on a slow fall: its rescues are swap deleverages.
  const prices = Array.from({ length: 400 }, (_, i) => (i < 60 ? 3000 : Math.max(2000, 3000 * 0.997 ** (i - 60))))
  const fall = path(prices)
  const run = (flashPremiumBps?: number) => {
    const config = resolveBacktestConfig({
      ...TRADERS["no-idle"],
      subAccounts: [{ id: "aave", asset: "ETH", lltv: 0.83, equity: 100_000, initialHealth: 1.4, venue: "aave-v3", ...(flashPremiumBps === undefined ? {} : { flashPremiumBps }) }],
    })
    const events: BacktestEvent[] = []
    runBacktest(fall, config, "autopilot", { trace: (e) => events.push(e) })
    // Each landed sale: the callback's repayment R, the collateral sold and what the pool paid, at that step's oracle price.
    const sales = events.flatMap((e) => {
      const m = e.kind === "swap" ? /RepayWithCallback ([\d.]+) USDC, .*SellCollateral ([\d.]+) ETH -> ([\d.]+)/.exec(e.detail) : null
      return m === null ? [] : [{ repaid: Number(m[1]), sold: Number(m[2]), out: Number(m[3]), price: prices[(e.time - T0) / 60] as number }]
    })
    return { sales, bps: config.swap.maxSlippageBps }
  }

  it("default (5 bp, Aave v3 Ethereum's): the repayment is the quoted take above the sale's minimum, and the sale pays it plus the premium", () => {
    const { sales, bps } = run()
    expect(sales.length).toBeGreaterThan(0)
    for (const s of sales) {
      // Not the sale-minimum mode's repayment (the sale's on-chain minimum at the inclusion oracle, no idle brought).
      expect(s.repaid / (s.sold * s.price)).toBeGreaterThan(1 - bps / 10_000 + 1e-4)
      expect(s.out).toBeGreaterThanOrEqual(s.repaid * (1 + 5 / 10_000))
    }
  })

  it("flashPremiumBps 0: the account runs the sale-minimum default like a Morpho Blue one (the repayment is the sale's minimum)", () => {
    const { sales, bps } = run(0)
    expect(sales.length).toBeGreaterThan(0)
    // The first sale brings nothing else: it repays exactly its minimum. A later one also brings what an earlier sale
    // paid over its minimum (left idle), so it repays at least its minimum.
    const first = sales[0] as (typeof sales)[number]
    expect(first.repaid / (first.sold * first.price)).toBeCloseTo(1 - bps / 10_000, 5)
    for (const s of sales) expect(s.repaid / (s.sold * s.price)).toBeGreaterThan(1 - bps / 10_000 - 1e-5)
  })

  it("flashPremiumBps is refused off Aave and outside [0, 10000), naming the sub-account and the field", () => {
    const sub = { id: "a", asset: "ETH", lltv: 0.83, equity: 1 }
    expect(() => resolveBacktestConfig({ subAccounts: [{ ...sub, flashPremiumBps: 5 }] })).toThrow(/sub-account a: flashPremiumBps is for venue "aave-v3"/)
    for (const bad of [-1, 2.5, 10_000, "5"]) expect(() => resolveBacktestConfig({ subAccounts: [{ ...sub, venue: "aave-v3", flashPremiumBps: bad }] })).toThrow(BacktestConfigError)
    expect(resolveBacktestConfig({ subAccounts: [{ ...sub, venue: "aave-v3", flashPremiumBps: 9 }] }).subAccounts[0]?.flashPremiumBps).toBe(9)
  })
})
