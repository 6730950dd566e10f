import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { runCli } from "./run.js"
import { backtestCommand } from "./commands/backtest.js"
import { makeStartCommand } from "./commands/start.js"
import { keeperCommand } from "./commands/keeper.js"
import { KEEPER_CONFIG_FIELDS } from "../keeper/config.js"
import { commands } from "./commands/index.js"

function capture() {
  const out: string[] = []
  const err: string[] = []
  return { io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) }, out, err }
}

const dir = mkdtempSync(join(tmpdir(), "levpilot-"))

describe("levpilot", () => {
  it("lists the commands in --help and rejects unknown ones", async () => {
    const c = capture()
    expect(await runCli(["--help"], c.io)).toBe(0)
    expect(c.out.join("")).toMatch(/backtest/)
    const d = capture()
    expect(await runCli(["frobnicate"], d.io)).toBe(2)
    expect(d.err.join("")).toMatch(/unknown command "frobnicate"/)
  })

  // Helper nu48: `backtest`'s Usage lines did not name --strategies or --print-config, `start`'s not --keeper-log.
  it("every command's Usage lines name every option its Options section lists", () => {
    for (const command of commands) {
      const [usage, rest] = command.help.split(/\n\s*\n/, 1).concat(command.help.slice(command.help.indexOf("Options:"))) as [string, string]
      expect(usage, command.name).toMatch(/^Usage: levpilot /)
      const options = [...rest.matchAll(/^ {2}(--[a-z-]+)/gm)].map((m) => m[1] as string).filter((o) => o !== "--help")
      expect(options.length, command.name).toBeGreaterThan(0)
      const missing = options.filter((o) => !new RegExp(`${o}(?![a-z-])`).test(usage))
      expect(missing, `levpilot ${command.name}: options missing from its Usage lines`).toEqual([])
    }
  })

  // Helper nu49: the README says `levpilot keeper --help` prints the configuration fields; it left out "swap" and
  // "aaveDustThresholdBase", both accepted.
  it("keeper --help lists every top-level configuration field the keeper accepts", () => {
    const fields = keeperCommand.help.slice(keeperCommand.help.indexOf("Configuration fields:"))
    const missing = KEEPER_CONFIG_FIELDS.filter((f) => !new RegExp(`(^|[\\s,])${f}(?![A-Za-z])`, "m").test(fields))
    expect(missing).toEqual([])
  })

  // Helper nu49: `levpilot status --config fleet.json` (discovery, no "safes") printed "chain 31337, block N" and
  // nothing else, exit 0.
  it("status with a configuration that lists no Safe asks for --safe (exit 2) before reading the chain", async () => {
    const config = join(dir, "fleet.json")
    const base = {
      rpcUrl: "http://127.0.0.1:9",
      bundlerUrl: "http://127.0.0.1:9",
      deployment: { leverageModule: "0x1111111111111111111111111111111111111111", morphoBlueAdapter: "0x2222222222222222222222222222222222222222" },
    }
    writeFileSync(config, JSON.stringify({ ...base, discovery: { fromBlock: 0 } }))
    const c = capture()
    expect(await runCli(["status", "--config", config], c.io)).toBe(2)
    expect(c.err.join("")).toContain(`levpilot status: ${config} lists no Safe ("safes" and "allowlist" are empty; status does not run the fleet's discovery): pass --safe <address>`)
    // With an allowlist, those Safes are read (here the unreachable node answers: exit 1, not the usage error).
    writeFileSync(config, JSON.stringify({ ...base, discovery: { fromBlock: 0 }, allowlist: ["0x3333333333333333333333333333333333333333"] }))
    const d = capture()
    expect(await runCli(["status", "--config", config], d.io)).toBe(1)
    expect(d.err.join("")).not.toContain("lists no Safe")
  })

  it("documents every backtest flag in backtest --help", async () => {
    const c = capture()
    expect(await runCli(["backtest", "--help"], c.io)).toBe(0)
    for (const flag of ["--prices", "--policy", "--json", "--generate", "--seed", "--days", "--strategies", "--trader", "--network", "--print-config", "--help"]) expect(c.out.join("")).toContain(flag)
    expect(backtestCommand.help).toBe(c.out.join(""))
  })

  it("backtests a CSV file, prints a row per strategy and writes JSON", async () => {
    const csv = join(dir, "prices.csv")
    const rows = ["timestamp,ETH", ...Array.from({ length: 300 }, (_, i) => `${1_700_000_000 + 60 * i},${(3000 * Math.exp(-0.3 * (i / 299))).toFixed(4)}`)]
    writeFileSync(csv, `${rows.join("\n")}\n`)
    const json = join(dir, "out.json")
    const c = capture()
    expect(await runCli(["backtest", "--prices", csv, "--json", json], c.io)).toBe(0)
    const text = c.out.join("")
    for (const s of ["static", "threshold", "dfs-style", "autopilot"]) expect(text).toMatch(new RegExp(`^${s} `, "m"))
    for (const column of ["liq. loss", "penalty", "median", "p95", "interest", "swap fee+impact", "net P&L", "APY"]) expect(text).toContain(column)
    const report = JSON.parse(readFileSync(json, "utf8"))
    expect(report.results.map((r: { strategy: string }) => r.strategy)).toEqual(["static", "threshold", "dfs-style", "autopilot"])
    expect(report.results[1].carry.interest).toBeGreaterThan(0)
  })

  // A 2-minute file printed an APY of 153789.7 % (static; its P&L annualised): now "n/a (2 min)", the return over the
  // path on a line below, and "apy": null in the JSON (bundler-client/README.md, Metrics).
  it("gives no APY for prices spanning under a day, and says why", async () => {
    const csv = join(dir, "two-minutes.csv")
    writeFileSync(csv, "timestamp,ETH\n1700000000,3000\n1700000060,3010\n1700000120,3020\n")
    const json = join(dir, "two-minutes.json")
    const c = capture()
    expect(await runCli(["backtest", "--prices", csv, "--json", json], c.io)).toBe(0)
    const text = c.out.join("")
    expect(text).not.toContain("153789.7%")
    expect(text.match(/ n\/a \(2 min\)$/gm)).toHaveLength(4)
    expect(text).toMatch(/^APY n\/a: the prices span 2 min, under the 1 day .* return over the path \(net P&L \/ initial equity\): static 0\.585%, threshold/m)
    const report = JSON.parse(readFileSync(json, "utf8"))
    for (const r of report.results) expect(r).toMatchObject({ apy: null, spanSeconds: 120 })
  })

  it("runs the no-idle trader on L2 gas, and refuses an unknown trader or network", async () => {
    const c = capture()
    expect(await runCli(["backtest", "--trader", "no-idle", "--network", "l2", "--print-config"], c.io)).toBe(0)
    const config = JSON.parse(c.out.join(""))
    expect(config.pools).toEqual([])
    expect(config.swap.boost).toBe("swap")
    expect(config.gas.maxGwei).toBe(0.1)
    const d = capture()
    expect(await runCli(["backtest", "--generate", "2", "--trader", "whale"], d.io)).toBe(2)
    expect(d.err.join("")).toMatch(/unknown --trader "whale"/)
    const e = capture()
    expect(await runCli(["backtest", "--generate", "2", "--network", "moon"], e.io)).toBe(2)
  })

  it("refuses a price file in milliseconds, naming the line", async () => {
    const csv = join(dir, "ms.csv")
    writeFileSync(csv, "timestamp,ETH\n1700000000000,3000\n1700000060000,2990\n")
    const c = capture()
    expect(await runCli(["backtest", "--prices", csv], c.io)).toBe(1)
    expect(c.err.join("")).toContain(`${csv}:2: timestamp 1700000000000 looks like milliseconds`)
  })

  it("refuses a relative-millisecond file naming the line, and reads it with --time-unit ms", async () => {
    const csv = join(dir, "rel-ms.csv")
    writeFileSync(csv, `timestamp,ETH\n${Array.from({ length: 30 }, (_, i) => `${60_000 * i},${3000 - i}`).join("\n")}\n`)
    const c = capture()
    expect(await runCli(["backtest", "--prices", csv, "--strategies", "static"], c.io)).toBe(1)
    expect(c.err.join("")).toContain(`${csv}:3: timestamps count from 0 in steps that are all multiples of 1,000`)
    const d = capture()
    expect(await runCli(["backtest", "--prices", csv, "--strategies", "static", "--time-unit", "ms"], d.io)).toBe(0)
    const e = capture()
    expect(await runCli(["backtest", "--prices", csv, "--time-unit", "h"], e.io)).toBe(2)
  })

  it("names the line of a bad price file and exits 1", async () => {
    const csv = join(dir, "bad.csv")
    writeFileSync(csv, "timestamp,ETH\n0,3000\n60,oops\n")
    const c = capture()
    expect(await runCli(["backtest", "--prices", csv], c.io)).toBe(1)
    expect(c.err.join("")).toContain(`${csv}:3: price of ETH "oops"`)
  })

  it("reports usage errors with exit code 2", async () => {
    const c = capture()
    expect(await runCli(["backtest"], c.io)).toBe(2)
    expect(c.err.join("")).toMatch(/exactly one of --prices/)
    const d = capture()
    expect(await runCli(["backtest", "--generate", "2", "--bogus"], d.io)).toBe(2)
    const e = capture()
    expect(await runCli(["backtest", "--generate", "-3"], e.io)).toBe(2)
    // Helper nu49: Number() read these as 100, 16, 0 and 3 and ran; decimal digits only, as backtest:suite.
    const cases: [string, string, string[]][] = [
      ["--generate", "1e2", ["--generate", "1e2", "--days", "1"]],
      ["--seed", "0x10", ["--generate", "1", "--seed", "0x10", "--days", "1"]],
      ["--seed", "", ["--generate", "1", "--seed", "", "--days", "1"]],
      ["--seed", "1.5", ["--generate", "1", "--seed", "1.5", "--days", "1"]],
      ["--days", "0x3", ["--generate", "1", "--days", "0x3"]],
    ]
    for (const [flag, value, argv] of cases) {
      const f = capture()
      expect(await runCli(["backtest", ...argv], f.io), argv.join(" ")).toBe(2)
      expect(f.err.join(""), argv.join(" ")).toMatch(new RegExp(`${flag} must be .*written in decimal digits, got "${value.replace(".", "\\.")}"`))
    }
  })

  it("applies a --policy file and runs generated paths", async () => {
    const policy = join(dir, "policy.json")
    writeFileSync(policy, JSON.stringify({ policy: { tolerance: 0.01 }, strategies: ["threshold", "autopilot"] }))
    const json = join(dir, "gen.json")
    const c = capture()
    expect(await runCli(["backtest", "--generate", "5", "--days", "1", "--policy", policy, "--json", json], c.io)).toBe(0)
    const report = JSON.parse(readFileSync(json, "utf8"))
    expect(report.config.policy.tolerance).toBe(0.01)
    expect(report.suite.totals.map((t: { strategy: string }) => t.strategy)).toEqual(["threshold", "autopilot"])
    expect(Object.keys(report.suite.byKind)).toEqual(["gbm", "jumps", "regime", "crash30", "crash45"])
  })

  // Helper nu49: `npm start -- --blocks 0` built the contracts (4-6 minutes on a fresh clone) before its flags were read;
  // a --prices file in milliseconds was told to "pass --time-unit ms", a flag start did not take; a two-column file
  // that was not WETH,WBTC was silently read as one relative path; --crash with --prices was ignored.
  describe("start checks every flag and its --prices file before building the contracts", () => {
    const calls: string[] = []
    const start = makeStartCommand({
      ensureContracts: () => void calls.push("ensure-contracts"),
      loadDemo: async () => {
        calls.push("load-demo")
        throw new Error("stop: the demo is not run here")
      },
    })
    const run = async (argv: string[]) => {
      calls.length = 0
      const c = capture()
      const code = await runCli(["start", ...argv], c.io, [start])
      return { code, err: c.err.join(""), calls: [...calls] }
    }
    const csv = (name: string, text: string) => {
      const path = join(dir, name)
      writeFileSync(path, text)
      return path
    }

    it("refuses a bad flag with exit 2 naming it, before anything is built", async () => {
      const ok = csv("start-ok.csv", "timestamp,WETH,WBTC\n1700000000,3000,60000\n1700000060,2900,59000\n")
      const cases: [string[], RegExp][] = [
        [["--blocks", "0"], /--blocks must be a positive integer, got "0"/],
        [["--blocks", "2.5"], /--blocks must be a positive integer, got "2.5"/],
        [["--blocks", ""], /--blocks must be a positive integer, got ""/],
        [["--crash", "0.95"], /--crash must be below 0.95, got "0.95"/],
        [["--crash=-0.1"], /--crash must be a positive number, got "-0.1"/],
        [["--block-time", "0"], /--block-time must be a positive integer, got "0"/],
        [["--fast", "--blocks", "10"], /pass one of --fast or --blocks/],
        [["--buffers", "--swap"], /--buffers and --swap exclude each other/],
        [["--prices", ok, "--crash", "0.3"], /--crash .* does not apply to --prices/],
        [["--time-unit", "ms"], /--time-unit .* pass it with --prices/],
        [["--prices", ok, "--time-unit", "h"], /--time-unit must be s or ms, got "h"/],
        [["--prices", ""], /--prices needs a value/],
        [["--report", dir], new RegExp(`--report ${dir}: cannot write there \\(it is a directory\\)`)],
        [["--json", join(ok, "out.json")], /--json .*out\.json: cannot write there/],
        [["--no-such-flag"], /Unknown option '--no-such-flag'/],
        [["stray"], /Unexpected argument 'stray'/],
      ]
      for (const [argv, message] of cases) {
        const r = await run(argv)
        expect(r.code, argv.join(" ")).toBe(2)
        expect(r.err, argv.join(" ")).toMatch(message)
        expect(r.calls, argv.join(" ")).toEqual([])
      }
    })

    it("refuses a bad --prices file naming the line and field (exit 1), before anything is built", async () => {
      const cases: [string, RegExp][] = [
        ["timestamp,WETH\n1700000000000,3000\n1700000060000,2900\n", /:2: timestamp 1700000000000 looks like milliseconds/],
        ["timestamp,WETH\n1700000000,3000\n1700000000,2900\n", /:3: timestamp 1700000000 repeats the previous row's/],
        ["timestamp,WETH\n1700000060,3000\n1700000000,2900\n", /:3: timestamp 1700000000 goes backwards/],
        ["timestamp,WETH\n", /:1: the header is followed by no price row; needs at least two/],
        ["timestamp,WETH\n1700000000,3000\n1700000060,abc\n", /:3: price of WETH "abc" is not a decimal number/],
        ["timestamp,WETH\n1700000000,3000\n1700000060,-2900\n", /:3: price of WETH "-2900" must be a number > 0/],
        ["timestamp,WETH,WBTC\n1700000000,3000,60000\n1700000060,2900\n", /:3: expected 3 fields \(timestamp,WETH,WBTC\), got 2: no WBTC/],
        ["timestamp,ETH,BTC\n1700000000,3000,60000\n1700000060,2900,59000\n", /:1: columns ETH, BTC: the demo reads a WETH and a WBTC column/],
        ["timestamp,WETH,WBTC,USDC\n1700000000,3000,60000,1\n1700000060,2900,59000,1\n", /:1: column\(s\) USDC are not demo assets/],
      ]
      for (const [i, [text, message]] of cases.entries()) {
        const path = csv(`start-bad-${i}.csv`, text)
        const r = await run(["--prices", path])
        expect(r.code, text).toBe(1)
        expect(r.err, text).toContain(`PriceFileError: ${path}`)
        expect(r.err, text).toMatch(message)
        expect(r.calls, text).toEqual([])
      }
    })

    it("reads CRLF, BOM and millisecond files (with --time-unit ms), then builds the contracts and only then loads the demo", async () => {
      const files = [
        ["\uFEFFtimestamp,WETH,WBTC\r\n1700000000,3000,60000\r\n1700000060,2900,59000\r\n", []],
        ["timestamp,ETH\n1700000000000,3000\n1700000060000,2900\n", ["--time-unit", "ms"]],
      ] as const
      for (const [i, [text, flags]] of files.entries()) {
        const r = await run(["--prices", csv(`start-good-${i}.csv`, text), ...flags, "--report", join(dir, "start-report.html")])
        expect(r.err).toContain("stop: the demo is not run here")
        expect(r.code).toBe(1)
        expect(r.calls).toEqual(["ensure-contracts", "load-demo"])
      }
      const r = await run(["--fast", "--no-tty", "--report", join(dir, "not-yet", "deeper", "start-report.html")])
      expect(r.calls).toEqual(["ensure-contracts", "load-demo"])
      // Checked, not created: an installed package (no demo) leaves no empty reports/ behind.
      expect(existsSync(join(dir, "not-yet"))).toBe(false)
    })
  })
})
