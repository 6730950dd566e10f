import { spawnSync } from "node:child_process"
import { resolve } from "node:path"
import { describe, expect, test } from "vitest"
import { BenchUsageError, decimalInteger } from "../bundler-client/bench/benchArgs.js"
import { latencyUsage, parseLatencyArgs, parseSwapGasArgs, swapGasUsage } from "../bundler-client/bench/devnetBenchArgs.js"

// Helper nu49: `npm run bench:latency -- --help` and `npm run bench:gas:devnet -- --help` ran
// `node scripts/ensure-contracts.mjs` first (minutes on a fresh clone), then crashed with a TypeError stack (an
// unknown option to node's strict parseArgs); `--shocks two` ran 0 shocks with NaN. Now both read their options before
// the build, as backtest:suite and bench:fleet: one line naming the option, exit 2; `--help` prints the usage, exit 0.

const refused = (parse: (argv: string[]) => unknown, argv: string[], message: RegExp) => {
  expect(() => parse(argv), argv.join(" ")).toThrow(BenchUsageError)
  expect(() => parse(argv), argv.join(" ")).toThrow(message)
}

describe("bench:latency's and bench:gas:devnet's command lines", () => {
  test("the defaults, --help, and the usage lists every option", () => {
    expect(parseLatencyArgs([])).toEqual({ help: false, shocks: 24, blockTime: 1, out: "reports/latency.json" })
    expect(parseLatencyArgs(["--shocks", "4", "--block-time=2", "--out", "/tmp/l.json"])).toEqual({ help: false, shocks: 4, blockTime: 2, out: "/tmp/l.json" })
    expect(parseLatencyArgs(["--help"])).toEqual({ help: true })
    for (const option of ["--shocks", "--block-time", "--out", "--help"]) expect(latencyUsage).toContain(option)
    expect(parseSwapGasArgs([])).toEqual({ help: false, out: "reports/gas-devnet.json" })
    expect(parseSwapGasArgs(["--help"])).toEqual({ help: true })
    for (const option of ["--out", "--help"]) expect(swapGasUsage).toContain(option)
  })

  test("a value the bench cannot run is refused naming the option and the value", () => {
    refused(parseLatencyArgs, ["--shocks", "0"], /^--shocks must be a positive integer written in decimal digits, got "0"$/)
    refused(parseLatencyArgs, ["--shocks", "two"], /--shocks .* got "two"/)
    refused(parseLatencyArgs, ["--shocks", "1e2"], /--shocks .* got "1e2"/)
    refused(parseLatencyArgs, ["--block-time", "1.5"], /--block-time .* got "1.5"/)
    refused(parseLatencyArgs, ["--block-time", "0"], /--block-time .* got "0"/)
    refused(parseLatencyArgs, ["--out", ""], /--out needs a value/)
    refused(parseLatencyArgs, ["--bogus"], /Unknown option '--bogus'/)
    refused(parseLatencyArgs, ["--shocks"], /'--shocks <value>' argument missing/)
    refused(parseLatencyArgs, ["12"], /Unexpected argument '12'/)
    refused(parseSwapGasArgs, ["--shocks", "3"], /Unknown option '--shocks'/)
    refused(parseSwapGasArgs, ["--out", " "], /--out needs a value/)
    refused(parseSwapGasArgs, ["x.json"], /Unexpected argument 'x.json'/)
  })

  test("the shared decimal integer: signs, forms and range", () => {
    expect(decimalInteger("n", "12")).toBe(12)
    expect(decimalInteger("n", "-7", "any")).toBe(-7)
    expect(() => decimalInteger("n", "-7")).toThrow(/--n must be a positive integer written in decimal digits, got "-7"/)
    expect(() => decimalInteger("n", "0x10", "any")).toThrow(/--n must be an integer written in decimal digits, got "0x10"/)
    expect(() => decimalInteger("n", "9007199254740993")).toThrow(BenchUsageError)
  })

  // With FORGE_OUT removed, ensure-contracts would run forge build (minutes on a fresh clone): neither may reach it.
  for (const [script, bad, message] of [
    ["bench:latency", ["--shocks", "two"], 'bench:latency: --shocks must be a positive integer written in decimal digits, got "two"'],
    ["bench:gas:devnet", ["--bogus"], "bench:gas:devnet: Unknown option '--bogus'"],
  ] as const)
    test(`\`npm run ${script} -- ${bad.join(" ")}\` and \`-- --help\` answer at once, before ensure-contracts or the devnet`, () => {
      const env = { ...process.env }
      delete env.FORGE_OUT
      const root = resolve(import.meta.dirname, "..")
      const run = (argv: readonly string[]) => spawnSync("npm", ["run", script, "--", ...argv], { cwd: root, env, encoding: "utf8", timeout: 120_000 })
      const refusedRun = run(bad)
      const refusedOutput = `${refusedRun.stdout}${refusedRun.stderr}`
      expect(refusedOutput).toContain(message)
      expect(refusedOutput).toContain(`See npm run ${script} -- --help.`)
      expect(refusedOutput).not.toMatch(/ensure-contracts|TypeError|at parseArgs/)
      expect(refusedRun.status, refusedOutput).toBe(2)
      const help = run(["--help"])
      const helpOutput = `${help.stdout}${help.stderr}`
      expect(help.stdout).toContain(`Usage: npm run ${script} -- [options]`)
      expect(helpOutput).not.toContain("ensure-contracts")
      expect(help.status, helpOutput).toBe(0)
    }, 240_000)
})
