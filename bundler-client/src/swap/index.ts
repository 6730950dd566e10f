export { SwapQuoteError, SwapRouteError } from "./errors.js"
export * from "./uniswapQuote.js"
