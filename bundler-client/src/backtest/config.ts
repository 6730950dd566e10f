import type { JumpParameters } from "../risk/firstPassage.js"
import { DEFAULT_GAS_PER_ACTION } from "../solver/types.js"
import type { CostModel, Policy, YieldPool } from "../solver/types.js"
import { validatePolicy } from "../solver/solver.js"
import { GAS_MARKETS, meanGasPrice } from "./carry.js"
import type { GasMarket } from "./carry.js"

/** Strategies the backtester compares. */
export type StrategyName = "static" | "threshold" | "dfs-style" | "autopilot"

/** All strategies, in report order. */
export const STRATEGIES: readonly StrategyName[] = ["static", "threshold", "dfs-style", "autopilot"]

/** Swap execution: how exposure changes (swap deleverage, swap boost), against a concentrated-liquidity pool. */
export type SwapConfig = {
  /** Sell collateral to repay when a deleverage cannot be funded from idle funds, pools or other sub-accounts. */
  enabled: boolean
  /** How a boost adds leverage: "swap" (borrow, buy collateral, supply: exposure rises) or "pool" (borrow into the cheapest allowed pool). */
  boost: "swap" | "pool"
  /** Pool fee tier in bps (Uniswap v3 ETH/USDC: 5). */
  feeBps: number
  /** Loan tokens a seller receives before the pool price falls 2 % (at the path's first price). */
  depth2Percent: number
  /** Shrink depth by initialSigma / current sigma (at most 4x) when volatility is above its prior (stressed books are thinner). */
  stressDepth: boolean
  /** On-chain bound: a swap must return at least (1 - maxSlippageBps) of its oracle value, else it reverts. */
  maxSlippageBps: number
  /**
   * What a Morpho swap deleverage's callback repays, as the keeper's `swap.repayment`: "sale-minimum" (the default since
   * stop 61, undefined reads as it: the module's sale-minimum repayment mode, the sales' on-chain minimum output at the
   * inclusion oracle plus what the plan brings besides them; `repayAtSaleMinimum`, docs/sale-minimum-repayment.md) or
   * "amount" ("planned" is its older name: the fixed amount the keeper quoted, landing only inside a window about
   * maxSlippageBps wide around the quoted price). A block with a flash premium keeps the fixed amount, as the keeper
   * sends Aave's: an `aave-v3` sub-account's blocks repay the fixed amount either way while its `flashPremiumBps` (default 5) is above 0
   * (at 0 it runs as a Morpho Blue one).
   */
  repayment?: "amount" | "planned" | "sale-minimum" | undefined
}

/** Carry: borrow interest (AdaptiveCurveIrm), pool and collateral yield, our optional automation fee. */
export type CarryConfig = {
  /** Utilisation of the borrow market (0..1), the AdaptiveCurveIrm's input; 0.9 is its target. */
  utilization: number
  /** Rate at target utilisation at the start (APR); Morpho's initial 0.04. */
  rateAtTarget: number
  /** Morpho market fee (share of interest), lowers the supply rate. */
  marketFee: number
  /** APY of the loan-asset yield pools; null: the market's supply rate (borrow APR x utilisation x (1 - fee)). */
  poolApy: number | null
  /** Yield of the collateral token itself (staking), APY. */
  collateralApy: number
  /** Our optional automation fee, bps of the value a rebalance moves (0: none). */
  automationFeeBps: number
}

/**
 * The `dfs-style` baseline, as DeFi Saver's automated leverage management works: Repay (sell collateral, repay) when
 * the ratio falls below `repayBelow`, to `repayTo`; Boost (borrow, buy collateral, supply) above `boostAbove`, to
 * `boostTo`. After execution DeFi Saver's ratio check (`MorphoBlueRatioCheck`, `AaveV3RatioCheck`) is one-sided: a Repay
 * reverts unless the ratio rose and ends at most target + `ratioOffset`, a Boost unless it fell and ends at least
 * target - `ratioOffset` (RATIO_OFFSET 0.05). `ratioOffset` is in DeFi Saver's own ratio units: collateral value / debt
 * on Morpho Blue (0.05 x LLTV of health), the safety ratio collateral value x LTV / debt on Aave v3 (0.05 x
 * threshold / LTV of health). Triggers and targets are health (collateral x LLTV / debt); null takes the policy's
 * minHealth, targetHealth, maxHealth. Fees: service fee on the swapped amount (0.25 %, 0.1 % for correlated assets), automation fee 0.05 % of
 * the transaction size, gas charged to the position (DFS charges 1,000,000 gas for an automated Morpho Blue repay).
 */
export type DfsConfig = {
  repayBelow: number | null
  repayTo: number | null
  boostAbove: number | null
  boostTo: number | null
  serviceFeeBps: number
  automationFeeBps: number
  gas: number
  ratioOffset: number
}

/** A sub-account to open at the start of a backtest. */
export type BacktestSubAccount = {
  /** Sub-account id. */
  id: string
  /** Collateral asset: a column of the price file. */
  asset: string
  /** Liquidation LTV (Morpho Blue), or the liquidation threshold (Aave v3): health = collateral value x lltv / debt. */
  lltv: number
  /**
   * Venue whose liquidation mechanics apply: `morpho-blue` (default): below health 1 the whole debt is repaid and
   * collateral seized at Morpho's liquidation incentive factor min(1.15, 1 / (1 - 0.3 (1 - LLTV))); `aave-v3`: below
   * health factor 1 a liquidator repays at most the close factor of the debt (50 %, 100 % below health factor 0.95) and
   * seizes that value times the reserve's `liquidationBonus`, again while the account stays below 1.
   */
  venue?: "morpho-blue" | "aave-v3" | undefined
  /** Aave v3: the collateral reserve's liquidation bonus (1.05 = 5 %, Aave v3 Ethereum's WETH). Default 1.05. */
  liquidationBonus?: number | undefined
  /**
   * Aave v3: the collateral reserve's max LTV (borrow limit), below `lltv` (its liquidation threshold). DeFi Saver's
   * safety ratio is collateral value x LTV / debt, so its ratio check's offset is 0.05 x lltv / ltv of health. Default
   * lltv - 0.025 (Aave v3 Ethereum's WETH: LTV 80.5 %, threshold 83 %).
   */
  ltv?: number | undefined
  /**
   * Aave v3: the pool's flash-loan premium on a callback block (`FLASHLOAN_PREMIUM_TOTAL`), bps of the flashed amount,
   * an integer in [0, 10,000). Default 5 (`AAVE_DEFAULT_FLASH_PREMIUM_BPS`: Aave v3 Ethereum's, the devnet fixture's).
   * A swap deleverage or boost on the account then pays it, as the live keeper reads and the module's `AaveFlashLoanRouter`
   * pulls it, and while it is above 0 its sales keep the fixed repayment whatever `swap.repayment` says (the keeper sends the sale-minimum
   * mode on a venue without a premium only).
   */
  flashPremiumBps?: number | undefined
  /** Initial equity (collateral value - debt) in loan units. */
  equity: number
  /** Initial health; defaults to the policy's targetHealth. */
  initialHealth?: number | undefined
  /** Per-sub-account policy overrides. */
  policy?: Partial<Policy> | undefined
}

/** Everything a backtest needs besides the price paths. */
export type BacktestConfig = {
  /** Loan asset (numeraire) name. */
  loanAsset: string
  /** Loan asset decimals. */
  loanDecimals: number
  /** Collateral decimals. */
  collateralDecimals: number
  /** Sub-accounts opened at the first price. */
  subAccounts: BacktestSubAccount[]
  /** Policy shared by the sub-accounts (overridable per sub-account). */
  policy: Policy
  /** The Safe's pool positions at the start. */
  pools: YieldPool[]
  /** The Safe's idle balances at the start. */
  idle: Record<string, number>
  /** Oracle model: a new price is published after `heartbeatSeconds` or a move of `deviationBps`. */
  oracle: { heartbeatSeconds: number; deviationBps: number }
  /**
   * Keeper model: it polls every `pollSeconds`; its plan lands `latencyBlocks` x `blockSeconds` later. `boostFloor`
   * (autopilot; default true): the keeper's band-rule shadow (`BandRuleShadow`, issue 13, helper s50) is each boost's
   * landing floor (`SubAccountInput.boostFloorHealth`) and its in-band rescue's gate; false: neither (main before s50).
   * `bandShadow`: "paper" (default) the live keeper's `BandRulePaper` (the threshold solver rebalancing a copy of the
   * portfolio at each poll within the policy's caps and bounds, decided at one poll and landed at the next; no interest);
   * "run" the reference: the band rule's health from a threshold run of the same configuration on the same path, read
   * at each poll (prices up to then only; its landings can be amount- or loss-bound, helper bk50b); "model"
   * `BandRuleShadow` (every band-rule landing at the target; the keeper's before stop 51).
   */
  keeper: { latencyBlocks: number; blockSeconds: number; pollSeconds: number; boostFloor?: boolean | undefined; bandShadow?: "run" | "paper" | "model" | undefined }
  /** Gas and boost-value assumptions the solver decides with (`gasPrice`: the mean of `gas`). */
  costs: CostModel
  /** Gas actually paid: a fee distribution (`GAS_MARKETS.mainnet` 1-100 gwei, or `l2`). */
  gas: GasMarket
  /** Swap execution and its liquidity-depth model. */
  swap: SwapConfig
  /** Interest, yields and our automation fee. */
  carry: CarryConfig
  /** The dfs-style baseline's triggers, targets and fees. */
  dfs: DfsConfig
  /**
   * Autopilot's volatility model: sigma = max(fast EWMA, slow EWMA, GARCH forecast over the horizon) of per-step
   * log-returns, starting from `initialSigma`; jumps calibrated from the path (the prior `jumps` pooled with every
   * downward jump seen, `tail`), or the prior alone when `tail.calibrate` is false; null or absent: no jump prior.
   */
  risk: {
    fastLambda: number
    slowLambda: number
    initialSigma: number
    drift: number
    jumps?: JumpParameters | null | undefined
    /** Tail calibration: weight of the jump prior (years), jump threshold (local sigmas), smallest jump (log). */
    tail: { calibrate: boolean; priorYears: number; threshold: number; minJump: number }
    /** GARCH(1,1) regime model refitted every `refitSeconds` on `windowSeconds` of history; null: off. */
    garch: { refitSeconds: number; windowSeconds: number } | null
  }
  /** Strategies to run. */
  strategies: StrategyName[]
}

/** Raised when a backtest configuration (e.g. a --policy file) is invalid. */
export class BacktestConfigError extends Error {
  override name = "BacktestConfigError"
  /** @param detail - What is wrong. */
  constructor(detail: string) {
    super(`Invalid backtest configuration: ${detail}`)
  }
}

/**
 * A cross-venue Safe (issue 17): the same ETH exposure on a Morpho Blue market (LLTV 0.86) and an Aave v3 account
 * (WETH liquidation threshold 0.83, bonus 5 %, close factor 50 % / 100 % below health factor 0.95), 50,000 USDC of
 * equity each at health 1.4; the solver may move value between them (borrow on one, repay the other) within one plan.
 */
export const CROSS_VENUE_SUB_ACCOUNTS: BacktestSubAccount[] = [
  { id: "0x00000000000000000000000000000000000000000000000000000000000000e1", asset: "ETH", lltv: 0.86, equity: 50_000, initialHealth: 1.4, venue: "morpho-blue" },
  { id: "0x00000000000000000000000000000000000000000000000000000000000000a7", asset: "ETH", lltv: 0.83, equity: 50_000, initialHealth: 1.4, venue: "aave-v3", liquidationBonus: 1.05 },
]

/** Address of the default USDC pool. */
export const DEFAULT_POOL = "0x00000000000000000000000000000000000000a1"

/**
 * The default scenario (the "buffered" trader): one ETH/USDC Morpho-style market (LLTV 0.86) with 100,000 USDC
 * equity handed to automation over-collateralised at health 2.0 (above the band), 100,000 USDC in an allowed
 * ERC-4626 pool (1 bp entry/exit cost), band [1.15, 1.7] with target 1.4, tolerance 0.1 % over 24 h, tail drop
 * from the target (28.6 %), in-band rescues below the target (`rescueBelowTarget`, the autopilot's, issue 13), stop-loss
 * at a 30 % drawdown, Chainlink-like oracle (1 h heartbeat, 0.5 % deviation), keeper polling every minute with a latency
 * of 2 blocks of 12 s, mainnet gas (1-100 gwei at 3,000 USD), jump prior 50 jumps/year of -4 % +- 4 %, market at 88 %
 * utilisation (borrow APR about 3.9 %), swaps through a 5 bp pool with 10M USDC of -2 % depth.
 */
export const DEFAULT_BACKTEST_CONFIG: BacktestConfig = {
  loanAsset: "USDC",
  loanDecimals: 6,
  collateralDecimals: 18,
  subAccounts: [{ id: "0x00000000000000000000000000000000000000000000000000000000000000e1", asset: "ETH", lltv: 0.86, equity: 100_000, initialHealth: 2 }],
  policy: {
    minHealth: 1.15,
    targetHealth: 1.4,
    maxHealth: 1.7,
    maxAmountPerRebalance: 150_000,
    maxAmountPerEpoch: 600_000,
    epochLength: 86_400,
    maxRebalancesPerEpoch: 24,
    maxGasPerEpoch: 20_000_000,
    cooldown: 300,
    maxLossBps: 10,
    boostAllowed: true,
    rescueBelowTarget: true,
    pools: [DEFAULT_POOL],
    tolerance: 0.001,
    horizon: 86_400,
    stopLoss: 0.3,
  },
  pools: [{ address: DEFAULT_POOL, asset: "USDC", decimals: 6, balance: 100_000, withdrawable: 100_000, slippageBps: 1 }],
  idle: {},
  oracle: { heartbeatSeconds: 3600, deviationBps: 50 },
  keeper: { latencyBlocks: 2, blockSeconds: 12, pollSeconds: 60 },
  costs: { gasPrice: meanGasPrice(GAS_MARKETS.mainnet), gasPerAction: DEFAULT_GAS_PER_ACTION, baseGas: 150_000, boostEdgeBps: 20 },
  gas: { ...GAS_MARKETS.mainnet },
  swap: { enabled: true, boost: "pool", feeBps: 5, depth2Percent: 10_000_000, stressDepth: true, maxSlippageBps: 100 },
  carry: { utilization: 0.88, rateAtTarget: 0.04, marketFee: 0, poolApy: null, collateralApy: 0, automationFeeBps: 0 },
  dfs: { repayBelow: null, repayTo: null, boostAbove: null, boostTo: null, serviceFeeBps: 25, automationFeeBps: 5, gas: 1_000_000, ratioOffset: 0.05 },
  risk: {
    fastLambda: 0.97,
    slowLambda: 0.999,
    initialSigma: 0.6,
    drift: 0,
    jumps: { intensity: 50, meanLog: -0.04, sigmaLog: 0.04 },
    tail: { calibrate: true, priorYears: 0.1, threshold: 4, minJump: 0.02 },
    garch: { refitSeconds: 86_400, windowSeconds: 86_400 },
  },
  strategies: ["static", "threshold", "dfs-style", "autopilot"],
}

/** Traders the suite runs: "buffered" (the default: a pool and idle room) and "no-idle" (a looped position with nothing else; issue 12). */
export const TRADERS = {
  buffered: {},
  "no-idle": {
    subAccounts: [{ id: "0x00000000000000000000000000000000000000000000000000000000000000e1", asset: "ETH", lltv: 0.86, equity: 100_000, initialHealth: 1.4 }],
    pools: [],
    idle: {},
    policy: { pools: [] },
    swap: { boost: "swap" },
  },
} as const satisfies Record<string, Record<string, unknown>>

/**
 * The policy a strategy runs with, from the configured one (`policy`, merged with the sub-account's): the one place that
 * projects the owner's policy onto a strategy (review rr13u U3). The on-chain stop (`stopPrice`, `exitHealth`;
 * docs/stop-loss-exit.md), the in-band rescue (`rescueBelowTarget`, issue 13: threshold is the naive band rule) and the
 * drawdown guard (`stopLoss`, `stopLossConfirmSeconds`) are the autopilot's: for it `stopPrice`, configured relative to the path's first price (0.91: 91 % of it), is set in price
 * units (x `firstPrice`); every other strategy runs without any of these fields, together (`validatePolicy` refuses
 * `exitHealth` without `stopPrice`).
 *
 * @param policy - The configured policy (not modified).
 * @param strategy - The strategy it is projected for.
 * @param firstPrice - The path's first price of the sub-account's collateral (loan units per collateral unit).
 * @returns A new policy object.
 */
export function strategyPolicy(policy: Policy, strategy: StrategyName, firstPrice: number): Policy {
  const out: Policy = { ...policy }
  if (strategy === "autopilot") {
    if (out.stopPrice !== undefined) out.stopPrice *= firstPrice
    return out
  }
  for (const k of AUTOPILOT_ONLY) delete out[k]
  return out
}

/** Policy fields only the autopilot runs with ({@link strategyPolicy}). */
const AUTOPILOT_ONLY = ["stopPrice", "exitHealth", "stopLoss", "stopLossConfirmSeconds", "rescueBelowTarget"] as const satisfies readonly (keyof Policy)[]

/** Trader names ({@link TRADERS}). */
export type TraderName = keyof typeof TRADERS

/** Gas networks ({@link GAS_MARKETS}) with the solver's decision gas price set to the distribution's mean. */
export function networkOverride(network: keyof typeof GAS_MARKETS): Record<string, unknown> {
  return { gas: { ...GAS_MARKETS[network] }, costs: { gasPrice: meanGasPrice(GAS_MARKETS[network]) } }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x)
}

/** Keys a configuration may set although the defaults leave them out (optional policy fields; null removes them). */
const OPTIONAL_KEYS = new Set(["swap.repayment", "keeper.boostFloor", "keeper.bandShadow", "policy.rescueBelowTarget", "policy.tailDrop", "policy.stopLoss", "policy.stopLossConfirmSeconds", "policy.stopPrice", "policy.exitHealth", "policy.maxOracleDeviationBps"])

function merge<T>(base: T, override: unknown, path: string): T {
  if (override === undefined) return base
  if (!isObject(base) || !isObject(override)) return override as T
  const out: Record<string, unknown> = { ...base }
  for (const [k, v] of Object.entries(override)) {
    if (!(k in base) && !OPTIONAL_KEYS.has(`${path}${k}`)) throw new BacktestConfigError(`unknown key "${path}${k}"`)
    out[k] = merge((base as Record<string, unknown>)[k], v, `${path}${k}.`)
  }
  return out as T
}

/**
 * Overlay a (partial) JSON configuration on the defaults and validate it. Objects merge key by key;
 * arrays (subAccounts, pools, strategies) replace the default. Unknown keys are rejected.
 *
 * @param override - Parsed JSON (e.g. the --policy file).
 * @param base - Configuration to overlay on; {@link DEFAULT_BACKTEST_CONFIG} by default.
 * @returns A complete, validated configuration.
 * @throws {BacktestConfigError} On unknown keys, an invalid policy or inconsistent sub-accounts and pools.
 */
export function resolveBacktestConfig(override: unknown = {}, base: BacktestConfig = DEFAULT_BACKTEST_CONFIG): BacktestConfig {
  if (!isObject(override)) throw new BacktestConfigError("expected a JSON object")
  const config = merge(base, override, "")
  for (const key of ["tailDrop", "stopLoss", "stopLossConfirmSeconds"] as const) if ((config.policy[key] as number | null | undefined) === null) config.policy = { ...config.policy, [key]: undefined }
  if ((config.swap.repayment as string | null | undefined) === null) config.swap = { ...config.swap, repayment: undefined }
  const problems = validatePolicy(config.policy)
  if (problems.length > 0) throw new BacktestConfigError(`policy: ${problems.join("; ")}`)
  if (config.subAccounts.length === 0) throw new BacktestConfigError("subAccounts is empty")
  for (const s of config.subAccounts) {
    if (!(s.lltv > 0 && s.lltv < 1)) throw new BacktestConfigError(`sub-account ${s.id}: lltv must be in (0, 1)`)
    if (!(s.equity > 0)) throw new BacktestConfigError(`sub-account ${s.id}: equity must be > 0`)
    if (s.venue !== undefined && s.venue !== "morpho-blue" && s.venue !== "aave-v3") throw new BacktestConfigError(`sub-account ${s.id}: venue must be "morpho-blue" or "aave-v3", got "${String(s.venue)}"`)
    if (s.liquidationBonus !== undefined && (s.venue !== "aave-v3" || !(s.liquidationBonus > 1 && s.liquidationBonus * s.lltv < 1)))
      throw new BacktestConfigError(`sub-account ${s.id}: liquidationBonus is for venue "aave-v3" and must be > 1 with liquidationBonus x lltv < 1 (Aave's own rule), got ${s.liquidationBonus}`)
    if (s.ltv !== undefined && (s.venue !== "aave-v3" || !(s.ltv > 0 && s.ltv <= s.lltv)))
      throw new BacktestConfigError(`sub-account ${s.id}: ltv is for venue "aave-v3" and must be in (0, lltv], got ${s.ltv}`)
    if (s.flashPremiumBps !== undefined && (s.venue !== "aave-v3" || !(Number.isInteger(s.flashPremiumBps) && s.flashPremiumBps >= 0 && s.flashPremiumBps < 10_000)))
      throw new BacktestConfigError(`sub-account ${s.id}: flashPremiumBps is for venue "aave-v3" and must be an integer in [0, 10000) bps, got ${JSON.stringify(s.flashPremiumBps)}`)
    const p = validatePolicy({ ...config.policy, ...s.policy })
    if (p.length > 0) throw new BacktestConfigError(`sub-account ${s.id} policy: ${p.join("; ")}`)
  }
  for (const s of config.strategies) if (!STRATEGIES.includes(s)) throw new BacktestConfigError(`unknown strategy "${s}" (use ${STRATEGIES.join(", ")})`)
  if (!(config.keeper.pollSeconds > 0)) throw new BacktestConfigError("keeper.pollSeconds must be > 0")
  const shadow = config.keeper.bandShadow
  if (shadow !== undefined && shadow !== "run" && shadow !== "paper" && shadow !== "model") throw new BacktestConfigError(`keeper.bandShadow must be "run", "paper" or "model", got "${String(shadow)}"`)
  if (config.keeper.boostFloor !== undefined && typeof config.keeper.boostFloor !== "boolean") throw new BacktestConfigError(`keeper.boostFloor must be true or false, got ${JSON.stringify(config.keeper.boostFloor)}`)
  const g = config.gas
  if (!(g.minGwei > 0 && g.maxGwei >= g.minGwei && g.nativePrice > 0 && g.l1FeePerOp >= 0 && g.slotSeconds > 0))
    throw new BacktestConfigError("gas: need 0 < minGwei <= maxGwei, nativePrice > 0, l1FeePerOp >= 0, slotSeconds > 0")
  const w = config.swap
  if (w.boost !== "swap" && w.boost !== "pool") throw new BacktestConfigError(`swap.boost must be "swap" or "pool", got "${String(w.boost)}"`)
  if (!(w.feeBps >= 0 && w.feeBps < 10_000 && w.depth2Percent > 0 && w.maxSlippageBps >= 0))
    throw new BacktestConfigError("swap: need 0 <= feeBps < 10000, depth2Percent > 0, maxSlippageBps >= 0")
  if (w.repayment !== undefined && w.repayment !== "amount" && w.repayment !== "planned" && w.repayment !== "sale-minimum")
    throw new BacktestConfigError(`swap.repayment must be "sale-minimum" (default) or "amount" (alias "planned"), got ${JSON.stringify(w.repayment)}`)
  const c = config.carry
  if (!(c.utilization >= 0 && c.utilization <= 1)) throw new BacktestConfigError(`carry.utilization must be in [0, 1], got ${c.utilization}`)
  if (!(c.rateAtTarget > 0 && c.marketFee >= 0 && c.marketFee < 1 && c.automationFeeBps >= 0)) throw new BacktestConfigError("carry: need rateAtTarget > 0, 0 <= marketFee < 1, automationFeeBps >= 0")
  const d = config.dfs
  for (const k of ["repayBelow", "repayTo", "boostAbove", "boostTo"] as const)
    if (d[k] !== null && !((d[k] as number) > 1)) throw new BacktestConfigError(`dfs.${k} must be a health > 1 or null (the policy's), got ${d[k]}`)
  if (!(d.ratioOffset > 0 && d.serviceFeeBps >= 0 && d.automationFeeBps >= 0 && d.gas >= 0)) throw new BacktestConfigError("dfs: need ratioOffset > 0, fees >= 0, gas >= 0")
  return config
}
