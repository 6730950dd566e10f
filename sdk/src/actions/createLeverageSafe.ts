import type { Account, Address, Chain, Client, Hex, Transport } from "viem"
import { getCode, sendTransaction, waitForTransactionReceipt } from "viem/actions"
import { type ToLeverageSafeAccountParameters, toLeverageSafeAccount } from "../accounts/toLeverageSafeAccount.js"

export type CreateLeverageSafeParameters = Omit<ToLeverageSafeAccountParameters, "client" | "address"> & {
  /** Public client of the chain (computes the address). */
  publicClient: ToLeverageSafeAccountParameters["client"]
}

export type CreateLeverageSafeReturnType = { address: Address; transactionHash: Hex | undefined }

/**
 * Deploys a new Safe v1.4.1 with the leverage module enabled and set as fallback handler in `Safe.setup`
 * (`SafeModuleSetup.enableModules`), with a plain transaction from `client`'s account through the Safe proxy factory.
 * The address equals `toLeverageSafeAccount` with the same owners and salt; nothing is sent when it is deployed already.
 * Without this, the Safe is deployed by its first UserOperation.
 *
 * @param client - A wallet client whose account pays for the deployment.
 * @param parameters - {@link CreateLeverageSafeParameters}
 * @returns The Safe address and the deployment transaction. {@link CreateLeverageSafeReturnType}
 * @example
 * const { address } = await createLeverageSafe(walletClient, { publicClient, owners: [owner], deployments })
 */
export async function createLeverageSafe(
  client: Client<Transport, Chain | undefined, Account>,
  parameters: CreateLeverageSafeParameters,
): Promise<CreateLeverageSafeReturnType> {
  const { publicClient, ...rest } = parameters
  const account = await toLeverageSafeAccount({ ...rest, client: publicClient })
  const code = await getCode(publicClient, { address: account.address })
  if (code && code !== "0x") return { address: account.address, transactionHash: undefined }
  const { factory, factoryData } = await account.getFactoryArgs()
  const hash = await sendTransaction(client, { account: client.account, chain: client.chain, to: factory as Address, data: factoryData as Hex })
  await waitForTransactionReceipt(publicClient, { hash })
  return { address: account.address, transactionHash: hash }
}
