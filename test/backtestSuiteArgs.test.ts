import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, test } from "vitest"
import { BenchUsageError } from "../bundler-client/bench/benchArgs"
import { parseSuiteArgs, pathsPerFamily, readConfigOverlay, stepLabel } from "../bundler-client/bench/suiteArgs"
import { pathAtStep as suitePath, SCENARIO_KINDS } from "../bundler-client/src/prices/generator"

// Helper nu48 (a new user's first runs): `npm run backtest:suite -- --kinds foo`, `--paths 0`, `--paths abc` and
// `--seed xyz` threw from the script's top level (exit 1, a Node stack trace and the source line), and `--seed 1e3` /
// `--paths 0x10` were read as 1000 / 16; `--paths 2` titled its scorecard "(0 per family)".

const root = new URL("..", import.meta.url).pathname
const parse = (...argv: string[]) => parseSuiteArgs(argv, 2)
const refused = (argv: string[], message: RegExp) => {
  expect(() => parse(...argv)).toThrow(BenchUsageError)
  expect(() => parse(...argv)).toThrow(message)
}

describe("backtest:suite's command line", () => {
  test("the defaults: 1,100 paths from seed 1000 over every family, both traders, mainnet gas", () => {
    expect(parse()).toEqual({ help: false, count: 1100, baseSeed: 1000, workers: 2, traders: ["buffered", "no-idle"], network: "mainnet", kinds: [...SCENARIO_KINDS], config: {}, stepSeconds: 60 })
    expect(parse("--help")).toEqual({ help: true })
    expect(parse("--paths", "2", "--seed=-5", "--trader", "no-idle", "--network", "l2", "--kinds", "gbm,crash45", "--workers", "1")).toEqual({
      help: false, count: 2, baseSeed: -5, workers: 1, traders: ["no-idle"], network: "l2", kinds: ["gbm", "crash45"], config: {}, stepSeconds: 60,
    })
    expect(parse("--step-seconds", "3600")).toMatchObject({ stepSeconds: 3600 })
    expect(suitePath(300)).toEqual({ stepSeconds: 300, points: 865 })
    expect(suitePath(21_600)).toEqual({ stepSeconds: 21_600, points: 13 })
    expect(suitePath(7)).toEqual({ stepSeconds: 7, points: Math.floor(259_200 / 7) + 1 })
    expect([60, 90, 300, 3600, 7200].map(stepLabel)).toEqual(["1-minute steps", "90-second steps", "5-minute steps", "1-hour steps", "2-hour steps"])
  })

  test("every bad value is a usage error naming the option and the value", () => {
    refused(["--paths", "0"], /^--paths must be a positive integer written in decimal digits, got "0"$/)
    refused(["--paths", "abc"], /--paths .* got "abc"/)
    refused(["--paths", "1.5"], /--paths .* got "1.5"/)
    refused(["--paths", "0x10"], /--paths .* got "0x10"/)
    refused(["--paths", "99999999999999999999"], /--paths .* got "99999999999999999999"/)
    refused(["--seed", "xyz"], /^--seed must be an integer written in decimal digits, got "xyz"$/)
    refused(["--seed", "1e3"], /--seed .* got "1e3"/)
    refused(["--seed", ""], /--seed .* got ""/)
    refused(["--workers", "0"], /--workers .* got "0"/)
    refused(["--kinds", "foo"], /unknown family "foo" in --kinds \(use gbm, jumps/)
    refused(["--kinds", "gbm,,jumps"], /unknown family "" in --kinds/)
    refused(["--trader", "bob"], /unknown --trader "bob"/)
    refused(["--trader", "constructor"], /unknown --trader "constructor"/)
    refused(["--network", "moon"], /unknown --network "moon" \(use mainnet, l2\)/)
    refused(["--network", "toString"], /unknown --network "toString"/)
    refused(["--bogus"], /Unknown option '--bogus'/)
    refused(["--paths"], /'--paths <value>' argument missing/)
    refused(["--paths", "5", "extra"], /Unexpected argument 'extra'/)
    refused(["--step-seconds", "0"], /^--step-seconds must be a positive integer written in decimal digits, got "0"$/)
    refused(["--step-seconds", "1.5"], /--step-seconds .* got "1.5"/)
    refused(["--step-seconds", "21601"], /^--step-seconds must be at most 21600 \(6 hours\), got "21601"$/)
  })

  // Helper tl49: `--config` (issue 13's tailDrop lever measured on the scorecard), read by the one function
  // bench/heldout-scan.ts uses too.
  test("--config: a JSON object inline or in a file, checked against every trader's configuration", () => {
    expect(parse("--config", '{"policy":{"tailDrop":0.2}}')).toMatchObject({ help: false, config: { policy: { tailDrop: 0.2 } } })
    const file = join(mkdtempSync(join(tmpdir(), "tl49-")), "c.json")
    writeFileSync(file, '{"policy":{"tailDrop":0.15},"keeper":{"pollSeconds":60}}')
    expect(parse("--config", file)).toMatchObject({ config: { policy: { tailDrop: 0.15 }, keeper: { pollSeconds: 60 } } })
    refused(["--config", '{"policy":{"tailDrp":0.2}}'], /^--config, trader "buffered": .*unknown key "policy\.tailDrp"/)
    refused(["--config", '{"polcy":{}}'], /unknown key "polcy"/)
    refused(["--config", '{"policy":{"tailDrop":1}}'], /^--config, trader "buffered": .*tailDrop must be in \[0, 1\), got 1/)
    refused(["--trader", "no-idle", "--config", '{"policy":{"tailDrop":-0.1}}'], /^--config, trader "no-idle": .*tailDrop/)
    refused(["--config", '{"policy":'], /^--config: not JSON/)
    refused(["--config", "[1]"], /^--config: expected a JSON object$/)
    refused(["--config", "/nonexistent/tl49.json"], /^--config: "\/nonexistent\/tl49\.json" is neither a JSON object nor a readable file/)
    refused(["--network", "l2", "--config", '{"gas":{"minGwei":1e9}}'], /^--config, trader "buffered": .*gas: need 0 < minGwei <= maxGwei/)
    expect(readConfigOverlay(undefined, ["buffered"])).toEqual({})
  })

  test("the scorecard's title says how the paths fall on the families", () => {
    expect(pathsPerFamily(1100, SCENARIO_KINDS)).toBe("100 per family")
    expect(pathsPerFamily(12, SCENARIO_KINDS)).toBe("1-2 per family")
    expect(pathsPerFamily(2, SCENARIO_KINDS)).toBe("1 per family in 2 of 11 families: gbm, jumps")
    expect(pathsPerFamily(3, ["crash30"])).toBe("3 per family")
  })

  test("the script exits 2 with one line naming the option, no stack trace, and runs nothing", async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
        execFile("npx", ["tsx", "--conditions=@levpilot/source", "bundler-client/bench/backtest-suite.ts", ...args], { cwd: root, encoding: "utf8", timeout: 60_000 }, (error, stdout, stderr) =>
          done({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr }),
        ),
      )
    const cases: [string[], RegExp][] = [
      [["--kinds", "foo"], /^backtest:suite: unknown family "foo" in --kinds/],
      [["--paths", "0"], /^backtest:suite: --paths must be a positive integer/],
      [["--seed", "xyz"], /^backtest:suite: --seed must be an integer/],
      [["--bogus"], /^backtest:suite: Unknown option '--bogus'/],
      [["--config", '{"policy":{"tailDrp":0.2}}'], /^backtest:suite: --config, trader "buffered": .*unknown key "policy\.tailDrp"/],
      [["--step-seconds", "86400"], /^backtest:suite: --step-seconds must be at most 21600/],
    ]
    const results = await Promise.all(cases.map(([args]) => run(args)))
    results.forEach((r, i) => {
      const [args, message] = cases[i] as [string[], RegExp]
      expect(r.code, args.join(" ")).toBe(2)
      expect(r.stderr, args.join(" ")).toMatch(message)
      expect(r.stderr, args.join(" ")).not.toMatch(/\n\s+at |Node\.js v|\^/)
      expect(r.stderr.trim().split("\n"), args.join(" ")).toHaveLength(2)
      expect(r.stdout, args.join(" ")).toBe("")
    })
    // bench/heldout-scan.ts reads --config with the same function: the same refusal, exit 2.
    const scan = await new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
      execFile("npx", ["tsx", "--conditions=@levpilot/source", "bundler-client/bench/heldout-scan.ts", "--seeds", "1", "--config", '{"policy":{"tailDrp":0.2}}'], { cwd: root, encoding: "utf8", timeout: 60_000 }, (error, stdout, stderr) =>
        done({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr }),
      ),
    )
    expect(scan.code).toBe(2)
    expect(scan.stderr).toMatch(/^heldout-scan: --config, trader "buffered": .*unknown key "policy\.tailDrp"\nSee bundler-client\/bench\/heldout-scan\.ts --help\.\n$/)
    expect(scan.stdout).toBe("")
  }, 120_000)

  test("--config reaches the run: the overlay is in the title and in every trader's resolved configuration", async () => {
    const { code, stdout } = await new Promise<{ code: number; stdout: string }>((done) =>
      execFile("npx", ["tsx", "--conditions=@levpilot/source", "bundler-client/bench/backtest-suite.ts", "--paths", "1", "--kinds", "gbm", "--workers", "1", "--config", '{"policy":{"tailDrop":0.15}}'], { cwd: root, encoding: "utf8", timeout: 120_000 }, (error, stdout) =>
        done({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout }),
      ),
    )
    expect(code).toBe(0)
    expect(stdout).toContain('3 days at 1-minute steps, --config {"policy":{"tailDrop":0.15}}.')
    const report = JSON.parse(readFileSync(join(root, "reports", "backtest-suite.json"), "utf8")) as { config: unknown; traders: Record<string, { config: { policy: { tailDrop?: number; targetHealth: number } } }> }
    expect(report.config).toEqual({ policy: { tailDrop: 0.15 } })
    expect(Object.keys(report.traders)).toEqual(["buffered", "no-idle"])
    for (const t of Object.values(report.traders)) {
      expect(t.config.policy.tailDrop).toBe(0.15)
      expect(t.config.policy.targetHealth).toBe(1.4) // the rest of the policy kept: objects merge key by key
    }
  }, 180_000)

  // Stop 57: price data sampled coarser than the keeper's poll (issue 13's rule on 5-minute and hourly prices).
  test("--step-seconds reaches the run: the title, the JSON and every generated path use it", async () => {
    const { code, stdout } = await new Promise<{ code: number; stdout: string }>((done) =>
      execFile("npx", ["tsx", "--conditions=@levpilot/source", "bundler-client/bench/backtest-suite.ts", "--paths", "2", "--kinds", "crash30", "--workers", "2", "--trader", "no-idle", "--step-seconds", "3600"], { cwd: root, encoding: "utf8", timeout: 120_000 }, (error, stdout) =>
        done({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout }),
      ),
    )
    expect(code).toBe(0)
    expect(stdout).toContain("3 days at 1-hour steps.")
    const report = JSON.parse(readFileSync(join(root, "reports", "backtest-suite.json"), "utf8")) as { stepSeconds: number; traders: Record<string, { suite: { path: { stepSeconds: number; points: number }; totals: { paths: number }[] } }> }
    expect(report.stepSeconds).toBe(3600)
    const suite = report.traders["no-idle"]?.suite
    expect(suite?.path).toMatchObject({ stepSeconds: 3600, points: 73 })
    expect(suite?.totals.map((t) => t.paths)).toEqual([2, 2, 2, 2])
  }, 180_000)
})
