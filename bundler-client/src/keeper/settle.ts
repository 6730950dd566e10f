/**
 * How long a read that reverted with an arithmetic panic (`Panic(0x11)`) waits for the node's head to move past the
 * block it read before it is read (or sent) again: `timeoutMs` in all, polling `eth_blockNumber` every `pollMs`, both in
 * ms. A node (anvil 1.7) answers an `eth_call` at its head made while the next block is mined with that block's state
 * under the head's header, and Morpho Blue's `block.timestamp - lastUpdate` underflows; once that block is sealed the
 * same read is consistent (bench/anvilReadRace.mjs: 11 of 11, waited at most 59 ms on a bare anvil; a loaded devnet
 * mines its 14M-gas blocks for seconds).
 */
export type SettleBound = { timeoutMs: number; pollMs: number }

/**
 * Init code that returns `block.number` (`NUMBER PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN`): an `eth_call` of it (no
 * `to`) at `latest` answers the block number the node's calls run under. anvil writes a mined block to storage (so
 * `eth_blockNumber` already answers it) before it stores the new block environment, and until then serves a call at the
 * previous number from the new state under the previous header (the race): only once calls run under the new number is
 * the previous block read from its own stored state. bench:fleet 5,000 x 1 with `eth_blockNumber` as the signal still
 * had 19 `feed-broken` with `Panic(0x11)`, re-read after `eth_blockNumber` moved.
 */
export const CALL_BLOCK_NUMBER_PROBE = "0x4360005260206000f3" as const

/**
 * The block number a call at `latest` runs under ({@link CALL_BLOCK_NUMBER_PROBE}).
 *
 * @param request - The client's `request` (viem's EIP-1193).
 * @returns The number.
 */
export async function callBlockNumber(request: (args: { method: "eth_call"; params: [{ data: `0x${string}` }, "latest"] }) => Promise<unknown>): Promise<bigint> {
  return BigInt(String(await request({ method: "eth_call", params: [{ data: CALL_BLOCK_NUMBER_PROBE }, "latest"] })))
}

/** The default {@link SettleBound}: 4 s, polled every 100 ms. */
export const SETTLE_BOUND: SettleBound = { timeoutMs: 4_000, pollMs: 100 }

/**
 * Polls `head` until it is past `block` (without `block`: past its first answer), at most `bound.timeoutMs`.
 *
 * @returns Whether it moved, and the number of `head` calls made.
 * @throws What `head` throws.
 */
export async function waitHeadPast(head: () => Promise<bigint>, block: bigint | undefined, bound: SettleBound = SETTLE_BOUND): Promise<{ past: boolean; requests: number }> {
  const deadline = Date.now() + bound.timeoutMs
  let requests = 0
  const read = () => ((requests += 1), head())
  const target = block ?? (await read())
  if (block !== undefined && (await read()) > target) return { past: true, requests }
  while (Date.now() + bound.pollMs <= deadline) {
    await new Promise((resolve) => setTimeout(resolve, bound.pollMs))
    if ((await read()) > target) return { past: true, requests }
  }
  return { past: false, requests }
}
