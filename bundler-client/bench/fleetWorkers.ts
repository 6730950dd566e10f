import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { createInterface } from "node:readline"
import { type SpawnedProcess, spawnManaged } from "@levpilot/devnet"
import type { Address, Hex } from "viem"
import type { KeeperEvent } from "../src/keeper/events.js"

/*
 * The bench's worker processes: `levpilot keeper --mode fleet --worker-only` (the real CLI, bin/levpilot.mjs) as
 * separate OS processes on the bench's Redis queue, their JSON-RPC requests to the node counted in each worker
 * ({@link RPC_COUNTER}; or by a loopback proxy, {@link startCountingProxy}), and their keeper events (sent, included, alerts) read back from their JSON log lines.
 */

const LEVPILOT_BIN = resolve(import.meta.dirname, "..", "bin", "levpilot.mjs")

/**
 * Preloaded into each worker process (`node --import`): once its parent (the bench) is gone, whatever killed it (even
 * SIGKILL, which runs no exit hook), the worker is sent SIGTERM (the CLI's clean stop) and exits at most 15 s later.
 */
const PARENT_WATCH = `data:text/javascript,${encodeURIComponent(
  `const parent = process.ppid; const t = setInterval(() => { if (process.ppid !== parent) { clearInterval(t); process.kill(process.pid, "SIGTERM"); setTimeout(() => process.exit(1), 15000).unref() } }, 1000); t.unref()`,
)}`

/**
 * Preloaded into each worker process (`node --import`) when the bench counts its requests: every `fetch` to the URL in
 * `LEVPILOT_BENCH_COUNT_URL` (viem's http transport, the node's JSON-RPC) is counted by the first `"method"` of its body,
 * in the worker itself, and the running totals are written to stdout as one JSON line `{"benchRpcRequests":{...}}`
 * every 200 ms while they changed (and at exit). Counting in the worker keeps the bench's process off the workers' path
 * to the node: a counting proxy in the bench forwarded every worker request through the leader's event loop.
 */
export const RPC_COUNTER = `data:text/javascript,${encodeURIComponent(
  `const url = process.env.LEVPILOT_BENCH_COUNT_URL; if (url) { const counts = {}; let dirty = false; const original = globalThis.fetch;
globalThis.fetch = (input, init) => { const u = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
if (u.startsWith(url)) { const m = (typeof init?.body === "string" && /"method"\\s*:\\s*"([^"]+)"/.exec(init.body)?.[1]) || "?"; counts[m] = (counts[m] ?? 0) + 1; dirty = true }
return original(input, init) };
const flush = () => { if (dirty) { dirty = false; process.stdout.write(JSON.stringify({ benchRpcRequests: counts }) + "\\n") } };
setInterval(flush, 200).unref(); process.on("exit", flush) }`,
)}`

/** pino's numeric levels by name (a child line at or above the bench's level is printed). */
const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Number.POSITIVE_INFINITY }

/**
 * A loopback HTTP server that forwards every JSON-RPC request to `upstream` and counts it first, by the first
 * `"method"` of its body (the same count the bench keeps for its own process's `fetch` calls).
 *
 * @param upstream - The node's JSON-RPC URL.
 * @param count - Called once per HTTP request with its method ("?" when none is found).
 * @param forward - The `fetch` to forward with (the bench's unpatched one, so nothing is counted twice).
 * @returns The proxy's URL and its stop.
 */
export async function startCountingProxy(upstream: string, count: (method: string) => void, forward: typeof fetch): Promise<{ url: string; stop: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8")
      count(/"method"\s*:\s*"([^"]+)"/.exec(body)?.[1] ?? "?")
      forward(upstream, { method: "POST", headers: { "content-type": req.headers["content-type"] ?? "application/json" }, body })
        .then(async (r) => {
          const answer = Buffer.from(await r.arrayBuffer())
          res.writeHead(r.status, { "content-type": r.headers.get("content-type") ?? "application/json", "content-length": answer.length })
          res.end(answer)
        })
        .catch((error: unknown) => {
          res.writeHead(502, { "content-type": "application/json" })
          res.end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32603, message: `bench proxy: ${error instanceof Error ? error.message : String(error)}` } }))
        })
    })
  })
  await new Promise<void>((done, fail) => {
    server.once("error", fail)
    server.listen({ port: 0, host: "127.0.0.1" }, () => done())
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((done) => {
        server.closeAllConnections()
        server.close(() => done())
      }),
  }
}

/** A keeper event read back from a worker process's log line, with the line's time (ms, the worker's clock = this machine's). */
export type LoggedEvent = { event: KeeperEvent; at: number }

/**
 * The keeper event a worker's pino line stands for: `rebalance sent` (sent), `rebalance included[ but reverted...]`
 * (included), an `ALERT` line (alert; its `reason` is not logged at info). Fields the line does not carry (the plan,
 * gas cost) are left out or zero; the bench reads only safe, block, hash, nonce, attempt, success, revert, kind, message.
 *
 * @returns The event, or undefined for any other line.
 */
export function keeperEventOfLog(line: Record<string, unknown>): LoggedEvent | undefined {
  const at = typeof line.time === "number" ? line.time : Date.now()
  const safe = line.safe as Address | undefined
  if (typeof safe !== "string") return undefined
  const block = BigInt(typeof line.block === "number" ? line.block : 0)
  const msg = typeof line.msg === "string" ? line.msg : ""
  if (msg === "rebalance sent")
    return {
      at,
      event: { type: "sent", safe, block, userOpHash: line.userOpHash as Hex, nonce: BigInt(String(line.nonce ?? 0)), sponsored: line.sponsored === true, attempt: Number(line.attempt ?? 0), plan: undefined as never },
    }
  if (msg.startsWith("rebalance included"))
    return {
      at,
      event: {
        type: "included",
        safe,
        block,
        userOpHash: line.userOpHash as Hex,
        success: line.success === true,
        actualGasUsed: BigInt(String(line.gasUsed ?? 0)),
        actualGasCost: 0n,
        paymaster: line.paymaster as Address | undefined,
        latencyBlocks: Number(line.latencyBlocks ?? 0),
        latencyMs: Number(line.latencyMs ?? 0),
        known: line.known === true,
        revert: (line.revert as { error?: string } | undefined)?.error,
      },
    }
  if (line.alert === true) return { at, event: { type: "alert", safe, block, kind: line.kind as never, message: String(line.err ?? msg) } }
  return undefined
}

/** One `levpilot keeper --mode fleet --worker-only` process. */
export type WorkerProcess = {
  index: number
  proc: SpawnedProcess
  /** SIGTERM (the CLI's clean stop: jobs in progress finish, leases released), SIGKILL after 20 s. */
  stop: () => Promise<void>
}

/**
 * Starts `count` worker processes of the real CLI on the fleet's Redis queue, with the configuration `configJson`
 * (written to a private temporary file, removed by the returned `stop`), and waits until each logged
 * `fleet node started`. Each dies with the bench: the devnet's exit and signal hooks kill it, and {@link PARENT_WATCH}
 * stops it when the bench is gone without them.
 *
 * @param options.logLevel - The bench's log level: worker lines at or above it are printed, prefixed with the worker.
 * @param options.onEvent - Each keeper event read from a worker's log.
 * @param options.logFile - Every worker's whole output appended to this file, when given.
 * @param options.readyTimeoutMs - How long to wait for each to start (default 180 s: tsx compiles the sources first).
 * @returns The workers and a stop for all of them.
 * @throws Error naming the worker and its last output when one exits or does not start in time.
 */
export async function startWorkerProcesses(
  count: number,
  configJson: Record<string, unknown>,
  options: {
    logLevel: string
    onEvent: (e: LoggedEvent) => void
    print: (line: string) => void
    logFile?: string | undefined
    readyTimeoutMs?: number | undefined
    /** Count each worker's requests to this URL in the worker ({@link RPC_COUNTER}) and report them here. */
    countRequests?: { url: string; onCount: (worker: number, method: string, n: number) => void } | undefined
  },
): Promise<{ workers: WorkerProcess[]; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "levpilot-bench-workers-"))
  const configPath = join(dir, "keeper.json")
  writeFileSync(configPath, JSON.stringify(configJson), { mode: 0o600 })
  const threshold = LEVELS[options.logLevel] ?? LEVELS.warn
  const workers: WorkerProcess[] = []
  let stopping = false
  const stopAll = async () => {
    stopping = true
    await Promise.all(workers.map((w) => w.stop()))
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    const ready: Promise<void>[] = []
    for (let index = 1; index <= count; index++) {
      const counter = options.countRequests
      const proc = spawnManaged(
        process.execPath,
        ["--import", PARENT_WATCH, ...(counter ? ["--import", RPC_COUNTER] : []), LEVPILOT_BIN, "keeper", "--config", configPath, "--mode", "fleet", "--worker-only"],
        counter ? { ...process.env, LEVPILOT_BENCH_COUNT_URL: counter.url } : undefined,
        options.logFile,
      )
      /** The worker's totals as last reported, by method (the differences are passed on). */
      const reported = new Map<string, number>()
      const worker: WorkerProcess = { index, proc, stop: () => proc.stop(20_000) }
      workers.push(worker)
      void proc.exited.then(() => stopping || options.print(`[worker ${index}] exited (${proc.child.exitCode ?? proc.child.signalCode}) during the run`))
      let started: () => void = () => {}
      const isStarted = new Promise<void>((done) => (started = done))
      const lines = createInterface({ input: proc.child.stdout as NodeJS.ReadableStream })
      lines.on("line", (text) => {
        let line: Record<string, unknown>
        try {
          line = JSON.parse(text) as Record<string, unknown>
        } catch {
          options.print(`[worker ${index}] ${text}`)
          return
        }
        if (line.benchRpcRequests && counter) {
          for (const [method, total] of Object.entries(line.benchRpcRequests as Record<string, number>)) {
            const n = total - (reported.get(method) ?? 0)
            reported.set(method, total)
            if (n > 0) counter.onCount(index, method, n)
          }
          return
        }
        if (line.msg === "fleet node started") started()
        const e = keeperEventOfLog(line)
        if (e) options.onEvent(e)
        if (typeof line.level === "number" && line.level >= (threshold as number)) options.print(`[worker ${index}] ${text}`)
      })
      ready.push(
        new Promise<void>((done, fail) => {
          const timer = setTimeout(() => fail(new Error(`worker process ${index} did not start within ${(options.readyTimeoutMs ?? 180_000) / 1_000} s (--config ${configPath}); its output:\n${proc.logs.toString().slice(-2_000)}`)), options.readyTimeoutMs ?? 180_000)
          void isStarted.then(() => (clearTimeout(timer), done()))
          void proc.exited.then(() => (clearTimeout(timer), fail(new Error(`worker process ${index} exited (${proc.child.exitCode ?? proc.child.signalCode}) before it started (--config ${configPath}); its output:\n${proc.logs.toString().slice(-2_000)}`))))
        }),
      )
    }
    await Promise.all(ready)
  } catch (error) {
    await stopAll()
    throw error
  }
  return { workers, stop: stopAll }
}
