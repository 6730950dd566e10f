import { type Address, type Chain, type Client, type Hex, type Transport, encodeFunctionData, erc20Abi, maxUint256, parseAbi, zeroAddress } from "viem"
import type { LeverageDeployment } from "../constants/deployments.js"
import { AaveDustDisableUnhealthyError, AaveDustIsMarketCollateralError, AaveDustNotCollateralError, AaveDustZeroLtvCollateralKeptError } from "../errors/aaveDust.js"
import { type AaveEModeCategory, aaveBaseValue, aaveCollateralIds, aaveHealthFactor, aaveReserveEModeTerms } from "../rules/planRules.js"
import { aaveReadAbi } from "./aaveReadAbi.js"
import { readMany, requireResult, resultOf } from "./multicall.js"

/** The owner's fix (Aave v3.0.2 Pool); the reads are {@link aaveReadAbi}'s. */
const poolWriteAbi = parseAbi(["function setUserUseReserveAsCollateral(address asset, bool useAsCollateral)"])

const WAD = 10n ** 18n

/**
 * Gas one dust collateral reserve adds to every keeper operation of an Aave Safe (measured on Aave v3.0.2, break-it
 * review of issue 10, `modules/test/attacks/AaveBrk10.t.sol`: an honest rescue cost 656,118 gas with no dust and
 * 1,575,184 with 24 dust reserves, (1,575,184 - 656,118) / 24 = 38,294 per reserve: Aave's `getUserAccountData` loop
 * and the adapter's `_weightedCollateral` loop each walk it, twice per operation).
 */
export const AAVE_DUST_GAS_PER_RESERVE = 38_294n

/** Default dust threshold: 1 USD in Aave v3's base currency (USD, 8 decimals): a reserve worth less is dust. */
export const AAVE_DUST_THRESHOLD_BASE = 100_000_000n

/** One reserve an Aave v3 account uses as collateral, as read by {@link readAaveCollateralReserves}. */
export type AaveCollateralReserve = {
  /** The underlying asset. */
  asset: Address
  reserveId: number
  /** The Safe's aToken balance, base units of the asset; undefined when the read failed. */
  balance: bigint | undefined
  /** Aave oracle price, base currency units per whole token (USD: 8 decimals); undefined when the read failed. */
  price: bigint | undefined
  /** `ReserveConfigurationMap.data` (decimals bits 48-55, liquidation threshold bits 16-31, bps). */
  configuration: bigint
}

/** A collateral reserve that is dust: outside the Safe's markets and worth less than the threshold. */
export type AaveDustReserve = {
  asset: Address
  reserveId: number
  /** aToken balance, base units of the asset. */
  balance: bigint
  /** Value in Aave's base currency units (`balance x price / 10^decimals`, Aave's own rounding down). */
  valueBase: bigint
  /** Liquidation threshold, bps (what the reserve adds to the account's health). */
  liquidationThresholdBps: bigint
}

const decimalsOf = (configuration: bigint) => Number((configuration >> 48n) & 0xffn)
const thresholdOf = (configuration: bigint) => (configuration >> 16n) & 0xffffn
const ltvOf = (configuration: bigint) => configuration & 0xffffn

/**
 * The account's e-mode as Aave v3.0.2's GenericLogic weighs a collateral ({@link AaveEModeCategory}): `category`
 * (`getUserEMode`, 0: none), the category's liquidation threshold (bps) and, when the category has a price source, the
 * oracle's price of it (base currency units per whole token).
 */
export type AaveAccountEMode = AaveEModeCategory & { liquidationThresholdBps: bigint; price?: bigint | undefined }

/**
 * A removed reserve as Aave counts it in the account's health ({@link aaveReserveEModeTerms}, the SDK rule book's e-mode
 * weighting): a reserve of the account's e-mode category at the category's liquidation threshold (bps) and, when the
 * category has a price source, valued at its price (base currency units, `aaveBaseValue`); any other at its own
 * threshold and value.
 */
export function aaveDustAsCounted(reserve: AaveDustReserve, configuration: bigint, eMode: AaveAccountEMode | undefined): AaveDustReserve {
  const terms = aaveReserveEModeTerms(configuration, eMode)
  if (!terms.inCategory) return reserve
  const valueBase = eMode?.price !== undefined ? aaveBaseValue(reserve.balance, eMode.price, decimalsOf(configuration)) : reserve.valueBase
  return { ...reserve, valueBase, liquidationThresholdBps: terms.liquidationThresholdBps }
}

/** Value of `balance` in Aave's base currency as `GenericLogic` counts it: the rule book's `aaveBaseValue`. */
export { aaveBaseValue }

/**
 * The dust among an account's collateral reserves: not one of `marketCollaterals` (the Safe's Aave sub-accounts'
 * collateral assets) and worth less than `thresholdBase` (base currency units). A reserve whose balance or price is
 * unknown is not judged dust (nothing to say about it).
 *
 * @returns The dust reserves, in the order of `reserves`.
 */
export function aaveDustOf(reserves: readonly AaveCollateralReserve[], { marketCollaterals, thresholdBase = AAVE_DUST_THRESHOLD_BASE }: { marketCollaterals: readonly Address[]; thresholdBase?: bigint | undefined }): AaveDustReserve[] {
  const market = new Set(marketCollaterals.map((a) => a.toLowerCase()))
  return reserves.flatMap((r) => {
    if (market.has(r.asset.toLowerCase()) || r.balance === undefined || r.price === undefined) return []
    const valueBase = aaveBaseValue(r.balance, r.price, decimalsOf(r.configuration))
    return valueBase < thresholdBase ? [{ asset: r.asset, reserveId: r.reserveId, balance: r.balance, valueBase, liquidationThresholdBps: thresholdOf(r.configuration) }] : []
  })
}

/**
 * The account's health factor (WAD) once `removed` no longer count as collateral, by Aave v3.0.2's own arithmetic
 * ({@link aaveHealthFactor}, shared with the SDK rule book): the remaining total collateral and threshold-weighted sum,
 * the average threshold floored to whole bps AFTER the removal (review brk17c F3), then percentMul / wadDiv half up.
 * The weighted sum before is `weightedCollateralBase` when given (sum of value x threshold over the account's
 * collaterals as Aave counts them, e-mode aware: Aave's exact figure), else `totalCollateralBase x
 * currentLiquidationThreshold` (Aave's floored average, at most the exact sum): a lower bound of Aave's health after.
 *
 * @param account - `getUserAccountData`'s totalCollateralBase, totalDebtBase (base currency units),
 * currentLiquidationThreshold (bps), and optionally the exact weighted sum (base currency x bps).
 * @param removed - The reserves switched off, as Aave counts them ({@link aaveDustAsCounted}).
 * @returns Health factor (WAD); `maxUint256` without debt, 0 without collateral left.
 */
export function aaveHealthAfterDisable(
  account: { totalCollateralBase: bigint; totalDebtBase: bigint; currentLiquidationThreshold: bigint; weightedCollateralBase?: bigint | undefined },
  removed: readonly Pick<AaveDustReserve, "valueBase" | "liquidationThresholdBps">[],
): bigint {
  if (account.totalDebtBase === 0n) return maxUint256
  let total = account.totalCollateralBase
  let weighted = account.weightedCollateralBase ?? account.totalCollateralBase * account.currentLiquidationThreshold
  for (const r of removed) {
    total -= r.valueBase
    weighted -= r.valueBase * r.liquidationThresholdBps
  }
  if (total <= 0n || weighted <= 0n) return 0n
  return aaveHealthFactor({ totalCollateral: total, weightedCollateral: weighted, totalDebt: account.totalDebtBase })
}

/**
 * The exact threshold-weighted collateral of an Aave v3 account (base currency x bps) from its collateral reserves, as
 * GenericLogic sums it (a reserve's own threshold 0 skipped; e-mode aware, {@link aaveDustAsCounted}), or undefined when
 * a balance or price is unknown or the sum does not reproduce `getUserAccountData` (total and floored average).
 */
function aaveWeightedCollateral(all: readonly AaveCollateralReserve[], eMode: AaveAccountEMode | undefined, account: { totalCollateralBase: bigint; currentLiquidationThreshold: bigint }): bigint | undefined {
  let total = 0n
  let weighted = 0n
  for (const r of all) {
    if (r.balance === undefined || r.price === undefined) return undefined
    if (thresholdOf(r.configuration) === 0n) continue
    const own: AaveDustReserve = { asset: r.asset, reserveId: r.reserveId, balance: r.balance, valueBase: aaveBaseValue(r.balance, r.price, decimalsOf(r.configuration)), liquidationThresholdBps: thresholdOf(r.configuration) }
    const counted = aaveDustAsCounted(own, r.configuration, eMode)
    total += counted.valueBase
    weighted += counted.valueBase * counted.liquidationThresholdBps
  }
  if (total !== account.totalCollateralBase || total === 0n || weighted / total !== account.currentLiquidationThreshold) return undefined
  return weighted
}

export type ReadAaveCollateralReservesParameters = {
  /** The deployment whose `adapters.aaveV3` names the pool; `multicall3` when the chain has one. */
  deployment: Pick<LeverageDeployment, "adapters" | "multicall3">
  /** The account (the Safe). */
  safe: Address
  blockNumber?: bigint | undefined
  /** The pool, when already known (else the adapter's `POOL()`). */
  pool?: Address | undefined
  /** `getUserConfiguration(safe).data`, when already read at `blockNumber`. */
  userConfiguration?: bigint | undefined
  /** Reserves (underlying assets) not to read past their address: e.g. the markets' collaterals, read elsewhere. */
  exclude?: readonly Address[] | undefined
}

/**
 * Every reserve an Aave v3 account uses as collateral (user configuration bit `2 x id + 1`): its asset
 * (`getReserveAddressById`), configuration and aToken (`getReserveData`), the Safe's aToken balance and the pool
 * oracle's price. Up to five batched rounds; none past the user configuration when it has no collateral outside `exclude`.
 *
 * @returns The reserves, by ascending id; `[]` without an Aave adapter, or when the pool or configuration cannot be read.
 */
export async function readAaveCollateralReserves(client: Client<Transport, Chain | undefined>, parameters: ReadAaveCollateralReservesParameters): Promise<AaveCollateralReserve[]> {
  const { deployment, safe, blockNumber } = parameters
  const adapter = deployment.adapters.aaveV3
  if (adapter === undefined) return []
  const read = (contracts: Parameters<typeof readMany>[2]) => readMany(client, deployment, contracts, blockNumber)
  const pool = parameters.pool ?? resultOf<Address>((await read([{ address: adapter, abi: aaveReadAbi, functionName: "POOL" }]))[0])
  if (pool === undefined) return []
  let userConfiguration = parameters.userConfiguration
  if (userConfiguration === undefined) userConfiguration = resultOf<{ data: bigint }>((await read([{ address: pool, abi: aaveReadAbi, functionName: "getUserConfiguration", args: [safe] }]))[0])?.data
  if (userConfiguration === undefined) return []
  const ids = aaveCollateralIds(userConfiguration)
  if (ids.length === 0) return []
  const first = await read([{ address: pool, abi: aaveReadAbi, functionName: "ADDRESSES_PROVIDER" }, ...ids.map((id) => ({ address: pool, abi: aaveReadAbi, functionName: "getReserveAddressById", args: [id] }) as const)])
  const provider = resultOf<Address>(first[0])
  const excluded = new Set((parameters.exclude ?? []).map((a) => a.toLowerCase()))
  const listed = ids.flatMap((reserveId, k) => {
    const asset = resultOf<Address>(first[1 + k])
    return asset === undefined || excluded.has(asset.toLowerCase()) ? [] : [{ reserveId, asset }]
  })
  if (listed.length === 0) return []
  const second = await read([
    ...(provider === undefined ? [] : [{ address: provider, abi: aaveReadAbi, functionName: "getPriceOracle" } as const]),
    ...listed.map(({ asset }) => ({ address: pool, abi: aaveReadAbi, functionName: "getReserveData", args: [asset] }) as const),
  ])
  const oracle = provider === undefined ? undefined : resultOf<Address>(second[0])
  const data = listed.map((_, k) => resultOf<{ configuration: { data: bigint }; aTokenAddress: Address }>(second[(provider === undefined ? 0 : 1) + k]))
  const known = listed.flatMap((l, k) => {
    const d = data[k]
    return d === undefined ? [] : [{ ...l, configuration: d.configuration.data, aToken: d.aTokenAddress }]
  })
  const third = await read([
    ...known.map((r) => ({ address: r.aToken, abi: erc20Abi, functionName: "balanceOf", args: [safe] }) as const),
    ...(oracle === undefined ? [] : known.map((r) => ({ address: oracle, abi: aaveReadAbi, functionName: "getAssetPrice", args: [r.asset] }) as const)),
  ])
  return known.map((r, k) => ({
    asset: r.asset,
    reserveId: r.reserveId,
    configuration: r.configuration,
    balance: resultOf<bigint>(third[k]),
    price: oracle === undefined ? undefined : resultOf<bigint>(third[known.length + k]),
  }))
}

/**
 * The dust collateral of an Aave v3 account ({@link aaveDustOf} over {@link readAaveCollateralReserves}): reserves used
 * as collateral outside `marketCollaterals` and worth less than `thresholdBase` (default {@link AAVE_DUST_THRESHOLD_BASE}).
 * Anyone can make a reserve so by sending the Safe 1 wei of its aToken (Aave v3.0.2 enables it as collateral on
 * receipt when the Safe held none, its LTV is not 0 and it has no debt ceiling); each one costs every keeper operation
 * about {@link AAVE_DUST_GAS_PER_RESERVE} gas. Only the owner can switch it off ({@link buildAaveDustCollateralDisable}).
 */
export async function readAaveDustCollateral(
  client: Client<Transport, Chain | undefined>,
  parameters: Omit<ReadAaveCollateralReservesParameters, "exclude"> & { marketCollaterals: readonly Address[]; thresholdBase?: bigint | undefined },
): Promise<AaveDustReserve[]> {
  const reserves = await readAaveCollateralReserves(client, { ...parameters, exclude: parameters.marketCollaterals })
  return aaveDustOf(reserves, parameters)
}

/** A call the owner's Safe transaction (or owner-lane UserOperation) makes: `Pool.setUserUseReserveAsCollateral(asset, false)`. */
export type AaveCollateralDisableCall = { to: Address; value: 0n; data: Hex }

export type BuildAaveDustCollateralDisableParameters = {
  deployment: Pick<LeverageDeployment, "adapters" | "multicall3">
  safe: Address
  /**
   * The Safe's Aave sub-accounts (e.g. `getSubAccountState` results): their collateral assets are never switched off,
   * and the health after must stay at or above the highest of their policies' `minHealth` (WAD).
   */
  subAccounts: readonly { collateralToken: Address; policy: { minHealth: bigint } }[]
  /** The reserves to switch off; default: the dust {@link readAaveDustCollateral} finds at `thresholdBase`. */
  assets?: readonly Address[] | undefined
  thresholdBase?: bigint | undefined
  blockNumber?: bigint | undefined
}

/**
 * Builds the owner's fix for dust collateral: one `Pool.setUserUseReserveAsCollateral(asset, false)` call per reserve,
 * to send from the Safe as an owner (a Safe transaction, e.g. protocol-kit `createTransaction({ transactions })`, or the
 * owner lane's UserOperation); the keeper cannot. Aave then stops counting the reserve (its aToken stays in the Safe).
 *
 * @throws {AaveDustIsMarketCollateralError} an asset is a sub-account's collateral.
 * @throws {AaveDustNotCollateralError} an asset is not used as collateral by the Safe.
 * @throws {AaveDustZeroLtvCollateralKeptError} a reserve with LTV > 0 would be switched off while a collateral with LTV 0
 * stays enabled (Aave refuses it, "57"); LTV-0 reserves are otherwise switched off first.
 * @throws {ReadFailedError} a read it needs failed in its batch (the adapter's `POOL()`, the pool's `getUserAccountData`,
 * `getUserEMode`, `getEModeCategoryData`, the e-mode category's price through `ADDRESSES_PROVIDER` / `getPriceOracle` /
 * `getAssetPrice`): named by contract and function; read again at a later block.
 * @throws {AaveDustDisableUnhealthyError} the account's health factor after ({@link aaveHealthAfterDisable}: Aave's
 * arithmetic, its average threshold floored after the removal, from `getUserAccountData` and the reserves' values,
 * e-mode aware: {@link aaveDustAsCounted}) would be below the highest `minHealth` of `subAccounts` AND below the
 * health before (same arithmetic) or below 1: a switch-off that does not lower the health is built even on an
 * account already below its band (worthless dust; Aave accepts it at health >= 1).
 * @returns The calls (empty when there is no dust), the reserves they switch off, and the health after (WAD).
 */
export async function buildAaveDustCollateralDisable(
  client: Client<Transport, Chain | undefined>,
  { deployment, safe, subAccounts, assets, thresholdBase, blockNumber }: BuildAaveDustCollateralDisableParameters,
): Promise<{ calls: AaveCollateralDisableCall[]; reserves: AaveDustReserve[]; healthAfter: bigint }> {
  const adapter = deployment.adapters.aaveV3
  if (adapter === undefined) return { calls: [], reserves: [], healthAfter: maxUint256 }
  const marketCollaterals = subAccounts.map((s) => s.collateralToken)
  const market = new Set(marketCollaterals.map((a) => a.toLowerCase()))
  for (const asset of assets ?? []) if (market.has(asset.toLowerCase())) throw new AaveDustIsMarketCollateralError({ asset })
  // A read needed here that fails in its batch throws ReadFailedError (requireResult): the caller reads again later.
  const poolCall = { address: adapter, abi: aaveReadAbi, functionName: "POOL" } as const
  const pool = requireResult<Address>((await readMany(client, deployment, [poolCall], blockNumber))[0], poolCall)
  const accountCall = { address: pool, abi: aaveReadAbi, functionName: "getUserAccountData", args: [safe] } as const
  const eModeCall = { address: pool, abi: aaveReadAbi, functionName: "getUserEMode", args: [safe] } as const
  const [accountRead, eModeRead] = await readMany(client, deployment, [accountCall, eModeCall], blockNumber)
  const account = requireResult<readonly [bigint, bigint, bigint, bigint, bigint, bigint]>(accountRead, accountCall)
  const category = requireResult<bigint>(eModeRead, eModeCall)
  // Aave v3.0.2 GenericLogic weighs a collateral of the account's e-mode category at the category's threshold, valued
  // at the category's price source when it has one: the removed reserves are taken out the same way.
  let eMode: AaveAccountEMode | undefined
  if (category !== 0n) {
    const categoryCall = { address: pool, abi: aaveReadAbi, functionName: "getEModeCategoryData", args: [Number(category)] } as const
    const providerCall = { address: pool, abi: aaveReadAbi, functionName: "ADDRESSES_PROVIDER" } as const
    const [categoryRead, providerRead] = await readMany(client, deployment, [categoryCall, providerCall], blockNumber)
    const data = requireResult<{ liquidationThreshold: number; priceSource: Address }>(categoryRead, categoryCall)
    let price: bigint | undefined
    if (data.priceSource.toLowerCase() !== zeroAddress) {
      const oracleCall = { address: requireResult<Address>(providerRead, providerCall), abi: aaveReadAbi, functionName: "getPriceOracle" } as const
      const oracle = requireResult<Address>((await readMany(client, deployment, [oracleCall], blockNumber))[0], oracleCall)
      const priceCall = { address: oracle, abi: aaveReadAbi, functionName: "getAssetPrice", args: [data.priceSource] } as const
      price = requireResult<bigint>((await readMany(client, deployment, [priceCall], blockNumber))[0], priceCall)
    }
    eMode = { category, liquidationThresholdBps: BigInt(data.liquidationThreshold), price }
  }
  // Every collateral reserve of the account, the markets' too (their LTV matters to the order of the calls).
  const all = await readAaveCollateralReserves(client, { deployment, safe, blockNumber, pool })
  let reserves: AaveDustReserve[]
  if (assets === undefined) reserves = aaveDustOf(all, { marketCollaterals, thresholdBase })
  else
    reserves = assets.map((asset) => {
      const r = all.find((x) => x.asset.toLowerCase() === asset.toLowerCase())
      if (r === undefined) throw new AaveDustNotCollateralError({ asset })
      // Value unknown (a read failed): counted as the whole threshold-weighted collateral would be too optimistic;
      // counted at the account's entire collateral instead (the health check then refuses unless there is no debt).
      const valueBase = r.balance !== undefined && r.price !== undefined ? aaveBaseValue(r.balance, r.price, decimalsOf(r.configuration)) : account[0]
      return { asset: r.asset, reserveId: r.reserveId, balance: r.balance ?? 0n, valueBase, liquidationThresholdBps: thresholdOf(r.configuration) }
    })
  const configurationOf = (asset: Address) => all.find((x) => x.asset.toLowerCase() === asset.toLowerCase())?.configuration ?? 0n
  // Aave v3.0.2's validateHFAndLtv refuses ("57") to switch off a reserve with LTV > 0 while the account still uses a
  // collateral with LTV 0 (and a threshold): the LTV-0 reserves go first, and an LTV-0 collateral kept enabled refuses
  // the whole batch.
  const disabled = new Set(reserves.map((r) => r.asset.toLowerCase()))
  const withLtv = reserves.filter((r) => ltvOf(configurationOf(r.asset)) !== 0n)
  const keptZeroLtv = all.filter((r) => !disabled.has(r.asset.toLowerCase()) && ltvOf(r.configuration) === 0n && thresholdOf(r.configuration) !== 0n)
  if (withLtv.length > 0 && keptZeroLtv.length > 0) throw new AaveDustZeroLtvCollateralKeptError({ assets: withLtv.map((r) => r.asset), zeroLtv: keptZeroLtv.map((r) => r.asset) })
  reserves = [...reserves.filter((r) => ltvOf(configurationOf(r.asset)) === 0n), ...withLtv]
  const counted = reserves.map((r) => aaveDustAsCounted(r, configurationOf(r.asset), eMode))
  // Aave's exact weighted sum when every reserve was read (and reproduces getUserAccountData), else its lower bound.
  const totals = { totalCollateralBase: account[0], totalDebtBase: account[1], currentLiquidationThreshold: account[3], weightedCollateralBase: aaveWeightedCollateral(all, eMode, { totalCollateralBase: account[0], currentLiquidationThreshold: account[3] }) }
  const healthAfter = aaveHealthAfterDisable(totals, counted)
  const healthBefore = aaveHealthAfterDisable(totals, [])
  const minHealth = subAccounts.reduce((m, s) => (s.policy.minHealth > m ? s.policy.minHealth : m), 0n)
  // Refused: a switch-off that leaves the account below its band AND lowers its health (or leaves it liquidatable);
  // on an account already below its band, one that does not lower the health (worthless dust) is built (brk17c F4).
  if (reserves.length > 0 && healthAfter < minHealth && (healthAfter < healthBefore || healthAfter < WAD))
    throw new AaveDustDisableUnhealthyError({ healthAfter, minHealth, healthBefore, assets: reserves.map((r) => r.asset) })
  const calls = reserves.map((r) => ({ to: pool, value: 0n as const, data: encodeFunctionData({ abi: poolWriteAbi, functionName: "setUserUseReserveAsCollateral", args: [r.asset, false] }) }))
  return { calls, reserves, healthAfter }
}
