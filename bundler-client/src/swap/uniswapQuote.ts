/**
 * Swap quotes and price impact for the solver, from Uniswap v3's own QuoterV2 (`@uniswap/v3-periphery` 1.4.4) by
 * `eth_call`.
 *
 * Why QuoterV2 by eth_call and not `@uniswap/v3-sdk`'s concentrated-liquidity math on ticks read on-chain:
 * - Exact by construction. QuoterV2 runs the pool's own swap code on the node's state (every initialised tick crossed,
 *   the fee, the protocol fee) and reverts it; the module's swap through SwapRouter runs the same code, so a quote in
 *   the same block equals the swap's output to the base unit (test/uniswap.test.ts checks this on the devnet).
 * - Nothing to keep in sync. The SDK needs every initialised tick the swap may cross (TickLens reads per bitmap word)
 *   and is silently wrong when one is missing; the quoter reads them itself, for pools of any shape.
 * - No dependency. The SDK brings sdk-core, JSBI, swap-router-contracts and ethers-era packages into the keeper; this
 *   file needs only viem.
 * - Cost: one eth_call per size (no transaction). The solver quotes a handful of sizes per decision, all against one
 *   block number, which viem batches when the transport has `batch: true`. The backtester, which needs thousands of
 *   quotes offline, keeps its own depth model.
 *
 * Amounts are bigint base units; impact and shortfall are floats in basis points (risk estimates only).
 */
import { type Address, type Chain, type Client, type Hex, type Transport, concatHex, encodePacked, numberToHex, pad, zeroAddress } from "viem"
import { getBlockNumber, simulateContract } from "viem/actions"
import { quoterV2Abi } from "@levpilot/sdk/utils"
import { SwapQuoteError, SwapRouteError } from "./errors.js"

export { quoterV2Abi }

/** A route of the module's UniswapV3SwapAdapter: one pool at `fee`, or two through a hub (second pool at `hubFee`).
 * The adapter names the hub by its 1-based position in its `hubs()` list; the quoter needs its address. */
export type UniswapRoute =
  | { fee: number; hub?: undefined; hubFee?: undefined }
  | { fee: number; hub: { token: Address; index: number }; hubFee: number }

/** Morpho-style reference price of a swap between a collateral token and its loan token. */
export type OraclePrice = {
  /** Loan base units per collateral base unit, scaled by 1e36 (Morpho's oracle `price()`). */
  price: bigint
  /** The collateral token the price is for; the other end of the swap is the loan token. */
  collateral: Address
}

export type SwapQuote = {
  amountIn: bigint
  amountOut: bigint
  /** Each pool's sqrtPriceX96 after the swap, in route order. */
  sqrtPriceX96After: readonly bigint[]
  initializedTicksCrossed: readonly number[]
  /** QuoterV2's estimate of the swap's gas. */
  gasEstimate: bigint
}

export type ImpactPoint = SwapQuote & {
  /** What `amountIn` is worth in the output token at the oracle price. */
  fairAmountOut: bigint
  /** Output shortfall against `fairAmountOut`, in basis points: fee plus impact (plus any pool/oracle gap). */
  shortfallBps: number
  /** The route's fee in basis points (1 - product of (1 - fee) over hops). */
  feeBps: number
  /** `shortfallBps - feeBps`: what the swap's size (and any pool/oracle gap) costs beyond the fee. */
  impactBps: number
}

const feeWord = (fee: number, field: string) => {
  if (!Number.isInteger(fee) || fee <= 0 || fee >= 1 << 24) throw new SwapRouteError({ field, reason: `must be a uint24 fee tier, got ${fee}` })
  return BigInt(fee)
}

/**
 * The route word the module's UniswapV3SwapAdapter reads (`IUniswapV3SwapAdapter.encodeRoute`): bits 0..23 the first
 * fee, 24..31 the hub's 1-based position in the adapter's `hubs()`, 32..55 the second fee.
 *
 * @returns The bytes32 route.
 * @throws SwapRouteError for a fee that is not a positive uint24 or a hub position outside 1..255.
 * @example
 * encodeUniswapRoute({ fee: 500 }) // 0x...01f4
 */
export function encodeUniswapRoute(route: UniswapRoute): Hex {
  let word = feeWord(route.fee, "fee")
  if (route.hub !== undefined) {
    const { index } = route.hub
    if (!Number.isInteger(index) || index < 1 || index > 255) throw new SwapRouteError({ field: "hub.index", reason: `must be 1..255, got ${index}` })
    word |= (BigInt(index) << 24n) | (feeWord(route.hubFee, "hubFee") << 32n)
  }
  return pad(numberToHex(word), { size: 32 })
}

/**
 * The SwapRouter / QuoterV2 path of a route: `tokenIn, fee, [hub, hubFee,] tokenOut`, packed.
 *
 * @returns The packed path.
 */
export function encodeUniswapPath(tokenIn: Address, tokenOut: Address, route: UniswapRoute): Hex {
  const first = encodePacked(["address", "uint24"], [tokenIn, Number(feeWord(route.fee, "fee"))])
  if (route.hub === undefined) return concatHex([first, tokenOut])
  return concatHex([first, encodePacked(["address", "uint24", "address"], [route.hub.token, Number(feeWord(route.hubFee, "hubFee")), tokenOut])])
}

export type QuoteExactInputParameters = {
  /** QuoterV2 address. */
  quoter: Address
  tokenIn: Address
  tokenOut: Address
  route: UniswapRoute
  /** Base units of `tokenIn`. */
  amountIn: bigint
  /** Quote against this block (latest by default); quote several sizes against one block to compare them. */
  blockNumber?: bigint | undefined
}

/**
 * Exact output of an exact-input swap along `route`, by eth_call to QuoterV2 (single pool: `quoteExactInputSingle`,
 * two pools: `quoteExactInput`). A pool that runs out of liquidity is quoted for what it can fill, as SwapRouter fills.
 *
 * @param client - Any viem client on the chain.
 * @param parameters - {@link QuoteExactInputParameters}
 * @returns The {@link SwapQuote}.
 * @throws SwapQuoteError when the quoter reverts (no pool, uninitialised pool, no liquidity at all).
 * @example
 * const { amountOut } = await quoteExactInput(publicClient, { quoter, tokenIn: weth, tokenOut: usdc, route: { fee: 500 }, amountIn: 10n ** 18n })
 */
export async function quoteExactInput(client: Client<Transport, Chain | undefined>, parameters: QuoteExactInputParameters): Promise<SwapQuote> {
  const { quoter, tokenIn, tokenOut, route, amountIn, blockNumber } = parameters
  if (amountIn <= 0n) throw new SwapRouteError({ field: "amountIn", reason: "must be positive" })
  try {
    if (route.hub === undefined) {
      const { result } = await simulateContract(client, {
        address: quoter,
        abi: quoterV2Abi,
        functionName: "quoteExactInputSingle",
        args: [{ tokenIn, tokenOut, amountIn, fee: route.fee, sqrtPriceLimitX96: 0n }],
        blockNumber,
        account: zeroAddress,
      })
      const [amountOut, sqrtPriceX96After, ticks, gasEstimate] = result
      return { amountIn, amountOut, sqrtPriceX96After: [sqrtPriceX96After], initializedTicksCrossed: [ticks], gasEstimate }
    }
    const { result } = await simulateContract(client, {
      address: quoter,
      abi: quoterV2Abi,
      functionName: "quoteExactInput",
      args: [encodeUniswapPath(tokenIn, tokenOut, route), amountIn],
      blockNumber,
      account: zeroAddress,
    })
    const [amountOut, sqrtPriceX96After, ticks, gasEstimate] = result
    return { amountIn, amountOut, sqrtPriceX96After, initializedTicksCrossed: ticks, gasEstimate }
  } catch (error) {
    throw new SwapQuoteError({ tokenIn, tokenOut, route: describe(route), amountIn, cause: error as Error })
  }
}

const describe = (route: UniswapRoute) => (route.hub === undefined ? `fee ${route.fee}` : `fee ${route.fee} -> ${route.hub.token} -> fee ${route.hubFee}`)

/** What `amountIn` of `tokenIn` is worth in the other token at the oracle price (rounded down). */
export function fairAmountOut(tokenIn: Address, amountIn: bigint, oracle: OraclePrice): bigint {
  return tokenIn.toLowerCase() === oracle.collateral.toLowerCase() ? (amountIn * oracle.price) / 10n ** 36n : (amountIn * 10n ** 36n) / oracle.price
}

/** The route's total fee in basis points: 1 - product over hops of (1 - fee / 1e6). */
export function routeFeeBps(route: UniswapRoute): number {
  const keep = (1 - route.fee / 1e6) * (route.hub === undefined ? 1 : 1 - route.hubFee / 1e6)
  return (1 - keep) * 10_000
}

function impactOf(quote: SwapQuote, tokenIn: Address, route: UniswapRoute, oracle: OraclePrice): ImpactPoint {
  const fair = fairAmountOut(tokenIn, quote.amountIn, oracle)
  if (fair === 0n) throw new SwapRouteError({ field: "amountIn", reason: "is worth zero base units of the output token at the oracle price" })
  // Millionths first, so the float keeps the quote's precision down to 0.01 bp.
  const shortfallBps = Number(((fair - quote.amountOut) * 1_000_000n) / fair) / 100
  const feeBps = routeFeeBps(route)
  return { ...quote, fairAmountOut: fair, shortfallBps, feeBps, impactBps: shortfallBps - feeBps }
}

export type QuotePriceImpactParameters = Omit<QuoteExactInputParameters, "amountIn"> & {
  /** Input sizes in base units of `tokenIn`. */
  sizes: readonly bigint[]
  /** The oracle price the module values the swap at. */
  oracle: OraclePrice
}

/**
 * Quotes several sizes against one block and compares each output with its value at the oracle price: the cost curve
 * of a swap (fee plus price impact, which grows with size on finite depth).
 *
 * @param client - Any viem client on the chain.
 * @param parameters - {@link QuotePriceImpactParameters}
 * @returns One {@link ImpactPoint} per size, in the order given.
 * @throws SwapQuoteError when a quote reverts.
 * @example
 * const curve = await quotePriceImpact(publicClient, { quoter, tokenIn: weth, tokenOut: usdc, route: { fee: 500 }, sizes: [10n ** 18n, 10n ** 20n], oracle: { price, collateral: weth } })
 */
export async function quotePriceImpact(client: Client<Transport, Chain | undefined>, parameters: QuotePriceImpactParameters): Promise<ImpactPoint[]> {
  const { sizes, oracle, ...quote } = parameters
  const blockNumber = quote.blockNumber ?? (await getBlockNumber(client, { cacheTime: 0 }))
  const quotes = await Promise.all(sizes.map((amountIn) => quoteExactInput(client, { ...quote, amountIn, blockNumber })))
  return quotes.map((q) => impactOf(q, quote.tokenIn, quote.route, oracle))
}

export type MaxAmountInWithinSlippageParameters = Omit<QuoteExactInputParameters, "amountIn"> & {
  oracle: OraclePrice
  /** Largest shortfall against the oracle value the swap may have (the policy's `maxSlippageBps`). */
  maxSlippageBps: number
  /** Largest size worth considering (e.g. the collateral the sub-account holds). */
  upperBound: bigint
  /** Stop when the bracket is narrower than this fraction of the answer, in bps (default 10 = 0.1%). */
  toleranceBps?: number | undefined
}

export type MaxAmountInWithinSlippageReturnType = {
  /** Largest size found whose shortfall is within `maxSlippageBps` (0 when even the smallest exceeds it). */
  amountIn: bigint
  /** Its impact point; undefined when `amountIn` is 0. */
  point: ImpactPoint | undefined
  /** eth_calls spent. */
  quotes: number
}

/**
 * The largest input (up to `upperBound`) whose output stays within `maxSlippageBps` of its oracle value, by bisection on
 * QuoterV2 quotes against one block (shortfall grows with size). The solver caps or splits an unwind with it so that
 * the module's on-chain minimum (oracle value less `maxSlippageBps`) holds.
 *
 * @param client - Any viem client on the chain.
 * @param parameters - {@link MaxAmountInWithinSlippageParameters}
 * @returns {@link MaxAmountInWithinSlippageReturnType}
 * @throws SwapRouteError for a non-positive `upperBound` or a negative bound; SwapQuoteError when a quote reverts.
 */
export async function maxAmountInWithinSlippage(
  client: Client<Transport, Chain | undefined>,
  parameters: MaxAmountInWithinSlippageParameters,
): Promise<MaxAmountInWithinSlippageReturnType> {
  const { oracle, maxSlippageBps, upperBound, toleranceBps = 10, ...quote } = parameters
  if (upperBound <= 0n) throw new SwapRouteError({ field: "upperBound", reason: "must be positive" })
  if (!(maxSlippageBps >= 0)) throw new SwapRouteError({ field: "maxSlippageBps", reason: "must be a non-negative number" })
  const blockNumber = quote.blockNumber ?? (await getBlockNumber(client, { cacheTime: 0 }))
  let quotes = 0
  const at = async (amountIn: bigint) => {
    quotes++
    return impactOf(await quoteExactInput(client, { ...quote, amountIn, blockNumber }), quote.tokenIn, quote.route, oracle)
  }
  // The fee is paid on any size: nothing fits when it alone exceeds the bound.
  if (routeFeeBps(quote.route) > maxSlippageBps) return { amountIn: 0n, point: undefined, quotes }
  const top = await at(upperBound)
  if (top.shortfallBps <= maxSlippageBps) return { amountIn: upperBound, point: top, quotes }
  let lo = 0n
  let best: ImpactPoint | undefined
  let hi = upperBound
  const tolerance = BigInt(Math.max(1, Math.round(toleranceBps)))
  for (let step = 0; step < 128 && hi - lo > 1n && (best === undefined || (hi - lo) * 10_000n > lo * tolerance); step++) {
    const mid = (lo + hi) / 2n
    const point = await at(mid)
    if (point.shortfallBps <= maxSlippageBps) [lo, best] = [mid, point]
    else hi = mid
  }
  return { amountIn: lo, point: best, quotes }
}
