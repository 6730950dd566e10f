import { type Chain, type Client, type Hash, type TransactionReceipt, type Transport, TransactionReceiptNotFoundError, WaitForTransactionReceiptTimeoutError } from "viem"
import { getTransactionReceipt } from "viem/actions"

/**
 * The receipt of a transaction sent to the local anvil, polled directly.
 *
 * viem's `waitForTransactionReceipt` asks for the receipt once, then again only when a new block arrives. Anvil in
 * automine mode can report the transaction's block before its receipt is readable (foundry-rs/foundry#10944); when no
 * later block comes (nothing else is sent), that wait never ends (a clean clone's loaded test run hung 120 s on it).
 * This helper asks for the receipt every `pollingInterval` ms until it is there, whatever the block number does.
 *
 * @param client any viem client on the devnet's RPC.
 * @param hash the transaction hash.
 * @param timeout ms before giving up (default 180,000, viem's default).
 * @param pollingInterval ms between requests (default 50).
 * @returns the receipt (a reverted transaction's too: check `status`).
 * @throws WaitForTransactionReceiptTimeoutError when no receipt is found within `timeout`; any RPC error other than
 *   "receipt not found" as it is.
 */
export async function waitForReceipt<chain extends Chain | undefined>(
  client: Client<Transport, chain>,
  { hash, timeout = 180_000, pollingInterval = 50 }: { hash: Hash; timeout?: number; pollingInterval?: number },
): Promise<TransactionReceipt> {
  const deadline = Date.now() + timeout
  for (;;) {
    try {
      return await getTransactionReceipt(client, { hash })
    } catch (error) {
      if (!(error instanceof TransactionReceiptNotFoundError)) throw error
    }
    if (Date.now() >= deadline) throw new WaitForTransactionReceiptTimeoutError({ hash })
    await new Promise((resolve) => setTimeout(resolve, pollingInterval))
  }
}
