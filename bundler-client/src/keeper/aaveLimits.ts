import { type Address, type Chain, type Client, type Hex, type Transport, erc20Abi, isAddressEqual, zeroAddress } from "viem"
import type { SubAccountState as ChainSubAccount } from "@levpilot/sdk/actions"
import type { LeverageDeployment } from "@levpilot/sdk/deployments"
import { type AaveBaseFigures, type AaveEModeCategory, aaveCollateralIds, aaveCollateralOf, aaveFirstSupplyEnablesCollateral, aaveInIsolationMode, aaveOnlyCollateralId, aaveReserveEModeTerms, aaveWithdrawBlockedByZeroLtv } from "@levpilot/sdk/rules"
import { type AaveCollateralShare, type AaveDustReserve, aaveReadAbi, readAaveCollateralConfigurations, readAaveDustCollateral, readMany, resultOf } from "@levpilot/sdk/utils"

/** What an Aave v3 reserve takes now, base units of its asset; `undefined`: no limit. */
export type AaveReserveLimits = {
  /** Variable-rate borrows it can still lend: min(available liquidity, borrow-cap room); 0 when inactive, paused, frozen or borrowing is off. */
  borrowable: bigint
  /** Supplies it still accepts: the supply-cap room (undefined without a cap); 0 when inactive, paused or frozen. */
  suppliable: bigint | undefined
  /** Withdrawals it can pay: its available liquidity; 0 when inactive or paused. */
  withdrawable: bigint
  /** Repayments: 0 when inactive or paused (a frozen reserve still takes them); undefined otherwise. */
  repayable: bigint | undefined
  /**
   * What a flash loan of this reserve can take now (the adapter's `AaveFlashLoanRouter`, `flashLoanSimple`): its free
   * liquidity, the underlying's balance of the aToken; 0 when the reserve is inactive, paused or has flash loans
   * disabled (Aave's `validateFlashloanSimple`; a frozen reserve still lends flash). Above it the router reverts
   * `FlashLiquidityShort(asset, amount, available)` (or the pool `RESERVE_PAUSED` / `FLASHLOAN_DISABLED`).
   */
  flashable: bigint
}

/** One reserve as read from the chain (Aave v3.0.2). */
export type AaveReserveRead = {
  /** `ReserveConfigurationMap.data`. */
  configuration: bigint
  /** The underlying's balance of the aToken: Aave v3.0.2's available liquidity. */
  availableLiquidity: bigint
  /** `aToken.totalSupply()` (scaled supply x the current liquidity index). */
  aTokenSupply: bigint
  /** `ReserveData.accruedToTreasury` (scaled) and `liquidityIndex` (RAY): the treasury's share counts in the supply cap. */
  accruedToTreasury: bigint
  liquidityIndex: bigint
  /** Variable + stable debt tokens' total supply (what the borrow cap counts). */
  totalDebt: bigint
  /**
   * The reserve's debt at its last update, at most (the variable debt token's `scaledTotalSupply()` x the stored
   * `variableBorrowIndex`, plus the stable debt token's principal from `getSupplyData()`): at the next update (the
   * operation's inclusion) Aave's `_accrueToTreasury` adds the reserve factor's share of `debt - debtAtLastUpdate` to
   * `accruedToTreasury` before `validateSupply` counts it in the supply cap. Undefined: that share is not counted.
   */
  debtAtLastUpdate?: bigint | undefined
}

const RAY = 10n ** 27n

/**
 * What a cap's room keeps back for interest accrued between the read and the operation's inclusion, in basis points of
 * what the cap counts (the total debt for the borrow cap, the supply for the supply cap): Aave checks both caps on the
 * amounts accrued to the including block (`nextVariableBorrowIndex`, `nextLiquidityIndex`), so a borrow or supply of
 * the whole room read one block earlier reverts (BORROW_CAP_EXCEEDED "50", SUPPLY_CAP_EXCEEDED "51") at any positive
 * rate. 1 bps covers a 300% APR for 17 minutes, longer than an operation waits before the keeper plans it again on a
 * fresh read (`resubmitAfterBlocks`).
 */
export const AAVE_CAP_ACCRUAL_MARGIN_BPS = 1n

/** `counted` grown by {@link AAVE_CAP_ACCRUAL_MARGIN_BPS}, rounded up (what a cap counts at inclusion, at most). */
const accrued = (counted: bigint) => counted + (counted * AAVE_CAP_ACCRUAL_MARGIN_BPS + 9_999n) / 10_000n
const bit = (data: bigint, n: number) => ((data >> BigInt(n)) & 1n) === 1n
const bits = (data: bigint, from: number, width: number) => (data >> BigInt(from)) & ((1n << BigInt(width)) - 1n)

/**
 * What an Aave v3 reserve takes now, from its configuration bitmap (`ReserveConfiguration.sol`: decimals bits 48-55,
 * active 56, frozen 57, borrowing enabled 58, paused 60, borrow cap 80-115 and supply cap 116-151 in whole tokens) and
 * its balances, as Aave's `ValidationLogic` checks them (flash loans enabled: bit 63): a borrow needs an active, unpaused, unfrozen reserve with
 * borrowing on, `totalDebt + amount <= borrowCap` and the liquidity to pay it out; a supply an active, unpaused,
 * unfrozen reserve and `(scaledSupply + accruedToTreasury) x index + amount <= supplyCap`; withdraw and repay an active,
 * unpaused reserve; a flash loan an active, unpaused reserve with flash loans enabled and the liquidity to lend it.
 * The supply cap also counts the treasury's share (reserve factor) of the debt interest since the reserve's last update
 * (`debtAtLastUpdate`), which the including block's updateState adds to `accruedToTreasury` before validating.
 * Both caps are checked at inclusion on accrued amounts: their room keeps {@link AAVE_CAP_ACCRUAL_MARGIN_BPS} of what
 * they count back.
 *
 * @returns {@link AaveReserveLimits}, base units.
 */
export function aaveReserveLimits(r: AaveReserveRead): AaveReserveLimits {
  const c = r.configuration
  const decimals = bits(c, 48, 8)
  const unit = 10n ** decimals
  const active = bit(c, 56)
  const frozen = bit(c, 57)
  const borrowing = bit(c, 58)
  const paused = bit(c, 60)
  const flashLoans = bit(c, 63)
  const borrowCap = bits(c, 80, 36)
  const supplyCap = bits(c, 116, 36)
  if (!active || paused) return { borrowable: 0n, suppliable: 0n, withdrawable: 0n, repayable: 0n, flashable: 0n }
  const room = (cap: bigint, used: bigint) => (cap * unit > used ? cap * unit - used : 0n)
  let borrowable = frozen || !borrowing ? 0n : r.availableLiquidity
  if (borrowCap !== 0n) {
    const capRoom = room(borrowCap, accrued(r.totalDebt))
    if (capRoom < borrowable) borrowable = capRoom
  }
  // The treasury's share of the debt interest since the reserve's last update, minted to `accruedToTreasury` by the
  // including block's updateState before validateSupply (`percentMul(debtNow - debtAtLastUpdate, reserveFactor)`, bits
  // 64-79): it grows with the time since the reserve was last touched, beyond what the accrual margin keeps back. Up
  // to the accrued debt, rounded up, plus a wei for the ray roundings.
  const reserveFactor = bits(c, 64, 16)
  const interest = r.debtAtLastUpdate === undefined ? 0n : accrued(r.totalDebt) - r.debtAtLastUpdate
  const pendingTreasury = interest > 0n ? (interest * reserveFactor + 9_999n) / 10_000n + 1n : 0n
  const supplied = r.aTokenSupply + (r.accruedToTreasury * r.liquidityIndex) / RAY + pendingTreasury
  const suppliable = frozen ? 0n : supplyCap === 0n ? undefined : room(supplyCap, accrued(supplied))
  return { borrowable, suppliable, withdrawable: r.availableLiquidity, repayable: undefined, flashable: flashLoans ? r.availableLiquidity : 0n }
}

/** Whether Aave enables a first supply of a reserve as collateral: the SDK rule book's own reading (@levpilot/sdk/rules). */
export { aaveFirstSupplyEnablesCollateral }

/** One account's `getUserAccountData` (Aave v3.0.2, base currency units of the pool's oracle, 8 decimals in USD pools). */
export type AaveAccountRead = {
  /** The account's debt across reserves (base currency). */
  totalDebtBase: bigint
  /** `totalCollateralBase x avgLtv - totalDebtBase` (percentMul, half up), 0 when below: what Aave still lends (base currency). */
  availableBorrowsBase: bigint
}

/**
 * What Aave v3.0.2 still lends the account against its LTV, in base units of the debt asset, rounded down: its
 * `availableBorrowsBase` less what the including block may take back, converted at Aave's own price of the debt asset
 * (`IPriceOracleGetter.getAssetPrice`, base currency per whole token; the e-mode category's price source for an account
 * in a category the asset belongs to). Aave refuses a borrow above it (`ValidationLogic.validateBorrow`:
 * COLLATERAL_CANNOT_COVER_NEW_BORROW, "36") whatever the health factor, since the LTV is below the liquidation threshold
 * (WBTC 73% / 78%: no borrow reaches a health below 1.0685). Kept back: the debt's accrual to inclusion,
 * {@link AAVE_CAP_ACCRUAL_MARGIN_BPS} of `totalDebtBase` rounded up, and one base unit for the half-up `percentMul` of
 * the collateral and the `percentDiv` in validateBorrow. 0 when the price is 0 or nothing is left.
 *
 * @param account - The account's {@link AaveAccountRead}.
 * @param debtPrice - Aave's price of one whole debt token (base currency units).
 * @param debtDecimals - The debt asset's decimals.
 * @returns Debt-asset base units a borrow can take now.
 */
export function aaveLtvBorrowable(account: AaveAccountRead, debtPrice: bigint, debtDecimals: number): bigint {
  if (debtPrice <= 0n) return 0n
  const keep = (account.totalDebtBase * AAVE_CAP_ACCRUAL_MARGIN_BPS + 9_999n) / 10_000n + 1n
  if (account.availableBorrowsBase <= keep) return 0n
  // floor(room x unit / price): Aave values the borrow at floor(price x amount / unit), never above the room.
  return ((account.availableBorrowsBase - keep) * 10n ** BigInt(debtDecimals)) / debtPrice
}

/**
 * The most a borrow on an Aave sub-account can take BEFORE any supply of the plan (a plain or one-pass borrow): its debt
 * reserve's `borrowable` (liquidity, borrow cap, frozen) and, when read, the account's LTV room (`ltvBorrowable`,
 * {@link aaveLtvBorrowable}). Base units of the debt asset. A borrow after a supply of the same plan (a flash-looped
 * boost's callback) has more room: `ltvBorrowable + aaveLtvRoomChange(ltvGain, supplied)` ({@link aaveLtvRoomChange}).
 */
export function aaveBorrowableOf(l: AaveSubAccountLimits): bigint {
  return l.ltvBorrowable !== undefined && l.ltvBorrowable < l.debt.borrowable ? l.ltvBorrowable : l.debt.borrowable
}

/** Why Aave v3.0.2's `validateBorrow` caps a borrow of the sub-account's debt asset below its reserve's and LTV room. */
export type AaveBorrowRefusal =
  /** The account is in isolation mode and the debt asset is not borrowable in isolation (config bit 61; Aave "60" ASSET_NOT_BORROWABLE_IN_ISOLATION). */
  | "isolation-not-borrowable"
  /** The account is in isolation mode: the isolated collateral's debt ceiling room bounds the borrow (Aave "53" DEBT_CEILING_EXCEEDED above it). */
  | "isolation-ceiling"
  /** Siloed borrowing (config bit 62): the account borrows a siloed asset other than this one, or has debt and this one is siloed (Aave "89" SILOED_BORROWING_VIOLATION). */
  | "siloed"
  /** The account's e-mode category is not the debt asset's (config bits 168-175; Aave "58" INCONSISTENT_EMODE_CATEGORY). */
  | "emode"
  /**
   * The pool's price oracle sentinel (`PoolAddressesProvider.getPriceOracleSentinel()`, L2 deployments) answers
   * `isBorrowAllowed() == false` (sequencer down or in its grace period): every borrow is refused (Aave "59"
   * PRICE_ORACLE_SENTINEL_CHECK_FAILED); repay, supply and withdraw are not gated.
   */
  | "sentinel"

/**
 * What Aave v3.0.2 lends an account in ISOLATION MODE (its only collateral has a debt ceiling) of a debt asset, base
 * units of the debt asset (`ValidationLogic.validateBorrow`): 0 unless the asset is borrowable in isolation (bit 61,
 * else "60"); else the largest `amount` with `isolationModeTotalDebt + floor(amount / 10^(decimals - 2)) <= debtCeiling`
 * (bits 212-251, and the collateral reserve's `isolationModeTotalDebt`, both in USD with 2 decimals; else "53"), i.e.
 * `(room + 1) x 10^(decimals - 2) - 1`, 0 when the ceiling is filled and nothing is left, and for a debt asset below 2
 * decimals (Aave's `10 ** (decimals - 2)` underflows: every borrow reverts). The total does not accrue interest.
 *
 * @param debtConfiguration - The debt reserve's `ReserveConfigurationMap.data`.
 * @param collateralConfiguration - The isolated collateral reserve's `ReserveConfigurationMap.data`.
 * @param isolationModeTotalDebt - The isolated collateral reserve's `ReserveData.isolationModeTotalDebt` (USD, 2 decimals).
 * @returns Debt-asset base units; 0 when Aave refuses any borrow.
 * @example aaveIsolationBorrowable(usdcBorrowableInIsolation, wbtcCeiling10k, 999_999n) // 19_999n (0.019999 USDC)
 */
export function aaveIsolationBorrowable(debtConfiguration: bigint, collateralConfiguration: bigint, isolationModeTotalDebt: bigint): bigint {
  if (!bit(debtConfiguration, 61)) return 0n
  const decimals = bits(debtConfiguration, 48, 8)
  if (decimals < 2n) return 0n
  const ceiling = bits(collateralConfiguration, 212, 40)
  if (isolationModeTotalDebt > ceiling) return 0n
  return (ceiling - isolationModeTotalDebt + 1n) * 10n ** (decimals - 2n) - 1n
}

/**
 * Whether Aave v3.0.2's siloed-borrowing rule lets the account borrow the debt reserve (`validateBorrow` with
 * `UserConfiguration.getSiloedBorrowingState`, "89"): an account with no debt borrows anything; an account borrowing
 * exactly one reserve that is siloed (config bit 62) borrows only that reserve; any other account with debt (one
 * unsiloed reserve, or several) borrows only an unsiloed reserve.
 *
 * @param userConfiguration - `getUserConfiguration(account).data` (reserve `id` borrowing bit `2 x id`).
 * @param debtId - The debt reserve's id; `debtConfiguration` its `ReserveConfigurationMap.data`.
 * @param configurationOf - `ReserveConfigurationMap.data` by reserve id (undefined when unknown).
 * @returns undefined when the configuration of the account's only borrowed reserve is unknown.
 */
export function aaveSiloedBorrowAllowed(userConfiguration: bigint, debtId: number, debtConfiguration: bigint, configurationOf: (id: number) => bigint | undefined): boolean | undefined {
  const borrowed = aaveBorrowedIds(userConfiguration)
  if (borrowed.length === 0) return true
  if (borrowed.length === 1) {
    const only = borrowed[0] as number
    const c = only === debtId ? debtConfiguration : configurationOf(only)
    if (c === undefined) return undefined
    if (bit(c, 62)) return only === debtId
  }
  return !bit(debtConfiguration, 62)
}

/** The ids of the reserves an Aave v3 account borrows (UserConfiguration.sol: bit `2 x id`), ascending. */
export function aaveBorrowedIds(userConfiguration: bigint): number[] {
  const ids: number[] = []
  for (let id = 0, b = userConfiguration; b !== 0n; id++, b >>= 2n) if ((b & 1n) === 1n) ids.push(id)
  return ids
}

/**
 * Whether Aave v3.0.2's e-mode rule lets the account borrow the debt reserve (`validateBorrow`, "58"): an account in
 * category `userEMode` (not 0) borrows only reserves of that category (config bits 168-175).
 *
 * @param userEMode - `Pool.getUserEMode(account)`.
 * @param debtConfiguration - The debt reserve's `ReserveConfigurationMap.data`.
 */
export function aaveEModeBorrowAllowed(userEMode: bigint, debtConfiguration: bigint): boolean {
  return userEMode === 0n || bits(debtConfiguration, 168, 8) === userEMode
}

/**
 * The bound Aave v3.0.2's account rules put on a borrow of the debt reserve beyond its reserve limits and the LTV room
 * (the price oracle sentinel, {@link aaveSiloedBorrowAllowed}, {@link aaveEModeBorrowAllowed}, {@link aaveIsolationBorrowable},
 * in Aave's order of checks: the sentinel first, then isolation, then e-mode, then siloed): undefined when none binds or
 * the data is unknown.
 *
 * @returns `bound` in debt-asset base units (0: Aave refuses any borrow) and the rule's `reason`.
 */
export function aaveBorrowRuleBound(p: {
  debtId: number
  debtConfiguration: bigint
  userConfiguration: bigint
  configurationOf: (id: number) => bigint | undefined
  /** `getUserEMode(account)`; undefined when the read failed (the rule is then not applied). */
  userEMode: bigint | undefined
  /** The isolated collateral when the account is in isolation mode: its configuration and `isolationModeTotalDebt`; undefined otherwise. */
  isolated: { configuration: bigint; isolationModeTotalDebt: bigint } | undefined
  /** The price oracle sentinel's `isBorrowAllowed()`: false refuses every borrow; undefined or true: no sentinel binds. */
  borrowAllowed?: boolean | undefined
}): { bound: bigint; reason: AaveBorrowRefusal } | undefined {
  if (p.borrowAllowed === false) return { bound: 0n, reason: "sentinel" }
  if (p.isolated !== undefined) {
    const bound = aaveIsolationBorrowable(p.debtConfiguration, p.isolated.configuration, p.isolated.isolationModeTotalDebt)
    if (bound === 0n) return { bound, reason: bit(p.debtConfiguration, 61) ? "isolation-ceiling" : "isolation-not-borrowable" }
  }
  if (p.userEMode !== undefined && !aaveEModeBorrowAllowed(p.userEMode, p.debtConfiguration)) return { bound: 0n, reason: "emode" }
  if (aaveSiloedBorrowAllowed(p.userConfiguration, p.debtId, p.debtConfiguration, p.configurationOf) === false) return { bound: 0n, reason: "siloed" }
  if (p.isolated !== undefined) return { bound: aaveIsolationBorrowable(p.debtConfiguration, p.isolated.configuration, p.isolated.isolationModeTotalDebt), reason: "isolation-ceiling" }
  return undefined
}

/**
 * What a supply (or withdrawal) of an Aave sub-account's collateral reserve does to the account's LTV room, the inputs
 * of {@link aaveLtvRoomChange}. Aave's validateBorrow counts every collateral the account holds at the moment of the
 * borrow: a borrow inside a flash-looped boost's callback (`SupplyCollateralWithCallback { Borrow, BuyCollateral }`)
 * has the pre-plan room plus the supplied collateral's value at its LTV.
 */
export type AaveLtvGain = {
  /**
   * The LTV (bps) at which a supply of the collateral reserve counts in the account's room: the e-mode category's LTV
   * when the market pins a category and the reserve belongs to it, else the reserve's own (ReserveConfiguration bits
   * 0-15); 0 when a supply would not count as collateral (switched off, a first supply Aave does not enable).
   */
  ltvBps: bigint
  /** Aave's price of one whole collateral token (base currency; the e-mode category's price source when in it). */
  collateralPrice: bigint
  collateralDecimals: number
  /** Aave's price of one whole debt token (base currency), as in {@link aaveLtvBorrowable}. */
  debtPrice: bigint
  debtDecimals: number
  /** The account's `totalCollateralBase` before the plan (what the average LTV's floor division can lose a bps of). */
  totalCollateralBase: bigint
}

/**
 * How much a plan's net collateral move `delta` (base units of the collateral reserve; > 0 a supply, < 0 a withdrawal)
 * changes what Aave v3.0.2 lends the account at a later borrow of the same plan, in base units of the debt asset,
 * rounded against the account. Aave values the account's collateral at `floor(balance x price / unit)` and its room at
 * `percentMul(totalCollateral, avgLtv) - debt` with `avgLtv = floor(sum(value_i x ltv_i) / totalCollateral)`: a supply
 * adds its value at its LTV (`ltvBps` of `floor((delta - 1) x price / unit)`, a wei for the aToken's ray rounding) less
 * what the average's floor can lose on the new total (1 bps of it, rounded up) and two base units, converted at the debt
 * asset's price, rounded down; a withdrawal takes the same, rounded up. 0 at LTV 0 or a zero price. The pre-plan room
 * and its margin are {@link aaveLtvBorrowable}'s.
 *
 * @param gain - {@link AaveLtvGain}.
 * @param delta - Collateral supplied (negative: withdrawn) before the borrow, base units.
 * @returns Debt-asset base units (negative for a withdrawal).
 * @example aaveLtvRoomChange({ ltvBps: 8_000n, collateralPrice: 3_000n * 10n ** 8n, collateralDecimals: 18, debtPrice: 10n ** 8n, debtDecimals: 6, totalCollateralBase: 30_000n * 10n ** 8n }, 10n ** 18n) // ~2,399.99 USDC
 */
export function aaveLtvRoomChange(gain: AaveLtvGain, delta: bigint): bigint {
  if (delta === 0n || gain.ltvBps === 0n || gain.debtPrice <= 0n || gain.collateralPrice <= 0n) return 0n
  const cUnit = 10n ** BigInt(gain.collateralDecimals)
  const dUnit = 10n ** BigInt(gain.debtDecimals)
  if (delta > 0n) {
    const value = ((delta - 1n) * gain.collateralPrice) / cUnit
    const weighted = (value * gain.ltvBps) / 10_000n
    const slack = (gain.totalCollateralBase + value + 9_999n) / 10_000n + 2n
    return weighted > slack ? ((weighted - slack) * dUnit) / gain.debtPrice : 0n
  }
  const value = ((-delta + 1n) * gain.collateralPrice + cUnit - 1n) / cUnit
  const weighted = (value * gain.ltvBps + 9_999n) / 10_000n
  const slack = (gain.totalCollateralBase + 9_999n) / 10_000n + 2n
  return -(((weighted + slack) * dUnit + gain.debtPrice - 1n) / gain.debtPrice)
}

type ReserveData = { configuration: { data: bigint }; liquidityIndex: bigint; variableBorrowIndex: bigint; id: number; aTokenAddress: Address; stableDebtTokenAddress: Address; variableDebtTokenAddress: Address; accruedToTreasury: bigint; isolationModeTotalDebt: bigint }

const poolOf = new Map<string, Address>()
/** The pool's addresses provider (immutable in Aave v3's Pool), by pool address. */
const providerOf = new Map<string, Address>()

/**
 * Per Aave sub-account (lower-case id): its debt reserve's and its collateral reserve's limits, and `repayableDebt`,
 * the most a repayment clears (the adapter's `maxRepayable`, the module's own bound: the debt reserve's variable debt
 * of the Safe, while the sub-account's `debt` is its debt across reserves; undefined when the read failed). Base units.
 * `liquidationIncentiveFactor`: the adapter's (WAD), i.e. the collateral reserve's live `liquidationBonus` (its e-mode
 * category's when it is in it), what a liquidator earns on the debt it repays; undefined when the read failed.
 */
export type AaveSubAccountLimits = {
  debt: AaveReserveLimits
  collateral: AaveReserveLimits
  repayableDebt: bigint | undefined
  liquidationIncentiveFactor?: bigint | undefined
  /**
   * The pool's `FLASHLOAN_PREMIUM_TOTAL` (bps), what the adapter's flash-loan router pays on a callback block's flash
   * (premium = `percentMul(amount, bps)`, half up); undefined when the read failed (then no swap lane is quoted).
   */
  flashPremiumBps?: bigint | undefined
  /**
   * The Safe's aToken balance of the scope's collateral reserve as Aave counts it in the health factor: the balance
   * while the reserve is enabled as collateral for the Safe (user configuration bit `2 x id + 1`), 0 when it is switched
   * off (`usageAsCollateralEnabled` false: it counts nothing and the adapter refuses to move it, `CollateralNotEnabled`).
   * The most a withdrawal (and the sale it funds) of that reserve can take: the sub-account's `collateral` is the
   * threshold-weighted collateral of every reserve of the account, above this when it holds several. Base units;
   * undefined when the read failed (then nothing bounds it but `collateral`).
   */
  collateralHeld?: bigint | undefined
  /**
   * True when the scope's collateral reserve is the Safe's only collateral (no other collateral bit in
   * `getUserConfiguration`): Aave's average liquidation threshold is then the market's exactly and is not floored. False
   * when another reserve is enabled as collateral (even dust: review rr17c F1, a few ppb of the account at a lower
   * threshold floors the average a whole bps below the market's); undefined when the user configuration or the reserve
   * was not read (the solver then assumes the floor, as for false).
   */
  soleCollateral?: boolean | undefined
  /**
   * What Aave still lends the account against its LTV, base units of the debt asset ({@link aaveLtvBorrowable}: the
   * Safe's `availableBorrowsBase` at Aave's price of the debt asset, rounded down, less the accrual margin); undefined
   * when a read failed (then only `debt.borrowable` bounds a borrow). A boost or donor borrow above it is refused by
   * Aave ("36") even where the health factor stays in the band. It is the room BEFORE the plan: the solver and the send
   * clamp bound each borrow by the room at that borrow, this plus what the plan supplied of the collateral before it
   * (`ltvGain`: a flash-looped boost's callback), so a boost lands at the reachable health (LT / LTV) or is skipped.
   */
  ltvBorrowable?: bigint | undefined
  /** True when `ltvBorrowable` is below the debt reserve's `borrowable`: the LTV, not the market, bounds a borrow. */
  ltvBound?: boolean | undefined
  /**
   * What a supply of the collateral reserve earlier in a plan adds to `ltvBorrowable` at a later borrow
   * ({@link AaveLtvGain}, {@link aaveLtvRoomChange}): a flash-looped boost supplies first and borrows inside the callback,
   * where Aave counts the new collateral. Undefined when a read failed (then no supply adds room).
   */
  ltvGain?: AaveLtvGain | undefined
  /**
   * The Safe's collateral reserves as the SDK's `validateRebalance` reads them, from this read (only when it was pinned
   * to a block): passed to the send so the validation at that block reads none of them again.
   */
  collateralShare?: AaveCollateralShare | undefined
  /**
   * The Safe's dust collateral (the same on every Aave sub-account of the Safe: one Aave account): reserves it uses as
   * collateral outside its sub-accounts' collateral assets and worth less than the dust threshold (`readAaveDustCollateral`
   * of @levpilot/sdk/utils). Each costs every operation ~`AAVE_DUST_GAS_PER_RESERVE` gas; only the owner can switch it
   * off. `[]`: none; undefined: not known (a read failed).
   */
  dustCollateral?: AaveDustReserve[] | undefined
  /**
   * The Aave account rule that bounds a borrow of the debt asset below the reserve's room ({@link aaveBorrowRuleBound}:
   * isolation mode's borrowable flag and debt ceiling, e-mode category, siloed borrowing), with that bound (debt-asset
   * base units, 0 when Aave refuses any borrow); `debt.borrowable` is already cut to it. Undefined: none binds or the
   * reads failed.
   */
  borrowRefusal?: { bound: bigint; reason: AaveBorrowRefusal } | undefined
  /**
   * The account's figures in Aave's base currency ({@link AaveBaseFigures} of @levpilot/sdk/rules, `frameCollateral`
   * the lens's `collateral` the caller passed, read at the same block): getUserAccountData's totals and floored average, Aave's prices of both reserves (e-mode price
   * source aware), their decimals, the Safe's collateral balance as counted and its variable debt (only when the debt
   * reserve has no stable debt at all). With them the rule book reads Aave's factor after a plan in Aave's own integer
   * math (review r17f: accounts of a few USD were misread a whole bps). Only from a read pinned to a block (the lens's
   * frame is read there too); undefined when a read failed.
   */
  aaveBase?: AaveBaseFigures | undefined
  /**
   * Set when a read this sub-account's limits need failed: what did not answer and what is held, the text of the degraded
   * `aave-limits` read the caller records. Either (review rr11h H4) a reserve read the limits cannot do without (its
   * `getReserveData`, liquidity, aToken or variable debt supply, or the adapter's market): the limits are then
   * {@link aaveUnreadLimits}' "lend nothing" fallback (`debt.borrowable` 0, nothing else bound, no flash premium, no
   * bonus); or (review rr11i H4-a) only the DEBT reserve's stable supply (`getSupplyData`) under a borrow cap: its
   * borrow-cap room is unknown, so `debt.borrowable` is 0, and every other figure is the one read (flash premium, so the
   * swap lane; bonus; `repayableDebt`; `collateralHeld`; the LTV room; each reserve's other limits). Undefined: every
   * figure that bounds this sub-account was read (a collateral reserve's unread stable supply bounds nothing it does).
   */
  unread?: string | undefined
}

/** What {@link aaveUnreadLimits} holds, the end of its `unread` message (the degraded record's text). */
const UNREAD_HOLDS = "lend-nothing limits, so no borrow is planned on this Aave sub-account (and no flash premium, so no swap lane; no liquidation bonus)"

/** What an Aave reserve takes when its limits are unknown: no bound (uint128 max, the width of Aave's own figures). */
export const UNREAD_AAVE_BOUND = 2n ** 128n - 1n

/**
 * The limits of an Aave sub-account whose reserves could not be read (reviews rr11g G2, rr11h H4): no Aave borrow
 * (`debt.borrowable` 0: a donor or boost borrow sized past what the reserve lends reverts, item 8), nothing else bound
 * (repayments, withdrawals and flash loans: revert-only, as before), no flash premium (so no swap lane), no liquidation
 * bonus (so the worst case).
 *
 * @param unread - Why the limits are unknown ({@link AaveSubAccountLimits.unread}).
 */
export function aaveUnreadLimits(unread: string): AaveSubAccountLimits {
  const open = { borrowable: UNREAD_AAVE_BOUND, suppliable: undefined, withdrawable: UNREAD_AAVE_BOUND, repayable: undefined, flashable: UNREAD_AAVE_BOUND }
  return { debt: { ...open, borrowable: 0n }, collateral: open, repayableDebt: undefined, unread }
}

/**
 * The Safe's balance of one Aave reserve as collateral (aToken balance and user configuration bitmap): the SDK rule
 * book's own reading (`aaveCollateralOf`, @levpilot/sdk/rules), so the keeper's clamp and the SDK's check of a plan
 * bound a withdrawal by the same `collateralHeld`.
 */
export { aaveCollateralOf }

/**
 * Reads the limits of every Aave v3 sub-account of `safe` (the policy's adapter is `deployment.adapters.aaveV3`): the
 * market id decoded by the adapter (`marketParams`), what a repayment clears (`maxRepayable(market, safe)`) and the
 * liquidation incentive (`liquidationIncentiveFactor(market)`); with each reserve's `getReserveData`, the pool's flash
 * premium (`FLASHLOAN_PREMIUM_TOTAL`), the Safe's user configuration (`getUserConfiguration`) and `getUserAccountData`,
 * the pool's oracle, its price oracle sentinel (`getPriceOracleSentinel`) and each e-mode category's data (LTV, price
 * source); then the sentinel's `isBorrowAllowed()` (false: `borrowRefusal` "sentinel", no borrow lendable), the aToken's underlying balance, its supply
 * and the Safe's balance of it (`collateralHeld`), the debt tokens' supply and the debt at the reserve's last update
 * (variable `totalSupply` and `scaledTotalSupply`, stable `getSupplyData`: principal and supply), and Aave's price of each
 * debt and collateral asset (`ltvBorrowable`, `ltvGain`). Three batched rounds (five the first time, for the adapter's
 * pool and the pool's addresses provider; two more when the Safe holds a collateral outside its sub-accounts' reserves),
 * each at `blockNumber` when given (the snapshot's block: what `collateralShare` is stamped with).
 * Sub-accounts on other venues are left out. An Aave sub-account whose reserve reads fail (in full or in part) gets
 * {@link aaveUnreadLimits} (no Aave borrow) with `unread` set, never "no limit" (review rr11h H4). A failed stable-debt
 * read (`getSupplyData`) is taken as 0 where that is sound: the reserve has no stable debt token (address 0), or no
 * borrow cap (its total debt then bounds nothing the keeper plans; the supply cap's pending-treasury share is then not
 * counted, as for any unread `debtAtLastUpdate`). Under a borrow cap only that reserve's `borrowable` is unknown: it is
 * held at 0 and its other limits kept (review rr11i H4-a); a sub-account borrowing that reserve gets `unread` naming it
 * and keeps every other figure, one holding it as collateral is not marked.
 *
 * @returns Limits by lower-case sub-account id; `{}` without an Aave sub-account (no RPC request).
 */
export async function readAaveLimits(
  client: Client<Transport, Chain | undefined>,
  deployment: LeverageDeployment,
  chain: ChainSubAccount[],
  safe: Address,
  blockNumber?: bigint | undefined,
  options: {
    /** Dust threshold, Aave base currency units (default `AAVE_DUST_THRESHOLD_BASE`: 1 USD at 8 decimals). */
    dustThresholdBase?: bigint | undefined
  } = {},
): Promise<Record<string, AaveSubAccountLimits>> {
  const adapter = deployment.adapters.aaveV3
  if (adapter === undefined) return {}
  const subs = chain.filter((s) => isAddressEqual(s.policy.adapter, adapter))
  if (subs.length === 0) return {}
  if (!poolOf.has(adapter)) {
    const [r] = await readMany(client, deployment, [{ address: adapter, abi: aaveReadAbi, functionName: "POOL" } as const])
    const pool = resultOf<Address>(r)
    if (!pool) return Object.fromEntries(subs.map((s) => [s.subAccount.toLowerCase(), aaveUnreadLimits(`the adapter's POOL() did not answer: ${UNREAD_HOLDS}`)]))
    poolOf.set(adapter, pool)
  }
  const pool = poolOf.get(adapter) as Address
  if (!providerOf.has(pool)) {
    const [r] = await readMany(client, deployment, [{ address: pool, abi: aaveReadAbi, functionName: "ADDRESSES_PROVIDER" } as const])
    const provider = resultOf<Address>(r)
    if (provider) providerOf.set(pool, provider)
  }
  const provider = providerOf.get(pool)
  const read = (contracts: Parameters<typeof readMany>[2]) => readMany(client, deployment, contracts, blockNumber)
  const params = await read(
    subs.flatMap((s) => [
      { address: adapter, abi: aaveReadAbi, functionName: "marketParams", args: [s.policy.market as Hex] } as const,
      { address: adapter, abi: aaveReadAbi, functionName: "maxRepayable", args: [s.policy.market as Hex, safe] } as const,
      { address: adapter, abi: aaveReadAbi, functionName: "liquidationIncentiveFactor", args: [s.policy.market as Hex] } as const,
    ]),
  )
  const pairs = subs.map((_, i) => resultOf<readonly [Address, Address, number]>(params[3 * i]))
  const categories = [...new Set(pairs.flatMap((p) => (p && p[2] !== 0 ? [p[2]] : [])))]
  const assets = [...new Set(pairs.flatMap((p) => (p ? [p[0].toLowerCase(), p[1].toLowerCase()] : [])))] as Address[]
  // One round for what only needs the markets: the premium (read from the pool at every snapshot, the pool admin can
  // change it), the Safe's user configuration and account data (its LTV room), the pool's oracle, each market's e-mode
  // category (its LTV and price source) and every reserve's data.
  const second = await read([
    { address: pool, abi: aaveReadAbi, functionName: "FLASHLOAN_PREMIUM_TOTAL" } as const,
    { address: pool, abi: aaveReadAbi, functionName: "getUserConfiguration", args: [safe] } as const,
    { address: pool, abi: aaveReadAbi, functionName: "getUserAccountData", args: [safe] } as const,
    { address: provider ?? pool, abi: aaveReadAbi, functionName: "getPriceOracle" } as const,
    { address: pool, abi: aaveReadAbi, functionName: "getUserEMode", args: [safe] } as const,
    ...categories.map((c) => ({ address: pool, abi: aaveReadAbi, functionName: "getEModeCategoryData", args: [c] }) as const),
    ...assets.map((a) => ({ address: pool, abi: aaveReadAbi, functionName: "getReserveData", args: [a] }) as const),
    // The price oracle sentinel (settable by the pool's governance: read at every snapshot), asked in the next round.
    ...(provider === undefined ? [] : [{ address: provider, abi: aaveReadAbi, functionName: "getPriceOracleSentinel" } as const]),
  ])
  const [premiumRead, userConfigRead, accountRead, oracleRead, userEModeRead] = second
  const userEMode = resultOf<bigint>(userEModeRead)
  const categoryReads = second.slice(5, 5 + categories.length)
  const data = second.slice(5 + categories.length, 5 + categories.length + assets.length)
  // No sentinel (address 0): borrows are not gated; unknown when the read failed (then not applied).
  const sentinel = provider === undefined ? undefined : resultOf<Address>(second[5 + categories.length + assets.length])
  const sentinelAsked = sentinel !== undefined && !isAddressEqual(sentinel, zeroAddress)
  const flashPremiumBps = resultOf<bigint>(premiumRead)
  const userConfiguration = resultOf<{ data: bigint }>(userConfigRead)?.data
  const accountData = resultOf<readonly [bigint, bigint, bigint, bigint, bigint, bigint]>(accountRead)
  const account: AaveAccountRead | undefined = accountData && { totalDebtBase: accountData[1], availableBorrowsBase: accountData[2] }
  const oracle = provider === undefined ? undefined : resultOf<Address>(oracleRead)
  const categoryData = new Map(categories.map((c, i) => [c, resultOf<{ ltv: number; priceSource: Address }>(categoryReads[i])]))
  // A market's pinned e-mode category as the SDK rule book weighs a reserve under it (aaveReserveEModeTerms).
  const eModeOf = (category: number): AaveEModeCategory => {
    const d = categoryData.get(category)
    return { category: BigInt(category), ltvBps: d === undefined ? undefined : BigInt(d.ltv), priceSource: d?.priceSource }
  }
  const repayable = subs.map((_, i) => resultOf<bigint>(params[3 * i + 1]))
  const incentives = subs.map((_, i) => resultOf<bigint>(params[3 * i + 2]))
  const reserves = assets.map((_, i) => resultOf<ReserveData>(data[i]))
  // Aave's price of an asset as validateBorrow reads it: the e-mode category's price source when the market pins a
  // category with one and the reserve is in it (ReserveConfiguration bits 168-175), else the asset's own.
  const priceAssetOf = (asset: Address, category: number): Address | undefined => {
    const r = reserves[assets.indexOf(asset.toLowerCase() as Address)]
    if (!r) return undefined
    return aaveReserveEModeTerms(r.configuration.data, eModeOf(category)).priceSource ?? asset
  }
  const priceAssets = subs.flatMap((_, i) => {
    const p = pairs[i]
    return p ? [priceAssetOf(p[1], p[2]), priceAssetOf(p[0], p[2])] : [undefined, undefined]
  })
  const priced = oracle !== undefined && account !== undefined
  // One round for the balances and Aave's prices.
  const balanceCalls = assets.flatMap((a, i) => {
    const r = reserves[i]
    if (!r) return []
    return [
      { address: a, abi: erc20Abi, functionName: "balanceOf", args: [r.aTokenAddress] } as const,
      { address: r.aTokenAddress, abi: erc20Abi, functionName: "totalSupply" } as const,
      { address: r.variableDebtTokenAddress, abi: erc20Abi, functionName: "totalSupply" } as const,
      // The Safe's own aToken balance of the reserve (what a withdrawal of it can take).
      { address: r.aTokenAddress, abi: erc20Abi, functionName: "balanceOf", args: [safe] } as const,
      // The debt at the reserve's last update (the treasury's pending share of the interest since, in the supply cap).
      { address: r.variableDebtTokenAddress, abi: aaveReadAbi, functionName: "scaledTotalSupply" } as const,
      // Stable debt: principal and total supply (the same figure as its `totalSupply()`) in one call.
      { address: r.stableDebtTokenAddress, abi: aaveReadAbi, functionName: "getSupplyData" } as const,
    ]
  })
  const third = await read([
    ...balanceCalls,
    ...(priced ? priceAssets.map((a) => ({ address: oracle, abi: aaveReadAbi, functionName: "getAssetPrice", args: [a ?? zeroAddress] }) as const) : []),
    ...(sentinelAsked ? [{ address: sentinel, abi: aaveReadAbi, functionName: "isBorrowAllowed" } as const] : []),
  ])
  const balances = third.slice(0, balanceCalls.length)
  const prices = third.slice(balanceCalls.length, balanceCalls.length + (priced ? priceAssets.length : 0))
  // Aave's validateBorrow calls the sentinel: a failed call reverts the borrow as a `false` refuses it.
  const borrowAllowed = sentinelAsked ? resultOf<boolean>(third[third.length - 1]) === true : undefined
  // Isolation mode (the Safe's only collateral has a debt ceiling) blocks a first supply's collateral too.
  const collateralConfigurations =
    userConfiguration === undefined
      ? undefined
      : await readAaveCollateralConfigurations(client, { deployment, pool, userConfiguration, blockNumber, configurationOf: (id) => reserves.find((r) => r !== undefined && Number(r.id) === id)?.configuration.data })
  const configurationOf = (id: number) => collateralConfigurations?.get(id)
  const isolationMode = userConfiguration === undefined ? undefined : aaveInIsolationMode(userConfiguration, configurationOf)
  // Aave's account rules on a borrow (isolation mode's ceiling, siloed borrowing): the isolated collateral's reserve data
  // (its `isolationModeTotalDebt`) and the configuration of the account's only borrowed reserve, read (two more rounds)
  // only when outside the sub-accounts' reserves.
  const reserveById = (id: number) => reserves.find((r) => r !== undefined && Number(r.id) === id)
  const borrowedIds = userConfiguration === undefined ? [] : aaveBorrowedIds(userConfiguration)
  const isolatedId = isolationMode === true && userConfiguration !== undefined ? aaveOnlyCollateralId(userConfiguration) : undefined
  const extraIds = [...new Set([...(isolatedId === undefined ? [] : [isolatedId]), ...(borrowedIds.length === 1 ? borrowedIds : [])])].filter((id) => reserveById(id) === undefined)
  const extra = new Map<number, ReserveData>()
  if (extraIds.length > 0) {
    const addresses = (await read(extraIds.map((id) => ({ address: pool, abi: aaveReadAbi, functionName: "getReserveAddressById", args: [id] }) as const))).map((r) => resultOf<Address>(r))
    const known = extraIds.flatMap((id, n) => (addresses[n] === undefined ? [] : [{ id, asset: addresses[n] as Address }]))
    const extraData = await read(known.map(({ asset }) => ({ address: pool, abi: aaveReadAbi, functionName: "getReserveData", args: [asset] }) as const))
    known.forEach(({ id }, n) => {
      const r = resultOf<ReserveData>(extraData[n])
      if (r) extra.set(id, r)
    })
  }
  const anyReserveById = (id: number) => reserveById(id) ?? extra.get(id)
  const isolatedReserve = isolatedId === undefined ? undefined : anyReserveById(isolatedId)
  const limits = new Map<string, AaveReserveLimits>()
  const held = new Map<string, { held: bigint; enabled: boolean }>()
  let k = 0
  // Each reserve's total stable debt (0: no account owes it stable, so a variable balance is the whole debt).
  const stableDebtOf = new Map<string, bigint>()
  // The reads that did not answer for a reserve left without limits, by asset (what its sub-accounts' `unread` names).
  const unreadReads = new Map<string, string[]>()
  // Reserves under a borrow cap whose stable supply did not answer: the cap's room is unknown, so their limits lend
  // nothing (`borrowable` 0) and keep every other figure, which the stable supply does not enter (review rr11i H4-a).
  const capRoomUnread = new Set<string>()
  assets.forEach((a, i) => {
    const r = reserves[i]
    if (!r) {
      unreadReads.set(a, ["getReserveData"])
      return
    }
    const [liquidity, supply, variable, own, scaledVariable] = [0, 1, 2, 3, 4].map((n) => resultOf<bigint>(balances[k + n]))
    // No stable debt token (address 0): no stable debt (review rr11h H4: a failed read of it is not a failed reserve).
    const stableSupply = resultOf<readonly [bigint, bigint, bigint, number]>(balances[k + 5]) ?? (isAddressEqual(r.stableDebtTokenAddress, zeroAddress) ? ([0n, 0n, 0n, 0] as const) : undefined)
    k += 6
    // Variable: scaled x the stored index (Aave's rayMul, half up); stable: its principal, below its debt at the update.
    const debtAtLastUpdate = scaledVariable === undefined || stableSupply === undefined ? undefined : (scaledVariable * BigInt(r.variableBorrowIndex) + RAY / 2n) / RAY + stableSupply[0]
    if (own !== undefined && userConfiguration !== undefined)
      held.set(a, aaveCollateralOf({ balance: own, userConfiguration, reserveId: Number(r.id), configuration: r.configuration.data, isolationMode: isolationMode ?? false }))
    if (stableSupply !== undefined) stableDebtOf.set(a, stableSupply[1])
    if (liquidity === undefined || supply === undefined || variable === undefined) {
      unreadReads.set(a, [
        ...(liquidity === undefined ? ["the underlying's balanceOf(aToken)"] : []),
        ...(supply === undefined ? ["the aToken's totalSupply"] : []),
        ...(variable === undefined ? ["the variable debt token's totalSupply"] : []),
      ])
      return
    }
    const read = aaveReserveLimits({ configuration: r.configuration.data, availableLiquidity: liquidity, aTokenSupply: supply, accruedToTreasury: r.accruedToTreasury, liquidityIndex: r.liquidityIndex, totalDebt: variable + (stableSupply?.[1] ?? 0n), debtAtLastUpdate })
    // An unread stable supply only matters to the borrow cap's room (bits 80-115): without a cap it is taken as 0; under
    // one the room is unknown and the reserve lends nothing. Its liquidity, supply-cap room (less the treasury's pending
    // share, as for any unread `debtAtLastUpdate`), withdrawals, repayments and flash loans are read all the same.
    if (stableSupply === undefined && bits(r.configuration.data, 80, 36) !== 0n) {
      capRoomUnread.add(a)
      limits.set(a, { ...read, borrowable: 0n })
    } else limits.set(a, read)
  })
  // What the SDK's validation of a plan reads of the same reserves (`readAaveCollateral`): shared, not read again.
  const collateralShare: AaveCollateralShare | undefined =
    blockNumber === undefined || userConfiguration === undefined
      ? undefined
      : {
          blockNumber,
          reserves: Object.fromEntries(
            subs.flatMap((_, i) => {
              const p = pairs[i]
              const c = p?.[0].toLowerCase()
              const own = c === undefined ? undefined : held.get(c)
              const r = c === undefined ? undefined : reserves[assets.indexOf(c as Address)]
              if (c === undefined || own === undefined || r === undefined) return []
              return [[c, { ...own, withdrawBlocked: aaveWithdrawBlockedByZeroLtv(userConfiguration, configurationOf, r.configuration.data) ?? false }]]
            }),
          ),
        }
  // Dust collateral (anyone can send the Safe 1 wei of an aToken; Aave enables it as collateral and every operation then
  // walks it): read only when the account uses a collateral outside its markets' collateral reserves (no request
  // otherwise); unknown when a market or the configuration could not be read, or the read fails.
  const marketCollaterals = pairs.flatMap((p) => (p ? [p[0]] : []))
  const marketIds = new Set(marketCollaterals.flatMap((c) => {
    const r = reserves[assets.indexOf(c.toLowerCase() as Address)]
    return r ? [Number(r.id)] : []
  }))
  const dustCollateral: AaveDustReserve[] | undefined =
    userConfiguration === undefined || pairs.some((p) => p === undefined) || marketIds.size !== new Set(marketCollaterals.map((c) => c.toLowerCase())).size
      ? undefined
      : !aaveCollateralIds(userConfiguration).some((id) => !marketIds.has(id))
        ? []
        : await readAaveDustCollateral(client, { deployment, safe, blockNumber, pool, userConfiguration, marketCollaterals, thresholdBase: options.dustThresholdBase }).catch(() => undefined)
  const out: Record<string, AaveSubAccountLimits> = {}
  subs.forEach((s, i) => {
    const p = pairs[i]
    let collateral = p && limits.get(p[0].toLowerCase())
    let debt = p && limits.get(p[1].toLowerCase())
    // Aave's account rules on a borrow of the debt asset: isolation mode ("60", "53"), e-mode ("58"), siloed ("89").
    const debtReserve = p && reserves[assets.indexOf(p[1].toLowerCase() as Address)]
    // The price oracle sentinel ("59") refuses every borrow, whatever else is known of the account.
    const borrowRule =
      debtReserve !== undefined && borrowAllowed === false
        ? { bound: 0n, reason: "sentinel" as const }
        : debtReserve === undefined || userConfiguration === undefined || (isolationMode === true && isolatedReserve === undefined)
        ? undefined
        : aaveBorrowRuleBound({
            debtId: Number(debtReserve.id),
            debtConfiguration: debtReserve.configuration.data,
            userConfiguration,
            configurationOf: (id) => anyReserveById(id)?.configuration.data,
            userEMode,
            borrowAllowed,
            isolated: isolatedReserve && { configuration: isolatedReserve.configuration.data, isolationModeTotalDebt: BigInt(isolatedReserve.isolationModeTotalDebt) },
          })
    if (debt && borrowRule && borrowRule.bound < debt.borrowable) debt = { ...debt, borrowable: borrowRule.bound }
    const own = p && held.get(p[0].toLowerCase())
    // A supply Aave would not count as collateral (held but switched off: it also counts nothing in the health factor;
    // or a first supply Aave does not enable: LTV 0, a debt ceiling, the Safe in isolation mode): the adapter refuses to
    // supply it and to withdraw a switched-off balance (CollateralNotEnabled), so the solver gets no room for either.
    if (collateral && own && !own.enabled) collateral = { ...collateral, suppliable: 0n, withdrawable: 0n }
    // Aave refuses any withdrawal of a collateral with LTV while the borrowing account also holds one with LTV 0
    // ("57" LTV_VALIDATION_FAILED): no withdrawal (donor, sale) of it is planned while the account has debt.
    const collateralConfig = p && reserves[assets.indexOf(p[0].toLowerCase() as Address)]?.configuration.data
    if (collateral && userConfiguration !== undefined && collateralConfig !== undefined && account !== undefined && account.totalDebtBase > 0n && aaveWithdrawBlockedByZeroLtv(userConfiguration, configurationOf, collateralConfig) === true)
      collateral = { ...collateral, withdrawable: 0n }
    // The account's LTV room in the debt asset (Aave refuses a borrow above it, "36"); unknown when a read failed.
    const price = priced && priceAssets[2 * i] !== undefined ? resultOf<bigint>(prices[2 * i]) : undefined
    const collateralPrice = priced && priceAssets[2 * i + 1] !== undefined ? resultOf<bigint>(prices[2 * i + 1]) : undefined
    const debtConfig = p && reserves[assets.indexOf(p[1].toLowerCase() as Address)]?.configuration.data
    const ltvBorrowable = account !== undefined && price !== undefined && debtConfig !== undefined ? aaveLtvBorrowable(account, price, Number(bits(debtConfig, 48, 8))) : undefined
    // What a supply of the collateral adds to that room at a later borrow of the same plan (a flash-looped boost's
    // callback): its LTV, e-mode aware, 0 when a supply would count nothing; unknown when a read failed.
    const ltvGain: AaveLtvGain | undefined =
      p && ltvBorrowable !== undefined && collateralPrice !== undefined && collateralConfig !== undefined && debtConfig !== undefined && own !== undefined && accountData !== undefined
        ? {
            ltvBps: own.enabled ? aaveReserveEModeTerms(collateralConfig, eModeOf(p[2])).ltvBps : 0n,
            collateralPrice,
            collateralDecimals: Number(bits(collateralConfig, 48, 8)),
            debtPrice: price as bigint,
            debtDecimals: Number(bits(debtConfig, 48, 8)),
            totalCollateralBase: accountData[0],
          }
        : undefined
    // The only collateral bit set (if any) is this reserve's: no other collateral can floor Aave's average (rr17c F1).
    const collateralId = p && reserves[assets.indexOf(p[0].toLowerCase() as Address)]?.id
    const soleCollateral = userConfiguration === undefined || collateralId === undefined ? undefined : aaveCollateralIds(userConfiguration).every((id) => id === Number(collateralId))
    // Aave's base-currency figures at the pinned block, for the rule book's exact factor after (review r17f).
    const variableDebt = repayable[i]
    const aaveBase: AaveBaseFigures | undefined =
      p && blockNumber !== undefined && accountData !== undefined && price !== undefined && collateralPrice !== undefined && collateralConfig !== undefined && debtConfig !== undefined && own !== undefined && variableDebt !== undefined && stableDebtOf.get(p[1].toLowerCase()) === 0n
        ? {
            totalCollateralBase: accountData[0],
            totalDebtBase: accountData[1],
            currentLiquidationThreshold: accountData[3],
            collateralPrice,
            collateralDecimals: Number(bits(collateralConfig, 48, 8)),
            collateralBalance: own.held,
            debtPrice: price,
            debtDecimals: Number(bits(debtConfig, 48, 8)),
            debtBalance: variableDebt,
            // The lens's frame of this sub-account (read by the caller at the same block, as `collateralShare` assumes).
            frameCollateral: s.collateral,
          }
        : undefined
    if (aaveBase !== undefined && p && collateralShare !== undefined) collateralShare.base = { ...collateralShare.base, [p[0].toLowerCase()]: aaveBase }
    // The debt reserve's borrow-cap room unread: `debt.borrowable` is already 0 (no borrow sized past an unknown cap),
    // every other figure is kept and the sub-account is marked for the degraded record. On the collateral reserve it
    // bounds nothing this sub-account does (it never borrows its collateral asset): not marked (review rr11i H4-a).
    const capUnread = p !== undefined && capRoomUnread.has(p[1].toLowerCase())
    if (collateral && debt)
      out[s.subAccount.toLowerCase()] = {
        debt,
        collateral,
        repayableDebt: repayable[i],
        liquidationIncentiveFactor: incentives[i],
        flashPremiumBps,
        collateralHeld: own?.held,
        soleCollateral,
        ltvBorrowable,
        ltvBound: ltvBorrowable !== undefined && ltvBorrowable < debt.borrowable,
        ltvGain,
        collateralShare,
        dustCollateral,
        borrowRefusal: borrowRule && borrowRule.bound <= debt.borrowable ? borrowRule : undefined,
        aaveBase,
        ...(capUnread
          ? { unread: `the debt reserve's (${p[1]}) stable debt (getSupplyData) of ${debtReserve?.stableDebtTokenAddress} did not answer under its borrow cap: its borrow-cap room is unknown, so no borrow is planned on this Aave sub-account (borrowable 0; every other figure read: flash premium, liquidation bonus, repayable debt, collateral held)` }
          : {}),
      }
    // A reserve of the market unread (a read failed in its batch): no borrow, never "no limit" (review rr11h H4).
    else {
      const what = (role: "collateral" | "debt", asset: Address) => `the ${role} reserve's (${asset}) ${(unreadReads.get(asset.toLowerCase()) ?? ["reads"]).join(", ")}`
      const unread = p === undefined ? "the adapter's marketParams" : [...(collateral ? [] : [what("collateral", p[0])]), ...(debt ? [] : [what("debt", p[1])])].join(" and ")
      out[s.subAccount.toLowerCase()] = aaveUnreadLimits(`${unread} did not answer: ${UNREAD_HOLDS}`)
    }
  })
  return out
}
