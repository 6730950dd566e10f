import { type Address, type Chain, type Client, type Transport, encodeFunctionData, erc20Abi, isAddressEqual, zeroAddress } from "viem"
import type { SmartAccount } from "viem/account-abstraction"
import {
  InvalidPaymasterError,
  type InvalidPaymasterErrorType,
  InvalidPaymasterTokenError,
  type InvalidPaymasterTokenErrorType,
} from "../errors/paymaster.js"
import { type OwnerLaneParameters, type OwnerLaneReturnType, getOwnerContext, sendOwnerCalls } from "../utils/ownerLane.js"

export type ApprovePaymasterTokenParameters<
  account extends SmartAccount | undefined = SmartAccount | undefined,
  accountOverride extends SmartAccount | undefined = SmartAccount | undefined,
> = OwnerLaneParameters<account, accountOverride> & {
  /** The ERC-20 the paymaster charges (e.g. the `token` of the ERC-7677 context `{ token }`). */
  token: Address
  /** The ERC-20 paymaster contract that pulls the token in validation (the `paymaster` of its UserOperations). */
  paymaster: Address
  /** The allowance in token base units; it replaces the previous one, and 0 revokes. */
  amount: bigint
}

export type ApprovePaymasterTokenReturnType = OwnerLaneReturnType

export type ApprovePaymasterTokenErrorType = InvalidPaymasterErrorType | InvalidPaymasterTokenErrorType | Error

/**
 * Lets an ERC-20 paymaster pull `token` from the Safe: `token.approve(paymaster, amount)` from the Safe. Keeper
 * operations paid in a token (`sendRebalance` with `paymasterContext: { token }`) need this allowance, and a keeper
 * cannot set it, since its operations may only call `executeRebalance`. Each token-paid operation uses up the
 * paymaster's pre-charge (the maximum gas cost in tokens) of the allowance; the unused part is refunded to the Safe's
 * balance, not to the allowance, so approve enough for many operations. The
 * approval itself cannot be paid in that token (the paymaster would need the allowance already): send it sponsored,
 * self-paid or as a Safe transaction. Needs no leverage deployment, so it works on any chain.
 *
 * @param client - A SmartAccountClient of the Safe, or any client with `protocolKit`.
 * @param parameters - {@link ApprovePaymasterTokenParameters}
 * @returns What was sent. {@link ApprovePaymasterTokenReturnType}
 * @example
 * await approvePaymasterToken(safeClient, { token: usdc, paymaster: tokenPaymaster, amount: parseUnits("100", 6) })
 */
export async function approvePaymasterToken<account extends SmartAccount | undefined, accountOverride extends SmartAccount | undefined = undefined>(
  client: Client<Transport, Chain | undefined, account>,
  parameters: ApprovePaymasterTokenParameters<account, accountOverride>,
): Promise<ApprovePaymasterTokenReturnType> {
  const { token, paymaster, amount } = parameters
  const { safe } = await getOwnerContext(client, parameters as OwnerLaneParameters)
  if (isAddressEqual(token, zeroAddress) || isAddressEqual(token, safe)) throw new InvalidPaymasterTokenError({ token })
  if (isAddressEqual(paymaster, zeroAddress) || isAddressEqual(paymaster, safe) || isAddressEqual(paymaster, token))
    throw new InvalidPaymasterError({ paymaster })
  const data = encodeFunctionData({ abi: erc20Abi, functionName: "approve", args: [paymaster, amount] })
  return sendOwnerCalls(client as Client<Transport, Chain | undefined, SmartAccount | undefined>, {
    ...(parameters as OwnerLaneParameters),
    calls: [{ to: token, data }],
  })
}
