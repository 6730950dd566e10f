import { existsSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { type Address, type Hex, isAddressEqual } from "viem"
import { entryPoint07Address } from "viem/account-abstraction"
import { BinaryNotFoundError, DevnetProcessError } from "./errors.js"
import { devnetExecutorKeys, devnetKeys } from "./keys.js"
import { type SpawnedProcess, getFreePort, isPortFree, spawnManaged, waitForRpc, withPortLock } from "./process.js"

const require = createRequire(import.meta.url)
const here = dirname(fileURLToPath(import.meta.url))

export type StartAltoParameters = {
  /** Node RPC (anvil) the bundler talks to. */
  rpcUrl: string
  entryPoints?: readonly Address[] | undefined
  /** Executor keys; default: `executors` keys from {@link devnetExecutorKeys}. */
  executorPrivateKeys?: readonly Hex[] | undefined
  /**
   * Number of executor keys when `executorPrivateKeys` is not given (default 1). Alto keeps one bundle transaction in
   * flight per executor, so one key bundles at most once per block. Keys beyond the first must be funded
   * (`startDevnet` does).
   */
  executors?: number | undefined
  utilityPrivateKey?: Hex | undefined
  /** Enforce the ERC-7562 validation rules (needs `debug_traceCall` tracer support). Default false. */
  safeMode?: boolean | undefined
  /** Fixed port; by default the OS picks a free loopback port. */
  port?: number | undefined
  /** Chain block time in ms; Alto polls at a quarter of it. Default 1000. */
  blockTimeMs?: number | undefined
  /** `auto` bundles as soon as ops arrive; `manual` waits for `debug_bundler_sendBundleNow`. */
  bundleMode?: "auto" | "manual" | undefined
  logLevel?: "trace" | "debug" | "info" | "warn" | "error" | undefined
  extraArgs?: string[] | undefined
  timeoutMs?: number | undefined
  /**
   * Paymasters whose pending operations Alto does not simulate ahead of each new operation (`--ignored-paymasters`).
   * Alto 0.0.20 otherwise runs every outstanding operation of the same paymaster before the one it estimates or
   * validates (a check that the paymaster's deposit covers them all), so each send costs one simulation per pending
   * sponsored operation. For a paymaster whose deposit covers any backlog (the devnet's VerifyingPaymaster).
   */
  ignoredPaymasters?: readonly Address[] | undefined
  /** Appends Alto's whole output to this file (`logs()` keeps only the last 64 KB). */
  logFile?: string | undefined
}

export type AltoInstance = {
  bundlerUrl: string
  port: number
  /** The exact CLI arguments Alto was started with (private keys included: devnet only). */
  args: readonly string[]
  logs: () => string
  stop: () => Promise<void>
  /** Starts Alto again on the same port with the same arguments (after `stop()`). */
  restart: () => Promise<void>
  running: () => boolean
}

/**
 * Path of Alto's CLI entry (`@pimlico/alto/esm/cli/alto.js`; override with `ALTO_CLI`).
 *
 * @returns Absolute path of the Alto CLI script.
 */
export function resolveAltoCli(): string {
  if (process.env.ALTO_CLI) return process.env.ALTO_CLI
  let cli = "@pimlico/alto/esm/cli/alto.js"
  try {
    cli = join(dirname(require.resolve("@pimlico/alto")), "cli", "alto.js")
  } catch (error) {
    throw new BinaryNotFoundError({ tool: "Alto", tried: cli, cause: error as Error })
  }
  if (!existsSync(cli)) throw new BinaryNotFoundError({ tool: "Alto", tried: cli })
  return cli
}

/**
 * Builds Alto's command line for a local anvil.
 *
 * @returns The CLI arguments.
 */
export function altoArgs(parameters: StartAltoParameters & { port: number }): string[] {
  const {
    rpcUrl,
    port,
    entryPoints = [entryPoint07Address],
    executors = 1,
    executorPrivateKeys = devnetExecutorKeys(executors),
    utilityPrivateKey = devnetKeys.bundlerUtility,
    safeMode = false,
    blockTimeMs = 1_000,
    bundleMode = "auto",
    logLevel = "info",
    extraArgs = [],
    ignoredPaymasters = [],
  } = parameters
  return [
    "--entrypoints", entryPoints.join(","),
    "--rpc-url", rpcUrl,
    "--port", String(port),
    "--executor-private-keys", executorPrivateKeys.join(","),
    "--utility-private-key", utilityPrivateKey,
    "--safe-mode", String(safeMode),
    "--deploy-simulations-contract", "true",
    "--bundle-mode", bundleMode,
    "--block-time", String(blockTimeMs),
    "--log-level", logLevel,
    "--public-client-log-level", "warn",
    "--wallet-client-log-level", "warn",
    "--enable-debug-endpoints", "true",
    ...(ignoredPaymasters.length > 0 ? ["--ignored-paymasters", ignoredPaymasters.join(",")] : []),
    ...extraArgs,
  ]
}

/**
 * Starts the Alto bundler (in a child Node process) against a local node and waits until
 * `eth_supportedEntryPoints` lists every configured EntryPoint.
 *
 * @param parameters - {@link StartAltoParameters}
 * @returns The running bundler: {@link AltoInstance}
 * @example
 * const alto = await startAlto({ rpcUrl: anvil.rpcUrl })
 * await alto.stop()
 * await alto.restart()
 */
export async function startAlto(parameters: StartAltoParameters): Promise<AltoInstance> {
  const cli = resolveAltoCli()
  const { timeoutMs = 120_000, entryPoints = [entryPoint07Address] } = parameters
  const preload = pathToFileURL(join(here, "alto-loopback.mjs")).href
  let proc: SpawnedProcess | undefined
  let port = parameters.port ?? 0
  let args: string[] = []

  const launch = async () => {
    args = altoArgs({ ...parameters, port })
    proc = spawnManaged(process.execPath, ["--import", preload, cli, ...args], undefined, parameters.logFile)
    const bundlerUrl = `http://127.0.0.1:${port}`
    const supported = await waitForRpc({
      url: bundlerUrl,
      method: "eth_supportedEntryPoints",
      process: proc,
      name: "Alto",
      timeoutMs,
    }).catch(async (error: unknown) => {
      await proc?.stop()
      throw error
    })
    const list = Array.isArray(supported) ? (supported as Address[]) : []
    if (!entryPoints.every((entryPoint) => list.some((item) => isAddressEqual(item, entryPoint)))) {
      await proc.stop()
      throw new DevnetProcessError("Alto does not support the configured EntryPoints.", {
        logs: proc.logs.toString(),
        metaMessages: [`Configured: ${entryPoints.join(", ")}`, `Supported: ${list.join(", ")}`],
      })
    }
  }

  await withPortLock(async () => {
    if (!port) port = await getFreePort()
    await launch()
  })

  const running = () => proc !== undefined && proc.child.exitCode === null && proc.child.signalCode === null
  return {
    bundlerUrl: `http://127.0.0.1:${port}`,
    port,
    get args() {
      return args
    },
    logs: () => proc?.logs.toString() ?? "",
    stop: async () => {
      await proc?.stop()
    },
    restart: async () => {
      if (running()) await proc?.stop()
      const deadline = Date.now() + 5_000
      while (!(await isPortFree(port)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
      await launch()
    },
    running,
  }
}
