import { type Address, type Chain, type Client, type Transport, erc20Abi } from "viem"
import type { LeverageDeployment } from "../constants/deployments.js"
import { type AaveBaseFigures, aaveCollateralIds, aaveCollateralOf, aaveInIsolationMode, aaveWithdrawBlockedByZeroLtv } from "../rules/planRules.js"
import { aaveReadAbi } from "./aaveReadAbi.js"
import { readMany, resultOf } from "./multicall.js"

/**
 * What {@link readAaveCollateral} returns per collateral reserve, read elsewhere at `blockNumber` (the keeper's
 * `readAaveLimits` reads the same reserves): by lower-case collateral token. Used instead of a read when the caller
 * reads at that same block, so one send reads these reserves once.
 */
export type AaveCollateralShare = {
  /** The block the reserves were read at. */
  blockNumber: bigint
  /** By lower-case collateral token: the Safe's `held` balance (base units), `enabled`, `withdrawBlocked`. */
  reserves: Record<string, { held: bigint; enabled: boolean; withdrawBlocked: boolean }>
  /**
   * By lower-case collateral token: the Aave account's base-currency figures for the sub-account on that reserve
   * ({@link AaveBaseFigures}, `frameCollateral` the lens's frame at `blockNumber`), which `validateRebalance` hands the
   * rule book (Aave's own integer math for the health after) when its own read of that sub-account at the same block
   * shows the same frame `collateral`. Omitted: the rule book rebuilds from the frame.
   */
  base?: Record<string, AaveBaseFigures> | undefined
}

export type ReadAaveCollateralParameters = {
  /** The deployment whose `adapters.aaveV3` names the pool (`POOL()`); `multicall3` when the chain has one. */
  deployment: Pick<LeverageDeployment, "adapters" | "multicall3">
  /** The account (the Safe). */
  safe: Address
  /** The collateral reserves (underlying token addresses), one per Aave sub-account. */
  collaterals: readonly Address[]
  /** Block to read at (the latest by default). */
  blockNumber?: bigint | undefined
  /**
   * The same reserves already read ({@link AaveCollateralShare}): used, with no request, when it was read at
   * `blockNumber` and covers every entry of `collaterals`; otherwise ignored and the reserves are read.
   */
  shared?: AaveCollateralShare | undefined
}

/**
 * The `ReserveConfigurationMap.data` of every reserve an Aave v3 account uses as collateral ({@link aaveCollateralIds}),
 * by reserve id: from `configurationOf` where known, else read (`getReserveAddressById`, then `getConfiguration`; two
 * batched rounds, none when every one is known). What isolation mode ({@link aaveInIsolationMode}) and a zero-LTV
 * collateral ({@link aaveWithdrawBlockedByZeroLtv}) are judged on.
 *
 * @param pool - The Aave v3 Pool.
 * @param userConfiguration - `getUserConfiguration(account).data`.
 * @param configurationOf - `ReserveConfigurationMap.data` of the reserves already read, by reserve id.
 * @returns By id; `undefined` where a read failed.
 */
export async function readAaveCollateralConfigurations(
  client: Client<Transport, Chain | undefined>,
  { deployment, pool, userConfiguration, configurationOf, blockNumber }: {
    deployment: Pick<LeverageDeployment, "multicall3">
    pool: Address
    userConfiguration: bigint
    configurationOf: (id: number) => bigint | undefined
    blockNumber?: bigint | undefined
  },
): Promise<Map<number, bigint | undefined>> {
  const out = new Map<number, bigint | undefined>()
  for (const id of aaveCollateralIds(userConfiguration)) out.set(id, configurationOf(id))
  const missing = [...out].flatMap(([id, c]) => (c === undefined ? [id] : []))
  if (missing.length === 0) return out
  const addresses = await readMany(client, deployment, missing.map((id) => ({ address: pool, abi: aaveReadAbi, functionName: "getReserveAddressById", args: [id] }) as const), blockNumber)
  const known = missing.flatMap((id, k) => {
    const asset = resultOf<Address>(addresses[k])
    return asset === undefined ? [] : [{ id, asset }]
  })
  const configurations = await readMany(client, deployment, known.map(({ asset }) => ({ address: pool, abi: aaveReadAbi, functionName: "getConfiguration", args: [asset] }) as const), blockNumber)
  known.forEach(({ id }, k) => out.set(id, resultOf<{ data: bigint }>(configurations[k])?.data))
  return out
}

/**
 * The Safe's balance of each Aave v3 collateral reserve as Aave counts it (`RuleMarketState.collateralHeld`: its aToken
 * balance while the reserve is enabled as its collateral, 0 when switched off), what a withdrawal of that reserve can
 * take, and whether a supply to it counts as collateral (`RuleMarketState.collateralEnabled`: false when held but
 * switched off, or a first supply Aave does not enable: LTV 0, a debt ceiling, the account in isolation mode);
 * {@link aaveCollateralOf}. Reads the adapter's `POOL()`, the pool's `getUserConfiguration(safe)` and
 * `getReserveData(asset)`, the aTokens' `balanceOf(safe)` (three batched rounds, two more for the only collateral of an
 * account's collaterals outside `collaterals`: {@link readAaveCollateralConfigurations}), as the keeper's `readAaveLimits` does.
 *
 * @returns Per entry of `collaterals`, in order: `held` (base units), `enabled` and `withdrawBlocked` (Aave refuses its
 * withdrawal while the account borrows: {@link aaveWithdrawBlockedByZeroLtv}); `undefined` where a read failed,
 * every entry without an Aave adapter in the deployment. No request for an empty list.
 */
export async function readAaveCollateral(
  client: Client<Transport, Chain | undefined>,
  { deployment, safe, collaterals, blockNumber, shared }: ReadAaveCollateralParameters,
): Promise<({ held: bigint; enabled: boolean; withdrawBlocked: boolean } | undefined)[]> {
  const adapter = deployment.adapters.aaveV3
  if (adapter === undefined || collaterals.length === 0) return collaterals.map(() => undefined)
  // Read at this very block by the caller: the same figures, no request.
  if (shared !== undefined && blockNumber !== undefined && shared.blockNumber === blockNumber) {
    const known = collaterals.map((c) => shared.reserves[c.toLowerCase()])
    if (known.every((r) => r !== undefined)) return known.map((r) => ({ ...(r as NonNullable<typeof r>) }))
  }
  const [poolRead] = await readMany(client, deployment, [{ address: adapter, abi: aaveReadAbi, functionName: "POOL" }], blockNumber)
  const pool = resultOf<Address>(poolRead)
  if (pool === undefined) return collaterals.map(() => undefined)
  const reads = await readMany(
    client,
    deployment,
    [
      { address: pool, abi: aaveReadAbi, functionName: "getUserConfiguration", args: [safe] },
      ...collaterals.map((asset) => ({ address: pool, abi: aaveReadAbi, functionName: "getReserveData", args: [asset] }) as const),
    ],
    blockNumber,
  )
  const userConfiguration = resultOf<{ data: bigint }>(reads[0])?.data
  const reserves = collaterals.map((_, k) => resultOf<{ id: number; aTokenAddress: Address; configuration: { data: bigint } }>(reads[1 + k]))
  const owned = await readMany(
    client,
    deployment,
    reserves.flatMap((r) => (r === undefined ? [] : [{ address: r.aTokenAddress, abi: erc20Abi, functionName: "balanceOf", args: [safe] } as const])),
    blockNumber,
  )
  const collateralConfigurations =
    userConfiguration === undefined
      ? undefined
      : await readAaveCollateralConfigurations(client, { deployment, pool, userConfiguration, blockNumber, configurationOf: (id) => reserves.find((r) => r !== undefined && Number(r.id) === id)?.configuration.data })
  const configurationOf = (id: number) => collateralConfigurations?.get(id)
  const isolationMode = userConfiguration === undefined ? undefined : aaveInIsolationMode(userConfiguration, configurationOf)
  let n = 0
  return reserves.map((r) => {
    if (r === undefined) return undefined
    const balance = resultOf<bigint>(owned[n++])
    if (balance === undefined || userConfiguration === undefined) return undefined
    // Isolation mode or a collateral's LTV unknown (a read failed): judged on what is known (not isolated, not blocked).
    const withdrawBlocked = aaveWithdrawBlockedByZeroLtv(userConfiguration, configurationOf, r.configuration.data) ?? false
    return { ...aaveCollateralOf({ balance, userConfiguration, reserveId: Number(r.id), configuration: r.configuration.data, isolationMode: isolationMode ?? false }), withdrawBlocked }
  })
}
