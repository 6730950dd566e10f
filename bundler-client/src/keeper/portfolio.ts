import { type Address, type Chain, type Client, type Hex, type Transport, erc20Abi, erc4626Abi, getAddress, isAddressEqual, maxUint256, parseAbi } from "viem"
import { getBlock } from "viem/actions"
import { type SubAccountState as ChainSubAccount, type SafeState, type StopLoss, checkSubAccountOracles, getSubAccountStateSettled, stopLossCall } from "@levpilot/sdk/actions"
import type { SubAccountOracleError, SubAccountReadError } from "@levpilot/sdk/errors"
import type { LeverageDeployment, LeverageDeployments } from "@levpilot/sdk/deployments"
import type { Plan as ChainPlan } from "@levpilot/sdk/types"
import { type AaveCollateralShare, type AaveDustReserve, type ReadResult, decodeSwapRoute, poolFeeCalls, poolFeesOf, readMany, resultOf } from "@levpilot/sdk/utils"
import { flashPremium, maxFlashedFor, stopStateOf } from "@levpilot/sdk/rules"
import type { Plan, SolverInput, SubAccountInput, SwapCurve, YieldPool } from "../solver/types.js"
import type { ChainBounds, PlanFunding } from "./chainBounds.js"
import { SWAP_CURVE_FRACTIONS, SWAP_REPAY_MARGIN, swapPlanTake, swapRepayMargin } from "../solver/swapDeleverage.js"
import { swapBuySpan } from "../solver/swapBoost.js"
import { encodeUniswapRoute, quoteExactInput, quotePriceImpact } from "../swap/uniswapQuote.js"
import { SwapRouteError } from "../swap/errors.js"
import type { KeeperRiskSettings } from "./config.js"
import { type AaveBorrowRefusal, type AaveSubAccountLimits, aaveUnreadLimits, readAaveLimits } from "./aaveLimits.js"
import { AAVE_DEFAULT_CLOSE_FACTOR } from "../solver/liquidation.js"
import { inBandRescueDue } from "./rescueDue.js"

const WAD = 1e18

/** A Safe as the keeper sees it at one block: the solver's input plus the raw chain reads. */
export type PortfolioSnapshot = {
  blockNumber: bigint
  timestamp: number
  chain: ChainSubAccount[]
  /**
   * Sub-accounts no plan can use: their state could not be read (their oracle or venue reverts,
   * `SubAccountReadError`), or their oracle fails one of the module's oracle checks (stale, zero, out of bounds:
   * `SubAccountOracleError`, {@link excludeFailingOracles}); not in `chain` nor `input`.
   */
  unreadable: (SubAccountReadError | SubAccountOracleError)[]
  input: SolverInput
  /** Decimals by lower-case token address. */
  decimals: Record<string, number>
  /** The raw on-chain bounds of the plan's amounts (base units), for `clampToChainBounds`. */
  bounds: ChainBounds
  /**
   * Reads that failed and were planned around, not silently: an Aave sub-account's reserve limits (planned without
   * them), a swap quote (no swap lane for that sub-account, side and fee), or Morpho's free liquidity at the snapshot's
   * block (the fleet's pinned read of a block the node no longer serves: bound at `latest`, or no borrow; rr11f F4). The keeper logs each once when it appears
   * and counts them in the gauge `levpilot_read_degraded`.
   */
  degraded?: DegradedRead[] | undefined
  /**
   * The Safe's Aave collateral reserves as the SDK's validation reads them, from this snapshot's `readAaveLimits` at
   * `blockNumber`: handed to the send (`sendRebalance`'s `aaveCollateral`) so a validation at the same block reads them
   * no second time. Undefined without an Aave sub-account or when that read failed.
   */
  aaveCollateral?: AaveCollateralShare | undefined
  /**
   * The Safe's Aave dust collateral from this snapshot's `readAaveLimits` (`AaveSubAccountLimits.dustCollateral`):
   * `[]` none; undefined not read (no Aave sub-account, the fleet read no limits this block, or the read failed).
   */
  aaveDust?: AaveDustReserve[] | undefined
  /**
   * Why Aave's `validateBorrow` bounds each Aave sub-account's borrows below its reserve's room, by lower-case id, from
   * this snapshot's `readAaveLimits` (`AaveSubAccountLimits.borrowRefusal`'s reason: isolation mode, its debt ceiling,
   * siloed borrowing, another e-mode category, the price oracle sentinel); undefined for a sub-account whose borrows no
   * such rule bounds. Undefined: limits not read (no Aave sub-account, the fleet read none this block, the read failed).
   * The step reports it in the gauge `levpilot_aave_borrow_refusal`.
   */
  aaveBorrowRefusals?: Record<string, AaveBorrowRefusal | undefined> | undefined
  /**
   * Each allowed pool's asset, totals (`totalAssets`, `totalSupply`) and the Safe's shares, read at `blockNumber`, by
   * lower-case address: the rule book's pools (`snapshotRuleJudge`). Undefined when not read (the fleet's batched read).
   */
  poolTotals?: Record<string, { asset: Address; totalAssets: bigint; totalSupply: bigint; shares: bigint; entryFeeBps?: bigint | undefined; exitFeeBps?: bigint | undefined }> | undefined
  /**
   * Each sub-account's stop-loss (`LeverageModule.getStopLoss` through the SDK's `stopLossCall`, read at `blockNumber`;
   * `stopPrice` 1e36-scaled venue price units, `exitHealth` WAD, both zero: none), by lower-case id: the rule book's
   * `stop` (`snapshotRuleJudge`), the solver's `Policy.stopPrice` / `exitHealth` and the bounds' `due` ({@link applyStops},
   * review rr13s S3). A sub-account whose stop did not read is absent (the send's validation still reads it).
   */
  stops?: Record<string, StopLoss> | undefined
}

/** A read the keeper planned around (`PortfolioSnapshot.degraded`). */
export type DegradedRead = { read: "aave-limits" | "swap-curve" | "borrowable"; subAccount?: Hex | undefined; detail?: string | undefined; message: string }

const messageOf = (error: unknown): string => (error instanceof Error ? error.message.split("\n")[0] ?? "" : String(error))

const decimalsCache = new Map<string, number>()
const morphoOf = new Map<string, Address>()

const morphoAbi = parseAbi([
  "function MORPHO() view returns (address)",
  "function market(bytes32 id) view returns (uint128 totalSupplyAssets, uint128 totalSupplyShares, uint128 totalBorrowAssets, uint128 totalBorrowShares, uint128 lastUpdate, uint128 fee)",
])

/**
 * What each Morpho Blue sub-account's market can still lend (`totalSupplyAssets - totalBorrowAssets`, loan base units),
 * by lower-case sub-account id; other venues are left out (no limit known). Interest accrual raises both totals by the
 * same amount, so the stored totals give the free liquidity at any later second too.
 */
export async function readBorrowable(
  client: Client<Transport, Chain | undefined>,
  deployment: LeverageDeployment,
  chain: ChainSubAccount[],
  blockNumber?: bigint | undefined,
): Promise<Record<string, bigint>> {
  const morphoSubs = chain.filter((s) => isAddressEqual(s.policy.adapter, deployment.adapters.morphoBlue))
  if (morphoSubs.length === 0) return {}
  const adapter = deployment.adapters.morphoBlue
  if (!morphoOf.has(adapter)) {
    const [r] = await readMany(client, deployment, [{ address: adapter, abi: morphoAbi, functionName: "MORPHO" } as const], blockNumber)
    const morpho = resultOf<Address>(r)
    if (!morpho) return {}
    morphoOf.set(adapter, morpho)
  }
  const morpho = morphoOf.get(adapter) as Address
  const reads = await readMany(
    client,
    deployment,
    morphoSubs.map((s) => ({ address: morpho, abi: morphoAbi, functionName: "market", args: [s.policy.market] }) as const),
    blockNumber,
  )
  const out: Record<string, bigint> = {}
  morphoSubs.forEach((s, i) => {
    const m = resultOf<readonly bigint[]>(reads[i])
    if (m) out[s.subAccount.toLowerCase()] = (m[0] as bigint) > (m[2] as bigint) ? (m[0] as bigint) - (m[2] as bigint) : 0n
  })
  return out
}

/**
 * {@link readBorrowable} at `blockNumber`, never failing unbounded (review rr11f F4): the fleet runs a Safe's step however
 * old, so its block can be one a full node no longer serves (geth: the last 128 blocks). When the pinned read fails,
 * the free liquidity is read at `latest` (what the sent operation meets) and a `borrowable` read is recorded in
 * `degraded`; when that fails too, every Morpho sub-account's bound is 0 (no borrow is planned on its market) and the
 * read is recorded degraded. The bound is never left unknown, so no borrow is sized past the market's liquidity.
 *
 * @param degraded - Receives the degraded read, if any.
 * @returns Free liquidity by lower-case sub-account id, loan base units.
 */
export async function readBorrowableBounded(
  client: Client<Transport, Chain | undefined>,
  deployment: LeverageDeployment,
  chain: ChainSubAccount[],
  blockNumber: bigint | undefined,
  degraded: DegradedRead[],
): Promise<Record<string, bigint>> {
  let pinned: unknown
  try {
    return await readBorrowable(client, deployment, chain, blockNumber)
  } catch (error) {
    pinned = error
  }
  if (blockNumber !== undefined) {
    try {
      const latest = await readBorrowable(client, deployment, chain, undefined)
      degraded.push({ read: "borrowable", detail: "latest", message: `at block ${blockNumber}: ${messageOf(pinned)}; bound by the latest block's liquidity` })
      return latest
    } catch (error) {
      pinned = error
    }
  }
  degraded.push({ read: "borrowable", detail: "none", message: `${messageOf(pinned)}; no borrow planned on the Safe's Morpho markets` })
  return Object.fromEntries(chain.filter((s) => isAddressEqual(s.policy.adapter, deployment.adapters.morphoBlue)).map((s) => [s.subAccount.toLowerCase(), 0n]))
}

/**
 * {@link readAaveLimits} at `blockNumber`, never failing unbounded (review rr11g G2, the Aave side of rr11f F4's
 * {@link readBorrowableBounded}): when the pinned read fails (a fleet step at a block the node no longer serves), the
 * limits are read at `latest` (what the sent operation meets) and an `aave-limits` read is recorded in `degraded`; when
 * that fails too, each Aave sub-account gets limits that lend nothing (`debt.borrowable` 0: no Aave borrow is planned)
 * and bound nothing else (as no limits did before: repayments, withdrawals and flash loans unbounded, no flash premium
 * so no swap lane, no liquidation bonus so the worst case), and the read is recorded degraded. Aave's floored factor is
 * applied by `portfolioOf`'s `aaveAdapter` either way (rr17 R1). A read that answers but leaves a figure of a
 * sub-account unread ({@link AaveSubAccountLimits.unread}: the same lend-nothing limits, review rr11h H4, or only its
 * debt reserve's borrow-cap room, held at 0, review rr11i H4-a) is recorded degraded too (`detail` "partial", the
 * message saying what is unread and held).
 *
 * @param degraded - Receives the degraded read, if any.
 * @returns The limits by lower-case sub-account id (amounts in base units of each reserve), as {@link readAaveLimits}.
 */
export async function readAaveLimitsBounded(
  client: Client<Transport, Chain | undefined>,
  deployment: LeverageDeployment,
  chain: ChainSubAccount[],
  safe: Address,
  blockNumber: bigint | undefined,
  degraded: DegradedRead[],
  options: { dustThresholdBase?: bigint | undefined } = {},
): Promise<Record<string, AaveSubAccountLimits>> {
  // Sub-accounts the read answered for but could not bound (review rr11h H4): recorded, one row each.
  const partial = (limits: Record<string, AaveSubAccountLimits>) => {
    for (const [id, l] of Object.entries(limits))
      if (l.unread !== undefined) degraded.push({ read: "aave-limits", subAccount: id as Hex, detail: "partial", message: l.unread })
    return limits
  }
  let pinned: unknown
  try {
    return partial(await readAaveLimits(client, deployment, chain, safe, blockNumber, options))
  } catch (error) {
    pinned = error
  }
  if (blockNumber !== undefined) {
    try {
      const latest = await readAaveLimits(client, deployment, chain, safe, undefined, options)
      degraded.push({ read: "aave-limits", detail: "latest", message: `at block ${blockNumber}: ${messageOf(pinned)}; bound by the latest block's reserves` })
      return partial(latest)
    } catch (error) {
      pinned = error
    }
  }
  degraded.push({ read: "aave-limits", detail: "none", message: `${messageOf(pinned)}; no borrow planned on the Safe's Aave sub-accounts` })
  const adapter = deployment.adapters.aaveV3
  // The same lend-nothing limits as a partial read's, without `unread` (the failure is recorded once, above).
  return Object.fromEntries(
    chain
      .filter((s) => adapter !== undefined && isAddressEqual(s.policy.adapter, adapter))
      .map((s) => [s.subAccount.toLowerCase(), { ...aaveUnreadLimits("the limits read failed"), unread: undefined } satisfies AaveSubAccountLimits]),
  )
}

/**
 * Whether a sub-account's venue can run a swap lane (a sale or purchase inside a venue callback, which `readPortfolio`
 * quotes a curve for): Morpho Blue's own callback, or on Aave v3 the adapter's flash-loan router, which needs the pool's
 * flash premium read (`flashPremiumBps` of its {@link AaveSubAccountLimits}: without it, no curve and no swap plan).
 * Other venues: none.
 */
export function hasSwapVenue(s: Pick<ChainSubAccount, "subAccount" | "policy">, deployment: LeverageDeployment, aaveLimits: Record<string, AaveSubAccountLimits>): boolean {
  return (
    isAddressEqual(s.policy.adapter, deployment.adapters.morphoBlue) ||
    (deployment.adapters.aaveV3 !== undefined && isAddressEqual(s.policy.adapter, deployment.adapters.aaveV3) && aaveLimits[s.subAccount.toLowerCase()]?.flashPremiumBps !== undefined)
  )
}

/**
 * Each pool's totals (`totalAssets`, `totalSupply`) at `blockNumber`, with its asset and the Safe's shares as given, by
 * lower-case address: the rule book's pools (`PortfolioSnapshot.poolTotals`, `snapshotRuleJudge`). A pool whose totals
 * do not read is left out (its plans are not judged off chain).
 */
export async function readPoolTotals(
  client: Client<Transport, Chain | undefined>,
  deployment: LeverageDeployment,
  pools: readonly { pool: string; asset: string; shares: bigint }[],
  blockNumber: bigint | undefined,
): Promise<NonNullable<PortfolioSnapshot["poolTotals"]>> {
  const reads = await readMany(
    client,
    deployment,
    pools.flatMap((p) => [{ address: p.pool as Address, abi: erc4626Abi, functionName: "totalAssets" } as const, { address: p.pool as Address, abi: erc4626Abi, functionName: "totalSupply" } as const]),
    blockNumber,
  )
  const out: NonNullable<PortfolioSnapshot["poolTotals"]> = {}
  pools.forEach((p, i) => {
    const [totalAssets, totalSupply] = [resultOf<bigint>(reads[2 * i]), resultOf<bigint>(reads[2 * i + 1])]
    if (totalAssets !== undefined && totalSupply !== undefined && p.asset) out[p.pool.toLowerCase()] = { asset: p.asset as Address, totalAssets, totalSupply, shares: p.shares }
  })
  await readPoolFees(client, deployment, out, blockNumber)
  return out
}

/** The pools of `poolTotals` whose fee is read (`poolFeeCalls` of @levpilot/sdk/utils), in order. */
const feePools = (poolTotals: NonNullable<PortfolioSnapshot["poolTotals"]>) => Object.entries(poolTotals).filter(([, p]) => p.totalSupply > 0n)

/** The pools of {@link feePools} as `poolFeeCalls` of @levpilot/sdk/utils takes them (validateRebalance reads the same). */
const feeTargets = (poolTotals: NonNullable<PortfolioSnapshot["poolTotals"]>) => feePools(poolTotals).map(([pool, p]) => ({ address: pool as Address, totalSupply: p.totalSupply, totalAssets: p.totalAssets }))

/** Sets each pool's fees per side (`poolFeesOf` of @levpilot/sdk/utils) from the reads of `poolFeeCalls(feeTargets(poolTotals))`. */
function setPoolFees(poolTotals: NonNullable<PortfolioSnapshot["poolTotals"]>, reads: readonly ReadResult[]): void {
  const pools = feePools(poolTotals)
  poolFeesOf(feeTargets(poolTotals), reads).forEach((fees, i) => Object.assign((pools[i] as (typeof pools)[number])[1], fees))
}

/** Reads and sets each pool's fee at `blockNumber` (`poolFeeCalls`). */
async function readPoolFees(
  client: Client<Transport, Chain | undefined>,
  deployment: LeverageDeployment,
  poolTotals: NonNullable<PortfolioSnapshot["poolTotals"]>,
  blockNumber: bigint | undefined,
): Promise<void> {
  const calls = poolFeeCalls(feeTargets(poolTotals))
  if (calls.length > 0) setPoolFees(poolTotals, await readMany(client, deployment, calls, blockNumber))
}

/**
 * Reads everything the solver needs about one Safe at the latest block: every sub-account with a policy (SDK
 * `getSubAccountState`), the Safe's shares of every allowed pool (`convertToAssets`, `maxWithdraw`) and its idle
 * loan and collateral tokens, converted to the solver's human units. Token and pool names are lower-case addresses.
 *
 * @returns The snapshot; `input.subAccounts` is empty when the Safe has no policy.
 */
export async function readPortfolio(
  client: Client<Transport, Chain | undefined>,
  parameters: {
    safe: Address
    deployment: LeverageDeployment
    risk: KeeperRiskSettings
    costs: SolverInput["costs"]
    /**
     * QuoterV2 and fee tier: sub-accounts whose policy allows swaps get a swap cost curve ({@link readSwapCurve}); those
     * below their band also a selling curve at each further tier of `fees` (`swapRoutes`: a sale may be split).
     */
    swap?: { quoter: Address; fee: number; fees?: readonly number[] | undefined } | undefined
    /** Aave dust threshold, base currency units (`readAaveLimits`; default 1 USD). */
    aaveDustThresholdBase?: bigint | undefined
  },
): Promise<PortfolioSnapshot> {
  const { safe, deployment, risk, costs, swap } = parameters
  const deployments: LeverageDeployments = { [client.chain?.id ?? 0]: deployment }
  const block = await getBlock(client, { blockTag: "latest" })
  // Every read of the snapshot at the header's block (review rr17i): the balances, the pools' shares, maxWithdraw,
  // totals and convertToAssets, Morpho's free liquidity, the lens and Aave's limits; `latest` could be a later block.
  const at = block.number ?? undefined
  // At the header's block: readAaveLimits (aaveBase, with the lens's frame) is pinned to it, so the rule book never
  // mixes one block's Aave totals with another's lens state (review rr17h D1).
  const { states: read, unreadable } = await getSubAccountStateSettled(client, { safe, deployments, blockNumber: block.number ?? undefined })
  const chain = read
  const tokens = new Set<string>()
  const poolAddresses = new Set<string>()
  for (const s of chain) {
    tokens.add(s.loanToken.toLowerCase())
    tokens.add(s.collateralToken.toLowerCase())
    for (const p of s.policy.pools) poolAddresses.add(p.toLowerCase())
  }
  const pools = [...poolAddresses]
  const unknownDecimals = [...tokens].filter((t) => !decimalsCache.has(t))
  const reads = await readMany(client, deployment, [
    ...unknownDecimals.map((t) => ({ address: t as Address, abi: erc20Abi, functionName: "decimals" }) as const),
    ...[...tokens].map((t) => ({ address: t as Address, abi: erc20Abi, functionName: "balanceOf", args: [safe] }) as const),
    ...pools.map((p) => ({ address: p as Address, abi: erc4626Abi, functionName: "asset" }) as const),
    ...pools.map((p) => ({ address: p as Address, abi: erc4626Abi, functionName: "balanceOf", args: [safe] }) as const),
    ...pools.map((p) => ({ address: p as Address, abi: erc4626Abi, functionName: "maxWithdraw", args: [safe] }) as const),
    ...pools.map((p) => ({ address: p as Address, abi: erc4626Abi, functionName: "totalAssets" }) as const),
    ...pools.map((p) => ({ address: p as Address, abi: erc4626Abi, functionName: "totalSupply" }) as const),
    // Last, so the reads above keep their places: each sub-account's stop-loss (review rr13s S3), the SDK's read.
    ...read.map((s) => stopLossCall(deployment.leverageModule, safe, s.subAccount)),
  ], at)
  // Review rr13s S3: the stops as read (a failed read is absent: the send's validation still reads it), applied to the
  // solver's policies, the bounds and the rule book's judge by applyStops below.
  const stops = stopsOf(read, reads.slice(reads.length - read.length))
  let k = 0
  for (const t of unknownDecimals) decimalsCache.set(t, Number(resultOf<number>(reads[k++]) ?? 18))
  const decimals: Record<string, number> = {}
  for (const t of tokens) decimals[t] = decimalsCache.get(t) as number
  const idle: Record<string, number> = {}
  const balances: Record<string, bigint> = {}
  for (const t of tokens) {
    balances[t] = resultOf<bigint>(reads[k++]) ?? 0n
    idle[t] = Number(balances[t]) / 10 ** (decimals[t] as number)
  }
  const assets = pools.map(() => (resultOf<Address>(reads[k++]) ?? "").toLowerCase())
  const shares = pools.map(() => resultOf<bigint>(reads[k++]) ?? 0n)
  const withdrawable = pools.map(() => resultOf<bigint>(reads[k++]) ?? 0n)
  const totalAssets = pools.map(() => resultOf<bigint>(reads[k++]))
  const totalSupply = pools.map(() => resultOf<bigint>(reads[k++]))
  const poolTotals: NonNullable<PortfolioSnapshot["poolTotals"]> = {}
  pools.forEach((p, i) => {
    const [ta, ts, asset] = [totalAssets[i], totalSupply[i], assets[i]]
    if (ta !== undefined && ts !== undefined && asset) poolTotals[p] = { asset: asset as Address, totalAssets: ta, totalSupply: ts, shares: shares[i] as bigint }
  })
  // The Safe's shares valued, and each pool's fees (`poolTotals[p].exitFeeBps` / `entryFeeBps`) in the same read.
  const valueReads = await readMany(
    client,
    deployment,
    [...pools.map((p, i) => ({ address: p as Address, abi: erc4626Abi, functionName: "convertToAssets", args: [shares[i] as bigint] }) as const), ...poolFeeCalls(feeTargets(poolTotals))],
    at,
  )
  const assetValues = valueReads.slice(0, pools.length)
  setPoolFees(poolTotals, valueReads.slice(pools.length))
  const yieldPools: YieldPool[] = pools.map((address, i) => {
    const asset = assets[i] as string
    const d = decimals[asset] ?? 18
    return {
      address,
      asset,
      decimals: d,
      balance: Number(resultOf<bigint>(assetValues[i]) ?? 0n) / 10 ** d,
      withdrawable: Number(withdrawable[i] as bigint) / 10 ** d,
    }
  })
  const borrowable = await readBorrowable(client, deployment, chain, at)
  // Aave v3 sub-accounts: what their reserves take now (liquidity, caps, frozen / paused), like Morpho's free liquidity.
  const degraded: DegradedRead[] = []
  // Pinned to the snapshot's block: the send's validation at that block uses its collateral reads (`aaveCollateral`).
  // A failed read never leaves the Aave borrow unbounded (review rr11h H2): the same fallback as the fleet step
  // (latest, else lend nothing), recorded in `degraded`.
  const aaveLimits = await readAaveLimitsBounded(client, deployment, chain, safe, block.number ?? undefined, degraded, { dustThresholdBase: parameters.aaveDustThresholdBase })
  // An Aave borrow is bounded by the reserve (liquidity, cap) here, and by the account's LTV room at the borrow (Aave
  // refuses above it, "36") through `ltvBorrowable` and `ltvGain`: the room before the plan plus what the plan supplied
  // before the borrow (a flash-looped boost borrows inside its supply's callback), not one folded figure.
  for (const [id, l] of Object.entries(aaveLimits)) borrowable[id] = l.debt.borrowable
  const now = Number(block.timestamp)
  const subAccounts = chain.map((s) => subAccountInputOf(s, decimals, risk, borrowable[s.subAccount.toLowerCase()], aaveLimits[s.subAccount.toLowerCase()], deployment.adapters.aaveV3))
  const poolBounds = pools.map((p, i) => ({ pool: p, asset: assets[i] as string, maxWithdraw: withdrawable[i] as bigint, shares: shares[i] as bigint, assets: resultOf<bigint>(assetValues[i]) }))
  const bounds = chainBoundsOf(chain, balances, poolBounds, borrowable, aaveLimits)
  applyStops(chain, subAccounts, bounds, stops)
  const swapVenue = (s: ChainSubAccount): boolean => hasSwapVenue(s, deployment, aaveLimits)
  if (swap !== undefined) {
    await Promise.all(
      chain.map(async (s, i) => {
        const sub = subAccounts[i] as SubAccountInput
        // The swap lanes run inside a venue callback: Morpho Blue's own, or on Aave v3 the adapter's flash-loan router
        // (which needs the pool's premium: without it read, no curve and no swap plan). No curve for other venues.
        if (s.policy.maxSlippageBps === 0 || s.collateral === 0n || !swapVenue(s)) return
        const curve = { ...swap, collateral: s.collateralToken, loan: s.loanToken, price: s.price, collateralAmount: s.collateral, blockNumber: block.number }
        const failed = (detail: string) => (error: unknown) => {
          degraded.push({ read: "swap-curve", subAccount: s.subAccount, detail, message: messageOf(error) })
          return undefined
        }
        sub.swap = await readSwapCurve(client, { ...curve, decimals: sub.state.collateralDecimals }).catch(failed(`sell, fee ${swap.fee}`))
        // Further pools a rescue's sale may be split across, quoted only where one may follow (below the band).
        const others = (swap.fees ?? []).filter((fee) => fee !== swap.fee)
        if (sub.swap !== undefined && (s.band === "below" || inBandRescueDue(s)) && others.length > 0) {
          const routes = await Promise.all(others.map((fee) => readSwapCurve(client, { ...curve, fee, decimals: sub.state.collateralDecimals }).catch(failed(`sell, fee ${fee}`))))
          sub.swapRoutes = routes.filter((r): r is SwapCurve => r !== undefined)
        }
        // A buying curve only where a swap boost may follow: boosts allowed and health above the band.
        // Quoted over the largest borrow a boost can need (to minHealth), not only the collateral's value: a position far
        // above its band (a debt-free remnant after a liquidation) must reach its target in one operation.
        if (s.policy.boostAllowed && s.band === "above" && !stopHoldsOn(s, stops)) {
          const span = BigInt(Math.ceil(swapBuySpan(sub.state, sub.policy.minHealth) * 10 ** sub.state.loanDecimals))
          sub.swapBuy = await readSwapCurve(client, { ...curve, decimals: sub.state.loanDecimals, side: "buy", span }).catch(failed(`buy, fee ${swap.fee}`))
        }
      }),
    )
  }
  return {
    bounds,
    blockNumber: block.number,
    timestamp: now,
    chain,
    unreadable,
    decimals,
    input: { now, subAccounts, pools: yieldPools, idle, costs, mode: risk.mode },
    degraded,
    aaveCollateral: aaveCollateralOf(aaveLimits),
    aaveDust: aaveDustOfLimits(aaveLimits),
    aaveBorrowRefusals: aaveBorrowRefusalsOf(aaveLimits),
    poolTotals,
    stops,
  }
}

/** The stops of `chain` from their `getStopLoss` reads (one per sub-account, in order), by lower-case id; failed reads left out. */
function stopsOf(chain: readonly ChainSubAccount[], reads: readonly ReadResult[]): Record<string, StopLoss> {
  const out: Record<string, StopLoss> = {}
  chain.forEach((s, i) => {
    const stop = resultOf<StopLoss>(reads[i])
    if (stop !== undefined) out[s.subAccount.toLowerCase()] = { stopPrice: stop.stopPrice, exitHealth: stop.exitHealth }
  })
  return out
}

/**
 * Each sub-account's stop-loss read at `blockNumber` ({@link PortfolioSnapshot.stops}), the SDK's `stopLossCall` in one
 * multicall (the fleet's path: the lens's batched read carries no stop). A failed read leaves that sub-account out.
 *
 * @returns The stops by lower-case sub-account id.
 */
export async function readStopLosses(
  client: Client<Transport, Chain | undefined>,
  deployment: LeverageDeployment,
  safe: Address,
  chain: readonly ChainSubAccount[],
  blockNumber: bigint | undefined,
): Promise<Record<string, StopLoss>> {
  if (chain.length === 0) return {}
  return stopsOf(chain, await readMany(client, deployment, chain.map((s) => stopLossCall(deployment.leverageModule, safe, s.subAccount)), blockNumber))
}

/** Whether `s`'s stop as read holds at its venue price (RebalanceLib `_trigger`, the rule book's stopStateOf): no boost. */
const stopHoldsOn = (s: ChainSubAccount, stops: Record<string, StopLoss> | undefined): boolean => {
  const stop = stops?.[s.subAccount.toLowerCase()]
  return stop !== undefined && stopStateOf(stop, s.price, s.policy.maxOracleDeviationBps) !== 0n
}

/**
 * The owner's stops applied to one snapshot (issue 13, docs/stop-loss-exit.md; review rr13s S3), the same on the
 * single-Safe and the fleet path:
 * - the solver's policy gets `stopPrice` (loan per collateral, scaled as the state's price), `exitHealth` and
 *   `maxOracleDeviationBps`, and `stopJudged`, the exact verdict below at the price read: the solver plans no boost while the stop holds
 *   (`withStopHeld`, in `solve`) and plans the exit the module accepts (`stopExitResult`);
 * - each bound's `due` is RebalanceLib `_trigger`'s (the rule book's stopStateOf, exact at the snapshot's price): below
 *   minHealth, or under exitHealth while engaged, or above maxHealth with boosts allowed only while no stop holds.
 * A sub-account without a read stop keeps the policy and bound as read.
 */
function applyStops(chain: readonly ChainSubAccount[], subAccounts: readonly SubAccountInput[], bounds: ChainBounds, stops: Record<string, StopLoss> | undefined): void {
  chain.forEach((s, i) => {
    const id = s.subAccount.toLowerCase()
    const stop = stops?.[id]
    const sub = subAccounts[i] as SubAccountInput
    if (stop === undefined || stop.stopPrice === 0n) return
    const { loanDecimals: ld, collateralDecimals: cd } = sub.state
    sub.policy.stopPrice = (Number(stop.stopPrice) / 1e36) * 10 ** (cd - ld)
    sub.policy.exitHealth = Number(stop.exitHealth) / WAD
    sub.policy.maxOracleDeviationBps = s.policy.maxOracleDeviationBps
    const state = stopStateOf(stop, s.price, s.policy.maxOracleDeviationBps)
    // The solver's stop verdict is this exact one, not its float copy at the converted prices (review rr11zb B4).
    // With the integers it was judged on, which the solver's own rule check then reads at this price (review rr11zc C5).
    sub.policy.stopJudged = {
      price: sub.state.price,
      state: state === 0n ? "armed" : state === 1n ? "held" : "engaged",
      exact: { price: s.price, stop: { stopPrice: stop.stopPrice, exitHealth: stop.exitHealth } },
    }
    const bound = bounds.subAccounts[id]
    if (bound !== undefined && state !== 0n) bound.due = s.band === "below" || inBandRescueDue(s) || (state > 1n && s.health < state)
  })
}

/**
 * How far (seconds) a feed's `updatedAt` may be ahead of the chain's latest block timestamp and still count as the read
 * race: a node can answer an `eth_call` at the latest block number from state that already holds the next block's feed
 * update (anvil while it mines; RPC endpoints behind a load balancer, one node a block ahead of another), so the feed
 * looks "from the future" for one read. The keeper reads the latest block header again when it sees a feed ahead of the
 * snapshot: a race's update belongs to a block the chain has (or is about to have), so it is at most one block interval
 * after that header's timestamp; a feed stamped further ahead at every read (a forged or misconfigured `now + 30`, a
 * sequencer with a skewed clock) is broken and excluded with a `feed-broken` alert. One mainnet block (12 s); a
 * forged stamp within it of the head is not told apart by the read: the chain's simulation at send refuses it and the step
 * leaves it out (`ORACLE_REFUSAL_ALERT_BLOCKS` in safeStep.ts).
 */
export const FEED_READ_AHEAD_SECONDS = 12n

/**
 * Whether an oracle failure is only the read race {@link FEED_READ_AHEAD_SECONDS} describes: `OracleStale` with the
 * feed's `updatedAt` (args[1], unix seconds) after the snapshot's `timestamp`, and at most that much after the later of
 * `timestamp` and `latest` (the latest block header's timestamp, read after the oracle check).
 *
 * @returns true when the sub-account should still be planned for.
 */
export function isFeedReadAhead(failure: SubAccountOracleError, timestamp: bigint, latest: bigint = timestamp): boolean {
  if (failure.check !== "OracleStale") return false
  const updatedAt = failure.args[1]
  const head = latest > timestamp ? latest : timestamp
  return typeof updatedAt === "bigint" && updatedAt > timestamp && updatedAt - head <= FEED_READ_AHEAD_SECONDS
}

/**
 * Leaves out of the snapshot every sub-account whose oracle fails one of the module's oracle checks
 * (`checkSubAccountOracles`: the rule book's own check, at the snapshot's block and timestamp): a stale or zero feed
 * does not revert the read, but every plan listing the sub-account reverts, so it is treated like an unreadable one
 * (moved to `unreadable`) and the Safe's other sub-accounts are still planned for. A feed ahead of the snapshot's
 * timestamp is judged against the latest block header, read again ({@link isFeedReadAhead}; `latestTimestamp` reads it,
 * by default `eth_getBlockByNumber("latest")`).
 *
 * @returns The snapshot without those sub-accounts (the same object when none fails).
 */
export async function excludeFailingOracles(
  client: Client<Transport, Chain | undefined>,
  snapshot: PortfolioSnapshot,
  deployment: LeverageDeployment,
  options: { latestTimestamp?: (() => Promise<bigint>) | undefined } = {},
): Promise<PortfolioSnapshot> {
  if (snapshot.chain.length === 0) return snapshot
  const deployments: LeverageDeployments = { [client.chain?.id ?? 0]: deployment }
  const timestamp = BigInt(snapshot.timestamp)
  const { failing: judged } = await checkSubAccountOracles(client, { states: snapshot.chain, timestamp, blockNumber: snapshot.blockNumber, deployments })
  const ahead = judged.some((f) => f.check === "OracleStale" && typeof f.args[1] === "bigint" && f.args[1] > timestamp)
  const latest = ahead ? await (options.latestTimestamp ?? (async () => (await getBlock(client, { blockTag: "latest" })).timestamp))() : timestamp
  const failing = judged.filter((f) => !isFeedReadAhead(f, timestamp, latest))
  if (failing.length === 0) return snapshot
  const out = new Set(failing.map((f) => f.subAccount.toLowerCase()))
  const keep = (id: string) => !out.has(id.toLowerCase())
  return {
    ...snapshot,
    chain: snapshot.chain.filter((s) => keep(s.subAccount)),
    unreadable: [...snapshot.unreadable, ...failing],
    input: { ...snapshot.input, subAccounts: snapshot.input.subAccounts.filter((s) => keep(s.state.id)) },
    bounds: { ...snapshot.bounds, subAccounts: Object.fromEntries(Object.entries(snapshot.bounds.subAccounts).filter(([id]) => keep(id))) },
  }
}

export { SWAP_CURVE_FRACTIONS }

/**
 * A swap cost curve on the pool's real liquidity: QuoterV2 quotes (by eth_call, against one block) at
 * {@link SWAP_CURVE_FRACTIONS} of the position's collateral, each as its shortfall against the oracle value (fee +
 * impact, bps; at least the fee, even when the pool lags the oracle in the trade's favour). `side: "sell"` (default)
 * sells collateral for the loan token (a swap deleverage, sizes in collateral); `"buy"` buys collateral with the loan
 * token (a swap boost, sizes in the loan token: fractions of `span`, by default the collateral's oracle value; the
 * keeper passes `swapBuySpan`, the borrow that would take the position to minHealth).
 *
 * @returns The curve (human units of the input token, `decimals` its decimals), with the route word of the module's swap adapter.
 * @throws SwapQuoteError when a quote reverts (no pool).
 */
export async function readSwapCurve(
  client: Client<Transport, Chain | undefined>,
  parameters: {
    quoter: Address
    fee: number
    collateral: Address
    loan: Address
    price: bigint
    collateralAmount: bigint
    decimals: number
    side?: "sell" | "buy" | undefined
    /** Largest size quoted, input-token base units; default the collateral (sell) or its oracle value (buy). */
    span?: bigint | undefined
    blockNumber?: bigint | undefined
  },
): Promise<SwapCurve> {
  const { quoter, fee, collateral, loan, price, collateralAmount, decimals, side = "sell", span, blockNumber } = parameters
  const buy = side === "buy"
  const whole = span ?? (buy ? (collateralAmount * price) / 10n ** 36n : collateralAmount)
  const sizes = SWAP_CURVE_FRACTIONS.map((f) => (whole * BigInt(Math.round(f * 1e6))) / 1_000_000n).filter((x) => x > 0n)
  const [tokenIn, tokenOut] = buy ? [loan, collateral] : [collateral, loan]
  const points = await quotePriceImpact(client, { quoter, tokenIn, tokenOut, route: { fee }, sizes, oracle: { price, collateral }, blockNumber })
  return {
    route: encodeUniswapRoute({ fee }),
    // Never less than the pool's fee: a pool that lags the oracle in the trade's favour is arbitraged back to it before
    // or with the keeper's swap, so what the venue collects is sized as if the swap paid at least its fee at the oracle.
    points: points.map((p) => ({ amountIn: Number(p.amountIn) / 10 ** decimals, shortfallBps: Math.max(p.feeBps, p.shortfallBps) })),
  }
}

/**
 * Exact amounts for a swap plan before it is sent: each swap is re-quoted on QuoterV2 at its base-unit size along its
 * own route word (its fee tier), and what the venue then takes from the output is settled to the quotes less
 * {@link SWAP_REPAY_MARGIN} (with the sub-account's `maxSlippageBps` in `tokens`, {@link swapRepayMargin}: the margin
 * the solver used; never more than the solver planned): a `RepayWithCallback`'s repayment (the venue pulls it
 * at the end of the callback) is lowered by what the block's sales now fall short of their planned output, so loan
 * token the plan brought itself (idle, pools, donors: `expectedOut` tells the two apart) stays in it; without
 * `expectedOut` the repayment is at most the quotes less the margin. A `BuyCollateral`'s `SupplyCollateral` after it
 * (one-pass boost) or its `SupplyCollateralWithCallback` (flash-looped boost) is at most the quote less the margin. So
 * the swaps' output always covers what the venue collects.
 *
 * @param parameters.expectedOut - Per action index, a swap's planned output in base units of its output token (the
 *   solver's `expectedOut`); optional.
 * @param parameters.minAmountOut - Per action index, a swap's on-chain minimum output (`getSwapMinAmountOut`); optional.
 *   Nothing the venue collects is lowered below the own funds it carries plus its swaps' minimum outputs: the module
 *   lets no swap output at its minimum stay idle, and the swaps deliver at least that or revert. The own funds are the
 *   planned amount less the solver's take from each swap (`swapPlanTake`: its minimum plus `SWAP_PLAN_TAKE_BIAS` of
 *   the way to its expected output less the margin).
 * @returns The chain plan with exact integer amounts.
 * @throws SwapRouteError for a two-pool route (the keeper plans one-pool routes only).
 */
export async function settleSwapAmounts(client: Client<Transport, Chain | undefined>, plan: ChainPlan, parameters: SettleSwapParameters): Promise<ChainPlan> {
  return (await settleSwapPlan(client, plan, parameters)).plan
}

/** What {@link settleSwapAmounts} and {@link settleSwapPlan} take beyond the plan. */
export type SettleSwapParameters = {
  quoter: Address
  /**
   * Per plan sub-account: its tokens, `maxSlippageBps` and, on Aave v3, the pool's flash premium (`flashPremiumBps`,
   * `FLASHLOAN_PREMIUM_TOTAL`): a callback opener of that sub-account is settled so that its swaps' quotes less the
   * margin pay the opener's amount X plus `flashPremium(X)` (the router pulls both), X = `maxFlashedFor(quotes less
   * margin, bps)` at most.
   */
  tokens: readonly { collateral: Address; loan: Address; maxSlippageBps?: number | undefined; flashPremiumBps?: number | bigint | undefined }[]
  expectedOut?: readonly (bigint | undefined)[] | undefined
  minAmountOut?: readonly (bigint | undefined)[] | undefined
  /**
   * The plan's own funding split (`planFundingOf`: what each source pays for, each spend's idle part), indexed like
   * `plan.actions`; returned with the swaps' shares added (the settlement keeps every action's index).
   */
  funding?: PlanFunding | undefined
  /**
   * Issue 13: `"sale-minimum"` settles each planned sale block of a sub-account without a flash premium (Morpho Blue) to
   * what the plan brings besides its sales plus the sales' `minAmountOut` (instead of plus the solver's take), and
   * returns those sub-accounts in `saleMinimum`: {@link toSaleMinimumRepayment} turns their openers into the module's
   * sale-minimum repayment mode after the clamp. `"amount"` or undefined: the fixed take.
   */
  repayment?: "amount" | "sale-minimum" | undefined
  /**
   * Per action index, a callback opener's own funds in base units of the loan token (the solver's `PlanAction.brought`,
   * recorded under `saleMinimumRepayment`): with `repayment: "sale-minimum"` the own part of a settled block; without it
   * (or undefined), the opener's amount less its sales' minimums.
   */
  brought?: readonly (bigint | undefined)[] | undefined
}

/** 2^50: a float amount of a double's 53-bit mantissa is off its exact value by a few parts in 2^53, below 1 in 2^50. */
const FLOAT_NOISE_DIVISOR = 2n ** 50n

/**
 * {@link settleSwapAmounts}, with the settled plan's funding split ({@link PlanFunding}) for the clamp to the chain's
 * bounds (`clampPlanToChainBounds`): what each swap's output was planned to pay of the spend it funds. A callback
 * block's sales pay its settled repayment (or flash supply) less the own funds it carries (the Safe's idle balance,
 * pool withdrawals, donors' borrows), shared among them in proportion to their quotes; a one-pass boost's purchase
 * pays its settled supply. The rest of each spend is the plan's own funds, so an idle top-up the Safe no longer holds
 * (float drift of the solver's idle amount) is held to the balance even when the Safe holds none of the token.
 *
 * @returns The settled plan and its funding split (`swapPaid` per action index: base units of each swap's output token;
 *   undefined for a swap that funds no spend the settlement sized), with `parameters.funding`'s `paysFor` and `idle`.
 * @throws SwapRouteError for a two-pool route (the keeper plans one-pool routes only).
 */
export async function settleSwapPlan(
  client: Client<Transport, Chain | undefined>,
  plan: ChainPlan,
  parameters: SettleSwapParameters,
): Promise<{ plan: ChainPlan; funding: PlanFunding; saleMinimum: Set<string> }> {
  const actions = plan.actions.slice()
  const saleMinimum = new Set<string>()
  const swapPaid: (bigint | undefined)[] = plan.actions.map(() => undefined)
  const lessFor = (maxSlippageBps: number | undefined) => {
    const margin = BigInt(Math.round((maxSlippageBps === undefined ? SWAP_REPAY_MARGIN : swapRepayMargin(maxSlippageBps)) * 1e6))
    return (x: bigint) => (x * (1_000_000n - margin)) / 1_000_000n
  }
  const lower = (j: number, to: bigint) => {
    const a = actions[j]
    if (a !== undefined && a.kind !== "EndCallback") actions[j] = { ...a, amount: to < a.amount ? (to > 0n ? to : 0n) : a.amount }
  }
  // Per callback opener: the sum of its sales' quotes less the margin, and what they fall short of the plan.
  const blocks = new Map<number, { quoted: bigint; short: bigint; planned: boolean; take: bigint; minimum: bigint; premiumBps: bigint; sales: { k: number; quote: bigint; minimum: bigint }[] }>()
  let opener = -1
  for (let k = 0; k < actions.length; k++) {
    const swap = actions[k]
    if (swap?.kind === "RepayWithCallback" || swap?.kind === "SupplyCollateralWithCallback") opener = k
    if (swap?.kind === "EndCallback") opener = -1
    if (swap?.kind !== "SellCollateral" && swap?.kind !== "BuyCollateral") continue
    const tokens = parameters.tokens[swap.subAccount]
    if (tokens === undefined) continue
    const sell = swap.kind === "SellCollateral"
    const [tokenIn, tokenOut] = sell ? [tokens.collateral, tokens.loan] : [tokens.loan, tokens.collateral]
    const { fee, hub } = decodeSwapRoute(swap.route)
    if (hub !== 0) throw new SwapRouteError({ field: "route", reason: `the keeper settles one-pool routes only, got hub ${hub}` })
    const { amountOut } = await quoteExactInput(client, { quoter: parameters.quoter, tokenIn, tokenOut, route: { fee }, amountIn: swap.amount })
    const less = lessFor(tokens.maxSlippageBps)
    const exact = less(amountOut)
    const openerKind = sell ? "RepayWithCallback" : "SupplyCollateralWithCallback"
    if (opener >= 0 && actions[opener]?.kind === openerKind && actions[opener]?.subAccount === swap.subAccount) {
      const expected = parameters.expectedOut?.[k]
      const premiumBps = BigInt(tokens.flashPremiumBps ?? 0)
      const block = blocks.get(opener) ?? { quoted: 0n, short: 0n, planned: true, take: 0n, minimum: 0n, premiumBps, sales: [] }
      const minimum = parameters.minAmountOut?.[k]
      block.quoted += exact
      block.sales.push({ k, quote: exact, minimum: minimum ?? 0n })
      block.minimum += minimum ?? 0n
      if (expected === undefined) block.planned = false
      else {
        // The solver's take from this sale (swapPlanTake): its minimum plus SWAP_PLAN_TAKE_BIAS of the way to the
        // expected output less the margin; what the repayment carries beyond the takes is the plan's own loan token.
        // With a flash premium the take is at most what, with its premium, the output less the margin pays back.
        const top = less(expected)
        const topTake = maxFlashedFor(top, premiumBps)
        block.take += minimum === undefined ? topTake : swapPlanTake(minimum, topTake)
        if (top > exact) block.short += top - exact
      }
      blocks.set(opener, block)
    } else if (!sell) {
      const j = actions.findIndex((a, i) => i > k && a.kind === "SupplyCollateral" && a.subAccount === swap.subAccount)
      const minimum = parameters.minAmountOut?.[k]
      if (j >= 0) {
        const paid = minimum !== undefined && exact < minimum ? minimum : exact
        lower(j, paid)
        const supplied = (actions[j] as ChainPlan["actions"][number]).amount
        swapPaid[k] = supplied < paid ? supplied : paid
      }
    }
  }
  for (const [j, block] of blocks) {
    const a = actions[j] as ChainPlan["actions"][number]
    // The own funds: what the repayment carries beyond the sales' takes, unless that is the float noise of the solver's
    // amount against the integer takes (a few ulps of a double, 2^-50 of it, and a wei per floor): the margin below the
    // quotes covers that much, while an own part the Safe does not hold would be cut by the clamp.
    // (A premium's integer division floors once more per sale: a wei more of noise each.)
    const beyond = a.amount > block.take ? a.amount - block.take : 0n
    const noise = (block.premiumBps > 0n ? 3n : 2n) * BigInt(block.sales.length)
    const own = block.planned && beyond > a.amount / FLOAT_NOISE_DIVISOR + noise ? beyond : 0n
    // What the venue collects: the opener's amount plus, flash-funded (Aave), the premium on it. The sales' shortfall
    // against their plan comes off that pull; the opener is the largest amount whose pull fits what is left.
    const pull = (x: bigint) => x + (block.premiumBps > 0n ? flashPremium(x, block.premiumBps) : 0n)
    const settled = block.planned ? maxFlashedFor(pull(a.amount) - block.short, block.premiumBps) : maxFlashedFor(block.quoted, block.premiumBps)
    // The sale-minimum mode (issue 13): the repayment written out as the module will compute it at the price expected at
    // inclusion, own funds + the sales' minimums; only without a premium (the module adds the minimum whole) and with
    // every sale's minimum known.
    const mode =
      parameters.repayment === "sale-minimum" && block.planned && block.premiumBps === 0n && a.kind === "RepayWithCallback" &&
      block.sales.every((x) => (parameters.minAmountOut?.[x.k] ?? 0n) > 0n)
    // The own funds as the solver recorded them (review rv60k F1: under the mode its amount is own + the minimums at its
    // own price, not + the take), else the amount less the minimums; never above the amount.
    const recorded = parameters.brought?.[j]
    const rest = a.amount > block.minimum ? a.amount - block.minimum : 0n
    const ownPart = !mode ? own : recorded === undefined ? rest : recorded < a.amount ? recorded : a.amount
    if (mode) saleMinimum.add((plan.subAccounts[a.subAccount] as string).toLowerCase())
    lower(j, mode ? ownPart + block.minimum : settled > own + block.minimum ? settled : own + block.minimum)
    // The sales pay what the venue collects beyond the own funds: each its on-chain minimum, the slack above the
    // minimums in proportion to what each quote exceeds its minimum by (the last the rest). A share below its sale's
    // minimum would let the clamp's cut of one sale take the repayment below the sum of the sales' minimums, which the
    // module refuses (SaleExceedsRepayment).
    const amount = (actions[j] as ChainPlan["actions"][number]).amount - ownPart
    swapShares(block.sales, amount > 0n ? amount : 0n).forEach((share, n) => {
      swapPaid[(block.sales[n] as { k: number }).k] = share
    })
  }
  return { plan: { ...plan, actions }, funding: { ...parameters.funding, swapPaid }, saleMinimum }
}

/**
 * The plan with each `RepayWithCallback` of a sub-account in `subs` (lower-case ids, {@link settleSwapPlan}'s
 * `saleMinimum`) turned into the module's sale-minimum repayment mode (issue 13): `repayment: "sale-minimum"` and an
 * amount of what it repays beyond its block's sales of that sub-account at their `minAmountOut` (per action index of
 * `plan`, as `swapMinimumsAtInclusion` computes them), so the module adds the minimums at the oracle at inclusion. Run
 * after the clamp, which bounds the written-out repayment. An opener whose block has no such sale, a sale without a
 * minimum, or a repayment under its minimums is left as written (the fixed amount).
 *
 * @returns The plan (the same object when nothing is turned).
 */
export function toSaleMinimumRepayment(plan: ChainPlan, subs: ReadonlySet<string>, minAmountOut: readonly (bigint | undefined)[]): ChainPlan {
  if (subs.size === 0) return plan
  let changed = false
  const actions = plan.actions.map((a, j) => {
    if (a.kind !== "RepayWithCallback" || !subs.has((plan.subAccounts[a.subAccount] as string).toLowerCase())) return a
    let minimums = 0n
    let sales = 0
    for (let k = j + 1; k < plan.actions.length && plan.actions[k]?.kind !== "EndCallback"; k++) {
      const b = plan.actions[k] as ChainPlan["actions"][number]
      if (b.kind !== "SellCollateral" || b.subAccount !== a.subAccount) continue
      const m = minAmountOut[k]
      if (m === undefined || m === 0n) return a
      minimums += m
      sales++
    }
    if (sales === 0 || a.amount < minimums) return a
    changed = true
    return { ...a, amount: a.amount - minimums, repayment: "sale-minimum" as const }
  })
  return changed ? { ...plan, actions } : plan
}

/**
 * Shares `paid` among a callback block's sales: each its `minimum`, the rest in proportion to `quote - minimum` (to
 * `quote` when no quote is above its minimum), the last the remainder; when `paid` is below the sum of the minimums,
 * in proportion to the minimums. Base units of the loan (sale) or collateral (purchase) token.
 *
 * @returns One share per sale, summing to `paid`.
 */
export function swapShares(sales: readonly { quote: bigint; minimum: bigint }[], paid: bigint): bigint[] {
  const minimums = sales.reduce((sum, x) => sum + x.minimum, 0n)
  const above = sales.map((x) => (x.quote > x.minimum ? x.quote - x.minimum : 0n))
  const aboveSum = above.reduce((sum, x) => sum + x, 0n)
  const [base, weights] =
    paid < minimums ? [sales.map(() => 0n), sales.map((x) => x.minimum)] : [sales.map((x) => x.minimum), aboveSum > 0n ? above : sales.map((x) => x.quote)]
  const slack = paid - base.reduce((sum, x) => sum + x, 0n)
  const total = weights.reduce((sum, x) => sum + x, 0n)
  let left = slack
  return sales.map((_, n) => {
    const extra = n === sales.length - 1 || total === 0n ? left : (slack * (weights[n] as bigint)) / total
    left -= extra
    return (base[n] as bigint) + extra
  })
}

/** The Safe's Aave dust collateral read with its limits (one Aave account per Safe, the same on every sub-account). */
const aaveDustOfLimits = (limits: Record<string, AaveSubAccountLimits>): AaveDustReserve[] | undefined => Object.values(limits).find((l) => l.dustCollateral !== undefined)?.dustCollateral

/** Each Aave sub-account's borrow refusal reason read with its limits (undefined: the limits were not read). */
const aaveBorrowRefusalsOf = (limits: Record<string, AaveSubAccountLimits>): Record<string, AaveBorrowRefusal | undefined> | undefined =>
  Object.keys(limits).length === 0 ? undefined : Object.fromEntries(Object.entries(limits).map(([id, l]) => [id.toLowerCase(), l.borrowRefusal?.reason]))

/** The Safe's Aave collateral reserves read with its limits (one read per Safe, the same on every sub-account). */
const aaveCollateralOf = (limits: Record<string, AaveSubAccountLimits>): AaveCollateralShare | undefined => Object.values(limits).find((l) => l.collateralShare !== undefined)?.collateralShare

/**
 * One Safe as the solver sees it, from the lens's batched read (`getSafeStates`, the fleet's path): token and pool names
 * are lower-case addresses, amounts in human units. The batched read has no Morpho market liquidity: the fleet step
 * reads it ({@link readBorrowable}) when a plan may follow and passes it as `borrowable`; an Aave sub-account's reserve limits and repayable debt come from
 * `aaveLimits` ({@link readAaveLimits}, read only for Safes with one) as on the single-Safe path. Sub-accounts the lens
 * could not read (their adapter reverted) are in `unreadable`, the Safe's others are planned for.
 *
 * @returns The {@link PortfolioSnapshot} at `block`.
 */
export function portfolioOf(
  state: Extract<SafeState, { error?: undefined }>,
  parameters: {
    blockNumber: bigint
    timestamp: bigint
    risk: KeeperRiskSettings
    costs: SolverInput["costs"]
    aaveLimits?: Record<string, AaveSubAccountLimits> | undefined
    /** Morpho sub-accounts' market free liquidity ({@link readBorrowable}), base units by lower-case id; unknown: no limit. */
    borrowable?: Record<string, bigint> | undefined
    /** The pools' totals at `blockNumber` ({@link readPoolTotals}), for the rule book's judge; undefined: not read. */
    poolTotals?: PortfolioSnapshot["poolTotals"] | undefined
    /** Reads that failed and were planned around (`PortfolioSnapshot.degraded`, e.g. {@link readBorrowableBounded}'s). */
    degraded?: DegradedRead[] | undefined
    /** The sub-accounts' stops at `blockNumber` ({@link readStopLosses}), applied as on the single-Safe path; undefined: not read. */
    stops?: Record<string, StopLoss> | undefined
    /**
     * The deployment's Aave v3 adapter (`deployment.adapters.aaveV3`): its sub-accounts are judged by Aave's floored
     * factor (`thresholdFloored`) whether or not `aaveLimits` has them (review rr17 R1).
     */
    aaveAdapter?: Address | undefined
  },
): PortfolioSnapshot {
  const { risk, costs } = parameters
  const aaveLimits = parameters.aaveLimits ?? {}
  const borrowable: Record<string, bigint> = { ...parameters.borrowable }
  // An Aave borrow is bounded by the reserve (liquidity, cap) here, and by the account's LTV room at the borrow (Aave
  // refuses above it, "36") through `ltvBorrowable` and `ltvGain`: the room before the plan plus what the plan supplied
  // before the borrow (a flash-looped boost borrows inside its supply's callback), not one folded figure.
  for (const [id, l] of Object.entries(aaveLimits)) borrowable[id] = l.debt.borrowable
  const chain = state.subAccounts
  const decimals: Record<string, number> = {}
  const idle: Record<string, number> = {}
  const balances: Record<string, bigint> = {}
  for (const t of state.tokens) {
    const token = t.token.toLowerCase()
    decimals[token] = t.decimals
    balances[token] = t.balance
    idle[token] = Number(t.balance) / 10 ** t.decimals
  }
  const yieldPools: YieldPool[] = state.pools.map((p) => {
    const asset = p.asset.toLowerCase()
    const d = decimals[asset] ?? 18
    return { address: p.pool.toLowerCase(), asset, decimals: d, balance: Number(p.assets) / 10 ** d, withdrawable: Number(p.maxWithdraw) / 10 ** d }
  })
  const now = Number(parameters.timestamp)
  const subAccounts = chain.map((s) => {
    const id = s.subAccount.toLowerCase()
    return subAccountInputOf(s, decimals, risk, borrowable[id], aaveLimits[id], parameters.aaveAdapter)
  })
  const pools = state.pools.map((p) => ({ pool: p.pool.toLowerCase(), asset: p.asset.toLowerCase(), maxWithdraw: p.maxWithdraw, shares: p.shares, assets: p.assets }))
  const bounds = chainBoundsOf(chain, balances, pools, borrowable, aaveLimits)
  applyStops(chain, subAccounts, bounds, parameters.stops)
  return {
    bounds,
    blockNumber: parameters.blockNumber,
    timestamp: now,
    chain,
    unreadable: state.unreadable,
    decimals,
    input: { now, subAccounts, pools: yieldPools, idle, costs, mode: risk.mode },
    aaveCollateral: aaveCollateralOf(aaveLimits),
    aaveDust: aaveDustOfLimits(aaveLimits),
    aaveBorrowRefusals: aaveBorrowRefusalsOf(aaveLimits),
    poolTotals: parameters.poolTotals,
    ...(parameters.stops !== undefined ? { stops: parameters.stops } : {}),
    ...(parameters.degraded !== undefined && parameters.degraded.length > 0 ? { degraded: parameters.degraded } : {}),
  }
}

/**
 * One sub-account in the solver's human units (`borrowable`: what its market can still lend, base units, if known;
 * `aave`: an Aave sub-account's reserve limits, which also bound supplies, withdrawals and repayments; `aaveAdapter`:
 * the deployment's Aave v3 adapter, whose sub-accounts are `thresholdFloored` from the adapter, as the SDK's
 * validateRebalance marks them, even when their limits were not read: review rr17 R1).
 */
function subAccountInputOf(s: ChainSubAccount, decimals: Record<string, number>, risk: KeeperRiskSettings, borrowable: bigint | undefined, aave?: AaveSubAccountLimits | undefined, aaveAdapter?: Address | undefined): SubAccountInput {
  const loan = s.loanToken.toLowerCase()
  const coll = s.collateralToken.toLowerCase()
  const ld = decimals[loan] as number
  const cd = decimals[coll] as number
  const u = s.epochUsage
  const floored = aave !== undefined || (aaveAdapter !== undefined && isAddressEqual(s.policy.adapter, aaveAdapter))
  return {
    state: {
      id: s.subAccount.toLowerCase(),
      loanAsset: loan,
      collateralAsset: coll,
      loanDecimals: ld,
      collateralDecimals: cd,
      collateral: Number(s.collateral) / 10 ** cd,
      debt: Number(s.debt) / 10 ** ld,
      lltv: Number(s.lltv) / WAD,
      price: (Number(s.price) / 1e36) * 10 ** (cd - ld),
      borrowable: borrowable === undefined ? undefined : Number(borrowable) / 10 ** ld,
      // The adapter's net value of the account (the module's epoch loss budget base: on Aave the whole account's).
      ...(s.equity === undefined ? {} : { equity: Number(s.equity) / 10 ** ld }),
      // Aave's factor floors the account's average threshold: the solver triggers and aims by it (review brk17c F1), also
      // when the limits read failed (rr17 R1: without `collateralHeld` thresholdFloorGap takes its worst case).
      ...(floored ? { thresholdFloored: true } : {}),
      // The adapter's health (Aave: getUserAccountData's factor exactly): the solver's health before is Aave's own, not
      // a rebuild from the frame in which a dust collateral hides (review rr17c residual). Only with a debt.
      ...(floored && s.debt > 0n && s.health < maxUint256 ? { health: Number(s.health) / WAD } : {}),
      ...(aave
        ? {
            suppliable: aave.collateral.suppliable === undefined ? undefined : Number(aave.collateral.suppliable) / 10 ** cd,
            withdrawable: Number(aave.collateral.withdrawable) / 10 ** cd,
            // The Safe's own balance of the scope's collateral reserve (0 when switched off as collateral): on a
            // multi-collateral account `collateral` counts every reserve, a withdrawal or sale of this one no more than it.
            ...(aave.collateralHeld !== undefined ? { collateralHeld: Number(aave.collateralHeld) / 10 ** cd } : {}),
            // No other collateral in Aave's user configuration: an average at the market's threshold is exact (not
            // floored); otherwise or unknown the solver and its rule check take the floor's worst case (review rr17c F1).
            ...(aave.soleCollateral === true ? { soleCollateral: true } : {}),
            // Aave's base-currency figures at the snapshot's block with the lens's exact frame: the solver's rule check
            // reads Aave's factor after a plan in Aave's own integer math (review r17f).
            ...(aave.aaveBase !== undefined ? { aaveBase: aave.aaveBase } : {}),
            repayable: aave.debt.repayable === undefined ? undefined : Number(aave.debt.repayable) / 10 ** ld,
            // What a repayment clears when below the debt (the module's Run.repayable): the rules count no more as spent.
            ...(aave.repayableDebt !== undefined && aave.repayableDebt < s.debt ? { repayableDebt: Number(aave.repayableDebt) / 10 ** ld } : {}),
            // A liquidation's cost by Aave's terms (the reserve's bonus, the 50 % close factor), not Morpho's formula.
            ...(aave.liquidationIncentiveFactor !== undefined ? { liquidationIncentive: Number(aave.liquidationIncentiveFactor) / WAD } : {}),
            liquidationCloseFactor: AAVE_DEFAULT_CLOSE_FACTOR,
            // The account's LTV room before the plan and the LTV a supply of this collateral adds room at (e-mode
            // aware): the solver bounds each borrow by the room at that borrow (a flash-looped boost's callback counts
            // its own supply). Unknown (a read failed): the reserve's `borrowable` alone, no supply credited.
            // The room is the Aave ACCOUNT's (one per Safe and adapter): its sub-accounts share it (`ltvAccount`).
            ...(aave.ltvBorrowable !== undefined ? { ltvBorrowable: Number(aave.ltvBorrowable) / 10 ** ld, ltvAccount: s.policy.adapter.toLowerCase() } : {}),
            ...(aave.ltvGain !== undefined ? { collateralLtv: Number(aave.ltvGain.ltvBps) / 10_000 } : {}),
            // The flash-loan router's premium on a callback block (swap deleverage, flash-looped boost).
            ...(aave.flashPremiumBps !== undefined ? { flashPremiumBps: Number(aave.flashPremiumBps) } : {}),
            // What the router can flash of each reserve now (free liquidity; 0 paused, inactive, flash loans off).
            flashable: Number(aave.debt.flashable) / 10 ** ld,
            flashableCollateral: Number(aave.collateral.flashable) / 10 ** cd,
          }
        : {}),
    },
    policy: {
      minHealth: Number(s.policy.minHealth) / WAD,
      targetHealth: Number(s.policy.targetHealth) / WAD,
      maxHealth: Number(s.policy.maxHealth) / WAD,
      maxAmountPerRebalance: Number(s.policy.maxAmountPerRebalance) / 10 ** ld,
      maxAmountPerEpoch: Number(s.policy.maxAmountPerEpoch) / 10 ** ld,
      epochLength: s.policy.epochLength,
      maxRebalancesPerEpoch: s.policy.maxRebalancesPerEpoch,
      maxGasPerEpoch: Number(s.policy.maxGasPerEpoch),
      cooldown: s.policy.cooldown,
      maxLossBps: s.policy.maxLossBps,
      maxEpochLossBps: s.policy.maxEpochLossBps,
      boostAllowed: s.policy.boostAllowed,
      // Issue 13: the owner's in-band rescue (the solver plans it in autopilot mode; its rule check passes it on).
      ...(s.policy.rescueBelowTarget === true ? { rescueBelowTarget: true } : {}),
      maxSlippageBps: s.policy.maxSlippageBps,
      pools: s.policy.pools.map((p) => p.toLowerCase()),
      tolerance: risk.tolerance,
      horizon: risk.horizon,
    },
    epoch: {
      lastRebalance: u.lastRebalance === 0 ? undefined : u.lastRebalance,
      epoch: u.epoch === 0 ? undefined : u.epoch,
      lossPpbInEpoch: u.lossPpb,
      amountInEpoch: Number(u.amountMoved) / 10 ** ld,
      rebalancesInEpoch: u.rebalances,
      gasInEpoch: u.gasUsed,
    },
    risk: { sigma: risk.sigma },
  }
}

/**
 * The raw on-chain bounds of a plan's amounts (base units), for `clampToChainBounds`; an Aave sub-account's limits
 * (`aaveLimits`, by lower-case id) bound its repayments (maxRepayable, and 0 when its debt reserve takes none), its
 * collateral supplies (the supply-cap room) and withdrawals (the reserve's available liquidity, and the Safe's own
 * balance of that reserve, `collateralHeld`), and its callback blocks' flash loans (`flashable`: each reserve's free
 * liquidity, 0 paused / inactive / flash loans disabled).
 */
function chainBoundsOf(
  chain: ChainSubAccount[],
  balances: Record<string, bigint>,
  pools: { pool: string; asset: string; maxWithdraw: bigint; shares?: bigint | undefined; assets?: bigint | undefined }[],
  borrowable: Record<string, bigint>,
  aaveLimits: Record<string, AaveSubAccountLimits> = {},
): ChainBounds {
  const repayableOf = (l: AaveSubAccountLimits): bigint | undefined => {
    const [a, b] = [l.repayableDebt, l.debt.repayable]
    return a === undefined ? b : b === undefined || a < b ? a : b
  }
  const aaveBoundsOf = (l: AaveSubAccountLimits | undefined) =>
    l === undefined ? {} : { repayable: repayableOf(l), suppliable: l.collateral.suppliable, withdrawable: l.collateral.withdrawable, collateralHeld: l.collateralHeld, flashable: { loan: l.debt.flashable, collateral: l.collateral.flashable }, ltvBorrowable: l.ltvBorrowable, ltvGain: l.ltvGain }
  return {
    balances,
    maxWithdraw: Object.fromEntries(pools.map((p) => [p.pool, p.maxWithdraw])),
    poolAsset: Object.fromEntries(pools.map((p) => [p.pool, p.asset])),
    // The Safe's shares and their assets: a second withdrawal from a pool is held a share's worth lower (review rr11e E2).
    poolShares: Object.fromEntries(pools.flatMap((p) => (p.shares === undefined || p.assets === undefined ? [] : [[p.pool, { shares: p.shares, assets: p.assets }]]))),
    subAccounts: Object.fromEntries(
      chain.map((s) => [
        s.subAccount.toLowerCase(),
        {
          debt: s.debt,
          collateral: s.collateral,
          loanToken: s.loanToken.toLowerCase(),
          collateralToken: s.collateralToken.toLowerCase(),
          borrowable: borrowable[s.subAccount.toLowerCase()],
          price: s.price,
          maxSlippageBps: s.policy.maxSlippageBps,
          due: s.band === "below" || inBandRescueDue(s) || (s.band === "above" && s.policy.boostAllowed),
          ...aaveBoundsOf(aaveLimits[s.subAccount.toLowerCase()]),
          // One Safe's sub-accounts on one Aave adapter are one Aave account: they share its LTV room.
          ...(aaveLimits[s.subAccount.toLowerCase()]?.ltvBorrowable !== undefined ? { ltvAccount: s.policy.adapter.toLowerCase() } : {}),
        },
      ]),
    ),
  }
}

/**
 * What the solver's plan says of how it pays its spends, for the send clamp ({@link PlanFunding}, indexed like
 * `plan.actions` and so like {@link toChainPlan}'s actions): `paysFor` per source (the spend of another sub-account a
 * donor's borrow or collateral withdrawal was taken for, `PlanAction.paysFor`; undefined: taken for no other
 * sub-account's spend) and `idle` per spend (its idle part in base units, `PlanAction.idle`; undefined: not known).
 * With `paysFor` given the clamp infers no recipient (review rr11b B1/B2: the plan, not a guess, says which repayment a
 * donor's borrow pays).
 *
 * @returns The funding split; `settleSwapPlan` adds its swaps' shares (`swapPaid`).
 */
export function planFundingOf(plan: Plan): PlanFunding {
  return { paysFor: plan.actions.map((a) => a.paysFor), idle: plan.actions.map((a) => a.idle) }
}

/**
 * The solver's plan as the SDK's (and the module's) `Plan`: base-unit amounts, checksummed pools.
 *
 * @returns The plan to encode into `executeRebalance`.
 */
export function toChainPlan(plan: Plan): ChainPlan {
  return {
    subAccounts: plan.subAccounts as Hex[],
    actions: plan.actions.map((a): ChainPlan["actions"][number] => {
      if (a.kind === "WithdrawFromPool" || a.kind === "DepositToPool")
        return { kind: a.kind, subAccount: a.subAccount, pool: getAddress(a.pool as string), amount: a.amountBase }
      if (a.kind === "SellCollateral" || a.kind === "BuyCollateral")
        return { kind: a.kind, subAccount: a.subAccount, route: a.route as Hex, amount: a.amountBase }
      if (a.kind === "EndCallback") return { kind: a.kind, subAccount: a.subAccount, amount: 0n }
      return { kind: a.kind, subAccount: a.subAccount, amount: a.amountBase }
    }),
  }
}
