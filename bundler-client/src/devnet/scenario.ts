import { type PublicClient, createWalletClient, http, parseEther } from "viem"
import { nonceManager, privateKeyToAccount } from "viem/accounts"
import { simOracleAbi } from "@levpilot/devnet/leverage"
import { PoolPriceError, alignPoolToPrice } from "@levpilot/devnet/uniswap"
import { type PricePaths, readPriceCsv } from "../prices/csv.js"
import { type DemoAsset, type DemoEnv, demoAssets, demoStartPrices } from "./env.js"

/** One price per demo asset per step (USDC per whole token). */
export type DemoScenario = { name: string; steps: Record<DemoAsset, number>[] }

/**
 * The default story in `steps` blocks: calm (small moves, 25%), a crash of `crash` (30%), a short floor (10%), and a
 * recovery to 90% of the start (35%). Both collateral prices move together, WBTC a little less.
 *
 * @returns The scenario.
 */
export function defaultScenario(steps = 60, crash = 0.4): DemoScenario {
  const phases = [
    { share: 0.25, to: 1.0 },
    { share: 0.3, to: 1 - crash },
    { share: 0.1, to: 1 - crash },
    { share: 0.35, to: 0.9 },
  ]
  const path: number[] = []
  let level = 1
  let wobble = 0
  for (const phase of phases) {
    const n = Math.max(1, Math.round(steps * phase.share))
    const from = level
    for (let i = 1; i <= n; i++) {
      wobble += 1
      const noise = phase.to === from ? 0.004 * Math.sin(wobble * 1.7) : 0
      path.push(from + ((phase.to - from) * i) / n + noise)
    }
    level = phase.to
  }
  const trimmed = path.slice(0, steps)
  while (trimmed.length < steps) trimmed.push(level)
  return {
    name: `calm, ${Math.round(crash * 100)}% crash, recovery (${steps} blocks)`,
    steps: trimmed.map((f) => ({ WETH: demoStartPrices.WETH * f, WBTC: demoStartPrices.WBTC * (1 - (1 - f) * 0.9) })),
  }
}

/**
 * A scenario from a price CSV (`timestamp,<ASSET>...`): columns named WETH and WBTC set those prices; otherwise the
 * first column is read as a relative path (price / first price) applied to both start prices. One row per block.
 *
 * @returns The scenario, truncated to `maxSteps` rows when given.
 */
export function scenarioFromCsv(path: string, maxSteps?: number | undefined): DemoScenario {
  return scenarioFromPaths(readPriceCsv(path), path, maxSteps)
}

export function scenarioFromPaths(paths: PricePaths, name: string, maxSteps?: number | undefined): DemoScenario {
  const n = Math.min(paths.timestamps.length, maxSteps ?? Number.POSITIVE_INFINITY)
  const direct = demoAssets.every((a) => paths.prices[a] !== undefined)
  const first = paths.prices[paths.assets[0] as string] as Float64Array
  const steps: Record<DemoAsset, number>[] = []
  for (let i = 0; i < n; i++) {
    if (direct) steps.push({ WETH: (paths.prices.WETH as Float64Array)[i] as number, WBTC: (paths.prices.WBTC as Float64Array)[i] as number })
    else {
      const f = (first[i] as number) / (first[0] as number)
      steps.push({ WETH: demoStartPrices.WETH * f, WBTC: demoStartPrices.WBTC * f })
    }
  }
  return { name, steps }
}

/**
 * Sends oracle updates (`SimOracle.setPrice`, both the Morpho price and the Chainlink-style feed) from the price
 * driver key. All updates of one step go out together, so they land in the same block.
 */
export class PriceDriver {
  private readonly wallet
  constructor(private readonly env: DemoEnv) {
    this.wallet = createWalletClient({
      chain: env.devnet.chain,
      transport: http(env.devnet.rpcUrl),
      account: privateKeyToAccount(env.keys.priceDriver, { nonceManager }),
    })
  }

  /**
   * Sets the prices of one step.
   *
   * @returns The block the updates landed in.
   */
  async set(prices: Partial<Record<DemoAsset, number>>): Promise<bigint> {
    const client: PublicClient = this.env.publicClient
    const hashes: `0x${string}`[] = []
    for (const asset of demoAssets) {
      const price = prices[asset]
      if (price === undefined) continue
      hashes.push(
        await this.wallet.writeContract({
          address: this.env.markets[asset].oracle,
          abi: simOracleAbi,
          functionName: "setPrice",
          args: [parseEther(price.toFixed(8))],
          // Estimation runs against the latest block, where writing the same timestamp is a cheap no-op SSTORE; in
          // the next block it is a real write, so the estimate can run out of gas.
          gas: 120_000n,
        }),
      )
    }
    let block = 0n
    for (const hash of hashes) {
      const receipt = await client.waitForTransactionReceipt({ hash, pollingInterval: 50 })
      if (receipt.status !== "success") {
        const tx = await client.getTransaction({ hash })
        throw new Error(`oracle update ${hash} reverted (gas ${receipt.gasUsed} of ${tx.gas}, block ${receipt.blockNumber})`)
      }
      if (receipt.blockNumber > block) block = receipt.blockNumber
    }
    // With Uniswap pools, the arbitrageur moves each market's 0.05% pool onto the new oracle price (the next block).
    const uniswap = this.env.uniswap
    if (uniswap !== undefined)
      for (const asset of demoAssets) {
        if (prices[asset] === undefined) continue
        const pool = asset === "WETH" ? uniswap.pools.wethLow : uniswap.pools.wbtcLow
        // The keeper's own swaps (a deleverage or a boost) can land right after the arbitrage and move the pool before
        // it is read back: align again from where they left it.
        for (let attempt = 1; ; attempt++) {
          try {
            await alignPoolToPrice({ publicClient: client, arbitrageur: this.wallet, uniswap, pool })
            break
          } catch (error) {
            if (!(error instanceof PoolPriceError) || attempt >= 5) throw error
          }
        }
      }
    return block
  }
}
