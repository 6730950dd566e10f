import type { AaveBaseFigures } from "@levpilot/sdk/rules"
import type { RiskModel } from "../risk/firstPassage.js"

/**
 * The action kinds the module executes (docs/policy-rules.md, "Plan"): buffer moves, venue actions, swaps through the
 * module's swap adapter, and callback blocks (`RepayWithCallback` ... `EndCallback`).
 */
export type ActionKind =
  | "WithdrawFromPool"
  | "DepositToPool"
  | "SupplyCollateral"
  | "WithdrawCollateral"
  | "Borrow"
  | "Repay"
  | "SellCollateral"
  | "BuyCollateral"
  | "RepayWithCallback"
  | "SupplyCollateralWithCallback"
  | "EndCallback"

/** One sub-account (e.g. a Morpho Blue market position) in human units. */
export type SubAccountState = {
  /** Sub-account id, keccak256(abi.encode(adapter, market)). */
  id: string
  /** Loan token (the numeraire every value is expressed in). */
  loanAsset: string
  /** Collateral token. */
  collateralAsset: string
  /** Loan token decimals (for base-unit amounts). */
  loanDecimals: number
  /** Collateral token decimals. */
  collateralDecimals: number
  /** Collateral amount in collateral-token units. */
  collateral: number
  /** Debt in loan-token units. */
  debt: number
  /** Liquidation LTV (Morpho LLTV), e.g. 0.86. */
  lltv: number
  /** Oracle price of one collateral token in loan tokens. */
  price: number
  /**
   * The venue's liquidation incentive factor: collateral value a liquidator seizes per unit of debt it repays (the
   * adapter's `liquidationIncentiveFactor`; Aave v3: the collateral reserve's `liquidationBonus`, its e-mode category's
   * when the reserve is in it, e.g. 1.05 for WETH). Undefined: Morpho Blue's min(1.15, 1 / (1 - 0.3 (1 - lltv))).
   */
  liquidationIncentive?: number | undefined
  /**
   * The share of the debt one liquidation repays at health just below 1. Aave v3: 0.5 (`DEFAULT_LIQUIDATION_CLOSE_FACTOR`;
   * all of it only at or below health factor 0.95, which a continuous price path crosses 1 before reaching).
   * Undefined: 1 (Morpho Blue liquidates the whole debt).
   */
  liquidationCloseFactor?: number | undefined
  /**
   * What the market can still lend, in loan-token units (Morpho: `totalSupplyAssets - totalBorrowAssets`; Aave v3: the
   * debt reserve's liquidity and borrow-cap room); undefined when unknown (no limit). Boost and donor borrows on this
   * sub-account are sized to it.
   */
  borrowable?: number | undefined
  /**
   * The venue's LTV room BEFORE the plan, loan-token units (Aave v3: the account's `availableBorrowsBase` at Aave's price
   * of the loan token, less the keeper's accrual margin; Aave refuses a borrow above the room at that borrow, "36",
   * whatever the health factor); undefined: no LTV bound (Morpho Blue). A borrow is bounded by the room at the borrow:
   * this, plus `collateralLtv` x the value of the collateral the plan supplied before it (a flash-looped boost supplies
   * first and borrows inside the callback), less what the plan borrowed before it.
   */
  ltvBorrowable?: number | undefined
  /**
   * The venue account whose LTV room `ltvBorrowable` is (the keeper: the Aave adapter's address; one Safe's
   * sub-accounts on one adapter are one Aave account, and `ltvBorrowable` is that account's room on each of them).
   * Sub-accounts with the same key share the room: their borrows together are held to it, and each one's supplies add
   * to it. Undefined: the sub-account's own room.
   */
  ltvAccount?: string | undefined
  /**
   * The LTV (fraction, e.g. 0.8) at which a supply of this collateral adds to `ltvBorrowable` (Aave v3: the reserve's LTV,
   * the e-mode category's when the reserve is in the account's category; 0 when a supply counts nothing). Undefined: a
   * supply adds no room.
   */
  collateralLtv?: number | undefined
  /**
   * The most a repayment clears, loan-token units, when less than `debt` (the adapter's `maxRepayable`; Aave v3: the
   * debt reserve's variable debt, while `debt` is the account's debt across reserves); undefined: `debt`.
   */
  repayableDebt?: number | undefined
  /**
   * The account's net value in loan-token units as the adapter reports it (`MarketState.equity`), the module's base of
   * the epoch loss budget; undefined: collateral x price - debt (Morpho Blue's). Aave v3: the whole account's
   * `getUserAccountData` collateral minus debt, which `collateral` (every reserve re-expressed at this market's
   * threshold) overstates next to a collateral with a higher threshold (issue 10, review rev10p).
   */
  equity?: number | undefined
  /**
   * Aave v3: true. The module reads Aave's own health factor, which floors the account's average liquidation threshold
   * to whole bps, up to 1 bps of the collateral (~1.2e-4 relative) below the frame health `collateral x price x lltv /
   * debt` (review brk17c F1); with `equity` the solver triggers on Aave's factor (`venueHealthOf`) and aims its lower
   * edges above the floor's worst case (`thresholdFloorGap`). Undefined or false: the frame health is the venue's.
   */
  thresholdFloored?: boolean | undefined
  /**
   * The venue's health factor BEFORE the plan as the module reads it (the lens's `MarketState.health`, WAD / 1e18; Aave
   * v3: `getUserAccountData().healthFactor` exactly, up to the float's rounding). With `thresholdFloored` and a debt,
   * {@link venueHealthOf} returns it as is (review rr17c residual: a dust collateral at a lower threshold, a few ppb of
   * the account, hides in the float reconstruction's rounding and the frame's threshold was kept where Aave floors the
   * average a bps below) and the solver's own rule check takes it as the rule book's `health`. Valid only at the price
   * it was read at: `atInclusion` replaces it by the reconstruction at the moved price. Undefined: reconstructed.
   */
  health?: number | undefined
  /**
   * Aave v3: true when this market's collateral reserve is the account's only collateral (Aave's user configuration has
   * no other collateral bit), so Aave's average threshold is the market's exactly and not floored. Undefined or false:
   * another collateral may be held, and an average within float rounding of the market's threshold is taken as floored
   * a bps below it (review rr17c F1: a dust reserve at a lower threshold, a few ppb of the account, which anyone can
   * supply `onBehalfOf` the Safe, floors Aave's average to `threshold - 1` inside the 1e-9 rounding window).
   */
  soleCollateral?: boolean | undefined
  /**
   * Aave v3: the account's figures in Aave's base currency at the read's block (`AaveBaseFigures` of @levpilot/sdk/rules,
   * exact bigints, `frameCollateral` the lens's frame), which the solver's rule check passes to the rule book so it reads
   * Aave's factor after a plan in Aave's own integer math. Valid only at the price read: `atInclusion` drops them.
   * Undefined: the rule book rebuilds from the frame.
   */
  aaveBase?: AaveBaseFigures | undefined
  /**
   * Collateral (collateral-token units) the venue still accepts from a supply now; undefined: no limit known. Aave v3:
   * the collateral reserve's supply-cap room, 0 when the reserve is frozen or paused (its `supply` reverts).
   */
  suppliable?: number | undefined
  /**
   * Collateral (collateral-token units) the venue lets the Safe withdraw now; undefined: no limit known. Aave v3: the
   * collateral reserve's available liquidity (the aToken's underlying balance), 0 when the reserve is paused.
   */
  withdrawable?: number | undefined
  /**
   * Collateral (collateral-token units) the Safe holds in this sub-account's collateral asset at the venue, when that is
   * less than `collateral` can say: Aave v3 cross-margins an account's reserves and `collateral` is the threshold-weighted
   * collateral of all of them in this asset's units, while a withdrawal (and the sale it funds) of this asset takes at
   * most the Safe's aToken balance of it; 0 when the Safe switched the reserve off as collateral. Undefined: `collateral`.
   */
  collateralHeld?: number | undefined
  /**
   * Debt (loan-token units) the venue accepts as repayment now; undefined: no limit known. Aave v3: 0 when the debt
   * reserve is paused (its `repay` reverts; a frozen reserve still takes repayments).
   */
  repayable?: number | undefined
  /**
   * The venue's premium on a callback block's flash loan, bps of the flashed amount (Aave v3: the pool's
   * `FLASHLOAN_PREMIUM_TOTAL`, read by the keeper; the adapter's `AaveFlashLoanRouter` flash-funds `RepayWithCallback`
   * and `SupplyCollateralWithCallback` and pulls the amount plus `flashPremium` of it at the block's end). Undefined or
   * 0: no premium (Morpho Blue's callbacks are free). A callback's swaps then return the opener's amount plus the
   * premium, and the premium is a loss under maxLossBps and the epoch budget like a swap's shortfall.
   */
  flashPremiumBps?: number | undefined
  /**
   * What a callback block's flash loan of the debt reserve can take now, loan-token units (Aave v3: the reserve's free
   * liquidity, the aToken's underlying balance; 0 when the reserve is paused, inactive or has flash loans disabled);
   * undefined: no limit (Morpho Blue's callbacks lend nothing). A swap deleverage's flash-funded repayment is sized at
   * most to it: above it the adapter's router reverts `FlashLiquidityShort(asset, amount, available)`.
   */
  flashable?: number | undefined
  /** The same for the collateral reserve, collateral-token units: a flash-looped boost's flash-funded supply. */
  flashableCollateral?: number | undefined
}

/** The Safe's position in one allowed ERC-4626 yield pool. */
export type YieldPool = {
  /** Vault address. */
  address: string
  /** Underlying asset (a loan or collateral token). */
  asset: string
  /** Asset decimals. */
  decimals: number
  /** The Safe's shares valued in assets (convertToAssets). */
  balance: number
  /** Assets the Safe can withdraw now (maxWithdraw). */
  withdrawable: number
  /** Loss on entry or exit in basis points of the amount (fees, rounding); default 0. */
  slippageBps?: number | undefined
}

/** What the Safe holds: sub-accounts, pool positions and idle token balances. */
export type PortfolioState = {
  /** All sub-accounts the solver sees. */
  subAccounts: SubAccountState[]
  /** The Safe's pool positions. */
  pools: YieldPool[]
  /** Idle token balances held by the Safe, by asset. */
  idle: Record<string, number>
}

/**
 * A sub-account's policy in human units (health 1.0 = 1e18 WAD on chain), plus two off-chain
 * fields the solver alone uses: `tolerance` and `horizon`.
 */
export type Policy = {
  /** Lower band edge; below it a rebalance may deleverage. */
  minHealth: number
  /** Target health the module measures "no further from" against. */
  targetHealth: number
  /** Upper band edge; above it (and with boostAllowed) a rebalance may boost. */
  maxHealth: number
  /** Cap on value moved for this sub-account in one rebalance (loan units). */
  maxAmountPerRebalance: number
  /** Cap on value moved in one epoch (loan units). */
  maxAmountPerEpoch: number
  /** Epoch length in seconds; epochs are aligned (epoch index = floor(unix seconds / epochLength)). */
  epochLength: number
  /** Cap on rebalances per epoch. */
  maxRebalancesPerEpoch: number
  /** Cap on execution gas per epoch. */
  maxGasPerEpoch: number
  /** Minimum seconds between rebalances touching this sub-account. */
  cooldown: number
  /** Maximum net value loss per rebalance, in basis points of what its positions move. */
  maxLossBps: number
  /**
   * Maximum cumulative loss of an epoch's rebalances, in basis points of this sub-account's equity before each of
   * them; 10,000 (no budget) when undefined.
   */
  maxEpochLossBps?: number | undefined
  /** Whether the module may raise this sub-account's leverage (Borrow / WithdrawCollateral). */
  boostAllowed: boolean
  /**
   * On chain (module `Policy.rescueBelowTarget`, issue 13): the sub-account is also due inside its band below
   * `targetHealth` (an in-band rescue landing in `landingZone`'s in-band branch, [health + (target - min) / 2 (stop 64; the solver aims at the target or above),
   * target + (max - target) / 2]; every cap, loss bound, count and cooldown applying). The solver plans such a rescue
   * in autopilot mode only (threshold mode keeps the band trigger); its own rule check passes the flag to the rule book
   * in every mode, as the module judges it. Undefined or false: due only below `minHealth` (or above `maxHealth` with
   * `boostAllowed`).
   */
  rescueBelowTarget?: boolean | undefined
  /**
   * Largest shortfall of a swap's output against its oracle value, in bps (the module's on-chain minimum); 0 or
   * undefined: this sub-account never swaps.
   */
  maxSlippageBps?: number | undefined
  /** Allowed pool addresses (at most 8). */
  pools: string[]
  /** Off-chain: acceptable probability of liquidation within `horizon`. */
  tolerance: number
  /** Off-chain: horizon of the liquidation probability in seconds. */
  horizon: number
  /**
   * Off-chain, autopilot: "survive an instantaneous drop of this fraction" (0.3 = -30 %); the autopilot never lands
   * (rescue or boost) below the health that survives it plus the keeper's reaction time (`tailFloorHealth`); in band
   * the module lets nobody act, so it drifts like any strategy. Undefined: the floor is the target itself unless the
   * largest drop seen asks more (`policyTailFloorHealth`; `defaultTailDrop`, what a position at the target survives).
   */
  tailDrop?: number | undefined
  /**
   * Off-chain, autopilot: stop-loss as a drawdown of the account's net value from its high-water mark (0.2 = 20 %).
   * Past it the autopilot reduces exposure (swap deleverage to the top of the allowed band) instead of adding margin,
   * and stops boosting (`DrawdownGuard`). Undefined: no stop-loss.
   */
  stopLoss?: number | undefined
  /**
   * Off-chain, autopilot: seconds the drawdown must stay past `stopLoss` before it trips (a confirmed move, so a flash
   * wick that recovers within it is not sold at its bottom). Default `DEFAULT_STOP_LOSS_CONFIRM_SECONDS` (3,600); 0
   * trips on the first value past it.
   */
  stopLossConfirmSeconds?: number | undefined
  /**
   * On chain (module `setStopLoss`, docs/stop-loss-exit.md): the stop price, in the sub-account's price units (loan
   * per collateral, as {@link SubAccountState.price}; the backtester's configuration gives it relative to the path's
   * first price and converts it). At or below it the stop is engaged: the sub-account is due below `exitHealth`, may
   * exit up to it, and boosts nothing. Undefined: no stop.
   */
  stopPrice?: number | undefined
  /** On chain, with `stopPrice`: the health an engaged stop exits to, in [maxHealth + 0.01, 10]. */
  exitHealth?: number | undefined
  /**
   * On chain: the second feed's deviation bound in bps; the stop re-arms (boosts allowed again) only above
   * `stopPrice x (1 + max(maxOracleDeviationBps, MIN_REARM_BPS) / 10,000)` (MIN_REARM_BPS 100, review rr13s S2). Default 0.
   */
  maxOracleDeviationBps?: number | undefined
  /**
   * The on-chain stop's state judged exactly by the caller on the chain's integers at one price (the keeper: the rule
   * book's `stopStateOf` on the 1e36-scaled stop and price read, review rr11zb B4): `engaged` (price at or below the
   * stop), `held` (above it, up to the re-arm price: no boost), `armed` (above the re-arm price); `price` is the state's
   * price it was judged at (loan per collateral, as {@link SubAccountState.price}). At that price it overrides the float
   * judgement of `stopPrice` ({@link stopHolds}, `stopEngaged`), which can disagree within ~1e-16 relative of a bound; at
   * any other price (the inclusion drift's) the floats judge. Undefined: floats (the backtester, whose prices are floats).
   * `exact` is the chain's integers it was judged on: the venue price read (1e36-scaled) and the stop as stored
   * (`stopPrice` 1e36-scaled, `exitHealth` WAD); at `price` the solver's own rule check (`toRuleInput`) hands them to the
   * rule book instead of converting the floats, so its stop state is the same exact one (review rr11zc C5).
   */
  stopJudged?: { price: number; state: "engaged" | "held" | "armed"; exact: { price: bigint; stop: { stopPrice: bigint; exitHealth: bigint } } } | undefined
}

/** Per-sub-account epoch bookkeeping, as the module stores it. */
export type EpochState = {
  /** Unix seconds of the last rebalance touching the sub-account (undefined: never). */
  lastRebalance?: number | undefined
  /** Aligned epoch index the counters belong to (undefined: none yet). */
  epoch?: number | undefined
  /** Value moved so far in the epoch (loan units). */
  amountInEpoch: number
  /** Rebalances so far in the epoch. */
  rebalancesInEpoch: number
  /** Execution gas so far in the epoch. */
  gasInEpoch: number
  /** Loss charged so far in the epoch, parts per billion of the sub-account's equity (module: EpochUsage.lossPpb). */
  lossPpbInEpoch?: number | undefined
}

/** One typed plan action; `amount` in human units of its token and `amountBase` in base units. */
export type PlanAction = {
  /** Action kind. */
  kind: ActionKind
  /** Index into `Plan.subAccounts`. */
  subAccount: number
  /** Pool address for pool actions, undefined otherwise. */
  pool: string | undefined
  /** Token the amount is denominated in. */
  asset: string
  /** Amount in human token units (> 0). */
  amount: number
  /** Amount in integer base units (floor of amount x 10^decimals), what the keeper encodes. */
  amountBase: bigint
  /** Swaps: the swap adapter's bytes32 route word. */
  route?: string | undefined
  /** Swaps: the output expected from the pool (human units of the output token, from QuoterV2). */
  expectedOut?: number | undefined
  /**
   * Sources (`Borrow`, `WithdrawCollateral`) taken for another sub-account's spend: that spend's index in
   * `Plan.actions` (a donor's borrow: its recipient's repayment, after folding its flash repay or its one folded Repay).
   * The send clamp passes it on as `PlanFunding.paysFor`: when the source is cut at send, that spend is cut.
   */
  paysFor?: number | undefined
  /**
   * Spends (`Repay`, `SupplyCollateral`): the part the Safe's idle balance pays, base units of the spend's token (0 for a
   * repayment funded by a pool or a donor only). The send clamp passes it on as `PlanFunding.idle`. Undefined: not known.
   */
  idle?: bigint | undefined
  /**
   * A `RepayWithCallback`: the part of its repayment (loan units) its block's sales do not pay (the idle balance, pool
   * withdrawals and donors' borrows it carries, less the flash premium's share on them), recorded under
   * `saleMinimumRepayment` (the keeper's settlement and the backtester's `repayAtSaleMinimum` send it). Undefined: not recorded.
   */
  brought?: number | undefined
}

/** An ordered plan for one loan asset. */
export type Plan = {
  /** Loan asset shared by every touched sub-account. */
  loanAsset: string
  /** Touched sub-account ids; actions index into this list. */
  subAccounts: string[]
  /** Ordered actions. */
  actions: PlanAction[]
  /** Estimated execution gas. */
  gas: number
}

/** Gas and value assumptions the solver and backtester price moves with. */
export type CostModel = {
  /** Price of one unit of gas in loan units (gas price x native-token price). */
  gasPrice: number
  /** Execution gas per action kind. */
  gasPerAction: Record<ActionKind, number>
  /** Fixed execution gas per rebalance (module checks, oracle reads). */
  baseGas: number
  /** Value of one unit of added exposure, in bps of the borrowed amount; boosts below their cost are skipped. */
  boostEdgeBps: number
}

/** Default gas figures (Morpho Blue + ERC-4626 on mainnet-like costs). */
export const DEFAULT_GAS_PER_ACTION: Record<ActionKind, number> = {
  WithdrawFromPool: 90_000,
  DepositToPool: 80_000,
  SupplyCollateral: 70_000,
  WithdrawCollateral: 80_000,
  Borrow: 95_000,
  Repay: 75_000,
  // Swap lane, measured by `npm run bench:gas` (SwapGasBench): a Uniswap v3 swap through the router with its exact
  // approval, the repay callback's settlement approval, nothing for the closing marker.
  SellCollateral: 135_000,
  BuyCollateral: 135_000,
  RepayWithCallback: 110_000,
  SupplyCollateralWithCallback: 100_000,
  EndCallback: 0,
}

/**
 * A swap's cost curve from the pool's real liquidity (QuoterV2 quotes by eth_call at a few sizes, `quotePriceImpact`;
 * in the backtester, the same quotes from its liquidity model), for one sub-account's collateral -> loan token route
 * (`SubAccountInput.swap`) or loan token -> collateral route (`SubAccountInput.swapBuy`). The solver interpolates it;
 * the keeper re-quotes the chosen size exactly before sending.
 */
export type SwapCurve = {
  /** The swap adapter's bytes32 route word (`encodeUniswapRoute`). */
  route: string
  /**
   * Input sizes (units of the input token: collateral for a sale, loan token for a purchase; increasing) and each one's
   * shortfall of the output against its oracle value (bps: fee + impact).
   */
  points: readonly { amountIn: number; shortfallBps: number }[]
}

/** A sub-account as the solver consumes it. */
export type SubAccountInput = {
  /** Current on-chain state (oracle price). */
  state: SubAccountState
  /** Its policy. */
  policy: Policy
  /** Its epoch bookkeeping. */
  epoch: EpochState
  /** Volatility model of its collateral price. */
  risk: RiskModel
  /**
   * Off-chain: a margin (log-health) kept inside the rule 3 limits for price moves until inclusion. A triggered
   * sub-account aims inside [zoneLow x e^m, zoneHigh x e^-m], a source stays at least a factor e^m from its target.
   * 0 by default; the keeper sets it (`withInclusionMargin`).
   */
  landingMargin?: number | undefined
  /**
   * Off-chain (issue 13, helper w54): the margin (log-health) kept under a triggered sub-account's landing zone top when
   * larger than `landingMargin`: it aims inside [zoneLow x e^landingMargin, zoneHigh x e^-landingMarginTop] (still at
   * least the target, as with `landingMargin`). The keeper sets it in the two minutes after a gap that ends a falling trend
   * (`risk.gap`, `risk.trend`), when a
   * rebound of a share of the gap before inclusion is likely (`withInclusionMargin`). Undefined: `landingMargin`.
   */
  landingMarginTop?: number | undefined
  /**
   * Off-chain: the log move of the collateral's oracle price expected until inclusion (< 0: a fall; > 0: a rise; 0 or
   * undefined: none). The solver plans on the state at the price it expects then, `state.price x e^inclusionDrift`
   * (`atInclusion`; a rise only for a sub-account above its band): a swap deleverage's fixed repayment is sized on what
   * its sale pays after the fall, which the module's minimum output (computed from the oracle at inclusion) then allows;
   * a swap boost's fixed supply on what its purchase buys after the rise. The keeper sets it from `risk.trend`
   * (`withInclusionMargin`).
   */
  inclusionDrift?: number | undefined
  /**
   * Off-chain (issue 13, helper g54): a swap deleverage (a plan that sells this sub-account's collateral) is planned at
   * the read price, without a falling `inclusionDrift`; any other plan keeps it ({@link solveAimed}). Set by the keeper
   * when the price's noise dominates its trend (`risk.noisy`, `withInclusionMargin`).
   */
  saleAtRead?: boolean | undefined
  /**
   * Off-chain (issue 13, helper s50): the lowest health a boost of this sub-account may land at, health units at
   * `state.price`: the band rule's health on the same prices (the keeper's `BandRulePaper` since stop 51, before it
   * `BandRuleShadow`), so the autopilot never boosts below where a band-rule Safe rests. Applies to a sub-account above
   * its band only: its boost's landing floor becomes max(its own, boostFloorHealth x e^landingMargin); when that is
   * above the landing zone's top (less the margins) it is not boosted (`Account.floorBlocked`, reason "boost floor ...",
   * given once the caps and the venue's room allow a boost). Moved with the price by `atInclusion`. Undefined: no floor.
   * It also gates the autopilot's in-band rescue (`rescueBelowTarget`): planned only while health is at or below it
   * (helper bk50: rescuing on every dip under the target churned against the boosts).
   */
  boostFloorHealth?: number | undefined
  /** Selling collateral for the loan token on a swap venue (a swap deleverage); undefined: no swaps for it. */
  swap?: SwapCurve | undefined
  /**
   * More selling routes, each through its own pool (the swap adapter's other fee tiers), that a swap deleverage may be
   * split across when one pool is too thin for the sale within `maxSlippageBps`; used only with `swap`.
   */
  swapRoutes?: readonly SwapCurve[] | undefined
  /** Buying collateral with the loan token on a swap venue (a swap boost, with `boostAllowed`); undefined: no swap boost. */
  swapBuy?: SwapCurve | undefined
}

/** Everything one solve needs. */
export type SolverInput = {
  /** Unix seconds now (cooldowns and epochs). */
  now: number
  /** Sub-accounts, all with the same loan asset. */
  subAccounts: SubAccountInput[]
  /** The Safe's pool positions. */
  pools: YieldPool[]
  /** The Safe's idle balances by asset. */
  idle: Record<string, number>
  /** Gas and value assumptions. */
  costs: CostModel
  /**
   * `autopilot` (default): target the lowest health meeting the tolerance; `threshold`: target the
   * policy's targetHealth whenever a band edge is crossed (the classic automation rule).
   */
  mode?: "autopilot" | "threshold" | undefined
  /**
   * Autopilot only: a deleverage targets the health whose liquidation probability is
   * `tolerance x deleverageToleranceFactor` (hysteresis against churn); default 0.5, 1 disables it.
   */
  deleverageToleranceFactor?: number | undefined
  /**
   * The module's sale-minimum repayment mode (issue 13, `ConstantsLib.REPAY_PLUS_SALE_MINIMUMS`,
   * docs/sale-minimum-repayment.md), which the keeper and the backtester send with `swap.repayment: "sale-minimum"`: a swap
   * deleverage's callback on a venue without a flash premium (Morpho Blue) repays what the plan brings plus its sales at
   * their on-chain minimum, and the solver sizes those sales on that (recording `PlanAction.brought`). Aave sub-accounts
   * keep the fixed take. Default false (the fixed take everywhere, `swap.repayment: "amount"`).
   */
  saleMinimumRepayment?: boolean | undefined
}

/** What the solver decided for one sub-account. */
export type SubAccountOutcome = {
  /** Sub-account id. */
  id: string
  /** Outside its band before the plan (rule 1). */
  triggered: boolean
  /** Whether the plan touches it, and as what. */
  role: "target" | "source" | "none"
  /** Health before and predicted after. */
  healthBefore: number
  healthAfter: number
  /** Effective leverage before and predicted after. */
  leverageBefore: number
  leverageAfter: number
  /** Liquidation probability within the policy horizon before and after. */
  liquidationProbabilityBefore: number
  liquidationProbabilityAfter: number
  /** Health the risk model asks for (lowest health meeting the tolerance, never below the tail floor in autopilot mode). */
  riskHealth: number
  /** Health a triggered sub-account is steered to: the risk health clipped into `allowedHealth` (and paced); NaN when not triggered. */
  goalHealth: number
  /** End interval rule 3 allows for this sub-account (band intersected with "no further from target"), with the solver's margin. */
  allowedHealth: { min: number; max: number }
  /**
   * True when its rescue is cap-bound (issue 13): no funding reaches `allowedHealth.min` within the caps, so the plan
   * moves about maxAmountPerRebalance and lands below the band, at least MIN_BAND_GAP up (the module's cap-bound rule);
   * the next decision sends the next step. Absent otherwise.
   */
  capBound?: true
  /** One-line reason. */
  reason: string
}

/** Solver output: a plan (undefined when nothing should or can be done) and per-sub-account outcomes. */
export type SolverResult = {
  plan: Plan | undefined
  outcomes: SubAccountOutcome[]
  /** Estimated cost of the plan in loan units (gas + slippage). */
  cost: number
}
