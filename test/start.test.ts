import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { describe, expect, test } from "vitest"

const cli = resolve(import.meta.dirname, "../bundler-client/bin/levpilot.mjs")

function levpilot(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [cli, ...args], { cwd: resolve(import.meta.dirname, ".."), stdio: ["ignore", "pipe", "pipe"] })
  let text = ""
  child.stdout?.on("data", (chunk: Buffer) => {
    text += chunk.toString()
  })
  child.stderr?.on("data", (chunk: Buffer) => {
    text += chunk.toString()
  })
  const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)))
  return { child, output: () => text, exited }
}

describe("levpilot start", () => {
  test("runs the demo without a terminal: the managed Safe stays healthy, the twin is liquidated, the report is written", async () => {
    const dir = mkdtempSync(join(tmpdir(), "levpilot-start-"))
    const report = join(dir, "report.html")
    const json = join(dir, "run.json")
    const run = levpilot(["start", "--blocks", "20", "--no-tty", "--report", report, "--json", json, "--keeper-log", join(dir, "keeper.log")])
    const code = await run.exited
    const output = run.output()
    expect(output, output).toContain("RESULT: the managed Safe stayed healthy; the unmanaged twin was liquidated.")
    expect(code).toBe(0)
    const html = readFileSync(report, "utf8")
    expect(html).toContain("<svg")
    expect(html).toContain("Health over time")
    // Issue 17: the Safes hold Morpho Blue markets and an Aave v3 account; every sub-account is named with its venue.
    expect(html).toContain("managed Morpho Blue WETH/USDC")
    expect(html).toContain("managed Aave v3 WETH/USDC")
    expect(html).toContain("<td>aave-v3</td>")
    expect(output).toContain("Aave v3 WETH/USDC [venue aave-v3]")
    expect(output).toContain("Morpho Blue WETH/USDC [venue morpho-blue]")
    const { summary, rebalances, steps } = JSON.parse(readFileSync(json, "utf8")) as {
      summary: {
        ok: boolean
        managed: { liquidations: number; positions: Record<string, { venue: string; liquidations: number }> }
        twin: { liquidated: boolean; positions: Record<string, { venue: string; liquidations: number }> }
        rebalances: { count: number; sponsored: number }
      }
      rebalances: { success: boolean; actions: string[] }[]
      steps: { netValue: Record<"managed" | "twin", { idle: Record<string, number>; pools: Record<string, { amount: number }> }> }[]
    }
    expect(summary.managed.positions["Aave v3 WETH/USDC"]?.venue).toBe("aave-v3")
    expect(summary.managed.positions["Morpho Blue WBTC/USDC"]?.venue).toBe("morpho-blue")
    expect(summary.managed.positions["Aave v3 WETH/USDC"]?.liquidations).toBe(0)
    // The keeper managed the Aave account through the crash (rebalances name it), and the twin's was liquidated on Aave.
    expect(rebalances.some((r) => r.success && r.actions.some((a) => a.endsWith("on Aave v3 WETH/USDC")))).toBe(true)
    expect(summary.twin.positions["Aave v3 WETH/USDC"]?.liquidations).toBeGreaterThan(0)
    // Issue 12: the Morpho markets are the no-idle trader's (the Safe starts with no idle USDC; the vault holds only what
    // was borrowed on Aave, the Aave account's buffer): the keeper rescues them by selling collateral inside Morpho's
    // repay callback, in a sponsored operation that succeeds.
    expect(steps[0]?.netValue.managed.idle.USDC).toBe(0)
    expect(steps[0]?.netValue.managed.pools.yUSDC?.amount).toBeLessThan(18_000)
    for (const market of ["Morpho Blue WETH/USDC", "Morpho Blue WBTC/USDC"])
      expect(rebalances.some((r) => r.success && r.actions.some((a) => a.startsWith("SellCollateral") && a.endsWith(`on ${market}`))), market).toBe(true)
    expect(summary.ok).toBe(true)
    expect(summary.managed.liquidations).toBe(0)
    expect(summary.twin.liquidated).toBe(true)
    expect(summary.rebalances.count).toBeGreaterThan(0)
    expect(summary.rebalances.sponsored).toBe(summary.rebalances.count)
    expect(readFileSync(join(dir, "keeper.log"), "utf8")).toContain('"msg":"rebalance included"')
  }, 300_000) // the demo runs minutes on a loaded 2-core machine

  test("Ctrl-C stops the chain, the bundler and the keeper and still writes the report", async () => {
    const dir = mkdtempSync(join(tmpdir(), "levpilot-start-"))
    const report = join(dir, "report.html")
    const run = levpilot(["start", "--blocks", "200", "--no-tty", "--report", report, "--keeper-log", join(dir, "keeper.log")])
    while (!/step 3\//.test(run.output())) {
      if (run.child.exitCode !== null) throw new Error(run.output())
      await new Promise((r) => setTimeout(r, 100))
    }
    const rpcUrl = /anvil (http:\/\/127\.0\.0\.1:\d+)/.exec(run.output())?.[1] as string
    const bundlerUrl = /Alto (http:\/\/127\.0\.0\.1:\d+)/.exec(run.output())?.[1] as string
    run.child.kill("SIGINT")
    const code = await run.exited
    expect(code).toBe(130)
    expect(run.output()).toContain("Stopping (Ctrl-C)")
    expect(run.output()).toContain("RESULT: none, the run was stopped by Ctrl-C before the scenario's end.")
    expect(run.output()).not.toContain("not the expected outcome")
    expect(existsSync(report)).toBe(true)
    for (const url of [rpcUrl, bundlerUrl])
      await expect(fetch(url, { method: "POST", body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' })).rejects.toThrow()
  }, 300_000) // the demo runs minutes on a loaded 2-core machine
})

describe("fresh clone: every CLI command that reads forge's out/ builds it first, once its command line is checked", () => {
  test("`levpilot start` and `npm start` refuse a bad flag or --prices file at once, before ensure-contracts builds anything; `levpilot status` never builds", async () => {
    // Helper nu49: both ran scripts/ensure-contracts.mjs (4-6 minutes of forge build on a fresh clone) before reading a
    // flag. Without FORGE_OUT, so a build would run (and print its line) if it came first. That start runs the build
    // once its flags are checked is shown by bundler-client/src/cli/cli.test.ts (and by the demo runs above).
    const env = { ...process.env }
    delete env.FORGE_OUT
    const bad = join(mkdtempSync(join(tmpdir(), "levpilot-start-")), "ms.csv")
    writeFileSync(bad, "timestamp,WETH\n1700000000000,3000\n1700000060000,2900\n")
    const runs: [string, string[], number, string][] = [
      [process.execPath, [cli, "start", "--blocks", "0"], 2, '--blocks must be a positive integer, got "0"'],
      [process.execPath, [cli, "start", "--no-such-flag"], 2, "--no-such-flag"],
      [process.execPath, [cli, "start", "--prices", bad], 1, `${bad}:2: timestamp 1700000000000 looks like milliseconds`],
      ["npm", ["start", "--", "--blocks", "0"], 2, '--blocks must be a positive integer, got "0"'],
      ["npm", ["start", "--", "--prices", bad], 1, `${bad}:2: timestamp 1700000000000 looks like milliseconds`],
    ]
    for (const [command, args, code, message] of runs) {
      const run = spawnSync(command, args, { cwd: resolve(import.meta.dirname, ".."), env, encoding: "utf8", timeout: 600_000 })
      const output = `${run.stdout}${run.stderr}`
      expect(output, args.join(" ")).toContain(message)
      expect(run.status, output).toBe(code)
      expect(output, args.join(" ")).not.toContain("ensure-contracts")
    }
    const status = levpilot(["status", "--no-such-flag"])
    expect(await status.exited).not.toBe(0)
    expect(status.output()).not.toContain("ensure-contracts")
  }, 600_000)

  test("`node sdk/scripts/gen-abis.mjs --check` with its artifacts elsewhere and missing names the file and the build command", async () => {
    // With out/ present it builds nothing (abis.test: empty stderr); a fresh clone's missing out/ runs
    // scripts/ensure-contracts.mjs first. FORGE_OUT skips that build, so an empty directory shows the error path.
    const empty = mkdtempSync(join(tmpdir(), "levpilot-out-"))
    const child = spawn(process.execPath, [resolve(import.meta.dirname, "../sdk/scripts/gen-abis.mjs"), "--check"], {
      cwd: resolve(import.meta.dirname, ".."),
      env: { ...process.env, FORGE_OUT: empty },
      stdio: ["ignore", "pipe", "pipe"],
    })
    let text = ""
    child.stderr?.on("data", (chunk: Buffer) => {
      text += chunk.toString()
    })
    const code = await new Promise<number | null>((done) => child.once("exit", done))
    rmSync(empty, { recursive: true, force: true })
    expect(code).toBe(1)
    expect(text).toContain(join(empty, "ILeverageModule.sol/ILeverageModule.json"))
    expect(text).toContain("node scripts/forge.mjs build")
    expect(text).not.toContain("ensure-contracts")
  }, 60_000)
})
