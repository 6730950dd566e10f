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
  BaseError,
  erc20Abi,
  keccak256,
  maxUint256,
  parseAbi,
  parseUnits,
  toHex,
  zeroAddress,
} from "viem"
import { deployArtifact } from "./artifact.js"
import { DeploymentError } from "./errors.js"
import { type LeverageStackAddresses, forgeOut, simOracleAbi, testTokenAbi } from "./leverage.js"

/** The published Uniswap v3 artifacts the devnet deploys (paths inside `node_modules`). */
export const uniswapArtifacts = {
  factory: "@uniswap/v3-core/artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json",
  swapRouter: "@uniswap/v3-periphery/artifacts/contracts/SwapRouter.sol/SwapRouter.json",
  quoterV2: "@uniswap/v3-periphery/artifacts/contracts/lens/QuoterV2.sol/QuoterV2.json",
  positionManager: "@uniswap/v3-periphery/artifacts/contracts/NonfungiblePositionManager.sol/NonfungiblePositionManager.json",
} as const

/** Fee tiers of the devnet pools, in hundredths of a basis point (Uniswap's unit: 500 = 0.05%). */
export const feeTiers = { low: 500, medium: 3000 } as const

/** Q64.96 scale of Uniswap's sqrtPriceX96 squared, and Morpho's oracle price scale. */
const Q192 = 1n << 192n
const oraclePriceScale = 10n ** 36n

export const uniswapFactoryAbi = parseAbi([
  "function getPool(address tokenA, address tokenB, uint24 fee) view returns (address)",
  "function owner() view returns (address)",
])

export const uniswapPoolAbi = parseAbi([
  "function slot0() view returns (uint160 sqrtPriceX96, int24 tick, uint16 observationIndex, uint16 observationCardinality, uint16 observationCardinalityNext, uint8 feeProtocol, bool unlocked)",
  "function liquidity() view returns (uint128)",
  "function token0() view returns (address)",
  "function token1() view returns (address)",
  "function fee() view returns (uint24)",
  "function tickSpacing() view returns (int24)",
])

export const swapRouterAbi = parseAbi([
  "struct ExactInputSingleParams { address tokenIn; address tokenOut; uint24 fee; address recipient; uint256 deadline; uint256 amountIn; uint256 amountOutMinimum; uint160 sqrtPriceLimitX96; }",
  "function exactInputSingle(ExactInputSingleParams params) payable returns (uint256 amountOut)",
  "function factory() view returns (address)",
])

export const positionManagerAbi = parseAbi([
  "struct MintParams { address token0; address token1; uint24 fee; int24 tickLower; int24 tickUpper; uint256 amount0Desired; uint256 amount1Desired; uint256 amount0Min; uint256 amount1Min; address recipient; uint256 deadline; }",
  "function createAndInitializePoolIfNecessary(address token0, address token1, uint24 fee, uint160 sqrtPriceX96) payable returns (address pool)",
  "function mint(MintParams params) payable returns (uint256 tokenId, uint128 liquidity, uint256 amount0, uint256 amount1)",
])

/** One liquidity position of a spread: `halfWidth` ticks either side of the price (rounded out to the tick spacing),
 * holding `shareBps` of the pool's depth. */
export type LiquidityRange = { halfWidth: number; shareBps: number }

/** The spread the forge `UniswapFixture` uses too: 10% of the depth within ±0.5%, 20% within ±2%, 30% within ±10%,
 * 40% from half to twice the price (±7,000 ticks). */
export const defaultSpread: readonly LiquidityRange[] = [
  { halfWidth: 50, shareBps: 1_000 },
  { halfWidth: 200, shareBps: 2_000 },
  { halfWidth: 1_000, shareBps: 3_000 },
  { halfWidth: 7_000, shareBps: 4_000 },
]

export type UniswapAddresses = {
  /** UniswapV3Factory 1.0.1; its owner is the CREATE2 deployer proxy, so no fee tier or protocol fee can change. */
  factory: Address
  swapRouter: Address
  quoterV2: Address
  positionManager: Address
}

export type DevnetPool = {
  address: Address
  collateral: Address
  loan: Address
  fee: number
  /** Morpho oracle whose price the pool was created at and that `alignPoolToPrice` follows. */
  oracle: Address
}

export type UniswapStackAddresses = UniswapAddresses & {
  /** The module's UniswapV3SwapAdapter (forge artifact): fee tiers 500 and 3000, USDC as the only hub. */
  swapAdapter: Address
  pools: { wethLow: DevnetPool; wethMedium: DevnetPool; wbtcLow: DevnetPool; wbtcMedium: DevnetPool }
}

export type PoolPriceErrorType = PoolPriceError & { name: "PoolPriceError" }
/** A pool cannot be put at (or did not reach) an oracle price. */
export class PoolPriceError extends BaseError {
  constructor({ pool, price, target, reached }: { pool?: Address; price?: bigint; target?: bigint; reached?: bigint }) {
    super(reached === undefined ? "The oracle price must be positive." : "The arbitrage swap did not move the pool onto the oracle price.", {
      metaMessages: [
        ...(pool ? [`Pool: ${pool}`] : []),
        ...(price !== undefined ? [`Oracle price (1e36 scale): ${price}`] : []),
        ...(target !== undefined ? [`Target sqrtPriceX96: ${target}`, `Reached: ${reached}`] : []),
        "This could arise when:",
        "- the oracle reports zero, or a price so far from the pool that the router's limit is out of range;",
        "- another transaction in the same block moved the pool after the arbitrage.",
      ],
      name: "PoolPriceError",
    })
  }
}

type Wallet = WalletClient<Transport, Chain | undefined, Account>

const saltOf = (name: string): Hex => keccak256(toHex(`levpilot.devnet.uniswap.${name}`))

async function send(
  publicClient: PublicClient,
  wallet: Wallet,
  label: string,
  request: { address: Address; abi: Abi; functionName: string; args: readonly unknown[] },
  gas = 3_000_000n,
): Promise<void> {
  // Fixed gas, as in leverage.ts: an estimate made in one second can fall short in the next block (Uniswap's oracle
  // observations cost more once time has passed), and the transaction then runs out of gas.
  const hash = await wallet.writeContract({ ...request, chain: wallet.chain, gas } as Parameters<Wallet["writeContract"]>[0])
  const receipt = await waitForReceipt(publicClient, { hash })
  if (receipt.status !== "success")
    throw new DeploymentError(`Uniswap set-up transaction "${label}" reverted.`, { contract: request.address, metaMessages: [`Transaction: ${hash}`] })
}

/**
 * sqrtPriceX96 of a pool whose price equals a Morpho oracle price: token1 per token0 in base units, as a Q64.96
 * square root, rounded down (one rounding only: floor(sqrt(floor(x))) = floor(sqrt(x))). The forge `UniswapFixture`
 * computes the same value with OpenZeppelin's `Math.mulDiv` and `Math.sqrt`.
 *
 * @param price - Morpho oracle price: loan base units per collateral base unit, scaled by 1e36.
 * @param collateralIsToken0 - Whether the collateral token sorts first in the pool.
 * @returns The pool's sqrtPriceX96.
 * @example
 * sqrtPriceX96FromOraclePrice(3000n * 10n ** 24n, false) // WETH at 3,000 USDC, USDC is token0
 */
export function sqrtPriceX96FromOraclePrice(price: bigint, collateralIsToken0: boolean): bigint {
  if (price <= 0n) throw new PoolPriceError({ price })
  return isqrt(collateralIsToken0 ? (price * Q192) / oraclePriceScale : (oraclePriceScale * Q192) / price)
}

/**
 * A pool's sqrtPriceX96 as a Morpho oracle price of its collateral token (1e36-scaled loan base units per
 * collateral base unit), rounded down.
 *
 * @returns The 1e36-scaled price.
 */
export function oraclePriceFromSqrtPriceX96(sqrtPriceX96: bigint, collateralIsToken0: boolean): bigint {
  const squared = sqrtPriceX96 * sqrtPriceX96
  return collateralIsToken0 ? (squared * oraclePriceScale) / Q192 : (Q192 * oraclePriceScale) / squared
}

/** Integer square root, rounded down (Newton's method on bigints). */
function isqrt(value: bigint): bigint {
  if (value < 2n) return value
  let x = 1n << BigInt((value.toString(2).length + 1) >> 1)
  for (;;) {
    const y = (x + value / x) >> 1n
    if (y >= x) return x
    x = y
  }
}

const floorToSpacing = (tick: number, spacing: number) => Math.floor(tick / spacing) * spacing

export type DeployUniswapParameters = {
  publicClient: PublicClient
  /** Sends every deployment (through the CREATE2 deployer). */
  deployer: Wallet
  /** WETH9 of the periphery's ETH paths; the devnet's WETH test token (nothing here sends ETH). */
  weth9: Address
}

/**
 * Deploys Uniswap v3 from its published npm artifacts through CREATE2 (idempotent): UniswapV3Factory (fee tiers 500,
 * 3000 and 10000), SwapRouter, QuoterV2 and NonfungiblePositionManager (no token descriptor: tokenURI is never used).
 *
 * @param parameters - {@link DeployUniswapParameters}
 * @returns The typed address map {@link UniswapAddresses}.
 */
export async function deployUniswap(parameters: DeployUniswapParameters): Promise<UniswapAddresses> {
  const { publicClient, deployer, weth9 } = parameters
  const deploy = async (name: keyof typeof uniswapArtifacts, args: readonly unknown[]) =>
    (await deployArtifact({ artifact: uniswapArtifacts[name], args, salt: saltOf(name), publicClient, walletClient: deployer })).wait()
  const factory = await deploy("factory", [])
  const swapRouter = await deploy("swapRouter", [factory, weth9])
  const quoterV2 = await deploy("quoterV2", [factory, weth9])
  const positionManager = await deploy("positionManager", [factory, weth9, zeroAddress])
  return { factory, swapRouter, quoterV2, positionManager }
}

export type CreatePoolAtOraclePriceParameters = {
  publicClient: PublicClient
  /** Creates the pool and provides its liquidity; must be able to mint the test tokens (they mint openly). */
  liquidityProvider: Wallet
  uniswap: UniswapAddresses
  collateral: Address
  loan: Address
  /** Morpho oracle of the pair: the pool starts at its `price()`. */
  oracle: Address
  /** Fee tier, e.g. {@link feeTiers}.low. */
  fee: number
  /** Value spread over the ranges, in loan-token base units (half in each token at the oracle price). */
  depth: bigint
  ranges?: readonly LiquidityRange[] | undefined
}

/**
 * Creates a `collateral`/`loan` pool through the position manager, initialised exactly at the oracle's price
 * ({@link sqrtPriceX96FromOraclePrice}), and mints `depth` of liquidity spread over `ranges` around it, so depth is
 * finite and price impact grows with size. Idempotent: a pool that already has liquidity is left as it is.
 *
 * @param parameters - {@link CreatePoolAtOraclePriceParameters}
 * @returns The pool, as a {@link DevnetPool}.
 */
export async function createPoolAtOraclePrice(parameters: CreatePoolAtOraclePriceParameters): Promise<DevnetPool> {
  const { publicClient, liquidityProvider: lp, uniswap, collateral, loan, oracle, fee, depth, ranges = defaultSpread } = parameters
  const [token0, token1] = BigInt(collateral) < BigInt(loan) ? [collateral, loan] : [loan, collateral]
  const price = await publicClient.readContract({ address: oracle, abi: simOracleAbi, functionName: "price" })
  const sqrtPriceX96 = sqrtPriceX96FromOraclePrice(price, token0 === collateral)
  await send(publicClient, lp, "createAndInitializePoolIfNecessary", {
    address: uniswap.positionManager,
    abi: positionManagerAbi,
    functionName: "createAndInitializePoolIfNecessary",
    args: [token0, token1, fee, sqrtPriceX96],
  }, 8_000_000n) // deploys a UniswapV3Pool (about 5M gas)
  const address = await publicClient.readContract({ address: uniswap.factory, abi: uniswapFactoryAbi, functionName: "getPool", args: [token0, token1, fee] })
  const pool: DevnetPool = { address, collateral, loan, fee, oracle }
  if ((await publicClient.readContract({ address, abi: uniswapPoolAbi, functionName: "liquidity" })) > 0n) return pool

  const [[, tick], spacing] = await Promise.all([
    publicClient.readContract({ address, abi: uniswapPoolAbi, functionName: "slot0" }),
    publicClient.readContract({ address, abi: uniswapPoolAbi, functionName: "tickSpacing" }),
  ])
  let total0 = 0n
  let total1 = 0n
  const positions = ranges.map(({ halfWidth, shareBps }) => {
    const loanAmount = (depth * BigInt(shareBps)) / 20_000n
    const collateralAmount = (loanAmount * oraclePriceScale) / price
    const [amount0, amount1] = token0 === collateral ? [collateralAmount, loanAmount] : [loanAmount, collateralAmount]
    total0 += amount0
    total1 += amount1
    return { halfWidth, amount0, amount1 }
  })
  for (const [token, amount] of [[token0, total0], [token1, total1]] as const) {
    await send(publicClient, lp, "mint", { address: token, abi: testTokenAbi, functionName: "mint", args: [lp.account.address, amount] })
    await send(publicClient, lp, "approve", { address: token, abi: testTokenAbi, functionName: "approve", args: [uniswap.positionManager, amount] })
  }
  const deadline = (await publicClient.getBlock()).timestamp + 3_600n
  for (const { halfWidth, amount0, amount1 } of positions) {
    await send(publicClient, lp, `mint range ±${halfWidth}`, {
      address: uniswap.positionManager,
      abi: positionManagerAbi,
      functionName: "mint",
      args: [
        {
          token0,
          token1,
          fee,
          tickLower: floorToSpacing(tick - halfWidth, spacing),
          tickUpper: floorToSpacing(tick + halfWidth, spacing) + spacing,
          amount0Desired: amount0,
          amount1Desired: amount1,
          amount0Min: 0n,
          amount1Min: 0n,
          recipient: lp.account.address,
          deadline,
        },
      ],
    })
  }
  return pool
}

export type DeployUniswapStackParameters = {
  publicClient: PublicClient
  /** Deploys, creates the pools and provides their liquidity. */
  deployer: Wallet
  /** The leverage stack whose tokens and oracles the pools follow (`deployLeverageStack`). */
  stack: LeverageStackAddresses
  /** Depth of each pool in USDC base units; 20M / 5M (WETH 0.05% / 0.3%) and 10M / 2M (WBTC) by default. */
  depth?: Partial<Record<keyof UniswapStackAddresses["pools"], bigint>> | undefined
  /** forge `out/` directory (for the UniswapV3SwapAdapter artifact). */
  out?: string | undefined
}

/**
 * Uniswap v3 for the devnet's markets: {@link deployUniswap}, then WETH/USDC and WBTC/USDC pools at the 0.05% and 0.3%
 * tiers created at the oracle prices with spread liquidity ({@link createPoolAtOraclePrice}), and the module's
 * UniswapV3SwapAdapter (fee tiers 500 and 3000, USDC hub) from `out/`. Idempotent.
 *
 * @param parameters - {@link DeployUniswapStackParameters}
 * @returns The typed address map {@link UniswapStackAddresses}.
 * @example
 * const stack = await deployLeverageStack({ publicClient, deployer, entryPoint })
 * const uniswap = await deployUniswapStack({ publicClient, deployer, stack })
 */
export async function deployUniswapStack(parameters: DeployUniswapStackParameters): Promise<UniswapStackAddresses> {
  const { publicClient, deployer, stack, depth = {}, out = forgeOut } = parameters
  const { usdc, weth, wbtc } = stack.tokens
  const uniswap = await deployUniswap({ publicClient, deployer, weth9: weth })
  const pool = (collateral: Address, oracle: Address, fee: number, poolDepth: bigint) =>
    createPoolAtOraclePrice({ publicClient, liquidityProvider: deployer, uniswap, collateral, loan: usdc, oracle, fee, depth: poolDepth })
  const pools = {
    wethLow: await pool(weth, stack.markets.weth.oracle, feeTiers.low, depth.wethLow ?? parseUnits("20000000", 6)),
    wethMedium: await pool(weth, stack.markets.weth.oracle, feeTiers.medium, depth.wethMedium ?? parseUnits("5000000", 6)),
    wbtcLow: await pool(wbtc, stack.markets.wbtc.oracle, feeTiers.low, depth.wbtcLow ?? parseUnits("10000000", 6)),
    wbtcMedium: await pool(wbtc, stack.markets.wbtc.oracle, feeTiers.medium, depth.wbtcMedium ?? parseUnits("2000000", 6)),
  }
  const swapAdapter = await deploySwapAdapter({ publicClient, deployer, uniswap, hub: usdc, out })
  return { ...uniswap, swapAdapter, pools }
}

export type DeploySwapAdapterParameters = {
  publicClient: PublicClient
  deployer: Wallet
  uniswap: UniswapAddresses
  /** The one hub token two-pool routes may go through (the loan token, USDC, on the devnet). */
  hub: Address
  /** forge `out/` directory (for the UniswapV3SwapAdapter artifact). */
  out?: string | undefined
}

/**
 * Deploys the module's UniswapV3SwapAdapter from `out/` through CREATE2 (idempotent): the real SwapRouter, fee tiers
 * 500 and 3000, `hub` as the only hub. The LeverageModule is deployed with it (`deployLeverageStack`).
 *
 * @param parameters - {@link DeploySwapAdapterParameters}
 * @returns The adapter's address.
 */
export async function deploySwapAdapter(parameters: DeploySwapAdapterParameters): Promise<Address> {
  const { publicClient, deployer, uniswap, hub, out = forgeOut } = parameters
  return (
    await deployArtifact({
      artifact: join(out, "UniswapV3SwapAdapter.sol/UniswapV3SwapAdapter.json"),
      args: [uniswap.swapRouter, [feeTiers.low, feeTiers.medium], [hub]],
      salt: saltOf("swapAdapter"),
      publicClient,
      walletClient: deployer,
    })
  ).wait()
}

export type AlignPoolToPriceParameters = {
  publicClient: PublicClient
  /** The arbitrageur: mints what it sells (test tokens mint openly) and keeps what it buys. */
  arbitrageur: Wallet
  uniswap: Pick<UniswapAddresses, "swapRouter">
  pool: DevnetPool
  /** Target price (Morpho 1e36 scale); the pool's oracle's current `price()` by default. */
  price?: bigint | undefined
}

export type AlignPoolToPriceReturnType = {
  /** What the arbitrageur sold into the pool (0 when it was already aligned). */
  tokenIn: Address | undefined
  amountIn: bigint
  amountOut: bigint
  /** The pool's sqrtPriceX96 afterwards: exactly {@link sqrtPriceX96FromOraclePrice} of the price. */
  sqrtPriceX96: bigint
}

/** What the arbitrageur holds of a token it sells: enough for any move, the router takes only what the limit needs. */
const arbitrageFloat = 10n ** 36n

/** An arbitrage trade ready to send ({@link prepareAlignment}): its router call, and the read-back that checks it. */
export type PreparedAlignment = {
  /** The SwapRouter `exactInputSingle` call (send it from the arbitrageur, with a fixed gas limit). */
  request: { address: Address; abi: typeof swapRouterAbi; functionName: "exactInputSingle"; args: readonly unknown[] }
  /** After the trade landed: the pool's new state, or PoolPriceError when it does not sit at the target. */
  verify: () => Promise<AlignPoolToPriceReturnType>
}

/**
 * Everything {@link alignPoolToPrice} does before its trade: reads the pool, computes the target sqrtPriceX96 and the
 * direction, funds and approves the arbitrageur once. A caller can then send the trade in the same block as the oracle
 * update it follows (the devnet's price driver signs both and sends them back to back).
 *
 * @returns The trade, or undefined when the pool already sits at the price.
 */
export async function prepareAlignment(parameters: AlignPoolToPriceParameters): Promise<PreparedAlignment | undefined> {
  const { publicClient, arbitrageur, uniswap, pool } = parameters
  const price = parameters.price ?? (await publicClient.readContract({ address: pool.oracle, abi: simOracleAbi, functionName: "price" }))
  const [[current], token0] = await Promise.all([
    publicClient.readContract({ address: pool.address, abi: uniswapPoolAbi, functionName: "slot0" }),
    publicClient.readContract({ address: pool.address, abi: uniswapPoolAbi, functionName: "token0" }),
  ])
  const target = sqrtPriceX96FromOraclePrice(price, token0 === pool.collateral)
  if (current === target) return undefined
  const zeroForOne = target < current
  const token1 = token0 === pool.collateral ? pool.loan : pool.collateral
  const [tokenIn, tokenOut] = zeroForOne ? [token0, token1] : [token1, token0]
  const self = arbitrageur.account.address
  const balanceOf = (token: Address) => publicClient.readContract({ address: token, abi: testTokenAbi, functionName: "balanceOf", args: [self] })
  const [inBefore, outBefore] = await Promise.all([balanceOf(tokenIn), balanceOf(tokenOut)])
  // Topped up only once it has sold half of it: the router takes only what the price limit needs.
  if (inBefore < arbitrageFloat / 2n)
    await send(publicClient, arbitrageur, "arbitrageur mint", { address: tokenIn, abi: testTokenAbi, functionName: "mint", args: [self, arbitrageFloat - inBefore] })
  // One approval for good: a repeated one costs a block every time the arbitrageur follows an oracle update.
  const allowance = await publicClient.readContract({ address: tokenIn, abi: erc20Abi, functionName: "allowance", args: [self, uniswap.swapRouter] })
  if (allowance < arbitrageFloat)
    await send(publicClient, arbitrageur, "arbitrageur approve", { address: tokenIn, abi: testTokenAbi, functionName: "approve", args: [uniswap.swapRouter, maxUint256] })
  const deadline = (await publicClient.getBlock()).timestamp + 3_600n
  return {
    request: {
      address: uniswap.swapRouter,
      abi: swapRouterAbi,
      functionName: "exactInputSingle",
      args: [{ tokenIn, tokenOut, fee: pool.fee, recipient: self, deadline, amountIn: arbitrageFloat, amountOutMinimum: 0n, sqrtPriceLimitX96: target }],
    },
    verify: async () => {
      const [[reached], inAfter, outAfter] = await Promise.all([
        publicClient.readContract({ address: pool.address, abi: uniswapPoolAbi, functionName: "slot0" }),
        balanceOf(tokenIn),
        balanceOf(tokenOut),
      ])
      if (reached !== target) throw new PoolPriceError({ pool: pool.address, target, reached })
      const funded = inBefore < arbitrageFloat / 2n ? arbitrageFloat : inBefore
      return { tokenIn, amountIn: funded - inAfter, amountOut: outAfter - outBefore, sqrtPriceX96: reached }
    },
  }
}

/**
 * Moves a pool's price exactly onto an oracle price, as an arbitrageur would after an oracle move: one SwapRouter
 * `exactInputSingle` with `sqrtPriceLimitX96` at the target, which the pool stops at. Call it after every oracle
 * update of a devnet scenario so swaps there see the same price as the module's oracle.
 *
 * @param parameters - {@link AlignPoolToPriceParameters}
 * @returns What was traded and the pool's new sqrtPriceX96 ({@link AlignPoolToPriceReturnType}).
 * @throws DeploymentError when a transaction reverts; PoolPriceError when the pool does not end at the target.
 */
export async function alignPoolToPrice(parameters: AlignPoolToPriceParameters): Promise<AlignPoolToPriceReturnType> {
  const prepared = await prepareAlignment(parameters)
  if (prepared === undefined) {
    const [current] = await parameters.publicClient.readContract({ address: parameters.pool.address, abi: uniswapPoolAbi, functionName: "slot0" })
    return { tokenIn: undefined, amountIn: 0n, amountOut: 0n, sqrtPriceX96: current }
  }
  await send(parameters.publicClient, parameters.arbitrageur, "arbitrage swap", prepared.request)
  return prepared.verify()
}
