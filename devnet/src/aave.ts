import { waitForReceipt } from "./receipt.js"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import {
  type Abi,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
  isHex,
  keccak256,
  maxUint256,
  parseAbi,
  parseEther,
  parseUnits,
  toHex,
  zeroAddress,
} from "viem"
import { aaveAdapterErrorsAbi } from "@levpilot/sdk/errors"
import { type Artifact, deployArtifact } from "./artifact.js"
import { ArtifactError, DeploymentError } from "./errors.js"
import { forgeOut, simOracleAbi, testTokenAbi } from "./leverage.js"

/** Root of the published `@aave/core-v3` package (1.19.3, Aave v3.0.2). */
export const aaveCorePackage = dirname(createRequire(import.meta.url).resolve("@aave/core-v3/package.json"))

/** The `@aave/core-v3` artifacts the stack deploys, relative to `artifacts/contracts/`. */
export const aaveArtifacts = {
  poolAddressesProvider: "protocol/configuration/PoolAddressesProvider.sol/PoolAddressesProvider.json",
  aclManager: "protocol/configuration/ACLManager.sol/ACLManager.json",
  pool: "protocol/pool/Pool.sol/Pool.json",
  poolConfigurator: "protocol/pool/PoolConfigurator.sol/PoolConfigurator.json",
  aaveOracle: "misc/AaveOracle.sol/AaveOracle.json",
  dataProvider: "misc/AaveProtocolDataProvider.sol/AaveProtocolDataProvider.json",
  aToken: "protocol/tokenization/AToken.sol/AToken.json",
  stableDebtToken: "protocol/tokenization/StableDebtToken.sol/StableDebtToken.json",
  variableDebtToken: "protocol/tokenization/VariableDebtToken.sol/VariableDebtToken.json",
  interestRateStrategy: "protocol/pool/DefaultReserveInterestRateStrategy.sol/DefaultReserveInterestRateStrategy.json",
} as const

/** Id of the "ETH correlated" e-mode category (WETH, wstETH). */
export const aaveEthEMode = 1

/** 0.05% on flash loans (Aave v3 Ethereum's FLASHLOAN_PREMIUM_TOTAL), in bps. */
export const aaveFlashLoanPremiumBps = 5n

/**
 * One reserve's listing: risk parameters in bps, caps in whole tokens (0 = none), e-mode category (0 = none), and the
 * variable-rate curve in whole percents (RAY on chain). The same numbers as `modules/test/utils/AaveFixture.sol`.
 */
export type AaveReserveParameters = {
  ltv: number
  liquidationThreshold: number
  liquidationBonus: number
  reserveFactor: number
  supplyCap: bigint
  borrowCap: bigint
  eModeCategory: number
  rates: { optimalUsage: number; base: number; slope1: number; slope2: number }
}

/** The devnet's reserves, close to Aave v3 Ethereum's parameters. */
export const aaveReserveParameters = {
  usdc: { ltv: 7700, liquidationThreshold: 8000, liquidationBonus: 10_450, reserveFactor: 1000, supplyCap: 50_000_000n, borrowCap: 40_000_000n, eModeCategory: 0, rates: { optimalUsage: 90, base: 0, slope1: 6, slope2: 60 } },
  weth: { ltv: 8050, liquidationThreshold: 8300, liquidationBonus: 10_500, reserveFactor: 1500, supplyCap: 50_000n, borrowCap: 40_000n, eModeCategory: aaveEthEMode, rates: { optimalUsage: 90, base: 0, slope1: 3, slope2: 80 } },
  wbtc: { ltv: 7300, liquidationThreshold: 7800, liquidationBonus: 10_500, reserveFactor: 2000, supplyCap: 3000n, borrowCap: 1000n, eModeCategory: 0, rates: { optimalUsage: 45, base: 0, slope1: 4, slope2: 300 } },
  wsteth: { ltv: 7850, liquidationThreshold: 8100, liquidationBonus: 10_600, reserveFactor: 1500, supplyCap: 100_000n, borrowCap: 5000n, eModeCategory: aaveEthEMode, rates: { optimalUsage: 45, base: 0, slope1: 5, slope2: 80 } },
} as const satisfies Record<string, AaveReserveParameters>

/** The "ETH correlated" category: LTV 93%, liquidation threshold 95%, bonus 1%. */
export const aaveEthEModeCategory = { ltv: 9300, liquidationThreshold: 9500, liquidationBonus: 10_100, label: "ETH correlated" } as const

/** Everything `deployAaveStack` deploys, by role. */
export type AaveStackAddresses = {
  poolAddressesProvider: Address
  aclManager: Address
  /** The Pool proxy (InitializableImmutableAdminUpgradeabilityProxy created by the provider). */
  pool: Address
  /** The Pool implementation, with its libraries linked. */
  poolImplementation: Address
  poolConfigurator: Address
  aaveOracle: Address
  dataProvider: Address
  /** BorrowLogic, BridgeLogic, EModeLogic, FlashLoanLogic, LiquidationLogic, PoolLogic, SupplyLogic, ConfiguratorLogic. */
  libraries: Record<string, Address>
  /** The leverage module's AaveV3Adapter for this pool (forge artifact). */
  adapter: Address
  tokens: { usdc: Address; weth: Address; wbtc: Address; wsteth: Address }
  /** Chainlink-style USD sources (SimOracle `latestAnswer`, 8 decimals) AaveOracle reads. */
  priceSources: { usdc: Address; weth: Address; wbtc: Address; wsteth: Address }
  /** Adapter market ids: (collateral, debt, e-mode category). */
  markets: { wethUsdc: Hex; wbtcUsdc: Hex; wstethWethEMode: Hex }
}

export type DeployAaveStackParameters = {
  publicClient: PublicClient
  /** Sends every deployment and set-up transaction; becomes the provider owner, ACL admin, pool / emergency / risk
   * admin and the lender that seeds each reserve. */
  deployer: WalletClient<Transport, Chain | undefined, Account>
  /** The devnet's test tokens (`deployLeverageStack().tokens`); wstETH is deployed here when absent. */
  tokens: { usdc: Address; weth: Address; wbtc: Address; wsteth?: Address | undefined }
  /** USD price sources of WETH and WBTC: the devnet's Morpho market SimOracles (their feed side is USD when USDC = $1). */
  priceSources: { weth: Address; wbtc: Address }
  /** Liquidity the deployer supplies to each reserve, in whole tokens; 10M USDC, 1,000 WETH, 100 WBTC, 1,000 wstETH by default. */
  liquidity?: Partial<Record<keyof typeof aaveReserveParameters, bigint>> | undefined
  /** forge `out/` directory (for the adapter, TestToken and SimOracle); `forgeOut` by default. */
  out?: string | undefined
}

export const poolAddressesProviderAbi = parseAbi([
  "function owner() view returns (address)",
  "function getPool() view returns (address)",
  "function getPoolConfigurator() view returns (address)",
  "function getPriceOracle() view returns (address)",
  "function getACLManager() view returns (address)",
  "function getPoolDataProvider() view returns (address)",
  "function setACLAdmin(address newAclAdmin)",
  "function setACLManager(address newAclManager)",
  "function setPoolImpl(address newPoolImpl)",
  "function setPoolConfiguratorImpl(address newPoolConfiguratorImpl)",
  "function setPriceOracle(address newPriceOracle)",
  "function setPoolDataProvider(address newDataProvider)",
])

export const aclManagerAbi = parseAbi([
  "function addPoolAdmin(address admin)",
  "function addEmergencyAdmin(address admin)",
  "function addRiskAdmin(address admin)",
  "function isPoolAdmin(address admin) view returns (bool)",
])

export const aavePoolAbi = parseAbi([
  "struct ReserveConfigurationMap { uint256 data; }",
  "struct ReserveData { ReserveConfigurationMap configuration; uint128 liquidityIndex; uint128 currentLiquidityRate; uint128 variableBorrowIndex; uint128 currentVariableBorrowRate; uint128 currentStableBorrowRate; uint40 lastUpdateTimestamp; uint16 id; address aTokenAddress; address stableDebtTokenAddress; address variableDebtTokenAddress; address interestRateStrategyAddress; uint128 accruedToTreasury; uint128 unbacked; uint128 isolationModeTotalDebt; }",
  "struct EModeCategory { uint16 ltv; uint16 liquidationThreshold; uint16 liquidationBonus; address priceSource; string label; }",
  "function supply(address asset, uint256 amount, address onBehalfOf, uint16 referralCode)",
  "function withdraw(address asset, uint256 amount, address to) returns (uint256)",
  "function borrow(address asset, uint256 amount, uint256 interestRateMode, uint16 referralCode, address onBehalfOf)",
  "function repay(address asset, uint256 amount, uint256 interestRateMode, address onBehalfOf) returns (uint256)",
  "function setUserEMode(uint8 categoryId)",
  "function getUserEMode(address user) view returns (uint256)",
  "function getUserAccountData(address user) view returns (uint256 totalCollateralBase, uint256 totalDebtBase, uint256 availableBorrowsBase, uint256 currentLiquidationThreshold, uint256 ltv, uint256 healthFactor)",
  "function getReserveData(address asset) view returns (ReserveData)",
  "function getReservesList() view returns (address[])",
  "function getEModeCategoryData(uint8 id) view returns (EModeCategory)",
  "function FLASHLOAN_PREMIUM_TOTAL() view returns (uint128)",
])

export const poolConfiguratorAbi = parseAbi([
  "struct InitReserveInput { address aTokenImpl; address stableDebtTokenImpl; address variableDebtTokenImpl; uint8 underlyingAssetDecimals; address interestRateStrategyAddress; address underlyingAsset; address treasury; address incentivesController; string aTokenName; string aTokenSymbol; string variableDebtTokenName; string variableDebtTokenSymbol; string stableDebtTokenName; string stableDebtTokenSymbol; bytes params; }",
  "function initReserves(InitReserveInput[] input)",
  "function configureReserveAsCollateral(address asset, uint256 ltv, uint256 liquidationThreshold, uint256 liquidationBonus)",
  "function setReserveBorrowing(address asset, bool enabled)",
  "function setReserveFlashLoaning(address asset, bool enabled)",
  "function setReserveFactor(address asset, uint256 newReserveFactor)",
  "function setSupplyCap(address asset, uint256 newSupplyCap)",
  "function setBorrowCap(address asset, uint256 newBorrowCap)",
  "function setEModeCategory(uint8 categoryId, uint16 ltv, uint16 liquidationThreshold, uint16 liquidationBonus, address oracle, string label)",
  "function setAssetEModeCategory(address asset, uint8 newCategoryId)",
  "function setReserveFreeze(address asset, bool freeze)",
  "function setReservePause(address asset, bool paused)",
  "function updateFlashloanPremiumTotal(uint128 newFlashloanPremiumTotal)",
])

export const aaveOracleAbi = parseAbi([
  "function setAssetSources(address[] assets, address[] sources)",
  "function getSourceOfAsset(address asset) view returns (address)",
  "function getAssetPrice(address asset) view returns (uint256)",
])

export const aaveDataProviderAbi = parseAbi([
  "function getReserveConfigurationData(address asset) view returns (uint256 decimals, uint256 ltv, uint256 liquidationThreshold, uint256 liquidationBonus, uint256 reserveFactor, bool usageAsCollateralEnabled, bool borrowingEnabled, bool stableBorrowRateEnabled, bool isActive, bool isFrozen)",
  "function getReserveCaps(address asset) view returns (uint256 borrowCap, uint256 supplyCap)",
  "function getReserveEModeCategory(address asset) view returns (uint256)",
  "function getFlashLoanEnabled(address asset) view returns (bool)",
])

/** The leverage module's AaveV3Adapter (see `modules/src/interfaces/IAaveV3Adapter.sol`). */
export const aaveV3AdapterAbi = [
  ...parseAbi([
    "struct MarketState { address loanToken; address collateralToken; uint256 collateral; uint256 debt; uint256 price; uint256 lltv; uint256 health; uint256 repayable; int256 equity; }",
    "function POOL() view returns (address)",
    "function marketId(address collateral, address debt, uint8 eModeCategory) view returns (bytes32)",
    "function marketParams(bytes32 market) view returns (address collateral, address debt, uint8 eModeCategory)",
    "function isMarket(bytes32 market) view returns (bool)",
    "function marketState(bytes32 market, address account) view returns (MarketState)",
    "function health(bytes32 market, address account) view returns (uint256)",
    "function liquidationIncentiveFactor(bytes32 market) view returns (uint256)",
  ]),
  ...aaveAdapterErrorsAbi,
] as const

/** A Hardhat artifact of `@aave/core-v3`: creation code with `__$<hash>$__` placeholders and where they are. */
type AaveArtifact = Artifact & { linkReferences: Record<string, Record<string, { start: number; length: number }[]>> }

/**
 * Reads an `@aave/core-v3` artifact.
 *
 * @param path - Path under `artifacts/`, e.g. `contracts/protocol/pool/Pool.sol/Pool.json`.
 * @returns ABI, creation code (placeholders unlinked) and the `linkReferences` map.
 * @throws ArtifactError when the file is missing or has no creation code.
 */
export function readAaveArtifact(path: string): AaveArtifact {
  const file = join(aaveCorePackage, "artifacts", path)
  let json: { abi?: unknown; bytecode?: unknown; contractName?: unknown; linkReferences?: unknown }
  try {
    json = JSON.parse(readFileSync(file, "utf8"))
  } catch (error) {
    throw new ArtifactError("Cannot read the Aave artifact.", { artifact: file, cause: error as Error })
  }
  if (!Array.isArray(json.abi) || typeof json.bytecode !== "string" || json.bytecode.length <= 2)
    throw new ArtifactError("The Aave artifact has no ABI or no creation bytecode.", { artifact: file })
  return {
    abi: json.abi as Abi,
    bytecode: json.bytecode as Hex,
    contractName: typeof json.contractName === "string" ? json.contractName : path,
    path: file,
    linkReferences: (json.linkReferences ?? {}) as AaveArtifact["linkReferences"],
  }
}

const saltOf = (name: string): Hex => keccak256(toHex(`levpilot.devnet.aave.${name}`))

type Deployer = Pick<DeployAaveStackParameters, "publicClient" | "deployer">

/**
 * Deploys an `@aave/core-v3` artifact through CREATE2 (idempotent), first deploying and linking every library its
 * `linkReferences` name: each placeholder's byte range gets the library's address.
 *
 * @param libraries - Cache of library addresses by name, filled as libraries are deployed.
 * @returns The deployed address.
 */
export async function deployAaveArtifact(
  { publicClient, deployer }: Deployer,
  path: string,
  args: readonly unknown[],
  libraries: Record<string, Address>,
): Promise<Address> {
  const artifact = readAaveArtifact(path)
  let code = artifact.bytecode.slice(2)
  for (const [file, names] of Object.entries(artifact.linkReferences)) {
    for (const [name, ranges] of Object.entries(names)) {
      const library = (libraries[name] ??= await deployAaveArtifact({ publicClient, deployer }, join(file, `${name}.json`), [], libraries))
      const address = library.slice(2).toLowerCase()
      for (const { start, length } of ranges) {
        if (code.slice(start * 2, start * 2 + 3) !== "__$" || length !== 20)
          throw new ArtifactError(`No library placeholder for ${name} at byte ${start}.`, { artifact: artifact.path ?? path })
        code = code.slice(0, start * 2) + address + code.slice((start + length) * 2)
      }
    }
  }
  if (!isHex(`0x${code}`)) throw new ArtifactError("Unlinked placeholders remain in the Aave artifact.", { artifact: artifact.path ?? path })
  const deployment = await deployArtifact({
    artifact: { abi: artifact.abi, bytecode: `0x${code}`, contractName: artifact.contractName },
    args,
    salt: saltOf(path),
    publicClient,
    walletClient: deployer,
  })
  return deployment.wait()
}

/**
 * Deploys the real Aave v3 protocol (`@aave/core-v3@1.19.3`) on a devnet, as `modules/test/utils/AaveFixture.sol` does
 * in forge: PoolAddressesProvider, ACLManager, the Pool (its seven logic libraries linked) and PoolConfigurator
 * (ConfiguratorLogic) behind the provider's proxies, AaveOracle on the devnet's SimOracles (USD, 8 decimals),
 * AaveProtocolDataProvider, the token implementations, and the USDC / WETH / WBTC / wstETH reserves (one
 * DefaultReserveInterestRateStrategy each; {@link aaveReserveParameters}) with the "ETH correlated" e-mode category, a
 * 0.05% flash-loan premium and the deployer's liquidity in each reserve; then the leverage module's AaveV3Adapter.
 * Idempotent: each step is skipped when the chain already has it.
 *
 * @param parameters - {@link DeployAaveStackParameters}
 * @returns The typed address map {@link AaveStackAddresses}.
 * @throws DeploymentError when a set-up transaction reverts.
 * @example
 * const stack = await deployLeverageStack({ publicClient, deployer, entryPoint: devnet.addresses.entryPoint })
 * const aave = await deployAaveStack({
 *   publicClient,
 *   deployer,
 *   tokens: stack.tokens,
 *   priceSources: { weth: stack.markets.weth.oracle, wbtc: stack.markets.wbtc.oracle },
 * })
 */
export async function deployAaveStack(parameters: DeployAaveStackParameters): Promise<AaveStackAddresses> {
  const { publicClient, deployer, out = forgeOut } = parameters
  const admin = deployer.account.address
  const libraries: Record<string, Address> = {}
  const aave = (name: keyof typeof aaveArtifacts, args: readonly unknown[] = []) =>
    deployAaveArtifact({ publicClient, deployer }, join("contracts", aaveArtifacts[name]), args, libraries)
  const forge = async (name: string, label: string, args: readonly unknown[]) =>
    (await deployArtifact({ artifact: join(out, `${name}.sol/${name}.json`), args, salt: saltOf(label), publicClient, walletClient: deployer })).wait()
  const send = async (label: string, request: { address: Address; abi: Abi; functionName: string; args: readonly unknown[] }) => {
    const hash = await deployer.writeContract({ ...request, chain: deployer.chain, gas: 8_000_000n } as Parameters<typeof deployer.writeContract>[0])
    const receipt = await waitForReceipt(publicClient, { hash })
    if (receipt.status !== "success")
      throw new DeploymentError(`Aave set-up transaction "${label}" reverted.`, { contract: request.address, metaMessages: [`Transaction: ${hash}`] })
  }
  const read = <const abi extends Abi>(address: Address, abi: abi, functionName: string, args: readonly unknown[] = []) =>
    publicClient.readContract({ address, abi, functionName, args } as Parameters<typeof publicClient.readContract>[0]) as Promise<unknown>

  const provider = await aave("poolAddressesProvider", ["levpilot devnet", admin])
  const providerCall = (functionName: string, args: readonly unknown[]) => send(functionName, { address: provider, abi: poolAddressesProviderAbi, functionName, args })

  if ((await read(provider, poolAddressesProviderAbi, "getACLManager")) === zeroAddress) {
    await providerCall("setACLAdmin", [admin])
    const acl = await aave("aclManager", [provider])
    await providerCall("setACLManager", [acl])
    for (const role of ["addPoolAdmin", "addEmergencyAdmin", "addRiskAdmin"])
      await send(role, { address: acl, abi: aclManagerAbi, functionName: role, args: [admin] })
  }
  const aclManager = (await read(provider, poolAddressesProviderAbi, "getACLManager")) as Address

  // The Pool implementation is deployed (and its libraries) even when the proxy exists, to know every address.
  const poolImplementation = await aave("pool", [provider])
  if ((await read(provider, poolAddressesProviderAbi, "getPool")) === zeroAddress) await providerCall("setPoolImpl", [poolImplementation])
  const pool = (await read(provider, poolAddressesProviderAbi, "getPool")) as Address
  const configuratorImplementation = await aave("poolConfigurator")
  if ((await read(provider, poolAddressesProviderAbi, "getPoolConfigurator")) === zeroAddress)
    await providerCall("setPoolConfiguratorImpl", [configuratorImplementation])
  const poolConfigurator = (await read(provider, poolAddressesProviderAbi, "getPoolConfigurator")) as Address
  const configure = (functionName: string, args: readonly unknown[]) => send(functionName, { address: poolConfigurator, abi: poolConfiguratorAbi, functionName, args })

  const aaveOracle = await aave("aaveOracle", [provider, [], [], zeroAddress, zeroAddress, 100_000_000n])
  if ((await read(provider, poolAddressesProviderAbi, "getPriceOracle")) === zeroAddress) await providerCall("setPriceOracle", [aaveOracle])
  const dataProvider = await aave("dataProvider", [provider])
  if ((await read(provider, poolAddressesProviderAbi, "getPoolDataProvider")) === zeroAddress) await providerCall("setPoolDataProvider", [dataProvider])
  const aTokenImpl = await aave("aToken", [pool])
  const stableDebtImpl = await aave("stableDebtToken", [pool])
  const variableDebtImpl = await aave("variableDebtToken", [pool])

  if (BigInt(await read(pool, aavePoolAbi, "FLASHLOAN_PREMIUM_TOTAL") as bigint) !== aaveFlashLoanPremiumBps)
    await configure("updateFlashloanPremiumTotal", [aaveFlashLoanPremiumBps])
  const category = (await read(pool, aavePoolAbi, "getEModeCategoryData", [aaveEthEMode])) as { liquidationThreshold: number }
  if (category.liquidationThreshold === 0) {
    const { ltv, liquidationThreshold, liquidationBonus, label } = aaveEthEModeCategory
    await configure("setEModeCategory", [aaveEthEMode, ltv, liquidationThreshold, liquidationBonus, zeroAddress, label])
  }

  const usdcSource = await forge("SimOracle", "usdcFeed", [6, 6, 8])
  if ((await read(usdcSource, parseAbi(["function feedAnswer() view returns (int256)"]), "feedAnswer")) === 0n)
    await send("USDC price", { address: usdcSource, abi: simOracleAbi, functionName: "setPrice", args: [parseEther("1")] })
  const wsteth = parameters.tokens.wsteth ?? (await forge("TestToken", "wsteth", ["Wrapped stETH", "wstETH", 18]))
  const wstethSource = await forge("SimOracle", "wstethFeed", [6, 18, 8])
  if ((await read(wstethSource, parseAbi(["function feedAnswer() view returns (int256)"]), "feedAnswer")) === 0n)
    await send("wstETH price", { address: wstethSource, abi: simOracleAbi, functionName: "setPrice", args: [parseEther("3500")] })

  const tokens = { usdc: parameters.tokens.usdc, weth: parameters.tokens.weth, wbtc: parameters.tokens.wbtc, wsteth }
  const priceSources = { usdc: usdcSource, weth: parameters.priceSources.weth, wbtc: parameters.priceSources.wbtc, wsteth: wstethSource }
  const liquidity = { usdc: 10_000_000n, weth: 1000n, wbtc: 100n, wsteth: 1000n, ...parameters.liquidity }

  for (const key of ["usdc", "weth", "wbtc", "wsteth"] as const) {
    const asset = tokens[key]
    const reserve = (await read(pool, aavePoolAbi, "getReserveData", [asset])) as { aTokenAddress: Address }
    if (reserve.aTokenAddress !== zeroAddress) continue
    const p: AaveReserveParameters = aaveReserveParameters[key]
    const ray = (percent: number) => BigInt(percent) * 10n ** 25n
    const strategy = await deployAaveArtifact(
      { publicClient, deployer },
      join("contracts", aaveArtifacts.interestRateStrategy),
      [provider, ray(p.rates.optimalUsage), ray(p.rates.base), ray(p.rates.slope1), ray(p.rates.slope2), 0n, 0n, 0n, 0n, 0n],
      libraries,
    )
    const decimals = Number(await read(asset, testTokenAbi, "decimals"))
    const symbol = (await read(asset, parseAbi(["function symbol() view returns (string)"]), "symbol")) as string
    await configure("initReserves", [
      [
        {
          aTokenImpl,
          stableDebtTokenImpl: stableDebtImpl,
          variableDebtTokenImpl: variableDebtImpl,
          underlyingAssetDecimals: decimals,
          interestRateStrategyAddress: strategy,
          underlyingAsset: asset,
          treasury: admin,
          incentivesController: zeroAddress,
          aTokenName: `Aave ${symbol}`,
          aTokenSymbol: `a${symbol}`,
          variableDebtTokenName: `Aave variable debt ${symbol}`,
          variableDebtTokenSymbol: `variableDebt${symbol}`,
          stableDebtTokenName: `Aave stable debt ${symbol}`,
          stableDebtTokenSymbol: `stableDebt${symbol}`,
          params: "0x",
        },
      ],
    ])
    await send(`price source ${symbol}`, { address: aaveOracle, abi: aaveOracleAbi, functionName: "setAssetSources", args: [[asset], [priceSources[key]]] })
    await configure("configureReserveAsCollateral", [asset, p.ltv, p.liquidationThreshold, p.liquidationBonus])
    await configure("setReserveBorrowing", [asset, true])
    await configure("setReserveFlashLoaning", [asset, true])
    await configure("setReserveFactor", [asset, p.reserveFactor])
    await configure("setSupplyCap", [asset, p.supplyCap])
    await configure("setBorrowCap", [asset, p.borrowCap])
    if (p.eModeCategory !== 0) await configure("setAssetEModeCategory", [asset, p.eModeCategory])
    const amount = parseUnits(liquidity[key].toString(), decimals)
    await send(`mint ${symbol}`, { address: asset, abi: testTokenAbi, functionName: "mint", args: [admin, amount] })
    await send(`approve ${symbol}`, { address: asset, abi: testTokenAbi, functionName: "approve", args: [pool, maxUint256] })
    await send(`supply ${symbol}`, { address: pool, abi: aavePoolAbi, functionName: "supply", args: [asset, amount, admin, 0] })
  }

  const adapter = await forge("AaveV3Adapter", "adapter", [pool])
  const marketId = async (collateral: Address, debt: Address, eMode: number) => (await read(adapter, aaveV3AdapterAbi, "marketId", [collateral, debt, eMode])) as Hex
  return {
    poolAddressesProvider: provider,
    aclManager,
    pool,
    poolImplementation,
    poolConfigurator,
    aaveOracle,
    dataProvider,
    libraries,
    adapter,
    tokens,
    priceSources,
    markets: {
      wethUsdc: await marketId(tokens.weth, tokens.usdc, 0),
      wbtcUsdc: await marketId(tokens.wbtc, tokens.usdc, 0),
      wstethWethEMode: await marketId(tokens.wsteth, tokens.weth, aaveEthEMode),
    },
  }
}

export type DeployCrossVenueModuleParameters = {
  publicClient: PublicClient
  deployer: WalletClient<Transport, Chain | undefined, Account>
  /** EntryPoint v0.7 the module accepts. */
  entryPoint: Address
  /** The Morpho Blue stack (`deployLeverageStack`): its MorphoBlueAdapter and swap adapter. */
  stack: { morphoBlueAdapter: Address; swapAdapter: Address }
  /** The Aave stack (`deployAaveStack`): its AaveV3Adapter. */
  aave: { adapter: Address }
  /** forge `out/` directory; `forgeOut` by default. */
  out?: string | undefined
}

/**
 * Deploys a LeverageModule whose venue adapters (fixed at deployment) are the devnet's MorphoBlueAdapter and
 * AaveV3Adapter, with the devnet's swap adapter: one module that manages a Safe's Morpho Blue markets and its Aave v3
 * account as sub-accounts. CREATE2 with its own salt: a second call on the same chain sends nothing.
 *
 * @returns The module's address (put it in `LeverageDeployment.leverageModule`, with `adapters.aaveV3 = aave.adapter`).
 */
export async function deployCrossVenueModule(parameters: DeployCrossVenueModuleParameters): Promise<Address> {
  const { publicClient, deployer, entryPoint, stack, aave, out = forgeOut } = parameters
  const deployment = await deployArtifact({
    artifact: join(out, "LeverageModule.sol/LeverageModule.json"),
    args: [entryPoint, [stack.morphoBlueAdapter, aave.adapter], stack.swapAdapter],
    salt: saltOf("crossVenueModule"),
    publicClient,
    walletClient: deployer,
  })
  return deployment.wait()
}
