import { type Address, type Chain, type Client, type Hex, type Transport, concatHex, encodePacked, parseAbi, zeroAddress } from "viem"
import { readContract, simulateContract } from "viem/actions"

/** Uniswap v3 QuoterV2 (`@uniswap/v3-periphery` 1.4.4): exact-input quotes, run as eth_call (they revert internally). */
export const quoterV2Abi = parseAbi([
  "struct QuoteExactInputSingleParams { address tokenIn; address tokenOut; uint256 amountIn; uint24 fee; uint160 sqrtPriceLimitX96; }",
  "function quoteExactInputSingle(QuoteExactInputSingleParams params) returns (uint256 amountOut, uint160 sqrtPriceX96After, uint32 initializedTicksCrossed, uint256 gasEstimate)",
  "function quoteExactInput(bytes path, uint256 amountIn) returns (uint256 amountOut, uint160[] sqrtPriceX96AfterList, uint32[] initializedTicksCrossedList, uint256 gasEstimate)",
])

const hubsAbi = parseAbi(["function hubs() view returns (address[])"])

/** The fields of a UniswapV3SwapAdapter route word: bits 0..23 the first fee, 24..31 the hub's 1-based position in `hubs()` (0: one pool), 32..55 the second fee. */
export type SwapRouteFields = { fee: number; hub: number; hubFee: number }

/**
 * Decodes a swap route word as the module's UniswapV3SwapAdapter reads it (`decodeRoute`).
 *
 * @returns The fee tier, hub position (0 for a one-pool route) and second fee tier.
 * @example decodeSwapRoute("0x...01f4") // { fee: 500, hub: 0, hubFee: 0 }
 */
export function decodeSwapRoute(route: Hex): SwapRouteFields {
  const word = BigInt(route)
  return { fee: Number(word & 0xffffffn), hub: Number((word >> 24n) & 0xffn), hubFee: Number((word >> 32n) & 0xffffffn) }
}

/**
 * The minimum output the module requires of a swap (`RebalanceLib._swap`): the input's value at the oracle price,
 * rounded down, less `maxSlippageBps`, rounded up.
 *
 * @param parameters.sell - true for `SellCollateral` (collateral in), false for `BuyCollateral` (loan token in).
 * @param parameters.amountIn - Base units of the input token.
 * @param parameters.price - Oracle price, loan base units per collateral base unit scaled by 1e36 (Morpho's `price()`).
 * @param parameters.maxSlippageBps - The policy's bound.
 * @returns `{ fairAmountOut, minAmountOut }` in base units of the output token.
 */
export function getSwapMinAmountOut({ sell, amountIn, price, maxSlippageBps }: { sell: boolean; amountIn: bigint; price: bigint; maxSlippageBps: number }): {
  fairAmountOut: bigint
  minAmountOut: bigint
} {
  const scale = 10n ** 36n
  const fairAmountOut = sell ? (amountIn * price) / scale : price === 0n ? 0n : (amountIn * scale) / price
  const keep = fairAmountOut * BigInt(10_000 - maxSlippageBps)
  return { fairAmountOut, minAmountOut: (keep + 9_999n) / 10_000n }
}

/**
 * The pool's current output for a swap the module would make: QuoterV2 by eth_call along the route word (one pool, or
 * two through the adapter's hub, whose address is read from the adapter's `hubs()`).
 *
 * @returns Output in base units of `tokenOut`.
 * @throws The quoter's revert (no pool, no liquidity) as viem's ContractFunctionExecutionError.
 */
export async function quoteSwapRoute(
  client: Client<Transport, Chain | undefined>,
  { quoter, swapAdapter, tokenIn, tokenOut, route, amountIn, blockNumber }: { quoter: Address; swapAdapter: Address; tokenIn: Address; tokenOut: Address; route: Hex; amountIn: bigint; blockNumber?: bigint | undefined },
): Promise<bigint> {
  const { fee, hub, hubFee } = decodeSwapRoute(route)
  if (hub === 0) {
    const { result } = await simulateContract(client, {
      address: quoter,
      abi: quoterV2Abi,
      functionName: "quoteExactInputSingle",
      args: [{ tokenIn, tokenOut, amountIn, fee, sqrtPriceLimitX96: 0n }],
      account: zeroAddress,
      blockNumber,
    })
    return result[0]
  }
  const hubs = await readContract(client, { address: swapAdapter, abi: hubsAbi, functionName: "hubs", blockNumber })
  const hubToken = hubs[hub - 1] ?? zeroAddress
  const path = concatHex([encodePacked(["address", "uint24"], [tokenIn, fee]), encodePacked(["address", "uint24", "address"], [hubToken, hubFee, tokenOut])])
  const { result } = await simulateContract(client, { address: quoter, abi: quoterV2Abi, functionName: "quoteExactInput", args: [path, amountIn], account: zeroAddress, blockNumber })
  return result[0]
}
