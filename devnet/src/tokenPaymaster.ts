import { waitForReceipt } from "./receipt.js"
import { join } from "node:path"
import {
  type Abi,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
  keccak256,
  parseAbi,
  parseEther,
  toHex,
} from "viem"
import { entryPoint07Abi } from "viem/account-abstraction"
import { deployArtifact, readArtifact } from "./artifact.js"
import { DeploymentError } from "./errors.js"
import { forgeOut, leverageArtifacts, testTokenAbi } from "./leverage.js"

/** The v0.7 sample ERC-20 paymaster (`samples/TokenPaymaster.sol`), Hardhat artifact. */
export const tokenPaymasterArtifact = "@account-abstraction/contracts/artifacts/TokenPaymaster.json"

/** All TokenPaymaster and OracleHelper prices are scaled by this (1e26 = 100 %). */
export const tokenPaymasterPriceDenominator = 10n ** 26n

/**
 * Stand-in for the Uniswap V3 router. The devnet has no Uniswap; `UniswapHelper`'s constructor approves the router
 * for the token, which OpenZeppelin 5 ERC-20s refuse for the zero address, so it gets this code-less address. With
 * `minEntryPointBalance = 0` the paymaster never swaps, so the router is never called.
 */
export const noSwapRouter = "0x000000000000000000000000000000000000dEaD" as const satisfies Address

/** The parts of the sample TokenPaymaster ABI the devnet and tests use. */
export const tokenPaymasterAbi = parseAbi([
  "struct TokenPaymasterConfig { uint256 priceMarkup; uint128 minEntryPointBalance; uint48 refundPostopCost; uint48 priceMaxAge; }",
  "event UserOperationSponsored(address indexed user, uint256 actualTokenCharge, uint256 actualGasCost, uint256 actualTokenPriceWithMarkup)",
  "event TokenPriceUpdated(uint256 currentPrice, uint256 previousPrice, uint256 cachedPriceTimestamp)",
  "function token() view returns (address)",
  "function owner() view returns (address)",
  "function cachedPrice() view returns (uint256)",
  "function cachedPriceTimestamp() view returns (uint48)",
  "function tokenPaymasterConfig() view returns (uint256 priceMarkup, uint128 minEntryPointBalance, uint48 refundPostopCost, uint48 priceMaxAge)",
  "function updateCachedPrice(bool force) returns (uint256)",
  "function getDeposit() view returns (uint256)",
  "function weiToToken(uint256 amount, uint256 price) pure returns (uint256)",
])

/** The Chainlink side of the devnet `SimOracle` as the token paymaster's feeds use it. */
export const simOracleFeedAbi = parseAbi([
  "function setFeed(int256 answer, uint256 updatedAt, uint8 feedDecimals)",
  "function decimals() view returns (uint8)",
])

/** `TokenPaymaster.TokenPaymasterConfig`. */
export type TokenPaymasterConfig = {
  /** Markup on the oracle price, 1e26 = 100 % (no markup) up to 2e26. */
  priceMarkup: bigint
  /** Swap collected tokens on Uniswap when the deposit falls below this; 0 never swaps. */
  minEntryPointBalance: bigint
  /** Gas the paymaster charges for its own postOp (must be below every op's `paymasterPostOpGasLimit`). */
  refundPostopCost: number
  /** Seconds an operation stays valid after the cached price was last updated (its `validUntil`). */
  priceMaxAge: number
}

/** `OracleHelper.OracleHelperConfig`. */
export type OracleHelperConfig = {
  cacheTimeToLive: number
  maxOracleRoundAge: number
  tokenOracle: Address
  nativeOracle: Address
  tokenToNativeOracle: boolean
  tokenOracleReverse: boolean
  nativeOracleReverse: boolean
  priceUpdateThreshold: bigint
}

export type DeployTokenPaymasterParameters = {
  publicClient: PublicClient
  /** Sends the deployments and set-up transactions (fixed gas) and funds the EntryPoint deposit. */
  deployer: WalletClient<Transport, Chain | undefined, Account>
  entryPoint: Address
  /** The ERC-20 the paymaster accepts (the devnet USDC `TestToken`). */
  token: Address
  /** The wrapped native token (the devnet WETH `TestToken`); only used by swaps, which never happen here. */
  wrappedNative: Address
  /** `owner()` of the paymaster; the deployer by default. */
  owner?: Address | undefined
  /** Whole-token prices in USD with 8 decimals (Chainlink style); token 1.00 and native 3000.00 by default. */
  prices?: { tokenUsd?: bigint | undefined; nativeUsd?: bigint | undefined } | undefined
  /** EntryPoint deposit of the paymaster; 10 ETH by default. */
  deposit?: bigint | undefined
  /** Overrides of {@link defaultTokenPaymasterConfig}. */
  config?: Partial<TokenPaymasterConfig> | undefined
  /** forge `out/` directory for the `SimOracle` feeds; {@link forgeOut} by default. */
  out?: string | undefined
}

export type DeployTokenPaymasterReturnType = {
  address: Address
  token: Address
  /** `SimOracle` feeds: token/USD and native/USD (8 decimals). */
  feeds: { token: Address; native: Address }
  config: TokenPaymasterConfig
  oracleConfig: OracleHelperConfig
  /** `cachedPrice` after the forced update: wei per token base unit, scaled by 1e26, without markup. */
  cachedPrice: bigint
}

/**
 * 110 % price markup, never swaps (`minEntryPointBalance` 0), charges 15k gas for its own postOp (measured on the
 * devnet: about 12k, 47k when it refreshes the cached price), and accepts operations for a day after the cached price
 * was last updated.
 */
export const defaultTokenPaymasterConfig: TokenPaymasterConfig = {
  priceMarkup: (tokenPaymasterPriceDenominator * 110n) / 100n,
  minEntryPointBalance: 0n,
  refundPostopCost: 15_000,
  priceMaxAge: 86_400,
}

const saltOf = (name: string): Hex => keccak256(toHex(`levpilot.devnet.tokenPaymaster.${name}`))

/**
 * Deploys the real v0.7 sample `TokenPaymaster` for `token` with two Chainlink-style `SimOracle` feeds (token/USD and
 * native/USD), forces its first price update and funds its EntryPoint deposit.
 *
 * The sample's `OracleHelper` prices token base units against wei and ignores the token's decimals, so the token feed
 * quotes USD per 10^-18 token: for a 6-decimal token its answer is the USD price times 10^12. The cached price is then
 * wei per token base unit (times 1e26), and the paymaster charges `weiToToken(gas cost, price / markup)` base units.
 *
 * Deployed through the CREATE2 deployer (idempotent): the constructor hands ownership to `owner`, so the proxy does
 * not keep it. Oracle rounds older than 30 days are refused, the cache lives an hour, and a 10 % change is needed to
 * update it in `postOp`.
 *
 * @param parameters - {@link DeployTokenPaymasterParameters}
 * @returns The paymaster, its feeds and configuration. {@link DeployTokenPaymasterReturnType}
 * @example
 * const tokenPaymaster = await deployTokenPaymaster({
 *   publicClient,
 *   deployer,
 *   entryPoint: devnet.addresses.entryPoint,
 *   token: stack.tokens.usdc,
 *   wrappedNative: stack.tokens.weth,
 * })
 */
export async function deployTokenPaymaster(parameters: DeployTokenPaymasterParameters): Promise<DeployTokenPaymasterReturnType> {
  const { publicClient, deployer, entryPoint, token, wrappedNative, prices = {}, deposit = parseEther("10"), out = forgeOut } = parameters
  const owner = parameters.owner ?? deployer.account.address
  const config: TokenPaymasterConfig = { ...defaultTokenPaymasterConfig, ...parameters.config }
  const send = async (label: string, request: { address: Address; abi: Abi; functionName: string; args?: readonly unknown[]; value?: bigint }) => {
    // Fixed gas: estimates against the latest block are unreliable for set-up transactions on the devnet.
    const hash = await deployer.writeContract({ ...request, chain: deployer.chain, gas: 3_000_000n } as Parameters<typeof deployer.writeContract>[0])
    const receipt = await waitForReceipt(publicClient, { hash })
    if (receipt.status !== "success")
      throw new DeploymentError(`Set-up transaction "${label}" reverted.`, { contract: request.address, metaMessages: [`Transaction: ${hash}`] })
  }

  const tokenDecimals = await publicClient.readContract({ address: token, abi: testTokenAbi, functionName: "decimals" })
  const feed = async (label: string, answer: bigint) => {
    const address = await (
      await deployArtifact({ artifact: join(out, leverageArtifacts.simOracle), args: [18, 18, 8], salt: saltOf(label), publicClient, walletClient: deployer })
    ).wait()
    const { timestamp } = await publicClient.getBlock({ blockTag: "latest" })
    await send(`setFeed ${label}`, { address, abi: simOracleFeedAbi, functionName: "setFeed", args: [answer, timestamp, 8] })
    return address
  }
  const tokenFeed = await feed("tokenUsd", (prices.tokenUsd ?? 100_000_000n) * 10n ** BigInt(18 - tokenDecimals))
  const nativeFeed = await feed("nativeUsd", prices.nativeUsd ?? 300_000_000_000n)

  const oracleConfig: OracleHelperConfig = {
    cacheTimeToLive: 3_600,
    maxOracleRoundAge: 30 * 86_400,
    tokenOracle: tokenFeed,
    nativeOracle: nativeFeed,
    tokenToNativeOracle: false,
    tokenOracleReverse: false,
    nativeOracleReverse: false,
    priceUpdateThreshold: tokenPaymasterPriceDenominator / 10n,
  }
  const deployment = await deployArtifact({
    artifact: readArtifact(tokenPaymasterArtifact),
    args: [
      token,
      entryPoint,
      wrappedNative,
      noSwapRouter,
      config,
      oracleConfig,
      { minSwapAmount: 0n, uniswapPoolFee: 3_000, slippage: 50 },
      owner,
    ],
    salt: saltOf("paymaster"),
    publicClient,
    walletClient: deployer,
    gas: 6_000_000n,
  })
  const address = await deployment.wait()
  await send("updateCachedPrice", { address, abi: tokenPaymasterAbi, functionName: "updateCachedPrice", args: [true] })
  if (deposit > 0n) await send("depositTo", { address: entryPoint, abi: entryPoint07Abi, functionName: "depositTo", args: [address], value: deposit })
  const cachedPrice = await publicClient.readContract({ address, abi: tokenPaymasterAbi, functionName: "cachedPrice" })
  return { address, token, feeds: { token: tokenFeed, native: nativeFeed }, config, oracleConfig, cachedPrice }
}
