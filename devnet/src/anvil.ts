import { existsSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { BinaryNotFoundError, DevnetProcessError } from "./errors.js"
import { type SpawnedProcess, getFreePort, spawnManaged, waitForRpc, withPortLock } from "./process.js"

const require = createRequire(import.meta.url)

export type StartAnvilParameters = {
  /** Seconds between blocks; `undefined` (default) mines one block per transaction. */
  blockTime?: number | undefined
  /** Chain id, 31337 by default. */
  chainId?: number | undefined
  /** Fixed port; by default the OS picks a free loopback port. */
  port?: number | undefined
  /**
   * Block states anvil keeps for calls at past blocks, reorgs (`anvil_reorg`/`anvil_rollback` need the common block's)
   * and traces, all in memory (`--prune-history <n>`), 128 by default. anvil's own default spills states beyond a
   * shrinking in-memory window to `~/.foundry/anvil/tmp` (about 1 MB per block of the demo stack, up to 3,600 blocks),
   * and a killed anvil leaves them there (about 3 GB per devnet seen); `evm_snapshot`/`evm_revert` do not use them.
   */
  stateHistory?: number | undefined
  /** Extra CLI flags, e.g. `["--hardfork", "cancun"]`. */
  extraArgs?: string[] | undefined
  /** How long to wait for `eth_chainId` to answer. */
  timeoutMs?: number | undefined
}

export type AnvilInstance = {
  rpcUrl: string
  port: number
  chainId: number
  /** Captured stdout and stderr. */
  logs: () => string
  stop: () => Promise<void>
}

/**
 * Path of the anvil binary shipped by `@foundry-rs/anvil` (override with `ANVIL_BIN`).
 *
 * @returns Absolute path of an executable anvil.
 */
export function resolveAnvilBinary(): string {
  if (process.env.ANVIL_BIN) return process.env.ANVIL_BIN
  const arch = process.arch === "x64" ? "amd64" : process.arch
  const platform = process.platform === "win32" ? "win32" : process.platform
  const pkg = `@foundry-rs/anvil-${platform}-${arch}`
  try {
    const binary = join(dirname(require.resolve(`${pkg}/package.json`)), "bin", platform === "win32" ? "anvil.exe" : "anvil")
    if (existsSync(binary)) return binary
    throw new BinaryNotFoundError({ tool: "anvil", tried: binary })
  } catch (error) {
    if (error instanceof BinaryNotFoundError) throw error
    throw new BinaryNotFoundError({ tool: "anvil", tried: pkg, cause: error as Error })
  }
}

/** Block states anvil keeps in memory by default ({@link StartAnvilParameters.stateHistory}). */
export const DEFAULT_STATE_HISTORY = 128

/**
 * Starts anvil on 127.0.0.1 and waits until its RPC answers. The process is killed when
 * `stop()` is called or when this Node process exits.
 *
 * @param parameters - {@link StartAnvilParameters}
 * @returns The running instance: {@link AnvilInstance}
 * @example
 * const anvil = await startAnvil({ blockTime: 1 })
 * // ... use anvil.rpcUrl
 * await anvil.stop()
 */
export async function startAnvil(parameters: StartAnvilParameters = {}): Promise<AnvilInstance> {
  const { blockTime, chainId = 31337, extraArgs = [], timeoutMs = 20_000, stateHistory = DEFAULT_STATE_HISTORY } = parameters
  if (!Number.isInteger(stateHistory) || stateHistory < 1) throw new RangeError(`stateHistory must be a positive integer of blocks, got ${stateHistory}`)
  const binary = resolveAnvilBinary()
  return withPortLock(async () => {
    const port = parameters.port ?? (await getFreePort())
    const args = ["--host", "127.0.0.1", "--port", String(port), "--chain-id", String(chainId), "--prune-history", String(stateHistory)]
    if (blockTime !== undefined) args.push("--block-time", String(blockTime))
    args.push(...extraArgs)
    const proc: SpawnedProcess = spawnManaged(binary, args)
    const rpcUrl = `http://127.0.0.1:${port}`
    const answered = await waitForRpc({ url: rpcUrl, method: "eth_chainId", process: proc, name: "anvil", timeoutMs })
    if (Number(answered) !== chainId) {
      await proc.stop()
      throw new DevnetProcessError(`Port ${port} answered with chain id ${Number(answered)}, expected ${chainId}.`, {
        logs: proc.logs.toString(),
        metaMessages: ["This could arise when another node already listens on that port."],
      })
    }
    return {
      rpcUrl,
      port,
      chainId,
      logs: () => proc.logs.toString(),
      stop: () => proc.stop(),
    }
  })
}
