import type { Account, Address, Chain, Client, Hex, Transport } from "viem"
import { readContract } from "viem/actions"
import { leverageLensAbi, leverageLensBytecode } from "../abis/leverageLens.js"
import type { LeverageDeployments } from "../constants/deployments.js"
import type { UnknownChainErrorType } from "../errors/deployments.js"
import { SafeReadError, type SafeReadErrorType, SubAccountReadError, type SubAccountReadErrorType } from "../errors/read.js"
import type { KeeperKey } from "../types/leverage.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"
import { getReadClient } from "../utils/reader.js"
import { type SubAccountState, subAccountStateOf } from "./getSubAccountState.js"

export type GetSafeStatesParameters = {
  /** The Safes, in the order the states are returned. All are read in one `eth_call`: split long lists (see below). */
  safes: readonly Address[]
  /** The keeper whose registration (`getKeeper(safe, keeper)`) is read on every Safe. */
  keeper: Address
  /** Block to read at; the latest by default. */
  blockNumber?: bigint | undefined
  /** Gas limit of the `eth_call`; the node's default cap when omitted. */
  gas?: bigint | undefined
  deployments?: LeverageDeployments | undefined
}

/** The Safe's balance of a token a plan can move, base units. */
export type TokenBalance = { token: Address; decimals: number; balance: bigint }

/** The Safe's position in one allowed ERC-4626 pool: shares, their value in `asset` base units, and what it may withdraw. */
export type PoolPosition = { pool: Address; asset: Address; shares: bigint; assets: bigint; maxWithdraw: bigint }

/** One Safe of {@link getSafeStates}: everything a keeper needs, or why it could not be read. */
export type SafeState =
  | {
      safe: Address
      error?: undefined
      /** The keeper's key on this Safe: `active`, `validAfter`, `validUntil` (unix seconds). */
      keeperKey: KeeperKey
      /** The automation lane's pause flag. */
      paused: boolean
      /** The Safe's EntryPoint nonce on the keeper nonce key (the key in the high 192 bits). */
      keeperNonce: bigint
      /** The sub-accounts whose market state was read, in the lens's order. */
      subAccounts: SubAccountState[]
      /**
       * The sub-accounts whose adapter reverted while reading them (a broken oracle or IRM), each with the revert data;
       * the Safe's other sub-accounts are in `subAccounts` (as `getSubAccountStateSettled` does for one Safe).
       */
      unreadable: SubAccountReadError[]
      tokens: TokenBalance[]
      pools: PoolPosition[]
    }
  | {
      safe: Address
      /** Why the Safe's read reverted (the module, the EntryPoint; one sub-account's adapter reverting is in `unreadable`). */
      error: SafeReadError
      keeperKey?: undefined
      paused?: undefined
      keeperNonce?: undefined
      subAccounts?: undefined
      unreadable?: undefined
      tokens?: undefined
      pools?: undefined
    }

export type GetSafeStatesReturnType = {
  /** The block read. */
  blockNumber: bigint
  /** Its timestamp, unix seconds. */
  timestamp: bigint
  /** One entry per Safe, in the order given. */
  safes: SafeState[]
}

export type GetSafeStatesErrorType = UnknownChainErrorType | SafeReadErrorType | SubAccountReadErrorType | Error

/** Where {@link getSafeStates} places the lens's runtime code for its `eth_call` (no code there on any chain we know). */
export const LENS_SCRATCH_ADDRESS = "0x1e25000000000000000000000000000000001e25" as const

/**
 * The lens's runtime code, cut from its creation code (solc's constructor without arguments:
 * `... PUSH2 <length> DUP1 PUSH2 <offset> PUSH0 CODECOPY PUSH0 RETURN INVALID <runtime>`); undefined when the
 * creation code has another shape (the deployless call is used then).
 */
const lensRuntime: Hex | undefined = (() => {
  const m = /^0x6080604052348015600e575f5ffd5b5061([0-9a-f]{4})8061([0-9a-f]{4})5f395ff3fe/.exec(leverageLensBytecode)
  if (!m) return undefined
  const length = Number.parseInt(m[1] as string, 16)
  const offset = Number.parseInt(m[2] as string, 16)
  const runtime = leverageLensBytecode.slice(2 + offset * 2, 2 + (offset + length) * 2)
  return runtime.length === length * 2 ? (`0x${runtime}` as Hex) : undefined
})()

/**
 * Reads many Safes at one block in ONE `eth_call` (`LeverageLens.readSafes`, its runtime code given by a state
 * override, so the result is not capped by the contract size limit; nodes without state overrides are not supported):
 * for each Safe the keeper's key, the pause flag, the keeper-lane nonce, every sub-account with its policy, epoch usage,
 * position and risk metrics (as {@link getSubAccountState}; a sub-account whose adapter reverts is returned in
 * `unreadable`, the Safe's others are still read), the Safe's balances of those sub-accounts' tokens and its
 * positions in their allowed pools. A Safe that cannot be read is returned with `error`; the others are unaffected.
 *
 * Cost: about 60k gas per Safe with one Morpho sub-account and one pool, so 200 Safes fit a 30M `eth_call` gas cap; split longer lists and pass `gas` when the node allows more.
 *
 * @param client - Any client of the chain.
 * @param parameters - {@link GetSafeStatesParameters}
 * @returns The block, its timestamp and one {@link SafeState} per Safe. {@link GetSafeStatesReturnType}
 * @example
 * const { blockNumber, safes } = await getSafeStates(publicClient, { safes: [safeA, safeB], keeper: keeper.address, deployments })
 * for (const s of safes) if (!s.error && s.keeperKey.active) console.log(s.safe, s.subAccounts.map((x) => x.band))
 */
export async function getSafeStates(
  client: Client<Transport, Chain | undefined, Account | undefined>,
  parameters: GetSafeStatesParameters,
): Promise<GetSafeStatesReturnType> {
  const reader = getReadClient(client)
  const { deployment } = await resolveLeverageDeployment(reader, parameters.deployments)
  const [blockNumber, timestamp, views] = await readContract(reader, {
    abi: leverageLensAbi,
    // The runtime code placed at a scratch address by a state override: a deployless call (`code`) returns its result
    // as the created contract's code, which EIP-170 caps at 24,576 bytes (about 40 Safes).
    ...(lensRuntime ? { address: LENS_SCRATCH_ADDRESS, stateOverride: [{ address: LENS_SCRATCH_ADDRESS, code: lensRuntime }] } : { code: leverageLensBytecode }),
    functionName: "readSafes",
    args: [deployment.leverageModule, parameters.keeper, deployment.entryPoint, parameters.safes],
    ...(parameters.blockNumber !== undefined ? { blockNumber: parameters.blockNumber } : {}),
    ...(parameters.gas !== undefined ? { gas: parameters.gas } : {}),
  })
  const safes = views.map((view): SafeState => {
    if (!view.ok) return { safe: view.safe, error: new SafeReadError({ safe: view.safe, revertData: view.error as Hex }) }
    const subAccounts: SubAccountState[] = []
    const unreadable: SubAccountReadError[] = []
    for (const sub of view.subAccounts) {
      try {
        subAccounts.push(subAccountStateOf(sub))
      } catch (error) {
        if (!(error instanceof SubAccountReadError)) throw error
        unreadable.push(error)
      }
    }
    return {
      safe: view.safe,
      keeperKey: view.keeper,
      paused: view.paused,
      keeperNonce: view.nonce,
      subAccounts,
      unreadable,
      tokens: view.tokens.map((t) => ({ token: t.token, decimals: t.decimals, balance: t.balance })),
      pools: view.pools.map((p) => ({ pool: p.pool, asset: p.asset, shares: p.shares, assets: p.assets, maxWithdraw: p.maxWithdraw })),
    }
  })
  return { blockNumber, timestamp, safes }
}
