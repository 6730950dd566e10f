#!/usr/bin/env node
// Gas benchmark of the Aave v3 adapter on the real Aave v3.0.2 Pool (forge): supply / withdraw / borrow / repay from a
// Safe as the module runs them, the adapter's reads, an Aave rescue through the owner and keeper lanes, and a cross-venue
// plan (Morpho Blue -> Aave: collateral moved, or debt borrowed on Morpho and repaid on Aave) through both lanes.
// Prints a table and writes reports/aave-gas.json.
import { spawnSync } from "node:child_process"
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const reports = join(root, "reports")
const prefix = "aave-gas."
mkdirSync(reports, { recursive: true })
const clean = () => {
  for (const f of readdirSync(reports)) if (f.startsWith(prefix) && f !== "aave-gas.json") rmSync(join(reports, f))
}
clean()

console.log("bench:gas:aave: running modules/test/bench/AaveGasBench.t.sol (forge) ...")
const run = spawnSync(process.execPath, [join(root, "scripts/forge.mjs"), "test", "--match-path", "modules/test/bench/AaveGasBench.t.sol"], {
  cwd: root,
  env: { ...process.env, GAS_REPORT: join(reports, "aave-gas") },
  encoding: "utf8",
})
if (run.status !== 0) {
  process.stderr.write(run.stdout + run.stderr)
  console.error("bench:gas:aave: forge failed")
  process.exit(1)
}

const part = (key) => JSON.parse(readFileSync(join(reports, `${prefix}${key}.json`), "utf8"))
const actions = Object.fromEntries(["supply", "withdraw", "borrow", "repay"].map((key) => [key, part(key)]))
const reads = { ...part("reads"), marketStateTwoCollaterals: part("readsTwoCollaterals").marketState }
const rescue = { ownerLane: part("rescueOwnerLane").handleOps, keeperLane: part("rescueKeeperLane").handleOps }
const lanes = (name) => {
  const ownerLane = part(`${name}OwnerLane`).handleOps
  const keeperLane = part(`${name}KeeperLane`).handleOps
  return { ownerLane, keeperLane, keeperOverhead: keeperLane - ownerLane }
}
const crossVenue = { collateral: lanes("crossCollateral"), debt: lanes("crossDebt") }

const table = (header, rows) => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)))
  const line = (cells) => cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join(" | ")
  console.log(line(header))
  console.log(widths.map((w) => "-".repeat(w)).join("-|-"))
  for (const r of rows) console.log(line(r))
  console.log("")
}

console.log("")
table(
  ["action (from a Safe, cold)", "adapter encode", "approve + reset", "Aave call", "total"],
  Object.entries(actions).map(([name, a]) => [name, a.encode, a.approvals, a.aaveCall, a.throughAdapter]),
)
table(
  ["adapter read", "gas"],
  [
    ["marketState (cold)", reads.marketState],
    ["marketState, two collateral reserves (cold)", reads.marketStateTwoCollaterals],
    ["health (warm)", reads.health],
    ["encode repay (warm)", reads.encodeRepayWarm],
  ],
)
table(
  ["Aave rescue: withdraw from pool + repay (handleOps)", "gas"],
  [
    ["owner lane (MultiSend, owner signature)", rescue.ownerLane],
    ["keeper lane (executeRebalance, every policy check)", rescue.keeperLane],
    ["keeper overhead", rescue.keeperLane - rescue.ownerLane],
  ],
)
table(
  ["cross-venue plan, Morpho Blue -> Aave (handleOps)", "owner lane", "keeper lane", "keeper overhead"],
  [
    ["withdraw 2.6 WETH on Morpho + supply on Aave", crossVenue.collateral.ownerLane, crossVenue.collateral.keeperLane, crossVenue.collateral.keeperOverhead],
    ["borrow 3,000 USDC on Morpho + repay on Aave", crossVenue.debt.ownerLane, crossVenue.debt.keeperLane, crossVenue.debt.keeperOverhead],
  ],
)

const report = {
  generatedAt: new Date().toISOString(),
  venue: "Aave v3.0.2 (@aave/core-v3 1.19.3), real Pool from its artifacts",
  method:
    "forge, one test per measurement so storage starts cold; actions run as RebalanceLib runs them: adapter.encode (view), " +
    "exact approval, the Aave call and the approval reset as Safe module calls (execTransactionFromModule); rescue = " +
    "gasleft() around EntryPoint.handleOps for one UserOperation (owner lane MultiSend vs keeper lane executeRebalance); " +
    "crossVenue = the same around one cross-venue operation (Morpho Blue market at health 1.65 -> Aave account at 1.107), " +
    "owner lane MultiSend with exact approval and reset vs keeper lane executeRebalance checking both sub-accounts",
  actions,
  reads,
  rescue: { ...rescue, keeperOverhead: rescue.keeperLane - rescue.ownerLane },
  crossVenue,
}
writeFileSync(join(reports, "aave-gas.json"), JSON.stringify(report, null, 2) + "\n")
clean()
console.log("written: reports/aave-gas.json")
