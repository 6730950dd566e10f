import { BaseError } from "viem"

export type SwapQuoteErrorType = SwapQuoteError & { name: "SwapQuoteError" }
/** QuoterV2 could not quote a swap (its eth_call reverted). */
export class SwapQuoteError extends BaseError {
  constructor({ tokenIn, tokenOut, route, amountIn, cause }: { tokenIn: string; tokenOut: string; route: string; amountIn: bigint; cause?: Error | undefined }) {
    super("Uniswap v3 QuoterV2 could not quote the swap.", {
      cause,
      metaMessages: [
        `Swap: ${amountIn} base units of ${tokenIn} -> ${tokenOut} via ${route}`,
        "This could arise when:",
        "- the factory has no pool for a hop at that fee tier, or the pool is not initialised;",
        "- the pool has no liquidity left in the swap's direction (it would be drained);",
        "- the quoter address is wrong for this chain.",
      ],
      name: "SwapQuoteError",
    })
  }
}

export type SwapRouteErrorType = SwapRouteError & { name: "SwapRouteError" }
/** A swap route or a slippage search was given inconsistent input (field named). */
export class SwapRouteError extends BaseError {
  field: string
  constructor({ field, reason }: { field: string; reason: string }) {
    super(`Invalid swap input: "${field}" ${reason}`, { metaMessages: [`Field: ${field}`], name: "SwapRouteError" })
    this.field = field
  }
}
