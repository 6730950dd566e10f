import { Writable } from "node:stream"
import { pino } from "pino"
import { makePolicy, TEST_COSTS } from "../solver/testing.js"
import type { SolverInput, SubAccountState } from "../solver/types.js"
import { KeeperMetrics } from "./metrics.js"
import type { PortfolioSnapshot } from "./portfolio.js"
import { newSafeRuntime } from "./runtime.js"
import { defaultVolatilitySettings } from "./volatility.js"
import { VolatilityFeed } from "./volatilityFeed.js"

/** The loan-token pool of {@link bandSnapshot}'s Safe (50,000 USDC, all withdrawable). */
export const BAND_POOL = "0x00000000000000000000000000000000000000a1"

/**
 * A keeper read of a one-sub-account Safe for the band-rule tests (issue 13): 10 WETH of collateral, `debt` USDC, LLTV
 * 0.86, oracle `price` (USDC per WETH), band 1.15 / 1.4 / 1.7 with boosts and no cooldown, the {@link BAND_POOL} pool.
 *
 * @param o - Sub-account id, price, debt (USDC), read time (unix s), block, solver mode (default autopilot), and any
 *   state fields to override (e.g. Aave's `thresholdFloored` and read `health`).
 * @returns The snapshot `VolatilityFeed.apply` takes.
 */
export function bandSnapshot(o: { id: string; price: number; debt: number; t: number; block: number; mode?: "autopilot" | "threshold"; extra?: Partial<SubAccountState> }): PortfolioSnapshot {
  const input: SolverInput = {
    now: o.t,
    subAccounts: [
      {
        state: { id: o.id, loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 10, debt: o.debt, lltv: 0.86, price: o.price, ...o.extra },
        policy: makePolicy({ pools: [BAND_POOL], minHealth: 1.15, targetHealth: 1.4, maxHealth: 1.7, boostAllowed: true, cooldown: 0 }),
        epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
        risk: { sigma: 0.6 },
      },
    ],
    pools: [{ address: BAND_POOL, asset: "USDC", decimals: 6, balance: 50_000, withdrawable: 50_000 }],
    idle: {},
    costs: TEST_COSTS,
    mode: o.mode ?? "autopilot",
  }
  return { input, timestamp: o.t, blockNumber: BigInt(o.block) } as unknown as PortfolioSnapshot
}

/** A silent `VolatilityFeed` and a fresh Safe runtime (prior sigma 0.6) for it. */
export function feedAndRuntime() {
  const logger = pino({ level: "silent" }, new Writable({ write: (_c, _e, done) => done() }))
  const feed = new VolatilityFeed({ logger, metrics: new KeeperMetrics() })
  const rt = newSafeRuntime({ address: `0x${"5".repeat(40)}`, risk: { sigma: 0.6, volatility: defaultVolatilitySettings } } as never)
  return { feed, rt }
}
