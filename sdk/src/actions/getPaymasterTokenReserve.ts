import { type Address, type Chain, type Client, type Transport, parseAbi } from "viem"
import { readContract } from "viem/actions"
import { leverageModuleAbi } from "../abis/leverageModule.js"
import type { LeverageDeployments } from "../constants/deployments.js"
import { resolveLeverageDeployment } from "../utils/getLeverageDeployment.js"

/** The parts of the ERC-4337 v0.7 sample `TokenPaymaster` the reserve reads. */
const tokenPaymasterAbi = parseAbi([
  "function cachedPrice() view returns (uint256)",
  "function tokenPaymasterConfig() view returns (uint256 priceMarkup, uint128 minEntryPointBalance, uint48 refundPostopCost, uint48 priceMaxAge)",
])

/** `TokenPaymaster` price scale (`OracleHelper.PRICE_DENOMINATOR`, 1e26 = 100 %). */
const PRICE_DENOMINATOR = 10n ** 26n

export type GetPaymasterTokenReserveParameters = {
  safe: Address
  /** The ERC-20 paymaster (the v0.7 sample `TokenPaymaster`); the Safe's `requiredPaymaster` by default. */
  paymaster?: Address | undefined
  deployments?: LeverageDeployments | undefined
}

export type GetPaymasterTokenReserveReturnType = {
  paymaster: Address
  /** The most tokens (base units) the paymaster can pull from the Safe in validation for one keeper operation. */
  reserve: bigint
  /** The gas cost that bound is computed from: every gas cap of the Safe x its `maxFeePerGas` cap, wei. */
  maxCostWei: bigint
}

/**
 * The most an ERC-20 paymaster can pre-charge the Safe for one keeper operation, in its token. The paymaster pulls the
 * tokens in validation, before the plan runs, so a plan spending the Safe's whole balance of that token reverts in
 * every block: a keeper keeps this much aside. Bound: the module caps every gas field and the fee of a keeper operation
 * (`AutomationConfig`), so the prefund is at most `(maxVerificationGasLimit + maxCallGasLimit + maxPreVerificationGas +
 * maxPaymasterVerificationGasLimit + maxPaymasterPostOpGasLimit) x maxFeePerGas`; the sample `TokenPaymaster`
 * pre-charges `weiToToken(prefund + refundPostopCost x maxFeePerGas, cachedPrice x 1e26 / priceMarkup)`, rounded up here.
 *
 * @returns {@link GetPaymasterTokenReserveReturnType}; `undefined` when the Safe pins no paymaster and none is given.
 */
export async function getPaymasterTokenReserve(
  client: Client<Transport, Chain | undefined>,
  parameters: GetPaymasterTokenReserveParameters,
): Promise<GetPaymasterTokenReserveReturnType | undefined> {
  const { deployment } = await resolveLeverageDeployment(client, parameters.deployments)
  const config = await readContract(client, { address: deployment.leverageModule, abi: leverageModuleAbi, functionName: "getAutomationConfig", args: [parameters.safe] })
  const paymaster = parameters.paymaster ?? (/^0x0{40}$/i.test(config.requiredPaymaster) ? undefined : config.requiredPaymaster)
  if (!paymaster) return undefined
  const [cachedPrice, paymasterConfig] = await Promise.all([
    readContract(client, { address: paymaster, abi: tokenPaymasterAbi, functionName: "cachedPrice" }),
    readContract(client, { address: paymaster, abi: tokenPaymasterAbi, functionName: "tokenPaymasterConfig" }),
  ])
  const fee = BigInt(config.maxFeePerGas)
  const gas =
    BigInt(config.maxVerificationGasLimit) +
    BigInt(config.maxCallGasLimit) +
    BigInt(config.maxPreVerificationGas) +
    BigInt(config.maxPaymasterVerificationGasLimit) +
    BigInt(config.maxPaymasterPostOpGasLimit)
  const maxCostWei = gas * fee + BigInt(paymasterConfig[2]) * fee
  const priceWithMarkup = (cachedPrice * PRICE_DENOMINATOR) / paymasterConfig[0]
  const reserve = priceWithMarkup === 0n ? 0n : (maxCostWei * PRICE_DENOMINATOR + priceWithMarkup - 1n) / priceWithMarkup
  return { paymaster, reserve, maxCostWei }
}
