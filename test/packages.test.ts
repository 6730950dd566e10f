import { execFile } from "node:child_process"
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { getSubAccountState } from "@levpilot/sdk/actions"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { type DemoEnv, startDemoEnv } from "../bundler-client/src/devnet/env"
import { demoKeeperConfigJson } from "../bundler-client/src/devnet/keeperConfig"
import { PriceDriver } from "../bundler-client/src/devnet/scenario"
import { priceShocks } from "./keeperProbes"

/**
 * What a new user does: pack both packages (`npm pack`, whose `prepack` builds them with tsc), install the tarballs into
 * a fresh project that has nothing of this repository (its other dependencies come from the npm registry, from npm's
 * cache when it has them), compile an example there with `tsc --strict` (the packages' .d.ts checked too: no
 * skipLibCheck), run it against a devnet this test starts (it reads a Safe, solves, and sends a keeper UserOperation
 * that lands), and run the installed `levpilot` CLI, plain JavaScript with no TypeScript loader.
 */
const root = resolve(import.meta.dirname, "..")
const work = mkdtempSync(join(tmpdir(), "levpilot-packages-"))
const project = join(work, "consumer")
const versions = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).devDependencies as Record<string, string>

type Ran = { status: number; stdout: string; stderr: string }

/** Runs a command without blocking the event loop (the devnet's ERC-7677 service runs in this process). */
function spawn(command: string, args: string[], cwd: string, timeout = 300_000): Promise<Ran> {
  return new Promise((done) => {
    execFile(command, args, { cwd, encoding: "utf8", timeout, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, npm_config_update_notifier: "false" } }, (error, stdout, stderr) =>
      done({ status: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }),
    )
  })
}

async function run(command: string, args: string[], cwd: string, timeout?: number): Promise<Ran> {
  const result = await spawn(command, args, cwd, timeout)
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} (in ${cwd}) exited ${result.status}:\n${result.stdout}\n${result.stderr}`)
  return result
}

const packed: Record<string, string> = {}
let env: DemoEnv

beforeAll(async () => {
  // Pack both (prepack runs `tsc -b`, incremental: the SDK is built once, then levpilot against its declarations).
  for (const dir of ["sdk", "bundler-client"]) {
    const [info] = JSON.parse((await run("npm", ["pack", "--json", "--pack-destination", work], join(root, dir))).stdout) as { filename: string; files: { path: string }[] }[]
    if (!info) throw new Error(`npm pack in ${dir} printed nothing`)
    packed[dir] = join(work, info.filename)
  }
  mkdirSync(project)
  writeFileSync(join(project, "package.json"), `${JSON.stringify({ name: "levpilot-consumer", private: true, type: "module" }, null, 2)}\n`)
  // permissionless 0.2.57 declares an optional peer ox@^0.8 that viem 2.57's own ox does not satisfy: npm's
  // documented way around such a conflict is --legacy-peer-deps, with the peers (viem, permissionless) listed.
  await run(
    "npm",
    [
      "install",
      "--legacy-peer-deps",
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
      "--save-exact",
      packed.sdk as string,
      packed["bundler-client"] as string,
      `viem@${versions.viem}`,
      `permissionless@${versions.permissionless}`,
      `typescript@${versions.typescript}`,
      `@types/node@${versions["@types/node"]}`,
    ],
    project,
  )
  copyFileSync(join(root, "test/consumer/example.ts"), join(project, "example.ts"))
  copyFileSync(join(root, "test/consumer/tsconfig.json"), join(project, "tsconfig.json"))
  env = await startDemoEnv({ blockTime: 1, twin: false })
}, 900_000)

afterAll(async () => {
  await env?.stop()
  rmSync(work, { recursive: true, force: true })
})

describe("installable packages", () => {
  test("the tarballs hold the built JavaScript and declarations, not the sources or tests", async () => {
    const list = async (tarball: string) => (await run("tar", ["-tzf", tarball], work)).stdout.split("\n").filter(Boolean)
    const sdk = await list(packed.sdk as string)
    expect(sdk).toEqual(expect.arrayContaining(["package/dist/index.js", "package/dist/index.d.ts", "package/dist/actions/sendRebalance.js", "package/README.md", "package/package.json"]))
    const cli = await list(packed["bundler-client"] as string)
    expect(cli).toEqual(expect.arrayContaining(["package/bin/levpilot.mjs", "package/dist/cli/main.js", "package/dist/keeper/keeper.js", "package/dist/index.d.ts"]))
    for (const file of [...sdk, ...cli]) expect(file).not.toMatch(/^package\/src\/|\.test\.|\.tsbuildinfo$/)
    const installed = JSON.parse(readFileSync(join(project, "node_modules/levpilot/package.json"), "utf8")) as { dependencies: Record<string, string> }
    const declared = JSON.parse(readFileSync(join(root, "bundler-client/package.json"), "utf8")) as { dependencies: Record<string, string> }
    expect(installed.dependencies).toEqual(declared.dependencies)
    expect(Object.keys(installed.dependencies)).not.toContain("@levpilot/devnet")
    expect(existsSync(join(project, "node_modules/tsx"))).toBe(false)
    expect(existsSync(join(project, "node_modules/@levpilot/devnet"))).toBe(false)
  })

  test("an example compiles with tsc --strict and, on the devnet, reads a Safe, solves and sends a keeper UserOperation that lands", async () => {
    await run(join(project, "node_modules/.bin/tsc"), ["-p", "tsconfig.json"], project)
    const driver = new PriceDriver(env)
    await priceShocks(() => driver).shock(0.8)
    const before = await getSubAccountState(env.publicClient, { safe: env.managed.address, deployments: env.deployments })
    expect(before.some((s) => s.band === "below")).toBe(true)
    const config = join(work, "keeper.json")
    writeFileSync(config, JSON.stringify(demoKeeperConfigJson(env)))
    const out = (await run(process.execPath, ["dist/example.js", config], project, 120_000)).stdout
    const result = JSON.parse(out.trim().split("\n").pop() as string) as { sender: string; healthBefore: string[]; actions: string[]; userOperationHash: string; success: boolean; paymaster: string }
    expect(result.sender).toBe(env.managed.address)
    // Read a few blocks later than `before`: equal up to the interest accrued meanwhile.
    expect(result.healthBefore).toHaveLength(before.length)
    result.healthBefore.forEach((health, i) => expect(Number(health) / Number(before[i]?.health)).toBeCloseTo(1, 6))
    expect(result.actions.length).toBeGreaterThan(0)
    expect(result.userOperationHash).toMatch(/^0x[0-9a-f]{64}$/)
    expect(result.success).toBe(true)
    expect(result.paymaster.toLowerCase()).toBe(env.devnet.addresses.verifyingPaymaster.toLowerCase())
    const after = await getSubAccountState(env.publicClient, { safe: env.managed.address, deployments: env.deployments })
    expect(after.every((s) => s.band === "inside")).toBe(true)
  }, 300_000)

  test("npx levpilot runs from the installed package: --help lists the commands; start explains it needs the repository", async () => {
    const help = await run("npx", ["--no-install", "levpilot", "--help"], project)
    expect(help.stdout).toContain("Usage: levpilot <command> [options]")
    for (const command of ["backtest", "start", "keeper", "status"]) expect(help.stdout).toMatch(new RegExp(`^  ${command} `, "m"))
    const backtest = await run("npx", ["--no-install", "levpilot", "backtest", "--generate", "2", "--days", "1", "--strategies", "static,autopilot"], project)
    expect(backtest.stdout).toMatch(/autopilot/)
    const start = await spawn("npx", ["--no-install", "levpilot", "start", "--fast"], project)
    expect(start.status).toBe(1)
    expect(start.stderr).toContain("DemoUnavailableError: levpilot start runs the local devnet demo, which needs the leverage-autopilot repository.")
  })
})
