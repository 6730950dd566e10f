import { type ChildProcess, spawn } from "node:child_process"
import { closeSync, createWriteStream, openSync, readFileSync, statSync, unlinkSync, writeSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { DevnetProcessError } from "./errors.js"

/** Bounded in-memory capture of a child process's stdout and stderr. */
export class LogBuffer {
  #chunks: string[] = []
  #size = 0
  constructor(private readonly maxBytes = 64 * 1024) {}
  push(chunk: Buffer | string): void {
    const text = typeof chunk === "string" ? chunk : chunk.toString("utf8")
    this.#chunks.push(text)
    this.#size += text.length
    while (this.#size > this.maxBytes && this.#chunks.length > 1) this.#size -= this.#chunks.shift()?.length ?? 0
  }
  toString(): string {
    return this.#chunks.join("")
  }
}

const children = new Set<ChildProcess>()
let exitHooksInstalled = false

function killAllSync(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
}

function installExitHooks(): void {
  if (exitHooksInstalled) return
  exitHooksInstalled = true
  process.on("exit", killAllSync)
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = () => {
      killAllSync()
      if (process.listenerCount(signal) === 1) {
        process.off(signal, onSignal)
        process.kill(process.pid, signal)
      }
    }
    process.on(signal, onSignal)
  }
}

export type SpawnedProcess = {
  child: ChildProcess
  logs: LogBuffer
  /** Resolves when the process has exited (never rejects). */
  exited: Promise<void>
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop: (graceMs?: number) => Promise<void>
}

/** Spawns a child process whose output is captured (the last 64 KB in memory, all of it in `logFile` when given) and which dies with this process. */
export function spawnManaged(command: string, args: string[], env?: NodeJS.ProcessEnv, logFile?: string): SpawnedProcess {
  installExitHooks()
  const logs = new LogBuffer()
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env: env ?? process.env })
  children.add(child)
  const file = logFile ? createWriteStream(logFile, { flags: "a" }) : undefined
  const capture = (chunk: Buffer) => {
    logs.push(chunk)
    file?.write(chunk)
  }
  child.stdout?.on("data", capture)
  child.stderr?.on("data", capture)
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => {
      file?.end()
      children.delete(child)
      resolve()
    })
    child.once("error", (error) => {
      logs.push(`spawn error: ${error.message}\n`)
      children.delete(child)
      resolve()
    })
  })
  const stop = async (graceMs = 3_000) => {
    if (child.exitCode !== null || child.signalCode !== null || !children.has(child)) return exited
    child.kill("SIGTERM")
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs)
    await exited
    clearTimeout(timer)
  }
  return { child, logs, exited, stop }
}

/** Asks the OS for a free TCP port on 127.0.0.1. */
export function getFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once("error", reject)
    server.listen({ port: 0, host: "127.0.0.1", exclusive: true }, () => {
      const address = server.address()
      const port = typeof address === "object" && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.unref()
    server.once("error", () => resolve(false))
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => server.close(() => resolve(true)))
  })
}

const lockPath = join(tmpdir(), "levpilot-devnet-ports.lock")
const lockStaleMs = 60_000

function lockIsStale(): boolean {
  try {
    const pid = Number(readFileSync(lockPath, "utf8"))
    if (Date.now() - statSync(lockPath).mtimeMs > lockStaleMs) return true
    process.kill(pid, 0)
    return false
  } catch {
    return true
  }
}

/**
 * Runs `fn` while holding a machine-wide lock (a file in the OS temp dir), so that parallel
 * vitest workers do not pick the same free port between probing it and binding it.
 */
export async function withPortLock<T>(fn: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let fd: number | undefined
  while (fd === undefined) {
    try {
      fd = openSync(lockPath, "wx")
      writeSync(fd, String(process.pid))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
      if (lockIsStale()) {
        try {
          unlinkSync(lockPath)
        } catch {}
        continue
      }
      if (Date.now() > deadline)
        throw new DevnetProcessError("Timed out waiting for the devnet port lock.", {
          metaMessages: [`Lock file: ${lockPath}`, "Delete it if no devnet is starting."],
        })
      await sleep(50 + Math.random() * 100)
    }
  }
  try {
    return await fn()
  } finally {
    closeSync(fd)
    try {
      unlinkSync(lockPath)
    } catch {}
  }
}

/** Polls a JSON-RPC endpoint until `method` answers with a result, the process exits, or time runs out. */
export async function waitForRpc({
  url,
  method,
  process: proc,
  name,
  timeoutMs,
}: {
  url: string
  method: string
  process: SpawnedProcess
  name: string
  timeoutMs: number
}): Promise<unknown> {
  const deadline = Date.now() + timeoutMs
  let exited = false
  void proc.exited.then(() => {
    exited = true
  })
  let lastError: Error | undefined
  while (Date.now() < deadline) {
    if (exited)
      throw new DevnetProcessError(`${name} exited before answering ${method}.`, {
        logs: proc.logs.toString(),
        metaMessages: [`Exit code: ${proc.child.exitCode ?? proc.child.signalCode}`],
      })
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params: [] }),
        signal: AbortSignal.timeout(2_000),
      })
      const body = (await response.json()) as { result?: unknown; error?: { message: string } }
      if (body.result !== undefined) return body.result
      lastError = new Error(body.error?.message ?? `HTTP ${response.status}`)
    } catch (error) {
      lastError = error as Error
    }
    await sleep(100)
  }
  throw new DevnetProcessError(`${name} did not answer ${method} within ${timeoutMs} ms.`, {
    cause: lastError,
    logs: proc.logs.toString(),
    metaMessages: [`URL: ${url}`],
  })
}
