import { type Address, type Chain, type Client, type Hex, type Transport, getAddress, isAddressEqual } from "viem"
import { waitForTransactionReceipt } from "viem/actions"
import type { LeverageDeployments } from "../constants/deployments.js"
import type { UnknownChainErrorType } from "../errors/deployments.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"
import type { ProtocolKit, SafeTransaction } from "../utils/ownerLane.js"

export type InstallLeverageModuleParameters = {
  /** protocol-kit instance of the existing Safe; its signer must be an owner. */
  protocolKit: ProtocolKit
  /** Execute after signing (default true); `false` returns the signed transaction for more owners to sign. */
  execute?: boolean | undefined
  deployments?: LeverageDeployments | undefined
}

export type InstallLeverageModuleReturnType =
  | { installed: "already"; safe: Address; safeTxHash?: undefined; safeTransaction?: undefined; transactionHash?: undefined }
  | { installed: "pending" | "done"; safe: Address; safeTxHash: Hex; safeTransaction: SafeTransaction; transactionHash: Hex | undefined }

export type InstallLeverageModuleErrorType = UnknownChainErrorType | Error

/**
 * Installs the leverage module on an existing Safe v1.4.1 with one protocol-kit Safe transaction: `enableModule`
 * and `setFallbackHandler` (batched through MultiSend), skipping whichever is already done. After it, owners can use
 * `toLeverageSafeAccount({ address })` for UserOperations and keepers can be added.
 *
 * @param client - A public client of the Safe's chain (waits for the receipt).
 * @param parameters - {@link InstallLeverageModuleParameters}
 * @returns The Safe transaction and its execution. {@link InstallLeverageModuleReturnType}
 * @example
 * const protocolKit = await Safe.init({ provider: rpcUrl, signer: ownerKey, safeAddress })
 * await installLeverageModule(publicClient, { protocolKit, deployments })
 */
export async function installLeverageModule(
  client: Client<Transport, Chain | undefined>,
  parameters: InstallLeverageModuleParameters,
): Promise<InstallLeverageModuleReturnType> {
  const { protocolKit, execute = true } = parameters
  const { deployment } = await resolveLeverageDeployment(client, parameters.deployments)
  const module = deployment.leverageModule
  const safe = getAddress(await protocolKit.getAddress())
  const [enabled, handler] = await Promise.all([protocolKit.isModuleEnabled(module), protocolKit.getFallbackHandler()])
  const handlerSet = isAddressEqual(handler as Address, module)
  if (enabled && handlerSet) return { installed: "already", safe }

  const transactions = []
  if (!enabled) transactions.push((await protocolKit.createEnableModuleTx(module)).data)
  if (!handlerSet) transactions.push((await protocolKit.createEnableFallbackHandlerTx(module)).data)
  const created = await protocolKit.createTransaction({ transactions })
  const safeTransaction = await protocolKit.signTransaction(created)
  const safeTxHash = (await protocolKit.getTransactionHash(safeTransaction)) as Hex
  if (!execute) return { installed: "pending", safe, safeTxHash, safeTransaction, transactionHash: undefined }
  const result = await protocolKit.executeTransaction(safeTransaction)
  const transactionHash = result.hash as Hex
  await waitForTransactionReceipt(client, { hash: transactionHash })
  return { installed: "done", safe, safeTxHash, safeTransaction, transactionHash }
}
