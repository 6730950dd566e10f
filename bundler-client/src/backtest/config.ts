import type { JumpParameters } from "../risk/firstPassage.js"
import { DEFAULT_GAS_PER_ACTION } from "../solver/types.js"
import type { CostModel, Policy, YieldPool } from "../solver/types.js"
import { validatePolicy } from "../solver/solver.js"

/** Strategies the backtester compares. */
export type StrategyName = "static" | "threshold" | "autopilot"

/** All strategies, in report order. */
export const STRATEGIES: readonly StrategyName[] = ["static", "threshold", "autopilot"]

/** A sub-account to open at the start of a backtest. */
export type BacktestSubAccount = {
  /** Sub-account id. */
  id: string
  /** Collateral asset: a column of the price file. */
  asset: string
  /** Liquidation LTV. */
  lltv: number
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
  /** Keeper model: it polls every `pollSeconds`; its plan lands `latencyBlocks` x `blockSeconds` later. */
  keeper: { latencyBlocks: number; blockSeconds: number; pollSeconds: number }
  /** Gas and boost-value assumptions. */
  costs: CostModel
  /**
   * Autopilot's volatility model: sigma = max(fast EWMA, slow EWMA) of per-step log-returns,
   * starting from `initialSigma`, with an optional jump prior (null or absent: none).
   */
  risk: { fastLambda: number; slowLambda: number; initialSigma: number; drift: number; jumps?: JumpParameters | null | undefined }
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

/** Address of the default USDC pool. */
export const DEFAULT_POOL = "0x00000000000000000000000000000000000000a1"

/**
 * The default scenario: one ETH/USDC Morpho-style market (LLTV 0.86) with 100,000 USDC equity handed
 * to automation over-collateralised at health 2.0 (above the band), 100,000 USDC in an allowed
 * ERC-4626 pool (1 bp entry/exit cost), band [1.15, 1.7] with target 1.4, tolerance 0.1 % over 24 h,
 * Chainlink-like oracle (1 h heartbeat, 0.5 % deviation), keeper polling every minute with a latency
 * of 2 blocks of 12 s, 10 gwei gas at 3,000 USD, jump prior 50 jumps/year of -4 % +- 4 %.
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
    pools: [DEFAULT_POOL],
    tolerance: 0.001,
    horizon: 86_400,
  },
  pools: [{ address: DEFAULT_POOL, asset: "USDC", decimals: 6, balance: 100_000, withdrawable: 100_000, slippageBps: 1 }],
  idle: {},
  oracle: { heartbeatSeconds: 3600, deviationBps: 50 },
  keeper: { latencyBlocks: 2, blockSeconds: 12, pollSeconds: 60 },
  costs: { gasPrice: 10e-9 * 3000, gasPerAction: DEFAULT_GAS_PER_ACTION, baseGas: 150_000, boostEdgeBps: 20 },
  risk: { fastLambda: 0.97, slowLambda: 0.999, initialSigma: 0.6, drift: 0, jumps: { intensity: 50, meanLog: -0.04, sigmaLog: 0.04 } },
  strategies: ["static", "threshold", "autopilot"],
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x)
}

function merge<T>(base: T, override: unknown, path: string): T {
  if (override === undefined) return base
  if (!isObject(base) || !isObject(override)) return override as T
  const out: Record<string, unknown> = { ...base }
  for (const [k, v] of Object.entries(override)) {
    if (!(k in base)) throw new BacktestConfigError(`unknown key "${path}${k}"`)
    out[k] = merge((base as Record<string, unknown>)[k], v, `${path}${k}.`)
  }
  return out as T
}

/**
 * Overlay a (partial) JSON configuration on the defaults and validate it. Objects merge key by key;
 * arrays (subAccounts, pools, strategies) replace the default. Unknown keys are rejected.
 *
 * @param override - Parsed JSON (e.g. the --policy file).
 * @returns A complete, validated configuration.
 * @throws {BacktestConfigError} On unknown keys, an invalid policy or inconsistent sub-accounts and pools.
 */
export function resolveBacktestConfig(override: unknown = {}): BacktestConfig {
  if (!isObject(override)) throw new BacktestConfigError("expected a JSON object")
  const config = merge(DEFAULT_BACKTEST_CONFIG, override, "")
  const problems = validatePolicy(config.policy)
  if (problems.length > 0) throw new BacktestConfigError(`policy: ${problems.join("; ")}`)
  if (config.subAccounts.length === 0) throw new BacktestConfigError("subAccounts is empty")
  for (const s of config.subAccounts) {
    if (!(s.lltv > 0 && s.lltv < 1)) throw new BacktestConfigError(`sub-account ${s.id}: lltv must be in (0, 1)`)
    if (!(s.equity > 0)) throw new BacktestConfigError(`sub-account ${s.id}: equity must be > 0`)
    const p = validatePolicy({ ...config.policy, ...s.policy })
    if (p.length > 0) throw new BacktestConfigError(`sub-account ${s.id} policy: ${p.join("; ")}`)
  }
  for (const s of config.strategies) if (!STRATEGIES.includes(s)) throw new BacktestConfigError(`unknown strategy "${s}" (use ${STRATEGIES.join(", ")})`)
  if (!(config.keeper.pollSeconds > 0)) throw new BacktestConfigError("keeper.pollSeconds must be > 0")
  return config
}
