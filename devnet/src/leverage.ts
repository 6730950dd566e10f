import { waitForReceipt } from "./receipt.js"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import {
  type Abi,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
  encodeAbiParameters,
  keccak256,
  maxUint256,
  parseAbi,
  parseEther,
  parseUnits,
  toHex,
} from "viem"
import { type DeployArtifactReturnType, deployArtifact } from "./artifact.js"
import { type UniswapAddresses, deploySwapAdapter, deployUniswap } from "./uniswap.js"
import type { LeverageDeployment } from "@levpilot/sdk/deployments"
import type { DevnetAddresses } from "./deploy.js"
import { DeploymentError } from "./errors.js"
import { deployAdaptiveCurveIrm } from "./irm.js"

const here = dirname(fileURLToPath(import.meta.url))

/** forge `out/` directory of this repository (override with `FORGE_OUT`). */
export const forgeOut = process.env.FORGE_OUT ?? resolve(here, "../../out")

/** The forge artifacts `deployLeverageStack` deploys, relative to {@link forgeOut}. */
export const leverageArtifacts = {
  morpho: "Morpho.sol/Morpho.json",
  morphoBlueAdapter: "MorphoBlueAdapter.sol/MorphoBlueAdapter.json",
  leverageModule: "LeverageModule.sol/LeverageModule.json",
  testToken: "TestToken.sol/TestToken.json",
  simOracle: "SimOracle.sol/SimOracle.json",
  yieldVault: "YieldVault.sol/YieldVault.json",
} as const

/** Morpho Blue `MarketParams`. */
export type MarketParams = {
  loanToken: Address
  collateralToken: Address
  oracle: Address
  irm: Address
  lltv: bigint
}

export type DevnetMarket = {
  /** Morpho market id: keccak256(abi.encode(MarketParams)). */
  id: Hex
  params: MarketParams
  /** SimOracle of the market (Morpho oracle and Chainlink-style feed at once). */
  oracle: Address
}

/** Everything `deployLeverageStack` deploys, by role. */
export type LeverageStackAddresses = {
  morpho: Address
  /** Morpho's production AdaptiveCurveIrm (published bytecode from `@morpho-org/morpho-blue-bundlers`), enabled in
   * Morpho; both markets use it, so debt accrues interest (1% APR when idle, about 3.8% at the demo's 85% utilisation, 4% at the 90% target). */
  irm: Address
  morphoBlueAdapter: Address
  /** Deployed with `swapAdapter` fixed at construction (swap-based Repay and Boost). */
  leverageModule: Address
  /** Uniswap v3 core and periphery from the npm artifacts (pools: `deployUniswapStack`). */
  uniswap: UniswapAddresses
  /** The module's UniswapV3SwapAdapter: the real SwapRouter, fee tiers 500 and 3000, USDC as the only hub. */
  swapAdapter: Address
  tokens: { usdc: Address; weth: Address; wbtc: Address }
  markets: { weth: DevnetMarket; wbtc: DevnetMarket }
  /** ERC-4626 yield pools (OpenZeppelin ERC4626), seeded so `totalSupply >= MIN_POOL_SUPPLY`. */
  vaults: { usdc: Address; weth: Address }
}

export type DeployLeverageStackParameters = {
  publicClient: PublicClient
  /** Sends every deployment and set-up transaction; becomes the Morpho owner and the liquidity provider. */
  deployer: WalletClient<Transport, Chain | undefined, Account>
  /** EntryPoint v0.7 the module accepts. */
  entryPoint: Address
  /** Liquidation LTV of both markets (WAD); 0.86e18 by default. */
  lltv?: bigint | undefined
  /** Whole-token prices in USDC, scaled by 1e18; WETH 3000 and WBTC 60000 by default. */
  prices?: { weth?: bigint | undefined; wbtc?: bigint | undefined } | undefined
  /** USDC supplied to each Morpho market by the deployer; 10M by default. */
  liquidity?: bigint | undefined
  /**
   * Share of each market's liquidity (0..1) the deployer borrows itself, as the market's other borrowers, against
   * twice the collateral needed at the start price: a realistic utilisation (e.g. 0.85) puts the AdaptiveCurveIrm's
   * borrow rate near its 4 % target instead of its 1 % floor. 0 (none) by default.
   */
  utilization?: number | undefined
  /** forge `out/` directory; {@link forgeOut} by default. */
  out?: string | undefined
}

export const morphoAbi = parseAbi([
  "struct MarketParams { address loanToken; address collateralToken; address oracle; address irm; uint256 lltv; }",
  "function owner() view returns (address)",
  "function enableIrm(address irm)",
  "function enableLltv(uint256 lltv)",
  "function isIrmEnabled(address irm) view returns (bool)",
  "function isLltvEnabled(uint256 lltv) view returns (bool)",
  "function createMarket(MarketParams marketParams)",
  "function supply(MarketParams marketParams, uint256 assets, uint256 shares, address onBehalf, bytes data) returns (uint256, uint256)",
  "function supplyCollateral(MarketParams marketParams, uint256 assets, address onBehalf, bytes data)",
  "function borrow(MarketParams marketParams, uint256 assets, uint256 shares, address onBehalf, address receiver) returns (uint256, uint256)",
  "function market(bytes32 id) view returns (uint128 totalSupplyAssets, uint128 totalSupplyShares, uint128 totalBorrowAssets, uint128 totalBorrowShares, uint128 lastUpdate, uint128 fee)",
  "function position(bytes32 id, address user) view returns (uint256 supplyShares, uint128 borrowShares, uint128 collateral)",
])

/** The MorphoBlueAdapter's market registration (`registerMarket`: the params stored as code at `paramsPointer`). */
export const morphoAdapterRegistryAbi = parseAbi([
  "function registerMarket(bytes32 market) returns (address pointer)",
  "function paramsPointer(bytes32 market) view returns (address)",
])

export const testTokenAbi = parseAbi([
  "function mint(address to, uint256 amount)",
  "function approve(address spender, uint256 amount) returns (bool)",
  "function balanceOf(address account) view returns (uint256)",
  "function decimals() view returns (uint8)",
])

export const simOracleAbi = parseAbi([
  "function setPrice(uint256 priceWad)",
  "function setVenuePrice(uint256 newPrice)",
  "function price() view returns (uint256)",
])

export const yieldVaultAbi = parseAbi([
  "function deposit(uint256 assets, address receiver) returns (uint256)",
  "function asset() view returns (address)",
  "function totalSupply() view returns (uint256)",
  "function balanceOf(address account) view returns (uint256)",
])

const marketParamsType = [
  {
    type: "tuple",
    components: [
      { name: "loanToken", type: "address" },
      { name: "collateralToken", type: "address" },
      { name: "oracle", type: "address" },
      { name: "irm", type: "address" },
      { name: "lltv", type: "uint256" },
    ],
  },
] as const

/**
 * Morpho Blue market id of `params`: keccak256(abi.encode(params)).
 *
 * @returns The 32-byte id.
 */
export function morphoMarketId(params: MarketParams): Hex {
  return keccak256(encodeAbiParameters(marketParamsType, [params]))
}

const saltOf = (name: string): Hex => keccak256(toHex(`levpilot.devnet.${name}`))

/**
 * Deploys the leverage autopilot contracts from the forge artifacts in `out/` on a devnet that already
 * has the EntryPoint: the real Morpho Blue (owner = deployer, the LLTV enabled), Morpho's AdaptiveCurveIrm (deployed
 * from the bytecode `@morpho-org/morpho-blue-bundlers` publishes, see `irm.ts`, and enabled), the MorphoBlueAdapter, Uniswap v3
 * (`deployUniswap`) and the module's UniswapV3SwapAdapter, the LeverageModule with both (its linked RebalanceLib is deployed first), test tokens (USDC 6, WETH 18, WBTC 8 decimals), SimOracles,
 * WETH/USDC and WBTC/USDC markets with USDC liquidity, and USDC/WETH ERC-4626 yield vaults.
 * Everything goes through CREATE2 with per-contract salts, so addresses repeat for the same artifacts,
 * and a second call on the same chain only re-runs idempotent set-up.
 *
 * @param parameters - {@link DeployLeverageStackParameters}
 * @returns The typed address map {@link LeverageStackAddresses}.
 * @example
 * const devnet = await startDevnet()
 * const stack = await deployLeverageStack({
 *   publicClient,
 *   deployer: createWalletClient({ chain: devnet.chain, transport: http(), account: privateKeyToAccount(devnet.keys.deployer) }),
 *   entryPoint: devnet.addresses.entryPoint,
 * })
 */
export async function deployLeverageStack(parameters: DeployLeverageStackParameters): Promise<LeverageStackAddresses> {
  const {
    publicClient,
    deployer,
    entryPoint,
    lltv = parseEther("0.86"),
    prices = {},
    liquidity = parseUnits("10000000", 6),
    utilization = 0,
    out = forgeOut,
  } = parameters
  if (!(utilization >= 0 && utilization < 1)) throw new DeploymentError(`utilization must be in [0, 1), got ${utilization}.`, { contract: "Morpho markets" })
  const artifact = (name: keyof typeof leverageArtifacts) => join(out, leverageArtifacts[name])
  const owner = deployer.account.address

  const deploy = async (name: keyof typeof leverageArtifacts, label: string, args: readonly unknown[]) => {
    const deployment: DeployArtifactReturnType = await deployArtifact({
      artifact: artifact(name),
      args,
      salt: saltOf(label),
      publicClient,
      walletClient: deployer,
    })
    return deployment.wait()
  }
  const send = async (label: string, request: { address: Address; abi: Abi; functionName: string; args: readonly unknown[] }) => {
    // Fixed gas: an estimate against the latest block can miss a first write in the next one (Morpho's
    // accrueInterest stores the new timestamp), and the real transaction then runs out of gas.
    const hash = await deployer.writeContract({ ...request, chain: deployer.chain, gas: 3_000_000n } as Parameters<typeof deployer.writeContract>[0])
    const receipt = await waitForReceipt(publicClient, { hash })
    if (receipt.status !== "success")
      throw new DeploymentError(`Set-up transaction "${label}" reverted.`, { contract: request.address, metaMessages: [`Transaction: ${hash}`] })
  }

  const morpho = await deploy("morpho", "morpho", [owner])
  const irm = await deployAdaptiveCurveIrm({ publicClient, walletClient: deployer, morpho, salt: saltOf("adaptiveCurveIrm") })
  if (!(await publicClient.readContract({ address: morpho, abi: morphoAbi, functionName: "isIrmEnabled", args: [irm] })))
    await send("enableIrm", { address: morpho, abi: morphoAbi, functionName: "enableIrm", args: [irm] })
  if (!(await publicClient.readContract({ address: morpho, abi: morphoAbi, functionName: "isLltvEnabled", args: [lltv] })))
    await send("enableLltv", { address: morpho, abi: morphoAbi, functionName: "enableLltv", args: [lltv] })

  const morphoBlueAdapter = await deploy("morphoBlueAdapter", "morphoBlueAdapter", [morpho])
  const usdc = await deploy("testToken", "usdc", ["USD Coin", "USDC", 6])
  const weth = await deploy("testToken", "weth", ["Wrapped Ether", "WETH", 18])
  const wbtc = await deploy("testToken", "wbtc", ["Wrapped Bitcoin", "WBTC", 8])
  // CREATE2 addresses do not depend on the order: the swap adapter (over the real SwapRouter) exists before the module
  // that fixes it at construction.
  const uniswap = await deployUniswap({ publicClient, deployer, weth9: weth })
  const swapAdapter = await deploySwapAdapter({ publicClient, deployer, uniswap, hub: usdc, out })
  const leverageModule = await deploy("leverageModule", "leverageModule", [entryPoint, [morphoBlueAdapter], swapAdapter])

  const createMarket = async (label: string, collateralToken: Address, collateralDecimals: number, priceWad: bigint) => {
    const oracle = await deploy("simOracle", `oracle.${label}`, [6, collateralDecimals, 8])
    await send(`setPrice ${label}`, { address: oracle, abi: simOracleAbi, functionName: "setPrice", args: [priceWad] })
    const params: MarketParams = { loanToken: usdc, collateralToken, oracle, irm, lltv }
    const id = morphoMarketId(params)
    const [, , , , lastUpdate] = await publicClient.readContract({ address: morpho, abi: morphoAbi, functionName: "market", args: [id] })
    if (lastUpdate === 0n) {
      await send(`createMarket ${label}`, { address: morpho, abi: morphoAbi, functionName: "createMarket", args: [params] })
      await send("mint USDC", { address: usdc, abi: testTokenAbi, functionName: "mint", args: [owner, liquidity] })
      await send("approve Morpho", { address: usdc, abi: testTokenAbi, functionName: "approve", args: [morpho, maxUint256] })
      await send(`supply ${label}`, { address: morpho, abi: morphoAbi, functionName: "supply", args: [params, liquidity, 0n, owner, "0x"] })
      const borrowed = (liquidity * BigInt(Math.round(utilization * 1e6))) / 1_000_000n
      if (borrowed > 0n) {
        // Collateral worth twice the borrow over the LLTV at the start price (priceWad: USDC per whole token, 1e18).
        const collateral = (2n * borrowed * 10n ** BigInt(collateralDecimals) * 10n ** 36n) / (10n ** 6n * priceWad * lltv)
        await send(`mint ${label} collateral`, { address: collateralToken, abi: testTokenAbi, functionName: "mint", args: [owner, collateral] })
        await send(`approve ${label} collateral`, { address: collateralToken, abi: testTokenAbi, functionName: "approve", args: [morpho, maxUint256] })
        await send(`supplyCollateral ${label}`, { address: morpho, abi: morphoAbi, functionName: "supplyCollateral", args: [params, collateral, owner, "0x"] })
        await send(`borrow ${label}`, { address: morpho, abi: morphoAbi, functionName: "borrow", args: [params, borrowed, 0n, owner, owner] })
      }
    }
    // Gas (issue 15): the adapter reads a registered market's params as code (one account) instead of five Morpho slots.
    const pointer = await publicClient.readContract({ address: morphoBlueAdapter, abi: morphoAdapterRegistryAbi, functionName: "paramsPointer", args: [id] })
    if (((await publicClient.getCode({ address: pointer })) ?? "0x") === "0x") {
      await send(`registerMarket ${label}`, { address: morphoBlueAdapter, abi: morphoAdapterRegistryAbi, functionName: "registerMarket", args: [id] })
    }
    return { id, params, oracle }
  }
  const wethMarket = await createMarket("weth", weth, 18, prices.weth ?? parseEther("3000"))
  const wbtcMarket = await createMarket("wbtc", wbtc, 8, prices.wbtc ?? parseEther("60000"))

  const createVault = async (label: string, asset: Address, name: string, symbol: string, seed: bigint) => {
    const vault = await deploy("yieldVault", `vault.${label}`, [asset, name, symbol])
    if ((await publicClient.readContract({ address: vault, abi: yieldVaultAbi, functionName: "totalSupply" })) === 0n) {
      await send(`mint ${label}`, { address: asset, abi: testTokenAbi, functionName: "mint", args: [owner, seed] })
      await send(`approve ${label}`, { address: asset, abi: testTokenAbi, functionName: "approve", args: [vault, seed] })
      await send(`seed ${label}`, { address: vault, abi: yieldVaultAbi, functionName: "deposit", args: [seed, owner] })
    }
    return vault
  }
  const usdcVault = await createVault("usdc", usdc, "Yield USDC", "yUSDC", parseUnits("1000", 6))
  const wethVault = await createVault("weth", weth, "Yield WETH", "yWETH", parseEther("1"))

  return {
    morpho,
    irm,
    morphoBlueAdapter,
    leverageModule,
    uniswap,
    swapAdapter,
    tokens: { usdc, weth, wbtc },
    markets: { weth: wethMarket, wbtc: wbtcMarket },
    vaults: { usdc: usdcVault, weth: wethVault },
  }
}

/**
 * The SDK deployment entry for a devnet: its EntryPoint and Safe contracts plus the deployed leverage stack.
 *
 * @returns A {@link LeverageDeployment} to put under the devnet's chain id.
 */
export function leverageDeploymentOf(addresses: DevnetAddresses, stack: LeverageStackAddresses): LeverageDeployment {
  return {
    entryPoint: addresses.entryPoint,
    leverageModule: stack.leverageModule,
    adapters: { morphoBlue: stack.morphoBlueAdapter },
    safe: {
      singleton: addresses.safeSingleton,
      proxyFactory: addresses.safeProxyFactory,
      moduleSetup: addresses.safeModuleSetup,
      multiSend: addresses.multiSend,
      multiSendCallOnly: addresses.multiSendCallOnly,
    },
  }
}
