import { type Address, type Chain, type Client, type Hex, type Transport, hexToBigInt, parseAbi, size } from "viem"
import { readContract } from "viem/actions"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import type { LeverageDeployments } from "../constants/deployments.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"

/** The parts of the ERC-4337 v0.7 sample `TokenPaymaster` the reserve reads. */
const tokenPaymasterAbi = parseAbi([
  "function cachedPrice() view returns (uint256)",
  "function tokenPaymasterConfig() view returns (uint256 priceMarkup, uint128 minEntryPointBalance, uint48 refundPostopCost, uint48 priceMaxAge)",
  // Not a view on chain (it writes the cache); called with eth_call it returns the price the next postOp would cache.
  "function updateCachedPrice(bool force) view returns (uint256)",
])

/** Basis points (10,000 = 100 %). */
const BPS = 10_000n

/** `TokenPaymaster` price scale (`OracleHelper.PRICE_DENOMINATOR`, 1e26 = 100 %). */
const PRICE_DENOMINATOR = 10n ** 26n

/** The fields of a v0.7 UserOperation the paymaster's pre-charge depends on. */
export type PaymasterChargedUserOperation = {
  verificationGasLimit: bigint
  callGasLimit: bigint
  preVerificationGas: bigint
  paymasterVerificationGasLimit?: bigint | undefined
  paymasterPostOpGasLimit?: bigint | undefined
  maxFeePerGas: bigint
  /** The paymaster's data after its address and gas limits: 32 bytes carry a client-supplied price. */
  paymasterData?: Hex | undefined
}

export type GetPaymasterTokenReserveParameters = {
  safe: Address
  /** The ERC-20 paymaster (the v0.7 sample `TokenPaymaster`); the Safe's `requiredPaymaster` by default. */
  paymaster?: Address | undefined
  /**
   * The prepared operation the charge is for: the reserve is then exactly what the paymaster pulls for it. Without one,
   * the Safe's automation caps bound it (the most any keeper operation can be pre-charged).
   */
  userOperation?: PaymasterChargedUserOperation | undefined
  /**
   * Room for the paymaster's price to fall between this read and the operation's validation, in basis points of the
   * charge (default 0: the exact charge at today's price). Any operation through the paymaster refreshes its cached
   * price in its `postOp` (`updateCachedPrice`), and anyone may force a refresh: if the token falls against the native
   * asset, our operation is then pre-charged more than was read. With `priceMarginBps` m the reserve is the charge at
   * the price divided by (1 + m / 10,000): a refresh lowering the price by up to that factor still leaves the reserve
   * at least the pre-charge. Non-negative integer.
   */
  priceMarginBps?: number | undefined
  deployments?: LeverageDeployments | undefined
}

export type GetPaymasterTokenReserveReturnType = {
  paymaster: Address
  /** The tokens (base units) the paymaster pulls from the Safe in validation: exact for `userOperation`, else the most. */
  reserve: bigint
  /** The gas cost the charge is computed from (the operation's, or every gas cap x the `maxFeePerGas` cap), wei. */
  maxCostWei: bigint
  /**
   * The price the paymaster charges at (`cachedPrice` x 1e26 / `priceMarkup`, or a lower client-supplied price), wei per
   * token base unit x 1e26. When the cache is past its time to live and the feeds moved past the update threshold, the
   * next operation's `postOp` refreshes it: the lower of the two prices is used.
   */
  priceWithMarkup: bigint
  /** The margin applied (`priceMarginBps`), basis points of the charge. */
  priceMarginBps: number
}

/**
 * What an ERC-20 paymaster (the v0.7 sample `TokenPaymaster`) pre-charges the Safe for a keeper operation, in its token.
 * The paymaster pulls the tokens in validation, before the plan runs, so a plan must leave them in the Safe. For a
 * prepared `userOperation` it is exactly the paymaster's `_validatePaymasterUserOp`: `weiToToken(requiredPreFund +
 * refundPostopCost x maxFeePerGas, price)`, rounded down, with `requiredPreFund = (verificationGasLimit + callGasLimit +
 * preVerificationGas + paymasterVerificationGasLimit + paymasterPostOpGasLimit) x maxFeePerGas` (EntryPoint v0.7) and
 * `price = cachedPrice x 1e26 / priceMarkup`, or the client-supplied price in a 32-byte `paymasterData` when lower.
 * Without one, the same with every gas field and the fee at the Safe's automation caps: the most any keeper operation
 * can be pre-charged. A refresh the next `postOp` would make (`updateCachedPrice(false)` in an `eth_call`, when the
 * paymaster answers it) is counted when it lowers the price; `priceMarginBps` adds room for a later fall.
 *
 * @throws {RangeError} When `priceMarginBps` is not a non-negative safe integer.
 * @returns {@link GetPaymasterTokenReserveReturnType}; `undefined` when the Safe pins no paymaster and none is given.
 * @example
 * const { reserve } = (await getPaymasterTokenReserve(client, { safe, paymaster, userOperation })) ?? { reserve: 0n }
 */
export async function getPaymasterTokenReserve(
  client: Client<Transport, Chain | undefined>,
  parameters: GetPaymasterTokenReserveParameters,
): Promise<GetPaymasterTokenReserveReturnType | undefined> {
  const { userOperation } = parameters
  const priceMarginBps = parameters.priceMarginBps ?? 0
  if (!Number.isSafeInteger(priceMarginBps) || priceMarginBps < 0) throw new RangeError(`priceMarginBps must be a non-negative integer, got ${priceMarginBps}`)
  let paymaster = parameters.paymaster
  let op = userOperation
  if (paymaster === undefined || op === undefined) {
    const { deployment } = await resolveLeverageDeployment(client, parameters.deployments)
    const config = await readContract(client, { address: deployment.leverageModule, abi: leverageModuleAbi, functionName: "getAutomationConfig", args: [parameters.safe] })
    paymaster ??= /^0x0{40}$/i.test(config.requiredPaymaster) ? undefined : config.requiredPaymaster
    op ??= {
      verificationGasLimit: BigInt(config.maxVerificationGasLimit),
      callGasLimit: BigInt(config.maxCallGasLimit),
      preVerificationGas: BigInt(config.maxPreVerificationGas),
      paymasterVerificationGasLimit: BigInt(config.maxPaymasterVerificationGasLimit),
      paymasterPostOpGasLimit: BigInt(config.maxPaymasterPostOpGasLimit),
      maxFeePerGas: BigInt(config.maxFeePerGas),
    }
  }
  if (!paymaster) return undefined
  const [cachedPrice, paymasterConfig, refreshed] = await Promise.all([
    readContract(client, { address: paymaster, abi: tokenPaymasterAbi, functionName: "cachedPrice" }),
    readContract(client, { address: paymaster, abi: tokenPaymasterAbi, functionName: "tokenPaymasterConfig" }),
    // What the next postOp would cache (the cached price itself while it is fresh). A paymaster that does not answer
    // it has the cached price only.
    readContract(client, { address: paymaster, abi: tokenPaymasterAbi, functionName: "updateCachedPrice", args: [false] }).catch(() => undefined),
  ])
  const gas = op.verificationGasLimit + op.callGasLimit + op.preVerificationGas + (op.paymasterVerificationGasLimit ?? 0n) + (op.paymasterPostOpGasLimit ?? 0n)
  const maxCostWei = gas * op.maxFeePerGas + BigInt(paymasterConfig[2]) * op.maxFeePerGas
  const price = refreshed !== undefined && refreshed > 0n && refreshed < cachedPrice ? refreshed : cachedPrice
  let priceWithMarkup = (price * PRICE_DENOMINATOR) / paymasterConfig[0]
  if (op.paymasterData !== undefined && size(op.paymasterData) === 32) {
    const clientPrice = hexToBigInt(op.paymasterData)
    if (clientPrice < priceWithMarkup) priceWithMarkup = clientPrice
  }
  const exact = priceWithMarkup === 0n ? 0n : (maxCostWei * PRICE_DENOMINATOR) / priceWithMarkup
  // The charge at the price divided by (1 + m), rounded up: a pre-charge at any price down to that is at most this.
  const margin = BigInt(priceMarginBps)
  const reserve = priceWithMarkup === 0n ? 0n : (maxCostWei * PRICE_DENOMINATOR * (BPS + margin) + priceWithMarkup * BPS - 1n) / (priceWithMarkup * BPS)
  return { paymaster, reserve: margin === 0n ? exact : reserve, maxCostWei, priceWithMarkup, priceMarginBps }
}
