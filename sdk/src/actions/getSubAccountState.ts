import { type Account, type Address, type Chain, type Client, type Hex, type Transport, isAddressEqual, maxUint256, parseAbi, zeroAddress } from "viem"
import { getBlockNumber, readContract } from "viem/actions"
import { leverageLensAbi, leverageLensBytecode } from "../abis/leverageLens.js"
import type { LeverageDeployments } from "../constants/deployments.js"
import { AccountNotFoundError, type UnknownChainErrorType } from "../errors/deployments.js"
import { UnknownSubAccountError, type UnknownSubAccountErrorType } from "../errors/policy.js"
import { SubAccountReadError, type SubAccountReadErrorType } from "../errors/read.js"
import type { EpochUsage, Policy } from "../types/leverage.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"
import { type MarketState, type SubAccountMetrics, getBandPosition, getSubAccountMetrics } from "../utils/health.js"
import { getDefaultSafe, getReadClient } from "../utils/reader.js"
import { readAaveCollateral } from "../utils/aaveCollateral.js"
import { readMany, resultOf } from "../utils/multicall.js"

const WAD = 10n ** 18n
const PRICE_SCALE = 10n ** 36n

const aaveAccountAbi = parseAbi([
  "function POOL() view returns (address)",
  "function getUserAccountData(address user) view returns (uint256 totalCollateralBase, uint256 totalDebtBase, uint256 availableBorrowsBase, uint256 currentLiquidationThreshold, uint256 ltv, uint256 healthFactor)",
])

/**
 * An Aave v3 sub-account's own figures (the Safe's whole Aave account), read at the lens's block: `getUserAccountData`
 * (base currency units, USD 8 decimals on Aave v3; `currentLiquidationThreshold` and `ltv` in bps, Aave's floored
 * averages; `healthFactor` WAD) and the Safe's balance of the sub-account's collateral reserve as Aave counts it
 * (`collateralHeld`, collateral base units, 0 when switched off; undefined when unread).
 */
export type AaveAccountFigures = {
  totalCollateralBase: bigint
  totalDebtBase: bigint
  availableBorrowsBase: bigint
  currentLiquidationThreshold: bigint
  ltv: bigint
  healthFactor: bigint
  collateralHeld?: bigint | undefined
}

export type GetSubAccountStateParameters = {
  /** The Safe; the client's smart account by default. */
  safe?: Address | undefined
  /** Only these sub-accounts; every sub-account with a policy by default. */
  subAccounts?: readonly Hex[] | undefined
  deployments?: LeverageDeployments | undefined
  /**
   * Read each Aave v3 sub-account's own figures ({@link AaveAccountFigures}: `getUserAccountData` and the Safe's balance
   * of the collateral reserve, batched, at the lens's block) for `aaveAccount` and the liquidation price of a
   * multi-collateral account. Default: true in {@link getSubAccountState}, false in {@link getSubAccountStateSettled}
   * (the keeper's per-block read stays one `eth_call`). Without them a multi-collateral Aave account whose frame is not
   * its collateral's value shows `liquidationPriceKnown` false.
   */
  readAaveAccounts?: boolean | undefined
  /**
   * Read at this block (every call of the read pinned to it); the chain's latest block by default. Pass a receipt's
   * `blockNumber` to see the state a transaction left, whatever block the node reports as latest.
   */
  blockNumber?: bigint | undefined
}

/**
 * One sub-account: its policy, venue position, epoch usage and derived risk metrics.
 *
 * The metrics are the ACCOUNT's (review brk17c F2): `collateralValue` is the adapter's `equity + debt` when it reports
 * equity (Morpho Blue: the same as `collateral x price`; Aave v3: `getUserAccountData`'s total collateral of every
 * reserve at its own value, in loan units, not the market frame's threshold-weighted `collateral x price`), and `ltv` and
 * `leverage` derive from it. `liquidationPrice` / `distanceToLiquidation` are the price of THIS sub-account's collateral
 * at which its account's health reaches 1 with every other collateral at its price (Morpho Blue and a one-collateral
 * Aave account: the frame's formula as before); `liquidationPriceKnown` says whether one exists: false when no price of
 * this collateral alone liquidates the account (an Aave account whose other collaterals cover the debt), or when an
 * Aave account holds other collateral and its balance of this reserve was not read; liquidationPrice is then 0 and
 * distanceToLiquidation 1e18, as without debt. Fields added, none removed.
 */
export type SubAccountState = MarketState &
  SubAccountMetrics & {
    subAccount: Hex
    policy: Policy
    epochUsage: EpochUsage
    /**
     * Where health sits against the policy band: "below" and, with boostAllowed, "above" let a keeper act. With
     * `policy.rescueBelowTarget` a keeper may also act on "inside" below `policy.targetHealth` (an in-band rescue, module
     * rule 1): `band` does not say so; the rule book's `due` (sdk/src/rules/planRules.ts) does.
     */
    band: "below" | "inside" | "above"
    /** Whether `liquidationPrice` is a price of this collateral that liquidates the account (see the type's doc). */
    liquidationPriceKnown: boolean
    /** Aave v3 sub-accounts read by {@link getSubAccountState}: the account's own figures; undefined otherwise. */
    aaveAccount?: AaveAccountFigures | undefined
  }

export type GetSubAccountStateReturnType = SubAccountState[]

export type GetSubAccountStateErrorType = UnknownChainErrorType | UnknownSubAccountErrorType | SubAccountReadErrorType | Error

/** One `eth_call` running the LeverageLens creation code (no deployment needed): every sub-account at one block. */
async function readViews(reader: Client<Transport, Chain | undefined>, module: Address, safe: Address, subAccounts: readonly Hex[], blockNumber?: bigint | undefined) {
  try {
    return await readLens(reader, module, safe, subAccounts, blockNumber)
  } catch (error) {
    const unknown = (error as { walk?: (fn: (e: unknown) => boolean) => unknown }).walk?.(
      (e) => (e as { data?: { errorName?: string } }).data?.errorName === "UnknownSubAccount",
    ) as { data?: { args?: readonly unknown[] } } | undefined
    if (unknown) throw new UnknownSubAccountError({ subAccount: unknown.data?.args?.[0] as Hex })
    throw error
  }
}

type LensView = Awaited<ReturnType<typeof readLens>>[number]

/** Rounding allowed between the frame's collateral value and `equity + debt` of a one-collateral Aave account: loan units. */
const FRAME_VALUE_SLACK_UNITS = 2n
/** The same, relative to the account's collateral value (1e-9): the adapter's base-currency floors in an 18-decimal loan. */
const FRAME_VALUE_SLACK_DIVISOR = 10n ** 9n

function toState(view: LensView, aave?: AaveAccountFigures | undefined): SubAccountState {
  const { subAccount, policy, usage, state } = view
  // Health is the adapter's (`MarketState.health`, what the module judges: Aave's health factor exactly), not the
  // frame math, which is above Aave's by up to its floor of the average threshold (issue 17, review brk17c).
  const frame = getSubAccountMetrics(state)
  const { debt, price, lltv, collateral } = state
  // The account's collateral value: equity + debt (review brk17c F2), the frame's when the adapter reports no equity.
  const collateralValue = state.equity === undefined ? frame.collateralValue : state.equity + debt > 0n ? state.equity + debt : 0n
  let { liquidationPrice, distanceToLiquidation } = frame
  let liquidationPriceKnown = debt > 0n
  // The frame's weighted collateral (loan units x WAD) and this reserve's share: the others' is what stays put when
  // only this collateral's price moves. Without a read balance, a frame that is not this reserve at its value (other
  // collateral at another threshold) gives no liquidation price.
  const held = aave?.collateralHeld
  // "The frame is this reserve at its value" within the adapter's roundings, which are not a few loan units in an
  // 18-decimal loan token (review rr17 R3): the frame floored to one collateral unit (one sat of WBTC is ~2e11 wei of
  // WETH), Aave's 1e-8 USD per-reserve floors (~3e6 wei each), equity floored and debt ceiled. Allowed: 2 loan units,
  // one collateral unit's value and 1e-9 of the account's value. A second collateral at another threshold moves the
  // frame by its value x the thresholds' gap (>= 1 bps of 1e4): one worth under ~1e-5 of the account beyond a collateral
  // unit is taken as absent, which moves the liquidation price by about as little.
  const slack = FRAME_VALUE_SLACK_UNITS + (price + PRICE_SCALE - 1n) / PRICE_SCALE + collateralValue / FRAME_VALUE_SLACK_DIVISOR
  const frameBeyondValue = state.equity !== undefined && distance(frame.collateralValue, collateralValue) > slack
  if (debt > 0n && (held !== undefined ? held !== collateral : frameBeyondValue)) {
    const others = held === undefined ? undefined : (collateral * price * lltv) / PRICE_SCALE - (held * price * lltv) / PRICE_SCALE
    const need = others === undefined ? 0n : debt * WAD - others
    if (others === undefined || held === undefined || held === 0n || need <= 0n || lltv === 0n) {
      liquidationPriceKnown = false
      liquidationPrice = 0n
      distanceToLiquidation = WAD
    } else {
      liquidationPrice = (need * PRICE_SCALE + held * lltv - 1n) / (held * lltv)
      distanceToLiquidation = price === 0n ? 0n : ((price - liquidationPrice) * WAD) / price
    }
  }
  const metrics = {
    collateralValue,
    health: state.health,
    ltv: debt === 0n ? 0n : collateralValue === 0n ? maxUint256 : (debt * WAD) / collateralValue,
    leverage: debt === 0n ? WAD : collateralValue > debt ? (collateralValue * WAD) / (collateralValue - debt) : maxUint256,
    liquidationPrice,
    distanceToLiquidation,
  }
  return {
    subAccount,
    policy: policy as Policy,
    epochUsage: usage as EpochUsage,
    ...state,
    ...metrics,
    band: getBandPosition({ health: metrics.health, minHealth: policy.minHealth, maxHealth: policy.maxHealth }),
    liquidationPriceKnown,
    ...(aave === undefined ? {} : { aaveAccount: aave }),
  }
}

const distance = (a: bigint, b: bigint): bigint => (a > b ? a - b : b - a)

function readLens(reader: Client<Transport, Chain | undefined>, module: Address, safe: Address, subAccounts: readonly Hex[], blockNumber?: bigint | undefined) {
  return readContract(reader, { abi: leverageLensAbi, code: leverageLensBytecode, functionName: "read", args: [module, safe, subAccounts], blockNumber })
}

/**
 * Reads every sub-account of the Safe (or the given ones) with its policy, position and risk metrics: health, LTV,
 * effective leverage, liquidation price and distance to liquidation (docs/policy-rules.md). Everything comes from one
 * `eth_call` at one block: the call carries the creation code of `LeverageLens` (modules/src/lens), which reads the
 * sub-account list, policies, epoch usage and every adapter's market state, so no contract needs to be deployed and
 * the chain needs no Multicall3. With an Aave v3 adapter in the deployment (and `readAaveAccounts`, the default), the
 * Aave sub-accounts' own figures are read at the same block (a few batched calls more): LTV, leverage and the
 * liquidation price are the account's ({@link SubAccountState}).
 *
 * @param client - Any client of the chain (a SmartAccountClient reads through its account's public client).
 * @param parameters - {@link GetSubAccountStateParameters}
 * @returns One entry per sub-account. {@link GetSubAccountStateReturnType}
 * @example
 * const [weth] = await getSubAccountState(publicClient, { safe, deployments })
 * console.log(formatEther(weth.health), formatEther(weth.leverage))
 */
export async function getSubAccountState(
  client: Client<Transport, Chain | undefined, Account | undefined>,
  parameters: GetSubAccountStateParameters = {},
): Promise<GetSubAccountStateReturnType> {
  const { views, aave } = await readSafeViews(client, { ...parameters, readAaveAccounts: parameters.readAaveAccounts ?? true })
  return views.map((view) => subAccountStateOf(view, aave.get(view.subAccount)))
}

/**
 * The lens's views of the Safe's sub-accounts (the client's Safe by default), at one block, and each readable Aave v3
 * sub-account's own figures at that block ({@link AaveAccountFigures}; none without an Aave adapter in the deployment).
 */
async function readSafeViews(client: Client<Transport, Chain | undefined, Account | undefined>, parameters: GetSubAccountStateParameters) {
  const reader = getReadClient(client)
  const safe = getDefaultSafe(client, parameters.safe)
  if (!safe) throw new AccountNotFoundError()
  const { deployment } = await resolveLeverageDeployment(reader, parameters.deployments)
  const adapter = parameters.readAaveAccounts ? deployment.adapters.aaveV3 : undefined
  const blockNumber =
    parameters.blockNumber ?? (adapter === undefined ? undefined : await getBlockNumber(reader, { cacheTime: 0 })) // not a cached block number: the chain as it is now
  const views = await readViews(reader, deployment.leverageModule, safe, parameters.subAccounts ?? [], blockNumber)
  const aave = new Map<Hex, AaveAccountFigures>()
  const aaveViews = adapter === undefined ? [] : views.filter((v) => v.stateOk && isAddressEqual(v.policy.adapter, adapter))
  if (adapter !== undefined && aaveViews.length > 0) {
    const [poolRead] = await readMany(reader, deployment, [{ address: adapter, abi: aaveAccountAbi, functionName: "POOL" }], blockNumber)
    const pool = resultOf<Address>(poolRead)
    const [accountRead] = pool === undefined ? [] : await readMany(reader, deployment, [{ address: pool, abi: aaveAccountAbi, functionName: "getUserAccountData", args: [safe] }], blockNumber)
    const account = resultOf<readonly [bigint, bigint, bigint, bigint, bigint, bigint]>(accountRead)
    const held = await readAaveCollateral(reader, { deployment, safe, collaterals: aaveViews.map((v) => v.state.collateralToken), blockNumber })
    if (account !== undefined)
      aaveViews.forEach((v, k) => {
        const [totalCollateralBase, totalDebtBase, availableBorrowsBase, currentLiquidationThreshold, ltv, healthFactor] = account
        aave.set(v.subAccount, { totalCollateralBase, totalDebtBase, availableBorrowsBase, currentLiquidationThreshold, ltv, healthFactor, collateralHeld: held[k]?.held })
      })
  }
  return { views, aave }
}

/** One sub-account as `LeverageLens` returns it (`SubAccountView`). */
export type SubAccountView = LensView

/**
 * A lens `SubAccountView` with its risk metrics and band position (see {@link SubAccountState}: the account's collateral
 * value, LTV and leverage; the liquidation price of this collateral alone, when one exists).
 *
 * @param view - The lens's view.
 * @param aave - An Aave v3 sub-account's own figures at the view's block (its `collateralHeld` gives the liquidation
 * price of this collateral on a multi-collateral account); omitted: none known.
 * @returns The {@link SubAccountState}.
 * @throws {SubAccountReadError} when the adapter reverted while reading the sub-account.
 */
export function subAccountStateOf(view: SubAccountView, aave?: AaveAccountFigures | undefined): SubAccountState {
  if (!view.stateOk) throw readErrorOf(view)
  return toState(view, aave)
}

function readErrorOf(view: SubAccountView): SubAccountReadError {
  return new SubAccountReadError({ subAccount: view.subAccount, adapter: view.policy.adapter, revertData: view.stateError })
}

export type GetSubAccountStateSettledReturnType = {
  /** The sub-accounts whose market state was read, in the lens's order. */
  states: SubAccountState[]
  /** The sub-accounts whose adapter reverted (a broken oracle or IRM), each with the revert data. */
  unreadable: SubAccountReadError[]
}

/**
 * Like {@link getSubAccountState}, but one sub-account whose oracle or venue reverts does not hide the others: the
 * readable ones come back in `states`, the broken ones as {@link SubAccountReadError}s in `unreadable` (the lens reads
 * each sub-account in its own try/catch). A keeper keeps managing the readable sub-accounts and alerts on the others.
 *
 * @param client - A public client (or a client with a Safe account).
 * @param parameters - {@link GetSubAccountStateParameters}
 * @returns {@link GetSubAccountStateSettledReturnType}
 * @throws UnknownSubAccountError when a sub-account given in `subAccounts` has no policy.
 */
export async function getSubAccountStateSettled(
  client: Client<Transport, Chain | undefined, Account | undefined>,
  parameters: GetSubAccountStateParameters = {},
): Promise<GetSubAccountStateSettledReturnType> {
  const { views, aave } = await readSafeViews(client, parameters)
  const states: SubAccountState[] = []
  const unreadable: SubAccountReadError[] = []
  for (const view of views) {
    if (view.stateOk) states.push(toState(view, aave.get(view.subAccount)))
    else unreadable.push(readErrorOf(view))
  }
  return { states, unreadable }
}
