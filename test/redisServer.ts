import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { existsSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"
import { getFreePort } from "@levpilot/devnet"
import { Redis } from "ioredis"
import { parseKeeperConfig } from "../bundler-client/src/keeper/config"

/** The `redis-server` binary on PATH (or /usr/bin, /usr/local/bin), or undefined. */
export function findRedisServer(): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/bin", "/usr/local/bin", "/usr/sbin"]
  for (const dir of dirs) {
    if (!dir) continue
    const path = join(dir, "redis-server")
    if (existsSync(path)) return path
  }
  return undefined
}


/**
 * A real Redis server for the fleet tests: `redis-server` on a free loopback port (or `options.port`), its data (append-only file, fsync
 * on every write) in a fresh temporary directory, so a {@link RedisServer.restart} keeps what was written.
 *
 * @throws {Error} when `redis-server` is not installed (CI installs Debian's `redis-server` in `.ci/run`): the fleet
 * tests fail instead of being skipped.
 */
export async function startRedisServer(options: { port?: number | undefined } = {}) {
  const binary = findRedisServer()
  if (!binary)
    throw new Error(
      "redis-server not found on PATH: the fleet tests need a real Redis server. Install it (Debian/Ubuntu: `sudo apt-get install -y redis-server`; .ci/run does this on CI).",
    )
  const version = execFileSync(binary, ["--version"], { encoding: "utf8" }).trim()
  const port = options.port ?? (await getFreePort())
  const dir = mkdtempSync(join(tmpdir(), "levpilot-redis-"))
  const url = `redis://127.0.0.1:${port}`
  let child: ChildProcess | undefined

  const ping = async () => {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    client.on("error", () => {})
    try {
      await client.connect()
      return (await client.ping()) === "PONG"
    } catch {
      return false
    } finally {
      client.disconnect()
    }
  }

  const launch = async () => {
    let output = ""
    const proc = spawn(
      binary,
      ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no", "--protected-mode", "yes"],
      { stdio: ["ignore", "pipe", "pipe"] },
    )
    proc.stdout?.on("data", (c: Buffer) => {
      output += c.toString()
    })
    proc.stderr?.on("data", (c: Buffer) => {
      output += c.toString()
    })
    child = proc
    for (let i = 0; i < 200; i++) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}: ${output.slice(-2_000)}`)
      if (await ping()) return
      await new Promise((r) => setTimeout(r, 50))
    }
    throw new Error(`redis-server did not answer on ${url} within 10 s: ${output.slice(-2_000)}`)
  }

  /** Kills the server (SIGKILL: nothing flushed beyond the append-only file). */
  const kill = async () => {
    const proc = child
    child = undefined
    if (!proc || proc.exitCode !== null) return
    const exited = new Promise((r) => proc.once("exit", r))
    proc.kill("SIGKILL")
    await exited
  }

  await launch()
  return {
    url,
    port,
    version,
    /** Kills the server and starts it again on the same port and data directory. */
    restart: async (downMs = 0) => {
      await kill()
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs))
      await launch()
    },
    kill,
    start: launch,
    stop: kill,
  }
}

export type RedisServer = Awaited<ReturnType<typeof startRedisServer>>

/**
 * A keeper config for a fleet node that needs only Redis (its chain and bundler URLs point at a closed port, no Safe):
 * a worker node (`lead: false`) starts without them. `extra` is merged into the raw config (e.g. `logLevel`).
 */
export function redisOnlyFleetConfig(redisUrl: string, prefix: string, extra: Record<string, unknown> = {}) {
  return parseKeeperConfig({
    rpcUrl: "http://127.0.0.1:9",
    bundlerUrl: "http://127.0.0.1:9",
    keeperPrivateKey: `0x${"11".repeat(32)}`,
    deployment: { leverageModule: "0x00000000000000000000000000000000000000a1", morphoBlueAdapter: "0x00000000000000000000000000000000000000a2" },
    safes: [],
    discovery: { fromBlock: 0 },
    ...extra,
    fleet: { queue: { redisUrl, prefix } },
  })
}
