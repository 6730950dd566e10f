import { spawnSync } from "node:child_process"
import { resolve } from "node:path"
import { describe, expect, test } from "vitest"
import { BenchUsageError } from "../bundler-client/bench/benchArgs.js"
import { fleetUsage, parseFleetArgs } from "../bundler-client/bench/fleetArgs.js"

// Helper nu49: `npm run bench:fleet` read its options with Number() after `node scripts/ensure-contracts.mjs` (4-6 minutes
// on a fresh clone): `--safes 0`, `--workers two` or `--block-time 1.5` then started Redis, anvil and Alto and ran with
// 0 or NaN, and `--help` (which the README's option list invites) crashed with a TypeError stack. Now one line naming
// the option, exit 2, before anything is built or started.

describe("bench:fleet's command line", () => {
  test("the defaults are the README's", () => {
    const args = parseFleetArgs([])
    expect(args).toMatchObject({ help: false, sizes: [1000, 5000], workerCounts: [1, 4], blockTime: 12, batchSize: 250, callGas: "50000000", inclusionBlocks: 60, stallBlocks: 10, pollIntervalMs: 250, headWaitShare: 0.8, edgeShare: 0.1, executors: 16, logLevel: "warn", workerMode: "processes", workerCount: "in-worker", out: "fleet.json" })
    expect(parseFleetArgs(["--help"])).toEqual({ help: true })
    for (const option of ["--safes", "--workers", "--block-time", "--batch-size", "--call-gas", "--poll-interval-ms", "--head-wait-share", "--inclusion-blocks", "--stall-blocks", "--edge-share", "--executors", "--max-bundle-gas", "--alto-queue-paymaster", "--alto-log", "--log-level", "--worker-mode", "--worker-count", "--worker-log", "--out"])
      expect(fleetUsage).toContain(option)
  })

  test("a value the bench cannot run is refused naming the option and the value", () => {
    const cases: [string[], RegExp][] = [
      [["--safes", "0"], /--safes must be a comma-separated list of positive integers, got "0"/],
      [["--safes", "1000,abc"], /--safes .* got "1000,abc"/],
      [["--safes", "4"], /--safes 4 with --edge-share 0.1 puts no Safe at the edge/],
      [["--workers", "two"], /--workers .* got "two"/],
      [["--block-time", "1.5"], /--block-time must be a positive integer .* got "1.5"/],
      [["--batch-size", "0"], /--batch-size .* got "0"/],
      [["--call-gas", "5e7"], /--call-gas .* got "5e7"/],
      [["--head-wait-share", "1"], /--head-wait-share must be a number from 0 to 0.95, got "1"/],
      [["--edge-share", "0"], /--edge-share must be a number above 0 and below 1, got "0"/],
      [["--log-level", "loud"], /--log-level must be one of trace, .* got "loud"/],
      [["--worker-mode", "threads"], /--worker-mode must be processes or in-process, got "threads"/],
      [["--worker-count", "x"], /--worker-count must be in-worker or proxy, got "x"/],
      [["--out", ""], /--out needs a value/],
      [["--frobnicate"], /Unknown option '--frobnicate'/],
      [["1000"], /Unexpected argument '1000'/],
    ]
    for (const [argv, message] of cases) {
      expect(() => parseFleetArgs(argv), argv.join(" ")).toThrow(BenchUsageError)
      expect(() => parseFleetArgs(argv), argv.join(" ")).toThrow(message)
    }
  })

  test("`npm run bench:fleet -- --safes 0` and `-- --help` answer at once, before ensure-contracts or any server", () => {
    const env = { ...process.env }
    delete env.FORGE_OUT
    const root = resolve(import.meta.dirname, "..")
    const bad = spawnSync("npm", ["run", "bench:fleet", "--", "--safes", "0"], { cwd: root, env, encoding: "utf8", timeout: 120_000 })
    const badOutput = `${bad.stdout}${bad.stderr}`
    expect(badOutput).toContain('bench:fleet: --safes must be a comma-separated list of positive integers, got "0"')
    expect(bad.status, badOutput).toBe(2)
    expect(badOutput).not.toContain("ensure-contracts")
    const help = spawnSync("npm", ["run", "bench:fleet", "--", "--help"], { cwd: root, env, encoding: "utf8", timeout: 120_000 })
    expect(help.stdout).toContain("Usage: npm run bench:fleet -- [options]")
    expect(help.status, `${help.stdout}${help.stderr}`).toBe(0)
    expect(`${help.stdout}${help.stderr}`).not.toContain("ensure-contracts")
  }, 240_000)
})
