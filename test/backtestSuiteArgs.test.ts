import { execFile } from "node:child_process"
import { describe, expect, test } from "vitest"
import { BenchUsageError } from "../bundler-client/bench/benchArgs"
import { parseSuiteArgs, pathsPerFamily } from "../bundler-client/bench/suiteArgs"
import { SCENARIO_KINDS } from "../bundler-client/src/prices/generator"

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
    expect(parse()).toEqual({ help: false, count: 1100, baseSeed: 1000, workers: 2, traders: ["buffered", "no-idle"], network: "mainnet", kinds: [...SCENARIO_KINDS] })
    expect(parse("--help")).toEqual({ help: true })
    expect(parse("--paths", "2", "--seed=-5", "--trader", "no-idle", "--network", "l2", "--kinds", "gbm,crash45", "--workers", "1")).toEqual({
      help: false, count: 2, baseSeed: -5, workers: 1, traders: ["no-idle"], network: "l2", kinds: ["gbm", "crash45"],
    })
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
  }, 120_000)
})
