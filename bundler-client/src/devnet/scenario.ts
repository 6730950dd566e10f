import { waitForReceipt } from "@levpilot/devnet"
import { type Address, type Hex, type PublicClient, createWalletClient, encodeFunctionData, http, parseEther } from "viem"
import { privateKeyToAccount } from "viem/accounts"
import { simOracleAbi } from "@levpilot/devnet/leverage"
import { type DevnetPool, type PreparedAlignment, PoolPriceError, alignPoolToPrice, prepareAlignment } from "@levpilot/devnet/uniswap"
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
  /** The block the last step's transactions landed in. */
  private lastBlock: bigint | undefined
  constructor(private readonly env: DemoEnv) {
    this.wallet = createWalletClient({
      chain: env.devnet.chain,
      transport: http(env.devnet.rpcUrl),
      // No nonce manager: every transaction of a step is sent in sequence (the batch with explicit nonces).
      account: privateKeyToAccount(env.keys.priceDriver),
    })
  }

  /**
   * Sets the prices of one step: the oracle updates and, with Uniswap pools, an arbitrageur's trade moving every pool
   * the keeper quotes (the tiers of `swapFeeTiers`) onto the new prices. All are signed first and sent back to back, so
   * they land in one block: the keeper never sees a block where the oracle moved and the pools did not (it would size
   * a swap on a pool about to be arbitraged away under it).
   *
   * @returns The block the oracle updates landed in.
   */
  async set(prices: Partial<Record<DemoAsset, number>>): Promise<bigint> {
    const client: PublicClient = this.env.publicClient
    const uniswap = this.env.uniswap
    const tiers = this.env.settings.swapFeeTiers
    // With swaps, one quiet block after each step: a keeper operation planned on the last step's quotes lands in the
    // next block, where no oracle update or arbitrage moves the pool under its swap (a crash step moves it 4%, far more
    // than the 2 bp its repayment keeps back). This step's transactions therefore go out once that block is mined.
    if (uniswap !== undefined && this.lastBlock !== undefined)
      while ((await client.getBlockNumber({ cacheTime: 0 })) <= this.lastBlock) await new Promise((r) => setTimeout(r, 50))
    const calls: { to: Address; data: Hex; gas: bigint }[] = []
    const pending: { pool: DevnetPool; price: bigint; prepared: PreparedAlignment | undefined }[] = []
    for (const asset of demoAssets) {
      const price = prices[asset]
      if (price === undefined) continue
      const wad = parseEther(price.toFixed(8))
      // Estimation runs against the latest block, where writing the same timestamp is a cheap no-op SSTORE; in the next
      // block it is a real write, so the estimate can run out of gas: fixed gas.
      calls.push({ to: this.env.markets[asset].oracle, data: encodeFunctionData({ abi: simOracleAbi, functionName: "setPrice", args: [wad] }), gas: 120_000n })
      if (uniswap === undefined) continue
      // SimOracle.setPrice: price() = priceWad x 10^(18 + loan decimals) / 10^(collateral decimals).
      const morphoPrice = (wad * 10n ** 24n) / 10n ** (asset === "WETH" ? 18n : 8n)
      for (const pool of Object.values(uniswap.pools)) {
        if (pool.oracle !== this.env.markets[asset].oracle || !tiers.includes(pool.fee)) continue
        // In sequence: a first trade of a token funds and approves the arbitrageur (a transaction of its own).
        pending.push({ pool, price: morphoPrice, prepared: await prepareAlignment({ publicClient: client, arbitrageur: this.wallet, uniswap, pool, price: morphoPrice }) })
      }
    }
    const alignments = pending.filter((a): a is { pool: DevnetPool; price: bigint; prepared: PreparedAlignment } => a.prepared !== undefined)
    for (const { prepared } of alignments) calls.push({ to: prepared.request.address, data: encodeFunctionData(prepared.request as never), gas: 3_000_000n })
    // Signed locally with one fee read, then sent back to back.
    const [nonce, fees] = await Promise.all([client.getTransactionCount({ address: this.wallet.account.address, blockTag: "pending" }), client.estimateFeesPerGas()])
    const chainId = this.env.devnet.chain.id
    const signed = await Promise.all(calls.map((call, k) => this.wallet.account.signTransaction({ ...call, ...fees, nonce: nonce + k, chainId, type: "eip1559" })))
    const hashes: Hex[] = []
    for (const serializedTransaction of signed) hashes.push(await this.wallet.sendRawTransaction({ serializedTransaction }))
    let block = 0n
    for (const [k, hash] of hashes.entries()) {
      const receipt = await waitForReceipt(client, { hash, pollingInterval: 50 })
      if (receipt.status !== "success") {
        const tx = await client.getTransaction({ hash })
        throw new Error(`price step transaction ${k} (${hash}) reverted (gas ${receipt.gasUsed} of ${tx.gas}, block ${receipt.blockNumber})`)
      }
      if (receipt.blockNumber > block) block = receipt.blockNumber
    }
    // The keeper's own swaps (a deleverage or a boost) can land next to the arbitrage and move a pool before it is read
    // back: align again from where they left it.
    for (const { pool, price, prepared } of alignments) {
      for (let attempt = 1; ; attempt++) {
        try {
          await (attempt === 1 ? prepared.verify() : alignPoolToPrice({ publicClient: client, arbitrageur: this.wallet, uniswap: uniswap as NonNullable<typeof uniswap>, pool, price }))
          break
        } catch (error) {
          if (!(error instanceof PoolPriceError) || attempt >= 5) throw error
        }
      }
    }
    this.lastBlock = block
    return block
  }
}
