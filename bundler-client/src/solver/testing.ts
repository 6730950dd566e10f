import { withInclusionMargin } from "../keeper/inclusionMargin.js"
import { Rng } from "../risk/rng.js"
import { checkPlanAgainstPolicy } from "./policyRules.js"
import { solve } from "./solver.js"
import { DEFAULT_GAS_PER_ACTION } from "./types.js"
import type { CostModel, Plan, Policy, SolverInput, SubAccountInput, SubAccountState, SwapCurve, YieldPool } from "./types.js"

/** Cost model used by tests and benchmarks: 0.3 gwei-equivalent gas on a 3,000 USD native token. */
export const TEST_COSTS: CostModel = { gasPrice: 3000 * 0.3e-9, gasPerAction: DEFAULT_GAS_PER_ACTION, baseGas: 120_000, boostEdgeBps: 20 }

/**
 * One Morpho-like sub-account (10 WETH at 3,000 USDC, LLTV 0.86, debt set for `health`, default policy with one allowed
 * pool of 50,000 USDC, sigma 0.6) in autopilot mode, with `extra` fields of its solver input (a boost floor, margins).
 */
export function oneBandInput(health: number, extra: Partial<SubAccountInput> = {}): SolverInput {
  const price = 3000
  const collateral = 10
  const pool = "0x00000000000000000000000000000000000000a1"
  const sub: SubAccountInput = {
    state: { id: "a", loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral, debt: (collateral * price * 0.86) / health, lltv: 0.86, price },
    policy: makePolicy({ pools: [pool] }),
    epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
    risk: { sigma: 0.6 },
    ...extra,
  }
  return { now: 1_700_000_000, subAccounts: [sub], pools: [{ address: pool, asset: "USDC", decimals: 6, balance: 50_000, withdrawable: 50_000 }], idle: {}, costs: TEST_COSTS, mode: "autopilot" }
}

/**
 * A policy with sensible defaults, overridable field by field.
 *
 * @param overrides - Fields to replace.
 * @returns A valid policy.
 */
export function makePolicy(overrides: Partial<Policy> = {}): Policy {
  return {
    minHealth: 1.15,
    targetHealth: 1.4,
    maxHealth: 1.7,
    maxAmountPerRebalance: 1e9,
    maxAmountPerEpoch: 1e10,
    epochLength: 86_400,
    maxRebalancesPerEpoch: 24,
    maxGasPerEpoch: 50_000_000,
    cooldown: 300,
    maxLossBps: 50,
    boostAllowed: true,
    pools: [],
    tolerance: 0.01,
    horizon: 86_400,
    ...overrides,
  }
}

/**
 * A seeded random portfolio for property tests and benchmarks: `n` sub-accounts on one loan asset
 * (USDC) over a few collateral assets, `m` pools, random healths around and outside the bands,
 * random caps, cooldowns and epoch usage.
 *
 * @param seed - Generator seed.
 * @param n - Number of sub-accounts.
 * @param m - Number of pools.
 * @returns A solver input.
 */
export function randomSolverInput(seed: number, n: number, m: number): SolverInput {
  const rng = new Rng(seed)
  const assets = ["WETH", "WBTC", "wstETH"]
  const prices: Record<string, number> = { WETH: 3000, WBTC: 60000, wstETH: 3500 }
  const pools: YieldPool[] = []
  for (let k = 0; k < m; k++) {
    const asset = rng.uniform() < 0.7 ? "USDC" : (assets[Math.floor(rng.uniform() * assets.length)] as string)
    const balance = asset === "USDC" ? 50_000 * rng.uniform() : (50_000 * rng.uniform()) / (prices[asset] as number)
    pools.push({
      address: `0x${(k + 1).toString(16).padStart(40, "0")}`,
      asset,
      decimals: asset === "USDC" ? 6 : 18,
      balance,
      withdrawable: balance * (rng.uniform() < 0.2 ? rng.uniform() : 1),
      slippageBps: rng.uniform() < 0.5 ? 0 : Math.floor(rng.uniform() * 30),
    })
  }
  const subAccounts: SubAccountInput[] = []
  for (let i = 0; i < n; i++) {
    const asset = assets[i % assets.length] as string
    const price = (prices[asset] as number) * (0.8 + 0.4 * rng.uniform())
    const lltv = [0.77, 0.86, 0.915][Math.floor(rng.uniform() * 3)] as number
    const minHealth = 1.02 + 0.2 * rng.uniform()
    const maxHealth = minHealth + 0.1 + 0.8 * rng.uniform()
    const targetHealth = minHealth + 0.01 + (maxHealth - minHealth - 0.02) * rng.uniform()
    const health = 0.95 * minHealth + (maxHealth * 1.3 - 0.95 * minHealth) * rng.uniform()
    const collateralValue = 1_000 + 100_000 * rng.uniform()
    const debt = rng.uniform() < 0.05 ? 0 : (collateralValue * lltv) / health
    const allowed = pools.filter(() => rng.uniform() < 0.4).slice(0, 8).map((p) => p.address)
    const policy = makePolicy({
      minHealth,
      targetHealth,
      maxHealth,
      maxAmountPerRebalance: rng.uniform() < 0.3 ? 1_000 + 20_000 * rng.uniform() : 1e9,
      maxAmountPerEpoch: rng.uniform() < 0.3 ? 5_000 + 50_000 * rng.uniform() : 1e10,
      maxRebalancesPerEpoch: 1 + Math.floor(10 * rng.uniform()),
      maxLossBps: Math.floor(100 * rng.uniform()),
      maxEpochLossBps: rng.uniform() < 0.5 ? 100 : Math.floor(50 * rng.uniform()),
      boostAllowed: rng.uniform() < 0.8,
      pools: allowed,
      tolerance: [0.001, 0.01, 0.05][Math.floor(rng.uniform() * 3)] as number,
      horizon: [3600, 86_400, 7 * 86_400][Math.floor(rng.uniform() * 3)] as number,
    })
    const now = 1_700_000_000
    const ran = rng.uniform() < 0.3
    subAccounts.push({
      state: {
        id: `0x${(i + 1).toString(16).padStart(64, "a")}`,
        loanAsset: "USDC",
        collateralAsset: asset,
        loanDecimals: 6,
        collateralDecimals: 18,
        collateral: collateralValue / price,
        debt,
        lltv,
        price,
      },
      policy,
      epoch: ran
        ? {
            lastRebalance: now - Math.floor(600 * rng.uniform()),
            epoch: Math.floor(now / 86_400),
            amountInEpoch: 10_000 * rng.uniform(),
            rebalancesInEpoch: Math.floor(3 * rng.uniform()),
            gasInEpoch: 1_000_000,
            lossPpbInEpoch: Math.floor(1e6 * rng.uniform()),
          }
        : { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
      risk: { sigma: 0.2 + 1.5 * rng.uniform() },
    })
  }
  const idle: Record<string, number> = { USDC: rng.uniform() < 0.5 ? 20_000 * rng.uniform() : 0 }
  for (const a of assets) if (rng.uniform() < 0.3) idle[a] = (5_000 * rng.uniform()) / (prices[a] as number)
  return { now: 1_700_000_000, subAccounts, pools, idle, costs: TEST_COSTS }
}

/**
 * A threshold-mode solver input with one sub-account, no pool and no idle funds, at {@link TEST_COSTS}; `input`
 * overrides any field.
 */
export function oneSubAccountInput(sub: SubAccountInput, input: Partial<SolverInput> = {}): SolverInput {
  return { now: 1_700_000_000, subAccounts: [sub], pools: [], idle: {}, costs: TEST_COSTS, mode: "threshold", ...input }
}

/** An encoded Uniswap v3 route of fee tier 500 (the last 3 bytes). */
export const ROUTE_500 = `0x${"0".repeat(61)}1f4` as const

/**
 * Buying WETH with USDC on the devnet's 0.05% WETH/USDC pool (20M USDC of depth spread over four ranges), recorded from
 * QuoterV2 by `test/swapBoost.e2e.test.ts`'s set-up shape: shortfall of the WETH bought against its oracle value.
 */
export const BUY_CURVE: SwapCurve = {
  route: ROUTE_500,
  points: [
    { amountIn: 3_000, shortfallBps: 5.04 },
    { amountIn: 30_000, shortfallBps: 5.47 },
    { amountIn: 150_000, shortfallBps: 7.39 },
    { amountIn: 300_000, shortfallBps: 9.79 },
    { amountIn: 750_000, shortfallBps: 16.97 },
    { amountIn: 1_500_000, shortfallBps: 28.91 },
  ],
}

/** The devnet's WETH/USDC 0.05% pool after an 11% crash (its concentrated ranges left behind): measured by forge. */
export const CRASH_CURVE: SwapCurve = {
  route: ROUTE_500,
  points: [
    { amountIn: 0.1, shortfallBps: 5.2 },
    { amountIn: 2, shortfallBps: 8 },
    { amountIn: 6, shortfallBps: 15 },
    { amountIn: 20, shortfallBps: 42 },
    { amountIn: 60, shortfallBps: 130 },
  ],
}

/**
 * The Aave frame donor of aaveThresholdFloor.test.ts and aaveDegradedLimits.rr17.test.ts (review brk17c F1): on a
 * WETH/USDC market (WETH threshold 8,300 bps), 80 WETH + 1.000125 WBTC (7,800 bps), so the exact average threshold is
 * 8,199.99 bps and Aave floors it to 8,199; a USDC debt putting Aave's factor at 1.3. `total`, `weighted` (x bps) and
 * `debtBase` are Aave base currency (USD, 8 decimals); `frameCollateral` is the adapter's frame collateral in WETH wei
 * (AaveV3Adapter._weightedCollateral over the market's threshold and price); `equity` the adapter's equity in USDC.
 */
export const FRAME_DONOR = (() => {
  const priceWeth = 3_000n * 10n ** 8n
  const priceWbtc = 60_000n * 10n ** 8n
  const ltWeth = 8_300n
  const vWeth = (80n * 10n ** 18n * priceWeth) / 10n ** 18n
  const vWbtc = (100_012_500n * priceWbtc) / 10n ** 8n
  const total = vWeth + vWbtc
  const weighted = vWeth * ltWeth + vWbtc * 7_800n
  const avgLt = weighted / total
  const debtBase = (total * avgLt * 10n) / (10_000n * 13n)
  return { total, weighted, avgLt, debtBase, equity: Number(total - debtBase) / 1e8, frameCollateral: (weighted * 10n ** 18n) / (ltWeth * priceWeth) }
})()

/**
 * Aave v3.0.2 GenericLogic / PoolLogic health factor of {@link FRAME_DONOR} at a debt of `debtBase` (base currency,
 * 8 decimals): (total.percentMul(avgLT)).wadDiv(debt), both half up; WAD.
 */
export const frameDonorAaveHealth = (debtBase: bigint) => ((((FRAME_DONOR.total * FRAME_DONOR.avgLt + 5_000n) / 10_000n) * 10n ** 18n + debtBase / 2n) / debtBase)

/**
 * The rescue of {@link FRAME_DONOR}: sub-account "a" (a WETH/USDC market at health 1.05 under [1.1, 1.2, 1.4], sigma 0.6)
 * is due, "b" is the Aave donor in its frame (sigma 0.02) with the fields `donor` adds to its frame state (the ones
 * portfolio.ts subAccountInputOf adds: thresholdFloored, collateralHeld, ltvBorrowable), under a 12 s inclusion margin.
 * Solved; returns the donor's Borrow in Aave base currency (8 decimals: the USDC base units x 100), or undefined when
 * the plan has none.
 */
export function frameDonorBorrowBase(donor: Partial<SubAccountState>): bigint | undefined {
  const price = 3000
  const policy = () => makePolicy({ minHealth: 1.1, targetHealth: 1.2, maxHealth: 1.4 })
  const epoch = () => ({ amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 })
  const input = withInclusionMargin(
    {
      now: 1_700_000_000,
      pools: [],
      idle: {},
      costs: TEST_COSTS,
      subAccounts: [
        { state: { id: "a", loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: 100, debt: (100 * price * 0.86) / 1.05, lltv: 0.86, price }, policy: policy(), epoch: epoch(), risk: { sigma: 0.6 } },
        {
          state: { id: "b", loanAsset: "USDC", collateralAsset: "WETH", loanDecimals: 6, collateralDecimals: 18, collateral: Number(FRAME_DONOR.frameCollateral) / 1e18, debt: Number(FRAME_DONOR.debtBase) / 1e8, lltv: 0.83, price, equity: FRAME_DONOR.equity, ...donor },
          policy: policy(),
          epoch: epoch(),
          risk: { sigma: 0.02 },
        },
      ],
    },
    12,
  )
  const r = solve(input)
  const borrow = r.plan?.actions.find((a) => r.plan?.subAccounts[a.subAccount] === "b" && a.kind === "Borrow")
  return borrow === undefined ? undefined : borrow.amountBase * 100n
}

/** A thin 0.05% pool of the crash curve's pair: 40 bps already at 1 WETH (swapDeleverage tests, the action-cap tests). */
export const SHALLOW_CURVE: SwapCurve = { route: ROUTE_500, points: [{ amountIn: 0.1, shortfallBps: 5 }, { amountIn: 1, shortfallBps: 40 }, { amountIn: 6, shortfallBps: 300 }] }
/** A deeper 0.3% pool of the same pair (the adapter's other fee tier). */
export const MEDIUM_CURVE: SwapCurve = {
  route: `0x${"0".repeat(60)}0bb8`,
  points: [
    { amountIn: 0.1, shortfallBps: 30.2 },
    { amountIn: 2, shortfallBps: 32 },
    { amountIn: 6, shortfallBps: 38 },
    { amountIn: 20, shortfallBps: 60 },
    { amountIn: 60, shortfallBps: 130 },
  ],
}

/**
 * Target `k` of the action-cap fixture (issue 11 item 10): 10 of its own collateral (`COLL<k>`) against a USDC debt at
 * `health`, no buffers, band [1.2, 1.7] target 1.4, swaps allowed (50 bps) on its own two pools (the shallow and the
 * medium curve, their routes told apart by the first byte), loss limits raised to 2,000 bps so the plan-wide loss room
 * does not bind first: each rescue alone is a two-pool sale of 5 actions. `limits` replaces the loss limits (the
 * loss-room tests: the defaults, maxLossBps 50 and maxEpochLossBps 400).
 */
export function ownPoolsSwapTarget(k: number, health: number, limits: Partial<Pick<Policy, "maxLossBps" | "maxEpochLossBps">> = {}): SubAccountInput {
  const price = (1.02 * 18_000) / (10 * 0.86)
  const own = (c: SwapCurve): SwapCurve => ({ ...c, route: `0x${(k + 1).toString(16).padStart(2, "0")}${c.route.slice(4)}` })
  return {
    state: { id: `0x${k.toString(16).padStart(64, "0")}`, loanAsset: "USDC", collateralAsset: `COLL${k}`, loanDecimals: 6, collateralDecimals: 18, collateral: 10, debt: (10 * price * 0.86) / health, lltv: 0.86, price },
    policy: makePolicy({ minHealth: 1.2, targetHealth: 1.4, maxHealth: 1.7, boostAllowed: false, maxSlippageBps: 50, maxLossBps: 2_000, maxEpochLossBps: 2_000, ...limits }),
    epoch: { amountInEpoch: 0, rebalancesInEpoch: 0, gasInEpoch: 0 },
    risk: { sigma: 0.8 },
    swap: own(SHALLOW_CURVE),
    swapRoutes: [own(MEDIUM_CURVE)],
  }
}

/**
 * The policy rules' verdict (`checkPlanAgainstPolicy`) on `plan` against `input` as the solver saw it: each sub-account's
 * pre-trade state, policy and epoch usage, the pools, the idle balances and `now`.
 */
export function checkInputPlan(input: SolverInput, plan: Plan) {
  const policies = Object.fromEntries(input.subAccounts.map((s) => [s.state.id, s.policy]))
  const epochs = Object.fromEntries(input.subAccounts.map((s) => [s.state.id, s.epoch]))
  return checkPlanAgainstPolicy({ plan, pre: { subAccounts: input.subAccounts.map((s) => s.state), pools: input.pools, idle: input.idle }, policies, epochs, now: input.now })
}
