/**
 * The TypeScript half of modules/test/differential/RulesDifferential.t.sol: reads the cases the forge test recorded
 * (one ABI-encoded `Case` per line, layout from the test contract's `caseLayout` ABI), judges each with the SDK's
 * `checkRebalanceRules`, compares with what the real module did (accepted, or its custom error decoded with the
 * module's ABI: same name and arguments; `ActionFailed`: same index) and prints `mismatches K of N; accepted A; skipped
 * S; fee pools F (accepted FA); missing <names>` (F: cases whose plan names a pool with a fee read on either side) (the forge test asserts K = 0, and over 1,500 cases or more that no named error of the rule book
 * was missed). The verdict histogram goes to reports/rules-differential.json, every mismatch to
 * reports/rules-differential-mismatches.json. The in-band rescue cases (issue 13, `Policy.rescueBelowTarget`; the
 * case's `tag`, absent from older case files) get their own histogram per tag (`inBand` in the JSON, and in the report
 * `in-band <tag>: <verdict> <n>, ...`) and `in-band gaps none`, or the tags that never met their expected verdict
 * ({@link inBandExpected}; the forge test asserts none over 1,500 cases or more).
 *
 * Usage: tsx --conditions=@levpilot/source scripts/rules-differential.ts <cases file> <test artifact json>
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { type AbiParameter, type Hex, decodeAbiParameters, decodeErrorResult } from "viem"
import { leverageModuleAbi } from "@levpilot/sdk/abis"
import { type RuleViolation, checkRebalanceRules, ruleErrorNames } from "@levpilot/sdk/rules"
import { toParams } from "./rules-differential-case.js"

type Decoded = Record<string, any>
/** The module's verdict: its custom error decoded by name (any module error, or `undecoded …` for foreign data). */
type Verdict = { name: string; args: RuleViolation["args"] }

const [file, artifact] = process.argv.slice(2)
if (!file || !artifact) throw new Error("usage: rules-differential.ts <cases file> <test artifact json>")
const abi = JSON.parse(readFileSync(artifact, "utf8")).abi as { type: string; name?: string; inputs?: AbiParameter[] }[]
const layout = abi.find((item) => item.type === "function" && item.name === "caseLayout")?.inputs
if (!layout) throw new Error(`${artifact} has no caseLayout function`)

const lines = readFileSync(file, "utf8").split("\n").filter((line) => line.startsWith("0x"))
const show = (value: unknown): string => JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v))

const moduleVerdict = (c: Decoded): Verdict | "ok" => {
  if (c.ok) return "ok"
  const data = c.revertData as Hex
  try {
    const { errorName, args } = decodeErrorResult({ abi: leverageModuleAbi, data })
    return { name: errorName, args: (args ?? []) as Verdict["args"] }
  } catch {
    return { name: `undecoded ${data.slice(0, 10)}`, args: [data] }
  }
}

const sameVerdict = (chain: Verdict | "ok", ts: RuleViolation | "ok"): boolean => {
  if (chain === "ok" || ts === "ok") return chain === ts
  if (chain.name.startsWith("undecoded")) return ts.name === "SwapAdapterRevert" && String(ts.args[0]).toLowerCase() === String(chain.args[0]).toLowerCase()
  if (chain.name !== ts.name) return false
  // ActionFailed: the revert data is the venue's; EpochGasCapExceeded: the gas is measured on chain.
  if (chain.name === "ActionFailed") return chain.args[0] === ts.args[0]
  if (chain.name === "EpochGasCapExceeded") return chain.args[0] === ts.args[0] && chain.args[2] === ts.args[2]
  const norm = (args: readonly unknown[]): string => args.map((x) => String(x).toLowerCase()).join(",")
  return norm(chain.args) === norm(ts.args)
}

/**
 * The verdict each in-band tag must reach at least once (RulesDifferential.t.sol `_inBandRescue`, `_aimInBand`,
 * `_inBandTag`): the calm rescue is accepted, a landing just outside the zone and the empty zone are
 * HealthOutsideLandingZone, the flag off is NoTrigger; a random world with the flag on below the target is due (any
 * verdict but NoTrigger).
 */
const inBandExpected: Record<string, (verdicts: Record<string, number>) => boolean> = {
  "calm rescue": (v) => (v.accepted ?? 0) > 0,
  "aimed landing": (v) => (v.HealthOutsideLandingZone ?? 0) > 0,
  "aimed empty zone": (v) => (v.HealthOutsideLandingZone ?? 0) > 0,
  "aimed flag off": (v) => (v.NoTrigger ?? 0) > 0,
  "random rescue": (v) => Object.keys(v).some((name) => name !== "NoTrigger"),
}
const inBand: Record<string, Record<string, number>> = {}
const mismatches: unknown[] = []
const counts: Record<string, number> = {}
/** Cases whose plan names a pool the keeper reads a fee from (either side), and how many of them the module accepted. */
const fees = { cases: 0, accepted: 0 }
for (const line of lines) {
  const [c] = decodeAbiParameters(layout, line as Hex) as [Decoded]
  const chain = moduleVerdict(c)
  const params = toParams(c)
  const verdict = checkRebalanceRules(params)
  const feePools = new Set(params.pools.filter((p) => p.entryFeeBps !== undefined || p.exitFeeBps !== undefined).map((p) => p.address.toLowerCase()))
  if (params.plan.actions.some((a) => a.pool !== undefined && feePools.has(a.pool.toLowerCase()))) {
    fees.cases++
    if (chain === "ok") fees.accepted++
  }
  const ts = verdict.ok ? "ok" : verdict.error
  // The swap adapter's own revert (not a module error) is what the rules call SwapAdapterRevert.
  const name = chain === "ok" ? "accepted" : chain.name.startsWith("undecoded") && ts !== "ok" && ts.name === "SwapAdapterRevert" ? "SwapAdapterRevert" : chain.name
  counts[name] = (counts[name] ?? 0) + 1
  if (typeof c.tag === "string" && c.tag !== "") {
    const tagged = (inBand[c.tag] ??= {})
    tagged[name] = (tagged[name] ?? 0) + 1
  }
  if (!sameVerdict(chain, ts)) mismatches.push({ index: c.index, module: chain, typescript: ts, case: c })
}
// Cases the forge side could not build (RulesDifferential.t.sol writes them beside the cases file).
const skippedFile = file.replace(/\.txt$/, "-skipped.txt")
const skipped = existsSync(skippedFile) ? readFileSync(skippedFile, "utf8").split("\n").filter(Boolean).length : 0
// Named errors of the rule book no case reached (the case mix aims at every one).
const missing = ruleErrorNames.filter((name) => counts[name] === undefined)
const accepted = counts.accepted ?? 0
const gaps = Object.entries(inBandExpected)
  .filter(([tag, reached]) => !reached(inBand[tag] ?? {}))
  .map(([tag]) => tag)
const inBandLine = Object.entries(inBand)
  .sort(([a], [b]) => a.localeCompare(b))
  .map(([tag, v]) => `; in-band ${tag}: ${Object.entries(v).sort(([, x], [, y]) => y - x).map(([name, n]) => `${name} ${n}`).join(", ")}`)
  .join("")
mkdirSync("reports", { recursive: true })
writeFileSync(
  "reports/rules-differential.json",
  JSON.stringify({ cases: lines.length, skipped, mismatches: mismatches.length, feeCases: fees.cases, feeAccepted: fees.accepted, acceptedShare: lines.length ? accepted / lines.length : 0, missing, verdicts: counts, inBand, inBandGaps: gaps }, null, 2) + "\n",
)
writeFileSync("reports/rules-differential-mismatches.json", show(mismatches) + "\n")
const first = mismatches[0] as { index: bigint; module: unknown; typescript: unknown } | undefined
process.stdout.write(
  `mismatches ${mismatches.length} of ${lines.length}; accepted ${accepted}; skipped ${skipped}; fee pools ${fees.cases} (accepted ${fees.accepted}); missing ${missing.length === 0 ? "none" : missing.join(",")}` +
    `${inBandLine}; in-band gaps ${gaps.length === 0 ? "none" : gaps.join(",")}` +
    (first ? `; first: case ${first.index} module ${show(first.module)} typescript ${show(first.typescript)}` : ""),
)
