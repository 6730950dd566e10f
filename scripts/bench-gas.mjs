#!/usr/bin/env node
// Gas benchmark: the same rebalance through the owner lane and the keeper lane (EntryPoint.handleOps on real
// contracts, forge), plus a swap deleverage (Morpho repay callback + withdraw + Uniswap v3 swap, no idle funds) and a
// swap boost through the keeper lane (SwapGasBench.t.sol). Prints tables and writes reports/gas.json.
import { spawnSync } from "node:child_process"
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const reports = join(root, "reports")
mkdirSync(reports, { recursive: true })
for (const f of readdirSync(reports)) if (f.startsWith("gas.") && f !== "gas.json") rmSync(join(reports, f))

console.log("bench:gas: running modules/test/bench/GasBench.t.sol and SwapGasBench.t.sol (forge) ...")
const run = spawnSync(process.execPath, [join(root, "scripts/forge.mjs"), "test", "--match-contract", "GasBench"], {
  cwd: root,
  env: { ...process.env, GAS_REPORT: join(reports, "gas") },
  encoding: "utf8",
})
if (run.status !== 0) {
  process.stderr.write(run.stdout + run.stderr)
  console.error("bench:gas: forge failed")
  process.exit(1)
}

const part = (key) => JSON.parse(readFileSync(join(reports, `gas.${key}.json`), "utf8"))
const transfer = part("transfer")
const one = part("oneSubAccount")
const three = part("threeSubAccounts")
const target = 30_000

const rows = [
  ["owner-lane op (ETH transfer)", transfer.ownerLaneTransfer, "", "", ""],
  ...[
    ["1 sub-account, first rebalance", one, "First"],
    ["1 sub-account, later rebalance", one, "Later"],
    ["3 sub-accounts, first rebalance", three, "First"],
    ["3 sub-accounts, later rebalance", three, "Later"],
  ].map(([label, r, when]) => {
    const overhead = r[`overhead${when}`]
    const perSub = Math.round(overhead / r.subAccounts)
    return [label, r[`ownerLane${when}`], r[`keeperLane${when}`], overhead, perSub]
  }),
]

const header = ["scenario", "owner lane gas", "keeper lane gas", "keeper overhead", "overhead / sub-account"]
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)))
const line = (cells) => cells.map((c, i) => String(c).padStart(i === 0 ? 0 : widths[i]).padEnd(widths[i])).join(" | ")
console.log("")
console.log(line(header))
console.log(widths.map((w) => "-".repeat(w)).join("-|-"))
for (const r of rows) console.log(line(r))

const oneLater = one.overheadLater
console.log("")
console.log(
  `target: keeper-lane overhead <= ${target.toLocaleString("en-US")} gas over the owner lane doing the same actions ` +
    `(1 sub-account, later rebalance: ${oneLater.toLocaleString("en-US")} -> ${oneLater <= target ? "met" : "NOT met"})`,
)

const swap = part("swapDeleverage")
const boost = part("boost")
const swapTarget = 600_000
const centiBps = (v) => `${(v / 100).toFixed(2)} bps`
console.log("")
const swapRows = [
  ["swap deleverage, first keeper op (health 1.02 -> 1.40)", swap.keeperLane, centiBps(swap.valueLossCentiBpsOfSwap)],
  ["swap deleverage, later keeper op (1.15 -> 1.40)", swap.keeperLaneLater, ""],
  ["boost: borrow + swap + supply (1.80 -> 1.40)", boost.keeperLane, centiBps(boost.valueLossCentiBpsOfSwap)],
]
const swapHeader = ["swap scenario (keeper lane, one UserOperation)", "gas", "value lost / swap"]
const swapWidths = swapHeader.map((h, i) => Math.max(h.length, ...swapRows.map((r) => String(r[i]).length)))
const swapLine = (cells) => cells.map((c, i) => String(c).padStart(i === 0 ? 0 : swapWidths[i]).padEnd(swapWidths[i])).join(" | ")
console.log(swapLine(swapHeader))
console.log(swapWidths.map((w) => "-".repeat(w)).join("-|-"))
for (const r of swapRows) console.log(swapLine(r))
console.log("")
console.log(
  `target: swap deleverage <= ${swapTarget.toLocaleString("en-US")} gas (first keeper op: ` +
    `${swap.keeperLane.toLocaleString("en-US")} -> ${swap.keeperLane <= swapTarget ? "met" : "NOT met"}; maxSlippageBps ${swap.maxSlippageBps})`,
)

const report = {
  generatedAt: new Date().toISOString(),
  method:
    "gasleft() around EntryPoint.handleOps for one UserOperation, same state for both lanes (forge snapshot); " +
    "owner lane = executeUserOp delegatecalling MultiSendCallOnly with withdraw/approve/repay/approve(0) per sub-account; " +
    "keeper lane = executeRebalance with WithdrawFromPool + Repay per sub-account and every policy check",
  targetOverheadGas: target,
  ownerLaneTransfer: transfer.ownerLaneTransfer,
  oneSubAccount: one,
  threeSubAccounts: three,
  swapDeleverage: {
    method:
      "one keeper UserOperation through handleOps, every touched contract cooled (vm.cool) but the linked RebalanceLib: " +
      "RepayWithCallback { WithdrawCollateral, SellCollateral (Uniswap v3 0.05%, 20M USDC spread depth) } EndCallback, " +
      "10 WETH / 18,000 USDC from health 1.02 to 1.40 with no idle USDC; the Safe pays its own prefund",
    targetGas: swapTarget,
    ...swap,
  },
  boost: {
    method: "one keeper UserOperation: Borrow, BuyCollateral (Uniswap v3 0.05%), SupplyCollateral, from health 1.80 to 1.40",
    ...boost,
  },
}
writeFileSync(join(reports, "gas.json"), JSON.stringify(report, null, 2) + "\n")
for (const f of readdirSync(reports)) if (f.startsWith("gas.") && f !== "gas.json") rmSync(join(reports, f))
console.log(`written: reports/gas.json`)
