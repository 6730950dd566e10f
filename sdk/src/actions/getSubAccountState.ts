import { type Account, type Address, type Chain, type Client, type Hex, type Transport, zeroAddress } from "viem"
import { readContract } from "viem/actions"
import { leverageLensAbi, leverageLensBytecode } from "../abis/leverageLens.js"
import type { LeverageDeployments } from "../constants/deployments.js"
import { AccountNotFoundError, type UnknownChainErrorType } from "../errors/deployments.js"
import { UnknownSubAccountError, type UnknownSubAccountErrorType } from "../errors/policy.js"
import { SubAccountReadError, type SubAccountReadErrorType } from "../errors/read.js"
import type { EpochUsage, Policy } from "../types/leverage.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"
import { type MarketState, type SubAccountMetrics, getBandPosition, getSubAccountMetrics } from "../utils/health.js"
import { getDefaultSafe, getReadClient } from "../utils/reader.js"

export type GetSubAccountStateParameters = {
  /** The Safe; the client's smart account by default. */
  safe?: Address | undefined
  /** Only these sub-accounts; every sub-account with a policy by default. */
  subAccounts?: readonly Hex[] | undefined
  deployments?: LeverageDeployments | undefined
}

/** One sub-account: its policy, venue position, epoch usage and derived risk metrics. */
export type SubAccountState = MarketState &
  SubAccountMetrics & {
    subAccount: Hex
    policy: Policy
    epochUsage: EpochUsage
    /** Where health sits against the policy band: "below" and, with boostAllowed, "above" let a keeper act. */
    band: "below" | "inside" | "above"
  }

export type GetSubAccountStateReturnType = SubAccountState[]

export type GetSubAccountStateErrorType = UnknownChainErrorType | UnknownSubAccountErrorType | SubAccountReadErrorType | Error

/** One `eth_call` running the LeverageLens creation code (no deployment needed): every sub-account at one block. */
async function readViews(reader: Client<Transport, Chain | undefined>, module: Address, safe: Address, subAccounts: readonly Hex[]) {
  try {
    return await readLens(reader, module, safe, subAccounts)
  } catch (error) {
    const unknown = (error as { walk?: (fn: (e: unknown) => boolean) => unknown }).walk?.(
      (e) => (e as { data?: { errorName?: string } }).data?.errorName === "UnknownSubAccount",
    ) as { data?: { args?: readonly unknown[] } } | undefined
    if (unknown) throw new UnknownSubAccountError({ subAccount: unknown.data?.args?.[0] as Hex })
    throw error
  }
}

type LensView = Awaited<ReturnType<typeof readLens>>[number]

function toState(view: LensView): SubAccountState {
  const { subAccount, policy, usage, state } = view
  // Health is the adapter's (`MarketState.health`, what the module judges: Aave's health factor exactly), not the
  // frame math, which is below Aave's by unit rounding (issue 17).
  const metrics = { ...getSubAccountMetrics(state), health: state.health }
  return {
    subAccount,
    policy: policy as Policy,
    epochUsage: usage as EpochUsage,
    ...state,
    ...metrics,
    band: getBandPosition({ health: metrics.health, minHealth: policy.minHealth, maxHealth: policy.maxHealth }),
  }
}

function readLens(reader: Client<Transport, Chain | undefined>, module: Address, safe: Address, subAccounts: readonly Hex[]) {
  return readContract(reader, { abi: leverageLensAbi, code: leverageLensBytecode, functionName: "read", args: [module, safe, subAccounts] })
}

/**
 * Reads every sub-account of the Safe (or the given ones) with its policy, position and risk metrics: health, LTV,
 * effective leverage, liquidation price and distance to liquidation (docs/policy-rules.md). Everything comes from one
 * `eth_call` at one block: the call carries the creation code of `LeverageLens` (modules/src/lens), which reads the
 * sub-account list, policies, epoch usage and every adapter's market state, so no contract needs to be deployed and
 * the chain needs no Multicall3.
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
  return (await readSafeViews(client, parameters)).map(subAccountStateOf)
}

/** The lens's views of the Safe's sub-accounts (the client's Safe by default), at one block. */
async function readSafeViews(client: Client<Transport, Chain | undefined, Account | undefined>, parameters: GetSubAccountStateParameters) {
  const reader = getReadClient(client)
  const safe = getDefaultSafe(client, parameters.safe)
  if (!safe) throw new AccountNotFoundError()
  const { deployment } = await resolveLeverageDeployment(reader, parameters.deployments)
  return readViews(reader, deployment.leverageModule, safe, parameters.subAccounts ?? [])
}

/** One sub-account as `LeverageLens` returns it (`SubAccountView`). */
export type SubAccountView = LensView

/**
 * A lens `SubAccountView` with its risk metrics and band position.
 *
 * @returns The {@link SubAccountState}.
 * @throws {SubAccountReadError} when the adapter reverted while reading the sub-account.
 */
export function subAccountStateOf(view: SubAccountView): SubAccountState {
  if (!view.stateOk) throw readErrorOf(view)
  return toState(view)
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
  const views = await readSafeViews(client, parameters)
  const states: SubAccountState[] = []
  const unreadable: SubAccountReadError[] = []
  for (const view of views) {
    if (view.stateOk) states.push(toState(view))
    else unreadable.push(readErrorOf(view))
  }
  return { states, unreadable }
}
