import { TEST_COSTS } from "../solver/testing.js"
import { random } from "./aaveMath.testing.js"
import { portfolioOf } from "./portfolio.js"
import { ADAPTER, SAFE, h } from "./testing.js"

// The dust-account model the Aave dust tests share (aaveDustVenueHealth.r17f, aaveDustSolve.rr17g): Aave v3.0.2
// GenericLogic per-reserve values floored to the 8-decimal base currency, average threshold floored to whole bps, factor
// rounded half up; the adapter's frame as AaveV3Adapter.marketState builds it; the keeper's solver input via portfolioOf.

const S = 10n ** 36n
const WAD = 10n ** 18n
/** A dust review market: the frame's collateral reserve plus a dust reserve at the lower threshold `ltDust` (bps); decimals, 8-decimal USD prices, thresholds in bps. */
export type DustShape = { name: string; dc: number; dl: number; pc: bigint; pd: bigint; lt: bigint; ltDust: bigint }
/** rr17c's five pairs (loan/collateral decimals 6/8/18, e-mode or not), each with a dust reserve below. */
export const DUST_SHAPES: DustShape[] = [
  { name: "wstETH/WETH e-mode, dust at 8,000", dc: 18, dl: 18, pc: 3_500n * 10n ** 8n, pd: 3_000n * 10n ** 8n, lt: 9_500n, ltDust: 8_000n },
  { name: "WETH/USDC, dust at 7,800", dc: 18, dl: 6, pc: 3_000n * 10n ** 8n, pd: 10n ** 8n, lt: 8_250n, ltDust: 7_800n },
  { name: "WBTC/USDC, dust at 7,500", dc: 8, dl: 6, pc: 60_000n * 10n ** 8n, pd: 10n ** 8n, lt: 7_800n, ltDust: 7_500n },
  { name: "WBTC/WETH, dust at 7,000", dc: 8, dl: 18, pc: 60_000n * 10n ** 8n, pd: 3_000n * 10n ** 8n, lt: 7_800n, ltDust: 7_000n },
  { name: "USDC/WETH, dust at 7,500", dc: 6, dl: 18, pc: 10n ** 8n, pd: 3_000n * 10n ** 8n, lt: 7_800n, ltDust: 7_500n },
]
const COLL = "0x00000000000000000000000000000000000000c7"
const LOAN_TOKEN = "0x00000000000000000000000000000000000000b1"
const ID = `0x${"a7".repeat(32)}` as const

/** Aave's factor (GenericLogic) and the adapter's frame: main collateral `c`, `dust` base-currency units at ltDust, debt `d`. */
export function dustAccount(m: DustShape, c: bigint, dust: bigint, d: bigint) {
  const uc = 10n ** BigInt(m.dc)
  const ul = 10n ** BigInt(m.dl)
  const main = (c * m.pc) / uc
  const tc = main + dust
  const weighted = main * m.lt + dust * m.ltDust
  const td = (d * m.pd) / ul
  const average = weighted / tc
  const health = (((tc * average + 5_000n) / 10_000n) * WAD + td / 2n) / td
  const ceil = (td * ul + m.pd - 1n) / m.pd
  const frame = {
    collateral: (weighted * uc) / (m.lt * m.pc),
    debt: d > ceil ? d : ceil,
    equity: ((tc - td) * ul) / m.pd,
    price: (m.pc * ul * S) / (m.pd * uc),
    lltv: m.lt * 10n ** 14n,
    health,
  }
  return { health, average, frame }
}

/** The keeper's solver input for one Aave sub-account with the lens's figures `frame` (the fleet path, `portfolioOf`). */
export function dustSnapshotOf(m: DustShape, frame: ReturnType<typeof dustAccount>["frame"], band = { min: 1.1, target: 1.3, max: 1.5 }, idleLoan = 0n) {
  const state = {
    safe: SAFE,
    tokens: [
      { token: LOAN_TOKEN, decimals: m.dl, balance: idleLoan },
      { token: COLL, decimals: m.dc, balance: 0n },
    ],
    pools: [],
    unreadable: [],
    subAccounts: [
      {
        subAccount: ID, loanToken: LOAN_TOKEN, collateralToken: COLL, ...frame, band: "inside",
        policy: { adapter: ADAPTER, minHealth: h(band.min), targetHealth: h(band.target), maxHealth: h(band.max), maxAmountPerRebalance: 2n ** 200n, maxAmountPerEpoch: 2n ** 200n, epochLength: 86_400, maxRebalancesPerEpoch: 100, maxGasPerEpoch: 10n ** 12n, cooldown: 0, maxLossBps: 300, maxEpochLossBps: 300, boostAllowed: true, maxSlippageBps: 0, pools: [], market: `0x${"00".repeat(32)}` },
        epochUsage: { lastRebalance: 0, epoch: 0, lossPpb: 0, amountMoved: 0n, rebalances: 0, gasUsed: 0 },
      },
    ],
  }
  return portfolioOf(state as never, { blockNumber: 1n, timestamp: 1_700_000_000n, risk: { tolerance: 0.01, horizon: 3600, sigma: 0.5, mode: "autopilot" } as never, costs: TEST_COSTS, aaveAdapter: ADAPTER })
}

/** Random dust accounts (seeded): 10 USD to 1e7 USD of main collateral, dust 0 to 30 ppb of it, debt for Aave's factor `low` to `low + span`. */
export function dustCases(m: DustShape, n: number, seed: number, low: number, span: number) {
  const r = random(seed)
  return Array.from({ length: n }, (_, k) => {
    const usd = 10 ** (1 + r() * 6)
    const c = (BigInt(Math.floor(usd * 1e6)) * 10n ** BigInt(m.dc) * 10n ** 8n) / (m.pc * 10n ** 6n) + BigInt(Math.floor(r() * 1e3))
    const main = (c * m.pc) / 10n ** BigInt(m.dc)
    const dust = (main * BigInt(Math.floor(r() * 30_000))) / 10n ** 12n
    const target = low + r() * span
    const d = (main * m.lt * 10n ** BigInt(m.dl) * 1_000n) / (m.pd * 10_000n * BigInt(Math.round(target * 1_000))) + BigInt(Math.floor(r() * 1e3))
    return { k, usd, c, d, dust, main, ...dustAccount(m, c, dust, d) }
  })
}
