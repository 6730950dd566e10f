import { mkdirSync, writeFileSync } from "node:fs"
import { resolve } from "node:path"
import { startDemoEnv } from "../src/devnet/env.js"
import { demoKeeperConfig } from "../src/devnet/keeperConfig.js"
import { PriceDriver } from "../src/devnet/scenario.js"
import { quantile } from "../src/devnet/summary.js"
import { Keeper, type KeeperEvent } from "../src/keeper/keeper.js"
import { ensureContractsOrExit, readBenchCommandLine } from "./benchArgs.js"
import { latencyUsage, parseLatencyArgs } from "./devnetBenchArgs.js"

/*
 * Reaction latency of the keeper on the devnet (anvil with 1 s blocks, Alto, the ERC-7677 paymaster): each shock moves
 * both oracle prices so the managed Safe leaves its band (alternately -20%, below minHealth, and +25%, above maxHealth
 * with boost allowed); we measure blocks and milliseconds from the block holding the oracle update (and the moment its
 * receipt is seen) to the block including the keeper's rebalance (and the moment the keeper sees it).
 */

// The command line first, then the contract build (helper nu49: `--help` ran the build and the devnet, `--shocks two`
// ran 0 shocks with NaN).
const args = readBenchCommandLine("bench:latency", latencyUsage, parseLatencyArgs)
const { shocks, blockTime } = args
const out = resolve(args.out)
// forge's out/ (the devnet deploys from it): built when missing or changed, once the command line is known good.
await ensureContractsOrExit("bench:latency")

const env = await startDemoEnv({ blockTime, twin: false })
const events: KeeperEvent[] = []
const keeper = new Keeper(demoKeeperConfig(env), { chain: env.devnet.chain, onEvent: (e) => e.type === "included" && events.push(e) })
await keeper.start()
const driver = new PriceDriver(env)
let prices = { WETH: 3000, WBTC: 60000 }
const samples: { shock: number; factor: number; oracleBlock: number; includedBlock: number; blocks: number; ms: number; gasUsed: number; sponsored: boolean }[] = []
try {
  for (let i = 0; i < shocks; i++) {
    const factor = i % 2 === 0 ? 0.8 : 1.25
    prices = { WETH: prices.WETH * factor, WBTC: prices.WBTC * factor }
    const seen = events.length
    const oracleBlock = await driver.set(prices)
    const t0 = Date.now()
    const deadline = t0 + 30_000
    while (events.length === seen && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    const e = events[seen]
    if (!e || e.type !== "included") throw new Error(`shock ${i + 1}: no rebalance within 30 s`)
    samples.push({
      shock: i + 1,
      factor,
      oracleBlock: Number(oracleBlock),
      includedBlock: Number(e.block),
      blocks: Number(e.block - oracleBlock),
      ms: Date.now() - t0,
      gasUsed: Number(e.actualGasUsed),
      sponsored: e.paymaster !== undefined,
    })
    process.stdout.write(`shock ${String(i + 1).padStart(2)} ${factor < 1 ? "-20%" : "+25%"}  oracle block ${oracleBlock}  included ${e.block}  ${samples.at(-1)?.blocks} block(s)  ${samples.at(-1)?.ms} ms\n`)
    const next = (await env.publicClient.getBlockNumber()) + 1n
    while ((await env.publicClient.getBlockNumber()) < next) await new Promise((r) => setTimeout(r, 50))
  }
} finally {
  await keeper.stop()
  await env.stop()
}

const blocks = samples.map((s) => s.blocks)
const ms = samples.map((s) => s.ms)
const result = {
  date: new Date().toISOString(),
  blockTimeSeconds: blockTime,
  shocks: samples.length,
  blocks: { median: quantile(blocks, 0.5), p95: quantile(blocks, 0.95), max: Math.max(...blocks) },
  ms: { median: quantile(ms, 0.5), p95: quantile(ms, 0.95), max: Math.max(...ms) },
  targetMedianBlocks: 2,
  targetMet: (quantile(blocks, 0.5) ?? Number.POSITIVE_INFINITY) <= 2,
  allSponsored: samples.every((s) => s.sponsored),
  samples,
}
process.stdout.write(
  `\n| metric | median | p95 | max |\n|---|---:|---:|---:|\n| blocks from oracle update to inclusion | ${result.blocks.median} | ${result.blocks.p95} | ${result.blocks.max} |\n| ms from oracle update seen to inclusion seen | ${result.ms.median} | ${result.ms.p95} | ${result.ms.max} |\n\n` +
    `${samples.length} shocks, ${blockTime} s blocks; target median <= 2 blocks: ${result.targetMet ? "met" : "NOT met"}; all paid by the paymaster: ${result.allSponsored}\n`,
)
mkdirSync(resolve(out, ".."), { recursive: true })
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`)
process.stdout.write(`wrote ${out}\n`)
