import { waitForReceipt } from "@levpilot/devnet"
import { type Address, type Hex, type Log, type PublicClient, createWalletClient, decodeEventLog, http, maxUint256, parseAbi } from "viem"
import { privateKeyToAccount } from "viem/accounts"
import type { DevnetMarket } from "@levpilot/devnet/leverage"
import type { DemoEnv } from "./env.js"
import { readMarketRate } from "./rates.js"

export const morphoLiquidationAbi = parseAbi([
  "struct MarketParams { address loanToken; address collateralToken; address oracle; address irm; uint256 lltv; }",
  "function liquidate(MarketParams marketParams, address borrower, uint256 seizedAssets, uint256 repaidShares, bytes data) returns (uint256, uint256)",
  "function market(bytes32 id) view returns (uint128 totalSupplyAssets, uint128 totalSupplyShares, uint128 totalBorrowAssets, uint128 totalBorrowShares, uint128 lastUpdate, uint128 fee)",
  "function position(bytes32 id, address user) view returns (uint256 supplyShares, uint128 borrowShares, uint128 collateral)",
  "function approve(address spender, uint256 amount) returns (bool)",
  "function price() view returns (uint256)",
  "event Liquidate(bytes32 indexed id, address indexed caller, address indexed borrower, uint256 repaidAssets, uint256 repaidShares, uint256 seizedAssets, uint256 badDebtAssets, uint256 badDebtShares)",
])

const WAD = 10n ** 18n
const ORACLE_SCALE = 10n ** 36n
const VIRTUAL_SHARES = 10n ** 6n

/** A liquidation the liquidator performed. */
export type Liquidation = {
  borrower: Address
  market: Hex
  block: bigint
  transactionHash: Hex
  /** Health (WAD) just before. */
  health: bigint
  seizedCollateral: bigint
  repaidDebt: bigint
  badDebt: bigint
}

/** A Morpho Blue position read directly from Morpho (no module involved), so it works for unmanaged Safes too. */
export type MorphoPosition = { collateral: bigint; borrowShares: bigint; debt: bigint; price: bigint; health: bigint }

/**
 * Reads a borrower's Morpho Blue position at one block: collateral, debt (interest accrued to the block through the
 * market's IRM, shares to assets rounded up, as Morpho charges on repay or liquidate) and health.
 *
 * @param blockNumber - The block read (default: the latest).
 * @returns The position; health is `maxUint256` without debt.
 */
export async function readMorphoPosition(client: PublicClient, morpho: Address, market: DevnetMarket, borrower: Address, blockNumber?: bigint | undefined): Promise<MorphoPosition> {
  const rate = await readMarketRate(client, morpho, market, blockNumber)
  const at = { blockNumber: rate.blockNumber }
  const [[, borrowShares, collateral], price] = await Promise.all([
    client.readContract({ address: morpho, abi: morphoLiquidationAbi, functionName: "position", args: [market.id, borrower], ...at }),
    client.readContract({ address: market.oracle, abi: morphoLiquidationAbi, functionName: "price", ...at }),
  ])
  const shares = BigInt(borrowShares)
  const debt = (shares * (rate.totalBorrowAssets + 1n) + (rate.totalBorrowShares + VIRTUAL_SHARES) - 1n) / (rate.totalBorrowShares + VIRTUAL_SHARES)
  const collateralValue = (BigInt(collateral) * price) / ORACLE_SCALE
  const health = debt === 0n ? maxUint256 : (collateralValue * market.params.lltv) / debt
  return { collateral: BigInt(collateral), borrowShares: shares, debt, price, health }
}

/**
 * An EOA liquidator (anvil key, loopback) that calls `Morpho.liquidate` on every watched position whose health is
 * below 1: it repays the whole debt when the collateral covers the incentive, else seizes all the collateral (Morpho
 * then realises the bad debt). Its USDC comes from `TestToken.mint` at set-up.
 */
export class Liquidator {
  readonly liquidations: Liquidation[] = []
  private approved = false
  private readonly wallet
  constructor(
    private readonly env: DemoEnv,
    private readonly borrowers: readonly Address[],
  ) {
    this.wallet = createWalletClient({ chain: env.devnet.chain, transport: http(env.devnet.rpcUrl), account: privateKeyToAccount(env.keys.liquidator) })
  }

  /**
   * Checks every watched position once and liquidates the unhealthy ones.
   *
   * @returns The liquidations done in this pass.
   */
  async scan(): Promise<Liquidation[]> {
    const { publicClient, stack } = this.env
    if (!this.approved) {
      for (const spender of [stack.morpho, ...(this.env.aave ? [this.env.aave.pool] : [])]) {
        const hash = await this.wallet.writeContract({ address: stack.tokens.usdc, abi: morphoLiquidationAbi, functionName: "approve", args: [spender, maxUint256] })
        await waitForReceipt(publicClient, { hash })
      }
      this.approved = true
    }
    const done: Liquidation[] = []
    if (this.env.aave) for (const borrower of this.borrowers) done.push(...(await this.liquidateOnAave(borrower)))
    for (const borrower of this.borrowers)
      for (const market of Object.values(this.env.markets)) {
        const p = await readMorphoPosition(publicClient, stack.morpho, market, borrower)
        if (p.debt === 0n || p.health >= WAD) continue
        const lif = liquidationIncentiveWad(market.params.lltv)
        const seizeAllRepays = (((p.collateral * p.price) / ORACLE_SCALE) * WAD) / lif
        const args = seizeAllRepays < p.debt ? ([p.collateral, 0n] as const) : ([0n, p.borrowShares] as const)
        try {
          const hash = await this.wallet.writeContract({
            address: stack.morpho,
            abi: morphoLiquidationAbi,
            functionName: "liquidate",
            args: [market.params, borrower, args[0], args[1], "0x"],
            gas: 800_000n,
          })
          const receipt = await waitForReceipt(publicClient, { hash })
          if (receipt.status !== "success") continue
          const event = receipt.logs
            .map((log) => {
              try {
                return log.address.toLowerCase() === stack.morpho.toLowerCase() ? decodeLiquidate(log) : undefined
              } catch {
                return undefined
              }
            })
            .find((e) => e !== undefined)
          const liquidation: Liquidation = {
            borrower,
            market: market.id,
            block: receipt.blockNumber,
            transactionHash: hash,
            health: p.health,
            seizedCollateral: event?.seizedAssets ?? args[0],
            repaidDebt: event?.repaidAssets ?? 0n,
            badDebt: event?.badDebtAssets ?? 0n,
          }
          this.liquidations.push(liquidation)
          done.push(liquidation)
        } catch {
          // Another liquidator (or the keeper's rebalance) got there first; the next pass re-reads the position.
        }
      }
    return done
  }

  /**
   * Liquidates a borrower's Aave account (WETH collateral, USDC debt) once when its health factor is below 1: Aave's
   * `liquidationCall` with `debtToCover = max`, which Aave caps at its close factor (50% of the debt, 100% below health
   * factor 0.95) and pays with the collateral plus the reserve's liquidation bonus.
   *
   * @returns The liquidation done, if any.
   */
  private async liquidateOnAave(borrower: Address): Promise<Liquidation[]> {
    const { publicClient, stack, aave } = this.env
    if (!aave) return []
    const [, totalDebtBase, , , , healthFactor] = await publicClient.readContract({ address: aave.pool, abi: aaveLiquidationAbi, functionName: "getUserAccountData", args: [borrower] })
    if (totalDebtBase === 0n || healthFactor >= WAD) return []
    try {
      const hash = await this.wallet.writeContract({
        address: aave.pool,
        abi: aaveLiquidationAbi,
        functionName: "liquidationCall",
        args: [stack.tokens.weth, stack.tokens.usdc, borrower, maxUint256, false],
        gas: 1_500_000n,
      })
      const receipt = await waitForReceipt(publicClient, { hash })
      if (receipt.status !== "success") return []
      const event = receipt.logs
        .filter((log) => log.address.toLowerCase() === aave.pool.toLowerCase())
        .map((log) => {
          try {
            const decoded = decodeEventLog({ abi: aaveLiquidationAbi, data: log.data, topics: log.topics })
            return decoded.eventName === "LiquidationCall" ? decoded.args : undefined
          } catch {
            return undefined
          }
        })
        .find((e) => e !== undefined)
      const liquidation: Liquidation = {
        borrower,
        market: aave.markets.wethUsdc,
        block: receipt.blockNumber,
        transactionHash: hash,
        health: healthFactor,
        seizedCollateral: event?.liquidatedCollateralAmount ?? 0n,
        repaidDebt: event?.debtToCover ?? 0n,
        badDebt: 0n,
      }
      this.liquidations.push(liquidation)
      return [liquidation]
    } catch {
      // The keeper's rebalance (or another liquidator) got there first; the next pass re-reads the account.
      return []
    }
  }
}

/** Aave v3's liquidation entry point and event (Pool, v3.0.2). */
export const aaveLiquidationAbi = parseAbi([
  "function liquidationCall(address collateralAsset, address debtAsset, address user, uint256 debtToCover, bool receiveAToken)",
  "function getUserAccountData(address user) view returns (uint256 totalCollateralBase, uint256 totalDebtBase, uint256 availableBorrowsBase, uint256 currentLiquidationThreshold, uint256 ltv, uint256 healthFactor)",
  "event LiquidationCall(address indexed collateralAsset, address indexed debtAsset, address indexed user, uint256 debtToCover, uint256 liquidatedCollateralAmount, address liquidator, bool receiveAToken)",
])

function decodeLiquidate(log: Log) {
  const decoded = decodeEventLog({ abi: morphoLiquidationAbi, data: log.data, topics: log.topics })
  return decoded.eventName === "Liquidate" ? decoded.args : undefined
}

/**
 * Morpho Blue's liquidation incentive factor, WAD: min(1.15, 1 / (1 - 0.3 (1 - lltv))).
 *
 * @returns The factor.
 */
export function liquidationIncentiveWad(lltv: bigint): bigint {
  const cursor = (3n * WAD) / 10n
  const lif = (WAD * WAD) / (WAD - (cursor * (WAD - lltv)) / WAD)
  const max = (115n * WAD) / 100n
  return lif < max ? lif : max
}
