import { type Address, type Chain, type Client, type Transport, erc20Abi, parseAbi } from "viem"
import type { LeverageDeployment } from "../constants/deployments.js"
import { aaveCollateralOf } from "../rules/planRules.js"
import { readMany, resultOf } from "./multicall.js"

/** What {@link readAaveCollateralHeld} reads beyond the adapter interface. */
const aaveReadAbi = parseAbi([
  "function POOL() view returns (address)",
  "struct UserConfigurationMap { uint256 data; }",
  "function getUserConfiguration(address user) view returns (UserConfigurationMap)",
  "struct ReserveConfigurationMap { uint256 data; }",
  "struct ReserveData { ReserveConfigurationMap configuration; uint128 liquidityIndex; uint128 currentLiquidityRate; uint128 variableBorrowIndex; uint128 currentVariableBorrowRate; uint128 currentStableBorrowRate; uint40 lastUpdateTimestamp; uint16 id; address aTokenAddress; address stableDebtTokenAddress; address variableDebtTokenAddress; address interestRateStrategyAddress; uint128 accruedToTreasury; uint128 unbacked; uint128 isolationModeTotalDebt; }",
  "function getReserveData(address asset) view returns (ReserveData)",
])

export type ReadAaveCollateralHeldParameters = {
  /** The deployment whose `adapters.aaveV3` names the pool (`POOL()`); `multicall3` when the chain has one. */
  deployment: Pick<LeverageDeployment, "adapters" | "multicall3">
  /** The account (the Safe). */
  safe: Address
  /** The collateral reserves (underlying token addresses), one per Aave sub-account. */
  collaterals: readonly Address[]
  /** Block to read at (the latest by default). */
  blockNumber?: bigint | undefined
}

/**
 * The Safe's balance of each Aave v3 collateral reserve as Aave counts it (`RuleMarketState.collateralHeld`: its aToken
 * balance while the reserve is enabled as its collateral, 0 when switched off; {@link aaveCollateralOf}), what a
 * withdrawal of that reserve can take. Reads the adapter's `POOL()`, the pool's `getUserConfiguration(safe)` and
 * `getReserveData(asset)`, the aTokens' `balanceOf(safe)` (three batched rounds), as the keeper's `readAaveLimits` does.
 *
 * @returns Base units per entry of `collaterals`, in order; `undefined` where a read failed, every entry without an
 * Aave adapter in the deployment. No request for an empty list.
 */
export async function readAaveCollateralHeld(
  client: Client<Transport, Chain | undefined>,
  { deployment, safe, collaterals, blockNumber }: ReadAaveCollateralHeldParameters,
): Promise<(bigint | undefined)[]> {
  const adapter = deployment.adapters.aaveV3
  if (adapter === undefined || collaterals.length === 0) return collaterals.map(() => undefined)
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
  const reserves = collaterals.map((_, k) => resultOf<{ id: number; aTokenAddress: Address }>(reads[1 + k]))
  const owned = await readMany(
    client,
    deployment,
    reserves.flatMap((r) => (r === undefined ? [] : [{ address: r.aTokenAddress, abi: erc20Abi, functionName: "balanceOf", args: [safe] } as const])),
    blockNumber,
  )
  let n = 0
  return reserves.map((r) => {
    if (r === undefined) return undefined
    const balance = resultOf<bigint>(owned[n++])
    if (balance === undefined || userConfiguration === undefined) return undefined
    return aaveCollateralOf({ balance, userConfiguration, reserveId: Number(r.id) }).held
  })
}
