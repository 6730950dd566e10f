import { type Address, type Chain, type Client, type Transport, encodeFunctionData, isAddressEqual, zeroAddress } from "viem"
import type { SmartAccount } from "viem/account-abstraction"
import { getBlock } from "viem/actions"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import type { LeverageDeployments } from "../constants/deployments.js"
import type { UnknownChainErrorType } from "../errors/deployments.js"
import {
  InvalidKeeperError,
  type InvalidKeeperErrorType,
  InvalidValidityError,
  type InvalidValidityErrorType,
  KeeperKeyExpiredError,
  type KeeperKeyExpiredErrorType,
} from "../errors/keeper.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"
import { type OwnerLaneParameters, type OwnerLaneReturnType, getOwnerContext, sendOwnerCalls } from "../utils/ownerLane.js"

export type AddKeeperParameters<
  account extends SmartAccount | undefined = SmartAccount | undefined,
  accountOverride extends SmartAccount | undefined = SmartAccount | undefined,
> = OwnerLaneParameters<account, accountOverride> & {
  /** The keeper session key's address. */
  keeper: Address
  /** Unix seconds from which the key is valid; 0 (now) by default. */
  validAfter?: number | undefined
  deployments?: LeverageDeployments | undefined
} & (
    | {
        /** Unix seconds until which the key is valid. */
        validUntil: number
        validFor?: undefined
      }
    | {
        /** Seconds from the latest block's timestamp until the key expires. */
        validFor: number
        validUntil?: undefined
      }
  )

export type AddKeeperReturnType = OwnerLaneReturnType & { validAfter: number; validUntil: number }

export type AddKeeperErrorType = UnknownChainErrorType | InvalidKeeperErrorType | InvalidValidityErrorType | KeeperKeyExpiredErrorType | Error

/**
 * Registers (or re-registers) a keeper session key for the Safe, valid in [validAfter, validUntil]. Refuses, before
 * sending, what the module refuses (zero key, the Safe or the module as key, an empty window) and a window that has
 * already ended on chain.
 *
 * @param client - A SmartAccountClient of the Safe, or any client with `protocolKit`.
 * @param parameters - {@link AddKeeperParameters}
 * @returns What was sent and the window. {@link AddKeeperReturnType}
 * @example
 * await addKeeper(safeClient, { keeper: keeperKey.address, validFor: 30 * 24 * 3600, deployments })
 */
export async function addKeeper<account extends SmartAccount | undefined, accountOverride extends SmartAccount | undefined = undefined>(
  client: Client<Transport, Chain | undefined, account>,
  parameters: AddKeeperParameters<account, accountOverride>,
): Promise<AddKeeperReturnType> {
  const { keeper, validAfter = 0 } = parameters
  const { safe, reader } = await getOwnerContext(client, parameters as OwnerLaneParameters)
  const { deployment } = await resolveLeverageDeployment(reader, parameters.deployments)
  if (keeper === zeroAddress || isAddressEqual(keeper, safe) || isAddressEqual(keeper, deployment.leverageModule))
    throw new InvalidKeeperError({ keeper, reason: "A keeper key must be a separate EOA, not zero, the Safe or the module." })
  const now = Number((await getBlock(reader, { blockTag: "latest" })).timestamp)
  const validUntil = parameters.validUntil ?? now + (parameters.validFor ?? 0)
  if (validUntil === 0 || validUntil <= validAfter) throw new InvalidValidityError({ validAfter, validUntil })
  if (validUntil <= now) throw new KeeperKeyExpiredError({ keeper, validUntil, now })
  const data = encodeFunctionData({ abi: leverageModuleAbi, functionName: "addKeeper", args: [keeper, validAfter, validUntil] })
  const sent = await sendOwnerCalls(client as Client<Transport, Chain | undefined, SmartAccount | undefined>, {
    ...(parameters as OwnerLaneParameters),
    calls: [{ to: safe, data }],
  })
  return { ...sent, validAfter, validUntil }
}
