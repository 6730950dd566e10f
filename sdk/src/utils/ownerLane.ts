import {
  type Address,
  BaseError,
  type Chain,
  type Client,
  type Hex,
  type Transport,
  getAddress,
} from "viem"
import { type GetSmartAccountParameter, type SmartAccount, sendUserOperation } from "viem/account-abstraction"
import { call, getCode, waitForTransactionReceipt } from "viem/actions"
import { getAction } from "viem/utils"
import { AccountNotFoundError } from "../errors/deployments.js"
import { getLeverageError } from "../errors/getLeverageError.js"

/** A Safe transaction as protocol-kit builds it (`EthSafeTransaction`): the transaction data and its signatures. */
export type SafeTransaction = {
  data: { to: string; value: string; data: string; operation: number; nonce: number }
  signatures: Map<string, unknown>
}

/**
 * The methods of a protocol-kit `Safe` instance (`Safe.init({ provider, signer, safeAddress })`) the SDK calls, typed
 * structurally so `@safe-global/protocol-kit` stays an optional peer dependency (tested with protocol-kit 8). The
 * transactions it returns are passed back to it unchanged.
 */
export type ProtocolKit = {
  getAddress(): Promise<string>
  isModuleEnabled(module: string): Promise<boolean>
  getFallbackHandler(): Promise<string>
  createEnableModuleTx(module: string): Promise<SafeTransaction>
  createEnableFallbackHandlerTx(handler: string): Promise<SafeTransaction>
  createTransaction(props: { transactions: { to: string; value: string; data: string; operation?: number | undefined }[] }): Promise<SafeTransaction>
  signTransaction(transaction: object): Promise<SafeTransaction>
  getTransactionHash(transaction: object): Promise<string>
  executeTransaction(transaction: object): Promise<{ hash: string }>
}

/**
 * How an owner action reaches the Safe: as a UserOperation through the client's smart account (permissionless
 * `toSafeSmartAccount` / `toLeverageSafeAccount`), or as a Safe transaction built, signed and executed with protocol-kit.
 */
export type OwnerLaneParameters<
  account extends SmartAccount | undefined = SmartAccount | undefined,
  accountOverride extends SmartAccount | undefined = SmartAccount | undefined,
> =
  | (GetSmartAccountParameter<account, accountOverride> & {
      protocolKit?: undefined
      execute?: undefined
      /** ERC-7677 context for the client's paymaster, e.g. `{ token }` for ERC-20 payment. */
      paymasterContext?: unknown | undefined
    })
  | {
      /** Send as a Safe transaction with this protocol-kit instance (its signer must be an owner). */
      protocolKit: ProtocolKit
      account?: undefined
      paymasterContext?: undefined
      /** Execute after signing (default true); `false` returns the signed transaction for more owners to sign. */
      execute?: boolean | undefined
    }

/** What an owner action sent. */
export type OwnerLaneReturnType =
  | { type: "userOperation"; userOperationHash: Hex }
  | { type: "safeTransaction"; safeTxHash: Hex; safeTransaction: SafeTransaction; transactionHash: Hex | undefined }

/** A call the Safe makes (to itself for configuration). */
export type OwnerCall = { to: Address; data: Hex; value?: bigint | undefined }

/** The Safe address and a client for reads, whichever lane is used. */
export type OwnerContext = { safe: Address; reader: Client<Transport, Chain | undefined> }

/**
 * Resolves the Safe and a read client for an owner action: the smart account's address and its public client, or the
 * protocol-kit Safe's address and `client`.
 *
 * @returns {@link OwnerContext}
 */
export async function getOwnerContext(
  client: Client<Transport, Chain | undefined, SmartAccount | undefined>,
  parameters: OwnerLaneParameters,
): Promise<OwnerContext> {
  if (parameters.protocolKit) return { safe: getAddress(await parameters.protocolKit.getAddress()), reader: client }
  const account = parameters.account ?? client.account
  if (!account) throw new AccountNotFoundError()
  return { safe: account.address, reader: account.client as Client<Transport, Chain | undefined> }
}

/**
 * Sends owner calls through the chosen lane. When the Safe is deployed, each call is first simulated from the Safe
 * (`eth_call` with the Safe as sender), so a module revert surfaces as its named error before anything is sent:
 * a failing Safe transaction would otherwise only report `GS013`.
 *
 * @returns {@link OwnerLaneReturnType}
 */
export async function sendOwnerCalls(
  client: Client<Transport, Chain | undefined, SmartAccount | undefined>,
  parameters: OwnerLaneParameters & { calls: readonly OwnerCall[] },
): Promise<OwnerLaneReturnType> {
  const { calls } = parameters
  const { safe, reader } = await getOwnerContext(client, parameters)
  const code = await getCode(reader, { address: safe })
  if (code && code !== "0x")
    for (const ownerCall of calls)
      await call(reader, { account: safe, to: ownerCall.to, data: ownerCall.data, value: ownerCall.value }).catch((error: unknown) => {
        throw getLeverageError(error)
      })

  if (parameters.protocolKit) {
    const { protocolKit, execute = true } = parameters
    const created = await protocolKit.createTransaction({
      transactions: calls.map((ownerCall) => ({ to: ownerCall.to, data: ownerCall.data, value: (ownerCall.value ?? 0n).toString() })),
    })
    const safeTransaction = await protocolKit.signTransaction(created)
    const safeTxHash = (await protocolKit.getTransactionHash(safeTransaction)) as Hex
    if (!execute) return { type: "safeTransaction", safeTxHash, safeTransaction, transactionHash: undefined }
    const result = await protocolKit.executeTransaction(safeTransaction)
    const transactionHash = result.hash as Hex
    const receipt = await waitForTransactionReceipt(reader, { hash: transactionHash })
    if (receipt.status !== "success")
      throw new BaseError("The Safe transaction reverted.", { metaMessages: [`Transaction: ${transactionHash}`], name: "SafeTransactionRevertedError" })
    return { type: "safeTransaction", safeTxHash, safeTransaction, transactionHash }
  }

  try {
    const userOperationHash = await getAction(
      client,
      sendUserOperation,
      "sendUserOperation",
    )({
      account: parameters.account ?? client.account,
      calls: calls.map((ownerCall) => ({ to: ownerCall.to, data: ownerCall.data, value: ownerCall.value ?? 0n })),
      ...(parameters.paymasterContext !== undefined ? { paymasterContext: parameters.paymasterContext } : {}),
    } as Parameters<typeof sendUserOperation>[1])
    return { type: "userOperation", userOperationHash }
  } catch (error) {
    throw getLeverageError(error)
  }
}
