import type { Address, Hex } from "viem"
import {
  BPS,
  INFINITE_HEALTH,
  MALFORMED_ACTION_COUNT,
  MALFORMED_BAD_INDEX,
  MALFORMED_EMPTY_CALLBACK,
  MALFORMED_NESTED_CALLBACK,
  MALFORMED_SUB_ACCOUNT_COUNT,
  MALFORMED_UNCLOSED_CALLBACK,
  MALFORMED_UNOPENED_CALLBACK,
  MAX_ACTIONS,
  MAX_SUB_ACCOUNTS,
  MIN_BAND_GAP,
  MIN_MATERIAL_CHANGE_BPS,
  MIN_POOL_SUPPLY,
  MIN_REARM_BPS,
  PPB,
  PPB_PER_BPS,
  PRICE_SCALE,
  WAD,
  REPAY_PLUS_SALE_MINIMUMS,
} from "../constants/module.js"
import { type ActionKind, actionKinds } from "../types/leverage.js"

/**
 * The module's plan rules (`LeverageModule.executeRebalance` → `RebalanceLib.execute`) as one exact integer function:
 * given the on-chain state a plan meets, the verdict the module gives it — accepted, or the named custom error it
 * reverts with (same name, same arguments). The SDK's `validateRebalance`, the solver's `checkPlanAgainstPolicy`, the
 * backtester and the keeper all judge plans through {@link checkRebalanceRules}; modules/test/differential/
 * RulesDifferential.t.sol runs random policies, states and plans through the real `RebalanceLib` and through this
 * function and requires the same verdict every time. docs/policy-rules.md lists every rule in the module's order.
 *
 * Units: token amounts in base units, prices at the 1e36 scale (Morpho's ORACLE_PRICE_SCALE: loan base units per
 * collateral base unit), health and LLTV in WAD, times in unix seconds, gas in gas units.
 *
 * What only the chain knows: a swap's real output (the rules use `outcome.swapOutputs[i]` when given, else the module's
 * on-chain minimum output, the worst case it accepts; a router that pays less than its own `amountOutMinimum` check
 * promises is caught on chain as `SlippageExceeded`, which no off-chain input can predict), the gas the operation uses (`gasUsed`, an estimate), and the
 * revert data of a failing venue, pool or token call (`ActionFailed`'s `reason` is left empty: compare its index).
 * The venue's share math is exact when `venue` totals are given (Morpho Blue: virtual shares, assets rounded up on
 * borrow, down on repay), the pools' when `pools` carry their totals (OpenZeppelin ERC-4626, no decimals offset).
 */

/** A policy as the module stores it (`getPolicy`); numeric fields as numbers or bigints. */
export type RulePolicy = {
  adapter: Address
  minHealth: bigint
  cooldown: number | bigint
  market: Hex
  priceFeed: Address
  targetHealth: bigint
  epochLength: number | bigint
  maxHealth: bigint
  maxGasPerEpoch: bigint
  maxOracleAge: number | bigint
  maxLossBps: number | bigint
  maxEpochLossBps: number | bigint
  maxRebalancesPerEpoch: number | bigint
  maxOracleDeviationBps: number | bigint
  boostAllowed: boolean
  maxSlippageBps: number | bigint
  maxAmountPerRebalance: bigint
  maxAmountPerEpoch: bigint
  minFeedAnswer: bigint
  maxFeedAnswer: bigint
  pools: readonly Address[]
  /**
   * Issue 13: due inside the band below targetHealth as well (an in-band rescue, {@link landingZone}). Omitted: false
   * (a policy read before the field existed).
   */
  rescueBelowTarget?: boolean | undefined
}

/** A venue market state (`IVenueAdapter.marketState`): tokens, the Safe's position, the venue price (1e36), LLTV (WAD). */
export type RuleMarketState = {
  loanToken: Address
  collateralToken: Address
  collateral: bigint
  debt: bigint
  price: bigint
  lltv: bigint
  /**
   * The venue's health read with this state (`MarketState.health`, WAD): the module's health before the plan (Aave v3:
   * `getUserAccountData().healthFactor` exactly). Omitted: derived from the fields ({@link healthOf}), as Morpho Blue's.
   * The health after the plan is derived from the fields at the pre-trade price: the frame health ({@link healthOf})
   * for Morpho Blue; with `thresholdFloored` (Aave v3) Aave's own factor after the plan ({@link aaveFrameHealthAfter}),
   * which floors the account's average liquidation threshold to whole bps and is BELOW the frame health (the exact
   * threshold-weighted collateral, SECURITY row 64) by up to 1 bps of the account's collateral / debt (~1.2e-4 relative,
   * review brk17c F1).
   */
  health?: bigint | undefined
  /**
   * Aave v3: true. The venue's health is Aave's factor (`getUserAccountData`), whose average liquidation threshold over
   * the account's collaterals Aave floors to whole bps, while `collateral` is the exact threshold-weighted frame. The
   * rule book then judges the health after a plan as Aave does ({@link aaveFrameHealthAfter}: the floored average over
   * the account's collaterals after the plan's moves, the account's total collateral being `equity + debt`).
   * Omitted or false: the frame health (Morpho Blue, whose health is the frame's exactly).
   */
  thresholdFloored?: boolean | undefined
  /**
   * The account's net value in loan token base units as the adapter reports it (`MarketState.equity`, negative when
   * underwater): the base of the epoch loss budget. Aave v3: `getUserAccountData` total collateral minus total debt of
   * the whole account, every reserve at its own value, in the loan token at Aave's price, rounded down (not the
   * market frame's `collateral x price - debt`, which overstates it next to a collateral with a higher liquidation
   * threshold: issue 10, review rev10p). Omitted: derived from the fields (collateral value - debt), as Morpho Blue's.
   */
  equity?: bigint | undefined
  /**
   * The most a repayment clears (loan token base units), when less than `debt`: the adapter's `maxRepayable` (Aave v3:
   * the debt reserve's variable debt, while `debt` is the account's debt across reserves). Omitted: `debt` (Morpho Blue).
   */
  repayableDebt?: bigint
  /**
   * Aave v3: the pool's `FLASHLOAN_PREMIUM_TOTAL` (bps). A callback opener on such a sub-account is flash-funded by the
   * adapter's `AaveFlashLoanRouter`, which pulls the opener's flashed amount (a repayment's, capped at the variable debt)
   * plus {@link flashPremium} of it from the Safe at the block's end. Omitted: no premium (Morpho Blue's free callbacks).
   */
  flashPremiumBps?: bigint
  /**
   * Aave v3: the Safe's balance of the scope's collateral reserve (its aToken balance, collateral token base units) as
   * Aave counts it, 0 when the Safe switched the reserve off as collateral (see {@link aaveCollateralOf}). `collateral`
   * is the account's threshold-weighted collateral across all its reserves, above this when it holds several; a
   * withdrawal of the reserve takes at most this (plus what the plan supplied to it before, less what it withdrew):
   * the adapter withdraws no more than the balance (`withdraw(max)`; a switched-off reserve: `CollateralNotEnabled`), so
   * the plan gets less than it spends and reverts (`ActionFailed` at the withdrawal in the rule book; the keeper's clamp
   * binds the same `collateralHeld`). Omitted: `collateral` alone bounds a withdrawal (Morpho Blue).
   */
  collateralHeld?: bigint
  /**
   * Aave v3: false when Aave would not count a supply of the scope's collateral reserve as collateral (held but switched
   * off, or a first supply it does not enable: LTV 0, a debt ceiling, an account in isolation mode; {@link aaveCollateralOf}):
   * the adapter refuses the supply (`CollateralNotEnabled`), `ActionFailed` at it in the rule book. Omitted: accepted.
   */
  collateralEnabled?: boolean
  /**
   * Aave v3: true when Aave refuses a withdrawal of the scope's collateral reserve while the account borrows
   * (`LTV_VALIDATION_FAILED` "57", {@link aaveWithdrawBlockedByZeroLtv}): `ActionFailed` at such a withdrawal unless the
   * plan has cleared the debt before it. Omitted: not blocked.
   */
  collateralWithdrawBlocked?: boolean
  /**
   * Aave v3: true when the scope's collateral reserve is the account's only collateral (Aave's user configuration has no
   * other collateral bit set), so Aave's average liquidation threshold is the market's exactly and is not floored below
   * it. Omitted or false: another collateral may be held (review rr17c F1: a dust reserve at a lower threshold, a few
   * parts per billion of the account, anyone can supply `onBehalfOf` the Safe, floors Aave's average a whole bps below
   * the market's inside the reconstruction's rounding), and without Aave's factor before (`health`)
   * {@link aaveFrameHealthRange} takes the floor's worst case for an average within rounding of the market's threshold.
   */
  soleCollateral?: boolean
  /**
   * Aave v3: the account's figures in Aave's base currency at the read's block ({@link AaveBaseFigures}). With them
   * {@link aaveFrameHealthRange} follows Aave's own integer math (per-reserve values floored to 1e-8 USD) instead of
   * rebuilding the account from the frame in loan units, so accounts of a few USD are read exactly (the frame's
   * rebuild misread them a whole bps either way: review r17f, rr17c note). Omitted: the frame's rebuild.
   */
  aaveBase?: AaveBaseFigures | undefined
}

/**
 * An Aave v3 account's figures as Aave v3.0.2's `GenericLogic.calculateUserAccountData` counts them (base currency: USD,
 * 8 decimals), all read at one block: `getUserAccountData`'s `totalCollateralBase`, `totalDebtBase` and
 * `currentLiquidationThreshold` (Aave's floored average, bps); the scope's collateral reserve's price (base currency
 * units per whole token, the price Aave values it at: the account's e-mode category's price source when it has one),
 * decimals and the Safe's balance as Aave counts it (aToken balance while enabled as collateral, base units); the debt
 * reserve's price, decimals and the Safe's debt in it (variable plus stable, base units); `frameCollateral`: the adapter's
 * frame `collateral` read at the same block, exactly (default: the state's `collateral`; a caller whose state went
 * through floats, the keeper's solver, passes the lens's figure).
 */
export type AaveBaseFigures = {
  totalCollateralBase: bigint
  totalDebtBase: bigint
  currentLiquidationThreshold: bigint
  collateralPrice: bigint
  collateralDecimals: number
  collateralBalance: bigint
  debtPrice: bigint
  debtDecimals: number
  debtBalance: bigint
  frameCollateral?: bigint | undefined
}

/**
 * A balance's value in Aave's base currency as Aave v3.0.2's `GenericLogic` counts it (`_getUserBalanceInBaseCurrency`,
 * `_getUserDebtInBaseCurrency`): `price x balance / 10^decimals`, rounded down, for collateral and debt alike.
 *
 * @param balance - Base units of the asset.
 * @param price - Base currency units per whole token (USD, 8 decimals).
 * @returns Base currency units.
 */
export const aaveBaseValue = (balance: bigint, price: bigint, decimals: number): bigint => (price * balance) / 10n ** BigInt(decimals)

/**
 * Whether Aave v3.0.2 enables a first supply of a reserve as collateral by itself (`validateAutomaticUseAsCollateral`
 * for a supplier without ISOLATED_COLLATERAL_SUPPLIER_ROLE): the reserve's LTV (bits 0-15) non-zero, no debt ceiling
 * (bits 212-251: an isolated collateral) and the account not in isolation mode (its only collateral has a debt
 * ceiling, {@link aaveInIsolationMode}). The adapter refuses a first supply Aave would not enable (`CollateralNotEnabled`).
 *
 * @param configuration - The reserve's `ReserveConfigurationMap.data`.
 * @param isolationMode - The account is in isolation mode (default false).
 */
export function aaveFirstSupplyEnablesCollateral(configuration: bigint, isolationMode = false): boolean {
  return !isolationMode && (configuration & 0xffffn) !== 0n && ((configuration >> 212n) & ((1n << 40n) - 1n)) === 0n
}

/**
 * The id of an Aave v3 account's only collateral reserve (UserConfiguration.sol: the using-as-collateral bit of reserve
 * `id` is `2 x id + 1`), undefined when it uses none or several; what isolation mode is judged on
 * ({@link aaveInIsolationMode}).
 *
 * @param userConfiguration - `getUserConfiguration(account).data`.
 */
export function aaveOnlyCollateralId(userConfiguration: bigint): number | undefined {
  const ids = aaveCollateralIds(userConfiguration)
  return ids.length === 1 ? ids[0] : undefined
}

/**
 * The ids of the reserves an Aave v3 account uses as collateral (UserConfiguration.sol: bit `2 x id + 1`), ascending.
 *
 * @param userConfiguration - `getUserConfiguration(account).data`.
 */
export function aaveCollateralIds(userConfiguration: bigint): number[] {
  const ids: number[] = []
  for (let id = 0, bits = userConfiguration >> 1n; bits !== 0n; id++, bits >>= 2n) if ((bits & 1n) === 1n) ids.push(id)
  return ids
}

/**
 * Whether Aave v3.0.2 refuses a withdrawal of a reserve while the account borrows (`ValidationLogic.validateHFAndLtv`,
 * `LTV_VALIDATION_FAILED` "57"): the account uses as collateral some reserve with a liquidation threshold and LTV 0
 * (GenericLogic's `hasZeroLtvCollateral`, e.g. a collateral governance winds down) and the withdrawn reserve's own LTV is
 * not 0. Only an account with debt is checked (a withdrawal that leaves no debt is free).
 *
 * @param userConfiguration - `getUserConfiguration(account).data`.
 * @param configurationOf - `ReserveConfigurationMap.data` by reserve id (undefined when unknown).
 * @param withdrawn - The withdrawn reserve's `ReserveConfigurationMap.data`.
 * @returns undefined when a collateral's configuration is unknown.
 */
export function aaveWithdrawBlockedByZeroLtv(userConfiguration: bigint, configurationOf: (id: number) => bigint | undefined, withdrawn: bigint): boolean | undefined {
  if ((withdrawn & 0xffffn) === 0n) return false
  let unknown = false
  for (const id of aaveCollateralIds(userConfiguration)) {
    const c = configurationOf(id)
    if (c === undefined) unknown = true
    else if ((c & 0xffffn) === 0n && ((c >> 16n) & 0xffffn) !== 0n) return true
  }
  return unknown ? undefined : false
}

/**
 * Whether an Aave v3 account is in isolation mode (UserConfiguration.getIsolationModeState): it uses exactly one
 * reserve as collateral and that reserve has a debt ceiling (configuration bits 212-251).
 *
 * @param userConfiguration - `getUserConfiguration(account).data`.
 * @param configurationOf - The `ReserveConfigurationMap.data` of a reserve id (undefined when unknown).
 * @returns undefined when the only collateral's configuration is unknown.
 */
export function aaveInIsolationMode(userConfiguration: bigint, configurationOf: (id: number) => bigint | undefined): boolean | undefined {
  const only = aaveOnlyCollateralId(userConfiguration)
  if (only === undefined) return false
  const configuration = configurationOf(only)
  return configuration === undefined ? undefined : ((configuration >> 212n) & ((1n << 40n) - 1n)) !== 0n
}

/**
 * The Safe's balance of one Aave v3 reserve as collateral ({@link RuleMarketState}'s `collateralHeld`), from its aToken
 * balance and `Pool.getUserConfiguration(safe).data` (UserConfiguration.sol: reserve `id`'s borrowing bit is `2 x id`,
 * its using-as-collateral bit `2 x id + 1`). Shared by the SDK's `validateRebalance` and the keeper's `readAaveLimits`.
 *
 * @param balance - The Safe's aToken balance of the reserve, base units of the underlying.
 * @param userConfiguration - `getUserConfiguration(safe).data`.
 * @param reserveId - The reserve's `id` (`getReserveData(asset).id`).
 * @param configuration - The reserve's `ReserveConfigurationMap.data`; with it a zero balance is judged as Aave judges a
 * first supply ({@link aaveFirstSupplyEnablesCollateral}), without it a zero balance counts as enabled.
 * @param isolationMode - The account is in isolation mode ({@link aaveInIsolationMode}), with `configuration`.
 * @returns `held`: the balance when enabled as collateral, else 0 (base units); `enabled`: whether a supply to it counts
 * as collateral (false: held but switched off, or a first supply Aave does not enable; the adapter refuses such a
 * supply: `CollateralNotEnabled`).
 * @example aaveCollateralOf({ balance: 5n, userConfiguration: 0b10n, reserveId: 0 }) // { held: 5n, enabled: true }
 */
export function aaveCollateralOf({
  balance,
  userConfiguration,
  reserveId,
  configuration,
  isolationMode = false,
}: {
  balance: bigint
  userConfiguration: bigint
  reserveId: number
  configuration?: bigint | undefined
  isolationMode?: boolean | undefined
}): { held: bigint; enabled: boolean } {
  if (balance === 0n) return { held: 0n, enabled: configuration === undefined || aaveFirstSupplyEnablesCollateral(configuration, isolationMode) }
  const using = ((userConfiguration >> BigInt(2 * reserveId + 1)) & 1n) === 1n
  return using ? { held: balance, enabled: true } : { held: 0n, enabled: false }
}

/**
 * An Aave v3 account's e-mode category as Aave weighs a reserve under it (`Pool.getEModeCategoryData`, Aave v3.0.2
 * `DataTypes.EModeCategory`): `category` is the account's (`Pool.getUserEMode`, or the category a market pins), 0 for
 * none; `ltvBps` and `liquidationThresholdBps` the category's LTV and liquidation threshold (bps), `priceSource` its
 * price source (the zero address: none). A figure not read is undefined: the reserve's own is used in its place.
 */
export type AaveEModeCategory = {
  category: bigint
  ltvBps?: bigint | undefined
  liquidationThresholdBps?: bigint | undefined
  priceSource?: Address | undefined
}

/**
 * Which LTV, liquidation threshold and price Aave v3.0.2 applies to a reserve for an account in e-mode `eMode`.
 * The reserve is in the category when the account's category is not 0 and equals the reserve's (ReserveConfiguration
 * bits 168-175; `EModeLogic.isInEModeCategory`). Then, as `GenericLogic.calculateUserAccountData` weighs a collateral,
 * its LTV and liquidation threshold are the category's (`eModeLtv`, `eModeLiqThreshold`), and it is priced at the
 * category's price source when the category has one (`EModeLogic.getEModeConfiguration`; `ValidationLogic.validateBorrow`
 * prices a borrowed asset the same way). Otherwise the reserve's own LTV (bits 0-15), threshold (bits 16-31) and price
 * apply. A reserve whose own LTV is 0 adds no LTV, in the category too (GenericLogic: `if (vars.ltv != 0)`, the
 * reserve's own LTV). Aave falls back to the asset's own price when the price source answers 0; callers reading the
 * source's price do not model that. Source: @aave/core-v3 1.19.3 (v3.0.2), `GenericLogic.sol` lines 76-147,
 * `EModeLogic.sol` lines 86-111, `ValidationLogic.sol` lines 219 and 252.
 *
 * @param configuration - The reserve's `ReserveConfigurationMap.data`.
 * @param eMode - The account's category ({@link AaveEModeCategory}); undefined: none.
 * @returns `inCategory`; `ltvBps` and `liquidationThresholdBps` in bps; `priceSource`: the asset whose oracle price
 * values the reserve (the category's price source), or undefined when it is the reserve's own asset.
 * @example aaveReserveEModeTerms(8_000n | (1n << 168n), { category: 1n, ltvBps: 9_300n }).ltvBps // 9_300n
 */
export function aaveReserveEModeTerms(
  configuration: bigint,
  eMode: AaveEModeCategory | undefined,
): { inCategory: boolean; ltvBps: bigint; liquidationThresholdBps: bigint; priceSource: Address | undefined } {
  const ownLtv = configuration & 0xffffn
  const ownThreshold = (configuration >> 16n) & 0xffffn
  const inCategory = eMode !== undefined && eMode.category !== 0n && ((configuration >> 168n) & 0xffn) === eMode.category
  if (!inCategory) return { inCategory, ltvBps: ownLtv, liquidationThresholdBps: ownThreshold, priceSource: undefined }
  const source = eMode.priceSource
  return {
    inCategory,
    ltvBps: ownLtv === 0n ? 0n : (eMode.ltvBps ?? ownLtv),
    liquidationThresholdBps: eMode.liquidationThresholdBps ?? ownThreshold,
    priceSource: source !== undefined && BigInt(source) !== 0n ? source : undefined,
  }
}

/**
 * Aave v3's premium on a `flashLoanSimple` of `amount` (FlashLoanLogic.executeFlashLoanSimple:
 * `amount.percentMul(FLASHLOAN_PREMIUM_TOTAL)`, PercentageMath half up): `(amount x bps + 5,000) / 10,000`.
 *
 * @param amount - The flashed amount, base units of the flashed token.
 * @param premiumBps - The pool's `FLASHLOAN_PREMIUM_TOTAL`, bps (5 on Aave v3 mainnet and the devnet).
 * @returns The premium, base units (0 for 0 bps).
 * @example flashPremium(10_000n, 5n) // 5n; flashPremium(1_000n, 5n) // 1n (0.5 rounds up)
 */
export function flashPremium(amount: bigint, premiumBps: bigint): bigint {
  return (amount * premiumBps + 5_000n) / 10_000n
}

/**
 * The largest flash amount X whose pull X + {@link flashPremium}(X) stays within `pull` (what a callback block's swaps
 * deliver to pay the router back), base units; `pull` itself for 0 bps.
 *
 * @example maxFlashedFor(10_005n, 5n) // 10_000n
 */
export function maxFlashedFor(pull: bigint, premiumBps: bigint): bigint {
  if (pull <= 0n) return 0n
  let x = (pull * 10_000n) / (10_000n + premiumBps)
  while (x + 1n + flashPremium(x + 1n, premiumBps) <= pull) x += 1n
  while (x > 0n && x + flashPremium(x, premiumBps) > pull) x -= 1n
  return x
}

/** Stored epoch bookkeeping (`getEpochUsage`). */
export type RuleEpochUsage = {
  epoch: number | bigint
  lastRebalance: number | bigint
  rebalances: number | bigint
  lossPpb: number | bigint
  gasUsed: number | bigint
  amountMoved: bigint
}

/**
 * Morpho Blue market totals (after interest accrual) and the Safe's borrow shares. With them, borrows, repayments and
 * the venue's own health and liquidity checks are exact; without them the debt moves by the amounts.
 */
export type RuleVenueTotals = {
  totalSupplyAssets: bigint
  totalBorrowAssets: bigint
  totalBorrowShares: bigint
  borrowShares: bigint
}

/** The price feed answer a policy's `priceFeed` gives (`latestRoundData`, `decimals`) and the token decimals. */
export type RuleFeed = {
  answer: bigint
  updatedAt: bigint
  decimals: number
  loanDecimals: number
  collateralDecimals: number
}

/** One sub-account a plan lists, as the chain has it; a missing policy is `adapter` = zero address. */
export type RuleSubAccount = {
  id: Hex
  policy: RulePolicy
  state: RuleMarketState
  usage: RuleEpochUsage
  /** Required when `policy.priceFeed` is set. */
  feed?: RuleFeed | undefined
  venue?: RuleVenueTotals | undefined
  /**
   * The owner's stop-loss (`LeverageModule.getStopLoss`, docs/stop-loss-exit.md): `stopPrice` in the venue price's
   * units (1e36-scaled), `exitHealth` WAD; undefined or both zero: no stop.
   */
  stop?: { stopPrice: bigint; exitHealth: bigint } | undefined
}

/**
 * RebalanceLib `_trigger`'s stop state at venue price `price` (1e36-scaled): the stop's exitHealth (WAD) when engaged
 * (`price <= stopPrice`), 1n up to the re-arm price `stopPrice x (BPS + max(maxOracleDeviationBps, MIN_REARM_BPS)) /
 * BPS` (no boost, not due by the stop: hysteresis at least MIN_REARM_BPS wide, review rr13s S2), 0n above it or without
 * a stop.
 */
export function stopStateOf(stop: RuleSubAccount["stop"], price: bigint, maxOracleDeviationBps: number | bigint): bigint {
  const stopPrice = stop?.stopPrice ?? 0n
  if (price <= stopPrice) return stop?.exitHealth ?? 0n
  if (stopPrice === 0n) return 0n
  return price * BPS <= stopPrice * (BPS + max(big(maxOracleDeviationBps), MIN_REARM_BPS)) ? 1n : 0n
}

/** An ERC-4626 pool a plan names: its asset, totals and the Safe's shares. */
export type RulePool = {
  address: Address
  asset: Address
  totalAssets: bigint
  totalSupply: bigint
  /** The Safe's shares. */
  shares: bigint
  /**
   * Entry and exit fee in bps, both sides alike (OpenZeppelin ERC4626Fees semantics: a withdrawal burns the shares of
   * amount plus ceil(amount x fee / 10000); a deposit's fee is ceil(amount x fee / (fee + 10000)) of it); 0 when
   * undefined. `entryFeeBps` / `exitFeeBps`, when set, take its place on their side (review rr11g G1: a pool's read fee
   * is per side; an exit-fee-only pool takes a deposit at `convertToShares`, and the module books no loss on it).
   */
  feeBps?: bigint | undefined
  /** Entry (deposit) fee in bps, same semantics as `feeBps`'s deposit side ({@link poolEntryFeeBpsOf}); `feeBps` when undefined. */
  entryFeeBps?: bigint | undefined
  /** Exit (withdrawal) fee in bps, same semantics as `feeBps`'s withdrawal side ({@link poolFeeBpsOf}); `feeBps` when undefined. */
  exitFeeBps?: bigint | undefined
  /**
   * True: the pool's fees stay in the vault (its `totalAssets` keeps them, so every holder, the Safe included, gets its
   * share back: OZ ERC4626Fees with the vault as recipient, "penalty to remaining holders" vaults); false / undefined:
   * they leave it (paid out to a fee recipient), the default. The previews read the same fee either way (review rr11h
   * H3), so this is only set by {@link checkRebalanceRulesFeeLenient}'s second verdict.
   */
  feeRetained?: boolean | undefined
}

/**
 * A pool's fee in bps as the rule book models it ({@link RulePool}'s `feeBps`, OpenZeppelin ERC4626Fees semantics), from
 * two reads at one block of the same share amount (review rr11f F2): `gross` = `convertToAssets(shares)` (what the module
 * values the position at, RebalanceLib `_holdings`) and `net` = `previewRedeem(shares)` (what redeeming pays, fee off;
 * unlike `maxWithdraw`, never held down by the pool's liquidity). ERC4626Fees pays `net = gross - ceil(gross x fee /
 * (fee + 10000))`: the fee is the integer that reproduces `net` (nearest to `10000 x (gross - net) / net`, else that
 * nearest rounded up). The keeper's snapshot and the SDK's `validateRebalance` both read `totalSupply` as the share
 * amount (the most precise; independent of the Safe's holding).
 *
 * @param gross - `convertToAssets(shares)`, base units of the pool's asset.
 * @param net - `previewRedeem(shares)`, base units of the pool's asset.
 * @returns The fee in bps; 0 when `net` is not below `gross`; undefined when nothing can be told (`net` 0 or `gross` 0).
 */
export function poolFeeBpsOf(gross: bigint, net: bigint): bigint | undefined {
  if (gross <= 0n || net <= 0n) return undefined
  if (net >= gross) return 0n
  const nearest = (2n * BPS * (gross - net) + net) / (2n * net)
  for (const fee of [nearest, nearest - 1n, nearest + 1n]) if (fee >= 0n && gross - mulDivUp(gross, fee, fee + BPS) === net) return fee
  return (BPS * (gross - net) + net - 1n) / net
}

/**
 * A pool's ENTRY fee in bps ({@link RulePool}'s `entryFeeBps`), the mirror of {@link poolFeeBpsOf} on the deposit side
 * (review rr11g G1), from two reads at one block of the same asset amount: `gross` = `convertToShares(assets)` (shares
 * without a fee) and `net` = `previewDeposit(assets)` (what a deposit mints). ERC4626Fees mints `convertToShares(assets -
 * ceil(assets x fee / (fee + 10000)))`, so `net` is `gross - gross x fee / (fee + 10000)` up to the conversion's rounding
 * (the fee's ceil is one asset, `gross / assets` shares, plus a share of each floor): the fee is the integer among the
 * nearest three whose prediction is closest to `net` within that rounding, else `10000 x (gross - net) / net` rounded
 * up (over-reading refuses more, never accepts a lossy deposit). The keeper and `validateRebalance` read `totalAssets`
 * as the amount.
 *
 * @param gross - `convertToShares(assets)`, shares of the pool.
 * @param net - `previewDeposit(assets)`, shares of the pool.
 * @param assets - The amount both were read for, base units of the pool's asset (sets the rounding tolerance; 1 share
 *   per asset when omitted).
 * @returns The entry fee in bps; 0 when `net` is not below `gross`; undefined when `net` or `gross` is 0.
 */
export function poolEntryFeeBpsOf(gross: bigint, net: bigint, assets?: bigint): bigint | undefined {
  if (gross <= 0n || net <= 0n) return undefined
  if (net >= gross) return 0n
  const tolerance = 2n + (assets !== undefined && assets > 0n ? (gross + assets - 1n) / assets : 1n)
  const nearest = (2n * BPS * (gross - net) + net) / (2n * net)
  let best: { fee: bigint; distance: bigint } | undefined
  for (const fee of [nearest, nearest - 1n, nearest + 1n]) {
    if (fee < 0n) continue
    const predicted = gross - mulDivUp(gross, fee, fee + BPS)
    const distance = predicted > net ? predicted - net : net - predicted
    if (distance <= tolerance && (best === undefined || distance < best.distance)) best = { fee, distance }
  }
  if (best !== undefined) return best.fee
  return (BPS * (gross - net) + net - 1n) / net
}

/** One action with its exact amount (`kind` by name or ABI index; `pool` = the pool or a swap's route word). */
export type RuleAction = { kind: ActionKind | number; subAccount: number; pool?: Address | undefined; amount: bigint }

/** Everything the module's verdict depends on. */
export type CheckRebalanceRulesParameters = {
  plan: { subAccounts: readonly Hex[]; actions: readonly RuleAction[] }
  /** The listed sub-accounts in plan order (an unknown id: a policy with a zero adapter). */
  subAccounts: readonly RuleSubAccount[]
  /** Pools named by pool actions. */
  pools: readonly RulePool[]
  /** The Safe's idle token balances, by token address (any case). */
  balances: Readonly<Record<string, bigint>>
  /** The module's swap adapter (zero address: none). */
  swapAdapter: Address
  /** Block timestamp of execution. */
  timestamp: bigint
  /** Gas the execution charges to each sub-account's epoch (estimate; the module measures it). */
  gasUsed: bigint
  /**
   * What only the chain knows, when known: each swap action's real output by action index (`null`: the route cannot
   * execute). Without it a swap pays its on-chain minimum output, the worst case the module accepts.
   */
  outcome?:
    | {
        swapOutputs?: Readonly<Record<number, bigint | null>> | undefined
        /**
         * The swap adapter's revert data when its `encodeSwap` refuses a swap action's request (a route it does not
         * know, a zero minimum output), by action index: the module reverts with it as is (`SwapAdapterRevert`).
         */
        swapAdapterErrors?: Readonly<Record<number, Hex>> | undefined
      }
    | undefined
}

/** The named error the module reverts with (`name` and `args` as in ILeverageModule.sol). */
export type RuleViolation = {
  name: RuleErrorName
  args: readonly (bigint | string | boolean)[]
  /** For `ActionFailed`, why the modelled call fails (the chain's revert data is the venue's own). */
  detail?: string | undefined
}

/** Per listed sub-account, the judged result of an accepted plan. */
export type RuleSubAccountResult = {
  id: Hex
  due: boolean
  healthBefore: bigint
  healthAfter: bigint
  collateralAfter: bigint
  debtAfter: bigint
  /**
   * What the epoch charges (maxAmountPerEpoch; the shares of gas and loss are pro rata to it), loan base units: of the
   * net position change (|collateral change| at the pre-trade price + |debt change|; gross flows, pool and swap actions
   * are not charged), a not-due sub-account's approach to its target, a due one's up to what the most move-intensive
   * honest plan to its health is charged (`maxMoveToHealth` without swaps, plus twice the value the plan swaps on it,
   * at most the swap path's cap x (2 - loss)).
   * maxAmountPerRebalance is checked against the whole net change.
   */
  moved: bigint
  /** The plan's loss charged to its epoch, parts per billion of its pre-trade equity. */
  lossPpb: bigint
}

/** Verdict: accepted (with the figures the module computes) or the first error the module reverts with. */
export type CheckRebalanceRulesReturnType =
  | { ok: true; loss: bigint; moved: bigint; maxLossBps: bigint; subAccounts: RuleSubAccountResult[] }
  | { ok: false; error: RuleViolation }

/**
 * Every named error {@link checkRebalanceRules} can return, in the module's order of checks (ILeverageModule.sol names;
 * `SwapAdapterRevert` stands for the swap adapter's own revert, which the module passes on as is).
 */
export const ruleErrorNames = [
  "MalformedPlan",
  "DuplicateSubAccount",
  "UnknownSubAccount",
  "MixedLoanTokens",
  "OraclePriceZero",
  "OracleAnswerOutOfBounds",
  "OracleStale",
  "OracleDecimals",
  "OracleDeviation",
  "CooldownActive",
  "NoTrigger",
  "ActionNotAllowed",
  "PoolNotAllowed",
  "PoolRoundTrip",
  "SwapRoundTrip",
  "PoolNotUsed",
  "SwapNotUsed",
  "SubAccountUnchanged",
  "SaleExceedsRepayment",
  "PurchaseExceedsSupply",
  "PoolAssetMismatch",
  "PoolUnhealthy",
  "SwapAdapterRevert",
  "ActionFailed",
  "IdleInflow",
  "DepositNotFunded",
  "HealthOutOfBand",
  "HealthOutsideLandingZone",
  "HealthFurtherFromTarget",
  "HealthCrossedTarget",
  "HealthDecreased",
  "NotDueMoveExceedsDistance",
  "NotDueGrowth",
  "AmountCapExceeded",
  "ValueLossExceeded",
  "EpochAmountCapExceeded",
  "EpochRebalanceCapExceeded",
  "EpochGasCapExceeded",
  "EpochLossBudgetExceeded",
] as const

/** A named error of {@link ruleErrorNames}. */
export type RuleErrorName = (typeof ruleErrorNames)[number]

class Revert {
  constructor(readonly violation: RuleViolation) {}
}
const revert = (name: RuleErrorName, ...args: (bigint | string | boolean)[]): never => {
  throw new Revert({ name, args })
}
const actionFailed = (index: number, detail: string): never => {
  throw new Revert({ name: "ActionFailed", args: [BigInt(index), "0x"], detail })
}

const ZERO = "0x0000000000000000000000000000000000000000"
const VIRTUAL_SHARES = 1_000_000n
const VIRTUAL_ASSETS = 1n
const key = (address: string): string => address.toLowerCase()
const same = (a: string | undefined, b: string | undefined): boolean => a !== undefined && b !== undefined && key(a) === key(b)
const big = (value: number | bigint): bigint => BigInt(value)
const max = (a: bigint, b: bigint): bigint => (a > b ? a : b)
const min = (a: bigint, b: bigint): bigint => (a < b ? a : b)
const distance = (a: bigint, b: bigint): bigint => (a > b ? a - b : b - a)
const mulDivDown = (x: bigint, y: bigint, d: bigint): bigint => (x * y) / d
const mulDivUp = (x: bigint, y: bigint, d: bigint): bigint => (x * y + d - 1n) / d
/** HealthLib.collateralValue: collateral in loan base units at a 1e36 price, rounded down. */
export const collateralValue = (collateral: bigint, price: bigint): bigint => mulDivDown(collateral, price, PRICE_SCALE)
/** HealthLib.health / RebalanceLib._health: WAD, INFINITE_HEALTH without debt. */
export const healthOf = (collateral: bigint, debt: bigint, price: bigint, lltv: bigint): bigint =>
  debt === 0n ? INFINITE_HEALTH : mulDivDown(collateralValue(collateral, price), lltv, debt)

/**
 * The share of an Aave account's total collateral (`equity + debt`) {@link aaveFrameHealthRange} allows as its
 * reconstruction's rounding beyond a few loan units: Aave's per-reserve floors to its base currency (1e-8 USD) in an
 * 18-decimal loan token, and a caller's float round trip (review rr17b B1). 1e-9, as the solver's `FLOAT_TOLERANCE`.
 */
const AAVE_TOTAL_ROUNDING_DIVISOR = 10n ** 9n
/** Aave v3's PercentageMath / WadRayMath constants. */
const AAVE_PERCENTAGE_FACTOR = 10_000n
const AAVE_WAD = 10n ** 18n

/**
 * Aave v3.0.2's health factor from an account's collateral totals, exactly as `GenericLogic.calculateUserAccountData`
 * computes it: the average liquidation threshold `floor(weightedCollateral / totalCollateral)` (whole bps), then
 * `totalCollateral.percentMul(average).wadDiv(totalDebt)`, both rounded half up. Shared by the rule book
 * ({@link aaveFrameHealthAfter}) and the owner's dust fix (`aaveHealthAfterDisable`).
 *
 * @param totals.totalCollateral - The collaterals' summed value (Aave: base currency units; any one unit for all three).
 * @param totals.weightedCollateral - The sum of value x liquidation threshold (bps) over the same collaterals.
 * @param totals.totalDebt - The account's debt, same unit.
 * @returns The health factor (WAD); `INFINITE_HEALTH` (uint256 max) without debt, 0 without collateral.
 * @example aaveHealthFactor({ totalCollateral: 100n, weightedCollateral: 819_999n, totalDebt: 50n }) // 1.6398e18 (average 8,199)
 */
export function aaveHealthFactor({ totalCollateral, weightedCollateral, totalDebt }: { totalCollateral: bigint; weightedCollateral: bigint; totalDebt: bigint }): bigint {
  if (totalDebt <= 0n) return INFINITE_HEALTH
  if (totalCollateral <= 0n || weightedCollateral <= 0n) return 0n
  const average = weightedCollateral / totalCollateral
  const liquidationValue = (totalCollateral * average + AAVE_PERCENTAGE_FACTOR / 2n) / AAVE_PERCENTAGE_FACTOR
  return (liquidationValue * AAVE_WAD + totalDebt / 2n) / totalDebt
}

/**
 * An Aave v3 sub-account's health factor after a plan moves its frame position from `state` to (`collateralAfter`,
 * `debtAfter`), as Aave computes it ({@link aaveHealthFactor}), from the adapter's frame alone (review brk17c F1).
 * Units: loan base units x 1e36. The account's total collateral before is `equity + debt` (getUserAccountData's
 * collateral as the adapter reports it, rounded to loan units), its exact threshold-weighted collateral
 * `collateral x price x lltv` (`collateral` is that over the market's threshold and price, SECURITY row 64); the plan
 * moves only the scope's collateral reserve, at its own threshold (`lltv`) and price, and the debt.
 * Aave's floored average after is found from these up to the rounding of `equity` and `debt`: a few loan units, plus
 * 1e-9 of the account's total before for Aave's 1e-8 USD per-reserve floors, which are up to 3.3e6 wei of WETH when both
 * the loan and the collateral have 18 decimals (the adapter's `debt` is the exact balance), and for a caller's float
 * round trip (review rr17b B1). An account whose average before equals the market's threshold within that (one
 * collateral reserve, or all at one threshold) keeps it exactly when Aave's factor before (`health`) shows that
 * threshold, or, without `health`, when the account holds no other collateral (`soleCollateral`; review rr17c F1: a dust
 * collateral at a lower threshold hides in the rounding), unless a withdrawal leaves so little that the rounding reaches
 * a whole bps; otherwise it is read as within rounding of a whole bps (below). An account worth under ~10 USD per reserve in such tokens may still be read 1 bps low (SECURITY). An average after within that of a whole bps N is
 * ambiguous between N - 1 and N; it is kept at N when Aave's floored average BEFORE (found exactly from Aave's factor
 * before, `health`, as the whole bps whose factor over `equity + debt` and `debt` is nearest it) shows the true average
 * after is at least N: it was at least N before, and the plan leaves this reserve unchanged, supplies it at a threshold
 * of at least N, or withdraws it at a threshold at or below the average before (the average after lies between the
 * average before and the market's threshold, or beyond the average before away from it). This keeps an account whose
 * average is a whole bps other than the market's (all its collaterals at one other threshold) exact (review rr17 R2,
 * which the old rule read 1 bps low, lenient on upper edges). Otherwise the lower whole bps, so the figure is never above
 * Aave's by the floor (it may be 1 bps of collateral below in that window). Without `equity` the account's average is
 * taken as the market's threshold less 1 bps (the floor's worst case on the frame health).
 *
 * @returns Health (WAD); `INFINITE_HEALTH` without debt after, 0 without collateral after.
 */
export function aaveFrameHealthAfter(state: Pick<RuleMarketState, "collateral" | "debt" | "price" | "lltv" | "equity" | "health" | "soleCollateral" | "aaveBase">, collateralAfter: bigint, debtAfter: bigint): bigint {
  return aaveFrameHealthRange(state, collateralAfter, debtAfter).low
}

/**
 * The range Aave's factor after a plan lies in, from the adapter's frame ({@link aaveFrameHealthAfter}: `low`): equal
 * ends unless the average after is within the reconstruction's rounding of a whole bps N that Aave's factor before does
 * not settle, where `low` takes N - 1 and `high` N; without `equity`, `low` the market's threshold less 1 bps and `high`
 * the frame health (Aave's factor never exceeds it: its floored average is at most the exact one). The rule book judges
 * lower edges by `low` and upper edges by `high` (review rr17 R2), so a plan it passes passes Aave's factor either way.
 * With Aave's base-currency figures (`aaveBase`) the range is Aave's own integer math ({@link aaveBaseHealthRange}),
 * equal ends wherever those figures settle the account's weighted collateral to the bps.
 *
 * @returns `low` <= `high`, health (WAD); `INFINITE_HEALTH` without debt after, 0 without collateral after.
 */
export function aaveFrameHealthRange(state: Pick<RuleMarketState, "collateral" | "debt" | "price" | "lltv" | "equity" | "health" | "soleCollateral" | "aaveBase">, collateralAfter: bigint, debtAfter: bigint): { low: bigint; high: bigint } {
  if (debtAfter === 0n) return { low: INFINITE_HEALTH, high: INFINITE_HEALTH }
  const lltvBps = state.lltv / 10n ** 14n
  const exact = state.aaveBase === undefined ? undefined : aaveBaseHealthRange(state, state.aaveBase, collateralAfter, debtAfter)
  if (exact !== undefined) return exact
  if (state.equity === undefined) {
    const frame = healthOf(collateralAfter, debtAfter, state.price, state.lltv)
    return { low: lltvBps <= 1n ? 0n : (frame * (lltvBps - 1n)) / lltvBps, high: frame }
  }
  // Loan base units x 1e36 (x bps for the weighted sums).
  const total0 = (state.equity + state.debt) * PRICE_SCALE
  const weighted0 = state.collateral * state.price * lltvBps
  const moved = (collateralAfter - state.collateral) * state.price
  const total1 = total0 + moved
  const weighted1 = weighted0 + moved * lltvBps
  const debt1 = debtAfter * PRICE_SCALE
  if (total1 <= 0n || weighted1 <= 0n) return { low: 0n, high: 0n }
  // The reconstruction's error in the weighted-sum units: equity (rounded down) and debt (rounded up, or the debt
  // reserve's own) are a few loan units off Aave's base-currency totals; the frame collateral 1 unit, the price 1e-36.
  // An average near a whole bps N is off by (error in weighted) + N x (error in total); the errors are the totals'
  // before the plan (a move of the scope's reserve is exact), so the allowance does not shrink with the account after.
  // Besides a few loan units, the total carries Aave's 1e-8 USD per-reserve floors of the debt, which the adapter's
  // exact `debt` balance does not have (3.3e6 wei of WETH at 3,000 USD: review rr17b B1, beyond a few units with an
  // 18-decimal loan and an 18-decimal collateral), and a caller's float round trip (the solver's, ~2e-16 of it):
  // 1 / AAVE_TOTAL_ROUNDING_DIVISOR of the account's total before, which covers an account worth at least ~10 USD per
  // reserve (1e-8 USD / 1e-9).
  const totalRounding = (total0 > 0n ? total0 : 0n) / AAVE_TOTAL_ROUNDING_DIVISOR
  const slack = (total: bigint, weighted: bigint, n: bigint) =>
    (weighted * 4n * PRICE_SCALE) / total + state.price * lltvBps + state.collateral * lltvBps + 1n + totalRounding * (n + 1n)
  // Aave's floored average before, exactly, from its factor before (`health`); undefined without it.
  const before = aaveFlooredAverageOf(state, total0, weighted0)
  let low: bigint
  let high: bigint
  // The average is the market's threshold within the rounding (one collateral reserve, or all at one threshold), and
  // Aave's factor before shows it (or, without the factor, the account holds no other collateral, `soleCollateral`:
  // a dust reserve at a lower threshold hides inside the rounding and floors Aave's average a bps below, review rr17c
  // F1): a move of this reserve keeps it (the weighted sum's excess over the threshold, within the rounding of 0, does
  // not move), unless a withdrawal shrinks the account so far that the rounding reaches a whole bps. Otherwise the
  // general path below takes the whole bps under the market's threshold as `low` when the average is within rounding.
  const deviation = distance(weighted0, total0 * lltvBps)
  const tolerance0 = slack(total0, weighted0, lltvBps)
  const knownAtThreshold = before === undefined ? state.soleCollateral === true : before === lltvBps
  if (deviation <= tolerance0 && knownAtThreshold && deviation + tolerance0 < total1) low = high = lltvBps
  else {
    const average = weighted1 / total1
    const rest = weighted1 % total1
    const tolerance = slack(total1, weighted1, average + 1n)
    low = high = average
    // At a whole bps within the rounding: Aave may floor below, unless its average before proves the one after above.
    const atLeast = (n: bigint) => before !== undefined && before >= n && (moved === 0n || (moved > 0n ? lltvBps >= n : before >= lltvBps))
    if (rest <= tolerance && average > 0n) {
      if (!atLeast(average)) low = average - 1n
    } else if (total1 - rest <= tolerance) {
      high = average + 1n
      if (atLeast(high)) low = high
    }
  }
  const factor = (average: bigint, total: bigint, debt: bigint) => aaveHealthFactor({ totalCollateral: total, weightedCollateral: total * average, totalDebt: debt })
  // The high end also takes the totals' rounding upward (equity floored, debt ceiled, Aave's per-reserve base-currency
  // floors: the few loan units `slack` allows), so no upper edge is passed by the reconstruction's rounding either.
  const debtLow = debt1 > PRICE_SCALE ? debt1 - PRICE_SCALE : debt1
  return { low: factor(low, total1, debt1), high: factor(high, total1 + 4n * PRICE_SCALE, debtLow) }
}

/** Aave v3.0.2's PercentageMath.PERCENTAGE_FACTOR: the most a reserve's liquidation threshold can be (bps). */
const AAVE_MAX_THRESHOLD_BPS = 10_000n

/**
 * Aave's factor after a plan moves the scope's collateral reserve by `collateralAfter - state.collateral` and the debt
 * reserve by `debtAfter - state.debt` (frame moves are the reserves' own base units), in Aave v3.0.2's integer math
 * (`GenericLogic.calculateUserAccountData`, @aave/core-v3 1.19.3 contracts/protocol/libraries/logic/GenericLogic.sol):
 * each reserve's value `price x balance / 10^decimals` floored to base currency units ({@link aaveBaseValue}; the debt
 * too in v3.0.2), totals summed, the average threshold `weighted / total` floored to whole bps, the factor by
 * {@link aaveHealthFactor}. Only the moved reserves' values change: total after = `totalCollateralBase` + the collateral
 * reserve's value change, debt after = `totalDebtBase` + the debt reserve's value change, weighted after = weighted
 * before + the value change x the market's threshold (`lltv`, the threshold Aave counts the reserve at, e-mode aware).
 * The weighted sum before is not read; it is bounded by three reads of it and both ends are evaluated: Aave's floored
 * average (`currentLiquidationThreshold x total` to that + total - 1), the adapter's frame (`collateral` is the weighted
 * sum over the market's threshold and price in collateral base units, floored: AaveV3Adapter.marketState), and the
 * parts (this reserve's value x its threshold, plus the other reserves' value at a threshold from 0 to 10,000 bps).
 * The state is the read block's and a move is taken as exact, as the frame's rebuild takes it: Aave mints and burns
 * scaled amounts (`rayDiv` half up, read back through `rayMul`), which can leave a moved balance 1 base unit off the
 * move once the reserve's index is above 1, and interest accrues until inclusion; with an 8-decimal collateral (1 unit
 * of WBTC ~6e-4 USD) on an account of a few USD that unit can reach a whole bps (SECURITY, rr17b B1 residual row).
 *
 * @returns `low` <= `high`, health (WAD), equal when the bounds settle Aave's floored average after; undefined when the
 * figures do not fit together (bounds that do not meet, a balance moved below 0): the caller rebuilds from the frame.
 */
function aaveBaseHealthRange(state: Pick<RuleMarketState, "collateral" | "debt" | "lltv">, b: AaveBaseFigures, collateralAfter: bigint, debtAfter: bigint): { low: bigint; high: bigint } | undefined {
  const lt = state.lltv / 10n ** 14n
  const balanceAfter = b.collateralBalance + (collateralAfter - state.collateral)
  const debtBalanceAfter = b.debtBalance + (debtAfter - state.debt)
  if (balanceAfter < 0n || debtBalanceAfter < 0n || b.totalCollateralBase < 0n || b.totalDebtBase < 0n) return undefined
  const own = aaveBaseValue(b.collateralBalance, b.collateralPrice, b.collateralDecimals)
  const others = b.totalCollateralBase - own
  if (others < 0n) return undefined
  const t0 = b.totalCollateralBase
  // The weighted sum before (base currency x bps): [lo, hi] from the three reads.
  let lo = own * lt
  let hi = own * lt + others * AAVE_MAX_THRESHOLD_BPS
  if (t0 > 0n) {
    lo = lo > b.currentLiquidationThreshold * t0 ? lo : b.currentLiquidationThreshold * t0
    const avgTop = (b.currentLiquidationThreshold + 1n) * t0 - 1n
    hi = hi < avgTop ? hi : avgTop
  }
  const step = lt * b.collateralPrice // per frame unit, over 10^decimals
  const unit = 10n ** BigInt(b.collateralDecimals)
  const frame = b.frameCollateral ?? state.collateral
  if (step > 0n) {
    const frameLo = (frame * step + unit - 1n) / unit
    const frameHi = ((frame + 1n) * step + unit - 1n) / unit - 1n
    lo = lo > frameLo ? lo : frameLo
    hi = hi < frameHi ? hi : frameHi
  }
  if (lo > hi) return undefined
  const moved = aaveBaseValue(balanceAfter, b.collateralPrice, b.collateralDecimals) - own
  const total = t0 + moved
  const debt = b.totalDebtBase + aaveBaseValue(debtBalanceAfter, b.debtPrice, b.debtDecimals) - aaveBaseValue(b.debtBalance, b.debtPrice, b.debtDecimals)
  if (debt < 0n) return undefined
  const factor = (weighted: bigint) => aaveHealthFactor({ totalCollateral: total, weightedCollateral: weighted, totalDebt: debt })
  return { low: factor(lo + moved * lt), high: factor(hi + moved * lt) }
}

/**
 * Aave's floored average liquidation threshold (bps) of an account before a plan, exactly, from its factor `health`
 * (getUserAccountData's, WAD): of the whole bps next to the frame's reconstruction (`weighted0 / total0`, loan base units
 * x 1e36 x bps over loan base units x 1e36), the one whose {@link aaveHealthFactor} over `total0` and the debt is nearest
 * `health`, when it is nearer by far than the others (neighbouring bps differ by ~1 / N of the factor, the
 * reconstruction's rounding ~1e-11). Undefined without `health`, without debt, or when none stands out.
 */
function aaveFlooredAverageOf(state: Pick<RuleMarketState, "debt" | "health">, total0: bigint, weighted0: bigint): bigint | undefined {
  const health = state.health
  if (health === undefined || health <= 0n || health === INFINITE_HEALTH || state.debt <= 0n || total0 <= 0n) return undefined
  const debt0 = state.debt * PRICE_SCALE
  const guess = weighted0 / total0
  let best: bigint | undefined
  let bestDistance = 0n
  for (const n of [guess - 1n, guess, guess + 1n]) {
    if (n <= 0n) continue
    const d = distance(aaveHealthFactor({ totalCollateral: total0, weightedCollateral: total0 * n, totalDebt: debt0 }), health)
    if (best === undefined || d < bestDistance) [best, bestDistance] = [n, d]
  }
  // Nearest within a tenth of a bps' step of the factor: a match, not a guess.
  return best !== undefined && bestDistance * 10n * (best + 1n) < health ? best : undefined
}

/**
 * HealthLib.distanceToTarget: a sub-account's distance to `targetHealth` (WAD), in loan base units, at its pre-trade
 * price: the collateral value change that alone takes its health to the target,
 * ceil(|targetHealth x debt - collateral value x lltv| / lltv); its collateral value when it has no debt. A not-due
 * sub-account's net position change (`moved`) may not exceed it (module error `NotDueMoveExceedsDistance`). It is at
 * least the repayment or borrow that alone reaches the target, so one such move toward the target always fits.
 */
export function distanceToTarget(state: Pick<RuleMarketState, "collateral" | "debt" | "price" | "lltv">, targetHealth: bigint): bigint {
  const value = collateralValue(state.collateral, state.price)
  if (state.debt === 0n) return value
  return mulDivUp(distance(targetHealth * state.debt, value * state.lltv), 1n, state.lltv)
}

/**
 * HealthLib.maxMoveToHealth: the most an honest plan moves a sub-account (net position change, loan base units) to
 * take it from `state` to `healthAfter` (WAD) at its pre-trade price: ceil(gap / denominator), gap = |healthAfter x
 * debt - collateral value x lltv|. Without swaps the denominator is lltv (a collateral change alone); with swaps losing
 * at most `swapLossBps` it is the smaller of lltv and, for a deleverage (health up), healthAfter x (1 - loss) - lltv
 * (ignored when not positive) or, for a boost (health down), healthAfter - (1 - loss) x lltv. Unbounded (`undefined`)
 * at INFINITE_HEALTH. The per-operation loss allowance counts a due sub-account's move only up to this; not-due moves
 * count nothing.
 */
export function maxMoveToHealth(
  state: Pick<RuleMarketState, "collateral" | "debt" | "price" | "lltv">,
  healthAfter: bigint,
  swaps: boolean,
  swapLossBps: bigint,
): bigint | undefined {
  if (healthAfter === INFINITE_HEALTH) return undefined
  const { lltv } = state
  const valueTimesLltv = collateralValue(state.collateral, state.price) * lltv
  const targetTimesDebt = healthAfter * state.debt
  let denominator = lltv
  if (swaps) {
    if (targetTimesDebt > valueTimesLltv) {
      const swapped = (healthAfter * (BPS - swapLossBps)) / BPS
      if (swapped > lltv) denominator = min(lltv, swapped - lltv)
    } else denominator = min(lltv, healthAfter - (lltv * (BPS - swapLossBps)) / BPS)
  }
  return mulDivUp(distance(targetTimesDebt, valueTimesLltv), 1n, denominator)
}

const kindName = (kind: ActionKind | number): ActionKind => (typeof kind === "number" ? (actionKinds[kind] as ActionKind) : kind)
const kindIndex = (kind: ActionKind): bigint => BigInt(actionKinds.indexOf(kind))
const isPool = (kind: ActionKind): boolean => kind === "WithdrawFromPool" || kind === "DepositToPool"
const isSwap = (kind: ActionKind): boolean => kind === "SellCollateral" || kind === "BuyCollateral"
/**
 * The kinds each kind may not join on one sub-account in a plan (RebalanceLib `CHURN_KINDS`, `_checkActions`): a
 * withdrawal undoes a supply callback's flash-funded supply, a borrow a repay callback's repayment, either paying only
 * the flash premium (Aave) on what moves nowhere (review of issue 17); a borrow undoes a plain repayment, so a
 * Repay(need + X) from the idle reserve with a Borrow(X) back let the borrow fund a deposit of the reserve (rr10 F1).
 */
const CHURN_PAIRS: Partial<Record<ActionKind, readonly ActionKind[]>> = {
  // A sub-account that supplies collateral deposits nothing (rr10b R1): its supply would carry the idle reserve into
  // the position and the borrow it made room for into a pool. The solver's only deposit is a boost's Borrow + deposit.
  DepositToPool: ["SupplyCollateral", "SupplyCollateralWithCallback"],
  SupplyCollateral: ["DepositToPool"],
  WithdrawCollateral: ["SupplyCollateralWithCallback"],
  SupplyCollateralWithCallback: ["WithdrawCollateral", "DepositToPool"],
  Borrow: ["RepayWithCallback", "Repay"],
  RepayWithCallback: ["Borrow"],
  Repay: ["Borrow"],
}

const isCallback = (kind: ActionKind): boolean => kind === "RepayWithCallback" || kind === "SupplyCollateralWithCallback"

/**
 * RebalanceLib.landingZone: the health range (WAD) a triggered sub-account whose health was `before` must land in.
 * Below the band: [max(min, before + (target - min) / 2), target + (max - target) / 2]; above it:
 * [target - (target - min) / 2, min(max, before - (max - target) / 2)] (max when `before` is INFINITE_HEALTH). Inside the
 * band below the target (an in-band rescue, due only under `rescueBelowTarget`, issue 13): [before + (target - min) / 2,
 * target + (max - target) / 2] (stop 64: no longer at least the target, continuous with the zone below the band at
 * min), empty (low > high) close under the target when the lower band is wider.
 */
export function landingZone(before: bigint, minHealth: bigint, target: bigint, maxHealth: bigint): [low: bigint, high: bigint] {
  if (before < minHealth) return [max(minHealth, before + (target - minHealth) / 2n), target + (maxHealth - target) / 2n]
  if (before < target) return [before + (target - minHealth) / 2n, target + (maxHealth - target) / 2n]
  const step = (maxHealth - target) / 2n
  return [target - (target - minHealth) / 2n, before === INFINITE_HEALTH ? maxHealth : min(maxHealth, before - step)]
}

/**
 * RebalanceLib._checkPostConditions, cap-bound rescue (issue 13, SECURITY.md rows 127, 130 and 138): a sub-account due from
 * below its band (`before` < `minHealth`, WAD) whose operation's counted move is at least 99 % of `cap`
 * (maxAmountPerRebalance, loan base units), exactly `min(moved, honest) >= cap - floor(cap / 100)`, may land below the
 * band: its landing zone's low edge becomes min(low, before + MIN_BAND_GAP). `moved` is its net move (loan base units:
 * |collateral value change| + |debt change| at the pre-trade price); `honest` is what an honest plan moves for the
 * health it reached ({@link honestMoveCaps}'s `honest`, what the epoch amount is charged; `undefined`: unbounded, at
 * INFINITE_HEALTH). Judged on the net move alone (f13k), a step padded with a health-neutral shift of collateral to
 * another sub-account was cap-bound while gaining only MIN_BAND_GAP (review rr13v V1, V2). A step that swaps must also
 * meet {@link capBoundHonest} (review rr13w W1). Every other rule is unchanged (HealthOutsideLandingZone names that edge).
 */
export function isCapBound(before: bigint, minHealth: bigint, moved: bigint, honest: bigint | undefined, cap: bigint): boolean {
  return before < minHealth && isCapBoundMove(moved, honest, cap)
}

/**
 * The cap-bound rules' move test (RebalanceLib `_capBound`'s first half), for a rescue from below the band
 * ({@link isCapBound}) and a boost from above it (issue 13, stop 65): `min(moved, honest) >= cap - floor(cap / 100)`
 * (loan base units; `honest` undefined: unbounded, the move alone).
 */
export function isCapBoundMove(moved: bigint, honest: bigint | undefined, cap: bigint): boolean {
  const counted = honest === undefined ? moved : min(moved, honest)
  return counted >= cap - cap / 100n
}

/**
 * RebalanceLib._capBound's second half (review rr13w W1, SECURITY.md row 138): a cap-bound step that swaps must be a
 * rescue the Safe could fund alone. True when `swapped` (its swaps' inputs, loan base units at the pre-trade price) is
 * 0; or the buffers alone: the health reached (`healthAfter`, WAD) needs a plain move (`maxMoveToHealth(state,
 * healthAfter, false, 0)`, `undefined`: unbounded) of at least `cap - floor(cap / 100)` (`cap`: maxAmountPerRebalance,
 * loan base units); or the sale alone: 2 x `swapped` is at least that. A pool repayment R mixed with a small sale x
 * (R + 2x ~ 0.99 cap, gaining only MIN_BAND_GAP) is neither: {@link honestMoveCaps} counts the sale twice, so it met
 * {@link isCapBound} and ten such steps spent maxRebalancesPerEpoch with the Safe below its band.
 */
export function capBoundHonest(
  state: Pick<RuleMarketState, "collateral" | "debt" | "price" | "lltv">,
  healthAfter: bigint,
  swapped: bigint,
  cap: bigint,
): boolean {
  const least = cap - cap / 100n
  if (swapped === 0n || 2n * swapped >= least) return true
  const plain = maxMoveToHealth(state, healthAfter, false, 0n)
  return plain === undefined || plain >= least
}

/**
 * RebalanceLib._caps: a due sub-account's counting caps (loan base units, at its pre-trade price) for the health it
 * reached. `cap`: what the loss allowance counts of each side; `honest`: what it is charged (epoch amount, shares of gas
 * and loss) and what the cap-bound rule judges ({@link isCapBound}). Without swaps both are
 * `maxMoveToHealth(state, healthAfter, false, 0)`; with `swapped` > 0 (its swaps' inputs, loan base units) and
 * l = min(`maxLossBps` (the plan's), `maxSlippageBps` (its policy's)): cap = min(swapCap, that + swapped), honest =
 * min(swapCap + floor(swapCap x (BPS - l) / BPS), that + 2 x swapped), swapCap = `maxMoveToHealth(.., true, l)`.
 * `undefined`: unbounded (INFINITE_HEALTH).
 */
export function honestMoveCaps(
  state: Pick<RuleMarketState, "collateral" | "debt" | "price" | "lltv">,
  healthAfter: bigint,
  swapped: bigint,
  maxSlippageBps: bigint,
  maxLossBps: bigint,
): { cap: bigint | undefined; honest: bigint | undefined } {
  const noSwaps = maxMoveToHealth(state, healthAfter, false, 0n)
  if (swapped === 0n) return { cap: noSwaps, honest: noSwaps }
  const swapLoss = min(maxLossBps, maxSlippageBps)
  const swapCap = maxMoveToHealth(state, healthAfter, true, swapLoss)
  const plus = (a: bigint | undefined, b: bigint): bigint | undefined => (a === undefined ? undefined : a + b)
  const least = (a: bigint | undefined, b: bigint | undefined): bigint | undefined => (a === undefined ? b : b === undefined ? a : min(a, b))
  return {
    cap: least(swapCap, plus(noSwaps, swapped)),
    honest: least(swapCap === undefined ? undefined : swapCap + mulDivDown(swapCap, BPS - swapLoss, BPS), plus(noSwaps, 2n * swapped)),
  }
}

/** RebalanceLib._minAmountOut: a swap's minimum output in base units (oracle value less maxSlippageBps, rounded up). */
export function minAmountOut(maxSlippageBps: bigint, price: bigint, sell: boolean, amountIn: bigint): bigint {
  const fair = sell ? mulDivDown(amountIn, price, PRICE_SCALE) : mulDivDown(amountIn, PRICE_SCALE, price)
  return mulDivUp(fair, BPS - maxSlippageBps, BPS)
}

/**
 * PlanLib.check's rules a decoded plan can break: `MALFORMED_*` reason code, or 0. (Encoding rules — offsets, dirty
 * high bits, lengths, unknown kinds — cannot be broken by a plan the SDK encodes.)
 */
export function malformedReason(plan: CheckRebalanceRulesParameters["plan"]): number {
  const n = plan.subAccounts.length
  if (n === 0 || BigInt(n) > MAX_SUB_ACCOUNTS) return MALFORMED_SUB_ACCOUNT_COUNT
  const m = plan.actions.length
  if (m === 0 || BigInt(m) > MAX_ACTIONS) return MALFORMED_ACTION_COUNT
  let openedAt = 0
  for (let i = 0; i < m; i++) {
    const action = plan.actions[i] as RuleAction
    const kind = kindName(action.kind)
    if (action.subAccount < 0 || action.subAccount >= n) return MALFORMED_BAD_INDEX
    if (isCallback(kind)) {
      if (openedAt !== 0) return MALFORMED_NESTED_CALLBACK
      openedAt = i + 1
    } else if (kind === "EndCallback") {
      if (openedAt === 0) return MALFORMED_UNOPENED_CALLBACK
      if (openedAt === i) return MALFORMED_EMPTY_CALLBACK
      openedAt = 0
    }
  }
  return openedAt !== 0 ? MALFORMED_UNCLOSED_CALLBACK : 0
}

type Run = {
  sub: RuleSubAccount
  id: Hex
  policy: RulePolicy
  state: RuleMarketState
  collateral: bigint
  /** Debt in assets (without venue totals) or, with them, derived from `shares`. */
  debt: bigint
  shares: bigint
  healthBefore: bigint
  due: boolean
  /** RebalanceLib `Run.stop`: 0n no stop held, 1n held (no boost), else engaged: its exitHealth ({@link stopStateOf}). */
  stop: bigint
  /** Due above its band (boost allowed, health > maxHealth; RebalanceLib `Run.boost`) and supplying no collateral in the
   * plan (cleared by its first supply, rr10c C1): only such borrows fund deposits. */
  boost: boolean
  /** Net position change charged to the caps and usage shares, set by the post-conditions. */
  moved: bigint
  /** Its swaps' inputs, loan base units at its pre-trade price (RebalanceLib `Run.swapped`). */
  swapped: bigint
  /** Its swaps are sales (else purchases, when `swapped` > 0). */
  sold: boolean
  /** What its swaps brought into the Safe (RebalanceLib's swap output slot): loan units of sales, collateral of purchases. */
  swapOutput: bigint
  /** Aave: the Safe's balance of the collateral reserve as the plan runs (`state.collateralHeld`, then its supplies and withdrawals). */
  held: bigint | undefined
}

/**
 * The module's oracle checks of one sub-account (`RebalanceLib._checkOracle`: OraclePriceZero, OracleAnswerOutOfBounds,
 * OracleStale, OracleDecimals, OracleDeviation, in that order) at `timestamp` (unix seconds): the check a plan listing
 * the sub-account would fail, or undefined when it passes. The same function {@link checkRebalanceRules} runs, so a
 * keeper can leave out a sub-account no plan can use without a second copy of the rules.
 *
 * @returns The first failing check as the module names it, with its arguments; undefined when every check passes.
 * @throws {Error} When the policy has a price feed and `sub.feed` is missing.
 */
export function checkSubAccountOracle(sub: RuleSubAccount, timestamp: bigint): RuleViolation | undefined {
  try {
    checkOracle(sub, timestamp)
    return undefined
  } catch (error) {
    if (error instanceof Revert) return error.violation
    throw error
  }
}

const MAX_UINT256 = 2n ** 256n - 1n

/** RebalanceLib._checkOracle. */
function checkOracle(sub: RuleSubAccount, timestamp: bigint): void {
  const { id, policy, state } = sub
  if (state.price === 0n) revert("OraclePriceZero", id)
  if (same(policy.priceFeed, ZERO)) return
  const feed = sub.feed
  if (feed === undefined) throw new Error(`checkRebalanceRules: sub-account ${id} has a price feed but no feed answer was given`)
  if (feed.answer <= 0n) revert("OraclePriceZero", id)
  const { minFeedAnswer, maxFeedAnswer } = policy
  if (feed.answer <= minFeedAnswer || (maxFeedAnswer !== 0n && feed.answer >= maxFeedAnswer))
    revert("OracleAnswerOutOfBounds", id, feed.answer, minFeedAnswer, maxFeedAnswer)
  const maxAge = big(policy.maxOracleAge)
  if (feed.updatedAt > timestamp || timestamp - feed.updatedAt > maxAge) revert("OracleStale", id, feed.updatedAt, maxAge)
  const exponent = 36n + BigInt(feed.loanDecimals)
  const divisorExp = BigInt(feed.decimals) + BigInt(feed.collateralDecimals)
  if (feed.decimals > 36 || divisorExp > exponent) revert("OracleDecimals", id, BigInt(feed.decimals))
  const feedPrice = feed.answer * 10n ** (exponent - divisorExp)
  // A feed price over a uint256 (10^e above 77, or the product): these decimals cannot price the market's tokens
  // (`RebalanceLib._feedPrice`, review rr16g G2; the chain raised Panic 0x11 before rr18). Below it the deviation check
  // is exact on both sides (`_deviates`: 512-bit products).
  if (feedPrice > MAX_UINT256) revert("OracleDecimals", id, BigInt(feed.decimals))
  if (distance(state.price, feedPrice) * BPS > feedPrice * big(policy.maxOracleDeviationBps)) revert("OracleDeviation", id, state.price, feedPrice)
}

/**
 * {@link checkRebalanceRulesFeeLenient}'s verdict: {@link CheckRebalanceRulesReturnType}, or an acceptance that holds only
 * if the plan's fee-bearing pools keep their fees (`feeUndecided`): its figures (health, moved, loss) are the retained
 * model's, and `paidOut` is the refusal the same plan gets when the pools pay their fees out.
 */
export type CheckRebalanceRulesFeeLenientReturnType =
  | CheckRebalanceRulesReturnType
  | (Extract<CheckRebalanceRulesReturnType, { ok: true }> & { feeUndecided: true; paidOut: RuleViolation })

/**
 * {@link checkRebalanceRules}, never stricter than the module on a pool fee it cannot tell the kind of (review rr11h H3):
 * the previews read a pool's fee the same whether the vault pays it out or keeps it (then the Safe gets back its share of
 * it, and the module books only `fee x (1 - the Safe's share)`). When the verdict with every fee paid out is
 * `ValueLossExceeded` and the verdict with every fee retained in its pool ({@link RulePool}'s `feeRetained`) accepts,
 * the rule book cannot decide: the retained verdict is returned with `feeUndecided` true and the paid-out refusal as
 * `paidOut`, and only the chain can decide: the SDK's `sendRebalance` always simulates the execution of such a plan
 * before sending (also when the caller fixed `callGasLimit`; review rr11i H3-b) and throws the module's error. Any other
 * verdict is {@link checkRebalanceRules}' own. A caller that can repair a plan (the keeper) tries the paid-out verdict's
 * repair first and defers only when none passes (review rr11i H3-a).
 *
 * @param params - {@link CheckRebalanceRulesParameters}
 * @returns {@link CheckRebalanceRulesFeeLenientReturnType}; `feeUndecided` when only a retained fee lets the plan pass.
 */
export function checkRebalanceRulesFeeLenient(params: CheckRebalanceRulesParameters): CheckRebalanceRulesFeeLenientReturnType {
  const paid = checkRebalanceRules(params)
  if (paid.ok || paid.error.name !== "ValueLossExceeded") return paid
  const fee = (p: RulePool) => (p.entryFeeBps ?? p.feeBps ?? 0n) > 0n || (p.exitFeeBps ?? p.feeBps ?? 0n) > 0n
  if (!params.pools.some(fee)) return paid
  const retained = checkRebalanceRules({ ...params, pools: params.pools.map((p) => (fee(p) ? { ...p, feeRetained: true } : p)) })
  return retained.ok ? { ...retained, feeUndecided: true, paidOut: paid.error } : paid
}

/**
 * Judges a plan exactly as the module does, in the module's order (PlanLib, load, vet, run, inflows used,
 * post-conditions, loss, epoch caps) and returns the first named error, or the accepted plan's figures.
 * Keeper authorization, pause and the self-pay budget (checked in validation) are not part of it.
 *
 * @param params - {@link CheckRebalanceRulesParameters}
 * @returns {@link CheckRebalanceRulesReturnType}
 * @throws {Error} When an input the verdict needs is missing (a feed answer for a policy with a feed, a pool's state).
 * @example
 * const verdict = checkRebalanceRules({ plan, subAccounts, pools, balances, swapAdapter, timestamp, gasUsed: 600_000n })
 * if (!verdict.ok) console.log(verdict.error.name, verdict.error.args)
 */
export function checkRebalanceRules(params: CheckRebalanceRulesParameters): CheckRebalanceRulesReturnType {
  try {
    return judge(params) as CheckRebalanceRulesReturnType
  } catch (error) {
    if (error instanceof Revert) return { ok: false, error: error.violation }
    throw error
  }
}

/** What the checks before the first call need (PlanLib, load, vet): no balances, pools, gas or swap outcomes. */
export type CheckRebalancePrechecksParameters = Pick<CheckRebalanceRulesParameters, "plan" | "subAccounts" | "swapAdapter" | "timestamp">

/** Verdict of the checks before the first call: passed (with which listed sub-accounts are due) or the first error. */
export type CheckRebalancePrechecksReturnType = { ok: true; due: boolean[] } | { ok: false; error: RuleViolation }

/**
 * The module's checks before it calls anything (PlanLib, load: listing, oracles, cooldowns, trigger; vet: allowed
 * actions, round trips, material use), in its order: the part of {@link checkRebalanceRules} that needs neither the
 * Safe's balances nor pool states, the gas or a swap's outcome. The SDK's `validateRebalance` judges with it when a
 * plan's swaps cannot be quoted.
 *
 * @param params - {@link CheckRebalancePrechecksParameters}
 * @returns {@link CheckRebalancePrechecksReturnType}
 * @throws {Error} When a feed answer is missing for a policy with a price feed.
 * @example
 * const verdict = checkRebalancePrechecks({ plan, subAccounts, swapAdapter, timestamp })
 */
export function checkRebalancePrechecks(params: CheckRebalancePrechecksParameters): CheckRebalancePrechecksReturnType {
  try {
    return judge({ ...params, pools: [], balances: {}, gasUsed: 0n }, true) as CheckRebalancePrechecksReturnType
  } catch (error) {
    if (error instanceof Revert) return { ok: false, error: error.violation }
    throw error
  }
}

function judge(params: CheckRebalanceRulesParameters, prechecksOnly = false): CheckRebalanceRulesReturnType | CheckRebalancePrechecksReturnType {
  const { plan, timestamp } = params
  const malformed = malformedReason(plan)
  if (malformed !== 0) revert("MalformedPlan", BigInt(malformed))
  const written = plan.actions.map((a) => ({ ...a, kind: kindName(a.kind), pool: a.pool ?? ZERO }))

  /* LOAD */
  const runs: Run[] = []
  let triggered = false
  plan.subAccounts.forEach((id, i) => {
    for (let j = 0; j < i; j++) if (same(plan.subAccounts[j], id)) revert("DuplicateSubAccount", id)
    const sub = params.subAccounts[i]
    if (sub === undefined) throw new Error(`checkRebalanceRules: no state for sub-account ${id}`)
    const { policy, state, usage } = sub
    if (same(policy.adapter, ZERO)) revert("UnknownSubAccount", id)
    const first = runs[0]
    if (first !== undefined && !same(state.loanToken, first.state.loanToken)) revert("MixedLoanTokens", first.state.loanToken, state.loanToken)
    checkOracle(sub, timestamp)
    const healthBefore = state.health ?? healthOf(state.collateral, state.debt, state.price, state.lltv)
    // RebalanceLib `_trigger`: an engaged stop makes it due below its exitHealth; no boost while the stop holds.
    const stop = stopStateOf(sub.stop, state.price, policy.maxOracleDeviationBps)
    // RebalanceLib `_load`'s cooldown (seconds): a rescue from below minHealth while the stop is engaged is exempt
    // (review rr13t T1: a stop-only exit starts the cooldown but cannot delay the rescue of the same fall).
    if (stop <= 1n || healthBefore >= big(policy.minHealth)) {
      const readyAt = big(usage.lastRebalance) + big(policy.cooldown)
      if (big(usage.lastRebalance) !== 0n && timestamp < readyAt) revert("CooldownActive", id, readyAt)
    }
    const boost = policy.boostAllowed && stop === 0n && healthBefore > policy.maxHealth
    // In-band rescue (issue 13): with rescueBelowTarget also due below the target.
    const due = healthBefore < max(policy.rescueBelowTarget === true ? policy.targetHealth : policy.minHealth, stop) || boost
    triggered ||= due
    runs.push({ sub, id, policy, state, stop, collateral: state.collateral, debt: state.debt, shares: sub.venue?.borrowShares ?? 0n, healthBefore, due, boost, moved: 0n, swapped: 0n, sold: false, swapOutput: 0n, held: state.collateralHeld })
  })
  if (!triggered) revert("NoTrigger")
  const run = (index: number): Run => runs[index] as Run
  // RebalanceLib `_repaymentOf` (issue 13): every reader below sees a RepayWithCallback in the sale-minimum repayment mode
  // as the same plan with its repayment written out (amount plus its block's sale minimums at the loaded oracle).
  const actions = written.map((a, i) => ({ ...a, amount: repaymentOf(written, i, runs) }))
  // A mode repayment past 2^256 (written amount plus its sales' minimums): the module reverts with Panic 0x11 where it
  // first sums it; no verdict of the rule book's names that, so the check throws there.
  const overflows = (amount: bigint, i: number): void => {
    if (amount > MAX_UINT256) throw new Error(`checkRebalanceRules: action ${i}'s repayment passes 2^256 (the module reverts with Panic 0x11)`)
  }

  /* VET */
  let acted = 0n
  let repayCallbackOf = 0
  // The kinds each sub-account has had so far: no churn around a callback (review of issue 17).
  const kindsSeen = new Map<number, Set<ActionKind>>()
  actions.forEach((action, i) => {
    const { kind } = action
    if (kind === "EndCallback") {
      if (!same(action.pool, ZERO) || action.amount !== 0n) revert("ActionNotAllowed", BigInt(i), kindIndex(kind))
      repayCallbackOf = 0
      return
    }
    // A sub-account with a SupplyCollateralWithCallback withdraws no collateral and one with a RepayWithCallback or a
    // Repay borrows nothing, in either order, inside the block or after it: the later of the pair is refused.
    const seen = kindsSeen.get(action.subAccount) ?? new Set<ActionKind>()
    if ((CHURN_PAIRS[kind] ?? []).some((undone) => seen.has(undone))) revert("ActionNotAllowed", BigInt(i), kindIndex(kind))
    seen.add(kind)
    kindsSeen.set(action.subAccount, seen)
    if (kind === "RepayWithCallback") repayCallbackOf = action.subAccount + 1
    const r = run(action.subAccount)
    const policy = r.policy
    const boostAllowed = policy.boostAllowed && r.stop === 0n // no boost while its stop holds
    // A supplying sub-account's borrow funds no deposit (RebalanceLib `_checkSwapsServeOwnPosition`, rr10c C1), in either
    // order: the inflow tally runs after this loop.
    if (kind === "SupplyCollateral" || kind === "SupplyCollateralWithCallback") r.boost = false
    // RebalanceLib `_checkAction`: a zero written amount is refused unless a RepayWithCallback's repayment adds its
    // sales' minimum; the module sums it here only for a zero written amount (review rv60: the order of an overflow).
    if ((written[i] as (typeof written)[number]).amount === 0n) {
      if (action.amount === 0n) revert("ActionNotAllowed", BigInt(i), kindIndex(kind))
      overflows(action.amount, i)
    }
    let role: "pool" | "venue" | "swap"
    if (isPool(kind)) {
      if (!policy.pools.some((p) => same(p, action.pool))) revert("PoolNotAllowed", r.id, action.pool)
      role = "pool"
    } else if (isSwap(kind)) {
      if (same(params.swapAdapter, ZERO) || big(policy.maxSlippageBps) === 0n || (kind === "BuyCollateral" && !boostAllowed))
        revert("ActionNotAllowed", BigInt(i), kindIndex(kind))
      role = "swap"
    } else {
      // A venue action's pool is zero; a RepayWithCallback's may carry the repayment mode word (`repaymentOf`).
      if (!same(action.pool, ZERO) && !(kind === "RepayWithCallback" && BigInt(action.pool) === REPAY_PLUS_SALE_MINIMUMS))
        revert("ActionNotAllowed", BigInt(i), kindIndex(kind))
      const swapDeleverage = kind === "WithdrawCollateral" && repayCallbackOf === action.subAccount + 1
      if (!boostAllowed && (kind === "Borrow" || (kind === "WithdrawCollateral" && !swapDeleverage)))
        revert("ActionNotAllowed", BigInt(i), kindIndex(kind))
      role = "venue"
    }
    if (role === "venue") {
      acted |= 1n << BigInt(action.subAccount)
      return
    }
    for (let j = 0; j < i; j++) {
      const other = actions[j] as (typeof actions)[number]
      if (role === "pool" && same(other.pool, action.pool) && isPool(other.kind) && other.kind !== kind) revert("PoolRoundTrip", action.pool)
      if (role === "swap" && isSwap(other.kind) && other.kind !== kind && same(run(other.subAccount).state.collateralToken, r.state.collateralToken))
        revert("SwapRoundTrip", r.state.collateralToken)
    }
  })
  for (const action of actions) {
    if ((acted & (1n << BigInt(action.subAccount))) !== 0n) continue
    if (isPool(action.kind)) revert("PoolNotUsed", run(action.subAccount).id, action.pool)
    if (isSwap(action.kind)) revert("SwapNotUsed", run(action.subAccount).id)
  }
  runs.forEach((r, i) => {
    if ((acted & (1n << BigInt(i))) === 0n) revert("SubAccountUnchanged", r.id)
  })

  /* SWAPS SERVE THEIR OWN POSITION (RebalanceLib._checkSwapsServeOwnPosition) */
  runs.forEach((r, k) => {
    const repayable = repayableOf(r.state)
    let debt = repayable
    let sold = 0n
    let bought = 0n
    let supplied = 0n
    let withdrawn = 0n
    for (const [j, { kind, subAccount, amount }] of actions.entries()) {
      if (subAccount !== k) continue
      // Only a due sub-account swaps (fourteenth review of issue 10): a not-due one's sale, valued at its own lower
      // oracle alone next to another's rescue, let the keeper's router take the gap to a higher listed oracle.
      if (isSwap(kind) && !r.due) revert("ActionNotAllowed", BigInt(j), kindIndex(kind))
      if (kind === "Repay" || kind === "RepayWithCallback") {
        overflows(amount, j) // the module's first sum of a written non-zero mode repayment (`_checkSwapsServeOwnPosition`)
        debt -= min(amount, debt)
      } else if (kind === "Borrow") debt += amount
      else if (kind === "SupplyCollateral" || kind === "SupplyCollateralWithCallback") supplied += amount
      else if (kind === "WithdrawCollateral") withdrawn += amount
      else if (kind === "SellCollateral") sold += minAmountOut(big(r.policy.maxSlippageBps), r.state.price, true, amount)
      else if (kind === "BuyCollateral") bought += minAmountOut(big(r.policy.maxSlippageBps), r.state.price, false, amount)
      if (kind === "SellCollateral") r.swapped += collateralValue(amount, r.state.price)
      else if (kind === "BuyCollateral") r.swapped += amount
      if (isSwap(kind)) r.sold = kind === "SellCollateral"
    }
    const repaid = repayable > debt ? repayable - debt : 0n
    if (sold > repaid) revert("SaleExceedsRepayment", r.id, sold, repaid)
    const added = supplied > withdrawn ? supplied - withdrawn : 0n
    if (bought > added) revert("PurchaseExceedsSupply", r.id, bought, added)
  })

  if (prechecksOnly) return { ok: true, due: runs.map((r) => r.due) }

  /* HOLDINGS (before) */
  const pools = new Map<string, RulePool & { supply: bigint; assets: bigint }>()
  for (const action of actions) {
    if (!isPool(action.kind)) continue
    const pool = params.pools.find((p) => same(p.address, action.pool))
    if (pool === undefined) throw new Error(`checkRebalanceRules: no state for pool ${action.pool}`)
    pools.set(key(pool.address), { ...pool, supply: pool.totalSupply, assets: pool.totalAssets })
  }
  const balances = new Map<string, bigint>(Object.entries(params.balances).map(([token, amount]) => [key(token), amount]))
  const balanceOf = (token: string): bigint => balances.get(key(token)) ?? 0n
  const loanToken = run(0).state.loanToken
  /**
   * The lowest and highest listed price of `token` (RebalanceLib._priceRange): 1:1 for the loan token; with `moved`
   * (collateral after, by run), only the runs whose collateral of it changed or that swap it, all of them when no
   * collateral of it changed.
   */
  const priceRange = (token: string, moved?: readonly bigint[]): [bigint, bigint] => {
    if (same(token, loanToken)) return [PRICE_SCALE, PRICE_SCALE]
    const listed = runs.filter((x) => same(x.state.collateralToken, token))
    const changed = (x: Run, k: number): boolean => moved !== undefined && same(x.state.collateralToken, token) && moved[k] !== x.state.collateral
    const priced = runs.filter((x, k) => changed(x, k) || (same(x.state.collateralToken, token) && x.swapped !== 0n))
    const prices = (runs.some(changed) ? priced : listed).map((x) => x.state.price)
    if (prices.length === 0) return revert("PoolAssetMismatch", ZERO, token)
    return [prices.reduce((a, b) => min(a, b)), prices.reduce((a, b) => max(a, b))]
  }
  const poolAssetsOf = (p: { shares: bigint; supply: bigint; assets: bigint }): bigint => mulDivDown(p.shares, p.assets + 1n, p.supply + 1n)
  /** The Safe's holdings outside the positions, base units by token (RebalanceLib._holdings). */
  const holdings = (): { token: string; amount: bigint }[] => {
    const slots = [{ token: loanToken as string, amount: balanceOf(loanToken) }]
    runs.forEach((r, i) => {
      const collateral = r.state.collateralToken
      if (same(collateral, loanToken) || runs.slice(0, i).some((x) => same(x.state.collateralToken, collateral))) return
      slots.push({ token: collateral, amount: balanceOf(collateral) })
    })
    for (const p of pools.values()) {
      priceRange(p.asset) // a listed token (PoolAssetMismatch)
      slots.push({ token: p.asset, amount: poolAssetsOf(p) })
    }
    return slots
  }
  const before = holdings()

  /* RUN (the chain's effects, modelled exactly where deterministic) */
  const spend = (index: number, token: string, amount: bigint): void => {
    const balance = balanceOf(token)
    if (balance < amount) actionFailed(index, `needs ${amount} of ${token} but the Safe holds ${balance}`)
    balances.set(key(token), balance - amount)
  }
  const receive = (token: string, amount: bigint): void => {
    balances.set(key(token), balanceOf(token) + amount)
  }
  const venueHealthy = (r: Run): boolean => {
    const debt = debtOf(r)
    if (debt === 0n) return true
    return mulDivDown(collateralValue(r.collateral, r.state.price), r.state.lltv, WAD) >= debt
  }
  const debtOf = (r: Run): bigint => {
    const v = r.sub.venue
    if (v === undefined) return r.debt
    return r.shares === 0n ? 0n : mulDivUp(r.shares, v.totalBorrowAssets + VIRTUAL_ASSETS, v.totalBorrowShares + VIRTUAL_SHARES)
  }
  /** Morpho repay as the adapter encodes it; returns the assets the venue collects. */
  const repay = (index: number, r: Run, amount: bigint): bigint => {
    const v = r.sub.venue
    const debt = debtOf(r)
    if (v === undefined) {
      // Aave: a repayment clears at most the debt reserve's own debt (repayableDebt), less what the plan repaid before.
      const reserve = r.state.repayableDebt === undefined ? debt : r.state.repayableDebt - (r.state.debt - r.debt)
      const paid = min(min(amount, debt), reserve > 0n ? reserve : 0n)
      if (paid === 0n) actionFailed(index, "repays a position without debt")
      r.debt -= paid
      return paid
    }
    let shares: bigint
    let assets: bigint
    if (amount >= debt) {
      shares = r.shares
      assets = mulDivUp(shares, v.totalBorrowAssets + VIRTUAL_ASSETS, v.totalBorrowShares + VIRTUAL_SHARES)
    } else {
      assets = amount
      shares = mulDivDown(amount, v.totalBorrowShares + VIRTUAL_SHARES, v.totalBorrowAssets + VIRTUAL_ASSETS)
    }
    if (shares === 0n && assets === 0n) actionFailed(index, "repays a position without debt") // Morpho: inconsistent input
    if (shares > r.shares) actionFailed(index, "repays more shares than the position has")
    r.shares -= shares
    v.totalBorrowShares -= shares
    v.totalBorrowAssets = v.totalBorrowAssets > assets ? v.totalBorrowAssets - assets : 0n
    return assets
  }
  const execute = (index: number): void => {
    const action = actions[index] as (typeof actions)[number]
    const r = run(action.subAccount)
    const { kind, amount } = action
    if (isPool(kind)) {
      const p = pools.get(key(action.pool)) as RulePool & { supply: bigint; assets: bigint }
      if (kind === "DepositToPool") {
        if (p.supply < MIN_POOL_SUPPLY || mulDivDown(WAD, p.assets + 1n, p.supply + 1n) === 0n) revert("PoolUnhealthy", action.pool)
        spend(index, p.asset, amount)
        const entryFee = p.entryFeeBps ?? p.feeBps
        const fee = entryFee ? mulDivUp(amount, entryFee, entryFee + BPS) : 0n
        const shares = mulDivDown(amount - fee, p.supply + 1n, p.assets + 1n)
        p.shares += shares
        p.supply += shares
        p.assets += p.feeRetained === true ? amount : amount - fee
      } else {
        const exitFee = p.exitFeeBps ?? p.feeBps
        const gross = amount + (exitFee ? mulDivUp(amount, exitFee, BPS) : 0n)
        const shares = mulDivUp(gross, p.supply + 1n, p.assets + 1n)
        // The check is on shares of the gross (the amount plus the exit fee rounded up): name both sides in those terms,
        // not the net amount next to the gross holding (which reads as a refusal below the bound).
        if (shares > p.shares)
          actionFailed(
            index,
            `withdraws ${amount} (${gross} with the exit fee, ${shares} shares) but the Safe holds ${p.shares} shares of pool ${action.pool} (${poolAssetsOf(p)} gross)`,
          )
        p.shares -= shares
        p.supply -= shares
        p.assets -= p.feeRetained === true ? amount : gross
        receive(p.asset, amount)
      }
      return
    }
    if (isSwap(kind)) {
      const sell = kind === "SellCollateral"
      const [tokenIn, tokenOut] = sell ? [r.state.collateralToken, r.state.loanToken] : [r.state.loanToken, r.state.collateralToken]
      const minimum = minAmountOut(big(r.policy.maxSlippageBps), r.state.price, sell, amount)
      const refused = params.outcome?.swapAdapterErrors?.[index]
      if (refused !== undefined) revert("SwapAdapterRevert", refused)
      spend(index, tokenIn, amount)
      const real = params.outcome?.swapOutputs?.[index]
      // The router enforces the minimum itself (`amountOutMinimum`): a short output reverts the router's call.
      if (real === null) actionFailed(index, "the swap route cannot execute")
      if (real !== undefined && real !== null && real < minimum)
        actionFailed(index, `the swap returns ${real}, below the on-chain minimum ${minimum} (the router's amountOutMinimum)`)
      receive(tokenOut, real ?? minimum)
      r.swapOutput += real ?? minimum
      return
    }
    const v = r.sub.venue
    if (kind === "SupplyCollateral") {
      if (r.state.collateralEnabled === false) actionFailed(index, "the venue refuses: Aave would not count the supply as collateral (CollateralNotEnabled)")
      spend(index, r.state.collateralToken, amount)
      r.collateral += amount
      if (r.held !== undefined) r.held += amount
    } else if (kind === "WithdrawCollateral") {
      // Aave: the reserve's own balance, below the account's weighted collateral when it holds several reserves. The
      // adapter withdraws at most that balance (`withdraw(max)`; none and CollateralNotEnabled when switched off), so
      // the plan gets less than it spends: the chain fails here or at the action that spends the shortfall, the rule book
      // names the withdrawal (it cannot value the weighted drop of a partial one).
      if (r.held !== undefined && amount > r.held)
        actionFailed(index, `withdraws ${amount} of the collateral reserve but the Safe holds ${r.held} of it (collateralHeld)`)
      if (r.state.collateralWithdrawBlocked === true && debtOf(r) > 0n)
        actionFailed(index, "the venue refuses: the account holds a collateral with LTV 0 and still borrows (Aave 57 LTV_VALIDATION_FAILED)")
      if (r.held !== undefined) r.held -= amount
      if (amount > r.collateral) actionFailed(index, `withdraws ${amount} collateral of ${r.collateral}`)
      r.collateral -= amount
      if (!venueHealthy(r)) actionFailed(index, "the venue refuses: the position would be unhealthy")
      receive(r.state.collateralToken, amount)
    } else if (kind === "Borrow") {
      if (v === undefined) r.debt += amount
      else {
        const shares = mulDivUp(amount, v.totalBorrowShares + VIRTUAL_SHARES, v.totalBorrowAssets + VIRTUAL_ASSETS)
        r.shares += shares
        v.totalBorrowShares += shares
        v.totalBorrowAssets += amount
      }
      if (!venueHealthy(r)) actionFailed(index, "the venue refuses: the position would be unhealthy")
      if (v !== undefined && v.totalBorrowAssets > v.totalSupplyAssets) actionFailed(index, "the venue refuses: insufficient liquidity")
      receive(r.state.loanToken, amount)
    } else if (kind === "Repay") {
      const debt = debtOf(r)
      if (balanceOf(r.state.loanToken) < min(amount, debt))
        actionFailed(index, `needs ${min(amount, debt)} of ${r.state.loanToken} but the Safe holds ${balanceOf(r.state.loanToken)}`)
      spend(index, r.state.loanToken, repay(index, r, amount))
    }
  }
  let i = 0
  while (i < actions.length) {
    const opener = actions[i] as (typeof actions)[number]
    if (!isCallback(opener.kind)) {
      execute(i)
      i++
      continue
    }
    const r = run(opener.subAccount)
    const isRepay = opener.kind === "RepayWithCallback"
    let end = i + 1
    while ((actions[end] as (typeof actions)[number]).kind !== "EndCallback") end++
    // The venue updates the position, calls back (the inner actions run), then collects what it is owed; any failure
    // inside reverts the venue call: ActionFailed at the callback action.
    if (!isRepay && r.state.collateralEnabled === false) actionFailed(i, "the venue refuses: Aave would not count the supply as collateral (CollateralNotEnabled)")
    try {
      let owed: bigint
      let token: Address
      if (isRepay) {
        owed = repay(i, r, opener.amount)
        token = r.state.loanToken
      } else {
        r.collateral += opener.amount
        if (r.held !== undefined) r.held += opener.amount
        owed = opener.amount
        token = r.state.collateralToken
      }
      // Aave: the router flashed what the opener moved and pulls it back with the pool's premium (a net-value loss).
      if (r.state.flashPremiumBps !== undefined) owed += flashPremium(owed, r.state.flashPremiumBps)
      for (let k = i + 1; k < end; k++) execute(k)
      spend(i, token, owed)
    } catch (error) {
      if (error instanceof Revert) actionFailed(i, `inside the callback: ${error.violation.detail ?? error.violation.name}`)
      throw error
    }
    i = end + 1
  }

  /* INFLOWS USED (RebalanceLib._checkInflowsUsed): per asset slot, the loan token then each listed collateral token */
  const assets: string[] = []
  for (const token of [loanToken, ...runs.map((r) => r.state.collateralToken)]) if (!assets.some((a) => same(a, token))) assets.push(token)
  const slotOf = (token: string): number => assets.findIndex((a) => same(a, token))
  const slots = actions.map((a) => {
    if (!isPool(a.kind)) return slotOf(run(a.subAccount).state.collateralToken)
    const asset = (pools.get(key(a.pool)) as RulePool).asset
    // Unreachable after the holdings read (which values every pool's asset), as in the module.
    if (slotOf(asset) < 0) revert("PoolAssetMismatch", a.pool, asset)
    return slotOf(asset)
  })
  const flows = inflowTally(runs, actions, slots, assets.length)
  flows.forEach(({ spent, received, deposited, fundable }, slot) => {
    // A deposit parks only what the same plan brought in, never the Safe's idle reserve (brk10r F1): only a boost's
    // borrow, never a withdrawal, a swap's output (rr10 F2), a not-due borrow (rr10 F3, rr10b R2) nor the
    // borrow of a sub-account due below its band (rr10b R1).
    if (deposited > fundable) revert("DepositNotFunded", assets[slot] as string, deposited, fundable)
    const unparked = received - deposited
    const usable = spent > unparked ? spent - unparked : 0n
    let withdrawn = 0n
    actions.forEach((action, j) => {
      if (action.kind !== "WithdrawFromPool" || slots[j] !== slot) return
      withdrawn += action.amount
      // The withdrawal that takes the total past what is used is the one named.
      if (withdrawn > usable) revert("PoolNotUsed", run(action.subAccount).id, action.pool)
    })
    if (unparked > spent) revert("IdleInflow", assets[slot] as string, received, spent + deposited)
  })

  /* POST-CONDITIONS (RebalanceLib._checkPostConditions) */
  // The plan's loss bound (the lowest maxLossBps listed), read first: the cap-bound rule judges a step by its counted move.
  let maxLossBps = BPS
  for (const r of runs) if (big(r.policy.maxLossBps) < maxLossBps) maxLossBps = big(r.policy.maxLossBps)
  const highs: bigint[] = []
  const results: RuleSubAccountResult[] = runs.map((r) => {
    const debtAfter = debtOf(r)
    const collateralAfter = r.collateral
    // Aave v3: Aave's own factor after the plan (its floored average threshold), what the module reads (review brk17c F1).
    // Aave: lower edges by the range's low end, upper edges by its high end (equal but in a rounding window, rr17 R2).
    const range = r.state.thresholdFloored ? aaveFrameHealthRange(r.state, collateralAfter, debtAfter) : undefined
    const healthAfter = range?.low ?? healthOf(collateralAfter, debtAfter, r.state.price, r.state.lltv)
    const healthHigh = range?.high ?? healthAfter
    highs.push(healthHigh)
    const { policy, id } = r
    const before = r.healthBefore
    if (collateralAfter === r.state.collateral && debtAfter === r.state.debt) revert("SubAccountUnchanged", id)
    const { minHealth, targetHealth: target } = policy
    // The band's top is the stop's exitHealth while it is engaged (r.stop > 1n).
    const maxHealth = r.stop > 1n ? r.stop : policy.maxHealth
    // The amount caps charge the net position change at the pre-trade price, not the gross flows (review 4 of issue 10).
    const price = r.state.price
    const moved = collateralValue(distance(collateralAfter, r.state.collateral), price) + distance(debtAfter, r.state.debt)
    const cap = policy.maxAmountPerRebalance
    // Cap-bound rescue (issue 13): due from below the band, its move counted up to the honest move for the health it
    // reached (rr13v V1, V2) at least 99 % of the cap, and when it swaps the buffers' or the sale's rescue alone (rr13w
    // W1), it may land below the band.
    const counted = (at: bigint): boolean =>
      isCapBoundMove(moved, honestMoveCaps(r.state, at, r.swapped, big(policy.maxSlippageBps), maxLossBps).honest, cap) &&
      capBoundHonest(r.state, at, r.swapped, cap)
    // Cap-bound in-band rescue (stop 66): due inside the band below the target (rescueBelowTarget, no stop engaged:
    // `r.stop` <= 1), the same counted move and honesty, it may land under the in-band zone's low edge.
    const capBound = r.due && (before < minHealth || (r.stop <= 1n && before < target)) && counted(healthAfter)
    // Cap-bound boost (issue 13, stop 65): due from above the band with no stop held (`r.stop` 0), the same counted move
    // and honesty, it may land above the band, at least MIN_BAND_GAP under where it was. Judged at the high end of an
    // Aave health range (review rv65b F1): a boost's honest move shrinks as its landing rises, the strict side.
    const capBoundBoost = r.due && r.stop === 0n && before > policy.maxHealth && counted(healthHigh)
    // Under minHealth only a cap-bound step from below the band is exempt (review rv66 F2: one cap-bound from in band
    // that falls under minHealth is HealthOutOfBand, as the module names it).
    if ((healthAfter < minHealth && !(capBound && before < minHealth)) || (healthHigh > maxHealth && !capBoundBoost))
      revert("HealthOutOfBand", id, healthHigh > maxHealth ? healthHigh : healthAfter, minHealth, maxHealth)
    if (r.due) {
      let [low, high] = landingZone(before, minHealth, target, policy.maxHealth)
      // Engaged: [before + MIN_BAND_GAP, exitHealth], from below the band also above the ordinary lower bound.
      if (r.stop > 1n) {
        low = max(before < minHealth ? low : 0n, before + MIN_BAND_GAP)
        high = maxHealth
      }
      // Cap-bound from below the band or the target: the low edge drops to before + MIN_BAND_GAP (below the zone's high
      // edge, which is >= target).
      if (capBound) low = min(low, before + MIN_BAND_GAP)
      // Cap-bound from above: the high edge rises to before - MIN_BAND_GAP (above the zone's low edge, which is <= target).
      if (capBoundBoost) high = max(high, before - MIN_BAND_GAP)
      if (healthAfter < low || healthHigh > high) revert("HealthOutsideLandingZone", id, healthHigh > high ? healthHigh : healthAfter, low, high)
    } else {
      const further = [healthAfter, healthHigh].find((x) => distance(x, target) > distance(before, target))
      if (further !== undefined) revert("HealthFurtherFromTarget", id, before, further)
      if ((before < target && healthHigh > target) || (before > target && healthAfter < target))
        revert("HealthCrossedTarget", id, before, before < target ? healthHigh : healthAfter, target)
    }
    if ((!policy.boostAllowed || r.stop !== 0n) && healthAfter < before) revert("HealthDecreased", id, before, healthAfter)
    r.moved = moved
    // A not-due sub-account moves by at most its distance to its target (a health-neutral move of any size would pad
    // the loss allowance and spend its amount caps), and is charged only for how much nearer its target it got, at
    // most its move (a one-sided move is charged in full).
    if (!r.due) {
      const bound = distanceToTarget(r.state, target)
      if (moved > bound) revert("NotDueMoveExceedsDistance", id, moved, bound)
      // Nor may it grow (collateral and debt both up, NotDueGrowth): honest not-due moves give or take, never both.
      if (collateralAfter > r.state.collateral && debtAfter > r.state.debt) revert("NotDueGrowth", id)
      const distanceAfter = distanceToTarget({ ...r.state, collateral: collateralAfter, debt: debtAfter }, target)
      r.moved = distanceAfter >= bound ? 0n : min(moved, bound - distanceAfter)
    }
    if (moved > cap) revert("AmountCapExceeded", id, moved, cap)
    if (moved * BPS < collateralValue(r.state.collateral, price) * MIN_MATERIAL_CHANGE_BPS) revert("SubAccountUnchanged", id)
    return { id, due: r.due, healthBefore: before, healthAfter, collateralAfter, debtAfter, moved: r.moved, lossPpb: 0n }
  })

  /* LOSS (RebalanceLib._settle, _loss) */
  // Each token's net change (idle, pooled, in every listed position; debt negative), the loan token 1:1 and each
  // collateral token at the listed price least favourable to the plan: an outflow at the highest, an inflow at the
  // lowest, of the runs whose collateral of it changed or that swap it (tenth to thirteenth reviews: no list order and
  // no move between markets of one token books a gain, a donor's oracle does not value another market's sale, and a
  // seller's always values its own).
  const after = holdings()
  const netUnits = (token: string): bigint => {
    let units = 0n
    after.forEach((slot, k) => {
      if (same(slot.token, token)) units += slot.amount - (before[k] as { amount: bigint }).amount
    })
    runs.forEach((r, k) => {
      const res = results[k] as RuleSubAccountResult
      if (same(r.state.collateralToken, token)) units += res.collateralAfter - r.state.collateral
      if (same(r.state.loanToken, token)) units -= res.debtAfter - r.state.debt
    })
    return units
  }
  let net = netUnits(loanToken)
  runs.forEach((r, i) => {
    const token = r.state.collateralToken
    if (same(token, loanToken) || runs.slice(0, i).some((x) => same(x.state.collateralToken, token))) return
    const units = netUnits(token)
    const [low, high] = priceRange(token, results.map((res) => res.collateralAfter))
    net += units >= 0n ? collateralValue(units, low) : -mulDivUp(-units, high, PRICE_SCALE)
    // A swap never books a gain (RebalanceLib._swapGain, thirteenth review): what the token's swaps fetched beyond
    // what they gave, at the price its net change is valued at, is taken back.
    const price = units >= 0n ? low : high
    let got = 0n
    let gave = 0n
    for (const x of runs) {
      if (x.swapped === 0n || !same(x.state.collateralToken, token)) continue
      if (x.sold) {
        got += x.swapOutput
        gave += mulDivUp(x.swapped, price, x.state.price)
      } else {
        got += collateralValue(x.swapOutput, price)
        gave += x.swapped
      }
    }
    if (got > gave) net -= got - gave
  })
  const loss = net < 0n ? -net : 0n
  // Only due positions' moves count toward the allowance, each side at its own price up to maxMoveToHealth at the
  // plan's maxLossBps (issue 10 item 4); its charge is its net move up to what the most move-intensive honest plan to
  // the same health is charged (RebalanceLib._counted).
  let intoCounted = 0n
  let outCounted = 0n
  runs.forEach((r, k) => {
    const res = results[k] as RuleSubAccountResult
    if (!r.due) return
    const cb = collateralValue(r.state.collateral, r.state.price)
    const ca = collateralValue(res.collateralAfter, r.state.price)
    let into = 0n
    let out = 0n
    if (ca > cb) into = ca - cb
    else out = cb - ca
    if (res.debtAfter < r.state.debt) into += r.state.debt - res.debtAfter
    else out += res.debtAfter - r.state.debt
    // The swap path counts only for the value the plan swaps on it (thirteenth review): up to the collateral-only cap
    // plus that, at most the swap path's cap; charged up to the collateral-only cap plus twice it, at most the swap
    // cap x (2 - loss). `undefined` (INFINITE_HEALTH) is unbounded.
    const { cap, honest } = honestMoveCaps(r.state, res.healthAfter, r.swapped, big(r.policy.maxSlippageBps), maxLossBps)
    intoCounted += cap === undefined ? into : min(into, cap)
    outCounted += cap === undefined ? out : min(out, cap)
    if (honest !== undefined) r.moved = min(r.moved, honest)
    res.moved = r.moved
  })
  const moved = max(intoCounted, outCounted)
  if (loss * BPS > moved * maxLossBps) revert("ValueLossExceeded", loss, moved, maxLossBps)

  /* EPOCH (RebalanceLib._recordUsage) */
  // Each changed sub-account is charged its share of the operation's gas and loss, pro rata to its net position change,
  // rounded up (the shares never sum below the whole): padding another's rescue with a tiny move on a not-due
  // sub-account charges it only a tiny share, so it cannot fill its budgets and stall its own later rescue.
  const totalMoved = runs.reduce((sum, r) => sum + r.moved, 0n)
  const share = (whole: bigint, r: Run): bigint => (totalMoved === 0n ? whole : mulDivUp(whole, r.moved, totalMoved))
  runs.forEach((r, k) => {
    const { policy, id } = r
    const usage = r.sub.usage
    const epoch = timestamp / big(policy.epochLength)
    const fresh = big(usage.epoch) !== epoch
    const amount = (fresh ? 0n : usage.amountMoved) + r.moved
    // Only a due sub-account spends a rebalance (and starts its cooldown); its amount, gas and loss count either way.
    const count = (fresh ? 0n : big(usage.rebalances)) + (r.due ? 1n : 0n)
    const gas = (fresh ? 0n : big(usage.gasUsed)) + share(params.gasUsed, r)
    const ppb = lossPpbOf(share(loss, r), r.state)
    const lossPpb = (fresh ? 0n : big(usage.lossPpb)) + ppb
    if (amount > policy.maxAmountPerEpoch) revert("EpochAmountCapExceeded", id, amount, policy.maxAmountPerEpoch)
    if (count > big(policy.maxRebalancesPerEpoch)) revert("EpochRebalanceCapExceeded", id, count, big(policy.maxRebalancesPerEpoch))
    if (gas > policy.maxGasPerEpoch) revert("EpochGasCapExceeded", id, gas, policy.maxGasPerEpoch)
    const budget = big(policy.maxEpochLossBps) * PPB_PER_BPS
    if (lossPpb > budget) revert("EpochLossBudgetExceeded", id, lossPpb, budget)
    // RebalanceLib `_checkStopExitShare` (review rr13s S4): an exit due only by the engaged stop (health at or above
    // minHealth) may bring each counter to at most half its cap (rounded down); the other half is kept for rescues. So
    // may a cap-bound boost that lands above the band (issue 13, stop 65, SECURITY.md row 154; with no stop, only a
    // cap-bound boost lands there).
    const exitShare = r.stop > r.healthBefore && r.healthBefore >= policy.minHealth
    const capBoundBoostShare = r.stop === 0n && (highs[k] as bigint) > policy.maxHealth
    // So may a cap-bound in-band rescue (stop 66, SECURITY.md row 155, review rv66): due inside the band below the target
    // with no stop engaged, landing under its in-band zone (judged at an Aave range's low end: the share where it may apply).
    const before = r.healthBefore
    const inBandShare =
      r.due && r.stop <= 1n && before >= policy.minHealth && before < policy.targetHealth &&
      (results[k] as RuleSubAccountResult).healthAfter < landingZone(before, policy.minHealth, policy.targetHealth, policy.maxHealth)[0]
    if (exitShare || capBoundBoostShare || inBandShare) {
      const half = (cap: bigint): bigint => cap / 2n
      if (amount > half(policy.maxAmountPerEpoch)) revert("EpochAmountCapExceeded", id, amount, half(policy.maxAmountPerEpoch))
      if (count > half(big(policy.maxRebalancesPerEpoch))) revert("EpochRebalanceCapExceeded", id, count, half(big(policy.maxRebalancesPerEpoch)))
      if (gas > half(policy.maxGasPerEpoch)) revert("EpochGasCapExceeded", id, gas, half(policy.maxGasPerEpoch))
      if (lossPpb > half(budget)) revert("EpochLossBudgetExceeded", id, lossPpb, half(budget))
    }
    ;(results[k] as RuleSubAccountResult).lossPpb = ppb
  })
  return { ok: true, loss, moved, maxLossBps, subAccounts: results }
}

/**
 * RebalanceLib._flowTally: per asset slot (0: the loan token; then each listed collateral token), base units, what the
 * plan's venue and swap actions take from the Safe's wallet (`spent`: repayments, each capped at the debt it meets in
 * execution order, the pre-trade debt plus the plan's borrows on the sub-account before it less its repayments before;
 * collateral supplies; swap inputs), what they bring into it (`received`: borrows, collateral withdrawals, swap outputs
 * at their on-chain minimum), what the plan deposits into pools of the asset (`deposited`) and the part of `received`
 * a deposit may park (`fundable`: the borrows of sub-accounts due above their band, a boost's; nothing else, rr10b).
 */
function inflowTally(
  runs: readonly { state: RuleMarketState; policy: RulePolicy; boost: boolean }[],
  actions: readonly { kind: ActionKind; subAccount: number; amount: bigint }[],
  slots: readonly number[],
  count: number,
): { spent: bigint; received: bigint; deposited: bigint; fundable: bigint }[] {
  const flows = Array.from({ length: count }, () => ({ spent: 0n, received: 0n, deposited: 0n, fundable: 0n }))
  const loan = flows[0] as (typeof flows)[number]
  const debtNow = runs.map((r) => repayableOf(r.state))
  actions.forEach(({ kind, subAccount, amount }, j) => {
    const r = runs[subAccount] as (typeof runs)[number]
    const at = flows[slots[j] as number] as (typeof flows)[number]
    if (kind === "Repay" || kind === "RepayWithCallback") {
      const cleared = min(amount, debtNow[subAccount] as bigint)
      debtNow[subAccount] = (debtNow[subAccount] as bigint) - cleared
      loan.spent += cleared
    } else if (kind === "Borrow") {
      debtNow[subAccount] = (debtNow[subAccount] as bigint) + amount
      loan.received += amount
      if (r.boost) loan.fundable += amount
    } else if (kind === "SupplyCollateral" || kind === "SupplyCollateralWithCallback") {
      at.spent += amount
    } else if (kind === "WithdrawCollateral") {
      at.received += amount
    } else if (kind === "DepositToPool") {
      at.deposited += amount
    } else if (isSwap(kind)) {
      const sell = kind === "SellCollateral"
      const out = minAmountOut(big(r.policy.maxSlippageBps), r.state.price, sell, amount)
      ;(sell ? at : loan).spent += amount
      ;(sell ? loan : at).received += out
    }
  })
  return flows
}

/**
 * RebalanceLib `_repaymentOf`: what action `i` moves, base units. Its `amount`, except a `RepayWithCallback` whose `pool`
 * carries the repayment mode word {@link REPAY_PLUS_SALE_MINIMUMS} (issue 13, docs/sale-minimum-repayment.md): it
 * repays its `amount` plus the on-chain minimum output ({@link minAmountOut} at the sub-account's loaded oracle price
 * and maxSlippageBps) of each `SellCollateral` of its own sub-account inside its block (up to the `EndCallback`). The
 * plan is then judged and run as the same plan with that sum written as the amount. Callers checked the plan is well
 * formed (every callback closed).
 */
export function repaymentOf(
  actions: readonly { kind: ActionKind; subAccount: number; pool: string; amount: bigint }[],
  i: number,
  runs: readonly { state: Pick<RuleMarketState, "price">; policy: Pick<RulePolicy, "maxSlippageBps"> }[],
): bigint {
  const action = actions[i] as (typeof actions)[number]
  if (action.kind !== "RepayWithCallback" || BigInt(action.pool) !== REPAY_PLUS_SALE_MINIMUMS) return action.amount
  const r = runs[action.subAccount] as (typeof runs)[number]
  let amount = action.amount
  for (let k = i + 1; (actions[k] as (typeof actions)[number]).kind !== "EndCallback"; k++) {
    const inner = actions[k] as (typeof actions)[number]
    if (inner.kind === "SellCollateral" && inner.subAccount === action.subAccount)
      amount += minAmountOut(big(r.policy.maxSlippageBps), r.state.price, true, inner.amount)
  }
  return amount
}

/** RebalanceLib `Run.repayable`: min(debt, the adapter's maxRepayable), what the plan's repayments can clear in all. */
const repayableOf = (state: RuleMarketState): bigint => (state.repayableDebt === undefined ? state.debt : min(state.debt, state.repayableDebt))

const UINT32_MAX = 4_294_967_295n
/**
 * RebalanceLib._lossPpb: `loss` in ppb of the pre-trade equity (the adapter's `MarketState.equity`; derived from the
 * fields when the state has none, as Morpho Blue's), rounded up, capped at uint32 max (no equity: the cap).
 */
export function lossPpbOf(loss: bigint, state: RuleMarketState): bigint {
  if (loss === 0n) return 0n
  const equity = state.equity ?? collateralValue(state.collateral, state.price) - state.debt
  if (equity <= 0n) return UINT32_MAX
  return min(mulDivUp(loss, PPB, equity), UINT32_MAX)
}
