import { BaseError, type Chain, type Client, type Hex, type Transport } from "viem"
import { type SmartAccount, type UserOperationReceipt, waitForUserOperationReceipt } from "viem/account-abstraction"
import { getAction } from "viem/utils"
import { decodeModuleError, toModuleError } from "../errors/getLeverageError.js"

export type WaitForRebalanceParameters = { hash: Hex; timeout?: number | undefined }

export type WaitForRebalanceReturnType = UserOperationReceipt

/**
 * Waits for a keeper UserOperation and throws the module's named error when its execution reverted (the EntryPoint
 * includes a reverted operation and charges gas; the receipt's `reason` holds the revert data).
 *
 * @param client - The bundler or SmartAccountClient that sent it.
 * @param parameters - {@link WaitForRebalanceParameters}
 * @returns The receipt of a successful rebalance. {@link WaitForRebalanceReturnType}
 * @example
 * const receipt = await waitForRebalance(keeperClient, { hash: await sendRebalance(keeperClient, { plan }) })
 */
export async function waitForRebalance(
  client: Client<Transport, Chain | undefined, SmartAccount | undefined>,
  parameters: WaitForRebalanceParameters,
): Promise<WaitForRebalanceReturnType> {
  const receipt = await getAction(client, waitForUserOperationReceipt, "waitForUserOperationReceipt")(parameters)
  if (receipt.success) return receipt
  const cause = new BaseError(`UserOperation ${parameters.hash} was included but its execution reverted.`, {
    metaMessages: [
      `Revert data: ${receipt.reason ?? "none"}`,
      `Transaction: ${receipt.receipt.transactionHash}`,
      ...(!receipt.reason || receipt.reason === "0x"
        ? ["Without revert data this is usually out of gas: the call gas limit was below what execution needed (see sendRebalance's callGasMarginBps)."]
        : []),
    ],
    name: "RebalanceRevertedError",
  })
  const decoded = receipt.reason ? decodeModuleError(receipt.reason as Hex) : undefined
  throw decoded ? toModuleError(decoded, cause) : cause
}
