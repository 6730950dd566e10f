import { type Chain, type Client, type Hash, type TransactionReceipt, type Transport, TransactionReceiptNotFoundError, WaitForTransactionReceiptTimeoutError } from "viem"
import { getBlockNumber, getTransaction, getTransactionCount, getTransactionReceipt } from "viem/actions"

/**
 * The receipt of a transaction sent to the local anvil, polled directly.
 *
 * viem's `waitForTransactionReceipt` asks for the receipt once, then again only when a new block arrives. Anvil in
 * automine mode can report the transaction's block before its receipt is readable (foundry-rs/foundry#10944); when no
 * later block comes (nothing else is sent), that wait never ends (a clean clone's loaded test run hung 120 s on it).
 * This helper asks for the receipt every `pollingInterval` ms until it is there, whatever the block number does.
 *
 * The other order happens too: anvil 1.7 (before foundry-rs/foundry#16027 made mining finalization atomic) can serve
 * the receipt while `latest` still names the block before it, so a read pinned to the head's number (the keeper's
 * `readPortfolio` pins every read to one header) sees the state before the transaction (CI stop 30: a price move's
 * receipt, then a snapshot at the pre-move block). So the helper returns only once the head (`eth_blockNumber`, not
 * cached) has reached the receipt's block too.
 *
 * Even then a loaded anvil 1.7 can answer a read at the receipt's own block, or at `latest`, from the state before the
 * transaction (CI stop 39: a price move's receipt and head at block N, then a lens read at N saw the old price). So the
 * helper also waits until the state has the transaction: the sender's nonce, read at the receipt's block and at
 * `latest`, is past the transaction's nonce (the nonce is written in the same state commit as the storage it changed).
 *
 * @param client any viem client on the devnet's RPC.
 * @param hash the transaction hash.
 * @param timeout ms before giving up (default 180,000, viem's default).
 * @param pollingInterval ms between requests (default 50).
 * @returns the receipt (a reverted transaction's too: check `status`), once the head is at or past its block and the
 *   state read there and at `latest` has the transaction.
 * @throws WaitForTransactionReceiptTimeoutError when no receipt is found, the head does not reach its block, or the
 *   state does not show the transaction, within `timeout`; any RPC error other than "receipt not found" as it is.
 */
export async function waitForReceipt<chain extends Chain | undefined>(
  client: Client<Transport, chain>,
  { hash, timeout = 180_000, pollingInterval = 50 }: { hash: Hash; timeout?: number; pollingInterval?: number },
): Promise<TransactionReceipt> {
  const deadline = Date.now() + timeout
  let receipt: TransactionReceipt | undefined
  for (;;) {
    if (receipt === undefined)
      try {
        receipt = await getTransactionReceipt(client, { hash })
      } catch (error) {
        if (!(error instanceof TransactionReceiptNotFoundError)) throw error
      }
    if (receipt !== undefined && (await headReached(client, receipt.blockNumber)) && (await stateHas(client, receipt))) return receipt
    if (Date.now() >= deadline) throw new WaitForTransactionReceiptTimeoutError({ hash })
    await new Promise((resolve) => setTimeout(resolve, pollingInterval))
  }
}

const nonces = new WeakMap<TransactionReceipt, number>()

/**
 * Whether the state at the receipt's block and at `latest` has the transaction: its sender's nonce there is past the
 * transaction's nonce (read once from `eth_getTransactionByHash`). A read at a block whose state the node no longer keeps
 * counts as having it once `latest` does.
 */
async function stateHas(client: Client<Transport, Chain | undefined>, receipt: TransactionReceipt): Promise<boolean> {
  let nonce = nonces.get(receipt)
  if (nonce === undefined) {
    nonce = (await getTransaction(client, { hash: receipt.transactionHash })).nonce
    nonces.set(receipt, nonce)
  }
  if ((await getTransactionCount(client, { address: receipt.from, blockTag: "latest" })) <= nonce) return false
  try {
    return (await getTransactionCount(client, { address: receipt.from, blockNumber: receipt.blockNumber })) > nonce
  } catch {
    // The block's state is no longer kept (anvil's --prune-history: a receipt waited for long after its block): that
    // block was finalized long ago, and `latest` already has the transaction.
    return true
  }
}

/** Whether the node's head (`eth_blockNumber`, not viem's cached number) is at or past `blockNumber`. */
async function headReached(client: Client<Transport, Chain | undefined>, blockNumber: bigint): Promise<boolean> {
  return (await getBlockNumber(client, { cacheTime: 0 })) >= blockNumber
}

/**
 * Waits until the node's head is at or past `blockNumber`: after a receipt that came another way (a bundler's
 * UserOperation receipt), so that reads pinned to the head see what the block did (see {@link waitForReceipt}).
 *
 * @param client any viem client on the devnet's RPC.
 * @param blockNumber the block the head must reach.
 * @param receipt the transaction receipt behind it (a UserOperation receipt's `receipt`), if known: then also waits until
 *   the state at that block and at `latest` has the transaction (see {@link waitForReceipt}).
 * @param timeout ms before giving up (default 180,000).
 * @param pollingInterval ms between requests (default 50).
 * @throws Error naming both block numbers when the head does not reach `blockNumber` within `timeout`, or naming the
 *   transaction when the state does not show it within `timeout`.
 */
export async function waitForHead<chain extends Chain | undefined>(
  client: Client<Transport, chain>,
  {
    blockNumber,
    receipt,
    timeout = 180_000,
    pollingInterval = 50,
  }: { blockNumber: bigint; receipt?: TransactionReceipt | undefined; timeout?: number; pollingInterval?: number },
): Promise<void> {
  const deadline = Date.now() + timeout
  while (!(await headReached(client, blockNumber))) {
    if (Date.now() >= deadline) throw new Error(`the node's head did not reach block ${blockNumber} within ${timeout} ms (it is at ${await getBlockNumber(client, { cacheTime: 0 })})`)
    await new Promise((resolve) => setTimeout(resolve, pollingInterval))
  }
  while (receipt !== undefined && !(await stateHas(client, receipt))) {
    if (Date.now() >= deadline) throw new Error(`the node's state did not show transaction ${receipt.transactionHash} (block ${receipt.blockNumber}) within ${timeout} ms`)
    await new Promise((resolve) => setTimeout(resolve, pollingInterval))
  }
}

/**
 * Reads `read()` until `settled(value)` holds or `timeout` ms pass, and returns the last value read: for a test's
 * precondition read at a block whose transaction's receipt {@link waitForReceipt} already returned, on a loaded anvil 1.7
 * whose mining is not atomic (a clean clone's run, 2026-12-04: with the receipt, the head and the sender's nonce at the block all showing the
 * transaction, a lens read at that block still saw the oracle's old price). The caller asserts on the value returned,
 * so a state that never settles still fails the test, after `timeout`.
 *
 * @param read the read (e.g. a lens call pinned to the receipt's block).
 * @param settled whether the value shows the transaction's effect.
 * @param timeout ms before returning the last value as it is (default 30,000).
 * @param pollingInterval ms between reads (default 100).
 * @returns the first value for which `settled` holds, else the last one read.
 */
export async function readSettled<T>(read: () => Promise<T>, settled: (value: T) => boolean, { timeout = 30_000, pollingInterval = 100 }: { timeout?: number; pollingInterval?: number } = {}): Promise<T> {
  const deadline = Date.now() + timeout
  for (;;) {
    const value = await read()
    if (settled(value) || Date.now() >= deadline) return value
    await new Promise((resolve) => setTimeout(resolve, pollingInterval))
  }
}
