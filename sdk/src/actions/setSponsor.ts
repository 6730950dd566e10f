import { type Address, type Chain, type Client, type Transport, encodeFunctionData, zeroAddress } from "viem"
import type { SmartAccount } from "viem/account-abstraction"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import type { LeverageDeployments } from "../constants/deployments.js"
import type { UnknownChainErrorType } from "../errors/deployments.js"
import { InvalidSponsorError, type InvalidSponsorErrorType } from "../errors/policy.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"
import { type OwnerLaneParameters, type OwnerLaneReturnType, getOwnerContext, sendOwnerCalls } from "../utils/ownerLane.js"

export type SetSponsorParameters<
  account extends SmartAccount | undefined = SmartAccount | undefined,
  accountOverride extends SmartAccount | undefined = SmartAccount | undefined,
> = OwnerLaneParameters<account, accountOverride> & {
  /** The paymaster (first 20 bytes of `paymasterAndData`). */
  paymaster: Address
  /** List (true, the default) or unlist (false). */
  sponsored?: boolean | undefined
  deployments?: LeverageDeployments | undefined
}

export type SetSponsorReturnType = OwnerLaneReturnType

export type SetSponsorErrorType = UnknownChainErrorType | InvalidSponsorErrorType | Error

/**
 * Lists (or unlists) a paymaster as a sponsor of the Safe's keeper operations: operations it pays for are not charged to
 * the self-pay budget. Every other keeper operation, with no paymaster or any other paymaster (an ERC-20 paymaster
 * billing the Safe included), is charged at its maximum cost. List only paymasters that charge the Safe nothing.
 *
 * @param client - A SmartAccountClient of the Safe, or any client with `protocolKit`.
 * @param parameters - {@link SetSponsorParameters}
 * @returns What was sent. {@link SetSponsorReturnType}
 * @throws {InvalidSponsorError} for the zero address.
 * @example
 * await setSponsor(safeClient, { paymaster: verifyingPaymaster, deployments })
 */
export async function setSponsor<account extends SmartAccount | undefined, accountOverride extends SmartAccount | undefined = undefined>(
  client: Client<Transport, Chain | undefined, account>,
  parameters: SetSponsorParameters<account, accountOverride>,
): Promise<SetSponsorReturnType> {
  const { paymaster, sponsored = true } = parameters
  if (paymaster === zeroAddress) throw new InvalidSponsorError({ paymaster })
  const { safe, reader } = await getOwnerContext(client, parameters as OwnerLaneParameters)
  await resolveLeverageDeployment(reader, parameters.deployments)
  const data = encodeFunctionData({ abi: leverageModuleAbi, functionName: "setSponsor", args: [paymaster, sponsored] })
  return sendOwnerCalls(client as Client<Transport, Chain | undefined, SmartAccount | undefined>, {
    ...(parameters as OwnerLaneParameters),
    calls: [{ to: safe, data }],
  })
}
